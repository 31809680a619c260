// `vigil observe --sensors flow,dns`: the flags of network flows, Hubble's
// filters. Flags are parsed in order so that --not negates the filter after
// it, as in `hubble observe`. observe.ts parses once with these options among
// its own and, when flow or dns is among the sensors, reads them here.
import { UsageError } from './command.js';
import { byteSize, positive } from './flags.js';
import type { FilterOptions } from '../sensors/filter.js';
import { ContainerLookupError, containerCgroupIds, containerCgroups } from '../process/container.js';
import { parseTimeFormat, TIME_FORMATS, type TimeFormat } from '../util/clock.js';
import { COLOR_MODES, parseColorMode, type ColorMode } from '../output/color.js';
import { DEFAULT_OUTPUT_BUFFER } from '../pipeline/index.js';
import { FlowFilter, FLOW_FILTER_KINDS, type FlowFilterKind, type FlowFilterTerm } from '../network/flow-filter.js';
import { FLOW_OUTPUTS } from '../network/flow-format.js';
import { OUTPUT_FORMATS } from '../output/tetragon.js';
import type { EventOutput } from '../output/event-format.js';

/** Process sensors (observe.ts); they may run beside the network ones, in one stream. */
export const PROCESS_SENSORS = ['exec', 'exit', 'fork', 'file'] as const;
export type ProcessSensorName = (typeof PROCESS_SENSORS)[number];
export const NETWORK_SENSORS = ['flow', 'dns'] as const;
export type NetworkSensorName = (typeof NETWORK_SENSORS)[number];
export type ObserveSensorName = ProcessSensorName | NetworkSensorName;

export const NETWORK_USAGE = `usage: vigil observe --sensors flow[,dns][,exec,...] [filters]
                     [-o compact|json|jsonpb|hubble|tetragon|dict|table]
                     [--time-format F] [--color WHEN] [--duration S] [--count N] [--until T]
                     [--udp-window S] [--dns-port N]

Network flows with the process and container behind them, as Hubble shows them.
With process sensors too (--sensors exec,flow), one stream in kernel time order.

sensors (--sensors, comma-separated):
  flow    TCP connections (connect, accept, close with bytes, segments,
          retransmits, RTT, duration; failed opens) and UDP conversations
          (per socket and peer, reported every --udp-window seconds)
  dns     DNS queries and answers over UDP (name, types, rcode, addresses,
          latency); later flows to an answered address carry its name

filters (values of one filter: any; different filters: all; --not before a
filter negates it):
  --ip CIDR, --from-ip CIDR, --to-ip CIDR   source or destination address
  --port N, --from-port N, --to-port N      source or destination port
  --protocol tcp|udp|icmp|dns               --verdict FORWARDED|DROPPED|DENIED
  --fqdn NAME, --from-fqdn NAME, --to-fqdn NAME   names from DNS answers ("*.example.com")
  --tcp-flags SYN,ACK                       every flag of the list set (repeat: any list); when no
                                            list can match a SYN (--tcp-flags FIN --tcp-flags RST),
                                            opens stay in the kernel: one record per close, with totals
  --traffic-direction ingress|egress        -4, -6: IPv4 or IPv6 flows only
  --type trace|drop|l7|policy-verdict       Hubble's event types, as Vigil's flows are
  --pid N [--follow-children]               in the kernel: flows of these processes
  --container ID|host                       in the kernel: flows of this container
  --not FILTER                              e.g. --not --port 22, --not --container host

output:
  -o, --output FORMAT  compact (default): Nov 21 20:01:02.123: 10.0.0.1:43210 (pid 123 curl) ->
                      10.0.0.2:80 tcp-connect FORWARDED (TCP Flags: SYN)
                    json: one {"flow":{...},"node_name":..,"time":..} per line, with
                      Vigil's fields (process, container, traffic, tcp_info, ...)
                    jsonpb (or hubble, or tetragon beside process sensors): the same
                      envelope in strict Hubble JSON: only flow.proto's fields (docs/outputs.md)
                    dict (flows only), table: hubble observe's key/value blocks and columns
  --follow, -f      accepted: without an agent, observe always follows new flows
  --until T         stop at T (RFC 3339, in the future)
  --since T, --last N  need the agent's history of past flows: refused here
  --time-format F   compact: StampMilli (default), RFC3339, RFC3339Milli,
                    RFC3339Micro, RFC3339Nano, RFC1123Z (as hubble observe)
  --color WHEN      compact: auto (default: a terminal without NO_COLOR), always, never
  --include-self    also Vigil's own flows (left out by default)
  --udp-window S    report UDP conversations every S seconds (default 10)
  --dns-port N      UDP port carrying DNS (default 53; up to 4, repeatable)
  --ring-buffer SIZE  the flow ring (default 32MiB, a power of two): what the kernel
                    holds while the output is behind (connection churn), before it drops
  --duration S, --count N, --output-buffer SIZE (as for process events), -h/--help`;

