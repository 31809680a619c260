// TracingPolicies: the public face of src/policy. Front end (loader, schema,
// hooks: YAML -> CompiledPolicy), kernel engine (plan + engine: CompiledPolicy
// -> programmed kernel, events back), and startPolicies() for `vigil run`.
export * from './ir.js';
export { PolicyEngine, namespaceInode, hostNamespaceInode } from './engine.js';
export type { PolicyEngineOptions, PolicyCounters } from './engine.js';
export { planPolicy, PolicyPlanError } from './plan.js';
export type { PolicyPlan, PlanContext } from './plan.js';
export { decodePolicyRecord, toPolicyEvent, argValue, eventActionOf } from './events.js';
export { PodScoper, podScopeOf, labelsMatch, scopeSelects, scopeCgroups, containerCgroupIndex } from './pod-scope.js';

import { loadPolicyFiles } from './loader.js';
import { compilePolicies } from './hooks.js';
import { PolicyEngine } from './engine.js';
import type { CompiledPolicy, PolicyEvent } from './ir.js';
import type { ProcessLookup } from '../process/types.js';
import type { ProcessTable } from '../sensors/process.js';
import { formatDiagnostic, type PolicyDiagnostic } from './schema.js';
import { ProcessSensor } from '../sensors/process.js';
import { existsSync } from 'node:fs';
import { CRI_SOCKETS } from '../process/cri-sockets.js';
import type { CriMetadata } from '../process/cri.js';
import { PodScoper, podScopeOf } from './pod-scope.js';

export interface StartPoliciesOptions {
  /** Policy files or directories (`vigil run --policy`); `files` is an alias. */
  paths?: readonly string[];
  files?: readonly string[];
  /** Policies already compiled (instead of, or as well as, files). */
  compiled?: readonly CompiledPolicy[];
  /** Each event (formatting is the caller's: src/output/policy-events.ts). */
  onEvent(e: PolicyEvent): void;
  onLost?(count: number, sensor: string): void;
  /**
   * The process cache events take their process and parent from. When it is
   * empty (no other sensor feeds it), a process sensor is started to feed it.
   */
  cache?: ProcessTable & ProcessLookup & { readonly size: number };
  /**
   * What loads with a warning (a policy scoped to pods, which matches nothing here; a key Tetragon
   * reads in another case; ...). Default: "warning: file:line:col: ..." on stderr.
   */
  onWarning?(d: PolicyDiagnostic): void;
  /** Deny's cgroup (default: the cgroup v2 root). */
  cgroupPath?: string;
  /** Accepted for `vigil run`'s hook; policies select their processes themselves. */
  filter?: unknown;
  /**
   * The CRI runtime's socket that names the pods of policies scoped to pods: a path, 'none', or
   * undefined (the first of CRI_SOCKETS that exists). Without a runtime that answers, such a
   * policy stays dormant (a warning says why).
   */
  criSocket?: string;
}

export interface RunningPolicies {
  readonly engine: PolicyEngine;
  /** The policies loaded, by name. */
  readonly names: readonly string[];
  /** Keeps the cgroups of the policies scoped to pods current (when a CRI runtime answers). */
  readonly scoper: PodScoper | undefined;
  close(): Promise<void>;
}

/**
 * The CRI runtime for policies scoped to pods, or undefined (the warning, one per policy, says why:
 * they then stay dormant).
 */
export async function connectScopeRuntime(dormant: readonly CompiledPolicy[], socket: string | undefined,
  warn: (d: PolicyDiagnostic) => void): Promise<CriMetadata | undefined> {
  if (dormant.length === 0) return undefined;
  const path = socket === 'none' ? undefined : socket ?? CRI_SOCKETS.find((s) => existsSync(s));
  let why: string;
  if (!path) {
    why = socket === 'none' ? 'no CRI runtime asked (--cri-socket none)' : `no CRI runtime socket found (${CRI_SOCKETS.join(', ')}); give its socket`;
  } else {
    // gRPC is loaded only when there is a runtime to ask.
    const { CriMetadata } = await import('../process/cri.js');
    try {
      return await CriMetadata.connect(path, { onError: (e) => process.stderr.write(`note: pods of scoped policies: ${e.message}\n`) });
    } catch (e) {
      why = (e as Error).message;
    }
  }
  for (const p of dormant) {
    warn({ pos: p.dormant!.pos, path: '', message: `policy "${p.name}" stays dormant (none of its hooks attached): no pod metadata: ${why}` });
  }
  return undefined;
}

