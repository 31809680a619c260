// The service map (src/l7/servicemap.ts) and `vigil servicemap`: curl against
// Python's http.server on loopback, both on this host, so the edge joins the
// two processes and each request counts once (seen by both sides); exact
// counts of requests and errors. The map's rules, pure.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { kernelSuite, missingFeature } from './helpers.js';
import { runVigil, VIGIL } from './observe-util.js';
import { pythonHttp, type Server } from './l7-servers.js';
import { ServiceMap, serviceMapDot } from '../src/l7/servicemap.js';
import type { L7Record } from '../src/l7/types.js';

describe('the service map (pure)', () => {
  const rec = (role: 'server' | 'client', comm: string, clientPort: number, status: number, latencyNs: number,
    server = { ip: '10.0.0.2', port: 80 }): L7Record => {
    const client = { ip: '10.0.0.1', port: clientPort };
    return {
      protocol: 'http', role, pid: 1, tid: 1, comm, cgroupId: 1n, local: role === 'server' ? server : client,
      remote: role === 'server' ? client : server, startBootNs: 0n, endBootNs: BigInt(latencyNs), requestBytes: 1, responseBytes: 1,
      method: 'GET', status, error: status >= 500,
    };
  };

  test('both sides local: one edge between the processes, each request once; remote sides by address', () => {
    const m = new ServiceMap();
    for (let i = 0; i < 4; i++) {
      m.observe(rec('server', 'api', 5000, i === 3 ? 500 : 200, 2_000_000));
      m.observe(rec('client', 'web', 5000, i === 3 ? 500 : 200, 3_000_000));
    }
    m.observe(rec('client', 'web', 5001, 200, 1_000_000, { ip: '192.0.2.9', port: 443 }));
    m.observe(rec('server', 'api', 6000, 200, 1_000_000));
    const edges = m.edges();
    assert.deepEqual(edges.map((e) => [e.from, e.to, e.requests, e.errors]),
      [['web', 'api', 4, 1], ['10.0.0.1', 'api', 1, 0], ['web', '192.0.2.9:443', 1, 0]]);
    // The server's latency: 2 ms (its bucket's upper bound, within 12.5%).
    assert.ok(edges[0]!.p50Ns >= 2_000_000 && edges[0]!.p50Ns <= 2_250_000, String(edges[0]!.p50Ns));
    assert.match(serviceMapDot(edges, 2), /"web" -> "api" \[label="http 2.00 req\/s, 1 err\\np50 [\d.]+ms p99 [\d.]+ms", color=red\];/);
  });

  test('bounded: connections beyond the table are folded into their edges, counts kept', () => {
    const m = new ServiceMap(undefined, 2);
    for (let p = 0; p < 10; p++) {
      m.observe(rec('server', 'api', 7000 + p, 200, 1000));
      m.observe(rec('client', 'web', 7000 + p, 200, 1000));
    }
    assert.deepEqual(m.edges().map((e) => [e.from, e.to, e.requests]), [['web', 'api', 10]]);
    assert.equal(m.folded, 8);
  });
});

describe('vigil servicemap', { timeout: 120_000 }, () => {
  const suite = kernelSuite(() => missingFeature(['tracepoint']), 'vigil-servicemap-');
  let srv: Server | undefined;
  after(async () => srv?.stop());

  test('curl → python3 on loopback: the edge with exact counts, JSON and DOT', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    srv = await pythonHttp(suite.tmp);
    const base = `http://127.0.0.1:${srv.port}`;
    const urls = [`${base}/users/1`, `${base}/users/2`, `${base}/users/3`, `${base}/fail`, `${base}/nothing`];
    for (const format of ['json', 'dot']) {
      const run = await runVigil(['servicemap', '--protocols', 'http', '--format', format, '--duration', '60'], (vigil) => {
        const r = spawnSync('curl', ['-s', ...urls.flatMap(() => ['-o', '/dev/null']), ...urls], { encoding: 'utf8', timeout: 30_000 });
        assert.equal(r.status, 0, r.stderr);
        vigil.child.kill('SIGINT');
      }, { timeoutMs: 60_000 });
      assert.equal(run.code, 0, run.stderr);
      if (format === 'json') {
        const map = JSON.parse(run.stdout) as { seconds: number; edges: { from: string; to: string; requests: number; errors: number;
          p99Ns: number; requestsPerS: number }[] };
        const edge = map.edges.find((e) => e.from === 'curl' && e.to === 'python3');
        assert.ok(edge, run.stdout);
        assert.equal(edge.requests, 5);
        assert.equal(edge.errors, 1, 'the 500 (the server\'s side counts: 5xx)');
        assert.ok(edge.p99Ns > 0);
        assert.equal(map.edges.filter((e) => e.to.endsWith(`:${srv!.port}`)).length, 0, 'not counted again by address');
      } else {
        assert.match(run.stdout, /^digraph vigil_service_map \{/);
        assert.match(run.stdout, /"curl" -> "python3" \[label="http [\d.]+ req\/s, 1 err\\np50 /);
      }
    }
  });

  test('bad flags: one line, status 2', async () => {
    for (const [args, msg] of [[['--format', 'svg'], /--format: unknown format "svg"/], [['--protocols', 'ftp'], /--protocols: unknown protocol "ftp"/],
      [['--duration', '0'], /--duration: expected a positive number/], [['--socket', '/x', '--duration', '5'], /--socket: /]] as const) {
      const r = spawnSync(process.execPath, [VIGIL, 'servicemap', ...args], { encoding: 'utf8' });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
