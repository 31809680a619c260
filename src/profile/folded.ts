// Folded stacks (Brendan Gregg's stackcollapse format): one line per unique
// stack, frames root first separated by ';', a space, then the value.
// The root frame is the process name (and the thread name next when it
// differs); values are samples on-CPU and microseconds off-CPU, as
// flamegraph.pl, speedscope and inferno expect.
import { stackPath, stackWeight, type Profile, type StackPathOptions } from './profile.js';

/** A frame name made safe for the format: no ';' (the separator) and no line breaks. */
export function foldedName(name: string): string {
  return name.replace(/;/g, ':').replace(/[\r\n]+/g, ' ');
}

/** [stack, value] pairs, merged and sorted by stack. */
export function foldedEntries(p: Profile, opts: StackPathOptions = {}): [string, number][] {
  const merged = new Map<string, number>();
  for (const s of p.stacks) {
    const w = stackWeight(p, s);
    if (w <= 0) continue;
    const key = stackPath(s, opts).map((f) => foldedName(f.name)).join(';');
    merged.set(key, (merged.get(key) ?? 0) + w);
  }
  return [...merged.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

export function toFolded(p: Profile, opts: StackPathOptions = {}): string {
  return foldedEntries(p, opts).map(([k, v]) => `${k} ${v}\n`).join('');
}

/** Parses folded text back into [frames, value] (for tests and tools). */
export function parseFolded(text: string): [string[], number][] {
  const out: [string[], number][] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const sp = line.lastIndexOf(' ');
    if (sp < 0) throw new Error(`folded line without a value: ${line.slice(0, 80)}`);
    out.push([line.slice(0, sp).split(';'), Number(line.slice(sp + 1))]);
  }
  return out;
}
