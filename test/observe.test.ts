// `vigil observe` as a user runs it: flags, in-kernel filters, each output
// format, usage errors. Real kernel, real processes.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, rmdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseObserveArgs } from '../src/cli/commands/observe.js';
import { UsageError } from '../src/cli/command.js';
import { kernelSuite, missingFeature, withDockerCgroup } from './helpers.js';
import { VIGIL, jsonLines, observeRun } from './observe-util.js';

const ECHO = realpathSync('/bin/echo');
const SH = realpathSync('/bin/sh');
const marker = (what: string): string => `vigil-test-${what}-${randomBytes(4).toString('hex')}`;

const unsupported = (): Promise<string | undefined> => missingFeature(['tracepoint', 'raw_tracepoint'], ['bpf_loop']);
const observe = observeRun;


describe('vigil observe flags (no kernel)', () => {
  test('defaults and accumulated filter values', () => {
    const o = parseObserveArgs([]);
    assert.deepEqual(o.sensors, ['exec', 'exit', 'file']);
    assert.equal(o.format, 'compact');
    assert.deepEqual([o.processCred, o.processNs], [false, false], 'as Tetragon\'s defaults');
    const c = parseObserveArgs(['--process-cred', '--process-ns', '-o', 'json']);
    assert.deepEqual([c.processCred, c.processNs], [true, true]);
    const p = parseObserveArgs(['--pid', '1', '--pid', '20', '--follow-children', '--uid', '0', '--uid', '1000',
      '--comm', 'bash', '--comm', 'sh', '--binary', '/usr/bin/', '--binary', '/tmp/', '--path-prefix', '/etc/',
      '--container', 'host', '--sensors', 'exec,fork,file', '--output', 'table', '--count', '5', '--duration', '1.5',
      '--ancestors']);
    assert.deepEqual(p.filter, {
      pids: [1, 20], followChildren: true, uids: [0, 1000], comms: ['bash', 'sh'], binaryPrefixes: ['/usr/bin/', '/tmp/'],
      pathPrefixes: ['/etc/'], excludeSelf: true, countDropped: false,
    });
    assert.deepEqual([p.sensors, p.format, p.count, p.duration, p.ancestors, p.container],
      [['exec', 'fork', 'file'], 'table', 5, 1.5, true, 'host']);
  });

  for (const [argv, message] of [
    [['--pid', 'abc'], /--pid: expected an integer >= 1, got "abc"/],
    [['--pid', '0'], /--pid: expected an integer >= 1/],
    [['--uid=-1'], /--uid: expected an integer, got "-1"/],
    [['--uid', '-1'], /--uid: expected an integer, got "-1"/],
    [['--uid', '1.5'], /--uid: expected an integer/],
    [['--comm', 'a-name-longer-than-15'], /--comm: "a-name-longer-than-15" must be 1 to 15 bytes/],
    [['--binary', 'usr/bin'], /--binary: expected an absolute path/],
    [['--path-prefix', 'etc'], /--path-prefix: expected an absolute path/],
    [['--path-prefix', '/etc', '--sensors', 'exec'], /--path-prefix: filters file events; add file to --sensors/],
    [['--follow-children'], /--follow-children: needs --pid/],
    [['--sensors', 'exec,syscall'], /unknown sensor "syscall"; available: exec, exit, fork, file, flow, dns, http, redis, pgsql, mysql, grpc, kafka .*\(syscall counts are `vigil top syscalls`\)/],
    [['--sensors', ''], /--sensors: empty list/],
    [['--output', 'xml'], /--output: unknown format "xml"; available: compact, json, table/],
    [['--count', '0'], /--count: expected a positive integer, got "0"/],
    [['--count', '2.5'], /--count: expected a positive integer/],
    [['--duration=-1'], /--duration: expected a positive number, got "-1"/],
    [['--container', 'not-hex'], /--container: expected a container id \(hex digits\) or "host"/],
    [['--container', 'abc', '--container', 'def'], /--container: give one container id/],
    [['--bogus'], /unknown option --bogus; valid options: --sensors, -o, --output, /],
    [['extra'], /unexpected argument "extra"/],
    [['--fields', 'process.pid'], /--fields: masks JSON lines; use it with --output json, tetragon, jsonpb, hubble \(not compact\)/],
    [['--fields', 'process..pid', '-o', 'json'], /--fields: "process..pid": an empty name/],
    [['--fields', 'Process', '-o', 'json'], /--fields: "Process": "Process" is not a field name/],
  ] as [string[], RegExp][]) {
    test(`${argv.join(' ')}: usage error`, () => {
      assert.throws(() => parseObserveArgs(argv), (e: unknown) => e instanceof UsageError && message.test(e.message));
    });
  }

  test('a malformed flag exits 2 with the message, before loading anything', () => {
    const r = spawnSync(process.execPath, [VIGIL, 'observe', '--pid', 'abc'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--pid: expected an integer >= 1, got "abc"/);
    const r2 = spawnSync(process.execPath, [VIGIL, 'observe', '--sensors', 'exec,nope'], { encoding: 'utf8' });
    assert.equal(r2.status, 2);
    assert.match(r2.stderr, /unknown sensor "nope"; available: exec, exit, fork, file/);
  });
});

describe('vigil observe (real kernel)', () => {
  const s = kernelSuite(unsupported, 'vigil-observe-');

  function copyBinary(name: string): string {
    const to = path.join(s.tmp, name);
    copyFileSync(ECHO, to);
    chmodSync(to, 0o755);
    return realpathSync(to);
  }

  test('--comm, json: the program\'s exec and exit and nothing else', async (t) => {
    if (s.skip) return t.skip(s.skip);
    const comm = `vgl${randomBytes(4).toString('hex')}`;
    const bin = copyBinary(comm);
    const mark = marker('json');
    const r = await observe(['--sensors', 'exec,exit,fork', '--comm', comm, '--output', 'json', '--count', '2', '--process-cred', '--process-ns'], () => {
      assert.equal(spawnSync('/bin/true').status, 0);
      assert.equal(spawnSync(bin, [mark, 'x y'], { cwd: s.tmp, stdio: 'ignore' }).status, 0);
    });
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    assert.deepEqual(lines.map((l) => Object.keys(l)[0]), ['process_exec', 'process_exit']);
    const [exec, exit] = lines;
    const p = exec?.process_exec.process;
    assert.equal(p.binary, bin);
    assert.equal(p.arguments, `${mark} "x y"`);
    assert.equal(p.cwd, s.tmp);
    assert.equal(p.uid, process.getuid!());
    assert.equal(p.flags, 'execve');
    assert.equal(p.container_id, 'host');
    assert.ok(p.exec_id && p.start_time && p.cap && p.ns && p.process_credentials, 'exec_id, start_time, cap, ns, process_credentials');
    assert.equal(exec?.process_exec.parent.pid, process.pid);
    assert.equal(exec?.process_exec.parent.binary, realpathSync(process.execPath));
    assert.equal(exec?.process_exec.parent.exec_id, p.parent_exec_id);
    assert.equal(exec?.node_name, os.hostname());
    assert.equal(exit?.process_exit.process.exec_id, p.exec_id);
    assert.equal(exit?.process_exit.status, 0);
    assert.equal(exit?.process_exit.signal, null);
    assert.doesNotMatch(r.stderr, /lost/);
  });

  test('--pid --follow-children, compact: a tree that began before vigil', async (t) => {
    if (s.skip) return t.skip(s.skip);
    const mark = marker('compact');
    const script = `read x; /bin/echo ${mark}; exit 4`;
    const sh = spawn('/bin/sh', ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'] });
    const shExit = new Promise((resolve) => sh.on('close', resolve));
    const r = await observe(['--sensors', 'exec,exit,fork', '--pid', String(sh.pid), '--follow-children', '--count', '4'],
      async () => {
        assert.equal(spawnSync('/bin/echo', ['outside']).status, 0);
        sh.stdin?.end('go\n');
        await shExit;
      });
    assert.equal(r.code, 0, r.stderr);
    // Each line begins with its time (StampMilli, the default --time-format); not a terminal: no colour.
    const stamped = r.stdout.split('\n').filter(Boolean);
    for (const l of stamped) assert.match(l, /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\.\d{3}: [^\x1b]+$/);
    const lines = stamped.map((l) => l.slice(l.indexOf(': ') + 2));
    const child = /^🔀 fork {4}(\d+) /.exec(lines[0] ?? '')?.[1];
    assert.ok(child, r.stdout);
    assert.deepEqual(lines, [
      `🔀 fork    ${child} ${SH} (parent ${sh.pid})`,
      `🚀 process ${child} ${ECHO} ${mark}`,
      `💥 exit    ${child} ${ECHO} ${mark} 0`,
      `💥 exit    ${sh.pid} ${SH} -c "${script}" 4`,
    ]);
  });

  test('--binary prefix, table: a header and aligned rows; --ancestors in json', async (t) => {
    if (s.skip) return t.skip(s.skip);
    const bin = copyBinary('vigil-table-echo');
    const mark = marker('table');
    const r = await observe(['--sensors', 'exec,exit', '--binary', `${s.tmp}/`, '--output', 'table', '--count', '2'], () => {
      assert.equal(spawnSync('/bin/sh', ['-c', `${bin} ${mark}; true`], { stdio: 'ignore' }).status, 0);
    });
    assert.equal(r.code, 0, r.stderr);
    const [header, ...rows] = r.stdout.split('\n').filter(Boolean);
    assert.match(header ?? '', /^TIME +EVENT +PID +PPID +UID +CONTAINER +DETAIL$/);
    assert.equal(rows.length, 2);
    for (const row of rows) {
      for (const col of ['EVENT', 'PID', 'PPID', 'UID', 'CONTAINER', 'DETAIL']) {
        const at = header?.indexOf(col) ?? -1;
        assert.equal(row[at - 1], ' ', `${col} column in ${row}`);
        assert.notEqual(row[at], ' ', `${col} column in ${row}`);
      }
    }
    assert.match(rows[0] ?? '', new RegExp(`exec +\\d+ +\\d+ +0 +host +${bin} ${mark}$`));
    assert.match(rows[1] ?? '', new RegExp(`exit +\\d+ +\\d+ +0 +host +${bin} status=0$`));

    // The parent's own events are filtered out: vigil reads it from /proc, so
    // it waits (on stdin) until vigil is done.
    const sh = spawn('/bin/sh', ['-c', `read go; ${bin} ${mark} >/dev/null; read done`], { stdio: ['pipe', 'ignore', 'ignore'] });
    const a = await observe(['--sensors', 'exec', '--binary', `${s.tmp}/`, '--output', 'json', '--count', '1', '--ancestors'],
      () => {
        sh.stdin?.write('go\n');
      });
    sh.stdin?.end('done\n');
    assert.equal(a.code, 0, a.stderr);
    const e = jsonLines(a.stdout)[0]?.process_exec;
    assert.equal(e?.parent.binary, SH);
    assert.equal(e?.ancestors[0].pid, process.pid, 'ancestors begin beyond the parent');
    assert.equal(e?.ancestors[0].exec_id, e?.parent.parent_exec_id);
  });

  test('--container ID: a process in a docker-named cgroup; the same id is its container_id', async (t) => {
    if (s.skip) return t.skip(s.skip);
    await withDockerCgroup(t, async ({ id, dir }) => {
      const bin = copyBinary('vigil-ctr-echo');
      const mark = marker('ctr');
      const r = await observe(['--sensors', 'exec,exit', '--container', id.slice(0, 12), '--output', 'json', '--count', '2'],
        () => {
          assert.equal(spawnSync(bin, ['outside']).status, 0);
          assert.equal(spawnSync('/bin/sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec ${bin} ${mark}`]).status, 0);
        });
      assert.equal(r.code, 0, r.stderr);
      const lines = jsonLines(r.stdout);
      assert.deepEqual(lines.map((l) => Object.keys(l)[0]), ['process_exec', 'process_exit']);
      const p = lines[0]?.process_exec.process;
      assert.equal(p.binary, bin);
      assert.equal(p.arguments, mark);
      assert.equal(p.container_id, id);
      assert.equal(p.docker, id);
    });
    const bad = spawnSync(process.execPath, [VIGIL, 'observe', '--container', 'fedcba9876'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--container: no cgroup of a container fedcba9876/);
  });

  test('--container host: a container started after observe is left out, as one running before it', async (t) => {
    if (s.skip) return t.skip(s.skip);
    await withDockerCgroup(t, async ({ id, dir, make }) => {
      const bin = copyBinary('vigil-host-echo');
      const inside = marker('in-container');
      const outside = marker('on-host');
      // The kernel's filter holds the containers' cgroups of observe's start; this one is made after.
      const r = await observe(['--sensors', 'exec', '--container', 'host', '--binary', `${s.tmp}/`, '--output', 'json',
        '--count', '1'], () => {
        make();
        assert.equal(spawnSync('/bin/sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec ${bin} ${inside}`]).status, 0);
        assert.equal(spawnSync(bin, [outside]).status, 0);
      });
      assert.equal(r.code, 0, r.stderr);
      const execs = jsonLines(r.stdout).map((l) => l.process_exec?.process);
      assert.deepEqual(execs.map((p) => [p?.arguments, p?.container_id]), [[outside, 'host']],
        `the exec in container ${id.slice(0, 12)} is not a host process`);
    }, { later: true });
  });

  test('--sensors file --path-prefix: file events with their process', async (t) => {
    if (s.skip) return t.skip(s.skip);
    const target = path.join(s.tmp, `file-${randomBytes(4).toString('hex')}`);
    const r = await observe(['--sensors', 'file', '--path-prefix', `${s.tmp}/`, '--output', 'json', '--count', '1'], () => {
      assert.equal(spawnSync('/bin/sh', ['-c', `echo hi > ${target}`]).status, 0);
    });
    assert.equal(r.code, 0, r.stderr);
    const f = jsonLines(r.stdout)[0]?.file;
    assert.equal(f?.op, 'open');
    assert.equal(f?.path, target);
    assert.ok(f?.flags.includes('O_CREAT'), JSON.stringify(f?.flags));
    assert.ok(f?.ret >= 0);
    assert.equal(f?.process.binary, SH);
    assert.equal(f?.parent.pid, process.pid);
    for (const k of ['process_credentials', 'cap', 'ns']) {
      assert.ok(!(k in f.process) && !(k in f.parent), `${k} only with --process-cred/--process-ns, as Tetragon's defaults`);
    }
  });

  test('--fields: only the fields asked for (and node_name, time), in json and in strict Tetragon JSON', async (t) => {
    if (s.skip) return t.skip(s.skip);
    for (const [output, key] of [['json', 'file'], ['tetragon', 'process_kprobe']] as const) {
      const target = path.join(s.tmp, `masked-${randomBytes(4).toString('hex')}`);
      const fields = output === 'json' ? 'process.pid,process.binary,path,op' : 'process.pid,function_name,args';
      const r = await observe(['--sensors', 'file', '--path-prefix', `${s.tmp}/`, '--output', output, '--fields', fields, '--count', '1'], () => {
        assert.equal(spawnSync('/bin/sh', ['-c', `echo hi > ${target}`]).status, 0);
      });
      assert.equal(r.code, 0, r.stderr);
      const line = r.stdout.split('\n')[0]!;
      const e = JSON.parse(line) as Record<string, Record<string, unknown>>;
      assert.deepEqual(Object.keys(e).sort(), [key, 'node_name', 'time'].sort(), line);
      const body = e[key]!;
      assert.deepEqual(Object.keys(body.process as object).sort(), ['binary', 'pid'].filter((k) => output === 'json' || k === 'pid'));
      assert.equal((body.process as { pid: number }).pid > 0, true);
      if (output === 'json') {
        assert.deepEqual(Object.keys(body).sort(), ['op', 'path', 'process']);
        assert.equal(body.path, target);
        assert.equal(body.op, 'open');
        assert.equal((body.process as { binary: string }).binary, SH);
      } else {
        assert.deepEqual(Object.keys(body).sort(), ['args', 'function_name', 'process']);
        assert.match(String(body.function_name), /open/);
      }
      // A consumer that wants a few fields gets a line of a few hundred bytes, not kilobytes.
      assert.ok(Buffer.byteLength(line) <= 512, `${Buffer.byteLength(line)} bytes: ${line}`);
    }
  });

  test('no --sensors: exec, exit and file; SIGINT stops cleanly with status 0', async (t) => {
    if (s.skip) return t.skip(s.skip);
    const child = spawn(process.execPath, [VIGIL, 'observe', '--comm', 'no-such-comm'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        if (stderr.includes('watching')) resolve();
      });
      child.on('close', () => reject(new Error(`vigil exited before attaching: ${stderr}`)));
    });
    assert.match(stderr, /watching exec, exit, file/);
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
  });
  test('--sensors exec,exit,flow: process events and a loopback connection in one stream, in kernel time order', async (t) => {
    if (s.skip) return t.skip(s.skip);
    const noFlow = await missingFeature(['tp_btf']);
    if (noFlow) return t.skip(noFlow);
    const srv = net.createServer((c) => c.resume());
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as net.AddressInfo).port;
    const mark = marker('mixed');
    // Waits for "go", runs echo, connects (bash's /dev/tcp) and closes, runs echo again.
    const script = `read x; /bin/echo ${mark}-1; exec 3<>/dev/tcp/127.0.0.1/${port}; exec 3>&-; /bin/echo ${mark}-2`;
    const sh = spawn('/bin/bash', ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'] });
    const shExit = new Promise((resolve) => sh.on('close', resolve));
    try {
      const r = await observe(['--sensors', 'exec,exit,flow', '--pid', String(sh.pid), '--follow-children', '-o', 'json',
        '--duration', '3'], async () => {
        sh.stdin?.end('go\n');
        await shExit;
      });
      assert.equal(r.code, 0, r.stderr);
      const lines = jsonLines(r.stdout);
      // One stream: its lines are in time order, whichever ring they came from.
      const times = lines.map((l) => String(l.time));
      assert.deepEqual([...times].sort(), times, 'lines in time order');
      const what = lines.map((l) => (l.process_exec ? `exec ${l.process_exec.process.arguments}`
        : l.process_exit ? `exit ${l.process_exit.process.pid}` : l.flow ? `flow ${l.flow.event_kind}` : String(Object.keys(l)[0])));
      const at = (w: string): number => what.findIndex((x) => x.startsWith(w));
      const first = at(`exec ${mark}-1`);
      const connect = at('flow tcp-connect');
      const second = at(`exec ${mark}-2`);
      assert.ok(first >= 0 && connect >= 0 && second >= 0, what.join('\n'));
      assert.ok(first < connect && connect < second, `exec, connect, exec in order:\n${what.join('\n')}`);
      const flow = lines[connect]?.flow;
      assert.equal(flow?.l4?.TCP?.destination_port, port);
      assert.equal(flow?.source?.process?.pid, sh.pid, 'the connection is the shell\'s');
    } finally {
      sh.kill('SIGKILL');
      srv.close();
    }
  });
});

