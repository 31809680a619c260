// Sensor: the lifecycle every sensor shares, written once.
//
//   spec ──load──► object ──open ring──► reader ──attach──► links
//                                           │
//          drain / pause / resume ◄─────────┘  (the pipeline drives these)
//   close: links detached (stage by stage, each stage at once), the ring read
//          to its end (its last records still go to onEvent), reader and
//          object freed, then the sensor's own resources (onClosed).
//
// A subclass decides what to load and attach and how to decode a record;
// this class holds the object, the reader, the links, the loss and malformed
// counters, reads the in-kernel filter's counters and answers stats(). The
// interface other code depends on is small: name, drain/backlog/pause/resume
// (what EventPipeline drives), lost, stats(), close() and Symbol.dispose.
//
//   class MySensor extends Sensor {
//     static async start(o) {
//       const obj = await Sensor.loadObject('mysensor', { filter: o.filter, ring: o, programs: [...] });
//       const s = new MySensor(obj);
//       return s.starting(() => {
//         s.openRing(o, (view, off, size) => o.onEvent(decode(view, off, size)));
//         s.keep(obj.program('handle').attach());
//       });
//     }
//   }
import {
  ObjectSpec, RingBufferReader, NotSupportedError, closeAll, ensureTracefs,
} from '../bpf/index.js';
import type { Attachment, BpfObject, ConstantValue, ReaderStats, RecordHandler } from '../bpf/index.js';
import { probeHelper, probeKfunc } from '../bpf/features.js';
import { bpfObjectPath } from '../util/paths.js';
import { filterCounts, type FilterSet } from './filter.js';

/** Where a sensor's events go: given by its owner (a command, the pipeline, a test). */
export interface SensorHooks<E> {
  onEvent(e: E): void;
  /** After each batch of records (a ring woke its reader): schedule output here, once per batch. */
  onBatchEnd?(): void;
  /** Records the kernel dropped because the ring was full (counted in BPF, never silent). */
  onLost?(count: number): void;
}

/** How a sensor's ring is sized and read. */
export interface RingOptions {
  /** Ring buffer size in bytes (power of two, >= page size). Default: the object's. */
  ringBytes?: number;
  /**
   * Reader poll interval, ms (bounds latency). Default 50. 0: no timer of its own, for a reader that
   * its owner drains on a timer (a pipeline's source), which also asks for the losses while paused.
   */
  pollIntervalMs?: number;
  /** Wake the reader only once this many bytes wait (0: every record). Default 0. */
  wakeupBytes?: number;
  /** Read at most about half a reader batch per drain (back-pressure; see ReaderOptions.boundedDrain). */
  boundedDrain?: boolean;
  /** The reader's batch buffer (ReaderOptions.batchBytes). Default 1 MiB. */
  batchBytes?: number;
}

/** A ring sensor's options: its hooks, its ring, the in-kernel filters it shares with the others. */
export interface RingSensorOptions<E> extends SensorHooks<E>, RingOptions {
  /** In-kernel filters (shared by every sensor). Without one, everything passes. */
  filter?: FilterSet;
}

export interface SensorStats {
  sensor: string;
  /** Records read from the ring, and the batches they came in. */
  records: number;
  batches: number;
  /** Records the kernel could not store (ring full). */
  lost: number;
  /** Records larger than the reader's batch: dropped and counted. */
  oversize: number;
  /** Records that did not decode (a bug if ever non-zero). */
  malformed: number;
  /** Events the in-kernel filters passed and dropped in this sensor's programs (undefined: it has no filter). */
  filter: { passed: bigint; dropped: bigint } | undefined;
}

export interface LoadSensorOptions {
  filter?: FilterSet;
  ring?: RingOptions;
  /** Programs to load (default: all of the object's). */
  programs?: readonly string[];
  constants?: Record<string, ConstantValue>;
  /** Map sizes beyond the ring's (`events`, set from ring.ringBytes). */
  maxEntries?: Record<string, number>;
  /** The object file, when not bpf/.output/<name>.bpf.o. */
  objectPath?: string;
  /** The ring map's name (default `events`). */
  ringMap?: string;
  /**
   * The object is also built with direct loads (bpf/.output/<name>.direct.bpf.o, vigil/path.h's
   * VIGIL_DIRECT_LOADS): that one is loaded where the kernel has the bpf_rdonly_cast kfunc.
   */
  directLoads?: boolean;
}

/** The object a sensor loads: its direct-loads build where asked for and the kernel can take it. */
export async function sensorObjectPath(name: string, directLoads: boolean): Promise<string> {
  if (directLoads && (await probeKfunc('bpf_rdonly_cast')).status === 'available') return bpfObjectPath(`${name}.direct`);
  return bpfObjectPath(name);
}

/** tracefs mounted (tracepoints attach through it) and bpf_loop there (path walks); the tracefs path. */
export async function tracepointPrerequisites(sensor: string, loopUse: string): Promise<string> {
  const tracefs = ensureTracefs();
  if (!tracefs.path) throw new NotSupportedError('tracefs', `tracepoints need tracefs: ${tracefs.reason ?? 'not mounted'}`);
  const loop = await probeHelper('bpf_loop');
  if (loop.status === 'unsupported') {
    throw new NotSupportedError('bpf_loop', `the ${sensor} sensor ${loopUse} with it: ${loop.reason}`, '5.17');
  }
  return tracefs.path;
}

