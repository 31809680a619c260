// The telemetry flags observe and run share: --metrics (a Prometheus
// endpoint), --bpf-stats (per-program run counts and times), --otlp (events
// and metrics to an OpenTelemetry collector), and what starts and stops them.
import { UsageError } from './command.js';
import { positive } from './flags.js';
import { parseListenAddress, type ListenAddress, type TelemetryOptions } from '../telemetry/index.js';

export { Telemetry, closingOnError, type TelemetryOptions } from '../telemetry/index.js';

export const TELEMETRY_FLAGS = {
  metrics: { type: 'string' },
  'bpf-stats': { type: 'boolean', default: false },
  otlp: { type: 'string' },
  'otlp-interval': { type: 'string' },
} as const;

export const TELEMETRY_USAGE = `telemetry (docs/metrics.md):
  --metrics ADDR      serve Prometheus metrics at http://ADDR/metrics; ADDR is
                      HOST:PORT, [IPv6]:PORT, or :PORT for every interface
  --bpf-stats         add each BPF program's run count and run time (turns on
                      the kernel's BPF statistics while running: every program
                      on the host then pays two clock reads per run)
  --otlp URL          export events as OTLP log records and the metrics as OTLP
                      metrics to an OpenTelemetry collector (OTLP/HTTP, protobuf:
                      URL/v1/logs, URL/v1/metrics); the log queue is bounded by
                      --output-buffer, drops counted like any output's
  --otlp-interval S   seconds between metric exports (default 10)`;

export function parseTelemetryFlags(values: {
  metrics?: string; 'bpf-stats'?: boolean; otlp?: string; 'otlp-interval'?: string;
}): TelemetryOptions {
  let metrics: ListenAddress | undefined;
  if (values.metrics !== undefined) {
    const a = parseListenAddress(values.metrics);
    if (typeof a === 'string') throw new UsageError(`--metrics: ${a}`);
    metrics = a;
  }
  const otlp = values.otlp;
  if (otlp !== undefined) {
    let u: URL;
    try {
      u = new URL(otlp);
    } catch {
      throw new UsageError(`--otlp: not a URL: "${otlp}"`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--otlp: expected an http:// or https:// URL, got "${otlp}"`);
  }
  const bpfStats = values['bpf-stats'] ?? false;
  if (bpfStats && !metrics && !otlp) throw new UsageError('--bpf-stats: the statistics would go nowhere; add --metrics or --otlp');
  const interval = positive('--otlp-interval', values['otlp-interval'], false);
  if (interval !== undefined && !otlp) throw new UsageError('--otlp-interval: needs --otlp');
  return { metrics, bpfStats, otlp, otlpIntervalMs: (interval ?? 10) * 1000 };
}
