// The process sensor end to end: real fork/exec/exit calls observed by
// bpf/process.bpf.c (and the start-up snapshot, bpf/process_snapshot.bpf.c),
// decoded by ProcessSensor into the process cache, formatted for Tetragon.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  ProcessSensor, decodeExecRecord, decodeExecFailedRecord, decodeSnapshot, joinLeafFirst, splitNul,
} from '../src/sensors/process.js';
import type { ExecEvent, ExecFailedEvent, ExitEvent, ForkEvent, ProcessEvent } from '../src/sensors/events.js';
import { FilterSet, type FilterOptions } from '../src/sensors/filter.js';
import { ProcessCache } from '../src/process/cache.js';
import type { ProcessInfo } from '../src/process/types.js';
import {
  TetragonFormatter, capabilityNames, escapeControls, execId, tetragonArguments,
} from '../src/output/tetragon.js';
import { BootClock, rfc3339Nano } from '../src/util/clock.js';
import {
  vigilExecEvent, vigilExecFailedEvent, VIGIL_ARGS_MAX, VIGIL_PATH_DEPTH, VIGIL_PROCESS_EXEC,
  VIGIL_PROCESS_EXEC_FAILED, VIGIL_EXEC_TRUNC_ARGS, VIGIL_EXEC_TRUNC_BINARY, VIGIL_EXEC_TRUNC_CWD, VIGIL_EXEC_SNAPSHOT, VIGIL_EXEC_AT, type VigilTaskInfo,
} from '../src/generated/process.js';
import { openFdCount, requireRoot, missingFeature, withDockerCgroup } from './helpers.js';
import { shapedEvent } from './shaped.js';
import { info } from './process-fixtures.js';

const ECHO = realpathSync('/bin/echo');
const SLEEP = realpathSync('/bin/sleep');
const SH = realpathSync('/bin/sh');
const marker = (what: string): string => `vigil-test-${what}-${randomBytes(4).toString('hex')}`;

/** Why the kernel cannot run the sensor, or undefined. A probe that cannot tell fails. */
const unsupported = (): Promise<string | undefined> => missingFeature(['tracepoint', 'raw_tracepoint'], ['bpf_loop']);

/** A test of the process sensor: skipped, saying why, where the kernel lacks what the sensor needs. */
function kernelTest(name: string, fn: () => Promise<void>): void {
  test(name, async (t) => {
    const why = await unsupported();
    if (why) return t.skip(why);
    await fn();
  });
}

/** A copy of a system binary under dir (a unique, known path and comm). */
function copyBinary(from: string, dir: string, name: string): string {
  const to = path.join(dir, name);
  copyFileSync(from, to);
  chmodSync(to, 0o755);
  return realpathSync(to);
}

function taskInfo(over: Partial<VigilTaskInfo> = {}): VigilTaskInfo {
  return {
    start_boottime: 1_000n, parent_start_boottime: 500n, cgroup_id: 77n, cap_effective: 0x3n, cap_permitted: 0x7n,
    cap_inheritable: 0n, pid: 10, tid: 11, ppid: 9, uid: 1, gid: 2, euid: 3, egid: 4, auid: 5, suid: 6, sgid: 7, fsuid: 8, fsgid: 9, securebits: 0,
    ns_uts: 101,
    ns_ipc: 102, ns_mnt: 103, ns_pid: 104, ns_pid_for_children: 105, ns_net: 106, ns_time: 0, ns_time_for_children: 0,
    ns_cgroup: 109, ns_user: 110, comm: 'echo', ...over,
  };
}

function execRecord(blobParts: string[], flags = 0, over: Partial<VigilTaskInfo> = {}): { view: DataView; size: number } {
  const [binary = '', args = '', cwd = '', cgroup = '', tty = ''] = blobParts;
  const blob = Buffer.from(binary + args + cwd + cgroup + tty, 'utf8');
  const size = vigilExecEvent.size + blob.length;
  const view = new DataView(new ArrayBuffer(size));
  vigilExecEvent.encode({
    kind: VIGIL_PROCESS_EXEC, flags, ktime: 2_000n, size, binary_len: Buffer.byteLength(binary),
    args_len: Buffer.byteLength(args), cwd_len: Buffer.byteLength(cwd), cgroup_len: Buffer.byteLength(cgroup),
    tty_len: Buffer.byteLength(tty), pad: 0, task: taskInfo(over),
  }, view, 0);
  new Uint8Array(view.buffer, vigilExecEvent.size).set(blob);
  return { view, size };
}

/** Drains s until one of the events satisfies pred (at most 3 s). */
async function drainUntil(s: ProcessSensor, events: ProcessEvent[], pred: (e: ProcessEvent) => boolean): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!events.some(pred) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    s.drain();
  }
}

