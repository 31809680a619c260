// Symbolizer: the facade that turns sampled addresses into named frames.
//
// User frames: address -> executable mapping captured from /proc/PID/maps -> offset in the
// mapped file -> link-time virtual address through the file's PT_LOAD segments -> function in
// .symtab/.dynsym. Going through the file offset removes the load bias of PIEs and shared
// libraries without computing it. Parsed tables are cached by build id (else by device, inode,
// mtime and size), in an LRU. JIT frames come from perf maps, kernel frames from kallsyms.
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { demangle } from './demangle.js';
import { BufferSource, ElfFile, FdSource, SymbolTable, type ByteSource } from '../elf.js';
import { readFunctionTable } from './table.js';
import type { TableReply, TableRequest } from './table-worker.js';
import { KernelSymbols } from '../kallsyms.js';
import { fileKeyOf, parseMaps, parseNsPid, ProcessSnapshot, readProcText, type ExecMapping } from './maps.js';
import { PerfMap } from './perfmap.js';
import type { Frame, Mapping, ProcessName, SymbolizerOptions, SymbolizerStats } from './types.js';

export type { Frame, FrameKind, Mapping, ProcessName, SymbolizerOptions, SymbolizerStats } from './types.js';
export { KernelSymbolsError } from '../kallsyms.js';

/** Files kept open between capture and first symbolisation (so they resolve after exit). */
const MAX_OPEN_FILES = 128;
/** Mapped files remembered (headers and build ids; their tables are bounded separately). */
const MAX_FILES = 4096;
const CANNOT_OPEN = 'cannot open';
const CANNOT_REOPEN = 'cannot open again';
/** Threads that parse symbol tables in the background (parseInBackground), at most one a CPU. */
const PARSING_THREADS = 2;
/** Parsing threads told to stop and not exited yet, of every symbolizer. */
const exitingThreads = new Set<Promise<unknown>>();
/** Omit over each member of a union. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** Reload kallsyms on a miss at most this often (modules and BPF programs come and go). */
const KALLSYMS_RELOAD_MS = 5_000;

/** A parsed symbol table and the display names of the functions looked up so far. */
interface CachedTable {
  table: SymbolTable;
  /** Demangled names by function index, filled on first use (hot frames repeat a lot). */
  names: (string | undefined)[];
}

/** A mapped file the symbolizer has seen, by device:inode. */
interface FileEntry {
  key: string;
  /** Path as the process saw it (for messages and Frame.module). */
  path: string;
  elf: ElfFile | undefined;
  /** Why the file could not be read, if so. */
  error?: string;
  /** Open from capture until its symbols are read; bounded by MAX_OPEN_FILES. */
  source: ByteSource | undefined;
  /** Ways to open it again: map_files of a live process, its root, the host path. */
  openers: string[];
  /** Key of its symbol table in the table cache: build id, else device:inode:mtime:size. */
  tableKey: string;
}

export class Symbolizer {
  private readonly procRoot: string;
  private readonly kallsymsPath: string;
  private readonly perfMapDir: string;
  private readonly maxTables: number;
  private readonly demangleNames: boolean;

  private readonly processes = new Map<number, ProcessSnapshot>();
  private readonly perfMaps = new Map<number, PerfMap>();
  private readonly files = new Map<string, FileEntry>();
  /** LRU (Map insertion order) of parsed symbol tables by build id / device:inode. */
  private readonly tables = new Map<string, CachedTable>();
  private readonly openFiles = new Set<FileEntry>();
  private kernel: KernelSymbols | undefined;
  private kernelLoadedAt = 0;
  private vdso: { elf: ElfFile; table: SymbolTable } | null | undefined;
  private closed = false;
  /** The parsing threads (parseInBackground), started on the first prefetch, and what each has on its way. */
  private workers: { worker: Worker; busy: number }[] = [];
  /** Prefetches in flight, by request id. */
  private readonly inFlight = new Map<number, { land: (r: TableReply | undefined) => void; done: () => void; thread: { busy: number } }>();
  /** Table keys of the files on their way, and whether kallsyms is. */
  private readonly inFlightKeys = new Set<string>();
  private kernelInFlight = false;
  private readonly inFlightDone: Promise<void>[] = [];
  private nextRequest = 1;

