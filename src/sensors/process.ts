// ProcessSensor: exec, failed exec, fork and exit events for every process on
// the host, from bpf/process.bpf.c, plus a start-up snapshot of the processes
// already running (bpf/process_snapshot.bpf.c, a task iterator), so that
// later events have parents.
//
//   using cache = new ProcessCache();
//   const sensor = await ProcessSensor.start({ cache, filter, onEvent: (e) => ..., onLost: (n) => ... });
//   ...
//   sensor.close();   // detach, deliver what the ring still holds, free
//
// Every record feeds the process cache (given by the caller: the cache is the
// pipeline's, this file only knows its interface), and the event carries the
// process and its parent as the cache then describes them. Records are
// decoded with the generated codecs of bpf/include/vigil/process.h; the blobs
// after the headers are split here as that header describes.
//
// What the kernel sends does not depend on `kinds`: exec, fork and exit
// always feed the cache (a file event of a forked child needs its process);
// `kinds` chooses what reaches onEvent. Failed execs cost two tracepoints per
// exec and are only attached when 'exec_failed' is among the kinds.
import { errnoName } from '../kernel/errno.js';
import { signalName } from '../kernel/signals.js';
import os from 'node:os';
import { ObjectSpec } from '../bpf/index.js';
import type { BpfObject } from '../bpf/index.js';
import { bpfObjectPath } from '../util/paths.js';
import { BootClock } from '../util/clock.js';
import {
  vigilExecEvent, vigilExecFailedEvent, vigilExitEvent, vigilForkEvent, vigilTaskInfo, VIGIL_COMM_LEN,
  VIGIL_PROCESS_EXEC, VIGIL_PROCESS_EXEC_FAILED, VIGIL_PROCESS_EXIT, VIGIL_PROCESS_FORK,
  VIGIL_EXEC_TRUNC_BINARY, VIGIL_EXEC_TRUNC_ARGS, VIGIL_EXEC_TRUNC_CWD, VIGIL_EXEC_TRUNC_CGROUP,
  VIGIL_EXEC_ERROR_BINARY, VIGIL_EXEC_ERROR_ARGS, VIGIL_EXEC_ERROR_CWD,
  VIGIL_EXEC_SNAPSHOT, VIGIL_EXEC_KTHREAD, VIGIL_EXEC_AT,
  type VigilTaskInfo,
} from '../generated/process.js';
import type {
  Capabilities, ExecRecord, ExitRecord, ForkRecord, Namespaces, ProcessFlags, ProcessInfo, ProcessLookup,
} from '../process/types.js';
import type { ProcessEvent } from './events.js';
import { Sensor, tracepointPrerequisites, type RingSensorOptions } from './sensor.js';

/** The process cache as the sensor uses it (src/process/cache.ts ProcessCache implements it). */
export interface ProcessTable extends ProcessLookup {
  readonly node: string;
  onExec(r: ExecRecord): ProcessInfo;
  onFork(r: ForkRecord): ProcessInfo;
  onExit(r: ExitRecord): ProcessInfo | undefined;
  inCgroup(info: ProcessInfo, cgroupId: bigint): ProcessInfo;
}

export type ProcessEventKind = ProcessEvent['kind'];
export const PROCESS_EVENT_KINDS: readonly ProcessEventKind[] = ['exec', 'exec_failed', 'fork', 'exit'];

