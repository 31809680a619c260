// vigil events: stream events from the running agent, with observe's filters
// and outputs, and the agent's history (--last N, --since T), as `hubble
// observe` does from Hubble and `tetra getevents` from Tetragon.
import * as grpc from '@grpc/grpc-js';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { parseFlags, positive } from '../flags.js';
import { Shutdown } from '../shutdown.js';
import { colorEnabled } from '../../output/color.js';
import { FLOW_ONLY_FLAGS, OBSERVE_FLAGS, observeOptions } from './observe.js';
import { flowFilterTerms, NETWORK_FLAGS } from '../observe-network.js';
import { FlowFilter } from '../../network/flow-filter.js';
import { PodFilter } from '../../process/pod-filter.js';
import { AgentCallError, callError, connectAgent, socketPath } from '../../agent/client.js';
import { DEFAULT_EVENT_KINDS, EVENT_KINDS } from '../../agent/events.js';
import type { EventsResponse } from '../../agent/hub.js';

const usage = `usage: vigil events [--sensors LIST] [filters] [--output compact|json|table|tetragon|jsonpb|dict]
                    [--last N] [--since TIME] [--follow] [--socket PATH]
                    [--time-format F] [--color WHEN] [--duration S] [--count N] [--ancestors]
                    [--process-cred] [--process-ns]

Streams events from the running agent (vigil agent) to stdout, one line each,
in the formats of \`vigil observe\`, until Ctrl-C, S seconds or N events. Each
client has its own filters; the agent renders its lines.

  --sensors LIST      kinds, comma-separated: ${EVENT_KINDS.join(', ')}
                      (default ${DEFAULT_EVENT_KINDS.join(',')}); the agent reports only
                      what its configuration's sensors, policies and rules see
  --last N            first the last N matching events of the agent's history
  --since TIME        first the history's matching events since TIME: RFC 3339
                      (2026-12-06T10:00:00Z) or a duration ago (30s, 5m, 1h30m)
  --follow            with --last or --since: then go on live (without them the
                      stream is live)
  --socket PATH       the agent's socket (default $VIGIL_SOCKET, else /run/vigil/vigil.sock)

filters (judged by the agent): --pid N [--follow-children], --uid N, --comm NAME,
  --binary PREFIX, --path-prefix PATH, --container ID|host, and Kubernetes'
  --namespace NS, --pod NAME, --label KEY[=VALUE] (the agent's CRI runtime,
  its cri.socket, names the pods), as vigil observe
  (a flow's process is its local endpoint's); flows and DNS: Hubble's filters
  as vigil observe --sensors flow takes them (--ip, --from-port, --to-fqdn,
  --protocol, --tcp-flags, --traffic-direction, -4, -6, --type, --verdict,
  --not FILTER; vigil observe --sensors flow --help lists them).

output: --output, --time-format, --color, --ancestors, --process-cred,
  --process-ns, --duration, --count as vigil observe. --output-buffer SIZE:
  most output waiting for a slow reader of stdout before this client stops
  reading; the agent then cuts it off (a client that does not keep up never
  slows the agent) and says how many events it missed.

Events the agent could not see (its rings were full) come as lost records, as
in observe. Exit status 1 when the agent cut this client off.`;

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** --since: RFC 3339, or a duration before now ("5m", "1h30m"); ns since the epoch. */
export function parseSince(v: string, nowMs = Date.now()): bigint {
  if (/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(v)) {
    let ms = 0;
    for (const m of v.matchAll(DURATION_PART)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    return BigInt(Math.round(nowMs - ms)) * 1_000_000n;
  }
  const t = /^\d{4}-\d\d-\d\d/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new UsageError(`--since: expected RFC 3339 (2026-12-06T10:00:00Z) or a duration (30s, 5m, 1h30m), got "${v}"`);
  return BigInt(t) * 1_000_000n;
}

function parseKinds(list: string): string[] {
  const kinds = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (!kinds.length) throw new UsageError(`--sensors: empty list; available: ${EVENT_KINDS.join(', ')}`);
  for (const k of kinds) {
    if (!(EVENT_KINDS as readonly string[]).includes(k)) throw new UsageError(`--sensors: unknown kind "${k}"; available: ${EVENT_KINDS.join(', ')}`);
  }
  return [...new Set(kinds)];
}

/** The flags of flows' filters that vigil events takes (the agent's settings are its own: --udp-window, --dns-port). */
const { 'udp-window': _w, 'dns-port': _d, until: _u, since: _s, last: _l, follow: _f, ...FLOW_FILTER_FLAGS } = NETWORK_FLAGS;

export function parseEventsArgs(argv: string[]) {
  const { 'include-self': _self, ...shared } = OBSERVE_FLAGS;
  const { values, tokens } = parseFlags({
    args: argv,
    options: {
      ...shared, ...FLOW_FILTER_FLAGS,
      socket: { type: 'string' }, last: { type: 'string' }, since: { type: 'string' }, follow: { type: 'boolean', default: false },
      namespace: { type: 'string', multiple: true }, pod: { type: 'string', multiple: true }, label: { type: 'string', multiple: true },
    },
    allowPositionals: false,
    tokens: true,
  });
  const kinds = values.sensors === undefined ? [...DEFAULT_EVENT_KINDS] : parseKinds(values.sensors);
  const flows = kinds.includes('flow') || kinds.includes('dns');
  const named = values as Record<string, unknown>;
  if (!flows) {
    for (const f of FLOW_ONLY_FLAGS) {
      if (f !== 'since' && f !== 'last' && named[f] !== undefined) throw new UsageError(`--${f}: filters flows; add flow or dns to --sensors`);
    }
  }
  // --pid and --container are process filters here (the agent's, for every kind): a flow is its local process's.
  const terms = flowFilterTerms(tokens ?? []);
  for (const t of terms) {
    if ((t.kind === 'pid' || t.kind === 'container') && t.negated) {
      throw new UsageError(`--not --${t.kind}: vigil events filters processes by --${t.kind}, not against it; negate a flow filter (--ip, --port, ...)`);
    }
  }
  const flowFilters = terms.filter((t) => t.kind !== 'pid' && t.kind !== 'container');
  try {
    new FlowFilter(flowFilters); // validates every value
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  if (values.output === 'dict' && !kinds.every((k) => k === 'flow' || k === 'dns')) {
    throw new UsageError('--output dict: hubble observe\'s flow blocks, for --sensors flow,dns only; beside other kinds use compact, json, table or tetragon');
  }
  const pods = { namespaces: values.namespace ?? [], pods: values.pod ?? [], labels: values.label ?? [] };
  try {
    if (new PodFilter(pods).active && flows) throw new UsageError('--namespace, --pod, --label: select processes\' events; flows are not named by pod');
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  const o = observeOptions({ ...values, 'include-self': false }, kinds.includes('file'), false, flows);
  const last = positive('--last', values.last, true) ?? 0;
  const sinceNs = values.since === undefined ? 0n : parseSince(values.since);
  if (values.follow && !last && !sinceNs) throw new UsageError('--follow: goes with --last or --since (without them the stream is live)');
  return { ...o, kinds, flowFilters, pods, socket: socketPath(values.socket), last, sinceNs, follow: values.follow };
}

export const command: Command = {
  name: 'events',
  summary: 'stream events from the running agent',
  usage,
  run: (argv: string[]) => streamEvents(parseEventsArgs(argv)),
};

/** Streams what the agent sends to stdout until the stream, a signal, --duration or --count ends it. */
async function streamEvents(o: ReturnType<typeof parseEventsArgs>): Promise<number> {
  const client = connectAgent(o.socket);
  const f = o.filter;
  const stream = client.GetEvents!({
    kinds: o.kinds, pids: f.pids ?? [], followChildren: f.followChildren, uids: f.uids ?? [], comms: f.comms ?? [],
    binaryPrefixes: f.binaryPrefixes ?? [], pathPrefixes: f.pathPrefixes ?? [], container: o.container ?? '',
    output: { format: o.format, timeFormat: o.timeFormat, color: colorEnabled(o.color, process.stdout), ancestors: o.ancestors,
      processCred: o.processCred, processNs: o.processNs },
    last: o.last, sinceNs: String(o.sinceNs), follow: o.follow, flowFilters: o.flowFilters, ...o.pods,
  }) as grpc.ClientReadableStream<EventsResponse>;
  using shutdown = new Shutdown('events');
  let seen = 0;
  let lost = 0;
  let failure: AgentCallError | undefined;
  const out = process.stdout;
  out.on('error', () => shutdown.stop('stdout closed'));
  // A slow reader of stdout: stop reading the stream (the agent cuts this client off if it lasts).
  out.on('drain', () => stream.resume());
  stream.on('data', (r: EventsResponse) => {
    const lines: string[] = [];
    if (r.header) lines.push(r.header);
    for (const l of r.lost ?? []) {
      lost += Number(l.count);
      lines.push(l.line);
    }
    for (const e of r.events ?? []) {
      if (o.count !== undefined && seen >= o.count) break;
      seen++;
      lines.push(e.line);
    }
    if (lines.length && !out.write(`${lines.join('\n')}\n`) && out.writableLength > o.outputBuffer) stream.pause();
    if (o.count !== undefined && seen >= o.count) shutdown.stop('count');
  });
  stream.on('error', (e: grpc.ServiceError) => {
    if (!shutdown.stopping) failure = callError(e);
    shutdown.stop('error');
  });
  stream.on('end', () => shutdown.stop('end'));
  const timer = o.duration !== undefined ? setTimeout(() => shutdown.stop('duration'), o.duration * 1000) : undefined;
  await shutdown.stopped;
  if (timer) clearTimeout(timer);
  stream.cancel();
  client.close();
  if (lost > 0) process.stderr.write(`vigil events: lost ${lost} events\n`);
  if (failure) {
    if (failure.code === grpc.status.UNAVAILABLE) throw failure;
    process.stderr.write(`vigil events: ${failure.code === grpc.status.RESOURCE_EXHAUSTED ? 'the agent cut this client off: ' : ''}${failure.message}\n`);
    return 1;
  }
  return 0;
}
