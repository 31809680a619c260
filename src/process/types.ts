// The process model of the pipeline: what Vigil knows of one process image
// (one exec of one pid), and the records the sensors feed the cache with.
//
// Identity: a process image is (pid, execBootNs); a process (all its images)
// is (pid, startBootNs). Its exec_id is Tetragon's: base64 "<node>:<execBootNs>:<pid>"
// (see exec-id.ts), unique on the host over time because a pid is not reused
// within one boot-clock nanosecond.
//
// Times are CLOCK_BOOTTIME ns (what BPF stamps: bpf_ktime_get_boot_ns,
// task->start_boottime) as bigint, with the wall-clock twin (ns since the
// epoch) computed once by the cache's BootClock.
//
// This file has no imports on purpose: sensors, outputs and the cache all
// depend on it, and it depends on nothing.

/** Container runtimes told apart by their cgroup names. */
export type ContainerRuntime =
  | 'docker'
  | 'containerd'
  | 'cri-o'
  | 'podman'
  /**
   * Kubernetes with the cgroupfs driver names the container's cgroup by its
   * bare id (/kubepods/burstable/pod<uid>/<id>): a CRI runtime, not named.
   */
  | 'cri';

export interface ContainerInfo {
  /** The full id (64 hex digits for every runtime above). */
  id: string;
  runtime: ContainerRuntime;
  /** The Kubernetes pod's UID with dashes (slices write it with underscores), when the path names a pod. */
  podUid?: string;
  /** QoS class of the pod when the path names it (kubepods-burstable...): "burstable" | "besteffort"; "guaranteed" otherwise. */
  podQos?: 'guaranteed' | 'burstable' | 'besteffort';
}

/** A process outside every container. */
export const HOST = 'host';
export type Host = typeof HOST;

/** Namespace inode numbers (the number in readlink /proc/<pid>/ns/<name>, e.g. "net:[4026531840]"). */
export interface Namespaces {
  uts: number;
  ipc: number;
  mnt: number;
  pid: number;
  /** The pid namespace children are created in (pid_for_children); absent when not known. */
  pidForChildren?: number;
  net: number;
  /** Absent on kernels without time namespaces (< 5.6). */
  time?: number;
  timeForChildren?: number;
  cgroup: number;
  user: number;
}

