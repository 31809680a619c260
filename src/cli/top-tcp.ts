// `vigil top tcp`: TCP connections by bytes and rate, refreshed like
// `vigil top syscalls`. top.ts hands argv here for the tcp view.
//
// Each interval the TCP socket iterator (bpf/flow.bpf.c, iter/tcp) reads
// every live connection's counters; the rate is the difference from the
// previous read. Connections that closed during the interval come from the
// flow sensor's close records (their final counters), so a short transfer
// between two refreshes is not missed. The owning process is the one the
// sensor saw connect or accept; connections older than Vigil show no pid.
import { UsageError } from './command.js';
import { parseFlags } from './flags.js';
import { fmtBytes, pad, refreshView, rpad, parseTopViewFlags, topCommonOptions, topFilterSet, topViewOf, topViewStart, type TopCommonOptions } from './refresh.js';
import type { FilterOptions } from '../sensors/filter.js';
import { ProcessSensor } from '../sensors/process.js';
import { ProcessCache } from '../process/cache.js';
import { FlowSensor, type TcpFlowEvent } from '../network/flow-sensor.js';

export const TOP_TCP_USAGE = `usage: vigil top tcp [options]

TCP connections by throughput, refreshed every interval like top(1): per
connection the process that opened or accepted it, addresses, state, bytes
sent and received per second and in total, smoothed RTT, retransmits.
Connections that closed during the interval are shown once with their last
counts (state CLOSED). Counters are tcp_sock's, read in the kernel by a
socket iterator (this network namespace).

In a terminal: q or Ctrl-C quits. Otherwise one table per interval.

options:
  --interval S        seconds between refreshes (default 1)
  --duration S        stop after S seconds
  --limit N           at most N rows (default: what fits the terminal; all in json)
  --sort rate|bytes   busiest now (default) or most bytes in total
  --output FORMAT     table (default) or json. json with --duration prints ONE
                      snapshot covering the S seconds, then exits; without it,
                      one per interval, and on Ctrl-C one for the interval cut
                      short (interval_s)
  --pid N [--follow-children], --uid N, --comm NAME, --container ID|host,
  --namespace NS, --pod NAME, --label KEY[=VALUE], --cri-socket PATH
                      in-kernel filters: only connections these processes
                      opened or accepted after the start
  -h, --help`;

export interface TopTcpOptions extends TopCommonOptions {
  sort: 'rate' | 'bytes';
}

/** Whether argv asks for the tcp view (the first positional, skipping option values). */
export function isTopTcp(argv: readonly string[]): boolean {
  return topViewOf(argv, ['--sort']) === 'tcp';
}

export function parseTopTcpArgs(argv: string[]): TopTcpOptions {
  const values = parseTopViewFlags(argv, 'tcp', { sort: { type: 'string', default: 'rate' } });
  if (values.sort !== 'rate' && values.sort !== 'bytes') throw new UsageError(`--sort: rate or bytes, got "${values.sort}"`);
  return { ...topCommonOptions(values), sort: values.sort };
}

export interface TcpRow {
  pid: number | undefined;
  comm: string;
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  /** 'ESTABLISHED', ... or 'CLOSED' for a connection that ended during the interval. */
  state: string;
  direction: 'out' | 'in' | '?';
  bytesSent: number;
  bytesReceived: number;
  /** Bytes per second over the interval. */
  sendRate: number;
  receiveRate: number;
  srttUs: number;
  retransmits: number;
  cookie: bigint;
}

export interface TcpTopSnapshot {
  timeMs: number;
  intervalNs: number;
  rows: TcpRow[];
  totals: { connections: number; closed: number; sendRate: number; receiveRate: number };
}

/**
 * Turns successive socket snapshots and close records into per-interval
 * rows. Pure: the caller reads the kernel.
 */
export class TcpTopTable {
  private seen = new Map<bigint, { sent: number; received: number }>();
  private closed: TcpFlowEvent[] = [];

  /** The counters connections had when watching began: rates count from here. */
  baseline(snapshot: readonly TcpFlowEvent[]): void {
    for (const e of snapshot) this.seen.set(e.cookie, { sent: e.bytesSent, received: e.bytesReceived });
  }

  /** A close (or failed) record from the flow sensor. */
  onClose(e: TcpFlowEvent): void {
    this.closed.push(e);
  }

  take(snapshot: readonly TcpFlowEvent[], intervalNs: number, sort: 'rate' | 'bytes' = 'rate', timeMs = Date.now()):
    TcpTopSnapshot {
    const secs = intervalNs / 1e9 || 1e-9;
    const rows: TcpRow[] = [];
    const next = new Map<bigint, { sent: number; received: number }>();
    const row = (e: TcpFlowEvent, state: string): TcpRow => {
      const prev = this.seen.get(e.cookie) ?? { sent: 0, received: 0 };
      return {
        pid: e.owner?.pid, comm: e.owner?.comm ?? '', local: e.local.text, localPort: e.localPort,
        remote: e.remote.text, remotePort: e.remotePort, state,
        direction: e.startBootNs === undefined ? '?' : e.active ? 'out' : 'in',
        bytesSent: e.bytesSent, bytesReceived: e.bytesReceived,
        sendRate: Math.max(0, e.bytesSent - prev.sent) / secs,
        receiveRate: Math.max(0, e.bytesReceived - prev.received) / secs,
        srttUs: e.srttUs, retransmits: e.retransmits, cookie: e.cookie,
      };
    };
    const closedNow = new Set<bigint>();
    for (const e of this.closed.splice(0)) {
      if (e.event === 'failed') continue;
      rows.push(row(e, 'CLOSED'));
      closedNow.add(e.cookie);
    }
    for (const e of snapshot) {
      if (closedNow.has(e.cookie)) continue;
      rows.push(row(e, e.newState));
      next.set(e.cookie, { sent: e.bytesSent, received: e.bytesReceived });
    }
    this.seen = next;
    const busy = (r: TcpRow): number => r.sendRate + r.receiveRate;
    const total = (r: TcpRow): number => r.bytesSent + r.bytesReceived;
    rows.sort(sort === 'rate'
      ? (a, b) => busy(b) - busy(a) || total(b) - total(a) || (a.cookie < b.cookie ? -1 : 1)
      : (a, b) => total(b) - total(a) || busy(b) - busy(a) || (a.cookie < b.cookie ? -1 : 1));
    return {
      timeMs, intervalNs, rows,
      totals: {
        connections: rows.length, closed: closedNow.size,
        sendRate: rows.reduce((a, r) => a + r.sendRate, 0), receiveRate: rows.reduce((a, r) => a + r.receiveRate, 0),
      },
    };
  }
}

