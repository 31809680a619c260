// HTTP/1.x on one connection: requests and responses framed by their headers
// (Content-Length, chunked, or the connection's end), paired in order
// (keep-alive and pipelining: responses come in the order of the requests).
import { Feed, type Segment } from './feed.js';
import { redactHeader, redactQuery } from './redact.js';
import { routeTemplate } from './route.js';
import { MAX_PENDING, type ConnParser, type L7Pair, type ParserOptions, type TraceParent } from './types.js';

const METHODS = /^(GET|POST|PUT|HEAD|DELETE|PATCH|OPTIONS|CONNECT|TRACE) (\S+) HTTP\/(1\.[01])$/;
const STATUS = /^HTTP\/(1\.[01]) (\d{3})(?: .*)?$/;
/** Most headers a record keeps of a message. */
const MAX_HEADERS = 32;
const MAX_VALUE = 256;

type Body = { kind: 'none' } | { kind: 'length'; n: number } | { kind: 'chunked' } | { kind: 'close' };

interface Head {
  startNs: bigint;
  bytes: number;
  headers: Record<string, string>;
  body: Body;
}

interface Request extends Head {
  method: string;
  target: string;
  version: string;
}

interface Response extends Head {
  status: number;
  version: string;
}

/** Reads one direction's messages: heads, then bodies passed over by length. */
class Framer<H extends Head> {
  readonly feed = new Feed();
  private cur: H | undefined;
  private body: 'length' | 'chunk-size' | 'chunk-data' | 'trailer' | 'close' | undefined;
  private counted = 0;

  /** parseHead gets the head's text (without its blank line) and where its first line ends. */
  constructor(private readonly parseHead: (text: string, lineEnd: number, startNs: bigint) => H | undefined) {}

  /** Messages whose head was read are given to onHead; completed ones to onDone. */
  run(onHead: (h: H) => void, onDone: (h: H, endNs: bigint) => void): 'ok' | 'stuck' {
    const f = this.feed;
    for (;;) {
      if (!this.cur) {
        const end = f.bytes.indexOf('\r\n\r\n');
        if (end < 0) return f.stuck || f.overflowing ? 'stuck' : 'ok';
        const startNs = f.headNs;
        const text = f.pass(end + 4).toString('latin1', 0, end);
        const first = text.indexOf('\r\n');
        const h = this.parseHead(text, first < 0 ? text.length : first, startNs);
        if (!h) return 'stuck';
        h.bytes = end + 4;
        this.cur = h;
        this.counted = f.skip;
        onHead(h);
        const b = h.body;
        if (b.kind === 'none') {
          this.finish(onDone);
          continue;
        }
        this.body = b.kind === 'length' ? 'length' : b.kind === 'chunked' ? 'chunk-size' : 'close';
        if (b.kind === 'length') this.pass(b.n);
      }
      const h = this.cur;
      switch (this.body) {
        case 'length': case 'chunk-data':
          if (f.skip > 0) return 'ok';
          if (this.body === 'length') {
            this.finish(onDone);
            continue;
          }
          this.body = 'chunk-size';
          continue;
        case 'chunk-size': {
          const line = f.line(64);
          if (line === undefined) return f.stuck ? 'stuck' : 'ok';
          h.bytes += line.length + 2;
          const size = parseInt(line.split(';')[0]!.trim(), 16);
          if (!Number.isFinite(size) || size < 0) return 'stuck';
          if (size === 0) {
            this.body = 'trailer';
            continue;
          }
          this.body = 'chunk-data';
          this.pass(size + 2);
          continue;
        }
        case 'trailer': {
          const line = f.line();
          if (line === undefined) return f.stuck ? 'stuck' : 'ok';
          h.bytes += line.length + 2;
          if (line === '') this.finish(onDone);
          continue;
        }
        case 'close':
          // Everything until the connection's end is the body.
          h.bytes += f.length + f.gap;
          f.pass(f.length + f.gap);
          return 'ok';
        default:
          return 'ok';
      }
    }
  }