describe('process records (no kernel)', () => {
  test('components leaf first join to an absolute path', () => {
    assert.equal(joinLeafFirst(['echo', 'bin', 'usr'], false), '/usr/bin/echo');
    assert.equal(joinLeafFirst([], false), '/');
    assert.equal(joinLeafFirst(['echo', 'bin'], true), '.../bin/echo');
  });

  test('NUL-separated strings, the last one possibly cut', () => {
    const enc = new TextEncoder();
    assert.deepEqual(splitNul(enc.encode('a\0b c\0\0')), ['a', 'b c', '']);
    assert.deepEqual(splitNul(enc.encode('a\0bc')), ['a', 'bc']);
    assert.deepEqual(splitNul(new Uint8Array(0)), []);
  });

  test('an exec record: header by the generated codec, then binary, args, cwd, cgroup, tty', () => {
    const { view, size } = execRecord(['echo\0bin\0usr\0', '/bin/echo\0a b\0c', 'x\0tmp\0',
      'docker-abc.scope\0system.slice\0', 'pts3'], VIGIL_EXEC_TRUNC_ARGS);
    const d = decodeExecRecord(view, 0, size);
    const r = d.record;
    assert.equal(r.binary, '/usr/bin/echo');
    assert.deepEqual(r.args, ['/bin/echo', 'a b', 'c']);
    assert.equal(r.cwd, '/tmp/x');
    assert.equal(r.cgroupPath, '/system.slice/docker-abc.scope');
    assert.equal(r.tty, 'pts/3');
    assert.equal(decodeExecRecord(execRecord(['', '', '', '', 'ttyS0']).view, 0, execRecord(['', '', '', '', 'ttyS0']).size).record.tty, 'ttyS0');
    assert.equal(r.flags?.argsTruncated, true);
    assert.equal(r.flags?.binaryTruncated, false);
    assert.equal(r.source, 'exec');
    assert.equal(r.pid, 10);
    assert.equal(r.tid, 11);
    assert.equal(r.ppid, 9);
    assert.equal(r.parentStartBootNs, 500n);
    assert.equal(r.startBootNs, 1_000n);
    assert.equal(r.execBootNs, 2_000n);
    assert.deepEqual(r.caps, { effective: 3n, permitted: 7n, inheritable: 0n });
    assert.deepEqual(r.ns, { uts: 101, ipc: 102, mnt: 103, pid: 104, pidForChildren: 105, net: 106, time: undefined,
      timeForChildren: undefined, cgroup: 109, user: 110 });
    assert.equal(r.cgroupId, 77n);
    assert.equal(d.timeBootNs, 2_000n);
    assert.throws(() => decodeExecRecord(view, 0, size - 3), RangeError);
  });

  test('records one after another: what repeats is reused, what differs is decoded afresh', () => {
    const parts = ['echo\0bin\0usr\0', 'echo\0', 'x\0tmp\0', 'a.scope\0'];
    const decode = (p: string[], flags = 0, over: Partial<VigilTaskInfo> = {}) => {
      const { view, size } = execRecord(p, flags, over);
      return decodeExecRecord(view, 0, size).record;
    };
    const a = decode(parts);
    const b = decode(parts, 0, { pid: 12 });
    assert.equal(b.binary, a.binary);
    assert.equal(b.caps, a.caps, 'the same capability words: the same object');
    assert.equal(b.ns, a.ns, 'the same namespace words: the same object');
    // The same bytes cut short: another text.
    assert.equal(decode(parts, VIGIL_EXEC_TRUNC_BINARY | VIGIL_EXEC_TRUNC_CWD).binary, '.../usr/bin/echo');
    assert.equal(decode(parts, VIGIL_EXEC_TRUNC_CWD).cwd, '.../tmp/x');
    assert.equal(decode(parts).binary, '/usr/bin/echo');
    // Each word that differs (a high half of a mask, one namespace) is seen.
    const c = decode(parts, 0, { cap_permitted: 7n | (1n << 40n) });
    assert.deepEqual(c.caps, { effective: 3n, permitted: 7n | (1n << 40n), inheritable: 0n });
    assert.deepEqual(decode(parts, 0, { ns_net: 999 }).ns?.net, 999);
    assert.deepEqual(decode(parts).ns?.net, 106);
    assert.equal(decode(parts, 0, { ns_mnt: 0 }).ns, undefined, 'no namespaces (an exiting task)');
    assert.deepEqual(decode(['sh\0bin\0', 'sh\0', 'y\0', 'b.scope\0']), { ...a, binary: '/bin/sh', args: ['sh'], cwd: '/y',
      cgroupPath: '/b.scope' });
    assert.deepEqual(decode(parts, 0, { comm: 'other' }).comm, 'other');
  });

  test('snapshot records back to back, and a torn stream is an error', () => {
    const a = execRecord(['sh\0bin\0', 'sh\0', '', '', ''], VIGIL_EXEC_SNAPSHOT, { pid: 1 });
    const b = execRecord(['', '', '', '', ''], VIGIL_EXEC_SNAPSHOT | 256 /* KTHREAD */, { pid: 2, comm: 'kthreadd' });
    const buf = Buffer.concat([Buffer.from(a.view.buffer), Buffer.from(b.view.buffer)]);
    const recs = decodeSnapshot(buf);
    assert.deepEqual(recs.map((r) => [r.record.pid, r.record.binary, r.snapshot, r.kthread, r.record.source]),
      [[1, '/bin/sh', true, false, 'iterator'], [2, '', true, true, 'iterator']]);
    assert.throws(() => decodeSnapshot(buf.subarray(0, buf.length - 1)), RangeError);
  });

  test('a failed-exec record: filename as given, argv, cwd, -errno', () => {
    const blob = Buffer.from('./nope' + 'nope\0x\0' + 'w\0', 'utf8');
    const size = vigilExecFailedEvent.size + blob.length;
    const view = new DataView(new ArrayBuffer(size));
    vigilExecFailedEvent.encode({
      kind: VIGIL_PROCESS_EXEC_FAILED, flags: VIGIL_EXEC_AT, ktime: 9n, size, ret: -13, dfd: 5, at_flags: 0x1000,
      filename_len: 6, args_len: 7, cwd_len: 2, pad: 0, task: taskInfo(),
    }, view, 0);
    new Uint8Array(view.buffer, vigilExecFailedEvent.size).set(blob);
    const d = decodeExecFailedRecord(view, 0, size);
    assert.equal(d.filename, './nope');
    assert.deepEqual(d.args, ['nope', 'x']);
    assert.equal(d.cwd, '/w');
    assert.equal(d.errno, 13);
    assert.deepEqual(d.at, { dfd: 5, flags: 0x1000 });
  });

  test('capability names as Tetragon spells them', () => {
    assert.deepEqual(capabilityNames(0b11n), ['CAP_CHOWN', 'DAC_OVERRIDE']);
    assert.deepEqual(capabilityNames(1n << 21n), ['CAP_SYS_ADMIN']);
    assert.deepEqual(capabilityNames((1n << 40n) | (1n << 39n)), ['CAP_BPF', 'CAP_CHECKPOINT_RESTORE']);
    assert.deepEqual(capabilityNames(0n), []);
  });

  test('Tetragon arguments, control characters, times, exec ids', () => {
    assert.equal(tetragonArguments(['/bin/echo', 'a', 'b c']), 'a "b c"');
    assert.equal(tetragonArguments(['/bin/true']), '');
    assert.equal(escapeControls('a\nb\tc\x1b[31m'), 'a\\nb\\tc\\x1b[31m');
    assert.equal(rfc3339Nano(1_700_000_000_123_456_789n), '2023-11-14T22:13:20.123456789Z');
    assert.equal(Buffer.from(execId('n', 5n, 7), 'base64').toString(), 'n:5:7');
  });
});

