// Pure tests of the symbolisation parts: kallsyms, perf maps, demangling, maps parsing, and
// ELF parsing (of built fixtures and of hand-made 32-bit and big-endian images).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { demangle } from '../src/kernel/symbols/demangle.js';
import { BufferSource, ElfFile, FdSource } from '../src/kernel/elf.js';
import { KernelSymbols, KernelSymbolsError } from '../src/kernel/kallsyms.js';
import { parseMaps, parseNsPid } from '../src/kernel/symbols/maps.js';
import { PerfMap } from '../src/kernel/symbols/perfmap.js';
import { Symbolizer } from '../src/kernel/symbols/index.js';
import { repoPath } from '../src/util/paths.js';

const KALLSYMS = [
  'ffffffff81000000 T _stext',
  'ffffffff81000000 T srso_alias_untrain_ret',
  'ffffffff81000100 t __do_sys_getpid',
  'ffffffff81000100 T __ia32_sys_getpid',
  'ffffffff81000100 T __x64_sys_getpid',
  'ffffffff81000200 T do_sys_openat2',
  'ffffffff81000300 D some_data',
  'ffffffff81000400 T _etext',
  'ffffffffc0a00000 t ext4_readdir\t[ext4]',
  'ffffffffc0a00080 t ext4_sync_file\t[ext4]',
  'ffffffffc0b00000 t bpf_prog_0123456789abcdef_handler\t[bpf]',
  '',
].join('\n');

