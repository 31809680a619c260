// The L7 sensor's HTTP spans to an OpenTelemetry collector: OTLP/HTTP with
// protobuf bodies (the SDK's proto trace exporter, as the logs and metrics),
// URL/v1/traces. Spans wait in a bounded queue (MAX_QUEUED); beyond it new
// spans are dropped and counted. A batch the collector did not take for a
// reason that may pass (no connection, 429, 502, 503, 504) is sent again
// after a backoff; one refused for good counts as failed.
import os from 'node:os';
import { SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { SpanLinker, spanAttributes, type L7Span } from '../l7/traces.js';
import type { L7Record } from '../l7/types.js';
import { BATCH_RECORDS, RETRY_MAX_MS, RETRY_MIN_MS, hrTime, retryable, signalUrl, type OtlpOptions } from './otlp.js';

/** Spans queued for the collector at most. */
export const MAX_QUEUED = 16_384;
/** How often held client spans are released and the queue sent, ms. */
const TICK_MS = 500;
/** Processes whose resource is kept (a resource per process). */
const MAX_RESOURCES = 4096;

export interface OtlpTracesOptions extends OtlpOptions {
  /** Boot time to wall time (ns). */
  toEpochNs(bootNs: bigint): bigint;
  nowBootNs(): bigint;
  /** Resource attributes of a record's process beyond the pid and comm (container id and name, pod). */
  processAttributes?(r: L7Record): Record<string, string> | undefined;
}

export interface TraceStats {
  /** Spans made (HTTP records seen). */
  spans: number;
  /** Spans the collector took. */
  sent: number;
  /** Spans dropped: queue full, refused for good, or still queued at close. */
  dropped: number;
  /** Client spans made children of a server span of their thread. */
  linked: number;
  failedRequests: number;
}

const SCOPE = { name: 'vigil' };

/** HTTP records in, spans out to the collector. */
export class OtlpTraces {
  readonly description: string;
  private readonly exporter: OTLPTraceExporter;
  private readonly linker: SpanLinker;
  private readonly queue: ReadableSpan[] = [];
  private readonly resources = new Map<string, Resource>();
  private readonly counts = { sent: 0, dropped: 0, failedRequests: 0 };
  private sending = false;
  private retryMs = 0;
  private nextSendMs = 0;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly o: OtlpTracesOptions) {
    const url = signalUrl(o.endpoint, 'traces');
    this.description = `otlp ${url}`;
    this.exporter = new OTLPTraceExporter({ url, headers: o.headers, timeoutMillis: o.timeoutMs ?? 10_000 });
    this.linker = new SpanLinker((s) => this.enqueue(s));
    this.timer = setInterval(() => {
      this.linker.flush(o.nowBootNs());
      this.pump();
    }, TICK_MS);
    this.timer.unref();
  }

  /** A completed L7 record (HTTP ones become spans). */
  observe(r: L7Record): void {
    if (!this.closed) this.linker.record(r);
  }

  stats(): TraceStats {
    return { spans: this.linker.stats.spans, linked: this.linker.stats.linked, ...this.counts };
  }

  /** Releases the held spans and sends what is queued (within timeoutMs); what is left is counted as dropped. */
  async close(timeoutMs = 1000): Promise<TraceStats> {
    if (this.closed) return this.stats();
    this.linker.flush();
    this.closed = true;
    clearInterval(this.timer);
    const end = Date.now() + timeoutMs;
    this.retryMs = 0;
    this.nextSendMs = 0;
    while ((this.queue.length || this.sending) && Date.now() < end) {
      this.pump(true);
      await new Promise((r) => setTimeout(r, 20));
    }
    this.counts.dropped += this.queue.splice(0).length;
    void this.exporter.shutdown();
    return this.stats();
  }

  private enqueue(s: L7Span): void {
    if (this.queue.length >= MAX_QUEUED) {
      this.counts.dropped++;
      return;
    }
    this.queue.push(this.readable(s));
    if (this.queue.length >= BATCH_RECORDS) this.pump();
  }

  private pump(closing = false): void {
    if (this.sending || !this.queue.length || Date.now() < this.nextSendMs) return;
    if (this.closed && !closing) return;
    const batch = this.queue.splice(0, BATCH_RECORDS);
    this.sending = true;
    this.exporter.export(batch, (res) => {
      this.sending = false;
      if (res.code === ExportResultCode.SUCCESS) {
        this.retryMs = 0;
        this.counts.sent += batch.length;
      } else {
        this.counts.failedRequests++;
        if (retryable(res.error) && !this.closed) {
          // Back to the head; the newest beyond the bound are dropped.
          this.queue.unshift(...batch);
          if (this.queue.length > MAX_QUEUED) this.counts.dropped += this.queue.splice(MAX_QUEUED).length;
          this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs ? this.retryMs * 2 : RETRY_MIN_MS);
          this.nextSendMs = Date.now() + this.retryMs;
          return;
        }
        this.counts.dropped += batch.length;
      }
      if (this.queue.length >= BATCH_RECORDS) this.pump();
    });
  }

  private resourceOf(r: L7Record): Resource {
    const key = `${r.pid}\0${r.comm}`;
    let res = this.resources.get(key);
    if (!res) {
      if (this.resources.size >= MAX_RESOURCES) this.resources.delete(this.resources.keys().next().value!);
      res = resourceFromAttributes({
        'service.name': r.comm, 'process.pid': r.pid, 'process.executable.name': r.comm, 'host.name': os.hostname(),
        'vigil.cgroup.id': String(r.cgroupId), ...this.o.processAttributes?.(r),
      });
      this.resources.set(key, res);
    }
    return res;
  }

  private readable(s: L7Span): ReadableSpan {
    const r = s.record;
    const { name, attributes } = spanAttributes(s);
    const sampled = r.http?.traceparent ? r.http.traceparent.sampled : true;
    const ctx = { traceId: s.traceId, spanId: s.spanId, traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE };
    const durNs = r.endBootNs - r.startBootNs;
    return {
      name, kind: s.kind === 'server' ? SpanKind.SERVER : SpanKind.CLIENT,
      spanContext: () => ctx,
      parentSpanContext: s.parentSpanId ? { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: ctx.traceFlags, isRemote: true } : undefined,
      startTime: hrTime(this.o.toEpochNs(r.startBootNs)), endTime: hrTime(this.o.toEpochNs(r.endBootNs)), duration: hrTime(durNs),
      status: r.error ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.UNSET },
      attributes, links: [], events: [], ended: true, resource: this.resourceOf(r), instrumentationScope: SCOPE,
      droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 0,
    };
  }
}

/** The line a command or the agent reports at the end when spans were lost or requests failed; nothing otherwise. */
export function reportTraces(s: TraceStats, description: string, report: (line: string) => void): void {
  if (s.dropped || s.failedRequests) {
    report(`${description}: ${s.sent} of ${s.spans} spans sent, ${s.dropped} dropped, ${s.failedRequests} requests failed`);
  }
}
