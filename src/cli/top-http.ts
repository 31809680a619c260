// vigil top http: per service and endpoint, requests/s, error rate and
// p50/p90/p99 latency over each interval, from the latency histograms the
// L7 sensor keeps in the kernel for HTTP/1.x (nothing per request leaves the
// kernel), and from the records of HTTP/2 and gRPC connections, whose
// headers only user space can decode (HPACK). With --capture packets, HTTP/1.x
// alone from a cgroup's packets: the syscall tracepoints stay off.
import path from 'node:path';
import { UsageError } from './command.js';
import { parseFlags } from './flags.js';
import { fmtCount, fmtNs, pad, refreshView, rpad, parseTopViewFlags, topCommonOptions, topFilterSet, topViewOf, topViewStart, type TopCommonOptions } from './refresh.js';
import { DEFAULT_MAX_ENDPOINTS, L7Sensor, type EndpointHistogram, type HttpHistograms } from '../l7/sensor.js';
import { LatencyHistogram } from '../l7/histogram.js';
import { ListenerNames } from '../l7/listeners.js';
import { cgroup2 } from '../bpf/mounts.js';
import type { L7Record } from '../l7/types.js';

export const TOP_HTTP_USAGE = `usage: vigil top http [options]

HTTP/1.x, HTTP/2 and gRPC requests per service and endpoint, refreshed every interval:
requests/s, errors (5xx for servers, 4xx and 5xx for clients), p50/p90/p99
latency from the request's first byte to the response's last (kernel times
of the socket calls), from log-linear histograms (1/8 of a power of two
wide) kept in the kernel per endpoint for HTTP/1.x (no request leaves the
kernel); HTTP/2 and gRPC connections' calls go to user space, whose HPACK
decoding gives their endpoints (method GRPC: the path is the service and
method), kept in the same histograms and bounded the same way. A
service is the process and its listening port (role server) or the remote
end it calls (role client); an endpoint is the method and the route
template (ids as {id}, the first 87 bytes). Busiest first.

options:
  --interval S        seconds between refreshes (default 1)
  --duration S        stop after S seconds
  --limit N           at most N rows
  --max-endpoints N   endpoints the kernel keeps histograms for (default 4096,
                      ~1 KiB each); the exchanges of others are counted together
                      in one row, "(other endpoints)"
  --output FORMAT     table (default) or json (one object per interval, and on
                      Ctrl-C one for the interval cut short; with --duration,
                      one covering the whole time)
  --capture WHERE     syscalls (default): the socket calls' tracepoints, for
                      every process; packets: HTTP/1.x alone, from the TCP
                      segments of one cgroup's sockets (cgroup skb programs),
                      which leaves the syscall tracepoints off (while one is
                      on, every system call on the host takes the kernel's
                      slow path); latency is from the request's first segment
                      in to the response's last out; a segment has no process:
                      a server is named by the process listening on its port,
                      a client is "?"; no HTTP/2, TLS or process filters
  --cgroup DIR        with --capture packets: the cgroup v2 directory whose
                      sockets (and its descendants') are seen, absolute or
                      relative to the cgroup v2 root (default: the root, every
                      socket on the host)
  --pid N, --follow-children, --uid N, --comm NAME, --container ID|host,
  --namespace NS, --pod NAME, --label KEY[=VALUE], --cri-socket PATH
                      in-kernel filters, as vigil top's (not with --capture packets)
  -h, --help`;

/** Whether argv asks for the http view (its first positional). */
export function isTopHttp(argv: readonly string[]): boolean {
  return topViewOf(argv) === 'http';
}

export interface TopHttpOptions extends TopCommonOptions {
  maxEndpoints: number;
  /** --capture packets: the cgroup directory whose sockets are seen; undefined: the syscall tracepoints. */
  packets?: string;
}

/** The task filters: a packet has no process to filter on. */
const PROCESS_FLAGS = ['pid', 'follow-children', 'uid', 'comm', 'container', 'namespace', 'pod', 'label', 'cri-socket'] as const;

/** Most endpoints --max-endpoints takes (a histogram is ~1 KiB of kernel memory). */
const MAX_ENDPOINTS_LIMIT = 65_536;

