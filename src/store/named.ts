// Built-in named queries, in the spirit of Pixie's scripts: a name, what it
// answers, its parameters (each a flag of `vigil query NAME`), and the SQL it
// runs. Parameters are checked and written into the SQL by type (a time, a
// whole number), never pasted as given. Pure: the SQL runs wherever the
// query goes (the agent, or a store file).

import { serviceStatsSql } from './rollup.js';

export type ParamType = 'time' | 'count' | 'ms' | 'text';

export interface NamedParam {
  readonly name: string;
  readonly type: ParamType;
  readonly doc: string;
  /** As given on the command line. */
  readonly default: string;
}

export interface NamedQuery {
  readonly name: string;
  readonly doc: string;
  readonly params: readonly NamedParam[];
  /** The tables it reads (l7_records: filled by the L7 capture once it writes the store). */
  readonly tables: readonly string[];
  sql(p: Readonly<Record<string, string>>): string;
}

/** A parameter's value that is not of its type. */
export class ParamError extends Error {
  override readonly name = 'ParamError';
}

const since: NamedParam = { name: 'since', type: 'time', doc: 'from TIME: RFC 3339 or a duration ago (30s, 5m, 1h30m, 2d)', default: '1h' };
const limit: NamedParam = { name: 'limit', type: 'count', doc: 'rows at most', default: '20' };

const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A time parameter as a TIMESTAMP literal: RFC 3339, or a duration before `nowMs`, or "now". */
export function timeLiteral(v: string, nowMs = Date.now()): string {
  let ms: number;
  if (v === 'now') ms = nowMs;
  else if (DURATION.test(v)) {
    let ago = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ago += Number(m[1]) * UNIT_MS[m[2]!]!;
    ms = nowMs - ago;
  } else {
    ms = /^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d:?\d\d)?$/.test(v) ? Date.parse(v) : NaN;
    if (Number.isNaN(ms)) throw new ParamError(`expected RFC 3339 (2026-12-06T10:00:00Z), a duration ago (30s, 5m, 1h30m, 2d) or now, got "${v}"`);
  }
  return `TIMESTAMP '${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')}'`;
}

function countLiteral(v: string): string {
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new ParamError(`expected a whole number of 1 or more, got "${v}"`);
  return v;
}

/** A text parameter as a SQL string literal (quotes doubled; no control characters). */
function textLiteral(v: string): string {
  if (v.length > 256 || /[\x00-\x1f]/.test(v)) throw new ParamError(`expected text of at most 256 characters without control characters, got ${JSON.stringify(v.slice(0, 40))}`);
  return `'${v.replace(/'/g, "''")}'`;
}

const literal: Record<ParamType, (v: string) => string> = {
  text: textLiteral,
  time: (v) => timeLiteral(v),
  count: countLiteral,
  ms: (v) => {
    if (!/^\d+(\.\d+)?$/.test(v)) throw new ParamError(`expected milliseconds (250, 1.5), got "${v}"`);
    return String(Math.round(Number(v) * 1e6));
  },
};

/** The processes alive at a time: the last exec (or fork) of each, not exited by then; as a tree. */
const processTree: NamedQuery = {
  name: 'process_tree', doc: 'the processes running at a time, as a tree (from their exec, fork and exit records)',
  params: [{ name: 'at', type: 'time', doc: 'the time: RFC 3339 or a duration ago', default: 'now' }],
  tables: ['process_events'],
  sql: (p) => `WITH RECURSIVE alive AS (
  SELECT s.* FROM process_events s
  WHERE s.kind IN ('exec', 'fork') AND s.time <= ${p.at}
    AND NOT EXISTS (SELECT 1 FROM process_events x WHERE x.kind = 'exit' AND x.pid = s.pid AND x.time >= s.time AND x.time <= ${p.at})
    AND NOT EXISTS (SELECT 1 FROM process_events n WHERE n.kind IN ('exec', 'fork') AND n.pid = s.pid AND n.time > s.time AND n.time <= ${p.at})
), tree AS (
  SELECT pid, 0 AS depth, lpad(pid::VARCHAR, 10, '0') AS sort_key FROM alive WHERE ppid NOT IN (SELECT pid FROM alive)
  UNION ALL
  SELECT a.pid, t.depth + 1, t.sort_key || '/' || lpad(a.pid::VARCHAR, 10, '0') FROM alive a JOIN tree t ON a.ppid = t.pid WHERE t.depth < 64
)
SELECT repeat('  ', t.depth) || a.pid AS pid, a.ppid, a.uid, a.exe, a.args, a.time AS since, a.exec_id
FROM tree t JOIN alive a USING (pid) ORDER BY t.sort_key`,
};

const alerts: NamedQuery = {
  name: 'alerts', doc: 'Falco alerts and TracingPolicy events since a time, newest last',
  params: [since, { ...limit, default: '100' }],
  tables: ['alerts', 'policy_events'],
  sql: (p) => `SELECT * FROM (
  SELECT time, 'alert' AS kind, priority, rule AS name, message AS detail FROM alerts WHERE time >= ${p.since}
  UNION ALL
  SELECT time, 'policy', action, policy, function || ' by ' || exe || ' (pid ' || pid || ')' FROM policy_events WHERE time >= ${p.since}
) ORDER BY time DESC LIMIT ${p.limit}`,
};

const topTalkers: NamedQuery = {
  name: 'top_talkers', doc: 'the processes that moved the most bytes over the network since a time',
  params: [since, limit],
  tables: ['flows'],
  sql: (p) => `SELECT exe, pid, count(DISTINCT flow_id) AS connections, sum(bytes_sent) AS bytes_sent, sum(bytes_received) AS bytes_received,
  sum(bytes_sent) + sum(bytes_received) AS bytes_total
FROM flows WHERE time >= ${p.since} AND event_kind IN ('tcp-close', 'udp')
GROUP BY exe, pid ORDER BY bytes_total DESC NULLS LAST LIMIT ${p.limit}`,
};

