// Where the telemetry exporters plug into the agent (src/telemetry: the
// Prometheus and OpenTelemetry ones). The configuration's `metrics:` and
// `otlp:` sections are handed, as written, to the exporter registered under
// that name, with the agent's event feed and counters; a section with no
// exporter registered is said in the log and otherwise ignored.
//
//   registerExporter('metrics', async (ctx) => { ...; return { close: async () => ... } });
import type { AgentEvent } from './events.js';
import type { HubStats } from './hub.js';
import type { TelemetrySources } from '../telemetry/sources.js';

export type ExporterSection = 'metrics' | 'otlp';

export interface ExporterContext {
  /** The section as written in the configuration (validated by the exporter: throw to refuse it). */
  readonly section: Readonly<Record<string, unknown>>;
  /** Each event the agent releases, in time order (keep it cheap: it runs on the agent's path). */
  onEvent(listener: (e: AgentEvent) => void): void;
  /** The agent's counters now. */
  stats(): HubStats & { kernelLost: number };
  /** What metrics are read from (the agent's pipeline and process cache), at each collection. */
  readonly sources: TelemetrySources;
  readonly log: { info(fields: object, msg: string): void; warn(fields: object, msg: string): void };
}

export interface RunningExporter {
  close(): Promise<void>;
}

export type ExporterFactory = (ctx: ExporterContext) => Promise<RunningExporter>;

const registry = new Map<ExporterSection, ExporterFactory>();

export function registerExporter(section: ExporterSection, factory: ExporterFactory): void {
  registry.set(section, factory);
}

export function exporterFor(section: ExporterSection): ExporterFactory | undefined {
  return registry.get(section);
}
