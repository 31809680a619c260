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
// Ordering: a file or syscall event is evaluated once its batch ends, after
// the process ring was drained, so the exec or fork that made its process is
// in the cache (the process ring is read first, as `vigil observe` does).
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

// ---------------------------------------------------------------- the pipeline

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
  /** Ring buffer bytes per sensor (default 1 MiB for processes, 4 MiB for the file and syscall sensors). */
  ringBytes?: number;
  /** Wake the readers only once this many bytes wait (default 64 KiB; the readers also poll). */
  wakeupBytes?: number;
  pollIntervalMs?: number;
}

export interface LiveRulesStats {
  /** Events evaluated, by source. */
  events: { process: number; file: number; sys: number };
  alerts: number;
  lost: { process: number; file: number; sys: number };
}

export class LiveRules {
  readonly plan: LivePlan;
  /** Asked for, but without a tracepoint or number on this kernel. */
  readonly missing: string[] = [];
  private proc: ProcessSensor | undefined;
  private files: FileSensor | undefined;
  private sys: SysEventSensor | undefined;
  private readonly ownCache: ProcessCache | undefined;
  private readonly adapter: LiveAdapter;
  private readonly counts = { events: { process: 0, file: 0, sys: 0 }, alerts: 0 };
  private pendingFiles: FileEvent[] = [];
  private pendingSys: SysEvent[] = [];
  private closed = false;
  private finalLost: LiveRulesStats['lost'] | undefined;

  private constructor(private readonly opts: LiveRulesOptions, readonly cache: ProcessCache, plan: LivePlan) {
    this.plan = plan;
    this.ownCache = opts.cache ? undefined : cache;
    this.adapter = new LiveAdapter(cache);
  }

  static async start(opts: LiveRulesOptions): Promise<LiveRules> {
    const tracefs = ensureTracefs();
    if (!tracefs.path) throw new NotSupportedError('tracefs', tracefs.reason ?? 'tracefs is not mounted');
    const plan = planLive(opts.engine.interestingEventTypes());
    const cache = opts.cache ?? new ProcessCache();
    const live = new LiveRules(opts, cache, plan);
    const wakeupBytes = opts.wakeupBytes ?? 64 * 1024;
    const pollIntervalMs = opts.pollIntervalMs ?? 50;
    try {
      const kinds: ProcessEventKind[] = [];
      if (plan.execve || plan.execveat) kinds.push('exec', 'exec_failed');
      if (plan.procexit) kinds.push('exit');
      // The process sensor always runs: it feeds the cache every other event's process comes from.
      live.proc = await ProcessSensor.start({
        cache, filter: opts.filter, kinds, onEvent: (e) => live.onProcess(e),
        onLost: (n) => opts.onLost?.(n, 'process'), ringBytes: opts.ringBytes, wakeupBytes, pollIntervalMs,
      });
      const sysCalls = plan.sysCalls;
      if (sysCalls.length || plan.execveat) {
        const avail = planSysCalls(sysCalls, tracefs.path);
        live.missing.push(...avail.missing);
        if (avail.tracepoint.length || avail.raw.length || plan.execveat) {
          live.sys = await SysEventSensor.start({
            calls: [...avail.tracepoint, ...avail.raw.map((r) => r.name)], filter: opts.filter, execveat: plan.execveat,
            sendsWithoutAddress: opts.sendsWithoutAddress, ignorePid: opts.ignoreSelf === false ? undefined : process.pid,
            onEvent: (e) => live.pendingSys.push(e), onBatchEnd: () => live.flush(),
            onLost: (n) => opts.onLost?.(n, 'sys'), ringBytes: opts.ringBytes ?? 4 << 20, wakeupBytes, pollIntervalMs,
          });
        }
      }
      if (plan.fileSyscalls.length) {
        const here = new Set(availableFileSyscalls(tracefs.path));
        const fileSyscalls = plan.fileSyscalls.filter((s) => here.has(s));
        live.missing.push(...plan.fileSyscalls.filter((s) => !here.has(s)));
        if (fileSyscalls.length) {
          live.files = await FileSensor.start({
            syscalls: fileSyscalls, filter: opts.filter,
            onEvent: (e) => live.pendingFiles.push(e), onBatchEnd: () => live.flush(),
            onLost: (n) => opts.onLost?.(n, 'file'), ringBytes: opts.ringBytes ?? 4 << 20, wakeupBytes, pollIntervalMs,
          });
        }
      }
      return live;
    } catch (e) {
      await live.close();
      throw e;
    }
  }

