// What a command or the agent runs for its metrics: BPF run-time statistics
// (when asked for), the Prometheus endpoint and the OTLP metric export, over
// one set of sources. `vigil observe`, `vigil run` (their --metrics,
// --bpf-stats, --otlp flags: src/cli/telemetry.ts) and `vigil agent` (its
// metrics: and otlp: sections) start the same one.
import { BpfStatsSwitch } from './bpf-stats.js';
import { OtlpMetrics } from './otlp.js';
import { startMetrics, type MetricsServer } from './prometheus.js';
import type { ListenAddress } from './address.js';
import type { TelemetrySources } from './sources.js';

export interface TelemetryOptions {
  metrics: ListenAddress | undefined;
  bpfStats: boolean;
  /** The collector's base URL. */
  otlp: string | undefined;
  otlpIntervalMs: number;
  /** How BPF statistics were asked for, for the error when the kernel refuses them. Default --bpf-stats. */
  bpfStatsSetting?: string;
}

/** The running endpoint and exporters of one command (or the agent). */
export class Telemetry {
  private constructor(
    private readonly stats: BpfStatsSwitch | undefined,
    private readonly server: MetricsServer | undefined,
    private readonly otlp: OtlpMetrics | undefined,
    private readonly report: (line: string) => void,
  ) {}

  /** Starts what the options ask for; `sources` may be filled in later (read at each collection). */
  static async start(o: TelemetryOptions, sources: TelemetrySources, report: (line: string) => void): Promise<Telemetry> {
    let stats: BpfStatsSwitch | undefined;
    if (o.bpfStats) {
      try {
        stats = BpfStatsSwitch.enable();
      } catch (e) {
        throw new Error(`${o.bpfStatsSetting ?? '--bpf-stats'}: the kernel refused BPF statistics (${(e as Error).message})`, { cause: e });
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

  /** Where Prometheus scrapes (undefined: not served). */
  get metricsUrl(): string | undefined {
    return this.server?.url;
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
