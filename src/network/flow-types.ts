// The flow record: what every network sensor of Vigil reports (TCP
// connections, UDP conversations, DNS messages, policy denials), in the shape
// of Hubble's flow JSON (cilium api/v1/flow/flow.proto as `hubble observe -o
// json` prints it: protojson field names, so `IP`, `l4.TCP`, `Type`,
// `traffic_direction`, `is_reply`, `drop_reason_desc`, `source_names`...).
//
// Where Hubble has a field, the record uses its name and meaning. What Hubble
// does not have (the process behind an endpoint, its container, byte and
// segment counts, TCP state and RTT, the DENIED verdict) is added under names
// Hubble does not use, so a consumer of Hubble's JSON reads a Vigil flow and
// ignores the rest.
//
// Conventions
// - source is the side that initiated the conversation (the TCP client, the
//   UDP sender of the first datagram seen, the DNS client for a query), except
//   in records with is_reply = true (a DNS answer), where source and
//   destination are swapped as on the wire.
// - traffic_direction is seen from the local endpoint, the one Vigil saw the
//   socket of: EGRESS when the local side initiated (connect, sendto), INGRESS
//   when it accepted. The local endpoint is the one that carries `process`
//   (on loopback both may).
// - traffic counters are those of the local socket: `sent` is what the local
//   endpoint sent, `received` what it received.
// - Times: `time` is RFC 3339 with nanoseconds (UTC), like Hubble's.
//
// This file has no runtime imports: sensors, the firewall/netpolicy side and
// outputs all depend on it.

/** Hubble's verdicts plus DENIED (a Vigil policy refused it: netpolicy, firewall). */
export type Verdict = 'VERDICT_UNKNOWN' | 'FORWARDED' | 'DROPPED' | 'DENIED' | 'ERROR' | 'AUDIT';

/**
 * Why a flow did not go through. Hubble's DropReason names where they fit
 * (POLICY_DENIED), plus connection outcomes seen from the socket.
 */
export type DropReason =
  | 'DROP_REASON_UNKNOWN'
  /** A Vigil policy (netpolicy connect/sendmsg/skb, firewall) refused it. */
  | 'POLICY_DENIED'
  /** The XDP firewall's block list. */
  | 'FIREWALL_BLOCKED'
  /** The XDP firewall's per-source rate limit. */
  | 'RATE_LIMITED'
  /** The peer answered the SYN with RST (SYN_SENT -> CLOSE with no ESTABLISHED). */
  | 'CONNECTION_REFUSED'
  /** SYN retries ran out (the socket left SYN_SENT for CLOSE without an answer). */
  | 'CONNECTION_TIMED_OUT'
  /** SYN retries ran out after an ICMP host / network unreachable (or a failed neighbour lookup). */
  | 'HOST_UNREACHABLE'
  | 'NETWORK_UNREACHABLE'
  /** Any other SYN_SENT -> CLOSE (the application closed or the kernel aborted). */
  | 'CONNECTION_ABORTED'
  /** A passive open that never completed (SYN_RECV -> CLOSE). */
  | 'HANDSHAKE_FAILED';

export type TrafficDirection = 'TRAFFIC_DIRECTION_UNKNOWN' | 'INGRESS' | 'EGRESS';

export type IpVersion = 'IP_NOT_USED' | 'IPv4' | 'IPv6';

/** Hubble's FlowType: L3_L4 for connections and datagrams, L7 for DNS messages. */
export type FlowType = 'UNKNOWN_TYPE' | 'L3_L4' | 'L7' | 'SOCK';

export interface FlowIp {
  source: string;
  destination: string;
  ipVersion: IpVersion;
}

export interface TcpFlags {
  FIN?: boolean;
  SYN?: boolean;
  RST?: boolean;
  PSH?: boolean;
  ACK?: boolean;
  URG?: boolean;
  ECE?: boolean;
  CWR?: boolean;
  NS?: boolean;
}

export interface FlowTcp {
  source_port: number;
  destination_port: number;
  flags?: TcpFlags;
}

export interface FlowUdp {
  source_port: number;
  destination_port: number;
}

export interface FlowIcmp {
  type: number;
  code: number;
}

/** Exactly one member is set, as in Hubble. */
export interface Layer4 {
  TCP?: FlowTcp;
  UDP?: FlowUdp;
  ICMPv4?: FlowIcmp;
  ICMPv6?: FlowIcmp;
}

/** The process behind an endpoint (Vigil). */
export interface FlowProcess {
  /** Thread-group id (what ps calls the pid). */
  pid: number;
  /** Full path of the executable when known, else the comm. */
  binary: string;
  /** Tetragon-style exec_id (see src/process/exec-id.ts); "" when the process cache did not know it. */
  exec_id: string;
  /** Kernel task name (comm, at most 15 bytes). */
  comm: string;
  uid?: number;
}

/** The container of an endpoint's process (Vigil). */
export interface FlowContainer {
  id: string;
  runtime?: string;
  pod_uid?: string;
}

