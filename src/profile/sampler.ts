// The kernel side of the profiler: loads bpf/profile.bpf.c, attaches it
// (cpu-clock sampling on every CPU, or sched_switch for off-CPU time), and
// each interval drains the counts the kernel aggregated and the stacks they
// name. Addresses come out raw; symbolisation is src/profile/symbolize.ts.
import { existsSync } from 'node:fs';
import { PerCpuMap, TypedMap, codec, type BpfMap, type BpfObject } from '../bpf/index.js';
import { FilterSet, type FilterOptions } from '../sensors/filter.js';
import { Sensor } from '../sensors/sensor.js';
import {
  VIGIL_FILTER_BINARY, VIGIL_FILTER_PID_TREE,
} from '../generated/filter.js';
import {
  VIGIL_PROFILE_STAT_COUNTS_FULL, VIGIL_PROFILE_STAT_FILTERED,
  VIGIL_PROFILE_STAT_IDLE, VIGIL_PROFILE_STAT_KERNEL_STACK_COLLISION, VIGIL_PROFILE_STAT_KERNEL_STACK_FULL,
  VIGIL_PROFILE_STAT_OFFCPU_SHORT, VIGIL_PROFILE_STAT_OFFCPU_START_FULL, VIGIL_PROFILE_STAT_PID_EVENT_LOST,
  VIGIL_PROFILE_STAT_SAMPLES, VIGIL_PROFILE_STAT_STACK_OTHER, VIGIL_PROFILE_STAT_USER_STACK_COLLISION,
  VIGIL_PROFILE_STAT_USER_STACK_FULL, VIGIL_PROFILE_OVERFLOW_ID, VIGIL_PROFILE_STAT_OVERFLOW_STACKS,
  vigilOffcpuStart, vigilProfileKey, vigilProfileValue, type VigilProfileKey, type VigilProfileValue,
} from '../generated/profile.js';
import { bpfObjectPath } from '../util/paths.js';

export type ProfileMode = 'cpu' | 'off-cpu';

/** Default sampling frequency: a prime, so sampling does not beat with periodic work (Parca uses 19 Hz too). */
export const DEFAULT_FREQUENCY = 19;
export const MAX_FREQUENCY = 999;

export interface SamplerOptions {
  mode?: ProfileMode;
  /** On-CPU samples per second per CPU; default 19, at most 999. */
  frequency?: number;
  /** In-kernel task filters (--pid, --follow-children, --comm, cgroups). */
  filter?: FilterOptions;
  /** On-CPU: also count samples of the idle task. */
  includeIdle?: boolean;
  /** Off-CPU: skip intervals shorter than this. */
  minBlockNs?: number;
  /**
   * Entries of the user stack map (default VIGIL_PROFILE_USER_STACKS_MAX, 8192;
   * the kernel and overflow stack maps get half as many). Each entry takes
   * about 1 KiB of kernel memory.
   */
  stackEntries?: number;
  /** Entries of the counts map (distinct thread x stack pairs per interval; default 32768). */
  countEntries?: number;
  /**
   * A process was sampled for the first time (or first since it exec'd):
   * snapshot what symbolisation needs while it lives. Called from the event
   * loop, soon after the sample.
   */
  onNewProcess?: (pid: number) => void;
  /** The compiled object (tests); default bpf/.output/profile.bpf.o. */
  objectPath?: string;
}

/** Why a stack is missing: bpf_get_stackid's error, or the stack map lost it before it was read. */
export type StackError = 'none' | 'collision' | 'map-full' | 'error' | 'missing';

export interface RawStack {
  /** Instruction pointers, leaf first (the first is where the sample hit; the others are return addresses). */
  addrs: readonly bigint[];
  error?: StackError;
}

export interface RawSample {
  pid: number;
  tid: number;
  /** Thread name and process (thread group leader) name, as the kernel had them. */
  thread: string;
  process: string;
  user: RawStack;
  kernel: RawStack;
  /** On-CPU: samples; off-CPU: times the thread left the CPU. */
  count: number;
  /** Off-CPU: nanoseconds off the CPU; on-CPU: 0 (count x period). */
  ns: number;
}

