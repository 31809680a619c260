// vigil: the command-line entry point.
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { NotSupportedError, SignatureError, VerifierError } from '../bpf/index.js';
import { effectiveCapabilities } from '../kernel/capabilities.js';
import { isPermissionError, missingCapabilities, PrivilegeError } from './privileges.js';
import { nodeCluster } from '../util/node.js';

/** The commands, in the order help lists them: each is ./commands/<name>.js, loaded when it runs. */
const COMMANDS: readonly string[] = [
  'features', 'observe', 'rules', 'run', 'profile', 'top', 'firewall', 'netpolicy', 'bandwidth', 'policy', 'agent', 'events',
  'query', 'servicemap', 'doctor', 'bpf', 'trace',
];

async function loadCommand(name: string): Promise<Command> {
  return ((await import(`./commands/${name}.js`)) as { command: Command }).command;
}

function help(): string {
  return [
    'usage: vigil <command> [options]',
    '',
    'commands:',
    '  features   what the running kernel offers to eBPF, probed for real',
    '  observe    stream events from the kernel (process executions, ...)',
    '  rules      Falco rules files: validate FILE... (load, compile, report); add, delete, list in the agent',
    '  run        evaluate Falco rules live (--rules FILE|DIR): alerts as Falco writes them',
    '  profile    CPU profiles (on- or off-CPU): flame graphs, folded stacks, pprof',
    '  top        per-process syscall and file activity, refreshed like top',
    '  firewall   XDP firewall: block/allow CIDRs, per-source rate limit, drop counters',
    '  netpolicy  per-cgroup network policy (connect/sendmsg/packets), denials as flows',
    '  bandwidth  egress rate limits per cgroup or container (TC + EDT, fq), per-class counters',
    '  policy     TracingPolicies (Tetragon format): validate FILE..., compat DIR; add, delete, list, enable, disable in the agent',
    '  agent      the long-running agent: sensors, policies, rules from one config; a local gRPC API',
    '  events     stream events from the running agent (observe\'s filters and outputs, --last, --since)',
    '  query      SQL over the agent\'s embedded store, and built-in queries (--list)',
    '  servicemap who calls whom (HTTP, gRPC, Redis, PostgreSQL, MySQL, Kafka): rates, errors, p50/p99; JSON or DOT',
    '  doctor     the host\'s eBPF hardening: each setting, what it means, what is recommended',
    '  bpf        what is loaded on this host: ls every BPF program, map and link, who holds it, what it costs',
    '  trace      compile and run a BPF C script (bcc-style, CO-RE), printing its maps',
    '',
    'Run `vigil <command> --help` for its options.',
  ].join('\n');
}

function isParseArgsError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

const debug = (): boolean => !!process.env.VIGIL_DEBUG && process.env.VIGIL_DEBUG !== '0';

function firstLine(s: string): string {
  return s.split('\n')[0]!;
}

/** With VIGIL_DEBUG=1, the stack (and causes) behind a one-line error. */
function debugStack(e: unknown): void {
  if (!debug()) return;
  for (let c: unknown = e; c instanceof Error; c = c.cause) process.stderr.write(`${c.stack ?? String(c)}\n`);
}

/**
 * One line for any error, with the exit status: 2 usage, 3 not supported by
 * this kernel, 4 missing privileges, 1 anything else. Never a stack trace
 * (VIGIL_DEBUG=1 adds it).
 */
export function report(name: string, e: unknown): number {
  const say = (s: string): void => { process.stderr.write(`vigil ${name}: ${s}\n`); };
  debugStack(e);
  if (e instanceof UsageError || isParseArgsError(e)) {
    say(firstLine((e as Error).message));
    return 2;
  }
  // The agent's errors (src/agent: not imported here, it loads gRPC): every line, since a policy
  // or configuration that did not load names each problem as file:line:col.
  if (e instanceof Error && (e.name === 'AgentCallError' || e.name === 'AgentConfigError')) {
    for (const line of e.message.split('\n')) say(line);
    return (e as { code?: unknown }).code === 'denied' ? 4 : 1;
  }
  if (e instanceof PrivilegeError) {
    say(e.message);
    return 4;
  }
  if (e instanceof NotSupportedError) {
    say(e.message);
    return 3;
  }
  if (e instanceof SignatureError) {
    say(e.message);
    return 1;
  }
  if (e instanceof VerifierError) {
    say(e.message);
    process.stderr.write(`--- verifier log ---\n${e.log}\n`);
    return 1;
  }
  const message = e instanceof Error ? firstLine(e.message) : String(e);
  if (isPermissionError(e)) {
    const caps = effectiveCapabilities();
    const missing = caps === undefined ? [] : missingCapabilities(['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN'], caps);
    say(missing.length
      ? `${message}: permission denied; this needs ${missing.join(', ')}: run it as root (see README, Privileges)`
      : `${message}: permission denied by the kernel although privileged (lockdown or an LSM may refuse it)`);
    return 4;
  }
  say(`${message}${debug() ? '' : ' (VIGIL_DEBUG=1 shows where)'}`);
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(help() + '\n');
    return name ? 0 : 2;
  }
  if (!COMMANDS.includes(name)) {
    process.stderr.write(`vigil: unknown command "${name}"; commands: ${COMMANDS.join(', ')} (vigil --help)\n`);
    return 2;
  }
  // An error thrown later from a callback (a reader, a timer) is reported as one line too.
  // A reader of stdout that went away (`| head`) is the end of the output, not an error.
  const late = (e: unknown): void => {
    process.exitCode = (e as { code?: unknown } | null)?.code === 'EPIPE' ? 0 : report(name, e);
    process.exit();
  };
  process.on('uncaughtException', late);
  process.on('unhandledRejection', late);
  const cmd = await loadCommand(name);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.usage + '\n');
    return 0;
  }
  try {
    nodeCluster();
  } catch (e) {
    process.stderr.write(`vigil: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    return report(name, e);
  }
}
