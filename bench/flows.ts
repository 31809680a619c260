// The cost of flow tracking: loopback TCP throughput, request rate and
// connection rate with no agent, and with Vigil's flow pipeline running
// (FlowPipeline: the flow sensor's BPF programs on every TCP state change and
// on the cgroup v2 root's packets, the process sensor, the tracker making a
// flow record for every connection), as `vigil observe --sensors flow,dns`
// runs it minus printing.
//
// Workload: bench/.output/tcpload (server and client, C, one thread per
// connection) on the workload CPU; Vigil's user space on the tracer CPU.
// The kernel-side cost shows as fewer operations per second on the workload
// CPU; the user-space cost as the tracer's CPU. Bounded: every client run
// stops by itself, the server ends at its own deadline (alarm) or when killed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { repoPath } from '../src/util/paths.js';
import { markdownTable, percent, rate, count } from './table.js';
import { ksoftirqdSeconds } from './softirq.js';

export type FlowWorkload = 'stream' | 'rr1' | 'rr4' | 'crr1' | 'crr4';

const WORKLOADS: Record<FlowWorkload, { args: string[]; label: string; unit: string }> = {
  stream: { args: ['stream'], label: 'stream, 1 connection, 64 KiB writes', unit: 'bytes' },
  rr1: { args: ['rr', '1'], label: 'request/response 64 B, 1 connection', unit: 'requests' },
  rr4: { args: ['rr', '4'], label: 'request/response 64 B, 4 connections', unit: 'requests' },
  crr1: { args: ['crr', '1'], label: 'new connection per request, 1 client thread', unit: 'connections' },
  crr4: { args: ['crr', '4'], label: 'new connection per request, 4 client threads', unit: 'connections' },
};

export interface FlowsBenchOptions {
  durationMs?: number;
  repeat?: number;
  workloadCpu?: number;
  tracerCpu?: number;
  log?: (msg: string) => void;
}

export interface ClientRun {
  ops: number;
  /** Connections made (each a flow of its own). */
  connections: number;
  bytes: number;
  seconds: number;
  errors: number;
  /** CPU-seconds of the workload: client + server processes, and ksoftirqd of their CPU (see softirq.ts). */
  cpu: number;
}

export interface FlowsRow {
  workload: FlowWorkload;
  none: ClientRun[];
  vigil: ClientRun[];
  /** Tracer CPU % (this process, user + system) during each Vigil run. */
  vigilCpu: number[];
  /** Flow records made per Vigil run, and records lost. */
  records: number[];
  lost: number[];
}

export interface FlowsBenchResult {
  rows: FlowsRow[];
  durationMs: number;
  repeat: number;
  error?: string;
  placement: string;
}

function tcpload(): string {
  return repoPath('bench', '.output', 'tcpload');
}

function pinned(cpu: number | undefined, cmd: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]];
}

export interface Server {
  proc: ChildProcess;
  port: number;
  /** The server's CPU time so far (it answers SIGUSR1), in seconds. */
  cpu(): Promise<number>;
}

export async function startServer(cpu: number | undefined, maxSeconds: number): Promise<Server> {
  const [cmd, args] = pinned(cpu, tcpload(), ['serve', '0', String(maxSeconds)]);
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('tcpload serve did not start')), 5000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.once('exit', (code) => reject(new Error(`tcpload serve exited (${code})`)));
  });
  // taskset execs the server: the pid is the server's.
  const cpuTime = async (): Promise<number> => {
    const seen = (out.match(/^cpu \d+$/gm) ?? []).length;
    proc.kill('SIGUSR1');
    for (let i = 0; i < 200; i++) {
      const all = out.match(/^cpu (\d+)$/gm) ?? [];
      if (all.length > seen) return Number(all.at(-1)!.slice(4)) / 1e9;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error('tcpload serve did not report its CPU time');
  };
  return { proc, port, cpu: cpuTime };
}