export interface SamplerCounters {
  samples: number;
  idle: number;
  filtered: number;
  userStackCollisions: number;
  kernelStackCollisions: number;
  userStackMapFull: number;
  kernelStackMapFull: number;
  stackErrors: number;
  countsMapFull: number;
  offCpuStartFull: number;
  offCpuShort: number;
  pidEventsLost: number;
  /** Stacks that collided in their map and went to the overflow map (not lost). */
  overflowStacks: number;
  /** Found in user space: a count named a stack id no longer in the stack map. */
  stacksMissing: number;
}

export interface RawInterval {
  mode: ProfileMode;
  frequency: number;
  /** Wall clock (ms since the epoch) of the interval's start and end. */
  startMs: number;
  endMs: number;
  samples: RawSample[];
  /** Counter increments during the interval. */
  counters: SamplerCounters;
  /** Stack map entries read (all three maps). */
  stacksRead: number;
}

const EFAULT = 14;
const EEXIST = 17;
const ENOMEM = 12;

function stackError(id: number): StackError {
  if (id === -EFAULT) return 'none';
  if (id === -EEXIST) return 'collision';
  if (id === -ENOMEM) return 'map-full';
  return 'error';
}

function zeroCounters(): SamplerCounters {
  return { samples: 0, idle: 0, filtered: 0, userStackCollisions: 0, kernelStackCollisions: 0, userStackMapFull: 0,
    kernelStackMapFull: 0, stackErrors: 0, countsMapFull: 0, offCpuStartFull: 0, offCpuShort: 0, pidEventsLost: 0,
    overflowStacks: 0, stacksMissing: 0 };
}

const STAT_FIELDS: [number, keyof SamplerCounters][] = [
  [VIGIL_PROFILE_STAT_SAMPLES, 'samples'], [VIGIL_PROFILE_STAT_IDLE, 'idle'],
  [VIGIL_PROFILE_STAT_FILTERED, 'filtered'], [VIGIL_PROFILE_STAT_USER_STACK_COLLISION, 'userStackCollisions'],
  [VIGIL_PROFILE_STAT_KERNEL_STACK_COLLISION, 'kernelStackCollisions'],
  [VIGIL_PROFILE_STAT_USER_STACK_FULL, 'userStackMapFull'], [VIGIL_PROFILE_STAT_KERNEL_STACK_FULL, 'kernelStackMapFull'],
  [VIGIL_PROFILE_STAT_STACK_OTHER, 'stackErrors'], [VIGIL_PROFILE_STAT_COUNTS_FULL, 'countsMapFull'],
  [VIGIL_PROFILE_STAT_OFFCPU_START_FULL, 'offCpuStartFull'], [VIGIL_PROFILE_STAT_OFFCPU_SHORT, 'offCpuShort'],
  [VIGIL_PROFILE_STAT_PID_EVENT_LOST, 'pidEventsLost'], [VIGIL_PROFILE_STAT_OVERFLOW_STACKS, 'overflowStacks'],
];

type StackMapName = 'user' | 'kernel' | 'overflow';
const STACK_MAPS: StackMapName[] = ['user', 'kernel', 'overflow'];

export function addCounters(a: SamplerCounters, b: SamplerCounters): SamplerCounters {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof SamplerCounters)[]) out[k] += b[k];
  return out;
}

export function validateFrequency(hz: number): number {
  if (!Number.isInteger(hz) || hz < 1 || hz > MAX_FREQUENCY) {
    throw new RangeError(`sampling frequency must be an integer in 1..${MAX_FREQUENCY} Hz, got ${hz}`);
  }
  return hz;
}

/**
 * A running profiler. Lifecycle: `await Sampler.start(opts)` (load, attach),
 * `collect()` each interval, `close()`.
 */
export class Sampler extends Sensor {
  readonly mode: ProfileMode;
  readonly frequency: number;
  private readonly counts: TypedMap<VigilProfileKey, VigilProfileValue>;
  private readonly stackMaps: Record<StackMapName, BpfMap>;
  private readonly statsMap: PerCpuMap<number, bigint>;
  private readonly offcpuStart: BpfMap | undefined;
  private lastStats: SamplerCounters = zeroCounters();
  private intervalStart = Date.now();
  /** Stacks read in the previous sweep: a count drained later may still name one the sweep deleted. */
  private previousStacks: Record<StackMapName, Map<number, bigint[]>> =
    { user: new Map(), kernel: new Map(), overflow: new Map() };