describe('Tetragon formatter (no kernel)', () => {
  const host = { uts: 1, ipc: 2, mnt: 99, pid: 4, net: 5, cgroup: 6, user: 7 };
  const parent = info({ execId: execId('n', 1n, 9), pid: 9, ppid: 1, parentExecId: undefined, binary: '/usr/bin/sh', args: ['sh', '-c', 'x'] });
  const exec: ExecEvent = { kind: 'exec', timeNs: 1_700_000_000_500_000_000n, timeBootNs: 3n, process: info(), parent };

  test('process_exec: Tetragon fields and Vigil extras', () => {
    const f = new TetragonFormatter('json', { node: 'node1', hostNamespaces: host, processCred: true, processNs: true });
    const j = JSON.parse(f.json(exec)) as { process_exec: { process: Record<string, unknown>; parent: Record<string, unknown> }; node_name: string; time: string };
    const p = j.process_exec.process;
    assert.equal(j.node_name, 'node1');
    assert.equal(j.time, '2023-11-14T22:13:20.500000000Z');
    assert.equal(p.exec_id, execId('n', 2n, 10));
    assert.equal(p.parent_exec_id, j.process_exec.parent.exec_id);
    assert.equal(p.pid, 10);
    assert.equal(p.tid, 10);
    assert.equal(p.uid, 1000);
    assert.equal(p.auid, 1000);
    assert.equal(p.binary, '/usr/bin/echo');
    assert.equal(p.arguments, '"hi there" x');
    assert.equal(p.cwd, '/tmp');
    assert.equal(p.flags, 'execve');
    assert.equal(p.start_time, '2023-11-14T22:13:20.000000000Z');
    assert.equal(p.cgroup_id, 42);
    assert.equal(p.container_id, 'ab'.repeat(32));
    assert.equal(p.docker, 'ab'.repeat(32));
    assert.equal(p.tty, 'pts/1');
    assert.deepEqual(p.cap, { permitted: ['CAP_CHOWN', 'DAC_OVERRIDE'], effective: ['CAP_SYS_ADMIN'], inheritable: [] });
    const ns = p.ns as Record<string, { inum: number; is_host: boolean }>;
    assert.deepEqual(ns.mnt, { inum: 3, is_host: false });
    assert.deepEqual(ns.net, { inum: 5, is_host: true });
    assert.deepEqual(Object.keys(ns), ['uts', 'ipc', 'mnt', 'pid', 'pid_for_children', 'net', 'time', 'time_for_children', 'cgroup', 'user']);
    assert.deepEqual(p.process_credentials, {
      uid: 1000, gid: 1000, euid: 1000, egid: 1000, suid: 1000, sgid: 1000, fsuid: 1000, fsgid: 1000,
      securebits: ['SecBitNoSetUidFixup', 'SecBitKeepCaps'],
      caps: { permitted: ['CAP_CHOWN', 'DAC_OVERRIDE'], effective: ['CAP_SYS_ADMIN'], inheritable: [] },
      user_ns: { ns: { inum: 7, is_host: true } },
    });
    assert.equal(p.refcnt, 1, 'a running process holds its reference');
    assert.equal(p.in_init_tree, false, 'in the host\'s pid namespace: not in a container\'s init tree');
  });

  test('process_exit: status and signal name, as Tetragon has them', () => {
    const f = new TetragonFormatter('json', { node: 'n', hostNamespaces: host });
    const base = { kind: 'exit' as const, timeNs: 5n, timeBootNs: 5n, process: info(), parent, coreDumped: false };
    const killed: ExitEvent = { ...base, status: null, signal: 9, signalName: 'SIGKILL' };
    const exited: ExitEvent = { ...base, status: 3, signal: null, signalName: null };
    const k = JSON.parse(f.json(killed)).process_exit;
    const x = JSON.parse(f.json(exited)).process_exit;
    assert.equal(k.signal, 'SIGKILL');
    assert.equal(k.status, 0);
    assert.equal(x.signal, null);
    assert.equal(x.status, 3);
    assert.equal(x.process.pid, 10);
    assert.equal(x.parent.pid, 9);
    const c = new TetragonFormatter('compact', { hostNamespaces: host });
    assert.equal(c.line(killed), '💥 exit    10 /usr/bin/echo "hi there" x SIGKILL');
    assert.equal(c.line(exited), '💥 exit    10 /usr/bin/echo "hi there" x 3');
  });

  test('compact lines in tetra getevents style, escaped', () => {
    const c = new TetragonFormatter('compact', { hostNamespaces: host });
    assert.equal(c.line(exec), '🚀 process 10 /usr/bin/echo "hi there" x');
    const fork: ForkEvent = { kind: 'fork', timeNs: 1n, timeBootNs: 1n, process: info({ source: 'fork', binary: '/usr/bin/sh' }), parent };
    assert.equal(c.line(fork), '🔀 fork    10 /usr/bin/sh (parent 9)');
    const failed: ExecFailedEvent = {
      kind: 'exec_failed', timeNs: 1n, timeBootNs: 1n, process: parent, parent: undefined, filename: '/nope\n',
      args: ['/nope', 'a'], cwd: '/', errno: 2, error: 'ENOENT', at: undefined, argsTruncated: false, filenameTruncated: false,
    };
    assert.equal(c.line(failed), '❌ exec    9 /nope\\n a ENOENT');
    const j = JSON.parse(new TetragonFormatter('json', { node: 'n', hostNamespaces: host }).json(failed)).process_exec_failed;
    assert.equal(j.filename, '/nope\n');
    assert.equal(j.ret, -2);
    assert.equal(j.error, 'ENOENT');
    assert.equal(j.process.pid, 9);
  });

  test('table: a header and rows in the same columns', () => {
    const t = new TetragonFormatter('table', { hostNamespaces: host });
    const header = t.header();
    const row = t.table(exec);
    for (const col of ['EVENT', 'PID', 'PPID', 'UID', 'CONTAINER', 'DETAIL']) {
      const at = header.indexOf(col);
      assert.ok(at > 0, col);
      assert.notEqual(row[at - 1], undefined);
      assert.equal(row[at - 1], ' ', `column ${col} starts after a space in the row`);
      assert.notEqual(row[at], ' ', `column ${col} has a value where its header starts`);
    }
    assert.match(row, /exec +10 +9 +1000 +ababababab.. +\/usr\/bin\/echo "hi there" x$/);
  });

  test('a lost record in each format, with its reason', () => {
    const j = new TetragonFormatter('json', { node: 'n', hostNamespaces: host });
    assert.deepEqual(JSON.parse(j.lostLine(7, 'process', 0n)).lost, { count: 7, sensor: 'process', reason: 'ring_full' });
    assert.deepEqual(JSON.parse(j.lostLine(3, 'file', 0n, 'queue_full')).lost, { count: 3, sensor: 'file', reason: 'queue_full' });
    assert.equal(new TetragonFormatter('compact', { hostNamespaces: host }).lostLine(7, 'process', 0n, 'queue_full'),
      '⚠️ lost 7 process events (output queue full)');
  });
});

