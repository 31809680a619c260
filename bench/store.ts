// The embedded store (docs/store.md): ingest rows/s through the agent's
// store sink and the store's thread (DuckDB's Appender), unpaced and paced,
// with losses, CPU and disk; L7 records straight to the store's thread (their
// rollup kept at each append); then service_stats over 10 million generated L7
// records. Alone: `node dist/bench/store.js [--seconds S] [--rate R[,R...]] [--runs unpaced,paced,l7] [--l7-rows N]`.
// No kernel: the events are made here, as the pipeline would hand them over.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { StoreSink } from '../src/store/sink.js';
import { StoreThread } from '../src/store/thread.js';
import { EventStore } from '../src/store/store.js';
import { namedQuery, namedSql } from '../src/store/named.js';
import { columnsOf, type Cell, type StoreEvent } from '../src/store/rows.js';
import { encodeColumns } from '../src/store/batch.js';
import type { FlowRecord } from '../src/network/flow-types.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' }, rate: { type: 'string', default: '100000' }, runs: { type: 'string', default: 'unpaced,paced,l7' },
    'l7-rows': { type: 'string', default: '10000000' },
  },
});
const seconds = Number(values.seconds);
const rates = values.rate.split(',').map(Number);
const runs = new Set(values.runs.split(','));
const l7Rows = Number(values['l7-rows']);

/** A mix like a busy host's: half file events, a third process events, the rest flows. */
function events(): StoreEvent[] {
  const out: StoreEvent[] = [];
  for (let i = 0; i < 1000; i++) {
    const p = {
      pid: 1000 + i, ppid: 1, uid: 0, execId: `exec-${i}`, parentExecId: 'exec-1', binary: `/usr/bin/prog${i % 50}`,
      args: ['prog', '--flag', String(i)], cwd: '/srv', container: 'host',
    };
    if (i % 6 < 3) {
      out.push({
        kind: 'file', op: 'open', syscall: 'openat', timeNs: 0n, bootNs: 0n, path: `/var/lib/data/file-${i}.db`, rawPath: '', target: null,
        rawTarget: null, dev: 1, ino: i, flags: ['O_RDONLY', 'O_CLOEXEC'], rawFlags: 0n, mode: null, ownerUid: null, ownerGid: null, length: null,
        ret: 3, task: { pid: p.pid, tid: p.pid, uid: 0, gid: 0, comm: 'prog', startBootNs: 0n, cgroupId: 1n },
      } as unknown as StoreEvent);
    } else if (i % 6 < 5) {
      out.push({ kind: 'exec', timeNs: 0n, timeBootNs: 0n, process: p, parent: undefined } as unknown as StoreEvent);
    } else {
      const record = {
        verdict: 'FORWARDED', IP: { source: '10.0.0.1', destination: `10.0.1.${i % 250}`, ipVersion: 'IPv4' },
        l4: { TCP: { source_port: 30000 + i, destination_port: 443 } }, source: { process: { pid: p.pid, binary: p.binary, exec_id: p.execId, comm: 'prog' } },
        destination: {}, traffic_direction: 'EGRESS', event_kind: 'tcp-close', flow_id: `f${i}`, traffic: { bytes_sent: i, bytes_received: 2 * i },
      } as unknown as FlowRecord;
      out.push({ kind: 'flow', timeBootNs: 0n, record } as StoreEvent);
    }
  }
  return out;
}

const cpuSeconds = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6;

/** Offers `perSecond` events a second (0: as fast as the event loop goes) for `s` seconds, a cycle every 10 ms like the pipeline. */
async function ingest(dir: string, name: string, perSecond: number, s: number): Promise<string> {
  const file = path.join(dir, `${name}.duckdb`);
  const thread = await StoreThread.open(file, { memoryLimit: '256MiB', threads: 2 });
  const now = BigInt(Date.now()) * 1_000_000n;
  const sink = new StoreSink<StoreEvent>(thread, { capacityRows: 100_000, storeEvent: (e) => e, timeOf: () => now, sensorOf: (e) => e.kind });
  const pool = events();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let offered = 0;
  let k = 0;
  while (performance.now() - t0 < s * 1000) {
    const due = perSecond > 0 ? Math.floor(((performance.now() - t0) / 1000) * perSecond) - offered : 20_000;
    for (let i = 0; i < due; i++) sink.offer(pool[k++ % pool.length]!);
    offered += Math.max(0, due);
    sink.flush();
    await new Promise((r) => setTimeout(r, perSecond > 0 ? 10 : 0));
  }
  const settled = await sink.settle(60_000);
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(process.cpuUsage(cpu0));
  const dropped = sink.lost.total;
  await thread.close();
  const bytes = statSync(file).size;
  return `| ${perSecond > 0 ? `paced ${perSecond.toLocaleString('en')}/s` : 'unpaced'} | ${offered.toLocaleString('en')} | ${sink.delivered.toLocaleString('en')} | ` +
    `${dropped.toLocaleString('en')} | ${Math.round(sink.delivered / wall).toLocaleString('en')} | ${(cpu / wall).toFixed(2)} | ` +
    `${Math.round(sink.delivered / cpu).toLocaleString('en')} | ` +
    `${(bytes / 2 ** 20).toFixed(1)} MiB (${(bytes / Math.max(1, sink.delivered)).toFixed(0)} B/row) |${settled ? '' : ' not settled'}`;
}

