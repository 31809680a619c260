// A `vigil` command run as an agent for the memory, soak and shutdown
// benchmarks: started as a user starts it, its output read as fast as it
// comes (counted, not kept), its memory and descriptors sampled from /proc,
// stopped by a signal and timed until it is reaped.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { repoPath } from '../src/util/paths.js';

/** The commands the benchmarks run, by the name their tables show. */
export interface AgentCommand {
  name: string;
  args: string[];
}

/** The stable Falco rules beside the clone, or the small rules file the tests use when ../shared is absent. */
export function falcoRules(): string {
  const shared = repoPath('..', 'shared', 'compat', 'falco', 'falco_rules.yaml');
  return existsSync(shared) ? shared : repoPath('test', 'fixtures', 'churn_rules.yaml');
}

/** observe with every process and file sensor, run with the Falco rules, run with the built-in policies. */
export function agentCommands(): AgentCommand[] {
  return [
    { name: 'observe (all sensors)', args: ['observe', '--sensors', 'exec,exit,fork,file', '--output', 'json'] },
    { name: 'run --rules', args: ['run', '--rules', falcoRules(), '--output', 'json'] },
    { name: 'run --policy', args: ['run', '--policy', repoPath('policies'), '--output', 'json'] },
  ];
}

export interface MemorySample {
  /** VmRSS, RssAnon, RssFile (+ RssShmem), KiB. */
  rssKiB: number;
  anonKiB: number;
  fileKiB: number;
  fds: number;
}

/** A process's resident memory and open descriptors from /proc; undefined once it is gone. */
export function sampleMemory(pid: number): MemorySample | undefined {
  let status: string;
  let fds: number;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
    fds = readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
  const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: kib('VmRSS'), anonKiB: kib('RssAnon'), fileKiB: kib('RssFile') + kib('RssShmem'), fds };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Agent {
  /** Bytes read from its stdout. */
  stdoutBytes = 0;
  stderr = '';
  /** performance.now() when the process was reaped. */
  private reapedAt: number | undefined;
  readonly reaped: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess, readonly command: AgentCommand) {
    child.stdout?.on('data', (b: Buffer) => {
      this.stdoutBytes += b.length;
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      // Bounded: the start line and the last messages are what is looked at.
      this.stderr = (this.stderr + s).slice(-16_384);
    });
    // 'exit' fires once Node's waitpid has reaped the child.
    this.reaped = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.reapedAt = performance.now();
        resolve({ code, signal });
      });
      child.on('error', () => resolve({ code: null, signal: null }));
    });
  }

  /** Starts bin/vigil (or another build's, `vigil`) and waits until it says it is attached ("Ctrl-C to stop"). */
  static async start(command: AgentCommand, o: {
    vigil?: string; readyTimeoutMs?: number; stdout?: 'pipe' | 'null';
    /** What on stderr says it is attached (default "Ctrl-C to stop"; `vigil agent` logs "ready"). */
    ready?: RegExp;
  } = {}): Promise<Agent> {
    // 'null': output to /dev/null, so that the reader is never what holds the agent back (a slow
    // reader is the matter of the output queues); 'pipe' (default): read here, counted.
    const stdout = o.stdout === 'null' ? openSync('/dev/null', 'w') : 'pipe';
    let child: ChildProcess;
    try {
      child = spawn(o.vigil ?? repoPath('bin', 'vigil'), command.args, { stdio: ['ignore', stdout, 'pipe'] });
    } finally {
      if (typeof stdout === 'number') closeSync(stdout);
    }
    const a = new Agent(child, command);
    const deadline = performance.now() + (o.readyTimeoutMs ?? 60_000);
    const ready = o.ready ?? /Ctrl-C to stop/;
    while (!ready.test(a.stderr)) {
      if (a.reapedAt !== undefined) throw new Error(`${command.name}: exited before it was ready: ${a.stderr.trim()}`);
      if (performance.now() > deadline) {
        a.kill();
        throw new Error(`${command.name}: not ready within ${o.readyTimeoutMs ?? 60_000} ms: ${a.stderr.trim()}`);
      }
      await sleep(20);
    }
    return a;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  sample(): MemorySample | undefined {
    return sampleMemory(this.pid);
  }

  /**
   * Sends `signal` (and `second` after `secondAfterMs`, if given) and waits until
   * the process is reaped: milliseconds from the first signal to the reaping.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', o: { second?: NodeJS.Signals; secondAfterMs?: number; timeoutMs?: number } = {}):
    Promise<{ ms: number; code: number | null; signal: NodeJS.Signals | null }> {
    const t0 = performance.now();
    this.child.kill(signal);
    const second = o.second ? setTimeout(() => this.child.kill(o.second), o.secondAfterMs ?? 0) : undefined;
    const killer = setTimeout(() => this.kill(), o.timeoutMs ?? 30_000);
    try {
      const r = await this.reaped;
      return { ms: this.reapedAt! - t0, ...r };
    } finally {
      clearTimeout(killer);
      if (second) clearTimeout(second);
    }
  }

  kill(): void {
    if (this.reapedAt === undefined) this.child.kill('SIGKILL');
  }
}

/** A process's CPU time (user and system) in seconds, from /proc/PID/stat; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // After the command name (which may hold spaces) in parentheses: utime and stime are fields 14 and 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
}

/** Seconds a process's threads waited on a run queue for a CPU (/proc/PID/task/TID/schedstat); undefined once it is gone. */
export function waitedSeconds(pid: number): number | undefined {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  let ns = 0;
  for (const t of tasks) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'latin1').split(' ')[1]);
    } catch {
      // A thread that ended since the listing.
    }
  }
  return ns / 1e9;
}

/** USER_HZ: the unit of /proc/PID/stat's times (100 on every Linux architecture Vigil runs on). */
const CLOCK_TICKS = 100;

/** bench/.output/execstorm: spawns /bin/true `count` times, one at a time; resolves with the spawns made. */
export async function execChurn(count: number, cpu?: number): Promise<number> {
  const storm = repoPath('bench', '.output', 'execstorm');
  if (!existsSync(storm)) throw new Error(`${storm} is missing: run \`make fixtures\``);
  let made = 0;
  // execstorm bounds one run to 60 s; large counts go in slices.
  for (let left = count; left > 0;) {
    const n = Math.min(left, 20_000);
    const args = ['--count', String(n), '--duration-ms', '60000', ...(cpu !== undefined ? ['--cpu', String(cpu)] : [])];
    const child = spawn(storm, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    const it = Number(/iterations=(\d+)/.exec(out)?.[1] ?? NaN);
    if (code !== 0 || !Number.isFinite(it)) throw new Error(`execstorm failed (exit ${code}): ${out.trim()}`);
    made += it;
    left -= it;
    if (it === 0) break;
  }
  return made;
}
