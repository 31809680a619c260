// Calls as the L7 sensor's kernel side delivers them, for the pure parser tests.
import type { ConnParser, L7Pair } from '../src/l7/types.js';

/**
 * Feeds calls to a parser: [egress, bytes, size?, captured?] (size: all the call moved; captured: its head
 * that was sent up, the rest a gap); returns the pairs. Call i's first byte is at i*1000 ns (a write's
 * entry; a read's exit, +100), its last at +100.
 */
export function run(p: ConnParser, calls: [boolean, string | Buffer, number?, number?][], closeAtEnd = false): L7Pair[] {
  const out: L7Pair[] = [];
  let t = 0n;
  for (const [egress, text, size, captured] of calls) {
    const all = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
    const n = size ?? all.length;
    const data = all.subarray(0, Math.min(captured ?? all.length, all.length));
    t += 1000n;
    p.segment(egress, { data, size: n, firstNs: egress ? t : t + 100n, lastNs: t + 100n }, (x) => out.push(x));
  }
  if (closeAtEnd) p.close((x) => out.push(x));
  return out;
}

