// From a CompiledPolicy to what the kernel engine (bpf/policy.bpf.c) is
// programmed with: per hook, its selectors and filters with their values, and
// per attachment a `struct vigil_policy_hook` (how to read each argument, the
// attachment's own conditions) plus what to attach. Pure: no kernel is asked,
// so every refusal (an operator on a type the kernel cannot compare, a value
// too long, Override where nothing can enforce it) is found and named here,
// before anything is loaded.
import type {
  Action, ArgFilter, ArgLocation, ArgSource, ArgSpec, ArgType, AttachCondition, Attachment, CompiledPolicy, Hook,
  NamespaceKind, ResolvedPath, Selector, TracepointRef,
} from './ir.js';
import { NAMESPACE_KINDS } from './ir.js';
import type { VigilPolicyAction, VigilPolicyArg, VigilPolicyCond, VigilPolicyFilter, VigilPolicyResolve } from '../generated/policy.js';
import {
  VIGIL_POLICY_ACT_DENY, VIGIL_POLICY_ACT_NOPOST, VIGIL_POLICY_ACT_NOTIFY_ENFORCER, VIGIL_POLICY_ACT_POST,
  VIGIL_POLICY_ACT_SIGKILL, VIGIL_POLICY_ACT_SIGNAL, VIGIL_POLICY_ARG_CHAR_ARRAY, VIGIL_POLICY_ARG_CHAR_BUF,
  VIGIL_POLICY_ARG_CRED, VIGIL_POLICY_ARG_CURRENT_EXE, VIGIL_POLICY_ARG_CURRENT_CWD, VIGIL_POLICY_ARG_USER_CAPS, VIGIL_POLICY_ARG_DATA_LOC, VIGIL_POLICY_ARG_DEREF_USER,
  VIGIL_POLICY_ARG_FD, VIGIL_POLICY_ARG_KSTRING, VIGIL_POLICY_ARG_NONE, VIGIL_POLICY_ARG_PATH_AT,
  VIGIL_POLICY_ARG_S64, VIGIL_POLICY_ARG_SIGNED, VIGIL_POLICY_ARG_SOCKADDR, VIGIL_POLICY_ARG_STRING,
  VIGIL_POLICY_ARG_U64, VIGIL_POLICY_ARG_USER_STRUCT, VIGIL_POLICY_ARG_MAX, VIGIL_POLICY_CAP_EFFECTIVE,
  VIGIL_POLICY_CAP_INHERITABLE, VIGIL_POLICY_CAP_PERMITTED, VIGIL_POLICY_COND_EQ, VIGIL_POLICY_COND_FD_OP, VIGIL_POLICY_COND_FD_SOCKET, VIGIL_POLICY_FD_OP_UNLOCKED_IOCTL, VIGIL_POLICY_FD_OP_WRITE_ITER,
  VIGIL_POLICY_COND_GE, VIGIL_POLICY_COND_LT, VIGIL_POLICY_COND_MASK, VIGIL_POLICY_COND_NE, VIGIL_POLICY_COND_VALUE,
  VIGIL_POLICY_DENY_CONNECT, VIGIL_POLICY_DENY_SENDMSG, VIGIL_POLICY_FOLLOW, VIGIL_POLICY_F_ARG,
  VIGIL_POLICY_F_BINARY, VIGIL_POLICY_F_CAP, VIGIL_POLICY_F_CAP_CHANGE, VIGIL_POLICY_F_NS,
  VIGIL_POLICY_F_NS_CHANGE, VIGIL_POLICY_F_PID, VIGIL_POLICY_HOOK_AT_EXIT, VIGIL_POLICY_KERNEL_STACK,
  VIGIL_POLICY_LOC_CONST, VIGIL_POLICY_LOC_TASK, VIGIL_POLICY_RESOLVE_STEPS, VIGIL_POLICY_LOC_NONE, VIGIL_POLICY_LOC_RECORD, VIGIL_POLICY_LOC_REG,
  VIGIL_POLICY_LOC_RET, VIGIL_POLICY_MAX_ACTIONS, VIGIL_POLICY_MAX_ARGS, VIGIL_POLICY_MAX_CONDS,
  VIGIL_POLICY_MAX_RANGES, VIGIL_POLICY_NEG, VIGIL_POLICY_NSCAP, VIGIL_POLICY_NSPID, VIGIL_POLICY_OP_DADDR,
  VIGIL_POLICY_OP_DPORT, VIGIL_POLICY_OP_EQUAL, VIGIL_POLICY_OP_FAMILY, VIGIL_POLICY_OP_GT, VIGIL_POLICY_OP_IN_MAP,
  VIGIL_POLICY_OP_LT, VIGIL_POLICY_OP_MASK, VIGIL_POLICY_OP_POSTFIX, VIGIL_POLICY_OP_PREFIX,
  VIGIL_POLICY_OP_PROTOCOL, VIGIL_POLICY_OP_SADDR, VIGIL_POLICY_OP_SPORT, VIGIL_POLICY_OP_STATE,
  VIGIL_POLICY_SCOPE_GLOBAL, VIGIL_POLICY_SCOPE_PROCESS, VIGIL_POLICY_SCOPE_THREAD, VIGIL_POLICY_SELECTOR_FILTERS,
  VIGIL_POLICY_HOOK_SELECTORS, VIGIL_POLICY_SRC_REGS, VIGIL_POLICY_SRC_SOCK_ADDR, VIGIL_POLICY_SRC_TRACEPOINT,
  VIGIL_POLICY_STR_MAX, VIGIL_POLICY_USER_STACK, VIGIL_POLICY_ARG_ERR_ONLY, VIGIL_POLICY_SRC_RAW_TP,
  VIGIL_POLICY_ARG_KFILE, VIGIL_POLICY_ARG_KBINPRM, VIGIL_POLICY_ARG_KSOCK, VIGIL_POLICY_ARG_KSOCKET,
  VIGIL_POLICY_ARG_KCRED, VIGIL_POLICY_ARG_KUSER_NS, VIGIL_POLICY_ARG_KSKB, VIGIL_POLICY_HOOK_RET_AT_ENTRY,
  VIGIL_POLICY_HOOK_RET_ERR, VIGIL_POLICY_ACT_OVERRIDE, VIGIL_POLICY_SRC_TRACING, VIGIL_POLICY_ARG_KPATH,
  VIGIL_POLICY_ARG_KFILENAME, VIGIL_POLICY_ARG_KKIOCB, VIGIL_POLICY_ARG_KBPF_ATTR, VIGIL_POLICY_ARG_KBPF_MAP,
  VIGIL_POLICY_ARG_KBPF_PROG, VIGIL_POLICY_HOOK_EXIT_ONLY, VIGIL_POLICY_HOOK_PROC_FILTERS, VIGIL_POLICY_HOOK_CREDS_AT_ENTRY,
  VIGIL_POLICY_PF_KIND_LEAF, VIGIL_POLICY_PF_KIND_TOP, VIGIL_POLICY_PF_LEAF, VIGIL_POLICY_PF_NAME_MAX,
  VIGIL_POLICY_PF_TOP,
} from '../generated/policy.js';
import { NotSupportedError } from '../bpf/errors.js';
import { compileCel, type CelProgram } from './cel.js';

/** A policy the engine cannot program, with the place and the reason. */
export class PolicyPlanError extends Error {
  override readonly name = 'PolicyPlanError';
}

/** The values of one filter, by the kind of map that holds them. */
export interface FilterValueSet {
  /** values_int: integers (u64 keys, two's complement). */
  int?: bigint[];
  /** values_str: strings for Equal (at most VIGIL_POLICY_STR_MAX - 1 bytes). */
  str?: Uint8Array[];
  /** values_prefix: prefixes; for Postfix the strings reversed. */
  prefix?: Uint8Array[];
  cidr4?: { addr: Uint8Array; prefixlen: number }[];
  cidr6?: { addr: Uint8Array; prefixlen: number }[];
  /** values_ports: inclusive port ranges (a bitmap of 65536 ports). */
  ports?: { lo: number; hi: number }[];
  /** values_range: inclusive integer ranges (InMap "a:b", InRange). */
  ranges?: { lo: bigint; hi: bigint }[];
}

export interface PlannedFilter {
  /** The kernel filter without its id (the engine allocates it). */
  readonly kernel: Omit<VigilPolicyFilter, 'id'>;
  readonly values: FilterValueSet;
  /** For messages. */
  readonly what: string;
}

/** Actions user space performs when the selector's event arrives (Tetragon runs these in its agent too). */
export type UserAction = { readonly kind: 'GetUrl'; readonly url: string } | { readonly kind: 'DnsLookup'; readonly fqdn: string };

export interface PlannedSelector {
  readonly index: number;
  readonly filters: readonly PlannedFilter[];
  readonly actions: readonly VigilPolicyAction[];
  readonly userActions: readonly UserAction[];
  /** A Deny action: enforced by the cgroup sock_addr programs. */
  readonly deny: boolean;
  /** matchCEL, evaluated by the agent over the values of the events posted for this selector. */
  readonly cel?: CelProgram;
}

