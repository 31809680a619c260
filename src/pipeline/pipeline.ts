// The event pipeline: rings in, sinks out.
//
//   sensors (one ring each) ──push──► time-ordered merge ──► accept ──► sink ─► output
//                                                                   └─► sink ─► output
//                                                         └─► derive (rules: alerts, released right after their event)
//
// A cycle takes the time T, drains every source, and releases the merged
// events stamped up to T - window in kernel-time order (src/pipeline/merge.ts).
// Cycles run when a ring wakes its reader and every intervalMs. Each sink
// has its own bounded queue and loss counts (src/pipeline/sink.ts); a slow
// sink drops for itself only. When every sink is full, events stay in the
// merge and the sources are paused: nothing more is read, the rings fill, and
// the kernel drops and counts (reported as ring_full). Memory is then bounded
// by the sinks' capacities, the merge's maxHeld and one bounded drain per ring. Losses go in-band (each
// sink's lost record) and to stderr, at most once per reportIntervalMs.
import { TimeOrderedMerge } from './merge.js';
import { RecordLane, type RecordDecoder } from './record-lane.js';
import { LossCounter, LOSS_REASON_TEXT, describeLosses, type Loss, type LossReason } from './loss.js';

/**
 * What the pipeline needs of a sink: a bounded queue that takes or counts
 * each event (Sink, src/pipeline/sink.ts, for formatted lines; the store's
 * sink for rows).
 */
export interface PipelineSink<E> {
  readonly name: string;
  /** Refusing events (its queue is full), or gone. */
  readonly full: boolean;
  readonly closed: boolean;
  readonly lost: LossCounter;
  readonly lastError: NodeJS.ErrnoException | Error | undefined;
  /** Called when the sink has room again. */
  onRoom: (() => void) | undefined;
  offer(e: E): void;
  noteLoss(sensor: string, reason: LossReason, count: number): void;
  takeReport(): Loss[];
  flush(): void;
  settle(timeoutMs: number): Promise<boolean>;
  close(): void;
  /** Bytes taken and not yet written (close() waits on while this goes down). */
  readonly queuedBytes?: number;
}

/** A ring's reader, as the pipeline drives it (sensors have these methods). */
export interface PipelineSource {
  /** Reads what the ring holds now; events come back through EventPipeline.push. */
  drain(): number;
  /** The last drain left records in the ring (a bounded drain): what was read is not all up to now. */
  readonly backlog?: boolean;
  pause(): void;
  resume(): void;
  /**
   * Reports the ring's losses without reading it: the cycle asks a paused source, so that a reader
   * without a poll timer of its own (hooks().pollIntervalMs) still reports what the kernel drops.
   */
  checkLosses?(): void;
}

/**
 * E: what the sources push; S: what the sinks take (E unless `select` keeps
 * some events from them: events read for a consumer such as the rules only).
 */
export interface EventPipelineOptions<E, S extends E = E> {
  /** The event's time in ns: the kernel's (CLOCK_BOOTTIME) for ring events. */
  timeOf(e: E): bigint;
  /** The sensor an event came from. */
  sensorOf(e: E): string;
  /** The event's kind, for the count of released events by kind (stats.byKind). */
  kindOf?(e: E): string;
  /** Now, on timeOf's clock (CLOCK_BOOTTIME ns for ring events). */
  now(): bigint;
  /** Reorder window: an event is held until every ring was read this long after its time. Default 20 ms. */
  windowMs?: number;
  /** false: events go to the sinks as they come (a source that orders them itself). Default true. */
  reorder?: boolean;
  /** Most events held for ordering. Default 16384. */
  maxHeld?: number;
  /** Cycle interval (drains quiet rings, releases held events, checks for room). Default 50 ms. */
  intervalMs?: number;
  /**
   * Which events the sinks are offered (required when S is narrower than E);
   * the others only feed `derive`. Default: all.
   */
  select?(e: E): e is S;
  /** Each selected event, in order, before the sinks; false: not delivered (say, past --count). */
  accept?(e: S): boolean;
  /**
   * Each released event, in order, after the sinks were offered it: a
   * consumer that makes events of its own (the rules' alerts) emits them
   * here, and they go out at once, right after the event that made them.
   */
  derive?(e: E, emit: (d: E) => void): void;
  /** Writes one report line (stderr). */
  report(line: string): void;
  /** Least time between two report lines about the same thing. Default 1000 ms. */
  reportIntervalMs?: number;
  /** Every sink's output is gone (the reader of stdout exited). */
  onOutputsClosed?(): void;
  /**
   * false: `accept` is a consumer that always takes (the agent's event hub),
   * so full sinks drop for themselves and never pause the sources. Default true.
   */
  sinksHoldBack?: boolean;
}

