// OpenTelemetry export over OTLP/HTTP with protobuf bodies, through the
// OpenTelemetry JS SDK: events and alerts as log records (sdk-logs and the
// OTLP proto log exporter), metrics as OTLP metrics (sdk-metrics, a periodic
// reader and the OTLP proto metric exporter) from the same catalog as the
// Prometheus endpoint.
//
// Log records go through a pipeline sink (src/pipeline/sink.ts) like every
// other output: its bounded queue is the retry buffer. A batch the collector
// did not take for a reason that may pass (no connection, 429, 502, 503, 504)
// stays at the head of the queue and is sent again after a backoff; while it
// waits the queue fills and the sink drops new events, counted as queue_full.
// A batch refused for good (400, 413, ...) is counted as write_failed.
import os from 'node:os';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { LoggerProvider, type ReadableLogRecord, type SdkLogRecord } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Logger } from '@opentelemetry/api-logs';
import { Sink, countsOf, lossesOf, settleWithin, type Batch, type LineOutput, type LineTag, type OutputHooks } from '../pipeline/index.js';
import { METRICS, type TelemetryView } from './catalog.js';

export type Severity = 'debug' | 'info' | 'notice' | 'warn' | 'error' | 'critical' | 'alert' | 'emergency';

const SEVERITY: Readonly<Record<Severity, SeverityNumber>> = {
  debug: SeverityNumber.DEBUG, info: SeverityNumber.INFO, notice: SeverityNumber.INFO2, warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR, critical: SeverityNumber.FATAL, alert: SeverityNumber.FATAL2, emergency: SeverityNumber.FATAL3,
};

/** One log record: what a command makes of an event. */
export interface OtlpRecord {
  /** ns since the epoch. */
  readonly timeNs: bigint;
  /** vigil.event.kind: exec, exit, file, alert, policy, lost, ... */
  readonly kind: string;
  readonly severity: Severity;
  /** Further attributes (vigil.rule, vigil.priority, ...). */
  readonly attributes?: Readonly<Record<string, string | number>>;
  /** The body as JSON text: the event in the output's JSON shape (Tetragon's, Falco's). */
  readonly bodyJson: string;
}

/** A record as one queued line (the sink bounds queues in bytes of lines). */
export function otlpLine(r: OtlpRecord): string {
  return `{"t":"${r.timeNs}","k":${JSON.stringify(r.kind)},"s":"${r.severity}","a":${JSON.stringify(r.attributes ?? {})},"b":${r.bodyJson}}`;
}

interface QueuedLine {
  readonly t: string;
  readonly k: string;
  readonly s: Severity;
  readonly a: Record<string, string | number>;
  readonly b: unknown;
}

export interface OtlpOptions {
  /** The collector's base URL (http://HOST:4318): logs go to /v1/logs, metrics to /v1/metrics. */
  endpoint: string;
  headers?: Record<string, string>;
  /** One request's timeout (the exporter retries 429/502/503/504 within it). Default 10 s. */
  timeoutMs?: number;
}

/** Records per request. */
export const BATCH_RECORDS = 512;
export const RETRY_MIN_MS = 500;
export const RETRY_MAX_MS = 30_000;

