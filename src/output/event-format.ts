// One formatter per output format for every VigilEvent kind.
//
// An EventFormatter is a record with a function for each kind
// (`{ exec: (e) => ..., flow: (e) => ..., lost: (e) => ... }`): a kind added
// to VigilEvent without a function here does not compile. Each format's
// functions call the formatter that owns that kind's shape: Tetragon's for
// process and file events (output/tetragon.ts), Hubble's for flows and DNS
// (network/flow-format.ts), the policy engine's Tetragon events
// (output/policy-events.ts), Falco's for alerts (rules/output.ts).
import type { EventOf, VigilEvent, VigilEventKind } from '../pipeline/events.js';
import type { SysEvent } from '../sensors/sysevent-events.js';
import { errnoName } from '../kernel/errno.js';
import {
  compactTime, flowToHubbleJson, flowToJson, formatFlowCompact, formatFlowDict, formatFlowTable, hubbleLostLine, type FlowOutput,
} from '../network/flow-format.js';
import type { FlowRecord } from '../network/flow-types.js';
import { formatAlertJson, formatAlertText } from '../rules/output.js';
import { l7Compact, l7Object } from '../l7/format.js';
import { BootClock, formatTime, rfc3339Nano } from '../util/clock.js';
import { envelopeExtras } from '../util/node.js';
import { colors } from './color.js';
import { PolicyEventFormatter } from './policy-events.js';
import { maskEnvelopeLine } from './field-mask.js';
import { TetragonFormatter, escapeControls, type FormatterOptions, type OutputFormat } from './tetragon.js';
import type { Line } from '../pipeline/output.js';

/** A line for each kind of event (without the newline); undefined: the format has no shape for it (tetragon: forks). */
export type EventFormatter = { readonly [K in VigilEventKind]: (e: EventOf<K>) => string | undefined };

/**
 * A stream's output formats: Tetragon's (compact, json, table, tetragon) and
 * Hubble's for flows (jsonpb or hubble: strict Hubble JSON; dict). tetragon,
 * jsonpb and hubble are the strict outputs: process events in Tetragon's
 * schema, flows in Hubble's, nothing either lacks.
 */
export type EventOutput = OutputFormat | FlowOutput;

export interface EventFormatOptions extends FormatterOptions {
  /** Converts kernel times for the lines that print them (default: the host's clock). */
  clock?: BootClock;
  /** table: flows in hubble observe's columns (a stream of flows alone). */
  hubbleTable?: boolean;
}

/**
 * Lines for an output that writes bytes (stdout, a file): as an EventFormatter's, but json and
 * tetragon process and file events come as Fragments whose process texts are shared UTF-8 bytes.
 */
export type EventEncoder = { readonly [K in VigilEventKind]: (e: EventOf<K>) => Line | undefined };

/** The event as one line in the formatter's format. */
export function formatEvent(f: EventFormatter, e: VigilEvent): string | undefined {
  return (f[e.kind] as (x: VigilEvent) => string | undefined)(e);
}

/** The event as one line for an output that writes bytes. */
export function encodeEvent(f: EventEncoder, e: VigilEvent): Line | undefined {
  return (f[e.kind] as (x: VigilEvent) => Line | undefined)(e);
}

/** "connect 3 -> 127.0.0.1:80 = 0", "ptrace = EPERM": a syscall event's detail. */
export function sysDetail(e: SysEvent): string {
  const where = (ep: { ip?: string; port?: number; path?: string } | undefined): string | undefined =>
    ep?.path ?? (ep?.ip !== undefined ? `${ep.ip}:${ep.port ?? 0}` : undefined);
  const parts: string[] = [e.call];
  if (e.file) parts.push(String(e.file.fd));
  const target = where(e.addr) ?? where(e.file?.socket?.remote) ?? e.file?.path ?? e.str ?? undefined;
  if (target !== undefined) parts.push('->', target);
  parts.push('=', e.ret < 0 ? errnoName(-e.ret) : String(e.ret));
  return parts.join(' ');
}

