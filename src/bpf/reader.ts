// Event readers: ring buffers (Linux >= 5.8) and perf buffers (older kernels).
//
// The native side drains every ready record into one shared batch buffer and
// calls JavaScript once per batch; records are then handed to the handler as
// (view, offset, size) over that buffer: no copy and no allocation per event.
// A decoded value that must outlive the handler is the handler's to copy.
import { native, type ReaderHandle } from './native.js';
import { fromNative } from './errors.js';
import type { BpfMap } from './map.js';
import { MapType } from './types.js';

/** One record inside a batch. `tag` is the ring index (ring buffer) or CPU (perf buffer). */
export type RecordHandler = (view: DataView, offset: number, size: number, tag: number) => void;

export interface ReaderStats {
  records: number;
  batches: number;
  /** Records the kernel could not store (ring full): counted by the BPF side, or by perf's lost callback. */
  lost: number;
  /** Records larger than the whole batch buffer: dropped and counted here. */
  oversize: number;
}

export interface ReaderOptions {
  onRecord: RecordHandler;
  /** After each batch (for flushing output once per batch). */
  onBatchEnd?: (records: number) => void;
  /** New losses since the last report. */
  onLost?: (count: number, tag: number) => void;
  /** Batch buffer size; records are flushed to JS when it fills. Default 1 MiB. */
  batchBytes?: number;
  /**
   * Drain on this interval too (ms). Producers that suppress wakeups below a
   * threshold rely on it; it also bounds latency. Default 50 ms; 0 disables.
   */
  pollIntervalMs?: number;
  /**
   * Ring buffers: hand JavaScript at most about half a batch per drain and
   * leave the rest in the ring (read on the next wakeup, tick or drain), so
   * that a full ring is not turned into objects all at once. `backlog` says
   * whether the last drain left records behind. Default false: a drain
   * reads everything ready.
   */
  boundedDrain?: boolean;
}

/** How often a busy reader's drains look at the kernel's loss counters (ms). */
const LOST_CHECK_MS = 5;
/**
 * How often an idle reader's drains look (ms). A reserve fails only when the ring is full of records,
 * so a ring found empty with nothing read since the last look lost nothing meanwhile; this bound is a
 * second net, not the first.
 */
const IDLE_LOST_CHECK_MS = 1000;

abstract class Reader implements Disposable {
  readonly stats: ReaderStats = { records: 0, batches: 0, lost: 0, oversize: 0 };
  protected handle: ReaderHandle | undefined;
  protected view!: DataView;
  private timer: NodeJS.Timeout | undefined;
  private dispatching = false;
  private closeRequested = false;
  private pausedNow = false;
  /** Date.now() of drain's last look at the kernel's loss counters. */
  private lostCheckedMs = 0;
  /** Records were read since that look. */
  private readSinceLostCheck = false;

  protected constructor(protected readonly opts: ReaderOptions) {}

  protected start(open: (onBatch: (count: number, bytes: number) => void, batchBytes: number) =>
    { handle: ReaderHandle; batch: ArrayBuffer }): void {
    const { handle, batch } = open((count, bytes) => this.dispatch(count, bytes), this.opts.batchBytes ?? 1 << 20);
    this.handle = handle;
    this.view = new DataView(batch);
    if (this.opts.boundedDrain) native().readerSetLimit(handle, true);
    const every = this.opts.pollIntervalMs ?? 50;
    if (every > 0) {
      this.timer = setInterval(() => this.tick(), every);
      this.timer.unref();
    }
  }

  private dispatch(count: number, bytes: number): void {
    // Records drained after close() was asked for (from a handler) are dropped
    // on purpose: the consumer said it wants no more.
    if (this.closeRequested) return;
    const view = this.view;
    const onRecord = this.opts.onRecord;
    let off = 0;
    this.dispatching = true;
    try {
      for (let i = 0; i < count && off < bytes; i++) {
        const size = view.getUint32(off, true);
        const tag = view.getUint32(off + 4, true);
        onRecord(view, off + 8, size, tag);
        off += 8 + ((size + 7) & ~7);
        if (this.closeRequested) break;
      }
      this.stats.records += count;
      this.stats.batches++;
      this.opts.onBatchEnd?.(count);
    } finally {
      this.dispatching = false;
    }
  }

  protected tick(): void {
    // A paused reader still reports what the kernel dropped meanwhile.
    if (this.pausedNow) this.checkLost();
    else this.drain();
  }

  /**
   * Reports what the kernel dropped since the last look, without reading records: for a paused
   * reader whose owner drives it without the poll timer (pollIntervalMs 0).
   */
  checkLosses(): void {
    if (this.handle) this.checkLost();
  }

  /** True between pause() and resume(). */
  get paused(): boolean {
    return this.pausedNow;
  }

  /**
   * Stops reading on wakeups and on the poll timer (drain() still reads when
   * called). The rings then fill and the kernel side drops and counts; those
   * losses are still reported, on the poll timer. For back-pressure: a
   * consumer that cannot take more pauses its readers instead of queueing.
   */
  pause(): void {
    if (this.pausedNow || !this.handle) return;
    this.pausedNow = true;
    native().readerPause(this.handle, true);
  }

  /** Reads again on wakeups and on the timer; what waits in the rings is read on the next tick. */
  resume(): void {
    if (!this.pausedNow) return;
    this.pausedNow = false;
    if (this.handle) native().readerPause(this.handle, false);
  }

