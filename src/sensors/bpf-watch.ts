// BpfWatchSensor: every BPF program load and attach by anyone on the host
// (`vigil bpf watch`), from bpf/bpfwatch.bpf.c: one event per completed
// bpf(2) call with BPF_PROG_LOAD, BPF_LINK_CREATE, BPF_PROG_ATTACH or
// BPF_RAW_TRACEPOINT_OPEN, failed calls included. The program is named as the
// kernel held it when the call returned (id, tag, name, type), so a program
// loaded and unloaded at once is still identified; the loader is the task
// (pid and start time) for the process cache to describe.
//
// A program attached to a perf event by ioctl(PERF_EVENT_IOC_SET_BPF) (how
// bpftrace and older loaders attach kprobes, uprobes and tracepoints) is an
// attach too: 'perf_set_bpf'. What it does not see: setsockopt(SO_ATTACH_BPF)
// (socket filters) and netlink (tc's legacy attach); their programs' loads are
// seen. On a kernel without syscalls:sys_enter_bpf (raw_syscalls), the ioctl
// path is not watched.
import { existsSync } from 'node:fs';
import { native } from '../bpf/native.js';
import type { BpfObject } from '../bpf/index.js';
import { NotSupportedError, ensureTracefs } from '../bpf/index.js';
import { errnoName } from '../kernel/errno.js';
import { syscallNumber } from '../kernel/syscalls.js';
import { BootClock } from '../util/clock.js';
import {
  vigilBpfwEvent, VIGIL_BPFW_EVENT, VIGIL_BPFW_HAS_LINK, VIGIL_BPFW_HAS_PROG, VIGIL_BPFW_RAW,
  VIGIL_BPFW_COMM_LEN, VIGIL_BPFW_NAME_LEN, VIGIL_BPFW_PERF_SET_BPF, VIGIL_BPFW_TAG_LEN, VIGIL_BPFW_STR_MAX,
} from '../generated/bpfwatch.js';
import { checkHeader, cText, taskAt, text } from './record-text.js';
import { Sensor, type RingSensorOptions } from './sensor.js';

/** The bpf(2) commands watched, by number (include/uapi/linux/bpf.h). */
export const BPF_WATCH_COMMANDS: ReadonlyMap<number, BpfWatchCommand> = new Map([
  [5, 'prog_load'], [8, 'prog_attach'], [17, 'raw_tracepoint_open'], [28, 'link_create'],
  [VIGIL_BPFW_PERF_SET_BPF, 'perf_set_bpf'],
]);

export type BpfWatchCommand = 'prog_load' | 'prog_attach' | 'raw_tracepoint_open' | 'link_create' | 'perf_set_bpf';

/** The program a call loaded or attached. */
export interface BpfWatchProgram {
  /** The kernel's program id; undefined when the call failed. */
  id: number | undefined;
  /** The program's tag (hex of the SHA-1 of its instructions, as bpftool shows it); undefined when the call failed. */
  tag: string | undefined;
  name: string;
  /** BPF_PROG_TYPE_* number and libbpf's name ("tracepoint", "kprobe", ...). */
  type: number;
  typeName: string;
  /** prog_load: the instructions submitted. */
  insns: number | undefined;
}

export interface BpfWatchEvent {
  readonly kind: 'bpf_watch';
  command: BpfWatchCommand;
  timeNs: bigint;
  bootNs: bigint;
  /** The call's result: a descriptor or 0, or -errno. */
  ret: number;
  /** errno's name when the call failed ("EACCES", "EINVAL", ...). */
  error: string | undefined;
  program: BpfWatchProgram;
  /** Attach calls (and prog_load's expected attach type): libbpf's name of the attach type. */
  attachType: string | undefined;
  /** prog_attach, link_create, perf_set_bpf: the target descriptor as given (a cgroup, an interface index, a perf event, ...). */
  targetFd: number | undefined;
  /** link_create, raw_tracepoint_open: the link made. */
  link: { id: number; type: string } | undefined;
  /** raw_tracepoint_open: the tracepoint. */
  tracepoint: string | undefined;
  task: { pid: number; tid: number; uid: number; gid: number; comm: string; startBootNs: bigint; cgroupId: bigint };
  /** Seen on raw_syscalls (no syscalls:sys_enter_bpf here). */
  raw: boolean;
}

const O = vigilBpfwEvent.offsets;

function typeName(kind: 0 | 1 | 2, value: number): string {
  return native().bpfTypeName(kind, value) ?? `unknown(${value})`;
}

function hex(view: DataView, offset: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += view.getUint8(offset + i).toString(16).padStart(2, '0');
  return s;
}

