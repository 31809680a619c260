// A sink: one output behind its own bounded queue, with loss accounting.
//
// Events are formatted into lines and handed to the output once per cycle
// (one write for a burst). The queue is what the output has not written yet
// plus this cycle's lines; once it reaches the capacity (passed by one line
// at most), the sink is full: it counts every event it refuses, by sensor, until
// the queue is down to half (hysteresis: a consumer that reads a line at a
// time does not make it flap), and then writes a `lost` record in its own
// format before the next events. Other sinks are not affected.
import { LossCounter, type Loss, type LossReason } from './loss.js';
import type { EventCounts, Line, LineOutput, LineTag, OutputHooks } from './output.js';

/** Formatted lines handed to the output once this many bytes wait, before the cycle ends. */
const FLUSH_BYTES = 256 << 10;

export interface SinkFormat<E> {
  /** The event as one line (without newline); undefined: not for this output. */
  line(e: E): Line | undefined;
  /** The in-band record of a loss, in this output's format (undefined: this format has none). */
  lost(loss: Loss): Line | undefined;
}

export interface SinkOptions<E> {
  format: SinkFormat<E>;
  /** Queue bound in bytes (lines waiting for the output). */
  capacityBytes: number;
  /** The sensor an event came from (for loss counts). */
  sensorOf(e: E): string;
  /** Whether this output takes this kind of event at all (default: all); others are neither written nor counted. */
  takes?(e: E): boolean;
}

export class Sink<E> {
  /** Every event this output did not get, by sensor and reason (ring_full included). */
  readonly lost = new LossCounter();
  /** Events handed to the output. */
  delivered = 0;
  /** The last write error (ENOSPC, ...), for the report. */
  lastError: NodeJS.ErrnoException | undefined;
  private readonly inBand = new LossCounter();
  private readonly toReport = new LossCounter();
  private lines: Line[] = [];
  private sensors: LineTag[] = [];
  private bytes = 0;
  private dropping = false;
  readonly output: LineOutput;
  /** Called when the output has written everything it was given (the pipeline reads on). */
  onRoom: (() => void) | undefined;

  /** `open` makes the output with the sink's hooks (write failures and closing are counted here). */
  constructor(open: (hooks: OutputHooks) => LineOutput, private readonly opts: SinkOptions<E>) {
    this.output = open({
      onWriteFailed: (err, events, owed) => {
        this.lastError = err;
        this.count(events, 'write_failed');
        // Lost records that did not arrive are owed again (already counted).
        this.inBand.addAll(owed);
      },
      onClosed: (_err, events) => this.count(events, 'output_closed'),
      onDrained: () => this.onRoom?.(),
    });
  }

  get name(): string {
    return this.output.description;
  }

  get capacity(): number {
    return this.opts.capacityBytes;
  }

  /** Bytes queued: formatted this cycle, or handed to the output and not yet written. */
  get queuedBytes(): number {
    return this.bytes + this.output.pendingBytes;
  }

  /** Refusing events (queue full, not yet down to half), or gone. */
  get full(): boolean {
    this.refresh();
    return this.dropping || this.output.closed;
  }

  get closed(): boolean {
    return this.output.closed;
  }

  private count(events: EventCounts, reason: LossReason): void {
    for (const [sensor, n] of events) this.noteLoss(sensor, reason, n);
  }

  /** Counts events this output did not get (also those the kernel dropped: reason ring_full). */
  noteLoss(sensor: string, reason: LossReason, count: number): void {
    this.lost.add(sensor, reason, count);
    this.toReport.add(sensor, reason, count);
    if (reason !== 'output_closed') this.inBand.add(sensor, reason, count);
  }

  /** Losses since the last call, for the stderr report. */
  takeReport(): Loss[] {
    return this.toReport.take();
  }

  private refresh(): void {
    if (this.dropping && this.queuedBytes <= this.opts.capacityBytes / 2) this.dropping = false;
  }

  /** Takes one event, or counts it as dropped. */
  offer(e: E): void {
    if (this.opts.takes && !this.opts.takes(e)) return;
    const sensor = this.opts.sensorOf(e);
    if (this.output.closed) {
      this.noteLoss(sensor, 'output_closed', 1);
      return;
    }
    this.refresh();
    if (this.dropping) {
      this.noteLoss(sensor, 'queue_full', 1);
      return;
    }
    if (this.queuedBytes >= this.opts.capacityBytes) {
      this.dropping = true;
      this.noteLoss(sensor, 'queue_full', 1);
      return;
    }
    const line = this.opts.format.line(e);
    if (line === undefined) return;
    this.writeLost();
    this.append(line, sensor);
    // A burst goes out in pieces: the output can take them as they come
    // (a file or /dev/null at once, a pipe up to its buffer).
    if (this.bytes >= FLUSH_BYTES) this.flush();
    // Full from now on: the bound is passed by one line at most, and the
    // pipeline sees it before offering the next event.
    if (this.queuedBytes >= this.opts.capacityBytes) this.dropping = true;
  }

  private append(line: Line, sensor: LineTag): void {
    this.lines.push(line);
    this.sensors.push(sensor);
    this.bytes += line.length + 1;
  }

  /** The in-band lost records owed, once there is room for them. */
  private writeLost(force = false): void {
    if (this.inBand.total === 0 || this.output.closed || (this.dropping && !force)) return;
    for (const l of this.inBand.take()) {
      const rec = this.opts.format.lost(l);
      if (rec !== undefined) this.append(rec, l);
    }
  }

  /** Hands this cycle's lines to the output in one write (and a lost record owed, if there is room now). */
  flush(): void {
    this.refresh();
    this.writeLost();
    if (!this.lines.length) return;
    const batch = { lines: this.lines, sensors: this.sensors };
    for (const s of this.sensors) if (typeof s === 'string') this.delivered++;
    this.lines = [];
    this.sensors = [];
    this.bytes = 0;
    this.output.write(batch);
  }

  /** Flushes and waits up to timeoutMs for the output to take everything; true if it did. */
  async settle(timeoutMs: number): Promise<boolean> {
    // The last lost record goes out even over the bound: it is the account.
    this.writeLost(true);
    this.flush();
    return this.output.settle(timeoutMs);
  }

  close(): void {
    this.output.close();
  }
}
