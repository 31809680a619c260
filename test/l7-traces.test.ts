// HTTP spans over OTLP (vigil observe --sensors http --otlp URL --otlp-traces):
// a real Node front server on loopback that calls a back server for each
// request, driven by curl sending a W3C traceparent; the test's collector
// decodes the spans: the front's SERVER spans carry the sent trace and parent
// ids, the front's CLIENT spans (same thread, inside the server request) are
// its children. The traceparent parser and the linker's rules, pure.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { kernelSuite, missingFeature, waitFor } from './helpers.js';
import { runVigil } from './observe-util.js';
import { TRACES, decode, receiver } from './otlp-receiver.js';
import { parseTraceparent } from '../src/l7/http.js';
import { SpanLinker, spanAttributes, type L7Span } from '../src/l7/traces.js';
import type { L7Record } from '../src/l7/types.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

describe('traceparent and span links (pure)', () => {
  test('parseTraceparent: W3C version 00 and later, invalid ones refused', () => {
    assert.deepEqual(parseTraceparent(`00-${TRACE_ID}-${PARENT}-01`), { traceId: TRACE_ID, parentSpanId: PARENT, sampled: true });
    assert.deepEqual(parseTraceparent(`01-${TRACE_ID}-${PARENT}-00-future`), { traceId: TRACE_ID, parentSpanId: PARENT, sampled: false });
    for (const bad of [undefined, '', `ff-${TRACE_ID}-${PARENT}-01`, `00-${'0'.repeat(32)}-${PARENT}-01`, `00-${TRACE_ID}-${'0'.repeat(16)}-01`,
      `00-${TRACE_ID}-${PARENT}-01-extra`, `00-${TRACE_ID.toUpperCase()}-${PARENT}-01`, `00-${TRACE_ID}-${PARENT}`]) {
      assert.equal(parseTraceparent(bad), undefined, String(bad));
    }
  });

  const rec = (role: 'server' | 'client', tid: number, start: number, end: number, traceparent?: string): L7Record => ({
    protocol: 'http', role, pid: 7, tid, comm: 'app', cgroupId: 1n, local: { ip: '127.0.0.1', port: role === 'server' ? 80 : 40000 },
    remote: { ip: '127.0.0.1', port: role === 'server' ? 40001 : 8080 }, startBootNs: BigInt(start), endBootNs: BigInt(end),
    requestBytes: 1, responseBytes: 1, method: 'GET', target: '/users/1?x=?', route: '/users/{id}', status: 200, error: false,
    http: { version: '1.1', requestHeaders: {}, responseHeaders: {}, ...(traceparent ? { traceparent: parseTraceparent(traceparent)! } : {}) },
  });

  test('SpanLinker: a client request inside a server request of its thread is its child; others are roots', () => {
    const out: L7Span[] = [];
    const l = new SpanLinker((s) => out.push(s), { holdNs: 1000n });
    l.record(rec('client', 1, 20, 30)); // inside the server request below
    l.record(rec('client', 2, 20, 30)); // another thread
    l.record(rec('client', 1, 5, 30)); // began before the server request
    assert.equal(out.length, 0, 'client spans wait for their server');
    l.record(rec('server', 1, 10, 40, `00-${TRACE_ID}-${PARENT}-01`));
    const server = out.find((s) => s.kind === 'server')!;
    assert.equal(server.traceId, TRACE_ID);
    assert.equal(server.parentSpanId, PARENT);
    const child = out.find((s) => s.kind === 'client')!;
    assert.equal(out.length, 2);
    assert.equal(child.traceId, TRACE_ID);
    assert.equal(child.parentSpanId, server.spanId);
    assert.equal(l.stats.linked, 1);
    l.flush(1000n); // not yet past the hold
    assert.equal(out.length, 2);
    l.flush(1031n);
    assert.equal(out.length, 4, 'the unclaimed ones go out after the hold');
    for (const s of out.slice(2)) {
      assert.equal(s.parentSpanId, undefined);
      assert.match(s.traceId, /^[0-9a-f]{32}$/);
    }
    const { name, attributes } = spanAttributes(server);
    assert.equal(name, 'GET /users/{id}');
    assert.deepEqual([attributes['url.path'], attributes['http.route'], attributes['server.port'], attributes['client.address']],
      ['/users/1', '/users/{id}', 80, '127.0.0.1']);
  });
});

