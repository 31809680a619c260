// Reading the records of the file and sysevents sensors in place: text from
// the reader's batch memory, the header check, and the task fields both carry.

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

/** A NUL-terminated string of at most max bytes. */
export function cText(view: DataView, offset: number, max: number): string {
  let n = 0;
  while (n < max && view.getUint8(offset + n) !== 0) n++;
  return text(view, offset, n);
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

/** The task fields at record offset o: who made the call, as the kernel saw it. */
export function taskAt(view: DataView, o: number, O: TaskOffsets, commLen: number) {
  return {
    pid: view.getUint32(o + O.pid, true),
    tid: view.getUint32(o + O.tid, true),
    uid: view.getUint32(o + O.uid, true),
    gid: view.getUint32(o + O.gid, true),
    comm: cText(view, o + O.comm, commLen),
    startBootNs: view.getBigUint64(o + O.start_boottime, true),
    cgroupId: view.getBigUint64(o + O.cgroup_id, true),
  };
}

/** Checks that a record holds its header and is of the kind expected; a RangeError naming `what` if not. */
export function checkHeader(view: DataView, offset: number, size: number,
  header: { size: number; offsets: { kind: number } }, kind: number, what: string): void {
  if (size < header.size) throw new RangeError(`${what} of ${size} bytes, header is ${header.size}`);
  const k = view.getUint32(offset + header.offsets.kind, true);
  if (k !== kind) throw new RangeError(`not a ${what} (kind 0x${k.toString(16)})`);
}
