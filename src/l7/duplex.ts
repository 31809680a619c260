// What the parsers of request/response protocols over one connection share
// (PostgreSQL, MySQL): the client's and the server's byte feeds, which
// direction carries requests (told from the first bytes the kernel passed),
// the requests waiting for their answers (bounded: the oldest is dropped and
// counted), and a resync of a side whose structure fell into a gap.
import { Feed, type Segment } from './feed.js';
import { MAX_PENDING, type ConnParser, type L7Pair } from './types.js';

export type PairOut = (p: L7Pair, requestEgress: boolean) => void;

export abstract class DuplexParser<Req> implements ConnParser {
  resyncs = 0;
  dropped = 0;
  protected requestEgress: boolean | undefined;
  protected readonly client = new Feed();
  protected readonly server = new Feed();
  /** Nothing more can be read (the connection went encrypted). */
  protected dead = false;
  protected readonly pending: Req[] = [];

  segment(egress: boolean, seg: Segment, out: PairOut): void {
    if (this.dead) return;
    this.requestEgress ??= this.orient(egress, seg);
    const fromClient = egress === this.requestEgress;
    const f = fromClient ? this.client : this.server;
    f.push(seg);
    const ok = fromClient ? this.readClient() : this.readServer(out);
    if (!ok) {
      this.resyncs++;
      f.reset();
      this.resynced(fromClient);
    }
  }

  close(_out: PairOut): void {
    this.dropped += this.pending.length;
    this.pending.length = 0;
  }

  /** Whether requests are written (egress) by this side, from the first segment the kernel passed. */
  protected abstract orient(egress: boolean, seg: Segment): boolean;
  /** Reads what the client sent; false when its structure was lost (the feed is then reset). */
  protected abstract readClient(): boolean;
  /** Reads what the server sent, pairs answers with requests; false when its structure was lost. */
  protected abstract readServer(out: PairOut): boolean;
  /** After a side's feed was reset: state tied to it forgotten. */
  protected resynced(_fromClient: boolean): void {}

  protected queue(r: Req): void {
    if (this.pending.length >= MAX_PENDING) {
      this.pending.shift();
      this.dropped++;
    }
    this.pending.push(r);
  }
}
