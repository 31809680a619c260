// The stalled-consumer bound: `vigil observe --output json` writing into a
// pipe nobody reads while an exec storm makes processes, its RSS sampled
// over time; paired with the same storm and a reader that keeps up (cat into
// /dev/null). Then the stalled reader starts reading: the losses must come
// out as lost records. Alone: `node dist/bench/stall.js [--processes N]`.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoPath } from '../src/util/paths.js';
import { markdownTable, count } from './table.js';

export interface StallSample {
  /** ms since the storm began. */
  t: number;
  rssMiB: number;
}

export interface StallRun {
  reader: 'stalled' | 'cat';
  startMiB: number;
  peakMiB: number;
  samples: StallSample[];
  processes: number;
  /** Events the output said it lost (lost records, once reading). */
  lostInBand: number;
  /** Lines read (after the stall, for the stalled run). */
  lines: number;
  stderr: string;
}

const rssMiB = (pid: number): number =>
  Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? NaN) / 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function exited(c: ChildProcess): Promise<void> {
  return c.exitCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));
}

/** One run: observe, the storm, RSS every 250 ms; then, for a stalled reader, read for `readMs`. */
export async function runStall(reader: 'stalled' | 'cat', processes: number, outputBuffer: string, readMs = 4000): Promise<StallRun> {
  // The storm runs a copy of /bin/true of its own, and observe watches that
  // binary only: the host's other processes do not count.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-stall-'));
  const program = path.join(dir, 'true');
  copyFileSync('/bin/true', program);
  chmodSync(program, 0o755);
  const vigil = spawn(process.execPath, [repoPath('bin', 'vigil'), 'observe', '--output', 'json', '--output-buffer', outputBuffer,
    '--binary', `${dir}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  vigil.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  let out = '';
  let lines = 0;
  const take = (s: string): void => {
    out += s;
    const cut = out.lastIndexOf('\n');
    if (cut < 0) return;
    for (const l of out.slice(0, cut).split('\n')) {
      lines++;
      if (l.startsWith('{"lost"')) run.lostInBand += (JSON.parse(l) as { lost: { count: number } }).lost.count;
    }
    out = out.slice(cut + 1);
  };
  const run: StallRun = { reader, startMiB: 0, peakMiB: 0, samples: [], processes: 0, lostInBand: 0, lines: 0, stderr: '' };
  if (reader === 'cat') vigil.stdout!.setEncoding('utf8').on('data', take);
  else vigil.stdout!.pause();
  try {
    for (let i = 0; i < 400 && !stderr.includes('watching'); i++) await sleep(50);
    if (!stderr.includes('watching')) throw new Error(`vigil observe did not start: ${stderr}`);
    await sleep(500);
    run.startMiB = rssMiB(vigil.pid!);
    run.peakMiB = run.startMiB;
    const storm = spawn(repoPath('bench', '.output', 'execstorm'), ['--program', program, '--count', String(processes), '--duration-ms', '60000'],
      { stdio: ['ignore', 'pipe', 'ignore'] });
    let report = '';
    storm.stdout!.setEncoding('utf8').on('data', (s: string) => (report += s));
    const t0 = Date.now();
    const stormDone = exited(storm);
    let done = false;
    void stormDone.then(() => (done = true));
    // The storm, then 2 s more: what the rings hold is read (or not) after it.
    let end = Infinity;
    while (Date.now() < end) {
      const m = rssMiB(vigil.pid!);
      run.samples.push({ t: Date.now() - t0, rssMiB: m });
      run.peakMiB = Math.max(run.peakMiB, m);
      if (done && end === Infinity) end = Date.now() + 2000;
      await sleep(250);
    }
    run.processes = Number(/iterations[=: ]+(\d+)/.exec(report)?.[1] ?? processes);
    if (reader === 'stalled') {
      vigil.stdout!.setEncoding('utf8').on('data', take);
      vigil.stdout!.resume();
      const until = Date.now() + readMs;
      while (Date.now() < until) {
        const m = rssMiB(vigil.pid!);
        run.samples.push({ t: Date.now() - t0, rssMiB: m });
        run.peakMiB = Math.max(run.peakMiB, m);
        await sleep(250);
      }
    }
    vigil.kill('SIGINT');
    await exited(vigil);
  } finally {
    vigil.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  run.lines = lines;
  run.stderr = stderr;
  return run;
}

export interface StallBench {
  processes: number;
  outputBuffer: string;
  stalled: StallRun;
  cat: StallRun;
}

export async function runStallBench(processes = 20_000, outputBuffer = '16MiB'): Promise<StallBench> {
  const stalled = await runStall('stalled', processes, outputBuffer);
  const cat = await runStall('cat', processes, outputBuffer);
  return { processes, outputBuffer, stalled, cat };
}

const mib = (n: number): string => `${n.toFixed(1)} MiB`;

export function stallBenchReport(b: StallBench): string {
  const rows = [b.stalled, b.cat].map((r) => [
    r.reader === 'stalled' ? 'nobody reads (then reads)' : 'cat > /dev/null', count(r.processes), mib(r.startMiB), mib(r.peakMiB),
    mib(r.peakMiB - r.startMiB), count(r.lines), count(r.lostInBand),
    /lost \d+ \w+ events \(ring buffer full\)|stdout: dropped \d+ events/.test(r.stderr) ? 'yes' : 'no',
  ]);
  const table = markdownTable([
    { title: 'reader', align: 'left' }, { title: 'processes' }, { title: 'RSS at start' }, { title: 'peak RSS' },
    { title: 'growth' }, { title: 'lines read' }, { title: 'lost (in-band)' }, { title: 'stderr loss line', align: 'left' },
  ], rows);
  // RSS over time, one column per run, sampled every 250 ms; every 4th sample shown.
  const n = Math.max(b.stalled.samples.length, b.cat.samples.length);
  const over: string[][] = [];
  for (let i = 0; i < n; i += 4) {
    const s = b.stalled.samples[i];
    const c = b.cat.samples[i];
    over.push([s ? `${(s.t / 1000).toFixed(1)} s` : `${((c?.t ?? 0) / 1000).toFixed(1)} s`, s ? mib(s.rssMiB) : '', c ? mib(c.rssMiB) : '']);
  }
  const series = markdownTable([{ title: 'time' }, { title: 'RSS, nobody reads' }, { title: 'RSS, cat' }], over);
  const ratio = (b.stalled.peakMiB - b.stalled.startMiB) / Math.max(0.1, b.cat.peakMiB - b.cat.startMiB);
  return `### Stalled consumer: the output bound\n\n` +
    `\`vigil observe --output json --output-buffer ${b.outputBuffer} --binary DIR/\` (exec, exit and file events of ` +
    `the storm's own copy of /bin/true in DIR) while \`bench/.output/execstorm\` makes ${count(b.processes)} processes; stdout is a pipe nobody reads until the storm ` +
    `is over plus 2 s, then read for 4 s; paired with the same storm read by a reader that keeps up. RSS every 250 ms.\n\n` +
    `${table}\n\nGrowth stalled ÷ growth with a reader: ${ratio.toFixed(2)}. With a reader, RSS grows with the ` +
    `process cache and the garbage of formatting (not the pipeline's to bound); stalled, the pipeline adds at most ` +
    `the output queue (${b.outputBuffer}), the merge's 16,384 held events and one bounded drain per ring, and ` +
    `then stops reading (the kernel drops and counts). Unbounded (before the pipeline), a stalled reader queued ` +
    `every line (the issue saw 142 → 590 MB over 10k processes).\n\n${series}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { processes: { type: 'string' }, 'output-buffer': { type: 'string' } } });
  const b = await runStallBench(Number(values.processes ?? 20_000), values['output-buffer'] ?? '16MiB');
  process.stdout.write(stallBenchReport(b));
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
