// The intermediate representation of TracingPolicies: what the front end
// (schema + loader + hooks) hands to the kernel engine, and what the engine
// hands back to the output formatters.
//
// Two phases, as everywhere in Vigil (spec before live object):
//   PolicySpec      parsed and validated YAML, pure: no kernel was asked.
//                   Values of selectors are already parsed (integers as
//                   bigint, CIDRs as bytes + prefix, port ranges, capability
//                   numbers, namespace kinds); `list:NAME` is expanded.
//   CompiledPolicy  every hook resolved against THIS kernel (src/policy/hooks.ts):
//                   each hook names the attachments that serve it, and for
//                   each declared argument where the attachment finds it.
//
// Argument positions: a HookSpec's `args` keep the YAML order. Selectors refer
// to them by position in that array (`argPos`), never by the YAML `index`
// (Tetragon's matchArgs.index names the `index` of an entry of `args`; the
// loader translates it).
import type { Cidr } from '../kernel/addr.js';
import type { ProcessInfo } from '../process/types.js';

/** Where something is in a policy file. line and col are 1-based. */
export interface SourcePos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

// ---------------------------------------------------------------------------
// Argument types

/**
 * Tetragon's argument types, canonical spelling (the loader maps aliases:
 * s64/int64 -> int64, u32/uint32 -> uint32, ...).
 */
export const ARG_TYPES = [
  // integers
  'int', 'uint', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'size_t', 'long', 'ulong',
  // memory
  'string', 'char_buf', 'char_iovec', 'const_buf', 'data_loc',
  // files
  'fd', 'file', 'path', 'dentry', 'filename', 'linux_binprm', 'kiocb', 'iov_iter',
  // network
  'sock', 'socket', 'sockaddr', 'skb', 'net_device', 'sockaddr_un',
  // credentials
  'cred', 'capability', 'kernel_cap_t', 'cap_inheritable', 'cap_permitted', 'cap_effective', 'user_namespace',
  // bpf / perf / modules
  'bpf_attr', 'bpf_prog', 'bpf_map', 'perf_event', 'load_info', 'module',
  // raw syscalls: the syscall id (raw_syscalls/sys_enter id field)
  'syscall64',
  // a placeholder that captures nothing
  'nop',
  // bpf(2)'s cmd
  'bpf_cmd',
  // only in specs: the resolver replaces it with the type the tracepoint format / BTF gives
  'auto',
] as const;
export type ArgType = (typeof ARG_TYPES)[number];

export const INT_ARG_TYPES: ReadonlySet<ArgType> = new Set<ArgType>([
  'int', 'uint', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'size_t', 'long', 'ulong',
  'syscall64', 'capability',
]);
export const STRING_ARG_TYPES: ReadonlySet<ArgType> = new Set<ArgType>([
  'string', 'char_buf', 'char_iovec', 'const_buf', 'data_loc', 'filename',
]);
/** Types whose value is a path (string operators apply to the path). */
export const PATH_ARG_TYPES: ReadonlySet<ArgType> = new Set<ArgType>([
  'fd', 'file', 'path', 'dentry', 'linux_binprm', 'kiocb',
]);
export const SOCK_ARG_TYPES: ReadonlySet<ArgType> = new Set<ArgType>(['sock', 'socket', 'sockaddr', 'skb']);

/** One declared argument (YAML `args[i]`, or `returnArg`). */
export interface ArgSpec {
  /** YAML `index`: the function / syscall / tracepoint-field argument number. */
  readonly index: number;
  readonly type: ArgType;
  /**
   * char_buf / char_iovec: the function argument (0-based index) that holds the size. YAML's
   * sizeArgIndex is 1-based (Tetragon: `sizeArgIndex: 3` names argument 2); the loader converts.
   */
  readonly sizeArgIndex?: number;
  /** Read the buffer at the function's return (e.g. read(2)'s buffer): needs the exit hook. */
  readonly returnCopy: boolean;
  /** Capture up to the engine's large limit instead of the default. */
  readonly maxData: boolean;
  /** Tetragon `label`: a name for the argument in events. */
  readonly label?: string;
  /**
   * Tetragon `resolve`: a path of struct members to follow from the argument
   * ("mm.owner.comm", "sin_addr.s_addr", "fd[2]"); the value captured is the
   * member's, read as `type`. The resolver turns it into steps against the
   * kernel's BTF (ArgSource.resolve).
   */
  readonly resolve?: string;
  /** Tetragon `btfType`: the struct the argument points to, for resolve (instead of its declared C type). */
  readonly btfType?: string;
  /** Tetragon `btfTypeModule`: the kernel module whose BTF has btfType. */
  readonly btfTypeModule?: string;
  /** `data` entries: where the value comes from (Tetragon `source`): the current task, or the argument `index`. */
  readonly source?: 'current_task';
  readonly pos: SourcePos;
}

