// Ring-buffer throughput: bpf/bench.bpf.c emits fixed 64-byte records from a
// getppid tracepoint in the load generator's context; Vigil's reader drains
// them in batches and this file decodes every one in TypeScript with the
// generated codec, checking each CPU's sequence numbers on the way.
//
// What is counted (never timed in tests, see test/bench-smoke.test.ts):
//  - produced: records the BPF program tried to emit (its per-CPU counter);
//  - lost:     failed reserves, from vigil_lost through the reader's stats;
//  - decoded:  records that reached onRecord;
//  - seqMissing: records absent from the decoded sequence (gaps plus the tail
//    after the last decoded record): an account of loss that does not trust
//    vigil_lost. produced == decoded + lost == decoded + seqMissing.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import {
  ObjectSpec, RingBufferReader, PerCpuMap, codec, ensureTracefs, numPossibleCpus,
  type BpfObject, type Link,
} from '../src/bpf/index.js';
import { bpfObjectPath } from '../src/util/paths.js';
import { vigilBenchRecord } from '../src/generated/bench.js';
import { Loadgen } from './loadgen.js';

/** How each record is decoded. */
export type DecodeMode =
  /** vigilBenchRecord.decode(): a full object per record (bigints, the pad copied out). */
  | 'object'
  /** The generated offsets, read in place: the fields a consumer uses, no allocation. */
  | 'fields';

export interface RingbufRunOptions {
  /** Target records per second; 0 = as fast as the producer goes. */
  rate: number;
  /** Records the BPF program emits per syscall (1..64). */
  recordsPerCall: number;
  /** Bound on the producer's loop. */
  durationMs: number;
  /** Bound on the producer's syscalls (default: no tighter than durationMs allows). */
  maxCalls?: number;
  /** Ring buffer size in bytes (a power-of-two multiple of the page size). */
  ringBytes: number;
  /** vigil_wakeup_bytes: 0 wakes the reader per record the kernel sees fit; N waits for N bytes. */
  wakeupBytes: number;
  decode: DecodeMode;
  /** CPU for the load generator (and the BPF program, which runs in its context). */
  producerCpu?: number;
  /**
   * 'live': the reader drains while the producer runs (the benchmark).
   * 'after': the event loop is blocked until the producer has exited, then
   * drained once: a consumer that does not keep up (forced loss).
   */
  drain?: 'live' | 'after';
  /** Reader's timer drain (ms); it rescues records below the wakeup threshold. */
  pollIntervalMs?: number;
  /** Another build of bench.bpf.c (A/B runs of a producer change); default bpf/.output/bench.bpf.o. */
  objectPath?: string;
}

export interface RingbufRunResult {
  opts: RingbufRunOptions;
  /** Syscalls the load generator made, and over how long. */
  calls: number;
  producerSeconds: number;
  /** Syscalls the BPF program saw (must equal calls). */
  callsSeen: number;
  produced: number;
  decoded: number;
  lost: number;
  seqMissing: number;
  /** Records whose sequence went backwards or repeated on their CPU, or failed a field check. */
  disorder: number;
  badRecords: number;
  /** From release of the producer to the last record decoded. */
  seconds: number;
  decodedPerSecond: number;
  producedPerSecond: number;
  /** process.cpuUsage() over `seconds`, in % of one core. */
  cpuPercent: number;
  /** JS calls from native: one per batch. */
  batches: number;
  /** Batches drained because the ring's epoll fd was readable (a kernel wakeup, or data found on re-poll). */
  wakeupBatches: number;
  /** Batches drained by the 50 ms timer or the final drain. */
  timerBatches: number;
  /** Largest delay from a record's bpf_ktime_get_ns() to the end of the batch that decoded it. */
  maxLatencyMs: number;
  /**
   * Time the consumer thread spent runnable but waiting for its CPU (schedstat):
   * other work on the consumer core. Large values mean the run measured the
   * machine's load, not the reader.
   */
  runqueueWaitMs: number;
}

/** The main thread's time waiting on a runqueue, in ns (0 without schedstats). */
export function runqueueWaitNs(pid: number | 'self' = 'self'): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Per-CPU order checks shared by both decode modes. The BPF program numbers
 * records per CPU before reserving them, and one CPU's records enter the ring
 * in order, so on each CPU seq must rise (a jump is a loss) and ktime_ns must
 * not fall.
 */
