// Where state that must outlive a command is pinned (the firewall, the
// bandwidth manager, persistent network policies): a bpffs that is still there
// when the command has exited, and the small operations on such pins.
import { existsSync, readdirSync, readlinkSync, rmdirSync, statfsSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { ensureBpffs } from '../bpf/mounts.js';
import { native } from '../bpf/native.js';

const BPF_FS_MAGIC = 0xcafe4a11;

function mountNs(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

function isBpffs(dir: string): boolean {
  try {
    return statfsSync(dir).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * A bpffs whose pins outlive this process. Normally the one mounted here (or
 * mounted now at /sys/fs/bpf). But in a mount namespace of its own, which
 * `ip netns exec` makes for each command (and where it mounts a new /sys that
 * hides the host's /sys/fs/bpf), a bpffs mounted here vanishes with the
 * process, and every pin with it: then the bpffs of the parent's mount
 * namespace, reached through /proc/PPID/root. Where there is none, an error
 * rather than an attach that would not last.
 */
export function durableBpffs(error: (message: string) => Error): string {
  const self = mountNs('self');
  const parent = mountNs(process.ppid);
  if (!self || !parent || self === parent) {
    const st = ensureBpffs();
    if (!st.path) throw error(`bpffs is not available: ${st.reason ?? 'not mounted'}`);
    return st.path;
  }
  const outer = `/proc/${process.ppid}/root/sys/fs/bpf`;
  if (isBpffs(outer)) return outer;
  throw error('this process runs in a mount namespace of its own (as `ip netns exec` makes) and no bpffs ' +
    'that outlives it is reachable (the parent\'s /sys/fs/bpf is not one): pins made here would vanish when it exits. ' +
    'Mount bpffs at /sys/fs/bpf outside, or run it with `nsenter --net=/run/netns/NS vigil ...`, which keeps the mount namespace');
}

/** The ifindex of an interface of this process's network namespace; `error` makes the refusal. */
export function interfaceIndex(ifname: string, error: (message: string) => Error): number {
  if (!/^[^/\s]{1,15}$/.test(ifname) || ifname === '.' || ifname === '..') {
    throw error(`"${ifname}" is not an interface name`);
  }
  try {
    // if_nametoindex asks the process's network namespace (sysfs shows the one it was mounted in).
    return native().ifNameToIndex(ifname);
  } catch {
    throw error(`no interface named ${ifname} in this network namespace`);
  }
}

/** The id of the program pinned at `pin`; undefined when there is no pin. */
export function pinnedProgramId(pin: string): number | undefined {
  if (!existsSync(pin)) return undefined;
  const n = native();
  const fd = n.objGet(pin);
  try {
    return n.progInfo(fd).id;
  } finally {
    n.closeFd(fd);
  }
}

/** Removes a directory of pins (releasing what only they held) and the directory. */
export function removePinDir(dir: string): void {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) unlinkSync(path.join(dir, f));
  rmdirSync(dir);
}
