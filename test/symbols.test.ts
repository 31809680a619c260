// Symbolisation of real processes: C (PIE and not), a shared library (with .symtab and
// stripped), C++, kernel symbols, JIT frames of a real `node --perf-basic-prof`, processes
// that exit. The fixtures print the runtime addresses of their functions.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { Symbolizer } from '../src/kernel/symbols/index.js';
import { repoPath } from '../src/util/paths.js';
import { openFdCount, requireRoot } from './helpers.js';

const fixture = (name: string): string => repoPath('test', '.output', name);

interface Target {
  child: ChildProcessWithoutNullStreams;
  pid: number;
  addrs: Map<string, bigint>;
  /** Stops the process (closes its stdin) and waits for its exit. */
  stop(): Promise<void>;
}

/** Starts a fixture and reads its "NAME=0xADDR" lines up to "ready". */
async function startTarget(file: string, args: string[] = [], nodeArgs?: string[], cwd?: string): Promise<Target> {
  const child = nodeArgs
    ? spawn(process.execPath, [...nodeArgs], { stdio: 'pipe', ...(cwd ? { cwd } : {}) })
    : spawn(file, args, { stdio: 'pipe' });
  const addrs = new Map<string, bigint>();
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file}: no "ready" in 10 s; stderr: ${err}`)), 10_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited (${code}) before "ready": ${err}`));
    });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        const m = /^(\w+)=(0x[0-9a-f]+)$/.exec(line.trim());
        if (m) addrs.set(m[1]!, BigInt(m[2]!));
        if (line.trim() === 'ready') {
          clearTimeout(timer);
          child.removeAllListeners('exit');
          resolve();
        }
      }
    });
  });
  const exited = once(child, 'exit');
  return {
    child,
    pid: child.pid!,
    addrs,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin.end();
        await exited;
      }
    },
  };
}

function addr(t: Target, name: string): bigint {
  const a = t.addrs.get(name);
  assert.ok(a !== undefined, `fixture printed no address for ${name}`);
  return a;
}

/** The maps line holding addr, parsed here independently of the code under test. */
function mappingOf(pid: number, a: bigint): { start: bigint; offset: bigint; path: string } {
  for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \d+\s*(.*)$/.exec(line);
    if (m && BigInt('0x' + m[1]) <= a && a < BigInt('0x' + m[2])) {
      return { start: BigInt('0x' + m[1]), offset: BigInt('0x' + m[3]), path: m[4]! };
    }
  }
  throw new Error(`no mapping of ${pid} holds 0x${a.toString(16)}`);
}

function readelfBuildId(file: string): string {
  const out = execFileSync('readelf', ['-n', file], { encoding: 'utf8' });
  return /Build ID: ([0-9a-f]+)/.exec(out)![1]!;
}

before(() => requireRoot());