/** What a kernel hook slot holds (policy, first_selector, nselectors are set by the engine). */
export interface PlannedKernelHook {
  readonly flags: number;
  readonly source: number;
  readonly args: readonly VigilPolicyArg[];
  readonly conds: readonly VigilPolicyCond[];
  /** VIGIL_POLICY_HOOK_RET_AT_ENTRY: where the return value is in the record. */
  readonly ret?: VigilPolicyArg;
  /** By argument slot: the resolve path the kernel follows from the slot's word (arg_resolve). */
  readonly resolve?: readonly (VigilPolicyResolve | undefined)[];
  /** The file components that may match, checked before the path is walked (planPrefilter). */
  readonly prefilter?: PlannedPrefilter;
}

/**
 * A hook's prefilter (vigil/policy.h, enum vigil_policy_prefilter_flag): the
 * argument slot of a file, the names its last component may have (leaves),
 * and the beginnings its path may have up to the second '/' (tops: "/etc/",
 * or a value without a second '/' whole: "/et"). An event passes when its
 * file's name is a leaf or its first component matches a top; nothing else
 * can match any selector.
 */
export interface PlannedPrefilter {
  readonly slot: number;
  readonly leaves: readonly Uint8Array[];
  readonly tops: readonly Uint8Array[];
}

export type PlannedAttach =
  /** enter is undefined for a hook judged at the exit with nothing read at the entry (EXIT_ONLY). */
  | { readonly kind: 'tracepoint'; readonly enter?: TracepointRef; readonly exit?: TracepointRef }
  | { readonly kind: 'raw_tracepoint'; readonly event: string }
  | { readonly kind: 'uprobe'; readonly binary: string; readonly symbol: string; readonly offset?: number;
    readonly withReturn: boolean }
  /** kprobe (+ kretprobe when judged at the return); override: the error-injection variant (Override). */
  | { readonly kind: 'kprobe'; readonly function: string; readonly withReturn: boolean; readonly override: boolean }
  /** fentry, or fexit when the return value is needed (judged there, arguments and return at once). */
  | { readonly kind: 'fentry' | 'fexit'; readonly function: string }
  /** BPF-LSM: Override's error is the program's return value. */
  | { readonly kind: 'lsm'; readonly hook: string }
  | { readonly kind: 'deny'; readonly kinds: number; readonly programs: readonly SockAddrProgram[] };

export type SockAddrProgram = 'connect4' | 'connect6' | 'sendmsg4' | 'sendmsg6';

export interface PlannedAttachment {
  readonly attachment: Attachment;
  readonly attach: PlannedAttach;
  readonly kernel: PlannedKernelHook;
  /** The slot of hook.returnArg when the kernel captures it as an argument (an fd returned: its path). */
  readonly returnSlot?: number;
}

export interface PlannedHook {
  readonly hook: Hook;
  readonly selectors: readonly PlannedSelector[];
  readonly attachments: readonly PlannedAttachment[];
  /** Some filter needs the process table (binaries, follow*, namespace or capability changes). */
  readonly needsProcs: boolean;
}

export interface PolicyPlan {
  readonly policy: CompiledPolicy;
  readonly hooks: readonly PlannedHook[];
  readonly needsProcs: boolean;
  readonly needsDeny: boolean;
  readonly needsUprobes: boolean;
  /** kprobe attachments (the kprobe part of the object), and those with Override (its variant). */
  readonly needsKprobes: boolean;
  readonly needsKprobeOverride: boolean;
  /** Syscalls served by raw_syscalls (the raw tracepoint programs of the object). */
  readonly needsRawSyscalls: boolean;
  /** Raw tracepoint attachments (each is one more load of the object: no cookies for them in libbpf 1.1). */
  readonly rawTracepoints: number;
}

/** What the plan needs to know of the running system (host namespaces: pid 1's). */
export interface PlanContext {
  /** The inode of pid 1's namespace of a kind (host_ns, isNamespaceCapability). */
  hostNamespace(kind: NamespaceKind): bigint;
}

// ---------------------------------------------------------------------------

const SIGNED_INTS: ReadonlySet<ArgType> = new Set<ArgType>(['int', 'int8', 'int16', 'int32', 'int64', 'long', 'syscall64']);
const INTS: ReadonlySet<ArgType> = new Set<ArgType>([
  'int', 'uint', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'size_t', 'long', 'ulong',
  'syscall64', 'capability', 'bpf_cmd',
]);
const FILE_LIKE: ReadonlySet<ArgType> = new Set<ArgType>(['fd', 'file', 'path', 'dentry', 'linux_binprm', 'kiocb', 'filename']);
const SOCK_LIKE: ReadonlySet<ArgType> = new Set<ArgType>(['sock', 'socket', 'sockaddr', 'skb']);

function intSize(t: ArgType): number {
  switch (t) {
    case 'int8': case 'uint8': return 1;
    case 'int16': case 'uint16': return 2;
    case 'int': case 'uint': case 'int32': case 'uint32': case 'capability': case 'bpf_cmd': return 4;
    default: return 8;
  }
}

/**
 * Syscalls whose path argument is relative to a directory fd: path argument
 * index -> dirfd argument index. Paths of the other syscalls are relative to
 * the cwd.
 */
const DIRFD_OF: Readonly<Record<string, Readonly<Record<number, number>>>> = {
  openat: { 1: 0 }, openat2: { 1: 0 }, mkdirat: { 1: 0 }, mknodat: { 1: 0 }, unlinkat: { 1: 0 },
  fchmodat: { 1: 0 }, fchmodat2: { 1: 0 }, fchownat: { 1: 0 }, futimesat: { 1: 0 }, utimensat: { 1: 0 },
  newfstatat: { 1: 0 }, fstatat64: { 1: 0 }, statx: { 1: 0 }, faccessat: { 1: 0 }, faccessat2: { 1: 0 },
  readlinkat: { 1: 0 }, execveat: { 1: 0 }, name_to_handle_at: { 1: 0 }, open_tree: { 1: 0 },
  renameat: { 1: 0, 3: 2 }, renameat2: { 1: 0, 3: 2 }, linkat: { 1: 0, 3: 2 }, symlinkat: { 2: 1 },
  fsconfig: {}, mount_setattr: { 1: 0 }, move_mount: { 1: 0, 3: 2 }, fspick: { 1: 0 },
  setxattrat: { 1: 0 }, getxattrat: { 1: 0 }, listxattrat: { 1: 0 }, removexattrat: { 1: 0 },
  file_getattr: { 1: 0 }, file_setattr: { 1: 0 },
};

/** The user-struct captures: bytes of the UAPI struct, and an offset of a string pointer in it. */
const USER_STRUCTS: Partial<Record<ArgType, { size: number; strAt: number }>> = {
  bpf_attr: { size: 72, strAt: 0 },
  bpf_map: { size: 72, strAt: 0 },
  bpf_prog: { size: 72, strAt: 0 },
  perf_event: { size: 72, strAt: 56 },
};

const SYSCALL_RECORD_ARGS = 16;

/** Struct pointers the kernel side reads (bpf/policy.bpf.c capture_k*). */
const KERNEL_POINTER_TYPES: Partial<Record<ArgType, number>> = {
  file: VIGIL_POLICY_ARG_KFILE, linux_binprm: VIGIL_POLICY_ARG_KBINPRM, sock: VIGIL_POLICY_ARG_KSOCK,
  socket: VIGIL_POLICY_ARG_KSOCKET, cred: VIGIL_POLICY_ARG_KCRED, user_namespace: VIGIL_POLICY_ARG_KUSER_NS,
  skb: VIGIL_POLICY_ARG_KSKB, path: VIGIL_POLICY_ARG_KPATH, filename: VIGIL_POLICY_ARG_KFILENAME,
  kiocb: VIGIL_POLICY_ARG_KKIOCB, bpf_attr: VIGIL_POLICY_ARG_KBPF_ATTR, bpf_map: VIGIL_POLICY_ARG_KBPF_MAP,
  bpf_prog: VIGIL_POLICY_ARG_KBPF_PROG,
};

/** Kernel structs a native hook may be given that Vigil's engine does not read (yet): refused by name. */
const UNREAD_KERNEL_TYPES: ReadonlySet<ArgType> = new Set<ArgType>(['dentry', 'net_device', 'load_info', 'module',
  'perf_event', 'kernel_cap_t', 'cap_effective', 'cap_permitted', 'cap_inheritable',
  'iov_iter', 'char_iovec']);

/** Attachments whose argument words are kernel values (pointers to kernel structs and strings). */
function kernelSide(a: Attachment): boolean {
  return a.kind === 'kprobe' || a.kind === 'fentry' || a.kind === 'lsm' || a.kind === 'raw_tracepoint';
}

