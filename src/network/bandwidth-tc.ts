// The qdisc side of the bandwidth manager, through iproute2's `tc` (the
// runtime attaches BPF filters through libbpf, but libbpf does not make
// qdiscs): fq on the device, its statistics, the filters on the clsact hook.
// Every call runs in this process's network namespace, like if_nametoindex.
import { execFileSync } from 'node:child_process';
import { NotSupportedError } from '../bpf/errors.js';

export class TcError extends Error {
  override readonly name = 'TcError';
}

/** What the kernel says when a qdisc kind is not built (CONFIG_NET_SCH_FQ off and no module). */
const UNKNOWN_QDISC = /Specified qdisc kind is unknown|Unknown qdisc/i;

/** Bound on one tc or ip call: netlink answers in milliseconds; a wedged one must not hang the command. */
const TIMEOUT_MS = 30_000;

function tcRun(args: readonly string[]): string {
  try {
    return execFileSync('tc', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: TIMEOUT_MS });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new TcError('tc (iproute2) is not installed');
    const reason = (err.stderr ?? '').trim().split('\n')[0] || err.message;
    if (UNKNOWN_QDISC.test(reason)) {
      throw new NotSupportedError('the fq qdisc', 'the kernel has no sch_fq (CONFIG_NET_SCH_FQ), which paces departure times');
    }
    throw new TcError(`tc ${args.join(' ')}: ${reason}`);
  }
}

function tcJson(args: readonly string[]): Record<string, unknown>[] {
  const out = tcRun(['-j', ...args]).trim();
  if (!out) return [];
  const parsed = JSON.parse(out) as unknown;
  return Array.isArray(parsed) ? (parsed as Record<string, unknown>[]) : [];
}

export interface Qdisc {
  kind: string;
  handle: string;
  parent?: string;
  root: boolean;
}

export function qdiscs(ifname: string): Qdisc[] {
  return tcJson(['qdisc', 'show', 'dev', ifname]).map((q) => ({
    kind: String(q.kind), handle: String(q.handle), root: q.root === true,
    ...(q.parent !== undefined ? { parent: String(q.parent) } : {}),
  }));
}

/**
 * The root qdisc when it is the kernel's default for the device (handle 0:,
 * which no qdisc made with tc has): safe to replace, and `tc qdisc del root`
 * brings it back. Undefined when someone configured the root.
 */
export function defaultRoot(ifname: string): Qdisc | undefined {
  // A device that was never up shows no qdisc: it will get the default one.
  const root = qdiscs(ifname).find((q) => q.root) ?? { kind: 'noqueue', handle: '0:', root: true };
  return root.handle === '0:' ? root : undefined;
}

/** Transmit queues of the device (ip -d link). */
function txQueues(ifname: string): number {
  const out = execFileSync('ip', ['-j', '-d', 'link', 'show', 'dev', ifname], { encoding: 'utf8', timeout: TIMEOUT_MS });
  const link = (JSON.parse(out) as Array<{ num_tx_queues?: number }>)[0];
  return Math.max(1, link?.num_tx_queues ?? 1);
}

/** Handle of the mq root Vigil puts over per-queue fq on multi-queue devices. */
const MQ_HANDLE = '7669:';

/**
 * fq at the root (one per transmit queue under mq on a multi-queue device),
 * dropping packets stamped later than now + horizon. NotSupportedError when the kernel has no fq.
 */
export function installFq(ifname: string, horizonNs: bigint): void {
  const fq = ['fq', 'horizon', `${horizonNs / 1000n}us`, 'horizon_drop'];
  const queues = txQueues(ifname);
  if (queues === 1) {
    tcRun(['qdisc', 'replace', 'dev', ifname, 'root', ...fq]);
    return;
  }
  tcRun(['qdisc', 'replace', 'dev', ifname, 'root', 'handle', MQ_HANDLE, 'mq']);
  try {
    for (let q = 1; q <= queues; q++) tcRun(['qdisc', 'replace', 'dev', ifname, 'parent', `${MQ_HANDLE}${q.toString(16)}`, ...fq]);
  } catch (e) {
    restoreDefaultRoot(ifname); // not half an fq: the mq goes too
    throw e;
  }
}

