// The agent's event stream, end to end: a real `vigil agent`, its real
// socket, `vigil events` clients and a raw gRPC client, events caused by
// this test's own execs and opens.
// - two clients with different filters on one agent each get only theirs;
// - --last and --since replay the agent's history;
// - a client that stops reading is cut off, its loss counted, while the
//   other keeps receiving.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, mkdirSync, openSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { agentService, socketTarget } from '../src/agent/proto.js';
import type { EventsResponse } from '../src/agent/hub.js';
import dgram from 'node:dgram';
import net, { type AddressInfo } from 'node:net';
import { encodeDnsMessage } from '../src/network/dns.js';
import { missingFeature, requireRoot, tracefs, waitFor } from './helpers.js';
import { outputOf, TestAgent } from './agent-util.js';

describe('vigil events from one agent', { timeout: 240_000 }, () => {
  let agent: TestAgent;
  let bin: (name: string) => string;

  before(async () => {
    requireRoot();
    tracefs();
    // A busy host's events pass through too: a history long enough to hold this test's for a while.
    // The cluster's name and the node's labels go into every envelope (Tetragon's cluster_name, node_labels).
    agent = await TestAgent.start('sensors: [exec, file]\nhistory:\n  events: 20000\n'
      + 'cluster:\n  name: test-cluster\n  nodeLabels:\n    topology.kubernetes.io/zone: zone-a\n    role: edge\n', '  clientBuffer: 64KiB\n');
    // Programs with names of their own (comm), to filter on.
    bin = (name) => {
      const p = path.join(agent.dir, name);
      copyFileSync('/usr/bin/true', p);
      return p;
    };
  });
  after(async () => {
    await agent?.stop();
  });

  test('two clients, two filters: each gets only its events', async () => {
    const files = path.join(agent.dir, 'files');
    mkdirSync(files);
    const execs = agent.vigil(['events', '--sensors', 'exec', '--comm', 'vgtest-a', '--count', '1']);
    const opens = agent.vigil(['events', '--sensors', 'file', '--path-prefix', `${files}/`, '--output', 'json', '--count', '1']);
    const [a, b] = [outputOf(execs), outputOf(opens)];
    await agent.waitClients(2);
    execFileSync(bin('vgtest-a'));
    closeSync(openSync(path.join(files, 'x'), 'w'));
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra.status, 0, ra.stderr);
    assert.equal(rb.status, 0, rb.stderr);
    assert.match(ra.stdout, /🚀 process \d+ \S*vgtest-a/);
    assert.doesNotMatch(ra.stdout, /files\/x/);
    const ev = JSON.parse(rb.stdout.trim()) as { file?: { path?: string }; cluster_name?: string; node_labels?: unknown };
    assert.ok(ev.file, rb.stdout);
    assert.equal(ev.cluster_name, 'test-cluster', rb.stdout);
    assert.deepEqual(ev.node_labels, { 'topology.kubernetes.io/zone': 'zone-a', role: 'edge' }, rb.stdout);
    assert.match(rb.stdout, new RegExp(`${files}/x`));
    assert.doesNotMatch(rb.stdout, /vgtest-a|process_exec/);
  });

  test('--last and --since replay the history', async () => {
    execFileSync(bin('vgtest-h'));
    // Both asked at once: on a host busy enough (a build's file events) the history turns over in seconds.
    const [last, since, cred] = await Promise.all([
      outputOf(agent.vigil(['events', '--sensors', 'exec', '--comm', 'vgtest-h', '--last', '1'])),
      outputOf(agent.vigil(['events', '--sensors', 'exec', '--comm', 'vgtest-h', '--since', '5m', '-o', 'json'])),
      outputOf(agent.vigil(['events', '--sensors', 'exec', '--comm', 'vgtest-h', '--since', '5m', '-o', 'json', '--process-cred'])),
    ]);
    assert.equal(last.status, 0, last.stderr);
    assert.match(last.stdout, /vgtest-h/);
    assert.equal(last.stdout.trim().split('\n').length, 1);
    assert.equal(since.status, 0, since.stderr);
    assert.match(since.stdout, /"process_exec"/);
    // Credentials as the client asked (output.process_cred), as Tetragon's --enable-process-cred.
    assert.doesNotMatch(since.stdout, /"process_credentials"/);
    assert.equal(cred.status, 0, cred.stderr);
    assert.match(cred.stdout, /"process_exec".*"process_credentials":\{"uid"/);
    const none = await outputOf(agent.vigil(['events', '--sensors', 'exec', '--comm', 'vgtest-h', '--since', '2099-01-01T00:00:00Z']));
    assert.equal(none.stdout, '', 'nothing from the future');
  });

  test('a client that stops reading is cut off and counted; the other goes on', async () => {
    const storm = path.join(agent.dir, 'storm');
    mkdirSync(storm);
    const Service = agentService();
    const raw = new Service(socketTarget(agent.socket), grpc.credentials.createInsecure());
    const stalled = (raw as unknown as { GetEvents(r: object): grpc.ClientReadableStream<EventsResponse> }).GetEvents({
      kinds: ['file'], pathPrefixes: [`${storm}/`], output: { format: 'json' },
    });
    stalled.pause(); // never reads: the agent's queue for it fills
    let status: grpc.ServiceError | undefined;
    stalled.on('error', (e: grpc.ServiceError) => { status = e; });
    const other = agent.vigil(['events', '--sensors', 'exec', '--comm', 'vgtest-b', '--count', '1']);
    const otherOut = outputOf(other);
    try {
      await agent.waitClients(2);
      const before = await agent.health();
      // Far more than the client buffer (64 KiB), the HTTP/2 window and the socket's buffers.
      const f = path.join(storm, 'f');
      for (let round = 0; round < 20 && Number((await agent.health()).clientsCutOff) === Number(before.clientsCutOff); round++) {
        for (let i = 0; i < 2000; i++) closeSync(openSync(f, 'w'));
        await new Promise((r) => setTimeout(r, 200));
      }
      const h = await agent.health();
      assert.equal(Number(h.clientsCutOff), Number(before.clientsCutOff) + 1, 'the stalled client was cut off');
      assert.ok(Number(h.clientEventsLost) > Number(before.clientEventsLost), 'its loss is counted');
      assert.ok(agent.line('event stream client cut off: not keeping up'), 'and logged');
      // The other client still gets its events.
      execFileSync(bin('vgtest-b'));
      const r = await otherOut;
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /vgtest-b/);
      // The stalled client, reading again, gets what was queued and then why it ended.
      stalled.resume();
      stalled.on('data', () => undefined);
      assert.ok(await waitFor(() => status !== undefined, 20_000, 20), 'the stalled stream ended');
      assert.ok(status!.code === grpc.status.RESOURCE_EXHAUSTED || status!.code === grpc.status.CANCELLED, String(status));
      if (status!.code === grpc.status.RESOURCE_EXHAUSTED) assert.match(status!.details, /cut off: not reading fast enough/);
    } finally {
      stalled.cancel();
      raw.close();
      other.kill();
    }
  });
});

