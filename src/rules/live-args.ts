// Syscall arguments as Falco renders them in evt.arg.* (ptrace requests,
// socket families, flag words), for the live adapters (src/rules/live.ts).
// Names follow libscap's tables (ptrace_requests, socket_families, ...).
// Pure tables and functions.

const PTRACE_REQUESTS = new Map<number, string>([
  [0, 'PTRACE_TRACEME'], [1, 'PTRACE_PEEKTEXT'], [2, 'PTRACE_PEEKDATA'], [3, 'PTRACE_PEEKUSR'],
  [4, 'PTRACE_POKETEXT'], [5, 'PTRACE_POKEDATA'], [6, 'PTRACE_POKEUSR'], [7, 'PTRACE_CONT'], [8, 'PTRACE_KILL'],
  [9, 'PTRACE_SINGLESTEP'], [12, 'PTRACE_GETREGS'], [13, 'PTRACE_SETREGS'], [14, 'PTRACE_GETFPREGS'],
  [15, 'PTRACE_SETFPREGS'], [16, 'PTRACE_ATTACH'], [17, 'PTRACE_DETACH'], [18, 'PTRACE_GETFPXREGS'],
  [19, 'PTRACE_SETFPXREGS'], [24, 'PTRACE_SYSCALL'], [25, 'PTRACE_GET_THREAD_AREA'], [26, 'PTRACE_SET_THREAD_AREA'],
  [30, 'PTRACE_ARCH_PRCTL'], [31, 'PTRACE_SYSEMU'], [32, 'PTRACE_SYSEMU_SINGLESTEP'], [33, 'PTRACE_SINGLEBLOCK'],
  [0x4200, 'PTRACE_SETOPTIONS'], [0x4201, 'PTRACE_GETEVENTMSG'], [0x4202, 'PTRACE_GETSIGINFO'],
  [0x4203, 'PTRACE_SETSIGINFO'], [0x4204, 'PTRACE_GETREGSET'], [0x4205, 'PTRACE_SETREGSET'], [0x4206, 'PTRACE_SEIZE'],
  [0x4207, 'PTRACE_INTERRUPT'], [0x4208, 'PTRACE_LISTEN'], [0x4209, 'PTRACE_PEEKSIGINFO'],
  [0x420a, 'PTRACE_GETSIGMASK'], [0x420b, 'PTRACE_SETSIGMASK'], [0x420c, 'PTRACE_SECCOMP_GET_FILTER'],
  [0x420d, 'PTRACE_SECCOMP_GET_METADATA'], [0x420e, 'PTRACE_GET_SYSCALL_INFO'],
  [0x420f, 'PTRACE_GET_RSEQ_CONFIGURATION'], [0x4210, 'PTRACE_SET_SYSCALL_USER_DISPATCH_CONFIG'],
  [0x4211, 'PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG'],
]);

/** "PTRACE_ATTACH" for 16; the number as text when unnamed. */
export function ptraceRequestName(req: number): string {
  return PTRACE_REQUESTS.get(req) ?? String(req);
}

const FAMILIES = [
  'AF_UNSPEC', 'AF_UNIX', 'AF_INET', 'AF_AX25', 'AF_IPX', 'AF_APPLETALK', 'AF_NETROM', 'AF_BRIDGE', 'AF_ATMPVC',
  'AF_X25', 'AF_INET6', 'AF_ROSE', 'AF_DECnet', 'AF_NETBEUI', 'AF_SECURITY', 'AF_KEY', 'AF_NETLINK', 'AF_PACKET',
  'AF_ASH', 'AF_ECONET', 'AF_ATMSVC', 'AF_RDS', 'AF_SNA', 'AF_IRDA', 'AF_PPPOX', 'AF_WANPIPE', 'AF_LLC', 'AF_IB',
  'AF_MPLS', 'AF_CAN', 'AF_TIPC', 'AF_BLUETOOTH', 'AF_IUCV', 'AF_RXRPC', 'AF_ISDN', 'AF_PHONET', 'AF_IEEE802154',
  'AF_CAIF', 'AF_ALG', 'AF_NFC', 'AF_VSOCK', 'AF_KCM', 'AF_QIPCRTR', 'AF_SMC', 'AF_XDP', 'AF_MCTP',
];

/** "AF_PACKET" for 17. */
export function socketFamilyName(family: number): string {
  return FAMILIES[family] ?? String(family);
}

type FlagTable = readonly (readonly [string, number])[];

function flagNames(value: number, table: FlagTable): string[] {
  const out: string[] = [];
  let rest = value >>> 0;
  for (const [name, bit] of table) {
    if (bit && (value & bit) === bit) {
      out.push(name);
      rest &= ~bit >>> 0;
    }
  }
  if (rest) out.push(`0x${rest.toString(16)}`);
  return out;
}