/** A syscall event as JSON: the call, its result and descriptor, the task that made it. */
function sysJson(e: SysEvent, node: string): string {
  const t = e.task;
  return JSON.stringify({
    syscall: {
      call: e.call, ret: e.ret, ...(e.ret < 0 ? { error: errnoName(-e.ret) } : {}), args: e.args,
      ...(e.file ? { file: e.file } : {}), ...(e.addr ? { addr: e.addr } : {}), ...(e.str !== null ? { str: e.str } : {}),
      task: {
        pid: t.pid, tid: t.tid, uid: t.uid, gid: t.gid, euid: t.euid, egid: t.egid, comm: t.comm,
        cgroup_id: String(t.cgroupId),
      },
    },
    node_name: node,
    time: rfc3339Nano(e.timeNs),
    ...envelopeExtras(),
  });
}

/** The local process of a flow record (its source on egress, its destination otherwise). */
function flowPid(r: FlowRecord): number | undefined {
  return (r.source.process ?? r.destination.process)?.pid;
}

/** The formats whose lines are JSON (the ones a field mask applies to). */
export const JSON_OUTPUTS: readonly EventOutput[] = ['json', 'tetragon', 'jsonpb', 'hubble'];

/** The kind keys of the enveloped JSON lines other than Tetragon's process events (masked after the fact). */
const ENVELOPE_KEYS: ReadonlySet<string> = new Set(['flow', 'syscall', 'l7', 'process_kprobe', 'process_tracepoint',
  'process_uprobe', 'process_lsm']);

/**
 * Lines of every kind in an output format. With `fields` (json and the strict formats): process
 * and file events are masked while they are built; the other kinds' lines are masked as
 * written (Falco's alerts at their top level); lost records never are.
 */
export function eventFormatter(format: EventOutput, o: EventFormatOptions = {}): EventFormatter {
  return maskedFormatter(format, o, tetragonFor(format, o));
}

/** An EventFormatter's lines for an output that writes bytes (EventEncoder). */
export function eventEncoder(format: EventOutput, o: EventFormatOptions = {}): EventEncoder {
  const tetragon = tetragonFor(format, o);
  const f = maskedFormatter(format, o, tetragon);
  if (o.fields || !JSON_OUTPUTS.includes(format)) return f;
  const encode = (e: EventOf<'exec' | 'exec_failed' | 'fork' | 'exit' | 'file'>) => tetragon.encode(e);
  return { ...f, exec: encode, exec_failed: encode, fork: encode, exit: encode, file: encode };
}

/** The Tetragon formatter behind a format's process and file events. */
function tetragonFor(format: EventOutput, o: EventFormatOptions): TetragonFormatter {
  const strict = format === 'tetragon' || format === 'jsonpb' || format === 'hubble';
  return new TetragonFormatter(strict ? 'tetragon' : format === 'dict' ? 'compact' : format, o);
}

function maskedFormatter(format: EventOutput, o: EventFormatOptions, tetragon: TetragonFormatter): EventFormatter {
  const f = unmaskedFormatter(format, o, tetragon);
  const mask = o.fields;
  if (!mask) return f;
  if (!JSON_OUTPUTS.includes(format)) throw new Error(`field masks apply to JSON lines (${JSON_OUTPUTS.join(', ')}), not ${format}`);
  const enveloped = <K extends VigilEventKind>(kind: K) => (e: EventOf<K>): string | undefined => {
    const line = (f[kind] as (x: EventOf<K>) => string | undefined)(e);
    return line === undefined ? undefined : maskEnvelopeLine(line, mask, ENVELOPE_KEYS);
  };
  return {
    ...f,
    flow: enveloped('flow'), dns: enveloped('dns'), sys: enveloped('sys'), policy: enveloped('policy'), l7: enveloped('l7'),
    alert: (e) => {
      const line = f.alert(e);
      return line === undefined ? undefined : JSON.stringify(mask.apply(JSON.parse(line)));
    },
  };
}

