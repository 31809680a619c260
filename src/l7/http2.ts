// HTTP/2 (RFC 9113) and gRPC over it, on one connection: each direction's
// frames, its header blocks (HEADERS and CONTINUATION) decoded with HPACK
// (RFC 7541, hpack.js) against that direction's own dynamic table; a
// request and its response paired by stream id. A request starts at its
// HEADERS frame's first byte, its response ends with the response's
// END_STREAM frame (DATA or the trailers' HEADERS).
//
// DATA frames are passed over by length, across the bytes the capture did
// not send. A header block must be read whole: one that fell into those
// bytes, or a frame header that did, leaves the dynamic table unknown, so
// the connection is marked lost and nothing more is decoded from it (no
// record is made from a guess). So is a direction whose first bytes are
// neither the client preface nor a SETTINGS frame (the sensor started in
// the middle of the connection).
import hpack from 'hpack.js';
import { Feed, FEED_MAX_BYTES, type Segment } from './feed.js';
import { keepHeader, kept, parseTraceparent } from './http.js';
import { REDACTED, redactQuery } from './redact.js';
import { routeTemplate } from './route.js';
import { MAX_PENDING, type ConnParser, type L7Pair, type L7Role, type ParserOptions } from './types.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER = 9;
const DATA = 0;
const HEADERS = 1;
const SETTINGS = 4;
const PUSH_PROMISE = 5;
const RST_STREAM = 3;
const CONTINUATION = 9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** The dynamic table's size until the encoder signals another (RFC 9113 6.5.2, RFC 7541 4.2). */
const TABLE_SIZE = 4096;
/**
 * The largest size update followed: the peer's SETTINGS_HEADER_TABLE_SIZE bounds it, which an
 * observer need not enforce (a larger one than this loses the connection, counted).
 */
const MAX_TABLE_SIZE = 1 << 20;

/** gRPC codes a server counts as its own errors (OpenTelemetry's rule for rpc.server spans). */
const GRPC_SERVER_ERRORS: ReadonlySet<number> = new Set([2, 4, 12, 13, 14, 15]);

/** Whether a gRPC status is an error for this side: any non-OK for a client, the server's own for a server. Pure. */
export function grpcError(status: number, role: L7Role): boolean {
  return role === 'client' ? status !== 0 : GRPC_SERVER_ERRORS.has(status);
}

/** The gRPC code of an HTTP status when no grpc-status came (gRPC's http-grpc-status-mapping). Pure. */
export function grpcOfHttp(status: number): number {
  switch (status) {
    case 400: return 13;
    case 401: return 16;
    case 403: return 7;
    case 404: return 12;
    case 429: case 502: case 503: case 504: return 14;
    default: return 2;
  }
}

