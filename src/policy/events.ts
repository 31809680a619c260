// Decoding the engine's records (struct vigil_policy_event + blob, see
// bpf/include/vigil/policy.h) into the IR's PolicyEvent values. Pure: the
// engine hands in what it knows (the hook, its plan, the process cache's
// images, the symbolised stacks).
import type {
  ArgSpec, ArgValue, Attachment, CompiledPolicy, EventAction, Hook, PolicyEvent, PolicyEventKind, StackFrame,
} from './ir.js';
import { eventActionOf as irEventAction } from './ir.js';
import { statSync } from 'node:fs';
import type { ProcessInfo } from '../process/types.js';
import { ElfFile, FdSource } from '../kernel/elf.js';
import { formatAddress } from '../kernel/addr.js';
import {
  vigilPolicyCred, vigilPolicyEvent, vigilPolicySock, vigilPolicyUserNs, VIGIL_POLICY_ARG_KUSER_NS, type VigilPolicyArg, type VigilPolicyArgValue,
  type VigilPolicyEvent,
  VIGIL_POLICY_ACT_DENY, VIGIL_POLICY_ACT_NOTIFY_ENFORCER, VIGIL_POLICY_ACT_SIGKILL, VIGIL_POLICY_ACT_SIGNAL,
  VIGIL_POLICY_ACT_OVERRIDE,
  VIGIL_POLICY_ARG_CHAR_ARRAY, VIGIL_POLICY_ARG_CHAR_BUF, VIGIL_POLICY_ARG_CRED, VIGIL_POLICY_ARG_DATA_LOC,
  VIGIL_POLICY_ARG_ERROR, VIGIL_POLICY_ARG_FILE, VIGIL_POLICY_ARG_KSTRING, VIGIL_POLICY_ARG_NODATA,
  VIGIL_POLICY_ARG_NONE, VIGIL_POLICY_ARG_PATH_AT, VIGIL_POLICY_ARG_PENDING, VIGIL_POLICY_ARG_S64,
  VIGIL_POLICY_ARG_SOCK, VIGIL_POLICY_ARG_STRING, VIGIL_POLICY_ARG_TRUNC, VIGIL_POLICY_ARG_U64, VIGIL_POLICY_ARG_UNIX,
  VIGIL_POLICY_ARG_USER_STRUCT, VIGIL_POLICY_EVENT, VIGIL_POLICY_EV_RET, VIGIL_POLICY_RET_SLOT,
} from '../generated/policy.js';

/** A record as read from the ring: its header and a copy of its blob. */
export interface PolicyRecord {
  readonly header: VigilPolicyEvent;
  readonly blob: Uint8Array;
}

export class PolicyRecordError extends Error {
  override readonly name = 'PolicyRecordError';
}

/** Parses one ring record; the blob is copied (the ring's memory is reused). */
export function decodePolicyRecord(view: DataView, offset: number, size: number): PolicyRecord {
  if (size < vigilPolicyEvent.size) throw new PolicyRecordError(`policy record of ${size} bytes`);
  const header = vigilPolicyEvent.decode(view, offset);
  if (header.kind !== VIGIL_POLICY_EVENT) throw new PolicyRecordError(`record kind 0x${header.kind.toString(16)}`);
  const len = Math.min(header.data_len, size - vigilPolicyEvent.size);
  const blob = new Uint8Array(len);
  blob.set(new Uint8Array(view.buffer, view.byteOffset + offset + vigilPolicyEvent.size, len));
  return { header, blob };
}

const utf8 = new TextDecoder('utf-8');

function text(blob: Uint8Array, a: VigilPolicyArgValue): string {
  const end = Math.min(blob.length, a.off + a.len);
  return utf8.decode(blob.subarray(a.off, end));
}

function cstr(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return utf8.decode(nul < 0 ? b : b.subarray(0, nul));
}

function dv(blob: Uint8Array, off: number): DataView {
  return new DataView(blob.buffer, blob.byteOffset + off, blob.length - off);
}

const FILE_TYPES = new Set(['fd', 'file', 'path', 'dentry', 'linux_binprm', 'kiocb']);

function addr(bytes: Uint8Array, family: number): string {
  if (family === 2) return formatAddress(bytes.subarray(0, 4), 4);
  if (family === 10) return formatAddress(bytes.subarray(0, 16), 6);
  return '';
}

