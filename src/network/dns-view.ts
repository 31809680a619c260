// What Vigil learns from the DNS traffic it sees:
//   - NameCache: address -> the names it was the answer for, each until its
//     TTL runs out (at least minTtlMs: a TTL of 0 or 1 s is common, and the
//     connection follows the answer a moment later), bounded in size;
//   - DnsMatcher: queries matched with their answers (same client and server
//     address and port, same id) for the latency, forgotten after a timeout.
// Both are pure: time comes in as arguments (ms), nothing reads a clock.
import type { DnsMessage } from './dns.js';

export interface NameCacheOptions {
  /** Most addresses kept; the oldest insertion goes first. Default 16_384. */
  maxEntries?: number;
  /** Shortest time a name is kept, ms. Default 60_000. */
  minTtlMs?: number;
  /** Longest, ms (a day-long TTL should not pin a stale name forever). Default 3_600_000. */
  maxTtlMs?: number;
}

export class NameCache {
  private readonly byAddress = new Map<string, Map<string, number>>();
  readonly maxEntries: number;
  readonly minTtlMs: number;
  readonly maxTtlMs: number;

  constructor(opts: NameCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 16_384;
    this.minTtlMs = opts.minTtlMs ?? 60_000;
    this.maxTtlMs = opts.maxTtlMs ?? 3_600_000;
  }

  get size(): number {
    return this.byAddress.size;
  }

  /** Remembers that address answered for name (without the trailing dot) for ttl seconds from nowMs. */
  add(address: string, name: string, ttlSeconds: number, nowMs: number): void {
    const ttl = Math.min(Math.max(ttlSeconds * 1000, this.minTtlMs), this.maxTtlMs);
    let names = this.byAddress.get(address);
    if (names) {
      this.byAddress.delete(address); // re-inserted last: most recently learnt
    } else {
      names = new Map();
      while (this.byAddress.size >= this.maxEntries) {
        const oldest = this.byAddress.keys().next();
        if (oldest.done) break;
        this.byAddress.delete(oldest.value);
      }
    }
    const clean = name.endsWith('.') && name.length > 1 ? name.slice(0, -1) : name;
    names.set(clean, Math.max(names.get(clean) ?? 0, nowMs + ttl));
    this.byAddress.set(address, names);
  }

  /** The live names of an address, sorted; undefined when none. */
  names(address: string, nowMs: number): string[] | undefined {
    const names = this.byAddress.get(address);
    if (!names) return undefined;
    const live: string[] = [];
    for (const [n, until] of names) {
      if (until > nowMs) live.push(n);
      else names.delete(n);
    }
    if (names.size === 0) this.byAddress.delete(address);
    return live.length ? live.sort() : undefined;
  }

  /**
   * Learns from an answer: every A/AAAA address gets the question's name and
   * the names of the CNAME chain that led to it.
   */
  learn(m: DnsMessage, nowMs: number): void {
    if (!m.qr || m.rcode !== 0) return;
    const q = m.questions[0]?.name;
    for (const a of m.answers) {
      if ((a.type !== 1 && a.type !== 28) || !a.data) continue;
      const address = a.data.startsWith('::ffff:') && a.data.includes('.') ? a.data.slice(7) : a.data;
      if (q) this.add(address, q, a.ttl, nowMs);
      if (a.name !== q) this.add(address, a.name, a.ttl, nowMs);
      // The chain's intermediate names (q -> c1 -> c2 -> address).
      for (const c of m.answers) {
        if (c.type === 5 && c.name !== q && c.name !== a.name) this.add(address, c.name, a.ttl, nowMs);
      }
    }
  }
}

export interface PendingQuery {
  timeNs: bigint;
  name: string;
  type: number;
}

/** Queries waiting for their answers. */
export class DnsMatcher {
  private readonly pending = new Map<string, PendingQuery>();

  constructor(readonly maxPending = 4096, readonly timeoutNs = 30_000_000_000n) {}

  private static key(client: string, clientPort: number, server: string, serverPort: number, id: number): string {
    return `${client}|${clientPort}|${server}|${serverPort}|${id}`;
  }

  get size(): number {
    return this.pending.size;
  }

  query(client: string, clientPort: number, server: string, serverPort: number, m: DnsMessage, timeNs: bigint): void {
    const key = DnsMatcher.key(client, clientPort, server, serverPort, m.id);
    this.pending.delete(key);
    while (this.pending.size >= this.maxPending) {
      const oldest = this.pending.keys().next();
      if (oldest.done) break;
      this.pending.delete(oldest.value);
    }
    const q = m.questions[0];
    this.pending.set(key, { timeNs, name: q?.name ?? '', type: q?.type ?? 0 });
  }

  /** The query an answer answers (and forgets it), or undefined. */
  answer(client: string, clientPort: number, server: string, serverPort: number, m: DnsMessage, timeNs: bigint):
    PendingQuery | undefined {
    const key = DnsMatcher.key(client, clientPort, server, serverPort, m.id);
    const p = this.pending.get(key);
    if (!p) return undefined;
    this.pending.delete(key);
    if (timeNs - p.timeNs > this.timeoutNs || timeNs < p.timeNs) return undefined;
    return p;
  }

  /** Forgets queries older than the timeout. */
  expire(nowNs: bigint): number {
    let n = 0;
    for (const [k, p] of this.pending) {
      if (nowNs - p.timeNs <= this.timeoutNs) break; // insertion order is time order
      this.pending.delete(k);
      n++;
    }
    return n;
  }
}
