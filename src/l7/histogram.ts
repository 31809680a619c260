// Log-linear latency histograms: each power of two split in SUB linear
// buckets (HDR-style), so a quantile is within 1/SUB (12.5%) of the truth
// from 1 µs to ~70 minutes, in a fixed 8 x 32 buckets. The kernel keeps the
// same buckets (bpf/l7.bpf.c, lat_bucket; vigil_l7_hist in bpf/include/vigil/l7.h).

const SUB = 8;
const MIN_SHIFT = 10; // 1024 ns: everything faster is in the first bucket
const POWERS = 32;
export const LATENCY_BUCKETS = SUB * POWERS;

/** The bucket of a latency in ns. Pure. */
export function latencyBucket(ns: number): number {
  if (ns < 1 << MIN_SHIFT) return 0;
  const p = Math.floor(Math.log2(ns));
  const power = Math.min(p - MIN_SHIFT, POWERS - 1);
  const base = 2 ** (power + MIN_SHIFT);
  const sub = Math.min(SUB - 1, Math.floor(((ns - base) / base) * SUB));
  return power * SUB + sub;
}

/** A bucket's upper bound in ns. Pure. */
export function bucketUpperNs(b: number): number {
  const power = Math.floor(b / SUB);
  const sub = b % SUB;
  const base = 2 ** (power + MIN_SHIFT);
  return base + (base * (sub + 1)) / SUB;
}

export class LatencyHistogram {
  readonly counts = new Uint32Array(LATENCY_BUCKETS);
  total = 0;

  /** A histogram of bucket counts (the kernel's). */
  static of(counts: ArrayLike<number>): LatencyHistogram {
    const h = new LatencyHistogram();
    for (let b = 0; b < LATENCY_BUCKETS; b++) h.counts[b] = counts[b] ?? 0;
    h.total = h.counts.reduce((a, c) => a + c, 0);
    return h;
  }

  /**
   * What was added since `before` (an earlier reading of the same totals).
   * An exchange whose response went on between the readings moved to a later
   * bucket (-1 in one, +1 in another): a bucket that shrank counts 0.
   */
  since(before: LatencyHistogram | undefined): LatencyHistogram {
    const h = new LatencyHistogram();
    for (let b = 0; b < LATENCY_BUCKETS; b++) h.counts[b] = Math.max(0, this.counts[b]! - (before?.counts[b] ?? 0));
    h.total = h.counts.reduce((a, c) => a + c, 0);
    return h;
  }

  add(ns: number): void {
    this.counts[latencyBucket(ns)]!++;
    this.total++;
  }

  /** The q-quantile (0..1) as its bucket's upper bound, ns; 0 when empty. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let b = 0; b < LATENCY_BUCKETS; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) return bucketUpperNs(b);
    }
    return bucketUpperNs(LATENCY_BUCKETS - 1);
  }
}