export function parseTopHttpArgs(argv: string[]): TopHttpOptions {
  const values = parseTopViewFlags(argv, 'http', {
    'max-endpoints': { type: 'string', default: String(DEFAULT_MAX_ENDPOINTS) },
    capture: { type: 'string', default: 'syscalls' },
    cgroup: { type: 'string' },
  });
  const n = Number(values['max-endpoints']);
  if (!/^\d+$/.test(values['max-endpoints']) || n < 1 || n > MAX_ENDPOINTS_LIMIT) {
    throw new UsageError(`--max-endpoints: expected 1 to ${MAX_ENDPOINTS_LIMIT}, got "${values['max-endpoints']}"`);
  }
  if (values.capture === 'syscalls') {
    if (values.cgroup !== undefined) throw new UsageError('--cgroup: only with --capture packets');
    return { ...topCommonOptions(values), maxEndpoints: n };
  }
  if (values.capture !== 'packets') throw new UsageError(`--capture: expected syscalls or packets, got "${values.capture}"`);
  // Before the filters' own checks: none of them applies here.
  const given = PROCESS_FLAGS.find((f) => { const v = values[f]; return Array.isArray(v) ? v.length > 0 : v !== undefined && v !== false; });
  if (given) throw new UsageError(`--${given}: not with --capture packets (a segment has no process; --cgroup chooses what is seen)`);
  const root = cgroup2().path;
  if (!root) throw new UsageError('--capture packets: no cgroup v2 hierarchy here');
  const dir = values.cgroup === undefined ? root
    : path.isAbsolute(values.cgroup) && values.cgroup.startsWith(`${root}/`) ? values.cgroup : path.join(root, values.cgroup);
  if (dir !== root && !dir.startsWith(`${root}/`)) throw new UsageError(`--cgroup: ${values.cgroup} is not under the cgroup v2 root ${root}`);
  return { ...topCommonOptions(values), maxEndpoints: n, packets: dir };
}

export interface HttpRow {
  /** 'other': the endpoints beyond the kernel's table (--max-endpoints), together. */
  role: 'server' | 'client' | 'other';
  service: string;
  method: string;
  route: string;
  requests: number;
  errors: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
}

interface Seen {
  count: number;
  errors: number;
  hist: LatencyHistogram;
}

/**
 * Endpoint histograms from records (HTTP/2 and gRPC, whose headers the kernel cannot decode), as the
 * kernel keeps HTTP/1.x's: totals since the start; beyond `max` endpoints, counted in `overflow`. Pure.
 */
export class RecordHistograms {
  private readonly endpoints = new Map<string, EndpointHistogram>();
  readonly overflow = { count: 0, errors: 0, sumNs: 0n, hist: new LatencyHistogram() };
  overflowed = 0n;

  constructor(private readonly max: number) {}

  add(r: L7Record): void {
    const port = r.role === 'server' ? r.local.port : r.remote.port;
    const method = r.protocol === 'grpc' ? 'GRPC' : r.method;
    const route = r.route ?? '';
    const key = `${r.role}\0${r.comm}\0${port}\0${r.remote.ip}\0${method}\0${route}`;
    let e: { count: number; errors: number; sumNs: bigint; hist: LatencyHistogram } | undefined = this.endpoints.get(key);
    if (!e && this.endpoints.size >= this.max) {
      e = this.overflow;
      this.overflowed++;
    }
    if (!e) {
      const ep: EndpointHistogram = { role: r.role, comm: r.comm, port, ...(r.role === 'client' ? { remote: r.remote.ip } : {}), method, route,
        count: 0, errors: 0, sumNs: 0n, hist: new LatencyHistogram() };
      this.endpoints.set(key, ep);
      e = ep;
    }
    const ns = r.endBootNs - r.startBootNs;
    e.count++;
    if (r.error) e.errors++;
    e.sumNs += ns;
    e.hist.add(Number(ns));
  }

  /** The kernel's histograms with these beside them (a copy of each: readings must not change later). */
  merged(kernel: HttpHistograms): HttpHistograms {
    const copy = <T extends { count: number; errors: number; sumNs: bigint; hist: LatencyHistogram }>(h: T): T =>
      ({ ...h, hist: LatencyHistogram.of(h.hist.counts) });
    const o = kernel.overflow;
    const hist = LatencyHistogram.of(o.hist.counts.map((c, b) => c + this.overflow.hist.counts[b]!));
    return {
      endpoints: [...kernel.endpoints, ...[...this.endpoints.values()].map(copy)],
      overflow: { count: o.count + this.overflow.count, errors: o.errors + this.overflow.errors, sumNs: o.sumNs + this.overflow.sumNs, hist },
      overflowed: kernel.overflowed + this.overflowed,
    };
  }
}

/** Readings of the kernel's histograms; take() returns what the interval since the last added. Pure. */
export class HttpTopTable {
  private prev = new Map<string, Seen>();

