// A ring's records held for the merge as bytes, decoded when released.
//
// The merge holds each event for its window (tens of milliseconds): long
// enough for the young generation to be collected once or twice meanwhile.
// An event decoded on arrival is then copied by each scavenge and, after the
// second, promoted to the old generation, whose marking and sweeping a storm
// then pays for too: at tens of thousands of events a second, that was most
// of the collector's share of the observe process. Held here instead, an
// event is its record's bytes in an off-heap chunk and a few numbers in typed
// arrays; it becomes an object only when it is released, and that object is
// formatted and written in the same turn, so it dies young.
//
// Records are copied in (the reader's batch buffer is reused for the next
// drain) into chunks of CHUNK_BYTES; a chunk is reused once every record in it
// was released. A ring is nearly in order by itself: a record is almost
// always appended; one that is earlier than the last held goes after every
// held record not later than it.
import { insertionPoint, type MergeLane } from './merge.js';

const CHUNK_BYTES = 1 << 20;
/** Emptied chunks kept for reuse (the rest are left to the collector). */
const SPARE_CHUNKS = 2;

interface Chunk {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** Bytes used. */
  used: number;
  /** Records in it not yet released. */
  live: number;
}

function newChunk(size: number): Chunk {
  const buf = new ArrayBuffer(size);
  return { bytes: new Uint8Array(buf), view: new DataView(buf), used: 0, live: 0 };
}

export type RecordDecoder<E> = (view: DataView, offset: number, size: number) => E;

export class RecordLane<E> implements MergeLane<E> {
  private chunks: (Chunk | undefined)[] = [];
  private readonly spare: Chunk[] = [];
  private current = -1;
  // Held records, sorted by (time, arrival); [head, tail) is held.
  private times = new BigInt64Array(1024);
  private seqs = new Float64Array(1024);
  private chunkOf = new Uint32Array(1024);
  private offsets = new Uint32Array(1024);
  private sizes = new Uint32Array(1024);
  private head = 0;
  private tail = 0;

  constructor(private readonly decode: RecordDecoder<E>) {}

  get size(): number {
    return this.tail - this.head;
  }

  headTime(): bigint {
    return this.times[this.head]!;
  }

  headSeq(): number {
    return this.seqs[this.head]!;
  }

  /** Holds a copy of the record at view[offset, offset + size), stamped `time`, arrival `seq`. */
  hold(view: DataView, offset: number, size: number, time: bigint, seq: number): void {
    let c = this.current >= 0 ? this.chunks[this.current]! : undefined;
    if (!c || c.used + size > c.bytes.length) c = this.nextChunk(size);
    const at = c.used;
    c.bytes.set(new Uint8Array(view.buffer, view.byteOffset + offset, size), at);
    c.used += (size + 7) & ~7;
    c.live++;
    if (this.tail === this.times.length) this.makeRoom();
    const i = insertionPoint(this.times, this.head, this.tail, time);
    if (i < this.tail) for (const a of [this.times, this.seqs, this.chunkOf, this.offsets, this.sizes]) a.copyWithin(i + 1, i, this.tail);
    this.times[i] = time;
    this.seqs[i] = seq;
    this.chunkOf[i] = this.current;
    this.offsets[i] = at;
    this.sizes[i] = size;
    this.tail++;
  }

  /** Decodes and takes the first held record. */
  shift(): E {
    const h = this.head++;
    const ci = this.chunkOf[h]!;
    const c = this.chunks[ci]!;
    try {
      return this.decode(c.view, this.offsets[h]!, this.sizes[h]!);
    } finally {
      if (--c.live === 0 && ci !== this.current) this.free(ci);
      if (this.head === this.tail) this.head = this.tail = 0;
    }
  }

  private nextChunk(size: number): Chunk {
    const old = this.current >= 0 ? this.chunks[this.current] : undefined;
    if (old && old.live === 0) {
      // Nothing in it is held any more: start it over.
      if (size <= old.bytes.length) {
        old.used = 0;
        return old;
      }
      this.free(this.current);
    }
    const c = (size <= CHUNK_BYTES && this.spare.pop()) || newChunk(Math.max(size, CHUNK_BYTES));
    c.used = 0;
    c.live = 0;
    let i = this.chunks.indexOf(undefined);
    if (i < 0) i = this.chunks.push(undefined) - 1;
    this.chunks[i] = c;
    this.current = i;
    return c;
  }

  private free(i: number): void {
    const c = this.chunks[i]!;
    this.chunks[i] = undefined;
    if (c.bytes.length === CHUNK_BYTES && this.spare.length < SPARE_CHUNKS) this.spare.push(c);
  }

  /** The held records moved to the front, or the arrays doubled when they are more than half full. */
  private makeRoom(): void {
    const n = this.tail - this.head;
    const grow = n * 2 > this.times.length;
    const cap = grow ? this.times.length * 2 : this.times.length;
    const move = <A extends BigInt64Array | Float64Array | Uint32Array>(a: A, make: (n: number) => A): A => {
      if (!grow) {
        a.copyWithin(0, this.head, this.tail);
        return a;
      }
      const b = make(cap);
      b.set(a.subarray(this.head, this.tail) as never);
      return b;
    };
    this.times = move(this.times, (k) => new BigInt64Array(k));
    this.seqs = move(this.seqs, (k) => new Float64Array(k));
    this.chunkOf = move(this.chunkOf, (k) => new Uint32Array(k));
    this.offsets = move(this.offsets, (k) => new Uint32Array(k));
    this.sizes = move(this.sizes, (k) => new Uint32Array(k));
    this.head = 0;
    this.tail = n;
  }
}
