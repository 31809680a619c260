// Which container a process runs in, told from its cgroup path.
//
// Every runtime puts a container's processes in a cgroup named after the
// container id, each in its own way (shapes as they appear in
// /proc/<pid>/cgroup, v1 and v2 alike):
//
//   docker      /docker/<id>                                  (cgroupfs driver)
//               /system.slice/docker-<id>.scope                (systemd driver; also /docker.slice/...)
//   containerd  .../cri-containerd-<id>.scope                  (CRI, systemd driver)
//               .../kubepods-...-pod<uid>.slice:cri-containerd:<id>  (systemd slice names on cgroupfs)
//               /<namespace>/<id>, .../nerdctl-<id>.scope       (ctr, nerdctl)
//   cri-o       .../crio-<id>.scope, .../crio-<id>             (systemd / cgroupfs)
//   podman      /machine.slice/libpod-<id>.scope[/container]   (root, rootless under user@.service)
//               .../libpod-payload-<id>.scope, /libpod_parent/libpod-<id>
//   kubernetes  /kubepods/<qos>/pod<uid>/<id>                   (cgroupfs: the runtime is not named: 'cri')
//               /kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_with_underscores>.slice/<runtime>-<id>.scope
//               (guaranteed pods have no <qos> level; static pods have a 32-hex uid)
//
// The path is read from the leaf up and the first component that names a
// container wins: a process of a nested container (kind, docker-in-docker)
// belongs to the innermost one, and sub-cgroups a container makes for itself
// (podman's /container, systemd's init.scope inside a container) belong to
// it. Monitors that run beside a container (conmon: libpod-conmon-<id>,
// crio-conmon-<id>) are host processes. Container ids are 64 hex digits;
// anything else is not taken for one.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { cgroup2 } from '../bpf/mounts.js';
import { parseLines } from '../util/text.js';
import { HOST, type ContainerInfo, type ContainerRuntime, type Host } from './types.js';

const ID = '([0-9a-f]{64})';
/** A pod UID: a UUID with dashes (cgroupfs) or underscores (systemd slices), or 32 hex digits (static pods). */
const POD_UID = '([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})';

/** Named components: <prefix><id>[.scope]. Order matters only for prefixes of one another (none here). */
const NAMED: ReadonlyArray<{ re: RegExp; runtime: ContainerRuntime }> = [
  { re: new RegExp(`^docker-${ID}(?:\\.scope)?$`), runtime: 'docker' },
  { re: new RegExp(`^cri-containerd-${ID}(?:\\.scope)?$`), runtime: 'containerd' },
  { re: new RegExp(`^nerdctl-${ID}(?:\\.scope)?$`), runtime: 'containerd' },
  { re: new RegExp(`^crio-${ID}(?:\\.scope)?$`), runtime: 'cri-o' },
  { re: new RegExp(`^libpod-(?:payload-)?${ID}(?:\\.scope)?$`), runtime: 'podman' },
  // kubelet's systemd slice names on a cgroupfs-driven containerd: "<slice>:<prefix>:<id>".
  { re: new RegExp(`^[^:]*:cri-containerd:${ID}$`), runtime: 'containerd' },
  { re: new RegExp(`^[^:]*:crio:${ID}$`), runtime: 'cri-o' },
  { re: new RegExp(`^[^:]*:docker:${ID}$`), runtime: 'docker' },
];
const BARE = new RegExp(`^${ID}$`);
const POD = new RegExp(`pod${POD_UID}(?:\\.slice)?$`);
/** kubelet's QoS slices; kind nodes prefix them with "kubelet-". */
const QOS = /(?:^|-)kubepods[-.](besteffort|burstable)\b/;

function podOf(components: readonly string[]): Pick<ContainerInfo, 'podUid' | 'podQos'> {
  let podUid: string | undefined;
  let podQos: ContainerInfo['podQos'];
  let kube = false;
  for (const c of components) {
    if (c.includes('kubepods')) kube = true;
    const q = QOS.exec(c) ?? (c === 'besteffort' || c === 'burstable' ? [c, c] : null);
    if (kube && q) podQos = q[1] as ContainerInfo['podQos'];
    // "kubepods-burstable-pod<uid>.slice" or "pod<uid>"; also the slice part of "<slice>:cri-containerd:<id>".
    const m = POD.exec(c.split(':')[0] ?? c);
    if (m && (kube || c.startsWith('pod'))) podUid = (m[1] ?? '').replace(/_/g, '-');
  }
  if (!podUid) return {};
  return { podUid, podQos: podQos ?? 'guaranteed' };
}

