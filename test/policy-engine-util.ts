// Shared by the policy engine tests: a scratch directory with copies of the
// fixture binaries (every policy is scoped to these copies), policies written
// as objects, and the fixture run with its events collected.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { tmpdir } from 'node:os';
import YAML from 'yaml';
import { repoPath } from '../src/util/paths.js';
import { loadPolicySources } from '../src/policy/loader.js';
import { compilePolicies } from '../src/policy/hooks.js';
import type { CompiledPolicy, PolicyEvent } from '../src/policy/ir.js';
import { before, after } from 'node:test';
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

/**
 * Runs a program to its end (bounded). `beforeGo`, when given, is called with
 * the pid while the program waits on its stdin (its first command is "wait").
 */
export function run(file: string, args: string[], opts: { beforeGo?: (pid: number) => Promise<void> | void; cwd?: string } = {}):
  Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (err && code !== 0 && !signal) reject(new Error(`${file} ${args.join(' ')}: ${err}`));
      else resolve({ pid: child.pid ?? -1, code, signal, lines: out.split('\n').filter(Boolean) });
    });
    if (opts.beforeGo) {
      Promise.resolve(opts.beforeGo(child.pid ?? -1)).then(() => child.stdin.end('go\n'), (e) => {
        child.kill('SIGKILL');
        reject(e);
      });
    } else {
      child.stdin.end();
    }
  });
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
export function engineForSuite(): { readonly engine: PolicyEngine; readonly s: Scratch; readonly events: Events } {
  const ctx = { engine: undefined as PolicyEngine | undefined, s: undefined as Scratch | undefined, events: new Events() };
  before(async () => {
    ctx.s = new Scratch();
    ctx.engine = await PolicyEngineClass.start({ onEvent: ctx.events.push, onError: (e) => { throw e; } });
  });
  after(() => {
    ctx.engine?.close();
    ctx.s?.remove();
  });
  return {
    get engine() { return ctx.engine!; },
    get s() { return ctx.s!; },
    events: ctx.events,
  };
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
