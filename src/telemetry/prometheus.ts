// The Prometheus endpoint: prom-client's registry with Vigil's metrics
// (src/telemetry/catalog.ts, read from the sources at each scrape) and
// prom-client's default metrics (the process's CPU, memory, descriptors, and
// Node's event loop and heap), served over HTTP at /metrics.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { METRICS, type TelemetryView } from './catalog.js';
import { addressUrl, parseListenAddress, type ListenAddress } from './address.js';
import type { L7Telemetry, TelemetrySources } from './sources.js';
import { DURATION_BOUNDS_S, L7_METRIC_LABELS, type L7MetricName } from '../l7/metrics.js';

/**
 * An OpenTelemetry metric's Prometheus name, as OpenTelemetry's Prometheus
 * exporters write it (dots to underscores, the unit's suffix): what
 * dashboards made for the conventions look for, so no vigil_ prefix.
 */
export function otelPrometheusName(metric: string, unit: 's'): string {
  return `${metric.replace(/\./g, '_')}${unit === 's' ? '_seconds' : ''}`;
}

const L7_HELP: Readonly<Record<L7MetricName, string>> = {
  'http.server.request.duration': 'Duration of HTTP server requests (OpenTelemetry http.server.request.duration), from the socket calls.',
  'http.client.request.duration': 'Duration of HTTP client requests (OpenTelemetry http.client.request.duration), from the socket calls.',
  'db.client.operation.duration': 'Duration of database client operations, Redis and PostgreSQL (OpenTelemetry db.client.operation.duration).',
  'rpc.server.duration': 'Duration of gRPC calls a server answered (OpenTelemetry rpc.server.duration), from the socket calls.',
  'rpc.client.duration': 'Duration of gRPC calls a client made (OpenTelemetry rpc.client.duration), from the socket calls.',
  'messaging.client.operation.duration': 'Duration of Kafka Produce and Fetch requests (OpenTelemetry messaging.client.operation.duration).',
};

/** The L7 histograms as prom-client metrics whose values are read from `l7` at each scrape. */
function registerL7(registry: Registry, l7: L7Telemetry): void {
  for (const metric of Object.keys(L7_METRIC_LABELS) as L7MetricName[]) {
    const name = otelPrometheusName(metric, 's');
    const label = (k: string): string => k.replace(/\./g, '_');
    registry.registerMetric({
      name, help: L7_HELP[metric], type: 'histogram', aggregator: 'sum',
      get: () => {
        const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
        for (const s of l7.series()) {
          if (s.metric !== metric) continue;
          const labels = Object.fromEntries(Object.entries(s.labels).map(([k, v]) => [label(k), v]));
          DURATION_BOUNDS_S.forEach((le, i) => values.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: s.buckets[i]! }));
          values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: s.count });
          values.push({ metricName: `${name}_sum`, labels, value: s.sumS });
          values.push({ metricName: `${name}_count`, labels, value: s.count });
        }
        return { name, help: L7_HELP[metric], type: 'histogram', values, aggregator: 'sum' };
      },
      reset: () => {},
    } as unknown as Parameters<Registry['registerMetric']>[0]);
  }
}

/** Where a metric's values come from: the catalog, on each collection. */
export function registryOf(view: TelemetryView): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vigil_' });
  for (const def of METRICS) {
    if (def.promDefault) continue;
    const config = { name: def.name, help: def.help, labelNames: [...def.labels], registers: [registry] };
    if (def.type === 'counter') {
      new Counter({
        ...config,
        collect() {
          this.reset();
          for (const s of def.collect(view)) this.inc(s.labels, s.value);
        },
      });
    } else {
      new Gauge({
        ...config,
        collect() {
          this.reset();
          for (const s of def.collect(view)) this.set(s.labels, s.value);
        },
      });
    }
  }
  if (view.sources.l7) registerL7(registry, view.sources.l7);
  return registry;
}

export interface MetricsServer {
  /** http://HOST:PORT/metrics. */
  readonly url: string;
  readonly registry: Registry;
  close(): Promise<void>;
}

export interface MetricsOptions {
  /** BPF run-time statistics are on (per-program metrics). */
  bpfStats?: boolean;
}

/**
 * Serves the sources' metrics at http://ADDRESS/metrics (ADDRESS as
 * parseListenAddress reads it, or parsed). Resolves once listening; rejects
 * with one line naming the address when it is not one or cannot be listened on.
 */
export async function startMetrics(sources: TelemetrySources, where: ListenAddress | string, opts: MetricsOptions = {}): Promise<MetricsServer> {
  const address = typeof where === 'string' ? parseListenAddress(where) : where;
  if (typeof address === 'string') throw new Error(`metrics: ${address}`);
  const registry = registryOf({ sources, bpfStats: opts.bpfStats ?? false });
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (e: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(e as Error).message}\n`),
    );
  });
  // The endpoint never keeps the process alive on its own.
  server.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const where = `${address.host ?? ''}:${address.port}`;
      reject(new Error(`metrics: cannot listen on ${where}: ${e.code ?? e.message}`));
    });
    server.listen({ host: address.host, port: address.port }, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: addressUrl(address.host, port, '/metrics'),
    registry,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
