// Every program in examples/ runs against the real kernel (as a user would
// run it, node dist/examples/NAME.js, importing Vigil through its package
// exports) and prints what it claims.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { repoPath } from '../src/util/paths.js';
import { missingFeature, requireRoot, tracefs, waitFor } from './helpers.js';
import { startFixture, waitExit } from './profile-util.js';

interface Running {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  /** Resolves once stdout matches. */
  waitOut(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** SIGINT (or nothing if it ended), then its exit status. */
  stop(): Promise<number | null>;
}

let tmp: string;
const children: ChildProcessWithoutNullStreams[] = [];

function run(example: string, args: string[]): Running {
  const child = spawn(process.execPath, [repoPath('dist', 'examples', `${example}.js`), ...args], {
    env: { ...process.env, VIGIL_CACHE_DIR: path.join(tmp, 'cache') }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return {
    child,
    out: () => out,
    err: () => err,
    async waitOut(re, ms = 30_000) {
      const ok = await waitFor(() => re.test(out) || child.exitCode !== null, ms, 20);
      const m = re.exec(out);
      assert.ok(ok && m, `${example}: no ${re} in its output within ${ms} ms (exit ${child.exitCode}):\n${out}\n${err}`);
      return m;
    },
    stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      return waitExit(child, 10_000);
    },
  };
}

before(() => {
  requireRoot();
  tracefs();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'vigil-examples-'));
});
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

