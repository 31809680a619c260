// SysEventSensor: one SysEvent per completed connect, socket, sendto, sendmsg,
// accept, accept4, listen, dup, dup2, dup3, ptrace, init_module,
// finit_module, memfd_create, bpf, setuid, setns, unshare, userfaultfd,
// fchmod (bpf/sysevents.bpf.c), with the descriptor as the kernel held it at
// exit: a socket's family, type, protocol, state and both ends; a file's
// path, inode and mode.
//
//   const sensor = await SysEventSensor.start({ calls: ['connect', 'ptrace'], filter, onEvent: (e) => ... });
//   sensor.attached;   // calls with a syscalls: tracepoint here
//   sensor.raw;        // calls caught by number on raw_syscalls (no tracepoint: an ENOSYS stub)
//   sensor.close();
//
// Only the programs of the calls asked for are loaded; the raw_syscalls pair
// (which runs for every syscall on the host) only when a wanted call has no
// tracepoint of its own. With `execveat: true` the sensor also remembers
// which threads entered execveat, so that the process sensor's exec events
// (which do not say) can be told apart: wasExecveat(tid).
import { existsSync } from 'node:fs';
import { NotSupportedError } from '../bpf/index.js';
import type { BpfObject } from '../bpf/index.js';
import { BootClock } from '../util/clock.js';
import { addressFromKernel } from '../kernel/addr.js';
import { AF_INET, AF_INET6, AF_UNIX, S_IFMT, S_IFSOCK } from '../kernel/uapi.js';
import {
  vigilSysEvent, VIGIL_SYS_EVENT, VIGIL_SYS_COMM_LEN, VIGIL_SYS_NR_MAX,
  VIGIL_SYS_HAS_FILE, VIGIL_SYS_HAS_SOCK, VIGIL_SYS_HAS_ADDR, VIGIL_SYS_TRUNC_PATH, VIGIL_SYS_TRUNC_STR,
  VIGIL_SYS_STR_SUN_PATH, VIGIL_SYS_RAW, VIGIL_SYS_ERROR_STR,
  VIGIL_SYS_CONNECT, VIGIL_SYS_SOCKET, VIGIL_SYS_SENDTO, VIGIL_SYS_SENDMSG, VIGIL_SYS_ACCEPT, VIGIL_SYS_ACCEPT4,
  VIGIL_SYS_LISTEN, VIGIL_SYS_DUP, VIGIL_SYS_DUP2, VIGIL_SYS_DUP3, VIGIL_SYS_PTRACE, VIGIL_SYS_INIT_MODULE,
  VIGIL_SYS_FINIT_MODULE, VIGIL_SYS_MEMFD_CREATE, VIGIL_SYS_BPF, VIGIL_SYS_SETUID, VIGIL_SYS_SETNS,
  VIGIL_SYS_UNSHARE, VIGIL_SYS_USERFAULTFD, VIGIL_SYS_FCHMOD,
} from '../generated/sysevents.js';
import { syscallNumber } from '../kernel/syscalls.js';
import type { SysCall, SysEndpoint, SysEvent, SysFile, SysSocket } from './sysevent-events.js';
import { Sensor, tracepointPrerequisites, type RingSensorOptions } from './sensor.js';
import { checkHeader, taskAt, text } from './record-text.js';

export type { SysCall, SysEvent } from './sysevent-events.js';

/** Each call: its id in the records. In the order the sensor attaches them. */
export const SYS_CALLS: readonly { name: SysCall; id: number }[] = [
  { name: 'connect', id: VIGIL_SYS_CONNECT },
  { name: 'socket', id: VIGIL_SYS_SOCKET },
  { name: 'sendto', id: VIGIL_SYS_SENDTO },
  { name: 'sendmsg', id: VIGIL_SYS_SENDMSG },
  { name: 'accept', id: VIGIL_SYS_ACCEPT },
  { name: 'accept4', id: VIGIL_SYS_ACCEPT4 },
  { name: 'listen', id: VIGIL_SYS_LISTEN },
  { name: 'dup', id: VIGIL_SYS_DUP },
  { name: 'dup2', id: VIGIL_SYS_DUP2 },
  { name: 'dup3', id: VIGIL_SYS_DUP3 },
  { name: 'ptrace', id: VIGIL_SYS_PTRACE },
  { name: 'init_module', id: VIGIL_SYS_INIT_MODULE },
  { name: 'finit_module', id: VIGIL_SYS_FINIT_MODULE },
  { name: 'memfd_create', id: VIGIL_SYS_MEMFD_CREATE },
  { name: 'bpf', id: VIGIL_SYS_BPF },
  { name: 'setuid', id: VIGIL_SYS_SETUID },
  { name: 'setns', id: VIGIL_SYS_SETNS },
  { name: 'unshare', id: VIGIL_SYS_UNSHARE },
  { name: 'userfaultfd', id: VIGIL_SYS_USERFAULTFD },
  { name: 'fchmod', id: VIGIL_SYS_FCHMOD },
];

