// One observer, many listeners (as Tetragon's observer and its gRPC
// listeners): every event the pipeline releases goes into the history and to
// each event-stream client whose filter takes it. A client has its own
// bound (api.clientBuffer bytes written to it and not yet taken by its
// socket): a client that passes it is cut off, the events it missed counted,
// and the agent never waits for it.
import { constants as http2 } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { LossReason } from '../pipeline/index.js';
import { History } from './history.js';
import { agentEventTime, type AgentEvent } from './events.js';
import type { Subscription } from './subscription.js';

/** What a GetEvents stream carries (vigil/v1/events.proto GetEventsResponse). */
export type EventsResponse =
  | { event: { kind: string; timeNs: string; nodeName: string; line: string } }
  | { lost: { count: string; sensor: string; reason: string; line: string } }
  | { header: string };

/** How long a cut-off client has to take what was queued for it (and its status) before its stream is reset. */
const CUT_OFF_GRACE_MS = 5000;
/** A message's bytes beyond its line (framing, fields). */
const MESSAGE_OVERHEAD = 48;

/**
 * Event-stream clients now and in all, those cut off, the events cut-off
 * clients did not get (those queued for them and the one that did not fit),
 * and the events published.
 */
export type HubStats = Record<'clients' | 'clientsTotal' | 'clientsCutOff' | 'clientEventsLost' | 'events', number>;

export interface HubLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

class Client {
  pendingBytes = 0;
  pendingMessages = 0;
  cut = false;
  live = false;

  constructor(
    readonly id: number,
    readonly peer: string,
    readonly sub: Subscription,
    readonly call: grpc.ServerWritableStream<unknown, EventsResponse>,
  ) {}
}

export class EventHub {
  private history: History<AgentEvent>;
  private readonly clients = new Set<Client>();
  private nextId = 1;
  private readonly counts: HubStats = { clients: 0, clientsTotal: 0, clientsCutOff: 0, clientEventsLost: 0, events: 0 };

  constructor(historyEvents: number, private readonly clientBuffer: number, private readonly node: string, private readonly log: HubLog) {
    this.history = new History(historyEvents);
  }

  get stats(): HubStats {
    return { ...this.counts, clients: this.clients.size };
  }

  get historySize(): number {
    return this.history.size;
  }

  /** A reload changed the history's size. */
  resizeHistory(events: number): void {
    if (events !== this.history.capacity) this.history = this.history.resized(events);
  }

  /** Each event the pipeline releases, in time order. */
  publish(e: AgentEvent): void {
    this.counts.events++;
    this.history.push(e);
    for (const c of this.clients) if (c.live && c.sub.matches(e)) this.sendEvent(c, e);
  }

  /** Events the agent did not see (a ring was full): every live client is told, whatever its filter. */
  lost(sensor: string, count: number, reason: LossReason): void {
    for (const c of this.clients) {
      if (!c.live) continue;
      const line = c.sub.lostLine(count, sensor, reason);
      this.send(c, { lost: { count: String(count), sensor, reason, line } }, line.length);
    }
  }

  /**
   * A GetEvents stream: the history it asks for first (--last N, --since T),
   * then live events if it follows. Resolves when the stream ends.
   */
  attach(call: grpc.ServerWritableStream<unknown, EventsResponse>, sub: Subscription, o: { last: number; sinceNs: bigint; follow: boolean }): void {
    const c = new Client(this.nextId++, call.getPeer() || 'unix', sub, call);
    this.clients.add(c);
    this.counts.clientsTotal++;
    const gone = (): void => void this.clients.delete(c);
    call.on('close', gone);
    call.on('finish', gone);
    call.on('cancelled', gone);
    call.on('error', gone);
    this.log.info({ client: c.id, peer: c.peer }, 'event stream client connected');
    if (sub.header !== undefined) this.send(c, { header: sub.header }, sub.header.length);
    const replay = o.last > 0 || o.sinceNs > 0n;
    if (replay) {
      const keep = (e: AgentEvent): boolean => agentEventTime(e) >= o.sinceNs && sub.matches(e);
      for (const e of this.history.select(keep, o.last)) {
        if (c.cut) return;
        this.sendEvent(c, e);
      }
      if (!o.follow) {
        call.end();
        return;
      }
    }
    c.live = true;
  }

  private sendEvent(c: Client, e: AgentEvent): void {
    const line = c.sub.render(e);
    this.send(c, { event: { kind: e.kind === 'alert' || e.kind === 'policy' ? e.kind : e.kind, timeNs: String(agentEventTime(e)), nodeName: this.node, line } }, line.length);
  }

  private send(c: Client, msg: EventsResponse, lineBytes: number): void {
    if (c.cut) return;
    const bytes = lineBytes + MESSAGE_OVERHEAD;
    if (c.pendingBytes + bytes > this.clientBuffer) {
      this.cutOff(c);
      return;
    }
    c.pendingBytes += bytes;
    c.pendingMessages++;
    c.call.write(msg, () => {
      c.pendingBytes -= bytes;
      c.pendingMessages--;
    });
  }

  /** A client that does not keep up: no more events; it gets what was queued, then RESOURCE_EXHAUSTED. */
  private cutOff(c: Client): void {
    c.cut = true;
    c.live = false;
    this.clients.delete(c);
    const lost = c.pendingMessages + 1;
    this.counts.clientsCutOff++;
    this.counts.clientEventsLost += lost;
    this.log.warn({ client: c.id, peer: c.peer, queuedBytes: c.pendingBytes, lost }, 'event stream client cut off: not keeping up');
    const details = `cut off: not reading fast enough (${c.pendingBytes} bytes unread; api.clientBuffer is ${this.clientBuffer}); ` +
      `${lost} events not delivered`;
    c.call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details });
    // A client that reads nothing more would hold what was queued for it: its stream is reset.
    setTimeout(() => resetStream(c.call), CUT_OFF_GRACE_MS).unref();
  }

  /** Ends every stream (the agent stops). */
  close(): void {
    for (const c of this.clients) {
      c.live = false;
      c.call.end();
    }
    this.clients.clear();
  }
}

/**
 * Resets a server stream's HTTP/2 stream. grpc-js has no public call for it;
 * its server call keeps the stream as `stream` (1.x, behind any interceptors' `nextCall`), reached here
 * defensively: where it is not, the queued bytes stay until the client goes.
 */
function resetStream(call: grpc.ServerWritableStream<unknown, EventsResponse>): void {
  type Inner = { stream?: { closed?: boolean; close?(code: number): void }; nextCall?: Inner };
  let inner = (call as unknown as { call?: Inner }).call;
  // Interceptors wrap the call that holds the stream.
  for (let i = 0; inner && !inner.stream && i < 8; i++) inner = inner.nextCall;
  const stream = inner?.stream;
  if (stream && !stream.closed) stream.close?.(http2.NGHTTP2_CANCEL);
}
