// The agent's Falco rules: the configuration's files and those added through
// the API, evaluated together in that order, as one consumer of the agent's
// pipeline (the events it releases in time order go through evaluate()).
// The agent's process and file sensors are the rules' too; only what they do
// not report is started here (the syscall-event sensor; a file sensor when
// the agent has none), as pipeline sources. A change compiles the whole set
// anew and starts its sensors (what the kernel reports depends on every
// rule), then stops the old ones: for that moment both run, so a syscall
// event may be evaluated twice, but none is missed.
import { readFileSync } from 'node:fs';
import { RuleEngine, RulesLoadError, expandRulesPaths, formatDiagnostic, type Alert } from '../rules/index.js';
import type { RulesSource } from '../rules/loader.js';
import { planLive, planProcessKinds, RuleEvaluator, RuleSensors, type RuleSensorTarget } from '../rules/live.js';
import type { FilterSet } from '../sensors/filter.js';
import type { ProcessEventKind, ProcessSensor } from '../sensors/process.js';
import type { FileSensor } from '../sensors/file.js';
import type { ProcessCache } from '../process/cache.js';
import type { PipelineSource } from '../pipeline/index.js';
import { PolicyStateError, type Origin } from './policies.js';
import { SwappableSource } from './source.js';
import type { RulesTelemetry } from '../telemetry/sources.js';
import type { StoredRules } from './state.js';

/** The rules did not load: one line per error. */
export class RulesRefusedError extends Error {
  override readonly name = 'RulesRefusedError';
}

interface RulesFile extends RulesSource {
  readonly origin: Origin;
}

export interface RulesStatus {
  files: { name: string; origin: Origin; rules: number }[];
  active: number;
  total: number;
}

export interface AgentRulesOptions {
  filter: FilterSet;
  cache: ProcessCache;
  /** The agent's pipeline, where the rules' own sensors deliver. */
  target: RuleSensorTarget;
  /** The agent's sensors (started before the rules): their events are the rules' too. */
  shared(): { process?: ProcessSensor; files?: FileSensor };
  /** The process event kinds the rules need delivered now (the agent adds its own). */
  wantProcessKinds(kinds: ProcessEventKind[]): void;
}

/** Several readers as one pipeline source, read in order. */
function sourcesOf(list: readonly { source: PipelineSource }[]): PipelineSource {
  return {
    drain: () => list.reduce((n, s) => n + s.source.drain(), 0),
    get backlog() {
      return list.some((s) => s.source.backlog);
    },
    pause: () => list.forEach((s) => s.source.pause()),
    resume: () => list.forEach((s) => s.source.resume()),
  };
}

export class AgentRules implements RulesTelemetry {
  /** The rules' own rings, for the pipeline. */
  readonly source = new SwappableSource();
  private files: RulesFile[] = [];
  private sensors: RuleSensors | undefined;
  private evaluator: RuleEvaluator | undefined;
  private engine: RuleEngine | undefined;
  /** Where the alerts of the event being evaluated go. */
  private out: ((a: Alert) => void) | undefined;
  /** What the rule sets replaced so far counted: the metrics' counters go on from there, never back. */
  private readonly retired = { events: 0, evaluations: 0, matches: new Map<string, number>(), priority: new Map<string, string>() };

  constructor(private readonly o: AgentRulesOptions) {}

  /** Makes `files` the rule set: compiled (RulesLoadError, with positions, if it does not), then running. */
  private async apply(files: RulesFile[]): Promise<void> {
    let engine: RuleEngine | undefined;
    try {
      engine = files.length ? RuleEngine.fromSources(files) : undefined;
    } catch (e) {
      // Every error, each as file:line:col (RulesLoadError's message names the first only).
      if (e instanceof RulesLoadError) throw new RulesRefusedError(e.errors.map(formatDiagnostic).join('\n'), { cause: e });
      throw e;
    }
    const plan = engine && planLive(engine.interestingEventTypes());
    const shared = this.o.shared();
    const next = plan && await RuleSensors.start({
      plan, target: this.o.target, cache: this.o.cache, filter: this.o.filter, process: shared.process, files: shared.files,
    });
    const old = this.sensors;
    if (this.engine) {
      const st = this.engine.stats();
      this.retired.events += st.events;
      this.retired.evaluations += st.evaluations;
      for (const [rule, n] of st.matches) this.retired.matches.set(rule, (this.retired.matches.get(rule) ?? 0) + n);
      for (const r of this.engine.activeRules) this.retired.priority.set(r.name, r.priority);
    }
    this.sensors = next;
    this.evaluator = engine && plan && next && new RuleEvaluator(engine, plan, this.o.cache, (tid) => next.wasExecveat(tid), {
      onAlert: (a) => this.out?.(a),
    });
    this.engine = engine;
    this.files = files;
    this.o.wantProcessKinds(plan ? planProcessKinds(plan) : []);
    this.source.set(next && sourcesOf(next.sources()));
    old?.close();
  }

