// The soak: one agent command under steady process and file churn for a
// long time (default one hour), its RSS and open descriptors sampled every
// interval. Both must stay flat: the report compares the first and the last
// quarter of the run (median RSS, and the descriptor count, which must not
// move at all).
//
//   node dist/bench/soak.js [--duration S] [--interval S] [--command observe|rules|policy]
//                           [--exec-rate N] [--open-rate N] [--vigil PATH]
//
// Each second: `--exec-rate` processes (bench/.output/execstorm, fork + exec
// /bin/true + exit) and `--open-rate` opens of one file (bench/.output/openstorm).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, agentCommands, execChurn, type MemorySample } from './agent.js';
import { count, markdownTable } from './table.js';
import { repoPath } from '../src/util/paths.js';
import { intFlag, runAsScript } from './script.js';

export interface SoakOptions {
  durationS: number;
  intervalS: number;
  command: 'observe' | 'rules' | 'policy';
  execRate: number;
  openRate: number;
  vigil?: string;
  log(m: string): void;
}

export interface SoakResult {
  command: string;
  samples: { atS: number; processes: number; sample: MemorySample }[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function openChurn(file: string, opens: number): Promise<void> {
  if (opens <= 0) return;
  const child = spawn(repoPath('bench', '.output', 'openstorm'), ['--path', file, '--count', String(opens), '--duration-ms', '1000'],
    { stdio: 'ignore' });
  await new Promise((r) => child.on('close', r));
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const keys = ['observe', 'rules', 'policy'] as const;
  const command = agentCommands()[keys.indexOf(o.command)]!;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-soak-'));
  const file = path.join(dir, 'churn');
  writeFileSync(file, 'soak\n');
  const agent = await Agent.start(command, { vigil: o.vigil, stdout: 'null' });
  const result: SoakResult = { command: command.name, samples: [] };
  let processes = 0;
  try {
    const t0 = Date.now();
    let nextSample = 0;
    while (Date.now() - t0 < o.durationS * 1000) {
      const second = Date.now();
      const [made] = await Promise.all([execChurn(o.execRate), openChurn(file, o.openRate)]);
      processes += made;
      const atS = (Date.now() - t0) / 1000;
      if (atS >= nextSample) {
        const s = agent.sample();
        if (!s) throw new Error(`${command.name} exited during the soak: ${agent.stderr.trim()}`);
        result.samples.push({ atS, processes, sample: s });
        o.log(`soak: ${atS.toFixed(0)} s, ${count(processes)} processes, RSS ${(s.rssKiB / 1024).toFixed(0)} MiB, ${s.fds} fds`);
        nextSample += o.intervalS;
      }
      await sleep(Math.max(0, 1000 - (Date.now() - second)));
    }
    const s = agent.sample();
    if (s) result.samples.push({ atS: (Date.now() - t0) / 1000, processes, sample: s });
    await agent.stop('SIGTERM');
  } finally {
    agent.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export function soakReport(r: SoakResult, o: SoakOptions): string {
  const q = Math.max(1, Math.floor(r.samples.length / 4));
  const first = r.samples.slice(0, q);
  const last = r.samples.slice(-q);
  const rssFirst = median(first.map((s) => s.sample.rssKiB)) / 1024;
  const rssLast = median(last.map((s) => s.sample.rssKiB)) / 1024;
  const fds = new Set(r.samples.map((s) => s.sample.fds));
  // At most ~24 rows: every k-th sample.
  const k = Math.max(1, Math.ceil(r.samples.length / 24));
  const rows = r.samples.filter((_, i) => i % k === 0 || i === r.samples.length - 1).map((s) => [
    s.atS.toFixed(0), count(s.processes), (s.sample.rssKiB / 1024).toFixed(0), (s.sample.anonKiB / 1024).toFixed(0), String(s.sample.fds),
  ]);
  return [
    `### Soak: ${r.command}, ${o.durationS} s of ${o.execRate} processes/s and ${o.openRate} opens/s`,
    '',
    markdownTable([{ title: 's' }, { title: 'processes' }, { title: 'RSS, MiB' }, { title: 'anon, MiB' }, { title: 'fds' }], rows),
    '',
    `Median RSS, first quarter ${rssFirst.toFixed(0)} MiB, last quarter ${rssLast.toFixed(0)} MiB (${(rssLast / rssFirst).toFixed(2)}x); ` +
    `open descriptors ${fds.size === 1 ? `constant (${[...fds][0]})` : `NOT constant (${[...fds].join(', ')})`}. ` +
    `Flat: ${rssLast / rssFirst <= 1.1 && fds.size === 1 ? 'yes' : 'NO'} (RSS within 10%, descriptors equal).`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '3600' },
      interval: { type: 'string', default: '30' },
      command: { type: 'string', default: 'observe' },
      'exec-rate': { type: 'string', default: '100' },
      'open-rate': { type: 'string', default: '2000' },
      vigil: { type: 'string' },
    },
  });
  if (!['observe', 'rules', 'policy'].includes(values.command)) {
    throw new Error(`--command: expected observe, rules or policy, got "${values.command}"`);
  }
  const o: SoakOptions = {
    durationS: intFlag('duration', values.duration, 10), intervalS: intFlag('interval', values.interval, 1),
    command: values.command as SoakOptions['command'], execRate: intFlag('exec-rate', values['exec-rate'], 0),
    openRate: intFlag('open-rate', values['open-rate'], 0), vigil: values.vigil,
    log: (m) => process.stderr.write(`bench: ${m}\n`),
  };
  process.stdout.write(soakReport(await runSoak(o), o));
}

runAsScript(import.meta, 'soak', main);
