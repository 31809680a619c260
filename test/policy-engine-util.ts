// Shared by the policy engine tests: a scratch directory with copies of the
// fixture binaries (every policy is scoped to these copies), policies written
// as objects, and the fixture run with its events collected.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { tmpdir } from 'node:os';
import YAML from 'yaml';
import { repoPath } from '../src/util/paths.js';
import { loadPolicySources } from '../src/policy/loader.js';
import { compilePolicies } from '../src/policy/hooks.js';
import type { ArgValue, CompiledPolicy, PolicyEvent } from '../src/policy/ir.js';
import { before, after } from 'node:test';
import { TestCgroup } from './attach-util.js';
import { PolicyEngine as PolicyEngineClass, type PolicyEngine } from '../src/policy/engine.js';
import { shapedPolicyEvent } from './shaped.js';

export class Scratch {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'vigil-policy-'));
  /** Copies of the policyops fixture: policies name these paths. */
  readonly ops = path.join(this.dir, 'policyops');
  readonly ops2 = path.join(this.dir, 'policyops-two');

  constructor() {
    for (const p of [this.ops, this.ops2]) {
      copyFileSync(repoPath('test', '.output', 'policyops'), p);
      chmodSync(p, 0o755);
    }
  }

  file(name: string, content = 'data\n'): string {
    const p = path.join(this.dir, name);
    writeFileSync(p, content);
    return p;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let seq = 0;

/** A TracingPolicy from its spec (as an object), compiled for this kernel. */
export async function compile(spec: Record<string, unknown>, name = `t-${process.pid}-${++seq}`): Promise<CompiledPolicy> {
  const content = YAML.stringify({ apiVersion: 'cilium.io/v1alpha1', kind: 'TracingPolicy', metadata: { name }, spec });
  const r = loadPolicySources([{ name: `${name}.yaml`, content }]);
  if (!r.ok) throw new Error(`policy ${name}: ${JSON.stringify(r.diagnostics)}\n${content}`);
  const [c] = await compilePolicies(r.policies);
  if (!c) throw new Error(`policy ${name}: not compiled`);
  return c;
}

export interface RunResult {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
}

/** How a program ran: its pid, exit, and all it wrote. */
export interface Ran { pid: number; code: number | null; signal: NodeJS.Signals | null; out: string; err: string }

/**
 * Runs a program to its end (bounded: killed after 10 s), stdout and stderr
 * kept. `started`, when given, gets the child with its stdin open (a pipe);
 * otherwise stdin is /dev/null.
 */
export function runToEnd(file: string, args: string[], opts: { cwd?: string; started?: (child: ChildProcess) => void } = {}):
  Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: [opts.started ? 'pipe' : 'ignore', 'pipe', 'pipe'], cwd: opts.cwd });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ pid: child.pid ?? -1, code, signal, out, err });
    });
    opts.started?.(child);
  });
}

/**
 * Runs a program to its end (bounded). `beforeGo`, when given, is called with
 * the pid while the program waits on its stdin (its first command is "wait").
 * A program that fails with something on stderr rejects.
 */
export async function run(file: string, args: string[], opts: { beforeGo?: (pid: number) => Promise<void> | void; cwd?: string } = {}):
  Promise<RunResult> {
  let failed: unknown;
  const r = await runToEnd(file, args, {
    cwd: opts.cwd,
    started: (child) => {
      if (!opts.beforeGo) {
        child.stdin!.end();
        return;
      }
      Promise.resolve(opts.beforeGo(child.pid ?? -1)).then(() => child.stdin!.end('go\n'), (e) => {
        failed = e ?? new Error('beforeGo failed');
        child.kill('SIGKILL');
      });
    },
  });
  if (failed !== undefined) throw failed;
  if (r.err && r.code !== 0 && !r.signal) throw new Error(`${file} ${args.join(' ')}: ${r.err}`);
  return { pid: r.pid, code: r.code, signal: r.signal, lines: r.out.split('\n').filter(Boolean) };
}

/** The path an argument carries: a file's, or a string's. */
export function pathOf(v: ArgValue | undefined): string | undefined {
  if (!v) return undefined;
  if (v.kind === 'file') return v.path;
  if (v.kind === 'string') return v.value;
  return undefined;
}

/** Collects the engine's events; `of(pid)` after drain(). */
export class Events {
  readonly all: PolicyEvent[] = [];

  push = (e: PolicyEvent): void => {
    shapedPolicyEvent(e);
    this.all.push(e);
  };

  /** Events of a process (and its threads/children by pid list), after draining the ring. */
  of(engine: PolicyEngine, ...pids: number[]): PolicyEvent[] {
    engine.drain();
    return this.all.filter((e) => pids.includes(e.pid));
  }

  ofPolicy(engine: PolicyEngine, name: string): PolicyEvent[] {
    engine.drain();
    return this.all.filter((e) => e.policy.name === name);
  }

  clear(): void {
    this.all.length = 0;
  }
}

/** JSON with bigints, for assertion messages. */
export function show(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : v));
}

/**
 * An engine and a scratch directory for a describe() block: started before
 * its tests, closed and removed after them, also when a test failed.
 */
export function engineForSuite(opts: { cgroup?: boolean } = {}): EngineSuite {
  const ctx = {
    engine: undefined as PolicyEngine | undefined, s: undefined as Scratch | undefined, cg: undefined as TestCgroup | undefined,
    events: new Events(),
  };
  before(async () => {
    ctx.s = new Scratch();
    if (opts.cgroup) {
      ctx.cg = new TestCgroup();
      ctx.cg.create();
    }
    ctx.engine = await PolicyEngineClass.start({ onEvent: ctx.events.push, onError: (e) => { throw e; }, cgroupPath: ctx.cg?.path });
  });
  after(async () => {
    ctx.engine?.close();
    await ctx.cg?.remove();
    ctx.s?.remove();
  });
  return {
    get engine() { return ctx.engine!; },
    get s() { return ctx.s!; },
    get cg() { return ctx.cg!; },
    events: ctx.events,
    async withPolicy<T>(p: CompiledPolicy, f: () => Promise<T>): Promise<T> {
      ctx.events.clear();
      await ctx.engine!.add(p);
      try {
        return await f();
      } finally {
        ctx.engine!.remove(p.name);
      }
    },
  };
}

export interface EngineSuite {
  readonly engine: PolicyEngine;
  readonly s: Scratch;
  /** The cgroup the engine is scoped to (engineForSuite({ cgroup: true }) only). */
  readonly cg: TestCgroup;
  readonly events: Events;
  /** Adds p with the events cleared, runs f, removes p (also when f fails). */
  withPolicy<T>(p: CompiledPolicy, f: () => Promise<T>): Promise<T>;
}

/** Adds a policy, runs the fixture with args, removes the policy: the run and the policy's events of that process. */
export async function runWith(engine: PolicyEngine, events: Events, policy: CompiledPolicy, file: string, args: string[]):
  Promise<{ r: RunResult; ev: PolicyEvent[] }> {
  events.clear();
  await engine.add(policy);
  try {
    const r = await run(file, args);
    return { r, ev: events.ofPolicy(engine, policy.name).filter((e) => e.pid === r.pid) };
  } finally {
    engine.remove(policy.name);
  }
}
