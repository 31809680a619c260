// The exec sensor end to end: real execve calls observed by bpf/exec.bpf.c,
// decoded by ExecSensor, formatted for Tetragon, and the CLI around it.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ExecSensor, decodeExecRecord, joinLeafFirst, splitNul } from '../src/sensors/exec.js';
import type { ExecEvent } from '../src/sensors/events.js';
import { compactExec, escapeControls, execJson, tetragonArguments, execId } from '../src/output/tetragon.js';
import { rfc3339Nano, BootClock } from '../src/util/clock.js';
import { probeAttach, probeHelper } from '../src/bpf/features.js';
import {
  vigilExecEvent, VIGIL_ARGS_MAX, VIGIL_PATH_DEPTH, VIGIL_PROCESS_EXEC, VIGIL_EXEC_TRUNC_ARGS,
} from '../src/generated/process.js';
import { repoPath } from '../src/util/paths.js';

const ECHO = realpathSync('/bin/echo');
const marker = (what: string): string => `vigil-test-${what}-${randomBytes(4).toString('hex')}`;

/** Why the kernel cannot run the sensor, or undefined. A probe that cannot tell fails. */
async function unsupported(): Promise<string | undefined> {
  for (const r of [await probeAttach('tracepoint'), await probeHelper('bpf_loop')]) {
    if (r.status === 'unsupported') return r.reason;
    if (r.status === 'unknown') throw new Error(`feature probe could not tell: ${r.reason}`);
  }
  return undefined;
}

function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('exec record pieces (no kernel)', () => {
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

  test('a record: header by the generated codec, then binary, args, cwd', () => {
    const blob = Buffer.from('echo\0bin\0usr\0' + '/bin/echo\0a b\0c' + 'x\0tmp\0', 'utf8');
    const binaryLen = 'echo\0bin\0usr\0'.length;
    const argsLen = '/bin/echo\0a b\0c'.length;
    const buf = new DataView(new ArrayBuffer(vigilExecEvent.size + blob.length + 8));
    vigilExecEvent.encode({
      kind: VIGIL_PROCESS_EXEC, flags: VIGIL_EXEC_TRUNC_ARGS, ktime: 2_000n, start_boottime: 1_000n,
      parent_start_boottime: 500n, pid: 10, tid: 11, ppid: 9, uid: 1, gid: 2, euid: 3, egid: 4, auid: 5,
      comm: 'echo', binary_len: binaryLen, args_len: argsLen, cwd_len: blob.length - binaryLen - argsLen, pad: 0,
    }, buf, 8);
    new Uint8Array(buf.buffer, 8 + vigilExecEvent.size).set(blob);
    const r = decodeExecRecord(buf, 8, vigilExecEvent.size + blob.length, BootClock.measure());
    assert.equal(r.process.binary, '/usr/bin/echo');
    assert.deepEqual(r.process.args, ['/bin/echo', 'a b', 'c']);
    assert.equal(r.process.cwd, '/tmp/x');
    assert.equal(r.process.flags.argsTruncated, true);
    assert.equal(r.process.flags.binaryTruncated, false);
    assert.equal(r.ppid, 9);
    assert.equal(r.parentStartBootNs, 500n);
    assert.equal(r.process.execBootNs, 2_000n);
    assert.equal(r.timeNs - r.process.startTimeNs, 1_000n);
    assert.throws(() => decodeExecRecord(buf, 8, vigilExecEvent.size + 3, BootClock.measure()), RangeError);
  });

  test('Tetragon arguments drop argv[0] and quote arguments with spaces', () => {
    assert.equal(tetragonArguments(['/bin/echo', 'a', 'b c']), 'a "b c"');
    assert.equal(tetragonArguments(['/bin/true']), '');
  });

  test('compact lines show control characters escaped', () => {
    assert.equal(escapeControls('a\nb\tc\x1b[31m'), 'a\\nb\\tc\\x1b[31m');
    assert.equal(escapeControls('plain /usr/bin/ls -l'), 'plain /usr/bin/ls -l');
  });

  test('RFC 3339 with nanoseconds', () => {
    assert.equal(rfc3339Nano(1_700_000_000_123_456_789n), '2023-11-14T22:13:20.123456789Z');
    assert.equal(rfc3339Nano(1_700_000_000_000_000_001n), '2023-11-14T22:13:20.000000001Z');
  });

  test('exec_id is base64 of node:ktime:pid', () => {
    assert.equal(Buffer.from(execId('n', 5n, 7), 'base64').toString(), 'n:5:7');
  });
});

