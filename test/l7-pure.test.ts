// The L7 parsers and redaction on byte sequences as the kernel delivers them:
// each call's captured head and its full size (what was not captured is a
// gap). Pure: no kernel.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { HttpParser } from '../src/l7/http.js';
import { RedisParser } from '../src/l7/redis.js';
import { PgsqlParser } from '../src/l7/pgsql.js';
import { L7Tracker, type L7Data } from '../src/l7/tracker.js';
import { redactQuery, redactSql, redactHeader } from '../src/l7/redact.js';
import { routeTemplate } from '../src/l7/route.js';
import type { ConnParser, L7Pair, L7Record } from '../src/l7/types.js';
import { LATENCY_BUCKETS, LatencyHistogram, bucketUpperNs, latencyBucket } from '../src/l7/histogram.js';
import { HttpTopTable, parseTopHttpArgs } from '../src/cli/top-http.js';
import { UsageError } from '../src/cli/command.js';
import { listeningInodes } from '../src/l7/listeners.js';
import { cgroup2 } from '../src/bpf/mounts.js';
import type { HttpHistograms } from '../src/l7/sensor.js';
import { L7Metrics, MAX_SERIES, metricOf } from '../src/l7/metrics.js';
import { MysqlParser } from '../src/l7/mysql.js';
import { run } from './l7-calls.js';

const req = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: h\r\n${extra}\r\n`;
const res = (status: number, body: string, extra = ''): string =>
  `HTTP/1.1 ${status} X\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

describe('HTTP/1.x', () => {
  test('keep-alive: requests and responses paired in order, latency from the request\'s first byte', () => {
    const pairs = run(new HttpParser({ redact: true }), [
      [false, req('/users/1')], [true, res(200, 'one')],
      [false, req('/users/2?token=abc&x=1')], [true, res(404, 'nope')],
    ]);
    assert.deepEqual(pairs.map((p) => [p.method, p.target, p.route, p.status]),
      [['GET', '/users/1', '/users/{id}', 200], ['GET', '/users/2?token=?&x=?', '/users/{id}', 404]]);
    assert.equal(pairs[0]!.startBootNs, 1100n); // a read's bytes arrive at its exit
    assert.equal(pairs[0]!.endBootNs, 2100n);
    assert.equal(pairs[0]!.responseBytes, res(200, 'one').length);
  });

  test('pipelining: three requests in one call, responses split across calls', () => {
    const r = res(200, 'a') + res(201, 'bb') + res(500, 'ccc');
    const pairs = run(new HttpParser({ redact: true }), [
      [false, req('/a') + req('/b') + req('/c')], [true, r.slice(0, 30)], [true, r.slice(30)],
    ]);
    assert.deepEqual(pairs.map((p) => [p.target, p.status]), [['/a', 200], ['/b', 201], ['/c', 500]]);
  });

  test('chunked bodies, with a chunk cut by the capture (passed over by its size)', () => {
    const big = 'x'.repeat(5000);
    const body = `5\r\nhello\r\n${(big.length).toString(16)}\r\n${big}\r\n0\r\n\r\n`;
    const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    const pairs = run(new HttpParser({ redact: true }), [
      [false, req('/chunked')],
      [true, head + body.slice(0, 20)],
      // The big chunk's call: 5000+ bytes, 1024 captured.
      [true, body.slice(20, 20 + 4000), 4000, 1024],
      [true, body.slice(4020)],
      [false, req('/next')], [true, res(200, 'ok')],
    ]);
    assert.deepEqual(pairs.map((p) => [p.target, p.status]), [['/chunked', 200], ['/next', 200]]);
    assert.equal(pairs[0]!.responseBytes, head.length + body.length);
  });

  test('a body bigger than the capture, and a sendfile (no bytes captured)', () => {
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n';
    const pairs = run(new HttpParser({ redact: true }), [
      [false, req('/file')], [true, head], [true, '', 100000, 0], [false, req('/again')], [true, res(304, '')],
    ]);
    assert.deepEqual(pairs.map((p) => [p.target, p.status, p.responseBytes]),
      [['/file', 200, head.length + 100000], ['/again', 304, res(304, '').length]]);
  });

  test('HEAD and 204 have no body; a response without length ends with the connection', () => {
    const p = new HttpParser({ redact: true });
    const pairs = run(p, [
      [false, 'HEAD /x HTTP/1.1\r\n\r\n'], [true, 'HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n'],
      [false, req('/y')], [true, 'HTTP/1.0 200 OK\r\n\r\nuntil the end'],
    ], true);
    assert.deepEqual(pairs.map((p) => [p.method, p.status]), [['HEAD', 200], ['GET', 200]]);
  });

  test('secrets: Authorization, Cookie and Set-Cookie values redacted; with full capture kept', () => {
    const calls: [boolean, string][] = [
      [false, req('/p?q=secret', 'Authorization: Bearer abc\r\nCookie: s=1\r\n')], [true, res(200, '', 'Set-Cookie: s=2\r\n')],
    ];
    const [r] = run(new HttpParser({ redact: true }), calls);
    assert.equal(r!.http!.requestHeaders.authorization, '[redacted]');
    assert.equal(r!.http!.requestHeaders.cookie, '[redacted]');
    assert.equal(r!.http!.responseHeaders['set-cookie'], '[redacted]');
    assert.equal(r!.target, '/p?q=?');
    assert.doesNotMatch(JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? String(v) : v)), /abc|secret|s=1|s=2/);
    const [full] = run(new HttpParser({ redact: false }), calls);
    assert.equal(full!.http!.requestHeaders.authorization, 'Bearer abc');
    assert.equal(full!.target, '/p?q=secret');
  });

  test('a head cut by the capture loses the thread; the next request starts afresh', () => {
    const p = new HttpParser({ redact: true });
    const long = req('/a', `X-Long: ${'y'.repeat(3000)}\r\n`);
    const pairs = run(p, [[false, long, long.length, 1024], [true, res(200, 'a')], [false, req('/b')], [true, res(200, 'b')]]);
    assert.equal(p.resyncs, 1);
    assert.deepEqual(pairs.map((x) => x.target), ['/b']);
  });
});

