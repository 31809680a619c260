// The L7 sensor: bpf/l7.bpf.c on the syscall tracepoints, its records
// through the connection tracker, one L7Record per request and response; or,
// for HTTP/1.x histograms alone, on a cgroup's packets (capture: { packets }).
//
//   const s = await L7Sensor.start({ protocols: new Set(['http']), onRecord: (r, t) => ... });
//   ... s.close();   // detaches, reads what the ring holds (its closes complete their responses)
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { PerCpuMap, codec, ensureTracefs, NotSupportedError, type BpfObject, type Link } from '../bpf/index.js';
import { probeAttach } from '../bpf/features.js';
import { addressFromKernel } from '../kernel/addr.js';
import { Sensor, type RingSensorOptions, type SensorStats } from '../sensors/sensor.js';
import {
  VIGIL_L7_CONN_CLOSED, VIGIL_L7_CONN_NEW, VIGIL_L7_CONN_NOT_L7, VIGIL_L7_DATA_CUT, VIGIL_L7_DATA_MAX, VIGIL_L7_READ_FAILED,
  VIGIL_L7_STASH_FULL, VIGIL_L7_HIST_OVERFLOW, VIGIL_L7_HIST_NO_STATE, VIGIL_L7_ROLE_SERVER, VIGIL_L7_TLS_NO_SOCKET, VIGIL_L7_TLS_BOUND, vigilL7Hist,
  vigilL7HistKey,
} from '../generated/l7.js';
import { LatencyHistogram, LATENCY_BUCKETS } from './histogram.js';
import { L7Decoder, PROTO_IDS } from './decode.js';
import { L7Tracker, type TrackerStats } from './tracker.js';
import { planTls, TLS_PROGRAMS, type GoLayout, type TlsLibrary, type TlsProblem, type TlsTarget } from './tls.js';
import { L7_WIRES, WIRE_PROTOCOLS, type L7Protocol, type L7Record, type L7Wire } from './types.js';


/** The calls followed, by tracepoint name: [entry program, tracepoint]. */
const CALLS: readonly [string, string][] = [
  ['enter_read', 'read'], ['enter_write', 'write'], ['enter_recvfrom', 'recvfrom'], ['enter_sendto', 'sendto'],
  ['enter_readv', 'readv'], ['enter_writev', 'writev'], ['enter_recvmsg', 'recvmsg'], ['enter_sendmsg', 'sendmsg'],
  ['enter_sendfile', 'sendfile64'],
];

/** Default bytes of each call sent up: a request's or response's headers, not its body. */
export const DEFAULT_CAPTURE_BYTES = 1024;

export interface L7SensorOptions extends Omit<RingSensorOptions<L7Record>, 'onEvent'> {
  protocols: ReadonlySet<L7Protocol>;
  /** A completed request/response, with its end time (CLOCK_BOOTTIME ns) as the event time. */
  onRecord(r: L7Record): void;
  /** Bytes of each call's data sent to user space (default 1024, at most 4096). */
  captureBytes?: number;
  /** Redact secrets (default true). */
  redact?: boolean;
  /** Connections followed at once, in the kernel and here (default 16,384). */
  maxConnections?: number;
  /**
   * Keep HTTP latency histograms per endpoint in the kernel (read with httpHistograms()).
   * maxEndpoints: endpoints kept (default 4,096); exchanges of others go to one overflow histogram, counted.
   */
  histograms?: { maxEndpoints?: number };
  /**
   * Send each call's bytes to user space for records (default true; false: histograms only; a list:
   * only the connections that speak these, e.g. HTTP/2's beside HTTP/1.x's histograms).
   */
  records?: boolean | readonly L7Wire[];
  /**
   * TLS plaintext through uprobes (default on where uprobes attach): OpenSSL, GnuTLS and Go
   * crypto/tls in the files planTls finds when the sensor starts and every `rescanMs` (default
   * 10 s; 0: never) after, and `binaries` (each an error in tlsReport() if it has no TLS
   * library). false: off.
   */
  tls?: boolean | { binaries?: readonly string[]; rescanMs?: number };
  /**
   * Where exchanges are seen: 'syscalls' (default): the socket calls' tracepoints, for every protocol,
   * records and TLS. { packets: DIR }: HTTP/1.x histograms alone, from cgroup skb programs on the
   * cgroup v2 directory DIR (and every cgroup below it), which see a TCP segment of the cgroup's
   * sockets and nothing else; the syscall tracepoints stay off (while one is on, every system call of
   * every task takes the kernel's slow path). Needs histograms, records false, no TLS and no filter
   * (a segment has no process: the cgroup chooses what is seen); endpoints' comm is empty.
   */
  capture?: 'syscalls' | { packets: string };
}