function emptyArg(): VigilPolicyArg {
  return {
    type: VIGIL_POLICY_ARG_NONE, loc: VIGIL_POLICY_LOC_NONE, flags: 0, offset: 0, size: 0, size_loc: 0, size_size: 0,
    size_at: 0, dirfd_loc: 0, resolve: 0, dirfd_at: 0, max_data: 0, pad2: 0, value: 0n,
  };
}

interface Where {
  loc: number;
  offset: number;
  size: number;
  signed?: boolean;
  deref?: { offset: bigint; size: number };
  field?: { dataLoc: boolean; arrayLen?: number; pointer: boolean; cType: string; size: number };
  value?: bigint;
  /** syscall-err: min(ret, 0). */
  errOnly?: boolean;
  /** The attachment does not have the argument. */
  none?: string;
  /** A raw tracepoint argument: kernel pointers. */
  kernelPtr?: boolean;
}

/** Where a location is on an attachment of this source. */
function locate(loc: ArgLocation, source: number, what: string): Where {
  switch (loc.at) {
    case 'syscall-arg':
      return { loc: VIGIL_POLICY_LOC_RECORD, offset: SYSCALL_RECORD_ARGS + 8 * loc.index, size: 8 };
    case 'syscall-ret':
    case 'ret':
      return { loc: VIGIL_POLICY_LOC_RET, offset: 0, size: 8, signed: true };
    case 'syscall-err':
      return { loc: VIGIL_POLICY_LOC_RET, offset: 0, size: 8, signed: true, errOnly: true };
    case 'none':
      return { loc: VIGIL_POLICY_LOC_NONE, offset: 0, size: 0, none: loc.reason };
    case 'tp-field': {
      const f = loc.field;
      return {
        loc: VIGIL_POLICY_LOC_RECORD, offset: f.offset, size: f.size, signed: f.signed,
        field: { dataLoc: f.dataLoc, arrayLen: f.arrayLen, pointer: f.pointer, cType: f.cType, size: f.size },
      };
    }
    case 'reg':
      // A raw tracepoint's TP_PROTO arguments, and fentry/fexit/LSM arguments, are an array of 8-byte words.
      if (source === VIGIL_POLICY_SRC_RAW_TP || source === VIGIL_POLICY_SRC_TRACING) {
        return { loc: VIGIL_POLICY_LOC_RECORD, offset: 8 * loc.index, size: 8, kernelPtr: true };
      }
      if (source !== VIGIL_POLICY_SRC_REGS) throw new PolicyPlanError(`${what}: a register argument on a tracepoint`);
      return { loc: VIGIL_POLICY_LOC_REG, offset: loc.index, size: 8 };
    case 'current-cred':
    case 'current-exe':
    case 'current-cwd':
      return { loc: VIGIL_POLICY_LOC_NONE, offset: 0, size: 0 };
    case 'const':
      return { loc: VIGIL_POLICY_LOC_CONST, offset: 0, size: 8, value: loc.value };
    case 'current-task':
      return { loc: VIGIL_POLICY_LOC_TASK, offset: 0, size: 8 };
    case 'user-mem': {
      const base: Where = source === VIGIL_POLICY_SRC_REGS
        ? { loc: VIGIL_POLICY_LOC_REG, offset: loc.index, size: 8 }
        : { loc: VIGIL_POLICY_LOC_RECORD, offset: SYSCALL_RECORD_ARGS + 8 * loc.index, size: 8 };
      return { ...base, deref: { offset: BigInt(loc.offset), size: loc.size } };
    }
  }
}

/** Offsets of the sets in struct __user_cap_data_struct (effective, permitted, inheritable; u32 each). */
const USER_CAP_SETS: Readonly<Partial<Record<ArgType, number>>> = {
  cap_effective: 0, kernel_cap_t: 0, cap_permitted: 4, cap_inheritable: 8,
};

function userSpaceStrings(a: Attachment, w: Where): boolean {
  // Syscall records and uprobes carry user addresses; other tracepoints' pointers are the kernel's.
  if (a.kind === 'syscall' || a.kind === 'uprobe') return true;
  if (a.kind === 'tracepoint') return a.tp.category === 'syscalls' || a.tp.category === 'raw_syscalls' || !w.field;
  return false;
}

interface ArgContext {
  readonly attachment: Attachment;
  readonly source: number;
  readonly what: string;
  readonly syscall?: string;
}

/** The kernel's reading of one declared argument on one attachment. */
export function planArg(spec: ArgSpec, src: ArgSource | undefined, ctx: ArgContext): VigilPolicyArg {
  const out = emptyArg();
  if (!src || spec.type === 'nop') return out;
  const w = locate(src.loc, ctx.source, ctx.what);
  if (w.none !== undefined) return out;
  out.loc = w.loc;
  out.offset = w.offset;
  out.size = w.size;
  if (w.value !== undefined) out.value = w.value;
  if (w.errOnly) out.flags |= VIGIL_POLICY_ARG_ERR_ONLY;
  const t = spec.type;
  const signed = SIGNED_INTS.has(t);

  if (src.resolve) return planResolvedArg(spec, src.resolve, out, ctx);
  if (src.loc.at === 'current-cred') {
    out.type = VIGIL_POLICY_ARG_CRED;
    return out;
  }
  if (src.loc.at === 'current-exe') {
    out.type = VIGIL_POLICY_ARG_CURRENT_EXE;
    return out;
  }
  if (src.loc.at === 'current-cwd') {
    out.type = VIGIL_POLICY_ARG_CURRENT_CWD;
    return out;
  }
  if (w.deref) {
    out.flags |= VIGIL_POLICY_ARG_DEREF_USER;
    out.value = w.deref.offset;
    out.size = w.deref.size;
  }

  switch (src.conv) {
    case 'fd':
      out.type = VIGIL_POLICY_ARG_FD;
      out.size = w.deref ? out.size : 4;
      out.flags |= VIGIL_POLICY_ARG_SIGNED;
      return out;
    case 'user-sockaddr':
      out.type = VIGIL_POLICY_ARG_SOCKADDR;
      return out;
    case 'user-struct': {
      const us = USER_STRUCTS[t];
      if (!us) throw new PolicyPlanError(`${ctx.what}: no user struct layout for type ${t}`);
      out.type = VIGIL_POLICY_ARG_USER_STRUCT;
      out.size = us.size;
      out.value = BigInt(us.strAt);
      return out;
    }
    case 'user-caps': {
      const at = USER_CAP_SETS[t];
      if (at === undefined || !src.size) throw new PolicyPlanError(`${ctx.what}: type ${t} is not a capability set of capset(2)'s data`);
      const h = locate(src.size, ctx.source, ctx.what);
      out.type = VIGIL_POLICY_ARG_USER_CAPS;
      out.value = BigInt(at);
      out.size_loc = h.loc;
      out.size_at = h.offset;
      out.size_size = 8;
      return out;
    }
    case 'string':
    case 'none':
      break;
  }

  if (INTS.has(t) && src.conv === 'none') {
    out.type = signed ? VIGIL_POLICY_ARG_S64 : VIGIL_POLICY_ARG_U64;
    if (signed) out.flags |= VIGIL_POLICY_ARG_SIGNED;
    if (!w.field && !w.deref && w.loc !== VIGIL_POLICY_LOC_RET && w.loc !== VIGIL_POLICY_LOC_CONST) out.size = intSize(t);
    if (w.field && w.field.size > 8) out.size = 8;
    return out;
  }

  // Kernel pointers: tracepoint pointer fields, raw tracepoint and native hook (kprobe, fentry, LSM) arguments.
  const kernelPtr = w.kernelPtr === true ||
    (kernelSide(ctx.attachment) && (w.loc === VIGIL_POLICY_LOC_REG || w.loc === VIGIL_POLICY_LOC_RET));
  if (src.conv === 'none' && kernelSide(ctx.attachment) && UNREAD_KERNEL_TYPES.has(t)) {
    throw new PolicyPlanError(`${ctx.what}: type ${t} (a kernel struct) is not read by Vigil's engine on ` +
      `${ctx.attachment.kind} hooks; use type nop to skip it or a type the engine reads (file, path, sock, cred, ...)`);
  }
  if (src.conv === 'none' && (kernelPtr || w.field?.pointer)) {
    const k = KERNEL_POINTER_TYPES[t];
    if (k !== undefined) {
      out.type = k;
      out.size = 8;
      return out;
    }
  }

  const stringish = src.conv === 'string' || t === 'string' || t === 'filename' || t === 'data_loc' ||
    ((FILE_LIKE.has(t) || t === 'module' || t === 'net_device' || t === 'load_info') && src.conv === 'none');
  // An iov_iter standing for a syscall's buffer (tty_write's, from write(2)) is that buffer.
  if (t === 'char_buf' || t === 'const_buf' || t === 'char_iovec' || (t === 'iov_iter' && src.size !== undefined && !kernelSide(ctx.attachment))) {
    if (t === 'char_iovec') throw new PolicyPlanError(`${ctx.what}: char_iovec is not captured by this engine`);
    out.type = VIGIL_POLICY_ARG_CHAR_BUF;
    out.max_data = spec.maxData ? VIGIL_POLICY_ARG_MAX - 1 : Math.min(VIGIL_POLICY_ARG_MAX - 1, 1024);
    if (src.size) {
      const s = locate(src.size, ctx.source, ctx.what);
      out.size_loc = s.loc;
      out.size_at = s.offset;
      out.size_size = Math.min(8, s.size || 8);
    }
    return out;
  }
  if (stringish) {
    if (w.field?.dataLoc) {
      out.type = VIGIL_POLICY_ARG_DATA_LOC;
      return out;
    }
    if (w.field && !w.field.pointer && w.field.arrayLen !== undefined) {
      out.type = VIGIL_POLICY_ARG_CHAR_ARRAY;
      out.size = Math.min(w.field.size, VIGIL_POLICY_ARG_MAX - 1);
      return out;
    }
    const user = userSpaceStrings(ctx.attachment, w);
    // A path named by a syscall is made absolute in the kernel, against its
    // directory fd (the *at syscalls) or the cwd, as the file sensor does.
    if (user && FILE_LIKE.has(t) && t !== 'filename' && ctx.attachment.kind === 'syscall' &&
        src.loc.at === 'syscall-arg') {
      out.type = VIGIL_POLICY_ARG_PATH_AT;
      const dirfd = DIRFD_OF[ctx.attachment.syscall]?.[src.loc.index];
      if (dirfd !== undefined) {
        out.dirfd_loc = VIGIL_POLICY_LOC_RECORD;
        out.dirfd_at = SYSCALL_RECORD_ARGS + 8 * dirfd;
      }
      return out;
    }
    out.type = user ? VIGIL_POLICY_ARG_STRING : VIGIL_POLICY_ARG_KSTRING;
    return out;
  }
  if (t === 'sockaddr' && src.conv === 'none' && userSpaceStrings(ctx.attachment, w)) {
    out.type = VIGIL_POLICY_ARG_SOCKADDR;
    return out;
  }

  if (t === 'cred' || t === 'kernel_cap_t' || t === 'cap_effective' || t === 'cap_permitted' || t === 'cap_inheritable') {
    // Only the current task's credentials can be read where kernel pointers are not.
    out.type = VIGIL_POLICY_ARG_NONE;
    return out;
  }
  // Kernel structs given by pointer (kprobes): not readable from a tracepoint or uprobe.
  out.type = VIGIL_POLICY_ARG_NONE;
  return out;
}