const resp = (...args: string[]): string => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

describe('Redis', () => {
  test('pipelined commands and replies of every type, paired in order; arguments redacted', () => {
    const pairs = run(new RedisParser({ redact: true }), [
      [true, resp('SET', 'k', 'secret') + resp('GET', 'k') + resp('HGETALL', 'h') + resp('FOO')],
      [false, '+OK\r\n$6\r\nsecret\r\n%1\r\n$1\r\na\r\n$1\r\nb\r\n'],
      [false, '-ERR unknown command \'FOO\'\r\n'],
    ]);
    assert.deepEqual(pairs.map((p) => [p.method, p.status, p.error, p.redis!.args]),
      [['SET', 'OK', false, 2], ['GET', 'OK', false, 1], ['HGETALL', 'OK', false, 1], ['FOO', 'ERR', true, 0]]);
    assert.doesNotMatch(JSON.stringify(pairs.map((p) => p.redis)), /secret/);
  });

  test('a large value cut by the capture is passed over by its length', () => {
    const v = 'v'.repeat(10000);
    const set = resp('SET', 'big', v);
    const pairs = run(new RedisParser({ redact: false }), [
      [true, set, set.length, 1024], [false, '+OK\r\n'], [true, resp('GET', 'big')],
      [false, `$${v.length}\r\n${v}\r\n`, v.length + 10, 1024], [true, resp('PING')], [false, '+PONG\r\n'],
    ]);
    assert.deepEqual(pairs.map((p) => p.method), ['SET', 'GET', 'PING']);
    assert.equal(pairs[1]!.responseBytes, v.length + 10);
    assert.deepEqual(pairs[0]!.redis!.argv?.[0], 'big');
  });

  test('RESP3 pushes answer nothing', () => {
    const pairs = run(new RedisParser({ redact: true }), [
      [true, resp('GET', 'a')], [false, '>2\r\n$7\r\nmessage\r\n$1\r\nx\r\n_\r\n'],
    ]);
    assert.deepEqual(pairs.map((p) => [p.method, p.status]), [['GET', 'OK']]);
  });
});

function pgMsg(type: string, body: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.write(type, 0, 'latin1');
  h.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([h, body]);
}
const cstr = (...s: string[]): Buffer => Buffer.concat(s.map((x) => Buffer.from(`${x}\0`)));
function untyped(code: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(8 + body.length, 0);
  b.writeUInt32BE(code, 4);
  return Buffer.concat([b, body]);
}
const ready = pgMsg('Z', Buffer.from('I'));

