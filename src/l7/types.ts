// What the L7 sensor reports: one record per request and its response.
import type { Segment } from './feed.js';

export const L7_PROTOCOLS = ['http', 'redis', 'pgsql', 'mysql', 'grpc', 'kafka'] as const;
export type L7Protocol = (typeof L7_PROTOCOLS)[number];

/**
 * What the kernel tells a connection speaks. HTTP/2 carries two record
 * protocols: `http` (version "2") and `grpc` (content-type application/grpc).
 */
export const L7_WIRES = ['http', 'http2', 'redis', 'pgsql', 'mysql', 'kafka'] as const;
export type L7Wire = (typeof L7_WIRES)[number];

/** The record protocols each wire protocol carries; the first is its records' unless a parser says otherwise. */
export const WIRE_PROTOCOLS: Readonly<Record<L7Wire, readonly L7Protocol[]>> = {
  http: ['http'], http2: ['http', 'grpc'], redis: ['redis'], pgsql: ['pgsql'], mysql: ['mysql'], kafka: ['kafka'],
};

export interface L7Endpoint {
  /** '' (and port 0): not known (TLS plaintext whose socket was not found). */
  ip: string;
  port: number;
}

/** A TLS library whose calls' plaintext the sensor reads (uprobes). */
export type TlsLibrary = 'openssl' | 'gnutls' | 'go';

/** Which side of the connection the process is. */
export type L7Role = 'server' | 'client';

/** Who moved the bytes (the thread, its process and cgroup) and between which ends. */
export interface L7Context {
  pid: number;
  tid: number;
  comm: string;
  cgroupId: bigint;
  local: L7Endpoint;
  remote: L7Endpoint;
}

/** A W3C traceparent: the trace and the caller's span (lowercase hex). */
export interface TraceParent {
  traceId: string;
  parentSpanId: string;
  sampled: boolean;
}

/** A request and its response, paired on one connection. */
export interface L7Record extends L7Context {
  protocol: L7Protocol;
  role: L7Role;
  /** The request's first byte and the response's last (CLOCK_BOOTTIME ns, kernel times). */
  startBootNs: bigint;
  endBootNs: bigint;
  /** Bytes of the request and of the response, headers and bodies (as moved by the calls). */
  requestBytes: number;
  responseBytes: number;
  /** Read from this TLS library's calls (plaintext by uprobes); absent: the socket's own bytes. */
  tls?: TlsLibrary;
  /** HTTP method, Redis command, PostgreSQL operation (QUERY, EXECUTE, STARTUP), gRPC method, Kafka API (Produce, Fetch). */
  method: string;
  /** HTTP path (query values redacted); the SQL statement (literals redacted); Kafka topics (comma-separated). */
  target?: string;
  /** HTTP route template (ids as {id}). */
  route?: string;
  /** HTTP status; gRPC status code; Redis "OK" or the error's prefix; PostgreSQL "OK" or the SQLSTATE; Kafka "OK" or the error's name. */
  status: number | string;
  error: boolean;
  http?: {
    version: string;
    host?: string;
    /** The request's W3C trace context (its traceparent header; not a secret, kept under redaction). */
    traceparent?: TraceParent;
    requestHeaders: Record<string, string>;
    responseHeaders: Record<string, string>;
  };
  redis?: { args: number; argv?: string[] };
  pgsql?: { tag?: string; rows: number; message?: string };
  /** MySQL/MariaDB: rows of the result sets; an ERR's error number (and message with full capture). */
  mysql?: { rows: number; code?: number; message?: string };
  /** gRPC: the service and method of the path, grpc-status (from the trailers), grpc-message (with full capture). */
  grpc?: { service: string; method: string; status: number; message?: string };
  /** Kafka: the request's API version, correlation id, client id, topics (as far as captured), the first error code. */
  kafka?: { apiVersion: number; correlationId: number; clientId?: string; topics: string[]; errorCode?: number };
}

/** A message's framing facts that pairing needs. */
export interface Timed {
  startNs: bigint;
  endNs: bigint;
  bytes: number;
}

/** What a protocol's connection parser gives back, for the tracker to complete into records. */
export type L7Pair = Omit<L7Record, keyof L7Context | 'role' | 'protocol'> & {
  /** The record's protocol when the wire carries more than one (HTTP/2: http or grpc). */
  protocol?: L7Protocol;
};

/** A protocol's parser of one connection: both directions, pairing requests and responses. */
export interface ConnParser {
  /** A call's bytes; `egress`: written by the process. Completed pairs go to `out`. */
  segment(egress: boolean, seg: Segment, out: (p: L7Pair, requestEgress: boolean) => void): void;
  /** The connection closed: a response delimited by the close completes. */
  close(out: (p: L7Pair, requestEgress: boolean) => void): void;
  /** Counts: resyncs (structure lost in a gap), unanswered requests dropped. */
  readonly resyncs: number;
  readonly dropped: number;
}

/** Parser options. */
export interface ParserOptions {
  /** Redact secrets (default true): header values, query values, SQL literals, Redis arguments. */
  redact: boolean;
}

/** Most requests waiting for their responses on one connection (pipelining); beyond it the oldest is dropped (counted). */
export const MAX_PENDING = 256;