/**
 * An argument read through its resolve path: the word is an address the
 * kernel follows (vg_resolve), and what it ends at is read as the declared
 * type: an integer's value, a string at the address (a char array, or the
 * char * loaded), a kernel struct at the address (an embedded one, or the
 * pointer loaded).
 */
function planResolvedArg(spec: ArgSpec, r: ResolvedPath, out: VigilPolicyArg, ctx: ArgContext): VigilPolicyArg {
  const t = spec.type;
  out.resolve = 1;
  out.size = 8;
  out.flags &= ~VIGIL_POLICY_ARG_DEREF_USER;
  if (INTS.has(t)) {
    const signed = SIGNED_INTS.has(t);
    out.type = signed ? VIGIL_POLICY_ARG_S64 : VIGIL_POLICY_ARG_U64;
    if (signed) out.flags |= VIGIL_POLICY_ARG_SIGNED;
    out.size = intSize(t);
    return out;
  }
  if (t === 'string' || t === 'filename' || t === 'data_loc') {
    out.type = r.user ? VIGIL_POLICY_ARG_STRING : VIGIL_POLICY_ARG_KSTRING;
    return out;
  }
  const k = KERNEL_POINTER_TYPES[t];
  if (k !== undefined && !r.user) {
    out.type = k;
    return out;
  }
  throw new PolicyPlanError(`${ctx.what}: resolve "${r.path}" ends at ${r.c}, which the engine does not read as ${t}` +
    `${r.user ? ' from user memory' : ''}: declare an integer type, string, or a kernel struct the engine reads (file, path, sock, cred, ...)`);
}

/** The kernel's program for a resolve path. */
export function planResolve(r: ResolvedPath, what: string): VigilPolicyResolve {
  if (r.steps.length > VIGIL_POLICY_RESOLVE_STEPS) {
    throw new PolicyPlanError(`${what}: resolve "${r.path}" takes ${r.steps.length} steps; the engine follows at most ${VIGIL_POLICY_RESOLVE_STEPS}`);
  }
  const steps = r.steps.map((x) => ({ offset: x.offset, deref: x.deref ? 1 : 0 }));
  while (steps.length < VIGIL_POLICY_RESOLVE_STEPS) steps.push({ offset: 0, deref: 0 });
  return {
    nsteps: r.steps.length, user: r.user ? 1 : 0, load: r.load?.size ?? 0, shift: r.load?.shift ?? 0,
    bits: r.load ? r.load.bits & 0xff : 0, is_signed: r.load?.signed ? 1 : 0, pad: new Uint8Array(7), steps,
  };
}

// ---------------------------------------------------------------------------
// Filters

function utf8(s: string, what: string): Uint8Array {
  const b = Buffer.from(s, 'utf8');
  if (b.length > VIGIL_POLICY_STR_MAX - 1) {
    throw new PolicyPlanError(`${what}: "${s.slice(0, 40)}..." is ${b.length} bytes; string values are limited to ` +
      `${VIGIL_POLICY_STR_MAX - 1} bytes`);
  }
  return new Uint8Array(b);
}

function reversed(b: Uint8Array): Uint8Array {
  return Uint8Array.from(b).reverse();
}

const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

function baseFilter(kind: number, op: number, arg: number, flags: number): Omit<VigilPolicyFilter, 'id'> {
  return { kind, op, arg, flags, value: 0n, value2: 0n };
}

/** The kernel type an argument is captured as (for the filter checks). */
function capturedKind(a: VigilPolicyArg): 'int' | 'string' | 'sock' | 'fd' | 'none' | 'other' {
  switch (a.type) {
    case VIGIL_POLICY_ARG_S64: case VIGIL_POLICY_ARG_U64: case VIGIL_POLICY_ARG_USER_CAPS: return 'int';
    case VIGIL_POLICY_ARG_STRING: case VIGIL_POLICY_ARG_KSTRING: case VIGIL_POLICY_ARG_DATA_LOC:
    case VIGIL_POLICY_ARG_CHAR_ARRAY: case VIGIL_POLICY_ARG_CHAR_BUF: case VIGIL_POLICY_ARG_PATH_AT:
    case VIGIL_POLICY_ARG_CURRENT_EXE: case VIGIL_POLICY_ARG_CURRENT_CWD:
      return 'string';
    case VIGIL_POLICY_ARG_SOCKADDR: case VIGIL_POLICY_ARG_KSOCK: case VIGIL_POLICY_ARG_KSOCKET:
    case VIGIL_POLICY_ARG_KSKB:
      return 'sock';
    case VIGIL_POLICY_ARG_KFILE: case VIGIL_POLICY_ARG_KBINPRM: case VIGIL_POLICY_ARG_KPATH:
    case VIGIL_POLICY_ARG_KKIOCB: case VIGIL_POLICY_ARG_KFILENAME:
      return 'string';
    case VIGIL_POLICY_ARG_FD: return 'fd';
    case VIGIL_POLICY_ARG_NONE: return 'none';
    default: return 'other';
  }
}

