// The report's tracing-overhead sections: the open storm (streaming every
// open), the idle cost (filters that match nothing) and the exec storm.
//
// The measure is the loop's CPU time per iteration, and the design is paired:
// every traced run is preceded by an untraced run of the same loop, and what
// a tracer adds is the median over its runs of (traced - the untraced run just
// before it). This machine's speed drifts by tens of percent over seconds
// (other work, the hypervisor), far more than what a BPF tracer adds per
// syscall; a baseline taken seconds apart from its traced run cancels most of
// the drift, a baseline taken once for all would not. Rows are interleaved
// (every tracer once, then again) so a slow spell hits all of them alike.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { haveCommand } from './peers.js';
import { runTraced, type ProgStat, type StormOptions, type TracedRun, type Tracer } from './storm.js';
import {
  bpftraceExecs, bpftraceNever, bpftraceOpens, bpftracePathNever, execsnoop, NOBODY_UID, opensnoop, SLIM_FIELDS, strace, vigilExec, vigilFiles,
  vigilFilesSlim, vigilIdlePath, vigilIdleUid,
} from './tracers.js';
import { count, markdownTable, ms, percent, ratio } from './table.js';

export interface StormBenchConfig {
  /** Traced runs per tracer (median shown): open storm, exec storm (whose spawns vary more). */
  repeat: number;
  execRepeat: number;
  /** Bound on each loop. */
  durationMs: number;
  workloadCpu?: number;
  tracerCpu?: number;
  /** Extra runs per tracer with kernel.bpf_stats_enabled, for the "where the time goes" table. */
  bpfStats: boolean;
  /** How many of those runs per tracer (the median shown; default 1). */
  statsRepeat?: number;
  /** Opens/s of the paced open storm (a rate Vigil's reader keeps up with); 0: not run. */
  pacedRate: number;
  log(msg: string): void;
}

/** Upper bounds on iterations (the duration normally ends a loop first). */
const OPEN_MAX = 5_000_000;
const EXEC_MAX = 100_000;

interface Row {
  /** Row label (the tracer's name). */
  key: string;
  /** How it was run, for the table. */
  shown: string;
  tracer: Tracer;
  /** A command that must be installed. */
  needs?: string;
  /** Its filters match nothing: any event received is a fault. */
  expectNone?: boolean;
  /** Traced runs, if fewer than the section's. */
  repeat?: number;
}

/** One traced run and the untraced run just before it. */
interface Pair {
  base: TracedRun;
  traced: TracedRun;
}

interface Measured {
  row: Row;
  pairs: Pair[];
  error?: string;
}

