// Metrics and OpenTelemetry export, end to end: a real Prometheus server
// (Debian's package) scrapes `vigil observe --metrics` on loopback and is
// queried through its HTTP API; `vigil observe --otlp` and `vigil run --otlp`
// send to a receiver on loopback, whose requests are decoded with the OTLP
// protobuf definitions (opentelemetry-proto, as generated into
// @opentelemetry/otlp-transformer 0.212's root, installed as otlp-proto-root).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { requireRoot, missingFeature, waitFor } from './helpers.js';
import { runVigil } from './observe-util.js';
import { TestAgent } from './agent-util.js';
import { freePort } from '../src/util/net.js';
import { repoPath } from '../src/util/paths.js';

const unsupported = (): Promise<string | undefined> => missingFeature(['tracepoint', 'raw_tracepoint'], ['bpf_loop']);
const PROMETHEUS = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => spawnSync(p, ['--version']).status === 0);

import { LOGS, METRICS, decode, receiver } from './otlp-receiver.js';


/**
 * The test's own binary, below /tmp so that the built-in exec-from-tmp policy matches it, and a
 * rules file whose one CRITICAL rule alerts on its exec.
 */
function ownProbe(prefix: string, rule: string): { name: string; own: ReturnType<typeof ownBinary>; rules: string } {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  const own = ownBinary(name);
  const rules = path.join(own.dir, 'rules.yaml');
  writeFileSync(rules, `- rule: ${rule}\n  desc: the test's binary\n  condition: evt.type = execve and proc.name = ${name}\n` +
    '  output: "probe ran (proc=%proc.name)"\n  priority: CRITICAL\n');
  return { name, own, rules };
}

/** One sample of vigil's endpoint on `port`, by name and labels as printed; undefined when absent. */
async function scrape(port: number, series: string): Promise<number | undefined> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => '');
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A copy of /bin/true in a directory of its own, so --binary DIR/ sees only what the test runs. */
function ownBinary(name = 'probe'): { dir: string; bin: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-telemetry-'));
  const bin = path.join(dir, name);
  copyFileSync(realpathSync('/bin/true'), bin);
  chmodSync(bin, 0o755);
  return { dir, bin };
}

/** An attribute list (OTLP KeyValue[]) as a plain object of its values. */
function attrs(list: { key: string; value: Record<string, unknown> }[] = []): Record<string, unknown> {
  return Object.fromEntries(list.map((kv) => [kv.key, Object.values(kv.value)[0]]));
}

