// The file event's user space without the kernel (issue 12, goal 2): the same
// open record, as the file sensor's ring gives it, decoded, formatted as
// `observe --output json` (or with --fields) writes it, encoded into a batch's
// pieces and written with writev to a file on /dev/shm, stage by stage. Each
// stage adds one step to the one before; decoded events are held in a FIFO of
// --hold events before they are formatted, as the pipeline's merge window
// holds them. CPU per event: process.cpuUsage() over the stage's events.
//
//   node --max-semi-space-size=2 --heap-growing-percent=50 dist/bench/event-path.js
//     [--events N] [--hold N] [--fields MASK]
// (the flags bin/vigil runs Node with; the young generation's size is much of the answer)
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  VIGIL_FILE_EVENT, VIGIL_FILE_OP_OPEN, VIGIL_FILE_PATH_OPENED, VIGIL_FILE_SYS_OPENAT, vigilFileEvent,
} from '../src/generated/file.js';
import { eventEncoder, encodeEvent } from '../src/output/event-format.js';
import { FieldMask } from '../src/output/field-mask.js';
import { execId } from '../src/process/exec-id.js';
import type { ProcessInfo, ProcessLookup } from '../src/process/types.js';
import { decodeFileRecord } from '../src/sensors/file.js';
import type { FileEvent } from '../src/sensors/file-events.js';
import { BootClock } from '../src/util/clock.js';
import { intFlag, runAsScript } from './script.js';
import { HeldLines } from './stages.js';

/** A root shell's image (full capability sets, host namespaces), as the process cache holds one. */
function image(pid: number, binary: string, args: string[], parent?: ProcessInfo): ProcessInfo {
  const all = (1n << 41n) - 1n;
  return {
    execId: execId('vm', BigInt(pid) * 1000n, pid), pid, tid: pid, ppid: parent?.pid ?? 1, parentExecId: parent?.execId,
    parentStartBootNs: parent?.startBootNs, uid: 0, gid: 0, euid: 0, egid: 0, suid: 0, sgid: 0, fsuid: 0, fsgid: 0,
    securebits: 0, auid: 0xffffffff, comm: path.basename(binary).slice(0, 15), binary, args, cwd: '/root', tty: undefined,
    startBootNs: BigInt(pid) * 1000n, startTimeNs: 1_765_000_000_000_000_000n + BigInt(pid), execBootNs: BigInt(pid) * 1000n,
    caps: { effective: all, permitted: all, inheritable: 0n },
    ns: { uts: 1, ipc: 2, mnt: 3, pid: 4, pidForChildren: 4, net: 5, cgroup: 6, user: 7, time: 8, timeForChildren: 8 },
    cgroupId: 1n, cgroupPath: '/', container: 'host', source: 'exec',
    flags: { binaryTruncated: false, argsTruncated: false, cwdTruncated: false, binaryError: false, argsError: false, cwdError: false },
    exit: undefined, replaced: false,
  };
}

/** 64 records of one open (times 1 µs apart) in one batch buffer, as the reader hands them over. */
function records(file: string): { view: DataView; stride: number; size: number; count: number } {
  const name = new TextEncoder().encode(file);
  const size = vigilFileEvent.size + 2 * name.length;
  const stride = size + 8;
  const count = 64;
  const view = new DataView(new ArrayBuffer(stride * count));
  for (let r = 0; r < count; r++) {
    vigilFileEvent.encode({
      kind: VIGIL_FILE_EVENT, syscall: VIGIL_FILE_SYS_OPENAT, op: VIGIL_FILE_OP_OPEN, ktime: 5_000_000_000n + BigInt(r * 1000),
      start_boottime: 2_000n, cgroup_id: 1n, ret: 3n, flags: 0n, resolve: 0n, length: 0n, ino: 1169n, mode: 0, owner_uid: 0,
      owner_gid: 0, pid: 2, tid: 2, uid: 0, gid: 0, status: VIGIL_FILE_PATH_OPENED, nr: 257, dirfd: -100, dirfd2: -100, dev: 27,
      path_len: name.length, target_len: 0, raw_len: name.length, raw_target_len: 0, comm: 'openstorm',
    }, view, r * stride);
    new Uint8Array(view.buffer, r * stride + vigilFileEvent.size).set(name);
    new Uint8Array(view.buffer, r * stride + vigilFileEvent.size + name.length).set(name);
  }
  return { view, stride, size, count };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { events: { type: 'string', default: '200000' }, hold: { type: 'string', default: '2000' }, fields: { type: 'string' } },
  });
  const events = intFlag('events', values.events!, 1000);
  const hold = intFlag('hold', values.hold!, 0);
  const dir = mkdtempSync('/dev/shm/vigil-event-path-');
  const file = path.join(dir, 'files', 'f');
  const rec = records(file);
  const clock = BootClock.measure();
  const shell = image(1, '/usr/bin/bash', ['bash']);
  const storm = image(2, '/usr/local/bin/openstorm', ['openstorm', '--path', file], shell);
  const lookup: ProcessLookup = {
    get: () => storm, getByExecId: () => undefined, parentOf: () => shell, ancestors: () => [shell],
  };
  const encoder = eventEncoder('json', {
    node: 'vm', hostNamespaces: { uts: 1, ipc: 2, mnt: 3, pid: 4, net: 5, cgroup: 6, user: 7 }, lookup,
    ...(values.fields ? { fields: FieldMask.parse(values.fields) } : {}),
  });
  const fd = openSync(path.join(dir, 'out.json'), 'w');
  // 1 decode, 2 + format, 3 + encode (piecesOf), 4 + writev.
  const run = (n: number, stages: number): number => {
    const out = new HeldLines<FileEvent>(hold, stages, { format: 2, encode: 3, writev: { stage: 4, fd } }, 'file', (e) => encodeEvent(encoder, e)!);
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const e = decodeFileRecord(rec.view, (i % rec.count) * rec.stride, rec.size, clock);
      if (e) out.push(e);
    }
    const t = process.cpuUsage(t0);
    return (t.user + t.system) / n;
  };
  try {
    const names = ['', 'decode', '+ format', '+ encode', '+ writev'];
    for (let s = 1; s <= 4; s++) run(Math.ceil(events / 4), s); // warm-up: the JIT's compilations
    console.log(`${events} file events${values.fields ? ` --fields ${values.fields}` : ', full JSON'}, ${hold} held; CPU per event:`);
    for (let s = 1; s <= 4; s++) console.log(`  ${names[s]!.padEnd(9)} ${run(events, s).toFixed(2)} µs`);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

runAsScript(import.meta, 'event-path', main);
