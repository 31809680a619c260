// A process image for the formatter tests (pure): a docker container's
// /usr/bin/echo run by uid 1000, its parent pid 9. Fields can be overridden.
import { execId } from '../src/process/exec-id.js';
import type { ProcessInfo } from '../src/process/types.js';

export function info(over: Partial<ProcessInfo> = {}): ProcessInfo {
  return {
    execId: execId('n', 2n, 10), pid: 10, tid: 10, ppid: 9, parentExecId: execId('n', 1n, 9), parentStartBootNs: 1n,
    uid: 1000, gid: 1000, euid: 1000, egid: 1000, suid: 1000, sgid: 1000, fsuid: 1000, fsgid: 1000, securebits: 0x14,
    auid: 1000, comm: 'echo', binary: '/usr/bin/echo', args: ['echo', 'hi there', 'x'], cwd: '/tmp', tty: 'pts/1', startBootNs: 2n, startTimeNs: 1_700_000_000_000_000_000n,
    execBootNs: 2n, caps: { effective: 1n << 21n, permitted: 3n, inheritable: 0n },
    ns: { uts: 1, ipc: 2, mnt: 3, pid: 4, pidForChildren: 4, net: 5, cgroup: 6, user: 7, time: 8, timeForChildren: 8 },
    cgroupId: 42n, cgroupPath: '/system.slice/docker-abc.scope', container: { id: 'ab'.repeat(32), runtime: 'docker' },
    source: 'exec',
    flags: { binaryTruncated: false, argsTruncated: false, cwdTruncated: false, binaryError: false, argsError: false, cwdError: false },
    exit: undefined, replaced: false, ...over,
  };
}
