// Shared helpers for the real-kernel tests.
import { readdirSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { repoPath } from '../src/util/paths.js';
import { ensureTracefs } from '../src/bpf/mounts.js';
import { probeAttach, probeHelper } from '../src/bpf/features.js';
import type { AttachName, ProbedHelperName } from '../src/bpf/features.js';

/** Open descriptors of this process. */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Runs `getppid(2)` n times: Node reads it anew on every access of process.ppid. */
export function getppid(n: number): void {
  let x = 0;
  for (let i = 0; i < n; i++) x += process.ppid;
  if (x === -1) throw new Error('unreachable');
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('the real-kernel tests run as root');
}

export function tracefs(): void {
  const st = ensureTracefs();
  if (!st.path) throw new Error(`tracefs: ${st.reason}`);
}

/** Waits until cond() holds, polling; bounded. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 2000, stepMs = 10): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return cond();
}

/**
 * Why the kernel cannot run the sensor: the first attach kind or helper the
 * feature probe says it lacks; undefined when it has them all. A probe that
 * cannot tell is an error, never a skip.
 */
export async function missingFeature(kinds: readonly AttachName[], helpers: readonly ProbedHelperName[] = []): Promise<string | undefined> {
  for (const r of [...await Promise.all(kinds.map((k) => probeAttach(k))), ...await Promise.all(helpers.map((n) => probeHelper(n)))]) {
    if (r.status === 'unsupported') return r.reason;
    if (r.status === 'unknown') throw new Error(`feature probe could not tell: ${r.reason}`);
  }
  return undefined;
}

export interface VigilRun { code: number | null; pid: number; stdout: string; stderr: string }

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
  const child = spawn(process.execPath, [repoPath('bin', 'vigil'), ...args], {
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
