// Hook resolution: which kernel hook serves each hook of a policy on THIS
// kernel. Everything is decided by probing (src/bpf/features.ts) and by
// reading what the kernel describes (tracefs formats, BTF, kallsyms), never by
// kernel version.
//
//   tracepoints         tracefs events/<cat>/<ev> (its format types the args);
//                       raw: true -> tp_btf / raw_tracepoint, args from BTF
//   kprobes syscall     syscalls/sys_enter_<name> + sys_exit_<name>; a syscall
//                       without its own tracepoint: raw_syscalls filtered by id
//   kprobes / fentries  kprobe or fentry when the kernel has them (and the
//                       function exists); else the portable equivalent
//                       (portable.ts); else an error naming both features
//   lsmhooks            BPF-LSM when the kernel has it; else the portable
//                       equivalent; else an error
//   uprobes             the binary and its symbol must exist
// Actions are checked against what serves the hook: Override needs BPF-LSM or
// kprobes with bpf_override_return; Sigkill/Signal need bpf_send_signal; Deny
// needs cgroup sock_addr programs and a connect/sendmsg hook.
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import {
  type Action, type ArgConversion, type ResolvedPath, type ArgLocation, type ArgSource, type ArgSpec, type ArgType,
  type AttachCondition, type Attachment, type CompiledPolicy, type Hook, type HookSpec, type PolicySpec,
  type Selector, type ServedHook, type SourcePos, type TracepointField, INT_ARG_TYPES, STRING_ARG_TYPES,
} from './ir.js';
import { formatDiagnostic, joinPath, type PolicyDiagnostic } from './schema.js';
import { parseFilterValues, syscallId, normaliseSyscallName } from './loader.js';
import { LOADER, PORTABLE, portableForFunction, portableForLsm, type Cond, type From, type PortableEntry, type StandIn } from './portable.js';
import { readTracepointFormat, syscallsWithTracepoints, tracefsRoot } from './tracefs.js';
import { probeAttach, probeHelper, type FeatureResult } from '../bpf/features.js';
import { native } from '../bpf/native.js';
import { Btf, memberPath, MemberPathError } from '../bpf/btf.js';
import { VIGIL_POLICY_MAX_ARGS } from '../generated/policy.js';
import { ElfFile, FdSource } from '../kernel/elf.js';
import { kernelFunctionIndex, type KernelFunctionIndex } from '../kernel/kallsyms.js';
import { syscallNumber } from '../kernel/syscalls.js';

// ---------------------------------------------------------------------------
// What the resolver asks of the kernel

export type ProbedAttach = 'kprobe' | 'fentry' | 'lsm' | 'tp_btf' | 'raw_tracepoint' | 'uprobe' | 'cgroup_sock_addr' | 'tracepoint';
export type ProbedHelper = 'bpf_send_signal' | 'bpf_override_return' | 'bpf_get_stackid';

export interface KernelEnv {
  /** The fields of a tracepoint; undefined when tracefs has no such event. */
  tracepoint(category: string, event: string): readonly TracepointField[] | undefined;
  /** Syscalls that have syscalls/sys_enter_<name> tracepoints. */
  syscallTracepoints(): ReadonlySet<string>;
  /** The native number of a syscall (undefined when unknown). */
  syscallNumber(name: string): number | undefined;
  attach(name: ProbedAttach): Promise<FeatureResult>;
  helper(name: ProbedHelper): Promise<FeatureResult>;
  /** Whether the kernel has a function of that name (kallsyms); undefined when it cannot tell. */
  kernelFunction(name: string): boolean | undefined;
  /**
   * Whether the kernel implements a syscall (false: its entry is the -ENOSYS stub, as
   * init_module without CONFIG_MODULES); undefined when it cannot tell.
   */
  syscallImplemented?(name: string): boolean | undefined;
  /** A kernel function's address (kallsyms); undefined when unknown or hidden (kptr_restrict). */
  kernelAddress?(name: string): bigint | undefined;
  /** Functions ftrace can hook (available_filter_functions); undefined when unreadable. */
  ftraceFunctions(): readonly string[] | undefined;
  /** TP_PROTO parameters of a tracepoint (from BTF btf_trace_<event>); undefined when unknown. */
  rawTracepointArgs(event: string): readonly string[] | undefined;
  /** Whether the kernel has the LSM hook (BTF bpf_lsm_<hook>); undefined when it cannot tell. */
  lsmHook(hook: string): boolean | undefined;
  /** A function symbol of an ELF file: its file offset, or why not. */
  elfSymbol(path: string, symbol: string): { offset: number } | { error: string };
  /** Whether a file exists and is readable (uprobe offsets). */
  fileReadable(path: string): { ok: true } | { error: string };
  /** A binary's sha256 and GNU build id (hex), for binaryDigests; default: read from the host's file. */
  binaryIdentity?(path: string): { sha256: string; buildId?: string } | { error: string };
  /**
   * The kernel's BTF (resolve, btfType): vmlinux's, or with `module` that
   * module's (split from vmlinux's, so it has vmlinux's types too). A string
   * says why not.
   */
  btf?(module?: string): Btf | string;
}

const VMLINUX = '/sys/kernel/btf/vmlinux';

/** Native hook kinds the portable switch turns off. */
const NATIVE_HOOKS: ReadonlySet<ProbedAttach> = new Set<ProbedAttach>(['kprobe', 'fentry', 'lsm']);

export interface LiveKernelOptions {
  /**
   * Serve every kernel-function and LSM hook by its portable equivalent, as
   * if the kernel had no kprobes, fentry or BPF-LSM: compares both paths on
   * one kernel. Default: VIGIL_PORTABLE_HOOKS=1 in the environment.
   */
  forcePortable?: boolean;
}

