// Request-duration histograms of the L7 records, named by the OpenTelemetry
// semantic conventions: http.server.request.duration,
// http.client.request.duration, db.client.operation.duration,
// rpc.server.duration and rpc.client.duration (gRPC),
// messaging.client.operation.duration (Kafka) (seconds, the
// conventions' recommended bucket bounds, their attributes as labels).
// Bounded: at most MAX_SERIES label sets per metric; the requests of others
// are counted in one series whose labels are all "_other".
import type { L7Record } from './types.js';

export type L7MetricName = 'http.server.request.duration' | 'http.client.request.duration' | 'db.client.operation.duration' |
  'rpc.server.duration' | 'rpc.client.duration' | 'messaging.client.operation.duration';

/** The conventions' recommended explicit bounds for request durations, seconds. */
export const DURATION_BOUNDS_S: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** Label sets one metric keeps before the rest go to its "_other" series. */
export const MAX_SERIES = 2000;

/** Each metric's attributes, in order. */
export const L7_METRIC_LABELS: Readonly<Record<L7MetricName, readonly string[]>> = {
  'http.server.request.duration': ['http.request.method', 'http.route', 'http.response.status_code', 'server.port'],
  'http.client.request.duration': ['http.request.method', 'server.address', 'server.port', 'http.response.status_code'],
  'db.client.operation.duration': ['db.system.name', 'db.operation.name', 'server.address', 'server.port', 'error.type'],
  'rpc.server.duration': ['rpc.system', 'rpc.service', 'rpc.method', 'rpc.grpc.status_code', 'server.port'],
  'rpc.client.duration': ['rpc.system', 'rpc.service', 'rpc.method', 'rpc.grpc.status_code', 'server.address', 'server.port'],
  'messaging.client.operation.duration': ['messaging.system', 'messaging.operation.name', 'messaging.destination.name', 'server.address',
    'server.port', 'error.type'],
};

const DB_SYSTEMS: Readonly<Record<string, string>> = { redis: 'redis', pgsql: 'postgresql', mysql: 'mysql' };

export interface L7Series {
  readonly metric: L7MetricName;
  readonly labels: Readonly<Record<string, string>>;
  /** Requests at or below each of DURATION_BOUNDS_S (cumulative), then the count. */
  readonly buckets: readonly number[];
  readonly count: number;
  readonly sumS: number;
}

interface Acc {
  labels: Record<string, string>;
  buckets: number[];
  count: number;
  sumS: number;
}

/** The metric and attributes of a record; undefined for one no convention names (a database server's side). Pure. */
export function metricOf(r: L7Record): [L7MetricName, Record<string, string>] | undefined {
  const status = String(r.status);
  if (r.protocol === 'http') {
    if (r.role === 'server') {
      return ['http.server.request.duration', { 'http.request.method': r.method, 'http.route': r.route ?? '', 'http.response.status_code': status,
        'server.port': String(r.local.port) }];
    }
    return ['http.client.request.duration', { 'http.request.method': r.method, 'server.address': r.remote.ip, 'server.port': String(r.remote.port),
      'http.response.status_code': status }];
  }
  if (r.protocol === 'grpc') {
    const rpc = { 'rpc.system': 'grpc', 'rpc.service': r.grpc?.service ?? '', 'rpc.method': r.grpc?.method ?? r.method, 'rpc.grpc.status_code': status };
    return r.role === 'server' ? ['rpc.server.duration', { ...rpc, 'server.port': String(r.local.port) }]
      : ['rpc.client.duration', { ...rpc, 'server.address': r.remote.ip, 'server.port': String(r.remote.port) }];
  }
  if (r.role !== 'client') return undefined;
  if (r.protocol === 'kafka') {
    // One destination when the request named one topic (a batch of several has none, as the conventions say).
    return ['messaging.client.operation.duration', { 'messaging.system': 'kafka', 'messaging.operation.name': r.method.toLowerCase(),
      'messaging.destination.name': r.kafka?.topics.length === 1 ? r.kafka.topics[0]! : '', 'server.address': r.remote.ip,
      'server.port': String(r.remote.port), 'error.type': r.error ? status : '' }];
  }
  return ['db.client.operation.duration', { 'db.system.name': DB_SYSTEMS[r.protocol] ?? r.protocol, 'db.operation.name': r.method,
    'server.address': r.remote.ip, 'server.port': String(r.remote.port), 'error.type': r.error ? status : '' }];
}

export class L7Metrics {
  private readonly acc = new Map<L7MetricName, Map<string, Acc>>();
  /** Requests counted in an "_other" series (their metric's label sets were all taken). */
  overflowed = 0;

  observe(r: L7Record): void {
    const m = metricOf(r);
    if (!m) return;
    const [metric, labels] = m;
    let series = this.acc.get(metric);
    if (!series) this.acc.set(metric, (series = new Map()));
    let key = L7_METRIC_LABELS[metric].map((l) => labels[l]).join('\0');
    let a = series.get(key);
    if (!a && series.size >= MAX_SERIES) {
      this.overflowed++;
      key = '\0other';
      a = series.get(key);
      if (!a) {
        const other = Object.fromEntries(L7_METRIC_LABELS[metric].map((l) => [l, '_other']));
        // The one series beyond the bound.
        series.set(key, (a = { labels: other, buckets: new Array<number>(DURATION_BOUNDS_S.length).fill(0), count: 0, sumS: 0 }));
      }
    }
    if (!a) series.set(key, (a = { labels, buckets: new Array<number>(DURATION_BOUNDS_S.length).fill(0), count: 0, sumS: 0 }));
    const s = Number(r.endBootNs - r.startBootNs) / 1e9;
    for (let i = 0; i < DURATION_BOUNDS_S.length; i++) if (s <= DURATION_BOUNDS_S[i]!) a.buckets[i]!++;
    a.count++;
    a.sumS += s;
  }

  series(): L7Series[] {
    const out: L7Series[] = [];
    for (const [metric, series] of this.acc) {
      for (const a of series.values()) out.push({ metric, labels: a.labels, buckets: a.buckets, count: a.count, sumS: a.sumS });
    }
    return out;
  }
}
