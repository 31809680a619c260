// The field table: every Falco field Vigil fills, with its type and an
// extractor over RuleEvent. The compiler asks it once per field reference for
// an extractor function, so evaluating a condition does no name lookups.
//
// Extractors return undefined when the event lacks the data (Falco's <NA>): a
// comparison with no value is false, whatever the operator, as in libsinsp.
// Fields with several values (proc.aname with no index, fd.ip: client or
// server) match when any value does.
import { hostname as osHostname } from 'node:os';
import { errnoNameOf } from '../kernel/errno.js';
import { capabilityList } from '../kernel/capabilities.js';
import type { ArgValue, RuleContainer, RuleEvent, RuleFd, RuleFsPath, RuleProcess, SocketEnd } from './event.js';
import { openFlagNames } from './event.js';
import { DOTTED_ARG_FIELDS, FALCO_SYSCALL_FIELDS } from './falco-fields.js';
import { globToRegExp } from './glob.js';
import { UserDb } from './users.js';

/**
 * Value types, after Falco's: string (CHARBUF, FSPATH), number (all integers,
 * ports, RELTIME ns), bool, ipaddr/ipnet (addresses as text; ipnet fields compare
 * against networks), abstime (ns since the epoch, bigint), bytes (BYTEBUF).
 */
export type FieldType = 'string' | 'number' | 'bool' | 'ipaddr' | 'ipnet' | 'abstime' | 'bytes';
export type Scalar = string | number | bigint | boolean | Uint8Array;
export type FieldValue = Scalar | undefined;

export type FieldAccess<E> =
  | { readonly many: false; readonly type: FieldType; readonly extract: (ev: E) => FieldValue }
  | { readonly many: true; readonly type: FieldType; readonly extract: (ev: E) => readonly Scalar[] | undefined };

export type FieldErrorReason =
  /** Falco does not know the field: an error, as in Falco. */
  | 'unknown'
  /** Falco knows it but Vigil does not provide it: rules using it are skipped, with this reason. */
  | 'unsupported'
  /** The field's argument is missing, extra or malformed. */
  | 'argument';

export class FieldError extends Error {
  override readonly name = 'FieldError';
  constructor(
    readonly field: string,
    readonly reason: FieldErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** What the compiler needs of a field table. Other event shapes bring their own. */
export interface FieldTable<E> {
  /** An extractor for one field reference; throws FieldError. */
  resolve(name: string, arg: string | undefined): FieldAccess<E>;
}

export interface FieldInfo {
  readonly name: string;
  readonly type: FieldType;
  /** none: proc.name; optional: proc.aname / proc.aname[2]; required: evt.arg[0] or evt.arg.flags. */
  readonly arg: 'none' | 'optional' | 'required';
  readonly desc: string;
}

interface FieldDecl extends FieldInfo {
  make(arg: string | undefined): FieldAccess<RuleEvent>;
}

/** Remembers the value for the last event: the same field is read by many rules per event. */
function memo<R>(f: (ev: RuleEvent) => R): (ev: RuleEvent) => R {
  let last: RuleEvent | undefined;
  let val: R;
  return (ev) => {
    if (ev === last) return val;
    val = f(ev);
    last = ev;
    return val;
  };
}

// ---------------------------------------------------------------- renderings

const capCache = new Map<bigint, string>();

/** A capability set as Falco prints it: "CAP_CHOWN CAP_DAC_OVERRIDE ...". */
export function capsToString(caps: bigint): string {
  let s = capCache.get(caps);
  if (s === undefined) {
    s = capabilityList(caps).join(' ');
    if (capCache.size > 256) capCache.clear();
    capCache.set(caps, s);
  }
  return s;
}

/** evt.res: "SUCCESS", or the errno's name for a negative result. */
export function resToString(res: number): string {
  if (res >= 0) return 'SUCCESS';
  return errnoNameOf(-res) ?? String(res);
}

const OPEN_TYPES = new Set(['open', 'openat', 'openat2', 'open_by_handle_at']);

function argToString(ev: RuleEvent, key: string, v: ArgValue): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && key === 'flags' && (OPEN_TYPES.has(ev.type) || ev.type === 'creat')) {
    return openFlagNames(v).join('|');
  }
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1');
  return v.join('|');
}

