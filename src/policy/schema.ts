// The TracingPolicy schema, written from Tetragon's CRD
// (pkg/k8s/apis/cilium.io/client/crds/v1alpha1/cilium.io_tracingpolicies.yaml,
// generated from pkg/k8s/apis/cilium.io/v1alpha1/{types,tracing_policy_types}.go),
// and a validator over YAML nodes that keeps every value's position.
//
// Keys are matched as Tetragon reads a file (Validator.object): its decoder
// takes any case, its schema checks and defaults want the exact one.
//
// Differences from the CRD, each on purpose:
// - Unknown fields are errors everywhere (the API server prunes them silently).
// - A scalar where a string is expected is taken as written (`values: [1]`),
//   as sigs.k8s.io/yaml does when Tetragon reads a file; an integer field
//   must be an integer.
// - Argument types also take the names Tetragon's documentation lists beyond
//   the CRD enum (sint8..sint64, long, ulong, const_buf, bpf_prog).
// - `fentries` (Tetragon >= 1.4) are KProbeSpecs; actions also take `Set`
//   (argIndex/argValue, USDT), the deprecated FollowFD/UnfollowFD/CopyFD (said
//   so by the loader) and Vigil's `Deny`.
// - Fields of Tetragon's main branch that Vigil cannot honour are in the schema
//   (so they are not "unknown"): the loader refuses them with a reason.
// Semantic checks (operator values, list references, argument indexes) are
// the loader's (loader.ts); this file only knows shapes.
import {
  isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node as YamlNode, type Pair, type Scalar,
  type YAMLMap,
} from 'yaml';
import type { SourcePos } from './ir.js';

// ---------------------------------------------------------------------------
// Schema nodes

export type Schema =
  | {
    readonly t: 'object'; readonly props: Readonly<Record<string, Schema>>;
    /** Required by the CRD's OpenAPI schema: checked on the object as written, so key case matters. */
    readonly required?: readonly string[];
    /** Required by Tetragon's Go validation of the decoded struct (metadata.name): any key case counts. */
    readonly typedRequired?: readonly string[];
    /** The CRD's defaults (applied before Tetragon decodes the struct; see Validator.object). */
    readonly defaults?: Readonly<Record<string, unknown>>;
  }
  /** An object whose keys are free (labels, annotations), each value of one schema. */
  | { readonly t: 'map'; readonly values: Schema }
  | { readonly t: 'array'; readonly items: Schema; readonly maxItems?: number }
  | {
    readonly t: 'string'; readonly enum?: readonly string[]; readonly maxLength?: number; readonly minLength?: number;
    readonly pattern?: RegExp; readonly patternText?: string;
  }
  | { readonly t: 'integer'; readonly min?: number; readonly max?: number }
  | { readonly t: 'boolean' }
  /** Kubernetes bookkeeping Vigil does not read (managedFields, ownerReferences, ...): any shape. */
  | { readonly t: 'any' };

const str = (e?: readonly string[]): Schema => (e ? { t: 'string', enum: e } : { t: 'string' });
const int32: Schema = { t: 'integer', min: -2147483648, max: 2147483647 };
const uint32: Schema = { t: 'integer', min: 0, max: 4294967295 };
const int64: Schema = { t: 'integer' };
const bool: Schema = { t: 'boolean' };
const arr = (items: Schema, maxItems?: number): Schema => ({ t: 'array', items, maxItems });
const obj = (props: Record<string, Schema>, required?: string[], defaults?: Record<string, unknown>): Schema =>
  ({ t: 'object', props, required, defaults });

