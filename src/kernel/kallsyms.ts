// /proc/kallsyms: one parser of the format; the kernel's functions by name (policy hooks,
// feature probes) and its text symbols sorted by address for binary search (the profiler).
import fs from 'node:fs';
import { lastAtOrBelow } from '../util/search.js';
import { KernelFileError } from './file-error.js';

/** kallsyms cannot be used: missing, unreadable, or its addresses are hidden (kptr_restrict). */
export class KernelSymbolsError extends KernelFileError {
  override readonly name: string = 'KernelSymbolsError';
  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super(path, `kernel symbols from ${path}: ${reason}`, options);
  }
}

export interface KernelSymbol {
  name: string;
  /** '[kernel]' or the module in brackets ('[ext4]', '[bpf]' for BPF programs). */
  module: string;
  start: bigint;
  /** addr - start of the module's text: _stext for [kernel], the module's lowest symbol otherwise. */
  moduleOffset: bigint;
}

/** One line of kallsyms, as scanKallsyms hands it over (the object is reused: copy what you keep). */
export interface KallsymsLine {
  /** The address in 32-bit halves (no BigInt per line). */
  hi: number;
  lo: number;
  /** The type letter's char code ('T', 't', 'W', 'd', ...). */
  typeChar: number;
  name: string;
  /** '' for the core kernel, else the module in brackets ('[ext4]', '[bpf]'). */
  module: string;
}

/**
 * Calls visit for every well-formed line of kallsyms text, "ffffffff81000000 T _stext" or
 * "ffffffffc0a01000 t ext4_foo\t[ext4]"; returns how many there were. The one parser of
 * the format: the symbolizer's address table and kernelFunctions() both read through it.
 */
export function scanKallsyms(content: string | Buffer, visit: (line: KallsymsLine) => void): number {
  const text = typeof content === 'string' ? content : content.toString('latin1');
  // Addresses are parsed by hand in 32-bit halves: no BigInt and no line strings for the
  // ~10^5 lines; names are slices of the text (cheap in V8).
  const line: KallsymsLine = { hi: 0, lo: 0, typeChar: 0, name: '', module: '' };
  let lines = 0;
  const len = text.length;
  // Next tab in the text (a module name follows one); searched again only once passed, since
  // most lines have none and a per-line search would scan to the end of the file each time.
  let nextTab = text.indexOf('\t');
  let pos = 0;
  while (pos < len) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = len;
    const lineStart = pos;
    const lineEnd = nl;
    pos = nl + 1;
    const p = text.indexOf(' ', lineStart);
    const digits = p - lineStart;
    if (p < 0 || digits < 1 || digits > 16 || p + 3 > lineEnd) continue;
    const hi = digits > 8 ? parseInt(text.slice(lineStart, p - 8), 16) : 0;
    const lo = parseInt(text.slice(Math.max(lineStart, p - 8), p), 16);
    if (Number.isNaN(hi) || Number.isNaN(lo)) continue;
    lines++;
    let nameEnd = lineEnd;
    line.module = '';
    if (nextTab >= 0 && nextTab < p) nextTab = text.indexOf('\t', p);
    if (nextTab >= 0 && nextTab < lineEnd) {
      nameEnd = nextTab;
      line.module = text.slice(nextTab + 1, lineEnd).trim();
    }
    line.hi = hi;
    line.lo = lo;
    line.typeChar = text.charCodeAt(p + 1);
    line.name = text.slice(p + 3, nameEnd);
    visit(line);
  }
  return lines;
}

/** The kernel's functions by name, and the syscalls it only stubs: one scan of kallsyms gives both. */
export interface KernelFunctionIndex {
  /** Text symbols (core and modules), with the address of the first of each name. */
  readonly functions: Map<string, bigint>;
  /** See unimplementedSyscalls(). */
  readonly unimplementedSyscalls: Set<string>;
}

/** A syscall's entry as the architectures name it (__x64_sys_openat, __arm64_sys_openat, ...). */
const SYSCALL_ENTRY = /^__(?:x64|arm64|riscv|s390x|powerpc|loongarch)_sys_(\w+)$/;

