// The TracingPolicy kernel engine: one loaded bpf/policy.bpf.c serves every
// policy. Adding a policy writes its hooks, selectors and filters into the
// object's arrays (values into per-filter inner maps) and attaches the
// generic programs with the hook's id as BPF cookie; removing it detaches and
// frees the same slots. Nothing is reloaded or restarted either way.
//
//   const engine = await PolicyEngine.start({ onEvent, cache });
//   await engine.add(compiled);           // live
//   engine.counters('sensitive-files');   // evaluated, matched, posted, ...
//   engine.remove('sensitive-files');     // live
//   engine.close();
//
// The object is loaded in parts, each part only when a policy first needs it
// (verification of every program takes seconds): the tracepoint programs at
// start, the process table (matchBinaries, follow*, namespace/capability
// changes), uprobes, and the cgroup sock_addr programs of Deny. The later
// parts are the same object file loaded again with the first part's maps.
import { readdirSync, readFileSync, readlinkSync, statSync, openSync, closeSync } from 'node:fs';
import { lookup as dnsLookup } from 'node:dns/promises';
import {
  BpfMap, ObjectSpec, PerCpuMap, RingBufferReader, TypedMap, closeAll, codec, cgroup2, ensureTracefs, type BpfObject, type Link,
  MapType, NotSupportedError, UpdateFlags, VerifierError, probeHelper, BpfError,
} from '../bpf/index.js';
import { bpfObjectPath } from '../util/paths.js';
import { BootClock } from '../util/clock.js';
import type { ProcessLookup } from '../process/types.js';
import type { CompiledPolicy, NamespaceKind, PolicyEvent, StackFrame } from './ir.js';
import { NAMESPACE_KINDS } from './ir.js';
import {
  planPolicy, prefilterFlags, prefilterKeys, type FilterValueSet, type PlannedAttachment, type PlannedHook,
  type PolicyPlan, type SockAddrProgram, type UserAction,
} from './plan.js';
import { decodePolicyRecord, toPolicyEvent, PolicyRecordError } from './events.js';
import { PrefilterCache } from './prefilter-cache.js';
import {
  vigilPolicyCounters, vigilPolicyDenySet, vigilPolicyTpHooks, vigilPolicyRawSys, VIGIL_POLICY_RAW_NRS, VIGIL_POLICY_MAX_TP,
  VIGIL_POLICY_TP_HOOKS, vigilPolicyFilter, vigilPolicyHook, vigilPolicyResolve, vigilPolicyProc, vigilPolicySelector,
  type VigilPolicyArg, type VigilPolicyCond, type VigilPolicyHook, type VigilPolicySelector,
  VIGIL_POLICY_ACT_DENY, VIGIL_POLICY_ACT_NOPOST, VIGIL_POLICY_ACT_NOTIFY_ENFORCER,
  VIGIL_POLICY_ACT_POST, VIGIL_POLICY_ACT_SIGKILL, VIGIL_POLICY_ACT_SIGNAL, VIGIL_POLICY_ARG_NONE,
  VIGIL_POLICY_COUNTER_SLOTS, VIGIL_POLICY_C_ACTIONS, VIGIL_POLICY_C_EVALUATED, VIGIL_POLICY_C_LOST,
  VIGIL_POLICY_C_MATCHED, VIGIL_POLICY_C_POSTED, VIGIL_POLICY_C_RATE_LIMITED, VIGIL_POLICY_LOC_NONE,
  VIGIL_POLICY_MAX_ACTIONS, VIGIL_POLICY_MAX_ARGS, VIGIL_POLICY_MAX_CONDS, VIGIL_POLICY_MAX_DENY,
  VIGIL_POLICY_MAX_FILTERS, VIGIL_POLICY_MAX_HOOKS, VIGIL_POLICY_MAX_POLICIES, VIGIL_POLICY_MAX_SELECTORS,
  VIGIL_POLICY_STACK_DEPTH, VIGIL_POLICY_STR_MAX, VIGIL_POLICY_HOOK_SCOPED, vigilPolicyScopeKey,
} from '../generated/policy.js';
import { Symbolizer, type Frame } from '../kernel/symbols/index.js';

export interface PolicyEngineOptions {
  /** Every posted event, decoded and enriched. */
  onEvent(e: PolicyEvent): void;
  /** Records the kernel could not deliver (ring full), counted in BPF. */
  onLost?(count: number): void;
  /** A record that could not be decoded (a bug if ever called). */
  onError?(e: Error): void;
  /** After each batch of records (flush output here). */
  onBatchEnd?(): void;
  /** Where events find their process and parent. */
  cache?: ProcessLookup;
  /** The cgroup v2 directory Deny's sock_addr programs attach to (default: the cgroup v2 root). */
  cgroupPath?: string;
  /** Ring buffer bytes (power of two). Default 4 MiB. */
  ringBytes?: number;
  pollIntervalMs?: number;
  /** Wake the reader only once this many bytes wait (0: every record). */
  wakeupBytes?: number;
}

/** Per-policy kernel counters, summed over CPUs. */
export interface PolicyCounters {
  /** Events whose selectors were evaluated (after the attachment's own conditions). */
  readonly evaluated: bigint;
  /** Events a selector matched. */
  readonly matched: bigint;
  /** Records sent to user space. */
  readonly posted: bigint;
  /** Posts skipped by rateLimit. */
  readonly rateLimited: bigint;
  /** Posts lost (ring full) or entries lost (stash full). */
  readonly lost: bigint;
  readonly actions: {
    readonly post: bigint; readonly noPost: bigint; readonly sigkill: bigint; readonly signal: bigint;
    readonly deny: bigint; readonly notifyEnforcer: bigint;
  };
}

/** Contiguous slots of one kernel array: first fit over free runs. */
class SlotAllocator {
  private free: { start: number; n: number }[];

  constructor(readonly size: number, readonly what: string) {
    this.free = [{ start: 0, n: size }];
  }

  alloc(n: number): number {
    if (n === 0) return 0;
    const i = this.free.findIndex((r) => r.n >= n);
    if (i < 0) throw new RangeError(`policy engine: no room for ${n} more ${this.what} (at most ${this.size})`);
    const r = this.free[i]!;
    const start = r.start;
    r.start += n;
    r.n -= n;
    if (r.n === 0) this.free.splice(i, 1);
    return start;
  }

  release(start: number, n: number): void {
    if (n === 0) return;
    this.free.push({ start, n });
    this.free.sort((a, b) => a.start - b.start);
    const merged: { start: number; n: number }[] = [];
    for (const r of this.free) {
      const last = merged[merged.length - 1];
      if (last && last.start + last.n === r.start) last.n += r.n;
      else merged.push({ ...r });
    }
    this.free = merged;
  }
}

