// The events sensors emit: one discriminated union, so a consumer's
// `switch (e.kind)` stops compiling when a sensor adds a kind it does not
// handle (see assertNever).
//
// Process events carry the process as the process cache describes it
// (ProcessInfo, src/process/types.ts: a type-only dependency, so sensors stay
// below the pipeline) and its parent. Other sensors add their kinds in their
// own src/sensors/<x>-events.ts, imported into the union here.
import type { ProcessInfo } from '../process/types.js';
import type { FileEvent } from './file-events.js';

export type { ProcessInfo } from '../process/types.js';
export type { FileEvent } from './file-events.js';

/** A successful execve/execveat: process is the new image. */
export interface ExecEvent {
  readonly kind: 'exec';
  /** When, ns since the epoch (and CLOCK_BOOTTIME ns, as the kernel stamped it). */
  timeNs: bigint;
  timeBootNs: bigint;
  process: ProcessInfo;
  /** The parent's image, when known (from the cache, or /proc while it lives). */
  parent: ProcessInfo | undefined;
}

/** An execve/execveat that failed: the caller stays what it was (process). */
export interface ExecFailedEvent {
  readonly kind: 'exec_failed';
  timeNs: bigint;
  timeBootNs: bigint;
  process: ProcessInfo;
  parent: ProcessInfo | undefined;
  /** The path as given (may be relative to cwd, or to dfd for execveat). */
  filename: string;
  /** argv as given, argv[0] included. */
  args: string[];
  /** The caller's working directory. */
  cwd: string;
  /** The errno (positive) and its name ("ENOENT"). */
  errno: number;
  error: string;
  /** execveat only: its dirfd and flags. */
  at: { dfd: number; flags: number } | undefined;
  /** argv did not fit VIGIL_ARGS_MAX bytes / VIGIL_ARGV_COUNT_MAX arguments; filename cut at VIGIL_PATH_MAX. */
  argsTruncated: boolean;
  filenameTruncated: boolean;
}

/** A new process (fork, vfork, clone without CLONE_THREAD). Threads are not reported. */
export interface ForkEvent {
  readonly kind: 'fork';
  timeNs: bigint;
  timeBootNs: bigint;
  /** The child: a copy of the parent's image until it execs (source 'fork'). */
  process: ProcessInfo;
  parent: ProcessInfo | undefined;
}

/** The end of a process (its last thread). */
export interface ExitEvent {
  readonly kind: 'exit';
  timeNs: bigint;
  timeBootNs: bigint;
  process: ProcessInfo;
  parent: ProcessInfo | undefined;
  /** exit(2) status when it exited, null when a signal killed it. */
  status: number | null;
  /** The killing signal, null when it exited. */
  signal: number | null;
  /** Its name ("SIGKILL"), null when it exited. */
  signalName: string | null;
  coreDumped: boolean;
}

export type ProcessEvent = ExecEvent | ExecFailedEvent | ForkEvent | ExitEvent;

export type SensorEvent = ProcessEvent | FileEvent;
export type SensorEventKind = SensorEvent['kind'];

/** For the default branch of an exhaustive `switch (e.kind)`: `default: return assertNever(e.kind)`. */
export function assertNever(kind: never): never {
  throw new Error(`unhandled event kind: ${String(kind)}`);
}