export function signalUrl(endpoint: string, signal: 'logs' | 'metrics' | 'traces'): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/${signal}`;
}

export function vigilResource(): Resource {
  return resourceFromAttributes({ 'service.name': 'vigil', 'host.name': os.hostname() });
}

export function hrTime(ns: bigint): [number, number] {
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

/** A failure that may pass: no answer at all, or the status codes OTLP/HTTP says to retry. */
export function retryable(err: Error | undefined): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code !== 'number' || code === 429 || code === 502 || code === 503 || code === 504;
}

interface Pending {
  readonly record: ReadableLogRecord;
  readonly tag: LineTag;
  readonly bytes: number;
}

/** Log records to an OTLP collector, a request at a time, failed batches retried from the head of the queue. */
export class OtlpLogOutput implements LineOutput {
  readonly description: string;
  /** Records the collector took; requests that failed (retried or not). */
  readonly stats = { sent: 0, failedRequests: 0 };
  private readonly provider: LoggerProvider;
  private readonly logger: Logger;
  private readonly exporter: OTLPLogExporter;
  private readonly queue: Pending[] = [];
  private captured: SdkLogRecord | undefined;
  private pending = 0;
  /** The batch of the request in flight. */
  private sending: Pending[] | undefined;
  private stopped = false;
  private retryMs = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];

  constructor(o: OtlpOptions, private readonly hooks: OutputHooks) {
    const url = signalUrl(o.endpoint, 'logs');
    this.description = `otlp ${url}`;
    this.exporter = new OTLPLogExporter({ url, headers: o.headers, timeoutMillis: o.timeoutMs ?? 10_000 });
    // The processor only hands each record back: the queue and its retries are this output's.
    this.provider = new LoggerProvider({
      resource: vigilResource(),
      processors: [{
        onEmit: (r) => void (this.captured = r),
        forceFlush: async () => undefined,
        shutdown: async () => undefined,
      }],
    });
    this.logger = this.provider.getLogger('vigil');
  }

  /** Bytes of the records not yet taken by the collector (queued, in flight, waiting for a retry). */
  get pendingBytes(): number {
    return this.pending;
  }

  write(batch: Batch): void {
    batch.lines.forEach((line, i) => {
      const q = JSON.parse(typeof line === 'string' ? line : line.toString()) as QueuedLine;
      const ns = BigInt(q.t);
      this.logger.emit({
        timestamp: hrTime(ns), severityNumber: SEVERITY[q.s], severityText: q.s.toUpperCase(),
        attributes: { 'vigil.event.kind': q.k, ...q.a }, body: q.b as never,
      });
      const record = this.captured;
      this.captured = undefined;
      if (!record) {
        // Not handed to the processor (the SDK refused it): counted, never dropped silently.
        const tag = batch.sensors[i];
        this.hooks.onWriteFailed(Object.assign(new Error('log record refused by the SDK'), { code: 'EINVAL' }), countsOf([tag]), lossesOf([tag]));
        return;
      }
      this.queue.push({ record, tag: batch.sensors[i], bytes: line.length + 1 });
      this.pending += line.length + 1;
    });
    this.pump();
  }

  private pump(): void {
    if (this.sending || this.retryTimer || this.stopped) return;
    if (this.queue.length === 0) {
      for (const w of this.waiters.splice(0)) w();
      this.hooks.onDrained();
      return;
    }
    const batch = this.queue.splice(0, BATCH_RECORDS);
    this.sending = batch;
    this.exporter.export(batch.map((p) => p.record), (res: ExportResult) => {
      // Closed meanwhile: the batch was counted then, as not delivered.
      if (this.sending !== batch) return;
      this.sending = undefined;
      if (res.code === ExportResultCode.SUCCESS) {
        this.retryMs = 0;
        this.stats.sent += batch.length;
        this.settled(batch);
      } else {
        this.stats.failedRequests++;
        if (retryable(res.error) && !this.stopped) {
          // Back to the head of the queue; it keeps counting against the sink's bound.
          this.queue.unshift(...batch);
          this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs ? this.retryMs * 2 : RETRY_MIN_MS);
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.pump();
          }, this.retryMs);
          this.retryTimer.unref();
          return;
        }
        this.settled(batch);
        const tags = batch.map((p) => p.tag);
        const err = Object.assign(res.error ?? new Error('export failed'), {
          code: `HTTP_${(res.error as { code?: unknown } | undefined)?.code ?? 'error'}`,
        }) as NodeJS.ErrnoException;
        this.hooks.onWriteFailed(err, countsOf(tags), lossesOf(tags));
      }
      this.pump();
    });
  }

  private settled(batch: readonly Pending[]): void {
    for (const p of batch) this.pending -= p.bytes;
  }

  settle(timeoutMs: number): Promise<boolean> {
    if (!this.sending && this.queue.length === 0) return Promise.resolve(true);
    return settleWithin(this.waiters, timeoutMs);
  }

  /**
   * Sends nothing more: what is queued, and the request in flight (which the
   * collector may yet take; unconfirmed, it is not counted as delivered), are
   * counted as lost (output closed).
   */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const left = [...(this.sending ?? []), ...this.queue.splice(0)];
    this.sending = undefined;
    this.settled(left);
    const lost = countsOf(left.map((p) => p.tag));
    if (lost.size) this.hooks.onClosed(Object.assign(new Error('output closed'), { code: 'ECANCELED' }), lost);
    void this.provider.shutdown();
  }

  /** close() was called: nothing more is sent. */
  get closed(): boolean {
    return this.stopped;
  }
}

export interface OtlpSinkOptions<E> extends OtlpOptions {
  /** Queue bound in bytes (--output-buffer). */
  capacityBytes: number;
  sensorOf(e: E): string;
  /** The event as a log record; undefined: not exported. */
  record(e: E): OtlpRecord | undefined;
  /** Now, ns since the epoch (the time of a lost record). */
  nowNs(): bigint;
}

/** The OTLP log output behind a pipeline sink (bounded queue, losses counted and sent as a `lost` record). */
export function otlpLogSink<E>(o: OtlpSinkOptions<E>): Sink<E> {
  return new Sink<E>((hooks) => new OtlpLogOutput(o, hooks), {
    capacityBytes: o.capacityBytes,
    sensorOf: o.sensorOf,
    format: {
      line: (e) => {
        const r = o.record(e);
        return r && otlpLine(r);
      },
      lost: (l) => otlpLine({
        timeNs: o.nowNs(), kind: 'lost', severity: 'warn',
        attributes: { 'vigil.lost.sensor': l.sensor, 'vigil.lost.reason': l.reason, 'vigil.lost.count': l.count },
        bodyJson: JSON.stringify({ lost: { count: l.count, sensor: l.sensor, reason: l.reason } }),
      }),
    },
  });
}

/** The metric exporter, counting the exports that failed (the next export carries the cumulative values again). */
class CountingExporter implements PushMetricExporter {
  failed = 0;
  lastError: Error | undefined;

  constructor(private readonly inner: OTLPMetricExporter) {}

  export(metrics: ResourceMetrics, done: (r: ExportResult) => void): void {
    this.inner.export(metrics, (r) => {
      if (r.code !== ExportResultCode.SUCCESS) {
        this.failed++;
        this.lastError = r.error;
      }
      done(r);
    });
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

export interface OtlpMetricsOptions extends OtlpOptions {
  /** Export interval. Default 10 s. */
  intervalMs?: number;
}

/** The catalog's metrics, exported to the collector every interval (cumulative sums, gauges). */
export class OtlpMetrics {
  private readonly provider: MeterProvider;
  private readonly exporter: CountingExporter;

  private constructor(view: TelemetryView, o: OtlpMetricsOptions) {
    this.exporter = new CountingExporter(new OTLPMetricExporter({
      url: signalUrl(o.endpoint, 'metrics'), headers: o.headers, timeoutMillis: o.timeoutMs ?? 10_000,
    }));
    const intervalMs = o.intervalMs ?? 10_000;
    this.provider = new MeterProvider({
      resource: vigilResource(),
      readers: [new PeriodicExportingMetricReader({
        exporter: this.exporter, exportIntervalMillis: intervalMs, exportTimeoutMillis: Math.min(intervalMs, o.timeoutMs ?? 10_000),
      })],
    });
    const meter = this.provider.getMeter('vigil');
    for (const def of METRICS) {
      const opts = { description: def.help, unit: def.unit };
      const name = def.name.replace(/_total$/, '');
      const instrument = def.type === 'counter' ? meter.createObservableCounter(name, opts) : meter.createObservableGauge(name, opts);
      instrument.addCallback((result) => {
        for (const s of def.collect(view)) result.observe(s.value, s.labels);
      });
    }
  }

  static start(view: TelemetryView, o: OtlpMetricsOptions): OtlpMetrics {
    return new OtlpMetrics(view, o);
  }

  /** Exports that failed so far, and the last error. */
  get failures(): { count: number; lastError: Error | undefined } {
    return { count: this.exporter.failed, lastError: this.exporter.lastError };
  }

  /** Exports once more (the final values), then stops; resolves false when that export is not done within timeoutMs. */
  async close(timeoutMs = 1000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const done = await Promise.race([this.provider.shutdown().then(() => true, () => true), late]);
    clearTimeout(timer);
    return done;
  }
}