interface LiveAttachment {
  readonly planned: PlannedAttachment;
  readonly id: number;
  readonly links: Link[];
  /** Raw tracepoints: the object loaded for this hook alone. */
  readonly objects: BpfObject[];
  /** The shared tracepoint attachments it is listed in (tpSlots keys). */
  readonly tracepoints: string[];
}

interface LiveHook {
  readonly planned: PlannedHook;
  readonly selStart: number;
  readonly filterRuns: { start: number; n: number }[];
  readonly attachments: LiveAttachment[];
}

interface LivePolicy {
  readonly name: string;
  readonly slot: number;
  readonly plan: PolicyPlan;
  readonly hooks: LiveHook[];
  /** Scoped to pods: its hooks run only in the cgroups of `cgroups` (scope_cgroups). */
  readonly scoped: boolean;
  /** The cgroup ids written to scope_cgroups for it. */
  readonly cgroups: Set<bigint>;
}

/** What setScope() did. */
export interface ScopeChange {
  readonly added: number;
  readonly removed: number;
  /** Cgroups that did not fit in scope_cgroups (VIGIL_POLICY_MAX_SCOPED): the policy does not apply in them. */
  readonly full: number;
}

type Part = 'procs' | 'uprobes' | 'deny' | 'kprobes' | 'kprobeOverride' | 'rawSyscalls';
const PART_PROGRAMS: Record<Part | 'core', string[]> = {
  core: ['policy_tp', 'policy_sys_exit', 'policy_tree_moved'],
  procs: ['policy_proc_exec', 'policy_proc_fork', 'policy_proc_exit'],
  uprobes: ['policy_uprobe', 'policy_uretprobe'],
  kprobes: ['policy_kprobe', 'policy_kretprobe'],
  // Loaded only where a policy overrides a kprobe: bpf_override_return fails the load elsewhere.
  kprobeOverride: ['policy_kprobe_override'],
  deny: ['policy_connect4', 'policy_connect6', 'policy_sendmsg4', 'policy_sendmsg6'],
  // Syscalls without a tracepoint of their own: raw_syscalls as raw tracepoints (every other
  // syscall of the host leaves after a bit test, no record filled).
  rawSyscalls: ['policy_rawenter', 'policy_rawexit'],
};

/** The parts of the object a plan needs. */
function neededParts(plan: PolicyPlan): Part[] {
  const want: [boolean, Part][] = [[plan.needsProcs, 'procs'], [plan.needsUprobes, 'uprobes'], [plan.needsKprobes, 'kprobes'],
    [plan.needsKprobeOverride, 'kprobeOverride'], [plan.needsDeny, 'deny'], [plan.needsRawSyscalls, 'rawSyscalls']];
  return want.filter(([need]) => need).map(([, p]) => p);
}

const PORTABLE_HINT = 'serve the kernel hooks by their portable equivalents (--portable-hooks, VIGIL_PORTABLE_HOOKS=1)';

/** What a part serves, and how to go without it, for a load failure's message. */
const PART_ROLE: Record<Part, { stage: string; turnOff: string }> = {
  procs: { stage: 'the process table (matchBinaries, follow*, namespace and capability changes)', turnOff: 'drop those selectors' },
  uprobes: { stage: 'uprobe hooks', turnOff: 'drop the uprobes' },
  kprobes: { stage: 'kprobe hooks', turnOff: PORTABLE_HINT },
  kprobeOverride: { stage: 'Override on kprobes', turnOff: 'use Sigkill, or an LSM hook' },
  deny: { stage: 'Deny (cgroup sock_addr programs)', turnOff: 'drop the Deny actions' },
  rawSyscalls: { stage: 'syscalls served by raw_syscalls (raw tracepoints)', turnOff: 'drop the hooks on syscalls without a tracepoint' },
};

const VALUE_MAPS = ['values_int', 'values_str', 'values_prefix', 'values_cidr4', 'values_cidr6', 'values_ports',
  'values_range'] as const;

const NS_FILES: Readonly<Record<NamespaceKind, string>> = {
  Uts: 'uts', Ipc: 'ipc', Mnt: 'mnt', Pid: 'pid', PidForChildren: 'pid_for_children', Net: 'net', Time: 'time',
  TimeForChildren: 'time_for_children', Cgroup: 'cgroup', User: 'user',
};

/** The inode of a process's namespace of a kind (0n when it cannot be read). */
export function namespaceInode(pid: number | 'self', kind: NamespaceKind): bigint {
  try {
    return statSync(`/proc/${pid}/ns/${NS_FILES[kind]}`, { bigint: true }).ino;
  } catch {
    return 0n;
  }
}

/**
 * The initial namespaces' inodes that the kernel fixes (include/linux/proc_ns.h,
 * since Linux 3.8); the initial net and mount namespaces got fixed numbers only
 * recently, so they are not assumed.
 */
const INIT_NS_INODES: Partial<Record<NamespaceKind, bigint>> = {
  Ipc: 0xefffffffn, Uts: 0xeffffffen, User: 0xeffffffdn, Pid: 0xeffffffcn, PidForChildren: 0xeffffffcn,
  Cgroup: 0xeffffffbn, Time: 0xeffffffan, TimeForChildren: 0xeffffffan,
};

/**
 * The host's namespace of a kind (host_ns, isNamespaceCapability): pid 1's;
 * where pid 1's cannot be read (a sandbox hides it), the kernel's fixed
 * initial inode, and for net and mnt the agent's own.
 */
export function hostNamespaceInode(kind: NamespaceKind): bigint {
  return namespaceInode(1, kind) || INIT_NS_INODES[kind] || namespaceInode('self', kind);
}

/** A policy scoped to pods (TracingPolicyNamespaced, podSelector, containerSelector): its hooks carry HOOK_SCOPED whoever adds it. */
function isScoped(policy: CompiledPolicy): boolean {
  return policy.dormant !== undefined || policy.spec.dormant !== undefined || policy.spec.scope !== undefined;
}

/** The kernel refused a program a policy needs: names the policy, the hook, the program and the verifier's line. */
export class PolicyLoadError extends Error {
  override readonly name = 'PolicyLoadError';
}

