// ExecSensor: one ExecEvent per successful execve/execveat on the host, from
// bpf/exec.bpf.c (tracepoint sched:sched_process_exec).
//
//   const sensor = await ExecSensor.start({ onEvent: (e) => ..., onLost: (n) => ... });
//   ...
//   sensor.close();   // detach, drain what the ring still holds, free
//
// Records are decoded with the generated codec of struct vigil_exec_event
// (bpf/include/vigil/process.h); the blob after it (binary, args, cwd) is
// split here as that header describes.
import { ObjectSpec, RingBufferReader, NotSupportedError, ensureTracefs } from '../bpf/index.js';
import type { BpfObject, Link, ReaderStats } from '../bpf/index.js';
import { probeHelper } from '../bpf/features.js';
import { bpfObjectPath } from '../util/paths.js';
import { BootClock } from '../util/clock.js';
import {
  vigilExecEvent, VIGIL_PROCESS_EXEC,
  VIGIL_EXEC_TRUNC_BINARY, VIGIL_EXEC_TRUNC_ARGS, VIGIL_EXEC_TRUNC_CWD,
  VIGIL_EXEC_ERROR_BINARY, VIGIL_EXEC_ERROR_ARGS, VIGIL_EXEC_ERROR_CWD,
} from '../generated/process.js';
import type { ExecEvent, ExecFlags, ExecProcess } from './events.js';
import { ParentCache } from './parents.js';

export interface ExecSensorOptions {
  onEvent(e: ExecEvent): void;
  /** After each batch of records (flush output here: once per batch, not per event). */
  onBatchEnd?(): void;
  /** Events the kernel dropped because the ring was full (counted in BPF, never silent). */
  onLost?(count: number): void;
  /** Ring buffer size in bytes (power of two, >= page size). Default 512 KiB. */
  ringBytes?: number;
  /** Only executions whose parent is this process (thread group id). */
  parentPid?: number;
  /** Parent cache capacity (entries). Default 8192. */
  parentCacheSize?: number;
  /** Reader poll interval, ms (bounds latency). Default 50. */
  pollIntervalMs?: number;
}

const utf8 = new TextDecoder('utf-8');

function bytesAt(view: DataView, offset: number, length: number): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset + offset, length);
}

/** NUL-terminated strings, the last one possibly unterminated (cut short). */
export function splitNul(bytes: Uint8Array): string[] {
  if (bytes.length === 0) return [];
  const text = utf8.decode(bytes);
  const parts = text.split('\0');
  if (bytes[bytes.length - 1] === 0) parts.pop();
  return parts;
}

/**
 * Components sent leaf first ("echo", "bin", "usr") -> "/usr/bin/echo". A
 * truncated path lost its root side: it is shown as ".../bin/echo" rather
 * than as a shorter absolute path that does not exist.
 */
export function joinLeafFirst(components: string[], truncated: boolean): string {
  const path = components.reverse().join('/');
  return truncated ? `.../${path}` : `/${path}`;
}

export function decodeFlags(f: number): ExecFlags {
  return {
    binaryTruncated: (f & VIGIL_EXEC_TRUNC_BINARY) !== 0,
    argsTruncated: (f & VIGIL_EXEC_TRUNC_ARGS) !== 0,
    cwdTruncated: (f & VIGIL_EXEC_TRUNC_CWD) !== 0,
    binaryError: (f & VIGIL_EXEC_ERROR_BINARY) !== 0,
    argsError: (f & VIGIL_EXEC_ERROR_ARGS) !== 0,
    cwdError: (f & VIGIL_EXEC_ERROR_CWD) !== 0,
  };
}

/** Decodes one exec record (header + blob). Pure: no cache, no clock beyond the one given. */
export function decodeExecRecord(view: DataView, offset: number, size: number, clock: BootClock):
  Omit<ExecEvent, 'parent'> & { ppid: number; parentStartBootNs: bigint } {
  const h = vigilExecEvent.decode(view, offset);
  const blob = offset + vigilExecEvent.size;
  if (vigilExecEvent.size + h.binary_len + h.args_len + h.cwd_len > size) {
    throw new RangeError(`exec record of ${size} bytes declares ${h.binary_len}+${h.args_len}+${h.cwd_len} bytes of data`);
  }
  const flags = decodeFlags(h.flags);
  const binary = h.binary_len || !flags.binaryError
    ? joinLeafFirst(splitNul(bytesAt(view, blob, h.binary_len)), flags.binaryTruncated) : '';
  const args = splitNul(bytesAt(view, blob + h.binary_len, h.args_len));
  const cwd = h.cwd_len || !flags.cwdError
    ? joinLeafFirst(splitNul(bytesAt(view, blob + h.binary_len + h.args_len, h.cwd_len)), flags.cwdTruncated) : '';
  const process: ExecProcess = {
    pid: h.pid, tid: h.tid, uid: h.uid, gid: h.gid, euid: h.euid, egid: h.egid, auid: h.auid, comm: h.comm,
    binary, args, cwd,
    startBootNs: h.start_boottime, startTimeNs: clock.toEpochNs(h.start_boottime), execBootNs: h.ktime, flags,
  };
  return {
    kind: 'exec', timeNs: clock.toEpochNs(h.ktime), process,
    ppid: h.ppid, parentStartBootNs: h.parent_start_boottime,
  };
}

