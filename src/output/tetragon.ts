// Events as lines, in Tetragon's shapes so tools built for Tetragon read Vigil:
//   json     one object per line, the envelope of Tetragon's export
//            ({"process_exec":{...},"node_name":..,"time":..}), field names as
//            Tetragon's protobuf JSON has them (tetragon/api/v1 Process),
//            plus Vigil's cgroup_id, container_id and tty;
//   compact  `tetra getevents -o compact`: "🚀 process <pid> <binary> <args>",
//            "💥 exit    <pid> <binary> <args> <status|SIGNAL>";
//   table    fixed-width columns under a header line (aligned while streaming).
//
// Event kinds Tetragon does not have are Vigil's own envelopes:
// process_fork {process, parent}, process_exec_failed {process, parent,
// filename, arguments, cwd, ret, error} and file {process, parent, op, path,
// flags, mode, ret, target, syscall}. A file event names its task (pid and
// start time); its process comes from the process cache (lookup).
import os from 'node:os';
import { readFileSync, readlinkSync } from 'node:fs';
import { CAP_DAC_OVERRIDE, capabilityList, capabilityName } from '../kernel/capabilities.js';
import { errnoName } from '../kernel/errno.js';
import { formatTime, rfc3339Nano, type TimeFormat } from '../util/clock.js';
import { colors, type Colors } from './color.js';
import { LOSS_REASON_TEXT, type LossReason } from '../pipeline/loss.js';
import {
  assertNever, type ExecEvent, type ExecFailedEvent, type ExitEvent, type FileEvent, type ForkEvent, type ProcessInfo,
  type SensorEvent,
} from '../sensors/events.js';
import type { ProcessLookup } from '../process/types.js';
import { execId } from '../process/exec-id.js';
import { rawShown } from '../sensors/file-events.js';

export { execId };

export type OutputFormat = 'compact' | 'json' | 'table';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['compact', 'json', 'table'];

/**
 * Tetragon's `arguments`: argv without argv[0] (the binary is its own field),
 * joined by spaces, an argument holding a space put in double quotes.
 */
export function tetragonArguments(args: readonly string[]): string {
  return args.slice(1).map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ');
}

/**
 * A capability's name as Tetragon's CapabilitiesType enum spells it. Tetragon
 * writes DAC_OVERRIDE without its CAP_ prefix; kept so, for tools that match
 * Tetragon's strings ("CAP_63" for bits no one names).
 */
export function tetragonCapabilityName(cap: number): string {
  return cap === CAP_DAC_OVERRIDE ? 'DAC_OVERRIDE' : capabilityName(cap);
}

/** The names of the bits set in a capability mask, lowest first, as Tetragon spells them. */
export function capabilityNames(mask: bigint): string[] {
  const cached = capNameCache.get(mask);
  if (cached) return cached.slice();
  const out = capabilityList(mask, tetragonCapabilityName);
  // A host has a handful of distinct masks (root's full set, none, a few
  // services'): bounded anyway.
  if (capNameCache.size < 256) capNameCache.set(mask, out.slice());
  return out;
}

const capNameCache = new Map<bigint, string[]>();

const NS_KEYS = [
  ['uts', 'uts'], ['ipc', 'ipc'], ['mnt', 'mnt'], ['pid', 'pid'], ['pid_for_children', 'pidForChildren'],
  ['net', 'net'], ['time', 'time'], ['time_for_children', 'timeForChildren'], ['cgroup', 'cgroup'], ['user', 'user'],
] as const;

type HostNamespaces = Partial<Record<(typeof NS_KEYS)[number][0], number>>;

/**
 * The host's namespace inodes, to mark is_host: kthreadd's (pid 2, always in
 * the initial namespaces, and readable where pid 1's are not: a sandbox's
 * init may refuse ptrace-mode reads of /proc/1/ns), else pid 1's.
 */