export interface FlowEndpoint {
  /** Hubble's endpoint fields, kept for consumers that expect them (0 / empty here). */
  ID?: number;
  identity?: number;
  namespace?: string;
  labels?: string[];
  pod_name?: string;
  /** Vigil: the process that owned the socket, when the endpoint is local. */
  process?: FlowProcess;
  /** Vigil: its container; absent for host processes and remote endpoints. */
  container?: FlowContainer;
  /** Vigil: the cgroup v2 id of the owning process. */
  cgroup_id?: number;
}

/** Hubble's DNS L7 record (field names as in flow.proto). */
export interface FlowDns {
  /** The name asked, with the trailing dot ("example.com."). */
  query: string;
  /** Addresses in the answer section (A/AAAA). */
  ips?: string[];
  /** Smallest TTL in the answer. */
  ttl?: number;
  cnames?: string[];
  observation_source?: string;
  rcode?: number;
  /** Query types ("A", "AAAA", "TYPE65"). */
  qtypes?: string[];
  /** Answer record types. */
  rrtypes?: string[];
}

export interface Layer7 {
  type: 'UNKNOWN_L7_TYPE' | 'REQUEST' | 'RESPONSE' | 'SAMPLE';
  /** For a response: ns since its request (Vigil matches them by id, addresses and ports). */
  latency_ns?: number;
  dns?: FlowDns;
}

/** What the local socket counted (see the conventions above). */
export interface FlowTraffic {
  bytes_sent: number;
  bytes_received: number;
  /** TCP segments / UDP datagrams. */
  packets_sent: number;
  packets_received: number;
}

/** TCP connection facts from tcp_sock (Vigil). */
export interface FlowTcpInfo {
  /** The state the record was taken in ("ESTABLISHED", "CLOSE", "SYN_SENT"...); the last one for a close record. */
  state: string;
  /** Retransmitted segments (tcp_sock.total_retrans). */
  retransmits: number;
  /** Smoothed RTT in µs (srtt_us >> 3). */
  srtt_us: number;
}

/**
 * What a record reports (Vigil's observation point, shown in compact lines
 * where Hubble prints to-stack/to-endpoint):
 *   tcp-connect   an active open reached ESTABLISHED
 *   tcp-accept    a passive open reached ESTABLISHED
 *   tcp-close     a connection ended (totals, duration)
 *   tcp-failed    an open that never reached ESTABLISHED (drop_reason_desc says why)
 *   udp           a UDP conversation's totals over a window
 *   dns-query     a DNS question (l7.type REQUEST)
 *   dns-answer    a DNS answer (l7.type RESPONSE, is_reply)
 *   policy        a policy decision (netpolicy, firewall): DENIED
 */
export type FlowEventKind =
  | 'tcp-connect'
  | 'tcp-accept'
  | 'tcp-close'
  | 'tcp-failed'
  | 'udp'
  | 'dns-query'
  | 'dns-answer'
  | 'policy';

export interface FlowRecord {
  /** RFC 3339 with ns, UTC ("2024-11-21T20:01:02.123456789Z"). */
  time: string;
  /** Unique per record. */
  uuid: string;
  verdict: Verdict;
  /** Only when verdict is DROPPED or DENIED. */
  drop_reason_desc?: DropReason;
  IP: FlowIp;
  l4: Layer4;
  source: FlowEndpoint;
  destination: FlowEndpoint;
  Type: FlowType;
  node_name: string;
  /** Names the source / destination address was resolved from, through DNS answers Vigil saw. */
  source_names?: string[];
  destination_names?: string[];
  l7?: Layer7;
  /** true for replies (a DNS answer); false otherwise. */
  is_reply: boolean;
  traffic_direction: TrafficDirection;
  /** Hubble's socket_cookie: the kernel's socket cookie, when known. */
  socket_cookie?: number;
  /** Hubble's cgroup_id: the cgroup v2 id of the local process. */
  cgroup_id?: number;
  /** Hubble's one-line summary ("TCP Flags: SYN", "DNS Query example.com. A"). */
  Summary: string;

  /** Vigil: which observation this record is. */
  event_kind: FlowEventKind;
  /** Vigil: the same for every record of one connection / conversation (open and close of a TCP connection). */
  flow_id: string;
  /** Vigil: bytes and packets as the local socket counted them. */
  traffic?: FlowTraffic;
  /** Vigil: TCP facts (tcp-* records). */
  tcp_info?: FlowTcpInfo;
  /** Vigil: connection age at this record, ns (tcp-close, tcp-failed; window length for udp). */
  duration_ns?: number;
  /** Vigil: the policy or rule that decided (policy records), e.g. "netpolicy:/sys/fs/cgroup/x" or "firewall:block 10.0.0.0/8". */
  policy?: string;
}

/** The JSON line envelope, like `hubble observe -o json`. */
export interface FlowEnvelope {
  /** With Hubble's node_labels (`key=value`) when the node has labels. */
  flow: FlowRecord & { node_labels?: string[] };
  node_name: string;
  time: string;
}
