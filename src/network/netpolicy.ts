// Per-cgroup network policy (bpf/netpolicy.bpf.c) from user space.
//
// Persistent, like the firewall: `apply` loads one object per cgroup,
// attaches its seven programs to the cgroup with bpf_links, pins the links
// and maps under /sys/fs/bpf/vigil/netpolicy/<cgroup id>/ and returns; the
// policy holds with no process running. Applying again to the same cgroup
// rewrites the rules in place (the inactive generation, then a flip: no
// reload, no moment without a policy). `watch` reads the pinned ring buffers
// and turns denials into DENIED flow records; `remove` unpins, which detaches.
//
// Why persistent rather than a foreground process: a policy that vanishes
// when a terminal closes is not a policy, and the denial stream is useful
// on its own (several watchers, or none). `vigil netpolicy apply --foreground`
// gives the other behaviour: the policy is tied to the process (bpf_links held
// by its file descriptors, nothing pinned), so it ends with the process, even
// one killed with SIGKILL or crashed (ForegroundPolicy).
//
// A BPF ring buffer has one consumer position: two watchers of the same
// policy split its denials between them rather than each seeing all. Denials
// made while nobody watches wait in the ring (256 KiB, about 2,500 records);
// beyond that they are counted as lost (vigil_lost) and reported by the next
// watcher.
import {
  closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readlinkSync, rmdirSync, statSync, unlinkSync,
} from 'node:fs';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { ObjectSpec } from '../bpf/object.js';
import { BpfMap, PerCpuMap, TypedMap } from '../bpf/map.js';
import { RingBufferReader } from '../bpf/reader.js';
import { cgroup2 } from '../bpf/mounts.js';
import { durableBpffs } from './pin-root.js';
import * as codec from '../bpf/codec.js';
import { bpfObjectPath } from '../util/paths.js';
import { BootClock, rfc3339Nano } from '../util/clock.js';
import {
  vigilNpRule, vigilNpConfig, vigilNpInfo, vigilNpDenial,
  VIGIL_NP_MAX_RULES, VIGIL_NP_ALLOW, VIGIL_NP_DENY, VIGIL_NP_TCP, VIGIL_NP_UDP, VIGIL_NP_EGRESS, VIGIL_NP_INGRESS,
  VIGIL_NP_CONNECT4, VIGIL_NP_CONNECT6, VIGIL_NP_SENDMSG4, VIGIL_NP_SENDMSG6, VIGIL_NP_INGRESS_SKB,
  VIGIL_NP_EGRESS_SKB, VIGIL_NP_HOOKS,
  type VigilNpRule, type VigilNpDenial,
} from '../generated/netpolicy.js';
import { compileRules, type PolicySpec } from './netpolicy-spec.js';
import { familyOf, formatAddress } from '../kernel/addr.js';
import type { FlowRecord, FlowProcess, FlowEndpoint } from './flow-types.js';

export class NetPolicyError extends Error {
  override readonly name = 'NetPolicyError';
}

export const HOOK_NAMES: Record<number, string> = {
  [VIGIL_NP_CONNECT4]: 'connect4', [VIGIL_NP_CONNECT6]: 'connect6', [VIGIL_NP_SENDMSG4]: 'sendmsg4',
  [VIGIL_NP_SENDMSG6]: 'sendmsg6', [VIGIL_NP_INGRESS_SKB]: 'ingress', [VIGIL_NP_EGRESS_SKB]: 'egress',
};

const PROGRAMS = ['np_sock_create', 'np_connect4', 'np_connect6', 'np_sendmsg4', 'np_sendmsg6', 'np_ingress', 'np_egress'];
const MAPS = ['rules', 'policy', 'counters', 'rule_hits', 'owners', 'events', 'vigil_lost', 'info'] as const;
type MapName = (typeof MAPS)[number];

export function policyPinRoot(): string {
  return path.join(durableBpffs((m) => new NetPolicyError(m)), 'vigil', 'netpolicy');
}

/**
 * A cgroup as a policy names it: a path under the cgroup v2 mount, or a path
 * relative to its root ("system.slice/x.service", or "/system.slice/x.service"
 * as /proc/PID/cgroup writes it).
 */
