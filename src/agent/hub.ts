// One observer, many listeners (as Tetragon's observer and its gRPC
// listeners): every event the pipeline releases goes into the history and to
// each event-stream client whose filter takes it. A client's lines are sent
// once per turn of the event loop, as one message (a burst costs one write,
// not one per event). A client has its own bound (api.clientBuffer bytes
// queued for it and not yet taken by its socket): a client that passes it is
// cut off, the events it missed counted, and the agent never waits for it.
import { constants as http2 } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { LossReason } from '../pipeline/index.js';
import { History } from './history.js';
import { agentEventTime, type AgentEvent } from './events.js';
import type { Subscription } from './subscription.js';

type EventMessage = { kind: string; timeNs: string; nodeName: string; line: string };
type LostMessage = { count: string; sensor: string; reason: string; line: string };

/** What a GetEvents stream carries (vigil/v1/events.proto GetEventsResponse). */
export interface EventsResponse {
  events?: EventMessage[];
  lost?: LostMessage[];
  header?: string;
}

/** How long a cut-off client has to take what was queued for it (and its status) before its stream is reset. */
const CUT_OFF_GRACE_MS = 5000;
/** An event's bytes beyond its line (its fields, framing). */
const EVENT_OVERHEAD = 48;
/** Most bytes in one message (a client takes 4 MiB at most by default). */
const MESSAGE_MAX = 1 << 20;

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
  /** Bytes queued this turn, and written to the stream but not yet taken by its socket. */
  queuedBytes = 0;
  inFlightBytes = 0;
  inFlightEvents = 0;
  events: EventMessage[] = [];
  lost: LostMessage[] = [];
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
  private flushScheduled = false;
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
      c.lost.push({ count: String(count), sensor, reason, line });
      this.queued(c, line.length + EVENT_OVERHEAD);
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
    if (sub.header !== undefined) this.write(c, { header: sub.header }, sub.header.length, 0);
    const replay = o.last > 0 || o.sinceNs > 0n;
    if (replay) {
      const keep = (e: AgentEvent): boolean => agentEventTime(e) >= o.sinceNs && sub.matches(e);
      for (const e of this.history.select(keep, o.last)) {
        if (c.cut) return;
        this.sendEvent(c, e);
      }
      this.flushClient(c);
      if (!o.follow) {
        call.end();
        return;
      }
    }
    c.live = true;
  }

  private sendEvent(c: Client, e: AgentEvent): void {
    if (c.cut) return;
    const line = c.sub.render(e);
    if (line === undefined) return;
    c.events.push({ kind: e.kind, timeNs: String(agentEventTime(e)), nodeName: this.node, line });
    this.queued(c, line.length + EVENT_OVERHEAD);
  }

  /** Counts what was queued for a client against its bound; sent at the end of this turn. */
  private queued(c: Client, bytes: number): void {
    c.queuedBytes += bytes;
    if (c.queuedBytes + c.inFlightBytes > this.clientBuffer) {
      this.cutOff(c);
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        for (const x of this.clients) this.flushClient(x);
      });
    }
  }

  /** What is queued for a client, as messages of at most MESSAGE_MAX bytes. */
  private flushClient(c: Client): void {
    if (c.cut) return;
    let lost = c.lost;
    let events: EventMessage[] = [];
    let bytes = 0;
    for (const ev of c.events) {
      const n = ev.line.length + EVENT_OVERHEAD;
      if (bytes + n > MESSAGE_MAX && events.length) {
        this.write(c, { lost, events }, bytes, events.length);
        lost = [];
        events = [];
        bytes = 0;
      }
      events.push(ev);
      bytes += n;
    }
    if (events.length || lost.length) this.write(c, { lost, events }, bytes + lost.length * EVENT_OVERHEAD, events.length);
    c.events = [];
    c.lost = [];
    c.queuedBytes = 0;
  }

  private write(c: Client, msg: EventsResponse, bytes: number, events: number): void {
    c.inFlightBytes += bytes;
    c.inFlightEvents += events;
    c.call.write(msg, () => {
      c.inFlightBytes -= bytes;
      c.inFlightEvents -= events;
    });
  }

  /** A client that does not keep up: no more events; it gets what was written to it, then RESOURCE_EXHAUSTED. */
  private cutOff(c: Client): void {
    c.cut = true;
    c.live = false;
    this.clients.delete(c);
    const lost = c.inFlightEvents + c.events.length + 1;
    const unread = c.inFlightBytes + c.queuedBytes;
    c.events = [];
    c.lost = [];
    this.counts.clientsCutOff++;
    this.counts.clientEventsLost += lost;
    this.log.warn({ client: c.id, peer: c.peer, queuedBytes: unread, lost }, 'event stream client cut off: not keeping up');
    const details = `cut off: not reading fast enough (${unread} bytes unread; api.clientBuffer is ${this.clientBuffer}); ` +
      `${lost} events not delivered`;
    c.call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details });
    // A client that reads nothing more would hold what was queued for it: its stream is reset.
    setTimeout(() => resetStream(c.call), CUT_OFF_GRACE_MS).unref();
  }

  /** Ends every stream (the agent stops). */
  close(): void {
    for (const c of this.clients) {
      this.flushClient(c);
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
