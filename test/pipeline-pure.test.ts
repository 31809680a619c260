// The event pipeline's logic without a kernel: the time-ordered merge, loss
// accounting, sizes, a sink over a stream that stops reading, and a file output's writes.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileOutput, Fragments, type EventCounts } from '../src/pipeline/output.js';
import {
  EventPipeline, HttpOutput, LossCounter, Sink, StreamOutput, TimeOrderedMerge, describeLosses, formatByteSize, parseByteSize,
  type PipelineSource,
} from '../src/pipeline/index.js';
import { RecordLane } from '../src/pipeline/record-lane.js';

interface Ev { t: bigint; s: string; id: number }

describe('time-ordered merge', () => {
  const merge = (maxHeld?: number) => new TimeOrderedMerge<Ev>({ timeOf: (e) => e.t, maxHeld });
  const ids = (list: Ev[]) => list.map((e) => e.id);

  test('releases in time order up to the watermark; equal times keep arrival order', () => {
    const m = merge();
    // Two rings read in turn: the process ring (exit at 30) before the file ring (10, 20).
    for (const e of [{ t: 5n, s: 'p', id: 1 }, { t: 30n, s: 'p', id: 4 }, { t: 10n, s: 'f', id: 2 }, { t: 20n, s: 'f', id: 3 },
      { t: 20n, s: 'f', id: 5 }]) assert.equal(m.push(e), true);
    const out: Ev[] = [];
    assert.equal(m.release(20n, (e) => out.push(e)), 4);
    assert.deepEqual(ids(out), [1, 2, 3, 5]);
    assert.equal(m.size, 1);
    m.flush((e) => out.push(e));
    assert.deepEqual(ids(out), [1, 2, 3, 5, 4]);
  });

  test('an event older than what was released is late: counted, and first out at the next release', () => {
    const m = merge();
    m.push({ t: 100n, s: 'p', id: 1 });
    m.release(150n, () => undefined);
    assert.equal(m.push({ t: 160n, s: 'f', id: 3 }), true);
    assert.equal(m.push({ t: 120n, s: 'f', id: 2 }), false);
    assert.equal(m.late, 1);
    const out: Ev[] = [];
    m.release(150n, (e) => out.push(e));
    assert.deepEqual(ids(out), [2]);
  });

  test('beyond maxHeld the oldest go out early, unless told to stop', () => {
    const m = merge(3);
    for (let i = 0; i < 5; i++) m.push({ t: BigInt(100 + i), s: 'p', id: i });
    const out: Ev[] = [];
    m.release(0n, (e) => out.push(e), () => out.length >= 1);
    assert.deepEqual(ids(out), [0]);
    m.release(0n, (e) => out.push(e));
    assert.deepEqual(ids(out), [0, 1]);
    assert.equal(m.size, 3);
    assert.equal(m.early, 2);
  });

  test('lanes (one per ring): each nearly in order, merged by time; ties by arrival across lanes', () => {
    const m = new TimeOrderedMerge<Ev>({ timeOf: (e) => e.t, laneOf: (e) => e.s });
    // Ring p in order; ring f with two CPUs' records swapped; equal times across rings.
    const evs = [{ t: 10n, s: 'p', id: 1 }, { t: 40n, s: 'p', id: 6 }, { t: 20n, s: 'f', id: 3 }, { t: 15n, s: 'f', id: 2 },
      { t: 40n, s: 'f', id: 7 }, { t: 30n, s: 'f', id: 5 }, { t: 25n, s: 'q', id: 4 }];
    for (const e of evs) m.push(e);
    const out: Ev[] = [];
    m.release(30n, (e) => out.push(e));
    assert.deepEqual(ids(out), [1, 2, 3, 4, 5]);
    m.push({ t: 12n, s: 'q', id: 0 }); // late: first out next
    m.flush((e) => out.push(e));
    assert.deepEqual(ids(out), [1, 2, 3, 4, 5, 0, 6, 7]);
    assert.equal(m.late, 1);
    assert.equal(m.size, 0);
  });

  test('a thousand shuffled events come out sorted', () => {
    const m = merge();
    const times = Array.from({ length: 1000 }, (_, i) => BigInt((i * 7919) % 1000));
    times.forEach((t, id) => m.push({ t, s: 'x', id }));
    const out: bigint[] = [];
    m.release(10_000n, (e) => out.push(e.t));
    assert.deepEqual(out, [...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });
});

describe('raw records held as bytes (RecordLane), merged with decoded events', () => {
  // A record: [time u64][id u32][fill], like a ring's, written into a reused batch buffer.
  const batch = new DataView(new ArrayBuffer(1 << 16));
  const put = (at: number, t: bigint, id: number, size: number): void => {
    batch.setBigUint64(at, t, true);
    batch.setUint32(at + 8, id, true);
    for (let i = 12; i < size; i++) batch.setUint8(at + i, id & 0xff);
  };
  const decode = (v: DataView, o: number, size: number): Ev => {
    for (let i = 12; i < size; i++) assert.equal(v.getUint8(o + i), v.getUint32(o + 8, true) & 0xff, 'bytes kept whole');
    return { t: v.getBigUint64(o, true), s: 'f', id: v.getUint32(o + 8, true) };
  };
  const timeOf = (v: DataView, o: number, size: number): bigint => {
    if (size < 12) throw new RangeError('short record');
    return v.getBigUint64(o, true);
  };

  test('in time order with the pushed events, ties by arrival, the bytes copied out of the reused batch', () => {
    const lane = new RecordLane<Ev>(decode);
    const m = new TimeOrderedMerge<Ev>({ timeOf: (e) => e.t, laneOf: (e) => e.s });
    m.addLane(lane);
    const hold = (t: bigint, id: number, size = 40): void => {
      put(0, t, id, size); // the same bytes of the batch every time: the lane must have copied them
      lane.hold(batch, 0, size, t, m.admit(t));
    };
    m.push({ t: 10n, s: 'p', id: 1 });
    hold(20n, 3);
    hold(15n, 2); // two CPUs' records swapped
    m.push({ t: 20n, s: 'p', id: 4 }); // same time, later arrival
    hold(30n, 5, 3000);
    assert.equal(m.size, 5);
    const out: Ev[] = [];
    m.release(20n, (e) => out.push(e));
    assert.deepEqual(out.map((e) => e.id), [1, 2, 3, 4]);
    hold(12n, 0); // late
    assert.equal(m.late, 1);
    m.flush((e) => out.push(e));
    assert.deepEqual(out.map((e) => e.id), [1, 2, 3, 4, 0, 5]);
    assert.equal(m.size, 0);
    assert.equal(lane.size, 0);
  });

  test('many chunks of records in and out, some out of order: every record back whole, sorted', () => {
    const lane = new RecordLane<Ev>(decode);
    const m = new TimeOrderedMerge<Ev>({ timeOf: (e) => e.t });
    m.addLane(lane);
    const out: bigint[] = [];
    let id = 0;
    const expect: bigint[] = [];
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 500; i++, id++) {
        // Nearly in order, every 7th a little earlier; sizes up to 5 KB (several 1 MiB chunks a round).
        const t = BigInt(100 + id * 10 - (id % 7 === 0 ? 25 : 0));
        const size = 12 + ((id * 131) % 5000);
        put(0, t, id, size);
        lane.hold(batch, 0, size, t, m.admit(t));
        expect.push(t);
      }
      m.release(BigInt(id * 10 - 2000), (e) => out.push(e.t));
    }
    m.flush((e) => out.push(e.t));
    assert.equal(out.length, expect.length);
    assert.deepEqual(out, [...out].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  test('a pipeline holds records from its handler, counts malformed ones to the reader, releases decoded events', async () => {
    const got: Ev[] = [];
    let now = 0n;
    const p = new EventPipeline<Ev>({ timeOf: (e) => e.t, sensorOf: (e) => e.s, now: () => now, windowMs: 0, report: () => undefined });
    p.addSink({
      name: 'test', full: false, closed: false, lost: new LossCounter(), lastError: undefined, onRoom: undefined,
      offer: (e) => { got.push(e); }, noteLoss: () => undefined, takeReport: () => [], flush: () => undefined,
      settle: async () => true, close: () => undefined,
    });
    const onRecord = p.holdRecords('f', timeOf, decode);
    put(0, 5n, 1, 20);
    put(24, 7n, 2, 20);
    onRecord(batch, 0, 20);
    onRecord(batch, 24, 20);
    assert.throws(() => onRecord(batch, 0, 8), RangeError);
    assert.equal(got.length, 0, 'held until a release');
    now = 6n;
    p.cycle();
    assert.deepEqual(got.map((e) => e.id), [1]);
    await p.close(100);
    assert.deepEqual(got.map((e) => e.id), [1, 2]);
  });
});

describe('loss accounting and sizes', () => {
  test('counts by sensor and reason; take() resets', () => {
    const c = new LossCounter();
    c.add('file', 'queue_full', 3);
    c.add('process', 'ring_full', 2);
    c.add('file', 'queue_full');
    c.add('file', 'ring_full', 0);
    assert.equal(c.total, 6);
    assert.equal(describeLosses(c.entries()), '4 file (output queue full); 2 process (ring buffer full)');
    assert.equal(c.take().length, 2);
    assert.equal(c.total, 0);
  });

  test('byte sizes', () => {
    assert.equal(parseByteSize('16MiB'), 16 << 20);
    assert.equal(parseByteSize('512 KiB'), 512 << 10);
    assert.equal(parseByteSize('1g'), 1 << 30);
    assert.equal(parseByteSize('1.5M'), 1.5 * (1 << 20));
    assert.equal(parseByteSize('4096'), 4096);
    for (const bad of ['', 'MiB', '16 parsecs', '-1MiB', '1e3']) assert.equal(parseByteSize(bad), undefined, bad);
    assert.equal(formatByteSize(16 << 20), '16 MiB');
    assert.equal(formatByteSize(1536), '1.5 KiB');
  });
});

/** A stream that takes writes into its buffer and never completes them, until release(). */
class StalledStream extends Writable {
  private held: (() => void)[] = [];
  readonly taken: string[] = [];
  constructor() {
    super({ highWaterMark: 1024 });
  }
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.taken.push(chunk.toString());
    this.held.push(cb);
  }
  release(): void {
    for (const cb of this.held.splice(0)) cb();
  }
}

function sinkOver(stream: Writable, capacityBytes: number): Sink<Ev> {
  return new Sink<Ev>((hooks) => new StreamOutput('test', stream, hooks), {
    capacityBytes,
    sensorOf: (e) => e.s,
    format: { line: (e) => `event ${e.id} ${'x'.repeat(90)}`, lost: (l) => `lost ${l.count} ${l.sensor} ${l.reason}` },
  });
}

describe('a sink over a stalled stream', () => {
  test('holds at most its capacity, counts what it refuses, writes a lost record when it has room', async () => {
    const stream = new StalledStream();
    const sink = sinkOver(stream, 1000);
    for (let id = 0; id < 100; id++) sink.offer({ t: BigInt(id), s: id % 2 ? 'file' : 'process', id });
    sink.flush();
    assert.ok(sink.queuedBytes <= 1000 + 100, `queued ${sink.queuedBytes}`);
    assert.equal(sink.full, true);
    const kept = sink.delivered;
    assert.ok(kept >= 9 && kept <= 11, `kept ${kept}`);
    const lost = sink.lost.entries();
    assert.equal(lost.reduce((a, l) => a + l.count, 0), 100 - kept);
    assert.deepEqual(lost.map((l) => [l.sensor, l.reason]), [['file', 'queue_full'], ['process', 'queue_full']]);
    // The consumer reads again: the next flush starts with the lost records.
    stream.release();
    await new Promise((r) => setImmediate(r));
    assert.equal(sink.full, false);
    sink.offer({ t: 200n, s: 'file', id: 200 });
    sink.flush();
    const last = stream.taken.at(-1)!.split('\n');
    assert.match(last[0]!, /^lost \d+ file queue_full$/);
    assert.match(last[1]!, /^lost \d+ process queue_full$/);
    assert.match(last[2]!, /^event 200 /);
    const inBand = last.slice(0, 2).reduce((a, l) => a + Number(l.split(' ')[1]), 0);
    assert.equal(inBand, 100 - kept);
  });

  test('the pipeline stops reading its sources while every sink is full, and reads on when one has room', async () => {
    const stream = new StalledStream();
    const sink = sinkOver(stream, 1000);
    let t = 0n;
    const reads: string[] = [];
    const reports: string[] = [];
    const source: PipelineSource & { paused: boolean } = {
      paused: false,
      drain: () => {
        reads.push('drain');
        for (let i = 0; i < 20; i++) pipeline.push({ t: t++, s: 'file', id: Number(t) });
        return 20;
      },
      pause() {
        this.paused = true;
      },
      resume() {
        this.paused = false;
      },
      // A reader without a poll timer of its own (hooks().pollIntervalMs 0): the cycle asks it for
      // the kernel's drops while it is paused; here the ring lost 7 since the last look.
      checkLosses: () => {
        reads.push('checkLosses');
        pipeline.kernelLost('file', 7);
      },
    };
    const pipeline = new EventPipeline<Ev>({
      timeOf: (e) => e.t, sensorOf: (e) => e.s, now: () => t + 1_000_000_000n, report: (l) => reports.push(l),
      reportIntervalMs: 0,
    });
    assert.equal(pipeline.hooks('file').pollIntervalMs, 0, 'a source the cycle drains needs no timer of its own');
    pipeline.addSource('file', source);
    pipeline.addSink(sink);
    pipeline.cycle();
    assert.equal(source.paused, true);
    const drains = reads.filter((r) => r === 'drain').length;
    pipeline.cycle();
    pipeline.cycle();
    assert.equal(reads.filter((r) => r === 'drain').length, drains, 'no drain while paused');
    assert.equal(reads.filter((r) => r === 'checkLosses').length, 2, 'the losses asked for on each paused cycle');
    assert.ok(reports.includes('lost 7 file events (ring buffer full)'), reports.join('\n'));
    assert.equal(pipeline.stats.kernelLost, 14);
    // Events that did not fit stay in the merge: nothing dropped by this sink yet (the ring's 14 are the kernel's).
    const own = (): number => sink.lost.entries().filter((l) => l.reason !== 'ring_full').reduce((a, l) => a + l.count, 0);
    assert.equal(own(), 0);
    stream.release();
    await new Promise((r) => setImmediate(r));
    pipeline.cycle();
    assert.ok(sink.delivered > 10);
    assert.equal(own(), 0);
    await pipeline.close(0);
  });
});

describe('a pipeline whose consumer always takes (sinksHoldBack: false, the agent\'s)', () => {
  test('a full sink drops for itself, counted, and the sources are never paused', async () => {
    const stream = new StalledStream();
    const sink = sinkOver(stream, 1000);
    let t = 0n;
    let paused = 0;
    const source: PipelineSource = {
      drain: () => {
        for (let i = 0; i < 20; i++) pipeline.push({ t: t++, s: 'file', id: Number(t) });
        return 20;
      },
      pause: () => void paused++,
      resume: () => undefined,
    };
    const accepted: number[] = [];
    const pipeline = new EventPipeline<Ev>({
      timeOf: (e) => e.t, sensorOf: (e) => e.s, now: () => t + 1_000_000_000n, report: () => undefined,
      accept: (e) => (accepted.push(e.id), true), sinksHoldBack: false,
    });
    pipeline.addSource('file', source);
    pipeline.addSink(sink);
    for (let i = 0; i < 5; i++) pipeline.cycle();
    assert.equal(paused, 0, 'never paused');
    assert.equal(pipeline.stats.pauses, 0);
    assert.equal(accepted.length, 100, 'the consumer got every event');
    assert.equal(sink.full, true);
    assert.equal(sink.delivered + sink.lost.total, 100, 'what the full sink did not take is counted');
    assert.ok(sink.lost.total >= 80, `dropped ${sink.lost.total}`);
    stream.release();
    await pipeline.close(0);
  });
});

describe('an HTTP output', () => {
  test('one POST per line; a refused request is a failed write, counted for its sensor; lost records are not counted again', async () => {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push(body);
        res.statusCode = body.includes('"fail"') ? 500 : 200;
        res.end();
      });
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    try {
      const sink = new Sink<Ev & { fail?: boolean }>((hooks) => new HttpOutput(url, hooks), {
        capacityBytes: 1 << 20,
        sensorOf: (e) => e.s,
        format: { line: (e) => JSON.stringify({ id: e.id, ...(e.fail ? { fail: true } : {}) }), lost: (l) => JSON.stringify({ lost: l.count }) },
      });
      sink.noteLoss('file', 'ring_full', 3);
      sink.offer({ t: 1n, s: 'file', id: 1 });
      sink.offer({ t: 2n, s: 'process', id: 2, fail: true });
      sink.offer({ t: 3n, s: 'file', id: 3 });
      assert.equal(await sink.settle(5000), true);
      assert.deepEqual(bodies.sort(), ['{"id":1}', '{"id":2,"fail":true}', '{"id":3}', '{"lost":3}']);
      assert.deepEqual(sink.lost.entries().map((l) => [l.sensor, l.reason, l.count]),
        [['file', 'ring_full', 3], ['process', 'write_failed', 1]]);
      assert.equal(sink.lastError?.code, 'HTTP_500');
      sink.close();
    } finally {
      server.close();
    }
  });
});