const CALL_BY_ID = new Map(SYS_CALLS.map((c) => [c.id, c.name]));
const CALL_BY_NAME = new Map(SYS_CALLS.map((c) => [c.name, c.id]));

export function isSysCall(name: string): name is SysCall {
  return CALL_BY_NAME.has(name as SysCall);
}

/** Losses (onLost) are also calls the stash could not hold: more calls in flight than stashEntries. */
export interface SysEventSensorOptions extends RingSensorOptions<SysEvent> {
  /** The calls to watch. */
  calls: readonly SysCall[];
  /** Also remember execveat entries per thread (wasExecveat). Default false. */
  execveat?: boolean;
  /**
   * Report sendto/sendmsg that pass no destination address too (sends on
   * connected sockets: every TCP send). Default false: their descriptor's
   * name does not change, and they are most of a busy host's sends.
   */
  sendsWithoutAddress?: boolean;
  /** Do not report this process's own calls (the agent's). Default: none ignored. */
  ignorePid?: number;
  /** Calls in flight at once (entered, not yet returned). Default 4096. */
  stashEntries?: number;
}

/** Which wanted calls have syscalls: tracepoints here, which only a number (raw_syscalls), which neither. */
export function planSysCalls(calls: readonly SysCall[], tracefsPath: string): {
  tracepoint: SysCall[]; raw: { name: SysCall; nr: number }[]; missing: SysCall[];
} {
  const tracepoint: SysCall[] = [];
  const raw: { name: SysCall; nr: number }[] = [];
  const missing: SysCall[] = [];
  for (const c of calls) {
    if (existsSync(`${tracefsPath}/events/syscalls/sys_enter_${c}`) && existsSync(`${tracefsPath}/events/syscalls/sys_exit_${c}`)) {
      tracepoint.push(c);
      continue;
    }
    const nr = syscallNumber(c);
    if (nr !== undefined && nr < VIGIL_SYS_NR_MAX) raw.push({ name: c, nr });
    else missing.push(c);
  }
  return { tracepoint, raw, missing };
}

function bytes(view: DataView, offset: number, length: number): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset + offset, length);
}


/** A unix sockaddr's sun_path as Falco shows it: up to the first NUL; an abstract name as "@name". */
export function sunPathText(raw: Uint8Array): string {
  if (raw.length === 0) return '';
  if (raw[0] === 0) {
    let end = raw.length;
    while (end > 1 && raw[end - 1] === 0) end--;
    return `@${Buffer.from(raw.subarray(1, end)).toString('latin1')}`;
  }
  const nul = raw.indexOf(0);
  return Buffer.from(nul < 0 ? raw : raw.subarray(0, nul)).toString('utf8');
}

function endpoint(family: number, view: DataView, addrOff: number, port: number): SysEndpoint {
  return { ip: addressFromKernel(family, bytes(view, addrOff, 16)).text, port };
}

const O = vigilSysEvent.offsets;

/** Calls whose record carries a string argument (the others' str is a unix sockaddr path, or nothing). */
const STRING_ARG_CALLS: ReadonlySet<SysCall> = new Set(['init_module', 'finit_module', 'memfd_create']);

