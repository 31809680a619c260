// The syscall sensor on the real kernel (bpf/syscalls.bpf.c via SyscallSensor):
// exact counts of a known syscall mix, latency histogram placement, in-kernel
// filters, file activity, no leaked descriptors.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { FilterSet } from '../src/sensors/filter.js';
import { SyscallSensor, type SyscallRow, type SyscallSnapshot } from '../src/sensors/syscalls.js';
import { syscallNumber } from '../src/kernel/syscalls.js';
import { openFdCount } from './helpers.js';
import {
  ENOENT_PATH, FILE_OPENS, LOOP_ENOENT, LOOP_GETPPID, LOOP_SLEEP, SLEEP_NS, SYSLOOP, readCalls, startSysloop,
  sysloopSuite, type Sysloop,
} from './sysloop.js';

/** Why the kernel cannot run the sensor, or undefined. A probe that cannot tell fails the test. */

function row(snap: SyscallSnapshot, pid: number, syscall: string): SyscallRow | undefined {
  return snap.rows.find((r) => r.pid === pid && r.syscall === syscall);
}

/** The fixture's exact counts: getppid, failing openat (plus its successful opens), nanosleep. */
function assertKnownMix(snap: SyscallSnapshot, pid: number): void {
  const getppid = row(snap, pid, 'getppid');
  assert.ok(getppid, `a getppid row for ${pid}`);
  assert.equal(getppid.count, LOOP_GETPPID);
  assert.equal(getppid.errors, 0);
  assert.equal(getppid.comm, 'sysloop');
  assert.equal(getppid.nr, syscallNumber('getppid'));
  const openat = row(snap, pid, 'openat');
  assert.ok(openat);
  assert.equal(openat.count, LOOP_ENOENT + FILE_OPENS);
  assert.equal(openat.errors, LOOP_ENOENT);
  const sleep = row(snap, pid, 'nanosleep');
  assert.ok(sleep);
  assert.equal(sleep.count, LOOP_SLEEP);
  assert.equal(sleep.errors, 0);
}