  /** Evaluates one event the pipeline released; its alerts go to `out`, at once. */
  evaluate(e: { readonly kind: string }, out: (a: Alert) => void): void {
    if (!this.evaluator) return;
    this.out = out;
    try {
      this.evaluator.evaluate(e);
    } finally {
      this.out = undefined;
    }
  }

  /** Event types the rules need that are not sensed here (no sensor, or no tracepoint on this kernel). */
  get unsensed(): string[] {
    const plan = this.evaluator?.plan;
    return plan ? [...plan.unsupported, ...(this.sensors?.missing ?? [])] : [];
  }

  async add(name: string, content: string, origin: Origin): Promise<RulesStatus> {
    if (this.files.some((f) => f.name === name)) throw new PolicyStateError('exists', `rules file "${name}" is already loaded (delete it first)`);
    await this.apply([...this.files, { name, content, origin }]);
    return this.status();
  }

  async delete(name: string): Promise<RulesStatus> {
    if (!this.files.some((f) => f.name === name)) throw new PolicyStateError('not_found', `no rules file "${name}" (vigil rules list)`);
    await this.apply(this.files.filter((f) => f.name !== name));
    return this.status();
  }

  /** The configuration's files are now `paths` (a reload); files added through the API stay, after them. */
  async setConfigured(paths: readonly string[]): Promise<void> {
    const configured = expandRulesPaths([...paths]).map((f): RulesFile => ({ name: f, content: readFileSync(f, 'utf8'), origin: 'config' }));
    const api = this.files.filter((f) => f.origin === 'api');
    const same = configured.length === this.files.length - api.length
      && configured.every((f, i) => f.name === this.files[i]!.name && f.content === this.files[i]!.content);
    if (!same) await this.apply([...configured, ...api]);
  }

  /** The rules files added through the API, in order, as the state keeps them. */
  stored(): StoredRules[] {
    return this.files.filter((f) => f.origin === 'api').map((f) => ({ name: f.name, yaml: f.content }));
  }

  /**
   * At start: the configuration's files, then those the state kept, compiled
   * together. When the kept ones make the set fail to load, the
   * configuration's run alone and the error is returned (the kept files are
   * then no longer kept once the state is next written).
   */
  async start(paths: readonly string[], stored: readonly StoredRules[]): Promise<Error | undefined> {
    const configured = expandRulesPaths([...paths]).map((f): RulesFile => ({ name: f, content: readFileSync(f, 'utf8'), origin: 'config' }));
    const api = stored.filter((r) => !configured.some((f) => f.name === r.name)).map((r): RulesFile => ({ name: r.name, content: r.yaml, origin: 'api' }));
    if (api.length) {
      try {
        await this.apply([...configured, ...api]);
        return undefined;
      } catch (e) {
        await this.apply(configured);
        return e as Error;
      }
    }
    await this.apply(configured);
    return undefined;
  }

  status(): RulesStatus {
    const rules = this.engine?.rules ?? [];
    return {
      files: this.files.map((f) => ({ name: f.name, origin: f.origin, rules: rules.filter((r) => r.pos.file === f.name).length })),
      active: this.engine?.activeRules.length ?? 0,
      total: rules.length,
    };
  }

  /**
   * For metrics: the rules with their priorities, those of rule sets replaced
   * since the start too (their alerts stay counted under their last priority).
   */
  get activeRules(): { name: string; priority: string }[] {
    const priority = new Map(this.retired.priority);
    for (const r of this.engine?.activeRules ?? []) priority.set(r.name, r.priority);
    return [...priority].map(([name, p]) => ({ name, priority: p }));
  }

  /**
   * The rules' counters since the agent started: a change of rule set starts
   * a new engine, and what the old ones counted is added, so the metrics'
   * counters never go back.
   */
  stats(): ReturnType<RulesTelemetry['stats']> {
    const st = this.engine?.stats();
    const matches = new Map(this.retired.matches);
    for (const [rule, n] of st?.matches ?? []) matches.set(rule, (matches.get(rule) ?? 0) + n);
    return { events: this.retired.events + (st?.events ?? 0), evaluations: this.retired.evaluations + (st?.evaluations ?? 0), matches };
  }

  /** Detaches the rules' own sensors (their last records go to the pipeline). */
  close(): void {
    const sensors = this.sensors;
    this.sensors = undefined;
    this.source.set(undefined);
    sensors?.close();
  }
}
