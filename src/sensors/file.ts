// FileSensor: one FileEvent per completed file syscall (open, openat,
// openat2, creat, unlink, unlinkat, rename, renameat, renameat2, mkdir,
// mkdirat, rmdir, link, linkat, symlink, symlinkat, chmod, fchmodat,
// fchmodat2, chown, fchownat, lchown, truncate), from bpf/file.bpf.c.
//
//   using filter = new FilterSet({ pathPrefixes: ['/etc/'] });
//   const sensor = await FileSensor.start({ filter, onEvent: (e) => ..., onLost: (n) => ... });
//   sensor.attached;   // the syscalls this kernel has (arm64 has no open, creat, unlink, ...)
//   ...
//   sensor.close();    // detach, deliver what the ring still holds, free
//
// Paths are canonical, made in the kernel: an open that returned a
// descriptor carries the opened file's own path (its struct file walked up
// to the process's root, with its device and inode); every other call the
// name made absolute and normalised lexically. The name as the caller gave
// it comes too (rawPath). The in-kernel path prefix filter decides on the
// canonical path. Records are decoded with the generated codec of struct
// vigil_file_event (bpf/include/vigil/file.h).
import { existsSync } from 'node:fs';
import { NotSupportedError, TypedMap, codec } from '../bpf/index.js';
import type { BpfObject } from '../bpf/index.js';
import { BootClock } from '../util/clock.js';
import {
  vigilFileEvent, VIGIL_FILE_EVENT, VIGIL_FILE_COMM_LEN,
  VIGIL_FILE_HAS_MODE, VIGIL_FILE_HAS_OWNER, VIGIL_FILE_HAS_LENGTH,
  VIGIL_FILE_TRUNC_PATH, VIGIL_FILE_TRUNC_TARGET, VIGIL_FILE_ERROR_PATH, VIGIL_FILE_ERROR_TARGET,
  VIGIL_FILE_PATH_OPENED,
  VIGIL_FILE_OP_OPEN, VIGIL_FILE_OP_UNLINK, VIGIL_FILE_OP_RMDIR, VIGIL_FILE_OP_MKDIR, VIGIL_FILE_OP_RENAME,
  VIGIL_FILE_OP_LINK, VIGIL_FILE_OP_SYMLINK, VIGIL_FILE_OP_CHMOD, VIGIL_FILE_OP_CHOWN, VIGIL_FILE_OP_TRUNCATE,
  VIGIL_FILE_SYS_OPEN, VIGIL_FILE_SYS_OPENAT, VIGIL_FILE_SYS_OPENAT2, VIGIL_FILE_SYS_CREAT, VIGIL_FILE_SYS_UNLINK,
  VIGIL_FILE_SYS_UNLINKAT, VIGIL_FILE_SYS_RENAME, VIGIL_FILE_SYS_RENAMEAT, VIGIL_FILE_SYS_RENAMEAT2,
  VIGIL_FILE_SYS_MKDIR, VIGIL_FILE_SYS_MKDIRAT, VIGIL_FILE_SYS_RMDIR, VIGIL_FILE_SYS_LINK, VIGIL_FILE_SYS_LINKAT,
  VIGIL_FILE_SYS_SYMLINK, VIGIL_FILE_SYS_SYMLINKAT, VIGIL_FILE_SYS_CHMOD, VIGIL_FILE_SYS_FCHMODAT,
  VIGIL_FILE_SYS_FCHMODAT2, VIGIL_FILE_SYS_CHOWN, VIGIL_FILE_SYS_FCHOWNAT, VIGIL_FILE_SYS_LCHOWN,
  VIGIL_FILE_SYS_TRUNCATE,
} from '../generated/file.js';
import { decodeFileFlags, hostFlagArch, type FlagArch, type FlagKind } from './flags.js';
import type { FileEvent, FileEventFlags, FileOp, FileSyscall } from './file-events.js';
import { Sensor, tracepointPrerequisites, type RingSensorOptions } from './sensor.js';
import { vigilPathKey, VIGIL_FILTER_PATH_MAX } from '../generated/filter.js';
import { statDev } from './fd-paths.js';
import { checkHeader, sharedText, taskAt, text, u64Number, U64Memo } from './record-text.js';

