// vigil: the command-line entry point.
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { NotSupportedError, VerifierError } from '../bpf/index.js';

type Loader = () => Promise<Command>;

const commands: Record<string, Loader> = {
  features: async () => (await import('./commands/features.js')).command,
  observe: async () => (await import('./commands/observe.js')).command,
  rules: async () => (await import('./commands/rules.js')).command,
  run: async () => (await import('./commands/run.js')).command,
  profile: async () => (await import('./commands/profile.js')).command,
  top: async () => (await import('./commands/top.js')).command,
  firewall: async () => (await import('./commands/firewall.js')).command,
  netpolicy: async () => (await import('./commands/netpolicy.js')).command,
  policy: async () => (await import('./commands/policy.js')).command,
};

function help(): string {
  return [
    'usage: vigil <command> [options]',
    '',
    'commands:',
    '  features   what the running kernel offers to eBPF, probed for real',
    '  observe    stream events from the kernel (process executions, ...)',
    '  rules      Falco rules files: validate FILE... (load, compile, report)',
    '  run        evaluate Falco rules live (--rules FILE|DIR): alerts as Falco writes them',
    '  profile    CPU profiles (on- or off-CPU): flame graphs, folded stacks, pprof',
    '  top        per-process syscall and file activity, refreshed like top',
    '  firewall   XDP firewall: block/allow CIDRs, per-source rate limit, drop counters',
    '  netpolicy  per-cgroup network policy (connect/sendmsg/packets), denials as flows',
    '  policy     TracingPolicies (Tetragon format): validate FILE..., list, compat DIR',
    '',
    'Run `vigil <command> --help` for its options.',
  ].join('\n');
}

function isParseArgsError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(help() + '\n');
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`vigil: unknown command "${name}"\n${help()}\n`);
    return 2;
  }
  const cmd = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.usage + '\n');
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    // node:util parseArgs refuses unknown or malformed flags with ERR_PARSE_ARGS_*: a usage error
    // whichever subcommand parsed them.
    if (e instanceof UsageError || isParseArgsError(e)) {
      process.stderr.write(`vigil ${name}: ${(e as Error).message}\n`);
      return 2;
    }
    if (e instanceof NotSupportedError) {
      process.stderr.write(`vigil ${name}: ${e.message}\n`);
      return 3;
    }
    if (e instanceof VerifierError) {
      process.stderr.write(`vigil ${name}: ${e.message}\n--- verifier log ---\n${e.log}\n`);
      return 1;
    }
    throw e;
  }
}
