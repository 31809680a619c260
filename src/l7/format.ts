// An L7 record as a line: Vigil JSON ({"l7": {...}, "node_name", "time"}) or
// a compact line.
import type { L7Record } from './types.js';

/** "1.234ms", "87µs", "2.10s". Pure. */
export function formatLatency(ns: bigint): string {
  const n = Number(ns);
  if (n < 1e6) return `${Math.round(n / 1e3)}µs`;
  if (n < 1e9) return `${(n / 1e6).toFixed(3)}ms`;
  return `${(n / 1e9).toFixed(2)}s`;
}

function endpoint(e: { ip: string; port: number }): string {
  // A TLS session whose socket was not found (ip '').
  if (e.ip === '') return '?';
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

/** The record as a JSON object (times as RFC 3339 strings by the caller's converter). */
export function l7Object(r: L7Record, toRfc3339: (bootNs: bigint) => string): Record<string, unknown> {
  return {
    protocol: r.protocol,
    role: r.role,
    process: { pid: r.pid, tid: r.tid, comm: r.comm, cgroup_id: String(r.cgroupId) },
    local: r.local,
    remote: r.remote,
    ...(r.tls ? { tls: r.tls } : {}),
    method: r.method,
    ...(r.target !== undefined ? { target: r.target } : {}),
    ...(r.route !== undefined ? { route: r.route } : {}),
    status: r.status,
    error: r.error,
    latency_ns: Number(r.endBootNs - r.startBootNs),
    start_time: toRfc3339(r.startBootNs),
    request_bytes: r.requestBytes,
    response_bytes: r.responseBytes,
    ...(r.http ? {
      http: {
        version: r.http.version, ...(r.http.host !== undefined ? { host: r.http.host } : {}),
        request_headers: r.http.requestHeaders, response_headers: r.http.responseHeaders,
      },
    } : {}),
    ...(r.redis ? { redis: r.redis } : {}),
    ...(r.pgsql ? { pgsql: r.pgsql } : {}),
    ...(r.mysql ? { mysql: r.mysql } : {}),
    ...(r.grpc ? { grpc: r.grpc } : {}),
    ...(r.kafka ? {
      kafka: {
        api_version: r.kafka.apiVersion, correlation_id: r.kafka.correlationId,
        ...(r.kafka.clientId !== undefined ? { client_id: r.kafka.clientId } : {}), topics: r.kafka.topics,
        ...(r.kafka.errorCode !== undefined ? { error_code: r.kafka.errorCode } : {}),
      },
    } : {}),
  };
}

/**
 * "http server 1234 nginx 127.0.0.1:8080 <- 127.0.0.1:5123 GET /users/{id} 200 1.234ms"; TLS plaintext
 * is "http+tls", and an end not known (a TLS session without its socket) "?". Pure.
 */
export function l7Compact(r: L7Record): string {
  const arrow = r.role === 'server' ? '<-' : '->';
  const what = r.protocol === 'http' ? `${r.method} ${r.target ?? ''}` : r.protocol === 'grpc' ? r.target ?? r.method
    : r.target !== undefined ? `${r.method} ${r.target}` : r.method;
  const cut = what.length > 200 ? `${what.slice(0, 200)}...` : what;
  return `${(r.tls ? `${r.protocol}+tls` : r.protocol).padEnd(5)} ${r.role} ${r.pid} ${r.comm} ${endpoint(r.local)} ${arrow} ${endpoint(r.remote)} ${cut} ` +
    `${r.status} ${formatLatency(r.endBootNs - r.startBootNs)}`;
}
