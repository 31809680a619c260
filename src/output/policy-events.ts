// Policy events as lines, in Tetragon's shapes (tetragon/api/v1 ProcessKprobe,
// ProcessTracepoint, ProcessUprobe, ProcessLsm as protobuf JSON writes them):
//   json     {"process_kprobe":{process, parent, function_name, args, return,
//            action, policy_name, message, tags, kernel_stack_trace, ...,
//            "hook": "<what served it>"}, "node_name":.., "time":..}
//   compact  `tetra getevents -o compact`: "📬 open    <pid> <binary> <path>"
//   tetragon strict Tetragon (docs/outputs.md): only fields of the envelope's
//            message, enum values of its schema
// The fields Tetragon does not have (json only) are "hook": the kernel hook
// that served the event (a tracepoint standing in for a kprobe says so), and
// "portable".
// Events of a policy in monitor mode keep Tetragon's `action` (what the policy
// says to do) and carry the tag "policy-mode:monitor": nothing was enforced.
// 64-bit integers are strings, as protojson writes int64/uint64.
import { decodeOpenFlags, formatMode } from '../sensors/flags.js';
import { formatTime, rfc3339Nano, type TimeFormat } from '../util/clock.js';
import { envelopeExtras } from '../util/node.js';
import { syscallName } from '../kernel/syscalls.js';
import {
  TetragonFormatter, capabilityNames, tetragonCapabilityName, escapeControls, knownCapabilityNames, secureBitsNames, type FormatterOptions, type TetragonProcess,
} from './tetragon.js';
import type { ArgSpec, ArgValue, Hook, PolicyEvent, StackFrame } from '../policy/ir.js';
import type { ProcessInfo } from '../process/types.js';

export type PolicyOutputFormat = 'json' | 'compact' | 'tetragon';

/** The tag events of a policy in monitor mode carry (`spec.options` policy-mode: monitor). */
export const MONITOR_TAG = 'policy-mode:monitor';

/** The tag --output tetragon adds where Vigil's Deny is reported as Tetragon's KPROBE_ACTION_OVERRIDE. */
export const DENY_TAG = 'vigil-action:deny';