export class PolicyEngine implements Disposable {
  private readonly spec: ObjectSpec;
  private readonly parts = new Map<Part, BpfObject>();
  /** Parts loaded by check() only (never attached). */
  private readonly checked = new Map<Part, BpfObject>();
  private readonly partLinks: Link[] = [];
  private denyLinks: Link[] = [];
  private readonly policies = new Map<string, LivePolicy>();
  private readonly byHookId = new Map<number, { policy: LivePolicy; hook: LiveHook; attachment: LiveAttachment }>();
  private readonly hookIds = new SlotAllocator(VIGIL_POLICY_MAX_HOOKS, 'hooks');
  private readonly selectorSlots = new SlotAllocator(VIGIL_POLICY_MAX_SELECTORS, 'selectors');
  private readonly filterSlots = new SlotAllocator(VIGIL_POLICY_MAX_FILTERS, 'filters');
  private readonly policySlots = new SlotAllocator(VIGIL_POLICY_MAX_POLICIES, 'policies');
  private readonly denyHooks: { id: number; kinds: number }[] = [];
  /** Tracepoint attachments shared by the hooks on one tracepoint: "prog cat/event" -> slot. */
  private readonly tpSlots = new Map<string, { slot: number; link: Link | undefined; hooks: number[] }>();
  private readonly tpSlotIds = new SlotAllocator(VIGIL_POLICY_MAX_TP, 'tracepoint attachments');
  /** Kernel hooks on raw_syscalls: the syscall number each waits for. */
  private readonly rawSyscallNr = new Map<number, number>();
  private reader: RingBufferReader | undefined;
  private readonly clock = BootClock.measure();
  private symbolizer: Symbolizer | undefined;
  private lostTotal = 0;
  private closed = false;
  /** Records of hooks already removed (dropped), and records that did not decode. */
  /** records read; dropped (hook gone); malformed; celRejected (posted, then refused by the selector's matchCEL). */
  /** scopeFull: cgroups of scoped policies that did not fit in the kernel's table (VIGIL_POLICY_MAX_SCOPED). */
  readonly stats = { records: 0, dropped: 0, malformed: 0, celRejected: 0, scopeFull: 0 };

  private readonly pfCache: PrefilterCache;

  private constructor(private readonly core: BpfObject, private readonly opts: PolicyEngineOptions) {
    this.spec = core.spec;
    this.pfCache = new PrefilterCache(core);
  }

  /** Loads the engine's tracepoint programs and starts reading events. No policy yet. */
  static async start(opts: PolicyEngineOptions): Promise<PolicyEngine> {
    const tracefs = ensureTracefs();
    if (!tracefs.path) {
      throw new NotSupportedError('tracefs', `the policy engine attaches tracepoints: ${tracefs.reason ?? 'not mounted'}`);
    }
    const loop = await probeHelper('bpf_loop');
    if (loop.status === 'unsupported') {
      throw new NotSupportedError('bpf_loop', `the policy engine walks selectors and filters with it: ${loop.reason}`, '5.17');
    }
    const spec = ObjectSpec.fromFile(bpfObjectPath('policy'));
    const core = await spec.load({
      programs: PART_PROGRAMS.core,
      constants: { vigil_wakeup_bytes: BigInt(opts.wakeupBytes ?? 0) },
      maxEntries: { events: opts.ringBytes ?? 4 << 20 },
    });
    const engine = new PolicyEngine(core, opts);
    try {
      engine.reader = RingBufferReader.open(core.map('events'), {
        lostCounter: core.map('vigil_lost'),
        pollIntervalMs: opts.pollIntervalMs ?? 50,
        onRecord: (view, offset, size) => engine.onRecord(view, offset, size),
        onBatchEnd: opts.onBatchEnd ? () => opts.onBatchEnd?.() : undefined,
        onLost: (n) => {
          engine.lostTotal += n;
          opts.onLost?.(n);
        },
      });
    } catch (e) {
      engine.close();
      throw e;
    }
    return engine;
  }

  /** Names of the policies loaded. */
  get names(): string[] {
    return [...this.policies.keys()];
  }

  has(name: string): boolean {
    return this.policies.has(name);
  }

  /** Events lost since start (ring full). */
  get lost(): number {
    return this.lostTotal;
  }

  /** Which kernel hook ids (BPF cookies) serve a policy: for tests and `vigil policy` status. */
  hookIdsOf(name: string): number[] {
    const p = this.policies.get(name);
    return p ? p.hooks.flatMap((h) => h.attachments.map((a) => a.id)) : [];
  }

  // -------------------------------------------------------------------------
  // Parts of the object

  /** The core object's maps, for another load of the object file to share. */
  private sharedMaps(): Record<string, BpfMap> {
    const reuseMaps: Record<string, BpfMap> = {};
    for (const [name, m] of this.core.maps) {
      if (!this.spec.maps.get(name)?.internal) reuseMaps[name] = m;
    }
    return reuseMaps;
  }

  private async part(p: Part): Promise<BpfObject> {
    const have = this.parts.get(p);
    if (have) return have;
    const obj = await this.spec.load({
      programs: PART_PROGRAMS[p],
      constants: { vigil_wakeup_bytes: BigInt(this.opts.wakeupBytes ?? 0) },
      reuseMaps: this.sharedMaps(),
    });
    this.parts.set(p, obj);
    if (p === 'procs') {
      try {
        // Fork and exit first: an exec's entry is then never missed by a fork.
        this.partLinks.push(obj.program('policy_proc_fork').attachRawTracepoint('sched_process_fork'));
        this.partLinks.push(obj.program('policy_proc_exit').attachTracepoint('sched', 'sched_process_exit'));
        this.partLinks.push(obj.program('policy_proc_exec').attachTracepoint('sched', 'sched_process_exec'));
      } catch (e) {
        obj.close();
        this.parts.delete(p);
        throw e;
      }
      this.seedProcs();
    }
    return obj;
  }