/** Collects events of a running sensor; waits (bounded) for the one a predicate picks. */
class Collector {
  readonly events: ProcessEvent[] = [];
  sensor: ProcessSensor | undefined;

  async find<K extends ProcessEvent['kind']>(kind: K, pred: (e: Extract<ProcessEvent, { kind: K }>) => boolean,
    what = kind as string): Promise<Extract<ProcessEvent, { kind: K }>> {
    const deadline = Date.now() + 5000;
    for (;;) {
      this.sensor?.drain();
      const e = this.events.find((x): x is Extract<ProcessEvent, { kind: K }> => x.kind === kind && pred(x as Extract<ProcessEvent, { kind: K }>));
      if (e) return e;
      if (Date.now() > deadline) assert.fail(`no ${what} event among ${this.events.length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function procNs(pid: number | 'self'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of ['uts', 'ipc', 'mnt', 'pid', 'pid_for_children', 'net', 'time', 'time_for_children', 'cgroup', 'user']) {
    out[n] = Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${n}`))?.[1]);
  }
  return out;
}

function nsOf(p: ProcessInfo): Record<string, number | undefined> {
  const n = p.ns;
  assert.ok(n, `no namespaces for ${p.pid}`);
  return { uts: n.uts, ipc: n.ipc, mnt: n.mnt, pid: n.pid, pid_for_children: n.pidForChildren, net: n.net,
    time: n.time, time_for_children: n.timeForChildren, cgroup: n.cgroup, user: n.user };
}

