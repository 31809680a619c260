// One event-stream client's view: which events it wants (observe's filters,
// judged here in user space, since the agent's sensors watch everything for
// every client) and how it wants them written (observe's formats, rendered
// by the agent with its process cache).
import { TetragonFormatter, OUTPUT_FORMATS, type FormatterOptions, type OutputFormat } from '../output/tetragon.js';
import { PolicyEventFormatter } from '../output/policy-events.js';
import { formatAlertJson, formatAlertText } from '../rules/output.js';
import { parseTimeFormat, TIME_FORMATS } from '../util/clock.js';
import { containerCgroupIds, containerCgroups, ContainerLookupError } from '../process/container.js';
import { PodFilter } from '../process/pod-filter.js';
import type { ProcessInfo, ProcessLookup } from '../process/types.js';
import type { LossReason } from '../pipeline/index.js';
import { eventFormatter, formatEvent, type EventOutput } from '../output/event-format.js';
import { FlowFilter, FLOW_FILTER_KINDS, type FlowFilterKind, type FlowFilterTerm } from '../network/flow-filter.js';
import { FLOW_OUTPUTS, flowTableHeader } from '../network/flow-format.js';
import type { FlowRecord } from '../network/flow-types.js';
import { DEFAULT_EVENT_KINDS, EVENT_KINDS, kindName, type AgentEvent, type EventKindName } from './events.js';

/** GetEventsRequest as @grpc/proto-loader gives it (vigil/v1/events.proto). */
export interface GetEventsRequest {
  kinds: string[];
  pids: number[];
  followChildren: boolean;
  uids: number[];
  comms: string[];
  binaryPrefixes: string[];
  pathPrefixes: string[];
  container: string;
  /** processCred, processNs: absent from older clients. */
  output: { format: string; timeFormat: string; color: boolean; ancestors: boolean; processCred?: boolean; processNs?: boolean } | null;
  last: number;
  /** int64 as a string. */
  sinceNs: string;
  follow: boolean;
  /** Hubble's filters of flows (vigil observe --sensors flow's --to-port, --not --ip, ...). */
  flowFilters: { kind: string; value: string; negated: boolean }[];
  /** Pods (observe's --namespace, --pod, --label); absent from older clients. */
  namespaces?: string[];
  pods?: string[];
  labels?: string[];
}

/** The agent's pod and container names (names.ts); `pods.connected`: a CRI runtime answers. */
export interface SubscriptionNames {
  pods?: NonNullable<FormatterOptions['pods']> & { readonly connected?: boolean };
  containers?: FormatterOptions['containers'];
}

/** A request the agent cannot serve: the message says which field and why. */
export class RequestError extends Error {
  override readonly name = 'RequestError';
}

export interface Subscription {
  matches(e: AgentEvent): boolean;
  /** The event as a line in the client's format; undefined: the format has none for it (tetragon: forks, failed execs, alerts). */
  render(e: AgentEvent): string | undefined;
  lostLine(count: number, sensor: string, reason: LossReason): string;
  /** A line before the events (the table's header). */
  readonly header: string | undefined;
  readonly format: EventOutput;
}

/** Formats a client may ask for: observe's, and Hubble's for flows (jsonpb, hubble: strict; dict: flows alone). */
export const EVENT_OUTPUTS: readonly EventOutput[] = [...new Set<EventOutput>([...OUTPUT_FORMATS, ...FLOW_OUTPUTS])];

/** The local process of a flow (its source on egress, its destination otherwise), from the process cache. */
function flowProcess(r: FlowRecord, lookup: ProcessLookup): ProcessInfo | undefined {
  const p = r.source.process ?? r.destination.process;
  if (!p) return undefined;
  return (p.exec_id ? lookup.getByExecId(p.exec_id) : undefined) ?? lookup.get(p.pid);
}

function processOf(e: AgentEvent, lookup: ProcessLookup): ProcessInfo | undefined {
  switch (e.kind) {
    case 'alert': return undefined;
    case 'policy': return e.event.process;
    case 'file': {
      // Judged in the cgroup the kernel saw at the event, as observe's in-kernel filter does.
      const p = lookup.get(e.task.pid, e.task.startBootNs, e.bootNs);
      return p && (lookup.inCgroup?.(p, e.task.cgroupId) ?? p);
    }
    case 'flow': case 'dns': return flowProcess(e.record, lookup);
    case 'l7': return lookup.get(e.record.pid);
    default: return e.process;
  }
}

function cgroupsOf(container: string): { ids: Set<bigint>; outside: boolean } | undefined {
  if (container === '') return undefined;
  try {
    if (container === 'host') return { ids: new Set(containerCgroups().map((c) => c.id)), outside: true };
    return { ids: new Set(containerCgroupIds(container)), outside: false };
  } catch (e) {
    if (e instanceof ContainerLookupError) throw new RequestError(`container: ${e.message}`);
    throw e;
  }
}