  /**
   * The process table gets the processes already running, from /proc (their
   * "exec-time" namespaces and capabilities are today's): followChildren then
   * knows the ancestors of later events. Entries the kernel made meanwhile win.
   */
  private seedProcs(): void {
    const procs = new TypedMap(this.core.map('procs'), codec.u32, vigilPolicyProc);
    const hz = 100n;
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const pid = Number(d);
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'latin1');
        const field = (k: string): string => new RegExp(`^${k}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '0';
        if (Number(field('Tgid')) !== pid) continue;
        let exe = '';
        try {
          exe = readlinkSync(`/proc/${pid}/exe`);
        } catch {
          /* a kernel thread */
        }
        if (exe.endsWith(' (deleted)')) exe = exe.slice(0, -' (deleted)'.length);
        const bin = new Uint8Array(VIGIL_POLICY_STR_MAX);
        const b = Buffer.from(exe, 'utf8');
        bin.set(b.subarray(0, VIGIL_POLICY_STR_MAX - 1));
        const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const startTicks = BigInt(rest[19] ?? '0');
        procs.set(pid, {
          start_boottime: startTicks * (1_000_000_000n / hz),
          caps: [BigInt(`0x${field('CapEff')}`), BigInt(`0x${field('CapPrm')}`), BigInt(`0x${field('CapInh')}`)],
          ns: NAMESPACE_KINDS.map((k) => Number(namespaceInode(pid, k))),
          ppid: Number(field('PPid')),
          bin_len: b.length > VIGIL_POLICY_STR_MAX - 1 ? VIGIL_POLICY_STR_MAX : b.length,
          flags: 0,
          bin,
        }, UpdateFlags.noexist);
      } catch {
        /* gone, or already known to the kernel (EEXIST) */
      }
    }
  }

  private async ensureDenyAttached(): Promise<void> {
    if (this.denyLinks.length) return;
    const obj = await this.part('deny');
    const st = cgroup2(true);
    const dir = this.opts.cgroupPath ?? st.path;
    if (!dir) throw new NotSupportedError('cgroup2', `Deny attaches to a cgroup v2 directory: ${st.reason ?? 'not mounted'}`);
    const fd = openSync(dir, 'r');
    try {
      for (const p of ['connect4', 'connect6', 'sendmsg4', 'sendmsg6'] as SockAddrProgram[]) {
        this.denyLinks.push(obj.program(`policy_${p}`).attachCgroup(fd, dir));
      }
    } catch (e) {
      for (const l of this.denyLinks) l.close();
      this.denyLinks = [];
      throw e;
    } finally {
      closeSync(fd);
    }
  }

  private writeDenySet(): void {
    const m = new TypedMap(this.core.map('deny_set'), codec.u32, vigilPolicyDenySet);
    const hooks = new Array<number>(VIGIL_POLICY_MAX_DENY).fill(0);
    const kinds = new Array<number>(VIGIL_POLICY_MAX_DENY).fill(0);
    this.denyHooks.forEach((d, i) => {
      hooks[i] = d.id;
      kinds[i] = d.kinds;
    });
    m.set(0, { count: this.denyHooks.length, pad: 0, hooks, kinds });
  }

  // -------------------------------------------------------------------------
  // add / remove

  /**
   * Programs and attaches a policy, live. Throws (and leaves nothing behind)
   * when the policy cannot run here: PolicyPlanError / NotSupportedError name
   * the hook, the selector and the reason.
   */
  async add(policy: CompiledPolicy, o: { cgroups?: Iterable<bigint> } = {}): Promise<void> {
    if (this.closed) throw new Error('policy engine is closed');
    if (this.policies.has(policy.name)) throw new Error(`policy ${policy.name} is already loaded`);
    const hostNs = new Map<NamespaceKind, bigint>();
    const plan = planPolicy(policy, {
      hostNamespace: (k) => {
        let v = hostNs.get(k);
        if (v === undefined) hostNs.set(k, (v = hostNamespaceInode(k)));
        return v;
      },
    });
    const named = (stage: string, turnOff: string) => (e: unknown): never => {
      throw e instanceof VerifierError
        ? new PolicyLoadError(`policy ${policy.name}: ${stage}: program ${e.programName ?? '?'} refused by the ` +
          `verifier: ${e.summary}; to go without it, ${turnOff}`, { cause: e })
        : e;
    };
    for (const p of neededParts(plan)) {
      if (p !== 'deny') await this.part(p).catch(named(PART_ROLE[p].stage, PART_ROLE[p].turnOff));
    }
    if (plan.needsDeny) {
      if (this.denyHooks.length + plan.hooks.reduce((n, h) => n + h.attachments.filter((a) => a.attach.kind === 'deny').length, 0) >
        VIGIL_POLICY_MAX_DENY) {
        throw new RangeError(`policy ${policy.name}: more than ${VIGIL_POLICY_MAX_DENY} Deny hooks in all`);
      }
      await this.ensureDenyAttached().catch(named(PART_ROLE.deny.stage, PART_ROLE.deny.turnOff));
    }
    const slot = this.policySlots.alloc(1);
    const live: LivePolicy = { name: policy.name, slot, plan, hooks: [], scoped: isScoped(policy), cgroups: new Set() };
    try {
      this.zeroCounters(slot);
      // A scoped policy's cgroups before its hooks: from its first event on, it runs only there.
      if (live.scoped && o.cgroups) this.writeScope(live, new Set(o.cgroups));
      for (const ph of plan.hooks) live.hooks.push(this.programHook(live, ph));
      // Everything is written: now attach (an event can only find complete configuration).
      for (const h of live.hooks) {
        for (const a of h.attachments) {
          await this.attach(a).catch(named(`hook ${h.planned.hook.functionName} (${a.planned.attachment.label})`,
            a.planned.attach.kind === 'fentry' || a.planned.attach.kind === 'fexit' || a.planned.attach.kind === 'lsm'
              ? PORTABLE_HINT : 'drop this hook'));
        }
      }
    } catch (e) {
      this.teardown(live);
      throw e;
    }
    this.policies.set(policy.name, live);
    for (const h of live.hooks) {
      for (const a of h.attachments) this.byHookId.set(a.id, { policy: live, hook: h, attachment: a });
    }
    const denies = live.hooks.flatMap((h) => h.attachments.filter((a) => a.planned.attach.kind === 'deny'));
    if (denies.length) {
      for (const a of denies) this.denyHooks.push({ id: a.id, kinds: (a.planned.attach as { kinds: number }).kinds });
      this.writeDenySet();
    }
  }

  /**
   * Loads a policy into the kernel without attaching anything, then unloads
   * it: the plan, the programs it needs (the verifier runs on them: the
   * fentry, fexit and LSM programs once per hooked function, which must
   * exist with a BTF type), the configuration written to the maps. Nothing
   * runs, so nothing is observed or enforced. Throws what add() would.
   */
  async check(policy: CompiledPolicy): Promise<void> {
    if (this.closed) throw new Error('policy engine is closed');
    const plan = planPolicy(policy, { hostNamespace: hostNamespaceInode });
    for (const p of neededParts(plan)) await this.partLoaded(p);
    const slot = this.policySlots.alloc(1);
    const live: LivePolicy = { name: policy.name, slot, plan, hooks: [], scoped: isScoped(policy), cgroups: new Set() };
    try {
      for (const ph of plan.hooks) live.hooks.push(this.programHook(live, ph));
      for (const h of live.hooks) {
        for (const a of h.attachments) {
          const at = a.planned.attach;
          if (at.kind === 'fentry' || at.kind === 'fexit' || at.kind === 'lsm') a.objects.push(await this.loadTracing(a.id, at));
        }
      }
    } finally {
      this.teardown(live);
    }
  }

  /** A part's programs loaded (verified), for check(): nothing is attached. */
  private async partLoaded(p: Part): Promise<void> {
    if (this.parts.has(p) || this.checked.has(p)) return;
    const obj = await this.spec.load({
      programs: PART_PROGRAMS[p],
      constants: { vigil_wakeup_bytes: BigInt(this.opts.wakeupBytes ?? 0) },
      reuseMaps: this.sharedMaps(),
    });
    this.checked.set(p, obj);
  }

  /** An fentry, fexit or LSM program loaded for one hook: its target and its id are fixed at load. */
  private async loadTracing(id: number, at: { kind: 'fentry' | 'fexit' | 'lsm'; function?: string; hook?: string }): Promise<BpfObject> {
    const prog = `policy_${at.kind}`;
    return this.spec.load({
      programs: [prog],
      constants: { vigil_wakeup_bytes: BigInt(this.opts.wakeupBytes ?? 0), raw_tp_hook: id },
      attachTargets: { [prog]: (at.kind === 'lsm' ? at.hook : at.function) ?? '' },
      reuseMaps: this.sharedMaps(),
    });
  }

  /** Whether a policy is loaded scoped to pods (its hooks run only in the cgroups setScope() gives it). */
  isScoped(name: string): boolean {
    return this.policies.get(name)?.scoped ?? false;
  }

  /**
   * The cgroups a scoped policy's hooks run in are now `cgroups` (cgroup v2
   * ids), live: the difference is written. Throws for a policy that is not
   * loaded or not scoped (a policy for the whole host is never narrowed or
   * widened here).
   */
  setScope(name: string, cgroups: ReadonlySet<bigint>): ScopeChange {
    const live = this.policies.get(name);
    if (!live) throw new Error(`no policy ${name}`);
    if (!live.scoped) throw new Error(`policy ${name} is not scoped to pods`);
    return this.writeScope(live, cgroups);
  }

  /** The cgroups written for a scoped policy. */
  scopeOf(name: string): ReadonlySet<bigint> | undefined {
    return this.policies.get(name)?.cgroups;
  }

  private writeScope(live: LivePolicy, want: ReadonlySet<bigint>): ScopeChange {
    const m = new TypedMap(this.core.map('scope_cgroups'), vigilPolicyScopeKey, codec.u8);
    const key = (cgroup: bigint) => ({ policy: live.slot, pad: 0, cgroup });
    let added = 0;
    let removed = 0;
    let full = 0;
    for (const id of [...live.cgroups]) {
      if (want.has(id)) continue;
      m.delete(key(id));
      live.cgroups.delete(id);
      removed++;
    }
    for (const id of want) {
      if (live.cgroups.has(id)) continue;
      try {
        m.set(key(id), 1);
      } catch (e) {
        if (!(e instanceof BpfError && e.errno === 7)) throw e; // E2BIG: the table is full
        full++;
        continue;
      }
      live.cgroups.add(id);
      added++;
    }
    this.stats.scopeFull += full;
    return { added, removed, full };
  }

  /** Detaches a policy and frees its slots, live. false when no such policy. */
  remove(name: string): boolean {
    const live = this.policies.get(name);
    if (!live) return false;
    this.policies.delete(name);
    this.teardown(live);
    return true;
  }

  private programHook(live: LivePolicy, ph: PlannedHook): LiveHook {
    const selStart = this.selectorSlots.alloc(ph.selectors.length);
    const hook: LiveHook = { planned: ph, selStart, filterRuns: [], attachments: [] };
    const selectors = new TypedMap(this.core.map('selectors'), codec.u32, vigilPolicySelector);
    const filters = new TypedMap(this.core.map('filters'), codec.u32, vigilPolicyFilter);
    try {
      ph.selectors.forEach((sel, i) => {
        const start = this.filterSlots.alloc(sel.filters.length);
        hook.filterRuns.push({ start, n: sel.filters.length });
        sel.filters.forEach((f, j) => {
          const id = start + j;
          this.writeValues(id, f.values);
          filters.set(id, { ...f.kernel, id });
        });
        const actions = [...sel.actions];
        while (actions.length < VIGIL_POLICY_MAX_ACTIONS) actions.push({ kind: 0, signal: 0, rate_ns: 0n, scope: 0, flags: 0, error: 0, pad: 0 });
        const kernel: VigilPolicySelector = {
          first_filter: start, nfilters: sel.filters.length, nactions: sel.actions.length, index: sel.index, actions,
        };
        selectors.set(selStart + i, kernel);
      });
      for (const pa of ph.attachments) {
        const id = this.hookIds.alloc(1);
        hook.attachments.push({ planned: pa, id, links: [], objects: [], tracepoints: [] });
        const args: VigilPolicyArg[] = [...pa.kernel.args];
        while (args.length < VIGIL_POLICY_MAX_ARGS) args.push(noArg());
        const conds: VigilPolicyCond[] = [...pa.kernel.conds];
        while (conds.length < VIGIL_POLICY_MAX_CONDS) conds.push({ where: noArg(), test: 0, op: 0, protocol: 0, pad: 0, value: 0n, families: 0n });
        const k: VigilPolicyHook = {
          policy: live.slot, flags: pa.kernel.flags | (live.scoped ? VIGIL_POLICY_HOOK_SCOPED : 0), source: pa.kernel.source, nargs: pa.kernel.args.length,
          first_selector: selStart, nselectors: ph.selectors.length, nconds: pa.kernel.conds.length,
          prefilter: prefilterFlags(pa.kernel.prefilter), args, conds, ret: pa.kernel.ret ?? noArg(),
        };
        // Resolve paths first: the hook may fire as soon as its slot is written.
        const resolve = new TypedMap(this.core.map('arg_resolve'), codec.u32, vigilPolicyResolve);
        pa.kernel.resolve?.forEach((p, slot) => {
          if (p) resolve.set(id << 3 | slot, p);
        });
        // The components first: the hook may run as soon as it is written.
        if (pa.kernel.prefilter) {
          const m = this.core.map('prefilter');
          for (const key of prefilterKeys(id, pa.kernel.prefilter)) m.update(key, Buffer.from([1]));
        }
        new TypedMap(this.core.map('hooks'), codec.u32, vigilPolicyHook).set(id, k);
        if (pa.kernel.prefilter) this.pfCache.changed();
      }
    } catch (e) {
      this.teardownHook(hook);
      throw e;
    }
    return hook;
  }

  /** One inner map per value kind the filter uses, in the outer map at the filter's id. */
  private writeValues(id: number, v: FilterValueSet): void {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(id);
    const put = (outer: string, inner: BpfMap, fill: (m: BpfMap) => void): void => {
      try {
        fill(inner);
        const fd = Buffer.alloc(4);
        fd.writeUInt32LE(inner.fd);
        this.core.map(outer).update(key, fd);
      } finally {
        inner.close(); // the outer map holds it now
      }
    };
    const one = Buffer.from([1]);
    const mk = (name: string, type: number, keySize: number, valueSize: number, n: number, flags: number): BpfMap =>
      BpfMap.create({ name: `vp_${name}_${id}`.slice(0, 15), type, keySize, valueSize, maxEntries: Math.max(1, n), flags });
    const NO_PREALLOC = 1;
    if (v.int?.length) {
      put('values_int', mk('int', MapType.hash, 8, 1, v.int.length, NO_PREALLOC), (m) => {
        for (const x of v.int!) {
          const k = Buffer.alloc(8);
          k.writeBigUInt64LE(BigInt.asUintN(64, x));
          m.update(k, one);
        }
      });
    }
    if (v.str?.length) {
      put('values_str', mk('str', MapType.hash, VIGIL_POLICY_STR_MAX, 1, v.str.length, NO_PREALLOC), (m) => {
        for (const s of v.str!) {
          const k = Buffer.alloc(VIGIL_POLICY_STR_MAX);
          k.set(s);
          m.update(k, one);
        }
      });
    }
    if (v.prefix?.length) {
      put('values_prefix', mk('pfx', MapType.lpm_trie, 4 + VIGIL_POLICY_STR_MAX, 1, v.prefix.length, NO_PREALLOC), (m) => {
        for (const s of v.prefix!) {
          const k = Buffer.alloc(4 + VIGIL_POLICY_STR_MAX);
          k.writeUInt32LE(s.length * 8);
          k.set(s, 4);
          m.update(k, one);
        }
      });
    }
    for (const [name, list, bytes] of [['values_cidr4', v.cidr4, 4], ['values_cidr6', v.cidr6, 16]] as const) {
      if (!list?.length) continue;
      put(name, mk(name.slice(-5), MapType.lpm_trie, 4 + bytes, 1, list.length, NO_PREALLOC), (m) => {
        for (const c of list) {
          const k = Buffer.alloc(4 + bytes);
          k.writeUInt32LE(c.prefixlen);
          k.set(c.addr.subarray(0, bytes), 4);
          m.update(k, one);
        }
      });
    }
    if (v.ports?.length) {
      const words = new BigUint64Array(1024);
      for (const r of v.ports) {
        for (let p = r.lo; p <= r.hi; p++) words[p >> 6]! |= 1n << BigInt(p & 63);
      }
      put('values_ports', mk('ports', MapType.array, 4, 8, 1024, 0), (m) => {
        const entries: [Uint8Array, Uint8Array][] = [];
        words.forEach((w, i) => {
          if (!w) return;
          const k = Buffer.alloc(4);
          k.writeUInt32LE(i);
          const val = Buffer.alloc(8);
          val.writeBigUInt64LE(w);
          entries.push([k, val]);
        });
        m.updateBatch(entries);
      });
    }
    if (v.ranges?.length) {
      put('values_range', mk('range', MapType.array, 4, 16, 64, 0), (m) => {
        v.ranges!.forEach((r, i) => {
          const k = Buffer.alloc(4);
          k.writeUInt32LE(i);
          const val = Buffer.alloc(16);
          val.writeBigUInt64LE(BigInt.asUintN(64, r.lo), 0);
          val.writeBigUInt64LE(BigInt.asUintN(64, r.hi), 8);
          m.update(k, val);
        });
      });
    }
  }

  private async attach(a: LiveAttachment): Promise<void> {
    const cookie = BigInt(a.id);
    const at = a.planned.attach;
    if (at.kind === 'fentry' || at.kind === 'fexit' || at.kind === 'lsm') {
      // The target is fixed at load: one load of the program per hook, its id a constant.
      const prog = `policy_${at.kind}`;
      const obj = await this.loadTracing(a.id, at);
      a.objects.push(obj);
      a.links.push(at.kind === 'lsm' ? obj.program(prog).attachLsm() : obj.program(prog).attachTrace());
      return;
    }
    if (at.kind === 'kprobe') {
      const obj = this.parts.get(at.override ? 'kprobeOverride' : 'kprobes');
      const ret = this.parts.get('kprobes');
      if (!obj || !ret) throw new Error('kprobe part not loaded');
      // The return first: an entry stashed for its return always has one.
      if (at.withReturn) a.links.push(ret.program('policy_kretprobe').attachKprobe(at.function, { retprobe: true, cookie }));
      a.links.push(obj.program(at.override ? 'policy_kprobe_override' : 'policy_kprobe').attachKprobe(at.function, { cookie }));
      return;
    }
    if (at.kind === 'raw_tracepoint') {
      const obj = await this.spec.load({
        programs: ['policy_raw_tp'],
        constants: { vigil_wakeup_bytes: BigInt(this.opts.wakeupBytes ?? 0), raw_tp_hook: a.id },
        reuseMaps: this.sharedMaps(),
      });
      a.objects.push(obj);
      a.links.push(obj.program('policy_raw_tp').attachRawTracepoint(at.event));
      return;
    }
    if (at.kind === 'tracepoint') {
      // The exit first: an entry stashed for its exit always has one.
      if (at.exit) this.joinTracepoint('policy_sys_exit', at.exit.category, at.exit.event, a);
      if (at.enter) this.joinTracepoint('policy_tp', at.enter.category, at.enter.event, a);
    } else if (at.kind === 'uprobe') {
      const obj = this.parts.get('uprobes');
      if (!obj) throw new Error('uprobe part not loaded');
      const where = at.symbol ? { symbol: at.symbol } : { offset: at.offset ?? 0 };
      if (at.withReturn) a.links.push(obj.program('policy_uretprobe').attachUprobe({ binary: at.binary, ...where, retprobe: true, cookie }));
      a.links.push(obj.program('policy_uprobe').attachUprobe({ binary: at.binary, ...where, cookie }));
    }
    // deny: the cgroup programs read deny_set, written once the policy is complete.
  }

  /**
   * A tracepoint runs a program once: the hooks on one tracepoint share one
   * attachment, whose cookie indexes the list of their ids (tp_hooks).
   */
  private joinTracepoint(prog: string, category: string, event: string, a: LiveAttachment): void {
    // A syscall without a tracepoint of its own is served by raw_syscalls' raw tracepoints (the
    // raw syscall programs); a policy's own tracepoint on raw_syscalls by the tracepoint, whose
    // record the kernel fills.
    const att = a.planned.attachment;
    const raw = att.kind === 'syscall' && att.raw;
    const key = tpKey(prog, category, event, raw);
    let t = this.tpSlots.get(key);
    const fresh = !t;
    if (!t) {
      t = { slot: this.tpSlotIds.alloc(1), link: undefined, hooks: [] };
      this.tpSlots.set(key, t);
    }
    if (t.hooks.length >= VIGIL_POLICY_TP_HOOKS) {
      throw new RangeError(`${category}/${event}: more than ${VIGIL_POLICY_TP_HOOKS} hooks on one tracepoint`);
    }
    t.hooks.push(a.id);
    // A syscall served by raw_syscalls: the kernel skips the other syscalls by number first.
    if (raw && att.nr !== undefined) this.rawSyscallNr.set(a.id, att.nr);
    a.tracepoints.push(key);
    this.writeTpHooks(t.slot, t.hooks);
    if (fresh) {
      try {
        t.link = raw ? this.attachRawSyscalls(prog, event) :
          this.core.program(prog).attachTracepoint(category, event, { cookie: BigInt(t.slot) });
      } catch (e) {
        this.leaveTracepoint(key, a.id);
        throw e;
      }
    }
  }

  private leaveTracepoint(key: string, id: number): void {
    const t = this.tpSlots.get(key);
    if (!t) return;
    t.hooks = t.hooks.filter((h) => h !== id);
    if (t.hooks.length === 0) {
      t.link?.close();
      this.writeTpHooks(t.slot, []);
      this.tpSlots.delete(key);
      this.tpSlotIds.release(t.slot, 1);
    } else {
      this.writeTpHooks(t.slot, t.hooks);
    }
  }

  private writeTpHooks(slot: number, ids: readonly number[]): void {
    const hooks = new Array<number>(VIGIL_POLICY_TP_HOOKS).fill(0);
    const nrs = new Array<number>(VIGIL_POLICY_TP_HOOKS).fill(-1);
    ids.forEach((id, i) => {
      hooks[i] = id;
      nrs[i] = this.rawSyscallNr.get(id) ?? -1;
    });
    new TypedMap(this.core.map('tp_hooks'), codec.u32, vigilPolicyTpHooks).set(slot, { count: ids.length, raw: nrs.some((n) => n >= 0) ? 1 : 0, hooks, nrs });
    // raw_syscalls: the raw tracepoint's slot and the numbers it lets through.
    for (const [dir, prog] of [[0, 'policy_tp'], [1, 'policy_sys_exit']] as const) {
      const event = dir === 0 ? 'sys_enter' : 'sys_exit';
      if (this.tpSlots.get(tpKey(prog, 'raw_syscalls', event, true))?.slot !== slot) continue;
      const bits = new Array<bigint>(VIGIL_POLICY_RAW_NRS / 64).fill(0n);
      for (const n of nrs) {
        if (n >= 0 && n < VIGIL_POLICY_RAW_NRS) bits[n >> 6] = bits[n >> 6]! | (1n << BigInt(n & 63));
      }
      new TypedMap(this.core.map('raw_sys'), codec.u32, vigilPolicyRawSys).set(dir, { slot: ids.length ? slot : 0, pad: 0, nrs: bits });
    }
  }

  /** raw_syscalls' sys_enter or sys_exit, for a tracepoint program's hooks: its raw tracepoint program. */
  private attachRawSyscalls(prog: string, event: string): Link {
    const obj = this.parts.get('rawSyscalls');
    if (!obj) throw new Error('raw syscalls part not loaded');
    return obj.program(prog === 'policy_tp' ? 'policy_rawenter' : 'policy_rawexit').attachRawTracepoint(event);
  }

  private teardownHook(h: LiveHook): void {
    const hooks = this.core.map('hooks');
    const key = Buffer.alloc(4);
    for (const a of h.attachments) {
      for (const k of a.tracepoints) this.leaveTracepoint(k, a.id);
      a.tracepoints.length = 0;
      this.rawSyscallNr.delete(a.id);
      for (const l of a.links) l.close();
      a.links.length = 0;
      for (const o of a.objects) o.close();
      a.objects.length = 0;
      key.writeUInt32LE(a.id);
      hooks.update(key, Buffer.alloc(hooks.valueSize));
      a.planned.kernel.resolve?.forEach((p, slot) => {
        if (!p) return;
        key.writeUInt32LE(a.id << 3 | slot);
        this.core.map('arg_resolve').delete(key);
      });
      if (a.planned.kernel.prefilter) {
        const m = this.core.map('prefilter');
        for (const k of prefilterKeys(a.id, a.planned.kernel.prefilter)) m.delete(k);
        this.pfCache.changed();
      }
      this.dropStash(a.id);
      this.byHookId.delete(a.id);
      this.hookIds.release(a.id, 1);
    }
    const filters = this.core.map('filters');
    for (const run of h.filterRuns) {
      for (let id = run.start; id < run.start + run.n; id++) {
        key.writeUInt32LE(id);
        filters.update(key, Buffer.alloc(filters.valueSize));
        for (const m of VALUE_MAPS) this.core.map(m).delete(key);
      }
      this.filterSlots.release(run.start, run.n);
    }
    const selectors = this.core.map('selectors');
    for (let i = 0; i < h.planned.selectors.length; i++) {
      key.writeUInt32LE(h.selStart + i);
      selectors.update(key, Buffer.alloc(selectors.valueSize));
    }
    this.selectorSlots.release(h.selStart, h.planned.selectors.length);
  }

  private teardown(live: LivePolicy): void {
    const ids = new Set(live.hooks.flatMap((h) => h.attachments.map((a) => a.id)));
    const before = this.denyHooks.length;
    for (let i = this.denyHooks.length - 1; i >= 0; i--) {
      if (ids.has(this.denyHooks[i]!.id)) this.denyHooks.splice(i, 1);
    }
    if (this.denyHooks.length !== before) this.writeDenySet();
    for (const h of live.hooks) this.teardownHook(h);
    // Before the slot goes back: a policy given it later starts with no cgroup.
    this.writeScope(live, new Set());
    this.policySlots.release(live.slot, 1);
    if (this.denyHooks.length === 0 && this.denyLinks.length) {
      for (const l of this.denyLinks) l.close();
      this.denyLinks = [];
    }
  }

  /** Entries stashed for a removed hook's exit (its id may be reused). */
  private dropStash(id: number): void {
    for (const name of ['stash_small', 'stash_large']) {
      const m = this.core.map(name);
      for (const k of [...m.keys()]) if (k.readUInt32LE(4) === id) m.delete(k);
    }
  }

  // -------------------------------------------------------------------------
  // counters

  private zeroCounters(slot: number): void {
    const m = new PerCpuMap(this.core.map('counters'), codec.u32, vigilPolicyCounters);
    const zero = { c: new Array<bigint>(VIGIL_POLICY_COUNTER_SLOTS).fill(0n) };
    m.set(slot, Array.from({ length: m.get(slot)?.length ?? 1 }, () => zero));
  }

  /** A policy's kernel counters, summed over CPUs; undefined when no such policy. */
  counters(name: string): PolicyCounters | undefined {
    const live = this.policies.get(name);
    if (!live) return undefined;
    const per = new PerCpuMap(this.core.map('counters'), codec.u32, vigilPolicyCounters).get(live.slot) ?? [];
    const c = new Array<bigint>(VIGIL_POLICY_COUNTER_SLOTS).fill(0n);
    for (const cpu of per) cpu.c.forEach((v, i) => (c[i] = c[i]! + v));
    const act = (k: number): bigint => c[VIGIL_POLICY_C_ACTIONS + k] ?? 0n;
    return {
      evaluated: c[VIGIL_POLICY_C_EVALUATED]!,
      matched: c[VIGIL_POLICY_C_MATCHED]!,
      posted: c[VIGIL_POLICY_C_POSTED]!,
      rateLimited: c[VIGIL_POLICY_C_RATE_LIMITED]!,
      lost: c[VIGIL_POLICY_C_LOST]!,
      actions: {
        post: act(VIGIL_POLICY_ACT_POST), noPost: act(VIGIL_POLICY_ACT_NOPOST), sigkill: act(VIGIL_POLICY_ACT_SIGKILL),
        signal: act(VIGIL_POLICY_ACT_SIGNAL), deny: act(VIGIL_POLICY_ACT_DENY),
        notifyEnforcer: act(VIGIL_POLICY_ACT_NOTIFY_ENFORCER),
      },
    };
  }

  // -------------------------------------------------------------------------
  // events

  /** Reads what is ready now (tests call it to not wait for the poll timer). */
  drain(): number {
    return this.reader?.drain() ?? 0;
  }

  /** Stops reading the ring (back-pressure: it fills, the kernel drops and counts); losses are still reported. */
  pause(): void {
    this.reader?.pause();
  }

  resume(): void {
    this.reader?.resume();
  }

  private onRecord(view: DataView, offset: number, size: number): void {
    this.stats.records++;
    let rec;
    try {
      rec = decodePolicyRecord(view, offset, size);
    } catch (e) {
      this.stats.malformed++;
      this.opts.onError?.(e instanceof Error ? e : new PolicyRecordError(String(e)));
      return;
    }
    const h = this.byHookId.get(rec.header.hook);
    if (!h || h.policy.slot !== rec.header.policy) {
      this.stats.dropped++;
      return;
    }
    const cache = this.opts.cache;
    // The process as it was at the event (a later exec may be cached already).
    const process = cache?.get(rec.header.pid, rec.header.start_boottime || undefined, rec.header.ktime);
    const parent = process && cache ? cache.parentOf(process) : undefined;
    let kernelStack: StackFrame[] | undefined;
    if (rec.header.kernel_stack >= 0) {
      const addrs: bigint[] = [];
      const v = new DataView(rec.blob.buffer, rec.blob.byteOffset, rec.blob.length);
      for (let i = 0; i < rec.header.kernel_stack && rec.header.kstack_off + 8 * i + 8 <= rec.blob.length; i++) {
        addrs.push(v.getBigUint64(rec.header.kstack_off + 8 * i, true));
      }
      kernelStack = this.symbolize(addrs, rec.header.pid, true);
    }
    const userStack = rec.header.user_stack >= 0 ? this.userStack(rec.header.user_stack, rec.header.pid) : undefined;
    let ev: PolicyEvent;
    try {
      ev = toPolicyEvent(rec, {
        policy: h.policy.plan.policy,
        hook: h.hook.planned.hook,
        attachment: h.attachment.planned.attachment,
        kernelArgs: h.attachment.planned.kernel.args,
        returnSlot: h.attachment.planned.returnSlot,
        timeNs: this.clock.toEpochNs(rec.header.ktime),
        process,
        parent,
        kernelStack,
        userStack,
      });
    } catch (e) {
      this.stats.malformed++;
      this.opts.onError?.(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    const sel = h.hook.planned.selectors[rec.header.selector];
    // matchCEL: the kernel matched the selector's other filters; the expression decides the post.
    if (sel?.cel && !sel.cel.matches(ev.args, ev.data ?? [])) {
      this.stats.celRejected++;
      return;
    }
    if (sel?.userActions.length) {
      if (ev.action === 'KPROBE_ACTION_POST') {
        ev = { ...ev, action: sel.userActions[0]!.kind === 'GetUrl' ? 'KPROBE_ACTION_GETURL' : 'KPROBE_ACTION_DNSLOOKUP' };
      }
      for (const ua of sel.userActions) this.runUserAction(ua);
    }
    this.opts.onEvent(ev);
  }

  /** GetUrl / DnsLookup: done by the agent, as Tetragon's agent does; failures are ignored (best effort). */
  private runUserAction(ua: UserAction): void {
    if (ua.kind === 'GetUrl') {
      void fetch(ua.url, { signal: AbortSignal.timeout(5000) }).then((r) => r.body?.cancel()).catch(() => undefined);
    } else {
      void dnsLookup(ua.fqdn).catch(() => undefined);
    }
  }

  private userStack(id: number, pid: number): StackFrame[] {
    const m = this.core.map('user_stacks');
    const key = Buffer.alloc(4);
    key.writeUInt32LE(id);
    const buf = m.lookup(key);
    if (!buf) return [];
    m.delete(key);
    const addrs: bigint[] = [];
    for (let i = 0; i < VIGIL_POLICY_STACK_DEPTH; i++) {
      const a = buf.readBigUInt64LE(i * 8);
      if (a === 0n) break;
      addrs.push(a);
    }
    return this.symbolize(addrs, pid, false);
  }

  private symbolize(addrs: bigint[], pid: number, kernel: boolean): StackFrame[] {
    this.symbolizer ??= new Symbolizer();
    let frames: Frame[];
    try {
      if (kernel) frames = this.symbolizer.symbolizeKernel(addrs);
      else {
        this.symbolizer.captureProcess(pid);
        frames = this.symbolizer.symbolizeUser(pid, addrs);
      }
    } catch {
      return addrs.map((address) => ({ address }));
    }
    return frames.map((f) => ({
      address: f.addr,
      ...(f.kind !== 'unknown' ? { symbol: f.name, offset: f.symbolOffset } : {}),
      ...(f.module ? { module: f.module } : {}),
    }));
  }

  // -------------------------------------------------------------------------

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Every link at once (closeAll: a tracepoint takes tens of ms to detach), then what the ring
    // still holds (read after the detach: under a storm, a ring drained while its programs run
    // never empties), then the objects.
    const links: Link[] = [];
    const objects: { close(): void }[] = [];
    for (const live of [...this.policies.values()]) {
      for (const h of live.hooks) {
        for (const a of h.attachments) {
          links.push(...a.links);
          objects.push(...a.objects);
        }
      }
    }
    for (const t of this.tpSlots.values()) if (t.link) links.push(t.link);
    links.push(...this.denyLinks, ...this.partLinks, ...this.pfCache.detach());
    closeAll(links);
    this.reader?.close();
    this.reader = undefined;
    for (const o of objects) o.close();
    this.policies.clear();
    this.byHookId.clear();
    this.tpSlots.clear();
    this.denyLinks = [];
    this.partLinks.length = 0;
    for (const o of this.parts.values()) o.close();
    this.parts.clear();
    for (const o of this.checked.values()) o.close();
    this.checked.clear();
    this.core.close();
    this.symbolizer?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** tpSlots' key of a tracepoint attachment; raw: served by the raw syscall programs. */
function tpKey(prog: string, category: string, event: string, raw: boolean): string {
  return `${prog} ${category}/${event}${raw ? ' (raw tracepoint)' : ''}`;
}

function noArg(): VigilPolicyArg {
  return {
    type: VIGIL_POLICY_ARG_NONE, loc: VIGIL_POLICY_LOC_NONE, flags: 0, offset: 0, size: 0, size_loc: 0, size_size: 0,
    size_at: 0, dirfd_loc: 0, resolve: 0, dirfd_at: 0, max_data: 0, pad2: 0, value: 0n,
  };
}
