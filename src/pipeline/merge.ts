// Time-ordered merge of several rings' events.
//
// Each ring is in order by itself (nearly: CPUs race to reserve), but rings
// are read in turn, so a process's exit (process ring) can be read before its
// file events (file ring). The merge holds events in a min-heap keyed by
// their kernel time (CLOCK_BOOTTIME) and releases, in order, those at or
// before a watermark: the pipeline takes the time T, drains every ring, and
// releases up to T - window. Every event stamped before T - window has been
// read by then, unless its record reached the ring more than `window` after
// its stamp (file and syscall events are stamped at the syscall's entry and
// sent at its exit, so a call that blocked longer than the window); such a
// late event goes out at the next release, ahead of the held ones (which are
// all later than it), and is counted as late. It is not emitted on arrival:
// the release comes after every ring was read, so the process it names is
// known by then. Equal times keep their arrival order.
//
// Memory is bounded: over maxHeld events, the oldest are released early
// (unless the consumer said stop: then the reader stops reading instead).

export interface MergeOptions<E> {
  /** The event's kernel time (CLOCK_BOOTTIME ns). */
  timeOf(e: E): bigint;
  /** Most events held at once; beyond it the oldest go out early. Default 65536. */
  maxHeld?: number;
}

interface Held<E> {
  time: bigint;
  seq: number;
  event: E;
}

export class TimeOrderedMerge<E> {
  private readonly heap: Held<E>[] = [];
  private seq = 0;
  /** Time of the last event released: an event stamped before it is late. */
  private releasedUpTo = -1n;
  readonly maxHeld: number;
  /** Events that arrived after later events had been released (counted, released at once). */
  late = 0;
  /** Events released before their watermark because maxHeld was reached. */
  early = 0;

  constructor(private readonly opts: MergeOptions<E>) {
    this.maxHeld = opts.maxHeld ?? 65_536;
  }

  get size(): number {
    return this.heap.length;
  }

  /**
   * Holds `e` until a release; returns false when it is late (stamped before
   * what was already released): it then goes out first at the next release.
   */
  push(e: E): boolean {
    const time = this.opts.timeOf(e);
    const late = time < this.releasedUpTo;
    if (late) this.late++;
    this.heap.push({ time, seq: this.seq++, event: e });
    this.up(this.heap.length - 1);
    return !late;
  }

  /**
   * Emits, in time order, every held event stamped at or before `watermark`,
   * and any beyond maxHeld; stops early (events stay held) once `stop()` says so.
   */
  release(watermark: bigint, emit: (e: E) => void, stop?: () => boolean): number {
    let n = 0;
    while (this.heap.length) {
      if (stop?.()) return n;
      const top = this.heap[0]!;
      if (top.time > watermark && this.heap.length <= this.maxHeld) break;
      if (top.time > watermark) this.early++;
      this.pop();
      if (top.time > this.releasedUpTo) this.releasedUpTo = top.time;
      emit(top.event);
      n++;
    }
    if (watermark > this.releasedUpTo) this.releasedUpTo = watermark;
    return n;
  }

  /** Emits everything held, in time order (at close). */
  flush(emit: (e: E) => void): number {
    let n = 0;
    while (this.heap.length) {
      const top = this.pop();
      if (top.time > this.releasedUpTo) this.releasedUpTo = top.time;
      emit(top.event);
      n++;
    }
    return n;
  }

  private less(a: Held<E>, b: Held<E>): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private pop(): Held<E> {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      this.down(0);
    }
    return top;
  }

  private up(i: number): void {
    const h = this.heap;
    const x = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(x, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = x;
  }

  private down(i: number): void {
    const h = this.heap;
    const x = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && this.less(h[r]!, h[l]!) ? r : l;
      if (!this.less(h[c]!, x)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = x;
  }
}
