// A loaded program and its attach operations, one per attach kind.
import { native, type NativeBinding, type ObjectHandle, type LinkHandle } from './native.js';
import { BpfError, NotSupportedError, fromNative } from './errors.js';
import {
  Link, PerfEventAttachment, SocketFilterAttachment, TcAttachment, XdpAttachment,
} from './link.js';
import { TcAttachPoint, XdpFlags, programTypeName } from './types.js';
import { numPossibleCpus } from './map.js';

export interface UprobeOptions {
  /** Executable or shared library: a path, or a library name libbpf resolves ("libc.so.6"). */
  binary: string;
  /** Function symbol; or give `offset` alone for a raw file offset. */
  symbol?: string;
  offset?: number;
  retprobe?: boolean;
  /** Process to trace; -1 (default) for every process. */
  pid?: number;
  /** What bpf_get_attach_cookie() returns in the program. */
  cookie?: bigint;
}

export interface PerfSamplingOptions {
  /** Samples per second on each CPU. */
  frequency: number;
  /** CPUs to sample; default every online CPU. */
  cpus?: number[];
  pid?: number;
}

/** ENOENT/EOPNOTSUPP from perf_event_open for kprobes: the PMU does not exist. */
function kprobeUnsupported(e: unknown, what: string): Error {
  const err = fromNative(e, what);
  if (err instanceof BpfError && [2, 95, 524].includes(err.errno)) {
    return new NotSupportedError('kprobe', `${what}: ${err.code} (no kprobe PMU; CONFIG_KPROBES disabled?)`,
      '4.1', { cause: err });
  }
  return err;
}

export class Program {
  constructor(
    private readonly obj: () => ObjectHandle,
    readonly name: string,
    readonly section: string,
    readonly type: number,
  ) {}

  get fd(): number {
    return native().programFd(this.obj(), this.name);
  }

  get typeName(): string {
    return programTypeName(this.type);
  }

  private link(what: string, f: (n: NativeBinding, h: ObjectHandle) => LinkHandle,
    map: (e: unknown, what: string) => Error = fromNative): Link {
    try {
      return new Link(f(native(), this.obj()), `${what} (${this.name})`);
    } catch (e) {
      throw map(e, `attach ${this.name} to ${what}`);
    }
  }

  /** Attach as the program's section name says (libbpf auto-attach). */
  attach(): Link {
    // Tracepoints through attachTracepoint: the same attachment, with its perf event known (fast detach, link.ts).
    const tp = /^(?:tracepoint|tp)\/([^/]+)\/([^/]+)$/.exec(this.section);
    if (tp) return this.attachTracepoint(tp[1]!, tp[2]!);
    return this.link(this.section, (n, h) => n.attachAuto(h, this.name));
  }

  /** `cookie` is what bpf_get_attach_cookie() returns in the program (one program, many attach points). */
  attachTracepoint(category: string, event: string, opts: { cookie?: bigint } = {}): Link {
    return this.link(`tracepoint ${category}/${event}`,
      (n, h) => n.attachTracepoint(h, this.name, category, event, opts.cookie));
  }

  attachRawTracepoint(event: string): Link {
    return this.link(`raw_tracepoint ${event}`, (n, h) => n.attachRawTracepoint(h, this.name, event));
  }

  /** tp_btf, fentry, fexit, fmod_ret: the target was fixed at load. */
  attachTrace(): Link {
    return this.link(`${this.section}`, (n, h) => n.attachTrace(h, this.name));
  }

  attachLsm(): Link {
    return this.link(`${this.section}`, (n, h) => n.attachLsm(h, this.name));
  }

  attachKprobe(fn: string, opts: { retprobe?: boolean; offset?: number; cookie?: bigint } = {}): Link {
    const what = `${opts.retprobe ? 'kretprobe' : 'kprobe'} ${fn}`;
    return this.link(what, (n, h) => n.attachKprobe(h, this.name, fn, !!opts.retprobe, opts.offset ?? 0, opts.cookie),
      kprobeUnsupported);
  }

  attachKprobeMulti(pattern: string, opts: { retprobe?: boolean } = {}): Link {
    const what = `${opts.retprobe ? 'kretprobe.multi' : 'kprobe.multi'} ${pattern}`;
    return this.link(what, (n, h) => n.attachKprobeMulti(h, this.name, pattern, !!opts.retprobe), (e, w) => {
      const err = fromNative(e, w);
      if (err instanceof BpfError && [2, 95, 524].includes(err.errno)) {
        return new NotSupportedError('kprobe.multi', `${w}: ${err.code}`, '5.18', { cause: err });
      }
      return err;
    });
  }

