// Live rule evaluation: Vigil's sensor events as Falco RuleEvents, evaluated
// as they arrive, alerts to sinks.
//
//   const engine = RuleEngine.load(['/etc/falco/falco_rules.yaml'], { ruleMatching: 'all' });
//   const live = await LiveRules.start({ engine, sink: new StreamSink('json') });
//   ...
//   await live.close();   // detach, evaluate what the rings still hold
//
// The kernel is asked only for the event types the active rules can match
// (engine.interestingEventTypes()): execve/execveat and procexit come from
// the process sensor, open/openat/openat2/creat/link/symlink/... from the
// file sensor (only those syscalls attached), connect/socket/dup/ptrace/
// init_module/... from the syscall-event sensor (only those programs loaded).
//
// Fields come from the events and the process cache: proc.* (with parents
// and ancestors for proc.aname[N]) from the cache's images, fd.* from the
// kernel's view of the descriptor at the call's exit (socket ends, file
// path), container.* from the cgroup (image fields stay <NA>: no runtime is
// asked), thread.cap_effective from the calling thread at entry.
//
// Each ring is read once, into an EventPipeline (src/pipeline): its merge
// releases events in kernel-time order once every ring was read past them,
// the process ring first, so the exec or fork that made an event's process
// is in the cache when the event is evaluated. The rules are one consumer of
// the released events (RuleEvaluator); `vigil agent` feeds them from its own
// pipeline and sensors (src/agent/rules.ts), LiveRules runs them alone.
import path from 'node:path';
import type { ProcessLookup, ProcessInfo, ContainerInfo } from '../process/types.js';
import { ProcessCache } from '../process/cache.js';
import { ProcessSensor, type ProcessEventKind } from '../sensors/process.js';
import { FileSensor, FILE_SYSCALLS, availableFileSyscalls } from '../sensors/file.js';
import { SysEventSensor, SYS_CALLS, planSysCalls, type SysCall } from '../sensors/sysevents.js';
import type { ExecEvent, ExecFailedEvent, ExitEvent, ProcessEvent } from '../sensors/events.js';
import type { FileEvent, FileSyscall } from '../sensors/file-events.js';
import type { SysEvent, SysSocket } from '../sensors/sysevent-events.js';
import { statDev } from '../sensors/fd-paths.js';
import {
  AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, S_IFBLK, S_IFCHR, S_IFDIR,
  S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, SOCK_RAW, TCP_ESTABLISHED,
} from '../kernel/uapi.js';
import type { FilterSet } from '../sensors/filter.js';
import { ensureTracefs, NotSupportedError } from '../bpf/index.js';
import { EventPipeline, type PipelineSource } from '../pipeline/pipeline.js';
import { BootClock } from '../util/clock.js';
import type { ArgValue, FdType, RuleContainer, RuleEvent, RuleFd, RuleFsPath, RuleK8s, RuleProcess, SocketEnd } from './event.js';
import type { RuleEngine } from './engine.js';
import type { Alert, AlertSink } from './output.js';
import {
  bpfCmdName, cloneNsFlagNames, dup3FlagNames, exeFlagNames, finitModuleFlagNames, memfdFlagNames,
  ptraceRequestName, socketFamilyName, ttyNumber, userfaultfdFlagNames,
} from './live-args.js';

// ---------------------------------------------------------------- the plan

/** What the kernel is asked for, from the rules' interesting event types. */
export interface LivePlan {
  /** Exec events (successful and failed) as execve / execveat. */
  execve: boolean;
  execveat: boolean;
  /** Process exits as Falco's procexit. */
  procexit: boolean;
  fileSyscalls: FileSyscall[];
  sysCalls: SysCall[];
  /** Event types some rule needs that no Vigil sensor reports. */
  unsupported: string[];
  /** Some rule can match any event type: every type Vigil senses is asked for. */
  all: boolean;
}

const FILE_NAMES: ReadonlySet<string> = new Set(FILE_SYSCALLS.map((s) => s.name));
const SYS_NAMES: ReadonlySet<string> = new Set(SYS_CALLS.map((s) => s.name));
const PROCESS_TYPES: ReadonlySet<string> = new Set(['execve', 'execveat', 'procexit']);

/** Every event type the live pipeline can produce. */
export const LIVE_EVENT_TYPES: readonly string[] = [...PROCESS_TYPES, ...FILE_NAMES, ...SYS_NAMES];

/** The sensors' work for a set of interesting types ({all, types, except} as RuleEngine.interestingEventTypes gives it). */
export function planLive(types: { all: boolean; types: readonly string[]; except: readonly string[] }): LivePlan {
  const wanted = types.all ? LIVE_EVENT_TYPES.filter((t) => !types.except.includes(t)) : [...types.types];
  const w = new Set(wanted);
  return {
    execve: w.has('execve'),
    execveat: w.has('execveat'),
    procexit: w.has('procexit'),
    fileSyscalls: FILE_SYSCALLS.map((s) => s.name).filter((n) => w.has(n)),
    sysCalls: SYS_CALLS.map((s) => s.name).filter((n) => w.has(n)),
    unsupported: types.all ? [] : wanted.filter((t) => !PROCESS_TYPES.has(t) && !FILE_NAMES.has(t) && !SYS_NAMES.has(t)).sort(),
    all: types.all,
  };
}

// ---------------------------------------------------------------- processes

const NO_AUID = 4294967295;

