// vigil/events: every event a sensor emits, as one discriminated union
// (VigilEvent, switched on `kind`), and the formatters that print them
// (compact lines, Tetragon-shaped JSON, Hubble flows).
export type { ExecEvent, ExecFailedEvent, ForkEvent, ExitEvent, ProcessEvent, FileEvent, ProcessInfo } from '../sensors/events.js';
export type { SysEvent, SysCall } from '../sensors/sysevent-events.js';
export type { FileOp } from '../sensors/file-events.js';
export {
  VIGIL_EVENT_KINDS, eventTime, eventSensor, eventKindLabel,
  type VigilEvent, type VigilEventKind, type EventOf, type FlowEvent, type DnsEvent, type PolicyMatchEvent, type AlertEvent, type LostEvent,
} from '../pipeline/events.js';
export { eventFormatter, formatEvent, JSON_OUTPUTS, type EventFormatter, type EventOutput, type EventFormatOptions } from '../output/event-format.js';