/** A client's filter and renderer. Throws RequestError for a value it cannot take. */
export function subscribe(r: GetEventsRequest, lookup: ProcessLookup, node: string,
  names: SubscriptionNames = {}): Subscription {
  for (const k of r.kinds) {
    if (!(EVENT_KINDS as readonly string[]).includes(k)) throw new RequestError(`kinds: unknown kind "${k}"; available: ${EVENT_KINDS.join(', ')}`);
  }
  const kinds = new Set<EventKindName>(r.kinds.length ? (r.kinds as EventKindName[]) : DEFAULT_EVENT_KINDS);
  const format = (r.output?.format || 'compact') as EventOutput;
  if (!EVENT_OUTPUTS.includes(format)) throw new RequestError(`output.format: unknown format "${format}"; available: ${EVENT_OUTPUTS.join(', ')}`);
  const flowsOnly = [...kinds].every((k) => k === 'flow' || k === 'dns');
  if (format === 'dict' && !flowsOnly) throw new RequestError('output.format: dict is hubble observe\'s flow blocks, for the flow and dns kinds alone');
  // Strict outputs: process events in Tetragon's schema beside flows in Hubble's (as observe's).
  const processFormat: OutputFormat = format === 'jsonpb' || format === 'hubble' ? 'tetragon' : format === 'dict' ? 'compact' : format;
  let flowFilter: FlowFilter | undefined;
  const terms = (r.flowFilters ?? []).map((t): FlowFilterTerm => {
    if (!(FLOW_FILTER_KINDS as readonly string[]).includes(t.kind) && t.kind !== 'ip-version') {
      throw new RequestError(`flow_filters: unknown filter "${t.kind}"; available: ${FLOW_FILTER_KINDS.join(', ')}, ip-version`);
    }
    return { kind: t.kind as FlowFilterKind, value: t.value, negated: t.negated };
  });
  try {
    flowFilter = terms.length ? new FlowFilter(terms) : undefined;
  } catch (e) {
    if (e instanceof RangeError) throw new RequestError(`flow_filters: ${e.message}`);
    throw e;
  }
  const timeFormat = parseTimeFormat(r.output?.timeFormat || 'StampMilli');
  if (!timeFormat) throw new RequestError(`output.time_format: unknown layout; available: ${TIME_FORMATS.join(', ')}`);
  const pids = r.pids.length ? new Set(r.pids) : undefined;
  const uids = r.uids.length ? new Set(r.uids) : undefined;
  const comms = r.comms.length ? new Set(r.comms) : undefined;
  const cgroups = cgroupsOf(r.container);
  let podFilter: PodFilter;
  try {
    podFilter = new PodFilter({ namespaces: r.namespaces, pods: r.pods, labels: r.labels });
  } catch (e) {
    if (e instanceof RangeError) throw new RequestError(e.message.replace(/^--label/, 'labels'));
    throw e;
  }
  if (podFilter.active) {
    if (!names.pods?.connected) throw new RequestError('namespaces, pods, labels: the agent has no CRI runtime to name pods (its cri.socket)');
    if (kinds.has('flow') || kinds.has('dns')) throw new RequestError('namespaces, pods, labels: select processes\' events; flows are not named by pod');
  }
  const processFilters = pids || uids || comms || r.binaryPrefixes.length || cgroups || podFilter.active;

  const processMatches = (p: ProcessInfo): boolean => {
    if (pids && !pids.has(p.pid) && !(r.followChildren && lookup.ancestors(p).some((a) => pids.has(a.pid)))) return false;
    if (uids && !uids.has(p.uid)) return false;
    if (comms && !comms.has(p.comm)) return false;
    if (r.binaryPrefixes.length && !r.binaryPrefixes.some((b) => p.binary.startsWith(b))) return false;
    if (cgroups) {
      // host: a process whose cgroup names a container is in one, whether or not that container was
      // there when the client subscribed (its cgroup is then not among the ids read at the start).
      const c = p.container;
      if (cgroups.outside && c !== undefined) {
        if (c !== 'host') return false;
      } else if (cgroups.ids.has(p.cgroupId) === cgroups.outside) {
        return false;
      }
    }
    if (podFilter.active) {
      const c = p.container;
      if (!podFilter.matches(c === undefined || c === 'host' ? undefined : names.pods?.lookup(c.id))) return false;
    }
    return true;
  };

  const formatterOptions = {
    lookup, node, ancestors: r.output?.ancestors ?? false,
    processCred: r.output?.processCred ?? false, processNs: r.output?.processNs ?? false, timeFormat, color: r.output?.color ?? false, pods: names.pods, containers: names.containers,
  };
  const tetragon = new TetragonFormatter(processFormat, formatterOptions);
  // Flows as observe writes them (Hubble's shapes; in a table of flows alone, hubble observe's columns).
  const flows = eventFormatter(format, { ...formatterOptions, hubbleTable: format === 'table' && flowsOnly });
  const json = processFormat === 'json' || processFormat === 'tetragon';
  const policies = new PolicyEventFormatter(json ? processFormat : 'compact', { lookup, timeFormat, tetragon: json ? tetragon : undefined });
  return {
    format,
    header: format === 'table' ? (flowsOnly ? flowTableHeader() : tetragon.header()) : undefined,
    matches(e) {
      if (!kinds.has(kindName(e))) return false;
      if (e.kind === 'file' && r.pathPrefixes.length && !r.pathPrefixes.some((p) => e.path.startsWith(p))) return false;
      if ((e.kind === 'flow' || e.kind === 'dns') && flowFilter && !flowFilter.matches(e.record)) return false;
      // Alerts carry their process as output fields, not as an image: kinds only.
      if (!processFilters || e.kind === 'alert') return true;
      const p = processOf(e, lookup);
      return p !== undefined && processMatches(p);
    },
    render(e) {
      switch (e.kind) {
        // Falco's alerts have no Tetragon shape.
        case 'alert': return processFormat === 'tetragon' ? undefined : format === 'json' ? formatAlertJson(e.alert) : formatAlertText(e.alert);
        case 'flow': case 'dns': return formatEvent(flows, e);
        // L7 records have no Tetragon or Hubble shape (as observe refuses them there).
        case 'l7': return processFormat === 'tetragon' ? undefined : formatEvent(flows, e);
        case 'policy': return json ? policies.json(e.event) : policies.compact(e.event);
        default: return tetragon.line(e);
      }
    },
    lostLine: (count, sensor, reason) => tetragon.lostLine(count, sensor, BigInt(Date.now()) * 1_000_000n, reason),
  };
}
