// Real-kernel tests of the packet attach kinds: XDP (link and generic mode)
// and TC clsact ingress/egress on a veth pair this test creates between
// this network namespace and one of its own, and a socket filter on a
// loopback UDP socket. No traffic leaves the pair or loopback.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import type { ObjectSpec, BpfObject } from '../src/bpf/object.js';
import { requireRoot, waitFor } from './helpers.js';
import { VethPair, counter, testObject, udpSocketFd } from './attach-util.js';

/** In the namespace: echo n datagrams back to their sender, then exit. */
const ECHO = `
const dgram = require('node:dgram');
const [addr, port, n] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
let k = 0;
s.on('message', (m, r) => s.send(m, r.port, r.address, () => { if (++k >= Number(n)) s.close(); }));
s.bind(Number(port), addr, () => console.log('ready'));
setTimeout(() => process.exit(3), 10000).unref();
`;

const ECHO_PORT = 7000 + (process.pid % 1000);

/**
 * Sends n datagrams from this namespace's end of the pair to an echo server
 * in the other namespace and waits for the n echoes: n packets leave through
 * the host end (egress, to ECHO_PORT) and n arrive on it (ingress, from ECHO_PORT).
 */
async function echoRound(veth: VethPair, n: number): Promise<void> {
  const server = veth.nodeInNs(ECHO, [veth.nsAddr, String(ECHO_PORT), String(n)]);
  const sock = dgram.createSocket('udp4');
  try {
    await server.line(/^ready$/);
    sock.bind(0, veth.hostAddr);
    await once(sock, 'listening');
    const got: string[] = [];
    sock.on('message', (m) => got.push(m.toString()));
    for (let i = 0; i < n; i++) sock.send(`echo ${i}`, ECHO_PORT, veth.nsAddr);
    assert.ok(await waitFor(() => got.length >= n, 5000), `only ${got.length} of ${n} echoes came back`);
    assert.deepEqual(got.sort(), Array.from({ length: n }, (_, i) => `echo ${i}`).sort());
    assert.equal(await server.exit(), 0, server.errors);
  } finally {
    sock.close();
    server.kill();
  }
}

describe('packet attach kinds', () => {
  let spec: ObjectSpec;
  const veth = new VethPair();

  before(() => {
    requireRoot();
    spec = testObject('attach');
    veth.create();
  });

  after(() => {
    veth.remove();
  });

  const loadNet = (programs: string[]): Promise<BpfObject> =>
    spec.load({ programs, constants: { watch_port: ECHO_PORT } });

  test('XDP (bpf_link) on a veth counts the UDP packets that arrive on it', async () => {
    const obj = await loadNet(['xdp_count']);
    try {
      const link = obj.program('xdp_count').attachXdp(veth.ifindex);
      try {
        await echoRound(veth, 5);
      } finally {
        link.close();
      }
      assert.equal(counter(obj, 'xdp_hits'), 5);
      await echoRound(veth, 2); // detached: not counted
      assert.equal(counter(obj, 'xdp_hits'), 5);
    } finally {
      obj.close();
    }
  });

  test('XDP in generic mode (netlink) on a veth counts the UDP packets that arrive on it', async () => {
    const obj = await loadNet(['xdp_count']);
    try {
      const att = obj.program('xdp_count').attachXdpMode(veth.ifindex, 'generic');
      try {
        await echoRound(veth, 4);
      } finally {
        att.close();
      }
      assert.equal(counter(obj, 'xdp_hits'), 4);
      await echoRound(veth, 2);
      assert.equal(counter(obj, 'xdp_hits'), 4);
    } finally {
      obj.close();
    }
  });

  test('TC clsact ingress and egress on a veth count the UDP packets in each direction', async () => {
    const obj = await loadNet(['tc_ingress', 'tc_egress']);
    try {
      const ingress = obj.program('tc_ingress').attachTc(veth.ifindex, 'ingress');
      try {
        const egress = obj.program('tc_egress').attachTc(veth.ifindex, 'egress');
        try {
          await echoRound(veth, 6);
          assert.equal(counter(obj, 'tc_egress_hits'), 6);
          assert.equal(counter(obj, 'tc_ingress_hits'), 6);
          // The ingress filter made the clsact qdisc both share: closing it
          // first must leave the egress filter working.
          ingress.close();
          assert.ok(veth.hasClsact(), 'clsact qdisc removed while the egress filter is attached');
          await echoRound(veth, 1);
          assert.equal(counter(obj, 'tc_egress_hits'), 7);
          assert.equal(counter(obj, 'tc_ingress_hits'), 6);
        } finally {
          egress.close();
        }
      } finally {
        ingress.close();
      }
      assert.ok(!veth.hasClsact(), 'clsact qdisc left behind after the last filter closed');
      await echoRound(veth, 1);
      assert.equal(counter(obj, 'tc_egress_hits'), 7);
      assert.equal(counter(obj, 'tc_ingress_hits'), 6);
    } finally {
      obj.close();
    }
  });

  test('socket filter on a loopback UDP socket counts datagrams and drops the marked ones', async () => {
    const magic = Buffer.from('DROP');
    const obj = await spec.load({ programs: ['sockfilter'], constants: { drop_magic: magic.readUInt32LE(0) } });
    const rx = dgram.createSocket('udp4');
    const tx = dgram.createSocket('udp4');
    try {
      rx.bind(0, '127.0.0.1');
      await once(rx, 'listening');
      const port = rx.address().port;
      const got: string[] = [];
      rx.on('message', (m) => got.push(m.toString()));
      const send = async (msg: string): Promise<void> => {
        await new Promise<void>((resolve, reject) => tx.send(msg, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      };

      const att = obj.program('sockfilter').attachSocketFilter(udpSocketFd(rx));
      try {
        for (let i = 0; i < 4; i++) {
          await send(`DROP ${i}`);
          await send(`KEEP ${i}`);
        }
        assert.ok(await waitFor(() => counter(obj, 'sockfilter_seen') >= 8 && got.length >= 4, 5000),
          `seen ${counter(obj, 'sockfilter_seen')}, received ${JSON.stringify(got)}`);
      } finally {
        att.close();
      }
      assert.equal(counter(obj, 'sockfilter_seen'), 8);
      assert.equal(counter(obj, 'sockfilter_dropped'), 4);
      // Detached: a marked datagram is delivered again.
      await send('DROP after');
      assert.ok(await waitFor(() => got.includes('DROP after'), 5000), 'datagram after detach did not arrive');
      assert.deepEqual(got, ['KEEP 0', 'KEEP 1', 'KEEP 2', 'KEEP 3', 'DROP after']);
      assert.equal(counter(obj, 'sockfilter_seen'), 8);
    } finally {
      rx.close();
      tx.close();
      obj.close();
    }
  });
});
