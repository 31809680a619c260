// The embedded store on a real DuckDB file (no kernel, no root): rows of
// every kind, appends that survive a reopen, the query sandbox (files and the
// network refused from SQL, only SELECT, time and memory limits), retention
// by age and size, the sink's bounded queue, the named queries.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EventStore, QueryError, QueryLimitError, queryStoreFile } from '../src/store/store.js';
import { TABLES, TABLE_BY_NAME, schemaMarkdown, type TableName } from '../src/store/schema.js';
import { columnsOf, profileRows, rowOf, type Cell, type Columns, type StoreEvent } from '../src/store/rows.js';
import { StoreThread } from '../src/store/thread.js';
import { TableBuilder, decodeTable } from '../src/store/batch.js';
import { STORE_DEFAULTS } from '../src/agent/config.js';
import type { Profile, ProfileStack } from '../src/profile/profile.js';
import type { ProcessInfo } from '../src/sensors/events.js';
import { StoreSink, type RowWriter } from '../src/store/sink.js';
import { NAMED_QUERIES, ParamError, namedQuery, namedSql, timeLiteral } from '../src/store/named.js';
import { parseQueryArgs, formatCsv } from '../src/cli/commands/query.js';
import { UsageError } from '../src/cli/command.js';
import { repoPath } from '../src/util/paths.js';
import type { FlowRecord } from '../src/network/flow-types.js';

const MS = 1_000_000n;
const nowNs = (): bigint => BigInt(Date.now()) * MS;

function proc(pid: number, ppid: number, exe: string): Record<string, unknown> {
  return {
    pid, ppid, uid: 0, execId: `e${pid}`, parentExecId: `e${ppid}`, binary: exe, args: [exe, '-x'], cwd: '/', container: 'host',
  };
}

function exec(pid: number, ppid: number, exe: string, timeNs = nowNs()): StoreEvent {
  return { kind: 'exec', timeNs, timeBootNs: 0n, process: proc(pid, ppid, exe), parent: undefined } as unknown as StoreEvent;
}

function exit(pid: number, ppid: number, exe: string, timeNs = nowNs()): StoreEvent {
  return {
    kind: 'exit', timeNs, timeBootNs: 0n, process: proc(pid, ppid, exe), parent: undefined, status: 0, signal: null, signalName: null, coreDumped: false,
  } as unknown as StoreEvent;
}

function flow(kind: 'flow' | 'dns', sent: number): StoreEvent {
  const record = {
    time: '', uuid: 'u', verdict: 'FORWARDED', IP: { source: '10.0.0.1', destination: '10.0.0.2', ipVersion: 'IPv4' },
    l4: kind === 'dns' ? { UDP: { source_port: 40000, destination_port: 53 } } : { TCP: { source_port: 40000, destination_port: 443 } },
    source: { process: { pid: 7, binary: '/usr/bin/curl', exec_id: 'e7', comm: 'curl' } }, destination: {},
    Type: kind === 'dns' ? 'L7' : 'L3_L4', node_name: 'n', is_reply: false, traffic_direction: 'EGRESS', Summary: '',
    event_kind: kind === 'dns' ? 'dns-query' : 'tcp-close', flow_id: 'f1', destination_names: ['example.com'],
    traffic: { bytes_sent: sent, bytes_received: 2 * sent, packets_sent: 1, packets_received: 1 },
    l7: kind === 'dns' ? { type: 'REQUEST', dns: { query: 'example.com.', qtypes: ['A'] } } : undefined,
  } as unknown as FlowRecord;
  return { kind, timeBootNs: 0n, record } as StoreEvent;
}

/** Events as the sink hands them over: each table's rows, column by column. */
function batchOf(events: StoreEvent[], timeNs = nowNs()): [TableName, Columns][] {
  const m = new Map<TableName, Cell[][]>();
  for (const e of events) {
    const r = rowOf(e, e.kind === 'exec' || e.kind === 'exit' ? e.timeNs : timeNs);
    if (!m.has(r.table)) m.set(r.table, []);
    m.get(r.table)!.push(r.values);
  }
  return [...m].map(([t, rows]) => [t, columnsOf(rows, TABLE_BY_NAME.get(t)!.columns.length)]);
}

