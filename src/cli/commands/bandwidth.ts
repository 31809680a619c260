// vigil bandwidth: egress rate limits per cgroup or container, paced by fq
// from the departure times a TC program stamps (src/network/bandwidth.ts).
// State is pinned in bpffs, so each subcommand is a short process that
// changes the running program's maps.
import { byteSize, parseSubcommand } from '../flags.js';
import type { Command } from '../command.js';
import { explainingErrors, printStatuses, UsageError } from '../command.js';
import { requireNetworkCapabilities } from '../privileges.js';
import {
  Bandwidth, BandwidthError, type BandwidthStatus, type ClassSpec, type ClassTarget,
} from '../../network/bandwidth.js';
import { TcError } from '../../network/bandwidth-tc.js';
import { formatRate, parsePriority, parseRate, PRIORITY_CONTROL, PRIORITY_NAMES } from '../../network/bandwidth-rate.js';
import { VIGIL_BW_MAX_CLASSES } from '../../generated/bandwidth.js';

const usage = `usage: vigil bandwidth <subcommand> [options]

Egress bandwidth limits per cgroup or per container. A TC program on the
interface's egress gives each packet of a limited class its Earliest
Departure Time and the fq qdisc, which attach puts at the device's root,
sends it no earlier: no user-space proxy, no tc class per limit, and TCP
slows down without drops. Rules change at run time (map updates, no
reload) and persist in bpffs (/sys/fs/bpf/vigil/bandwidth/IFACE/) until
detach. Under ip netns exec NS, the interface is that namespace's and the
state is under /sys/fs/bpf/vigil/bandwidth-netns/NS/IFACE/.

subcommands:
  attach IFACE        put fq at the root of IFACE (only over the kernel's
                      default qdisc) and attach the program (no classes:
                      nothing is limited)
  detach IFACE        detach it, remove every class, restore the default qdisc
  set (--cgroup PATH | --container ID) [--rate RATE] [--burst SIZE] [--priority P]
                      create or change the class of a cgroup (and every cgroup
                      below it) or of a container (all its cgroups); a change
                      holds from the next packet
  unset (--cgroup PATH | --container ID)
                      remove the class: its traffic is no longer limited
  status [--json]     classes with their rate, bytes, packets, delayed packets,
                      horizon drops and current rate; fq's own horizon drops

options of set:
  --rate RATE         bits/s as tc writes them: 10mbit, 500kbit, 1gbit (also
                      kibit/mibit; kbps/mbps are bytes/s)
  --burst SIZE        bytes sent at once after idleness: 64KiB, 1MiB (default:
                      10 ms at the rate)
  --priority P        skb priority 0..15 or ${Object.keys(PRIORITY_NAMES).join(', ')}: fq's priomap
                      maps it to a band (kernels >= 6.7; older fq has one band)
  -i, --iface IFACE   the interface; may be left out when only one has a
                      bandwidth manager (status: default all)
  -h, --help

A set needs --rate or --priority. A cgroup PATH is under the cgroup v2 mount
or relative to its root; a container ID is a prefix of its id. At most
${VIGIL_BW_MAX_CLASSES} classes per interface. Packets that would leave more than the
horizon (2 s) from now are dropped and counted.`;

const IFACE = { iface: { type: 'string', short: 'i' } } as const;
const TARGET = { ...IFACE, cgroup: { type: 'string' }, container: { type: 'string' } } as const;

/** Each subcommand's flags: a flag of another subcommand is refused, not ignored. */
const SUBCOMMANDS = {
  attach: {},
  detach: {},
  set: { ...TARGET, rate: { type: 'string' }, burst: { type: 'string' }, priority: { type: 'string' } },
  unset: TARGET,
  status: { ...IFACE, json: { type: 'boolean' } },
} as const;
type Subcommand = keyof typeof SUBCOMMANDS;

interface Values {
  iface?: string;
  cgroup?: string;
  container?: string;
  rate?: string;
  burst?: string;
  priority?: string;
  json?: boolean;
}

function target(v: Values): ClassTarget {
  if ((v.cgroup === undefined) === (v.container === undefined)) throw new UsageError('give one of --cgroup PATH or --container ID');
  if (v.cgroup !== undefined) {
    if (!v.cgroup) throw new UsageError('--cgroup: an empty path');
    return { kind: 'cgroup', path: v.cgroup };
  }
  if (!/^[0-9a-fA-F]{1,64}$/.test(v.container!)) throw new UsageError(`--container: expected a container id (hex digits), got "${v.container}"`);
  return { kind: 'container', id: v.container! };
}

/** The class a `set` asks for: every value checked here, before the kernel is asked anything. */
function classSpec(v: Values): ClassSpec {
  const t = target(v);
  if (v.rate === undefined && v.priority === undefined) throw new UsageError('set: give --rate RATE, --priority P, or both');
  let rateBits = 0;
  if (v.rate !== undefined) {
    const r = parseRate(v.rate);
    if ('error' in r) throw new UsageError(`--rate: ${r.error}`);
    rateBits = r.bits;
  }
  let priority: number | undefined;
  if (v.priority !== undefined) {
    const p = parsePriority(v.priority);
    if ('error' in p) throw new UsageError(`--priority: ${p.error}`);
    if (p.priority === PRIORITY_CONTROL && rateBits) {
      throw new UsageError(`--priority: ${PRIORITY_CONTROL} (control) goes to fq's internal queue, which is never paced: it cannot have a --rate`);
    }
    priority = p.priority;
  }
  if (v.burst !== undefined && !rateBits) throw new UsageError('--burst: only with --rate');
  const burst = v.burst === undefined ? undefined : byteSize('--burst', v.burst, 0, 1);
  return { target: t, rateBits, ...(burst !== undefined ? { burstBytes: burst } : {}), ...(priority !== undefined ? { priority } : {}) };
}

