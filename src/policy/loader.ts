// TracingPolicy files -> PolicySpec: YAML with positions (eemeli/yaml
// LineCounter, node ranges), validated against the CRD schema (schema.ts),
// then checked for meaning: operators against argument types, values parsed
// (integers, CIDRs, port ranges, capabilities, namespaces), `list:NAME`
// references resolved, argument indexes of selectors and sizeArgIndex checked.
//
// Pure: no kernel is asked. What depends on the running kernel (which hook
// serves what, generated lists, tracepoint formats, symbols of binaries) is
// hooks.ts's. Every problem is a PolicyDiagnostic naming file:line:column,
// the field path and the reason; a file with problems yields no policy.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import {
  API_VERSION, Positions, TRACING_POLICY_SCHEMA, Validator, closest, formatDiagnostic, joinPath,
  type PolicyDiagnostic, type RawAction, type RawArg, type RawArgSelector, type RawBinarySelector, type RawCapSelector,
  type RawKprobe, type RawLabelSelector, type RawPolicy, type RawSelector, type RawList, type RawUprobe, type RawSpec,
} from './schema.js';
import {
  NAMESPACE_KINDS, type Action, type ArgFilter, type ArgOperator, type ArgSpec, type ArgType, type BinaryFilter,
  type CapabilityFilter, type Dormant, type LabelSelector, type PodScope, type FilterValues, type HookSection, type HookSpec, type IntRange, type ListSpec,
  type NamespaceChangeFilter, type NamespaceFilter, type NamespaceKind, type PidFilter, type PolicyMode, type PolicySpec,
  type RateLimitScope, type Selector, type SourcePos, type CelFilter,
  INT_ARG_TYPES, PATH_ARG_TYPES, SOCK_ARG_TYPES, STRING_ARG_TYPES,
} from './ir.js';
import { parseCidr, CidrError, type Cidr } from '../kernel/addr.js';
import { parseMemberPath } from '../bpf/btf.js';
import { compileCel } from './cel.js';
import { capabilityNumber } from '../kernel/capabilities.js';
import { syscallNumber } from '../kernel/syscalls.js';

export { formatDiagnostic, type PolicyDiagnostic };

export interface PolicySource {
  /** Shown in diagnostics (a path, or "<stdin>"). */
  readonly name: string;
  readonly content: string;
}

export interface LoadResult {
  readonly policies: readonly PolicySpec[];
  /** Errors: a file with any yields no policy. */
  readonly diagnostics: readonly PolicyDiagnostic[];
  /** Things Tetragon also ignores (a field the action does not use, returnArg without return): said, not fatal. */
  readonly warnings: readonly PolicyDiagnostic[];
  readonly ok: boolean;
}

/** A policy (or several) could not be loaded; `diagnostics` says where and why. */
export class PolicyLoadError extends Error {
  override readonly name = 'PolicyLoadError';
  constructor(readonly diagnostics: readonly PolicyDiagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
  }
}

// ---------------------------------------------------------------------------
// Names and values

/** Tetragon's argument type aliases -> the IR's canonical names. */
/**
 * Why TrackSock / UntrackSock are refused. In Tetragon they keep a map from a struct sock to the process
 * that owned it, so that events on that socket in another context (softirq: a server's handshake
 * completing in tcp_set_state) name that process. Vigil has no such map, and the functions the
 * published policies track with (sk_alloc's return, sk_free, tcp_create_openreq_child) have no
 * tracepoint or syscall that stands in for them where kprobes are missing.
 */
const SOCK_TRACKING = 'socket tracking (Tetragon\'s map from a struct sock to the process that owned it, which names that '
  + 'process in events on the socket from other contexts) is not supported by Vigil\'s engine';

/** The namespace kubectl gives an object applied without -n in a context that names none. */
const DEFAULT_NAMESPACE = 'default';

const TYPE_ALIASES: Readonly<Record<string, ArgType>> = {
  sint8: 'int8', sint16: 'int16', sint32: 'int', int32: 'int', sint64: 'int64',
};

export function canonicalArgType(t: string): ArgType {
  return (TYPE_ALIASES[t] ?? t) as ArgType;
}

export type SyscallAbi = 'native' | 'ia32';

/**
 * A kernel symbol naming a syscall -> the syscall's name: sys_openat,
 * __x64_sys_openat, __arm64_sys_openat, __se_sys_openat, __do_sys_openat,
 * ksys_openat, openat -> "openat"; __ia32_sys_dup / __ia32_compat_sys_dup ->
 * "dup" (abi ia32). Undefined for names that are not of that shape when
 * `bare` is false.
 */
export function normaliseSyscallName(written: string, bare = true): { name: string; abi: SyscallAbi } | undefined {
  const m = /^(?:__(x64|arm64|ia32|ia32_compat|x32|riscv|s390x)_(?:compat_)?sys_|__se_sys_|__do_sys_|__sys_|ksys_|compat_sys_|sys_)(.+)$/.exec(written);
  if (m) return { name: m[2]!, abi: m[1]?.startsWith('ia32') ? 'ia32' : 'native' };
  if (bare && /^[a-z_][a-z0-9_]*$/.test(written)) return { name: written, abi: 'native' };
  return undefined;
}

/** Whether a kprobe `call` without `syscall:` reads as a syscall (its name has a syscall prefix). */
function looksLikeSyscall(call: string): boolean {
  return /^(?:__(?:x64|arm64|ia32|ia32_compat|x32|riscv|s390x)_(?:compat_)?sys_|__se_sys_|__do_sys_|compat_sys_|sys_)/.test(call);
}

/** The number of a syscall on this architecture (ia32: bit 31 set, as Tetragon's syscall64 ids). */
export function syscallId(name: string, abi: SyscallAbi): number | undefined {
  if (abi === 'ia32') {
    const n = syscallNumber(name, 'i386');
    return n === undefined ? undefined : (n | 0x80000000) >>> 0;
  }
  return syscallNumber(name);
}

/** Integers as Go's strconv.ParseInt(s, 0, 64) reads them: decimal, 0x, 0o, 0b, leading-0 octal, sign. */
export function parseInteger(text: string): bigint | undefined {
  const t = text.trim();
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(t);
  if (!m) return undefined;
  let body = m[2]!;
  if (/^0[0-7]+$/.test(body)) body = `0o${body.slice(1)}`;
  const v = BigInt(body);
  return m[1] === '-' ? -v : v;
}

/** "CAP_SYS_ADMIN", "SYS_ADMIN", "cap_sys_admin" or "21" -> 21. */
export function parseCapability(text: string): number | undefined {
  const t = text.trim().toUpperCase();
  const asInt = parseInteger(t);
  if (asInt !== undefined) return asInt >= 0n && asInt < 64n ? Number(asInt) : undefined;
  return capabilityNumber(t);
}

const PROTOCOLS: Readonly<Record<string, number>> = {
  IPPROTO_IP: 0, IPPROTO_ICMP: 1, IPPROTO_IGMP: 2, IPPROTO_TCP: 6, IPPROTO_UDP: 17, IPPROTO_IPV6: 41,
  IPPROTO_GRE: 47, IPPROTO_ESP: 50, IPPROTO_AH: 51, IPPROTO_ICMPV6: 58, IPPROTO_SCTP: 132, IPPROTO_UDPLITE: 136,
  IPPROTO_RAW: 255, IPPROTO_MPTCP: 262,
};
const FAMILIES: Readonly<Record<string, number>> = {
  AF_UNSPEC: 0, AF_UNIX: 1, AF_LOCAL: 1, AF_INET: 2, AF_INET6: 10, AF_NETLINK: 16, AF_PACKET: 17, AF_VSOCK: 40,
  AF_XDP: 44,
};
const TCP_STATES: Readonly<Record<string, number>> = {
  TCP_ESTABLISHED: 1, TCP_SYN_SENT: 2, TCP_SYN_RECV: 3, TCP_FIN_WAIT1: 4, TCP_FIN_WAIT2: 5, TCP_TIME_WAIT: 6,
  TCP_CLOSE: 7, TCP_CLOSE_WAIT: 8, TCP_LAST_ACK: 9, TCP_LISTEN: 10, TCP_CLOSING: 11, TCP_NEW_SYN_RECV: 12,
};

/** Rate limits as Tetragon reads them: "30" (seconds), "30s", "5m", "1h" -> ms. */
export function parseRateLimit(text: string): number | undefined {
  const m = /^(\d+)([smh]?)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] === 'm' ? 60_000 : m[2] === 'h' ? 3_600_000 : 1000;
  return n * unit;
}

// ---------------------------------------------------------------------------
// Operators against argument types

/** How an operator reads its values, or why it cannot apply to a type. */
type OperatorClass = 'int' | 'string' | 'cidr' | 'port' | 'priv' | 'protocol' | 'family' | 'state' | 'inmap' | 'caps';

const OPERATOR_ALIASES: Readonly<Record<string, ArgOperator>> = {
  GT: 'GreaterThan', LT: 'LessThan', NotSportPriv: 'NotSPortPriv',
};

function operatorClass(op: ArgOperator): OperatorClass {
  switch (op) {
    case 'Equal': case 'NotEqual': return 'string'; // refined by type below
    case 'Prefix': case 'NotPrefix': case 'Postfix': case 'NotPostfix': return 'string';
    case 'GreaterThan': case 'LessThan': case 'Mask': return 'int';
    case 'InMap': case 'NotInMap': case 'InRange': case 'NotInRange': return 'inmap';
    case 'SAddr': case 'NotSAddr': case 'DAddr': case 'NotDAddr': return 'cidr';
    case 'SPort': case 'NotSPort': case 'DPort': case 'NotDPort': return 'port';
    case 'SPortPriv': case 'NotSPortPriv': case 'DPortPriv': case 'NotDPortPriv': return 'priv';
    case 'Protocol': return 'protocol';
    case 'Family': return 'family';
    case 'State': return 'state';
    case 'CapabilitiesGained': return 'caps';
  }
}

const NEGATED: ReadonlySet<ArgOperator> = new Set<ArgOperator>([
  'NotEqual', 'NotPrefix', 'NotPostfix', 'NotInMap', 'NotInRange', 'NotSAddr', 'NotDAddr', 'NotSPort', 'NotDPort',
  'NotSPortPriv', 'NotDPortPriv',
]);

