// The kernel's L7 records decoded as the tracker takes them: fields, the
// per-connection texts kept while their bytes match, closes, bad records.
// Pure: records built with the generated codec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  vigilL7Event, VIGIL_L7_CLOSE, VIGIL_L7_DATA, VIGIL_L7_EGRESS, VIGIL_L7_INGRESS, VIGIL_L7_PROTO_HTTP, VIGIL_L7_READ,
  VIGIL_L7_TLS_OPENSSL, type VigilL7Event,
} from '../src/generated/l7.js';
import { L7Decoder } from '../src/l7/decode.js';

const v4 = (...b: number[]): Uint8Array => {
  const a = new Uint8Array(16);
  a.set(b);
  return a;
};

function record(over: Partial<VigilL7Event>, data = 'GET / HTTP/1.1\r\n\r\n'): { view: DataView; size: number } {
  const bytes = Buffer.from(data, 'latin1');
  const size = vigilL7Event.size + bytes.length;
  const view = new DataView(new ArrayBuffer(size + 8));
  vigilL7Event.encode({
    kind: VIGIL_L7_DATA, proto: VIGIL_L7_PROTO_HTTP, dir: VIGIL_L7_INGRESS, call: VIGIL_L7_READ, tls: 0, conn: 0xffff888000001000n,
    enter_ns: 10n, exit_ns: 20n, cgroup_id: 7n, pid: 100, tid: 101, size: bytes.length, data_len: bytes.length, family: 2,
    lport: 8080, rport: 40000, pad1: 0, laddr: v4(127, 0, 0, 1), raddr: v4(10, 0, 0, 2), comm: 'nginx', ...over,
  }, view, 0);
  new Uint8Array(view.buffer, vigilL7Event.size).set(bytes);
  return { view, size };
}

test('l7 decode: a call\'s fields, its bytes copied, ends and name as text', () => {
  const d = new L7Decoder();
  const r = record({ dir: VIGIL_L7_EGRESS, tls: VIGIL_L7_TLS_OPENSSL });
  const k = d.decode(r.view, 0, r.size);
  assert.equal(k.close, false);
  if (k.close) return;
  assert.deepEqual({ ...k.data, segment: undefined }, {
    conn: 0xffff888000001000n, protocol: 'http', egress: true, tls: 'openssl', segment: undefined, pid: 100, tid: 101,
    comm: 'nginx', cgroupId: 7n, local: { ip: '127.0.0.1', port: 8080 }, remote: { ip: '10.0.0.2', port: 40000 },
  });
  assert.equal(Buffer.from(k.data.segment.data).toString('latin1'), 'GET / HTTP/1.1\r\n\r\n');
  assert.equal(k.data.segment.firstNs, 10n, 'a write\'s first byte: its entry');
  new Uint8Array(r.view.buffer).fill(0);
  assert.equal(Buffer.from(k.data.segment.data).toString('latin1'), 'GET / HTTP/1.1\r\n\r\n', 'copied out of the ring');
});

test('l7 decode: a connection\'s texts are kept while its bytes match, made again when they do not', () => {
  const d = new L7Decoder();
  const a = record({});
  const first = d.decode(a.view, 0, a.size);
  const again = d.decode(a.view, 0, a.size);
  assert.ok(!first.close && !again.close);
  assert.equal(again.data.local, first.data.local, 'the same text objects');
  assert.equal(d.cached, 1);
  // The socket's address reused by another connection (another peer), and another thread's name.
  const b = record({ raddr: v4(10, 0, 0, 3), rport: 40001, comm: 'nginx: worker' });
  const other = d.decode(b.view, 0, b.size);
  assert.ok(!other.close);
  assert.deepEqual(other.data.remote, { ip: '10.0.0.3', port: 40001 });
  assert.equal(other.data.comm, 'nginx: worker');
  // IPv6, and family 0 (a TLS session whose socket was not found).
  const six = record({ conn: 2n, family: 10, laddr: v4(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1) });
  const s = d.decode(six.view, 0, six.size);
  assert.ok(!s.close);
  assert.equal(s.data.local.ip, '2001:db8::1');
  const none = record({ conn: 3n, family: 0 });
  const n = d.decode(none.view, 0, none.size);
  assert.ok(!n.close);
  assert.deepEqual([n.data.local, n.data.remote], [{ ip: '', port: 8080 }, { ip: '', port: 40000 }]);
  // A close forgets the connection.
  const c = record({ kind: VIGIL_L7_CLOSE, data_len: 0, size: 0 }, '');
  assert.deepEqual(d.decode(c.view, 0, vigilL7Event.size), { close: true, conn: 0xffff888000001000n });
  assert.equal(d.cached, 2);
});

test('l7 decode: data past the record\'s end and unknown protocols are errors', () => {
  const d = new L7Decoder();
  const r = record({ data_len: 64 });
  assert.throws(() => d.decode(r.view, 0, r.size), /data past its end/);
  const p = record({ proto: 99 });
  assert.throws(() => d.decode(p.view, 0, p.size), /protocol 99/);
});