/** The runtime of a container named by a bare id, from the components above it. */
function bareRuntime(above: readonly string[]): ContainerRuntime {
  const parent = above[above.length - 1] ?? '';
  if (parent === 'docker' || parent === 'docker.service') return 'docker';
  if (above.some((c) => c.includes('kubepods') || POD.test(c))) return 'cri';
  if (parent === 'libpod_parent') return 'podman';
  return 'containerd';
}

/**
 * The container a cgroup path names, or 'host'. Takes a cgroup v2 path
 * ("/system.slice/docker-<id>.scope"), a v1 path, or the leaf name alone.
 */
export function containerFromCgroupPath(cgroupPath: string): ContainerInfo | Host {
  const components = cgroupPath.split('/').filter((c) => c !== '');
  for (let i = components.length - 1; i >= 0; i--) {
    const c = components[i] ?? '';
    if (c.includes('conmon-')) return HOST;
    const above = components.slice(0, i);
    for (const { re, runtime } of NAMED) {
      const m = re.exec(c);
      if (m) return { id: m[1] ?? '', runtime, ...podOf([...above, c]) };
    }
    const b = BARE.exec(c);
    if (b) return { id: b[1] ?? '', runtime: bareRuntime(above), ...podOf(above) };
  }
  return HOST;
}

export interface ProcCgroupLine {
  /** Hierarchy id: 0 for cgroup v2. */
  hierarchy: number;
  /** v1 controllers ("cpu,cpuacct", "name=systemd"); '' for v2. */
  controllers: string;
  path: string;
}

/** Lines of /proc/<pid>/cgroup ("hierarchy-ID:controller-list:cgroup-path"). */
export function parseProcCgroup(text: string): ProcCgroupLine[] {
  return parseLines(text, (line) => {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) return undefined;
    // The path is everything after the second colon: it may hold colons itself.
    return { hierarchy: Number(line.slice(0, a)), controllers: line.slice(a + 1, b), path: line.slice(b + 1) };
  });
}

/** The v2 path ("0::/...") of /proc/<pid>/cgroup, if the process has one. */
export function cgroupV2Path(text: string): string | undefined {
  return parseProcCgroup(text).find((l) => l.hierarchy === 0 && l.controllers === '')?.path;
}

/**
 * The container of a process from its /proc/<pid>/cgroup. The v2 line is
 * read first; on hybrid hosts a runtime with the cgroupfs driver names the
 * container only in the v1 hierarchies, so those are read next
 * (name=systemd first, then the others in order).
 */
export function containerFromProcCgroup(text: string): ContainerInfo | Host {
  const lines = parseProcCgroup(text);
  const rank = (l: ProcCgroupLine) => (l.hierarchy === 0 && l.controllers === '' ? 0 : l.controllers === 'name=systemd' ? 1 : 2);
  for (const l of [...lines].sort((x, y) => rank(x) - rank(y))) {
    const c = containerFromCgroupPath(l.path);
    if (c !== HOST) return c;
  }
  return HOST;
}

/** The container of a running process; undefined when /proc/<pid>/cgroup cannot be read (it exited). */
export function containerOfPid(pid: number, procRoot = '/proc'): ContainerInfo | Host | undefined {
  try {
    return containerFromProcCgroup(readFileSync(`${procRoot}/${pid}/cgroup`, 'latin1'));
  } catch {
    return undefined;
  }
}

// --- the cgroup v2 tree -----------------------------------------------------

export interface CgroupDir {
  /** Path below the cgroup v2 root, "/"-led ("/system.slice/docker-<id>.scope"). */
  path: string;
  /** The cgroup id: inode number of the directory (= bpf_get_current_cgroup_id()). */
  id: bigint;
}

/** Bounds of a walk: cgroup trees are small, but a walk must not run away. */
const MAX_DEPTH = 64;
const MAX_DIRS = 200_000;

function cgroup2Root(root?: string): string {
  if (root) return root;
  const st = cgroup2();
  if (!st.path) throw new ContainerLookupError(`cgroup v2 is not mounted: ${st.reason ?? 'no cgroup2 mount'}`);
  return st.path;
}

/**
 * Every cgroup under root (root itself included, as "/"), parents before
 * children. A directory that vanishes during the walk is skipped.
 */
