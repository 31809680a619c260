// FlowTracker: the FlowSensor's events as flow records (flow-types.ts).
//
// It adds what the kernel records do not carry: the process image behind a
// socket owner (exec_id, binary, container, from the process cache, by pid
// and process start), the DNS view (queries matched with answers for their
// latency; addresses named by the answers, so a later flow to such an
// address carries destination_names), and Hubble's conventions (source is
// the initiator, traffic_direction from the local side, is_reply for
// answers). Pure apart from the lookups it is given: tests feed it events.
import type { ProcessLookup } from '../process/types.js';
import { errnoName } from '../kernel/errno.js';
import { parseDnsMessage, dnsTypeName, DnsParseError, type DnsMessage } from './dns.js';
import { NameCache, DnsMatcher } from './dns-view.js';
import { newFlowRecord } from './flow-format.js';
import type {
  DropReason, FlowEndpoint, FlowRecord, FlowTcp, TcpFlags, TrafficDirection,
} from './flow-types.js';
import type { DnsCaptureEvent, SocketOwner, TcpFlowEvent, UdpConversation } from './flow-sensor.js';

export interface FlowTrackerOptions {
  /** Node name (node_name; also in exec ids). */
  node: string;
  /** Boot ns (kernel timestamps) -> ns since the epoch. */
  toEpochNs(bootNs: bigint): bigint;
  /** Each record, with the kernel time (CLOCK_BOOTTIME ns) of what it reports. */
  onFlow(rec: FlowRecord, timeBootNs: bigint): void;
  /** The process cache; without it endpoints carry only what the kernel gave (pid, comm). */
  processes?: ProcessLookup;
  /** The socket-cookie -> owner lookup (FlowSensor.owner) for records that came without one. */
  ownerOf?(cookie: bigint): SocketOwner | undefined;
  names?: NameCache;
  /** Wall clock in ms for the name cache. Default Date.now. */
  nowMs?: () => number;
}

export interface FlowTrackerStats {
  tcp: number;
  udp: number;
  dnsQueries: number;
  dnsAnswers: number;
  /** Answers with no query seen (no latency). */
  dnsUnmatched: number;
  /** DNS payloads that did not parse (not DNS on a DNS port, or cut too short). */
  dnsMalformed: number;
}

const ECONNREFUSED = 111;
const ETIMEDOUT = 110;
const EHOSTUNREACH = 113;
const ENETUNREACH = 101;

function dropReason(e: TcpFlowEvent): DropReason {
  if (!e.active) return 'HANDSHAKE_FAILED';
  if (e.skErr === ECONNREFUSED) return 'CONNECTION_REFUSED';
  if (e.skErr === ETIMEDOUT) return 'CONNECTION_TIMED_OUT';
  if (e.skErr === EHOSTUNREACH) return 'HOST_UNREACHABLE';
  if (e.skErr === ENETUNREACH) return 'NETWORK_UNREACHABLE';
  return 'CONNECTION_ABORTED';
}

export class FlowTracker {
  readonly names: NameCache;
  readonly matcher = new DnsMatcher();
  readonly stats: FlowTrackerStats = { tcp: 0, udp: 0, dnsQueries: 0, dnsAnswers: 0, dnsUnmatched: 0, dnsMalformed: 0 };
  private readonly nowMs: () => number;

  constructor(private readonly opts: FlowTrackerOptions) {
    this.names = opts.names ?? new NameCache();
    this.nowMs = opts.nowMs ?? Date.now;
  }

  /** The local endpoint of a socket owned by owner. */
  private localEndpoint(owner: SocketOwner | undefined): FlowEndpoint {
    if (!owner) return {};
    const info = this.opts.processes?.get(owner.pid, owner.startBootNs);
    const ep: FlowEndpoint = {
      process: {
        pid: owner.pid,
        binary: info?.binary || owner.comm,
        exec_id: info?.execId ?? '',
        comm: owner.comm,
        uid: owner.uid,
      },
      cgroup_id: Number(owner.cgroupId),
    };
    const c = info?.container;
    if (c && c !== 'host') {
      ep.container = { id: c.id, runtime: c.runtime, ...(c.podUid ? { pod_uid: c.podUid } : {}) };
    }
    return ep;
  }

  private namesOf(address: string): string[] | undefined {
    return this.names.names(address, this.nowMs());
  }

  private time(bootNs: bigint): bigint {
    return this.opts.toEpochNs(bootNs);
  }