/** Access mode of an open: 'r', 'w', 'rw', or undefined when the event carries no flags. */
function openAccess(ev: RuleEvent): string | undefined {
  const flags = ev.args?.['flags'];
  if (flags === undefined) return undefined;
  if (typeof flags === 'number') return ['r', 'w', 'rw', ''][flags & 3];
  const names = typeof flags === 'string' ? flags.split('|') : Array.isArray(flags) ? (flags as readonly string[]) : [];
  if (names.includes('O_RDWR')) return 'rw';
  if (names.includes('O_WRONLY')) return 'w';
  return 'r';
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

function nsPart(ns: bigint): string {
  return String(((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).padStart(9, '0');
}

/** evt.time: local "HH:MM:SS.nnnnnnnnn", as Falco prints it first on each alert line. */
export function formatEvtTime(ns: bigint, withNs = true): string {
  const d = new Date(Number(ns / 1_000_000n));
  const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withNs ? `${t}.${nsPart(ns)}` : t;
}

/** evt.datetime: local "YYYY-MM-DD HH:MM:SS.nnnnnnnnn". */
export function formatEvtDatetime(ns: bigint, withNs = true): string {
  const d = new Date(Number(ns / 1_000_000n));
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${formatEvtTime(ns, withNs)}`;
}

/** evt.time.iso8601: UTC "YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+0000". */
export function formatEvtIso8601(ns: bigint): string {
  return `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${nsPart(ns)}+0000`;
}

// ---------------------------------------------------------------- helpers

const MAX_ANCESTORS = 128;

function ancestor(p: RuleProcess | undefined, n: number): RuleProcess | undefined {
  for (let i = 0; i < n && p; i++) p = p.parent;
  return p;
}

function ancestors(p: RuleProcess | undefined): RuleProcess[] {
  const out: RuleProcess[] = [];
  for (let a = p?.parent; a && out.length < MAX_ANCESTORS; a = a.parent) out.push(a);
  return out;
}

function cmdline(p: RuleProcess): string {
  return p.args && p.args.length > 0 ? `${p.name} ${p.args.join(' ')}` : p.name;
}

function withSlash(dir: string): string {
  return dir.endsWith('/') ? dir : `${dir}/`;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

const HOST: RuleContainer = { id: 'host', name: 'host' };

function containerOf(ev: RuleEvent): RuleContainer {
  return ev.container ?? HOST;
}

const TYPECHAR: Record<string, string> = {
  file: 'f', directory: 'd', ipv4: '4', ipv6: '6', unix: 'u', pipe: 'p', event: 'e', signalfd: 's',
  eventpoll: 'l', inotify: 'i', timerfd: 't', netlink: 'n', bpf: 'b', userfaultfd: 'u', io_uring: 'r',
  memfd: 'm', pidfd: 'P',
};

function isFileFd(fd: RuleFd): boolean {
  return fd.type === 'file' || fd.type === 'directory' || (fd.type === undefined && !!fd.name?.startsWith('/'));
}

function isIpFd(fd: RuleFd): boolean {
  return fd.type === 'ipv4' || fd.type === 'ipv6';
}

function clientEnd(fd: RuleFd): SocketEnd | undefined {
  return fd.isServer ? fd.remote : fd.local;
}

function serverEnd(fd: RuleFd): SocketEnd | undefined {
  return fd.isServer ? fd.local : fd.remote;
}

function endText(e: SocketEnd | undefined, v6: boolean): string {
  if (!e) return '';
  const ip = e.ip ?? (v6 ? '::' : '0.0.0.0');
  return e.port === undefined ? ip : `${ip}:${e.port}`;
}

/** fd.name of a socket: "client:port->server:port", as Falco writes the tuple. */
function socketName(fd: RuleFd): string | undefined {
  if (isIpFd(fd)) {
    const v6 = fd.type === 'ipv6';
    return `${endText(clientEnd(fd), v6)}->${endText(serverEnd(fd), v6)}`;
  }
  if (fd.type === 'unix') return fd.remote?.ip ?? fd.local?.ip;
  return undefined;
}

function fdName(fd: RuleFd): string | undefined {
  return fd.name ?? socketName(fd);
}

function defined<T>(xs: readonly (T | undefined)[]): T[] {
  return xs.filter((x): x is T => x !== undefined);
}

function nonNegInt(field: string, arg: string | undefined): number {
  if (arg === undefined || !/^\d+$/.test(arg)) {
    throw new FieldError(field, 'argument', `field '${field}' needs a non-negative integer argument, got '${arg ?? ''}'`);
  }
  return Number(arg);
}

/** major(st_dev) and minor(st_dev), as glibc's macros take them apart. */
function devMajor(dev: number): number {
  return Math.floor(dev / 0x100) & 0xfff;
}

function devMinor(dev: number): number {
  return (dev & 0xff) | (Math.floor(dev / 0x1000) & 0xfff00);
}

function toSigned32(n: number): number {
  return n > 0x7fffffff ? n - 0x1_0000_0000 : n;
}

// ---------------------------------------------------------------- the table

export interface FieldTableOptions {
  /** Names of users and groups; default: the host's /etc/passwd and /etc/group. */
  users?: UserDb;
  /** evt.hostname; default os.hostname(). */
  hostname?: string;
}

type One = (ev: RuleEvent) => FieldValue;
/** A field of the event's process (undefined without one). */
const P = (f: (p: RuleProcess, ev: RuleEvent) => FieldValue): One => (ev) => (ev.process ? f(ev.process, ev) : undefined);
type Many = (ev: RuleEvent) => readonly Scalar[] | undefined;

export class RuleFieldTable implements FieldTable<RuleEvent> {
  private readonly decls = new Map<string, FieldDecl>();
  readonly users: UserDb;
  readonly hostname: string;

  constructor(opts: FieldTableOptions = {}) {
    this.users = opts.users ?? new UserDb();
    this.hostname = opts.hostname ?? osHostname();
    this.declareAll();
  }

  /** Every field Vigil provides. */
  list(): FieldInfo[] {
    return [...this.decls.values()].map(({ name, type, arg, desc }) => ({ name, type, arg, desc }));
  }

  /** Whether Vigil provides the field (base name, without argument). */
  has(name: string): boolean {
    return this.decls.has(name) || this.decls.has(splitDotted(name)[0]);
  }

  resolve(name: string, arg: string | undefined): FieldAccess<RuleEvent> {
    let base = name;
    let a = arg;
    const [dottedBase, dottedArg] = splitDotted(name);
    if (dottedArg !== undefined) {
      if (arg !== undefined) throw new FieldError(name, 'argument', `field '${name}' takes no '[${arg}]' argument`);
      base = dottedBase;
      a = dottedArg;
    }
    const decl = this.decls.get(base);
    if (!decl) {
      if (FALCO_SYSCALL_FIELDS.has(base)) {
        throw new FieldError(name, 'unsupported', `field '${name}' is not provided by Vigil`);
      }
      throw new FieldError(name, 'unknown', `filter_check called with nonexistent field ${name}`);
    }
    if (decl.arg === 'none' && a !== undefined) {
      throw new FieldError(name, 'argument', `field '${base}' takes no argument`);
    }
    if (decl.arg === 'required' && a === undefined) {
      throw new FieldError(name, 'argument', `field '${base}' requires an argument`);
    }
    return decl.make(a);
  }

  private one(name: string, type: FieldType, desc: string, f: One, cache = false): void {
    const extract = cache ? memo(f) : f;
    this.decls.set(name, { name, type, desc, arg: 'none', make: () => ({ many: false, type, extract }) });
  }

  private withArg(name: string, type: FieldType, arg: 'optional' | 'required', desc: string, make: (a: string | undefined) => FieldAccess<RuleEvent>): void {
    this.decls.set(name, { name, type, desc, arg, make });
  }

  private declareAll(): void {
    this.declareEvt();
    this.declareProc();
    this.declareUser();
    this.declareFd();
    this.declareFsPath();
    this.declareContainer();
  }

  private declareEvt(): void {
    const hostname = this.hostname;
    this.one('evt.type', 'string', 'event type (the syscall name)', (ev) => ev.type);
    this.one('syscall.type', 'string', 'the syscall name (unset for pseudo events)', (ev) => (ev.type === 'switch' || ev.type === 'procexit' ? undefined : ev.type));
    this.one('evt.dir', 'string', "'<' exit, '>' enter", (ev) => ev.dir ?? '<');
    this.one('evt.num', 'number', 'event number', (ev) => ev.num);
    this.one('evt.time', 'string', 'local time of day with ns', (ev) => formatEvtTime(ev.timeNs), true);
    this.one('evt.time.s', 'string', 'local time of day', (ev) => formatEvtTime(ev.timeNs, false), true);
    this.one('evt.time.iso8601', 'string', 'UTC ISO 8601 time with ns', (ev) => formatEvtIso8601(ev.timeNs), true);
    this.one('evt.datetime', 'string', 'local date and time with ns', (ev) => formatEvtDatetime(ev.timeNs), true);
    this.one('evt.datetime.s', 'string', 'local date and time', (ev) => formatEvtDatetime(ev.timeNs, false), true);
    this.one('evt.rawtime', 'abstime', 'ns since the epoch', (ev) => ev.timeNs);
    this.one('evt.rawtime.s', 'abstime', 'seconds since the epoch', (ev) => ev.timeNs / 1_000_000_000n);
    this.one('evt.rawtime.ns', 'abstime', 'ns part of the time', (ev) => ev.timeNs % 1_000_000_000n);
    this.one('evt.hostname', 'string', 'the host name', () => hostname);
    this.one('evt.rawres', 'number', 'return value', (ev) => ev.res);
    this.one('evt.res', 'string', "'SUCCESS' or the errno name", (ev) => (ev.res === undefined ? undefined : resToString(ev.res)));
    this.one('evt.failed', 'bool', 'the call failed', (ev) => (ev.res === undefined ? undefined : ev.res < 0));
    this.one('evt.args', 'string', 'all arguments, name=value', (ev) => {
      if (!ev.args) return undefined;
      return Object.entries(ev.args).map(([k, v]) => `${k}=${argToString(ev, k, v)}`).join(' ');
    }, true);
    this.one('evt.buffer', 'bytes', 'the I/O data buffer', (ev) => ev.buffer);
    this.one('evt.buflen', 'number', 'length of the I/O buffer', (ev) => ev.buffer?.length);
    this.one('evt.is_open_read', 'bool', 'an open for reading', (ev) => {
      if (!OPEN_TYPES.has(ev.type)) return false;
      const a = openAccess(ev);
      return a === undefined ? undefined : a.includes('r');
    });
    this.one('evt.is_open_write', 'bool', 'an open for writing', (ev) => {
      if (ev.type === 'creat') return true;
      if (!OPEN_TYPES.has(ev.type)) return false;
      const a = openAccess(ev);
      return a === undefined ? undefined : a.includes('w');
    });
    this.one('evt.is_open_exec', 'bool', 'an open creating an executable file', (ev) => {
      if (!OPEN_TYPES.has(ev.type) && ev.type !== 'creat') return false;
      const flags = ev.args?.['flags'];
      const mode = ev.args?.['mode'];
      const creat = ev.type === 'creat' || (typeof flags === 'number' ? (flags & 0o100) !== 0 : argHas(flags, 'O_CREAT'));
      if (!creat) return false;
      if (typeof mode === 'number') return (mode & 0o111) !== 0;
      return typeof mode === 'string' ? /S_IX/.test(mode) : undefined;
    });
    const argByName = (key: string): FieldAccess<RuleEvent> => ({
      many: false,
      type: 'string',
      extract: (ev) => {
        const v = ev.args?.[key];
        return v === undefined ? undefined : argToString(ev, key, v);
      },
    });
    this.withArg('evt.arg', 'string', 'required', 'an argument, by name (evt.arg.flags) or number (evt.arg[0])', (a) => {
      if (a !== undefined && /^\d+$/.test(a)) {
        const i = Number(a);
        return {
          many: false,
          type: 'string',
          extract: (ev) => {
            if (!ev.args) return undefined;
            const key = Object.keys(ev.args)[i];
            return key === undefined ? undefined : argToString(ev, key, ev.args[key]!);
          },
        };
      }
      return argByName(a!);
    });
    this.withArg('evt.rawarg', 'string', 'required', 'an argument by name, unrendered', (a) => ({
      many: false,
      type: 'string',
      extract: (ev) => {
        const v = ev.args?.[a!];
        if (v === undefined) return undefined;
        return Array.isArray(v) ? (v as string[]).join('|') : typeof v === 'string' ? v : String(v);
      },
    }));
  }

  private declareProc(): void {
    const PP = (f: (p: RuleProcess) => FieldValue): One => (ev) => {
      const pp = ev.process?.parent;
      return pp ? f(pp) : undefined;
    };
    this.one('proc.pid', 'number', 'process id', P((p) => p.pid));
    this.one('proc.vpid', 'number', 'process id in its pid namespace', P((p) => p.vpid));
    this.one('thread.tid', 'number', 'thread id', P((p) => p.tid ?? p.pid));
    this.one('thread.vtid', 'number', 'thread id in its pid namespace', P((p) => p.vtid ?? p.vpid));
    this.one('proc.ppid', 'number', 'parent pid', P((p) => p.ppid ?? p.parent?.pid));
    this.one('proc.name', 'string', 'the process name (comm, at most 15 bytes)', P((p) => p.name));
    this.one('proc.exe', 'string', 'argv[0]', P((p) => p.exe));
    this.one('proc.exepath', 'string', 'full path of the executable', P((p) => p.exepath));
    this.withArg('proc.args', 'string', 'optional', 'arguments after argv[0], joined with spaces; proc.args[N]: the Nth of them (a Vigil extension: Falco takes no index)', (a) => {
      if (a === undefined) return { many: false, type: 'string', extract: memo(P((p) => (p.args ?? []).join(' '))) };
      const n = nonNegInt('proc.args', a);
      return { many: false, type: 'string', extract: P((p) => p.args?.[n]) };
    });
    this.one('proc.cmdline', 'string', 'proc.name + proc.args', P(cmdline), true);
    this.one('proc.exeline', 'string', 'proc.exe + proc.args', P((p) => (p.exe === undefined ? undefined : [p.exe, ...(p.args ?? [])].join(' '))), true);
    this.one('proc.cwd', 'string', 'working directory, with a trailing /', P((p) => (p.cwd === undefined ? undefined : withSlash(p.cwd))));
    this.one('proc.tty', 'number', 'controlling terminal, 0 if none', P((p) => p.tty));
    this.one('proc.sid', 'number', 'session id', P((p) => p.sid));
    this.one('proc.sname', 'string', "the session leader's name", P((p) => p.sname));
    this.one('proc.vpgid', 'number', 'process group id in its pid namespace', P((p) => p.vpgid));
    this.one('proc.is_vpgid_leader', 'bool', 'the process leads its process group', P((p) => (p.vpgid === undefined ? undefined : p.vpgid === (p.vpid ?? p.pid))));
    this.one('proc.is_sid_leader', 'bool', 'the process leads its session', P((p) => (p.sid === undefined ? undefined : p.sid === (p.vpid ?? p.pid))));
    this.one('proc.duration', 'number', 'ns since the process started', P((p, ev) => (p.startTimeNs === undefined ? undefined : Number(ev.timeNs - p.startTimeNs))));
    this.one('proc.pid.ts', 'abstime', 'process start, ns since the epoch', P((p) => p.startTimeNs));
    this.one('proc.ppid.ts', 'abstime', 'parent start, ns since the epoch', PP((p) => p.startTimeNs));
    this.one('proc.ppid.duration', 'number', 'ns since the parent started', (ev) => {
      const s = ev.process?.parent?.startTimeNs;
      return s === undefined ? undefined : Number(ev.timeNs - s);
    });
    this.one('proc.is_exe_from_memfd', 'bool', 'the executable is a memfd', P((p) => p.exeFromMemfd));
    this.one('proc.is_exe_upper_layer', 'bool', 'the executable is in an overlayfs upper layer', P((p) => p.exeUpperLayer));
    this.one('proc.is_exe_writable', 'bool', 'the executable is writable by its user', P((p) => p.exeWritable));
    this.one('proc.exe_ino.ctime', 'abstime', "ctime of the executable's inode", P((p) => p.exeInoCtimeNs));
    this.one('proc.exe_ino.mtime', 'abstime', "mtime of the executable's inode", P((p) => p.exeInoMtimeNs));
    this.one('proc.exe_ino.ctime_duration_proc_start', 'number', 'ns from the executable\'s ctime to the process start', P((p) =>
      p.exeInoCtimeNs === undefined || p.startTimeNs === undefined ? undefined : Number(p.startTimeNs - p.exeInoCtimeNs)));
    this.one('proc.pname', 'string', "the parent's name", PP((p) => p.name));
    this.one('proc.pexe', 'string', "the parent's argv[0]", PP((p) => p.exe));
    this.one('proc.pexepath', 'string', "the parent's executable path", PP((p) => p.exepath));
    this.one('proc.pcmdline', 'string', "the parent's command line", PP(cmdline), true);
    this.one('proc.pvpid', 'number', "the parent's pid in its namespace", PP((p) => p.vpid));
    this.withArg('proc.env', 'string', 'optional', 'the environment (NAME=value, space separated), or one variable: proc.env[NAME]', (a) => {
      if (a === undefined) {
        return { many: false, type: 'string', extract: memo(P((p) => (p.env ? p.env.join(' ') : undefined))) };
      }
      const prefix = `${a}=`;
      return { many: false, type: 'string', extract: P((p) => p.env?.find((e) => e.startsWith(prefix))?.slice(prefix.length)) };
    });
    const ancestral = (name: string, type: FieldType, desc: string, f: (p: RuleProcess) => FieldValue): void => {
      this.withArg(name, type, 'optional', desc, (a) => {
        if (a === undefined) {
          const many: Many = (ev) => defined(ancestors(ev.process).map(f)) as Scalar[];
          return { many: true, type, extract: memo(many) };
        }
        const n = nonNegInt(name, a);
        return { many: false, type, extract: (ev) => {
          const p = ancestor(ev.process, n);
          return p ? f(p) : undefined;
        } };
      });
    };
    ancestral('proc.aname', 'string', 'name of an ancestor: [0] self, [1] parent...; with no index, any ancestor', (p) => p.name);
    ancestral('proc.apid', 'number', 'pid of an ancestor', (p) => p.pid);
    ancestral('proc.aexe', 'string', 'argv[0] of an ancestor', (p) => p.exe);
    ancestral('proc.aexepath', 'string', 'executable path of an ancestor', (p) => p.exepath);
    ancestral('proc.acmdline', 'string', 'command line of an ancestor', cmdline);
    const caps = (name: string, pick: (p: RuleProcess) => bigint | undefined): void => {
      this.one(name, 'string', 'capability set, space-separated CAP_ names', P((p) => {
        const c = pick(p);
        return c === undefined ? undefined : capsToString(c);
      }));
    };
    caps('thread.cap_effective', (p) => p.capEffective);
    caps('thread.cap_permitted', (p) => p.capPermitted);
    caps('thread.cap_inheritable', (p) => p.capInheritable);
  }

  private declareUser(): void {
    const users = this.users;
    const user = (uid: number | undefined) => (uid === undefined ? undefined : users.user(uid));
    this.one('user.uid', 'number', 'effective user id', P((p) => p.uid));
    this.one('user.name', 'string', 'user name', P((p) => p.userName ?? user(p.uid)?.name), true);
    this.one('user.homedir', 'string', 'home directory', P((p) => user(p.uid)?.home));
    this.one('user.shell', 'string', 'login shell', P((p) => user(p.uid)?.shell));
    this.one('user.loginuid', 'number', 'audit login uid (-1 when unset)',
      P((p) => (p.loginuid === undefined ? undefined : toSigned32(p.loginuid))));
    this.one('user.loginname', 'string', 'name of the audit login user', P((p) => {
      if (p.loginName !== undefined) return p.loginName;
      return p.loginuid === undefined || toSigned32(p.loginuid) < 0 ? undefined : users.user(p.loginuid)?.name;
    }), true);
    this.one('group.gid', 'number', 'effective group id', P((p) => p.gid));
    this.one('group.name', 'string', 'group name', P((p) => p.groupName ?? (p.gid === undefined ? undefined : users.group(p.gid)?.name)), true);
  }

  private declareFd(): void {
    const F = (f: (fd: RuleFd, ev: RuleEvent) => FieldValue): One => (ev) => (ev.fd ? f(ev.fd, ev) : undefined);
    const IP = (f: (fd: RuleFd) => FieldValue): One => F((fd) => (isIpFd(fd) ? f(fd) : undefined));
    this.one('fd.num', 'number', 'descriptor number', F((fd) => fd.num));
    this.one('fd.type', 'string', 'file, directory, ipv4, ipv6, unix, pipe, ...', F((fd) => fd.type));
    this.one('fd.typechar', 'string', 'the type as one character (f, 4, 6, u, p, ...)', F((fd) => (fd.type ? TYPECHAR[fd.type] : isFileFd(fd) ? 'f' : undefined)));
    this.one('fd.name', 'string', 'full path, or the connection tuple', F(fdName), true);
    this.one('fd.nameraw', 'string', 'the path as the process passed it', F((fd) => fd.nameRaw ?? fd.name));
    this.one('fd.directory', 'string', 'directory of a file', F((fd) => {
      if (!isFileFd(fd) || fd.name === undefined) return undefined;
      return fd.type === 'directory' ? fd.name : dirname(fd.name);
    }));
    this.one('fd.filename', 'string', 'file name without its directory', F((fd) => (isFileFd(fd) && fd.name !== undefined && fd.type !== 'directory' ? basename(fd.name) : undefined)));
    this.one('fd.cip', 'ipaddr', 'client IP', IP((fd) => clientEnd(fd)?.ip));
    this.one('fd.sip', 'ipaddr', 'server IP', IP((fd) => serverEnd(fd)?.ip));
    this.one('fd.lip', 'ipaddr', 'local IP', IP((fd) => fd.local?.ip));
    this.one('fd.rip', 'ipaddr', 'remote IP', IP((fd) => fd.remote?.ip));
    this.one('fd.cport', 'number', 'client port', IP((fd) => clientEnd(fd)?.port));
    this.one('fd.sport', 'number', 'server port', IP((fd) => serverEnd(fd)?.port));
    this.one('fd.lport', 'number', 'local port', IP((fd) => fd.local?.port));
    this.one('fd.rport', 'number', 'remote port', IP((fd) => fd.remote?.port));
    this.one('fd.cnet', 'ipnet', 'client IP, compared with networks', IP((fd) => clientEnd(fd)?.ip));
    this.one('fd.snet', 'ipnet', 'server IP, compared with networks', IP((fd) => serverEnd(fd)?.ip));
    this.one('fd.lnet', 'ipnet', 'local IP, compared with networks', IP((fd) => fd.local?.ip));
    this.one('fd.rnet', 'ipnet', 'remote IP, compared with networks', IP((fd) => fd.remote?.ip));
    const both = (name: string, type: FieldType, desc: string, f: (e: SocketEnd | undefined) => Scalar | undefined): void => {
      this.decls.set(name, {
        name, type, desc, arg: 'none',
        make: () => ({ many: true, type, extract: (ev) => {
          const fd = ev.fd;
          if (!fd || !isIpFd(fd)) return undefined;
          return defined([f(clientEnd(fd)), f(serverEnd(fd))]);
        } }),
      });
    };
    both('fd.ip', 'ipaddr', 'client or server IP', (e) => e?.ip);
    both('fd.port', 'number', 'client or server port', (e) => e?.port);
    both('fd.net', 'ipnet', 'client or server IP, compared with networks', (e) => e?.ip);
    this.one('fd.l4proto', 'string', 'tcp, udp, icmp or raw', F((fd) => fd.l4proto));
    this.one('fd.sockfamily', 'string', 'ip or unix', F((fd) => (isIpFd(fd) ? 'ip' : fd.type === 'unix' ? 'unix' : undefined)));
    this.one('fd.is_server', 'bool', 'this process is the server end', F((fd) => (isIpFd(fd) || fd.type === 'unix' ? !!fd.isServer : undefined)));
    this.one('fd.connected', 'bool', 'the socket is connected', F((fd) => fd.connected));
    this.one('fd.name_changed', 'bool', "the event changed the descriptor's name", F((fd) => fd.nameChanged ?? false));
    this.one('fd.ino', 'number', 'inode number of the file', F((fd) => fd.ino));
    this.one('fd.dev', 'number', 'device number of the file (st_dev)', F((fd) => fd.dev));
    this.one('fd.dev.major', 'number', 'major device number of the file', F((fd) => (fd.dev === undefined ? undefined : devMajor(fd.dev))));
    this.one('fd.dev.minor', 'number', 'minor device number of the file', F((fd) => (fd.dev === undefined ? undefined : devMinor(fd.dev))));
    const names = (name: string, desc: string, pick: (fd: RuleFd) => readonly string[] | undefined): void => {
      this.decls.set(name, { name, type: 'string', desc, arg: 'none', make: () => ({ many: true, type: 'string', extract: (ev) => (ev.fd ? pick(ev.fd) : undefined) }) });
    };
    names('fd.cip.name', 'domain names of the client IP', (fd) => (fd.isServer ? fd.remoteNames : fd.localNames));
    names('fd.sip.name', 'domain names of the server IP', (fd) => (fd.isServer ? fd.localNames : fd.remoteNames));
    names('fd.lip.name', 'domain names of the local IP', (fd) => fd.localNames);
    names('fd.rip.name', 'domain names of the remote IP', (fd) => fd.remoteNames);
  }

  private declareFsPath(): void {
    const FS = (f: (p: RuleFsPath) => string | undefined): One => (ev) => (ev.fsPath ? f(ev.fsPath) : undefined);
    this.one('fs.path.name', 'string', 'the path a filesystem syscall acted on, canonical (set when it succeeded)', FS((p) => p.name));
    this.one('fs.path.nameraw', 'string', 'the same path as the process passed it', FS((p) => p.nameRaw));
    this.one('fs.path.source', 'string', 'the source path of a two-path syscall (rename, link, symlink), canonical', FS((p) => p.source));
    this.one('fs.path.sourceraw', 'string', 'the source path as the process passed it', FS((p) => p.sourceRaw));
    this.one('fs.path.target', 'string', 'the target path of a two-path syscall, canonical (a symlink\'s content as given)', FS((p) => p.target));
    this.one('fs.path.targetraw', 'string', 'the target path as the process passed it', FS((p) => p.targetRaw));
  }

  private declareContainer(): void {
    const C = (f: (c: RuleContainer) => FieldValue): One => (ev) => f(containerOf(ev));
    this.one('container.id', 'string', "the container id (12 characters), 'host' outside containers", C((c) => (c.id.length > 12 ? c.id.slice(0, 12) : c.id)));
    this.one('container.full_id', 'string', 'the full container id', C((c) => c.id));
    this.one('container.name', 'string', "container name, 'host' outside containers", C((c) => c.name ?? (c.id === 'host' ? 'host' : undefined)));
    this.one('container.type', 'string', 'docker, containerd, cri-o, podman, ...', C((c) => c.type));
    this.one('container.image', 'string', 'image name', C((c) => c.image));
    this.one('container.image.id', 'string', 'image id', C((c) => c.imageId));
    this.one('container.image.repository', 'string', 'image repository', C((c) => c.imageRepository));
    this.one('container.image.tag', 'string', 'image tag', C((c) => c.imageTag));
    this.one('container.image.digest', 'string', 'image digest', C((c) => c.imageDigest));
    this.one('container.privileged', 'bool', 'the container runs privileged', C((c) => c.privileged));
    this.one('container.start_ts', 'abstime', 'container start, ns since the epoch', C((c) => c.startTimeNs));
    this.one('container.duration', 'number', 'ns since the container started', (ev) => {
      const s = containerOf(ev).startTimeNs;
      return s === undefined ? undefined : Number(ev.timeNs - s);
    });
    this.one('container.mounts', 'string', 'mounts, source:dest:mode:rdwr:propagation, comma-separated', C((c) =>
      c.mounts?.map((m) => `${m.source}:${m.dest}:${m.mode ?? ''}:${m.rdwr ? 'true' : 'false'}:${m.propagation ?? ''}`).join(',')));
    const mount = (name: string, by: 'source' | 'dest', render: (m: NonNullable<RuleContainer['mounts']>[number]) => string): void => {
      this.withArg(name, 'string', 'required', `a mount by number or by ${by} (a glob)`, (a) => {
        const idx = /^\d+$/.test(a!) ? Number(a) : -1;
        const re = idx < 0 ? globToRegExp(a!) : undefined;
        return { many: false, type: 'string', extract: C((c) => {
          const m = re ? c.mounts?.find((x) => re.test(x[by])) : c.mounts?.[idx];
          return m ? render(m) : undefined;
        }) };
      });
    };
    mount('container.mount', 'source', (m) => `${m.source}:${m.dest}:${m.mode ?? ''}:${m.rdwr ? 'true' : 'false'}:${m.propagation ?? ''}`);
    mount('container.mount.source', 'dest', (m) => m.source);
    mount('container.mount.dest', 'source', (m) => m.dest);
    mount('container.mount.mode', 'source', (m) => m.mode ?? '');
    mount('container.mount.rdwr', 'source', (m) => (m.rdwr ? 'true' : 'false'));
    mount('container.mount.propagation', 'source', (m) => m.propagation ?? '');
    this.one('k8s.ns.name', 'string', 'Kubernetes namespace (<NA> without Kubernetes metadata)', (ev) => ev.k8s?.nsName);
    this.one('k8s.pod.name', 'string', 'Kubernetes pod name', (ev) => ev.k8s?.podName);
    this.one('k8s.pod.uid', 'string', 'Kubernetes pod UID', (ev) => ev.k8s?.podUid);
    this.one('k8s.pod.id', 'string', 'Kubernetes pod UID', (ev) => ev.k8s?.podUid);
    this.withArg('k8s.pod.label', 'string', 'required', 'a pod label: k8s.pod.label.app or k8s.pod.label[app]', (a) => ({
      many: false, type: 'string', extract: (ev) => ev.k8s?.podLabels?.[a!],
    }));
  }
}

function argHas(flags: ArgValue | undefined, name: string): boolean {
  if (typeof flags === 'string') return flags.split('|').includes(name);
  if (Array.isArray(flags)) return (flags as readonly string[]).includes(name);
  return false;
}

/** "evt.arg.flags" -> ["evt.arg", "flags"]; other names -> [name, undefined]. */
export function splitDotted(name: string): [string, string | undefined] {
  for (const base of DOTTED_ARG_FIELDS) {
    if (name.length > base.length + 1 && name.startsWith(base) && name[base.length] === '.') {
      return [base, name.slice(base.length + 1)];
    }
  }
  return [name, undefined];
}
