// What `vigil agent` costs with everything on: every sensor (exec, exit,
// fork, file, flow, dns), the built-in policies (policies/), the Falco rules
// (../shared's stable rules, or the tests' small file on a plain clone), the
// Prometheus endpoint with BPF statistics, scraped every 15 s as Prometheus
// would. Two phases of the same agent: idle, then under bench/.output/execstorm
// (fork, exec /bin/true, exit, wait, as fast as it goes, pinned to the last
// CPU; the agent is not pinned). For each: the agent's CPU (user + system,
// /proc/PID/stat) as a percentage of one CPU, its RSS (sampled every 500 ms:
// median and peak), the events it released and lost (from its own metrics).
//
//   node dist/bench/agent-cost.js [--idle S] [--storm S] [--vigil PATH]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { repoPath } from '../src/util/paths.js';
import { Agent, cpuSeconds, falcoRules, waitedSeconds } from './agent.js';
import { freePort } from '../src/util/net.js';
import { count, markdownTable } from './table.js';
import { runAsScript } from './script.js';

export interface PhaseResult {
  name: string;
  seconds: number;
  /** Percent of one CPU. */
  cpuPercent: number;
  /** Seconds its threads waited for a CPU (run queue): much of it means the host, not the agent, set the pace. */
  waitedS: number;
  /** The host's 1-minute load average at the end of the phase. */
  load: number;
  rssMedianMiB: number;
  rssPeakMiB: number;
  events: number;
  lost: number;
  /** The losses by sensor and reason. */
  lostBy: string;
  /** Processes the storm made (0 idle). */
  execs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


/** A metric's samples on the agent's endpoint, by their labels as printed. */
async function metricSamples(port: number, name: string): Promise<Map<string, number>> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  return new Map([...text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm'))].map((m) => [m[1] ?? '', Number(m[2])]));
}

/** The sum of a metric's samples. */
async function metricSum(port: number, name: string): Promise<number> {
  return [...(await metricSamples(port, name)).values()].reduce((a, b) => a + b, 0);
}

/** What moved between two readings of vigil_events_lost_total: "sensor reason N" for each. */
function lostBy(before: Map<string, number>, after: Map<string, number>): string {
  return [...after].map(([labels, v]) => [labels, v - (before.get(labels) ?? 0)] as const).filter(([, d]) => d > 0)
    .map(([labels, d]) => `${/sensor="([^"]*)"/.exec(labels)?.[1]} ${/reason="([^"]*)"/.exec(labels)?.[1]} ${count(d)}`).join(', ');
}

/** Runs bench/.output/execstorm for `seconds` pinned to `cpu`; the processes it made. */
async function storm(seconds: number, cpu: number): Promise<number> {
  const child = spawn(repoPath('bench', '.output', 'execstorm'),
    ['--count', '10000000', '--duration-ms', String(seconds * 1000), '--cpu', String(cpu)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  const code = await new Promise<number | null>((r) => child.on('close', r));
  const n = Number(/iterations=(\d+)/.exec(out)?.[1] ?? NaN);
  if (code !== 0 || !Number.isFinite(n)) throw new Error(`execstorm failed (exit ${code}): ${out.trim()}`);
  return n;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

export async function runAgentCost(o: { idleS: number; stormS: number; vigil?: string; log(m: string): void }): Promise<{ results: PhaseResult[]; rules: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-agent-cost-'));
  const port = await freePort();
  const rules = falcoRules();
  const config = path.join(dir, 'agent.yaml');
  writeFileSync(config, [
    `api: {socket: ${path.join(dir, 'vigil.sock')}}`,
    'health: {address: "off"}',
    `state: {directory: ${path.join(dir, 'state')}}`,
    'sensors: [exec, exit, fork, file, flow, dns]',
    `policies: [${repoPath('policies')}]`,
    `rules: [${rules}]`,
    `metrics: {address: "127.0.0.1:${port}", bpfStats: true}`,
    '',
  ].join('\n'));
  const agent = await Agent.start({ name: 'agent', args: ['agent', '--config', config] },
    { vigil: o.vigil, ready: /"msg":"ready"/, readyTimeoutMs: 180_000 });
  const results: PhaseResult[] = [];
  try {
    o.log('agent ready; 10 s for start-up work to settle');
    await sleep(10_000);
    const stormCpu = os.cpus().length - 1;
    for (const phase of [{ name: 'idle', seconds: o.idleS }, { name: 'exec storm', seconds: o.stormS }]) {
      o.log(`${phase.name}: ${phase.seconds} s`);
      const rss: number[] = [];
      const poll = setInterval(() => {
        const s = agent.sample();
        if (s) rss.push(s.rssKiB);
      }, 500);
      // Scraped as Prometheus does (every 15 s): part of what the agent does.
      const scrape = setInterval(() => void metricSum(port, 'vigil_events_total').catch(() => undefined), 15_000);
      const events0 = await metricSum(port, 'vigil_events_total');
      const lost0 = await metricSamples(port, 'vigil_events_lost_total');
      const cpu0 = cpuSeconds(agent.pid)!;
      const wait0 = waitedSeconds(agent.pid)!;
      const t0 = performance.now();
      let execs = 0;
      try {
        if (phase.name === 'idle') await sleep(phase.seconds * 1000);
        else execs = await storm(phase.seconds, stormCpu);
      } finally {
        clearInterval(poll);
        clearInterval(scrape);
      }
      const cpu1 = cpuSeconds(agent.pid);
      const wait1 = waitedSeconds(agent.pid) ?? wait0;
      const load = os.loadavg()[0]!;
      const elapsed = (performance.now() - t0) / 1000;
      if (cpu1 === undefined) throw new Error(`the agent exited during the ${phase.name} phase: ${agent.stderr.slice(-2000)}`);
      // What the rings held at the end reaches the metrics within the pipeline's next cycles.
      await sleep(1000);
      const lost1 = await metricSamples(port, 'vigil_events_lost_total');
      const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
      results.push({
        name: phase.name, seconds: elapsed, cpuPercent: ((cpu1 - cpu0) / elapsed) * 100, waitedS: wait1 - wait0, load,
        rssMedianMiB: median(rss) / 1024, rssPeakMiB: Math.max(...rss) / 1024,
        events: (await metricSum(port, 'vigil_events_total')) - events0, lost: sum(lost1) - sum(lost0), lostBy: lostBy(lost0, lost1), execs,
      });
    }
    const stop = await agent.stop('SIGTERM');
    if (stop.code !== 0) throw new Error(`the agent stopped with status ${stop.code}: ${agent.stderr.slice(-2000)}`);
  } finally {
    agent.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  return { results, rules };
}

export function agentCostReport(r: { results: PhaseResult[]; rules: string }): string {
  return [
    '### vigil agent with everything on: CPU and memory',
    '',
    `Sensors exec, exit, fork, file, flow, dns; the built-in policies; the rules of \`${path.relative(repoPath(), r.rules)}\`; ` +
    'Prometheus with BPF statistics, scraped every 15 s. CPU: user + system time over the phase, percent of one CPU; ' +
    'waited for CPU: its threads\' time on a run queue (/proc/PID/task/*/schedstat), high when the host, not the agent, set the pace; ' +
    'load: the host\'s 1-minute load average at the end of the phase. ' +
    'RSS: sampled every 500 ms. Events and losses: the agent\'s own vigil_events_total and vigil_events_lost_total.',
    '',
    markdownTable([
      { title: 'phase', align: 'left' }, { title: 'seconds' }, { title: 'load (1 min)' }, { title: 'CPU %' }, { title: 'waited for CPU s' }, { title: 'RSS median MiB' }, { title: 'RSS peak MiB' },
      { title: 'processes made' }, { title: 'events' }, { title: 'lost' }, { title: 'lost by sensor and reason', align: 'left' },
    ], r.results.map((p) => [
      p.name, p.seconds.toFixed(0), p.load.toFixed(1), p.cpuPercent.toFixed(1), p.waitedS.toFixed(1), p.rssMedianMiB.toFixed(0), p.rssPeakMiB.toFixed(0),
      p.execs ? `${count(p.execs)} (${count(Math.round(p.execs / p.seconds))}/s)` : '-', count(p.events), count(p.lost), p.lostBy || '-',
    ])),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { idle: { type: 'string', default: '60' }, storm: { type: 'string', default: '60' }, vigil: { type: 'string' } } });
  const secs = (name: string, v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected whole seconds >= 1, got "${v}"`);
    return n;
  };
  const r = await runAgentCost({
    idleS: secs('idle', values.idle), stormS: secs('storm', values.storm), vigil: values.vigil,
    log: (m) => process.stderr.write(`bench: agent: ${m}\n`),
  });
  process.stdout.write(agentCostReport(r));
}

runAsScript(import.meta, 'agent-cost', main);