/** The running kernel, memoised. */
export function liveKernel(opts: LiveKernelOptions = {}): KernelEnv {
  const forcePortable = opts.forcePortable ?? process.env.VIGIL_PORTABLE_HOOKS === '1';
  const formats = new Map<string, readonly TracepointField[] | undefined>();
  let syscalls: ReadonlySet<string> | undefined;
  // One scan of kallsyms for the functions and the stubbed syscalls alike.
  let kallsyms: KernelFunctionIndex | null | undefined;
  const kallsymsIndex = (): KernelFunctionIndex | null => {
    if (kallsyms === undefined) kallsyms = kernelFunctionIndex();
    return kallsyms;
  };
  const readKallsyms = (): Map<string, bigint> | null => {
    const fns = kallsymsIndex()?.functions;
    return fns?.size ? fns : null;
  };
  let ftrace: readonly string[] | null | undefined;
  let btf: Btf | null | undefined;
  const modules = new Map<string, Btf | string>();
  const vmlinux = (): Btf | undefined => {
    if (btf === undefined) {
      try {
        btf = Btf.fromFile(VMLINUX);
      } catch {
        btf = null;
      }
    }
    return btf ?? undefined;
  };
  return {
    tracepoint(category, event) {
      const key = `${category}/${event}`;
      if (!formats.has(key)) formats.set(key, readTracepointFormat(category, event));
      return formats.get(key);
    },
    syscallTracepoints() {
      syscalls ??= syscallsWithTracepoints();
      return syscalls;
    },
    syscallNumber: (name) => syscallNumber(name),
    attach: async (name) => (forcePortable && NATIVE_HOOKS.has(name)
      ? { status: 'unsupported', available: false, reason: 'turned off: portable hooks forced (--portable-hooks / VIGIL_PORTABLE_HOOKS=1)' }
      : probeAttach(name)),
    helper: (name) => probeHelper(name),
    kernelFunction(name) {
      const k = readKallsyms();
      if (k === null) return undefined;
      // Compiler clones (.isra.0, .constprop.0) still name the function.
      return k.has(name) || [...['.isra.0', '.constprop.0', '.part.0', '.cold']].some((s) => k.has(name + s));
    },
    syscallImplemented(name) {
      const stubs = kallsymsIndex()?.unimplementedSyscalls;
      return stubs === undefined ? undefined : !stubs.has(name);
    },
    kernelAddress(name) {
      const a = readKallsyms()?.get(name);
      return a ? a : undefined;
    },
    ftraceFunctions() {
      if (ftrace === undefined) {
        const root = tracefsRoot();
        try {
          if (!('path' in root)) throw new Error(root.reason);
          ftrace = readFileSync(`${root.path}/available_filter_functions`, 'utf8').split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
        } catch {
          ftrace = null;
        }
      }
      return ftrace ?? undefined;
    },
    rawTracepointArgs(event) {
      const b = vmlinux();
      if (!b) return undefined;
      const td = b.byName(`btf_trace_${event}`, 'TYPEDEF');
      if (!td || td.type_id === undefined) return undefined;
      const proto = b.resolve(b.resolve(td.type_id).type_id ?? 0);
      if (proto.kind !== 'FUNC_PROTO') return undefined;
      // The first parameter is the program's context (void *__data).
      return (proto.params ?? []).slice(1).map((p) => btfTypeName(b, p.type_id));
    },
    lsmHook(hook) {
      try {
        return native().btfFindId(VMLINUX, `bpf_lsm_${hook}`, 'FUNC') > 0;
      } catch {
        return undefined;
      }
    },
    elfSymbol(path, symbol) {
      let src: FdSource;
      try {
        src = FdSource.open(path);
      } catch (e) {
        return { error: `cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
      }
      try {
        const fn = ElfFile.parse(src, path).functions(src, [symbol]).get(symbol);
        return fn ? { offset: fn.offset } : { error: `${path} has no function symbol "${symbol}" (in .symtab or .dynsym)` };
      } catch (e) {
        return { error: (e as Error).message };
      } finally {
        src.close();
      }
    },
    fileReadable(path) {
      try {
        FdSource.open(path).close();
        return { ok: true };
      } catch (e) {
        return { error: `cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
      }
    },
    btf(module) {
      const b = vmlinux();
      if (!b) return `the kernel's BTF (${VMLINUX}) cannot be read`;
      if (module === undefined) return b;
      if (!modules.has(module)) {
        const file = `/sys/kernel/btf/${module}`;
        let m: Btf | string;
        if (!/^[\w-]+$/.test(module) || !existsSync(file)) m = `module ${module}'s BTF is not loaded on this kernel (no ${file}: the module is not loaded, or built without BTF)`;
        else {
          try {
            m = Btf.fromFile(file, VMLINUX);
          } catch (e) {
            m = `module ${module}'s BTF (${file}) cannot be read: ${(e as Error).message}`;
          }
        }
        modules.set(module, m);
      }
      return modules.get(module)!;
    },
  };
}

/** Return types a uprobe reads as a string from the user memory the returned pointer names. */
const RETURNED_STRINGS: ReadonlySet<string> = new Set(['string']);

/** The sha256 of a file's content and its GNU build id (when it is an ELF file that has one). */
export function hostBinaryIdentity(path: string): { sha256: string; buildId?: string } | { error: string } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return { error: `cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  const hash = createHash('sha256');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } catch (e) {
    return { error: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  } finally {
    closeSync(fd);
  }
  let buildId: string | undefined;
  try {
    const src = FdSource.open(path);
    try {
      buildId = ElfFile.parse(src, path).buildId;
    } finally {
      src.close();
    }
  } catch {
    // Not an ELF file: no build id (the sha256 still identifies it).
  }
  return { sha256: hash.digest('hex'), ...(buildId ? { buildId } : {}) };
}

function btfTypeName(b: Btf, id: number): string {
  let stars = '';
  let t = b.byId(id);
  for (let i = 0; i < 16; i++) {
    if (t.kind === 'PTR') {
      stars += '*';
      if (!t.type_id) return `void ${stars}`;
      t = b.byId(t.type_id);
    } else if (['CONST', 'VOLATILE', 'RESTRICT', 'TYPE_TAG'].includes(t.kind) && t.type_id) {
      t = b.byId(t.type_id);
    } else break;
  }
  const kind = t.kind === 'STRUCT' ? 'struct ' : t.kind === 'UNION' ? 'union ' : t.kind === 'ENUM' || t.kind === 'ENUM64' ? 'enum ' : '';
  return `${kind}${t.name || 'void'}${stars ? ` ${stars}` : ''}`;
}

// ---------------------------------------------------------------------------
// Results

export interface ResolveResult {
  readonly policy?: CompiledPolicy;
  readonly diagnostics: readonly PolicyDiagnostic[];
}

/** A policy could not be resolved on this kernel; `diagnostics` says where and why. */
export class PolicyResolveError extends Error {
  override readonly name = 'PolicyResolveError';
  constructor(readonly diagnostics: readonly PolicyDiagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
  }
}

class Fail extends Error {
  constructor(readonly diag: PolicyDiagnostic) {
    super(diag.message);
  }
}

function fail(pos: SourcePos, path: string, message: string): never {
  throw new Fail({ pos, path, message });
}

function unavailable(f: FeatureResult): string {
  return f.reason;
}

// ---------------------------------------------------------------------------
// Argument types

const KERNEL_ONLY_TYPES: ReadonlySet<ArgType> = new Set<ArgType>([
  'cred', 'linux_binprm', 'skb', 'module', 'load_info', 'net_device', 'user_namespace', 'kernel_cap_t',
  'cap_inheritable', 'cap_permitted', 'cap_effective', 'bpf_prog', 'iov_iter', 'kiocb', 'dentry', 'path', 'file',
  'sock', 'bpf_map', 'perf_event',
]);
const FD_TYPES: ReadonlySet<ArgType> = new Set<ArgType>(['fd', 'file', 'path', 'dentry', 'kiocb', 'sock', 'socket']);
const USER_STRUCT_TYPES: ReadonlySet<ArgType> = new Set<ArgType>(['bpf_attr', 'bpf_map', 'perf_event']);

/** The type `auto` stands for, from a C type. */
function autoType(cType: string, size: number, signed: boolean): ArgType {
  const c = cType.replace(/\bconst\b|\bvolatile\b/g, '').trim();
  if (/^(unsigned\s+)?char\s*\*$/.test(c) || c.startsWith('__data_loc char')) return 'string';
  if (/^struct file\s*\*$/.test(c)) return 'file';
  if (/^struct path\s*\*$/.test(c)) return 'path';
  if (/^struct dentry\s*\*$/.test(c)) return 'dentry';
  if (/^struct sock\s*\*$/.test(c)) return 'sock';
  if (/^struct socket\s*\*$/.test(c)) return 'socket';
  if (/^struct sk_buff\s*\*$/.test(c)) return 'skb';
  if (/^struct sockaddr\s*\*$/.test(c)) return 'sockaddr';
  if (/^struct sockaddr_un\s*\*$/.test(c)) return 'sockaddr_un';
  if (/^(const\s+)?struct cred\s*\*$/.test(c)) return 'cred';
  if (/^struct linux_binprm\s*\*$/.test(c)) return 'linux_binprm';
  if (/^struct net_device\s*\*$/.test(c)) return 'net_device';
  if (/\*$/.test(c)) return 'uint64';
  // Syscall format fields are all 8 bytes, unsigned: the C type says more.
  const named: Readonly<Record<string, ArgType>> = {
    'int': 'int', 'signed int': 'int', 'pid_t': 'int', 'key_serial_t': 'int', 'clockid_t': 'int', 'timer_t': 'int',
    'unsigned int': 'uint32', 'uid_t': 'uint32', 'gid_t': 'uint32', 'qid_t': 'uint32', 'umode_t': 'uint32', 'mode_t': 'uint32',
    'u32': 'uint32', '__u32': 'uint32', 's32': 'int', '__s32': 'int', 'long': 'long', 'off_t': 'long', 'loff_t': 'long',
    'unsigned long': 'uint64', 'size_t': 'size_t', 'ssize_t': 'long', 'u64': 'uint64', '__u64': 'uint64', 's64': 'int64',
    '__s64': 'int64', 'aio_context_t': 'uint64', 'key_t': 'int',
  };
  const byName = named[c];
  if (byName) return byName;
  switch (size) {
    case 1: return signed ? 'int8' : 'uint8';
    case 2: return signed ? 'int16' : 'uint16';
    case 4: return signed ? 'int' : 'uint32';
    default: return signed ? 'int64' : 'uint64';
  }
}

/** For a syscall argument: how the engine reads the declared type from the raw u64. */
function syscallConversion(type: ArgType, field: TracepointField | undefined, where: string, pos: SourcePos, path: string): ArgConversion {
  const pointer = field ? field.pointer : undefined;
  if (type === 'sockaddr' || type === 'sockaddr_un') return 'user-sockaddr';
  if (USER_STRUCT_TYPES.has(type)) {
    if (pointer === false) fail(pos, path, `type ${type} needs a pointer to the user's struct, but ${where} is ${field!.cType}`);
    return 'user-struct';
  }
  if (FD_TYPES.has(type)) {
    if (pointer === true && type !== 'path') fail(pos, path, `type ${type} reads an fd, but ${where} is a pointer (${field!.cType})`);
    if (pointer === true) return 'string';
    return 'fd';
  }
  if (type === 'filename') return pointer === false ? fail(pos, path, `type filename needs a string pointer, but ${where} is ${field!.cType}`) : 'string';
  if (STRING_ARG_TYPES.has(type) || type === 'char_buf' || type === 'char_iovec') {
    if (pointer === false) fail(pos, path, `type ${type} needs a pointer to user memory, but ${where} is ${field!.cType}`);
    return 'none';
  }
  if (KERNEL_ONLY_TYPES.has(type)) {
    fail(pos, path, `type ${type} is a kernel structure; syscall arguments come from user space (${where} is ${field?.cType ?? 'a register'})`);
  }
  return 'none';
}

function retype(args: readonly ArgSpec[], types: readonly ArgType[]): ArgSpec[] {
  return args.map((a, i) => (a.type === types[i] ? a : { ...a, type: types[i]! }));
}

/** Re-parses filters whose argument type was `auto`. */
function reparseSelectors(h: HookSpec, args: readonly ArgSpec[], spec: PolicySpec): Selector[] {
  const lists = new Map(spec.lists.map((l) => [l.name, l]));
  return h.selectors.map((s, si) => ({
    ...s,
    matchArgs: s.matchArgs.map((f, fi) => {
      if (h.args[f.argPos]?.type !== 'auto') return f;
      const type = args[f.argPos]!.type;
      const r = parseFilterValues(f.operator, type, f.raw, { lists });
      if (!r.ok) fail(f.pos, `${h.path}.selectors[${si}].matchArgs[${fi}]`, `${r.message} (argument ${args[f.argPos]!.index} is ${type})`);
      return { ...f, values: r.values };
    }),
  }));
}

// ---------------------------------------------------------------------------
// The resolver

interface Served {
  served: ServedHook;
  args: ArgSpec[];
}

class Resolver {
  constructor(private readonly spec: PolicySpec, private readonly env: KernelEnv) {}

  async resolve(h: HookSpec): Promise<{ hooks: { spec: HookSpec; served: Served }[]; skipped?: string }> {
    switch (h.kind) {
      case 'syscall': return this.syscallHook(h);
      case 'tracepoint': return { hooks: [{ spec: h, served: this.tracepointHook(h) }] };
      case 'kfunc': return this.kfuncHook(h);
      case 'lsm': return { hooks: [{ spec: h, served: await this.lsmHook(h) }] };
      case 'loader': return { hooks: [{ spec: h, served: this.portable(h, LOADER, 'loader events are read from tracepoints here') }] };
      case 'uprobe': {
        const skipped = this.digestCheck(h);
        return skipped ? { hooks: [], skipped } : { hooks: [{ spec: h, served: await this.uprobeHook(h) }] };
      }
    }
  }

