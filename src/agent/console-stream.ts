// The console's live event stream: one more client of the agent's event hub
// (the same filters, history and bound as `vigil events`), over HTTP instead
// of gRPC. The hub writes to a stream with grpc's server-stream surface
// (write with a callback, end, events, getPeer); this is that surface over a
// chunked HTTP response, one JSON line per event:
//   {"kind":"exec","timeNs":"...","line":"..."}   an event, in the format asked
//   {"lost":{"count":N,"sensor":S,"reason":R}}     events the client did not get
//   {"error":"..."}                                 the hub cut the client off (it did not read fast enough)
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type { EventsResponse } from './hub.js';
import type { GetEventsRequest } from './subscription.js';

export class HttpEventStream extends EventEmitter {
  private ended = false;

  constructor(private readonly req: http.IncomingMessage, private readonly res: http.ServerResponse) {
    super();
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    // Headers now, so the browser's reader starts before the first event.
    res.flushHeaders();
    res.on('close', () => {
      this.ended = true;
      this.emit('close');
    });
    // The hub's cut-off: an error status; its details go to the client as the last line.
    this.on('error', (status: { details?: string }) => {
      if (this.ended) return;
      this.res.end(`${JSON.stringify({ error: status.details ?? 'the stream ended' })}\n`);
      this.ended = true;
    });
  }

  getPeer(): string {
    return `console ${this.req.socket.remoteAddress ?? ''}:${this.req.socket.remotePort ?? ''}`;
  }

  write(msg: EventsResponse, done?: () => void): boolean {
    if (this.ended) {
      done?.();
      return false;
    }
    let out = '';
    for (const l of msg.lost ?? []) out += `${JSON.stringify({ lost: { count: Number(l.count), sensor: l.sensor, reason: l.reason } })}\n`;
    for (const e of msg.events ?? []) out += `${JSON.stringify({ kind: e.kind, timeNs: e.timeNs, line: e.line })}\n`;
    if (!out) {
      done?.();
      return true;
    }
    return this.res.write(out, () => done?.());
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.res.end();
  }
}

/** What the console asks for: kinds and observe's process filters; the rest as `vigil events --follow` (compact lines). */
export interface ConsoleEventsRequest {
  kinds?: string[];
  pids?: number[];
  comms?: string[];
  binaryPrefixes?: string[];
  last?: number;
}

/** The request as the hub's clients make it; a value of the wrong shape is a RangeError naming it. */
export function eventsRequest(body: ConsoleEventsRequest): GetEventsRequest {
  const strings = (name: string, v: unknown): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new RangeError(`${name}: expected a list of strings`);
    return v as string[];
  };
  const pids = body.pids ?? [];
  if (!Array.isArray(pids) || !pids.every((p) => Number.isInteger(p) && p > 0)) throw new RangeError('pids: expected a list of process ids');
  const last = body.last ?? 100;
  if (!Number.isInteger(last) || last < 0 || last > 10_000) throw new RangeError('last: expected 0 to 10000 events');
  return {
    kinds: strings('kinds', body.kinds), pids, followChildren: false, uids: [], comms: strings('comms', body.comms),
    binaryPrefixes: strings('binaryPrefixes', body.binaryPrefixes), pathPrefixes: [], container: '',
    output: { format: 'compact', timeFormat: 'StampMilli', color: false, ancestors: false }, last, sinceNs: '0', follow: true, flowFilters: [],
  };
}