const FAMILY_NAMES: Readonly<Record<number, string>> = { 0: 'AF_UNSPEC', 1: 'AF_UNIX', 2: 'AF_INET', 10: 'AF_INET6', 16: 'AF_NETLINK', 17: 'AF_PACKET', 40: 'AF_VSOCK', 44: 'AF_XDP' };
const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  0: 'IPPROTO_IP', 1: 'IPPROTO_ICMP', 6: 'IPPROTO_TCP', 17: 'IPPROTO_UDP', 58: 'IPPROTO_ICMPV6', 132: 'IPPROTO_SCTP',
  136: 'IPPROTO_UDPLITE', 255: 'IPPROTO_RAW', 262: 'IPPROTO_MPTCP',
};
const SOCK_TYPE_NAMES: Readonly<Record<number, string>> = { 1: 'SOCK_STREAM', 2: 'SOCK_DGRAM', 3: 'SOCK_RAW', 5: 'SOCK_SEQPACKET' };
const TCP_STATE_NAMES: Readonly<Record<number, string>> = {
  1: 'TCP_ESTABLISHED', 2: 'TCP_SYN_SENT', 3: 'TCP_SYN_RECV', 4: 'TCP_FIN_WAIT1', 5: 'TCP_FIN_WAIT2', 6: 'TCP_TIME_WAIT',
  7: 'TCP_CLOSE', 8: 'TCP_CLOSE_WAIT', 9: 'TCP_LAST_ACK', 10: 'TCP_LISTEN', 11: 'TCP_CLOSING', 12: 'TCP_NEW_SYN_RECV',
};
const BPF_PROG_TYPES = [
  'BPF_PROG_TYPE_UNSPEC', 'BPF_PROG_TYPE_SOCKET_FILTER', 'BPF_PROG_TYPE_KPROBE', 'BPF_PROG_TYPE_SCHED_CLS',
  'BPF_PROG_TYPE_SCHED_ACT', 'BPF_PROG_TYPE_TRACEPOINT', 'BPF_PROG_TYPE_XDP', 'BPF_PROG_TYPE_PERF_EVENT',
  'BPF_PROG_TYPE_CGROUP_SKB', 'BPF_PROG_TYPE_CGROUP_SOCK', 'BPF_PROG_TYPE_LWT_IN', 'BPF_PROG_TYPE_LWT_OUT',
  'BPF_PROG_TYPE_LWT_XMIT', 'BPF_PROG_TYPE_SOCK_OPS', 'BPF_PROG_TYPE_SK_SKB', 'BPF_PROG_TYPE_CGROUP_DEVICE',
  'BPF_PROG_TYPE_SK_MSG', 'BPF_PROG_TYPE_RAW_TRACEPOINT', 'BPF_PROG_TYPE_CGROUP_SOCK_ADDR', 'BPF_PROG_TYPE_LWT_SEG6LOCAL',
  'BPF_PROG_TYPE_LIRC_MODE2', 'BPF_PROG_TYPE_SK_REUSEPORT', 'BPF_PROG_TYPE_FLOW_DISSECTOR', 'BPF_PROG_TYPE_CGROUP_SYSCTL',
  'BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE', 'BPF_PROG_TYPE_CGROUP_SOCKOPT', 'BPF_PROG_TYPE_TRACING',
  'BPF_PROG_TYPE_STRUCT_OPS', 'BPF_PROG_TYPE_EXT', 'BPF_PROG_TYPE_LSM', 'BPF_PROG_TYPE_SK_LOOKUP', 'BPF_PROG_TYPE_SYSCALL',
  'BPF_PROG_TYPE_NETFILTER',
];
const BPF_MAP_TYPES = [
  'BPF_MAP_TYPE_UNSPEC', 'BPF_MAP_TYPE_HASH', 'BPF_MAP_TYPE_ARRAY', 'BPF_MAP_TYPE_PROG_ARRAY', 'BPF_MAP_TYPE_PERF_EVENT_ARRAY',
  'BPF_MAP_TYPE_PERCPU_HASH', 'BPF_MAP_TYPE_PERCPU_ARRAY', 'BPF_MAP_TYPE_STACK_TRACE', 'BPF_MAP_TYPE_CGROUP_ARRAY',
  'BPF_MAP_TYPE_LRU_HASH', 'BPF_MAP_TYPE_LRU_PERCPU_HASH', 'BPF_MAP_TYPE_LPM_TRIE', 'BPF_MAP_TYPE_ARRAY_OF_MAPS',
  'BPF_MAP_TYPE_HASH_OF_MAPS', 'BPF_MAP_TYPE_DEVMAP', 'BPF_MAP_TYPE_SOCKMAP', 'BPF_MAP_TYPE_CPUMAP', 'BPF_MAP_TYPE_XSKMAP',
  'BPF_MAP_TYPE_SOCKHASH', 'BPF_MAP_TYPE_CGROUP_STORAGE', 'BPF_MAP_TYPE_REUSEPORT_SOCKARRAY',
  'BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE', 'BPF_MAP_TYPE_QUEUE', 'BPF_MAP_TYPE_STACK', 'BPF_MAP_TYPE_SK_STORAGE',
  'BPF_MAP_TYPE_DEVMAP_HASH', 'BPF_MAP_TYPE_STRUCT_OPS', 'BPF_MAP_TYPE_RINGBUF', 'BPF_MAP_TYPE_INODE_STORAGE',
  'BPF_MAP_TYPE_TASK_STORAGE', 'BPF_MAP_TYPE_BLOOM_FILTER', 'BPF_MAP_TYPE_USER_RINGBUF', 'BPF_MAP_TYPE_CGRP_STORAGE',
  'BPF_MAP_TYPE_ARENA',
];
const BPF_CMDS = [
  'BPF_MAP_CREATE', 'BPF_MAP_LOOKUP_ELEM', 'BPF_MAP_UPDATE_ELEM', 'BPF_MAP_DELETE_ELEM', 'BPF_MAP_GET_NEXT_KEY',
  'BPF_PROG_LOAD', 'BPF_OBJ_PIN', 'BPF_OBJ_GET', 'BPF_PROG_ATTACH', 'BPF_PROG_DETACH', 'BPF_PROG_TEST_RUN',
  'BPF_PROG_GET_NEXT_ID', 'BPF_MAP_GET_NEXT_ID', 'BPF_PROG_GET_FD_BY_ID', 'BPF_MAP_GET_FD_BY_ID', 'BPF_OBJ_GET_INFO_BY_FD',
  'BPF_PROG_QUERY', 'BPF_RAW_TRACEPOINT_OPEN', 'BPF_BTF_LOAD', 'BPF_BTF_GET_FD_BY_ID', 'BPF_TASK_FD_QUERY',
  'BPF_MAP_LOOKUP_AND_DELETE_ELEM', 'BPF_MAP_FREEZE', 'BPF_BTF_GET_NEXT_ID', 'BPF_MAP_LOOKUP_BATCH',
  'BPF_MAP_LOOKUP_AND_DELETE_BATCH', 'BPF_MAP_UPDATE_BATCH', 'BPF_MAP_DELETE_BATCH', 'BPF_LINK_CREATE', 'BPF_LINK_UPDATE',
  'BPF_LINK_GET_FD_BY_ID', 'BPF_LINK_GET_NEXT_ID', 'BPF_ENABLE_STATS', 'BPF_ITER_CREATE', 'BPF_LINK_DETACH',
  'BPF_PROG_BIND_MAP', 'BPF_TOKEN_CREATE',
];