/** utime + stime of a process in clock ticks (USER_HZ, 100 a second). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After "pid (comm) ": state is the first field, utime the 12th, stime the 13th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

describe('examples/', () => {
  test('syscall-counter: per-process syscall counts every interval', async () => {
    // A process that makes ~20,000 getppid calls a second.
    const busy = spawn(process.execPath, ['-e', 'setInterval(() => { for (let i = 0; i < 1000; i++) process.ppid; }, 50)'],
      { stdio: 'pipe' });
    children.push(busy);
    const r = run('syscall-counter', ['--interval', '0.5', '--count', '2', '--top', '1000']);
    assert.equal(await waitExit(r.child, 60_000), 0, r.err());
    const blocks = r.out().split('\n\n').slice(1);
    assert.equal(blocks.length, 2, r.out());
    for (const b of blocks) {
      assert.match(b, /^\d{4}-\d\d-\d\dT[\d:.]+Z\n +PID COMM +SYSCALLS\n/);
      const row = new RegExp(`^ *${busy.pid} node +(\\d+)$`, 'm').exec(b);
      assert.ok(row, `the busy process ${busy.pid} is listed:\n${b}`);
      assert.ok(Number(row[1]) >= 2_000, `it made ${row[1]} syscalls in half a second`);
    }
    busy.kill('SIGKILL');
  });

  test('exec-logger: a line per exec with pid, parent, command and file', async () => {
    const r = run('exec-logger', []);
    await r.waitOut(/PID +PPID COMM +FILENAME\n/);
    const child = spawnSync('/bin/sh', ['-c', 'echo $$; exec /bin/true'], { encoding: 'utf8' });
    const pid = Number(child.stdout.trim());
    const line = await r.waitOut(new RegExp(`^ *${pid} +\\d+ +true +/bin/true$`, 'm'));
    assert.ok(line);
    assert.match(r.out(), new RegExp(`^ *${pid} +${process.pid} +sh +/bin/sh$`, 'm'), 'the shell itself, child of this test');
    assert.equal(await r.stop(), 0, r.err());
  });

  test('tcp-connect: each outgoing connection with its process and addresses', async () => {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const r = run('tcp-connect', []);
      await r.waitOut(/PID COMM +SADDR +DADDR +DPORT\n/);
      await new Promise<void>((resolve, reject) => net.connect(port, '127.0.0.1', resolve).on('error', reject).unref());
      await r.waitOut(new RegExp(`^ *${process.pid} node +127\\.0\\.0\\.1 +127\\.0\\.0\\.1 +${port}$`, 'm'));
      // IPv6, to a port nobody listens on: the attempt is what is traced.
      const v6 = net.connect(port, '::1').on('error', () => {});
      await r.waitOut(new RegExp(`^ *${process.pid} node +::1 +::1 +${port}$`, 'm'));
      v6.destroy();
      assert.equal(await r.stop(), 0, r.err());
    } finally {
      server.close();
    }
  });

  test('http-latency: a server\'s request latencies in a log2 histogram kept in the kernel', async () => {
    const server = spawn(process.execPath, ['-e', `
      const http = require('node:http');
      const s = http.createServer((q, r) => setTimeout(() => r.end('ok'), Number(new URL(q.url, 'http://x').searchParams.get('ms'))));
      s.listen(0, '127.0.0.1', () => console.log(s.address().port));`], { stdio: 'pipe' });
    children.push(server);
    const port = await new Promise<number>((resolve) => server.stdout.once('data', (d: Buffer) => resolve(Number(d.toString()))));
    const r = run('http-latency', ['--pid', String(server.pid)]);
    await r.waitOut(/tracing HTTP request latency of pid \d+/);
    const agent = new http.Agent({ keepAlive: true });
    for (const ms of [1, 1, 1, 150, 150, 150]) {
      await new Promise<void>((resolve, reject) => http.get({ host: '127.0.0.1', port, path: `/?ms=${ms}`, agent }, (res) => {
        res.resume().on('end', resolve);
      }).on('error', reject));
    }
    agent.destroy();
    assert.equal(await r.stop(), 0, r.err());
    server.kill('SIGKILL');
    assert.match(r.out(), /^6 requests\n +usecs : count +distribution$/m);
    const rows = [...r.out().matchAll(/^ *(\d+) -> (\d+|inf) : +(\d+) +\|\**\s*\|$/gm)].map((m) => ({ low: Number(m[1]), count: Number(m[3]) }));
    // Wide margins: the host may be loaded.
    const slow = rows.filter((x) => x.low >= 131_072).reduce((n, x) => n + x.count, 0);
    const fast = rows.filter((x) => x.low < 65_536).reduce((n, x) => n + x.count, 0);
    assert.equal(slow, 3, `the 150 ms responses take >= 131072 us:\n${r.out()}`);
    assert.equal(fast, 3, `the 1 ms responses take < 65536 us:\n${r.out()}`);
  });

  test('cpu-profiler: the hottest stacks, symbolised', async (t) => {
    const why = await missingFeature(['perf_event']);
    if (why) return t.skip(why);
    const target = await startFixture('cpu', 3);
    children.push(target);
    const r = run('cpu-profiler', ['--pid', String(target.pid), '--duration', '1', '--top', '3']);
    await r.waitOut(/^sampling pid \d+ at 99 Hz for 1 s$/m);
    const before = cpuTicks(target.pid!);
    target.stdin.write('go\n');
    assert.equal(await waitExit(r.child, 30_000), 0, r.err());
    // Samples follow the CPU the target got, which a loaded host shares out: at least half of 99 a CPU-second.
    const expected = ((cpuTicks(target.pid!) - before) / 100) * 99;
    const total = /^(\d+) samples$/m.exec(r.out());
    assert.ok(total && Number(total[1]) >= Math.max(1, expected / 2), `a busy process (${expected.toFixed(0)} samples' worth of CPU) sampled at 99 Hz for 1 s:\n${r.out()}`);
    assert.match(r.out(), new RegExp(`^\\d+ samples  profiletarget \\(pid ${target.pid}\\)\\n    busy_[ab] \\(.*profiletarget\\)\\n    cpu_loop `, 'm'));
    target.kill('SIGKILL');
  });

  test('read-sizes.bpf.c under vigil trace: reads per process and a histogram of their sizes', async () => {
    const file = path.join(tmp, 'five-thousand');
    writeFileSync(file, Buffer.alloc(5000, 1));
    const child = spawn(process.execPath, [repoPath('bin', 'vigil'), 'trace', repoPath('examples', 'read-sizes.bpf.c'), '--duration', '3', '--top', '100000'],
      { env: { ...process.env, VIGIL_CACHE_DIR: path.join(tmp, 'cache') }, stdio: 'pipe' });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    assert.ok(await waitFor(() => /for 3 s\n/.test(err), 30_000), err);
    // Five read(2) calls that return 5000 bytes (head -c reads the file in one go).
    for (let i = 0; i < 5; i++) spawnSync('/bin/sh', ['-c', `head -c 5000 ${file} >/dev/null`]);
    assert.equal(await waitExit(child, 30_000), 0, err);
    assert.match(out, /^reads:\n( +\d+ => \d+\n)+bytes_hist:\n +value : count +distribution\n/);
    const slot = /^ *4096 -> 8191 : +(\d+) /m.exec(out);
    assert.ok(slot && Number(slot[1]) >= 5, `five reads of 5000 bytes:\n${out}`);
  });

  test('shared-map: a long-running process pins a map, another reads it; stopping unpins it', async () => {
    const dir = `/sys/fs/bpf/vigil-test-${process.pid}-shared`;
    try {
      const serve = run('shared-map', ['serve', '--dir', dir]);
      await serve.waitOut(/the counts are pinned at .*exec_counts\n/);
      for (let i = 0; i < 3; i++) spawnSync('/bin/true');
      const read = spawnSync(process.execPath, [repoPath('dist', 'examples', 'shared-map.js'), 'read', '--dir', dir], { encoding: 'utf8' });
      assert.equal(read.status, 0, read.stderr);
      const line = /^true +(\d+)$/m.exec(read.stdout);
      assert.ok(line && Number(line[1]) >= 3, `three runs of true counted:\n${read.stdout}`);
      assert.equal(await serve.stop(), 0, serve.err());
      assert.match(serve.out(), /unpinned .*exec_counts\n/);
      assert.equal(existsSync(dir), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
