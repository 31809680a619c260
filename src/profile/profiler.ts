// A profiling session: the sampler drained on a short timer (so the kernel
// maps stay small and stack-map collisions rare), the symbolizer fed with
// every process as soon as it is sampled (so processes that exit mid-profile
// still resolve), and `cut()` to end one profile and start the next.
// Symbols are resolved as samples arrive (warmSymbols after each drain, one
// process at a time between other work): ending a profile, Ctrl-C included,
// is then lookups in warm caches rather than seconds of ELF and kallsyms
// parsing.
import { Symbolizer, type SymbolizerOptions } from '../kernel/symbols/index.js';
import { Sampler, type RawSample, type SamplerCounters, type SamplerOptions } from './sampler.js';
import { RawAccumulator, symbolize, warmSymbols, type Profile } from './profile.js';

const MAX_WARM_PROCESSES = 1024;

export interface ProfilerOptions extends Omit<SamplerOptions, 'onNewProcess'> {
  /** How often the kernel maps are drained into user space (ms); default 1000. */
  drainMs?: number;
  /** A symbolizer to use (and not close); by default the profiler makes its own. */
  symbolizer?: Symbolizer;
  symbolizerOptions?: SymbolizerOptions;
}

export class Profiler implements Disposable {
  private acc = new RawAccumulator();
  private timer: NodeJS.Timeout | undefined;
  private readonly ownSymbolizer: boolean;
  private closed = false;
  private lastCut = Date.now();
  /** Errors of the background drain, rethrown by the next cut(). */
  private drainError: unknown;
  /** Drained samples whose symbols are still to be warmed, by process; one process a turn of the event loop. */
  private readonly toWarm = new Map<number, RawSample[]>();
  private warming: NodeJS.Immediate | undefined;

  private constructor(readonly sampler: Sampler, readonly symbolizer: Symbolizer, ownSymbolizer: boolean) {
    this.ownSymbolizer = ownSymbolizer;
  }

  static async start(opts: ProfilerOptions = {}): Promise<Profiler> {
    // Its own symbolizer parses symbol tables on worker threads as samples are drained: this
    // thread keeps draining, and a stop finds most tables ready.
    const sym = opts.symbolizer ?? new Symbolizer({ parseInBackground: true, ...opts.symbolizerOptions });
    const own = !opts.symbolizer;
    let profiler: Profiler | undefined;
    try {
      const sampler = await Sampler.start({
        ...opts,
        onNewProcess: (pid) => profiler?.capture(pid),
      });
      profiler = new Profiler(sampler, sym, own);
      // Kernel stacks are in every profile: kallsyms is read on a parsing thread from the start.
      sym.prefetchKernel();
      const every = Math.max(50, opts.drainMs ?? 1000);
      const p = profiler;
      p.timer = setInterval(() => p.drain(), every);
      p.timer.unref();
      return p;
    } catch (e) {
      if (own) sym.close();
      throw e;
    }
  }

  private capture(pid: number): void {
    if (this.closed) return;
    this.symbolizer.captureProcess(pid);
  }

  /** Moves what the kernel counted so far into this profile. */
  drain(): void {
    if (this.closed) return;
    try {
      const r = this.sampler.collect();
      // Re-read the maps of every process sampled (cheap when unchanged): libraries
      // loaded since the first sample, perf maps that grew.
      const pids = new Set(r.samples.map((s) => s.pid));
      for (const pid of pids) if (pid) this.capture(pid);
      this.acc.add(r);
      if (this.symbolizer.options.parseInBackground) {
        // The symbols' tables are parsed on the symbolizer's threads as the samples arrive.
        for (const s of r.samples) if (s.user.addrs.length) this.symbolizer.prefetch(s.pid, s.user.addrs);
        return;
      }
      for (const s of r.samples) {
        const list = this.toWarm.get(s.pid);
        if (list) list.push(s);
        // Opportunistic: past this many processes waiting, the rest are resolved by the cut.
        else if (this.toWarm.size < MAX_WARM_PROCESSES) this.toWarm.set(s.pid, [s]);
      }
      this.scheduleWarm();
    } catch (e) {
      this.drainError ??= e;
    }
  }

  private scheduleWarm(): void {
    if (this.warming || this.closed || !this.toWarm.size) return;
    this.warming = setImmediate(() => {
      this.warming = undefined;
      // cut() may have emptied the queue since this turn was scheduled.
      const next = this.toWarm.entries().next();
      if (this.closed || next.done) return;
      const [pid, samples] = next.value;
      this.toWarm.delete(pid);
      try {
        warmSymbols(samples, this.symbolizer);
      } catch {
        // Warming only fills caches: the cut that needs these symbols meets the same error and reports it.
      }
      this.scheduleWarm();
    });
  }

  /**
   * Drains, then resolves the symbols still waiting one process per turn of the event loop, so a
   * signal (a second Ctrl-C) is answered between processes instead of after the whole cut. Call it
   * before cut() when the caller can wait: the cut then finds the tables parsed.
   */
  async settle(): Promise<void> {
    this.drain();
    // Tables being parsed on the worker thread land first (this thread stays free meanwhile).
    await this.symbolizer.idle();
    if (this.warming) {
      clearImmediate(this.warming);
      this.warming = undefined;
    }
    // The processes waiting now: those a later drain adds are left to the cut, so a storm of new
    // processes cannot keep this loop going.
    for (const [pid, samples] of [...this.toWarm]) {
      if (this.closed) return;
      if (!this.toWarm.delete(pid)) continue;
      try {
        warmSymbols(samples, this.symbolizer);
      } catch {
        // As in scheduleWarm: the cut meets the same error and reports it.
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Ends the current profile and returns it, symbolised; the next one starts now. */
  cut(): Profile {
    if (this.closed) throw new Error('profiler is closed');
    this.drain();
    if (this.drainError) {
      const e = this.drainError;
      this.drainError = undefined;
      throw e;
    }
    let raw;
    try {
      raw = this.acc.interval();
    } catch {
      // Nothing drained (cannot happen after drain() above unless it failed): an empty profile.
      raw = { mode: this.sampler.mode, frequency: this.sampler.frequency, startMs: this.lastCut, endMs: Date.now(),
        samples: [], counters: this.sampler.counters(), stacksRead: 0 };
    }
    raw.startMs = this.lastCut;
    this.lastCut = raw.endMs;
    this.acc = new RawAccumulator();
    // The cut resolves everything itself: what was not warmed yet is done here.
    this.toWarm.clear();
    const profile = symbolize(raw, this.symbolizer);
    // Processes that are gone have had all their samples symbolised: drop their captures.
    this.symbolizer.forgetExited();
    return profile;
  }

  counters(): SamplerCounters {
    return this.sampler.counters();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.warming) clearImmediate(this.warming);
    this.toWarm.clear();
    this.sampler.close();
    if (this.ownSymbolizer) this.symbolizer.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