  // --- syscalls ------------------------------------------------------------

  private async syscallHook(h: HookSpec): Promise<{ hooks: { spec: HookSpec; served: Served }[]; skipped?: string }> {
    const t = h.target;
    if (t.kind !== 'syscall') throw new Error('unreachable');
    const list = h.fromList ? this.spec.lists.find((l) => l.name === h.fromList) : undefined;
    if (list?.type === 'generated_syscalls') {
      if (h.args.length > 0) fail(h.pos, joinPath(h.path, 'args'), `list "${list.name}" is generated (every syscall): syscalls differ in their arguments, so it takes no args`);
      const names = [...this.env.syscallTracepoints()].sort();
      if (names.length === 0) fail(list.pos, `${h.path}.call`, `list "${list.name}" is generated from tracefs events/syscalls, which has none here (${'reason' in tracefsRoot() ? (tracefsRoot() as { reason: string }).reason : 'CONFIG_FTRACE_SYSCALLS off'})`);
      return {
        hooks: names.map((name) => {
          const sub: HookSpec = { ...h, target: { kind: 'syscall', name, written: `sys_${name}` }, functionName: `sys_${name}` };
          return { spec: sub, served: this.syscall(sub, name, 'native') };
        }),
      };
    }
    const sc = normaliseSyscallName(t.written) ?? { name: t.name, abi: 'native' as const };
    // A syscall the kernel only stubs (-ENOSYS) has no tracepoint, so serving it would put
    // raw_syscalls on every syscall of the host to see calls that cannot succeed. Tetragon's
    // ignore.callNotFound says the policy does not want them: the hook is skipped, and said.
    if (h.ignoreCallNotFound && sc.abi === 'native' && !this.env.syscallTracepoints().has(t.name) &&
      this.env.syscallImplemented?.(t.name) === false) {
      return { hooks: [], skipped: `syscall ${t.name} is not implemented by this kernel (its entry is the -ENOSYS stub; ignore.callNotFound)` };
    }
    return { hooks: [{ spec: h, served: this.syscall(h, t.name, sc.abi) }] };
  }

  private syscall(h: HookSpec, name: string, abi: 'native' | 'ia32', note?: string): Served {
    const where = joinPath(h.path, 'call');
    if (abi === 'ia32') {
      fail(h.pos, where, `${h.functionName} is a 32-bit compat syscall: the syscall tracepoints do not fire for compat calls, and kprobes are what would serve it; hook the native ${name} instead`);
    }
    const hasTp = this.env.syscallTracepoints().has(name);
    const nr = this.env.syscallNumber(name);
    let fields: readonly TracepointField[] | undefined;
    let raw = false;
    if (hasTp) fields = this.env.tracepoint('syscalls', `sys_enter_${name}`);
    if (!fields) {
      if (nr === undefined) {
        fail(h.pos, where, `no syscall "${name}" here: tracefs has no syscalls/sys_enter_${name} and this architecture's syscall table does not know it`);
      }
      if (!this.env.tracepoint('raw_syscalls', 'sys_enter')) {
        fail(h.pos, where, `syscall ${name} has no tracepoint of its own and raw_syscalls/sys_enter is missing from tracefs`);
      }
      raw = true;
    }
    // Fields after common_* and __syscall_nr are the arguments.
    const argFields = fields ? fields.slice(fields.findIndex((f) => f.name === '__syscall_nr') + 1) : undefined;
    const nargs = argFields ? argFields.length : 6;
    const types: ArgType[] = [];
    const sources: ArgSource[] = h.args.map((a, i) => {
      const ap = `${h.path}.args[${i}]`;
      if (a.index >= nargs) {
        fail(a.pos, joinPath(ap, 'index'), `${name} has ${nargs} argument(s)${argFields ? ` (${argFields.map((f) => f.name).join(', ')})` : ''}; index ${a.index} is past them`);
      }
      const field = argFields?.[a.index];
      const type = a.type === 'auto' ? (field ? autoType(field.cType, 8, field.signed) : 'uint64') : a.type;
      types.push(type);
      const desc = field ? `argument ${a.index} of ${name} (${field.cType} ${field.name})` : `argument ${a.index} of ${name}`;
      if (a.resolve) {
        // A syscall's pointer arguments are user memory; the struct is the format's C type (or btfType).
        const param = field ? this.namedType(field.cType, a, ap) : { error: `${desc}: its C type is unknown (the syscall has no tracepoint format); give btfType` };
        return { loc: { at: 'syscall-arg', index: a.index }, conv: 'none', resolve: this.resolvePath(a, ap, param, true, desc) };
      }
      const conv = syscallConversion(type, field, desc, a.pos, joinPath(ap, 'type'));
      const src: ArgSource = { loc: { at: 'syscall-arg', index: a.index }, conv };
      if (type === 'char_buf' || type === 'char_iovec') {
        if (a.returnCopy) return { ...src, size: { at: 'syscall-ret' } };
        if (a.sizeArgIndex !== undefined) {
          if (a.sizeArgIndex >= nargs) fail(a.pos, joinPath(ap, 'sizeArgIndex'), `sizeArgIndex ${a.sizeArgIndex + 1} names argument ${a.sizeArgIndex}, past the ${nargs} of ${name}`);
          return { ...src, size: { at: 'syscall-arg', index: a.sizeArgIndex } };
        }
      }
      if ((type === 'sockaddr' || type === 'sockaddr_un') && a.sizeArgIndex !== undefined) return { ...src, size: { at: 'syscall-arg', index: a.sizeArgIndex } };
      return src;
    });
    const args = retype(h.args, types);
    let ret: ArgSource | undefined;
    if (h.return) {
      const rt = h.returnArg?.type ?? 'int';
      ret = { loc: { at: 'syscall-ret' }, conv: FD_TYPES.has(rt) ? 'fd' : 'none' };
    }
    const emit = needsExit(h) ? 'exit' : 'enter';
    const enter = raw ? { category: 'raw_syscalls', event: 'sys_enter' } : { category: 'syscalls', event: `sys_enter_${name}` };
    const exit = raw ? { category: 'raw_syscalls', event: 'sys_exit' } : { category: 'syscalls', event: `sys_exit_${name}` };
    if (!raw && emit === 'exit' && !this.env.tracepoint('syscalls', `sys_exit_${name}`)) {
      fail(h.pos, where, `syscall ${name} has syscalls/sys_enter_${name} but no sys_exit_${name} in tracefs`);
    }
    const label = raw ? `tracepoint:raw_syscalls/sys_${emit} (id ${nr})` : `tracepoint:${enter.category}/${emit === 'exit' ? exit.event : enter.event}`;
    const attachments: Attachment[] = [{ kind: 'syscall', syscall: name, nr, raw, enter, exit, emit, args: sources, ret, when: [], label }];
    return {
      served: {
        hook: raw ? `tracepoint:raw_syscalls/sys_${emit} (id ${nr})` : attachments[0]!.label,
        portable: false,
        note: note ?? (raw ? `${name} has no tracepoint of its own: served by raw_syscalls filtered by syscall number ${nr}` : undefined),
        attachments,
      },
      args,
    };
  }

  // --- tracepoints -----------------------------------------------------------

  private tracepointHook(h: HookSpec): Served {
    const t = h.target;
    if (t.kind !== 'tracepoint') throw new Error('unreachable');
    const where = h.path;
    if (t.raw) return this.rawTracepoint(h, t.event);
    const fields = this.env.tracepoint(t.category, t.event);
    if (!fields) {
      const root = tracefsRoot();
      fail(h.pos, joinPath(where, 'event'), 'path' in root
        ? `tracepoint ${t.category}/${t.event} does not exist here (no ${root.path}/events/${t.category}/${t.event})`
        : `tracepoint ${t.category}/${t.event}: ${root.reason}`);
    }
    const types: ArgType[] = [];
    const sources = h.args.map((a, i): ArgSource => {
      const ap = `${h.path}.args[${i}]`;
      const f = fields[a.index];
      if (!f) {
        fail(a.pos, joinPath(ap, 'index'), `${t.category}/${t.event} has ${fields.length} fields (${fields.map((x, j) => `${j}:${x.name}`).join(', ')}); index ${a.index} is past them`);
      }
      const type = a.type === 'auto' ? autoType(f.cType, f.size, f.signed) : a.type;
      types.push(type);
      if (type === 'sockaddr_un' && t.category !== 'syscalls') {
        fail(a.pos, joinPath(ap, 'type'), `type sockaddr_un is read from the caller's struct sockaddr: on syscall hooks and uprobes, not on ${t.category}/${t.event}`);
      }
      if ((STRING_ARG_TYPES.has(type) || type === 'char_buf') && !f.dataLoc && !f.pointer && f.arrayLen === undefined) {
        fail(a.pos, joinPath(ap, 'type'), `type ${type} needs a string: field ${a.index} (${f.cType} ${f.name}) is not a pointer, array or __data_loc`);
      }
      if (INT_ARG_TYPES.has(type) && (f.dataLoc || (f.arrayLen !== undefined && type !== 'syscall64'))) {
        fail(a.pos, joinPath(ap, 'type'), `type ${type} is an integer: field ${a.index} (${f.cType} ${f.name}) is not`);
      }
      return { loc: { at: 'tp-field', field: f }, conv: 'none' };
    });
    const label = `tracepoint:${t.category}/${t.event}`;
    return {
      served: { hook: label, portable: false, attachments: [{ kind: 'tracepoint', tp: { category: t.category, event: t.event }, fields, args: sources, when: [], label }] },
      args: retype(h.args, types),
    };
  }

