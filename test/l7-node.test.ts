// The L7 sensor with Node's own HTTP/1.1 server and client, in a child
// process, over IPv4 and IPv6 loopback: no server package needed, so the
// kernel matrix runs it on every kernel (each build of the sensor's objects:
// with direct loads and with helper reads). Exact counts per route and
// status on both sides, and each record's ends; and the kernel's HTTP/1.x
// histograms from a cgroup's packets (capture: { packets }), with the pair in
// a cgroup the test makes.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { TestCgroup } from './attach-util.js';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { L7Sensor } from '../src/l7/sensor.js';
import type { L7Record } from '../src/l7/types.js';
import { kernelSuite, missingFeature, waitFor } from './helpers.js';

/** ::1 is configured (on lo): /proc/net/if_inet6 lists it; no file, no IPv6 at all. */
function hasIpv6Loopback(): boolean {
  try {
    return /^0{31}1 /m.test(readFileSync('/proc/net/if_inet6', 'utf8'));
  } catch {
    return false;
  }
}

/** A server on host and a keep-alive client of it, one connection, four requests; prints the port and statuses. */
const SCRIPT = `const http = require('node:http');
const host = process.argv[2];
const s = http.createServer((req, res) => {
  const ok = req.url.startsWith('/items/');
  res.writeHead(ok ? 200 : 404, { 'content-type': 'text/plain' });
  res.end(ok ? 'item' : '');
});
s.listen(0, host, async () => {
  const port = s.address().port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (p) => new Promise((ok, bad) => http.get({ host, port, path: p, agent }, (r) => {
    r.resume();
    r.on('end', () => ok(r.statusCode));
  }).on('error', bad));
  const codes = [];
  for (const p of ['/items/1', '/items/2', '/items/3', '/missing']) codes.push(await get(p));
  console.log(JSON.stringify({ port, codes }));
  agent.destroy();
  s.close();
});
`;

describe('L7 sensor, Node http on loopback', () => {
  const suite = kernelSuite(() => missingFeature(['tracepoint']), 'vigil-l7-node-');

  for (const host of ['127.0.0.1', '::1']) {
    test(`${host}: four keep-alive requests, counted per route and status on both sides, with both ends`, async (t) => {
      if (host === '::1' && !hasIpv6Loopback()) return t.skip('no IPv6 loopback here (/proc/net/if_inet6 has no ::1)');
      const script = path.join(suite.tmp, 'http-pair.cjs');
      writeFileSync(script, SCRIPT);
      const records: L7Record[] = [];
      const s = await L7Sensor.start({ protocols: new Set(['http']), onRecord: (r) => records.push(r), pollIntervalMs: 20 });
      try {
        const r = spawnSync(process.execPath, [script, host], { encoding: 'utf8', timeout: 30_000 });
        assert.equal(r.status, 0, r.stderr);
        const { port, codes } = JSON.parse(r.stdout) as { port: number; codes: number[] };
        assert.deepEqual(codes, [200, 200, 200, 404]);
        const side = (role: string) => records.filter((x) => x.role === role && (role === 'server' ? x.local : x.remote).port === port);
        assert.ok(await waitFor(() => side('server').length >= 4 && side('client').length >= 4, 5000),
          records.map((x) => `${x.role} ${x.comm} ${x.local.ip}:${x.local.port} ${x.remote.ip}:${x.remote.port}`).join('; '));
        const count = (rs: L7Record[], key: (x: L7Record) => string) => {
          const out: Record<string, number> = {};
          for (const x of rs) out[`${key(x)} ${x.status}`] = (out[`${key(x)} ${x.status}`] ?? 0) + 1;
          return out;
        };
        assert.deepEqual(count(side('server'), (x) => `${x.method} ${x.route}`), { 'GET /items/{id} 200': 3, 'GET /missing 404': 1 });
        assert.deepEqual(count(side('client'), (x) => `${x.method} ${x.target}`),
          { 'GET /items/1 200': 1, 'GET /items/2 200': 1, 'GET /items/3 200': 1, 'GET /missing 404': 1 });
        // One connection: every record has the same two ends, each side's the other's mirror.
        const ends = new Set([...side('server').map((x) => `${x.local.ip}:${x.local.port} ${x.remote.ip}:${x.remote.port}`),
          ...side('client').map((x) => `${x.remote.ip}:${x.remote.port} ${x.local.ip}:${x.local.port}`)]);
        assert.equal(ends.size, 1, [...ends].join(', '));
        const [sv] = side('server');
        assert.deepEqual([sv!.local.ip, sv!.remote.ip], [host, host]);
        assert.notEqual(sv!.remote.port, port);
      } finally {
        s.close();
      }
    });
  }
});

describe('L7 sensor, HTTP/1.x histograms from a cgroup\'s packets', () => {
  const suite = kernelSuite(() => missingFeature(['cgroup_skb']), 'vigil-l7-pkt-');

  for (const host of ['127.0.0.1', '::1']) {
    test(`${host}: the pair in a test cgroup, each side's exchanges counted per route and status`, async (t) => {
      if (suite.skip) return t.skip(suite.skip);
      if (host === '::1' && !hasIpv6Loopback()) return t.skip('no IPv6 loopback here (/proc/net/if_inet6 has no ::1)');
      const script = path.join(suite.tmp, 'http-pair.cjs');
      writeFileSync(script, SCRIPT);
      const cg = new TestCgroup('l7pkt');
      cg.create();
      try {
        const s = await L7Sensor.start({ protocols: new Set(['http']), onRecord: () => {}, records: false, tls: false,
          histograms: {}, capture: { packets: cg.path } });
        try {
          // Its sockets are made after it joined the cgroup: the shell moves itself in, then becomes node.
          const r = spawnSync('sh', ['-c', `echo $$ > '${cg.path}/cgroup.procs' && exec '${process.execPath}' '${script}' '${host}'`],
            { encoding: 'utf8', timeout: 30_000 });
          assert.equal(r.status, 0, r.stderr);
          const { port, codes } = JSON.parse(r.stdout) as { port: number; codes: number[] };
          assert.deepEqual(codes, [200, 200, 200, 404]);
          const rows = s.httpHistograms().endpoints.filter((e) => e.port === port)
            .map((e) => `${e.role} ${e.comm}|${e.remote ?? ''} ${e.method} ${e.route} ${e.count}/${e.errors}`).sort();
          // Servers count 5xx as errors, clients 4xx too; a segment has no process (comm empty).
          assert.deepEqual(rows, [
            `client |${host} GET /items/{id} 3/0`, `client |${host} GET /missing 1/1`,
            'server | GET /items/{id} 3/0', 'server | GET /missing 1/0',
          ]);
          const all = s.httpHistograms();
          assert.equal(all.overflowed, 0n);
          for (const e of all.endpoints.filter((x) => x.port === port)) {
            assert.equal(e.hist.counts.reduce((a, b) => a + b, 0), e.count, `${e.route}: one bucket per exchange`);
            assert.ok(e.sumNs > 0n);
          }
          // Nothing outside the cgroup is seen: a pair in this process (not in it) is not counted.
          const here = spawnSync(process.execPath, [script, host], { encoding: 'utf8', timeout: 30_000 });
          assert.equal(here.status, 0, here.stderr);
          const outside = (JSON.parse(here.stdout) as { port: number }).port;
          assert.deepEqual(s.httpHistograms().endpoints.filter((e) => e.port === outside), []);
        } finally {
          s.close();
        }
      } finally {
        await cg.remove();
      }
    });
  }
});