describe('PostgreSQL', () => {
  test('SSL refused, startup, simple query with rows, an error; literals redacted', () => {
    const pairs = run(new PgsqlParser({ redact: true }), [
      [true, untyped(80877103)], [false, 'N'],
      [true, untyped(196608, cstr('user', 'postgres', ''))],
      [false, Buffer.concat([pgMsg('R', Buffer.alloc(4)), pgMsg('S', cstr('a', 'b')), ready])],
      [true, pgMsg('Q', cstr("SELECT * FROM t WHERE name = 'bob' AND id = 42"))],
      [false, Buffer.concat([pgMsg('T', Buffer.alloc(2)), pgMsg('D', Buffer.alloc(6)), pgMsg('D', Buffer.alloc(6)),
        pgMsg('C', cstr('SELECT 2')), ready])],
      [true, pgMsg('Q', cstr('SELEC 1'))],
      [false, Buffer.concat([pgMsg('E', Buffer.concat([cstr('SERROR', 'C42601', 'Msyntax error'), Buffer.from([0])])), ready])],
    ]);
    assert.deepEqual(pairs.map((p) => [p.method, p.target, p.status, p.pgsql!.tag, p.pgsql!.rows]), [
      ['STARTUP', undefined, 'OK', undefined, 0],
      ['QUERY', 'SELECT * FROM t WHERE name = ? AND id = ?', 'OK', 'SELECT 2', 2],
      ['QUERY', 'SELEC ?', '42601', undefined, 0],
    ]);
    assert.equal(pairs[2]!.error, true);
  });

  test('extended query: Parse/Bind/Execute/Sync is one request, its statement from Parse', () => {
    const pairs = run(new PgsqlParser({ redact: true }), [
      [true, pgMsg('Q', cstr('BEGIN'))], [false, Buffer.concat([pgMsg('C', cstr('BEGIN')), ready])],
      [true, Buffer.concat([pgMsg('P', cstr('', 'SELECT $1::int + 7', '')), pgMsg('B', Buffer.alloc(10)),
        pgMsg('E', Buffer.alloc(5)), pgMsg('S', Buffer.alloc(0))])],
      [false, Buffer.concat([pgMsg('1', Buffer.alloc(0)), pgMsg('2', Buffer.alloc(0)), pgMsg('D', Buffer.alloc(8)),
        pgMsg('C', cstr('SELECT 1')), ready])],
    ]);
    assert.deepEqual(pairs.map((p) => [p.method, p.target, p.pgsql!.tag]),
      [['QUERY', 'BEGIN', 'BEGIN'], ['EXECUTE', 'SELECT $1::int + ?', 'SELECT 1']]);
  });
});

describe('redaction and routes', () => {
  test('SQL literals: strings, escapes, dollar quotes, numbers; identifiers and parameters stay', () => {
    assert.equal(redactSql("SELECT a1, \"b 2\" FROM t9 WHERE x = 'it''s' AND y = E'\\'q' AND z IN (1, 2.5e3) AND w = $1"),
      'SELECT a1, "b 2" FROM t9 WHERE x = ? AND y = ? AND z IN (?, ?) AND w = $1');
    assert.equal(redactSql('SELECT $$secret$$, $tag$x$tag$ -- comment\n'), 'SELECT ?, ? \n');
  });
  test('query values and secret headers', () => {
    assert.equal(redactQuery('/a?x=1&flag&y=&z=2#f'), '/a?x=?&flag&y=?&z=?');
    assert.equal(redactQuery('/plain'), '/plain');
    assert.equal(redactHeader('Authorization', 'Basic x'), '[redacted]');
    assert.equal(redactHeader('Accept', 'text/html'), 'text/html');
  });
  test('route templates: numbers, UUIDs, hashes', () => {
    assert.equal(routeTemplate('/users/42/orders/0b7c3d1e-1f2a-4b5c-8d9e-0a1b2c3d4e5f?x=1'), '/users/{id}/orders/{id}');
    assert.equal(routeTemplate('/blob/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b'), '/blob/{id}');
    assert.equal(routeTemplate('/static/app.js'), '/static/app.js');
  });
});