const str64 = (v: bigint | number): string => BigInt(v).toString();

function named(table: Readonly<Record<number, string>> | readonly string[], v: number): string {
  return (Array.isArray(table) ? table[v] : (table as Record<number, string>)[v]) ?? String(v);
}

/** "-rw-r--r--" from a mode, as Tetragon's permission strings. */
function permission(mode: number | undefined): string | undefined {
  if (mode === undefined) return undefined;
  const type = (mode & 0o170000) === 0o040000 ? 'd' : (mode & 0o170000) === 0o120000 ? 'l' : (mode & 0o170000) === 0o020000 ? 'c' : '-';
  const rwx = (m: number, s: number, sc: string): string => `${m & 4 ? 'r' : '-'}${m & 2 ? 'w' : '-'}${s ? (m & 1 ? sc : sc.toUpperCase()) : m & 1 ? 'x' : '-'}`;
  return type + rwx((mode >> 6) & 7, mode & 0o4000, 's') + rwx((mode >> 3) & 7, mode & 0o2000, 's') + rwx(mode & 7, mode & 0o1000, 't');
}

function fileObject(v: Extract<ArgValue, { kind: 'file' }>): Record<string, unknown> {
  const o: Record<string, unknown> = { path: v.path };
  if (v.flags !== undefined) o.flags = decodeOpenFlags(v.flags).join('|');
  const perm = v.permission ?? permission(v.mode);
  if (perm !== undefined) o.permission = perm;
  return o;
}

/**
 * One argument as Tetragon's KprobeArgument: the key follows the declared
 * type ({"int_arg":..}, {"file_arg":{..}}, {"sock_arg":{..}}, ...), the
 * label rides along. A value the engine could not read is
 * {"unavailable_arg": "<why>"}; nop arguments are left out (undefined).
 */
