// vigil agent: runs the sensors, policies and rules of one configuration
// file until stopped, serving the local API (docs/agent.md).
import { existsSync } from 'node:fs';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { requireCapabilities } from '../privileges.js';
import { parseFlags } from '../flags.js';
import { Shutdown } from '../shutdown.js';
import { Agent } from '../../agent/agent.js';
import { AgentConfigError, DEFAULT_CONFIG_PATH, loadAgentConfig, parseAgentConfig, type AgentConfig } from '../../agent/config.js';
import { agentLogger, type AgentLogger } from '../../agent/log.js';
import { setSigningPolicy, trustedKeys } from '../../bpf/signing.js';
import { native } from '../../bpf/native.js';
import { ensureBpffs, ensureTracefs } from '../../bpf/mounts.js';
import { agentCapabilities, dropCapabilities, type CapabilityNeed } from '../../agent/capabilities.js';

const usage = `usage: vigil agent [--config FILE] [--check] [--require-signed | --allow-unsigned]

Runs until SIGINT or SIGTERM: the sensors, TracingPolicies and Falco rules
the configuration names, one event pipeline, and a local gRPC API on a unix
socket (root-only by default) that \`vigil events\`, \`vigil policy
add|delete|list|enable|disable\` and \`vigil rules add|delete|list\` use.
Health and readiness on http://ADDRESS/healthz and /readyz. SIGHUP reloads
the configuration (an invalid one is reported and the running one kept).
Its log is JSON lines on stderr. See docs/agent.md for every setting.

options:
  --config FILE   the configuration (default ${DEFAULT_CONFIG_PATH}; when that
                  file does not exist, the defaults)
  --check         check the configuration (file:line:col: field: reason for
                  each problem) and exit
  --require-signed
                  load only BPF objects with a valid signature by a trusted
                  key (the default; signing.require in the configuration)
  --allow-unsigned
                  load unsigned objects too (logged as a warning at every
                  start); a modified signed object is refused either way
  -h, --help`;

/**
 * Least privilege: down to the capabilities the configuration's features need (docs/agent.md,
 * "Capabilities"), by an exec of the same command line with the bounding set lowered; the exec'd
 * image comes back here, checks its sets and goes on. What needs more than that set at start only
 * (mounting tracefs and bpffs when missing) is done before.
 */
function leastPrivilege(config: AgentConfig, log: AgentLogger): void {
  if (!config.capabilities.drop) {
    log.warn({}, 'capabilities.drop is false: the agent keeps every capability it was started with');
    return;
  }
  const needs = agentCapabilities(config);
  const keep = needs.map((n) => n.cap);
  const why = Object.fromEntries(needs.map((n: CapabilityNeed) => [n.cap, n.why]));
  const outcome = dropCapabilities(keep, (mask, env) => {
    ensureTracefs();
    ensureBpffs();
    log.info({ keep }, 'capabilities: dropping all others (exec)');
    const envp = Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
    return native().execWithCapabilities(Number(mask & 0xffffffffn), Number(mask >> 32n), process.execPath,
      [process.execPath, ...process.execArgv, ...process.argv.slice(1)], envp);
  });
  if (outcome.state === 'cannot') {
    log.warn({ kept: outcome.kept, needed: keep, extra: outcome.extra },
      'capabilities: cannot drop the others without CAP_SETPCAP (a container\'s runtime fixes its bounding set: list only the needed ones there)');
    return;
  }
  log.info({ kept: outcome.kept, why, how: outcome.state === 'dropped' ? 'dropped the rest at start' : 'held no others' }, 'capabilities');
}

/**
 * The signature policy from the configuration, and the flags over it. Turning the requirement off is
 * said loudly, at every start and reload.
 */
function applySigning(config: AgentConfig, flags: { 'require-signed'?: boolean; 'allow-unsigned'?: boolean }, log: AgentLogger): void {
  const require = flags['allow-unsigned'] ? false : flags['require-signed'] ? true : config.signing.require;
  setSigningPolicy({ require, keyFiles: config.signing.keys });
  const keys = trustedKeys().keys.map((k) => `${k.id} ${k.file}`);
  if (require) log.info({ trustedKeys: keys }, 'BPF objects: only signed ones load');
  else {
    log.warn({ trustedKeys: keys, by: flags['allow-unsigned'] ? '--allow-unsigned' : `signing.require: false in ${config.file}` },
      'BPF objects: SIGNATURES NOT REQUIRED: unsigned objects will be loaded');
  }
}

function readConfig(file: string | undefined): AgentConfig {
  if (file !== undefined || existsSync(DEFAULT_CONFIG_PATH)) return loadAgentConfig(file ?? DEFAULT_CONFIG_PATH);
  return parseAgentConfig('<defaults>', '');
}

/** A SIGHUP: the file read again; a configuration that does not load leaves the running one. */
async function reload(agent: Agent, file: string | undefined, log: AgentLogger,
  flags: { 'require-signed'?: boolean; 'allow-unsigned'?: boolean }): Promise<void> {
  log.info({ config: file ?? DEFAULT_CONFIG_PATH }, 'SIGHUP: reloading the configuration');
  try {
    const config = readConfig(file);
    applySigning(config, flags, log);
    await agent.reload(config);
  } catch (e) {
    const problems = e instanceof AgentConfigError ? e.message.split('\n') : [(e as Error).message];
    log.error({ problems }, 'reload failed: the running configuration stays');
  }
}

export const command: Command = {
  name: 'agent',
  summary: 'the long-running agent: sensors, policies, rules from one config; a local gRPC API',
  usage,
  async run(argv: string[]): Promise<number> {
    const { values } = parseFlags({ args: argv, options: { config: { type: 'string' }, check: { type: 'boolean', default: false },
      'require-signed': { type: 'boolean' }, 'allow-unsigned': { type: 'boolean' } } });
    if (values['require-signed'] && values['allow-unsigned']) throw new UsageError('--require-signed and --allow-unsigned: give one');
    const config = readConfig(values.config);
    if (values.check) {
      process.stdout.write(`${config.file}: ok\n`);
      return 0;
    }
    // Flows and DNS attach to sockets and cgroups as observe's do: CAP_NET_ADMIN too.
    const network = config.sensors.includes('flow') || config.sensors.includes('dns');
    requireCapabilities('', network ? ['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN'] : ['CAP_BPF', 'CAP_PERFMON'], ['agent', ...argv]);
    const log = agentLogger(config.logLevel);
    leastPrivilege(config, log);
    // Shutdown's own messages ("stopping...") as log lines too.
    const stderr = { write: (s: string) => (log.info(String(s).trim().replace(/^vigil agent: /, '')), true) } as unknown as NodeJS.WritableStream;
    using shutdown = new Shutdown('agent', { stderr });
    // Listened for from the start (SIGHUP's default action ends a process): one that comes while
    // starting is applied once started.
    let agent: Agent | undefined;
    let pendingHup = false;
    const onHup = (): void => {
      if (agent) void reload(agent, values.config, log, values);
      else pendingHup = true;
    };
    process.on('SIGHUP', onHup);
    log.info({ config: config.file }, 'starting');
    applySigning(config, values, log);
    try {
      agent = await Agent.start(config, log);
    } catch (e) {
      process.off('SIGHUP', onHup);
      throw e;
    }
    if (pendingHup) onHup();
    const why = await shutdown.stopped;
    process.off('SIGHUP', onHup);
    log.info({ why }, 'stopping');
    await shutdown.close(() => agent!.close());
    log.info({}, 'stopped');
    return 0;
  },
};
