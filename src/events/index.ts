/**
 * Every event a sensor emits, as one discriminated union (VigilEvent,
 * switched on `kind`), and the formatters that print them (compact lines,
 * Tetragon-shaped JSON, Hubble flows).
 *
 * @module vigil/events
 */
export type { ExecEvent, ExecFailedEvent, ForkEvent, ExitEvent, ProcessEvent, FileEvent, ProcessInfo } from '../sensors/events.js';
export type { SysEvent, SysCall, SysEndpoint, SysFile, SysTask, SysSocket } from '../sensors/sysevent-events.js';
export type { FileTask, FileEventFlags, FileSyscall } from '../sensors/file-events.js';
export { HOST, type Capabilities, type ContainerInfo, type ContainerRuntime, type ExitInfo, type ProcessFlags, type Namespaces, type ProcessSource, type Host } from '../process/types.js';
export type { OutputFormat } from '../output/tetragon.js';
export { FLOW_OUTPUTS, type FlowOutput } from '../network/flow-format.js';
export type { FieldMask } from '../output/field-mask.js';
export type { BootClock } from '../util/clock.js';
export type { Loss, LossReason } from '../pipeline/loss.js';
export type { PolicyEvent, PolicyEventKind } from '../policy/ir.js';
export type { FileOp } from '../sensors/file-events.js';
export {
  VIGIL_EVENT_KINDS, eventTime, eventSensor, eventKindLabel,
  type VigilEvent, type VigilEventKind, type EventOf, type FlowEvent, type DnsEvent, type PolicyMatchEvent, type AlertEvent, type LostEvent,
} from '../pipeline/events.js';
export { eventFormatter, formatEvent, JSON_OUTPUTS, type EventFormatter, type EventOutput, type EventFormatOptions } from '../output/event-format.js';