  private rawTracepoint(h: HookSpec, event: string): Served {
    // Checked lazily in resolveHooks (async probes); here only the prototype.
    const params = this.env.rawTracepointArgs(event);
    if (!params) fail(h.pos, joinPath(h.path, 'event'), `raw tracepoint ${event}: the kernel's BTF has no btf_trace_${event} (no such tracepoint, or no BTF at ${VMLINUX})`);
    const types: ArgType[] = [];
    const sources = h.args.map((a, i): ArgSource => {
      const p = params[a.index];
      if (p === undefined) {
        fail(a.pos, joinPath(`${h.path}.args[${i}]`, 'index'), `raw tracepoint ${event} has ${params.length} argument(s) (${params.join(', ')}); index ${a.index} is past them`);
      }
      types.push(a.type === 'auto' ? autoType(p, 8, false) : a.type);
      if (a.resolve) {
        const desc = `argument ${a.index} of raw tracepoint ${event} (${p})`;
        return { loc: { at: 'reg', index: a.index }, conv: 'none', resolve: this.resolvePath(a, `${h.path}.args[${i}]`, this.protoParam(`btf_trace_${event}`, a.index + 1, 'TYPEDEF'), false, desc) };
      }
      return { loc: { at: 'reg', index: a.index }, conv: 'none' };
    });
    const label = `raw_tracepoint:${event}`;
    return {
      served: { hook: label, portable: false, attachments: [{ kind: 'raw_tracepoint', event, btf: true, args: sources, label }] },
      args: retype(h.args, types),
    };
  }

  // --- kernel functions ------------------------------------------------------

  private async kfuncHook(h: HookSpec): Promise<{ hooks: { spec: HookSpec; served: Served }[]; skipped?: string }> {
    const t = h.target;
    if (t.kind !== 'kfunc') throw new Error('unreachable');
    const [kprobe, fentry] = await Promise.all([this.env.attach('kprobe'), this.env.attach('fentry')]);
    const list = h.fromList ? this.spec.lists.find((l) => l.name === h.fromList) : undefined;
    if (list?.type === 'generated_ftrace') {
      if (!kprobe.available && !fentry.available) {
        fail(h.pos, joinPath(h.path, 'call'), `list "${list.name}" is a generated_ftrace list (pattern ${list.pattern ?? ''}): its kernel functions can only be hooked with kprobes or fentry, and this kernel has neither (kprobe: ${unavailable(kprobe)}; fentry: ${unavailable(fentry)})`);
      }
      const all = this.env.ftraceFunctions();
      if (!all) fail(h.pos, joinPath(h.path, 'call'), `list "${list.name}" is generated from ftrace's available_filter_functions, which cannot be read here`);
      const re = new RegExp(list.pattern ?? '^$');
      const fns = [...new Set(all.filter((f) => re.test(f)))].sort();
      if (fns.length === 0) fail(list.pos, joinPath(h.path, 'call'), `list "${list.name}": no kernel function matches ${list.pattern ?? ''}`);
      return {
        hooks: fns.map((fn) => {
          const sub: HookSpec = { ...h, target: { kind: 'kfunc', function: fn }, functionName: fn };
          return { spec: sub, served: this.nativeKfunc(sub, fn, kprobe.available && h.section !== 'fentries' ? 'kprobe' : fentry.available ? 'fentry' : 'kprobe') };
        }),
      };
    }
    const fn = t.function;
    // A syscall's entry function (__x64_sys_openat with syscall: false) is its syscall.
    const sc = /^__(x64|arm64)_sys_/.test(fn) ? normaliseSyscallName(fn, false) : undefined;
    if (sc) {
      return { hooks: [{ spec: h, served: this.syscall(h, sc.name, sc.abi, `${fn} is the entry of syscall ${sc.name}: served by its tracepoints`) }] };
    }
    const exists = this.env.kernelFunction(fn);
    if (exists === false && h.ignoreCallNotFound) return { hooks: [], skipped: `${fn} is not in this kernel (ignore.callNotFound)` };
    // A function this kernel does not have (renamed, or newer than it: security_bpf_map_create is
    // security_bpf_map_alloc before 6.9) is served by its portable equivalent where Vigil knows one.
    const equivalent = portableForFunction(fn);
    if (exists === false && equivalent && (kprobe.available || fentry.available)) {
      return { hooks: [{ spec: h, served: this.portable(h, equivalent, `kernel function ${fn} is not in this kernel (not in /proc/kallsyms)`) }] };
    }
    // Override on a security_* function where kprobes cannot override (no bpf_override_return, as in
    // Debian's kernels): its BPF-LSM hook takes the same arguments and enforces by its return value.
    const overrides = h.selectors.some((sel) => [...sel.matchActions, ...sel.matchReturnActions].some((a) => a.action === 'Override'));
    if (overrides && fn.startsWith('security_') && exists !== false) {
      const [lsm, or] = await Promise.all([this.env.attach('lsm'), this.env.helper('bpf_override_return')]);
      const hook = fn.slice('security_'.length);
      if (lsm.available && !(kprobe.available && or.available) && this.env.lsmHook(hook) === true) {
        const served = await this.lsmHook({ ...h, target: { kind: 'lsm', hook } });
        return {
          hooks: [{
            spec: h,
            served: {
              ...served,
              served: { ...served.served, note: `Override on ${fn}: served by its BPF-LSM hook ${hook} (the same arguments), ` +
                `which enforces by its return value; kprobes cannot override here (bpf_override_return: ${unavailable(or)})` },
            },
          }],
        };
      }
    }
    const prefer: ('kprobe' | 'fentry')[] = h.section === 'fentries' ? ['fentry', 'kprobe'] : ['kprobe', 'fentry'];
    for (const kind of prefer) {
      const f = kind === 'kprobe' ? kprobe : fentry;
      if (!f.available) continue;
      if (exists === false) fail(h.pos, joinPath(h.path, 'call'), `kernel function ${fn} does not exist here (not in /proc/kallsyms); set ignore.callNotFound to skip it`);
      return { hooks: [{ spec: h, served: this.nativeKfunc(h, fn, kind) }] };
    }
    const entry = portableForFunction(fn);
    if (entry) return { hooks: [{ spec: h, served: this.portable(h, entry, `kprobe: ${unavailable(kprobe)}; fentry: ${unavailable(fentry)}`) }] };
    if (exists === false) {
      fail(h.pos, joinPath(h.path, 'call'), `kernel function ${fn} does not exist here (not in /proc/kallsyms)${h.ignoreCallNotFound ? '' : '; set ignore.callNotFound to skip it'}`);
    }
    fail(h.pos, joinPath(h.path, 'call'), `${fn}: hooking a kernel function needs kprobes or fentry, and this kernel has neither (kprobe: ${unavailable(kprobe)}; fentry: ${unavailable(fentry)}); Vigil knows no portable equivalent for ${fn} (docs/policy.md lists those it knows)`);
  }

  private nativeKfunc(h: HookSpec, fn: string, kind: 'kprobe' | 'fentry'): Served {
    const types: ArgType[] = [];
    const sources = h.args.map((a, i): ArgSource => {
      if (a.type === 'auto') fail(a.pos, joinPath(`${h.path}.args[${i}]`, 'type'), 'type auto for kernel functions needs BTF function prototypes, which Vigil does not read yet: give the type');
      if (a.index > 5) fail(a.pos, joinPath(`${h.path}.args[${i}]`, 'index'), `${kind} arguments come from registers: index 0-5, not ${a.index}`);
      if (a.type === 'sockaddr_un') fail(a.pos, joinPath(`${h.path}.args[${i}]`, 'type'), `type sockaddr_un (a kernel struct sockaddr_un) is not captured by Vigil's engine on ${kind} hooks`);
      types.push(a.type);
      if (a.resolve) {
        const ap = `${h.path}.args[${i}]`;
        return { loc: { at: 'reg', index: a.index }, conv: 'none', resolve: this.resolvePath(a, ap, this.protoParam(fn, a.index, 'FUNC'), false, `argument ${a.index} of ${fn}`) };
      }
      const src: ArgSource = { loc: { at: 'reg', index: a.index }, conv: a.type === 'fd' ? 'fd' : 'none' };
      if ((a.type === 'char_buf' || a.type === 'char_iovec') && a.sizeArgIndex !== undefined) return { ...src, size: { at: 'reg', index: a.sizeArgIndex } };
      if ((a.type === 'char_buf' || a.type === 'char_iovec') && a.returnCopy) return { ...src, size: { at: 'ret' } };
      return src;
    });
    const ret: ArgSource | undefined = h.return ? { loc: { at: 'ret' }, conv: 'none' } : undefined;
    const label = `${kind}:${fn}`;
    return {
      served: { hook: label, portable: false, attachments: [{ kind, function: fn, withReturn: needsExit(h), args: sources, ret, label }] },
      args: retype(h.args, types),
    };
  }

  // --- LSM hooks -------------------------------------------------------------

