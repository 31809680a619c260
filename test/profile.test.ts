// Profiler accuracy on the real kernel: test/fixtures/profiletarget.c runs
// workloads of known shape, the profiler (bpf/profile.bpf.c + symbolizer)
// must name their functions and share the samples as the work was shared.
// Counts only, no timings: the 3:1 bound is generous.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cgroup2, requireFeature } from '../src/bpf/index.js';
import { Sampler } from '../src/profile/sampler.js';
import { Profiler } from '../src/profile/profiler.js';
import { Symbolizer } from '../src/kernel/symbols/index.js';
import { openFdCount, requireRoot } from './helpers.js';
import { FIXTURE, countWith, profileFixture, startFixture, totalCount, waitExit } from './profile-util.js';

describe('profiler accuracy (real kernel)', () => {
  before(() => requireRoot());

  test('two busy functions: both named, busy_a has about 3x the samples of busy_b', async (t) => {
    if (!(await requireFeature(t, 'perf_event'))) return;
    const { profile, pid, usageAfter } = await profileFixture('cpu', 2.5, { frequency: 499 });
    const a = countWith(profile, 'busy_a');
    const b = countWith(profile, 'busy_b');
    t.diagnostic(`busy_a ${a}, busy_b ${b}, total ${totalCount(profile)} samples`);
    assert.ok(b >= 20, `busy_b has samples (${b})`);
    const ratio = a / b;
    assert.ok(ratio >= 2.0 && ratio <= 4.5, `busy_a / busy_b = ${ratio.toFixed(2)}, expected near 3`);
    // The pid filter ran in the kernel: nothing else is in the profile.
    assert.ok(profile.stacks.every((s) => s.pid === pid), 'only the fixture was sampled');
    // Callers resolved too, through frame pointers; the root frame is the process name.
    const withA = profile.stacks.find((s) => s.frames.some((f) => f.name === 'busy_a'))!;
    const names = withA.frames.map((f) => f.name);
    assert.ok(names.includes('cpu_loop') && names.includes('main'), `busy_a's callers: ${names.join(' <- ')}`);
    assert.equal(withA.process, 'profiletarget');
    const leaf = withA.frames[0]!;
    assert.equal(leaf.kind, 'user');
    assert.equal(leaf.module, FIXTURE);
    // Stack ids never lost here, and the kernel maps were emptied by the last collect.
    assert.equal(profile.counters.stacksMissing, 0);
    assert.deepEqual(usageAfter, { counts: 0, userStacks: 0, kernelStacks: 0, overflowStacks: 0 });
  });

  test('a syscall-heavy loop: kernel frames on top of its user stack', async (t) => {
    if (!(await requireFeature(t, 'perf_event'))) return;
    const { profile } = await profileFixture('syscall', 1.5, { frequency: 499 });
    const kernel = profile.stacks.filter((s) => s.frames.some((f) => f.kind === 'kernel'));
    assert.ok(kernel.length > 0, 'some stacks have kernel frames');
    const entry = /^(entry_SYSCALL_64|__x64_sys_read|ksys_read|vfs_read|read_zero|do_syscall_64)/;
    const hits = countWith(profile, entry);
    t.diagnostic(`${hits} of ${totalCount(profile)} samples in the read path`);
    assert.ok(hits > totalCount(profile) / 4, 'most of the time goes to read(2) in the kernel');
    // Kernel frames sit leafward of the user frames that made the call.
    const s = kernel.find((x) => x.frames.some((f) => entry.test(f.name)))!;
    const firstUser = s.frames.findIndex((f) => f.kind === 'user');
    const lastKernel = s.frames.map((f) => f.kind).lastIndexOf('kernel');
    assert.ok(firstUser > lastKernel, 'leaf first: kernel frames, then user frames');
    assert.ok(s.frames.some((f) => f.name === 'main'), `the user part reaches main: ${s.frames.map((f) => f.name).join(' <- ')}`);
  });

  test("a shared library's function is named from the library", async (t) => {
    if (!(await requireFeature(t, 'perf_event'))) return;
    const { profile } = await profileFixture('lib', 1.5, { frequency: 499 });
    const n = countWith(profile, 'profilelib_busy');
    assert.ok(n > totalCount(profile) / 2, `profilelib_busy has most samples (${n} of ${totalCount(profile)})`);
    const f = profile.stacks.flatMap((s) => s.frames).find((x) => x.name === 'profilelib_busy')!;
    assert.equal(f.kind, 'user');
    assert.match(f.module, /libprofiletarget\.so$/);
    assert.ok(f.mapping && f.mapping.path.endsWith('libprofiletarget.so'), 'its mapping is the library');
  });

  test('a JIT frame is named from /tmp/perf-PID.map', async (t) => {
    if (!(await requireFeature(t, 'perf_event'))) return;
    const { profile, pid } = await profileFixture('jit', 1.5, { frequency: 499 });
    const n = countWith(profile, 'jit_busy_loop');
    assert.ok(n > totalCount(profile) / 2, `jit_busy_loop has most samples (${n} of ${totalCount(profile)})`);
    const f = profile.stacks.flatMap((s) => s.frames).find((x) => x.name === 'jit_busy_loop')!;
    assert.equal(f.kind, 'jit');
    // The fixture removed its perf map at exit: the symbol came from the capture made while it lived.
    assert.throws(() => readFileSync(`/tmp/perf-${pid}.map`));
  });

  test('--pid --follow-children: a child forked during the profile is profiled', async (t) => {
    if (!(await requireFeature(t, 'perf_event'))) return;
    if (!(await requireFeature(t, 'tp_btf'))) return;
    const { profile, pid } = await profileFixture('fork', 1.5, { frequency: 499, followChildren: true });
    const child = profile.stacks.filter((s) => s.pid !== pid);
    assert.ok(child.length > 0, 'samples of the child');
    // One child: named ptchild by its prctl right after the fork (a sample taken before that
    // names it as its parent on a loaded machine).
    assert.equal(new Set(child.map((s) => s.pid)).size, 1, 'only the fixture and its child');
    assert.ok(child.every((s) => s.process === 'ptchild' || s.process === 'profiletarget'), [...new Set(child.map((s) => s.process))].join(', '));
    assert.ok(child.some((s) => s.process === 'ptchild'));
    assert.ok(countWith(profile, 'fork_child_busy') > 0);
    // Without --follow-children the child is not the --pid process: filtered out in the kernel.
    const only = await profileFixture('fork', 1, { frequency: 499 });
    assert.equal(only.profile.stacks.filter((s) => s.pid !== only.pid).length, 0);
    assert.ok(only.profile.counters.filtered > 0, 'the child\'s samples were dropped by the filter');
  });

  test('--comm: only threads of that name', async (t) => {
    if (!(await requireFeature(t, 'perf_event'))) return;
    const { profile } = await profileFixture('cpu', 1, { frequency: 499, noPidFilter: true,
      filter: { comms: ['profiletarget'] } });
    assert.ok(totalCount(profile) > 0);
    assert.ok(profile.stacks.every((s) => s.thread === 'profiletarget'));
    assert.ok(countWith(profile, 'busy_a') > 0);
  });

  test('cgroup filter (--container): only processes in the cgroup', async (t) => {
    if (!(await requireFeature(t, 'perf_event'))) return;
    const root = cgroup2().path;
    assert.ok(root, 'cgroup v2 is mounted');
    const cg = path.join(root, `vigil-profile-${process.pid}`);
    mkdirSync(cg);
    try {
      const id = BigInt(statSync(cg).ino);
      const { profile, pid } = await profileFixture('cpu', 1, { frequency: 499, noPidFilter: true,
        filter: { cgroupIds: [id] }, beforeStart: (p) => writeFileSync(path.join(cg, 'cgroup.procs'), String(p)) });
      assert.ok(totalCount(profile) > 0);
      assert.ok(profile.stacks.every((s) => s.pid === pid), 'only the process moved into the cgroup');
      assert.ok(countWith(profile, 'busy_a') > 0);
    } finally {
      rmdirSync(cg);
    }
  });

  test('off-CPU: time blocked in nanosleep lands on the sleeping stack', async (t) => {
    if (!(await requireFeature(t, 'tp_btf'))) return;
    const { profile } = await profileFixture('sleep', 1.5, { mode: 'off-cpu' });
    assert.equal(profile.mode, 'off-cpu');
    const sleeping = profile.stacks.filter((s) => s.frames.some((f) => /nanosleep/.test(f.name)));
    assert.ok(sleeping.length > 0, 'a stack through nanosleep');
    const ns = sleeping.reduce((a, s) => a + s.ns, 0);
    const switches = sleeping.reduce((a, s) => a + s.count, 0);
    t.diagnostic(`${switches} sleeps, ${(ns / 1e6).toFixed(0)} ms off the CPU`);
    assert.ok(switches > 10 && ns > 0);
    // The scheduler is the kernel leaf; the tracing machinery itself is cut off.
    const s = sleeping[0]!;
    assert.ok(s.frames.some((f) => f.kind === 'kernel' && /schedule/.test(f.name)));
    assert.ok(!/^(bpf_prog_|__traceiter_|bpf_trace_run)/.test(s.frames[0]!.name), `leaf ${s.frames[0]!.name}`);
  });

  test('no descriptor leaks across start/collect/close, and bad frequencies are refused', async (t) => {
    if (!(await requireFeature(t, 'perf_event'))) return;
    // The earlier tests' profilers' threads are gone before counting.
    await Symbolizer.threadsExited();
    const before = openFdCount();
    for (let i = 0; i < 2; i++) {
      const child = await startFixture('cpu', 0.3);
      const p = await Profiler.start({ frequency: 99, filter: { pids: [child.pid!] }, drainMs: 100 });
      child.stdin.write('\n');
      await waitExit(child, 10_000);
      p.cut();
      p.close();
      // Its symbol-parsing threads close their event loops' descriptors as they exit.
      await Symbolizer.threadsExited();
    }
    assert.equal(openFdCount(), before);
    await assert.rejects(Sampler.start({ frequency: 1000 }), /1\.\.999/);
    await assert.rejects(Sampler.start({ frequency: 0 }), /1\.\.999/);
  });
});