const MFD_FLAGS: FlagTable = [
  ['MFD_CLOEXEC', 1], ['MFD_ALLOW_SEALING', 2], ['MFD_HUGETLB', 4], ['MFD_NOEXEC_SEAL', 8], ['MFD_EXEC', 0x10],
];
const FINIT_MODULE_FLAGS: FlagTable = [
  ['MODULE_INIT_IGNORE_MODVERSIONS', 1], ['MODULE_INIT_IGNORE_VERMAGIC', 2], ['MODULE_INIT_COMPRESSED_FILE', 4],
];
const CLONE_NS_FLAGS: FlagTable = [
  ['CLONE_FILES', 0x400], ['CLONE_FS', 0x200], ['CLONE_NEWCGROUP', 0x02000000], ['CLONE_NEWUTS', 0x04000000],
  ['CLONE_NEWIPC', 0x08000000], ['CLONE_NEWUSER', 0x10000000], ['CLONE_NEWPID', 0x20000000],
  ['CLONE_NEWNET', 0x40000000], ['CLONE_NEWNS', 0x00020000], ['CLONE_NEWTIME', 0x80], ['CLONE_SYSVSEM', 0x40000],
];
const DUP3_FLAGS: FlagTable = [['O_CLOEXEC', 0o2000000]];
const UFFD_FLAGS: FlagTable = [['O_CLOEXEC', 0o2000000], ['O_NONBLOCK', 0o4000], ['UFFD_USER_MODE_ONLY', 1]];

export const memfdFlagNames = (v: number): string[] => flagNames(v, MFD_FLAGS);
export const finitModuleFlagNames = (v: number): string[] => flagNames(v, FINIT_MODULE_FLAGS);
export const cloneNsFlagNames = (v: number): string[] => flagNames(v, CLONE_NS_FLAGS);
export const dup3FlagNames = (v: number): string[] => flagNames(v, DUP3_FLAGS);
export const userfaultfdFlagNames = (v: number): string[] => flagNames(v, UFFD_FLAGS);

const BPF_CMDS = [
  'BPF_MAP_CREATE', 'BPF_MAP_LOOKUP_ELEM', 'BPF_MAP_UPDATE_ELEM', 'BPF_MAP_DELETE_ELEM', 'BPF_MAP_GET_NEXT_KEY',
  'BPF_PROG_LOAD', 'BPF_OBJ_PIN', 'BPF_OBJ_GET', 'BPF_PROG_ATTACH', 'BPF_PROG_DETACH', 'BPF_PROG_TEST_RUN',
  'BPF_PROG_GET_NEXT_ID', 'BPF_MAP_GET_NEXT_ID', 'BPF_PROG_GET_FD_BY_ID', 'BPF_MAP_GET_FD_BY_ID',
  'BPF_OBJ_GET_INFO_BY_FD', 'BPF_PROG_QUERY', 'BPF_RAW_TRACEPOINT_OPEN', 'BPF_BTF_LOAD', 'BPF_BTF_GET_FD_BY_ID',
  'BPF_TASK_FD_QUERY', 'BPF_MAP_LOOKUP_AND_DELETE_ELEM', 'BPF_MAP_FREEZE', 'BPF_BTF_GET_NEXT_ID',
  'BPF_MAP_LOOKUP_BATCH', 'BPF_MAP_LOOKUP_AND_DELETE_BATCH', 'BPF_MAP_UPDATE_BATCH', 'BPF_MAP_DELETE_BATCH',
  'BPF_LINK_CREATE', 'BPF_LINK_UPDATE', 'BPF_LINK_GET_FD_BY_ID', 'BPF_LINK_GET_NEXT_ID', 'BPF_ENABLE_STATS',
  'BPF_ITER_CREATE', 'BPF_LINK_DETACH', 'BPF_PROG_BIND_MAP', 'BPF_TOKEN_CREATE',
];

export function bpfCmdName(cmd: number): string {
  return BPF_CMDS[cmd] ?? String(cmd);
}

/** Falco's execve exe_flags (PPM_EXE_*): what Vigil knows of the executable. */
export function exeFlagNames(f: { writable?: boolean; upperLayer?: boolean; fromMemfd?: boolean; lowerLayer?: boolean }): string[] {
  const out: string[] = [];
  if (f.writable) out.push('EXE_WRITABLE');
  if (f.upperLayer) out.push('EXE_UPPER_LAYER');
  if (f.fromMemfd) out.push('EXE_FROM_MEMFD');
  if (f.lowerLayer) out.push('EXE_LOWER_LAYER');
  return out;
}

/**
 * A controlling terminal's name ("pts/3", "tty1", "ttyS0", "console") as the
 * number Falco's proc.tty holds: the tty's dev_t in the kernel's user-visible
 * encoding (new_encode_dev): pts/0 is 34816. undefined when the name is not
 * one of the usual devices.
 */
export function ttyNumber(name: string): number | undefined {
  const enc = (major: number, minor: number) => (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
  let m = /^pts\/(\d+)$/.exec(name);
  if (m) {
    const n = Number(m[1]);
    return enc(136 + (n >> 20), n & 0xfffff);
  }
  if ((m = /^tty(\d+)$/.exec(name))) return enc(4, Number(m[1]));
  if ((m = /^ttyS(\d+)$/.exec(name))) return enc(4, 64 + Number(m[1]));
  if ((m = /^tty\((\d+):(\d+)\)$/.exec(name))) return enc(Number(m[1]), Number(m[2]));
  if (name === 'tty') return enc(5, 0);
  if (name === 'console') return enc(5, 1);
  if (name === 'ptmx') return enc(5, 2);
  return undefined;
}