/** One captured argument as the IR's ArgValue, read as its declared type says. */
export function argValue(spec: ArgSpec, kernel: VigilPolicyArg | undefined, a: VigilPolicyArgValue, blob: Uint8Array): ArgValue {
  if (a.flags & VIGIL_POLICY_ARG_ERROR) return { kind: 'unavailable', reason: 'could not be read' };
  if (a.flags & VIGIL_POLICY_ARG_NODATA) return { kind: 'unavailable', reason: 'over the event\'s data limit' };
  if (a.flags & VIGIL_POLICY_ARG_PENDING) return { kind: 'unavailable', reason: 'not completed at exit' };
  const truncated = (a.flags & VIGIL_POLICY_ARG_TRUNC) !== 0;
  const t = spec.type;
  switch (a.type) {
    case VIGIL_POLICY_ARG_S64:
    case VIGIL_POLICY_ARG_U64: {
      const v = a.type === VIGIL_POLICY_ARG_S64 ? BigInt.asIntN(64, a.value) : a.value;
      if (t === 'syscall64') {
        // Tetragon marks 32-bit syscalls with bit 31 in its syscall64 values.
        return { kind: 'syscall64', id: Number(v & 0x7fffffffn), abi: (v & 0x80000000n) !== 0n ? 'i386' : 'x64' };
      }
      if (t === 'capability') return { kind: 'capability', value: Number(v) };
      // A capability set read as a mask (capset(2)'s data).
      if (t === 'cap_effective' || t === 'cap_permitted' || t === 'cap_inheritable' || t === 'kernel_cap_t') {
        return { kind: 'caps', set: t, mask: a.value };
      }
      return { kind: 'int', value: v };
    }
    case VIGIL_POLICY_ARG_STRING:
    case VIGIL_POLICY_ARG_KSTRING:
    case VIGIL_POLICY_ARG_DATA_LOC:
    case VIGIL_POLICY_ARG_CHAR_ARRAY:
    case VIGIL_POLICY_ARG_PATH_AT: {
      const s = text(blob, a);
      if (FILE_TYPES.has(t)) return { kind: 'file', path: s };
      if (t === 'module' || t === 'load_info') return { kind: 'module', name: s };
      if (t === 'net_device') return { kind: 'net_device', name: s };
      return truncated ? { kind: 'string', value: s, truncated } : { kind: 'string', value: s };
    }
    case VIGIL_POLICY_ARG_CHAR_BUF: {
      const value = blob.slice(a.off, Math.min(blob.length, a.off + a.len));
      return { kind: 'bytes', value, truncated, origSize: Number(a.value) };
    }
    case VIGIL_POLICY_ARG_FILE: {
      const path = text(blob, a);
      if (t === 'string' || t === 'filename') return { kind: 'string', value: path };
      return { kind: 'file', path, flags: Number(a.value & 0xffffffffn), mode: Number((a.value >> 32n) & 0xffffn) };
    }
    case VIGIL_POLICY_ARG_SOCK: {
      if (a.off + vigilPolicySock.size > blob.length) return { kind: 'unavailable', reason: 'socket not captured' };
      const s = vigilPolicySock.decode(dv(blob, a.off), 0);
      if (t === 'sockaddr' || t === 'sockaddr_un') return { kind: 'sockaddr', family: s.family, addr: addr(s.daddr, s.family), port: s.dport };
      return {
        kind: 'sock', family: s.family, type: s.type, protocol: s.protocol, saddr: addr(s.saddr, s.family),
        daddr: addr(s.daddr, s.family), sport: s.sport, dport: s.dport, state: s.state,
      };
    }
    case VIGIL_POLICY_ARG_UNIX:
      return { kind: 'sockaddr', family: 1, addr: text(blob, a), port: 0 };
    case VIGIL_POLICY_ARG_CRED: {
      if (a.off + vigilPolicyCred.size > blob.length) return { kind: 'unavailable', reason: 'credentials not captured' };
      const c = vigilPolicyCred.decode(dv(blob, a.off), 0);
      const caps = { permitted: c.cap_permitted, effective: c.cap_effective, inheritable: c.cap_inheritable };
      if (t === 'cap_effective' || t === 'cap_permitted' || t === 'cap_inheritable' || t === 'kernel_cap_t') {
        const mask = t === 'cap_permitted' ? caps.permitted : t === 'cap_inheritable' ? caps.inheritable : caps.effective;
        return { kind: 'caps', set: t, mask };
      }
      return { kind: 'cred', uid: c.uid, gid: c.gid, euid: c.euid, egid: c.egid, suid: c.suid, sgid: c.sgid,
        fsuid: c.fsuid, fsgid: c.fsgid, securebits: c.securebits, caps };
    }
    case VIGIL_POLICY_ARG_KUSER_NS: {
      if (a.off + vigilPolicyUserNs.size > blob.length) return { kind: 'unavailable', reason: 'user namespace not captured' };
      const u = vigilPolicyUserNs.decode(dv(blob, a.off), 0);
      return { kind: 'user_ns', level: u.level, uid: u.uid, gid: u.gid, inum: BigInt(u.inum) };
    }
    case VIGIL_POLICY_ARG_USER_STRUCT:
      return userStruct(t, blob.subarray(a.off, Math.min(blob.length, a.off + a.len)), Number(a.value));
    case VIGIL_POLICY_ARG_NONE:
    default:
      void kernel;
      return { kind: 'unavailable', reason: `a ${t} argument is not readable on this hook` };
  }
}

