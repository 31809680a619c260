// An OTLP/HTTP collector for the tests: a plain HTTP server on loopback
// keeping each request, whose protobuf bodies are decoded with the OTLP
// definitions (opentelemetry-proto, as generated into
// @opentelemetry/otlp-transformer 0.212's root, installed as otlp-proto-root).
import { createRequire } from 'node:module';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Decoder { decode(b: Uint8Array): unknown; toObject(m: unknown, o: object): any }
const proto = (createRequire(import.meta.url)('otlp-proto-root/build/src/generated/root.js') as any).opentelemetry.proto;
export const LOGS: Decoder = proto.collector.logs.v1.ExportLogsServiceRequest;
export const METRICS: Decoder = proto.collector.metrics.v1.ExportMetricsServiceRequest;
export const TRACES: Decoder = proto.collector.trace.v1.ExportTraceServiceRequest;
export const decode = (d: Decoder, body: Buffer): any => d.toObject(d.decode(body), { longs: String, enums: String, defaults: false });

/** A collector on loopback: each request's path and body; `status` answers (200 unless set). */
export async function receiver(): Promise<{ url: string; requests: { path: string; body: Buffer }[]; status: number[]; close(): Promise<void> }> {
  const requests: { path: string; body: Buffer }[] = [];
  const status: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const code = status.shift() ?? 200;
      if (code === 200) requests.push({ path: req.url ?? '', body: Buffer.concat(chunks) });
      res.writeHead(code, { 'Content-Type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, status,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

