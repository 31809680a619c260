// Kernel timestamps to wall-clock time.
//
// BPF programs stamp events with CLOCK_BOOTTIME (bpf_ktime_get_boot_ns,
// task->start_boottime): it counts from boot and, unlike CLOCK_MONOTONIC,
// keeps counting through suspend, so one offset converts a whole session.
// Node reads neither BOOTTIME nor REALTIME below a millisecond, so the offset
// is measured once, in two parts:
//
//   realtime - monotonic: process.hrtime is CLOCK_MONOTONIC in ns. Date.now()
//     is REALTIME in whole ms; spinning until it ticks (about 1 ms) catches
//     the instant a millisecond begins, between two monotonic reads. A
//     thread preempted inside that window (a loaded machine: 10 ms and more)
//     would skew every event time by as much, so an edge is taken only when
//     the window is under EDGE_WINDOW_NS (50 µs), tried again otherwise
//     (bounded; the narrowest window wins).
//   boottime - monotonic: the time spent suspended since boot. /proc/uptime is
//     BOOTTIME in 10 ms steps, compared with monotonic read around it. A
//     difference under SUSPEND_SLACK_NS (30 ms) is the quantisation of
//     /proc/uptime, not a suspend, and counts as 0: exact on machines that have
//     never slept (servers); within 10 ms on those that have.
//
// Followed afterwards: a wall-clock step (settimeofday, an NTP step) or a
// suspend changes the offset. NTP's slewing does not (it steers MONOTONIC and
// REALTIME alike). Once a second, an unref'd timer compares Date.now() and
// /proc/uptime with monotonic plus the offsets (a few microseconds, no spin)
// and measures again only when one moved: one offset for the whole process,
// shared by every BootClock, so every sensor converts a given instant alike.
import { readFileSync } from 'node:fs';

const SUSPEND_SLACK_NS = 30_000_000n;

function monotonicNs(): bigint {
  return process.hrtime.bigint();
}

const EDGE_WINDOW_NS = 50_000n;
const EDGE_TRY_NS = 50_000_000n;

/** realtime - monotonic, in ns, caught at a millisecond edge of Date.now() within a narrow window. */
function realtimeOffsetNs(): bigint {
  const deadline = monotonicNs() + EDGE_TRY_NS;
  let best: { offset: bigint; window: bigint } | undefined;
  for (;;) {
    // Each turn reads monotonic around Date.now(): the tick lies after the
    // previous turn's first read and before this turn's last one.
    let before = monotonicNs();
    const d0 = Date.now();
    let d = d0;
    let start = before;
    let end = before;
    while (d === d0) {
      start = before;
      before = monotonicNs();
      d = Date.now();
      end = monotonicNs();
      if (end > deadline + 2_000_000n) break;
    }
    if (d !== d0) {
      const window = end - start;
      const offset = BigInt(d) * 1_000_000n - (start + end) / 2n;
      if (!best || window < best.window) best = { offset, window };
      if (window <= EDGE_WINDOW_NS) return offset;
    }
    if (monotonicNs() > deadline) return best?.offset ?? BigInt(Date.now()) * 1_000_000n - monotonicNs();
  }
}

/** boottime - monotonic, in ns (0 unless the machine has been suspended); undefined when the read was too slow to tell. */
function suspendedNs(): bigint | undefined {
  const before = monotonicNs();
  const text = readFileSync('/proc/uptime', 'latin1');
  const after = monotonicNs();
  if (after - before > 1_000_000n) return undefined;
  const m = /^(\d+)\.(\d+)/.exec(text);
  if (!m) return 0n;
  const frac = (m[2] ?? '0').padEnd(9, '0').slice(0, 9);
  const uptime = BigInt(m[1] ?? '0') * 1_000_000_000n + BigInt(frac);
  const diff = uptime - (before + after) / 2n;
  // /proc/uptime truncates to 10 ms: it reads up to 10 ms behind monotonic.
  return diff > SUSPEND_SLACK_NS ? diff : 0n;
}

/** realtime - monotonic moved by more than this (Date.now() has whole ms): a step. */
const STEP_SLACK_NS = 2_000_000n;
const RECHECK_MS = 1000;

