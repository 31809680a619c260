// Profiler overhead: the same CPU-bound work (bench/cpuwork.c, one thread per
// CPU) timed with nothing attached, with `vigil profile --continuous` (1 s
// intervals: draining, symbolising and writing pprof all happen during the
// work) and with `perf record -F <same> -a -g` writing to a temporary file,
// at 19, 99 and 999 Hz. Runs are interleaved (baseline, Vigil, perf, again)
// so drift in the machine's load hits all alike; each cell is the median.
// Also the profilers' own CPU time and memory over the work.
//
// Run alone: node dist/bench/profile.js [--rates 19,99,999] [--work-ms N] [--repeat N] [--no-peers]
// From bench/run.ts: `profileBenchReport(await runProfileBench(opts))`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { onlineCpus } from '../src/bpf/index.js';
import { repoPath } from '../src/util/paths.js';
import { count, markdownTable, ms } from './table.js';

export interface ProfileBenchOptions {
  rates?: number[];
  /** Baseline duration of one workload run (ms); default 1500. */
  workMs?: number;
  /** Runs per cell; default 3. */
  repeat?: number;
  /** Compare with perf record (default true, when perf is installed). */
  peers?: boolean;
  log?: (msg: string) => void;
}

interface ToolUsage {
  /** CPU time (user + system) of the profiler's process during the work, ms. */
  cpuMs: number;
  /** Resident memory at the end of the work, and the peak (VmHWM). */
  rssBytes: number;
  peakRssBytes: number;
}

export interface ProfileBenchCell {
  tool: 'none' | 'vigil' | 'perf';
  rate: number;
  /** Workload wall time of each run, ms. */
  runsMs: number[];
  medianMs: number;
  /** Workload CPU time of each run, ms, and the median. */
  cpuRunsMs: number[];
  medianCpuMs: number;
  usage?: ToolUsage;
  /** Vigil: samples in the profiles written; perf: bytes of perf.data. */
  samples?: number;
  dataBytes?: number;
  /** perf: wall time of `perf script` over each run's perf.data (symbolising what perf record stored), ms. */
  scriptMs?: number[];
  error?: string;
}

export interface ProfileBenchResult {
  cpus: number;
  iterations: number;
  workMs: number;
  repeat: number;
  baseline: ProfileBenchCell;
  cells: ProfileBenchCell[];
  loadAverage: number;
  seconds: number;
}

const CPUWORK = () => repoPath('bench', '.output', 'cpuwork');
const VIGIL = () => repoPath('bin', 'vigil');

interface WorkRun {
  wallMs: number;
  /** CPU time of the workload's own threads (sampling interrupts are charged to them). */
  cpuMs: number;
}

/**
 * [command, args] that run on every online CPU: bench/run.ts pins itself (and so
 * its children) to one CPU, and a system-wide profiler must see all of them busy.
 */
function everyCpu(cmd: string, args: string[]): [string, string[]] {
  return ['taskset', ['-c', onlineCpus().join(','), cmd, ...args]];
}

function runWork(threads: number, iterations: number): WorkRun {
  const r = spawnSync(...everyCpu(CPUWORK(), [String(threads), String(iterations)]),
    { encoding: 'utf8', timeout: 120_000 });
  const wall = /elapsed_ns (\d+)/.exec(r.stdout ?? '');
  const cpu = /cpu_ns (\d+)/.exec(r.stdout ?? '');
  if (r.status !== 0 || !wall || !cpu) throw new Error(`cpuwork failed (${r.status}): ${r.stderr}`);
  return { wallMs: Number(wall[1]) / 1e6, cpuMs: Number(cpu[1]) / 1e6 };
}

/** CPU time of every live thread of pid, ms (schedstat: nanoseconds, not clock ticks). */
function procCpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // thread gone
    }
  }
  return ns / 1e6;
}

