// Types shared by the symbolisation modules and their users (the profiler's outputs).

/** Where a frame's code lives. `unknown` frames are named `[unknown] 0xADDR (module+0xOFF)`. */
export type FrameKind = 'kernel' | 'user' | 'jit' | 'unknown';

/**
 * One executable mapping of a process, as captured from /proc/PID/maps. Frames of the same
 * mapping share one Mapping object (compare by identity to build pprof `Mapping`s).
 */
export interface Mapping {
  /** Runtime start address (inclusive). */
  readonly start: bigint;
  /** Runtime end address (exclusive). */
  readonly end: bigint;
  /** Offset in the file of `start` (the maps `offset` column). */
  readonly fileOffset: bigint;
  /** Path of the mapped file as the process sees it ('' for anonymous memory, '[vdso]' etc. for specials). */
  readonly path: string;
  /** GNU build id (lowercase hex) of the file, when it has one and could be read. */
  readonly buildId?: string;
}

export interface Frame {
  /**
   * Function name, demangled. Unknown frames: `[unknown] 0xADDR (module+0xOFF)`,
   * or `[unknown] 0xADDR` when no mapping covers the address.
   */
  name: string;
  /**
   * Module: for user frames the mapped file's path (`/usr/lib/x86_64-linux-gnu/libc.so.6`);
   * for JIT frames `[perf-map]` (or the anonymous mapping's name); for kernel frames `[kernel]`
   * or the kernel module in brackets (`[ext4]`); '' when unknown.
   */
  module: string;
  /**
   * User/JIT frames: offset of `addr` in the module file (addr - mapping.start + mapping.fileOffset);
   * kernel frames: addr - start of the module's text (`_stext` for [kernel]); 0n when unknown.
   */
  offset: bigint;
  /** The runtime address that was looked up. */
  addr: bigint;
  kind: FrameKind;
  /** addr - start of the function (0n for unknown frames). Useful for `name+0x1a` displays. */
  symbolOffset: bigint;
  /** The mapping that covers a user/JIT address, if any. */
  mapping?: Mapping;
  /** Reserved: inline frames are not expanded (no DWARF); always absent or false. */
  inlined?: false;
}

export interface ProcessName {
  /** /proc/PID/comm at capture time. */
  comm: string;
  /** readlink(/proc/PID/exe) at capture time ('' for kernel threads). */
  exe: string;
}

export interface SymbolizerOptions {
  /** Root of procfs; default '/proc'. */
  procRoot?: string;
  /** Path of the kernel symbol table; default `${procRoot}/kallsyms`. */
  kallsyms?: string;
  /**
   * Where perf maps live, as seen from the process's root; default '/tmp'. The file read is
   * `${procRoot}/PID/root${perfMapDir}/perf-NSPID.map` (falls back to `${perfMapDir}/perf-PID.map`).
   */
  perfMapDir?: string;
  /** Upper bound on parsed ELF symbol tables kept in memory (LRU); default 64. */
  maxCachedFiles?: number;
  /** Demangle C++/Rust names; default true. */
  demangle?: boolean;
  /**
   * Parse the symbol tables of a captured process's files on a worker thread as soon as it is
   * captured (prefetch), so symbolising later finds them ready and the caller's thread stays
   * free; default false (parsed on first lookup, on the caller's thread).
   */
  parseInBackground?: boolean;
}

export interface SymbolizerStats {
  /** Processes currently captured. */
  processes: number;
  /** Calls to captureProcess that re-read maps because they changed. */
  captures: number;
  /** ELF files parsed (cache misses) and currently cached. */
  elfParsed: number;
  elfCached: number;
  /** Milliseconds spent parsing ELF symbol tables, in total. */
  elfParseMs: number;
  /** Addresses looked up, and how many of them ended as unknown frames. */
  lookups: number;
  unknown: number;
  /** Kernel symbols loaded from kallsyms (0 until the first kernel lookup). */
  kernelSymbols: number;
}
