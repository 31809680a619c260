// Drives bench/loadgen.c: a process that calls getppid(2) in a bounded loop.
//
// It is started waiting (--wait-signal) so a BPF object can be loaded for its
// pid first, then released with SIGUSR1. Its own report (calls made, elapsed
// time) is what the producer actually did, whatever rate was asked for.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { repoPath } from '../src/util/paths.js';

export interface LoadgenOptions {
  /** getppid calls per second; 0 = as fast as it can. */
  callRate: number;
  /** Upper bound on calls. */
  maxCalls: number;
  /** Upper bound on the loop's duration. */
  durationMs: number;
  /** Pin the load generator (and so the BPF producer, which runs in its context) to this CPU. */
  cpu?: number;
}

export interface LoadgenReport {
  calls: number;
  elapsedNs: number;
  /** CPU the loop ended on. */
  cpu: number;
}

export function loadgenPath(): string {
  const p = repoPath('bench', '.output', 'loadgen');
  if (!existsSync(p)) throw new Error(`${p} is missing: run \`make fixtures\``);
  return p;
}

/** A started, still waiting load generator. */
export class Loadgen {
  private stdout = '';
  private readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess, readonly pid: number) {
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (s: string) => { this.stdout += s; });
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }

  /** Spawns it and waits (bounded) until it is ready for SIGUSR1. */
  static async spawn(opts: LoadgenOptions): Promise<Loadgen> {
    const args = ['--wait-signal', '--rate', String(Math.round(opts.callRate)), '--count', String(opts.maxCalls),
      '--duration-ms', String(opts.durationMs)];
    if (opts.cpu !== undefined) args.push('--cpu', String(opts.cpu));
    const child = spawn(loadgenPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => { stderr += s; });
    const pid = await new Promise<number>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('loadgen: not ready within 5 s')); }, 5000);
      const onData = (s: Buffer): void => {
        seen += s.toString('utf8');
        const m = /^ready (\d+)\n/m.exec(seen);
        if (m) {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          resolve(Number(m[1]));
        }
      };
      child.stdout?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`loadgen exited (${code}) before it was ready: ${stderr.trim()}`));
      });
      child.once('error', (e) => { clearTimeout(timer); reject(e); });
    });
    child.removeAllListeners('exit');
    return new Loadgen(child, pid);
  }

  /** Releases the loop. */
  start(): void {
    process.kill(this.pid, 'SIGUSR1');
  }

  /** Waits (asynchronously: the event loop keeps draining) for the loop to end. */
  async finished(): Promise<LoadgenReport> {
    const code = await this.exited;
    return this.report(code);
  }

  /**
   * Blocks the whole event loop until the process has exited (it stays a
   * zombie: Node reaps it only once the loop runs again). Nothing is drained
   * meanwhile: this is how a consumer that does not keep up is simulated.
   */
  blockUntilExited(timeoutMs: number): void {
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let state = 'Z';
      try {
        const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
        state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      } catch {
        // Already reaped.
      }
      if (state === 'Z' || state === 'X') return;
      if (Date.now() > deadline) throw new Error(`loadgen ${this.pid} still running after ${timeoutMs} ms`);
      Atomics.wait(sleeper, 0, 0, 2);
    }
  }

  private report(code: number | null): LoadgenReport {
    const m = /calls=(\d+) elapsed_ns=(\d+) rate=\d+ cpu=(-?\d+)/.exec(this.stdout);
    if (code !== 0 || !m) throw new Error(`loadgen failed (exit ${code}): ${this.stdout.trim()}`);
    return { calls: Number(m[1]), elapsedNs: Number(m[2]), cpu: Number(m[3]) };
  }

  /** Kills it if still running (error paths). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
