// Flag words of file syscalls as names, the way strace and Falco print them:
//   decodeOpenFlags(0o2000101) -> ['O_WRONLY', 'O_CREAT', 'O_CLOEXEC']
//   decodeAtFlags(0x200)     -> ['AT_REMOVEDIR']
//   decodeRenameFlags(1)     -> ['RENAME_NOREPLACE']
// Bits without a name are kept as one hex word ("0x40000000"), never dropped.
// Pure: no kernel, no I/O.

/** Where open(2) flag values differ: arm64 (and other asm-generic ports) vs x86_64. */
export type FlagArch = 'x86_64' | 'arm64';

/** The architecture Vigil runs on (flags recorded by the kernel use its values). */
export function hostFlagArch(): FlagArch {
  return process.arch === 'arm64' ? 'arm64' : 'x86_64';
}

type FlagTable = readonly (readonly [name: string, bits: number])[];

// asm-generic/fcntl.h (x86_64); the access mode (low 2 bits) is handled apart.
const OPEN_COMMON: FlagTable = [
  ['O_CREAT', 0o100],
  ['O_EXCL', 0o200],
  ['O_NOCTTY', 0o400],
  ['O_TRUNC', 0o1000],
  ['O_APPEND', 0o2000],
  ['O_NONBLOCK', 0o4000],
  ['O_ASYNC', 0o20000],
  ['O_NOATIME', 0o1000000],
  ['O_CLOEXEC', 0o2000000],
  ['O_PATH', 0o10000000],
];

// The four that arm64 numbers differently (arch/arm64/include/uapi/asm/fcntl.h).
const OPEN_ARCH: Record<FlagArch, { O_DIRECTORY: number; O_NOFOLLOW: number; O_DIRECT: number; O_LARGEFILE: number }> = {
  x86_64: { O_DIRECTORY: 0o200000, O_NOFOLLOW: 0o400000, O_DIRECT: 0o40000, O_LARGEFILE: 0o100000 },
  arm64: { O_DIRECTORY: 0o40000, O_NOFOLLOW: 0o100000, O_DIRECT: 0o200000, O_LARGEFILE: 0o400000 },
};

const O_ACCMODE = 3;
const O_DSYNC = 0o10000;
const __O_SYNC = 0o4000000;
const __O_TMPFILE = 0o20000000;

/** O_* bit values for an architecture (the ones a test or a policy may need by name). */
export function openFlagValues(arch: FlagArch = hostFlagArch()): Record<string, number> {
  const a = OPEN_ARCH[arch];
  return {
    O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2,
    ...Object.fromEntries(OPEN_COMMON),
    ...a,
    O_DSYNC, O_SYNC: __O_SYNC | O_DSYNC, O_TMPFILE: __O_TMPFILE | a.O_DIRECTORY,
  };
}

function hex(bits: bigint): string {
  return `0x${bits.toString(16)}`;
}

function toBig(flags: number | bigint): bigint {
  return typeof flags === 'bigint' ? flags : BigInt(flags >>> 0);
}

/** Appends to `out` the names of the set bits of `table`, in table order, then what is left as hex. */
function byTable(flags: bigint, table: FlagTable, out: string[] = []): string[] {
  let left = flags;
  for (const [name, bits] of table) {
    const b = BigInt(bits);
    if (b !== 0n && (left & b) === b) {
      out.push(name);
      left &= ~b;
    }
  }
  if (left) out.push(hex(left));
  return out;
}

/**
 * open/openat/openat2/creat flags: the access mode first (O_RDONLY is the
 * absence of the others, so it is always named), then the rest in the order
 * strace prints them. O_SYNC is O_DSYNC plus __O_SYNC; O_TMPFILE includes
 * O_DIRECTORY; both are shown by their user-facing name alone.
 */