/** "/pkg.Service/Method" → ["pkg.Service", "Method"]; undefined for another shape. Pure. */
export function grpcPath(path: string): [string, string] | undefined {
  const m = /^\/([^/?#]+)\/([^/?#]+)$/.exec(path);
  return m ? [m[1]!, m[2]!] : undefined;
}

interface Message {
  /** Pseudo-headers and the others (names lowercase, values as kept). */
  pseudo: Record<string, string>;
  headers: Record<string, string>;
  bytes: number;
}

interface Stream {
  startNs: bigint;
  /** The direction the request came in: egress when this process is the client. */
  requestEgress: boolean;
  request: Message;
  response?: Message;
  trailers?: Record<string, string>;
}

/** One direction: its frames and its HPACK decoder. */
interface Side {
  readonly egress: boolean;
  readonly feed: Feed;
  readonly hpack: ReturnType<typeof hpack.decompressor.create>;
  /** The decoder's error on the last block. */
  hpackError?: Error;
  /** The direction's first bytes were checked (preface or SETTINGS). */
  started: boolean;
  /** A header block waiting for its CONTINUATION frames. */
  block?: { stream: number; flags: number; parts: Buffer[]; startNs: bigint; bytes: number };
  /** A frame passed over whose last bytes are still to come; on them, its stream's message ends. */
  ending?: { stream: number; endStream: boolean };
}

export class Http2Parser implements ConnParser {
  resyncs = 0;
  dropped = 0;
  /** Header blocks not wholly captured (the connection is then lost). */
  truncated = 0;
  /** The HPACK state is unknown (bytes missed): nothing more is decoded. */
  lost = false;
  private readonly sides: [Side, Side];
  private readonly streams = new Map<number, Stream>();

  constructor(private readonly o: ParserOptions) {
    const side = (egress: boolean): Side => {
      const s: Side = { egress, feed: new Feed(), hpack: hpack.decompressor.create({ table: { maxSize: MAX_TABLE_SIZE } }), started: false };
      s.hpack.updateTableSize(TABLE_SIZE);
      s.hpack.on('error', (e) => {
        s.hpackError = e;
      });
      return s;
    };
    this.sides = [side(false), side(true)];
  }

  segment(egress: boolean, seg: Segment, out: (p: L7Pair, requestEgress: boolean) => void): void {
    if (this.lost) return;
    const side = this.sides[egress ? 1 : 0];
    side.feed.push(seg);
    if (!this.read(side, out)) this.lose();
  }

  close(): void {
    this.dropped += this.streams.size;
    this.streams.clear();
  }

  private lose(): void {
    this.lost = true;
    this.resyncs++;
    this.dropped += this.streams.size;
    this.streams.clear();
    for (const s of this.sides) s.feed.reset();
  }

  /** Reads the side's frames; false when its structure or HPACK state was lost. */
  private read(side: Side, out: (p: L7Pair, requestEgress: boolean) => void): boolean {
    const f = side.feed;
    for (;;) {
      if (f.skip > 0) return true;
      if (side.ending) {
        const e = side.ending;
        side.ending = undefined;
        if (e.endStream) this.ended(side, e.stream, f.lastNs, out);
      }
      if (!side.started) {
        const n = Math.min(f.length, PREFACE.length);
        if (n < PREFACE.length && f.bytes.subarray(0, n).equals(PREFACE.subarray(0, n))) return !f.stuck;
        if (n === PREFACE.length && f.bytes.subarray(0, n).equals(PREFACE)) {
          f.pass(PREFACE.length);
        } else if (f.length >= FRAME_HEADER) {
          // Each side's first frame is a SETTINGS (not an ACK): anything else is the middle of a connection.
          if (f.bytes[3] !== SETTINGS || (f.bytes[4]! & 1) !== 0 || f.bytes.readUInt32BE(5) !== 0) return false;
        } else {
          return !f.stuck;
        }
        side.started = true;
        continue;
      }
      if (f.length < FRAME_HEADER) return !f.stuck;
      const b = f.bytes;
      const len = b.readUIntBE(0, 3);
      const type = b[3]!;
      const flags = b[4]!;
      const stream = b.readUInt32BE(5) & 0x7fffffff;
      if (type === HEADERS || type === CONTINUATION || type === PUSH_PROMISE) {
        if (f.length < FRAME_HEADER + len) {
          if (!f.stuck && FRAME_HEADER + len <= FEED_MAX_BYTES) return true;
          this.truncated++;
          return false;
        }
        const startNs = f.headNs;
        const payload = Buffer.from(f.pass(FRAME_HEADER + len).subarray(FRAME_HEADER));
        if (!this.headerFrame(side, type, flags, stream, payload, startNs, FRAME_HEADER + len, out)) return false;
        continue;
      }
      // A header block's CONTINUATION frames come next, with nothing between (RFC 9113 6.10).
      if (side.block) return false;
      const s = this.streams.get(stream);
      if (type === DATA && s) this.count(side, s, FRAME_HEADER + len);
      if (type === RST_STREAM && this.streams.delete(stream)) this.dropped++;
      f.pass(FRAME_HEADER + len);
      side.ending = { stream, endStream: type === DATA && (flags & END_STREAM) !== 0 };
    }
  }

  private headerFrame(side: Side, type: number, flags: number, stream: number, payload: Buffer, startNs: bigint, bytes: number,
    out: (p: L7Pair, requestEgress: boolean) => void): boolean {
    let frag = payload;
    if (type === CONTINUATION) {
      const blk = side.block;
      if (!blk || blk.stream !== stream) return false;
      blk.parts.push(frag);
      blk.bytes += bytes;
    } else {
      if (side.block) return false;
      let pad = 0;
      if (flags & PADDED) {
        pad = frag[0] ?? 0;
        frag = frag.subarray(1);
      }
      // PUSH_PROMISE: the promised stream id; HEADERS with PRIORITY: dependency and weight.
      if (type === PUSH_PROMISE) frag = frag.subarray(4);
      else if (flags & PRIORITY) frag = frag.subarray(5);
      if (pad > frag.length) return false;
      frag = frag.subarray(0, frag.length - pad);
      side.block = { stream, flags: type === PUSH_PROMISE ? 0 : flags, parts: [frag], startNs, bytes };
    }
    if ((flags & END_HEADERS) === 0) return true;
    const blk = side.block!;
    side.block = undefined;
    const fields = this.decode(side, Buffer.concat(blk.parts));
    if (!fields) return false;
    // A promised response's request is the server's guess: not a request the client made.
    if (type === PUSH_PROMISE) return true;
    this.message(side, blk.stream, fields, blk.startNs, blk.bytes);
    if (blk.flags & END_STREAM) this.ended(side, blk.stream, side.feed.lastNs, out);
    return true;
  }

  /** A header block's fields, or undefined when it does not decode (the HPACK state is lost). */
  private decode(side: Side, block: Buffer): [string, string][] | undefined {
    side.hpack.write(block);
    side.hpack.execute();
    const fields: [string, string][] = [];
    for (let h = side.hpack.read(); h !== null; h = side.hpack.read()) fields.push([h.name.toLowerCase(), h.value]);
    return side.hpackError ? undefined : fields;
  }

  private message(side: Side, stream: number, fields: [string, string][], startNs: bigint, bytes: number): void {
    const pseudo: Record<string, string> = {};
    const headers: Record<string, string> = {};
    for (const [name, value] of fields) {
      if (name.startsWith(':')) pseudo[name] = value;
      // grpc-message is the application's text: it may quote what it was sent.
      else keepHeader(headers, name, this.o.redact && name === 'grpc-message' ? REDACTED : value, this.o.redact);
    }
    const m: Message = { pseudo, headers, bytes };
    const s = this.streams.get(stream);
    if (pseudo[':method'] !== undefined) {
      if (this.streams.size >= MAX_PENDING) {
        const oldest = this.streams.keys().next().value as number;
        this.streams.delete(oldest);
        this.dropped++;
      }
      this.streams.set(stream, { startNs, requestEgress: side.egress, request: m });
      return;
    }
    if (!s) return;
    if (side.egress === s.requestEgress) {
      s.request.bytes += bytes; // the request's trailers
      return;
    }
    if (pseudo[':status'] !== undefined) {
      // Interim (1xx) responses answer nothing.
      if (Number(pseudo[':status']) >= 200) s.response = m;
      return;
    }
    if (s.response) {
      s.response.bytes += bytes;
      s.trailers = headers;
    }
  }

  private count(side: Side, s: Stream, bytes: number): void {
    if (side.egress === s.requestEgress) s.request.bytes += bytes;
    else if (s.response) s.response.bytes += bytes;
  }

  /** A frame with END_STREAM was read whole on `side`: a response that ends completes its stream. */
  private ended(side: Side, stream: number, endNs: bigint, out: (p: L7Pair, requestEgress: boolean) => void): void {
    const s = this.streams.get(stream);
    if (!s?.response || side.egress === s.requestEgress) return;
    this.streams.delete(stream);
    out(this.pair(s, endNs), !side.egress);
  }

  private pair(s: Stream, endNs: bigint): L7Pair {
    const req = s.request;
    const res = s.response!;
    const path = req.pseudo[':path'] ?? '';
    const status = Number(res.pseudo[':status']);
    const traceparent = parseTraceparent(req.headers.traceparent);
    const http = {
      version: '2', ...(req.pseudo[':authority'] !== undefined ? { host: req.pseudo[':authority'] } : {}),
      requestHeaders: kept(req.headers), responseHeaders: kept({ ...res.headers, ...s.trailers }), ...(traceparent ? { traceparent } : {}),
    };
    const base = {
      startBootNs: s.startNs, endBootNs: endNs, requestBytes: req.bytes, responseBytes: res.bytes,
      target: this.o.redact ? redactQuery(path) : path, route: routeTemplate(path), http,
    };
    const rpc = grpcPath(path);
    if (rpc && (req.headers['content-type'] ?? '').startsWith('application/grpc')) {
      const g = s.trailers?.['grpc-status'] ?? res.headers['grpc-status'];
      const code = g !== undefined && /^\d+$/.test(g) ? Number(g) : grpcOfHttp(status);
      const message = s.trailers?.['grpc-message'] ?? res.headers['grpc-message'];
      return {
        ...base, protocol: 'grpc', method: rpc[1], status: code, error: code !== 0,
        grpc: { service: rpc[0], method: rpc[1], status: code, ...(message !== undefined ? { message } : {}) },
      };
    }
    return { ...base, protocol: 'http', method: req.pseudo[':method'] ?? '', status, error: status >= 500 };
  }
}