/** Bytes of an OTLP id as decoded (a Buffer or base64), as lowercase hex. */
const hex = (v: unknown): string => (v === undefined ? '' : Buffer.from(typeof v === 'string' ? Buffer.from(v, 'base64') : (v as Uint8Array)).toString('hex'));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const attrs = (list: any[] = []): Record<string, unknown> => Object.fromEntries(list.map((a) => [a.key,
  a.value.intValue !== undefined ? Number(a.value.intValue) : Object.values(a.value)[0]]));

/** A front server calling a back server for each request, in one Node process (one thread). */
const SERVERS = `
const http = require('node:http');
const back = http.createServer((q, s) => s.end('back')).listen(0, '127.0.0.1', () => {
  const front = http.createServer((q, s) => {
    http.get({ host: '127.0.0.1', port: back.address().port, path: '/inner' + q.url, agent: false }, (r) => {
      r.resume();
      r.on('end', () => s.end('front'));
    });
  }).listen(0, '127.0.0.1', () => console.log(JSON.stringify({ front: front.address().port, back: back.address().port })));
});`;

describe('vigil observe --otlp-traces', { timeout: 120_000 }, () => {
  const suite = kernelSuite(() => missingFeature(['tracepoint']));
  let rx: Awaited<ReturnType<typeof receiver>>;
  let servers: ChildProcess | undefined;
  before(async () => (rx = await receiver()));
  after(async () => {
    servers?.kill('SIGKILL');
    await rx.close();
  });

  test('the front\'s SERVER spans carry the sent traceparent; its CLIENT spans are their children', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    servers = spawn(process.execPath, ['-e', SERVERS], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ports = await new Promise<{ front: number; back: number }>((res, rej) => {
      servers!.stdout!.setEncoding('utf8').once('data', (s: string) => res(JSON.parse(s)));
      servers!.once('exit', () => rej(new Error('the servers exited')));
    });
    const spans = (): any[] => rx.requests.filter((r) => r.path === '/v1/traces')
      .flatMap((r) => decode(TRACES, r.body).resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans
        .map((s: any) => ({ ...s, resource: attrs(rs.resource.attributes) })))));
    const run = await runVigil(['observe', '--sensors', 'http', '--pid', String(servers.pid), '--output', 'json',
      '--otlp', rx.url, '--otlp-traces', '--duration', '60'], async (vigil) => {
      for (let i = 1; i <= 3; i++) {
        const r = spawnSync('curl', ['-sf', '-o', '/dev/null', '-H', `traceparent: 00-${TRACE_ID}-${PARENT}-01`,
          `http://127.0.0.1:${ports.front}/users/${i}`], { timeout: 10_000 });
        assert.equal(r.status, 0, String(r.stderr));
      }
      assert.ok(await waitFor(() => spans().length >= 9, 20_000), `9 spans arrived (${spans().length})`);
      vigil.child.kill('SIGTERM');
    }, { timeoutMs: 60_000 });
    assert.equal(run.code, 0, run.stderr);
    const all = spans();
    const front = all.filter((s) => s.kind === 'SPAN_KIND_SERVER' && attrs(s.attributes)['server.port'] === ports.front);
    const calls = all.filter((s) => s.kind === 'SPAN_KIND_CLIENT' && attrs(s.attributes)['server.port'] === ports.back);
    const back = all.filter((s) => s.kind === 'SPAN_KIND_SERVER' && attrs(s.attributes)['server.port'] === ports.back);
    assert.deepEqual([front.length, calls.length, back.length], [3, 3, 3], JSON.stringify(all.map((s) => [s.kind, s.name])));
    for (const s of front) {
      assert.equal(hex(s.traceId), TRACE_ID);
      assert.equal(hex(s.parentSpanId), PARENT);
      const a = attrs(s.attributes);
      assert.equal(a['http.request.method'], 'GET');
      assert.equal(a['http.route'], '/users/{id}');
      assert.equal(String(a['http.response.status_code']), '200');
      assert.equal(a['client.address'], '127.0.0.1');
      assert.equal(String(s.resource['process.pid']), String(servers.pid));
      assert.ok(BigInt(s.endTimeUnixNano) > BigInt(s.startTimeUnixNano), 'kernel times, start before end');
    }
    const frontIds = new Set(front.map((s) => hex(s.spanId)));
    for (const c of calls) {
      assert.equal(hex(c.traceId), TRACE_ID, 'the client call joins the server request\'s trace');
      assert.ok(frontIds.has(hex(c.parentSpanId)), 'its parent is a front SERVER span');
    }
    assert.equal(new Set(calls.map((c) => hex(c.parentSpanId))).size, 3, 'one call per server request');
  });
});
