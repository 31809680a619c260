// Events as lines, in Tetragon's shapes so tools built for Tetragon read Vigil:
//   tetragon strict Tetragon: each line a tetragon.GetEventsResponse as
//            `tetra getevents -o json` writes it (protojson, proto field
//            names, enum names, 64-bit integers as strings), nothing Tetragon's
//            schema (tetragon/api/v1) does not have: docs/outputs.md;
//   json     Vigil's richer shape: the same envelopes and process objects,
//            plus Vigil's cgroup_id, container_id and tty, and Vigil's own
//            event kinds;
//   compact  `tetra getevents -o compact`: "🚀 process <pid> <binary> <args>",
//            "💥 exit    <pid> <binary> <args> <status|SIGNAL>";
//   table    fixed-width columns under a header line (aligned while streaming).
//
// Event kinds Tetragon does not have are Vigil's own envelopes in json:
// process_fork {process, parent}, process_exec_failed {process, parent,
// filename, arguments, cwd, ret, error} and file {process, parent, op, path,
// flags, mode, ret, target, syscall}; in tetragon a file event is a
// process_kprobe as Tetragon's file monitoring reports it, and forks and
// failed execs (which Tetragon does not report) are left out. A file event
// names its task (pid and start time); its process comes from the process
// cache (lookup).
import os from 'node:os';
import { readFileSync, readlinkSync } from 'node:fs';
import { CAP_DAC_OVERRIDE, capabilityList, capabilityName } from '../kernel/capabilities.js';
import { errnoName } from '../kernel/errno.js';
import { formatTime, rfc3339Nano, type TimeFormat } from '../util/clock.js';
import { colors, type Colors } from './color.js';
import type { FieldMask } from './field-mask.js';
import { LOSS_REASON_TEXT, type LossReason } from '../pipeline/loss.js';
import { Fragments, type Line } from '../pipeline/output.js';
import {
  assertNever, type ExecEvent, type ExecFailedEvent, type ExitEvent, type FileEvent, type ForkEvent, type ProcessInfo,
  type SensorEvent,
} from '../sensors/events.js';
import type { Capabilities, Namespaces, ProcessLookup } from '../process/types.js';
import type { CriContainer } from '../process/cri.js';
import type { EngineContainer } from '../process/engine-api.js';
import { execId } from '../process/exec-id.js';
import { FILE_OPS, rawShown } from '../sensors/file-events.js';
import { envelopeEndJson, envelopeExtras, envelopeExtrasJson, nodeName } from '../util/node.js';

export { execId };

export type OutputFormat = 'compact' | 'json' | 'table' | 'tetragon';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['compact', 'json', 'table', 'tetragon'];

/**
 * Tetragon's `arguments`: argv without argv[0] (the binary is its own field),
 * joined by spaces, an argument holding a space put in double quotes.
 */
export function tetragonArguments(args: readonly string[]): string {
  // A process's argv is one array for all its events: joined once.
  let joined = joinedArguments.get(args);
  if (joined === undefined) {
    joined = args.slice(1).map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ');
    joinedArguments.set(args, joined);
  }
  return joined;
}

const joinedArguments = new WeakMap<readonly string[], string>();

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

/**
 * Tetragon's flags words for a process. `clone`: the exec followed a fork
 * (the image before it was the fork's copy), as Tetragon marks an exec that
 * started a new process; an exec that replaced an exec'd image has none.
 */
