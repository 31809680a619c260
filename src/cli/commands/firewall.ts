// vigil firewall: the XDP firewall (src/network/firewall.ts). State is pinned
// in bpffs, so each subcommand is a short process that changes the running
// program's maps.
import { parseSubcommand } from '../flags.js';
import type { Command } from '../command.js';
import { UsageError, explainingErrors, printStatuses } from '../command.js';
import { requireNetworkCapabilities } from '../privileges.js';
import { Firewall, FirewallError, type FirewallStatus, type XdpMode } from '../../network/firewall.js';
import { CidrError, parseCidr } from '../../kernel/addr.js';
import { VIGIL_FW_MAX_SOURCES } from '../../generated/firewall.js';

const usage = `usage: vigil firewall <subcommand> [options]

An XDP firewall that drops packets by source address before the network stack
sees them. Rules change at run time (map updates, no reload) and persist in
bpffs (/sys/fs/bpf/vigil/firewall/IFACE/) until detach, so every subcommand
below can run from a new shell. In a named network namespace (ip netns exec
NS vigil firewall ...) the interface is that namespace's, its state is under
/sys/fs/bpf/vigil/firewall-netns/NS/IFACE/ in the bpffs that outlives the
command, and it persists across invocations there the same way.

subcommands:
  attach IFACE [--mode native|generic]
                      load and attach the firewall (no rules: everything passes).
                      Default: a bpf_link, in the driver when it supports XDP;
                      native: insist on driver mode; generic: skb mode (netlink)
  detach IFACE        detach it and remove its rules and counters
  block CIDR...       drop packets from these sources (IPv4 or IPv6; a bare
                      address is a /32 or /128)
  unblock CIDR...     remove block rules
  allow CIDR...       exceptions: sources that always pass (they win over block
                      rules and are not rate limited)
  unallow CIDR...     remove exceptions
  ratelimit --pps N [--burst N]
                      at most N packets/s per source address (token bucket of
                      --burst packets, default N); over it, packets are dropped
  ratelimit --off     no rate limit
  status [--json] [--top N]
                      rules with their drop (block) or pass (allow) counters,
                      totals, the rate limit, the top N sources by drops (10)

options of block/unblock/allow/unallow/ratelimit/status:
  -i, --iface IFACE   the firewall to change; may be left out when only one
                      interface has one (status: default all)
  -h, --help

Rules match the source address only. Every packet is counted per CPU;
per-source drops are kept for the ${VIGIL_FW_MAX_SOURCES} most recent sources (LRU).`;

function firewallFor(iface: string | undefined): Firewall {
  if (iface) return Firewall.open(iface);
  const all = Firewall.list();
  if (all.length === 0) throw new UsageError('no firewall is attached (vigil firewall attach IFACE)');
  if (all.length > 1) throw new UsageError(`firewalls on ${all.join(', ')}: choose one with --iface`);
  return Firewall.open(all[0]!);
}

function intArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name}: expected a positive integer, got "${v}"`);
  return n;
}

function formatStatus(s: FirewallStatus): string {
  const c = s.counters;
  const lines = [
    `${s.interface} (ifindex ${s.ifindex}): XDP ${s.mode}, program ${s.programId}, ` +
      `${s.attached ? 'attached' : `NOT ATTACHED (${s.problem ?? 'unknown'})`} since ${s.attachedAt}`,
    `  packets: ${c.seen} seen, ${c.passed} passed, ${c.droppedBlocked} dropped by block rules, ` +
      `${c.droppedRateLimited} dropped by the rate limit; ${c.allowed} allowed by exceptions, ` +
      `${c.notIp} not IP, ${c.malformed} malformed`,
    `  rate limit: ${s.ratelimit ? `${s.ratelimit.pps} packets/s per source, burst ${s.ratelimit.burst}` : 'off'}` +
      ` (${s.bucketsTracked} sources tracked)`,
  ];
  if (s.rules.length === 0) lines.push('  rules: none');
  else {
    lines.push('  rules:');
    const w = Math.max(4, ...s.rules.map((r) => r.cidr.length));
    lines.push(`    ${'ACTION'.padEnd(6)}  ${'CIDR'.padEnd(w)}  ${'PACKETS'.padStart(12)}  ${'BYTES'.padStart(14)}`);
    for (const r of s.rules) {
      lines.push(`    ${r.action.padEnd(6)}  ${r.cidr.padEnd(w)}  ${String(r.packets).padStart(12)}  ${String(r.bytes).padStart(14)}`);
    }
  }
  if (s.topSources.length) {
    lines.push(`  top sources by drops (${s.sourcesTracked} with drops):`);
    const w = Math.max(6, ...s.topSources.map((x) => x.address.length));
    lines.push(`    ${'SOURCE'.padEnd(w)}  ${'BLOCKED'.padStart(12)}  ${'RATE-LIMITED'.padStart(12)}  ${'BYTES'.padStart(14)}`);
    for (const x of s.topSources) {
      lines.push(`    ${x.address.padEnd(w)}  ${String(x.blocked).padStart(12)}  ${String(x.rateLimited).padStart(12)}  ` +
        `${String(x.bytes).padStart(14)}`);
    }
  }
  return lines.join('\n');
}

const IFACE = { iface: { type: 'string', short: 'i' } } as const;

/** Each subcommand's flags: a flag of another subcommand is refused, not ignored. */
const SUBCOMMANDS = {
  attach: { mode: { type: 'string' } },
  detach: {},
  block: IFACE,
  unblock: IFACE,
  allow: IFACE,
  unallow: IFACE,
  ratelimit: { ...IFACE, pps: { type: 'string' }, burst: { type: 'string' }, off: { type: 'boolean' } },
  status: { ...IFACE, json: { type: 'boolean' }, top: { type: 'string' } },
} as const;
type Subcommand = keyof typeof SUBCOMMANDS;

/**
 * Everything about the arguments that can be checked without the kernel,
 * checked before anything else: a typo is a usage error (status 2) for
 * anyone, privileged or not. The subcommands below rely on it.
 */
function checkArgs(sub: Subcommand, positionals: string[], values: { mode?: string; pps?: string; burst?: string; off?: boolean;
  top?: string }, noPositionals: () => void): void {
  switch (sub) {
    case 'attach':
    case 'detach':
      if (positionals.length !== 1) throw new UsageError(`${sub}: give one interface`);
      if (values.mode !== undefined && values.mode !== 'native' && values.mode !== 'generic') {
        throw new UsageError(`--mode: unknown mode "${values.mode}"; available: native, generic`);
      }
      return;
    case 'block':
    case 'unblock':
    case 'allow':
    case 'unallow':
      if (positionals.length === 0) throw new UsageError(`${sub}: give at least one CIDR`);
      for (const c of positionals) {
        try {
          parseCidr(c);
        } catch (e) {
          if (e instanceof CidrError) throw new UsageError(e.message);
          throw e;
        }
      }
      return;
    case 'ratelimit':
      noPositionals();
      if (values.off) {
        if (values.pps !== undefined || values.burst !== undefined) throw new UsageError('ratelimit: --off takes no --pps/--burst');
        return;
      }
      if (intArg('pps', values.pps) === undefined) throw new UsageError('ratelimit: give --pps N (or --off)');
      intArg('burst', values.burst);
      return;
    case 'status':
      noPositionals();
      intArg('top', values.top);
      return;
  }
}

async function run(argv: string[]): Promise<number> {
  const { sub, positionals, values: parsed } = parseSubcommand(argv, SUBCOMMANDS);
  const values = parsed as { iface?: string; mode?: string; pps?: string; burst?: string; off?: boolean; json?: boolean;
    top?: string };
  const noPositionals = (): void => {
    if (positionals.length) throw new UsageError(`${sub}: unexpected argument ${positionals[0]}`);
  };
  checkArgs(sub, positionals, values, noPositionals);
  // attach and detach load or unload programs; the rest read and write pinned maps.
  requireNetworkCapabilities('firewall', sub === 'attach' || sub === 'detach', 'cannot read or change the firewall state (pinned maps)', argv);
  const out = (s: string): void => { process.stdout.write(`${s}\n`); };
  return explainingErrors('firewall', [FirewallError, CidrError], async () => {
    switch (sub) {
      case 'attach': {
        const fw = await Firewall.attach(positionals[0]!, { mode: values.mode as XdpMode | undefined });
        try {
          const st = fw.status();
          if (!st.attached) {
            process.stderr.write(`vigil firewall: ${st.interface}: not attached after all (${st.problem ?? 'unknown'})\n`);
            return 1;
          }
          out(`firewall attached to ${st.interface} (XDP ${st.mode}, program ${st.programId})`);
        } finally {
          fw.close();
        }
        return 0;
      }
      case 'detach': {
        if (!Firewall.detach(positionals[0]!)) {
          process.stderr.write(`vigil firewall: no firewall on ${positionals[0]}\n`);
          return 1;
        }
        out(`firewall detached from ${positionals[0]}`);
        return 0;
      }
      case 'block':
      case 'allow': {
        using fw = firewallFor(values.iface);
        const added = fw.add(sub, positionals);
        out(`${sub === 'block' ? 'blocking' : 'allowing'} ${added.join(' ')} on ${fw.ifname}`);
        return 0;
      }
      case 'unblock':
      case 'unallow': {
        using fw = firewallFor(values.iface);
        const action = sub === 'unblock' ? 'block' : 'allow';
        const missing = fw.remove(action, positionals);
        for (const m of missing) process.stderr.write(`vigil firewall: ${m} was not ${action === 'block' ? 'blocked' : 'allowed'}\n`);
        return missing.length ? 1 : 0;
      }
      case 'ratelimit': {
        if (values.off) {
          using fw = firewallFor(values.iface);
          fw.rateLimitOff();
          out(`rate limit off on ${fw.ifname}`);
          return 0;
        }
        const pps = intArg('pps', values.pps)!; // checked by checkArgs
        const burst = intArg('burst', values.burst) ?? pps;
        using fw = firewallFor(values.iface);
        fw.setRateLimit(pps, burst);
        out(`rate limit on ${fw.ifname}: ${pps} packets/s per source, burst ${burst}`);
        return 0;
      }
      case 'status': {
        const top = intArg('top', values.top) ?? 10;
        return printStatuses({
          names: values.iface ? [values.iface] : Firewall.list(), json: values.json === true, key: 'firewalls', format: formatStatus,
          none: 'no firewall is attached',
          read: (n) => {
            using fw = Firewall.open(n);
            return fw.status({ top });
          },
        });
      }
    }
  });
}

export const command: Command = {
  name: 'firewall',
  summary: 'XDP firewall: block/allow CIDRs, per-source rate limit, drop counters',
  usage,
  run,
};