/** Both tables of KernelFunctionIndex; null when the file is missing, unreadable or empty. */
export function kernelFunctionIndex(path = '/proc/kallsyms'): KernelFunctionIndex | null {
  let text: string;
  try {
    text = fs.readFileSync(path, 'latin1');
  } catch {
    return null;
  }
  const functions = new Map<string, bigint>();
  const stubs = new Set<string>();
  const implemented = new Set<string>();
  const lines = scanKallsyms(text, ({ hi, lo, typeChar, name, module }) => {
    const t = typeChar | 0x20;
    if (t === 0x74 /* t */ && !functions.has(name)) functions.set(name, (BigInt(hi) << 32n) | BigInt(lo));
    if (module || (t !== 0x74 && t !== 0x77 /* w */)) return;
    const m = SYSCALL_ENTRY.exec(name);
    if (m) (t === 0x77 ? stubs : implemented).add(m[1]!);
  });
  if (lines === 0) return null;
  for (const n of implemented) stubs.delete(n);
  return { functions, unimplementedSyscalls: stubs };
}

/**
 * The kernel's functions (text symbols, core and modules) by name, with the address of the
 * first of that name; null when the file is missing, unreadable or empty. Without
 * CAP_SYSLOG (kernel.kptr_restrict) every address reads 0 but the names are all there.
 */
export function kernelFunctions(path = '/proc/kallsyms'): Map<string, bigint> | null {
  const fns = kernelFunctionIndex(path)?.functions;
  return fns?.size ? fns : null;
}

/**
 * Syscalls this kernel does not implement, by name ("finit_module"): those whose entry
 * (__x64_sys_finit_module, __arm64_sys_...) is still the weak stub kernel/sys_ni.c defines
 * (COND_SYSCALL, returning -ENOSYS), which a real implementation overrides. kallsyms lists
 * the stub as a weak symbol (W) and an implementation as text (T). Null when kallsyms is
 * missing or unreadable.
 */
export function unimplementedSyscalls(path = '/proc/kallsyms'): Set<string> | null {
  return kernelFunctionIndex(path)?.unimplementedSyscalls ?? null;
}

/** A KernelSymbols' fields (see KernelSymbols.parts). */
export interface KernelSymbolsParts {
  path: string;
  base: bigint;
  starts: Float64Array;
  names: readonly string[];
  moduleOf: Uint16Array;
  modules: readonly string[];
  moduleStarts: readonly number[];
  kernelTextEnd: number;
}

/**
 * A snapshot of the kernel's text symbols. Addresses are kept as offsets from the lowest one
 * in a Float64Array (kernel text spans far less than 2^53 bytes) so lookups avoid BigInt maths.
 */
export class KernelSymbols {
  private constructor(
    readonly path: string,
    private readonly base: bigint,
    private readonly starts: Float64Array,
    private readonly names: readonly string[],
    private readonly moduleOf: Uint16Array,
    private readonly modules: readonly string[],
    private readonly moduleStarts: readonly number[],
    /** End of the core kernel's text (_etext), relative to base; Infinity if unknown. */
    private readonly kernelTextEnd: number,
  ) {}

  get count(): number {
    return this.starts.length;
  }

  /** The snapshot's fields, to hand to another thread (structured clone keeps them). */
  parts(): KernelSymbolsParts {
    return { path: this.path, base: this.base, starts: this.starts, names: this.names, moduleOf: this.moduleOf,
      modules: this.modules, moduleStarts: this.moduleStarts, kernelTextEnd: this.kernelTextEnd };
  }

  /** The snapshot parts() gave, as another thread received it. */
  static fromParts(p: KernelSymbolsParts): KernelSymbols {
    return new KernelSymbols(p.path, p.base, p.starts, p.names, p.moduleOf, p.modules, p.moduleStarts, p.kernelTextEnd);
  }

