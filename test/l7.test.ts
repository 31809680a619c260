// The L7 sensor against real servers on loopback (Python's http.server,
// nginx, Redis, PostgreSQL from Debian) driven by real clients (curl,
// redis-cli, psql, and Python sockets for pipelining and the vector calls):
// exact counts per path or command and status, from the syscall tracepoints.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { L7Sensor, type L7SensorOptions } from '../src/l7/sensor.js';
import type { L7Protocol, L7Record } from '../src/l7/types.js';
import { kernelSuite, missingFeature, openFdCount, waitFor } from './helpers.js';
import { jsonLines, observeRun, runVigil } from './observe-util.js';
import { grpcClient, grpcServer, kafkaReplay, mariadb, nginx, nodeHttp2, postgres, pythonHttp, redis, type Server } from './l7-servers.js';
import { bucketUpperNs, latencyBucket } from '../src/l7/histogram.js';
import { fetchRequest, fetchResponse, produceRequest, produceResponse } from './kafka-bytes.js';

/** Records of the server side of `port`, as "KEY STATUS" counts. */
function counts(records: readonly L7Record[], port: number, role: 'server' | 'client', key: (r: L7Record) => string):
  Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) {
    const p = role === 'server' ? r.local.port : r.remote.port;
    if (r.role !== role || p !== port) continue;
    const k = `${key(r)} ${r.status}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 30_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

describe('L7 sensor on real servers', () => {
  const suite = kernelSuite(() => missingFeature(['tracepoint']), 'vigil-l7-');
  let fds = 0;
  const servers: Server[] = [];
  before(() => {
    fds = openFdCount();
  });
  after(async () => {
    for (const s of servers.splice(0)) await s.stop();
  });

  /**
   * Starts a server, then a sensor for `protocols` collecting its records,
   * and runs `body`; closes the sensor and stops the server after it, failed
   * or not (the server also at the suite's end, should the sensor not start).
   */
  async function traced(start: (tmp: string) => Promise<Server>, protocols: L7Protocol[],
    body: (srv: Server, records: L7Record[], sensor: L7Sensor) => Promise<void>, captureBytes?: number,
    more: Pick<L7SensorOptions, 'histograms' | 'records'> = {}): Promise<void> {
    const srv = await start(suite.tmp);
    servers.push(srv);
    const records: L7Record[] = [];
    const s = await L7Sensor.start({ protocols: new Set(protocols), onRecord: (r) => records.push(r), pollIntervalMs: 20, captureBytes,
      ...more });
    try {
      await body(srv, records, s);
    } finally {
      s.close();
      await srv.stop();
    }
  }

  test('Python http.server: keep-alive (curl), pipelining (sendmsg, readv), chunked; client and server agree', async () => {
    // The whole of each call (the pipelined client reads three responses, a
    // 3 kB chunk among them, in one readv; the structure after a chunk must be captured).
    await traced(pythonHttp, ['http'], async (srv, records) => {
      const base = `http://127.0.0.1:${srv.port}`;
      // One curl, one connection: keep-alive.
      run('curl', ['-s', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null',
        `${base}/users/1`, `${base}/users/2?token=secret`, `${base}/chunked`, `${base}/fail`, `${base}/nothing`]);
      // Three requests in one sendmsg (three iovecs), the answers read with readv until the close.
      const t0 = process.hrtime.bigint();
      const got = run('python3', ['-c', `import socket, os
s = socket.create_connection(('127.0.0.1', ${srv.port}))
r = lambda p, last=False: ('GET %s HTTP/1.1\\r\\nHost: x\\r\\n%s\\r\\n' % (p, 'Connection: close\\r\\n' if last else '')).encode()
s.sendmsg([r('/users/3'), r('/chunked'), r('/users/4', True)])
out = b''
while True:
    b = bytearray(65536)
    n = os.readv(s.fileno(), [b])
    if n == 0: break
    out += b[:n]
print(out.count(b'HTTP/1.1 200'))`]);
      const clientNs = process.hrtime.bigint() - t0;
      assert.equal(got.trim(), '3');
      assert.ok(await waitFor(() => Object.values(counts(records, srv.port, 'server', () => '')).reduce((a, b) => a + b, 0) >= 8, 5000));
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(counts(records, srv.port, 'server', (r) => `${r.method} ${r.route}`), {
        'GET /users/{id} 200': 4, 'GET /chunked 200': 2, 'GET /fail 500': 1, 'GET /nothing 404': 1,
      });
      assert.deepEqual(counts(records, srv.port, 'client', (r) => `${r.comm} ${r.target}`), {
        'curl /users/1 200': 1, 'curl /users/2?token=? 200': 1, 'curl /chunked 200': 1, 'curl /fail 500': 1, 'curl /nothing 404': 1,
        // python3's sendmsg/readv client
        'python3 /users/3 200': 1, 'python3 /chunked 200': 1, 'python3 /users/4 200': 1,
      });
      const server = records.filter((r) => r.role === 'server' && r.local.port === srv.port);
      const client = records.filter((r) => r.role === 'client' && r.remote.port === srv.port);
      for (const r of server) {
        // The client's view of the same request spans the server's.
        const c = client.find((x) => x.local.port === r.remote.port && x.target === r.target);
        assert.ok(c, `client record of ${r.target}`);
        // The server's request starts within the client's span. Its end (the exit of its last write) may
        // come after the client's read of those bytes returned: a loopback write wakes the reader before it returns.
        assert.ok(r.endBootNs > r.startBootNs && c.startBootNs <= r.startBootNs && r.startBootNs <= c.endBootNs,
          `${r.target}: server ${r.startBootNs}..${r.endBootNs} starts within client ${c.startBootNs}..${c.endBootNs}`);
        assert.doesNotMatch(r.target ?? '', /secret/);
      }
      // The pipelined client's requests finished within what it measured.
      for (const r of client.filter((x) => x.comm === 'python3')) assert.ok(r.endBootNs - r.startBootNs <= clientNs);
      const chunked = server.find((r) => r.target === '/chunked')!;
      assert.ok(chunked.responseBytes > 3000, `chunked body counted: ${chunked.responseBytes}`);
    }, 4096);
  });

  test('Redis: redis-cli commands and a pipelined batch (writev, recvmsg); errors by their prefix', async () => {
    await traced(redis, ['redis'], async (srv, records) => {
      const cli = (...a: string[]): string => run('redis-cli', ['-p', String(srv.port), ...a]);
      cli('SET', 'user:1', 'secret-value');
      cli('GET', 'user:1');
      cli('INCR', 'n');
      cli('HSET', 'h', 'a', '1');
      cli('LPUSH', 'user:1', 'x'); // WRONGTYPE
      const big = 'v'.repeat(20_000);
      // The large value in calls of its own (a value is passed over by its length;
      // what follows it inside the same call would be past the capture), then a
      // pipelined pair in one writev, the replies read with recvmsg.
      run('python3', ['-c', `import socket, os
s = socket.create_connection(('127.0.0.1', ${srv.port}))
def cmd(*a): return ('*%d\\r\\n' % len(a) + ''.join('$%d\\r\\n%s\\r\\n' % (len(x), x) for x in a)).encode()
def ask(cmds, end, size=0):
    os.writev(s.fileno(), cmds)
    got = b''
    while not got.endswith(end) or len(got) < size:
        data, _, _, _ = s.recvmsg(65536)
        got += data
ask([cmd('SET', 'big', '${big}')], b'+OK\\r\\n')
ask([cmd('GET', 'big')], b'\\r\\n', ${big.length + 10})
ask([cmd('PING'), cmd('INCR', 'n')], b':2\\r\\n')
s.close()`]);
      const want = {
        'SET OK': 2, 'GET OK': 2, 'INCR OK': 2, 'HSET OK': 1, 'LPUSH WRONGTYPE': 1, 'PING OK': 1,
      };
      const total = Object.values(want).reduce((a, b) => a + b, 0);
      assert.ok(await waitFor(() => Object.values(counts(records, srv.port, 'server', (r) => r.method)).reduce((a, b) => a + b, 0) >= total, 5000));
      await new Promise((r) => setTimeout(r, 200));
      // redis-cli asks the server about its commands first (COMMAND DOCS): not counted here.
      const got = counts(records, srv.port, 'server', (r) => r.method);
      for (const k of Object.keys(got)) if (k.startsWith('COMMAND')) delete got[k];
      assert.deepEqual(got, want);
      assert.doesNotMatch(JSON.stringify(records.map((r) => r.redis)), /secret/);
      const bigGet = records.find((r) => r.role === 'server' && r.local.port === srv.port && r.method === 'GET' && r.responseBytes > 20_000);
      assert.ok(bigGet, 'the 20 kB reply passed over by its length');
    });
  });

  test('PostgreSQL: psql over TCP (SSL refused, startup, simple queries, an error); literals redacted', async () => {
    await traced(postgres, ['pgsql'], async (srv, records) => {
      spawnSync('psql', ['-h', '127.0.0.1', '-p', String(srv.port), '-U', 'postgres', '-d', 'postgres', '-X', '-q',
        '-c', 'SELECT 1', '-c', "SELECT 'alice'::text WHERE 2 > 1", '-c', 'SELEC 1',
        '-c', 'CREATE TABLE t (id int)', '-c', 'INSERT INTO t VALUES (7), (8)'], { encoding: 'utf8', timeout: 30_000 });
      const want = {
        'STARTUP  OK': 1, 'QUERY SELECT ? OK': 1, 'QUERY SELECT ?::text WHERE ? > ? OK': 1, 'QUERY SELEC ? 42601': 1,
        'QUERY CREATE TABLE t (id int) OK': 1, 'QUERY INSERT INTO t VALUES (?), (?) OK': 1,
      };
      assert.ok(await waitFor(() => Object.keys(counts(records, srv.port, 'server', () => '')).length > 0 &&
        Object.values(counts(records, srv.port, 'server', () => '')).reduce((a, b) => a + b, 0) >= 6, 5000));
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(counts(records, srv.port, 'server', (r) => `${r.method} ${r.target ?? ''}`), want);
      const insert = records.find((r) => r.role === 'server' && r.target?.startsWith('INSERT'));
      assert.equal(insert?.pgsql?.tag, 'INSERT 0 2');
      assert.doesNotMatch(JSON.stringify(records.map((r) => r.target)), /alice/);
    });
  });

  test('vigil observe --sensors http -o json: nginx (writev, sendfile) through the event pipeline', async () => {
    const srv = await nginx(suite.tmp);
    servers.push(srv);
    const base = `http://127.0.0.1:${srv.port}`;
    const r = await observeRun(['--sensors', 'http', '-o', 'json'], () => {
      run('curl', ['-s', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null',
        `${base}/big.bin`, `${base}/api/ok`, `${base}/api/ok?k=v`, `${base}/missing/42`]);
    }, (out) => (out.match(new RegExp(`"port":${srv.port}`, 'g'))?.length ?? 0) >= 8).finally(() => srv.stop());
    const lines = jsonLines(r.stdout).filter((l) => l.l7 && l.l7.role === 'server' && l.l7.local.port === srv.port);
    const got: Record<string, number> = {};
    for (const l of lines) got[`${l.l7.target} ${l.l7.status}`] = (got[`${l.l7.target} ${l.l7.status}`] ?? 0) + 1;
    assert.deepEqual(got, { '/big.bin 200': 1, '/api/ok 200': 1, '/api/ok?k=? 200': 1, '/missing/42 404': 1 });
    const big = lines.find((l) => l.l7.target === '/big.bin')!.l7;
    assert.ok(big.response_bytes > 200_000, `sendfile's bytes counted: ${big.response_bytes}`);
    assert.equal(big.process.comm, 'nginx');
    assert.ok(big.latency_ns > 0 && typeof big.start_time === 'string');
    assert.equal(lines.find((l) => l.l7.route === '/missing/{id}')?.l7.status, 404);
  });

  test('vigil top http -o json --duration: requests, errors and quantiles per service and route', async () => {
    const srv = await pythonHttp(suite.tmp);
    servers.push(srv);
    const base = `http://127.0.0.1:${srv.port}`;
    const urls = [...Array.from({ length: 10 }, (_, i) => `${base}/users/${i + 1}`), `${base}/fail`, `${base}/fail`];
    const r = await runVigil(['top', 'http', '-o', 'json', '--duration', '3'], () => {
      run('curl', ['-s', ...urls.flatMap(() => ['-o', '/dev/null']), ...urls]);
    }, { ready: 'counting http' }).finally(() => srv.stop());
    assert.equal(r.code, 0, r.stderr);
    const [frame] = jsonLines(r.stdout) as { rows: { role: string; service: string; route: string; requests: number; errors: number;
      p50Ns: number; p99Ns: number }[] }[];
    const rows = frame!.rows.filter((x) => x.role === 'server' && x.service === `python3:${srv.port}`);
    assert.deepEqual(rows.map((x) => [x.route, x.requests, x.errors]), [['/users/{id}', 10, 0], ['/fail', 2, 2]]);
    assert.ok(rows[0]!.p50Ns > 0 && rows[0]!.p50Ns <= rows[0]!.p99Ns);
  });

  test('vigil top http -o json: gRPC endpoints (HTTP/2, from records) beside the kernel\'s HTTP/1.x histograms', async () => {
    const srv = await grpcServer(suite.tmp);
    servers.push(srv);
    const client = grpcClient(suite.tmp, srv.port);
    const r = await runVigil(['top', 'http', '-o', 'json', '--duration', '3'], () => {
      assert.equal(run(process.execPath, [client]).trim(), '0,0,5,0,5');
    }, { ready: 'counting http' }).finally(() => srv.stop());
    assert.equal(r.code, 0, r.stderr);
    const [frame] = jsonLines(r.stdout) as { rows: { role: string; service: string; method: string; route: string; requests: number;
      errors: number }[] }[];
    const rows = frame!.rows.filter((x) => x.service.endsWith(`:${srv.port}`)).map((x) => [x.role, x.method, x.route, x.requests, x.errors]);
    // NOT_FOUND is the client's error, not the server's (OpenTelemetry's rule for gRPC).
    assert.deepEqual(rows.sort(), [['client', 'GRPC', '/demo.Greeter/SayHello', 5, 2], ['server', 'GRPC', '/demo.Greeter/SayHello', 5, 0]]);
  });

  test('kernel histograms: exact counts and errors per endpoint (as the records), quantiles within the client\'s time', async () => {
    await traced(pythonHttp, ['http'], async (srv, records, sensor) => {
      const base = `http://127.0.0.1:${srv.port}`;
      const urls = [...[1, 2, 3, 4, 5, 6].map((i) => `${base}/users/${i}`), `${base}/users/9f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b`,
        `${base}/fail`, `${base}/fail`, `${base}/nothing?x=1`, `${base}/chunked`];
      const t0 = process.hrtime.bigint();
      run('curl', ['-s', ...urls.flatMap(() => ['-o', '/dev/null']), ...urls]);
      const clientNs = Number(process.hrtime.bigint() - t0);
      const server = (): L7Record[] => records.filter((r) => r.role === 'server' && r.local.port === srv.port);
      assert.ok(await waitFor(() => server().length >= urls.length, 5000), `records: ${server().length}`);
      const mine = sensor.httpHistograms().endpoints.filter((e) => e.role === 'server' && e.port === srv.port);
      const got = Object.fromEntries(mine.map((e) => [`${e.comm} ${e.method} ${e.route}`, [e.count, e.errors]]));
      assert.deepEqual(got, {
        'python3 GET /users/{id}': [7, 0], 'python3 GET /fail': [2, 2], 'python3 GET /nothing': [1, 0], 'python3 GET /chunked': [1, 0],
      });
      // The same counts as the records the parsers paired.
      const byRoute: Record<string, number> = {};
      for (const r of server()) byRoute[r.route!] = (byRoute[r.route!] ?? 0) + 1;
      assert.deepEqual(Object.fromEntries(mine.map((e) => [e.route, e.count])), byRoute);
      const clients = sensor.httpHistograms().endpoints.filter((e) => e.role === 'client' && e.port === srv.port);
      assert.equal(clients.reduce((a, e) => a + e.count, 0), urls.length);
      assert.ok(clients.every((e) => e.comm === 'curl' && e.remote === '127.0.0.1'));
      const bound = bucketUpperNs(latencyBucket(clientNs));
      for (const e of [...mine, ...clients]) {
        const p50 = e.hist.quantile(0.5);
        const p99 = e.hist.quantile(0.99);
        assert.equal(e.hist.total, e.count, `${e.route}: every exchange in one bucket`);
        assert.ok(p50 > 0 && p50 <= p99 && p99 <= bound, `${e.role} ${e.route}: p50 ${p50} p99 ${p99}, client took ${clientNs} ns`);
        assert.ok(e.sumNs > 0n && Number(e.sumNs) <= e.count * clientNs, `${e.route}: sum ${e.sumNs}`);
      }
      assert.equal(sensor.httpHistograms().overflowed, 0n);
    }, undefined, { histograms: {} });
  });

  test('kernel histograms: endpoints beyond --max-endpoints go to the overflow histogram, counted', async () => {
    await traced(pythonHttp, ['http'], async (srv, _records, sensor) => {
      const base = `http://127.0.0.1:${srv.port}`;
      const urls = ['/users/1', '/fail', '/nothing', '/chunked', '/a', '/b'].map((u) => `${base}${u}`);
      run('curl', ['-s', ...urls.flatMap(() => ['-o', '/dev/null']), ...urls]);
      // Each request is counted twice (server and client side): 12 in all, 3 in the table.
      const total = (): number => {
        const h = sensor.httpHistograms();
        return h.endpoints.reduce((a, e) => a + e.count, 0) + h.overflow.count;
      };
      assert.ok(await waitFor(() => total() >= 2 * urls.length, 5000), `counted ${total()}`);
      const h = sensor.httpHistograms();
      assert.equal(h.endpoints.length, 3);
      assert.equal(total(), 2 * urls.length);
      assert.equal(h.overflow.count, 2 * urls.length - 3);
      assert.equal(h.overflowed, BigInt(h.overflow.count));
      assert.equal(h.overflow.hist.total, h.overflow.count);
    }, undefined, { histograms: { maxEndpoints: 3 }, records: false });
  });

  test('MariaDB: the mariadb client (COM_QUERY: rows, an error) and a prepared statement (COM_STMT_PREPARE, EXECUTE) from Python', async () => {
    await traced(mariadb, ['mysql'], async (srv, records) => {
      run('mariadb', ['-h', '127.0.0.1', '-P', String(srv.port), '-u', 'root', '--skip-ssl', '-e',
        "SELECT 'alice', 2 UNION SELECT 'bob', 3; CREATE DATABASE d; CREATE TABLE d.t (id int); INSERT INTO d.t VALUES (7), (8)"]);
      spawnSync('mariadb', ['-h', '127.0.0.1', '-P', String(srv.port), '-u', 'root', '--skip-ssl', '-e', 'SELEC 1'], { timeout: 30_000 });
      // The binary protocol, which the mariadb client does not speak: a handshake without
      // CLIENT_DEPRECATE_EOF (so EOF packets end the column lists), PREPARE, EXECUTE with 41, QUIT.
      const got = run('python3', ['-c', `import socket, struct
s = socket.create_connection(('127.0.0.1', ${srv.port}))
# Buffered reads, as client libraries do (a 4-byte read of the header alone is not recognised by the kernel).
f = s.makefile('rb')
def read():
    h = f.read(4)
    return h[3], f.read(h[0] | h[1] << 8 | h[2] << 16)
def send(seq, p): s.sendall(struct.pack('<I', len(p))[:3] + bytes([seq]) + p)
read()
caps = 0x200 | 0x8000 | 0x80000
send(1, struct.pack('<IIB', caps, 1 << 24, 33) + bytes(23) + b'root\\0' + b'\\0' + b'mysql_native_password\\0')
assert read()[1][0] == 0
send(0, b'\\x16' + b'SELECT ? + 1 AS n')
ok = read()[1]
sid, cols, params = struct.unpack('<IHH', ok[1:9])
for _ in range(params + 1 + cols + 1): read()
send(0, b'\\x17' + struct.pack('<IBI', sid, 0, 1) + b'\\x00\\x01' + b'\\x08\\x00' + struct.pack('<q', 41))
eofs, rows = 0, 0
while eofs < 2:
    p = read()[1]
    if p[0] == 0xfe and len(p) < 9: eofs += 1
    elif eofs == 1: rows += 1
print(rows)
send(0, b'\\x01')
s.close()`]);
      assert.equal(got.trim(), '1');
      assert.ok(await waitFor(() => records.filter((r) => r.role === 'server' && r.local.port === srv.port).length >= 9, 5000));
      await new Promise((r) => setTimeout(r, 200));
      // "METHOD STATEMENT ROWS STATUS"
      const key = (r: L7Record): string => `${r.method} ${r.target ?? ''} ${r.mysql?.rows}`;
      assert.deepEqual(counts(records, srv.port, 'server', key), {
        'CONNECT  0 OK': 3, 'QUERY SELECT ?, ? UNION SELECT ?, ? 2 OK': 1, 'QUERY CREATE DATABASE d 0 OK': 1,
        'QUERY CREATE TABLE d.t (id int) 0 OK': 1, 'QUERY INSERT INTO d.t VALUES (?), (?) 0 OK': 1, 'QUERY SELEC ? 0 42000': 1,
        'PREPARE SELECT ? + ? AS n 0 OK': 1, 'EXECUTE SELECT ? + ? AS n 1 OK': 1,
      });
      // The clients' view of the same (mariadb, python3).
      assert.deepEqual(counts(records, srv.port, 'client', key), counts(records, srv.port, 'server', key));
      assert.deepEqual([...new Set(records.filter((r) => r.role === 'client').map((r) => r.comm))].sort(), ['mariadb', 'python3']);
      assert.equal(records.find((r) => r.role === 'server' && r.status === '42000')?.mysql?.code, 1064);
      assert.doesNotMatch(JSON.stringify(records.map((r) => r.target)), /alice/);
    });
  });

  test('HTTP/2 (h2c): the node:http2 client and server, sequential and concurrent streams; client and server agree', async () => {
    await traced(nodeHttp2, ['http'], async (srv, records) => {
      const client = path.join(suite.tmp, 'h2-client.cjs');
      writeFileSync(client, `const http2 = require('node:http2');
const c = http2.connect('http://127.0.0.1:${srv.port}');
const get = (p) => new Promise((ok, fail) => {
  const r = c.request({ ':path': p, authorization: 'Bearer s3cret' });
  r.on('response', () => {}); r.resume(); r.on('end', ok); r.on('error', fail); r.end();
});
(async () => {
  for (const p of ['/users/1', '/users/2?token=secret', '/fail', '/nothing', '/users/3']) await get(p);
  await Promise.all(['/users/4', '/users/5', '/users/6'].map(get));
  c.close();
})().catch((e) => { console.error(e.message); process.exit(1); });
`);
      run(process.execPath, [client]);
      assert.ok(await waitFor(() => records.filter((r) => r.local.port === srv.port || r.remote.port === srv.port).length >= 16, 5000));
      await new Promise((r) => setTimeout(r, 200));
      const key = (r: L7Record): string => `${r.protocol} ${r.http?.version} ${r.method} ${r.route}`;
      assert.deepEqual(counts(records, srv.port, 'server', key), {
        'http 2 GET /users/{id} 200': 6, 'http 2 GET /fail 500': 1, 'http 2 GET /nothing 404': 1,
      });
      assert.deepEqual(counts(records, srv.port, 'client', key), counts(records, srv.port, 'server', key));
      const mine = records.filter((r) => r.local.port === srv.port || r.remote.port === srv.port);
      assert.deepEqual(mine.filter((r) => r.target?.includes('token')).map((r) => r.target), ['/users/2?token=?', '/users/2?token=?']);
      assert.ok(mine.every((r) => r.http?.requestHeaders.authorization === '[redacted]'));
      assert.deepEqual(mine.filter((r) => r.error).map((r) => `${r.role} ${r.status}`).sort(), ['client 404', 'client 500', 'server 500']);
      for (const r of mine) assert.ok(r.endBootNs > r.startBootNs, `${r.role} ${r.target}: ends after it starts`);
    });
  });

  test('gRPC: a @grpc/grpc-js server and client, unary calls OK and NOT_FOUND; service, method and grpc-status', async () => {
    await traced(grpcServer, ['grpc'], async (srv, records) => {
      const client = grpcClient(suite.tmp, srv.port);
      assert.equal(run(process.execPath, [client]).trim(), '0,0,5,0,5');
      assert.ok(await waitFor(() => records.filter((r) => r.local.port === srv.port || r.remote.port === srv.port).length >= 10, 5000));
      await new Promise((r) => setTimeout(r, 200));
      const key = (r: L7Record): string => `${r.protocol} ${r.grpc?.service}/${r.grpc?.method} ${r.error}`;
      assert.deepEqual(counts(records, srv.port, 'server', key), {
        'grpc demo.Greeter/SayHello false 0': 3, 'grpc demo.Greeter/SayHello false 5': 2,
      });
      assert.deepEqual(counts(records, srv.port, 'client', key), {
        'grpc demo.Greeter/SayHello false 0': 3, 'grpc demo.Greeter/SayHello true 5': 2,
      });
      const failed = records.filter((r) => r.status === 5);
      assert.ok(failed.every((r) => r.grpc?.message === '[redacted]' && r.target === '/demo.Greeter/SayHello'));
    });
  });

  test('Kafka: requests and responses encoded by kafkajs, over loopback to a replaying peer (no broker is packaged)', async () => {
    const requests = [await produceRequest(1, ['orders']), await produceRequest(2, ['audit'], 0), await fetchRequest(3, ['orders']),
      await produceRequest(4, ['missing'])];
    const responses = [produceResponse(1, [['orders', 0]]), fetchResponse(3, 'orders', 0, Buffer.alloc(30000, 1)),
      produceResponse(4, [['missing', 3]])];
    await traced((tmp) => kafkaReplay(tmp, responses), ['kafka'], async (srv, records) => {
      const client = path.join(suite.tmp, 'kafka-client.cjs');
      // One request per write, each awaited (but the acks=0 produce) before the next.
      writeFileSync(client, `const net = require('node:net');
const reqs = process.argv.slice(2).map((h) => Buffer.from(h, 'hex'));
const s = net.connect(${srv.port}, '127.0.0.1', async () => {
  let buf = Buffer.alloc(0);
  let wake = () => {};
  s.on('data', (d) => { buf = Buffer.concat([buf, d]); wake(); });
  const answer = () => new Promise((ok) => { const check = () => {
    if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) { buf = buf.subarray(4 + buf.readUInt32BE(0)); ok(); } else wake = check; }; check(); });
  for (const [i, r] of reqs.entries()) { s.write(r); if (i !== 1) await answer(); }
  s.end();
});
`);
      run(process.execPath, [client, ...requests.map((r) => r.toString('hex'))]);
      assert.ok(await waitFor(() => records.filter((r) => r.local.port === srv.port || r.remote.port === srv.port).length >= 6, 5000));
      await new Promise((r) => setTimeout(r, 200));
      const key = (r: L7Record): string => `${r.method} ${r.target} ${r.kafka?.correlationId}`;
      const want = { 'Produce orders 1 OK': 1, 'Fetch orders 3 OK': 1, 'Produce missing 4 UNKNOWN_TOPIC_OR_PARTITION': 1 };
      assert.deepEqual(counts(records, srv.port, 'client', key), want);
      assert.deepEqual(counts(records, srv.port, 'server', key), want);
      assert.equal(records.find((r) => r.method === 'Fetch')?.responseBytes, responses[1]!.length);
    });
  });

  test('no descriptors leak', () => {
    assert.equal(openFdCount(), fds);
  });
});
