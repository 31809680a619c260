// FlowPipeline: the flow sensor, the process sensor that keeps the process
// cache current (exec ids, binaries, containers of the sockets' owners), the
// tracker that makes flow records, and the UDP window timer, started and
// stopped as one. `vigil observe --sensors flow,dns`, `vigil top tcp` and the
// tests use it.
//
// Ordering: flow records are made when a ring batch ends, after the process
// ring was read, so the exec that started a connecting process is in the
// cache when its connect is described.
import { ProcessSensor } from '../sensors/process.js';
import type { FilterSet } from '../sensors/filter.js';
import type { RingOptions } from '../sensors/sensor.js';
import { ProcessCache } from '../process/cache.js';
import { BootClock } from '../util/clock.js';
import { FlowSensor, type DnsCaptureEvent, type TcpFlowEvent } from './flow-sensor.js';
import { FlowTracker } from './flow-tracker.js';
import type { FlowRecord } from './flow-types.js';

/**
 * The flow ring for connection churn: a connection makes up to four records
 * (connect, accept, two closes on loopback) of 176 bytes, so 32 MiB holds
 * seconds of churn at tens of thousands of connections a second, and the
 * reader is woken once 256 KiB wait (the poll timer reads the rest). Batches
 * of 256 KiB (a bounded drain takes half: ~700 records, not ~3,000) so that
 * fewer records are objects at once; what that saves in garbage collection
 * was within the development machine's noise.
 */
export const CHURN_RING: RingOptions = { ringBytes: 32 << 20, wakeupBytes: 256 << 10, batchBytes: 256 << 10 };

export interface FlowPipelineOptions {
  /** Each record, with the kernel time (CLOCK_BOOTTIME ns) of what it reports. */
  onFlow(rec: FlowRecord, timeBootNs: bigint): void;
  /** After each batch of records (flush output). */
  onBatchEnd?(): void;
  onLost?(count: number, sensor: 'flow' | 'process'): void;
  filter?: FilterSet;
  /** The process cache (shared with other consumers); one is made (and closed) otherwise. */
  cache?: ProcessCache;
  tcp?: boolean;
  /** TCP connect and accept records (FlowSensorOptions.tcpOpens). Default true. */
  tcpOpens?: boolean;
  udp?: boolean;
  dns?: boolean;
  dnsPorts?: number[];
  /** UDP counters are read and reported every this many ms. Default 10_000. */
  udpWindowMs?: number;
  /**
   * The process sensor that keeps the cache current: one the caller runs
   * (shared with its other consumers; not closed here), or true to start one
   * (the default), or false (the cache reads /proc).
   */
  processSensor?: boolean | ProcessSensor;
  /** The flow sensor's ring (size, batched wakeups, bounded drains); the object's defaults otherwise. */
  ring?: RingOptions;
}

export class FlowPipeline implements Disposable {
  private timer: NodeJS.Timeout | undefined;
  private pending: (TcpFlowEvent | DnsCaptureEvent)[] = [];
  private closed = false;

  private constructor(
    readonly sensor: FlowSensor,
    readonly tracker: FlowTracker,
    readonly cache: ProcessCache,
    private readonly ownCache: boolean,
    private readonly proc: ProcessSensor | undefined,
    private readonly ownProc: boolean,
    private readonly clock: BootClock,
    private readonly opts: FlowPipelineOptions,
  ) {}

  static async start(opts: FlowPipelineOptions): Promise<FlowPipeline> {
    const ownCache = !opts.cache;
    const cache = opts.cache ?? new ProcessCache();
    const clock = BootClock.measure();
    let proc = opts.processSensor instanceof ProcessSensor ? opts.processSensor : undefined;
    const ownProc = (opts.processSensor ?? true) === true;
    let sensor: FlowSensor | undefined;
    try {
      if (ownProc) {
        proc = await ProcessSensor.start({
          cache, filter: opts.filter, kinds: [], onEvent: () => {}, onLost: (n) => opts.onLost?.(n, 'process'),
        });
      }
      // The tracker needs the sensor (owner lookups) and the sensor's callbacks need the pipeline: bind late.
      let self: FlowPipeline | undefined;
      const early: (TcpFlowEvent | DnsCaptureEvent)[] = [];
      const queue = (e: TcpFlowEvent | DnsCaptureEvent): void => {
        if (self) self.pending.push(e);
        else early.push(e);
      };
      sensor = await FlowSensor.start({
        ...opts.ring, filter: opts.filter, tcp: opts.tcp, tcpOpens: opts.tcpOpens, udp: opts.udp, dns: opts.dns, dnsPorts: opts.dnsPorts,
        onTcp: queue, onDns: queue,
        onBatchEnd: () => self?.processPending(),
        onLost: (n) => opts.onLost?.(n, 'flow'),
      });
      const s = sensor;
      const tracker = new FlowTracker({
        node: cache.node, toEpochNs: (b) => clock.toEpochNs(b), onFlow: (r, t) => opts.onFlow(r, t), processes: cache,
        ownerOf: (c) => s.owner(c),
      });
      self = new FlowPipeline(sensor, tracker, cache, ownCache, proc, ownProc, clock, opts);
      self.pending.push(...early);
      if (opts.udp ?? true) {
        const every = opts.udpWindowMs ?? 10_000;
        if (!(every > 0)) throw new RangeError(`udpWindowMs: ${every}`);
        const p = self;
        p.timer = setInterval(() => p.flushUdp(), every);
        p.timer.unref();
      }
      return self;
    } catch (e) {
      sensor?.close();
      if (ownProc) proc?.close();
      if (ownCache) cache.close();
      throw e;
    }
  }

  /** Turns queued kernel records into flow records (after the process ring is read). */
  private processPending(): void {
    if (this.pending.length === 0) return;
    this.proc?.drain();
    for (const e of this.pending.splice(0)) {
      if (e.kind === 'tcp') this.tracker.tcp(e);
      else this.tracker.dns(e);
    }
    this.tracker.expire(this.clock.nowBootNs());
    this.opts.onBatchEnd?.();
  }

  /** Reads the kernel's UDP counters now and reports them (also done every udpWindowMs). */
  flushUdp(): FlowRecord[] {
    if (this.closed || !(this.opts.udp ?? true)) return [];
    this.sensor.drain();
    this.processPending();
    this.proc?.drain();
    const recs = this.tracker.udp(this.sensor.drainUdp());
    if (recs.length) this.opts.onBatchEnd?.();
    return recs;
  }

  /** Reads what the rings hold now and reports it. */
  drain(): void {
    this.proc?.drain();
    this.sensor.drain();
    this.processPending();
  }

  /** The last drain left records in the flow ring (a bounded drain): read again soon. */
  get backlog(): boolean {
    return this.sensor.backlog;
  }

  /** Stops reading the rings (back-pressure); losses are still counted. */
  pause(): void {
    this.proc?.pause();
    this.sensor.pause();
  }

  resume(): void {
    this.proc?.resume();
    this.sensor.resume();
  }

  get lost(): number {
    return this.sensor.lost + (this.proc?.lost ?? 0);
  }

  /** Detaches; what the kernel still holds (ring records, the last UDP window) is reported first. */
  close(): void {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      this.flushUdp();
      this.drain();
    } finally {
      this.closed = true;
      this.sensor.close();
      this.processPending();
      if (this.ownProc) this.proc?.close();
      if (this.ownCache) this.cache.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