/** Types whose value is a string or path (string operators apply). */
function isStringy(t: ArgType): boolean {
  return STRING_ARG_TYPES.has(t) || PATH_ARG_TYPES.has(t) || t === 'net_device' || t === 'module' || t === 'char_iovec';
}
function isIntegral(t: ArgType): boolean {
  return INT_ARG_TYPES.has(t) || t === 'kernel_cap_t' || t === 'cap_inheritable' || t === 'cap_permitted'
    || t === 'cap_effective' || t === 'bpf_cmd';
}

export interface ValueContext {
  /** Lists of the policy, by name (InMap "list:NAME"). */
  readonly lists: ReadonlyMap<string, ListSpec>;
}

/**
 * Parses a filter's values for its operator and the argument's type. Returns
 * the values or the reason they do not fit (with the offending value's index).
 */
export function parseFilterValues(
  op: ArgOperator, type: ArgType, raw: readonly string[], ctx: ValueContext,
): { ok: true; values: FilterValues } | { ok: false; message: string; at?: number } {
  const cls = operatorClass(op);
  const bad = (message: string, at?: number): { ok: false; message: string; at?: number } => ({ ok: false, message, at });
  const ints = (parse: (s: string) => bigint | undefined, what: string): { ok: true; values: FilterValues } | { ok: false; message: string; at?: number } => {
    const out: bigint[] = [];
    for (let i = 0; i < raw.length; i++) {
      const v = parse(raw[i]!);
      if (v === undefined) return bad(`"${raw[i]}" is not ${what}`, i);
      out.push(v);
    }
    return { ok: true, values: { kind: 'int', values: out } };
  };
  const needValues = cls !== 'priv';
  if (needValues && raw.length === 0) return bad(`${op} needs at least one value`);
  if (!needValues && raw.length > 0) return bad(`${op} takes no values (it means ports 0-1023)`);

  const sockish = SOCK_ARG_TYPES.has(type);
  switch (cls) {
    case 'string': {
      if (op === 'Equal' || op === 'NotEqual') {
        if (isIntegral(type)) {
          if (type === 'syscall64') return ints((s) => syscallValue(s), 'a syscall number or name');
          if (type === 'capability') return ints((s) => { const c = parseCapability(s); return c === undefined ? undefined : BigInt(c); }, 'a capability');
          return ints(parseInteger, 'an integer');
        }
        if (!isStringy(type)) return bad(`${op} does not apply to arguments of type ${type}`);
        return { ok: true, values: { kind: 'string', values: raw } };
      }
      if (!isStringy(type)) return bad(`${op} applies to strings and paths, not to arguments of type ${type}`);
      for (let i = 0; i < raw.length; i++) if (raw[i] === '') return bad(`${op} values must not be empty`, i);
      return { ok: true, values: { kind: 'string', values: raw } };
    }
    case 'int':
      if (!isIntegral(type)) return bad(`${op} applies to integers, not to arguments of type ${type}`);
      return ints(parseInteger, 'an integer');
    case 'inmap': {
      if (!isIntegral(type)) return bad(`${op} applies to integers, not to arguments of type ${type}`);
      const ranges: IntRange[] = [];
      const isRange = op === 'InRange' || op === 'NotInRange';
      for (let i = 0; i < raw.length; i++) {
        const s = raw[i]!.trim();
        if (isRange && (!/^[^:]+:[^:]+$/.test(s) || s.startsWith('list:'))) {
          // Tetragon's writeMatchValuesRange: every value is "min:max".
          return bad(`"${s}" is not a range "min:max" (${op} takes ranges only)`, i);
        }
        if (s.startsWith('list:')) {
          const name = s.slice(5);
          const list = ctx.lists.get(name);
          if (!list) return bad(`no list "${name}" in spec.lists${hint(name, [...ctx.lists.keys()])}`, i);
          if (list.type !== 'syscalls') return bad(`list "${name}" is of type ${list.type}; InMap takes lists of type syscalls`, i);
          for (const v of list.values) {
            const n = syscallValue(v);
            if (n === undefined) return bad(`list "${name}": "${v}" is not a syscall this architecture knows`, i);
            ranges.push({ lo: n, hi: n });
          }
          continue;
        }
        const m = /^(.+?):(.+)$/.exec(s);
        const lo = parseInteger(m ? m[1]! : s) ?? (type === 'syscall64' ? syscallValue(s) : undefined);
        const hi = m ? parseInteger(m[2]!) : lo;
        if (lo === undefined || hi === undefined) return bad(`"${s}" is not an integer, a range "a:b" or "list:NAME"`, i);
        if (hi < lo) return bad(`range "${s}" is empty (end before start)`, i);
        ranges.push({ lo, hi });
      }
      return { ok: true, values: { kind: 'range', values: ranges } };
    }
    case 'cidr': {
      if (!sockish) return bad(`${op} applies to sock, socket, skb and sockaddr arguments, not to ${type}`);
      const out: Cidr[] = [];
      for (let i = 0; i < raw.length; i++) {
        try {
          out.push(parseCidr(raw[i]!));
        } catch (e) {
          if (e instanceof CidrError) return bad(e.message, i);
          throw e;
        }
      }
      return { ok: true, values: { kind: 'cidr', values: out } };
    }
    case 'port': {
      if (!sockish) return bad(`${op} applies to sock, socket, skb and sockaddr arguments, not to ${type}`);
      const out: IntRange[] = [];
      for (let i = 0; i < raw.length; i++) {
        const m = /^\s*(\d+)\s*(?:[:-]\s*(\d+)\s*)?$/.exec(raw[i]!);
        const lo = m ? Number(m[1]) : NaN;
        const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
        if (!m || lo > 65535 || hi > 65535) return bad(`"${raw[i]}" is not a port (0-65535) or a range "a:b"`, i);
        if (hi < lo) return bad(`port range "${raw[i]}" is empty (end before start)`, i);
        out.push({ lo: BigInt(lo), hi: BigInt(hi) });
      }
      return { ok: true, values: { kind: 'range', values: out } };
    }
    case 'priv':
      if (!sockish) return bad(`${op} applies to sock, socket, skb and sockaddr arguments, not to ${type}`);
      return { ok: true, values: { kind: 'none' } };
    case 'protocol': case 'family': case 'state': {
      if (!sockish) return bad(`${op} applies to sock, socket, skb and sockaddr arguments, not to ${type}`);
      const table = cls === 'protocol' ? PROTOCOLS : cls === 'family' ? FAMILIES : TCP_STATES;
      return ints((s) => {
        const t = s.trim().toUpperCase();
        const named = table[t];
        if (named !== undefined) return BigInt(named);
        const n = parseInteger(t);
        return n !== undefined && n >= 0n && n <= 65535n ? n : undefined;
      }, `a ${cls === 'protocol' ? 'protocol (IPPROTO_TCP, 6, ...)' : cls === 'family' ? 'family (AF_INET, 10, ...)' : 'TCP state (TCP_SYN_SENT, ...)'}`);
    }
    case 'caps':
      if (type !== 'cred') return bad(`${op} applies to cred arguments, not to ${type}`);
      return ints((s) => { const c = parseCapability(s); return c === undefined ? undefined : BigInt(c); }, 'a capability (CAP_SYS_ADMIN, ...)');
  }
}

function syscallValue(s: string): bigint | undefined {
  const n = parseInteger(s);
  if (n !== undefined) return n;
  const sc = normaliseSyscallName(s.trim());
  if (!sc) return undefined;
  const id = syscallId(sc.name, sc.abi);
  return id === undefined ? undefined : BigInt(id);
}

function hint(word: string, choices: readonly string[]): string {
  const c = closest(word, choices);
  return c ? ` (did you mean "${c}"?)` : '';
}

// ---------------------------------------------------------------------------
// One document -> PolicySpec

class DocReader {
  /** spec.selectorsMacros, by name, with the field path of each definition. */
  private macros = new Map<string, { sel: RawSelector; path: string }>();

  constructor(
    private readonly file: string,
    private readonly positions: Positions,
    private readonly diags: PolicyDiagnostic[],
    private readonly warnings: PolicyDiagnostic[],
  ) {}

  private warn(path: string, message: string): void {
    this.warnings.push({ pos: this.positions.keyOf(path), path, message });
  }

  private err(path: string, message: string, atKey = false): void {
    this.diags.push({ pos: atKey ? this.positions.keyOf(path) : this.positions.of(path), path, message });
  }

  private at(path: string): SourcePos {
    return this.positions.of(path);
  }

  /** Whether the field was written (a `field: ~` counts as absent, as Kubernetes takes null). */
  private given(path: string, value: unknown): boolean {
    return value !== undefined && !this.positions.isNull(path);
  }

