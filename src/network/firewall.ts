// The XDP firewall (bpf/firewall.bpf.c) from user space: attach it to an
// interface, change its rules, read its counters.
//
// State lives in bpffs, not in a process: `attach` loads the program,
// attaches it, pins the attachment and every map under
// /sys/fs/bpf/vigil/firewall/<ifname>/ and exits; every later command opens
// the pinned maps (BpfMap.fromPin) and changes them in place, so rules take
// effect at once with no reload, from any process. `detach` removes the pins,
// which releases the attachment and the maps.
//
// Attachment: the default and --mode native use a bpf_link (pinned as
// `link`; the kernel runs the program in the driver when it can, and native
// insists that it does); --mode generic attaches through netlink in skb mode,
// which outlives the process by itself. The program is pinned as `prog` either
// way, so `detach` and `status` can tell it from someone else's.
//
// Interfaces are looked up in the calling process's network namespace
// (if_nametoindex); the pin directory is named after the interface, under
// vigil/firewall/ or, in a named namespace (ip netns), under
// vigil/firewall-netns/NAME/, so a name is one firewall per namespace. The
// pins go to a bpffs that outlives the command (durableBpffs): under `ip
// netns exec`, which gives each command a mount namespace and a /sys of its
// own, that is the parent's.
//
// Rules match the source address. Allow CIDRs win over block CIDRs and
// exempt their sources from the rate limit; among overlapping CIDRs of one
// list the longest prefix counts the packet (LPM).
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ObjectSpec } from '../bpf/object.js';
import { BpfMap, PerCpuMap, TypedMap, numPossibleCpus } from '../bpf/map.js';
import { detachByName, durableBpffs, interfaceIndex, pinDirs, PinnedMaps, pinnedProgramId, removePinDir } from './pin-root.js';
import { native } from '../bpf/native.js';
import { XdpFlags } from '../bpf/types.js';
import * as codec from '../bpf/codec.js';
import { bpfObjectPath } from '../util/paths.js';
import {
  vigilFwLpm4, vigilFwLpm6, vigilFwRule, vigilFwRuleStats, vigilFwSource, vigilFwSourceStats, vigilFwRatelimit,
  vigilFwInfo,
  VIGIL_FW_MAX_RULES, VIGIL_FW_MAX_PPS, VIGIL_FW_MAX_BURST,
  VIGIL_FW_SEEN, VIGIL_FW_PASSED, VIGIL_FW_DROP_BLOCK, VIGIL_FW_DROP_RATE, VIGIL_FW_ALLOWED, VIGIL_FW_NOT_IP,
  VIGIL_FW_MALFORMED,
  type VigilFwRule, type VigilFwRuleStats, type VigilFwSource,
  type VigilFwSourceStats, type VigilFwRatelimit, type VigilFwInfo,
} from '../generated/firewall.js';
import { AF_INET, formatAddress, formatCidr, parseCidr, type Cidr } from '../kernel/addr.js';

export type XdpMode = 'native' | 'generic';
export type RuleAction = 'block' | 'allow';

const MODE_NATIVE = 1;
const MODE_GENERIC = 2;

/**
 * The name of this process's network namespace if it is a named one (`ip
 * netns add NAME`: a bind mount in /run/netns), as `ip netns identify` finds it.
 */
export function namedNetns(dir = '/run/netns'): string | undefined {
  let me;
  try {
    me = statSync('/proc/self/ns/net');
  } catch {
    return undefined;
  }
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const n of names.sort()) {
    try {
      const st = statSync(path.join(dir, n));
      if (st.ino === me.ino && st.dev === me.dev) return n;
    } catch {
      /* a netns being deleted */
    }
  }
  return undefined;
}

/**
 * Where a firewall's pins live; the directory's name is the interface's.
 * Interface names belong to a network namespace: those of a named namespace
 * (ip netns) have their own directory, vigil/firewall-netns/NAME/, so that
 * eth0 there and eth0 here are two firewalls.
 */