/** A cache image as Falco's proc.* sees it; the parent is looked up when first asked for. */
class LiveProcess implements RuleProcess {
  pid: number;
  tid: number;
  ppid: number;
  name: string;
  exe: string | undefined;
  exepath: string | undefined;
  args: readonly string[];
  cwd: string | undefined;
  tty: number | undefined;
  startTimeNs: bigint;
  uid: number;
  gid: number;
  loginuid: number;
  capEffective: bigint | undefined;
  capPermitted: bigint | undefined;
  capInheritable: bigint | undefined;
  exeFromMemfd: boolean;
  private parentMemo: LiveProcess | null | undefined;

  constructor(readonly info: ProcessInfo, private readonly procs: ProcessView) {
    this.pid = info.pid;
    this.tid = info.pid;
    this.ppid = info.ppid;
    this.name = info.comm;
    this.exe = info.args[0];
    this.exepath = info.binary || undefined;
    this.args = info.args.length > 1 ? info.args.slice(1) : [];
    this.cwd = info.cwd || undefined;
    this.tty = info.tty === undefined ? 0 : ttyNumber(info.tty);
    this.startTimeNs = info.startTimeNs;
    this.uid = info.euid;
    this.gid = info.egid;
    this.loginuid = info.auid;
    this.capEffective = info.caps?.effective;
    this.capPermitted = info.caps?.permitted;
    this.capInheritable = info.caps?.inheritable;
    this.exeFromMemfd = info.binary.startsWith('/memfd:');
  }

  get parent(): LiveProcess | undefined {
    if (this.parentMemo === undefined) {
      const p = this.pid > 1 ? this.procs.lookup.parentOf(this.info) : undefined;
      this.parentMemo = p ? this.procs.of(p) : null;
    }
    return this.parentMemo ?? undefined;
  }

  /** The same image seen from one thread's call: its tid, and credentials the call reported. */
  forThread(tid: number, over: { uid?: number; gid?: number; capEffective?: bigint }): LiveProcess {
    if (tid === this.pid && over.uid === undefined && over.capEffective === undefined) return this;
    const p = Object.create(LiveProcess.prototype) as LiveProcess;
    Object.assign(p, this, { tid }, over.uid === undefined ? {} : { uid: over.uid, gid: over.gid },
      over.capEffective === undefined ? {} : { capEffective: over.capEffective });
    // share the parent lookup with the image's own object
    Object.defineProperty(p, 'parent', { get: () => this.parent });
    return p;
  }
}

/** RuleProcess objects per cache image (one per image: the ancestor chains are shared). */
class ProcessView {
  private readonly memo = new WeakMap<ProcessInfo, LiveProcess>();
  constructor(readonly lookup: ProcessLookup) {}

  of(info: ProcessInfo): LiveProcess {
    let p = this.memo.get(info);
    if (!p) {
      p = new LiveProcess(info, this);
      this.memo.set(info, p);
    }
    return p;
  }
}

/** A process the cache could not describe (gone and forgotten): what the record itself said. */
function transientProcess(t: { pid: number; tid: number; comm: string; uid: number; gid: number }): RuleProcess {
  return { pid: t.pid, tid: t.tid, name: t.comm, uid: t.uid, gid: t.gid, loginuid: NO_AUID };
}

const containerMemo = new WeakMap<ContainerInfo, RuleContainer>();

function containerOf(info: ProcessInfo | undefined): RuleContainer | undefined {
  const c = info?.container;
  if (!c || c === 'host') return undefined;
  let r = containerMemo.get(c);
  if (!r) {
    // No runtime is asked: name and image fields stay <NA>, as Falco without its container plugin.
    r = { id: c.id, type: c.runtime };
    containerMemo.set(c, r);
  }
  return r;
}

function k8sOf(info: ProcessInfo | undefined): RuleK8s | undefined {
  const c = info?.container;
  return c && c !== 'host' && c.podUid ? { podUid: c.podUid } : undefined;
}

// ---------------------------------------------------------------- descriptors

/**
 * A path with "." and ".." resolved lexically, as Falco's fd.name shows a
 * name (fd.nameraw keeps them). The file sensor's paths are canonical
 * already (the kernel normalises them, or walks the opened file); this
 * only matters for a name it could not resolve.
 */
export function normalizePath(p: string): string {
  if (!p.startsWith('/') || (!p.includes('/.') && !p.includes('//'))) return p;
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith('/') && !p.endsWith('/') ? n.slice(0, -1) : n;
}

/** The kind of an anonymous or pseudo file, from its name ("anon_inode:[eventfd]", "[eventpoll]", ...). */
function anonType(name: string | undefined): FdType | undefined {
  if (!name) return undefined;
  if (name.includes('eventfd')) return 'event';
  if (name.includes('signalfd')) return 'signalfd';
  if (name.includes('eventpoll')) return 'eventpoll';
  if (name.includes('inotify')) return 'inotify';
  if (name.includes('timerfd')) return 'timerfd';
  if (name.includes('userfaultfd')) return 'userfaultfd';
  if (name.includes('io_uring')) return 'io_uring';
  if (name.includes('pidfd')) return 'pidfd';
  if (name.includes('bpf')) return 'bpf';
  return undefined;
}

function socketType(s: SysSocket): FdType | undefined {
  switch (s.family) {
    case AF_INET: return 'ipv4';
    case AF_INET6: return 'ipv6';
    case AF_UNIX: return 'unix';
    case AF_NETLINK: return 'netlink';
    default: return undefined;
  }
}