/** One bounded client run (async, so the tracer's event loop keeps reading while it runs). */
async function client(cpu: number | undefined, server: Server, w: FlowWorkload, seconds: number): Promise<ClientRun> {
  const s0 = await server.cpu();
  const q0 = ksoftirqdSeconds(cpu);
  const run = await clientOnly(cpu, server.port, w, seconds);
  const q1 = ksoftirqdSeconds(cpu);
  const s1 = await server.cpu();
  return { ...run, cpu: run.cpu + (s1 - s0) + (q1 - q0) };
}

export function clientOnly(cpu: number | undefined, port: number, w: FlowWorkload, seconds: number): Promise<ClientRun> {
  const spec = WORKLOADS[w];
  const args = spec.args[0] === 'stream' ? ['stream', String(port), String(seconds)]
    : [spec.args[0]!, String(port), String(seconds), spec.args[1]!];
  const [cmd, a] = pinned(cpu, tcpload(), args);
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, a, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => p.kill('SIGKILL'), (seconds + 10) * 1000);
    p.once('exit', (code) => {
      clearTimeout(timer);
      const m = /done (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out);
      if (code !== 0 || !m) {
        reject(new Error(`tcpload ${args.join(' ')}: exit ${code}: ${err.trim()}`));
        return;
      }
      resolve({ ops: Number(m[1]), bytes: Number(m[2]), seconds: Number(m[3]) / 1e9, errors: Number(m[4]),
        cpu: Number(m[5]) / 1e9, connections: Number(m[6]) });
    });
  });
}

function usPerOp(r: ClientRun): string {
  return ((r.cpu * 1e6) / Math.max(1, r.ops)).toFixed(2);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
}

export async function runFlowsBench(o: FlowsBenchOptions = {}): Promise<FlowsBenchResult> {
  const durationMs = o.durationMs ?? 2000;
  const repeat = o.repeat ?? 3;
  const log = o.log ?? (() => {});
  const seconds = durationMs / 1000;
  const workloads = Object.keys(WORKLOADS) as FlowWorkload[];
  const rows: FlowsRow[] = workloads.map((workload) => ({ workload, none: [], vigil: [], vigilCpu: [], records: [], lost: [] }));
  const placement = o.workloadCpu === undefined ? 'unpinned'
    : `server and client on CPU ${o.workloadCpu}, Vigil (this process) on CPU ${o.tracerCpu ?? '?'}`;
  const budget = Math.ceil(workloads.length * repeat * 2 * (seconds + 3) + 60);
  const server = await startServer(o.workloadCpu, budget);
  try {
    const { CHURN_RING, FlowPipeline } = await import('../src/network/flow-pipeline.js');
    // Warm-up: page in the binaries and the server's thread stacks.
    await client(o.workloadCpu, server, 'rr1', 0.3);
    for (let r = 0; r < repeat; r++) {
      for (const row of rows) {
        const run = await client(o.workloadCpu, server, row.workload, seconds);
        row.none.push(run);
        log(`flows: ${row.workload} no agent: ${rate(run.ops / run.seconds)}/s, ${usPerOp(run)} µs CPU/op`);
      }
      let records = 0;
      let lost = 0;
      let pipeline;
      try {
        pipeline = await FlowPipeline.start({ onFlow: () => { records++; }, onLost: (n) => { lost += n; }, ring: CHURN_RING });
      } catch (e) {
        return { rows, durationMs, repeat, placement, error: `the flow pipeline did not start: ${(e as Error).message}` };
      }
      try {
        for (const row of rows) {
          const r0 = records;
          const l0 = lost;
          const c0 = process.cpuUsage();
          const t0 = process.hrtime.bigint();
          const run = await client(o.workloadCpu, server, row.workload, seconds);
          pipeline.drain();
          const wall = Number(process.hrtime.bigint() - t0) / 1e9;
          const cpu = process.cpuUsage(c0);
          row.vigil.push(run);
          row.vigilCpu.push(((cpu.user + cpu.system) / 1e6 / wall) * 100);
          row.records.push(records - r0);
          row.lost.push(lost - l0);
          log(`flows: ${row.workload} with Vigil: ${rate(run.ops / run.seconds)}/s, ${usPerOp(run)} µs CPU/op, ` +
            `${records - r0} records, ` +
            `lost ${lost - l0}, tracer CPU ${percent(row.vigilCpu.at(-1)!)}`);
        }
      } finally {
        pipeline.close();
      }
    }
  } catch (e) {
    return { rows, durationMs, repeat, placement, error: (e as Error).message };
  } finally {
    server.proc.kill('SIGKILL');
  }
  return { rows, durationMs, repeat, placement };
}