  private emit(ev: RuleEvent): void {
    this.opts.onEvent?.(ev);
    const alerts = this.opts.engine.evaluate(ev);
    for (const a of alerts) {
      this.counts.alerts++;
      this.opts.sink.write(a);
      this.opts.onAlert?.(a, ev);
    }
  }

  private onProcess(e: ProcessEvent): void {
    switch (e.kind) {
      case 'exec':
        if (!this.plan.execve && !this.plan.execveat) return;
        this.counts.events.process++;
        this.emit(this.adapter.fromExec(e, this.sys?.wasExecveat(e.process.tid) ?? false));
        return;
      case 'exec_failed':
        if (!(e.at ? this.plan.execveat : this.plan.execve)) return;
        this.counts.events.process++;
        this.emit(this.adapter.fromExecFailed(e));
        return;
      case 'exit':
        if (!this.plan.procexit) return;
        this.counts.events.process++;
        this.emit(this.adapter.fromExit(e));
        return;
      case 'fork':
        return;
    }
  }

  /** Evaluates the pending file and syscall events, after reading the process ring (their processes). */
  private flush(): void {
    if (!this.pendingFiles.length && !this.pendingSys.length) return;
    this.proc?.drain();
    const files = this.pendingFiles;
    const sys = this.pendingSys;
    this.pendingFiles = [];
    this.pendingSys = [];
    for (const e of files) {
      this.counts.events.file++;
      this.emit(this.adapter.fromFile(e));
    }
    for (const e of sys) {
      this.counts.events.sys++;
      this.emit(this.adapter.fromSys(e));
    }
  }

  /** Reads what the rings hold now and evaluates it. */
  drain(): void {
    this.proc?.drain();
    this.sys?.drain();
    this.files?.drain();
    this.flush();
  }

  /** Stops reading the rings (back-pressure: they fill, the kernel drops and counts); losses are still reported. */
  pause(): void {
    this.proc?.pause();
    this.sys?.pause();
    this.files?.pause();
  }

  resume(): void {
    this.proc?.resume();
    this.sys?.resume();
    this.files?.resume();
  }

  stats(): LiveRulesStats {
    return {
      events: { ...this.counts.events },
      alerts: this.counts.alerts,
      lost: { process: this.proc?.lost ?? 0, file: this.files?.lost ?? 0, sys: this.sys?.lost ?? 0 },
    };
  }

  /** The sensors running, for diagnostics: attached file syscalls and syscall-event calls. */
  describe(): { fileSyscalls: readonly string[]; sysCalls: readonly string[]; rawCalls: readonly string[] } {
    return { fileSyscalls: this.files?.attached ?? [], sysCalls: this.sys?.attached ?? [], rawCalls: this.sys?.raw ?? [] };
  }

  /** Detaches every sensor, evaluates what the rings still hold, frees. The sink is the caller's. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const lost = this.stats().lost;
    // Syscall and file sensors first: their last batches drain the process ring as they end.
    this.sys?.close();
    this.files?.close();
    this.flush();
    this.proc?.close();
    this.finalLost = { process: this.proc?.lost ?? lost.process, file: this.files?.lost ?? lost.file, sys: this.sys?.lost ?? lost.sys };
    this.ownCache?.close();
  }

  /** Losses so far (and at close: the sensors' counters survive close()). */
  get lost(): LiveRulesStats['lost'] {
    return this.finalLost ?? this.stats().lost;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
