// Every metric Vigil exports, defined once: its Prometheus name (vigil_
// prefix, _total on counters, base units), its help, its labels, and how its
// values are read from the sources. The Prometheus endpoint and the OTLP
// metrics exporter are two views of this one table (docs/metrics.md lists it).
import type { ProcessCacheTelemetry, TelemetrySources } from './sources.js';
import type { PolicyCounters } from '../policy/engine.js';
import { ownPrograms, ownRingBuffers, type RingFill } from './bpf-stats.js';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

export interface MetricDef {
  /** The Prometheus name; OTLP drops the `_total` suffix (its sums are monotonic instead). */
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly labels: readonly string[];
  /** UCUM unit for OTLP ('s', 'By', '1'). */
  readonly unit: string;
  /** prom-client's default metrics already expose it under this name: the Prometheus view leaves it out. */
  readonly promDefault?: boolean;
  collect(s: TelemetryView): Sample[];
}

/** What a collection reads: the sources, and whether BPF run-time statistics are on. */
export interface TelemetryView {
  readonly sources: TelemetrySources;
  readonly bpfStats: boolean;
}

const one = (value: number): Sample[] => [{ labels: {}, value }];

export const METRICS: readonly MetricDef[] = [
  {
    name: 'vigil_events_total', type: 'counter', unit: '1', labels: ['kind'],
    help: 'Events released to the outputs, by kind (exec, exit, fork, file, alert, policy, ...).',
    collect: ({ sources: { pipeline } }) =>
      pipeline ? [...pipeline.stats.byKind].map(([kind, value]) => ({ labels: { kind }, value })) : [],
  },
  {
    name: 'vigil_events_lost_total', type: 'counter', unit: '1', labels: ['sensor', 'reason', 'output'],
    help: 'Events that did not reach an output, by sensor and reason; ring_full (the kernel) has no output label.',
    collect: ({ sources: { pipeline } }) => {
      if (!pipeline) return [];
      const out: Sample[] = pipeline.kernelLosses().map((l) => ({ labels: { sensor: l.sensor, reason: l.reason, output: '' }, value: l.count }));
      for (const { sink, losses } of pipeline.losses()) {
        for (const l of losses) {
          // A sink counts the kernel's losses too (for its in-band record): counted once above.
          if (l.reason !== 'ring_full') out.push({ labels: { sensor: l.sensor, reason: l.reason, output: sink }, value: l.count });
        }
      }
      return out;
    },
  },
  {
    name: 'vigil_firewall_packets_total', type: 'counter', unit: '1', labels: ['interface', 'result'],
    help: 'Packets the XDP firewall saw, by interface and result: passed, blocked (a block rule), rate_limited.',
    collect: ({ sources: { firewall } }) => (firewall?.firewalls() ?? []).flatMap((f) => [
      { labels: { interface: f.interface, result: 'passed' }, value: f.counters.passed },
      { labels: { interface: f.interface, result: 'blocked' }, value: f.counters.droppedBlocked },
      { labels: { interface: f.interface, result: 'rate_limited' }, value: f.counters.droppedRateLimited },
    ]),
  },
  {
    name: 'vigil_firewall_rule_packets_total', type: 'counter', unit: '1', labels: ['interface', 'action', 'cidr'],
    help: 'Packets each firewall rule matched: dropped (block) or passed (allow).',
    collect: ({ sources: { firewall } }) => (firewall?.firewalls() ?? []).flatMap((f) =>
      f.rules.map((r) => ({ labels: { interface: f.interface, action: r.action, cidr: r.cidr }, value: r.packets }))),
  },
  {
    name: 'vigil_pipeline_late_events_total', type: 'counter', unit: '1', labels: [],
    help: 'Events that reached the pipeline after their reorder window (released out of order).',
    collect: ({ sources: { pipeline } }) => (pipeline ? one(pipeline.stats.late) : []),
  },
  {
    name: 'vigil_pipeline_pauses_total', type: 'counter', unit: '1', labels: [],
    help: 'Times the ring readers were paused because no output could take more (back-pressure).',
    collect: ({ sources: { pipeline } }) => (pipeline ? one(pipeline.stats.pauses) : []),
  },
  ringGauge('vigil_ringbuf_used_bytes', 'Bytes written to a ring buffer and not yet read.', (r) => r.usedBytes),
  ringGauge('vigil_ringbuf_size_bytes', 'A ring buffer\'s capacity.', (r) => r.sizeBytes),
  policyCounter('vigil_policy_evaluations_total', 'Events whose selectors a policy evaluated.', (c) => c.evaluated),
  policyCounter('vigil_policy_matches_total', 'Events a policy\'s selector matched.', (c) => c.matched),
  policyCounter('vigil_policy_posts_total', 'Policy events sent to user space.', (c) => c.posted),
  policyCounter('vigil_policy_rate_limited_total', 'Policy events not sent because of rateLimit.', (c) => c.rateLimited),
  policyCounter('vigil_policy_lost_total', 'Policy events lost in the kernel (ring or stash full).', (c) => c.lost),
  {
    name: 'vigil_policy_actions_total', type: 'counter', unit: '1', labels: ['policy', 'action'],
    help: 'Actions a policy took, by action (post, nopost, sigkill, signal, deny, notify_enforcer).',
    collect: ({ sources }) => perPolicy(sources, (policy, c) =>
      Object.entries(c.actions).map(([action, n]) => ({ labels: { policy, action: ACTION_NAMES[action] ?? action }, value: Number(n) }))),
  },
  {
    name: 'vigil_rule_events_total', type: 'counter', unit: '1', labels: [],
    help: 'Events the Falco rules were evaluated on.',
    collect: ({ sources: { rules } }) => (rules ? one(rules.stats().events) : []),
  },
  {
    name: 'vigil_rule_evaluations_total', type: 'counter', unit: '1', labels: [],
    help: 'Rule condition evaluations (each rule runs for events of its types).',
    collect: ({ sources: { rules } }) => (rules ? one(rules.stats().evaluations) : []),
  },
  {
    name: 'vigil_alerts_total', type: 'counter', unit: '1', labels: ['rule', 'priority'],
    help: 'Alerts raised, by rule and priority.',
    collect: ({ sources: { rules } }) => {
      if (!rules) return [];
      const priority = new Map(rules.activeRules.map((r) => [r.name, r.priority.toLowerCase()]));
      return [...rules.stats().matches].map(([rule, value]) => ({ labels: { rule, priority: priority.get(rule) ?? '' }, value }));
    },
  },
  cacheByState('vigil_process_cache_entries', 'gauge',
    'Process images in the process cache: live, or retired (exited or replaced, kept for a grace period).', (s) => [s.live, s.retired]),
  cacheByState('vigil_process_cache_evictions_total', 'counter',
    'Process images dropped because the cache was full, by state.', (s) => [s.evictedLive, s.evictedRetired]),
  {
    name: 'vigil_bpf_stats_enabled', type: 'gauge', unit: '1', labels: [],
    help: '1 while BPF run-time statistics are on (--bpf-stats): the per-program metrics count only then.',
    collect: ({ bpfStats }) => one(bpfStats ? 1 : 0),
  },
  {
    name: 'vigil_bpf_program_runs_total', type: 'counter', unit: '1', labels: ['program', 'program_id'],
    help: 'Runs of each of Vigil\'s BPF programs while statistics were on.',
    collect: ({ bpfStats }) => (bpfStats ? ownPrograms().map((p) => ({ labels: programLabels(p), value: p.runCount })) : []),
  },
  {
    name: 'vigil_bpf_program_run_seconds_total', type: 'counter', unit: 's', labels: ['program', 'program_id'],
    help: 'Time spent in each of Vigil\'s BPF programs while statistics were on.',
    collect: ({ bpfStats }) => (bpfStats ? ownPrograms().map((p) => ({ labels: programLabels(p), value: p.runTimeNs / 1e9 })) : []),
  },
  {
    name: 'vigil_process_cpu_seconds_total', type: 'counter', unit: 's', labels: [], promDefault: true,
    help: 'CPU time of the Vigil process, user and system.',
    collect: () => {
      const u = process.cpuUsage();
      return one((u.user + u.system) / 1e6);
    },
  },
  {
    name: 'vigil_process_resident_memory_bytes', type: 'gauge', unit: 'By', labels: [], promDefault: true,
    help: 'Resident memory of the Vigil process.',
    collect: () => one(process.memoryUsage.rss()),
  },
];