/** Argument types: the CRD enum plus the aliases Tetragon's documentation lists. */
export const SCHEMA_ARG_TYPES = [
  'auto', 'int', 'int8', 'uint8', 'int16', 'uint16', 'uint32', 'int32', 'uint64', 'int64', 'char_buf', 'char_iovec',
  'size_t', 'skb', 'sock', 'sockaddr', 'socket', 'string', 'fd', 'file', 'filename', 'path', 'nop', 'bpf_attr',
  'perf_event', 'bpf_map', 'user_namespace', 'capability', 'kiocb', 'iov_iter', 'cred', 'load_info', 'module',
  'syscall64', 'kernel_cap_t', 'cap_inheritable', 'cap_permitted', 'cap_effective', 'linux_binprm', 'data_loc',
  'net_device', 'bpf_cmd', 'dentry', 'sockaddr_un',
  // documented aliases and types outside the CRD enum
  'sint8', 'sint16', 'sint32', 'sint64', 'long', 'ulong', 'const_buf', 'bpf_prog',
] as const;

export const SCHEMA_ARG_OPERATORS = [
  'Equal', 'NotEqual', 'Prefix', 'NotPrefix', 'Postfix', 'NotPostfix', 'GreaterThan', 'LessThan', 'GT', 'LT', 'Mask',
  'SPort', 'NotSPort', 'SPortPriv', 'NotSportPriv', 'NotSPortPriv', 'DPort', 'NotDPort', 'DPortPriv', 'NotDPortPriv',
  'SAddr', 'NotSAddr', 'DAddr', 'NotDAddr', 'Protocol', 'Family', 'State', 'InMap', 'NotInMap', 'CapabilitiesGained',
  'InRange', 'NotInRange', 'SubString', 'SubStringIgnCase', 'CelExpr', 'FileType', 'NotFileType',
] as const;

export const SCHEMA_ACTIONS = [
  'Post', 'FollowFD', 'UnfollowFD', 'Sigkill', 'CopyFD', 'Override', 'GetUrl', 'DnsLookup', 'NoPost', 'Signal',
  'TrackSock', 'UntrackSock', 'NotifyEnforcer', 'CleanupEnforcerNotification', 'Set', 'UpdateState', 'Deny',
] as const;

const kprobeArg = obj({
  index: { t: 'integer', min: 0, max: 2147483647 },
  type: str(SCHEMA_ARG_TYPES),
  sizeArgIndex: { t: 'integer', min: 0, max: 2147483647 },
  returnCopy: bool,
  maxData: bool,
  label: str(),
  resolve: str(),
  btfType: str(),
  btfTypeModule: str(),
  source: str(),
}, ['index'], { maxData: false, returnCopy: false, resolve: '', type: 'auto' });

const action = obj({
  action: str(SCHEMA_ACTIONS),
  argError: int32,
  argFd: int32,
  argFqdn: str(),
  argName: int32,
  argSig: int32,
  argSock: int32,
  argUrl: str(),
  argIndex: int32,
  argValue: int32,
  imaHash: bool,
  kernelStackTrace: bool,
  rateLimit: str(),
  rateLimitScope: str(),
  userStackTrace: bool,
  argNewAddr: int64,
  argNewOffset: int64,
  argNewSymbol: str(),
  argRegs: arr(str()),
  stateName: str(),
  stateNewValue: str(),
  stateUpdateOperator: str(['Set', 'Delete']),
}, ['action']);

const argSelector = obj({
  args: arr({ t: 'integer', min: 0, max: 2147483647 }),
  index: { t: 'integer', min: 0, max: 2147483647 },
  operator: str(SCHEMA_ARG_OPERATORS),
  values: arr(str()),
}, ['operator']);

const capSelector = obj({
  type: str(['Effective', 'Inheritable', 'Permitted']),
  operator: str(['In', 'NotIn']),
  isNamespaceCapability: bool,
  values: arr(str()),
}, ['operator', 'values'], { isNamespaceCapability: false, type: 'Effective' });

const binarySelector = obj({
  operator: str(['In', 'NotIn', 'Prefix', 'NotPrefix', 'Postfix', 'NotPostfix']),
  values: arr(str()),
  followChildren: bool,
}, ['operator', 'values'], { followChildren: false });

