// An event as a row of its table (src/store/schema.ts), values in column
// order. Pure: the sink builds rows on the agent's thread, the store's thread
// appends them.
import type { SensorEvent, ProcessInfo } from '../sensors/events.js';
import type { AlertEvent, DnsEvent, FlowEvent, L7Event, PolicyMatchEvent } from '../pipeline/events.js';
import type { L7Record } from '../l7/types.js';
import type { FlowEndpoint, FlowRecord } from '../network/flow-types.js';
import { assertNever } from '../sensors/events.js';
import type { Profile } from '../profile/profile.js';
import { stackPath, stackWeight } from '../profile/profile.js';
import { foldedName } from '../profile/folded.js';
import type { TableName } from './schema.js';

/** What the store keeps: the agent's events (lost records are counts, not rows). */
export type StoreEvent = SensorEvent | FlowEvent | DnsEvent | PolicyMatchEvent | AlertEvent | L7Event;

/** A value as the appender takes it: TIMESTAMP as ns since the epoch (bigint). */
export type Cell = string | number | bigint | boolean | null;

export interface Row {
  readonly table: TableName;
  readonly values: Cell[];
}

/**
 * A table's rows column by column (columns[i][r]): what goes to the store's
 * thread (a few arrays to copy, not one per row) and into DuckDB's chunks.
 */
export type Columns = Cell[][];

/** Rows as columns. */
export function columnsOf(rows: readonly Cell[][], width: number): Columns {
  const cols: Columns = Array.from({ length: width }, () => []);
  for (const row of rows) for (let i = 0; i < width; i++) cols[i]!.push(row[i] ?? null);
  return cols;
}

const containerOf = (p: ProcessInfo | undefined): string => (p?.container && p.container !== 'host' ? p.container.id : '');

function processRow(timeNs: bigint, kind: string, p: ProcessInfo, parent: ProcessInfo | undefined, extra: { status?: number | null; signal?: string | null; error?: string }): Cell[] {
  return [timeNs, kind, p.pid, p.ppid, p.uid, p.execId, p.parentExecId ?? parent?.execId ?? '', p.binary, p.args.slice(1).join(' '), p.cwd,
    containerOf(p), extra.status ?? null, extra.signal ?? null, extra.error ?? null];
}

/** The local endpoint's process: the source of an egress flow, the destination of an ingress one. */
function local(r: FlowRecord): FlowEndpoint {
  return r.traffic_direction === 'INGRESS' ? r.destination : r.source;
}

function ports(r: FlowRecord): [number | null, number | null, string] {
  const l4 = r.l4.TCP ?? r.l4.UDP;
  if (l4) return [l4.source_port, l4.destination_port, r.l4.TCP ? 'TCP' : 'UDP'];
  return [null, null, r.l4.ICMPv4 ? 'ICMPv4' : r.l4.ICMPv6 ? 'ICMPv6' : ''];
}

function endpointCells(ep: FlowEndpoint): Cell[] {
  return [ep.process?.pid ?? null, ep.process?.binary ?? '', ep.process?.exec_id ?? '', ep.container?.id ?? ''];
}

function flowRow(timeNs: bigint, r: FlowRecord): Cell[] {
  const [sport, dport, proto] = ports(r);
  return [timeNs, r.event_kind, r.verdict, proto, r.IP.source, sport, r.IP.destination, dport, r.traffic_direction,
    (r.destination_names ?? []).join(','), ...endpointCells(local(r)), r.traffic?.bytes_sent ?? null, r.traffic?.bytes_received ?? null,
    r.duration_ns ?? null, r.tcp_info?.srtt_us ?? null, r.tcp_info?.retransmits ?? null, r.drop_reason_desc ?? null, r.flow_id];
}