/** Tetragon's matchCEL: an expression over the arguments (arg0..) and data (data0..) of the hook. */
export interface CelFilter {
  readonly expr: string;
  readonly pos: SourcePos;
}

// ---------------------------------------------------------------------------
// Selectors

/** Operators of matchArgs / matchReturnArgs / matchData. GT/LT are normalised to GreaterThan/LessThan. */
export const ARG_OPERATORS = [
  'Equal', 'NotEqual', 'Prefix', 'NotPrefix', 'Postfix', 'NotPostfix', 'GreaterThan', 'LessThan', 'Mask',
  'InMap', 'NotInMap', 'InRange', 'NotInRange',
  'SAddr', 'NotSAddr', 'DAddr', 'NotDAddr',
  'SPort', 'NotSPort', 'DPort', 'NotDPort', 'SPortPriv', 'NotSPortPriv', 'DPortPriv', 'NotDPortPriv',
  'Protocol', 'Family', 'State',
  'CapabilitiesGained',
] as const;
export type ArgOperator = (typeof ARG_OPERATORS)[number];

/** An inclusive range of integers (ports, InRange, InMap "a:b"). */
export interface IntRange {
  readonly lo: bigint;
  readonly hi: bigint;
}

/**
 * A filter's values, parsed for its operator.
 * - int:    Equal/NotEqual/GreaterThan/LessThan/Mask/InMap on integers; Protocol, Family, State (numbers); CapabilitiesGained (capability numbers)
 * - string: Equal/NotEqual/Prefix/NotPrefix/Postfix/NotPostfix on strings and paths (bytes as written, no NUL)
 * - cidr:   SAddr/NotSAddr/DAddr/NotDAddr
 * - range:  SPort/NotSPort/DPort/NotDPort (a single port p is {p,p}), InRange/NotInRange, InMap with "a:b"
 * - none:   SPortPriv/NotSPortPriv/DPortPriv/NotDPortPriv (the privileged range 0..1023 is implied)
 */
export type FilterValues =
  | { readonly kind: 'int'; readonly values: readonly bigint[] }
  | { readonly kind: 'string'; readonly values: readonly string[] }
  | { readonly kind: 'cidr'; readonly values: readonly Cidr[] }
  | { readonly kind: 'range'; readonly values: readonly IntRange[] }
  | { readonly kind: 'none' };

export interface ArgFilter {
  /** Position in HookSpec.args (matchArgs) or -1 for the return value (matchReturnArgs). */
  readonly argPos: number;
  readonly operator: ArgOperator;
  /** True for NotEqual/NotPrefix/NotPostfix/NotSAddr/...: values are ANDed (none may match). */
  readonly negated: boolean;
  readonly values: FilterValues;
  /** The values as written (the resolver re-parses them when the argument's type was `auto`). */
  readonly raw: readonly string[];
  readonly pos: SourcePos;
}

export type BinaryOperator = 'In' | 'NotIn' | 'Prefix' | 'NotPrefix' | 'Postfix' | 'NotPostfix';
export interface BinaryFilter {
  readonly operator: BinaryOperator;
  readonly values: readonly string[];
  /** Also match the descendants of a matching binary. */
  readonly followChildren: boolean;
  readonly pos: SourcePos;
}

export interface PidFilter {
  readonly operator: 'In' | 'NotIn';
  readonly values: readonly number[];
  /** Also match the descendants of a matching pid. */
  readonly followForks: boolean;
  /** Values are pids in the process's own pid namespace. */
  readonly isNamespacePID: boolean;
  readonly pos: SourcePos;
}

export const NAMESPACE_KINDS = [
  'Uts', 'Ipc', 'Mnt', 'Pid', 'PidForChildren', 'Net', 'Time', 'TimeForChildren', 'Cgroup', 'User',
] as const;
export type NamespaceKind = (typeof NAMESPACE_KINDS)[number];

export interface NamespaceFilter {
  readonly namespace: NamespaceKind;
  readonly operator: 'In' | 'NotIn';
  /** Namespace inode numbers. */
  readonly values: readonly bigint[];
  /** `host_ns` was among the values: the engine adds the host's (pid 1's) inode of this kind at load. */
  readonly hostNs: boolean;
  readonly pos: SourcePos;
}

export interface NamespaceChangeFilter {
  readonly operator: 'In' | 'NotIn';
  readonly values: readonly NamespaceKind[];
  readonly pos: SourcePos;
}

