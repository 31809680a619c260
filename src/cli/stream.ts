// The shell of a command that streams events to stdout (`vigil observe`):
// one EventPipeline (rings merged in kernel time order, a bounded queue for
// stdout with loss accounting), Shutdown (signals, --duration, --count, a
// closed stdout), and the stop: every link detached at once, the rings read
// to their end, what is held released in order within a grace period, the
// losses reported; with --metrics or --otlp, the telemetry of the stream
// (docs/metrics.md). The command only says which sensors feed the pipeline.
import {
  EventPipeline, Sink, describeLosses, eventSensor, eventTime, formatByteSize, stdoutOutput, vigilEventOptions, type VigilEvent,
} from '../pipeline/index.js';
import { encodeEvent, formatEvent, type EventEncoder, type EventFormatter } from '../output/event-format.js';
import { otlpRecord } from '../output/otlp-records.js';
import { otlpLogSink, type ProcessCacheTelemetry } from '../telemetry/index.js';
import type { BootClock } from '../util/clock.js';
import { Shutdown } from './shutdown.js';
import { closingOnError, Telemetry, type TelemetryOptions } from './telemetry.js';

/**
 * How long a stop waits for stdout while it takes nothing before giving it up (what it did not take
 * is counted lost); the wait goes on while it takes some (EventPipeline.close).
 */
const OUTPUT_GRACE_MS = 250;

/** What the sensors started for a stream: how to close them, and what to say once they run. */
export interface StartedSensors {
  /** Closes every sensor (inside Shutdown.close: their links are detached together); their last records go to the pipeline. */
  close(): void;
  /** Lines for stderr once attached ("note: ..."). */
  notes?: readonly string[];
}

export interface StreamOptions {
  /** The command's name in messages ("observe"). */
  command: string;
  clock: BootClock;
  /** stdout's lines (an EventFormatter, or an encoder whose JSON shares process texts as bytes). */
  format: EventEncoder;
  /** A first line (the table's header). */
  header?: string;
  /** stdout's queue bound in bytes. */
  outputBuffer: number;
  /** Stop after this many seconds. */
  duration?: number;
  /** Stop at this wall-clock time (ms since the epoch); events after it are not written. */
  untilMs?: number;
  /** Stop after this many events. */
  count?: number;
  /** What is watched, for the "watching ..." line. */
  watching: string;
  /** Keeps only the events it returns true for (lost records always pass), before --count counts. */
  filter?: (e: VigilEvent) => boolean;
  /** Starts the sensors, feeding `pipeline` (pipeline.hooks(name), pipeline.addSource). */
  start(pipeline: EventPipeline<VigilEvent>): Promise<StartedSensors>;
  /** --metrics, --bpf-stats, --otlp (docs/metrics.md). */
  telemetry?: StreamTelemetry;
  /** Once the sensors are closed and the pipeline is drained, before the telemetry stops (the spans' last export). */
  flush?: (report: (line: string) => void) => Promise<void>;
}

export interface StreamTelemetry {
  options: TelemetryOptions;
  processCache?: ProcessCacheTelemetry;
  /** An OTLP log record's body: the event as JSON. */
  json: EventFormatter;
}

