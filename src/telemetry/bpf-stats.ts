// The agent's own BPF programs and ring buffers, found through its file
// descriptors (/proc/self/fd), so every sensor's are seen without each one
// handing them over. Run counts and run times are kept by the kernel only
// while BPF statistics are on: BpfStatsSwitch turns them on for as long as it
// is open (BPF_ENABLE_STATS; every program on the host pays for the two clock
// reads per run meanwhile, so it is off unless asked for).
import { readdirSync, readlinkSync } from 'node:fs';
import { native } from '../bpf/native.js';

const BPF_MAP_TYPE_RINGBUF = 27;

export interface ProgramRunStats {
  readonly id: number;
  readonly name: string;
  readonly runCount: number;
  readonly runTimeNs: number;
}

export interface RingFill {
  readonly id: number;
  readonly name: string;
  /** Data pages' size. */
  readonly sizeBytes: number;
  /** Written and not yet read. */
  readonly usedBytes: number;
}

/** Descriptors of this process that are BPF objects of `kind`, one per object id. */
function ownBpfFds(kind: 'bpf-prog' | 'bpf-map'): number[] {
  const fds: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc/self/fd');
  } catch {
    return fds;
  }
  for (const e of entries) {
    try {
      if (readlinkSync(`/proc/self/fd/${e}`) === `anon_inode:${kind}`) fds.push(Number(e));
    } catch {
      // Closed meanwhile.
    }
  }
  return fds;
}

/** Run counts and times of the programs this process holds (zero while statistics are off). */
export function ownPrograms(): ProgramRunStats[] {
  const byId = new Map<number, ProgramRunStats>();
  for (const fd of ownBpfFds('bpf-prog')) {
    try {
      const i = native().progInfo(fd);
      byId.set(i.id, { id: i.id, name: i.name, runCount: i.runCount, runTimeNs: i.runTimeNs });
    } catch {
      // Closed (or reused by something else) since the listing.
    }
  }
  return [...byId.values()];
}

/** How full each ring buffer this process holds is. */
export function ownRingBuffers(): RingFill[] {
  const byId = new Map<number, RingFill>();
  for (const fd of ownBpfFds('bpf-map')) {
    try {
      const m = native().mapInfo(fd);
      if (m.type !== BPF_MAP_TYPE_RINGBUF || byId.has(m.id)) continue;
      const p = native().ringbufPositions(fd);
      byId.set(m.id, { id: m.id, name: m.name, sizeBytes: m.maxEntries, usedBytes: Math.max(0, p.producer - p.consumer) });
    } catch {
      // Closed since the listing.
    }
  }
  return [...byId.values()];
}

/** BPF run-time statistics on for every program while this is open. */
export class BpfStatsSwitch {
  private fd: number;

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** Throws the kernel's refusal (EPERM without CAP_SYS_ADMIN, EINVAL before Linux 5.8). */
  static enable(): BpfStatsSwitch {
    return new BpfStatsSwitch(native().enableStats());
  }

  close(): void {
    if (this.fd < 0) return;
    native().closeFd(this.fd);
    this.fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