function dnsRow(timeNs: bigint, r: FlowRecord): Cell[] {
  const [sport, dport] = ports(r);
  const d = r.l7?.dns;
  // A question goes to the server (destination); an answer comes from it (source).
  const server = r.is_reply ? { ip: r.IP.source, port: sport } : { ip: r.IP.destination, port: dport };
  const client = r.is_reply ? r.destination : r.source;
  return [timeNs, r.event_kind, d?.query ?? '', (d?.qtypes ?? []).join(','), r.is_reply ? d?.rcode ?? null : null,
    (d?.ips ?? []).join(','), r.l7?.latency_ns ?? null, server.ip, server.port, ...endpointCells(client)];
}

/** An L7 request: the server is the process (role server) or the remote end it called (client). */
function l7Row(timeNs: bigint, r: L7Record): Cell[] {
  const [client, server] = r.role === 'server' ? [r.remote, r.local] : [r.local, r.remote];
  const service = r.role === 'server' ? `${r.comm}:${r.local.port}` : `${r.remote.ip}:${r.remote.port}`;
  // The process cache's binary and exec id are not joined to L7 records yet: the comm stands for the binary.
  return [timeNs, r.protocol, service, client.ip, server.ip, server.port, r.method, r.route ?? r.target ?? null,
    // The column is the HTTP status: a gRPC code is not one.
    r.protocol === 'http' && typeof r.status === 'number' ? r.status : null, r.endBootNs - r.startBootNs, r.requestBytes, r.responseBytes, r.pid, r.comm, '', ''];
}

/** The row of an event; `timeNs` is its wall time (ns since the epoch). */
export function rowOf(e: StoreEvent, timeNs: bigint): Row {
  switch (e.kind) {
    case 'exec': case 'fork':
      return { table: 'process_events', values: processRow(timeNs, e.kind, e.process, e.parent, {}) };
    case 'exec_failed':
      return { table: 'process_events', values: processRow(timeNs, e.kind, e.process, e.parent, { error: e.error }) };
    case 'exit':
      return { table: 'process_events', values: processRow(timeNs, e.kind, e.process, e.parent, { status: e.status, signal: e.signalName }) };
    case 'file':
      return {
        table: 'file_events',
        values: [timeNs, e.op, e.syscall, e.task.pid, e.task.uid, e.task.comm, e.path, e.target, e.flags.join(' '), e.ret, e.task.cgroupId],
      };
    case 'flow':
      return { table: 'flows', values: flowRow(timeNs, e.record) };
    case 'dns':
      return { table: 'dns', values: dnsRow(timeNs, e.record) };
    case 'policy': {
      const p = e.event;
      return {
        table: 'policy_events',
        values: [timeNs, p.policy.name, p.kind, p.hook.functionName, p.action, p.pid, p.comm, p.process?.binary ?? p.comm,
          p.process?.execId ?? '', containerOf(p.process)],
      };
    }
    case 'alert': {
      const a = e.alert;
      return { table: 'alerts', values: [timeNs, a.rule, a.priority, a.source, a.tags.join(','), a.message, JSON.stringify(a.outputFields)] };
    }
    case 'l7':
      return { table: 'l7_records', values: l7Row(timeNs, e.record) };
    default:
      return assertNever(e);
  }
}

/**
 * A profile's rows of profile_samples: its stacks folded (as `vigil profile
 * --output folded` writes them) and merged per process, stamped with the
 * interval's end. `processOf` names the process's exec id and container.
 */
export function profileRows(p: Profile, processOf: (pid: number) => ProcessInfo | undefined): Cell[][] {
  const timeNs = BigInt(p.endMs) * 1_000_000n;
  const byKey = new Map<string, Cell[]>();
  for (const s of p.stacks) {
    const w = stackWeight(p, s);
    if (w <= 0) continue;
    const stack = stackPath(s).map((f) => foldedName(f.name)).join(';');
    const key = `${s.pid}\0${stack}`;
    const row = byKey.get(key);
    if (row) row[5] = (row[5] as number) + w;
    else {
      const info = s.pid ? processOf(s.pid) : undefined;
      byKey.set(key, [timeNs, s.pid, info?.execId ?? '', info?.binary ?? (s.exe || s.process), stack, w, containerOf(info)]);
    }
  }
  return [...byKey.values()];
}
