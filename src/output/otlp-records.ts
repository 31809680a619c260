// An event as an OTLP log record (docs/metrics.md, "OTLP logs"): the one
// mapping every command and the agent use, so a record's kind, severity and
// attributes are the same whoever exports it. The body is the event in the
// caller's JSON shape (Tetragon's, Falco's for alerts), its time the caller's
// conversion to wall-clock time.
import { eventKindLabel, type VigilEvent } from '../pipeline/index.js';
import type { OtlpRecord, Severity } from '../telemetry/otlp.js';
import type { Priority } from '../rules/loader.js';

const ALERT_SEVERITY: Readonly<Record<Priority, Severity>> = {
  Emergency: 'emergency', Alert: 'alert', Critical: 'critical', Error: 'error', Warning: 'warn', Notice: 'notice',
  Informational: 'info', Debug: 'debug',
};

/** The record of `e` at `timeNs` (ns since the epoch) with `bodyJson` as its body; undefined: no body, not exported. */
export function otlpRecord(e: VigilEvent, timeNs: bigint, bodyJson: string | undefined): OtlpRecord | undefined {
  if (bodyJson === undefined) return undefined;
  switch (e.kind) {
    case 'alert':
      return {
        timeNs, kind: 'alert', severity: ALERT_SEVERITY[e.alert.priority], bodyJson,
        attributes: { 'vigil.rule': e.alert.rule, 'vigil.priority': e.alert.priority.toLowerCase(), 'vigil.source': e.alert.source },
      };
    case 'policy':
      return { timeNs, kind: 'policy', severity: 'info', attributes: { 'vigil.policy': e.event.policy.name }, bodyJson };
    default:
      return { timeNs, kind: eventKindLabel(e), severity: 'info', bodyJson };
  }
}