export type CapabilitySet = 'Effective' | 'Inheritable' | 'Permitted';
export interface CapabilityFilter {
  readonly type: CapabilitySet;
  readonly operator: 'In' | 'NotIn';
  /** Capability numbers (CAP_SYS_ADMIN = 21). */
  readonly values: readonly number[];
  /** The same values as a 64-bit mask. */
  readonly mask: bigint;
  readonly isNamespaceCapability: boolean;
  readonly pos: SourcePos;
}

/** Tetragon action names plus Vigil's Deny. */
export const ACTION_NAMES = [
  'Post', 'NoPost', 'Sigkill', 'Signal', 'Override', 'NotifyEnforcer', 'FollowFD', 'UnfollowFD', 'CopyFD',
  'GetUrl', 'DnsLookup', 'TrackSock', 'UntrackSock', 'Deny',
] as const;
export type ActionName = (typeof ACTION_NAMES)[number];

export type RateLimitScope = 'thread' | 'process' | 'global';

export type Action =
  | {
    readonly action: 'Post';
    /** Suppress events identical in hook and args within this window (ms); 0 = none. */
    readonly rateLimitMs: number;
    readonly rateLimitScope: RateLimitScope;
    readonly kernelStackTrace: boolean;
    readonly userStackTrace: boolean;
    readonly pos: SourcePos;
  }
  | { readonly action: 'NoPost'; readonly pos: SourcePos }
  | { readonly action: 'Sigkill'; readonly pos: SourcePos }
  | { readonly action: 'Signal'; readonly signal: number; readonly pos: SourcePos }
  /** The function returns `error` (negative errno) instead of running. Needs BPF-LSM or kprobe error injection. */
  | { readonly action: 'Override'; readonly error: number; readonly pos: SourcePos }
  | { readonly action: 'NotifyEnforcer'; readonly error: number; readonly signal?: number; readonly pos: SourcePos }
  /** Vigil: refuse a connect/sendmsg with EPERM from a cgroup sock_addr program. */
  | { readonly action: 'Deny'; readonly pos: SourcePos }
  | { readonly action: 'FollowFD' | 'UnfollowFD' | 'CopyFD'; readonly argFd: number; readonly argName: number; readonly pos: SourcePos }
  | { readonly action: 'GetUrl'; readonly url: string; readonly pos: SourcePos }
  | { readonly action: 'DnsLookup'; readonly fqdn: string; readonly pos: SourcePos }
  | { readonly action: 'TrackSock' | 'UntrackSock'; readonly argSock: number; readonly pos: SourcePos };

/** One selector: its filters are ANDed; the first selector of a hook that matches runs its actions. */
export interface Selector {
  readonly matchArgs: readonly ArgFilter[];
  readonly matchReturnArgs: readonly ArgFilter[];
  readonly matchBinaries: readonly BinaryFilter[];
  readonly matchPIDs: readonly PidFilter[];
  readonly matchNamespaces: readonly NamespaceFilter[];
  readonly matchNamespaceChanges: readonly NamespaceChangeFilter[];
  readonly matchCapabilities: readonly CapabilityFilter[];
  readonly matchCapabilityChanges: readonly CapabilityFilter[];
  /**
   * matchCEL: evaluated by the agent over the captured values of an event the
   * kernel posted for this selector (docs/policy.md says when that is exact).
   */
  readonly matchCEL?: CelFilter;
  /** Actions at the hook (no action listed = Post). */
  readonly matchActions: readonly Action[];
  /** Actions at the function's return (kprobes with `return: true`). */
  readonly matchReturnActions: readonly Action[];
  /**
   * A policy in monitor mode (`policy-mode: monitor`): the enforcing actions
   * (Sigkill, Signal, Override, NotifyEnforcer, Deny) the loader took out of
   * matchActions / matchReturnActions, so the kernel never gets them. Events of
   * the selector report them as Tetragon does (its `action`), marked as not
   * enforced.
   */
  readonly elided?: readonly Action[];
  /** Tetragon's selector `label` (status and metrics). */
  readonly label?: string;
  readonly pos: SourcePos;
}

/** Tetragon's policy modes (spec.options policy-mode): enforce (the default) or monitor. */
export type PolicyMode = 'enforce' | 'monitor';

/**
 * Why a policy matches nothing on this host: it is scoped to Kubernetes pods
 * (TracingPolicyNamespaced, podSelector, containerSelector) and Vigil has no
 * pod metadata yet. Such a policy loads, and no hook of it is attached.
 */
export interface Dormant {
  readonly reason: string;
  readonly pos: SourcePos;
}