  read(raw: RawPolicy, docPath: string): PolicySpec | undefined {
    const before = this.diags.length;
    const p = (sub: string): string => (docPath ? `${docPath}.${sub}` : sub);
    const spec = raw.spec;
    const name = raw.metadata.name;

    // Scope: pods (namespace, podSelector, containerSelector). Without pod metadata the policy matches nothing.
    const scope: string[] = [];
    let scopePos: SourcePos | undefined;
    let scopePath = '';
    let namespace: string | undefined;
    if (raw.kind === 'TracingPolicyNamespaced') {
      if (raw.metadata.namespace === undefined || raw.metadata.namespace === '') {
        // The documented way to apply one is `kubectl apply [-n NS]`, which fills in the context's
        // namespace ("default" without one). Tetragon's own file and gRPC loaders instead take an
        // empty namespace as no filter at all (sensors/handler.go updatePolicyFilter), which would
        // widen a policy written for the pods of one namespace to the whole host: Vigil does not.
        namespace = DEFAULT_NAMESPACE;
        scopePos = this.positions.keyOf(p('metadata'));
        scopePath = p('metadata');
        this.warn(p('metadata'), `a TracingPolicyNamespaced without metadata.namespace is taken to be in namespace "${DEFAULT_NAMESPACE}", ` +
          'as kubectl apply without -n puts it (Tetragon\'s own file and gRPC loaders would apply it to the whole host instead; Vigil does not widen it)');
      } else {
        namespace = raw.metadata.namespace;
        scopePos = this.positions.of(p('metadata.namespace'));
        scopePath = p('metadata.namespace');
      }
      scope.push(`a TracingPolicyNamespaced applies only to processes of pods in namespace "${namespace}"`);
      // The CRD's rule on TracingPolicyNamespaced: !has(self.spec.hostSelector), so even {} is refused.
      if (this.given(p('spec.hostSelector'), spec.hostSelector)) {
        this.err(p('spec.hostSelector'), 'TracingPolicyNamespaced should have a null spec.hostSelector', true);
      }
    } else if (raw.metadata.namespace !== undefined) {
      this.err(p('metadata.namespace'), 'a TracingPolicy is cluster-wide and has no namespace; use kind TracingPolicyNamespaced', true);
    }
    for (const sel of ['podSelector', 'containerSelector'] as const) {
      const sp = p(`spec.${sel}`);
      const v = spec[sel];
      if (!this.given(sp, v)) continue;
      this.labelSelector(v!, sp);
      const what = sel === 'podSelector' ? 'pods' : 'containers';
      const req = describeLabelSelector(v!);
      scope.push(`spec.${sel} selects ${what}${req ? ` (${req})` : ' (all of them, no host process)'}`);
      if (!scopePos) {
        scopePos = this.positions.keyOf(sp);
        scopePath = sp;
      }
    }
    if (raw.kind !== 'TracingPolicyNamespaced' && spec.hostSelector && (spec.hostSelector.matchLabels || spec.hostSelector.matchExpressions)) {
      this.err(p('spec.hostSelector'), 'hostSelector may only be null or {} (all hosts)');
    }
    if (this.given(p('spec.nodeSelector'), spec.nodeSelector)) {
      const ns = spec.nodeSelector!;
      this.labelSelector(ns, p('spec.nodeSelector'));
      if (Object.keys(ns.matchLabels ?? {}).length > 0 || (ns.matchExpressions ?? []).length > 0) {
        this.err(p('spec.nodeSelector'), 'nodeSelector loads the policy only on Kubernetes nodes with these labels; Vigil runs on one host, which has no node labels: remove it (or use {} for every node)', true);
      }
    }
    if ((spec.state ?? []).length > 0) {
      this.err(p('spec.state'), 'state objects (UpdateState actions, matchStates filters) are not supported by Vigil\'s engine', true);
    }
    (spec.usdts ?? []).forEach((_, i) => {
      this.err(p(`spec.usdts[${i}]`), 'USDT probes are not supported by Vigil (it does not read .note.stapsdt); hook the function with a uprobe instead');
    });

    const mode = this.options(spec.options ?? [], p('spec.options'));

    this.macros = new Map();
    for (const [m, sel] of Object.entries(spec.selectorsMacros ?? {})) {
      const mp = p(`spec.selectorsMacros.${m}`);
      if ((sel.macros ?? []).length > 0) this.err(joinPath(mp, 'macros'), 'a macro definition cannot use other macros (Tetragon)', true);
      for (const k of ['matchCEL', 'matchCmdArgs', 'matchStates', 'matchWorkloads'] as const) {
        if (sel[k] !== undefined) this.warn(joinPath(mp, k), `Tetragon ignores ${k} in a macro (it appends only the filter and action lists of a macro to the selectors using it); so does Vigil`);
      }
      this.macros.set(m, { sel, path: mp });
    }

    const lists = this.lists(spec.lists ?? [], p('spec.lists'));
    const ctx: ValueContext = { lists };

    const hooks: HookSpec[] = [];
    const kprobeLike = (section: 'kprobes' | 'fentries'): void => {
      (spec[section] ?? []).forEach((k, i) => hooks.push(...this.kprobe(k, section, p(`spec.${section}[${i}]`), ctx)));
    };
    kprobeLike('kprobes');
    kprobeLike('fentries');
    (spec.tracepoints ?? []).forEach((t, i) => {
      const hp = p(`spec.tracepoints[${i}]`);
      const h = this.hook(t, hp, ctx, {
        kind: 'tracepoint', section: 'tracepoints',
        target: { kind: 'tracepoint', category: t.subsystem, event: t.event, raw: t.raw ?? false },
        functionName: `${t.subsystem}/${t.event}`, ret: false,
      });
      if (h) hooks.push(h);
    });
    (spec.lsmhooks ?? []).forEach((l, i) => {
      const hp = p(`spec.lsmhooks[${i}]`);
      const h = this.hook(l, hp, ctx, {
        kind: 'lsm', section: 'lsmhooks', target: { kind: 'lsm', hook: l.hook }, functionName: l.hook, ret: false,
      });
      if (h) hooks.push(h);
    });
    (spec.uprobes ?? []).forEach((u, i) => hooks.push(...this.uprobe(u, p(`spec.uprobes[${i}]`), ctx, spec)));
    if (spec.loader) {
      // Tetragon's loader sensor: every executable file mapped into a process, as process_loader events.
      const h = this.hook({ args: [{ index: 0, type: 'file' }] }, p('spec.loader'), ctx, {
        kind: 'loader', section: 'loader', target: { kind: 'loader' }, functionName: 'loader', ret: false,
        pos: this.positions.keyOf(p('spec.loader')),
      });
      if (h) hooks.push(h);
    }
    (spec.enforcers ?? []).forEach((e, i) => {
      e.calls.forEach((c, j) => {
        const cp = p(`spec.enforcers[${i}].calls[${j}]`);
        if (c.startsWith('list:') && !lists.has(c.slice(5))) this.err(cp, `no list "${c.slice(5)}" in spec.lists${hint(c.slice(5), [...lists.keys()])}`);
      });
    });
    const hasEnforcer = (spec.enforcers ?? []).length > 0;
    hooks.forEach((h) => h.selectors.forEach((s) => [...s.matchActions, ...s.matchReturnActions].forEach((a) => {
      if (a.action === 'NotifyEnforcer' && !hasEnforcer) {
        this.diags.push({ pos: a.pos, path: '', message: 'NotifyEnforcer needs an enforcer: add spec.enforcers with the calls it enforces' });
      }
    })));
    if (hooks.length === 0 && this.diags.length === before) {
      this.err(p('spec'), 'the policy hooks nothing: give kprobes, tracepoints, lsmhooks or uprobes');
    }
    const options: Record<string, string> = {};
    for (const o of spec.options ?? []) options[o.name] = o.value ?? '';
    if (this.diags.length > before) return undefined;
    const annotations = raw.metadata.annotations ?? {};
    const labels = raw.metadata.labels ?? {};
    const dormant: Dormant | undefined = scope.length > 0 ? { reason: scope.join('; '), pos: scopePos ?? this.at(docPath || '') } : undefined;
    const podScope: PodScope | undefined = dormant ? {
      ...(namespace !== undefined ? { namespace } : {}),
      ...(this.given(p('spec.podSelector'), spec.podSelector) ? { podSelector: labelSelectorOf(spec.podSelector!) } : {}),
      ...(this.given(p('spec.containerSelector'), spec.containerSelector) ? { containerSelector: labelSelectorOf(spec.containerSelector!) } : {}),
    } : undefined;
    if (dormant) {
      this.warnings.push({
        pos: dormant.pos, path: scopePath,
        message: `policy "${name}" is loaded but matches nothing until pod metadata is available: ${dormant.reason}; its hooks run only ` +
          'for the processes of those pods, in the cgroups a CRI runtime names (vigil run --cri-socket, the agent\'s cri.socket), and none is attached without one (it never applies host-wide)',
      });
    }
    return {
      name, kind: raw.kind, namespace, labels, annotations,
      description: annotations['description'] ?? labels['description'],
      hooks: mode === 'monitor' ? hooks.map(monitorHook) : hooks,
      lists: [...lists.values()], options, file: this.file, pos: this.at(docPath || ''),
      ...(mode ? { mode } : {}), ...(dormant ? { dormant, scope: podScope } : {}),
    };
  }

  /**
   * spec.options, as Tetragon's getSpecOptions reads them (pkg/sensors/tracing/options.go):
   * a list of {name, value}; known names with a bad value are errors, unknown names are
   * ignored (said here), the last of a name wins.
   */
  private options(raw: readonly { name: string; value?: string }[], base: string): PolicyMode | undefined {
    let mode: PolicyMode | undefined;
    const seen = new Map<string, number>();
    raw.forEach((o, i) => {
      const op = joinPath(base, i);
      const vp = joinPath(op, 'value');
      const value = o.value ?? '';
      const prev = seen.get(o.name);
      if (prev !== undefined) this.warn(joinPath(op, 'name'), `option "${o.name}" is also given at ${base}[${prev}]: the last one counts (as in Tetragon)`);
      seen.set(o.name, i);
      switch (o.name) {
        case 'policy-mode':
          if (value !== 'enforce' && value !== 'monitor') {
            this.err(vp, `invalid mode "${value}": policy-mode takes "enforce" or "monitor"`);
          } else {
            mode = value === 'monitor' ? 'monitor' : undefined;
          }
          break;
        case 'disable-kprobe-multi':
        case 'disable-uprobe-multi':
          if (!GO_BOOLS.has(value)) this.err(vp, `"${value}" is not a boolean (${o.name} takes true/false, 1/0, t/f as Go's strconv.ParseBool)`);
          else this.warn(joinPath(op, 'name'), `${o.name} has no effect in Vigil, which attaches every ${o.name === 'disable-kprobe-multi' ? 'kprobe' : 'uprobe'} on its own`);
          break;
        case 'override-method':
          if (value !== 'fmod-ret' && value !== 'override-return') this.err(vp, `invalid override method "${value}": override-method takes "fmod-ret" or "override-return"`);
          else this.warn(joinPath(op, 'name'), 'override-method has no effect in Vigil: Override is done by BPF-LSM or bpf_override_return, whichever the hook allows');
          break;
        case 'uprobe-heap-size':
          if (!/^[0-9]+$/.test(value) || Number(value) <= 0) this.err(vp, `"${value}" is not a positive integer (uprobe-heap-size)`);
          else this.warn(joinPath(op, 'name'), 'uprobe-heap-size has no effect in Vigil (its uprobes need no per-policy heap map)');
          break;
        default:
          this.warn(joinPath(op, 'name'), `unknown option "${o.name}" is ignored, as Tetragon ignores it (known: ${KNOWN_OPTIONS.join(', ')})`);
      }
    });
    return mode;
  }

