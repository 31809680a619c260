// Shared by the profiler's real-kernel tests: runs test/fixtures/profiletarget.c
// in one of its modes under a Profiler and returns the symbolised profile.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Profiler, type ProfilerOptions } from '../src/profile/profiler.js';
import type { Profile, ProfileStack } from '../src/profile/profile.js';
import { repoPath } from '../src/util/paths.js';

export const FIXTURE = repoPath('test', '.output', 'profiletarget');
export const FIXTURE_LIB = repoPath('test', '.output', 'libprofiletarget.so');

export type FixtureMode = 'cpu' | 'syscall' | 'lib' | 'jit' | 'fork' | 'sleep';

export interface FixtureRun {
  profile: Profile;
  pid: number;
  /** Kernel map entries right after the final collect (the fixture had exited). */
  usageAfter: { counts: number; userStacks: number; kernelStacks: number; overflowStacks: number };
}

/** Starts the fixture and waits until it printed "ready <pid>" (it then waits for a line on stdin). */
export async function startFixture(mode: FixtureMode, seconds: number): Promise<ChildProcessWithoutNullStreams> {
  if (!existsSync(FIXTURE)) throw new Error(`${FIXTURE} is not built (make fixtures)`);
  const child = spawn(FIXTURE, [mode, String(seconds)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fixture ${mode}: no "ready" within 10 s`)), 10_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`fixture ${mode} exited (${code}) before it was ready`));
    });
  });
  child.removeAllListeners('exit');
  return child;
}

/** Waits for the child's exit, bounded; kills it if it overstays. */
export function waitExit(child: ChildProcessWithoutNullStreams, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/**
 * Runs the fixture for `seconds` under a profiler filtered to its pid (and
 * children with followChildren); the profile is cut after the fixture exited,
 * so its symbols come from maps captured while it lived.
 */
export async function profileFixture(mode: FixtureMode, seconds: number,
  opts: ProfilerOptions & { followChildren?: boolean; noPidFilter?: boolean; beforeStart?: (pid: number) => void } = {}):
  Promise<FixtureRun> {
  const child = await startFixture(mode, seconds);
  let profiler: Profiler | undefined;
  try {
    opts.beforeStart?.(child.pid!);
    const filter = opts.noPidFilter ? opts.filter ?? {}
      : { ...opts.filter, pids: [child.pid!], followChildren: !!opts.followChildren };
    profiler = await Profiler.start({ frequency: 499, ...opts, filter });
    child.stdin.write('\n');
    const code = await waitExit(child, seconds * 1000 + 15_000);
    if (code !== 0) throw new Error(`fixture ${mode} exited with ${code}`);
    const profile = profiler.cut();
    const usageAfter = profiler.sampler.mapUsage();
    return { profile, pid: child.pid!, usageAfter };
  } finally {
    profiler?.close();
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** Samples (count) of stacks that hold a frame with this name. */
export function countWith(p: Profile, name: string | RegExp, filter: (s: ProfileStack) => boolean = () => true): number {
  const match = (n: string) => (typeof name === 'string' ? n === name : name.test(n));
  return p.stacks.filter((s) => filter(s) && s.frames.some((f) => match(f.name))).reduce((a, s) => a + s.count, 0);
}

export function totalCount(p: Profile): number {
  return p.stacks.reduce((a, s) => a + s.count, 0);
}
