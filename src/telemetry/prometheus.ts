// The Prometheus endpoint: prom-client's registry with Vigil's metrics
// (src/telemetry/catalog.ts, read from the sources at each scrape) and
// prom-client's default metrics (the process's CPU, memory, descriptors, and
// Node's event loop and heap), served over HTTP at /metrics.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { METRICS, type TelemetryView } from './catalog.js';
import { addressUrl, parseListenAddress, type ListenAddress } from './address.js';
import type { TelemetrySources } from './sources.js';

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
