// The process cache: exec ids, parent links and ancestry, the grace period
// and the memory bound (a fake clock, no /proc), then the /proc fallback
// against real processes.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProcessCache, decodeExitCode, ttyName } from '../src/process/cache.js';
import { execId, parseExecId } from '../src/process/exec-id.js';
import { execId as tetragonExecId } from '../src/output/tetragon.js';
import { cgroup2 } from '../src/bpf/mounts.js';
import { cgroupV2Path } from '../src/process/container.js';
import type { ExecRecord } from '../src/process/types.js';

/** A fake /proc/<pid>/stat under root: comm in parentheses, then fields from 3 (state); field 22 is the start in ticks. */
function fakeStat(root: string, pid: number, startTicks: number): void {
  mkdirSync(path.join(root, String(pid)));
  const f = Array.from({ length: 50 }, () => '0');
  f[18] = String(startTicks); // field 22: the 19th after the state
  writeFileSync(path.join(root, String(pid), 'stat'), `${pid} (p${pid}) S ${f.join(' ')}\n`);
}
import { execed, waitFor } from './helpers.js';

const S = 1_000_000_000n;

function fakeCache(opts: { graceMs?: number; maxEntries?: number } = {}) {
  const clock = { t: 0 };
  const cache = new ProcessCache({
    node: 'node1', graceMs: opts.graceMs ?? 30_000, maxEntries: opts.maxEntries, procfsFallback: false,
    cgroup2Root: null, now: () => clock.t, sweepIntervalMs: 0, toEpochNs: (ns) => ns + 1_000n * S,
  });
  return { cache, clock };
}

function rec(pid: number, ppid: number, startSec: number, more: Partial<ExecRecord> = {}): ExecRecord {
  return {
    pid, ppid, uid: 1000, gid: 1000, euid: 1000, egid: 1000, auid: 1000, comm: `p${pid}`, binary: `/bin/p${pid}`,
    args: [`p${pid}`, 'arg'], cwd: '/tmp', startBootNs: BigInt(startSec) * S, execBootNs: BigInt(startSec) * S + 1000n,
    ...more,
  };
}

describe('exec ids', () => {
  test('Tetragon format, same as the output formatter', () => {
    const id = execId('node1', 123456789n, 42);
    assert.equal(Buffer.from(id, 'base64').toString(), 'node1:123456789:42');
    assert.equal(id, tetragonExecId('node1', 123456789n, 42));
    assert.deepEqual(parseExecId(id), { node: 'node1', execBootNs: 123456789n, pid: 42 });
    assert.deepEqual(parseExecId(execId('a:b', 5n, 7)), { node: 'a:b', execBootNs: 5n, pid: 7 });
    assert.equal(parseExecId('not base64 of an id'), undefined);
  });

  test('unique over time: pid reuse and re-exec give new ids, all findable in the grace period', () => {
    const { cache } = fakeCache();
    const a = cache.onExec(rec(100, 1, 10));
    const a2 = cache.onExec(rec(100, 1, 10, { execBootNs: 11n * S, binary: '/bin/second' }));
    cache.onExit({ pid: 100, timeBootNs: 12n * S, code: 0 });
    const b = cache.onExec(rec(100, 1, 20, { binary: '/bin/other' }));
    const ids = new Set([a.execId, a2.execId, b.execId]);
    assert.equal(ids.size, 3);
    assert.equal(a.execId, execId('node1', 10n * S + 1000n, 100));
    assert.equal(a.replaced, true);
    assert.equal(a2.replaced, false);
    assert.equal(a2.exit?.status, 0);
    for (const p of [a, a2, b]) assert.equal(cache.getByExecId(p.execId), p);
    assert.equal(cache.get(100), b);
    assert.equal(cache.get(100, 10n * S), a2, 'the old process by its start: its newest image');
    assert.equal(cache.get(100, 20n * S), b);
    assert.equal(cache.get(100, 30n * S), undefined);
  });
});