export function flowsBenchReport(res: FlowsBenchResult): string {
  const out: string[] = ['## Flow tracking overhead on loopback TCP', ''];
  out.push(`Workload: \`bench/.output/tcpload\` against its own server on 127.0.0.1 (${res.placement}); ` +
    `${res.durationMs} ms per run, ${res.repeat} runs of each, alternating blocks of runs without an agent and ` +
    'with Vigil\'s flow pipeline (FlowPipeline: BPF on every TCP state change, cgroup_skb on the cgroup v2 root ' +
    'for UDP/DNS, the process sensor, flow records for every connection) started in this process. ' +
    'Medians. *CPU per op* is the workload\'s CPU time (client and server processes, getrusage, which includes ' +
    'the loopback softirq work done in their system calls, plus ksoftirqd of their CPU) per request, connection ' +
    'or 64 KiB write: the ' +
    'BPF programs run inside it, so it carries the kernel-side cost and, unlike the rate, does not move with ' +
    'other work on the machine. *Vigil CPU* is the user space (decode, process cache, records), in % of one core. ' +
    'crr closes with RST (SO_LINGER 0) so that TIME_WAIT does not exhaust ports.', '');
  if (res.error) out.push(`**Not complete**: ${res.error}`, '');
  const rows = res.rows.filter((r) => r.none.length && r.vigil.length).map((r) => {
    const w = WORKLOADS[r.workload];
    const per = (runs: ClientRun[]): number => median(runs.map((x) => (w.unit === 'bytes' ? x.bytes : x.ops) / x.seconds));
    const cpuPer = (runs: ClientRun[]): number => median(runs.map((x) => (x.cpu * 1e6) / Math.max(1, x.ops)));
    const none = per(r.none);
    const vigil = per(r.vigil);
    const c0 = cpuPer(r.none);
    const c1 = cpuPer(r.vigil);
    const fmt = (v: number): string => (w.unit === 'bytes' ? `${(v / 2 ** 30).toFixed(2)} GiB/s` : `${rate(v)}/s`);
    const recs = median(r.records.map((n, i) => n / (r.vigil[i]?.seconds ?? 1)));
    return [w.label, fmt(none), fmt(vigil), `${c0.toFixed(2)} µs`, `${c1.toFixed(2)} µs`,
      `${c1 >= c0 ? '+' : ''}${(((c1 - c0) / c0) * 100).toFixed(1)}%`,
      percent(median(r.vigilCpu)), `${rate(recs)}/s`, r.lost.map(count).join(' / ')];
  });
  out.push(markdownTable([
    { title: 'workload', align: 'left' }, { title: 'rate, no agent' }, { title: 'rate, Vigil' },
    { title: 'CPU per op, no agent' }, { title: 'CPU per op, Vigil' }, { title: 'CPU change' },
    { title: 'Vigil CPU' }, { title: 'flow records' }, { title: 'lost (each run)' },
  ], rows), '');
  return out.join('\n');
}

/** Whether the load generator is built (make fixtures). */
export function haveTcpload(): boolean {
  return spawnSync('test', ['-x', tcpload()]).status === 0;
}
