// Kernel timestamps to wall-clock time.
//
// BPF programs stamp events with CLOCK_BOOTTIME (bpf_ktime_get_boot_ns,
// task->start_boottime): it counts from boot and, unlike CLOCK_MONOTONIC,
// keeps counting through suspend, so one offset converts a whole session.
// Node reads neither BOOTTIME nor REALTIME below a millisecond, so the offset
// is measured once, in two parts:
//
//   realtime - monotonic: process.hrtime is CLOCK_MONOTONIC in ns. Date.now()
//     is REALTIME in whole ms; spinning until it ticks (at most ~1 ms, once)
//     catches the instant a millisecond begins, so the pair is good to the
//     length of one loop turn (a few µs).
//   boottime - monotonic: the time spent suspended since boot. /proc/uptime is
//     BOOTTIME in 10 ms steps, compared with monotonic read around it. A
//     difference under SUSPEND_SLACK_NS (30 ms) is the quantisation of
//     /proc/uptime, not a suspend, and counts as 0: exact on machines that have
//     never slept (servers); within 10 ms on those that have.
//
// Not followed after the measurement: a wall-clock step (settimeofday, an NTP
// step) or a suspend. Long-running consumers call measure() again to re-sync.
import { readFileSync } from 'node:fs';

const SUSPEND_SLACK_NS = 30_000_000n;

function monotonicNs(): bigint {
  return process.hrtime.bigint();
}

/** realtime - monotonic, in ns, caught at a millisecond edge of Date.now(). */
function realtimeOffsetNs(): bigint {
  const limit = monotonicNs() + 5_000_000n;
  const d0 = Date.now();
  let d = d0;
  let m = monotonicNs();
  while (d === d0 && m < limit) {
    m = monotonicNs();
    d = Date.now();
  }
  return BigInt(d) * 1_000_000n - m;
}

/** boottime - monotonic, in ns (0 unless the machine has been suspended). */
function suspendedNs(): bigint {
  const before = monotonicNs();
  const text = readFileSync('/proc/uptime', 'latin1');
  const after = monotonicNs();
  const m = /^(\d+)\.(\d+)/.exec(text);
  if (!m) return 0n;
  const frac = (m[2] ?? '0').padEnd(9, '0').slice(0, 9);
  const uptime = BigInt(m[1] ?? '0') * 1_000_000_000n + BigInt(frac);
  const diff = uptime - (before + after) / 2n;
  // /proc/uptime truncates to 10 ms: it reads up to 10 ms behind monotonic.
  return diff > SUSPEND_SLACK_NS ? diff : 0n;
}

export class BootClock {
  private constructor(
    /** Add to a CLOCK_BOOTTIME ns value to get ns since the Unix epoch. */
    readonly offsetNs: bigint,
  ) {}

  static measure(): BootClock {
    return new BootClock(realtimeOffsetNs() - suspendedNs());
  }

  /** CLOCK_BOOTTIME ns -> ns since the epoch. */
  toEpochNs(bootNs: bigint): bigint {
    return bootNs + this.offsetNs;
  }

  /** The current CLOCK_BOOTTIME, as this clock estimates it. */
  nowBootNs(): bigint {
    return BigInt(Date.now()) * 1_000_000n - this.offsetNs;
  }
}

/** ns since the epoch as RFC 3339 with nanoseconds: 2024-05-11T12:54:45.615000123Z. */
export function rfc3339Nano(epochNs: bigint): string {
  const ms = epochNs / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // 2024-05-11T12:54:45.615Z
  const nanos = (epochNs % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${nanos}Z`;
}