function processFlags(p: ProcessInfo, cloned: boolean): string {
  const f: string[] = [];
  switch (p.source) {
    case 'exec': f.push('execve'); if (cloned) f.push('clone'); break;
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

/** A bigint as a JSON number when exact, else as a string (Vigil's json). */
/** A number as JSON.stringify writes it (null for NaN and the infinities). */
function num(v: number): string {
  return Number.isFinite(v) ? String(v) : 'null';
}

function u64(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/** Capability names Tetragon's CapabilitiesType enum has (strict: bits it does not name are left out). */
export function knownCapabilityNames(mask: bigint): string[] {
  return capabilityNames(mask).filter((n) => !/^CAP_\d+$/.test(n));
}

/** Tetragon's SecureBitsType names of a securebits word (SECBIT_NOROOT = 1, ...). */
export function secureBitsNames(bits: number): string[] {
  return SECURE_BITS.filter((_, i) => bits & (1 << i));
}

const SECURE_BITS = [
  'SecBitNoRoot', 'SecBitNoRootLocked', 'SecBitNoSetUidFixup', 'SecBitNoSetUidFixupLocked', 'SecBitKeepCaps',
  'SecBitKeepCapsLocked', 'SecBitNoCapAmbientRaise', 'SecBitNoCapAmbientRaiseLocked',
];

export interface TetragonCapabilities { permitted: string[]; effective: string[]; inheritable: string[] }

/** Tetragon's ProcessCredentials: every id, the secure bits, the capability sets, the user namespace. */
export interface TetragonCredentials {
  uid: number; gid: number; euid: number; egid: number;
  suid?: number; sgid?: number; fsuid?: number; fsgid?: number;
  securebits?: string[];
  caps?: TetragonCapabilities;
  user_ns?: { ns: { inum: number; is_host: boolean } };
}

/** Tetragon's BinaryProperties of an exec: the set-user/group-ID it ran with and the privileges it gained. */
export interface TetragonBinaryProperties {
  setuid?: number;
  setgid?: number;
  privileges_changed?: string[];
}

/** Tetragon's Process (tetragon/api/v1 tetragon.proto), as --output tetragon writes it. */
export interface TetragonProcess {
  exec_id: string;
  pid: number;
  /** The effective uid, as Tetragon's (process_credentials has them all). */
  uid: number;
  cwd: string;
  binary: string;
  arguments: string;
  flags: string;
  start_time: string;
  auid: number;
  docker?: string;
  parent_exec_id?: string;
  /** 1 while the process runs, 0 in its exit event (Vigil's cache holds one reference per live process). */
  refcnt: number;
  cap?: TetragonCapabilities;
  ns?: Record<string, { inum: number; is_host: boolean }>;
  tid: number;
  /** With FormatterOptions.processCred (Tetragon's --enable-process-cred). */
  process_credentials?: TetragonCredentials;
  /** Exec events only. */
  binary_properties?: TetragonBinaryProperties;
  /** In a container: whether it descends from its pid namespace's init (false: entered from outside, nsenter, docker exec). */
  in_init_tree?: boolean;
  /** In a Kubernetes pod whose runtime Vigil asks (FormatterOptions.pods). */
  pod?: TetragonPod;
}

/** Tetragon's Pod: the process's Kubernetes pod and container, from the CRI runtime. */
export interface TetragonPod {
  namespace: string;
  name: string;
  container: { id: string; name: string; image: { id: string; name: string } };
  pod_labels: Record<string, string>;
}

/** Vigil's json process: Tetragon's plus the cgroup v2 id, the container id ("host"; null when unknown), the tty. */
export interface VigilProcess extends TetragonProcess {
  cgroup_id: number | string;
  container_id: string | null;
  tty?: string;
  /** A Docker or Podman container's name, image and labels (FormatterOptions.containers), outside Kubernetes pods. */
  container?: VigilContainer;
}

export interface VigilContainer {
  name: string;
  image: string;
  image_id: string;
  labels: Record<string, string>;
  runtime: 'docker' | 'podman';
}

export interface FormatterOptions {
  /** Node name in envelopes and exec ids. Default $NODE_NAME, else os.hostname(). */
  node?: string;
  /** The process cache, for --ancestors. */
  lookup?: ProcessLookup;
  /** Pod and container names by container id (a CRI runtime's, src/process/cri.ts): adds the process's pod. */
  pods?: { lookup(containerId: string): CriContainer | undefined };
  /** Container names by container id from Docker or Podman (src/process/engine-api.ts): adds the process's container. */
  containers?: { lookup(containerId: string): EngineContainer | undefined };
  /** Add "ancestors" (beyond the parent) to process events; compact/table: a "⇐ a ⇐ b" tail. */
  ancestors?: boolean;
  /** Namespace inodes of the host (default: read from /proc/1/ns). */
  hostNamespaces?: HostNamespaces;
  /** compact: lines begin with the event's time in this layout ("<time>: ", as hubble observe). Default: no time. */
  timeFormat?: TimeFormat;
  /** compact: colour (escape codes) on. Default off. */
  color?: boolean;
  /** json and tetragon: only these fields of each event (node_name and time stay). Default: every field. */
  fields?: FieldMask;
  /**
   * Processes carry process_credentials (every uid and gid, securebits, capability sets, user
   * namespace) and cap, as Tetragon's --enable-process-cred adds them. Default off, as Tetragon's:
   * for root the capability names are ~2.7 KB of each event's process and again of its parent.
   */
  processCred?: boolean;
  /** Processes carry ns (their namespaces' inodes), as Tetragon's --enable-process-ns adds it. Default off, as Tetragon's. */
  processNs?: boolean;
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Control characters made visible: a command line is attacker-chosen text,
 * and a raw newline or terminal escape would forge lines or drive the
 * terminal that shows them.
 */
export function escapeControls(s: string): string {
  // Most text has none: a test without the replace's allocation.
  CONTROL.lastIndex = 0;
  if (!CONTROL.test(s)) return s;
  CONTROL.lastIndex = 0;
  return s.replace(CONTROL, (c) => ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** "<pid> <binary>" of a compact line, escaped: the same for every event of one process image. */
const compactHeads = new WeakMap<ProcessInfo, string>();

function compactHead(p: ProcessInfo): string {
  let h = compactHeads.get(p);
  if (h === undefined) {
    h = escapeControls(`${p.pid} ${p.binary || `[${p.comm}]`}`);
    compactHeads.set(p, h);
  }
  return h;
}

/**
 * What a process's text depends on besides the image itself: every field the cache may still fill
 * in after the first event (parent link, container, flags from a later /proc read), the exit, the
 * names of its pod or container, and the field mask it went through. Compared field by field on every event (no key string).
 */
interface ImageState {
  readonly execId: string;
  readonly parentExecId: string | undefined;
  readonly container: string | null;
  readonly source: ProcessInfo['source'];
  readonly tid: number;
  readonly euid: number;
  readonly cwd: string;
  readonly exited: boolean;
  /** What names its container so far: 'pod', 'container' (Docker, Podman) or ''. */
  readonly named: string;
  readonly mask: FieldMask | undefined;
}

/**
 * A text that many process texts hold the same (a capability set's names, ~1.4 KB for root, or a
 * namespace set's object): its string, and its UTF-8 bytes made once, which a line written as bytes
 * takes as they are instead of encoding them again for every process.
 */
export interface SharedText {
  readonly text: string;
  readonly bytes: Buffer;
}

/** A process text in pieces: its own text, and the shared texts spliced in. */
export type TextPiece = string | SharedText;

function sharedText(text: string): SharedText {
  // A buffer of its own, not a slice of Node's pool that this long-kept text would pin.
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  bytes.write(text);
  return { text, bytes };
}

/** The pieces as one string. */
export function joinPieces(parts: readonly TextPiece[]): string {
  let s = '';
  for (const p of parts) s += typeof p === 'string' ? p : p.text;
  return s;
}

interface CachedText extends ImageState {
  parts: readonly TextPiece[];
  /** The pieces joined, made the first time a string is asked for. */
  json?: string;
  used?: boolean;
  bytes?: Buffer;
  /** The cache's clock when the entry last moved to the recent end. */
  moved: number;
}

function sameImage(c: ImageState, p: ProcessInfo, exited: boolean, named: string, mask: FieldMask | undefined): boolean {
  return c.execId === p.execId && c.parentExecId === p.parentExecId && c.container === containerId(p) &&
    c.source === p.source && c.tid === p.tid && c.euid === p.euid && c.cwd === p.cwd && c.exited === exited &&
    c.named === named && c.mask === mask;
}

/**
 * Process texts by image, least recently used out first. A hit moves its entry to the recent end
 * only when it has not moved in the last TOUCH_SLACK uses: a storm of one process's events then
 * costs a lookup, not a delete and an insert each. An entry that skipped its move is still among the
 * last TOUCH_SLACK + 1 moved, far from the old end of a cache of PROCESS_JSON_CACHE_MAX.
 */
/** A cached process's text as one string. */
function textOf(c: CachedText): string {
  return (c.json ??= c.parts.length === 1 && typeof c.parts[0] === 'string' ? c.parts[0] : joinPieces(c.parts));
}

class TextCache {
  private readonly map = new Map<ProcessInfo, CachedText>();
  private clock = 0;

  /** p's entry for this state, made by `make` when missing or stale. */
  get(p: ProcessInfo, exited: boolean, named: string, mask: FieldMask | undefined, make: () => readonly TextPiece[]): CachedText {
    const now = ++this.clock;
    const hit = this.map.get(p);
    if (hit && sameImage(hit, p, exited, named, mask)) {
      if (now - hit.moved > TOUCH_SLACK) {
        this.map.delete(p);
        this.map.set(p, hit);
        hit.moved = now;
      }
      return hit;
    }
    const entry: CachedText = {
      execId: p.execId, parentExecId: p.parentExecId, container: containerId(p), source: p.source, tid: p.tid,
      euid: p.euid, cwd: p.cwd, exited, named, mask, parts: make(), moved: now,
    };
    if (hit) this.map.delete(p);
    else if (this.map.size >= PROCESS_JSON_CACHE_MAX) this.map.delete(this.map.keys().next().value!);
    this.map.set(p, entry);
    return entry;
  }
}

const TOUCH_SLACK = 64;

/** Tetragon's Pod of a CRI container (a sandbox's process: the pod, with its sandbox as the container). */
export function tetragonPod(m: CriContainer): TetragonPod {
  return {
    namespace: m.pod.namespace, name: m.pod.name,
    container: { id: m.id, name: m.name, image: { id: m.imageRef, name: m.image } },
    pod_labels: { ...m.pod.labels },
  };
}

function containerId(p: ProcessInfo): string | null {
  if (p.container === undefined) return null;
  return p.container === 'host' ? 'host' : p.container.id;
}

/** A process's pid in its own pid namespace (the last NSpid of /proc/PID/status); undefined when gone. */
function nsPid(pid: number): number | undefined {
  try {
    const m = /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const last = m?.[1]?.trim().split(/\s+/).pop();
    return last === undefined ? undefined : Number(last);
  } catch {
    return undefined;
  }
}

/** Formats events as lines (without the newline). A new event kind must be added here to compile. */
export class TetragonFormatter {
  readonly node: string;
  private readonly host: HostNamespaces;
  private readonly c: Colors;

  constructor(readonly format: OutputFormat, private readonly opts: FormatterOptions = {}) {
    this.node = opts.node ?? nodeName();
    this.host = opts.hostNamespaces ?? readHostNamespaces();
    this.c = colors(opts.color === true);
  }

  /** The process object of p in this formatter's shape: Tetragon's (tetragon), or Tetragon's plus Vigil's fields. */
  process(p: ProcessInfo, exited = false): TetragonProcess | VigilProcess {
    return this.format === 'tetragon' ? this.tetragonProcess(p, exited) : this.vigilProcess(p, exited);
  }

  /** Tetragon's Process of p (exited: as its exit event shows it): only fields of its schema. */
  tetragonProcess(p: ProcessInfo, exited = false): TetragonProcess {
    const strict = this.format === 'tetragon';
    const caps = (m: bigint): string[] => (strict ? knownCapabilityNames(m) : capabilityNames(m));
    const cap = this.opts.processCred && p.caps
      ? { permitted: caps(p.caps.permitted), effective: caps(p.caps.effective), inheritable: caps(p.caps.inheritable) }
      : undefined;
    const out: TetragonProcess = {
      exec_id: p.execId,
      pid: p.pid,
      uid: p.euid,
      cwd: p.cwd,
      binary: p.binary,
      arguments: tetragonArguments(p.args),
      flags: processFlags(p, this.cloned(p)),
      start_time: rfc3339Nano(p.startTimeNs),
      auid: p.auid,
      parent_exec_id: p.parentExecId,
      // At the event's time, not the cache's now: an exec formatted after the exit was read still ran.
      refcnt: exited ? 0 : 1,
      tid: p.tid,
    };
    if (this.opts.processCred) {
      const cred: TetragonCredentials = { uid: p.uid, gid: p.gid, euid: p.euid, egid: p.egid };
      if (p.suid !== undefined) Object.assign(cred, { suid: p.suid, sgid: p.sgid, fsuid: p.fsuid, fsgid: p.fsgid });
      if (p.securebits !== undefined) cred.securebits = secureBitsNames(p.securebits);
      if (cap) cred.caps = cap;
      if (p.ns?.user) cred.user_ns = { ns: { inum: p.ns.user, is_host: this.host.user === p.ns.user } };
      out.process_credentials = cred;
    }
    // Tetragon's docker: the first 15 digits of the container id.
    if (p.container !== undefined && p.container !== 'host') out.docker = strict ? p.container.id.slice(0, 15) : p.container.id;
    const pod = this.podOf(p);
    if (pod) out.pod = tetragonPod(pod);
    if (cap) out.cap = cap;
    if (this.opts.processNs && p.ns) {
      const ns: Record<string, { inum: number; is_host: boolean }> = {};
      for (const [key, field] of NS_KEYS) {
        const inum = p.ns[field];
        if (inum) ns[key] = { inum, is_host: this.host[key] === inum };
      }
      out.ns = ns;
    }
    const init = this.inInitTree(p);
    if (init !== undefined) out.in_init_tree = init;
    return out;
  }

  /** The process's pod and container from the CRI runtime (FormatterOptions.pods), when it is in one. */
  podOf(p: ProcessInfo): CriContainer | undefined {
    if (!this.opts.pods || p.container === undefined || p.container === 'host') return undefined;
    return this.opts.pods.lookup(p.container.id);
  }

  /** A Docker or Podman container's names (FormatterOptions.containers), when the process is in one. */
  engineContainerOf(p: ProcessInfo): EngineContainer | undefined {
    if (!this.opts.containers || p.container === undefined || p.container === 'host') return undefined;
    return this.opts.containers.lookup(p.container.id);
  }

  /** What names p's container so far (its text changes once a runtime's listing names it). */
  private namedBy(p: ProcessInfo): string {
    return this.podOf(p) ? 'pod' : this.engineContainerOf(p) ? 'container' : '';
  }

  /** Vigil's json process: Tetragon's plus cgroup_id, container_id, tty and a Docker or Podman container's names. */
  vigilProcess(p: ProcessInfo, exited = false): VigilProcess {
    const out: VigilProcess = { ...this.tetragonProcess(p, exited), cgroup_id: u64(p.cgroupId), container_id: containerId(p) };
    if (p.tty) out.tty = p.tty;
    const c = out.pod ? undefined : this.engineContainerOf(p);
    if (c) out.container = { name: c.name, image: c.image, image_id: c.imageId, labels: { ...c.labels }, runtime: c.runtime };
    return out;
  }

  /** The image p's exec replaced (undefined: not an exec image, or not known). */
  private before(p: ProcessInfo): ProcessInfo | undefined {
    if (p.source !== 'exec' || !this.opts.lookup) return undefined;
    const prev = this.opts.lookup.get(p.pid, p.startBootNs, p.execBootNs - 1n);
    return prev && prev !== p && prev.execBootNs < p.execBootNs ? prev : undefined;
  }

  /** Whether p's exec followed a fork (Tetragon's `clone`): the image before it was the fork's copy. */
  private cloned(p: ProcessInfo): boolean {
    return this.before(p)?.source === 'fork';
  }

  /**
   * Tetragon's BinaryProperties of an exec, from the credentials' change
   * across it: the effective uid or gid a set-user/group-ID binary gave, and
   * the privileges raised (to root by set-ID, or capabilities gained by file
   * capabilities). Undefined when the exec changed none, or the image before
   * it is not known.
   */
  binaryProperties(p: ProcessInfo): TetragonBinaryProperties | undefined {
    const prev = this.before(p);
    if (!prev) return undefined;
    const out: TetragonBinaryProperties = {};
    const raised: string[] = [];
    if (p.euid !== prev.euid) {
      out.setuid = p.euid;
      if (p.euid === 0) raised.push('PRIVILEGES_RAISED_EXEC_FILE_SETUID');
    }
    if (p.egid !== prev.egid) {
      out.setgid = p.egid;
      if (p.egid === 0) raised.push('PRIVILEGES_RAISED_EXEC_FILE_SETGID');
    }
    if (p.caps && prev.caps && p.euid !== 0 && (p.caps.permitted & ~prev.caps.permitted) !== 0n) {
      raised.unshift('PRIVILEGES_RAISED_EXEC_FILE_CAP');
    }
    if (raised.length) out.privileges_changed = raised;
    return Object.keys(out).length ? out : undefined;
  }

  /**
   * Tetragon's in_init_tree: false outside containers (the host's pid
   * namespace); in one, whether the process descends from the namespace's
   * init (pid 1 there) rather than from a process that entered from outside
   * (nsenter, docker exec). Undefined when that cannot be told.
   */
  private inInitTree(p: ProcessInfo): boolean | undefined {
    if (!p.ns || this.host.pid === undefined) return undefined;
    if (p.ns.pid === this.host.pid) return false;
    if (!this.opts.lookup) return undefined;
    let top = p;
    for (const a of this.opts.lookup.ancestors(p)) {
      if (a.ns?.pid !== p.ns.pid) break;
      top = a;
    }
    const inner = nsPid(top.pid);
    return inner === undefined ? undefined : inner === 1;
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
    // In the cgroup the kernel saw at the event.
    if (known) return this.opts.lookup?.inCgroup?.(known, t.cgroupId) ?? known;
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
  private processJson(p: ProcessInfo, exited = false): string {
    return textOf(this.cachedProcess(p, exited));
  }

  private cachedProcess(p: ProcessInfo, exited: boolean): CachedText {
    return this.jsonCache.get(p, exited, this.namedBy(p), undefined, () => this.processPieces(p, exited));
  }

  /**
   * JSON.stringify(this.process(p, exited)), the same text, written without building the object:
   * an exec's process is new and is serialised once, and its capability sets (~3 KB of names for
   * root) and namespaces are the same objects for most processes (the cache interns them), so
   * their texts are made once per set and spliced in. test/output-tetragon.test.ts holds the two
   * equal over every optional field.
   */
  processText(p: ProcessInfo, exited = false): string {
    return joinPieces(this.processPieces(p, exited));
  }

  /**
   * processText's text in pieces: the process's own text, with its capability sets and namespaces
   * (the same objects for most processes: the cache interns them) as shared texts between. A line
   * written as bytes takes the shared ones as bytes made once: an exec's new process costs the
   * encoding of its own ~600 bytes, not of ~3.7 KB.
   */
  processPieces(p: ProcessInfo, exited = false): TextPiece[] {
    const strict = this.format === 'tetragon';
    const out: TextPiece[] = [];
    let s = `{"exec_id":${JSON.stringify(p.execId)},"pid":${num(p.pid)},"uid":${num(p.euid)},"cwd":${JSON.stringify(p.cwd)}`
      + `,"binary":${JSON.stringify(p.binary)},"arguments":${JSON.stringify(tetragonArguments(p.args))}`
      + `,"flags":${JSON.stringify(processFlags(p, this.cloned(p)))},"start_time":"${rfc3339Nano(p.startTimeNs)}","auid":${num(p.auid)}`;
    if (p.parentExecId !== undefined) s += `,"parent_exec_id":${JSON.stringify(p.parentExecId)}`;
    s += `,"refcnt":${exited ? 0 : 1},"tid":${num(p.tid)}`;
    const caps = this.opts.processCred && p.caps ? this.capsText(p.caps) : undefined;
    if (this.opts.processCred) {
      s += `,"process_credentials":{"uid":${num(p.uid)},"gid":${num(p.gid)},"euid":${num(p.euid)},"egid":${num(p.egid)}`;
      if (p.suid !== undefined) {
        s += `,"suid":${num(p.suid)}`;
        if (p.sgid !== undefined) s += `,"sgid":${num(p.sgid)}`;
        if (p.fsuid !== undefined) s += `,"fsuid":${num(p.fsuid)}`;
        if (p.fsgid !== undefined) s += `,"fsgid":${num(p.fsgid)}`;
      }
      if (p.securebits !== undefined) s += `,"securebits":${p.securebits === 0 ? '[]' : JSON.stringify(secureBitsNames(p.securebits))}`;
      if (caps) {
        out.push(`${s},"caps":`, caps);
        s = '';
      }
      if (p.ns?.user) s += `,"user_ns":{"ns":{"inum":${num(p.ns.user)},"is_host":${this.host.user === p.ns.user}}}`;
      s += '}';
    }
    if (p.container !== undefined && p.container !== 'host') {
      s += `,"docker":${JSON.stringify(strict ? p.container.id.slice(0, 15) : p.container.id)}`;
    }
    const pod = this.podOf(p);
    if (pod) s += `,"pod":${JSON.stringify(tetragonPod(pod))}`;
    if (caps) {
      out.push(`${s},"cap":`, caps);
      s = '';
    }
    if (this.opts.processNs && p.ns) {
      out.push(`${s},"ns":`, this.nsText(p.ns));
      s = '';
    }
    const init = this.inInitTree(p);
    if (init !== undefined) s += `,"in_init_tree":${init}`;
    if (!strict) {
      s += `,"cgroup_id":${JSON.stringify(u64(p.cgroupId))},"container_id":${JSON.stringify(containerId(p))}`;
      if (p.tty) s += `,"tty":${JSON.stringify(p.tty)}`;
      const c = pod ? undefined : this.engineContainerOf(p);
      if (c) s += `,"container":${JSON.stringify({ name: c.name, image: c.image, image_id: c.imageId, labels: c.labels, runtime: c.runtime })}`;
    }
    out.push(`${s}}`);
    return out;
  }

  /** `{"permitted":[..],"effective":[..],"inheritable":[..]}` of a capability set, made once per (interned) set. */
  private capsText(c: Capabilities): SharedText {
    let t = this.capsTexts.get(c);
    if (t === undefined) {
      const names = (m: bigint): string[] => (this.format === 'tetragon' ? knownCapabilityNames(m) : capabilityNames(m));
      t = sharedText(JSON.stringify({ permitted: names(c.permitted), effective: names(c.effective), inheritable: names(c.inheritable) }));
      this.capsTexts.set(c, t);
    }
    return t;
  }

  private readonly capsTexts = new WeakMap<Capabilities, SharedText>();

  /** Tetragon's ns object of a namespace set, made once per (interned) set. */
  private nsText(n: Namespaces): SharedText {
    let t = this.nsTexts.get(n);
    if (t === undefined) {
      const ns: Record<string, { inum: number; is_host: boolean }> = {};
      for (const [key, field] of NS_KEYS) {
        const inum = n[field];
        if (inum) ns[key] = { inum, is_host: this.host[key] === inum };
      }
      t = sharedText(JSON.stringify(ns));
      this.nsTexts.set(n, t);
    }
    return t;
  }

  private readonly nsTexts = new WeakMap<Namespaces, SharedText>();

  /** Process texts by image, least recently used first. */
  private readonly jsonCache = new TextCache();

  /**
   * A process's object through a field mask, as JSON text; kept per image like processJson's
   * (a file event's process is the same for thousands of events), unless it carries the exec's
   * binary_properties.
   */
  private maskedProcessJson(p: ProcessInfo, exited: boolean, mask: FieldMask, bin?: TetragonBinaryProperties): string {
    if (bin) return JSON.stringify(mask.apply({ ...this.process(p, exited), binary_properties: bin }));
    return textOf(this.maskedCache.get(p, exited, this.namedBy(p), mask, () => [JSON.stringify(mask.apply(this.process(p, exited)))]));
  }

  private readonly maskedCache = new TextCache();

  /** `{"<key>":{<masked body>},"node_name":..,"time":..}`: envelope() with --fields. */
  private maskedEnvelope(mask: FieldMask, key: string, e: SensorEvent, p: ProcessInfo, members: EnvelopeRest,
    timeNs: bigint): string {
    // Members given as text (callers pass objects with a mask) are masked as the object they spell.
    const rest = members instanceof MaskedMembers ? undefined
      : typeof members === 'string' ? (members ? JSON.parse(`{${members.slice(1)}}`) as Record<string, unknown> : undefined)
        : members;
    const parts: string[] = [];
    const exited = e.kind === 'exit';
    const proc = mask.field('process');
    if (proc === true) parts.push(`"process":${this.envelopeProcess(e, p)}`);
    else if (proc) parts.push(`"process":${this.maskedProcessJson(p, exited, proc, e.kind === 'exec' ? this.binaryProperties(p) : undefined)}`);
    const par = mask.field('parent');
    const parent = par ? this.parentOf(e, p) : undefined;
    if (parent) parts.push(`"parent":${par === true ? this.processJson(parent) : this.maskedProcessJson(parent, false, par as FieldMask)}`);
    const anc = mask.field('ancestors');
    const ancestors = anc ? this.ancestorsOf(p) : undefined;
    if (ancestors) {
      parts.push(`"ancestors":[${ancestors.map((a) => (anc === true ? this.processJson(a) : this.maskedProcessJson(a, false, anc as FieldMask))).join(',')}]`);
    }
    if (members instanceof MaskedMembers) {
      if (members.text) parts.push(members.text);
    } else if (rest) {
      const r = JSON.stringify(mask.apply(rest));
      if (r.length > 2) parts.push(r.slice(1, -1));
    }
    return `{"${key}":{${parts.join(',')}},"node_name":${this.nodeJson},"time":"${rfc3339Nano(timeNs)}"${envelopeExtrasJson()}}`;
  }

  /** The event's process as JSON text, with the exec's binary_properties. */
  private envelopeProcess(e: SensorEvent, p: ProcessInfo): string {
    const proc = this.processJson(p, e.kind === 'exit');
    // Tetragon: binary_properties only in exec events (the process text is shared by every event).
    const bin = e.kind === 'exec' ? this.binaryProperties(p) : undefined;
    return bin ? `${proc.slice(0, -1)},"binary_properties":${JSON.stringify(bin)}}` : proc;
  }

  /**
   * `{"<key>":{"process":..,"parent":..,"ancestors":..,<rest>},"node_name":..,"time":..}`; with
   * `fragments`, as Fragments whose process texts are the cached UTF-8 bytes (written as they are).
   */
  private envelope(key: string, e: SensorEvent, p: ProcessInfo, rest: EnvelopeRest,
    timeNs: bigint): string;
  private envelope(key: string, e: SensorEvent, p: ProcessInfo, rest: EnvelopeRest,
    timeNs: bigint, fragments: boolean): Line;
  private envelope(key: string, e: SensorEvent, p: ProcessInfo, rest: EnvelopeRest,
    timeNs: bigint, fragments = false): Line {
    if (this.opts.fields) return this.maskedEnvelope(this.opts.fields, key, e, p, rest, timeNs);
    const parent = this.parentOf(e, p);
    const anc = this.ancestorsOf(p);
    let tail = '';
    if (typeof rest === 'string') {
      tail = rest;
    } else if (rest) {
      const r = JSON.stringify(rest);
      if (r.length > 2) tail = `,${r.slice(1, -1)}`;
    }
    const bin = e.kind === 'exec' ? this.binaryProperties(p) : undefined;
    if (fragments && !bin) {
      const parts: (string | Buffer)[] = [envelopeHead(key)];
      this.pushProcess(parts, p, e.kind === 'exit');
      if (parent) {
        parts.push(',"parent":');
        this.pushProcess(parts, parent, false);
      }
      if (anc) {
        parts.push(',"ancestors":[');
        anc.forEach((a, i) => {
          if (i) parts.push(',');
          this.pushProcess(parts, a, false);
        });
        parts.push(']');
      }
      // The members and the time as pieces of their own: no text made per event by joining them.
      if (tail) parts.push(tail);
      parts.push(this.timeHead, rfc3339Nano(timeNs), envelopeEndJson());
      return new Fragments(parts);
    }
    tail += `${this.timeHead}${rfc3339Nano(timeNs)}${envelopeEndJson()}`;
    let body = `"process":${this.envelopeProcess(e, p)}`;
    if (parent) body += `,"parent":${this.processJson(parent)}`;
    if (anc) body += `,"ancestors":[${anc.map((a) => this.processJson(a)).join(',')}]`;
    return `{"${key}":{${body}${tail}`;
  }

  /**
   * A process's JSON for a Fragments line, pushed onto its parts: the first time its pieces (its
   * own text, and the shared texts' bytes), then UTF-8 bytes made once (in a buffer of their own,
   * not a slice of Node's shared pool that a long-kept slice would pin) and shared by its later
   * events. A process seen once (an exec of a short-lived one) costs no copy of its own.
   */
  private pushProcess(parts: (string | Buffer)[], p: ProcessInfo, exited: boolean): void {
    const hit = this.cachedProcess(p, exited);
    if (hit.bytes) {
      parts.push(hit.bytes);
      return;
    }
    if (!hit.used) {
      hit.used = true;
      for (const piece of hit.parts) parts.push(typeof piece === 'string' ? piece : piece.bytes);
      return;
    }
    let size = 0;
    for (const piece of hit.parts) size += typeof piece === 'string' ? Buffer.byteLength(piece) : piece.bytes.length;
    const bytes = Buffer.allocUnsafeSlow(size);
    let at = 0;
    for (const piece of hit.parts) at += typeof piece === 'string' ? bytes.write(piece, at) : piece.bytes.copy(bytes, at);
    hit.bytes = bytes;
    parts.push(bytes);
  }

  /** What comes between an envelope's members and its time: `},"node_name":..,"time":"`. */
  private get timeHead(): string {
    return (this.timeHeadCached ??= `},"node_name":${this.nodeJson},"time":"`);
  }

  private timeHeadCached: string | undefined;

  private get nodeJson(): string {
    return (this.nodeJsonCached ??= JSON.stringify(this.node));
  }

  private nodeJsonCached: string | undefined;

  json(e: SensorEvent, p?: ProcessInfo): string;
  json(e: SensorEvent, p: ProcessInfo | undefined, fragments: boolean): Line;
  json(e: SensorEvent, p: ProcessInfo = this.processOf(e), fragments = false): Line {
    switch (e.kind) {
      case 'exec':
        return this.envelope('process_exec', e, p, undefined, e.timeNs, fragments);
      case 'exit':
        // Tetragon: status is the exit status (0 when a signal ended it), signal the signal's name.
        return this.envelope('process_exit', e, p,
          { signal: e.signalName, status: e.status ?? 0, time: rfc3339Nano(e.timeNs) }, e.timeNs, fragments);
      case 'fork':
        return this.envelope('process_fork', e, p, undefined, e.timeNs, fragments);
      case 'exec_failed':
        return this.envelope('process_exec_failed', e, p, {
          filename: e.filename, arguments: tetragonArguments(e.args), cwd: e.cwd, ret: -e.errno, error: e.error,
        }, e.timeNs, fragments);
      case 'file':
        // Through a field mask the members masked; otherwise their text, made directly.
        return this.envelope('file', e, p, this.opts.fields ? maskedFileMembers(e, this.opts.fields) : fileMembers(e), e.timeNs, fragments);
      default:
        return assertNever(e);
    }
  }

  /**
   * The strict Tetragon line (a tetragon.GetEventsResponse), or undefined for
   * kinds Tetragon does not report (forks, failed execs). A file event is a
   * process_kprobe as Tetragon's file monitoring writes it: the syscall as
   * function_name, the file as file_arg (path_arg for a name the call did not
   * open), the second name of rename/link/symlink and the mode as further
   * arguments, the result as return, action KPROBE_ACTION_POST.
   */
  tetragon(e: SensorEvent, p?: ProcessInfo): string | undefined;
  tetragon(e: SensorEvent, p: ProcessInfo | undefined, fragments: boolean): Line | undefined;
  tetragon(e: SensorEvent, p: ProcessInfo = this.processOf(e), fragments = false): Line | undefined {
    switch (e.kind) {
      case 'exec':
        return this.envelope('process_exec', e, p, undefined, e.timeNs, fragments);
      case 'exit': {
        const rest: Record<string, unknown> = { status: e.status ?? 0, time: rfc3339Nano(e.timeNs) };
        if (e.signalName !== null) rest.signal = e.signalName;
        return this.envelope('process_exit', e, p, rest, e.timeNs, fragments);
      }
      case 'fork': case 'exec_failed':
        return undefined;
      case 'file':
        return this.envelope('process_kprobe', e, p, fileKprobe(e), e.timeNs, fragments);
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
        label = c.cyan(FILE_LABELS[e.op] ?? `📁 ${e.op.padEnd(7)}`);
        rest = `${compactHead(p)} ${escapedFileDetail(e)}`;
        if (e.ret < 0) rest = c.red(rest);
        break;
      default:
        return assertNever(e);
    }
    const chain = this.chain(p);
    const pod = this.podOf(p);
    if (pod) rest += c.dim(escapeControls(` [${pod.pod.namespace}/${pod.pod.name}${pod.name ? `/${pod.name}` : ''}]`));
    else {
      const ec = this.engineContainerOf(p);
      if (ec) rest += c.dim(escapeControls(` [${ec.runtime}:${ec.name}]`));
    }
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

  /**
   * The event's line for an output that writes bytes: json and tetragon lines as Fragments whose
   * process texts are the cached UTF-8 bytes (not copied into a new string for every event).
   */
  encode(e: SensorEvent): Line | undefined {
    if (this.format === 'json') return this.json(e, undefined, true);
    if (this.format === 'tetragon') return this.tetragon(e, undefined, true);
    return this.line(e);
  }

  /** The event's line in this format; undefined: the format has no shape for its kind (tetragon: forks, failed execs). */
  line(e: SensorEvent): string | undefined {
    switch (this.format) {
      case 'tetragon': return this.tetragon(e);
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
    if (this.format === 'tetragon') return tetragonLostLine(count, this.node, timeNs);
    if (this.format === 'json') {
      return JSON.stringify({ lost: { count, sensor, reason }, node_name: this.node, time: rfc3339Nano(timeNs), ...envelopeExtras() });
    }
    return `⚠️ lost ${count} ${sensor} events (${LOSS_REASON_TEXT[reason]})`;
  }
}

/**
 * A loss in Tetragon's strict shape: rate_limit_info, the one loss record its
 * schema has (the sensor and reason go to stderr).
 */
export function tetragonLostLine(count: number, node: string, timeNs: bigint): string {
  return JSON.stringify({ rate_limit_info: { number_of_dropped_process_events: String(count) }, node_name: node, time: rfc3339Nano(timeNs), ...envelopeExtras() });
}

/** Process texts kept (~2 KB each): the processes active now, not every one the process cache remembers. */
const PROCESS_JSON_CACHE_MAX = 1024;

/** The syscall's kernel entry, as Tetragon names a syscall kprobe (__x64_sys_openat). */
export function syscallFunction(name: string): string {
  return `${SYSCALL_PREFIX}${name}`;
}

const SYSCALL_PREFIX = process.arch === 'arm64' ? '__arm64_sys_' : process.arch === 'x64' ? '__x64_sys_' : 'sys_';

/**
 * The members an envelope adds after process and parent: an object (JSON.stringify'd, or masked
 * with --fields), their JSON text already made (",\"op\":..."; "" for none), or their text already
 * masked.
 */
type EnvelopeRest = Record<string, unknown> | string | MaskedMembers | undefined;

/** Members already through the field mask: their text between the braces, '' when the mask keeps none. */
class MaskedMembers {
  constructor(readonly text: string) {}
}

const envelopeHeads = new Map<string, string>();

/** `{"<key>":{"process":`, made once per key. */
function envelopeHead(key: string): string {
  let h = envelopeHeads.get(key);
  if (h === undefined) envelopeHeads.set(key, h = `{"${key}":{"process":`);
  return h;
}

/** json's file members, as an object (for a field mask). */
export function fileObject(e: FileEvent): Record<string, unknown> {
  return {
    op: e.op, path: e.path, flags: e.flags, mode: e.mode, ret: e.ret, target: e.target, syscall: e.syscall,
    raw_path: e.rawPath, ...(e.target !== null ? { raw_target: e.rawTarget } : {}),
    ...(e.ino !== null ? { dev: e.dev, ino: e.ino } : {}),
  };
}

/**
 * json's file members as text: what `JSON.stringify(fileObject(e))` writes between its braces
 * (after a comma), made without the object (the open storm makes one per open). op and syscall
 * are names from fixed tables (nothing to escape); numbers print as JSON prints them.
 */
export function fileMembers(e: FileEvent): string {
  const m = lastMembers;
  // A storm repeats the same call on the same file: the last event's text again when every member is the same.
  if (m !== undefined && sameMembers(m, e)) return m.text;
  let s = `,"op":"${e.op}","path":${JSON.stringify(e.path)},"flags":${flagsJson(e.flags)},"mode":${e.mode},` +
    `"ret":${e.ret},"target":${e.target === null ? 'null' : JSON.stringify(e.target)},"syscall":"${e.syscall}",` +
    `"raw_path":${JSON.stringify(e.rawPath)}`;
  if (e.target !== null) s += `,"raw_target":${JSON.stringify(e.rawTarget)}`;
  if (e.ino !== null) s += `,"dev":${e.dev},"ino":${e.ino}`;
  lastMembers = { ...memberFields(e), text: s };
  return s;
}

type MemberFields = 'op' | 'path' | 'flags' | 'mode' | 'ret' | 'target' | 'syscall' | 'rawPath' | 'rawTarget' | 'dev' | 'ino';
let lastMembers: (Pick<FileEvent, MemberFields> & { text: string }) | undefined;
let lastMasked: (Pick<FileEvent, MemberFields> & { mask: FieldMask; members: MaskedMembers }) | undefined;

function memberFields(e: FileEvent): Pick<FileEvent, MemberFields> {
  return {
    op: e.op, path: e.path, flags: e.flags, mode: e.mode, ret: e.ret, target: e.target, syscall: e.syscall, rawPath: e.rawPath,
    rawTarget: e.rawTarget, dev: e.dev, ino: e.ino,
  };
}

function sameMembers(m: Pick<FileEvent, MemberFields>, e: FileEvent): boolean {
  return m.op === e.op && m.path === e.path && m.flags === e.flags && m.mode === e.mode && m.ret === e.ret
    && m.target === e.target && m.syscall === e.syscall && m.rawPath === e.rawPath && m.rawTarget === e.rawTarget
    && m.dev === e.dev && m.ino === e.ino;
}

/**
 * The file members through a field mask (JSON.stringify(mask.apply(fileObject(e))) between its
 * braces), the last event's again when its members and the mask are the same, as fileMembers.
 */
function maskedFileMembers(e: FileEvent, mask: FieldMask): MaskedMembers {
  const m = lastMasked;
  if (m !== undefined && m.mask === mask && sameMembers(m, e)) return m.members;
  const r = JSON.stringify(mask.apply(fileObject(e)));
  const members = new MaskedMembers(r.slice(1, -1));
  lastMasked = { ...memberFields(e), mask, members };
  return members;
}

/** A flag list's JSON, once per list (the file sensor shares one frozen list per flag word). */
function flagsJson(flags: readonly string[]): string {
  let j = flagTexts.get(flags);
  if (j === undefined) {
    j = JSON.stringify(flags);
    if (Object.isFrozen(flags)) flagTexts.set(flags, j);
  }
  return j;
}

const flagTexts = new WeakMap<readonly string[], string>();

/** A file event's process_kprobe body (beside process and parent). */
function fileKprobe(e: FileEvent): Record<string, unknown> {
  const file: Record<string, unknown> = { path: e.path };
  if (e.flags.length) file.flags = e.flags.join('|');
  const args: Record<string, unknown>[] = [e.eventFlags.pathOpened ? { file_arg: file } : { path_arg: file }];
  if (e.target !== null) args.push({ path_arg: { path: e.target }, label: 'target' });
  if (e.mode !== null) args.push({ uint_arg: e.mode, label: 'mode' });
  return { function_name: syscallFunction(e.syscall), args, return: { int_arg: e.ret }, action: 'KPROBE_ACTION_POST' };
}

const FILE_LABELS: Readonly<Record<string, string>> = Object.fromEntries(
  FILE_OPS.map((op) => [op, `${op === 'open' ? '📬' : '📁'} ${op.padEnd(7)}`]));

/** "<path>[ -> <target>] <FLAGS|...>[ mode=0644] <fd | ERRNO>" */
/** Names escaped (escapeControls), by the name: a storm's events share their path strings. */
const escapedNames = new Map<string, string>();
const ESCAPED_NAMES_MAX = 4096;

function escapedName(name: string): string {
  let v = escapedNames.get(name);
  if (v === undefined) {
    v = escapeControls(name);
    if (escapedNames.size >= ESCAPED_NAMES_MAX) escapedNames.clear();
    escapedNames.set(name, v);
  }
  return v;
}

/**
 * escapeControls(fileDetail(e)), piece by piece: escaping is per character, and only the names can
 * hold control characters (flag names, the mode and the result are Vigil's own ASCII).
 */
function escapedFileDetail(e: FileEvent): string {
  const raw = rawShown(e.path, e.rawPath);
  let s = raw === undefined ? escapedName(e.path) : `${escapedName(e.path)} (as ${escapeControls(raw)})`;
  if (e.target !== null) s += ` -> ${escapeControls(e.target)}`;
  if (e.flags.length) s += ` ${e.flags.length === 1 ? e.flags[0]! : e.flags.join('|')}`;
  if (e.mode !== null) s += ` mode=0${e.mode.toString(8)}`;
  return `${s} ${e.ret < 0 ? errnoName(-e.ret) : e.ret}`;
}

function fileDetail(e: FileEvent): string {
  const raw = rawShown(e.path, e.rawPath);
  let s = raw === undefined ? e.path : `${e.path} (as ${raw})`;
  if (e.target !== null) s += ` -> ${e.target}`;
  if (e.flags.length) s += ` ${e.flags.length === 1 ? e.flags[0]! : e.flags.join('|')}`;
  if (e.mode !== null) s += ` mode=0${e.mode.toString(8)}`;
  return `${s} ${e.ret < 0 ? errnoName(-e.ret) : e.ret}`;
}

/** Column name and width (0: the last, unpadded). */
const TABLE_COLUMNS: readonly (readonly [string, number])[] = [
  ['TIME', 12], ['EVENT', 11], ['PID', 7], ['PPID', 7], ['UID', 6], ['CONTAINER', 12], ['DETAIL', 0],
];
