// The process cache: every process image the sensors described, by pid and
// by exec_id, with parent links, kept bounded on a host that spawns
// processes without end.
//
//   const cache = new ProcessCache();          // options: ProcessCacheOptions
//   sensor events -> cache.onExec / onFork / onExit
//   other sensors -> cache.get(pid, startBootNs) for the process of an event
//   outputs       -> cache.parentOf(p), cache.ancestors(p)
//   cache.close();                             // stops the sweep timer
//
// Lifetime of an image. It is live from its exec (or fork, or discovery)
// until the process exits or execs again ("replaced"); then it is retired:
// still found by exec_id and by pid (events of a process are often read after
// its exit: the file sensor's ring is not the process sensor's) for
// graceMs, then dropped. An image that cached children point at (an exited
// shell whose background job still runs) is pinned instead, and dropped a
// grace period after its last child went: a parent link never dangles while
// the child is cached, as in Tetragon's reference-counted cache.
//
// Memory is bounded by maxEntries: over it, retired images go first (oldest
// retirement first), then pinned ones, then the least recently used live
// ones (they come back from /proc if asked for).
//
// Processes the sensors never described (running before Vigil, or whose
// events were lost) are read from /proc on first lookup and marked
// source 'procfs'. Their start time has clock-tick precision (10 ms), so a
// kernel start time matches them when it falls in the same tick.
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { BootClock } from '../util/clock.js';
import { cgroup2 } from '../bpf/mounts.js';
import { execId } from './exec-id.js';
import { ProcessInterner } from './intern.js';
import { CgroupPaths, containerFromCgroupPath, containerFromProcCgroup, cgroupV2Path } from './container.js';
import { nodeName } from '../util/node.js';
import {
  HOST, type Capabilities, type ContainerInfo, type ExecRecord, type ExitInfo, type ExitRecord, type ForkRecord,
  type Host, type Namespaces, type ProcessCacheOptions, type ProcessCacheStats, type ProcessFlags, type ProcessInfo,
  type ProcessLookup, type ProcessSource,
} from './types.js';

export { execId } from './exec-id.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Info = Mutable<ProcessInfo>;

/** /proc/<pid>/stat times are in USER_HZ ticks: 100 on every Linux ABI Node runs on. */
const NS_PER_TICK = 10_000_000n;
const NO_AUID = 4294967295;
/**
 * An exited image's events arrive within a ring's poll interval (50 ms) of its exit, or a few
 * batches later on a busy host: 10 s is ample. Longer only costs memory on a churning host:
 * at 1,000 processes/s each second of grace holds ~2,000 images (fork and exec), ~600 bytes each.
 */
const DEFAULT_GRACE_MS = 10_000;
/** ~20 MiB of images at most: over it, retired images go first, then the least recently used live ones. */
const DEFAULT_MAX_ENTRIES = 32_768;
/** A pid just found missing from /proc is not looked for again for this long. */
const NEGATIVE_TTL_MS = 1000;
const NEGATIVE_MAX = 4096;
/** How often, and how many, live images are checked against /proc for processes whose exit was not seen. */
const RECONCILE_MS = 5000;
const RECONCILE_BATCH = 2048;
const CONTAINER_MEMO_MAX = 4096;

const NO_FLAGS: ProcessFlags = Object.freeze({
  binaryTruncated: false, argsTruncated: false, cwdTruncated: false,
  binaryError: false, argsError: false, cwdError: false,
});

type State = 'live' | 'queued' | 'pinned';

interface Node {
  info: Info;
  /** An older image with the same pid (replaced by an exec, or a process that had the pid before). */
  older: Node | undefined;
  /** Cached images whose parentExecId is this image's. */
  refs: number;
  /** Whether this image counts in its parent's refs. */
  holdsParent: boolean;
  state: State;
  /** When it was (re)queued for expiry, ms of the cache's clock. */
  retiredAt: number;
  /** The cache's move count when it last went to the back of byPid (touch). */
  movedAt: number;
  /** Its place in the retirement queue (RetireQueue), 0 when not queued. */
  ticket: number;
}

/**
 * Retired images in the order they retired, the front expiring first. A Set used as this queue (add
 * at the back, delete at the front) made every sweep walk past all the entries deleted at its front
 * since V8 last rehashed the table: thousands per sweep in an exec storm, and a sweep runs at every
 * exit. Here a deletion only clears the node's ticket; its stale slot is skipped once, at the front.
 */
class RetireQueue {
  private nodes: (Node | undefined)[] = [];
  private tickets: number[] = [];
  private head = 0;
  private issued = 0;
  size = 0;