describe('C executables and shared libraries', () => {
  for (const variant of ['symtarget', 'symtarget-nopie'] as const) {
    test(`${variant}: functions of the executable, exact and inside`, async (t) => {
      const target = await startTarget(fixture(variant));
      t.after(() => target.stop());
      using sym = new Symbolizer();
      assert.equal(sym.captureProcess(target.pid), true);
      const exe = fs.realpathSync(fixture(variant));
      const names = ['busy_a', 'busy_b', 'local_helper', 'main'];
      const addrs = names.flatMap((n) => [addr(target, n), addr(target, n) + 5n]);
      const frames = sym.symbolizeUser(target.pid, addrs);
      names.forEach((n, i) => {
        for (const [k, delta] of [[2 * i, 0n], [2 * i + 1, 5n]] as const) {
          const f = frames[k]!;
          assert.equal(f.name, n, `0x${f.addr.toString(16)}`);
          assert.equal(f.kind, 'user');
          assert.equal(f.module, exe);
          assert.equal(f.symbolOffset, delta);
          assert.equal(f.addr, addrs[k]);
          const m = mappingOf(target.pid, f.addr);
          assert.equal(f.offset, f.addr - m.start + m.offset, 'offset in the file');
          assert.equal(f.mapping?.buildId, readelfBuildId(exe));
        }
      });
      assert.deepEqual(sym.processName(target.pid), { comm: variant.slice(0, 15), exe });
    });
  }

  test('function of a shared library (PIE executable, load bias)', async (t) => {
    const target = await startTarget(fixture('symtarget'));
    t.after(() => target.stop());
    using sym = new Symbolizer();
    sym.captureProcess(target.pid);
    const a = addr(target, 'symlib_spin');
    const [exact, inside] = sym.symbolizeUser(target.pid, [a, a + 7n]);
    const lib = fs.realpathSync(fixture('libsymlib.so'));
    assert.equal(exact!.name, 'symlib_spin');
    assert.equal(exact!.module, lib);
    assert.equal(inside!.name, 'symlib_spin');
    assert.equal(inside!.symbolOffset, 7n);
    const m = mappingOf(target.pid, a);
    assert.equal(exact!.offset, a - m.start + m.offset);
  });

  test('parsed on the parsing threads: the same frames, and no table parsed on the caller\'s thread', async (t) => {
    const target = await startTarget(fixture('symtarget'));
    t.after(() => target.stop());
    using sym = new Symbolizer({ parseInBackground: true });
    assert.equal(sym.captureProcess(target.pid), true);
    const addrs = [addr(target, 'busy_a'), addr(target, 'symlib_spin') + 7n];
    sym.prefetch(target.pid, addrs);
    sym.prefetchKernel();
    await sym.idle();
    // Both files (the executable, the library) and kallsyms arrived from the threads.
    assert.equal(sym.stats.elfParsed, 2);
    assert.equal(sym.stats.elfCached, 2);
    assert.ok(sym.stats.kernelSymbols > 1000, String(sym.stats.kernelSymbols));
    const frames = sym.symbolizeUser(target.pid, addrs);
    assert.deepEqual(frames.map((f) => [f.name, f.symbolOffset]), [['busy_a', 0n], ['symlib_spin', 7n]]);
    // Nothing was parsed here: elfParseMs counts only this thread's parsing.
    assert.equal(sym.stats.elfParsed, 2);
    assert.equal(sym.stats.elfParseMs, 0);
    const kallsyms = fs.readFileSync('/proc/kallsyms', 'latin1');
    const m = /^([0-9a-f]+) [Tt] (vfs_read)$/m.exec(kallsyms);
    assert.ok(m, 'vfs_read in kallsyms');
    const [k] = sym.symbolizeKernel([BigInt('0x' + m[1]!) + 4n]);
    assert.equal(k!.name, 'vfs_read');
    // Prefetching again what is cached sends nothing.
    sym.prefetch(target.pid, addrs);
    await sym.idle();
    assert.equal(sym.stats.elfParsed, 2);
  });

  test('stripped library: .dynsym names exports; other code is [unknown] with module+offset', async (t) => {
    const lib = fs.realpathSync(fixture('libsymlib-stripped.so'));
    const target = await startTarget(fixture('symtarget'), [lib, 'symlib_stripped_spin']);
    t.after(() => target.stop());
    using sym = new Symbolizer();
    sym.captureProcess(target.pid);
    const a = addr(target, 'symlib_stripped_spin');
    // 0x20 before the export: crt code (deregister_tm_clones & co), named only in a .symtab.
    const [exp, anon] = sym.symbolizeUser(target.pid, [a + 3n, a - 0x20n]);
    assert.equal(exp!.name, 'symlib_stripped_spin');
    assert.equal(exp!.module, lib);
    assert.equal(exp!.symbolOffset, 3n);
    const m = mappingOf(target.pid, a - 0x20n);
    const off = a - 0x20n - m.start + m.offset;
    assert.equal(anon!.kind, 'unknown');
    assert.equal(anon!.name, `[unknown] 0x${(a - 0x20n).toString(16)} (libsymlib-stripped.so+0x${off.toString(16)})`);
    assert.equal(anon!.module, lib);
    assert.equal(anon!.offset, off);
  });

  test('address outside every mapping: [unknown] 0xADDR', async (t) => {
    const target = await startTarget(fixture('symtarget'));
    t.after(() => target.stop());
    using sym = new Symbolizer();
    const [f] = sym.symbolizeUser(target.pid, [0x10n]);
    assert.deepEqual(
      { name: f!.name, kind: f!.kind, module: f!.module, offset: f!.offset },
      { name: '[unknown] 0x10', kind: 'unknown', module: '', offset: 0n },
    );
  });

  test('a process that exited is still symbolised from its capture', async () => {
    const target = await startTarget(fixture('symtarget'));
    using sym = new Symbolizer();
    assert.equal(sym.captureProcess(target.pid), true);
    const a = addr(target, 'busy_b');
    const l = addr(target, 'symlib_spin');
    await target.stop();
    assert.equal(fs.existsSync(`/proc/${target.pid}/maps`), false, 'the process is gone');
    assert.equal(sym.captureProcess(target.pid), false);
    const [f, g] = sym.symbolizeUser(target.pid, [a + 1n, l]);
    assert.equal(f!.name, 'busy_b');
    assert.equal(g!.name, 'symlib_spin');
    assert.equal(sym.processName(target.pid)?.comm, 'symtarget');
    sym.forget(target.pid);
    assert.equal(sym.symbolizeUser(target.pid, [a])[0]!.kind, 'unknown', 'forgotten and gone');
  });

  test('capture is idempotent and re-reads only changed maps', async (t) => {
    const target = await startTarget(fixture('symtarget'));
    t.after(() => target.stop());
    using sym = new Symbolizer();
    sym.captureProcess(target.pid);
    sym.captureProcess(target.pid);
    sym.captureProcess(target.pid);
    assert.equal(sym.stats.captures, 1);
    sym.symbolizeUser(target.pid, [addr(target, 'busy_a'), addr(target, 'busy_b')]);
    // Both addresses are in the executable: its table was parsed once.
    assert.equal(sym.stats.elfParsed, 1);
  });
});