/** A Kubernetes label selector (requirements ANDed; an empty one selects everything). */
export interface LabelSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly {
    readonly key: string;
    readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    readonly values: readonly string[];
  }[];
}

/**
 * The pods a scoped policy applies to: containers of pods in `namespace`
 * (TracingPolicyNamespaced; undefined: any namespace) whose pod labels match
 * podSelector and whose container matches containerSelector (as Tetragon: the
 * container's name is its label "name"). Never a host process.
 */
export interface PodScope {
  readonly namespace?: string;
  readonly podSelector?: LabelSelector;
  readonly containerSelector?: LabelSelector;
}

// ---------------------------------------------------------------------------
// Hooks as written (pure)

export type HookKind = 'tracepoint' | 'syscall' | 'kfunc' | 'lsm' | 'uprobe' | 'loader';

/** Which YAML section the hook came from. */
export type HookSection = 'kprobes' | 'tracepoints' | 'lsmhooks' | 'uprobes' | 'fentries' | 'loader';

export type HookTarget =
  | { readonly kind: 'tracepoint'; readonly category: string; readonly event: string; readonly raw: boolean }
  /** `name` normalised: "openat" for sys_openat, __x64_sys_openat, __se_sys_openat, ksys_openat... */
  | { readonly kind: 'syscall'; readonly name: string; readonly written: string }
  | { readonly kind: 'kfunc'; readonly function: string }
  | { readonly kind: 'lsm'; readonly hook: string }
  /** `loader: true`: the executable files mapped into processes (Tetragon's process_loader events). */
  | { readonly kind: 'loader' }
  /** `symbol` is '' when the uprobe was given by file offset (`offsets`). */
  | {
    readonly kind: 'uprobe'; readonly path: string; readonly symbol: string; readonly offset?: number;
    /** binaryDigests: `sha256:<hex>` / `build-id:<hex>`; the binary is hooked only when one matches. */
    readonly digests?: readonly string[];
    /** ignore.digestVerificationFailure: a binary that matches none is skipped (said), not an error. */
    readonly ignoreDigestFailure?: boolean;
    /** resolvePathInContainer: the path names a file in each selected container, not on the host. */
    readonly inContainer?: boolean;
  };

export interface HookSpec {
  readonly kind: HookKind;
  readonly section: HookSection;
  readonly target: HookTarget;
  /** The name events use as function_name ("sys_openat", "security_file_open", "openat" ...), as written. */
  readonly functionName: string;
  /**
   * The list the hook came from, when `call: list:NAME`. Lists of type syscalls are expanded by the
   * loader (one HookSpec per syscall). Generated lists (generated_syscalls, generated_ftrace) depend on
   * the kernel: the loader keeps ONE HookSpec whose target names the list ("list:NAME") and the
   * resolver (hooks.ts) expands it into one Hook per syscall / function, or rejects it.
   */
  readonly fromList?: string;
  readonly args: readonly ArgSpec[];
  /**
   * Tetragon `data`: more values read at the hook (from the current task or an
   * argument, through resolve), reported in the event's `data`, not its args.
   * The engine captures them in the slots after the arguments'.
   */
  readonly data?: readonly ArgSpec[];
  /** kprobes: `return: true`; the return value is captured as returnArg. */
  readonly return: boolean;
  readonly returnArg?: ArgSpec;
  /** Tetragon returnArgAction (TrackSock/UntrackSock/...), when given. */
  readonly returnArgAction?: string;
  readonly selectors: readonly Selector[];
  readonly tags: readonly string[];
  readonly message?: string;
  /** Tetragon `ignore: { callNotFound: true }`: a missing function is skipped, not an error. */
  readonly ignoreCallNotFound: boolean;
  readonly pos: SourcePos;
  /** Field path of the hook in its document ("spec.kprobes[2]"), for diagnostics. */
  readonly path: string;
}

export interface ListSpec {
  readonly name: string;
  readonly type: 'syscalls' | 'generated_syscalls' | 'generated_ftrace';
  readonly values: readonly string[];
  /** generated_ftrace: the regular expression over kernel function names. */
  readonly pattern?: string;
  readonly pos: SourcePos;
}

