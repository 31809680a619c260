// TracingPolicies: the public face of src/policy. Front end (loader, schema,
// hooks: YAML -> CompiledPolicy), kernel engine (plan + engine: CompiledPolicy
// -> programmed kernel, events back), and startPolicies() for `vigil run`.
export * from './ir.js';
export { PolicyEngine, namespaceInode, hostNamespaceInode } from './engine.js';
export type { PolicyEngineOptions, PolicyCounters } from './engine.js';
export { planPolicy, PolicyPlanError } from './plan.js';
export type { PolicyPlan, PlanContext } from './plan.js';
export { decodePolicyRecord, toPolicyEvent, argValue, eventActionOf } from './events.js';

import { loadPolicyFiles } from './loader.js';
import { compilePolicies } from './hooks.js';
import { PolicyEngine } from './engine.js';
import type { CompiledPolicy, PolicyEvent } from './ir.js';
import type { ProcessLookup } from '../process/types.js';
import type { ProcessTable } from '../sensors/process.js';
import { formatDiagnostic, type PolicyDiagnostic } from './schema.js';
import { ProcessSensor } from '../sensors/process.js';

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
}

export interface RunningPolicies {
  readonly engine: PolicyEngine;
  /** The policies loaded, by name. */
  readonly names: readonly string[];
  close(): Promise<void>;
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
  let sensor: ProcessSensor | undefined;
  const cache = o.cache;
  if (cache && cache.size === 0) {
    // Nothing feeds the cache yet (policies alone): the process sensor does, without events of its own.
    sensor = await ProcessSensor.start({
      cache, kinds: [], onEvent: () => undefined, onLost: (n) => o.onLost?.(n, 'process'),
    });
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
    throw e;
  }
  try {
    // A policy scoped to pods (dormant) matches nothing here: its programs are loaded into the
    // kernel and verified, then unloaded (so what would not work is said now); nothing is attached.
    for (const p of compiled) {
      if (p.dormant) await engine.check({ ...p, hooks: p.dormantHooks ?? [] });
      else await engine.add(p);
    }
  } catch (e) {
    engine.close();
    sensor?.close();
    throw e;
  }
  return {
    engine,
    names: engine.names,
    close: async () => {
      engine.close(); // detaches, then reads what the ring holds
      sensor?.close();
    },
  };
}
