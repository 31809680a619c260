// Live rules benchmark, with Falco's stable rules (../shared/compat/falco/falco_rules.yaml):
//
//  1. Record: the live pipeline (src/rules/live.ts: process, file and
//     syscall-event sensors, only the event types the rules need) runs for a
//     few seconds over the host's own activity plus a small generated mix
//     (paced opens, execs, loopback connects, ptrace, dup2), and every
//     RuleEvent it evaluates is written to bench/.output/rules-events.jsonl
//     (processes with their ancestors, once each).
//  2. Replay: the recorded events through the engine, without the kernel:
//     condition evaluations per second (each event against the rules of its
//     type, as the engine runs), and against every rule (no type index).
//  3. Live: the pipeline attached host-wide while bench/.output/openstorm
//     opens a file at increasing paced rates and then unpaced: events of the
//     storm evaluated per second, events lost, and the agent's (this
//     process's) CPU and memory. The highest rate with nothing lost is what
//     the pipeline sustains.
//  4. bench/rules.ts's synthetic mix (runRulesBench), for comparison.
//
//   node dist/bench/rules-live.js      (bench/run.ts --only rules includes it)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { RuleEngine } from '../src/rules/engine.js';
import { LiveRules } from '../src/rules/live.js';
import { FilterSet } from '../src/sensors/filter.js';
import type { RuleEvent, RuleProcess } from '../src/rules/event.js';
import { repoPath } from '../src/util/paths.js';
import { replayEvents, runRulesBench, type Row } from './rules.js';
import { Storm } from './storm.js';
import { count, markdownTable, percent, rate } from './table.js';

export interface RulesLiveBenchOptions {
  rulesFile?: string;
  /** Recording time (default 3000 ms). */
  recordMs?: number;
  /** Time per replay row (default 1000 ms). */
  replayMs?: number;
  /** Each open storm's loop (default 1000 ms). */
  stormMs?: number;
  /** Paced open rates tried before the unpaced run (default 5k, 20k, 50k, 100k, 200k). */
  rates?: number[];
  workloadCpu?: number;
  log?: (msg: string) => void;
}

// ---------------------------------------------------------------- recording

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function toJson(v: unknown): Json {
  if (v === undefined) return null;
  if (typeof v === 'bigint') return { $big: v.toString() };
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64') };
  if (Array.isArray(v)) return v.map(toJson);
  if (v && typeof v === 'object') {
    const o: Record<string, Json> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = toJson(x);
    return o;
  }
  return v as Json;
}

function fromJson(v: Json): unknown {
  if (Array.isArray(v)) return v.map(fromJson);
  if (v && typeof v === 'object') {
    if ('$big' in v && typeof v.$big === 'string') return BigInt(v.$big);
    if ('$bytes' in v && typeof v.$bytes === 'string') return new Uint8Array(Buffer.from(v.$bytes, 'base64'));
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = fromJson(x);
    return o;
  }
  return v;
}

const PROCESS_FIELDS: readonly (keyof RuleProcess)[] = [
  'pid', 'tid', 'vpid', 'vtid', 'ppid', 'name', 'exe', 'exepath', 'args', 'env', 'cwd', 'tty', 'startTimeNs', 'sid',
  'sname', 'vpgid', 'uid', 'gid', 'loginuid', 'userName', 'groupName', 'loginName', 'capEffective', 'capPermitted',
  'capInheritable', 'exeFromMemfd', 'exeUpperLayer', 'exeWritable', 'exeInoCtimeNs', 'exeInoMtimeNs',
];

/** Writes events as JSON lines: each process once ({"p":id,...,"parent":id}), parents first; then {"e":{...,"process":id}}. */
export class EventRecorder {
  private readonly ids = new Map<RuleProcess, number>();
  private readonly lines: string[] = [];
  events = 0;