/**
 * Starts one compiled policy in the engine. Scoped to pods, with a scoper: attached, its hooks
 * running only in its pods' cgroups (none is the host's), kept current by the scoper. Scoped
 * without pod metadata: its programs loaded and verified, then unloaded (so what would not work
 * is said now), nothing attached. Otherwise attached.
 */
export async function startCompiled(engine: PolicyEngine, p: CompiledPolicy, scoper: PodScoper | undefined): Promise<void> {
  const scope = podScopeOf(p);
  if (scope && scoper) {
    await engine.add({ ...p, hooks: p.dormantHooks ?? [] }, { cgroups: scoper.cgroupsOf(scope) });
    scoper.track(p.name, scope);
  } else if (p.dormant) {
    await engine.check({ ...p, hooks: p.dormantHooks ?? [] });
  } else {
    await engine.add(p);
  }
}

/**
 * Loads, compiles and starts policies: the engine, one add() each, events to
 * onEvent. A policy that cannot run here
 * stops the start with its error (file:line:col from the front end, or the
 * engine's PolicyPlanError / NotSupportedError), and nothing stays loaded.
 */
export async function startPolicies(o: StartPoliciesOptions): Promise<RunningPolicies> {
  const paths = [...(o.paths ?? []), ...(o.files ?? [])];
  const compiled: CompiledPolicy[] = [...(o.compiled ?? [])];
  if (paths.length) {
    const r = loadPolicyFiles(paths);
    const warn = o.onWarning ?? ((d: PolicyDiagnostic) => process.stderr.write(`warning: ${formatDiagnostic(d)}\n`));
    for (const d of r.warnings) warn(d);
    if (!r.ok) {
      throw new Error(`policies did not load (${r.diagnostics.length} error${r.diagnostics.length === 1 ? '' : 's'}):\n` +
        r.diagnostics.map(formatDiagnostic).join('\n'));
    }
    const fresh = await compilePolicies(r.policies);
    // Hooks left out on this kernel by the policy's own ignore flags are said, not silent.
    for (const p of fresh) {
      for (const sk of p.skipped) warn({ pos: sk.hook.pos, path: sk.hook.path, message: `policy "${p.name}": ${sk.hook.functionName} not hooked: ${sk.reason}` });
    }
    compiled.push(...fresh);
  }
  const warn = o.onWarning ?? ((d: PolicyDiagnostic) => process.stderr.write(`warning: ${formatDiagnostic(d)}\n`));
  const cri = await connectScopeRuntime(compiled.filter((p) => podScopeOf(p)), o.criSocket, warn);
  let scoper: PodScoper | undefined;
  let sensor: ProcessSensor | undefined;
  const cache = o.cache;
  if (cache && cache.size === 0) {
    // Nothing feeds the cache yet (policies alone): the process sensor does, without events of its own
    // (only its execs, when policies are scoped to pods: one from a new cgroup lists the pods again).
    try {
      sensor = await ProcessSensor.start({
        cache, kinds: cri ? ['exec'] : [], onLost: (n) => o.onLost?.(n, 'process'),
        onEvent: (e) => {
          if (e.kind === 'exec') scoper?.noteCgroup(e.process.cgroupId);
        },
      });
    } catch (e) {
      cri?.close();
      throw e;
    }
  }
  let engine: PolicyEngine;
  try {
    engine = await PolicyEngine.start({
      onEvent: o.onEvent,
      onLost: (n) => o.onLost?.(n, 'policy'),
      cache,
      cgroupPath: o.cgroupPath,
    });
  } catch (e) {
    sensor?.close();
    cri?.close();
    throw e;
  }
  try {
    if (cri) {
      scoper = new PodScoper(engine, cri, {
        onError: (e) => process.stderr.write(`note: pods of scoped policies: ${e.message}\n`),
        onChange: (name, ch) => {
          if (ch.full) process.stderr.write(`warning: policy "${name}": ${ch.full} cgroups of its pods did not fit in the kernel's table; it does not apply in them\n`);
        },
      });
    }
    for (const p of compiled) await startCompiled(engine, p, scoper);
  } catch (e) {
    scoper?.close();
    engine.close();
    sensor?.close();
    cri?.close();
    throw e;
  }
  return {
    engine,
    names: engine.names,
    scoper,
    close: async () => {
      scoper?.close();
      engine.close(); // detaches, then reads what the ring holds
      sensor?.close();
      cri?.close();
    },
  };
}
