// Where state that must outlive a command is pinned (the firewall, the
// bandwidth manager, persistent network policies): a bpffs that is still there
// when the command has exited, and the small operations on such pins.
import { existsSync, readdirSync, readlinkSync, rmdirSync, statSync, statfsSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { ensureBpffs } from '../bpf/mounts.js';
import { native } from '../bpf/native.js';
import { BpfMap, PerCpuMap, TypedMap } from '../bpf/map.js';
import * as codec from '../bpf/codec.js';
import type { Codec } from '../bpf/codec.js';

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

/** Subdirectories of a pin root (one per interface), sorted; none when the root does not exist. */
export function pinDirs(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((d) => statSync(path.join(root, d)).isDirectory()).sort();
}

/**
 * The pinned maps of one interface's state (the firewall's, the bandwidth
 * manager's), opened from dir: a map by name, and close() for all of them.
 */
export class PinnedMaps<N extends string> implements Disposable {
  private readonly maps: Record<N, BpfMap>;
  private closed = false;

  /** Opens every map of `names` in dir; what was opened is closed again when one fails. */
  protected constructor(readonly ifname: string, readonly dir: string, names: readonly N[], error: (message: string, cause: unknown) => Error) {
    const maps: Partial<Record<N, BpfMap>> = {};
    try {
      for (const m of names) maps[m] = BpfMap.fromPin(path.join(dir, m));
    } catch (e) {
      for (const m of Object.values<BpfMap | undefined>(maps)) m?.close();
      throw error(`state of ${ifname} in ${dir} is incomplete: ${(e as Error).message}`, e);
    }
    this.maps = maps as Record<N, BpfMap>;
  }

  protected map(name: N): BpfMap {
    if (this.closed) throw new Error(`${this.dir} is closed`);
    return this.maps[name];
  }

  /** The state's info: the one entry of its single-entry array `info`, written at attach. */
  protected infoAs<V>(value: Codec<V>, error: (message: string) => Error): V {
    const i = new TypedMap(this.map('info' as N), codec.u32, value).get(0);
    if (!i) throw error(`state of ${this.ifname} has no info`);
    return i;
  }

  /** The interface's index now; undefined when it is gone. */
  protected ifindexNow(): number | undefined {
    try {
      return interfaceIndex(this.ifname, (m) => new Error(m));
    } catch {
      return undefined;
    }
  }

  /** A per-CPU __u64 array (a program's global counters): slot -> its sum over CPUs. */
  protected perCpuTotals(name: N): (slot: number) => number {
    const m = new PerCpuMap(this.map(name), codec.u32, codec.u64n);
    return (slot) => (m.get(slot) ?? []).reduce((a, b) => a + b, 0);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const m of Object.values<BpfMap>(this.maps)) m.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Runs `detach(dir, ifindex)` for the pinned state of ifname under root
 * (ifindex 0: the interface is gone, only the pins remain). False when there is none.
 */
export function detachByName(root: string, ifname: string, detach: (dir: string, ifindex: number) => void): boolean {
  const dir = path.join(root, ifname);
  if (!existsSync(dir)) return false;
  let ifindex = 0;
  try {
    ifindex = interfaceIndex(ifname, (m) => new Error(m));
  } catch {
    /* the interface is gone */
  }
  detach(dir, ifindex);
  return true;
}