  private processId(p: RuleProcess, depth = 0): number {
    const known = this.ids.get(p);
    if (known !== undefined) return known;
    const parent = depth < 16 && p.parent ? this.processId(p.parent, depth + 1) : undefined;
    const id = this.ids.size;
    this.ids.set(p, id);
    const rec: Record<string, unknown> = { p: id };
    for (const k of PROCESS_FIELDS) if (p[k] !== undefined) rec[k] = p[k];
    if (parent !== undefined) rec.parent = parent;
    this.lines.push(JSON.stringify(toJson(rec)));
    return id;
  }

  add(ev: RuleEvent): void {
    const process = ev.process ? this.processId(ev.process) : undefined;
    this.lines.push(JSON.stringify({ e: toJson({ ...ev, process }) }));
    this.events++;
  }

  write(file: string): void {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${this.lines.join('\n')}\n`);
  }
}

/**
 * Reads a recording back: fresh RuleEvent objects, processes shared with their
 * parents linked. Every process and event is built with the same keys in the
 * same order (as the live adapter's objects are), so the replay measures the
 * conditions, not property lookups over objects of many shapes.
 */
export function readRecording(file: string): RuleEvent[] {
  const procs = new Map<number, RuleProcess>();
  const events: RuleEvent[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const rec = JSON.parse(line) as { p?: number; e?: Json; parent?: number };
    if (rec.p !== undefined) {
      const p = fromJson(rec as Json) as Record<string, unknown>;
      const shaped: Record<string, unknown> = {};
      for (const k of PROCESS_FIELDS) shaped[k] = p[k];
      shaped.parent = rec.parent === undefined ? undefined : procs.get(rec.parent);
      procs.set(rec.p, shaped as unknown as RuleProcess);
    } else if (rec.e) {
      const e = fromJson(rec.e) as Record<string, unknown>;
      const pid = e.process as number | undefined;
      events.push({
        type: e.type as string, dir: e.dir as RuleEvent['dir'], num: e.num as number | undefined, timeNs: e.timeNs as bigint,
        res: e.res as number | undefined, args: e.args as RuleEvent['args'], buffer: e.buffer as Uint8Array | undefined,
        process: pid === undefined ? undefined : procs.get(pid), fd: e.fd as RuleEvent['fd'],
        container: e.container as RuleEvent['container'], k8s: e.k8s as RuleEvent['k8s'],
      });
    }
  }
  return events;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A small mix of the activity the stable rules watch, besides the host's own. */
async function generateMix(durationMs: number, file: string): Promise<void> {
  const end = Date.now() + durationMs;
  const server = net.createServer((c) => c.end()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const scenarios = repoPath('test', '.output', 'falco_scenarios');
  const storm = await Storm.spawn({ kind: 'open', path: file, count: 1_000_000, durationMs, rate: 2000 });
  storm.start();
  let i = 0;
  while (Date.now() < end) {
    // a shell that connects (socket, connect, dup2 through bash's /dev/tcp) and runs a program (the agent's own calls are not sensed)
    spawnSync('/bin/bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}; cat /etc/hostname > /dev/null; exec 3>&-`], { stdio: 'ignore' });
    if (i++ % 10 === 0) spawnSync(scenarios, ['ptraceattach'], { stdio: 'ignore' });
    await sleep(20);
  }
  await storm.finished(durationMs + 5000).catch(() => undefined);
  server.close();
}

// ---------------------------------------------------------------- replay

/**
 * Rows measured in interleaved rounds (row 1, row 2, row 3, row 1, ...), each
 * run durationMs / repeat; each row keeps its median run. Interleaving spreads
 * whatever else the machine does over all rows alike.
 */
function timedRows(rows: readonly { name: string; step: (ev: RuleEvent) => [number, number] }[], durationMs: number,
  events: readonly RuleEvent[], repeat = 3): Row[] {
  const runs: Row[][] = rows.map(() => []);
  for (let r = 0; r < repeat; r++) {
    rows.forEach(({ name, step }, k) => runs[k]!.push(replayEvents(name, durationMs / repeat, events, step)));
  }
  return runs.map((rs) => rs.sort((a, b) => a.events / a.ms - b.events / b.ms)[Math.floor(rs.length / 2)]!);
}