/** The process's one measurement: realtime - monotonic, and the time suspended. */
interface Offsets {
  realtimeNs: bigint;
  suspendedNs: bigint;
  /** realtime - boottime: add to a CLOCK_BOOTTIME ns value to get ns since the epoch. */
  epochNs: bigint;
}

let offsets: Offsets | undefined;
let recheck: NodeJS.Timeout | undefined;

function measureOffsets(): Offsets {
  const realtimeNs = realtimeOffsetNs();
  let suspended = suspendedNs();
  for (let i = 0; suspended === undefined && i < 10; i++) suspended = suspendedNs();
  return { realtimeNs, suspendedNs: suspended ?? 0n, epochNs: realtimeNs - (suspended ?? 0n) };
}

/** Measures again if the wall clock stepped or the machine slept since the last measurement. */
function followSteps(): void {
  if (!offsets) return;
  const a = monotonicNs();
  const d = Date.now();
  const b = monotonicNs();
  // Preempted between the reads: nothing can be told this time.
  if (b - a > EDGE_WINDOW_NS * 2n) return;
  const nowOffset = BigInt(d) * 1_000_000n - (a + b) / 2n;
  // Date.now() truncates to the ms: it reads up to 1 ms behind the measured edge.
  const stepped = nowOffset > offsets.realtimeNs + STEP_SLACK_NS
    || nowOffset < offsets.realtimeNs - 1_000_000n - STEP_SLACK_NS;
  const suspended = suspendedNs();
  const slept = suspended !== undefined && (suspended > offsets.suspendedNs + SUSPEND_SLACK_NS
    || suspended < offsets.suspendedNs - SUSPEND_SLACK_NS);
  if (stepped || slept) offsets = measureOffsets();
}

export class BootClock {
  private constructor(private readonly fixedNs: bigint | undefined) {}

  /**
   * The host's clock: measured now (the first time in this process), then
   * kept in step with the wall clock and suspends by a timer that does not
   * keep the process alive.
   */
  static measure(): BootClock {
    if (!offsets) {
      offsets = measureOffsets();
      recheck = setInterval(followSteps, RECHECK_MS);
      recheck.unref();
    } else {
      followSteps();
    }
    return new BootClock(undefined);
  }

  /** A clock with a fixed offset (epoch ns - boot ns), for tests and replays. */
  static fixed(offsetNs: bigint): BootClock {
    return new BootClock(offsetNs);
  }

  /** Add to a CLOCK_BOOTTIME ns value to get ns since the Unix epoch (current: it follows clock steps). */
  get offsetNs(): bigint {
    return this.fixedNs ?? offsets?.epochNs ?? 0n;
  }

  /** CLOCK_BOOTTIME ns -> ns since the epoch. */
  toEpochNs(bootNs: bigint): bigint {
    return bootNs + this.offsetNs;
  }

  /** ns since the epoch -> CLOCK_BOOTTIME ns (events that carry only a wall-clock time). */
  toBootNs(epochNs: bigint): bigint {
    return epochNs - this.offsetNs;
  }

  /** The current CLOCK_BOOTTIME, as this clock estimates it. */
  nowBootNs(): bigint {
    return BigInt(Date.now()) * 1_000_000n - this.offsetNs;
  }
}

/** Test hook: makes the next followSteps() see a step (as if the wall clock had moved by deltaNs). */
export function _shiftMeasuredOffsetForTest(deltaNs: bigint): void {
  if (offsets) offsets = { ...offsets, realtimeNs: offsets.realtimeNs + deltaNs, epochNs: offsets.epochNs + deltaNs };
}

/** Checks now for a clock step or suspend (the timer does it every second). */
export function followClockSteps(): void {
  followSteps();
}

