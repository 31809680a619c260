// Network pieces without the kernel: addresses and CIDRs, the DNS parser
// (also on malformed and fuzzed input), the DNS view, flow records and their
// formats, Hubble's filters and observe's flag parsing, vigil top tcp's table.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CidrFilter, addressFromKernel, ipv6Text, parseIp, AF_INET, AF_INET6 } from '../src/kernel/addr.js';
import { DnsParseError, encodeDnsMessage, parseDnsMessage, dnsTypeName, dnsTypeNumber } from '../src/network/dns.js';
import { DnsMatcher, NameCache } from '../src/network/dns-view.js';
import {
  compactTime, flowLine, flowTableHeader, flowToJson, formatFlowCompact, hubbleFlow, hubbleLostLine, newFlowRecord,
} from '../src/network/flow-format.js';
import { FlowFilter, type FlowFilterTerm } from '../src/network/flow-filter.js';
import { FlowTracker } from '../src/network/flow-tracker.js';
import type { DnsCaptureEvent, SocketOwner, TcpFlowEvent, UdpConversation } from '../src/network/flow-sensor.js';
import type { FlowRecord } from '../src/network/flow-types.js';
import { kernelFilter } from '../src/cli/observe-network.js';
import { parseNetworkObserveArgs, parseObserveArgs } from '../src/cli/commands/observe.js';
import { isTopTcp, parseTopTcpArgs, TcpTopTable } from '../src/cli/top-tcp.js';
import { UsageError } from '../src/cli/command.js';
import { shaped, shapedFlow } from './shaped.js';
import { prng } from '../src/util/prng.js';

describe('addresses', () => {
  test('kernel bytes to text, v4-mapped reported as IPv4', () => {
    const v4 = new Uint8Array(16);
    v4.set([10, 1, 2, 3]);
    assert.deepEqual(addressFromKernel(AF_INET, v4), { text: '10.1.2.3', version: 4 });
    const mapped = parseIp('::ffff:192.0.2.7')?.bytes as Uint8Array;
    assert.deepEqual(addressFromKernel(AF_INET6, mapped), { text: '192.0.2.7', version: 4 });
    assert.deepEqual(addressFromKernel(AF_INET6, parseIp('::1')?.bytes as Uint8Array), { text: '::1', version: 6 });
  });

  test('RFC 5952 text', () => {
    for (const [inText, out] of [['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'], ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], ['::', '::'], ['fe80::1', 'fe80::1'], ['1::', '1::']]) {
      assert.equal(ipv6Text(parseIp(inText as string)?.bytes as Uint8Array), out, inText);
    }
  });

  test('CIDR matching, both families, not across them', () => {
    const c = CidrFilter.parse('10.0.0.0/8');
    assert.ok(c.contains('10.200.1.1'));
    assert.ok(!c.contains('11.0.0.1'));
    assert.ok(!c.contains('::ffff:10.0.0.1') === false, 'v4-mapped text is the v4 address');
    assert.ok(!c.contains('fd00::1'));
    assert.ok(CidrFilter.parse('192.168.1.7').contains('192.168.1.7'));
    assert.ok(!CidrFilter.parse('192.168.1.7').contains('192.168.1.8'));
    assert.ok(CidrFilter.parse('fd00::/8').contains('fd12::1'));
    assert.ok(!CidrFilter.parse('fd00::/8').contains('fe80::1'));
    assert.ok(CidrFilter.parse('0.0.0.0/0').contains('8.8.8.8'));
    assert.ok(CidrFilter.parse('10.1.2.128/25').contains('10.1.2.200'));
    assert.ok(!CidrFilter.parse('10.1.2.128/25').contains('10.1.2.100'));
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'nope', '10.0.0/8', '1.2.3.4/x']) {
      assert.throws(() => CidrFilter.parse(bad), RangeError, bad);
    }
  });
});

