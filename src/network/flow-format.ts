// Flow records out: the JSON line of `hubble observe -o json` ({"flow":...,
// "node_name":..,"time":..}) and the compact line of `hubble observe`:
//
//   Nov 21 20:01:02.123: 10.0.0.1:43210 (pid 123 curl) -> 10.0.0.2:80 tcp-connect FORWARDED (TCP Flags: SYN)
//
// Like Hubble's: time in UTC with milliseconds, "->" from source to
// destination, "<-" for replies (the endpoints then printed destination
// first, so the client stays on the left), the observation point, the drop
// reason before the verdict when there is one, the summary in parentheses.
// Also the helpers that make a record (uuid, RFC 3339 time) for every
// producer of flows (the flow tracker, netpolicy, the firewall).
import { randomUUID } from 'node:crypto';
import { formatTime, parseRfc3339, rfc3339Nano, type TimeFormat } from '../util/clock.js';
import { colors, type Colors } from '../output/color.js';
import { dnsRcodeName } from './dns.js';
import type { DropReason, FlowEndpoint, FlowEnvelope, FlowRecord, FlowEventKind } from './flow-types.js';
import type { LossReason } from '../pipeline/loss.js';
import { hubbleNodeLabels } from '../util/node.js';

/** A record's time from ns since the epoch. */
export function flowTime(epochNs: bigint): string {
  return rfc3339Nano(epochNs);
}

export function flowUuid(): string {
  return randomUUID();
}

type RecordInput = Omit<FlowRecord, 'time' | 'uuid' | 'Summary' | 'Type' | 'is_reply'> &
  Partial<Pick<FlowRecord, 'Summary' | 'Type' | 'is_reply'>> & { timeNs: bigint };

/** Field order of Hubble's JSON (flow.proto's), then Vigil's. */
const FIELD_ORDER: readonly (keyof FlowRecord)[] = ['time', 'uuid', 'verdict', 'drop_reason_desc', 'IP', 'l4', 'source',
  'destination', 'Type', 'node_name', 'source_names', 'destination_names', 'l7', 'is_reply', 'traffic_direction',
  'socket_cookie', 'cgroup_id', 'Summary', 'event_kind', 'flow_id', 'traffic', 'tcp_info', 'duration_ns', 'policy'];

const ORDERED: ReadonlySet<string> = new Set(FIELD_ORDER);

/**
 * A record with its uuid, time and defaults (Type L3_L4, is_reply false, a summary from the record), fields in Hubble's order.
 * Built in one pass over the input (no intermediate copies): every flow of a connection storm comes through here.
 */
export function newFlowRecord(input: RecordInput): FlowRecord {
  const given = input as unknown as Record<string, unknown>;
  const ordered: Record<string, unknown> = {};
  for (const k of FIELD_ORDER) {
    let v: unknown;
    switch (k) {
      case 'time': v = flowTime(input.timeNs); break;
      case 'uuid': v = flowUuid(); break;
      case 'Type': v = input.Type ?? 'L3_L4'; break;
      case 'is_reply': v = input.is_reply ?? false; break;
      // The summary reads only fields the input has (flowSummary).
      case 'Summary': v = input.Summary || flowSummary(input as unknown as FlowRecord); break;
      default: v = given[k];
    }
    if (v !== undefined) ordered[k] = v;
  }
  for (const k in given) if (!ORDERED.has(k) && k !== 'timeNs' && given[k] !== undefined) ordered[k] = given[k];
  return ordered as unknown as FlowRecord;
}

/** One JSON line (no newline), Hubble's envelope, Vigil's fields included (--output json). */
export function flowToJson(rec: FlowRecord): string {
  const labels = hubbleNodeLabels();
  const env: FlowEnvelope = { flow: labels.length ? { ...rec, node_labels: labels } : rec, node_name: rec.node_name, time: rec.time };
  return JSON.stringify(env);
}

/**
 * Vigil's drop reasons as Hubble's DropReason (flow.proto); undefined for
 * connection outcomes Hubble has no reason for (a refused or timed-out
 * connect: the Summary says which).
 */
const HUBBLE_DROP: Readonly<Record<DropReason, string | undefined>> = {
  DROP_REASON_UNKNOWN: 'DROP_REASON_UNKNOWN',
  POLICY_DENIED: 'POLICY_DENIED',
  FIREWALL_BLOCKED: 'POLICY_DENY',
  RATE_LIMITED: 'DROP_RATE_LIMITED',
  CONNECTION_REFUSED: undefined,
  CONNECTION_TIMED_OUT: undefined,
  HOST_UNREACHABLE: undefined,
  NETWORK_UNREACHABLE: undefined,
  CONNECTION_ABORTED: undefined,
  HANDSHAKE_FAILED: undefined,
};

