// Helpers of the bandwidth manager's tests and benchmark: iperf3 runs between
// this namespace and one the caller created, from a cgroup the caller created.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Child } from './attach-util.js';

/** The program's path on PATH: a busybox sh would run its own applet of the same name (ip) instead. */
function onPath(program: string): string {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const file = path.join(dir, program);
    if (dir && existsSync(file)) return file;
  }
  throw new Error(`${program} is not installed (scripts/setup.sh installs it)`);
}

/** In `cgroupPath` (when given), exec the command: the process joins the cgroup before it runs anything. */
function inCgroup(cgroupPath: string | undefined, command: string[]): string[] {
  const quoted = [onPath(command[0]!), ...command.slice(1)].map((a) => `'${a}'`).join(' ');
  return ['-c', cgroupPath ? `echo $$ > '${cgroupPath}/cgroup.procs' && exec ${quoted}` : `exec ${quoted}`];
}

/** An iperf3 server in a network namespace, for one test (-1: it exits after one client). */
export async function iperfServer(ns: string, port: number, cgroupPath?: string): Promise<Child> {
  // --forceflush: its stdout is a pipe, which would hold "Server listening" in a buffer.
  const s = new Child('sh', inCgroup(cgroupPath, ['ip', 'netns', 'exec', ns, 'iperf3', '-s', '-1', '--forceflush', '-p', String(port)]));
  try {
    await s.line(/Server listening/, 30_000);
  } catch (e) {
    s.kill();
    throw e;
  }
  return s;
}

export interface IperfResult {
  /** Goodput the server received, bits/s. */
  receivedBits: number;
  /** Per interval (sender side): [end second, bits/s]. */
  intervals: [number, number][];
}

/**
 * iperf3 -c from inside `cgroupPath` (it joins before it makes its socket:
 * the socket's cgroup is the creator's), for `seconds`, bounded.
 */
export function iperfClient(cgroupPath: string, host: string, port: number, seconds: number,
  extra: string[] = []): Promise<IperfResult> {
  const p = spawn('sh', inCgroup(cgroupPath, ['iperf3', '-c', host, '-p', String(port), '-t', String(seconds), '-J', ...extra]),
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
  p.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const timer = setTimeout(() => p.kill('SIGKILL'), (seconds + 30) * 1000);
  return new Promise((resolve, reject) => {
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`iperf3 exited ${code}: ${err.trim()} ${out.slice(0, 400)}`));
      const j = JSON.parse(out) as {
        end: { sum_received: { bits_per_second: number } };
        intervals: Array<{ sum: { end: number; bits_per_second: number } }>;
      };
      resolve({ receivedBits: j.end.sum_received.bits_per_second, intervals: j.intervals.map((i) => [i.sum.end, i.sum.bits_per_second]) });
    });
  });
}