/** Decodes one record. Pure but for libbpf's type names. */
export function decodeBpfWatchRecord(view: DataView, offset: number, size: number, clock: BootClock): BpfWatchEvent {
  checkHeader(view, offset, size, vigilBpfwEvent, VIGIL_BPFW_EVENT, 'bpf watch record');
  const o = offset;
  const cmd = view.getUint32(o + O.cmd, true);
  const command = BPF_WATCH_COMMANDS.get(cmd);
  if (!command) throw new RangeError(`bpf watch record with unwatched command ${cmd}`);
  const status = view.getUint32(o + O.status, true);
  const ret = Number(view.getBigInt64(o + O.ret, true));
  const hasProg = (status & VIGIL_BPFW_HAS_PROG) !== 0;
  const hasLink = (status & VIGIL_BPFW_HAS_LINK) !== 0;
  const progType = view.getUint32(o + O.prog_type, true);
  const attach = view.getUint32(o + O.attach_type, true);
  const strLen = Math.min(view.getUint16(o + O.str_len, true), VIGIL_BPFW_STR_MAX);
  const ktime = view.getBigUint64(o + O.ktime, true);
  const targetFd = view.getInt32(o + O.target_fd, true);
  return {
    kind: 'bpf_watch',
    command,
    timeNs: clock.toEpochNs(ktime),
    bootNs: ktime,
    ret,
    error: ret < 0 ? errnoName(-ret) : undefined,
    program: {
      id: hasProg ? view.getUint32(o + O.prog_id, true) : undefined,
      tag: hasProg ? hex(view, o + O.prog_tag, VIGIL_BPFW_TAG_LEN) : undefined,
      name: cText(view, o + O.prog_name, VIGIL_BPFW_NAME_LEN),
      type: progType,
      typeName: command === 'prog_load' || hasProg ? typeName(0, progType) : '',
      insns: command === 'prog_load' ? view.getUint32(o + O.insn_cnt, true) : undefined,
    },
    // prog_load's expected_attach_type is 0 (BPF_CGROUP_INET_INGRESS) for most types: shown for attaches only.
    attachType: command === 'link_create' || command === 'prog_attach' ? typeName(1, attach) : undefined,
    targetFd: command === 'link_create' || command === 'prog_attach' || command === 'perf_set_bpf' ? targetFd : undefined,
    link: hasLink ? { id: view.getUint32(o + O.link_id, true), type: typeName(2, view.getUint32(o + O.link_type, true)) } : undefined,
    tracepoint: command === 'raw_tracepoint_open' ? text(view, o + O.str, strLen) : undefined,
    task: taskAt(view, o, O, VIGIL_BPFW_COMM_LEN),
    raw: (status & VIGIL_BPFW_RAW) !== 0,
  };
}

export interface BpfWatchOptions extends RingSensorOptions<BpfWatchEvent> {
  /** Do not report this process's own calls. Default: none ignored. */
  ignorePid?: number;
}

export class BpfWatchSensor extends Sensor {
  private constructor(obj: BpfObject, readonly viaRawSyscalls: boolean) {
    super('bpf_watch', obj);
  }

  static async start(opts: BpfWatchOptions): Promise<BpfWatchSensor> {
    const fs = ensureTracefs();
    if (!fs.path) throw new NotSupportedError('tracefs', `tracepoints need tracefs: ${fs.reason ?? 'not mounted'}`);
    const tracefs = fs.path;
    const tp = existsSync(`${tracefs}/events/syscalls/sys_enter_bpf`) && existsSync(`${tracefs}/events/syscalls/sys_exit_bpf`);
    const ioctl = existsSync(`${tracefs}/events/syscalls/sys_enter_ioctl`) && existsSync(`${tracefs}/events/syscalls/sys_exit_ioctl`);
    const nr = syscallNumber('bpf');
    if (!tp && nr === undefined) throw new NotSupportedError('bpf syscall tracing', 'no syscalls:sys_enter_bpf tracepoint and no bpf(2) number on this architecture');
    const clock = BootClock.measure();
    const obj = await Sensor.loadObject('bpfwatch', {
      ring: opts,
      programs: tp ? ['enter_bpf', 'exit_bpf', ...(ioctl ? ['enter_ioctl', 'exit_ioctl'] : [])] : ['raw_enter', 'raw_exit'],
      constants: { self_tgid: opts.ignorePid ?? 0, bpf_nr: nr ?? -1 },
    });
    const sensor = new BpfWatchSensor(obj, !tp);
    return sensor.starting(() => {
      sensor.openRing(opts, sensor.decoding((view, offset, size) => decodeBpfWatchRecord(view, offset, size, clock),
        (e) => opts.onEvent(e)));
      // The exit first (stage 1, detached last): every stashed call gets its exit.
      if (tp) {
        sensor.keep(obj.program('exit_bpf').attachTracepoint('syscalls', 'sys_exit_bpf'), 1);
        if (ioctl) sensor.keep(obj.program('exit_ioctl').attachTracepoint('syscalls', 'sys_exit_ioctl'), 1);
        sensor.keep(obj.program('enter_bpf').attachTracepoint('syscalls', 'sys_enter_bpf'));
        if (ioctl) sensor.keep(obj.program('enter_ioctl').attachTracepoint('syscalls', 'sys_enter_ioctl'));
      } else {
        sensor.keep(obj.program('raw_exit').attachTracepoint('raw_syscalls', 'sys_exit'), 1);
        sensor.keep(obj.program('raw_enter').attachTracepoint('raw_syscalls', 'sys_enter'));
      }
    });
  }
}
