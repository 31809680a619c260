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
  type PolicyDiagnostic, type RawAction, type RawArg, type RawArgSelector, type RawCapSelector, type RawKprobe,
  type RawPolicy, type RawSelector, type RawList,
} from './schema.js';
import {
  NAMESPACE_KINDS, type Action, type ArgFilter, type ArgOperator, type ArgSpec, type ArgType, type BinaryFilter,
  type CapabilityFilter, type FilterValues, type HookSection, type HookSpec, type IntRange, type ListSpec,
  type NamespaceChangeFilter, type NamespaceFilter, type NamespaceKind, type PidFilter, type PolicySpec,
  type RateLimitScope, type Selector, type SourcePos,
  INT_ARG_TYPES, PATH_ARG_TYPES, SOCK_ARG_TYPES, STRING_ARG_TYPES,
} from './ir.js';
import { parseCidr, CidrError, type Cidr } from '../network/cidr.js';
import { CAPABILITY_NAMES } from '../output/tetragon.js';
import { syscallNumber } from '../sensors/syscall-names.js';
import { SYSCALLS_I386 } from './syscall-table.js';

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
    const n = SYSCALLS_I386[name];
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

const CAP_NUMBERS: ReadonlyMap<string, number> = new Map(
  CAPABILITY_NAMES.map((n, i) => [n.startsWith('CAP_') ? n : `CAP_${n}`, i] as [string, number]),
);

