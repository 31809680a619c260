// A tiny deterministic PRNG (mulberry32): the same sequence for the same seed,
// so a fuzz failure reproduces and a synthetic benchmark input is the same on
// every run. Not for anything that needs unpredictability.

/** Numbers in [0, 1) from a 32-bit seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