  private readonly counters = { captures: 0, elfParsed: 0, elfParseMs: 0, lookups: 0, unknown: 0 };

  constructor(readonly options: SymbolizerOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
    this.kallsymsPath = options.kallsyms ?? path.join(this.procRoot, 'kallsyms');
    this.perfMapDir = options.perfMapDir ?? '/tmp';
    this.maxTables = Math.max(1, options.maxCachedFiles ?? 64);
    this.demangleNames = options.demangle ?? true;
  }

  /**
   * Snapshot /proc/PID/maps, comm, exe and the perf map while the process lives. Idempotent
   * and cheap when the maps did not change (one read of the maps file, and of what a perf map
   * gained). Returns false if the process is gone; what was captured earlier is kept.
   * Call it when a pid first appears and again each interval, before symbolising its stacks:
   * that keeps JIT names current (a perf map is otherwise re-read only on a miss).
   */
  captureProcess(pid: number): boolean {
    this.checkOpen();
    const dir = path.join(this.procRoot, String(pid));
    const mapsText = readProcText(path.join(dir, 'maps'));
    const comm = readProcText(path.join(dir, 'comm'));
    let snap = this.processes.get(pid);
    if (mapsText === undefined || comm === undefined) {
      if (snap) snap.alive = false;
      return false;
    }
    if (!snap) {
      snap = new ProcessSnapshot(pid);
      this.processes.set(pid, snap);
    }
    snap.alive = true;
    snap.comm = comm.trimEnd();
    // Kernel threads have no maps (and no exe): the comm is all there is.
    if (mapsText === '') return true;
    if (mapsText === snap.lastMaps) {
      this.perfMaps.get(pid)?.refresh();
      return true;
    }

    this.counters.captures++;
    // Maps change on exec too: read the exe again.
    try {
      snap.exe = fs.readlinkSync(path.join(dir, 'exe'));
    } catch {
      snap.exe = '';
    }
    if (snap.lastMaps === '') {
      const status = readProcText(path.join(dir, 'status'));
      if (status) snap.nsPid = parseNsPid(status, pid);
    }
    snap.lastMaps = mapsText;
    const fresh: ExecMapping[] = [];
    for (const line of parseMaps(mapsText)) {
      if (line.perms[2] !== 'x') continue;
      const fileKey = fileKeyOf(line);
      let buildId: string | undefined;
      if (fileKey) buildId = this.fileEntry(fileKey, line.path, this.openers(pid, line)).elf?.buildId;
      const m: ExecMapping = {
        start: line.start,
        end: line.end,
        fileOffset: line.fileOffset,
        path: line.path,
        dev: line.dev,
        inode: line.inode,
        fileKey,
        ...(buildId !== undefined ? { buildId } : {}),
      };
      fresh.push(m);
    }
    snap.update(fresh);
    this.capturePerfMap(pid, snap);
    return true;
  }

  /**
   * With parseInBackground: starts parsing, on the worker threads, the symbol tables of the
   * files that pid's user addresses fall in (those not cached or on their way). A no-op
   * otherwise, and for a process not captured.
   */
  prefetch(pid: number, addrs: readonly bigint[]): void {
    if (!this.options.parseInBackground || this.closed) return;
    const snap = this.processes.get(pid);
    if (!snap) return;
    let last: ExecMapping | undefined;
    for (const addr of addrs) {
      if (last && addr >= last.start && addr < last.end) continue;
      const m = snap.find(addr);
      if (!m) continue;
      last = m;
      const entry = m.fileKey ? this.files.get(m.fileKey) : undefined;
      if (!entry?.elf || entry.error || this.tables.has(entry.tableKey) || this.inFlightKeys.has(entry.tableKey)) continue;
      // No more on their way than the cache holds: past that a table would evict one before it.
      if (this.inFlightKeys.size >= this.maxTables) return;
      this.inFlightKeys.add(entry.tableKey);
      this.request({ kind: 'file', openers: entry.openers }, (r) => {
        this.inFlightKeys.delete(entry.tableKey);
        if (r?.ok !== true || r.kind !== 'file' || this.tables.has(entry.tableKey)) return;
        // The thread opened the file by path: keep its table only if it is the file captured
        // (same build id, else same size and modification time).
        const same = entry.elf?.buildId !== undefined ? r.buildId === entry.elf.buildId : entry.tableKey.endsWith(`:${r.mtimeMs}:${r.size}`);
        if (!same) return;
        this.counters.elfParsed++;
        this.cacheTable(entry, SymbolTable.fromParts(r.parts));
      });
    }
  }