export function tetragonArg(spec: ArgSpec, v: ArgValue, strict = false): Record<string, unknown> | undefined {
  if (spec.type === 'nop') return undefined;
  const label = spec.label ? { label: spec.label } : {};
  const o = (key: string, value: unknown): Record<string, unknown> => ({ [key]: value, ...label });
  if (strict) {
    const s = strictArg(v);
    if (s) return o(...s);
  }
  switch (v.kind) {
    case 'int':
      switch (spec.type) {
        case 'int': case 'int8': case 'int16': case 'int32': return o('int_arg', Number(BigInt.asIntN(32, v.value)));
        case 'uint': case 'uint8': case 'uint16': case 'uint32': return o('uint_arg', Number(BigInt.asUintN(32, v.value)));
        case 'int64': case 'long': return o('long_arg', str64(BigInt.asIntN(64, v.value)));
        case 'capability': return o('capability_arg', { value: Number(v.value), name: tetragonCapabilityName(Number(v.value)) });
        case 'bpf_cmd': return o('bpf_cmd_arg', named(BPF_CMDS, Number(v.value)));
        case 'syscall64': return o('syscall_id', { id: Number(v.value & 0x7fffffffn), abi: v.value & 0x80000000n ? 'i386' : 'x64' });
        case 'kernel_cap_t': case 'cap_inheritable': case 'cap_permitted': case 'cap_effective':
          return o(`${spec.type}_arg`, capabilityNames(v.value).join(' '));
        case 'fd': return o('int_arg', Number(BigInt.asIntN(32, v.value)));
        default: return o('size_arg', str64(BigInt.asUintN(64, v.value)));
      }
    case 'string':
      if (spec.type === 'net_device') return o('net_dev_arg', { name: v.value });
      if (spec.type === 'module' || spec.type === 'load_info') return o('module_arg', { name: v.value });
      if (spec.type === 'file' || spec.type === 'fd' || spec.type === 'kiocb') return o('file_arg', { path: v.value });
      if (spec.type === 'path' || spec.type === 'dentry') return o('path_arg', { path: v.value });
      if (spec.type === 'linux_binprm') return o('linux_binprm_arg', { path: v.value });
      return o('string_arg', v.value);
    case 'bytes': {
      const b64 = Buffer.from(v.value).toString('base64');
      if (v.truncated) return o('truncated_bytes_arg', { bytes_arg: b64, orig_size: str64(v.origSize ?? v.value.length) });
      return o('bytes_arg', b64);
    }
    case 'file':
      if (spec.type === 'path' || spec.type === 'dentry') return o('path_arg', fileObject(v));
      if (spec.type === 'linux_binprm') return o('linux_binprm_arg', fileObject(v));
      return o('file_arg', fileObject(v));
    case 'sock': {
      const s: Record<string, unknown> = {
        family: named(FAMILY_NAMES, v.family), type: v.type !== undefined ? named(SOCK_TYPE_NAMES, v.type) : undefined,
        protocol: named(PROTOCOL_NAMES, v.protocol), saddr: v.saddr, daddr: v.daddr, sport: v.sport, dport: v.dport,
        cookie: v.cookie !== undefined ? str64(v.cookie) : undefined, state: v.state !== undefined ? named(TCP_STATE_NAMES, v.state) : undefined,
      };
      for (const k of Object.keys(s)) if (s[k] === undefined) delete s[k];
      return o('sock_arg', s);
    }
    case 'sockaddr':
      // Tetragon's KprobeSockaddrUn {family, path} for sockaddr_un arguments.
      if (spec.type === 'sockaddr_un') return o('sockaddrun_arg', { family: named(FAMILY_NAMES, v.family), path: v.addr });
      return o('sockaddr_arg', { family: named(FAMILY_NAMES, v.family), addr: v.addr, port: v.port });
    case 'skb':
      return o('skb_arg', { family: named(FAMILY_NAMES, v.family), saddr: v.saddr, daddr: v.daddr, sport: v.sport, dport: v.dport, proto: v.protocol, len: v.len });
    case 'cred': {
      const c: Record<string, unknown> = {
        uid: v.uid, gid: v.gid, euid: v.euid, egid: v.egid, suid: v.suid, sgid: v.sgid, fsuid: v.fsuid, fsgid: v.fsgid,
      };
      if (v.securebits !== undefined) c.securebits = v.securebits;
      if (v.caps) c.caps = { permitted: capabilityNames(v.caps.permitted), effective: capabilityNames(v.caps.effective), inheritable: capabilityNames(v.caps.inheritable) };
      return o('process_credentials_arg', c);
    }
    case 'caps':
      return o(`${v.set}_arg`, capabilityNames(v.mask).join(' '));
    case 'capability':
      return o('capability_arg', { value: v.value, name: tetragonCapabilityName(v.value) });
    case 'syscall64':
      return o('syscall_id', { id: v.id, abi: v.abi });
    case 'bpf_attr':
      return o('bpf_attr_arg', { ProgType: named(BPF_PROG_TYPES, v.progType), InsnCnt: v.insnCnt, ProgName: v.progName });
    case 'bpf_map':
      return o('bpf_map_arg', { MapType: named(BPF_MAP_TYPES, v.mapType), KeySize: v.keySize, ValueSize: v.valueSize, MaxEntries: v.maxEntries, MapName: v.mapName });
    case 'perf_event':
      return o('perf_event_arg', { KprobeFunc: v.kprobeFunc, Type: v.type, Config: str64(v.config), ProbeOffset: str64(v.probeOffset) });
    case 'module':
      return o('module_arg', { name: v.name, signature_ok: v.signatureOk, tainted: v.tainted });
    case 'user_ns':
      return o('user_ns_arg', { level: v.level, uid: v.uid, gid: v.gid, ns: { inum: Number(v.inum) } });
    case 'net_device':
      return o('net_dev_arg', { name: v.name });
    case 'unavailable':
      return o('unavailable_arg', v.reason);
  }
}

