// The event a Falco condition is evaluated against: a plain, sensor-neutral
// description of one syscall as Falco's fields see it. Sensors adapt their own
// events to it (later, in the live pipeline); the rules engine reads nothing
// else. Every part but the event type and time is optional: a field whose data
// is missing has no value, which Falco prints as <NA> and never matches.
//
// Give each event its own object, and do not change it once evaluated: the
// field extractors remember their value for the last event by identity, so
// the rules sharing a field read it once per event.
//
// This file has no imports on purpose: the field table, the sensors' adapters
// and the tests all depend on it.

/** A decoded syscall argument (evt.arg.<name>). */
export type ArgValue = string | number | bigint | boolean | readonly string[] | Uint8Array;

export interface RuleEvent {
  /** Falco's event type: the syscall's name (execve, openat, connect, ...) or a Falco pseudo event (switch, procexit). */
  readonly type: string;
  /** '<' for a completed syscall (the default: Vigil reports exits), '>' for an entry. */
  readonly dir?: '<' | '>';
  /** Event sequence number (evt.num). */
  readonly num?: number;
  /** When it happened, ns since the epoch. */
  readonly timeNs: bigint;
  /** The syscall's return value (evt.rawres); evt.res and evt.failed derive from it. */
  readonly res?: number;
  /**
   * Arguments by Falco's parameter names (evt.arg.flags, evt.arg.target, ...), in
   * Falco's order (evt.arg[0] is the first key). Flags are names (["O_WRONLY","O_TRUNC"],
   * rendered joined with '|'); for open-family events `flags` may instead be the
   * kernel's numeric open flags, which Vigil renders and decodes (evt.is_open_read ...).
   */
  readonly args?: Readonly<Record<string, ArgValue>>;
  /** The data buffer of I/O events (evt.buffer). */
  readonly buffer?: Uint8Array;
  /** The thread and process that made the call. */
  readonly process?: RuleProcess;
  /** The descriptor the event acts on (the one returned, for open/socket/dup/accept). */
  readonly fd?: RuleFd;
  /** The filesystem paths of a successful path syscall (fs.path.*); absent for other events. */
  readonly fsPath?: RuleFsPath;
  /** The container of the process; absent means the host (container.id = "host"). */
  readonly container?: RuleContainer;
  /** Kubernetes metadata; absent on a host without it (every k8s.* field is <NA>). */
  readonly k8s?: RuleK8s;
}

export interface RuleProcess {
  /** Thread group id (proc.pid). */
  readonly pid: number;
  /** Thread id (thread.tid); defaults to pid. */
  readonly tid?: number;
  /** Ids as seen from the process's own pid namespace. */
  readonly vpid?: number;
  readonly vtid?: number;
  /** Parent pid (proc.ppid); defaults to parent?.pid. */
  readonly ppid?: number;
  /** The kernel's short name, at most 15 bytes (proc.name: Falco's lists hold names truncated like this). */
  readonly name: string;
  /** argv[0] (proc.exe). */
  readonly exe?: string;
  /** Absolute path of the executable (proc.exepath). */
  readonly exepath?: string;
  /** argv[1..] (proc.args is them joined with spaces). */
  readonly args?: readonly string[];
  /** Environment, "NAME=value" each. */
  readonly env?: readonly string[];
  readonly cwd?: string;
  /** Controlling terminal (the tty's dev_t); 0 when none. */
  readonly tty?: number;
  /** Process start, ns since the epoch (proc.duration counts from it). */
  readonly startTimeNs?: bigint;
  /** Session id and the session leader's name (proc.sname). */
  readonly sid?: number;
  readonly sname?: string;
  /** Process group id (in its pid namespace), and whether this process leads it. */
  readonly vpgid?: number;
  /** Effective ids (user.uid, group.gid: Falco reports the effective ones). */
  readonly uid?: number;
  readonly gid?: number;
  /** Audit login uid; 4294967295 (-1) when unset. */
  readonly loginuid?: number;
  /** Names, when the sensor knows them (a container's own /etc/passwd); otherwise read from the host's. */
  readonly userName?: string;
  readonly groupName?: string;
  readonly loginName?: string;
  /** Capability sets, bit n = capability n. */
  readonly capEffective?: bigint;
  readonly capPermitted?: bigint;
  readonly capInheritable?: bigint;
  /** The executable is a memfd (fileless execution). */
  readonly exeFromMemfd?: boolean;
  /** The executable lives in the upper (writable) layer of an overlayfs. */
  readonly exeUpperLayer?: boolean;
  readonly exeWritable?: boolean;
  /** ctime/mtime of the executable's inode, ns since the epoch. */
  readonly exeInoCtimeNs?: bigint;
  readonly exeInoMtimeNs?: bigint;
  /** The parent process; ancestors are its parents in turn (proc.aname[N]). */
  readonly parent?: RuleProcess;
}