export interface ProcessSensorOptions extends RingSensorOptions<ProcessEvent> {
  /** The process cache every record feeds (shared with the other sensors and the outputs). */
  cache: ProcessTable;
  /** Which events reach onEvent. Default: all. */
  kinds?: readonly ProcessEventKind[];
  /**
   * Send fork records to feed the cache even when fork events are not among
   * the kinds (default true): a process that forks without exec'ing is then
   * known as a parent without reading /proc. An exec-only consumer saves a
   * record per process with false. Exec and exit records always flow (exits
   * retire cache entries).
   */
  forks?: boolean;
  /** Read the processes already running at start into the cache (default true). */
  snapshot?: boolean;
  /** Attach the failed-exec tracepoints even when exec_failed is not among the kinds (for a later want()). */
  failedExecs?: boolean;
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

const FLAG_BITS = VIGIL_EXEC_TRUNC_BINARY | VIGIL_EXEC_TRUNC_ARGS | VIGIL_EXEC_TRUNC_CWD | VIGIL_EXEC_ERROR_BINARY
  | VIGIL_EXEC_ERROR_ARGS | VIGIL_EXEC_ERROR_CWD;
/** The flag sets seen so far, frozen, by their bits: a record's flags are one of a handful of sets. */
const flagSets = new Map<number, ProcessFlags>();

export function decodeFlags(word: number): ProcessFlags {
  const f = word & FLAG_BITS;
  let set = flagSets.get(f);
  if (set === undefined) {
    set = Object.freeze({
      binaryTruncated: (f & VIGIL_EXEC_TRUNC_BINARY) !== 0,
      argsTruncated: (f & VIGIL_EXEC_TRUNC_ARGS) !== 0,
      cwdTruncated: (f & VIGIL_EXEC_TRUNC_CWD) !== 0,
      binaryError: (f & VIGIL_EXEC_ERROR_BINARY) !== 0,
      argsError: (f & VIGIL_EXEC_ERROR_ARGS) !== 0,
      cwdError: (f & VIGIL_EXEC_ERROR_CWD) !== 0,
    });
    flagSets.set(f, set);
  }
  return set;
}

function namespaces(t: VigilTaskInfo): Namespaces | undefined {
  // An exiting task has dropped its nsproxy: no namespaces then.
  if (!t.ns_mnt) return undefined;
  return {
    uts: t.ns_uts, ipc: t.ns_ipc, mnt: t.ns_mnt, pid: t.ns_pid, pidForChildren: t.ns_pid_for_children || undefined,
    net: t.ns_net, time: t.ns_time || undefined, timeForChildren: t.ns_time_for_children || undefined,
    cgroup: t.ns_cgroup, user: t.ns_user,
  };
}

/** The fields every record's task info gives a cache record. */
function taskFields(t: VigilTaskInfo) {
  return {
    pid: t.pid, tid: t.tid, ppid: t.ppid, parentStartBootNs: t.parent_start_boottime,
    uid: t.uid, gid: t.gid, euid: t.euid, egid: t.egid, auid: t.auid, comm: t.comm,
    suid: t.suid, sgid: t.sgid, fsuid: t.fsuid, fsgid: t.fsgid, securebits: t.securebits,
    startBootNs: t.start_boottime,
    caps: { effective: t.cap_effective, permitted: t.cap_permitted, inheritable: t.cap_inheritable },
    ns: namespaces(t), cgroupId: t.cgroup_id, cgroupPath: undefined,
  };
}

/**
 * The kernel names a pseudo-terminal "pts3" (tty_struct.name: driver name
 * and index); its device is /dev/pts/3, the name ps and /proc use. Others
 * ("tty1", "ttyS0") are their device names already.
 */
export function ttyDeviceName(kernelName: string): string {
  const m = /^pts(\d+)$/.exec(kernelName);
  return m ? `pts/${m[1]}` : kernelName;
}

export interface DecodedExec {
  record: ExecRecord;
  timeBootNs: bigint;
  snapshot: boolean;
  kthread: boolean;
}

/**
 * The text of the last bytes seen in one place of a record (the binary, the working directory, the
 * cgroup, comm): the same bytes again, as an exec storm sends them, give the same string without
 * decoding, splitting and joining them again (and the process cache then interns a string whose
 * hash is known already).
 */
class LastText {
  private bytes = new Uint8Array(64);
  private length = -1;
  private tag = 0;
  private text = '';

