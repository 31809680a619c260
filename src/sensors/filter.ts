// In-kernel filters shared by every sensor (bpf/include/vigil/filter.h).
//
// A FilterSet creates the filter maps once, fills them, and hands them to each
// sensor's object at load (reuseMaps) together with the flags constant, so
// every sensor filters alike and a filter holds any number of values.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { BpfMap, MapType, PerCpuMap, TypedMap, codec } from '../bpf/index.js';
import type { ConstantValue } from '../bpf/index.js';
import {
  VIGIL_FILTER_BINARY, VIGIL_FILTER_CGROUP, VIGIL_FILTER_CGROUP_NOT, VIGIL_FILTER_COMM, VIGIL_FILTER_DROPPED,
  VIGIL_FILTER_MAX_VALUES, VIGIL_FILTER_PASSED, VIGIL_FILTER_PATH, VIGIL_FILTER_PATH_MAX, VIGIL_FILTER_PID,
  VIGIL_FILTER_PID_TREE, VIGIL_FILTER_UID, VIGIL_TRACKED_MAX, vigilPathKey, vigilTrackedTask,
} from '../generated/filter.js';

export interface FilterOptions {
  /** Thread group ids. */
  pids?: number[];
  /** With pids: their descendants too (forked after or before Vigil started). */
  followChildren?: boolean;
  uids?: number[];
  /** Kernel short names (comm, at most 15 bytes). */
  comms?: string[];
  /** Executable path prefixes ("/usr/bin/", "/tmp/"). */
  binaryPrefixes?: string[];
  /** cgroup v2 ids (the inode number of the cgroup's directory). */
  cgroupIds?: bigint[];
  /** With cgroupIds: match processes in none of them (--container host). */
  notInCgroups?: boolean;
  /** Absolute path prefixes, for sensors that see paths. */
  pathPrefixes?: string[];
  /**
   * Leave out this process (every thread) and the helpers it starts (their
   * descendants, where a process sensor shares this set): an agent should
   * not report its own /proc and tracefs reads. The CLI sets it unless
   * --include-self; a library user who traces itself leaves it off.
   */
  excludeSelf?: boolean;
  /**
   * Count the events the filters drop (filterCounts().dropped; default true). Off, a rejected event
   * costs only the test that rejects it: for streams that show no such count (`vigil observe`).
   */
  countDropped?: boolean;
}

const FLAG_MAP_NAMES = ['vigil_filter_pids', 'vigil_filter_uids', 'vigil_filter_comms', 'vigil_filter_cgroups',
  'vigil_filter_binaries', 'vigil_filter_paths', 'vigil_tracked', 'vigil_self_children'] as const;

/** VIGIL_FILTER_INLINE_UIDS of filter.h. */
const INLINE_UIDS = 4;

const encoder = new TextEncoder();

function pathKey(prefix: string, exact = false): { prefixlen: number; path: Uint8Array } {
  const bytes = encoder.encode(prefix);
  if (bytes.length > VIGIL_FILTER_PATH_MAX) {
    throw new RangeError(`path prefix longer than ${VIGIL_FILTER_PATH_MAX} bytes: ${prefix.slice(0, 40)}...`);
  }
  // The kernel looks up the whole NUL-padded path; a prefix matches bytewise.
  return { prefixlen: (exact ? VIGIL_FILTER_PATH_MAX : bytes.length) * 8, path: bytes };
}

function check(values: unknown[] | undefined, what: string): void {
  if (values && values.length > VIGIL_FILTER_MAX_VALUES) {
    throw new RangeError(`${what}: ${values.length} values, at most ${VIGIL_FILTER_MAX_VALUES}`);
  }
}

export class FilterSet implements Disposable {
  readonly flags: number;
  private readonly maps = new Map<string, BpfMap>();

