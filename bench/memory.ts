// Memory against processes created: each agent command (bench/agent.ts) runs
// while bench/.output/execstorm spawns short-lived processes (fork, exec
// /bin/true, exit, wait: each one an exec, a fork, an exit and the loader's
// file opens for the agent), its RSS and descriptors sampled after every
// step; then the churn stops and the agent idles for `settleS` seconds.
//
// The goals (issue 11): RSS under 200 MiB throughout 100,000 processes, and
// `settleS` (60) seconds after the churn within 1.5x of the RSS at start-up.
//
//   node dist/bench/memory.js [--processes N] [--step N] [--settle S] [--only observe,rules,policy] [--vigil PATH]
import { parseArgs } from 'node:util';
import { Agent, agentCommands, execChurn, type AgentCommand, type MemorySample } from './agent.js';
import { count, markdownTable } from './table.js';
import { intFlag, runAsScript } from './script.js';

export interface MemoryRunOptions {
  processes: number;
  step: number;
  settleS: number;
  /** Another build's bin/vigil, to compare (the "before" of a change). */
  vigil?: string;
  /** The CPU the churn is pinned to. */
  cpu?: number;
  log(msg: string): void;
}

export interface MemoryRun {
  command: AgentCommand;
  start: MemorySample;
  /** [processes created so far, sample] after each step. */
  steps: [number, MemorySample][];
  peakKiB: number;
  settled: MemorySample;
  shutdownMs: number;
  exitCode: number | null;
}

export const RSS_GOAL_MIB = 200;
export const SETTLED_GOAL_RATIO = 1.5;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runMemoryBench(commands: AgentCommand[], o: MemoryRunOptions): Promise<MemoryRun[]> {
  const runs: MemoryRun[] = [];
  for (const command of commands) {
    o.log(`memory: ${command.name}: ${count(o.processes)} processes`);
    const agent = await Agent.start(command, { vigil: o.vigil, stdout: 'null' });
    try {
      await sleep(2000); // start-up work (the /proc snapshot, first GCs) settles
      const start = must(agent.sample(), command);
      let peak = start.rssKiB;
      const steps: [number, MemorySample][] = [];
      // Sampled every 250 ms during the churn too: the peak, not only the step ends.
      const poll = setInterval(() => {
        const s = agent.sample();
        if (s) peak = Math.max(peak, s.rssKiB);
      }, 250);
      let made = 0;
      try {
        while (made < o.processes) {
          made += await execChurn(Math.min(o.step, o.processes - made), o.cpu);
          const s = must(agent.sample(), command);
          peak = Math.max(peak, s.rssKiB);
          steps.push([made, s]);
          o.log(`memory: ${command.name}: ${count(made)} processes, RSS ${mib(s.rssKiB)} MiB, ${s.fds} fds`);
        }
        await sleep(o.settleS * 1000);
      } finally {
        clearInterval(poll);
      }
      const settled = must(agent.sample(), command);
      const stop = await agent.stop('SIGTERM');
      runs.push({ command, start, steps, peakKiB: peak, settled, shutdownMs: stop.ms, exitCode: stop.code });
    } finally {
      agent.kill();
    }
  }
  return runs;
}

function must(s: MemorySample | undefined, c: AgentCommand): MemorySample {
  if (!s) throw new Error(`${c.name}: the agent exited during the run`);
  return s;
}

const mib = (kib: number): string => (kib / 1024).toFixed(0);

export function memoryBenchReport(runs: MemoryRun[], o: Pick<MemoryRunOptions, 'processes' | 'settleS'>): string {
  const stepCounts = runs[0]?.steps.map(([n]) => n) ?? [];
  const rows = runs.map((r) => {
    const ratio = r.settled.rssKiB / r.start.rssKiB;
    const ok = r.peakKiB / 1024 < RSS_GOAL_MIB && ratio <= SETTLED_GOAL_RATIO;
    return [
      r.command.name, mib(r.start.rssKiB), ...r.steps.map(([, s]) => mib(s.rssKiB)), mib(r.peakKiB), mib(r.settled.rssKiB),
      `${ratio.toFixed(2)}x`, `${r.start.fds} / ${r.settled.fds}`, ok ? 'yes' : 'NO',
    ];
  });
  return [
    `### Memory against processes created (${count(o.processes)} short-lived processes)`,
    '',
    `RSS in MiB after each step of \`bench/.output/execstorm\` (fork, exec /bin/true, exit), the peak (sampled every ` +
    `250 ms), and ${o.settleS} s after the churn stopped. Goals: peak under ${RSS_GOAL_MIB} MiB, settled within ` +
    `${SETTLED_GOAL_RATIO}x of start-up. fds: open descriptors at start and settled (must be equal). Output goes to ` +
    '/dev/null (JSON): the reader never holds the agent back here; a slow reader is the output queues\' matter.',
    '',
    markdownTable([
      { title: 'command', align: 'left' }, { title: 'start' }, ...stepCounts.map((n) => ({ title: count(n) })),
      { title: 'peak' }, { title: `+${o.settleS} s` }, { title: 'settled/start' }, { title: 'fds' }, { title: 'goals met' },
    ], rows),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      processes: { type: 'string', default: '100000' },
      step: { type: 'string', default: '10000' },
      settle: { type: 'string', default: '60' },
      only: { type: 'string' },
      vigil: { type: 'string' },
      cpu: { type: 'string' },
    },
  });
  const keys = ['observe', 'rules', 'policy'];
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean) ?? keys;
  for (const k of only) if (!keys.includes(k)) throw new Error(`--only: unknown command "${k}"; available: ${keys.join(', ')}`);
  const commands = agentCommands().filter((_, i) => only.includes(keys[i]!));
  const o: MemoryRunOptions = {
    processes: intFlag('processes', values.processes, 1), step: intFlag('step', values.step, 1), settleS: intFlag('settle', values.settle, 0),
    vigil: values.vigil, cpu: values.cpu !== undefined ? intFlag('cpu', values.cpu, 0) : undefined,
    log: (m) => process.stderr.write(`bench: ${m}\n`),
  };
  process.stdout.write(memoryBenchReport(await runMemoryBench(commands, o), o));
}

runAsScript(import.meta, 'memory', main);