// ---------------------------------------------------------------- live

interface LiveRow {
  target: number;
  /** storm: the pipeline's in-kernel filter passes the storm's process only; host: no filter. */
  scope: 'storm' | 'host';
  iterations: number;
  stormSeconds: number;
  evaluated: number;
  /** Lost by the file sensor (the storm's opens) and by the other sensors (the host's activity). */
  lost: number;
  lostOther: number;
  cpuPercent: number;
  rssMiB: number;
  heapMiB: number;
  otherEvents: number;
}

export interface RulesLiveBenchResult {
  rulesFile: string;
  rules: number;
  recordFile: string;
  recorded: number;
  recordedTypes: Map<string, number>;
  replay: Row[];
  replayAlerts: number;
  live: LiveRow[];
  liveTypes: { fileSyscalls: readonly string[]; sysCalls: readonly string[]; rawCalls: readonly string[] };
  baselineRssMiB: number;
  synthetic: string;
  notes: string[];
}

export async function runRulesLiveBench(o: RulesLiveBenchOptions = {}): Promise<RulesLiveBenchResult> {
  const log = o.log ?? (() => undefined);
  const rulesFile = o.rulesFile ?? repoPath('..', 'shared', 'compat', 'falco', 'falco_rules.yaml');
  const recordFile = repoPath('bench', '.output', 'rules-events.jsonl');
  const notes: string[] = [];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vigil-rules-bench-'));
  const file = path.join(tmp, 'opened');
  writeFileSync(file, 'x');
  try {
    // The live runs first, while this process holds nothing else (its memory is the pipeline's).
    log('rules: live pipeline under the open storm');
    const baselineRssMiB = process.memoryUsage().rss / 2 ** 20;
    const liveRows: LiveRow[] = [];
    let liveTypes: RulesLiveBenchResult['liveTypes'] = { fileSyscalls: [], sysCalls: [], rawCalls: [] };
    const eng = RuleEngine.load([rulesFile], { hostname: 'bench' });
    const liveRun = async (target: number, scope: 'storm' | 'host'): Promise<LiveRow> => {
      // The storm is held before its loop while the pipeline starts; scoped to it, the pipeline's
      // in-kernel filter passes its events only (other work on the machine is dropped in the kernel).
      const storm = await Storm.spawn({ kind: 'open', path: file, count: 10_000_000, durationMs: o.stormMs ?? 1000, rate: target, cpu: o.workloadCpu });
      const stormPid = storm.pid;
      let stormEvents = 0;
      let otherEvents = 0;
      const filter = scope === 'storm' ? new FilterSet({ pids: [stormPid] }) : undefined;
      let live: LiveRules | undefined;
      try {
        live = await LiveRules.start({
          engine: eng, filter, sink: { write: () => undefined, close: async () => undefined },
          onEvent: (ev) => {
            if (ev.process?.pid === stormPid) stormEvents++;
            else otherEvents++;
          },
        });
        liveTypes = live.describe();
        const lost0 = live.stats().lost;
        let peakRss = 0;
        let peakHeap = 0;
        const sampler = setInterval(() => {
          const m = process.memoryUsage();
          peakRss = Math.max(peakRss, m.rss);
          peakHeap = Math.max(peakHeap, m.heapUsed);
        }, 25);
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        storm.start();
        const rep = await storm.finished((o.stormMs ?? 1000) + 10_000);
        // the pipeline may lag the loop: wait until the storm's events stop arriving (bounded)
        let last = -1;
        for (let i = 0; i < 100 && stormEvents !== last; i++) {
          last = stormEvents;
          live.drain();
          await sleep(50);
        }
        const wall = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        clearInterval(sampler);
        const lost1 = live.stats().lost;
        return {
          target, scope, iterations: rep.iterations, stormSeconds: rep.elapsedNs / 1e9, evaluated: stormEvents,
          lost: lost1.file - lost0.file, lostOther: lost1.process + lost1.sys - (lost0.process + lost0.sys),
          cpuPercent: ((cpu.user + cpu.system) / 1e6 / wall) * 100,
          rssMiB: peakRss / 2 ** 20, heapMiB: peakHeap / 2 ** 20, otherEvents,
        };
      } finally {
        storm.kill();
        await live?.close();
        filter?.close();
      }
    };
    for (const target of [...(o.rates ?? [5000, 20_000, 50_000, 100_000, 200_000]), 0]) {
      const row = await liveRun(target, 'storm');
      liveRows.push(row);
      log(`rules: storm ${target || 'max'}/s: ${row.iterations} opens, ${row.evaluated} evaluated, lost ${row.lost}`);
    }
    for (const target of [20_000, 0]) {
      const row = await liveRun(target, 'host');
      liveRows.push(row);
      log(`rules: host-wide, storm ${target || 'max'}/s: ${row.iterations} opens, ${row.evaluated} evaluated, lost ${row.lost}`);
    }

    // Record, then replay.
    log('rules: recording live events');
    const recorder = new EventRecorder();
    let alerts = 0;
    {
      const engine = RuleEngine.load([rulesFile], { hostname: 'bench' });
      const live = await LiveRules.start({
        engine, sink: { write: () => undefined, close: async () => undefined }, onEvent: (ev) => recorder.add(ev),
        onAlert: () => alerts++,
      });
      try {
        await generateMix(o.recordMs ?? 3000, file);
        live.drain();
      } finally {
        await live.close();
      }
      const lost = live.lost;
      if (lost.process + lost.file + lost.sys) notes.push(`recording lost ${lost.process + lost.file + lost.sys} events`);
    }
    recorder.write(recordFile);
    const events = readRecording(recordFile);
    const types = new Map<string, number>();
    for (const e of events) types.set(e.type, (types.get(e.type) ?? 0) + 1);
    log(`rules: recorded ${events.length} events (${alerts} alerts)`);

    const engine = RuleEngine.load([rulesFile], { hostname: 'bench', ruleMatching: 'all' });
    const all = engine.activeRules;
    const replayMs = o.replayMs ?? 1500;
    const replay: Row[] = [];
    if (events.length) {
      // Every step once before any is timed: the first timed row should not pay for the others' JIT and the recording's garbage.
      for (let i = 0; i < Math.min(events.length, 50_000); i++) {
        const ev = events[i]!;
        for (const r of all) r.condition(ev);
        engine.evaluate(ev);
      }
      replay.push(...timedRows([
        { name: "indexed (rules of the event's type)", step: (ev) => {
          const rs = engine.rulesFor(ev.type);
          let m = 0;
          for (let i = 0; i < rs.length; i++) if (rs[i]!.condition(ev)) m++;
          return [rs.length, m];
        } },
        { name: `every rule (${all.length} conditions per event)`, step: (ev) => {
          let m = 0;
          for (let i = 0; i < all.length; i++) if (all[i]!.condition(ev)) m++;
          return [all.length, m];
        } },
        { name: 'indexed, building alerts (evaluate())', step: (ev) => {
          const a = engine.evaluate(ev);
          return [engine.rulesFor(ev.type).length, a.length];
        } },
      ], replayMs * 3, events));
    }

    // 4. the synthetic mix
    const synthetic = await runRulesBench({ durationMs: replayMs, rulesFile });
    return {
      rulesFile, rules: all.length, recordFile, recorded: events.length, recordedTypes: types, replay,
      replayAlerts: alerts, live: liveRows, liveTypes, baselineRssMiB, synthetic, notes,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function rulesLiveBenchReport(r: RulesLiveBenchResult): string {
  const out: string[] = [];
  out.push('## Falco rules, live', '');
  const typeList = [...r.recordedTypes].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ${count(n)}`).join(', ');
  out.push(`${r.rules} stable rules (${path.basename(r.rulesFile)}). The kernel is asked for: exec, ` +
    `files (${r.liveTypes.fileSyscalls.join(', ')}), syscalls (${[...r.liveTypes.sysCalls, ...r.liveTypes.rawCalls].join(', ')}).`, '');
  out.push('### Condition evaluations per second over a recorded event mix', '');
  out.push(`${count(r.recorded)} real events recorded from the sensors (this host's activity plus paced opens, ` +
    `shell execs, loopback connects and ptrace), ${r.replayAlerts} alerts while recording; by type: ${typeList}. ` +
    `Replayed from ${path.relative(process.cwd(), r.recordFile)} through the engine, one core, no kernel; ` +
    'rows measured in three interleaved rounds, each row\'s median round shown.', '');
  out.push(markdownTable([
    { title: 'evaluation', align: 'left' }, { title: 'events/s' }, { title: 'conditions/event' },
    { title: 'condition evals/s' }, { title: 'ns/condition' }, { title: 'matches/s' },
  ], r.replay.map((x) => {
    const s = x.ms / 1000;
    return [x.name, rate(x.events / s), (x.evaluations / x.events).toFixed(2), rate(x.evaluations / s),
      x.evaluations ? ((x.ms * 1e6) / x.evaluations).toFixed(0) : '-', count(x.matches / s)];
  })), '');
  out.push('### The live pipeline under the open storm', '');
  out.push('bench/.output/openstorm opens and closes one file (openat) at each paced rate, then unpaced ("max"), ' +
    'on the workload CPU. Vigil (this process) runs the stable rules, started afresh for each run: every open is ' +
    'decoded, given its process from the cache and evaluated against the openat rules. Scoped to the storm, the ' +
    'in-kernel pid filter keeps the rest of the machine out (what the pipeline itself sustains); host-wide rows ' +
    'take everything the machine does besides (*other events*: how much of it was evaluated meanwhile). ' +
    '*evaluated* counts the storm\'s own events; *lost* is counted by the kernel (ring full), in the file sensor ' +
    '(the storm\'s opens) and in the others; *agent CPU* is this process\'s user+system time over the run\'s wall ' +
    'time (100% = one core); memory is the peak RSS and JS heap during the run (RSS of this process before the ' +
    `first pipeline started: ${r.baselineRssMiB.toFixed(0)} MiB; the rings are 4 MiB for files and syscalls, ` +
    '1 MiB for processes).', '');
  out.push(markdownTable([
    { title: 'scope', align: 'left' }, { title: 'target opens/s' }, { title: 'opens made' }, { title: 'opens/s made' }, { title: 'evaluated' },
    { title: 'evaluated/s' }, { title: 'lost (files)' }, { title: 'lost (other)' }, { title: 'agent CPU' }, { title: 'peak RSS' }, { title: 'peak heap' },
    { title: 'other events' },
  ], r.live.map((x) => [
    x.scope === 'storm' ? 'the storm (pid filter)' : 'host-wide', x.target ? rate(x.target) : 'max', count(x.iterations), rate(x.iterations / x.stormSeconds), count(x.evaluated),
    rate(x.evaluated / x.stormSeconds), count(x.lost), count(x.lostOther), percent(x.cpuPercent), `${x.rssMiB.toFixed(0)} MiB`,
    `${x.heapMiB.toFixed(0)} MiB`, count(x.otherEvents),
  ])), '');
  const clean = r.live.filter((x) => x.scope === 'storm' && x.lost === 0 && x.evaluated >= x.iterations);
  const best = clean.reduce<LiveRow | undefined>((b, x) => (!b || x.iterations / x.stormSeconds > b.iterations / b.stormSeconds ? x : b), undefined);
  out.push(best
    ? `Sustained without loss: ${rate(best.iterations / best.stormSeconds)} opens/s evaluated (${best.target ? 'paced' : 'unpaced'}), agent CPU ${percent(best.cpuPercent)}.`
    : 'No run was free of loss.', '');
  out.push('### Synthetic event mix (bench/rules.ts)', '', r.synthetic, '');
  for (const n of r.notes) out.push(`Note: ${n}.`, '');
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await runRulesLiveBench({ log: (m) => process.stderr.write(`bench: ${m}\n`) });
  process.stdout.write(`${rulesLiveBenchReport(r)}\n`);
}