  private constructor(obj: BpfObject, private readonly filters: FilterSet, opts: SamplerOptions) {
    super('profile', obj);
    this.mode = opts.mode ?? 'cpu';
    this.frequency = opts.frequency ?? DEFAULT_FREQUENCY;
    this.counts = new TypedMap(obj.map('vigil_profile_counts'), vigilProfileKey, vigilProfileValue);
    this.stackMaps = { user: obj.map('vigil_profile_user_stacks'), kernel: obj.map('vigil_profile_kernel_stacks'),
      overflow: obj.map('vigil_profile_overflow_stacks') };
    this.statsMap = new PerCpuMap(obj.map('vigil_profile_stats'), codec.u32, codec.u64);
    this.offcpuStart = this.mode === 'off-cpu' ? obj.map('vigil_offcpu_start') : undefined;
  }

  static async start(opts: SamplerOptions = {}): Promise<Sampler> {
    const mode = opts.mode ?? 'cpu';
    const frequency = validateFrequency(opts.frequency ?? DEFAULT_FREQUENCY);
    const file = opts.objectPath ?? bpfObjectPath('profile');
    if (!existsSync(file)) throw new Error(`profiler object not built: ${file} (run \`npm run build\`)`);
    const filters = new FilterSet(opts.filter ?? {});
    let obj: BpfObject | undefined;
    let sampler: Sampler;
    const programs = [mode === 'cpu' ? 'vigil_profile_cpu' : 'vigil_profile_switch', 'vigil_profile_exec',
      'vigil_profile_exit'];
    const tree = (filters.flags & (VIGIL_FILTER_PID_TREE | VIGIL_FILTER_BINARY)) !== 0;
    if (tree) programs.push('vigil_profile_fork');
    try {
      const maxEntries: Record<string, number> = {};
      if (opts.stackEntries) {
        const n = Math.max(256, Math.round(opts.stackEntries));
        maxEntries.vigil_profile_user_stacks = n;
        maxEntries.vigil_profile_kernel_stacks = Math.max(256, n >> 1);
        maxEntries.vigil_profile_overflow_stacks = Math.max(256, n >> 1);
      }
      if (opts.countEntries) maxEntries.vigil_profile_counts = opts.countEntries;
      obj = await Sensor.loadObject('profile', {
        objectPath: file, programs, maxEntries, filter: filters,
        constants: {
          include_idle: opts.includeIdle ? 1 : 0,
          min_block_ns: BigInt(Math.max(0, Math.round(opts.minBlockNs ?? 0))),
        },
      });
      sampler = new Sampler(obj, filters, { ...opts, mode, frequency });
    } catch (e) {
      obj?.close();
      filters.close();
      throw e;
    }
    const s = sampler;
    const o = obj;
    return s.starting(() => {
      // Process bookkeeping first, so no fork or exec between seeding and sampling
      // goes unseen; sampling stops first (stage 0), so nothing is announced into a closed reader.
      s.keep(o.program('vigil_profile_exec').attachTrace(), 1);
      s.keep(o.program('vigil_profile_exit').attachTrace(), 1);
      if (tree) {
        s.keep(o.program('vigil_profile_fork').attachTrace(), 1);
        filters.seedExisting();
      }
      const onNew = opts.onNewProcess;
      s.openRing({ pollIntervalMs: 20 }, (view, off) => {
        if (onNew) onNew(view.getUint32(off, true));
      }, 'vigil_profile_events');
      if (mode === 'cpu') s.keep(o.program('vigil_profile_cpu').attachPerfSampling({ frequency }));
      else s.keep(o.program('vigil_profile_switch').attachTrace());
      s.intervalStart = Date.now();
    });
  }

  /** Cumulative kernel counters (sums over CPUs). */
  counters(): SamplerCounters {
    const c = zeroCounters();
    for (const [index, field] of STAT_FIELDS) {
      const perCpu = this.statsMap.get(index) ?? [];
      c[field] = Number(perCpu.reduce((a, b) => a + b, 0n));
    }
    return c;
  }