  /** A Kubernetes label selector: label keys and values, and the operators' value rules. */
  private labelSelector(sel: RawLabelSelector, sp: string): void {
    for (const k of Object.keys(sel.matchLabels ?? {})) {
      const why = labelKeyProblem(k);
      if (why) this.err(joinPath(joinPath(sp, 'matchLabels'), k), `label key "${k}": ${why}`, true);
    }
    (sel.matchExpressions ?? []).forEach((e, i) => {
      const ep = joinPath(joinPath(sp, 'matchExpressions'), i);
      const why = labelKeyProblem(e.key);
      if (why) this.err(joinPath(ep, 'key'), `label key "${e.key}": ${why}`);
      const n = (e.values ?? []).length;
      if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) this.err(ep, `${e.operator} needs at least one value`);
      if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0) this.err(joinPath(ep, 'values'), `${e.operator} takes no values`);
      (e.values ?? []).forEach((v, j) => {
        if (v.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v)) {
          this.err(joinPath(joinPath(ep, 'values'), j), `"${v}" is not a label value (at most 63 letters, digits, "-", "_", ".", starting and ending with a letter or digit)`);
        }
      });
    });
  }

  private lists(raw: readonly RawList[], base: string): Map<string, ListSpec> {
    const out = new Map<string, ListSpec>();
    raw.forEach((l, i) => {
      const lp = joinPath(base, i);
      if (out.has(l.name)) {
        this.err(joinPath(lp, 'name'), `list "${l.name}" is defined twice`);
        return;
      }
      const type = (l.type ?? 'syscalls') as ListSpec['type'];
      const values = l.values ?? [];
      if (type === 'syscalls') {
        if (values.length === 0) this.err(lp, `list "${l.name}" of type syscalls needs values`);
        values.forEach((v, j) => {
          const sc = normaliseSyscallName(v);
          if (!sc) this.err(joinPath(joinPath(lp, 'values'), j), `"${v}" is not a syscall name (sys_openat, __x64_sys_openat, openat, ...)`);
        });
        if (l.pattern !== undefined) this.err(joinPath(lp, 'pattern'), 'pattern is only for generated_ftrace lists', true);
      } else if (type === 'generated_syscalls') {
        if (values.length > 0) this.err(joinPath(lp, 'values'), 'a generated_syscalls list is generated (every syscall of the kernel): it takes no values', true);
      } else {
        if (l.pattern === undefined) this.err(lp, 'a generated_ftrace list needs a pattern (a regular expression over kernel function names)');
        else {
          try {
            new RegExp(l.pattern);
          } catch (e) {
            this.err(joinPath(lp, 'pattern'), `not a regular expression: ${(e as Error).message}`);
          }
        }
        if (values.length > 0) this.err(joinPath(lp, 'values'), 'a generated_ftrace list is generated from its pattern: it takes no values', true);
      }
      out.set(l.name, { name: l.name, type, values, pattern: l.pattern, pos: this.at(lp) });
    });
    return out;
  }

  /** `return: true` needs a returnArg: the CRD's rule "ReturnArg not specified with Return=true." (kprobes, fentries, uprobes). */
  private returnRule(raw: { return?: boolean; returnArg?: RawArg }, hp: string): void {
    if (raw.return === true && !this.given(joinPath(hp, 'returnArg'), raw.returnArg)) {
      this.err(joinPath(hp, 'return'), 'return: true needs returnArg, the type of the return value (Tetragon: "ReturnArg not specified with Return=true.")', true);
    }
  }

  private kprobe(k: RawKprobe, section: 'kprobes' | 'fentries', kp: string, ctx: ValueContext): HookSpec[] {
    const out: HookSpec[] = [];
    const callPath = joinPath(kp, 'call');
    this.returnRule(k, kp);
    if (k.call.startsWith('list:')) {
      const name = k.call.slice(5);
      const list = ctx.lists.get(name);
      if (!list) {
        this.err(callPath, `no list "${name}" in spec.lists${hint(name, [...ctx.lists.keys()])}`);
        return out;
      }
      if (list.type === 'syscalls') {
        if (k.syscall === false) this.err(joinPath(kp, 'syscall'), `list "${name}" is of type syscalls: the calls are syscalls`);
        for (const v of list.values) {
          const sc = normaliseSyscallName(v);
          if (!sc) continue; // reported with the list
          const h = this.hook(k, kp, ctx, {
            kind: 'syscall', section, target: { kind: 'syscall', name: sc.name, written: v },
            functionName: v, fromList: name, ret: k.return ?? false,
          });
          if (h) out.push(h);
        }
        return out;
      }
      // Generated lists depend on the kernel: one spec, expanded (or refused) by the resolver.
      const h = list.type === 'generated_syscalls'
        ? this.hook(k, kp, ctx, {
          kind: 'syscall', section, target: { kind: 'syscall', name: k.call, written: k.call },
          functionName: k.call, fromList: name, ret: k.return ?? false,
        })
        : this.hook(k, kp, ctx, {
          kind: 'kfunc', section, target: { kind: 'kfunc', function: k.call },
          functionName: k.call, fromList: name, ret: k.return ?? false,
        });
      if (h) out.push(h);
      return out;
    }
    if (k.syscall === undefined && !looksLikeSyscall(k.call) && /^[A-Za-z_][A-Za-z0-9_.]*$/.test(k.call)) {
      this.warn(kp, `syscall is not given, and Tetragon's CRD defaults it to true: Tetragon would hook "${k.call}" as a syscall (its ${k.call} entry point, which does not exist); Vigil takes it as a kernel function since its name is not a syscall's: write syscall: false`);
    }
    const isSyscall = k.syscall ?? looksLikeSyscall(k.call);
    if (isSyscall) {
      const sc = normaliseSyscallName(k.call);
      if (!sc) {
        this.err(callPath, `"${k.call}" is not a syscall name (sys_openat, __x64_sys_openat, openat, ...); set syscall: false for a kernel function`);
        return out;
      }
      const h = this.hook(k, kp, ctx, {
        kind: 'syscall', section, target: { kind: 'syscall', name: sc.name, written: k.call },
        functionName: k.call, ret: k.return ?? false,
      });
      if (h) out.push(h);
      return out;
    }
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(k.call)) {
      this.err(callPath, `"${k.call}" is not a kernel function name`);
      return out;
    }
    const h = this.hook(k, kp, ctx, {
      kind: 'kfunc', section, target: { kind: 'kfunc', function: k.call }, functionName: k.call, ret: k.return ?? false,
    });
    if (h) out.push(h);
    return out;
  }

  private uprobe(u: RawUprobe, hp: string, ctx: ValueContext, spec: RawSpec): HookSpec[] {
    const out: HookSpec[] = [];
    if (!u.path.startsWith('/')) this.err(joinPath(hp, 'path'), `"${u.path}" must be an absolute path`);
    if ((u.refCtrOffsets ?? []).length > 0) this.err(joinPath(hp, 'refCtrOffsets'), 'USDT semaphores (refCtrOffsets) are not supported by Vigil', true);
    const has = (k: 'symbols' | 'addrs' | 'offsets'): boolean => this.given(joinPath(hp, k), u[k]);
    if ([has('symbols'), has('addrs'), has('offsets')].filter(Boolean).length > 1) {
      this.err(hp, 'a uprobe takes at most one of symbols, addrs or offsets (Tetragon: "uprobe needs at most one of symbols, addrs or offsets defined")');
      return out;
    }
    this.returnRule(u, hp);
    if (has('addrs')) this.err(joinPath(hp, 'addrs'), 'addrs (virtual addresses in the binary) are not supported by Vigil: give symbols, or file offsets in offsets', true);
    const digests = this.binaryDigests(u.binaryDigests ?? [], joinPath(hp, 'binaryDigests'));
    const ignoreDigest = u.ignore?.digestVerificationFailure === true;
    if (digests.length === 0 && u.ignore?.digestVerificationFailure !== undefined) this.warn(joinPath(joinPath(hp, 'ignore'), 'digestVerificationFailure'), 'ignore.digestVerificationFailure has no effect without binaryDigests (Tetragon ignores it too)');
    if (u.btfPath !== undefined) this.err(joinPath(hp, 'btfPath'), 'btfPath (the BTF of the traced binary, for btfType and resolve) is not supported by Vigil', true);
    const inContainer = u.resolvePathInContainer === true;
    if (inContainer) this.inContainerRules(u, hp, spec);
    const symbols = u.symbols ?? [];
    const offsets = u.offsets ?? [];
    if (symbols.length === 0 && offsets.length === 0 && !has('addrs')) this.err(hp, 'a uprobe needs symbols or offsets');
    const ret = u.return ?? false;
    const extra = {
      ...(digests.length > 0 ? { digests, ignoreDigestFailure: ignoreDigest } : {}),
      ...(inContainer ? { inContainer } : {}),
    };
    symbols.forEach((sym, j) => {
      if (sym === '') this.err(joinPath(joinPath(hp, 'symbols'), j), 'a symbol must not be empty');
      const h = this.hook(u, hp, ctx, {
        kind: 'uprobe', section: 'uprobes', target: { kind: 'uprobe', path: u.path, symbol: sym, ...extra },
        functionName: sym, ret, pos: this.at(joinPath(joinPath(hp, 'symbols'), j)),
      });
      if (h) out.push(h);
    });
    offsets.forEach((off, j) => {
      if (off < 0) this.err(joinPath(joinPath(hp, 'offsets'), j), 'an offset must be >= 0');
      const h = this.hook(u, hp, ctx, {
        kind: 'uprobe', section: 'uprobes', target: { kind: 'uprobe', path: u.path, symbol: '', offset: off, ...extra },
        functionName: `0x${off.toString(16)}`, ret, pos: this.at(joinPath(joinPath(hp, 'offsets'), j)),
      });
      if (h) out.push(h);
    });
    return out;
  }

  /**
   * binaryDigests, as Tetragon reads them: `sha256:` and 64 hex digits, or `build-id:` and the GNU
   * build id in hex (any even length).
   */
  private binaryDigests(list: readonly string[], path: string): string[] {
    const out: string[] = [];
    list.forEach((d, i) => {
      const dp = joinPath(path, i);
      const m = /^([a-z0-9-]+):(.*)$/.exec(d);
      if (!m) {
        this.err(dp, `"${d}" is not a digest: expected sha256:<64 hex digits> or build-id:<hex>`);
      } else if (m[1] === 'sha256') {
        if (!/^[0-9a-fA-F]{64}$/.test(m[2]!)) this.err(dp, `"${d}": a sha256 digest is 64 hex digits`);
        else out.push(`sha256:${m[2]!.toLowerCase()}`);
      } else if (m[1] === 'build-id') {
        if (!/^(?:[0-9a-fA-F]{2})+$/.test(m[2]!)) this.err(dp, `"${d}": a build id is a non-empty even number of hex digits`);
        else out.push(`build-id:${m[2]!.toLowerCase()}`);
      } else {
        this.err(dp, `"${m[1]}" is not a digest algorithm; expected sha256 or build-id`);
      }
    });
    return out;
  }

  /**
   * resolvePathInContainer, checked as Tetragon checks it: the path is resolved in the root of each
   * container the podSelector selects, so the policy needs one (and no hostSelector), and it is the
   * policy's only uprobe (no other uprobes, no usdts); a digest mismatch cannot be ignored there.
   */
  private inContainerRules(u: RawUprobe, hp: string, spec: RawSpec): void {
    const rp = joinPath(hp, 'resolvePathInContainer');
    if (spec.podSelector === undefined || spec.podSelector === null) this.err(rp, 'resolvePathInContainer needs spec.podSelector (the pods in whose containers the path is resolved)', true);
    if (spec.hostSelector !== undefined && spec.hostSelector !== null) this.err(rp, 'resolvePathInContainer cannot be used with spec.hostSelector (the path is resolved in containers, not on the host)', true);
    if ((spec.uprobes ?? []).length > 1) this.err(rp, 'a policy with a resolvePathInContainer uprobe may have only one uprobe (Tetragon: "only one resolvePathInContainer uprobe")', true);
    if ((spec.usdts ?? []).length > 0) this.err(rp, 'a policy with a resolvePathInContainer uprobe may not have usdts (Tetragon refuses multiple sections)', true);
    if (u.ignore?.digestVerificationFailure === true) this.err(joinPath(joinPath(hp, 'ignore'), 'digestVerificationFailure'), 'ignore.digestVerificationFailure cannot be used with resolvePathInContainer (as in Tetragon)', true);
  }

  private hook(
    raw: {
      args?: RawArg[]; data?: RawArg[]; selectors?: RawSelector[]; tags?: string[]; message?: string; returnArg?: RawArg;
      returnArgAction?: string; ignore?: { callNotFound?: boolean; digestVerificationFailure?: boolean };
    },
    hp: string,
    ctx: ValueContext,
    what: {
      kind: HookSpec['kind']; section: HookSection; target: HookSpec['target']; functionName: string;
      fromList?: string; ret: boolean; pos?: SourcePos;
    },
  ): HookSpec | undefined {
    const before = this.diags.length;
    const rawTp = what.target.kind === 'tracepoint' && what.target.raw;
    const args = (raw.args ?? []).map((a, i) => this.arg(a, joinPath(joinPath(hp, 'args'), i), what.kind, rawTp));
    const data = (raw.data ?? []).map((a, i) => this.dataArg(a, joinPath(joinPath(hp, 'data'), i), what.kind));
    // sizeArgIndex must name an argument of the function (1-based in YAML).
    (raw.args ?? []).forEach((a, i) => {
      const ap = joinPath(joinPath(hp, 'args'), i);
      const t = canonicalArgType(a.type ?? 'auto');
      if (a.sizeArgIndex !== undefined && a.sizeArgIndex > 0 && t !== 'char_buf' && t !== 'char_iovec' && t !== 'sockaddr' && t !== 'sockaddr_un') {
        this.err(joinPath(ap, 'sizeArgIndex'), `sizeArgIndex is only used by char_buf, char_iovec (and, in Vigil, sockaddr and sockaddr_un), not ${t}`, true);
      }
      if (a.returnCopy && t !== 'char_buf' && t !== 'char_iovec') {
        this.err(joinPath(ap, 'returnCopy'), `returnCopy is only used by char_buf and char_iovec, not ${t}`, true);
      }
      if (a.returnCopy && what.kind !== 'syscall' && what.kind !== 'kfunc' && what.kind !== 'uprobe') {
        this.err(joinPath(ap, 'returnCopy'), 'returnCopy needs a function return: it applies to kprobes and uprobes only', true);
      }
    });
    let returnArg: ArgSpec | undefined;
    if (raw.returnArg) {
      const rp = joinPath(hp, 'returnArg');
      if (!what.ret) this.warn(rp, 'returnArg is ignored without return: true');
      returnArg = this.arg(raw.returnArg, rp, what.kind, rawTp);
      if (returnArg.resolve || returnArg.btfType) {
        this.err(joinPath(rp, returnArg.resolve ? 'resolve' : 'btfType'), 'resolve on the return value is not supported by Vigil\'s engine (arguments and data entries only)', true);
      }
    }
    if (raw.returnArgAction !== undefined) {
      const rp = joinPath(hp, 'returnArgAction');
      if (raw.returnArgAction === 'TrackSock' || raw.returnArgAction === 'UntrackSock') {
        this.err(rp, `${raw.returnArgAction}: ${SOCK_TRACKING}`);
      } else if (raw.returnArgAction !== 'Post') {
        this.err(rp, `"${raw.returnArgAction}" is not a return action; expected Post, TrackSock or UntrackSock`);
      }
      if (!what.ret) this.warn(rp, 'returnArgAction is ignored without return: true');
    }
    const message = this.message(raw.message, joinPath(hp, 'message'));
    const tags = this.tags(raw.tags ?? [], joinPath(hp, 'tags'));
    const retType: ArgType = returnArg?.type ?? 'int';
    const selectors = (raw.selectors ?? []).map((s, i) =>
      this.selector(s, joinPath(joinPath(hp, 'selectors'), i), args, retType, what.ret, ctx, what.kind === 'tracepoint', data));
    selectors.forEach((sel, i) => this.celPlacement(sel, i, selectors.length, joinPath(joinPath(hp, 'selectors'), i)));
    if (this.diags.length > before) return undefined;
    return {
      kind: what.kind, section: what.section, target: what.target, functionName: what.functionName,
      fromList: what.fromList, args, ...(data.length > 0 ? { data } : {}), return: what.ret, returnArg,
      returnArgAction: raw.returnArgAction, selectors, tags, message,
      ignoreCallNotFound: raw.ignore?.callNotFound ?? false, pos: what.pos ?? this.at(hp), path: hp,
    };
  }

  /** Tetragon's message rules (pkg/sensors/tracing/message.go): "" = none, 1 character is an error, over 256 is cut. */
  private message(m: string | undefined, mp: string): string | undefined {
    if (m === undefined || m === '') return undefined;
    const bytes = Buffer.from(m, 'utf8');
    if (bytes.length < 2) {
      this.err(mp, 'a message needs at least 2 characters (Tetragon: "message field is too short")');
      return undefined;
    }
    if (bytes.length > 256) {
      this.warn(mp, `the message is ${bytes.length} bytes; it is cut to 256, as Tetragon does`);
      return bytes.subarray(0, 256).toString('utf8');
    }
    return m;
  }

  /** Tetragon's tag rules (pkg/sensors/tracing/tags.go): at most 16, each at least 2 characters, cut at 128. */
  private tags(tags: readonly string[], tp: string): string[] {
    return tags.map((t, i) => {
      const b = Buffer.from(t, 'utf8');
      if (b.length < 2) this.err(joinPath(tp, i), `tag "${t}" is too short: a tag needs at least 2 characters`);
      if (b.length > 128) {
        this.warn(joinPath(tp, i), `the tag is ${b.length} bytes; it is cut to 128, as Tetragon does`);
        return b.subarray(0, 128).toString('utf8');
      }
      return t;
    });
  }

  private arg(a: RawArg, ap: string, kind: HookSpec['kind'], rawTracepoint: boolean): ArgSpec {
    const type = canonicalArgType(a.type ?? 'auto');
    if (a.index === undefined) this.err(ap, 'required field "index" is missing');
    if (type === 'syscall64' && kind !== 'tracepoint') {
      this.err(joinPath(ap, 'type'), 'syscall64 is the id field of raw_syscalls tracepoints; use int for syscall arguments');
    }
    if (type === 'auto' && kind === 'uprobe') {
      this.err(joinPath(ap, 'type'), 'type auto needs BTF for the function, which user binaries do not carry: give the type');
    }
    if (a.source !== undefined && a.source !== '') {
      this.err(joinPath(ap, 'source'), `source "${a.source}" applies to data entries (spec.kprobes[].data): arguments come from the hook's arguments`, true);
    }
    const r = this.resolveFields(a, ap, kind, rawTracepoint);
    return {
      index: a.index ?? 0,
      type,
      sizeArgIndex: a.sizeArgIndex !== undefined && a.sizeArgIndex > 0 ? a.sizeArgIndex - 1 : undefined,
      returnCopy: a.returnCopy ?? false,
      maxData: a.maxData ?? false,
      label: a.label || undefined,
      ...r,
      pos: this.at(ap),
    };
  }

  /** resolve, btfType and btfTypeModule of an argument or data entry (checked against the kernel's BTF by the resolver). */
  private resolveFields(a: RawArg, ap: string, kind: HookSpec['kind'], rawTracepoint: boolean): Pick<ArgSpec, 'resolve' | 'btfType' | 'btfTypeModule'> {
    let resolve = a.resolve || undefined;
    let btfType = a.btfType || undefined;
    let btfTypeModule = a.btfTypeModule || undefined;
    if (kind === 'tracepoint' && !rawTracepoint && (resolve || btfType)) {
      // Tetragon builds the arguments of a (non-raw) tracepoint from its format file, without looking at resolve.
      this.warn(joinPath(ap, resolve ? 'resolve' : 'btfType'), `${resolve ? 'resolve' : 'btfType'} is ignored on tracepoints that are not raw (Tetragon reads the format field as it is); so does Vigil`);
      return {};
    }
    if (kind === 'uprobe' && (resolve || btfType)) {
      this.err(joinPath(ap, resolve ? 'resolve' : 'btfType'), `${resolve ? `resolve "${resolve}"` : 'btfType'} on a uprobe needs the traced binary's BTF (btfPath), which Vigil does not read`, true);
      return {};
    }
    if (btfTypeModule && !btfType) {
      this.warn(joinPath(ap, 'btfTypeModule'), 'btfTypeModule names where btfType is found; without btfType it is ignored');
      btfTypeModule = undefined;
    }
    if (btfType && !resolve) {
      this.warn(joinPath(ap, 'btfType'), 'btfType casts the argument for resolve; without resolve the argument is read as its type says, so it is ignored');
      btfType = undefined;
      btfTypeModule = undefined;
    }
    if (resolve) {
      try {
        parseMemberPath(resolve);
      } catch (e) {
        this.err(joinPath(ap, 'resolve'), (e as Error).message);
        resolve = undefined;
      }
    }
    if (btfType && !/^(?:(?:struct|union)\s+)?[A-Za-z_]\w*$/.test(btfType)) {
      this.err(joinPath(ap, 'btfType'), `"${btfType}" is not a type name (a struct, union or typedef of the kernel's BTF)`);
    }
    return { ...(resolve ? { resolve } : {}), ...(btfType ? { btfType } : {}), ...(btfTypeModule ? { btfTypeModule } : {}) };
  }

  /** One `data` entry: a value read at the hook (from the current task or an argument), reported in the event's data. */
  private dataArg(a: RawArg, ap: string, kind: HookSpec['kind']): ArgSpec {
    const type = canonicalArgType(a.type ?? 'auto');
    if (kind !== 'kfunc' && kind !== 'syscall' && kind !== 'uprobe') {
      this.err(ap, 'data entries are read on kprobes and uprobes (Tetragon\'s events carry data only for those)');
    }
    if (type === 'auto') this.err(joinPath(ap, 'type'), 'a data entry needs its type');
    let source: 'current_task' | undefined;
    if (a.source === 'current_task') source = 'current_task';
    else if (a.source === 'pt_regs') this.err(joinPath(ap, 'source'), 'source pt_regs (registers at the probe) is not supported by Vigil', true);
    else if (a.source !== undefined && a.source !== '') this.err(joinPath(ap, 'source'), `source "${a.source}" is not one of current_task, pt_regs`);
    if (source === 'current_task' && !a.resolve) this.err(joinPath(ap, 'resolve'), 'a data entry from current_task needs resolve (the task_struct members to read)');
    if (a.index === undefined && source === undefined) this.err(ap, 'required field "index" is missing');
    for (const k of ['sizeArgIndex', 'returnCopy', 'maxData'] as const) {
      if (a[k] !== undefined && a[k] !== false && a[k] !== 0) this.err(joinPath(ap, k), `${k} is not read for data entries by Vigil`, true);
    }
    const r = source === 'current_task'
      ? { ...(a.resolve ? { resolve: a.resolve } : {}) }
      : this.resolveFields(a, ap, kind, false);
    if (source === 'current_task' && a.resolve) {
      try {
        parseMemberPath(a.resolve);
      } catch (e) {
        this.err(joinPath(ap, 'resolve'), (e as Error).message);
      }
      if (a.btfType) this.err(joinPath(ap, 'btfType'), 'btfType does not apply to source current_task (the task is a struct task_struct)');
    }
    return {
      index: a.index ?? 0,
      type,
      returnCopy: false,
      maxData: false,
      label: a.label || undefined,
      ...r,
      ...(source ? { source } : {}),
      pos: this.at(ap),
    };
  }

  /**
   * matchCEL is evaluated by the agent over the values of an event the kernel
   * posted (src/policy/cel.ts): exact only when nothing but the post depends
   * on it and no later selector could have matched instead.
   */
  private celPlacement(sel: Selector, i: number, n: number, sp: string): void {
    if (!sel.matchCEL) return;
    const cp = joinPath(sp, 'matchCEL');
    if (i !== n - 1) {
      this.err(cp, `matchCEL is evaluated by Vigil's agent after the kernel chose this selector, so when it is false selectors ${i + 1}..${n - 1} are not tried as Tetragon would: give matchCEL only on the last selector`, true);
    }
    for (const a of [...sel.matchActions, ...sel.matchReturnActions]) {
      if (a.action !== 'Post' && a.action !== 'NoPost') {
        this.err(cp, `matchCEL is evaluated by Vigil's agent, after the kernel acted: it cannot hold back ${a.action}; Vigil takes matchCEL only with Post or NoPost`, true);
        return;
      }
      if (a.action === 'Post' && a.rateLimitMs > 0) {
        this.err(cp, 'matchCEL is evaluated by Vigil\'s agent, after the kernel\'s rateLimit counted the event: give one or the other', true);
        return;
      }
    }
  }

  /**
   * One selector, with the filters its macros add (spec.selectorsMacros), as Tetragon's
   * appendMacrosSelectors does: each list of a macro is appended to the selector's, and a
   * list given both by the selector and a macro (or by two macros) is an error.
   */
  private selector(
    s: RawSelector, sp: string, args: readonly ArgSpec[], retType: ArgType, hasReturn: boolean, ctx: ValueContext,
    tracepoint: boolean, data: readonly ArgSpec[] = [],
  ): Selector {
    const parts: { sel: RawSelector; base: string }[] = [{ sel: s, base: sp }];
    let label = s.label || undefined;
    (s.macros ?? []).forEach((m, i) => {
      const mp = joinPath(joinPath(sp, 'macros'), i);
      if (this.macros.size === 0) {
        this.err(mp, `macro "${m}" is used, but spec.selectorsMacros defines no macro`);
        return;
      }
      const def = this.macros.get(m);
      if (!def) {
        this.err(mp, `undefined macro "${m}"${hint(m, [...this.macros.keys()])}`);
        return;
      }
      label ??= def.sel.label || undefined;
      parts.push({ sel: def.sel, base: def.path });
    });
    const items = <T>(key: MacroList): { item: T; path: string }[] => {
      const out: { item: T; path: string }[] = [];
      let from = '';
      for (const part of parts) {
        const list = (part.sel[key] ?? []) as T[];
        if (list.length === 0) continue;
        if (out.length > 0) {
          this.err(joinPath(part.base, key), `${key} is given by ${from} and again by ${part.base === sp ? 'the selector' : part.base}: Tetragon refuses a filter list defined in several macros and/or the selector`, true);
          continue;
        }
        from = part.base === sp ? 'the selector' : part.base;
        list.forEach((item, i) => out.push({ item, path: joinPath(joinPath(part.base, key), i) }));
      }
      return out;
    };
    const refuse = (key: keyof RawSelector, why: string): void => {
      if (s[key] !== undefined) this.err(joinPath(sp, key), `${key} (${why}) is not supported by Vigil's engine`, true);
    };
    let matchCEL: CelFilter | undefined;
    if (s.matchCEL !== undefined) {
      const cp = joinPath(sp, 'matchCEL');
      const prog = compileCel(s.matchCEL.expr, args, data);
      if ('error' in prog) this.err(joinPath(cp, 'expr'), `matchCEL "${s.matchCEL.expr}": ${prog.error}`);
      else matchCEL = { expr: s.matchCEL.expr, pos: this.at(cp) };
    }
    refuse('matchCmdArgs', 'filters on the command line of the process');
    refuse('matchStates', 'state objects');
    refuse('matchWorkloads', 'Kubernetes workloads: pods, containers, hosts');
    for (const { path } of items('matchParentBinaries')) {
      this.err(path, 'matchParentBinaries (filters on the parent\'s executable) is not supported by Vigil\'s engine, which filters on the process\'s own executable (matchBinaries)');
    }
    for (const { path } of items('matchUserCallers')) {
      this.err(path, 'matchUserCallers (filters on the callers in the user stack) is not supported by Vigil\'s engine');
    }

    const argFilters = (key: 'matchArgs' | 'matchReturnArgs', isReturn: boolean): ArgFilter[] => {
      const out: ArgFilter[] = [];
      for (const { item: f, path: fp } of items<RawArgSelector>(key)) {
        const unsupported = UNSUPPORTED_OPERATORS[f.operator];
        if (unsupported) {
          this.err(joinPath(fp, 'operator'), `${f.operator} (${unsupported}) is not supported by Vigil's engine`);
          continue;
        }
        const op = (OPERATOR_ALIASES[f.operator] ?? f.operator) as ArgOperator;
        let argPos = -1;
        let type: ArgType = retType;
        if (!isReturn) {
          if (f.args && f.args.length > 0) {
            if (f.args.length > 1) this.err(joinPath(fp, 'args'), 'Vigil filters one argument per matchArgs entry: give one position', true);
            argPos = f.args[0]!;
            if (argPos >= args.length) {
              this.err(joinPath(fp, 'args'), `position ${argPos} is past the ${args.length} argument(s) in args`, true);
              continue;
            }
          } else {
            if (f.index === undefined) {
              this.err(fp, 'required field "index" is missing');
              continue;
            }
            argPos = tracepoint ? this.tracepointArgPos(f.index, args, joinPath(fp, 'index')) : args.findIndex((a) => a.index === f.index);
            if (argPos < 0 && tracepoint) continue;
            if (argPos < 0) {
              const have = args.map((a) => a.index);
              this.err(joinPath(fp, 'index'), `no argument with index ${f.index} in args${have.length ? ` (args have index ${have.join(', ')})` : ' (the hook declares no args)'}`);
              continue;
            }
          }
          type = args[argPos]!.type;
        } else if (!hasReturn) {
          this.err(joinPath(sp, key), `${key} needs return: true`, true);
          continue;
        }
        const raw = f.values ?? [];
        let values: FilterValues = { kind: 'none' };
        if (type !== 'auto') {
          const r = parseFilterValues(op, type, raw, ctx);
          if (!r.ok) {
            this.err(r.at !== undefined ? joinPath(joinPath(fp, 'values'), r.at) : joinPath(fp, 'operator'), r.message);
            continue;
          }
          values = r.values;
        }
        out.push({ argPos, operator: op, negated: NEGATED.has(op), values, raw, pos: this.at(fp) });
      }
      return out;
    };
    const matchArgs = argFilters('matchArgs', false);
    for (const { path } of items('matchData')) this.err(path, 'matchData (filters on data read by `data`) is not supported by Vigil', true);
    const matchReturnArgs = argFilters('matchReturnArgs', true);

    const matchBinaries: BinaryFilter[] = items<RawBinarySelector>('matchBinaries').map(({ item: b, path: bp }) => {
      if (b.values.length === 0) this.err(joinPath(bp, 'values'), 'matchBinaries needs at least one value');
      b.values.forEach((v, j) => {
        if ((b.operator === 'In' || b.operator === 'NotIn') && !v.startsWith('/')) {
          this.err(joinPath(joinPath(bp, 'values'), j), `"${v}": ${b.operator} compares full paths of executables: write an absolute path (or use Postfix)`);
        }
        if (v === '') this.err(joinPath(joinPath(bp, 'values'), j), 'a value must not be empty');
      });
      return { operator: b.operator as BinaryFilter['operator'], values: b.values, followChildren: b.followChildren ?? false, pos: this.at(bp) };
    });
    if (matchBinaries.length > 1) {
      // A limit Vigil lifts, but a policy Tetragon would not load: said.
      this.warn(joinPath(sp, 'matchBinaries'), `${matchBinaries.length} matchBinaries entries: Vigil ANDs them, but Tetragon's CRD allows one per selector (maxItems 1) and would refuse this policy`);
    }
    type RawPid = NonNullable<RawSelector['matchPIDs']>[number];
    const matchPIDs: PidFilter[] = items<RawPid>('matchPIDs').map(({ item: m, path: mp }) => {
      if (m.values.length === 0) this.err(joinPath(mp, 'values'), 'matchPIDs needs at least one value');
      if (m.values.length > 4) {
        this.warn(joinPath(mp, 'values'), `${m.values.length} values: Vigil matches them all, but Tetragon's CRD allows at most 4 (its kernel code reads only 4) and would refuse this policy`);
      }
      return {
        operator: m.operator as 'In' | 'NotIn', values: m.values, followForks: m.followForks ?? false,
        isNamespacePID: m.isNamespacePID ?? false, pos: this.at(mp),
      };
    });
    const nsKind = (v: string, vp: string): NamespaceKind | undefined => {
      const k = NAMESPACE_KINDS.find((n) => n.toLowerCase() === v.trim().toLowerCase());
      if (!k) this.err(vp, `"${v}" is not a namespace kind; expected one of ${NAMESPACE_KINDS.join(', ')}`);
      return k;
    };
    type RawNs = NonNullable<RawSelector['matchNamespaces']>[number];
    const matchNamespaces: NamespaceFilter[] = items<RawNs>('matchNamespaces').map(({ item: m, path: mp }) => {
      let hostNs = false;
      const values: bigint[] = [];
      if (m.values.length === 0) this.err(joinPath(mp, 'values'), 'matchNamespaces needs at least one value');
      m.values.forEach((v, j) => {
        if (v.trim() === 'host_ns') {
          hostNs = true;
          return;
        }
        const n = parseInteger(v);
        if (n === undefined || n < 0n || n > 0xffffffffn) this.err(joinPath(joinPath(mp, 'values'), j), `"${v}" is not a namespace inode number or host_ns`);
        else values.push(n);
      });
      return { namespace: m.namespace as NamespaceKind, operator: m.operator as 'In' | 'NotIn', values, hostNs, pos: this.at(mp) };
    });
    type RawNsChange = NonNullable<RawSelector['matchNamespaceChanges']>[number];
    const matchNamespaceChanges: NamespaceChangeFilter[] = items<RawNsChange>('matchNamespaceChanges').map(({ item: m, path: mp }) => {
      const values = m.values.map((v, j) => nsKind(v, joinPath(joinPath(mp, 'values'), j))).filter((k): k is NamespaceKind => k !== undefined);
      return { operator: m.operator as 'In' | 'NotIn', values, pos: this.at(mp) };
    });
    const caps = (key: 'matchCapabilities' | 'matchCapabilityChanges'): CapabilityFilter[] => items<RawCapSelector>(key).map(({ item: c, path: cp }) => {
      const values: number[] = [];
      c.values.forEach((v, j) => {
        const n = parseCapability(v);
        if (n === undefined) this.err(joinPath(joinPath(cp, 'values'), j), `"${v}" is not a capability (CAP_SYS_ADMIN, CAP_NET_RAW, ... or 0-63)`);
        else values.push(n);
      });
      if (c.values.length === 0) this.err(joinPath(cp, 'values'), `${key} needs at least one value`);
      let mask = 0n;
      for (const v of values) mask |= 1n << BigInt(v);
      return {
        type: (c.type ?? 'Effective') as CapabilityFilter['type'], operator: c.operator as 'In' | 'NotIn', values, mask,
        isNamespaceCapability: c.isNamespaceCapability ?? false, pos: this.at(cp),
      };
    });
    const matchCapabilities = caps('matchCapabilities');
    const matchCapabilityChanges = caps('matchCapabilityChanges');
    const actions = (key: 'matchActions' | 'matchReturnActions'): Action[] => items<RawAction>(key)
      .map(({ item: a, path: ap }) => this.action(a, ap))
      .filter((a): a is Action => a !== undefined);
    const matchActions = actions('matchActions');
    if (items('matchReturnActions').length > 0 && !hasReturn) this.err(joinPath(sp, 'matchReturnActions'), 'matchReturnActions needs return: true', true);
    const matchReturnActions = actions('matchReturnActions');
    return {
      matchArgs, matchReturnArgs, matchBinaries, matchPIDs, matchNamespaces, matchNamespaceChanges,
      matchCapabilities, matchCapabilityChanges, matchActions, matchReturnActions, pos: this.at(sp),
      ...(matchCEL ? { matchCEL } : {}),
      ...(label ? { label } : {}),
    };
  }

  /**
   * A tracepoint's matchArgs index, as Tetragon reads it (pkg/sensors/tracing/generictracepoint.go,
   * InitKernelSelectors, then pkg/selectors argIndexType): it is a field number of the
   * tracepoint's format (the numbering of args[].index, common_* fields included); going through
   * args in order, an index equal to args[j].index is rewritten to j; the result is taken as a
   * position in args. So an index naming no declared field is a position in args, and a rewritten
   * index that equals a later entry's field number is rewritten again. Vigil does the same, and
   * says so when the result is not the entry whose field the index names.
   */
  private tracepointArgPos(index: number, args: readonly ArgSpec[], ip: string): number {
    let pos = index;
    let first = -1;
    args.forEach((a, j) => {
      if (pos === a.index) {
        if (first < 0) first = j;
        pos = j;
      }
    });
    const fields = args.length ? args.map((a) => a.index).join(', ') : 'none';
    if (pos >= args.length) {
      this.err(ip, `index ${index} is a field number of the tracepoint's format: no entry of args reads field ${index} (args read fields ${fields}), and it is past the ${args.length} entries of args as a position`);
      return -1;
    }
    const warn = (message: string): void => {
      this.warnings.push({ pos: this.at(ip), path: ip, message });
    };
    if (first < 0) {
      warn(`no entry of args reads format field ${index} (args read fields ${fields}); as Tetragon does, index ${index} is taken as a position in args: args[${pos}], field ${args[pos]!.index}`);
    } else if (pos !== first) {
      warn(`format field ${index} is args[${first}], but Tetragon rewrites the index again because args[${pos}] reads field ${first}: the filter applies to args[${pos}] (field ${args[pos]!.index}), here too; reorder args to avoid it`);
    }
    return pos;
  }

  private action(a: RawAction, ap: string): Action | undefined {
    const pos = this.at(ap);
    const used = new Set<string>(['action']);
    const need = <K extends keyof RawAction>(k: K): RawAction[K] | undefined => {
      used.add(k);
      if (a[k] === undefined) this.err(ap, `${a.action} needs ${k}`);
      return a[k];
    };
    const opt = <K extends keyof RawAction>(k: K): RawAction[K] | undefined => {
      used.add(k);
      return a[k];
    };
    const newTargets = (['argNewSymbol', 'argNewAddr', 'argNewOffset'] as const).filter((k) => a[k] !== undefined);
    if (newTargets.length > 1) {
      this.err(ap, `${newTargets.join(' and ')}: an Override takes at most one of argNewSymbol, argNewAddr or argNewOffset (Tetragon's schema)`);
      return undefined;
    }
    let out: Action | undefined;
    switch (a.action) {
      case 'Post': {
        const rl = opt('rateLimit');
        let rateLimitMs = 0;
        if (rl !== undefined) {
          const ms = parseRateLimit(rl);
          if (ms === undefined) this.err(joinPath(ap, 'rateLimit'), `"${rl}" is not a period: seconds ("30", "30s"), minutes ("5m") or hours ("1h")`);
          else rateLimitMs = ms;
        }
        const scope = opt('rateLimitScope');
        if (scope !== undefined) {
          if (!['thread', 'process', 'global'].includes(scope)) this.err(joinPath(ap, 'rateLimitScope'), `"${scope}" is not a rate limit scope; expected thread, process or global`);
          if (rl === undefined) this.err(joinPath(ap, 'rateLimitScope'), 'rateLimitScope needs rateLimit', true);
        }
        if (opt('imaHash')) this.err(joinPath(ap, 'imaHash'), 'imaHash (file hashes from IMA through BPF-LSM) is not supported by Vigil', true);
        out = {
          action: 'Post', rateLimitMs, rateLimitScope: (scope ?? 'thread') as RateLimitScope,
          kernelStackTrace: opt('kernelStackTrace') ?? false, userStackTrace: opt('userStackTrace') ?? false, pos,
        };
        break;
      }
      case 'NoPost': case 'Sigkill': case 'Deny':
        out = { action: a.action, pos };
        break;
      case 'Signal': {
        const sig = need('argSig');
        if (sig !== undefined && (sig < 1 || sig > 64)) this.err(joinPath(ap, 'argSig'), `signal ${sig} is not 1-64`);
        out = { action: 'Signal', signal: sig ?? 0, pos };
        break;
      }
      case 'Override': {
        const variant = [...newTargets, ...(a.argRegs !== undefined ? ['argRegs' as const] : [])];
        if (variant.length > 0) {
          this.err(joinPath(ap, variant[0]!), `Override with ${variant.join(', ')} (a uprobe overriding registers or redirecting the call) is not supported by Vigil`, true);
          return undefined;
        }
        const e = need('argError');
        out = { action: 'Override', error: e ?? 0, pos };
        break;
      }
      case 'NotifyEnforcer': {
        const e = opt('argError');
        const sig = opt('argSig');
        if (sig !== undefined && (sig < 0 || sig > 64)) this.err(joinPath(ap, 'argSig'), `signal ${sig} is not 1-64`);
        out = { action: 'NotifyEnforcer', error: e ?? 0, signal: sig || undefined, pos };
        break;
      }
      case 'GetUrl':
        out = { action: 'GetUrl', url: need('argUrl') ?? '', pos };
        if (a.argUrl !== undefined && !/^https?:\/\//.test(a.argUrl)) this.err(joinPath(ap, 'argUrl'), `"${a.argUrl}" is not an http(s) URL`);
        break;
      case 'DnsLookup':
        out = { action: 'DnsLookup', fqdn: need('argFqdn') ?? '', pos };
        break;
      case 'FollowFD': case 'UnfollowFD': case 'CopyFD':
        this.err(joinPath(ap, 'action'), `${a.action} is deprecated by Tetragon (removed in 1.5) and not supported by Vigil: fd arguments are resolved to paths in the kernel`);
        return undefined;
      case 'TrackSock': case 'UntrackSock':
        this.err(joinPath(ap, 'action'), `${a.action}: ${SOCK_TRACKING}`);
        return undefined;
      case 'CleanupEnforcerNotification':
        this.err(joinPath(ap, 'action'), 'CleanupEnforcerNotification is not supported by Vigil');
        return undefined;
      case 'Set':
        this.err(joinPath(ap, 'action'), 'Set (writing USDT arguments) is not supported by Vigil');
        return undefined;
      case 'UpdateState':
        this.err(joinPath(ap, 'action'), 'UpdateState (state objects) is not supported by Vigil\'s engine');
        return undefined;
      default:
        this.err(joinPath(ap, 'action'), `unknown action "${a.action}"`);
        return undefined;
    }
    for (const k of Object.keys(a)) {
      if (!used.has(k)) this.warn(joinPath(ap, k), `${k} is not used by ${a.action} (ignored)`);
    }
    return out;
  }
}