export function decodeOpenFlags(flags: number | bigint, arch: FlagArch = hostFlagArch()): string[] {
  let left = toBig(flags);
  const out: string[] = [];
  const mode = Number(left & BigInt(O_ACCMODE));
  out.push(['O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_ACCMODE'][mode] ?? 'O_ACCMODE');
  left &= ~BigInt(O_ACCMODE);
  const a = OPEN_ARCH[arch];
  const table: FlagTable = [
    ...OPEN_COMMON.slice(0, 6), // O_CREAT .. O_NONBLOCK
    ['O_SYNC', __O_SYNC | O_DSYNC],
    ['O_DSYNC', O_DSYNC],
    ['O_ASYNC', 0o20000],
    ['O_DIRECT', a.O_DIRECT],
    ['O_LARGEFILE', a.O_LARGEFILE],
    ['O_TMPFILE', __O_TMPFILE | a.O_DIRECTORY],
    ['O_DIRECTORY', a.O_DIRECTORY],
    ['O_NOFOLLOW', a.O_NOFOLLOW],
    ['O_NOATIME', 0o1000000],
    ['O_CLOEXEC', 0o2000000],
    ['O_PATH', 0o10000000],
  ];
  return byTable(left, table, out);
}

// include/uapi/linux/fcntl.h: the same on every architecture.
const AT_FLAGS: FlagTable = [
  ['AT_SYMLINK_NOFOLLOW', 0x100],
  ['AT_REMOVEDIR', 0x200],
  ['AT_SYMLINK_FOLLOW', 0x400],
  ['AT_NO_AUTOMOUNT', 0x800],
  ['AT_EMPTY_PATH', 0x1000],
  ['AT_RECURSIVE', 0x8000],
];

/** The names of a flag word whose every bit is named by one table. */
function tableDecoder(table: FlagTable): (flags: number | bigint) => string[] {
  return (flags) => byTable(toBig(flags), table);
}

/** AT_* flags of unlinkat, linkat, fchownat, fchmodat2. (0x200 is AT_REMOVEDIR here, not AT_EACCESS.) */
export const decodeAtFlags = tableDecoder(AT_FLAGS);

const RENAME_FLAGS: FlagTable = [
  ['RENAME_NOREPLACE', 1],
  ['RENAME_EXCHANGE', 2],
  ['RENAME_WHITEOUT', 4],
];

/** RENAME_* flags of renameat2. */
export const decodeRenameFlags = tableDecoder(RENAME_FLAGS);

// openat2's struct open_how.resolve (include/uapi/linux/openat2.h).
const RESOLVE_FLAGS: FlagTable = [
  ['RESOLVE_NO_XDEV', 0x01],
  ['RESOLVE_NO_MAGICLINKS', 0x02],
  ['RESOLVE_NO_SYMLINKS', 0x04],
  ['RESOLVE_BENEATH', 0x08],
  ['RESOLVE_IN_ROOT', 0x10],
  ['RESOLVE_CACHED', 0x20],
];

/** RESOLVE_* flags of openat2's struct open_how. */
export const decodeResolveFlags = tableDecoder(RESOLVE_FLAGS);

/** Which flag word a file syscall takes. */
export type FlagKind = 'open' | 'at' | 'rename' | 'none';

/** A file mode as ls/strace write it: 0644, 04755. */
export function formatMode(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

/**
 * The flags of one file syscall as names: open flags (openat2's RESOLVE_*
 * appended), AT_* or RENAME_*; [] for syscalls without a flag word.
 */
export function decodeFileFlags(kind: FlagKind, flags: number | bigint, resolve: number | bigint = 0,
  arch: FlagArch = hostFlagArch()): string[] {
  switch (kind) {
    case 'open':
      return [...decodeOpenFlags(flags, arch), ...(toBig(resolve) ? decodeResolveFlags(resolve) : [])];
    case 'at':
      return decodeAtFlags(flags);
    case 'rename':
      return decodeRenameFlags(flags);
    case 'none':
      return toBig(flags) ? [hex(toBig(flags))] : [];
  }
}