/** One statement on a store file through DuckDB itself, as an older Vigil (or another tool) would have left it. */
async function runOnFile(file: string, sql: string): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(file);
  const c = await db.connect();
  await c.run(sql);
  c.closeSync();
  db.closeSync();
}

describe('the embedded store', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-store-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('docs/store.md holds the schema as schema.ts defines it', () => {
    assert.ok(readFileSync(repoPath('docs', 'store.md'), 'utf8').includes(schemaMarkdown()), 'docs/store.md is stale: paste schemaMarkdown()');
  });

  test('each kind\'s row has its table\'s columns', () => {
    for (const e of [exec(1, 0, '/a'), exit(1, 0, '/a'), flow('flow', 10), flow('dns', 0)]) {
      const r = rowOf(e, nowNs());
      assert.equal(r.values.length, TABLE_BY_NAME.get(r.table)!.columns.length, r.table);
    }
  });

  test('appended rows are queried, and stay across a reopen', async () => {
    const file = path.join(dir, 'reopen.duckdb');
    let s = await EventStore.open(file);
    assert.equal(await s.append(batchOf([exec(1, 0, '/sbin/init'), exec(10, 1, '/bin/sh'), flow('flow', 100), flow('dns', 0)])), 4);
    s.close();
    s = await EventStore.open(file);
    try {
      const counts = await s.counts();
      assert.equal(counts.process_events, 2);
      assert.equal(counts.flows, 1);
      assert.equal(counts.dns, 1);
      const r = await s.query("SELECT exe, args FROM process_events WHERE pid = 10");
      assert.deepEqual(r.rows, [['/bin/sh', '-x']]);
      const f = await s.query('SELECT dst_port, bytes_sent, dst_names, exe FROM flows');
      assert.deepEqual(f.rows, [[443, '100', 'example.com', '/usr/bin/curl']]);
      assert.deepEqual(f.types, ['INTEGER', 'UBIGINT', 'VARCHAR', 'VARCHAR']);
    } finally {
      s.close();
    }
  });

  test('SQL cannot reach files or the network, write, or change the sandbox', async () => {
    let hits = 0;
    const server = http.createServer((_req, res) => {
      hits++;
      res.end('a,b\n1,2\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const secret = path.join(dir, 'secret.csv');
    writeFileSync(secret, 'a,b\n1,2\n');
    const s = await EventStore.open(path.join(dir, 'sandbox.duckdb'));
    try {
      const refused: [string, RegExp][] = [
        [`SELECT * FROM read_csv('${secret}')`, /disabled by configuration/],
        [`SELECT * FROM read_csv('http://127.0.0.1:${port}/x.csv')`, /disabled by configuration|not (be )?loaded|httpfs/i],
        [`SELECT * FROM read_text('/etc/hostname')`, /disabled by configuration/],
        [`COPY process_events TO '${path.join(dir, 'out.csv')}'`, /only SELECT|disabled by configuration/],
        [`ATTACH '${path.join(dir, 'other.duckdb')}'`, /only SELECT|disabled by configuration/],
        ['SET enable_external_access = true', /only SELECT/],
        ['INSTALL httpfs', /only SELECT/],
        ['DELETE FROM process_events', /only SELECT/],
        ['CREATE TABLE x (a INTEGER)', /only SELECT/],
        ['SELECT 1; SELECT 2', /one statement/],
        ['SELEC 1', /syntax error/],
      ];
      for (const [sql, why] of refused) {
        await assert.rejects(s.query(sql), (e: Error) => e instanceof QueryError && why.test(e.message), sql);
      }
      assert.equal(hits, 0, 'no request reached the server');
      // The file stays closed from a store file opened for queries too.
      s.close();
      await assert.rejects(queryStoreFile(path.join(dir, 'sandbox.duckdb'), `SELECT * FROM read_csv('${secret}')`), QueryError);
      const ok = await queryStoreFile(path.join(dir, 'sandbox.duckdb'), 'SELECT count(*) AS n FROM process_events');
      assert.deepEqual(ok.rows, [['0']]);
    } finally {
      server.close();
      try {
        s.close();
      } catch {
        // Closed above.
      }
    }
  });

  test('a query stops at its time limit and at the memory limit', async () => {
    const s = await EventStore.open(path.join(dir, 'limits.duckdb'), { memoryLimit: '64MB', threads: 1 });
    try {
      const t0 = Date.now();
      await assert.rejects(s.query('SELECT sum(a.range * b.range) FROM range(100000000) a, range(1000) b', { timeoutMs: 200, maxRows: 10 }),
        (e: Error) => e instanceof QueryLimitError && /time limit/.test(e.message));
      assert.ok(Date.now() - t0 < 5000, `stopped after ${Date.now() - t0} ms`);
      await assert.rejects(s.query('SELECT list(range) FROM range(50000000)', { timeoutMs: 30_000, maxRows: 10 }),
        (e: Error) => e instanceof QueryLimitError && /memory/i.test(e.message));
      // And the next query runs.
      const r = await s.query('SELECT 42 AS x', { timeoutMs: 1000, maxRows: 10 });
      assert.deepEqual(r.rows, [[42]]);
      const cut = await s.query('SELECT range FROM range(100)', { timeoutMs: 1000, maxRows: 5 });
      assert.equal(cut.rows.length, 5);
      assert.equal(cut.truncated, true);
    } finally {
      s.close();
    }
  });

  test('values come back as appended: strings short and long, repeated, multi-byte, and nulls of every type', async () => {
    const s = await EventStore.open(path.join(dir, 'values.duckdb'));
    try {
      // Around DuckDB's 12 inline bytes, in characters and in UTF-8 bytes; repeats in one chunk and across chunks.
      const strings = [null, '', 'a', '123456789012', '1234567890123', 'é'.repeat(6), 'é'.repeat(7), '/usr/bin/some-long-binary', '/usr/bin/some-long-binary',
        '日本語のテキストです', 'x\u0000y', `/tmp/${'z'.repeat(300)}`, 'a long one with a \u0000 in it'];
      const n = 5000;
      const width = TABLE_BY_NAME.get('file_events')!.columns.length;
      const t0 = nowNs();
      const rows: Cell[][] = [];
      for (let i = 0; i < n; i++) {
        rows.push([t0 + BigInt(i) * 1000n, strings[i % strings.length]!, 'openat', i % 7 ? i : null, 0, strings[(i + 5) % strings.length]!,
          `/var/lib/x/${i % 100}/a-file-name`, null, i % 2 ? 'O_RDONLY O_CLOEXEC' : '', i % 3 ? -i : null, i % 11 ? BigInt(i) * 3_000_000_000n : null]);
      }
      assert.equal(await s.append([['file_events', columnsOf(rows, width)]]), n);
      const r = await s.query('SELECT epoch_us(time), op, pid, comm, path, target, flags, ret, cgroup_id FROM file_events ORDER BY time', { timeoutMs: 10_000, maxRows: n });
      assert.equal(r.rows.length, n);
      const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
      for (let i = 0; i < n; i++) {
        const w = rows[i]!;
        assert.deepEqual(r.rows[i]!.map(text), [String((w[0] as bigint) / 1000n), w[1], w[3], w[5], w[6], null, w[8], w[9], w[10]].map(text), `row ${i}`);
      }
    } finally {
      s.close();
    }
  });

  test('retention: rows past the age go; over the size, the oldest go first', async () => {
    const s = await EventStore.open(path.join(dir, 'retention.duckdb'));
    try {
      const now = Date.now();
      const hour = 3_600_000;
      await s.append(batchOf([exec(1, 0, '/old', BigInt(now - 25 * hour) * MS), exec(2, 0, '/new', BigInt(now - hour) * MS)]));
      const r = await s.retain({ maxAgeMs: 24 * hour, maxBytes: 1 << 30 }, now);
      assert.equal(r.deleted, 1);
      assert.deepEqual((await s.query('SELECT exe FROM process_events')).rows, [['/new']]);
      // ~25 MB of rows (random names: DuckDB compresses the rest) over 100 minutes; a 16 MB bound keeps the newest.
      for (let m = 100; m > 0; m--) {
        const rows: Cell[][] = [];
        for (let i = 0; i < 1200; i++) rows.push(rowOf(exec(1000 + i, 1, `/bin/${randomBytes(100).toString('hex')}`), BigInt(now - m * 60_000) * MS).values);
        await s.append([['process_events', columnsOf(rows, rows[0]!.length)]]);
      }
      const before = await s.sizeBytes();
      assert.ok(before > 16 << 20, `stored ${before} bytes`);
      const after = await s.retain({ maxAgeMs: 24 * hour, maxBytes: 16 << 20 }, now);
      assert.ok(after.deleted > 0);
      assert.ok(after.sizeBytes <= 16 << 20, `${after.sizeBytes} bytes after retention`);
      const oldest = String((await s.query('SELECT min(time) FROM process_events')).rows[0]![0]);
      assert.ok(Date.parse(`${oldest.replace(' ', 'T')}Z`) > now - 100 * 60_000, `the oldest left: ${oldest}`);
    } finally {
      s.close();
    }
  });

  test('the sink: a bounded queue that drops and counts, one batch at a time', async () => {
    const batches: number[] = [];
    let release: (() => void) | undefined;
    const writer: RowWriter = {
      path: 'test',
      append: (batch) => new Promise((resolve) => {
        const n = batch.reduce((a, t) => a + t.rows, 0);
        batches.push(n);
        release = () => resolve(n);
      }),
    };
    const sink = new StoreSink<StoreEvent>(writer, { capacityRows: 10, storeEvent: (e) => e, timeOf: () => nowNs(), sensorOf: () => 'process' });
    const profileRow: Cell[] = [nowNs(), 1, '', '/x', 'x;y', 1, ''];
    for (let i = 0; i < 6; i++) sink.offer(exec(i, 0, '/x'));
    sink.flush();
    // While the first batch is appended, the next gathers up to the bound; the rest is counted.
    for (let i = 0; i < 20; i++) sink.offer(exec(i, 0, '/x'));
    assert.equal(sink.queuedRows, 10);
    assert.equal(sink.full, true);
    assert.deepEqual(sink.lost.entries(), [{ sensor: 'process', reason: 'queue_full', count: 16 }]);
    sink.flush();
    assert.deepEqual(batches, [6], 'one batch at a time');
    // Rows a producer makes itself (the profiler's) share the bound: while it drops, they are counted too.
    sink.offerRows('profile', 'profile_samples', [profileRow, profileRow]);
    assert.deepEqual(sink.lost.entries().find((l) => l.sensor === 'profile'), { sensor: 'profile', reason: 'queue_full', count: 2 });
    release!();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(batches, [6, 4], 'the next batch goes when the first is in');
    release!();
    assert.equal(await sink.settle(1000), true);
    assert.equal(sink.delivered, 10);
    assert.equal(sink.full, false);
    sink.close();
    sink.offer(exec(1, 0, '/x'));
    assert.equal(sink.lost.entries().find((l) => l.reason === 'output_closed')?.count, 1);
  });

  test('named queries run on the tables; a tree of the processes alive', async () => {
    const s = await EventStore.open(path.join(dir, 'named.duckdb'));
    try {
      const t = nowNs() - 1000n * MS;
      await s.append(batchOf([exec(1, 0, '/sbin/init', t), exec(10, 1, '/bin/sh', t), exec(11, 10, '/bin/sleep', t), exec(12, 10, '/bin/true', t),
        exit(12, 10, '/bin/true', t + MS), flow('flow', 500)]));
      for (const q of NAMED_QUERIES) await s.query(namedSql(q, {}));
      const tree = await s.query(namedSql(namedQuery('process_tree')!, {}));
      assert.deepEqual(tree.rows.map((r) => [r[0], r[3]]), [['1', '/sbin/init'], ['  10', '/bin/sh'], ['    11', '/bin/sleep']]);
      const talkers = await s.query(namedSql(namedQuery('top_talkers')!, { since: '1h' }));
      assert.deepEqual(talkers.rows[0]!.slice(0, 2), ['/usr/bin/curl', 7]);
      assert.throws(() => namedSql(namedQuery('alerts')!, { since: 'yesterday' }), (e: Error) => e instanceof ParamError && /--since/.test(e.message));
      assert.throws(() => namedSql(namedQuery('alerts')!, { at: 'now' }), /takes no --at/);
      assert.throws(() => namedSql(namedQuery('top_talkers')!, { limit: "1; DROP TABLE flows" }), /whole number/);
      assert.equal(timeLiteral('2026-12-06T10:00:00Z'), "TIMESTAMP '2026-12-06 10:00:00.000'");
    } finally {
      s.close();
    }
  });

  test('service_stats reads l7_rollup, kept at each append: exact counts, quantiles within 4.5%', async () => {
    const file = path.join(dir, 'rollup.duckdb');
    let s = await EventStore.open(file);
    const width = TABLE_BY_NAME.get('l7_records')!.columns.length;
    const now = Date.now();
    const l7 = (t: number, service: string, p: string, status: number, latencyNs: number | null): Cell[] =>
      [BigInt(t) * MS, 'http1', service, '10.0.0.1', '10.0.0.2', 80, 'GET', p, status, latencyNs === null ? null : BigInt(latencyNs), 10n, 20n, 1, '/srv', 'e', ''];
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    // 30 minutes of requests, in batches of a few hundred (each batch adds its own rollup rows), a few without a latency.
    for (let b = 0; b < 30; b++) {
      const rows: Cell[][] = [];
      for (let i = 0; i < 300; i++) {
        const t = now - 30 * 60_000 + b * 60_000 + Math.floor(random() * 60_000);
        rows.push(l7(t, `svc-${i % 3}`, `/p${i % 2}`, random() < 0.05 ? 503 : 200, i % 50 === 0 ? null : Math.floor(1e5 + random() * 5e8)));
      }
      assert.equal(await s.append([['l7_records', columnsOf(rows, width)]]), 300);
    }
    const since = new Date(now - 17.5 * 60_000).toISOString();
    const exact = async (): Promise<Map<string, number[]>> => new Map((await s.query(`SELECT service || ' ' || path, count(*), avg((status >= 500)::INTEGER),
        quantile_cont(latency_ns, 0.5), quantile_cont(latency_ns, 0.99) FROM l7_records WHERE time >= TIMESTAMP '${since.replace('T', ' ').replace('Z', '')}'
        GROUP BY ALL`)).rows.map((r) => [String(r[0]), r.slice(1).map(Number)]));
    const check = async (): Promise<void> => {
      const want = await exact();
      const got = await s.query(namedSql(namedQuery('service_stats')!, { since, limit: '100' }));
      assert.equal(got.rows.length, 6);
      for (const r of got.rows) {
        const w = want.get(`${r[0]} ${r[1]}`)!;
        assert.equal(Number(r[2]), w[0], 'requests');
        assert.ok(Math.abs(Number(r[3]) - w[1]!) < 1e-4, `error rate ${r[3]} vs ${w[1]}`);
        for (const [i, q] of [[4, 2], [5, 3]] as const) {
          const rel = Math.abs(Number(r[i]) * 1e6 - w[q]!) / w[q]!;
          // The p99 of 300-odd values sits between two samples: the bucket's error plus that gap.
          assert.ok(rel < (i === 4 ? 0.05 : 0.12), `${r[0]} ${r[1]}: quantile ${r[i]} ms vs ${w[q]! / 1e6} ms`);
        }
      }
    };
    try {
      await check();
      const partial = Number((await s.query('SELECT count(*) FROM l7_rollup')).rows[0]![0]);
      await s.retain({ maxAgeMs: 24 * 3_600_000, maxBytes: 1 << 30 }, now);
      const compacted = Number((await s.query('SELECT count(*) FROM l7_rollup')).rows[0]![0]);
      assert.ok(compacted <= partial, `compaction: ${partial} rows, then ${compacted}`);
      await check();
      s.close();
      // A store whose rollup is missing (made before it) gets it from l7_records when opened.
      await runOnFile(file, 'DELETE FROM l7_rollup');
      s = await EventStore.open(file);
      assert.ok(Number((await s.query('SELECT count(*) FROM l7_rollup')).rows[0]![0]) > 0);
      await check();
    } finally {
      s.close();
    }
  });

  test('vigil query\'s arguments: one line for each mistake', () => {
    const bad: [string[], RegExp][] = [
      [[], /give a query/],
      [['SELECT 1', 'SELECT 2'], /one query at a time/],
      [['SELECT 1', '--since', '1h'], /parameter of the named queries/],
      [['alerts', '--since', 'x'], /--since: expected/],
      [['process_tree', '--limit', '3'], /takes no --limit/],
      [['SELECT 1', '--output', 'xml'], /unknown format "xml"/],
      [['SELECT 1', '--max-rows', '0'], /--max-rows/],
      [['SELECT 1', '--store', 'f', '--socket', 's'], /give one/],
      [['--list', 'x'], /takes no query/],
      [['SELECT 1', '--bogus'], /unknown option --bogus/],
    ];
    for (const [argv, why] of bad) assert.throws(() => parseQueryArgs(argv), (e: Error) => e instanceof UsageError && why.test(e.message), argv.join(' '));
    assert.match(parseQueryArgs(['top_talkers', '--limit', '3']).sql, /LIMIT 3$/);
    assert.equal(formatCsv({ columns: ['a', 'b'], types: [], rows: [['x,y', 'say "hi"']], truncated: false }), 'a,b\n"x,y","say ""hi"""');
  });

  test('profile samples: folded per process, filtered by process and container in top_stacks', async () => {
    const frame = (name: string) => ({ name, module: '/x', offset: 0n, addr: 0n, kind: 'user' as const, symbolOffset: 0n });
    const stack = (pid: number, process: string, frames: string[], count: number): ProfileStack =>
      ({ pid, tid: pid, process, thread: process, exe: `/usr/bin/${process}`, frames: frames.map(frame), count, ns: count * 1e6 });
    const profile = {
      mode: 'cpu', frequency: 49, periodNs: 1e9 / 49, startMs: Date.now() - 10_000, endMs: Date.now(), counters: {}, warnings: [],
      // Leaf first; two threads of pid 10 with one stack merge into one row.
      stacks: [stack(10, 'app', ['spin', 'main'], 5), stack(10, 'app', ['spin', 'main'], 2), stack(11, 'db', ['scan;it', 'main'], 3)],
    } as unknown as Profile;
    const info = (pid: number) => (pid === 11 ? { execId: 'e11', binary: '/usr/bin/db', container: { id: 'c0ffee1234' } } : undefined) as ProcessInfo | undefined;
    const rows = profileRows(profile, info);
    assert.deepEqual(rows.map((r) => r.slice(1)), [[10, '', '/usr/bin/app', 'app;main;spin', 7, ''], [11, 'e11', '/usr/bin/db', 'db;main;scan:it', 3, 'c0ffee1234']]);
    const s = await EventStore.open(path.join(dir, 'profile.duckdb'));
    try {
      await s.append([['profile_samples', columnsOf(rows, TABLE_BY_NAME.get('profile_samples')!.columns.length)]]);
      const top = async (params: Record<string, string>) => (await s.query(namedSql(namedQuery('top_stacks')!, params))).rows.map((r) => [r[0], Number(r[1])]);
      assert.deepEqual(await top({}), [['app;main;spin', 7], ['db;main;scan:it', 3]]);
      assert.deepEqual(await top({ process: 'db' }), [['db;main;scan:it', 3]]);
      assert.deepEqual(await top({ container: 'c0ffee' }), [['db;main;scan:it', 3]]);
      assert.deepEqual(await top({ container: 'host' }), [['app;main;spin', 7]]);
      assert.deepEqual(await top({ process: "it's" }), [], 'a quote is text, not SQL');
      assert.deepEqual(await top({ until: '1h' }), [], 'before the range');
      assert.throws(() => namedSql(namedQuery('top_stacks')!, { process: 'a\nb' }), (e: Error) => e instanceof ParamError && /--process/.test(e.message));
    } finally {
      s.close();
    }
  });

  test('an older store without profile_samples.container_id gets the column', async () => {
    const file = path.join(dir, 'old.duckdb');
    (await EventStore.open(file)).close();
    await runOnFile(file, 'ALTER TABLE profile_samples DROP COLUMN container_id');
    const s = await EventStore.open(file);
    try {
      const rows: Cell[][] = [[nowNs(), 1, '', '/x', 'x;y', 1, '']];
      assert.equal(await s.append([['profile_samples', columnsOf(rows, 7)]]), 1);
    } finally {
      s.close();
    }
  });

  test('encoded batches: a row with a value that cannot be encoded is taken back whole; decoded as given', () => {
    const b = new TableBuilder(TABLE_BY_NAME.get('profile_samples')!, 1);
    const t = nowNs();
    b.push([t, 1, 'e1', '/a', 'a;b', 3, '']);
    assert.throws(() => b.push([t, 2, 'e2', '/b', 'b;c', 'not a number', 'c1']), SyntaxError);
    b.push([t, null, null, '/c', 'a;b', null, null]);
    const enc = b.finish();
    assert.equal(enc.rows, 2);
    assert.deepEqual(decodeTable(enc), [[t, t], [1, null], ['e1', null], ['/a', '/c'], ['a;b', 'a;b'], [3n, null], ['', null]]);
    assert.equal(enc.columns[4]!.strings!.filter((x) => x === 'a;b').length, 1, 'a column\'s distinct strings, once each');
  });

  test('paced at 100,000 rows a second through the sink and the store\'s thread, nothing is lost', async () => {
    const thread = await StoreThread.open(path.join(dir, 'paced.duckdb'), { memoryLimit: '256MiB', threads: 2 });
    const sensorOf = (e: StoreEvent): string => (e.kind === 'file' ? 'file' : e.kind === 'flow' ? 'flow' : 'process');
    const sink = new StoreSink<StoreEvent>(thread, { capacityRows: STORE_DEFAULTS.queueRows, storeEvent: (e) => e, timeOf: () => nowNs(), sensorOf });
    const pool = [...Array.from({ length: 50 }, (_, i) => exec(1000 + i, 1, `/usr/bin/prog${i}`)), flow('flow', 10), flow('flow', 20)];
    // 1,000 rows every 10 ms, as the pipeline's cycles hand them over: 300,000 rows in all (counted, not timed).
    const total = 300_000;
    try {
      for (let offered = 0; offered < total;) {
        for (let i = 0; i < 1000; i++, offered++) sink.offer(pool[offered % pool.length]!);
        sink.flush();
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(await sink.settle(120_000), true, 'the store took what was queued');
      assert.deepEqual(sink.lost.entries(), [], 'nothing dropped');
      assert.equal(sink.delivered, total);
      const counts = await thread.counts();
      assert.equal(counts.process_events! + counts.flows!, total);
    } finally {
      await thread.close();
    }
  });

  test('every table is made, even those no producer fills yet', async () => {
    const s = await EventStore.open(path.join(dir, 'tables.duckdb'));
    try {
      const r = await s.query('SELECT table_name FROM information_schema.tables ORDER BY 1');
      assert.deepEqual(r.rows.map((x) => x[0]), TABLES.map((t) => t.name).sort());
    } finally {
      s.close();
    }
  });
});
