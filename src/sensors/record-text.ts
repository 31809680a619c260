// Reading the records of the file and sysevents sensors in place: text from
// the reader's batch memory, the header check, and the task fields both carry.
import type { FileTask } from './file-events.js';

/**
 * Bytes as UTF-8 text through a Buffer over the reader's batch memory (made
 * once per batch buffer): a Buffer slice decodes a short path in about half
 * the time of a TextDecoder call, which was the larger part of a record's cost.
 */
let lastArrayBuffer: ArrayBufferLike | undefined;
let lastBuffer: Buffer | undefined;

export function bufferOf(view: DataView): Buffer {
  if (view.buffer !== lastArrayBuffer || !lastBuffer) {
    lastArrayBuffer = view.buffer;
    lastBuffer = Buffer.from(view.buffer as ArrayBuffer);
  }
  return lastBuffer;
}

export function text(view: DataView, offset: number, length: number): string {
  const start = view.byteOffset + offset;
  return bufferOf(view).toString('utf8', start, start + length);
}

/** A NUL-terminated string of at most max bytes (a task's comm: interned, see sharedText). */
export function cText(view: DataView, offset: number, max: number): string {
  let n = 0;
  while (n < max && view.getUint8(offset + n) !== 0) n++;
  return sharedText(view, offset, n);
}

/** Texts longer than this are made afresh each time (paths mostly are shorter). */
const SHARED_MAX = 256;
const SHARED_SLOTS = 1024;
const sharedBytes: (Buffer | undefined)[] = new Array<Buffer | undefined>(SHARED_SLOTS).fill(undefined);
const sharedStrings: string[] = new Array<string>(SHARED_SLOTS).fill('');

/**
 * text(), but the same bytes give the same string, from a direct-mapped table of the last 1,024
 * texts by their bytes' hash (at most 256 bytes each; ~300 KiB at most): a storm's events repeat
 * the same paths and names, and a string made once and kept costs the collector nothing per event
 * where a fresh one per event is garbage that the merge's window keeps alive across scavenges.
 */
export function sharedText(view: DataView, offset: number, length: number): string {
  if (length > SHARED_MAX) return text(view, offset, length);
  const buf = bufferOf(view);
  const start = view.byteOffset + offset;
  // The slot by the length and the last 16 bytes (where paths differ most); the bytes compared whole below.
  let h = Math.imul(0x811c9dc5 ^ length, 0x01000193);
  for (let i = length > 16 ? length - 16 : 0; i < length; i++) h = Math.imul(h ^ buf[start + i]!, 0x01000193);
  const slot = (h >>> 0) & (SHARED_SLOTS - 1);
  const seen = sharedBytes[slot];
  if (seen !== undefined && seen.length === length) {
    let i = 0;
    while (i < length && seen[i] === buf[start + i]) i++;
    if (i === length) return sharedStrings[slot]!;
  }
  const s = buf.toString('utf8', start, start + length);
  sharedBytes[slot] = Buffer.from(buf.subarray(start, start + length));
  sharedStrings[slot] = s;
  return s;
}

/**
 * A 64-bit field that repeats from record to record (a process's start time, its cgroup, a flag
 * word): the BigInt of the last value read, reused while both words are the same, so a storm of
 * one process's events does not make a BigInt per field per event.
 */
export class U64Memo {
  private lo = -1;
  private hi = -1;
  private value = 0n;

  read(view: DataView, at: number): bigint {
    const lo = view.getUint32(at, true);
    const hi = view.getUint32(at + 4, true);
    if (lo !== this.lo || hi !== this.hi) {
      this.lo = lo;
      this.hi = hi;
      this.value = hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
    }
    return this.value;
  }
}

/** An unsigned 64-bit field as a number (exact below 2^53: inode numbers, lengths), without a BigInt. */
export function u64Number(view: DataView, at: number): number {
  return view.getUint32(at + 4, true) * 0x1_0000_0000 + view.getUint32(at, true);
}

/** The generated offsets of the task fields a record shares (vigil_file_event, vigil_sys_event). */
export interface TaskOffsets {
  pid: number;
  tid: number;
  uid: number;
  gid: number;
  comm: number;
  start_boottime: number;
  cgroup_id: number;
}

/** The task fields the file and sysevents records carry (the file event's FileTask). */
export type RecordTask = FileTask;

const startMemo = new U64Memo();
const cgroupMemo = new U64Memo();
let lastTask: Readonly<RecordTask> | undefined;

/**
 * The task fields at record offset o: who made the call, as the kernel saw it. The same object as
 * the last record's when every field is the same (a thread's run of calls): task objects are
 * frozen, never changed, so events may share one.
 */
export function taskAt(view: DataView, o: number, O: TaskOffsets, commLen: number): Readonly<RecordTask> {
  const pid = view.getUint32(o + O.pid, true);
  const tid = view.getUint32(o + O.tid, true);
  const uid = view.getUint32(o + O.uid, true);
  const gid = view.getUint32(o + O.gid, true);
  const comm = cText(view, o + O.comm, commLen);
  const startBootNs = startMemo.read(view, o + O.start_boottime);
  const cgroupId = cgroupMemo.read(view, o + O.cgroup_id);
  const t = lastTask;
  if (t !== undefined && t.pid === pid && t.tid === tid && t.uid === uid && t.gid === gid && t.comm === comm
    && t.startBootNs === startBootNs && t.cgroupId === cgroupId) return t;
  return (lastTask = Object.freeze({ pid, tid, uid, gid, comm, startBootNs, cgroupId }));
}

/** Checks that a record holds its header and is of the kind expected; a RangeError naming `what` if not. */
export function checkHeader(view: DataView, offset: number, size: number,
  header: { size: number; offsets: { kind: number } }, kind: number, what: string): void {
  if (size < header.size) throw new RangeError(`${what} of ${size} bytes, header is ${header.size}`);
  const k = view.getUint32(offset + header.offsets.kind, true);
  if (k !== kind) throw new RangeError(`not a ${what} (kind 0x${k.toString(16)})`);
}