export interface NetworkObserveOptions {
  sensors: ObserveSensorName[];
  /** jsonpb and hubble are one format (strict Hubble JSON), jsonpb being hubble observe's name for it. */
  format: EventOutput;
  /** --until: wall-clock ms to stop at. */
  untilMs: number | undefined;
  duration: number | undefined;
  count: number | undefined;
  udpWindowMs: number;
  dnsPorts: number[];
  terms: FlowFilterTerm[];
  timeFormat: TimeFormat;
  color: ColorMode;
  includeSelf: boolean;
  followChildren: boolean;
  /** --output-buffer: bytes stdout may hold unread before flows are dropped (counted). */
  outputBuffer: number;
  /** --ring-buffer: the flow ring's size in bytes (a power of two); undefined: CHURN_RING's. */
  ringBytes: number | undefined;
}

/** The flags only flows take (and their filters). */
export const NETWORK_FLAGS = {
  'udp-window': { type: 'string' },
  'dns-port': { type: 'string', multiple: true },
  'ring-buffer': { type: 'string' },
  not: { type: 'boolean', multiple: true },
  follow: { type: 'boolean', short: 'f', default: false },
  since: { type: 'string' },
  until: { type: 'string' },
  last: { type: 'string' },
  ipv4: { type: 'boolean', short: '4', multiple: true },
  ipv6: { type: 'boolean', short: '6', multiple: true },
  ...Object.fromEntries(FLOW_FILTER_KINDS.map((k) => [k, { type: 'string' as const, multiple: true }])),
} as const;

/** --ring-buffer: a power of two from 1 MiB to 1 GiB (the kernel's ring buffers are sized in pages, by powers of two). */
function ringSize(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = byteSize('--ring-buffer', v, 0, 1 << 20);
  if (n > 1 << 30 || (n & (n - 1)) !== 0) throw new UsageError(`--ring-buffer: a power of two up to 1GiB, got "${v}"`);
  return n;
}