  /** With parseInBackground: starts reading kallsyms on a worker thread, if not read yet. */
  prefetchKernel(): void {
    if (!this.options.parseInBackground || this.closed || this.kernel || this.kernelInFlight) return;
    this.kernelInFlight = true;
    this.request({ kind: 'kernel', path: this.kallsymsPath }, (r) => {
      this.kernelInFlight = false;
      // A failure is met again, and reported, by the lookup that reads it here.
      if (r?.ok === true && r.kind === 'kernel' && !this.kernel) {
        this.kernel = KernelSymbols.fromParts(r.parts);
        this.kernelLoadedAt = Date.now();
      }
    });
  }

  /** Resolves when every prefetch started so far has landed (or failed: then the lookup parses). */
  async idle(): Promise<void> {
    while (this.inFlightDone.length) await Promise.all(this.inFlightDone.splice(0));
  }

  /** Sends a request to the least busy parsing thread; land is called with the reply (undefined if the thread died). */
  private request(req: DistributiveOmit<TableRequest, 'id'>, land: (r: TableReply | undefined) => void): void {
    if (!this.workers.length) {
      const n = Math.max(1, Math.min(PARSING_THREADS, os.availableParallelism()));
      for (let i = 0; i < n; i++) {
        const w = new Worker(new URL('./table-worker.js', import.meta.url));
        w.unref();
        w.on('message', (r: TableReply) => this.landed(r.id, r));
        // A thread that fails or ends leaves the lookups to parse on this one (nothing waits on it).
        w.on('error', () => this.dropWorkers());
        w.on('exit', () => {
          if (this.workers.some((x) => x.worker === w)) this.dropWorkers();
        });
        this.workers.push({ worker: w, busy: 0 });
      }
    }
    const w = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextRequest++;
    w.busy++;
    this.inFlightDone.push(new Promise<void>((done) => this.inFlight.set(id, { land, done, thread: w })));
    w.worker.postMessage({ ...req, id } as TableRequest);
  }

  private landed(id: number, r: TableReply | undefined): void {
    const req = this.inFlight.get(id);
    if (!req) return;
    this.inFlight.delete(id);
    req.thread.busy--;
    try {
      if (!this.closed) req.land(r);
    } finally {
      req.done();
    }
  }

  /** Resolves when the parsing threads every closed symbolizer stopped have exited (their descriptors closed). */
  static async threadsExited(): Promise<void> {
    await Promise.all([...exitingThreads]);
  }

  private dropWorkers(): void {
    for (const w of this.workers) {
      const exited: Promise<unknown> = w.worker.terminate().catch(() => undefined).finally(() => exitingThreads.delete(exited));
      exitingThreads.add(exited);
    }
    this.workers = [];
    for (const id of [...this.inFlight.keys()]) this.landed(id, undefined);
  }

  /** Drop what was captured for pid. */
  forget(pid: number): void {
    this.processes.delete(pid);
    this.perfMaps.delete(pid);
  }

  /**
   * Drop every captured process that has exited; returns how many. A continuous profiler
   * calls it after writing each interval's profile, so memory stays bounded.
   */
  forgetExited(): number {
    let n = 0;
    for (const pid of [...this.processes.keys()]) {
      if (!fs.existsSync(path.join(this.procRoot, String(pid)))) {
        this.forget(pid);
        n++;
      }
    }
    return n;
  }