/** Kubernetes label selectors (podSelector, containerSelector, hostSelector, nodeSelector). */
const labelSelector = obj({
  matchLabels: {
    t: 'map',
    values: {
      t: 'string', maxLength: 63, pattern: /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/,
      patternText: 'a label value: letters, digits, "-", "_" and ".", starting and ending with a letter or digit',
    },
  },
  matchExpressions: arr(obj({
    key: str(),
    operator: str(['In', 'NotIn', 'Exists', 'DoesNotExist']),
    values: arr(str()),
  }, ['key', 'operator'])),
});

const selector = obj({
  label: str(),
  macros: arr(str()),
  matchPIDs: arr(obj({
    operator: str(['In', 'NotIn']),
    // CRD: int32 items (the Go type is uint32); its maxItems 4 is a limit Vigil lifts (the loader warns).
    values: arr({ t: 'integer', min: 0, max: 2147483647 }),
    isNamespacePID: bool,
    followForks: bool,
  }, ['operator', 'values'], { followForks: false, isNamespacePID: false })),
  matchArgs: arr(argSelector),
  matchData: arr(argSelector),
  matchActions: arr(action),
  matchReturnArgs: arr(argSelector),
  matchReturnActions: arr(action),
  // The CRD's maxItems 1 is a limit Vigil lifts (the loader warns).
  matchBinaries: arr(binarySelector),
  matchParentBinaries: arr(binarySelector, 1),
  matchCEL: obj({ expr: { t: 'string', minLength: 1 } }, ['expr']),
  matchCmdArgs: arr(obj({
    index: { t: 'integer', min: 0, max: 31 },
    operator: str(['Equal', 'NotEqual', 'Prefix', 'NotPrefix', 'Postfix', 'NotPostfix']),
    values: arr(str()),
  }, ['index', 'operator', 'values'])),
  matchStates: arr(obj({ name: str(), operator: str(['Equal', 'NotEqual']), value: str() }, ['name', 'operator', 'value']), 4),
  matchUserCallers: arr(obj({
    depth: { t: 'string', pattern: /^(any|[1-9][0-9]*)$/, patternText: '"any" or a positive number' },
    endRange: int64, path: str(), startRange: int64, symbol: str(),
  }, ['depth'])),
  matchWorkloads: obj({ podSelector: labelSelector, containerSelector: labelSelector, hostSelector: labelSelector }),
  matchNamespaces: arr(obj({
    namespace: str(['Uts', 'Ipc', 'Mnt', 'Pid', 'PidForChildren', 'Net', 'Time', 'TimeForChildren', 'Cgroup', 'User']),
    operator: str(['In', 'NotIn']),
    values: arr(str()),
  }, ['namespace', 'operator', 'values'])),
  matchNamespaceChanges: arr(obj({
    operator: str(['In', 'NotIn']),
    values: arr(str()),
  }, ['operator', 'values'])),
  matchCapabilities: arr(capSelector),
  matchCapabilityChanges: arr(capSelector),
});

// Tetragon truncates longer messages (with a log warning) and refuses one-character ones: the loader's.
const message: Schema = { t: 'string' };
const tags = arr(str(), 16);

const kprobeSpec = obj({
  call: str(),
  return: bool,
  syscall: bool,
  message,
  args: arr(kprobeArg),
  data: arr(kprobeArg),
  returnArg: kprobeArg,
  returnArgAction: str(),
  selectors: arr(selector),
  tags,
  ignore: obj({ callNotFound: bool }),
}, ['call'], { return: false, syscall: true });

/** Tracepoint subsystem and event names: what tracefs and pin paths can hold (Tetragon's CRD pattern). */
const TRACEFS_NAME: Schema = {
  t: 'string', pattern: /^[A-Za-z0-9_][A-Za-z0-9_-]*$/,
  patternText: 'a tracefs name: letters, digits, "_" and "-" (not first)',
};