  private async lsmHook(h: HookSpec): Promise<Served> {
    const t = h.target;
    if (t.kind !== 'lsm') throw new Error('unreachable');
    const lsm = await this.env.attach('lsm');
    if (lsm.available) {
      if (this.env.lsmHook(t.hook) === false) fail(h.pos, joinPath(h.path, 'hook'), `LSM hook ${t.hook} does not exist here (BTF has no bpf_lsm_${t.hook})`);
      const types: ArgType[] = [];
      const sources = h.args.map((a, i): ArgSource => {
        if (a.type === 'auto') fail(a.pos, joinPath(`${h.path}.args[${i}]`, 'type'), 'type auto for LSM hooks needs BTF prototypes, which Vigil does not read yet: give the type');
        if (a.type === 'sockaddr_un') fail(a.pos, joinPath(`${h.path}.args[${i}]`, 'type'), 'type sockaddr_un (a kernel struct sockaddr_un) is not captured by Vigil\'s engine on LSM hooks');
        types.push(a.type);
        if (a.resolve) {
          return { loc: { at: 'reg', index: a.index }, conv: 'none', resolve: this.resolvePath(a, `${h.path}.args[${i}]`, this.protoParam(`bpf_lsm_${t.hook}`, a.index, 'FUNC'), false, `argument ${a.index} of LSM hook ${t.hook}`) };
        }
        return { loc: { at: 'reg', index: a.index }, conv: 'none' };
      });
      const label = `lsm:${t.hook}`;
      return { served: { hook: label, portable: false, attachments: [{ kind: 'lsm', hook: t.hook, args: sources, label }] }, args: retype(h.args, types) };
    }
    const entry = portableForLsm(t.hook);
    if (entry) return this.portable(h, entry, `lsm: ${unavailable(lsm)}`);
    fail(h.pos, joinPath(h.path, 'hook'), `LSM hook ${t.hook} needs BPF-LSM, which is not available here (${unavailable(lsm)}); Vigil knows no portable equivalent for ${t.hook}`);
  }

  // --- portable equivalents ----------------------------------------------------

  private portable(h: HookSpec, entry: PortableEntry, why: string): Served {
    const written = h.target.kind === 'lsm' ? `LSM hook ${h.target.hook}` : h.functionName;
    const types: ArgType[] = h.args.map((a, i) => {
      const ap = `${h.path}.args[${i}]`;
      const pa = entry.args[a.index];
      if (!pa) fail(a.pos, joinPath(ap, 'index'), `${written} has ${entry.args.length} argument(s) (${entry.args.map((x) => x.c).join(', ')}); index ${a.index} is past them`);
      if (a.type === 'nop') return 'nop';
      // The type of what resolve ends at, checked against BTF where the stand-in is made.
      if (a.resolve) return a.type;
      if (a.type === 'auto') {
        if (pa.types.length === 0) fail(a.pos, joinPath(ap, 'type'), `argument ${a.index} of ${written} (${pa.c}) is not available from its portable equivalent (${entry.name})`);
        return pa.types[0]!;
      }
      // A stand-in giving the caller's struct sockaddr gives an AF_UNIX one as sockaddr_un too.
      if (a.type === 'sockaddr_un' && pa.types.includes('sockaddr')) return a.type;
      if (!pa.types.includes(a.type)) {
        fail(a.pos, joinPath(ap, 'type'), pa.types.length === 0
          ? `argument ${a.index} of ${written} (${pa.c}) is not available from its portable equivalent (${entry.name}); use type nop or drop it`
          : `argument ${a.index} of ${written} is ${pa.c}; its portable equivalent (${entry.name}) gives it as ${pa.types.join(', ')}, not ${a.type}`);
      }
      return a.type;
    });
    const attachments: Attachment[] = [];
    const missing: string[] = [];
    for (const s of entry.standIns) {
      const a = this.standIn(h, s, types);
      if (typeof a === 'string') missing.push(a);
      // Its exit sees the credentials the syscall gave: capability and namespace filters are judged at its entry.
      else attachments.push(entry.changesCreds && a.kind === 'syscall' ? { ...a, credsAtEntry: true } : a);
    }
    if (attachments.length === 0) {
      fail(h.pos, joinPath(h.path, h.target.kind === 'lsm' ? 'hook' : 'call'), `${written}: no hook can serve it here: ${why}; its portable equivalent (${entry.name}) is missing too (${missing.join('; ')})`);
    }
    if (h.return && entry.standIns.some((s) => !s.ret)) {
      fail(h.pos, joinPath(h.path, 'return'), `the return value of ${written} is not available from its portable equivalent (${entry.name}), which serves it from ${describeStandIns(entry)}${entry.noReturn ? `: ${entry.noReturn}` : ''}`);
    }
    // Filters on an argument a stand-in lacks would never match there.
    h.selectors.forEach((sel, si) => sel.matchArgs.forEach((f, fi) => {
      for (const a of attachments) {
        const src = 'args' in a ? a.args[f.argPos] : undefined;
        if (src?.loc.at === 'none') {
          fail(f.pos, `${h.path}.selectors[${si}].matchArgs[${fi}]`, `argument ${h.args[f.argPos]!.index} of ${written} is not available on ${a.label}, one of the hooks serving it (${src.loc.reason})`);
        }
      }
    }));
    const partial = missing.length > 0 ? ` Not on this kernel: ${missing.join('; ')}.` : '';
    return {
      served: { hook: `portable:${entry.name}`, portable: true, note: `${entry.note}${partial}`, attachments },
      args: retype(h.args, types),
    };
  }

  /** One stand-in as an attachment, or why it is missing here. */
  private standIn(h: HookSpec, s: StandIn, types: readonly ArgType[]): Attachment | string {
    if ('syscall' in s) {
      const name = s.syscall;
      const hasTp = this.env.syscallTracepoints().has(name) && this.env.tracepoint('syscalls', `sys_enter_${name}`) !== undefined;
      const nr = this.env.syscallNumber(name);
      if (!hasTp && nr === undefined) return `syscall ${name} (no syscalls/sys_enter_${name})`;
      if (!hasTp && !this.env.tracepoint('raw_syscalls', 'sys_enter')) return `syscall ${name} (no tracepoint)`;
      const raw = !hasTp;
      // A condition on the function an fd's ioctl (or write) goes to needs that function's address.
      const addresses = new Map<string, bigint>();
      for (const c of s.when ?? []) {
        if (!('fdOp' in c)) continue;
        const a = this.env.kernelAddress?.(c.fn);
        if (a === undefined) return `${name}(2) on files whose ${c.op} is ${c.fn} (its address is not in /proc/kallsyms, or is hidden by kernel.kptr_restrict)`;
        addresses.set(c.fn, a);
      }
      const emit = s.emit === 'exit' || needsExit(h) ? 'exit' : 'enter';
      const label = raw ? `tracepoint:raw_syscalls/sys_enter (id ${nr})` : `tracepoint:syscalls/sys_${emit}_${name}`;
      return {
        kind: 'syscall', syscall: name, nr, raw,
        enter: raw ? { category: 'raw_syscalls', event: 'sys_enter' } : { category: 'syscalls', event: `sys_enter_${name}` },
        exit: raw ? { category: 'raw_syscalls', event: 'sys_exit' } : { category: 'syscalls', event: `sys_exit_${name}` },
        emit,
        args: h.args.map((a, i) => (a.resolve
          ? this.portableResolved(h, i, s.args[a.index], undefined, `${name}(2)`)
          : fromSource(s.args[a.index], types[i]!, undefined, `${name}(2)`))),
        ret: s.ret ? fromSource(s.ret, h.returnArg?.type ?? 'int', undefined, `${name}(2)`) : undefined,
        when: (s.when ?? []).map((c) => condition(c, undefined, addresses)),
        label,
      };
    }
    const [category, event] = s.tracepoint;
    const fields = this.env.tracepoint(category, event);
    if (!fields) return `tracepoint ${category}/${event}`;
    for (const f of [...s.args, s.ret]) {
      if (f && 'field' in f && !fields.some((x) => x.name === f.field)) return `tracepoint ${category}/${event} has no field ${f.field}`;
    }
    return {
      kind: 'tracepoint', tp: { category, event }, fields,
      args: h.args.map((a, i) => (a.resolve
        ? this.portableResolved(h, i, s.args[a.index], fields, `${category}/${event}`)
        : fromSource(s.args[a.index], types[i]!, fields, `${category}/${event}`))),
      ret: h.return && s.ret ? fromSource(s.ret, h.returnArg?.type ?? 'int', fields, `${category}/${event}`) : undefined,
      when: (s.when ?? []).map((c) => condition(c, fields)),
      label: `tracepoint:${category}/${event}`,
    };
  }

  // --- resolve ---------------------------------------------------------------

  private kernelBtf(a: ArgSpec, ap: string): Btf {
    const b = this.env.btf?.();
    if (b === undefined || typeof b === 'string') {
      fail(a.pos, joinPath(ap, 'resolve'), `resolve "${a.resolve}" needs the kernel's BTF: ${b ?? 'not available'}`);
    }
    return b;
  }

  /** Parameter `index` of a BTF function prototype (a FUNC, or a typedef of a pointer to one: btf_trace_*). */
  private protoParam(name: string, index: number, kind: 'FUNC' | 'TYPEDEF'): { typeId: number } | { error: string } {
    const b = this.env.btf?.();
    if (b === undefined || typeof b === 'string') return { error: b ?? 'the kernel\'s BTF is not available' };
    if (kind === 'FUNC') {
      const p = b.funcParam(name, index);
      return 'error' in p ? p : { typeId: p.typeId };
    }
    const td = b.byName(name, 'TYPEDEF');
    if (!td || td.type_id === undefined) return { error: `the kernel's BTF has no ${name}` };
    const proto = b.resolve(b.resolve(td.type_id).type_id ?? 0);
    const p = proto.params?.[index];
    return p ? { typeId: p.type_id } : { error: `${name} has no parameter ${index}` };
  }

  /** The BTF type a tracepoint format's C type names ("struct sockaddr *"), as a pointer's target. */
  private namedType(cType: string, a: ArgSpec, ap: string): { typeId: number; pointee: true } | { error: string } {
    const m = /^(?:const\s+)?((?:struct|union)\s+\w+|\w+)\s*(?:__user\s*)?\*$/.exec(cType.replace(/\s+/g, ' ').trim());
    if (!m) return { error: `its C type ${cType} is not a pointer to a struct` };
    const t = this.kernelBtf(a, ap).typeNamed(m[1]!);
    return t ? { typeId: t.id, pointee: true } : { error: `the kernel's BTF has no ${m[1]} (the target of ${cType})` };
  }

