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
//
// Held events are kept per lane (laneOf: the ring they came from), each lane
// a sorted run: a ring is nearly in order by itself, so an event is almost
// always appended, and a release is a k-way merge of the lanes' heads (k
// compares per event for k rings, instead of a heap's 2·log2(held); no
// object per held event).
//
// A lane can also live outside the merge (addLane): a ring's raw records
// held as bytes and decoded only when released (src/pipeline/record-lane.ts),
// so that nothing of a held event is a JavaScript object the collector has
// to copy while it waits out the window.

/**
 * Where a record stamped `time` goes among times[head, end) (held in time order): after every one not later
 * than it, so records of one time keep their arrival order. Nearly always in order: `end` (appended).
 */
export function insertionPoint(times: ArrayLike<bigint>, head: number, end: number, time: bigint): number {
  if (end <= head || times[end - 1]! <= time) return end;
  let lo = head;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid]! <= time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface MergeOptions<E> {
  /** The event's kernel time (CLOCK_BOOTTIME ns). */
  timeOf(e: E): bigint;
  /** The ring an event came from (each is nearly in order by itself). Default: one lane. */
  laneOf?(e: E): string;
  /** Most events held at once; beyond it the oldest go out early. Default 65536. */
  maxHeld?: number;
}

/** A lane of held events sorted by (time, arrival), as the release reads it. */
export interface MergeLane<E> {
  /** Events held. */
  readonly size: number;
  /** The first held event's time and arrival number (size > 0). */
  headTime(): bigint;
  headSeq(): number;
  /** Takes the first held event. */
  shift(): E;
}

/** One ring's held events, sorted by (time, arrival); [head, length) is held. */
class Lane<E> implements MergeLane<E> {
  times: bigint[] = [];
  seqs: number[] = [];
  events: E[] = [];
  head = 0;

  get size(): number {
    return this.times.length - this.head;
  }

  headTime(): bigint {
    return this.times[this.head]!;
  }

  headSeq(): number {
    return this.seqs[this.head]!;
  }

  insert(time: bigint, seq: number, e: E): void {
    const t = this.times;
    const i = insertionPoint(t, this.head, t.length, time);
    if (i < t.length) {
      t.splice(i, 0, time);
      this.seqs.splice(i, 0, seq);
      this.events.splice(i, 0, e);
      return;
    }
    t.push(time);
    this.seqs.push(seq);
    this.events.push(e);
  }

  shift(): E {
    const e = this.events[this.head]!;
    this.events[this.head] = undefined as E; // released: not kept alive
    this.head++;
    if (this.head === this.times.length) {
      this.times.length = 0;
      this.seqs.length = 0;
      this.events.length = 0;
      this.head = 0;
    } else if (this.head >= 4096 && this.head * 2 >= this.times.length) {
      this.times.splice(0, this.head);
      this.seqs.splice(0, this.head);
      this.events.splice(0, this.head);
      this.head = 0;
    }
    return e;
  }
}

export class TimeOrderedMerge<E> {
  private readonly lanes = new Map<string, Lane<E>>();
  /** The lanes as a list, for the release's scan (with the lanes added from outside). */
  private readonly laneList: MergeLane<E>[] = [];
  private seq = 0;
  private held = 0;
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
    return this.held;
  }

  /**
   * Holds `e` until a release; returns false when it is late (stamped before
   * what was already released): it then goes out first at the next release.
   */
  push(e: E): boolean {
    const time = this.opts.timeOf(e);
    const late = time < this.releasedUpTo;
    if (late) this.late++;
    const name = this.opts.laneOf?.(e) ?? '';
    let lane = this.lanes.get(name);
    if (!lane) {
      lane = new Lane<E>();
      this.lanes.set(name, lane);
      this.laneList.push(lane);
    }
    lane.insert(time, this.seq++, e);
    this.held++;
    return !late;
  }

  /**
   * A lane that holds its events itself (a ring's raw records): it calls
   * admit() for each event it takes and gives them back through shift().
   */
  addLane(lane: MergeLane<E>): void {
    this.laneList.push(lane);
  }

  /**
   * Counts an event an added lane now holds (as push() counts its own);
   * returns its arrival number, which the lane keeps with it for ties.
   * A late one (stamped before what was already released) is counted as late.
   */
  admit(time: bigint): number {
    if (time < this.releasedUpTo) this.late++;
    this.held++;
    return this.seq++;
  }

  /** The lane whose head goes out next (earliest time, then earliest arrival), or undefined when none holds any. */
  private next(): MergeLane<E> | undefined {
    let best: MergeLane<E> | undefined;
    let bestTime = 0n;
    let bestSeq = 0;
    const lanes = this.laneList;
    for (let i = 0; i < lanes.length; i++) {
      const l = lanes[i]!;
      if (l.size === 0) continue;
      const t = l.headTime();
      if (!best || t < bestTime || (t === bestTime && l.headSeq() < bestSeq)) {
        best = l;
        bestTime = t;
        bestSeq = l.headSeq();
      }
    }
    return best;
  }

  /**
   * Emits, in time order, every held event stamped at or before `watermark`,
   * and any beyond maxHeld; stops early (events stay held) once `stop()` says so.
   */
  release(watermark: bigint, emit: (e: E) => void, stop?: () => boolean): number {
    let n = 0;
    while (this.held) {
      if (stop?.()) return n;
      const lane = this.next()!;
      const time = lane.headTime();
      if (time > watermark) {
        if (this.held <= this.maxHeld) break;
        this.early++;
      }
      const e = lane.shift();
      this.held--;
      if (time > this.releasedUpTo) this.releasedUpTo = time;
      emit(e);
      n++;
    }
    if (watermark > this.releasedUpTo) this.releasedUpTo = watermark;
    return n;
  }

  /** Emits everything held, in time order (at close). */
  flush(emit: (e: E) => void): number {
    let n = 0;
    while (this.held) {
      const lane = this.next()!;
      const time = lane.headTime();
      const e = lane.shift();
      this.held--;
      if (time > this.releasedUpTo) this.releasedUpTo = time;
      emit(e);
      n++;
    }
    return n;
  }
}