export interface PipelineStats {
  /** Events released to the sinks. */
  released: number;
  /** Events that arrived later than the window (first out at the next release, out of order against what went before). */
  late: number;
  /** Events released early because maxHeld was reached. */
  early: number;
  /** Times the sources were paused because every sink was full. */
  pauses: number;
  /** Losses the kernel reported (ring full). */
  kernelLost: number;
  /** Events released, by kind (with kindOf). */
  byKind: ReadonlyMap<string, number>;
}

const END_OF_TIME = 1n << 63n;

export class EventPipeline<E, S extends E = E> {
  private readonly sources: { sensor: string; source: PipelineSource }[] = [];
  /** The latest time pushed per sensor: how far a source with a backlog has been read. */
  private readonly readUpTo = new Map<string, bigint>();
  private readonly sinks: PipelineSink<S>[] = [];
  private readonly merge: TimeOrderedMerge<E>;
  private readonly windowNs: bigint;
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private paused = false;
  private closed = false;
  private outputsGone = false;
  private readonly kernelLoss = new LossCounter();
  /** The same losses, never taken: since the start. */
  private readonly kernelLossTotal = new LossCounter();
  private readonly releasedByKind = new Map<string, number>();
  private lastReport = 0;
  private pauseCount = 0;
  /** The last watermark: held events at or before it are owed to the sinks. */
  private releasedMark = -1n;
  private released = 0;
  private readonly emitOne = (e: E): void => this.emit(e);
  /** No sink can take more: events stay in the merge and the rings are not read. */
  private readonly allFull = (): boolean =>
    this.opts.sinksHoldBack !== false && this.sinks.length > 0 && this.sinks.every((s) => s.full);

  constructor(private readonly opts: EventPipelineOptions<E, S>) {
    this.merge = new TimeOrderedMerge<E>({ timeOf: opts.timeOf, laneOf: opts.sensorOf, maxHeld: opts.maxHeld ?? 16_384 });
    this.windowNs = BigInt(Math.round((opts.windowMs ?? 20) * 1e6));
  }

  /** A ring's reader; `sensor` is what sensorOf() says of its events. */
  addSource(sensor: string, source: PipelineSource): void {
    this.sources.push({ sensor, source });
    if (this.paused) source.pause();
  }

  addSink(s: PipelineSink<S>): void {
    this.sinks.push(s);
    // Room again: read on now rather than at the next tick.
    s.onRoom = () => {
      if (this.paused) this.schedule();
    };
  }

  /**
   * A sensor's hooks into this pipeline: its events pushed, its kernel losses
   * counted under its name, a cycle scheduled when its ring wakes the reader,
   * and no poll timer of its reader's own: the cycle drains every source (add
   * the sensor with addSource).
   */
  hooks(sensor: string): { onEvent(e: E): void; onLost(count: number): void; onBatchEnd(): void; pollIntervalMs: number } {
    return {
      onEvent: (e) => this.push(e), onLost: (n) => this.kernelLost(sensor, n), onBatchEnd: () => this.schedule(),
      pollIntervalMs: 0,
    };
  }

  /** Starts the cycle timer. */
  start(): void {
    if (this.timer || this.closed) return;
    // Referenced: while the sources are paused no reader keeps the loop alive.
    this.timer = setInterval(() => this.cycle(), this.opts.intervalMs ?? 50);
  }

  /** An event read from a ring (from a sensor's onEvent). */
  push(e: E): void {
    const sensor = this.opts.sensorOf(e);
    const t = this.opts.timeOf(e);
    if (t > (this.readUpTo.get(sensor) ?? -1n)) this.readUpTo.set(sensor, t);
    if (this.closed || this.opts.reorder === false) {
      this.emit(e);
      return;
    }
    this.merge.push(e);
  }

