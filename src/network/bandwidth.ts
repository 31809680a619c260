// The egress bandwidth manager (bpf/bandwidth.bpf.c) from user space: attach
// it to an interface, set and unset per-class rate limits, read its counters.
//
// Like the firewall (firewall.ts), its state lives in bpffs, not in a
// process: `attach` puts fq at the device's root (fq paces packets by the
// departure time the program stamps), loads the program, attaches it to the
// clsact egress hook through netlink (which outlives the process by itself),
// pins the program and every map under /sys/fs/bpf/vigil/bandwidth/<ifname>/
// (vigil/bandwidth-netns/NS/<ifname>/ for an interface of a named network
// namespace) and exits. `set` and `unset` open the pinned maps and change
// them in place: a new rate holds from the next packet. `detach` removes the
// filter, the pins, and puts the device's default root qdisc back.
//
// The device: fq replaces only the kernel's default root qdisc (handle 0:),
// never one somebody configured, and detach restores the default by deleting
// the root. The clsact hook is removed on detach only when attach made it and
// no other filter is left on it.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ObjectSpec } from '../bpf/object.js';
import { BpfMap, PerCpuMap, TypedMap, numPossibleCpus } from '../bpf/map.js';
import { native } from '../bpf/native.js';
import { TcAttachPoint } from '../bpf/types.js';
import * as codec from '../bpf/codec.js';
import { bpfObjectPath } from '../util/paths.js';
import { cgroup2 } from '../bpf/mounts.js';
import { ContainerLookupError, containerCgroupIds } from '../process/container.js';
import { detachByName, durableBpffs, interfaceIndex, pinDirs, PinnedMaps, pinnedProgramId, removePinDir } from './pin-root.js';
import { namedNetns } from './firewall.js';
import { NetPolicyError, resolveCgroup } from './netpolicy.js';
import {
  clsactFilters, defaultRoot, fqStats, hasFq, installFq, qdiscs, removeClsact, restoreDefaultRoot, TcError, type FqStats,
} from './bandwidth-tc.js';
import { burstBytes, burstNs, currentRate, formatRate } from './bandwidth-rate.js';
import {
  vigilBwClass, vigilBwClassStats, vigilBwInfo,
  VIGIL_BW_MAX_CLASSES, VIGIL_BW_TARGET_LEN,
  VIGIL_BW_KIND_FREE, VIGIL_BW_KIND_CGROUP, VIGIL_BW_KIND_CONTAINER,
  VIGIL_BW_SEEN, VIGIL_BW_UNCLASSIFIED, VIGIL_BW_CLASSIFIED, VIGIL_BW_DELAYED, VIGIL_BW_HORIZON_DROP,
  type VigilBwClass, type VigilBwClassStats, type VigilBwInfo,
} from '../generated/bandwidth.js';

export class BandwidthError extends Error {
  override readonly name = 'BandwidthError';
}

/** Default horizon: a packet that would leave later than this from now is dropped (and counted). */
export const DEFAULT_HORIZON_NS = 2_000_000_000n;

/** The TC filter's handle and priority on clsact egress ("vi"). */
const TC_HANDLE = 0x7669;
const TC_PRIORITY = 0x7669;

/** What a class limits: a cgroup (and its subtree) or every cgroup of a container. */
export type ClassTarget = { kind: 'cgroup'; path: string } | { kind: 'container'; id: string };

export interface ClassSpec {
  target: ClassTarget;
  /** Bits per second; 0: no limit (a class for its priority only). */
  rateBits: number;
  /** Bytes sent at once after idleness; default: 10 ms at the rate. */
  burstBytes?: number;
  /** skb priority 0..15. */
  priority?: number;
}

export interface ClassStatus {
  id: number;
  kind: 'cgroup' | 'container';
  /** The cgroup path or the container id. */
  target: string;
  /** cgroup ids that name the class in the kernel. */
  cgroupIds: string[];
  rateBits: number;
  rate: string;
  burstBytes: number;
  priority: number | null;
  createdAt: string;
  packets: number;
  bytes: number;
  delayed: number;
  horizonDrops: number;
  /** Bits per second over the last complete window of each CPU that sent recently. */
  currentRateBits: number;
}

export interface BandwidthCounters {
  seen: number;
  unclassified: number;
  classified: number;
  delayed: number;
  horizonDrops: number;
}

