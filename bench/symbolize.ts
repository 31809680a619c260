// Time to symbolise a profile of a process with a large binary: a live `node` (the ~100 MB
// executable with a ~110k-function .symtab, plus libc and libstdc++). A synthetic profile of
// `stacks` stacks x `depth` frames is drawn from a pool of `distinct` addresses in the
// process's executable mappings (profiles repeat frames heavily; the pool models that), then
// symbolised stack by stack as the profiler does: once cold (a new Symbolizer: capture, ELF
// parsing, demangling) and once warm (tables cached). Kernel frames: kallsyms load + lookups.
// Peer: binutils addr2line on the same addresses of the node binary, with the agreement of
// function names.
//
// Run alone: node dist/bench/symbolize.js [--stacks N] [--depth N] [--distinct N] [--no-peers]
// From bench/run.ts: `await runSymbolizeBench()` and `symbolizeBenchReport(result)`.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Symbolizer } from '../src/kernel/symbols/index.js';
import { ElfFile, FdSource } from '../src/kernel/elf.js';
import { parseMaps } from '../src/kernel/symbols/maps.js';
import { count, markdownTable, ms } from './table.js';
import { prng } from '../src/util/prng.js';

export interface SymbolizeBenchOptions {
  /** Stacks in the profile (default 5000). */
  stacks?: number;
  /** Frames per stack (default 24). */
  depth?: number;
  /** Distinct user addresses the stacks are drawn from (default 20000). */
  distinct?: number;
  /** Run addr2line as a peer (default true, if installed). */
  peers?: boolean;
  /** Addresses given to addr2line (it takes ~1 ms each on node; default 2000). */
  peerAddresses?: number;
}

export interface SymbolizeBenchResult {
  binary: string;
  binaryBytes: number;
  /** Function symbols in the binary's table. */
  binarySymbols: number;
  stacks: number;
  depth: number;
  frames: number;
  distinct: number;
  captureMs: number;
  /** First symbolisation of every stack by a new Symbolizer (ELF parsing included). */
  coldMs: number;
  /** Part of coldMs spent reading symbol tables (all mapped files hit). */
  elfParseMs: number;
  elfFiles: number;
  /** The same stacks again (tables cached). */
  warmMs: number;
  /** Frames that stayed [unknown] (padding between functions, PLT, unnamed code). */
  unknownShare: number;
  kernel: { loadMs: number; symbols: number; frames: number; lookupMs: number } | undefined;
  kernelError?: string;
  addr2line?: { addresses: number; ms: number; agreement: number };
  /** RSS growth of this process over the cold run (tables, names). */
  rssGrowthBytes: number;
}

