// `vigil observe --sensors flow,dns`: network flows with Hubble's filters.
// observe.ts hands argv here when the sensors asked for are network ones
// (isNetworkObserve); flags are parsed in order so that --not negates the
// filter after it, as in `hubble observe`.
import { requireCapabilities } from './privileges.js';
import { UsageError } from './command.js';
import { byteSize, positive, parseFlags } from './flags.js';
import { detachTogether, ensureTracefs, NotSupportedError } from '../bpf/index.js';
import { FilterSet, type FilterOptions } from '../sensors/filter.js';
import { ContainerLookupError, containerCgroupIds, containerCgroups } from '../process/container.js';
import { ProcessCache } from '../process/cache.js';
import { BootClock, parseTimeFormat, rfc3339Nano, TIME_FORMATS, type TimeFormat } from '../util/clock.js';
import { colorEnabled, colors, COLOR_MODES, parseColorMode, type ColorMode } from '../output/color.js';
import { DEFAULT_OUTPUT_BUFFER, EventPipeline, LOSS_REASON_TEXT, Sink, stdoutOutput } from '../pipeline/index.js';
import { FlowFilter, FLOW_FILTER_KINDS, type FlowFilterKind, type FlowFilterTerm } from '../network/flow-filter.js';
import { FlowPipeline } from '../network/flow-pipeline.js';
import { FLOW_OUTPUTS, flowLine, flowTableHeader, hubbleLostLine, type FlowOutput } from '../network/flow-format.js';
import type { FlowRecord } from '../network/flow-types.js';

export const NETWORK_SENSORS = ['flow', 'dns'] as const;
export type NetworkSensorName = (typeof NETWORK_SENSORS)[number];

export const NETWORK_USAGE = `usage: vigil observe --sensors flow[,dns] [filters] [-o compact|json|jsonpb|hubble|dict|table]
                     [--time-format F] [--color WHEN] [--duration S] [--count N] [--until T]
                     [--udp-window S] [--dns-port N]

Network flows with the process and container behind them, as Hubble shows them.

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
  --tcp-flags SYN,ACK                       every flag of the list set (repeat: any list)
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
                    jsonpb (or hubble): the same envelope in strict Hubble JSON:
                      only flow.proto's fields (docs/outputs.md)
                    dict, table: hubble observe's key/value blocks and columns
  --follow, -f      accepted: without an agent, observe always follows new flows
  --until T         stop at T (RFC 3339, in the future)
  --since T, --last N  need the agent's history of past flows: refused here
  --time-format F   compact: StampMilli (default), RFC3339, RFC3339Milli,
                    RFC3339Micro, RFC3339Nano, RFC1123Z (as hubble observe)
  --color WHEN      compact: auto (default: a terminal without NO_COLOR), always, never
  --include-self    also Vigil's own flows (left out by default)
  --udp-window S    report UDP conversations every S seconds (default 10)
  --dns-port N      UDP port carrying DNS (default 53; up to 4, repeatable)
  --duration S, --count N, --output-buffer SIZE (as for process events), -h/--help`;

export interface NetworkObserveOptions {
  sensors: NetworkSensorName[];
  /** jsonpb and hubble are one format (strict Hubble JSON), jsonpb being hubble observe's name for it. */
  format: FlowOutput;
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
}

/** How long a stop waits for stdout to take what is queued. */
const OUTPUT_GRACE_MS = 250;

/** Whether --sensors names a network sensor (observe.ts then hands over). */
export function isNetworkObserve(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const list = a === '--sensors' ? argv[i + 1] : a.startsWith('--sensors=') ? a.slice(10) : undefined;
    if (list?.split(',').some((s) => (NETWORK_SENSORS as readonly string[]).includes(s.trim()))) return true;
  }
  return false;
}