/** Filter lists a selector macro may add to (Tetragon's appendMacrosSelectors). */
type MacroList = 'matchPIDs' | 'matchArgs' | 'matchData' | 'matchActions' | 'matchReturnArgs' | 'matchReturnActions'
  | 'matchBinaries' | 'matchParentBinaries' | 'matchNamespaces' | 'matchNamespaceChanges' | 'matchCapabilities'
  | 'matchCapabilityChanges' | 'matchUserCallers';

/** Operators Tetragon has and Vigil's engine does not, with what they do. */
const UNSUPPORTED_OPERATORS: Readonly<Record<string, string>> = {
  SubString: 'a substring of a string argument',
  SubStringIgnCase: 'a substring of a string argument, ignoring case',
  CelExpr: 'a CEL expression; deprecated by Tetragon for matchCEL',
  FileType: 'the type of the file (regular, directory, socket, ...)',
  NotFileType: 'the type of the file (regular, directory, socket, ...)',
};

/** Values Go's strconv.ParseBool takes. */
const GO_BOOLS: ReadonlySet<string> = new Set(['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False']);

/** spec.options names Tetragon knows (pkg/sensors/tracing/options.go). */
const KNOWN_OPTIONS = ['policy-mode', 'disable-kprobe-multi', 'disable-uprobe-multi', 'override-method', 'uprobe-heap-size'];

