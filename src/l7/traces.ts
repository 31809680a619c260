// HTTP records as trace spans (docs/l7.md, "Traces"): a SERVER span per
// request a process answered, a CLIENT span per request it made, timed by
// the kernel (the request's first byte to the response's last). A request
// carrying a W3C traceparent gives its span the trace id and parent span id;
// otherwise a span starts a trace of its own.
//
// Inside one process, a client request made on the thread of a server
// request in flight (same pid and tid, within the server request's time) is
// that request's child. A client's record completes before its server's, so
// client spans without a traceparent of their own are held (at most
// HOLD_NS, at most MAX_HELD of them) until a server record of their thread
// claims them; the rest go out as roots. Threads that hand work to other
// threads (thread pools) are not followed.
import { randomBytes } from 'node:crypto';
import type { L7Record, L7Role } from './types.js';

/** How long a client span waits for the server request it may belong to, ns. */
export const HOLD_NS = 2_000_000_000n;
/** Most client spans held at once; beyond it the oldest goes out unlinked. */
export const MAX_HELD = 4096;

/** A record's span: its ids and the record it times. */
export interface L7Span {
  readonly record: L7Record;
  readonly kind: L7Role;
  traceId: string;
  readonly spanId: string;
  parentSpanId: string | undefined;
}

export interface LinkerStats {
  spans: number;
  /** Client spans made children of a server span of their thread. */
  linked: number;
  /** Client spans sent unlinked because the hold was full. */
  heldOverflow: number;
}

const newId = (bytes: number): string => randomBytes(bytes).toString('hex');

/** Gives HTTP records span ids and links client spans to their thread's server span. Pure but for the ids' randomness. */
export class SpanLinker {
  readonly stats: LinkerStats = { spans: 0, linked: 0, heldOverflow: 0 };
  /** Held client spans, oldest first; by thread for the claims. */
  private readonly held: L7Span[] = [];
  private readonly byThread = new Map<string, Set<L7Span>>();

  constructor(private readonly emit: (s: L7Span) => void, private readonly o: { holdNs?: bigint; maxHeld?: number } = {}) {}

  record(r: L7Record): void {
    if (r.protocol !== 'http') return;
    const tp = r.http?.traceparent;
    const span: L7Span = { record: r, kind: r.role, traceId: tp?.traceId ?? newId(16), spanId: newId(8), parentSpanId: tp?.parentSpanId };
    this.stats.spans++;
    if (r.role === 'server') {
      this.claim(span);
      this.emit(span);
      return;
    }
    if (tp) {
      // The caller's own context (an instrumented client): it is the parent.
      this.emit(span);
      return;
    }
    if (this.held.length >= (this.o.maxHeld ?? MAX_HELD)) {
      this.stats.heldOverflow++;
      this.release(this.held[0]!);
    }
    this.held.push(span);
    const key = threadOf(r);
    let set = this.byThread.get(key);
    if (!set) this.byThread.set(key, (set = new Set()));
    set.add(span);
  }

  /** Sends the client spans whose response ended before `nowBootNs` less the hold (all: undefined). */
  flush(nowBootNs?: bigint): void {
    const before = nowBootNs === undefined ? undefined : nowBootNs - (this.o.holdNs ?? HOLD_NS);
    while (this.held.length && (before === undefined || this.held[0]!.record.endBootNs < before)) this.release(this.held[0]!);
  }

  /** Client spans held now. */
  get holding(): number {
    return this.held.length;
  }

  private claim(server: L7Span): void {
    const set = this.byThread.get(threadOf(server.record));
    if (!set) return;
    const s = server.record;
    for (const c of set) {
      const r = c.record;
      if (r.startBootNs < s.startBootNs || r.endBootNs > s.endBootNs) continue;
      c.traceId = server.traceId;
      c.parentSpanId = server.spanId;
      this.stats.linked++;
      this.release(c);
    }
  }

  private release(c: L7Span): void {
    const i = this.held.indexOf(c);
    if (i >= 0) this.held.splice(i, 1);
    const key = threadOf(c.record);
    const set = this.byThread.get(key);
    set?.delete(c);
    if (set?.size === 0) this.byThread.delete(key);
    this.emit(c);
  }
}

const threadOf = (r: L7Record): string => `${r.pid}:${r.tid}`;

/** The path of a request target ("/a/b?x=1" → "/a/b"). Pure. */
export function pathOf(target: string | undefined): string | undefined {
  if (target === undefined) return undefined;
  const q = target.search(/[?#]/);
  return q < 0 ? target : target.slice(0, q);
}

/** A span's name and its semantic-convention attributes (HTTP spans, v1.26+ names). Pure. */
export function spanAttributes(s: L7Span): { name: string; attributes: Record<string, string | number> } {
  const r = s.record;
  const a: Record<string, string | number> = { 'http.request.method': r.method, 'network.protocol.version': r.http?.version ?? '1.1' };
  const path = pathOf(r.target);
  if (path !== undefined) a['url.path'] = path;
  if (typeof r.status === 'number') a['http.response.status_code'] = r.status;
  if (s.kind === 'server') {
    if (r.route !== undefined) a['http.route'] = r.route;
    a['server.address'] = hostOf(r.http?.host) ?? r.local.ip;
    a['server.port'] = r.local.port;
    a['client.address'] = r.remote.ip;
    a['client.port'] = r.remote.port;
    if (r.error) a['error.type'] = String(r.status);
    return { name: r.route !== undefined ? `${r.method} ${r.route}` : r.method, attributes: a };
  }
  a['server.address'] = hostOf(r.http?.host) ?? r.remote.ip;
  a['server.port'] = r.remote.port;
  a['network.peer.address'] = r.remote.ip;
  a['network.peer.port'] = r.remote.port;
  if (r.error) a['error.type'] = String(r.status);
  return { name: r.method, attributes: a };
}

/** The host of a Host header ("example.com:8080" → "example.com", "[::1]:80" → "::1"). Pure. */
function hostOf(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (m) return m[1];
  const c = host.lastIndexOf(':');
  return c > 0 && host.indexOf(':') === c ? host.slice(0, c) : host;
}
