// Streams a person can read: an event's process as it was at the event (a
// shell's redirect opened before exec is the shell's), Vigil's own activity
// left out in the kernel unless --include-self, the compact time column
// (--time-format, Hubble's layouts) and colour (--color, NO_COLOR).
// Pure formatting first, then real runs of `vigil observe` and real sensors.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  BootClock, _shiftMeasuredOffsetForTest, followClockSteps, formatTime, parseRfc3339, parseTimeFormat, TIME_FORMATS,
} from '../src/util/clock.js';
import { colorEnabled, parseColorMode } from '../src/output/color.js';
import { TetragonFormatter } from '../src/output/tetragon.js';
import { formatFlowCompact, newFlowRecord } from '../src/network/flow-format.js';
import { parseObserveArgs } from '../src/cli/commands/observe.js';
import { UsageError } from '../src/cli/command.js';
import { execId } from '../src/process/exec-id.js';
import type { ExecEvent, ExitEvent, ProcessInfo } from '../src/sensors/events.js';
import { ensureTracefs } from '../src/bpf/mounts.js';
import { FilterSet, initNamespaceTgid } from '../src/sensors/filter.js';
import { ProcessSensor } from '../src/sensors/process.js';
import { FileSensor } from '../src/sensors/file.js';
import type { FileEvent } from '../src/sensors/events.js';
import { ProcessCache } from '../src/process/cache.js';
import { kernelSuite, waitFor, missingFeature } from './helpers.js';
import { VIGIL, jsonLines, observeRun, type ObserveRun } from './observe-util.js';

const SH = realpathSync('/bin/sh');
const CAT = realpathSync('/bin/cat');
const ESC = '\x1b[';

// 2026-12-06T07:46:05.120034000Z
const T = 1_796_543_165_120_034_000n;