describe('lifecycle', () => {
  test('kernel threads: a name, no mappings', () => {
    using sym = new Symbolizer();
    assert.equal(sym.captureProcess(2), true);
    assert.deepEqual(sym.processName(2), { comm: 'kthreadd', exe: '' });
    assert.equal(sym.symbolizeUser(2, [0x401000n])[0]!.kind, 'unknown');
  });

  test('files opened at capture are closed by close(); forgetExited drops dead processes', async () => {
    const before = openFdCount();
    const target = await startTarget(fixture('symtarget'));
    const sym = new Symbolizer();
    sym.captureProcess(target.pid);
    sym.captureProcess(process.pid);
    assert.ok(openFdCount() > before, 'mapped files are held open until their symbols are read');
    sym.symbolizeUser(target.pid, [addr(target, 'busy_a')]);
    await target.stop();
    assert.equal(sym.forgetExited(), 1);
    assert.equal(sym.stats.processes, 1);
    sym.close();
    assert.equal(openFdCount(), before);
    assert.throws(() => sym.symbolizeUser(1, [1n]), /closed/);
  });
});

describe('C++', () => {
  test('mangled names in a namespace are demangled', async (t) => {
    const target = await startTarget(fixture('symtarget_cpp'));
    t.after(() => target.stop());
    using sym = new Symbolizer();
    const frames = sym.symbolizeUser(target.pid, [addr(target, 'crunch') + 2n, addr(target, 'step'), addr(target, 'twice_int')]);
    assert.equal(frames[0]!.name, 'vigilfx::crunch(int, double)');
    assert.equal(frames[0]!.symbolOffset, 2n);
    assert.equal(frames[1]!.name, 'vigilfx::Engine::step(long)');
    assert.match(frames[2]!.name, /vigilfx::twice<int>\(int\)$/);
    using raw = new Symbolizer({ demangle: false });
    assert.equal(raw.symbolizeUser(target.pid, [addr(target, 'crunch')])[0]!.name, '_ZN7vigilfx6crunchEid');
  });
});

describe('kernel', () => {
  const kallsyms = fs.readFileSync('/proc/kallsyms', 'utf8');
  /** All names kallsyms gives the address of `name` (aliases included). */
  function aliases(name: string): { addr: bigint; names: string[] } | undefined {
    const m = new RegExp(`^([0-9a-f]+) [tT] ${name}$`, 'm').exec(kallsyms);
    if (!m) return undefined;
    const names = kallsyms
      .split('\n')
      .filter((l) => l.startsWith(m[1]! + ' ') && /^[0-9a-f]+ [tTwW] /.test(l))
      .map((l) => l.split(' ')[2]!.split('\t')[0]!);
    return { addr: BigInt('0x' + m[1]), names };
  }

  test('known syscall functions, +0x10 inside', () => {
    using sym = new Symbolizer();
    let checked = 0;
    for (const fn of ['do_sys_openat2', '__x64_sys_getpid']) {
      const k = aliases(fn);
      if (!k) continue;
      const [f] = sym.symbolizeKernel([k.addr + 0x10n]);
      assert.ok(k.names.includes(f!.name), `${f!.name} is one of ${k.names.join(', ')}`);
      assert.equal(f!.kind, 'kernel');
      assert.equal(f!.module, '[kernel]');
      assert.equal(f!.symbolOffset, 0x10n);
      checked++;
    }
    assert.ok(checked > 0, 'kallsyms has neither do_sys_openat2 nor __x64_sys_getpid');
    const k = aliases('do_sys_openat2');
    if (k && k.names.length === 1) assert.equal(sym.symbolizeKernel([k.addr + 0x10n])[0]!.name, 'do_sys_openat2');
  });

  test('an address below the kernel is [unknown]', () => {
    using sym = new Symbolizer();
    const [f] = sym.symbolizeKernel([0x1000n]);
    assert.equal(f!.kind, 'unknown');
    assert.equal(f!.name, '[unknown] 0x1000');
  });
});