/**
 * The first components the path prefix filter allows (file_path_tops in
 * bpf/file.bpf.c): each prefix up to its second '/' ("/etc/" of
 * "/etc/ssh/"), or whole without one ("/et"). An opened file whose path
 * starts with none of them cannot have any of the prefixes: the kernel drops
 * it before walking its path.
 */
export function pathPrefixTops(prefixes: readonly string[]): string[] {
  return [...new Set(prefixes.map((p) => {
    const j = p.indexOf('/', 1);
    return j < 0 ? p : p.slice(0, j + 1);
  }))];
}

/** Bytes of a first component the kernel compares (NAME_MAX), + 1 for the path "/" itself. */
const TOP_LENGTHS = 256;

/**
 * file_top_len_none (bpf/file.bpf.c): the lengths of a first component that
 * none of the tops allows, one bit each (bit n % 8 of byte n / 8; n = 0 is
 * the path "/"). "/top/" allows exactly top's length in bytes, "/top" any
 * from it up, "/" (or anything not of those forms) every length. The kernel
 * drops a file whose first component has a marked length before it reads
 * the name.
 */
export function pathTopLengthsNone(tops: readonly string[]): Uint8Array {
  const allowed = new Uint8Array(TOP_LENGTHS);
  // No prefixes: the filter is off and nothing is ruled out.
  if (tops.length === 0) allowed.fill(1);
  for (const t of tops) {
    const b = Buffer.from(t, 'utf8');
    if (b.length < 2 || b[0] !== 0x2f) allowed.fill(1);
    else if (b[b.length - 1] === 0x2f) allowed[Math.min(b.length - 2, TOP_LENGTHS - 1)] = 1;
    else allowed.fill(1, Math.min(b.length - 1, TOP_LENGTHS - 1));
  }
  const none = new Uint8Array(TOP_LENGTHS / 8);
  allowed.forEach((a, n) => {
    if (!a) none[n >> 3] = (none[n >> 3] ?? 0) | (1 << (n & 7));
  });
  return none;
}

function writePathTops(obj: BpfObject, prefixes: readonly string[]): void {
  const m = new TypedMap(obj.map('file_path_tops'), vigilPathKey, codec.u8);
  for (const t of pathPrefixTops(prefixes)) {
    const path = new Uint8Array(VIGIL_FILTER_PATH_MAX);
    const n = Buffer.from(t, 'utf8').copy(path);
    m.set({ prefixlen: n * 8, path }, 1);
  }
}

