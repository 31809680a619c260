// Network flows on the real kernel (bpf/flow.bpf.c through FlowPipeline and
// `vigil observe --sensors flow,dns`). Traffic stays on loopback and on a veth
// pair into a network namespace this test creates; peers are child processes
// the test starts, so each flow's process is known. Everything is removed in
// the after hooks, also when a test fails.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { existsSync, mkdirSync, realpathSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { FlowPipeline } from '../src/network/flow-pipeline.js';
import type { FlowRecord } from '../src/network/flow-types.js';
import { encodeDnsMessage, parseDnsMessage } from '../src/network/dns.js';
import { FilterSet } from '../src/sensors/filter.js';
import { cgroup2 } from '../src/bpf/index.js';
import { containerCgroupIds } from '../src/process/container.js';
import { ProcessCache } from '../src/process/cache.js';
import { repoPath } from '../src/util/paths.js';
import { freePort } from '../src/util/net.js';
import { openFdCount, requireRoot, tracefs } from './helpers.js';
import { Child, VethPair, sleep } from './attach-util.js';
import { shapedFlow } from './shaped.js';

/** argv: host, bytes to read before answering, bytes to answer. Prints "port N"; serves until stdin closes. */
const SERVER = `
const net = require('node:net');
const [host, n, m] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const srv = net.createServer((c) => {
  let got = 0, answered = false;
  c.on('data', (d) => {
    got += d.length;
    if (got >= n && !answered) { answered = true; c.end(Buffer.alloc(m, 0x62)); }
  });
  c.on('error', () => {});
});
srv.listen(0, host, () => console.log('port ' + srv.address().port));
process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
setTimeout(() => process.exit(3), 60000).unref();
`;

/** argv: host, port, bytes to send; waits for "go" when argv[4] is "wait". Prints "local P" and "got N". */
const CLIENT = `
const net = require('node:net');
// Written synchronously: process.exit() right after an asynchronous write to a pipe may drop it.
const say = (s) => require('node:fs').writeSync(1, s + '\\n');
const [host, port, n, wait] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
function run() {
  const c = net.connect({ host, port }, () => { say('local ' + c.localPort); c.write(Buffer.alloc(n, 0x61)); });
  let got = 0;
  c.on('data', (d) => { got += d.length; });
  c.on('end', () => c.end());
  c.on('error', (e) => { say('error ' + e.code); process.exit(0); });
  c.on('close', () => { say('got ' + got); process.exit(0); });
}
if (wait === 'wait') { say('ready'); process.stdin.once('data', run); } else run();
setTimeout(() => process.exit(3), 20000).unref();
`;

/** argv: dns server host, port, query hex, tcp host, tcp port. Asks, prints "answer", then connects and sends 10 bytes. */
const DNS_CLIENT = `
const dgram = require('node:dgram'), net = require('node:net');
const say = (s) => require('node:fs').writeSync(1, s + '\\n');
const [dnsHost, dnsPort, hex, tcpHost, tcpPort] = process.argv.slice(1);
const s = dgram.createSocket(dnsHost.includes(':') ? 'udp6' : 'udp4');
s.on('message', () => {
  say('answer');
  s.close();
  if (!tcpHost) return process.exit(0);
  const c = net.connect({ host: tcpHost, port: Number(tcpPort) }, () => c.end(Buffer.alloc(10)));
  c.on('data', () => {});
  c.on('close', () => { say('tcp done'); process.exit(0); });
  c.on('error', (e) => { say('error ' + e.code); process.exit(0); });
});
s.send(Buffer.from(hex, 'hex'), Number(dnsPort), dnsHost);
setTimeout(() => process.exit(3), 20000).unref();
`;

/** argv: host, port, count, size. Sends count datagrams of size bytes, then exits. */
const UDP_SENDER = `
const dgram = require('node:dgram');
const [host, port, count, size] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
let sent = 0;
const next = () => {
  if (sent === count) { console.log('sent ' + sent); s.close(); return; }
  s.send(Buffer.alloc(size, 0x63), port, host, () => { sent++; next(); });
};
next();
setTimeout(() => process.exit(3), 20000).unref();
`;

