// Line output written once per batch: events are queued as lines and go to
// the stream in one write() when the sensor finishes a ring-buffer batch, so
// a burst of a thousand events is one syscall, not a thousand.
import type { Writable } from 'node:stream';

/** Queued text that is written without waiting for the batch's end. */
const FLUSH_CHARS = 256 * 1024;

export class BatchWriter {
  private lines: string[] = [];
  private queuedChars = 0;
  /** Set once the stream failed (EPIPE: the reader went away). */
  error: Error | undefined;
  /** Bytes handed to the stream but not yet flushed by it (for back-pressure reports). */
  get pending(): number {
    return this.stream.writableLength;
  }

  constructor(private readonly stream: Writable, onError?: (e: Error) => void) {
    stream.on('error', (e: Error) => {
      this.error ??= e;
      onError?.(e);
    });
  }

  push(line: string): void {
    this.lines.push(line);
    this.queuedChars += line.length;
    // A large batch goes out in parts: its lines, and the text joined from them, would otherwise all be alive at once.
    if (this.queuedChars >= FLUSH_CHARS) this.flush();
  }

  /** Writes the queued lines in one write(); returns the stream's write() result. */
  flush(): boolean {
    if (this.lines.length === 0 || this.error) {
      this.lines.length = 0;
      this.queuedChars = 0;
      return true;
    }
    const text = this.lines.join('\n') + '\n';
    this.lines = [];
    this.queuedChars = 0;
    return this.stream.write(text);
  }

  /** Flushes and waits until the stream has taken everything (before exit). */
  async end(): Promise<void> {
    this.flush();
    if (this.error || this.stream.writableLength === 0) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('error', done);
        resolve();
      };
      this.stream.once('drain', done);
      this.stream.once('error', done);
    });
  }
}