describe('Prometheus scrapes vigil observe --metrics and vigil agent', () => {
  before(requireRoot);

  test('events by kind, ring fill, BPF program runs and the process metrics, queried from Prometheus', async (t) => {
    const why = await unsupported();
    if (why) return t.skip(why);
    const own = ownBinary();
    const metricsPort = await freePort();
    try {
      const run = await runVigil(['observe', '--sensors', 'exec,exit', '--binary', `${own.dir}/`, '--output', 'json',
        '--metrics', `127.0.0.1:${metricsPort}`, '--bpf-stats', '--duration', '60'], async (vigil) => {
        await withPrometheus(metricsPort, async ({ query, settled }) => {
          for (let i = 0; i < 3; i++) assert.equal(spawnSync(own.bin).status, 0);
          assert.equal(await settled('up{job="vigil"}', (v) => v === 1), 1, 'Prometheus scraped the endpoint');
          assert.equal(await settled('vigil_events_total{kind="exec"}', (v) => v === 3), 3, 'the three execs, counted by kind');
          assert.equal(await settled('vigil_events_total{kind="exit"}', (v) => v === 3), 3);
          assert.equal(await query('vigil_bpf_stats_enabled'), 1);
          const runs = await settled('sum(vigil_bpf_program_runs_total{program="handle_exec"})', (v) => v >= 3);
          assert.ok(runs !== undefined && runs >= 3, `handle_exec ran at least 3 times (${runs})`);
          assert.ok((await query('sum(vigil_ringbuf_size_bytes)'))! > 0, 'ring buffer capacity is reported');
          assert.ok((await query('vigil_process_resident_memory_bytes'))! > 1 << 20, 'the agent\'s memory');
          assert.ok((await query('vigil_process_cpu_seconds_total'))! > 0, 'the agent\'s CPU time');
          assert.ok((await query('vigil_process_cache_entries{state="live"}'))! > 0, 'the process cache');
        });
        vigil.child.kill('SIGTERM');
      }, { timeoutMs: 90_000 });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.split('\n').filter((l) => l.includes('"process_exec"')).length, 3);
    } finally {
      rmSync(own.dir, { recursive: true, force: true });
    }
  });

  test('vigil agent: its policies\' matches and its alerts, queried from Prometheus', async (t) => {
    const why = await unsupported();
    if (why) return t.skip(why);
    const { own, rules } = ownProbe('vp', 'Own scraped probe');
    const metricsPort = await freePort();
    const agent = await TestAgent.start([
      'sensors: [exec, exit]',
      `policies: [${repoPath('policies', 'exec-from-tmp.yaml')}]`,
      `rules: [${rules}]`,
      `metrics: {address: "127.0.0.1:${metricsPort}"}`, '',
    ].join('\n'));
    try {
      await withPrometheus(metricsPort, async ({ settled }) => {
        assert.equal(await settled('up{job="vigil"}', (v) => v === 1), 1, 'Prometheus scraped the agent');
        const before = (await settled('sum(vigil_policy_matches_total{policy="exec-from-tmp"}) or vector(0)', () => true)) ?? 0;
        for (let i = 0; i < 3; i++) assert.equal(spawnSync(own.bin).status, 0);
        const matches = await settled('sum(vigil_policy_matches_total{policy="exec-from-tmp"})', (v) => v >= before + 3);
        assert.ok(matches !== undefined && matches >= before + 3, `the policy matched the 3 execs (${before} -> ${matches})`);
        const alerts = await settled('vigil_alerts_total{rule="Own scraped probe",priority="critical"}', (v) => v >= 1);
        assert.ok(alerts !== undefined && alerts >= 1 && alerts <= 3, `the rule's alerts (${alerts})`);
        assert.ok(((await settled('vigil_process_resident_memory_bytes', (v) => v > 0)) ?? 0) > 1 << 20, 'the agent\'s memory');
      });
    } finally {
      await agent.stop();
      rmSync(own.dir, { recursive: true, force: true });
    }
    assert.equal(agent.exited, 0, JSON.stringify(agent.log.slice(-5)));
  });
});

/**
 * A real Prometheus (Debian's) scraping vigil's endpoint on metricsPort every second, for the body:
 * query() an instant query's one sample (undefined while there is none), settled() the same once
 * ok() holds (bounded: a loaded machine takes a while to start Prometheus).
 */