/** Each syscall: its id in the records, the flag word it takes. In the order the sensor attaches them. */
export const FILE_SYSCALLS: readonly { name: FileSyscall; id: number; flags: FlagKind }[] = [
  { name: 'open', id: VIGIL_FILE_SYS_OPEN, flags: 'open' },
  { name: 'openat', id: VIGIL_FILE_SYS_OPENAT, flags: 'open' },
  { name: 'openat2', id: VIGIL_FILE_SYS_OPENAT2, flags: 'open' },
  { name: 'creat', id: VIGIL_FILE_SYS_CREAT, flags: 'open' },
  { name: 'unlink', id: VIGIL_FILE_SYS_UNLINK, flags: 'none' },
  { name: 'unlinkat', id: VIGIL_FILE_SYS_UNLINKAT, flags: 'at' },
  { name: 'rename', id: VIGIL_FILE_SYS_RENAME, flags: 'none' },
  { name: 'renameat', id: VIGIL_FILE_SYS_RENAMEAT, flags: 'none' },
  { name: 'renameat2', id: VIGIL_FILE_SYS_RENAMEAT2, flags: 'rename' },
  { name: 'mkdir', id: VIGIL_FILE_SYS_MKDIR, flags: 'none' },
  { name: 'mkdirat', id: VIGIL_FILE_SYS_MKDIRAT, flags: 'none' },
  { name: 'rmdir', id: VIGIL_FILE_SYS_RMDIR, flags: 'none' },
  { name: 'link', id: VIGIL_FILE_SYS_LINK, flags: 'none' },
  { name: 'linkat', id: VIGIL_FILE_SYS_LINKAT, flags: 'at' },
  { name: 'symlink', id: VIGIL_FILE_SYS_SYMLINK, flags: 'none' },
  { name: 'symlinkat', id: VIGIL_FILE_SYS_SYMLINKAT, flags: 'none' },
  { name: 'chmod', id: VIGIL_FILE_SYS_CHMOD, flags: 'none' },
  { name: 'fchmodat', id: VIGIL_FILE_SYS_FCHMODAT, flags: 'none' },
  { name: 'fchmodat2', id: VIGIL_FILE_SYS_FCHMODAT2, flags: 'at' },
  { name: 'chown', id: VIGIL_FILE_SYS_CHOWN, flags: 'none' },
  { name: 'fchownat', id: VIGIL_FILE_SYS_FCHOWNAT, flags: 'at' },
  { name: 'lchown', id: VIGIL_FILE_SYS_LCHOWN, flags: 'at' },
  { name: 'truncate', id: VIGIL_FILE_SYS_TRUNCATE, flags: 'none' },
];

/** The open family: one program each, at exit, where the others have an entry and the shared exit. */
function isOpen(s: FileSyscall): boolean {
  return SYSCALL_BY_NAME.get(s)?.flags === 'open';
}

const SYSCALL_BY_ID = new Map(FILE_SYSCALLS.map((s) => [s.id, s]));
const SYSCALL_BY_NAME = new Map(FILE_SYSCALLS.map((s) => [s.name, s]));

const OPS: Record<number, FileOp> = {
  [VIGIL_FILE_OP_OPEN]: 'open',
  [VIGIL_FILE_OP_UNLINK]: 'unlink',
  [VIGIL_FILE_OP_RMDIR]: 'rmdir',
  [VIGIL_FILE_OP_MKDIR]: 'mkdir',
  [VIGIL_FILE_OP_RENAME]: 'rename',
  [VIGIL_FILE_OP_LINK]: 'link',
  [VIGIL_FILE_OP_SYMLINK]: 'symlink',
  [VIGIL_FILE_OP_CHMOD]: 'chmod',
  [VIGIL_FILE_OP_CHOWN]: 'chown',
  [VIGIL_FILE_OP_TRUNCATE]: 'truncate',
};

/** Losses (onLost) are also calls the stash could not hold: more syscalls in flight than stashEntries. */
export interface FileSensorOptions extends RingSensorOptions<FileEvent> {
  /** Watch only these syscalls (default: all of FILE_SYSCALLS the kernel has). */
  syscalls?: readonly FileSyscall[];
  /** Syscalls in flight at once (entered, not yet returned) the kernel can hold. Default 4096. */
  stashEntries?: number;
  /**
   * Each record as the ring gives it, instead of onEvent: the consumer holds
   * the bytes and decodes them later with sensor.decode() (a pipeline's
   * holdRecords). It throws on a record that would not decode (fileRecordTime
   * checks that): counted as malformed.
   */
  onRecord?: (view: DataView, offset: number, size: number) => void;
}

/** A path the kernel kept only the leaf side of is shown as ".../leaf" (never as a shorter path that exists). */
function shown(path: string, truncated: boolean): string {
  if (!truncated) return path;
  const slash = path.indexOf('/', 1);
  return `...${slash > 0 ? path.slice(slash) : `/${path}`}`;
}

const UNCHANGED = 0xffffffff;
const O = vigilFileEvent.offsets;

/**
 * Flag names by (arch, kind, word): a stream repeats a handful of flag words,
 * so each is decoded once. The arrays are shared and frozen. Words above 32
 * bits and openat2's RESOLVE_* (rare) are decoded each time.
 */
