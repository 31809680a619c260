// The exec event's user space without the kernel (issue 12): exec records as the process sensor's
// ring gives them (a new process each, the exec storm's: a copy of /bin/true run by one loop), each
// decoded, fed to a process cache, formatted as `observe --sensors exec --output json` writes it
// (the process and its parent, the loop), encoded into a batch's pieces and written with writev to a
// file on /dev/shm, stage by stage; each process's exit record retires it from the cache, as in the
// storm. Each stage adds one step to the one before; decoded events are held in a FIFO of --hold
// events before they are formatted, as the pipeline's merge window holds them. The cache's clock
// moves 1 ms per exec (its grace period then holds ~10,000 retired images, as a storm of 1,000
// execs/s does). CPU per event: process.cpuUsage() over the stage's events.
//
//   node --max-semi-space-size=2 --heap-growing-percent=50 dist/bench/exec-path.js [--events N] [--hold N]
// (the flags bin/vigil runs Node with)
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { VIGIL_PROCESS_EXEC, vigilExecEvent, vigilTaskInfo } from '../src/generated/process.js';
import { eventEncoder, encodeEvent } from '../src/output/event-format.js';
import { ProcessCache } from '../src/process/cache.js';
import type { ExecEvent } from '../src/sensors/events.js';
import { decodeExecRecord } from '../src/sensors/process.js';
import { BootClock } from '../src/util/clock.js';
import { intFlag, runAsScript } from './script.js';
import { HeldLines } from './stages.js';

const ALL_CAPS = (1n << 41n) - 1n;

/** Components leaf first, each NUL-terminated, as the BPF program sends a path. */
function leafFirst(p: string): string {
  return p === '/' ? '' : `${p.split('/').filter(Boolean).reverse().join('\0')}\0`;
}

/** One exec record of `binary` run by the loop (pid 2), in a buffer the run rewrites per exec (pid, times). */
function execRecord(binary: string, cwd: string, cgroup: string): { view: DataView; size: number } {
  const enc = new TextEncoder();
  const parts = [enc.encode(leafFirst(binary)), enc.encode(`${path.basename(binary)}\0`), enc.encode(leafFirst(cwd)),
    enc.encode(leafFirst(cgroup))];
  const blob = parts.reduce((n, p) => n + p.length, 0);
  const size = vigilExecEvent.size + blob;
  const view = new DataView(new ArrayBuffer(size));
  vigilExecEvent.encode({
    kind: VIGIL_PROCESS_EXEC, flags: 0, ktime: 0n, size, binary_len: parts[0]!.length, args_len: parts[1]!.length,
    cwd_len: parts[2]!.length, cgroup_len: parts[3]!.length, tty_len: 0, pad: 0,
    task: {
      start_boottime: 0n, parent_start_boottime: 2_000n, cgroup_id: 1n, cap_effective: ALL_CAPS, cap_permitted: ALL_CAPS,
      cap_inheritable: 0n, pid: 0, tid: 0, ppid: 2, uid: 0, gid: 0, euid: 0, egid: 0, auid: 0xffffffff, suid: 0, sgid: 0,
      fsuid: 0, fsgid: 0, securebits: 0, ns_uts: 1, ns_ipc: 2, ns_mnt: 3, ns_pid: 4, ns_pid_for_children: 4, ns_net: 5,
      ns_time: 8, ns_time_for_children: 8, ns_cgroup: 6, ns_user: 7, comm: path.basename(binary).slice(0, 15),
    },
  }, view, 0);
  let at = vigilExecEvent.size;
  for (const p of parts) {
    new Uint8Array(view.buffer, at, p.length).set(p);
    at += p.length;
  }
  return { view, size };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { events: { type: 'string', default: '100000' }, hold: { type: 'string', default: '500' } } });
  const events = intFlag('events', values.events!, 1000);
  const hold = intFlag('hold', values.hold!, 0);
  const dir = mkdtempSync('/dev/shm/vigil-exec-path-');
  const clock = BootClock.measure();
  let nowMs = 0;
  const cache = new ProcessCache({
    node: 'vm', procfsFallback: false, cgroup2Root: null, sweepIntervalMs: 0, now: () => nowMs,
    toEpochNs: (b) => clock.toEpochNs(b),
  });
  const vtrue = path.join(dir, 'vtrue');
  // The loop that runs the storm, and its shell, known to the cache first.
  const loopRec = execRecord('/work/bench/.output/execstorm', dir, '/user.slice/user-0.slice/session-1.scope');
  const task = vigilExecEvent.offsets.task;
  const set32 = (v: DataView, field: number, x: number) => v.setUint32(task + field, x, true);
  const set64 = (v: DataView, field: number, x: bigint) => v.setBigUint64(task + field, x, true);
  set32(loopRec.view, vigilTaskInfo.offsets.pid, 2);
  set32(loopRec.view, vigilTaskInfo.offsets.tid, 2);
  set32(loopRec.view, vigilTaskInfo.offsets.ppid, 1);
  set64(loopRec.view, vigilTaskInfo.offsets.start_boottime, 2_000n);
  loopRec.view.setBigUint64(vigilExecEvent.offsets.ktime, 2_000n, true);
  cache.onExec(decodeExecRecord(loopRec.view, 0, loopRec.size).record);
  const rec = execRecord(vtrue, dir, '/user.slice/user-0.slice/session-1.scope');
  const encoder = eventEncoder('json', { node: 'vm', hostNamespaces: { uts: 1, ipc: 2, mnt: 3, pid: 4, net: 5, cgroup: 6, user: 7 }, lookup: cache });
  const fd = openSync(path.join(dir, 'out.json'), 'w');
  let pid = 1000;
  // 1 decode + cache (exec and exit), 2 + format, 3 + encode (piecesOf), 4 + writev.
  const run = (n: number, stages: number): number => {
    const out = new HeldLines<ExecEvent>(hold, stages, { format: 2, encode: 3, writev: { stage: 4, fd } }, 'process', (e) => encodeEvent(encoder, e)!);
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      pid = pid >= 4_000_000 ? 1000 : pid + 1;
      nowMs++;
      const start = BigInt(nowMs) * 1_000_000n + 10_000_000_000n;
      set32(rec.view, vigilTaskInfo.offsets.pid, pid);
      set32(rec.view, vigilTaskInfo.offsets.tid, pid);
      set64(rec.view, vigilTaskInfo.offsets.start_boottime, start);
      rec.view.setBigUint64(vigilExecEvent.offsets.ktime, start + 200_000n, true);
      const d = decodeExecRecord(rec.view, 0, rec.size);
      const p = cache.onExec(d.record);
      const e: ExecEvent = {
        kind: 'exec', timeNs: clock.toEpochNs(d.timeBootNs), timeBootNs: d.timeBootNs, process: p, parent: cache.parentOf(p),
      };
      cache.onExit({ pid, startBootNs: start, timeBootNs: start + 400_000n, code: 0 });
      out.push(e);
    }
    const t = process.cpuUsage(t0);
    return (t.user + t.system) / n;
  };
  try {
    const names = ['', 'decode + cache', '+ format', '+ encode', '+ writev'];
    for (let s = 1; s <= 4; s++) run(Math.ceil(events / 4), s); // warm-up: the JIT's compilations
    console.log(`${events} exec events (and exits), full JSON, ${hold} held, ${cache.size} images cached; CPU per event:`);
    for (let s = 1; s <= 4; s++) console.log(`  ${names[s]!.padEnd(14)} ${run(events, s).toFixed(2)} µs`);
  } finally {
    cache.close();
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

runAsScript(import.meta, 'exec-path', main);