/** A DNS responder for one name, in this process or in the namespace: argv port, host, name, address. */
const RESOLVER = `
const dgram = require('node:dgram');
const [host, port, name, addr] = process.argv.slice(1);
const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
${respond.toString()}
s.on('message', (m, r) => { const a = respond(m, name, addr); if (a) s.send(a, r.port, r.address); });
s.bind(Number(port), host, () => console.log('listening'));
process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
setTimeout(() => process.exit(3), 60000).unref();
`;

/**
 * The answer to a DNS query (plain JS, also run in the namespace): one A
 * record for `name` with TTL 60, NXDOMAIN for any other name, nothing for what
 * does not parse. The question is copied; the answer's name is a pointer to it.
 */
function respond(q: Uint8Array, name: string, addr: string): Uint8Array | undefined {
  if (q.length < 17) return undefined;
  let o = 12;
  const labels: string[] = [];
  while (o < q.length && (q[o] ?? 0) !== 0) {
    const len = q[o] ?? 0;
    labels.push(String.fromCharCode(...q.subarray(o + 1, o + 1 + len)));
    o += 1 + len;
  }
  const end = o + 5;
  if (end > q.length) return undefined;
  const hit = labels.join('.').toLowerCase() === name;
  const head = [q[0] ?? 0, q[1] ?? 0, 0x81, hit ? 0x80 : 0x83, 0, 1, 0, hit ? 1 : 0, 0, 0, 0, 0];
  const question = [...q.subarray(12, end)];
  const rr = hit ? [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...addr.split('.').map(Number)] : [];
  return Uint8Array.from([...head, ...question, ...rr]);
}

const NODE = realpathSync(process.execPath);

