// kill -9 of each long-running command, then a restart. Nothing a killed
// Vigil held may stay enforcing or stand in the way of the next run:
// `netpolicy apply --foreground` ties its policy to the process (bpf_links
// held only by its descriptors, nothing pinned), so after kill -9 the deny it
// enforced is gone, there is nothing pinned to remove, and applying again
// works. The policy's cgroup is one this test creates, holding only its own
// child processes, and the listener it connects to is the test's own.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireRoot, waitFor } from './helpers.js';
import { Child, TestCgroup } from './attach-util.js';
import { requireFeature } from '../src/bpf/features.js';
import { policyPinRoot } from '../src/network/netpolicy.js';
import { repoPath } from '../src/util/paths.js';

const vigil = repoPath('bin', 'vigil');

/** In the cgroup after "go": connect to 127.0.0.1:PORT, print "ok" or the error code. */
const CLIENT = `
const net = require('node:net');
console.log('ready');
process.stdin.once('data', () => {
  const s = net.connect({ host: '127.0.0.1', port: Number(process.argv[1]) });
  s.once('connect', () => { s.end(); console.log('result ok'); process.exit(0); });
  s.once('error', (e) => { console.log('result ' + (e.code || String(e))); process.exit(0); });
});
setTimeout(() => process.exit(3), 10000).unref();
`;

/** Starts vigil and waits until it says it is running (its stderr). */
async function start(args: string[], ready: RegExp): Promise<Child> {
  const c = new Child(process.execPath, [vigil, ...args]);
  const ok = await waitFor(() => ready.test(c.errors) || c.proc.exitCode !== null, 30_000, 20);
  assert.ok(ok && c.proc.exitCode === null, `vigil ${args.join(' ')} did not start: ${c.errors}`);
  return c;
}

/** kill -9, and wait until the process is reaped (not for its pipes: a descendant could hold them). */
async function kill9(c: Child, t: { diagnostic(s: string): void }): Promise<void> {
  assert.ok(c.proc.exitCode === null && c.proc.signalCode === null, 'still running before the kill');
  const exited = once(c.proc, 'exit');
  const t0 = Date.now();
  c.proc.kill('SIGKILL');
  await exited;
  assert.equal(c.proc.signalCode, 'SIGKILL');
  // The kernel releases every program, link and perf event of the process before it is reaped.
  t.diagnostic(`reaped ${Date.now() - t0} ms after SIGKILL`);
}

