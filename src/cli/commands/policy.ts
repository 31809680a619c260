// vigil policy validate|list|compat: TracingPolicy files checked against the
// schema and resolved on the running kernel (which hook serves each hook).
import { parseFlags } from '../flags.js';
import path from 'node:path';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { lackingCapabilities, requireCapabilities } from '../privileges.js';
import { loadPolicyFiles } from '../../policy/loader.js';
import { formatDiagnostic, type PolicyDiagnostic } from '../../policy/schema.js';
import { liveKernel, resolvePolicy, type KernelEnv } from '../../policy/hooks.js';
import { compatReport, engineCheck, formatCompatReport, kernelCheck } from '../../policy/compat.js';
import { PolicyEngine } from '../../policy/engine.js';
import { builtinPolicyFiles } from '../../policy/builtin.js';
import type { Hook } from '../../policy/ir.js';
import { AGENT_CALLS_USAGE, POLICY_AGENT_SUBCOMMANDS, policyAgentCommand } from '../agent-calls.js';

const usage = `usage: vigil policy <subcommand> [options]

subcommands:
  validate [--static|--no-kernel] [--portable-hooks] [-v] FILE|DIR...
        Load TracingPolicy files (apiVersion cilium.io/v1alpha1, kinds
        TracingPolicy and TracingPolicyNamespaced; a directory stands for the
        .yaml/.yml files below it), check them against the schema, resolve
        every hook on the running kernel, and load each policy into the
        kernel without attaching anything (the verifier runs on what it
        needs; nothing is observed or enforced), then unload it. Problems are
        printed as file:line:column: field: reason; the exit status is 1 if
        there is one. Without the privileges to load programs, validate falls
        back to --static and says so; without CAP_BPF and CAP_PERFMON (the
        kernel cannot be asked at all), to --no-kernel, and says so.
        --static          resolve the hooks on this kernel, but load nothing
        --no-kernel       schema and meaning only (no kernel is asked)
        --portable-hooks  serve kernel-function and LSM hooks by their portable
                          equivalents, as on a kernel without kprobes, fentry
                          and BPF-LSM (to compare both on one kernel)
        -v                print, for each hook, what serves it here
  list --builtin
        The built-in policies (policies/), one line each.
  compat [--all] [--static] [--portable-hooks] DIR...
        For each policy file: loaded natively, loaded with portable hooks
        (which), or rejected (the exact reason, with its position); then the
        counts. Each policy is loaded into the kernel without attaching
        anything (as validate does) unless --static. Needs CAP_BPF and
        CAP_PERFMON either way (it reports on this kernel).
        --all   print every reason of a rejected file, not only the first

the running agent (vigil agent; its local API, docs/agent.md):
  add FILE          load the policies of FILE into the agent (all or none;
                    problems as file:line:column, as validate says them)
  delete NAME       unload a policy
  enable NAME       load a disabled policy again
  disable NAME      unload a policy, keeping it listed
  list              the agent's policies: state, origin, events, actions
${AGENT_CALLS_USAGE}`;

/**
 * An engine to check policies against the kernel (load, never attach), or why
 * there is none (no privileges, no tracefs): the caller then checks statically.
 */
async function checkingEngine(): Promise<{ engine?: PolicyEngine; why?: string }> {
  if (process.getuid?.() !== 0) return { why: 'not root: loading BPF programs needs CAP_BPF and CAP_PERFMON (or root)' };
  try {
    return { engine: await PolicyEngine.start({ onEvent: () => {} }) };
  } catch (e) {
    return { why: (e as Error).message.split('\n')[0] };
  }
}

function printDiagnostics(ds: readonly PolicyDiagnostic[], prefix = ''): void {
  for (const d of ds) process.stdout.write(`${prefix}${formatDiagnostic(d)}\n`);
}

function describeHook(h: Hook): string {
  const what = h.target.kind === 'tracepoint' ? `${h.target.category}/${h.target.event}` : h.functionName;
  return `${h.section} ${what} -> ${h.served.hook}${h.served.portable ? ' (portable)' : ''}`;
}