describe('L7Tracker', () => {
  const data = (conn: bigint, egress: boolean, text: string, port = 5000): L7Data => ({
    conn, protocol: 'http', egress, pid: 1, tid: 1, comm: 'x', cgroupId: 1n,
    local: { ip: '127.0.0.1', port: 80 }, remote: { ip: '127.0.0.1', port },
    segment: { data: Buffer.from(text), size: text.length, firstNs: 1n, lastNs: 2n },
  });
  test('the role from the request\'s direction; connections bounded, evictions counted', () => {
    const got: L7Record[] = [];
    const t = new L7Tracker({ redact: true, protocols: new Set(['http']), maxConnections: 2 }, (r) => got.push(r));
    t.data(data(1n, false, req('/one')));
    t.data(data(2n, false, req('/two')));
    t.data(data(3n, false, req('/three')));
    // Connection 1 was evicted with its request: its response answers nothing
    // (and its return evicts connection 2, with its request).
    t.data(data(1n, true, res(200, 'x')));
    t.data(data(3n, true, res(200, 'x')));
    assert.deepEqual(got.map((r) => [r.target, r.role]), [['/three', 'server']]);
    assert.deepEqual(t.stats(), { connections: 2, evicted: 2, resyncs: 0, unanswered: 2, records: 1 });
  });
  test('a reused socket address with new ends is a new connection', () => {
    const got: L7Record[] = [];
    const t = new L7Tracker({ redact: true, protocols: new Set(['http']) }, (r) => got.push(r));
    t.data(data(1n, false, req('/old')));
    t.data(data(1n, false, req('/new'), 6000));
    t.data(data(1n, true, res(200, 'x'), 6000));
    assert.deepEqual(got.map((r) => r.target), ['/new']);
  });
});

describe('log-linear latency histogram', () => {
  test('a quantile within an eighth of a power of two above the truth', () => {
    for (const ns of [500, 1024, 1500, 99_999, 1_234_567, 5e9]) {
      const up = bucketUpperNs(latencyBucket(ns));
      assert.ok(up >= ns && (ns < 1024 || up <= ns * 1.125 + 1), `${ns} -> ${up}`);
    }
    const h = new LatencyHistogram();
    for (let i = 1; i <= 100; i++) h.add(i * 1_000_000);
    assert.ok(h.quantile(0.5) >= 50e6 && h.quantile(0.5) <= 50e6 * 1.125);
    assert.ok(h.quantile(0.99) >= 99e6 && h.quantile(0.99) <= 99e6 * 1.125);
    assert.equal(new LatencyHistogram().quantile(0.5), 0);
  });
});

describe('kernel histogram readings', () => {
  test('since(): what an interval added; an exchange moved to a later bucket counts once', () => {
    const before = LatencyHistogram.of([0, 2, 1]);
    // One new exchange in bucket 0; one counted earlier in bucket 2 moved to bucket 40 (its response went on).
    const now = LatencyHistogram.of(Object.assign(new Array<number>(LATENCY_BUCKETS).fill(0), { 0: 1, 1: 2, 2: 0, 40: 1 }));
    const d = now.since(before);
    assert.equal(d.total, 2);
    assert.equal(d.counts[0], 1);
    assert.equal(d.counts[2], 0);
    assert.equal(d.counts[40], 1);
    assert.equal(now.since(undefined).total, 4);
  });

  test('HttpTopTable: rows of what each reading added, busiest first, the overflow as one row', () => {
    const hist = (counts: Record<number, number>): LatencyHistogram =>
      LatencyHistogram.of(Object.assign(new Array<number>(LATENCY_BUCKETS).fill(0), counts));
    const reading = (users: number, fail: number, other: number): HttpHistograms => ({
      endpoints: [
        { role: 'server', comm: 'nginx', port: 80, method: 'GET', route: '/users/{id}', count: users, errors: 0, sumNs: 0n,
          hist: hist({ [latencyBucket(2_000_000)]: users }) },
        { role: 'client', comm: 'curl', port: 80, remote: '10.0.0.1', method: 'GET', route: '/fail', count: fail, errors: fail, sumNs: 0n,
          hist: hist({ [latencyBucket(50_000)]: fail }) },
      ],
      overflow: { count: other, errors: 0, sumNs: 0n, hist: hist({ 0: other }) },
      overflowed: BigInt(other),
    });
    const t = new HttpTopTable();
    assert.deepEqual(t.take(reading(10, 2, 0)).map((r) => [r.role, r.service, r.route, r.requests, r.errors]), [
      ['server', 'nginx:80', '/users/{id}', 10, 0], ['client', 'curl->10.0.0.1:80', '/fail', 2, 2],
    ]);
    const rows = t.take(reading(15, 2, 3));
    assert.deepEqual(rows.map((r) => [r.service, r.requests]), [['nginx:80', 5], ['(other endpoints)', 3]]);
    assert.ok(rows[0]!.p50Ns >= 2_000_000 && rows[0]!.p99Ns <= 2_000_000 * 1.125);
  });
});

