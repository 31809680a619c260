// The process and file sensors as `vigil observe` and `vigil agent` run
// them: feeding one pipeline, the process cache always fed (file events find
// their process in it), rings sized for bursts.
import { ProcessSensor, type ProcessEventKind } from '../sensors/process.js';
import { FileSensor } from '../sensors/file.js';
import type { FilterSet } from '../sensors/filter.js';
import type { SensorEvent } from '../sensors/events.js';
import type { ProcessCache } from '../process/cache.js';
import type { PipelineSource } from './pipeline.js';

/** The pipeline as the sensors feed it (an EventPipeline of these events or of more kinds). */
export interface SensorPipeline {
  push(e: SensorEvent): void;
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
  /** Report forks (also needed when file events are: every process must be in the cache). */
  forks: boolean;
  files: boolean;
}

export interface EventSensors {
  readonly process: ProcessSensor;
  readonly file: FileSensor | undefined;
  /** Closes both (inside a Shutdown's close, their links are detached together). */
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
    cache: o.cache, filter: o.filter, kinds: o.kinds, onEvent: (e) => pipeline.push(e), onLost: (n) => pipeline.kernelLost('process', n),
    onBatchEnd: () => pipeline.schedule(), ringBytes: 4 << 20, wakeupBytes: 64 << 10, boundedDrain: true,
    forks: o.forks || o.files,
  });
  pipeline.addSource('process', proc);
  let file: FileSensor | undefined;
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
      });
      pipeline.addSource('file', file);
    }
  } catch (e) {
    proc.close();
    throw e;
  }
  return {
    process: proc,
    file,
    close: () => {
      proc.close();
      file?.close();
    },
  };
}
