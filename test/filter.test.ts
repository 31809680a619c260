// In-kernel filters (bpf/include/vigil/filter.h via FilterSet) on the real kernel.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, statSync, writeFileSync, openSync, closeSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObjectSpec, cgroup2 } from '../src/bpf/index.js';
import type { BpfObject } from '../src/bpf/index.js';
import { FilterSet, filterCounts, type FilterOptions } from '../src/sensors/filter.js';
import { bpfObjectPath } from '../src/util/paths.js';
import { getppid, requireRoot, tracefs } from './helpers.js';

const spec = () => ObjectSpec.fromFile(bpfObjectPath('testdata/filter'));

async function withFilter(opts: FilterOptions, programs: string[],
  body: (obj: BpfObject, f: FilterSet) => void | Promise<void>): Promise<void> {
  using f = new FilterSet(opts);
  using obj = await spec().load({ programs, constants: f.constants(), reuseMaps: f.reuseMaps() });
  const links = programs.map((p) => obj.program(p).attach());
  try {
    f.seedExisting();
    await body(obj, f);
  } finally {
    for (const l of links) l.close();
  }
}

function pathPassed(obj: BpfObject): bigint {
  const bss = [...obj.maps.values()].find((m) => m.name.endsWith('.bss'));
  const v = obj.spec.variables.get('path_passed');
  assert.ok(bss && v);
  return bss.lookup(Buffer.alloc(4))?.readBigUInt64LE(v.offset) ?? -1n;
}

const myComm = readFileSync('/proc/self/comm', 'utf8').trim();

describe('in-kernel filters', () => {
  before(() => {
    requireRoot();
    tracefs();
  });

  test('no filter: nothing is counted (the checks compile away)', async () => {
    await withFilter({}, ['filter_getppid'], (obj) => {
      getppid(10);
      assert.deepEqual(filterCounts(obj.map('vigil_filter_counts')), { passed: 0n, dropped: 0n });
    });
  });

  for (const [name, pass, drop] of [
    ['pid', { pids: [process.pid] }, { pids: [1] }],
    ['uid', { uids: [process.getuid?.() ?? 0] }, { uids: [54321] }],
    ['comm', { comms: [myComm] }, { comms: ['no-such-comm'] }],
  ] as [string, FilterOptions, FilterOptions][]) {
    test(`${name}: a matching task passes, another is dropped in the kernel`, async () => {
      await withFilter(pass, ['filter_getppid'], (obj) => {
        const before = filterCounts(obj.map('vigil_filter_counts'));
        getppid(25);
        const after = filterCounts(obj.map('vigil_filter_counts'));
        assert.ok(after.passed - before.passed >= 25n, `${name} passes`);
      });
      await withFilter(drop, ['filter_getppid'], (obj) => {
        getppid(25);
        const c = filterCounts(obj.map('vigil_filter_counts'));
        assert.equal(c.passed, 0n);
        assert.ok(c.dropped >= 25n, `${name} drops`);
      });
    });
  }

  test('uid: each of up to four users compared in the program; five go to the map', async () => {
    const me = process.getuid?.() ?? 0;
    for (const uids of [[54321, 54322, me], [54321, 54322, 54323, me], [54321, 54322, 54323, 54324, me]]) {
      await withFilter({ uids }, ['filter_getppid'], (obj) => {
        getppid(25);
        assert.ok(filterCounts(obj.map('vigil_filter_counts')).passed >= 25n, `uids ${uids.join(',')} pass`);
      });
      await withFilter({ uids: uids.slice(0, -1) }, ['filter_getppid'], (obj) => {
        getppid(25);
        const c = filterCounts(obj.map('vigil_filter_counts'));
        assert.ok(c.passed === 0n && c.dropped >= 25n, `uids ${uids.slice(0, -1).join(',')} drop: ${c.passed}/${c.dropped}`);
      });
    }
  });

  test('countDropped: false: a dropped event is not counted, a passing one still is', async () => {
    await withFilter({ uids: [54321], countDropped: false }, ['filter_getppid'], (obj) => {
      getppid(25);
      assert.deepEqual(filterCounts(obj.map('vigil_filter_counts')), { passed: 0n, dropped: 0n });
    });
    await withFilter({ uids: [process.getuid?.() ?? 0], countDropped: false }, ['filter_getppid'], (obj) => {
      getppid(25);
      const c = filterCounts(obj.map('vigil_filter_counts'));
      assert.ok(c.passed >= 25n && c.dropped === 0n, `${c.passed}/${c.dropped}`);
    });
  });

  test('path prefix and pid tree: children forked after start follow their parent', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-filter-'));
    const inside = path.join(dir, 'watched');
    writeFileSync(inside, 'x');
    try {
      // Only this process's tree, only paths below dir.
      await withFilter({ pids: [process.pid], followChildren: true, pathPrefixes: [dir + '/'] },
        ['filter_openat', 'filter_fork', 'filter_exit'], (obj) => {
          closeSync(openSync(inside, 'r'));
          closeSync(openSync('/etc/hostname', 'r'));
          assert.equal(pathPassed(obj), 1n, 'own open below the prefix passes, /etc/hostname does not');
          const r = spawnSync('/bin/sh', ['-c', `cat ${inside} ${inside} >/dev/null`]);
          assert.equal(r.status, 0);
          assert.equal(pathPassed(obj), 3n, 'the child (and grandchild) are in the tree');
        });
      // Without --follow-children the child is out.
      await withFilter({ pids: [process.pid], pathPrefixes: [dir + '/'] },
        ['filter_openat', 'filter_fork', 'filter_exit'], (obj) => {
          spawnSync('/bin/sh', ['-c', `cat ${inside} >/dev/null`]);
          assert.equal(pathPassed(obj), 0n);
          closeSync(openSync(inside, 'r'));
          assert.equal(pathPassed(obj), 1n);
        });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('cgroup: a process in the cgroup passes; NOT (host) inverts it', async () => {
    const root = cgroup2().path;
    assert.ok(root, 'cgroup v2 is mounted');
    const cg = path.join(root, `vigil-filter-${process.pid}`);
    mkdirSync(cg);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-filter-'));
    const file = path.join(dir, 'f');
    writeFileSync(file, 'x');
    const inCgroup = (): void => {
      // The shell moves itself into the cgroup, then opens the file.
      const r = spawnSync('/bin/sh', ['-c', `echo $$ > ${cg}/cgroup.procs && cat ${file} >/dev/null`]);
      assert.equal(r.status, 0, r.stderr.toString());
    };
    try {
      const id = BigInt(statSync(cg).ino);
      await withFilter({ cgroupIds: [id], pathPrefixes: [dir + '/'] }, ['filter_openat'], (obj) => {
        closeSync(openSync(file, 'r'));
        assert.equal(pathPassed(obj), 0n, 'this process is not in the cgroup');
        inCgroup();
        assert.equal(pathPassed(obj), 1n);
      });
      await withFilter({ cgroupIds: [id], notInCgroups: true, pathPrefixes: [dir + '/'] }, ['filter_openat'], (obj) => {
        inCgroup();
        assert.equal(pathPassed(obj), 0n);
        closeSync(openSync(file, 'r'));
        assert.equal(pathPassed(obj), 1n);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmdirSync(cg);
    }
  });

  test('bad filter values are refused before anything loads', () => {
    assert.throws(() => new FilterSet({ comms: ['a-very-long-command-name'] }), /longer than 15 bytes/);
    assert.throws(() => new FilterSet({ pathPrefixes: ['/' + 'x'.repeat(300)] }), /longer than 256 bytes/);
  });
});
