// Policies scoped to pods (TracingPolicyNamespaced, podSelector,
// containerSelector): which cgroups their hooks run in. The kernel checks a
// scoped hook's task against the policy's set of cgroup v2 ids first thing
// (bpf/include/vigil/policy/hook.h, vg_out_of_scope); this keeps those sets
// current from a CRI runtime's pods and the cgroup v2 tree:
//
//   const scoper = new PodScoper(engine, cri);       // cri: CriMetadata
//   await engine.add(policy, { cgroups: scoper.cgroupsOf(policy.spec.scope) });
//   scoper.track(policy.name, policy.spec.scope);
//   scoper.noteCgroup(exec.process.cgroupId);       // an exec: a new cgroup lists again
//   scoper.close();
//
// A policy's set is every cgroup of the containers it selects: the
// container's own directory (found by its id in the path, as
// src/process/container.ts tells containers) and every directory below it
// (cgroups the container made, nested containers). The sets are made again
// every intervalMs, and at once (at most every minRefreshMs) when an exec
// comes from a cgroup the last walk did not see: a new container is covered
// from its first exec's listing on. A container that goes takes its
// directories with it: the next walk no longer finds them.
import { containerFromCgroupPath, walkCgroups, type CgroupDir } from '../process/container.js';
import { HOST } from '../process/types.js';
import type { CriContainer } from '../process/cri.js';
import type { CompiledPolicy, LabelSelector, PodScope } from './ir.js';

/**
 * The pods a dormant policy would run in once a CRI runtime names them; undefined when it is not
 * scoped, or cannot be yet (a uprobe with resolvePathInContainer names a file inside each container,
 * which is not resolved there: attached on the host's path it would hook the wrong file).
 */
export function podScopeOf(p: CompiledPolicy): PodScope | undefined {
  if (!p.dormant || !p.spec.scope) return undefined;
  if ((p.dormantHooks ?? []).some((h) => h.target.kind === 'uprobe' && h.target.inContainer)) return undefined;
  return p.spec.scope;
}

