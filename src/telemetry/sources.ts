// What the metrics read, as small interfaces: the pipeline, the policy
// engine, the rules engine and the process cache each satisfy one as they
// are. A command (or the agent) fills a TelemetrySources in as its parts
// start; every read happens at collection time (a scrape, an OTLP export), so
// nothing is counted twice and the event path pays nothing for metrics.
import type { L7Series } from '../l7/metrics.js';
import type { Loss } from '../pipeline/loss.js';
import type { PolicyCounters } from '../policy/engine.js';

/** The event pipeline (src/pipeline EventPipeline). */
export interface PipelineTelemetry {
  readonly stats: {
    /** Events released to the sinks, by kind. */
    readonly byKind: ReadonlyMap<string, number>;
    readonly late: number;
    readonly pauses: number;
  };
  /** What the kernel could not store (ring full), by sensor, since the start. */
  kernelLosses(): readonly Loss[];
  /** Every output's own losses (its queue, its writes), since the start. */
  losses(): readonly { sink: string; losses: readonly Loss[] }[];
}

/** The policy engine (src/policy PolicyEngine). */
export interface PolicyTelemetry {
  readonly names: readonly string[];
  counters(name: string): PolicyCounters | undefined;
}

/** The rules engine (src/rules RuleEngine). */
export interface RulesTelemetry {
  readonly activeRules: readonly { readonly name: string; readonly priority: string }[];
  stats(): {
    readonly events: number;
    readonly evaluations: number;
    /** Alerts per rule name. */
    readonly matches: ReadonlyMap<string, number>;
  };
}

/** The process cache (src/process ProcessCache). */
export interface ProcessCacheTelemetry {
  readonly stats: {
    readonly live: number;
    readonly retired: number;
    readonly evictedLive: number;
    readonly evictedRetired: number;
  };
}

/** The XDP firewalls the agent keeps (src/agent/firewall.ts). */
export interface FirewallTelemetry {
  firewalls(): readonly {
    readonly interface: string;
    readonly counters: { readonly passed: number; readonly droppedBlocked: number; readonly droppedRateLimited: number };
    readonly rules: readonly { readonly action: string; readonly cidr: string; readonly packets: number }[];
  }[];
}

/** The L7 sensors' request-duration histograms (src/l7/metrics.ts). */
export interface L7Telemetry {
  series(): readonly L7Series[];
}

/** Everything metrics are read from; a part not running is left out. */
export interface TelemetrySources {
  l7?: L7Telemetry;
  pipeline?: PipelineTelemetry;
  policies?: PolicyTelemetry;
  rules?: RulesTelemetry;
  processCache?: ProcessCacheTelemetry;
  firewall?: FirewallTelemetry;
}