  add(n: Node): void {
    if (n.ticket !== 0) return;
    n.ticket = ++this.issued;
    this.nodes.push(n);
    this.tickets.push(n.ticket);
    this.size++;
  }

  delete(n: Node): void {
    if (n.ticket === 0) return;
    n.ticket = 0;
    this.size--;
  }

  /** The image that retired first among those still queued. */
  first(): Node | undefined {
    const nodes = this.nodes;
    while (this.head < nodes.length) {
      const n = nodes[this.head];
      if (n !== undefined && n.ticket === this.tickets[this.head]) return n;
      nodes[this.head++] = undefined;
    }
    // Empty: start the arrays over.
    if (this.head > 0) {
      this.nodes = [];
      this.tickets = [];
      this.head = 0;
    }
    return undefined;
  }

  /** Drops the front's stale slots for good once they are most of the arrays. */
  compact(): void {
    if (this.head < 4096 || this.head * 2 < this.nodes.length) return;
    this.nodes = this.nodes.slice(this.head);
    this.tickets = this.tickets.slice(this.head);
    this.head = 0;
  }
}

/** task->exit_code as wait(2) reports it: exit status in bits 8-15, signal in 0-6, core dump in bit 7. */
export function decodeExitCode(code: number): Pick<ExitInfo, 'status' | 'signal' | 'coreDumped'> {
  const signal = code & 0x7f;
  return signal
    ? { status: null, signal, coreDumped: (code & 0x80) !== 0 }
    : { status: (code >> 8) & 0xff, signal: null, coreDumped: false };
}

