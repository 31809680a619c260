// The agent's profile sensor (`profile` in sensors): on-CPU stacks sampled
// on every CPU at profile.frequency, counted in the kernel per thread and
// stack (bpf/profile.bpf.c), drained every second, and each profile.interval
// symbolised, folded per process and handed to the store's sink as rows of
// profile_samples (the sink's bound and loss counts apply: sensor "profile").
import { Profiler } from '../profile/profiler.js';
import type { ProcessInfo } from '../sensors/events.js';
import { profileRows } from '../store/rows.js';
import type { StoreSink } from '../store/sink.js';

export interface AgentProfileOptions {
  frequency: number;
  intervalMs: number;
  sink: Pick<StoreSink<unknown>, 'offerRows' | 'flush'>;
  /** The process of a pid (exec id, binary, container) from the agent's process cache. */
  processOf(pid: number): ProcessInfo | undefined;
  onError(message: string): void;
}

/** How long a stop waits for the symbol tables of the last interval (the rest of its frames go unnamed). */
const CLOSE_SETTLE_MS = 1000;

export class AgentProfile {
  private timer: NodeJS.Timeout | undefined;
  private cutting: Promise<void> | undefined;
  private closed = false;
  /** Rows handed to the store's sink since the start. */
  rows = 0;

  private constructor(private readonly profiler: Profiler, private readonly opts: AgentProfileOptions) {}

  static async start(opts: AgentProfileOptions): Promise<AgentProfile> {
    const profiler = await Profiler.start({ mode: 'cpu', frequency: opts.frequency, drainMs: 1000 });
    const p = new AgentProfile(profiler, opts);
    p.timer = setInterval(() => {
      // A cut still symbolising (a huge interval) is not stacked up behind.
      p.cutting ??= p.cut(true).finally(() => (p.cutting = undefined));
    }, opts.intervalMs);
    p.timer.unref();
    return p;
  }

  /** Ends the interval: its stacks, symbolised, go to the store (after the symbol tables parse, when `settle`). */
  private async cut(settle: boolean): Promise<void> {
    try {
      if (settle) await this.profiler.settle();
      if (this.closed && settle) return;
      const rows = profileRows(this.profiler.cut(), this.opts.processOf);
      this.opts.sink.offerRows('profile', 'profile_samples', rows);
      this.opts.sink.flush();
      this.rows += rows.length;
    } catch (e) {
      // An interval cut short by the stop is not an error.
      if (!(this.closed && settle)) this.opts.onError((e as Error).message.split('\n')[0]!);
    }
  }

  /**
   * The interval under way goes to the store too (its symbol tables waited
   * for a second at most: a stop stays quick), then the sampler stops. A cut
   * still waiting for its tables gives way to this one.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.profiler.settle(), new Promise((r) => (timer = setTimeout(r, CLOSE_SETTLE_MS)))]).catch(() => undefined);
    clearTimeout(timer);
    await this.cut(false);
    this.profiler.close();
  }
}