export abstract class Sensor implements Disposable {
  /** Records that did not decode (a bug if ever non-zero). */
  malformed = 0;
  protected obj: BpfObject | undefined;
  private reader: RingBufferReader | undefined;
  /** Attachments by detach stage: stage 0 first, each stage all at once. */
  private readonly stages: Attachment[][] = [];
  private lostTotal = 0;
  private isClosed = false;

  /** `name` is the sensor's name in loss counts and stats ("process", "file", "flow", ...). */
  protected constructor(readonly name: string, obj: BpfObject | undefined) {
    this.obj = obj;
  }

  /** Loads a sensor object with the shared filter's constants and maps, the ring's size and wakeup threshold. */
  protected static async loadObject(name: string, o: LoadSensorOptions = {}): Promise<BpfObject> {
    const maxEntries = { ...(o.maxEntries ?? {}) };
    if (o.ring?.ringBytes) maxEntries[o.ringMap ?? 'events'] = o.ring.ringBytes;
    return ObjectSpec.fromFile(o.objectPath ?? await sensorObjectPath(name, o.directLoads ?? false)).load({
      ...(o.programs ? { programs: o.programs } : {}),
      constants: {
        ...(o.filter?.constants() ?? {}),
        ...(o.ring ? { vigil_wakeup_bytes: BigInt(o.ring.wakeupBytes ?? 0) } : {}),
        ...(o.constants ?? {}),
      },
      reuseMaps: o.filter?.reuseMaps() ?? {},
      maxEntries,
    });
  }

  /** Runs the attach steps of start(); on failure the sensor is closed and the error rethrown. */
  protected async starting(attach: () => void | Promise<void>): Promise<this> {
    try {
      await attach();
      return this;
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * Opens the ring's reader: before attaching, so no record is produced
   * before someone reads. Losses are counted here and passed to hooks.onLost.
   */
  protected openRing(hooks: Omit<SensorHooks<never>, 'onEvent'> & RingOptions, onRecord: RecordHandler,
    map = 'events'): void {
    this.reader = RingBufferReader.open(this.object.map(map), {
      lostCounter: this.object.map('vigil_lost'),
      pollIntervalMs: hooks.pollIntervalMs ?? 50,
      onRecord,
      onBatchEnd: hooks.onBatchEnd ? () => hooks.onBatchEnd?.() : undefined,
      boundedDrain: hooks.boundedDrain,
      batchBytes: hooks.batchBytes,
      onLost: (n) => {
        this.lostTotal += n;
        hooks.onLost?.(n);
      },
    });
  }

  /** Decodes each record with `decode` and hands it on; a record that does not decode is counted, not thrown. */
  protected decoding<E>(decode: (view: DataView, offset: number, size: number) => E | undefined, onEvent: (e: E) => void):
    RecordHandler {
    return (view, offset, size) => {
      let e: E | undefined;
      try {
        e = decode(view, offset, size);
      } catch {
        this.malformed++;
        return;
      }
      if (e !== undefined) onEvent(e);
    };
  }

  /** Holds an attachment until close(); `stage` orders detaching (0 first, each stage at once). */
  protected keep<A extends Attachment>(a: A, stage = 0): A {
    while (this.stages.length <= stage) this.stages.push([]);
    this.stages[stage]!.push(a);
    return a;
  }

  /** The loaded object; throws once the sensor is closed. */
  protected get object(): BpfObject {
    if (!this.obj) throw new Error(`${this.name} sensor is closed`);
    return this.obj;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Records lost so far (ring full), as counted by the BPF side. */
  get lost(): number {
    return this.lostTotal;
  }

  get readerStats(): ReaderStats | undefined {
    return this.reader?.stats;
  }

  /** Events the in-kernel filters passed and dropped in this sensor's programs (0/0 without filters). */
  filterCounts(): { passed: bigint; dropped: bigint } {
    return filterCounts(this.object.map('vigil_filter_counts'));
  }

  stats(): SensorStats {
    const r = this.reader?.stats;
    let filter: SensorStats['filter'];
    try {
      filter = this.obj ? this.filterCounts() : undefined;
    } catch {
      filter = undefined; // an object without the filter's counters
    }
    return {
      sensor: this.name, records: r?.records ?? 0, batches: r?.batches ?? 0, lost: this.lostTotal,
      oversize: r?.oversize ?? 0, malformed: this.malformed, filter,
    };
  }

  /** Reads what the ring holds now (records are also read on wakeups and every poll interval). */
  drain(): number {
    return this.reader?.drain() ?? 0;
  }

  /** The last drain left records in the ring (boundedDrain). */
  get backlog(): boolean {
    return this.reader?.backlog ?? false;
  }

  /** Reports the ring's losses since the last look (a paused sensor whose reader has no poll timer). */
  checkLosses(): void {
    this.reader?.checkLosses();
  }

  /** Stops reading (back-pressure: the ring fills, the kernel drops and counts); losses are still reported. */
  pause(): void {
    this.reader?.pause();
  }

  resume(): void {
    this.reader?.resume();
  }

  /** The sensor's own resources, freed after the object (caches, its own filter set). */
  protected onClosed(): void {}

  /** Detaches (no new records), delivers what the ring still holds, frees everything. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    try {
      // Each stage at once: a tracepoint takes tens of ms to detach.
      for (const stage of this.stages.splice(0)) closeAll(stage);
    } finally {
      this.reader?.close();
      this.reader = undefined;
      this.obj?.close();
      this.obj = undefined;
      this.onClosed();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
