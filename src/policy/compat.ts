// Compatibility of TracingPolicy files with Vigil on the running kernel: for
// each file, whether its policies load natively, load with portable hooks
// (which), or are rejected (the exact reason, with its position). Used by
// `vigil policy compat DIR` and by the compat test.
import path from 'node:path';
import { expandPolicyPaths, loadPolicyFiles } from './loader.js';
import { formatDiagnostic, type PolicyDiagnostic } from './schema.js';
import { liveKernel, resolvePolicy, type KernelEnv } from './hooks.js';
import type { CompiledPolicy } from './ir.js';
import { planPolicy } from './plan.js';
import { hostNamespaceInode, type PolicyEngine } from './engine.js';

/**
 * What the kernel engine itself refuses (its plan: limits, argument kinds it
 * cannot capture, actions it cannot take), each hook on its own so the reason
 * points at the hook, then the whole policy. Pure: no kernel is asked.
 */
export function engineCheck(policy: CompiledPolicy): PolicyDiagnostic[] {
  const out: PolicyDiagnostic[] = [];
  const ctx = { hostNamespace: hostNamespaceInode };
  for (const h of policy.hooks) {
    try {
      planPolicy({ ...policy, hooks: [h] }, ctx);
    } catch (e) {
      out.push({ pos: h.pos, path: h.path, message: `the engine cannot program it: ${(e as Error).message}` });
    }
  }
  if (out.length === 0) {
    try {
      planPolicy(policy, ctx);
    } catch (e) {
      out.push({ pos: policy.spec.pos, path: 'spec', message: `the engine cannot program it: ${(e as Error).message}` });
    }
  }
  return out;
}

export type CompatStatus = 'loaded' | 'portable' | 'rejected';

export interface CompatEntry {
  readonly file: string;
  readonly status: CompatStatus;
  readonly policies: readonly CompiledPolicy[];
  /** For 'portable': "fd_install -> portable:open-family", one per distinct pair. */
  readonly portable: readonly string[];
  /** For 'rejected': every reason (the first one decides). */
  readonly reasons: readonly PolicyDiagnostic[];
  readonly warnings: readonly PolicyDiagnostic[];
}

export interface CompatReport {
  readonly entries: readonly CompatEntry[];
  readonly counts: { readonly total: number; readonly loaded: number; readonly portable: number; readonly rejected: number };
}

/**
 * Loads a compiled policy into the running kernel without attaching it (the
 * verifier runs, the maps are written, then everything is unloaded): what
 * the kernel refuses, as a diagnostic at the policy.
 */
export async function kernelCheck(engine: PolicyEngine, policy: CompiledPolicy): Promise<PolicyDiagnostic[]> {
  try {
    await engine.check(policy);
    return [];
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0] ?? String(e);
    return [{ pos: policy.spec.pos, path: 'spec', message: `the kernel refused it: ${msg}` }];
  }
}

export interface CompatOptions {
  /** Load each policy into the kernel (without attaching): the verifier decides. Without it, the check is static. */
  engine?: PolicyEngine;
}

/** Loads and resolves every policy file below the given paths, one file at a time. */
export async function compatReport(paths: readonly string[], env: KernelEnv = liveKernel(),
  opts: CompatOptions = {}): Promise<CompatReport> {
  const entries: CompatEntry[] = [];
  for (const file of expandPolicyPaths(paths)) {
    const r = loadPolicyFiles([file]);
    if (!r.ok) {
      entries.push({ file, status: 'rejected', policies: [], portable: [], reasons: r.diagnostics, warnings: r.warnings });
      continue;
    }
    const policies: CompiledPolicy[] = [];
    const reasons: PolicyDiagnostic[] = [];
    for (const spec of r.policies) {
      const res = await resolvePolicy(spec, env);
      if (res.policy) {
        // A policy scoped to pods attaches nothing here, but its programs are checked (and
        // loaded into the kernel) as they would be once pod metadata exists.
        const checked = res.policy.dormant ? { ...res.policy, hooks: res.policy.dormantHooks ?? [] } : res.policy;
        const refused = engineCheck(checked);
        if (refused.length === 0 && opts.engine) refused.push(...await kernelCheck(opts.engine, checked));
        if (refused.length === 0) policies.push(res.policy);
        reasons.push(...refused);
      }
      reasons.push(...res.diagnostics);
    }
    if (reasons.length > 0) {
      entries.push({ file, status: 'rejected', policies: [], portable: [], reasons, warnings: r.warnings });
      continue;
    }
    const portable = [...new Set(policies.flatMap((p) => hooksOf(p).filter((h) => h.served.portable).map((h) => `${h.functionName} -> ${h.served.hook}`)))];
    entries.push({ file, status: portable.length > 0 ? 'portable' : 'loaded', policies, portable, reasons: [], warnings: r.warnings });
  }
  const count = (s: CompatStatus): number => entries.filter((e) => e.status === s).length;
  return { entries, counts: { total: entries.length, loaded: count('loaded'), portable: count('portable'), rejected: count('rejected') } };
}

/** The hooks a policy attaches, or would attach once pod metadata exists (a policy scoped to pods). */
function hooksOf(p: CompiledPolicy): readonly CompiledPolicy['hooks'][number][] {
  return p.dormant ? p.dormantHooks ?? [] : p.hooks;
}

function dormantNote(e: CompatEntry): string {
  return e.policies.some((p) => p.dormant) ? '; matches nothing until pod metadata is available' : '';
}

function pct(n: number, d: number): string {
  return d === 0 ? '0%' : `${Math.round((n * 1000) / d) / 10}%`;
}

/** The report as lines: one per file, then the counts. */
export function formatCompatReport(r: CompatReport, base?: string): string[] {
  const rel = (f: string): string => (base ? path.relative(base, f) || f : f);
  const out: string[] = [];
  for (const e of r.entries) {
    switch (e.status) {
      case 'loaded': {
        const hooks = e.policies.reduce((n, p) => n + hooksOf(p).length, 0);
        out.push(`loaded    ${rel(e.file)} (${hooks} hook${hooks === 1 ? '' : 's'}: ${[...new Set(e.policies.flatMap((p) => hooksOf(p).map((h) => h.served.hook)))].slice(0, 4).join(', ')}${hooks > 4 ? ', ...' : ''})${dormantNote(e)}`);
        break;
      }
      case 'portable':
        out.push(`portable  ${rel(e.file)} (${e.portable.join('; ')})${dormantNote(e)}`);
        break;
      case 'rejected':
        out.push(`rejected  ${formatDiagnostic({ ...e.reasons[0]!, pos: { ...e.reasons[0]!.pos, file: rel(e.reasons[0]!.pos.file) } })}${e.reasons.length > 1 ? ` (and ${e.reasons.length - 1} more)` : ''}`);
        break;
    }
  }
  const { total, loaded, portable, rejected } = r.counts;
  out.push('');
  out.push(`${total} files: ${loaded} loaded natively, ${portable} loaded with portable hooks, ${rejected} rejected; ${loaded + portable}/${total} (${pct(loaded + portable, total)}) load on this kernel`);
  return out;
}