  /** The text of src (made by make), the same when src's bytes and tag (what else make depends on) are. */
  get(src: Uint8Array, tag: number, make: (b: Uint8Array) => string): string {
    const n = src.length;
    if (n === this.length && tag === this.tag) {
      const b = this.bytes;
      let i = 0;
      while (i < n && b[i] === src[i]) i++;
      if (i === n) return this.text;
    }
    const text = make(src);
    if (n > this.bytes.length) this.bytes = new Uint8Array(Math.max(n, this.bytes.length * 2));
    this.bytes.set(src);
    this.length = n;
    this.tag = tag;
    this.text = text;
    return text;
  }
}

const lastBinary = new LastText();
const lastCwd = new LastText();
const lastCgroup = new LastText();
const lastComm = new LastText();

/**
 * The capability sets and namespaces of the last exec record, and the words they were read from:
 * the next record with the same words gets the same objects (no BigInts made; the process cache's
 * interner then finds them at once).
 */
const lastSets = {
  caps: new Uint32Array(6), capsValue: undefined as Capabilities | undefined,
  ns: new Uint32Array(10), nsValue: undefined as Namespaces | undefined,
};

/** Whether the 32-bit words at `at` + each offset equal `last`'s (which then holds them). */
function sameWords(view: DataView, at: number, offsets: readonly number[], last: Uint32Array): boolean {
  let same = true;
  for (let i = 0; i < offsets.length; i++) {
    const w = view.getUint32(at + offsets[i]!, true);
    if (w !== last[i]) {
      same = false;
      last[i] = w;
    }
  }
  return same;
}

const EXEC = vigilExecEvent.offsets;
const TASK = vigilTaskInfo.offsets;
/** The capability masks' words (low and high of each), and the namespace inodes, in the task info. */
const CAPS_WORDS = [TASK.cap_effective, TASK.cap_permitted, TASK.cap_inheritable].flatMap((o) => [o, o + 4]);
const NS_WORDS = [TASK.ns_uts, TASK.ns_ipc, TASK.ns_mnt, TASK.ns_pid, TASK.ns_pid_for_children, TASK.ns_net, TASK.ns_time,
  TASK.ns_time_for_children, TASK.ns_cgroup, TASK.ns_user];

/** A NUL-terminated (or full) char array's text. */
function cstringAt(view: DataView, offset: number, max: number): string {
  const bytes = bytesAt(view, offset, max);
  const end = bytes.indexOf(0);
  return lastComm.get(end < 0 ? bytes : bytes.subarray(0, end), 0, (b) => utf8.decode(b));
}

/**
 * Decodes one exec or snapshot record (header + blob). Pure. The header's fields are read where the
 * generated codec's offsets put them, straight into the record (no header object, no task object).
 */
export function decodeExecRecord(view: DataView, offset: number, size: number): DecodedExec {
  const u16 = (field: number): number => view.getUint16(offset + field, true);
  const binaryLen = u16(EXEC.binary_len);
  const argsLen = u16(EXEC.args_len);
  const cwdLen = u16(EXEC.cwd_len);
  const cgroupLen = u16(EXEC.cgroup_len);
  const ttyLen = u16(EXEC.tty_len);
  const declared = view.getUint32(offset + EXEC.size, true);
  const lens = binaryLen + argsLen + cwdLen + cgroupLen + ttyLen;
  if (vigilExecEvent.size + lens > size || declared > size) {
    throw new RangeError(`exec record of ${size} bytes declares ${declared} bytes (${lens} of data)`);
  }
  const word = view.getUint32(offset + EXEC.flags, true);
  const ktime = view.getBigUint64(offset + EXEC.ktime, true);
  let at = offset + vigilExecEvent.size;
  const take = (n: number): Uint8Array => {
    const b = bytesAt(view, at, n);
    at += n;
    return b;
  };
  const flags = decodeFlags(word);
  const kthread = (word & VIGIL_EXEC_KTHREAD) !== 0;
  const binaryBytes = take(binaryLen);
  const argsBytes = take(argsLen);
  const cwdBytes = take(cwdLen);
  const cgroupBytes = take(cgroupLen);
  const ttyBytes = take(ttyLen);
  const binary = kthread || (!binaryLen && flags.binaryError) ? ''
    : lastBinary.get(binaryBytes, +flags.binaryTruncated, (b) => joinLeafFirst(splitNul(b), flags.binaryTruncated));
  const cwd = kthread || (!cwdLen && flags.cwdError) ? ''
    : lastCwd.get(cwdBytes, +flags.cwdTruncated, (b) => joinLeafFirst(splitNul(b), flags.cwdTruncated));
  const cgroupTruncated = (word & VIGIL_EXEC_TRUNC_CGROUP) !== 0;
  const snapshot = (word & VIGIL_EXEC_SNAPSHOT) !== 0;
  const t = offset + EXEC.task;
  const u32 = (field: number): number => view.getUint32(t + field, true);
  const u64 = (field: number): bigint => view.getBigUint64(t + field, true);
  const nsMnt = u32(TASK.ns_mnt);
  const capsSame = sameWords(view, t, CAPS_WORDS, lastSets.caps) && lastSets.capsValue !== undefined;
  const caps = capsSame ? lastSets.capsValue!
    : lastSets.capsValue = { effective: u64(TASK.cap_effective), permitted: u64(TASK.cap_permitted), inheritable: u64(TASK.cap_inheritable) };
  const nsSame = nsMnt !== 0 && sameWords(view, t, NS_WORDS, lastSets.ns) && lastSets.nsValue !== undefined;
  const ns: Namespaces | undefined = !nsMnt ? undefined : nsSame ? lastSets.nsValue : lastSets.nsValue = {
    uts: u32(TASK.ns_uts), ipc: u32(TASK.ns_ipc), mnt: nsMnt, pid: u32(TASK.ns_pid),
    pidForChildren: u32(TASK.ns_pid_for_children) || undefined, net: u32(TASK.ns_net), time: u32(TASK.ns_time) || undefined,
    timeForChildren: u32(TASK.ns_time_for_children) || undefined, cgroup: u32(TASK.ns_cgroup), user: u32(TASK.ns_user),
  };
  // One literal (no spread): a spread object took a slow path to define each later field and left
  // onExec's reads of it missing their inline caches.
  const record: ExecRecord = {
    pid: u32(TASK.pid), tid: u32(TASK.tid), ppid: u32(TASK.ppid), parentStartBootNs: u64(TASK.parent_start_boottime),
    uid: u32(TASK.uid), gid: u32(TASK.gid), euid: u32(TASK.euid), egid: u32(TASK.egid), auid: u32(TASK.auid),
    comm: cstringAt(view, t + TASK.comm, VIGIL_COMM_LEN),
    suid: u32(TASK.suid), sgid: u32(TASK.sgid), fsuid: u32(TASK.fsuid), fsgid: u32(TASK.fsgid), securebits: u32(TASK.securebits),
    startBootNs: u64(TASK.start_boottime),
    // An exiting task has dropped its nsproxy: no namespaces then.
    caps, ns,
    cgroupId: u64(TASK.cgroup_id),
    binary, args: splitNul(argsBytes), cwd,
    tty: ttyLen ? ttyDeviceName(utf8.decode(ttyBytes)) : undefined,
    execBootNs: ktime,
    cgroupPath: lastCgroup.get(cgroupBytes, +cgroupTruncated, (b) => joinLeafFirst(splitNul(b), cgroupTruncated)),
    flags, source: snapshot ? 'iterator' : 'exec',
  };
  return { record, timeBootNs: ktime, snapshot, kthread };
}

/** Snapshot records written back to back by the iterator. */
export function decodeSnapshot(buf: Buffer): DecodedExec[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: DecodedExec[] = [];
  let off = 0;
  while (off + vigilExecEvent.size <= buf.length) {
    const size = view.getUint32(off + vigilExecEvent.offsets.size, true);
    if (view.getUint32(off, true) !== VIGIL_PROCESS_EXEC || size < vigilExecEvent.size || off + size > buf.length) {
      throw new RangeError(`snapshot stream: bad record at byte ${off} of ${buf.length}`);
    }
    out.push(decodeExecRecord(view, off, size));
    off += size;
  }
  if (off !== buf.length) throw new RangeError(`snapshot stream: ${buf.length - off} bytes after the last record`);
  return out;
}

export interface DecodedExecFailed {
  task: ReturnType<typeof taskFields>;
  timeBootNs: bigint;
  filename: string;
  args: string[];
  cwd: string;
  errno: number;
  at: { dfd: number; flags: number } | undefined;
  flags: ProcessFlags;
}

export function decodeExecFailedRecord(view: DataView, offset: number, size: number): DecodedExecFailed {
  const h = vigilExecFailedEvent.decode(view, offset);
  const lens = h.filename_len + h.args_len + h.cwd_len;
  if (vigilExecFailedEvent.size + lens > size) {
    throw new RangeError(`failed-exec record of ${size} bytes declares ${lens} bytes of data`);
  }
  const blob = offset + vigilExecFailedEvent.size;
  const flags = decodeFlags(h.flags);
  return {
    task: taskFields(h.task),
    timeBootNs: h.ktime,
    filename: utf8.decode(bytesAt(view, blob, h.filename_len)),
    args: splitNul(bytesAt(view, blob + h.filename_len, h.args_len)),
    cwd: !h.cwd_len && flags.cwdError ? ''
      : joinLeafFirst(splitNul(bytesAt(view, blob + h.filename_len + h.args_len, h.cwd_len)), flags.cwdTruncated),
    errno: -h.ret,
    at: h.flags & VIGIL_EXEC_AT ? { dfd: h.dfd, flags: h.at_flags } : undefined,
    flags,
  };
}


/** Wait-status decoding (as the kernel's exit_code): status, or signal and core flag. */
function decodeExitCode(code: number): { status: number | null; signal: number | null; coreDumped: boolean } {
  const signal = code & 0x7f;
  return signal ? { status: null, signal, coreDumped: (code & 0x80) !== 0 }
    : { status: (code >> 8) & 0xff, signal: null, coreDumped: false };
}

const NO_AUID = 4294967295;

/** A process the cache did not know (gone before anyone looked), described by what the record gave. */
function transientInfo(node: string, toEpochNs: (b: bigint) => bigint, t: Partial<ReturnType<typeof taskFields>> &
  { pid: number; startBootNs: bigint }): ProcessInfo {
  return {
    execId: Buffer.from(`${node}:${t.startBootNs}:${t.pid}`).toString('base64'),
    pid: t.pid, tid: t.tid ?? t.pid, ppid: t.ppid ?? 0, parentExecId: undefined, parentStartBootNs: t.parentStartBootNs,
    uid: t.uid ?? 0, gid: t.gid ?? 0, euid: t.euid ?? 0, egid: t.egid ?? 0, suid: t.suid, sgid: t.sgid, fsuid: t.fsuid,
    fsgid: t.fsgid, securebits: t.securebits, auid: t.auid ?? NO_AUID, comm: t.comm ?? '',
    binary: '', args: [], cwd: '', tty: undefined, startBootNs: t.startBootNs, startTimeNs: toEpochNs(t.startBootNs),
    execBootNs: t.startBootNs, caps: t.caps, ns: t.ns, cgroupId: t.cgroupId ?? 0n, cgroupPath: undefined,
    container: undefined, source: 'procfs',
    flags: { binaryTruncated: false, argsTruncated: false, cwdTruncated: false, binaryError: true, argsError: true, cwdError: true },
    exit: undefined, replaced: false,
  };
}

export interface ProcessSensorStats {
  /** Records by kind, as read from the ring. */
  exec: number;
  execFailed: number;
  fork: number;
  exit: number;
  /** Exit records for a process already reported exited (two last threads at once; kernels before 6.16). */
  duplicateExits: number;
  /** Processes read by the start-up snapshot. */
  snapshot: number;
}

export class ProcessSensor extends Sensor {
  /** Why the start-up snapshot could not be taken, when it could not (the cache then falls back to /proc). */
  snapshotError: Error | undefined;
  readonly counts: ProcessSensorStats = { exec: 0, execFailed: 0, fork: 0, exit: 0, duplicateExits: 0, snapshot: 0 };
  private readonly clock = BootClock.measure();
  private wanted: Set<ProcessEventKind>;
  /** What this sensor can deliver: exec_failed and fork only when loaded for them. */
  private readonly capable: ReadonlySet<ProcessEventKind>;

