// The event pipeline: time-ordered merge of rings, bounded per-output queues
// with loss accounting, back-pressure to the rings. See docs/ARCHITECTURE.md.
export { EventPipeline, type EventPipelineOptions, type PipelineSink, type PipelineSource, type PipelineStats } from './pipeline.js';
export {
  eventKindLabel, eventSensor, eventTime, vigilEventOptions, VIGIL_EVENT_KINDS, type AlertEvent, type DnsEvent, type EventOf, type FlowEvent,
  type LostEvent, type PolicyMatchEvent, type VigilEvent, type VigilEventKind,
} from './events.js';
export { TimeOrderedMerge, type MergeOptions } from './merge.js';
export { Sink, type SinkFormat, type SinkOptions } from './sink.js';
export {
  FileOutput, HttpOutput, StreamOutput, countsOf, isClosedError, lossesOf, settleWithin, stdoutOutput, type Batch, type EventCounts, type LineTag, type HttpOutputOptions, type LineOutput,
  type OutputHooks,
} from './output.js';
export { LossCounter, LOSS_REASON_TEXT, describeLosses, type Loss, type LossReason } from './loss.js';
export { formatByteSize, parseByteSize } from './size.js';

/** Each output's queue bound unless --output-buffer says otherwise. */
export const DEFAULT_OUTPUT_BUFFER = 16 << 20;