describe('kill -9, then a restart', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), `vigil-crash-${process.pid}-`));
  const cgroup = new TestCgroup();
  let server: net.Server | undefined;
  let port = 0;
  const children: Child[] = [];

  before(async () => {
    requireRoot();
    cgroup.create();
    server = net.createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as net.AddressInfo).port;
  });

  after(async () => {
    for (const c of children) c.kill();
    server?.close();
    spawnSync(process.execPath, [vigil, 'netpolicy', 'remove', cgroup.path], { stdio: 'ignore' });
    await cgroup.remove();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** A connect from a process in the cgroup: "ok" or the error code. */
  async function connectFromCgroup(): Promise<string> {
    const c = new Child(process.execPath, ['-e', CLIENT, String(port)]);
    children.push(c);
    await c.line(/^ready$/);
    cgroup.add(c.pid);
    c.go();
    const m = await c.line(/^result (\S+)$/);
    await c.exit();
    return m[1]!;
  }

  test('netpolicy apply --foreground: killed, it enforces nothing and leaves nothing; applied again, it works', async (t) => {
    if (!(await requireFeature(t, 'cgroup_sock_addr'))) return;
    const file = path.join(tmp, 'deny.yaml');
    writeFileSync(file, `cgroup: ${cgroup.path}\ndefault: deny\nrules: []\n`);
    const applied = /applied .* while this process runs/;
    assert.equal(await connectFromCgroup(), 'ok', 'no policy yet');

    const first = await start(['netpolicy', 'apply', '--foreground', file, '-o', 'json'], applied);
    children.push(first);
    assert.equal(await connectFromCgroup(), 'EPERM', 'the foreground policy denies');
    // Nothing of it is pinned: the process's descriptors are all that hold it.
    assert.ok(!existsSync(path.join(policyPinRoot(), String(statSync(cgroup.path).ino))), 'no pins');

    await kill9(first, t);
    // The kernel releases the links with the last descriptor; the detach can lag the exit a little.
    let after = '';
    for (let i = 0; i < 50 && (after = await connectFromCgroup()) !== 'ok'; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(after, 'ok', 'after kill -9 no deny is left in place');
    const st = spawnSync(process.execPath, [vigil, 'netpolicy', 'status', '--json'], { encoding: 'utf8' });
    assert.equal(st.status, 0, st.stderr);
    const policies = (JSON.parse(st.stdout) as { policies: { cgroupPath: string }[] }).policies;
    assert.ok(!policies.some((p) => p.cgroupPath === cgroup.path), 'nothing pinned to remove');

    // A restart applies it again, and Ctrl-C removes it.
    const second = await start(['netpolicy', 'apply', '--foreground', file, '-o', 'json'], applied);
    children.push(second);
    assert.equal(await connectFromCgroup(), 'EPERM', 'the restarted policy denies');
    second.proc.kill('SIGINT');
    assert.equal(await second.exit(), 0, second.errors);
    assert.match(second.errors, /removed the policy/);
    assert.equal(await connectFromCgroup(), 'ok');
  });

  test('--foreground refuses to shadow a persistent policy (its Ctrl-C would remove that one)', async (t) => {
    if (!(await requireFeature(t, 'cgroup_sock_addr'))) return;
    const file = path.join(tmp, 'allow.yaml');
    writeFileSync(file, `cgroup: ${cgroup.path}\ndefault: allow\nrules: []\n`);
    const persistent = spawnSync(process.execPath, [vigil, 'netpolicy', 'apply', file], { encoding: 'utf8' });
    assert.equal(persistent.status, 0, persistent.stderr);
    try {
      const r = spawnSync(process.execPath, [vigil, 'netpolicy', 'apply', '--foreground', file], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^vigil netpolicy: .* already has a persistent policy; remove it first/);
    } finally {
      spawnSync(process.execPath, [vigil, 'netpolicy', 'remove', cgroup.path], { stdio: 'ignore' });
    }
  });

  const rules = (): string => {
    const f = path.join(tmp, 'rules.yaml');
    writeFileSync(f, '- rule: never\n  desc: matches nothing\n  condition: evt.type = execve and proc.name = vigil-no-such\n' +
      '  output: "never %proc.name"\n  priority: NOTICE\n');
    return f;
  };
  const LONG_RUNNING: [string, () => string[]][] = [
    ['observe', () => ['observe', '--sensors', 'exec,exit,file', '-o', 'json']],
    // cgroup_skb programs on the cgroup v2 root, held by bpf_links of the process.
    ['observe --sensors flow,dns', () => ['observe', '--sensors', 'flow,dns', '-o', 'json']],
    ['top syscalls', () => ['top', 'syscalls', '-o', 'json']],
    ['top tcp', () => ['top', 'tcp', '-o', 'json']],
    ['profile', () => ['profile']],
    ['run --rules', () => ['run', '--rules', rules()]],
  ];
  for (const [name, argv] of LONG_RUNNING) {
    test(`vigil ${name}: kill -9 while running, then it starts again`, async (t) => {
      const first = await start(argv(), /Ctrl-C to stop/);
      children.push(first);
      await kill9(first, t);
      const again = spawnSync(process.execPath, [vigil, ...argv(), '--duration', '1'],
        { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'ignore', 'pipe'] });
      assert.equal(again.status, 0, `restart of vigil ${name}: ${again.stderr}`);
    });
  }
});
