// The telemetry's pure parts: flags and listen addresses, and the metric
// catalog as Prometheus' text format for sources given here (no kernel).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseTelemetryFlags } from '../src/cli/telemetry.js';
import { METRICS, parseListenAddress, registryOf, type TelemetrySources } from '../src/telemetry/index.js';
import { UsageError } from '../src/cli/command.js';

describe('telemetry flags (no kernel)', () => {
  test('listen addresses', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseListenAddress(':9464'), { host: undefined, port: 9464 });
    assert.deepEqual(parseListenAddress('[::1]:0'), { host: '::1', port: 0 });
    assert.match(parseListenAddress('9464') as string, /expected HOST:PORT/);
    assert.match(parseListenAddress('localhost:70000') as string, /out of range/);
    assert.match(parseListenAddress('[1:2:3]:1') as string, /not an IPv6 address/);
  });

  test('bad values are one-line usage errors naming the flag', () => {
    const bad: [Record<string, string | boolean>, RegExp][] = [
      [{ metrics: 'x' }, /^--metrics: expected HOST:PORT/],
      [{ otlp: 'ftp://h/' }, /^--otlp: expected an http/],
      [{ otlp: 'not a url' }, /^--otlp: not a URL/],
      [{ 'bpf-stats': true }, /^--bpf-stats: .*add --metrics or --otlp/],
      [{ 'otlp-interval': '5' }, /^--otlp-interval: needs --otlp/],
      [{ otlp: 'http://127.0.0.1:4318', 'otlp-interval': '-1' }, /^--otlp-interval: expected a positive number/],
    ];
    for (const [values, msg] of bad) assert.throws(() => parseTelemetryFlags(values), (e: unknown) => e instanceof UsageError && msg.test(e.message));
    const o = parseTelemetryFlags({ metrics: ':0', otlp: 'http://127.0.0.1:4318/', 'otlp-interval': '0.5', 'bpf-stats': true });
    assert.deepEqual(o, { metrics: { host: undefined, port: 0 }, bpfStats: true, otlp: 'http://127.0.0.1:4318/', otlpIntervalMs: 500 });
  });
});

describe('the metric catalog', () => {
  const sources: TelemetrySources = {
    pipeline: {
      stats: { byKind: new Map([['exec', 3], ['file', 40]]), late: 1, pauses: 2 },
      kernelLosses: () => [{ sensor: 'file', reason: 'ring_full', count: 5 }],
      // A sink counts the kernel's losses too (for its lost record): not counted again.
      losses: () => [{ sink: 'stdout', losses: [{ sensor: 'file', reason: 'ring_full', count: 5 }, { sensor: 'process', reason: 'queue_full', count: 2 }] }],
    },
    policies: {
      names: ['sensitive-files'],
      counters: (name) => (name !== 'sensitive-files' ? undefined : {
        evaluated: 10n, matched: 4n, posted: 3n, rateLimited: 1n, lost: 0n,
        actions: { post: 3n, noPost: 0n, sigkill: 1n, signal: 0n, deny: 0n, notifyEnforcer: 2n },
      }),
    },
    rules: {
      activeRules: [{ name: 'Shell in container', priority: 'Critical' }, { name: 'Quiet', priority: 'Debug' }],
      stats: () => ({ events: 7, evaluations: 9, matches: new Map([['Shell in container', 2]]) }),
    },
    processCache: { stats: { live: 5, retired: 2, evictedLive: 0, evictedRetired: 1 } },
  };

  test('every source read into Prometheus names, labels and values', async () => {
    const text = await registryOf({ sources, bpfStats: false }).metrics();
    const samples = text.split('\n').filter((l) => l && !l.startsWith('#'));
    for (const want of [
      'vigil_events_total{kind="exec"} 3', 'vigil_events_total{kind="file"} 40',
      'vigil_events_lost_total{sensor="file",reason="ring_full",output=""} 5',
      'vigil_events_lost_total{sensor="process",reason="queue_full",output="stdout"} 2',
      'vigil_pipeline_late_events_total 1', 'vigil_pipeline_pauses_total 2',
      'vigil_policy_evaluations_total{policy="sensitive-files"} 10', 'vigil_policy_matches_total{policy="sensitive-files"} 4',
      'vigil_policy_posts_total{policy="sensitive-files"} 3', 'vigil_policy_rate_limited_total{policy="sensitive-files"} 1',
      'vigil_policy_actions_total{policy="sensitive-files",action="sigkill"} 1',
      'vigil_policy_actions_total{policy="sensitive-files",action="notify_enforcer"} 2',
      'vigil_rule_events_total 7', 'vigil_rule_evaluations_total 9',
      'vigil_alerts_total{rule="Shell in container",priority="critical"} 2',
      'vigil_process_cache_entries{state="live"} 5', 'vigil_process_cache_entries{state="retired"} 2',
      'vigil_process_cache_evictions_total{state="retired"} 1', 'vigil_bpf_stats_enabled 0',
    ]) assert.ok(samples.includes(want), `${want} in:\n${samples.join('\n')}`);
    assert.equal(samples.filter((l) => l.startsWith('vigil_events_lost_total')).length, 2, 'ring_full once, not again per output');
    assert.ok(!samples.some((l) => l.startsWith('vigil_bpf_program_')), 'no per-program samples while statistics are off');
    // prom-client's default metrics, prefixed: the agent's CPU and memory.
    assert.ok(samples.some((l) => /^vigil_process_cpu_seconds_total \d/.test(l)));
    assert.ok(samples.some((l) => /^vigil_process_resident_memory_bytes \d/.test(l)));
  });

  test('Prometheus naming: the vigil_ prefix, _total on counters only, base units', () => {
    for (const m of METRICS) {
      assert.match(m.name, /^vigil_[a-z_]+$/);
      if (m.type === 'counter') assert.match(m.name, /_total$/, m.name);
      else assert.doesNotMatch(m.name, /_total$/, m.name);
      if (m.unit === 's') assert.match(m.name, /_seconds(_total)?$/, m.name);
      if (m.unit === 'By') assert.match(m.name, /_bytes$/, m.name);
    }
  });

  test('a part that does not run has no labelled series; its unlabelled counters read 0', async () => {
    const text = await registryOf({ sources: {}, bpfStats: false }).metrics();
    assert.deepEqual(text.split('\n').filter((l) => /^vigil_(events|policy|rule|alerts|process_cache|pipeline)\w*[{ ]/.test(l)),
      ['vigil_pipeline_late_events_total 0', 'vigil_pipeline_pauses_total 0', 'vigil_rule_events_total 0', 'vigil_rule_evaluations_total 0']);
  });
});