const spec = obj({
  kprobes: arr(kprobeSpec),
  fentries: arr(kprobeSpec),
  tracepoints: arr(obj({
    subsystem: TRACEFS_NAME,
    event: TRACEFS_NAME,
    raw: bool,
    message,
    args: arr(kprobeArg),
    selectors: arr(selector),
    tags,
  }, ['subsystem', 'event'])),
  uprobes: arr(obj({
    path: str(),
    symbols: arr(str()),
    addrs: arr(int64),
    offsets: arr(int64),
    refCtrOffsets: arr(int64),
    return: bool,
    returnArg: kprobeArg,
    message,
    args: arr(kprobeArg),
    data: arr(kprobeArg),
    selectors: arr(selector),
    tags,
    ignore: obj({ digestVerificationFailure: bool }),
    binaryDigests: arr(str()),
    btfPath: str(),
    resolvePathInContainer: bool,
  }, ['path'], { return: false })),
  usdts: arr(obj({
    path: str(),
    provider: str(),
    name: str(),
    btfPath: str(),
    message,
    args: arr(kprobeArg),
    selectors: arr(selector),
    tags,
  }, ['path', 'provider', 'name'])),
  lsmhooks: arr(obj({
    hook: str(),
    message,
    args: arr(kprobeArg),
    selectors: arr(selector),
    tags,
  }, ['hook'])),
  lists: arr(obj({
    name: str(),
    values: arr(str()),
    type: str(['syscalls', 'generated_syscalls', 'generated_ftrace']),
    pattern: str(),
    validated: bool,
  }, ['name'])),
  enforcers: arr(obj({ calls: arr(str()) }, ['calls'])),
  options: arr(obj({ name: str(), value: str() }, ['name'])),
  loader: bool,
  podSelector: labelSelector,
  containerSelector: labelSelector,
  hostSelector: labelSelector,
  nodeSelector: labelSelector,
  selectorsMacros: { t: 'map', values: selector },
  state: arr(obj({ name: { t: 'string', minLength: 1, maxLength: 255 } }, ['name']), 10),
});

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

const metadata = obj({
  name: { t: 'string', maxLength: 253, pattern: DNS_SUBDOMAIN, patternText: 'a DNS subdomain: lower-case letters, digits, "-" and "."' },
  namespace: { t: 'string', maxLength: 63, pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, patternText: 'a DNS label' },
  labels: { t: 'map', values: str() },
  annotations: { t: 'map', values: str() },
  // Kubernetes bookkeeping, present in objects exported from a cluster.
  uid: { t: 'any' }, generation: { t: 'any' }, resourceVersion: { t: 'any' }, creationTimestamp: { t: 'any' },
  deletionTimestamp: { t: 'any' }, deletionGracePeriodSeconds: { t: 'any' }, generateName: { t: 'any' },
  finalizers: { t: 'any' }, ownerReferences: { t: 'any' }, managedFields: { t: 'any' }, selfLink: { t: 'any' },
});
// Tetragon checks metadata with Kubernetes' ValidateObjectMeta on the decoded struct: key case does not matter.
const metadataSchema: Schema = { ...(metadata as Extract<Schema, { t: 'object' }>), typedRequired: ['name'] };

export const API_VERSION = 'cilium.io/v1alpha1';
export const KINDS = ['TracingPolicy', 'TracingPolicyNamespaced'] as const;

/** One TracingPolicy / TracingPolicyNamespaced document. */
export const TRACING_POLICY_SCHEMA: Schema = obj({
  apiVersion: str([API_VERSION]),
  kind: str(KINDS),
  metadata: metadataSchema,
  spec,
}, ['apiVersion', 'kind', 'metadata', 'spec']);

// ---------------------------------------------------------------------------
// The raw shapes the schema admits (what `validate` returns, cast).

