// FlowSensor: the kernel side of network flows (bpf/flow.bpf.c,
// bpf/include/vigil/flow.h), decoded into plain events. What they mean as
// flow records (process, container, DNS names, Hubble's shape) is the
// FlowTracker's business (flow-tracker.ts).
//
//   using s = await FlowSensor.start({ filter, onTcp, onDns, onLost });
//   ... once per window:
//   const udp = s.drainUdp();          // per-socket, per-peer UDP counters since the last drain
//   s.owner(cookie);                   // the process behind a socket (from the kernel's owner map)
//
// Hooks: tp_btf/inet_sock_set_state (TCP), the accept/accept4 exit
// tracepoints (the owner of an accepted connection), cgroup/sock_create and
// cgroup_skb ingress/egress on the cgroup v2 root (UDP, DNS), tp_btf
// sock_send_length/sock_recv_length (owners of sockets older than Vigil) where
// the kernel has these tracepoints (6.1 does not: see FlowSensor.limitations).
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { NotSupportedError, ensureTracefs, cgroup2, codec, PerCpuMap, TypedMap } from '../bpf/index.js';
import type { BpfObject, Link } from '../bpf/index.js';
import { probeAttach } from '../bpf/features.js';
import {
  vigilFlowTcpRecord, vigilFlowDnsRecord, vigilFlowUdpKey, vigilFlowUdpValue, vigilFlowOwner,
  VIGIL_FLOW_REC_TCP, VIGIL_FLOW_REC_DNS, VIGIL_FLOW_TCP_CONNECT, VIGIL_FLOW_TCP_ACCEPT, VIGIL_FLOW_TCP_CLOSE,
  VIGIL_FLOW_TCP_FAILED, VIGIL_FLOW_TCP_SNAPSHOT, VIGIL_FLOW_F_ACTIVE, VIGIL_FLOW_F_OWNER, VIGIL_FLOW_F_NO_START, VIGIL_FLOW_F_ESTABLISHED,
  VIGIL_FLOW_F_FIN_SENT, VIGIL_FLOW_F_FIN_RCVD, VIGIL_FLOW_F_ALL_ACKED,
  VIGIL_FLOW_EGRESS, VIGIL_DNS_PORTS_MAX, type VigilFlowOwner,
} from '../generated/flow.js';
import { addressFromKernel, type IpAddress } from '../kernel/addr.js';
import { Sensor, type RingSensorOptions } from '../sensors/sensor.js';

/** The process that owned a socket, as the kernel took it in that process's context. */
export interface SocketOwner {
  /** Thread group id. */
  pid: number;
  tid: number;
  uid: number;
  /** The process's start (group leader's start_boottime): with pid, finds its exec_id. */
  startBootNs: bigint;
  cgroupId: bigint;
  comm: string;
}

export type TcpEventKind = 'connect' | 'accept' | 'close' | 'failed' | 'snapshot';

/** TCP state names (include/net/tcp_states.h). */
export const TCP_STATES: readonly string[] = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2',
  'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV', 'BOUND_INACTIVE'];

export function tcpStateName(state: number): string {
  return TCP_STATES[state] || `STATE_${state}`;
}

export interface TcpFlowEvent {
  readonly kind: 'tcp';
  event: TcpEventKind;
  timeBootNs: bigint;
  /** The open (SYN_SENT / SYN_RECV); undefined when it predates the sensor. */
  startBootNs: bigint | undefined;
  /** The local side opened it (connect); false: accepted, or unknown (startBootNs undefined). */
  active: boolean;
  established: boolean;
  local: IpAddress;
  remote: IpAddress;
  localPort: number;
  remotePort: number;
  /** The sock's kernel address (an id while it lives) and its cookie (unique per boot). */
  sk: bigint;
  cookie: bigint;
  oldState: string;
  newState: string;
  /** sk_err at the record (failed opens: 111 ECONNREFUSED, 110 ETIMEDOUT, 113 EHOSTUNREACH ...). */
  skErr: number;
  /**
   * Payload bytes the local side sent and the peer acknowledged, and payload
   * bytes received: tcp_sock's bytes_acked and bytes_received without the
   * SYN and FIN they count as a byte each. For a connection older than the
   * sensor (startBootNs undefined) whether bytes_acked counted a SYN is not
   * known: it may be one too high.
   */
  bytesSent: number;
  bytesReceived: number;
  /** tcp_sock's counters as read. */
  rawBytesAcked: number;
  rawBytesReceived: number;
  segsOut: number;
  segsIn: number;
  retransmits: number;
  srttUs: number;
  owner: SocketOwner | undefined;
}