  /** A TCP record: connect, accept, close or failed. */
  tcp(e: TcpFlowEvent): FlowRecord {
    this.stats.tcp++;
    const local = this.localEndpoint(e.owner);
    const known = e.startBootNs !== undefined;
    // Source is the initiator: the local side for connect, the peer for accept.
    const localIsSource = !known || e.active;
    const direction: TrafficDirection = !known ? 'TRAFFIC_DIRECTION_UNKNOWN' : e.active ? 'EGRESS' : 'INGRESS';
    const remoteNames = this.namesOf(e.remote.text);
    if (e.event === 'snapshot') throw new RangeError('FlowTracker.tcp: a snapshot is not a flow event');
    const kind = e.event === 'connect' ? 'tcp-connect' : e.event === 'accept' ? 'tcp-accept' :
      e.event === 'close' ? 'tcp-close' : 'tcp-failed';
    let flags: TcpFlags;
    if (e.event === 'connect' || e.event === 'accept') flags = { SYN: true };
    else if (e.event === 'failed') flags = e.skErr === ECONNREFUSED ? { RST: true } : { SYN: true };
    else flags = e.skErr ? { RST: true } : { FIN: true };
    const l4: FlowTcp = localIsSource
      ? { source_port: e.localPort, destination_port: e.remotePort, flags }
      : { source_port: e.remotePort, destination_port: e.localPort, flags };
    const failed = e.event === 'failed';
    // Fields left undefined are not in the record (newFlowRecord): one literal, no spreads, on this hot path.
    const rec = newFlowRecord({
      timeNs: this.time(e.timeBootNs),
      verdict: failed ? 'DROPPED' : 'FORWARDED',
      drop_reason_desc: failed ? dropReason(e) : undefined,
      IP: {
        source: localIsSource ? e.local.text : e.remote.text, destination: localIsSource ? e.remote.text : e.local.text,
        ipVersion: e.local.version === 4 ? 'IPv4' : 'IPv6',
      },
      l4: { TCP: l4 },
      source: localIsSource ? local : {},
      destination: localIsSource ? {} : local,
      node_name: this.opts.node,
      source_names: localIsSource ? undefined : remoteNames,
      destination_names: localIsSource ? remoteNames : undefined,
      traffic_direction: direction,
      socket_cookie: Number(e.cookie),
      cgroup_id: e.owner ? Number(e.owner.cgroupId) : undefined,
      event_kind: kind,
      flow_id: `tcp:${e.cookie}`,
      traffic: {
        bytes_sent: e.bytesSent, bytes_received: e.bytesReceived, packets_sent: e.segsOut, packets_received: e.segsIn,
      },
      tcp_info: { state: e.newState, retransmits: e.retransmits, srtt_us: e.srttUs },
      duration_ns: known && e.startBootNs !== undefined && (e.event === 'close' || e.event === 'failed')
        ? Number(e.timeBootNs - e.startBootNs) : undefined,
    });
    if (failed) rec.Summary += `; ${errnoName(e.skErr || ETIMEDOUT)} in ${e.oldState}`;
    this.opts.onFlow(rec, e.timeBootNs);
    return rec;
  }

