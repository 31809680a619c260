// The telemetry flags observe and run share: --metrics (a Prometheus
// endpoint), --bpf-stats (per-program run counts and times), --otlp (events
// and metrics to an OpenTelemetry collector), and what starts and stops them.
import { UsageError } from './command.js';
import { positive } from './flags.js';
import {
  BpfStatsSwitch, OtlpMetrics, parseListenAddress, startMetrics, type ListenAddress, type MetricsServer, type TelemetrySources,
} from '../telemetry/index.js';

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

export interface TelemetryOptions {
  metrics: ListenAddress | undefined;
  bpfStats: boolean;
  /** The collector's base URL. */
  otlp: string | undefined;
  otlpIntervalMs: number;
}

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

/** The running endpoint and exporters of one command. */
export class Telemetry {
  private constructor(
    private readonly stats: BpfStatsSwitch | undefined,
    private readonly server: MetricsServer | undefined,
    private readonly otlp: OtlpMetrics | undefined,
    private readonly report: (line: string) => void,
  ) {}

  /** Starts what the flags ask for; `sources` may be filled in later (read at each collection). */
  static async start(o: TelemetryOptions, sources: TelemetrySources, report: (line: string) => void): Promise<Telemetry> {
    let stats: BpfStatsSwitch | undefined;
    if (o.bpfStats) {
      try {
        stats = BpfStatsSwitch.enable();
      } catch (e) {
        throw new Error(`--bpf-stats: the kernel refused BPF statistics (${(e as Error).message})`, { cause: e });
      }
    }
    const bpfStats = stats !== undefined;
    let server: MetricsServer | undefined;
    try {
      if (o.metrics) {
        server = await startMetrics(sources, o.metrics, { bpfStats });
        report(`metrics at ${server.url}`);
      }
    } catch (e) {
      stats?.close();
      throw e;
    }
    const otlp = o.otlp ? OtlpMetrics.start({ sources, bpfStats }, { endpoint: o.otlp, intervalMs: o.otlpIntervalMs }) : undefined;
    return new Telemetry(stats, server, otlp, report);
  }

  /** Exports the last metrics (within a second), stops serving, turns BPF statistics off. */
  async close(): Promise<void> {
    if (this.otlp) {
      const exported = await this.otlp.close();
      const failed = this.otlp.failures;
      if (failed.count || !exported) report(this.report, failed, exported);
      // A collector that does not answer holds an OTLP request (logs or metrics) open for up
      // to its timeout: once the command has returned, leave rather than wait for it.
      setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
    }
    await this.server?.close();
    this.stats?.close();
  }
}

/** How long an OTLP request may keep the process after the command returned (the last export had its second). */
const EXIT_GRACE_MS = 100;

function report(out: (line: string) => void, f: { count: number; lastError: Error | undefined }, exported: boolean): void {
  const last = f.lastError ? ` (last: ${f.lastError.message})` : '';
  if (f.count) out(`otlp: ${f.count} metric export${f.count === 1 ? '' : 's'} failed${last}`);
  if (!exported) out('otlp: the last metric export was not done within a second of stopping');
}

/** Runs start(); when it fails, closes the telemetry (started before it) and rethrows. */
export async function closingOnError<T>(telemetry: Telemetry, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (e) {
    await telemetry.close();
    throw e;
  }
}
