// A symbolised profile: what every output format (folded, SVG, pprof, JSON)
// is made from. Built from the sampler's raw intervals with the Symbolizer.
import { KernelSymbolsError, type Frame, type Symbolizer } from '../kernel/symbols/index.js';
import {
  addCounters, type ProfileMode, type RawInterval, type RawSample, type RawStack, type SamplerCounters,
} from './sampler.js';

export interface ProfileStack {
  pid: number;
  tid: number;
  /** Process (thread group leader) and thread names. */
  process: string;
  thread: string;
  /** The process's executable, when it was captured ('' for kernel threads and unknown). */
  exe: string;
  /** Leaf first: kernel frames (if any), then user frames. */
  frames: Frame[];
  /** On-CPU: samples. Off-CPU: times the thread left the CPU. */
  count: number;
  /** On-CPU: count x period; off-CPU: time off the CPU. Nanoseconds. */
  ns: number;
}

export interface Profile {
  mode: ProfileMode;
  /** On-CPU sampling frequency (Hz per CPU); off-CPU: 0. */
  frequency: number;
  /** On-CPU: nanoseconds one sample stands for (1e9 / frequency). Off-CPU: 1. */
  periodNs: number;
  /** Wall clock, ms since the epoch. */
  startMs: number;
  endMs: number;
  stacks: ProfileStack[];
  counters: SamplerCounters;
  /** Warnings gathered while symbolising (kallsyms unreadable, ...). */
  warnings: string[];
}

/** Sums of a profile: samples (or off-CPU intervals) and nanoseconds. */
export function totals(p: Profile): { count: number; ns: number } {
  let count = 0;
  let ns = 0;
  for (const s of p.stacks) {
    count += s.count;
    ns += s.ns;
  }
  return { count, ns };
}

/**
 * Raw samples of several intervals merged by identity (thread, names and
 * addresses), for a one-shot profile drained more than once.
 */
export class RawAccumulator {
  private readonly byKey = new Map<string, RawSample>();
  /** A stack's content as a key, made once per stack object (the sampler shares one per stack id and drain). */
  private readonly stackKeys = new WeakMap<RawStack, string>();
  private first: RawInterval | undefined;
  private last: RawInterval | undefined;
  private counters: SamplerCounters | undefined;

  add(r: RawInterval): void {
    this.first ??= r;
    this.last = r;
    this.counters = this.counters ? addCounters(this.counters, r.counters) : { ...r.counters };
    const stackKey = (st: RawStack): string => {
      let k = this.stackKeys.get(st);
      if (k === undefined) this.stackKeys.set(st, (k = `${st.error ?? ''}${st.addrs.join(',')}`));
      return k;
    };
    for (const s of r.samples) {
      const key = `${s.pid}/${s.tid}/${s.thread}/${s.process}/${stackKey(s.user)}/${stackKey(s.kernel)}`;
      const prev = this.byKey.get(key);
      if (prev) {
        prev.count += s.count;
        prev.ns += s.ns;
      } else this.byKey.set(key, { ...s });
    }
  }

  /** One interval spanning everything added. */
  interval(): RawInterval {
    if (!this.first || !this.last || !this.counters) throw new Error('nothing collected');
    return { ...this.last, startMs: this.first.startMs, samples: [...this.byKey.values()], counters: this.counters };
  }
}

const LOST_NAMES: Record<string, string> = {
  collision: 'stack lost: stack map bucket taken',
  'map-full': 'stack lost: stack map full',
  missing: 'stack lost: not in the stack map',
  error: 'stack lost: error',
};

function lostFrame(which: 'user' | 'kernel', error: string): Frame {
  return { name: `[${which} ${LOST_NAMES[error] ?? error}]`, module: '', offset: 0n, addr: 0n, kind: 'unknown',
    symbolOffset: 0n };
}

function hex(a: bigint): string {
  return `0x${a.toString(16)}`;
}

/** A non-leaf frame holds a return address: look up the call instruction before it. */
function lookupAddr(addr: bigint, index: number): bigint {
  return index > 0 && addr > 0n ? addr - 1n : addr;
}

/** Kernel frames of the tracing machinery itself (off-CPU stacks are taken inside sched_switch's tracepoint). */
const TRACING_FRAME = /^(bpf_prog_|bpf_trace_run|__bpf_trace_|__traceiter_|bpf_trampoline_|__probestub_)/;

export interface SymbolizeOptions {
  /** Per-interval work for the symbolizer's process cache: called with each pid seen. */
  onPid?: (pid: number) => void;
}

interface ResolvedFrames {
  userAddrs: Map<number, Set<bigint>>;
  userFrames: Map<number, Map<bigint, Frame>>;
  kernelFrames: Map<bigint, Frame>;
}