export interface RawArg {
  index?: number; type?: string; sizeArgIndex?: number; returnCopy?: boolean; maxData?: boolean; label?: string; resolve?: string;
  btfType?: string; btfTypeModule?: string; source?: string;
}
export interface RawAction {
  action: string; argError?: number; argFd?: number; argFqdn?: string; argName?: number; argSig?: number; argSock?: number;
  argUrl?: string; argIndex?: number; argValue?: number; imaHash?: boolean; kernelStackTrace?: boolean; rateLimit?: string;
  rateLimitScope?: string; userStackTrace?: boolean; argNewAddr?: number; argNewOffset?: number; argNewSymbol?: string;
  argRegs?: string[]; stateName?: string; stateNewValue?: string; stateUpdateOperator?: string;
}
export interface RawArgSelector { args?: number[]; index?: number; operator: string; values?: string[] }
export interface RawCapSelector { type?: string; operator: string; isNamespaceCapability?: boolean; values: string[] }
export interface RawBinarySelector { operator: string; values: string[]; followChildren?: boolean }
export interface RawSelector {
  label?: string;
  macros?: string[];
  matchPIDs?: { operator: string; values: number[]; isNamespacePID?: boolean; followForks?: boolean }[];
  matchArgs?: RawArgSelector[];
  matchData?: RawArgSelector[];
  matchActions?: RawAction[];
  matchReturnArgs?: RawArgSelector[];
  matchReturnActions?: RawAction[];
  matchBinaries?: RawBinarySelector[];
  matchParentBinaries?: RawBinarySelector[];
  matchNamespaces?: { namespace: string; operator: string; values: string[] }[];
  matchNamespaceChanges?: { operator: string; values: string[] }[];
  matchCapabilities?: RawCapSelector[];
  matchCapabilityChanges?: RawCapSelector[];
  matchCEL?: { expr: string };
  matchCmdArgs?: unknown[];
  matchStates?: unknown[];
  matchUserCallers?: unknown[];
  matchWorkloads?: { podSelector?: RawLabelSelector; containerSelector?: RawLabelSelector; hostSelector?: RawLabelSelector };
}
interface RawHookCommon { message?: string; args?: RawArg[]; data?: RawArg[]; selectors?: RawSelector[]; tags?: string[] }
export interface RawKprobe extends RawHookCommon {
  call: string; return?: boolean; syscall?: boolean; returnArg?: RawArg; returnArgAction?: string;
  ignore?: { callNotFound?: boolean };
}
export interface RawTracepoint extends RawHookCommon { subsystem: string; event: string; raw?: boolean }
export interface RawUprobe extends RawHookCommon {
  path: string; symbols?: string[]; addrs?: number[]; offsets?: number[]; refCtrOffsets?: number[]; return?: boolean;
  returnArg?: RawArg; ignore?: { digestVerificationFailure?: boolean }; binaryDigests?: string[]; btfPath?: string;
  resolvePathInContainer?: boolean;
}
export interface RawUsdt extends RawHookCommon { path: string; provider: string; name: string }
export interface RawLsmHook extends RawHookCommon { hook: string }
export interface RawList { name: string; values?: string[]; type?: string; pattern?: string; validated?: boolean }
export interface RawLabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
export interface RawSpec {
  kprobes?: RawKprobe[]; fentries?: RawKprobe[]; tracepoints?: RawTracepoint[]; uprobes?: RawUprobe[]; usdts?: RawUsdt[];
  lsmhooks?: RawLsmHook[]; lists?: RawList[]; enforcers?: { calls: string[] }[]; options?: { name: string; value?: string }[];
  loader?: boolean; podSelector?: RawLabelSelector; containerSelector?: RawLabelSelector; hostSelector?: RawLabelSelector;
  nodeSelector?: RawLabelSelector; selectorsMacros?: Record<string, RawSelector>; state?: { name: string }[];
}
export interface RawPolicy {
  apiVersion: string;
  kind: (typeof KINDS)[number];
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: RawSpec;
}

// ---------------------------------------------------------------------------
// Validation

/** One problem in a policy: where, which field, why. */
export interface PolicyDiagnostic {
  readonly pos: SourcePos;
  /** The field path: "spec.kprobes[0].selectors[1].matchArgs[0].operator". */
  readonly path: string;
  readonly message: string;
}