const flagNames = new Map<string, Map<number, readonly string[]>>();
const FLAG_CACHE_MAX = 1024;

function cachedFlags(kind: FlagKind, low: number, high: number, resolve: bigint, arch: FlagArch): readonly string[] {
  if (high !== 0 || resolve !== 0n) {
    return Object.freeze(decodeFileFlags(kind, (BigInt(high) << 32n) | BigInt(low), resolve, arch));
  }
  const cacheKey = arch === 'x86_64' ? kind : `${arch}:${kind}`;
  let cache = flagNames.get(cacheKey);
  if (!cache) flagNames.set(cacheKey, (cache = new Map()));
  let names = cache.get(low);
  if (!names) {
    names = Object.freeze(decodeFileFlags(kind, low, 0n, arch));
    if (cache.size >= FLAG_CACHE_MAX) cache.clear();
    cache.set(low, names);
  }
  return names;
}

const HOST_ARCH = hostFlagArch();

const STATUS_FLAGS = VIGIL_FILE_TRUNC_PATH | VIGIL_FILE_TRUNC_TARGET | VIGIL_FILE_ERROR_PATH | VIGIL_FILE_ERROR_TARGET
  | VIGIL_FILE_PATH_OPENED;
const eventFlagSets = new Map<number, Readonly<FileEventFlags>>();

/** A record status's flags: one frozen object per combination, shared by the events that have it. */
function eventFlagsOf(status: number): Readonly<FileEventFlags> {
  const s = status & STATUS_FLAGS;
  let f = eventFlagSets.get(s);
  if (f === undefined) {
    f = Object.freeze({
      pathTruncated: (s & VIGIL_FILE_TRUNC_PATH) !== 0,
      targetTruncated: (s & VIGIL_FILE_TRUNC_TARGET) !== 0,
      pathError: (s & VIGIL_FILE_ERROR_PATH) !== 0,
      targetError: (s & VIGIL_FILE_ERROR_TARGET) !== 0,
      pathOpened: (s & VIGIL_FILE_PATH_OPENED) !== 0,
    });
    eventFlagSets.set(s, f);
  }
  return f;
}

const rawFlagsMemo = new U64Memo();

/** The lengths of a record's names, checked against its size; the syscall and op known. Throws otherwise. */
function checkFileRecord(view: DataView, o: number, size: number): void {
  checkHeader(view, o, size, vigilFileEvent, VIGIL_FILE_EVENT, 'file record');
  const pathLen = view.getUint16(o + O.path_len, true);
  const targetLen = view.getUint16(o + O.target_len, true);
  const rawLen = view.getUint16(o + O.raw_len, true);
  const rawTargetLen = view.getUint16(o + O.raw_target_len, true);
  if (vigilFileEvent.size + pathLen + targetLen + rawLen + rawTargetLen > size) {
    throw new RangeError(`file record of ${size} bytes declares ${pathLen}+${targetLen}+${rawLen}+${rawTargetLen} bytes of names`);
  }
  const syscallId = view.getUint16(o + O.syscall, true);
  const opId = view.getUint16(o + O.op, true);
  if (!SYSCALL_BY_ID.has(syscallId) || OPS[opId] === undefined) {
    throw new RangeError(`file record with unknown syscall ${syscallId} or op ${opId}`);
  }
}

/** Whether the `len` bytes at a and the `other` bytes at b are the same. */
function sameBytes(view: DataView, a: number, b: number, len: number, other: number): boolean {
  if (len !== other) return false;
  let i = 0;
  for (; i + 4 <= len; i += 4) if (view.getUint32(a + i, true) !== view.getUint32(b + i, true)) return false;
  for (; i < len; i++) if (view.getUint8(a + i) !== view.getUint8(b + i)) return false;
  return true;
}

/**
 * A file record's kernel time (CLOCK_BOOTTIME ns), after the checks
 * decodeFileRecord makes: a record this returns for decodes without error.
 */
export function fileRecordTime(view: DataView, offset: number, size: number): bigint {
  checkFileRecord(view, offset, size);
  return view.getBigUint64(offset + O.ktime, true);
}