  /** Bytes owed from later calls count toward the message as they are passed. */
  private pass(n: number): void {
    this.cur!.bytes += n;
    this.feed.pass(n);
  }

  private finish(onDone: (h: H, endNs: bigint) => void): void {
    const h = this.cur!;
    this.cur = undefined;
    this.body = undefined;
    onDone(h, this.feed.lastNs);
  }

  /** The connection ended: a body delimited by it is complete. */
  closeBody(onDone: (h: H, endNs: bigint) => void): void {
    if (this.cur && this.body === 'close') this.finish(onDone);
  }

  reset(): void {
    this.feed.reset();
    this.cur = undefined;
    this.body = undefined;
  }

  get inMessage(): boolean {
    return this.cur !== undefined;
  }
}

/**
 * Adds a header (name lowercase) to a message's kept ones: a repeated name's values joined (each
 * redacted: two Cookie lines, or HTTP/2's cookie fields), at most MAX_HEADERS names.
 */
export function keepHeader(h: Record<string, string>, name: string, value: string, redact: boolean): void {
  addHeader(h, Object.keys(h).length, name, value, redact);
}

/** keepHeader with the count of names h holds known; returns the new count. */
function addHeader(h: Record<string, string>, names: number, name: string, value: string, redact: boolean): number {
  const v = redact ? redactHeader(name, value) : value;
  if (name in h) h[name] += `, ${v}`;
  else if (names < MAX_HEADERS) {
    h[name] = v;
    return names + 1;
  }
  return names;
}

/** What String.prototype.trim takes off a header's ends in a latin1 head (whitespace and NBSP). */
function isBlank(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0;
}

/** The header lines of a head's text from `from` (after its first line's CRLF); undefined when one is not "name: value". */
function headers(text: string, from: number, redact: boolean): Record<string, string> | undefined {
  const h: Record<string, string> = {};
  let names = 0;
  for (let at = from; at < text.length;) {
    let end = text.indexOf('\r\n', at);
    if (end < 0) end = text.length;
    const c = text.indexOf(':', at);
    if (c <= at || c > end) return undefined;
    // One string for the name and one for the value: the blanks around them passed over, not trimmed off copies.
    let ns = at;
    let ne = c;
    let vs = c + 1;
    let ve = end;
    while (ns < ne && isBlank(text.charCodeAt(ns))) ns++;
    while (ne > ns && isBlank(text.charCodeAt(ne - 1))) ne--;
    while (vs < ve && isBlank(text.charCodeAt(vs))) vs++;
    while (ve > vs && isBlank(text.charCodeAt(ve - 1))) ve--;
    names = addHeader(h, names, text.slice(ns, ne).toLowerCase(), text.slice(vs, ve), redact);
    at = end + 2;
  }
  return h;
}