export function formatDiagnostic(d: PolicyDiagnostic): string {
  return `${d.pos.file}:${d.pos.line}:${d.pos.col}: ${d.path ? `${d.path}: ` : ''}${d.message}`;
}

/** Positions of every validated value (and of every key), by field path. */
export class Positions {
  private readonly values = new Map<string, SourcePos>();
  private readonly keys = new Map<string, SourcePos>();
  private readonly nulls = new Set<string>();

  constructor(readonly file: string, readonly root: SourcePos) {}

  setValue(path: string, pos: SourcePos): void {
    this.values.set(path, pos);
  }

  setKey(path: string, pos: SourcePos): void {
    this.keys.set(path, pos);
  }

  /** The field was written with no value (`field:` or `field: ~`), which Kubernetes takes as absent. */
  setNull(path: string): void {
    this.nulls.add(path);
  }

  isNull(path: string): boolean {
    return this.nulls.has(path);
  }

  /** The value's position; else the nearest enclosing value's (a defaulted field points at its object). */
  of(path: string): SourcePos {
    for (let p: string | undefined = path; p !== undefined; p = parentPath(p)) {
      const v = this.values.get(p);
      if (v) return v;
    }
    return this.root;
  }

  /** The key's position (where "field:" is written), else the value's. */
  keyOf(path: string): SourcePos {
    return this.keys.get(path) ?? this.of(path);
  }
}

export function parentPath(path: string): string | undefined {
  if (path === '') return undefined;
  const m = /^(.*?)(\.[^.[\]]+|\[\d+\])$/.exec(path);
  return m ? m[1]! : '';
}

export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}

/** The closest of `choices` to `word` (edit distance <= 1/3 of its length), for "did you mean". */
export function closest(word: string, choices: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const c of choices) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

function describe(n: YamlNode): string {
  if (isMap(n)) return 'a mapping';
  if (isSeq(n)) return 'a list';
  if (isScalar(n)) {
    const v = n.value;
    if (v === null) return 'null';
    if (typeof v === 'boolean') return `the boolean ${String(v)}`;
    if (typeof v === 'number' || typeof v === 'bigint') return `the number ${n.source ?? String(v)}`;
    return `the string "${String(v)}"`;
  }
  return 'an unknown node';
}

/**
 * Validates one YAML document against a schema. Returns the plain value (only
 * fields the schema knows; scalars converted as the schema says) and records
 * positions; problems go to `diags`. The result is only meaningful when no
 * diagnostic was added.
 */
export class Validator {
  constructor(
    private readonly doc: Document,
    private readonly lc: LineCounter,
    readonly positions: Positions,
    private readonly diags: PolicyDiagnostic[],
    /** Where to say what is accepted but worth fixing (a key spelled in another case). */
    private readonly warnings?: PolicyDiagnostic[],
  ) {}

  pos(offset: number): SourcePos {
    const { line, col } = this.lc.linePos(offset);
    return { file: this.positions.file, line, col };
  }

  private nodePos(n: YamlNode | null | undefined, fallback: SourcePos): SourcePos {
    return n?.range ? this.pos(n.range[0]) : fallback;
  }

  private error(pos: SourcePos, path: string, message: string): void {
    this.diags.push({ pos, path, message });
  }

  private deref(n: unknown): YamlNode | null {
    if (n && isAlias(n)) return (n.resolve(this.doc) as YamlNode | undefined) ?? null;
    return (n as YamlNode | null) ?? null;
  }