describe('kallsyms', () => {
  const ks = KernelSymbols.parse(KALLSYMS, 'synthetic');

  test('lookup: name, module, offsets; aliases ranked as perf does', () => {
    assert.deepEqual(ks.lookup(0xffffffff81000110n), {
      name: '__x64_sys_getpid',
      module: '[kernel]',
      start: 0xffffffff81000100n,
      moduleOffset: 0x110n,
    });
    assert.equal(ks.lookup(0xffffffff81000200n)?.name, 'do_sys_openat2');
    // Data symbols are not functions: the text symbol before covers the address.
    assert.equal(ks.lookup(0xffffffff81000310n)?.name, 'do_sys_openat2');
  });

  test('modules are named; module offsets from the module start', () => {
    const f = ks.lookup(0xffffffffc0a00090n)!;
    assert.deepEqual([f.name, f.module, f.moduleOffset], ['ext4_sync_file', '[ext4]', 0x90n]);
    assert.equal(ks.lookup(0xffffffffc0b00004n)?.module, '[bpf]');
  });

  test('outside: below, past _etext, far past a module\'s last symbol', () => {
    assert.equal(ks.lookup(0xffffffff80000000n), undefined);
    assert.equal(ks.lookup(0xffffffff81000500n), undefined);
    assert.equal(ks.lookup(0xffffffffc0a00080n + 0x20000n), undefined);
  });

  test('all-zero addresses (kptr_restrict) is a clear error', () => {
    const hidden = '0000000000000000 T _stext\n0000000000000000 t foo\n';
    assert.throws(() => KernelSymbols.parse(hidden, '/proc/kallsyms'), (err: unknown) => {
      assert.ok(err instanceof KernelSymbolsError);
      assert.match(err.message, /kptr_restrict/);
      return true;
    });
    assert.throws(() => KernelSymbols.parse('', 'x'), KernelSymbolsError);
  });

  test('Symbolizer reads a kallsyms file given in options', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-kallsyms-'));
    try {
      const file = path.join(dir, 'kallsyms');
      fs.writeFileSync(file, KALLSYMS);
      using sym = new Symbolizer({ kallsyms: file });
      const [a, b, c] = sym.symbolizeKernel([0xffffffffc0a00004n, 0xffffffff81000201n, 0x10n]);
      assert.deepEqual([a!.name, a!.module, a!.kind, a!.offset, a!.symbolOffset], ['ext4_readdir', '[ext4]', 'kernel', 4n, 4n]);
      assert.deepEqual([b!.name, b!.symbolOffset], ['do_sys_openat2', 1n]);
      assert.deepEqual([c!.name, c!.kind], ['[unknown] 0x10', 'unknown']);
      using missing = new Symbolizer({ kallsyms: path.join(dir, 'nope') });
      assert.throws(() => missing.symbolizeKernel([1n]), KernelSymbolsError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('perf maps', () => {
  test('parses hex with and without 0x, names with spaces; skips junk', () => {
    assert.deepEqual(PerfMap.parseLines('7f00 10 JS:*foo file.js:3\n0x7f20 0x8 Builtin:X\nbad line\n7f40 0 zero\n'), [
      { name: 'JS:*foo file.js:3', start: 0x7f00n, size: 0x10n },
      { name: 'Builtin:X', start: 0x7f20n, size: 0x8n },
    ]);
  });

  test('overlaps: the later entry wins where it overlaps, the older one elsewhere', () => {
    const pm = new PerfMap([]);
    pm.add('1000 100 old\n1040 20 new\n');
    assert.equal(pm.lookup(0x1010n)?.name, 'old');
    assert.deepEqual(pm.lookup(0x1050n), { name: 'new', start: 0x1040n, size: 0x20n });
    // The old symbol keeps its own start and size where it still answers.
    assert.deepEqual(pm.lookup(0x1080n), { name: 'old', start: 0x1000n, size: 0x100n });
    assert.equal(pm.lookup(0x1100n), undefined);
  });

  test('an unterminated last line waits for its end', () => {
    const pm = new PerfMap([]);
    pm.add('2000 10 first\n2010 10 sec');
    assert.equal(pm.lookup(0x2014n), undefined);
    pm.add('ond\n');
    assert.equal(pm.lookup(0x2014n)?.name, 'second');
  });
});

describe('demangling', () => {
  const cases: [string, string][] = [
    ['_ZN7vigilfx6crunchEid', 'vigilfx::crunch(int, double)'],
    ['_ZN7vigilfx6Engine4stepEl', 'vigilfx::Engine::step(long)'],
    ['_ZNKSt6vectorIiSaIiEE4sizeEv', 'std::vector<int, std::allocator<int> >::size() const'],
    ['_Z3fooi.cold', 'foo(int) [clone .cold]'],
    ['_ZdlPv@GLIBCXX_3.4', 'operator delete(void*)@GLIBCXX_3.4'],
    // cpp_demangle's empty parameter pack output, tidied.
    ['_ZN4node11SPrintFImplIRiJEEENSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEPKcOT_DpOT0_', 'node::SPrintFImpl<int&>(char const*, int&)'],
    ['_ZThn56_N4node5http211Http2Stream10DoShutdownEPNS_12ShutdownWrapE', 'non-virtual thunk to node::http2::Http2Stream::DoShutdown(node::ShutdownWrap*)'],
    // Rust legacy (hash dropped) and v0.
    ['_ZN4core3fmt5write17h0123456789abcdefE', 'core::fmt::write'],
    ['_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17h1a2b3c4d5e6f7a8bE', 'std::rt::lang_start::{{closure}}'],
    ['_RNvCs1234_7mycrate3foo', 'mycrate::foo'],
    ['_RNvNtCs1cDLsAt3Gzi_4core3fmt5write', 'core::fmt::write'],
    // Not mangled, or not valid mangling: unchanged.
    ['main', 'main'],
    ['busy_a', 'busy_a'],
    ['_Zgarbage', '_Zgarbage'],
  ];
  for (const [mangled, expected] of cases) {
    test(mangled, () => assert.equal(demangle(mangled), expected));
  }
});

describe('/proc/PID/maps', () => {
  test('parses files, anonymous and special mappings, deleted files', () => {
    const maps = parseMaps(
      [
        '55d0c0a00000-55d0c0a01000 r--p 00000000 fe:00 1234                       /usr/bin/prog',
        '55d0c0a01000-55d0c0a02000 r-xp 00001000 fe:00 1234                       /usr/bin/prog',
        '7f0000000000-7f0000100000 rwxp 00000000 00:00 0 ',
        '7f0000200000-7f0000201000 r-xp 00002000 fe:00 99                         /tmp/lib.so (deleted)',
        '7ffd1b7f0000-7ffd1b7f2000 r-xp 00000000 00:00 0                          [vdso]',
      ].join('\n'),
    );
    assert.equal(maps.length, 5);
    assert.deepEqual(maps[1], {
      start: 0x55d0c0a01000n,
      end: 0x55d0c0a02000n,
      perms: 'r-xp',
      fileOffset: 0x1000n,
      dev: 'fe:00',
      inode: 1234,
      path: '/usr/bin/prog',
      deleted: false,
    });
    assert.equal(maps[2]!.path, '');
    assert.deepEqual([maps[3]!.path, maps[3]!.deleted], ['/tmp/lib.so', true]);
    assert.equal(maps[4]!.path, '[vdso]');
  });

  test('NSpid: the innermost pid', () => {
    assert.equal(parseNsPid('Name:\tx\nNSpid:\t4242\t17\n', 4242), 17);
    assert.equal(parseNsPid('Name:\tx\n', 5), 5);
  });
});

describe('ELF', () => {
  const fixture = (name: string): string => repoPath('test', '.output', name);

  test('fixture library: build id, PT_LOAD mapping, .symtab functions', () => {
    const file = fixture('libsymlib.so');
    using src = disposable(FdSource.open(file));
    const elf = ElfFile.parse(src.value, file);
    assert.equal(elf.buildId, /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', file], { encoding: 'utf8' }))![1]);
    assert.equal(elf.type, 3);
    assert.ok(elf.hasSymtab(src.value));
    const nm = execFileSync('nm', [file], { encoding: 'utf8' });
    const vaddr = Number.parseInt(/^([0-9a-f]+) T symlib_spin$/m.exec(nm)![1]!, 16);
    const table = elf.symbols(src.value);
    assert.deepEqual(table.lookup(vaddr + 3), { name: 'symlib_spin', start: vaddr, size: table.lookup(vaddr)!.size });
    // A text file offset maps to the vaddr through its PT_LOAD.
    const text = elf.loads.find((l) => l.executable)!;
    assert.equal(elf.fileOffsetToVaddr(text.offset + 0x10), text.vaddr + 0x10);
  });

  test('stripped library: no .symtab, .dynsym only', () => {
    const file = fixture('libsymlib-stripped.so');
    using src = disposable(FdSource.open(file));
    const elf = ElfFile.parse(src.value, file);
    assert.equal(elf.hasSymtab(src.value), false);
    const table = elf.symbols(src.value);
    assert.equal(table.count, 1);
    const nm = execFileSync('nm', ['-D', file], { encoding: 'utf8' });
    const vaddr = Number.parseInt(/^([0-9a-f]+) T symlib_stripped_spin$/m.exec(nm)![1]!, 16);
    assert.equal(table.lookup(vaddr + 1)?.name, 'symlib_stripped_spin');
  });

  test('not an ELF file', () => {
    assert.throws(() => ElfFile.parse(new BufferSource(Buffer.from('#!/bin/sh\necho hi\n'.repeat(8))), 'script'), /not an ELF file/);
  });

  for (const [bits, le] of [[32, true], [64, false], [64, true]] as const) {
    test(`hand-made ${bits}-bit ${le ? 'little' : 'big'}-endian image`, () => {
      const img = makeElf(bits, le);
      const src = new BufferSource(img);
      const elf = ElfFile.parse(src, 'synthetic');
      assert.equal(elf.buildId, 'deadbeef00112233');
      assert.deepEqual(elf.loads, [{ offset: 0, vaddr: 0x400000, filesz: 0x2000, memsz: 0x2000, executable: true }]);
      assert.equal(elf.fileOffsetToVaddr(0x1010), 0x401010);
      const t = elf.symbols(src);
      assert.equal(t.count, 3, 'two FUNCs + one unsized FUNC; the OBJECT is left out');
      assert.equal(t.lookup(0x401004)?.name, 'alpha');
      assert.equal(t.lookup(0x401020)?.name, 'beta');
      assert.equal(t.lookup(0x401030), undefined, 'between beta and gamma');
      // Unsized gamma runs to the end of its section (.text ends at 0x401100).
      assert.equal(t.lookup(0x4010f0)?.name, 'gamma');
      assert.equal(t.lookup(0x401100), undefined);
    });
  }
});

function disposable<T extends { close(): void }>(value: T): { value: T; [Symbol.dispose](): void } {
  return { value, [Symbol.dispose]: () => value.close() };
}

/**
 * A minimal ELF image: one executable PT_LOAD (file 0..0x2000 at 0x400000), a PT_NOTE with a
 * GNU build id, sections .text (0x401000..0x401100), .symtab, .strtab, .shstrtab; symbols
 * alpha (FUNC 0x401000+0x10), beta (FUNC 0x401020+0x8), gamma (FUNC 0x401080, size 0), data
 * (OBJECT 0x401040).
 */
function makeElf(bits: 32 | 64, le: boolean): Buffer {
  const is64 = bits === 64;
  const buf = Buffer.alloc(0x2000);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const u16 = (o: number, v: number) => dv.setUint16(o, v, le);
  const u32 = (o: number, v: number) => dv.setUint32(o, v, le);
  const addr = (o: number, v: number) => (is64 ? dv.setBigUint64(o, BigInt(v), le) : dv.setUint32(o, v, le));
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const shentsize = is64 ? 64 : 40;
  const phoff = ehsize;
  const noteOff = 0x200;
  const symOff = 0x300;
  const strOff = 0x400;
  const shstrOff = 0x480;
  const shoff = 0x500;
  buf.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, le ? 1 : 2, 1], 0);
  u16(16, 2); // ET_EXEC
  u16(18, is64 ? 62 : 3);
  u32(20, 1);
  addr(24, 0x401000);
  addr(is64 ? 32 : 28, phoff);
  addr(is64 ? 40 : 32, shoff);
  u16(is64 ? 52 : 40, ehsize);
  u16(is64 ? 54 : 42, phentsize);
  u16(is64 ? 56 : 44, 2);
  u16(is64 ? 58 : 46, shentsize);
  u16(is64 ? 60 : 48, 5);
  u16(is64 ? 62 : 50, 4);
  /**
   * A struct's fields at their offsets in each class: [offset in ELF64, offset in ELF32, how written].
   * 'a' is an address-sized field (8 bytes in ELF64, 4 in ELF32).
   */
  type Field = readonly [number, number, 'u8' | 'u16' | 'u32' | 'a'];
  const put = (base: number, fields: readonly Field[], values: readonly number[]): void => {
    fields.forEach(([o64, o32, kind], i) => {
      const o = base + (is64 ? o64 : o32);
      const v = values[i]!;
      if (kind === 'u8') buf[o] = v;
      else if (kind === 'u16') u16(o, v);
      else if (kind === 'u32') u32(o, v);
      else addr(o, v);
    });
  };
  // Program headers (type, flags, offset, vaddr, paddr, filesz, memsz): PT_LOAD R+X, PT_NOTE.
  const PHDR: Field[] = [[0, 0, 'u32'], [4, 24, 'u32'], [8, 4, 'a'], [16, 8, 'a'], [24, 12, 'a'], [32, 16, 'a'], [40, 20, 'a']];
  const ph = (i: number, type: number, flags: number, off: number, vaddr: number, size: number) =>
    put(phoff + i * phentsize, PHDR, [type, flags, off, vaddr, vaddr, size, size]);
  ph(0, 1, 5, 0, 0x400000, 0x2000);
  ph(1, 4, 4, noteOff, 0x400000 + noteOff, 24);
  // Note: namesz 4, descsz 8, type 3, "GNU\0", id.
  u32(noteOff, 4);
  u32(noteOff + 4, 8);
  u32(noteOff + 8, 3);
  buf.write('GNU\0', noteOff + 12, 'latin1');
  buf.set([0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33], noteOff + 16);
  // String tables.
  const strtab = '\0alpha\0beta\0gamma\0data\0';
  buf.write(strtab, strOff, 'latin1');
  const nameOf = (n: string) => strtab.indexOf(`\0${n}\0`) + 1;
  const shstrtab = '\0.text\0.symtab\0.strtab\0.shstrtab\0';
  buf.write(shstrtab, shstrOff, 'latin1');
  const shName = (n: string) => shstrtab.indexOf(`\0${n}\0`) + 1;
  // Symbols (index 0 is the null symbol).
  const symsize = is64 ? 24 : 16;
  // Symbols (name, info, shndx, value, size); STB_GLOBAL in section 1.
  const SYM: Field[] = [[0, 0, 'u32'], [4, 12, 'u8'], [6, 14, 'u16'], [8, 4, 'a'], [16, 8, 'a']];
  const sym = (i: number, name: string, value: number, size: number, type: number) =>
    put(symOff + i * symsize, SYM, [nameOf(name), (1 << 4) | type, 1, value, size]);
  sym(1, 'alpha', 0x401000, 0x10, 2);
  sym(2, 'beta', 0x401020, 0x8, 2);
  sym(3, 'data', 0x401040, 0x8, 1);
  sym(4, 'gamma', 0x401080, 0, 2);
  // Section headers: null, .text, .symtab, .strtab, .shstrtab.
  // Section headers (name, type, addr, offset, size, link, entsize).
  const SHDR: Field[] = [[0, 0, 'u32'], [4, 4, 'u32'], [16, 12, 'a'], [24, 16, 'a'], [32, 20, 'a'], [40, 24, 'u32'], [56, 36, 'a']];
  const sh = (i: number, name: string, type: number, a: number, off: number, size: number, link: number, entsize: number) =>
    put(shoff + i * shentsize, SHDR, [shName(name), type, a, off, size, link, entsize]);
  sh(1, '.text', 1, 0x401000, 0x1000, 0x100, 0, 0);
  sh(2, '.symtab', 2, 0, symOff, 5 * symsize, 3, symsize);
  sh(3, '.strtab', 3, 0, strOff, strtab.length, 0, 0);
  sh(4, '.shstrtab', 3, 0, shstrOff, shstrtab.length, 0, 0);
  return buf;
}