export function resolveCgroup(p: string): { path: string; id: bigint } {
  const root = cgroup2();
  if (!root.path) throw new NetPolicyError(`cgroup v2 is not mounted: ${root.reason ?? ''}`);
  const under = (x: string): boolean => x === root.path || x.startsWith(`${root.path}/`);
  const abs = path.isAbsolute(p) && under(path.resolve(p)) ? path.resolve(p) : path.resolve(root.path, p.replace(/^\/+/, ''));
  if (!under(abs)) throw new NetPolicyError(`cgroup ${p} is outside the cgroup v2 hierarchy (${root.path})`);
  let st;
  try {
    st = statSync(abs, { bigint: true });
  } catch {
    throw new NetPolicyError(`cgroup ${abs} does not exist`);
  }
  if (!st.isDirectory()) throw new NetPolicyError(`cgroup ${abs} is not a directory`);
  // On cgroup v2 a cgroup's id (bpf_get_current_cgroup_id) is its directory's inode number.
  return { path: abs, id: st.ino };
}

export interface AppliedPolicy {
  cgroupPath: string;
  cgroupId: bigint;
  /** The policy was already there and its rules were replaced. */
  updated: boolean;
  entries: number;
}

export interface PolicyCounters {
  hook: string;
  allowed: number;
  denied: number;
}

export interface PolicyStatus {
  cgroupPath: string;
  cgroupId: string;
  source: string;
  appliedAt: string;
  default: 'allow' | 'deny';
  /** Kernel entries (one per CIDR x port range of each file rule), with hits. */
  rules: { origin: number; text: string; hits: number }[];
  defaultHits: number;
  counters: PolicyCounters[];
  /** Every program is still attached (its link pin exists). */
  attached: boolean;
  cgroupExists: boolean;
}

function rulesWrite(maps: Record<MapName, BpfMap>, spec: PolicySpec, source: string, cgroupPath: string,
  cgroupId: bigint): number {
  const compiled = compileRules(spec);
  if (compiled.length > VIGIL_NP_MAX_RULES) throw new NetPolicyError(`${compiled.length} rule entries; at most ${VIGIL_NP_MAX_RULES}`);
  const cfgMap = new TypedMap(maps.policy, codec.u32, vigilNpConfig);
  const cur = cfgMap.get(0);
  // Always the half the programs are not reading (a fresh object reads half 0, with no rules).
  const next = 1 - (cur?.generation ?? 0);
  const rules = new TypedMap(maps.rules, codec.u32, vigilNpRule);
  compiled.forEach((r, i) => rules.set(next * VIGIL_NP_MAX_RULES + i, r));
  const hits = new PerCpuMap(maps.rule_hits, codec.u32, codec.u64);
  const zeros = Array.from({ length: hits.map.lookupValueSize / 8 }, () => 0n);
  for (let i = 0; i <= VIGIL_NP_MAX_RULES; i++) hits.set(i, zeros);
  new TypedMap(maps.info, codec.u32, vigilNpInfo).set(0, {
    cgroup_id: cgroupId, applied_ns: BigInt(Date.now()) * 1_000_000n,
    cgroup_path: truncate(cgroupPath, 255), source: truncate(source, 255),
  });
  // The flip: one map update makes the new list and default live together.
  cfgMap.set(0, {
    generation: next, count: compiled.length, default_action: spec.default === 'deny' ? VIGIL_NP_DENY : VIGIL_NP_ALLOW, pad: 0,
  });
  return compiled.length;
}

function truncate(s: string, bytes: number): string {
  const b = Buffer.from(s);
  return b.length <= bytes ? s : b.subarray(b.length - bytes).toString();
}

function openPinned(dir: string): Record<MapName, BpfMap> {
  const maps: Partial<Record<MapName, BpfMap>> = {};
  try {
    for (const m of MAPS) maps[m] = BpfMap.fromPin(path.join(dir, m));
  } catch (e) {
    for (const m of Object.values(maps)) m.close();
    throw new NetPolicyError(`policy state in ${dir} is incomplete: ${(e as Error).message}`, { cause: e });
  }
  return maps as Record<MapName, BpfMap>;
}

