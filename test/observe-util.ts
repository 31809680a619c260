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
 * Runs `vigil ARGS` (a long-running command: observe, run), calls act() once
 * it says it is attached ("Ctrl-C to stop"), and returns when it exits (by
 * --count or --duration, or act() stopping it; killed after timeoutMs, a
 * bound, not a measurement).
 */
export async function runVigil(
  args: string[], act: (run: RunningVigil) => void | Promise<void>, opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<VigilRun> {
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
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
  try {
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        if (stderr.includes('Ctrl-C to stop')) resolve();
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

/**
 * Runs `vigil observe args` (env added to ours), calls act() once it says it
 * is watching, then stops it with SIGINT once until() holds for its output
 * (bounded: 15 s) unless it exits by itself first (--count, --duration);
 * killed after 30 s whatever happens.
 */
export function observeRun(args: string[], act: () => void | Promise<void>,
  until: (stdout: string) => boolean = () => false, env: NodeJS.ProcessEnv = {}): Promise<ObserveRun> {
  return runVigil(['observe', ...args], async (run) => {
    await act();
    await waitFor(() => run.closed() || until(run.stdout()), 15_000, 20);
    if (!run.closed()) run.child.kill('SIGINT');
  }, { timeoutMs: 30_000, env });
}

/** JSON lines, parsed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const jsonLines = (s: string): Record<string, any>[] => s.split('\n').filter(Boolean).map((l) => JSON.parse(l));
