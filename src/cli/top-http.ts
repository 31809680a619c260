// vigil top http: per service and endpoint, requests/s, error rate and
// p50/p90/p99 latency, from the L7 sensor's paired requests (kernel times),
// over each interval.
import { UsageError } from './command.js';
import { filterSetFromFlags, parseFlags } from './flags.js';
import { fmtCount, fmtNs, pad, refreshView, rpad, parseTopViewFlags, topCommonOptions, topViewOf, topViewStart, type TopCommonOptions } from './refresh.js';
import { L7Sensor } from '../l7/sensor.js';
import { LatencyHistogram } from '../l7/histogram.js';
import type { L7Record } from '../l7/types.js';

export const TOP_HTTP_USAGE = `usage: vigil top http [options]

HTTP/1.x requests per service and endpoint, refreshed every interval:
requests/s, errors (5xx for servers, 4xx and 5xx for clients), p50/p90/p99
latency from the request's first byte to the response's last (kernel times
of the socket calls; log-linear histograms, 1/8 of a power of two wide,
kept per interval in Vigil). A service is the process and its listening
port (role server) or the remote end it calls (role client); an endpoint is
the method and the route template (ids as {id}). Busiest first.

options:
  --interval S        seconds between refreshes (default 1)
  --duration S        stop after S seconds
  --limit N           at most N rows
  --output FORMAT     table (default) or json (one object per interval; with
                      --duration, one covering the whole time)
  --pid N, --follow-children, --uid N, --comm NAME, --container ID|host
                      in-kernel filters, as vigil top's
  -h, --help`;

/** Whether argv asks for the http view (its first positional). */
export function isTopHttp(argv: readonly string[]): boolean {
  return topViewOf(argv) === 'http';
}

export function parseTopHttpArgs(argv: string[]): TopCommonOptions {
  return topCommonOptions(parseTopViewFlags(argv, 'http', {}));
}

export interface HttpRow {
  role: 'server' | 'client';
  service: string;
  method: string;
  route: string;
  requests: number;
  errors: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
}

interface Acc {
  row: Omit<HttpRow, 'p50Ns' | 'p90Ns' | 'p99Ns'>;
  hist: LatencyHistogram;
}

/** Records of an interval, aggregated; take() returns the rows and starts the next interval. Pure. */
export class HttpTopTable {
  private acc = new Map<string, Acc>();

  add(r: L7Record): void {
    if (r.protocol !== 'http') return;
    const service = r.role === 'server' ? `${r.comm}:${r.local.port}` : `${r.comm}->${r.remote.ip}:${r.remote.port}`;
    const route = r.route ?? r.target ?? '';
    const key = `${r.role}\0${service}\0${r.method}\0${route}`;
    let a = this.acc.get(key);
    if (!a) {
      // Bounded: route templates keep the key space small; a flood of distinct routes is cut here.
      if (this.acc.size >= 10_000) return;
      a = { row: { role: r.role, service, method: r.method, route, requests: 0, errors: 0 }, hist: new LatencyHistogram() };
      this.acc.set(key, a);
    }
    a.row.requests++;
    if (r.error) a.row.errors++;
    a.hist.add(Number(r.endBootNs - r.startBootNs));
  }

  take(): HttpRow[] {
    const rows = [...this.acc.values()].map(({ row, hist }) => ({
      ...row, p50Ns: hist.quantile(0.5), p90Ns: hist.quantile(0.9), p99Ns: hist.quantile(0.99),
    }));
    this.acc = new Map();
    return rows.sort((a, b) => b.requests - a.requests || a.route.localeCompare(b.route));
  }
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
  using filter = filterSetFromFlags(o.filter, o.container);
  const table = new HttpTopTable();
  const sensor = await L7Sensor.start({ filter, protocols: new Set(['http']), onRecord: (r) => table.add(r) });
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
      sensor.drain();
      const now = process.hrtime.bigint();
      const seconds = Math.max(Number(now - last) / 1e9, 1e-3);
      last = now;
      const rows = table.take();
      const st = sensor.l7Stats();
      return {
        text: () => render(rows, seconds, limit()),
        json: () => ({
          interval_s: seconds, rows: rows.slice(0, o.limit).map((r) => ({ ...r, requests_per_s: r.requests / seconds })),
          lost: st.lost, resyncs: st.tracker.resyncs, unanswered: st.tracker.unanswered,
        }),
      };
    },
    close: () => sensor.close(),
  });
}