describe('parents and ancestors', () => {
  test('fork copies the parent; exec replaces the fork image; links point at the parent image', () => {
    const { cache } = fakeCache();
    const init = cache.onExec(rec(1, 0, 1, { binary: '/sbin/init', source: 'iterator', execBootNs: undefined }));
    assert.equal(init.execBootNs, init.startBootNs);
    const sh = cache.onExec(rec(10, 1, 2, { binary: '/bin/sh', parentStartBootNs: 1n * S }));
    const child = cache.onFork({ pid: 11, ppid: 10, startBootNs: 3n * S, parentStartBootNs: 2n * S });
    assert.equal(child.source, 'fork');
    assert.equal(child.binary, '/bin/sh');
    assert.deepEqual(child.args, sh.args);
    assert.equal(child.execBootNs, 3n * S);
    assert.equal(child.parentExecId, sh.execId);
    const ex = cache.onExec(rec(11, 10, 3, { execBootNs: 4n * S, binary: '/usr/bin/env', parentStartBootNs: 2n * S }));
    assert.equal(child.replaced, true);
    assert.equal(ex.parentExecId, sh.execId);
    assert.equal(cache.parentOf(ex), sh);
    assert.equal(cache.get(11), ex);
    assert.equal(cache.stats.live, 3);
    assert.equal(cache.stats.retired, 1);
  });

  test('an event finds the image its process ran at the event\'s time, not a later exec of it', () => {
    const { cache } = fakeCache();
    const sh = cache.onExec(rec(10, 1, 2, { binary: '/bin/sh' }));
    // sh -c 'exec cat > f': the shell opens f at 3.5 s and execs cat at 4 s; both images are cached by the time
    // the open is read.
    const cat = cache.onExec(rec(10, 1, 2, { execBootNs: 4n * S, binary: '/bin/cat' }));
    assert.equal(cache.get(10, 2n * S, 3n * S + S / 2n), sh, 'before the exec: the shell');
    assert.equal(cache.get(10, 2n * S, 5n * S), cat, 'after it: cat');
    assert.equal(cache.get(10, 2n * S, 4n * S), cat, 'at the exec itself: the new image');
    assert.equal(cache.get(10, 2n * S), cat, 'no time: the newest image');
    // bash: fork, the child opens the redirect, then execs. The fork image is the shell's copy.
    const child = cache.onFork({ pid: 11, ppid: 10, startBootNs: 6n * S, parentStartBootNs: 2n * S });
    const echo = cache.onExec(rec(11, 10, 6, { execBootNs: 7n * S, binary: '/bin/echo' }));
    assert.equal(cache.get(11, 6n * S, 6n * S + 1n)?.execId, child.execId);
    assert.equal(cache.get(11, 6n * S, 6n * S + 1n)?.binary, '/bin/cat', 'the fork copies its parent, then cat');
    assert.equal(cache.get(11, 6n * S, 8n * S), echo);
    // Nothing that old cached (the fork was not seen): the oldest image known, never another process's.
    const { cache: c2 } = fakeCache();
    const only = c2.onExec(rec(12, 1, 2, { execBootNs: 5n * S }));
    assert.equal(c2.get(12, 2n * S, 3n * S), only);
    assert.equal(c2.get(12, 9n * S, 10n * S), undefined);
  });

  test('ancestors up to pid 1, bounded by max, without cycles', () => {
    const { cache } = fakeCache();
    cache.onExec(rec(1, 0, 1));
    cache.onExec(rec(10, 1, 2));
    cache.onExec(rec(20, 10, 3));
    const leaf = cache.onExec(rec(30, 20, 4));
    assert.deepEqual(cache.ancestors(leaf).map((p) => p.pid), [20, 10, 1]);
    assert.deepEqual(cache.ancestors(leaf, 2).map((p) => p.pid), [20, 10]);
    assert.deepEqual(cache.ancestors(cache.get(1) ?? leaf), []);
  });

  test('a parent with a reused pid is not taken for the old one', () => {
    const { cache } = fakeCache();
    cache.onExec(rec(10, 1, 2));
    cache.onExit({ pid: 10, timeBootNs: 3n * S, code: 0 });
    cache.onExec(rec(10, 1, 5, { binary: '/bin/newer' }));
    // Started at 4 s: its parent pid 10 can only be the process started at 2 s.
    const child = cache.onExec(rec(11, 10, 4));
    assert.equal(cache.parentOf(child)?.startBootNs, 2n * S);
    const child2 = cache.onExec(rec(12, 10, 6, { parentStartBootNs: 5n * S }));
    assert.equal(cache.parentOf(child2)?.binary, '/bin/newer');
  });
});