export interface BandwidthStatus {
  interface: string;
  ifindex: number;
  /** The pinned program is a filter on the interface's clsact egress now, and fq is its root. */
  attached: boolean;
  problem?: string;
  programId: number;
  attachedAt: string;
  horizonMs: number;
  counters: BandwidthCounters;
  /** fq's own statistics (horizon drops of packets from anything, not only classes). */
  fq: FqStats | null;
  classes: ClassStatus[];
}

const MAP_NAMES = ['cgroup_class', 'classes', 'class_stats', 'counters', 'info'] as const;
type MapName = (typeof MAP_NAMES)[number];

/** Where the bandwidth managers' pins live; the directory's name is the interface's. */
export function bandwidthPinRoot(): string {
  const root = durableBpffs((m) => new BandwidthError(m));
  const ns = namedNetns();
  return ns ? path.join(root, 'vigil', 'bandwidth-netns', ns) : path.join(root, 'vigil', 'bandwidth');
}

function ifindexOf(ifname: string): number {
  return interfaceIndex(ifname, (m) => new BandwidthError(m));
}

function targetText(t: ClassTarget): string {
  return t.kind === 'cgroup' ? t.path : t.id;
}

/**
 * A cgroup seen through the parent's mount namespace, where this process has
 * no cgroupfs: `ip netns exec` remounts /sys, which takes the cgroup mount
 * under it away. Cgroup ids are the same in every namespace.
 */
function cgroupViaParent(p: string): { path: string; id: bigint } | undefined {
  if (cgroup2().path) return undefined;
  let mountinfo: string;
  try {
    mountinfo = readFileSync(`/proc/${process.ppid}/mountinfo`, 'utf8');
  } catch {
    return undefined;
  }
  // "id parent major:minor root mountpoint options ... - fstype source superoptions"
  const root = mountinfo.split('\n').map((l) => l.split(' ')).find((f) => f[f.indexOf('-') + 1] === 'cgroup2')?.[4];
  if (!root) return undefined;
  const abs = p.startsWith(`${root}/`) || p === root ? p : path.join(root, p.replace(/^\/+/, ''));
  const st = statSync(`/proc/${process.ppid}/root${abs}`, { bigint: true, throwIfNoEntry: false });
  if (!st?.isDirectory()) throw new BandwidthError(`cgroup ${abs} does not exist`);
  return { path: abs, id: st.ino };
}

/** The cgroup ids of a target, and its canonical text (absolute cgroup path, full container id prefix as given). */
export function resolveTarget(t: ClassTarget): { target: ClassTarget; ids: bigint[] } {
  try {
    if (t.kind === 'cgroup') {
      const cg = cgroupViaParent(t.path) ?? resolveCgroup(t.path);
      return { target: { kind: 'cgroup', path: cg.path }, ids: [cg.id] };
    }
    return { target: { kind: 'container', id: t.id.toLowerCase() }, ids: containerCgroupIds(t.id) };
  } catch (e) {
    if (e instanceof NetPolicyError || e instanceof ContainerLookupError) throw new BandwidthError(e.message, { cause: e });
    throw e;
  }
}

/** The interface runs the pinned program on clsact egress, with fq at its root. */
function probeAttached(ifname: string, dir: string, ifindex: number | undefined): { attached: boolean; problem?: string; progId: number } {
  const progId = pinnedProgramId(path.join(dir, 'prog')) ?? 0;
  if (ifindex === undefined) return { attached: false, problem: `interface ${ifname} does not exist`, progId };
  if (!progId) return { attached: false, problem: 'program pin missing', progId };
  if (!clsactFilters(ifname).some((f) => f.direction === 'egress' && f.progId === progId)) {
    return { attached: false, problem: 'the program is not a filter on clsact egress', progId };
  }
  if (!hasFq(ifname)) return { attached: false, problem: 'fq is no longer the root qdisc', progId };
  return { attached: true, progId };
}

/** Detaches what the pinned state attached to ifname (0: interface gone), restores the device, removes the pins. */
function detachPinned(ifname: string, dir: string, ifindex: number): void {
  let info: VigilBwInfo | undefined;
  try {
    const m = BpfMap.fromPin(path.join(dir, 'info'));
    try {
      info = new TypedMap(m, codec.u32, vigilBwInfo).get(0);
    } finally {
      m.close();
    }
  } catch {
    /* a half-made attach: no info */
  }
  const progId = pinnedProgramId(path.join(dir, 'prog'));
  if (ifindex && (!info || info.ifindex === ifindex)) {
    const ours = clsactFilters(ifname).find((f) => f.direction === 'egress' && f.progId !== undefined && f.progId === progId);
    if (ours) {
      try {
        native().tcDetach(ifindex, TcAttachPoint.egress, info?.tc_handle ?? TC_HANDLE, ours.priority);
      } catch (e) {
        throw new BandwidthError(`detach the TC filter from ${ifname}: ${(e as Error).message}`, { cause: e });
      }
    }
    if (info?.created_clsact && clsactFilters(ifname).length === 0) removeClsact(ifname);
    if (info?.installed_fq && hasFq(ifname)) restoreDefaultRoot(ifname);
  }
  removePinDir(dir);
}

