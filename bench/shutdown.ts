// Shutdown time per command: from the signal to the process being reaped
// (Node's 'exit' event on the child fires once waitpid has reaped it), for
// the agent commands (bench/agent.ts), `observe` with each sensor set, every
// `top` view and `profile` (on- and off-CPU: its time includes writing the profile).
// Goal (issue 11): under 500 ms; `--duration N` takes N s, not N + 4.
//
//   node dist/bench/shutdown.js [--repeat N] [--vigil PATH] [--only TEXT]   (commands whose name has TEXT)
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { Agent, agentCommands, type AgentCommand } from './agent.js';
import { markdownTable } from './table.js';
import { repoPath } from '../src/util/paths.js';
import { runAsScript } from './script.js';

export const SHUTDOWN_GOAL_MS = 500;

export interface ShutdownRun {
  command: AgentCommand;
  /** ms from SIGTERM to reaped, each run. */
  sigterm: number[];
  /** ms from SIGTERM + SIGINT to reaped, each run. */
  double: number[];
}

export function shutdownCommands(): AgentCommand[] {
  return [
    { name: 'observe (exec, exit, file)', args: ['observe'] },
    ...agentCommands(),
    { name: 'observe --sensors flow,dns', args: ['observe', '--sensors', 'flow,dns'] },
    { name: 'observe --sensors exec,flow', args: ['observe', '--sensors', 'exec,flow'] },
    { name: 'top syscalls', args: ['top', 'syscalls', '--output', 'json'] },
    { name: 'top files', args: ['top', 'files', '--output', 'json'] },
    { name: 'top tcp', args: ['top', 'tcp', '--output', 'json'] },
    { name: 'profile (folded)', args: ['profile', '--duration', '600', '-o', '/dev/null'] },
    { name: 'profile --off-cpu', args: ['profile', '--off-cpu', '--duration', '600', '-o', '/dev/null'] },
  ];
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export async function runShutdownBench(commands: AgentCommand[], o: { repeat: number; vigil?: string; log(m: string): void }):
  Promise<ShutdownRun[]> {
  const runs: ShutdownRun[] = [];
  for (const command of commands) {
    const run: ShutdownRun = { command, sigterm: [], double: [] };
    for (let i = 0; i < o.repeat; i++) {
      for (const mode of ['sigterm', 'double'] as const) {
        const agent = await Agent.start(command, { vigil: o.vigil, stdout: 'null' });
        try {
          await new Promise((r) => setTimeout(r, 500));
          const r = mode === 'sigterm' ? await agent.stop('SIGTERM') : await agent.stop('SIGTERM', { second: 'SIGINT' });
          run[mode].push(r.ms);
          o.log(`shutdown: ${command.name}, ${mode}: ${r.ms.toFixed(0)} ms (status ${r.code ?? r.signal})`);
        } finally {
          agent.kill();
        }
      }
    }
    runs.push(run);
  }
  return runs;
}

/** Wall time of `vigil observe --duration S` after it said it was attached: S plus the time to stop. */
export async function durationOverrun(seconds: number, vigil?: string): Promise<number> {
  const child = spawn(vigil ?? repoPath('bin', 'vigil'), ['observe', '--duration', String(seconds)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let attachedAt: number | undefined;
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    err += s;
    if (attachedAt === undefined && err.includes('Ctrl-C to stop')) attachedAt = performance.now();
  });
  await new Promise((r) => child.on('exit', r));
  if (attachedAt === undefined) throw new Error(`observe --duration ${seconds} never attached: ${err.trim()}`);
  return performance.now() - attachedAt - seconds * 1000;
}

export function shutdownBenchReport(runs: ShutdownRun[], overrunMs?: number): string {
  const fmt = (xs: number[]): string => `${median(xs).toFixed(0)} (${xs.map((x) => x.toFixed(0)).join(', ')})`;
  return [
    '### Shutdown: signal to reaped',
    '',
    `ms from SIGTERM (and from SIGTERM followed at once by SIGINT: the second signal exits at once) until the ` +
    `process was reaped; median (each run). Goal: under ${SHUTDOWN_GOAL_MS} ms.`,
    '',
    markdownTable([
      { title: 'command', align: 'left' }, { title: 'SIGTERM, ms' }, { title: 'two signals, ms' }, { title: 'goal met' },
    ], runs.map((r) => [r.command.name, fmt(r.sigterm), fmt(r.double),
      Math.max(median(r.sigterm), median(r.double)) < SHUTDOWN_GOAL_MS ? 'yes' : 'NO'])),
    '',
    ...(overrunMs !== undefined ? [`\`observe --duration 2\` ended ${overrunMs.toFixed(0)} ms after its 2 s (from "attached" to reaped).`, ''] : []),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { repeat: { type: 'string', default: '3' }, vigil: { type: 'string' }, only: { type: 'string' } },
  });
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20) throw new Error('--repeat: expected an integer in 1..20');
  const log = (m: string): void => void process.stderr.write(`bench: ${m}\n`);
  const only = values.only;
  const commands = shutdownCommands().filter((c) => only === undefined || c.name.includes(only));
  if (!commands.length) throw new Error(`--only: no command named like "${only}"`);
  const runs = await runShutdownBench(commands, { repeat, vigil: values.vigil, log });
  process.stdout.write(shutdownBenchReport(runs, only === undefined ? await durationOverrun(2, values.vigil) : undefined));
}

runAsScript(import.meta, 'shutdown', main);