/** ns since the epoch as RFC 3339 with nanoseconds: 2024-05-11T12:54:45.615000123Z. */
export function rfc3339Nano(epochNs: bigint): string {
  const second = epochNs / 1_000_000_000n;
  let ns = Number(epochNs - second * 1_000_000_000n);
  let s = Number(second);
  if (ns < 0) {
    s -= 1;
    ns += 1_000_000_000;
  }
  // The part before the fraction is the same for every event of one second: kept for the next.
  if (s !== isoSecond.second) isoSecond = { second: s, head: new Date(s * 1000).toISOString().slice(0, 19) };
  return `${isoSecond.head}.${String(ns).padStart(9, '0')}Z`;
}

let isoSecond = { second: Number.NaN, head: '' };

/**
 * Time layouts of `hubble observe --time-format`, by Go's names, all in UTC
 * as Hubble prints them:
 *   StampMilli    Dec  6 07:46:00.123 (the default: no year, fixed milliseconds)
 *   RFC3339       2026-12-06T07:46:00Z
 *   RFC3339Milli  2026-12-06T07:46:00.12Z        } fractions as Go's ".999":
 *   RFC3339Micro  2026-12-06T07:46:00.123456Z    } trailing zeros (and a bare
 *   RFC3339Nano   2026-12-06T07:46:00.123456789Z } ".") left out
 *   RFC1123Z      Sun, 06 Dec 2026 07:46:00 +0000
 */
export const TIME_FORMATS = ['StampMilli', 'RFC3339', 'RFC3339Milli', 'RFC3339Micro', 'RFC3339Nano', 'RFC1123Z'] as const;
export type TimeFormat = (typeof TIME_FORMATS)[number];

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** ns since the epoch from RFC 3339 text in UTC ("...T12:54:45.615000123Z", any number of fraction digits); undefined if not that. */
export function parseRfc3339(text: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** A --time-format value, or undefined when it names none (case as Hubble spells them, or any case). */
export function parseTimeFormat(name: string): TimeFormat | undefined {
  return TIME_FORMATS.find((f) => f.toLowerCase() === name.toLowerCase());
}

/** ns since the epoch in one of the TIME_FORMATS (UTC). */
export function formatTime(epochNs: bigint, format: TimeFormat): string {
  let second = epochNs / 1_000_000_000n;
  let ns = Number(epochNs - second * 1_000_000_000n);
  if (ns < 0) {
    // Before 1970: the second below, a positive fraction.
    second -= 1n;
    ns += 1_000_000_000;
  }
  const nanos = String(ns).padStart(9, '0');
  // The part before the fraction is the same for every event of one second: kept for the next.
  let head = lastSecond.format === format && lastSecond.second === second ? lastSecond.head : undefined;
  if (head === undefined) {
    head = secondHead(new Date(Number(second) * 1000), format);
    lastSecond = { format, second, head };
  }
  // Go's ".999...": the digits of that precision, trailing zeros dropped, no "." when none remain.
  const fraction = (digits: number) => {
    const f = nanos.slice(0, digits).replace(/0+$/, '');
    return f ? `.${f}` : '';
  };
  switch (format) {
    case 'StampMilli':
      return `${head}.${nanos.slice(0, 3)}`;
    case 'RFC3339':
    case 'RFC1123Z':
      return head;
    case 'RFC3339Milli':
      return `${head}${fraction(3)}Z`;
    case 'RFC3339Micro':
      return `${head}${fraction(6)}Z`;
    case 'RFC3339Nano':
      return `${head}${fraction(9)}Z`;
    default: {
      const never: never = format;
      throw new RangeError(`unknown time format ${String(never)}`);
    }
  }
}

let lastSecond: { format: TimeFormat; second: bigint; head: string } = { format: 'StampMilli', second: -1n, head: '' };

/** A time layout up to its fraction (the whole of it for the layouts without one). */
function secondHead(d: Date, format: TimeFormat): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const hms = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  switch (format) {
    case 'StampMilli':
      return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${hms}`;
    case 'RFC3339':
      return `${date}T${hms}Z`;
    case 'RFC3339Milli': case 'RFC3339Micro': case 'RFC3339Nano':
      return `${date}T${hms}`;
    case 'RFC1123Z':
      return `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${hms} +0000`;
    default: {
      const never: never = format;
      throw new RangeError(`unknown time format ${String(never)}`);
    }
  }
}