describe('vigil top http --capture packets', () => {
  test('flags: packets takes --cgroup (relative to the cgroup v2 root or under it), never the process filters', () => {
    assert.equal(parseTopHttpArgs(['http']).packets, undefined);
    assert.throws(() => parseTopHttpArgs(['http', '--capture', 'packet']), (e: Error) => e instanceof UsageError && /--capture: expected/.test(e.message));
    assert.throws(() => parseTopHttpArgs(['http', '--cgroup', 'x']), (e: Error) => e instanceof UsageError && /only with --capture packets/.test(e.message));
    for (const f of [['--pid', '1'], ['--comm', 'nginx'], ['--follow-children'], ['--container', 'host'], ['--pod', 'web']]) {
      assert.throws(() => parseTopHttpArgs(['http', '--capture', 'packets', ...f]),
        (e: Error) => e instanceof UsageError && e.message.startsWith(`${f[0]}: not with --capture packets`), f.join(' '));
    }
    // Without a cgroup v2 hierarchy, packets is refused with a usage error; with one, --cgroup resolves below it.
    if (!cgroup2().path) {
      assert.throws(() => parseTopHttpArgs(['http', '--capture', 'packets']),
        (e: Error) => e instanceof UsageError && /no cgroup v2 hierarchy here/.test(e.message));
      return;
    }
    const root = parseTopHttpArgs(['http', '--capture', 'packets']).packets!;
    assert.equal(root, cgroup2().path);
    assert.equal(parseTopHttpArgs(['http', '--capture', 'packets', '--cgroup', 'system.slice/nginx.service']).packets,
      `${root}/system.slice/nginx.service`);
    assert.equal(parseTopHttpArgs(['http', '--capture', 'packets', '--cgroup', `${root}/a`]).packets, `${root}/a`);
    assert.equal(parseTopHttpArgs(['http', '--capture', 'packets', '--cgroup', '/a']).packets, `${root}/a`);
    assert.throws(() => parseTopHttpArgs(['http', '--capture', 'packets', '--cgroup', '../../etc']),
      (e: Error) => e instanceof UsageError && /is not under the cgroup v2 root/.test(e.message));
  });

  test('listening sockets from /proc/net/tcp: LISTEN rows only, port from the local address, by inode', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1',
      '   2: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 77 1',
      '',
    ].join('\n');
    assert.deepEqual([...listeningInodes(text)], [['4242', 8080], ['77', 80]]);
  });
});

