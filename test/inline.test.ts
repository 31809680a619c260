// compile(): BPF C to a loaded, attached program on the real kernel; the
// cache (a cached compile runs no clang; a header change is a new object;
// a cache another user could have written is refused); clang's errors at
// the user's line; a missing clang names the package.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, cpSync, existsSync, utimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TypedMap, codec } from '../src/bpf/index.js';
import { compile, compileObject, CompileError, formatHistogram, readHistogram } from '../src/inline/index.js';
import { pruneObjects } from '../src/inline/compile.js';
import { spawn, spawnSync } from 'node:child_process';
import { repoPath } from '../src/util/paths.js';
import { getppid, requireRoot, tracefs, waitFor } from './helpers.js';

const COUNTER = `
const volatile u32 target_tgid = 0;
VIGIL_HASH(calls, u32, u64, 64);
VIGIL_HISTOGRAM(sizes, 16);

SYSCALL_ENTER_PROBE(getppid)
{
	u32 pid = vigil_pid();
	if (pid != target_tgid)
		return 0;
	vigil_map_add(&calls, &pid, 1);
	vigil_hist_log2(sizes, 5, 16);   /* slot 3: [4, 7] */
	vigil_hist_log2(sizes, 0, 16);   /* slot 0 */
	return 0;
}
`;

let tmp: string;
let cacheDir: string;
/** A clang that counts its runs in a file, then runs the real one. */
let countingClang: string;
let clangRuns: string;
const runs = (): number => (existsSync(clangRuns) ? readFileSync(clangRuns, 'utf8').length : 0);