export function readHostNamespaces(procRoot = '/proc'): HostNamespaces {
  const read = (pid: number): HostNamespaces => {
    const out: HostNamespaces = {};
    for (const [key] of NS_KEYS) {
      try {
        const m = /\[(\d+)\]$/.exec(readlinkSync(`${procRoot}/${pid}/ns/${key}`));
        if (m) out[key] = Number(m[1]);
      } catch {
        // not readable (no such namespace kind, or no permission)
      }
    }
    return out;
  };
  let kthreadd = false;
  try {
    kthreadd = readFileSync(`${procRoot}/2/comm`, 'utf8').trim() === 'kthreadd';
  } catch {
    // no pid 2 here (a pid namespace)
  }
  const fromKthreadd = kthreadd ? read(2) : {};
  return fromKthreadd.mnt !== undefined ? fromKthreadd : read(1);
}

/** Tetragon's flags words for a process. */
function processFlags(p: ProcessInfo): string {
  const f: string[] = [];
  switch (p.source) {
    case 'exec': f.push('execve'); break;
    case 'fork': f.push('clone'); break;
    case 'iterator': case 'procfs': f.push('procFS'); break;
    default: return assertNever(p.source);
  }
  if (p.cwd === '/') f.push('rootcwd');
  if (p.flags.binaryTruncated) f.push('truncFilename');
  if (p.flags.argsTruncated) f.push('truncArgs');
  if (p.flags.binaryError && p.source !== 'procfs') f.push('errorFilename');
  if (p.flags.argsError && p.source !== 'procfs') f.push('errorArgs');
  if (p.flags.cwdError && p.source !== 'procfs') f.push('errorCWD');
  if (p.flags.cwdTruncated) f.push('errorPathResolutionCwd');
  return f.join(' ');
}

