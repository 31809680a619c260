// Helpers of the policy front-end tests: a TracingPolicy from the YAML under
// its `spec:`, resolved against a kernel (the live one, or one with kprobes,
// fentry and BPF-LSM pinned away so kernel functions take their portable
// equivalents); the YAML of a kprobe, written for a test.
import assert from 'node:assert/strict';
import { loadPolicySources, formatDiagnostic } from '../src/policy/loader.js';
import { liveKernel, resolvePolicy, type KernelEnv } from '../src/policy/hooks.js';
import type { CompiledPolicy, PolicySpec } from '../src/policy/ir.js';
import type { FeatureResult } from '../src/bpf/features.js';

/** A TracingPolicy named `name` whose spec is `body`: its specs, and its errors and warnings as printed. */
export function loadPolicy(body: string, name = 'test', head = `kind: TracingPolicy\nmetadata:\n  name: ${name}\n`):
  { specs: readonly PolicySpec[]; errors: string[]; warnings: string[] } {
  const r = loadPolicySources([{ name: 'p.yaml', content: `apiVersion: cilium.io/v1alpha1\n${head}spec:\n${body}` }]);
  return { specs: r.policies, errors: r.diagnostics.map(formatDiagnostic), warnings: r.warnings.map(formatDiagnostic) };
}

/** The policy's spec, asserting it loads without errors. */
export function policySpec(body: string, name?: string, head?: string): PolicySpec {
  const r = loadPolicy(body, name, head);
  assert.deepEqual(r.errors, []);
  return r.specs[0]!;
}

/** The policy resolved against env (the live kernel by default), asserting it resolves cleanly. */
export async function resolvedPolicy(body: string, env?: KernelEnv, name?: string): Promise<CompiledPolicy> {
  const r = await resolvePolicy(policySpec(body, name), env);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  return r.policy!;
}

/** The errors of a policy that loads but does not resolve against env, as printed. */
export async function rejectedPolicy(body: string, env?: KernelEnv, name?: string): Promise<string> {
  const r = await resolvePolicy(policySpec(body, name), env);
  assert.equal(r.policy, undefined, 'expected the policy to be rejected');
  assert.ok(r.diagnostics.length > 0);
  return r.diagnostics.map(formatDiagnostic).join('\n');
}

/** The helpers above for a suite: policies named `name`, resolved against env unless told otherwise. */
export function policyHelpers(name: string, env?: KernelEnv) {
  return {
    load: (body: string, head?: string) => loadPolicy(body, name, head),
    spec: (body: string, head?: string): PolicySpec => policySpec(body, name, head),
    resolved: (body: string, e: KernelEnv | undefined = env): Promise<CompiledPolicy> => resolvedPolicy(body, e, name),
    failure: (body: string, e: KernelEnv | undefined = env): Promise<string> => rejectedPolicy(body, e, name),
  };
}

/** The live kernel without kprobes, fentry and BPF-LSM: kernel functions go to their portable equivalents. */
export function withoutNativeHooks(live: KernelEnv = liveKernel()): KernelEnv {
  return {
    ...live,
    attach: (name) => (name === 'kprobe' || name === 'fentry' || name === 'lsm'
      ? Promise.resolve<FeatureResult>({ status: 'unsupported', available: false, reason: `pinned: no ${name}` })
      : live.attach(name)),
  };
}

/** An argument: its type (the index is its place in the list), or [index, type], or [index, type, more keys]. */
export type PolicyArg = string | readonly [number, string] | readonly [number, string, Readonly<Record<string, string | number>>];

function argsYaml(args: readonly PolicyArg[] | undefined): string[] {
  if (!args?.length) return [];
  const lines = ['    args:'];
  args.forEach((a, i) => {
    const [index, type, more] = typeof a === 'string' ? [i, a, undefined] : a;
    lines.push(`    - index: ${index}`, `      type: ${type}`, ...Object.entries(more ?? {}).map(([k, v]) => `      ${k}: ${v}`));
  });
  return lines;
}

/**
 * The YAML under `spec:` of one kprobe (a hook's call, its syscall flag, its
 * arguments and return argument), as a test would write it by hand:
 *   kprobeYaml('sys_openat', { syscall: true, args: ['int', 'string'] }) + selectors
 * `call` is written as given (quote it for YAML where it needs quotes).
 */
export function kprobeYaml(call: string, o: { syscall?: boolean; ret?: boolean; args?: readonly PolicyArg[]; returnArg?: string } = {}): string {
  const lines = ['  kprobes:', `  - call: ${call}`];
  if (o.syscall !== undefined) lines.push(`    syscall: ${o.syscall}`);
  if (o.ret) lines.push('    return: true');
  lines.push(...argsYaml(o.args));
  if (o.returnArg !== undefined) lines.push('    returnArg:', '      index: 0', `      type: ${o.returnArg}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The YAML under `spec:` of one tracepoint and its arguments: indexes count the
 * format's fields (common ones first), or with raw, TP_PROTO's arguments.
 */
export function tracepointYaml(subsystem: string, event: string, args?: readonly PolicyArg[], o: { raw?: boolean } = {}): string {
  const lines = ['  tracepoints:', `  - subsystem: ${subsystem}`, `    event: ${event}`, ...(o.raw ? ['    raw: true'] : [])];
  return `${[...lines, ...argsYaml(args)].join('\n')}\n`;
}