function l4proto(s: SysSocket): RuleFd['l4proto'] {
  if (s.family !== AF_INET && s.family !== AF_INET6) return undefined;
  if (s.type === SOCK_RAW) return 'raw';
  switch (s.protocol) {
    case IPPROTO_TCP: return 'tcp';
    case IPPROTO_UDP: return 'udp';
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: return 'icmp';
    default: return undefined;
  }
}

function unset(e: SocketEnd | undefined): boolean {
  return !e || ((e.ip === undefined || e.ip === '0.0.0.0' || e.ip === '::') && !e.port);
}

function endText(e: SocketEnd | undefined): string {
  return e ? `${e.ip ?? ''}:${e.port ?? 0}` : '';
}

// ---------------------------------------------------------------- the adapter

/**
 * fs.path.* of a successful file syscall other than an open, as Falco fills
 * them: name for mkdir, rmdir, unlink, chmod, chown (not truncate); source
 * and target for rename (old, new), link (the new name, the existing file)
 * and symlink (the link, its content).
 */
function fileFsPath(e: FileEvent): RuleFsPath | undefined {
  const orUndef = (s: string | null): string | undefined => s || undefined;
  switch (e.op) {
    case 'mkdir':
    case 'rmdir':
    case 'unlink':
    case 'chmod':
    case 'chown':
      return { name: orUndef(e.path), nameRaw: orUndef(e.rawPath) };
    case 'rename':
    case 'link':
    case 'symlink':
      return { source: orUndef(e.path), sourceRaw: orUndef(e.rawPath), target: orUndef(e.target), targetRaw: orUndef(e.rawTarget) };
    default:
      return undefined;
  }
}

type MutableEvent = { -readonly [K in keyof RuleEvent]: RuleEvent[K] };

/** Every event with the same keys in the same order: the field extractors then see one object shape. */
function event(type: string, timeNs: bigint, res: number | undefined, process: RuleProcess, info: ProcessInfo | undefined): MutableEvent {
  return { type, timeNs, res, args: undefined, process, fd: undefined, fsPath: undefined, container: containerOf(info), k8s: k8sOf(info) };
}

const NO_EXE_FLAGS = 0;
const MEMFD_EXE_FLAGS = Object.freeze(exeFlagNames({ fromMemfd: true }));

/** execve's exe_flags: the names, or 0 when none is set (as Falco prints an empty flag word). */
function exeFlags(fromMemfd: boolean): ArgValue {
  return fromMemfd ? MEMFD_EXE_FLAGS : NO_EXE_FLAGS;
}

export interface LiveAdapterOptions {
  /** Bound of the per-descriptor name memory (sendto's fd.name_changed). Default 8192. */
  maxTrackedSockets?: number;
}

/**
 * Vigil's events as RuleEvents: a fresh object per event (the field
 * extractors remember their last value by event identity). Pure given the
 * process lookup: no kernel.
 */
export class LiveAdapter {
  private readonly procs: ProcessView;
  private readonly sockNames = new Map<string, string>();
  private readonly maxSockets: number;

  constructor(readonly lookup: ProcessLookup, opts: LiveAdapterOptions = {}) {
    this.procs = new ProcessView(lookup);
    this.maxSockets = opts.maxTrackedSockets ?? 8192;
  }

  process(info: ProcessInfo): LiveProcess {
    return this.procs.of(info);
  }

  /** A successful exec: the new image; type execveat when the thread entered execveat. */
  fromExec(e: ExecEvent, execveat = false): RuleEvent {
    const info = e.process;
    const p = this.procs.of(info);
    const ev = event(execveat ? 'execveat' : 'execve', e.timeNs, 0,
      info.tid && info.tid !== info.pid ? p.forThread(info.tid, {}) : p, info);
    ev.args = {
      res: 0, exe: info.args[0] ?? '', args: info.args.slice(1).join(' '), tid: info.tid, pid: info.pid,
      ptid: info.ppid, cwd: info.cwd, comm: info.comm, loginuid: info.auid, uid: info.euid, gid: info.egid,
      flags: exeFlags(p.exeFromMemfd),
    };
    return ev;
  }

  /** A failed exec: the caller, unchanged; res is -errno. */
  fromExecFailed(e: ExecFailedEvent): RuleEvent {
    const info = e.process;
    const ev = event(e.at ? 'execveat' : 'execve', e.timeNs, -e.errno, this.procs.of(info), info);
    ev.args = e.at
      ? { res: -e.errno, dirfd: e.at.dfd, pathname: e.filename, flags: e.at.flags }
      : { res: -e.errno, filename: e.filename };
    return ev;
  }

  fromExit(e: ExitEvent): RuleEvent {
    const info = e.process;
    const ev = event('procexit', e.timeNs, undefined, this.procs.of(info), info);
    ev.args = { status: e.status ?? 0, ret: e.status ?? 0, sig: e.signal ?? 0, core: e.coreDumped ? 1 : 0 };
    return ev;
  }

  /** The task's process as it was at atBootNs (the event's time: before a later exec of the same process). */
  private task(t: { pid: number; tid: number; comm: string; uid: number; gid: number; startBootNs: bigint },
    atBootNs: bigint, over: { uid?: number; gid?: number; capEffective?: bigint } = {}):
    { process: RuleProcess; info: ProcessInfo | undefined } {
    const info = this.lookup.get(t.pid, t.startBootNs, atBootNs);
    if (!info) return { process: { ...transientProcess(t), ...over }, info: undefined };
    return { process: this.procs.of(info).forThread(t.tid, over), info };
  }