  /** A captured DNS message: a query leaving or an answer arriving. Undefined when it does not parse. */
  dns(e: DnsCaptureEvent): FlowRecord | undefined {
    let m: DnsMessage;
    try {
      m = parseDnsMessage(e.payload);
    } catch (err) {
      if (err instanceof DnsParseError) {
        this.stats.dnsMalformed++;
        return undefined;
      }
      throw err;
    }
    const owner = e.owner ?? this.opts.ownerOf?.(e.cookie);
    const client = this.localEndpoint(owner);
    const q = m.questions[0];
    const query = q?.name ?? '';
    const qtypes = q ? [dnsTypeName(q.type)] : [];
    const isAnswer = e.direction === 'ingress';
    const [clientIp, clientPort, serverIp, serverPort] = isAnswer
      ? [e.destination.text, e.destinationPort, e.source.text, e.sourcePort]
      : [e.source.text, e.sourcePort, e.destination.text, e.destinationPort];
    const flowId = `dns:${clientIp}:${clientPort}:${serverIp}:${serverPort}:${m.id}`;
    const base = {
      timeNs: this.time(e.timeBootNs),
      verdict: 'FORWARDED' as const,
      IP: { source: e.source.text, destination: e.destination.text, ipVersion: e.source.version === 4 ? 'IPv4' as const : 'IPv6' as const },
      l4: { UDP: { source_port: e.sourcePort, destination_port: e.destinationPort } },
      Type: 'L7' as const,
      node_name: this.opts.node,
      traffic_direction: 'EGRESS' as const,
      socket_cookie: Number(e.cookie),
      ...(owner ? { cgroup_id: Number(owner.cgroupId) } : {}),
      flow_id: flowId,
    };
    if (!isAnswer) {
      this.stats.dnsQueries++;
      this.matcher.query(clientIp, clientPort, serverIp, serverPort, m, e.timeBootNs);
      const rec = newFlowRecord({
        ...base,
        source: client,
        destination: {},
        is_reply: false,
        l7: { type: 'REQUEST', dns: { query, qtypes, observation_source: 'vigil' } },
        event_kind: 'dns-query',
      });
      this.opts.onFlow(rec, e.timeBootNs);
      return rec;
    }
    this.stats.dnsAnswers++;
    const pending = this.matcher.answer(clientIp, clientPort, serverIp, serverPort, m, e.timeBootNs);
    if (!pending) this.stats.dnsUnmatched++;
    this.names.learn(m, this.nowMs());
    const ips: string[] = [];
    const cnames: string[] = [];
    const rrtypes = new Set<string>();
    let ttl: number | undefined;
    for (const a of m.answers) {
      rrtypes.add(dnsTypeName(a.type));
      if ((a.type === 1 || a.type === 28) && a.data) ips.push(a.data);
      if (a.type === 5 && a.data) cnames.push(a.data);
      if (a.type !== 41) ttl = ttl === undefined ? a.ttl : Math.min(ttl, a.ttl);
    }
    const rec = newFlowRecord({
      ...base,
      source: {},
      destination: client,
      is_reply: true,
      l7: {
        type: 'RESPONSE',
        ...(pending ? { latency_ns: Number(e.timeBootNs - pending.timeNs) } : {}),
        dns: {
          query, ips, ttl: ttl ?? 0, cnames, observation_source: 'vigil', rcode: m.rcode, qtypes, rrtypes: [...rrtypes],
        },
      },
      event_kind: 'dns-answer',
    });
    this.opts.onFlow(rec, e.timeBootNs);
    return rec;
  }

  /** One record per UDP conversation of a window (FlowSensor.drainUdp). */
  udp(conversations: readonly UdpConversation[]): FlowRecord[] {
    const out: FlowRecord[] = [];
    for (const c of conversations) {
      this.stats.udp++;
      const owner = this.opts.ownerOf?.(c.cookie);
      const local = this.localEndpoint(owner);
      const localIsSource = c.firstDirection === 'egress';
      const [src, dst] = localIsSource ? [c.local, c.remote] : [c.remote, c.local];
      const [sport, dport] = localIsSource ? [c.localPort, c.remotePort] : [c.remotePort, c.localPort];
      const remoteNames = this.namesOf(c.remote.text);
      const rec = newFlowRecord({
        timeNs: this.time(c.lastBootNs),
        verdict: 'FORWARDED',
        IP: { source: src.text, destination: dst.text, ipVersion: c.local.version === 4 ? 'IPv4' : 'IPv6' },
        l4: { UDP: { source_port: sport, destination_port: dport } },
        source: localIsSource ? local : {},
        destination: localIsSource ? {} : local,
        node_name: this.opts.node,
        ...(remoteNames ? (localIsSource ? { destination_names: remoteNames } : { source_names: remoteNames }) : {}),
        traffic_direction: localIsSource ? 'EGRESS' : 'INGRESS',
        socket_cookie: Number(c.cookie),
        cgroup_id: Number(owner?.cgroupId ?? c.cgroupId),
        event_kind: 'udp',
        flow_id: `udp:${c.cookie}:${c.localPort}:${c.remote.text}:${c.remotePort}`,
        traffic: {
          bytes_sent: c.bytesSent, bytes_received: c.bytesReceived,
          packets_sent: c.datagramsSent, packets_received: c.datagramsReceived,
        },
        duration_ns: Number(c.lastBootNs - c.firstBootNs),
      });
      this.opts.onFlow(rec, c.lastBootNs);
      out.push(rec);
    }
    return out;
  }

  /** Forgets unanswered queries past their timeout (call now and then). */
  expire(nowBootNs: bigint): void {
    this.matcher.expire(nowBootNs);
  }
}