  /** Parses kallsyms (the file's contents). Throws KernelSymbolsError when unusable. */
  static parse(content: string | Buffer, path = '/proc/kallsyms'): KernelSymbols {
    const his: number[] = [];
    const los: number[] = [];
    const names: string[] = [];
    const mods: number[] = [];
    const ranks: number[] = [];
    const modules = ['[kernel]'];
    const moduleIndex = new Map<string, number>([['[kernel]', 0]]);
    let nonZero = 0;
    let etext: [number, number] | undefined;
    let stext: [number, number] | undefined;
    const lines = scanKallsyms(content, (e) => {
      const { hi, lo, typeChar, name } = e;
      if (hi !== 0 || lo !== 0) nonZero++;
      let module = 0;
      if (e.module) {
        let m = moduleIndex.get(e.module);
        if (m === undefined) {
          m = modules.push(e.module) - 1;
          moduleIndex.set(e.module, m);
        }
        module = m;
      }
      if (module === 0 && name === '_etext') etext = [hi, lo];
      if (module === 0 && name === '_stext') stext = [hi, lo];
      const type = typeChar | 0x20; // lower-case
      // Text symbols only (t/T, and w/W weak ones that are code).
      if (type !== 0x74 /* t */ && type !== 0x77 /* w */) return;
      if (hi === 0 && lo === 0) return;
      // Aliases of one address are ranked as perf does: global over weak over local, then
      // fewer leading underscores, then the shorter name (__x64_sys_getpid, not __do_sys_getpid).
      const global = typeChar >= 0x41 && typeChar <= 0x5a;
      let underscores = 0;
      while (underscores < name.length && name.charCodeAt(underscores) === 0x5f) underscores++;
      his.push(hi);
      los.push(lo);
      names.push(name);
      mods.push(module);
      ranks.push((type === 0x77 ? 2 : global ? 0 : 4) * 1_000_000 + underscores * 10_000 + Math.min(name.length, 9_999));
    });
    if (lines === 0) throw new KernelSymbolsError(path, 'the file is empty');
    if (nonZero === 0) {
      throw new KernelSymbolsError(
        path,
        'every address is zero: kernel pointers are hidden (kernel.kptr_restrict is set, or the reader lacks ' +
          'CAP_SYSLOG). Run as root, or `sysctl kernel.kptr_restrict=0`.',
      );
    }
    const n = his.length;
    if (n === 0) throw new KernelSymbolsError(path, 'no text symbols found');
    let baseHi = Infinity;
    for (const h of his) if (h < baseHi) baseHi = h;
    const relOf = (hi: number, lo: number): number => (hi - baseHi) * 0x100000000 + lo;
    const rel = new Float64Array(n);
    for (let i = 0; i < n; i++) rel[i] = relOf(his[i]!, los[i]!);
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => rel[a]! - rel[b]! || ranks[a]! - ranks[b]!);
    let unique = 0;
    for (let k = 0; k < n; k++) if (k === 0 || rel[order[k]!] !== rel[order[k - 1]!]) unique++;
    const starts = new Float64Array(unique);
    const moduleOf = new Uint16Array(unique);
    const keptNames: string[] = new Array<string>(unique);
    const moduleStarts: number[] = modules.map(() => Infinity);
    let j = 0;
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      if (k > 0 && rel[i] === rel[order[k - 1]!]) continue; // a worse-ranked alias
      starts[j] = rel[i]!;
      keptNames[j] = names[i]!;
      moduleOf[j] = mods[i]!;
      if (rel[i]! < moduleStarts[mods[i]!]!) moduleStarts[mods[i]!] = rel[i]!;
      j++;
    }
    const base = BigInt(baseHi) << 32n;
    if (stext && stext[0] >= baseHi) moduleStarts[0] = relOf(stext[0], stext[1]);
    const kernelTextEnd = etext && etext[0] >= baseHi ? relOf(etext[0], etext[1]) : Infinity;
    return new KernelSymbols(path, base, starts, keptNames, moduleOf, modules, moduleStarts, kernelTextEnd);
  }

  static load(path = '/proc/kallsyms'): KernelSymbols {
    let text: string;
    try {
      text = fs.readFileSync(path, 'latin1');
    } catch (err) {
      throw new KernelSymbolsError(path, `cannot read: ${(err as Error).message}`, { cause: err });
    }
    return KernelSymbols.parse(text, path);
  }

  lookup(addr: bigint): KernelSymbol | undefined {
    if (addr < this.base) return undefined;
    const rel = Number(addr - this.base);
    const starts = this.starts;
    const found = lastAtOrBelow(starts, rel);
    if (found < 0) return undefined;
    const module = this.moduleOf[found]!;
    // A symbol extends to the next one; past the kernel's _etext or the last symbol of a
    // module (by more than a page-sized function), the address is not known code.
    if (module === 0 && rel >= this.kernelTextEnd) return undefined;
    const next = found + 1 < starts.length ? starts[found + 1]! : Infinity;
    if (next === Infinity || this.moduleOf[found + 1] !== module) {
      if (rel - starts[found]! > 0x10000) return undefined;
    }
    const start = this.base + BigInt(starts[found]!);
    const modStart = this.moduleStarts[module]!;
    return {
      name: this.names[found]!,
      module: this.modules[module]!,
      start,
      moduleOffset: BigInt(rel - (Number.isFinite(modStart) ? modStart : starts[found]!)),
    };
  }
}