function sum(per: readonly VigilBwClassStats[], f: (s: VigilBwClassStats) => bigint): number {
  return per.reduce((a, s) => a + Number(f(s)), 0);
}

/** A bandwidth manager attached to one interface, opened from its pins. */
export class Bandwidth extends PinnedMaps<MapName> {
  /** Interfaces with a bandwidth manager (pinned state), attached or not. */
  static list(): string[] {
    return pinDirs(bandwidthPinRoot());
  }

  static open(ifname: string): Bandwidth {
    const dir = path.join(bandwidthPinRoot(), ifname);
    if (!existsSync(path.join(dir, 'info'))) {
      throw new BandwidthError(`no bandwidth manager on ${ifname} (run \`vigil bandwidth attach ${ifname}\` first)`);
    }
    return new Bandwidth(ifname, dir, MAP_NAMES, (m, cause) => new BandwidthError(`bandwidth ${m}`, { cause }));
  }

  /**
   * Puts fq at the root of ifname, loads the program, attaches it to clsact
   * egress and pins everything. Fails when one is attached already, or the
   * device's root qdisc is not the kernel's default (it is someone's).
   * NotSupportedError when the kernel has no fq.
   */
  static async attach(ifname: string, opts: { horizonNs?: bigint; objectPath?: string } = {}): Promise<Bandwidth> {
    const ifindex = ifindexOf(ifname);
    const horizonNs = opts.horizonNs ?? DEFAULT_HORIZON_NS;
    const dir = path.join(bandwidthPinRoot(), ifname);
    if (existsSync(dir)) {
      if (probeAttached(ifname, dir, ifindex).attached) {
        throw new BandwidthError(`a bandwidth manager is already attached to ${ifname} (vigil bandwidth detach ${ifname})`);
      }
      detachPinned(ifname, dir, ifindex); // left over from an interface that is gone, or a detach that did not finish
    }
    const root = defaultRoot(ifname);
    if (!root) {
      const r = qdiscs(ifname).find((q) => q.root);
      throw new BandwidthError(`${ifname} has a root qdisc (${r?.kind} ${r?.handle}) that is not the kernel's default: Vigil will not replace ` +
        `it (tc qdisc del dev ${ifname} root, then attach)`);
    }
    const obj = await ObjectSpec.fromFile(opts.objectPath ?? bpfObjectPath('bandwidth')).load({ constants: { horizon_ns: horizonNs } });
    const hadClsact = qdiscs(ifname).some((q) => q.kind === 'clsact');
    let installedFq = false;
    mkdirSync(dir, { recursive: true });
    try {
      installFq(ifname, horizonNs);
      installedFq = true;
      const prog = obj.program('vigil_bandwidth');
      // Netlink filters outlive the process: never closed here, removed by detach.
      const att = prog.attachTc(ifindex, 'egress', { handle: TC_HANDLE, priority: TC_PRIORITY });
      native().objPin(prog.fd, path.join(dir, 'prog'));
      new TypedMap(obj.map('info'), codec.u32, vigilBwInfo).set(0, {
        ifindex, tc_handle: att.handle, tc_priority: att.priority, created_clsact: hadClsact ? 0 : 1,
        installed_fq: 1, pad: 0, attached_ns: BigInt(Date.now()) * 1_000_000n, horizon_ns: horizonNs, ifname,
      });
      // `info` last: its pin marks the state complete (open() looks for it).
      for (const m of MAP_NAMES.filter((x) => x !== 'info')) obj.map(m).pin(path.join(dir, m));
      obj.map('info').pin(path.join(dir, 'info'));
    } catch (e) {
      obj.close();
      try {
        detachPinned(ifname, dir, ifindex);
        if (installedFq && hasFq(ifname)) restoreDefaultRoot(ifname);
      } catch { /* the first error is the one to report */ }
      throw e;
    }
    obj.close();
    // Never report an attach that did not happen: the interface must run the pinned program, paced by fq.
    const check = probeAttached(ifname, dir, ifindex);
    if (!check.attached) {
      detachPinned(ifname, dir, ifindex);
      throw new BandwidthError(`${ifname}: the bandwidth manager did not stay attached (${check.problem ?? 'unknown'})`);
    }
    return Bandwidth.open(ifname);
  }