async function withPrometheus(metricsPort: number, body: (p: {
  query(q: string): Promise<number | undefined>;
  settled(q: string, ok: (v: number) => boolean): Promise<number | undefined>;
}) => Promise<void>): Promise<void> {
  // Not a kernel feature: setup (npm test's pretest) installs Debian's prometheus, so its absence is a failure.
  assert.ok(PROMETHEUS, 'prometheus is not installed (Debian package "prometheus"; scripts/setup.sh installs it)');
  const promPort = await freePort();
  const promDir = mkdtempSync(path.join(os.tmpdir(), 'vigil-prometheus-'));
  writeFileSync(path.join(promDir, 'prometheus.yml'), [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    'scrape_configs:',
    `  - { job_name: vigil, static_configs: [{ targets: ['127.0.0.1:${metricsPort}'] }] }`,
  ].join('\n'));
  const api = `http://127.0.0.1:${promPort}/api/v1`;
  const query = async (q: string): Promise<number | undefined> => {
    const r = await fetch(`${api}/query?query=${encodeURIComponent(q)}`).then((res) => res.json()).catch(() => undefined) as any;
    const v = r?.data?.result?.[0]?.value?.[1];
    return v === undefined ? undefined : Number(v);
  };
  const settled = async (q: string, ok: (v: number) => boolean): Promise<number | undefined> => {
    let v: number | undefined;
    await waitFor(async () => (v = await query(q)) !== undefined && ok(v), 30_000, 500);
    return v;
  };
  const prom = spawn(PROMETHEUS, [`--config.file=${path.join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(promDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
  try {
    await body({ query, settled });
  } finally {
    prom.kill('SIGKILL');
    rmSync(promDir, { recursive: true, force: true });
  }
}

describe('a --metrics address that is taken', () => {
  before(requireRoot);

  test('one line naming it, status 1, before anything is loaded', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const addr = `127.0.0.1:${(busy.address() as AddressInfo).port}`;
    try {
      for (const args of [['observe'], ['observe', '--sensors', 'flow'], ['run', '--rules', repoPath('test', 'fixtures', 'churn_rules.yaml')]]) {
        const r = spawnSync(process.execPath, [repoPath('bin', 'vigil'), ...args, '--metrics', addr], { encoding: 'utf8', timeout: 30_000 });
        assert.equal(r.status, 1, r.stderr);
        assert.equal(r.stderr, `vigil ${args[0]}: metrics: cannot listen on ${addr}: EADDRINUSE (VIGIL_DEBUG=1 shows where)\n`);
        assert.equal(r.stdout, '', 'no event: nothing was attached');
      }
    } finally {
      busy.close();
    }
  });
});

describe('vigil observe --sensors flow --metrics', () => {
  before(requireRoot);

  test('flows counted by kind: three connects from a shell to a port of the test\'s own', async (t) => {
    const why = await unsupported();
    if (why) return t.skip(why);
    const server = net.createServer((c) => c.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const target = (server.address() as AddressInfo).port;
    const port = await freePort();
    try {
      const run = await runVigil(['observe', '--sensors', 'flow', '--to-port', String(target), '--output', 'json',
        '--metrics', `127.0.0.1:${port}`, '--duration', '60'], async (vigil) => {
        const connects = Array.from({ length: 3 }, () => `exec 3<>/dev/tcp/127.0.0.1/${target}; exec 3>&-`).join('; ');
        assert.equal(spawnSync('/bin/bash', ['-c', connects]).status, 0);
        const series = 'vigil_events_total{kind="tcp-connect"}';
        assert.ok(await waitFor(async () => (await scrape(port, series)) === 3, 20_000, 200), `3 connects (${await scrape(port, series)})`);
        vigil.child.kill('SIGTERM');
      }, { timeoutMs: 60_000 });
      assert.equal(run.code, 0, run.stderr);
    } finally {
      server.close();
    }
  });
});

/** Every metric of every metrics request received, in order. */
function metricsOf(requests: readonly { path: string; body: Buffer }[]): any[] {
  return requests.filter((r) => r.path === '/v1/metrics')
    .flatMap((r) => decode(METRICS, r.body).resourceMetrics.flatMap((rm: any) => rm.scopeMetrics.flatMap((s: any) => s.metrics)));
}

/** vigil_events{kind="exec"} in the last export that has it. */
function execCount(requests: readonly { path: string; body: Buffer }[]): number | undefined {
  const p = metricsOf(requests).filter((m) => m.name === 'vigil_events')
    .flatMap((m) => m.sum.dataPoints).filter((d: any) => attrs(d.attributes).kind === 'exec').at(-1);
  return p === undefined ? undefined : Number(p.asDouble ?? p.asInt);
}

describe('OTLP export; vigil run --metrics --otlp', () => {
  before(requireRoot);
  let rx: Awaited<ReturnType<typeof receiver>>;
  before(async () => (rx = await receiver()));
  after(() => rx.close());

  test('vigil observe --otlp: exec events as log records (after a 503, retried) and the metrics, decoded', async (t) => {
    const why = await unsupported();
    if (why) return t.skip(why);
    const own = ownBinary();
    rx.requests.length = 0;
    // The first request is refused as unavailable: the batch must come again.
    rx.status.push(503);
    try {
      const run = await runVigil(['observe', '--sensors', 'exec', '--binary', `${own.dir}/`, '--output', 'json',
        '--otlp', rx.url, '--otlp-interval', '0.5', '--duration', '30'], async (vigil) => {
        for (let i = 0; i < 3; i++) assert.equal(spawnSync(own.bin, [`mark-${i}`]).status, 0);
        const logs = (): any[] => rx.requests.filter((r) => r.path === '/v1/logs').flatMap((r) => decode(LOGS, r.body).resourceLogs);
        const records = (): any[] => logs().flatMap((rl) => rl.scopeLogs.flatMap((s: any) => s.logRecords));
        assert.ok(await waitFor(() => records().length >= 3, 20_000), `3 log records arrived (${records().length})`);
        // Metrics go every half second: wait for one export that counts the three (cumulative, so they stay).
        assert.ok(await waitFor(() => execCount(rx.requests) === 3, 20_000, 50), `an export with the 3 execs (${execCount(rx.requests)})`);
        vigil.child.kill('SIGTERM');
      }, { timeoutMs: 60_000 });
      assert.equal(run.code, 0, run.stderr);
      const logReqs = rx.requests.filter((r) => r.path === '/v1/logs').map((r) => decode(LOGS, r.body));
      const resource = attrs(logReqs[0].resourceLogs[0].resource.attributes);
      assert.equal(resource['service.name'], 'vigil');
      const recs = logReqs.flatMap((q) => q.resourceLogs.flatMap((rl: any) => rl.scopeLogs.flatMap((s: any) => s.logRecords)));
      assert.equal(recs.length, 3, 'each event once: the retried batch is not duplicated');
      recs.forEach((r: any, i: number) => {
        assert.equal(attrs(r.attributes)['vigil.event.kind'], 'exec');
        assert.equal(r.severityNumber, 'SEVERITY_NUMBER_INFO');
        // The body is Tetragon's process_exec as an OTLP map, the arguments as given.
        const body = r.body.kvlistValue.values.find((kv: any) => kv.key === 'process_exec').value.kvlistValue.values;
        const proc = attrs(body.find((kv: any) => kv.key === 'process').value.kvlistValue.values);
        assert.equal(proc.binary, own.bin);
        assert.equal(proc.arguments, `mark-${i}`);
        assert.ok(BigInt(r.timeUnixNano) > BigInt(Date.now() - 120_000) * 1_000_000n, 'event time, ns since the epoch');
      });
      const exported = metricsOf(rx.requests);
      const events = exported.find((m) => m.name === 'vigil_events');
      assert.ok(events?.sum?.isMonotonic, 'vigil_events is a monotonic sum');
      assert.ok(exported.some((m) => m.name === 'vigil_process_resident_memory_bytes' && m.unit === 'By'));
      assert.equal(execCount(rx.requests), 3, 'the last export still counts 3');
    } finally {
      rmSync(own.dir, { recursive: true, force: true });
    }
  });

  test('a collector that refuses for good: the events are counted as lost (write failed) and reported', async (t) => {
    const why = await unsupported();
    if (why) return t.skip(why);
    const own = ownBinary();
    rx.requests.length = 0;
    rx.status.push(...Array<number>(50).fill(400));
    try {
      const run = await runVigil(['observe', '--sensors', 'exec', '--binary', `${own.dir}/`, '--otlp', rx.url, '--duration', '30'],
        async (vigil) => {
          for (let i = 0; i < 2; i++) assert.equal(spawnSync(own.bin).status, 0);
          await waitFor(() => rx.status.length < 50, 20_000);
          await new Promise((r) => setTimeout(r, 300));
          vigil.child.kill('SIGTERM');
        }, { timeoutMs: 60_000 });
      assert.equal(run.code, 0, run.stderr);
      // One report line a second at most: the two may be in one line or two.
      const dropped = [...run.stderr.matchAll(/otlp http:\/\/127\.0\.0\.1:\d+\/v1\/logs: dropped (\d+) events: \d+ process \(write failed\) \[HTTP_400/g)];
      assert.equal(dropped.reduce((n, m) => n + Number(m[1]), 0), 2, run.stderr);
    } finally {
      rx.status.length = 0;
      rmSync(own.dir, { recursive: true, force: true });
    }
  });

  test('run: alerts by rule and priority, a TracingPolicy\'s counters, both as OTLP records, for the test\'s own execs', async (t) => {
    const why = await unsupported();
    if (why) return t.skip(why);
    const { name, own, rules } = ownProbe('vt', 'Own probe run');
    const port = await freePort();
    const sample = (series: string): Promise<number | undefined> => scrape(port, series);
    rx.requests.length = 0;
    let alertCount = 0;
    try {
      const run = await runVigil(['run', '--rules', rules, '--policy', repoPath('policies', 'exec-from-tmp.yaml'), '--quiet',
        '--metrics', `127.0.0.1:${port}`, '--otlp', rx.url, '--otlp-interval', '0.5', '--duration', '60'], async (vigil) => {
        for (let i = 0; i < 3; i++) assert.equal(spawnSync(own.bin).status, 0);
        const alerts = 'vigil_alerts_total{rule="Own probe run",priority="critical"}';
        await waitFor(async () => (await sample(alerts)) === 3, 20_000, 200);
        alertCount = (await sample(alerts)) ?? 0;
        // On a loaded host the rules' process ring may overflow: a missing alert must then be a counted loss.
        const lost = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text())
          .then((text) => [...text.matchAll(/^vigil_events_lost_total\{sensor="process",reason="ring_full"[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0));
        assert.ok(alertCount === 3 || (alertCount > 0 && lost > 0), `3 alerts, or fewer with process events lost (${alertCount}, lost ${lost})`);
        const matches = (await sample('vigil_policy_matches_total{policy="exec-from-tmp"}')) ?? 0;
        assert.ok(matches >= 3, `the policy matched the 3 execs (${matches})`);
        assert.ok((await sample('vigil_policy_evaluations_total{policy="exec-from-tmp"}'))! >= matches);
        assert.ok((await sample('vigil_policy_actions_total{policy="exec-from-tmp",action="post"}'))! >= 3);
        // Counted when the rule matched; released to the outputs at the pipeline's next cycle.
        assert.ok(await waitFor(async () => ((await sample('vigil_events_total{kind="alert"}')) ?? 0) >= alertCount, 10_000, 200));
        assert.ok(await waitFor(async () => ((await sample('vigil_events_total{kind="policy"}')) ?? 0) >= 3, 10_000, 200));
        assert.ok((await sample('vigil_rule_evaluations_total'))! >= 3);
        vigil.child.kill('SIGTERM');
      }, { timeoutMs: 90_000 });
      assert.equal(run.code, 0, run.stderr);
      const recs = rx.requests.filter((r) => r.path === '/v1/logs')
        .flatMap((r) => decode(LOGS, r.body).resourceLogs.flatMap((rl: any) => rl.scopeLogs.flatMap((s: any) => s.logRecords)));
      const alerts = recs.filter((r: any) => attrs(r.attributes)['vigil.event.kind'] === 'alert');
      assert.equal(alerts.length, alertCount, 'each alert counted is an OTLP record');
      for (const a of alerts) {
        assert.deepEqual([attrs(a.attributes)['vigil.rule'], attrs(a.attributes)['vigil.priority']], ['Own probe run', 'critical']);
        assert.equal(a.severityNumber, 'SEVERITY_NUMBER_FATAL');
        const body = attrs(a.body.kvlistValue.values);
        assert.equal(body.rule, 'Own probe run');
      }
      const mine = recs.filter((r: any) => attrs(r.attributes)['vigil.policy'] === 'exec-from-tmp' &&
        JSON.stringify(r.body).includes(own.bin));
      assert.equal(mine.length, 3, 'a policy record for each exec, Tetragon\'s JSON as its body');
    } finally {
      rmSync(own.dir, { recursive: true, force: true });
    }
  });
});

describe('vigil agent: the metrics and otlp sections', () => {
  before(requireRoot);
  let rx: Awaited<ReturnType<typeof receiver>>;
  before(async () => (rx = await receiver()));
  after(() => rx?.close());

  test('its policies, rules, BPF programs, process cache and own CPU and memory scraped; events and alerts as OTLP records', async (t) => {
    const why = await unsupported();
    if (why) return t.skip(why);
    const { name, own, rules } = ownProbe('va', 'Own agent probe');
    const port = await freePort();
    rx.requests.length = 0;
    const agent = await TestAgent.start([
      'sensors: [exec, exit]',
      `policies: [${repoPath('policies', 'exec-from-tmp.yaml')}]`,
      `rules: [${rules}]`,
      `metrics: {address: "127.0.0.1:${port}", bpfStats: true}`,
      `otlp: {endpoint: "${rx.url}", interval: 0.5}`, '',
    ].join('\n'));
    const sample = (series: string): Promise<number | undefined> => scrape(port, series);
    const text = (): Promise<string> => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
    try {
      assert.match(agent.line('ready')?.metrics as string, new RegExp(`^http://127\\.0\\.0\\.1:${port}/metrics$`));
      const policy = '{policy="exec-from-tmp"}';
      const alerts = 'vigil_alerts_total{rule="Own agent probe",priority="critical"}';
      const before = {
        matches: (await sample(`vigil_policy_matches_total${policy}`)) ?? 0,
        posts: (await sample(`vigil_policy_actions_total{policy="exec-from-tmp",action="post"}`)) ?? 0,
        rules: (await sample('vigil_rule_evaluations_total')) ?? 0,
      };
      assert.equal(await sample(alerts), undefined, 'no alert before the test\'s execs');
      for (let i = 0; i < 3; i++) assert.equal(spawnSync(own.bin).status, 0);
      await waitFor(async () => (await sample(alerts)) === 3, 20_000, 200);
      const alertCount = (await sample(alerts)) ?? 0;
      // On a loaded host the rules' process ring may overflow: a missing alert must then be a counted loss.
      const lost = [...(await text()).matchAll(/^vigil_events_lost_total\{sensor="process",reason="ring_full"[^}]*\} (\d+)$/gm)]
        .reduce((n, m) => n + Number(m[1]), 0);
      assert.ok(alertCount === 3 || (alertCount > 0 && lost > 0), `3 alerts, or fewer with process events lost (${alertCount}, lost ${lost})`);
      assert.ok(((await sample(`vigil_policy_matches_total${policy}`)) ?? 0) >= before.matches + 3, 'the policy matched the 3 execs');
      assert.ok(((await sample(`vigil_policy_evaluations_total${policy}`)) ?? 0) >= before.matches + 3);
      assert.ok(((await sample('vigil_policy_actions_total{policy="exec-from-tmp",action="post"}')) ?? 0) >= before.posts + 3);
      assert.ok(((await sample('vigil_rule_evaluations_total')) ?? 0) >= before.rules + 3);
      assert.ok(await waitFor(async () => ((await sample('vigil_events_total{kind="alert"}')) ?? 0) >= alertCount, 10_000, 200));
      assert.ok(await waitFor(async () => ((await sample('vigil_events_total{kind="policy"}')) ?? 0) >= 3, 10_000, 200));
      assert.equal(await sample('vigil_bpf_stats_enabled'), 1);
      const runs = [...(await text()).matchAll(/^vigil_bpf_program_runs_total\{program="handle_exec",[^}]*\} (\d+)$/gm)].map((m) => Number(m[1]));
      assert.ok(runs.some((n) => n >= 3), `the exec sensor's program ran for the execs (${runs})`);
      assert.match(await text(), /^vigil_bpf_program_run_seconds_total\{program="[^"]+",program_id="\d+"\} [0-9.e-]+$/m);
      assert.ok(((await sample('vigil_process_cache_entries{state="live"}')) ?? 0) > 0, 'the process cache');
      assert.ok(((await sample('vigil_process_resident_memory_bytes')) ?? 0) > 1 << 20, 'the agent\'s memory');
      assert.ok(((await sample('vigil_process_cpu_seconds_total')) ?? 0) > 0, 'the agent\'s CPU time');

      const records = (): any[] => rx.requests.filter((r) => r.path === '/v1/logs')
        .flatMap((r) => decode(LOGS, r.body).resourceLogs.flatMap((rl: any) => rl.scopeLogs.flatMap((s: any) => s.logRecords)));
      const mine = (kind: string): any[] => records().filter((r: any) => attrs(r.attributes)['vigil.event.kind'] === kind &&
        JSON.stringify(r.body).includes(kind === 'alert' ? name : own.bin));
      assert.ok(await waitFor(() => mine('alert').length >= alertCount && mine('policy').length >= 3 && mine('exec').length >= 3, 20_000, 100),
        `OTLP records: ${mine('alert').length} alerts, ${mine('policy').length} policy events, ${mine('exec').length} execs`);
      assert.equal(mine('alert').length, alertCount, 'each alert counted is one record');
      for (const a of mine('alert')) {
        assert.deepEqual([attrs(a.attributes)['vigil.rule'], attrs(a.attributes)['vigil.priority']], ['Own agent probe', 'critical']);
        assert.equal(a.severityNumber, 'SEVERITY_NUMBER_FATAL');
        assert.equal(attrs(a.body.kvlistValue.values).rule, 'Own agent probe');
      }
      assert.equal(mine('policy').length, 3, 'a policy record for each exec');
      for (const p of mine('policy')) assert.equal(attrs(p.attributes)['vigil.policy'], 'exec-from-tmp');
      assert.equal(mine('exec').length, 3);
      for (const r of mine('exec')) {
        const body = r.body.kvlistValue.values.find((kv: any) => kv.key === 'process_exec').value.kvlistValue.values;
        assert.equal(attrs(body.find((kv: any) => kv.key === 'process').value.kvlistValue.values).binary, own.bin);
        assert.equal(r.severityNumber, 'SEVERITY_NUMBER_INFO');
      }
      // The OTLP metrics: the same catalog, alerts by rule among them.
      const alertSum = (): number | undefined => {
        const p = metricsOf(rx.requests).filter((m) => m.name === 'vigil_alerts').flatMap((m) => m.sum.dataPoints)
          .filter((d: any) => attrs(d.attributes).rule === 'Own agent probe').at(-1);
        return p === undefined ? undefined : Number(p.asDouble ?? p.asInt);
      };
      assert.ok(await waitFor(() => alertSum() === alertCount, 20_000, 100), `an OTLP export with the alerts (${alertSum()})`);
    } finally {
      await agent.stop();
      rmSync(own.dir, { recursive: true, force: true });
    }
    assert.equal(agent.exited, 0, JSON.stringify(agent.log.slice(-5)));
  });

  test('a collector that stays down: the OTLP queue fills and drops, counted, while an API client gets every event', async (t) => {
    const why = await unsupported();
    if (why) return t.skip(why);
    const own = ownBinary();
    const port = await freePort();
    rx.requests.length = 0;
    rx.status.push(...Array<number>(10_000).fill(503));
    const agent = await TestAgent.start([
      'sensors: [exec]', `metrics: {address: "127.0.0.1:${port}"}`, `otlp: {endpoint: "${rx.url}", buffer: 64KiB, interval: 60}`, '',
    ].join('\n'));
    try {
      // 150 execs of ~1 KB each as log records: more than the queue's 64 KiB.
      const out = await agent.eventsWhile(['--sensors', 'exec', '--binary', `${own.dir}/`, '--count', '150', '--duration', '60'],
        () => { for (let i = 0; i < 25; i++) spawnSync(own.bin); });
      assert.equal(out.status, 0, out.stderr);
      assert.equal(out.stdout.trimEnd().split('\n').length, 150, 'the client got its 150 execs');
      const series = `vigil_events_lost_total{sensor="process",reason="queue_full",output="otlp ${rx.url}/v1/logs"}`;
      assert.ok(await waitFor(async () => ((await scrape(port, series)) ?? 0) > 0, 10_000, 200), `queue_full counted (${await scrape(port, series)})`);
      assert.equal(rx.requests.filter((r) => r.path === '/v1/logs').length, 0, 'nothing was taken');
      assert.ok(await waitFor(() => rx.status.length < 10_000, 10_000), 'the exporter kept trying');
    } finally {
      await agent.stop();
      rx.status.length = 0;
      rmSync(own.dir, { recursive: true, force: true });
    }
    const unsent = agent.log.find((l) => /^not delivered: /.test(l.msg));
    assert.ok(unsent, 'what was queued at the stop is said');
    assert.equal(agent.exited, 0);
  });
});