// --- formatting ---------------------------------------------------------------

function fmtUs(us: number): string {
  if (us < 1000) return `${us}us`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)}ms`;
  return `${(us / 1e6).toFixed(2)}s`;
}

const hostPort = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

export function renderTcp(s: TcpTopSnapshot, limit?: number): string[] {
  const lines = [
    `vigil top tcp  ${new Date(s.timeMs).toTimeString().slice(0, 8)}  interval ${(s.intervalNs / 1e9).toFixed(2)}s  ` +
    `connections ${s.totals.connections} (${s.totals.closed} closed)  ` +
    `out ${fmtBytes(s.totals.sendRate)}/s  in ${fmtBytes(s.totals.receiveRate)}/s`,
    `${rpad('PID', 7)} ${pad('COMM', 15)} ${pad('LOCAL', 22)} ${pad('', 2)} ${pad('REMOTE', 22)} ${pad('STATE', 11)} ` +
    `${rpad('TX/s', 8)} ${rpad('RX/s', 8)} ${rpad('TX', 8)} ${rpad('RX', 8)} ${rpad('SRTT', 8)} ${rpad('RETR', 5)}`,
  ];
  for (const r of s.rows.slice(0, limit)) {
    lines.push(`${rpad(r.pid === undefined ? '-' : String(r.pid), 7)} ${pad(r.comm || '-', 15)} ` +
      `${pad(hostPort(r.local, r.localPort), 22)} ${pad(r.direction === 'in' ? '<-' : r.direction === 'out' ? '->' : '--', 2)} ` +
      `${pad(hostPort(r.remote, r.remotePort), 22)} ${pad(r.state, 11)} ${rpad(fmtBytes(r.sendRate), 8)} ` +
      `${rpad(fmtBytes(r.receiveRate), 8)} ${rpad(fmtBytes(r.bytesSent), 8)} ${rpad(fmtBytes(r.bytesReceived), 8)} ` +
      `${rpad(fmtUs(r.srttUs), 8)} ${rpad(String(r.retransmits), 5)}`);
  }
  return lines;
}

const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

export function tcpJson(s: TcpTopSnapshot, limit: number | undefined): object {
  return {
    top: 'tcp', time: new Date(s.timeMs).toISOString(), interval_s: round(s.intervalNs / 1e9, 3),
    totals: { connections: s.totals.connections, closed: s.totals.closed, send_rate: round(s.totals.sendRate),
      receive_rate: round(s.totals.receiveRate) },
    rows: s.rows.slice(0, limit).map((r) => ({
      pid: r.pid ?? null, comm: r.comm, local: r.local, local_port: r.localPort, remote: r.remote,
      remote_port: r.remotePort, state: r.state, direction: r.direction, bytes_sent: r.bytesSent,
      bytes_received: r.bytesReceived, send_rate: round(r.sendRate), receive_rate: round(r.receiveRate),
      srtt_us: r.srttUs, retransmits: r.retransmits, socket_cookie: Number(r.cookie),
    })),
  };
}

// --- the command ----------------------------------------------------------------

export async function runTopTcp(argv: string[]): Promise<number> {
  const o = topViewStart(argv, TOP_TCP_USAGE, parseTopTcpArgs);
  if (!o) return 0;
  using filter = await topFilterSet(o);
  using cache = new ProcessCache();
  const table = new TcpTopTable();
  // The process sensor keeps --pid --follow-children's tree current.
  const proc = o.filter.followChildren
    ? await ProcessSensor.start({ cache, filter, kinds: [], onEvent: () => {} })
    : undefined;
  let sensor: FlowSensor;
  try {
    sensor = await FlowSensor.start({
      filter, tcp: true, udp: false, dns: false, tcpIterator: true,
      onTcp: (e) => {
        if (e.event === 'close') table.onClose(e);
      },
    });
    table.baseline(await sensor.snapshotTcp());
  } catch (e) {
    proc?.close();
    throw e;
  }
  let last = process.hrtime.bigint();
  const json = o.output === 'json';
  const interactive = !json && process.stdout.isTTY === true;
  const limit = (): number | undefined => (interactive ? o.limit ?? Math.max(1, (process.stdout.rows || 24) - 3) : o.limit);
  return await refreshView({
    command: 'top', view: 'tcp', intervalS: o.intervalS, durationS: o.durationS, json, interactive,
    sources: [...(proc ? [{ name: proc.name, source: proc }] : []), { name: sensor.name, source: sensor }],
    take: async () => {
      sensor.drain();
      const snap = await sensor.snapshotTcp();
      const now = process.hrtime.bigint();
      const s = table.take(snap, Number(now - last), o.sort);
      last = now;
      return { text: () => renderTcp(s, limit()), json: () => tcpJson(s, o.limit) };
    },
    close: () => {
      sensor.close();
      proc?.close();
    },
  });
}
