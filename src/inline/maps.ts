// Reading the maps vigil/lib.h declares: histograms (VIGIL_HISTOGRAM), stack
// traces (VIGIL_STACK_TRACE), and printing a histogram as bcc does.
import type { BpfMap } from '../bpf/map.js';

/** The counts of a VIGIL_HISTOGRAM (an array of __u64), slot by slot. */
export function readHistogram(map: BpfMap): number[] {
  if (map.valueSize !== 8 || map.keySize !== 4) {
    throw new TypeError(`${map.name}: not a histogram (key ${map.keySize} bytes, value ${map.valueSize}; want 4 and 8)`);
  }
  const counts: number[] = [];
  const key = Buffer.alloc(4);
  for (let i = 0; i < map.maxEntries; i++) {
    key.writeUInt32LE(i);
    const v = map.lookup(key);
    counts.push(v ? Number(v.readBigUInt64LE(0)) : 0);
  }
  return counts;
}

/** The bounds [low, high] of slot i: log2 slot i holds [2^(i-1), 2^i - 1] (slot 0 holds 0); linear slot i holds [i*step, (i+1)*step - 1]. */
export function slotRange(i: number, scale: { kind: 'log2' } | { kind: 'linear'; step: number }): [number, number] {
  if (scale.kind === 'linear') return [i * scale.step, (i + 1) * scale.step - 1];
  return i === 0 ? [0, 0] : [2 ** (i - 1), 2 ** i - 1];
}

export interface HistogramFormat {
  /** The value's unit in the header ("usecs"). */
  unit?: string;
  /** log2 (the default) or linear slots of `step`. */
  scale?: { kind: 'log2' } | { kind: 'linear'; step: number };
  /** Width of the bar in characters (default 40). */
  width?: number;
}

/**
 * A histogram as bcc's print_log2_hist draws it: one line a slot from the
 * first to the last non-empty one, `low -> high : count |****|`.
 */
export function formatHistogram(counts: readonly number[], o: HistogramFormat = {}): string {
  const scale = o.scale ?? { kind: 'log2' as const };
  const width = o.width ?? 40;
  const first = counts.findIndex((c) => c > 0);
  if (first < 0) return '(no values)';
  let last = counts.length - 1;
  while (counts[last] === 0) last--;
  const max = Math.max(...counts);
  const rows = [];
  for (let i = first; i <= last; i++) {
    const [lo, hi] = slotRange(i, scale);
    const open = i === counts.length - 1;
    rows.push({ range: `${lo} -> ${open ? 'inf' : hi}`, count: counts[i]! });
  }
  const rangeWidth = Math.max(...rows.map((r) => r.range.length), (o.unit ?? 'value').length);
  const countWidth = Math.max(...rows.map((r) => String(r.count).length), 5);
  const header = `${(o.unit ?? 'value').padStart(rangeWidth)} : ${'count'.padStart(countWidth)}    distribution`;
  return [header, ...rows.map((r) => {
    const bar = '*'.repeat(Math.round((r.count / max) * width)).padEnd(width);
    return `${r.range.padStart(rangeWidth)} : ${String(r.count).padStart(countWidth)}    |${bar}|`;
  })].join('\n');
}

/** The frames (instruction addresses, innermost first) of stack `id` in a VIGIL_STACK_TRACE map; [] if it is gone. */
export function readStack(map: BpfMap, id: number): bigint[] {
  if (id < 0) return [];
  const key = Buffer.alloc(4);
  key.writeUInt32LE(id);
  const v = map.lookup(key);
  if (!v) return [];
  const frames: bigint[] = [];
  for (let o = 0; o + 8 <= v.length; o += 8) {
    const a = v.readBigUInt64LE(o);
    if (a === 0n) break;
    frames.push(a);
  }
  return frames;
}