function planArgFilter(f: ArgFilter, slot: number, captured: readonly (VigilPolicyArg | undefined)[], what: string): PlannedFilter {
  const neg = f.negated ? VIGIL_POLICY_NEG : 0;
  const arg = captured[slot];
  const kind = slot === 6 ? 'int' : arg ? capturedKind(arg) : 'none';
  const k = (op: number): Omit<VigilPolicyFilter, 'id'> => baseFilter(VIGIL_POLICY_F_ARG, op, slot, neg);
  const v = f.values;
  const need = (ok: boolean, expected: string): void => {
    if (!ok) {
      throw new PolicyPlanError(`${what}: operator ${f.operator} needs ${expected}, but the argument is ` +
        `captured as ${kind === 'none' ? 'nothing on this hook' : kind}`);
    }
  };
  switch (f.operator) {
    case 'Equal': case 'NotEqual':
      if (v.kind === 'string') {
        need(kind === 'string' || kind === 'fd' || kind === 'sock', 'a string or path argument');
        return { kernel: k(VIGIL_POLICY_OP_EQUAL), values: { str: v.values.map((s) => utf8(s, what)) }, what };
      }
      if (v.kind === 'int') {
        need(kind === 'int' || kind === 'fd', 'an integer argument');
        return { kernel: k(VIGIL_POLICY_OP_EQUAL), values: { int: v.values.map(u64) }, what };
      }
      break;
    case 'Prefix': case 'NotPrefix':
    case 'Postfix': case 'NotPostfix': {
      need(kind === 'string' || kind === 'fd' || kind === 'sock', 'a string or path argument');
      if (v.kind !== 'string') break;
      const post = f.operator.endsWith('Postfix');
      const bytes = v.values.map((s) => utf8(s, what));
      return {
        kernel: k(post ? VIGIL_POLICY_OP_POSTFIX : VIGIL_POLICY_OP_PREFIX),
        values: { prefix: post ? bytes.map(reversed) : bytes }, what,
      };
    }
    case 'GreaterThan': case 'LessThan': {
      need(kind === 'int' || kind === 'fd', 'an integer argument');
      if (v.kind !== 'int' || v.values.length === 0) break;
      // Values ORed: greater than any = greater than the least.
      const signed = slot === 6 || ((arg?.flags ?? 0) & VIGIL_POLICY_ARG_SIGNED) !== 0;
      const norm = v.values.map((x) => (signed ? BigInt.asIntN(64, x) : BigInt.asUintN(64, x)));
      const pick = f.operator === 'GreaterThan' ? norm.reduce((a, b) => (b < a ? b : a)) : norm.reduce((a, b) => (b > a ? b : a));
      const kf = k(f.operator === 'GreaterThan' ? VIGIL_POLICY_OP_GT : VIGIL_POLICY_OP_LT);
      kf.value = u64(pick);
      return { kernel: kf, values: {}, what };
    }
    case 'Mask': {
      need(kind === 'int' || kind === 'fd', 'an integer argument');
      if (v.kind !== 'int') break;
      const kf = k(VIGIL_POLICY_OP_MASK);
      kf.value = v.values.reduce((a, b) => a | u64(b), 0n);
      return { kernel: kf, values: {}, what };
    }
    case 'InMap': case 'NotInMap': case 'InRange': case 'NotInRange': {
      need(kind === 'int' || kind === 'fd', 'an integer argument');
      const kf = k(VIGIL_POLICY_OP_IN_MAP);
      if (v.kind === 'int') return { kernel: kf, values: { int: v.values.map(u64) }, what };
      if (v.kind === 'range') {
        if (v.values.length > VIGIL_POLICY_MAX_RANGES) {
          throw new PolicyPlanError(`${what}: ${v.values.length} ranges; at most ${VIGIL_POLICY_MAX_RANGES}`);
        }
        kf.value2 = BigInt(v.values.length);
        return { kernel: kf, values: { ranges: v.values.map((r) => ({ lo: r.lo, hi: r.hi })) }, what };
      }
      break;
    }
    case 'SAddr': case 'NotSAddr': case 'DAddr': case 'NotDAddr': {
      need(kind === 'sock' || kind === 'fd', 'a socket or sockaddr argument');
      if (v.kind !== 'cidr') break;
      const values: FilterValueSet = {
        cidr4: v.values.filter((c) => c.family === 4).map((c) => ({ addr: c.addr, prefixlen: c.prefixlen })),
        cidr6: v.values.filter((c) => c.family === 6).map((c) => ({ addr: c.addr, prefixlen: c.prefixlen })),
      };
      return { kernel: k(f.operator.endsWith('SAddr') ? VIGIL_POLICY_OP_SADDR : VIGIL_POLICY_OP_DADDR), values, what };
    }
    case 'SPort': case 'NotSPort': case 'DPort': case 'NotDPort':
    case 'SPortPriv': case 'NotSPortPriv': case 'DPortPriv': case 'NotDPortPriv': {
      need(kind === 'sock' || kind === 'fd', 'a socket or sockaddr argument');
      const ports = f.operator.endsWith('Priv') ? [{ lo: 0, hi: 1023 }]
        : v.kind === 'range' ? v.values.map((r) => ({ lo: Number(r.lo), hi: Number(r.hi) }))
          : v.kind === 'int' ? v.values.map((p) => ({ lo: Number(p), hi: Number(p) })) : undefined;
      if (!ports) break;
      for (const p of ports) {
        if (p.lo < 0 || p.hi > 65535 || p.lo > p.hi) throw new PolicyPlanError(`${what}: bad port range ${p.lo}:${p.hi}`);
      }
      const src = f.operator.includes('SPort');
      return { kernel: k(src ? VIGIL_POLICY_OP_SPORT : VIGIL_POLICY_OP_DPORT), values: { ports }, what };
    }
    case 'Protocol': case 'Family': case 'State': {
      need(kind === 'sock' || kind === 'fd', 'a socket or sockaddr argument');
      if (v.kind !== 'int') break;
      const op = f.operator === 'Protocol' ? VIGIL_POLICY_OP_PROTOCOL : f.operator === 'Family' ? VIGIL_POLICY_OP_FAMILY
        : VIGIL_POLICY_OP_STATE;
      return { kernel: k(op), values: { int: v.values.map(u64) }, what };
    }
    case 'CapabilitiesGained':
      throw new PolicyPlanError(`${what}: CapabilitiesGained needs the kernel's cred arguments (kprobes), ` +
        'which this engine does not read');
  }
  throw new PolicyPlanError(`${what}: operator ${f.operator} does not take ${v.kind} values`);
}

const NS_INDEX: Readonly<Record<NamespaceKind, number>> = Object.fromEntries(
  NAMESPACE_KINDS.map((k, i) => [k, i])) as Record<NamespaceKind, number>;

const CAP_SET = { Effective: VIGIL_POLICY_CAP_EFFECTIVE, Permitted: VIGIL_POLICY_CAP_PERMITTED,
  Inheritable: VIGIL_POLICY_CAP_INHERITABLE } as const;

function planProcessFilters(sel: Selector, ctx: PlanContext, what: string): PlannedFilter[] {
  const out: PlannedFilter[] = [];
  for (const b of sel.matchBinaries) {
    const neg = b.operator.startsWith('Not') ? VIGIL_POLICY_NEG : 0;
    const flags = neg | (b.followChildren ? VIGIL_POLICY_FOLLOW : 0);
    const bytes = b.values.map((s) => utf8(s, `${what} matchBinaries`));
    const base = b.operator.replace(/^Not/, '');
    if (base === 'In') {
      out.push({ kernel: baseFilter(VIGIL_POLICY_F_BINARY, VIGIL_POLICY_OP_EQUAL, 0, flags), values: { str: bytes }, what: `${what} matchBinaries` });
    } else {
      const post = base === 'Postfix';
      out.push({
        kernel: baseFilter(VIGIL_POLICY_F_BINARY, post ? VIGIL_POLICY_OP_POSTFIX : VIGIL_POLICY_OP_PREFIX, 0, flags),
        values: { prefix: post ? bytes.map(reversed) : bytes }, what: `${what} matchBinaries`,
      });
    }
  }
  for (const p of sel.matchPIDs) {
    const flags = (p.operator === 'NotIn' ? VIGIL_POLICY_NEG : 0) | (p.followForks ? VIGIL_POLICY_FOLLOW : 0) |
      (p.isNamespacePID ? VIGIL_POLICY_NSPID : 0);
    out.push({ kernel: baseFilter(VIGIL_POLICY_F_PID, VIGIL_POLICY_OP_EQUAL, 0, flags),
      values: { int: p.values.map((x) => BigInt(x)) }, what: `${what} matchPIDs` });
  }
  for (const n of sel.matchNamespaces) {
    const values = n.values.map(u64);
    if (n.hostNs) values.push(ctx.hostNamespace(n.namespace));
    out.push({
      kernel: baseFilter(VIGIL_POLICY_F_NS, VIGIL_POLICY_OP_EQUAL, NS_INDEX[n.namespace], n.operator === 'NotIn' ? VIGIL_POLICY_NEG : 0),
      values: { int: values }, what: `${what} matchNamespaces`,
    });
  }
  for (const c of sel.matchNamespaceChanges) {
    let mask = 0n;
    for (const k of c.values) mask |= 1n << BigInt(NS_INDEX[k]);
    // NotIn: a change of any namespace NOT listed (Tetragon's meaning).
    if (c.operator === 'NotIn') mask = ~mask & ((1n << BigInt(NAMESPACE_KINDS.length)) - 1n);
    const kf = baseFilter(VIGIL_POLICY_F_NS_CHANGE, 0, 0, 0);
    kf.value = mask;
    out.push({ kernel: kf, values: {}, what: `${what} matchNamespaceChanges` });
  }
  for (const [list, kind] of [[sel.matchCapabilities, VIGIL_POLICY_F_CAP], [sel.matchCapabilityChanges, VIGIL_POLICY_F_CAP_CHANGE]] as const) {
    for (const c of list) {
      const flags = (c.operator === 'NotIn' ? VIGIL_POLICY_NEG : 0) | (c.isNamespaceCapability ? VIGIL_POLICY_NSCAP : 0);
      const kf = baseFilter(kind, 0, CAP_SET[c.type], flags);
      kf.value = c.mask;
      if (c.isNamespaceCapability) kf.value2 = ctx.hostNamespace('User');
      out.push({ kernel: kf, values: {}, what: `${what} ${kind === VIGIL_POLICY_F_CAP ? 'matchCapabilities' : 'matchCapabilityChanges'}` });
    }
  }
  return out;
}

