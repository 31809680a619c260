// vigil rules validate FILE...: load Falco rules files in order, compile every
// rule, and report counts, warnings, skipped rules and errors with file:line:col.
import { parseFlags } from '../flags.js';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { RuleEngine, formatDiagnostic, formatPos, type RulesReport } from '../../rules/index.js';
import { formatTypeSet, union, NO_TYPES, type TypeSet } from '../../rules/evttype.js';
import { AGENT_CALLS_USAGE, RULES_AGENT_SUBCOMMANDS, rulesAgentCommand } from '../agent-calls.js';

const usage = `usage: vigil rules validate [--quiet] FILE|DIR...
       vigil rules add FILE | delete NAME | list [--socket PATH]

Loads Falco rules files in the order given (later files append to and
override earlier ones, as Falco loads them; a directory stands for its files
in alphabetical order), compiles every condition and output, and reports:
  - the counts of rules (enabled, disabled), macros and lists;
  - every warning, as file:line:column;
  - each rule that is skipped, and why (an event source other than syscall,
    or a field Vigil does not provide);
  - every error, as file:line:column. The exit status is 1 if there is one.

options:
  --quiet    print only errors, skipped rules and the summary line (no warnings)
  -h, --help

the running agent (vigil agent; its local API, docs/agent.md):
  add FILE      add a rules file to the agent's rules (after those it has; the
                whole set is compiled anew and its sensors restarted; problems
                as file:line:column)
  delete NAME   remove a rules file (NAME: as list shows it)
  list          the agent's rules files and how many rules are active
${AGENT_CALLS_USAGE}`;

function summary(r: RulesReport): string[] {
  const enabled = r.rules.filter((x) => x.enabled).length;
  const total = r.definitions.rules.size;
  const failed = total - r.rules.length - r.skipped.length;
  const types = r.rules.filter((x) => x.enabled).reduce<TypeSet>((acc, x) => union(acc, x.eventTypes), NO_TYPES);
  return [
    `files: ${r.files.join(', ')}`,
    `rules: ${total} (${enabled} enabled, ${r.rules.length - enabled} disabled, ${r.skipped.length} skipped${failed ? `, ${failed} failed` : ''})`,
    `macros: ${r.macros}`,
    `lists: ${r.lists}`,
    `event types: ${types.kind === 'only' ? `${types.names.size} ${formatTypeSet(types)}` : formatTypeSet(types)}`,
  ];
}

function validate(files: string[], quiet: boolean): number {
  const r = RuleEngine.validate(files);
  const out: string[] = [];
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  const warnings = r.diagnostics.filter((d) => d.severity === 'warning');
  if (!quiet && warnings.length) {
    out.push(`warnings (${warnings.length}):`);
    for (const w of warnings) out.push(`  ${formatDiagnostic(w)}`);
  }
  if (r.skipped.length) {
    out.push(`skipped rules (${r.skipped.length}):`);
    for (const s of r.skipped) out.push(`  ${formatPos(s.pos)}: rule '${s.name}': ${s.reason}`);
  }
  if (errors.length) {
    out.push(`errors (${errors.length}):`);
    for (const e of errors) out.push(`  ${formatDiagnostic(e)}`);
  }
  out.push(...summary(r));
  out.push(errors.length ? `FAILED: ${errors.length} error${errors.length === 1 ? '' : 's'}` : `OK: ${warnings.length} warning${warnings.length === 1 ? '' : 's'}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return errors.length ? 1 : 0;
}

export const command: Command = {
  name: 'rules',
  summary: 'Falco rules files: validate them (load, compile, report); add/delete/list in the running agent',
  usage,
  async run(argv: string[]): Promise<number> {
    const [sub, ...rest] = argv;
    if ((RULES_AGENT_SUBCOMMANDS as readonly (string | undefined)[]).includes(sub)) {
      return rulesAgentCommand(sub as (typeof RULES_AGENT_SUBCOMMANDS)[number], rest);
    }
    if (sub !== 'validate') {
      const all = ['validate', ...RULES_AGENT_SUBCOMMANDS].join(', ');
      throw new UsageError(sub ? `unknown subcommand "${sub}"; available: ${all}` : `missing subcommand; available: ${all}`);
    }
    let values: { quiet?: boolean };
    let positionals: string[];
    try {
      ({ values, positionals } = parseFlags({ args: rest, options: { quiet: { type: 'boolean' } }, strict: true, allowPositionals: true }));
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e));
    }
    if (positionals.length === 0) throw new UsageError('validate: at least one rules file is needed');
    return validate(positionals, !!values.quiet);
  },
};