export interface PolicySpec {
  readonly name: string;
  readonly kind: 'TracingPolicy' | 'TracingPolicyNamespaced';
  /** TracingPolicyNamespaced: the namespace, kept as a label outside Kubernetes. */
  readonly namespace?: string;
  /** metadata.labels / annotations (description lives in annotations or labels). */
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly description?: string;
  readonly hooks: readonly HookSpec[];
  readonly lists: readonly ListSpec[];
  /** spec.options as name -> value. */
  readonly options: Readonly<Record<string, string>>;
  /** spec.options policy-mode; undefined = enforce. */
  readonly mode?: PolicyMode;
  /**
   * Set when the policy is scoped to pods: without pod metadata it loads but matches nothing (no
   * hook attached); with it, its hooks run only in its pods' cgroups (`scope`).
   */
  readonly dormant?: Dormant;
  /** Which pods, when dormant is set. */
  readonly scope?: PodScope;
  readonly file: string;
  readonly pos: SourcePos;
}

// ---------------------------------------------------------------------------
// Resolution on the running kernel

/** One field of a tracepoint's format file. */
export interface TracepointField {
  readonly name: string;
  /** The C declaration's type ("const char *", "int", "__data_loc char[]", "unsigned long[6]"). */
  readonly cType: string;
  readonly offset: number;
  readonly size: number;
  readonly signed: boolean;
  /** __data_loc: a u32 (len << 16 | offset) pointing into the record. */
  readonly dataLoc: boolean;
  /** Array length for "type name[N]" fields. */
  readonly arrayLen?: number;
  /** A pointer into user memory or the kernel (field type ends in '*'). */
  readonly pointer: boolean;
}

export interface TracepointRef {
  readonly category: string;
  readonly event: string;
}

/**
 * Where the engine finds one declared argument on an attachment. The ArgSpec's
 * type says how to read it; `conv` says that the raw value must be converted
 * first (an fd number turned into the task's struct file).
 */
export type ArgLocation =
  /** Syscall argument i: sys_enter record args[i] (saved at enter when the event is emitted at exit). */
  | { readonly at: 'syscall-arg'; readonly index: number }
  /** The syscall's return value (sys_exit ret). */
  | { readonly at: 'syscall-ret' }
  /**
   * The syscall's error: ret when ret < 0, else 0. Stands for the return value of a security check
   * (security_file_permission, ...) whose syscall it serves: 0 = allowed, -errno = refused (or failed).
   */
  | { readonly at: 'syscall-err' }
  /** A field of the tracepoint record. */
  | { readonly at: 'tp-field'; readonly field: TracepointField }
  /** Register argument i of a kprobe/fentry/uprobe/LSM program. */
  | { readonly at: 'reg'; readonly index: number }
  /** The function's return value (kretprobe/fexit/uretprobe). */
  | { readonly at: 'ret' }
  /** The current task's credentials, read when the event is emitted. */
  | { readonly at: 'current-cred' }
  /** The current task's executable file (mm->exe_file). */
  | { readonly at: 'current-exe' }
  /** The current task's working directory (task->fs->pwd), its path resolved in the kernel. */
  | { readonly at: 'current-cwd' }
  /** A constant known from the attachment (e.g. MAY_READ for read(2) serving security_file_permission). */
  | { readonly at: 'const'; readonly value: bigint }
  /** The attachment does not have this argument: the event carries {kind: 'unavailable'} for it. */
  | { readonly at: 'none'; readonly reason: string }
  /** `size` bytes at user address (syscall argument `index`) + `offset` (e.g. clone3's clone_args.flags). */
  | { readonly at: 'user-mem'; readonly index: number; readonly offset: number; readonly size: number }
  /** The current task (struct task_struct *): `data` with source current_task. */
  | { readonly at: 'current-task' };

/** The file_operations members a condition can compare with a kernel function. */
export type FileOp = 'unlocked_ioctl' | 'write_iter';

export type ArgConversion =
  /** None: read as the ArgSpec's type says (kernel pointers for struct types, user pointers for strings of syscalls). */
  | 'none'
  /** The raw value is an fd of the current task: resolve to its struct file (path, flags) or socket (sock/socket types). */
  | 'fd'
  /**
   * The raw value is a string (user pointer, kernel pointer or __data_loc field): a file-like type
   * (file, path, linux_binprm, dentry) gets only its path, net_device only its name, module only its name.
   */
  | 'string'
  /** The raw value is a user pointer to a struct sockaddr (sockaddr type; sock types get family/daddr/dport from it). */
  | 'user-sockaddr'
  /**
   * The raw value is a user pointer to the UAPI struct of the syscall: bpf_attr/bpf_map from union bpf_attr
   * (bpf(2)), perf_event from struct perf_event_attr (perf_event_open(2)); read with bpf_probe_read_user.
   */
  | 'user-struct'
  /**
   * The raw value is capset(2)'s user pointer to struct __user_cap_data_struct[2]: the declared
   * cap_effective / cap_permitted / cap_inheritable set as one 64-bit mask (`size` locates the header).
   */
  | 'user-caps';