  /** A file syscall (open, link, symlink, unlink, ...): type = the syscall. */
  fromFile(e: FileEvent): RuleEvent {
    const { process, info } = this.task(e.task, e.bootNs);
    const res = e.ret;
    const ev = event(e.syscall, e.timeNs, res, process, info);
    switch (e.syscall) {
      case 'open':
      case 'openat':
      case 'openat2':
      case 'creat': {
        const args: Record<string, ArgValue> = { fd: res };
        if (e.syscall !== 'open' && e.syscall !== 'creat') args.dirfd = -100;
        args.name = e.path;
        if (e.syscall !== 'creat') args.flags = e.flags;
        args.mode = e.mode ?? 0;
        ev.args = args;
        // The kernel sent the opened file's own path (symlinks followed) or,
        // for a failed open, the name normalised: canonical either way. A
        // name it could not read has no value (<NA>), never "" (which reads
        // as "/" to fd.directory).
        const name = e.path ? normalizePath(e.path) : undefined;
        const nameRaw = e.rawPath || undefined;
        ev.fd = {
          num: res >= 0 ? res : -1,
          type: e.flags.includes('O_DIRECTORY') ? 'directory' : 'file',
          name,
          nameRaw,
          ...(e.ino !== null ? { ino: e.ino, dev: e.dev ?? undefined } : {}),
        };
        if (res >= 0) ev.fsPath = { name, nameRaw };
        break;
      }
      case 'link':
        ev.args = { res, oldpath: e.target ?? '', newpath: e.path };
        break;
      case 'linkat':
        ev.args = { res, olddir: -100, oldpath: e.target ?? '', newdir: -100, newpath: e.path, flags: e.flags };
        break;
      case 'symlink':
        ev.args = { res, target: e.target ?? '', linkpath: e.path };
        break;
      case 'symlinkat':
        ev.args = { res, target: e.target ?? '', linkdirfd: -100, linkpath: e.path };
        break;
      case 'unlink':
        ev.args = { res, path: e.path };
        break;
      case 'unlinkat':
        ev.args = { res, dirfd: -100, name: e.path, flags: e.flags };
        break;
      case 'rename':
        ev.args = { res, oldpath: e.path, newpath: e.target ?? '' };
        break;
      case 'renameat':
      case 'renameat2':
        ev.args = { res, olddirfd: -100, oldpath: e.path, newdirfd: -100, newpath: e.target ?? '', flags: e.flags };
        break;
      case 'mkdir':
        ev.args = { res, path: e.path, mode: e.mode ?? 0 };
        break;
      case 'mkdirat':
        ev.args = { res, dirfd: -100, path: e.path, mode: e.mode ?? 0 };
        break;
      case 'rmdir':
        ev.args = { res, path: e.path };
        break;
      case 'chmod':
        ev.args = { res, filename: e.path, mode: e.mode ?? 0 };
        break;
      case 'fchmodat':
      case 'fchmodat2':
        ev.args = { res, dirfd: -100, filename: e.path, mode: e.mode ?? 0 };
        break;
      case 'chown':
      case 'lchown':
        ev.args = { res, path: e.path, uid: e.ownerUid ?? -1, gid: e.ownerGid ?? -1 };
        break;
      case 'fchownat':
        ev.args = { res, dirfd: -100, pathname: e.path, uid: e.ownerUid ?? -1, gid: e.ownerGid ?? -1, flags: e.flags };
        break;
      case 'truncate':
        ev.args = { res, path: e.path, length: e.length ?? 0 };
        break;
    }
    if (res === 0) ev.fsPath = fileFsPath(e);
    return ev;
  }

  /** The descriptor of a syscall event as Falco's fd.* sees it. */
  private sysFd(e: SysEvent, num: number, side: { server?: boolean; remote?: SocketEnd } = {}): RuleFd | undefined {
    const f = e.file;
    if (!f) return num >= 0 ? { num } : { num: -1 };
    const s = f.socket;
    if (s) {
      const type = socketType(s);
      if (type === 'unix') {
        const name = s.remote.path ?? s.local.path ?? side.remote?.ip;
        return { num, type, name, ino: f.ino };
      }
      const remote = side.remote && unset(s.remote) ? side.remote : s.remote;
      return {
        num, type, l4proto: l4proto(s), local: s.local, remote, isServer: !!side.server,
        connected: s.state === TCP_ESTABLISHED, ino: f.ino,
      };
    }
    const kind = f.mode & S_IFMT;
    const p = f.path;
    let type: FdType | undefined;
    let name = p;
    if (kind === S_IFREG || kind === S_IFCHR || kind === S_IFBLK || kind === S_IFLNK) {
      type = p?.startsWith('/memfd:') ? 'memfd' : 'file';
      if (type === 'memfd' && p) name = p.slice(1);
    } else if (kind === S_IFDIR) {
      type = 'directory';
    } else if (kind === S_IFIFO) {
      type = 'pipe';
      if (!p || !p.includes('pipe:')) name = `pipe:[${f.ino}]`;
      else name = p.startsWith('/') ? p.slice(1) : p;
    } else {
      type = anonType(p);
      if (p?.startsWith('/') && p.includes(':')) name = p.slice(1);
    }
    return { num, type, name, ino: f.ino, dev: statDev(f.dev) };
  }

