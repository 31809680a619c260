// Reading the maps vigil/lib.h declares: histograms (VIGIL_HISTOGRAM), stack
// traces (VIGIL_STACK_TRACE), and printing a histogram as bcc does.
import type { BpfMap } from '../bpf/map.js';
import { stackFrames } from '../bpf/codec.js';

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
  return v ? stackFrames(v) : [];
}

/** An integer of 1, 2, 4 or 8 bytes as unsigned decimal; anything else as hex bytes. */
function scalarText(b: Buffer): string {
  switch (b.length) {
    case 1: return String(b.readUInt8(0));
    case 2: return String(b.readUInt16LE(0));
    case 4: return String(b.readUInt32LE(0));
    case 8: return String(b.readBigUInt64LE(0));
    default: {
      // A NUL-terminated printable string (a comm, a path) reads as text.
      const end = b.indexOf(0);
      const text = b.subarray(0, end < 0 ? b.length : end).toString('latin1');
      if (end > 0 && /^[\x20-\x7e]+$/.test(text) && b.subarray(end).every((x) => x === 0)) return JSON.stringify(text);
      return b.toString('hex');
    }
  }
}

/** Every map that is not a histogram, stack-trace or ring map: what `vigil trace` prints. */
const PRINTABLE = new Set<number>([1, 2, 5, 6, 9, 10]); // hash, array, percpu_hash, percpu_array, lru_hash, lru_percpu_hash

/**
 * A map's contents as text, as `vigil trace` prints it: a log2 histogram for
 * an array of __u64 whose name ends in "hist", otherwise `key => value` lines
 * (integers in decimal, strings quoted, other bytes in hex; per-CPU values
 * summed when they are integers), largest value first, at most `top` lines.
 * undefined for maps with nothing to print this way (rings, stack traces,
 * the .rodata/.bss of globals).
 */
export function formatMap(map: BpfMap, o: { top?: number } = {}): string | undefined {
  if (!PRINTABLE.has(map.type) || map.name.includes('.')) return undefined; // .rodata, .bss: globals
  if (/hist$/.test(map.name) && map.type === 2 && map.valueSize === 8) {
    return `${map.name}:\n${formatHistogram(readHistogram(map))}`;
  }
  const rows: { key: string; value: string; order: bigint }[] = [];
  for (const k of map.keys()) {
    const v = map.lookup(k);
    if (!v) continue;
    let value: string;
    let order = 0n;
    if (map.isPerCpu && [1, 2, 4, 8].includes(map.valueSize)) {
      const stride = Math.ceil(map.valueSize / 8) * 8;
      for (let o = 0; o + map.valueSize <= v.length; o += stride) order += BigInt(scalarText(v.subarray(o, o + map.valueSize)));
      value = String(order);
    } else {
      value = scalarText(v.subarray(0, map.valueSize));
      order = /^\d+$/.test(value) ? BigInt(value) : 0n;
    }
    if (map.type === 2 || map.type === 6) {
      if (order === 0n && /^0*$/.test(v.toString('hex'))) continue; // an array's untouched slots
    }
    rows.push({ key: scalarText(k), value, order });
  }
  rows.sort((a, b) => (b.order > a.order ? 1 : b.order < a.order ? -1 : 0));
  const shown = rows.slice(0, o.top ?? rows.length);
  const more = rows.length - shown.length;
  const width = Math.max(0, ...shown.map((r) => r.key.length));
  return [`${map.name}:`, ...shown.map((r) => `  ${r.key.padStart(width)} => ${r.value}`),
    ...(more > 0 ? [`  (${more} more)`] : [])].join('\n');
}