/** A bigint as a JSON number when exact, else as a string (protobuf JSON's uint64 rule). */
function u64(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

export interface TetragonProcess {
  exec_id: string;
  pid: number;
  uid: number;
  cwd: string;
  binary: string;
  arguments: string;
  flags: string;
  start_time: string;
  auid: number;
  parent_exec_id?: string;
  docker?: string;
  cap?: { permitted: string[]; effective: string[]; inheritable: string[] };
  ns?: Record<string, { inum: number; is_host: boolean }>;
  tid: number;
  process_credentials: { uid: number; gid: number; euid: number; egid: number };
  /** Vigil: cgroup v2 id, the container id ("host" outside containers; null when unknown), the controlling tty. */
  cgroup_id: number | string;
  container_id: string | null;
  tty?: string;
}

export interface FormatterOptions {
  /** Node name in envelopes and exec ids. Default os.hostname(). */
  node?: string;
  /** The process cache, for --ancestors. */
  lookup?: ProcessLookup;
  /** Add "ancestors" (beyond the parent) to process events; compact/table: a "⇐ a ⇐ b" tail. */
  ancestors?: boolean;
  /** Namespace inodes of the host (default: read from /proc/1/ns). */
  hostNamespaces?: HostNamespaces;
  /** compact: lines begin with the event's time in this layout ("<time>: ", as hubble observe). Default: no time. */
  timeFormat?: TimeFormat;
  /** compact: colour (escape codes) on. Default off. */
  color?: boolean;
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Control characters made visible: a command line is attacker-chosen text,
 * and a raw newline or terminal escape would forge lines or drive the
 * terminal that shows them.
 */
export function escapeControls(s: string): string {
  return s.replace(CONTROL, (c) => ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function containerId(p: ProcessInfo): string | null {
  if (p.container === undefined) return null;
  return p.container === 'host' ? 'host' : p.container.id;
}

/** Formats events as lines (without the newline). A new event kind must be added here to compile. */
export class TetragonFormatter {
  readonly node: string;
  private readonly host: HostNamespaces;
  private readonly c: Colors;

  constructor(readonly format: OutputFormat, private readonly opts: FormatterOptions = {}) {
    this.node = opts.node ?? os.hostname();
    this.host = opts.hostNamespaces ?? readHostNamespaces();
    this.c = colors(opts.color === true);
  }

  /** The Tetragon process object of p. */
  process(p: ProcessInfo): TetragonProcess {
    const out: TetragonProcess = {
      exec_id: p.execId,
      pid: p.pid,
      uid: p.uid,
      cwd: p.cwd,
      binary: p.binary,
      arguments: tetragonArguments(p.args),
      flags: processFlags(p),
      start_time: rfc3339Nano(p.startTimeNs),
      auid: p.auid,
      parent_exec_id: p.parentExecId,
      tid: p.tid,
      process_credentials: { uid: p.uid, gid: p.gid, euid: p.euid, egid: p.egid },
      cgroup_id: u64(p.cgroupId),
      container_id: containerId(p),
    };
    if (p.container !== undefined && p.container !== 'host') out.docker = p.container.id;
    if (p.caps) {
      out.cap = {
        permitted: capabilityNames(p.caps.permitted),
        effective: capabilityNames(p.caps.effective),
        inheritable: capabilityNames(p.caps.inheritable),
      };
    }
    if (p.ns) {
      const ns: Record<string, { inum: number; is_host: boolean }> = {};
      for (const [key, field] of NS_KEYS) {
        const inum = p.ns[field];
        if (inum) ns[key] = { inum, is_host: this.host[key] === inum };
      }
      out.ns = ns;
    }
    if (p.tty) out.tty = p.tty;
    return out;
  }

  private ancestorsOf(p: ProcessInfo): ProcessInfo[] | undefined {
    if (!this.opts.ancestors || !this.opts.lookup) return undefined;
    // Tetragon's "ancestors": beyond the immediate parent.
    return this.opts.lookup.ancestors(p).slice(1);
  }

  /** The process an event is about: process events carry it; a file event's comes from the cache. */
  processOf(e: SensorEvent): ProcessInfo {
    if (e.kind !== 'file') return e.process;
    const t = e.task;
    // The image at the event's time: a redirect opened before an exec is the shell's.
    const known = this.opts.lookup?.get(t.pid, t.startBootNs, e.bootNs);
    if (known) return known;
    return {
      execId: execId(this.node, t.startBootNs, t.pid), pid: t.pid, tid: t.tid, ppid: 0, parentExecId: undefined,
      parentStartBootNs: undefined, uid: t.uid, gid: t.gid, euid: t.uid, egid: t.gid, auid: 4294967295, comm: t.comm,
      binary: '', args: [], cwd: '', tty: undefined, startBootNs: t.startBootNs, startTimeNs: e.timeNs - (e.bootNs - t.startBootNs),
      execBootNs: t.startBootNs, caps: undefined, ns: undefined, cgroupId: t.cgroupId, cgroupPath: undefined,
      container: undefined, source: 'procfs',
      flags: { binaryTruncated: false, argsTruncated: false, cwdTruncated: false, binaryError: true, argsError: true, cwdError: true },
      exit: undefined, replaced: false,
    };
  }

  private parentOf(e: SensorEvent, p: ProcessInfo): ProcessInfo | undefined {
    return e.kind === 'file' ? this.opts.lookup?.parentOf(p) : e.parent;
  }

  /**
   * The process object as JSON text, serialised once per process image and
   * reused: a busy process makes thousands of file events, and its ~2 KB
   * object (capabilities, namespaces) would otherwise be rebuilt for each.
   * The key holds every field the cache may still fill in after the first
   * event (parent link, container, flags from a later /proc read).
   * Bounded, least recently used first out: kept for every image the process
   * cache holds, the texts outweighed the cache itself several times over on
   * a host spawning thousands of processes (issue 11).
   */
  private processJson(p: ProcessInfo): string {
    const key = `${p.execId}|${p.parentExecId ?? ''}|${containerId(p) ?? ''}|${p.source}|${p.tid}|${p.uid}|${p.cwd}`;
    const hit = this.jsonCache.get(p);
    if (hit && hit.key === key) {
      this.jsonCache.delete(p);
      this.jsonCache.set(p, hit);
      return hit.json;
    }
    const json = JSON.stringify(this.process(p));
    this.jsonCache.delete(p);
    if (this.jsonCache.size >= PROCESS_JSON_CACHE_MAX) this.jsonCache.delete(this.jsonCache.keys().next().value!);
    this.jsonCache.set(p, { key, json });
    return json;
  }

  /** Process texts by image, least recently used first. */
  private readonly jsonCache = new Map<ProcessInfo, { key: string; json: string }>();

  /** `{"<key>":{"process":..,"parent":..,"ancestors":..,<rest>},"node_name":..,"time":..}` */
  private envelope(key: string, e: SensorEvent, p: ProcessInfo, rest: Record<string, unknown> | undefined,
    timeNs: bigint): string {
    let body = `"process":${this.processJson(p)}`;
    const parent = this.parentOf(e, p);
    if (parent) body += `,"parent":${this.processJson(parent)}`;
    const anc = this.ancestorsOf(p);
    if (anc) body += `,"ancestors":[${anc.map((a) => this.processJson(a)).join(',')}]`;
    if (rest) {
      const r = JSON.stringify(rest);
      if (r.length > 2) body += `,${r.slice(1, -1)}`;
    }
    return `{"${key}":{${body}},"node_name":${this.nodeJson},"time":"${rfc3339Nano(timeNs)}"}`;
  }

  private get nodeJson(): string {
    return (this.nodeJsonCached ??= JSON.stringify(this.node));
  }

  private nodeJsonCached: string | undefined;

  json(e: SensorEvent, p: ProcessInfo = this.processOf(e)): string {
    switch (e.kind) {
      case 'exec':
        return this.envelope('process_exec', e, p, undefined, e.timeNs);
      case 'exit':
        // Tetragon: status is the exit status (0 when a signal ended it), signal the signal's name.
        return this.envelope('process_exit', e, p,
          { signal: e.signalName, status: e.status ?? 0, time: rfc3339Nano(e.timeNs) }, e.timeNs);
      case 'fork':
        return this.envelope('process_fork', e, p, undefined, e.timeNs);
      case 'exec_failed':
        return this.envelope('process_exec_failed', e, p, {
          filename: e.filename, arguments: tetragonArguments(e.args), cwd: e.cwd, ret: -e.errno, error: e.error,
        }, e.timeNs);
      case 'file':
        return this.envelope('file', e, p, {
          op: e.op, path: e.path, flags: e.flags, mode: e.mode, ret: e.ret, target: e.target, syscall: e.syscall,
          raw_path: e.rawPath, ...(e.target !== null ? { raw_target: e.rawTarget } : {}),
          ...(e.ino !== null ? { dev: e.dev, ino: e.ino } : {}),
        }, e.timeNs);
      default:
        return assertNever(e);
    }
  }

  private chain(p: ProcessInfo): string {
    const anc = this.opts.ancestors && this.opts.lookup ? this.opts.lookup.ancestors(p) : [];
    return anc.length ? ` ⇐ ${anc.map((a) => `${a.pid} ${a.binary || a.comm}`).join(' ⇐ ')}` : '';
  }

  /**
   * tetra's compact line: "<label> <pid> <binary> <detail>", control
   * characters escaped; coloured (label by kind, failures red) when asked.
   */
  compact(e: SensorEvent, p: ProcessInfo = this.processOf(e)): string {
    const args = tetragonArguments(p.args);
    const bin = p.binary || `[${p.comm}]`;
    const c = this.c;
    const words = (...w: (string | undefined)[]) => escapeControls(w.filter((x) => x !== undefined && x !== '').join(' '));
    let label: string;
    let rest: string;
    switch (e.kind) {
      case 'exec':
        label = c.green('🚀 process');
        rest = words(String(p.pid), bin, args);
        break;
      case 'exit': {
        const failed = e.signalName !== null || e.status !== 0;
        const end = escapeControls(e.signalName ?? String(e.status));
        label = c.yellow('💥 exit   ');
        rest = `${words(String(p.pid), bin, args)} ${failed ? c.red(end) : end}`;
        break;
      }
      case 'fork':
        label = c.blue('🔀 fork   ');
        rest = words(String(p.pid), bin, `(parent ${p.ppid})`);
        break;
      case 'exec_failed':
        label = c.red('❌ exec   ');
        rest = `${words(String(p.pid), e.filename, tetragonArguments(e.args))} ${c.red(escapeControls(e.error))}`;
        break;
      case 'file':
        label = c.cyan(`${e.op === 'open' ? '📬' : '📁'} ${e.op.padEnd(7)}`);
        rest = words(String(p.pid), bin, fileDetail(e));
        if (e.ret < 0) rest = c.red(rest);
        break;
      default:
        return assertNever(e);
    }
    const chain = this.chain(p);
    const line = `${label} ${rest}${chain ? c.dim(escapeControls(chain)) : ''}`;
    const t = this.opts.timeFormat;
    return t === undefined ? line : `${c.dim(formatTime(e.timeNs, t))}: ${line}`;
  }

  /** The table's header line. */
  header(): string {
    return TABLE_COLUMNS.map(([name, width]) => (width ? name.padEnd(width) : name)).join(' ');
  }

  table(e: SensorEvent, p: ProcessInfo = this.processOf(e)): string {
    const time = rfc3339Nano(e.timeNs).slice(11, 23);
    let detail: string;
    switch (e.kind) {
      case 'exec':
        detail = [p.binary, tetragonArguments(p.args)].filter(Boolean).join(' ');
        break;
      case 'exit':
        detail = `${p.binary || `[${p.comm}]`} ${e.signalName ?? `status=${e.status}`}`;
        break;
      case 'fork':
        detail = p.binary || `[${p.comm}]`;
        break;
      case 'exec_failed':
        detail = [e.filename, tetragonArguments(e.args), e.error].filter(Boolean).join(' ');
        break;
      case 'file':
        detail = `${p.binary || `[${p.comm}]`} ${fileDetail(e)}`;
        break;
      default:
        return assertNever(e);
    }
    const c = containerId(p);
    return this.row([time, e.kind === 'file' ? e.op : e.kind, String(p.pid), String(p.ppid), String(p.uid),
      c === null ? '-' : c.slice(0, 12), escapeControls(detail + this.chain(p))]);
  }

  /** One table line from its cells, in the header's columns (TIME EVENT PID PPID UID CONTAINER DETAIL). */
  row(cells: readonly string[]): string {
    return cells.map((v, i) => {
      const w = TABLE_COLUMNS[i]?.[1] ?? 0;
      return w ? v.padEnd(w) : v;
    }).join(' ');
  }

  line(e: SensorEvent): string {
    switch (this.format) {
      case 'json': return this.json(e);
      case 'compact': return this.compact(e);
      case 'table': return this.table(e);
      default: return assertNever(this.format);
    }
  }

  /**
   * A lost-events record in this format: {"lost":{"count":N,"sensor":S,"reason":R}} in json,
   * "⚠️ lost N S events (why)" otherwise. Reasons: src/pipeline/loss.ts.
   */
  lostLine(count: number, sensor: string, timeNs: bigint, reason: LossReason = 'ring_full'): string {
    if (this.format === 'json') {
      return JSON.stringify({ lost: { count, sensor, reason }, node_name: this.node, time: rfc3339Nano(timeNs) });
    }
    return `⚠️ lost ${count} ${sensor} events (${LOSS_REASON_TEXT[reason]})`;
  }
}

/** Process texts kept (~2 KB each): the processes active now, not every one the process cache remembers. */
const PROCESS_JSON_CACHE_MAX = 1024;

/** "<path>[ -> <target>] <FLAGS|...>[ mode=0644] <fd | ERRNO>" */
function fileDetail(e: FileEvent): string {
  const raw = rawShown(e.path, e.rawPath);
  const parts = raw === undefined ? [e.path] : [e.path, `(as ${raw})`];
  if (e.target !== null) parts.push('->', e.target);
  if (e.flags.length) parts.push(e.flags.join('|'));
  if (e.mode !== null) parts.push(`mode=0${e.mode.toString(8)}`);
  parts.push(e.ret < 0 ? errnoName(-e.ret) : String(e.ret));
  return parts.join(' ');
}

/** Column name and width (0: the last, unpadded). */
const TABLE_COLUMNS: readonly (readonly [string, number])[] = [
  ['TIME', 12], ['EVENT', 11], ['PID', 7], ['PPID', 7], ['UID', 6], ['CONTAINER', 12], ['DETAIL', 0],
];