/** Whether fq paces the device's root (directly or under Vigil's mq). */
export function hasFq(ifname: string): boolean {
  const all = qdiscs(ifname);
  const root = all.find((q) => q.root);
  if (root?.kind === 'fq') return true;
  return root?.kind === 'mq' && root.handle === MQ_HANDLE && all.some((q) => q.kind === 'fq');
}

/** Deletes the root qdisc: the kernel puts the device's default back. */
export function restoreDefaultRoot(ifname: string): void {
  tcRun(['qdisc', 'del', 'dev', ifname, 'root']);
}

export interface FqStats {
  /** Packets fq dropped because their departure time was beyond its horizon. */
  horizonDrops: number;
  /** Packets whose departure time fq capped to its horizon (horizon_cap mode). */
  horizonCaps: number;
  /** Every drop of the fq qdiscs (the horizon's included). */
  drops: number;
  /** Packets fq holds now, waiting for their time. */
  backlogPackets: number;
}

function sumKey(value: unknown, key: string): number {
  if (Array.isArray(value)) return value.reduce((a: number, v) => a + sumKey(v, key), 0);
  if (value && typeof value === 'object') {
    let n = 0;
    for (const [k, v] of Object.entries(value)) n += k === key && typeof v === 'number' ? v : sumKey(v, key);
    return n;
  }
  return 0;
}

/** Statistics of the fq qdiscs on the device (tc prints a counter only when it is not zero). */
export function fqStats(ifname: string): FqStats {
  const fq = tcJson(['-s', 'qdisc', 'show', 'dev', ifname]).filter((q) => q.kind === 'fq');
  return {
    horizonDrops: sumKey(fq, 'horizon_drops'), horizonCaps: sumKey(fq, 'horizon_caps'),
    drops: fq.reduce((a, q) => a + (typeof q.drops === 'number' ? q.drops : 0), 0),
    backlogPackets: fq.reduce((a, q) => a + (typeof q.qlen === 'number' ? q.qlen : 0), 0),
  };
}

export interface TcFilter {
  direction: 'ingress' | 'egress';
  kind: string;
  priority: number;
  handle?: string;
  /** The BPF program's id, for a bpf filter. */
  progId?: number;
}

/** Filters on the clsact hook of the device, both directions; none when it has no clsact. */
export function clsactFilters(ifname: string): TcFilter[] {
  if (!qdiscs(ifname).some((q) => q.kind === 'clsact')) return [];
  const out: TcFilter[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    for (const f of tcJson(['filter', 'show', 'dev', ifname, direction])) {
      const options = f.options as { handle?: unknown; prog?: { id?: unknown } } | undefined;
      if (options === undefined) continue; // the line that only names the filter's priority
      const progId = options.prog?.id;
      out.push({
        direction, kind: String(f.kind), priority: Number(f.pref),
        ...(options.handle !== undefined ? { handle: String(options.handle) } : {}),
        ...(typeof progId === 'number' ? { progId } : {}),
      });
    }
  }
  return out;
}

/** Removes the clsact qdisc (and with it every filter on it). */
export function removeClsact(ifname: string): void {
  tcRun(['qdisc', 'del', 'dev', ifname, 'clsact']);
}

let fqProbe: Promise<{ status: 'available' | 'unsupported' | 'unknown'; reason?: string }> | undefined;

/**
 * Whether the kernel has fq, tried on the loopback of a network namespace
 * made for the probe and deleted after it (never on a device of anyone's).
 * Memoised; three-valued.
 */
export function probeFq(): Promise<{ status: 'available' | 'unsupported' | 'unknown'; reason?: string }> {
  fqProbe ??= Promise.resolve().then(() => {
    const ns = `vigil-fq-probe-${process.pid}`;
    try {
      execFileSync('ip', ['netns', 'add', ns], { stdio: 'ignore' });
    } catch (e) {
      return { status: 'unknown' as const, reason: `ip netns add: ${(e as Error).message.split('\n')[0]}` };
    }
    try {
      tcRun(['-n', ns, 'qdisc', 'add', 'dev', 'lo', 'root', 'fq']);
      return { status: 'available' as const };
    } catch (e) {
      if (e instanceof NotSupportedError) return { status: 'unsupported' as const, reason: e.reason };
      return { status: 'unknown' as const, reason: (e as Error).message };
    } finally {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch { /* already gone */ }
    }
  });
  return fqProbe;
}
