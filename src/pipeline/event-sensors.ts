// The process, file and network sensors as `vigil agent` runs them (and
// `vigil observe`, whose own wiring is the same): feeding one pipeline, the
// process cache always fed (file events and flows find their process in it),
// rings sized for bursts.
import { ProcessSensor, type ProcessEventKind } from '../sensors/process.js';
import { FileSensor } from '../sensors/file.js';
import type { FilterSet } from '../sensors/filter.js';
import type { SensorEvent } from '../sensors/events.js';
import type { ProcessCache } from '../process/cache.js';
import { FlowPipeline } from '../network/flow-pipeline.js';
import type { PipelineSource } from './pipeline.js';
import type { DnsEvent, FlowEvent } from './events.js';

/** The pipeline as the sensors feed it (an EventPipeline of these events or of more kinds). */
export interface SensorPipeline {
  push(e: SensorEvent | FlowEvent | DnsEvent): void;
  kernelLost(sensor: string, count: number): void;
  schedule(): void;
  addSource(sensor: string, source: PipelineSource): void;
}

export interface EventSensorsOptions {
  pipeline: SensorPipeline;
  cache: ProcessCache;
  filter?: FilterSet;
  /** Process event kinds delivered (the cache is fed either way). */
  kinds: ProcessEventKind[];
  /** Attach the failed-exec tracepoints for a later ProcessSensor.want (the agent's rules). */
  failedExecs?: boolean;
  /** Report forks (also needed when file events are: every process must be in the cache). */
  forks: boolean;
  files: boolean;
  /** Flows and DNS (the flow sensor and its tracker, src/network), as `vigil observe --sensors flow,dns`. */
  network?: { tcp: boolean; udp: boolean; dns: boolean; dnsPorts: readonly number[]; udpWindowMs: number };
}

export interface EventSensors {
  readonly process: ProcessSensor;
  readonly file: FileSensor | undefined;
  readonly flows: FlowPipeline | undefined;
  /** Closes them all (inside a Shutdown's close, their links are detached together). */
  close(): void;
}

/** The sensor of an event, as losses are counted. */
export function sensorEventSensor(e: SensorEvent): 'file' | 'process' {
  return e.kind === 'file' ? 'file' : 'process';
}

/** Starts the sensors and adds them to the pipeline as sources. */
export async function startEventSensors(o: EventSensorsOptions): Promise<EventSensors> {
  const { pipeline } = o;
  // Rings sized for bursts, and woken only once a batch's worth is waiting
  // (the pipeline's 50 ms cycle bounds latency): a wakeup per record would
  // cost a busy traced process about a microsecond each.
  const proc = await ProcessSensor.start({
    cache: o.cache, filter: o.filter, kinds: o.kinds, failedExecs: o.failedExecs, onEvent: (e) => pipeline.push(e), onLost: (n) => pipeline.kernelLost('process', n),
    onBatchEnd: () => pipeline.schedule(), ringBytes: 4 << 20, wakeupBytes: 64 << 10, boundedDrain: true,
    // Drained by the pipeline's cycle: no poll timer of the reader's own.
    pollIntervalMs: 0,
    // File events and flows need every process (forked ones too) in the cache.
    forks: o.forks || o.files || o.network !== undefined,
  });
  pipeline.addSource('process', proc);
  let file: FileSensor | undefined;
  let flows: FlowPipeline | undefined;
  try {
    if (o.files) {
      file = await FileSensor.start({
        filter: o.filter,
        ringBytes: 16 << 20,
        wakeupBytes: 256 << 10,
        onEvent: (e) => pipeline.push(e),
        onBatchEnd: () => pipeline.schedule(),
        onLost: (n) => pipeline.kernelLost('file', n),
        boundedDrain: true,
        pollIntervalMs: 0,
      });
      pipeline.addSource('file', file);
    }
    const n = o.network;
    if (n) {
      const f = await FlowPipeline.start({
        filter: o.filter, cache: o.cache, processSensor: proc, tcp: n.tcp, udp: n.udp, dns: n.dns, dnsPorts: [...n.dnsPorts],
        udpWindowMs: n.udpWindowMs,
        onFlow: (record, timeBootNs) => pipeline.push({ kind: record.l7?.dns ? 'dns' : 'flow', timeBootNs, record }),
        onBatchEnd: () => pipeline.schedule(),
        onLost: (count, sensor) => pipeline.kernelLost(sensor, count),
      });
      flows = f;
      // Added after the process ring: the tracker reads it before describing a flow.
      pipeline.addSource('flow', { drain: () => (f.drain(), 0), pause: () => f.pause(), resume: () => f.resume() });
    }
  } catch (e) {
    file?.close();
    proc.close();
    throw e;
  }
  return {
    process: proc,
    file,
    flows,
    close: () => {
      // Flows first: their tracker reads the process ring before describing the last ones.
      flows?.close();
      proc.close();
      file?.close();
    },
  };
}
