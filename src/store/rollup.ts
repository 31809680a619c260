// The L7 rollup: requests per minute, service, endpoint and latency bucket,
// kept beside l7_records at each append (in the same transaction), so that
// service_stats reads a few thousand rows instead of millions. Latencies go
// into log-scale buckets, eight per power of two (a bucket's width is 9% of
// its value), and a quantile is read as its bucket's geometric middle: within
// 4.5% of the exact value. Pure: the store's thread calls it with a batch's
// columns; the SQL here is what the named query and the rebuild run.
import type { Cell, Columns } from './rows.js';
import { TABLE_BY_NAME } from './schema.js';

/** Buckets per power of two. */
export const BUCKETS_PER_OCTAVE = 8;

const MINUTE_NS = 60_000_000_000n;

/** A latency's bucket (ns; 0 and below in bucket 0). */
export function latencyBucket(latencyNs: number): number {
  return latencyNs >= 1 ? Math.floor(Math.log2(latencyNs) * BUCKETS_PER_OCTAVE) : 0;
}

/** A bucket's value: its geometric middle, ns. */
export function bucketValue(bucket: number): number {
  return 2 ** ((bucket + 0.5) / BUCKETS_PER_OCTAVE);
}

/** The same bucket in SQL, of a UBIGINT latency column (NULL stays NULL: no latency, no bucket). */
export const BUCKET_SQL = (col: string): string => `CASE WHEN ${col} IS NULL THEN NULL WHEN ${col} >= 1 THEN floor(log2(${col}) * ${BUCKETS_PER_OCTAVE})::INTEGER ELSE 0 END`;

function columnIndex(table: string, name: string): number {
  const i = TABLE_BY_NAME.get(table)!.columns.findIndex((c) => c.name === name);
  if (i < 0) throw new Error(`${table} has no column ${name}`);
  return i;
}

const L7 = {
  time: columnIndex('l7_records', 'time'), service: columnIndex('l7_records', 'service'), path: columnIndex('l7_records', 'path'),
  status: columnIndex('l7_records', 'status'), latency: columnIndex('l7_records', 'latency_ns'),
};

/** l7_rollup's columns for a batch of l7_records' columns: one row per (minute, service, endpoint, bucket) in the batch. */
export function rollupOf(l7: Columns): Columns {
  const groups = new Map<string, { time: bigint; service: Cell; endpoint: Cell; bucket: number | null; requests: number; errors: number }>();
  const times = l7[L7.time]!;
  const services = l7[L7.service]!;
  const paths = l7[L7.path]!;
  const statuses = l7[L7.status]!;
  const latencies = l7[L7.latency]!;
  for (let r = 0; r < times.length; r++) {
    const t = times[r];
    if (t === null || t === undefined) continue;
    const ns = BigInt(t);
    const minute = ns - (((ns % MINUTE_NS) + MINUTE_NS) % MINUTE_NS);
    const lat = latencies[r];
    const bucket = lat === null || lat === undefined ? null : latencyBucket(Number(lat));
    const service = services[r] ?? null;
    const endpoint = paths[r] ?? null;
    const key = `${minute}\u0000${service}\u0000${endpoint}\u0000${bucket}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { time: minute, service, endpoint, bucket, requests: 0, errors: 0 }));
    g.requests++;
    const status = statuses[r];
    if (status !== null && status !== undefined && Number(status) >= 500) g.errors++;
  }
  const cols: Columns = [[], [], [], [], [], []];
  for (const g of groups.values()) {
    cols[0]!.push(g.time);
    cols[1]!.push(g.service);
    cols[2]!.push(g.endpoint);
    cols[3]!.push(g.bucket);
    cols[4]!.push(g.requests);
    cols[5]!.push(g.errors);
  }
  return cols;
}

/** l7_rollup's rows from l7_records' (SQL), for the rows where `where` holds. */
export function rollupSelectSql(where: string): string {
  return `SELECT date_trunc('minute', time) AS time, service, path, ${BUCKET_SQL('latency_ns')} AS latency_bucket,
  count(*)::UBIGINT, count(*) FILTER (WHERE status >= 500)::UBIGINT
FROM l7_records WHERE ${where} GROUP BY ALL`;
}

/** Merges l7_rollup's rows in [fromUs, toUs) that share a minute, service, endpoint and bucket (statements for one transaction). */
export function compactSql(fromUs: bigint, toUs: bigint): string[] {
  const range = `time >= make_timestamp(${fromUs}::BIGINT) AND time < make_timestamp(${toUs}::BIGINT)`;
  return [
    `CREATE OR REPLACE TEMP TABLE l7_rollup_compacted AS SELECT time, service, endpoint, latency_bucket, sum(requests)::UBIGINT AS requests,
  sum(errors)::UBIGINT AS errors FROM l7_rollup WHERE ${range} GROUP BY ALL`,
    `DELETE FROM l7_rollup WHERE ${range}`,
    'INSERT INTO l7_rollup SELECT * FROM l7_rollup_compacted',
    'DROP TABLE l7_rollup_compacted',
  ];
}

/**
 * service_stats: whole minutes from l7_rollup, the minute `since` falls in
 * from l7_records (so the count is exact from `since` on), quantiles from the
 * merged buckets. `since` and `limit` are SQL literals.
 */
export function serviceStatsSql(since: string, limit: string): string {
  const edge = `(date_trunc('minute', ${since} - INTERVAL 1 MICROSECOND) + INTERVAL 1 MINUTE)`;
  const q = (p: number): string =>
    `round(pow(2, (min(bucket) FILTER (WHERE bucket IS NOT NULL AND below >= ${p} * timed) + 0.5) / ${BUCKETS_PER_OCTAVE}) / 1e6, 3)`;
  return `WITH b AS (
  SELECT service, endpoint, bucket, sum(n) AS n, sum(e) AS e FROM (
    SELECT service, endpoint, latency_bucket AS bucket, requests AS n, errors AS e FROM l7_rollup WHERE time >= ${edge}
    UNION ALL
    SELECT service, path, ${BUCKET_SQL('latency_ns')}, 1, (status >= 500)::INTEGER FROM l7_records WHERE time >= ${since} AND time < ${edge}
  ) GROUP BY ALL
), c AS (
  SELECT *, sum(n) OVER (PARTITION BY service, endpoint ORDER BY bucket NULLS LAST ROWS UNBOUNDED PRECEDING) AS below,
    sum(n) OVER (PARTITION BY service, endpoint) AS total,
    sum(CASE WHEN bucket IS NOT NULL THEN n END) OVER (PARTITION BY service, endpoint) AS timed
  FROM b
)
SELECT service, endpoint, any_value(total)::UBIGINT AS requests, round(sum(e) / any_value(total), 4) AS error_rate,
  ${q(0.5)} AS p50_ms, ${q(0.99)} AS p99_ms
FROM c GROUP BY service, endpoint ORDER BY requests DESC, service, endpoint LIMIT ${limit}`;
}