/** Parses the flags (in order, for --not). Pure. */
export function parseNetworkObserveArgs(argv: string[]): NetworkObserveOptions {
  const filterOptions = Object.fromEntries(FLOW_FILTER_KINDS.map((k) => [k, { type: 'string' as const, multiple: true }]));
  let parsed;
  try {
    parsed = parseFlags({
      args: argv,
      options: {
        sensors: { type: 'string' },
        output: { type: 'string', short: 'o', default: 'compact' },
        duration: { type: 'string' },
        count: { type: 'string' },
        'udp-window': { type: 'string' },
        'dns-port': { type: 'string', multiple: true },
        'follow-children': { type: 'boolean', default: false },
        'output-buffer': { type: 'string' },
        not: { type: 'boolean', multiple: true },
        'time-format': { type: 'string', default: 'StampMilli' },
        color: { type: 'string', default: 'auto' },
        'include-self': { type: 'boolean', default: false },
        follow: { type: 'boolean', short: 'f', default: false },
        since: { type: 'string' },
        until: { type: 'string' },
        last: { type: 'string' },
        ipv4: { type: 'boolean', short: '4', multiple: true },
        ipv6: { type: 'boolean', short: '6', multiple: true },
        ...filterOptions,
      },
      strict: true,
      allowPositionals: false,
      tokens: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, tokens } = parsed;
  const sensors = (values.sensors as string | undefined ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of sensors) {
    if (!(NETWORK_SENSORS as readonly string[]).includes(s)) {
      throw new UsageError(`--sensors: "${s}" cannot be combined with network sensors here; ` +
        `network sensors: ${NETWORK_SENSORS.join(', ')} (run a second vigil observe for the others)`);
    }
  }
  if (sensors.length === 0) throw new UsageError('--sensors: empty list');
  const format = values.output as string;
  if (!(FLOW_OUTPUTS as readonly string[]).includes(format)) {
    throw new UsageError(`--output: "${format}": for flows one of ${FLOW_OUTPUTS.join(', ')}`);
  }
  for (const flag of ['since', 'last'] as const) {
    if (values[flag] !== undefined) {
      throw new UsageError(`--${flag}: past flows come from an agent's history; without an agent, observe shows flows ` +
        'from now on (drop the flag)');
    }
  }
  const untilMs = values.until === undefined ? undefined : futureTime('--until', values.until as string);

  // --not applies to the next filter flag; a trailing --not is an error.
  const terms: FlowFilterTerm[] = [];
  let negate = false;
  for (const t of tokens ?? []) {
    if (t.kind !== 'option') continue;
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
    sensors: [...new Set(sensors)] as NetworkSensorName[],
    format: format as FlowOutput,
    untilMs,
    duration: positive('--duration', values.duration as string | undefined, false),
    count: positive('--count', values.count as string | undefined, true),
    udpWindowMs: (positive('--udp-window', values['udp-window'] as string | undefined, false) ?? 10) * 1000,
    dnsPorts,
    terms,
    followChildren,
    outputBuffer: byteSize('--output-buffer', values['output-buffer'] as string | undefined, DEFAULT_OUTPUT_BUFFER),
  };
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

export async function runNetworkObserve(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(`${NETWORK_USAGE}\n`);
    return 0;
  }
  const o = parseNetworkObserveArgs(argv);
  requireCapabilities('', ['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN'], ['observe', ...argv]);
  const tracefs = ensureTracefs();
  if (!tracefs.path) throw new NotSupportedError('tracefs', tracefs.reason ?? 'tracefs is not mounted');
  const userFilter = new FlowFilter(o.terms);
  let filter: FilterSet;
  try {
    filter = new FilterSet(kernelFilter(o));
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  using _filter = filter;
  using cache = new ProcessCache();
  const clock = BootClock.measure();

  let stop!: (why: string) => void;
  const stopped = new Promise<string>((resolve) => {
    stop = resolve;
  });
  // One bounded queue for stdout (src/pipeline): a slow reader costs drops, counted, never memory.
  // Flow records are in the order the tracker closes them: not re-ordered.
  const report = (line: string): void => void process.stderr.write(`vigil observe: ${line}\n`);
  const events = new EventPipeline<FlowRecord>({
    reorder: false, timeOf: () => 0n, sensorOf: () => 'flow', now: () => 0n, report,
    onOutputsClosed: () => stop('stdout closed'),
  });
  const compact = { timeFormat: o.timeFormat, colors: colors(colorEnabled(o.color, process.stdout) && o.format !== 'table') };
  const nowNs = (): bigint => clock.toEpochNs(clock.nowBootNs());
  const stdout = new Sink<FlowRecord>(stdoutOutput, {
    capacityBytes: o.outputBuffer,
    sensorOf: () => 'flow',
    format: {
      line: (rec) => (o.untilMs !== undefined && Date.parse(rec.time) > o.untilMs ? undefined : flowLine(o.format, rec, compact)),
      lost: (l) => {
        switch (o.format) {
          case 'json':
            return JSON.stringify({ lost: { count: l.count, sensor: l.sensor, reason: l.reason }, node_name: cache.node, time: rfc3339Nano(nowNs()) });
          case 'jsonpb': case 'hubble':
            return hubbleLostLine(l.count, l.reason, cache.node, nowNs());
          default:
            return `⚠️ lost ${l.count} ${l.sensor} events (${LOSS_REASON_TEXT[l.reason]})`;
        }
      },
    },
  });
  events.addSink(stdout);
  if (o.format === 'table') stdout.output.write({ lines: [flowTableHeader()], sensors: [undefined] });
  let seen = 0;
  const print = (rec: FlowRecord): void => {
    if (o.count !== undefined && seen >= o.count) return;
    if (!userFilter.matches(rec)) return;
    events.push(rec);
    if (o.count !== undefined && ++seen >= o.count) stop('count');
  };
  const lost = (n: number, sensor: string): void => events.kernelLost(sensor, n);
  const flow = o.sensors.includes('flow');
  const want = {
    tcp: flow && userFilter.wants('tcp'),
    udp: flow && userFilter.wants('udp'),
    dns: o.sensors.includes('dns') && userFilter.wants('dns'),
  };
  if (!want.tcp && !want.udp && !want.dns) {
    throw new UsageError(`--protocol: nothing to show with --sensors ${o.sensors.join(',')} ` +
      '(ICMP flows come from netpolicy and the firewall; DNS needs --sensors dns)');
  }
  const pipeline = await FlowPipeline.start({
    filter, cache,
    ...want,
    dnsPorts: o.dnsPorts,
    udpWindowMs: o.udpWindowMs,
    onFlow: print,
    onBatchEnd: () => events.schedule(),
    onLost: lost,
  });
  events.addSource('flow', { drain: () => (pipeline.drain(), 0), pause: () => pipeline.pause(), resume: () => pipeline.resume() });
  events.start();
  const onSignal = (sig: NodeJS.Signals): void => stop(sig);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const endMs = Math.min(o.duration !== undefined ? Date.now() + o.duration * 1000 : Infinity, o.untilMs ?? Infinity);
  // A timer holds at most 2^31-1 ms (~24 days; a longer delay fires at once): re-armed until the end.
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const left = endMs - Date.now();
    timer = left <= 0 ? (stop('duration'), undefined) : setTimeout(arm, Math.min(left, 0x7fffffff));
  };
  if (Number.isFinite(endMs)) arm();
  for (const l of pipeline.sensor.limitations) process.stderr.write(`vigil observe: note: ${l}\n`);
  process.stderr.write(`vigil observe: watching ${o.sensors.join(', ')}; Ctrl-C to stop\n`);
  try {
    await stopped;
  } finally {
    if (timer) clearTimeout(timer);
    await detachTogether(() => pipeline.close()); // every link at once (src/bpf/link.ts)
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const delivered = await events.close(OUTPUT_GRACE_MS);
  if (!delivered && !stdout.closed) setTimeout(() => process.exit(), 100).unref();
  const lostTotal = stdout.lost.entries().filter((l) => l.reason !== 'output_closed').reduce((a, l) => a + l.count, 0);
  if (lostTotal > 0) process.stderr.write(`vigil observe: lost ${lostTotal} events\n`);
  return 0;
}