  /** User-space addresses of process pid (a tgid), one Frame per address, in order. */
  symbolizeUser(pid: number, addrs: readonly bigint[]): Frame[] {
    this.checkOpen();
    let snap = this.processes.get(pid);
    if (!snap && this.captureProcess(pid)) snap = this.processes.get(pid);
    const perfMap = { refreshed: false };
    return addrs.map((addr) => this.userFrame(pid, snap, addr, perfMap));
  }

  /** Kernel addresses, one Frame per address. Throws KernelSymbolsError if kallsyms is unusable. */
  symbolizeKernel(addrs: readonly bigint[]): Frame[] {
    this.checkOpen();
    let ks = this.kernelSymbols();
    return addrs.map((addr) => {
      this.counters.lookups++;
      let sym = ks.lookup(addr);
      if (!sym && Date.now() - this.kernelLoadedAt > KALLSYMS_RELOAD_MS) {
        this.kernel = undefined;
        ks = this.kernelSymbols();
        sym = ks.lookup(addr);
      }
      if (!sym) {
        this.counters.unknown++;
        return { name: `[unknown] ${hex(addr)}`, module: '', offset: 0n, addr, kind: 'unknown', symbolOffset: 0n };
      }
      return { name: sym.name, module: sym.module, offset: sym.moduleOffset, addr, kind: 'kernel', symbolOffset: addr - sym.start };
    });
  }

  /** Either of the above (issue7.md's sketch). */
  symbolize(pid: number, addrs: readonly bigint[], kernel: boolean): Frame[] {
    return kernel ? this.symbolizeKernel(addrs) : this.symbolizeUser(pid, addrs);
  }

  /** comm and exe captured for pid (captures on demand if the process is alive). */
  processName(pid: number): ProcessName | undefined {
    let snap = this.processes.get(pid);
    if (!snap && !this.closed && this.captureProcess(pid)) snap = this.processes.get(pid);
    return snap ? { comm: snap.comm, exe: snap.exe } : undefined;
  }

  /** The executable mappings captured for pid (for pprof Mapping tables). */
  mappings(pid: number): readonly Mapping[] {
    return this.processes.get(pid)?.mappings ?? [];
  }

  get stats(): SymbolizerStats {
    return {
      processes: this.processes.size,
      captures: this.counters.captures,
      elfParsed: this.counters.elfParsed,
      elfCached: this.tables.size,
      elfParseMs: this.counters.elfParseMs,
      lookups: this.counters.lookups,
      unknown: this.counters.unknown,
      kernelSymbols: this.kernel?.count ?? 0,
    };
  }