describe('JIT frames from perf maps', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-perfmap-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('synthetic perf map (incremental, later entries win)', async (t) => {
    const target = await startTarget(fixture('symtarget'));
    t.after(() => target.stop());
    const dir = path.join(tmp, 'maps');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `perf-${target.pid}.map`);
    // Addresses nothing maps in a 47-bit user space, so only the perf map can name them.
    fs.writeFileSync(file, '10000000 100 LazyCompile:*fib /app/fib.js:1\n0x10000100 0x80 Builtin:Spread\n10000200 40 old\n');
    using sym = new Symbolizer({ perfMapDir: dir });
    sym.captureProcess(target.pid);
    let [a, b, c, miss] = sym.symbolizeUser(target.pid, [0x10000010n, 0x10000100n, 0x10000220n, 0x10000400n]);
    assert.deepEqual([a!.name, a!.kind, a!.module, a!.symbolOffset], ['LazyCompile:*fib /app/fib.js:1', 'jit', '[perf-map]', 0x10n]);
    assert.equal(b!.name, 'Builtin:Spread');
    assert.equal(c!.name, 'old');
    assert.equal(miss!.kind, 'unknown');
    // A miss re-reads what the perf map gained.
    fs.appendFileSync(file, '10000400 10 appended\n');
    assert.equal(sym.symbolizeUser(target.pid, [0x10000404n])[0]!.name, 'appended');
    // The JIT reuses code space: a newer entry covers the old one (seen at the next capture).
    fs.appendFileSync(file, '10000200 180 newer\n');
    sym.captureProcess(target.pid);
    [c, miss] = sym.symbolizeUser(target.pid, [0x10000220n, 0x10000300n]);
    assert.equal(c!.name, 'newer');
    assert.equal(miss!.name, 'newer');
    assert.equal(miss!.symbolOffset, 0x100n);
  });

  test('node --perf-basic-prof: an optimised JS function is named', async (t) => {
    const script = `
      function vigilJitTarget(n) { let s = 0; for (let i = 0; i < n; i++) s += i % 7; return s; }
      %PrepareFunctionForOptimization(vigilJitTarget);
      vigilJitTarget(100); vigilJitTarget(100);
      %OptimizeFunctionOnNextCall(vigilJitTarget);
      vigilJitTarget(100);
      console.log('ready');
      process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
    // (cwd: V8 also writes an isolate-*.log there when perf maps are on.)
    const target = await startTarget('node', [], ['--perf-basic-prof', '--allow-natives-syntax', '-e', script], tmp);
    const mapFile = `/tmp/perf-${target.pid}.map`;
    t.after(async () => {
      await target.stop();
      fs.rmSync(mapFile, { force: true });
    });
    using sym = new Symbolizer();
    sym.captureProcess(target.pid);
    const lines = fs.readFileSync(mapFile, 'utf8').split('\n').filter((l) => l.includes('vigilJitTarget'));
    assert.ok(lines.length > 0, 'the perf map names vigilJitTarget');
    const line = lines[lines.length - 1]!;
    const [start, , ...rest] = line.split(' ');
    const a = BigInt('0x' + start!.replace(/^0x/, '')) + 4n;
    const [f] = sym.symbolizeUser(target.pid, [a]);
    assert.equal(f!.kind, 'jit');
    assert.equal(f!.name, rest.join(' '));
    assert.match(f!.name, /vigilJitTarget/);
    assert.equal(f!.symbolOffset, 4n);
  });
});
