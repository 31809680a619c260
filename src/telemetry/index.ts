// Telemetry: the agent's metrics (Prometheus endpoint, OTLP metrics) and the
// OTLP log export of events and alerts. See docs/metrics.md.
export type { TelemetrySources, PipelineTelemetry, PolicyTelemetry, RulesTelemetry, ProcessCacheTelemetry } from './sources.js';
export { METRICS, type MetricDef, type Sample, type TelemetryView } from './catalog.js';
export { BpfStatsSwitch, ownPrograms, ownRingBuffers, type ProgramRunStats, type RingFill } from './bpf-stats.js';
export { parseListenAddress, addressUrl, type ListenAddress } from './address.js';
export { startMetrics, registryOf, type MetricsServer, type MetricsOptions } from './prometheus.js';
export {
  OtlpLogOutput, OtlpMetrics, otlpLine, otlpLogSink, type OtlpOptions, type OtlpMetricsOptions, type OtlpRecord, type OtlpSinkOptions,
  type Severity,
} from './otlp.js';
export { Telemetry, closingOnError, type TelemetryOptions } from './service.js';
