// ELF reading for symbolisation: header, PT_LOAD segments, GNU build id, and the function
// symbols of .symtab/.dynsym. Pure TypeScript over DataView, 32/64-bit, either byte order.
//
// Files are read piecewise (header, program headers, notes, then only the symbol and string
// tables) so a 100 MB binary costs a few MB of reads; symbols are parsed on first lookup.
import fs from 'node:fs';
import { inflateSync } from 'node:zlib';
import { lastAtOrBelow } from '../util/search.js';
import { KernelFileError } from './file-error.js';

/** Where ELF bytes come from: a file descriptor or a buffer (the vDSO image). */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Buffer;
  close(): void;
}

export class ElfError extends KernelFileError {
  override readonly name: string = 'ElfError';
  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super(file, `${file}: ${reason}`, options);
  }
}

export class FdSource implements ByteSource {
  readonly size: number;
  /** Modification time (ms): with device and inode, identifies a file that has no build id. */
  readonly mtimeMs: number;
  private fd: number | undefined;

  private constructor(fd: number) {
    this.fd = fd;
    const st = fs.fstatSync(fd);
    this.size = st.size;
    this.mtimeMs = st.mtimeMs;
  }

  /** Opens path read-only. Throws the fs error (ENOENT, EACCES...) if it cannot. */
  static open(path: string): FdSource {
    const fd = fs.openSync(path, 'r');
    try {
      return new FdSource(fd);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  read(offset: number, length: number): Buffer {
    if (this.fd === undefined) throw new Error('FdSource is closed');
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    return done === length ? buf : buf.subarray(0, done);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

export class BufferSource implements ByteSource {
  constructor(private readonly buf: Buffer) {}
  get size(): number {
    return this.buf.length;
  }
  read(offset: number, length: number): Buffer {
    return this.buf.subarray(offset, offset + length);
  }
  close(): void {}
}

const PT_LOAD = 1;
const PT_NOTE = 4;
const PF_X = 1;
const SHT_SYMTAB = 2;
const SHT_NOTE = 7;
const SHT_DYNSYM = 11;
const SHT_NOBITS = 8;
const SHF_COMPRESSED = 0x800;
const ELFCOMPRESS_ZLIB = 1;
const SHN_UNDEF = 0;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const STB_LOCAL = 0;
const STB_GLOBAL = 1;
const STB_WEAK = 2;
const NT_GNU_BUILD_ID = 3;

export interface LoadSegment {
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  executable: boolean;
}

interface Section {
  name: string;
  type: number;
  flags: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
  addr: number;
}

/** A function found for an address: its raw (mangled) name, start and size in file vaddr space. */
export interface ElfSymbol {
  name: string;
  start: number;
  size: number;
}

/**
 * Function symbols sorted by address. Names stay in their string tables and are decoded on
 * lookup only: a large binary's tables are kept as typed arrays plus the raw string bytes.
 */
/** A SymbolTable's arrays (see SymbolTable.parts). */
export interface SymbolTableParts {
  starts: Float64Array;
  sizes: Float64Array;
  strtabIndex: Uint8Array;
  nameOffsets: Uint32Array;
  strtabs: Uint8Array[];
}

export class SymbolTable {
  constructor(
    private readonly starts: Float64Array,
    private readonly sizes: Float64Array,
    /** Per symbol: which of `strtabs` holds its name, and the name's offset there. */
    private readonly strtabIndex: Uint8Array,
    private readonly nameOffsets: Uint32Array,
    private readonly strtabs: readonly Buffer[],
  ) {}

  static readonly empty = new SymbolTable(new Float64Array(0), new Float64Array(0), new Uint8Array(0), new Uint32Array(0), []);

  /** The table's arrays, to hand to another thread (structured clone keeps typed arrays). */
  parts(): SymbolTableParts {
    return { starts: this.starts, sizes: this.sizes, strtabIndex: this.strtabIndex, nameOffsets: this.nameOffsets,
      strtabs: this.strtabs.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.length)) };
  }

  /** The table parts() gave, as another thread received them. */
  static fromParts(p: SymbolTableParts): SymbolTable {
    return new SymbolTable(p.starts, p.sizes, p.strtabIndex, p.nameOffsets, p.strtabs.map((u) => Buffer.from(u.buffer, u.byteOffset, u.length)));
  }

  get count(): number {
    return this.starts.length;
  }

  /** Approximate bytes held (for cache accounting). */
  get bytes(): number {
    let n = this.starts.length * (8 + 8 + 1 + 4);
    for (const s of this.strtabs) n += s.length;
    return n;
  }

  /** Index of the function containing vaddr, or -1. */
  find(vaddr: number): number {
    const starts = this.starts;
    const found = lastAtOrBelow(starts, vaddr);
    // The nearest start below vaddr usually contains it; if it is too small, an enclosing
    // bigger function may start a little earlier (nested/overlapping symbols are rare).
    for (let i = found, steps = 0; i >= 0 && steps < 16; i--, steps++) {
      if (vaddr < starts[i]! + this.sizes[i]!) return i;
    }
    return -1;
  }

  start(i: number): number {
    return this.starts[i]!;
  }

  size(i: number): number {
    return this.sizes[i]!;
  }

  /** The raw (mangled) name of function i. */
  name(i: number): string {
    const tab = this.strtabs[this.strtabIndex[i]!]!;
    const off = this.nameOffsets[i]!;
    let end = tab.indexOf(0, off);
    if (end < 0) end = tab.length;
    return tab.toString('utf8', off, end);
  }

  lookup(vaddr: number): ElfSymbol | undefined {
    const i = this.find(vaddr);
    return i < 0 ? undefined : { name: this.name(i), start: this.starts[i]!, size: this.sizes[i]! };
  }
}

/**
 * The parts of an ELF file symbolisation needs. Construct with ElfFile.parse. It does not own
 * a source: pass one to symbols() (the caller decides how long a file stays open).
 */
export class ElfFile {
  private sections: Section[] | undefined;
  private gnuBuildId: string | undefined;

  private constructor(
    readonly file: string,
    private readonly is64: boolean,
    private readonly le: boolean,
    /** 2 = ET_EXEC, 3 = ET_DYN (PIE or shared library). */
    readonly type: number,
    readonly loads: readonly LoadSegment[],
    private readonly shoff: number,
    private readonly shentsize: number,
    private readonly shnum: number,
    private readonly shstrndx: number,
  ) {}

  /** Reads the ELF header, program headers and build id (a few KiB); `file` names the file in errors. */
  static parse(source: ByteSource, file: string): ElfFile {
    const ident = source.read(0, 64);
    if (ident.length < 52 || ident[0] !== 0x7f || ident[1] !== 0x45 || ident[2] !== 0x4c || ident[3] !== 0x46) {
      throw new ElfError(file, 'not an ELF file');
    }
    const is64 = ident[4] === 2;
    if (ident[4] !== 1 && ident[4] !== 2) throw new ElfError(file, `bad ELF class ${ident[4]}`);
    const le = ident[5] === 1;
    if (ident[5] !== 1 && ident[5] !== 2) throw new ElfError(file, `bad ELF data encoding ${ident[5]}`);
    const dv = new DataView(ident.buffer, ident.byteOffset, ident.length);
    const type = dv.getUint16(16, le);
    const phoff = is64 ? num(dv.getBigUint64(32, le)) : dv.getUint32(28, le);
    const shoff = is64 ? num(dv.getBigUint64(40, le)) : dv.getUint32(32, le);
    const phentsize = dv.getUint16(is64 ? 54 : 42, le);
    const phnum = dv.getUint16(is64 ? 56 : 44, le);
    const shentsize = dv.getUint16(is64 ? 58 : 46, le);
    const shnum = dv.getUint16(is64 ? 60 : 48, le);
    const shstrndx = dv.getUint16(is64 ? 62 : 50, le);

    const loads: LoadSegment[] = [];
    const notes: { offset: number; size: number }[] = [];
    if (phoff > 0 && phnum > 0) {
      const ph = source.read(phoff, phentsize * phnum);
      const pv = new DataView(ph.buffer, ph.byteOffset, ph.length);
      for (let i = 0; i < phnum; i++) {
        const b = i * phentsize;
        if (b + phentsize > ph.length) break;
        const ptype = pv.getUint32(b, le);
        if (is64) {
          const flags = pv.getUint32(b + 4, le);
          const offset = num(pv.getBigUint64(b + 8, le));
          const vaddr = num(pv.getBigUint64(b + 16, le));
          const filesz = num(pv.getBigUint64(b + 32, le));
          const memsz = num(pv.getBigUint64(b + 40, le));
          if (ptype === PT_LOAD) loads.push({ offset, vaddr, filesz, memsz, executable: (flags & PF_X) !== 0 });
          else if (ptype === PT_NOTE) notes.push({ offset, size: filesz });
        } else {
          const offset = pv.getUint32(b + 4, le);
          const vaddr = pv.getUint32(b + 8, le);
          const filesz = pv.getUint32(b + 16, le);
          const memsz = pv.getUint32(b + 20, le);
          const flags = pv.getUint32(b + 24, le);
          if (ptype === PT_LOAD) loads.push({ offset, vaddr, filesz, memsz, executable: (flags & PF_X) !== 0 });
          else if (ptype === PT_NOTE) notes.push({ offset, size: filesz });
        }
      }
    }
    const elf = new ElfFile(file, is64, le, type, loads, shoff, shentsize, shnum, shstrndx);
    let buildId: string | undefined;
    for (const n of notes) {
      buildId = findBuildId(source.read(n.offset, Math.min(n.size, 1 << 16)), le);
      if (buildId) break;
    }
    // Debug files (no PT_NOTE in a useful place) keep the note in a section.
    if (!buildId) {
      for (const s of elf.readSections(source)) {
        if (s.type === SHT_NOTE && s.name === '.note.gnu.build-id') buildId = findBuildId(source.read(s.offset, Math.min(s.size, 1 << 16)), le);
      }
    }
    elf.gnuBuildId = buildId;
    return elf;
  }

  /** The GNU build id (lowercase hex) from .note.gnu.build-id, if the file has one. */
  get buildId(): string | undefined {
    return this.gnuBuildId;
  }

  /**
   * Maps an offset in the file to the virtual address the link editor gave it, through the
   * PT_LOAD segment that holds it. Works the same for executables, PIEs and shared libraries:
   * the load bias is already removed by going through the file offset.
   */
  fileOffsetToVaddr(off: number): number | undefined {
    for (const l of this.loads) {
      if (off >= l.offset && off < l.offset + Math.max(l.filesz, 1)) return off - l.offset + l.vaddr;
    }
    // Past the file-backed part of a segment (.bss-like): take the segment below.
    let best: LoadSegment | undefined;
    for (const l of this.loads) if (l.offset <= off && (!best || l.offset > best.offset)) best = l;
    return best && off - best.offset < best.memsz ? off - best.offset + best.vaddr : undefined;
  }

  /** Does this file have a .symtab (is it not stripped)? Reads the section headers only. */
  hasSymtab(source: ByteSource): boolean {
    return this.readSections(source).some((s) => s.type === SHT_SYMTAB);
  }

  /** The contents of the section of this name (".go.buildinfo"; at most `max` bytes), or undefined. */
  section(source: ByteSource, name: string, max = 1 << 16): Buffer | undefined {
    const s = this.readSections(source).find((x) => x.name === name);
    return s && s.type !== SHT_NOBITS ? source.read(s.offset, Math.min(s.size, max)) : undefined;
  }

  /**
   * A debugging section's contents, whole and decompressed: `.debug_X` as it is, compressed
   * (SHF_COMPRESSED: an ELF compression header, then zlib) or the older `.zdebug_X` ("ZLIB",
   * the size, then zlib). Undefined when the file has neither.
   */
  debugSection(source: ByteSource, name: string): Buffer | undefined {
    const sections = this.readSections(source);
    const plain = sections.find((x) => x.name === name && x.type !== SHT_NOBITS);
    if (plain) {
      const raw = source.read(plain.offset, plain.size);
      if ((plain.flags & SHF_COMPRESSED) === 0) return raw;
      const type = this.le ? raw.readUInt32LE(0) : raw.readUInt32BE(0);
      if (type !== ELFCOMPRESS_ZLIB) throw new ElfError(this.file, `${name}: compression type ${type} (only zlib is read)`);
      return inflateSync(raw.subarray(this.is64 ? 24 : 12));
    }
    const z = sections.find((x) => x.name === name.replace(/^\.debug_/, '.zdebug_') && x.type !== SHT_NOBITS);
    if (!z) return undefined;
    const raw = source.read(z.offset, z.size);
    if (raw.toString('latin1', 0, 4) !== 'ZLIB') throw new ElfError(this.file, `${z.name}: no ZLIB header`);
    return inflateSync(raw.subarray(12));
  }

  /** The file offset of a virtual address (through the PT_LOAD that maps it): where a uprobe goes. */
  vaddrToFileOffset(vaddr: number): number {
    const seg = this.loads.find((l) => vaddr >= l.vaddr && vaddr < l.vaddr + l.memsz);
    return seg ? vaddr - seg.vaddr + seg.offset : vaddr;
  }

  /** The named functions this file defines: their file offsets and sizes (names it lacks are absent). */
  functions(source: ByteSource, names: readonly string[]): Map<string, { offset: number; size: number }> {
    const want = new Set(names);
    const out = new Map<string, { offset: number; size: number }>();
    const syms = this.symbols(source);
    for (let i = 0; i < syms.count && out.size < want.size; i++) {
      const name = syms.name(i);
      if (want.has(name) && !out.has(name)) out.set(name, { offset: this.vaddrToFileOffset(syms.start(i)), size: syms.size(i) });
    }
    return out;
  }

  /** Function symbols of .symtab and .dynsym, merged, read from source (this same file). */
  symbols(source: ByteSource): SymbolTable {
    return this.readSymbols(source);
  }

  private readSections(source: ByteSource): Section[] {
    if (this.sections) return this.sections;
    const out: Section[] = [];
    if (this.shoff === 0 || this.shnum === 0 || this.shentsize === 0) return (this.sections = out);
    const raw = source.read(this.shoff, this.shentsize * this.shnum);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
    const le = this.le;
    const nameOffs: number[] = [];
    for (let i = 0; i < this.shnum; i++) {
      const b = i * this.shentsize;
      if (b + this.shentsize > raw.length) break;
      if (this.is64) {
        nameOffs.push(dv.getUint32(b, le));
        out.push({
          name: '',
          type: dv.getUint32(b + 4, le),
          flags: num(dv.getBigUint64(b + 8, le)),
          addr: num(dv.getBigUint64(b + 16, le)),
          offset: num(dv.getBigUint64(b + 24, le)),
          size: num(dv.getBigUint64(b + 32, le)),
          link: dv.getUint32(b + 40, le),
          entsize: num(dv.getBigUint64(b + 56, le)),
        });
      } else {
        nameOffs.push(dv.getUint32(b, le));
        out.push({
          name: '',
          type: dv.getUint32(b + 4, le),
          flags: dv.getUint32(b + 8, le),
          addr: dv.getUint32(b + 12, le),
          offset: dv.getUint32(b + 16, le),
          size: dv.getUint32(b + 20, le),
          link: dv.getUint32(b + 24, le),
          entsize: dv.getUint32(b + 36, le),
        });
      }
    }
    const shstr = out[this.shstrndx];
    if (shstr && shstr.size > 0 && shstr.size < 1 << 24) {
      const names = source.read(shstr.offset, shstr.size);
      out.forEach((s, i) => {
        const o = nameOffs[i]!;
        const end = names.indexOf(0, o);
        s.name = names.toString('latin1', o, end < 0 ? names.length : end);
      });
    }
    return (this.sections = out);
  }

  private readSymbols(source: ByteSource): SymbolTable {
    const sections = this.readSections(source);
    // .symtab holds every function .dynsym has (as perf does, use .dynsym only when stripped).
    let tables = sections.filter((s) => s.type === SHT_SYMTAB && s.size > 0);
    if (tables.length === 0) tables = sections.filter((s) => s.type === SHT_DYNSYM && s.size > 0);
    const entsize = this.is64 ? 24 : 16;
    let capacity = 0;
    for (const t of tables) capacity += Math.floor(t.size / (t.entsize || entsize));
    // Candidates in parallel typed arrays: a large binary has hundreds of thousands.
    const cStart = new Float64Array(capacity);
    const cSize = new Float64Array(capacity);
    const cTab = new Uint8Array(capacity);
    const cName = new Uint32Array(capacity);
    const cRank = new Uint8Array(capacity);
    /** End of the symbol's section: bounds an unsized (assembly) symbol. */
    const cSecEnd = new Float64Array(capacity);
    const strtabs: Buffer[] = [];
    let n = 0;
    const le = this.le;
    const is64 = this.is64;
    for (const t of tables) {
      const strSec = sections[t.link];
      if (!strSec) continue;
      const strtab = source.read(strSec.offset, strSec.size);
      const tabIndex = strtabs.push(strtab) - 1;
      const raw = source.read(t.offset, t.size);
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
      const es = t.entsize || entsize;
      for (let b = 0; b + entsize <= raw.length; b += es) {
        let info: number, shndx: number, value: number, size: number;
        if (is64) {
          info = dv.getUint8(b + 4);
          shndx = dv.getUint16(b + 6, le);
          // Two 32-bit halves: no BigInt per symbol (user-space addresses are far below 2^53).
          value = le ? dv.getUint32(b + 8, true) + dv.getUint32(b + 12, true) * 0x100000000 : dv.getUint32(b + 12, false) + dv.getUint32(b + 8, false) * 0x100000000;
          size = le ? dv.getUint32(b + 16, true) + dv.getUint32(b + 20, true) * 0x100000000 : dv.getUint32(b + 20, false) + dv.getUint32(b + 16, false) * 0x100000000;
        } else {
          value = dv.getUint32(b + 4, le);
          size = dv.getUint32(b + 8, le);
          info = dv.getUint8(b + 12);
          shndx = dv.getUint16(b + 14, le);
        }
        const stype = info & 0xf;
        if ((stype !== STT_FUNC && stype !== STT_GNU_IFUNC) || shndx === SHN_UNDEF || value === 0) continue;
        const nameOff = dv.getUint32(b, le);
        if (nameOff === 0) continue;
        const bind = info >> 4;
        // Preference among aliases of one address (as perf's choose_best_symbol): sized over
        // unsized, global over weak over local, no leading underscore; then the shorter name.
        cRank[n] =
          (size > 0 ? 0 : 8) +
          (bind === STB_GLOBAL ? 0 : bind === STB_WEAK ? 2 : bind === STB_LOCAL ? 4 : 6) +
          (strtab[nameOff] === 0x5f ? 1 : 0);
        cStart[n] = value;
        cSize[n] = size;
        const sec = sections[shndx];
        cSecEnd[n] = sec && sec.addr <= value && value < sec.addr + sec.size ? sec.addr + sec.size : value + 1;
        cTab[n] = tabIndex;
        cName[n] = nameOff;
        n++;
      }
    }
    const nameLen = (i: number): number => {
      const tab = strtabs[cTab[i]!]!;
      const end = tab.indexOf(0, cName[i]!);
      return (end < 0 ? tab.length : end) - cName[i]!;
    };
    const better = (a: number, b: number): boolean =>
      (cRank[a]! - cRank[b]! || nameLen(a) - nameLen(b) || cSize[b]! - cSize[a]!) < 0;
    const order = sortByStart(cStart, n);
    // One symbol per address: the best-ranked alias.
    const starts = new Float64Array(n);
    const sizes = new Float64Array(n);
    const tabIdx = new Uint8Array(n);
    const nameOffs = new Uint32Array(n);
    let j = 0;
    for (let k = 0; k < n; ) {
      let best = order[k]!;
      const start = cStart[best]!;
      let e = k + 1;
      for (; e < n && cStart[order[e]!] === start; e++) if (better(order[e]!, best)) best = order[e]!;
      starts[j] = start;
      // An unsized symbol (crti's _init, hand-written assembly) runs to the next symbol or the
      // end of its section, whichever comes first.
      let size = cSize[best]!;
      if (size === 0) size = Math.min(e < n ? cStart[order[e]!]! : Infinity, cSecEnd[best]!) - start;
      sizes[j] = size;
      tabIdx[j] = cTab[best]!;
      nameOffs[j] = cName[best]!;
      j++;
      k = e;
    }
    return new SymbolTable(starts.slice(0, j), sizes.slice(0, j), tabIdx.slice(0, j), nameOffs.slice(0, j), strtabs);
  }

}

/**
 * Indices 0..n-1 ordered by starts[i]. When addresses fit in 32 bits (true of almost every
 * file) (start, index) pairs are packed into one double and sorted natively, ~3x faster than
 * a comparator sort on a big binary's hundreds of thousands of symbols.
 */
function sortByStart(starts: Float64Array, n: number): Uint32Array {
  const order = new Uint32Array(n);
  let max = 0;
  for (let i = 0; i < n; i++) if (starts[i]! > max) max = starts[i]!;
  if (max < 2 ** 32 && n < 2 ** 20) {
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = starts[i]! * 2 ** 20 + i;
    keys.sort();
    for (let i = 0; i < n; i++) order[i] = keys[i]! % 2 ** 20;
    return order;
  }
  for (let i = 0; i < n; i++) order[i] = i;
  return order.sort((a, b) => starts[a]! - starts[b]!);
}

function findBuildId(notes: Buffer, le: boolean): string | undefined {
  const dv = new DataView(notes.buffer, notes.byteOffset, notes.length);
  let p = 0;
  while (p + 12 <= notes.length) {
    const namesz = dv.getUint32(p, le);
    const descsz = dv.getUint32(p + 4, le);
    const type = dv.getUint32(p + 8, le);
    const nameStart = p + 12;
    const descStart = nameStart + align4(namesz);
    if (descStart + descsz > notes.length) return undefined;
    if (type === NT_GNU_BUILD_ID && namesz === 4 && notes.toString('latin1', nameStart, nameStart + 3) === 'GNU') {
      return notes.toString('hex', descStart, descStart + descsz);
    }
    p = descStart + align4(descsz);
  }
  return undefined;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function num(v: bigint): number {
  // File offsets and user-space link addresses fit comfortably in 2^53.
  return Number(v);
}
