// The file sensor on the real kernel: every watched syscall made by
// test/fixtures/fileops.c in a temp dir, with absolute paths, flags, modes
// and results; relative names through the cwd and a directory fd; failed
// calls; the in-kernel path prefix and pid filters.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileSensor, availableFileSyscalls } from '../src/sensors/file.js';
import type { FileEvent, FileOp } from '../src/sensors/file-events.js';
import { FilterSet, type FilterOptions } from '../src/sensors/filter.js';
import { ensureTracefs } from '../src/bpf/index.js';
import { repoPath } from '../src/util/paths.js';
import { kernelSuite, missingFeature } from './helpers.js';
import { shapedEvent } from './shaped.js';

const FILEOPS = repoPath('test', '.output', 'fileops');

/** Why the kernel cannot run the sensor, or undefined. A probe that cannot tell fails. */
const unsupported = (): Promise<string | undefined> => missingFeature(['tracepoint'], ['bpf_loop']);

function tempDir(tag: string): string {
  // realpath: the kernel reports the path it resolved, not a symlinked /tmp.
  return realpathSync(mkdtempSync(path.join(os.tmpdir(), `vigil-file-${tag}-`)));
}

interface FixtureCall {
  label: string;
  syscall: string;
  ret: number;
}

/** Runs fileops in dir; returns its pid and the calls it reports. */
function runFileops(dir: string): { pid: number; calls: FixtureCall[] } {
  const r = spawnSync(FILEOPS, [dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `fileops failed: ${r.stderr}`);
  const calls = r.stdout.trim().split('\n').map((l) => {
    const [label = '', syscall = '', ret = ''] = l.split(' ');
    return { label, syscall, ret: Number(ret) };
  });
  return { pid: r.pid ?? -1, calls };
}

/** Starts the sensor with these filters; collects events until stop(). */
async function watch(filter: FilterOptions): Promise<{ events: FileEvent[]; sensor: FileSensor; stop(): FileEvent[] }> {
  const f = new FilterSet(filter);
  const events: FileEvent[] = [];
  let sensor: FileSensor;
  try {
    sensor = await FileSensor.start({ filter: f, onEvent: (e) => { shapedEvent(e); events.push(e); } });
  } catch (e) {
    f.close();
    throw e;
  }
  return {
    events,
    sensor,
    stop() {
      sensor.drain();
      sensor.close();
      f.close();
      return events;
    },
  };
}

interface Expect {
  op: FileOp;
  path: string;
  target?: string | null;
  flags?: string[];
  mode?: number | null;
  owner?: [number | null, number | null];
  length?: number;
}

/** What each fixture call must produce, relative to its dir D. */
function expected(d: string): Record<string, Expect> {
  return {
    'openat-abs': { op: 'open', path: `${d}/abs.txt`, flags: ['O_WRONLY', 'O_CREAT', 'O_TRUNC', 'O_CLOEXEC'], mode: 0o640 },
    'open-rel': { op: 'open', path: `${d}/rel.txt`, flags: ['O_RDWR', 'O_CREAT', 'O_EXCL'], mode: 0o600 },
    creat: { op: 'open', path: `${d}/creat.txt`, flags: ['O_WRONLY', 'O_CREAT', 'O_TRUNC'], mode: 0o644 },
    mkdir: { op: 'mkdir', path: `${d}/sub`, flags: [], mode: 0o755 },
    mkdirat: { op: 'mkdir', path: `${d}/sub2`, flags: [], mode: 0o700 },
    'openat-dir': { op: 'open', path: `${d}/sub`, flags: ['O_RDONLY', 'O_DIRECTORY'], mode: null },
    'mkdirat-dirfd': { op: 'mkdir', path: `${d}/sub/inner`, mode: 0o755 },
    'openat-dirfd': { op: 'open', path: `${d}/sub/viafd.txt`, flags: ['O_WRONLY', 'O_CREAT', 'O_EXCL'], mode: 0o600 },
    openat2: { op: 'open', path: `${d}/sub/viafd2.txt`, flags: ['O_RDWR', 'O_CREAT', 'RESOLVE_BENEATH'], mode: 0o640 },
    'openat-enoent': { op: 'open', path: `${d}/missing.txt`, flags: ['O_RDONLY'], mode: null },
    'openat-dirfd-enoent': { op: 'open', path: `${d}/sub/nodir/x`, flags: ['O_RDONLY'], mode: null },
    'open-enoent': { op: 'open', path: `${d}/missing2`, flags: ['O_RDONLY'], mode: null },
    chmod: { op: 'chmod', path: `${d}/abs.txt`, flags: [], mode: 0o600 },
    fchmodat: { op: 'chmod', path: `${d}/sub/viafd.txt`, flags: [], mode: 0o640 },
    fchmodat2: { op: 'chmod', path: `${d}/sub/viafd.txt`, flags: [], mode: 0o644 },
    chown: { op: 'chown', path: `${d}/abs.txt`, flags: [], owner: [1234, 5678], mode: null },
    lchown: { op: 'chown', path: `${d}/abs.txt`, flags: ['AT_SYMLINK_NOFOLLOW'], owner: [null, 4321] },
    fchownat: { op: 'chown', path: `${d}/sub/viafd.txt`, flags: ['AT_SYMLINK_NOFOLLOW'], owner: [2345, null] },
    'fchownat-empty': { op: 'chown', path: `${d}/sub`, flags: ['AT_EMPTY_PATH'], owner: [null, null] },
    truncate: { op: 'truncate', path: `${d}/abs.txt`, length: 123, mode: null },
    link: { op: 'link', path: `${d}/hard.txt`, target: `${d}/abs.txt` },
    linkat: { op: 'link', path: `${d}/hard2.txt`, target: `${d}/sub/viafd.txt`, flags: [] },
    symlink: { op: 'symlink', path: `${d}/sym`, target: 'abs.txt' },
    symlinkat: { op: 'symlink', path: `${d}/sub/sym2`, target: '../literal/target' },
    rename: { op: 'rename', path: `${d}/hard.txt`, target: `${d}/renamed.txt` },
    renameat: { op: 'rename', path: `${d}/renamed.txt`, target: `${d}/sub/renamed2.txt`, flags: [] },
    renameat2: { op: 'rename', path: `${d}/sub/renamed2.txt`, target: `${d}/renamed3.txt`, flags: ['RENAME_NOREPLACE'] },
    unlink: { op: 'unlink', path: `${d}/renamed3.txt`, target: null },
    unlinkat: { op: 'unlink', path: `${d}/sub/sym2`, flags: [] },
    'unlinkat-rmdir': { op: 'rmdir', path: `${d}/sub2`, flags: ['AT_REMOVEDIR'] },
    rmdir: { op: 'rmdir', path: `${d}/sub/inner` },
    'rmdir-notempty': { op: 'rmdir', path: `${d}/sub` },
  };
}

describe('FileSensor (real kernel)', () => {
  const suite = kernelSuite(unsupported);

  test('every file syscall in a temp dir: absolute paths, flags, mode, result', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const dir = tempDir('ops');
    const fdsBefore = readdirSync('/proc/self/fd').length;
    const w = await watch({ pathPrefixes: [`${dir}/`] });
    try {
      const tracefs = ensureTracefs().path ?? '';
      assert.deepEqual([...w.sensor.attached], availableFileSyscalls(tracefs));
      assert.deepEqual([...w.sensor.missing], []);
      if (process.arch === 'x64') assert.ok(w.sensor.attached.includes('open') && w.sensor.attached.includes('creat'));
      const { pid, calls } = runFileops(dir);
      const events = w.stop().filter((e) => e.task.pid === pid);
      assert.equal(w.sensor.lost, 0);
      assert.equal(w.sensor.malformed, 0);

      // Calls the kernel has no tracepoint for (fchmodat2 before 6.6) make no event.
      const watched = calls.filter((c) => w.sensor.attached.includes(c.syscall as never));
      assert.deepEqual(events.map((e) => e.syscall), watched.map((c) => c.syscall), 'one event per call, in order');
      const want = expected(dir);
      for (const [i, c] of watched.entries()) {
        const e = events[i] as FileEvent;
        const x = want[c.label];
        assert.ok(x, `no expectation for ${c.label}`);
        const what = `${c.label} (${c.syscall})`;
        assert.equal(e.op, x.op, what);
        assert.equal(e.path, x.path, what);
        assert.equal(e.target, x.target ?? null, what);
        if (x.flags) assert.deepEqual(e.flags, x.flags, what);
        if (x.mode !== undefined) assert.equal(e.mode, x.mode, what);
        if (x.owner) assert.deepEqual([e.ownerUid, e.ownerGid], x.owner, what);
        if (x.length !== undefined) assert.equal(e.length, x.length, what);
        assert.equal(e.ret, c.ret, `${what}: the kernel's result`);
        assert.equal(e.task.tid, pid, what);
        assert.equal(e.task.comm, 'fileops', what);
        assert.ok(e.task.startBootNs > 0n && e.task.cgroupId > 0n, what);
        const opened = x.op === 'open' && c.ret >= 0;
        assert.deepEqual(e.eventFlags, { pathTruncated: false, targetTruncated: false, pathError: false, targetError: false,
          pathOpened: opened }, what);
        assert.equal(e.ino !== null && e.ino > 0 && e.dev !== null, opened, `${what}: an opened file's identity`);
      }
      // The acceptance points, by name.
      const byLabel = new Map(watched.map((c, i) => [c.label, events[i] as FileEvent]));
      assert.equal(byLabel.get('openat-dirfd')?.path, `${dir}/sub/viafd.txt`, 'openat(dirfd, "rel") is absolute');
      assert.equal(byLabel.get('openat-enoent')?.ret, -2, 'a failed open carries -ENOENT');
      assert.equal(byLabel.get('rmdir-notempty')?.ret ?? -39, -39, 'rmdir of a non-empty dir: -ENOTEMPTY');
      for (const op of ['open', 'unlink', 'rmdir', 'mkdir', 'rename', 'link', 'symlink', 'chmod', 'chown', 'truncate']) {
        assert.ok(events.some((e) => e.op === op), `op ${op} seen`);
      }
    } finally {
      w.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(readdirSync('/proc/self/fd').length, fdsBefore, 'no descriptor leaks');
  });

  test('path prefix filter: only events below the prefix reach user space, the rest are counted dropped', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const inside = tempDir('in');
    const outside = tempDir('out');
    const w = await watch({ pathPrefixes: [`${inside}/`] });
    try {
      const a = runFileops(outside);
      const b = runFileops(inside);
      // Names read only at exit (not paged in at entry) are filtered there.
      const c = spawnSync(FILEOPS, ['--fault', outside], { encoding: 'utf8' });
      assert.equal(c.status, 0, c.stderr);
      const counts = w.sensor.filterCounts();
      const events = w.stop();
      assert.equal(events.filter((e) => e.task.pid === a.pid || e.task.pid === c.pid).length, 0,
        'nothing from the dir outside the prefix');
      assert.ok(events.every((e) => e.path.startsWith(`${inside}/`) || e.target?.startsWith(`${inside}/`)),
        'every event names a path below the prefix');
      const watched = b.calls.filter((c) => w.sensor.attached.includes(c.syscall as never));
      const mine = events.filter((e) => e.task.pid === b.pid);
      const unseen = watched.filter((c) => mine.filter((e) => e.syscall === c.syscall).length <
        watched.filter((d) => d.syscall === c.syscall).length).map((c) => c.label);
      assert.equal(mine.length, watched.length, `calls without their event: ${[...new Set(unseen)].join(', ')}`);
      assert.ok(counts.dropped >= BigInt(a.calls.length), `dropped ${counts.dropped} in the kernel`);
      assert.ok(counts.passed >= BigInt(watched.length), `passed ${counts.passed}`);
    } finally {
      w.stop();
      rmSync(inside, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });

  test('path prefix filter: an opened file\'s first component decides by its length before its name', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const dir = tempDir('top');
    const top = dir.split('/')[1] ?? '';
    const file = path.join(dir, 'f.txt');
    closeSync(openSync(file, 'w', 0o600));
    const opens = async (prefixes: string[]): Promise<{ seen: number; dropped: bigint }> => {
      const w = await watch({ pathPrefixes: prefixes, countDropped: true });
      try {
        closeSync(openSync(file, 'r'));
        const counts = w.sensor.filterCounts();
        return { seen: w.stop().filter((e) => e.op === 'open' && e.path === file).length, dropped: counts.dropped };
      } finally {
        w.stop();
      }
    };
    try {
      // No top of that length: dropped on the length alone.
      const other = await opens(['/nonexistent/', `/${'x'.repeat(top.length + 1)}/`]);
      assert.equal(other.seen, 0);
      assert.ok(other.dropped >= 1n, `dropped ${other.dropped}`);
      // The same length, another name: the name decides.
      assert.equal((await opens([`/${'x'.repeat(top.length)}/`])).seen, 0);
      // A prefix without a second '/' allows longer first components.
      assert.equal((await opens([`/${top.slice(0, -1)}`, '/nonexistent/'])).seen, 1);
      assert.equal((await opens([`${dir}/`, '/nonexistent/'])).seen, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('pid filter: this process passes, a child does not', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const dir = tempDir('pid');
    const w = await watch({ pids: [process.pid], pathPrefixes: [`${dir}/`] });
    try {
      const child = runFileops(dir);
      const before = w.sensor.filterCounts();
      closeSync(openSync(path.join(dir, 'mine.txt'), 'w', 0o600));
      const events = w.stop();
      assert.equal(events.filter((e) => e.task.pid === child.pid).length, 0, 'the child is filtered in the kernel');
      assert.ok(before.dropped >= BigInt(child.calls.length), `dropped ${before.dropped}`);
      const mine = events.filter((e) => e.path === path.join(dir, 'mine.txt'));
      assert.equal(mine.length, 1);
      assert.equal(mine[0]?.task.pid, process.pid);
      assert.deepEqual(mine[0]?.flags.slice(0, 3), ['O_WRONLY', 'O_CREAT', 'O_TRUNC']);
      assert.equal(mine[0]?.mode, 0o600);
      assert.ok((mine[0]?.ret ?? -1) >= 0);
    } finally {
      w.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('uid filter: an open by another user passes, this process\'s are dropped', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    if (process.getuid?.() !== 0) return t.skip('needs root to run a child as another user');
    const other = 54321;
    const dir = tempDir('uid');
    chmodSync(dir, 0o755);
    const w = await watch({ uids: [other], countDropped: true });
    try {
      const file = path.join(dir, 'theirs.txt');
      closeSync(openSync(file, 'w', 0o644));
      // The child's real uid is `other` (what the filter compares), set before it execs.
      const r = spawnSync('/bin/cat', [file], { uid: other, gid: other, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const counts = w.sensor.filterCounts();
      const events = w.stop();
      assert.ok(events.length > 0 && events.every((e) => e.task.uid === other),
        `only the other user's events: ${[...new Set(events.map((e) => e.task.uid))].join(',')}`);
      const theirs = events.filter((e) => e.op === 'open' && e.path === file && e.task.pid === r.pid);
      assert.equal(theirs.length, 1, 'the child\'s open of the file');
      assert.equal(events.filter((e) => e.task.pid === process.pid).length, 0, 'this process is dropped in the kernel');
      assert.ok(counts.dropped >= 1n, `dropped ${counts.dropped}`);
    } finally {
      w.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a resolved path longer than PATH_MAX keeps its leaf side, marked truncated', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const dir = tempDir('deep');
    const w = await watch({ comms: ['fileops'] });
    try {
      // A cwd of 20 levels of 250-byte names (over 5000 bytes), then openat(AT_FDCWD, "leaf").
      const r = spawnSync(FILEOPS, ['--deep', dir, '20'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const ret = Number(r.stdout.trim().split(' ')[2]);
      const events = w.stop();
      const leaf = events.find((e) => e.task.pid === r.pid && e.op === 'open' && e.path.endsWith('/leaf'));
      assert.ok(leaf, 'the open of the deep file is seen');
      assert.ok(leaf.eventFlags.pathTruncated, 'marked truncated');
      assert.ok(leaf.path.startsWith(`.../${'d'.repeat(250)}/`), leaf.path.slice(0, 40));
      assert.ok(leaf.path.length <= 4095 + 3, `${leaf.path.length} bytes`);
      assert.equal(leaf.ret, ret);
    } finally {
      w.stop();
      spawnSync('rm', ['-rf', dir]);
    }
  });

  test('names not yet paged in at entry are read at exit, and filtered then', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const dir = tempDir('fault');
    const w = await watch({ pathPrefixes: [`${dir}/`] });
    try {
      // The names live in mapped, never touched file pages: a tracepoint cannot read them at entry.
      const r = spawnSync(FILEOPS, ['--fault', dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const rets = r.stdout.trim().split('\n').map((l) => Number(l.split(' ')[2]));
      const events = w.stop().filter((e) => e.task.pid === r.pid && e.syscall === 'openat' && !e.path.includes('/name-'));
      assert.deepEqual(events.map((e) => [e.path, e.ret, e.eventFlags.pathError]), [
        [`${dir}/faulted.txt`, rets[0], false],
        [`${dir}/rel-faulted.txt`, rets[1], false],
      ]);
    } finally {
      w.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
