// One direction of a connection as a parser reads it: the bytes the kernel
// captured, with the uncaptured tail of each call known only by its length.
//
// The kernel sends the first capture_bytes of each call (a sendfile sends
// none), so a direction is a run of known bytes, each call's possibly
// followed by a gap. A parser reads structure (lines, headers) from the
// known bytes and passes over bodies by length, gaps included: `pass(n)`
// consumes known bytes, then the gap, then owes the rest (`skip`), taken
// from the calls that follow. A parser that needs structure that fell into
// a gap has lost the thread: the caller resynchronises at the next call.
//
// Times: each call's bytes carry the call's first-byte time (a write's entry,
// a read's exit) and last-byte time (its exit); a message starts at the
// first-byte time of the call its first byte came from and ends at the
// last-byte time of the call its last byte came from.

/** One call's bytes: `data` is the captured head of `size` bytes. */
export interface Segment {
  data: Uint8Array;
  size: number;
  /** The call's first byte: a write's entry, a read's exit (CLOCK_BOOTTIME ns). */
  firstNs: bigint;
  /** The call's exit. */
  lastNs: bigint;
}

interface Mark {
  /** Bytes of this call (known and gap) not yet consumed. */
  left: number;
  firstNs: bigint;
  lastNs: bigint;
}

/** Most known bytes a direction holds unparsed (a header that never ends): beyond it, a resync. */
export const FEED_MAX_BYTES = 64 << 10;

/** What an empty feed holds: not a view of the last segment (which may share a pool's slab with others). */
const EMPTY = Buffer.alloc(0);

export class Feed {
  /** Known bytes not yet consumed. */
  private buf: Buffer = EMPTY;
  /** Gap bytes right after buf (the last call's uncaptured tail). */
  gap = 0;
  /** Bytes passed over that are still to come. */
  skip = 0;
  /** The last-byte time of the call the last consumed byte came from. */
  lastNs = 0n;
  private marks: Mark[] = [];

  /** Adds a call's bytes (kept, not copied: the caller does not change them after); what is owed (skip) is taken from them first. */
  push(seg: Segment): void {
    let data = seg.data;
    let size = seg.size;
    if (this.skip > 0) {
      const s = Math.min(this.skip, size);
      this.skip -= s;
      size -= s;
      data = data.subarray(Math.min(s, data.length));
      this.lastNs = seg.lastNs;
    }
    if (size === 0) return;
    if (this.gap > 0) throw new Error('feed: bytes after a gap that was not consumed (resync first)');
    // The segment's bytes are the feed's from now on (the sensor copied them out of the ring): viewed, not copied again.
    this.buf = this.buf.length > 0 ? Buffer.concat([this.buf, data])
      : Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
    this.gap = size - data.length;
    this.marks.push({ left: size, firstNs: seg.firstNs, lastNs: seg.lastNs });
  }

  /** Known bytes waiting. */
  get length(): number {
    return this.buf.length;
  }

  get bytes(): Buffer {
    return this.buf;
  }

  /** The first-byte time of the call the next byte comes from. */
  get headNs(): bigint {
    return this.marks[0]?.firstNs ?? this.lastNs;
  }

  /** Too many known bytes wait unparsed. */
  get overflowing(): boolean {
    return this.buf.length > FEED_MAX_BYTES;
  }

  /** Consumes n bytes (known, then the gap, then owed from later calls); returns the known ones consumed. */
  pass(n: number): Buffer {
    const known = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = known.length === this.buf.length ? EMPTY : this.buf.subarray(known.length);
    let rest = n - known.length;
    if (rest > 0 && this.buf.length === 0) {
      const g = Math.min(rest, this.gap);
      this.gap -= g;
      rest -= g;
    }
    this.account(n - rest);
    this.skip += rest;
    return known;
  }

  /** The next line (without CRLF), consumed; undefined when no CRLF is known yet. */
  line(max = 8192): string | undefined {
    const i = this.buf.indexOf('\r\n');
    if (i < 0 || i > max) return undefined;
    const s = this.buf.subarray(0, i).toString('latin1');
    this.pass(i + 2);
    return s;
  }

  /** Structure is needed and what follows the known bytes is a gap: the thread is lost. */
  get stuck(): boolean {
    return this.gap > 0;
  }

  /** Drops everything (after a lost thread); the next call starts afresh. */
  reset(): void {
    const last = this.marks[this.marks.length - 1];
    if (last) this.lastNs = last.lastNs;
    this.buf = EMPTY;
    this.gap = 0;
    this.skip = 0;
    this.marks = [];
  }

  private account(n: number): void {
    while (n > 0 && this.marks.length > 0) {
      const m = this.marks[0]!;
      const t = Math.min(n, m.left);
      m.left -= t;
      n -= t;
      this.lastNs = m.lastNs;
      if (m.left === 0) this.marks.shift();
    }
  }
}
