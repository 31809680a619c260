// Peers measured in the same run as Vigil, on the same producer:
//  - consumers of the same records: the libbpf C consumer (bench/consumer.c,
//    same object and ring buffer) and bpftrace printf (its own program, perf
//    buffer, text output), each pinned to the consumer CPU;
//  - producer-side cost: how fast the load generator's getppid loop runs with
//    each tracer attached (bpftrace count(), libbpf-tools syscount, strace).
// Every wait is bounded; every process started here is ended here.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ensureTracefs } from '../src/bpf/index.js';
import { repoPath } from '../src/util/paths.js';
import { Loadgen, type LoadgenReport } from './loadgen.js';
import { runqueueWaitNs } from './ringbuf.js';

export interface PeerRun {
  name: string;
  /** Records the producer emitted (or tried to). */
  produced: number;
  /** Records that reached the consumer's code. */
  delivered: number;
  lost: number;
  /** From release of the producer to the last record delivered. */
  seconds: number;
  /** The consumer process's CPU time over `seconds`, in seconds. */
  cpuSeconds: number;
  /** Its main thread's time runnable but waiting for the CPU (other load on the consumer core). */
  waitedMs: number;
  loadgen: LoadgenReport;
  /** Anything odd the peer reported (sequence gaps, disorder, lines it could not parse). */
  notes: string[];
}

export interface PeerOptions {
  /** Target records/s; 0 = unpaced. */
  rate: number;
  recordsPerCall: number;
  durationMs: number;
  ringBytes: number;
  wakeupBytes: number;
  producerCpu?: number;
  consumerCpu?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether a command is on PATH (peers that are missing are reported, not failed). */
export function haveCommand(cmd: string): boolean {
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':');
  return dirs.some((d) => existsSync(`${d}/${cmd}`));
}

/** A helper process whose output we watch; always ended by stop()/kill(). */
export class Proc {
  out = '';
  err = '';
  readonly closed: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (s: string) => { this.out += s; });
    child.stderr?.on('data', (s: string) => { this.err += s; });
    this.closed = new Promise((resolve) => {
      child.on('close', (code) => resolve(code));
      child.on('error', () => resolve(null));
    });
  }

  /** `stdout`: a file descriptor to write to (a file, /dev/null) instead of a pipe we read. */
  static start(cmd: string, args: string[], cpu: number | undefined, env?: NodeJS.ProcessEnv,
    stdout?: number): Proc {
    const [file, argv] = cpu === undefined ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]];
    return new Proc(spawn(file, argv, { stdio: ['ignore', stdout ?? 'pipe', 'pipe'], env: { ...process.env, ...env } }));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits (bounded) until `ready()` holds. */
  async until(what: string, ready: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!ready()) {
      if (!this.running()) throw new Error(`${what}: exited early: ${this.err.trim() || this.out.trim()}`);
      if (performance.now() > deadline) throw new Error(`${what}: not ready within ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  /** CPU time (user + system) so far, from /proc (clock-tick resolution). */
  cpuSeconds(): number {
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return NaN;
    }
  }

  /** Signals it and waits (bounded) for it to exit; SIGKILL after the bound. */
  async stop(signal: NodeJS.Signals, timeoutMs = 10_000): Promise<number | null> {
    if (this.running()) this.child.kill(signal);
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      return await this.closed;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.running()) this.child.kill('SIGKILL');
  }
}

/** The libbpf C consumer on the same object, ring size and wakeup threshold. */
export async function runCConsumer(opts: PeerOptions): Promise<PeerRun> {
  const bin = repoPath('bench', '.output', 'consumer');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`make fixtures\``);
  ensureTracefs();
  const loadgen = await Loadgen.spawn({ callRate: opts.rate / opts.recordsPerCall, maxCalls: 1_000_000_000,
    durationMs: opts.durationMs, cpu: opts.producerCpu });
  const consumer = Proc.start(bin, ['--pid', String(loadgen.pid), '--records-per-call', String(opts.recordsPerCall),
    '--ring-bytes', String(opts.ringBytes), '--wakeup-bytes', String(opts.wakeupBytes),
    ...(opts.consumerCpu === undefined ? [] : ['--cpu', String(opts.consumerCpu)])], undefined);
  try {
    await consumer.until('consumer', () => consumer.out.includes('ready\n'));
    const wait0 = runqueueWaitNs(consumer.pid);
    const t0 = process.hrtime.bigint();
    loadgen.start();
    const report = await loadgen.finished();
    const waitedMs = (runqueueWaitNs(consumer.pid) - wait0) / 1e6;
    const code = await consumer.stop('SIGUSR1');
    const m = /decoded=(\d+) lost=(\d+) produced=(\d+) calls_seen=(\d+) seq_missing=(\d+) disorder=(\d+) bad=(\d+) polls=(\d+) done_ns=(\d+) cpu_ns=(\d+)/
      .exec(consumer.out);
    if (code !== 0 || !m) throw new Error(`consumer failed (${code}): ${consumer.err.trim()}`);
    const n = m.slice(1).map(Number);
    const [decoded, lost, produced, , seqMissing, disorder, bad, , doneNs, cpuNs] = n as [number, number, number,
      number, number, number, number, number, number, number];
    const notes: string[] = [];
    if (seqMissing !== lost) notes.push(`seq missing ${seqMissing} != lost ${lost}`);
    if (disorder || bad) notes.push(`disorder ${disorder}, bad ${bad}`);
    return { name: 'libbpf C', produced, delivered: decoded, lost, seconds: Number(BigInt(doneNs) - t0) / 1e9,
      cpuSeconds: cpuNs / 1e9, waitedMs, loadgen: report, notes };
  } finally {
    consumer.kill();
    loadgen.kill();
  }
}