/**
 * A `resolve` path made into steps against the kernel's BTF (src/bpf/btf.ts
 * memberPath): from the location's word (an address), the kernel adds each
 * step's offset and follows the pointer where `deref`; then loads the final
 * scalar (`load`), or keeps the address of the final object.
 */
export interface ResolvedPath {
  /** As written, for messages. */
  readonly path: string;
  readonly steps: readonly { readonly offset: number; readonly deref: boolean }[];
  readonly load?: { readonly size: number; readonly signed: boolean; readonly shift: number; readonly bits: number };
  /** The pointers are user memory (a syscall's arguments), else kernel memory. */
  readonly user: boolean;
  /** The C type the path ends at ("pid_t", "char[16]", "struct file *"). */
  readonly c: string;
  /** For type auto: the type read, from what the path ends at. */
  readonly type?: ArgType;
}

export interface ArgSource {
  readonly loc: ArgLocation;
  readonly conv: ArgConversion;
  /** The argument's `resolve`: the value is the member's, not the word's. */
  readonly resolve?: ResolvedPath;
  /** char_buf / char_iovec: where the size is (from ArgSpec.sizeArgIndex, or the syscall's return for returnCopy). */
  readonly size?: ArgLocation;
}

/**
 * A condition on the attachment's own record that must hold before selectors run (portable
 * equivalents: "bpf(2) with cmd BPF_PROG_LOAD", "inet_sock_set_state to TCP_SYN_SENT", "fd is a
 * TCP socket"). Conditions of one attachment are ANDed. Values are compared as unsigned 64-bit
 * after sign extension of the source; 'mask' holds when (value & mask) != 0.
 */
export type AttachCondition =
  | { readonly test: 'value'; readonly loc: ArgLocation; readonly op: 'eq' | 'ne' | 'ge' | 'lt' | 'mask'; readonly value: bigint }
  /** The fd at loc is a socket of one of these families (empty: any) and, when given, this protocol (IPPROTO_*). */
  | { readonly test: 'fd-socket'; readonly loc: ArgLocation; readonly families: readonly number[]; readonly protocol?: number }
  /** The fd's file has `fn` (at `address`, from kallsyms) as its file_operations member `op` (ioctl(2) on it calls fn). */
  | { readonly test: 'fd-op'; readonly loc: ArgLocation; readonly op: FileOp; readonly fn: string; readonly address: bigint };

/** Where the event is emitted: on entry (args only), or at exit (args saved at entry + return value). */
export type EmitPoint = 'enter' | 'exit';

/** What the kernel attaches to serve a hook. */
export type Attachment =
  | {
    readonly kind: 'syscall';
    readonly syscall: string;
    /** The syscall number on this architecture (undefined when Vigil's tables do not know it). */
    readonly nr: number | undefined;
    /**
     * enter/exit are raw_syscalls/sys_enter and sys_exit (the syscall has no tracepoint of its own):
     * the engine must filter on id == nr; syscall-arg i is then args[i] of the raw record.
     */
    readonly raw: boolean;
    readonly enter: TracepointRef;
    readonly exit: TracepointRef;
    /** Attach the exit tracepoint too (return value, returnCopy, matchReturnArgs, portable hooks emitting at exit). */
    readonly emit: EmitPoint;
    readonly args: readonly ArgSource[];
    readonly ret?: ArgSource;
    readonly when: readonly AttachCondition[];
    /**
     * The syscall changes the caller's credentials before its exit (unshare, setns into a user
     * namespace) and the function it stands for saw the old ones: capability and namespace filters
     * are judged at the entry.
     */
    readonly credsAtEntry?: boolean;
    readonly label: string;
  }
  | {
    readonly kind: 'tracepoint';
    readonly tp: TracepointRef;
    /** The whole format (common_ fields included; a field's position is its YAML index). */
    readonly fields: readonly TracepointField[];
    readonly args: readonly ArgSource[];
    /**
     * The hooked function's return value when the tracepoint records it (capability:cap_capable's
     * ret field, a const for sched_process_exec): available at the tracepoint itself, no exit needed.
     */
    readonly ret?: ArgSource;
    readonly when: readonly AttachCondition[];
    readonly label: string;
  }
  /**
   * Tetragon `raw: true` tracepoints: the tracepoint's TP_PROTO arguments (args use reg locs:
   * index = TP_PROTO position), attached as tp_btf (BTF typed) or raw_tracepoint.
   */
  | {
    readonly kind: 'raw_tracepoint';
    readonly event: string;
    /** tp_btf is available here (else raw_tracepoint). */
    readonly btf: boolean;
    readonly args: readonly ArgSource[];
    readonly label: string;
  }
  | {
    readonly kind: 'kprobe' | 'fentry';
    readonly function: string;
    /** Attach the return probe (kretprobe / fexit) too. */
    readonly withReturn: boolean;
    readonly args: readonly ArgSource[];
    readonly ret?: ArgSource;
    readonly label: string;
  }
  | {
    readonly kind: 'lsm';
    readonly hook: string;
    readonly args: readonly ArgSource[];
    readonly label: string;
  }
  | {
    readonly kind: 'uprobe';
    readonly binary: string;
    readonly symbol: string;
    /** File offset of the symbol, as resolved from the ELF. */
    readonly offset?: number;
    readonly withReturn: boolean;
    readonly args: readonly ArgSource[];
    readonly ret?: ArgSource;
    readonly label: string;
  }
  /** Vigil's Deny on connect/sendmsg: cgroup sock_addr programs (connect4/6, sendmsg4/6). */
  | {
    readonly kind: 'sock_addr';
    readonly attach: readonly ('connect4' | 'connect6' | 'sendmsg4' | 'sendmsg6')[];
    readonly label: string;
  };