describe('a consumer of every event (derive) and events the sinks are not offered (select)', () => {
  test('derived events follow their event at once; unselected ones reach derive only; drainAll releases everything', async () => {
    let next = 0n;
    const ring: Ev[] = [];
    const source: PipelineSource = {
      drain: () => {
        const n = ring.length;
        for (const e of ring.splice(0)) pipeline.push(e);
        return n;
      },
      pause: () => undefined,
      resume: () => undefined,
    };
    const seen: string[] = [];
    const offered: string[] = [];
    const pipeline = new EventPipeline<Ev>({
      timeOf: (e) => e.t, sensorOf: (e) => e.s, now: () => next, report: () => undefined,
      // 'sys' events are read for the consumer alone.
      select: (e): e is Ev => e.s !== 'sys',
      accept: (e) => (offered.push(`${e.s}${e.id}`), true),
      derive: (e, emit) => {
        seen.push(`${e.s}${e.id}`);
        if (e.s === 'sys') emit({ t: e.t, s: 'alert', id: e.id });
      },
    });
    pipeline.addSource('file', source);
    // Out of order across the ring, as two rings read in turn give them.
    ring.push({ t: 30n, s: 'file', id: 3 }, { t: 10n, s: 'sys', id: 1 }, { t: 20n, s: 'file', id: 2 });
    next = 25n; // the window has not passed for any of them
    pipeline.drainAll();
    assert.deepEqual(seen, ['sys1', 'alert1', 'file2', 'file3']);
    assert.deepEqual(offered, ['alert1', 'file2', 'file3']);
    assert.equal(pipeline.stats.released, 3);
    await pipeline.close(0);
  });
});