async function validate(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags({
    args: argv, allowPositionals: true,
    options: {
      'no-kernel': { type: 'boolean', default: false }, static: { type: 'boolean', default: false },
      'portable-hooks': { type: 'boolean', default: false }, verbose: { type: 'boolean', short: 'v', default: false },
    },
  });
  if (positionals.length === 0) throw new UsageError('validate needs at least one FILE or DIR');
  // Without the capabilities the kernel cannot be asked (probes fail, tracefs is unreadable): resolving
  // hooks "on this kernel" would report every hook as unservable. Schema and meaning only, said so.
  const lacking = lackingCapabilities(['CAP_BPF', 'CAP_PERFMON']);
  if (!values['no-kernel'] && lacking.length) {
    process.stdout.write(`note: schema and meaning only (as --no-kernel): resolving the hooks on this kernel needs ` +
      `${lacking.join(' and ')}, which this process does not have (run it as root for the full check)\n`);
    values['no-kernel'] = true;
  }
  const env: KernelEnv = liveKernel({ forcePortable: values['portable-hooks'] || undefined });
  let engine: PolicyEngine | undefined;
  if (!values['no-kernel'] && !values.static) {
    const c = await checkingEngine();
    engine = c.engine;
    if (c.why) process.stdout.write(`note: policies are checked statically (not loaded into the kernel): ${c.why}\n`);
  }
  try {
    return await validateWith(positionals, values, env, engine);
  } finally {
    engine?.close();
  }
}

async function validateWith(positionals: string[], values: { 'no-kernel': boolean; verbose: boolean }, env: KernelEnv,
  engine: PolicyEngine | undefined): Promise<number> {
  // Every file is loaded and every policy that loaded is resolved, whatever failed elsewhere:
  // the report names each problem of each file, one line each.
  const r = loadPolicyFiles(positionals);
  printDiagnostics(r.warnings, 'warning: ');
  printDiagnostics(r.diagnostics);
  let errors = r.diagnostics.length;
  const hooks = (n: number): string => `${n} hook${n === 1 ? '' : 's'}`;
  if (values['no-kernel']) {
    for (const p of r.policies) {
      process.stdout.write(p.dormant
        ? `${p.name}: loaded, matches nothing until pod metadata is available (${hooks(p.hooks.length)}; not resolved on the kernel)\n`
        : `${p.name}: ok (${hooks(p.hooks.length)}; not resolved on the kernel)\n`);
    }
  } else {
    for (const p of r.policies) {
      let res: Awaited<ReturnType<typeof resolvePolicy>>;
      try {
        res = await resolvePolicy(p, env);
      } catch (e) {
        // Not a problem of the policy (the kernel could not be asked): said on one line all the same.
        res = { diagnostics: [{ pos: p.pos, path: '', message: `policy "${p.name}" could not be resolved on this kernel: ${(e as Error).message.split('\n')[0]}` }] };
      }
      const policy = res.policy;
      const checked = policy?.dormant ? { ...policy, hooks: policy.dormantHooks ?? [] } : policy;
      const refused = checked ? engineCheck(checked) : [];
      if (checked && engine && refused.length === 0) refused.push(...await kernelCheck(engine, checked));
      if (!policy || refused.length > 0) {
        printDiagnostics([...res.diagnostics, ...refused]);
        errors += res.diagnostics.length + refused.length;
        continue;
      }
      const shown = policy.dormant ? policy.dormantHooks ?? [] : policy.hooks;
      const portable = shown.filter((h) => h.served.portable).length;
      const counts = `${hooks(shown.length)}${portable ? `, ${portable} portable` : ''}${policy.skipped.length ? `, ${policy.skipped.length} skipped` : ''}`;
      const where = engine ? 'loaded into the kernel and unloaded, nothing attached' : 'not loaded into the kernel';
      process.stdout.write(policy.dormant
        ? `${p.name}: loaded, matches nothing until pod metadata is available (${counts}; none attached)\n`
        : `${p.name}: ok (${counts}; ${where})${p.mode === 'monitor' ? ', monitor mode: enforcing actions are reported, not taken' : ''}\n`);
      for (const h of shown) {
        if (h.served.portable) process.stdout.write(`  ${h.functionName} -> ${h.served.hook}: ${h.served.note ?? ''}\n`);
      }
      if (values.verbose) {
        for (const h of shown) {
          process.stdout.write(`  ${describeHook(h)}\n`);
          if (h.served.attachments.length > 1) process.stdout.write(`    attachments: ${h.served.attachments.map((a) => a.label).join(', ')}\n`);
        }
        for (const s of policy.skipped) process.stdout.write(`  skipped ${s.hook.functionName}: ${s.reason}\n`);
      }
    }
  }
  if (errors > 0) {
    process.stdout.write(`FAILED: ${errors} error${errors === 1 ? '' : 's'}\n`);
    return 1;
  }
  return 0;
}