/** Actions that enforce (kill, signal, change a result, refuse a call): monitor mode takes them out. */
export const ENFORCING_ACTIONS: ReadonlySet<Action['action']> = new Set<Action['action']>([
  'Sigkill', 'Signal', 'Override', 'NotifyEnforcer', 'Deny',
]);

/**
 * A hook of a policy in monitor mode: its enforcing actions go to each selector's
 * `elided` list and the kernel gets the rest, as Tetragon's do_actions elides them
 * when the policy is not in enforce mode (the event is still posted).
 */
function monitorHook(h: HookSpec): HookSpec {
  return {
    ...h,
    selectors: h.selectors.map((s) => {
      const all = [...s.matchActions, ...s.matchReturnActions];
      const elided = all.filter((a) => ENFORCING_ACTIONS.has(a.action));
      if (elided.length === 0) return s;
      const keep = (l: readonly Action[]): Action[] => l.filter((a) => !ENFORCING_ACTIONS.has(a.action));
      return { ...s, matchActions: keep(s.matchActions), matchReturnActions: keep(s.matchReturnActions), elided };
    }),
  };
}

/** Why a label key is not a Kubernetes qualified name ([prefix/]name), or undefined. */
function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(prefix))) {
    return 'its prefix must be a DNS subdomain (lower-case letters, digits, "-" and ".")';
  }
  if (name.length === 0 || name.length > 63 || !/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name)) {
    return 'a name must be 1-63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit';
  }
  return undefined;
}

