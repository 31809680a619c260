// Real-kernel tests of the XDP firewall (`vigil firewall`), driven through
// the CLI as separate processes (attach in one, rules from others: the state
// lives in bpffs pins). Traffic: UDP datagrams sent from a network namespace
// this test creates, over a veth pair it creates, to a socket of this process
// on the host end; the firewall is attached to that host end only.
//
// Each burst is followed by a marker datagram from a source no rule touches;
// frames of one veth queue are processed in order, so once the marker has
// arrived every datagram before it has been judged: counts are exact, no
// sleeping.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { requireRoot, single, waitFor } from './helpers.js';
import { Child, createVethNamespace, removeVethNamespace } from './attach-util.js';
import { requireFeature } from '../src/bpf/features.js';
import { ensureBpffs } from '../src/bpf/mounts.js';
import { repoPath } from '../src/util/paths.js';
import { Firewall, type FirewallStatus } from '../src/network/firewall.js';

/** In the namespace: send `count` datagrams from src to dst:port (one at a time), print "sent N MS". */
const SENDER = `
const dgram = require('node:dgram');
const [src, dst, port, count, tag] = process.argv.slice(1);
const s = dgram.createSocket(dst.includes(':') ? 'udp6' : 'udp4');
s.bind(0, src, async () => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < Number(count); i++) {
    await new Promise((res, rej) => s.send(tag + ' ' + i, Number(port), dst, (e) => (e ? rej(e) : res())));
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log('sent ' + count + ' ' + ms);
  s.close();
});
setTimeout(() => process.exit(3), 20000).unref();
`;

/**
 * In the namespace: write `count` Ethernet frames on IFACE carrying IPv4/UDP
 * from SRC to DST inside 802.1Q and 802.1ad tags (QinQ when both are given).
 * The kernel here may lack 8021q, so the tags are made by hand on a packet socket.
 */
const TAGGED = `
import socket, struct, sys
iface, dst_mac, src, dst, count, tags = sys.argv[1], bytes.fromhex(sys.argv[2].replace(':', '')), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
src_mac = open('/sys/class/net/%s/address' % iface).read().strip()
payload = b'tagged'
udp = struct.pack('!HHHH', 40000, 9, 8 + len(payload), 0) + payload
def csum(b):
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
vlan = b''.join(struct.pack('!HH', int(t.split(':')[0], 16), int(t.split(':')[1])) for t in tags.split(','))
frame = dst_mac + bytes.fromhex(src_mac.replace(':', '')) + vlan + struct.pack('!H', 0x0800) + ip + udp
for _ in range(count): s.send(frame)
print('sent', count)
`;

/**
 * A namespace with a veth pair to this one: host end hostAddr/24, namespace
 * end with four addresses of the same /24; IPv6 link-local addresses of our
 * choosing on both ends (nothing routes them anywhere).
 */
class FirewallNet {
  readonly ns = `vigil-fw-${process.pid}`;
  readonly host = `vfw${process.pid}h`;
  readonly peer = `vfw${process.pid}p`;
  readonly net: number;
  constructor() {
    // 169.254.<n>.0/24; never 169.254.169.x.
    let n = 2 + ((process.pid * 7) % 240);
    if (n === 169) n = 242;
    this.net = n;
  }
  addr(i: number): string {
    return `169.254.${this.net}.${i}`;
  }
  get hostAddr(): string {
    return this.addr(1);
  }
  get host6(): string {
    return `fe80::1%${this.host}`;
  }
  ns6(i: number): string {
    return `fe80::${i}%${this.peer}`;
  }

  create(): void {
    this.remove();
    createVethNamespace(this.ns, this.host, this.peer, [`${this.hostAddr}/24`, 'fe80::1/64'],
      [...[2, 3, 4, 5].map((i) => `${this.addr(i)}/24`), 'fe80::2/64', 'fe80::3/64']);
  }

  remove(): void {
    removeVethNamespace(this.ns, this.host);
  }