export function walkCgroups(root?: string, start = '/'): CgroupDir[] {
  const base = cgroup2Root(root);
  const out: CgroupDir[] = [];
  const stack: Array<{ rel: string; depth: number }> = [{ rel: start, depth: 0 }];
  while (stack.length && out.length < MAX_DIRS) {
    const { rel, depth } = stack.pop() as { rel: string; depth: number };
    const abs = path.join(base, rel);
    let id: bigint;
    try {
      id = statSync(abs, { bigint: true }).ino;
    } catch {
      continue;
    }
    out.push({ path: rel, id });
    if (depth >= MAX_DEPTH) continue;
    let entries;
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      continue;
    }
    // Reversed so the walk pops children in name order.
    for (const e of entries.reverse()) {
      if (e.isDirectory()) stack.push({ rel: path.posix.join(rel, e.name), depth: depth + 1 });
    }
  }
  return out;
}

export interface ContainerCgroup extends CgroupDir {
  container: ContainerInfo;
}

/** Every cgroup v2 directory that belongs to a container (for `--container host`: processes in none of them). */
export function containerCgroups(root?: string): ContainerCgroup[] {
  const out: ContainerCgroup[] = [];
  for (const d of walkCgroups(root)) {
    const c = containerFromCgroupPath(d.path);
    if (c !== HOST) out.push({ ...d, container: c });
  }
  return out;
}

export class ContainerLookupError extends Error {
  override name = 'ContainerLookupError';
}

/**
 * The cgroup v2 ids of a container: every directory whose path names it (an
 * id prefix of one or more hex digits, like `docker ps` shows, is enough when
 * it names one container) and every cgroup below those (sub-cgroups the
 * container made, nested containers). For FilterSet's cgroupIds (--container ID).
 * Throws ContainerLookupError when no container or more than one matches.
 */
export function containerCgroupIds(id: string, root?: string): bigint[] {
  const want = id.toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(want)) throw new ContainerLookupError(`not a container id: "${id}" (hex digits expected)`);
  const base = cgroup2Root(root);
  const all = walkCgroups(base);
  const found = new Set<string>();
  const tops: string[] = [];
  for (const d of all) {
    const c = containerFromCgroupPath(d.path);
    if (c === HOST || !c.id.startsWith(want)) continue;
    // A directory below one already taken is taken with it.
    if (tops.some((t) => d.path.startsWith(`${t}/`))) continue;
    found.add(c.id);
    tops.push(d.path);
  }
  if (found.size === 0) throw new ContainerLookupError(`no cgroup of a container ${id} under ${base}`);
  if (found.size > 1) {
    throw new ContainerLookupError(`container id ${id} is ambiguous: ${[...found].map((f) => f.slice(0, 12)).join(', ')}`);
  }
  return all.filter((d) => tops.some((t) => d.path === t || d.path.startsWith(`${t}/`))).map((d) => d.id);
}

/** Ids a scan missed, remembered until the next periodic scan (beyond it, misses wait for that scan). */
const MISSED_MAX = 1024;

/**
 * cgroup id -> path in the v2 tree, for processes whose sensor sent only the
 * id. A miss for an id no scan has missed yet rescans the tree at once: a
 * cgroup made since the last scan is a container starting, whose first
 * processes (its entrypoint) must carry it. An id a scan missed (its cgroup
 * removed since) waits for the next scan, at most one per minRescanMs;
 * paths of cgroups removed since are forgotten on a rescan.
 */
export class CgroupPaths {
  private byId = new Map<bigint, string>();
  private lastScan = -Infinity;
  private readonly missed = new Set<bigint>();
  /** Rescans done so far. */
  scans = 0;

  constructor(
    private readonly root: string,
    private readonly now: () => number = () => performance.now(),
    private readonly minRescanMs = 1000,
  ) {}

  get(id: bigint): string | undefined {
    const hit = this.byId.get(id);
    if (hit !== undefined || id === 0n) return hit;
    if (this.now() - this.lastScan >= this.minRescanMs) this.missed.clear();
    else if (this.missed.has(id) || this.missed.size >= MISSED_MAX) return undefined;
    this.rescan();
    const found = this.byId.get(id);
    if (found === undefined) this.missed.add(id);
    return found;
  }

  rescan(): void {
    this.lastScan = this.now();
    this.scans++;
    const next = new Map<bigint, string>();
    try {
      for (const d of walkCgroups(this.root)) next.set(d.id, d.path);
    } catch {
      // The hierarchy went away: nothing resolves.
    }
    this.byId = next;
  }

  get size(): number {
    return this.byId.size;
  }
}