  private constructor(obj: BpfObject, private readonly opts: ProcessSensorOptions, capable: ProcessEventKind[]) {
    super('process', obj);
    this.wanted = new Set(opts.kinds ?? PROCESS_EVENT_KINDS);
    this.capable = new Set(capable);
  }

  /**
   * The kinds that reach onEvent from now on (a consumer came or went: the
   * agent's rules). Only kinds the sensor was started able to report: a
   * failed exec needs its tracepoints attached at start (failedExecs), a fork
   * its records sent (forks).
   */
  want(kinds: readonly ProcessEventKind[]): void {
    const cannot = kinds.filter((k) => !this.capable.has(k));
    if (cannot.length) throw new Error(`process sensor: started without ${cannot.join(', ')} events`);
    this.wanted = new Set(kinds);
  }

  static async start(opts: ProcessSensorOptions): Promise<ProcessSensor> {
    await tracepointPrerequisites('process', 'walks paths');
    const kinds = opts.kinds ?? PROCESS_EVENT_KINDS;
    const failed = kinds.includes('exec_failed') || (opts.failedExecs ?? false);
    const sendFork = kinds.includes('fork') || (opts.forks ?? true);
    // handle_fork also keeps vigil_tracked for --pid trees, binary prefixes and Vigil's own helpers.
    const tracking = opts.filter?.tracksForks ?? false;
    const programs = ['handle_exec', 'handle_exit'];
    if (sendFork || tracking) programs.push('handle_fork');
    if (failed) programs.push('enter_execve', 'enter_execveat', 'exit_execve', 'exit_execveat');
    const obj = await Sensor.loadObject('process', {
      filter: opts.filter, ring: opts, programs, constants: { send_exec_failed: failed, send_fork: sendFork },
      directLoads: true,
    });
    const capable: ProcessEventKind[] = ['exec', 'exit'];
    if (failed) capable.push('exec_failed');
    if (sendFork) capable.push('fork');
    const s = new ProcessSensor(obj, opts, capable);
    return s.starting(async () => {
      s.openRing(opts, s.decoding((view, offset, size) => s.decode(view, offset, size), (e) => {
        if (s.wanted.has(e.kind)) opts.onEvent(e);
      }));
      // Fork and exit before exec, so vigil_tracked follows every process
      // that an exec event may come from.
      for (const p of ['handle_fork', 'handle_exit', 'handle_exec']) {
        if (programs.includes(p)) s.keep(obj.program(p).attach());
      }
      if (failed) {
        for (const p of ['exit_execve', 'exit_execveat', 'enter_execve', 'enter_execveat']) s.keep(obj.program(p).attach());
      }
      // Processes that ran before the fork tracking began: their --pid tree
      // and binary verdicts, then their descriptions.
      opts.filter?.seedExisting();
      if (opts.snapshot ?? true) await s.takeSnapshot();
    });
  }

