// The tracing-overhead benchmarks' machinery: a C workload (bench/openstorm.c
// or bench/execstorm.c) runs a bounded loop pinned to the workload CPU while
// one tracer runs on the other CPU; the workload times itself, the tracer's
// output is counted afterwards.
//
// One run: start the workload, held before its loop (so the tracer can be told
// its pid); start the tracer and wait until it says it is attached; release
// the loop and wait for its report; wait until the tracer's output stops
// growing (it may lag behind the loop); stop it with SIGINT; count the
// workload's events in its output. Every wait is bounded; every process
// started here is ended here, and every file made here is removed.
import {
  closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, rmSync, statSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { ensureTracefs } from '../src/bpf/index.js';
import { repoPath } from '../src/util/paths.js';
import { Proc } from './peers.js';

export type StormKind = 'open' | 'exec';

export interface StormOptions {
  kind: StormKind;
  /** Upper bounds of the loop: iterations and time, whichever comes first. */
  count: number;
  durationMs: number;
  /** The workload's CPU (execstorm's children inherit it). */
  cpu?: number;
  /** open: the file opened and closed. */
  path?: string;
  /** open: opens per second, paced in 1 ms bursts; 0 or absent: unpaced. */
  rate?: number;
  /** exec: the program spawned (default /bin/true). */
  program?: string;
}

/** What the loop itself measured. */
export interface StormReport {
  /** Opens made (open) or spawns that exited 0 (exec). */
  iterations: number;
  /** Wall time of the loop. */
  elapsedNs: number;
  nsPerIter: number;
  /**
   * CPU time of the loop (with its reaped children): what the tracer costs
   * the traced process, in its context, without the time it waited while
   * unrelated work had its CPU.
   */
  cpuNs: number;
  cpuNsPerIter: number;
  /**
   * The median over slices of the loop (a few ms each) of CPU time per
   * iteration: steadier than the mean on a machine whose speed jumps for
   * short spells. cpuNsPerIter when no slice closed.
   */
  sliceNsPerIter: number;
  slices: number;
  /** CPU the loop ended on. */
  cpu: number;
  /** The loop thread's runqueue delay: other work on the workload CPU (noise). */
  waitedNs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function stormPath(kind: StormKind): string {
  const p = repoPath('bench', '.output', kind === 'open' ? 'openstorm' : 'execstorm');
  if (!existsSync(p)) throw new Error(`${p} is missing: run \`make fixtures\``);
  return p;
}

/** A started workload, held before its loop until start(). */
export class Storm {
  private constructor(private readonly proc: Proc, readonly pid: number) {}

  static async spawn(o: StormOptions): Promise<Storm> {
    const args = ['--wait-signal', '--count', String(o.count), '--duration-ms', String(o.durationMs)];
    if (o.cpu !== undefined) args.push('--cpu', String(o.cpu));
    if (o.kind === 'open') {
      if (!o.path) throw new Error('open storm: a path is required');
      args.push('--path', o.path);
      if (o.rate) args.push('--rate', String(Math.round(o.rate)));
    } else if (o.program) {
      args.push('--program', o.program);
    }
    const p = Proc.start(stormPath(o.kind), args, undefined);
    try {
      await p.until(`${o.kind}storm`, () => /^ready \d+$/m.test(p.out), 5000);
    } catch (e) {
      p.kill();
      throw e;
    }
    return new Storm(p, Number(/^ready (\d+)$/m.exec(p.out)![1]));
  }

  start(): void {
    process.kill(this.pid, 'SIGUSR1');
  }

  /** Waits (asynchronously, bounded) for the loop's report. */
  async finished(timeoutMs: number): Promise<StormReport> {
    const timer = setTimeout(() => this.proc.kill(), timeoutMs);
    let code: number | null;
    try {
      code = await this.proc.closed;
    } finally {
      clearTimeout(timer);
    }
    const m = new RegExp('iterations=(\\d+) elapsed_ns=(\\d+) ns_per_iter=([\\d.]+) cpu_ns=(\\d+) cpu=(-?\\d+) ' +
      'waited_ns=(\\d+) slice_ns=([\\d.]+) slices=(\\d+)').exec(this.proc.out);
    if (code !== 0 || !m) {
      throw new Error(`storm ${this.pid} failed (exit ${code}): ${this.proc.err.trim() || this.proc.out.trim()}`);
    }
    const iterations = Number(m[1]);
    const cpuNsPerIter = Number(m[4]) / iterations;
    const slices = Number(m[8]);
    return { iterations, elapsedNs: Number(m[2]), nsPerIter: Number(m[3]), cpuNs: Number(m[4]), cpuNsPerIter,
      sliceNsPerIter: slices > 0 ? Number(m[7]) : cpuNsPerIter, slices, cpu: Number(m[5]), waitedNs: Number(m[6]) };
  }

  kill(): void {
    this.proc.kill();
  }
}

/** What a tracer is told about the workload it watches. */
export interface Target {
  pid: number;
  /** open storm: the file. */
  path?: string;
  /** exec storm: the program as the kernel resolves it (/bin/true -> /usr/bin/true). */
  binary?: string;
}

/** One tracer, run the way people run it. */
export interface Tracer {
  /** Row label. */
  name: string;
  /** The command line as the report shows it. */
  shown: string;
  /** argv (argv[0] on PATH or absolute); `out` is the output file for tracers that take one (strace -o). */
  argv(t: Target, out: string): string[];
  /** stdout to a file counted afterwards, to /dev/null (not counted), or not redirected (it writes `out` itself). */
  sink: 'file' | 'null' | 'self';
  env?: NodeJS.ProcessEnv;
  /** True once the tracer is attached (polled every 10 ms). */
  ready(p: Proc, out: string): boolean;
  /** The workload's events in the output. */
  count?(out: string, t: Target): number;
  /** Events the tracer said it lost (its own report). */
  lost?(p: Proc, out: string): number;
}

/** One BPF program of the tracer: cumulative stats (kernel.bpf_stats_enabled) at one moment. */
export interface ProgStat {
  id: number;
  /** From bpftool, while the tracer still holds it. */
  name?: string;
  runTimeNs: number;
  runCnt: number;
}

export interface TracedRun {
  tracer: string;
  storm: StormReport;
  /** Workload events found in the tracer's output (undefined: output not counted). */
  received?: number;
  /** Events the tracer reported lost. */
  lost?: number;
  /** The tracer's CPU time from release of the loop until its output stopped growing. */
  tracerCpuSeconds?: number;
  /** Per-program deltas over the loop, when BPF stats were on. */
  progs?: ProgStat[];
  /** The same for RunOptions.companion, attached to the same loop. */
  companionProgs?: ProgStat[];
  notes: string[];
  /** What the tracer printed on stderr (its own account of what it did). */
  stderr?: string;
  /** RunOptions.kernelCounts: the tracer's own BPF counters just before it was stopped. */
  kernel?: KernelCounts;
}

export interface RunOptions {
  storm: StormOptions;
  tracerCpu?: number;
  /** Collect per-program run counts and times (needs kernel.bpf_stats_enabled = 1). */
  progStats?: boolean;
  /**
   * How long the tracer's output must stay the same size before it is stopped (default 300 ms).
   * Tests that count every event wait longer: on a loaded host a reader still behind can be
   * off its CPU that long, and stopping it then drops what it had not written yet.
   */
  quietMs?: number;
  /**
   * A second tracer attached to the same loop at the same time (its output discarded), for
   * progStats of both over one loop: the two programs' times are then paired run by run.
   */
  companion?: Tracer;
  /**
   * Read the tracer's BPF counters (kernelCounts) just before stopping it: where a shortfall
   * was lost, in the kernel or after it.
   */
  kernelCounts?: boolean;
  /**
   * The tracer held (SIGSTOP) from just before the loop starts until it ends, then continued and
   * stopped (SIGINT) at once: it stops with the whole storm still to read, format and write.
   */
  behind?: boolean;
}

/** Whether the process is blocked in epoll_wait: a libbpf-tools tool in its perf-buffer poll loop, i.e. attached. */
export function inEpollWait(pid: number): boolean {
  try {
    const w = readFileSync(`/proc/${pid}/wchan`, 'utf8');
    return w === 'do_epoll_wait' || w === 'ep_poll';
  } catch {
    return false;
  }
}

/** The first bytes of a file ('' if it does not exist yet). */
export function head(file: string, bytes = 4096): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const buf = Buffer.alloc(bytes);
    return buf.toString('utf8', 0, readSync(fd, buf, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * Waits until `file` has not grown for quietMs (polled every 25 ms; bounded by boundMs): a
 * tracer may still be writing what it received. Returns when it last grew (performance.now()).
 */
export async function untilQuiet(file: string, quietMs: number, boundMs: number): Promise<number> {
  let last = fileSize(file);
  let grew = performance.now();
  const deadline = grew + boundMs;
  while (performance.now() < deadline && performance.now() - grew < quietMs) {
    await sleep(25);
    const s = fileSize(file);
    if (s !== last) {
      last = s;
      grew = performance.now();
    }
  }
  return grew;
}

/**
 * Counts the lines of a file that contain `needle` ('' for any line) and, if given, pass
 * `accept` (called only for lines with the needle, so a cheap needle keeps a
 * large file fast). Streams it in chunks; lines are bytes up to '\n'.
 */
export function countLines(file: string, needle: string, accept?: (line: string) => boolean): number {
  const fd = openSync(file, 'r');
  const chunk = Buffer.alloc(16 << 20);
  const nl = 0x0a;
  const pattern = Buffer.from(needle);
  let carry = Buffer.alloc(0);
  let matched = 0;
  const line = (b: Buffer): void => {
    if (b.indexOf(pattern) >= 0 && (!accept || accept(b.toString('utf8')))) matched++;
  };
  try {
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      const buf = carry.length ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      let start = 0;
      for (let i = buf.indexOf(nl, start); i >= 0; i = buf.indexOf(nl, start)) {
        line(buf.subarray(start, i));
        start = i + 1;
      }
      carry = Buffer.from(buf.subarray(start));
    }
    if (carry.length) line(carry);
  } finally {
    closeSync(fd);
  }
  return matched;
}

/** Sums every "Lost N events" (bpftrace, libbpf-tools' perf buffer callbacks) in a text. */
export function lostLines(text: string): number {
  let n = 0;
  for (const m of text.matchAll(/Lost (\d+) events/g)) n += Number(m[1]);
  return n;
}

/** Run counts and times of the BPF programs a process holds, from /proc/<pid>/fdinfo. */
export function progStats(pid: number): ProgStat[] {
  const out: ProgStat[] = [];
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:bpf-prog') continue;
      const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      const field = (k: string): number => Number(new RegExp(`^${k}:\\s*(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
      const id = field('prog_id');
      if (!out.some((p) => p.id === id)) out.push({ id, runTimeNs: field('run_time_ns'), runCnt: field('run_cnt') });
    } catch {
      // The fd closed meanwhile.
    }
  }
  return out;
}

/** Program names by id, from bpftool (a nicety: ids are shown without it). */
function progNames(): Map<number, string> {
  const names = new Map<number, string>();
  try {
    const json = execFileSync('bpftool', ['-j', 'prog', 'show'],
      { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
    const list = JSON.parse(json) as { id: number; name?: string }[];
    for (const p of list) if (p.name) names.set(p.id, p.name);
  } catch {
    // Not installed, or it failed: ids only.
  }
  return names;
}

export function progDeltas(before: ProgStat[], after: ProgStat[]): ProgStat[] {
  const names = progNames();
  return after.map((a) => {
    const b = before.find((x) => x.id === a.id);
    return { id: a.id, name: names.get(a.id), runTimeNs: a.runTimeNs - (b?.runTimeNs ?? 0),
      runCnt: a.runCnt - (b?.runCnt ?? 0) };
  });
}

/**
 * A tracer's BPF counters at one moment, summed over CPUs and over every object it holds (observe
 * with the file sensor also runs the process sensor: its passed events are in `passed` too).
 */
export interface KernelCounts {
  /** vigil_filter_counts[0]: events its in-kernel filters passed. */
  passed: number;
  /** vigil_lost: records the ring could not take. */
  lost: number;
  /** Program runs the kernel skipped (another BPF program was running on that CPU). */
  recursionMisses: number;
  /** Program runs (kernel.bpf_stats_enabled only; NaN otherwise). */
  runCnt: number;
}

/** Sums a per-CPU array map's values at `index` (bpftool's JSON dump). */
function mapSum(id: number, index?: number): number {
  const json = execFileSync('bpftool', ['-j', 'map', 'dump', 'id', String(id)],
    { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  let n = 0;
  for (const e of JSON.parse(json) as { formatted?: { key: number; values: { value: number }[] } }[]) {
    if (!e.formatted || (index !== undefined && e.formatted.key !== index)) continue;
    for (const v of e.formatted.values) n += Number(v.value);
  }
  return n;
}

/** The counters of the BPF objects a process holds (from /proc/<pid>/fdinfo and bpftool). */
export function kernelCounts(pid: number): KernelCounts {
  const c: KernelCounts = { passed: 0, lost: 0, recursionMisses: 0, runCnt: 0 };
  const maps = new Set<number>();
  const progs = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let link: string;
    let info: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const field = (k: string): number => Number(new RegExp(`^${k}:\\s*(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
    if (link === 'anon_inode:bpf-map') maps.add(field('map_id'));
    if (link === 'anon_inode:bpf-prog' && !progs.has(field('prog_id'))) {
      progs.add(field('prog_id'));
      c.runCnt += field('run_cnt');
      c.recursionMisses += field('recursion_misses') || 0;
    }
  }
  if (readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() !== '1') c.runCnt = NaN;
  const shown = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'],
    { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] })) as { id: number; name?: string }[];
  for (const m of shown) {
    if (!maps.has(m.id)) continue;
    if (m.name === 'vigil_filter_co') c.passed += mapSum(m.id, 0);
    if (m.name === 'vigil_lost') c.lost += mapSum(m.id);
  }
  return c;
}

let runs = 0;

/** One bounded run of the workload under one tracer (or none). */
export async function runTraced(tracer: Tracer | undefined, o: RunOptions): Promise<TracedRun> {
  const tracefs = ensureTracefs();
  if (!tracefs.path) throw new Error(`tracefs: ${tracefs.reason}`);
  const storm = await Storm.spawn(o.storm);
  const out = `/dev/shm/vigil-bench-${process.pid}-${++runs}.out`;
  const stormTimeout = o.storm.durationMs + 30_000;
  let p: Proc | undefined;
  let q: Proc | undefined;
  try {
    if (!tracer) {
      storm.start();
      return { tracer: 'none', storm: await storm.finished(stormTimeout), notes: [] };
    }
    const target: Target = { pid: storm.pid, path: o.storm.path,
      binary: o.storm.kind === 'exec' ? realpathSync(o.storm.program ?? '/bin/true') : undefined };
    const fd = tracer.sink === 'file' ? openSync(out, 'w')
      : tracer.sink === 'null' ? openSync('/dev/null', 'w') : undefined;
    try {
      const [cmd, ...args] = tracer.argv(target, out);
      p = Proc.start(cmd!, args, o.tracerCpu, tracer.env, fd);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    const proc = p;
    await proc.until(tracer.name, () => tracer.ready(proc, out), 30_000);
    const other = o.companion;
    if (other) {
      const otherOut = `${out}.companion`;
      const fd = openSync(other.sink === 'file' ? otherOut : '/dev/null', 'w');
      try {
        const [cmd, ...args] = other.argv(target, otherOut);
        q = Proc.start(cmd!, args, o.tracerCpu, other.env, fd);
      } finally {
        closeSync(fd);
      }
      const companion = q;
      await companion.until(other.name, () => other.ready(companion, otherOut), 30_000);
    }
    const progs0 = o.progStats ? progStats(proc.pid) : [];
    const other0 = o.progStats && q ? progStats(q.pid) : [];
    const cpu0 = proc.cpuSeconds();
    if (o.behind) process.kill(proc.pid, 'SIGSTOP');
    storm.start();
    const report = await storm.finished(stormTimeout);
    if (o.behind) process.kill(proc.pid, 'SIGCONT');
    const progs = o.progStats ? progDeltas(progs0, progStats(proc.pid)) : undefined;
    const companionProgs = o.progStats && q ? progDeltas(other0, progStats(q.pid)) : undefined;
    // The tracer may still be writing what it received: wait until its output
    // has not grown for quietMs (bounded; the peers poll every 100 ms), then stop it.
    if (o.behind) {
      // Stopped at once: everything is still to be read.
    } else if (tracer.sink !== 'null') {
      await untilQuiet(out, o.quietMs ?? 300, 30_000);
    } else {
      await sleep(300);
    }
    const cpu = proc.cpuSeconds() - cpu0;
    let kernel: KernelCounts | undefined;
    try {
      kernel = o.kernelCounts ? kernelCounts(proc.pid) : undefined;
    } catch {
      // bpftool missing or failed: the run's counts stand without these.
    }
    const code = await proc.stop('SIGINT');
    const notes: string[] = [];
    if (code !== 0 && code !== null && code !== 130) notes.push(`${tracer.name} exited ${code}`);
    return {
      tracer: tracer.name,
      storm: report,
      received: tracer.sink !== 'null' && tracer.count ? tracer.count(out, target) : undefined,
      lost: tracer.lost?.(proc, out),
      tracerCpuSeconds: cpu,
      progs,
      companionProgs,
      notes,
      stderr: proc.err,
      kernel,
    };
  } finally {
    storm.kill();
    q?.kill();
    p?.kill();
    rmSync(out, { force: true });
    rmSync(`${out}.companion`, { force: true });
  }
}
