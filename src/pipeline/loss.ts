// Loss accounting: every event that does not reach an output is counted, by
// the sensor it came from and the reason, and reported (in-band and on
// stderr). Nothing is dropped silently.

/**
 * Why an event did not reach an output:
 * - ring_full:     the kernel could not store it (the ring was full, often
 *                  because user space stopped reading: back-pressure);
 * - queue_full:    this output's bounded queue was full (a slow consumer);
 * - write_failed:  the output refused the write (ENOSPC, EIO, ...);
 * - output_closed: the output is gone (the reader of a pipe exited).
 */
export type LossReason = 'ring_full' | 'queue_full' | 'write_failed' | 'output_closed';

export const LOSS_REASON_TEXT: Record<LossReason, string> = {
  ring_full: 'ring buffer full',
  queue_full: 'output queue full',
  write_failed: 'write failed',
  output_closed: 'output closed',
};

export interface Loss {
  sensor: string;
  reason: LossReason;
  count: number;
}

/** Counts per (sensor, reason); take() hands over what accumulated since the last take(). */
export class LossCounter {
  /** By reason, then sensor: no key string made per loss (a full queue counts every event it drops). */
  private readonly counts = new Map<LossReason, Map<string, Loss>>();
  private sum = 0;

  add(sensor: string, reason: LossReason, count = 1): void {
    if (count <= 0) return;
    let bySensor = this.counts.get(reason);
    if (!bySensor) this.counts.set(reason, (bySensor = new Map()));
    const l = bySensor.get(sensor);
    if (l) l.count += count;
    else bySensor.set(sensor, { sensor, reason, count });
    this.sum += count;
  }

  /** Adds every count of `other`. */
  addAll(losses: Iterable<Loss>): void {
    for (const l of losses) this.add(l.sensor, l.reason, l.count);
  }

  get total(): number {
    return this.sum;
  }

  /** The counts, sorted by reason then sensor. */
  entries(): Loss[] {
    return [...this.counts.values()].flatMap((m) => [...m.values()])
      .map((l) => ({ ...l }))
      .sort((a, b) => (a.reason + a.sensor < b.reason + b.sensor ? -1 : a.reason + a.sensor > b.reason + b.sensor ? 1 : 0));
  }

  /** The counts, which are then reset. */
  take(): Loss[] {
    // Asked every pipeline cycle: nothing counted, nothing made.
    if (this.sum === 0) return [];
    const out = this.entries();
    this.counts.clear();
    this.sum = 0;
    return out;
  }
}

/** "1200 file, 34 process (output queue full); 5 file (ring buffer full)". */
export function describeLosses(losses: readonly Loss[]): string {
  const byReason = new Map<LossReason, Loss[]>();
  for (const l of losses) {
    const list = byReason.get(l.reason) ?? [];
    list.push(l);
    byReason.set(l.reason, list);
  }
  return [...byReason].map(([reason, list]) =>
    `${list.map((l) => `${l.count} ${l.sensor}`).join(', ')} (${LOSS_REASON_TEXT[reason]})`).join('; ');
}
