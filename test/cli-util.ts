// Running the `vigil` command as a user does, for the CLI tests.
import { spawn } from 'node:child_process';
import { repoPath } from '../src/util/paths.js';

export const VIGIL = repoPath('bin', 'vigil');

export interface Run { code: number | null; stdout: string; stderr: string }

/**
 * Runs `vigil observe args`, calls act() once it says it is watching, and
 * returns when it exits (by --count or --duration; killed after 20 s).
 */
export async function observe(args: string[], act: () => void | Promise<void>): Promise<Run> {
  const child = spawn(process.execPath, [VIGIL, 'observe', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  try {
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        if (stderr.includes('watching')) resolve();
      });
      child.on('close', () => reject(new Error(`vigil exited before attaching: ${stderr}`)));
    });
    await act();
    const code = await exited;
    return { code, stdout, stderr };
  } finally {
    clearTimeout(killer);
    child.kill('SIGKILL');
  }
}

export const jsonLines = (s: string): Record<string, any>[] => s.split('\n').filter(Boolean).map((l) => JSON.parse(l));