/**
 * Decodes one file record (header + path + target). Pure: no kernel, no
 * clock beyond the one given. Fields are read at the generated codec's
 * offsets, only those the event carries (the full codec decode costs a
 * BigInt per 64-bit field).
 */
export function decodeFileRecord(view: DataView, offset: number, size: number, clock: BootClock,
  arch: FlagArch = HOST_ARCH): FileEvent {
  const o = offset;
  checkFileRecord(view, o, size);
  const pathLen = view.getUint16(o + O.path_len, true);
  const targetLen = view.getUint16(o + O.target_len, true);
  const rawLen = view.getUint16(o + O.raw_len, true);
  const rawTargetLen = view.getUint16(o + O.raw_target_len, true);
  const syscallId = view.getUint16(o + O.syscall, true);
  const sc = SYSCALL_BY_ID.get(syscallId)!;
  const op = OPS[view.getUint16(o + O.op, true)]!;
  const s = view.getUint32(o + O.status, true);
  const eventFlags = eventFlagsOf(s);
  const blob = o + vigilFileEvent.size;
  const twoNames = op === 'rename' || op === 'link' || op === 'symlink';
  const path = sharedText(view, blob, pathLen);
  // An absolute name as given is mostly the path itself: the same string, not looked up again.
  const rawPath = sameBytes(view, blob, blob + pathLen + targetLen, rawLen, pathLen) ? path
    : sharedText(view, blob + pathLen + targetLen, rawLen);
  const target = twoNames ? sharedText(view, blob + pathLen, targetLen) : null;
  const hasOwner = (s & VIGIL_FILE_HAS_OWNER) !== 0;
  const ownerUid = hasOwner ? view.getUint32(o + O.owner_uid, true) : UNCHANGED;
  const ownerGid = hasOwner ? view.getUint32(o + O.owner_gid, true) : UNCHANGED;
  const ktime = view.getBigUint64(o + O.ktime, true);
  // Little-endian u64: low word first.
  const flagsLow = view.getUint32(o + O.flags, true);
  const flagsHigh = view.getUint32(o + O.flags + 4, true);
  const resolve = syscallId === VIGIL_FILE_SYS_OPENAT2 ? view.getBigUint64(o + O.resolve, true) : 0n;
  return {
    kind: 'file',
    op,
    syscall: sc.name,
    timeNs: clock.toEpochNs(ktime),
    bootNs: ktime,
    path: shown(path, eventFlags.pathTruncated),
    rawPath,
    target: target === null ? null : shown(target, eventFlags.targetTruncated),
    // A symlink's target is literal: it is its own raw text (the kernel sends it once).
    rawTarget: target === null ? null : op === 'symlink' ? target : text(view, blob + pathLen + targetLen + rawLen, rawTargetLen),
    dev: eventFlags.pathOpened ? statDev(view.getUint32(o + O.dev, true)) : null,
    ino: eventFlags.pathOpened ? u64Number(view, o + O.ino) : null,
    flags: cachedFlags(sc.flags, flagsLow, flagsHigh, resolve, arch),
    rawFlags: rawFlagsMemo.read(view, o + O.flags),
    mode: s & VIGIL_FILE_HAS_MODE ? view.getUint32(o + O.mode, true) & 0o7777 : null,
    ownerUid: ownerUid !== UNCHANGED ? ownerUid : null,
    ownerGid: ownerGid !== UNCHANGED ? ownerGid : null,
    length: s & VIGIL_FILE_HAS_LENGTH ? Number(view.getBigInt64(o + O.length, true)) : null,
    // fd, 0 or -errno: an int the kernel widened to the s64; the low word holds it whole.
    ret: view.getInt32(o + O.ret, true),
    task: taskAt(view, o, O, VIGIL_FILE_COMM_LEN),
    eventFlags,
  };
}