  /** Entries now in the kernel maps (a walk of each: for tests and diagnostics, not a hot path). */
  mapUsage(): { counts: number; userStacks: number; kernelStacks: number; overflowStacks: number } {
    const n = (m: BpfMap): number => {
      let i = 0;
      for (const _ of m.keys()) i++;
      return i;
    };
    return { counts: n(this.counts.map), userStacks: n(this.stackMaps.user), kernelStacks: n(this.stackMaps.kernel),
      overflowStacks: n(this.stackMaps.overflow) };
  }

  /** Processes announced so far but not yet read from the ring: deliver them now. */
  pollNewProcesses(): void {
    this.drain();
  }

  /**
   * Ends the current interval: drains the counts (atomically per entry, so a
   * sample lands in this interval or the next, never both), reads the stacks
   * they name and deletes every stack map entry no pending off-CPU interval
   * still needs.
   */
  collect(): RawInterval {
    if (this.closed) throw new Error('sampler is closed');
    this.pollNewProcesses();
    const endMs = Date.now();
    const drained = this.counts.drain();
    // Stack ids that threads now off the CPU will report when they run again.
    const keep: Record<StackMapName, Set<number>> = { user: new Set(), kernel: new Set(), overflow: new Set() };
    const mark = (kind: 'user' | 'kernel', id: number): void => {
      if (id < 0) return;
      if (id & VIGIL_PROFILE_OVERFLOW_ID) keep.overflow.add(id & ~VIGIL_PROFILE_OVERFLOW_ID);
      else keep[kind].add(id);
    };
    if (this.offcpuStart) {
      for (const [, v] of this.offcpuStart.entries()) {
        const s = vigilOffcpuStart.decode(new DataView(v.buffer, v.byteOffset, v.byteLength), 0);
        mark('user', s.key.user_stack_id);
        mark('kernel', s.key.kernel_stack_id);
      }
    }
    // Read every stack, delete all but the kept ones.
    const seen: Record<StackMapName, Map<number, bigint[]>> = { user: new Map(), kernel: new Map(), overflow: new Map() };
    let stacksRead = 0;
    const keyBuf = Buffer.alloc(4);
    for (const name of STACK_MAPS) {
      const map = this.stackMaps[name];
      const valueBuf = Buffer.alloc(map.valueSize);
      const ids = [...map.keys()].map((k) => k.readUInt32LE(0));
      stacksRead += ids.length;
      for (const id of ids) {
        keyBuf.writeUInt32LE(id, 0);
        const v = map.lookup(keyBuf, valueBuf);
        if (v) seen[name].set(id, codec.stackFrames(v));
        if (!keep[name].has(id)) map.delete(keyBuf);
      }
    }
    let missing = 0;
    const stackCache = new Map<string, RawStack>();
    const resolve = (kind: 'user' | 'kernel', id: number): RawStack => {
      if (id < 0) return { addrs: [], error: stackError(id) };
      const name: StackMapName = id & VIGIL_PROFILE_OVERFLOW_ID ? 'overflow' : kind;
      const sid = id & ~VIGIL_PROFILE_OVERFLOW_ID;
      const cacheKey = `${name}:${sid}`;
      let s = stackCache.get(cacheKey);
      if (s) return s;
      const addrs = seen[name].get(sid) ?? this.previousStacks[name].get(sid);
      if (addrs) s = { addrs };
      else {
        missing++;
        s = { addrs: [], error: 'missing' };
      }
      stackCache.set(cacheKey, s);
      return s;
    };
    const samples: RawSample[] = drained.map(([k, v]) => ({
      pid: k.pid,
      tid: k.tid,
      thread: k.comm,
      process: k.pcomm || k.comm,
      user: resolve('user', k.user_stack_id),
      kernel: resolve('kernel', k.kernel_stack_id),
      count: Number(v.count),
      ns: Number(v.total_ns),
    }));
    this.previousStacks = seen;
    const now = this.counters();
    const delta = zeroCounters();
    for (const k of Object.keys(delta) as (keyof SamplerCounters)[]) delta[k] = now[k] - this.lastStats[k];
    delta.stacksMissing = missing;
    now.stacksMissing = this.lastStats.stacksMissing + missing;
    this.lastStats = now;
    const startMs = this.intervalStart;
    this.intervalStart = endMs;
    return { mode: this.mode, frequency: this.frequency, startMs, endMs, samples, counters: delta, stacksRead };
  }

  protected override onClosed(): void {
    this.filters.close();
  }
}