/** L7 records straight to the store's thread, batches of 5,000 for `s` seconds: the appends and the rollup kept with them. */
async function ingestL7(dir: string, s: number): Promise<string> {
  const file = path.join(dir, 'l7-ingest.duckdb');
  const thread = await StoreThread.open(file, { memoryLimit: '256MiB', threads: 2 });
  const rows: Cell[][] = [];
  const now = BigInt(Date.now()) * 1_000_000n;
  for (let i = 0; i < 5000; i++) {
    rows.push([now + BigInt(i) * 1000n, 'http1', `svc-${i % 20}`, '10.0.0.1', `10.0.2.${i % 20}`, 8080, i % 7 ? 'GET' : 'POST', `/api/v1/item/${i % 50}`,
      i % 100 ? 200 : 503, BigInt((i * 7919) % 500_000_000), 200n, 2000n, 1000 + (i % 100), '/usr/bin/server', `exec-${i % 100}`, '']);
  }
  const columns = columnsOf(rows, rows[0]!.length);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let stored = 0;
  // Encoded each time, as the sink does (the buffers go to the store's thread).
  while (performance.now() - t0 < s * 1000) stored += await thread.append([encodeColumns('l7_records', columns)]);
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(process.cpuUsage(cpu0));
  await thread.close();
  const bytes = statSync(file).size;
  return `| L7 records to the store's thread (rollup kept) | ${stored.toLocaleString('en')} | ${stored.toLocaleString('en')} | 0 | ` +
    `${Math.round(stored / wall).toLocaleString('en')} | ${(cpu / wall).toFixed(2)} | ${Math.round(stored / cpu).toLocaleString('en')} | ` +
    `${(bytes / 2 ** 20).toFixed(1)} MiB (${(bytes / Math.max(1, stored)).toFixed(0)} B/row) |`;
}

/** service_stats over `rows` generated L7 records (generated in SQL: the appends were measured above). */
async function serviceStats(dir: string, rows: number): Promise<string[]> {
  const file = path.join(dir, 'l7.duckdb');
  (await EventStore.open(file)).close();
  const gen = await DuckDBInstance.create(file);
  const c = await gen.connect();
  const t0 = performance.now();
  await c.run(`INSERT INTO l7_records SELECT now()::TIMESTAMP - to_microseconds(((i * 360) % 3600000000)::BIGINT), 'http1', 'svc-' || (i % 20),
    '10.0.0.1', '10.0.2.' || (i % 20), 8080, CASE WHEN i % 7 = 0 THEN 'POST' ELSE 'GET' END, '/api/v1/item/' || (i % 50),
    CASE WHEN i % 100 = 0 THEN 503 ELSE 200 END, (hash(i) % 500000000)::UBIGINT, 200, 2000, 1000 + i % 100, '/usr/bin/server', 'e', ''
    FROM range(${rows}) t(i)`);
  const genS = (performance.now() - t0) / 1000;
  c.closeSync();
  gen.closeSync();
  // The first open makes l7_rollup from the generated rows (as for a store from before the rollup); appends keep it after.
  const r0 = performance.now();
  const s = await EventStore.open(file);
  const rollupS = (performance.now() - r0) / 1000;
  const rollupRows = (await s.query('SELECT count(*) FROM l7_rollup', { timeoutMs: 60_000, maxRows: 1 })).rows[0]![0];
  const sql = namedSql(namedQuery('service_stats')!, { since: '2h', limit: '1000' });
  const times: number[] = [];
  let groups = 0;
  for (let i = 0; i < 5; i++) {
    const q0 = performance.now();
    const r = await s.query(sql, { timeoutMs: 60_000, maxRows: 10_000 });
    times.push(performance.now() - q0);
    groups = r.rows.length;
  }
  s.close();
  times.sort((a, b) => a - b);
  return [`service_stats over ${rows.toLocaleString('en')} L7 records (${groups} service/endpoint groups; generated in ${genS.toFixed(1)} s, ` +
    `l7_rollup made from them in ${rollupS.toFixed(1)} s: ${Number(rollupRows).toLocaleString('en')} rows; ` +
    `file ${(statSync(file).size / 2 ** 20).toFixed(0)} MiB): median ${times[2]!.toFixed(0)} ms, min ${times[0]!.toFixed(0)} ms, max ${times[4]!.toFixed(0)} ms over 5 runs`];
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-bench-store-'));
try {
  const lines = [
    `## Store ingest (${os.availableParallelism()} CPUs, load average ${os.loadavg()[0]!.toFixed(1)} at the start; ${seconds} s each; a mix of file, exec and flow events)`, '',
    '| run | offered | stored | dropped | rows/s | CPU (cores) | rows per CPU-second | disk |', '|:--|--:|--:|--:|--:|--:|--:|--:|',
  ];
  if (runs.has('unpaced')) lines.push(await ingest(dir, 'unpaced', 0, seconds));
  if (runs.has('paced')) for (const rate of rates) lines.push(await ingest(dir, `paced-${rate}`, rate, seconds));
  if (runs.has('l7')) lines.push(await ingestL7(dir, seconds));
  lines.push('', ...(l7Rows > 0 ? await serviceStats(dir, l7Rows) : []));
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