describe('grace period and memory bound (fake clock)', () => {
  test('an exited process stays for graceMs, then goes', () => {
    const { cache, clock } = fakeCache({ graceMs: 1000 });
    const p = cache.onExec(rec(100, 0, 1));
    clock.t = 5000;
    const exited = cache.onExit({ pid: 100, timeBootNs: 2n * S, code: 9 });
    assert.equal(exited, p);
    assert.deepEqual(p.exit, { timeBootNs: 2n * S, timeNs: 1002n * S, status: null, signal: 9, coreDumped: false });
    clock.t = 5999;
    assert.equal(cache.sweep(), 0);
    assert.equal(cache.get(100), p, 'found after its exit, within the grace period');
    clock.t = 6000;
    assert.equal(cache.sweep(), 1);
    assert.equal(cache.size, 0);
    assert.equal(cache.getByExecId(p.execId), undefined);
    assert.equal(cache.stats.expired, 1);
  });

  test('an exited parent is pinned while a cached child points at it', () => {
    const { cache, clock } = fakeCache({ graceMs: 1000 });
    const parent = cache.onExec(rec(10, 0, 1));
    const child = cache.onExec(rec(11, 10, 2));
    cache.onExit({ pid: 10, timeBootNs: 3n * S, status: 0 });
    clock.t = 10_000;
    cache.sweep();
    assert.equal(cache.getByExecId(parent.execId), parent, 'pinned by its live child');
    assert.equal(cache.parentOf(child), parent);
    cache.onExit({ pid: 11, timeBootNs: 4n * S, status: 1 });
    clock.t = 11_000;
    cache.sweep(); // the child goes; the parent starts its own grace period
    assert.equal(cache.getByExecId(child.execId), undefined);
    assert.equal(cache.getByExecId(parent.execId), parent);
    clock.t = 12_000;
    cache.sweep();
    assert.equal(cache.size, 0);
    assert.deepEqual({ ...cache.stats, execs: 0, exits: 0 }, {
      entries: 0, live: 0, retired: 0, execs: 0, forks: 0, exits: 0, procfs: 0, procfsMisses: 0, unknownExits: 0,
      expired: 2, evictedRetired: 0, evictedLive: 0, vanished: 0,
    });
  });

  test('reconcile: a live image whose process is gone from /proc (exit never seen) is retired, then expires', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'vigil-proc-'));
    try {
      const stat = (pid: number, startTicks: number): void => fakeStat(root, pid, startTicks);
      stat(100, 100); // alive: started at 1 s (100 ticks)
      stat(102, 900); // the pid is another process's now
      const clock = { t: 0 };
      const cache = new ProcessCache({
        node: 'node1', graceMs: 1000, procRoot: root, cgroup2Root: null, now: () => clock.t, sweepIntervalMs: 0,
        toEpochNs: (ns) => ns,
      });
      const alive = cache.onExec(rec(100, 0, 1));
      const gone = cache.onExec(rec(101, 0, 1));
      const reused = cache.onExec(rec(102, 0, 1));
      assert.equal(cache.reconcile(true), 2);
      assert.equal(cache.stats.vanished, 2);
      assert.equal(cache.stats.live, 1);
      assert.equal(cache.get(100), alive);
      assert.equal(cache.getByExecId(gone.execId), gone, 'findable during the grace period');
      clock.t = 2000;
      cache.sweep();
      assert.equal(cache.getByExecId(gone.execId), undefined);
      assert.equal(cache.getByExecId(reused.execId), undefined);
      assert.equal(cache.getByExecId(alive.execId), alive);
      assert.equal(cache.reconcile(true), 0, 'the live one stays');
      cache.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('reconcile checks a batch at a time and reaches every image, however often the busy ones are looked up', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'vigil-proc-'));
    try {
      const stat = (pid: number, startTicks: number): void => fakeStat(root, pid, startTicks);
      const cache = new ProcessCache({
        node: 'node1', graceMs: 1000, procRoot: root, cgroup2Root: null, now: () => 0, sweepIntervalMs: 0,
        toEpochNs: (ns) => ns, maxEntries: 100_000,
      });
      const ALIVE = 2100; // more than one batch (2,048)
      for (let pid = 1000; pid < 1000 + ALIVE; pid++) {
        stat(pid, 100);
        cache.onExec(rec(pid, 0, 1));
      }
      const gone = cache.onExec(rec(900, 0, 1)); // the newest: checked last
      // The busy ones are looked up all the time (each lookup may move them behind the others).
      const lookups = (): void => {
        for (let i = 0; i < 5000; i++) assert.ok(cache.get(1000 + (i % 50)));
      };
      lookups();
      assert.equal(cache.reconcile(true), 0, 'the first batch is all alive');
      lookups();
      assert.equal(cache.reconcile(true), 1, 'the second batch reaches the one that is gone');
      assert.equal(cache.stats.vanished, 1);
      assert.equal(cache.getByExecId(gone.execId), gone, 'retired, findable during the grace period');
      assert.equal(cache.stats.live, ALIVE);
      cache.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('a long churn: every exited image expires in the order it exited, none early, none left behind', () => {
    const { cache, clock } = fakeCache({ graceMs: 100 });
    const shell = cache.onExec(rec(50, 0, 1));
    for (let i = 0; i < 20_000; i++) {
      clock.t = i;
      const pid = 1000 + i;
      const start = 2n * S + BigInt(i) * 1_000_000n;
      cache.onExec(rec(pid, 50, 2, { startBootNs: start, execBootNs: start + 1000n, parentStartBootNs: shell.startBootNs }));
      cache.onExit({ pid, startBootNs: start, timeBootNs: start + 2000n });
      // The images that exited within the grace period stay; the older ones are gone.
      if (i % 997 === 0) {
        assert.equal(cache.stats.retired, Math.min(i + 1, 100), `retired after ${i}`);
        assert.equal(cache.stats.expired, Math.max(0, i + 1 - 100), `expired after ${i}`);
      }
    }
    assert.equal(cache.getByExecId(shell.execId), shell);
    clock.t = 20_200;
    assert.equal(cache.sweep(), 100);
    assert.equal(cache.size, 1, 'the shell alone');
    assert.equal(cache.stats.retired, 0);
  });

  test('lazy expiry on insert, without the timer', () => {
    const { cache, clock } = fakeCache({ graceMs: 100 });
    for (let i = 0; i < 1000; i++) {
      clock.t = i;
      cache.onExec(rec(1000 + i, 0, i + 1));
      cache.onExit({ pid: 1000 + i, timeBootNs: BigInt(i + 1) * S + 5n, code: 0 });
    }
    assert.ok(cache.size <= 101, `size ${cache.size}`);
  });

  test('over maxEntries: retired images go first, then the least recently used live ones', () => {
    const { cache } = fakeCache({ graceMs: 1e9, maxEntries: 100 });
    for (let i = 0; i < 50; i++) cache.onExec(rec(5000 + i, 0, 1));
    for (let i = 0; i < 1000; i++) {
      cache.onExec(rec(1000 + i, 0, 2 + i));
      cache.onExit({ pid: 1000 + i, timeBootNs: BigInt(2 + i) * S + 5n, code: 0 });
    }
    assert.equal(cache.size, 100);
    assert.equal(cache.stats.live, 50, 'no live process evicted while retired ones remain');
    assert.equal(cache.stats.evictedLive, 0);
    assert.ok(cache.get(1999), 'the newest exits are the ones kept');
    assert.equal(cache.get(1000), undefined);
    cache.get(5000); // recently used: survives
    // 70 more: the 50 retired go, then the 20 least recently used live ones.
    for (let i = 0; i < 70; i++) cache.onExec(rec(9000 + i, 0, 3000));
    assert.equal(cache.size, 100);
    assert.equal(cache.stats.evictedLive, 20);
    assert.ok(cache.get(5000));
    assert.equal(cache.get(5001), undefined);
  });

  test('the sweep timer drops entries on its own and does not hold the event loop', async () => {
    const cache = new ProcessCache({ node: 'n', graceMs: 30, sweepIntervalMs: 10, procfsFallback: false, cgroup2Root: null });
    try {
      cache.onExec(rec(100, 0, 1));
      cache.onExit({ pid: 100, timeBootNs: 2n * S, code: 0 });
      assert.equal(cache.size, 1);
      assert.ok(await waitFor(() => cache.size === 0, 2000));
    } finally {
      cache.close();
    }
  });

  test('exits of unknown processes are counted, not cached', () => {
    const { cache } = fakeCache();
    assert.equal(cache.onExit({ pid: 4242, timeBootNs: 1n, code: 0 }), undefined);
    assert.equal(cache.stats.unknownExits, 1);
    assert.equal(cache.size, 0);
  });
});

