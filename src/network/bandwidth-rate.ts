// Rates and priorities as `vigil bandwidth set` takes them, and the current
// rate from the kernel's per-CPU windows: pure, no kernel.
//
// Rates are written as tc writes them: a number and a unit, bits per second
// with SI prefixes ("10mbit", "1.5gbit", "500kbit"), IEC ones ("10mibit"), or
// bytes per second ("1mbps" = 8 mbit, as tc means it). A bare number is
// refused: tc reads it as bytes per second, which surprises everyone once.
import { VIGIL_BW_RATE_WINDOW_MS, type VigilBwClassStats } from '../generated/bandwidth.js';

const BITS: Record<string, number> = {
  bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12,
  kibit: 1024, mibit: 1024 ** 2, gibit: 1024 ** 3, tibit: 1024 ** 4,
  bps: 8, kbps: 8e3, mbps: 8e6, gbps: 8e9, tbps: 8e12,
};

/** Lowest and highest rates a class may have, in bits per second. */
export const MIN_RATE_BITS = 8_000;
export const MAX_RATE_BITS = 400e9;

/** Bits per second for `text`, or a reason it is not a rate. */
export function parseRate(text: string): { bits: number } | { error: string } {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? BITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    return { error: `expected a rate such as 10mbit, 500kbit or 1gbit (units: ${Object.keys(BITS).join(', ')}), got "${text}"` };
  }
  const bits = Math.round(Number(m[1]) * unit);
  if (bits < MIN_RATE_BITS || bits > MAX_RATE_BITS) {
    return { error: `expected a rate from ${formatRate(MIN_RATE_BITS)} to ${formatRate(MAX_RATE_BITS)}, got "${text}"` };
  }
  return { bits };
}

/** "10mbit", "1.5gbit", "800kbit": the largest SI unit that keeps the number >= 1. */
export function formatRate(bits: number): string {
  for (const [unit, size] of [['tbit', 1e12], ['gbit', 1e9], ['mbit', 1e6], ['kbit', 1e3]] as const) {
    if (bits >= size) return `${Number((bits / size).toFixed(3))}${unit}`;
  }
  return `${Math.round(bits)}bit`;
}

/** Names for the skb priorities fq's default priomap puts in each band (linux/pkt_sched.h TC_PRIO_*). */
export const PRIORITY_NAMES: Record<string, number> = { besteffort: 0, bulk: 2, interactive: 6 };

/** TC_PRIO_CONTROL: fq serves it from its internal queue, which is never paced. */
export const PRIORITY_CONTROL = 7;

/** An skb priority (0..15) from a number or a name, or a reason it is not one. */
export function parsePriority(text: string): { priority: number } | { error: string } {
  const named = PRIORITY_NAMES[text.toLowerCase()];
  if (named !== undefined) return { priority: named };
  if (/^\d+$/.test(text) && Number(text) <= 15) return { priority: Number(text) };
  return { error: `expected 0..15 or one of ${Object.keys(PRIORITY_NAMES).join(', ')}, got "${text}"` };
}

/** Default burst: what the class sends in this long at its rate after being idle. */
export const DEFAULT_BURST_NS = 10_000_000n;

/** The burst in bytes for a rate, given a burst in bytes or the default (DEFAULT_BURST_NS worth). */
export function burstBytes(rateBits: number, burst?: number): number {
  return burst ?? Math.max(1, Math.round((rateBits / 8) * (Number(DEFAULT_BURST_NS) / 1e9)));
}

/** The same burst as time at the rate: how far the class's departure clock may lag behind now. */
export function burstNs(rateBits: number, bytes: number): bigint {
  return rateBits ? BigInt(Math.round((bytes * 8 * 1e9) / rateBits)) : 0n;
}

/**
 * The class's rate now: per CPU, the bytes of its last complete window over
 * that window's length, for CPUs whose current window started recently
 * enough (an idle CPU's last window is history, not the present).
 */
export function currentRate(per: readonly VigilBwClassStats[], nowNs: bigint): number {
  const window = BigInt(VIGIL_BW_RATE_WINDOW_MS) * 1_000_000n;
  let bits = 0;
  for (const s of per) {
    if (!s.prev_ns || nowNs - s.win_start_ns > 2n * window) continue;
    bits += (Number(s.prev_bytes) * 8 * 1e9) / Number(s.prev_ns);
  }
  return Math.round(bits);
}
