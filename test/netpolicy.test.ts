// Real-kernel tests of per-cgroup network policy (`vigil netpolicy`): a
// cgroup this test creates holds only its own child processes; the policy
// is applied, checked and removed through the CLI (separate processes: the
// policy persists in bpffs) and its denials read with DenialWatch. Traffic
// goes to loopback listeners the test owns.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { requireRoot, single, waitFor } from './helpers.js';
import { Child, TestCgroup, connectHere, listenTcp } from './attach-util.js';
import { requireFeature } from '../src/bpf/features.js';
import { ensureBpffs } from '../src/bpf/mounts.js';
import { repoPath } from '../src/util/paths.js';
import { DenialWatch, removePolicy, type PolicyStatus } from '../src/network/netpolicy.js';
import type { FlowRecord } from '../src/network/flow-types.js';
import { shapedFlow } from './shaped.js';

/**
 * In the cgroup (TestCgroup.runScript): for each "tcp:host:port" connect and
 * for each "udp:host:port" send one datagram: "ok" or the error code.
 */
const CLIENT = `
const net = require('node:net');
const dgram = require('node:dgram');
function attempt(t) {
  const [proto, ...rest] = t.split(':');
  const hp = rest.join(':');
  const i = hp.lastIndexOf(':');
  const host = hp.slice(0, i), port = Number(hp.slice(i + 1));
  return new Promise((resolve) => {
    if (proto === 'tcp') {
      const s = net.connect({ host, port });
      s.once('connect', () => { s.end(); resolve('ok'); });
      s.once('error', (e) => resolve(e.code || String(e)));
    } else {
      const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      s.send('from the cgroup', port, host, (e) => { s.close(); resolve(e ? (e.code || String(e)) : 'ok'); });
    }
  });
}
`;