export function firewallPinRoot(): string {
  const root = durableBpffs((m) => new FirewallError(m));
  const ns = namedNetns();
  return ns ? path.join(root, 'vigil', 'firewall-netns', ns) : path.join(root, 'vigil', 'firewall');
}

export class FirewallError extends Error {
  override readonly name = 'FirewallError';
}

export interface FirewallRule {
  action: RuleAction;
  cidr: string;
  id: number;
  /** Drops (block) or passes (allow) it caused, summed over CPUs. */
  packets: number;
  bytes: number;
}

export interface SourceDrops {
  address: string;
  blocked: number;
  rateLimited: number;
  bytes: number;
}

export interface FirewallCounters {
  seen: number;
  passed: number;
  droppedBlocked: number;
  droppedRateLimited: number;
  allowed: number;
  notIp: number;
  malformed: number;
}

export interface FirewallStatus {
  interface: string;
  ifindex: number;
  mode: XdpMode;
  /** The pinned program is the one attached to the interface now. */
  attached: boolean;
  /** Why not, when it is not (interface gone, replaced). */
  problem?: string;
  programId: number;
  attachedAt: string;
  counters: FirewallCounters;
  rules: FirewallRule[];
  ratelimit: { pps: number; burst: number } | null;
  /** Sources with drops, most dropped first (at most `top`). */
  topSources: SourceDrops[];
  /** Sources whose drops are counted (the LRU map's population). */
  sourcesTracked: number;
  /** Sources with a token bucket (the rate limiter's LRU map). */
  bucketsTracked: number;
}

const MAP_NAMES = ['block_v4', 'block_v6', 'allow_v4', 'allow_v6', 'rule_stats', 'source_stats', 'buckets',
  'ratelimit', 'counters', 'info'] as const;
type MapName = (typeof MAP_NAMES)[number];

function ifindexOf(ifname: string): number {
  return interfaceIndex(ifname, (m) => new FirewallError(m));
}