  /** fd.name_changed for a send: the descriptor's peer differs from its last one. */
  private nameChanged(pid: number, fd: number, remote: SocketEnd | undefined): boolean {
    if (!remote) return false;
    const key = `${pid}:${fd}`;
    const now = endText(remote);
    const before = this.sockNames.get(key);
    if (before === now) return false;
    if (this.sockNames.size >= this.maxSockets) this.sockNames.clear();
    this.sockNames.set(key, now);
    return true;
  }

  /** connect, socket, sendto, ptrace, init_module, ...: type = the syscall. */
  fromSys(e: SysEvent): RuleEvent {
    const t = e.task;
    const { process, info } = this.task(t, e.bootNs, { uid: t.euid, gid: t.egid, capEffective: t.capEffective });
    const res = e.ret;
    const a = e.args;
    const ev = event(e.call, e.timeNs, res, process, info);
    const addrEnd: SocketEnd | undefined = e.addr && (e.addr.ip !== undefined || e.addr.path !== undefined)
      ? { ip: e.addr.ip ?? e.addr.path, port: e.addr.port } : undefined;
    switch (e.call) {
      case 'connect': {
        const fd = this.sysFd(e, a[0]!, { remote: addrEnd });
        if (fd) {
          (fd as { nameChanged?: boolean }).nameChanged = true;
          if (fd.remote) this.sockNames.set(`${t.pid}:${a[0]}`, endText(fd.remote));
        }
        ev.fd = fd;
        ev.args = { res, tuple: fd?.local && fd.remote ? `${endText(fd.local)}->${endText(fd.remote)}` : addrEnd ? endText(addrEnd) : '', fd: a[0]! };
        break;
      }
      case 'sendto':
      case 'sendmsg': {
        const fd = this.sysFd(e, a[0]!, { remote: addrEnd });
        if (fd && (fd.type === 'ipv4' || fd.type === 'ipv6')) {
          const remote = addrEnd ?? fd.remote;
          (fd as { remote?: SocketEnd; nameChanged?: boolean }).remote = remote;
          (fd as { nameChanged?: boolean }).nameChanged = this.nameChanged(t.pid, a[0]!, remote);
        }
        ev.fd = fd;
        ev.args = { fd: a[0]!, size: e.call === 'sendto' ? a[2]! : 0, tuple: addrEnd ? endText(addrEnd) : '', res };
        break;
      }
      case 'socket':
        ev.fd = res >= 0 ? this.sysFd(e, res) : { num: -1 };
        ev.args = { domain: socketFamilyName(a[0]!), type: a[1]!, proto: a[2]!, fd: res };
        break;
      case 'accept':
      case 'accept4': {
        const fd = res >= 0 ? this.sysFd(e, res, { server: true }) : { num: -1 };
        ev.fd = fd;
        ev.args = { fd: res, tuple: fd?.local && fd.remote ? `${endText(fd.remote)}->${endText(fd.local)}` : '', ...(e.call === 'accept4' ? { flags: a[3]! } : {}) };
        break;
      }
      case 'listen':
        ev.fd = this.sysFd(e, a[0]!, { server: true });
        ev.args = { fd: a[0]!, backlog: a[1]!, res };
        break;
      case 'dup':
        ev.fd = this.sysFd(e, a[0]!);
        ev.args = { res, fd: a[0]! };
        break;
      case 'dup2':
        ev.fd = this.sysFd(e, a[0]!);
        ev.args = { res, oldfd: a[0]!, newfd: a[1]! };
        break;
      case 'dup3':
        ev.fd = this.sysFd(e, a[0]!);
        ev.args = { res, oldfd: a[0]!, newfd: a[1]!, flags: dup3FlagNames(a[2]!) };
        break;
      case 'ptrace':
        ev.args = { request: ptraceRequestName(a[0]!), pid: a[1]!, res, addr: a[2]!, data: a[3]! };
        break;
      case 'init_module':
        ev.args = { res, length: a[1]!, uargs: e.str ?? '' };
        break;
      case 'finit_module':
        ev.fd = this.sysFd(e, a[0]!);
        ev.args = { res, fd: a[0]!, uargs: e.str ?? '', flags: finitModuleFlagNames(a[2]!) };
        break;
      case 'memfd_create': {
        const name = `memfd:${e.str ?? ''}`;
        ev.fd = res >= 0 ? { num: res, type: 'memfd', name, ino: e.file?.ino } : { num: -1 };
        ev.args = { fd: res, name: e.str ?? '', flags: memfdFlagNames(a[1]!) };
        break;
      }
      case 'bpf':
        ev.args = { cmd: bpfCmdName(a[0]!), res };
        if (res >= 0 && (a[0] === 0 || a[0] === 5)) ev.fd = { num: res, type: 'bpf' };
        break;
      case 'setuid':
        ev.args = { uid: a[0]!, res };
        break;
      case 'setns':
        ev.fd = this.sysFd(e, a[0]!);
        ev.args = { fd: a[0]!, nstype: cloneNsFlagNames(a[1]!), res };
        break;
      case 'unshare':
        ev.args = { flags: cloneNsFlagNames(a[0]!), res };
        break;
      case 'userfaultfd':
        ev.fd = res >= 0 ? { num: res, type: 'userfaultfd' } : { num: -1 };
        ev.args = { res, flags: userfaultfdFlagNames(a[0]!) };
        break;
      case 'fchmod':
        ev.fd = this.sysFd(e, a[0]!);
        ev.args = { fd: a[0]!, mode: a[1]!, res };
        // Falco: the descriptor's name, for both (there is no name as given).
        if (res === 0 && ev.fd?.name !== undefined) ev.fsPath = { name: ev.fd.name, nameRaw: ev.fd.name };
        break;
    }
    return ev;
  }
}