before(() => {
  requireRoot();
  tracefs();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'vigil-inline-'));
  cacheDir = path.join(tmp, 'cache');
  clangRuns = path.join(tmp, 'clang-runs');
  countingClang = path.join(tmp, 'clang');
  writeFileSync(countingClang, `#!/bin/sh\nprintf x >> ${clangRuns}\nexec clang "$@"\n`, { mode: 0o755 });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('compile()', () => {
  test('C text to an attached program whose maps count real syscalls', async () => {
    const spec = await compile(COUNTER, { name: 'inline_counter', cacheDir });
    assert.deepEqual([...spec.programs.keys()], ['syscall__enter_getppid']);
    using obj = await spec.load({ constants: { target_tgid: process.pid } });
    using link = obj.program('syscall__enter_getppid').attach();
    getppid(25);
    link.close();
    assert.equal(new TypedMap(obj.map('calls'), codec.u32, codec.u64n).get(process.pid), 25);
    const hist = readHistogram(obj.map('sizes'));
    assert.equal(hist.length, 16);
    assert.equal(hist[0], 25);
    assert.equal(hist[3], 25);
    assert.equal(hist.reduce((a, b) => a + b, 0), 50);
    assert.equal(formatHistogram(hist, { unit: 'bytes' }), [
      ' bytes : count    distribution',
      `0 -> 0 :    25    |${'*'.repeat(40)}|`,
      `1 -> 1 :     0    |${' '.repeat(40)}|`,
      `2 -> 3 :     0    |${' '.repeat(40)}|`,
      `4 -> 7 :    25    |${'*'.repeat(40)}|`,
    ].join('\n'));
  });

  test('a cached compile runs no clang; a changed source or header compiles again', async () => {
    const inc = path.join(tmp, 'include');
    mkdirSync(inc, { recursive: true });
    writeFileSync(path.join(inc, 'mine.h'), '#define MINE 1\n');
    const src = `#include "mine.h"\nVIGIL_ARRAY(a, u64, MINE);\nSYSCALL_ENTER_PROBE(getppid) { return 0; }\n`;
    const o = { name: 'cached', cacheDir, clang: countingClang, includeDirs: [inc] };
    const cold = await compileObject(src, o);
    assert.equal(cold.cached, false);
    assert.equal(runs(), 1);
    const warm = await compileObject(src, o);
    assert.equal(warm.cached, true);
    assert.equal(runs(), 1, 'the cached compile ran clang');
    assert.equal(warm.key, cold.key);
    assert.deepEqual(warm.image, cold.image);
    writeFileSync(path.join(inc, 'mine.h'), '#define MINE 2\n');
    const changed = await compileObject(src, o);
    assert.equal(changed.cached, false, 'a header the object was built from changed');
    assert.equal(runs(), 2);
    assert.equal((await compile(src, o)).maps.get('a')?.maxEntries, 2);
    await compileObject(`${src}\n`, o);
    assert.equal(runs(), 3, 'a changed source is a new object');
  });

  test('a syntax error is reported at the user\'s file, line and column', async () => {
    const src = 'SYSCALL_ENTER_PROBE(getppid)\n{\n\tu32 x = ;\n\treturn 0;\n}\n';
    const e = await compileObject(src, { name: 'bad', cacheDir }).then(() => undefined, (err: unknown) => err);
    assert.ok(e instanceof CompileError, String(e));
    assert.equal(e.message, 'bad.bpf.c:3:10: error: expected expression');
    assert.deepEqual(e.diagnostics[0], { file: 'bad.bpf.c', line: 3, column: 10, severity: 'error', message: 'expected expression' });
    assert.doesNotMatch(e.log, new RegExp(tmp), 'the temporary file is not named');
    // C inside a template literal starting at line 40 of app.ts.
    const moved = await compileObject(src, { name: 'bad', cacheDir, filename: 'app.ts', lineOffset: 40 }).catch((err: CompileError) => err);
    assert.ok(moved instanceof CompileError);
    assert.match(moved.message, /^app\.ts:43:10: error: expected expression$/);
    const two = await compileObject('int f(void) { return y + z; }\n', { name: 'two', cacheDir }).catch((err: CompileError) => err);
    assert.ok(two instanceof CompileError);
    assert.match(two.message, /^two\.bpf\.c:1:22: error: use of undeclared identifier 'y' \(and 1 more error\)$/);
  });

  test('a missing clang is one clear error naming the Debian package', async () => {
    await assert.rejects(compileObject(COUNTER, { cacheDir, clang: path.join(tmp, 'no-such-clang') }),
      (e: unknown) => e instanceof CompileError && /clang .*is not on PATH.*apt-get install clang/.test(e.message));
    const saved = process.env.PATH;
    process.env.PATH = path.join(tmp, 'empty-path');
    try {
      await assert.rejects(compileObject(COUNTER, { cacheDir }), /clang \(clang\) is not on PATH; it compiles BPF C: install it \(Debian, Ubuntu: apt-get install clang\)/);
    } finally {
      process.env.PATH = saved;
    }
  });

  test('vmlinux.h is made once per kernel BTF and kept under its hash', () => {
    const dirs = readdirSync(path.join(cacheDir, 'vmlinux'));
    assert.equal(dirs.length, 1);
    assert.match(dirs[0]!, /^[0-9a-f]{32}$/);
    assert.match(readFileSync(path.join(cacheDir, 'vmlinux', dirs[0]!, 'vmlinux.h'), 'utf8').slice(0, 200), /#ifndef __VMLINUX_H__/);
  });
});

test('the cache keeps the most recently used objects, with their records', () => {
  const dir = path.join(tmp, 'prune');
  mkdirSync(dir);
  for (let i = 0; i < 5; i++) {
    writeFileSync(path.join(dir, `k${i}.bpf.o`), 'o');
    writeFileSync(path.join(dir, `k${i}.deps.json`), '{}');
    utimesSync(path.join(dir, `k${i}.bpf.o`), 1_000 + i, 1_000 + i);
  }
  assert.equal(pruneObjects(dir, 3), 2);
  assert.deepEqual(readdirSync(dir).sort(), ['k2.bpf.o', 'k2.deps.json', 'k3.bpf.o', 'k3.deps.json', 'k4.bpf.o', 'k4.deps.json']);
  assert.equal(pruneObjects(dir, 3), 0);
});

describe('the cache is refused when another user could have written it', () => {
  test('a world-writable cache directory', async () => {
    const dir = path.join(tmp, 'open-cache');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    await assert.rejects(compileObject(COUNTER, { cacheDir: dir }),
      /compile cache: directory .*open-cache is writable by others \(mode 777\): refusing to use it/);
  });

  test('a cache directory or object owned by another user, or a symlink', async () => {
    const dir = path.join(tmp, 'foreign-cache');
    mkdirSync(dir);
    chownSync(dir, 65534, 65534);
    await assert.rejects(compileObject(COUNTER, { cacheDir: dir }), /directory .*foreign-cache is owned by uid 65534, not 0/);

    // An object planted under the right name: compile it, then hand the file to nobody.
    const own = path.join(tmp, 'planted-cache');
    cpSync(path.join(cacheDir, 'vmlinux'), path.join(own, 'vmlinux'), { recursive: true }); // made once is enough
    const c = await compileObject(COUNTER, { cacheDir: own, name: 'planted' });
    chownSync(c.path, 65534, 65534);
    await assert.rejects(compileObject(COUNTER, { cacheDir: own, name: 'planted' }), /file .*\.bpf\.o is owned by uid 65534, not 0/);
    rmSync(c.path);
    symlinkSync(path.join(tmp, 'elsewhere.o'), c.path);
    await assert.rejects(compileObject(COUNTER, { cacheDir: own, name: 'planted' }), /\.bpf\.o is a symbolic link/);
  });
});

describe('vigil trace FILE.bpf.c', () => {
  const vigil = (args: string[]): ReturnType<typeof spawn> => spawn(process.execPath, [repoPath('bin', 'vigil'), 'trace', ...args],
    { env: { ...process.env, VIGIL_CACHE_DIR: cacheDir }, stdio: ['ignore', 'pipe', 'pipe'] });

  test('compiles, attaches, and prints its maps (a counter, a histogram) when it stops', async () => {
    const script = path.join(tmp, 'getppid.bpf.c');
    writeFileSync(script, `VIGIL_HASH(calls, u32, u64, 64);
VIGIL_HISTOGRAM(arg_hist, 8);
SYSCALL_ENTER_PROBE(getppid)
{
	u32 pid = vigil_pid();
	if (pid != TARGET)
		return 0;
	vigil_map_add(&calls, &pid, 1);
	vigil_hist_log2(arg_hist, 2, 8);
	return 0;
}
`);
    const child = vigil([script, '-D', `TARGET=${process.pid}`, '--duration', '3']);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.ok(await waitFor(() => /for 3 s\n/.test(err), 30_000), err);
    assert.match(err, /^vigil trace: .*getppid\.bpf\.c: tracepoint syscalls\/sys_enter_getppid \(syscall__enter_getppid\); for 3 s\n$/);
    getppid(30);
    assert.equal(await exited, 0, err);
    assert.equal(out, `calls:\n  ${process.pid} => 30\narg_hist:\n value : count    distribution\n2 -> 3 :    30    |${'*'.repeat(40)}|\n`);
  });

  test('a missing clang is one line naming the package, status 1', () => {
    const script = path.join(tmp, 'any.bpf.c');
    writeFileSync(script, 'SYSCALL_ENTER_PROBE(getppid) { return 0; }\n');
    const r = spawnSync(process.execPath, [repoPath('bin', 'vigil'), 'trace', script], {
      encoding: 'utf8', env: { ...process.env, VIGIL_CACHE_DIR: cacheDir, VIGIL_CLANG: path.join(tmp, 'no-such-clang') },
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^vigil trace: clang \(.*no-such-clang\) is not on PATH; it compiles BPF C: install it \(Debian, Ubuntu: apt-get install clang\)\n$/);
  });

  test('a compiler error is one line at the script\'s line and column, status 2', () => {
    const script = path.join(tmp, 'broken.bpf.c');
    writeFileSync(script, 'SYSCALL_ENTER_PROBE(getppid)\n{\n\treturn missing;\n}\n');
    const r = spawnSync(process.execPath, [repoPath('bin', 'vigil'), 'trace', script], { encoding: 'utf8', env: { ...process.env, VIGIL_CACHE_DIR: cacheDir } });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `vigil trace: ${script}:3:9: error: use of undeclared identifier 'missing'\n`);
  });
});