function vigil(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [repoPath('bin', 'vigil'), ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function vigilOk(...args: string[]): { stdout: string; stderr: string } {
  const r = vigil(...args);
  assert.equal(r.code, 0, `vigil ${args.join(' ')}: ${r.stderr}`);
  return r;
}

describe('per-cgroup network policy (vigil netpolicy)', () => {
  const cgroup = new TestCgroup();
  const tmp = mkdtempSync(path.join(os.tmpdir(), `vigil-netpolicy-${process.pid}-`));
  const servers: net.Server[] = [];
  const ports = { allowed: 0, denied: 0, denied6: 0 };
  const udp: dgram.Socket[] = [];
  const udpPorts = { allowed: 0, denied: 0 };
  const udpGot: Record<string, number> = {};
  const flows: FlowRecord[] = [];
  let watch: DenialWatch | undefined;
  let policyFile = '';

  const listen = (host: string): Promise<number> => listenTcp(host, servers);

  async function udpListen(name: string): Promise<number> {
    const s = dgram.createSocket('udp4');
    udp.push(s);
    s.on('message', () => { udpGot[name] = (udpGot[name] ?? 0) + 1; });
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    return s.address().port;
  }

  /** Runs the client inside the cgroup; its results by target, and its pid. */
  const fromCgroup = (targets: string[]) => cgroup.runScript(CLIENT, targets);

  /** Writes a policy file: YAML text as it is, or a policy (on the test's cgroup unless it names one) as YAML. */
  function writePolicy(name: string, policy: string | Record<string, unknown>): string {
    const f = path.join(tmp, name);
    writeFileSync(f, typeof policy === 'string' ? policy : YAML.stringify({ cgroup: cgroup.path, ...policy }));
    return f;
  }

  function status(): PolicyStatus {
    return single((JSON.parse(vigilOk('netpolicy', 'status', cgroup.path, '--json').stdout) as { policies: PolicyStatus[] }).policies);
  }

  before(async () => {
    requireRoot();
    ensureBpffs();
    cgroup.create();
    ports.allowed = await listen('127.0.0.1');
    ports.denied = await listen('127.0.0.1');
    ports.denied6 = await listen('::1');
    udpPorts.allowed = await udpListen('allowed');
    udpPorts.denied = await udpListen('denied');
  });

  after(async () => {
    watch?.close();
    try {
      removePolicy(cgroup.path);
    } catch { /* already removed */ }
    for (const s of servers) s.close();
    for (const s of udp) s.close();
    await cgroup.remove();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('apply: denied connects and sends fail with EPERM in the cgroup only, and are DENIED flows with the pid',
    async (t) => {
      if (!(await requireFeature(t, 'cgroup_sock_addr'))) return;
      policyFile = writePolicy('deny.yaml', {
        default: 'allow',
        rules: [
          { action: 'deny', cidr: '127.0.0.1', ports: [ports.denied], protocol: 'tcp', direction: 'egress' },
          { action: 'deny', cidr: '::1/128', ports: ports.denied6 },
          { action: 'deny', protocol: 'udp', ports: [udpPorts.denied], direction: 'egress' },
        ],
      });
      const applied = vigilOk('netpolicy', 'apply', policyFile);
      assert.match(applied.stderr, new RegExp(`applied .*deny\\.yaml on ${cgroup.path} \\(cgroup id ${statSync(cgroup.path).ino}\\)`));
      watch = new DenialWatch({ onFlow: (f) => { shapedFlow(f); flows.push(f); }, rescanMs: 100 });
      assert.ok(watch.watching.includes(String(statSync(cgroup.path).ino)));

      const { pid, results } = await fromCgroup([
        `tcp:127.0.0.1:${ports.denied}`, `tcp:127.0.0.1:${ports.allowed}`, `tcp:::1:${ports.denied6}`,
        `udp:127.0.0.1:${udpPorts.denied}`, `udp:127.0.0.1:${udpPorts.allowed}`,
      ]);
      assert.deepEqual(results, {
        [`tcp:127.0.0.1:${ports.denied}`]: 'EPERM',
        [`tcp:127.0.0.1:${ports.allowed}`]: 'ok',
        [`tcp:::1:${ports.denied6}`]: 'EPERM',
        [`udp:127.0.0.1:${udpPorts.denied}`]: 'EPERM',
        [`udp:127.0.0.1:${udpPorts.allowed}`]: 'ok',
      });
      assert.ok(await waitFor(() => (udpGot.allowed ?? 0) >= 1, 5000), 'allowed datagram did not arrive');
      assert.equal(udpGot.denied ?? 0, 0);

      // Outside the cgroup, the same destinations are reachable.
      assert.equal(await connectHere('127.0.0.1', ports.denied), 'ok');
      assert.equal(await connectHere('::1', ports.denied6), 'ok');

      assert.ok(await waitFor(() => { watch!.drain(); return flows.length >= 3; }, 5000), `flows: ${JSON.stringify(flows)}`);
      assert.equal(flows.length, 3, JSON.stringify(flows));
      for (const f of flows) {
        assert.equal(f.verdict, 'DENIED');
        assert.equal(f.drop_reason_desc, 'POLICY_DENIED');
        assert.equal(f.traffic_direction, 'EGRESS');
        assert.equal(f.event_kind, 'policy');
        assert.equal(f.source.process?.pid, pid);
        assert.equal(f.source.process?.comm, 'node');
        assert.equal(f.cgroup_id, statSync(cgroup.path).ino);
        assert.match(f.policy ?? '', new RegExp(`^netpolicy:${cgroup.path} `));
      }
      const [tcp4, tcp6, udp4] = flows;
      assert.deepEqual(tcp4!.IP, { source: tcp4!.IP.source, destination: '127.0.0.1', ipVersion: 'IPv4' });
      assert.equal(tcp4!.l4.TCP?.destination_port, ports.denied);
      assert.match(tcp4!.policy!, /connect4 rule 0$/);
      assert.equal(tcp6!.IP.destination, '::1');
      assert.equal(tcp6!.IP.ipVersion, 'IPv6');
      assert.equal(tcp6!.l4.TCP?.destination_port, ports.denied6);
      assert.match(tcp6!.policy!, /connect6 rule 1$/);
      assert.equal(udp4!.l4.UDP?.destination_port, udpPorts.denied);
      assert.match(udp4!.policy!, /sendmsg4 rule 2$/);

      const s = status();
      assert.equal(s.default, 'allow');
      assert.equal(s.attached, true);
      assert.deepEqual(s.rules.map((r) => r.hits), [1, 1, 1]);
      const hook = (name: string): { allowed: number; denied: number } => s.counters.find((c) => c.hook === name)!;
      assert.equal(hook('connect4').denied, 1);
      assert.equal(hook('connect4').allowed, 1);
      assert.equal(hook('connect6').denied, 1);
      assert.equal(hook('sendmsg4').denied, 1);
      assert.equal(hook('sendmsg4').allowed, 1);
    });

  // cgroup_skb runs for sockets by the cgroup they were created in: the server makes them after joining.
  test('ingress: datagrams to a denied local port are dropped, as DENIED flows naming the socket\'s creator',
    async (t) => {
      if (!(await requireFeature(t, 'cgroup_skb'))) return;
    const script = `
const dgram = require('node:dgram');
process.stdin.once('data', () => {
  const a = dgram.createSocket('udp4'), b = dgram.createSocket('udp4');
  let gotA = 0;
  a.on('message', () => gotA++);
  b.on('message', () => { require('node:fs').writeSync(1, JSON.stringify({ gotA }) + '\\n'); process.exit(0); });
  a.bind(0, '127.0.0.1', () => b.bind(0, '127.0.0.1', () => console.log('ports ' + a.address().port + ' ' + b.address().port)));
});
console.log('ready');
setTimeout(() => process.exit(3), 10000).unref();
`;
    const server = new Child(process.execPath, ['-e', script]);
    try {
      await server.line(/^ready$/);
      cgroup.add(server.pid);
      server.go(); // sockets are created now, inside the cgroup
      const m = await server.line(/^ports (\d+) (\d+)$/);
      const [denied, allowed] = [Number(m[1]), Number(m[2])];
      // Re-applied to the same cgroup: the rules are replaced in place.
      const f = writePolicy('ingress.yaml', {
        default: 'allow', rules: [{ action: 'deny', direction: 'ingress', protocol: 'udp', ports: denied }],
      });
      assert.match(vigilOk('netpolicy', 'apply', f).stderr, /updated/);
      const before = flows.length;
      const tx = dgram.createSocket('udp4');
      try {
        await new Promise<void>((res, rej) => tx.send('deny me', denied, '127.0.0.1', (e) => (e ? rej(e) : res())));
        await new Promise<void>((res, rej) => tx.send('let me in', allowed, '127.0.0.1', (e) => (e ? rej(e) : res())));
      } finally {
        tx.close();
      }
      assert.deepEqual(JSON.parse((await server.line(/^\{.*\}$/))[0]), { gotA: 0 });
      assert.ok(await waitFor(() => { watch!.drain(); return flows.length > before; }, 5000), 'no ingress denial');
      const fl = flows[before]!;
      assert.equal(fl.traffic_direction, 'INGRESS');
      assert.equal(fl.destination.process?.pid, server.pid);
      assert.equal(fl.destination.process?.comm, 'node');
      assert.equal(fl.l4.UDP?.destination_port, denied);
      assert.equal(fl.IP.destination, '127.0.0.1');
      assert.match(fl.policy!, /ingress rule 0$/);
      assert.ok(fl.traffic && fl.traffic.bytes_received > 0);
      assert.equal(status().counters.find((c) => c.hook === 'ingress')?.denied, 1);
    } finally {
      server.kill();
    }
  });

  test('re-applying a policy replaces its rules: what was denied connects', async () => {
    const f = writePolicy('open.yaml', { default: 'allow' });
    assert.match(vigilOk('netpolicy', 'apply', f).stderr, /updated/);
    const { results } = await fromCgroup([`tcp:127.0.0.1:${ports.denied}`]);
    assert.deepEqual(results, { [`tcp:127.0.0.1:${ports.denied}`]: 'ok' });
    assert.deepEqual(status().rules, []);
  });

  test('default deny: only what a rule allows gets out', async () => {
    const f = writePolicy('strict.yaml', {
      default: 'deny', rules: [{ action: 'allow', cidr: '127.0.0.0/8', ports: [ports.allowed], protocol: 'tcp' }],
    });
    vigilOk('netpolicy', 'apply', f);
    // The CLI's stream this time: a separate process reading the pinned ring buffer. A BPF ring buffer has
    // one consumer position, so the in-process watch stops first (records wait in the ring until read).
    watch?.close();
    watch = undefined;
    const { pid, results } = await fromCgroup([`tcp:127.0.0.1:${ports.allowed}`, `tcp:127.0.0.1:${ports.denied}`,
      `udp:127.0.0.1:${udpPorts.allowed}`]);
    assert.deepEqual(results, {
      [`tcp:127.0.0.1:${ports.allowed}`]: 'ok',
      [`tcp:127.0.0.1:${ports.denied}`]: 'EPERM',
      [`udp:127.0.0.1:${udpPorts.allowed}`]: 'EPERM',
    });
    const watcher = new Child(process.execPath, [repoPath('bin', 'vigil'), 'netpolicy', 'watch', cgroup.path, '-o', 'json',
      '--count', '2']);
    try {
      const lines = [(await watcher.line(/^\{"flow".*$/))[0], (await watcher.line(/^\{"flow".*$/))[0]];
      assert.equal(await watcher.exit(), 0, watcher.errors);
      const env = lines.map((l) => JSON.parse(l) as { flow: FlowRecord; node_name: string; time: string });
      assert.deepEqual(env.map((e) => [e.flow.verdict, e.flow.source.process?.pid, e.flow.l4.TCP ? 'tcp' : 'udp']),
        [['DENIED', pid, 'tcp'], ['DENIED', pid, 'udp']]);
      assert.ok(env.every((e) => /default$/.test(e.flow.policy ?? '')), lines.join('\n'));
      assert.equal(env[0]!.time, env[0]!.flow.time);
    } finally {
      watcher.kill();
    }
  });

  test('policy file errors name file:line:col and the field', () => {
    const f = writePolicy('bad.yaml', `cgroup: ${cgroup.path}\ndefault: deny\nrules:\n  - action: allow\n    port: 80\n`);
    const r = vigil('netpolicy', 'apply', f);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `vigil netpolicy: ${f}:5:5: rules[0].port: unknown field (expected one of: action, ` +
      'cidr, ports, protocol, direction)');
    const missing = writePolicy('nocg.yaml', { cgroup: 'vigil-no-such-cgroup-here', default: 'deny' });
    const r2 = vigil('netpolicy', 'apply', missing);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /does not exist/);
  });

  test('remove detaches and unpins', async () => {
    const dir = path.join(ensureBpffs().path!, 'vigil', 'netpolicy', String(statSync(cgroup.path).ino));
    assert.ok(existsSync(dir));
    assert.match(vigilOk('netpolicy', 'remove', cgroup.path).stdout, /removed/);
    assert.ok(!existsSync(dir), 'pins left behind');
    assert.equal(vigil('netpolicy', 'status', cgroup.path).code, 1);
    assert.equal(vigil('netpolicy', 'remove', cgroup.path).code, 1);
    // The programs are gone from the cgroup: what default deny refused connects.
    assert.ok(await waitFor(() => {
      const r = spawnSync('bpftool', ['cgroup', 'show', cgroup.path], { encoding: 'utf8' });
      return r.stdout.trim() === '';
    }, 5000), 'programs still attached to the cgroup');
    const { results } = await fromCgroup([`tcp:127.0.0.1:${ports.denied}`, `udp:127.0.0.1:${udpPorts.allowed}`]);
    assert.deepEqual(results, { [`tcp:127.0.0.1:${ports.denied}`]: 'ok', [`udp:127.0.0.1:${udpPorts.allowed}`]: 'ok' });
  });
});