/** A label selector as the engine matches it (values copied, operators checked by labelSelector()). */
function labelSelectorOf(s: RawLabelSelector): LabelSelector {
  return {
    matchLabels: { ...(s.matchLabels ?? {}) },
    matchExpressions: (s.matchExpressions ?? []).map((e) => ({
      key: e.key, operator: e.operator as LabelSelector['matchExpressions'][number]['operator'], values: [...(e.values ?? [])],
    })),
  };
}

/** A label selector in a few words: "app=web, tier in (a,b)". */
function describeLabelSelector(s: RawLabelSelector): string {
  const parts = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions ?? []) {
    const vals = (e.values ?? []).join(',');
    parts.push(e.operator === 'Exists' ? e.key : e.operator === 'DoesNotExist' ? `!${e.key}` : `${e.key} ${e.operator === 'In' ? 'in' : 'notin'} (${vals})`);
  }
  return parts.join(', ');
}

// ---------------------------------------------------------------------------
// Files

/** Loads policies from sources: every document of every source; names must be unique across them. */
export function loadPolicySources(sources: readonly PolicySource[]): LoadResult {
  const diagnostics: PolicyDiagnostic[] = [];
  const warnings: PolicyDiagnostic[] = [];
  const policies: PolicySpec[] = [];
  const seen = new Map<string, SourcePos>();
  for (const src of sources) {
    const lc = new LineCounter();
    const docs = parseAllDocuments(src.content, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
    const list = Array.isArray(docs) ? docs : [];
    const fileDiags: PolicyDiagnostic[] = [];
    for (const doc of list) {
      for (const e of doc.errors) {
        const { line, col } = lc.linePos(e.pos[0]);
        fileDiags.push({ pos: { file: src.name, line, col }, path: '', message: `YAML: ${e.message.split('\n')[0]!}` });
      }
    }
    if (fileDiags.length > 0) {
      diagnostics.push(...fileDiags);
      continue;
    }
    let n = 0;
    list.forEach((doc, di) => {
      if (doc.contents === null || doc.contents === undefined) return;
      n++;
      const start = doc.contents.range ? lc.linePos(doc.contents.range[0]) : { line: 1, col: 1 };
      const root: SourcePos = { file: src.name, line: start.line, col: start.col };
      const positions = new Positions(src.name, root);
      const docDiags: PolicyDiagnostic[] = [];
      const v = new Validator(doc, lc, positions, docDiags, warnings);
      const raw = v.validate(doc.contents, TRACING_POLICY_SCHEMA, '', root) as RawPolicy | undefined;
      if (docDiags.length === 0 && raw) {
        const spec = new DocReader(src.name, positions, docDiags, warnings).read(raw, '');
        if (spec && docDiags.length === 0) {
          const prev = seen.get(spec.name);
          if (prev) {
            docDiags.push({
              pos: positions.of('metadata.name'), path: 'metadata.name',
              message: `policy "${spec.name}" is already defined at ${prev.file}:${prev.line}:${prev.col}`,
            });
          } else {
            seen.set(spec.name, positions.of('metadata.name'));
            policies.push(spec);
          }
        }
      }
      // Name the document in paths when a file holds several.
      const label = list.length > 1 ? `document ${di + 1}: ` : '';
      diagnostics.push(...docDiags.map((d) => (label ? { ...d, message: `${label}${d.message}` } : d)));
    });
    if (n === 0) diagnostics.push({ pos: { file: src.name, line: 1, col: 1 }, path: '', message: 'the file holds no policy' });
  }
  return { policies, diagnostics, warnings, ok: diagnostics.length === 0 };
}

const POLICY_EXT = /\.ya?ml$/i;

/**
 * Policy paths: a directory stands for the .yaml/.yml files below it
 * (recursively, in path order); files are taken whatever their name.
 */
export function expandPolicyPaths(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      // Hidden entries are not policies: editors' swap files, and a mounted ConfigMap's own
      // `..data` link and `..TIMESTAMP` directory (its keys are links into them, read once through those).
      if (e.name.startsWith('.')) continue;
      const p = path.join(dir, e.name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (st?.isDirectory()) walk(p);
      else if (st?.isFile() && POLICY_EXT.test(e.name)) out.push(p);
    }
  };
  for (const p of paths) {
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory()) walk(p);
    else out.push(p);
  }
  return out;
}

