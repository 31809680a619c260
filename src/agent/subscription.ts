// One event-stream client's view: which events it wants (observe's filters,
// judged here in user space, since the agent's sensors watch everything for
// every client) and how it wants them written (observe's formats, rendered
// by the agent with its process cache).
import { TetragonFormatter, OUTPUT_FORMATS, type OutputFormat } from '../output/tetragon.js';
import { PolicyEventFormatter } from '../output/policy-events.js';
import { formatAlertJson, formatAlertText } from '../rules/output.js';
import { parseTimeFormat, TIME_FORMATS } from '../util/clock.js';
import { containerCgroupIds, containerCgroups, ContainerLookupError } from '../process/container.js';
import type { ProcessInfo, ProcessLookup } from '../process/types.js';
import type { LossReason } from '../pipeline/index.js';
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
  output: { format: string; timeFormat: string; color: boolean; ancestors: boolean } | null;
  last: number;
  /** int64 as a string. */
  sinceNs: string;
  follow: boolean;
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
  readonly format: OutputFormat;
}

function processOf(e: AgentEvent, lookup: ProcessLookup): ProcessInfo | undefined {
  switch (e.kind) {
    case 'alert': return undefined;
    case 'policy': return e.event.process;
    case 'file': return lookup.get(e.task.pid, e.task.startBootNs, e.bootNs);
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
export function subscribe(r: GetEventsRequest, lookup: ProcessLookup, node: string): Subscription {
  for (const k of r.kinds) {
    if (!(EVENT_KINDS as readonly string[]).includes(k)) throw new RequestError(`kinds: unknown kind "${k}"; available: ${EVENT_KINDS.join(', ')}`);
  }
  const kinds = new Set<EventKindName>(r.kinds.length ? (r.kinds as EventKindName[]) : DEFAULT_EVENT_KINDS);
  const format = (r.output?.format || 'compact') as OutputFormat;
  if (!OUTPUT_FORMATS.includes(format)) throw new RequestError(`output.format: unknown format "${format}"; available: ${OUTPUT_FORMATS.join(', ')}`);
  const timeFormat = parseTimeFormat(r.output?.timeFormat || 'StampMilli');
  if (!timeFormat) throw new RequestError(`output.time_format: unknown layout; available: ${TIME_FORMATS.join(', ')}`);
  const pids = r.pids.length ? new Set(r.pids) : undefined;
  const uids = r.uids.length ? new Set(r.uids) : undefined;
  const comms = r.comms.length ? new Set(r.comms) : undefined;
  const cgroups = cgroupsOf(r.container);
  const processFilters = pids || uids || comms || r.binaryPrefixes.length || cgroups;

  const processMatches = (p: ProcessInfo): boolean => {
    if (pids && !pids.has(p.pid) && !(r.followChildren && lookup.ancestors(p).some((a) => pids.has(a.pid)))) return false;
    if (uids && !uids.has(p.uid)) return false;
    if (comms && !comms.has(p.comm)) return false;
    if (r.binaryPrefixes.length && !r.binaryPrefixes.some((b) => p.binary.startsWith(b))) return false;
    if (cgroups && cgroups.ids.has(p.cgroupId) === cgroups.outside) return false;
    return true;
  };

  const tetragon = new TetragonFormatter(format, {
    lookup, node, ancestors: r.output?.ancestors ?? false, timeFormat, color: r.output?.color ?? false,
  });
  const json = format === 'json' || format === 'tetragon';
  const policies = new PolicyEventFormatter(json ? format : 'compact', { lookup, timeFormat, tetragon: json ? tetragon : undefined });
  return {
    format,
    header: format === 'table' ? tetragon.header() : undefined,
    matches(e) {
      if (!kinds.has(kindName(e))) return false;
      if (e.kind === 'file' && r.pathPrefixes.length && !r.pathPrefixes.some((p) => e.path.startsWith(p))) return false;
      // Alerts carry their process as output fields, not as an image: kinds only.
      if (!processFilters || e.kind === 'alert') return true;
      const p = processOf(e, lookup);
      return p !== undefined && processMatches(p);
    },
    render(e) {
      switch (e.kind) {
        // Falco's alerts have no Tetragon shape.
        case 'alert': return format === 'tetragon' ? undefined : format === 'json' ? formatAlertJson(e.alert) : formatAlertText(e.alert);
        case 'policy': return json ? policies.json(e.event) : policies.compact(e.event);
        default: return tetragon.line(e);
      }
    },
    lostLine: (count, sensor, reason) => tetragon.lostLine(count, sensor, BigInt(Date.now()) * 1_000_000n, reason),
  };
}
