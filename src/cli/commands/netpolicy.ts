// vigil netpolicy: per-cgroup network policy (src/network/netpolicy.ts).
// Policies persist in bpffs after `apply` returns; `watch` streams their
// denials as DENIED flows; `remove` detaches.
import { parseSubcommand } from '../flags.js';
import { readFileSync } from 'node:fs';
import type { Command } from '../command.js';
import { UsageError, explainingErrors } from '../command.js';
import { requireNetworkCapabilities } from '../privileges.js';
import { parsePolicy, PolicyError, type PolicySpec } from '../../network/netpolicy-spec.js';
import {
  applyPolicy, DenialWatch, ForegroundPolicy, NetPolicyError, policyStatus, removeAllPolicies, removePolicy, type PolicyStatus,
} from '../../network/netpolicy.js';
import type { FlowRecord } from '../../network/flow-types.js';
import { flowToJson, formatFlowCompact } from '../../network/flow-format.js';

const usage = `usage: vigil netpolicy <subcommand> [options]

Network policy for one cgroup (a container, a systemd unit, any cgroup v2
directory) and its descendants, enforced in the kernel:
  - outbound TCP connects and UDP connects/sends are judged in the process
    that makes them (cgroup connect4/6, sendmsg4/6): a denied one fails with
    EPERM;
  - packets are judged at the cgroup's sockets (cgroup_skb): new inbound TCP
    connections and datagrams to unconnected UDP sockets (ingress), TCP SYNs
    and UDP datagrams leaving (egress).
Every denial is a flow with verdict DENIED and the process that tried.

A policy persists (pinned in /sys/fs/bpf/vigil/netpolicy/CGROUP_ID/) until
\`remove\`; applying a file again to the same cgroup replaces its rules at once.

subcommands:
  apply FILE [--foreground] [-o json|compact]
                      check FILE and apply it. --foreground: the policy lives
                      as long as this process (nothing pinned; not in status):
                      stream denials until Ctrl-C; killed any way, even with
                      kill -9, the kernel removes the policy with it
  status [CGROUP] [--json]
                      policies with their rules, hits and per-hook counters
  remove CGROUP | --all
                      detach a policy (CGROUP: path, or id as in status)
  watch [CGROUP...] [-o json|compact] [--count N]
                      stream denials as flows (JSON lines {"flow":..,"node_name":..,
                      "time":..} like hubble observe -o json, or compact lines);
                      without CGROUP every policy, including ones applied later.
                      One watcher per policy: a ring buffer has one reader
                      position, so two watchers would split the stream

policy file (YAML):
  cgroup: system.slice/web.service   # relative to the cgroup v2 root, or absolute
  default: deny                      # allow | deny: when no rule matches
  rules:                             # in order: the first matching rule decides
    - action: allow                  # allow | deny
      cidr: [10.0.0.0/8, fd00::/8]   # peer address(es); absent: any
      ports: [53, 8000-8080]         # destination port(s); absent: any
      protocol: udp                  # tcp | udp; absent: both
      direction: egress              # egress | ingress; absent: both
  For egress the CIDR and port are the remote end connected or sent to; for
  ingress the remote (source) address and the local port (as in Kubernetes
  NetworkPolicy). TCP and UDP only: other protocols pass. UDP is stateless:
  replies to a UDP client on an unconnected socket are ingress traffic.

options:
  -o, --output json|compact   (default compact on a terminal, json otherwise)
  --json                      status as JSON
  -h, --help`;

function printer(format: string | undefined): (f: FlowRecord) => void {
  const fmt = format ?? (process.stdout.isTTY ? 'compact' : 'json');
  if (fmt !== 'json' && fmt !== 'compact') throw new UsageError(`--output: unknown format "${fmt}"; available: json, compact`);
  return fmt === 'json'
    ? (f) => process.stdout.write(`${flowToJson(f)}\n`)
    : (f) => process.stdout.write(`${formatFlowCompact(f)}\n`);
}

function formatStatus(s: PolicyStatus): string {
  const lines = [
    `${s.cgroupPath} (cgroup id ${s.cgroupId})${s.cgroupExists ? '' : ' [CGROUP GONE]'}` +
      `${s.attached ? '' : ' [NOT ATTACHED]'}: default ${s.default}, from ${s.source}, applied ${s.appliedAt}`,
  ];
  s.rules.forEach((r, i) => lines.push(`  ${String(i).padStart(3)}  ${r.text}  (file rule ${r.origin}; ${r.hits} hits)`));
  lines.push(`  default  ${s.default}  (${s.defaultHits} hits)`);
  lines.push(`  hooks: ${s.counters.map((c) => `${c.hook} ${c.allowed} allowed/${c.denied} denied`).join(', ')}`);
  return lines.join('\n');
}

/** Streams until SIGINT/SIGTERM (or count flows); resolves when done. */
function stream(watch: (onFlow: (f: FlowRecord) => void) => { close(): void }, print: (f: FlowRecord) => void,
  count: number | undefined): Promise<void> {
  return new Promise((resolve) => {
    let n = 0;
    let w: { close(): void } | undefined;
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      clearInterval(keep);
      w?.close();
      resolve();
    };
    // The readers' timers are unref'd: this keeps the process alive until a signal.
    const keep = setInterval(() => {}, 1 << 30);
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    w = watch((f) => {
      print(f);
      if (count !== undefined && ++n >= count) setImmediate(stop);
    });
  });
}