/** Streams events to stdout until a signal, the duration, the count or a closed stdout; the exit status. */
export async function streamEvents(o: StreamOptions): Promise<number> {
  using shutdown = new Shutdown(o.command);
  const stop = (why: string): void => shutdown.stop(why);
  const report = (line: string): void => void process.stderr.write(`vigil ${o.command}: ${line}\n`);
  const untilNs = o.untilMs === undefined ? undefined : BigInt(o.untilMs) * 1_000_000n;
  let seen = 0;
  const pipeline = new EventPipeline<VigilEvent>({
    ...vigilEventOptions(o.clock),
    accept: (e) => {
      if (o.filter && e.kind !== 'lost' && !o.filter(e)) return false;
      if (o.count === undefined) return true;
      if (seen >= o.count) return false;
      if (++seen >= o.count) stop('count');
      return true;
    },
    report,
    // The reader of stdout went away (`| head -1`): nothing more to do.
    onOutputsClosed: () => stop('stdout closed'),
  });
  const stdout = new Sink<VigilEvent>(stdoutOutput, {
    capacityBytes: o.outputBuffer,
    sensorOf: eventSensor,
    format: {
      line: (e) => (untilNs !== undefined && e.kind !== 'lost' && o.clock.toEpochNs(eventTime(e)) > untilNs
        ? undefined : encodeEvent(o.format, e)),
      lost: (loss) => encodeEvent(o.format, { kind: 'lost', loss, timeBootNs: o.clock.nowBootNs() }),
    },
  });
  pipeline.addSink(stdout);
  const t = o.telemetry;
  const nowNs = (): bigint => o.clock.toEpochNs(o.clock.nowBootNs());
  const otlp = t?.options.otlp === undefined ? undefined : otlpLogSink<VigilEvent>({
    endpoint: t.options.otlp, capacityBytes: o.outputBuffer, sensorOf: eventSensor, nowNs,
    record: (e) => otlpRecord(e, o.clock.toEpochNs(eventTime(e)), formatEvent(t.json, e)),
  });
  if (otlp) pipeline.addSink(otlp);
  if (o.header !== undefined) stdout.output.write({ lines: [o.header], sensors: [undefined] });

  // Listening first: a busy --metrics address fails before anything is loaded.
  const telemetry = t ? await Telemetry.start(t.options, { pipeline, processCache: t.processCache }, report) : undefined;
  const sensors = telemetry ? await closingOnError(telemetry, () => o.start(pipeline)) : await o.start(pipeline);
  pipeline.start();
  const endMs = Math.min(o.duration !== undefined ? Date.now() + o.duration * 1000 : Infinity, o.untilMs ?? Infinity);
  // A timer holds at most 2^31-1 ms (~24 days; a longer delay fires at once): re-armed until the end.
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const left = endMs - Date.now();
    timer = left <= 0 ? (stop('duration'), undefined) : setTimeout(arm, Math.min(left, 0x7fffffff));
  };
  if (Number.isFinite(endMs)) arm();
  for (const n of sensors.notes ?? []) report(`note: ${n}`);
  // On stderr, so stdout stays pure events; also tells scripts the sensors are attached.
  report(`watching ${o.watching}; Ctrl-C to stop`);

  const why = await shutdown.stopped;
  if (timer) clearTimeout(timer);
  // Detach every link at once, then read what the rings still hold; the
  // pipeline releases it all in time order.
  await shutdown.close(() => sensors.close());
  const delivered = await pipeline.close(why === 'stdout closed' ? 0 : OUTPUT_GRACE_MS);
  await o.flush?.(report);
  await telemetry?.close();
  // What stdout did not take before it was given up on (pipeline.close closed it): lost events,
  // unless its reader went away (`| head -1`), which is the reader's choice, not a loss.
  const unwritten = why === 'stdout closed' ? 0
    : stdout.lost.entries().filter((l) => l.reason === 'output_closed').reduce((a, l) => a + l.count, 0);
  if (unwritten > 0) report(`stdout: ${unwritten} events not written (nothing taken for ${OUTPUT_GRACE_MS} ms while stopping)`);
  if (!delivered && stdout.queuedBytes > 0) {
    report(`stdout: ${formatByteSize(stdout.queuedBytes)} still being written (not taken within ${OUTPUT_GRACE_MS} ms of stopping)`);
    // The write the reader never takes would keep the process alive: once
    // this command has returned, leave (the timer fires only if it is stuck).
    setTimeout(() => process.exit(), 100).unref();
  }
  // What the collector had not taken when the command stopped (the rest was reported as it happened).
  const unsent = otlp?.lost.entries().filter((l) => l.reason === 'output_closed') ?? [];
  if (unsent.length) report(`${otlp!.name}: not delivered: ${describeLosses(unsent)}`);
  const lostTotal = stdout.lost.entries().filter((l) => l.reason !== 'output_closed').reduce((a, l) => a + l.count, 0)
    + unwritten;
  if (lostTotal > 0) report(`lost ${lostTotal} events`);
  return 0;
}