function procRss(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

function waitStderr(child: ChildProcess, re: RegExp, timeoutMs: number, seen: { text: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no "${re.source}" within ${timeoutMs} ms: ${seen.text.slice(-300)}`)),
      timeoutMs);
    const check = (): void => {
      if (re.test(seen.text)) {
        clearTimeout(t);
        child.stderr?.off('data', check);
        resolve();
      }
    };
    child.stderr?.on('data', check);
    child.once('exit', () => {
      clearTimeout(t);
      reject(new Error(`exited early: ${seen.text.slice(-300)}`));
    });
    check();
  });
}

/** One workload run under a profiler started by `start`; the profiler is stopped with SIGINT afterwards. */
async function underTool(start: () => ChildProcess, ready: (c: ChildProcess, seen: { text: string }) => Promise<void>,
  threads: number, iterations: number): Promise<{ work: WorkRun; usage: ToolUsage; stderr: string }> {
  const seen = { text: '' };
  const child = start();
  child.stderr?.on('data', (d: Buffer) => { seen.text += d.toString(); });
  try {
    await ready(child, seen);
    const pid = child.pid!;
    const cpu0 = procCpuMs(pid);
    const work = runWork(threads, iterations);
    const cpu1 = procCpuMs(pid);
    const mem = procRss(pid);
    child.kill('SIGINT');
    await waitExit(child, 30_000);
    return { work, usage: { cpuMs: cpu1 - cpu0, rssBytes: mem.rss, peakRssBytes: mem.peak }, stderr: seen.text };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await waitExit(child, 5_000);
    }
  }
}

function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export async function runProfileBench(opts: ProfileBenchOptions = {}): Promise<ProfileBenchResult> {
  const started = Date.now();
  const log = opts.log ?? (() => undefined);
  const rates = opts.rates ?? [19, 99, 999];
  const workMs = opts.workMs ?? 1500;
  const repeat = opts.repeat ?? 3;
  const peers = (opts.peers ?? true) && haveCommand('perf');
  if (!existsSync(CPUWORK())) throw new Error(`${CPUWORK()} is not built (make fixtures)`);
  const cpus = onlineCpus().length;
  const loadAverage = os.loadavg()[0] ?? 0;

  // Calibrate: iterations for workMs of wall time with every CPU busy.
  const probeIters = 5000;
  runWork(cpus, probeIters); // warm-up
  const probeMs = runWork(cpus, probeIters).wallMs;
  const iterations = Math.max(1000, Math.round((probeIters * workMs) / probeMs));
  log(`profile bench: ${cpus} threads x ${iterations} iterations (~${workMs} ms)`);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-bench-profile-'));
  const baselineRuns: WorkRun[] = [];
  const cells: ProfileBenchCell[] = [];
  try {
    for (const rate of rates) {
      const vigil: ProfileBenchCell = { tool: 'vigil', rate, runsMs: [], medianMs: NaN, cpuRunsMs: [], medianCpuMs: NaN,
        samples: 0 };
      const perf: ProfileBenchCell = { tool: 'perf', rate, runsMs: [], medianMs: NaN, cpuRunsMs: [], medianCpuMs: NaN,
        dataBytes: 0, scriptMs: [] };
      const vigilUsage: ToolUsage[] = [];
      const perfUsage: ToolUsage[] = [];
      for (let i = 0; i < repeat; i++) {
        baselineRuns.push(runWork(cpus, iterations));
        try {
          const out = path.join(dir, `vigil-${rate}-${i}`);
          const r = await underTool(
            () => spawn(...everyCpu(VIGIL(), ['profile', '--continuous', '--interval', '1s', '--dir', out,
              '--max-files', '5', '--frequency', String(rate)]), { stdio: ['ignore', 'ignore', 'pipe'] }),
            // Steady state: after the first interval was written (cold symbol tables loaded, kallsyms read).
            (c, seen) => waitStderr(c, /samples in/, 60_000, seen), cpus, iterations);
          vigil.runsMs.push(r.work.wallMs);
          vigil.cpuRunsMs.push(r.work.cpuMs);
          vigilUsage.push(r.usage);
          vigil.samples! += [...r.stderr.matchAll(/(\d+) samples in/g)].slice(1).reduce((a, m) => a + Number(m[1]), 0);
          log(`vigil ${rate} Hz: ${ms(r.work.wallMs)} (cpu ${ms(r.work.cpuMs)}), agent cpu ${ms(r.usage.cpuMs)}, rss ${(r.usage.rssBytes / 2 ** 20).toFixed(0)} MiB`);
        } catch (e) {
          vigil.error = (e as Error).message.split('\n')[0];
          log(`vigil ${rate} Hz: ${vigil.error}`);
        }
        if (!peers) continue;
        try {
          const data = path.join(dir, `perf-${rate}-${i}.data`);
          const r = await underTool(
            () => spawn(...everyCpu('perf', ['record', '-F', String(rate), '-a', '-g', '-q', '-o', data, '--',
              'sleep', '600']), { stdio: ['ignore', 'ignore', 'pipe'] }),
            // perf prints nothing when it is ready: give it the time its setup takes here (mmap of every CPU's buffer).
            async () => { await new Promise((r2) => setTimeout(r2, 700)); }, cpus, iterations);
          perf.runsMs.push(r.work.wallMs);
          perf.cpuRunsMs.push(r.work.cpuMs);
          perfUsage.push(r.usage);
          try {
            perf.dataBytes! += statSync(data).size;
            // perf defers symbolisation to `perf script`/`perf report`; Vigil does it in the agent.
            const t0 = performance.now();
            const sr = spawnSync('perf', ['script', '-i', data], { stdio: 'ignore', timeout: 120_000 });
            if (sr.status === 0) perf.scriptMs!.push(performance.now() - t0);
          } catch {
            // no file
          }
          log(`perf ${rate} Hz: ${ms(r.work.wallMs)} (cpu ${ms(r.work.cpuMs)}), perf cpu ${ms(r.usage.cpuMs)}`);
        } catch (e) {
          perf.error = (e as Error).message.split('\n')[0];
          log(`perf ${rate} Hz: ${perf.error}`);
        }
      }
      const fold = (u: ToolUsage[]): ToolUsage | undefined => u.length ? {
        cpuMs: median(u.map((x) => x.cpuMs)), rssBytes: median(u.map((x) => x.rssBytes)),
        peakRssBytes: Math.max(...u.map((x) => x.peakRssBytes)),
      } : undefined;
      vigil.medianMs = vigil.runsMs.length ? median(vigil.runsMs) : NaN;
      vigil.medianCpuMs = vigil.cpuRunsMs.length ? median(vigil.cpuRunsMs) : NaN;
      const vu = fold(vigilUsage);
      if (vu) vigil.usage = vu;
      cells.push(vigil);
      if (peers) {
        perf.medianMs = perf.runsMs.length ? median(perf.runsMs) : NaN;
        perf.medianCpuMs = perf.cpuRunsMs.length ? median(perf.cpuRunsMs) : NaN;
        const pu = fold(perfUsage);
        if (pu) perf.usage = pu;
        cells.push(perf);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const baseline: ProfileBenchCell = { tool: 'none', rate: 0, runsMs: baselineRuns.map((x) => x.wallMs),
    medianMs: median(baselineRuns.map((x) => x.wallMs)), cpuRunsMs: baselineRuns.map((x) => x.cpuMs),
    medianCpuMs: median(baselineRuns.map((x) => x.cpuMs)) };
  return { cpus, iterations, workMs, repeat, baseline, cells, loadAverage, seconds: (Date.now() - started) / 1000 };
}

function vs(value: number, base: number): string {
  if (!Number.isFinite(value) || !Number.isFinite(base)) return '-';
  const r = value / base;
  return `${r.toFixed(3)}x (${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)}%)`;
}

function mib(n: number): string {
  return Number.isFinite(n) ? `${(n / 2 ** 20).toFixed(0)} MiB` : '-';
}

export function profileBenchReport(r: ProfileBenchResult): string {
  const base = r.baseline.medianMs;
  const baseCpu = r.baseline.medianCpuMs;
  const rows = [
    ['nothing', '-', ms(base), '1.000x', ms(baseCpu), '1.000x', '-', '1.000x', '-', '-',
      `${r.baseline.runsMs.length} runs: ${r.baseline.runsMs.map((x) => x.toFixed(0)).join(' / ')} ms`],
    ...r.cells.map((c) => {
      const u = c.usage;
      const note = c.error ? `failed: ${c.error}` : c.tool === 'vigil'
        ? `${count(c.samples ?? 0)} samples in its profiles`
        : `perf.data: ${mib((c.dataBytes ?? 0) / Math.max(1, c.runsMs.length))} per run; \`perf script\` on it ` +
          `afterwards: ${c.scriptMs?.length ? ms(median(c.scriptMs)) : '-'}`;
      return [c.tool === 'vigil' ? 'Vigil' : 'perf record', `${c.rate} Hz`, ms(c.medianMs), vs(c.medianMs, base),
        ms(c.medianCpuMs), vs(c.medianCpuMs, baseCpu), u ? ms(u.cpuMs) : '-',
        u ? vs(c.medianCpuMs + u.cpuMs, baseCpu) : '-', u ? mib(u.rssBytes) : '-', u ? mib(u.peakRssBytes) : '-', note];
    }),
  ];
  return [
    '## Profiler overhead against perf record', '',
    `Workload: \`bench/cpuwork.c\`, ${r.cpus} threads (one per CPU) x ${count(r.iterations)} rounds of a three-deep ` +
      `call chain of arithmetic (~${r.workMs} ms alone), frame pointers kept. Each profiler samples every CPU at the ` +
      'rate shown, system-wide, with user and kernel stacks. *Vigil*: `vigil profile --continuous --interval 1s ' +
      '--frequency HZ` (kernel maps drained every second; each interval symbolised and written as pprof while the ' +
      'work runs; the work starts once the first interval was written, so the one-time loading of symbol tables ' +
      'and kallsyms is not in it). *perf*: `perf record -F HZ -a -g` writing perf.data to a temporary file. ' +
      `Runs interleave (nothing, Vigil, perf) ${r.repeat} times per rate; each cell is the median.`, '',
    '*work wall* / *work CPU*: the workload\'s wall time and its threads\' CPU time (the in-kernel sampling, ' +
      'BPF program or perf\'s own, is charged to the interrupted threads, so it shows here). *profiler CPU*: the ' +
      'profiler process\'s user+system time during the work. *total CPU* = (work CPU + profiler CPU) / work CPU ' +
      'alone: what profiling costs the machine, least sensitive to other load. RSS: the profiler process at the end ' +
      'of the work, and its peak. perf record only copies raw stacks; it symbolises later, in `perf script` or ' +
      '`perf report` (timed in the notes), while Vigil symbolises and writes a pprof file every second in the agent: ' +
      'its profiler CPU includes that work, and 1 s intervals are its worst case (the default is 10 s).', '',
    markdownTable([
      { title: 'profiler', align: 'left' }, { title: 'rate' }, { title: 'work wall' }, { title: 'vs nothing' },
      { title: 'work CPU' }, { title: 'vs nothing' }, { title: 'profiler CPU' }, { title: 'total CPU' },
      { title: 'RSS' }, { title: 'peak RSS' }, { title: 'notes', align: 'left' },
    ], rows), '',
    `Load average at start: ${r.loadAverage.toFixed(2)}${r.loadAverage > 0.5 ? ' (not idle: the wall-time columns carry that noise; the CPU columns much less)' : ''}. ` +
      `This part took ${r.seconds.toFixed(0)} s.`, '',
  ].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rates: { type: 'string' },
      'work-ms': { type: 'string' },
      repeat: { type: 'string' },
      'no-peers': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write('usage: node dist/bench/profile.js [--rates 19,99,999] [--work-ms 1500] [--repeat 3] [--no-peers]\n');
    return 0;
  }
  const rates = values.rates?.split(',').map(Number);
  if (rates?.some((x) => !Number.isInteger(x) || x < 1 || x > 999)) throw new Error('--rates: integers in 1..999');
  const workMs = values['work-ms'] !== undefined ? Number(values['work-ms']) : undefined;
  if (workMs !== undefined && !(workMs >= 200 && workMs <= 20_000)) throw new Error('--work-ms: 200..20000');
  const repeat = values.repeat !== undefined ? Number(values.repeat) : undefined;
  if (repeat !== undefined && !(Number.isInteger(repeat) && repeat >= 1 && repeat <= 9)) throw new Error('--repeat: 1..9');
  const r = await runProfileBench({
    ...(rates ? { rates } : {}), ...(workMs !== undefined ? { workMs } : {}), ...(repeat !== undefined ? { repeat } : {}),
    peers: !values['no-peers'], log: (m) => process.stderr.write(`bench: ${m}\n`),
  });
  process.stdout.write(profileBenchReport(r));
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then((c) => { process.exitCode = c; }, (e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  });
}
