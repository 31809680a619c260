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
import type { CompiledPolicy, Hook } from '../../policy/ir.js';

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
  const r = loadPolicyFiles(positionals);
  printDiagnostics(r.warnings, 'warning: ');
  if (!r.ok) {
    printDiagnostics(r.diagnostics);
    process.stdout.write(`FAILED: ${r.diagnostics.length} error${r.diagnostics.length === 1 ? '' : 's'}\n`);
    return 1;
  }
  if (values['no-kernel']) {
    for (const p of r.policies) process.stdout.write(`${p.name}: ok (${p.hooks.length} hook${p.hooks.length === 1 ? '' : 's'}; not resolved on the kernel)\n`);
    return 0;
  }
  let errors = 0;
  const compiled: CompiledPolicy[] = [];
  for (const p of r.policies) {
    const res = await resolvePolicy(p);
    const refused = res.policy ? engineCheck(res.policy) : [];
    if (!res.policy || refused.length > 0) {
      printDiagnostics([...res.diagnostics, ...refused]);
      errors += res.diagnostics.length + refused.length;
      continue;
    }
    compiled.push(res.policy);
    const portable = res.policy.hooks.filter((h) => h.served.portable).length;
    process.stdout.write(`${p.name}: ok (${res.policy.hooks.length} hook${res.policy.hooks.length === 1 ? '' : 's'}${portable ? `, ${portable} portable` : ''}${res.policy.skipped.length ? `, ${res.policy.skipped.length} skipped` : ''})\n`);
    if (values.verbose) {
      for (const h of res.policy.hooks) {
        process.stdout.write(`  ${describeHook(h)}\n`);
        if (h.served.attachments.length > 1) process.stdout.write(`    attachments: ${h.served.attachments.map((a) => a.label).join(', ')}\n`);
      }
      for (const s of res.policy.skipped) process.stdout.write(`  skipped ${s.hook.functionName}: ${s.reason}\n`);
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
