// The file sensor's event (src/sensors/file.ts), one per completed file
// syscall. Joined into the SensorEvent union in src/sensors/events.ts.

/** What the syscall does (see bpf/include/vigil/file.h, enum vigil_file_op). */
export type FileOp = 'open' | 'unlink' | 'rmdir' | 'mkdir' | 'rename' | 'link' | 'symlink' | 'chmod' | 'chown' | 'truncate';

export const FILE_OPS: readonly FileOp[] = ['open', 'unlink', 'rmdir', 'mkdir', 'rename', 'link', 'symlink', 'chmod',
  'chown', 'truncate'];

/** The syscalls the sensor watches, by their Linux names. */
export type FileSyscall =
  | 'open' | 'openat' | 'openat2' | 'creat'
  | 'unlink' | 'unlinkat'
  | 'rename' | 'renameat' | 'renameat2'
  | 'mkdir' | 'mkdirat' | 'rmdir'
  | 'link' | 'linkat' | 'symlink' | 'symlinkat'
  | 'chmod' | 'fchmodat' | 'fchmodat2'
  | 'chown' | 'fchownat' | 'lchown'
  | 'truncate';

/** The task that made the call, as the kernel saw it (the process cache adds the rest by pid + startBootNs). */
export interface FileTask {
  /** Thread group id. */
  pid: number;
  tid: number;
  /** Real uid/gid of the caller. */
  uid: number;
  gid: number;
  /** The kernel's short name (up to 15 bytes). */
  comm: string;
  /** The process's start (its group leader's fork), CLOCK_BOOTTIME ns: with pid, which process this is. */
  startBootNs: bigint;
  /** cgroup v2 id. */
  cgroupId: bigint;
}

/** What the kernel could not deliver whole, and where the path came from. */
export interface FileEventFlags {
  /** The resolved path was longer than PATH_MAX (or deeper than the walk goes): path starts with ".../". */
  pathTruncated: boolean;
  targetTruncated: boolean;
  /** The name could not be read, or its directory (a bad dirfd) not found: path is the caller's string as given (maybe relative) or "". */
  pathError: boolean;
  targetError: boolean;
  /**
   * path is the opened file's own: the struct file behind the descriptor the
   * open returned, walked in the kernel (symlinks followed); dev and ino are
   * set. Otherwise (path-only syscalls, failed opens) path is the name made
   * absolute and normalised lexically, symlinks not followed.
   */
  pathOpened: boolean;
}

export interface FileEvent {
  readonly kind: 'file';
  op: FileOp;
  syscall: FileSyscall;
  /** When the syscall was entered (an open: when it returned), ns since the epoch. */
  timeNs: bigint;
  /** ... and as CLOCK_BOOTTIME ns. */
  bootNs: bigint;
  /**
   * The canonical absolute path of the file the call acts on, as the
   * process sees the filesystem (its root, so a process in a container sees
   * its own). An open that returned a descriptor: the opened file's path
   * (what readlink /proc/PID/fd/N shows: symlinks followed; eventFlags.pathOpened).
   * Any other call: the name made absolute against the cwd or the directory
   * fd, then normalised ("." and "//" gone, ".." resolved against the
   * absolute prefix), symlinks not followed. rename: the old name;
   * link/symlink: the new name.
   */
  path: string;
  /** The path argument exactly as the caller gave it (relative names, "..", "//" and symlinks kept). */
  rawPath: string;
  /**
   * rename: the new name; link: the existing file (both canonical like path,
   * lexically); symlink: the link's content exactly as given (not resolved:
   * it may be relative or dangle); otherwise null.
   */
  target: string | null;
  /** The target argument exactly as given (for symlink, the same as target); null without one. */
  rawTarget: string | null;
  /**
   * The opened file's device and inode (eventFlags.pathOpened): st_dev and
   * st_ino as stat(2) gives them for the file, to match a file by identity
   * whatever it is called. null for calls without an opened file.
   */
  dev: number | null;
  ino: number | null;
  /** Flag names: O_* (creat: O_WRONLY O_CREAT O_TRUNC; openat2 adds RESOLVE_*), AT_*, RENAME_*. */
  flags: readonly string[];
  /** The flag word as the syscall took it (openat2: open_how.flags). */
  rawFlags: bigint;
  /** open with O_CREAT/O_TMPFILE, creat, mkdir, chmod: the mode argument; otherwise null. */
  mode: number | null;
  /** chown: the new owner; null where the call leaves it unchanged (-1) or for other ops. */
  ownerUid: number | null;
  ownerGid: number | null;
  /** truncate: the new length. */
  length: number | null;
  /** The result: a file descriptor, 0, or -errno (-2 is ENOENT). */
  ret: number;
  task: FileTask;
  eventFlags: FileEventFlags;
}

/**
 * The name as given, when it says more than the canonical path: not the same
 * text, and not a plain relative name the path ends with ("x.txt" of
 * "/dir/x.txt"). A symlink followed, "..", "//" or "." show.
 */
export function rawShown(path: string, raw: string | null): string | undefined {
  if (raw === null || raw === path || raw === '') return undefined;
  if (!raw.startsWith('/') && path.endsWith(`/${raw}`) && !/(^|\/)\.\.?(\/|$)|\/\//.test(raw)) return undefined;
  return raw;
}
