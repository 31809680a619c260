// The event pipeline under real consumers: `vigil observe` into a pipe nobody
// reads (memory stays bounded, losses are counted and reported), into
// `| head -1` (ends quietly), onto a full filesystem (ENOSPC counted, no
// crash), and the merge of the process and file rings in kernel time order.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import {
  closeSync, copyFileSync, chmodSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { repoPath } from '../src/util/paths.js';
import { kernelSuite, waitFor, missingFeature } from './helpers.js';

const VIGIL = repoPath('bin', 'vigil');

const unsupported = (): Promise<string | undefined> => missingFeature(['tracepoint', 'raw_tracepoint'], ['bpf_loop']);

/** Resident set of a process, bytes. */
function rss(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1];
  return Number(kb) * 1024;
}

/** Starts `vigil observe args` with the given stdout; resolves once it says it is watching. */
async function startObserve(args: string[], stdout: 'pipe' | number): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, [VIGIL, 'observe', ...args], { stdio: ['ignore', stdout, 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const ok = await waitFor(() => err.includes('watching') || child.exitCode !== null, 20_000, 20);
  if (!ok || child.exitCode !== null) {
    child.kill('SIGKILL');
    throw new Error(`vigil observe did not start: ${err}`);
  }
  return { child, stderr: () => err };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

/** Runs `program` (default /bin/true) n times from one shell (n processes, each a fork and an exec). */
function churn(n: number, program = '/bin/true'): ChildProcess {
  return spawn('/bin/sh', ['-c', `i=0; while [ $i -lt ${n} ]; do ${program}; i=$((i+1)); done`], { stdio: 'ignore' });
}

/** A copy of /bin/true in a directory of its own: `--binary DIR/` then sees the test's processes only, not the host's. */
function ownTrue(): { dir: string; program: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-churn-'));
  const program = path.join(dir, 'true');
  copyFileSync('/bin/true', program);
  chmodSync(program, 0o755);
  return { dir, program };
}

const NO_STACK = /^\s+at |Error:|TypeError|node:internal/m;

describe('event pipeline (real kernel)', () => {
  const suite = kernelSuite(unsupported);

  test('a consumer that stops reading: RSS stays bounded, then a lost record and a stderr line', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const buffer = 1 << 20;
    const own = ownTrue();
    const { child, stderr } = await startObserve(['--output', 'json', '--output-buffer', '1MiB', '--binary', `${own.dir}/`], 'pipe');
    try {
      // Nobody reads: the child's stdout pipe fills (the test's stream stays paused).
      child.stdout!.pause();
      const start = rss(child.pid!);
      let peak = start;
      // Processes until the rings overflow (the reader is paused: the kernel
      // drops and observe reports it while stalled), 2000 at a time, at most 40000.
      const overflowed = (): boolean => /lost \d+ \w+ events \(ring buffer full\)/.test(stderr());
      let made = 0;
      while (!overflowed() && made < 40_000) {
        const load = exited(churn(2000, own.program));
        let done = false;
        void load.then(() => (done = true));
        while (!done) {
          peak = Math.max(peak, rss(child.pid!));
          await new Promise((r) => setTimeout(r, 100));
        }
        made += 2000;
        // The paused reader reports kernel losses on its poll tick, the pipeline once a second.
        await waitFor(overflowed, 1500, 50);
      }
      peak = Math.max(peak, rss(child.pid!));
      assert.ok(overflowed(), `no kernel loss reported after ${made} processes: ${stderr()}`);
      // The bound: the output queue plus what the merge may hold and one
      // bounded drain per ring; unbounded, thousands of processes of JSON
      // (exec, exit and a few opens each, ~4 KiB a line) are hundreds of MiB.
      const bound = buffer + (64 << 20);
      assert.ok(peak - start < bound, `RSS grew ${((peak - start) / 2 ** 20).toFixed(1)} MiB (start ${(start / 2 ** 20).toFixed(0)} MiB)`);

      // Reading resumes: the losses are accounted in-band, in json.
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
      child.stdout!.resume();
      const lostRecord = (): Record<string, any> | undefined => out.split('\n').filter((l) => l.startsWith('{"lost"'))
        .map((l) => JSON.parse(l)).find((r) => r.lost.count > 0);
      assert.ok(await waitFor(() => lostRecord() !== undefined, 30_000, 50), `no lost record; stderr: ${stderr()}`);
      const rec = lostRecord()!;
      assert.ok(['process', 'file'].includes(rec.lost.sensor));
      assert.ok(['ring_full', 'queue_full'].includes(rec.lost.reason));
      assert.ok(await waitFor(() => /vigil observe: (lost \d+ \w+ events \(ring buffer full\)|stdout: dropped \d+ events)/.test(stderr()), 5000),
        stderr());
      child.kill('SIGINT');
      assert.equal(await exited(child), 0);
      assert.match(stderr(), /vigil observe: lost \d+ events$/m);
      assert.doesNotMatch(stderr(), NO_STACK);
    } finally {
      child.kill('SIGKILL');
      rmSync(own.dir, { recursive: true, force: true });
    }
  });

  test('| head -1: one line, then observe ends quietly with status 0', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const sh = spawn('/bin/bash', ['-c',
      `"${process.execPath}" "${VIGIL}" observe --output json | head -1; echo "vigil status \${PIPESTATUS[0]}" >&2`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    sh.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    sh.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    const done = exited(sh);
    let finished = false;
    void done.then(() => (finished = true));
    try {
      assert.ok(await waitFor(() => err.includes('watching'), 20_000), err);
      // Events until observe notices head is gone (its next write fails with EPIPE).
      for (let i = 0; i < 200 && !finished; i++) {
        spawnSync('/bin/true');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(await done, 0);
      assert.equal(out.trimEnd().split('\n').length, 1);
      JSON.parse(out);
      assert.match(err, /vigil status 0/);
      assert.doesNotMatch(err, NO_STACK);
      assert.doesNotMatch(err, /EPIPE/);
    } finally {
      sh.kill('SIGKILL');
    }
  });

  test('a full filesystem (ENOSPC): reported and counted, no crash; lines follow again once there is room', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-enospc-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'vigil-test-enospc', dir]);
    // The test's processes only: the host's would fill the disk again once room is made.
    const own = ownTrue();
    let child: ChildProcess | undefined;
    try {
      const file = path.join(dir, 'events.json');
      const filler = path.join(dir, 'filler');
      // All but 64 KiB taken.
      writeFileSync(filler, Buffer.alloc((1 << 20) - (64 << 10)));
      const fd = openSync(file, 'a');
      let stderr: () => string;
      try {
        ({ child, stderr } = await startObserve(['--output', 'json', '--binary', `${own.dir}/`], fd));
      } finally {
        closeSync(fd);
      }
      const failed = /stdout: dropped \d+ events: .*\(write failed\) \[ENOSPC/;
      for (let i = 0; i < 100 && !failed.test(stderr()); i++) {
        await exited(churn(50, own.program));
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(stderr(), failed);
      assert.equal(child.exitCode, null, 'observe is still running');
      // Room again: the next lines, after a lost record that counts the failed writes.
      unlinkSync(filler);
      const recovered = (): boolean => readFileSync(file, 'utf8').includes('"reason":"write_failed"');
      for (let i = 0; i < 100 && !recovered(); i++) {
        await exited(churn(5, own.program));
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(recovered(), 'a lost record with reason write_failed after space came back');
      child.kill('SIGINT');
      assert.equal(await exited(child), 0);
      assert.match(stderr(), /vigil observe: lost \d+ events$/m);
      assert.doesNotMatch(stderr(), NO_STACK);
      // Whole lines only: a write cut short by the full disk was taken back.
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      for (const l of lines) JSON.parse(l);
      const lost = lines.map((l) => JSON.parse(l)).filter((r) => r.lost?.reason === 'write_failed');
      assert.ok(lost.reduce((a, r) => a + r.lost.count, 0) > 0);
    } finally {
      child?.kill('SIGKILL');
      if (child && child.exitCode === null) await exited(child);
      spawnSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
      rmSync(own.dir, { recursive: true, force: true });
    }
  });

  test('vigil run: a stalled stdout drops for itself, counted; the file output gets every alert', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-run-stall-'));
    const target = path.join(dir, 'watched.txt');
    writeFileSync(target, 'x');
    const rules = path.join(dir, 'rules.yaml');
    writeFileSync(rules, `
- rule: Watched file read
  desc: a test rule
  condition: evt.type in (open, openat, openat2) and fd.name = ${JSON.stringify(target)}
  output: "Watched file opened (file=%fd.name proc=%proc.name pid=%proc.pid ${'padding '.repeat(500)})"
  priority: WARNING
`);
    const file = path.join(dir, 'alerts.json');
    const child = spawn(process.execPath, [VIGIL, 'run', '--rules', rules, '--output', 'json', '--file', file,
      '--pid', String(process.pid)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    try {
      assert.ok(await waitFor(() => err.includes('running'), 20_000), err);
      child.stdout!.pause();
      // ~4 KiB an alert: 5000 are well over the pipe and
      // the 16 MiB queue of stdout; paced (50 every 20 ms), so that the file,
      // written as fast as the disk takes it, never has a queue's worth waiting.
      const n = 5000;
      for (let i = 0; i < n; i++) {
        readFileSync(target);
        if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
      }
      const alertsInFile = (): number => readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('"Watched file read"')).length;
      assert.ok(await waitFor(() => alertsInFile() >= n, 20_000), `${alertsInFile()} of ${n} alerts in the file; ${err}`);
      assert.ok(await waitFor(() => /vigil run: stdout: dropped \d+ events: \d+ rules \(output queue full\)/.test(err), 5000), err);
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stdout!.resume();
      const lost = (): number => out.split('\n').filter((l) => l.includes('"Vigil internal: events dropped"'))
        .map((l) => JSON.parse(l).output_fields).filter((f) => f['vigil.lost.reason'] === 'queue_full')
        .reduce((a, f) => a + f['vigil.lost.count'], 0);
      // Room again on stdout: the next alert comes after the account of what it missed.
      for (let i = 0; i < 50 && lost() === 0; i++) {
        readFileSync(target);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(lost() > 0, 'a lost record on stdout');
      const onStdout = out.split('\n').filter((l) => l.includes('"rule":"Watched file read"')).length;
      assert.ok(onStdout < n, `stdout got ${onStdout} of ${n}: it dropped`);
      child.kill('SIGINT');
      assert.equal(await exited(child), 0);
      assert.equal(alertsInFile() >= n, true);
      assert.doesNotMatch(readFileSync(file, 'utf8'), /Vigil internal: events dropped/, 'the file lost nothing');
      assert.doesNotMatch(err, NO_STACK);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('kernel time order: a process\'s exec, then its file events, then its exit', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-order-'));
    const name = `vo${randomBytes(4).toString('hex')}`;
    const bin = path.join(dir, name);
    copyFileSync('/bin/cat', bin);
    chmodSync(bin, 0o755);
    const runs = 20;
    const { child, stderr } = await startObserve(['--output', 'json', '--comm', name, '--sensors', 'exec,exit,file'], 'pipe');
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    try {
      const pids: number[] = [];
      for (let i = 0; i < runs; i++) {
        const r = spawnSync(bin, ['/etc/hostname', '/etc/passwd'], { stdio: 'ignore' });
        assert.equal(r.status, 0);
        pids.push(r.pid!);
      }
      const exits = (): number => out.split('\n').filter((l) => l.startsWith('{"process_exit"')).length;
      assert.ok(await waitFor(() => exits() >= runs, 10_000), `${exits()} exits of ${runs}; ${stderr()}`);
      child.kill('SIGINT');
      assert.equal(await exited(child), 0);
      const events = out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      for (const pid of pids) {
        const mine = events.filter((e) => (e.process_exec ?? e.process_exit ?? e.file)?.process.pid === pid);
        const kinds = mine.map((e) => Object.keys(e)[0]);
        assert.equal(kinds[0], 'process_exec', `pid ${pid}: ${kinds.join(' ')}`);
        assert.equal(kinds.at(-1), 'process_exit', `pid ${pid}: ${kinds.join(' ')}`);
        assert.ok(kinds.filter((k) => k === 'file').length >= 2, `pid ${pid}: ${kinds.join(' ')}`);
        const paths = mine.filter((e) => e.file).map((e) => e.file.path);
        assert.ok(paths.includes('/etc/hostname') && paths.includes('/etc/passwd'), paths.join(' '));
        const times = mine.map((e) => e.time as string);
        assert.deepEqual(times, [...times].sort(),
          `pid ${pid}: times in order: ${mine.map((e, i) => `${kinds[i]} ${e.file?.path ?? ''} ${times[i]}`).join(', ')}`);
      }
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