// ---------------------------------------------------------------- evaluation

/** The events rules are evaluated on: the process, file and syscall-event sensors'. */
export type RuleInput = ProcessEvent | FileEvent | SysEvent;

export interface RuleEvaluatorHooks {
  /** Each event as evaluated (recording, debugging). */
  onEvent?(ev: RuleEvent): void;
  /** Each alert, with the event that raised it. */
  onAlert(a: Alert, ev: RuleEvent): void;
}

/**
 * The rules as a consumer of a pipeline's events, in kernel-time order: each
 * event the plan asks for becomes a Falco RuleEvent and is evaluated; other
 * events (kinds, file syscalls or calls no rule matches) are passed over.
 * Its processes come from the cache, fed as the process ring was read: the
 * pipeline releases an event only after every ring was read past its time.
 */
export class RuleEvaluator {
  readonly counts = { events: { process: 0, file: 0, sys: 0 }, alerts: 0 };
  private readonly adapter: LiveAdapter;
  private readonly fileSyscalls: ReadonlySet<string>;
  private readonly sysCalls: ReadonlySet<string>;

  constructor(
    readonly engine: RuleEngine,
    readonly plan: LivePlan,
    lookup: ProcessLookup,
    /** Whether the thread of an exec entered execveat (SysEventSensor.wasExecveat). */
    private readonly wasExecveat: (tid: number) => boolean,
    private readonly hooks: RuleEvaluatorHooks,
  ) {
    this.adapter = new LiveAdapter(lookup);
    this.fileSyscalls = new Set(plan.fileSyscalls);
    this.sysCalls = new Set(plan.sysCalls);
  }

  /** Evaluates `e` when it is one the rules asked for. */
  evaluate(e: { readonly kind: string }): void {
    const r = e as RuleInput;
    switch (r.kind) {
      case 'exec':
        if (!this.plan.execve && !this.plan.execveat) return;
        this.counts.events.process++;
        this.emit(this.adapter.fromExec(r, this.plan.execveat && this.wasExecveat(r.process.tid)));
        return;
      case 'exec_failed':
        if (!(r.at ? this.plan.execveat : this.plan.execve)) return;
        this.counts.events.process++;
        this.emit(this.adapter.fromExecFailed(r));
        return;
      case 'exit':
        if (!this.plan.procexit) return;
        this.counts.events.process++;
        this.emit(this.adapter.fromExit(r));
        return;
      case 'file':
        if (!this.fileSyscalls.has(r.syscall)) return;
        this.counts.events.file++;
        this.emit(this.adapter.fromFile(r));
        return;
      case 'sys':
        if (!this.sysCalls.has(r.call)) return;
        this.counts.events.sys++;
        this.emit(this.adapter.fromSys(r));
        return;
      default:
        return;
    }
  }

  private emit(ev: RuleEvent): void {
    this.hooks.onEvent?.(ev);
    for (const a of this.engine.evaluate(ev)) {
      this.counts.alerts++;
      this.hooks.onAlert(a, ev);
    }
  }
}

// ---------------------------------------------------------------- sensors

/** Where the rules' sensors deliver: a pipeline's push, loss count and wakeup. */
export interface RuleSensorTarget {
  push(e: RuleInput): void;
  kernelLost(sensor: 'process' | 'file' | 'syscall', count: number): void;
  schedule(): void;
}

export interface RuleSensorsOptions {
  plan: LivePlan;
  target: RuleSensorTarget;
  cache: ProcessCache;
  /** In-kernel filters shared by every sensor. */
  filter?: FilterSet;
  /**
   * A process sensor already feeding the target (the agent's): its events
   * are the rules' too, so none is started. It must deliver what the plan
   * asks for (ProcessSensor.want).
   */
  process?: ProcessSensor;
  /** A file sensor already feeding the target: the plan's file syscalls it watches are not watched again. */
  files?: FileSensor;
  /** Leave the agent's own syscalls out (default true). */
  ignoreSelf?: boolean;
  /** sendto/sendmsg without a destination address too (default false: see SysEventSensorOptions). */
  sendsWithoutAddress?: boolean;
  /** Ring buffer bytes per sensor (default 4 MiB for processes, 16 MiB for the file and syscall sensors). */
  ringBytes?: number;
  /** Wake the readers only once this many bytes wait (default 64 KiB; the pipeline's cycle also reads them). */
  wakeupBytes?: number;
}

/** The process event kinds a plan needs delivered. */
export function planProcessKinds(plan: LivePlan): ProcessEventKind[] {
  const kinds: ProcessEventKind[] = [];
  if (plan.execve || plan.execveat) kinds.push('exec', 'exec_failed');
  if (plan.procexit) kinds.push('exit');
  return kinds;
}

/**
 * The sensors a rule plan needs that do not run already, each ring read once,
 * into a pipeline: the process sensor (always: it feeds the cache every
 * other event's process comes from) unless one is given, a file sensor for
 * the file syscalls a given one does not watch, the syscall-event sensor.
 * Sources for the pipeline in reading order: processes first.
 */