/** Hubble's Endpoint fields of an endpoint (Vigil's process, container and cgroup id are json only). */
function hubbleEndpoint(ep: FlowEndpoint): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['ID', 'identity', 'namespace', 'labels', 'pod_name'] as const) if (ep[k] !== undefined) out[k] = ep[k];
  return out;
}

/**
 * The record as Hubble's flow.Flow in strict protojson (--output hubble,
 * jsonpb): only flow.proto's fields, its enum values (DENIED is DROPPED with
 * the deciding policy in egress/ingress_denied_by), 64-bit integers as
 * strings. Fields in flow.proto's order.
 */
export function hubbleFlow(rec: FlowRecord): Record<string, unknown> {
  const f: Record<string, unknown> = { time: rec.time, uuid: rec.uuid, verdict: rec.verdict === 'DENIED' ? 'DROPPED' : rec.verdict };
  f.IP = rec.IP;
  f.l4 = rec.l4;
  f.source = hubbleEndpoint(rec.source);
  f.destination = hubbleEndpoint(rec.destination);
  f.Type = rec.Type;
  f.node_name = rec.node_name;
  const labels = hubbleNodeLabels();
  if (labels.length) f.node_labels = labels;
  if (rec.source_names) f.source_names = rec.source_names;
  if (rec.destination_names) f.destination_names = rec.destination_names;
  if (rec.l7) {
    const l7: Record<string, unknown> = { type: rec.l7.type };
    if (rec.l7.latency_ns !== undefined) l7.latency_ns = String(rec.l7.latency_ns);
    if (rec.l7.dns) l7.dns = rec.l7.dns;
    f.l7 = l7;
  }
  f.traffic_direction = rec.traffic_direction;
  const drop = rec.drop_reason_desc && HUBBLE_DROP[rec.drop_reason_desc];
  if (drop) f.drop_reason_desc = drop;
  f.is_reply = rec.is_reply;
  if (rec.socket_cookie !== undefined) f.socket_cookie = String(rec.socket_cookie);
  if (rec.cgroup_id !== undefined) f.cgroup_id = String(rec.cgroup_id);
  f.Summary = rec.Summary;
  if (rec.verdict === 'DENIED' && rec.policy) {
    f[rec.traffic_direction === 'INGRESS' ? 'ingress_denied_by' : 'egress_denied_by'] = [{ name: rec.policy, kind: 'Vigil' }];
  }
  return f;
}

/** One line of `hubble observe -o jsonpb`: {"flow":{...},"node_name":..,"time":..}, strict. */
export function flowToHubbleJson(rec: FlowRecord): string {
  return JSON.stringify({ flow: hubbleFlow(rec), node_name: rec.node_name, time: rec.time });
}

/**
 * A loss as Hubble reports one (GetFlowsResponse.lost_events): lost in the
 * kernel's ring (PERF_EVENT_RING_BUFFER, Hubble's name for the BPF side) or
 * in Vigil's output queue (OBSERVER_EVENTS_QUEUE).
 */
