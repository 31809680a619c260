// Binary search over sorted numbers.

/** The index of the last element <= value in an ascending array, or -1 when every element is greater. */
export function lastAtOrBelow(sorted: ArrayLike<number>, value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** The element whose [start, end) holds value, in an array sorted by start whose ranges do not overlap; undefined if none. */
export function findRange<T extends { readonly start: bigint; readonly end: bigint }>(sorted: readonly T[], value: bigint):
  T | undefined {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = sorted[mid]!;
    if (value < r.start) hi = mid - 1;
    else if (value >= r.end) lo = mid + 1;
    else return r;
  }
  return undefined;
}