function userStruct(t: string, b: Uint8Array, structLen: number): ArgValue {
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  const u32 = (o: number): number => (o + 4 <= structLen ? v.getUint32(o, true) : 0);
  const u64 = (o: number): bigint => (o + 8 <= structLen ? v.getBigUint64(o, true) : 0n);
  const name = (o: number): string => (o + 16 <= structLen ? cstr(b.subarray(o, o + 16)) : '');
  switch (t) {
    case 'bpf_attr':
    case 'bpf_prog':
      // union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, ..., prog_name at 48.
      return { kind: 'bpf_attr', progType: u32(0), insnCnt: u32(4), progName: name(48) };
    case 'bpf_map':
      // BPF_MAP_CREATE: map_type, key_size, value_size, max_entries, ..., map_name at 28.
      return { kind: 'bpf_map', mapType: u32(0), keySize: u32(4), valueSize: u32(8), maxEntries: u32(12), mapName: name(28) };
    case 'perf_event': {
      // struct perf_event_attr: type, size, config, ..., config1 (kprobe_func) at 56, config2 (probe_offset) at 64.
      const fn = structLen < b.length ? utf8.decode(b.subarray(structLen)) : '';
      const type = u32(0);
      const types: Record<number, string> = { 0: 'hardware', 1: 'software', 2: 'tracepoint', 3: 'hw_cache', 4: 'raw', 5: 'breakpoint' };
      return { kind: 'perf_event', kprobeFunc: fn, type: types[type] ?? String(type), config: u64(8), probeOffset: u64(64) };
    }
  }
  return { kind: 'bytes', value: Uint8Array.from(b) };
}

/** A loader event's file and its GNU build id (read from the file, cached by identity). */
function loadedFile(v: ArgValue | undefined): { path: string; buildId?: Uint8Array } {
  const path = v?.kind === 'file' ? v.path : v?.kind === 'string' ? v.value : '';
  const buildId = path ? buildIds.get(path) : undefined;
  return buildId ? { path, buildId } : { path };
}

/** GNU build ids of files by path, re-read when the file changes (device, inode, mtime, size). */
class BuildIdCache {
  private readonly entries = new Map<string, { key: string; id: Uint8Array | undefined }>();

  get(path: string): Uint8Array | undefined {
    let st;
    try {
      st = statSync(path, { bigint: true });
    } catch {
      return undefined;
    }
    const key = `${st.dev}:${st.ino}:${st.mtimeNs}:${st.size}`;
    const hit = this.entries.get(path);
    if (hit?.key === key) return hit.id;
    let id: Uint8Array | undefined;
    try {
      const src = FdSource.open(path);
      try {
        const hex = ElfFile.parse(src, path).buildId;
        if (hex) id = Uint8Array.from(Buffer.from(hex, 'hex'));
      } finally {
        src.close();
      }
    } catch {
      // Not an ELF file (a script, a data file mapped executable): no build id.
    }
    if (this.entries.size >= BUILD_ID_CACHE) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(path, { key, id });
    return id;
  }
}

const BUILD_ID_CACHE = 4096;
const buildIds = new BuildIdCache();

/** Tetragon's event kind for a hook's section. */
export function eventKindOf(hook: Hook): PolicyEventKind {
  switch (hook.section) {
    case 'tracepoints': return 'tracepoint';
    case 'uprobes': return 'uprobe';
    case 'lsmhooks': return 'lsm';
    case 'loader': return 'loader';
    default: return 'kprobe';
  }
}

/** The action an event reports: the strongest taken (a kill over a signal over a post). */
export function eventActionOf(actions: number): EventAction {
  if (actions & (1 << VIGIL_POLICY_ACT_DENY)) return 'KPROBE_ACTION_DENY';
  if (actions & (1 << VIGIL_POLICY_ACT_SIGKILL)) return 'KPROBE_ACTION_SIGKILL';
  if (actions & (1 << VIGIL_POLICY_ACT_OVERRIDE)) return 'KPROBE_ACTION_OVERRIDE';
  if (actions & (1 << VIGIL_POLICY_ACT_NOTIFY_ENFORCER)) return 'KPROBE_ACTION_NOTIFYENFORCER';
  if (actions & (1 << VIGIL_POLICY_ACT_SIGNAL)) return 'KPROBE_ACTION_SIGNAL';
  return 'KPROBE_ACTION_POST';
}