describe('ProcessSensor (real kernel)', () => {
  let skip: string | undefined;
  const c = new Collector();
  let cache: ProcessCache;
  let tmp = '';
  const children: ChildProcess[] = [];

  before(async () => {
    requireRoot();
    skip = await unsupported();
    tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'vigil-proc-')));
    cache = new ProcessCache();
    if (skip) return;
    c.sensor = await ProcessSensor.start({ cache, onEvent: (e) => { shapedEvent(e, cache); c.events.push(e); } });
  });

  after(() => {
    for (const ch of children) ch.kill('SIGKILL');
    c.sensor?.close();
    cache?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('sh -> sh -> a test binary: exec, fork and exit events with fields and parent links', async (t) => {
    if (skip) return t.skip(skip);
    const dir = path.join(tmp, 'tree dir');
    mkdirSync(dir);
    const bin = copyBinary(ECHO, tmp, 'vigil-tree-bin');
    const sleeper = copyBinary(SLEEP, tmp, 'vigil-tree-sleep');
    const mark = marker('tree');
    const inner = `${bin} ${mark} "a b"; exit 3`;
    // The background sleeper is killed once it runs its own binary (bounded wait).
    const script = `/bin/sh -c '${inner}'; ${sleeper} 30 & i=0; ` +
      `while [ $i -lt 500 ] && [ "$(readlink /proc/$!/exe)" != "${sleeper}" ]; do i=$((i+1)); sleep 0.01; done; ` +
      'kill -KILL $!; wait; true';
    const r = spawnSync('/bin/sh', ['-c', script], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${mark} a b\n`);
    const cwd = realpathSync(dir);

    const sh1 = await c.find('exec', (e) => e.process.pid === r.pid, 'exec of sh#1');
    assert.equal(sh1.process.binary, SH);
    assert.deepEqual(sh1.process.args, ['/bin/sh', '-c', script]);
    assert.equal(sh1.process.cwd, cwd);
    assert.equal(sh1.process.ppid, process.pid);
    assert.equal(sh1.parent?.pid, process.pid);
    assert.equal(sh1.parent?.binary, realpathSync(process.execPath));

    const sh2 = await c.find('exec', (e) => e.process.args[2] === inner, 'exec of sh#2');
    assert.equal(sh2.process.binary, SH);
    assert.equal(sh2.process.ppid, r.pid);
    assert.equal(sh2.parent?.execId, sh1.process.execId);
    assert.equal(sh2.process.cwd, cwd);

    const leaf = await c.find('exec', (e) => e.process.binary === bin && e.process.args[1] === mark, 'exec of the binary');
    const p = leaf.process;
    assert.deepEqual(p.args, [bin, mark, 'a b']);
    assert.equal(p.cwd, cwd);
    assert.equal(p.comm, 'vigil-tree-bin');
    assert.equal(p.tid, p.pid);
    assert.equal(p.ppid, sh2.process.pid);
    assert.equal(p.uid, process.getuid!());
    assert.equal(p.euid, process.geteuid!());
    assert.equal(p.gid, process.getgid!());
    assert.equal(p.egid, process.getegid!());
    assert.equal(p.source, 'exec');
    assert.deepEqual(p.flags, {
      binaryTruncated: false, argsTruncated: false, cwdTruncated: false, binaryError: false, argsError: false, cwdError: false,
    });
    assert.equal(leaf.parent?.execId, sh2.process.execId);
    assert.equal(p.parentExecId, sh2.process.execId);
    assert.ok(p.startTimeNs <= leaf.timeNs, 'a process starts (forks) before it execs');
    assert.ok(p.execBootNs > sh2.process.execBootNs);
    // The chain up: sh#2, sh#1, this test process.
    assert.deepEqual(cache.ancestors(p).slice(0, 3).map((a) => a.pid), [sh2.process.pid, r.pid, process.pid]);

    // Forks: sh#1 made sh#2, sh#2 made the binary's process; each child starts as a copy of its parent.
    const f2 = await c.find('fork', (e) => e.process.pid === sh2.process.pid, 'fork of sh#2');
    assert.equal(f2.parent?.pid, r.pid);
    assert.equal(f2.process.ppid, r.pid);
    assert.equal(f2.process.startBootNs, sh2.process.startBootNs, 'fork and exec agree on the start');
    const f3 = await c.find('fork', (e) => e.process.pid === p.pid, 'fork of the binary');
    assert.equal(f3.parent?.pid, sh2.process.pid);
    assert.equal(f3.process.binary, SH, 'a forked child runs its parent\'s image until it execs');
    assert.equal(f3.process.source, 'fork');

    // Exits: the binary 0, sh#2 3, the sleeper SIGKILL, sh#1 0.
    const x1 = await c.find('exit', (e) => e.process.pid === p.pid, 'exit of the binary');
    assert.deepEqual([x1.status, x1.signal, x1.signalName], [0, null, null]);
    assert.equal(x1.process.binary, bin);
    assert.equal(x1.process.execId, p.execId);
    const x2 = await c.find('exit', (e) => e.process.pid === sh2.process.pid, 'exit of sh#2');
    assert.deepEqual([x2.status, x2.signal], [3, null]);
    assert.equal(x2.parent?.pid, r.pid);
    const killed = await c.find('exit', (e) => e.process.binary === sleeper, 'exit of the killed sleeper');
    assert.deepEqual([killed.status, killed.signal, killed.signalName, killed.coreDumped], [null, 9, 'SIGKILL', false]);
    assert.equal(killed.process.ppid, r.pid);
    const x0 = await c.find('exit', (e) => e.process.pid === r.pid, 'exit of sh#1');
    assert.deepEqual([x0.status, x0.signal], [0, null]);

    // The same, as Tetragon JSON.
    const f = new TetragonFormatter('json', { lookup: cache, ancestors: true });
    const ej = JSON.parse(f.json(leaf)).process_exec;
    assert.equal(ej.process.binary, bin);
    assert.equal(ej.process.arguments, `${mark} "a b"`);
    assert.equal(ej.process.parent_exec_id, ej.parent.exec_id);
    assert.equal(ej.parent.pid, sh2.process.pid);
    assert.deepEqual(ej.ancestors.slice(0, 2).map((a: { pid: number }) => a.pid), [r.pid, process.pid]);
    const kj = JSON.parse(f.json(killed)).process_exit;
    assert.equal(kj.signal, 'SIGKILL');
    const xj = JSON.parse(f.json(x2)).process_exit;
    assert.deepEqual([xj.status, xj.signal], [3, null]);
  });

  test('failed execs carry the error: ENOENT and EACCES, with filename and argv as given', async (t) => {
    if (skip) return t.skip(skip);
    const mark = marker('fail');
    const missing = `/nonexistent-${mark}/prog`;
    const noexec = path.join(tmp, `noexec-${mark}`);
    writeFileSync(noexec, '#!/bin/sh\n', { mode: 0o644 });
    const r = spawnSync('/bin/sh', ['-c', `${missing} ${mark} "x y"; ${noexec} ${mark}; true`], { cwd: tmp, encoding: 'utf8' });
    assert.equal(r.status, 0);
    const enoent = await c.find('exec_failed', (e) => e.filename === missing, 'ENOENT');
    assert.equal(enoent.errno, 2);
    assert.equal(enoent.error, 'ENOENT');
    assert.deepEqual(enoent.args, [missing, mark, 'x y']);
    assert.equal(enoent.cwd, tmp);
    assert.equal(enoent.at, undefined);
    assert.ok(enoent.process.pid === r.pid || enoent.process.ppid === r.pid, 'sh or its child called it');
    assert.equal(enoent.process.binary, SH, 'a failed exec leaves the caller as it was');
    const eacces = await c.find('exec_failed', (e) => e.filename === noexec, 'EACCES');
    assert.equal(eacces.errno, 13);
    assert.equal(eacces.error, 'EACCES');
    assert.deepEqual(eacces.args, [noexec, mark]);
    const j = JSON.parse(new TetragonFormatter('json').json(eacces)).process_exec_failed;
    assert.equal(j.ret, -13);
    assert.equal(j.filename, noexec);
  });

  async function sleeperEvent(args: string[], spawnOpts: Parameters<typeof spawn>[2] = {}, parentPid?: number):
    Promise<{ child: ChildProcess; e: ExecEvent }> {
    const child = spawn(args[0] ?? '', args.slice(1), { stdio: 'ignore', ...spawnOpts });
    children.push(child);
    const sleeper = args.find((a) => a.includes('vigil-sleep')) ?? '';
    const e = await c.find('exec', (x) => x.process.binary === sleeper &&
      (x.process.pid === child.pid || x.process.ppid === child.pid || (parentPid !== undefined && x.process.ppid === parentPid)),
    `exec of ${sleeper}`);
    return { child, e };
  }

  test('--output tetragon: a set-user-ID binary started by fork and exec is "execve clone" with binary_properties', async (t) => {
    if (skip) return t.skip(skip);
    const sleeper = copyBinary(SLEEP, tmp, 'vigil-sleep-setuid');
    chownSync(sleeper, 65534, 0);
    chmodSync(sleeper, 0o4755);
    const { child, e } = await sleeperEvent([sleeper, '30']);
    assert.equal(e.process.euid, 65534, 'the set-user-ID bit took effect');
    const p = JSON.parse(new TetragonFormatter('tetragon', { lookup: cache, processCred: true }).json(e)).process_exec.process;
    assert.equal(p.flags, 'execve clone');
    assert.deepEqual(p.binary_properties, { setuid: 65534 }, 'not a raise: to nobody');
    assert.equal(p.uid, 65534);
    assert.equal(p.process_credentials.suid, 65534);
    assert.equal(p.refcnt, 1);
    child.kill('SIGKILL');
  });

  test('credentials, capabilities and namespaces match /proc of the live process', async (t) => {
    if (skip) return t.skip(skip);
    const sleeper = copyBinary(SLEEP, tmp, 'vigil-sleep-caps');
    for (const [cmd, securebits] of [[[sleeper, '30'], 0],
      [['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', sleeper, '30'], 0],
      // Real ids apart from the effective, saved and filesystem ones; SECBIT_NO_SETUID_FIXUP (4) kept across exec.
      [['setpriv', '--ruid=65534', '--rgid=65534', '--clear-groups', '--securebits=+no_setuid_fixup', sleeper, '30'], 4]] as const) {
      const { child, e } = await sleeperEvent([...cmd]);
      const p = e.process;
      const st = procStatus(p.pid);
      const [uid, euid, suid, fsuid] = (st.Uid ?? '').split(/\s+/).map(Number);
      const [gid, egid, sgid, fsgid] = (st.Gid ?? '').split(/\s+/).map(Number);
      assert.deepEqual([p.uid, p.euid, p.suid, p.fsuid, p.gid, p.egid, p.sgid, p.fsgid], [uid, euid, suid, fsuid, gid, egid, sgid, fsgid]);
      assert.equal(p.securebits, securebits);
      assert.equal(p.caps?.effective, BigInt(`0x${st.CapEff}`));
      assert.equal(p.caps?.permitted, BigInt(`0x${st.CapPrm}`));
      assert.equal(p.caps?.inheritable, BigInt(`0x${st.CapInh}`));
      assert.deepEqual(nsOf(p), procNs(p.pid));
      const loginuid = Number(readFileSync(`/proc/${p.pid}/loginuid`, 'utf8'));
      assert.equal(p.auid, loginuid);
      if (cmd.includes('--reuid=65534')) {
        assert.equal(p.uid, 65534);
        assert.equal(p.caps?.effective, 0n);
      }
      child.kill('SIGKILL');
    }
  });

  test('an unshared process has its own namespace inodes (net, uts, mnt, ipc, pid, cgroup, time)', async (t) => {
    if (skip) return t.skip(skip);
    const sleeper = copyBinary(SLEEP, tmp, 'vigil-sleep-ns');
    const { child, e } = await sleeperEvent(['unshare', '-n', '-u', '-m', '-i', '-C', '-T', '-p', '-f', sleeper, '30']);
    const p = e.process;
    assert.equal(p.ppid, child.pid, 'unshare -f forks the command');
    const mine = procNs('self');
    const its = procNs(p.pid);
    assert.deepEqual(nsOf(p), its);
    for (const n of ['net', 'uts', 'mnt', 'ipc', 'pid', 'cgroup', 'time']) {
      assert.notEqual(its[n], mine[n], `${n} namespace is the unshared one`);
    }
    assert.equal(its.user, mine.user, 'user namespace not unshared');
    const strict = JSON.parse(new TetragonFormatter('tetragon', { lookup: cache, processNs: true }).json(e)).process_exec.process;
    assert.equal(strict.in_init_tree, true, 'pid 1 of its new pid namespace');
    const j = JSON.parse(new TetragonFormatter('json', { processNs: true }).json(e)).process_exec.process;
    assert.equal(j.ns.net.inum, its.net);
    child.kill('SIGKILL');
  });

  test('a process on a terminal names it; one without a controlling terminal has none', async (t) => {
    if (skip) return t.skip(skip);
    const sleeper = copyBinary(SLEEP, tmp, 'vigil-sleep-tty');
    const script = spawn('script', ['-qc', `${sleeper} 30`, '/dev/null'], { stdio: 'ignore', detached: true });
    children.push(script);
    const e = await c.find('exec', (x) => x.process.binary === sleeper &&
      cache.ancestors(x.process).some((a) => a.pid === script.pid), 'exec under script');
    const fd0 = readlinkSync(`/proc/${e.process.pid}/fd/0`);
    assert.match(fd0, /^\/dev\/pts\/\d+$/);
    assert.equal(e.process.tty, fd0.slice('/dev/'.length));
    assert.equal(JSON.parse(new TetragonFormatter('json').json(e)).process_exec.process.tty, e.process.tty);
    process.kill(-(script.pid ?? 0), 'SIGKILL');

    const sleeper2 = copyBinary(SLEEP, tmp, 'vigil-sleep-notty');
    const { child, e: e2 } = await sleeperEvent([sleeper2, '30'], { detached: true });
    assert.equal(e2.process.tty, undefined);
    child.kill('SIGKILL');
  });

  test('the start-up snapshot took in this process and its parent', (t) => {
    if (skip) return t.skip(skip);
    assert.ok(c.sensor && c.sensor.counts.snapshot > 2, `snapshot of ${c.sensor?.counts.snapshot} processes`);
    assert.equal(c.sensor?.snapshotError, undefined);
    const me = cache.get(process.pid);
    assert.equal(me?.source, 'iterator');
    assert.equal(me?.binary, realpathSync(process.execPath));
    const cmdline = readFileSync('/proc/self/cmdline', 'utf8').split('\0');
    cmdline.pop();
    assert.deepEqual(me?.args, cmdline);
    assert.equal(me?.cwd, process.cwd());
    const parent = cache.parentOf(me as ProcessInfo);
    assert.equal(parent?.pid, process.ppid);
    assert.equal(parent?.source, 'iterator');
    assert.equal(parent?.binary, readlinkSync(`/proc/${process.ppid}/exe`));
    assert.equal(me?.parentExecId, parent?.execId);
  });

  test('long arguments are truncated at VIGIL_ARGS_MAX and flagged', async (t) => {
    if (skip) return t.skip(skip);
    const mark = marker('long');
    const long = 'x'.repeat(VIGIL_ARGS_MAX + 1000);
    assert.equal(spawnSync('/bin/echo', [mark, long, 'after'], { stdio: 'ignore' }).status, 0);
    const e = await c.find('exec', (x) => x.process.binary === ECHO && x.process.args[1] === mark);
    assert.equal(e.process.flags.argsTruncated, true);
    assert.equal(e.process.args.length, 3, 'the long argument is cut, "after" is lost');
    const bytes = e.process.args.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0) - 1;
    assert.equal(bytes, VIGIL_ARGS_MAX, 'exactly VIGIL_ARGS_MAX bytes of argv (the last without its NUL)');
    assert.match(JSON.parse(new TetragonFormatter('json').json(e)).process_exec.process.flags, /truncArgs/);
  });

  test(`a path deeper than ${VIGIL_PATH_DEPTH} steps keeps its leaf side and is flagged`, async (t) => {
    if (skip) return t.skip(skip);
    const parts = Array.from({ length: VIGIL_PATH_DEPTH + 10 }, (_, i) => `d${i}`);
    const dir = path.join(tmp, 'deeper', ...parts);
    mkdirSync(dir, { recursive: true });
    const bin = copyBinary(ECHO, dir, 'vigil-deeper-echo');
    const mark = marker('deeper');
    assert.equal(spawnSync(bin, [mark], { cwd: dir, stdio: 'ignore' }).status, 0);
    const e = await c.find('exec', (x) => x.process.args[1] === mark);
    assert.equal(e.process.flags.binaryTruncated, true);
    assert.equal(e.process.flags.cwdTruncated, true);
    assert.ok(e.process.binary.startsWith('.../'), e.process.binary);
    assert.ok(bin.endsWith(e.process.binary.slice(3)), e.process.binary);
    assert.equal(e.process.binary.split('/').length - 1, VIGIL_PATH_DEPTH, 'one component per step');
  });

  test('a process in a cgroup named like a docker container carries its id', async (t) => {
    if (skip) return t.skip(skip);
    await withDockerCgroup(t, async ({ root, id, dir }) => {
      const bin = copyBinary(ECHO, tmp, 'vigil-cg-echo');
      const mark = marker('cg');
      const r = spawnSync('/bin/sh', ['-c', `echo $$ > ${dir}/cgroup.procs && ${bin} ${mark}; true`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const e = await c.find('exec', (x) => x.process.binary === bin && x.process.args[1] === mark);
      assert.deepEqual(e.process.container, { id, runtime: 'docker' });
      assert.equal(e.process.cgroupPath, dir.slice(root.length));
      assert.equal(e.process.cgroupId, (await import('node:fs')).statSync(dir, { bigint: true }).ino);
      const j = JSON.parse(new TetragonFormatter('json').json(e)).process_exec.process;
      assert.equal(j.container_id, id);
      assert.equal(j.docker, id);
    });
  });

  test('a failed exec is in the cgroup the kernel saw then: a process that moved after its exec', async (t) => {
    if (skip) return t.skip(skip);
    await withDockerCgroup(t, async ({ root, id, dir }) => {
      const missing = `/nonexistent-${marker('moved')}/prog`;
      // The shell's own exec (no fork): the cache has its image from its exec, in this test's cgroup.
      spawnSync('/bin/sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec ${missing}`], { encoding: 'utf8' });
      const e = await c.find('exec_failed', (x) => x.filename === missing, 'the moved shell\'s failed exec');
      assert.equal(e.process.binary, SH);
      assert.equal(e.process.cgroupId, (await import('node:fs')).statSync(dir, { bigint: true }).ino);
      assert.equal(e.process.cgroupPath, dir.slice(root.length));
      assert.deepEqual(e.process.container, { id, runtime: 'docker' });
      const j = JSON.parse(new TetragonFormatter('json').json(e)).process_exec_failed.process;
      assert.equal(j.container_id, id);
      // The cached image itself is unchanged: its exec was outside. Its copy in the cgroup is made once.
      const image = cache.get(e.process.pid, e.process.startBootNs)!;
      assert.notEqual(image.cgroupId, e.process.cgroupId);
      assert.equal(cache.inCgroup(image, e.process.cgroupId), e.process);
    });
  });

  test('no record was malformed or lost', (t) => {
    if (skip) return t.skip(skip);
    assert.equal(c.sensor?.malformed, 0);
    assert.equal(c.sensor?.lost, 0);
  });
});