/**
 * Where Tetragon's schema wants another shape than Vigil's json: a value not
 * read is an error_arg (Tetragon has no unavailable_arg), enums by their
 * schema names (securebits, capabilities it names). Undefined: the shape is
 * the same.
 */
function strictArg(v: ArgValue): [string, unknown] | undefined {
  switch (v.kind) {
    case 'unavailable':
      return ['error_arg', { Message: v.reason }];
    case 'cred': {
      const c: Record<string, unknown> = {
        uid: v.uid, gid: v.gid, euid: v.euid, egid: v.egid, suid: v.suid, sgid: v.sgid, fsuid: v.fsuid, fsgid: v.fsgid,
      };
      if (v.securebits !== undefined) c.securebits = secureBitsNames(v.securebits);
      if (v.caps) c.caps = { permitted: knownCapabilityNames(v.caps.permitted), effective: knownCapabilityNames(v.caps.effective), inheritable: knownCapabilityNames(v.caps.inheritable) };
      return ['process_credentials_arg', c];
    }
    default:
      return undefined;
  }
}

/** The fields of each envelope's message in Tetragon's schema (tetragon.proto): what --output tetragon keeps. */
const TETRAGON_FIELDS: Readonly<Record<ReturnType<typeof envelopeKey>, ReadonlySet<string>>> = {
  process_kprobe: new Set(['process', 'parent', 'function_name', 'args', 'return', 'action', 'kernel_stack_trace', 'policy_name',
    'return_action', 'message', 'tags', 'user_stack_trace', 'ancestors', 'data']),
  process_tracepoint: new Set(['process', 'parent', 'subsys', 'event', 'args', 'policy_name', 'action', 'message', 'tags', 'ancestors']),
  process_uprobe: new Set(['process', 'parent', 'path', 'symbol', 'policy_name', 'message', 'args', 'tags', 'ancestors', 'offset',
    'ref_ctr_offset', 'action', 'data']),
  process_lsm: new Set(['process', 'parent', 'function_name', 'policy_name', 'message', 'args', 'action', 'tags', 'ancestors', 'ima_hash']),
  process_loader: new Set(['process', 'path', 'buildid', 'parent', 'ancestors']),
};