/**
 * Reads and loads policy files (directories expanded). An unreadable file or directory, and a
 * directory holding no policy file, is a diagnostic naming it; every other file is still loaded.
 */
export function loadPolicyFiles(paths: readonly string[]): LoadResult {
  const sources: PolicySource[] = [];
  const diagnostics: PolicyDiagnostic[] = [];
  const files: string[] = [];
  for (const p of paths) {
    try {
      const found = expandPolicyPaths([p]);
      if (found.length === 0) diagnostics.push({ pos: { file: p, line: 1, col: 1 }, path: '', message: 'no .yaml or .yml file below this directory' });
      files.push(...found);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      diagnostics.push({ pos: { file: err.path ?? p, line: 1, col: 1 }, path: '', message: `cannot read the directory: ${err.code ?? err.message}` });
    }
  }
  for (const p of files) {
    try {
      sources.push({ name: p, content: readFileSync(p, 'utf8') });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      diagnostics.push({ pos: { file: p, line: 1, col: 1 }, path: '', message: `cannot read the file: ${err.code ?? err.message}` });
    }
  }
  const r = loadPolicySources(sources);
  const all = [...diagnostics, ...r.diagnostics];
  return { policies: r.policies, diagnostics: all, warnings: r.warnings, ok: all.length === 0 };
}

/** Loads policies or throws PolicyLoadError with every diagnostic. */
export function loadPoliciesOrThrow(paths: readonly string[]): readonly PolicySpec[] {
  const r = loadPolicyFiles(paths);
  if (!r.ok) throw new PolicyLoadError(r.diagnostics);
  return r.policies;
}

export { API_VERSION };
