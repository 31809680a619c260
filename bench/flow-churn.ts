// Flow records at connection churn (issue 12): bench/.output/tcpload opening
// and closing connections on 127.0.0.1 as fast as it can (4 client threads,
// one request each, RST close) for a run of seconds, while one tracer writes
// a record per connection end to a file on tmpfs: Vigil's CLI (`vigil observe
// --sensors flow --output json`, every record or closes only) or tcplife
// (libbpf-tools), the tool that reports the same thing, one line per socket
// at its close.
//
// Made = connections (tcpload counts every connect that succeeded) x records
// per connection (on loopback both ends are traced: 2 sockets, and with opens
// a connect and an accept record more). A run waits until the tracer's output
// has stopped growing (it may lag the workload), stops it with SIGINT, and
// counts the workload's records in the file and the losses the tracer
// reported. The measure is the tracer's CPU time (user + system, from /proc)
// over the run and its catching up, per record and per connection: wall time
// is noisy on a shared machine, CPU time much less. Rows alternate (Vigil,
// then tcplife, again), so each round is a pair.
import { closeSync, openSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { repoPath } from '../src/util/paths.js';
import { clientOnly, startServer, type ClientRun } from './flows.js';
import { haveCommand, Proc } from './peers.js';
import { countLines, inEpollWait, lostLines, untilQuiet } from './storm.js';
import { medianOf } from './storm-report.js';
import { vigilLost } from './tracers.js';
import { count, markdownTable, rate } from './table.js';

interface ChurnTracer {
  name: string;
  shown: string;
  argv: string[];
  /** Records per loopback connection. */
  perConnection: number;
  needs?: string;
  ready(p: Proc): boolean;
  /** The workload's records in the output file. */
  count(file: string, port: number): number;
  lost(p: Proc, file: string): number;
}

export interface ChurnRun {
  client: ClientRun;
  made: number;
  received: number;
  lost: number;
  /** The tracer's CPU seconds from the workload's start until its output stopped growing. */
  cpu: number;
  /** Seconds from the workload's end until the tracer's output stopped growing. */
  lagSeconds: number;
}

export interface ChurnRow {
  tracer: string;
  shown: string;
  runs: ChurnRun[];
  error?: string;
}

export interface ChurnResult {
  rows: ChurnRow[];
  seconds: number;
  threads: number;
  placement: string;
  error?: string;
}

export interface ChurnOptions {
  seconds?: number;
  repeat?: number;
  threads?: number;
  workloadCpu?: number;
  tracerCpu?: number;
  log?: (msg: string) => void;
}

function vigilTracer(name: string, extra: string[], perConnection: number): ChurnTracer {
  const args = ['observe', '--sensors', 'flow', '--output', 'json', ...extra];
  return {
    name, shown: `vigil ${args.join(' ')} > FILE`, argv: [repoPath('bin', 'vigil'), ...args], perConnection,
    ready: (p) => p.err.includes('watching'),
    // "source_port":P, or "destination_port":P, (a field follows each).
    count: (file, port) => countLines(file, `_port":${port},`),
    lost: (p) => vigilLost(p.err),
  };
}

export function churnTracers(): ChurnTracer[] {
  return [
    // Rings for a whole run's records (176 bytes each): what the reader has not taken yet waits there.
    vigilTracer('Vigil, json, closes only', ['--tcp-flags', 'FIN', '--tcp-flags', 'RST', '--ring-buffer', '128m'], 2),
    vigilTracer('Vigil, json', ['--ring-buffer', '256m'], 4),
    {
      name: 'tcplife (libbpf-tools)', shown: 'tcplife > FILE', argv: ['tcplife'], perConnection: 2, needs: 'tcplife',
      ready: (p) => inEpollWait(p.pid),
      // PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB MS
      count: (file, port) => countLines(file, ` ${port} `, (l) => {
        const f = l.trim().split(/\s+/);
        return f[3] === String(port) || f[5] === String(port);
      }),
      // Its perf buffer's callback says "lost N events on CPU #C" on stderr.
      lost: (p) => lostLines(p.err.replace(/^lost (\d+) events/gim, 'Lost $1 events')),
    },
  ];
}

/** One bounded run: the tracer started and attached, the workload, the tracer's catching up, SIGINT. */
async function runOne(t: ChurnTracer, port: number, o: Required<Pick<ChurnOptions, 'seconds' | 'threads'>> & ChurnOptions,
  file: string): Promise<ChurnRun> {
  const fd = openSync(file, 'w');
  let p: Proc;
  try {
    p = Proc.start(t.argv[0]!, t.argv.slice(1), o.tracerCpu, undefined, fd);
  } finally {
    closeSync(fd);
  }
  try {
    await p.until(t.name, () => t.ready(p), 60_000);
    const cpu0 = p.cpuSeconds();
    const client = await clientOnly(o.workloadCpu, port, o.threads === 1 ? 'crr1' : 'crr4', o.seconds);
    // Until the output has not grown for 2 s (bounded: 5 minutes).
    const ended = performance.now();
    const grew = await untilQuiet(file, 2000, 300_000);
    const cpu = p.cpuSeconds() - cpu0;
    await p.stop('SIGINT', 60_000);
    return {
      client, made: client.connections * t.perConnection, received: t.count(file, port), lost: t.lost(p, file), cpu,
      lagSeconds: Math.max(0, (grew - ended) / 1000),
    };
  } finally {
    p.kill();
  }
}

export async function runChurnBench(o: ChurnOptions = {}): Promise<ChurnResult> {
  const seconds = o.seconds ?? 10;
  const repeat = o.repeat ?? 5;
  const threads = o.threads ?? 4;
  const log = o.log ?? (() => {});
  const tracers = churnTracers();
  const rows: ChurnRow[] = tracers.map((t) => ({ tracer: t.name, shown: t.shown, runs: [],
    error: t.needs && !haveCommand(t.needs) ? `${t.needs} is not installed` : undefined }));
  const placement = o.workloadCpu === undefined ? 'unpinned'
    : `server and client on CPU ${o.workloadCpu}, the tracer on CPU ${o.tracerCpu ?? '?'}`;
  const server = await startServer(o.workloadCpu, Math.ceil(repeat * tracers.length * (seconds + 330) + 60));
  const file = `/dev/shm/vigil-churn-${process.pid}.out`;
  try {
    for (let r = 0; r < repeat; r++) {
      for (const [i, t] of tracers.entries()) {
        const row = rows[i]!;
        if (row.error) continue;
        try {
          const run = await runOne(t, server.port, { ...o, seconds, threads }, file);
          row.runs.push(run);
          log(`flow churn, ${t.name}: ${count(run.client.connections)} connections ` +
            `(${rate(run.client.connections / run.client.seconds)}/s), made ${count(run.made)}, received ` +
            `${count(run.received)}, lost ${count(run.lost)}, CPU ${run.cpu.toFixed(2)} s ` +
            `(${((run.cpu * 1e6) / Math.max(1, run.received)).toFixed(2)} µs per record), caught up ${run.lagSeconds.toFixed(1)} s after`);
        } catch (e) {
          row.error = (e as Error).message.split('\n')[0];
          log(`flow churn, ${t.name}: ${row.error}`);
        } finally {
          rmSync(file, { force: true });
        }
      }
    }
  } finally {
    server.proc.kill('SIGKILL');
    rmSync(file, { force: true });
  }
  return { rows, seconds, threads, placement };
}

function spread(xs: readonly number[], digits: number): string {
  if (!xs.length) return '';
  const v = medianOf(xs).toFixed(digits);
  return xs.length > 1 ? `${v} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})` : v;
}

const perRecord = (r: ChurnRun): number => (r.cpu * 1e6) / Math.max(1, r.received);
const perConnection = (r: ChurnRun): number => (r.cpu * 1e6) / Math.max(1, r.client.connections);
/** Every record delivered: received + counted lost = made, and lost = 0. */
const lossless = (r: ChurnRun): boolean => r.lost === 0 && r.received === r.made;

export function churnBenchReport(res: ChurnResult): string {
  const out: string[] = ['## Flow records at connection churn, against tcplife', ''];
  out.push(`Workload: \`tcpload crr\` (${res.threads} client threads, a new connection per 64-byte request, RST close) ` +
    `against its own server on 127.0.0.1 for ${res.seconds} s per run (${res.placement}); one tracer at a time writing ` +
    'to a file on /dev/shm, waited for until its output stopped growing, then stopped with SIGINT. *Made*: ' +
    'connections (counted by tcpload) x records per connection (both ends of a loopback connection are traced: ' +
    'two closes, and for Vigil with opens a connect and an accept). *CPU*: the tracer process\'s user + system time ' +
    'from the workload\'s start until its output stopped growing, per record received and per connection; median ' +
    'over the runs with the range. *vs tcplife*: Vigil\'s CPU per connection over tcplife\'s in the same round ' +
    '(rows alternate), median and range.', '');
  if (res.error) out.push(`**Not complete**: ${res.error}`, '');
  const peer = res.rows.find((r) => r.tracer.startsWith('tcplife'));
  const table = res.rows.map((row) => {
    if (!row.runs.length) return [row.tracer, row.error ?? 'no runs', '', '', '', '', '', '', ''];
    const ratios = peer && peer !== row ? row.runs.flatMap((r, i) => {
      const q = peer.runs[i];
      return q ? [perConnection(r) / perConnection(q)] : [];
    }) : [];
    return [
      row.tracer,
      rate(medianOf(row.runs.map((r) => r.client.connections / r.client.seconds))) + '/s',
      row.runs.map((r) => count(r.made)).join(' / '),
      row.runs.map((r) => count(r.received)).join(' / '),
      row.runs.map((r) => count(r.lost)).join(' / '),
      `${row.runs.filter(lossless).length} of ${row.runs.length}`,
      spread(row.runs.map(perRecord), 2),
      spread(row.runs.map(perConnection), 1),
      ratios.length ? spread(ratios, 2) + '×' : '',
    ];
  });
  out.push(markdownTable([
    { title: 'tracer', align: 'left' }, { title: 'connections' }, { title: 'made (each run)' },
    { title: 'received' }, { title: 'lost (counted)' }, { title: 'every record' }, { title: 'CPU per record, µs' },
    { title: 'CPU per connection, µs' }, { title: 'vs tcplife' },
  ], table), '');
  const closes = res.rows[0];
  if (closes?.runs.length) {
    const met = closes.runs.every(lossless);
    out.push(`Goal (issue 12): flows at this churn for ${res.seconds} s, every record delivered (received + counted ` +
      `lost = made, lost = 0): **${met ? 'met' : 'not met'}** by ${closes.tracer} ` +
      `(${closes.runs.filter(lossless).length} of ${closes.runs.length} runs).`, '');
  }
  out.push('Commands: ' + res.rows.map((r) => `\`${r.shown}\``).join(', ') + '.', '');
  return out.join('\n');
}
