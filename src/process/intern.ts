// Interning for the process cache: a churning host describes the same
// binary, working directory, cgroup, capability sets and namespaces for
// thousands of processes, and every event decodes them afresh. Cached
// images share one frozen copy of each value instead, so an image costs its
// own fields only and the decoded copies die young.
//
// Each table is bounded: when full it starts over (what is shared already
// stays shared; new values are shared again from then on). No value is ever
// evicted from an image, so a cleared table costs memory, never correctness.
import type { Capabilities, Namespaces, ProcessFlags } from './types.js';

/** A bounded table of shared values by key. */
export class Interner<T> {
  private readonly table = new Map<string, T>();

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`Interner max must be at least 1, not ${max}`);
  }

  get size(): number {
    return this.table.size;
  }

  /** The shared value for `key`: the one seen first, or `make()` (frozen by the caller) stored now. */
  get(key: string, make: () => T): T {
    const known = this.table.get(key);
    if (known !== undefined) return known;
    if (this.table.size >= this.max) this.table.clear();
    const v = make();
    this.table.set(key, v);
    return v;
  }
}

const STRINGS_MAX = 16_384;
const ARGS_MAX = 8192;
const SETS_MAX = 1024;
/** Arguments longer than this (joined) are not worth a table entry: rarely repeated, and costly as keys. */
const ARGS_KEY_MAX = 512;

const FLAG_NAMES = ['binaryTruncated', 'argsTruncated', 'cwdTruncated', 'binaryError', 'argsError', 'cwdError'] as const;
/** All 64 combinations of ProcessFlags, frozen, by bit mask. */
const FLAG_SETS: readonly ProcessFlags[] = Array.from({ length: 1 << FLAG_NAMES.length }, (_, mask) =>
  Object.freeze(Object.fromEntries(FLAG_NAMES.map((n, i) => [n, (mask & (1 << i)) !== 0])) as unknown as ProcessFlags));

/** The tables of one process cache. */
export class ProcessInterner {
  private readonly strings = new Interner<string>(STRINGS_MAX);
  private readonly argLists = new Interner<readonly string[]>(ARGS_MAX);
  private readonly capSets = new Interner<Capabilities>(SETS_MAX);
  private readonly nsSets = new Interner<Namespaces>(SETS_MAX);

  string(s: string): string;
  string(s: string | undefined): string | undefined;
  string(s: string | undefined): string | undefined {
    if (s === undefined || s.length === 0 || s.length > 4096) return s;
    return this.strings.get(s, () => s);
  }

  args(a: readonly string[]): string[] {
    if (a.length === 0) return EMPTY_ARGS as string[];
    let len = 0;
    for (const s of a) len += s.length + 1;
    if (len > ARGS_KEY_MAX) return a.map((s) => this.string(s));
    // Frozen: the array is shared by every image that ran the same command line.
    return this.argLists.get(a.join('\0'), () => Object.freeze(a.map((s) => this.string(s)))) as string[];
  }

  flags(f: Partial<ProcessFlags> | undefined): ProcessFlags {
    let mask = 0;
    if (f) FLAG_NAMES.forEach((n, i) => {
      if (f[n]) mask |= 1 << i;
    });
    return FLAG_SETS[mask]!;
  }

  /**
   * The last set shared, compared first: an exec storm's processes run with the same credentials
   * and namespaces one after another, and the comparison costs less than the table's key (three
   * 64-bit masks or ten inode numbers made into a string).
   */
  private lastCaps: Capabilities | undefined;
  private lastNs: Namespaces | undefined;

  caps(c: Capabilities | undefined): Capabilities | undefined {
    if (!c) return c;
    const l = this.lastCaps;
    if (l !== undefined && (l === c || (l.effective === c.effective && l.permitted === c.permitted && l.inheritable === c.inheritable))) {
      return l;
    }
    return this.lastCaps = this.capSets.get(`${c.effective}:${c.permitted}:${c.inheritable}`,
      () => Object.freeze({ effective: c.effective, permitted: c.permitted, inheritable: c.inheritable }));
  }

  ns(n: Namespaces | undefined): Namespaces | undefined {
    if (!n) return n;
    const l = this.lastNs;
    if (l !== undefined && (l === n || (l.mnt === n.mnt && l.pid === n.pid && l.pidForChildren === n.pidForChildren
      && l.net === n.net && l.user === n.user && l.uts === n.uts && l.ipc === n.ipc && l.cgroup === n.cgroup
      && l.time === n.time && l.timeForChildren === n.timeForChildren))) return l;
    const key = `${n.uts}:${n.ipc}:${n.mnt}:${n.pid}:${n.pidForChildren}:${n.net}:${n.time}:${n.timeForChildren}:${n.cgroup}:${n.user}`;
    return this.lastNs = this.nsSets.get(key, () => Object.freeze({ ...n }));
  }
}

const EMPTY_ARGS: readonly string[] = Object.freeze([]);
