// Who a parent process is: pid -> binary, learned from exec events and, for
// processes that were running before Vigil (or forked without exec'ing),
// read once from /proc/<pid>/exe. Bounded: the least recently used entry
// goes first. Entries carry the process start time, so a pid reused by
// another process is never taken for the old one.
//
// The full process cache (fork/exit, exec ids, ancestry) replaces this.
import { readFileSync, readlinkSync } from 'node:fs';
import type { ExecProcess } from './events.js';

export interface ParentInfo {
  pid: number;
  startBootNs: bigint;
  binary: string | undefined;
  process?: ExecProcess;
  source: 'exec' | 'procfs' | 'unknown';
}

/** /proc/<pid>/stat starttime is in clock ticks: USER_HZ, 100 on every Linux ABI Node runs on. */
const NS_PER_TICK = 10_000_000n;

export class ParentCache {
  private readonly entries = new Map<number, ParentInfo>();
  /** Lookups answered from /proc and how many of those failed. */
  readonly stats = { hits: 0, procfs: 0, unknown: 0 };

  constructor(readonly capacity = 8192, private readonly procRoot = '/proc') {}

  get size(): number {
    return this.entries.size;
  }

  /** Records what an exec made of pid. */
  remember(p: ExecProcess): void {
    this.put({ pid: p.pid, startBootNs: p.startBootNs, binary: p.binary, process: p, source: 'exec' });
  }

  /** The process that is pid and started at startBootNs (boot ns, from the kernel). */
  lookup(pid: number, startBootNs: bigint): ParentInfo {
    const e = this.entries.get(pid);
    if (e && e.startBootNs === startBootNs) {
      this.entries.delete(pid);
      this.entries.set(pid, e);
      this.stats.hits++;
      return e;
    }
    const fromProc = this.readProc(pid, startBootNs);
    this.put(fromProc);
    return fromProc;
  }

  private put(e: ParentInfo): void {
    this.entries.delete(e.pid);
    this.entries.set(e.pid, e);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  private readProc(pid: number, startBootNs: bigint): ParentInfo {
    const unknown: ParentInfo = { pid, startBootNs, binary: undefined, source: 'unknown' };
    if (pid <= 0) return unknown;
    let binary: string;
    let stat: string;
    try {
      binary = readlinkSync(`${this.procRoot}/${pid}/exe`);
      stat = readFileSync(`${this.procRoot}/${pid}/stat`, 'latin1');
    } catch {
      // Gone already, or a kernel thread (no exe).
      this.stats.unknown++;
      return unknown;
    }
    // Field 22, counted after the ")" that ends comm (comm may hold spaces and parentheses).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = fields[19];
    if (ticks === undefined || BigInt(ticks) !== startBootNs / NS_PER_TICK) {
      this.stats.unknown++;
      return unknown; // the pid belongs to another process now
    }
    this.stats.procfs++;
    return { pid, startBootNs, binary, source: 'procfs' };
  }
}
