// Real-kernel tests of the tracing attach kinds: tracepoint, raw tracepoint,
// BTF tracepoint, uprobe/uretprobe (executable and shared library),
// perf_event sampling and the task iterator. Each program counts only what
// this test process (or the child it started) does.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { ObjectSpec } from '../src/bpf/object.js';
import { TypedMap } from '../src/bpf/map.js';
import { onlineCpus } from '../src/bpf/program.js';
import * as codec from '../src/bpf/codec.js';
import { repoPath } from '../src/util/paths.js';
import { requireRoot, tracefs } from './helpers.js';
import { Child, counter, histogram, makeMarker, testObject, whileAttached } from './attach-util.js';

const TRUE = '/bin/true';

/** Starts `n` short-lived children (fork + exec of /bin/true); their pids. */
function spawnTrue(n: number): number[] {
  const pids: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = spawnSync(TRUE, [], { stdio: 'ignore' });
    assert.equal(r.status, 0, `${TRUE} failed: ${String(r.error)}`);
    pids.push(r.pid);
  }
  return pids;
}

describe('tracing attach kinds', () => {
  let spec: ObjectSpec;
  let marker: ReturnType<typeof makeMarker>;

  before(() => {
    requireRoot();
    tracefs();
    spec = testObject('attach');
    marker = makeMarker();
  });

  after(() => {
    marker?.remove();
  });

  test('tracepoint syscalls/sys_enter_openat counts this process opening the marker path', async () => {
    const obj = await spec.load({ programs: ['tp_openat'], constants: { target_pid: process.pid, marker: marker.path } });
    try {
      const link = obj.program('tp_openat').attachTracepoint('syscalls', 'sys_enter_openat');
      try {
        for (let i = 0; i < 7; i++) {
          closeSync(openSync(marker.path, 'r'));
          closeSync(openSync(marker.other, 'r')); // another path: not counted
        }
      } finally {
        link.close();
      }
      closeSync(openSync(marker.path, 'r')); // after detach: not counted
      assert.equal(counter(obj, 'tp_openat_hits'), 7);
    } finally {
      obj.close();
    }
  });

  test('raw tracepoint sched_process_exec sees the children this process executes, with their file', async () => {
    const obj = await spec.load({ programs: ['raw_exec'], constants: { target_pid: process.pid } });
    try {
      const pids = whileAttached(obj.program('raw_exec').attachRawTracepoint('sched_process_exec'), () => spawnTrue(3));
      const files = new TypedMap(obj.map('raw_exec_files'), codec.u32, codec.cstring(64));
      for (const pid of pids) assert.equal(files.get(pid), TRUE, `exec of child ${pid}`);
      const later = spawnTrue(1);
      assert.equal(files.get(later[0]!), undefined, 'exec after detach was recorded');
    } finally {
      obj.close();
    }
  });

  test('BTF tracepoint sched_process_fork sees the children this process creates', async () => {
    const obj = await spec.load({ programs: ['btf_fork'], constants: { target_pid: process.pid } });
    try {
      const pids = whileAttached(obj.program('btf_fork').attachTrace(), () => spawnTrue(3));
      const seen = new Map(histogram(obj, 'btf_fork_children', codec.u32));
      for (const pid of pids) assert.equal(seen.get(pid), 1, `fork of child ${pid}`);
      const later = spawnTrue(1);
      assert.equal(new Map(histogram(obj, 'btf_fork_children', codec.u32)).get(later[0]!), undefined,
        'fork after detach was recorded');
    } finally {
      obj.close();
    }
  });

  test('uprobe and uretprobe by symbol in an executable and a shared library read arguments and results', async () => {
    const exe = repoPath('test', '.output', 'uprobe_target');
    const lib = repoPath('test', '.output', 'libvigiltarget.so');
    const n = 5;
    const child = new Child(exe, [String(n)]);
    const links: { close(): void }[] = [];
    try {
      await child.line(/^ready \d+$/);
      const obj = await spec.load({
        programs: ['uprobe_exe', 'uretprobe_exe', 'uprobe_lib', 'uretprobe_lib'],
        constants: { target_pid: child.pid },
      });
      try {
        const pid = child.pid;
        links.push(obj.program('uprobe_exe').attachUprobe({ binary: exe, symbol: 'vigil_target_add', pid }));
        links.push(obj.program('uretprobe_exe').attachUprobe({ binary: exe, symbol: 'vigil_target_add', pid, retprobe: true }));
        links.push(obj.program('uprobe_lib').attachUprobe({ binary: lib, symbol: 'vigil_lib_scale', pid }));
        links.push(obj.program('uretprobe_lib').attachUprobe({ binary: lib, symbol: 'vigil_lib_scale', pid, retprobe: true }));
        child.go();
        const done = await child.line(/^done (\d+)$/);
        assert.equal(await child.exit(), 0, child.errors);
        const i = Array.from({ length: n }, (_, k) => k + 1);
        assert.equal(Number(done[1]), i.reduce((s, k) => s + k + 100 + k * 3000, 0));

        const once = (keys: number[]): [bigint, number][] => keys.map((k) => [BigInt(k), 1]);
        assert.deepEqual(histogram(obj, 'uprobe_exe_args', codec.u64), once(i));
        assert.deepEqual(histogram(obj, 'uprobe_exe_rets', codec.u64), once(i.map((k) => k + 100)));
        assert.deepEqual(histogram(obj, 'uprobe_lib_args', codec.u64), once(i.map((k) => k * 1000)));
        assert.deepEqual(histogram(obj, 'uprobe_lib_rets', codec.u64), once(i.map((k) => k * 3000)));
      } finally {
        for (const l of links) l.close();
        obj.close();
      }
    } finally {
      child.kill();
    }
  });

  test('perf_event CPU-clock sampling runs on every CPU and samples this busy process', async () => {
    const obj = await spec.load({ programs: ['perf_sample'], constants: { target_pid: process.pid } });
    try {
      const cpus = onlineCpus();
      const perCpu = (): Map<number, number> => new Map(histogram(obj, 'perf_cpu_samples', codec.u32));
      const att = obj.program('perf_sample').attachPerfSampling({ frequency: 99 });
      try {
        assert.equal(att.links.length, cpus.length);
        // Busy for ~300 ms, then (only if a CPU has not been sampled yet) a
        // little longer: bounded at 5 s of spinning in 100 ms slices.
        let x = 0;
        for (let slice = 0; slice < 50; slice++) {
          const end = Date.now() + 100;
          while (Date.now() < end) x += Math.sqrt(x + slice);
          if (slice < 2) continue;
          const seen = perCpu();
          if (counter(obj, 'perf_target_samples') > 0 && cpus.every((c) => (seen.get(c) ?? 0) > 0)) break;
        }
        assert.ok(Number.isFinite(x));
      } finally {
        att.close();
      }
      const seen = perCpu();
      for (const cpu of cpus) assert.ok((seen.get(cpu) ?? 0) > 0, `no sample on CPU ${cpu}: ${JSON.stringify([...seen])}`);
      assert.ok(counter(obj, 'perf_target_samples') > 0, 'no sample of this process');
    } finally {
      obj.close();
    }
  });

  test('iterator iter/task lists this process with its command name', async () => {
    const obj = await spec.load({ programs: ['iter_tasks'] });
    try {
      const link = obj.program('iter_tasks').attachIter();
      let text: string;
      try {
        text = (await link.readIter()).toString('utf8');
      } finally {
        link.close();
      }
      const lines = text.split('\n').filter(Boolean);
      const comm = readFileSync('/proc/self/comm', 'utf8').trim();
      assert.ok(lines.includes(`${process.pid} ${comm}`), `no "${process.pid} ${comm}" in ${lines.length} lines`);
      const ppid = process.ppid;
      assert.ok(lines.some((l) => l.startsWith(`${ppid} `)), `no line for the parent process ${ppid}`);
      assert.ok(lines.every((l) => /^\d+ .*$/.test(l)), 'malformed line');
    } finally {
      obj.close();
    }
  });
});