/** Checks the parsed flags of a stream with network sensors. Pure. */
export function networkObserveOptions(values: Record<string, unknown>,
  tokens: readonly { kind: string; name?: string; value?: string | undefined }[]): NetworkObserveOptions {
  const sensors = (values.sensors as string | undefined ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const all: readonly string[] = [...PROCESS_SENSORS, ...NETWORK_SENSORS];
  for (const s of sensors) {
    if (!all.includes(s)) throw new UsageError(`--sensors: unknown sensor "${s}"; available: ${all.join(', ')}`);
  }
  if (sensors.length === 0) throw new UsageError('--sensors: empty list');
  const format = values.output as string;
  if (!(FLOW_OUTPUTS as readonly string[]).includes(format) && !(OUTPUT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--output: "${format}": for flows one of ${[...new Set([...FLOW_OUTPUTS, ...OUTPUT_FORMATS])].join(', ')}`);
  }
  for (const flag of ['since', 'last'] as const) {
    if (values[flag] !== undefined) {
      throw new UsageError(`--${flag}: past flows come from an agent's history; without an agent, observe shows flows ` +
        'from now on (drop the flag)');
    }
  }
  const untilMs = values.until === undefined ? undefined : futureTime('--until', values.until as string);

  const terms = flowFilterTerms(tokens);
  try {
    new FlowFilter(terms); // validates every value
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  const containers = terms.filter((t) => t.kind === 'container');
  if (containers.length > 1) {
    throw new UsageError('--container: give one container id (or host), negated or not');
  }
  const followChildren = values['follow-children'] as boolean;
  if (followChildren && !terms.some((t) => t.kind === 'pid' && !t.negated)) throw new UsageError('--follow-children: needs --pid');
  const dnsPorts = ((values['dns-port'] as string[] | undefined) ?? ['53']).map((p) => {
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw new UsageError(`--dns-port: not a port: "${p}"`);
    return Number(p);
  });
  if (dnsPorts.length > 4) throw new UsageError('--dns-port: at most 4 ports');
  const timeFormat = parseTimeFormat(values['time-format'] as string);
  if (!timeFormat) {
    throw new UsageError(`--time-format: unknown layout "${values['time-format'] as string}"; available: ${TIME_FORMATS.join(', ')}`);
  }
  const color = parseColorMode(values.color as string);
  if (!color) throw new UsageError(`--color: expected ${COLOR_MODES.join(', ')}, got "${values.color as string}"`);
  return {
    timeFormat,
    color,
    includeSelf: values['include-self'] as boolean,
    sensors: [...new Set(sensors)] as ObserveSensorName[],
    format: format as EventOutput,
    untilMs,
    duration: positive('--duration', values.duration as string | undefined, false),
    count: positive('--count', values.count as string | undefined, true),
    udpWindowMs: (positive('--udp-window', values['udp-window'] as string | undefined, false) ?? 10) * 1000,
    dnsPorts,
    terms,
    followChildren,
    outputBuffer: byteSize('--output-buffer', values['output-buffer'] as string | undefined, DEFAULT_OUTPUT_BUFFER),
    ringBytes: ringSize(values['ring-buffer'] as string | undefined),
  };
}

/**
 * The flow filters among the flags, in order: --not negates the filter after
 * it, as in `hubble observe`; a trailing --not is an error. Values are
 * checked by FlowFilter.
 */
export function flowFilterTerms(tokens: readonly { kind: string; name?: string; value?: string | undefined }[]): FlowFilterTerm[] {
  // --not applies to the next filter flag; a trailing --not is an error.
  const terms: FlowFilterTerm[] = [];
  let negate = false;
  for (const t of tokens) {
    if (t.kind !== 'option' || t.name === undefined) continue;
    if (t.name === 'not') {
      if (negate) throw new UsageError('--not --not: negate a filter once');
      negate = true;
      continue;
    }
    if ((FLOW_FILTER_KINDS as readonly string[]).includes(t.name) || t.name === 'ipv4' || t.name === 'ipv6') {
      const version = t.name === 'ipv4' ? '4' : t.name === 'ipv6' ? '6' : undefined;
      terms.push(version ? { kind: 'ip-version', value: version, negated: negate } : { kind: t.name as FlowFilterKind, value: t.value ?? '', negated: negate });
      negate = false;
    } else if (negate) {
      throw new UsageError(`--not: must come before a filter (${FLOW_FILTER_KINDS.map((k) => `--${k}`).join(', ')}), ` +
        `not --${t.name}`);
    }
  }
  if (negate) throw new UsageError('--not: must come before a filter');
  return terms;
}

/** An RFC 3339 time that must lie ahead (a past one is history, which only an agent keeps): ms since the epoch. */
function futureTime(flag: string, v: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) throw new UsageError(`${flag}: expected an RFC 3339 time (2026-12-06T12:00:00Z), got "${v}"`);
  if (ms <= Date.now()) throw new UsageError(`${flag}: ${v} has passed; flows before now come from an agent's history`);
  return ms;
}

/** The in-kernel part of the filters: --pid and --container (negated: "in none of its cgroups"). */
export function kernelFilter(o: NetworkObserveOptions): FilterOptions {
  const pids = o.terms.filter((t) => t.kind === 'pid' && !t.negated).map((t) => Number(t.value));
  const f: FilterOptions = pids.length ? { pids, followChildren: o.followChildren } : {};
  if (!o.includeSelf) f.excludeSelf = true;
  const c = o.terms.find((t) => t.kind === 'container');
  if (!c) return f;
  try {
    // "host" is "in no container's cgroup"; --not --container host is "in one of them".
    const host = c.value === 'host';
    const ids = host ? containerCgroups().map((x) => x.id) : containerCgroupIds(c.value);
    const not = host !== c.negated;
    if (!not && ids.length === 0) throw new UsageError('--not --container host: no container is running');
    return { ...f, cgroupIds: ids, notInCgroups: not };
  } catch (e) {
    if (e instanceof ContainerLookupError) throw new UsageError(`--container: ${e.message}`);
    throw e;
  }
}
