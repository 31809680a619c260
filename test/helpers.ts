// Shared helpers for the real-kernel tests.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync, rmdirSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import { before, after } from 'node:test';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { cgroup2 } from '../src/bpf/mounts.js';
import path from 'node:path';
import { walkCgroups } from '../src/process/container.js';
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

/**
 * Removes the cgroup `rel` (a path below the cgroup v2 root `root`, from "/")
 * and every cgroup under it, deepest first; a cgroup whose last process was
 * just killed may stay busy for a moment, so each is retried for ~1 s.
 */
export function removeCgroupTree(root: string, rel: string): void {
  const dirs = walkCgroups(root, rel).map((d) => path.join(root, d.path)).reverse();
  for (const d of dirs) {
    for (let i = 0; i < 100; i++) {
      try {
        rmdirSync(d);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      }
    }
  }
}

/**
 * Runs body with a fresh cgroup named like a docker container's
 * (<root>/vigil-test-XXXXXX.slice/docker-<64 hex>.scope), removed after;
 * skips t where the kernel has no cgroup v2 (mounting it if it is not yet).
 * `later`: the cgroup is made when body calls make() (a container started
 * after what the test runs has looked), not before body.
 */
export async function withDockerCgroup(t: TestContext,
  body: (c: { root: string; id: string; dir: string; make(): void }) => Promise<void>, o: { later?: boolean } = {}): Promise<void> {
  const cg = cgroup2(true);
  const root = cg.path;
  if (!root) return t.skip(`this kernel has no cgroup v2 (${cg.reason ?? 'not mountable'})`);
  const id = randomBytes(32).toString('hex');
  const dir = path.join(root, `vigil-test-${randomBytes(3).toString('hex')}.slice`, `docker-${id}.scope`);
  const make = (): void => void mkdirSync(dir, { recursive: true });
  if (!o.later) make();
  try {
    await body({ root, id, dir, make });
  } finally {
    for (const d of [dir, path.dirname(dir)]) {
      try {
        rmdirSync(d);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }
}

/**
 * A real-kernel suite's common setup: before its tests, require root, ask the
 * feature probes why the kernel cannot run it (`skip`, undefined when it can)
 * and, given a prefix, make a scratch directory (`tmp`, real path), removed
 * after the suite.
 */
export function kernelSuite(unsupported: () => Promise<string | undefined>, tmpPrefix?: string):
  { readonly skip: string | undefined; readonly tmp: string } {
  const s = { skip: undefined as string | undefined, tmp: '' };
  before(async () => {
    requireRoot();
    s.skip = await unsupported();
    if (tmpPrefix) s.tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), tmpPrefix)));
  });
  after(() => {
    if (s.tmp) rmSync(s.tmp, { recursive: true, force: true });
  });
  return s;
}

/**
 * Waits until a spawned child has started and its /proc/PID/exe ends with
 * `exe` (it starts as a copy of its parent, or of a wrapper that execs it);
 * returns its pid.
 */
export async function execed(child: ChildProcess, exe: string): Promise<number> {
  await new Promise<void>((res, rej) => { child.once('spawn', () => res()); child.once('error', rej); });
  const pid = child.pid ?? 0;
  assert.ok(await waitFor(() => { try { return readlinkSync(`/proc/${pid}/exe`).endsWith(exe); } catch { return false; } }),
    `pid ${pid} runs ${exe}`);
  return pid;
}

/**
 * A python3 child (with `modules` and sys imported) that waits for a line on
 * stdin, then runs `code` (lines); go() sends the line and resolves to its
 * exit status.
 */
export async function pythonChild(code: string[], modules: string[] = ['os']): Promise<{ pid: number; go(): Promise<number> }> {
  const imports = `import ${[...new Set([...modules, 'sys'])].join(', ')}`;
  const child = spawn('python3', ['-c', [imports, 'sys.stdin.readline()', ...code].join('\n')],
    { stdio: ['pipe', 'ignore', 'inherit'] });
  await once(child, 'spawn');
  return {
    pid: child.pid ?? 0,
    async go() {
      child.stdin?.end('go\n');
      const [status] = await once(child, 'exit');
      return status as number;
    },
  };
}

/** The one element of items, asserting there is exactly one. */
export function single<T>(items: readonly T[], what = 'items'): T {
  assert.equal(items.length, 1, `exactly one of ${what}: ${JSON.stringify(items)}`);
  return items[0]!;
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
 * Stops a child with `signal`, then SIGKILL when it has not exited within graceMs: bpftrace can miss
 * a SIGINT that lands just before it waits for events, and a child left running holds the test file
 * (and the whole run) open.
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGINT', graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
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

/** Runs bin/vigil in a new process (`ip netns exec NETNS vigil ...` when netns is given): exit status and output. */
export function runCliIn(netns: string | undefined, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const argv = [process.execPath, repoPath('bin', 'vigil'), ...args];
  const r = netns ? spawnSync('ip', ['netns', 'exec', netns, ...argv], { encoding: 'utf8', timeout: 60_000 })
    : spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs bin/vigil in a new process: exit status and output. */
export function runCli(...args: string[]): { code: number; stdout: string; stderr: string } {
  return runCliIn(undefined, ...args);
}

/** runCli that must succeed; its stdout. */
export function runCliOk(...args: string[]): string {
  const r = runCli(...args);
  if (r.code !== 0) throw new Error(`vigil ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}