/** The syscalls whose entry and exit tracepoints this kernel has (x86_64 has the legacy open, creat, unlink, ...; arm64 does not). */
export function availableFileSyscalls(tracefsPath: string): FileSyscall[] {
  return FILE_SYSCALLS.filter((s) => existsSync(`${tracefsPath}/events/syscalls/sys_enter_${s.name}`) &&
    existsSync(`${tracefsPath}/events/syscalls/sys_exit_${s.name}`)).map((s) => s.name);
}

export class FileSensor extends Sensor {
  /** The syscalls being watched (their tracepoints exist here). */
  readonly attached: readonly FileSyscall[];
  /** Asked for (or all) but not on this kernel: no tracepoint. */
  readonly missing: readonly FileSyscall[];

  private constructor(obj: BpfObject, attached: FileSyscall[], missing: FileSyscall[], private readonly clock: BootClock,
    private readonly arch: FlagArch) {
    super('file', obj);
    this.attached = attached;
    this.missing = missing;
  }

  /** A record given to onRecord, decoded (its bytes where the consumer keeps them). */
  decode(view: DataView, offset: number, size: number): FileEvent {
    return decodeFileRecord(view, offset, size, this.clock, this.arch);
  }

  static async start(opts: FileSensorOptions): Promise<FileSensor> {
    const tracefs = await tracepointPrerequisites('file', 'walks and normalises paths');
    const wanted = opts.syscalls ?? FILE_SYSCALLS.map((s) => s.name);
    for (const w of wanted) {
      if (!SYSCALL_BY_NAME.has(w)) throw new RangeError(`file sensor: unknown syscall "${w}"`);
    }
    const here = new Set(availableFileSyscalls(tracefs));
    const attached = wanted.filter((w) => here.has(w));
    const missing = wanted.filter((w) => !here.has(w));
    if (attached.length === 0) {
      throw new NotSupportedError('syscall tracepoints',
        `none of ${wanted.join(', ')} has syscalls:sys_enter_/sys_exit_ tracepoints (CONFIG_FTRACE_SYSCALLS?)`);
    }

    const clock = BootClock.measure();
    const arch = hostFlagArch();
    const maxEntries: Record<string, number> = {};
    if (opts.stashEntries) {
      maxEntries.stash_small = opts.stashEntries;
      maxEntries.stash_large = opts.stashEntries;
      maxEntries.retry = opts.stashEntries;
    }
    const obj = await Sensor.loadObject('file', {
      // Programs of syscalls this kernel lacks stay out of the kernel.
      filter: opts.filter, ring: opts, programs: [...(attached.some((s) => !isOpen(s)) ? ['file_exit'] : []),
        ...attached.map((s) => (isOpen(s) ? `exit_${s}` : `enter_${s}`))], maxEntries,
      constants: { file_top_len_none: pathTopLengthsNone(pathPrefixTops(opts.filter?.options.pathPrefixes ?? [])) },
      directLoads: true,
    });
    const sensor = new FileSensor(obj, attached, missing, clock, arch);
    return sensor.starting(() => {
      writePathTops(obj, opts.filter?.options.pathPrefixes ?? []);
      // Reader first, then exits, then entries: no record is made before
      // someone reads, and no entry is stashed before its exit can send it.
      // Entries are detached first (stage 0), so every stashed call still gets its exit.
      // Opens have one program, at exit (it reads the arguments there).
      const onRecord = opts.onRecord;
      sensor.openRing(opts, onRecord
        ? sensor.decoding((view, offset, size) => onRecord(view, offset, size), () => {})
        : sensor.decoding((view, offset, size) => decodeFileRecord(view, offset, size, clock, arch), (e) => opts.onEvent(e)));
      for (const s of attached) {
        const exit = obj.program(isOpen(s) ? `exit_${s}` : 'file_exit');
        sensor.keep(exit.attachTracepoint('syscalls', `sys_exit_${s}`), 1);
      }
      for (const s of attached.filter((s) => !isOpen(s))) {
        sensor.keep(obj.program(`enter_${s}`).attachTracepoint('syscalls', `sys_enter_${s}`), 0);
      }
    });
  }
}