  /** Detaches from ifname, restores its root qdisc, removes the pins. False if there was none. */
  static detach(ifname: string): boolean {
    return detachByName(bandwidthPinRoot(), ifname, (dir, ifindex) => detachPinned(ifname, dir, ifindex));
  }

  private classMap(): TypedMap<number, VigilBwClass> {
    return new TypedMap(this.map('classes'), codec.u32, vigilBwClass);
  }

  private cgroupMap(): TypedMap<bigint, number> {
    return new TypedMap(this.map('cgroup_class'), codec.u64, codec.u32);
  }

  private statsMap(): PerCpuMap<number, VigilBwClassStats> {
    return new PerCpuMap(this.map('class_stats'), codec.u32, vigilBwClassStats);
  }

  /** Used class slots: [id, class]. */
  private *used(): IterableIterator<[number, VigilBwClass]> {
    for (const [id, c] of this.classMap().entries()) if (c.kind !== VIGIL_BW_KIND_FREE) yield [id, c];
  }

  private find(t: ClassTarget): number | undefined {
    const kind = t.kind === 'cgroup' ? VIGIL_BW_KIND_CGROUP : VIGIL_BW_KIND_CONTAINER;
    for (const [id, c] of this.used()) if (c.kind === kind && c.target === targetText(t)) return id;
    return undefined;
  }

  /**
   * Creates the class of a target, or changes its rate, burst and priority in
   * place (counters kept). Takes effect from the next packet.
   */
  set(spec: ClassSpec): ClassStatus {
    return this.setMany([spec])[0]!;
  }

