// One formatter per output format for every VigilEvent kind (pure): each kind
// comes out as one line in each format, JSON lines parse, table rows keep the
// header's columns, and the pipeline's merge key and loss sensor are the
// event's own. (Policy events have their own suite: policy-events.test.ts.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEvent, eventEncoder, eventFormatter, formatEvent, type EventFormatter } from '../src/output/event-format.js';
import { eventSensor, eventTime, VIGIL_EVENT_KINDS, type VigilEvent } from '../src/pipeline/index.js';
import { TetragonFormatter, fileMembers, fileObject } from '../src/output/tetragon.js';
import { newFlowRecord } from '../src/network/flow-format.js';
import { BootClock } from '../src/util/clock.js';
import { Fragments, bytesOf, piecesAfter, piecesOf } from '../src/pipeline/output.js';
import { FieldMask } from '../src/output/field-mask.js';
import { EPOCH, FakeLookup, START, fileEvent, info, sysEvent } from './rules-live-util.js';
import type { FileEvent } from '../src/sensors/file-events.js';

const clock = BootClock.fixed(EPOCH - START);
const lookup = new FakeLookup();
const bash = lookup.add(info({ pid: 200, comm: 'bash' }));
const at = (ms: number): { timeBootNs: bigint; timeNs: bigint } => {
  const boot = START + BigInt(ms) * 1_000_000n;
  return { timeBootNs: boot, timeNs: boot + (EPOCH - START) };
};
const flowRecord = (summary: string): ReturnType<typeof newFlowRecord> => newFlowRecord({
  timeNs: at(5).timeNs, verdict: 'FORWARDED', IP: { source: '127.0.0.1', destination: '127.0.0.1', ipVersion: 'IPv4' },
  l4: { TCP: { source_port: 40000, destination_port: 80 } }, source: {}, destination: {}, node_name: 'node1',
  event_kind: 'tcp-connect', traffic_direction: 'EGRESS', Summary: summary, flow_id: 'f1',
} as unknown as Parameters<typeof newFlowRecord>[0]);

/** One event of each kind but policy, in time order. */
const EVENTS: VigilEvent[] = [
  { kind: 'exec', ...at(1), process: bash, parent: undefined },
  { kind: 'fork', ...at(2), process: bash, parent: undefined },
  { ...fileEvent({ syscall: 'openat', op: 'open', path: '/etc/passwd' }, 200), timeNs: at(3).timeNs, bootNs: at(3).timeBootNs },
  { ...sysEvent({ call: 'connect', ret: -111, addr: { family: 2, ip: '127.0.0.1', port: 80 } }, 200),
    timeNs: at(4).timeNs, bootNs: at(4).timeBootNs },
  { kind: 'flow', timeBootNs: at(5).timeBootNs, record: flowRecord('TCP Flags: SYN') },
  { kind: 'dns', timeBootNs: at(6).timeBootNs, record: flowRecord('DNS Query example.com. A') },
  { kind: 'alert', timeBootNs: at(7).timeBootNs, alert: { rule: 'r', priority: 'Warning', source: 'syscall', tags: [],
    timeNs: at(7).timeNs, hostname: 'node1', message: 'something happened', outputFields: {} } },
  { kind: 'exec_failed', ...at(8), process: bash, parent: undefined, filename: 'nope', args: ['nope'], cwd: '/',
    errno: 2, error: 'ENOENT', at: undefined, argsTruncated: false, filenameTruncated: false },
  { kind: 'exit', ...at(9), process: bash, parent: undefined, status: 0, signal: null, signalName: null, coreDumped: false },
  { kind: 'l7', timeBootNs: at(9).timeBootNs + 500_000n, record: {
    protocol: 'http', role: 'server', pid: 200, tid: 201, comm: 'nginx', cgroupId: 1n, local: { ip: '127.0.0.1', port: 80 },
    remote: { ip: '127.0.0.1', port: 40000 }, startBootNs: at(9).timeBootNs, endBootNs: at(9).timeBootNs + 500_000n,
    requestBytes: 80, responseBytes: 200, method: 'GET', target: '/users/7?x=?', route: '/users/{id}', status: 200, error: false,
    http: { version: '1.1', host: 'h', requestHeaders: { host: 'h' }, responseHeaders: {} },
  } },
  { kind: 'lost', timeBootNs: at(10).timeBootNs, loss: { sensor: 'file', reason: 'queue_full', count: 3 } },
];

/** The event's line in a format that has one for every kind. */
function lineOf(f: EventFormatter, e: VigilEvent): string {
  return formatEvent(f, e) ?? assert.fail(`no line for ${e.kind}`);
}