function stack(frames: readonly StackFrame[] | undefined): Record<string, unknown>[] | undefined {
  if (!frames || frames.length === 0) return undefined;
  return frames.map((f) => {
    const o: Record<string, unknown> = { address: str64(f.address) };
    if (f.offset !== undefined) o.offset = str64(f.offset);
    if (f.symbol !== undefined) o.symbol = f.symbol;
    if (f.module !== undefined) o.module = f.module;
    return o;
  });
}

/** The envelope key of an event: from the YAML section the hook came from. */
export function envelopeKey(h: Hook): 'process_kprobe' | 'process_tracepoint' | 'process_uprobe' | 'process_lsm' | 'process_loader' {
  switch (h.section) {
    case 'kprobes': case 'fentries': return 'process_kprobe';
    case 'tracepoints': return 'process_tracepoint';
    case 'uprobes': return 'process_uprobe';
    case 'lsmhooks': return 'process_lsm';
    case 'loader': return 'process_loader';
  }
}

export interface PolicyFormatterOptions extends FormatterOptions {
  /** Share the process formatter with the process events' output. */
  readonly tetragon?: TetragonFormatter;
}

export class PolicyEventFormatter {
  private readonly tetragon: TetragonFormatter;
  private readonly timeFormat: TimeFormat | undefined;

  constructor(readonly format: PolicyOutputFormat, opts: PolicyFormatterOptions = {}) {
    this.tetragon = opts.tetragon ?? new TetragonFormatter(format === 'tetragon' ? 'tetragon' : 'json', opts);
    this.timeFormat = opts.timeFormat;
  }

  get node(): string {
    return this.tetragon.node;
  }

  private processObject(e: PolicyEvent, p: ProcessInfo | undefined): TetragonProcess | Record<string, unknown> {
    if (p) return this.tetragon.process(p);
    // Not in the process cache (gone before it was seen): what the record itself says (Tetragon's "unknown").
    const o: Record<string, unknown> = { pid: e.pid, tid: e.tid, binary: '', arguments: '', flags: 'unknown' };
    if (!this.strict) o.comm = e.comm;
    return o;
  }

  private get strict(): boolean {
    return this.format === 'tetragon';
  }

  /** The event's body (inside the envelope). */
  body(e: PolicyEvent): Record<string, unknown> {
    const h = e.hook;
    const o: Record<string, unknown> = { process: this.processObject(e, e.process) };
    if (h.kind === 'loader') {
      // Tetragon's ProcessLoader: process, path, buildid (bytes: base64 in protobuf JSON), parent.
      o.path = e.loaded?.path ?? '';
      if (e.loaded?.buildId) o.buildid = Buffer.from(e.loaded.buildId).toString('base64');
      if (e.parent) o.parent = this.tetragon.process(e.parent);
      o.hook = e.attachment.label;
      if (h.served.portable) o.portable = true;
      return o;
    }
    if (e.parent) o.parent = this.tetragon.process(e.parent);
    switch (h.target.kind) {
      case 'tracepoint':
        o.subsys = h.target.category;
        o.event = h.target.event;
        break;
      case 'uprobe':
        o.path = h.target.path;
        o.symbol = h.target.symbol;
        if (h.target.offset !== undefined) o.offset = str64(h.target.offset);
        break;
      default:
        o.function_name = h.functionName;
    }
    const strict = this.strict;
    const args = (specs: readonly ArgSpec[], values: readonly ArgValue[] | undefined): Record<string, unknown>[] =>
      specs.map((a, i) => tetragonArg(a, values?.[i] ?? { kind: 'unavailable', reason: 'not captured' }, strict))
        .filter((x) => x !== undefined);
    o.args = args(h.args, e.args);
    if (e.returnValue !== undefined) {
      const spec: ArgSpec = h.returnArg ?? { index: 0, type: 'int', returnCopy: false, maxData: false, pos: h.pos };
      o.return = tetragonArg(spec, e.returnValue, strict);
    }
    // Tetragon's `data` (process_kprobe / process_uprobe), after the return value in its schema.
    if (h.data && h.data.length > 0 && (e.kind === 'kprobe' || e.kind === 'uprobe')) o.data = args(h.data, e.data);
    // Vigil's Deny (the call refused with EPERM) is, in Tetragon's terms, an override of its return value.
    const denied = strict && e.action === 'KPROBE_ACTION_DENY';
    o.action = denied ? 'KPROBE_ACTION_OVERRIDE' : e.action;
    o.policy_name = e.policy.name;
    if (e.policy.namespace !== undefined) o.policy_namespace = e.policy.namespace;
    if (h.message) o.message = h.message;
    // Tetragon's events have no field for the policy mode: a monitor-mode policy's events say it in
    // tags (a field the schema has); `action` is the action as written, as Tetragon reports it.
    const tags = e.policyMode === 'monitor' ? [...h.tags, MONITOR_TAG] : [...h.tags];
    if (denied) tags.push(DENY_TAG);
    if (tags.length) o.tags = tags;
    const ks = stack(e.kernelStack);
    if (ks) o.kernel_stack_trace = ks;
    const us = stack(e.userStack);
    if (us) o.user_stack_trace = us;
    o.hook = e.attachment.label;
    if (h.served.portable) o.portable = true;
    return o;
  }

