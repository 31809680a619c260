// How a long-running command stops: on the first SIGINT or SIGTERM (or its
// duration, or its count) it stops reading and detaches everything at once
// (detachTogether: all links in parallel, off the main thread), saying
// "stopping..." on stderr if that takes more than 300 ms; a second signal
// exits at once, still detaching what is left (in parallel, so the kernel
// is not left to close the links one by one as the process exits).
//
//   using shutdown = new Shutdown('observe');
//   ... start sensors ...
//   const why = await shutdown.stopped;              // a signal, or shutdown.stop('duration')
//   await shutdown.close(() => { proc.close(); files?.close(); });
import { detachEverything, detachTogether } from '../bpf/index.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
type StopSignal = (typeof SIGNALS)[number];
/** 128 + the signal's number: the status a shell shows for a process a signal ended. */
const SIGNAL_STATUS: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

export interface ShutdownOptions {
  /** Say "stopping..." when stopping takes longer than this (ms; default 300). */
  stoppingAfterMs?: number;
  /** Where messages go (default process.stderr). */
  stderr?: NodeJS.WritableStream;
  /** How the process ends on a second signal (default process.exit). */
  exit?: (code: number) => void;
}

export class Shutdown implements Disposable {
  /** Resolves with the reason (a signal name, or what stop() was given) when the command should stop. */
  readonly stopped: Promise<string>;
  private resolve!: (why: string) => void;
  private reason: string | undefined;
  private stoppingTimer: NodeJS.Timeout | undefined;
  private exiting = false;
  private readonly stoppingAfterMs: number;
  private readonly stderr: NodeJS.WritableStream;
  private readonly exit: (code: number) => void;
  private readonly handlers = new Map<StopSignal, () => void>();

  constructor(readonly command: string, o: ShutdownOptions = {}) {
    this.stoppingAfterMs = o.stoppingAfterMs ?? 300;
    this.stderr = o.stderr ?? process.stderr;
    this.exit = o.exit ?? ((code) => process.exit(code));
    this.stopped = new Promise((resolve) => {
      this.resolve = resolve;
    });
    for (const sig of SIGNALS) {
      const h = (): void => this.onSignal(sig);
      this.handlers.set(sig, h);
      process.on(sig, h);
    }
  }

  get stopping(): boolean {
    return this.reason !== undefined;
  }

  /** Asks the command to stop (a duration passed, a count was reached, the output closed). */
  stop(why: string): void {
    if (this.reason !== undefined) return;
    this.reason = why;
    this.stoppingTimer = setTimeout(() => {
      this.stderr.write(`vigil ${this.command}: stopping...\n`);
    }, this.stoppingAfterMs);
    this.stoppingTimer.unref();
    this.resolve(why);
  }

  /** Runs `close` with every link it closes detached together (see detachTogether), then stops listening. */
  async close(close: () => unknown): Promise<void> {
    try {
      await detachTogether(close);
    } finally {
      this[Symbol.dispose]();
    }
  }

  private onSignal(sig: StopSignal): void {
    if (this.reason === undefined) {
      this.stop(sig);
      return;
    }
    if (this.exiting) return;
    this.exiting = true;
    this.stderr.write(`vigil ${this.command}: ${sig} again: exiting now\n`);
    const code = SIGNAL_STATUS[sig];
    detachEverything().then(() => this.exit(code), () => this.exit(code));
  }

  /** Stops listening for signals (a signal then has its default effect again). */
  [Symbol.dispose](): void {
    if (this.stoppingTimer) clearTimeout(this.stoppingTimer);
    this.stoppingTimer = undefined;
    for (const [sig, h] of this.handlers) process.off(sig, h);
    this.handlers.clear();
  }
}