describe('a file output (one writev for every batch queued)', () => {
  const hooksInto = (failed: { events: EventCounts; code?: string }[]) => ({
    onWriteFailed: (err: NodeJS.ErrnoException, events: EventCounts) => failed.push({ events, code: err.code }),
    onClosed: () => assert.fail('not closed'),
    onDrained: () => undefined,
  });
  const batch = (sensor: string, n: number, text: string) => ({
    lines: Array.from({ length: n }, (_, i) => new Fragments([`{"${sensor}":${i},"p":`, Buffer.alloc(600, text), '}'])),
    sensors: Array.from({ length: n }, () => sensor),
  });

  test('batches queued while one is written go out together, whole and in order', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-fileout-'));
    try {
      const failed: { events: EventCounts }[] = [];
      const out = FileOutput.open(path.join(dir, 'out.json'), hooksInto(failed));
      const batches = [batch('a', 3, 'x'), batch('b', 2, 'y'), batch('c', 4, 'z')];
      for (const b of batches) out.write(b);
      assert.ok(out.pendingBytes > 0);
      assert.equal(await out.settle(5000), true);
      assert.equal(out.pendingBytes, 0);
      out.close();
      const want = batches.flatMap((b) => b.lines.map(String)).join('\n');
      assert.equal(readFileSync(path.join(dir, 'out.json'), 'utf8'), `${want}\n`);
      assert.deepEqual(failed, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a failed write (ENOSPC, /dev/full) loses each batch once, counted by sensor; the ones after it are tried again', async () => {
    const failed: { events: EventCounts; code?: string }[] = [];
    const fd = openSync('/dev/full', 'w');
    try {
      const out = FileOutput.fromFd('/dev/full', fd, hooksInto(failed));
      // The first is written at once; the next two wait and go in one write, whose failure cuts the first of them.
      for (const b of [batch('a', 3, 'x'), batch('b', 2, 'y'), batch('c', 4, 'z')]) out.write(b);
      await out.settle(5000);
      assert.equal(out.pendingBytes, 0);
      assert.deepEqual(failed.map((f) => [...f.events]), [[['a', 3]], [['b', 2]], [['c', 4]]]);
      assert.ok(failed.every((f) => f.code === 'ENOSPC'));
    } finally {
      closeSync(fd);
    }
  });
});