/** Decodes one record (header + str + path). Pure. */
export function decodeSysRecord(view: DataView, offset: number, size: number, clock: BootClock): SysEvent {
  checkHeader(view, offset, size, vigilSysEvent, VIGIL_SYS_EVENT, 'syscall record');
  const o = offset;
  const strLen = view.getUint16(o + O.str_len, true);
  const pathLen = view.getUint16(o + O.path_len, true);
  if (vigilSysEvent.size + strLen + pathLen > size) {
    throw new RangeError(`syscall record of ${size} bytes declares ${strLen}+${pathLen} bytes of data`);
  }
  const call = CALL_BY_ID.get(view.getUint16(o + O.call, true));
  if (!call) throw new RangeError(`syscall record with unknown call ${view.getUint16(o + O.call, true)}`);
  const status = view.getUint16(o + O.status, true);
  const blob = o + vigilSysEvent.size;
  const sunPath = (status & VIGIL_SYS_STR_SUN_PATH) !== 0;
  const strBytes = bytes(view, blob, strLen);
  const args: number[] = [];
  for (let i = 0; i < 6; i++) args.push(Number(view.getBigInt64(o + O.args + 8 * i, true)));

  let file: SysFile | undefined;
  if (status & VIGIL_SYS_HAS_FILE) {
    const mode = view.getUint32(o + O.i_mode, true);
    let socket: SysSocket | undefined;
    const pathText = pathLen ? text(view, blob + strLen, pathLen) : undefined;
    if (status & VIGIL_SYS_HAS_SOCK) {
      const family = view.getUint16(o + O.sk_family, true);
      const lport = view.getUint16(o + O.sk_lport, true);
      const rport = view.getUint16(o + O.sk_rport, true);
      let local: SysEndpoint = {};
      let remote: SysEndpoint = {};
      if (family === AF_INET || family === AF_INET6) {
        local = endpoint(family, view, o + O.sk_laddr, lport);
        remote = endpoint(family, view, o + O.sk_raddr, rport);
      } else if (family === AF_UNIX && pathLen) {
        // The kernel sent the peer's address (or the socket's own when unconnected).
        remote = { path: sunPathText(bytes(view, blob + strLen, pathLen)) };
      }
      socket = {
        family, type: view.getUint16(o + O.sk_type, true), protocol: view.getUint16(o + O.sk_protocol, true),
        state: view.getUint16(o + O.sk_state, true), local, remote,
      };
    }
    file = {
      fd: view.getInt32(o + O.fd, true),
      ino: Number(view.getBigUint64(o + O.ino, true)),
      dev: view.getUint32(o + O.dev, true),
      mode,
      path: (mode & S_IFMT) === S_IFSOCK ? undefined : pathText,
      pathTruncated: (status & VIGIL_SYS_TRUNC_PATH) !== 0,
      socket,
    };
  }

  let addr: SysEvent['addr'];
  if (status & VIGIL_SYS_HAS_ADDR) {
    const family = view.getUint16(o + O.ua_family, true);
    const port = view.getUint16(o + O.ua_port, true);
    if (family === AF_INET || family === AF_INET6) addr = { family, ...endpoint(family, view, o + O.ua_addr, port) };
    else if (family === AF_UNIX) addr = { family, path: sunPath ? sunPathText(strBytes) : undefined };
    else addr = { family };
  }

  const ktime = view.getBigUint64(o + O.ktime, true);
  return {
    kind: 'sys',
    call,
    timeNs: clock.toEpochNs(ktime),
    bootNs: ktime,
    args,
    // an int or long result; the low 53 bits hold any fd, count or -errno
    ret: Number(view.getBigInt64(o + O.ret, true)),
    file,
    addr,
    str: STRING_ARG_CALLS.has(call) && !(status & VIGIL_SYS_ERROR_STR) ? text(view, blob, strLen) : null,
    strTruncated: (status & VIGIL_SYS_TRUNC_STR) !== 0,
    task: {
      ...taskAt(view, o, O, VIGIL_SYS_COMM_LEN),
      euid: view.getUint32(o + O.euid, true),
      egid: view.getUint32(o + O.egid, true),
      capEffective: view.getBigUint64(o + O.cap_effective, true),
    },
    raw: (status & VIGIL_SYS_RAW) !== 0,
  };
}

