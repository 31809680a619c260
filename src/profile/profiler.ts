// A profiling session: the sampler drained on a short timer (so the kernel
// maps stay small and stack-map collisions rare), the symbolizer fed with
// every process as soon as it is sampled (so processes that exit mid-profile
// still resolve), and `cut()` to end one profile and start the next.
// The symbol tables of the files samples fall in, and kallsyms, are parsed on
// the symbolizer's worker threads as samples are drained: ending a profile,
// Ctrl-C included, is then lookups in warm caches rather than seconds of ELF
// and kallsyms parsing on this thread.
import { Symbolizer, type SymbolizerOptions } from '../kernel/symbols/index.js';
import { Sampler, type SamplerCounters, type SamplerOptions } from './sampler.js';
import { RawAccumulator, symbolize, type Profile } from './profile.js';

export interface ProfilerOptions extends Omit<SamplerOptions, 'onNewProcess'> {
  /** How often the kernel maps are drained into user space (ms); default 1000. */
  drainMs?: number;
  /**
   * A symbolizer to use (and not close); by default the profiler makes its own, which parses on
   * worker threads. One made without parseInBackground parses what the cut needs, at the cut.
   */
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
      // The symbols' tables are parsed on the symbolizer's threads as the samples arrive.
      for (const s of r.samples) if (s.user.addrs.length) this.symbolizer.prefetch(s.pid, s.user.addrs);
    } catch (e) {
      this.drainError ??= e;
    }
  }

  /**
   * Drains, then waits (without blocking this thread: a second Ctrl-C is answered at once) for the
   * symbol tables still being parsed. Call it before cut() when the caller can wait: the cut then
   * finds the tables parsed.
   */
  async settle(): Promise<void> {
    this.drain();
    await this.symbolizer.idle();
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
    this.sampler.close();
    if (this.ownSymbolizer) this.symbolizer.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
