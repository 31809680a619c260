// Helpers of the tests that run `vigil observe` (or `vigil run`) as a command.
import { spawn, type ChildProcess } from 'node:child_process';
import { repoPath } from '../src/util/paths.js';
import { waitFor } from './helpers.js';

export const VIGIL = repoPath('bin', 'vigil');

export interface VigilRun { code: number | null; pid: number; stdout: string; stderr: string }
export type ObserveRun = VigilRun;

/** A running `vigil` command, as runVigil's act() sees it. */
export interface RunningVigil {
  readonly child: ChildProcess;
  /** What it has written to stdout so far. */
  stdout(): string;
  /** It has exited. */
  closed(): boolean;
}

/**
 * Runs observe as vigilRun() does, act() once it says it is watching, stopped
 * with SIGINT once until() holds for its output (bounded: 15 s) unless it
 * exits by itself first (--count, --duration).
 */
export function observeRun(args: string[], act: () => void | Promise<void>,
  until: (stdout: string) => boolean = () => false, env: NodeJS.ProcessEnv = {}): Promise<ObserveRun> {
  return vigilRun(['observe', ...args], 'watching', act, until, env);
}

/** Runs `vigil argv` (env added to ours), act() once its stderr says `ready`, then stops it as observeRun() does. */
export function vigilRun(argv: string[], ready: string, act: () => void | Promise<void>,
  until: (stdout: string) => boolean = () => false, env: NodeJS.ProcessEnv = {}): Promise<VigilRun> {
  return runVigil(argv, async (run) => {
    await act();
    await waitFor(() => run.closed() || until(run.stdout()), 15_000, 20);
    if (!run.closed()) run.child.kill('SIGINT');
  }, { ready, env });
}

/**
 * Runs `vigil ARGS` (a long-running command: observe, run), calls act() once
 * its stderr says `ready` ("Ctrl-C to stop" unless given), and returns when
 * it exits (by --count or --duration, or act() stopping it; killed after
 * timeoutMs, 30 s unless given: a bound, not a measurement).
 */
export async function runVigil(args: string[], act: (run: RunningVigil) => void | Promise<void>,
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; ready?: string } = {}): Promise<VigilRun> {
  const child = spawn(process.execPath, [VIGIL, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env },
  });
  let stdout = '';
  let stderr = '';
  let closed = false;
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => {
    closed = true;
    resolve(code);
  }));
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  try {
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        if (stderr.includes(opts.ready ?? 'Ctrl-C to stop')) resolve();
      });
      child.on('close', () => reject(new Error(`vigil exited before attaching: ${stderr}`)));
    });
    await act({ child, stdout: () => stdout, closed: () => closed });
    const code = await exited;
    return { code, pid: child.pid ?? -1, stdout, stderr };
  } finally {
    clearTimeout(killer);
    child.kill('SIGKILL');
  }
}

/** JSON lines, parsed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const jsonLines = (s: string): Record<string, any>[] => s.split('\n').filter(Boolean).map((l) => JSON.parse(l));