function listBuiltin(argv: string[]): number {
  parseFlags({ args: argv, options: { builtin: { type: 'boolean' } } });
  const files = builtinPolicyFiles();
  const r = loadPolicyFiles(files);
  const width = Math.max(0, ...r.policies.map((p) => p.name.length));
  for (const p of r.policies) {
    process.stdout.write(`${p.name.padEnd(width)}  ${p.description ?? '(no description)'}\n`);
  }
  if (!r.ok) {
    printDiagnostics(r.diagnostics);
    return 1;
  }
  return 0;
}

async function compat(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags({
    args: argv, allowPositionals: true,
    options: { all: { type: 'boolean', default: false }, static: { type: 'boolean', default: false },
      'portable-hooks': { type: 'boolean', default: false } },
  });
  if (positionals.length === 0) throw new UsageError('compat needs a DIR (or files)');
  // What loads on this kernel cannot be told without asking it.
  requireCapabilities('reporting what loads on this kernel', ['CAP_BPF', 'CAP_PERFMON'], ['policy', 'compat', ...argv]);
  let engine: PolicyEngine | undefined;
  if (!values.static) {
    const c = await checkingEngine();
    engine = c.engine;
    if (c.why) process.stdout.write(`note: policies are checked statically (not loaded into the kernel): ${c.why}\n`);
  }
  let report: Awaited<ReturnType<typeof compatReport>>;
  try {
    report = await compatReport(positionals, liveKernel({ forcePortable: values['portable-hooks'] || undefined }), { engine });
  } finally {
    engine?.close();
  }
  const base = positionals.length === 1 ? path.resolve(positionals[0]!) : undefined;
  const lines = formatCompatReport(report, base);
  if (values.all) {
    for (const e of report.entries) {
      if (e.status === 'rejected' && e.reasons.length > 1) {
        const i = lines.findIndex((l) => l.startsWith('rejected') && l.includes(path.relative(base ?? '', e.file)));
        if (i >= 0) lines.splice(i + 1, 0, ...e.reasons.slice(1).map((d) => `          ${formatDiagnostic(d)}`));
      }
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export const command: Command = {
  name: 'policy',
  summary: 'TracingPolicies (Tetragon format): validate, list the built-ins, compat report; add/delete/list/enable/disable in the running agent',
  usage,
  async run(argv) {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'validate': return validate(rest);
      case 'list': return rest.includes('--builtin') ? listBuiltin(rest) : policyAgentCommand('list', rest);
      case 'compat': return compat(rest);
      case 'add': case 'delete': case 'enable': case 'disable': return policyAgentCommand(sub, rest);
      default: {
        const all = ['validate', 'compat', ...POLICY_AGENT_SUBCOMMANDS].join(', ');
        throw new UsageError(sub ? `unknown subcommand "${sub}"; available: ${all}` : `give a subcommand: ${all}`);
      }
    }
  },
};