export interface DnsCaptureEvent {
  readonly kind: 'dns';
  timeBootNs: bigint;
  /** egress: a query leaving a local client; ingress: an answer reaching it. */
  direction: 'egress' | 'ingress';
  /** As on the wire. */
  source: IpAddress;
  destination: IpAddress;
  sourcePort: number;
  destinationPort: number;
  cookie: bigint;
  /** Known at capture time, or undefined (look it up with FlowSensor.owner(cookie)). */
  owner: SocketOwner | undefined;
  /** The DNS message's length and the bytes captured of it (at most VIGIL_DNS_PAYLOAD_MAX). */
  length: number;
  payload: Uint8Array;
}

export interface UdpConversation {
  cookie: bigint;
  local: IpAddress;
  remote: IpAddress;
  localPort: number;
  remotePort: number;
  bytesSent: number;
  bytesReceived: number;
  datagramsSent: number;
  datagramsReceived: number;
  firstBootNs: bigint;
  lastBootNs: bigint;
  /** Direction of the first datagram counted: egress means the local side spoke first. */
  firstDirection: 'egress' | 'ingress';
  /** The socket's cgroup v2 id. */
  cgroupId: bigint;
}

/** `filter`: in-kernel process filters (shared with other sensors): flows of other processes never leave the kernel. */
export interface FlowSensorOptions extends Omit<RingSensorOptions<never>, 'onEvent'> {
  /** TCP connections (default true). */
  tcp?: boolean;
  /**
   * TCP opens (connect, accept records; default true). false: only closes and
   * failed opens leave the kernel, one record per socket with its totals.
   */
  tcpOpens?: boolean;
  /** UDP counters (default true). */
  udp?: boolean;
  /** DNS capture (default true). */
  dns?: boolean;
  /** UDP ports whose datagrams are DNS (at most VIGIL_DNS_PORTS_MAX). Default [53]. */
  dnsPorts?: number[];
  onTcp?(e: TcpFlowEvent): void;
  onDns?(e: DnsCaptureEvent): void;
  /** cgroup v2 root to attach the cgroup programs to. Default cgroup2(). */
  cgroupRoot?: string;
  /** Load the TCP socket iterator for snapshotTcp() (vigil top tcp). Default false. */
  tcpIterator?: boolean;
}

const TCP_EVENTS: Record<number, TcpEventKind> = {
  [VIGIL_FLOW_TCP_CONNECT]: 'connect',
  [VIGIL_FLOW_TCP_ACCEPT]: 'accept',
  [VIGIL_FLOW_TCP_CLOSE]: 'close',
  [VIGIL_FLOW_TCP_FAILED]: 'failed',
  [VIGIL_FLOW_TCP_SNAPSHOT]: 'snapshot',
};

function owner(o: VigilFlowOwner, known: boolean): SocketOwner | undefined {
  if (!known || o.tgid === 0) return undefined;
  return { pid: o.tgid, tid: o.tid, uid: o.uid, startBootNs: o.start_boottime, cgroupId: o.cgroup_id, comm: o.comm };
}