  /**
   * A ring's raw records, held as bytes until released (src/pipeline/record-lane.ts) instead of
   * pushed as decoded events: the returned handler takes each record as the reader gives it.
   * `timeOf` reads a record's kernel time and throws on a record that would not decode (checked
   * here, so that the decode at release cannot fail); `decode` makes the event at release.
   */
  holdRecords(sensor: string, timeOf: (view: DataView, offset: number, size: number) => bigint,
    decode: RecordDecoder<E>): (view: DataView, offset: number, size: number) => void {
    const lane = new RecordLane<E>(decode);
    this.merge.addLane(lane);
    let upTo = -1n;
    return (view, offset, size) => {
      const t = timeOf(view, offset, size);
      if (t > upTo) {
        upTo = t;
        this.readUpTo.set(sensor, t);
      }
      if (this.closed || this.opts.reorder === false) this.emit(decode(view, offset, size));
      else lane.hold(view, offset, size, t, this.merge.admit(t));
    };
  }

  /** The kernel dropped `count` events of `sensor` (a sensor's onLost): every sink owes a lost record. */
  kernelLost(sensor: string, count: number): void {
    this.kernelLoss.add(sensor, 'ring_full', count);
    this.kernelLossTotal.add(sensor, 'ring_full', count);
    for (const s of this.sinks) s.noteLoss(sensor, 'ring_full', count);
  }