  take(now: HttpHistograms): HttpRow[] {
    const next = new Map<string, Seen>();
    const rows: HttpRow[] = [];
    const row = (key: string, base: Omit<HttpRow, 'requests' | 'errors' | 'p50Ns' | 'p90Ns' | 'p99Ns'>, s: Seen): void => {
      next.set(key, s);
      const before = this.prev.get(key);
      const requests = s.count - (before?.count ?? 0);
      if (requests <= 0) return;
      const h = s.hist.since(before?.hist);
      rows.push({ ...base, requests, errors: s.errors - (before?.errors ?? 0), p50Ns: h.quantile(0.5), p90Ns: h.quantile(0.9),
        p99Ns: h.quantile(0.99) });
    };
    for (const e of now.endpoints) {
      const service = e.role === 'server' ? `${e.comm}:${e.port}` : `${e.comm}->${e.remote}:${e.port}`;
      row(`${e.role}\0${service}\0${e.method}\0${e.route}`, { role: e.role, service, method: e.method, route: e.route }, e);
    }
    row('other', { role: 'other', service: '(other endpoints)', method: '', route: '' }, now.overflow);
    this.prev = next;
    return rows.sort((a, b) => b.requests - a.requests || a.route.localeCompare(b.route));
  }
}

/** Endpoints without a process (from packets) named: a server by the process listening on its port, a client "?". */
function named(h: HttpHistograms, listeners: ListenerNames): HttpHistograms {
  for (const e of h.endpoints) {
    if (e.comm === '') e.comm = (e.role === 'server' ? listeners.name(e.port) : undefined) ?? '?';
  }
  return h;
}

function render(rows: HttpRow[], seconds: number, limit: number | undefined): string[] {
  const out = [`${pad('ROLE', 7)}${pad('SERVICE', 28)}${pad('METHOD', 8)}${pad('ROUTE', 32)}${rpad('REQ/S', 9)}${rpad('ERR%', 7)}` +
    `${rpad('P50', 10)}${rpad('P90', 10)}${rpad('P99', 10)}`];
  for (const r of rows.slice(0, limit)) {
    out.push(`${pad(r.role, 7)}${pad(r.service, 28)}${pad(r.method, 8)}${pad(r.route, 32)}` +
      `${rpad(fmtCount(r.requests / seconds), 9)}${rpad(((100 * r.errors) / r.requests).toFixed(1), 7)}` +
      `${rpad(fmtNs(r.p50Ns), 10)}${rpad(fmtNs(r.p90Ns), 10)}${rpad(fmtNs(r.p99Ns), 10)}`);
  }
  return out;
}

export async function runTopHttp(argv: string[]): Promise<number> {
  const o = topViewStart(argv, TOP_HTTP_USAGE, parseTopHttpArgs);
  if (!o) return 0;
  using filter = await topFilterSet(o);
  const table = new HttpTopTable();
  const h2 = new RecordHistograms(o.maxEndpoints);
  // HTTP/1.x is counted in the kernel; only HTTP/2 connections' calls come up, for their records.
  const sensor = o.packets === undefined
    ? await L7Sensor.start({
      filter, protocols: new Set(['http', 'grpc']), onRecord: (r) => h2.add(r), records: ['http2'],
      histograms: { maxEndpoints: o.maxEndpoints },
    })
    : await L7Sensor.start({
      protocols: new Set(['http']), onRecord: () => {}, records: false, tls: false,
      histograms: { maxEndpoints: o.maxEndpoints }, capture: { packets: o.packets },
    });
  const listeners = new ListenerNames();
  const json = o.output === 'json';
  const interactive = !json && process.stdout.isTTY === true;
  const limit = (): number | undefined => (interactive ? o.limit ?? Math.max(1, (process.stdout.rows || 24) - 3) : o.limit);
  // With --duration and json: one frame covering the whole time.
  const intervalS = json && o.durationS !== undefined ? o.durationS : o.intervalS;
  let last = process.hrtime.bigint();
  return await refreshView({
    command: 'top', view: 'http', intervalS, durationS: o.durationS, json, interactive,
    sources: [{ name: sensor.name, source: sensor }],
    take: () => {
      const now = process.hrtime.bigint();
      const seconds = Math.max(Number(now - last) / 1e9, 1e-3);
      last = now;
      const hists = named(h2.merged(sensor.httpHistograms()), listeners);
      const rows = table.take(hists);
      const st = sensor.l7Stats();
      return {
        text: () => render(rows, seconds, limit()),
        json: () => ({
          interval_s: seconds, rows: rows.slice(0, o.limit).map((r) => ({ ...r, requests_per_s: r.requests / seconds })),
          overflowed: Number(hists.overflowed), no_state: Number(st.kernel.histNoState),
        }),
      };
    },
    close: () => sensor.close(),
  });
}
