// The events sensors emit: one discriminated union, so a consumer's
// `switch (e.kind)` stops compiling when a sensor adds a kind it does not
// handle (see assertNever).

/** What the kernel could not deliver whole. A set flag means the field beside it is partial or empty. */
export interface ExecFlags {
  /** The path had more than VIGIL_PATH_MAX bytes or VIGIL_PATH_DEPTH steps: only its leaf side is known. */
  binaryTruncated: boolean;
  /** argv had more than VIGIL_ARGS_MAX bytes: the last argument is cut short, later ones are missing. */
  argsTruncated: boolean;
  cwdTruncated: boolean;
  binaryError: boolean;
  argsError: boolean;
  cwdError: boolean;
}

/** A process as an exec event describes it. */
export interface ExecProcess {
  pid: number;
  /** The thread that called exec (it became the group leader; equals pid after the exec). */
  tid: number;
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  /** Login uid; 4294967295 when unset. */
  auid: number;
  /** The kernel's short name (up to 15 bytes). */
  comm: string;
  /** Absolute path of the executable (symlinks resolved, as the kernel mapped it). */
  binary: string;
  /** argv, argv[0] included. */
  args: string[];
  cwd: string;
  /** Process start (its fork), CLOCK_BOOTTIME ns. */
  startBootNs: bigint;
  /** Process start, ns since the epoch. */
  startTimeNs: bigint;
  /** The exec's kernel time, CLOCK_BOOTTIME ns: with pid, this exec's identity. */
  execBootNs: bigint;
  /** Which of binary, args, cwd the kernel could not deliver whole. */
  flags: ExecFlags;
}

/** The parent, from what Vigil has seen of it (its exec) or read from /proc. */
export interface ExecParent {
  pid: number;
  /** Start (fork) of the parent, CLOCK_BOOTTIME ns, from the kernel. */
  startBootNs: bigint;
  startTimeNs: bigint;
  /** Its executable, if known: undefined when it exited before Vigil could look. */
  binary: string | undefined;
  /** The rest is known only when Vigil saw the parent's exec. */
  process?: ExecProcess;
  /** Where the binary came from: Vigil's own exec events, or /proc/<pid>/exe. */
  source: 'exec' | 'procfs' | 'unknown';
}

export interface ExecEvent {
  readonly kind: 'exec';
  /** When, ns since the epoch. */
  timeNs: bigint;
  process: ExecProcess;
  parent: ExecParent;
}

export type SensorEvent = ExecEvent;
export type SensorEventKind = SensorEvent['kind'];

/** For the default branch of an exhaustive `switch (e.kind)`: `default: return assertNever(e.kind)`. */
export function assertNever(kind: never): never {
  throw new Error(`unhandled event kind: ${String(kind)}`);
}