describe('VigilEvent', () => {
  test('every kind but policy has a fixture here; merge key and loss sensor are the event\'s', () => {
    assert.deepEqual([...new Set(EVENTS.map((e) => e.kind)), 'policy'].sort(), [...VIGIL_EVENT_KINDS].sort());
    const times = EVENTS.map(eventTime);
    assert.deepEqual(times, [...times].sort((a, b) => (a < b ? -1 : 1)));
    assert.equal(times[0], at(1).timeBootNs);
    assert.deepEqual(EVENTS.map(eventSensor),
      ['process', 'process', 'file', 'syscall', 'flow', 'dns', 'rules', 'process', 'process', 'l7', 'file']);
  });

  test('json: one object per line for every kind, with its own key', () => {
    const f = eventFormatter('json', { node: 'node1', lookup, hostNamespaces: {}, clock });
    const keys = EVENTS.map((e) => {
      const line = lineOf(f, e);
      assert.doesNotMatch(line, /\n/);
      return Object.keys(JSON.parse(line) as object)[0];
    });
    assert.deepEqual(keys, ['process_exec', 'process_fork', 'file', 'syscall', 'flow', 'flow', 'hostname', 'process_exec_failed',
      'process_exit', 'l7', 'lost']);
    const sys = JSON.parse(lineOf(f, EVENTS[3]!)) as { syscall: { call: string; error: string; task: { pid: number } } };
    assert.equal(sys.syscall.call, 'connect');
    assert.equal(sys.syscall.error, 'ECONNREFUSED');
    assert.equal(sys.syscall.task.pid, 200);
    const l7 = JSON.parse(lineOf(f, EVENTS[9]!)) as
      { l7: { latency_ns: number; route: string; process: { pid: number }; start_time: string }; time: string };
    assert.equal(l7.l7.latency_ns, 500_000);
    assert.equal(l7.l7.route, '/users/{id}');
    assert.equal(l7.l7.process.pid, 200);
    // The event's time is the response's end; the record's start_time its request's first byte.
    const nanos = (t: string): number => Number(/\.(\d{9})Z$/.exec(t)?.[1]);
    assert.equal(nanos(l7.time) - nanos(l7.l7.start_time), 500_000);
  });

  test('compact: the time first (with a time format), then the kind\'s own line', () => {
    const f = eventFormatter('compact', { node: 'node1', lookup, hostNamespaces: {}, clock, timeFormat: 'RFC3339' });
    const lines = EVENTS.map((e) => lineOf(f, e));
    for (const l of lines.slice(0, 6)) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: /, l);
    assert.match(lines[3]!, /🔌 connect 200 x connect -> 127\.0\.0\.1:80 = ECONNREFUSED$/);
    assert.match(lines[4]!, /127\.0\.0\.1:40000 -> 127\.0\.0\.1:80 .*FORWARDED \(TCP Flags: SYN\)$/);
    assert.match(lines[6]!, /: Warning something happened$/);
    assert.match(lines[9]!, /: 🌐 http  server 200 nginx 127\.0\.0\.1:80 <- 127\.0\.0\.1:40000 GET \/users\/7\?x=\? 200 500µs$/);
    assert.equal(lines[10], '⚠️ lost 3 file events (output queue full)');
  });

  test('table: every kind in the header\'s columns', () => {
    const f = eventFormatter('table', { node: 'node1', lookup, hostNamespaces: {}, clock });
    const header = new TetragonFormatter('table', { node: 'node1', hostNamespaces: {} }).header();
    const detail = header.indexOf('DETAIL');
    const rows = EVENTS.map((e) => lineOf(f, e));
    for (const r of rows) assert.equal(r[detail - 1], ' ', r);
    assert.deepEqual(rows.map((r) => r.slice(13, 24).trim()),
      ['exec', 'fork', 'open', 'connect', 'flow', 'dns', 'alert', 'exec_failed', 'exit', 'http', 'lost']);
  });

  test('tetragon: strict Tetragon process events, Hubble flows, no line for kinds neither schema has', () => {
    const f = eventFormatter('tetragon', { node: 'node1', lookup, hostNamespaces: {}, clock });
    const lines = EVENTS.map((e) => formatEvent(f, e));
    assert.deepEqual(lines.map((l) => (l === undefined ? undefined : Object.keys(JSON.parse(l) as object)[0])),
      ['process_exec', undefined, 'process_kprobe', undefined, 'flow', 'flow', undefined, undefined, 'process_exit', undefined,
        'rate_limit_info']);
    const hubble = eventFormatter('jsonpb', { node: 'node1', lookup, hostNamespaces: {}, clock });
    assert.equal(formatEvent(hubble, EVENTS[4]!), lines[4]);
    assert.equal(Object.keys(JSON.parse(lineOf(hubble, EVENTS[10]!)) as object)[0], 'lost_events');
  });

  test('an encoder writes the same bytes as the formatter\'s lines, the process texts shared (json, tetragon, masked)', () => {
    // A non-ASCII binary and argument: the shared bytes are UTF-8, the text around them too.
    const cafe = lookup.add(info({ pid: 201, comm: 'café', binary: '/usr/bin/café', args: ['café', 'naïve'] }));
    const events: VigilEvent[] = [...EVENTS, { ...fileEvent({ syscall: 'openat', op: 'open', path: '/tmp/ü' }, 201),
      timeNs: at(11).timeNs, bootNs: at(11).timeBootNs }];
    assert.ok(cafe);
    for (const format of ['json', 'tetragon', 'compact'] as const) {
      for (const fields of [undefined, FieldMask.parse('process.pid,time')]) {
        if (fields && format === 'compact') continue;
        // With credentials: a process's text (its capability names) is long enough to be written from where it is.
        const o = { node: 'node1', lookup, hostNamespaces: {}, clock, fields, processCred: true };
        const f = eventFormatter(format, o);
        const enc = eventEncoder(format, o);
        const lines = events.map((e) => formatEvent(f, e));
        const encoded = events.map((e) => encodeEvent(enc, e));
        const written = lines.filter((l) => l !== undefined);
        const batch = { lines: encoded.filter((l) => l !== undefined), sensors: [] };
        assert.equal(bytesOf(batch).toString('utf8'), `${written.join('\n')}\n`, `${format} ${fields ? 'masked' : ''}`);
        // A file's writev: the same bytes, the shared process texts written from their own buffers.
        const pieces = piecesOf(batch);
        assert.equal(Buffer.concat(pieces).toString('utf8'), `${written.join('\n')}\n`, `${format} ${fields ? 'masked' : ''} in pieces`);
        if (format !== 'compact' && !fields) {
          assert.ok(encoded.some((l) => l instanceof Fragments), `${format}: process texts shared as bytes`);
          // Shared pieces of 512 bytes or more (output.ts's SHARED_MIN) are not copied; shorter ones are.
          const shared = encoded.flatMap((l) => (l instanceof Fragments ? l.parts.filter((x): x is Buffer => Buffer.isBuffer(x) && x.length >= 512) : []));
          assert.ok(shared.length > 0 && shared.every((b) => pieces.includes(b)), `${format}: shared bytes written where they are`);
        }
      }
    }
  });
});

