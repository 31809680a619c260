// Real-kernel tests of the cgroup attach kinds: cgroup_skb (ingress and
// egress) and cgroup sock_addr (connect4, connect6), on a cgroup this test
// creates and moves only its own child process into. Connections go to
// loopback listeners the test owns.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { closeSync, constants, openSync } from 'node:fs';
import type { ObjectSpec, BpfObject } from '../src/bpf/object.js';
import type { Link } from '../src/bpf/link.js';
import * as codec from '../src/bpf/codec.js';
import { requireRoot } from './helpers.js';
import { AF_INET, AF_INET6 } from '../src/kernel/addr.js';
import { TestCgroup, connectHere, histogram, listenTcp, testObject } from './attach-util.js';

/** In the cgroup (TestCgroup.runScript): connect to "host:port": "ok" or the error code. */
const CONNECTER = `
const net = require('node:net');
function attempt(t) {
  const i = t.lastIndexOf(':');
  return new Promise((resolve) => {
    const s = net.connect({ host: t.slice(0, i), port: Number(t.slice(i + 1)) });
    s.once('connect', () => { s.end(); resolve('ok'); });
    s.once('error', (e) => resolve(e.code || String(e)));
  });
}
`;


/** Key of connect4_calls/connect6_calls: tgid << 32 | port. */
const callKey = (pid: number, port: number): bigint => (BigInt(pid) << 32n) | BigInt(port);

describe('cgroup attach kinds', () => {
  let spec: ObjectSpec;
  const cgroup = new TestCgroup();
  let cgroupFd = -1;
  const servers: net.Server[] = [];
  const ports = { v4: 0, v6: 0, denied: 0 };

  const listen = (host: string): Promise<number> => listenTcp(host, servers);

  /** Runs the connecter inside the cgroup; its results by target. */
  const connectFromCgroup = (targets: string[]) => cgroup.runScript(CONNECTER, targets);

  async function withAttached(obj: BpfObject, programs: string[], f: () => Promise<void>): Promise<void> {
    const links: Link[] = [];
    try {
      for (const p of programs) links.push(obj.program(p).attachCgroup(cgroupFd, cgroup.path));
      await f();
    } finally {
      for (const l of links) l.close();
    }
  }

  before(async () => {
    requireRoot();
    spec = testObject('attach');
    cgroup.create();
    cgroupFd = openSync(cgroup.path, constants.O_RDONLY | constants.O_DIRECTORY);
    ports.v4 = await listen('127.0.0.1');
    ports.v6 = await listen('::1');
    ports.denied = await listen('127.0.0.1');
  });

  after(async () => {
    for (const s of servers) s.close();
    if (cgroupFd >= 0) closeSync(cgroupFd);
    await cgroup.remove();
  });

  test('cgroup connect4 and connect6 see the connects of processes in the cgroup only', async () => {
    const obj = await spec.load({ programs: ['connect4', 'connect6'] });
    try {
      let child!: { pid: number; results: Record<string, string> };
      let here = '';
      await withAttached(obj, ['connect4', 'connect6'], async () => {
        child = await connectFromCgroup([`127.0.0.1:${ports.v4}`, `::1:${ports.v6}`]);
        here = await connectHere('127.0.0.1', ports.v4);
      });
      assert.deepEqual(child.results, { [`127.0.0.1:${ports.v4}`]: 'ok', [`::1:${ports.v6}`]: 'ok' });
      assert.equal(here, 'ok');
      assert.deepEqual(histogram(obj, 'connect4_calls', codec.u64), [[callKey(child.pid, ports.v4), 1]]);
      assert.deepEqual(histogram(obj, 'connect6_calls', codec.u64), [[callKey(child.pid, ports.v6), 1]]);
    } finally {
      obj.close();
    }
  });

  test('cgroup connect4 returning 0 refuses a port with EPERM, for the cgroup only', async () => {
    const obj = await spec.load({ programs: ['connect4'], constants: { deny_port: ports.denied } });
    try {
      let child!: { pid: number; results: Record<string, string> };
      let here = '';
      await withAttached(obj, ['connect4'], async () => {
        child = await connectFromCgroup([`127.0.0.1:${ports.denied}`, `127.0.0.1:${ports.v4}`]);
        here = await connectHere('127.0.0.1', ports.denied);
      });
      assert.deepEqual(child.results, { [`127.0.0.1:${ports.denied}`]: 'EPERM', [`127.0.0.1:${ports.v4}`]: 'ok' });
      assert.equal(here, 'ok', 'a process outside the cgroup was refused');
      assert.deepEqual(histogram(obj, 'connect4_calls', codec.u64),
        [[callKey(child.pid, ports.v4), 1], [callKey(child.pid, ports.denied), 1]]
          .sort(([a], [b]) => (a! < b! ? -1 : 1)));
      // Detached: the same port is reachable from the cgroup again.
      const again = await connectFromCgroup([`127.0.0.1:${ports.denied}`]);
      assert.deepEqual(again.results, { [`127.0.0.1:${ports.denied}`]: 'ok' });
    } finally {
      obj.close();
    }
  });

  test('cgroup_skb ingress and egress count the packets of the cgroup, IPv4 and IPv6', async () => {
    const obj = await spec.load({ programs: ['cgskb_ingress', 'cgskb_egress'] });
    try {
      let child!: { pid: number; results: Record<string, string> };
      await withAttached(obj, ['cgskb_ingress', 'cgskb_egress'], async () => {
        // The cgroup is still empty: this process's traffic (outside it) is not counted.
        assert.equal(await connectHere('127.0.0.1', ports.v4), 'ok');
        assert.equal(await connectHere('::1', ports.v6), 'ok');
        assert.deepEqual(histogram(obj, 'cgskb_ingress_families', codec.u32), []);
        assert.deepEqual(histogram(obj, 'cgskb_egress_families', codec.u32), []);
        child = await connectFromCgroup([`127.0.0.1:${ports.v4}`, `::1:${ports.v6}`]);
      });
      assert.deepEqual(child.results, { [`127.0.0.1:${ports.v4}`]: 'ok', [`::1:${ports.v6}`]: 'ok' });
      for (const dir of ['ingress', 'egress']) {
        const families = new Map(histogram(obj, `cgskb_${dir}_families`, codec.u32));
        // A TCP connect and close: SYN/ACK/FIN out, SYN-ACK/ACK/FIN in, each family.
        assert.ok((families.get(AF_INET) ?? 0) >= 2, `${dir} IPv4 packets: ${JSON.stringify([...families])}`);
        assert.ok((families.get(AF_INET6) ?? 0) >= 2, `${dir} IPv6 packets: ${JSON.stringify([...families])}`);
        assert.deepEqual([...families.keys()].filter((f) => f !== AF_INET && f !== AF_INET6), []);
      }
    } finally {
      obj.close();
    }
  });
});
