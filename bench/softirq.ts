// CPU time of softirq work that left the process that caused it. The kernel
// here accounts CPU time by ticks (no CONFIG_IRQ_TIME_ACCOUNTING): softirq
// work done on the way out of a process's system call (loopback and veth
// receive do that) is charged to that process, so its getrusage already has
// it, and /proc/stat's softirq column counts the same time again. What is not
// in the process's time is the work deferred to ksoftirqd/N under load: this
// reads that thread's run time (schedstat, ns).
import { readdirSync, readFileSync } from 'node:fs';

const pids = new Map<number, number>();

function ksoftirqdPid(cpu: number): number | undefined {
  const cached = pids.get(cpu);
  if (cached) return cached;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === `ksoftirqd/${cpu}`) {
        pids.set(cpu, Number(d));
        return Number(d);
      }
    } catch { /* exited */ }
  }
  return undefined;
}

/** ksoftirqd/cpu's run time so far, in seconds (every CPU's when cpu is undefined). */
export function ksoftirqdSeconds(cpu: number | undefined, cpus = 64): number {
  const list = cpu === undefined ? Array.from({ length: cpus }, (_, i) => i) : [cpu];
  let ns = 0;
  for (const c of list) {
    const pid = ksoftirqdPid(c);
    if (pid === undefined) continue;
    try {
      ns += Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0] ?? 0);
    } catch { /* no schedstat */ }
  }
  return ns / 1e9;
}