  /** Writes count VLAN-tagged frames (tags "8100:100" or "88a8:10,8100:20") from src to the host end. */
  sendTagged(src: string, count: number, tags: string): void {
    const mac = execFileSync('cat', [`/sys/class/net/${this.host}/address`], { encoding: 'utf8' }).trim();
    const r = spawnSync('ip', ['netns', 'exec', this.ns, 'python3', '-c', TAGGED, this.peer, mac, src, this.hostAddr,
      String(count), tags], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(r.status, 0, r.stderr);
  }

  /** Sends count datagrams from src (in the namespace) to dst:port. Returns the sender's elapsed ms. */
  async send(src: string, dst: string, port: number, count: number, tag: string): Promise<number> {
    const c = new Child('ip', ['netns', 'exec', this.ns, process.execPath, '-e', SENDER, src, dst, String(port),
      String(count), tag]);
    try {
      const m = await c.line(/^sent (\d+) ([\d.]+)$/, 15_000);
      assert.equal(await c.exit(), 0, c.errors);
      return Number(m[2]);
    } finally {
      c.kill();
    }
  }
}

/** Runs the CLI in a new process. */
function vigil(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [repoPath('bin', 'vigil'), ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function vigilOk(...args: string[]): string {
  const r = vigil(...args);
  assert.equal(r.code, 0, `vigil ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A UDP receiver on the host end: datagrams by tag. */
class Receiver {
  readonly got = new Map<string, number>();
  readonly sources = new Map<string, Set<string>>();
  constructor(readonly sock: dgram.Socket) {
    sock.on('message', (m, r) => {
      const tag = m.toString().split(' ')[0] ?? '';
      this.got.set(tag, (this.got.get(tag) ?? 0) + 1);
      if (!this.sources.has(tag)) this.sources.set(tag, new Set());
      this.sources.get(tag)!.add(r.address.replace(/%.*$/, ''));
    });
  }
  static async open(type: 'udp4' | 'udp6', addr: string): Promise<Receiver> {
    const s = dgram.createSocket(type);
    s.bind(0, addr);
    await once(s, 'listening');
    return new Receiver(s);
  }
  get port(): number {
    return this.sock.address().port;
  }
  count(tag: string): number {
    return this.got.get(tag) ?? 0;
  }
  close(): void {
    this.sock.close();
  }
}

describe('XDP firewall (vigil firewall)', () => {
  const net = new FirewallNet();
  let rx4: Receiver;
  let rx6: Receiver;
  let markers = 0;

  /** Sends a marker from .5 (no rule names it) and waits for it: everything sent before has been judged. */
  async function settle(): Promise<void> {
    const tag = `marker${markers++}`;
    await net.send(net.addr(5), net.hostAddr, rx4.port, 1, tag);
    assert.ok(await waitFor(() => rx4.count(tag) === 1, 5000), `marker ${tag} did not arrive`);
  }

  function status(): FirewallStatus {
    return single((JSON.parse(vigilOk('firewall', 'status', '--json', '-i', net.host)) as { firewalls: FirewallStatus[] }).firewalls);
  }

  before(async () => {
    requireRoot();
    ensureBpffs();
    net.create();
    rx4 = await Receiver.open('udp4', '0.0.0.0');
    rx6 = await Receiver.open('udp6', net.host6);
  });

  after(() => {
    vigil('firewall', 'detach', net.host);
    rx4?.close();
    rx6?.close();
    net.remove();
    // Pins of a firewall whose interface vanished (a failed run) go too.
    const dir = path.join(ensureBpffs().path ?? '/sys/fs/bpf', 'vigil', 'firewall', net.host);
    if (existsSync(dir)) vigil('firewall', 'detach', net.host);
  });

  test('attach in one process, block from another: the blocked source is dropped and counted, others pass', async (t) => {
    if (!(await requireFeature(t, 'xdp'))) return;
    const attached = vigilOk('firewall', 'attach', net.host);
    assert.match(attached, new RegExp(`firewall attached to ${net.host} \\(XDP (native|generic), program \\d+\\)`));
    assert.match(execFileSync('ip', ['link', 'show', net.host], { encoding: 'utf8' }), /xdp/);

    // A new process changes the running program's maps through the pins.
    assert.match(vigilOk('firewall', 'block', '-i', net.host, `${net.addr(2)}/32`, '198.51.100.0/24'),
      new RegExp(`blocking ${net.addr(2).replace(/\./g, '\\.')}/32 198\\.51\\.100\\.0/24`));
    await net.send(net.addr(2), net.hostAddr, rx4.port, 20, 'b2');
    await net.send(net.addr(3), net.hostAddr, rx4.port, 15, 'p3');
    await settle();
    assert.equal(rx4.count('b2'), 0, 'a blocked datagram arrived');
    assert.equal(rx4.count('p3'), 15);

    const s = status();
    assert.equal(s.attached, true);
    assert.equal(s.interface, net.host);
    const rule = s.rules.find((r) => r.cidr === `${net.addr(2)}/32`);
    assert.ok(rule, JSON.stringify(s.rules));
    assert.equal(rule.action, 'block');
    assert.equal(rule.packets, 20);
    assert.ok(rule.bytes >= 20 * 42, `bytes ${rule.bytes}`);
    assert.equal(s.rules.find((r) => r.cidr === '198.51.100.0/24')?.packets, 0);
    assert.equal(s.counters.droppedBlocked, 20);
    assert.equal(s.counters.droppedRateLimited, 0);
    assert.deepEqual(s.topSources[0], { address: net.addr(2), blocked: 20, rateLimited: 0, bytes: rule.bytes });
    assert.ok(s.counters.passed >= 15 + 1, `passed ${s.counters.passed}`);
    assert.equal(s.counters.seen, s.counters.passed + s.counters.droppedBlocked + s.counters.droppedRateLimited);
  });

  test('allow exceptions win over a covering block rule', async () => {
    vigilOk('firewall', 'block', '-i', net.host, `169.254.${net.net}.0/24`);
    vigilOk('firewall', 'allow', '-i', net.host, net.addr(3), net.addr(5));
    await net.send(net.addr(3), net.hostAddr, rx4.port, 7, 'a3');
    await net.send(net.addr(4), net.hostAddr, rx4.port, 6, 'b4');
    await settle(); // .5 is allowed: the marker passes
    assert.equal(rx4.count('a3'), 7);
    assert.equal(rx4.count('b4'), 0);
    const s = status();
    assert.equal(s.rules.find((r) => r.action === 'allow' && r.cidr === `${net.addr(3)}/32`)?.packets, 7);
    assert.equal(s.rules.find((r) => r.action === 'block' && r.cidr === `169.254.${net.net}.0/24`)?.packets, 6);
    // The most specific block rule counts .2's drops: /32 inside the /24.
    await net.send(net.addr(2), net.hostAddr, rx4.port, 3, 'b2again');
    await settle();
    const s2 = status();
    assert.equal(s2.rules.find((r) => r.cidr === `${net.addr(2)}/32`)?.packets, 23);
    assert.equal(s2.rules.find((r) => r.cidr === `169.254.${net.net}.0/24`)?.packets, 6);
  });

  test('unblock and unallow take effect at once', async () => {
    vigilOk('firewall', 'unblock', '-i', net.host, `169.254.${net.net}.0/24`, `${net.addr(2)}/32`);
    vigilOk('firewall', 'unallow', '-i', net.host, net.addr(3));
    const r = vigil('firewall', 'unblock', '-i', net.host, '203.0.113.0/24');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /203\.0\.113\.0\/24 was not blocked/);
    await net.send(net.addr(2), net.hostAddr, rx4.port, 5, 'u2');
    await net.send(net.addr(4), net.hostAddr, rx4.port, 5, 'u4');
    await settle();
    assert.equal(rx4.count('u2'), 5);
    assert.equal(rx4.count('u4'), 5);
    const s = status();
    assert.deepEqual(s.rules.map((x) => `${x.action} ${x.cidr}`).sort(),
      [`allow ${net.addr(5)}/32`, 'block 198.51.100.0/24']);
  });

  test('IPv6 sources are blocked by IPv6 CIDRs', async () => {
    // Neighbour discovery first, from an address no rule names (its solicitations are IPv6 too).
    await net.send(net.ns6(3), net.host6, rx6.port, 1, 'v6prime');
    assert.ok(await waitFor(() => rx6.count('v6prime') === 1, 5000), 'IPv6 datagram did not arrive');
    vigilOk('firewall', 'block', '-i', net.host, 'fe80::2/128');
    await net.send(net.ns6(2), net.host6, rx6.port, 9, 'v6b');
    await net.send(net.ns6(3), net.host6, rx6.port, 4, 'v6p');
    await net.send(net.ns6(3), net.host6, rx6.port, 1, 'v6marker');
    assert.ok(await waitFor(() => rx6.count('v6marker') === 1, 5000), 'IPv6 marker did not arrive');
    assert.equal(rx6.count('v6b'), 0);
    assert.equal(rx6.count('v6p'), 4);
    const s = status();
    // The 9 datagrams, and maybe a neighbour solicitation or two the namespace sent from fe80::2 meanwhile
    // (ICMPv6 from a blocked source is dropped like anything else).
    const hits = s.rules.find((r) => r.cidr === 'fe80::2/128')?.packets ?? 0;
    assert.ok(hits >= 9 && hits <= 12, `rule hits ${hits}`);
    assert.ok(s.topSources.some((x) => x.address === 'fe80::2' && x.blocked === hits), JSON.stringify(s.topSources));
    vigilOk('firewall', 'unblock', '-i', net.host, 'fe80::2');
  });

  test('frames with VLAN tags (802.1Q, QinQ) are parsed to their IP source', async () => {
    const src = net.addr(77);
    vigilOk('firewall', 'block', '-i', net.host, src);
    const before = status().counters;
    net.sendTagged(src, 6, '8100:100');
    net.sendTagged(src, 4, '88a8:10,8100:20');
    await settle();
    const s = status();
    assert.equal(s.rules.find((r) => r.cidr === `${src}/32`)?.packets, 10);
    assert.equal(s.counters.droppedBlocked - before.droppedBlocked, 10);
    assert.equal(s.counters.malformed, 0);
    vigilOk('firewall', 'unblock', '-i', net.host, src);
  });

  test('the rate limiter passes the burst (plus the refill) and drops the rest, per source', async () => {
    const pps = 5;
    const burst = 10;
    const k = 200;
    vigilOk('firewall', 'ratelimit', '-i', net.host, '--pps', String(pps), '--burst', String(burst));
    const before = status().counters;
    const ms = await net.send(net.addr(4), net.hostAddr, rx4.port, k, 'rl4');
    await settle(); // .5 is allowed: exempt from the limit
    const passed = rx4.count('rl4');
    // Token bucket: `burst` at once, then pps per second of the burst's span.
    // Generous: the span as the sender saw it plus a second, and one for rounding.
    const most = burst + Math.ceil(pps * (ms / 1000 + 1)) + 1;
    assert.ok(passed >= burst && passed <= most, `passed ${passed} of ${k} in ${ms} ms; expected ${burst}..${most}`);
    const s = status();
    assert.deepEqual(s.ratelimit, { pps, burst });
    assert.equal(s.counters.droppedRateLimited - before.droppedRateLimited, k - passed);
    assert.equal(s.topSources.find((x) => x.address === net.addr(4))?.rateLimited, k - passed);
    // Another source has its own bucket.
    await net.send(net.addr(3), net.hostAddr, rx4.port, burst, 'rl3');
    await settle();
    assert.equal(rx4.count('rl3'), burst);

    vigilOk('firewall', 'ratelimit', '-i', net.host, '--off');
    await net.send(net.addr(4), net.hostAddr, rx4.port, 50, 'rloff');
    await settle();
    assert.equal(rx4.count('rloff'), 50);
    assert.equal(status().ratelimit, null);
  });

  test('text status and usage errors', () => {
    const text = vigilOk('firewall', 'status', '-i', net.host);
    assert.match(text, new RegExp(`^${net.host} \\(ifindex \\d+\\): XDP \\w+, program \\d+, attached since`));
    assert.match(text, /block +198\.51\.100\.0\/24/);
    assert.match(text, /top sources by drops/);
    // A malformed CIDR is a bad value: a usage error, refused before the firewall is opened.
    assert.equal(vigil('firewall', 'block', '-i', net.host, '10.0.0.0/33').code, 2);
    assert.equal(vigil('firewall', 'block', '-i', net.host, 'nonsense').code, 2);
    assert.equal(vigil('firewall', 'ratelimit', '-i', net.host).code, 2);
    assert.equal(vigil('firewall', 'frobnicate').code, 2);
    const again = vigil('firewall', 'attach', net.host);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already attached/);
  });

  test('opening the pinned state and closing it leaks no descriptors', () => {
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const before = fds();
    for (let i = 0; i < 20; i++) {
      using fw = Firewall.open(net.host);
      fw.status();
    }
    assert.equal(fds(), before);
  });

  test('detach removes the program and the pins', () => {
    const dir = path.join(ensureBpffs().path!, 'vigil', 'firewall', net.host);
    assert.ok(existsSync(path.join(dir, 'link')) || existsSync(path.join(dir, 'prog')));
    assert.match(vigilOk('firewall', 'detach', net.host), /detached/);
    assert.ok(!existsSync(dir), 'pins left behind');
    assert.doesNotMatch(execFileSync('ip', ['link', 'show', net.host], { encoding: 'utf8' }), /xdp/);
    assert.equal(vigil('firewall', 'detach', net.host).code, 1);
    assert.equal(vigil('firewall', 'block', '-i', net.host, '10.0.0.0/8').code, 1);
  });

  test('generic mode attaches through netlink and detaches cleanly', async (t) => {
    if (!(await requireFeature(t, 'xdp'))) return;
    assert.match(vigilOk('firewall', 'attach', net.host, '--mode', 'generic'), /XDP generic/);
    assert.match(execFileSync('ip', ['link', 'show', net.host], { encoding: 'utf8' }), /xdpgeneric/);
    vigilOk('firewall', 'block', '-i', net.host, net.addr(2));
    await net.send(net.addr(2), net.hostAddr, rx4.port, 4, 'g2');
    await settle();
    assert.equal(rx4.count('g2'), 0);
    assert.equal(status().mode, 'generic');
    vigilOk('firewall', 'detach', net.host);
    assert.doesNotMatch(execFileSync('ip', ['link', 'show', net.host], { encoding: 'utf8' }), /xdp/);
  });
});