describe('the bytes of a file\'s write', () => {
  test('piecesAfter: what is left of a write cut short anywhere, even inside a piece', () => {
    const pieces = [Buffer.from('ab'), Buffer.alloc(600, 'x'), Buffer.from('c\n')];
    const all = Buffer.concat(pieces);
    for (let n = 0; n <= all.length; n++) assert.deepEqual(Buffer.concat(piecesAfter(pieces, n)), all.subarray(n), `after ${n}`);
    assert.deepEqual(piecesAfter(pieces, all.length), []);
  });

  test('piecesOf: short shared bytes copied, long ones their own piece, text runs between them one piece each', () => {
    const long = Buffer.alloc(700, 'p');
    const short = Buffer.from('{"pid":1}');
    const lines = [new Fragments(['{"a":', long, ',"b":', short, '}']), 'plain é', new Fragments(['{"c":', long, '}'])];
    const pieces = piecesOf({ lines, sensors: [] });
    assert.equal(Buffer.concat(pieces).toString('utf8'), `${lines.map(String).join('\n')}\n`);
    assert.equal(pieces.filter((p) => p === long).length, 2, 'the long bytes twice, not copied');
    assert.equal(pieces.length, 5, '"{"a":" | long | the text up to the next long | long | "}\\n"');
    assert.equal(piecesOf({ lines: ['x', 'y'], sensors: [] }).length, 1, 'text alone: one buffer');
  });

  test('json file members made as text are what JSON.stringify writes of the object', () => {
    const odd = ['/tmp/"quoted"\\back', '/tmp/\u0001ctl\n', '/tmp/ü€😀', '/tmp/lone\ud800', ''];
    const cases: FileEvent[] = [
      fileEvent({ syscall: 'openat', op: 'open', path: '/etc/passwd' }, 1),
      fileEvent({ syscall: 'openat', op: 'open', path: '/etc/x', mode: 0o644, ret: -2, flags: Object.freeze(['O_WRONLY', 'O_CREAT']) }, 1),
      fileEvent({ syscall: 'openat', op: 'open', path: '/etc/y', dev: 2049, ino: 2 ** 53 + 2, ret: 4 }, 1),
      fileEvent({ syscall: 'renameat2', op: 'rename', path: '/a', target: '/b "c"', rawTarget: 'b "c"', flags: [] }, 1),
      fileEvent({ syscall: 'symlinkat', op: 'symlink', path: '/l', target: '../t', rawTarget: '../t' }, 1),
      ...odd.map((path) => fileEvent({ syscall: 'unlinkat', op: 'unlink', path, rawPath: `${path}/raw`, ret: 0 }, 1)),
    ];
    for (const e of cases) {
      assert.equal(`{${fileMembers(e).slice(1)}}`, JSON.stringify(fileObject(e)), e.path);
      assert.equal(fileMembers(e), fileMembers(e), 'flag texts kept per list');
    }
    // The last event's text is reused only while every member is the same: each differing one in turn.
    const base = fileEvent({ syscall: 'openat', op: 'open', path: '/etc/y', dev: 2049, ino: 7, ret: 4, mode: 0o600 }, 1);
    const variants: Partial<FileEvent>[] = [{ path: '/etc/z' }, { rawPath: '/etc/./y' }, { ret: 5 }, { mode: 0o644 },
      { ino: 8 }, { dev: 2050 }, { flags: Object.freeze(['O_WRONLY']) }, { syscall: 'open' }, { op: 'unlink', syscall: 'unlinkat' },
      { target: '/t', rawTarget: 't' }];
    for (const v of variants) {
      const e = { ...base, ...v };
      fileMembers(base);
      assert.equal(`{${fileMembers(e).slice(1)}}`, JSON.stringify(fileObject(e)), JSON.stringify(v));
      assert.equal(`{${fileMembers(base).slice(1)}}`, JSON.stringify(fileObject(base)), `after ${JSON.stringify(v)}`);
    }
    // Through a field mask, the same: the last event's masked members are reused only for the same members and mask.
    const masks = [FieldMask.parse('process.pid,path,ret'), FieldMask.parse('op,flags,ino'), FieldMask.parse('process.pid')];
    const formatters = masks.map((fields) => eventFormatter('json', { node: 'node1', lookup, hostNamespaces: {}, clock, fields }));
    const expected = (mask: FieldMask, e: FileEvent): unknown => mask.apply(fileObject(e));
    const members = (line: string | undefined): unknown => {
      const { process: _p, parent: _q, ...rest } = (JSON.parse(line!) as { file: Record<string, unknown> }).file;
      return rest;
    };
    const file200 = (v: Partial<FileEvent>): FileEvent => ({ ...base, ...v, task: { ...base.task, pid: 200, tid: 200 } });
    for (const v of [{}, ...variants, {}]) {
      for (let i = 0; i < masks.length; i++) {
        const e = file200(v);
        assert.deepEqual(members(formatEvent(formatters[i]!, e)), expected(masks[i]!, e), `${JSON.stringify(v)} through mask ${i}`);
        assert.deepEqual(members(formatEvent(formatters[i]!, e)), expected(masks[i]!, e), `${JSON.stringify(v)} again through mask ${i}`);
      }
    }
  });
});

