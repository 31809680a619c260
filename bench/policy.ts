// Policy engine benchmark (issue 4, point 8): the cost of the whole built-in
// policy library (policies/) on the open storm and the exec storm, as a ratio
// to no agent, and the proof that filtering happens in the kernel: the
// storms match no selector, so the engine's kernel counters show every event
// evaluated and none posted, and user space receives nothing from them.
//
// Each repeat is one untraced run and one traced run, in alternating order,
// each after the same second of idle: the library is added to the engine
// before the traced run and removed after it (live, the engine stays
// loaded), so both runs see the same machine state. The workload runs
// pinned (--cpu); the engine reads in this process. Medians are shown.
//
//   node dist/bench/policy.js          (bench/run.ts --only policy includes it)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { PolicyEngine, type PolicyCounters } from '../src/policy/engine.js';
import { loadPolicyFiles } from '../src/policy/loader.js';
import { compilePolicies } from '../src/policy/hooks.js';
import { builtinPolicyFiles } from '../src/policy/builtin.js';
import type { CompiledPolicy, PolicyEvent } from '../src/policy/ir.js';
import { Storm, progDeltas, progStats, type StormKind, type StormReport } from './storm.js';
import { count, markdownTable, ms, ratio } from './table.js';

export interface PolicyBenchOptions {
  /** Each storm loop's duration (default 1000 ms). */
  stormMs?: number;
  /** Untraced/traced pairs per storm (default 3). */
  repeat?: number;
  workloadCpu?: number;
  log?: (msg: string) => void;
}

/** Idle time before each storm, traced or not. */
const SETTLE_MS = 1000;

interface Totals {
  evaluated: bigint;
  matched: bigint;
  posted: bigint;
}

export interface StormResult {
  kind: StormKind;
  base: StormReport[];
  traced: StormReport[];
  /** Kernel counters over the traced runs, summed over the policies. */
  totals: Totals;
  /** Per policy (evaluated, matched, posted) over the traced runs. */
  perPolicy: Map<string, Totals>;
  /** Events user space received while the traced runs ran, and those from the storm itself. */
  received: number;
  fromStorm: number;
}

export interface PolicyBenchResult {
  loaded: string[];
  rejected: { name: string; reason: string }[];
  engineStartMs: number;
  addAllMs: number[];
  storms: StormResult[];
  /** The engine's programs on one more open storm with kernel.bpf_stats_enabled = 1, or why not. */
  bpfTime: { name: string; runsPerIter: number; nsPerRun: number; nsPerIter: number }[] | string;
}

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

/**
 * One more traced open storm with BPF run-time statistics on: the engine's
 * programs (this process holds them) and their time per iteration of the loop.
 */