/** Kubernetes' label selector semantics: every requirement holds; an empty or absent selector selects everything. */
export function labelsMatch(sel: LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels)) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions) {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case 'In':
        if (!has || !e.values.includes(labels[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && e.values.includes(labels[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/**
 * Whether a scoped policy applies to a container: in its namespace, pod labels
 * matching podSelector, the container matching containerSelector (as
 * Tetragon, a container's one label is "name", its name). A pod's sandbox
 * (pause) is none of its containers.
 */
export function scopeSelects(scope: PodScope, c: CriContainer): boolean {
  if (c.sandbox) return false;
  if (scope.namespace !== undefined && c.pod.namespace !== scope.namespace) return false;
  if (!labelsMatch(scope.podSelector, c.pod.labels)) return false;
  return labelsMatch(scope.containerSelector, { name: c.name });
}

/**
 * Container id -> the cgroup ids of its directory and every directory below
 * it, from a walk of the tree (parents before children, as walkCgroups gives).
 */
export function containerCgroupIndex(dirs: readonly CgroupDir[]): Map<string, bigint[]> {
  const owners = new Map<string, readonly string[]>();
  const index = new Map<string, bigint[]>();
  for (const d of dirs) {
    const parent = d.path === '/' ? undefined : d.path.slice(0, Math.max(1, d.path.lastIndexOf('/')));
    const above = (parent !== undefined ? owners.get(parent) : undefined) ?? [];
    const c = containerFromCgroupPath(d.path);
    const mine = c !== HOST && !above.includes(c.id) ? [...above, c.id] : above;
    if (mine.length) owners.set(d.path, mine);
    for (const id of mine) {
      let l = index.get(id);
      if (!l) index.set(id, (l = []));
      l.push(d.id);
    }
  }
  return index;
}

/** The cgroup ids a scope covers, from a listing of containers and the index of the tree. Pure. */
export function scopeCgroups(scope: PodScope, containers: Iterable<CriContainer>, index: ReadonlyMap<string, readonly bigint[]>): Set<bigint> {
  const out = new Set<bigint>();
  for (const c of containers) {
    if (!scopeSelects(scope, c)) continue;
    for (const id of index.get(c.id) ?? []) out.add(id);
  }
  return out;
}

/** Where a scoped policy's cgroups go (PolicyEngine.setScope). */
export interface ScopeTarget {
  setScope(name: string, cgroups: ReadonlySet<bigint>): { added: number; removed: number; full: number };
}

/** Pods and containers as the runtime lists them (CriMetadata). */
export interface ScopeSource {
  refresh(): Promise<void>;
  containers(): Iterable<CriContainer>;
}

export interface PodScoperOptions {
  /** Made again at least this often (default 2000 ms). */
  intervalMs?: number;
  /** An exec from an unseen cgroup lists again, at most this often (default 200 ms). */
  minRefreshMs?: number;
  /** The cgroup v2 mount (default: found in /proc/self/mounts). */
  cgroupRoot?: string;
  /** A listing or walk that failed (the sets keep what they had, less the cgroups gone). */
  onError?(e: Error): void;
  /** A policy's set changed. */
  onChange?(name: string, change: { added: number; removed: number; full: number; size: number }): void;
}

export class PodScoper implements Disposable {
  private readonly scopes = new Map<string, PodScope>();
  private index = new Map<string, bigint[]>();
  /** Every cgroup the last walk saw. */
  private seen = new Set<bigint>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private last = 0;
  /** Refreshes done, those an exec from an unseen cgroup asked for, and failures. */
  readonly stats = { refreshes: 0, onExec: 0, failures: 0 };

  constructor(private readonly target: ScopeTarget, private readonly source: ScopeSource, private readonly o: PodScoperOptions = {}) {
    this.walk();
    this.timer = setInterval(() => void this.refresh(), o.intervalMs ?? 2000);
    this.timer.unref();
  }

  /** The cgroups a scope covers now (for PolicyEngine.add's cgroups). */
  cgroupsOf(scope: PodScope): Set<bigint> {
    return scopeCgroups(scope, this.source.containers(), this.index);
  }

  /** Keeps a loaded scoped policy's set current from now on. */
  track(name: string, scope: PodScope): void {
    this.scopes.set(name, scope);
  }

  untrack(name: string): void {
    this.scopes.delete(name);
  }

  get tracked(): number {
    return this.scopes.size;
  }

  /** A process exec'd in cgroup `id`: one the last walk did not see lists the runtime again (rate-limited). */
  noteCgroup(id: bigint): void {
    if (id === 0n || this.seen.has(id) || this.scopes.size === 0) return;
    if (this.inFlight || Date.now() - this.last < (this.o.minRefreshMs ?? 200)) return;
    this.stats.onExec++;
    void this.refresh();
  }

  /** Lists the runtime, walks the tree, writes every tracked policy's set. One at a time; never throws. */
  refresh(): Promise<void> {
    this.inFlight ??= (async () => {
      this.last = Date.now();
      try {
        await this.source.refresh();
      } catch (e) {
        this.stats.failures++;
        this.o.onError?.(e as Error);
      }
      try {
        this.walk();
        this.stats.refreshes++;
        for (const [name, scope] of this.scopes) {
          const want = this.cgroupsOf(scope);
          const ch = this.target.setScope(name, want);
          if (ch.added || ch.removed || ch.full) this.o.onChange?.(name, { ...ch, size: want.size - ch.full });
        }
      } catch (e) {
        this.stats.failures++;
        this.o.onError?.(e as Error);
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }

  private walk(): void {
    const dirs = walkCgroups(this.o.cgroupRoot);
    this.seen = new Set(dirs.map((d) => d.id));
    this.index = containerCgroupIndex(dirs);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.scopes.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