describe('ExecSensor (real kernel)', () => {
  let skip: string | undefined;
  let sensor: ExecSensor | undefined;
  const events: ExecEvent[] = [];
  let tmp = '';

  before(async () => {
    skip = await unsupported();
    tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'vigil-exec-')));
    if (skip) return;
    sensor = await ExecSensor.start({ onEvent: (e) => events.push(e) });
  });

  after(() => {
    sensor?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** The exec of `binary` whose argv contains `mark`, waiting (bounded) for the ring to deliver it. */
  async function eventWith(mark: string, binary = ECHO): Promise<ExecEvent> {
    const deadline = Date.now() + 5000;
    for (;;) {
      sensor?.drain();
      const e = events.find((x) => x.process.binary === binary && x.process.args.some((a) => a.includes(mark)));
      if (e) return e;
      if (Date.now() > deadline) assert.fail(`no exec event with ${mark} among ${events.length} events`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  test('echo from a temp dir: binary, argv, cwd, parent, ids', async (t) => {
    if (skip) return t.skip(skip);
    const mark = marker('echo');
    const before = BigInt(Date.now()) * 1_000_000n;
    const r = spawnSync('/bin/echo', [mark, 'a', 'b'], { cwd: tmp });
    const afterNs = BigInt(Date.now()) * 1_000_000n;
    assert.equal(r.status, 0);
    const e = await eventWith(mark);

    assert.equal(e.kind, 'exec');
    assert.equal(e.process.pid, r.pid);
    assert.equal(e.process.tid, r.pid);
    assert.equal(e.process.binary, ECHO);
    assert.deepEqual(e.process.args, ['/bin/echo', mark, 'a', 'b']);
    assert.equal(e.process.cwd, tmp);
    assert.equal(e.process.comm, 'echo');
    assert.equal(e.process.uid, process.getuid!());
    assert.equal(e.process.euid, process.geteuid!());
    assert.equal(e.process.gid, process.getgid!());
    assert.equal(e.parent.pid, process.pid);
    assert.equal(e.parent.binary, realpathSync(process.execPath));
    assert.deepEqual(e.process.flags, {
      binaryTruncated: false, argsTruncated: false, cwdTruncated: false,
      binaryError: false, argsError: false, cwdError: false,
    });
    // Clock conversion: the exec happened while spawnSync ran (1 s of slack for the
    // conversion's own error bound is far above its real error of microseconds).
    assert.ok(e.timeNs >= before - 1_000_000_000n && e.timeNs <= afterNs + 1_000_000_000n,
      `event time ${rfc3339Nano(e.timeNs)} outside [${rfc3339Nano(before)}, ${rfc3339Nano(afterNs)}]`);
    assert.ok(e.process.startTimeNs <= e.timeNs, 'a process starts (forks) before it execs');

    const json = execJson(e, 'node1') as { process_exec: { process: Record<string, unknown>; parent: Record<string, unknown> }; node_name: string; time: string };
    assert.equal(json.process_exec.process.binary, ECHO);
    assert.equal(json.process_exec.process.arguments, `${mark} a b`);
    assert.equal(json.process_exec.process.cwd, tmp);
    assert.equal(json.process_exec.process.pid, r.pid);
    assert.equal(json.process_exec.parent.pid, process.pid);
    assert.equal(json.node_name, 'node1');
    assert.match(json.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.equal(compactExec(e), `🚀 process ${r.pid} ${ECHO} ${mark} a b`);
  });

  test('a parent seen exec\'ing is known from its exec event', async (t) => {
    if (skip) return t.skip(skip);
    const mark = marker('sh');
    // "; true" keeps sh from exec'ing echo in its own place.
    const r = spawnSync('/bin/sh', ['-c', `/bin/echo ${mark}; true`], { cwd: tmp });
    assert.equal(r.status, 0);
    const e = await eventWith(mark);
    assert.equal(e.process.binary, ECHO);
    assert.equal(e.parent.pid, r.pid);
    assert.equal(e.parent.source, 'exec');
    assert.equal(e.parent.binary, realpathSync('/bin/sh'));
    assert.deepEqual(e.parent.process?.args, ['/bin/sh', '-c', `/bin/echo ${mark}; true`]);
    const json = execJson(e, 'n') as { process_exec: { process: { parent_exec_id?: string }; parent: { exec_id?: string } } };
    assert.ok(json.process_exec.parent.exec_id);
    assert.equal(json.process_exec.process.parent_exec_id, json.process_exec.parent.exec_id);
  });

  test('long arguments are truncated and flagged', async (t) => {
    if (skip) return t.skip(skip);
    const mark = marker('long');
    const long = 'x'.repeat(VIGIL_ARGS_MAX + 1000);
    const r = spawnSync('/bin/echo', [mark, long, 'after'], { cwd: tmp, stdio: 'ignore' });
    assert.equal(r.status, 0);
    const e = await eventWith(mark);
    assert.equal(e.process.flags.argsTruncated, true);
    assert.equal(e.process.flags.argsError, false);
    assert.deepEqual(e.process.args.slice(0, 2), ['/bin/echo', mark]);
    assert.equal(e.process.args.length, 3, 'the long argument is cut, "after" is lost');
    const cut = e.process.args[2] ?? '';
    assert.ok(cut.length > 0 && long.startsWith(cut));
    const bytes = e.process.args.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0) - 1;
    assert.equal(bytes, VIGIL_ARGS_MAX, 'exactly VIGIL_ARGS_MAX bytes of argv (the last without its NUL)');
    assert.equal(e.process.binary, ECHO);
    assert.equal(e.process.cwd, tmp);
  });

  test('a binary deep in nested directories has its full path', async (t) => {
    if (skip) return t.skip(skip);
    let dir = tmp;
    for (let i = 0; i < 40; i++) dir = mkdtempSync(path.join(dir, 'nest-'));
    const bin = path.join(dir, 'vigil-deep-echo');
    copyFileSync(ECHO, bin);
    chmodSync(bin, 0o755);
    const mark = marker('deep');
    const r = spawnSync(bin, [mark], { cwd: dir });
    assert.equal(r.status, 0);
    const e = await eventWith(mark, realpathSync(bin));
    assert.equal(e.process.binary, realpathSync(bin));
    assert.equal(e.process.cwd, realpathSync(dir));
    assert.equal(e.process.flags.binaryTruncated, false);
    assert.equal(e.process.flags.cwdTruncated, false);
  });

  test(`a path deeper than ${VIGIL_PATH_DEPTH} steps keeps its leaf side and is flagged`, async (t) => {
    if (skip) return t.skip(skip);
    const parts = Array.from({ length: VIGIL_PATH_DEPTH + 10 }, (_, i) => `d${i}`);
    const dir = path.join(tmp, 'deeper', ...parts);
    mkdirSync(dir, { recursive: true });
    const bin = path.join(dir, 'vigil-deeper-echo');
    copyFileSync(ECHO, bin);
    chmodSync(bin, 0o755);
    const mark = marker('deeper');
    const r = spawnSync(bin, [mark], { cwd: dir });
    assert.equal(r.status, 0);
    const e = await eventWith(mark, `.../${realpathSync(bin).split('/').slice(-VIGIL_PATH_DEPTH).join('/')}`);
    assert.equal(e.process.flags.binaryTruncated, true);
    assert.equal(e.process.flags.cwdTruncated, true);
    assert.ok(e.process.binary.startsWith('.../'), e.process.binary);
    assert.ok(realpathSync(bin).endsWith(e.process.binary.slice(3)), e.process.binary);
    assert.equal(e.process.binary.split('/').length - 1, VIGIL_PATH_DEPTH, 'one component per step');
  });

  test('no record was malformed or lost', (t) => {
    if (skip) return t.skip(skip);
    assert.equal(sensor?.malformed, 0);
    assert.equal(sensor?.lost, 0);
  });
});

describe('ExecSensor lifecycle', () => {
  test('start and close leave no descriptor behind', async (t) => {
    const why = await unsupported();
    if (why) return t.skip(why);
    BootClock.measure();
    const warm = await ExecSensor.start({ onEvent: () => {} });
    warm.close();
    const n = fdCount();
    for (let i = 0; i < 3; i++) {
      const s = await ExecSensor.start({ onEvent: () => {} });
      s.close();
      s.close(); // idempotent
    }
    assert.equal(fdCount(), n);
  });
});

describe('ExecSensor losses', () => {
  test('a full ring loses events and says how many: none is silent', async (t) => {
    const why = await unsupported();
    if (why) return t.skip(why);
    const mark = marker('loss');
    let seen = 0;
    let reported = 0;
    const s = await ExecSensor.start({
      ringBytes: 4096,
      parentPid: process.pid,
      onEvent: (e) => {
        if (e.process.args[1] === mark) seen++;
      },
      onLost: (n) => (reported += n),
    });
    try {
      // spawnSync blocks this event loop, so nothing reads the ring meanwhile.
      const n = 200;
      for (let i = 0; i < n; i++) assert.equal(spawnSync('/bin/true', [mark]).status, 0);
      s.drain();
      assert.ok(reported > 0, `a 4 KiB ring cannot hold ${n} exec records, yet no loss was reported`);
      assert.equal(reported, s.lost);
      // parentPid keeps other processes' execs out: every one of ours is seen or counted.
      assert.equal(seen + reported, n);
    } finally {
      s.close();
    }
  });
});

describe('vigil observe (CLI)', () => {
  test('--sensors exec --output json --duration 3 shows a command run meanwhile', async (t) => {
    const why = await unsupported();
    if (why) return t.skip(why);
    const tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'vigil-cli-')));
    const child = spawn(process.execPath, [repoPath('bin', 'vigil'), 'observe', '--sensors', 'exec', '--output', 'json', '--duration', '3'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        child.stderr.setEncoding('utf8').on('data', (s: string) => {
          stderr += s;
          if (stderr.includes('watching')) resolve();
        });
        child.on('close', () => reject(new Error(`vigil exited before attaching: ${stderr}`)));
      });
      const mark = marker('cli');
      const r = spawnSync('/bin/echo', [mark, 'x y'], { cwd: tmp, stdio: 'ignore' });
      assert.equal(r.status, 0);
      const code = await exited;
      assert.equal(code, 0, stderr);
      const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as {
        process_exec?: { process: { pid: number; binary: string; arguments: string; cwd: string }; parent: { pid: number; binary: string } };
        node_name: string; time: string;
      });
      const hit = lines.find((l) => l.process_exec?.process.arguments.includes(mark));
      assert.ok(hit?.process_exec, `no process_exec for ${mark} in ${lines.length} lines`);
      assert.equal(hit.process_exec.process.binary, ECHO);
      assert.equal(hit.process_exec.process.arguments, `${mark} "x y"`);
      assert.equal(hit.process_exec.process.pid, r.pid);
      assert.equal(hit.process_exec.process.cwd, tmp);
      assert.equal(hit.process_exec.parent.pid, process.pid);
      assert.equal(hit.process_exec.parent.binary, realpathSync(process.execPath));
      assert.equal(hit.node_name, os.hostname());
      assert.doesNotMatch(stderr, /lost/);
    } finally {
      child.kill('SIGKILL');
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('an unknown sensor is a usage error naming the ones that exist', () => {
    const r = spawnSync(process.execPath, [repoPath('bin', 'vigil'), 'observe', '--sensors', 'exec,nope'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown sensor "nope"; available: exec/);
  });

  test('SIGINT stops cleanly with status 0', async (t) => {
    const why = await unsupported();
    if (why) return t.skip(why);
    const child = spawn(process.execPath, [repoPath('bin', 'vigil'), 'observe', '--count', '1000000'],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        if (stderr.includes('watching')) resolve();
      });
      child.on('close', () => reject(new Error(`vigil exited before attaching: ${stderr}`)));
    });
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
  });
});