  /** Release caches and the files kept open since capture. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropWorkers();
    for (const f of this.openFiles) f.source?.close();
    this.openFiles.clear();
    this.files.clear();
    this.tables.clear();
    this.processes.clear();
    this.perfMaps.clear();
    this.kernel = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ---------------------------------------------------------------- user frames

  private userFrame(pid: number, snap: ProcessSnapshot | undefined, addr: bigint, perfMap: { refreshed: boolean }): Frame {
    this.counters.lookups++;
    const m = snap?.find(addr);
    if (m && m.fileKey) {
      const fileOff = addr - m.start + m.fileOffset;
      // (An entry evicted since the capture is made again, from the live or the host path.)
      const entry = this.files.get(m.fileKey) ?? this.fileEntry(m.fileKey, m.path, this.openers(pid, m));
      const hit = this.lookupFile(entry, fileOff);
      if (hit) return { name: hit.name, module: m.path, offset: fileOff, addr, kind: 'user', symbolOffset: hit.symbolOffset, mapping: m };
    } else if (m && m.path === '[vdso]') {
      const hit = this.lookupVdso(addr - m.start + m.fileOffset);
      if (hit) return { name: hit.name, module: '[vdso]', offset: addr - m.start, addr, kind: 'user', symbolOffset: hit.symbolOffset, mapping: m };
    }
    // JIT code lives in anonymous memory; a perf map may also name code in a file mapping
    // that has no symbol for it.
    const pm = this.perfMaps.get(pid);
    if (pm) {
      let sym = pm.lookup(addr);
      if (!sym && !perfMap.refreshed && snap?.alive) {
        perfMap.refreshed = true;
        pm.refresh();
        sym = pm.lookup(addr);
      }
      if (sym) {
        return {
          name: sym.name,
          module: m && m.path && !m.fileKey ? m.path : '[perf-map]',
          offset: m ? addr - m.start + m.fileOffset : addr - sym.start,
          addr,
          kind: 'jit',
          symbolOffset: addr - sym.start,
          ...(m ? { mapping: m } : {}),
        };
      }
    }
    this.counters.unknown++;
    if (!m) return { name: `[unknown] ${hex(addr)}`, module: '', offset: 0n, addr, kind: 'unknown', symbolOffset: 0n };
    const off = addr - m.start + m.fileOffset;
    const mod = m.path ? path.basename(m.path) || m.path : '[anon]';
    return { name: `[unknown] ${hex(addr)} (${mod}+${hex(off)})`, module: m.path, offset: off, addr, kind: 'unknown', symbolOffset: 0n, mapping: m };
  }

  private lookupFile(entry: FileEntry, fileOff: bigint): { name: string; symbolOffset: bigint } | undefined {
    const elf = entry.elf;
    if (!elf) return undefined;
    const cached = this.tableFor(entry);
    if (!cached) return undefined;
    const vaddr = elf.fileOffsetToVaddr(Number(fileOff));
    if (vaddr === undefined) return undefined;
    const i = cached.table.find(vaddr);
    if (i < 0) return undefined;
    let name = cached.names[i];
    if (name === undefined) {
      const raw = cached.table.name(i);
      name = cached.names[i] = this.demangleNames ? demangle(raw) : raw;
    }
    return { name, symbolOffset: BigInt(vaddr - cached.table.start(i)) };
  }

  private lookupVdso(fileOff: bigint): { name: string; symbolOffset: bigint } | undefined {
    if (this.vdso === undefined) this.vdso = loadOwnVdso(this.procRoot);
    if (!this.vdso) return undefined;
    const vaddr = this.vdso.elf.fileOffsetToVaddr(Number(fileOff));
    const sym = vaddr === undefined ? undefined : this.vdso.table.lookup(vaddr);
    // vDSO functions are C (__vdso_clock_gettime): no demangling.
    return sym && vaddr !== undefined ? { name: sym.name, symbolOffset: BigInt(vaddr - sym.start) } : undefined;
  }

  /** The file's symbol table: from the LRU, else parsed now (from the open source or reopened). */
  private tableFor(entry: FileEntry): CachedTable | undefined {
    const cached = this.tables.get(entry.tableKey);
    if (cached) {
      this.tables.delete(entry.tableKey);
      this.tables.set(entry.tableKey, cached);
      this.releaseSource(entry);
      return cached;
    }
    const elf = entry.elf;
    if (!elf || entry.error) return undefined;
    const source = entry.source ?? openFirst(entry.openers);
    if (!source) {
      // Gone (the process exited and the path is not reachable): do not retry every frame.
      entry.error = CANNOT_REOPEN;
      return undefined;
    }
    const t0 = performance.now();
    let table: SymbolTable;
    try {
      table = readFunctionTable(elf, source);
    } catch (err) {
      entry.error = (err as Error).message;
      table = SymbolTable.empty;
    } finally {
      if (source !== entry.source) source.close();
      this.releaseSource(entry);
    }
    this.counters.elfParsed++;
    this.counters.elfParseMs += performance.now() - t0;
    return this.cacheTable(entry, table);
  }

  /** Into the LRU, its oldest table out past the bound; the file's kept descriptor is let go. */
  private cacheTable(entry: FileEntry, table: SymbolTable): CachedTable {
    const cachedTable: CachedTable = { table, names: [] };
    this.tables.set(entry.tableKey, cachedTable);
    while (this.tables.size > this.maxTables) {
      const oldest = this.tables.keys().next().value as string;
      this.tables.delete(oldest);
    }
    this.releaseSource(entry);
    return cachedTable;
  }

  private releaseSource(entry: FileEntry): void {
    if (!entry.source) return;
    entry.source.close();
    entry.source = undefined;
    this.openFiles.delete(entry);
  }

