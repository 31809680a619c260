// Pieces of the syscall sensor that need no kernel: syscall names, log2
// histogram quantiles, fd path helpers.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostSyscallArch, syscallName, syscallNumber, syscallTable } from '../src/kernel/syscalls.js';
import { bucketBounds, histogramQuantile } from '../src/sensors/histogram.js';
import { FdPathResolver, fdinfoInode, kernelDevName } from '../src/sensors/fd-paths.js';
import { VIGIL_SYSCALL_HIST_BUCKETS } from '../src/generated/syscall.js';

const X86_HEADER = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';

describe('syscall names', () => {
  test('well-known numbers, both architectures', () => {
    const x86: [number, string][] = [[0, 'read'], [1, 'write'], [2, 'open'], [35, 'nanosleep'], [39, 'getpid'],
      [59, 'execve'], [110, 'getppid'], [231, 'exit_group'], [257, 'openat'], [435, 'clone3'], [437, 'openat2'],
      [452, 'fchmodat2'], [462, 'mseal']];
    for (const [nr, name] of x86) {
      assert.equal(syscallName(nr, 'x86_64'), name);
      assert.equal(syscallNumber(name, 'x86_64'), nr);
    }
    const arm64: [number, string][] = [[25, 'fcntl'], [56, 'openat'], [57, 'close'], [63, 'read'], [64, 'write'],
      [79, 'newfstatat'], [101, 'nanosleep'], [172, 'getpid'], [173, 'getppid'], [221, 'execve'], [222, 'mmap'],
      [435, 'clone3'], [437, 'openat2'], [462, 'mseal']];
    for (const [nr, name] of arm64) {
      assert.equal(syscallName(nr, 'arm64'), name);
      assert.equal(syscallNumber(name, 'arm64'), nr);
    }
    assert.equal(syscallNumber('open', 'arm64'), undefined, 'arm64 has no open(2)');
    assert.equal(syscallName(9999, 'x86_64'), 'syscall_9999');
    assert.equal(syscallNumber('syscall_9999', 'x86_64'), 9999);
    assert.equal(hostSyscallArch(), process.arch === 'arm64' ? 'arm64' : 'x86_64');
  });

  test('the x86_64 table matches the installed kernel headers', () => {
    // The table is generated from this header (scripts/syscall-names.mjs); it must agree with it.
    assert.ok(existsSync(X86_HEADER), `${X86_HEADER} (linux-libc-dev) is installed on the test machine`);
    const header = new Map<number, string>();
    for (const m of readFileSync(X86_HEADER, 'utf8').matchAll(/^#define __NR_(\w+) (\d+)$/gm)) {
      header.set(Number(m[2]), m[1] as string);
    }
    assert.ok(header.size > 300);
    const table = new Map(syscallTable('x86_64'));
    for (const [nr, name] of header) assert.equal(table.get(nr), name, `x86_64 ${nr}`);
    // Newer than the headers: numbers above theirs, names not in them.
    const maxHeader = Math.max(...header.keys());
    for (const [nr] of table) if (!header.has(nr)) assert.ok(nr > maxHeader, `${nr} only in the table`);
  });

  test('tables are dense where the kernel is and names are unique', () => {
    for (const a of ['x86_64', 'arm64'] as const) {
      const t = syscallTable(a);
      assert.equal(new Set(t.map(([, n]) => n)).size, t.length, `${a}: unique names`);
      assert.ok(t.every(([nr, n]) => Number.isInteger(nr) && nr >= 0 && /^[a-z0-9_]+$/.test(n)));
    }
  });
});

describe('log2 histogram quantiles', () => {
  const empty = (): number[] => new Array<number>(VIGIL_SYSCALL_HIST_BUCKETS).fill(0);

  test('bucket bounds: [2^b, 2^(b+1)), bucket 0 from 0, the last open-ended up to max', () => {
    assert.deepEqual(bucketBounds(0, 32), [0, 2]);
    assert.deepEqual(bucketBounds(10, 32), [1024, 2048]);
    assert.deepEqual(bucketBounds(10, 32, 1500), [1024, 1500]);
    assert.deepEqual(bucketBounds(31, 32, 5e9), [2 ** 31, 5e9]);
    assert.deepEqual(bucketBounds(31, 32), [2 ** 31, 2 ** 32]);
  });

  test('interpolates within the bucket holding the rank', () => {
    const h = empty();
    h[10] = 100; // 100 calls in [1024, 2048)
    assert.equal(histogramQuantile(h, 0.5), 1024 + 1024 * 0.5);
    assert.equal(histogramQuantile(h, 1), 2048);
    assert.equal(histogramQuantile(h, 0.5, 1536), 1024 + 512 * 0.5, 'clipped to the maximum seen');
    const two = empty();
    two[4] = 90; // [16, 32)
    two[20] = 10; // [1 Mi, 2 Mi)
    assert.ok(histogramQuantile(two, 0.5) >= 16 && histogramQuantile(two, 0.5) < 32);
    assert.equal(histogramQuantile(two, 0.9), 32, 'rank 90 is the end of bucket 4');
    const p99 = histogramQuantile(two, 0.99);
    assert.ok(p99 >= 2 ** 20 && p99 < 2 ** 21);
    assert.equal(histogramQuantile(empty(), 0.5), 0);
    assert.throws(() => histogramQuantile(h, 0), RangeError);
    assert.throws(() => histogramQuantile(h, 1.5), RangeError);
  });

  test('monotonic in q', () => {
    const h = empty();
    [3, 0, 5, 7, 1, 0, 0, 9].forEach((c, i) => (h[i + 5] = c));
    let prev = 0;
    for (let q = 0.01; q <= 1; q += 0.01) {
      const v = histogramQuantile(h, Math.min(q, 1), 10_000);
      assert.ok(v >= prev, `q=${q}`);
      prev = v;
    }
  });
});

describe('fd paths', () => {
  test('fdinfo inode and kernel device names', () => {
    assert.equal(fdinfoInode('pos:\t0\nflags:\t0100000\nmnt_id:\t24\nino:\t1234\n'), 1234n);
    assert.equal(fdinfoInode('pos:\t0\nflags:\t02\n'), undefined);
    assert.equal(kernelDevName((8 << 20) | 1), '8:1');
    assert.equal(kernelDevName((254 << 20) | 0), '254:0');
  });

  test('an fd is believed only while it names the same inode; learnt names outlive it', () => {
    // A fake /proc: pid 7 with fd 3 -> /data/a (inode 11) and fd 4 -> pipe:[99].
    const proc = mkdtempSync(path.join(os.tmpdir(), 'vigil-fdpaths-'));
    try {
      mkdirSync(path.join(proc, '7', 'fd'), { recursive: true });
      mkdirSync(path.join(proc, '7', 'fdinfo'));
      symlinkSync('/data/a', path.join(proc, '7', 'fd', '3'));
      writeFileSync(path.join(proc, '7', 'fdinfo', '3'), 'pos:\t0\nino:\t11\n');
      symlinkSync('pipe:[99]', path.join(proc, '7', 'fd', '4'));
      writeFileSync(path.join(proc, '7', 'fdinfo', '4'), 'pos:\t0\nino:\t99\n');
      symlinkSync('/home/u', path.join(proc, '7', 'cwd'));
      const r = new FdPathResolver(proc);
      assert.equal(r.fdPath(7, 3, 5, 12n), undefined, 'fd 3 names another inode now');
      assert.equal(r.fdPath(7, 3, 5, 11n), '/data/a');
      assert.equal(r.fdPath(8, 3, 5, 11n), undefined, 'no such process');
      assert.equal(r.inodePath(5, 11n), '/data/a', 'learnt');
      assert.equal(r.fdPath(7, 4, 9, 99n), 'pipe:[99]');
      assert.equal(r.inodePath(9, 1234n), 'pipe:[1234]', "pipefs's device is known now");
      assert.equal(r.relativePath(7, -100, 'x/y'), '/home/u/x/y');
      assert.equal(r.relativePath(7, 3, 'z'), '/data/a/z');
      assert.equal(r.relativePath(7, 42, 'z'), undefined);
      r.learn(5, 20n, '/etc/hosts');
      assert.equal(r.inodePath(5, 20n), '/etc/hosts');
      assert.equal(r.inodePath(5, 0n), undefined);
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });
});
