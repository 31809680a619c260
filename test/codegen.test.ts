// The BTF -> TypeScript codec generator. Pure tiers first (hand-built BTF,
// generated code transpiled and imported), then the real thing: the codec for
// struct vigil_bench_record generated from a compiled object, checked against
// the C layout and against a record written by the kernel.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import type { BtfTypeJson } from '../src/bpf/native.js';
import type { Codec } from '../src/bpf/codec.js';
import { Btf } from '../src/bpf/btf.js';
import { ObjectSpec } from '../src/bpf/object.js';
import { repoPath, repoRoot } from '../src/util/paths.js';
import { CodegenError, GENERATED_MARKER, generateFromBtf, generateModule } from '../src/codegen/generate.js';
import { main, plan, scanHeader } from '../src/codegen/cli.js';
import { getppid, requireRoot, tracefs } from './helpers.js';

type Generated = Codec<Record<string, unknown>> & { offsets: Record<string, number> };

// ---------------------------------------------------------------------------
// A hand-built BTF, shaped like btfParse() output.

class BtfBuilder {
  readonly types: (BtfTypeJson | null)[] = [null];
  add(t: Omit<BtfTypeJson, 'id'>): number {
    const id = this.types.length;
    this.types.push({ id, ...t });
    return id;
  }
  int(name: string, size: number, encoding = '(none)'): number {
    return this.add({ kind: 'INT', name, size, bits_offset: 0, nr_bits: size * 8, encoding });
  }
  wrap(kind: string, type_id: number, name = ''): number {
    return this.add({ kind, name, type_id });
  }
  array(type_id: number, nr_elems: number): number {
    return this.add({ kind: 'ARRAY', name: '', type_id, index_type_id: 1, nr_elems });
  }
  struct(kind: 'STRUCT' | 'UNION', name: string, size: number, members: [string, number, number, number?][]): number {
    return this.add({
      kind, name, size,
      members: members.map(([n, type_id, byteOff, bits]) => ({ name: n, type_id, bits_offset: byteOff * 8, bitfield_size: bits ?? 0 })),
    });
  }
}

/** struct vigil_mock: every kind of member the generator handles, with padding holes at 49..52, 76..80, 562..568. */
function mockBtf(): BtfBuilder {
  const b = new BtfBuilder();
  const uint = b.int('unsigned int', 4);
  const u8 = b.wrap('TYPEDEF', b.int('unsigned char', 1), '__u8');
  const s8 = b.wrap('TYPEDEF', b.int('signed char', 1, 'SIGNED'), '__s8');
  const s16 = b.wrap('TYPEDEF', b.int('short', 2, 'SIGNED'), '__s16');
  const u16 = b.wrap('TYPEDEF', b.int('unsigned short', 2), '__u16');
  const s32 = b.wrap('TYPEDEF', b.int('int', 4, 'SIGNED'), '__s32');
  const u32 = b.wrap('TYPEDEF', uint, '__u32');
  const u64 = b.wrap('TYPEDEF', b.int('unsigned long long', 8), '__u64');
  const s64 = b.wrap('TYPEDEF', b.int('long long', 8, 'SIGNED'), '__s64');
  const bool = b.int('_Bool', 1, 'BOOL');
  const char = b.int('char', 1, 'SIGNED');
  const cvS32 = b.wrap('CONST', b.wrap('VOLATILE', s32));
  const inner = b.struct('STRUCT', 'vigil_inner', 8, [['x', u16, 0], ['y', u32, 4]]);
  const anon = b.struct('STRUCT', '', 4, [['z', u32, 0]]);
  const union = b.struct('UNION', 'vigil_u', 8, [['q', u64, 0], ['b', b.array(u8, 8), 0]]);
  const kind = b.add({ kind: 'ENUM', name: 'vigil_mock_kind', size: 4,
    values: [{ name: 'VIGIL_MOCK_A', val: 1 }, { name: 'VIGIL_MOCK_B', val: -2 }] });
  const ptr = b.wrap('PTR', inner);
  b.struct('STRUCT', 'vigil_mock', 576, [
    ['a', u8, 0], ['b', s8, 1], ['c', s16, 2], ['d', cvS32, 4], ['e', u64, 8], ['f', s64, 16], ['g', bool, 24],
    ['name', b.array(char, 7), 25], ['arr', b.array(u32, 3), 32], ['raw', b.array(u8, 5), 44], ['inner', inner, 52],
    ['', anon, 60], ['u', union, 64], ['kind', kind, 72], ['big', b.array(u64, 40), 80],
    ['inners', b.array(inner, 20), 400], ['neg', s16, 560], ['ptr', ptr, 568], ['data', b.array(u32, 0), 576],
  ]);
  return b;
}