function closeAll(maps: Record<MapName, BpfMap>): void {
  for (const m of Object.values(maps)) m.close();
}

function removePins(dir: string): void {
  if (!existsSync(dir)) return;
  // Links first: each unpinned link detaches its program from the cgroup.
  const files = readdirSync(dir).sort((a, b) => Number(b.startsWith('link_')) - Number(a.startsWith('link_')));
  for (const f of files) unlinkSync(path.join(dir, f));
  rmdirSync(dir);
}

/** Applies (or re-applies) a policy. */
export async function applyPolicy(spec: PolicySpec, opts: { objectPath?: string } = {}): Promise<AppliedPolicy> {
  const cg = resolveCgroup(spec.cgroup);
  const dir = path.join(policyPinRoot(), String(cg.id));
  if (existsSync(path.join(dir, 'info'))) {
    const maps = openPinned(dir);
    try {
      const entries = rulesWrite(maps, spec, spec.file, cg.path, cg.id);
      return { cgroupPath: cg.path, cgroupId: cg.id, updated: true, entries };
    } finally {
      closeAll(maps);
    }
  }
  removePins(dir); // a half-made state from an apply that failed midway

  const objSpec = ObjectSpec.fromFile(opts.objectPath ?? bpfObjectPath('netpolicy'));
  const obj = await objSpec.load({ constants: { policy_cgroup_id: cg.id } });
  const cgFd = openSync(cg.path, constants.O_RDONLY | constants.O_DIRECTORY);
  mkdirSync(dir, { recursive: true });
  try {
    const maps = Object.fromEntries(MAPS.map((m) => [m, obj.map(m)])) as Record<MapName, BpfMap>;
    const entries = rulesWrite(maps, spec, spec.file, cg.path, cg.id);
    // Maps before links, `info` last of all: its pin marks the state complete.
    for (const m of MAPS.filter((x) => x !== 'info')) obj.map(m).pin(path.join(dir, m));
    for (const p of PROGRAMS) {
      const link = obj.program(p).attachCgroup(cgFd, cg.path);
      try {
        link.pin(path.join(dir, `link_${p}`));
      } finally {
        link.close(); // the pin holds it
      }
    }
    obj.map('info').pin(path.join(dir, 'info'));
    return { cgroupPath: cg.path, cgroupId: cg.id, updated: false, entries };
  } catch (e) {
    removePins(dir);
    throw e;
  } finally {
    closeSync(cgFd);
    obj.close();
  }
}

/**
 * A policy that lives exactly as long as this process: its programs are
 * attached with bpf_links held only by this process's file descriptors, and
 * nothing is pinned. When the process ends, however it ends (Ctrl-C, a crash,
 * kill -9), the kernel closes those descriptors and detaches the policy: a
 * deny cannot outlive the process that enforces it. Not listed by `status`
 * (which reads bpffs), since nothing of it is in bpffs.
 */
export class ForegroundPolicy implements Disposable {
  private links: { close(): void }[] = [];
  private reader: RingBufferReader | undefined;
  private closed = false;

  private constructor(private readonly obj: BpfObjectLike, readonly cgroupPath: string, readonly cgroupId: bigint,
    readonly entries: number) {}

  static async apply(spec: PolicySpec, opts: { objectPath?: string } = {}): Promise<ForegroundPolicy> {
    const cg = resolveCgroup(spec.cgroup);
    if (existsSync(path.join(policyPinRoot(), String(cg.id), 'info'))) {
      throw new NetPolicyError(`${cg.path} already has a persistent policy; remove it first ` +
        `(vigil netpolicy remove ${cg.path}) or apply without --foreground`);
    }
    const objSpec = ObjectSpec.fromFile(opts.objectPath ?? bpfObjectPath('netpolicy'));
    const obj = await objSpec.load({ constants: { policy_cgroup_id: cg.id } });
    const maps = Object.fromEntries(MAPS.map((m) => [m, obj.map(m)])) as Record<MapName, BpfMap>;
    let fp: ForegroundPolicy | undefined;
    const cgFd = openSync(cg.path, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fp = new ForegroundPolicy(obj, cg.path, cg.id, rulesWrite(maps, spec, spec.file, cg.path, cg.id));
      for (const p of PROGRAMS) fp.links.push(obj.program(p).attachCgroup(cgFd, cg.path));
      return fp;
    } catch (e) {
      if (fp) fp.close();
      else obj.close();
      throw e;
    } finally {
      closeSync(cgFd);
    }
  }