function planActions(actions: readonly Action[], what: string, override: 'lsm' | 'kprobe' | undefined):
  { actions: VigilPolicyAction[]; deny: boolean; userActions: UserAction[]; overrides: boolean } {
  const out: VigilPolicyAction[] = [];
  const userActions: UserAction[] = [];
  let deny = false;
  let overrides = false;
  const push = (a: Partial<VigilPolicyAction> & { kind: number }): void => {
    out.push({ signal: 0, rate_ns: 0n, scope: VIGIL_POLICY_SCOPE_THREAD, flags: 0, error: 0, pad: 0, ...a });
  };
  for (const a of actions) {
    switch (a.action) {
      case 'Post':
        push({
          kind: VIGIL_POLICY_ACT_POST,
          rate_ns: BigInt(Math.round(a.rateLimitMs)) * 1_000_000n,
          scope: a.rateLimitScope === 'process' ? VIGIL_POLICY_SCOPE_PROCESS
            : a.rateLimitScope === 'global' ? VIGIL_POLICY_SCOPE_GLOBAL : VIGIL_POLICY_SCOPE_THREAD,
          flags: (a.kernelStackTrace ? VIGIL_POLICY_KERNEL_STACK : 0) | (a.userStackTrace ? VIGIL_POLICY_USER_STACK : 0),
        });
        break;
      case 'NoPost': push({ kind: VIGIL_POLICY_ACT_NOPOST }); break;
      case 'Sigkill': push({ kind: VIGIL_POLICY_ACT_SIGKILL, signal: 9 }); break;
      case 'Signal': push({ kind: VIGIL_POLICY_ACT_SIGNAL, signal: a.signal }); break;
      case 'Deny': push({ kind: VIGIL_POLICY_ACT_DENY }); deny = true; break;
      case 'Override':
        if (override) {
          // argError is the error as the hook returns it (Tetragon writes -1 for -EPERM).
          push({ kind: VIGIL_POLICY_ACT_OVERRIDE, error: a.error > 0 ? -a.error : a.error });
          overrides = true;
          break;
        }
        throw new NotSupportedError('override',
          `${what}: Override (argError ${a.error}) needs BPF-LSM or kprobe error injection (bpf_override_return) ` +
          'to change a return value, and this hook is served by a tracepoint or uprobe, which cannot; ' +
          'use Sigkill, or Vigil\'s Deny on connect/sendmsg hooks');
      case 'NotifyEnforcer':
        if (a.error) {
          throw new NotSupportedError('override',
            `${what}: NotifyEnforcer with argError ${a.error} needs an enforcer program that overrides the ` +
            'syscall\'s return (fmod_ret or kprobe error injection), which this engine cannot attach; ' +
            'give only argSig to have it send the signal');
        }
        // Tetragon's enforcer sends argSig when told to: here the signal is sent directly.
        push({ kind: VIGIL_POLICY_ACT_NOTIFY_ENFORCER, signal: a.signal ?? 0 });
        break;
      case 'GetUrl': userActions.push({ kind: 'GetUrl', url: a.url }); break;
      case 'DnsLookup': userActions.push({ kind: 'DnsLookup', fqdn: a.fqdn }); break;
      default:
        throw new PolicyPlanError(`${what}: action ${a.action} is not supported by Vigil's engine`);
    }
  }
  if (out.length > VIGIL_POLICY_MAX_ACTIONS) {
    throw new PolicyPlanError(`${what}: ${out.length} actions; a selector takes at most ${VIGIL_POLICY_MAX_ACTIONS}`);
  }
  return { actions: out, deny, userActions, overrides };
}

// ---------------------------------------------------------------------------
// Attachments

const COND_OP = { eq: VIGIL_POLICY_COND_EQ, ne: VIGIL_POLICY_COND_NE, ge: VIGIL_POLICY_COND_GE,
  lt: VIGIL_POLICY_COND_LT, mask: VIGIL_POLICY_COND_MASK } as const;

function planCond(c: AttachCondition, source: number, what: string): VigilPolicyCond {
  const w = locate(c.loc, source, what);
  const where = emptyArg();
  where.type = VIGIL_POLICY_ARG_S64;
  where.loc = w.loc;
  where.offset = w.offset;
  where.size = w.deref ? w.deref.size : Math.min(8, w.size || 8);
  if (w.value !== undefined) where.value = w.value;
  if (w.deref) {
    where.flags |= VIGIL_POLICY_ARG_DEREF_USER;
    where.value = w.deref.offset;
  }
  // "Values are compared as unsigned 64-bit after sign extension of the source."
  if (w.signed || c.test === 'fd-socket' || c.test === 'fd-op') where.flags |= VIGIL_POLICY_ARG_SIGNED;
  if (c.test === 'value') {
    return { where, test: VIGIL_POLICY_COND_VALUE, op: COND_OP[c.op], protocol: 0, pad: 0, value: u64(c.value), families: 0n };
  }
  if (c.test === 'fd-op') {
    where.size = 4;
    const member = c.op === 'write_iter' ? VIGIL_POLICY_FD_OP_WRITE_ITER : VIGIL_POLICY_FD_OP_UNLOCKED_IOCTL;
    return { where, test: VIGIL_POLICY_COND_FD_OP, op: 0, protocol: member, pad: 0, value: c.address, families: 0n };
  }
  let families = 0n;
  for (const f of c.families) {
    if (f < 0 || f > 63) throw new PolicyPlanError(`${what}: socket family ${f}`);
    families |= 1n << BigInt(f);
  }
  where.size = 4;
  return { where, test: VIGIL_POLICY_COND_FD_SOCKET, op: 0, protocol: c.protocol === undefined ? 0 : c.protocol + 1,
    pad: 0, value: 0n, families };
}

function hookNeedsExit(hook: Hook, a: Attachment): boolean {
  if (hook.return || hook.selectors.some((s) => s.matchReturnArgs.length > 0 || s.matchReturnActions.length > 0)) return true;
  if (hook.args.some((x) => x.returnCopy)) return true;
  if ('args' in a && a.args.some((s) => s.loc.at === 'syscall-ret' || s.loc.at === 'ret' || s.size?.at === 'syscall-ret' ||
    s.size?.at === 'ret')) return true;
  if ('when' in a && a.when.some((c) => c.loc.at === 'syscall-ret' || c.loc.at === 'ret')) return true;
  return false;
}