// ---------------------------------------------------------------------------
// Generated source -> importable module.

let work: string;

before(() => {
  work = mkdtempSync(path.join(tmpdir(), 'vigil-codegen-'));
  mkdirSync(path.join(work, 'bpf'));
  mkdirSync(path.join(work, 'generated'));
  writeFileSync(path.join(work, 'package.json'), '{"type":"module"}\n');
  const codecTs = readFileSync(repoPath('src', 'bpf', 'codec.ts'), 'utf8');
  writeFileSync(path.join(work, 'bpf', 'codec.ts'), codecTs);
  writeFileSync(path.join(work, 'bpf', 'codec.js'), transpile(codecTs));
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function transpile(source: string): string {
  return ts.transpileModule(source, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, verbatimModuleSyntax: true },
  }).outputText;
}

let seq = 0;
/** Writes the generated module next to a copy of codec.ts and imports it. */
async function load(source: string): Promise<Record<string, unknown>> {
  const name = `m${seq++}`;
  writeFileSync(path.join(work, 'generated', `${name}.ts`), source);
  writeFileSync(path.join(work, 'generated', `${name}.js`), transpile(source));
  return (await import(pathToFileURL(path.join(work, 'generated', `${name}.js`)).href)) as Record<string, unknown>;
}

/** Type-checks generated files with the repository's compiler settings. */
function typeCheck(files: string[]): string[] {
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'], types: ['node'], typeRoots: [repoPath('node_modules', '@types')],
    strict: true, noUncheckedIndexedAccess: true, verbatimModuleSyntax: true, noEmit: true, skipLibCheck: true,
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

const codec = (m: Record<string, unknown>, name: string): Generated => {
  const c = m[name];
  assert.ok(c, `module exports ${name}`);
  return c as Generated;
};

// ---------------------------------------------------------------------------

describe('codegen: generated codecs from hand-built BTF', () => {
  const types = mockBtf().types;
  const source = generateFromBtf(types, { enums: ['vigil_mock_kind'], structs: ['vigil_inner', 'vigil_mock'] },
    { header: 'bpf/include/vigil/mock.h' });

  const value = {
    a: 250, b: -5, c: -300, d: -70000, e: 0xfedcba9876543210n, f: -1234567890123n, g: true, name: 'abc',
    arr: [1, 0xffffffff, 3], raw: new Uint8Array([9, 8, 7, 6, 5]), inner: { x: 0xbeef, y: 77 }, z: 0xdeadbeef,
    u: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), kind: -2, big: Array.from({ length: 40 }, (_, i) => BigInt(i) << 40n),
    inners: Array.from({ length: 20 }, (_, i) => ({ x: i, y: i * 1000 })), neg: -1, ptr: 0xffff888812345678n,
  };

  test('says it is generated, imports the codec helpers, one interface and codec per struct', () => {
    assert.ok(source.startsWith(`${GENERATED_MARKER}\n`));
    assert.match(source, /import type \{ Codec \} from '\.\.\/bpf\/codec\.js';/);
    assert.match(source, /import \{ cstring, readCString \} from '\.\.\/bpf\/codec\.js';/);
    assert.match(source, /export interface VigilMock \{/);
    assert.match(source, /export const vigilMock: Codec<VigilMock> & \{ readonly offsets: /);
    assert.match(source, /export const vigilInner: Codec<VigilInner>/);
    assert.match(source, /inner: VigilInner;/, 'a nested struct of the same header is referenced by name');
    assert.doesNotMatch(source, /\n {2}data: /, 'a flexible array member is not in the interface');
  });

  test('decode is straight-line DataView code, without closures', () => {
    const decode = source.slice(source.indexOf('decode(view: DataView, o: number): VigilMock'), source.lastIndexOf('encode(value: VigilMock'));
    assert.ok(!decode.includes('=>'), decode);
    assert.ok(decode.includes('d: view.getInt32(o + 4, true)'));
    assert.ok(decode.includes('arr: [view.getUint32(o + 32, true), view.getUint32(o + 36, true), view.getUint32(o + 40, true)]'));
    assert.ok(decode.includes('name: readCString(view, o + 25, 7)'));
  });

  test('type-checks under the repository compiler settings', () => {
    const file = path.join(work, 'generated', 'typed.ts');
    writeFileSync(file, source);
    assert.deepEqual(typeCheck([file]), []);
  });

  test('offsets and size come from BTF; enumerators are constants', async () => {
    const m = await load(source);
    const c = codec(m, 'vigilMock');
    assert.equal(c.size, 576);
    assert.deepEqual(c.offsets, {
      a: 0, b: 1, c: 2, d: 4, e: 8, f: 16, g: 24, name: 25, arr: 32, raw: 44, inner: 52, z: 60, u: 64, kind: 72,
      big: 80, inners: 400, neg: 560, ptr: 568, data: 576,
    });
    assert.equal(codec(m, 'vigilInner').size, 8);
    assert.equal(m.VIGIL_MOCK_A, 1);
    assert.equal(m.VIGIL_MOCK_B, -2);
  });

  test('encode writes each field at its offset and zeroes padding; decode round-trips', async () => {
    const c = codec(await load(source), 'vigilMock');
    const at = 8;
    const buf = new Uint8Array(at + 576 + 8).fill(0xff);
    const view = new DataView(buf.buffer, 0, buf.byteLength);
    c.encode(value, view, at);

    for (const [from, to] of [[49, 52], [76, 80], [562, 568], [28, 32]] as const) {
      assert.deepEqual([...buf.subarray(at + from, at + to)], new Array(to - from).fill(0), `padding ${from}..${to}`);
    }
    assert.equal(buf[at - 1], 0xff, 'nothing written before the record');
    assert.equal(buf[at + 576], 0xff, 'nothing written after the record');
    assert.equal(view.getUint8(at), 250);
    assert.equal(view.getInt8(at + 1), -5);
    assert.equal(view.getInt16(at + 2, true), -300);
    assert.equal(view.getInt32(at + 4, true), -70000);
    assert.equal(view.getBigUint64(at + 8, true), 0xfedcba9876543210n);
    assert.equal(view.getBigInt64(at + 16, true), -1234567890123n);
    assert.equal(view.getUint8(at + 24), 1);
    assert.deepEqual([...buf.subarray(at + 25, at + 32)], [0x61, 0x62, 0x63, 0, 0, 0, 0]);
    assert.equal(view.getUint32(at + 36, true), 0xffffffff);
    assert.deepEqual([...buf.subarray(at + 44, at + 49)], [9, 8, 7, 6, 5]);
    assert.equal(view.getUint16(at + 52, true), 0xbeef);
    assert.equal(view.getUint32(at + 56, true), 77);
    assert.equal(view.getUint32(at + 60, true), 0xdeadbeef);
    assert.equal(view.getBigUint64(at + 64, true), 0x0807060504030201n);
    assert.equal(view.getInt32(at + 72, true), -2);
    assert.equal(view.getBigUint64(at + 80 + 39 * 8, true), 39n << 40n);
    assert.equal(view.getUint32(at + 400 + 19 * 8 + 4, true), 19000);
    assert.equal(view.getInt16(at + 560, true), -1);
    assert.equal(view.getBigUint64(at + 568, true), 0xffff888812345678n);

    const back = c.decode(view, at);
    assert.deepEqual(back, value);
    buf.fill(0);
    assert.deepEqual(back.raw, new Uint8Array([9, 8, 7, 6, 5]), 'decoded bytes are a copy, not a view of the batch');
  });

  test('encode: short arrays are zero-filled, long ones and long byte fields are refused, strings are cut', async () => {
    const c = codec(await load(source), 'vigilMock');
    const view = new DataView(new ArrayBuffer(576));
    c.encode({ ...value, arr: [5], name: 'abcdefghij' }, view, 0);
    const back = c.decode(view, 0);
    assert.deepEqual(back.arr, [5, 0, 0]);
    assert.equal(back.name, 'abcdef', 'char[7] keeps 6 bytes and the NUL');
    assert.throws(() => c.encode({ ...value, arr: [1, 2, 3, 4] }, view, 0), RangeError);
    assert.throws(() => c.encode({ ...value, raw: new Uint8Array(6) }, view, 0), RangeError);
  });

  test('bitfields are refused with the struct and field named', () => {
    const b = new BtfBuilder();
    const u32 = b.int('unsigned int', 4);
    b.struct('STRUCT', 'vigil_bits', 4, [['lo', u32, 0, 3], ['hi', u32, 0, 29]]);
    assert.throws(() => generateFromBtf(b.types, { structs: ['vigil_bits'] }),
      (e: unknown) => e instanceof CodegenError && /struct vigil_bits\.lo is a bitfield/.test(e.message) && /not supported/.test(e.message));
  });

  test('anonymous unions and missing types are refused by name', () => {
    const b = new BtfBuilder();
    const u32 = b.int('unsigned int', 4);
    const un = b.struct('UNION', '', 4, [['v', u32, 0]]);
    b.struct('STRUCT', 'vigil_anon', 4, [['', un, 0]]);
    assert.throws(() => generateFromBtf(b.types, { structs: ['vigil_anon'] }), /vigil_anon.*anonymous union/);
    assert.throws(() => generateFromBtf(b.types, { structs: ['vigil_missing'] }), /struct vigil_missing: not in the BTF/);
    assert.throws(() => generateFromBtf(b.types, { enums: ['vigil_missing'] }), /enum vigil_missing: not in the BTF/);
  });

  test('loops replace unrolling for long arrays; types from several BTFs share one module', async () => {
    const b1 = new BtfBuilder();
    const u16 = b1.int('unsigned short', 2);
    b1.struct('STRUCT', 'vigil_long', 200, [['v', b1.array(u16, 100), 0]]);
    const b2 = new BtfBuilder();
    b2.add({ kind: 'ENUM', name: 'vigil_e', size: 4, values: [{ name: 'VIGIL_E_X', val: 7 }] });
    const src = generateModule([{ kind: 'struct', name: 'vigil_long', types: b1.types }, { kind: 'enum', name: 'vigil_e', types: b2.types }]);
    assert.match(src, /for \(let i\d+ = 0; i\d+ < 100;/);
    const m = await load(src);
    const c = codec(m, 'vigilLong');
    const view = new DataView(new ArrayBuffer(200));
    const v = { v: Array.from({ length: 100 }, (_, i) => i * 3) };
    c.encode(v, view, 0);
    assert.equal(view.getUint16(99 * 2, true), 297);
    assert.deepEqual(c.decode(view, 0), v);
    assert.equal(m.VIGIL_E_X, 7);
  });
});

describe('codegen: header scan', () => {
  test('finds definitions in order, not uses or comments', () => {
    const h = [
      '/* struct vigil_commented { int x; }; */',
      '// enum vigil_also_commented {',
      'enum vigil_kind { VIGIL_A = 1 };',
      'struct vigil_rec {',
      '  struct vigil_inner in;',
      '  enum vigil_kind k;',
      '};',
      'struct vigil_inner{ __u32 x; };',
      'static void f(struct vigil_rec *r) {}',
      'struct { __uint(type, 1); } vigil_map SEC(".maps");',
    ].join('\n');
    assert.deepEqual(scanHeader(h), [
      { kind: 'enum', name: 'vigil_kind' }, { kind: 'struct', name: 'vigil_rec' }, { kind: 'struct', name: 'vigil_inner' },
    ]);
  });
});

// ---------------------------------------------------------------------------
// Real objects.

const fixtureObj = repoPath('bpf', '.output', 'testdata', 'codegen_fixture.bpf.o');
const benchLayout = { seq: 0, ktime_ns: 8, pid: 16, cpu: 20, arg: 24, pad: 32 };

describe('codegen: struct vigil_bench_record from a compiled object', () => {
  before(() => {
    assert.ok(existsSync(fixtureObj), `${fixtureObj} is missing: run \`make bpf\``);
  });

  test('offsets and size equal the C layout', async () => {
    const source = generateFromBtf(Btf.fromFile(fixtureObj).types, { structs: ['vigil_bench_record'] });
    const c = codec(await load(source), 'vigilBenchRecord');
    assert.equal(c.size, 64);
    assert.deepEqual(c.offsets, benchLayout);
    assert.match(source, /pad: Uint8Array;/);
    assert.match(source, /seq: bigint;/);
    assert.match(source, /pid: number;/);
  });

  test('src/generated/bench.ts is up to date', () => {
    const p = plan(repoRoot());
    const f = p.files.find((x) => x.file === 'src/generated/bench.ts');
    assert.ok(f, `bench.h was not generated: ${p.errors.join('\n')}`);
    assert.equal(readFileSync(repoPath('src', 'generated', 'bench.ts'), 'utf8'), f.content,
      'stale: run `node dist/src/codegen/cli.js`');
  });

  test('decodes the record a BPF program wrote (kernel)', async () => {
    requireRoot();
    tracefs();
    const c = codec(await load(generateFromBtf(Btf.fromFile(fixtureObj).types, { structs: ['vigil_bench_record'] })),
      'vigilBenchRecord');
    using obj = await ObjectSpec.fromFile(fixtureObj).load({ constants: { target_tgid: process.pid } });
    const map = obj.map('codegen_out');
    assert.equal(map.info.valueSize, c.size);
    {
      using link = obj.program('codegen_fill').attachTracepoint('syscalls', 'sys_enter_getppid');
      void link;
      getppid(3);
    }
    const buf = map.lookup(Buffer.alloc(4));
    assert.ok(buf);
    const r = c.decode(new DataView(buf.buffer, buf.byteOffset, buf.byteLength), 0);
    assert.equal(r.seq, 0x0102030405060708n);
    assert.equal(r.arg, 0xfedcba9876543210n);
    assert.equal(r.pid, process.pid, 'the main thread called getppid');
    assert.equal(typeof r.cpu, 'number');
    assert.ok((r.ktime_ns as bigint) > 0n);
    assert.deepEqual([...(r.pad as Uint8Array)], Array.from({ length: 32 }, (_, i) => i + 1));
  });
});

describe('codegen: the command on a scratch tree', () => {
  let root: string;
  before(() => {
    assert.ok(existsSync(fixtureObj), `${fixtureObj} is missing: run \`make bpf\``);
    root = mkdtempSync(path.join(tmpdir(), 'vigil-codegen-root-'));
    for (const d of ['bpf/include/vigil', 'bpf/.output', 'src/generated']) mkdirSync(path.join(root, d), { recursive: true });
    copyFileSync(repoPath('bpf', 'include', 'vigil', 'bench.h'), path.join(root, 'bpf/include/vigil/bench.h'));
    writeFileSync(path.join(root, 'bpf/include/vigil/nowhere.h'), 'struct vigil_nowhere { __u32 x; };\n');
    writeFileSync(path.join(root, 'bpf/include/vigil/ringbuf.h'), 'struct { int x; } vigil_lost;\n');
    writeFileSync(path.join(root, 'bpf/fixture.bpf.c'), '');
    copyFileSync(fixtureObj, path.join(root, 'bpf/.output/fixture.bpf.o'));
    copyFileSync(fixtureObj, path.join(root, 'bpf/.output/orphan.bpf.o'));
    writeFileSync(path.join(root, 'src/generated/gone.ts'), `${GENERATED_MARKER}\nexport {};\n`);
    writeFileSync(path.join(root, 'src/generated/index.ts'), 'export {};\n');
  });
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('plan: one file per header with types, the missing struct named with the idiom, stale files found', () => {
    const p = plan(root);
    assert.deepEqual(p.files.map((f) => f.file), ['src/generated/bench.ts']);
    assert.equal(p.errors.length, 1);
    assert.match(p.errors[0]!, /struct vigil_nowhere \(bpf\/include\/vigil\/nowhere\.h\) is in the BTF of no compiled object/);
    assert.match(p.errors[0]!, /VIGIL_KEEP_TYPES\(struct vigil_nowhere\); \(bpf\/include\/vigil\/maps\.h\)/);
    assert.deepEqual(p.stale, ['src/generated/gone.ts']);
  });

  test('writes, fails on the missing struct, then stays incremental; --check reports drift', () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    const run = (...argv: string[]): number => {
      lines.length = 0;
      return main(argv, root, io);
    };
    assert.equal(run('--check'), 1);
    assert.ok(lines.includes('codegen: src/generated/bench.ts is out of date'), lines.join('\n'));
    assert.ok(!existsSync(path.join(root, 'src/generated/bench.ts')), '--check writes nothing');
    assert.equal(run(), 1, 'the missing struct fails the run');
    assert.ok(existsSync(path.join(root, 'src/generated/bench.ts')), 'headers that could be generated are written');
    assert.ok(!existsSync(path.join(root, 'src/generated/gone.ts')));
    assert.ok(existsSync(path.join(root, 'src/generated/index.ts')), 'hand-written files are left alone');

    rmSync(path.join(root, 'bpf/include/vigil/nowhere.h'));
    const file = path.join(root, 'src/generated/bench.ts');
    const before = statSync(file).mtimeMs;
    assert.equal(run(), 0);
    assert.deepEqual(lines, ['codegen: 0 written, 1 unchanged']);
    assert.equal(statSync(file).mtimeMs, before, 'an unchanged file is not rewritten');
    assert.equal(run('--check'), 0);

    writeFileSync(file, readFileSync(file, 'utf8') + '// edited\n');
    assert.equal(run('--check'), 1);
    assert.equal(run(), 0);
    assert.equal(run('--check'), 0);
  });
});