export function hubbleLostLine(count: number, reason: LossReason, node: string, timeNs: bigint): string {
  const source = reason === 'ring_full' ? 'PERF_EVENT_RING_BUFFER' : 'OBSERVER_EVENTS_QUEUE';
  return JSON.stringify({ lost_events: { source, num_events_lost: String(count) }, node_name: node, time: flowTime(timeNs) });
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Nov 21 20:01:02.123" (UTC, Go's time.StampMilli as Hubble prints it). */
export function compactTime(rfc3339: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$/.exec(rfc3339);
  if (!m) return rfc3339;
  const ms = (m[5] ?? '').padEnd(3, '0').slice(0, 3);
  const day = String(Number(m[3])).padStart(2, ' ');
  return `${MONTHS[Number(m[2]) - 1] ?? '???'} ${day} ${m[4]}.${ms}`;
}

const DROP_TEXT: Record<DropReason, string> = {
  DROP_REASON_UNKNOWN: 'Unknown reason',
  POLICY_DENIED: 'Policy denied',
  FIREWALL_BLOCKED: 'Firewall blocked',
  RATE_LIMITED: 'Rate limited',
  CONNECTION_REFUSED: 'Connection refused',
  CONNECTION_TIMED_OUT: 'Connection timed out',
  HOST_UNREACHABLE: 'Host unreachable',
  NETWORK_UNREACHABLE: 'Network unreachable',
  CONNECTION_ABORTED: 'Connection aborted',
  HANDSHAKE_FAILED: 'Handshake failed',
};

export function dropReasonText(r: DropReason): string {
  return DROP_TEXT[r] ?? r;
}

/** What compact lines print where Hubble prints to-stack / dns-request. */
const POINT: Record<FlowEventKind, string> = {
  'tcp-connect': 'tcp-connect',
  'tcp-accept': 'tcp-accept',
  'tcp-close': 'tcp-close',
  'tcp-failed': 'tcp-failed',
  udp: 'udp',
  'dns-query': 'dns-request',
  'dns-answer': 'dns-response',
  policy: 'policy-verdict',
};

function hostPort(ip: string, port: number | undefined): string {
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return port === undefined ? host : `${host}:${port}`;
}

function endpointText(ip: string, port: number | undefined, ep: FlowEndpoint, names: string[] | undefined): string {
  const tags: string[] = [];
  if (ep.process) tags.push(`pid ${ep.process.pid} ${ep.process.comm || ep.process.binary}`);
  if (ep.container) tags.push(`container ${ep.container.id.slice(0, 12)}`);
  if (names?.length) tags.push(names.join(','));
  return tags.length ? `${hostPort(ip, port)} (${tags.join('; ')})` : hostPort(ip, port);
}

function ports(rec: FlowRecord): { s: number | undefined; d: number | undefined } {
  const l4 = rec.l4.TCP ?? rec.l4.UDP;
  return { s: l4?.source_port, d: l4?.destination_port };
}

export interface FlowCompactOptions {
  /** The time column's layout (default StampMilli, as Hubble's). */
  timeFormat?: TimeFormat;
  /** Escape codes: time dimmed, verdict green when forwarded, red otherwise. Default none. */
  colors?: Colors;
}

const PLAIN = colors(false);

/** What every text format of a record shows: time, endpoints (client on the left), verdict. */
function flowParts(rec: FlowRecord, opts: FlowCompactOptions): { time: string; src: string; dst: string; verdict: string } {
  const c = opts.colors ?? PLAIN;
  const p = ports(rec);
  let src = endpointText(rec.IP.source, p.s, rec.source, rec.source_names);
  let dst = endpointText(rec.IP.destination, p.d, rec.destination, rec.destination_names);
  if (rec.is_reply) [src, dst] = [dst, src];
  const epochNs = opts.timeFormat === undefined ? undefined : parseRfc3339(rec.time);
  const time = opts.timeFormat === undefined || epochNs === undefined ? compactTime(rec.time) : formatTime(epochNs, opts.timeFormat);
  const verdict = rec.verdict === 'FORWARDED' ? c.green(rec.verdict) : c.red(rec.verdict);
  return { time: c.dim(time), src, dst, verdict };
}

function dropText(rec: FlowRecord): string | undefined {
  return rec.drop_reason_desc && rec.verdict !== 'FORWARDED' ? dropReasonText(rec.drop_reason_desc) : undefined;
}

/** The compact line (no newline). */
export function formatFlowCompact(rec: FlowRecord, opts: FlowCompactOptions = {}): string {
  const { time, src, dst, verdict } = flowParts(rec, opts);
  const drop = dropText(rec);
  const summary = rec.Summary ? ` (${rec.Summary})` : '';
  return `${time}: ${src} ${rec.is_reply ? '<-' : '->'} ${dst} ${POINT[rec.event_kind] ?? rec.event_kind} ${drop ? `${drop} ` : ''}${verdict}${summary}`;
}

/** The columns of Hubble's table and dict outputs for one record. */
function hubbleColumns(rec: FlowRecord, opts: FlowCompactOptions): [string, string][] {
  const { time, src, dst, verdict } = flowParts(rec, opts);
  const drop = dropText(rec);
  return [
    ['TIMESTAMP', time], ['SOURCE', src], ['DESTINATION', dst], ['TYPE', POINT[rec.event_kind] ?? rec.event_kind],
    ['VERDICT', drop ? `${verdict} (${drop})` : verdict], ['SUMMARY', rec.Summary],
  ];
}

/** Column widths of the table (streamed: fixed, as a header cannot wait for the widest row). */
const TABLE_WIDTHS = [19, 40, 40, 14, 10, 0];

/** `hubble observe -o table`'s header line. */
export function flowTableHeader(): string {
  return padColumns(['TIMESTAMP', 'SOURCE', 'DESTINATION', 'TYPE', 'VERDICT', 'SUMMARY']);
}

function padColumns(cells: readonly string[]): string {
  return cells.map((v, i) => (TABLE_WIDTHS[i] ? v.padEnd(TABLE_WIDTHS[i]!) : v)).join(' ');
}

/** A row of `hubble observe -o table` (no newline). */
export function formatFlowTable(rec: FlowRecord, opts: FlowCompactOptions = {}): string {
  return padColumns(hubbleColumns(rec, opts).map(([, v]) => v));
}

/** A record as `hubble observe -o dict`: a rule line, then one "KEY: value" line per column, keys right-aligned. */
export function formatFlowDict(rec: FlowRecord, opts: FlowCompactOptions = {}): string {
  const rows = hubbleColumns(rec, opts).map(([k, v]) => `${k.padStart(11)}: ${v}`);
  return ['------------', ...rows].join('\n');
}

/** Flow output formats: compact lines, Vigil's json, strict Hubble JSON (jsonpb, also called hubble), hubble's dict and table. */
export const FLOW_OUTPUTS = ['compact', 'json', 'jsonpb', 'hubble', 'dict', 'table'] as const;
export type FlowOutput = (typeof FLOW_OUTPUTS)[number];

/** One record in an output format (no newline). */
export function flowLine(format: FlowOutput, rec: FlowRecord, opts: FlowCompactOptions = {}): string {
  switch (format) {
    case 'json': return flowToJson(rec);
    case 'jsonpb': case 'hubble': return flowToHubbleJson(rec);
    case 'dict': return formatFlowDict(rec, opts);
    case 'table': return formatFlowTable(rec, opts);
    case 'compact': return formatFlowCompact(rec, opts);
  }
}

/** 1536 -> "1.5 KiB". */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** 1234567 ns -> "1.23 ms". */
export function humanDuration(ns: number): string {
  if (ns < 1_000) return `${ns} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(ns < 10_000 ? 2 : 0)} µs`;
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(ns < 10_000_000 ? 2 : 1)} ms`;
  return `${(ns / 1_000_000_000).toFixed(ns < 10_000_000_000 ? 2 : 1)} s`;
}

function flagsText(rec: FlowRecord): string | undefined {
  const f = rec.l4.TCP?.flags;
  if (!f) return undefined;
  const names = (['SYN', 'FIN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'] as const).filter((k) => f[k]);
  return names.length ? `TCP Flags: ${names.join(', ')}` : undefined;
}

/** Hubble-like summary: TCP flags, DNS question or answer, plus what Vigil counted. */
export function flowSummary(rec: FlowRecord): string {
  const parts: string[] = [];
  const dns = rec.l7?.dns;
  if (dns) {
    const q = `${dns.query} ${(dns.qtypes ?? []).join(',')}`.trim();
    if (rec.l7?.type === 'RESPONSE') {
      const ips = dns.ips?.length ? `"${dns.ips.join(',')}" ` : '';
      const rcode = dns.rcode ? ` ${dnsRcodeName(dns.rcode)}` : '';
      const latency = rec.l7.latency_ns !== undefined ? ` ${humanDuration(rec.l7.latency_ns)}` : '';
      parts.push(`DNS Answer ${ips}TTL: ${dns.ttl ?? 0} (${q})${rcode}${latency}`);
    } else {
      parts.push(`DNS Query ${q}`);
    }
  } else {
    const flags = flagsText(rec);
    if (flags) parts.push(flags);
    else if (rec.l4.UDP) parts.push('UDP');
  }
  const t = rec.traffic;
  if (t && (rec.event_kind === 'tcp-close' || rec.event_kind === 'udp')) {
    const unit = rec.l4.UDP ? 'datagrams' : 'segments';
    parts.push(`sent ${humanBytes(t.bytes_sent)} in ${t.packets_sent} ${unit}, received ${humanBytes(t.bytes_received)} ` +
      `in ${t.packets_received}`);
  }
  if (rec.duration_ns !== undefined && rec.event_kind !== 'tcp-connect' && rec.event_kind !== 'tcp-accept') {
    parts.push(`${rec.event_kind === 'udp' ? 'over' : 'lasted'} ${humanDuration(rec.duration_ns)}`);
  }
  if (rec.tcp_info && rec.event_kind === 'tcp-close') {
    parts.push(`srtt ${humanDuration(rec.tcp_info.srtt_us * 1000)}, ${rec.tcp_info.retransmits} retransmits`);
  }
  if (rec.policy) parts.push(rec.policy);
  return parts.join('; ');
}
