// The outputs of `vigil run` as pipeline sinks: stdout, a file (--file) and
// an HTTP endpoint (--http), each behind its own bounded queue
// (src/pipeline/sink.ts). Alerts go to all three; policy events to stdout.
//
// A loss is reported in-band the way Falco reports its own drops: an alert
// of Vigil's, "Vigil internal: events dropped", with the count, sensor and
// reason in its output fields, in the output's encoding.
import os from 'node:os';
import {
  FileOutput, HttpOutput, Sink, eventSensor, stdoutOutput, LOSS_REASON_TEXT, type AlertEvent, type Loss, type PolicyMatchEvent,
} from '../pipeline/index.js';
import { formatAlertJson, formatAlertText, type Alert, type OutputEncoding } from '../rules/output.js';
import { PolicyEventFormatter, type PolicyOutputFormat } from './policy-events.js';
import { tetragonLostLine } from './tetragon.js';
import type { ProcessLookup } from '../process/types.js';
import { otlpLogSink, type OtlpOptions } from '../telemetry/otlp.js';
import { otlpRecord } from './otlp-records.js';

/** What run's pipeline carries: the alert and policy kinds of VigilEvent. */
export type RunEvent = AlertEvent | PolicyMatchEvent;

export const LOST_RULE = 'Vigil internal: events dropped';

/** The in-band record of a loss: an alert, as Falco reports its own event drops. */
export function lostAlert(l: Loss, timeNs: bigint): Alert {
  return {
    rule: LOST_RULE,
    priority: 'Warning',
    source: 'internal',
    tags: [],
    timeNs,
    hostname: os.hostname(),
    message: `${LOST_RULE}. ${l.count} ${l.sensor} events dropped (${LOSS_REASON_TEXT[l.reason]})`,
    outputFields: { 'vigil.lost.count': l.count, 'vigil.lost.sensor': l.sensor, 'vigil.lost.reason': l.reason },
  };
}

function encode(a: Alert, enc: OutputEncoding): string {
  return enc === 'json' ? formatAlertJson(a) : formatAlertText(a);
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

export interface RunSinkOptions {
  encoding: OutputEncoding;
  /** Policy events' format on stdout; default: json with the json encoding, else compact. */
  policyFormat?: PolicyOutputFormat;
  /** Policy events' processes carry their credentials, their namespaces (FormatterOptions). */
  processCred?: boolean;
  processNs?: boolean;
  capacityBytes: number;
}

/**
 * stdout: alerts in the encoding, policy events as Tetragon JSON or compact
 * lines (beginning with their time, as observe's), their processes from `cache`.
 */
export function stdoutRunSink(o: RunSinkOptions, cache?: ProcessLookup): Sink<RunEvent> {
  const pf = new PolicyEventFormatter(o.policyFormat ?? (o.encoding === 'json' ? 'json' : 'compact'),
    { lookup: cache, timeFormat: 'StampMilli', processCred: o.processCred, processNs: o.processNs });
  return new Sink<RunEvent>(stdoutOutput, {
    capacityBytes: o.capacityBytes,
    sensorOf: eventSensor,
    format: {
      line: (e) => (e.kind === 'alert' ? encode(e.alert, o.encoding) : pf.line(e.event)),
      // Tetragon's schema has one loss record (rate_limit_info); the sensor and reason are on stderr.
      lost: (l) => (pf.format === 'tetragon' ? tetragonLostLine(l.count, pf.node, nowNs()) : encode(lostAlert(l, nowNs()), o.encoding)),
    },
  });
}

/** --file PATH: alerts appended (Falco's file_output). Throws like open(2) when the file cannot be opened. */
export function fileRunSink(path: string, o: RunSinkOptions): Sink<RunEvent> {
  return new Sink<RunEvent>((hooks) => FileOutput.open(path, hooks), {
    capacityBytes: o.capacityBytes,
    sensorOf: eventSensor,
    takes: (e) => e.kind === 'alert',
    format: {
      line: (e) => (e.kind === 'alert' ? encode(e.alert, o.encoding) : undefined),
      lost: (l) => encode(lostAlert(l, nowNs()), o.encoding),
    },
  });
}

/** --http URL: each alert's Falco JSON POSTed (Falco's http_output; falcosidekick). */
export function httpRunSink(url: string, o: Omit<RunSinkOptions, 'encoding'>): { sink: Sink<RunEvent>; output: () => HttpOutput } {
  let output: HttpOutput | undefined;
  const sink = new Sink<RunEvent>((hooks) => (output = new HttpOutput(url, hooks)), {
    capacityBytes: o.capacityBytes,
    sensorOf: eventSensor,
    takes: (e) => e.kind === 'alert',
    format: {
      line: (e) => (e.kind === 'alert' ? formatAlertJson(e.alert) : undefined),
      lost: (l) => formatAlertJson(lostAlert(l, nowNs())),
    },
  });
  return { sink, output: () => output! };
}

/** --otlp URL: alerts (Falco's JSON) and policy events (Tetragon's JSON) as OTLP log records. */
export function otlpRunSink(o: Omit<RunSinkOptions, 'encoding'> & OtlpOptions, cache?: ProcessLookup): Sink<RunEvent> {
  const pf = new PolicyEventFormatter('json', { lookup: cache, timeFormat: 'StampMilli', processCred: o.processCred, processNs: o.processNs });
  return otlpLogSink<RunEvent>({
    ...o,
    sensorOf: eventSensor,
    nowNs,
    record: (e) => (e.kind === 'alert'
      ? otlpRecord(e, e.alert.timeNs, formatAlertJson(e.alert))
      : otlpRecord(e, e.event.timeNs, pf.json(e.event))),
  });
}
