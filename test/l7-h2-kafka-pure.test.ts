// The HTTP/2 (HPACK, frames, gRPC) and Kafka parsers on byte sequences as the
// kernel delivers them. Header blocks are encoded with hpack.js's compressor
// (its own dynamic table, Huffman strings); Kafka requests with kafkajs's
// request encoders and responses with kafkajs's Encoder, checked by
// kafkajs's response decoders (no broker is packaged here). Pure: no kernel.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import hpack from 'hpack.js';
import { Http2Parser, grpcError, grpcOfHttp, grpcPath } from '../src/l7/http2.js';
import { KafkaParser, kafkaError, parseKafkaRequest, parseKafkaResponse } from '../src/l7/kafka.js';
import { L7Tracker, type L7Data } from '../src/l7/tracker.js';
import { metricOf } from '../src/l7/metrics.js';
import { LatencyHistogram } from '../src/l7/histogram.js';
import { HttpTopTable, RecordHistograms } from '../src/cli/top-http.js';
import type { L7Record } from '../src/l7/types.js';
import { run } from './l7-calls.js';
import { fetchRequest, fetchResponse, kafka, produceRequest, produceResponse } from './kafka-bytes.js';

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}
const settings = (): Buffer => frame(4, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100]));
const data = (stream: number, n: number, end = false): Buffer => frame(0, end ? 1 : 0, stream, Buffer.alloc(n, 0x61));

/** One direction's HPACK encoder: header lists to blocks, its dynamic table kept across them. */
function encoder(huffman = true): (h: [string, string][]) => Buffer {
  const c = hpack.compressor.create({ table: { maxSize: 4096 } });
  return (h) => {
    c.write(h.map(([name, value]) => ({ name, value, huffman })));
    return c.read()!;
  };
}
const headers = (stream: number, block: Buffer, end: boolean): Buffer => frame(1, 0x4 | (end ? 1 : 0), stream, block);