class OrderCheck {
  private readonly lastSeq: Float64Array;
  private readonly lastKtime: Float64Array;
  disorder = 0;
  gaps = 0;

  constructor(ncpu: number) {
    this.lastSeq = new Float64Array(ncpu);
    this.lastKtime = new Float64Array(ncpu);
  }

  /** Returns false if the record is impossible (cpu out of range). */
  see(cpu: number, seq: number, ktime: number): boolean {
    if (cpu >= this.lastSeq.length) return false;
    const prev = this.lastSeq[cpu]!;
    if (seq <= prev) {
      this.disorder++;
    } else {
      this.gaps += seq - prev - 1;
      this.lastSeq[cpu] = seq;
    }
    if (ktime < this.lastKtime[cpu]!) this.disorder++;
    else this.lastKtime[cpu] = ktime;
    return true;
  }

  /** Gaps plus what is missing after the last decoded record of each CPU. */
  missing(finalSeq: readonly number[]): number {
    let tail = 0;
    for (let cpu = 0; cpu < this.lastSeq.length; cpu++) tail += (finalSeq[cpu] ?? 0) - this.lastSeq[cpu]!;
    return this.gaps + tail;
  }
}

interface Consumer {
  onRecord(view: DataView, offset: number, size: number): void;
  decoded(): number;
  bad(): number;
  /** bpf_ktime_get_ns() of the oldest record since the last call (0: none). */
  takeOldestKtimeNs(): number;
}

/**
 * What every consumer counts: records of the wrong size and those `check`
 * finds wrong are bad, the others decoded; `check` reads a record and gives
 * its bpf_ktime_get_ns() to `seen`, which keeps the oldest since the last take.
 */
function consumer(check: (view: DataView, offset: number, seen: (ktimeNs: number) => void) => boolean): Consumer {
  const size = vigilBenchRecord.size;
  let decoded = 0;
  let bad = 0;
  let oldest = 0;
  const seen = (ktimeNs: number): void => {
    if (oldest === 0) oldest = ktimeNs;
  };
  return {
    onRecord(view, offset, len) {
      if (len !== size) { bad++; return; }
      decoded++;
      if (!check(view, offset, seen)) bad++;
    },
    decoded: () => decoded,
    bad: () => bad,
    takeOldestKtimeNs: () => {
      const t = oldest;
      oldest = 0;
      return t;
    },
  };
}

/** Full decode through the generated codec: every field, into an object. */
function objectConsumer(order: OrderCheck, pid: number, recordsPerCall: number): Consumer {
  const argLimit = BigInt(recordsPerCall);
  return consumer((view, offset, seen) => {
    const r = vigilBenchRecord.decode(view, offset);
    const ktime = Number(r.ktime_ns);
    seen(ktime);
    return r.pid === pid && r.arg < argLimit && r.pad.length === 32 && order.see(r.cpu, Number(r.seq), ktime);
  });
}

/** In place at the generated offsets: seq, ktime_ns, pid, cpu and arg read as numbers, no allocation. */
function fieldConsumer(order: OrderCheck, pid: number, recordsPerCall: number): Consumer {
  const o = vigilBenchRecord.offsets;
  const oSeq = o.seq, oKtime = o.ktime_ns, oPid = o.pid, oCpu = o.cpu, oArg = o.arg;
  const u64n = codec.u64n.decode;
  return consumer((view, offset, seen) => {
    const ktime = u64n(view, offset + oKtime);
    seen(ktime);
    return view.getUint32(offset + oPid, true) === pid && u64n(view, offset + oArg) < recordsPerCall &&
      order.see(view.getUint32(offset + oCpu, true), u64n(view, offset + oSeq), ktime);
  });
}

const BENCH_PRODUCED = 0;
const BENCH_CALLS = 1;
const MAX_RECORDS_PER_CALL = 64;

const specs = new Map<string, ObjectSpec>();
function benchSpec(file = bpfObjectPath('bench')): ObjectSpec {
  let spec = specs.get(file);
  if (!spec) {
    spec = ObjectSpec.fromFile(file);
    specs.set(file, spec);
  }
  return spec;
}

function sum(xs: readonly bigint[]): number {
  return Number(xs.reduce((a, b) => a + b, 0n));
}

