// Where a sink's lines go: a stream (stdout or a socket) or a file written
// through its descriptor. Both take whole batches of lines with the count of
// events per sensor in them, so that a batch that never arrives is counted
// as lost for the right sensors; both say how many bytes are still waiting
// (the sink bounds that), and neither throws on a failed write.
import { close, constants, fstatSync, ftruncate, openSync, readFileSync, writev } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Loss } from './loss.js';

/** Events per sensor in one write. */
export type EventCounts = Map<string, number>;

/** What a line is: an event of this sensor, the lost record of this loss, or neither (a header). */
export type LineTag = string | Loss | undefined;

/**
 * A line in pieces: text, and UTF-8 bytes made once and shared by many lines
 * (a process's JSON, the same for every event of that process). Written as
 * they are: the shared bytes are copied into the write, never re-encoded.
 */
export class Fragments {
  /** Bytes of the pieces given as bytes, and characters of the text ones (as a string's length counts). */
  readonly length: number;

  constructor(readonly parts: readonly (string | Buffer)[]) {
    let n = 0;
    for (const p of parts) n += p.length;
    this.length = n;
  }

  toString(): string {
    return this.parts.map((p) => (typeof p === 'string' ? p : p.toString('utf8'))).join('');
  }
}

/** A line without its newline. */
export type Line = string | Fragments;

/** One write: lines (without newlines), and what each is. */
export interface Batch {
  lines: readonly Line[];
  sensors: readonly LineTag[];
}

export function countsOf(tags: readonly LineTag[]): EventCounts {
  const m: EventCounts = new Map();
  for (const s of tags) if (typeof s === 'string') m.set(s, (m.get(s) ?? 0) + 1);
  return m;
}

/** The losses whose lost records are in a batch: owed again if it is not written. */
export function lossesOf(tags: readonly LineTag[]): Loss[] {
  return tags.filter((t): t is Loss => typeof t === 'object');
}

/** The batch as bytes, each line ended by a newline. */
export function bytesOf(b: Batch): Buffer {
  if (b.lines.every((l) => typeof l === 'string')) return Buffer.from(`${(b.lines as string[]).join('\n')}\n`);
  return encode(b, Infinity)[0]!;
}

const NEWLINE = 0x0a;

/** Shared pieces at least this long are written from where they are (writev), not copied into the batch's buffer. */
const SHARED_MIN = 512;

/**
 * The batch as bytesOf's bytes, in pieces for one writev: the shared bytes of Fragments (a
 * process's JSON, kilobytes, the same for thousands of lines) are written from their own buffer,
 * never copied; the text between them (and short shared pieces) is encoded into one buffer, each
 * run of it one piece.
 */
export function piecesOf(b: Batch): Buffer[] {
  return encode(b, SHARED_MIN);
}

/**
 * The batch's lines encoded: text and shared pieces shorter than sharedMin written in place into one
 * buffer (shared bytes copied natively, text encoded once), longer shared pieces left where they
 * are, between the runs of that buffer. The text is encoded into a scratch buffer kept from batch
 * to batch, sized for the worst case of the text (3 UTF-8 bytes per UTF-16 unit) rather than
 * measured piece by piece (one call into the encoder per piece instead of two), then copied to a
 * buffer of its size: a queued batch holds no more than its bytes, and the process allocates each
 * batch's bytes once. (A new worst-case buffer per batch was three times that: at 100,000 JSON
 * lines a second, half a gigabyte a second of short-lived external memory, which drove V8 into
 * major collections, a sixth of observe's time.)
 */
