// Connections as the L7 sensor sees them: the kernel's records (one per
// call that moved bytes, one per close) go to the connection's protocol
// parser; completed pairs become records with the connection's ends and
// process. Bounded: at most maxConnections are held (the least recently
// active is evicted, counted), each direction holds at most FEED_MAX_BYTES
// unparsed and each connection MAX_PENDING unanswered requests.
import type { Segment } from './feed.js';
import { HttpParser } from './http.js';
import { PgsqlParser } from './pgsql.js';
import { RedisParser } from './redis.js';
import { MysqlParser } from './mysql.js';
import { Http2Parser, grpcError } from './http2.js';
import { KafkaParser } from './kafka.js';
import { WIRE_PROTOCOLS, type ConnParser, type L7Context, type L7Pair, type L7Protocol, type L7Record, type L7Wire,
  type ParserOptions, type TlsLibrary } from './types.js';

/** One call's bytes, decoded from the kernel's record. */
export interface L7Data extends L7Context {
  conn: bigint;
  /** What the kernel inferred. */
  protocol: L7Wire;
  egress: boolean;
  segment: Segment;
  /** The plaintext of this TLS library's calls (uprobes), not a socket's bytes. */
  tls?: TlsLibrary;
}

interface Conn {
  parser: ConnParser;
  protocol: L7Wire;
  last: L7Data;
}

export interface TrackerStats {
  /** Connections held now. */
  connections: number;
  /** Connections evicted (the table was full). */
  evicted: number;
  /** Times a parser lost the thread (structure fell in an uncaptured part) and resynchronised. */
  resyncs: number;
  /** Requests that got no response (evicted, closed, or beyond the pipelining bound). */
  unanswered: number;
  records: number;
}

export interface TrackerOptions extends ParserOptions {
  /** Most connections held (default 16,384). */
  maxConnections?: number;
  /** Protocols reported (the others' data is dropped). */
  protocols: ReadonlySet<L7Protocol>;
}

export class L7Tracker {
  private readonly conns = new Map<bigint, Conn>();
  private readonly max: number;
  private evicted = 0;
  private resyncs = 0;
  private unanswered = 0;
  private records = 0;

  constructor(private readonly o: TrackerOptions, private readonly onRecord: (r: L7Record) => void) {
    this.max = o.maxConnections ?? 16384;
  }

  data(d: L7Data): void {
    if (!WIRE_PROTOCOLS[d.protocol].some((p) => this.o.protocols.has(p))) return;
    let c = this.conns.get(d.conn);
    // A socket's address reused by a new connection whose predecessor's close was not seen. A local
    // port of 0 is the same connection's last reads after a reset unbound its socket (a GOAWAY read then).
    if (c && (c.protocol !== d.protocol || c.last.remote.port !== d.remote.port ||
      (c.last.local.port !== d.local.port && d.local.port !== 0) || c.last.remote.ip !== d.remote.ip)) {
      this.end(d.conn, c);
      c = undefined;
    }
    if (!c) {
      if (this.conns.size >= this.max) {
        const [oldest, oc] = this.conns.entries().next().value as [bigint, Conn];
        this.end(oldest, oc, false);
        this.evicted++;
      }
      c = { parser: this.parser(d.protocol), protocol: d.protocol, last: d };
    } else {
      this.conns.delete(d.conn); // most recently active last
    }
    this.conns.set(d.conn, c);
    c.last = d;
    const before = c.parser.resyncs;
    c.parser.segment(d.egress, d.segment, (p, requestEgress) => this.emit(c!, p, requestEgress));
    this.resyncs += c.parser.resyncs - before;
  }

  close(conn: bigint): void {
    const c = this.conns.get(conn);
    if (c) this.end(conn, c);
  }

  /** The sensor stops: what is still open is dropped (a response delimited by a close not seen is not complete). */
  flush(): void {
    for (const [k, c] of [...this.conns]) this.end(k, c, false);
  }

  stats(): TrackerStats {
    return { connections: this.conns.size, evicted: this.evicted, resyncs: this.resyncs, unanswered: this.unanswered,
      records: this.records };
  }

  private end(key: bigint, c: Conn, complete = true): void {
    this.conns.delete(key);
    if (complete) c.parser.close((p, requestEgress) => this.emit(c, p, requestEgress));
    else c.parser.close(() => {});
    this.unanswered += c.parser.dropped;
  }

  private parser(p: L7Wire): ConnParser {
    switch (p) {
      case 'http': return new HttpParser(this.o);
      case 'http2': return new Http2Parser(this.o);
      case 'kafka': return new KafkaParser(this.o);
      case 'redis': return new RedisParser(this.o);
      case 'pgsql': return new PgsqlParser(this.o);
      case 'mysql': return new MysqlParser(this.o);
      default: {
        const never: never = p;
        throw new Error(`no parser for ${String(never)}`);
      }
    }
  }

  private emit(c: Conn, p: L7Pair, requestEgress: boolean): void {
    const d = c.last;
    const protocol: L7Protocol = p.protocol ?? WIRE_PROTOCOLS[c.protocol][0]!;
    // HTTP/2 carries http and grpc: one of them may not be asked for.
    if (!this.o.protocols.has(protocol)) return;
    const role = requestEgress ? 'client' : 'server';
    const error = protocol === 'http' && typeof p.status === 'number' ? p.status >= (role === 'client' ? 400 : 500)
      : protocol === 'grpc' && typeof p.status === 'number' ? grpcError(p.status, role) : p.error;
    this.records++;
    this.onRecord({
      role, pid: d.pid, tid: d.tid, comm: d.comm, cgroupId: d.cgroupId, local: d.local,
      remote: d.remote, ...(d.tls ? { tls: d.tls } : {}), ...p, protocol, error,
    });
  }
}