export function medianOf(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const cpuPer = (r: TracedRun): number => r.storm.sliceNsPerIter;
const addedOf = (p: Pair): number => cpuPer(p.traced) - cpuPer(p.base);

/** What a tracer adds per iteration: the median of its paired differences. */
function added(m: Measured | undefined): number {
  return m ? medianOf(m.pairs.map(addedOf)) : NaN;
}

/** Every row `repeat` times, interleaved, each traced run after its own untraced one. */
async function measure(rows: Row[], storm: StormOptions, cfg: StormBenchConfig,
  repeat: number): Promise<Map<string, Measured>> {
  const results = new Map<string, Measured>(rows.map((row) => [row.key, { row, pairs: [] }]));
  for (const row of rows) {
    if (row.needs && !haveCommand(row.needs)) results.get(row.key)!.error = `${row.needs} is not installed`;
  }
  const opts = { storm, tracerCpu: cfg.tracerCpu };
  // The untraced run only needs enough slices for a steady median.
  const baseOpts = { storm: { ...storm, durationMs: Math.max(300, Math.round(storm.durationMs / 2)) } };
  for (let i = 0; i < repeat; i++) {
    for (const row of rows) {
      const m = results.get(row.key)!;
      if (m.error || i >= (row.repeat ?? repeat)) continue;
      try {
        const base = await runTraced(undefined, baseOpts);
        const traced = await runTraced(row.tracer, opts);
        m.pairs.push({ base, traced });
        const r = traced.storm;
        cfg.log(`${storm.kind} storm, ${row.key}: ${count(r.iterations)} in ${ms(r.elapsedNs / 1e6)}, ` +
          `${count(cpuPer(traced))} ns CPU each (median of ${r.slices} slices; mean ${count(r.cpuNsPerIter)}; ` +
          `untraced just before: ${count(cpuPer(base))} ns)` +
          (traced.received === undefined ? '' : `, received ${count(traced.received)}`) +
          (traced.lost ? `, lost ${count(traced.lost)}` : '') + `, waited ${ms(r.waitedNs / 1e6)}` +
          (traced.notes.length ? `; ${traced.notes.join('; ')}` : ''));
      } catch (e) {
        cfg.log(`${storm.kind} storm, ${row.key}: ${(e as Error).message}`);
        m.error = (e as Error).message.split('\n')[0] ?? 'failed';
      }
    }
  }
  return results;
}

const COLUMNS = (unit: string): { title: string; align?: 'left' | 'right' }[] => [
  { title: 'tracer', align: 'left' }, { title: `CPU per ${unit}` }, { title: 'vs untraced' },
  { title: `added per ${unit}` }, { title: 'added, each run' }, { title: 'events received / made' },
  { title: 'lost (its own count)' }, { title: 'tracer CPU per event' }, { title: 'loop waited for CPU' },
  { title: 'run as', align: 'left' },
];

function waitedRange(runs: readonly TracedRun[]): string {
  const w = runs.map((r) => (r.storm.waitedNs / r.storm.elapsedNs) * 100);
  return w.length ? `${percent(Math.min(...w))}..${percent(Math.max(...w))}` : '-';
}

function signed(ns: number): string {
  return `${ns >= 0 ? '+' : ''}${count(ns)}`;
}

/** The untraced row (every run that preceded a traced one) and one row per tracer. */
function tableRows(measured: Measured[], unit: string, untracedShown: string): string[][] {
  const bases = measured.flatMap((m) => m.pairs.map((p) => p.base));
  const rows: string[][] = [[
    'untraced', `${count(medianOf(bases.map(cpuPer)))} ns`, '1.00x', '-',
    `${bases.length} runs, ${count(Math.min(...bases.map(cpuPer)))}..${count(Math.max(...bases.map(cpuPer)))} ns`,
    `- / ${count(bases.reduce((a, r) => a + r.storm.iterations, 0))}`, '-', '-', waitedRange(bases), untracedShown,
  ]];
  for (const m of measured) {
    const traced = m.pairs.map((p) => p.traced);
    if (traced.length === 0) {
      rows.push([m.row.key, '-', '-', '-', '-', '-', '-', '-', '-', `not run: ${m.error ?? 'no runs'}`]);
      continue;
    }
    const made = traced.reduce((a, r) => a + r.storm.iterations, 0);
    const counted = traced.every((r) => r.received !== undefined);
    const received = traced.reduce((a, r) => a + (r.received ?? 0), 0);
    const lost = traced.some((r) => r.lost !== undefined) ? traced.reduce((a, r) => a + (r.lost ?? 0), 0) : undefined;
    const cpuSeconds = traced.reduce((a, r) => a + (r.tracerCpuSeconds ?? 0), 0);
    // NaN when the tracer was gone before its CPU time could be read (strace -p ends with the loop).
    const perEvent = counted && received > 0 && Number.isFinite(cpuSeconds)
      ? `${(cpuSeconds / received * 1e6).toFixed(1)} µs` : '-';
    let events: string;
    const share = received === made ? '' : ` (${(received / made * 100).toFixed(1)}%)`;
    if (m.row.expectNone) events = `${counted ? `${count(received)} (none expected)` : '-'} / ${count(made)}`;
    else if (!counted) events = `not counted / ${count(made)}`;
    else events = `${count(received)} / ${count(made)}${share}`;
    rows.push([
      m.row.key,
      `${count(medianOf(traced.map(cpuPer)))} ns`,
      ratio(medianOf(m.pairs.map((p) => cpuPer(p.traced) / cpuPer(p.base)))),
      `${count(added(m))} ns`,
      m.pairs.map((p) => signed(addedOf(p))).join(' / '),
      events,
      lost === undefined ? '-' : count(lost),
      perEvent,
      waitedRange(traced),
      m.row.shown + (m.error ? ` (a later run failed: ${m.error})` : ''),
    ]);
  }
  return rows;
}

/** Every traced run received every event and the tracer reported no loss. */
function lossless(m: Measured | undefined): boolean {
  return !!m && m.pairs.length > 0 && m.pairs.every((p) => p.traced.received === p.traced.storm.iterations &&
    !p.traced.lost);
}

function verdict(ok: boolean): string {
  return ok ? '**met**' : '**NOT met**';
}

function method(cfg: StormBenchConfig, unit: string, repeat: number): string {
  const pinned = cfg.workloadCpu === undefined ? 'Unpinned (one CPU online).'
    : `The loop is pinned to CPU ${cfg.workloadCpu} and each tracer (all its threads) to CPU ${cfg.tracerCpu}, so ` +
      'a tracer\'s user-space work does not take the loop\'s CPU: what the loop pays is the cost on the traced ' +
      'path itself (the BPF programs, the tracepoint machinery, waking the reader; for strace, the ptrace stops).';
  return `${pinned} *CPU per ${unit}* is the loop's CPU time (getrusage, user + system, children included) per ` +
    'iteration: everything a tracer does in the loop\'s context is in it; the time the loop waited while ' +
    'unrelated work had its CPU is not (*loop waited for CPU*: that share of its wall time, lowest..highest run). ' +
    'The loop reads its CPU time every few milliseconds and a run\'s figure is the median of those slices, which ' +
    `shrugs off short slow spells. Each tracer ran ${repeat} times (a row with fewer differences in *added, each ` +
    'run* ran fewer), interleaved with the others, each run right after an ' +
    `untraced run of the same loop; *added per ${unit}* is the median of (traced - the untraced run before it), ` +
    '*added, each run* lists those differences, *vs untraced* is the median ratio. This machine\'s speed drifts ' +
    'by tens of percent over seconds, which pairing cancels for the most part; read the spread of *added, each ' +
    'run* as the precision. *tracer CPU per event* is the tracer process\'s own CPU time (its user space and the ' +
    'system calls it makes) from the release of the loop until its output stopped growing, per event received: ' +
    'the inverse of how many events per second it can take on one core.';
}

/** The open storm (streaming), the idle cost, or both (they share the untraced runs). */
export async function fileSections(cfg: StormBenchConfig, parts: { files: boolean; idle: boolean },
  out: string[]): Promise<void> {
  const t0 = Date.now();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-bench-'));
  const file = path.join(dir, 'openstorm.dat');
  writeFileSync(file, 'vigil open storm\n');
  try {
    const storm: StormOptions = { kind: 'open', count: OPEN_MAX, durationMs: cfg.durationMs, cpu: cfg.workloadCpu,
      path: file };
    const vigilJson = vigilFiles(file, 'file');
    const vigilNull = vigilFiles(file, 'null');
    const vigilSlim = vigilFilesSlim(file);
    const streaming: Row[] = [
      { key: vigilJson.name, shown: `${vigilJson.shown.replace(file, 'FILE')} > OUT`, tracer: vigilJson },
      { key: vigilSlim.name, shown: `${vigilSlim.shown.replace(file, 'FILE')} > OUT`, tracer: vigilSlim },
      { key: vigilNull.name, shown: vigilNull.shown.replace(file, 'FILE'), tracer: vigilNull, repeat: 1 },
      { key: 'opensnoop', shown: 'opensnoop > OUT (libbpf-tools; unfiltered)', tracer: opensnoop(),
        needs: 'opensnoop' },
      { key: 'bpftrace printf', shown: `${bpftraceOpens().shown.replace('> FILE', '> OUT')} (unfiltered)`,
        tracer: bpftraceOpens(), needs: 'bpftrace' },
      { key: 'strace -f', shown: 'strace -f -e trace=openat -o OUT -p PID', tracer: strace(), needs: 'strace' },
    ];
    const uid = vigilIdleUid();
    const pathIdle = vigilIdlePath();
    const never = bpftraceNever();
    const idle: Row[] = [
      { key: uid.name, shown: uid.shown, tracer: uid, expectNone: true },
      { key: pathIdle.name, shown: pathIdle.shown, tracer: pathIdle, expectNone: true },
      { key: never.name, shown: never.shown.replace(' > FILE', ''), tracer: never, needs: 'bpftrace',
        expectNone: true },
    ];
    const res = await measure([...(parts.files ? streaming : []), ...(parts.idle ? idle : [])], storm, cfg,
      cfg.repeat);
    const pick = (rows: Row[]): Measured[] => rows.map((r) => res.get(r.key)!);
    const untraced = 'bench/.output/openstorm --path FILE';
    const workload = 'Workload: `bench/.output/openstorm` opens and closes one file (FILE = ' +
      `/tmp/vigil-bench-XXXXXX/openstorm.dat, O_RDONLY) in a loop for ${cfg.durationMs} ms, unpaced, timing itself; ` +
      `an iteration is one openat(2) and one close(2). ${method(cfg, 'open', cfg.repeat)}`;

    if (parts.files) {
      const v = res.get(vigilJson.name);
      const o = res.get('opensnoop');
      const vAdded = added(v);
      const oAdded = added(o);
      out.push('## Open storm: streaming every open', '');
      out.push(workload, '');
      out.push('*events received / made* adds up all runs: lines in the tracer\'s output for the loop\'s opens ' +
        '(Vigil: json lines with the file\'s path and the loop\'s pid; opensnoop and bpftrace: lines with its pid ' +
        'and path; strace: successful openat lines) against the opens the loop made. OUT is a file in /dev/shm, ' +
        'counted after the tracer stopped; *lost* is what the tracer itself reported losing (Vigil: its final ' +
        '"lost N events"; opensnoop and bpftrace: their "Lost N events" lines, which count every event on the host). ' +
        'opensnoop and bpftrace run unfiltered, as they usually are, so they also carry the rest of the host\'s ' +
        'opens; Vigil filters in the kernel by the path prefix (the file). bpftrace ' +
        'prints at syscall entry (no result); Vigil and opensnoop at exit, with the result. strace stops the loop ' +
        'at every traced syscall: much of its cost is the loop waiting, which CPU time does not show.', '');
      out.push(markdownTable(COLUMNS('open'), tableRows(pick(streaming), 'open', untraced)), '');
      const vCpuPerEvent = v ? v.pairs.reduce((a, p) => a + (p.traced.tracerCpuSeconds ?? 0), 0) /
        v.pairs.reduce((a, p) => a + (p.traced.received ?? 0), 0) : NaN;
      out.push('Goals of the issue:', '');
      out.push('- streaming every open, Vigil adds at most a quarter of what opensnoop adds: ' +
        `${verdict(vAdded <= oAdded / 4)}. ` +
        `Vigil adds ${count(vAdded)} ns per open, opensnoop ${count(oAdded)} ns (a quarter: ${count(oAdded / 4)} ns; ` +
        `Vigil's is ${(vAdded / oAdded * 100).toFixed(0)}% of opensnoop's).`);
      const slim = res.get(vigilSlim.name);
      out.push(`- with \`--fields ${SLIM_FIELDS}\` (lines under 512 bytes), Vigil loses no event unpaced in these ${cfg.durationMs} ms runs: ` +
        `${verdict(lossless(slim))}. Received ` + (slim?.pairs ?? []).map((p) =>
        `${count(p.traced.received ?? NaN)} of ${count(p.traced.storm.iterations)}` +
        (p.traced.lost ? ` (it counted ${count(p.traced.lost)} lost)` : '')).join(', ') + '.');
      out.push(`- Vigil loses no event in these ${cfg.durationMs} ms runs: ${verdict(lossless(v))}. Received ` + (v?.pairs ?? []).map((p) =>
        `${count(p.traced.received ?? NaN)} of ${count(p.traced.storm.iterations)}` +
        (p.traced.lost ? ` (it counted ${count(p.traced.lost)} lost)` : '')).join(', ') + '. ' +
        (Number.isFinite(vCpuPerEvent) ? `Its user space took ${(vCpuPerEvent * 1e6).toFixed(0)} µs of CPU per ` +
          `event, i.e. about ${count(1 / vCpuPerEvent)} events/s on one core, while the loop makes ` +
          `${count(1e9 / medianOf((v?.pairs ?? []).map((p) => p.traced.storm.nsPerIter)))} opens/s` +
          (lossless(v) ? `: in ${cfg.durationMs} ms the ring held the difference (the issue's goal is a 10 s run: ` +
            '`bench/exec-cost.sh --open 0` runs that)' : ': the ring fills and the rest is dropped (and counted) in the kernel') +
          '.' : ''), '');
    }
    if (parts.idle) {
      const u = added(res.get(uid.name));
      const pth = added(res.get(pathIdle.name));
      const b = added(res.get(never.name));
      out.push('## Idle cost: filters that match nothing', '');
      out.push(workload, '');
      out.push(`Vigil runs with filters no event passes: \`--uid ${NOBODY_UID}\` with the file, exec and exit ` +
        'sensors (an open has one program, at exit; the task filter rejects it before anything is read), and ' +
        '`--path-prefix /nonexistent/` with the file sensor (the same one program: the opened file\'s dentries are ' +
        'walked up to its first path component, which no prefix allows, so nothing else is read; the walk is of ' +
        'the file, not of the name as written: a symlink or ".." cannot move a file in or out of it). The ' +
        `peer is bpftrace with one probe on sys_enter_openat whose predicate (\`uid == ${NOBODY_UID}\`) is never ` +
        'true. *events received* should be 0.', '');
      out.push(markdownTable(COLUMNS('open'), tableRows(pick(idle), 'open', untraced)), '');
      out.push('Goal of the issue:', '');
      out.push('- with filters that match nothing, Vigil adds no more than a bpftrace probe whose predicate is ' +
        `always false: ${verdict(u <= b)} for the task filter (\`--uid\`: ${count(u)} ns per open, bpftrace ` +
        `${count(b)} ns). ` +
        `The path filter (\`--path-prefix\`), which walks each opened file up to its first component, adds ${count(pth)} ns ` +
        `(${u <= b && pth > b ? 'more than bpftrace: ' : ''}${verdict(pth <= b)}). Compare with the spread of ` +
        '*added, each run*.', '');
    }
    cfg.log(`open storm, unpaced: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const t1 = Date.now();
    // By key: Vigil's json row and opensnoop (its peer in the goal), wherever they sit in the table.
    const byKey = (k: string): Row[] => streaming.filter((r) => r.key === k);
    const vsPeer = [...byKey(vigilJson.name), ...byKey('opensnoop')];
    if (parts.files && cfg.pacedRate > 0) await pacedSection(cfg, storm, vsPeer, out);
    cfg.log(`open storm, paced: ${((Date.now() - t1) / 1000).toFixed(0)} s`);
    const t2 = Date.now();
    if (cfg.bpfStats) {
      const diag = [...(parts.files ? vsPeer : []),
        ...(parts.idle ? idle : [])];
      const totals = await whereTheTimeGoes(diag, storm, res, cfg, out, 'open');
      const lines = [
        parts.files ? inPrograms(totals, vigilJson.name, 'opensnoop', 'at most a quarter', 1 / 4) : '',
        parts.idle ? inPrograms(totals, uid.name, never.name, 'no more', 1) : '',
        parts.idle ? inPrograms(totals, pathIdle.name, never.name, 'no more', 1) : '',
      ].filter(Boolean);
      if (parts.idle) {
        lines.push(...await sideBySide([uid, pathIdle], never, storm, cfg));
        // The path filter against bpftrace's own path filter, the same way.
        lines.push(...await sideBySide([pathIdle], bpftracePathNever(), storm, cfg));
      }
      if (lines.length) out.push(...lines, '');
      cfg.log(`open storm, bpf stats: ${((Date.now() - t2) / 1000).toFixed(0)} s`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The open storm paced at a rate the tracers' readers keep up with: every
 * event is delivered, so each open pays the whole path (the record written,
 * the reader woken), where the unpaced storm mostly measures what a dropped
 * event costs once the ring is full.
 */
async function pacedSection(cfg: StormBenchConfig, unpaced: StormOptions, rows: Row[], out: string[]): Promise<void> {
  const durationMs = cfg.durationMs;
  const storm: StormOptions = { ...unpaced, rate: cfg.pacedRate, durationMs };
  const repeat = Math.min(cfg.repeat, 2);
  const res = await measure(rows, storm, cfg, repeat);
  const v = res.get(rows[0]!.key);
  const o = res.get(rows[1]!.key);
  out.push(`## Open storm, paced at ${count(cfg.pacedRate)} opens/s`, '');
  out.push(`The same loop paced at ${count(cfg.pacedRate)} opens/s (in 1 ms bursts, sleeping between them) for ` +
    `${durationMs} ms: a rate Vigil's reader keeps up with, so every event makes the whole trip (written to the ` +
    'ring or perf buffer, the reader woken) instead of being dropped when the buffer is full, which is what most ' +
    'events of the unpaced storm cost. The untraced loop\'s CPU per open includes its share of the sleeps; the ' +
    `paired differences remove them, but sleeping makes these runs noisier. Each tracer ran ${repeat} times; ` +
    'otherwise the same method and columns as above.', '');
  out.push(markdownTable(COLUMNS('open'), tableRows(rows.map((r) => res.get(r.key)!), 'open',
    `bench/.output/openstorm --path FILE --rate ${cfg.pacedRate}`)), '');
  const vAdded = added(v);
  const oAdded = added(o);
  out.push(`At this rate: Vigil adds ${count(vAdded)} ns per open, opensnoop ${count(oAdded)} ns (Vigil's is ` +
    `${(vAdded / oAdded * 100).toFixed(0)}% of opensnoop's: a quarter or less ${verdict(vAdded <= oAdded / 4)}); ` +
    `Vigil lost no event ${verdict(lossless(v))}.`, '');
}

/** The exec storm. */
export async function execSection(cfg: StormBenchConfig, out: string[]): Promise<void> {
  const storm: StormOptions = { kind: 'exec', count: EXEC_MAX, durationMs: cfg.durationMs, cpu: cfg.workloadCpu,
    program: '/bin/true' };
  const v = vigilExec();
  const rows: Row[] = [
    { key: v.name, shown: `${v.shown} > OUT`, tracer: v },
    { key: 'execsnoop', shown: 'execsnoop > OUT (libbpf-tools)', tracer: execsnoop(), needs: 'execsnoop' },
    { key: 'bpftrace printf', shown: bpftraceExecs().shown.replace('> FILE', '> OUT'), tracer: bpftraceExecs(),
      needs: 'bpftrace' },
  ];
  const t0 = Date.now();
  const res = await measure(rows, storm, cfg, cfg.execRepeat);
  cfg.log(`exec storm: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const vm = res.get(v.name);
  const e = res.get('execsnoop');
  out.push('## Exec storm', '');
  out.push('Workload: `bench/.output/execstorm` spawns /bin/true one at a time (fork, execve, waitpid) for ' +
    `${cfg.durationMs} ms, timing itself; the children inherit the loop's CPU and their CPU time counts. ` +
    `${method(cfg, 'spawn', cfg.execRepeat)}`, '');
  out.push('Every tracer is unfiltered (every exec on the host). *events received* counts the exec events of ' +
    '/bin/true whose parent is the loop (Vigil: json process_exec with that binary and parent pid; execsnoop: ' +
    'lines with the loop as PPID and return 0; bpftrace: lines with the loop as parent). Vigil\'s exec sensor ' +
    'also traces fork and exit (for its process cache), execsnoop traces execve entry and exit, bpftrace only ' +
    'sched_process_exec.', '');
  out.push(markdownTable(COLUMNS('spawn'), tableRows(rows.map((r) => res.get(r.key)!), 'spawn',
    'bench/.output/execstorm --program /bin/true')), '');
  out.push(`Vigil adds ${count(added(vm))} ns per spawn, execsnoop ${count(added(e))} ns; Vigil lost no event: ` +
    `${verdict(lossless(vm))}.`, '');
  if (cfg.bpfStats) await whereTheTimeGoes(rows.slice(0, 2), storm, res, cfg, out, 'spawn');
}

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

/**
 * More runs per tracer with BPF run-time statistics on (cfg.statsRepeat,
 * interleaved): what its BPF programs cost per iteration of the loop (the
 * median over the runs, with the lowest..highest), next to what the tracer
 * adds in total (from the timed runs, statistics off). The rest is outside
 * the programs: the tracepoint machinery and waking the reader.
 */
async function whereTheTimeGoes(diag: Row[], storm: StormOptions, res: Map<string, Measured>,
  cfg: StormBenchConfig, out: string[], unit: string): Promise<Map<string, number>> {
  /** Per tracer: its programs' time per iteration (median of the runs). */
  const totals = new Map<string, number>();
  let previous: string;
  try {
    previous = readFileSync(STATS_SYSCTL, 'utf8').trim();
  } catch {
    out.push(`(BPF run-time statistics: ${STATS_SYSCTL} is not available; skipped.)`, '');
    return totals;
  }
  const repeat = cfg.statsRepeat ?? 1;
  /** Per tracer, per run: each program's run count and time per iteration, and the total. */
  const runs = new Map<string, { total: number; progs: Map<string, { runs: number; ns: number; perRun: number }> }[]>();
  const failed = new Map<string, string>();
  try {
    writeFileSync(STATS_SYSCTL, '1');
    for (let i = 0; i < repeat; i++) {
      for (const row of diag) {
        if (row.needs && !haveCommand(row.needs)) continue;
        if (failed.has(row.key)) continue;
        let r: TracedRun;
        try {
          r = await runTraced(row.tracer, { storm, tracerCpu: cfg.tracerCpu, progStats: true });
        } catch (e) {
          cfg.log(`bpf stats, ${row.key}: ${(e as Error).message}`);
          failed.set(row.key, (e as Error).message.split('\n')[0]!);
          continue;
        }
        const n = r.storm.iterations;
        const progs = new Map<string, { runs: number; ns: number; perRun: number }>();
        for (const p of r.progs ?? []) {
          if (p.runCnt <= 0) continue;
          const name = p.name ?? `id ${p.id}`;
          const q = progs.get(name) ?? { runs: 0, ns: 0, perRun: 0 };
          q.runs += p.runCnt / n;
          q.ns += p.runTimeNs / n;
          progs.set(name, q);
        }
        for (const q of progs.values()) q.perRun = q.runs > 0 ? q.ns / q.runs : 0;
        const total = [...progs.values()].reduce((a, q) => a + q.ns, 0);
        cfg.log(`bpf stats, ${row.key} (run ${i + 1} of ${repeat}): ${progs.size} programs ran, ` +
          `${count(total)} ns per ${unit}`);
        const list = runs.get(row.key) ?? [];
        list.push({ total, progs });
        runs.set(row.key, list);
      }
    }
  } finally {
    writeFileSync(STATS_SYSCTL, previous);
  }
  const rows: string[][] = [];
  for (const row of diag) {
    const list = runs.get(row.key);
    if (!list?.length) {
      if (failed.has(row.key)) rows.push([row.key, '-', '-', '-', '-', '-', '-', `not run: ${failed.get(row.key)}`]);
      continue;
    }
    const total = medianOf(list.map((x) => x.total));
    totals.set(row.key, total);
    const add = added(res.get(row.key));
    const spread = list.length > 1 ? `${list.length} runs, ${count(Math.min(...list.map((x) => x.total)))}..` +
      `${count(Math.max(...list.map((x) => x.total)))} ns` : '1 run';
    rows.push([row.key, '**all programs**', '', '', `**${count(total)} ns**`, spread,
      Number.isFinite(add) ? `${count(add)} ns` : '-',
      Number.isFinite(add) ? `${count(add - total)} ns` : '']);
    const names = [...new Set(list.flatMap((x) => [...x.progs.keys()]))];
    const per = names.map((name) => {
      const xs = list.map((x) => x.progs.get(name) ?? { runs: 0, ns: 0, perRun: 0 });
      return { name, runs: medianOf(xs.map((x) => x.runs)), ns: medianOf(xs.map((x) => x.ns)),
        perRun: medianOf(xs.filter((x) => x.runs > 0).map((x) => x.perRun)),
        lo: Math.min(...xs.map((x) => x.ns)), hi: Math.max(...xs.map((x) => x.ns)) };
    }).sort((a, b) => b.ns - a.ns);
    const shown = per.filter((p) => p.ns >= 1).slice(0, 6);
    for (const p of shown) {
      rows.push(['', p.name, p.runs.toFixed(2), `${count(p.perRun)} ns`, `${count(p.ns)} ns`,
        list.length > 1 ? `${count(p.lo)}..${count(p.hi)} ns` : '', '', '']);
    }
    const rest = per.filter((p) => !shown.includes(p));
    if (rest.length) {
      rows.push(['', `${rest.length} more`, rest.reduce((a, p) => a + p.runs, 0).toFixed(2), '',
        `${count(rest.reduce((a, p) => a + p.ns, 0))} ns`, '', '', '']);
    }
  }
  out.push(`### Where the time goes (${storm.kind === 'open' ? 'open storm' : 'exec storm'})`, '');
  out.push(`${repeat === 1 ? 'One more run' : `${repeat} more runs`} of each tracer with kernel.bpf_stats_enabled = 1` +
    `${repeat > 1 ? ' (interleaved)' : ''}, reading run_cnt and run_time_ns of ` +
    `its BPF programs from /proc/<pid>/fdinfo before and after the loop. *runs per ${unit}* and *time per ${unit}* ` +
    `divide by the loop's iterations (an unfiltered tracer's programs also ran for the rest of the host meanwhile)` +
    `${repeat > 1 ? '; each is the median of the runs, *spread* the lowest..highest of the runs' : ''}. ` +
    `*added per ${unit}* is from the timed runs above (statistics off); *rest* is what is not in the programs: ` +
    'the tracepoint machinery (the syscall slow path; each syscall tracepoint fills a perf trace record before ' +
    'the program runs) and waking the reader, plus the noise of the timed runs.', '');
  out.push(markdownTable([
    { title: 'tracer', align: 'left' }, { title: 'program', align: 'left' }, { title: `runs per ${unit}` },
    { title: 'time per run' }, { title: `time per ${unit}` }, { title: 'spread' }, { title: `added per ${unit}` },
    { title: 'rest' },
  ], rows), '');
  return totals;
}

/**
 * The idle goal paired within each loop: each of Vigil's idle tracers attached together with the peer's
 * always-false probe, so both programs see the same opens on the same machine at the same moment; per
 * run, the ratio of their BPF run times per open; the median ratio with its spread.
 */
async function sideBySide(tracers: Tracer[], peer: Tracer, storm: StormOptions, cfg: StormBenchConfig): Promise<string[]> {
  if (!haveCommand('bpftrace')) return [];
  const lines: string[] = [];
  const perOpen = (progs: ProgStat[] | undefined, n: number): number => (progs ?? []).reduce((a, p) => a + p.runTimeNs, 0) / n;
  const previous = readFileSync(STATS_SYSCTL, 'utf8').trim();
  try {
    writeFileSync(STATS_SYSCTL, '1');
    for (const t of tracers) {
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let i = 0; i < (cfg.statsRepeat ?? 1); i++) {
        const r = await runTraced(t, { storm, tracerCpu: cfg.tracerCpu, progStats: true, companion: peer });
        ours.push(perOpen(r.progs, r.storm.iterations));
        theirs.push(perOpen(r.companionProgs, r.storm.iterations));
      }
      const ratios = ours.map((x, i) => x / theirs[i]!);
      const ratio = medianOf(ratios);
      cfg.log(`side by side, ${t.name} and ${peer.name}: ratios ${ratios.map((x) => x.toFixed(2)).join(' ')}`);
      lines.push(`- Side by side (both attached to the same loop, ${ratios.length} runs): ${t.name} ` +
        `${count(medianOf(ours))} ns per open, ${peer.name} ${count(medianOf(theirs))} ns; ratio per run median ` +
        `${ratio.toFixed(2)} (${Math.min(...ratios).toFixed(2)}..${Math.max(...ratios).toFixed(2)}) (no more: ${verdict(ratio <= 1)}).`);
    }
  } finally {
    writeFileSync(STATS_SYSCTL, previous);
  }
  return lines;
}

/** A goal restated on the programs' own time, which the machine's drift disturbs far less. */
function inPrograms(totals: Map<string, number>, a: string, b: string, what: string, limit: number): string {
  const x = totals.get(a);
  const y = totals.get(b);
  if (x === undefined || y === undefined) return '';
  return `- In the BPF programs alone (statistics runs, medians): ${a} ${count(x)} ns per open, ${b} ${count(y)} ns: ` +
    `${(x / y * 100).toFixed(0)}% (${what}: ${verdict(x <= y * limit)}).`;
}
