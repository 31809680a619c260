// The file and process sensors as the running kernel loads them (NAME.direct.bpf.o where it has the
// bpf_rdonly_cast kfunc, NAME.bpf.o elsewhere: src/sensors/sensor.ts), driven by node alone, so the
// kernel matrix runs them on every kernel (its VMs' userland is busybox and node; the sensors' full
// suites, test/file.test.ts and test/process.test.ts, need the host's). Paths through a mount point,
// the opened file's identity, an exec's binary, arguments and exit status.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, openSync, closeSync, realpathSync, renameSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { FileSensor } from '../src/sensors/file.js';
import { ProcessSensor } from '../src/sensors/process.js';
import { FilterSet } from '../src/sensors/filter.js';
import { ProcessCache } from '../src/process/cache.js';
import type { FileEvent } from '../src/sensors/file-events.js';
import type { ProcessEvent } from '../src/sensors/events.js';
import { kernelSuite, missingFeature, waitFor } from './helpers.js';

describe('file and process sensors, driven by node', () => {
  const suite = kernelSuite(() => missingFeature(['tracepoint', 'raw_tracepoint'], ['bpf_loop']), 'vigil-sensors-node-');

  /** A tmpfs on a new directory of the suite's (unmounted by the caller): paths below it cross a mount point. */
  function mountedTmpfs(name: string): string {
    const mnt = path.join(suite.tmp, name);
    mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'tmpfs', 'vigiltest', mnt]);
    assert.equal(m.status, 0, m.stderr?.toString());
    return mnt;
  }

  test('file: a create and an open below a mount point, a rename, an unlink; canonical paths, the opened file\'s identity', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const mnt = mountedTmpfs('mnt');
    const filter = new FilterSet({ pathPrefixes: [`${suite.tmp}/`] });
    const events: FileEvent[] = [];
    let sensor: FileSensor | undefined;
    try {
      sensor = await FileSensor.start({ filter, onEvent: (e) => events.push(e) });
      const dir = path.join(mnt, 'd');
      mkdirSync(dir);
      const a = path.join(dir, 'a.txt');
      const b = path.join(dir, 'b.txt');
      closeSync(openSync(a, 'w'));
      // Relative to the cwd of a child (the walk of its cwd crosses the mount too).
      const rel = spawnSync(process.execPath, ['-e', 'require("fs").closeSync(require("fs").openSync("a.txt", "r"))'], { cwd: dir });
      assert.equal(rel.status, 0, rel.stderr?.toString());
      const st = statSync(a);
      renameSync(a, b);
      unlinkSync(b);
      const of = (op: string, p: string) => events.filter((e) => e.op === op && e.path === p);
      assert.ok(await waitFor(() => of('unlink', b).length === 1, 5000), events.map((e) => `${e.op} ${e.path}`).join('; '));
      const opens = of('open', a);
      assert.equal(opens.length, 2, events.map((e) => `${e.op} ${e.path} ${e.rawPath}`).join('; '));
      for (const o of opens) {
        assert.equal(o.ret >= 0, true);
        assert.equal(o.ino, st.ino);
        assert.equal(o.dev, st.dev);
        assert.equal(o.eventFlags.pathOpened, true);
      }
      assert.deepEqual(opens.map((o) => o.rawPath).sort(), [a, 'a.txt'].sort());
      assert.equal(of('rename', a)[0]?.target, b);
      assert.equal(events.every((e) => e.path.startsWith(`${suite.tmp}/`)), true, 'the prefix filter kept the rest out');
      assert.equal(sensor.malformed, 0);
      assert.equal(sensor.lost, 0);
    } finally {
      sensor?.close();
      filter.close();
      spawnSync('umount', [mnt]);
    }
  });

  test('process: a child\'s exec (binary, arguments, cwd through a mount point) and its exit status', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const mnt = mountedTmpfs('pmnt');
    using cache = new ProcessCache();
    const events: ProcessEvent[] = [];
    let sensor: ProcessSensor | undefined;
    try {
      sensor = await ProcessSensor.start({ cache, onEvent: (e) => events.push(e) });
      const mark = `vigil-node-${randomBytes(4).toString('hex')}`;
      const r = spawnSync(process.execPath, ['-e', 'process.exit(3)', mark], { cwd: mnt });
      assert.equal(r.status, 3);
      const exec = () => events.find((e) => e.kind === 'exec' && e.process.pid === r.pid);
      const exit = () => events.find((e) => e.kind === 'exit' && e.process.pid === r.pid);
      assert.ok(await waitFor(() => exec() !== undefined && exit() !== undefined, 5000));
      const e = exec()!;
      assert.equal(e.process.binary, realpathSync(process.execPath));
      assert.deepEqual(e.process.args.slice(1), ['-e', 'process.exit(3)', mark]);
      assert.equal(e.process.cwd, mnt);
      const x = exit()!;
      assert.equal(x.kind === 'exit' && x.status, 3);
      assert.equal(sensor.malformed, 0);
      assert.equal(sensor.lost, 0);
    } finally {
      sensor?.close();
      spawnSync('umount', [mnt]);
    }
  });
});