  /** Runs a cycle soon (from a sensor's onBatchEnd: a ring woke its reader). */
  schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.cycle();
    });
  }

  private emit(e: E): void {
    if (!this.opts.select || this.opts.select(e)) this.deliver(e as S);
    this.opts.derive?.(e, this.emitOne);
  }

  private deliver(e: S): void {
    if (this.opts.accept && !this.opts.accept(e)) return;
    this.released++;
    if (this.opts.kindOf) {
      const kind = this.opts.kindOf(e);
      this.releasedByKind.set(kind, (this.releasedByKind.get(kind) ?? 0) + 1);
    }
    for (const s of this.sinks) s.offer(e);
  }

  /** Drains every source and releases what the window allows. */
  cycle(): void {
    if (this.closed) return;
    this.backpressure();
    let more = false;
    if (this.paused) {
      // What the last drains left in the merge goes out first, as room allows; the rings are not
      // read, but what the kernel drops meanwhile is reported.
      for (const { source } of this.sources) source.checkLosses?.();
      this.merge.release(this.releasedMark, this.emitOne, this.allFull);
    } else {
      // Everything stamped before T is read once each ring was drained to
      // its end; a ring whose bounded drain left records behind has been
      // read only up to its latest event.
      let mark = this.opts.now();
      for (const { sensor, source } of this.sources) {
        source.drain();
        if (source.backlog) {
          more = true;
          const upTo = this.readUpTo.get(sensor);
          if (upTo !== undefined && upTo < mark) mark = upTo;
        }
      }
      this.releasedMark = mark - this.windowNs;
      this.merge.release(this.releasedMark, this.emitOne, this.allFull);
    }
    for (const s of this.sinks) s.flush();
    this.backpressure();
    this.reportLosses(false);
    // A backlog is read a bounded drain per turn of the event loop, so that
    // writes go out in between.
    if (more && !this.paused) this.schedule();
  }

  /**
   * Reads every ring to its end now and releases everything held, in order
   * (a caller that wants what happened so far, without the window's wait).
   * Sources read in turn: a ring another source's events depend on (the
   * process ring) is added first.
   */
  drainAll(): void {
    if (this.closed) return;
    for (const { source } of this.sources) {
      source.drain();
      for (let i = 0; source.backlog && i < 1024; i++) source.drain();
    }
    this.merge.release(END_OF_TIME, this.emitOne, this.allFull);
    for (const s of this.sinks) s.flush();
  }

  /** Pauses the sources when no sink can take more; resumes them when one can. */
  private backpressure(): void {
    // Loops, not filter/every: this runs twice a cycle, idle or not.
    let open = 0;
    let openFull = 0;
    for (const s of this.sinks) {
      if (s.closed) continue;
      open++;
      if (s.full) openFull++;
    }
    if (open === 0 && this.sinks.length > 0) {
      if (!this.outputsGone) {
        this.outputsGone = true;
        this.opts.onOutputsClosed?.();
      }
      return;
    }
    // Also while the merge holds more than its bound (what full sinks could
    // not take): reading on would only grow it.
    const full = (this.opts.sinksHoldBack !== false && open > 0 && openFull === open) || this.merge.size > this.merge.maxHeld;
    if (full && !this.paused) {
      this.paused = true;
      this.pauseCount++;
      for (const s of this.sources) s.source.pause();
    } else if (!full && this.paused) {
      this.paused = false;
      for (const s of this.sources) s.source.resume();
    }
  }

  private reportLosses(final: boolean): void {
    const now = Date.now();
    if (!final && now - this.lastReport < (this.opts.reportIntervalMs ?? 1000)) return;
    const kernel = this.kernelLoss.take();
    const lines: string[] = [];
    for (const l of kernel) lines.push(`lost ${l.count} ${l.sensor} events (${LOSS_REASON_TEXT[l.reason]})`);
    for (const s of this.sinks) {
      // ring_full is the kernel's, reported once above; a closed output is not news once all are closed.
      const taken = s.takeReport();
      if (!taken.length) continue;
      const own = taken.filter((l) => l.reason !== 'ring_full' && !(l.reason === 'output_closed' && this.outputsGone));
      if (!own.length) continue;
      const n = own.reduce((a, l) => a + l.count, 0);
      const err = own.some((l) => l.reason === 'write_failed') && s.lastError ? ` [${errText(s.lastError)}]` : '';
      lines.push(`${s.name}: dropped ${n} events: ${describeLosses(own)}${err}`);
    }
    if (!lines.length) return;
    this.lastReport = now;
    for (const l of lines) this.opts.report(l);
  }

  get stats(): PipelineStats {
    return {
      released: this.released, late: this.merge.late, early: this.merge.early, pauses: this.pauseCount,
      kernelLost: this.kernelLossTotal.total, byKind: this.releasedByKind,
    };
  }

  /** The kernel's losses (ring full) by sensor, since the start. */
  kernelLosses(): Loss[] {
    return this.kernelLossTotal.entries();
  }

  /** Every sink's losses so far. */
  losses(): { sink: string; losses: Loss[] }[] {
    return this.sinks.map((s) => ({ sink: s.name, losses: s.lost.entries() }));
  }

  /**
   * Ends the pipeline: the caller has closed its sensors (their last records
   * came through push). Releases everything held, in order, flushes every
   * sink and waits for the outputs; reports what was lost. Resolves true when
   * every output took everything.
   *
   * graceMs bounds a wait in which nothing moves, not the whole stop: the
   * release's own work (formatting what the rings still held, which after a
   * backlog takes longer than the grace) does not use it up, and while an
   * output keeps taking what is queued the wait goes on. A reader that takes
   * nothing for graceMs is given up on: what it did not take is counted.
   */
  async close(graceMs = 1000): Promise<boolean> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.closed) {
      this.closed = true;
      // What is held goes out as the outputs take it; then the rest is
      // offered at once (full sinks count it as dropped).
      let deadline = Date.now() + graceMs;
      for (;;) {
        const before = this.merge.size;
        this.merge.release(END_OF_TIME, this.emitOne, this.allFull);
        // graceMs 0: no wait at all (the outputs are gone, or the caller has no time).
        if (this.merge.size === 0 || graceMs <= 0 || this.sinks.every((s) => s.closed)) break;
        if (this.merge.size < before) deadline = Date.now() + graceMs;
        else if (Date.now() >= deadline) break;
        for (const s of this.sinks) s.flush();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      this.merge.flush(this.emitOne);
    }
    const settled = await Promise.all(this.sinks.map((s) => settleWhileMoving(s, graceMs)));
    this.reportLosses(true);
    for (const s of this.sinks) s.close();
    return settled.every(Boolean);
  }
}

/** Waits for a sink's output to take everything, as long as each graceMs sees it take some. */
async function settleWhileMoving(s: PipelineSink<never>, graceMs: number): Promise<boolean> {
  for (;;) {
    const before = s.queuedBytes;
    if (await s.settle(graceMs)) return true;
    const after = s.queuedBytes;
    if (graceMs <= 0 || before === undefined || after === undefined || after >= before) return false;
  }
}

function errText(e: NodeJS.ErrnoException | Error): string {
  return 'code' in e && e.code ? `${String(e.code)}: ${e.message.replace(/^\w+: /, '').replace(/, write$/, '')}` : e.message;
}