/** Every distinct address of the samples, resolved: one symbolizer call per process, one for the kernel. */
function resolveFrames(samples: readonly RawSample[], sym: Symbolizer, warnings: string[], opts: SymbolizeOptions): ResolvedFrames {
  const userAddrs = new Map<number, Set<bigint>>();
  const kernelAddrs = new Set<bigint>();
  const collect = (stack: RawStack, into: Set<bigint>): void => {
    stack.addrs.forEach((a, i) => into.add(lookupAddr(a, i)));
  };
  for (const s of samples) {
    if (s.user.addrs.length) {
      let set = userAddrs.get(s.pid);
      if (!set) userAddrs.set(s.pid, (set = new Set()));
      collect(s.user, set);
    }
    collect(s.kernel, kernelAddrs);
  }
  const userFrames = new Map<number, Map<bigint, Frame>>();
  for (const [pid, set] of userAddrs) {
    opts.onPid?.(pid);
    const addrs = [...set];
    const frames = sym.symbolizeUser(pid, addrs);
    const m = new Map<bigint, Frame>();
    addrs.forEach((a, i) => m.set(a, frames[i]!));
    userFrames.set(pid, m);
  }
  const kernelFrames = new Map<bigint, Frame>();
  if (kernelAddrs.size) {
    const addrs = [...kernelAddrs];
    let frames: Frame[];
    try {
      frames = sym.symbolizeKernel(addrs);
    } catch (e) {
      if (!(e instanceof KernelSymbolsError)) throw e;
      warnings.push(`kernel frames not symbolised: ${e.message}`);
      frames = addrs.map((addr) => ({ name: `[unknown] ${hex(addr)}`, module: '[kernel]', offset: 0n, addr,
        kind: 'unknown', symbolOffset: 0n }));
    }
    addrs.forEach((a, i) => kernelFrames.set(a, frames[i]!));
  }
  return { userAddrs, userFrames, kernelFrames };
}

/** Symbolises a raw interval into a Profile. */
export function symbolize(raw: RawInterval, sym: Symbolizer, opts: SymbolizeOptions = {}): Profile {
  const warnings: string[] = [];
  const { userAddrs, userFrames, kernelFrames } = resolveFrames(raw.samples, sym, warnings, opts);
  const unknown = (addr: bigint): Frame => ({ name: `[unknown] ${hex(addr)}`, module: '', offset: 0n, addr,
    kind: 'unknown', symbolOffset: 0n });
  const periodNs = raw.mode === 'cpu' ? 1e9 / raw.frequency : 1;
  const exes = new Map<number, string>();
  const exeOf = (pid: number): string => {
    let e = exes.get(pid);
    if (e === undefined) exes.set(pid, (e = pid && userAddrs.has(pid) ? sym.processName(pid)?.exe ?? '' : ''));
    return e;
  };
  const stacks: ProfileStack[] = raw.samples.map((s) => {
    const frames: Frame[] = [];
    if (s.kernel.error && s.kernel.error !== 'none') frames.push(lostFrame('kernel', s.kernel.error));
    let kernel = s.kernel.addrs.map((a, i) => kernelFrames.get(lookupAddr(a, i)) ?? unknown(a));
    if (raw.mode === 'off-cpu') {
      let skip = 0;
      while (skip < kernel.length && TRACING_FRAME.test(kernel[skip]!.name)) skip++;
      kernel = kernel.slice(skip);
    }
    frames.push(...kernel);
    if (s.user.error && s.user.error !== 'none') frames.push(lostFrame('user', s.user.error));
    const um = userFrames.get(s.pid);
    frames.push(...s.user.addrs.map((a, i) => um?.get(lookupAddr(a, i)) ?? unknown(a)));
    return {
      pid: s.pid, tid: s.tid, process: s.process, thread: s.thread, exe: exeOf(s.pid), frames, count: s.count,
      ns: raw.mode === 'cpu' ? Math.round(s.count * periodNs) : s.ns,
    };
  });
  stacks.sort((a, b) => b.ns - a.ns || b.count - a.count);
  return {
    mode: raw.mode,
    frequency: raw.mode === 'cpu' ? raw.frequency : 0,
    periodNs: Math.round(periodNs),
    startMs: raw.startMs,
    endMs: raw.endMs,
    stacks,
    counters: raw.counters,
    warnings,
  };
}

export interface StackPathOptions {
  /** Root frame "name [pid]" rather than "name": processes of one name kept apart. */
  perPid?: boolean;
  /** Leave out the thread frame (by default present when the thread's name differs from the process's). */
  noThreads?: boolean;
}

export type PathKind = Frame['kind'] | 'process' | 'thread';

export interface PathFrame {
  name: string;
  kind: PathKind;
}

/**
 * A stack root first, as flame graphs and folded stacks show it: the
 * process name, the thread name (when it differs), then the frames from the
 * outermost caller to the leaf (kernel frames on top of user frames).
 */
export function stackPath(s: ProfileStack, opts: StackPathOptions = {}): PathFrame[] {
  const out: PathFrame[] = [];
  const proc = s.process || s.thread || '[unknown]';
  out.push({ name: opts.perPid ? `${proc} [${s.pid}]` : proc, kind: 'process' });
  if (!opts.noThreads && s.thread && s.thread !== s.process) out.push({ name: s.thread, kind: 'thread' });
  for (let i = s.frames.length - 1; i >= 0; i--) {
    const f = s.frames[i]!;
    out.push({ name: f.name, kind: f.kind });
  }
  return out;
}

/** The value a stack contributes to folded output and flame graphs: samples on-CPU, microseconds off-CPU. */
export function stackWeight(p: Profile, s: ProfileStack): number {
  return p.mode === 'cpu' ? s.count : Math.round(s.ns / 1000);
}

export function weightUnit(p: Profile): string {
  return p.mode === 'cpu' ? 'samples' : 'us';
}