export class SysEventSensor extends Sensor {
  /** Calls watched through their own syscalls: tracepoints. */
  readonly attached: readonly SysCall[];
  /** Calls watched by number on raw_syscalls (no tracepoint here). */
  readonly raw: readonly SysCall[];
  /** Asked for but neither: no tracepoint and no number on this architecture. */
  readonly missing: readonly SysCall[];
  private readonly tidKey = Buffer.alloc(4);

  private constructor(obj: BpfObject, attached: SysCall[], raw: SysCall[], missing: SysCall[],
    private readonly execveatOn: boolean) {
    super('syscall', obj);
    this.attached = attached;
    this.raw = raw;
    this.missing = missing;
  }

  static async start(opts: SysEventSensorOptions): Promise<SysEventSensor> {
    const tracefs = await tracepointPrerequisites('syscall-event', 'walks descriptor paths');
    for (const c of opts.calls) if (!isSysCall(c)) throw new RangeError(`syscall-event sensor: unknown call "${c}"`);
    const calls = [...new Set(opts.calls)];
    const plan = planSysCalls(calls, tracefs);
    const execveat = !!opts.execveat && existsSync(`${tracefs}/events/syscalls/sys_enter_execveat`);
    if (plan.tracepoint.length === 0 && plan.raw.length === 0 && !execveat) {
      throw new NotSupportedError('syscall tracepoints', `none of ${calls.join(', ') || '(no calls)'} can be traced here`);
    }
    const programs = plan.tracepoint.map((c) => `enter_${c}`);
    if (plan.tracepoint.length) programs.push('sys_exit_tp');
    if (plan.raw.length) programs.push('raw_enter', 'raw_exit');
    if (execveat) programs.push('enter_execveat', 'exit_execveat');

    const clock = BootClock.measure();
    const obj = await Sensor.loadObject('sysevents', {
      filter: opts.filter, ring: opts, programs,
      constants: { send_without_addr: !!opts.sendsWithoutAddress, self_tgid: opts.ignorePid ?? 0 },
      maxEntries: opts.stashEntries ? { stash: opts.stashEntries } : {},
    });
    const sensor = new SysEventSensor(obj, plan.tracepoint, plan.raw.map((r) => r.name), plan.missing, execveat);
    return sensor.starting(() => {
      for (const r of plan.raw) {
        const k = Buffer.alloc(4);
        k.writeUInt32LE(r.nr);
        const v = Buffer.alloc(2);
        v.writeUInt16LE(CALL_BY_NAME.get(r.name) ?? 0);
        obj.map('raw_calls').update(k, v);
      }
      sensor.openRing(opts, sensor.decoding((view, offset, size) => decodeSysRecord(view, offset, size, clock),
        (e) => opts.onEvent(e)));
      // Exits before entries: no call is stashed before its exit can send it. Entries
      // are detached first (stage 0), so every stashed call still gets its exit.
      if (plan.tracepoint.length) {
        const tp = obj.program('sys_exit_tp');
        for (const c of plan.tracepoint) sensor.keep(tp.attachTracepoint('syscalls', `sys_exit_${c}`), 1);
      }
      if (plan.raw.length) sensor.keep(obj.program('raw_exit').attachTracepoint('raw_syscalls', 'sys_exit'), 1);
      if (execveat) sensor.keep(obj.program('exit_execveat').attachTracepoint('syscalls', 'sys_exit_execveat'), 1);
      for (const c of plan.tracepoint) sensor.keep(obj.program(`enter_${c}`).attachTracepoint('syscalls', `sys_enter_${c}`));
      if (plan.raw.length) sensor.keep(obj.program('raw_enter').attachTracepoint('raw_syscalls', 'sys_enter'));
      if (execveat) sensor.keep(obj.program('enter_execveat').attachTracepoint('syscalls', 'sys_enter_execveat'));
    });
  }

  /**
   * Whether thread tid entered execveat (and has not failed it): ask once per
   * exec event of that thread; the entry is forgotten when asked.
   */
  wasExecveat(tid: number): boolean {
    if (!this.execveatOn || !this.obj) return false;
    this.tidKey.writeUInt32LE(tid >>> 0);
    const m = this.obj.map('execveat_tids');
    try {
      return m.lookupAndDelete(this.tidKey) !== undefined;
    } catch {
      const v = m.lookup(this.tidKey);
      if (v) m.delete(this.tidKey);
      return v !== undefined;
    }
  }
}