describe('HTTP/2', () => {
  test('h2c: requests and responses paired by stream, the dynamic table across blocks, Huffman strings', () => {
    const req = encoder();
    const res = encoder(false);
    const r = (stream: number, path: string): Buffer => headers(stream, req([[':method', 'GET'], [':scheme', 'http'],
      [':authority', 'h:1'], [':path', path], ['authorization', 'Bearer secret'], ['x-trace', 'abc'], ['cookie', 'a=1'], ['cookie', 'b=2']]), true);
    const s = (stream: number, status: string): Buffer => headers(stream, res([[':status', status], ['content-type', 'text/plain']]), false);
    const p = new Http2Parser({ redact: true });
    // Encoded in the order sent: each block may refer to the dynamic table's entries of the ones before.
    const s3 = s(3, '404');
    const s1 = s(1, '200');
    const pairs = run(p, [
      [true, Buffer.concat([Buffer.from(PREFACE), settings(), r(1, '/users/1?token=x')])],
      [false, Buffer.concat([settings(), frame(4, 1, 0)])],
      // Stream 3 is asked before stream 1 is answered; answered first.
      [true, r(3, '/users/2')],
      [false, Buffer.concat([s3, data(3, 5, true)])],
      [false, Buffer.concat([s1, data(1, 10)])],
      // A DATA frame bigger than the capture: passed over by its length.
      [false, data(1, 20000, true), 20009, 100],
      [true, r(5, '/users/3')],
      [false, Buffer.concat([s(5, '500'), data(5, 0, true)])],
    ]);
    assert.equal(p.lost, false);
    assert.deepEqual(pairs.map((x) => [x.protocol, x.method, x.target, x.route, x.status]), [
      ['http', 'GET', '/users/2', '/users/{id}', 404],
      ['http', 'GET', '/users/1?token=?', '/users/{id}', 200],
      ['http', 'GET', '/users/3', '/users/{id}', 500],
    ]);
    const first = pairs[1]!;
    assert.equal(first.http?.version, '2');
    assert.equal(first.http?.host, 'h:1');
    assert.equal(first.http?.requestHeaders.authorization, '[redacted]');
    assert.equal(first.http?.requestHeaders['x-trace'], 'abc');
    // HTTP/2 sends cookies as separate fields: each value redacted.
    assert.equal(first.http?.requestHeaders.cookie, '[redacted], [redacted]');
    // From the request's write (call 1's entry) to the end of the last DATA frame's call (call 6).
    assert.equal(first.startBootNs, 1000n);
    assert.equal(first.endBootNs, 6100n);
    assert.equal(first.responseBytes, s1.length + 19 + 20009);
    assert.ok(s1.length < s3.length, 'the second response block refers to the first\'s table entries');
  });

  test('the dynamic table evicts as the encoder\'s does: 40 requests with 300-byte values, 3 per table', () => {
    const req = encoder();
    const res = encoder();
    const calls: [boolean, Buffer][] = [[false, settings()]];
    for (let i = 0; i < 40; i++) {
      const stream = 2 * i + 1;
      const block = req([[':method', 'GET'], [':scheme', 'http'], [':authority', 'h'], [':path', `/n/${i % 5}`], ['x-id', String(i % 7).repeat(300)]]);
      calls.push([true, Buffer.concat([...(i === 0 ? [Buffer.from(PREFACE), settings()] : []), headers(stream, block, true)])]);
      calls.push([false, headers(stream, res([[':status', '200'], ['x-id', String(i % 7).repeat(300)]]), true)]);
    }
    const p = new Http2Parser({ redact: true });
    const pairs = run(p, calls);
    assert.equal(p.lost, false);
    assert.equal(pairs.length, 40);
    pairs.forEach((x, i) => {
      assert.equal(x.target, `/n/${i % 5}`);
      assert.equal(x.http?.requestHeaders['x-id'], `${String(i % 7).repeat(256)}...`);
    });
  });

  test('CONTINUATION frames carry the rest of a header block; a padded HEADERS frame', () => {
    const req = encoder();
    const block = req([[':method', 'POST'], [':scheme', 'http'], [':authority', 'h'], [':path', '/a/b'],
      ['x-long', 'v'.repeat(300)]]);
    const pad = Buffer.concat([Buffer.from([4]), block.subarray(0, 50), Buffer.alloc(4)]);
    const res = encoder();
    const p = new Http2Parser({ redact: true });
    const pairs = run(p, [
      [true, Buffer.concat([Buffer.from(PREFACE), settings(), frame(1, 0x8, 1, pad), frame(9, 0, 1, block.subarray(50, 100)),
        frame(9, 0x4, 1, block.subarray(100)), data(1, 3, true)])],
      [false, Buffer.concat([settings(), headers(1, res([[':status', '201']]), true)])],
    ]);
    assert.deepEqual(pairs.map((x) => [x.method, x.target, x.status]), [['POST', '/a/b', 201]]);
    assert.equal(pairs[0]!.http?.requestHeaders['x-long'], `${'v'.repeat(256)}...`);
  });

  test('gRPC: service and method from the path, grpc-status from the trailers, grpc-message redacted', () => {
    const req = encoder();
    const res = encoder();
    const call = (stream: number, method: string): Buffer => Buffer.concat([headers(stream, req([[':method', 'POST'], [':scheme', 'http'],
      [':authority', 'h'], [':path', `/demo.Greeter/${method}`], ['content-type', 'application/grpc'], ['te', 'trailers']]), false),
    data(stream, 12, true)]);
    const answer = (stream: number, status: string, message?: string): Buffer => Buffer.concat([
      headers(stream, res([[':status', '200'], ['content-type', 'application/grpc']]), false), data(stream, 9),
      headers(stream, res([['grpc-status', status], ...(message ? [['grpc-message', message] as [string, string]] : [])]), true)]);
    const pairs = run(new Http2Parser({ redact: true }), [
      [true, Buffer.concat([Buffer.from(PREFACE), settings(), call(1, 'SayHello')])],
      [false, Buffer.concat([settings(), answer(1, '0')])],
      [true, call(3, 'Fail')],
      [false, answer(3, '5', 'user 42 not found')],
    ]);
    assert.deepEqual(pairs.map((x) => [x.protocol, x.method, x.target, x.status, x.grpc?.service, x.grpc?.method, x.grpc?.status, x.grpc?.message]), [
      ['grpc', 'SayHello', '/demo.Greeter/SayHello', 0, 'demo.Greeter', 'SayHello', 0, undefined],
      ['grpc', 'Fail', '/demo.Greeter/Fail', 5, 'demo.Greeter', 'Fail', 5, '[redacted]'],
    ]);
    assert.equal(grpcError(5, 'client'), true);
    assert.equal(grpcError(5, 'server'), false);
    assert.equal(grpcError(13, 'server'), true);
    assert.equal(grpcOfHttp(503), 14);
    assert.deepEqual(grpcPath('/a.B/C'), ['a.B', 'C']);
    assert.equal(grpcPath('/a/b/c'), undefined);
  });

  test('a header block cut by the capture: counted, the connection lost, nothing decoded after it', () => {
    const req = encoder();
    const res = encoder();
    const ok = headers(1, req([[':method', 'GET'], [':scheme', 'http'], [':authority', 'h'], [':path', '/ok']]), true);
    const big = headers(3, req([[':method', 'GET'], [':scheme', 'http'], [':authority', 'h'], [':path', '/x'], ['x-big', 'y'.repeat(3000)]]), true);
    const p = new Http2Parser({ redact: true });
    const pairs = run(p, [
      [true, Buffer.concat([Buffer.from(PREFACE), settings(), ok])],
      [false, Buffer.concat([settings(), headers(1, res([[':status', '200']]), true)])],
      [true, big, big.length, 1024],
      [false, headers(3, res([[':status', '200']]), true)],
      [true, headers(5, req([[':method', 'GET'], [':scheme', 'http'], [':authority', 'h'], [':path', '/after']]), true)],
    ]);
    assert.deepEqual(pairs.map((x) => x.target), ['/ok']);
    assert.equal(p.truncated, 1);
    assert.equal(p.lost, true);
    assert.equal(p.resyncs, 1);
  });

  test('a connection joined in its middle (no preface, no SETTINGS first) is not decoded', () => {
    const req = encoder();
    const p = new Http2Parser({ redact: true });
    const pairs = run(p, [[true, headers(7, req([[':method', 'GET'], [':scheme', 'http'], [':authority', 'h'], [':path', '/x']]), true)]]);
    assert.deepEqual(pairs, []);
    assert.equal(p.lost, true);
  });

  test('a block that does not decode (an index past the tables) loses the connection, no garbage', () => {
    const p = new Http2Parser({ redact: true });
    const pairs = run(p, [[true, Buffer.concat([Buffer.from(PREFACE), settings(), headers(1, Buffer.from([0xbf, 0xff, 0x7f]), true)])]]);
    assert.deepEqual(pairs, []);
    assert.equal(p.lost, true);
  });
});