function encode(b: Batch, sharedMin: number): Buffer[] {
  let bound = 0;
  for (const l of b.lines) {
    if (typeof l === 'string') bound += l.length * 3;
    else for (const p of l.parts) bound += typeof p === 'string' ? p.length * 3 : p.length < sharedMin ? p.length : 0;
    bound++;
  }
  const out = scratchOf(bound);
  // The buffer's runs as [start, end) pairs, each before the shared piece of the same index (or last).
  const runs: number[] = [];
  const shared: Buffer[] = [];
  let at = 0;
  let start = 0;
  for (const l of b.lines) {
    if (typeof l === 'string') {
      at += HAS_UTF8_WRITE ? out.utf8Write(l, at) : out.write(l, at);
    } else {
      for (const p of l.parts) {
        if (typeof p === 'string') {
          at += HAS_UTF8_WRITE ? out.utf8Write(p, at) : out.write(p, at);
        } else if (p.length < sharedMin) {
          out.set(p, at); // a native copy (Buffer.copy goes through JavaScript for small pieces)
          at += p.length;
        } else {
          runs.push(start, at);
          shared.push(p);
          start = at;
        }
      }
    }
    out[at++] = NEWLINE;
  }
  runs.push(start, at);
  const text = Buffer.allocUnsafe(at);
  out.copy(text, 0, 0, at);
  const pieces: Buffer[] = [];
  for (let i = 0; i < runs.length; i += 2) {
    if (runs[i + 1]! > runs[i]!) pieces.push(text.subarray(runs[i], runs[i + 1]));
    if (i / 2 < shared.length) pieces.push(shared[i / 2]!);
  }
  if (pieces.length === 0) pieces.push(text.subarray(0, 0));
  return pieces;
}

/**
 * encode's scratch: kept up to this size (it stays resident); a batch whose text may be larger has
 * a buffer of its own. Sinks flush every 256 KiB of text, so a batch's worst case is about 1 MiB.
 */
const SCRATCH_MAX = 4 << 20;
let scratch: Utf8Buffer | undefined;

/** A buffer of at least `size` bytes to encode into, valid until the next call. */
function scratchOf(size: number): Utf8Buffer {
  if (size > SCRATCH_MAX) return Buffer.allocUnsafeSlow(size) as Utf8Buffer;
  if (scratch === undefined || scratch.length < size) {
    scratch = Buffer.allocUnsafeSlow(Math.min(SCRATCH_MAX, Math.max(64 << 10, 2 ** Math.ceil(Math.log2(size))))) as Utf8Buffer;
  }
  return scratch;
}

/** The pieces after the first `n` bytes (what is left of a write cut short). */
export function piecesAfter(pieces: readonly Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < pieces.length && n >= pieces[i]!.length) n -= pieces[i++]!.length;
  const rest = pieces.slice(i);
  if (n > 0 && rest.length) rest[0] = rest[0]!.subarray(n);
  return rest;
}

function sizeOf(pieces: readonly Buffer[]): number {
  let n = 0;
  for (const p of pieces) n += p.length;
  return n;
}

/**
 * Node's own UTF-8 writer: what Buffer.write calls after checking its arguments, which makes
 * Buffer.write several times slower for short text. Buffer.write where a Node lacks it.
 */
type Utf8Buffer = Buffer & { utf8Write(text: string, offset: number): number };
const HAS_UTF8_WRITE = typeof (Buffer.prototype as Partial<Utf8Buffer>).utf8Write === 'function';

export interface OutputHooks {
  /**
   * A write failed (ENOSPC, EIO, ...): the events in it did not arrive, nor
   * the lost records of `owed` (to be written again). The output goes on.
   */
  onWriteFailed(err: NodeJS.ErrnoException, events: EventCounts, owed: readonly Loss[]): void;
  /** The output is gone (the reader of a pipe or socket went away): events queued and later are lost. */
  onClosed(err: NodeJS.ErrnoException, events: EventCounts): void;
  /** Everything handed over has been written: room again. */
  onDrained(): void;
}

export interface LineOutput {
  /** "stdout", "file /var/log/vigil.json". */
  readonly description: string;
  /** Bytes handed over and not yet written. */
  readonly pendingBytes: number;
  readonly closed: boolean;
  /** Hands over a batch of lines. */
  write(batch: Batch): void;
  /** Resolves true once everything handed over is written, false when timeoutMs pass first or the output is gone. */
  settle(timeoutMs: number): Promise<boolean>;
  /** Frees what it owns (a file it opened); the process's stdout stays open. */
  close(): void;
}

/** Errors that mean the other end is gone for good. */
export function isClosedError(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EPIPE' || err.code === 'ECONNRESET' || err.code === 'ERR_STREAM_DESTROYED';
}