/** How often processes are looked at again for new TLS files (Node, Go, a library loaded later). */
export const DEFAULT_TLS_RESCAN_MS = 10_000;

/** What TLS capture attached to, and what it could not (with why). */
export interface TlsReport {
  /** Off: why (turned off, or uprobes unavailable). */
  off?: string;
  /** goLayout (Go): the struct offsets that find a connection's socket, from DWARF or assumed (and why). */
  attached: { library: TlsLibrary; name: string; probes: number; goLayout?: GoLayout }[];
  failed: TlsProblem[];
}

/** Default endpoints (service, method, route) the kernel keeps histograms for. */
export const DEFAULT_MAX_ENDPOINTS = 4096;

/** HTTP methods by their number in a histogram key (enum vigil_l7_method). */
const METHODS = ['', 'GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/** An endpoint's histogram as the kernel keeps it: totals since the sensor started. */
export interface EndpointHistogram {
  role: 'server' | 'client';
  comm: string;
  /** Server: its listening port; client: the remote end it calls. */
  port: number;
  remote?: string;
  method: string;
  route: string;
  count: number;
  errors: number;
  sumNs: bigint;
  hist: LatencyHistogram;
}

/** The kernel's histograms: one per endpoint, and the overflow's (endpoints beyond maxEndpoints). */
export interface HttpHistograms {
  endpoints: EndpointHistogram[];
  overflow: { count: number; errors: number; sumNs: bigint; hist: LatencyHistogram };
  /** Exchanges counted in the overflow histogram. */
  overflowed: bigint;
}

/** The kernel's counters and the tracker's. */
export interface L7Stats extends SensorStats {
  kernel: {
    connectionsNew: bigint; connectionsClosed: bigint; notL7: bigint; stashFull: bigint; dataCut: bigint;
    readFailed: bigint;
    /** Exchanges counted in the overflow histogram (the endpoint table was full). */
    histOverflow: bigint;
    /** Requests whose exchange could not be kept (the exchange table's LRU). */
    histNoState: bigint;
    /** TLS calls whose socket was not found (their records have no addresses). */
    tlsNoSocket: bigint;
    /** TLS sessions over memory BIOs (Node) whose socket was found from their ciphertext. */
    tlsBound: bigint;
    /** Connections the kernel's table holds now. */
    live: number;
    /** Dropped from the kernel's table without a close seen (LRU): new - closed - live. */
    evicted: bigint;
  };
  tracker: TrackerStats;
}

export class L7Sensor extends Sensor {
  private readonly tracker: L7Tracker;
  private readonly decoder = new L7Decoder();
  private tls: TlsReport = { attached: [], failed: [] };
  /** The files planned (device:inode), so that a rescan looks at new ones only. */
  private readonly tlsSeen = new Set<string>();
  private tlsTimer: NodeJS.Timeout | undefined;

  private constructor(obj: BpfObject, o: L7SensorOptions) {
    super('l7', obj);
    this.tracker = new L7Tracker({ redact: o.redact ?? true, protocols: o.protocols, maxConnections: o.maxConnections },
      (r) => o.onRecord(r));
  }

  static async start(o: L7SensorOptions): Promise<L7Sensor> {
    if (typeof o.capture === 'object') return L7Sensor.startPackets(o, o.capture.packets);
    const t = ensureTracefs();
    if (!t.path) throw new NotSupportedError('tracefs', `the l7 sensor attaches to syscall tracepoints: ${t.reason ?? 'not mounted'}`);
    const tracefs = t.path;
    if (o.protocols.size === 0) throw new RangeError('l7 sensor: no protocols');
    const capture = o.captureBytes ?? DEFAULT_CAPTURE_BYTES;
    if (!Number.isInteger(capture) || capture < 16 || capture > VIGIL_L7_DATA_MAX) {
      throw new RangeError(`l7 sensor: capture bytes ${capture}: expected 16 to ${VIGIL_L7_DATA_MAX}`);
    }
    const calls = CALLS.filter(([, tp]) => existsSync(`${tracefs}/events/syscalls/sys_enter_${tp}`));
    if (calls.length === 0) throw new NotSupportedError('syscall tracepoints', 'no socket read/write tracepoints here');
    let mask = 0;
    // The wire protocols that carry the records asked for (http: HTTP/1.x and HTTP/2; grpc: HTTP/2).
    for (const w of L7_WIRES) if (WIRE_PROTOCOLS[w].some((p) => o.protocols.has(p))) mask |= 1 << PROTO_IDS[w];
    const hist = o.histograms !== undefined;
    if (hist && !o.protocols.has('http')) throw new RangeError('l7 sensor: histograms are of http');
    const endpoints = o.histograms?.maxEndpoints ?? DEFAULT_MAX_ENDPOINTS;
    if (!Number.isInteger(endpoints) || endpoints < 1) throw new RangeError(`l7 sensor: max endpoints ${endpoints}: expected a positive integer`);
    const conns = o.maxConnections ?? 16384;
    const records = o.records ?? true;
    const recordMask = records === true ? 0xffffffff : records === false ? 0 : records.reduce((m, w) => m | (1 << PROTO_IDS[w]), 0);
    const seen = new Set<string>();
    const tls = await tlsPlan(o.tls, seen);
    const rescanMs = typeof o.tls === 'object' ? o.tls.rescanMs ?? DEFAULT_TLS_RESCAN_MS : DEFAULT_TLS_RESCAN_MS;
    if (!Number.isInteger(rescanMs) || rescanMs < 0) throw new RangeError(`l7 sensor: TLS rescan interval ${rescanMs}: expected whole milliseconds >= 0`);
    const obj = await Sensor.loadObject('l7', {
      filter: o.filter, ring: { ringBytes: recordMask !== 0 ? o.ringBytes ?? 8 << 20 : 4096 * 16, wakeupBytes: o.wakeupBytes },
      programs: ['l7_exit', 'enter_close', ...calls.map(([p]) => p), ...(tls.targets ? TLS_PROGRAMS : [])],
      constants: { capture_bytes: capture, protocols: mask, hist_http: hist ? 1 : 0, send_records: recordMask,
        tls_sessions: tls.targets ? 1 : 0 },
      // The exchange and histogram tables take memory only when histograms are kept.
      maxEntries: { l7_conns: conns, l7_exch: hist ? conns : 1, l7_hist: hist ? endpoints : 1, l7_tls_socks: tls.targets ? conns : 1 },
      directLoads: true,
    });
    const s = new L7Sensor(obj, o);
    return s.starting(() => {
      s.openRing(o, s.decoding((view, off, size) => s.record(view, off, size), () => {}));
      // Exits first (stage 1 detaches after the entries): every stashed call gets its exit.
      const exit = obj.program('l7_exit');
      for (const [, tp] of calls) s.keep(exit.attachTracepoint('syscalls', `sys_exit_${tp}`), 1);
      for (const [p, tp] of calls) s.keep(obj.program(p).attachTracepoint('syscalls', `sys_enter_${tp}`));
      s.keep(obj.program('enter_close').attachTracepoint('syscalls', 'sys_enter_close'));
      s.tls = { off: tls.off, attached: [], failed: [...tls.problems] };
      for (const id of seen) s.tlsSeen.add(id);
      for (const t of tls.targets ?? []) s.attachTls(t);
      if (tls.targets && rescanMs > 0) {
        s.tlsTimer = setInterval(() => s.rescanTls(), rescanMs);
        s.tlsTimer.unref();
      }
    });
  }

  /** The HTTP/1.x histograms from the packets of cgroup `dir` (L7SensorOptions.capture). */
  private static async startPackets(o: L7SensorOptions, dir: string): Promise<L7Sensor> {
    if (o.histograms === undefined) throw new RangeError('l7 sensor: packet capture keeps histograms only: give histograms');
    if (o.records !== false) throw new RangeError('l7 sensor: packet capture sends no records: give records: false');
    if (o.tls !== undefined && o.tls !== false) throw new RangeError('l7 sensor: packet capture sees no TLS plaintext: give tls: false');
    if (o.filter !== undefined && o.filter.flags !== 0) {
      throw new RangeError('l7 sensor: packet capture has no process to filter on: the cgroup chooses what is seen');
    }
    if (!o.protocols.has('http')) throw new RangeError('l7 sensor: histograms are of http');
    const endpoints = o.histograms.maxEndpoints ?? DEFAULT_MAX_ENDPOINTS;
    if (!Number.isInteger(endpoints) || endpoints < 1) throw new RangeError(`l7 sensor: max endpoints ${endpoints}: expected a positive integer`);
    let fd: number;
    try {
      fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (e) {
      throw new RangeError(`l7 sensor: cgroup ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    try {
      const obj = await Sensor.loadObject('l7', {
        ring: { ringBytes: 4096 * 16, wakeupBytes: o.wakeupBytes },
        programs: ['l7_pkt_in', 'l7_pkt_out'],
        constants: { hist_http: 1, send_records: 0, protocols: 1 << PROTO_IDS.http, tls_sessions: 0 },
        maxEntries: { l7_conns: 1, l7_exch: 1, l7_hist: endpoints, l7_tls_socks: 1, l7_stash: 1 },
        directLoads: true,
      });
      const s = new L7Sensor(obj, o);
      return await s.starting(() => {
        s.openRing(o, s.decoding((view, off, size) => s.record(view, off, size), () => {}));
        s.tls = { off: 'packet capture', attached: [], failed: [] };
        for (const p of ['l7_pkt_in', 'l7_pkt_out']) s.keep(obj.program(p).attachCgroup(fd, dir));
      });
    } finally {
      closeSync(fd);
    }
  }

  /** Looks at the processes again: files not seen before (a Go or Node program started since) get their probes. */
  private rescanTls(): void {
    if (this.closed) return;
    let plan: ReturnType<typeof planTls>;
    try {
      plan = planTls([], this.tlsSeen);
    } catch (e) {
      this.tls.failed.push({ name: '/proc', reason: `rescan: ${(e as Error).message}` });
      return;
    }
    this.tls.failed.push(...plan.problems);
    for (const t of plan.targets) this.attachTls(t);
  }

  /** Attaches one file's TLS uprobes, all or none (a failure is reported, the others go on). */
  private attachTls(t: TlsTarget): void {
    const links: Link[] = [];
    try {
      for (const p of t.probes) {
        links.push(this.object.program(p.program).attachUprobe({ binary: t.path, offset: p.offset, retprobe: p.retprobe, cookie: p.cookie }));
      }
    } catch (e) {
      for (const l of links) l.close();
      this.tls.failed.push({ name: t.name, library: t.library, reason: (e as Error).message });
      return;
    }
    // Returns detach after the entries, as the syscalls' exits do.
    t.probes.forEach((p, i) => this.keep(links[i]!, p.retprobe || p.program === 'tls_go_ret' ? 1 : 0));
    this.tls.attached.push({ library: t.library, name: t.name, probes: t.probes.length, ...(t.goLayout ? { goLayout: t.goLayout } : {}) });
  }

  /** What TLS capture attached to and what it could not. */
  tlsReport(): TlsReport {
    return { ...this.tls, attached: [...this.tls.attached], failed: [...this.tls.failed] };
  }

  /** Decodes one kernel record into the tracker; returns nothing (records come from the tracker). */
  private record(view: DataView, off: number, size: number): undefined {
    const k = this.decoder.decode(view, off, size);
    if (k.close) this.tracker.close(k.conn);
    else this.tracker.data(k.data);
    return undefined;
  }

  /** The kernel's HTTP latency histograms (totals since start; take differences for an interval). */
  httpHistograms(): HttpHistograms {
    const endpoints: EndpointHistogram[] = [];
    const view = (b: Buffer): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (const [k, v] of this.object.map('l7_hist').entries()) {
      const key = vigilL7HistKey.decode(view(k), 0);
      const h = vigilL7Hist.decode(view(v), 0);
      const client = key.role !== VIGIL_L7_ROLE_SERVER;
      endpoints.push({
        role: client ? 'client' : 'server', comm: key.comm, port: key.port,
        remote: client ? addressFromKernel(key.family, key.raddr).text : undefined,
        method: METHODS[key.method] ?? '?', route: key.route, count: Number(h.count), errors: Number(h.errors), sumNs: h.sum_ns,
        hist: LatencyHistogram.of(h.buckets),
      });
    }
    const other = this.object.map('l7_hist_other').lookup(Buffer.alloc(4));
    const o = other ? vigilL7Hist.decode(view(other), 0) : undefined;
    const counters = new PerCpuMap(this.object.map('l7_counters'), codec.u32, codec.u64);
    return {
      endpoints,
      overflow: { count: Number(o?.count ?? 0n), errors: Number(o?.errors ?? 0n), sumNs: o?.sum_ns ?? 0n,
        hist: LatencyHistogram.of(o?.buckets ?? new Array<number>(LATENCY_BUCKETS).fill(0)) },
      overflowed: (counters.get(VIGIL_L7_HIST_OVERFLOW) ?? []).reduce((a, b) => a + b, 0n),
    };
  }

  l7Stats(): L7Stats {
    const m = new PerCpuMap(this.object.map('l7_counters'), codec.u32, codec.u64);
    const sum = (i: number): bigint => (m.get(i) ?? []).reduce((a, b) => a + b, 0n);
    let live = 0;
    for (const _ of this.object.map('l7_conns').keys()) live++;
    const created = sum(VIGIL_L7_CONN_NEW);
    const closed = sum(VIGIL_L7_CONN_CLOSED);
    const evicted = created - closed - BigInt(live);
    return {
      ...this.stats(),
      kernel: {
        connectionsNew: created, connectionsClosed: closed, notL7: sum(VIGIL_L7_CONN_NOT_L7), stashFull: sum(VIGIL_L7_STASH_FULL),
        dataCut: sum(VIGIL_L7_DATA_CUT), readFailed: sum(VIGIL_L7_READ_FAILED), histOverflow: sum(VIGIL_L7_HIST_OVERFLOW),
        histNoState: sum(VIGIL_L7_HIST_NO_STATE), tlsNoSocket: sum(VIGIL_L7_TLS_NO_SOCKET),
        tlsBound: sum(VIGIL_L7_TLS_BOUND), live, evicted: evicted > 0n ? evicted : 0n,
      },
      tracker: this.tracker.stats(),
    };
  }

  get trackerStats(): TrackerStats {
    return this.tracker.stats();
  }

  /** The ring is read to its end before this: requests still open are counted as unanswered. */
  protected override onClosed(): void {
    clearInterval(this.tlsTimer);
    this.tracker.flush();
  }
}

/** TLS capture's plan: the files to attach to (targets undefined: off, and why). */
async function tlsPlan(opt: L7SensorOptions['tls'], seen: Set<string>): Promise<{ targets?: TlsTarget[]; problems: TlsProblem[]; off?: string }> {
  if (opt === false) return { problems: [], off: 'turned off' };
  const up = await probeAttach('uprobe');
  if (!up.available) return { problems: [], off: `uprobes are not available here (${up.reason})` };
  const { targets, problems } = planTls(typeof opt === 'object' ? opt.binaries ?? [] : [], seen);
  return { targets, problems };
}

/** What TLS capture could not do, as lines for a note (nothing when it is off by request or all attached). */
export function tlsNotes(r: TlsReport): string[] {
  if (r.off && r.off !== 'turned off') return [`no TLS plaintext: ${r.off}`];
  return [
    ...r.failed.map((f) => `no TLS plaintext from ${f.name}${f.library ? ` (${f.library})` : ''}: ${f.reason}`),
    // Attached, but its sockets are found through offsets not read from the binary itself.
    ...r.attached.filter((a) => a.goLayout?.source === 'assumed').map((a) =>
      `TLS plaintext from ${a.name} (go): the offsets to its sockets are assumed (those of Go 1.9 and later), ${a.goLayout!.reason}`),
  ];
}