async function bpfTimePerIteration(engine: PolicyEngine, policies: CompiledPolicy[], spawn: () => Promise<Storm>,
  stormMs: number): Promise<PolicyBenchResult['bpfTime']> {
  let previous: string;
  try {
    previous = readFileSync(STATS_SYSCTL, 'utf8').trim();
  } catch {
    return `${STATS_SYSCTL} is not available`;
  }
  try {
    writeFileSync(STATS_SYSCTL, '1');
    for (const p of policies) await engine.add(p);
    const s = await spawn();
    const before = progStats(process.pid);
    s.start();
    const rep = await s.finished(stormMs + 10_000);
    const after = progStats(process.pid);
    for (const p of policies) engine.remove(p.name);
    const n = rep.iterations;
    return progDeltas(before, after).filter((p) => p.runCnt > 0).sort((a, b) => b.runTimeNs - a.runTimeNs)
      .map((p) => ({ name: p.name ?? `id ${p.id}`, runsPerIter: p.runCnt / n, nsPerRun: p.runTimeNs / p.runCnt,
        nsPerIter: p.runTimeNs / n }));
  } finally {
    writeFileSync(STATS_SYSCTL, previous);
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

async function library(log: (m: string) => void): Promise<{ policies: CompiledPolicy[]; rejected: { name: string; reason: string }[] }> {
  const policies: CompiledPolicy[] = [];
  const rejected: { name: string; reason: string }[] = [];
  for (const file of builtinPolicyFiles()) {
    const r = loadPolicyFiles([file]);
    if (!r.ok) {
      rejected.push({ name: path.basename(file), reason: r.diagnostics.map((d) => d.message).join('; ') });
      continue;
    }
    try {
      policies.push(...(await compilePolicies(r.policies)));
    } catch (e) {
      rejected.push({ name: path.basename(file), reason: (e as Error).message.split('\n')[0]! });
    }
  }
  log(`policy: ${policies.length} built-in policies compiled, ${rejected.length} not`);
  return { policies, rejected };
}

function add(a: Totals, c: PolicyCounters | undefined): void {
  if (!c) return;
  a.evaluated += c.evaluated;
  a.matched += c.matched;
  a.posted += c.posted;
}

export async function runPolicyBench(o: PolicyBenchOptions = {}): Promise<PolicyBenchResult> {
  const log = o.log ?? (() => undefined);
  const repeat = o.repeat ?? 3;
  const stormMs = o.stormMs ?? 1000;
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, SETTLE_MS));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-policy-bench-'));
  const file = path.join(dir, 'storm-file');
  writeFileSync(file, 'x');
  const { policies, rejected: notCompiled } = await library(log);
  const events: PolicyEvent[] = [];
  const t0 = performance.now();
  const engine = await PolicyEngine.start({ onEvent: (e) => events.push(e) });
  const engineStartMs = performance.now() - t0;
  const loaded: string[] = [];
  const rejected = [...notCompiled];
  const addAllMs: number[] = [];
  // Which policies the engine accepts (added once, then removed).
  for (const p of policies) {
    try {
      await engine.add(p);
      loaded.push(p.name);
      engine.remove(p.name);
    } catch (e) {
      rejected.push({ name: p.name, reason: (e as Error).message.split('\n')[0]! });
    }
  }
  const accepted = policies.filter((p) => loaded.includes(p.name));
  const storms: StormResult[] = [];
  let bpfTime: PolicyBenchResult['bpfTime'] = 'not run';
  try {
    for (const kind of ['open', 'exec'] as StormKind[]) {
      const res: StormResult = {
        kind, base: [], traced: [], totals: { evaluated: 0n, matched: 0n, posted: 0n }, perPolicy: new Map(),
        received: 0, fromStorm: 0,
      };
      const spawn = (): Promise<Storm> => Storm.spawn({
        kind, count: kind === 'open' ? 50_000_000 : 1_000_000, durationMs: stormMs, cpu: o.workloadCpu,
        path: kind === 'open' ? file : undefined,
      });
      const baseRun = async (i: number): Promise<void> => {
        log(`policy: ${kind} storm ${i + 1}/${repeat}, no agent`);
        await settle();
        const s = await spawn();
        s.start();
        res.base.push(await s.finished(stormMs + 10_000));
      };
      const tracedRun = async (i: number): Promise<void> => {
        log(`policy: ${kind} storm ${i + 1}/${repeat}, ${accepted.length} policies`);
        const t = performance.now();
        for (const p of accepted) await engine.add(p);
        addAllMs.push(performance.now() - t);
        events.length = 0;
        // Adding the library verifies and attaches programs (a burst of CPU); the storm starts
        // after the same pause as the untraced one, so neither inherits the other's state.
        await settle();
        const s = await spawn();
        const stormPid = s.pid;
        s.start();
        res.traced.push(await s.finished(stormMs + 10_000));
        engine.drain();
        res.received += events.length;
        res.fromStorm += events.filter((e) => e.pid === stormPid || e.process?.ppid === stormPid).length;
        for (const p of accepted) {
          const c = engine.counters(p.name);
          add(res.totals, c);
          const per = res.perPolicy.get(p.name) ?? { evaluated: 0n, matched: 0n, posted: 0n };
          add(per, c);
          res.perPolicy.set(p.name, per);
          engine.remove(p.name);
        }
      };
      // Pairs in alternating order (untraced first, then traced first): a machine that drifts
      // faster or slower over the run weighs on both sides alike.
      for (let i = 0; i < repeat; i++) {
        if (i % 2 === 0) {
          await baseRun(i);
          await tracedRun(i);
        } else {
          await tracedRun(i);
          await baseRun(i);
        }
      }
      storms.push(res);
    }
    bpfTime = await bpfTimePerIteration(engine, accepted, () => Storm.spawn({
      kind: 'open', count: 50_000_000, durationMs: stormMs, cpu: o.workloadCpu, path: file,
    }), stormMs);
  } finally {
    engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { loaded, rejected, engineStartMs, addAllMs, storms, bpfTime };
}

export function policyBenchReport(r: PolicyBenchResult): string {
  const out: string[] = ['## Policy engine: the built-in library on the open and exec storms', ''];
  out.push(`${r.loaded.length} built-in policies loaded (${r.loaded.join(', ')})` +
    (r.rejected.length ? `; not loaded here: ${r.rejected.map((x) => `${x.name} (${x.reason})`).join('; ')}` : '') + '.',
  `Engine start (core programs verified and loaded): ${ms(r.engineStartMs)}; adding the whole library, live: ` +
    `median ${ms(median(r.addAllMs))}.`, '');
  const rows = r.storms.map((s) => {
    const base = median(s.base.map((x) => x.sliceNsPerIter));
    const traced = median(s.traced.map((x) => x.sliceNsPerIter));
    // Run i of each kind alternate (no agent, then the library): pair ratios, their median and spread.
    const pairs = s.traced.map((x, i) => x.sliceNsPerIter / s.base[i]!.sliceNsPerIter).filter(Number.isFinite);
    return [
      s.kind === 'open' ? 'open storm (open+close of a file no policy names)' : 'exec storm (fork+exec /bin/true)',
      `${base.toFixed(0)} ns`, `${traced.toFixed(0)} ns`, ratio(traced / base),
      `${ratio(median(pairs))} (${ratio(Math.min(...pairs))}-${ratio(Math.max(...pairs))}, ${pairs.length} pairs)`,
      count(Number(s.totals.evaluated)), count(Number(s.totals.matched)), count(Number(s.totals.posted)),
      count(s.fromStorm),
    ];
  });
  out.push(markdownTable([
    { title: 'workload', align: 'left' }, { title: 'no agent (CPU/iter)' }, { title: 'library (CPU/iter)' },
    { title: 'ratio' }, { title: 'pair ratios: median (spread)' }, { title: 'evaluated in kernel' }, { title: 'matched' }, { title: 'posted' },
    { title: 'storm events in user space' },
  ], rows), '');
  out.push('CPU/iter is the workload\'s own CPU time per iteration (median over slices, median of the runs), so the ' +
    'ratio (of those medians; beside it the median and range of the per-pair ratios) is what the policies cost the traced process. "evaluated" counts the events whose selectors the kernel ' +
    'ran (after each hook\'s own conditions), summed over the policies and the traced runs; none of the storms\' ' +
    'events matches a selector, so nothing is posted and user space receives none of them: the filtering is in the kernel.', '');
  const busy = [...(r.storms[0]?.perPolicy ?? new Map<string, Totals>()).entries()]
    .map(([name, t]) => [name, t, r.storms[1]?.perPolicy.get(name)] as const)
    .filter(([, a, b]) => a.evaluated > 0n || (b?.evaluated ?? 0n) > 0n);
  if (busy.length) {
    out.push(markdownTable([
      { title: 'policy', align: 'left' }, { title: 'open storm: evaluated' }, { title: 'posted' },
      { title: 'exec storm: evaluated' }, { title: 'posted' },
    ], busy.map(([name, a, b]) => [name, count(Number(a.evaluated)), count(Number(a.posted)),
      count(Number(b?.evaluated ?? 0n)), count(Number(b?.posted ?? 0n))])), '');
  }
  out.push('One more open storm with the library and kernel.bpf_stats_enabled = 1: the engine\'s programs, their runs ' +
    'and BPF time per iteration (open + close). What the ratio above adds beyond it is outside the programs: the ' +
    'tracepoint machinery (syscall slow path, trace records).', '');
  if (typeof r.bpfTime === 'string') {
    out.push(`(not measured: ${r.bpfTime})`, '');
  } else {
    const total = r.bpfTime.reduce((a, p) => a + p.nsPerIter, 0);
    out.push(markdownTable([
      { title: 'program', align: 'left' }, { title: 'runs per iteration' }, { title: 'ns per run' }, { title: 'ns per iteration' },
    ], [...r.bpfTime.map((p) => [p.name, p.runsPerIter.toFixed(2), count(p.nsPerRun), count(p.nsPerIter)]),
      ['**all**', '', '', `**${count(total)}**`]]), '');
  }
  const noise = r.storms.map((s) => `${s.kind}: ${count(s.received - s.fromStorm)}`).join(', ');
  out.push(`Events from the rest of the machine during the traced runs (not the storms): ${noise}.`, '');
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runPolicyBench({ log: (m) => process.stderr.write(`bench: ${m}\n`), workloadCpu: 0 })
    .then((r) => process.stdout.write(`${policyBenchReport(r)}\n`))
    .catch((e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`);
      process.exit(1);
    });
}