/**
 * An output's settle(): resolves with done() once one of `waiters` is called
 * (the output wrote everything), or false when timeoutMs pass first.
 */
export function settleWithin(waiters: (() => void)[], timeoutMs: number, done: () => boolean = () => true): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    waiters.push(() => {
      clearTimeout(timer);
      resolve(done());
    });
  });
}

function mergeCounts(into: EventCounts, from: EventCounts): void {
  for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
}

/** A Node Writable: stdout on a pipe or terminal, a socket. Pending bytes are the stream's own buffer. */
export class StreamOutput implements LineOutput {
  private inFlight: EventCounts[] = [];
  private gone = false;
  private waiters: (() => void)[] = [];

  constructor(readonly description: string, private readonly stream: Writable, private readonly hooks: OutputHooks) {
    // Without a listener an EPIPE would be an uncaught exception with a stack.
    stream.on('error', (err: NodeJS.ErrnoException) => this.fail(err));
    stream.on('drain', () => hooks.onDrained());
  }

  get pendingBytes(): number {
    return this.gone ? 0 : this.stream.writableLength;
  }

  get closed(): boolean {
    return this.gone;
  }

  write(batch: Batch): void {
    const events = countsOf(batch.sensors);
    if (this.gone) {
      this.hooks.onClosed(Object.assign(new Error('output closed'), { code: 'EPIPE' }), events);
      return;
    }
    this.inFlight.push(events);
    this.stream.write(bytesOf(batch), (err) => {
      const counts = this.inFlight.shift();
      if (err) this.fail(err as NodeJS.ErrnoException, counts);
      else if (this.inFlight.length === 0) this.wake();
    });
  }

  private fail(err: NodeJS.ErrnoException, counts?: EventCounts): void {
    if (this.gone) {
      if (counts?.size) this.hooks.onClosed(err, counts);
      return;
    }
    if (!isClosedError(err)) {
      // A stream that errored is destroyed by Node: nothing more can go through it.
      if (counts?.size) this.hooks.onWriteFailed(err, counts, []);
    }
    this.gone = true;
    const lost: EventCounts = new Map();
    if (counts && isClosedError(err)) mergeCounts(lost, counts);
    for (const c of this.inFlight.splice(0)) mergeCounts(lost, c);
    this.hooks.onClosed(err, lost);
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  settle(timeoutMs: number): Promise<boolean> {
    if (this.gone) return Promise.resolve(false);
    if (this.inFlight.length === 0) return Promise.resolve(true);
    return settleWithin(this.waiters, timeoutMs, () => !this.gone);
  }

  close(): void {}
}

interface Chunk {
  /** The batch's bytes in pieces (piecesOf), written with one writev. */
  pieces: Buffer[];
  size: number;
  events: EventCounts;
  owed: Loss[];
}

/**
 * A file, written with one asynchronous write at a time from a queue of
 * batches. A failed write (ENOSPC on a full disk) loses that batch, counted,
 * and the next batch is tried: when space comes back, lines follow again. A
 * write cut short before a failure is taken back (ftruncate) when the file is
 * open for appending (a file this output opened, stdout with `>>`), so the
 * file holds whole lines only; otherwise (stdout with `>`) the cut line is
 * ended before the next one.
 */
export class FileOutput implements LineOutput {
  private readonly queue: Chunk[] = [];
  private pending = 0;
  private writing = false;
  private fd: number | undefined;
  private readonly owned: boolean;
  private brokenLine = false;
  private closeAfterWrite: number | undefined;
  private waiters: (() => void)[] = [];

  private readonly appends: boolean;

  private constructor(readonly description: string, fd: number, owned: boolean, private readonly hooks: OutputHooks) {
    this.fd = fd;
    this.owned = owned;
    this.appends = owned || appendMode(fd);
  }

  /** Opens `path` for appending (created 0600). Throws (ENOENT, EACCES, ...) like openSync. */
  static open(path: string, hooks: OutputHooks): FileOutput {
    return new FileOutput(`file ${path}`, openSync(path, 'a', 0o600), true, hooks);
  }

  /** Writes to a descriptor this process was given (stdout redirected to a file); it is not closed. */
  static fromFd(description: string, fd: number, hooks: OutputHooks): FileOutput {
    return new FileOutput(description, fd, false, hooks);
  }