  /** Streams this policy's denials (one reader: the ring buffer has one consumer position). */
  watch(onFlow: DenialWatchOptions['onFlow'], onLost?: (count: number) => void, resolve?: ProcessResolver): void {
    if (this.reader) throw new NetPolicyError('this policy is already being watched');
    const ctx: DenialContext = {
      clock: BootClock.measure(), nodeName: os.hostname(), resolve: resolve ?? procResolver, policyName: () => this.cgroupPath,
    };
    this.reader = RingBufferReader.open(this.obj.map('events'), {
      lostCounter: this.obj.map('vigil_lost'),
      onRecord: (view, off) => {
        const den = vigilNpDenial.decode(view, off);
        onFlow(denialToFlow(den, ctx), den);
      },
      onLost: (n) => onLost?.(n),
    });
  }

  /** Detaches the policy (closing the links is the detach) and frees its programs and maps. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reader?.close();
    for (const l of this.links) l.close();
    this.links = [];
    this.obj.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

type BpfObjectLike = Awaited<ReturnType<ObjectSpec['load']>>;

/** Directories of applied policies, by cgroup id. */
function policyDirs(): { id: string; dir: string }[] {
  const root = policyPinRoot();
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((d) => /^\d+$/.test(d)).map((id) => ({ id, dir: path.join(root, id) }))
    .filter((x) => existsSync(path.join(x.dir, 'info')));
}

/** Finds a policy by cgroup id, or by cgroup path (absolute or relative to the cgroup v2 root). */
function findPolicy(target: string): { id: string; dir: string } | undefined {
  const dirs = policyDirs();
  const byId = dirs.find((d) => d.id === target);
  if (byId) return byId;
  const root = cgroup2().path ?? '';
  const abs = path.resolve(root, target.startsWith(root) ? target : target.replace(/^\/+/, ''));
  for (const d of dirs) {
    const maps = openPinned(d.dir);
    try {
      const i = new TypedMap(maps.info, codec.u32, vigilNpInfo).get(0);
      if (i && (i.cgroup_path === abs || i.cgroup_path === target)) return d;
    } finally {
      closeAll(maps);
    }
  }
  return undefined;
}

/** Removes the policy of a cgroup (path or id). False if none. */
export function removePolicy(target: string): boolean {
  const d = findPolicy(target);
  if (!d) return false;
  removePins(d.dir);
  return true;
}

/** Removes every policy; returns their cgroup ids. */
export function removeAllPolicies(): string[] {
  const ids: string[] = [];
  for (const d of policyDirs()) {
    removePins(d.dir);
    ids.push(d.id);
  }
  return ids;
}

export function describeKernelRule(r: VigilNpRule): string {
  const fam = familyOf(r.family);
  return [
    r.action === VIGIL_NP_ALLOW ? 'allow' : 'deny',
    r.protocols === VIGIL_NP_TCP ? 'tcp' : r.protocols === VIGIL_NP_UDP ? 'udp' : 'tcp+udp',
    r.directions === VIGIL_NP_EGRESS ? 'egress' : r.directions === VIGIL_NP_INGRESS ? 'ingress' : 'both directions',
    fam ? `${formatAddress(r.addr, fam)}/${r.prefixlen}` : 'any address',
    r.port_lo === 0 && r.port_hi === 65535 ? 'any port'
      : r.port_lo === r.port_hi ? `port ${r.port_lo}` : `ports ${r.port_lo}-${r.port_hi}`,
  ].join(' ');
}

function statusOf(id: string, dir: string): PolicyStatus {
  const maps = openPinned(dir);
  try {
    const info = new TypedMap(maps.info, codec.u32, vigilNpInfo).get(0)!;
    const cfg = new TypedMap(maps.policy, codec.u32, vigilNpConfig).get(0)!;
    const rules = new TypedMap(maps.rules, codec.u32, vigilNpRule);
    const hits = new PerCpuMap(maps.rule_hits, codec.u32, codec.u64n);
    const sumHits = (i: number): number => (hits.get(i) ?? []).reduce((a, b) => a + b, 0);
    const list: PolicyStatus['rules'] = [];
    for (let i = 0; i < cfg.count; i++) {
      const r = rules.get(cfg.generation * VIGIL_NP_MAX_RULES + i);
      if (r) list.push({ origin: r.origin, text: describeKernelRule(r), hits: sumHits(i) });
    }
    const counters = new PerCpuMap(maps.counters, codec.u32, codec.u64n);
    const sum = (k: number): number => (counters.get(k) ?? []).reduce((a, b) => a + b, 0);
    const perHook: PolicyCounters[] = [];
    for (let h = 0; h < VIGIL_NP_HOOKS; h++) {
      perHook.push({ hook: HOOK_NAMES[h] ?? String(h), allowed: sum(h * 2), denied: sum(h * 2 + 1) });
    }
    return {
      cgroupPath: info.cgroup_path,
      cgroupId: id,
      source: info.source,
      appliedAt: new Date(Number(info.applied_ns / 1_000_000n)).toISOString(),
      default: cfg.default_action === VIGIL_NP_DENY ? 'deny' : 'allow',
      rules: list,
      defaultHits: sumHits(VIGIL_NP_MAX_RULES),
      counters: perHook,
      attached: PROGRAMS.every((p) => existsSync(path.join(dir, `link_${p}`))),
      cgroupExists: existsSync(info.cgroup_path),
    };
  } finally {
    closeAll(maps);
  }
}

/** Every applied policy (or the one of target). */
export function policyStatus(target?: string): PolicyStatus[] {
  if (target) {
    const d = findPolicy(target);
    if (!d) throw new NetPolicyError(`no policy on ${target}`);
    return [statusOf(d.id, d.dir)];
  }
  return policyDirs().map((d) => statusOf(d.id, d.dir));
}

/** How a denial's local process is described; the default reads /proc while the process lives. */
export type ProcessResolver = (pid: number, comm: string) => FlowProcess;

export function procResolver(pid: number, comm: string): FlowProcess {
  return { pid, binary: readlinkSafe(`/proc/${pid}/exe`) ?? comm, exec_id: '', comm };
}

function readlinkSafe(p: string): string | undefined {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
}

export interface DenialContext {
  clock: BootClock;
  nodeName: string;
  resolve: ProcessResolver;
  /** cgroup id -> cgroup path, for the record's `policy` field. */
  policyName: (cgroupId: bigint) => string;
}

/** A denial as a Hubble-shaped flow record with verdict DENIED. */
export function denialToFlow(d: VigilNpDenial, ctx: DenialContext): FlowRecord {
  const fam = familyOf(d.family) ?? 4;
  const src = formatAddress(d.saddr, fam);
  const dst = formatAddress(d.daddr, fam);
  const egress = d.direction === VIGIL_NP_EGRESS;
  const proc: FlowEndpoint = {
    ...(d.pid ? { process: ctx.resolve(d.pid, d.comm) } : {}),
    cgroup_id: Number(d.cgroup_id),
  };
  const ports = { source_port: d.sport, destination_port: d.dport };
  const l4 = d.protocol === 6 ? { TCP: { ...ports, flags: { SYN: true } } } : { UDP: ports };
  const hook = HOOK_NAMES[d.hook] ?? String(d.hook);
  const rule = d.rule < 0 ? 'default' : `rule ${d.rule}`;
  const proto = d.protocol === 6 ? 'TCP' : 'UDP';
  return {
    time: rfc3339Nano(ctx.clock.toEpochNs(d.time_ns)),
    uuid: randomUUID(),
    verdict: 'DENIED',
    drop_reason_desc: 'POLICY_DENIED',
    IP: { source: src, destination: dst, ipVersion: fam === 4 ? 'IPv4' : 'IPv6' },
    l4,
    source: egress ? proc : {},
    destination: egress ? {} : proc,
    Type: 'L3_L4',
    node_name: ctx.nodeName,
    is_reply: false,
    traffic_direction: egress ? 'EGRESS' : 'INGRESS',
    ...(d.socket_cookie ? { socket_cookie: Number(d.socket_cookie) } : {}),
    cgroup_id: Number(d.cgroup_id),
    Summary: `${proto} ${egress ? 'egress' : 'ingress'} denied at ${hook} (${rule})`,
    event_kind: 'policy',
    flow_id: `policy:${d.socket_cookie}:${d.time_ns}`,
    ...(d.bytes ? { traffic: egress ? { bytes_sent: d.bytes, bytes_received: 0, packets_sent: 1, packets_received: 0 }
      : { bytes_sent: 0, bytes_received: d.bytes, packets_sent: 0, packets_received: 1 } } : {}),
    policy: `netpolicy:${ctx.policyName(d.cgroup_id)} ${hook} ${rule}`,
  };
}

export interface DenialWatchOptions {
  /** Only these policies (cgroup path or id); default every policy, including ones applied later. */
  targets?: string[];
  onFlow: (flow: FlowRecord, denial: VigilNpDenial) => void;
  onLost?: (count: number, cgroupId: string) => void;
  resolve?: ProcessResolver;
  /** How often to look for policies applied after the watch began (ms; default 1000). */
  rescanMs?: number;
}

/** Streams the denials of applied policies from their pinned ring buffers. */
export class DenialWatch implements Disposable {
  private readonly readers = new Map<string, { reader: RingBufferReader; maps: BpfMap[] }>();
  private readonly names = new Map<string, string>();
  private readonly ctx: DenialContext;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: DenialWatchOptions) {
    this.ctx = {
      clock: BootClock.measure(),
      nodeName: os.hostname(),
      resolve: opts.resolve ?? procResolver,
      policyName: (id) => this.names.get(String(id)) ?? String(id),
    };
    this.scan();
    if (!opts.targets) {
      this.timer = setInterval(() => this.scan(), opts.rescanMs ?? 1000);
      this.timer.unref();
    }
  }