  /** Ways to open a mapped file: map_files (even if deleted), the process's root, the host path. */
  private openers(pid: number, m: { start: bigint; end: bigint; path: string }): string[] {
    const dir = path.join(this.procRoot, String(pid));
    return [path.join(dir, 'map_files', `${m.start.toString(16)}-${m.end.toString(16)}`), path.join(dir, 'root', m.path), m.path];
  }

  /** The entry for a mapped file, parsing its ELF header on first sight. */
  private fileEntry(key: string, filePath: string, openers: string[]): FileEntry {
    const existing = this.files.get(key);
    if (existing && !(existing.error === CANNOT_OPEN && !existing.elf)) {
      // A newer live process is a better way to reopen the file later (and worth a new try).
      existing.openers = [...openers, ...existing.openers.filter((o) => !openers.includes(o))].slice(0, 6);
      if (existing.error === CANNOT_REOPEN) delete existing.error;
      return existing;
    }
    const entry: FileEntry = { key, path: filePath, elf: undefined, source: undefined, openers, tableKey: key };
    this.files.set(key, entry);
    if (this.files.size > MAX_FILES) {
      const oldest = this.files.values().next().value as FileEntry;
      this.releaseSource(oldest);
      this.files.delete(oldest.key);
    }
    const source = openFirst(openers);
    if (!source) {
      entry.error = CANNOT_OPEN;
      return entry;
    }
    try {
      entry.elf = ElfFile.parse(source, filePath);
      entry.tableKey = entry.elf.buildId ?? `${key}:${source.mtimeMs}:${source.size}`;
    } catch (err) {
      entry.error = (err as Error).message;
      source.close();
      return entry;
    }
    if (this.tables.has(entry.tableKey)) {
      source.close();
      return entry;
    }
    // Keep it open so it can be read after the process exits (container paths vanish then).
    entry.source = source;
    this.openFiles.add(entry);
    if (this.openFiles.size > MAX_OPEN_FILES) {
      const oldest = this.openFiles.values().next().value as FileEntry;
      this.releaseSource(oldest);
    }
    return entry;
  }

  private capturePerfMap(pid: number, snap: ProcessSnapshot): void {
    let pm = this.perfMaps.get(pid);
    if (!pm) {
      const file = `perf-${snap.nsPid}.map`;
      const candidates = [path.join(this.procRoot, String(pid), 'root', this.perfMapDir, file)];
      if (snap.nsPid === pid) candidates.push(path.join(this.perfMapDir, file));
      pm = new PerfMap(candidates);
      // Only track processes that have one (most do not).
      if (!pm.refresh()) return;
      this.perfMaps.set(pid, pm);
    } else {
      pm.refresh();
    }
  }

  private kernelSymbols(): KernelSymbols {
    if (this.kernel) return this.kernel;
    try {
      this.kernel = KernelSymbols.load(this.kallsymsPath);
    } finally {
      this.kernelLoadedAt = Date.now();
    }
    return this.kernel;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('Symbolizer is closed');
  }
}

function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}

function openFirst(paths: readonly string[]): FdSource | undefined {
  for (const p of paths) {
    try {
      return FdSource.open(p);
    } catch {
      // try the next way to reach the file
    }
  }
  return undefined;
}

/** The vDSO is the same image in every process: read ours from memory, once. */
function loadOwnVdso(procRoot: string): { elf: ElfFile; table: SymbolTable } | null {
  try {
    const maps = parseMaps(fs.readFileSync(path.join(procRoot, 'self', 'maps'), 'utf8'));
    const v = maps.find((l) => l.path === '[vdso]');
    if (!v) return null;
    const len = Number(v.end - v.start);
    const buf = Buffer.alloc(len);
    const fd = fs.openSync(path.join(procRoot, 'self', 'mem'), 'r');
    try {
      fs.readSync(fd, buf, 0, len, v.start);
    } finally {
      fs.closeSync(fd);
    }
    const source = new BufferSource(buf);
    const elf = ElfFile.parse(source, '[vdso]');
    return { elf, table: elf.symbols(source) };
  } catch {
    return null;
  }
}