export class ExecSensor implements Disposable {
  readonly parents: ParentCache;
  /** Records that were not exec events or did not parse (a bug if ever non-zero). */
  malformed = 0;
  private lostTotal = 0;

  private constructor(
    private obj: BpfObject | undefined,
    private link: Link | undefined,
    private reader: RingBufferReader | undefined,
    parents: ParentCache,
  ) {
    this.parents = parents;
  }

  static async start(opts: ExecSensorOptions): Promise<ExecSensor> {
    const tracefs = ensureTracefs();
    if (!tracefs.path) throw new NotSupportedError('tracefs', `tracepoints need tracefs: ${tracefs.reason ?? 'not mounted'}`);
    const loop = await probeHelper('bpf_loop');
    if (loop.status === 'unsupported') throw new NotSupportedError('bpf_loop', `the exec sensor walks paths with it: ${loop.reason}`, '5.17');

    const spec = ObjectSpec.fromFile(bpfObjectPath('exec'));
    const clock = BootClock.measure();
    const parents = new ParentCache(opts.parentCacheSize ?? 8192);
    const obj = await spec.load({
      constants: opts.parentPid ? { filter_ppid: opts.parentPid } : {},
      maxEntries: opts.ringBytes ? { events: opts.ringBytes } : {},
    });
    let sensor: ExecSensor | undefined;
    try {
      // Reader first, then attach: no event is produced before someone reads.
      const s = new ExecSensor(obj, undefined, undefined, parents);
      sensor = s;
      s.reader = RingBufferReader.open(obj.map('events'), {
        lostCounter: obj.map('vigil_lost'),
        pollIntervalMs: opts.pollIntervalMs ?? 50,
        onRecord: (view, offset, size) => {
          const e = s.decode(view, offset, size, clock);
          if (e) opts.onEvent(e);
        },
        onBatchEnd: opts.onBatchEnd ? () => opts.onBatchEnd?.() : undefined,
        onLost: (n) => {
          s.lostTotal += n;
          opts.onLost?.(n);
        },
      });
      s.link = obj.program('handle_exec').attachTracepoint('sched', 'sched_process_exec');
      return s;
    } catch (e) {
      sensor?.close();
      obj.close();
      throw e;
    }
  }

  private decode(view: DataView, offset: number, size: number, clock: BootClock): ExecEvent | undefined {
    if (size < vigilExecEvent.size || view.getUint32(offset, true) !== VIGIL_PROCESS_EXEC) {
      this.malformed++;
      return undefined;
    }
    let rec: ReturnType<typeof decodeExecRecord>;
    try {
      rec = decodeExecRecord(view, offset, size, clock);
    } catch {
      this.malformed++;
      return undefined;
    }
    const p = this.parents.lookup(rec.ppid, rec.parentStartBootNs);
    this.parents.remember(rec.process);
    return {
      kind: 'exec', timeNs: rec.timeNs, process: rec.process,
      parent: {
        pid: rec.ppid, startBootNs: rec.parentStartBootNs, startTimeNs: clock.toEpochNs(rec.parentStartBootNs),
        binary: p.binary, process: p.process, source: p.source,
      },
    };
  }

  /** Events lost so far (ring full), as counted by the BPF side. */
  get lost(): number {
    return this.lostTotal;
  }

  get stats(): ReaderStats | undefined {
    return this.reader?.stats;
  }

  /** Reads what the ring holds now (events are also read on wakeups and every pollIntervalMs). */
  drain(): number {
    return this.reader?.drain() ?? 0;
  }

  /** Detaches (no new events), delivers what the ring still holds, frees everything. */
  close(): void {
    this.link?.close();
    this.link = undefined;
    this.reader?.close();
    this.reader = undefined;
    this.obj?.close();
    this.obj = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