describe('syscall sensor (real kernel)', () => {
  const size = 10_000;
  const suite = sysloopSuite('vigil-syscalls-', size, 0x61);

  /** Runs the fixture's workload under the sensor s: the fixture (waiting to exit) and the snapshot taken then. */
  async function sampleLoop(s: SyscallSensor): Promise<{ fx: Sysloop; snap: SyscallSnapshot }> {
    const fx = startSysloop(suite.file);
    await fx.go();
    return { fx, snap: s.snapshot() };
  }

  test('counts and error counts of a known syscall mix are exact for its process', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    using s = await SyscallSensor.start();
    const { fx, snap } = await sampleLoop(s);
    assert.equal(await fx.finish(), 0);

    assertKnownMix(snap, fx.pid);
    assert.ok(snap.intervalNs > 0);
    assert.equal(snap.arch, 'x86_64');
    assert.ok(snap.totals.count >= LOOP_GETPPID + LOOP_ENOENT + LOOP_SLEEP);
    assert.ok(snap.totals.processes >= 1);
    for (let i = 1; i < snap.rows.length; i++) {
      assert.ok((snap.rows[i - 1] as SyscallRow).count >= (snap.rows[i] as SyscallRow).count, 'sorted by count');
    }
    for (const r of snap.rows) {
      assert.equal(r.hist.reduce((a, b) => a + b, 0), r.count, `${r.syscall}: histogram sums to the count`);
      assert.ok(r.p50Ns <= r.p99Ns && r.p99Ns <= r.maxNs, `${r.syscall}: p50 <= p99 <= max`);
    }
    assert.deepEqual(snap.dropsTotal, { inflight: 0, stats: 0, fileIo: 0, fileOpens: 0, openInflight: 0 });
    assert.deepEqual(snap.filter, { passed: 0, dropped: 0 }, 'no filter: nothing counted by it');

    // Read and cleared: the next interval starts from zero.
    const next = s.snapshot();
    assert.equal(row(next, fx.pid, 'getppid'), undefined);
  });

  test('the latency histogram puts 1.5 ms sleeps in the log2 buckets of milliseconds', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    using s = await SyscallSensor.start();
    const { fx, snap } = await sampleLoop(s);
    await fx.finish();
    const sleep = row(snap, fx.pid, 'nanosleep');
    assert.ok(sleep);
    // A sleep never returns early: each is >= 1.5 ms, so in bucket 20 ([1.05, 2.1) ms) or
    // above; generously, an overshoot of up to ~130 ms still lands in bucket <= 26.
    const floor = Math.floor(Math.log2(SLEEP_NS));
    assert.equal(floor, 20);
    sleep.hist.forEach((c, b) => {
      if (c) assert.ok(b >= floor && b <= 26, `nanosleep calls in bucket ${b} (${2 ** b} ns)`);
    });
    assert.ok(sleep.maxNs >= SLEEP_NS);
    assert.ok(sleep.p50Ns >= 2 ** floor && sleep.p50Ns <= sleep.maxNs);
    assert.ok(sleep.avgNs >= SLEEP_NS);
    // getppid is a fast call: far below the sleeps.
    const getppid = row(snap, fx.pid, 'getppid');
    assert.ok(getppid && getppid.p50Ns < sleep.p50Ns);
  });

  test('a comm filter counts only that process; the rest is dropped in the kernel', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    using filter = new FilterSet({ comms: ['sysloop'] });
    using s = await SyscallSensor.start({ filter });
    const { fx, snap } = await sampleLoop(s);
    await fx.finish();
    assertKnownMix(snap, fx.pid);
    assert.ok(snap.rows.every((r) => r.comm === 'sysloop'), 'only sysloop rows');
    assert.ok(!snap.rows.some((r) => r.pid === process.pid), 'this process is filtered out');
    assert.ok(snap.filter.dropped > 0, 'drops counted in the kernel');
    assert.ok(snap.filter.passed >= LOOP_GETPPID + LOOP_ENOENT + LOOP_SLEEP);
  });

  test('a pid filter: only that process is counted', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const fx = startSysloop(suite.file); // waits for go(): nothing counted happens before the filter is in place
    using filter = new FilterSet({ pids: [fx.pid] });
    using s = await SyscallSensor.start({ filter });
    await fx.go();
    const snap = s.snapshot();
    await fx.finish();
    assertKnownMix(snap, fx.pid);
    assert.ok(snap.rows.every((r) => r.pid === fx.pid));
    assert.ok(snap.filter.dropped > 0);
  });

  test('--pid with --follow-children: a child forked after the start is counted, others are not', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    // sh (the filtered pid) forks sysloop only once told to, after the sensor runs;
    // the trailing command keeps sh from exec'ing it in its own place.
    const sh = startSysloop(suite.file, ['/bin/sh', '-c', 'read line; "$0" "$1"; true', SYSLOOP, suite.file]);
    using filter = new FilterSet({ pids: [sh.pid], followChildren: true });
    using s = await SyscallSensor.start({ filter });
    sh.child.stdin?.write('start\n');
    await sh.go();
    const snap = s.snapshot();
    assert.equal(await sh.finish(), 0);
    const getppid = snap.rows.find((r) => r.syscall === 'getppid' && r.comm === 'sysloop');
    assert.ok(getppid, 'the forked child is in the tree');
    assert.notEqual(getppid.pid, sh.pid);
    assertKnownMix(snap, getppid.pid);
    assert.ok(snap.rows.some((r) => r.pid === sh.pid), 'sh itself (read, clone/wait) is counted');
    assert.ok(!snap.rows.some((r) => r.pid === process.pid), 'this process is not in the tree');
    assert.ok(snap.filter.dropped > 0);
  });

  test('files: opens, reads and bytes per (process, file), named through the fd', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    using s = await SyscallSensor.start({ syscalls: false, files: true });
    assert.throws(() => s.snapshot(), /without syscalls/);
    const fx = startSysloop(suite.file);
    await fx.go();
    const snap = s.fileSnapshot();
    assert.equal(await fx.finish(), 0);
    const mine = snap.rows.filter((r) => r.pid === fx.pid);
    const data = mine.find((r) => r.path === suite.file);
    assert.ok(data, `a row for ${suite.file}: ${JSON.stringify(mine)}`);
    assert.equal(data.pathSource, 'fd', 'the last descriptor is still open');
    assert.equal(data.comm, 'sysloop');
    assert.equal(data.opens, FILE_OPENS);
    assert.equal(data.openErrors, 0);
    assert.equal(data.reads, FILE_OPENS * readCalls(size));
    assert.equal(data.readBytes, FILE_OPENS * size);
    assert.equal(data.writes, 0);
    assert.ok(data.ino > 0);
    const failed = mine.find((r) => r.path === ENOENT_PATH);
    assert.ok(failed);
    assert.deepEqual([failed.opens, failed.openErrors, failed.reads, failed.pathSource], [LOOP_ENOENT, LOOP_ENOENT, 0, 'open']);
    assert.ok(snap.totals.opens >= FILE_OPENS + LOOP_ENOENT);
    assert.ok(snap.totals.readBytes >= FILE_OPENS * size);
  });

  test('files: a file closed before the snapshot keeps the name it was opened by', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    using filter = new FilterSet({ comms: ['sysloop'] });
    using s = await SyscallSensor.start({ files: true, syscalls: false, filter });
    const fx = startSysloop(suite.file);
    await fx.go();
    assert.equal(await fx.finish(), 0); // exited: its descriptors are gone
    const snap = s.fileSnapshot();
    const data = snap.rows.find((r) => r.pid === fx.pid && r.readBytes > 0 && r.opens > 0);
    assert.ok(data, JSON.stringify(snap.rows));
    assert.equal(data.path, suite.file);
    assert.equal(data.pathSource, 'open');
    assert.equal(data.readBytes, FILE_OPENS * size);
  });

  test('close() leaves no descriptor behind', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const before = openFdCount();
    for (let i = 0; i < 3; i++) {
      const f = new FilterSet({ comms: ['sysloop'] });
      const s = await SyscallSensor.start({ files: true, filter: f });
      s.snapshot();
      s.fileSnapshot();
      s.close();
      s.close(); // idempotent
      f.close();
    }
    assert.equal(openFdCount(), before);
  });
});