/** Capability sets as the kernel keeps them: bit n is capability n (CAP_CHOWN = 0). */
export interface Capabilities {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

/** What the kernel could not deliver whole. A set flag means the field it names is partial or empty. */
export interface ProcessFlags {
  /** The path had too many bytes or steps: only its leaf side is known (shown as ".../a/b"). */
  binaryTruncated: boolean;
  /** argv was longer than the bound: the last argument is cut short, later ones are missing. */
  argsTruncated: boolean;
  cwdTruncated: boolean;
  binaryError: boolean;
  argsError: boolean;
  cwdError: boolean;
}

/**
 * Where the cache learnt a process image from:
 *   exec      an exec event (everything known exactly);
 *   fork      a fork event of a process that has not exec'd (yet): binary,
 *             args, cwd are the parent's, as the kernel copied them;
 *   iterator  the start-up snapshot (a task iterator): exact, but the exec
 *             time is unknown, so execBootNs = startBootNs;
 *   procfs    read from /proc for a process the sensors never described
 *             (start time to the clock tick, 10 ms; some fields may be missing).
 */
export type ProcessSource = 'exec' | 'fork' | 'iterator' | 'procfs';

/** How a process ended (decoded task->exit_code). */
export interface ExitInfo {
  timeBootNs: bigint;
  timeNs: bigint;
  /** exit(2) status (0..255) when it exited; null when a signal killed it. */
  status: number | null;
  /** The killing signal's number; null when it exited. */
  signal: number | null;
  coreDumped: boolean;
}

/** One process image, as the cache keeps it. Treat as read-only: the cache owns it. */
export interface ProcessInfo {
  /** Tetragon's exec_id: base64 "<node>:<execBootNs>:<pid>". */
  readonly execId: string;
  /** Thread group id. */
  readonly pid: number;
  /** The thread the record came from (for an exec: the thread that called it; usually = pid). */
  readonly tid: number;
  /** The parent's thread group id at fork (not updated on re-parenting). */
  readonly ppid: number;
  /** The parent image's exec_id, when the cache knew the parent. */
  readonly parentExecId: string | undefined;
  /** The parent's start (boot ns): tells the parent from a later process with its pid. */
  readonly parentStartBootNs: bigint | undefined;
  readonly uid: number;
  readonly gid: number;
  readonly euid: number;
  readonly egid: number;
  /** Saved and filesystem ids, the securebits word (cred->securebits); undefined when the source did not give them. */
  readonly suid?: number;
  readonly sgid?: number;
  readonly fsuid?: number;
  readonly fsgid?: number;
  readonly securebits?: number;
  /** Login uid; 4294967295 when unset. */
  readonly auid: number;
  /** The kernel's short name (up to 15 bytes). */
  readonly comm: string;
  /** Absolute path of the executable; '' when unknown (kernel thread, or gone before /proc was read). */
  readonly binary: string;
  /** argv, argv[0] included. */
  readonly args: readonly string[];
  readonly cwd: string;
  /** Controlling terminal ("pts/3", "tty1"), undefined when none. */
  readonly tty: string | undefined;
  /** Process start (its fork), boot ns and wall ns. */
  readonly startBootNs: bigint;
  readonly startTimeNs: bigint;
  /** When this image began: the exec's time; for fork/iterator/procfs images, startBootNs. */
  readonly execBootNs: bigint;
  readonly caps: Capabilities | undefined;
  readonly ns: Namespaces | undefined;
  /** cgroup v2 id (the inode of its directory; what bpf_get_current_cgroup_id returns); 0n when unknown. */
  readonly cgroupId: bigint;
  /** The cgroup v2 path ("/system.slice/docker-<id>.scope"), or only its leaf name when that is all the kernel gave. */
  readonly cgroupPath: string | undefined;
  /** The container it runs in, 'host', or undefined when the cgroup could not be told. */
  readonly container: ContainerInfo | Host | undefined;
  readonly source: ProcessSource;
  readonly flags: ProcessFlags;
  /** Set when the process exited (the newest image of a process carries it). */
  exit: ExitInfo | undefined;
  /** The image was replaced by a later exec of the same process (its successor has the same pid and start). */
  replaced: boolean;
}

/**
 * What a sensor knows of a process at exec time (or from the start-up
 * iterator): the cache adds execId, parentExecId, container and the wall times.
 */
export interface ExecRecord {
  pid: number;
  tid?: number;
  ppid: number;
  parentStartBootNs?: bigint;
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  suid?: number;
  sgid?: number;
  fsuid?: number;
  fsgid?: number;
  securebits?: number;
  auid: number;
  comm: string;
  binary: string;
  args: readonly string[];
  cwd: string;
  tty?: string;
  startBootNs: bigint;
  /** The exec's time; default startBootNs (iterator records). */
  execBootNs?: bigint;
  caps?: Capabilities;
  ns?: Namespaces;
  cgroupId?: bigint;
  /** Full v2 path, or the leaf name only; when absent the cache resolves cgroupId in the cgroup v2 tree. */
  cgroupPath?: string;
  flags?: Partial<ProcessFlags>;
  /** 'exec' (default) or 'iterator' (start-up snapshot). */
  source?: 'exec' | 'iterator';
}

/**
 * A fork (clone without CLONE_THREAD): the child is a copy of the parent,
 * so the cache copies the parent's image and overrides what is given here.
 */
export interface ForkRecord {
  pid: number;
  tid?: number;
  ppid: number;
  parentStartBootNs?: bigint;
  /** The child's start (task->start_boottime). */
  startBootNs: bigint;
  uid?: number;
  gid?: number;
  euid?: number;
  egid?: number;
  suid?: number;
  sgid?: number;
  fsuid?: number;
  fsgid?: number;
  securebits?: number;
  auid?: number;
  comm?: string;
  caps?: Capabilities;
  ns?: Namespaces;
  cgroupId?: bigint;
  cgroupPath?: string;
}

/**
 * The exit of a whole thread group (the last thread). Give either the raw
 * task->exit_code (`code`) or status/signal already decoded.
 */
export interface ExitRecord {
  pid: number;
  /** The process's start: makes sure the exit is matched with the right process. */
  startBootNs?: bigint;
  timeBootNs: bigint;
  code?: number;
  status?: number | null;
  signal?: number | null;
}

export interface ProcessCacheOptions {
  /** Node name in exec ids. Default $NODE_NAME, else os.hostname(). */
  node?: string;
  /** How long an exited (or replaced) image stays findable, ms. Default 10_000. */
  graceMs?: number;
  /** Most images kept (live + exited). Over it, exited images go first (oldest exit first), then the least recently used live ones. Default 32_768. */
  maxEntries?: number;
  /** Look up processes the sensors never described in /proc. Default true. */
  procfsFallback?: boolean;
  /** Root of procfs. Default /proc (tests point it elsewhere). */
  procRoot?: string;
  /** Root of the cgroup v2 hierarchy, to resolve cgroup ids to paths. Default cgroup2(). null: never resolve. */
  cgroup2Root?: string | null;
  /** Monotonic ms clock for the grace period. Default performance.now. Tests pass a fake. */
  now?: () => number;
  /** How often the grace timer sweeps, ms (the timer is unref()'d). Default min(graceMs, 1000); 0: no timer (lazy sweeps only). */
  sweepIntervalMs?: number;
  /** Boot ns -> epoch ns. Default BootClock.measure(). */
  toEpochNs?: (bootNs: bigint) => bigint;
}

export interface ProcessCacheStats {
  /** Images in the cache (= size). */
  entries: number;
  /** Of those, not exited and not replaced. */
  live: number;
  /** Exited or replaced, waiting out the grace period (or pinned by a cached child). */
  retired: number;
  execs: number;
  forks: number;
  exits: number;
  /** Images read from /proc. */
  procfs: number;
  /** /proc reads that found nothing usable (gone, or the pid now belongs to another process). */
  procfsMisses: number;
  /** Exits of processes the cache did not know. */
  unknownExits: number;
  /** Images dropped after their grace period. */
  expired: number;
  /** Images dropped because the cache was full: retired ones, then live ones. */
  evictedRetired: number;
  evictedLive: number;
  /** Live images retired because their process was gone from /proc, its exit never seen (reconcile()). */
  vanished: number;
}

/** The cache as consumers see it (src/process/cache.ts implements it). */
export interface ProcessLookup {
  /**
   * The current image of pid (or, with startBootNs, of the process that
   * started then), from /proc if never seen. With atBootNs too: the image
   * that process ran at that time (before a later exec), for an event's
   * process as it was when the event happened.
   */
  get(pid: number, startBootNs?: bigint, atBootNs?: bigint): ProcessInfo | undefined;
  getByExecId(execId: string): ProcessInfo | undefined;
  /** The parent image, from the cache or /proc; undefined when gone and forgotten (or pid 0). */
  parentOf(info: ProcessInfo): ProcessInfo | undefined;
  /** Parent, grandparent, ... up to max (default 64) or pid 1 included. */
  ancestors(info: ProcessInfo, max?: number): ProcessInfo[];
  /**
   * info as it was in the cgroup an event's record names (the kernel's, at the event): info itself
   * when that is its cgroup (or the id is 0, unknown), else a copy in that cgroup, with its container.
   */
  inCgroup?(info: ProcessInfo, cgroupId: bigint): ProcessInfo;
}