export interface ServedHook {
  /** Human label of what served it, used as the event's "hook": "tracepoint:syscalls/sys_enter_openat", "portable:open-family"... */
  readonly hook: string;
  /** A portable equivalent stands in for the written kprobe/fentry/LSM hook. */
  readonly portable: boolean;
  /** How the equivalent's meaning differs from the written hook (portable only). */
  readonly note?: string;
  readonly attachments: readonly Attachment[];
}

export interface Hook extends HookSpec {
  /** Index of the hook within its policy (stable: events name it). */
  readonly id: number;
  readonly served: ServedHook;
}

export interface CompiledPolicy {
  readonly name: string;
  readonly namespace?: string;
  readonly spec: PolicySpec;
  readonly hooks: readonly Hook[];
  /** Hooks that `ignore.callNotFound` let go, with the reason. */
  readonly skipped: readonly { readonly hook: HookSpec; readonly reason: string }[];
  /**
   * The policy is scoped to pods and matches nothing here: `hooks` is empty (the
   * hooks were resolved, to report what would not work, and then left out).
   */
  readonly dormant?: Dormant;
  /** The hooks a dormant policy would attach once pod metadata is available. */
  readonly dormantHooks?: readonly Hook[];
}

// ---------------------------------------------------------------------------
// Events (engine -> formatters): the engine decodes kernel records into these.

export type ArgValue =
  | { readonly kind: 'int'; readonly value: bigint }
  | { readonly kind: 'string'; readonly value: string; readonly truncated?: boolean }
  | { readonly kind: 'bytes'; readonly value: Uint8Array; readonly truncated?: boolean; readonly origSize?: number }
  | { readonly kind: 'file'; readonly path: string; readonly flags?: number; readonly mode?: number; readonly permission?: string }
  | {
    readonly kind: 'sock'; readonly family: number; readonly type?: number; readonly protocol: number;
    readonly saddr: string; readonly daddr: string; readonly sport: number; readonly dport: number;
    readonly state?: number; readonly cookie?: bigint;
  }
  | { readonly kind: 'sockaddr'; readonly family: number; readonly addr: string; readonly port: number }
  | {
    readonly kind: 'cred'; readonly uid: number; readonly gid: number; readonly euid: number; readonly egid: number;
    readonly suid: number; readonly sgid: number; readonly fsuid: number; readonly fsgid: number;
    readonly securebits?: number;
    readonly caps?: { readonly permitted: bigint; readonly effective: bigint; readonly inheritable: bigint };
  }
  | { readonly kind: 'caps'; readonly set: 'kernel_cap_t' | 'cap_inheritable' | 'cap_permitted' | 'cap_effective'; readonly mask: bigint }
  | { readonly kind: 'capability'; readonly value: number }
  | { readonly kind: 'syscall64'; readonly id: number; readonly abi: 'x64' | 'i386' }
  | { readonly kind: 'bpf_attr'; readonly progType: number; readonly insnCnt: number; readonly progName: string }
  | { readonly kind: 'bpf_map'; readonly mapType: number; readonly keySize: number; readonly valueSize: number; readonly maxEntries: number; readonly mapName: string }
  | { readonly kind: 'perf_event'; readonly kprobeFunc: string; readonly type: string; readonly config: bigint; readonly probeOffset: bigint }
  | { readonly kind: 'module'; readonly name: string; readonly signatureOk?: boolean; readonly tainted?: string[] }
  | { readonly kind: 'user_ns'; readonly level: number; readonly uid: number; readonly gid: number; readonly inum: bigint }
  | { readonly kind: 'skb'; readonly family: number; readonly protocol: number; readonly saddr: string; readonly daddr: string; readonly sport: number; readonly dport: number; readonly len: number }
  | { readonly kind: 'net_device'; readonly name: string }
  /** The engine could not read it (fault, or the serving hook does not have it). */
  | { readonly kind: 'unavailable'; readonly reason: string };