  /** Cgroup ids being watched. */
  get watching(): string[] {
    return [...this.readers.keys()];
  }

  /** Opens readers for policies not yet watched; drops those removed. */
  scan(): void {
    if (this.closed) return;
    const want = this.opts.targets
      ? this.opts.targets.map((t) => {
        const d = findPolicy(t);
        if (!d) throw new NetPolicyError(`no policy on ${t}`);
        return d;
      })
      : policyDirs();
    for (const d of want) {
      if (this.readers.has(d.id)) continue;
      const events = BpfMap.fromPin(path.join(d.dir, 'events'));
      const lost = BpfMap.fromPin(path.join(d.dir, 'vigil_lost'));
      const info = BpfMap.fromPin(path.join(d.dir, 'info'));
      try {
        this.names.set(d.id, new TypedMap(info, codec.u32, vigilNpInfo).get(0)?.cgroup_path ?? d.id);
      } finally {
        info.close();
      }
      const reader = RingBufferReader.open(events, {
        lostCounter: lost,
        onRecord: (view, off) => {
          const den = vigilNpDenial.decode(view, off);
          this.opts.onFlow(denialToFlow(den, this.ctx), den);
        },
        onLost: (n) => this.opts.onLost?.(n, d.id),
      });
      this.readers.set(d.id, { reader, maps: [events, lost] });
    }
    const live = new Set(want.map((d) => d.id));
    for (const [id, r] of this.readers) {
      if (!live.has(id)) {
        r.reader.close();
        for (const m of r.maps) m.close();
        this.readers.delete(id);
      }
    }
  }

  /** Reads whatever is ready now. */
  drain(): number {
    let n = 0;
    for (const r of this.readers.values()) n += r.reader.drain();
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const r of this.readers.values()) {
      r.reader.close();
      for (const m of r.maps) m.close();
    }
    this.readers.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