  /**
   * set() for many targets with one read of the class table (a thousand
   * classes are a thousand map writes, not a thousand scans).
   */
  setMany(specs: readonly ClassSpec[]): ClassStatus[] {
    const classes = this.classMap();
    const used = new Map(this.used());
    const byTarget = new Map([...used].map(([id, c]) => [`${c.kind}:${c.target}`, id]));
    const cgroups = this.cgroupMap();
    const stats = this.statsMap();
    let nextFree = 0;
    const out: ClassStatus[] = [];
    for (const spec of specs) {
      const { target, ids } = resolveTarget(spec.target);
      const text = targetText(target);
      if (Buffer.byteLength(text) >= VIGIL_BW_TARGET_LEN) throw new BandwidthError(`${text}: longer than ${VIGIL_BW_TARGET_LEN - 1} bytes`);
      const kind = target.kind === 'cgroup' ? VIGIL_BW_KIND_CGROUP : VIGIL_BW_KIND_CONTAINER;
      let id = byTarget.get(`${kind}:${text}`);
      for (const cg of ids) {
        const other = cgroups.get(cg);
        if (other !== undefined && other !== id) {
          throw new BandwidthError(`cgroup id ${cg} of ${text} is in the class of ${used.get(other)?.target ?? `#${other}`} already (unset it first)`);
        }
      }
      const old = id === undefined ? undefined : used.get(id);
      if (id === undefined) {
        while (used.has(nextFree)) nextFree++;
        if (nextFree >= VIGIL_BW_MAX_CLASSES) throw new BandwidthError(`class table full (${VIGIL_BW_MAX_CLASSES} classes)`);
        id = nextFree;
        // A recycled id starts from zero.
        stats.set(id, Array.from({ length: numPossibleCpus() }, () => ({
          packets: 0n, bytes: 0n, delayed: 0n, horizon_drops: 0n, win_start_ns: 0n, win_bytes: 0n, prev_bytes: 0n, prev_ns: 0n,
        })));
      } else {
        // Cgroups no longer in the container leave the class.
        for (const [cg, c] of cgroups.entries()) if (c === id && !ids.includes(cg)) cgroups.delete(cg);
      }
      const burst = burstBytes(spec.rateBits, spec.burstBytes);
      const cls: VigilBwClass = {
        rate: BigInt(Math.round(spec.rateBits / 8)), burst_ns: burstNs(spec.rateBits, burst), t_last: old?.t_last ?? 0n,
        priority: spec.priority ?? 0, has_priority: spec.priority === undefined ? 0 : 1, kind, pad: 0,
        burst_bytes: BigInt(spec.rateBits ? burst : 0), created_ns: old?.created_ns ?? BigInt(Date.now()) * 1_000_000n, target: text,
      };
      // The class exists before any cgroup points at it.
      classes.set(id, cls);
      used.set(id, cls);
      byTarget.set(`${kind}:${text}`, id);
      for (const cg of ids) cgroups.set(cg, id);
      out.push(this.statusOf(id, cls, ids.map(String), stats.get(id) ?? [], process.hrtime.bigint()));
    }
    return out;
  }

  /** Removes the class of a target: its traffic is no longer limited. False if there was none. */
  unset(t: ClassTarget): boolean {
    let target: ClassTarget = t.kind === 'cgroup' ? t : { kind: 'container', id: t.id.toLowerCase() };
    if (t.kind === 'cgroup') {
      try {
        target = resolveTarget(t).target;
      } catch {
        /* the cgroup is gone: its class is found by the path as given */
      }
    }
    const id = this.find(target);
    if (id === undefined) return false;
    // Cgroups first, so no packet finds a class being freed.
    const cgroups = this.cgroupMap();
    for (const [cg, c] of cgroups.entries()) if (c === id) cgroups.delete(cg);
    const classes = this.classMap();
    const c = classes.get(id)!;
    classes.set(id, { ...c, kind: VIGIL_BW_KIND_FREE, target: '' });
    return true;
  }

  info(): VigilBwInfo {
    return this.infoAs(vigilBwInfo, (m) => new BandwidthError(`bandwidth ${m}`));
  }

  counters(): BandwidthCounters {
    const total = this.perCpuTotals('counters');
    return {
      seen: total(VIGIL_BW_SEEN), unclassified: total(VIGIL_BW_UNCLASSIFIED), classified: total(VIGIL_BW_CLASSIFIED),
      delayed: total(VIGIL_BW_DELAYED), horizonDrops: total(VIGIL_BW_HORIZON_DROP),
    };
  }

  classes(): ClassStatus[] {
    const byClass = new Map<number, string[]>();
    for (const [cg, id] of this.cgroupMap().entries()) byClass.set(id, [...(byClass.get(id) ?? []), String(cg)]);
    const stats = this.statsMap();
    const now = process.hrtime.bigint(); // CLOCK_MONOTONIC, as bpf_ktime_get_ns
    return [...this.used()].map(([id, c]) => this.statusOf(id, c, byClass.get(id) ?? [], stats.get(id) ?? [], now))
      .sort((a, b) => a.id - b.id);
  }

  private statusOf(id: number, c: VigilBwClass, cgroupIds: string[], per: readonly VigilBwClassStats[], now: bigint): ClassStatus {
    const rateBits = Number(c.rate) * 8;
    return {
      id, kind: c.kind === VIGIL_BW_KIND_CGROUP ? 'cgroup' : 'container', target: c.target,
      cgroupIds, rateBits, rate: rateBits ? formatRate(rateBits) : 'unlimited',
      burstBytes: Number(c.burst_bytes), priority: c.has_priority ? c.priority : null,
      createdAt: new Date(Number(c.created_ns / 1_000_000n)).toISOString(),
      packets: sum(per, (s) => s.packets), bytes: sum(per, (s) => s.bytes), delayed: sum(per, (s) => s.delayed),
      horizonDrops: sum(per, (s) => s.horizon_drops), currentRateBits: currentRate(per, now),
    };
  }

  status(): BandwidthStatus {
    const i = this.info();
    const ifindex = this.ifindexNow();
    const same = ifindex !== undefined && ifindex === i.ifindex;
    const probe = probeAttached(this.ifname, this.dir, same ? ifindex : undefined);
    if (ifindex !== undefined && !same) probe.problem = `${this.ifname} is a different interface now (ifindex ${ifindex}, was ${i.ifindex})`;
    let fq: FqStats | null = null;
    if (same) {
      try {
        fq = fqStats(this.ifname);
      } catch (e) {
        if (!(e instanceof TcError)) throw e;
      }
    }
    return {
      interface: this.ifname, ifindex: i.ifindex, attached: probe.attached, ...(probe.problem ? { problem: probe.problem } : {}),
      programId: probe.progId, attachedAt: new Date(Number(i.attached_ns / 1_000_000n)).toISOString(),
      horizonMs: Number(i.horizon_ns / 1_000_000n), counters: this.counters(), fq, classes: this.classes(),
    };
  }
}