  /**
   * An argument's `resolve` as steps against BTF. `param` is the argument's
   * C type (a pointer whose target the path starts in), or, with `pointee`,
   * that target itself; btfType replaces it (the argument then points to a
   * btfType). `user`: the argument's pointers are user memory.
   */
  private resolvePath(a: ArgSpec, ap: string, param: { typeId: number; pointee?: true } | { error: string }, user: boolean, desc: string): ResolvedPath {
    const path = a.resolve!;
    let btf = this.kernelBtf(a, ap);
    let root: number;
    if (a.btfType) {
      const bare = a.btfType.replace(/^(struct|union)\s+/, '');
      let t = btf.typeNamed(a.btfType);
      if (!t && a.btfTypeModule) {
        const mb = this.env.btf!(a.btfTypeModule);
        if (typeof mb === 'string') fail(a.pos, joinPath(ap, 'btfTypeModule'), `btfType ${a.btfType}: ${mb}; vmlinux's BTF has no ${bare} either`);
        btf = mb;
        t = btf.typeNamed(a.btfType);
        if (!t) fail(a.pos, joinPath(ap, 'btfType'), `btfType ${a.btfType} is not in module ${a.btfTypeModule}'s BTF nor in vmlinux's`);
      }
      if (!t) fail(a.pos, joinPath(ap, 'btfType'), `btfType ${a.btfType} is not in the kernel's BTF (vmlinux)${a.btfTypeModule ? '' : '; a module\'s type needs btfTypeModule'}`);
      root = t.id;
    } else {
      if ('error' in param) fail(a.pos, joinPath(ap, 'resolve'), `resolve "${path}" on ${desc}: ${param.error}`);
      if (param.pointee) root = param.typeId;
      else {
        const pt = btf.resolve(param.typeId);
        if (pt.kind !== 'PTR' || !pt.type_id) fail(a.pos, joinPath(ap, 'resolve'), `resolve "${path}" follows members from a pointer, but ${desc} is ${btf.describe(param.typeId)}`);
        root = pt.type_id;
      }
    }
    let mp;
    try {
      mp = memberPath(btf, root, path);
    } catch (e) {
      if (e instanceof MemberPathError) fail(a.pos, joinPath(ap, 'resolve'), `resolve "${path}" from ${btf.describe(root)}: ${e.message}`);
      throw e;
    }
    const end = mp.end;
    const what = `resolve "${path}" ends at ${end.c}`;
    // type auto: the type of what the path ends at (Tetragon takes the member's BTF type too).
    let type = a.type;
    if (type === 'auto') {
      const target = end.kind === 'object' ? end.c : end.pointer ? end.c.replace(/ \*$/, '') : undefined;
      const known = Object.entries(KERNEL_STRUCT_OF).find(([, c]) => c === target)?.[0] as ArgType | undefined;
      if (end.kind === 'scalar' && !end.pointer) {
        const bits = end.bits <= 8 ? 8 : end.bits <= 16 ? 16 : end.bits <= 32 ? 32 : 64;
        type = `${end.signed ? 'int' : 'uint'}${bits}` as ArgType;
      } else if (/^(?:const )?(?:unsigned |signed )?char(\[\d+\]| \*)$/.test(end.c)) type = 'string';
      else if (known) type = known;
      else fail(a.pos, joinPath(ap, 'type'), `${what}; type auto reads integers, strings and the kernel structs Vigil knows (${Object.keys(KERNEL_STRUCT_OF).join(', ')}): give the type`);
    }
    const structName = KERNEL_STRUCT_OF[type];
    if (type === 'string' || type === 'filename') {
      const chars = end.kind === 'object' ? /^(?:const )?(?:unsigned |signed )?char\[\d+\]$/.test(end.c) : end.pointer && /char \*$/.test(end.c);
      if (!chars) fail(a.pos, joinPath(ap, 'type'), `${what}; type ${type} needs a char array or a char *`);
    } else if (structName) {
      const ok = end.kind === 'object' ? end.c === structName : end.pointer && end.c === `${structName} *`;
      if (!ok) fail(a.pos, joinPath(ap, 'type'), `${what}; type ${type} needs ${structName} (or a pointer to one)`);
    } else if (!INT_ARG_TYPES.has(type)) {
      fail(a.pos, joinPath(ap, 'type'), `${what}; Vigil reads a resolved member as an integer type, string, or a kernel struct it knows (${Object.keys(KERNEL_STRUCT_OF).join(', ')}), not ${type}`);
    }
    // A char * or a struct pointer is loaded (8 bytes); a char array or an embedded struct is its address.
    const load = end.kind === 'scalar' && (INT_ARG_TYPES.has(type) || end.pointer)
      ? { size: end.size, signed: end.signed, shift: end.shift, bits: end.bits }
      : undefined;
    return { path, steps: mp.steps, ...(load ? { load } : {}), user, c: end.c, ...(a.type === 'auto' ? { type } : {}) };
  }

  /** A resolved argument of a portable hook: the stand-in must have the argument's pointer itself. */
  private portableResolved(h: HookSpec, i: number, f: From | undefined, fields: readonly TracepointField[] | undefined, where: string): ArgSource {
    const a = h.args[i]!;
    const ap = `${h.path}.args[${i}]`;
    const written = h.target.kind === 'lsm' ? `LSM hook ${h.target.hook}` : h.functionName;
    const fn = h.target.kind === 'lsm' ? `bpf_lsm_${h.target.hook}` : h.functionName;
    const desc = `argument ${a.index} of ${written}`;
    if (f && 'sc' in f && (f.conv === undefined || f.conv === 'none' || f.conv === 'user-sockaddr' || f.conv === 'user-struct')) {
      // The syscall's user pointer to the same bytes the kernel function is given a copy of.
      return { loc: { at: 'syscall-arg', index: f.sc }, conv: 'none', resolve: this.resolvePath(a, ap, this.protoParam(fn, a.index, 'FUNC'), true, desc) };
    }
    if (f && 'field' in f && (f.conv === undefined || f.conv === 'none')) {
      const field = fields?.find((x) => x.name === f.field);
      if (field?.pointer || field?.size === 8) {
        return { loc: { at: 'tp-field', field: field! }, conv: 'none', resolve: this.resolvePath(a, ap, this.protoParam(fn, a.index, 'FUNC'), false, desc) };
      }
    }
    // A path that leaves the argument for the current task at once (bprm->mm->owner is the task
    // doing the exec) is read from the current task where the stand-in runs in that task.
    const entry = PORTABLE_TASK_PATHS.find((x) => x.functions.test(fn) && x.arg === a.index && a.resolve!.startsWith(`${x.prefix}.`));
    if (entry && !a.btfType) {
      // The whole path is checked against the function's own types first, as Tetragon would.
      this.resolvePath(a, ap, this.protoParam(fn, a.index, 'FUNC'), false, desc);
      const b = this.kernelBtf(a, ap);
      const task = b.typeNamed('struct task_struct');
      if (task) {
        const rest: ArgSpec = { ...a, resolve: a.resolve!.slice(entry.prefix.length + 1) };
        return { loc: { at: 'current-task' }, conv: 'none', resolve: { ...this.resolvePath(rest, ap, { typeId: task.id, pointee: true }, false, 'the current task'), path: a.resolve! } };
      }
    }
    fail(a.pos, joinPath(ap, 'resolve'), `resolve "${a.resolve}" follows ${desc} as a pointer, but ${where}, which stands in for ${written}, does not give that pointer (${f ? describeFrom(f) : 'it does not have the argument'})`);
  }

  /** `data` entries' sources on an attachment, after the arguments'. */
  dataSources(h: HookSpec, a: Attachment): ArgSource[] {
    return (h.data ?? []).map((d, j): ArgSource => {
      const dp = `${h.path}.data[${j}]`;
      if (d.source === 'current_task') {
        const b = this.kernelBtf(d, dp);
        const task = b.typeNamed('struct task_struct');
        if (!task) fail(d.pos, joinPath(dp, 'source'), 'the kernel\'s BTF has no struct task_struct');
        return { loc: { at: 'current-task' }, conv: 'none', resolve: this.resolvePath(d, dp, { typeId: task.id, pointee: true }, false, 'the current task') };
      }
      switch (a.kind) {
        case 'syscall': {
          const src: ArgSource = { loc: { at: 'syscall-arg', index: d.index }, conv: 'none' };
          if (!d.resolve) return src;
          const fields = this.env.tracepoint('syscalls', `sys_enter_${a.syscall}`);
          const argFields = fields ? fields.slice(fields.findIndex((f) => f.name === '__syscall_nr') + 1) : undefined;
          const field = argFields?.[d.index];
          const desc = `argument ${d.index} of ${a.syscall}`;
          const param = field ? this.namedType(field.cType, d, dp) : { error: `${desc}: its C type is unknown; give btfType` };
          return { ...src, resolve: this.resolvePath(d, dp, param, true, desc) };
        }
        case 'kprobe': case 'fentry': {
          const src: ArgSource = { loc: { at: 'reg', index: d.index }, conv: 'none' };
          return d.resolve ? { ...src, resolve: this.resolvePath(d, dp, this.protoParam(a.function, d.index, 'FUNC'), false, `argument ${d.index} of ${a.function}`) } : src;
        }
        case 'uprobe':
          return { loc: { at: 'reg', index: d.index }, conv: 'none' };
        default:
          fail(d.pos, dp, `data from argument ${d.index} is not read on ${a.label}, which serves ${h.functionName}: use source current_task, or hook the function natively`);
      }
    });
  }

  // --- uprobes ---------------------------------------------------------------

