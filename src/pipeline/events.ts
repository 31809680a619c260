// VigilEvent: every kind of event one pipeline carries, as one discriminated
// union. Sensors emit their own types (src/sensors/events.ts: process and
// file; sysevent-events.ts: syscalls); what the pipeline's other producers
// make (flow and DNS records from the flow tracker, policy events from the
// policy engine, alerts from the rules, lost records from the pipeline
// itself) is wrapped here with its kernel time, so that one merge orders
// them all.
//
// A consumer's `switch (e.kind)` ends in `assertNever`, and a formatter is a
// `{ [kind]: (e) => string }` record (src/output/event-format.ts): a new
// kind without its branch or its formatter does not compile.
import type { FileEvent, ProcessEvent } from '../sensors/events.js';
import type { SysEvent } from '../sensors/sysevent-events.js';
import type { FlowRecord } from '../network/flow-types.js';
import type { PolicyEvent } from '../policy/ir.js';
import type { Alert } from '../rules/output.js';
import type { L7Record } from '../l7/types.js';
import { assertNever } from '../sensors/events.js';
import type { Loss } from './loss.js';
import type { EventPipelineOptions } from './pipeline.js';
import type { BootClock } from '../util/clock.js';

/** A network flow record (TCP connection, UDP conversation), Hubble's shape. */
export interface FlowEvent {
  readonly kind: 'flow';
  /** The kernel's time of what the record reports (CLOCK_BOOTTIME ns). */
  readonly timeBootNs: bigint;
  readonly record: FlowRecord;
}

/** A DNS query or answer seen on the wire, as a Hubble L7 flow record. */
export interface DnsEvent {
  readonly kind: 'dns';
  readonly timeBootNs: bigint;
  readonly record: FlowRecord;
}

/** A TracingPolicy matched (src/policy). */
export interface PolicyMatchEvent {
  readonly kind: 'policy';
  readonly timeBootNs: bigint;
  readonly event: PolicyEvent;
}

/** A Falco rule matched (src/rules). */
export interface AlertEvent {
  readonly kind: 'alert';
  readonly timeBootNs: bigint;
  readonly alert: Alert;
}

/** An L7 request and its response (HTTP, Redis, PostgreSQL), stamped with the response's last byte. */
export interface L7Event {
  readonly kind: 'l7';
  readonly timeBootNs: bigint;
  readonly record: L7Record;
}

/** Events one output did not get: the in-band account of a loss. */
export interface LostEvent {
  readonly kind: 'lost';
  readonly timeBootNs: bigint;
  readonly loss: Loss;
}

export type VigilEvent = ProcessEvent | FileEvent | SysEvent | FlowEvent | DnsEvent | PolicyMatchEvent | AlertEvent |
  L7Event | LostEvent;
export type VigilEventKind = VigilEvent['kind'];
/** The event of one kind: EventOf<'exec'> is ExecEvent. */
export type EventOf<K extends VigilEventKind> = Extract<VigilEvent, { kind: K }>;

/** Every kind, once: a Record over the kinds, so a kind missing here does not compile. */
const KIND_SENSOR: { readonly [K in VigilEventKind]: string } = {
  exec: 'process', exec_failed: 'process', fork: 'process', exit: 'process', file: 'file', sys: 'syscall',
  flow: 'flow', dns: 'dns', policy: 'policy', alert: 'rules', l7: 'l7', lost: 'pipeline',
};
export const VIGIL_EVENT_KINDS = Object.keys(KIND_SENSOR) as readonly VigilEventKind[];

/** The event's kernel time (CLOCK_BOOTTIME ns): the pipeline's merge key. */
export function eventTime(e: VigilEvent): bigint {
  switch (e.kind) {
    case 'exec': case 'exec_failed': case 'fork': case 'exit':
      return e.timeBootNs;
    case 'file': case 'sys':
      return e.bootNs;
    case 'flow': case 'dns': case 'policy': case 'alert': case 'l7': case 'lost':
      return e.timeBootNs;
    default:
      return assertNever(e);
  }
}

/** The sensor an event came from, as loss counts name it ('process', 'file', 'flow', 'rules', ...). */
export function eventSensor(e: VigilEvent): string {
  return e.kind === 'lost' ? e.loss.sensor : KIND_SENSOR[e.kind];
}

/** The kind metrics and OTLP records name: a flow or DNS record's own (tcp-connect, dns-query, ...), an L7 record's protocol, else the event's. */
export function eventKindLabel(e: VigilEvent): string {
  if (e.kind === 'l7') return e.record.protocol;
  return e.kind === 'flow' || e.kind === 'dns' ? e.record.event_kind : e.kind;
}

/** The pipeline's view of VigilEvents: merged by kernel time, losses by sensor, now from `clock`. */
export function vigilEventOptions(clock: BootClock): Pick<EventPipelineOptions<VigilEvent>, 'timeOf' | 'sensorOf' | 'kindOf' | 'now'> {
  return { timeOf: eventTime, sensorOf: eventSensor, kindOf: eventKindLabel, now: () => clock.nowBootNs() };
}
