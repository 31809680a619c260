// Where state that must outlive a command is pinned (the firewall, persistent
// network policies): a bpffs that is still there when the command has exited.
import { readlinkSync, statfsSync } from 'node:fs';
import { ensureBpffs } from '../bpf/mounts.js';

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