  get pendingBytes(): number {
    return this.pending;
  }

  get closed(): boolean {
    return this.fd === undefined;
  }

  write(batch: Batch): void {
    const events = countsOf(batch.sensors);
    if (this.fd === undefined) {
      this.hooks.onClosed(Object.assign(new Error('output closed'), { code: 'EBADF' }), events);
      return;
    }
    const pieces = piecesOf(batch);
    const size = sizeOf(pieces);
    this.queue.push({ pieces, size, events, owed: lossesOf(batch.sensors) });
    this.pending += size;
    if (!this.writing) this.next();
  }

  private next(): void {
    if (this.closeAfterWrite !== undefined) {
      close(this.closeAfterWrite, () => undefined);
      this.closeAfterWrite = undefined;
    }
    if (this.queue.length === 0 || this.fd === undefined) {
      this.writing = false;
      for (const w of this.waiters.splice(0)) w();
      if (this.fd !== undefined) this.hooks.onDrained();
      return;
    }
    this.writing = true;
    // Every batch queued goes in this one write: batches queued while the event loop was busy
    // (a long release formats thousands of lines) would otherwise wait a turn of the loop each.
    const chunks = this.queue.splice(0);
    const lead = this.brokenLine ? 1 : 0;
    const pieces: Buffer[] = lead ? [Buffer.from('\n')] : [];
    let total = lead;
    for (const c of chunks) {
      for (const p of c.pieces) pieces.push(p);
      total += c.size;
    }
    const fd = this.fd;
    let done = 0;
    const step = (): void => {
      // libuv writes the pieces IOV_MAX at a time until all are written or one write fails.
      writev(fd, done ? piecesAfter(pieces, done) : pieces, null, (err, n) => {
        if (!err) {
          done += n;
          if (done < total) return step();
          this.brokenLine = false;
          for (const c of chunks) this.pending -= c.size;
          return this.next();
        }
        this.failed(err, fd, chunks, done - lead);
      });
    };
    step();
  }

  /**
   * A write of `chunks` failed after `written` of their bytes: the batches wholly written stay,
   * the one the failure cut is lost (counted, and its written part taken back), and the batches
   * after it were not tried: they go back to the front of the queue, tried again next.
   */
  private failed(err: NodeJS.ErrnoException, fd: number, chunks: Chunk[], written: number): void {
    let i = 0;
    let before = 0;
    while (i < chunks.length && before + chunks[i]!.size <= written) {
      this.pending -= chunks[i]!.size;
      before += chunks[i++]!.size;
    }
    this.brokenLine = written < 0; // the lead newline itself was not written
    const cut = chunks[i];
    if (!cut) return this.next();
    this.queue.unshift(...chunks.slice(i + 1));
    this.pending -= cut.size;
    this.hooks.onWriteFailed(err, cut.events, cut.owed);
    const partial = written - before;
    if (partial <= 0) return this.next();
    this.takeBack(fd, partial, () => this.next());
  }

  /** Removes the `written` bytes of a batch that failed midway. */
  private takeBack(fd: number, written: number, then: () => void): void {
    // Only where every write goes to the end of the file: elsewhere the
    // descriptor's offset would stay past the new end and leave a hole.
    if (!this.appends) {
      this.brokenLine = true;
      return then();
    }
    let size: number;
    try {
      size = fstatSync(fd).size;
    } catch {
      this.brokenLine = true;
      return then();
    }
    ftruncate(fd, Math.max(0, size - written), (err) => {
      if (err) this.brokenLine = true;
      then();
    });
  }

  settle(timeoutMs: number): Promise<boolean> {
    if (!this.writing) return Promise.resolve(this.fd !== undefined);
    return settleWithin(this.waiters, timeoutMs);
  }

