// errno numbers and names: the host's table (os.constants.errno) plus the
// kernel-internal codes that bpf(2) and perf_event_open(2) return but libc
// does not name (ENOTSUPP 524 above all: a BPF feature this kernel lacks).
import os from 'node:os';

/** Kernel-internal errnos (include/linux/errno.h): never seen by ordinary syscalls, but bpf(2) returns them. */
const KERNEL_INTERNAL: Readonly<Record<string, number>> = {
  ERESTARTSYS: 512, ERESTARTNOINTR: 513, ERESTARTNOHAND: 514, ENOIOCTLCMD: 515, ERESTART_RESTARTBLOCK: 516,
  EPROBE_DEFER: 517, EOPENSTALE: 518, ENOPARAM: 519, EBADHANDLE: 521, ENOTSYNC: 522, EBADCOOKIE: 523,
  ENOTSUPP: 524, ETOOSMALL: 525, ESERVERFAULT: 526, EBADTYPE: 527, EJUKEBOX: 528, EIOCBQUEUED: 529,
  ERECALLCONFLICT: 530, ENOGRACE: 531,
};

/** Where one number has two names, the one the kernel's own headers and strace print. */
const PREFERRED = new Set(['EAGAIN', 'EOPNOTSUPP']);

const NAMES = new Map<number, string>();
const NUMBERS = new Map<string, number>();
for (const [name, n] of [...Object.entries(os.constants.errno), ...Object.entries(KERNEL_INTERNAL)]) {
  NUMBERS.set(name, n);
  if (!NAMES.has(n) || PREFERRED.has(name)) NAMES.set(n, name);
}

/** "ENOENT" for 2, undefined for a number no table names. */
export function errnoNameOf(errno: number): string | undefined {
  return NAMES.get(errno);
}

/** "ENOENT" for 2; "E<n>" for a number no table names. */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `E${errno}`;
}

/** 2 for "ENOENT"; undefined for a name neither table knows. */
export function errnoNumber(name: string): number | undefined {
  return NUMBERS.get(name);
}