const netFlowGraph: NamedQuery = {
  name: 'net_flow_graph', doc: 'who talks to whom: one row per (process, peer, port, protocol) with connections and bytes',
  params: [since, { ...limit, default: '200' }],
  tables: ['flows'],
  sql: (p) => `SELECT exe AS source, coalesce(nullif(dst_names, ''), dst_ip) AS destination, dst_port, protocol,
  count(DISTINCT flow_id) AS connections, coalesce(sum(bytes_sent), 0) AS bytes_sent, coalesce(sum(bytes_received), 0) AS bytes_received,
  count(*) FILTER (WHERE event_kind = 'tcp-failed' OR verdict <> 'FORWARDED') AS failed
FROM flows WHERE time >= ${p.since} AND direction = 'EGRESS'
GROUP BY ALL ORDER BY connections DESC LIMIT ${p.limit}`,
};

const httpData: NamedQuery = {
  name: 'http_data', doc: 'the latest HTTP requests (L7 records)',
  params: [since, { ...limit, default: '100' }],
  tables: ['l7_records'],
  sql: (p) => `SELECT time, service, method, path, status, round(latency_ns / 1e6, 3) AS latency_ms, req_bytes, resp_bytes, exe, pid
FROM l7_records WHERE time >= ${p.since} AND protocol LIKE 'http%' ORDER BY time DESC LIMIT ${p.limit}`,
};

const serviceStats: NamedQuery = {
  name: 'service_stats', doc: 'per service and endpoint: requests, error rate (status >= 500), p50 and p99 latency (within 4.5%, from l7_rollup)',
  params: [since, { ...limit, default: '50' }],
  tables: ['l7_rollup', 'l7_records'],
  sql: (p) => serviceStatsSql(p.since!, p.limit!),
};

const slowRequests: NamedQuery = {
  name: 'slow_requests', doc: 'requests slower than a threshold, slowest first (L7 records)',
  params: [since, { name: 'threshold', type: 'ms', doc: 'milliseconds', default: '500' }, { ...limit, default: '50' }],
  tables: ['l7_records'],
  sql: (p) => `SELECT time, service, method, path, status, round(latency_ns / 1e6, 3) AS latency_ms, exe, pid
FROM l7_records WHERE time >= ${p.since} AND latency_ns >= ${p.threshold} ORDER BY latency_ns DESC LIMIT ${p.limit}`,
};

const topStacks: NamedQuery = {
  name: 'top_stacks', doc: 'CPU profile: the folded stacks sampled most between two times (profile sensor), for a flame graph',
  params: [since, { name: 'until', type: 'time', doc: 'to TIME: RFC 3339 or a duration ago', default: 'now' },
    { name: 'process', type: 'text', doc: 'only processes whose name (the stack\'s root) or executable path contains this', default: '' },
    { name: 'container', type: 'text', doc: 'only this container (an id or its prefix; "host": no container)', default: '' },
    { ...limit, default: '500' }],
  tables: ['profile_samples'],
  sql: (p) => `SELECT stack, sum(count) AS samples, round(100 * sum(count) / sum(sum(count)) OVER (), 2) AS percent,
  count(DISTINCT pid) AS processes, string_agg(DISTINCT exe, ', ') AS exe
FROM profile_samples WHERE time >= ${p.since} AND time <= ${p.until}
  AND (${p.process} = '' OR contains(split_part(stack, ';', 1), ${p.process}) OR contains(exe, ${p.process}))
  AND (${p.container} = '' OR (${p.container} = 'host' AND container_id = '') OR starts_with(container_id, ${p.container}))
GROUP BY stack ORDER BY samples DESC, stack LIMIT ${p.limit}`,
};

export const NAMED_QUERIES: readonly NamedQuery[] = [processTree, alerts, topTalkers, netFlowGraph, httpData, serviceStats, slowRequests, topStacks];

export function namedQuery(name: string): NamedQuery | undefined {
  return NAMED_QUERIES.find((q) => q.name === name);
}

/** A named query's SQL with the given parameters (the rest their defaults); a bad value names its flag. */
export function namedSql(q: NamedQuery, given: Readonly<Record<string, string>>): string {
  for (const k of Object.keys(given)) {
    if (!q.params.some((p) => p.name === k)) {
      throw new ParamError(`${q.name} takes no --${k}${q.params.length ? `; it takes ${q.params.map((p) => `--${p.name}`).join(', ')}` : ''}`);
    }
  }
  const values: Record<string, string> = {};
  for (const p of q.params) {
    try {
      values[p.name] = literal[p.type](given[p.name] ?? p.default);
    } catch (e) {
      throw new ParamError(`--${p.name}: ${(e as Error).message}`);
    }
  }
  return q.sql(values);
}

const PARAM_METAVAR: Record<ParamType, string> = { time: 'TIME', ms: 'MS', count: 'N', text: 'TEXT' };

/** `vigil query --list`: each query, what it answers, its parameters and defaults. */
export function describeNamedQueries(): string {
  const out: string[] = [];
  for (const q of NAMED_QUERIES) {
    out.push(`${q.name}  ${q.doc}`);
    for (const p of q.params) out.push(`    --${p.name} ${PARAM_METAVAR[p.type]}  ${p.doc} (default ${p.default === '' ? 'all' : p.default})`);
    out.push(`    reads: ${q.tables.join(', ')}`);
  }
  return out.join('\n');
}