  /** Drains whatever is ready now; returns the number of records read. */
  drain(): number {
    if (!this.handle) return 0;
    let n: number;
    try {
      n = native().readerDrain(this.handle);
    } catch (e) {
      throw fromNative(e, 'drain');
    }
    const oversize = native().readerOversize(this.handle);
    if (oversize > this.stats.oversize) {
      const delta = oversize - this.stats.oversize;
      this.stats.oversize = oversize;
      this.stats.lost += delta;
      this.opts.onLost?.(delta, -1);
    }
    // The counters are a syscall per ring: a reader drained thousands of times a second (a storm,
    // read half a batch at a time) looks at them every LOST_CHECK_MS, and once the ring is empty
    // after records were read; an idle one every IDLE_LOST_CHECK_MS (a ring that held nothing
    // cannot have been full); a pause and close look too. A loss is reported that much later, never missed.
    if (n > 0) this.readSinceLostCheck = true;
    const now = Date.now();
    if (n > 0 ? now - this.lostCheckedMs >= LOST_CHECK_MS
      : this.readSinceLostCheck || now - this.lostCheckedMs >= IDLE_LOST_CHECK_MS) {
      this.lostCheckedMs = now;
      this.readSinceLostCheck = false;
      this.checkLost();
    }
    return n;
  }

  /** The last drain stopped early (boundedDrain) and left records in the ring. */
  get backlog(): boolean {
    return this.handle ? native().readerStoppedEarly(this.handle) : false;
  }

  protected checkLost(): void {}

  /**
   * Stops reading: drains what is ready, then frees the buffers. Called from
   * inside a handler (say, after the Nth event), it takes effect once the
   * current batch returns.
   */
  close(): void {
    if (!this.handle) return;
    if (this.dispatching) {
      if (!this.closeRequested) {
        this.closeRequested = true;
        setImmediate(() => this.close());
      }
      return;
    }
    if (!this.closeRequested) {
      // Bounded by the ring's size: each pass reads half a batch or more.
      while (this.drain() > 0 && this.backlog);
      this.checkLost();
    }
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const h = this.handle;
    this.handle = undefined;
    native().readerClose(h);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export interface RingBufferOptions extends ReaderOptions {
  /**
   * The object's `vigil_lost` per-CPU counter map (bpf/include/vigil/ringbuf.h);
   * entry i counts failed reserves for ring i. Without it loss is unknown, so
   * it is required unless `lossUncounted` says the producer does not count.
   */
  lostCounter?: BpfMap;
  lossUncounted?: boolean;
}

export class RingBufferReader extends Reader {
  private readonly lostSeen: bigint[];
  private readonly lostKey = Buffer.alloc(4);
  private lostValue: Buffer | undefined;

  private constructor(private readonly rings: BpfMap[], private readonly ringOpts: RingBufferOptions) {
    super(ringOpts);
    this.lostSeen = rings.map(() => 0n);
  }

  /** Reads one or more ring buffer maps; record tags are their indices in `rings`. */
  static open(rings: BpfMap | BpfMap[], opts: RingBufferOptions): RingBufferReader {
    const list = Array.isArray(rings) ? rings : [rings];
    for (const r of list) {
      if (r.type !== MapType.ringbuf) throw new TypeError(`map ${r.name} is not a ring buffer`);
    }
    if (!opts.lostCounter && !opts.lossUncounted) {
      throw new Error('RingBufferReader: pass lostCounter (the vigil_lost map) so losses are reported');
    }
    const reader = new RingBufferReader(list, opts);
    reader.start((onBatch, batchBytes) => {
      try {
        return native().ringbufOpen(list.map((r) => r.fd), onBatch, batchBytes);
      } catch (e) {
        throw fromNative(e, `open ring buffer ${list.map((r) => r.name).join(',')}`);
      }
    });
    if (opts.lostCounter) {
      // Losses from before this reader existed are not ours to report.
      for (let i = 0; i < list.length; i++) reader.lostSeen[i] = reader.readLost(i);
    }
    return reader;
  }

  private readLost(ring: number): bigint {
    const m = this.ringOpts.lostCounter;
    if (!m) return 0n;
    this.lostKey.writeUInt32LE(ring, 0);
    this.lostValue ??= Buffer.alloc(m.lookupValueSize);
    const v = m.lookup(this.lostKey, this.lostValue);
    if (!v) return 0n;
    let sum = 0n;
    for (let off = 0; off + 8 <= v.length; off += 8) sum += v.readBigUInt64LE(off);
    return sum;
  }

  protected override checkLost(): void {
    if (!this.ringOpts.lostCounter) return;
    for (let i = 0; i < this.rings.length; i++) {
      const now = this.readLost(i);
      const prev = this.lostSeen[i] ?? 0n;
      if (now > prev) {
        const delta = Number(now - prev);
        this.lostSeen[i] = now;
        this.stats.lost += delta;
        this.opts.onLost?.(delta, i);
      }
    }
  }
}

export interface PerfBufferOptions extends ReaderOptions {
  /** Pages per CPU (power of two). Default 64 (256 KiB). */
  pagesPerCpu?: number;
}

/** Reads a BPF_MAP_TYPE_PERF_EVENT_ARRAY: one buffer per CPU; tags are CPUs. */
export class PerfBufferReader extends Reader {
  private constructor(opts: PerfBufferOptions) {
    super(opts);
  }

  static open(map: BpfMap, opts: PerfBufferOptions): PerfBufferReader {
    if (map.type !== MapType.perf_event_array) throw new TypeError(`map ${map.name} is not a perf event array`);
    const reader = new PerfBufferReader(opts);
    reader.start((onBatch, batchBytes) => {
      try {
        return native().perfbufOpen(map.fd, opts.pagesPerCpu ?? 64, onBatch, (cpu, n) => {
          reader.stats.lost += n;
          opts.onLost?.(n, cpu);
        }, batchBytes);
      } catch (e) {
        throw fromNative(e, `open perf buffer ${map.name}`);
      }
    });
    return reader;
  }
}
