// File events in the output formats of src/output/tetragon.ts:
//   json     {"file":{"process":P,"op":"open","syscall":"openat","path":"/etc/passwd",
//             "flags":["O_RDONLY"],"mode":null,"ret":3,"target":null,"raw_path":"../etc/passwd",
//             "dev":2049,"ino":1234},"node_name":..,"time":..}
//   compact  📂 open /usr/bin/cat /etc/passwd (as ../etc/passwd) O_RDONLY = 3
// path is canonical (the file the kernel opened, or the name normalised);
// the name as the caller wrote it is raw_path, and shows in compact lines
// when it says something the path does not (not a plain relative name).
// The process object (P) is the caller's: the Tetragon process JSON it builds
// from the process cache. Without one, what the kernel sent with the event
// (pid, tid, uid, comm, start) stands in.
import { errnoName } from '../kernel/errno.js';
import { rfc3339Nano } from '../util/clock.js';
import { envelopeExtras } from '../util/node.js';
import { rawShown, type FileEvent } from '../sensors/file-events.js';
import { formatMode } from '../sensors/flags.js';
import { escapeControls } from './tetragon.js';

/** The process as the file event alone knows it (no cache): Tetragon field names. */
export function fileTaskJson(e: FileEvent, startTimeNs?: bigint): object {
  return {
    pid: e.task.pid,
    tid: e.task.tid,
    uid: e.task.uid,
    binary: '',
    comm: e.task.comm,
    cgroup_id: e.task.cgroupId.toString(),
    start_time: startTimeNs === undefined ? undefined : rfc3339Nano(startTimeNs),
    flags: 'miss',
  };
}

/** The "file" object of the envelope. Extra fields beyond the shape: syscall, and per op length/owner. */
export function fileBody(e: FileEvent, process: object): object {
  return {
    process,
    op: e.op,
    syscall: e.syscall,
    path: e.path,
    flags: e.flags,
    mode: e.mode,
    ret: e.ret,
    target: e.target,
    raw_path: e.rawPath,
    ...(e.target !== null ? { raw_target: e.rawTarget } : {}),
    ...(e.ino !== null ? { dev: e.dev, ino: e.ino } : {}),
    ...(e.op === 'truncate' ? { length: e.length } : {}),
    ...(e.op === 'chown' ? { owner_uid: e.ownerUid, owner_gid: e.ownerGid } : {}),
  };
}

/** One json line's object: {"file":{...},"node_name":..,"time":..}. */
export function fileJson(e: FileEvent, node: string, process: object = fileTaskJson(e)): object {
  return { file: fileBody(e, process), node_name: node, time: rfc3339Nano(e.timeNs), ...envelopeExtras() };
}

/** "= 3", "= 0", "= -2 ENOENT". */
export function formatRet(ret: number): string {
  return ret < 0 ? `= ${ret} ${errnoName(-ret)}` : `= ${ret}`;
}

/**
 * One compact line: 📂 <op> <binary> <path>[ (as <raw>)][ -> <target>] [FLAGS|..] [mode] = <ret>.
 * binary is the process's executable from the cache; the comm stands in.
 */
export function compactFile(e: FileEvent, binary?: string): string {
  const raw = rawShown(e.path, e.rawPath);
  const path = raw === undefined ? e.path : `${e.path} (as ${raw})`;
  const parts = ['📂', e.op, binary || e.task.comm, e.target === null ? path : `${path} -> ${e.target}`];
  if (e.flags.length) parts.push(e.flags.join('|'));
  if (e.mode !== null) parts.push(formatMode(e.mode));
  if (e.op === 'chown') parts.push(`${e.ownerUid ?? -1}:${e.ownerGid ?? -1}`);
  if (e.length !== null) parts.push(String(e.length));
  parts.push(formatRet(e.ret));
  return escapeControls(parts.join(' '));
}
