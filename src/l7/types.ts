// What the L7 sensor reports: one record per request and its response.
import type { Segment } from './feed.js';

export const L7_PROTOCOLS = ['http', 'redis', 'pgsql', 'mysql'] as const;
export type L7Protocol = (typeof L7_PROTOCOLS)[number];

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
  /** HTTP method, Redis command, PostgreSQL operation (QUERY, EXECUTE, STARTUP). */
  method: string;
  /** HTTP path (query values redacted); the SQL statement (literals redacted). */
  target?: string;
  /** HTTP route template (ids as {id}). */
  route?: string;
  /** HTTP status; Redis "OK" or the error's prefix; PostgreSQL "OK" or the SQLSTATE. */
  status: number | string;
  error: boolean;
  http?: {
    version: string;
    host?: string;
    requestHeaders: Record<string, string>;
    responseHeaders: Record<string, string>;
  };
  redis?: { args: number; argv?: string[] };
  pgsql?: { tag?: string; rows: number; message?: string };
  /** MySQL/MariaDB: rows of the result sets; an ERR's error number (and message with full capture). */
  mysql?: { rows: number; code?: number; message?: string };
}

/** A message's framing facts that pairing needs. */
export interface Timed {
  startNs: bigint;
  endNs: bigint;
  bytes: number;
}

/** What a protocol's connection parser gives back, for the tracker to complete into records. */
export type L7Pair = Omit<L7Record, keyof L7Context | 'role' | 'protocol'>;

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