describe('pure helpers', () => {
  test('exit codes', () => {
    assert.deepEqual(decodeExitCode(0), { status: 0, signal: null, coreDumped: false });
    assert.deepEqual(decodeExitCode(3 << 8), { status: 3, signal: null, coreDumped: false });
    assert.deepEqual(decodeExitCode(9), { status: null, signal: 9, coreDumped: false });
    assert.deepEqual(decodeExitCode(0x80 | 11), { status: null, signal: 11, coreDumped: true });
  });
  test('tty names', () => {
    assert.equal(ttyName(0), undefined);
    assert.equal(ttyName((136 << 8) | 3), 'pts/3');
    assert.equal(ttyName((4 << 8) | 1), 'tty1');
    assert.equal(ttyName((4 << 8) | 64), 'ttyS0');
  });
  test('containers from the cgroup path a sensor sends', () => {
    const { cache } = fakeCache();
    const id = 'a'.repeat(64);
    const p = cache.onExec(rec(7, 0, 1, { cgroupId: 77n, cgroupPath: `/system.slice/docker-${id}.scope` }));
    assert.deepEqual(p.container, { id, runtime: 'docker' });
    assert.equal(cache.onExec(rec(8, 0, 1, { cgroupPath: '/user.slice' })).container, 'host');
    assert.equal(cache.onExec(rec(9, 0, 1)).container, undefined);
  });
});