/** One producer run against Vigil's ring-buffer reader. */
export async function runRingbuf(opts: RingbufRunOptions): Promise<RingbufRunResult> {
  const rpc = opts.recordsPerCall;
  if (!Number.isInteger(rpc) || rpc < 1 || rpc > MAX_RECORDS_PER_CALL) {
    throw new RangeError(`recordsPerCall must be 1..${MAX_RECORDS_PER_CALL}`);
  }
  const tracefs = ensureTracefs();
  if (!tracefs.path) throw new Error(`tracefs: ${tracefs.reason}`);
  const callRate = opts.rate > 0 ? opts.rate / rpc : 0;
  const maxCalls = opts.maxCalls ?? 1_000_000_000;
  const loadgen = await Loadgen.spawn({ callRate, maxCalls, durationMs: opts.durationMs, cpu: opts.producerCpu });
  let obj: BpfObject | undefined;
  let link: Link | undefined;
  let reader: RingBufferReader | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    obj = await benchSpec(opts.objectPath).load({
      constants: { target_pid: loadgen.pid, records_per_call: rpc, vigil_wakeup_bytes: BigInt(opts.wakeupBytes) },
      maxEntries: { bench_events: opts.ringBytes },
    });
    link = obj.program('bench_produce').attachTracepoint('syscalls', 'sys_enter_getppid');

    const ncpu = numPossibleCpus();
    const order = new OrderCheck(ncpu);
    const consumer = opts.decode === 'object'
      ? objectConsumer(order, loadgen.pid, rpc)
      : fieldConsumer(order, loadgen.pid, rpc);
    let inTimer = false;
    let wakeupBatches = 0;
    let timerBatches = 0;
    let maxLatencyNs = 0;
    reader = RingBufferReader.open(obj.map('bench_events'), {
      onRecord: consumer.onRecord,
      onBatchEnd: () => {
        if (inTimer) timerBatches++;
        else wakeupBatches++;
        // bpf_ktime_get_ns() and hrtime are both CLOCK_MONOTONIC.
        const oldest = consumer.takeOldestKtimeNs();
        const lat = oldest ? Number(process.hrtime.bigint()) - oldest : 0;
        if (lat > maxLatencyNs) maxLatencyNs = lat;
      },
      lostCounter: obj.map('vigil_lost'),
      // The timer is ours, so its batches can be told from wakeups'.
      pollIntervalMs: 0,
    });
    const r = reader;
    const timerDrain = (): void => {
      inTimer = true;
      try {
        r.drain();
      } finally {
        inTimer = false;
      }
    };
    const every = opts.pollIntervalMs ?? 50;
    if (opts.drain !== 'after' && every > 0) timer = setInterval(timerDrain, every);

    const cpu0 = process.cpuUsage();
    const wait0 = runqueueWaitNs();
    const t0 = performance.now();
    loadgen.start();
    // 'after': nothing runs on the event loop, so nothing drains, until the producer is done.
    if (opts.drain === 'after') loadgen.blockUntilExited(opts.durationMs + 10_000);
    const report = await loadgen.finished();
    // Everything the producer will ever emit is in the ring now: drain it to empty.
    if (timer) clearInterval(timer);
    timer = undefined;
    for (let i = 0; i < 1000; i++) {
      const before = r.stats.records;
      timerDrain();
      if (r.stats.records === before) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const waited = runqueueWaitNs() - wait0;

    const counts = new PerCpuMap(obj.map('bench_counts'), codec.u32, codec.u64);
    const finalSeq = (counts.get(BENCH_PRODUCED) ?? []).map(Number);
    const produced = sum(counts.get(BENCH_PRODUCED) ?? []);
    const callsSeen = sum(counts.get(BENCH_CALLS) ?? []);
    const decoded = consumer.decoded();
    return {
      opts,
      calls: report.calls,
      producerSeconds: report.elapsedNs / 1e9,
      callsSeen,
      produced,
      decoded,
      lost: r.stats.lost,
      seqMissing: order.missing(finalSeq),
      disorder: order.disorder,
      badRecords: consumer.bad(),
      seconds,
      decodedPerSecond: decoded / seconds,
      producedPerSecond: produced / (report.elapsedNs / 1e9),
      cpuPercent: ((cpu.user + cpu.system) / 1e6 / seconds) * 100,
      batches: r.stats.batches,
      wakeupBatches,
      timerBatches,
      maxLatencyMs: maxLatencyNs / 1e6,
      runqueueWaitMs: waited / 1e6,
    };
  } finally {
    if (timer) clearInterval(timer);
    loadgen.kill();
    reader?.close();
    link?.close();
    obj?.close();
  }
}