describe('Kafka (bytes from kafkajs\'s encoders)', () => {
  test('the responses built here are what kafkajs\'s own decoders read', async () => {
    const p = await kafka.produceResponse.decode(produceResponse(7, [['orders', 0]]).subarray(8)) as { topics: { topicName: string; partitions: { errorCode: number }[] }[] };
    assert.equal(p.topics[0]!.topicName, 'orders');
    assert.equal(p.topics[0]!.partitions[0]!.errorCode, 0);
    const f = await kafka.fetchResponse.decode(fetchResponse(8, 'orders', 0, Buffer.alloc(0)).subarray(8)) as { responses: { topicName: string }[] };
    assert.equal(f.responses[0]!.topicName, 'orders');
  });

  test('request headers and topics: Produce v3 (two topics), Fetch v4', async () => {
    const pr = parseKafkaRequest(await produceRequest(11, ['orders', 'payments']));
    assert.deepEqual(pr, { apiKey: 0, apiVersion: 3, correlationId: 11, clientId: 'vigil-test', topics: ['orders', 'payments'], noResponse: false });
    assert.equal(parseKafkaRequest(await produceRequest(12, ['x'], 0))?.noResponse, true);
    const fr = parseKafkaRequest(await fetchRequest(13, ['orders', 'audit']));
    assert.deepEqual(fr?.topics, ['orders', 'audit']);
    assert.deepEqual(parseKafkaResponse(produceResponse(11, [['orders', 0], ['payments', 3]]), { apiKey: 0, apiVersion: 3 }),
      { correlationId: 11, errorCode: 3 });
    assert.equal(kafkaError(3), 'UNKNOWN_TOPIC_OR_PARTITION');
  });

  test('flexible versions (Produce 9, Fetch 12 and 13): compact strings, arrays and records, tagged fields; topics by id have no names', () => {
    // Encoded here: kafkajs speaks no flexible version. Unsigned varints, compact lengths plus one.
    const uv = (n: number): number[] => { const o: number[] = []; do { o.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0)); n >>>= 7; } while (n); return o; };
    const i16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
    const i32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
    const cstr = (t: string): number[] => [...uv(t.length + 1), ...Buffer.from(t)];
    const arr = <T>(xs: readonly T[], f: (x: T) => number[]): number[] => [...uv(xs.length + 1), ...xs.flatMap(f)];
    const noTags = [0];
    const someTags = [...uv(1), ...uv(0), ...uv(3), 1, 2, 3]; // one tagged field, 3 bytes
    const msg = (body: number[]): Buffer => Buffer.from([...i32(body.length), ...body]);
    const header = (api: number, v: number, id: number): number[] => [...i16(api), ...i16(v), ...i32(id), ...i16(3), ...Buffer.from('app'), ...someTags];
    const uuid = new Array<number>(16).fill(7);
    const produce = msg([...header(0, 9, 21), 0, ...i16(-1), ...i32(30000),
      ...arr(['orders', 'audit'], (t) => [...cstr(t), ...arr([0], (p) => [...i32(p), ...uv(11), ...new Array<number>(10).fill(9), ...noTags]), ...noTags]), ...noTags]);
    assert.deepEqual(parseKafkaRequest(produce), { apiKey: 0, apiVersion: 9, correlationId: 21, clientId: 'app', topics: ['orders', 'audit'], noResponse: false });
    const produceRes = msg([...i32(21), ...someTags,
      ...arr<[string, number]>([['orders', 0], ['audit', 3]], ([t, e]) => [...cstr(t),
        ...arr([0], (p) => [...i32(p), ...i16(e), ...new Array<number>(24).fill(0), ...arr([5], (b) => [...i32(b), 0, ...noTags]), 0, ...noTags]), ...noTags]),
      ...i32(0), ...noTags]);
    assert.deepEqual(parseKafkaResponse(produceRes, { apiKey: 0, apiVersion: 9 }), { correlationId: 21, errorCode: 3 });
    const fetchBody = (v: number, topic: number[]): number[] => [...header(1, v, 22), ...i32(-1), ...i32(500), ...i32(1), ...i32(1 << 20), 0, ...i32(0), ...i32(-1),
      ...arr([topic], (t) => [...t, ...arr([0, 1], (p) => [...i32(p), ...new Array<number>(28).fill(0), ...someTags]), ...noTags]),
      ...arr([], () => []), ...cstr(''), ...noTags];
    assert.deepEqual(parseKafkaRequest(msg(fetchBody(12, cstr('orders'))))?.topics, ['orders']);
    const v13 = parseKafkaRequest(msg(fetchBody(13, uuid)));
    assert.deepEqual([v13?.correlationId, v13?.topics], [22, []]);
    const fetchRes = (v: number, topic: number[], err: number): Buffer => msg([...i32(22), ...noTags, ...i32(0), ...i16(0), ...i32(0),
      ...arr([topic], (t) => [...t, ...arr([0], (p) => [...i32(p), ...i16(err), ...new Array<number>(24).fill(0),
        ...arr([1], () => new Array<number>(16).fill(0).concat(noTags)), ...i32(-1), ...uv(4), 1, 2, 3, ...someTags]), ...noTags]), ...noTags]);
    assert.deepEqual(parseKafkaResponse(fetchRes(12, cstr('orders'), 1), { apiKey: 1, apiVersion: 12 }), { correlationId: 22, errorCode: 1 });
    assert.deepEqual(parseKafkaResponse(fetchRes(13, uuid, 0), { apiKey: 1, apiVersion: 13 }), { correlationId: 22, errorCode: 0 });
    // Through the parser: a record with its topics and the error's name, not UNREAD.
    const pairs = run(new KafkaParser({ redact: true }), [[true, produce], [false, produceRes]]);
    assert.deepEqual(pairs.map((x) => [x.method, x.target, x.status, x.error, x.kafka?.apiVersion]), [['Produce', 'orders,audit', 'UNKNOWN_TOPIC_OR_PARTITION', true, 9]]);
  });

  test('paired by correlation id across calls; a large fetch response cut by the capture; acks=0 makes no record', async () => {
    const big = fetchResponse(3, 'orders', 0, Buffer.alloc(50000, 1));
    const p = new KafkaParser({ redact: true });
    const pairs = run(p, [
      [true, await produceRequest(1, ['orders'])],
      [false, produceResponse(1, [['orders', 0]])],
      [true, await produceRequest(2, ['ghost'], 0)], // no response comes
      [true, await fetchRequest(3, ['orders'])],
      [false, big, big.length, 1024],
      [true, await produceRequest(4, ['missing'])],
      [false, produceResponse(4, [['missing', 3]])],
    ]);
    assert.deepEqual(pairs.map((x) => [x.method, x.target, x.status, x.error, x.kafka?.correlationId]), [
      ['Produce', 'orders', 'OK', false, 1],
      ['Fetch', 'orders', 'OK', false, 3],
      ['Produce', 'missing', 'UNKNOWN_TOPIC_OR_PARTITION', true, 4],
    ]);
    assert.equal(pairs[1]!.responseBytes, big.length);
    // The fetch response ends with its call (call 5's exit).
    assert.equal(pairs[1]!.endBootNs, 5100n);
    assert.equal(p.dropped, 0);
    assert.equal(p.resyncs, 0);
  });

  test('the tracker reports grpc and kafka records with their metrics (rpc.*, messaging.*)', async () => {
    const records: L7Record[] = [];
    const t = new L7Tracker({ redact: true, protocols: new Set(['kafka', 'grpc']) }, (r) => records.push(r));
    const ctx = { pid: 1, tid: 1, comm: 'c', cgroupId: 0n, local: { ip: '127.0.0.1', port: 5000 }, remote: { ip: '127.0.0.1', port: 9092 } };
    let n = 0n;
    const send = (protocol: L7Data['protocol'], egress: boolean, b: Buffer): void => {
      n += 1000n;
      t.data({ ...ctx, conn: protocol === 'kafka' ? 1n : 2n, protocol, egress, segment: { data: b, size: b.length, firstNs: n, lastNs: n + 10n } });
    };
    send('kafka', true, await produceRequest(9, ['orders']));
    send('kafka', false, produceResponse(9, [['orders', 0]]));
    const req = encoder();
    const res = encoder();
    send('http2', true, Buffer.concat([Buffer.from(PREFACE), settings(), headers(1, req([[':method', 'POST'], [':scheme', 'http'],
      [':authority', 'h'], [':path', '/demo.Greeter/SayHello'], ['content-type', 'application/grpc']]), false), data(1, 5, true)]));
    send('http2', false, Buffer.concat([settings(), headers(1, res([[':status', '200'], ['content-type', 'application/grpc']]), false),
      headers(1, res([['grpc-status', '14']]), true)]));
    // Plain HTTP/2 on the same wire is not asked for: no record.
    send('http2', true, headers(3, req([[':method', 'GET'], [':scheme', 'http'], [':authority', 'h'], [':path', '/']]), true));
    send('http2', false, headers(3, res([[':status', '200']]), true));
    assert.deepEqual(records.map((r) => [r.protocol, r.role, r.method, r.status, r.error]),
      [['kafka', 'client', 'Produce', 'OK', false], ['grpc', 'client', 'SayHello', 14, true]]);
    assert.deepEqual(metricOf(records[0]!), ['messaging.client.operation.duration', { 'messaging.system': 'kafka',
      'messaging.operation.name': 'produce', 'messaging.destination.name': 'orders', 'server.address': '127.0.0.1', 'server.port': '9092',
      'error.type': '' }]);
    assert.deepEqual(metricOf(records[1]!), ['rpc.client.duration', { 'rpc.system': 'grpc', 'rpc.service': 'demo.Greeter',
      'rpc.method': 'SayHello', 'rpc.grpc.status_code': '14', 'server.address': '127.0.0.1', 'server.port': '9092' }]);
    assert.equal(metricOf({ ...records[1]!, role: 'server' })?.[0], 'rpc.server.duration');
  });
});