describe('ProcessSensor with in-kernel filters', () => {
  let tmp = '';
  before(() => {
    requireRoot();
    tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'vigil-procf-')));
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function withSensor(filter: FilterSet, body: (s: ProcessSensor, events: ProcessEvent[]) => Promise<void>): Promise<void> {
    using cache = new ProcessCache();
    const events: ProcessEvent[] = [];
    const s = await ProcessSensor.start({ cache, filter, snapshot: false, onEvent: (e) => events.push(e) });
    try {
      await body(s, events);
    } finally {
      s.close();
    }
  }

  /**
   * Runs `script` (sh -c) under a sensor filtered by `options`: only one
   * process's exec and exit pass (as `show` gives them: `want`); the others
   * are dropped in the kernel.
   */
  async function onlyOnePasses(options: FilterOptions, script: string, show: (e: ProcessEvent) => unknown[], want: unknown[]): Promise<void> {
    using filter = new FilterSet(options);
    await withSensor(filter, async (s, events) => {
      assert.equal(spawnSync('/bin/sh', ['-c', script], { stdio: 'ignore' }).status, 0);
      await drainUntil(s, events, (e) => e.kind === 'exit');
      assert.deepEqual(events.map((e) => [e.kind, ...show(e)]), [['exec', ...want], ['exit', ...want]]);
      assert.ok(s.filterCounts().dropped > 0n, 'the other processes were dropped in the kernel');
    });
  }

  kernelTest('a filter that matches nothing drops every event in the kernel: nothing reaches user space', async () => {
    using filter = new FilterSet({ comms: ['no-such-comm'] });
    await withSensor(filter, async (s, events) => {
      for (let i = 0; i < 5; i++) assert.equal(spawnSync('/bin/sh', ['-c', '/bin/true; /nonexistent-x; true']).status, 0);
      s.drain();
      const counts = s.filterCounts();
      assert.ok(counts.dropped >= 15n, `dropped ${counts.dropped}`);
      assert.equal(counts.passed, 0n);
      assert.equal(events.length, 0);
    });
  });

  kernelTest('--comm passes only that program\'s events', async () => {
    const comm = `vgl${randomBytes(4).toString('hex')}`;
    const bin = copyBinary(ECHO, tmp, comm);
    await onlyOnePasses({ comms: [comm] }, `${bin} x; /bin/true; true`, (e) => [e.process.comm], [comm]);
  });

  kernelTest('--uid passes only processes running as that user', async () => {
    const mark = marker('uid');
    // root's echo, sh and setpriv are dropped.
    await onlyOnePasses({ uids: [65534] }, `/bin/echo ${mark}; setpriv --reuid=65534 --regid=65534 --clear-groups /bin/echo ${mark}; true`,
      (e) => [e.process.uid, e.process.binary], [65534, ECHO]);
  });

  kernelTest('--binary prefix: the verdict is taken at exec from the root-first path', async () => {
    const bin = copyBinary(ECHO, tmp, 'vigil-prefix-echo');
    await onlyOnePasses({ binaryPrefixes: [`${tmp}/`] }, `/bin/echo no; ${bin} yes; true`, (e) => [e.process.binary], [bin]);
  });

  kernelTest('--pid with --follow-children: the tree of a process that ran before the sensor, nothing else', async () => {
    const mark = marker('tree');
    // Waits for a line on stdin, then runs two levels of children.
    const sh = spawn('/bin/sh', ['-c', `read x; /bin/echo ${mark} >/dev/null; /bin/sh -c '/bin/echo ${mark} >/dev/null; true'`],
      { stdio: ['pipe', 'ignore', 'ignore'] });
    const done = new Promise((r) => sh.on('close', r));
    using filter = new FilterSet({ pids: [sh.pid ?? 0], followChildren: true });
    await withSensor(filter, async (s, events) => {
      assert.equal(spawnSync('/bin/echo', [mark]).status, 0, 'not in the tree');
      sh.stdin?.end('go\n');
      await done;
      await drainUntil(s, events, (e) => e.kind === 'exit' && e.process.pid === sh.pid);
      const execs = events.filter((e): e is ExecEvent => e.kind === 'exec');
      assert.equal(execs.filter((e) => e.process.binary === ECHO).length, 2, 'both echoes of the tree, not the other one');
      // Every event belongs to sh or a process forked (recursively) from it.
      const tree = new Set([sh.pid]);
      for (const e of events) {
        if (e.kind === 'fork' && tree.has(e.process.ppid)) tree.add(e.process.pid);
        assert.ok(tree.has(e.process.pid), `${e.kind} of ${e.process.pid} (${e.process.binary}) outside the tree`);
      }
      assert.ok(tree.size >= 3, 'sh forked its children');
      assert.ok(s.filterCounts().dropped > 0n, 'the echo outside the tree was dropped in the kernel');
    });
  });

  kernelTest('a full ring loses events and says how many: none is silent', async () => {
    const mark = marker('loss');
    let seen = 0;
    let reported = 0;
    using cache = new ProcessCache();
    using filter = new FilterSet({ pids: [process.pid], followChildren: true });
    const s = await ProcessSensor.start({
      cache, filter, snapshot: false, ringBytes: 4096, kinds: ['exec'],
      onEvent: (e) => {
        if (e.kind === 'exec' && e.process.args[1] === mark) seen++;
      },
      onLost: (n) => (reported += n),
    });
    try {
      // spawnSync blocks this event loop, so nothing reads the ring meanwhile.
      const n = 200;
      for (let i = 0; i < n; i++) assert.equal(spawnSync('/bin/true', [mark]).status, 0);
      s.drain();
      assert.ok(reported > 0, `a 4 KiB ring cannot hold ${n} spawns, yet no loss was reported`);
      assert.equal(reported, s.lost);
      // Each spawn sends fork, exec and exit; the filter keeps everything else out.
      assert.equal(s.counts.exec + s.counts.fork + s.counts.exit + reported, 3 * n);
      assert.ok(seen <= n);
    } finally {
      s.close();
    }
  });
});