  validate(node: unknown, schema: Schema, path: string, fallback: SourcePos): unknown {
    const n = this.deref(node);
    const pos = this.nodePos(n, fallback);
    this.positions.setValue(path, pos);
    if (schema.t === 'any') return n && 'toJSON' in n ? (n as { toJSON(): unknown }).toJSON() : null;
    if (!n || (isScalar(n) && n.value === null)) {
      // `field:` with nothing: null, which Kubernetes takes as absent for optional
      // fields; for lists and objects an empty value is harmless, elsewhere say so.
      this.positions.setNull(path);
      if (schema.t === 'array') return [];
      if (schema.t === 'object' || schema.t === 'map') return {};
      this.error(pos, path, `expected ${expected(schema)}, found null`);
      return undefined;
    }
    switch (schema.t) {
      case 'object': return this.object(n, schema, path, pos);
      case 'map': return this.map(n, schema.values, path, pos);
      case 'array': {
        if (!isSeq(n)) {
          this.error(pos, path, `expected a list, found ${describe(n)}`);
          return undefined;
        }
        if (schema.maxItems !== undefined && n.items.length > schema.maxItems) {
          this.error(pos, path, `at most ${schema.maxItems} items are allowed, found ${n.items.length}`);
        }
        return n.items.map((item, i) => this.validate(item, schema.items, joinPath(path, i), pos));
      }
      case 'string': return this.string(n, schema, path, pos);
      case 'integer': {
        if (!isScalar(n) || (typeof n.value !== 'number' && typeof n.value !== 'bigint') || !Number.isInteger(Number(n.value))) {
          this.error(pos, path, `expected an integer, found ${describe(n)}`);
          return undefined;
        }
        const v = Number(n.value);
        if (schema.min !== undefined && v < schema.min) this.error(pos, path, `must be >= ${schema.min}, found ${v}`);
        else if (schema.max !== undefined && v > schema.max) this.error(pos, path, `must be <= ${schema.max}, found ${v}`);
        return v;
      }
      case 'boolean': {
        if (!isScalar(n) || typeof n.value !== 'boolean') {
          this.error(pos, path, `expected a boolean (true or false), found ${describe(n)}`);
          return undefined;
        }
        return n.value;
      }
    }
  }

  /**
   * An object's fields. Keys are matched as Tetragon reads a policy file
   * (pkg/tracingpolicy: sigs.k8s.io/yaml's UnmarshalStrict, i.e. encoding/json,
   * which matches struct fields case-insensitively), with the two places
   * where the exact spelling still matters there:
   * - the CRD's OpenAPI checks (required fields, enums, ranges) run on the
   *   object as written, so a required field spelled otherwise is missing;
   * - the CRD's defaults are applied first, under the exact name, and the
   *   decoder then sees both keys in sorted order, the later one winning: a
   *   key that sorts before the exact name ("Return" < "return") loses to
   *   the default and Tetragon ignores it. That is an error here.
   * Any other spelling is read as the field, with a warning.
   */
  private object(n: YamlNode, schema: Extract<Schema, { t: 'object' }>, path: string, pos: SourcePos): Record<string, unknown> | undefined {
    if (!isMap(n)) {
      this.error(pos, path, `expected a mapping, found ${describe(n)}`);
      return undefined;
    }
    const out: Record<string, unknown> = {};
    const known = Object.keys(schema.props);
    const byLower = new Map(known.map((k) => [k.toLowerCase(), k]));
    const written = new Map<string, { key: string; pos: SourcePos }>();
    const variants = new Map<string, string>();
    for (const { pair, k, kpos } of this.pairs(n, path, pos)) {
      const key = String(k.value);
      let name = schema.props[key] ? key : byLower.get(key.toLowerCase());
      if (!name) {
        const sub = joinPath(path, key);
        const hint = closest(key, known);
        this.error(kpos, sub, `unknown field "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}; ${path || 'the document'} takes ${known.join(', ')}`);
        continue;
      }
      const sub = joinPath(path, name);
      const prev = written.get(name);
      if (prev) {
        this.error(kpos, sub, `"${key}" and "${prev.key}" (${prev.pos.line}:${prev.pos.col}) are the same field to Tetragon's decoder, which matches keys case-insensitively: give it once`);
        continue;
      }
      written.set(name, { key, pos: kpos });
      if (key !== name) {
        variants.set(name, key);
        if (schema.required?.includes(name)) continue; // reported below, as Tetragon's schema check does
        const defaults = schema.defaults ?? {};
        if (name in defaults && key < name) {
          this.error(kpos, sub, `"${key}" is ignored by Tetragon: the CRD default of "${name}" (${JSON.stringify(defaults[name])}) is applied under the exact name and wins over a key spelled otherwise; write "${name}"`);
          continue;
        }
        this.warnings?.push({ pos: kpos, path: sub, message: `"${key}" is read as "${name}" (Tetragon's decoder matches keys case-insensitively); write "${name}"` });
      }
      this.positions.setKey(sub, kpos);
      const v = this.validate(pair.value, schema.props[name]!, sub, kpos);
      if (v !== undefined) out[name] = v;
    }
    for (const r of schema.required ?? []) {
      const w = written.get(r);
      if (w && w.key === r) continue;
      const v = variants.get(r);
      this.error(pos, joinPath(path, r), v !== undefined
        ? `required field "${r}" is missing: "${v}" does not count, Tetragon's schema check is case-sensitive (its decoder is not)`
        : `required field "${r}" is missing`);
    }
    for (const r of schema.typedRequired ?? []) {
      if (!written.has(r)) this.error(pos, joinPath(path, r), `required field "${r}" is missing`);
    }
    return out;
  }

