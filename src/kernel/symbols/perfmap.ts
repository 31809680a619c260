// JIT symbols from perf maps (/tmp/perf-PID.map): one "START SIZE name" line per code object,
// START and SIZE in hex (with or without 0x). Written by Node (--perf-basic-prof), the JVM with
// perf-map-agent, LuaJIT, .NET, ... The file only grows while the process runs, so it is read
// incrementally; a later line for the same address wins (code space is reused after GC).
import { findRange } from '../../util/search.js';
import fs from 'node:fs';

export interface PerfMapSymbol {
  name: string;
  start: bigint;
  size: bigint;
}

interface Entry {
  /** The interval this entry answers for (a part of the symbol if a newer one overlaps it). */
  start: bigint;
  end: bigint;
  /** The symbol's own extent, as written. */
  symStart: bigint;
  symEnd: bigint;
  name: string;
  /** Line order: a later definition wins over an earlier overlapping one. */
  seq: number;
}

export class PerfMap {
  private entries: Entry[] = [];
  private sorted: Entry[] | undefined;
  private readBytes = 0;
  private partial = '';
  private seq = 0;

  /** `paths`: where to look, in order (the first that opens is used from then on). */
  constructor(private paths: string[]) {}

  get size(): number {
    return this.entries.length;
  }

  /** The file in use, once one was found. */
  get path(): string | undefined {
    return this.readBytes > 0 ? this.paths[0] : undefined;
  }

  /** Parses perf map text into symbols (exported for tests and tools). */
  static parseLines(text: string): PerfMapSymbol[] {
    const out: PerfMapSymbol[] = [];
    for (const line of text.split('\n')) {
      const e = parseLine(line);
      if (e) out.push({ name: e.name, start: e.symStart, size: e.symEnd - e.symStart });
    }
    return out;
  }

  /** Reads what was appended since the last call. Returns false if no file could be read. */
  refresh(): boolean {
    for (let i = 0; i < this.paths.length; i++) {
      const p = this.paths[i]!;
      let fd: number;
      try {
        fd = fs.openSync(p, 'r');
      } catch {
        continue;
      }
      try {
        if (i !== 0) this.paths = [p, ...this.paths.filter((x) => x !== p)];
        const size = fs.fstatSync(fd).size;
        if (size < this.readBytes) this.reset(); // truncated / rewritten: start over
        if (size === this.readBytes) return true;
        const buf = Buffer.allocUnsafe(size - this.readBytes);
        let done = 0;
        while (done < buf.length) {
          const n = fs.readSync(fd, buf, done, buf.length - done, this.readBytes + done);
          if (n === 0) break;
          done += n;
        }
        this.readBytes += done;
        this.add(buf.toString('utf8', 0, done));
        return true;
      } finally {
        fs.closeSync(fd);
      }
    }
    return false;
  }

  /** Adds perf map text (used by refresh; also for synthetic maps in tests). */
  add(text: string): void {
    const all = this.partial + text;
    const lastNl = all.lastIndexOf('\n');
    // Keep an unterminated last line for the next read: the writer may be mid-line.
    this.partial = lastNl < 0 ? all : all.slice(lastNl + 1);
    const complete = lastNl < 0 ? '' : all.slice(0, lastNl);
    for (const line of complete.split('\n')) {
      const e = parseLine(line);
      if (e) {
        e.seq = this.seq++;
        this.entries.push(e);
        this.sorted = undefined;
      }
    }
  }

  lookup(addr: bigint): PerfMapSymbol | undefined {
    const e = findRange((this.sorted ??= this.buildIndex()), addr);
    return e && { name: e.name, start: e.symStart, size: e.symEnd - e.symStart };
  }

  private reset(): void {
    this.entries = [];
    this.sorted = undefined;
    this.readBytes = 0;
    this.partial = '';
  }

  /**
   * Non-overlapping intervals where the latest definition wins: entries are laid down in line
   * order, each newer one cutting out the parts of older ones it overlaps.
   */
  private buildIndex(): Entry[] {
    const byStart = [...this.entries].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.seq - b.seq));
    // Fast path: nothing overlaps (the common case).
    let overlaps = false;
    for (let i = 1; i < byStart.length; i++) if (byStart[i]!.start < byStart[i - 1]!.end) overlaps = true;
    if (!overlaps) return byStart;
    // Sweep: split into elementary intervals at every boundary, pick the newest covering entry.
    const points = [...new Set(byStart.flatMap((e) => [e.start, e.end]))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out: Entry[] = [];
    const active: Entry[] = [];
    let k = 0;
    for (let i = 0; i + 1 < points.length; i++) {
      const lo = points[i]!;
      const hi = points[i + 1]!;
      while (k < byStart.length && byStart[k]!.start <= lo) active.push(byStart[k++]!);
      for (let j = active.length - 1; j >= 0; j--) if (active[j]!.end <= lo) active.splice(j, 1);
      let best: Entry | undefined;
      for (const e of active) if (e.start <= lo && e.end >= hi && (!best || e.seq > best.seq)) best = e;
      if (!best) continue;
      const prev = out[out.length - 1];
      if (prev && prev.seq === best.seq && prev.end === lo) prev.end = hi;
      else out.push({ ...best, start: lo, end: hi });
    }
    return out;
  }
}

function parseLine(line: string): Entry | undefined {
  const l = line.trim();
  if (!l) return undefined;
  const sp1 = l.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : l.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0) return undefined;
  const a = l.slice(0, sp1).replace(/^0x/i, '');
  const b = l.slice(sp1 + 1, sp2).replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]+$/.test(a) || !/^[0-9a-fA-F]+$/.test(b)) return undefined;
  const start = BigInt('0x' + a);
  const size = BigInt('0x' + b);
  if (size === 0n) return undefined;
  return { start, end: start + size, symStart: start, symEnd: start + size, name: l.slice(sp2 + 1), seq: 0 };
}