describe('process texts kept per image', () => {
  // The process's whole text as bytes (not the capability and namespace texts every process shares).
  const shared = (l: ReturnType<TetragonFormatter['encode']>): Buffer | undefined =>
    (l instanceof Fragments ? l.parts.find((x): x is Buffer => Buffer.isBuffer(x) && x.toString('latin1', 0, 11) === '{"exec_id":')
      : undefined);

  test('a field the cache fills in later makes the text again; a busy process keeps its bytes among 1,100 others', () => {
    const procs = new FakeLookup();
    const busy = procs.add(info({ pid: 300, comm: 'busy', ppid: 0 }));
    const f = new TetragonFormatter('json', { node: 'node1', lookup: procs, hostNamespaces: {} });
    const open = (pid: number) => ({ ...fileEvent({ syscall: 'openat', op: 'open', path: '/etc/hosts' }, pid), timeNs: at(1).timeNs });
    for (let i = 0; i < 2; i++) f.encode(open(300));
    const bytes = shared(f.encode(open(300)));
    assert.ok(bytes, 'from the third event on, the text as shared bytes');
    assert.equal(shared(f.encode(open(300))), bytes, 'the same bytes, not made again');
    // Later the cache learns the cwd (a /proc read): the next line has it.
    (busy as { cwd: string }).cwd = '/srv/new';
    assert.equal((JSON.parse(String(f.encode(open(300)))) as { file: { process: { cwd: string } } }).file.process.cwd, '/srv/new');
    const kept = (() => {
      for (let i = 0; i < 3; i++) f.encode(open(300));
      return shared(f.encode(open(300)));
    })();
    assert.ok(kept && kept !== bytes);
    // 1,100 other processes (the cache keeps 1,024 texts), the busy one's events among them.
    for (let i = 0; i < 1100; i++) {
      procs.add(info({ pid: 1000 + i, comm: `p${i}`, ppid: 0 }));
      f.encode(open(1000 + i));
      if (i % 10 === 0) assert.equal(shared(f.encode(open(300))), kept, `still kept after ${i}`);
    }
    // The first of the others went out long ago: its text is made again (a string the first time).
    assert.equal(shared(f.encode(open(1000))), undefined);
  });
});