/** "CAP_SYS_ADMIN", "SYS_ADMIN", "cap_sys_admin" or "21" -> 21. */
export function parseCapability(text: string): number | undefined {
  const t = text.trim().toUpperCase();
  const asInt = parseInteger(t);
  if (asInt !== undefined) return asInt >= 0n && asInt < 64n ? Number(asInt) : undefined;
  return CAP_NUMBERS.get(t.startsWith('CAP_') ? t : `CAP_${t}`);
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
      for (let i = 0; i < raw.length; i++) {
        const s = raw[i]!.trim();
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

  read(raw: RawPolicy, docPath: string): PolicySpec | undefined {
    const before = this.diags.length;
    const p = (sub: string): string => (docPath ? `${docPath}.${sub}` : sub);
    const spec = raw.spec;
    const name = raw.metadata.name;
    let namespace: string | undefined;
    if (raw.kind === 'TracingPolicyNamespaced') {
      namespace = raw.metadata.namespace ?? 'default';
      if (spec.hostSelector && (spec.hostSelector.matchLabels || spec.hostSelector.matchExpressions)) {
        this.err(p('spec.hostSelector'), 'TracingPolicyNamespaced should have a null spec.hostSelector');
      }
    } else if (raw.metadata.namespace !== undefined) {
      this.err(p('metadata.namespace'), 'a TracingPolicy is cluster-wide and has no namespace; use kind TracingPolicyNamespaced', true);
    }
    for (const sel of ['podSelector', 'containerSelector'] as const) {
      if (spec[sel]) {
        this.err(p(`spec.${sel}`), `${sel} selects Kubernetes ${sel === 'podSelector' ? 'pods by label' : 'containers by name'}; Vigil runs policies on the host, without the pod metadata to tell which processes it means (use matchNamespaces, matchBinaries or TracingPolicyNamespaced)`, true);
      }
    }
    if (spec.hostSelector && (spec.hostSelector.matchLabels || spec.hostSelector.matchExpressions)) {
      this.err(p('spec.hostSelector'), 'hostSelector may only be null or {} (all hosts)');
    }
    if (spec.loader) this.err(p('spec.loader'), 'loader events (process_loader: shared objects mapped by processes) are not supported by Vigil', true);
    (spec.usdts ?? []).forEach((_, i) => {
      this.err(p(`spec.usdts[${i}]`), 'USDT probes are not supported by Vigil (it does not read .note.stapsdt); hook the function with a uprobe instead');
    });

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
    (spec.uprobes ?? []).forEach((u, i) => {
      const hp = p(`spec.uprobes[${i}]`);
      if (!u.path.startsWith('/')) this.err(joinPath(hp, 'path'), `"${u.path}" must be an absolute path`);
      if ((u.refCtrOffsets ?? []).length > 0) this.err(joinPath(hp, 'refCtrOffsets'), 'USDT semaphores (refCtrOffsets) are not supported by Vigil', true);
      const symbols = u.symbols ?? [];
      const offsets = u.offsets ?? [];
      if (symbols.length === 0 && offsets.length === 0) this.err(hp, 'a uprobe needs symbols or offsets');
      symbols.forEach((sym, j) => {
        if (sym === '') this.err(joinPath(joinPath(hp, 'symbols'), j), 'a symbol must not be empty');
        const h = this.hook(u, hp, ctx, {
          kind: 'uprobe', section: 'uprobes', target: { kind: 'uprobe', path: u.path, symbol: sym },
          functionName: sym, ret: false, pos: this.at(joinPath(joinPath(hp, 'symbols'), j)),
        });
        if (h) hooks.push(h);
      });
      offsets.forEach((off, j) => {
        if (off < 0) this.err(joinPath(joinPath(hp, 'offsets'), j), 'an offset must be >= 0');
        const h = this.hook(u, hp, ctx, {
          kind: 'uprobe', section: 'uprobes', target: { kind: 'uprobe', path: u.path, symbol: '', offset: off },
          functionName: `0x${off.toString(16)}`, ret: false, pos: this.at(joinPath(joinPath(hp, 'offsets'), j)),
        });
        if (h) hooks.push(h);
      });
    });
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
    return {
      name, kind: raw.kind, namespace, labels, annotations,
      description: annotations['description'] ?? labels['description'],
      hooks, lists: [...lists.values()], options, file: this.file, pos: this.at(docPath || ''),
    };
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

  private kprobe(k: RawKprobe, section: 'kprobes' | 'fentries', kp: string, ctx: ValueContext): HookSpec[] {
    const out: HookSpec[] = [];
    const callPath = joinPath(kp, 'call');
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

  private hook(
    raw: { args?: RawArg[]; selectors?: RawSelector[]; tags?: string[]; message?: string; returnArg?: RawArg; returnArgAction?: string; ignore?: { callNotFound?: boolean } },
    hp: string,
    ctx: ValueContext,
    what: {
      kind: HookSpec['kind']; section: HookSection; target: HookSpec['target']; functionName: string;
      fromList?: string; ret: boolean; pos?: SourcePos;
    },
  ): HookSpec | undefined {
    const before = this.diags.length;
    const args = (raw.args ?? []).map((a, i) => this.arg(a, joinPath(joinPath(hp, 'args'), i), what.kind));
    // sizeArgIndex must name an argument of the function (1-based in YAML).
    (raw.args ?? []).forEach((a, i) => {
      const ap = joinPath(joinPath(hp, 'args'), i);
      const t = canonicalArgType(a.type ?? 'auto');
      if (a.sizeArgIndex !== undefined && a.sizeArgIndex > 0 && t !== 'char_buf' && t !== 'char_iovec' && t !== 'sockaddr') {
        this.err(joinPath(ap, 'sizeArgIndex'), `sizeArgIndex is only used by char_buf, char_iovec (and, in Vigil, sockaddr), not ${t}`, true);
      }
      if (a.returnCopy && t !== 'char_buf' && t !== 'char_iovec') {
        this.err(joinPath(ap, 'returnCopy'), `returnCopy is only used by char_buf and char_iovec, not ${t}`, true);
      }
      if (a.returnCopy && what.kind !== 'syscall' && what.kind !== 'kfunc' && what.kind !== 'uprobe') {
        this.err(joinPath(ap, 'returnCopy'), 'returnCopy needs a function return: it applies to kprobes and uprobes only', true);
      }
      if (a.resolve && what.kind !== 'kfunc' && what.kind !== 'lsm') {
        this.err(joinPath(ap, 'resolve'), 'resolve follows kernel struct members (BTF): it applies to kernel functions and LSM hooks only', true);
      }
    });
    if (what.kind === 'tracepoint' || what.kind === 'lsm' || what.kind === 'uprobe') {
      // hooks without a return: nothing to check
    }
    let returnArg: ArgSpec | undefined;
    if (raw.returnArg) {
      const rp = joinPath(hp, 'returnArg');
      if (!what.ret) this.warn(rp, 'returnArg is ignored without return: true');
      returnArg = this.arg(raw.returnArg, rp, what.kind);
    }
    if (raw.returnArgAction !== undefined) {
      const rp = joinPath(hp, 'returnArgAction');
      if (raw.returnArgAction === 'TrackSock' || raw.returnArgAction === 'UntrackSock') {
        this.err(rp, `${raw.returnArgAction}: socket tracking is not supported by Vigil`);
      } else if (raw.returnArgAction !== 'Post') {
        this.err(rp, `"${raw.returnArgAction}" is not a return action; expected Post, TrackSock or UntrackSock`);
      }
      if (!what.ret) this.warn(rp, 'returnArgAction is ignored without return: true');
    }
    const retType: ArgType = returnArg?.type ?? 'int';
    const selectors = (raw.selectors ?? []).map((s, i) =>
      this.selector(s, joinPath(joinPath(hp, 'selectors'), i), args, retType, what.ret, ctx, what.kind === 'tracepoint'));
    if (this.diags.length > before) return undefined;
    return {
      kind: what.kind, section: what.section, target: what.target, functionName: what.functionName,
      fromList: what.fromList, args, return: what.ret, returnArg,
      returnArgAction: raw.returnArgAction, selectors, tags: raw.tags ?? [], message: raw.message,
      ignoreCallNotFound: raw.ignore?.callNotFound ?? false, pos: what.pos ?? this.at(hp), path: hp,
    };
  }

  private arg(a: RawArg, ap: string, kind: HookSpec['kind']): ArgSpec {
    const type = canonicalArgType(a.type ?? 'auto');
    if (a.index === undefined) this.err(ap, 'required field "index" is missing');
    if (type === 'syscall64' && kind !== 'tracepoint') {
      this.err(joinPath(ap, 'type'), 'syscall64 is the id field of raw_syscalls tracepoints; use int for syscall arguments');
    }
    if (type === 'auto' && kind === 'uprobe') {
      this.err(joinPath(ap, 'type'), 'type auto needs BTF for the function, which user binaries do not carry: give the type');
    }
    return {
      index: a.index ?? 0,
      type,
      sizeArgIndex: a.sizeArgIndex !== undefined && a.sizeArgIndex > 0 ? a.sizeArgIndex - 1 : undefined,
      returnCopy: a.returnCopy ?? false,
      maxData: a.maxData ?? false,
      label: a.label || undefined,
      resolve: a.resolve || undefined,
      pos: this.at(ap),
    };
  }

  private selector(
    s: RawSelector, sp: string, args: readonly ArgSpec[], retType: ArgType, hasReturn: boolean, ctx: ValueContext,
    tracepoint: boolean,
  ): Selector {
    const argFilters = (list: RawArgSelector[] | undefined, key: string, isReturn: boolean): ArgFilter[] => {
      const out: ArgFilter[] = [];
      (list ?? []).forEach((f, i) => {
        const fp = joinPath(joinPath(sp, key), i);
        const op = (OPERATOR_ALIASES[f.operator] ?? f.operator) as ArgOperator;
        let argPos = -1;
        let type: ArgType = retType;
        if (!isReturn) {
          if (f.args && f.args.length > 0) {
            if (f.args.length > 1) this.err(joinPath(fp, 'args'), 'Vigil filters one argument per matchArgs entry: give one position', true);
            argPos = f.args[0]!;
            if (argPos >= args.length) {
              this.err(joinPath(fp, 'args'), `position ${argPos} is past the ${args.length} argument(s) in args`, true);
              return;
            }
          } else {
            if (f.index === undefined) {
              this.err(fp, 'required field "index" is missing');
              return;
            }
            // Tracepoints: the position in args (Tetragon builds their signature by position);
            // functions: the argument's index in the prototype, as written in args[].index.
            argPos = tracepoint ? (f.index < args.length ? f.index : -1) : args.findIndex((a) => a.index === f.index);
            if (argPos < 0 && tracepoint) {
              this.err(joinPath(fp, 'index'), `position ${f.index} is past the ${args.length} argument(s) in args (for tracepoints, matchArgs index is the position in args)`);
              return;
            }
            if (argPos < 0) {
              const have = args.map((a) => a.index);
              this.err(joinPath(fp, 'index'), `no argument with index ${f.index} in args${have.length ? ` (args have index ${have.join(', ')})` : ' (the hook declares no args)'}`);
              return;
            }
          }
          type = args[argPos]!.type;
        } else if (!hasReturn) {
          this.err(joinPath(sp, key), `${key} needs return: true`, true);
          return;
        }
        const raw = f.values ?? [];
        let values: FilterValues = { kind: 'none' };
        if (type !== 'auto') {
          const r = parseFilterValues(op, type, raw, ctx);
          if (!r.ok) {
            this.err(r.at !== undefined ? joinPath(joinPath(fp, 'values'), r.at) : joinPath(fp, 'operator'), r.message);
            return;
          }
          values = r.values;
        }
        out.push({ argPos, operator: op, negated: NEGATED.has(op), values, raw, pos: this.at(fp) });
      });
      return out;
    };
    const matchArgs = argFilters(s.matchArgs, 'matchArgs', false);
    if ((s.matchData ?? []).length > 0) this.err(joinPath(sp, 'matchData'), 'matchData (filters on data read by `data`) is not supported by Vigil', true);
    const matchReturnArgs = argFilters(s.matchReturnArgs, 'matchReturnArgs', true);

    const matchBinaries: BinaryFilter[] = (s.matchBinaries ?? []).map((b, i) => {
      const bp = joinPath(joinPath(sp, 'matchBinaries'), i);
      if (b.values.length === 0) this.err(joinPath(bp, 'values'), 'matchBinaries needs at least one value');
      b.values.forEach((v, j) => {
        if ((b.operator === 'In' || b.operator === 'NotIn') && !v.startsWith('/')) {
          this.err(joinPath(joinPath(bp, 'values'), j), `"${v}": ${b.operator} compares full paths of executables: write an absolute path (or use Postfix)`);
        }
        if (v === '') this.err(joinPath(joinPath(bp, 'values'), j), 'a value must not be empty');
      });
      return { operator: b.operator as BinaryFilter['operator'], values: b.values, followChildren: b.followChildren ?? false, pos: this.at(bp) };
    });
    const matchPIDs: PidFilter[] = (s.matchPIDs ?? []).map((m, i) => {
      const mp = joinPath(joinPath(sp, 'matchPIDs'), i);
      if (m.values.length === 0) this.err(joinPath(mp, 'values'), 'matchPIDs needs at least one value');
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
    const matchNamespaces: NamespaceFilter[] = (s.matchNamespaces ?? []).map((m, i) => {
      const mp = joinPath(joinPath(sp, 'matchNamespaces'), i);
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
    const matchNamespaceChanges: NamespaceChangeFilter[] = (s.matchNamespaceChanges ?? []).map((m, i) => {
      const mp = joinPath(joinPath(sp, 'matchNamespaceChanges'), i);
      const values = m.values.map((v, j) => nsKind(v, joinPath(joinPath(mp, 'values'), j))).filter((k): k is NamespaceKind => k !== undefined);
      return { operator: m.operator as 'In' | 'NotIn', values, pos: this.at(mp) };
    });
    const caps = (list: RawCapSelector[] | undefined, key: string): CapabilityFilter[] => (list ?? []).map((c, i) => {
      const cp = joinPath(joinPath(sp, key), i);
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
    const matchCapabilities = caps(s.matchCapabilities, 'matchCapabilities');
    const matchCapabilityChanges = caps(s.matchCapabilityChanges, 'matchCapabilityChanges');
    const actions = (list: RawAction[] | undefined, key: string): Action[] => (list ?? []).map((a, i) => this.action(a, joinPath(joinPath(sp, key), i), args))
      .filter((a): a is Action => a !== undefined);
    const matchActions = actions(s.matchActions, 'matchActions');
    if ((s.matchReturnActions ?? []).length > 0 && !hasReturn) this.err(joinPath(sp, 'matchReturnActions'), 'matchReturnActions needs return: true', true);
    const matchReturnActions = actions(s.matchReturnActions, 'matchReturnActions');
    return {
      matchArgs, matchReturnArgs, matchBinaries, matchPIDs, matchNamespaces, matchNamespaceChanges,
      matchCapabilities, matchCapabilityChanges, matchActions, matchReturnActions, pos: this.at(sp),
    };
  }

  private action(a: RawAction, ap: string, args: readonly ArgSpec[]): Action | undefined {
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
        this.err(joinPath(ap, 'action'), `${a.action}: socket tracking is not supported by Vigil`);
        return undefined;
      case 'CleanupEnforcerNotification':
        this.err(joinPath(ap, 'action'), 'CleanupEnforcerNotification is not supported by Vigil');
        return undefined;
      case 'Set':
        this.err(joinPath(ap, 'action'), 'Set (writing USDT arguments) is not supported by Vigil');
        return undefined;
      default:
        this.err(joinPath(ap, 'action'), `unknown action "${a.action}"`);
        return undefined;
    }
    for (const k of Object.keys(a)) {
      if (!used.has(k)) this.warn(joinPath(ap, k), `${k} is not used by ${a.action} (ignored)`);
    }
    void args;
    return out;
  }
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
      const v = new Validator(doc, lc, positions, docDiags);
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

/** Reads and loads policy files (directories expanded). An unreadable file is a diagnostic naming it. */
export function loadPolicyFiles(paths: readonly string[]): LoadResult {
  const sources: PolicySource[] = [];
  const diagnostics: PolicyDiagnostic[] = [];
  for (const p of expandPolicyPaths(paths)) {
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