/** Decodes a TCP record. Pure. */
export function decodeTcpRecord(view: DataView, offset: number, size: number): TcpFlowEvent {
  if (size < vigilFlowTcpRecord.size) throw new RangeError(`TCP flow record of ${size} bytes`);
  const r = vigilFlowTcpRecord.decode(view, offset);
  if (r.kind !== VIGIL_FLOW_REC_TCP) throw new RangeError(`not a TCP flow record (kind 0x${r.kind.toString(16)})`);
  const event = TCP_EVENTS[r.event];
  if (!event) throw new RangeError(`TCP flow record with unknown event ${r.event}`);
  const noStart = (r.flags & VIGIL_FLOW_F_NO_START) !== 0;
  const active = (r.flags & VIGIL_FLOW_F_ACTIVE) !== 0;
  const established = (r.flags & VIGIL_FLOW_F_ESTABLISHED) !== 0;
  const acked = Number(r.bytes_acked);
  const received = Number(r.bytes_received);
  // An active open's SYN is acknowledged (snd_una moves past it); a passive one starts after its SYN-ACK.
  const syn = active && established && acked > 0 ? 1 : 0;
  const fin = (r.flags & VIGIL_FLOW_F_FIN_SENT) && (r.flags & VIGIL_FLOW_F_ALL_ACKED) && acked - syn > 0 ? 1 : 0;
  const finIn = (r.flags & VIGIL_FLOW_F_FIN_RCVD) && received > 0 ? 1 : 0;
  return {
    kind: 'tcp',
    event,
    timeBootNs: r.time_ns,
    startBootNs: noStart || r.start_ns === 0n ? undefined : r.start_ns,
    active,
    established,
    local: addressFromKernel(r.family, r.laddr),
    remote: addressFromKernel(r.family, r.raddr),
    localPort: r.lport,
    remotePort: r.rport,
    sk: r.sk,
    cookie: r.cookie,
    oldState: tcpStateName(r.oldstate),
    newState: tcpStateName(r.newstate),
    skErr: r.sk_err,
    bytesSent: acked - syn - fin,
    bytesReceived: received - finIn,
    rawBytesAcked: acked,
    rawBytesReceived: received,
    segsOut: r.segs_out,
    segsIn: r.segs_in,
    retransmits: r.total_retrans,
    srttUs: r.srtt_us,
    owner: owner(r.owner, (r.flags & VIGIL_FLOW_F_OWNER) !== 0),
  };
}

/** Decodes a DNS capture record. Pure. */
export function decodeDnsRecord(view: DataView, offset: number, size: number): DnsCaptureEvent {
  if (size < vigilFlowDnsRecord.offsets.payload) throw new RangeError(`DNS record of ${size} bytes`);
  const r = vigilFlowDnsRecord.decode(view, offset);
  if (r.kind !== VIGIL_FLOW_REC_DNS) throw new RangeError(`not a DNS record (kind 0x${r.kind.toString(16)})`);
  const captured = Math.min(r.captured, r.payload.length, size - vigilFlowDnsRecord.offsets.payload);
  return {
    kind: 'dns',
    timeBootNs: r.time_ns,
    direction: r.dir === VIGIL_FLOW_EGRESS ? 'egress' : 'ingress',
    source: addressFromKernel(r.family, r.saddr),
    destination: addressFromKernel(r.family, r.daddr),
    sourcePort: r.sport,
    destinationPort: r.dport,
    cookie: r.cookie,
    owner: owner(r.owner, true),
    length: r.payload_len,
    payload: r.payload.slice(0, captured),
  };
}

/** The record kind (first u32) of a ring record. */
function recordKind(view: DataView, offset: number, size: number): number {
  return size >= 4 ? view.getUint32(offset, true) : 0;
}

export class FlowSensor extends Sensor {
  /** The cgroup v2 root the packet programs are attached to (undefined without UDP/DNS). */
  readonly cgroupRoot: string | undefined;
  private iter: Link | undefined;
  private owners: TypedMap<bigint, VigilFlowOwner> | undefined;

  private constructor(obj: BpfObject, readonly options: FlowSensorOptions, cgroupRoot: string | undefined,
    /** What this kernel cannot give, one sentence each (empty when nothing is missing). */
    readonly limitations: readonly string[] = []) {
    super('flow', obj);
    this.cgroupRoot = cgroupRoot;
    this.owners = new TypedMap(obj.map('vigil_flow_owners'), codec.u64, vigilFlowOwner);
  }