describe('/proc fallback (real processes)', () => {
  test('a process never seen is read from /proc, with its parents up to pid 1', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-cache-'));
    const child = spawn('/bin/sleep', ['30', '1'], { cwd: dir, stdio: 'ignore' });
    try {
      // Wait for the exec to have happened (the child starts as a copy of Node).
      const pid = await execed(child, '/sleep');
      const cache = new ProcessCache({ sweepIntervalMs: 0 });
      try {
        const p = cache.get(pid);
        assert.ok(p);
        assert.equal(p.source, 'procfs');
        assert.equal(p.pid, pid);
        assert.equal(p.ppid, process.pid);
        assert.equal(p.binary, readlinkSync(`/proc/${pid}/exe`));
        assert.deepEqual(p.args, ['/bin/sleep', '30', '1']);
        assert.equal(p.cwd, dir);
        assert.equal(p.uid, process.getuid?.());
        assert.equal(p.euid, process.geteuid?.());
        assert.equal(p.comm, 'sleep');
        for (const ns of ['mnt', 'pid', 'net', 'uts', 'ipc', 'user', 'cgroup'] as const) {
          assert.equal(p.ns?.[ns], Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${ns}`))?.[1]), ns);
        }
        const capEff = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1];
        assert.equal(p.caps?.effective, BigInt(`0x${capEff}`));
        const root = cgroup2().path;
        if (root) {
          const v2 = cgroupV2Path(readFileSync(`/proc/${pid}/cgroup`, 'latin1')) ?? '/';
          assert.equal(p.cgroupPath, v2);
          assert.equal(p.cgroupId, statSync(path.join(root, v2), { bigint: true }).ino);
        }
        assert.equal(p.execId, execId(cache.node, p.startBootNs, pid));
        // Parents: Node (this test) then up to pid 1.
        const parent = cache.parentOf(p);
        assert.equal(parent?.pid, process.pid);
        assert.equal(parent?.binary, process.execPath);
        assert.equal(p.parentExecId, parent?.execId, 'the link is kept once found');
        const chain = cache.ancestors(p);
        assert.equal(chain[chain.length - 1]?.pid, 1);
        // Known now: no second read.
        const reads = cache.stats.procfs;
        assert.equal(cache.get(pid), p);
        assert.equal(cache.stats.procfs, reads);
        // A kernel start in the same clock tick names the same process; another does not.
        assert.equal(cache.get(pid, p.startBootNs + 9_999_999n), p);
        assert.equal(cache.get(pid, p.startBootNs + 10_000_000n), undefined);
        // The exact start from a kernel event replaces the tick-precise one.
        const exact = cache.onExec({
          pid, ppid: process.pid, uid: 0, gid: 0, euid: 0, egid: 0, auid: p.auid, comm: 'sleep', binary: p.binary,
          args: p.args, cwd: p.cwd, startBootNs: p.startBootNs + 1234n, execBootNs: p.startBootNs + 5678n,
        });
        assert.equal(p.replaced, true);
        assert.equal(cache.get(pid), exact);
      } finally {
        cache.close();
      }
      assert.equal(new ProcessCache({ sweepIntervalMs: 0 }).get(2 ** 22 + 1), undefined, 'no such pid');
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a thread id reads as its process', () => {
    const tids = readdirSync('/proc/self/task').map(Number).filter((t) => t !== process.pid);
    assert.ok(tids.length > 0, 'Node runs threads');
    const cache = new ProcessCache({ sweepIntervalMs: 0 });
    try {
      const p = cache.get(tids[0] ?? 0);
      assert.equal(p?.pid, process.pid);
      assert.equal(p?.binary, process.execPath);
    } finally {
      cache.close();
    }
  });

  test('namespace inodes of an unshared process', async () => {
    const child = spawn('unshare', ['--net', '--uts', '--ipc', '--mount', '--', '/bin/sleep', '30'], { stdio: 'ignore' });
    try {
      // unshare execs sleep in the same process once the namespaces exist.
      const pid = await execed(child, '/sleep');
      const cache = new ProcessCache({ sweepIntervalMs: 0 });
      try {
        const p = cache.get(pid);
        const self = cache.get(process.pid);
        assert.ok(p?.ns && self?.ns);
        for (const ns of ['net', 'uts', 'ipc', 'mnt'] as const) {
          assert.notEqual(p.ns[ns], self.ns[ns], `${ns} is new`);
          assert.equal(p.ns[ns], Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${ns}`))?.[1]), ns);
        }
        for (const ns of ['pid', 'user', 'cgroup'] as const) assert.equal(p.ns[ns], self.ns[ns], `${ns} is shared`);
      } finally {
        cache.close();
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});
