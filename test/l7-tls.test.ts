// TLS plaintext in the L7 sensor (uprobes), against real servers and clients
// on loopback with a certificate made here: curl (OpenSSL) and gnutls-cli
// (GnuTLS) against nginx (OpenSSL), curl against Node's https server (its
// static OpenSSL) and against a Go server built here (crypto/tls: uprobes on
// its RETs, the server must live on and answer every request); HTTP/2 over
// TLS (ALPN h2: Node's http2 secure server, its client, curl --http2) and
// gRPC over TLS (grpc-js). Exact counts per path and status, on both sides
// where both are TLS, and Node's records with their sockets' ends.
import { test, describe, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { L7Sensor, tlsNotes } from '../src/l7/sensor.js';
import { goVersion, planFile, planTls, returnOffsets } from '../src/l7/tls.js';
import type { L7Protocol, L7Record } from '../src/l7/types.js';
import { kernelSuite, missingFeature, openFdCount, runCli, waitFor } from './helpers.js';
import { buildGoHttps, goHttps, grpcClient, grpcServer, nginx, nodeHttp2, nodeHttps, selfSignedCert, type Server } from './l7-servers.js';
import { jsonLines, observeRun } from './observe-util.js';

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 30_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** "PATH STATUS" counts of the records that pass `keep`. */
function counts(records: readonly L7Record[], keep: (r: L7Record) => boolean): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records.filter(keep)) {
    const k = `${r.method} ${r.target ?? ''} ${r.status}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

test('RET offsets: the returns of x86-64 code, by decoding it (not bytes that merely equal 0xc3)', () => {
  // mov ebx, 0xc3; ret; nop; add rsp, 8; ret
  const code = Uint8Array.from([0xbb, 0xc3, 0, 0, 0, 0xc3, 0x90, 0x48, 0x83, 0xc4, 0x08, 0xc3]);
  assert.deepEqual(returnOffsets(code, 0x1000), [0x1005, 0x100b]);
});

test('a file that is no TLS library says so', () => {
  const r = planFile('/bin/true');
  assert.ok('problem' in r && r.problem?.reason.startsWith('defines none of SSL_read'), JSON.stringify(r));
});

test('the Go version from .go.buildinfo (inline strings, Go 1.18+)', () => {
  const head = Buffer.alloc(32);
  head.write('\xff Go buildinf:', 0, 'latin1');
  head[14] = 8;
  head[15] = 2;
  const v = Buffer.from('go1.19.8');
  assert.equal(goVersion(Buffer.concat([head, Buffer.from([v.length]), v, Buffer.from([0])])), 'go1.19.8');
  assert.equal(goVersion(Buffer.from('not build info at all, not at all')), undefined);
});

test('a named file that cannot be opened is a problem, with why', () => {
  const { problems } = planTls(['/nonexistent/tls-server']);
  assert.deepEqual(problems.filter((p) => p.name === '/nonexistent/tls-server'), [{ name: '/nonexistent/tls-server', reason: 'cannot open it: ENOENT' }]);
});

test('observe: --l7-no-tls and --l7-tls-binary need an L7 sensor, and not both', () => {
  const a = runCli('observe', '--sensors', 'exec', '--l7-no-tls');
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--l7-no-tls: for L7 records/);
  const b = runCli('observe', '--sensors', 'http', '--l7-no-tls', '--l7-tls-binary', '/bin/true');
  assert.equal(b.code, 2);
  assert.match(b.stderr, /--l7-tls-binary: TLS capture is off/);
});

describe('L7 sensor: TLS plaintext through uprobes', () => {
  const suite = kernelSuite(() => missingFeature(['tracepoint', 'uprobe']), 'vigil-l7tls-');
  let fds = 0;
  let tls: { cert: string; key: string };
  const servers: Server[] = [];
  before(() => {
    fds = openFdCount();
  });
  after(async () => {
    for (const s of servers.splice(0)) await s.stop();
  });

  /**
   * Starts the server (before the sensor: its executable is found among the processes), then
   * the sensor (rescanning the processes every 200 ms); stops both after body.
   */
  async function traced<S extends Server>(t: TestContext, start: (tmp: string) => Promise<S>,
    body: (srv: S, records: L7Record[], sensor: L7Sensor) => Promise<void>, protocols: L7Protocol[] = ['http']): Promise<void> {
    if (suite.skip) return t.skip(suite.skip);
    tls ??= selfSignedCert(suite.tmp);
    const srv = await start(suite.tmp);
    servers.push(srv);
    const records: L7Record[] = [];
    const s = await L7Sensor.start({ protocols: new Set(protocols), onRecord: (r) => records.push(r), pollIntervalMs: 20,
      tls: { rescanMs: 200 } });
    try {
      const rep = s.tlsReport();
      assert.equal(rep.off, undefined);
      t.diagnostic(`tls attached: ${rep.attached.map((a) => `${a.library} ${a.name} (${a.probes} probes)`).join('; ')}`);
      for (const f of rep.failed) t.diagnostic(`tls not attached: ${f.name}: ${f.reason}`);
      await body(srv, records, s);
    } finally {
      s.close();
      await srv.stop();
    }
  }

  test('curl (OpenSSL) and gnutls-cli (GnuTLS) against nginx over TLS: both ends, plaintext', async (t) => {
    await traced(t, (tmp) => nginx(tmp, tls), async (srv, records, s) => {
      const base = `https://127.0.0.1:${srv.port}`;
      // One connection, keep-alive, HTTP/1.1 (HTTP/2 over TLS has its own test below).
      run('curl', ['-sk', '--http1.1', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null',
        `${base}/api/ok`, `${base}/api/ok?token=secret`, `${base}/missing`, `${base}/api/ok`]);
      run('gnutls-cli', ['--insecure', '--no-ca-verification', '-p', String(srv.port), '127.0.0.1'],
        'GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const server = (r: L7Record): boolean => r.role === 'server' && r.local.port === srv.port;
      const want = { 'GET /api/ok 200': 3, 'GET /api/ok?token=? 200': 1, 'GET /missing 404': 1, 'GET /nothing 404': 1 };
      const got = (): Record<string, number> => counts(records, server);
      await waitFor(() => Object.values(got()).reduce((a, b) => a + b, 0) >= 6, 10_000, 20);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(got(), want);
      for (const r of records.filter(server)) {
        assert.equal(r.tls, 'openssl');
        assert.equal(r.comm, 'nginx');
        assert.equal(r.local.ip, '127.0.0.1');
        assert.ok(r.endBootNs > r.startBootNs);
      }
      const client = (lib: string) => (r: L7Record): boolean => r.role === 'client' && r.remote.port === srv.port && r.tls === lib;
      assert.deepEqual(counts(records, client('openssl')), { 'GET /api/ok 200': 2, 'GET /api/ok?token=? 200': 1, 'GET /missing 404': 1 });
      assert.deepEqual(counts(records, client('gnutls')), { 'GET /api/ok 200': 1, 'GET /nothing 404': 1 });
      assert.ok(records.filter(client('gnutls')).every((r) => r.comm === 'gnutls-cli'));
      assert.ok(records.filter(client('openssl')).every((r) => r.comm === 'curl'));
      // The ciphertext on the same sockets is no protocol: nothing else on the port.
      assert.equal(records.filter((r) => (r.local.port === srv.port || r.remote.port === srv.port) && !r.tls).length, 0);
      assert.equal(s.l7Stats().tracker.unanswered, 0);
    });
  });

  test("Node's https server (static OpenSSL in the node executable)", async (t) => {
    await traced(t, (tmp) => nodeHttps(tmp, tls), async (srv, records, s) => {
      const base = `https://127.0.0.1:${srv.port}`;
      run('curl', ['-sk', '--http1.1', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', `${base}/ok`, `${base}/ok`, `${base}/no`]);
      const server = (r: L7Record): boolean => r.role === 'server' && r.pid === srv.pid;
      await waitFor(() => records.filter(server).length >= 3, 10_000, 20);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(counts(records, server), { 'GET /ok 200': 2, 'GET /no 404': 1 });
      assert.ok(records.filter(server).every((r) => r.tls === 'openssl' && r.comm === 'node'));
      assert.ok(s.tlsReport().attached.some((a) => a.library === 'openssl' && a.name === process.execPath));
      // Node's memory BIOs: the socket found from the ciphertext its writes carry, so both ends are known.
      const curl = records.find((r) => r.role === 'client' && r.comm === 'curl' && r.remote.port === srv.port);
      assert.ok(curl, 'curl (OpenSSL, a socket BIO) is seen too');
      for (const r of records.filter(server)) {
        assert.deepEqual([r.local, r.remote], [{ ip: '127.0.0.1', port: srv.port }, curl.local]);
      }
      assert.equal(s.l7Stats().kernel.tlsNoSocket, 0n);
      assert.ok(s.l7Stats().kernel.tlsBound >= 1n);
    });
  });

  /** "ROLE PATH STATUS" counts of the records of port's connections, HTTP/2 each. */
  function h2Counts(records: readonly L7Record[], port: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of records.filter((x) => x.local.port === port || x.remote.port === port)) {
      assert.equal(r.http?.version, '2', `${r.role} ${r.target}: HTTP/2`);
      assert.equal(r.tls, 'openssl');
      const k = `${r.role} ${r.comm} ${r.method} ${r.target} ${r.status}`;
      out[k] = (out[k] ?? 0) + 1;
    }
    return out;
  }

  test("HTTP/2 over TLS (ALPN h2): Node's http2 secure server, Node's http2 client and curl --http2; both ends, their tuples", async (t) => {
    await traced(t, (tmp) => nodeHttp2(tmp, tls), async (srv, records, s) => {
      const client = `${suite.tmp}/h2-tls-client.cjs`;
      writeFileSync(client, `const http2 = require('node:http2');
const c = http2.connect('https://127.0.0.1:${srv.port}', { ca: require('node:fs').readFileSync(${JSON.stringify(tls.cert)}) });
const get = (p) => new Promise((ok, fail) => {
  const r = c.request({ ':path': p });
  r.on('response', () => {}); r.resume(); r.on('end', ok); r.on('error', fail); r.end();
});
(async () => {
  for (const p of ['/users/1', '/users/2', '/fail', '/nothing']) await get(p);
  await Promise.all(['/users/3', '/users/4'].map(get));
  c.close();
})().catch((e) => { console.error(e.message); process.exit(1); });
`);
      run(process.execPath, [client]);
      const base = `https://127.0.0.1:${srv.port}`;
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      assert.equal(run('curl', ['-sk', '--http2', '-H', `traceparent: ${traceparent}`, '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-w', '%{http_version} %{http_code},',
        `${base}/users/9`, `${base}/nope`, `${base}/users/9`]), '2 200,2 404,2 200,');
      await waitFor(() => Object.values(h2Counts(records, srv.port)).reduce((a, b) => a + b, 0) >= 18, 10_000, 20);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(h2Counts(records, srv.port), {
        'server node GET /users/1 200': 1, 'server node GET /users/2 200': 1, 'server node GET /fail 500': 1,
        'server node GET /nothing 404': 1, 'server node GET /users/3 200': 1, 'server node GET /users/4 200': 1,
        'client node GET /users/1 200': 1, 'client node GET /users/2 200': 1, 'client node GET /fail 500': 1,
        'client node GET /nothing 404': 1, 'client node GET /users/3 200': 1, 'client node GET /users/4 200': 1,
        'server node GET /users/9 200': 2, 'server node GET /nope 404': 1,
        'client curl GET /users/9 200': 2, 'client curl GET /nope 404': 1,
      });
      // Every record has both ends, and each server record's remote end is a client record's local one.
      const mine = records.filter((r) => r.local.port === srv.port || r.remote.port === srv.port);
      const clientEnds = new Set(mine.filter((r) => r.role === 'client').map((r) => `${r.local.ip}:${r.local.port}`));
      for (const r of mine.filter((x) => x.role === 'server')) {
        assert.equal(r.local.port, srv.port);
        assert.ok(clientEnds.has(`${r.remote.ip}:${r.remote.port}`), `${r.target}: from ${r.remote.ip}:${r.remote.port}`);
      }
      assert.equal(clientEnds.size, 2, 'two connections: the node client and curl');
      // curl's traceparent (HPACK-coded) is its requests' trace context: its spans' parent.
      const traced = mine.filter((r) => r.http?.traceparent);
      assert.deepEqual(traced.map((r) => `${r.role} ${r.comm}`).sort(), [...Array(3).fill('client curl'), ...Array(3).fill('server node')]);
      assert.ok(traced.every((r) => r.http!.traceparent!.traceId === '4bf92f3577b34da6a3ce929d0e0e4736' &&
        r.http!.traceparent!.parentSpanId === '00f067aa0ba902b7'));
      assert.equal(s.l7Stats().kernel.tlsNoSocket, 0n);
      assert.equal(s.l7Stats().tracker.unanswered, 0);
    });
  });

  test('gRPC over TLS: @grpc/grpc-js server and client with TLS credentials; grpc-status on both ends', async (t) => {
    await traced(t, (tmp) => grpcServer(tmp, tls), async (srv, records, s) => {
      assert.equal(run(process.execPath, [grpcClient(suite.tmp, srv.port, tls.cert)]).trim(), '0,0,5,0,5');
      const mine = (): L7Record[] => records.filter((r) => r.local.port === srv.port || r.remote.port === srv.port);
      await waitFor(() => mine().length >= 10, 10_000, 20);
      await new Promise((r) => setTimeout(r, 200));
      const key = (r: L7Record): string => `${r.role} ${r.tls} ${r.protocol} ${r.target} ${r.status} ${r.error}`;
      const got: Record<string, number> = {};
      for (const r of mine()) got[key(r)] = (got[key(r)] ?? 0) + 1;
      assert.deepEqual(got, {
        'server openssl grpc /demo.Greeter/SayHello 0 false': 3, 'server openssl grpc /demo.Greeter/SayHello 5 false': 2,
        'client openssl grpc /demo.Greeter/SayHello 0 false': 3, 'client openssl grpc /demo.Greeter/SayHello 5 true': 2,
      });
      assert.ok(mine().every((r) => r.grpc?.service === 'demo.Greeter' && r.grpc.method === 'SayHello' && r.local.ip === '127.0.0.1'));
      assert.equal(s.l7Stats().kernel.tlsNoSocket, 0n);
    }, ['grpc']);
  });

  test('a Go HTTPS server started after the sensor (found by its rescan; uprobes on its RETs): every request seen, the server lives on', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const exe = buildGoHttps(suite.tmp);
    let srv: Server | undefined;
    // The server starts once the sensor runs: the rescan finds it.
    await traced(t, async () => ({ port: 0, pid: 0, stop: async () => srv?.stop() }), async (_, records, s) => {
      const go = srv = await goHttps(exe, tls);
      assert.ok(await waitFor(() => s.tlsReport().attached.some((a) => a.library === 'go' && a.name === exe), 10_000, 50),
        `the Go server is attached: ${JSON.stringify(s.tlsReport())}`);
      const base = `https://127.0.0.1:${go.port}`;
      const paths = ['/a/1', '/a/2', '/missing', '/a/3', '/missing'];
      for (let i = 0; i < 4; i++) run('curl', ['-sk', '--http1.1', ...paths.flatMap(() => ['-o', '/dev/null']), ...paths.map((p) => base + p)]);
      // The server answered every request it was sent: it counted them, and lives.
      assert.equal(run('curl', ['-sk', '--http1.1', `${base}/count`]), String(4 * paths.length));
      assert.equal(spawnSync('kill', ['-0', String(go.pid)]).status, 0, 'the Go server is alive');
      const server = (r: L7Record): boolean => r.role === 'server' && r.pid === go.pid;
      await waitFor(() => records.filter(server).length >= 21, 10_000, 20);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(counts(records, server),
        { 'GET /a/1 200': 4, 'GET /a/2 200': 4, 'GET /a/3 200': 4, 'GET /missing 404': 8, 'GET /count 200': 1 });
      // The offsets to its socket from its own DWARF (the test's build keeps it).
      assert.deepEqual(s.tlsReport().attached.find((a) => a.name === exe)?.goLayout, { conn: 0, fd: 0, sysfd: 16, source: 'dwarf' });
      for (const r of records.filter(server)) {
        assert.equal(r.tls, 'go');
        // The socket from the tls.Conn's net.Conn: the tuple is known.
        assert.equal(r.local.port, go.port);
        assert.equal(r.local.ip, '127.0.0.1');
      }
    });
  });

  test('a Go binary without DWARF (-ldflags=-w): the offsets are assumed, and the note says so', (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const withDwarf = planFile(buildGoHttps(suite.tmp));
    assert.ok('target' in withDwarf);
    assert.equal(withDwarf.target.goLayout?.source, 'dwarf');
    const exe = buildGoHttps(suite.tmp, '-w');
    const r = planFile(exe);
    assert.ok('target' in r, 'problem' in r ? r.problem?.reason : '');
    assert.deepEqual(r.target.goLayout, { conn: 0, fd: 0, sysfd: 16, source: 'assumed', reason: 'no DWARF (built with -ldflags=-w, or stripped)' });
    // Both give the probes the same cookie: the layout has not changed.
    const cookies = (p: typeof r.target.probes): (bigint | undefined)[] => p.filter((x) => x.program !== 'tls_go_ret').map((x) => x.cookie);
    assert.deepEqual(cookies(r.target.probes), cookies(withDwarf.target.probes));
    assert.deepEqual(tlsNotes({ attached: [{ library: 'go', name: exe, probes: 4, goLayout: r.target.goLayout }], failed: [] }),
      [`TLS plaintext from ${exe} (go): the offsets to its sockets are assumed (those of Go 1.9 and later), no DWARF (built with -ldflags=-w, or stripped)`]);
  });

  test('vigil observe --sensors http -o json: TLS records carry "tls"; --l7-no-tls has none', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    tls ??= selfSignedCert(suite.tmp);
    const srv = await nginx(suite.tmp, tls);
    servers.push(srv);
    const base = `https://127.0.0.1:${srv.port}`;
    const fetch = (): void => void run('curl', ['-sk', '--http1.1', '-o', '/dev/null', '-o', '/dev/null', `${base}/api/ok`, `${base}/missing/7`]);
    // Whole lines only: until() sees the output as it is being written.
    const serverLines = (out: string) => jsonLines(out.slice(0, out.lastIndexOf('\n') + 1))
      .filter((l) => l.l7?.role === 'server' && l.l7.local.port === srv.port);
    const on = await observeRun(['--sensors', 'http', '-o', 'json'], fetch, (out) => serverLines(out).length >= 2);
    assert.deepEqual(serverLines(on.stdout).map((l) => `${l.l7.tls} ${l.l7.target} ${l.l7.status}`).sort(),
      ['openssl /api/ok 200', 'openssl /missing/7 404']);
    // Off: for a fixed time, since nothing is to come (the encrypted bytes are no protocol).
    const off = await observeRun(['--sensors', 'http', '-o', 'json', '--l7-no-tls', '--duration', '3'], fetch);
    assert.equal(serverLines(off.stdout).length, 0);
    assert.doesNotMatch(off.stderr, /TLS/);
  });

  test('tls: false attaches no uprobes; no file descriptors leak', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const s = await L7Sensor.start({ protocols: new Set(['http']), onRecord: () => {}, tls: false });
    try {
      assert.deepEqual(s.tlsReport(), { off: 'turned off', attached: [], failed: [] });
    } finally {
      s.close();
    }
    for (const srv of servers.splice(0)) await srv.stop();
    assert.equal(openFdCount(), fds);
  });
});