describe('vigil top http: HTTP/2 and gRPC endpoints from records', () => {
  test('records make endpoint histograms beside the kernel\'s; beyond the bound they are counted in the overflow', () => {
    const h = new RecordHistograms(2);
    const rec = (path: string, role: 'server' | 'client', error = false): L7Record => ({
      protocol: 'grpc', role, pid: 1, tid: 1, comm: 'node', cgroupId: 0n, local: { ip: '127.0.0.1', port: role === 'server' ? 50051 : 40000 },
      remote: { ip: '127.0.0.1', port: role === 'server' ? 40000 : 50051 }, startBootNs: 0n, endBootNs: 2_000_000n, requestBytes: 1,
      responseBytes: 1, method: 'M', target: path, route: path, status: error ? 5 : 0, error,
    });
    for (let i = 0; i < 3; i++) h.add(rec('/a.S/M', 'server'));
    h.add(rec('/a.S/M', 'client', true));
    h.add(rec('/a.S/N', 'server'));
    const empty = { endpoints: [], overflow: { count: 0, errors: 0, sumNs: 0n, hist: new LatencyHistogram() }, overflowed: 0n };
    const rows = new HttpTopTable().take(h.merged(empty));
    assert.deepEqual(rows.map((r) => [r.role, r.service, r.method, r.route, r.requests, r.errors]), [
      ['server', 'node:50051', 'GRPC', '/a.S/M', 3, 0],
      ['other', '(other endpoints)', '', '', 1, 0],
      ['client', 'node->127.0.0.1:50051', 'GRPC', '/a.S/M', 1, 1],
    ]);
    assert.equal(h.merged(empty).overflowed, 1n);
  });
});
