// An exec burst on the real kernel: every exec arrives, complete from the kernel's records alone.
// The process cache runs with its /proc fallback off, so an event that needed a /proc read
// (a binary, argv, cwd, credentials, namespaces, cgroup or parent the kernel did not send)
// shows up as a hole here instead of a silent read on the hot path.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ProcessSensor } from '../src/sensors/process.js';
import type { ExecEvent, ProcessEvent } from '../src/sensors/events.js';
import { ProcessCache } from '../src/process/cache.js';
import { TetragonFormatter } from '../src/output/tetragon.js';
import { cgroup2 } from '../src/bpf/mounts.js';
import { missingFeature, requireRoot } from './helpers.js';

const BURST = 300;
const tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'vigil-burst-')));
after(() => rmSync(tmp, { recursive: true, force: true }));

test(`a burst of ${BURST} execs: each one delivered, with everything from the kernel (no /proc fallback)`, async (t) => {
  requireRoot();
  const why = await missingFeature(['tracepoint', 'raw_tracepoint'], ['bpf_loop']);
  if (why) return t.skip(why);
  const bin = path.join(tmp, 'vigil-burst-true');
  copyFileSync(realpathSync('/bin/true'), bin);
  chmodSync(bin, 0o755);
  const mark = `vigil-burst-${randomBytes(4).toString('hex')}`;
  using cache = new ProcessCache({ procfsFallback: false });
  const events: ProcessEvent[] = [];
  const s = await ProcessSensor.start({ cache, onEvent: (e) => events.push(e) });
  try {
    const script = `i=0; while [ $i -lt ${BURST} ]; do ${bin} ${mark} $i; i=$((i+1)); done`;
    assert.equal(spawnSync('/bin/sh', ['-c', script], { cwd: tmp, stdio: 'ignore' }).status, 0);
    const ours = (): ExecEvent[] => events.filter((e): e is ExecEvent => e.kind === 'exec' && e.process.binary === bin);
    const deadline = Date.now() + 10_000;
    while (ours().length < BURST && Date.now() < deadline) {
      s.drain();
      await new Promise((r) => setTimeout(r, 20));
    }
    const got = ours();
    assert.equal(s.lost, 0, 'no record lost in the kernel');
    assert.equal(s.malformed, 0);
    assert.equal(got.length, BURST, 'every exec delivered');
    assert.deepEqual(got.map((e) => Number(e.process.args[2])), Array.from({ length: BURST }, (_, i) => i), 'in order, each once');

    const shell = events.find((e): e is ExecEvent => e.kind === 'exec' && e.process.args[2] === script);
    assert.ok(shell, 'the shell\'s own exec');
    const hasCgroup2 = cgroup2().path !== undefined;
    const f = new TetragonFormatter('json', { lookup: cache });
    for (const e of got) {
      const p = e.process;
      assert.equal(p.source, 'exec');
      assert.deepEqual(p.args, [bin, mark, p.args[2]]);
      assert.equal(p.cwd, tmp);
      assert.equal(p.comm, 'vigil-burst-tru', 'comm: the binary\'s name, cut at 15 bytes');
      assert.equal(p.euid, process.geteuid!());
      assert.ok(p.caps && p.ns && p.ns.mnt > 0, 'credentials and namespaces from the kernel');
      assert.ok(p.cgroupId > 0n);
      if (hasCgroup2) assert.ok(p.cgroupPath?.startsWith('/'), `cgroup path from the kernel, not ${p.cgroupPath}`);
      assert.equal(p.ppid, shell.process.pid);
      assert.equal(p.parentExecId, shell.process.execId, 'the parent linked without /proc');
      assert.equal(e.parent?.execId, shell.process.execId);
      assert.ok(p.flags.binaryError === false && p.flags.argsError === false && p.flags.cwdError === false);
    }
    // The JSON line of the last one: its process text and the shell's spliced in.
    const j = JSON.parse(f.json(got[got.length - 1]!)).process_exec;
    assert.equal(j.process.binary, bin);
    assert.equal(j.process.arguments, `${mark} ${BURST - 1}`);
    assert.equal(j.process.parent_exec_id, j.parent.exec_id);
    assert.equal(j.parent.exec_id, shell.process.execId);
    assert.equal(cache.stats.procfs, 0, 'no process was read from /proc');
  } finally {
    s.close();
  }
});