  close(): void {
    const fd = this.fd;
    this.fd = undefined;
    for (const c of this.queue.splice(0)) {
      this.pending -= c.size;
      this.hooks.onClosed(Object.assign(new Error('output closed'), { code: 'EBADF' }), c.events);
    }
    // A write in flight still uses the descriptor: it is closed after it.
    if (fd !== undefined && this.owned) {
      if (this.writing) this.closeAfterWrite = fd;
      else close(fd, () => undefined);
    }
  }
}

/** Whether `fd` was opened with O_APPEND (`>>`), from /proc/self/fdinfo. */
function appendMode(fd: number): boolean {
  try {
    const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))?.[1];
    return flags !== undefined && (parseInt(flags, 8) & constants.O_APPEND) !== 0;
  } catch {
    return false;
  }
}

/** stdout as an output: a regular file is written through its descriptor (ENOSPC is counted), anything else as a stream. */
export function stdoutOutput(hooks: OutputHooks): LineOutput {
  let isFile = false;
  try {
    isFile = fstatSync(1).isFile();
  } catch {
    // fd 1 closed: the stream reports it as it would.
  }
  return isFile ? FileOutput.fromFd('stdout', 1, hooks) : new StreamOutput('stdout', process.stdout, hooks);
}

export interface HttpOutputOptions {
  /** Most requests in flight. Default 4. */
  concurrency?: number;
  headers?: Record<string, string>;
  /** Per-request timeout. Default 5000 ms. */
  timeoutMs?: number;
}

interface Post {
  body: string;
  /** The event's sensor, or the loss of a lost record. */
  tag: LineTag;
}

/**
 * An HTTP endpoint: each line is POSTed as its own request (a JSON document:
 * falcosidekick, a webhook), a few at a time. Pending bytes are the bodies
 * queued and in flight; a request that fails (network error, non-2xx) is a
 * failed write, counted for the sensor of its line.
 */
export class HttpOutput implements LineOutput {
  private readonly queue: Post[] = [];
  private pending = 0;
  private inFlight = 0;
  private stopped = false;
  private waiters: (() => void)[] = [];
  /** Requests that succeeded, failed. */
  readonly stats = { sent: 0, failed: 0 };

  constructor(readonly url: string, private readonly hooks: OutputHooks, private readonly opts: HttpOutputOptions = {}) {}

  get description(): string {
    return `http ${this.url}`;
  }

  get pendingBytes(): number {
    return this.pending;
  }

  get closed(): boolean {
    return this.stopped;
  }

  write(batch: Batch): void {
    batch.lines.forEach((line, i) => {
      const body = typeof line === 'string' ? line : line.toString();
      this.queue.push({ body, tag: batch.sensors[i] });
      this.pending += body.length;
    });
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.inFlight < (this.opts.concurrency ?? 4) && this.queue.length) this.send(this.queue.shift()!);
    if (this.inFlight === 0 && this.queue.length === 0) {
      for (const w of this.waiters.splice(0)) w();
      this.hooks.onDrained();
    }
  }

  private send(p: Post): void {
    this.inFlight++;
    fetch(this.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'vigil', ...this.opts.headers },
      body: p.body,
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
    })
      .then(async (res) => {
        await res.arrayBuffer().catch(() => undefined);
        if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status} from ${this.url}`), { code: `HTTP_${res.status}` });
        this.stats.sent++;
      })
      .catch((e: unknown) => {
        this.stats.failed++;
        const err = (e instanceof Error ? e : new Error(String(e))) as NodeJS.ErrnoException;
        const cause = (err.cause as NodeJS.ErrnoException | undefined)?.code;
        if (!err.code && cause) err.code = cause;
        this.hooks.onWriteFailed(err, countsOf([p.tag]), lossesOf([p.tag]));
      })
      .finally(() => {
        this.inFlight--;
        this.pending -= p.body.length;
        this.pump();
      });
  }

  settle(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve(true);
    return settleWithin(this.waiters, timeoutMs);
  }

  /** Sends nothing more; what is queued is counted as lost (requests in flight finish). */
  close(): void {
    this.stopped = true;
    const lost: EventCounts = new Map();
    for (const p of this.queue.splice(0)) {
      this.pending -= p.body.length;
      if (typeof p.tag === 'string') lost.set(p.tag, (lost.get(p.tag) ?? 0) + 1);
    }
    if (lost.size) this.hooks.onClosed(Object.assign(new Error('output closed'), { code: 'ECANCELED' }), lost);
  }
}