  /** A mapping's pairs whose keys are plain strings, in order; any other key is reported where it stands. */
  private *pairs(n: YAMLMap, path: string, pos: SourcePos): Generator<{ pair: Pair; k: Scalar; kpos: SourcePos }> {
    for (const pair of n.items as Pair[]) {
      const k = this.deref(pair.key);
      const kpos = this.nodePos(k, pos);
      if (!k || !isScalar(k)) this.error(kpos, path, 'keys must be plain strings');
      else yield { pair, k, kpos };
    }
  }

  private map(n: YamlNode, values: Schema, path: string, pos: SourcePos): Record<string, unknown> | undefined {
    if (!isMap(n)) {
      this.error(pos, path, `expected a mapping, found ${describe(n)}`);
      return undefined;
    }
    const out: Record<string, unknown> = {};
    for (const { pair, k, kpos } of this.pairs(n, path, pos)) {
      const key = String(k.source ?? k.value);
      const sub = joinPath(path, key);
      this.positions.setKey(sub, kpos);
      const v = this.validate(pair.value, values, sub, kpos);
      if (v !== undefined) out[key] = v;
    }
    return out;
  }

  private string(n: YamlNode, schema: Extract<Schema, { t: 'string' }>, path: string, pos: SourcePos): string | undefined {
    if (!isScalar(n)) {
      this.error(pos, path, `expected a string, found ${describe(n)}`);
      return undefined;
    }
    // Plain scalars are taken as written (`1m`, `0x10`, `true` where a string is expected).
    const v = n.type === 'PLAIN' && n.source !== undefined ? n.source : String(n.value);
    if (schema.enum && !schema.enum.includes(v)) {
      const hint = closest(v, schema.enum);
      this.error(pos, path, `"${v}" is not allowed${hint ? ` (did you mean "${hint}"?)` : ''}; expected one of ${schema.enum.join(', ')}`);
      return undefined;
    }
    if (schema.maxLength !== undefined && v.length > schema.maxLength) {
      this.error(pos, path, `at most ${schema.maxLength} characters are allowed, found ${v.length}`);
    }
    if (schema.minLength !== undefined && v.length < schema.minLength) {
      this.error(pos, path, `at least ${schema.minLength} character${schema.minLength === 1 ? ' is' : 's are'} required, found ${v.length}`);
    }
    if (schema.pattern && !schema.pattern.test(v)) {
      this.error(pos, path, `"${v}" must be ${schema.patternText ?? `like ${String(schema.pattern)}`}`);
    }
    return v;
  }
}

function expected(s: Schema): string {
  switch (s.t) {
    case 'object': case 'map': return 'a mapping';
    case 'array': return 'a list';
    case 'string': return s.enum ? `one of ${s.enum.join(', ')}` : 'a string';
    case 'integer': return 'an integer';
    case 'boolean': return 'a boolean';
    case 'any': return 'a value';
  }
}