function xdpProgId(ifindex: number, mode: XdpMode | 'any'): number {
  const flags = mode === 'native' ? XdpFlags.drvMode : mode === 'generic' ? XdpFlags.skbMode : 0;
  try {
    return native().xdpQueryId(ifindex, flags);
  } catch {
    return 0;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The same value for every possible CPU. */
function perCpu<V>(value: V): V[] {
  return Array.from({ length: numPossibleCpus() }, () => value);
}

/** An LPM trie key: prefix length and network-order address bytes (4 or 16). */
interface LpmKey {
  prefixlen: number;
  addr: Uint8Array;
}

/** A firewall attached to one interface, opened from its pins. */
export class Firewall extends PinnedMaps<MapName> {
  /** Interfaces with a firewall (pinned state), attached or not. */
  static list(): string[] {
    return pinDirs(firewallPinRoot());
  }

  /** Whether ifname has pinned firewall state. */
  static exists(ifname: string): boolean {
    return existsSync(path.join(firewallPinRoot(), ifname, 'info'));
  }

  /** Opens the pinned maps of the firewall on ifname. */
  static open(ifname: string): Firewall {
    const dir = path.join(firewallPinRoot(), ifname);
    if (!existsSync(path.join(dir, 'info'))) {
      throw new FirewallError(`no firewall on ${ifname} (run \`vigil firewall attach ${ifname}\` first)`);
    }
    return new Firewall(ifname, dir, MAP_NAMES, (m, cause) => new FirewallError(`firewall ${m}`, { cause }));
  }

  /**
   * Loads the program, attaches it to ifname and pins everything. Fails if a
   * firewall is already attached there, or another XDP program is.
   */
  static async attach(ifname: string, opts: { mode?: XdpMode; objectPath?: string } = {}): Promise<Firewall> {
    const ifindex = ifindexOf(ifname);
    const root = firewallPinRoot();
    const dir = path.join(root, ifname);
    if (existsSync(dir)) {
      const st = Firewall.probeAttached(ifname, dir, ifindex);
      if (st.attached) throw new FirewallError(`a firewall is already attached to ${ifname} (vigil firewall detach ${ifname})`);
      removePinDir(dir); // left over from an interface that is gone, or a detach that did not finish
    }
    const other = xdpProgId(ifindex, 'any');
    if (other) throw new FirewallError(`${ifname} already has an XDP program (id ${other}) that is not Vigil's`);

    const spec = ObjectSpec.fromFile(opts.objectPath ?? bpfObjectPath('firewall'));
    const obj = await spec.load();
    mkdirSync(dir, { recursive: true });
    try {
      const prog = obj.program('vigil_firewall');
      let mode: XdpMode;
      if (opts.mode === 'generic') {
        const att = prog.attachXdpMode(ifindex, 'generic');
        void att; // netlink attachments persist without a descriptor; detach() removes it
        mode = 'generic';
      } else {
        const link = prog.attachXdp(ifindex);
        try {
          const native = xdpProgId(ifindex, 'native');
          if (opts.mode === 'native' && !native) {
            throw new FirewallError(`${ifname}: the driver has no native XDP (use --mode generic)`);
          }
          mode = native ? 'native' : 'generic';
          link.pin(path.join(dir, 'link'));
        } finally {
          link.close(); // the pin holds the attachment
        }
      }
      native().objPin(prog.fd, path.join(dir, 'prog'));
      new TypedMap(obj.map('info'), codec.u32, vigilFwInfo).set(0, {
        ifindex, mode: mode === 'native' ? MODE_NATIVE : MODE_GENERIC,
        attached_ns: BigInt(Date.now()) * 1_000_000n, ifname,
      });
      // `info` last: its pin is what marks the state complete (open() and exists() look for it).
      for (const m of MAP_NAMES.filter((x) => x !== 'info')) obj.map(m).pin(path.join(dir, m));
      obj.map('info').pin(path.join(dir, 'info'));
    } catch (e) {
      obj.close();
      detachPinned(ifname, dir, ifindex);
      throw e;
    }
    obj.close();
    // Never report an attach that did not happen: the interface must run the pinned program now.
    const check = Firewall.probeAttached(ifname, dir, ifindex);
    if (!check.attached) {
      detachPinned(ifname, dir, ifindex);
      throw new FirewallError(`${ifname}: the firewall did not stay attached (${check.problem ?? 'unknown'})`);
    }
    return Firewall.open(ifname);
  }

  /** Detaches the firewall from ifname and removes its pins. False if there was none. */
  static detach(ifname: string): boolean {
    return detachByName(firewallPinRoot(), ifname, (dir, ifindex) => detachPinned(ifname, dir, ifindex));
  }

  private static probeAttached(ifname: string, dir: string, ifindex: number | undefined):
    { attached: boolean; problem?: string; progId: number } {
    const progId = pinnedProgramId(path.join(dir, 'prog')) ?? 0;
    if (ifindex === undefined) return { attached: false, problem: `interface ${ifname} does not exist`, progId };
    const now = xdpProgId(ifindex, 'any');
    if (!progId) return { attached: false, problem: 'program pin missing', progId };
    if (now !== progId) {
      return { attached: false, problem: now ? `another XDP program (id ${now}) is attached` : 'not attached', progId };
    }
    return { attached: true, progId };
  }

  private trie(action: RuleAction, family: 4 | 6): TypedMap<LpmKey, VigilFwRule> {
    return new TypedMap<LpmKey, VigilFwRule>(this.map(`${action}_v${family}`), family === 4 ? vigilFwLpm4 : vigilFwLpm6,
      vigilFwRule);
  }

  private ruleStats(): PerCpuMap<number, VigilFwRuleStats> {
    return new PerCpuMap(this.map('rule_stats'), codec.u32, vigilFwRuleStats);
  }

  /** Every rule: [action, cidr, id]. */
  private *allRules(): IterableIterator<[RuleAction, Cidr, number]> {
    for (const action of ['allow', 'block'] as const) {
      for (const family of [4, 6] as const) {
        for (const [k, v] of this.trie(action, family).entries()) {
          yield [action, { family, addr: k.addr, prefixlen: k.prefixlen }, v.id];
        }
      }
    }
  }

  /**
   * Adds CIDRs to the block or allow list (idempotent: a CIDR already there
   * keeps its id and counters). Returns the CIDRs as stored (host bits cleared).
   */
  add(action: RuleAction, cidrs: readonly string[]): string[] {
    const parsed = cidrs.map((c) => parseCidr(c));
    const used = new Set<number>();
    for (const [, , id] of this.allRules()) used.add(id);
    let next = 0;
    const stats = this.ruleStats();
    const zero = perCpu<VigilFwRuleStats>({ packets: 0n, bytes: 0n });
    const out: string[] = [];
    for (const c of parsed) {
      const trie = this.trie(action, c.family);
      const key = { prefixlen: c.prefixlen, addr: c.addr };
      out.push(formatCidr(c));
      if (trie.get(key)) continue;
      while (used.has(next)) next++;
      if (next >= VIGIL_FW_MAX_RULES) throw new FirewallError(`rule table full (${VIGIL_FW_MAX_RULES} rules)`);
      used.add(next);
      stats.set(next, zero); // a recycled id starts from zero
      trie.set(key, { id: next });
    }
    return out;
  }

  /** Removes CIDRs from a list. Returns those that were not there. */
  remove(action: RuleAction, cidrs: readonly string[]): string[] {
    const missing: string[] = [];
    for (const text of cidrs) {
      const c = parseCidr(text);
      if (!this.trie(action, c.family).delete({ prefixlen: c.prefixlen, addr: c.addr })) missing.push(formatCidr(c));
    }
    return missing;
  }

  /** Per-source rate limit: pps packets per second with bursts of `burst` (default: pps). */
  setRateLimit(pps: number, burst = pps): void {
    if (!Number.isInteger(pps) || pps < 1 || pps > VIGIL_FW_MAX_PPS) {
      throw new FirewallError(`rate must be an integer in 1..${VIGIL_FW_MAX_PPS} packets/s`);
    }
    if (!Number.isInteger(burst) || burst < 1 || burst > VIGIL_FW_MAX_BURST) {
      throw new FirewallError(`burst must be an integer in 1..${VIGIL_FW_MAX_BURST} packets`);
    }
    const interval = BigInt(Math.max(1, Math.floor(1e9 / pps)));
    const rl = new TypedMap(this.map('ratelimit'), codec.u32, vigilFwRatelimit);
    rl.set(0, { pps: BigInt(pps), burst: BigInt(burst), interval_ns: interval, tolerance_ns: interval * BigInt(burst - 1) });
    // Start every source with a full bucket under the new rate.
    this.map('buckets').drain();
  }

  rateLimitOff(): void {
    new TypedMap(this.map('ratelimit'), codec.u32, vigilFwRatelimit)
      .set(0, { pps: 0n, burst: 0n, interval_ns: 0n, tolerance_ns: 0n });
    this.map('buckets').drain();
  }

  rateLimit(): VigilFwRatelimit | undefined {
    const rl = new TypedMap(this.map('ratelimit'), codec.u32, vigilFwRatelimit).get(0);
    return rl && rl.pps > 0n ? rl : undefined;
  }

  info(): VigilFwInfo {
    return this.infoAs(vigilFwInfo, (m) => new FirewallError(`firewall ${m}`));
  }

  counters(): FirewallCounters {
    const sum = this.perCpuTotals('counters');
    return {
      seen: sum(VIGIL_FW_SEEN),
      passed: sum(VIGIL_FW_PASSED),
      droppedBlocked: sum(VIGIL_FW_DROP_BLOCK),
      droppedRateLimited: sum(VIGIL_FW_DROP_RATE),
      allowed: sum(VIGIL_FW_ALLOWED),
      notIp: sum(VIGIL_FW_NOT_IP),
      malformed: sum(VIGIL_FW_MALFORMED),
    };
  }

  rules(): FirewallRule[] {
    const stats = this.ruleStats();
    const out: FirewallRule[] = [];
    for (const [action, cidr, id] of this.allRules()) {
      const per = stats.get(id) ?? [];
      out.push({
        action, cidr: formatCidr(cidr), id,
        packets: per.reduce((a, s) => a + Number(s.packets), 0),
        bytes: per.reduce((a, s) => a + Number(s.bytes), 0),
      });
    }
    return out.sort((a, b) => (a.action === b.action ? a.id - b.id : a.action === 'allow' ? -1 : 1));
  }

  /** Sources by drops, most first. */
  sources(top = 10): { top: SourceDrops[]; tracked: number } {
    const m = new PerCpuMap<VigilFwSource, VigilFwSourceStats>(this.map('source_stats'), vigilFwSource, vigilFwSourceStats);
    const all: SourceDrops[] = [];
    for (const [k, per] of m.entries()) {
      const fam = k.family === AF_INET ? 4 : 6;
      all.push({
        address: formatAddress(k.addr, fam),
        blocked: per.reduce((a, s) => a + Number(s.blocked), 0),
        rateLimited: per.reduce((a, s) => a + Number(s.rate_limited), 0),
        bytes: per.reduce((a, s) => a + Number(s.bytes), 0),
      });
    }
    all.sort((a, b) => b.blocked + b.rateLimited - (a.blocked + a.rateLimited) || a.address.localeCompare(b.address));
    return { top: all.slice(0, top), tracked: all.length };
  }

  status(opts: { top?: number } = {}): FirewallStatus {
    const i = this.info();
    const ifindex = this.ifindexNow();
    const probe = Firewall.probeAttached(this.ifname, this.dir, ifindex !== undefined && ifindex === i.ifindex ? ifindex
      : undefined);
    if (ifindex !== undefined && ifindex !== i.ifindex) {
      probe.problem = `${this.ifname} is a different interface now (ifindex ${ifindex}, was ${i.ifindex})`;
    }
    const rl = this.rateLimit();
    const sources = this.sources(opts.top ?? 10);
    let buckets = 0;
    for (const _ of this.map('buckets').keys()) buckets++;
    return {
      interface: this.ifname,
      ifindex: i.ifindex,
      mode: i.mode === MODE_NATIVE ? 'native' : 'generic',
      attached: probe.attached,
      ...(probe.problem ? { problem: probe.problem } : {}),
      programId: probe.progId,
      attachedAt: new Date(Number(i.attached_ns / 1_000_000n)).toISOString(),
      counters: this.counters(),
      rules: this.rules(),
      ratelimit: rl ? { pps: Number(rl.pps), burst: Number(rl.burst) } : null,
      topSources: sources.top,
      sourcesTracked: sources.tracked,
      bucketsTracked: buckets,
    };
  }
}

/**
 * Detaches what the pins in dir attached to ifindex (0: interface gone) and
 * removes the pins. A link is released with its last reference (the pin);
 * a netlink attachment is removed only if it is still our program.
 */
function detachPinned(ifname: string, dir: string, ifindex: number): void {
  const progId = pinnedProgramId(path.join(dir, 'prog'));
  const hadLink = existsSync(path.join(dir, 'link'));
  if (ifindex && progId && !hadLink) {
    for (const mode of ['generic', 'native'] as const) {
      if (xdpProgId(ifindex, mode) === progId) {
        try {
          native().xdpDetach(ifindex, mode === 'generic' ? XdpFlags.skbMode : XdpFlags.drvMode);
        } catch (e) {
          throw new FirewallError(`detach XDP from ${ifname}: ${(e as Error).message}`, { cause: e });
        }
      }
    }
  }
  removePinDir(dir);
  // The kernel releases an unpinned link asynchronously: wait (bounded) until it is gone.
  if (ifindex && progId) {
    for (let i = 0; i < 100 && xdpProgId(ifindex, 'any') === progId; i++) sleepSync(10);
    if (xdpProgId(ifindex, 'any') === progId) {
      throw new FirewallError(`${ifname}: the firewall program is still attached after its pins were removed ` +
        '(another process holds the link open?)');
    }
  }
}