describe('time layouts and colour (no kernel)', () => {
  test('each --time-format as Go formats it for Hubble, in UTC', () => {
    assert.deepEqual(Object.fromEntries(TIME_FORMATS.map((f) => [f, formatTime(T, f)])), {
      StampMilli: 'Dec  6 07:46:05.120',
      RFC3339: '2026-12-06T07:46:05Z',
      RFC3339Milli: '2026-12-06T07:46:05.12Z',
      RFC3339Micro: '2026-12-06T07:46:05.120034Z',
      RFC3339Nano: '2026-12-06T07:46:05.120034Z',
      RFC1123Z: 'Sun, 06 Dec 2026 07:46:05 +0000',
    });
    const whole = 1_796_543_165_000_000_000n;
    assert.equal(formatTime(whole, 'RFC3339Nano'), '2026-12-06T07:46:05Z', 'no fraction: no "."');
    assert.equal(formatTime(whole, 'StampMilli'), 'Dec  6 07:46:05.000', 'StampMilli keeps its zeros');
    assert.equal(formatTime(whole + 7n, 'RFC3339Nano'), '2026-12-06T07:46:05.000000007Z');
    // The last nanosecond of a second, then the next second (the second's text is kept between calls).
    assert.equal(formatTime(whole + 999_999_999n, 'StampMilli'), 'Dec  6 07:46:05.999');
    assert.equal(formatTime(whole + 1_000_000_000n, 'StampMilli'), 'Dec  6 07:46:06.000');
    assert.equal(formatTime(whole + 1_000_000_000n, 'RFC1123Z'), 'Sun, 06 Dec 2026 07:46:06 +0000');
    assert.equal(formatTime(1_797_000_000_000_000_000n, 'StampMilli'), 'Dec 11 14:40:00.000', 'two-digit day');
    assert.equal(parseTimeFormat('rfc3339milli'), 'RFC3339Milli');
    assert.equal(parseTimeFormat('iso'), undefined);
    assert.equal(parseRfc3339('2026-12-06T07:46:05.120034Z'), T);
    assert.equal(parseRfc3339('2026-12-06 07:46:05Z'), undefined);
  });

  test('the boot clock follows a wall-clock step: one offset for every clock, measured again when it moved', () => {
    const a = BootClock.measure();
    const b = BootClock.measure();
    const before = a.offsetNs;
    assert.equal(b.offsetNs, before, 'one measurement shared');
    // As if the wall clock had been stepped by 5 s since the measurement: the next check measures again.
    _shiftMeasuredOffsetForTest(5_000_000_000n);
    assert.equal(a.offsetNs - before, 5_000_000_000n);
    // A check whose two reads were preempted apart tells nothing and is skipped: try a bounded number of times.
    for (let i = 0; i < 100 && a.offsetNs - before > 1_000_000_000n; i++) followClockSteps();
    const error = a.offsetNs - before;
    assert.ok(error < 2_000_000n && error > -2_000_000n, `back to the host's offset (off by ${error} ns)`);
    assert.equal(b.offsetNs, a.offsetNs);
    assert.equal(BootClock.fixed(7n).toEpochNs(1n), 8n);
  });

  test('self is the tgid BPF sees: the host pid namespace\'s, or none when it cannot be known', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'vigil-fakeproc-'));
    try {
      const proc = (name: string, selfNs: string, nspid: string, initNs: string) => {
        const dir = path.join(root, name);
        mkdirSync(path.join(dir, 'self', 'ns'), { recursive: true });
        mkdirSync(path.join(dir, '1', 'ns'), { recursive: true });
        symlinkSync(selfNs, path.join(dir, 'self', 'ns', 'pid'));
        symlinkSync(initNs, path.join(dir, '1', 'ns', 'pid'));
        writeFileSync(path.join(dir, 'self', 'status'), `Name:\tnode\nNSpid:\t${nspid}\n`);
        return dir;
      };
      const HOST_NS = 'pid:[4026531836]';
      const POD_NS = 'pid:[4026532999]';
      assert.equal(initNamespaceTgid(proc('host', HOST_NS, '4242', HOST_NS)), process.pid);
      assert.equal(initNamespaceTgid(proc('hostpid', POD_NS, '5000\t1', HOST_NS)), 5000, 'a container with the host\'s /proc');
      assert.equal(initNamespaceTgid(proc('pod', POD_NS, '1', POD_NS)), 0, 'its own /proc: pid 1 is not the host\'s init');
      assert.equal(initNamespaceTgid(proc('nested', POD_NS, '7\t1', POD_NS)), 0);
      assert.equal(initNamespaceTgid(), process.pid, 'this machine runs the tests in the host namespace');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('--color: always and never as given; auto colours a terminal unless NO_COLOR or TERM=dumb', () => {
    const tty = { isTTY: true };
    const pipe = { isTTY: false };
    assert.equal(colorEnabled('always', pipe, { NO_COLOR: '1' }), true);
    assert.equal(colorEnabled('never', tty, {}), false);
    assert.equal(colorEnabled('auto', tty, {}), true);
    assert.equal(colorEnabled('auto', pipe, {}), false);
    assert.equal(colorEnabled('auto', tty, { NO_COLOR: '1' }), false);
    assert.equal(colorEnabled('auto', tty, { NO_COLOR: '' }), true, 'an empty NO_COLOR does not count');
    assert.equal(colorEnabled('auto', tty, { TERM: 'dumb' }), false);
    assert.equal(parseColorMode('sometimes'), undefined);
  });

  test('observe flags: defaults, values, and one-line errors listing the choices', () => {
    const d = parseObserveArgs([]);
    assert.deepEqual([d.timeFormat, d.color, d.filter.excludeSelf], ['StampMilli', 'auto', true]);
    const o = parseObserveArgs(['--time-format', 'RFC1123Z', '--color', 'never', '--include-self']);
    assert.deepEqual([o.timeFormat, o.color, o.filter.excludeSelf], ['RFC1123Z', 'never', false]);
    assert.throws(() => parseObserveArgs(['--time-format', 'iso']), (e: unknown) => e instanceof UsageError &&
      e.message === '--time-format: unknown layout "iso"; available: StampMilli, RFC3339, RFC3339Milli, RFC3339Micro, ' +
      'RFC3339Nano, RFC1123Z');
    assert.throws(() => parseObserveArgs(['--color', 'yes']),
      (e: unknown) => e instanceof UsageError && e.message === '--color: expected auto, always, never, got "yes"');
  });

  function info(over: Partial<ProcessInfo> = {}): ProcessInfo {
    return {
      execId: execId('n', 2n, 10), pid: 10, tid: 10, ppid: 9, parentExecId: undefined, parentStartBootNs: 1n,
      uid: 0, gid: 0, euid: 0, egid: 0, auid: 0, comm: 'false', binary: '/usr/bin/false', args: ['false', 'a\nb'],
      cwd: '/', tty: undefined, startBootNs: 2n, startTimeNs: T, execBootNs: 2n, caps: undefined, ns: undefined,
      cgroupId: 1n, cgroupPath: undefined, container: 'host', source: 'exec',
      flags: { binaryTruncated: false, argsTruncated: false, cwdTruncated: false, binaryError: false, argsError: false, cwdError: false },
      exit: undefined, replaced: false, ...over,
    };
  }
  const exec: ExecEvent = { kind: 'exec', timeNs: T, timeBootNs: 3n, process: info(), parent: undefined };
  const exit: ExitEvent = {
    kind: 'exit', timeNs: T, timeBootNs: 4n, process: info(), parent: undefined, status: 1, signal: null, signalName: null,
    coreDumped: false,
  };

  test('compact lines: the time column first; colour only when on, after control characters are escaped', () => {
    const plain = new TetragonFormatter('compact', { hostNamespaces: {}, timeFormat: 'RFC3339Milli' });
    assert.equal(plain.line(exec), '2026-12-06T07:46:05.12Z: 🚀 process 10 /usr/bin/false a\\nb');
    assert.equal(plain.line(exit), '2026-12-06T07:46:05.12Z: 💥 exit    10 /usr/bin/false a\\nb 1');
    assert.equal(new TetragonFormatter('compact', { hostNamespaces: {} }).line(exec), '🚀 process 10 /usr/bin/false a\\nb',
      'no time format: tetra\'s line as it is');
    const coloured = new TetragonFormatter('compact', { hostNamespaces: {}, timeFormat: 'StampMilli', color: true });
    const line = coloured.compact(exit);
    assert.ok(line.includes(ESC), JSON.stringify(line));
    assert.ok(line.includes('\x1b[31m1\x1b[39m'), `a failed exit's status in red: ${JSON.stringify(line)}`);
    assert.equal(line.replace(/\x1b\[\d+m/g, ''), 'Dec  6 07:46:05.120: 💥 exit    10 /usr/bin/false a\\nb 1',
      'the same text under the escapes');
  });

  test('flow compact lines take the same time layouts and colours', () => {
    const rec = newFlowRecord({
      timeNs: T, verdict: 'FORWARDED', IP: { source: '10.0.0.1', destination: '10.0.0.2', ipVersion: 'IPv4' },
      l4: { TCP: { source_port: 40000, destination_port: 80 } }, source: {}, destination: {}, node_name: 'n',
      event_kind: 'tcp-connect', traffic_direction: 'EGRESS',
    } as unknown as Parameters<typeof newFlowRecord>[0]);
    const def = formatFlowCompact(rec);
    assert.ok(def.startsWith('Dec  6 07:46:05.120: 10.0.0.1:40000'), def);
    assert.ok(formatFlowCompact(rec, { timeFormat: 'RFC3339Micro' }).startsWith('2026-12-06T07:46:05.120034Z: '));
    assert.ok(!def.includes(ESC));
  });
});

const unsupported = (): Promise<string | undefined> => missingFeature(['tracepoint', 'raw_tracepoint'], ['bpf_loop']);
const observe = observeRun;


describe('streams (real kernel)', () => {
  const s = kernelSuite(unsupported, 'vigil-streams-');

  test('a redirect the shell opened before exec is the shell\'s, not the command\'s it then runs', async (t) => {
    if (s.skip) return t.skip(s.skip);
    const dir = path.join(s.tmp, `redirect-${randomBytes(4).toString('hex')}`);
    spawnSync('mkdir', [dir]);
    const viaExec = path.join(dir, 'exec-cat');
    const viaFork = path.join(dir, 'fork-cat');
    const r = await observe(['--sensors', 'exec,file', '--path-prefix', `${dir}/`, '--output', 'json'], () => {
      // dash: the shell itself opens the file, then becomes cat (same pid).
      assert.equal(spawnSync(SH, ['-c', `exec ${CAT} > ${viaExec}`], { stdio: ['ignore', 'ignore', 'inherit'] }).status, 0);
      // A forked child of the shell opens it, then execs cat; the shell goes on.
      assert.equal(spawnSync(SH, ['-c', `(exec ${CAT} /dev/null > ${viaFork}); true`]).status, 0);
    }, (out) => out.includes(viaExec) && out.includes(viaFork));
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    const open = (p: string) => lines.find((l) => l.file?.path === p)?.file;
    const catExec = (pid: number) => lines.find((l) => l.process_exec?.process.pid === pid &&
      l.process_exec.process.binary === CAT)?.process_exec.process;
    for (const file of [viaExec, viaFork]) {
      const f = open(file);
      assert.ok(f, `${file} opened: ${r.stdout}`);
      assert.equal(f.process.binary, SH, `${file}: the shell opened it`);
      const cat = catExec(f.process.pid);
      assert.ok(cat, `the same process then ran cat: ${r.stdout}`);
      assert.notEqual(f.process.exec_id, cat.exec_id, 'the shell\'s image, not cat\'s');
    }
  });

  test('Vigil\'s own file activity is absent by default and present with --include-self', async (t) => {
    if (s.skip) return t.skip(s.skip);
    const tracefs = ensureTracefs().path;
    assert.ok(tracefs);
    // Vigil reads <tracefs>/events/.../id to attach; its first attached tracepoints see the later reads.
    const control = path.join(s.tmp, `control-${randomBytes(4).toString('hex')}`);
    const args = ['--sensors', 'file', '--path-prefix', `${tracefs}/events/`, '--path-prefix', `${control}`, '--output', 'json'];
    const act = () => writeFileSync(control, 'x');
    const seen = (out: string) => out.includes(control);
    const without = await observe(args, act, seen);
    const withSelf = await observe([...args, '--include-self'], act, seen);
    for (const r of [without, withSelf]) {
      assert.equal(r.code, 0, r.stderr);
      assert.ok(jsonLines(r.stdout).some((l) => l.file?.path === control), `the control open is seen: ${r.stdout}`);
    }
    const own = (r: ObserveRun) => jsonLines(r.stdout).filter((l) => l.file?.process.pid === r.pid).map((l) => l.file.path as string);
    assert.deepEqual(own(without), [], 'no event of Vigil\'s own process');
    assert.ok(own(withSelf).some((p) => p.startsWith(`${tracefs}/events/`)), `its tracefs reads: ${withSelf.stdout}`);
  });

  test('self in the kernel: this process and the helpers it starts are left out, a process started before is not',
    async (t) => {
      if (s.skip) return t.skip(s.skip);
      const dir = path.join(s.tmp, `self-${randomBytes(4).toString('hex')}`);
      spawnSync('mkdir', [dir]);
      // Started before the sensors: they never saw it fork, so it is not marked as a helper.
      const before = spawn(SH, ['-c', `read x; : > ${dir}/before`], { stdio: ['pipe', 'ignore', 'ignore'] });
      const beforeExit = new Promise((resolve) => before.on('close', resolve));
      using filter = new FilterSet({ excludeSelf: true, pathPrefixes: [`${dir}/`] });
      using cache = new ProcessCache();
      const events: FileEvent[] = [];
      const proc = await ProcessSensor.start({ cache, filter, kinds: [], onEvent: () => {} });
      let files: FileSensor | undefined;
      try {
        files = await FileSensor.start({ filter, onEvent: (e) => events.push(e) });
        writeFileSync(path.join(dir, 'self'), 'x');
        // A helper, and the helper's own child.
        assert.equal(spawnSync(SH, ['-c', `: > ${dir}/helper; ${SH} -c ': > ${dir}/grandchild'`]).status, 0);
        before.stdin?.end('go\n');
        await beforeExit;
        const f = files;
        assert.ok(await waitFor(() => {
          f.drain();
          return events.some((e) => e.path === `${dir}/before`);
        }, 10_000, 20), 'the process started before is seen');
      } finally {
        files?.close();
        proc.close();
      }
      assert.deepEqual(events.map((e) => e.path).filter((p) => p.startsWith(dir)), [`${dir}/before`]);
    });

  test('compact: the time column is the event\'s wall-clock time; colour with --color always, not with NO_COLOR or never',
    async (t) => {
      if (s.skip) return t.skip(s.skip);
      const file = path.join(s.tmp, `time-${randomBytes(4).toString('hex')}`);
      const base = ['--sensors', 'file', '--path-prefix', file, '--count', '1'];
      let from = 0n;
      let to = 0n;
      const r = await observe([...base, '--time-format', 'RFC3339Nano', '--color', 'never'], () => {
        from = BigInt(Date.now()) * 1_000_000n;
        writeFileSync(file, 'x');
        to = BigInt(Date.now()) * 1_000_000n;
      });
      assert.equal(r.code, 0, r.stderr);
      const m = /^(\S+): 📬 open {4}(\d+) /.exec(r.stdout);
      assert.ok(m, r.stdout);
      assert.equal(Number(m[2]), process.pid);
      const at = parseRfc3339(m[1] ?? '');
      assert.ok(at !== undefined, m[1]);
      // Date.now() has whole milliseconds: the event lies within the bracket, give or take 2 ms of rounding.
      const slack = 2_000_000n;
      assert.ok(at >= from - slack && at <= to + slack, `${m[1]} between ${formatTime(from, 'RFC3339Nano')} and ` +
        `${formatTime(to, 'RFC3339Nano')}`);

      const run = (more: string[], env: NodeJS.ProcessEnv = {}) => observe([...base, ...more], () => writeFileSync(file, 'y'),
        undefined, env);
      const always = await run(['--color', 'always']);
      assert.ok(always.stdout.includes(ESC), JSON.stringify(always.stdout));
      assert.match(always.stdout.replace(/\x1b\[\d+m/g, ''), /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\.\d{3}: 📬 open/);
      for (const [more, env] of [[['--color', 'never'], {}], [[], { NO_COLOR: '1' }], [['--color', 'auto'], {}]] as const) {
        const plain = await run([...more], env);
        assert.equal(plain.code, 0, plain.stderr);
        assert.match(plain.stdout, /📬 open/);
        assert.ok(!plain.stdout.includes('\x1b'), `${more.join(' ')} ${JSON.stringify(env)}: ${JSON.stringify(plain.stdout)}`);
      }
    });
});