describe('network flows (real kernel)', () => {
  const flows: FlowRecord[] = [];
  let pipeline: FlowPipeline | undefined;
  let cache: ProcessCache | undefined;
  const children: Child[] = [];
  const sockets: dgram.Socket[] = [];
  let resolverPort = 0;
  const veth = new VethPair();
  let fdsBefore = 0;
  const cgroupDirs: string[] = [];

  function child(script: string, args: string[]): Child {
    const c = new Child(process.execPath, ['-e', script, ...args]);
    children.push(c);
    return c;
  }

  /** Drains p until one of the flows in mine is a TCP close (at most 5 s). */
  async function drainUntilClose(p: { drain(): unknown }, mine: readonly FlowRecord[]): Promise<void> {
    const end = Date.now() + 5000;
    while (!mine.some((r) => r.event_kind === 'tcp-close') && Date.now() < end) {
      p.drain();
      await sleep(20);
    }
  }

  /** Waits (bounded) for a flow matching pred, reading the kernel meanwhile. */
  async function waitFlow(pred: (r: FlowRecord) => boolean, what: string, timeoutMs = 10_000): Promise<FlowRecord> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      pipeline?.drain();
      const f = flows.find(pred);
      if (f) return f;
      if (Date.now() > end) {
        const near = flows.slice(-8).map((r) => `${r.event_kind} ${r.IP.source}:${(r.l4.TCP ?? r.l4.UDP)?.source_port} -> ` +
          `${r.IP.destination}:${(r.l4.TCP ?? r.l4.UDP)?.destination_port} pid ${r.source.process?.pid ?? r.destination.process?.pid}`);
        throw new Error(`no flow: ${what}; last flows:\n  ${near.join('\n  ')}`);
      }
      await sleep(20);
    }
  }

  async function server(host: string, n: number, m: number): Promise<{ c: Child; port: number }> {
    const c = child(SERVER, [host, String(n), String(m)]);
    const port = Number((await c.line(/^port (\d+)$/))[1]);
    return { c, port };
  }

  before(async () => {
    requireRoot();
    tracefs();
    fdsBefore = openFdCount();
    const resolver = dgram.createSocket('udp4');
    sockets.push(resolver);
    resolver.on('message', (m, r) => {
      const a = respond(m, 'flowtest.vigil.example', '127.0.0.77');
      if (a) resolver.send(a, r.port, r.address);
    });
    resolver.bind(0, '127.0.0.1');
    await once(resolver, 'listening');
    resolverPort = resolver.address().port;
    cache = new ProcessCache();
    pipeline = await FlowPipeline.start({ cache, onFlow: (r) => { shapedFlow(r); flows.push(r); }, dnsPorts: [53, resolverPort],
      udpWindowMs: 3_600_000 });
  });

  after(async () => {
    for (const c of children) c.kill();
    for (const s of sockets) {
      try {
        s.close();
      } catch { /* closed */ }
    }
    pipeline?.close();
    cache?.close();
    veth.remove();
    await sleep(50);
    for (const d of cgroupDirs) {
      for (let i = 0; existsSync(d); i++) {
        try {
          rmdirSync(d);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || i > 100) throw e;
          await sleep(20);
        }
      }
    }
    assert.ok(openFdCount() <= fdsBefore + 2, `descriptors: ${fdsBefore} before, ${openFdCount()} after`);
  });

  for (const host of ['127.0.0.1', '::1']) {
    test(`a TCP exchange of known sizes over ${host}: one flow per side with addresses, ports, bytes, direction, process`, async () => {
      const N = 12_345;
      const M = 54_321;
      const srv = await server(host, N, M);
      const cl = child(CLIENT, [host, String(srv.port), String(N)]);
      const local = Number((await cl.line(/^local (\d+)$/))[1]);
      await cl.line(new RegExp(`^got ${M}$`));
      const ours = (r: FlowRecord) => r.l4.TCP?.source_port === local && r.l4.TCP?.destination_port === srv.port;
      const clientClose = await waitFlow((r) => ours(r) && r.event_kind === 'tcp-close' && r.source.process?.pid === cl.pid,
        'client close');
      const serverClose = await waitFlow((r) => ours(r) && r.event_kind === 'tcp-close' && r.destination.process?.pid === srv.c.pid,
        'server close');
      const version = host.includes(':') ? 'IPv6' : 'IPv4';
      for (const r of [clientClose, serverClose]) {
        assert.equal(r.IP.source, host);
        assert.equal(r.IP.destination, host);
        assert.equal(r.IP.ipVersion, version);
        assert.equal(r.verdict, 'FORWARDED');
        assert.equal(r.is_reply, false);
        assert.ok((r.duration_ns ?? 0) > 0);
        assert.ok((r.tcp_info?.srtt_us ?? 0) > 0);
      }
      // The client's view: it opened, sent N, received M.
      assert.equal(clientClose.traffic_direction, 'EGRESS');
      assert.equal(clientClose.traffic?.bytes_sent, N);
      assert.equal(clientClose.traffic?.bytes_received, M);
      assert.equal(clientClose.source.process?.binary, NODE);
      const info = cache?.get(cl.pid);
      assert.ok(info && clientClose.source.process?.exec_id === info.execId && info.execId !== '');
      // The server's view: accepted, sent M, received N.
      assert.equal(serverClose.traffic_direction, 'INGRESS');
      assert.equal(serverClose.traffic?.bytes_sent, M);
      assert.equal(serverClose.traffic?.bytes_received, N);
      assert.equal(serverClose.destination.process?.exec_id, cache?.get(srv.c.pid)?.execId);
      assert.ok((serverClose.traffic?.packets_received ?? 0) >= 2 && (clientClose.traffic?.packets_sent ?? 0) >= 2);
      // One close per side; the opens too.
      assert.equal(flows.filter((r) => ours(r) && r.event_kind === 'tcp-close').length, 2);
      const connect = await waitFlow((r) => ours(r) && r.event_kind === 'tcp-connect', 'connect');
      const accept = await waitFlow((r) => ours(r) && r.event_kind === 'tcp-accept', 'accept');
      assert.equal(connect.source.process?.pid, cl.pid);
      assert.equal(accept.destination.process?.pid, srv.c.pid);
      assert.equal(connect.flow_id, clientClose.flow_id);
      assert.equal(accept.flow_id, serverClose.flow_id);
      srv.c.proc.stdin.end();
    });
  }

  test('a refused connect is a failed flow with its reason', async () => {
    const port = await freePort(); // nothing listens there: the connect is refused
    const cl = child(CLIENT, ['127.0.0.1', String(port), '1']);
    await cl.line(/^error ECONNREFUSED$/);
    const r = await waitFlow((f) => f.event_kind === 'tcp-failed' && f.l4.TCP?.destination_port === port, 'failed connect');
    assert.equal(r.verdict, 'DROPPED');
    assert.equal(r.drop_reason_desc, 'CONNECTION_REFUSED');
    assert.equal(r.source.process?.pid, cl.pid);
    assert.equal(r.traffic_direction, 'EGRESS');
    assert.equal(r.tcp_info?.state, 'CLOSE');
    assert.ok((r.l4.TCP?.source_port ?? 0) > 0);
  });

  test('a connect that times out is a failed flow (SYNs lost on a veth, in a namespace with one SYN retry)', async () => {
    veth.create();
    const run = (args: string[]) => execFileSync('ip', ['netns', 'exec', veth.ns, ...args], { stdio: 'ignore' });
    // Only inside the test's namespace: one SYN retry (~3 s), and a next hop whose MAC nobody has.
    run(['sysctl', '-q', '-w', 'net.ipv4.tcp_syn_retries=1']);
    run(['ip', 'route', 'add', '192.0.2.0/24', 'dev', veth.peer]);
    run(['ip', 'neigh', 'add', '192.0.2.1', 'lladdr', '02:00:00:00:00:01', 'dev', veth.peer, 'nud', 'permanent']);
    const cl = veth.nodeInNs(CLIENT, ['192.0.2.1', '80', '1']);
    children.push(cl);
    await cl.line(/^error ETIMEDOUT$/, 15_000);
    const r = await waitFlow((f) => f.event_kind === 'tcp-failed' && f.source.process?.pid === cl.pid, 'timed out');
    assert.equal(r.verdict, 'DROPPED');
    assert.equal(r.drop_reason_desc, 'CONNECTION_TIMED_OUT');
    assert.equal(r.IP.destination, '192.0.2.1');
    assert.equal(r.l4.TCP?.destination_port, 80);
    assert.ok((r.duration_ns ?? 0) >= 1e9, 'at least the first retransmission');
    veth.remove();
  });

  test('a DNS query and its answer with latency; a later TCP flow to the answer carries the name', async () => {
    const srv = await server('127.0.0.77', 10, 0);
    const query = encodeDnsMessage({ id: 0x4242, questions: [{ name: 'flowtest.vigil.example', type: 'A' }] });
    const cl = child(DNS_CLIENT, ['127.0.0.1', String(resolverPort), Buffer.from(query).toString('hex'), '127.0.0.77',
      String(srv.port)]);
    await cl.line(/^answer$/);
    await cl.line(/^tcp done$/);
    const q = await waitFlow((r) => r.event_kind === 'dns-query' && r.source.process?.pid === cl.pid, 'query');
    assert.equal(q.l7?.type, 'REQUEST');
    assert.equal(q.l7?.dns?.query, 'flowtest.vigil.example.');
    assert.deepEqual(q.l7?.dns?.qtypes, ['A']);
    assert.equal(q.IP.destination, '127.0.0.1');
    assert.equal(q.l4.UDP?.destination_port, resolverPort);
    const a = await waitFlow((r) => r.event_kind === 'dns-answer' && r.destination.process?.pid === cl.pid, 'answer');
    assert.equal(a.is_reply, true);
    assert.equal(a.l7?.type, 'RESPONSE');
    assert.deepEqual(a.l7?.dns?.ips, ['127.0.0.77']);
    assert.equal(a.l7?.dns?.rcode, 0);
    assert.equal(a.l7?.dns?.ttl, 60);
    assert.ok((a.l7?.latency_ns ?? 0) > 0, 'latency');
    assert.equal(a.flow_id, q.flow_id);
    const tcp = await waitFlow((r) => r.event_kind === 'tcp-close' && r.source.process?.pid === cl.pid &&
      r.IP.destination === '127.0.0.77', 'tcp to the answer');
    assert.deepEqual(tcp.destination_names, ['flowtest.vigil.example']);
    srv.c.proc.stdin.end();
  });

  test('DNS on port 53 across a veth into a namespace, default port set', async () => {
    veth.create();
    const resolver = veth.nodeInNs(RESOLVER, [veth.nsAddr, '53', 'ns.vigil.example', '192.0.2.53']);
    children.push(resolver);
    await resolver.line(/^listening$/);
    const query = encodeDnsMessage({ id: 7, questions: [{ name: 'ns.vigil.example', type: 'A' }] });
    const cl = child(DNS_CLIENT, [veth.nsAddr, '53', Buffer.from(query).toString('hex')]);
    await cl.line(/^answer$/);
    const a = await waitFlow((r) => r.event_kind === 'dns-answer' && r.destination.process?.pid === cl.pid, 'answer');
    assert.equal(a.IP.source, veth.nsAddr);
    assert.equal(a.IP.destination, veth.hostAddr);
    assert.deepEqual(a.l7?.dns?.ips, ['192.0.2.53']);
    assert.ok((a.l7?.latency_ns ?? 0) > 0);
    // An unknown name: NXDOMAIN, no addresses.
    const nx = encodeDnsMessage({ id: 8, questions: [{ name: 'nope.vigil.example', type: 'AAAA' }] });
    const cl2 = child(DNS_CLIENT, [veth.nsAddr, '53', Buffer.from(nx).toString('hex')]);
    await cl2.line(/^answer$/);
    const a2 = await waitFlow((r) => r.event_kind === 'dns-answer' && r.destination.process?.pid === cl2.pid, 'NXDOMAIN');
    assert.equal(a2.l7?.dns?.rcode, 3);
    assert.deepEqual(a2.l7?.dns?.ips, []);
    assert.deepEqual(a2.l7?.dns?.qtypes, ['AAAA']);
    resolver.proc.stdin.end();
  });

  for (const host of ['127.0.0.1', '::1']) {
    test(`UDP conversations over ${host} are counted per socket and peer over a window`, async () => {
      const sink = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      sockets.push(sink);
      let received = 0;
      sink.on('message', () => { received++; });
      sink.bind(0, host);
      await once(sink, 'listening');
      const port = sink.address().port;
      const K = 7;
      const S = 333;
      const cl = child(UDP_SENDER, [host, String(port), String(K), String(S)]);
      await cl.line(new RegExp(`^sent ${K}$`));
      await cl.exit();
      const end = Date.now() + 5000;
      while (received < K && Date.now() < end) await sleep(10);
      assert.equal(received, K);
      pipeline?.flushUdp();
      const sent = flows.filter((r) => r.event_kind === 'udp' && r.source.process?.pid === cl.pid &&
        r.l4.UDP?.destination_port === port);
      assert.equal(sent.reduce((a, r) => a + (r.traffic?.packets_sent ?? 0), 0), K);
      assert.equal(sent.reduce((a, r) => a + (r.traffic?.bytes_sent ?? 0), 0), K * S);
      assert.equal(sent[0]?.traffic_direction, 'EGRESS');
      const got = flows.filter((r) => r.event_kind === 'udp' && r.destination.process?.pid === process.pid &&
        r.l4.UDP?.destination_port === port);
      assert.equal(got.reduce((a, r) => a + (r.traffic?.packets_received ?? 0), 0), K);
      assert.equal(got.reduce((a, r) => a + (r.traffic?.bytes_received ?? 0), 0), K * S);
      assert.equal(got[0]?.traffic_direction, 'INGRESS');
      assert.equal(got[0]?.IP.ipVersion, host.includes(':') ? 'IPv6' : 'IPv4');
      assert.equal(got[0]?.IP.destination, host);
    });
  }

  test('--pid in the kernel: only the chosen process\'s flows leave it', async () => {
    const srv = await server('127.0.0.1', 5, 5);
    const a = child(CLIENT, ['127.0.0.1', String(srv.port), '5', 'wait']);
    const b = child(CLIENT, ['127.0.0.1', String(srv.port), '5', 'wait']);
    await a.line(/^ready$/);
    await b.line(/^ready$/);
    const mine: FlowRecord[] = [];
    using filter = new FilterSet({ pids: [a.pid] });
    {
      using p = await FlowPipeline.start({ filter, onFlow: (r) => mine.push(r), udp: false, dns: false, processSensor: false });
      a.go();
      b.go();
      await a.line(/^got 5$/);
      await b.line(/^got 5$/);
      await drainUntilClose(p, mine);
      await sleep(100);
      p.drain();
    }
    assert.ok(mine.some((r) => r.event_kind === 'tcp-close' && r.source.process?.pid === a.pid));
    const pids = new Set(mine.map((r) => r.source.process?.pid ?? r.destination.process?.pid));
    assert.deepEqual([...pids], [a.pid], 'nothing of b nor of the server');
    assert.ok(flows.some((r) => r.event_kind === 'tcp-close' && r.source.process?.pid === b.pid), 'the unfiltered pipeline saw b');
    srv.c.proc.stdin.end();
  });

  test('a process in a container: flows carry the container; --container in the kernel keeps only its flows', async () => {
    const root = cgroup2().path;
    assert.ok(root, 'cgroup v2');
    const id = `${process.pid.toString(16).padStart(8, '0')}${'c0ffee'.repeat(10)}`.slice(0, 64);
    const base = path.join(root, `vigil-flowtest-${process.pid}`);
    const scope = path.join(base, `docker-${id}.scope`);
    cgroupDirs.push(scope, base);
    mkdirSync(scope, { recursive: true });
    const srv = await server('127.0.0.1', 4, 4);
    // The shell moves into the container's cgroup, then execs the client there (an exec the cache sees).
    const inside = new Child('sh', ['-c', 'echo ready; read x; exec "$0" -e "$1" "$2" "$3" "$4"', process.execPath, CLIENT,
      '127.0.0.1', String(srv.port), '4']);
    children.push(inside);
    const outside = child(CLIENT, ['127.0.0.1', String(srv.port), '4', 'wait']);
    await inside.line(/^ready$/);
    await outside.line(/^ready$/);
    writeFileSync(path.join(scope, 'cgroup.procs'), `${inside.pid}\n`);
    const mine: FlowRecord[] = [];
    using filter = new FilterSet({ cgroupIds: containerCgroupIds(id.slice(0, 12)) });
    {
      using p = await FlowPipeline.start({ filter, onFlow: (r) => mine.push(r), udp: false, dns: false });
      inside.go();
      outside.go();
      await inside.line(/^got 4$/);
      await outside.line(/^got 4$/);
      await drainUntilClose(p, mine);
    }
    const close = mine.find((r) => r.event_kind === 'tcp-close');
    assert.ok(close, 'the container\'s close');
    assert.equal(close.source.process?.pid, inside.pid);
    assert.deepEqual(close.source.container, { id, runtime: 'docker' });
    assert.ok(mine.every((r) => (r.source.process ?? r.destination.process)?.pid === inside.pid), 'only the container');
    const unfiltered = await waitFlow((r) => r.event_kind === 'tcp-close' && r.source.process?.pid === outside.pid, 'outside');
    assert.equal(unfiltered.source.container, undefined, 'a host process has no container');
    srv.c.proc.stdin.end();
  });

  /** Runs vigil observe with args around the traffic, then SIGINT; the flows it printed. */
  async function observe(args: string[], traffic: () => Promise<void>): Promise<FlowRecord[]> {
    const cli = new Child(process.execPath, [repoPath('bin', 'vigil'), 'observe', '--sensors', 'flow',
      '-o', 'json', '--duration', '30', ...args]);
    children.push(cli);
    const end = Date.now() + 30_000;
    while (!cli.errors.includes('watching') && Date.now() < end) {
      if (cli.proc.exitCode !== null) throw new Error(`vigil observe exited: ${cli.errors}`);
      await sleep(20);
    }
    assert.ok(cli.errors.includes('watching'), cli.errors);
    await traffic();
    await sleep(300);
    cli.proc.kill('SIGINT');
    const lines: string[] = [];
    assert.equal(await cli.exit(), 0, cli.errors);
    // Child collects complete lines; take them all.
    for (;;) {
      try {
        lines.push((await cli.line(/^\{.*$/, 0))[0]);
      } catch {
        break;
      }
    }
    return lines.map((l) => (JSON.parse(l) as { flow: FlowRecord }).flow);
  }

  test('vigil observe --sensors flow: Hubble filters, --not, in-kernel --pid', async () => {
    const srv = await server('127.0.0.1', 3, 3);
    const closedPort = await freePort();
    const run = async (): Promise<{ ok: Child; refused: Child }> => {
      const ok = child(CLIENT, ['127.0.0.1', String(srv.port), '3']);
      await ok.line(/^got 3$/);
      const refused = child(CLIENT, ['127.0.0.1', String(closedPort), '3']);
      await refused.line(/^error ECONNREFUSED$/);
      return { ok, refused };
    };

    // --port: only flows on the server's port.
    let r: { ok: Child; refused: Child } | undefined;
    let out = await observe(['--ip', '127.0.0.0/8', '--port', String(srv.port)], async () => { r = await run(); });
    assert.ok(out.length >= 2, `flows: ${out.length}`);
    for (const f of out) assert.ok(f.l4.TCP?.source_port === srv.port || f.l4.TCP?.destination_port === srv.port);
    assert.ok(out.some((f) => f.event_kind === 'tcp-close' && f.source.process?.pid === r?.ok.pid));

    // --not --verdict FORWARDED --to-port: only the refused connect.
    out = await observe(['--to-port', String(closedPort), '--to-port', String(srv.port), '--not', '--verdict', 'FORWARDED'],
      async () => { r = await run(); });
    assert.ok(out.length >= 1);
    for (const f of out) assert.equal(f.verdict, 'DROPPED');
    assert.ok(out.some((f) => f.source.process?.pid === r?.refused.pid && f.drop_reason_desc === 'CONNECTION_REFUSED'));

    // --pid (kernel) with --not --port: the chosen client's flows minus the refused port.
    const waiting = child(CLIENT, ['127.0.0.1', String(srv.port), '3', 'wait']);
    await waiting.line(/^ready$/);
    out = await observe(['--pid', String(waiting.pid), '--not', '--port', String(closedPort)], async () => {
      waiting.go();
      await waiting.line(/^got 3$/);
      await run();
    });
    assert.ok(out.some((f) => f.event_kind === 'tcp-close'));
    for (const f of out) assert.equal(f.source.process?.pid, waiting.pid);
    srv.c.proc.stdin.end();
  });

  test('the DNS answer is parsed the same by the test responder', () => {
    // Guards the test's own responder: its answer parses and names the address.
    const q = encodeDnsMessage({ id: 1, questions: [{ name: 'flowtest.vigil.example', type: 'A' }] });
    const a = respond(q, 'flowtest.vigil.example', '127.0.0.77');
    assert.ok(a);
    assert.deepEqual(parseDnsMessage(a).answers.map((x) => x.data), ['127.0.0.77']);
  });
});