  /**
   * binaryDigests: the binary is hooked only when its sha256 (or GNU build id) is one of them.
   * A mismatch is an error, or with ignore.digestVerificationFailure the hook is skipped (the
   * reason returned). A path resolved in containers is checked there, once they are known.
   */
  private digestCheck(h: HookSpec): string | undefined {
    const t = h.target;
    if (t.kind !== 'uprobe' || !t.digests?.length || t.inContainer) return undefined;
    const id = (this.env.binaryIdentity ?? hostBinaryIdentity)(t.path);
    if ('error' in id) fail(h.pos, joinPath(h.path, 'path'), `binaryDigests: ${id.error}`);
    const have = [`sha256:${id.sha256}`, ...(id.buildId ? [`build-id:${id.buildId}`] : [])];
    if (t.digests.some((d) => have.includes(d))) return undefined;
    const why = `${t.path} matches none of binaryDigests (its sha256 is ${id.sha256}${id.buildId ? `, its build id ${id.buildId}` : ', it has no build id'})`;
    if (t.ignoreDigestFailure) return `${why}: not hooked (ignore.digestVerificationFailure)`;
    return fail(h.pos, joinPath(h.path, 'binaryDigests'), `${why}; with ignore.digestVerificationFailure: true such a binary is skipped instead`);
  }

  private async uprobeHook(h: HookSpec): Promise<Served> {
    const t = h.target;
    if (t.kind !== 'uprobe') throw new Error('unreachable');
    const up = await this.env.attach('uprobe');
    if (!up.available) fail(h.pos, joinPath(h.path, 'path'), `uprobes are not available here (${unavailable(up)})`);
    let offset: number | undefined = t.offset;
    if (t.inContainer) {
      // Resolved in each selected container's root when it starts; the host's file is not it.
    } else if (t.symbol) {
      const r = this.env.elfSymbol(t.path, t.symbol);
      if ('error' in r) fail(h.pos, t.offset === undefined ? `${h.path}.symbols` : `${h.path}.offsets`, r.error);
      offset = r.offset;
    } else {
      const r = this.env.fileReadable(t.path);
      if ('error' in r) fail(h.pos, joinPath(h.path, 'path'), r.error);
    }
    const sources = h.args.map((a, i): ArgSource => {
      if (a.index > 5) fail(a.pos, joinPath(`${h.path}.args[${i}]`, 'index'), `uprobe arguments come from registers: index 0-5, not ${a.index}`);
      if (KERNEL_ONLY_TYPES.has(a.type) && a.type !== 'file' && a.type !== 'path') {
        fail(a.pos, joinPath(`${h.path}.args[${i}]`, 'type'), `type ${a.type} is a kernel structure; a user function's arguments are user memory`);
      }
      const conv: ArgConversion = a.type === 'fd' ? 'fd' : a.type === 'sockaddr_un' ? 'user-sockaddr' : 'none';
      const src: ArgSource = { loc: { at: 'reg', index: a.index }, conv };
      if ((a.type === 'char_buf' || a.type === 'char_iovec') && a.sizeArgIndex !== undefined) return { ...src, size: { at: 'reg', index: a.sizeArgIndex } };
      if ((a.type === 'char_buf' || a.type === 'char_iovec') && a.returnCopy) return { ...src, size: { at: 'ret' } };
      return src;
    });
    // return: true (with its returnArg): the uretprobe reads the return register.
    const rt = h.returnArg?.type ?? 'int';
    if (h.return && KERNEL_ONLY_TYPES.has(rt) && rt !== 'file' && rt !== 'path') {
      fail(h.returnArg?.pos ?? h.pos, joinPath(`${h.path}.returnArg`, 'type'), `type ${rt} is a kernel structure; a user function returns user memory or a value`);
    }
    // A string returned (char *) is read from the process's memory at the return; an fd returned
    // is resolved to its file; anything else is the register's value.
    const retConv: ArgConversion = rt === 'fd' ? 'fd' : RETURNED_STRINGS.has(rt) ? 'string' : 'none';
    const ret: ArgSource | undefined = h.return ? { loc: { at: 'ret' }, conv: retConv } : undefined;
    const label = `uprobe:${t.path}:${t.symbol || `0x${(t.offset ?? 0).toString(16)}`}`;
    return {
      served: { hook: label, portable: false, attachments: [{ kind: 'uprobe', binary: t.path, symbol: t.symbol, offset, withReturn: needsExit(h), args: sources, ret, label }] },
      args: [...h.args],
    };
  }

  // --- actions -----------------------------------------------------------------

  async checkActions(h: HookSpec, served: ServedHook): Promise<ServedHook> {
    let out = served;
    const all: { a: Action; path: string }[] = [];
    h.selectors.forEach((s, si) => {
      s.matchActions.forEach((a, ai) => all.push({ a, path: `${h.path}.selectors[${si}].matchActions[${ai}]` }));
      s.matchReturnActions.forEach((a, ai) => all.push({ a, path: `${h.path}.selectors[${si}].matchReturnActions[${ai}]` }));
    });
    const kinds = new Set(served.attachments.map((a) => a.kind));
    // Monitor mode: the elided actions need no kernel support, but a Deny must still mean something here.
    h.selectors.forEach((sel, si) => (sel.elided ?? []).forEach((a) => {
      if (a.action === 'Deny' && denyTargets(served).length === 0) {
        fail(a.pos, `${h.path}.selectors[${si}]`, `Deny (Vigil) refuses connect and sendmsg with EPERM: it applies to connect, sendto and sendmsg hooks, not to ${h.functionName} (served by ${served.hook}), even in monitor mode`);
      }
    }));
    for (const { a, path } of all) {
      switch (a.action) {
        case 'Override': {
          if (kinds.has('lsm') && kinds.size === 1) break;
          if (kinds.has('kprobe') && kinds.size === 1) {
            const or = await this.env.helper('bpf_override_return');
            if (or.available) break;
            fail(a.pos, path, `Override on a kprobe needs bpf_override_return, which is not available here (${unavailable(or)})`);
          }
          const [lsm, kp, or] = await Promise.all([this.env.attach('lsm'), this.env.attach('kprobe'), this.env.helper('bpf_override_return')]);
          fail(a.pos, path, `Override needs the kernel to let a BPF program change the hooked function's result: BPF-LSM (${lsm.available ? 'available, but this hook is not an LSM hook' : unavailable(lsm)}) or kprobes with bpf_override_return (kprobe: ${kp.available ? 'available' : unavailable(kp)}; bpf_override_return: ${or.available ? 'available' : unavailable(or)}). ${h.functionName} is served by ${served.hook}, which can observe, kill (Sigkill) or signal, but not change the result.${isConnectLike(served) ? ' Vigil\'s Deny action refuses connect/sendmsg with EPERM without either.' : ''}`);
        }
        // eslint-disable-next-line no-fallthrough
        case 'Sigkill': case 'Signal': {
          const s = await this.env.helper('bpf_send_signal');
          if (!s.available) fail(a.pos, path, `${a.action} needs bpf_send_signal, which is not available here (${unavailable(s)})`);
          break;
        }
        case 'NotifyEnforcer': {
          if (a.error !== 0) {
            const [lsm, kp, or] = await Promise.all([this.env.attach('lsm'), this.env.attach('kprobe'), this.env.helper('bpf_override_return')]);
            if (!lsm.available && !(kp.available && or.available)) {
              fail(a.pos, path, `NotifyEnforcer with argError ${a.error}: the enforcer makes the enforced calls fail, which needs BPF-LSM (${unavailable(lsm)}) or kprobes with bpf_override_return (kprobe: ${kp.available ? 'available' : unavailable(kp)}; bpf_override_return: ${or.available ? 'available' : unavailable(or)}); with argError 0 and argSig only, it can signal`);
            }
          }
          if (a.signal !== undefined) {
            const s = await this.env.helper('bpf_send_signal');
            if (!s.available) fail(a.pos, path, `NotifyEnforcer with argSig needs bpf_send_signal, which is not available here (${unavailable(s)})`);
          }
          break;
        }
        case 'Deny': {
          const targets = denyTargets(served);
          if (targets.length === 0) {
            fail(a.pos, path, `Deny (Vigil) refuses connect and sendmsg with EPERM from cgroup sock_addr programs: it applies to connect, sendto and sendmsg hooks (syscalls, security_socket_connect, security_socket_sendmsg, tcp_connect), not to ${h.functionName} (served by ${served.hook})`);
          }
          const sa = await this.env.attach('cgroup_sock_addr');
          if (!sa.available) fail(a.pos, path, `Deny needs cgroup sock_addr programs, which are not available here (${unavailable(sa)})`);
          if (!out.attachments.some((x) => x.kind === 'sock_addr')) {
            out = { ...out, attachments: [...out.attachments, { kind: 'sock_addr', attach: targets, label: `cgroup:${targets.join('+')}` }] };
          }
          break;
        }
        case 'Post':
          if (a.kernelStackTrace || a.userStackTrace) {
            const st = await this.env.helper('bpf_get_stackid');
            if (!st.available) fail(a.pos, path, `stack traces need bpf_get_stackid, which is not available here (${unavailable(st)})`);
          }
          break;
        default:
          break;
      }
    }
    return out;
  }

  async kindChecks(served: ServedHook, h: HookSpec): Promise<ServedHook> {
    // Every attachment kind must be attachable here.
    for (const a of served.attachments) {
      if (a.kind === 'raw_tracepoint') {
        const [btf, raw] = await Promise.all([this.env.attach('tp_btf'), this.env.attach('raw_tracepoint')]);
        if (!btf.available && !raw.available) fail(h.pos, h.path, `raw tracepoints are not available here (tp_btf: ${unavailable(btf)}; raw_tracepoint: ${unavailable(raw)})`);
        if (!btf.available) return { ...served, attachments: served.attachments.map((x) => (x === a ? { ...a, btf: false } : x)) };
      }
    }
    return served;
  }
}

