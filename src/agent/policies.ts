// The agent's TracingPolicies: those its configuration names and those added
// through the API, each enabled or disabled, all in one policy engine
// (started at the first policy). A change is one engine.add() or remove():
// the policy's programs are loaded (and verified) or detached; the others
// keep running untouched.
import { readFileSync } from 'node:fs';
import { expandPolicyPaths, loadPolicySources, PolicyLoadError, type PolicySource } from '../policy/loader.js';
import { compilePolicies } from '../policy/hooks.js';
import { PolicyEngine, type PolicyCounters } from '../policy/engine.js';
import { connectScopeRuntime } from '../policy/index.js';
import { PodScoper, podScopeOf } from '../policy/pod-scope.js';
import { startCompiled } from '../policy/index.js';
import type { CriMetadata } from '../process/cri.js';
import type { PolicyTelemetry } from '../telemetry/sources.js';
import type { CompiledPolicy, PolicyEvent } from '../policy/ir.js';
import type { PolicyDiagnostic } from '../policy/schema.js';
import type { ProcessLookup } from '../process/types.js';
import { SwappableSource } from './source.js';
import type { StoredPolicy } from './state.js';

export type Origin = 'config' | 'api';

export interface PolicyStatus {
  name: string;
  state: 'enabled' | 'disabled';
  origin: Origin;
  source: string;
  events: string;
  actions: string;
}

interface Entry {
  readonly policy: CompiledPolicy;
  readonly origin: Origin;
  readonly source: string;
  /** The text it was read from: a reload replaces a config policy only when its text changed. */
  readonly text: string;
  enabled: boolean;
}

/** A name the agent does not know, or knows already: the API's NOT_FOUND and ALREADY_EXISTS. */
export class PolicyStateError extends Error {
  override readonly name = 'PolicyStateError';
  constructor(readonly code: 'not_found' | 'exists', message: string) {
    super(message);
  }
}

export interface AgentPoliciesOptions {
  cache: ProcessLookup;
  onEvent(e: PolicyEvent): void;
  onLost(count: number): void;
  onBatchEnd(): void;
  onWarning(d: PolicyDiagnostic): void;
  /** The CRI runtime that names the pods of policies scoped to pods (a path, 'none', or undefined: a default socket). */
  criSocket?: string;
  /** The agent's own connection to that runtime, when it has one (names.ts): used instead of a second. */
  cri?(): CriMetadata | undefined;
  /** A note (a failed listing of the pods). */
  onNote?(message: string): void;
}

export class AgentPolicies implements PolicyTelemetry {
  /** The engine's ring, for the pipeline. */
  readonly source = new SwappableSource();
  private engine: PolicyEngine | undefined;
  private readonly entries = new Map<string, Entry>();
  /** A connection of its own to the pods' runtime, made when the agent has none to share. */
  private ownCri: CriMetadata | undefined;
  private scoper: PodScoper | undefined;

  constructor(private readonly o: AgentPoliciesOptions) {}

  private async ensureEngine(): Promise<PolicyEngine> {
    if (!this.engine) {
      this.engine = await PolicyEngine.start({
        onEvent: this.o.onEvent, onLost: this.o.onLost, onBatchEnd: this.o.onBatchEnd, cache: this.o.cache,
      });
      this.source.set(this.engine);
    }
    return this.engine;
  }

  /** Loads and compiles policies; a problem throws PolicyLoadError (file:line:col of each). */
  private async compile(sources: readonly PolicySource[]): Promise<{ policy: CompiledPolicy; source: PolicySource }[]> {
    const r = loadPolicySources(sources);
    for (const d of r.warnings) this.o.onWarning(d);
    if (!r.ok) throw new PolicyLoadError(r.diagnostics);
    const compiled = await compilePolicies(r.policies);
    return compiled.map((policy) => ({ policy, source: sources.find((s) => s.name === policy.spec.file) ?? sources[0]! }));
  }

  /** The pods' runtime and the scoper, connected at the first policy scoped to pods (tried again at the next while none answers). */
  private async ensureScoper(engine: PolicyEngine, p: CompiledPolicy): Promise<PodScoper | undefined> {
    if (this.scoper) return this.scoper;
    let cri = this.o.cri?.();
    if (!cri) cri = this.ownCri = await connectScopeRuntime([p], this.o.criSocket, this.o.onWarning);
    if (!cri) return undefined;
    this.scoper = new PodScoper(engine, cri, {
      onError: (e) => this.o.onNote?.(`pods of scoped policies: ${e.message}`),
      onChange: (name, ch) => {
        if (ch.full) this.o.onNote?.(`policy "${name}": ${ch.full} cgroups of its pods did not fit in the kernel's table; it does not apply in them`);
      },
    });
    return this.scoper;
  }

  private async load(p: CompiledPolicy): Promise<void> {
    const engine = await this.ensureEngine();
    await startCompiled(engine, p, podScopeOf(p) ? await this.ensureScoper(engine, p) : undefined);
  }

  private unload(name: string): void {
    this.scoper?.untrack(name);
    this.engine?.remove(name);
  }

  /** A process exec'd in this cgroup: a new one lists the pods again (policies scoped to pods). */
  noteExec(cgroupId: bigint): void {
    this.scoper?.noteCgroup(cgroupId);
  }