describe('request-duration histograms (OpenTelemetry names)', () => {
  const rec = (o: Partial<L7Record>): L7Record => ({
    protocol: 'http', role: 'server', pid: 1, tid: 1, comm: 'srv', cgroupId: 0n, local: { ip: '127.0.0.1', port: 8080 },
    remote: { ip: '127.0.0.1', port: 40000 }, startBootNs: 0n, endBootNs: 7_000_000n, requestBytes: 1, responseBytes: 1, method: 'GET',
    route: '/users/{id}', status: 200, error: false, ...o,
  });

  test('metric and attributes per protocol and role; a database server\'s side is not counted', () => {
    assert.deepEqual(metricOf(rec({})), ['http.server.request.duration',
      { 'http.request.method': 'GET', 'http.route': '/users/{id}', 'http.response.status_code': '200', 'server.port': '8080' }]);
    assert.equal(metricOf(rec({ role: 'client' }))?.[0], 'http.client.request.duration');
    assert.deepEqual(metricOf(rec({ protocol: 'pgsql', role: 'client', method: 'QUERY', status: '42601', error: true })), ['db.client.operation.duration',
      { 'db.system.name': 'postgresql', 'db.operation.name': 'QUERY', 'server.address': '127.0.0.1', 'server.port': '40000', 'error.type': '42601' }]);
    assert.equal(metricOf(rec({ protocol: 'redis', role: 'server' })), undefined);
  });

  test('cumulative buckets, sum and count; label sets beyond the bound go to one "_other" series', () => {
    const m = new L7Metrics();
    m.observe(rec({}));
    m.observe(rec({ endBootNs: 2_000_000_000n }));
    const [s] = m.series();
    assert.deepEqual(s!.buckets, [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
    assert.equal(s!.count, 2);
    assert.ok(Math.abs(s!.sumS - 2.007) < 1e-9);
    for (let i = 0; i < MAX_SERIES + 5; i++) m.observe(rec({ route: `/r${i}` }));
    const series = m.series();
    assert.equal(series.length, MAX_SERIES + 1);
    assert.equal(m.overflowed, 6);
    assert.equal(series.find((x) => x.labels['http.route'] === '_other')?.count, 6);
  });
});

describe('MySQL/MariaDB', () => {
  const pkt = (seq: number, payload: Buffer | string): Buffer => {
    const p = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
    return Buffer.concat([Buffer.from([p.length & 0xff, (p.length >> 8) & 0xff, p.length >> 16, seq]), p]);
  };
  const OK = Buffer.from([0x00, 0, 0, 2, 0, 0, 0]);
  const EOF = Buffer.from([0xfe, 0, 0, 2, 0]);
  const greeting = pkt(0, Buffer.concat([Buffer.from([0x0a]), Buffer.from('5.5.5-10.11.19-MariaDB\0', 'latin1'), Buffer.alloc(40)]));
  const login = (caps: number): Buffer => {
    const b = Buffer.alloc(32);
    b.writeUInt32LE(caps | 0x200, 0);
    return pkt(1, Buffer.concat([b, Buffer.from('root\0\0', 'latin1')]));
  };
  const col = pkt(2, Buffer.concat([Buffer.from([3]), Buffer.from('def'), Buffer.alloc(20)]));
  const row = (seq: number, v: string): Buffer => pkt(seq, Buffer.concat([Buffer.from([v.length]), Buffer.from(v)]));

  test('handshake, a query\'s result set with and without EOF after the columns, an error; the server seen first', () => {
    for (const deprecateEof of [false, true]) {
      const rs = deprecateEof
        ? Buffer.concat([pkt(1, Buffer.from([1])), col, row(3, 'a'), row(4, 'b'), pkt(5, Buffer.from([0xfe, 0, 0, 2, 0, 0, 0]))])
        : Buffer.concat([pkt(1, Buffer.from([1])), col, pkt(3, EOF), row(4, 'a'), row(5, 'b'), pkt(6, EOF)]);
      const pairs = run(new MysqlParser({ redact: true }), [
        [true, greeting], [false, login(deprecateEof ? 1 << 24 : 0)], [true, pkt(2, OK)],
        [false, pkt(0, "\x03SELECT name FROM t WHERE id = 42 AND n = 'alice'")], [true, rs],
        [false, pkt(0, '\x03SELEC 1')], [true, pkt(1, Buffer.concat([Buffer.from([0xff, 0x28, 0x04]), Buffer.from('#42000syntax')]))],
      ]);
      assert.deepEqual(pairs.map((p) => [p.method, p.target, p.status, p.mysql?.rows, p.error]), [
        ['CONNECT', undefined, 'OK', 0, false], ['QUERY', 'SELECT name FROM t WHERE id = ? AND n = ?', 'OK', 2, false],
        ['QUERY', 'SELEC ?', '42000', 0, true],
      ], `deprecateEof ${deprecateEof}`);
      assert.equal(pairs[2]!.mysql?.code, 1064);
    }
  });

  test('prepare and execute (the statement by its id), rows cut by the capture passed over by length; QUIT unanswered', () => {
    const prepOk = Buffer.alloc(12);
    prepOk.writeUInt32LE(7, 1);
    prepOk.writeUInt16LE(1, 5);
    prepOk.writeUInt16LE(1, 7);
    const exec = Buffer.alloc(10);
    exec[0] = 0x17;
    exec.writeUInt32LE(7, 1);
    const big = row(4, 'x'.repeat(200));
    const rs = Buffer.concat([pkt(1, Buffer.from([1])), col, pkt(3, EOF), big, row(5, 'y'), pkt(6, EOF)]);
    const pairs = run(new MysqlParser({ redact: true }), [
      [true, greeting], [false, login(0)], [true, pkt(2, OK)],
      [false, pkt(0, '\x16SELECT ? + 1')], [true, Buffer.concat([pkt(1, prepOk), col, pkt(3, EOF), col, pkt(5, EOF)])],
      // The large row's tail uncaptured (10 of its bytes kept); the next row and the EOF in a call of their own.
      [false, pkt(0, exec)], [true, rs.subarray(0, 60)], [true, rs.subarray(60, 42 + big.length), 42 + big.length - 60, 10],
      [true, rs.subarray(42 + big.length)],
      [false, pkt(0, '\x01')],
    ], true);
    assert.deepEqual(pairs.map((p) => [p.method, p.target, p.status, p.mysql?.rows]), [
      ['CONNECT', undefined, 'OK', 0], ['PREPARE', 'SELECT ? + ?', 'OK', 0], ['EXECUTE', 'SELECT ? + ?', 'OK', 2],
    ]);
  });
});