/** Strongest first: the action an event names when several were taken (or, in monitor mode, would have been). */
const ACTION_STRENGTH: readonly EventAction[] = [
  'KPROBE_ACTION_DENY', 'KPROBE_ACTION_SIGKILL', 'KPROBE_ACTION_OVERRIDE', 'KPROBE_ACTION_NOTIFYENFORCER',
  'KPROBE_ACTION_SIGNAL', 'KPROBE_ACTION_POST',
];

/**
 * The action of an event of a policy in monitor mode, and what was not done: the
 * selector's elided enforcing actions (Tetragon reports the action as written and
 * only skips its effect). Undefined when the selector elided nothing.
 */
export function monitoredAction(hook: Hook, selector: number, taken: EventAction): { action: EventAction; elided: EventAction[] } | undefined {
  const elided = hook.selectors[selector]?.elided ?? [];
  if (elided.length === 0) return undefined;
  const names = [...new Set(elided.map((a) => irEventAction(a.action)))];
  const all = new Set<EventAction>([taken, ...names]);
  const action = ACTION_STRENGTH.find((a) => all.has(a)) ?? taken;
  return { action, elided: names };
}

export interface EventContext {
  readonly policy: CompiledPolicy;
  readonly hook: Hook;
  readonly attachment: Attachment;
  /** The kernel argument specs of the attachment (what each slot was read as). */
  readonly kernelArgs: readonly VigilPolicyArg[];
  /** The slot of hook.returnArg, when the kernel resolved it as an argument. */
  readonly returnSlot?: number;
  readonly timeNs: bigint;
  readonly process: ProcessInfo | undefined;
  readonly parent: ProcessInfo | undefined;
  readonly kernelStack?: readonly StackFrame[];
  readonly userStack?: readonly StackFrame[];
}

/** A decoded record as the IR's PolicyEvent. */
export function toPolicyEvent(rec: PolicyRecord, ctx: EventContext): PolicyEvent {
  const h = rec.header;
  const sources = 'args' in ctx.attachment ? ctx.attachment.args : [];
  const args = ctx.hook.args.map((spec, i): ArgValue => {
    const loc = sources[i]?.loc;
    if (loc?.at === 'none') return { kind: 'unavailable', reason: loc.reason };
    const a = h.args[i];
    return a ? argValue(spec, ctx.kernelArgs[i], a, rec.blob) : { kind: 'unavailable', reason: 'not captured' };
  });
  // Tetragon's data entries: the slots after the arguments'.
  const data = (ctx.hook.data ?? []).map((spec, j): ArgValue => {
    const i = ctx.hook.args.length + j;
    const a = h.args[i];
    return a ? argValue(spec, ctx.kernelArgs[i], a, rec.blob) : { kind: 'unavailable', reason: 'not captured' };
  });
  let returnValue: ArgValue | undefined;
  if (ctx.returnSlot !== undefined && ctx.hook.returnArg) {
    const a = h.args[ctx.returnSlot];
    if (a) returnValue = argValue(ctx.hook.returnArg, ctx.kernelArgs[ctx.returnSlot], a, rec.blob);
  } else if (h.flags & VIGIL_POLICY_EV_RET) {
    const a = h.args[VIGIL_POLICY_RET_SLOT];
    const v = a ? BigInt.asIntN(64, a.value) : h.ret;
    returnValue = { kind: 'int', value: v };
  }
  const taken = eventActionOf(h.actions);
  // Monitor mode: the kernel only posted; the event names what the selector would have done.
  const monitored = ctx.policy.spec.mode === 'monitor' ? monitoredAction(ctx.hook, h.selector, taken) : undefined;
  const ev: PolicyEvent = {
    kind: eventKindOf(ctx.hook),
    policy: ctx.policy,
    hook: ctx.hook,
    attachment: ctx.attachment,
    timeNs: ctx.timeNs,
    pid: h.pid,
    tid: h.tid,
    comm: h.comm,
    process: ctx.process,
    parent: ctx.parent,
    args,
    ...(data.length > 0 ? { data } : {}),
    ...(returnValue ? { returnValue } : {}),
    action: monitored?.action ?? taken,
    ...(monitored ? { elided: monitored.elided } : {}),
    ...(ctx.policy.spec.mode === 'monitor' ? { policyMode: 'monitor' as const } : {}),
    selector: h.selector,
    ...(ctx.kernelStack ? { kernelStack: ctx.kernelStack } : {}),
    ...(ctx.userStack ? { userStack: ctx.userStack } : {}),
    ...(ctx.hook.kind === 'loader' ? { loaded: loadedFile(args[0]) } : {}),
  };
  return ev;
}