  attachUprobe(o: UprobeOptions): Link {
    const what = `${o.retprobe ? 'uretprobe' : 'uprobe'} ${o.binary}:${o.symbol ?? `0x${(o.offset ?? 0).toString(16)}`}`;
    return this.link(what, (n, h) =>
      n.attachUprobe(h, this.name, !!o.retprobe, o.pid ?? -1, o.binary, o.symbol ?? null, o.offset ?? 0, o.cookie));
  }

  attachXdp(ifindex: number): Link {
    return this.link(`xdp ifindex ${ifindex}`, (n, h) => n.attachXdp(h, this.name, ifindex));
  }

  /** XDP with an explicit mode, through netlink (for drivers without link support or to force generic). */
  attachXdpMode(ifindex: number, mode: 'native' | 'generic'): XdpAttachment {
    const flags = XdpFlags.updateIfNoexist | (mode === 'generic' ? XdpFlags.skbMode : XdpFlags.drvMode);
    try {
      native().xdpAttach(ifindex, this.fd, flags);
    } catch (e) {
      throw fromNative(e, `attach ${this.name} to xdp (${mode}) ifindex ${ifindex}`);
    }
    return new XdpAttachment(ifindex, flags, `xdp ${mode} ifindex ${ifindex} (${this.name})`);
  }

  /** TC clsact filter; creates the clsact qdisc if the interface has none. */
  attachTc(ifindex: number, direction: 'ingress' | 'egress', opts: { priority?: number; handle?: number } = {}): TcAttachment {
    const n = native();
    const point = TcAttachPoint[direction];
    let created = false;
    try {
      created = n.tcHookCreate(ifindex, point);
      const r = n.tcAttach(ifindex, point, this.fd, opts.handle ?? 0, opts.priority ?? 0);
      return new TcAttachment(ifindex, point, r.handle, r.priority, created,
        `tc ${direction} ifindex ${ifindex} (${this.name})`);
    } catch (e) {
      if (created && !TcAttachment.hookInUse(ifindex)) {
        try {
          n.tcHookDestroy(ifindex, 3 /* BPF_TC_INGRESS|BPF_TC_EGRESS */);
        } catch {
          /* interface gone */
        }
      }
      throw fromNative(e, `attach ${this.name} to tc ${direction} ifindex ${ifindex}`);
    }
  }

  /** cgroup_skb, cgroup_sock_addr, ...: the attach type comes from the section. */
  attachCgroup(cgroupFd: number, cgroupPath = `fd ${cgroupFd}`): Link {
    return this.link(`cgroup ${cgroupPath} ${this.section}`, (n, h) => n.attachCgroup(h, this.name, cgroupFd));
  }

  attachIter(): Link {
    return this.link(this.section, (n, h) => n.attachIter(h, this.name));
  }

  attachSocketFilter(socketFd: number): SocketFilterAttachment {
    try {
      native().socketAttachFilter(socketFd, this.fd);
    } catch (e) {
      throw fromNative(e, `attach ${this.name} to socket ${socketFd}`);
    }
    return new SocketFilterAttachment(socketFd, `socket filter on fd ${socketFd} (${this.name})`);
  }

  /** CPU-clock sampling on every (or the given) CPU: one perf event and link per CPU. */
  attachPerfSampling(o: PerfSamplingOptions): PerfEventAttachment {
    const n = native();
    const cpus = o.cpus ?? onlineCpus();
    const links: Link[] = [];
    try {
      for (const cpu of cpus) {
        // PERF_TYPE_SOFTWARE (1), PERF_COUNT_SW_CPU_CLOCK (0)
        const pfd = n.perfEventOpen({ type: 1, config: 0, sampleFreq: o.frequency, pid: o.pid ?? -1, cpu });
        try {
          links.push(new Link(n.attachPerfEvent(this.obj(), this.name, pfd), `perf_event cpu ${cpu} (${this.name})`));
        } catch (e) {
          n.closeFd(pfd);
          throw e;
        }
      }
    } catch (e) {
      for (const l of links) l.close();
      throw fromNative(e, `attach ${this.name} to cpu-clock sampling at ${o.frequency} Hz`);
    }
    return new PerfEventAttachment(links, `perf_event cpu-clock ${o.frequency} Hz on ${cpus.length} CPUs (${this.name})`);
  }

  /** Kernel statistics (run count/time need kernel.bpf_stats_enabled). */
  info(): ReturnType<NativeBinding['progInfo']> {
    return native().progInfo(this.fd);
  }
}

import { readFileSync } from 'node:fs';

/** Online CPUs, from /sys/devices/system/cpu/online ("0-1,4"). */
export function onlineCpus(): number[] {
  let text: string;
  try {
    text = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  } catch {
    return Array.from({ length: numPossibleCpus() }, (_, i) => i);
  }
  return parseCpuList(text);
}

export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map((x) => Number.parseInt(x, 10));
    if (a === undefined || Number.isNaN(a)) continue;
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}
