// A pipeline source whose reader is swapped while the agent runs (the policy
// engine starts at the first policy; the rules' sensors are rebuilt when the
// rules change). A pipeline keeps its sources for its life; this one stays
// and forwards to whichever reader is current, paused if the pipeline is.
import type { PipelineSource } from '../pipeline/index.js';

export class SwappableSource implements PipelineSource {
  private target: PipelineSource | undefined;
  private paused = false;

  get backlog(): boolean {
    return this.target?.backlog ?? false;
  }

  /** The reader from now on (undefined: none). */
  set(target: PipelineSource | undefined): void {
    this.target = target;
    if (this.paused) target?.pause();
  }

  drain(): number {
    return this.target?.drain() ?? 0;
  }

  pause(): void {
    this.paused = true;
    this.target?.pause();
  }

  resume(): void {
    this.paused = false;
    this.target?.resume();
  }
}