const ACTION_NAMES: Readonly<Record<string, string>> = { noPost: 'nopost', notifyEnforcer: 'notify_enforcer' };

function programLabels(p: { name: string; id: number }): Labels {
  return { program: p.name, program_id: String(p.id) };
}

/** A process cache number for live and for retired images. */
function cacheByState(name: string, type: MetricDef['type'], help: string,
  pick: (s: ProcessCacheTelemetry['stats']) => [live: number, retired: number]): MetricDef {
  return {
    name, help, type, unit: '1', labels: ['state'],
    collect: ({ sources: { processCache } }) => {
      if (!processCache) return [];
      const [live, retired] = pick(processCache.stats);
      return [{ labels: { state: 'live' }, value: live }, { labels: { state: 'retired' }, value: retired }];
    },
  };
}

function ringGauge(name: string, help: string, pick: (r: RingFill) => number): MetricDef {
  return {
    name, help, type: 'gauge', unit: 'By', labels: ['ring', 'map_id'],
    collect: () => ownRingBuffers().map((r) => ({ labels: { ring: r.name, map_id: String(r.id) }, value: pick(r) })),
  };
}

/** Samples of every loaded policy's counters. */
function perPolicy({ policies }: TelemetrySources, f: (policy: string, c: PolicyCounters) => Sample[]): Sample[] {
  if (!policies) return [];
  return policies.names.flatMap((policy) => {
    const c = policies.counters(policy);
    return c ? f(policy, c) : [];
  });
}

function policyCounter(name: string, help: string, pick: (c: PolicyCounters) => bigint): MetricDef {
  return {
    name, help, type: 'counter', unit: '1', labels: ['policy'],
    collect: ({ sources }) => perPolicy(sources, (policy, c) => [{ labels: { policy }, value: Number(pick(c)) }]),
  };
}