export class RuleSensors {
  /** Asked for, but without a tracepoint or number on this kernel. */
  readonly missing: string[] = [];
  process: ProcessSensor | undefined;
  files: FileSensor | undefined;
  sys: SysEventSensor | undefined;
  private readonly lostAtClose = { process: 0, file: 0, sys: 0 };
  private closed = false;

  private constructor(private readonly shared: { process?: ProcessSensor; files?: FileSensor }) {}

  static async start(o: RuleSensorsOptions): Promise<RuleSensors> {
    const tracefs = ensureTracefs();
    if (!tracefs.path) throw new NotSupportedError('tracefs', tracefs.reason ?? 'tracefs is not mounted');
    const { plan, target } = o;
    const s = new RuleSensors({ process: o.process, files: o.files });
    const wakeupBytes = o.wakeupBytes ?? 64 * 1024;
    const ring = { wakeupBytes, boundedDrain: true, onBatchEnd: () => target.schedule() };
    try {
      if (!o.process) {
        s.process = await ProcessSensor.start({
          cache: o.cache, filter: o.filter, kinds: planProcessKinds(plan), onEvent: (e) => target.push(e),
          onLost: (n) => target.kernelLost('process', n), ringBytes: o.ringBytes ?? 4 << 20, ...ring,
        });
      }
      if (plan.sysCalls.length || plan.execveat) {
        const avail = planSysCalls(plan.sysCalls, tracefs.path);
        s.missing.push(...avail.missing);
        if (avail.tracepoint.length || avail.raw.length || plan.execveat) {
          s.sys = await SysEventSensor.start({
            calls: [...avail.tracepoint, ...avail.raw.map((r) => r.name)], filter: o.filter, execveat: plan.execveat,
            sendsWithoutAddress: o.sendsWithoutAddress, ignorePid: o.ignoreSelf === false ? undefined : process.pid,
            onEvent: (e) => target.push(e), onLost: (n) => target.kernelLost('syscall', n),
            ringBytes: o.ringBytes ?? 16 << 20, ...ring,
          });
        }
      }
      const watched = new Set<string>(o.files?.attached ?? []);
      const wanted = plan.fileSyscalls.filter((f) => !watched.has(f));
      if (wanted.length) {
        const here = new Set(availableFileSyscalls(tracefs.path));
        const fileSyscalls = wanted.filter((f) => here.has(f));
        s.missing.push(...wanted.filter((f) => !here.has(f)));
        if (fileSyscalls.length) {
          s.files = await FileSensor.start({
            syscalls: fileSyscalls, filter: o.filter, onEvent: (e) => target.push(e),
            onLost: (n) => target.kernelLost('file', n), ringBytes: o.ringBytes ?? 16 << 20, ...ring,
          });
        }
      }
      return s;
    } catch (e) {
      s.close();
      throw e;
    }
  }

  /** Whether thread tid entered execveat (for the evaluator). */
  wasExecveat(tid: number): boolean {
    return this.sys?.wasExecveat(tid) ?? false;
  }

  /** The rings this started, for the pipeline (in reading order: processes first). */
  sources(): { sensor: string; source: PipelineSource }[] {
    const r: { sensor: string; source: PipelineSource }[] = [];
    if (this.process) r.push({ sensor: 'process', source: this.process });
    if (this.sys) r.push({ sensor: 'syscall', source: this.sys });
    if (this.files) r.push({ sensor: 'file', source: this.files });
    return r;
  }

  /** What runs for the rules, for diagnostics: file syscalls watched (by either file sensor) and syscall-event calls. */
  describe(plan: LivePlan): { fileSyscalls: readonly string[]; sysCalls: readonly string[]; rawCalls: readonly string[] } {
    const watched = new Set<string>([...(this.shared.files?.attached ?? []), ...(this.files?.attached ?? [])]);
    return {
      fileSyscalls: plan.fileSyscalls.filter((f) => watched.has(f)),
      sysCalls: this.sys?.attached ?? [], rawCalls: this.sys?.raw ?? [],
    };
  }

  /** Events the kernel dropped on the rings this started. */
  get lost(): { process: number; file: number; sys: number } {
    if (this.closed) return { ...this.lostAtClose };
    return { process: this.process?.lost ?? 0, file: this.files?.lost ?? 0, sys: this.sys?.lost ?? 0 };
  }

  /**
   * Detaches and frees what this started; their last records go to the
   * target as each closes (processes last: the others' processes are then
   * in the cache when the pipeline releases them).
   */
  close(): void {
    if (this.closed) return;
    this.sys?.close();
    this.files?.close();
    this.process?.close();
    Object.assign(this.lostAtClose, { process: this.process?.lost ?? 0, file: this.files?.lost ?? 0, sys: this.sys?.lost ?? 0 });
    this.closed = true;
  }
}

// ---------------------------------------------------------------- standalone

export interface LiveRulesOptions {
  engine: RuleEngine;
  /** Where alerts go (an AlertRouter for several sinks and a priority threshold). */
  sink: AlertSink;
  /** In-kernel filters shared by every sensor. */
  filter?: FilterSet;
  /** The process cache (default: a new one, closed with the pipeline). */
  cache?: ProcessCache;
  /** Events the kernel dropped, per sensor (never silent). */
  onLost?(count: number, sensor: 'process' | 'file' | 'sys'): void;
  /** Each event as evaluated (recording, debugging). */
  onEvent?(ev: RuleEvent): void;
  /** Each alert, besides the sink, with the event that raised it. */
  onAlert?(a: Alert, ev: RuleEvent): void;
  /** Leave the agent's own syscalls out (default true). */
  ignoreSelf?: boolean;
  /** sendto/sendmsg without a destination address too (default false: see SysEventSensorOptions). */
  sendsWithoutAddress?: boolean;
  /** Ring buffer bytes per sensor (default 4 MiB for processes, 16 MiB for the file and syscall sensors). */
  ringBytes?: number;
  /** Wake the readers only once this many bytes wait (default 64 KiB; the pipeline's cycle also reads them). */
  wakeupBytes?: number;
  /** The pipeline's cycle (default 50 ms). */
  pollIntervalMs?: number;
}