export type FdType =
  | 'file' | 'directory' | 'ipv4' | 'ipv6' | 'unix' | 'pipe' | 'event' | 'signalfd' | 'eventpoll'
  | 'inotify' | 'timerfd' | 'netlink' | 'bpf' | 'userfaultfd' | 'io_uring' | 'memfd' | 'pidfd';

export interface SocketEnd {
  /** IPv4 dotted quad or IPv6 text; for unix sockets the path. */
  readonly ip?: string;
  readonly port?: number;
}

export interface RuleFd {
  /** The descriptor number; -1 for a failed open/socket (Falco's open_file_failed). */
  readonly num: number;
  readonly type?: FdType;
  /** The path (files), or the socket tuple; derived from the ends when absent. */
  readonly name?: string;
  /** The path exactly as the process passed it (fd.nameraw); defaults to name. */
  readonly nameRaw?: string;
  /** tcp, udp, icmp or raw, for IP sockets. */
  readonly l4proto?: 'tcp' | 'udp' | 'icmp' | 'raw';
  /** The socket's two ends. */
  readonly local?: SocketEnd;
  readonly remote?: SocketEnd;
  /** This process is the server end (it accepted the connection): client = remote. */
  readonly isServer?: boolean;
  readonly connected?: boolean;
  /** The event changed the descriptor's name (a UDP sendto to a new peer). */
  readonly nameChanged?: boolean;
  /** Names the IPs resolved from (fd.sip.name ...), when known. */
  readonly localNames?: readonly string[];
  readonly remoteNames?: readonly string[];
  /** The file's inode and device (st_ino, st_dev as stat(2) gives them). */
  readonly ino?: number;
  readonly dev?: number;
}

/**
 * fs.path.*: the paths a filesystem syscall acted on, set only when it
 * succeeded, as Falco sets them. name for one-path calls (open, mkdir,
 * unlink, chmod, chown, fchmod, ...); source and target for two (rename:
 * old and new; link: the new name and the existing file; symlink: the link
 * and its content). The plain ones are canonical absolute paths; *Raw as
 * the process passed them.
 */
export interface RuleFsPath {
  readonly name?: string;
  readonly nameRaw?: string;
  readonly source?: string;
  readonly sourceRaw?: string;
  readonly target?: string;
  readonly targetRaw?: string;
}

export interface ContainerMount {
  readonly source: string;
  readonly dest: string;
  readonly mode?: string;
  readonly rdwr?: boolean;
  readonly propagation?: string;
}

export interface RuleContainer {
  /** "host" for processes outside every container. */
  readonly id: string;
  readonly name?: string;
  readonly type?: string;
  readonly image?: string;
  readonly imageId?: string;
  readonly imageRepository?: string;
  readonly imageTag?: string;
  readonly imageDigest?: string;
  readonly privileged?: boolean;
  /** Container start, ns since the epoch. */
  readonly startTimeNs?: bigint;
  readonly mounts?: readonly ContainerMount[];
}

export interface RuleK8s {
  readonly nsName?: string;
  readonly podName?: string;
  readonly podUid?: string;
  readonly podLabels?: Readonly<Record<string, string>>;
}

/** Linux open(2) flags, as Falco names them, in Falco's rendering order. */
const OPEN_FLAGS: readonly [number, string][] = [
  [0o100, 'O_CREAT'],
  [0o200, 'O_EXCL'],
  [0o400, 'O_NOCTTY'],
  [0o1000, 'O_TRUNC'],
  [0o2000, 'O_APPEND'],
  [0o4000, 'O_NONBLOCK'],
  [0o10000, 'O_DSYNC'],
  [0o20000, 'O_ASYNC'],
  [0o40000, 'O_DIRECT'],
  [0o100000, 'O_LARGEFILE'],
  [0o200000, 'O_DIRECTORY'],
  [0o400000, 'O_NOFOLLOW'],
  [0o1000000, 'O_NOATIME'],
  [0o2000000, 'O_CLOEXEC'],
  [0o4000000, 'O_SYNC'],
  [0o10000000, 'O_PATH'],
  [0o20000000, 'O_TMPFILE'],
];

/** The kernel's numeric open flags as Falco's names: 0o1101 -> ["O_WRONLY", "O_CREAT", "O_TRUNC"]. */
export function openFlagNames(flags: number): string[] {
  const acc = flags & 3;
  const out = [acc === 0 ? 'O_RDONLY' : acc === 1 ? 'O_WRONLY' : acc === 2 ? 'O_RDWR' : 'O_ACCMODE'];
  for (const [bit, name] of OPEN_FLAGS) if (flags & bit) out.push(name);
  return out;
}
