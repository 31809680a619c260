// The steps after decoding for the kernel-free benches (event-path, exec-path,
// l7-path): decoded events held in a FIFO as the pipeline's merge window holds
// them, then formatted as a line, gathered into a batch of BATCH_CHARS, the
// batch encoded into its pieces and written with writev, each step taken only
// from its stage on (a bench measures each stage added to the ones before).
import { writevSync } from 'node:fs';
import { piecesOf, type Line } from '../src/pipeline/output.js';

/** How much text a sink gathers before it hands a batch to its output (src/pipeline/sink.ts). */
export const BATCH_CHARS = 256 * 1024;

/** The stage numbers the steps start at: format, then encode, then writev (and the descriptor written to). */
export interface StageSteps {
  format: number;
  encode: number;
  writev?: { stage: number; fd: number };
}

export class HeldLines<E> {
  private readonly fifo: (E | undefined)[];
  private at = 0;
  private lines: Line[] = [];
  private chars = 0;

  constructor(
    private readonly hold: number,
    private readonly stage: number,
    private readonly steps: StageSteps,
    private readonly sensor: string,
    private readonly format: (e: E) => Line,
  ) {
    this.fifo = new Array<E | undefined>(hold).fill(undefined);
  }

  /** One decoded event: held, and the one it displaces taken through the stages. */
  push(event: E): void {
    let e: E | undefined = event;
    if (this.hold) {
      const held = this.fifo[this.at];
      this.fifo[this.at] = e;
      this.at = (this.at + 1) % this.hold;
      e = held;
    }
    if (e === undefined || this.stage < this.steps.format) return;
    const line = this.format(e);
    this.lines.push(line);
    this.chars += line.length + 1;
    if (this.chars < BATCH_CHARS) return;
    if (this.stage >= this.steps.encode) {
      const pieces = piecesOf({ lines: this.lines, sensors: this.lines.map(() => this.sensor) });
      const w = this.steps.writev;
      // writevSync takes at most IOV_MAX (1,024) pieces at a time.
      if (w && this.stage >= w.stage) for (let k = 0; k < pieces.length; k += 1024) writevSync(w.fd, pieces.slice(k, k + 1024));
    }
    this.lines = [];
    this.chars = 0;
  }
}