  /** The envelope line: Vigil's json, or with --output tetragon only the fields of Tetragon's message. */
  json(e: PolicyEvent): string {
    const key = envelopeKey(e.hook);
    let body = this.body(e);
    if (this.strict) {
      const keep = TETRAGON_FIELDS[key];
      body = Object.fromEntries(Object.entries(body).filter(([k]) => keep.has(k)));
    }
    return JSON.stringify({ [key]: body, node_name: this.node, time: rfc3339Nano(e.timeNs), ...envelopeExtras() });
  }

  compact(e: PolicyEvent): string {
    const p = e.process;
    const bin = p?.binary || `[${e.comm}]`;
    const [icon, verb] = verbOf(e);
    const words = [`${icon} ${verb.padEnd(7)}`, String(p?.pid ?? e.pid), bin, detail(e)].filter((w) => w !== '');
    const action = e.action === 'KPROBE_ACTION_POST' ? '' : ` ${e.action.replace('KPROBE_ACTION_', '')}${e.elided?.length ? ' (monitor: not enforced)' : ''}`;
    const line = escapeControls(`${words.join(' ')}${action}`);
    // With a time format: the event's time first, as observe's compact lines.
    return this.timeFormat === undefined ? line : `${formatTime(e.timeNs, this.timeFormat)}: ${line}`;
  }

  line(e: PolicyEvent): string {
    return this.format === 'compact' ? this.compact(e) : this.json(e);
  }
}

/** The syscall or function an event is about, normalised ("openat", "security_file_open", "setuid"). */
function callName(e: PolicyEvent): string {
  const t = e.hook.target;
  if (t.kind === 'syscall') return t.name;
  if (t.kind === 'kfunc') return t.function;
  if (t.kind === 'lsm') return t.hook;
  if (t.kind === 'tracepoint') return t.event;
  if (t.kind === 'loader') return 'loader';
  return t.symbol;
}

