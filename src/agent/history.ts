// The agent's recent events, as Hubble keeps its flows: a fixed number in a
// ring, the oldest overwritten, for `vigil events --last N` and `--since T`.
export class History<E> {
  private readonly ring: (E | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array<E | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(e: E): void {
    if (this.capacity === 0) return;
    this.ring[this.next] = e;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** Oldest first: those that `keep` accepts, the last `last` of them (0: all). */
  select(keep: (e: E) => boolean, last: number): E[] {
    const out: E[] = [];
    const start = (this.next - this.count + this.capacity) % Math.max(this.capacity, 1);
    for (let i = 0; i < this.count; i++) {
      const e = this.ring[(start + i) % this.capacity]!;
      if (keep(e)) out.push(e);
    }
    return last > 0 ? out.slice(-last) : out;
  }

  /** The same events in a ring of another size (a reload changed it): the newest kept. */
  resized(capacity: number): History<E> {
    const h = new History<E>(capacity);
    for (const e of this.select(() => true, capacity)) h.push(e);
    return h;
  }
}
