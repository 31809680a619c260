// The containers a runtime lists now, by id: the table both metadata sources
// (a CRI runtime, cri.ts; Docker or Podman, engine-api.ts) keep. The runtime
// is asked for all of them at once, at start and again when an unknown id is
// looked up, at most once per refreshMs: a listing is a few ms and a container
// starts far less often than its processes make events. The table holds what
// the runtime lists now (bounded by the host's containers), so it never grows
// past it.

export interface ContainerTableOptions {
  /** At most one listing per this many ms when lookups miss (default 1000). */
  refreshMs?: number;
  /** Told when a listing fails (the table keeps what it had). */
  onError?: (err: Error) => void;
}

/** Containers by id, from a runtime's listings. */
export class ContainerTable<T extends { readonly id: string }> {
  private table = new Map<string, T>();
  private lastRefresh = 0;
  private inFlight: Promise<void> | undefined;
  /** Listings made, and listings that failed. */
  refreshes = 0;
  failures = 0;

  constructor(private readonly list: () => Promise<T[]>, private readonly o: ContainerTableOptions = {}) {}

  get size(): number {
    return this.table.size;
  }

  /** Every container of the last listing. */
  containers(): IterableIterator<T> {
    return this.table.values();
  }

  /** Lists again now (one at a time: a call while one runs waits for it). */
  refresh(): Promise<void> {
    this.inFlight ??= (async () => {
      this.lastRefresh = Date.now();
      try {
        const list = await this.list();
        this.table = new Map(list.map((c) => [c.id, c]));
        this.refreshes++;
      } catch (e) {
        this.failures++;
        throw e;
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }

  /**
   * The container with this id from the last listing. A miss starts a new
   * listing (at most one per refreshMs) and returns undefined: the events of
   * a container's first milliseconds may go without its names.
   */
  lookup(id: string): T | undefined {
    const c = this.table.get(id);
    if (c) return c;
    if (!this.inFlight && Date.now() - this.lastRefresh >= (this.o.refreshMs ?? 1000)) {
      this.refresh().catch((e: Error) => this.o.onError?.(e));
    }
    return undefined;
  }
}
