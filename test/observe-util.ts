// Helpers of the tests that run `vigil observe` as a command.
import { spawn } from 'node:child_process';
import { repoPath } from '../src/util/paths.js';
import { waitFor } from './helpers.js';

export const VIGIL = repoPath('bin', 'vigil');

export interface ObserveRun { code: number | null; pid: number; stdout: string; stderr: string }

/**
 * Runs `vigil observe args` (env added to ours), calls act() once it says it
 * is watching, then stops it with SIGINT once until() holds for its output
 * (bounded: 15 s) unless it exits by itself first (--count, --duration);
 * killed after 30 s whatever happens.
 */
export function observeRun(args: string[], act: () => void | Promise<void>,
  until: (stdout: string) => boolean = () => false, env: NodeJS.ProcessEnv = {}): Promise<ObserveRun> {
  return vigilRun(['observe', ...args], 'watching', act, until, env);
}

/** Runs `vigil argv` as observeRun() does, act() once its stderr says `ready`. */
export async function vigilRun(argv: string[], ready: string, act: () => void | Promise<void>,
  until: (stdout: string) => boolean = () => false, env: NodeJS.ProcessEnv = {}): Promise<ObserveRun> {
  const child = spawn(process.execPath, [VIGIL, ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  let closed = false;
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => {
    closed = true;
    resolve(code);
  }));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000); // a bound, not a measurement
  try {
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        if (stderr.includes(ready)) resolve();
      });
      child.on('close', () => reject(new Error(`vigil exited before attaching: ${stderr}`)));
    });
    await act();
    await waitFor(() => closed || until(stdout), 15_000, 20);
    if (!closed) child.kill('SIGINT');
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