  private async takeSnapshot(): Promise<void> {
    let records: DecodedExec[];
    try {
      const spec = ObjectSpec.fromFile(bpfObjectPath('process_snapshot'));
      using obj = await spec.load();
      using link = obj.program('process_snapshot').attachIter();
      records = decodeSnapshot(await link.readIter());
    } catch (e) {
      this.snapshotError = e as Error;
      return;
    }
    // Parents start before their children: in start order, each finds its parent cached.
    records.sort((a, b) => (a.record.startBootNs < b.record.startBootNs ? -1 : a.record.startBootNs > b.record.startBootNs ? 1 : 0));
    for (const r of records) this.opts.cache.onExec(r.record);
    this.counts.snapshot = records.length;
  }

  private decode(view: DataView, offset: number, size: number): ProcessEvent | undefined {
    const cache = this.opts.cache;
    const toEpoch = (b: bigint) => this.clock.toEpochNs(b);
    switch (size >= 4 ? view.getUint32(offset, true) : 0) {
      case VIGIL_PROCESS_EXEC: {
        const d = decodeExecRecord(view, offset, size);
        this.counts.exec++;
        const process = cache.onExec(d.record);
        return { kind: 'exec', timeNs: toEpoch(d.timeBootNs), timeBootNs: d.timeBootNs, process, parent: cache.parentOf(process) };
      }
      case VIGIL_PROCESS_FORK: {
        if (size < vigilForkEvent.size) throw new RangeError('short fork record');
        const h = vigilForkEvent.decode(view, offset);
        this.counts.fork++;
        const process = cache.onFork(taskFields(h.task));
        // Sent to feed the cache only (an exec-only consumer): no event made.
        if (!this.wanted.has('fork')) return undefined;
        return { kind: 'fork', timeNs: toEpoch(h.ktime), timeBootNs: h.ktime, process, parent: cache.parentOf(process) };
      }
      case VIGIL_PROCESS_EXIT: {
        if (size < vigilExitEvent.size) throw new RangeError('short exit record');
        const h = vigilExitEvent.decode(view, offset);
        this.counts.exit++;
        if (cache.get(h.pid, h.start_boottime)?.exit) {
          this.counts.duplicateExits++;
          return undefined;
        }
        const known = cache.onExit({ pid: h.pid, startBootNs: h.start_boottime, timeBootNs: h.ktime, code: h.exit_code });
        // Exits always flow (they retire cache entries); the event only when someone wants it.
        if (!this.wanted.has('exit')) return undefined;
        const process = known ?? transientInfo(cache.node, toEpoch, {
          pid: h.pid, tid: h.tid, ppid: h.ppid, startBootNs: h.start_boottime,
          parentStartBootNs: h.parent_start_boottime, comm: h.comm,
        });
        const x = decodeExitCode(h.exit_code);
        return {
          kind: 'exit', timeNs: toEpoch(h.ktime), timeBootNs: h.ktime, process, parent: cache.parentOf(process),
          status: x.status, signal: x.signal, signalName: x.signal === null ? null : signalName(x.signal),
          coreDumped: x.coreDumped,
        };
      }
      case VIGIL_PROCESS_EXEC_FAILED: {
        const d = decodeExecFailedRecord(view, offset, size);
        this.counts.execFailed++;
        // In the cgroup it was in when it called exec (the cached image may say where it was at its exec).
        const process = cache.inCgroup(cache.get(d.task.pid, d.task.startBootNs) ?? transientInfo(cache.node, toEpoch, d.task),
          d.task.cgroupId);
        return {
          kind: 'exec_failed', timeNs: toEpoch(d.timeBootNs), timeBootNs: d.timeBootNs, process,
          parent: cache.parentOf(process), filename: d.filename, args: d.args, cwd: d.cwd, errno: d.errno,
          error: errnoName(d.errno), at: d.at, argsTruncated: d.flags.argsTruncated,
          filenameTruncated: d.flags.binaryTruncated,
        };
      }
      default:
        throw new RangeError('unknown process record');
    }
  }
}