/** "pts/3", "tty1", "ttyS0" from the tty_nr of /proc/<pid>/stat (device number), undefined for none. */
export function ttyName(ttyNr: number): string | undefined {
  if (!ttyNr) return undefined;
  const major = (ttyNr >> 8) & 0xfff;
  const minor = (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${(major - 136) * 256 + minor}`;
  if (major === 4) return minor < 64 ? `tty${minor}` : `ttyS${minor - 64}`;
  if (major === 5 && minor === 1) return 'console';
  return `tty(${major}:${minor})`;
}

/** Same process: equal starts, or a /proc start (tick precision) in the same tick as the other. */
function sameStart(a: ProcessInfo, startBootNs: bigint, exactOther: boolean): boolean {
  if (a.startBootNs === startBootNs) return true;
  if (a.source === 'procfs') return (startBootNs / NS_PER_TICK) * NS_PER_TICK === a.startBootNs;
  if (!exactOther) return (a.startBootNs / NS_PER_TICK) * NS_PER_TICK === startBootNs;
  return false;
}

function nsInode(link: string): number {
  const m = /\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : 0;
}

export class ProcessCache implements ProcessLookup, Disposable {
  readonly node: string;
  readonly graceMs: number;
  readonly maxEntries: number;
  private readonly procfsFallback: boolean;
  private readonly procRoot: string;
  private readonly cgroupRoot: string | undefined;
  private readonly cgroupPaths: CgroupPaths | undefined;
  private readonly now: () => number;
  private readonly toEpochNs: (bootNs: bigint) => bigint;
  private timer: NodeJS.Timeout | undefined;
  private reconciledAt = 0;

  /** Newest image per pid; Map order is least recently used first. */
  private readonly byPid = new Map<number, Node>();
  private readonly byExecId = new Map<string, Node>();
  /** Retired images in the order they retired: the front expires first. */
  private readonly queue = new RetireQueue();
  private readonly pinned = new Set<Node>();
  private readonly missing = new Map<number, number>();
  private readonly interner = new ProcessInterner();
  private readonly containers = new Map<bigint, { path: string | undefined; container: ContainerInfo | Host | undefined }>();
  private readonly counters = {
    execs: 0, forks: 0, exits: 0, procfs: 0, procfsMisses: 0, unknownExits: 0,
    expired: 0, evictedRetired: 0, evictedLive: 0, vanished: 0,
  };

  constructor(opts: ProcessCacheOptions = {}) {
    this.node = opts.node ?? nodeName();
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!(this.maxEntries >= 1)) throw new RangeError(`maxEntries must be at least 1, not ${this.maxEntries}`);
    if (!(this.graceMs >= 0)) throw new RangeError(`graceMs must be >= 0, not ${this.graceMs}`);
    this.procfsFallback = opts.procfsFallback ?? true;
    this.procRoot = opts.procRoot ?? '/proc';
    this.now = opts.now ?? (() => performance.now());
    if (opts.toEpochNs) {
      this.toEpochNs = opts.toEpochNs;
    } else {
      const clock = BootClock.measure();
      this.toEpochNs = (ns) => clock.toEpochNs(ns);
    }
    this.cgroupRoot = opts.cgroup2Root === null ? undefined : opts.cgroup2Root ?? cgroup2().path ?? undefined;
    this.cgroupPaths = this.cgroupRoot ? new CgroupPaths(this.cgroupRoot, this.now) : undefined;
    const interval = opts.sweepIntervalMs ?? Math.max(1, Math.min(this.graceMs, 1000));
    if (interval > 0) {
      this.timer = setInterval(() => {
        this.sweep();
        this.reconcile();
      }, interval);
      this.timer.unref();
    }
  }

  // --- feeding ---------------------------------------------------------------

  /** A process image from an exec event or the start-up snapshot. Returns the image as cached. */
  onExec(r: ExecRecord): ProcessInfo {
    this.counters.execs++;
    const execBootNs = r.execBootNs ?? r.startBootNs;
    const id = execId(this.node, execBootNs, r.pid);
    const source: ProcessSource = r.source ?? 'exec';
    const known = this.byExecId.get(id);
    const { cgroupPath, container } = this.cgroupOf(r.cgroupId, r.cgroupPath);
    // share() makes the flags a complete, shared set.
    const flags = (r.flags ?? NO_FLAGS) as ProcessFlags;
    if (known) {
      // The same image twice (the snapshot raced the sensor, or a fork image
      // the snapshot now describes): the fuller record wins.
      if (known.info.source !== 'exec') {
        this.share(Object.assign(known.info, {
          tid: r.tid ?? r.pid, uid: r.uid, gid: r.gid, euid: r.euid, egid: r.egid, suid: r.suid, sgid: r.sgid, fsuid: r.fsuid,
          fsgid: r.fsgid, securebits: r.securebits, auid: r.auid, comm: r.comm,
          binary: r.binary, args: r.args, cwd: r.cwd, tty: r.tty, caps: r.caps, ns: r.ns, cgroupId: r.cgroupId ?? 0n,
          cgroupPath, container, flags, source,
        }));
      }
      this.touch(known);
      return known.info;
    }
    // One literal with every field in the order onFork and readProc use: images share one object shape
    // (a spread here made each image a slower, larger object).
    const info: Info = {
      execId: id, pid: r.pid, tid: r.tid ?? r.pid, ppid: r.ppid, parentExecId: undefined,
      parentStartBootNs: r.parentStartBootNs, uid: r.uid, gid: r.gid, euid: r.euid, egid: r.egid, suid: r.suid, sgid: r.sgid,
      fsuid: r.fsuid, fsgid: r.fsgid, securebits: r.securebits, auid: r.auid,
      comm: r.comm, binary: r.binary, args: r.args, cwd: r.cwd, tty: r.tty, startBootNs: r.startBootNs,
      startTimeNs: this.toEpochNs(r.startBootNs), execBootNs, caps: r.caps, ns: r.ns, cgroupId: r.cgroupId ?? 0n,
      cgroupPath, container, source, flags, exit: undefined, replaced: false,
    };
    return this.insert(info);
  }

  /** A new process (fork/clone without CLONE_THREAD): a copy of its parent until it execs. */
  onFork(r: ForkRecord): ProcessInfo {
    this.counters.forks++;
    const id = execId(this.node, r.startBootNs, r.pid);
    const known = this.byExecId.get(id);
    if (known) return known.info;
    const parent = this.findParent(r.ppid, r.parentStartBootNs, r.startBootNs);
    // Unknown parent: the child itself, read from /proc, is the next best copy.
    const base: Partial<ProcessInfo> = parent?.info
      ?? (this.procfsFallback ? this.readProc(r.pid, r.startBootNs) : undefined) ?? {};
    const hasCgroup = r.cgroupId !== undefined || r.cgroupPath !== undefined;
    const cg = hasCgroup ? this.cgroupOf(r.cgroupId, r.cgroupPath)
      : { cgroupPath: base.cgroupPath, container: base.container };
    const info: Info = {
      execId: id, pid: r.pid, tid: r.tid ?? r.pid, ppid: r.ppid, parentExecId: undefined,
      parentStartBootNs: r.parentStartBootNs ?? parent?.info.startBootNs,
      uid: r.uid ?? base.uid ?? 0, gid: r.gid ?? base.gid ?? 0, euid: r.euid ?? base.euid ?? 0,
      egid: r.egid ?? base.egid ?? 0, suid: r.suid ?? base.suid, sgid: r.sgid ?? base.sgid, fsuid: r.fsuid ?? base.fsuid,
      fsgid: r.fsgid ?? base.fsgid, securebits: r.securebits ?? base.securebits, auid: r.auid ?? base.auid ?? NO_AUID,
      comm: r.comm ?? base.comm ?? '',
      binary: base.binary ?? '', args: base.args ?? [], cwd: base.cwd ?? '', tty: base.tty,
      startBootNs: r.startBootNs, startTimeNs: this.toEpochNs(r.startBootNs), execBootNs: r.startBootNs,
      caps: r.caps ?? base.caps, ns: r.ns ?? base.ns, cgroupId: r.cgroupId ?? base.cgroupId ?? 0n,
      cgroupPath: cg.cgroupPath, container: cg.container, source: 'fork', flags: base.flags ?? NO_FLAGS,
      exit: undefined, replaced: false,
    };
    return this.insert(info, parent);
  }

  /** The end of a process (its last thread). Returns its newest image, or undefined if the cache never knew it. */
  onExit(r: ExitRecord): ProcessInfo | undefined {
    this.counters.exits++;
    const node = this.find(r.pid, r.startBootNs);
    if (!node) {
      this.counters.unknownExits++;
      return undefined;
    }
    const decoded = r.code !== undefined ? decodeExitCode(r.code)
      : { status: r.status ?? null, signal: r.signal ?? null, coreDumped: false };
    node.info.exit = {
      timeBootNs: r.timeBootNs, timeNs: this.toEpochNs(r.timeBootNs), status: decoded.status, signal: decoded.signal,
      coreDumped: decoded.coreDumped,
    };
    this.retire(node);
    this.sweep();
    return node.info;
  }

  // --- lookups -----------------------------------------------------------------

  get size(): number {
    return this.byExecId.size;
  }

  get stats(): ProcessCacheStats {
    const retired = this.queue.size + this.pinned.size;
    return { entries: this.size, live: this.size - retired, retired, ...this.counters };
  }

  get(pid: number, startBootNs?: bigint, atBootNs?: bigint): ProcessInfo | undefined {
    if (!(pid > 0)) return undefined;
    const node = startBootNs !== undefined && atBootNs !== undefined
      ? this.imageAt(pid, startBootNs, atBootNs) : this.find(pid, startBootNs);
    if (node) {
      // The newest image exited and no start was asked for: the pid may be
      // another process's now, one the sensors did not describe.
      if (startBootNs === undefined && node.info.exit && this.procfsFallback) {
        const now = this.lookupProc(pid, undefined);
        if (now && now !== node) return now.info;
      }
      this.touch(node);
      return node.info;
    }
    return this.lookupProc(pid, startBootNs)?.info;
  }

  /**
   * info in the cgroup an event's record names (ProcessLookup.inCgroup). The image can be in another:
   * read from /proc after the event, or left by a process that moved after its exec (runc joining a
   * pod's cgroups before the exec of the pod's command, a $PATH search failing execs meanwhile); its
   * events are where the kernel saw them, and so are the filters by container and pod that read them.
   */
  inCgroup(info: ProcessInfo, cgroupId: bigint): ProcessInfo {
    if (cgroupId === 0n || info.cgroupId === cgroupId) return info;
    // One copy per image and cgroup, kept with the image: a process's later events in that cgroup share
    // it (and the output's text cached for it) rather than each making one.
    const kept = this.elsewhere.get(info);
    if (kept?.cgroupId === cgroupId) return kept;
    const { cgroupPath, container } = this.cgroupOf(cgroupId, undefined);
    const copy = { ...info, cgroupId, cgroupPath, container };
    this.elsewhere.set(info, copy);
    return copy;
  }

  /** inCgroup's copies, by the image they copy. */
  private readonly elsewhere = new WeakMap<ProcessInfo, ProcessInfo>();

  getByExecId(id: string): ProcessInfo | undefined {
    return this.byExecId.get(id)?.info;
  }

  parentOf(info: ProcessInfo): ProcessInfo | undefined {
    if (info.parentExecId) {
      const p = this.byExecId.get(info.parentExecId);
      if (p) return p.info;
    }
    const p = this.findParent(info.ppid, info.parentStartBootNs, info.startBootNs);
    if (!p) return undefined;
    // Learnt late (the parent was read from /proc): remember the link.
    const self = this.byExecId.get(info.execId);
    if (self && self.info === info && !self.info.parentExecId) this.link(self, p);
    return p.info;
  }

  ancestors(info: ProcessInfo, max = 64): ProcessInfo[] {
    const out: ProcessInfo[] = [];
    const seen = new Set<string>([info.execId]);
    let cur: ProcessInfo | undefined = info;
    while (out.length < max && cur && cur.pid > 1) {
      cur = this.parentOf(cur);
      if (!cur || seen.has(cur.execId)) break;
      seen.add(cur.execId);
      out.push(cur);
    }
    return out;
  }

  /** Every image cached now (live and retired), for diagnostics and tests. */
  *entries(): IterableIterator<ProcessInfo> {
    for (const n of this.byExecId.values()) yield n.info;
  }

  // --- expiry --------------------------------------------------------------------

  /** Drops retired images whose grace period is over (the timer calls it; so does every insert). */
  sweep(): number {
    const deadline = this.now() - this.graceMs;
    let dropped = 0;
    for (let n = this.queue.first(); n && n.retiredAt <= deadline; n = this.queue.first()) {
      this.queue.delete(n);
      if (n.refs > 0) {
        n.state = 'pinned';
        this.pinned.add(n);
        continue;
      }
      this.drop(n);
      this.counters.expired++;
      dropped++;
    }
    this.queue.compact();
    return dropped;
  }

  /**
   * Retires live images of processes that are gone: their exit was never
   * seen (the ring was full, or they ended before the sensor started). Without
   * this, each lost exit would hold an image until the cap pushed it out. At
   * most RECONCILE_BATCH images per RECONCILE_MS, least recently used first,
   * checked against /proc (the pid is gone, or another process has it); the
   * ones still running go to the back of the order. Returns how many retired.
   */
  reconcile(force = false): number {
    if (!this.procfsFallback) return 0;
    const now = this.now();
    if (!force && now - this.reconciledAt < RECONCILE_MS) return 0;
    this.reconciledAt = now;
    const alive: Node[] = [];
    let retired = 0;
    let checked = 0;
    for (const n of this.byPid.values()) {
      if (checked++ >= RECONCILE_BATCH) break;
      if (n.state !== 'live') continue;
      const stat = readStat(`${this.procRoot}/${n.info.pid}`);
      if (stat && stat.startTicks === n.info.startBootNs / NS_PER_TICK) {
        alive.push(n);
        continue;
      }
      this.retire(n);
      this.counters.vanished++;
      retired++;
    }
    // Checked and alive: behind the others, so the next batch checks the next ones.
    for (const n of alive) this.touch(n, true);
    return retired;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // --- internals -------------------------------------------------------------------

  /** Replaces an image's repeated values (binary, cwd, args, cgroup, capability and namespace sets) with shared copies. */
  private share(info: Info): Info {
    const t = this.interner;
    info.comm = t.string(info.comm);
    info.binary = t.string(info.binary);
    info.cwd = t.string(info.cwd);
    info.args = t.args(info.args);
    info.tty = t.string(info.tty);
    info.cgroupPath = t.string(info.cgroupPath);
    info.flags = t.flags(info.flags);
    info.caps = t.caps(info.caps);
    info.ns = t.ns(info.ns);
    return info;
  }

  private insert(info: Info, parent?: Node): ProcessInfo {
    this.share(info);
    const node: Node = { info, older: undefined, refs: 0, holdsParent: false, state: 'live', retiredAt: 0, movedAt: this.moves, ticket: 0 };
    const p = parent ?? this.findParent(info.ppid, info.parentStartBootNs, info.startBootNs);
    if (p) this.link(node, p);
    this.byExecId.set(info.execId, node);
    this.missing.delete(info.pid);

    const head = this.byPid.get(info.pid);
    const newer = !head || info.startBootNs > head.info.startBootNs
      || (sameStart(head.info, info.startBootNs, info.source !== 'procfs') && info.execBootNs >= head.info.execBootNs);
    if (newer) {
      node.older = head;
      this.byPid.delete(info.pid);
      this.byPid.set(info.pid, node);
      node.movedAt = ++this.moves;
      if (head && head.state === 'live') {
        // Replaced by an exec of the same process, or its exit was lost and the pid reused.
        if (sameStart(head.info, info.startBootNs, info.source !== 'procfs')) head.info.replaced = true;
        this.retire(head);
      }
    } else {
      // Older than what the cache has (the snapshot raced an exec): kept for exec_id lookups only.
      node.older = head.older;
      head.older = node;
      if (sameStart(head.info, info.startBootNs, info.source !== 'procfs')) info.replaced = true;
      this.retire(node);
    }
    this.sweep();
    this.enforceCap();
    return info;
  }

  private link(child: Node, parent: Node): void {
    child.info.parentExecId = parent.info.execId;
    if (child.info.parentStartBootNs === undefined) child.info.parentStartBootNs = parent.info.startBootNs;
    if (!child.holdsParent) {
      child.holdsParent = true;
      parent.refs++;
    }
  }

  private retire(n: Node): void {
    if (n.state !== 'live') return;
    n.state = 'queued';
    n.retiredAt = this.now();
    this.queue.add(n);
  }

  /**
   * Moves n to the back of byPid (most recently used: reconcile() checks the front first). A node
   * moved within the last half-size moves is still in the newer half and stays where it is: a
   * busy process's every event would otherwise delete and re-add its entry (a third of a file
   * event's CPU in a storm), and reconcile needs only the old end to be old.
   */
  private touch(n: Node, always = false): void {
    if (!always && this.moves - n.movedAt < this.byPid.size >> 1) return;
    if (this.byPid.get(n.info.pid) === n) {
      n.movedAt = ++this.moves;
      this.byPid.delete(n.info.pid);
      this.byPid.set(n.info.pid, n);
    }
  }

  /** Entries put at the back of byPid so far (inserts and moves). */
  private moves = 0;

  private drop(n: Node): void {
    this.byExecId.delete(n.info.execId);
    this.queue.delete(n);
    this.pinned.delete(n);
    const head = this.byPid.get(n.info.pid);
    if (head === n) {
      if (n.older) this.byPid.set(n.info.pid, n.older);
      else this.byPid.delete(n.info.pid);
    } else {
      for (let c = head; c; c = c.older) {
        if (c.older === n) {
          c.older = n.older;
          break;
        }
      }
    }
    n.older = undefined;
    if (n.holdsParent && n.info.parentExecId) {
      const p = this.byExecId.get(n.info.parentExecId);
      if (p && p.refs > 0 && --p.refs === 0 && p.state === 'pinned') {
        // Its last cached child is gone: now it waits out a grace period of its own.
        this.pinned.delete(p);
        p.state = 'live';
        this.retire(p);
      }
    }
  }

  private enforceCap(): void {
    while (this.byExecId.size > this.maxEntries) {
      const victim = this.queue.first() ?? first(this.pinned);
      if (victim) {
        this.drop(victim);
        this.counters.evictedRetired++;
        continue;
      }
      const lru = first(this.byPid.values());
      if (!lru) break;
      // Drop the whole pid chain's oldest first; the head is live.
      let n = lru;
      while (n.older) n = n.older;
      this.drop(n);
      this.counters.evictedLive++;
    }
  }

  /**
   * The image of the process (pid, startBootNs) that ran at atBootNs: the
   * newest one exec'd by then. An event is often read after a later exec of
   * its process was (a shell's redirect is opened before it execs the
   * command: the open is the shell's). None that old is cached (its fork was
   * not seen): the oldest one known.
   */
  private imageAt(pid: number, startBootNs: bigint, atBootNs: bigint): Node | undefined {
    let oldest: Node | undefined;
    for (let n = this.byPid.get(pid); n; n = n.older) {
      if (!sameStart(n.info, startBootNs, true)) continue;
      if (n.info.execBootNs <= atBootNs) return n;
      oldest = n;
    }
    return oldest;
  }

  /** The newest image of pid, or of the process with that start. */
  private find(pid: number, startBootNs: bigint | undefined, exact = true): Node | undefined {
    const head = this.byPid.get(pid);
    if (startBootNs === undefined) return head;
    for (let n = head; n; n = n.older) if (sameStart(n.info, startBootNs, exact)) return n;
    return undefined;
  }

  private findParent(ppid: number, parentStartBootNs: bigint | undefined, childStartBootNs: bigint): Node | undefined {
    if (!(ppid > 0)) return undefined;
    if (parentStartBootNs !== undefined) {
      return this.find(ppid, parentStartBootNs) ?? this.lookupProc(ppid, parentStartBootNs);
    }
    // No start given: the newest process with that pid that started before
    // the child (compared in clock ticks: either start may come from /proc).
    const before = (n: Node) => n.info.startBootNs / NS_PER_TICK <= childStartBootNs / NS_PER_TICK;
    for (let n = this.byPid.get(ppid); n; n = n.older) if (before(n)) return n;
    const p = this.lookupProc(ppid, undefined);
    return p && before(p) ? p : undefined;
  }

  /** Reads pid from /proc into the cache (source 'procfs'); undefined when gone or another process. */
  private lookupProc(pid: number, startBootNs: bigint | undefined): Node | undefined {
    if (!this.procfsFallback) return undefined;
    const missedAt = this.missing.get(pid);
    if (missedAt !== undefined && this.now() - missedAt < NEGATIVE_TTL_MS) return undefined;
    const stat = readStat(`${this.procRoot}/${pid}`);
    if (!stat) {
      this.counters.procfsMisses++;
      if (this.missing.size >= NEGATIVE_MAX) this.missing.clear();
      this.missing.set(pid, this.now());
      return undefined;
    }
    if (startBootNs !== undefined && startBootNs / NS_PER_TICK !== stat.startTicks) {
      this.counters.procfsMisses++; // the pid is another process's now
      return undefined;
    }
    // Known already (a zombie, or an image the sensors sent): no need to read the rest.
    const known = this.find(pid, stat.startTicks * NS_PER_TICK, false);
    if (known) return known;
    const info = this.readProc(pid, startBootNs);
    if (!info) {
      this.counters.procfsMisses++;
      return undefined;
    }
    if (info.pid !== pid) return this.find(info.pid, info.startBootNs, false) ?? this.lookupProc(info.pid, undefined);
    this.counters.procfs++;
    this.insert(info);
    return this.byExecId.get(info.execId);
  }

  /**
   * One process as /proc describes it, checked to be the process that
   * started at startBootNs (when given) and to be the same at the end of
   * the reads as at the start (a pid reused meanwhile is a miss). A thread
   * id reads as its thread group (info.pid is then the group's).
   */
  private readProc(pid: number, startBootNs: bigint | undefined): Info | undefined {
    const dir = `${this.procRoot}/${pid}`;
    const stat = readStat(dir);
    if (!stat) return undefined;
    if (startBootNs !== undefined && startBootNs / NS_PER_TICK !== stat.startTicks) return undefined;
    const status = readText(`${dir}/status`);
    if (status === undefined) return undefined;
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim().split(/\s+/) ?? [];
    const tgid = Number(field('Tgid')[0] ?? pid);
    if (tgid !== pid && tgid > 0) {
      // A thread: describe its group instead (the caller looks the group up).
      const group = readStat(`${this.procRoot}/${tgid}`);
      if (!group) return undefined;
      return { ...this.emptyInfo(tgid, group.startTicks * NS_PER_TICK), pid: tgid };
    }
    // /proc/PID/status: real, effective, saved, filesystem ids.
    const [uid = 0, euid = 0, suid, fsuid] = field('Uid').map(Number);
    const [gid = 0, egid = 0, sgid, fsgid] = field('Gid').map(Number);
    const hex = (name: string) => {
      const v = field(name)[0];
      return v ? BigInt(`0x${v}`) : 0n;
    };
    const caps: Capabilities = { effective: hex('CapEff'), permitted: hex('CapPrm'), inheritable: hex('CapInh') };
    const kthread = (stat.flags & 0x00200000) !== 0; // PF_KTHREAD
    const flags: Mutable<ProcessFlags> = { ...NO_FLAGS };
    let binary = '';
    let cwd = '';
    if (!kthread) {
      binary = readLink(`${dir}/exe`) ?? '';
      if (!binary) flags.binaryError = true;
      cwd = readLink(`${dir}/cwd`) ?? '';
      if (!cwd) flags.cwdError = true;
    }
    const cmdline = readText(`${dir}/cmdline`);
    const args = cmdline ? cmdline.split('\0') : [];
    if (args.length && args[args.length - 1] === '') args.pop();
    if (!kthread && cmdline === undefined) flags.argsError = true;
    const loginuid = Number(readText(`${dir}/loginuid`) ?? NO_AUID);
    const ns = readNamespaces(`${dir}/ns`);
    const cgroupText = readText(`${dir}/cgroup`);
    const v2 = cgroupText !== undefined ? cgroupV2Path(cgroupText) : undefined;
    let cgroupId = 0n;
    if (v2 !== undefined && this.cgroupRoot) {
      try {
        cgroupId = statSync(path.join(this.cgroupRoot, v2), { bigint: true }).ino;
      } catch {
        // Removed meanwhile; the path still says which container.
      }
    }
    const container = cgroupText !== undefined ? containerFromProcCgroup(cgroupText) : undefined;
    // The pid must still be the process whose fields were read.
    const again = readStat(dir);
    if (!again || again.startTicks !== stat.startTicks) return undefined;
    const startBoot = stat.startTicks * NS_PER_TICK;
    return {
      execId: execId(this.node, startBoot, pid), pid, tid: pid, ppid: stat.ppid, parentExecId: undefined,
      parentStartBootNs: undefined, uid, gid, euid, egid, suid, sgid, fsuid, fsgid, securebits: undefined,
      auid: Number.isFinite(loginuid) ? loginuid : NO_AUID,
      comm: stat.comm, binary, args, cwd, tty: ttyName(stat.ttyNr), startBootNs: startBoot,
      startTimeNs: this.toEpochNs(startBoot), execBootNs: startBoot, caps, ns, cgroupId, cgroupPath: v2,
      container, source: 'procfs', flags, exit: undefined, replaced: false,
    };
  }

  private emptyInfo(pid: number, startBootNs: bigint): Info {
    return {
      execId: execId(this.node, startBootNs, pid), pid, tid: pid, ppid: 0, parentExecId: undefined,
      parentStartBootNs: undefined, uid: 0, gid: 0, euid: 0, egid: 0, suid: undefined, sgid: undefined, fsuid: undefined,
      fsgid: undefined, securebits: undefined, auid: NO_AUID, comm: '', binary: '', args: [],
      cwd: '', tty: undefined, startBootNs, startTimeNs: this.toEpochNs(startBootNs), execBootNs: startBootNs,
      caps: undefined, ns: undefined, cgroupId: 0n, cgroupPath: undefined, container: undefined, source: 'procfs',
      flags: { ...NO_FLAGS }, exit: undefined, replaced: false,
    };
  }

  private lastCgroupPath: string | undefined;
  private lastContainer: ContainerInfo | Host | undefined;

  /** Path and container of a cgroup from what the sensor sent: the path (or leaf name), else the id resolved in the tree. */
  private cgroupOf(id: bigint | undefined, given: string | undefined):
    { cgroupPath: string | undefined; container: ContainerInfo | Host | undefined } {
    if (given !== undefined) {
      // Processes of one cgroup come one after another (the sensor gives the same string again).
      if (given !== this.lastCgroupPath) {
        this.lastCgroupPath = given;
        this.lastContainer = containerFromCgroupPath(given);
      }
      return { cgroupPath: given, container: this.lastContainer };
    }
    if (id === undefined || id === 0n) return { cgroupPath: undefined, container: undefined };
    const memo = this.containers.get(id);
    if (memo && memo.path !== undefined) return { cgroupPath: memo.path, container: memo.container };
    const p = this.cgroupPaths?.get(id);
    const r = { path: p, container: p !== undefined ? containerFromCgroupPath(p) : undefined };
    if (p !== undefined) {
      if (this.containers.size >= CONTAINER_MEMO_MAX) this.containers.clear();
      this.containers.set(id, r);
    }
    return { cgroupPath: r.path, container: r.container };
  }
}

function first<T>(it: Iterable<T>): T | undefined {
  for (const x of it) return x;
  return undefined;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
}

function readLink(file: string): string | undefined {
  try {
    return readlinkSync(file);
  } catch {
    return undefined;
  }
}

interface Stat {
  comm: string;
  ppid: number;
  ttyNr: number;
  flags: number;
  startTicks: bigint;
}

/** /proc/<pid>/stat: fields counted after the ")" that ends comm (comm may hold spaces and parentheses). */
function readStat(dir: string): Stat | undefined {
  const text = readText(`${dir}/stat`);
  if (!text) return undefined;
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < 0) return undefined;
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): field n is f[n - 3].
  const start = f[19];
  if (start === undefined) return undefined;
  return {
    comm: text.slice(open + 1, close), ppid: Number(f[1]), ttyNr: Number(f[4]), flags: Number(f[6]),
    startTicks: BigInt(start),
  };
}

const NS_NAMES = ['uts', 'ipc', 'mnt', 'pid', 'pid_for_children', 'net', 'time', 'time_for_children', 'cgroup', 'user'] as const;

function readNamespaces(dir: string): Namespaces | undefined {
  const v: Partial<Record<(typeof NS_NAMES)[number], number>> = {};
  for (const n of NS_NAMES) {
    const l = readLink(`${dir}/${n}`);
    if (l) v[n] = nsInode(l);
  }
  if (v.mnt === undefined || v.pid === undefined) return undefined;
  return {
    uts: v.uts ?? 0, ipc: v.ipc ?? 0, mnt: v.mnt, pid: v.pid, pidForChildren: v.pid_for_children, net: v.net ?? 0,
    time: v.time, timeForChildren: v.time_for_children, cgroup: v.cgroup ?? 0, user: v.user ?? 0,
  };
}

export { HOST };
