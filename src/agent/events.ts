// What the agent's pipeline carries: the sensors' events, and run's (policy
// events, Falco alerts). One clock for all: wall time, since policy events
// and alerts carry no kernel time.
import type { SensorEvent } from '../sensors/events.js';
import type { SysEvent } from '../sensors/sysevent-events.js';
import type { RunEvent } from '../output/run-sinks.js';
import { eventKindLabel, eventSensor, type DnsEvent, type FlowEvent, type L7Event } from '../pipeline/events.js';
import { BootClock } from '../util/clock.js';
import { L7_PROTOCOLS } from '../l7/types.js';

/** What the agent's clients and outputs get. */
export type AgentEvent = SensorEvent | RunEvent | FlowEvent | DnsEvent | L7Event;
export type AgentEventKind = AgentEvent['kind'];
/** What its pipeline carries: that, and what only the rules read (syscall events). */
export type AgentPipelineEvent = AgentEvent | SysEvent;

/** The kinds a client may ask for: the sensor names of `vigil observe`, and policy and alert. */
export const EVENT_KINDS = ['exec', 'exit', 'fork', 'file', 'flow', 'dns', 'policy', 'alert', ...L7_PROTOCOLS] as const;
export type EventKindName = (typeof EVENT_KINDS)[number];
export const DEFAULT_EVENT_KINDS: readonly EventKindName[] = ['exec', 'exit', 'file', 'flow', 'dns', 'policy', 'alert'];

/** Flows carry kernel time only: converted with the process's one clock offset (src/util/clock.ts). */
let hostClock: BootClock | undefined;

/** The name a client filters an event by (a failed exec is an exec). */
export function kindName(e: AgentEvent): EventKindName {
  if (e.kind === 'l7') return e.record.protocol;
  return e.kind === 'exec_failed' ? 'exec' : e.kind;
}

export function agentEventTime(e: AgentPipelineEvent): bigint {
  switch (e.kind) {
    case 'alert': return e.alert.timeNs;
    case 'policy': return e.event.timeNs;
    case 'flow': case 'dns': case 'l7': return (hostClock ??= BootClock.measure()).toEpochNs(e.timeBootNs);
    default: return e.timeNs;
  }
}

/** The sensor an event came from, as losses are counted: process, file, flow, dns, policy, rules. */
export function agentEventSensor(e: AgentPipelineEvent): string {
  if (e.kind === 'sys' || e.kind === 'alert' || e.kind === 'policy' || e.kind === 'flow' || e.kind === 'dns' || e.kind === 'l7') {
    return eventSensor(e);
  }
  return e.kind === 'file' ? 'file' : 'process';
}

/** The kind metrics count (vigil_events_total): a flow record's own (tcp-connect, dns-query, ...), as observe's. */
export function agentEventKind(e: AgentPipelineEvent): string {
  return e.kind === 'flow' || e.kind === 'dns' || e.kind === 'l7' ? eventKindLabel(e) : e.kind;
}