/** Icon and verb, as tetra's compact encoder picks them for its known calls. */
function verbOf(e: PolicyEvent): [string, string] {
  const n = callName(e);
  const k = e.hook.kind;
  if (k === 'uprobe') return ['🔍', 'uprobe'];
  if (k === 'loader') return ['📚', 'loader'];
  if (/^(open|openat|openat2|creat|open_by_handle_at)$|^(security_file_open|fd_install|file_open)$/.test(n)) return ['📬', 'open'];
  if (/^(security_file_permission|file_permission)$/.test(n)) {
    const mask = e.args[1];
    return mask?.kind === 'int' && (mask.value & 2n) !== 0n ? ['📝', 'write'] : ['📚', 'read'];
  }
  if (/^(write|writev|pwrite64|pwritev2?)$/.test(n)) return ['📝', 'write'];
  if (/^(read|readv|pread64|preadv2?)$/.test(n)) return ['📚', 'read'];
  if (/^(close|tcp_close)$/.test(n)) return n === 'tcp_close' ? ['🧹', 'close'] : ['📪', 'close'];
  if (/^(connect|tcp_connect|security_socket_connect|socket_connect)$/.test(n)) return ['🔌', 'connect'];
  if (/^(sendto|sendmsg|tcp_sendmsg|security_socket_sendmsg)$/.test(n)) return ['📤', 'sendmsg'];
  if (/^(mount|pivot_root|umount2|security_sb_mount)$/.test(n)) return ['💾', n === 'pivot_root' ? 'pivot_root' : 'mount'];
  if (/^set(re|res|fs)?[ug]id$|^(commit_creds|capset)$/.test(n)) return ['🔑', n];
  if (/^(setns|unshare|create_user_ns)$/.test(n)) return ['🔧', n];
  if (/bprm|^sched_process_exec$|^(execve|execveat)$/.test(n)) return ['🔎', 'exec'];
  if (/^(ptrace|security_ptrace_access_check)$/.test(n)) return ['🕵', 'ptrace'];
  if (/bpf/.test(n)) return ['🐝', 'bpf'];
  if (/module/.test(n)) return ['📦', 'module'];
  if (/^(dup|dup2|dup3)$/.test(n)) return ['🔀', n];
  if (k === 'tracepoint') return ['⁉️', 'tracepoint'];
  if (k === 'lsm') return ['🔒', 'lsm'];
  return ['⁉️', 'syscall'];
}

/** One argument, short: a path, an address, a number. */
function short(v: ArgValue): string {
  switch (v.kind) {
    case 'int': return v.value.toString();
    case 'string': return v.value;
    case 'bytes': return JSON.stringify(Buffer.from(v.value).toString('latin1'));
    case 'file': return v.mode !== undefined ? `${v.path} ${formatMode(v.mode)}` : v.path;
    case 'sock': return `${v.saddr}:${v.sport} -> ${v.daddr}:${v.dport}`;
    case 'sockaddr': return v.family === 1 ? v.addr : v.family === 10 ? `[${v.addr}]:${v.port}` : `${v.addr}:${v.port}`;
    case 'skb': return `${v.saddr}:${v.sport} -> ${v.daddr}:${v.dport}`;
    case 'cred': return `uid=${v.uid} euid=${v.euid} gid=${v.gid} egid=${v.egid}`;
    case 'caps': return capabilityNames(v.mask).join(',');
    case 'capability': return tetragonCapabilityName(v.value);
    case 'syscall64': return v.abi === 'x64' ? syscallName(v.id) : `i386:${v.id}`;
    case 'bpf_attr': return `${named(BPF_PROG_TYPES, v.progType)} ${v.progName} insns=${v.insnCnt}`;
    case 'bpf_map': return `${named(BPF_MAP_TYPES, v.mapType)} ${v.mapName}`;
    case 'perf_event': return `${v.type} ${v.kprobeFunc}`.trim();
    case 'module': return v.name;
    case 'user_ns': return `userns:${v.inum}`;
    case 'net_device': return v.name;
    case 'unavailable': return '?';
  }
}

function detail(e: PolicyEvent): string {
  const h = e.hook;
  const parts: string[] = [];
  const t = h.target;
  if (t.kind === 'tracepoint') parts.push(`${t.category}/${t.event}`);
  else if (t.kind === 'uprobe') parts.push(`${t.path} ${t.symbol}`);
  else if (verbOf(e)[1] === 'syscall' || verbOf(e)[1] === 'lsm') parts.push(h.functionName);
  h.args.forEach((a, i) => {
    const v = e.args[i];
    if (a.type === 'nop' || !v) return;
    parts.push(a.label ? `${a.label}=${short(v)}` : short(v));
  });
  if (e.returnValue !== undefined) parts.push(`= ${short(e.returnValue)}`);
  return parts.join(' ');
}