function unmaskedFormatter(format: EventOutput, o: EventFormatOptions, tetragon: TetragonFormatter): EventFormatter {
  const clock = o.clock ?? BootClock.measure();
  const node = tetragon.node;
  const policy = new PolicyEventFormatter(format === 'json' ? 'json' : 'compact',
    format === 'json' ? { ...o, tetragon } : { ...o, timeFormat: format === 'table' ? undefined : o.timeFormat });
  const flowOpts = { timeFormat: o.timeFormat, colors: colors(o.color === true) };
  const timed = (timeNs: bigint, line: string): string =>
    (o.timeFormat === undefined ? line : `${formatTime(timeNs, o.timeFormat)}: ${line}`);
  const l7Json = (e: EventOf<'l7'>): string => JSON.stringify({
    l7: l7Object(e.record, (ns) => rfc3339Nano(clock.toEpochNs(ns))), node_name: node, time: rfc3339Nano(clock.toEpochNs(e.timeBootNs)), ...envelopeExtras(),
  });
  const lostText = (e: EventOf<'lost'>): string => tetragon.lostLine(e.loss.count, e.loss.sensor,
    clock.toEpochNs(e.timeBootNs), e.loss.reason);
  const process = {
    exec: (e: EventOf<'exec'>) => tetragon.line(e),
    exec_failed: (e: EventOf<'exec_failed'>) => tetragon.line(e),
    fork: (e: EventOf<'fork'>) => tetragon.line(e),
    exit: (e: EventOf<'exit'>) => tetragon.line(e),
    file: (e: EventOf<'file'>) => tetragon.line(e),
  };
  switch (format) {
    case 'json': {
      const flow = (e: EventOf<'flow' | 'dns'>): string => flowToJson(e.record);
      return {
        ...process, flow, dns: flow,
        sys: (e) => sysJson(e, node),
        policy: (e) => policy.json(e.event),
        alert: (e) => formatAlertJson(e.alert),
        l7: l7Json,
        lost: lostText,
      };
    }
    case 'tetragon': case 'jsonpb': case 'hubble': {
      const strictPolicy = new PolicyEventFormatter('tetragon', { ...o, tetragon });
      const flow = (e: EventOf<'flow' | 'dns'>): string => flowToHubbleJson(e.record);
      return {
        ...process, flow, dns: flow,
        // Neither schema has syscall events or Falco's alerts.
        sys: () => undefined,
        policy: (e) => strictPolicy.json(e.event),
        alert: () => undefined,
        l7: () => undefined,
        // Each schema's one loss record: Tetragon's rate_limit_info, Hubble's lost_events.
        lost: (e) => (format === 'tetragon' ? lostText(e)
          : hubbleLostLine(e.loss.count, e.loss.reason, node, clock.toEpochNs(e.timeBootNs))),
      };
    }
    case 'dict': case 'compact': {
      const flow = (e: EventOf<'flow' | 'dns'>): string =>
        (format === 'dict' ? formatFlowDict(e.record, flowOpts) : formatFlowCompact(e.record, flowOpts));
      return {
        ...process, flow, dns: flow,
        sys: (e) => timed(e.timeNs, escapeControls(`🔌 ${e.call.padEnd(7)} ${e.task.pid} ${e.task.comm} ${sysDetail(e)}`)),
        policy: (e) => policy.compact(e.event),
        alert: (e) => formatAlertText(e.alert),
        l7: (e) => timed(clock.toEpochNs(e.timeBootNs), escapeControls(`🌐 ${l7Compact(e.record)}`)),
        lost: lostText,
      };
    }
    case 'table': {
      const row = (timeNs: bigint, kind: string, pid: number | undefined, uid: number | undefined, detail: string): string =>
        tetragon.row([rfc3339Nano(timeNs).slice(11, 23), kind, pid === undefined ? '-' : String(pid), '-',
          uid === undefined ? '-' : String(uid), '-', escapeControls(detail)]);
      const flow = (e: EventOf<'flow' | 'dns'>): string => (o.hubbleTable ? formatFlowTable(e.record, flowOpts) :
        row(clock.toEpochNs(e.timeBootNs), e.kind, flowPid(e.record), undefined,
          formatFlowCompact(e.record).slice(compactTime(e.record.time).length + 2)));
      return {
        ...process, flow, dns: flow,
        sys: (e) => row(e.timeNs, e.call, e.task.pid, e.task.uid, `${e.task.comm} ${sysDetail(e)}`),
        policy: (e) => row(e.event.timeNs, 'policy', e.event.pid, e.event.process?.uid, policy.compact(e.event)),
        alert: (e) => row(e.alert.timeNs, 'alert', undefined, undefined, `${e.alert.priority} ${e.alert.message}`),
        l7: (e) => row(clock.toEpochNs(e.timeBootNs), e.record.protocol, e.record.pid, undefined, l7Compact(e.record)),
        lost: (e) => row(clock.toEpochNs(e.timeBootNs), 'lost', undefined, undefined, lostText(e)),
      };
    }
    default: {
      const never: never = format;
      throw new Error(`unknown output format ${String(never)}`);
    }
  }
}