  constructor(readonly options: FilterOptions = {}) {
    const o = options;
    for (const [v, w] of [[o.pids, 'pids'], [o.uids, 'uids'], [o.comms, 'comms'], [o.binaryPrefixes, 'binary prefixes'],
      [o.cgroupIds, 'cgroups'], [o.pathPrefixes, 'path prefixes']] as const) check(v as unknown[] | undefined, w);
    let f = 0;
    if (o.pids?.length) f |= o.followChildren ? VIGIL_FILTER_PID_TREE : VIGIL_FILTER_PID;
    if (o.uids?.length) f |= VIGIL_FILTER_UID;
    if (o.comms?.length) f |= VIGIL_FILTER_COMM;
    if (o.binaryPrefixes?.length) f |= VIGIL_FILTER_BINARY;
    if (o.cgroupIds?.length || o.notInCgroups) f |= VIGIL_FILTER_CGROUP | (o.notInCgroups ? VIGIL_FILTER_CGROUP_NOT : 0);
    if (o.pathPrefixes?.length) f |= VIGIL_FILTER_PATH;
    this.flags = f;
    for (const c of o.comms ?? []) {
      if (Buffer.byteLength(c) > 15) throw new RangeError(`comm "${c}" is longer than 15 bytes (the kernel keeps 15)`);
    }
    try {
      this.create();
      this.fill();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private create(): void {
    const hash = (name: string, keySize: number) =>
      BpfMap.create({ name, type: MapType.hash, keySize, valueSize: 1, maxEntries: VIGIL_FILTER_MAX_VALUES, flags: 0 });
    const lpm = (name: string) => BpfMap.create({ name, type: MapType.lpm_trie, keySize: vigilPathKey.size,
      valueSize: 1, maxEntries: VIGIL_FILTER_MAX_VALUES, flags: 1 /* BPF_F_NO_PREALLOC */ });
    this.maps.set('vigil_filter_pids', hash('vigil_filter_pid', 4));
    this.maps.set('vigil_filter_uids', hash('vigil_filter_uid', 4));
    this.maps.set('vigil_filter_comms', hash('vigil_filter_com', 16));
    this.maps.set('vigil_filter_cgroups', hash('vigil_filter_cgr', 8));
    this.maps.set('vigil_filter_binaries', lpm('vigil_filter_bin'));
    this.maps.set('vigil_filter_paths', lpm('vigil_filter_pat'));
    this.maps.set('vigil_tracked', BpfMap.create({ name: 'vigil_tracked', type: MapType.lru_hash, keySize: 4,
      valueSize: vigilTrackedTask.size, maxEntries: VIGIL_TRACKED_MAX, flags: 0 }));
    this.maps.set('vigil_self_children', BpfMap.create({ name: 'vigil_self_chil', type: MapType.array, keySize: 4,
      valueSize: 4, maxEntries: 1, flags: 0 }));
  }

  private map(name: (typeof FLAG_MAP_NAMES)[number]): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new Error(`filter map ${name} is closed`);
    return m;
  }

  private fill(): void {
    const o = this.options;
    const one = Buffer.from([1]);
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n >>> 0);
      return b;
    };
    for (const p of o.pids ?? []) this.map('vigil_filter_pids').update(u32(p), one);
    for (const u of o.uids ?? []) this.map('vigil_filter_uids').update(u32(u), one);
    for (const c of o.comms ?? []) {
      const k = Buffer.alloc(16);
      k.write(c, 'utf8');
      this.map('vigil_filter_comms').update(k, one);
    }
    for (const id of o.cgroupIds ?? []) {
      const k = Buffer.alloc(8);
      k.writeBigUInt64LE(id);
      this.map('vigil_filter_cgroups').update(k, one);
    }
    const lpm = (m: BpfMap, prefixes: string[] | undefined) => {
      const t = new TypedMap(m, vigilPathKey, codec.u8);
      for (const p of prefixes ?? []) t.set(pathKey(p), 1);
    };
    lpm(this.map('vigil_filter_binaries'), o.binaryPrefixes);
    lpm(this.map('vigil_filter_paths'), o.pathPrefixes);
  }

  /**
   * Seeds per-process verdicts for processes that already run: descendants
   * of --pid processes, and binaries that match a prefix. Call after the
   * process sensor is attached (so no fork between seeding and tracking is
   * missed: the kernel's update wins over a stale seed only if newer, and a
   * seed never clears a verdict the kernel set).
   */
  seedExisting(procRoot = '/proc'): number {
    if (!(this.flags & (VIGIL_FILTER_PID_TREE | VIGIL_FILTER_BINARY))) return 0;
    const procs = listProcesses(procRoot);
    const inTree = new Set<number>();
    if (this.flags & VIGIL_FILTER_PID_TREE) {
      const children = new Map<number, number[]>();
      for (const p of procs.values()) {
        const list = children.get(p.ppid) ?? [];
        list.push(p.pid);
        children.set(p.ppid, list);
      }
      const stack = [...(this.options.pids ?? [])];
      while (stack.length) {
        const pid = stack.pop() as number;
        if (inTree.has(pid)) continue;
        inTree.add(pid);
        stack.push(...(children.get(pid) ?? []));
      }
    }
    const tracked = new TypedMap(this.map('vigil_tracked'), codec.u32, vigilTrackedTask);
    let n = 0;
    for (const p of procs.values()) {
      const pidTree = inTree.has(p.pid);
      const binary = !!p.exe && (this.options.binaryPrefixes ?? []).some((pre) => p.exe?.startsWith(pre));
      if (!pidTree && !binary) continue;
      const prev = tracked.get(p.pid);
      tracked.set(p.pid, { pid_tree: pidTree || !!prev?.pid_tree ? 1 : 0, binary: binary || !!prev?.binary ? 1 : 0,
        self: prev?.self ?? 0, pad: new Uint8Array(5) });
      n++;
    }
    return n;
  }

  /**
   * Whether the kernel keeps per-process state at fork (vigil_tracked): --pid
   * trees, binary prefixes, and Vigil's own helpers when self is left out.
   * The process sensor then runs its fork program even if no fork is printed.
   */
  get tracksForks(): boolean {
    return (this.flags & (VIGIL_FILTER_PID_TREE | VIGIL_FILTER_BINARY)) !== 0 || this.options.excludeSelf === true;
  }

  /** This process's thread group id as BPF sees it (0: unknown, nothing left out). */
  private get selfTgid(): number {
    return (this.selfTgidCached ??= initNamespaceTgid());
  }

  private selfTgidCached: number | undefined;

  /** Maps for LoadOptions.reuseMaps: every sensor object shares these. */
  reuseMaps(): Record<string, BpfMap> {
    return Object.fromEntries(FLAG_MAP_NAMES.map((n) => [n, this.map(n)]));
  }

  /** Constants for LoadOptions.constants. */
  constants(): Record<string, ConstantValue> {
    const c: Record<string, ConstantValue> = {
      vigil_filter_flags: this.flags, vigil_filter_self: this.options.excludeSelf ? this.selfTgid : 0,
    };
    if (this.options.countDropped === false) c.vigil_filter_count_dropped = 0;
    // A few uids are compared in the program, without the map (filter.h).
    const uids = [...new Set(this.options.uids ?? [])];
    if (uids.length > 0 && uids.length <= INLINE_UIDS) {
      const list = new Uint8Array(4 * INLINE_UIDS);
      uids.forEach((u, i) => new DataView(list.buffer).setUint32(4 * i, u >>> 0, true));
      c.vigil_filter_uid_count = uids.length;
      c.vigil_filter_uid_list = list;
    }
    return c;
  }

  close(): void {
    for (const m of this.maps.values()) m.close();
    this.maps.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The initial pid namespace's inode number (PROC_PID_INIT_INO): the same on every kernel. */
const INIT_PID_NS = 'pid:[4026531836]';

/**
 * This process's tgid in the initial pid namespace, which is what BPF's
 * bpf_get_current_pid_tgid() reports: process.pid on the host; in a
 * container, the outermost NSpid when this /proc belongs to the host's pid
 * namespace (hostPID); otherwise 0, so the self filter matches nothing
 * rather than the host process that has Vigil's namespace pid (pid 1: init).
 */
export function initNamespaceTgid(procRoot = '/proc'): number {
  const link = (p: string) => {
    try {
      return readlinkSync(p);
    } catch {
      return undefined;
    }
  };
  if (link(`${procRoot}/self/ns/pid`) === INIT_PID_NS) return process.pid;
  let status: string;
  try {
    status = readFileSync(`${procRoot}/self/status`, 'latin1');
  } catch {
    return 0;
  }
  const nspid = /^NSpid:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).map(Number) ?? [];
  // The first NSpid is the pid in the namespace of this /proc; it is the host's when its pid 1 is the host's init.
  if (nspid.length > 1 && link(`${procRoot}/1/ns/pid`) === INIT_PID_NS && Number.isInteger(nspid[0])) return nspid[0] as number;
  return 0;
}

/** Events a sensor's object passed and dropped by filter (its vigil_filter_counts map). */
export function filterCounts(countsMap: BpfMap): { passed: bigint; dropped: bigint } {
  const m = new PerCpuMap(countsMap, codec.u32, codec.u64);
  const sum = (k: number) => (m.get(k) ?? []).reduce((a, b) => a + b, 0n);
  return { passed: sum(VIGIL_FILTER_PASSED), dropped: sum(VIGIL_FILTER_DROPPED) };
}

interface ProcEntry {
  pid: number;
  ppid: number;
  exe: string | undefined;
}

/** Processes from /proc: pid, parent, executable. */
export function listProcesses(procRoot = '/proc'): Map<number, ProcEntry> {
  const out = new Map<number, ProcEntry>();
  for (const name of readdirSync(procRoot)) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`${procRoot}/${name}/stat`, 'utf8');
      // comm may hold spaces and parentheses: fields resume after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(rest[1]);
      let exe: string | undefined;
      try {
        exe = readlinkSync(`${procRoot}/${name}/exe`);
      } catch {
        exe = undefined; // kernel threads, or gone
      }
      out.set(pid, { pid, ppid, exe });
    } catch {
      // exited while listing
    }
  }
  return out;
}