/**
 * bpftrace, one printf per record (unrolled records-per-call times, as the
 * BPF producer loops), written to a file in /dev/shm. Delivered = lines
 * printed; bpftrace's own "Lost N events" lines give its loss. Its perf
 * buffer gets as many bytes per CPU as Vigil's ring has in total.
 */
export async function runBpftracePrintf(opts: PeerOptions): Promise<PeerRun> {
  ensureTracefs();
  const loadgen = await Loadgen.spawn({ callRate: opts.rate / opts.recordsPerCall, maxCalls: 1_000_000_000,
    durationMs: opts.durationMs, cpu: opts.producerCpu });
  const outFile = `/dev/shm/vigil-bench-bpftrace-${process.pid}.out`;
  const prog = `tracepoint:syscalls:sys_enter_getppid /pid == ${loadgen.pid}/ ` +
    `{ unroll(${opts.recordsPerCall}) { printf("%d %llu %d\\n", cpu, nsecs, pid); } }`;
  const pages = Math.max(1, Math.floor(opts.ringBytes / 4096));
  const bt = Proc.start('bpftrace', ['-o', outFile, '-e', prog], opts.consumerCpu,
    { BPFTRACE_PERF_RB_PAGES: String(pages) });
  const size = (): number => { try { return statSync(outFile).size; } catch { return 0; } };
  try {
    await bt.until('bpftrace', () => size() > 0 && readFileSync(outFile, 'utf8').includes('Attaching'), 20_000);
    const cpu0 = bt.cpuSeconds();
    const wait0 = runqueueWaitNs(bt.pid);
    const t0 = performance.now();
    loadgen.start();
    const report = await loadgen.finished();
    // bpftrace drops what is still buffered when it exits: wait until its output stops growing.
    let last = size();
    let lastGrowth = performance.now();
    const deadline = lastGrowth + 10_000;
    while (performance.now() < deadline && performance.now() - lastGrowth < 500) {
      await sleep(20);
      const s = size();
      if (s !== last) {
        last = s;
        lastGrowth = performance.now();
      }
    }
    const cpu = bt.cpuSeconds() - cpu0;
    const waitedMs = (runqueueWaitNs(bt.pid) - wait0) / 1e6;
    const seconds = (lastGrowth - t0) / 1000;
    await bt.stop('SIGINT');
    let delivered = 0;
    let lost = 0;
    let other = 0;
    for (const line of readFileSync(outFile, 'utf8').split('\n')) {
      if (/^\d+ -?\d+ \d+$/.test(line)) delivered++;
      else {
        const m = /^Lost (\d+) events/.exec(line);
        if (m) lost += Number(m[1]);
        else if (line && !line.startsWith('Attaching')) other++;
      }
    }
    const produced = report.calls * opts.recordsPerCall;
    const notes: string[] = [];
    if (other) notes.push(`${other} unexpected output lines`);
    if (delivered + lost !== produced) notes.push(`delivered + lost = ${delivered + lost} of ${produced} produced`);
    return { name: 'bpftrace printf', produced, delivered, lost, seconds, cpuSeconds: cpu, waitedMs, loadgen: report,
      notes };
  } finally {
    bt.kill();
    loadgen.kill();
    rmSync(outFile, { force: true });
  }
}