/** A DNS answer for any A query: the question copied, one A record (TTL 60) for `addr`. */
function answer(q: Buffer, addr: string): Buffer | undefined {
  let o = 12;
  while (o < q.length && q[o] !== 0) o += 1 + q[o]!;
  const end = o + 5;
  if (q.length < 17 || end > q.length) return undefined;
  return Buffer.from([q[0]!, q[1]!, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, ...q.subarray(12, end),
    0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...addr.split('.').map(Number)]);
}

describe('the agent\'s flow and dns sensors', { timeout: 240_000 }, () => {
  test('loopback TCP and a DNS query to a local server, streamed with Hubble\'s filters and formats', async (t) => {
    requireRoot();
    tracefs();
    const why = await missingFeature(['tracepoint', 'raw_tracepoint'], ['bpf_loop']);
    if (why) return t.skip(why);
    const tcp = net.createServer((c) => c.end());
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const tcpPort = (tcp.address() as AddressInfo).port;
    const dns = dgram.createSocket('udp4');
    dns.on('message', (m, from) => {
      const a = answer(m, '127.0.0.9');
      if (a) dns.send(a, from.port, from.address);
    });
    await new Promise<void>((r) => dns.bind(0, '127.0.0.1', r));
    const dnsPort = dns.address().port;
    const agent = await TestAgent.start(`sensors: [exec, flow, dns]\nnetwork:\n  dnsPorts: [${dnsPort}]\n  udpWindow: 1\n`);
    try {
      const connect = (): void => {
        const c = net.connect(tcpPort, '127.0.0.1', () => c.end());
        c.on('error', () => undefined).resume();
      };
      const flows = await agent.eventsWhile(['--sensors', 'flow', '--to-port', String(tcpPort), '--output', 'json', '--count', '2', '--duration', '30'],
        connect);
      assert.equal(flows.status, 0, flows.stderr);
      const records = flows.stdout.trimEnd().split('\n').map((l) => JSON.parse(l).flow);
      assert.equal(records.length, 2);
      for (const r of records) {
        assert.equal(r.l4.TCP.destination_port, tcpPort, 'only flows to the test\'s port');
        assert.match(r.event_kind, /^tcp-(connect|accept|close)$/);
        assert.equal((r.source.process ?? r.destination.process).pid, process.pid, 'the flow\'s process: this test (both ends)');
      }
      // The same flows by the test's process (a process filter), in hubble observe's compact lines.
      const compact = await agent.eventsWhile(['--sensors', 'flow', '--pid', String(process.pid), '--to-port', String(tcpPort),
        '--count', '1', '--duration', '30'], connect);
      assert.match(compact.stdout, new RegExp(`127\\.0\\.0\\.1:\\d+ .*-> 127\\.0\\.0\\.1:${tcpPort} .*tcp-`));
      assert.match(compact.stdout, new RegExp(`pid ${process.pid}\\b`));
      // Negated: nothing to the test's port but UDP.
      const none = await agent.eventsWhile(['--sensors', 'flow', '--to-port', String(tcpPort), '--not', '--protocol', 'tcp',
        '--count', '1', '--duration', '2'], connect);
      assert.equal(none.stdout, '', '--not --protocol tcp leaves none of them');

      const query = encodeDnsMessage({ id: 0x4343, questions: [{ name: 'agenttest.vigil.example', type: 'A' }] });
      const client = dgram.createSocket('udp4');
      const ask = (): void => client.send(query, dnsPort, '127.0.0.1');
      const answers = await agent.eventsWhile(['--sensors', 'dns', '--port', String(dnsPort), '--output', 'jsonpb', '--count', '2', '--duration', '30'], ask);
      client.close();
      assert.equal(answers.status, 0, answers.stderr);
      const dnsRecords = answers.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
      for (const d of dnsRecords) {
        assert.deepEqual(Object.keys(d).sort(), ['flow', 'node_name', 'time'], 'Hubble\'s envelope');
        assert.equal(d.flow.l7.dns.query, 'agenttest.vigil.example.');
      }
      assert.ok(dnsRecords.some((d) => d.flow.l7.type === 'REQUEST'), 'the query');
      // The history has them too (--last), and the metrics count flows by their kind.
      const last = await outputOf(agent.vigil(['events', '--sensors', 'dns', '--port', String(dnsPort), '--last', '1', '-o', 'json']));
      assert.equal(last.status, 0, last.stderr);
      assert.match(last.stdout, /"query":"agenttest\.vigil\.example\."/);
    } finally {
      await agent.stop();
      tcp.close();
      dns.close();
    }
  });
});