/**
 * Resolve paths a portable stand-in reads from the current task: `prefix` of
 * argument `arg` of the functions is the task itself. The exec checks:
 * bprm->mm is the new mm, whose owner mm_init_owner() set to the task doing
 * the exec, and sched:sched_process_exec runs in that task.
 */
const PORTABLE_TASK_PATHS: readonly { functions: RegExp; arg: number; prefix: string }[] = [
  { functions: /^(security_bprm_(check|creds_for_exec|creds_from_file)|bpf_lsm_bprm_(check_security|creds_for_exec|creds_from_file))$/, arg: 0, prefix: 'mm.owner' },
];

/** The kernel struct each declared type reads, when an argument's resolve ends at it. */
const KERNEL_STRUCT_OF: Partial<Record<ArgType, string>> = {
  file: 'struct file', path: 'struct path', linux_binprm: 'struct linux_binprm', sock: 'struct sock', socket: 'struct socket',
  cred: 'struct cred', user_namespace: 'struct user_namespace', skb: 'struct sk_buff', kiocb: 'struct kiocb',
  bpf_attr: 'union bpf_attr', bpf_map: 'struct bpf_map', bpf_prog: 'struct bpf_prog',
};

function describeFrom(f: From): string {
  if ('sc' in f) return f.conv === 'fd' ? `it turns syscall argument ${f.sc}, an fd, into its file or socket` : `it gives syscall argument ${f.sc}${f.conv ? ` as ${f.conv}` : ''}`;
  if ('field' in f) return `it gives field ${f.field}${f.conv ? ` as ${f.conv}` : ''}`;
  if ('cred' in f) return 'it gives the current task\'s credentials';
  if ('exe' in f) return 'it gives the executable\'s path (mm->exe_file)';
  if ('const' in f) return 'it gives a constant';
  if ('err' in f || 'ret' in f) return 'it gives the syscall\'s result';
  return 'it gives bytes of user memory';
}

function needsExit(h: HookSpec): boolean {
  return h.return || h.args.some((a) => a.returnCopy)
    || h.selectors.some((s) => s.matchReturnArgs.length > 0 || s.matchReturnActions.length > 0);
}

function describeStandIns(e: PortableEntry): string {
  return e.standIns.map((s) => ('syscall' in s ? `${s.syscall}(2) ${s.emit}` : `${s.tracepoint[0]}/${s.tracepoint[1]}`)).join(', ');
}

function loc(f: From, fields: readonly TracepointField[] | undefined): ArgLocation {
  if ('sc' in f) return { at: 'syscall-arg', index: f.sc };
  if ('ret' in f) return { at: 'syscall-ret' };
  if ('err' in f) return { at: 'syscall-err' };
  if ('field' in f) return { at: 'tp-field', field: fields!.find((x) => x.name === f.field)! };
  if ('cred' in f) return { at: 'current-cred' };
  if ('exe' in f) return { at: 'current-exe' };
  if ('cwd' in f) return { at: 'current-cwd' };
  if ('const' in f) return { at: 'const', value: f.const };
  return { at: 'user-mem', index: f.umem[0], offset: f.umem[1], size: f.umem[2] };
}

function fromSource(f: From | undefined, type: ArgType, fields: readonly TracepointField[] | undefined, where: string): ArgSource {
  if (!f || type === 'nop') return { loc: { at: 'none', reason: f ? 'type nop' : `${where} does not have it` }, conv: 'none' };
  let conv: ArgConversion = 'conv' in f && f.conv ? f.conv : 'none';
  // A string standing in for a file gives its path; a declared string type reads it as a string.
  if (conv === 'string' && (STRING_ARG_TYPES.has(type) || type === 'char_buf')) conv = 'none';
  const src: ArgSource = { loc: loc(f, fields), conv };
  if ('sc' in f && f.size !== undefined) return { ...src, size: { at: 'syscall-arg', index: f.size } };
  return src;
}

function condition(c: Cond, fields: readonly TracepointField[] | undefined, addresses: ReadonlyMap<string, bigint> = new Map()): AttachCondition {
  if ('fdSocket' in c) {
    return { test: 'fd-socket', loc: { at: 'syscall-arg', index: c.fdSocket }, families: c.families ?? [], protocol: c.protocol };
  }
  if ('fdOp' in c) {
    return { test: 'fd-op', loc: { at: 'syscall-arg', index: c.fdOp }, op: c.op, fn: c.fn, address: addresses.get(c.fn) ?? 0n };
  }
  const l: ArgLocation = 'sc' in c ? { at: 'syscall-arg', index: c.sc }
    : 'ret' in c ? { at: 'syscall-ret' }
      : 'field' in c ? { at: 'tp-field', field: fields!.find((x) => x.name === c.field)! }
        : { at: 'user-mem', index: c.umem[0], offset: c.umem[1], size: c.umem[2] };
  return { test: 'value', loc: l, op: c.op, value: c.value };
}

const DENY_SYSCALLS: Readonly<Record<string, readonly ('connect4' | 'connect6' | 'sendmsg4' | 'sendmsg6')[]>> = {
  connect: ['connect4', 'connect6'],
  sendto: ['sendmsg4', 'sendmsg6'],
  sendmsg: ['sendmsg4', 'sendmsg6'],
};

function denyTargets(served: ServedHook): ('connect4' | 'connect6' | 'sendmsg4' | 'sendmsg6')[] {
  const out = new Set<'connect4' | 'connect6' | 'sendmsg4' | 'sendmsg6'>();
  for (const a of served.attachments) {
    if (a.kind === 'syscall') for (const t of DENY_SYSCALLS[a.syscall] ?? []) out.add(t);
    if (a.kind === 'tracepoint' && a.tp.event === 'inet_sock_set_state') {
      out.add('connect4');
      out.add('connect6');
    }
    if (a.kind === 'lsm' && (a.hook === 'socket_connect')) {
      out.add('connect4');
      out.add('connect6');
    }
  }
  return [...out];
}

function isConnectLike(served: ServedHook): boolean {
  return denyTargets(served).length > 0;
}

// ---------------------------------------------------------------------------
// Public entry points

/** Resolves one policy against the kernel: every hook served, or every reason it cannot be. */
export async function resolvePolicy(spec: PolicySpec, env: KernelEnv = liveKernel()): Promise<ResolveResult> {
  const r = new Resolver(spec, env);
  const hooks: Hook[] = [];
  const skipped: { hook: HookSpec; reason: string }[] = [];
  const diagnostics: PolicyDiagnostic[] = [];
  for (const h of spec.hooks) {
    try {
      const res = await r.resolve(h);
      if (res.skipped) skipped.push({ hook: h, reason: res.skipped });
      for (const { spec: hs, served } of res.hooks) {
        let s = await r.kindChecks(served.served, hs);
        if ((hs.data ?? []).length > 0) {
          // The data entries' slots follow the arguments' (one more source per entry on each attachment).
          s = { ...s, attachments: s.attachments.map((a) => ('args' in a ? { ...a, args: [...a.args, ...r.dataSources(hs, a)] } : a)) };
          if (hs.args.length + hs.data!.length > VIGIL_POLICY_MAX_ARGS - (hs.returnArg ? 1 : 0)) {
            fail(hs.pos, joinPath(hs.path, 'data'), `${hs.args.length} arguments and ${hs.data!.length} data entries: the engine captures at most ${VIGIL_POLICY_MAX_ARGS} values per hook`);
          }
        }
        // type auto with resolve: the type of the member the path ends at.
        const first = s.attachments.find((a): a is Extract<Attachment, { args: readonly ArgSource[] }> => 'args' in a);
        served.args = served.args.map((a, i) => {
          const t = hs.args[i]!.type === 'auto' ? first?.args[i]?.resolve?.type : undefined;
          return t ? { ...a, type: t } : a;
        });
        const selectors = hs.args.some((a) => a.type === 'auto') ? reparseSelectors(hs, served.args, spec) : hs.selectors;
        const resolved: HookSpec = { ...hs, args: served.args, selectors };
        s = await r.checkActions(resolved, s);
        hooks.push({ ...resolved, id: hooks.length, served: s });
      }
    } catch (e) {
      if (e instanceof Fail) diagnostics.push(e.diag);
      else throw e;
    }
  }
  if (diagnostics.length > 0) return { diagnostics };
  if (spec.dormant) {
    // Scoped to pods, which Vigil does not know yet: resolved (so what would not work is said
    // now), then left out, so the kernel engine attaches nothing for it.
    return { policy: { name: spec.name, namespace: spec.namespace, spec, hooks: [], skipped, dormant: spec.dormant, dormantHooks: hooks }, diagnostics: [] };
  }
  // Every hook skipped (each by an ignore the policy asked for): the policy loads and watches
  // nothing on this kernel, as Tetragon's does; `skipped` says why, for the CLI and the agent.
  return { policy: { name: spec.name, namespace: spec.namespace, spec, hooks, skipped }, diagnostics: [] };
}

/** Resolves policies; throws PolicyResolveError with every diagnostic when any fails. */
export async function compilePolicies(specs: readonly PolicySpec[], env: KernelEnv = liveKernel()): Promise<CompiledPolicy[]> {
  const out: CompiledPolicy[] = [];
  const diags: PolicyDiagnostic[] = [];
  for (const s of specs) {
    const r = await resolvePolicy(s, env);
    if (r.policy) out.push(r.policy);
    diags.push(...r.diagnostics);
  }
  if (diags.length > 0) throw new PolicyResolveError(diags);
  return out;
}

/** The portable table (docs and `vigil policy hooks`). */
export { PORTABLE };
export { syscallId };