export type ProducerTracer = 'bpftrace count()' | 'syscount (libbpf-tools)' | 'strace';

export interface ProducerCost {
  tracer: ProducerTracer;
  loadgen: LoadgenReport;
  /** What the tracer itself reported, when it reports a count. */
  tracerCount?: number;
}

/** The load generator at full speed with a peer tracer attached to it. */
export async function runProducerCost(tracer: ProducerTracer, opts: { durationMs: number; producerCpu?: number;
  consumerCpu?: number }): Promise<ProducerCost> {
  ensureTracefs();
  const loadgen = await Loadgen.spawn({ callRate: 0, maxCalls: 1_000_000_000, durationMs: opts.durationMs,
    cpu: opts.producerCpu });
  const pid = String(loadgen.pid);
  let p: Proc;
  let ready: () => boolean;
  if (tracer === 'bpftrace count()') {
    p = Proc.start('bpftrace', ['-e', `tracepoint:syscalls:sys_enter_getppid /pid == ${pid}/ { @calls = count(); }`],
      opts.consumerCpu);
    ready = () => p.out.includes('Attaching');
  } else if (tracer === 'syscount (libbpf-tools)') {
    // stdbuf: its banner would sit in a pipe buffer until exit otherwise.
    p = Proc.start('stdbuf', ['-oL', 'syscount', '-p', pid], opts.consumerCpu);
    ready = () => p.out.includes('Tracing');
  } else {
    p = Proc.start('strace', ['-e', 'trace=getppid', '-o', '/dev/null', '-p', pid], opts.consumerCpu);
    ready = () => p.err.includes('attached');
  }
  try {
    await p.until(tracer, ready, 20_000);
    loadgen.start();
    const report = await loadgen.finished();
    await p.stop('SIGINT');
    let tracerCount: number | undefined;
    const m = tracer === 'bpftrace count()' ? /@calls: (\d+)/.exec(p.out)
      : tracer === 'syscount (libbpf-tools)' ? /getppid\s+(\d+)/.exec(p.out) : null;
    if (m) tracerCount = Number(m[1]);
    else if (tracer !== 'strace') throw new Error(`${tracer}: printed no count: ${p.out.trim()} ${p.err.trim()}`);
    return { tracer, loadgen: report, tracerCount };
  } finally {
    p.kill();
    loadgen.kill();
  }
}

/** The load generator alone: the untraced baseline. */
export async function runUntraced(opts: { durationMs: number; producerCpu?: number }): Promise<LoadgenReport> {
  const loadgen = await Loadgen.spawn({ callRate: 0, maxCalls: 1_000_000_000, durationMs: opts.durationMs,
    cpu: opts.producerCpu });
  try {
    loadgen.start();
    return await loadgen.finished();
  } finally {
    loadgen.kill();
  }
}