function planAttachment(hook: Hook, a: Attachment, what: string): PlannedAttachment {
  const w = `${what} (${a.label})`;
  if (a.kind === 'sock_addr') {
    const args = hook.args.map((spec) => {
      const k = emptyArg();
      if (spec.type === 'sockaddr') k.type = VIGIL_POLICY_ARG_SOCKADDR;
      else if (spec.type === 'sock' || spec.type === 'socket' || spec.type === 'fd') k.type = VIGIL_POLICY_ARG_FD;
      return k;
    });
    let kinds = 0;
    for (const p of a.attach) kinds |= p.startsWith('connect') ? VIGIL_POLICY_DENY_CONNECT : VIGIL_POLICY_DENY_SENDMSG;
    return {
      attachment: a,
      attach: { kind: 'deny', kinds, programs: a.attach },
      kernel: { flags: 0, source: VIGIL_POLICY_SRC_SOCK_ADDR, args, conds: [] },
    };
  }
  const source = a.kind === 'uprobe' || a.kind === 'kprobe' ? VIGIL_POLICY_SRC_REGS
    : a.kind === 'raw_tracepoint' ? VIGIL_POLICY_SRC_RAW_TP
      : a.kind === 'fentry' || a.kind === 'lsm' ? VIGIL_POLICY_SRC_TRACING : VIGIL_POLICY_SRC_TRACEPOINT;
  const ctx: ArgContext = { attachment: a, source, what: w, syscall: a.kind === 'syscall' ? a.syscall : undefined };
  // The data entries' slots follow the arguments'.
  const specs = [...hook.args, ...(hook.data ?? [])];
  if (a.args.length !== specs.length) {
    throw new PolicyPlanError(`${w}: ${a.args.length} argument sources for ${specs.length} arguments and data`);
  }
  const args = specs.map((spec, i) => planArg(spec, a.args[i], {
    ...ctx, what: i < hook.args.length ? `${w} argument ${i}` : `${w} data ${i - hook.args.length}`,
  }));
  const resolve = a.args.map((src, i) => (src.resolve && args[i]!.resolve ? planResolve(src.resolve, `${w} argument ${i}`) : undefined));
  let returnSlot: number | undefined;
  const ret = 'ret' in a ? a.ret : undefined;
  if (hook.returnArg && ret && ret.conv !== 'none') {
    if (args.length >= VIGIL_POLICY_MAX_ARGS) {
      throw new PolicyPlanError(`${w}: ${args.length} arguments and a returnArg to resolve; at most ${VIGIL_POLICY_MAX_ARGS - 1}`);
    }
    returnSlot = args.length;
    args.push(planArg(hook.returnArg, ret, { ...ctx, what: `${w} returnArg` }));
  }
  if (args.length > VIGIL_POLICY_MAX_ARGS) {
    throw new PolicyPlanError(`${w}: ${args.length} arguments; the engine captures at most ${VIGIL_POLICY_MAX_ARGS}`);
  }
  const conds: VigilPolicyCond[] = [];
  if (a.kind === 'syscall' && a.raw) {
    if (a.nr === undefined) throw new PolicyPlanError(`${w}: syscall ${a.syscall} has no number on this architecture`);
    // raw_syscalls/sys_enter: `long id` at offset 8.
    conds.push(planCond({ test: 'value', loc: { at: 'const', value: 0n }, op: 'eq', value: BigInt(a.nr) }, source, w));
    const c = conds[0]!;
    c.where.loc = VIGIL_POLICY_LOC_RECORD;
    c.where.offset = 8;
    c.where.size = 8;
  }
  if ('when' in a) for (const c of a.when) conds.push(planCond(c, source, w));
  if (conds.length > VIGIL_POLICY_MAX_CONDS) {
    throw new PolicyPlanError(`${w}: ${conds.length} attachment conditions; at most ${VIGIL_POLICY_MAX_CONDS}`);
  }
  // A tracepoint that records the function's result (capability:cap_capable) has it at entry;
  // fexit has the arguments and the result at once.
  let retAtEntry: VigilPolicyArg | undefined;
  const fexit = a.kind === 'fentry' && (a.withReturn || hookNeedsExit(hook, a));
  if ((a.kind === 'tracepoint' && a.ret && a.ret.conv === 'none') || fexit) {
    const r = 'ret' in a && a.ret ? a.ret : { loc: { at: 'ret' as const }, conv: 'none' as const };
    const spec: ArgSpec = hook.returnArg ?? { index: 0, type: 'int', returnCopy: false, maxData: false, pos: hook.pos };
    retAtEntry = planArg(spec, r, { ...ctx, what: `${w} return value` });
    retAtEntry.flags |= VIGIL_POLICY_ARG_SIGNED;
  }
  const atExit = !retAtEntry &&
    ((a.kind === 'syscall' && a.emit === 'exit') || ((a.kind === 'uprobe' || a.kind === 'kprobe') && a.withReturn) ||
      hookNeedsExit(hook, a));
  if (atExit && a.kind === 'lsm') {
    throw new PolicyPlanError(`${w}: an LSM hook has no return value to wait for (return, returnCopy, matchReturnArgs)`);
  }
  const retErr = a.kind === 'syscall' && a.ret?.loc.at === 'syscall-err' ? VIGIL_POLICY_HOOK_RET_ERR : 0;
  // Nothing to read at the entry: attach the exit alone and build the record there (no stash).
  // raw_syscalls' exit rebuilds the entry's record from the registers (a syscall leaves its
  // arguments there), so a syscall served by it needs no program on the entry of every syscall;
  // its number (conds[0]) is tested before any hook runs, its other conditions must be on the result.
  const credsAtEntry = a.kind === 'syscall' && a.credsAtEntry === true && atExit;
  const exitOnly = atExit && !credsAtEntry && a.kind === 'syscall' && (a.raw
    ? conds.slice(1).every((c) => c.where.loc === VIGIL_POLICY_LOC_RET)
    : args.every((k) => (k.loc === VIGIL_POLICY_LOC_RET || k.loc === VIGIL_POLICY_LOC_NONE || k.loc === VIGIL_POLICY_LOC_CONST) &&
      !(k.flags & VIGIL_POLICY_ARG_DEREF_USER) && (k.size_loc === 0 || k.size_loc === VIGIL_POLICY_LOC_RET) && k.dirfd_loc === 0) &&
      conds.every((c) => c.where.loc === VIGIL_POLICY_LOC_RET));
  const flags = (atExit ? VIGIL_POLICY_HOOK_AT_EXIT : 0) | (retAtEntry ? VIGIL_POLICY_HOOK_RET_AT_ENTRY : 0) | retErr |
    (exitOnly ? VIGIL_POLICY_HOOK_EXIT_ONLY : 0) | (credsAtEntry ? VIGIL_POLICY_HOOK_CREDS_AT_ENTRY : 0);
  let attach: PlannedAttach;
  if (a.kind === 'syscall') {
    attach = { kind: 'tracepoint', enter: exitOnly ? undefined : a.enter, exit: atExit ? a.exit : undefined };
  }
  else if (a.kind === 'tracepoint' || a.kind === 'raw_tracepoint') {
    if (atExit) throw new PolicyPlanError(`${w}: a tracepoint has no return value (matchReturnArgs, returnCopy, return)`);
    attach = a.kind === 'tracepoint' ? { kind: 'tracepoint', enter: a.tp } : { kind: 'raw_tracepoint', event: a.event };
  } else if (a.kind === 'uprobe') {
    attach = { kind: 'uprobe', binary: a.binary, symbol: a.symbol, offset: a.offset, withReturn: atExit };
  } else if (a.kind === 'kprobe') {
    attach = { kind: 'kprobe', function: a.function, withReturn: atExit, override: false };
  } else if (a.kind === 'fentry') {
    attach = { kind: fexit ? 'fexit' : 'fentry', function: a.function };
  } else if (a.kind === 'lsm') {
    attach = { kind: 'lsm', hook: a.hook };
  } else {
    throw new PolicyPlanError(`${w}: ${a.kind} attachments are not served by the engine`);
  }
  return {
    attachment: a, attach,
    kernel: { flags, source, args, conds, ret: retAtEntry, ...(resolve.some(Boolean) ? { resolve } : {}) },
    returnSlot,
  };
}

// --- prefilter --------------------------------------------------------------

/** A path as the kernel's walk gives it: absolute, no empty, "." or ".." components, no trailing '/'. */
function canonicalPath(v: string): boolean {
  return v.startsWith('/') && v.length > 1 && v.slice(1).split('/').every((c) => c !== '' && c !== '.' && c !== '..');
}

const PF_COMPONENT = (c: string): boolean => c !== '' && c !== '.' && c !== '..' && Buffer.byteLength(c) <= VIGIL_POLICY_PF_NAME_MAX;

/**
 * What one filter lets through, as components: the file's name (Equal on a
 * canonical path, Postfix of "/name"), or the path's first component (Prefix);
 * undefined when some value says nothing about either (NotX, Postfix without
 * '/', a name past VIGIL_POLICY_PF_NAME_MAX bytes, ...).
 */
