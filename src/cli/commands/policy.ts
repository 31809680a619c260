// vigil policy validate|list|compat: TracingPolicy files checked against the
// schema and resolved on the running kernel (which hook serves each hook).
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { loadPolicyFiles } from '../../policy/loader.js';
import { formatDiagnostic, type PolicyDiagnostic } from '../../policy/schema.js';
import { resolvePolicy } from '../../policy/hooks.js';
import { compatReport, engineCheck, formatCompatReport } from '../../policy/compat.js';
import { builtinPolicyFiles } from '../../policy/builtin.js';
import type { Hook } from '../../policy/ir.js';

const usage = `usage: vigil policy <subcommand> [options]

subcommands:
  validate [--no-kernel] [-v] FILE|DIR...
        Load TracingPolicy files (apiVersion cilium.io/v1alpha1, kinds
        TracingPolicy and TracingPolicyNamespaced; a directory stands for the
        .yaml/.yml files below it), check them against the schema and resolve
        every hook on the running kernel. Problems are printed as
        file:line:column: field: reason; the exit status is 1 if there is one.
        --no-kernel   schema and meaning only (no kernel is asked)
        -v            print, for each hook, what serves it here
  list  The built-in policies (policies/), one line each.
  compat [--all] DIR...
        For each policy file: loaded, loaded with portable hooks (which), or
        rejected (the exact reason, with its position); then the counts.
        --all   print every reason of a rejected file, not only the first`;

function printDiagnostics(ds: readonly PolicyDiagnostic[], prefix = ''): void {
  for (const d of ds) process.stdout.write(`${prefix}${formatDiagnostic(d)}\n`);
}

function describeHook(h: Hook): string {
  const what = h.target.kind === 'tracepoint' ? `${h.target.category}/${h.target.event}` : h.functionName;
  return `${h.section} ${what} -> ${h.served.hook}${h.served.portable ? ' (portable)' : ''}`;
}

async function validate(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { 'no-kernel': { type: 'boolean', default: false }, verbose: { type: 'boolean', short: 'v', default: false } },
  });
  if (positionals.length === 0) throw new UsageError('validate needs at least one FILE or DIR');
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
        res = await resolvePolicy(p);
      } catch (e) {
        // Not a problem of the policy (the kernel could not be asked): said on one line all the same.
        res = { diagnostics: [{ pos: p.pos, path: '', message: `policy "${p.name}" could not be resolved on this kernel: ${(e as Error).message.split('\n')[0]}` }] };
      }
      const policy = res.policy;
      const refused = policy ? engineCheck(policy.dormant ? { ...policy, hooks: policy.dormantHooks ?? [] } : policy) : [];
      if (!policy || refused.length > 0) {
        printDiagnostics([...res.diagnostics, ...refused]);
        errors += res.diagnostics.length + refused.length;
        continue;
      }
      const shown = policy.dormant ? policy.dormantHooks ?? [] : policy.hooks;
      const portable = shown.filter((h) => h.served.portable).length;
      const counts = `${hooks(shown.length)}${portable ? `, ${portable} portable` : ''}${policy.skipped.length ? `, ${policy.skipped.length} skipped` : ''}`;
      process.stdout.write(policy.dormant
        ? `${p.name}: loaded, matches nothing until pod metadata is available (${counts}; none attached)\n`
        : `${p.name}: ok (${counts})${p.mode === 'monitor' ? ', monitor mode: enforcing actions are reported, not taken' : ''}\n`);
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

function list(argv: string[]): number {
  if (argv.length > 0) throw new UsageError('list takes no arguments');
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
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { all: { type: 'boolean', default: false } } });
  if (positionals.length === 0) throw new UsageError('compat needs a DIR (or files)');
  const report = await compatReport(positionals);
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
  summary: 'TracingPolicies (Tetragon format): validate, list the built-ins, compat report',
  usage,
  async run(argv) {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'validate': return validate(rest);
      case 'list': return list(rest);
      case 'compat': return compat(rest);
      default: throw new UsageError(sub ? `unknown subcommand "${sub}"\n${usage}` : usage);
    }
  },
};