describe('ProcessSensor records sent', () => {
  kernelTest('exec only, without forks: no fork record crosses, exec and exit still do', async () => {
    requireRoot();
    using cache = new ProcessCache();
    const mark = marker('nofork');
    const events: ProcessEvent[] = [];
    const s = await ProcessSensor.start({ cache, snapshot: false, kinds: ['exec'], forks: false, onEvent: (e) => events.push(e) });
    try {
      assert.equal(spawnSync('/bin/echo', [mark], { stdio: 'ignore' }).status, 0);
      await drainUntil(s, events, (e) => e.kind === 'exec' && e.process.args[1] === mark);
      assert.ok(events.some((e) => e.kind === 'exec' && e.process.args[1] === mark));
      assert.ok(events.every((e) => e.kind === 'exec'), 'only the kinds asked for reach onEvent');
      assert.equal(s.counts.fork, 0);
      assert.ok(s.counts.exit > 0, 'exits still feed the cache');
    } finally {
      s.close();
    }
  });
});

describe('ProcessSensor lifecycle', () => {
  kernelTest('start and close leave no descriptor behind', async () => {
    BootClock.measure();
    using cache = new ProcessCache({ sweepIntervalMs: 0 });
    const warm = await ProcessSensor.start({ cache, onEvent: () => {} });
    warm.close();
    const n = openFdCount();
    for (let i = 0; i < 3; i++) {
      const s = await ProcessSensor.start({ cache, onEvent: () => {}, kinds: ['exec', 'exec_failed'] });
      s.close();
      s.close(); // idempotent
    }
    assert.equal(openFdCount(), n);
  });
});