export type PolicyEventKind = 'kprobe' | 'tracepoint' | 'uprobe' | 'lsm' | 'loader';

/** Tetragon's KprobeAction names. */
export type EventAction =
  | 'KPROBE_ACTION_POST' | 'KPROBE_ACTION_SIGKILL' | 'KPROBE_ACTION_SIGNAL' | 'KPROBE_ACTION_OVERRIDE'
  | 'KPROBE_ACTION_NOTIFYENFORCER' | 'KPROBE_ACTION_NOPOST' | 'KPROBE_ACTION_FOLLOWFD' | 'KPROBE_ACTION_UNFOLLOWFD'
  | 'KPROBE_ACTION_COPYFD' | 'KPROBE_ACTION_GETURL' | 'KPROBE_ACTION_DNSLOOKUP' | 'KPROBE_ACTION_TRACKSOCK'
  | 'KPROBE_ACTION_UNTRACKSOCK' | 'KPROBE_ACTION_DENY' | 'KPROBE_ACTION_UNKNOWN';

export interface StackFrame {
  readonly address: bigint;
  readonly symbol?: string;
  readonly offset?: bigint;
  readonly module?: string;
}

/**
 * One Post record decoded by the engine (src/policy/events.ts) and formatted
 * by src/output/policy-events.ts. process/parent are the ProcessCache's
 * images (undefined when the cache did not know them; the formatter then
 * writes what the record itself has: pid, tid, comm).
 */
export interface PolicyEvent {
  readonly kind: PolicyEventKind;
  readonly policy: CompiledPolicy;
  readonly hook: Hook;
  /** The attachment that fired (hook.served.attachments[i]). */
  readonly attachment: Attachment;
  /** Wall clock, ns since the epoch. */
  readonly timeNs: bigint;
  readonly pid: number;
  readonly tid: number;
  readonly comm: string;
  readonly process: ProcessInfo | undefined;
  readonly parent: ProcessInfo | undefined;
  /** Parallel to hook.args. */
  readonly args: readonly ArgValue[];
  /** Parallel to hook.data (Tetragon's `data`), when the hook has some. */
  readonly data?: readonly ArgValue[];
  readonly returnValue?: ArgValue;
  readonly action: EventAction;
  /**
   * Monitor mode: the enforcing actions of the selector that were not taken
   * (`action` names the strongest, as Tetragon reports it).
   */
  readonly elided?: readonly EventAction[];
  /** The policy's mode, when it is not enforce. */
  readonly policyMode?: PolicyMode;
  /** Index of the selector whose actions ran. */
  readonly selector: number;
  readonly kernelStack?: readonly StackFrame[];
  readonly userStack?: readonly StackFrame[];
  /** process_loader events: the file mapped and its GNU build id (read from the file when the event arrives). */
  readonly loaded?: { readonly path: string; readonly buildId?: Uint8Array };
}

/** The Tetragon action name for an IR action. */
export function eventActionOf(a: ActionName): EventAction {
  switch (a) {
    case 'Post': return 'KPROBE_ACTION_POST';
    case 'NoPost': return 'KPROBE_ACTION_NOPOST';
    case 'Sigkill': return 'KPROBE_ACTION_SIGKILL';
    case 'Signal': return 'KPROBE_ACTION_SIGNAL';
    case 'Override': return 'KPROBE_ACTION_OVERRIDE';
    case 'NotifyEnforcer': return 'KPROBE_ACTION_NOTIFYENFORCER';
    case 'FollowFD': return 'KPROBE_ACTION_FOLLOWFD';
    case 'UnfollowFD': return 'KPROBE_ACTION_UNFOLLOWFD';
    case 'CopyFD': return 'KPROBE_ACTION_COPYFD';
    case 'GetUrl': return 'KPROBE_ACTION_GETURL';
    case 'DnsLookup': return 'KPROBE_ACTION_DNSLOOKUP';
    case 'TrackSock': return 'KPROBE_ACTION_TRACKSOCK';
    case 'UntrackSock': return 'KPROBE_ACTION_UNTRACKSOCK';
    case 'Deny': return 'KPROBE_ACTION_DENY';
  }
}