export interface LiveRulesStats {
  /** Events evaluated, by source. */
  events: { process: number; file: number; sys: number };
  alerts: number;
  lost: { process: number; file: number; sys: number };
}

function ruleInputTime(e: RuleInput): bigint {
  return e.kind === 'file' || e.kind === 'sys' ? e.bootNs : e.timeBootNs;
}

/**
 * Rules on their own sensors and pipeline (`vigil run`, the library): the
 * rings merged in kernel-time order, each event evaluated once, alerts to
 * the sink. `vigil agent` evaluates the same way on its own pipeline
 * (src/agent/rules.ts), sharing its process and file sensors.
 */
export class LiveRules {
  private readonly ownCache: ProcessCache | undefined;
  private closed = false;

  private constructor(
    readonly plan: LivePlan,
    readonly cache: ProcessCache,
    private readonly sensors: RuleSensors,
    private readonly evaluator: RuleEvaluator,
    private readonly pipeline: EventPipeline<RuleInput, never>,
    ownCache: boolean,
  ) {
    this.ownCache = ownCache ? cache : undefined;
  }

  /** Asked for, but without a tracepoint or number on this kernel. */
  get missing(): readonly string[] {
    return this.sensors.missing;
  }

  static async start(opts: LiveRulesOptions): Promise<LiveRules> {
    const plan = planLive(opts.engine.interestingEventTypes());
    const cache = opts.cache ?? new ProcessCache();
    const clock = BootClock.measure();
    let sensors: RuleSensors | undefined;
    const evaluator = new RuleEvaluator(opts.engine, plan, cache, (tid) => sensors?.wasExecveat(tid) ?? false, {
      onEvent: opts.onEvent,
      onAlert: (a, ev) => {
        opts.sink.write(a);
        opts.onAlert?.(a, ev);
      },
    });
    const pipeline = new EventPipeline<RuleInput, never>({
      timeOf: ruleInputTime, sensorOf: (e) => (e.kind === 'file' ? 'file' : e.kind === 'sys' ? 'syscall' : 'process'),
      now: () => clock.nowBootNs(), intervalMs: opts.pollIntervalMs,
      // No sinks: every event feeds the rules only. Losses go to onLost.
      select: (e): e is never => false,
      derive: (e) => evaluator.evaluate(e),
      report: () => undefined,
    });
    try {
      sensors = await RuleSensors.start({
        plan, cache, filter: opts.filter, ignoreSelf: opts.ignoreSelf, sendsWithoutAddress: opts.sendsWithoutAddress,
        ringBytes: opts.ringBytes, wakeupBytes: opts.wakeupBytes,
        target: {
          push: (e) => pipeline.push(e), schedule: () => pipeline.schedule(),
          kernelLost: (sensor, n) => {
            pipeline.kernelLost(sensor, n);
            opts.onLost?.(n, sensor === 'syscall' ? 'sys' : sensor);
          },
        },
      });
    } catch (e) {
      await pipeline.close(0);
      if (!opts.cache) cache.close();
      throw e;
    }
    for (const { sensor, source } of sensors.sources()) pipeline.addSource(sensor, source);
    pipeline.start();
    return new LiveRules(plan, cache, sensors, evaluator, pipeline, !opts.cache);
  }

  /** Reads what the rings hold now and evaluates it, in time order (all of it: no reorder window). */
  drain(): void {
    this.pipeline.drainAll();
  }

  /**
   * The rules' rings as one source of another pipeline (`vigil run`'s): each of its cycles runs one
   * of this pipeline's (read every ring, evaluate what the reorder window releases), and its
   * back-pressure pauses these rings.
   */
  get source(): PipelineSource {
    return {
      drain: () => (this.pipeline.cycle(), 0),
      pause: () => this.pause(),
      resume: () => this.resume(),
    };
  }

  /** Stops reading the rings (back-pressure: they fill, the kernel drops and counts); losses are still reported. */
  pause(): void {
    for (const { source } of this.sensors.sources()) source.pause();
  }

  resume(): void {
    for (const { source } of this.sensors.sources()) source.resume();
  }

  stats(): LiveRulesStats {
    const c = this.evaluator.counts;
    return { events: { ...c.events }, alerts: c.alerts, lost: this.sensors.lost };
  }

  /** The sensors running, for diagnostics: attached file syscalls and syscall-event calls. */
  describe(): { fileSyscalls: readonly string[]; sysCalls: readonly string[]; rawCalls: readonly string[] } {
    return this.sensors.describe(this.plan);
  }

  /** Detaches every sensor, evaluates what the rings still held, frees. The sink is the caller's. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sensors.close();
    await this.pipeline.close(0);
    this.ownCache?.close();
  }

  /** Losses so far (and at close: the sensors' counters survive close()). */
  get lost(): LiveRulesStats['lost'] {
    return this.sensors.lost;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