  static async start(opts: FlowSensorOptions = {}): Promise<FlowSensor> {
    const tcp = opts.tcp ?? true;
    const udp = opts.udp ?? true;
    const dns = opts.dns ?? true;
    if (!tcp && !udp && !dns) throw new RangeError('FlowSensor: nothing to watch (tcp, udp and dns all off)');
    const ports = opts.dnsPorts ?? [53];
    if (ports.length > VIGIL_DNS_PORTS_MAX) throw new RangeError(`at most ${VIGIL_DNS_PORTS_MAX} DNS ports`);
    for (const p of ports) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`DNS port ${p}: not a port number`);
    }
    const tracefs = ensureTracefs();
    if (!tracefs.path) throw new NotSupportedError('tracefs', `tracepoints need tracefs: ${tracefs.reason ?? 'not mounted'}`);
    if (tcp) {
      const tp = await probeAttach('tp_btf');
      if (tp.status === 'unsupported') {
        throw new NotSupportedError('tp_btf', `TCP flows attach to inet_sock_set_state with BTF: ${tp.reason}`, '5.5');
      }
    }
    let cgroupRoot: string | undefined;
    if (udp || dns) {
      const skb = await probeAttach('cgroup_skb');
      if (skb.status === 'unsupported') {
        throw new NotSupportedError('cgroup_skb', `UDP and DNS flows need cgroup_skb programs: ${skb.reason}`, '4.10');
      }
      cgroupRoot = opts.cgroupRoot ?? cgroup2().path ?? undefined;
      if (!cgroupRoot) throw new NotSupportedError('cgroup2', 'UDP and DNS flows attach to the cgroup v2 root: none mounted');
    }
    const acceptEvents = ['sys_exit_accept4', 'sys_exit_accept']
      .filter((e) => existsSync(`${tracefs.path}/events/syscalls/${e}`));
    if (tcp && acceptEvents.length === 0) {
      throw new NotSupportedError('syscall tracepoints', 'no syscalls:sys_exit_accept4 tracepoint (CONFIG_FTRACE_SYSCALLS?)');
    }

    const programs: string[] = [];
    const limitations: string[] = [];
    if (tcp) programs.push('vigil_flow_tcp_state', 'vigil_flow_accept_exit');
    if (tcp && opts.tcpIterator) programs.push('vigil_flow_tcp_iter');
    // sock:sock_send_length / sock_recv_length: owners of UDP sockets opened before the sensor.
    const lengthEvents = ['sock_send_length', 'sock_recv_length']
      .filter((e) => existsSync(`${tracefs.path}/events/sock/${e}`));
    if (udp || dns) {
      programs.push('vigil_flow_sock_create', 'vigil_flow_egress', 'vigil_flow_ingress');
      if (lengthEvents.length === 2) {
        programs.push('vigil_flow_send_length', 'vigil_flow_recv_length');
      } else {
        limitations.push('this kernel has no sock:sock_send_length/sock_recv_length tracepoints: a UDP socket ' +
          'opened before the sensor started gets its process only when it sends a datagram; one that only ' +
          'receives has none (its flows and DNS answers carry no process, and with process filters on they are not reported)');
      }
    }
    const portBytes = new Uint8Array(2 * VIGIL_DNS_PORTS_MAX);
    const dv = new DataView(portBytes.buffer);
    ports.forEach((p, i) => dv.setUint16(2 * i, p, true));
    const obj = await Sensor.loadObject('flow', {
      filter: opts.filter, ring: opts, programs,
      constants: {
        vigil_flow_want_tcp: tcp ? 1 : 0,
        vigil_flow_want_udp: udp ? 1 : 0,
        vigil_flow_want_dns: dns ? 1 : 0,
        vigil_flow_want_opens: opts.tcpOpens ?? true ? 1 : 0,
        vigil_dns_ports: portBytes,
      },
    });
    const sensor = new FlowSensor(obj, opts, cgroupRoot, limitations);
    return sensor.starting(() => {
      sensor.openRing(opts, (view, offset, size) => sensor.onRecord(view, offset, size));
      if (tcp) {
        // Owners of accepted connections first, then the state machine.
        const accept = obj.program('vigil_flow_accept_exit');
        for (const e of acceptEvents) sensor.keep(accept.attachTracepoint('syscalls', e));
        sensor.keep(obj.program('vigil_flow_tcp_state').attach());
        if (opts.tcpIterator) sensor.iter = sensor.keep(obj.program('vigil_flow_tcp_iter').attachIter());
      }
      if (cgroupRoot) {
        if (programs.includes('vigil_flow_send_length')) {
          sensor.keep(obj.program('vigil_flow_send_length').attach());
          sensor.keep(obj.program('vigil_flow_recv_length').attach());
        }
        const fd = openSync(cgroupRoot, constants.O_RDONLY | constants.O_DIRECTORY);
        try {
          for (const p of ['vigil_flow_sock_create', 'vigil_flow_egress', 'vigil_flow_ingress']) {
            sensor.keep(obj.program(p).attachCgroup(fd, cgroupRoot));
          }
        } finally {
          closeSync(fd);
        }
      }
    });
  }

  private onRecord(view: DataView, offset: number, size: number): void {
    try {
      const kind = recordKind(view, offset, size);
      if (kind === VIGIL_FLOW_REC_TCP) {
        const e = decodeTcpRecord(view, offset, size);
        this.options.onTcp?.(e);
      } else if (kind === VIGIL_FLOW_REC_DNS) {
        const e = decodeDnsRecord(view, offset, size);
        this.options.onDns?.(e);
      } else {
        this.malformed++;
      }
    } catch (e) {
      if (e instanceof RangeError) this.malformed++;
      else throw e;
    }
  }

  /** The process behind a socket cookie, as the kernel last saw it (UDP sockets). */
  owner(cookie: bigint): SocketOwner | undefined {
    if (!this.owners || cookie === 0n) return undefined;
    const o = this.owners.get(cookie);
    return o ? owner(o, true) : undefined;
  }

  /** UDP conversations counted since the last drain (reads and clears the kernel's table). */
  drainUdp(): UdpConversation[] {
    const out: UdpConversation[] = [];
    const m = new TypedMap(this.object.map('vigil_flow_udp'), vigilFlowUdpKey, vigilFlowUdpValue);
    for (const [k, v] of m.drain()) {
      out.push({
        cookie: k.cookie,
        local: addressFromKernel(k.family, k.laddr),
        remote: addressFromKernel(k.family, k.raddr),
        localPort: k.lport,
        remotePort: k.rport,
        bytesSent: Number(v.bytes_tx),
        bytesReceived: Number(v.bytes_rx),
        datagramsSent: Number(v.packets_tx),
        datagramsReceived: Number(v.packets_rx),
        firstBootNs: v.first_ns,
        lastBootNs: v.last_ns,
        firstDirection: v.first_dir === VIGIL_FLOW_EGRESS ? 'egress' : 'ingress',
        cgroupId: v.cgroup_id,
      });
    }
    return out;
  }

  /** UDP conversations the kernel could not count because its table was full (since the start). */
  udpTableFull(): number {
    const m = new PerCpuMap(this.object.map('vigil_flow_udp_full'), codec.u32, codec.u64);
    return Number((m.get(0) ?? []).reduce((a, b) => a + b, 0n));
  }

  /**
   * Every live TCP connection of this network namespace (not listeners, not
   * TIME_WAIT), with its counters now: event 'snapshot', owner when the
   * sensor saw the connection open. Needs tcpIterator.
   */
  async snapshotTcp(): Promise<TcpFlowEvent[]> {
    if (!this.iter) throw new Error('FlowSensor: started without tcpIterator');
    const buf = await this.iter.readIter();
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const out: TcpFlowEvent[] = [];
    const size = vigilFlowTcpRecord.size;
    for (let o = 0; o + size <= buf.length; o += size) {
      try {
        out.push(decodeTcpRecord(view, o, size));
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        this.malformed++;
      }
    }
    return out;
  }

  protected override onClosed(): void {
    this.iter = undefined;
    this.owners = undefined;
  }
}