function filterComponents(f: ArgFilter): { leaves?: string[]; tops?: string[] } | undefined {
  if (f.negated || f.values.kind !== 'string' || f.values.values.length === 0) return undefined;
  const vs = f.values.values;
  switch (f.operator) {
    case 'Equal': {
      if (!vs.every(canonicalPath)) return undefined;
      const leaves = vs.map((v) => v.slice(v.lastIndexOf('/') + 1));
      return leaves.every(PF_COMPONENT) ? { leaves } : undefined;
    }
    case 'Postfix': {
      if (!vs.every((v) => v.includes('/'))) return undefined;
      const leaves = vs.map((v) => v.slice(v.lastIndexOf('/') + 1));
      return leaves.every(PF_COMPONENT) ? { leaves } : undefined;
    }
    case 'Prefix': {
      if (!vs.every((v) => v.startsWith('/'))) return undefined;
      const tops = vs.map((v) => {
        const j = v.indexOf('/', 1);
        return j < 0 ? v : v.slice(0, j + 1);
      });
      // "/" and "//..." allow anything (or nothing a walk gives): no use.
      if (tops.some((t) => t === '/' || t.startsWith('//'))) return undefined;
      return tops.every((t) => Buffer.byteLength(t) <= VIGIL_POLICY_PF_NAME_MAX + 2) ? { tops } : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * The prefilter of a kernel hook (see PlannedPrefilter), or undefined when
 * some selector could match whatever the file's components are. Only where
 * the kernel runs it: hooks judged at the entry, or at the exit with nothing
 * read at the entry (EXIT_ONLY); the file is an fd or a struct file.
 */
export function planPrefilter(selectors: readonly Selector[], kernel: PlannedKernelHook): PlannedPrefilter | undefined {
  if (selectors.length === 0) return undefined;
  if ((kernel.flags & VIGIL_POLICY_HOOK_AT_EXIT) && !(kernel.flags & VIGIL_POLICY_HOOK_EXIT_ONLY)) return undefined;
  for (let slot = 0; slot < kernel.args.length; slot++) {
    const t = kernel.args[slot]!.type;
    if (t !== VIGIL_POLICY_ARG_FD && t !== VIGIL_POLICY_ARG_KFILE) continue;
    // A resolve path makes the slot's word something else than the file.
    if (kernel.resolve?.[slot]) continue;
    const leaves = new Set<string>();
    const tops = new Set<string>();
    const ok = selectors.every((sel) => {
      const found = sel.matchArgs.filter((f) => f.argPos === slot).map(filterComponents).filter((c) => c !== undefined);
      // A name is one read; a first component, a walk: prefer the name.
      const pick = found.find((c) => c.leaves) ?? found.find((c) => c.tops);
      if (!pick) return false;
      pick.leaves?.forEach((x) => leaves.add(x));
      pick.tops?.forEach((x) => tops.add(x));
      return true;
    });
    if (ok) {
      const bytes = (xs: Set<string>): Uint8Array[] => [...xs].sort().map((x) => new Uint8Array(Buffer.from(x, 'utf8')));
      return { slot, leaves: bytes(leaves), tops: bytes(tops) };
    }
  }
  return undefined;
}

/** hook.prefilter for a planned prefilter (0: none). */
export function prefilterFlags(pf: PlannedPrefilter | undefined): number {
  if (!pf) return 0;
  return pf.slot | (pf.leaves.length ? VIGIL_POLICY_PF_LEAF : 0) | (pf.tops.length ? VIGIL_POLICY_PF_TOP : 0);
}

/** The keys of `prefilter` (struct vigil_policy_pf_key) for kernel hook id. */
export function prefilterKeys(id: number, pf: PlannedPrefilter): Buffer[] {
  const key = (kind: number, text: Uint8Array): Buffer => {
    const k = Buffer.alloc(4 + 4 + 1 + VIGIL_POLICY_PF_NAME_MAX + 3);
    k.writeUInt32LE((4 + 1 + text.length) * 8, 0);
    k.writeUInt32LE(id, 4);
    k[8] = kind;
    Buffer.from(text).copy(k, 9);
    return k;
  };
  const slash = 0x2f;
  return [
    ...pf.leaves.map((l) => key(VIGIL_POLICY_PF_KIND_LEAF, Uint8Array.from([...l, slash]))),
    ...pf.tops.map((t) => key(VIGIL_POLICY_PF_KIND_TOP, t)),
  ];
}

/** The kernel program of one policy; throws PolicyPlanError or NotSupportedError naming what cannot be done. */
export function planPolicy(policy: CompiledPolicy, ctx: PlanContext): PolicyPlan {
  const hooks: PlannedHook[] = [];
  for (const hook of policy.hooks) {
    const what = `policy ${policy.name} hook ${hook.functionName}`;
    if (hook.selectors.length > VIGIL_POLICY_HOOK_SELECTORS) {
      throw new PolicyPlanError(`${what}: ${hook.selectors.length} selectors; at most ${VIGIL_POLICY_HOOK_SELECTORS}`);
    }
    const attachments = hook.served.attachments.map((a) => planAttachment(hook, a, what));
    // Filters are checked against what the first non-Deny attachment captures (all capture the same
    // declared arguments; the Deny one only sockets).
    const primary = attachments.find((p) => p.attach.kind !== 'deny') ?? attachments[0];
    const captured = primary ? [...primary.kernel.args] : [];
    // A string returned (a uprobe's char *) is read into a slot of its own at the exit: its filters
    // compare that string; other return values are compared as the integer in the return slot.
    const resolvedRet = primary?.returnSlot !== undefined ? captured[primary.returnSlot] : undefined;
    const retSlot = resolvedRet && capturedKind(resolvedRet) === 'string' &&
      attachments.every((p) => p.attach.kind === 'deny' || p.returnSlot === primary!.returnSlot) ? primary!.returnSlot! : 6;
    const selectors: PlannedSelector[] = hook.selectors.map((sel, index) => {
      const sw = `${what} selector ${index}`;
      const filters: PlannedFilter[] = [];
      for (const f of sel.matchArgs) {
        if (f.argPos < 0 || f.argPos >= hook.args.length) throw new PolicyPlanError(`${sw} matchArgs: argument ${f.argPos} is not declared`);
        filters.push(planArgFilter(f, f.argPos, captured, `${sw} matchArgs[${f.argPos}]`));
      }
      for (const f of sel.matchReturnArgs) filters.push(planArgFilter(f, retSlot, captured, `${sw} matchReturnArgs`));
      filters.push(...planProcessFilters(sel, ctx, sw));
      if (filters.length > VIGIL_POLICY_SELECTOR_FILTERS) {
        throw new PolicyPlanError(`${sw}: ${filters.length} filters; at most ${VIGIL_POLICY_SELECTOR_FILTERS}`);
      }
      const override = attachments.every((p) => p.attach.kind === 'lsm') ? 'lsm'
        : attachments.every((p) => p.attach.kind === 'kprobe') ? 'kprobe' : undefined;
      const { actions, deny, userActions, overrides } = planActions([...sel.matchActions, ...sel.matchReturnActions], sw,
        attachments.length ? override : undefined);
      if (overrides && attachments.some((p) => p.attach.kind === 'kprobe' && p.attach.withReturn)) {
        throw new PolicyPlanError(`${sw}: Override acts at the function's entry; this hook is judged at its return ` +
          '(return, returnCopy or matchReturnArgs), where the result can no longer be changed');
      }
      if (overrides && override === 'kprobe') {
        attachments.forEach((p, i) => {
          if (p.attach.kind === 'kprobe') attachments[i] = { ...p, attach: { ...p.attach, override: true } };
        });
      }
      if (deny) {
        if (!attachments.some((p) => p.attach.kind === 'deny')) {
          throw new PolicyPlanError(`${sw}: Deny needs a connect/sendmsg hook (served by cgroup sock_addr programs); ` +
            `${hook.functionName} is not one`);
        }
        for (const f of sel.matchArgs) {
          const t = hook.args[f.argPos]?.type;
          if (!t || !(SOCK_LIKE.has(t) || t === 'fd')) {
            throw new PolicyPlanError(`${sw}: a Deny selector may filter only on the socket address arguments ` +
              `(sockaddr, sock, fd); argument ${f.argPos} is ${t ?? 'undeclared'}`);
          }
        }
        if (sel.matchReturnArgs.length) throw new PolicyPlanError(`${sw}: a Deny selector cannot use matchReturnArgs`);
      }
      let cel: CelProgram | undefined;
      if (sel.matchCEL) {
        const prog = compileCel(sel.matchCEL.expr, hook.args, hook.data ?? []);
        if ('error' in prog) throw new PolicyPlanError(`${sw} matchCEL: ${prog.error}`);
        cel = prog;
      }
      return { index, filters, actions, deny, userActions, ...(cel ? { cel } : {}) };
    });
    // Judged at the entry and kept at the exit: the verdict is the hook's only if one selector has them.
    const credFilters = selectors.filter((s) => s.filters.some((f) => f.kernel.kind >= VIGIL_POLICY_F_NS && f.kernel.kind <= VIGIL_POLICY_F_CAP_CHANGE));
    if (credFilters.length > 0 && selectors.length > 1 && attachments.some((p) => p.kernel.flags & VIGIL_POLICY_HOOK_CREDS_AT_ENTRY)) {
      throw new PolicyPlanError(`${what}: capability and namespace filters are judged at the syscall's entry here (its exit sees new ` +
        'credentials), which keeps their meaning only for a hook with one selector; split the selectors into hooks of their own');
    }
    // The pass over process filters before the capture: only where there is one.
    if (selectors.some((s) => s.filters.some((f) => f.kernel.kind !== VIGIL_POLICY_F_ARG))) {
      attachments.forEach((p, i) => {
        attachments[i] = { ...p, kernel: { ...p.kernel, flags: p.kernel.flags | VIGIL_POLICY_HOOK_PROC_FILTERS } };
      });
    }
    attachments.forEach((p, i) => {
      const prefilter = p.attach.kind === 'deny' ? undefined : planPrefilter(hook.selectors, p.kernel);
      if (prefilter) attachments[i] = { ...p, kernel: { ...p.kernel, prefilter } };
    });
    const needsProcs = selectors.some((s) => s.filters.some((f) =>
      f.kernel.kind === VIGIL_POLICY_F_BINARY || f.kernel.kind === VIGIL_POLICY_F_NS_CHANGE ||
      f.kernel.kind === VIGIL_POLICY_F_CAP_CHANGE || (f.kernel.flags & VIGIL_POLICY_FOLLOW) !== 0));
    hooks.push({ hook, selectors, attachments, needsProcs });
  }
  return {
    policy,
    hooks,
    needsProcs: hooks.some((h) => h.needsProcs),
    needsDeny: hooks.some((h) => h.attachments.some((a) => a.attach.kind === 'deny')),
    needsUprobes: hooks.some((h) => h.attachments.some((a) => a.attach.kind === 'uprobe')),
    needsKprobes: hooks.some((h) => h.attachments.some((a) => a.attach.kind === 'kprobe')),
    needsKprobeOverride: hooks.some((h) => h.attachments.some((a) => a.attach.kind === 'kprobe' && a.attach.override)),
    needsRawSyscalls: hooks.some((h) => h.attachments.some((a) => a.attachment.kind === 'syscall' && a.attachment.raw)),
    rawTracepoints: hooks.reduce((n, h) => n + h.attachments.filter((a) => ['raw_tracepoint', 'fentry', 'fexit', 'lsm']
      .includes(a.attach.kind)).length, 0),
  };
}