async function startTarget(): Promise<{ pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['-e', 'console.log("ready"); setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('node target: no "ready" in 10 s')), 10_000);
    child.stdout.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (c) => reject(new Error(`node target exited (${c})`)));
  });
  return {
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function runSymbolizeBench(opts: SymbolizeBenchOptions = {}): Promise<SymbolizeBenchResult> {
  const stacks = opts.stacks ?? 5000;
  const depth = opts.depth ?? 24;
  const distinct = opts.distinct ?? 20_000;
  const target = await startTarget();
  try {
    const binary = fs.readlinkSync(`/proc/${target.pid}/exe`);
    // The pool: 85% in the binary's text (weighted by size), 15% in the libraries.
    const exec = parseMaps(fs.readFileSync(`/proc/${target.pid}/maps`, 'utf8')).filter((m) => m.perms[2] === 'x' && m.inode !== 0);
    const main = exec.filter((m) => m.path === binary);
    const libs = exec.filter((m) => m.path !== binary);
    const rand = prng(0x5eed);
    const pick = (ms: typeof exec): bigint => {
      const total = ms.reduce((s, m) => s + Number(m.end - m.start), 0);
      let r = Math.floor(rand() * total);
      for (const m of ms) {
        const len = Number(m.end - m.start);
        if (r < len) return m.start + BigInt(r);
        r -= len;
      }
      return ms[0]!.start;
    };
    const pool: bigint[] = [];
    for (let i = 0; i < distinct; i++) pool.push(libs.length && rand() < 0.15 ? pick(libs) : pick(main));
    // Skewed reuse: low pool indices are hot (as in real profiles).
    const profile: bigint[][] = [];
    for (let s = 0; s < stacks; s++) {
      const stack: bigint[] = [];
      for (let d = 0; d < depth; d++) stack.push(pool[Math.floor(rand() ** 2 * pool.length)]!);
      profile.push(stack);
    }

    const rss0 = process.memoryUsage().rss;
    const sym = new Symbolizer();
    let t = performance.now();
    sym.captureProcess(target.pid);
    const captureMs = performance.now() - t;
    t = performance.now();
    let unknown = 0;
    for (const stack of profile) for (const f of sym.symbolizeUser(target.pid, stack)) if (f.kind === 'unknown') unknown++;
    const coldMs = performance.now() - t;
    const stats = sym.stats;
    const rssGrowthBytes = process.memoryUsage().rss - rss0;
    t = performance.now();
    for (const stack of profile) sym.symbolizeUser(target.pid, stack);
    const warmMs = performance.now() - t;

    // Kernel frames: one stack of 16 per user stack, from the kernel's own text symbols.
    let kernel: SymbolizeBenchResult['kernel'];
    let kernelError: string | undefined;
    try {
      t = performance.now();
      const kaddrs = sym.symbolizeKernel([0n]).length; // loads kallsyms
      const loadMs = performance.now() - t;
      const text = fs.readFileSync('/proc/kallsyms', 'latin1').split('\n');
      const kpool = text.filter((_, i) => i % 97 === 0).map((l) => BigInt('0x' + l.split(' ')[0]!) + 4n);
      const kstacks = profile.map(() => Array.from({ length: 16 }, () => kpool[Math.floor(rand() * kpool.length)]!));
      t = performance.now();
      for (const k of kstacks) sym.symbolizeKernel(k);
      kernel = { loadMs, symbols: sym.stats.kernelSymbols, frames: kstacks.length * 16 + kaddrs - 1, lookupMs: performance.now() - t };
    } catch (err) {
      kernelError = (err as Error).message;
    }

    const binarySymbols = tableSize(binary);
    let addr2line: SymbolizeBenchResult['addr2line'];
    if ((opts.peers ?? true) && hasAddr2line()) addr2line = runAddr2line(binary, pool, main, opts.peerAddresses ?? 2000, target.pid);
    sym.close();
    return {
      binary,
      binaryBytes: fs.statSync(binary).size,
      binarySymbols,
      stacks,
      depth,
      frames: stacks * depth,
      distinct,
      captureMs,
      coldMs,
      elfParseMs: stats.elfParseMs,
      elfFiles: stats.elfParsed,
      warmMs,
      unknownShare: unknown / (stacks * depth),
      kernel,
      ...(kernelError ? { kernelError } : {}),
      ...(addr2line ? { addr2line } : {}),
      rssGrowthBytes,
    };
  } finally {
    await target.stop();
  }
}

/** Distinct function addresses in the binary's table. */
function tableSize(binary: string): number {
  const src = FdSource.open(binary);
  try {
    return ElfFile.parse(src, binary).symbols(src).count;
  } finally {
    src.close();
  }
}

function hasAddr2line(): boolean {
  return spawnSync('addr2line', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * addr2line -f on the first `n` pool addresses in the binary (as link-time addresses), timed,
 * and the share whose function name equals ours (both mangled, both without inlining).
 */
function runAddr2line(
  binary: string,
  pool: bigint[],
  main: { start: bigint; end: bigint; fileOffset: bigint }[],
  n: number,
  pid: number,
): SymbolizeBenchResult['addr2line'] {
  const inMain = pool.filter((a) => main.some((m) => a >= m.start && a < m.end)).slice(0, n);
  const raw = new Symbolizer({ demangle: false });
  try {
    raw.captureProcess(pid);
    const ours = raw.symbolizeUser(pid, inMain);
    // Link-time addresses for addr2line: node may be a PIE elsewhere; go through the file offset
    // and assume the text segment's vaddr - offset delta (read from the frame's own mapping).
    const vaddrs = ours.map((f) => f.offset + textDelta(binary));
    const t = performance.now();
    const r = spawnSync('addr2line', ['-f', '-e', binary], { input: vaddrs.map((v) => '0x' + v.toString(16)).join('\n') + '\n', encoding: 'utf8', maxBuffer: 64 << 20 });
    const elapsed = performance.now() - t;
    const lines = r.stdout.split('\n');
    let same = 0;
    ours.forEach((f, i) => {
      const theirs = lines[2 * i] ?? '';
      if (f.kind === 'unknown' ? theirs === '??' : theirs === f.name) same++;
    });
    return { addresses: inMain.length, ms: elapsed, agreement: inMain.length ? same / inMain.length : 0 };
  } finally {
    raw.close();
  }
}

/** vaddr - file offset of the binary's first executable PT_LOAD (readelf, to stay independent). */
function textDelta(binary: string): bigint {
  const out = spawnSync('readelf', ['-lW', binary], { encoding: 'utf8' }).stdout;
  for (const line of out.split('\n')) {
    const m = /^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+\S+\s+\S+\s+\S+\s+(.*?)\s+0x/.exec(line);
    if (m && m[3]!.includes('E')) return BigInt('0x' + m[2]) - BigInt('0x' + m[1]);
  }
  return 0n;
}

export function symbolizeBenchReport(r: SymbolizeBenchResult): string {
  const us = (msv: number, n: number): string => `${((msv * 1000) / n).toFixed(2)} µs`;
  const rows: string[][] = [
    ['capture (/proc/PID/maps, ELF headers, build ids)', ms(r.captureMs), '-'],
    [`cold: ${count(r.stacks)} stacks x ${r.depth} frames, new Symbolizer`, ms(r.coldMs), us(r.coldMs, r.frames)],
    [`  of which reading symbol tables (${r.elfFiles} files)`, ms(r.elfParseMs), '-'],
    ['warm: the same stacks again', ms(r.warmMs), us(r.warmMs, r.frames)],
  ];
  if (r.kernel) {
    rows.push([`kernel: load kallsyms (${count(r.kernel.symbols)} text symbols)`, ms(r.kernel.loadMs), '-']);
    rows.push([`kernel: ${count(r.kernel.frames)} frames`, ms(r.kernel.lookupMs), us(r.kernel.lookupMs, r.kernel.frames)]);
  }
  if (r.addr2line) {
    rows.push([`peer: addr2line -f, ${count(r.addr2line.addresses)} addresses of the binary`, ms(r.addr2line.ms), us(r.addr2line.ms, r.addr2line.addresses)]);
  }
  const lines = [
    `Binary: ${r.binary} (${(r.binaryBytes / 2 ** 20).toFixed(0)} MiB, ${count(r.binarySymbols)} function addresses); ` +
      `${count(r.frames)} frames from ${count(r.distinct)} distinct addresses (85% in the binary, 15% in its libraries).`,
    '',
    markdownTable([{ title: 'step', align: 'left' }, { title: 'time' }, { title: 'per frame' }], rows),
    '',
    `Unknown frames: ${(r.unknownShare * 100).toFixed(1)}% (random addresses also land in padding, PLT and data-in-text). ` +
      `RSS growth over the cold run: ${(r.rssGrowthBytes / 2 ** 20).toFixed(0)} MiB.`,
  ];
  if (r.addr2line) lines.push(`Function names equal to addr2line's: ${(r.addr2line.agreement * 100).toFixed(1)}%.`);
  if (r.kernelError) lines.push(`Kernel frames: ${r.kernelError}`);
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      stacks: { type: 'string' },
      depth: { type: 'string' },
      distinct: { type: 'string' },
      'no-peers': { type: 'boolean' },
    },
  });
  const num = (v: string | undefined, def: number, max: number): number => {
    const n = v === undefined ? def : Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`expected an integer in 1..${max}, got ${v}`);
    return n;
  };
  const result = await runSymbolizeBench({
    stacks: num(values.stacks, 5000, 1_000_000),
    depth: num(values.depth, 24, 127),
    distinct: num(values.distinct, 20_000, 1_000_000),
    peers: !values['no-peers'],
  });
  console.log(symbolizeBenchReport(result));
}