  /** Adds policies (all or none: one that fails to load takes back those added before it). Returns their names. */
  async add(sources: readonly PolicySource[], origin: Origin): Promise<string[]> {
    const compiled = await this.compile(sources);
    for (const { policy } of compiled) {
      if (this.entries.has(policy.name)) throw new PolicyStateError('exists', `policy "${policy.name}" is already loaded (delete it first)`);
    }
    const added: string[] = [];
    try {
      for (const { policy, source } of compiled) {
        await this.load(policy);
        this.entries.set(policy.name, { policy, origin, source: source.name, text: source.content, enabled: true });
        added.push(policy.name);
      }
    } catch (e) {
      for (const name of added) this.delete(name);
      throw e;
    }
    return added;
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new PolicyStateError('not_found', `no policy "${name}" (vigil policy list)`);
    return e;
  }

  delete(name: string): void {
    const e = this.entry(name);
    if (e.enabled) this.unload(name);
    this.entries.delete(name);
  }

  async enable(name: string): Promise<void> {
    const e = this.entry(name);
    if (e.enabled) return;
    await this.load(e.policy);
    e.enabled = true;
  }

  disable(name: string): void {
    const e = this.entry(name);
    if (!e.enabled) return;
    this.unload(name);
    e.enabled = false;
  }

  /** The policies in force (metrics: their counters are the engine's, per policy). */
  get names(): string[] {
    return this.engine?.names ?? [];
  }

  counters(name: string): PolicyCounters | undefined {
    return this.engine?.counters(name);
  }

  /** The policies added through the API, as the state keeps them. */
  stored(): StoredPolicy[] {
    return [...this.entries].filter(([, e]) => e.origin === 'api')
      .map(([name, e]) => ({ name, source: e.source, yaml: e.text, enabled: e.enabled }));
  }

  /**
   * Loads the policies the state kept (at start, after the configuration's):
   * each source's text once, then what was deleted from it since deleted
   * again and what was disabled disabled. One that no longer loads, or whose
   * name the configuration now uses, is left out: what was not restored is
   * returned, with why.
   */
  async restore(stored: readonly StoredPolicy[]): Promise<{ name: string; why: string }[]> {
    const skipped: { name: string; why: string }[] = [];
    const bySource = new Map<string, StoredPolicy[]>();
    for (const p of stored) {
      const key = JSON.stringify([p.source, p.yaml]);
      bySource.set(key, [...(bySource.get(key) ?? []), p]);
    }
    for (const group of bySource.values()) {
      const { source, yaml } = group[0]!;
      const wanted = new Map(group.map((p) => [p.name, p]));
      const taken = group.filter((p) => this.entries.has(p.name));
      for (const p of taken) skipped.push({ name: p.name, why: `the configuration has a policy "${p.name}"` });
      let compiled: { policy: CompiledPolicy; source: PolicySource }[];
      try {
        compiled = await this.compile([{ name: source, content: yaml }]);
      } catch (e) {
        for (const p of group) if (!taken.includes(p)) skipped.push({ name: p.name, why: (e as Error).message });
        continue;
      }
      for (const { policy } of compiled) {
        const p = wanted.get(policy.name);
        if (!p || this.entries.has(policy.name)) continue;
        try {
          if (p.enabled) await this.load(policy);
          this.entries.set(policy.name, { policy, origin: 'api', source, text: yaml, enabled: p.enabled });
        } catch (e) {
          skipped.push({ name: policy.name, why: (e as Error).message });
        }
      }
      for (const p of group) {
        if (!compiled.some((c) => c.policy.name === p.name) && !taken.includes(p)) skipped.push({ name: p.name, why: 'its source no longer defines it' });
      }
    }
    return skipped;
  }

  list(): PolicyStatus[] {
    return [...this.entries.entries()].map(([name, e]) => {
      const c = e.enabled ? this.engine?.counters(name) : undefined;
      const a = c?.actions;
      const actions = a ? a.sigkill + a.signal + a.deny + a.notifyEnforcer : 0n;
      return {
        name, state: e.enabled ? 'enabled' : 'disabled', origin: e.origin, source: e.source,
        events: String(c?.posted ?? 0n), actions: String(actions),
      };
    });
  }

  /**
   * The configuration's policies are now those in `paths` (a reload): a policy
   * no longer there is deleted, a new one added, one whose file changed
   * replaced. Policies added through the API stay.
   */
  async setConfigured(paths: readonly string[]): Promise<void> {
    const sources = expandPolicyPaths(paths).map((f) => ({ name: f, content: readFileSync(f, 'utf8') }));
    const compiled = await this.compile(sources);
    const wanted = new Map(compiled.map((c) => [c.policy.name, c]));
    for (const [name, e] of this.entries) {
      const w = wanted.get(name);
      if (e.origin === 'config' && (!w || w.source.content !== e.text)) this.delete(name);
    }
    const fresh = [...wanted.values()].filter((c) => !this.entries.has(c.policy.name)).map((c) => c.source);
    if (fresh.length) await this.add([...new Set(fresh)], 'config');
  }

  close(): void {
    this.scoper?.close();
    this.ownCri?.close();
    this.engine?.close();
    this.source.set(undefined);
  }
}