function bodyOf(h: Record<string, string>): Body | undefined {
  if (/\bchunked\b/i.test(h['transfer-encoding'] ?? '')) return { kind: 'chunked' };
  const cl = h['content-length'];
  if (cl !== undefined) {
    const n = Number(cl.split(',')[0]);
    if (!Number.isSafeInteger(n) || n < 0) return undefined;
    return n === 0 ? { kind: 'none' } : { kind: 'length', n };
  }
  return undefined;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** A traceparent header's value (W3C Trace Context); undefined when invalid (version ff, zero ids, extra data in version 00). Pure. */
export function parseTraceparent(value: string | undefined): TraceParent | undefined {
  const m = value === undefined ? null : TRACEPARENT.exec(value.trim());
  if (!m || m[1] === 'ff' || (m[1] === '00' && m[5] !== undefined) || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return undefined;
  return { traceId: m[2]!, parentSpanId: m[3]!, sampled: (parseInt(m[4]!, 16) & 1) === 1 };
}

/** Values a record keeps, cut to MAX_VALUE. */
export function kept(h: Record<string, string>): Record<string, string> {
  // Mostly none is too long: the same object, not a copy.
  let long = false;
  for (const k in h) if (h[k]!.length > MAX_VALUE) long = true;
  if (!long) return h;
  const o: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) o[k] = v.length > MAX_VALUE ? `${v.slice(0, MAX_VALUE)}...` : v;
  return o;
}

export class HttpParser implements ConnParser {
  resyncs = 0;
  dropped = 0;
  /** Which direction carries requests: the first that shows a request line. */
  private requestEgress: boolean | undefined;
  private readonly pending: Request[] = [];
  private readonly requests: Framer<Request>;
  private readonly responses: Framer<Response>;
  /** The request each response answers, once its head is read. */
  private answering: Request | undefined;

  constructor(private readonly o: ParserOptions) {
    this.requests = new Framer((text, lineEnd, startNs) => {
      const m = METHODS.exec(text.slice(0, lineEnd));
      const h = m && headers(text, lineEnd + 2, o.redact);
      if (!m || !h) return undefined;
      const body = bodyOf(h) ?? { kind: 'none' };
      return { startNs, bytes: 0, headers: h, body, method: m[1]!, target: m[2]!, version: m[3]! };
    });
    this.responses = new Framer((text, lineEnd, startNs) => {
      const m = STATUS.exec(text.slice(0, lineEnd));
      const h = m && headers(text, lineEnd + 2, o.redact);
      if (!m || !h) return undefined;
      const status = Number(m[2]);
      const req = this.pending[0];
      // No body: HEAD, 1xx, 204, 304; otherwise by length, chunks or the close.
      const body: Body = req?.method === 'HEAD' || status < 200 || status === 204 || status === 304
        ? { kind: 'none' } : bodyOf(h) ?? { kind: 'close' };
      return { startNs, bytes: 0, headers: h, body, status, version: m[1]! };
    });
  }

  segment(egress: boolean, seg: Segment, out: (p: L7Pair, requestEgress: boolean) => void): void {
    if (this.requestEgress === undefined) {
      const head = Buffer.from(seg.data.subarray(0, 16)).toString('latin1');
      if (head.startsWith('HTTP/')) return; // a response to a request not seen: wait for one
      this.requestEgress = egress;
    }
    const isRequest = egress === this.requestEgress;
    const framer: Framer<Request> | Framer<Response> = isRequest ? this.requests : this.responses;
    framer.feed.push(seg);
    const r = isRequest
      ? this.requests.run((h) => this.queue(h), () => {})
      : this.responses.run((h) => {
        // Interim responses (100 Continue) answer nothing.
        this.answering = h.status >= 200 ? this.pending.shift() : undefined;
      }, (h, endNs) => this.done(h, endNs, out));
    if (r === 'stuck') {
      this.resyncs++;
      if (!isRequest) this.answering = undefined;
      framer.reset();
    }
  }

  close(out: (p: L7Pair, requestEgress: boolean) => void): void {
    this.responses.closeBody((h, endNs) => this.done(h, endNs, out));
    this.dropped += this.pending.length;
    this.pending.length = 0;
  }

  private queue(r: Request): void {
    if (this.pending.length >= MAX_PENDING) {
      this.pending.shift();
      this.dropped++;
    }
    this.pending.push(r);
  }

  private done(res: Response, endNs: bigint, out: (p: L7Pair, requestEgress: boolean) => void): void {
    const req = this.answering;
    this.answering = undefined;
    if (!req || res.status < 200) return;
    const target = this.o.redact ? redactQuery(req.target) : req.target;
    const traceparent = parseTraceparent(req.headers.traceparent);
    out({
      startBootNs: req.startNs,
      endBootNs: endNs,
      requestBytes: req.bytes,
      responseBytes: res.bytes,
      method: req.method,
      target,
      route: routeTemplate(req.target),
      status: res.status,
      error: res.status >= 500,
      http: {
        version: res.version, ...(req.headers.host !== undefined ? { host: req.headers.host } : {}), ...(traceparent ? { traceparent } : {}),
        requestHeaders: kept(req.headers), responseHeaders: kept(res.headers),
      },
    }, this.requestEgress!);
  }
}
