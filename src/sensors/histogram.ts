// Log2 latency histograms as the kernel keeps them (bpf/include/vigil/syscall.h):
// bucket b counts values in [2^b, 2^(b+1)) ns, bucket 0 also 0 and 1 ns, the
// last bucket everything above its lower bound.

/** [low, high) of bucket b, high clipped to maxNs (no value exceeds the maximum seen). */
export function bucketBounds(b: number, buckets: number, maxNs?: number): [number, number] {
  const lo = b === 0 ? 0 : 2 ** b;
  let hi = b === buckets - 1 ? Math.max(maxNs ?? 2 ** (b + 1), lo) : 2 ** (b + 1);
  if (maxNs !== undefined && maxNs >= lo && maxNs < hi) hi = maxNs;
  return [lo, hi];
}

/**
 * The q-quantile (0 < q <= 1) of a log2 histogram, in ns. The bucket that
 * holds rank q x count is found, and the value is interpolated linearly
 * inside it, as if its calls were spread evenly over [2^b, 2^(b+1)) (clipped
 * to maxNs). The error is therefore at most the bucket's width: a factor of
 * two. 0 for an empty histogram.
 */
export function histogramQuantile(hist: readonly number[], q: number, maxNs?: number): number {
  if (!(q > 0 && q <= 1)) throw new RangeError(`quantile must be in (0, 1], got ${q}`);
  let total = 0;
  for (const c of hist) total += c;
  if (total === 0) return 0;
  const rank = q * total;
  let cum = 0;
  for (let b = 0; b < hist.length; b++) {
    const c = hist[b] ?? 0;
    if (c === 0) continue;
    if (cum + c >= rank) {
      const [lo, hi] = bucketBounds(b, hist.length, maxNs);
      return lo + ((hi - lo) * (rank - cum)) / c;
    }
    cum += c;
  }
  return maxNs ?? 0;
}

/** Adds b into a, element by element. */
export function addHistogram(a: number[], b: readonly number[]): void {
  for (let i = 0; i < b.length; i++) a[i] = (a[i] ?? 0) + (b[i] ?? 0);
}
