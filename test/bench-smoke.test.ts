// The ring-buffer benchmark's producer and consumer, checked by counts only
// (timings belong to `npm run bench`, never to tests): every record produced
// is either decoded or counted as lost, and a record the ring could not hold
// shows up both in vigil_lost and as a gap in its CPU's sequence.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../src/bpf/native.js';
import { MapType } from '../src/bpf/index.js';
import { runRingbuf, type RingbufRunResult } from '../bench/ringbuf.js';

/** 1 available, 0 not supported, < 0 could not tell (then the test runs and says what failed). */
function ringbufProbe(): number {
  return native().probeMapType(MapType.ringbuf);
}

function assertAccounted(r: RingbufRunResult): void {
  assert.equal(r.callsSeen, r.calls, 'the BPF program saw every getppid of the load generator');
  assert.equal(r.produced, r.calls * r.opts.recordsPerCall, 'records_per_call records per call');
  assert.equal(r.decoded + r.lost, r.produced, 'decoded + lost == produced');
  assert.equal(r.seqMissing, r.lost, 'sequence gaps seen by the decoder == vigil_lost');
  assert.equal(r.disorder, 0, 'per-CPU order');
  assert.equal(r.badRecords, 0, 'every field decoded as the producer wrote it');
}

describe('bench smoke: ring buffer producer and TypeScript consumer', () => {
  test('a low rate into a ring that holds everything: all decoded, none lost', async (t) => {
    if (ringbufProbe() === 0) return t.skip('the kernel has no BPF ring buffer (5.8+)');
    // 500 calls x 4 records x 72 bytes (with headers) = 144 KB: fits 1 MiB even if never drained.
    const r = await runRingbuf({ rate: 20_000, recordsPerCall: 4, maxCalls: 500, durationMs: 10_000,
      ringBytes: 1 << 20, wakeupBytes: 0, decode: 'object' });
    assert.equal(r.calls, 500);
    assert.equal(r.produced, 2000);
    assert.equal(r.decoded, r.produced);
    assert.equal(r.lost, 0);
    assertAccounted(r);
  });

  test('a wakeup threshold never reached: the reader still drains everything', async (t) => {
    if (ringbufProbe() === 0) return t.skip('the kernel has no BPF ring buffer (5.8+)');
    const r = await runRingbuf({ rate: 20_000, recordsPerCall: 1, maxCalls: 1000, durationMs: 10_000,
      ringBytes: 4 << 20, wakeupBytes: 2 << 20, decode: 'fields' });
    assert.equal(r.produced, 1000);
    assert.equal(r.decoded, 1000);
    assert.equal(r.lost, 0);
    assertAccounted(r);
  });

  test('forced loss: a one-page ring not drained until the producer is done', async (t) => {
    if (ringbufProbe() === 0) return t.skip('the kernel has no BPF ring buffer (5.8+)');
    // 4096 bytes hold 56 records of 64 + 8 bytes; the producer tries 1000.
    const r = await runRingbuf({ rate: 0, recordsPerCall: 1, maxCalls: 1000, durationMs: 10_000,
      ringBytes: 4096, wakeupBytes: 0, decode: 'fields', drain: 'after' });
    assert.equal(r.produced, 1000);
    assert.ok(r.lost > 0, `losses are counted (lost ${r.lost})`);
    assert.ok(r.decoded > 0, 'what the ring held is decoded');
    assert.ok(r.decoded <= 4096 / 72, `no more decoded than the ring holds (${r.decoded})`);
    assertAccounted(r);
  });
});