function checkArgs(sub: Subcommand, positionals: string[], v: Values): void {
  if (sub === 'attach' || sub === 'detach') {
    if (positionals.length !== 1) throw new UsageError(`${sub}: give one interface`);
    return;
  }
  if (positionals.length) throw new UsageError(`${sub}: unexpected argument ${positionals[0]}`);
  if (sub === 'set') classSpec(v);
  if (sub === 'unset') target(v);
}

function managerFor(iface: string | undefined): Bandwidth {
  const names = iface ? [iface] : Bandwidth.list();
  if (names.length === 1) return Bandwidth.open(names[0]!);
  throw new UsageError(names.length ? `bandwidth managers on ${names.join(', ')}: choose one with --iface`
    : 'no bandwidth manager is attached (vigil bandwidth attach IFACE)');
}

function formatStatus(s: BandwidthStatus): string {
  const c = s.counters;
  const lines = [
    `${s.interface} (ifindex ${s.ifindex}): TC egress program ${s.programId}, fq horizon ${s.horizonMs} ms, ` +
      `${s.attached ? 'attached' : `NOT ATTACHED (${s.problem ?? 'unknown'})`} since ${s.attachedAt}`,
    `  packets: ${c.seen} seen, ${c.classified} in classes (${c.delayed} delayed, ${c.horizonDrops} dropped past the horizon), ` +
      `${c.unclassified} in no class`,
  ];
  if (s.fq) lines.push(`  fq: ${s.fq.horizonDrops} horizon drops, ${s.fq.drops} drops in all, ${s.fq.backlogPackets} packets waiting`);
  if (s.classes.length === 0) {
    lines.push('  classes: none');
    return lines.join('\n');
  }
  const rows = s.classes.map((k) => [String(k.id), `${k.kind} ${k.target}`, k.rate, k.rateBits ? String(k.burstBytes) : '-',
    k.priority === null ? '-' : String(k.priority), formatRate(k.currentRateBits), String(k.packets), String(k.bytes),
    String(k.delayed), String(k.horizonDrops)]);
  const head = ['ID', 'CLASS', 'RATE', 'BURST', 'PRIO', 'NOW', 'PACKETS', 'BYTES', 'DELAYED', 'HORIZON-DROPS'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string => `    ${r.map((x, i) => (i === 1 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ')}`;
  lines.push('  classes:', fmt(head), ...rows.map(fmt));
  return lines.join('\n');
}

async function run(argv: string[]): Promise<number> {
  const parsed = parseSubcommand(argv, SUBCOMMANDS);
  const sub = parsed.sub;
  const v = parsed.values as Values;
  checkArgs(sub, parsed.positionals, v);
  // attach and detach load programs and change qdiscs; the rest read and write pinned maps.
  requireNetworkCapabilities('bandwidth', sub === 'attach' || sub === 'detach', 'cannot read or change the bandwidth state (pinned maps)', argv);
  return explainingErrors('bandwidth', [BandwidthError, TcError], () => execute(sub, v, parsed.positionals[0]));
}

async function execute(sub: Subcommand, v: Values, iface: string | undefined): Promise<number> {
  const out = (s: string): void => { process.stdout.write(`${s}\n`); };
  switch (sub) {
    case 'attach': {
      using bw = await Bandwidth.attach(iface!);
      const st = bw.status();
      if (!st.attached) {
        process.stderr.write(`vigil bandwidth: ${st.interface}: not attached after all (${st.problem ?? 'unknown'})\n`);
        return 1;
      }
      out(`bandwidth manager attached to ${st.interface} (TC egress program ${st.programId}, fq at the root)`);
      return 0;
    }
    case 'detach':
      if (!Bandwidth.detach(iface!)) {
        process.stderr.write(`vigil bandwidth: no bandwidth manager on ${iface}\n`);
        return 1;
      }
      out(`bandwidth manager detached from ${iface} (default qdisc restored)`);
      return 0;
    case 'set': {
      using bw = managerFor(v.iface);
      const c = bw.set(classSpec(v));
      out(`${bw.ifname}: class ${c.id} (${c.kind} ${c.target}, ${c.cgroupIds.length} cgroup${c.cgroupIds.length === 1 ? '' : 's'}): ` +
        `rate ${c.rate}${c.rateBits ? `, burst ${c.burstBytes} bytes` : ''}${c.priority === null ? '' : `, priority ${c.priority}`}`);
      return 0;
    }
    case 'unset': {
      using bw = managerFor(v.iface);
      const t = target(v);
      if (!bw.unset(t)) {
        process.stderr.write(`vigil bandwidth: ${bw.ifname}: no class for ${t.kind === 'cgroup' ? t.path : t.id}\n`);
        return 1;
      }
      out(`${bw.ifname}: class of ${t.kind} ${t.kind === 'cgroup' ? t.path : t.id} removed`);
      return 0;
    }
    case 'status':
      return printStatuses({
        names: v.iface ? [v.iface] : Bandwidth.list(), json: v.json === true, key: 'interfaces', format: formatStatus,
        none: 'no bandwidth manager is attached',
        read: (n) => {
          using bw = Bandwidth.open(n);
          return bw.status();
        },
      });
  }
}

export const command: Command = {
  name: 'bandwidth',
  summary: 'egress rate limits per cgroup or container (TC + EDT, fq), per-class counters',
  usage,
  run,
};