describe('DNS wire format', () => {
  const answer = encodeDnsMessage({
    id: 0xbeef, qr: true, ra: true,
    questions: [{ name: 'www.Example.COM.', type: 'A' }],
    answers: [
      { name: 'www.example.com', type: 'CNAME', ttl: 300, data: 'edge.example.net' },
      { name: 'edge.example.net', type: 'A', ttl: 60, data: '192.0.2.10' },
      { name: 'edge.example.net', type: 'A', ttl: 30, data: '192.0.2.11' },
      { name: 'edge.example.net', type: 'AAAA', ttl: 30, data: '2001:db8::10' },
      { name: 'edge.example.net', type: 'TXT', ttl: 30, data: Uint8Array.from([3, 0x61, 0x62, 0x63]) },
    ],
  });

  test('parses a compressed answer: names, types, TTLs, addresses, CNAME targets', () => {
    const m = parseDnsMessage(answer);
    assert.equal(m.id, 0xbeef);
    assert.ok(m.qr && m.ra && m.rd && !m.tc && !m.aa);
    assert.equal(m.rcode, 0);
    assert.deepEqual(m.questions, [{ name: 'www.example.com.', type: 1, class: 1 }]);
    assert.equal(m.answers.length, 5);
    assert.deepEqual(m.answers[0], { name: 'www.example.com.', type: 5, class: 1, ttl: 300, data: 'edge.example.net.' });
    assert.deepEqual(m.answers.slice(1, 4).map((a) => a.data), ['192.0.2.10', '192.0.2.11', '2001:db8::10']);
    assert.equal(m.answers[4]?.data, undefined);
    assert.ok(m.complete);
    // Compression was used: the uncompressed message is longer.
    assert.ok(answer.length < encodeDnsMessage({ id: 1, questions: [{ name: 'www.example.com', type: 'A' }],
      answers: [{ name: 'www.example.com', type: 'CNAME', data: 'edge.example.net' }, { name: 'edge.example.net', type: 'A', data: '1.2.3.4' }],
      compress: false }).length + 40);
  });

  test('type names both ways, RFC 3597 for unknown types', () => {
    assert.equal(dnsTypeName(28), 'AAAA');
    assert.equal(dnsTypeName(65), 'HTTPS');
    assert.equal(dnsTypeName(4242), 'TYPE4242');
    assert.equal(dnsTypeNumber('aaaa'), 28);
    assert.equal(dnsTypeNumber('TYPE99'), 99);
    assert.equal(dnsTypeNumber('BOGUS'), undefined);
  });

  test('refuses what is not a message: short header, pointer loops, forward pointers, bad labels', () => {
    assert.throws(() => parseDnsMessage(new Uint8Array(5)), DnsParseError);
    const header = [0, 1, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    // Pointer to itself at offset 12.
    assert.throws(() => parseDnsMessage(Uint8Array.from([...header, 0xc0, 12, 0, 1, 0, 1])), /point/);
    // Pointer forwards (to 16).
    assert.throws(() => parseDnsMessage(Uint8Array.from([...header, 0xc0, 16, 0, 1, 0, 1, 1, 0x61, 0])), /point/);
    // Two names pointing at each other.
    assert.throws(() => parseDnsMessage(Uint8Array.from([...header, 1, 0x61, 0xc0, 14, 0xc0, 12, 0, 1, 0, 1])), /point/);
    // Reserved label type 0x40.
    assert.throws(() => parseDnsMessage(Uint8Array.from([...header, 0x41, 0x61, 0, 0, 1, 0, 1])), /reserved/);
    // A label running past the end.
    assert.throws(() => parseDnsMessage(Uint8Array.from([...header, 10, 0x61, 0x62])), DnsParseError);
    // A name over 255 bytes.
    const long: number[] = [];
    for (let i = 0; i < 5; i++) long.push(60, ...new Array<number>(60).fill(0x61));
    assert.throws(() => parseDnsMessage(Uint8Array.from([...header, ...long, 0, 0, 1, 0, 1])), /255/);
    // Too many questions.
    assert.throws(() => parseDnsMessage(Uint8Array.from([0, 1, 1, 0, 0x10, 0, 0, 0, 0, 0, 0, 0])), /questions/);
  });

  test('a message cut short keeps its question and the answers before the cut', () => {
    const m = parseDnsMessage(answer.subarray(0, answer.length - 20));
    assert.equal(m.questions[0]?.name, 'www.example.com.');
    assert.ok(!m.complete);
    assert.ok(m.answers.length >= 3 && m.answers.length < 5);
    assert.equal(m.counts.an, 5);
  });

  test('escapes dots and bytes outside printable ASCII in labels', () => {
    const msg = Uint8Array.from([0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x61, 0x2e, 0x00, 1, 0x7a, 0, 0, 1, 0, 1]);
    assert.equal(parseDnsMessage(msg).questions[0]?.name, 'a\\.\\000.z.');
  });

  test('fuzz: random bytes and mutations of valid messages never throw anything but DnsParseError', () => {
    const rnd = prng(0x5eed);
    const seeds = [answer, encodeDnsMessage({ id: 7, questions: [{ name: 'a.b.c', type: 'AAAA' }] })];
    for (let i = 0; i < 20_000; i++) {
      let bytes: Uint8Array;
      if (i % 3 === 0) {
        bytes = Uint8Array.from({ length: Math.floor(rnd() * 80) }, () => Math.floor(rnd() * 256));
      } else {
        const s = seeds[i % seeds.length] as Uint8Array;
        bytes = s.slice(0, Math.max(0, Math.floor(rnd() * (s.length + 4))));
        const flips = 1 + Math.floor(rnd() * 6);
        for (let f = 0; f < flips && bytes.length; f++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
      }
      try {
        const m = parseDnsMessage(bytes);
        for (const q of m.questions) assert.ok(q.name.length <= 255 * 4);
      } catch (e) {
        if (!(e instanceof DnsParseError)) throw new Error(`input ${Buffer.from(bytes).toString('hex')}: ${String(e)}`);
      }
    }
  });
});

describe('DNS view', () => {
  const msg = parseDnsMessage(encodeDnsMessage({
    id: 9, qr: true, questions: [{ name: 'api.example.com', type: 'A' }],
    answers: [{ name: 'api.example.com', type: 'CNAME', ttl: 100, data: 'lb.example.net' },
      { name: 'lb.example.net', type: 'A', ttl: 120, data: '198.51.100.4' }],
  }));

  test('names an answered address for its TTL (with a floor), then forgets', () => {
    const c = new NameCache({ minTtlMs: 30_000 });
    c.learn(msg, 1_000);
    assert.deepEqual(c.names('198.51.100.4', 1_000), ['api.example.com', 'lb.example.net']);
    assert.deepEqual(c.names('198.51.100.4', 120_999), ['api.example.com', 'lb.example.net']);
    assert.equal(c.names('198.51.100.4', 121_001), undefined);
    assert.equal(c.names('198.51.100.5', 0), undefined);
    c.add('203.0.113.1', 'short.example.', 0, 0);
    assert.deepEqual(c.names('203.0.113.1', 29_999), ['short.example']);
    assert.equal(c.names('203.0.113.1', 30_001), undefined);
  });

  test('is bounded: the oldest address goes first', () => {
    const c = new NameCache({ maxEntries: 3 });
    for (let i = 0; i < 5; i++) c.add(`10.0.0.${i}`, `n${i}`, 60, 0);
    assert.equal(c.size, 3);
    assert.equal(c.names('10.0.0.0', 0), undefined);
    assert.deepEqual(c.names('10.0.0.4', 0), ['n4']);
  });

  test('failed answers teach nothing', () => {
    const c = new NameCache();
    c.learn({ ...msg, rcode: 3 }, 0);
    assert.equal(c.size, 0);
  });

  test('matches answers with queries by addresses, ports and id', () => {
    const m = new DnsMatcher(2, 1_000n);
    const q = { ...msg, qr: false };
    m.query('10.0.0.1', 5000, '10.0.0.53', 53, q, 100n);
    assert.equal(m.answer('10.0.0.1', 5001, '10.0.0.53', 53, msg, 200n), undefined, 'other port');
    assert.equal(m.answer('10.0.0.1', 5000, '10.0.0.53', 53, { ...msg, id: 10 }, 200n), undefined, 'other id');
    assert.deepEqual(m.answer('10.0.0.1', 5000, '10.0.0.53', 53, msg, 250n), { timeNs: 100n, name: 'api.example.com.', type: 1 });
    assert.equal(m.answer('10.0.0.1', 5000, '10.0.0.53', 53, msg, 260n), undefined, 'answered once');
    m.query('a', 1, 'b', 53, q, 0n);
    m.query('a', 2, 'b', 53, q, 0n);
    m.query('a', 3, 'b', 53, q, 0n);
    assert.equal(m.size, 2, 'bounded');
    assert.equal(m.expire(5_000n), 2);
  });
});

const owner: SocketOwner = { pid: 4242, tid: 4242, uid: 0, startBootNs: 1000n, cgroupId: 77n, comm: 'curl' };
const v4 = (text: string) => ({ text, version: 4 as const });

function tcpEvent(over: Partial<TcpFlowEvent>): TcpFlowEvent {
  return {
    kind: 'tcp', event: 'close', timeBootNs: 5_000_000_000n, startBootNs: 4_000_000_000n, active: true, established: true,
    local: v4('10.0.0.1'), remote: v4('10.0.0.2'), localPort: 43210, remotePort: 80, sk: 1n, cookie: 99n,
    oldState: 'FIN_WAIT1', newState: 'CLOSE', skErr: 0, bytesSent: 100, bytesReceived: 2000, rawBytesAcked: 102,
    rawBytesReceived: 2001, segsOut: 5, segsIn: 6, retransmits: 1, srttUs: 250, owner, ...over,
  };
}

function tracker(out: FlowRecord[], names?: NameCache): FlowTracker {
  return new FlowTracker({
    node: 'node1', toEpochNs: (b) => b + 1_700_000_000_000_000_000n, onFlow: (r) => { shapedFlow(r); out.push(r); }, names, nowMs: () => 0,
    processes: {
      get: (pid) => (pid === 4242 ? { execId: 'ZXhlYw==', binary: '/usr/bin/curl', container: 'host' } as never : undefined),
      getByExecId: () => undefined, parentOf: () => undefined, ancestors: () => [],
    },
  });
}

describe('flow records', () => {
  test('an active TCP close: local is the source, EGRESS, bytes and process', () => {
    const out: FlowRecord[] = [];
    const names = new NameCache();
    names.add('10.0.0.2', 'web.example.', 60, 0);
    const r = tracker(out, names).tcp(tcpEvent({}));
    assert.equal(out.length, 1);
    assert.equal(r.IP.source, '10.0.0.1');
    assert.equal(r.IP.destination, '10.0.0.2');
    assert.equal(r.IP.ipVersion, 'IPv4');
    assert.deepEqual(r.l4, { TCP: { source_port: 43210, destination_port: 80, flags: { FIN: true } } });
    assert.equal(r.traffic_direction, 'EGRESS');
    assert.equal(r.verdict, 'FORWARDED');
    assert.equal(r.is_reply, false);
    assert.deepEqual(r.source.process, { pid: 4242, binary: '/usr/bin/curl', exec_id: 'ZXhlYw==', comm: 'curl', uid: 0 });
    assert.equal(r.source.container, undefined);
    assert.deepEqual(r.destination, {});
    assert.deepEqual(r.destination_names, ['web.example']);
    assert.deepEqual(r.traffic, { bytes_sent: 100, bytes_received: 2000, packets_sent: 5, packets_received: 6 });
    assert.equal(r.duration_ns, 1_000_000_000);
    assert.equal(r.time, '2023-11-14T22:13:25.000000000Z');
    assert.equal(r.event_kind, 'tcp-close');
    assert.equal(r.flow_id, 'tcp:99');
  });

  test('an accepted connection: the peer is the source, INGRESS, the process on the destination', () => {
    const out: FlowRecord[] = [];
    const r = tracker(out).tcp(tcpEvent({ event: 'accept', active: false, localPort: 80, remotePort: 43210,
      local: v4('10.0.0.2'), remote: v4('10.0.0.1') }));
    assert.equal(r.IP.source, '10.0.0.1');
    assert.equal(r.l4.TCP?.source_port, 43210);
    assert.equal(r.l4.TCP?.destination_port, 80);
    assert.equal(r.traffic_direction, 'INGRESS');
    assert.equal(r.destination.process?.pid, 4242);
    assert.equal(r.source.process, undefined);
    assert.equal(r.duration_ns, undefined);
  });

  test('a refused connect is DROPPED with its reason', () => {
    const r = tracker([]).tcp(tcpEvent({ event: 'failed', established: false, skErr: 111, oldState: 'SYN_SENT' }));
    assert.equal(r.verdict, 'DROPPED');
    assert.equal(r.drop_reason_desc, 'CONNECTION_REFUSED');
    assert.deepEqual(r.l4.TCP?.flags, { RST: true });
    assert.match(r.Summary, /ECONNREFUSED/);
    assert.equal(tracker([]).tcp(tcpEvent({ event: 'failed', established: false, skErr: 110 })).drop_reason_desc,
      'CONNECTION_TIMED_OUT');
  });

  test('DNS query and answer: matched latency, is_reply, names learnt for later flows', () => {
    const out: FlowRecord[] = [];
    const t = tracker(out);
    const q = encodeDnsMessage({ id: 5, questions: [{ name: 'svc.test', type: 'A' }] });
    const a = encodeDnsMessage({ id: 5, qr: true, questions: [{ name: 'svc.test', type: 'A' }],
      answers: [{ name: 'svc.test', type: 'A', ttl: 45, data: '10.9.9.9' }] });
    const ev = (dir: 'egress' | 'ingress', payload: Uint8Array, time: bigint): DnsCaptureEvent => ({
      kind: 'dns', timeBootNs: time, direction: dir, cookie: 3n, owner, length: payload.length, payload,
      source: v4(dir === 'egress' ? '10.0.0.1' : '10.0.0.53'), destination: v4(dir === 'egress' ? '10.0.0.53' : '10.0.0.1'),
      sourcePort: dir === 'egress' ? 40000 : 53, destinationPort: dir === 'egress' ? 53 : 40000,
    });
    const rq = t.dns(ev('egress', q, 1_000n));
    const ra = t.dns(ev('ingress', a, 1_500n));
    assert.ok(rq && ra);
    assert.equal(rq.Type, 'L7');
    assert.equal(rq.l7?.type, 'REQUEST');
    assert.equal(rq.l7?.dns?.query, 'svc.test.');
    assert.deepEqual(rq.l7?.dns?.qtypes, ['A']);
    assert.equal(rq.source.process?.pid, 4242);
    assert.equal(ra.is_reply, true);
    assert.equal(ra.l7?.type, 'RESPONSE');
    assert.equal(ra.l7?.latency_ns, 500);
    assert.deepEqual(ra.l7?.dns?.ips, ['10.9.9.9']);
    assert.equal(ra.l7?.dns?.ttl, 45);
    assert.equal(ra.l7?.dns?.rcode, 0);
    assert.equal(ra.destination.process?.pid, 4242);
    assert.equal(ra.flow_id, rq.flow_id);
    const later = t.tcp(tcpEvent({ remote: v4('10.9.9.9') }));
    assert.deepEqual(later.destination_names, ['svc.test']);
    // Not DNS: counted, no record.
    assert.equal(t.dns(ev('egress', Uint8Array.from([1, 2, 3]), 2_000n)), undefined);
    assert.equal(t.stats.dnsMalformed, 1);
  });

  test('UDP conversations: direction from the first datagram', () => {
    const out: FlowRecord[] = [];
    const conv: UdpConversation = { cookie: 8n, local: v4('10.0.0.1'), remote: v4('10.0.0.2'), localPort: 5000,
      remotePort: 6000, bytesSent: 30, bytesReceived: 10, datagramsSent: 3, datagramsReceived: 1, firstBootNs: 10n,
      lastBootNs: 40n, firstDirection: 'ingress', cgroupId: 5n };
    const [r] = tracker(out).udp([conv]);
    assert.ok(r);
    assert.equal(r.IP.source, '10.0.0.2');
    assert.equal(r.l4.UDP?.source_port, 6000);
    assert.equal(r.traffic_direction, 'INGRESS');
    assert.deepEqual(r.traffic, { bytes_sent: 30, bytes_received: 10, packets_sent: 3, packets_received: 1 });
    assert.equal(r.duration_ns, 30);
  });

  test('JSON envelope and compact line like hubble observe', () => {
    const r = tracker([]).tcp(tcpEvent({ event: 'connect' }));
    const env = JSON.parse(flowToJson(r)) as { flow: FlowRecord; node_name: string; time: string };
    assert.equal(env.node_name, 'node1');
    assert.equal(env.time, r.time);
    assert.equal(env.flow.IP.source, '10.0.0.1');
    assert.ok('traffic_direction' in env.flow && 'is_reply' in env.flow && 'l4' in env.flow && 'Summary' in env.flow);
    assert.equal(compactTime('2024-11-21T20:01:02.123456789Z'), 'Nov 21 20:01:02.123');
    assert.equal(compactTime('2024-03-05T01:02:03Z'), 'Mar  5 01:02:03.000');
    assert.equal(formatFlowCompact(r),
      'Nov 14 22:13:25.000: 10.0.0.1:43210 (pid 4242 curl) -> 10.0.0.2:80 tcp-connect FORWARDED (TCP Flags: SYN)');
    const denied = newFlowRecord({ timeNs: 0n, verdict: 'DENIED', drop_reason_desc: 'POLICY_DENIED',
      IP: { source: 'fd00::1', destination: 'fd00::2', ipVersion: 'IPv6' }, l4: { UDP: { source_port: 1, destination_port: 53 } },
      source: {}, destination: {}, node_name: 'n', traffic_direction: 'EGRESS', event_kind: 'policy', flow_id: 'x' });
    assert.equal(formatFlowCompact(denied),
      'Jan  1 00:00:00.000: [fd00::1]:1 -> [fd00::2]:53 policy-verdict Policy denied DENIED (UDP)');
  });

  test('strict Hubble JSON: flow.proto\'s fields only, DENIED as DROPPED by the policy, uint64 as strings', () => {
    const denied = newFlowRecord({ timeNs: 0n, verdict: 'DENIED', drop_reason_desc: 'FIREWALL_BLOCKED', socket_cookie: 7, cgroup_id: 9,
      IP: { source: '10.1.1.1', destination: '10.0.0.1', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 1, destination_port: 22 } },
      source: {}, destination: { process: { pid: 1, binary: '/sbin/init', exec_id: '', comm: 'init' }, cgroup_id: 9 },
      node_name: 'n', traffic_direction: 'INGRESS', event_kind: 'policy', flow_id: 'x', policy: 'firewall:block 10.1.0.0/16' });
    shapedFlow(denied);
    const f = hubbleFlow(denied);
    assert.equal(f.verdict, 'DROPPED');
    assert.equal(f.drop_reason_desc, 'POLICY_DENY');
    assert.deepEqual(f.ingress_denied_by, [{ name: 'firewall:block 10.1.0.0/16', kind: 'Vigil' }]);
    assert.equal(f.socket_cookie, '7');
    assert.equal(f.cgroup_id, '9');
    assert.deepEqual(f.destination, {}, 'the process behind an endpoint is Vigil\'s json only');
    for (const k of ['event_kind', 'flow_id', 'policy', 'traffic']) assert.ok(!(k in f), k);
    const refused = tracker([]).tcp(tcpEvent({ event: 'failed', established: false, skErr: 111, oldState: 'SYN_SENT' }));
    assert.equal(hubbleFlow(refused).drop_reason_desc, undefined, 'Hubble has no reason for a refused connect; the summary says it');
    assert.equal(hubbleFlow(refused).verdict, 'DROPPED');
    const lost = hubbleLostLine(3, 'ring_full', 'n', 0n);
    shaped('hubble', lost);
    assert.deepEqual(JSON.parse(lost).lost_events, { source: 'PERF_EVENT_RING_BUFFER', num_events_lost: '3' });
  });

  test('dict and table like hubble observe -o dict|table', () => {
    const r = tracker([]).tcp(tcpEvent({ event: 'connect' }));
    assert.equal(flowLine('dict', r), [
      '------------',
      '  TIMESTAMP: Nov 14 22:13:25.000',
      '     SOURCE: 10.0.0.1:43210 (pid 4242 curl)',
      'DESTINATION: 10.0.0.2:80',
      '       TYPE: tcp-connect',
      '    VERDICT: FORWARDED',
      '    SUMMARY: TCP Flags: SYN',
    ].join('\n'));
    const header = flowTableHeader();
    const row = flowLine('table', r);
    for (const col of ['SOURCE', 'DESTINATION', 'TYPE', 'VERDICT', 'SUMMARY']) {
      assert.equal(row[header.indexOf(col) - 1], ' ', col);
      assert.notEqual(row[header.indexOf(col)], ' ', col);
    }
    assert.equal(flowLine('jsonpb', r), flowLine('hubble', r));
  });
});

describe('flow filters', () => {
  const recs = (() => {
    const out: FlowRecord[] = [];
    const t = tracker(out);
    t.tcp(tcpEvent({}));
    t.tcp(tcpEvent({ remote: v4('192.168.1.5'), remotePort: 22, cookie: 2n }));
    t.tcp(tcpEvent({ event: 'failed', skErr: 111, remotePort: 9, cookie: 3n }));
    t.udp([{ cookie: 8n, local: v4('10.0.0.1'), remote: v4('10.0.0.53'), localPort: 5000, remotePort: 53, bytesSent: 1,
      bytesReceived: 1, datagramsSent: 1, datagramsReceived: 1, firstBootNs: 1n, lastBootNs: 2n, firstDirection: 'egress',
      cgroupId: 1n }]);
    return out;
  })();
  const ids = (terms: FlowFilterTerm[]) => {
    const f = new FlowFilter(terms);
    return recs.filter((r) => f.matches(r)).map((r) => r.flow_id);
  };
  const T = (kind: FlowFilterTerm['kind'], value: string, negated = false): FlowFilterTerm => ({ kind, value, negated });

  test('one filter: any value; different filters: all; --not: none', () => {
    assert.deepEqual(ids([]), ['tcp:99', 'tcp:2', 'tcp:3', recs[3]?.flow_id]);
    assert.deepEqual(ids([T('port', '80'), T('port', '22')]), ['tcp:99', 'tcp:2']);
    assert.deepEqual(ids([T('port', '80'), T('ip', '192.168.0.0/16')]), []);
    assert.deepEqual(ids([T('to-ip', '192.168.0.0/16')]), ['tcp:2']);
    assert.deepEqual(ids([T('from-ip', '192.168.0.0/16')]), []);
    assert.deepEqual(ids([T('from-port', '43210'), T('to-port', '22', true)]), ['tcp:99', 'tcp:3']);
    assert.deepEqual(ids([T('protocol', 'udp')]), [recs[3]?.flow_id]);
    assert.deepEqual(ids([T('protocol', 'tcp'), T('verdict', 'dropped', true)]), ['tcp:99', 'tcp:2']);
    assert.deepEqual(ids([T('verdict', 'DROPPED')]), ['tcp:3']);
    assert.deepEqual(ids([T('ip', '10.0.0.2', true), T('protocol', 'tcp')]), ['tcp:2']);
    assert.deepEqual(ids([T('pid', '4242', true)]), [recs[3]?.flow_id], '--not --pid is evaluated here (the UDP record has no process)');
    assert.deepEqual(ids([T('pid', '1')]).length, 4, '--pid is the kernel\'s');
  });

  test('Hubble\'s --fqdn, --tcp-flags, --traffic-direction, --type, -4/-6', () => {
    const names = new NameCache();
    names.add('192.168.1.5', 'ssh.Example.org.', 60, 0);
    const out: FlowRecord[] = [];
    const t = tracker(out, names);
    t.tcp(tcpEvent({}));
    t.tcp(tcpEvent({ remote: v4('192.168.1.5'), remotePort: 22, cookie: 2n }));
    t.tcp(tcpEvent({ event: 'failed', skErr: 111, remotePort: 9, cookie: 3n }));
    t.tcp(tcpEvent({ event: 'accept', active: false, local: v4('10.0.0.2'), remote: v4('10.0.0.1'), cookie: 4n }));
    const sel = (...terms: FlowFilterTerm[]) => out.filter((r) => new FlowFilter(terms).matches(r)).map((r) => r.flow_id);
    assert.deepEqual(sel(T('fqdn', '*.example.org')), ['tcp:2']);
    assert.deepEqual(sel(T('to-fqdn', 'ssh.example.org.')), ['tcp:2']);
    assert.deepEqual(sel(T('from-fqdn', '*.example.org')), []);
    assert.deepEqual(sel(T('fqdn', 'example.org')), [], 'a pattern matches the whole name');
    assert.deepEqual(sel(T('tcp-flags', 'rst')), ['tcp:3']);
    assert.deepEqual(sel(T('tcp-flags', 'SYN,FIN')), []);
    assert.deepEqual(sel(T('tcp-flags', 'fin'), T('tcp-flags', 'rst')), ['tcp:99', 'tcp:2', 'tcp:3']);
    assert.deepEqual(sel(T('traffic-direction', 'ingress')), ['tcp:4']);
    assert.deepEqual(sel(T('type', 'drop')), ['tcp:3']);
    assert.deepEqual(sel(T('type', 'trace'), T('traffic-direction', 'egress', true)), ['tcp:4']);
    assert.deepEqual(sel(T('ip-version', '6')), []);
    assert.deepEqual(sel(T('ip-version', '4', true)), []);
    // Opens (SYN only) stay in the kernel when no --tcp-flags term can take them.
    const opens = (...terms: FlowFilterTerm[]) => new FlowFilter(terms).wantsTcpOpens();
    assert.equal(opens(), true);
    assert.equal(opens(T('tcp-flags', 'fin'), T('tcp-flags', 'rst')), false);
    assert.equal(opens(T('tcp-flags', 'fin'), T('tcp-flags', 'syn')), true);
    assert.equal(opens(T('tcp-flags', 'SYN,ACK')), false);
    assert.equal(opens(T('tcp-flags', 'syn', true)), false);
    assert.equal(opens(T('tcp-flags', 'rst', true)), true);
    assert.equal(opens(T('port', '80')), true);
    for (const [k, v, re] of [['fqdn', 'a b', /--fqdn/], ['tcp-flags', 'SYN,XMAS', /--tcp-flags: unknown flag "XMAS"/],
      ['traffic-direction', 'up', /--traffic-direction/], ['type', 'trace:to-endpoint', /--type/], ['ip-version', '5', /--ip-version/]] as const) {
      assert.throws(() => new FlowFilter([T(k, v)]), re);
    }
  });

  test('bad values name their flag', () => {
    assert.throws(() => new FlowFilter([T('port', '70000')]), /--port/);
    assert.throws(() => new FlowFilter([T('ip', '1.2.3')]), /--ip/);
    assert.throws(() => new FlowFilter([T('protocol', 'sctp')]), /--protocol/);
    assert.throws(() => new FlowFilter([T('verdict', 'maybe')]), /--verdict/);
  });

  test('observe flags: --not negates the filter after it, sensors, outputs', () => {
    // One parse for every sensor: flows and process events in one stream.
    assert.ok(parseObserveArgs(['--sensors', 'flow,dns']).network);
    assert.ok(parseObserveArgs(['--sensors=dns']).network);
    assert.equal(parseObserveArgs(['--sensors', 'exec,file']).network, undefined);
    const mixed = parseObserveArgs(['--sensors', 'exec,flow', '--not', '--port', '22', '-o', 'json']);
    assert.deepEqual(mixed.sensors, ['exec']);
    assert.deepEqual(mixed.network?.sensors, ['exec', 'flow']);
    assert.deepEqual(mixed.network?.terms, [T('port', '22', true)]);
    for (const bad of [['--sensors', 'exec', '--port', '22'], ['--sensors', 'exec', '--not', '--pid', '1'],
      ['--sensors', 'exec,file', '--udp-window', '1']]) {
      assert.throws(() => parseObserveArgs(bad), /filters flows; add flow or dns to --sensors/, bad.join(' '));
    }
    const o = parseNetworkObserveArgs(['--sensors', 'flow,dns', '--ip', '10.0.0.0/8', '--not', '--port', '22', '--port', '80',
      '--not', '--container', 'host', '--pid', '12', '-o', 'json', '--udp-window', '0.5', '--dns-port', '5353']);
    assert.deepEqual(o.terms, [T('ip', '10.0.0.0/8'), T('port', '22', true), T('port', '80'), T('container', 'host', true),
      T('pid', '12')]);
    assert.equal(o.format, 'json');
    assert.equal(o.udpWindowMs, 500);
    assert.deepEqual(o.dnsPorts, [5353]);
    assert.deepEqual(kernelFilter({ ...o, terms: [T('pid', '12'), T('pid', '13', true)] }), { pids: [12], followChildren: false, excludeSelf: true });
    assert.equal(kernelFilter({ ...parseNetworkObserveArgs(['--sensors', 'flow', '--include-self']), terms: [] }).excludeSelf,
      undefined);
    for (const bad of [['--sensors', 'flow', '--not'], ['--sensors', 'flow', '--not', '--output', 'json'],
      ['--sensors', 'flow,nope'], ['--sensors', 'flow', '--port', 'x'], ['--sensors', 'flow', '-o', 'yaml'],
      ['--sensors', 'flow', '--not', '--not', '--port', '1'], ['--sensors', 'flow', '--follow-children']]) {
      assert.throws(() => parseNetworkObserveArgs(bad), UsageError, bad.join(' '));
    }
  });
});

test('observe flows: hubble observe\'s -o, -4/-6, --follow, --until; --since and --last need an agent', () => {
  const o = parseNetworkObserveArgs(['--sensors', 'flow', '-o', 'jsonpb', '-f', '-4', '--not', '-6', '--tcp-flags', 'SYN',
    '--until', '2999-01-01T00:00:00Z']);
  assert.equal(o.format, 'jsonpb');
  assert.deepEqual(o.terms, [{ kind: 'ip-version', value: '4', negated: false }, { kind: 'ip-version', value: '6', negated: true },
    { kind: 'tcp-flags', value: 'SYN', negated: false }]);
  assert.equal(o.untilMs, Date.parse('2999-01-01T00:00:00Z'));
  for (const f of ['dict', 'table', 'hubble', 'json', 'compact']) assert.equal(parseNetworkObserveArgs(['--sensors', 'flow', '-o', f]).format, f);
  assert.throws(() => parseNetworkObserveArgs(['--sensors', 'flow', '--last', '20']), /--last: past flows come from an agent's history/);
  assert.throws(() => parseNetworkObserveArgs(['--sensors', 'flow', '--since', '5m']), /--since: past flows/);
  assert.throws(() => parseNetworkObserveArgs(['--sensors', 'flow', '--until', '2001-01-01T00:00:00Z']), /--until: .* has passed/);
  assert.throws(() => parseNetworkObserveArgs(['--sensors', 'flow', '--until', 'soon']), /--until: expected an RFC 3339 time/);
});

describe('vigil top tcp', () => {
  test('dispatch and flags', () => {
    assert.ok(isTopTcp(['tcp']));
    assert.ok(isTopTcp(['--interval', '2', 'tcp', '--limit', '3']));
    assert.ok(!isTopTcp(['--comm', 'tcp', 'syscalls']));
    assert.ok(!isTopTcp(['files']));
    const o = parseTopTcpArgs(['tcp', '--sort', 'bytes', '-o', 'json', '--duration', '2']);
    assert.equal(o.sort, 'bytes');
    assert.equal(o.output, 'json');
    assert.throws(() => parseTopTcpArgs(['tcp', '--sort', 'name']), UsageError);
  });

  test('rates are differences between reads; closed connections appear once with their last counts', () => {
    const t = new TcpTopTable();
    const snap = (cookie: bigint, sent: number, received: number) =>
      tcpEvent({ event: 'snapshot', cookie, bytesSent: sent, bytesReceived: received, newState: 'ESTABLISHED' });
    t.baseline([snap(1n, 1000, 0), snap(2n, 0, 0)]);
    let s = t.take([snap(1n, 3000, 0), snap(2n, 100, 0), snap(3n, 50, 50)], 2e9);
    assert.deepEqual(s.rows.map((r) => [r.cookie, r.sendRate, r.receiveRate]), [[1n, 1000, 0], [2n, 50, 0], [3n, 25, 25]]);
    t.onClose(tcpEvent({ cookie: 1n, bytesSent: 7000, bytesReceived: 0 }));
    s = t.take([snap(2n, 100, 0)], 1e9);
    assert.deepEqual(s.rows.map((r) => [r.cookie, r.state, r.sendRate]), [[1n, 'CLOSED', 4000], [2n, 'ESTABLISHED', 0]]);
    assert.equal(s.totals.closed, 1);
    s = t.take([], 1e9);
    assert.equal(s.rows.length, 0);
  });
});
