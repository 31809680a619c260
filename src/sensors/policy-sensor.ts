// The policy engine (src/policy/engine.ts) as a Sensor: the pipeline and the
// commands drive it like any other sensor (drain, pause, resume, close, lost,
// stats). The engine keeps its own lifecycle inside (policies added and
// removed while it runs, each with its links and objects); this adapter only
// gives it the common face, so nothing here reaches into the engine.
//
//   const engine = await PolicyEngine.start({ onEvent: (e) => pipeline.push(...), ... });
//   const sensor = new PolicySensor(engine);
//   pipeline.addSource(sensor.name, sensor);
import type { PolicyEngine } from '../policy/engine.js';
import { Sensor, type SensorStats } from './sensor.js';

export class PolicySensor extends Sensor {
  constructor(readonly engine: PolicyEngine) {
    super('policy', undefined);
  }

  override drain(): number {
    return this.engine.drain();
  }

  override get backlog(): boolean {
    return false;
  }

  override pause(): void {
    this.engine.pause();
  }

  override resume(): void {
    this.engine.resume();
  }

  override get lost(): number {
    return this.engine.lost;
  }

  /** The engine's per-policy counters are its own (engine.counters()); here, its ring's. */
  override stats(): SensorStats {
    const s = this.engine.stats;
    return {
      sensor: this.name, records: s.records, batches: 0, lost: this.engine.lost, oversize: 0,
      malformed: s.malformed, filter: undefined,
    };
  }

  override filterCounts(): { passed: bigint; dropped: bigint } {
    return { passed: 0n, dropped: 0n };
  }

  protected override onClosed(): void {
    this.engine.close();
  }
}