/**
 * apply --foreground: the policy lives in this process (ForegroundPolicy: links
 * held by its descriptors, nothing pinned) and streams its denials until
 * SIGINT/SIGTERM. Killed any other way, the kernel removes it all the same.
 */
async function foreground(spec: PolicySpec, file: string, print: (f: FlowRecord) => void): Promise<number> {
  using policy = await ForegroundPolicy.apply(spec);
  process.stderr.write(`vigil netpolicy: applied ${file} on ${policy.cgroupPath} (cgroup id ${policy.cgroupId}) ` +
    `while this process runs: default ${spec.default}, ${spec.rules.length} rules (${policy.entries} kernel entries)\n`);
  await stream((onFlow) => {
    policy.watch(onFlow, (n) => process.stderr.write(`vigil netpolicy: ${n} denials lost (ring buffer full)\n`));
    return { close: () => policy.close() };
  }, print, undefined);
  process.stderr.write(`vigil netpolicy: removed the policy on ${policy.cgroupPath}\n`);
  return 0;
}

function watchCount(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const count = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(count) || count < 1) throw new UsageError(`--count: expected a positive integer, got "${v}"`);
  return count;
}

const OUTPUT = { output: { type: 'string', short: 'o' } } as const;

/** Each subcommand's flags: a flag of another subcommand is refused, not ignored. */
const SUBCOMMANDS = {
  apply: { ...OUTPUT, foreground: { type: 'boolean' } },
  status: { json: { type: 'boolean' } },
  remove: { all: { type: 'boolean' } },
  watch: { ...OUTPUT, count: { type: 'string' } },
} as const;

async function run(argv: string[]): Promise<number> {
  const { sub, positionals, values: parsed } = parseSubcommand(argv, SUBCOMMANDS);
  const values = parsed as { foreground?: boolean; output?: string; json?: boolean; all?: boolean; count?: string };
  // Everything about the arguments that can be checked without the kernel, checked first (the
  // subcommands below rely on it): a typo is a usage error for anyone, privileged or not.
  if (sub === 'apply') {
    if (positionals.length !== 1) throw new UsageError('apply: give one policy file');
    if (values.foreground) printer(values.output);
    else if (values.output !== undefined) throw new UsageError('apply: -o applies to --foreground (the denials it streams)');
  }
  if (sub === 'status' && positionals.length > 1) throw new UsageError('status: at most one cgroup');
  if (sub === 'remove' && values.all && positionals.length) throw new UsageError('remove: --all takes no cgroup');
  if (sub === 'remove' && !values.all && positionals.length !== 1) throw new UsageError('remove: give one cgroup (or --all)');
  if (sub === 'watch') {
    printer(values.output);
    watchCount(values.count);
  }
  // apply and remove attach or detach cgroup programs; status and watch read pinned maps.
  requireNetworkCapabilities('netpolicy', sub === 'apply' || sub === 'remove', 'cannot tell which policies are applied', argv);
  const out = (s: string): void => { process.stdout.write(`${s}\n`); };
  return explainingErrors('netpolicy', [PolicyError, NetPolicyError], async () => {
    switch (sub) {
      case 'apply': {
        const file = positionals[0]!;
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (e) {
          throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
        }
        const spec = parsePolicy(text, file);
        if (values.foreground) return await foreground(spec, file, printer(values.output));
        const applied = await applyPolicy(spec);
        process.stderr.write(`vigil netpolicy: ${applied.updated ? 'updated' : 'applied'} ${file} on ` +
          `${applied.cgroupPath} (cgroup id ${applied.cgroupId}): default ${spec.default}, ${spec.rules.length} rules ` +
          `(${applied.entries} kernel entries)\n`);
        return 0;
      }
      case 'status': {
        const all = policyStatus(positionals[0]);
        if (values.json) out(JSON.stringify({ policies: all }, null, 2));
        else out(all.length ? all.map(formatStatus).join('\n\n') : 'no network policy is applied');
        return 0;
      }
      case 'remove': {
        if (values.all) {
          const ids = removeAllPolicies();
          out(`removed ${ids.length} polic${ids.length === 1 ? 'y' : 'ies'}`);
          return 0;
        }
        if (!removePolicy(positionals[0]!)) {
          process.stderr.write(`vigil netpolicy: no policy on ${positionals[0]}\n`);
          return 1;
        }
        out(`removed the policy on ${positionals[0]}`);
        return 0;
      }
      case 'watch': {
        const print = printer(values.output);
        const count = watchCount(values.count);
        const targets = positionals.length ? positionals : undefined;
        await stream((onFlow) => new DenialWatch({
          targets, onFlow,
          onLost: (n, id) => process.stderr.write(`vigil netpolicy: ${n} denials of policy ${id} lost (ring buffer full)\n`),
        }), print, count);
        return 0;
      }
    }
  });
}

export const command: Command = {
  name: 'netpolicy',
  summary: 'per-cgroup network policy: connect/sendmsg/packet filtering, denials as flows',
  usage,
  run,
};
