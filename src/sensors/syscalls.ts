// SyscallSensor: per-process syscall statistics and file activity, aggregated
// in the kernel (bpf/syscalls.bpf.c, bpf/include/vigil/syscall.h) and read
// once per interval.
//
//   using filter = new FilterSet({ comms: ['nginx'] });
//   using s = await SyscallSensor.start({ filter, files: true });
//   ... later, once per interval:
//   const calls = s.snapshot();       // since the previous snapshot (or start)
//   const files = s.fileSnapshot();
//
// Each snapshot reads and clears the kernel maps (batched lookup-and-delete),
// so a row covers exactly one interval and the maps hold one interval's keys.
// An increment that races the delete of its very key (the few instructions
// between the program's lookup and its add) can be lost; nothing else is.
// Calls the kernel could not count because a map was full are reported in
// `drops`, never hidden.
import { NotSupportedError, numPossibleCpus, PerCpuMap, codec } from '../bpf/index.js';
import type { BpfMap, BpfObject } from '../bpf/index.js';
import { probeAttach } from '../bpf/features.js';
import { VIGIL_FILTER_BINARY, VIGIL_FILTER_PID_TREE } from '../generated/filter.js';
import {
  VIGIL_SYSCALL_DROP_FILE_IO, VIGIL_SYSCALL_DROP_FILE_OPENS, VIGIL_SYSCALL_DROP_INFLIGHT,
  VIGIL_SYSCALL_DROP_OPEN_INFLIGHT, VIGIL_SYSCALL_DROP_STATS, VIGIL_SYSCALL_HIST_BUCKETS, VIGIL_SYSCALL_MODE_FILES,
  VIGIL_SYSCALL_MODE_SYSCALLS, VIGIL_SYSCALL_PATH_MAX,
  vigilFileIoKey, vigilFileIoStats, vigilFileOpenKey, vigilFileOpenStats, vigilSyscallKey, vigilSyscallStats,
} from '../generated/syscall.js';
import type { FilterSet } from './filter.js';
import { Sensor } from './sensor.js';
import { histogramQuantile } from './histogram.js';
import { FdPathResolver, kernelDevName, type PathSource } from './fd-paths.js';
import { hostSyscallArch, syscallName, type SyscallArch } from '../kernel/syscalls.js';

export interface SyscallSensorOptions {
  /** In-kernel filters (shared with other sensors); none: every process. */
  filter?: FilterSet;
  /** Per (process, syscall) statistics. Default true. */
  syscalls?: boolean;
  /** Opens, reads and writes per (process, file). Default false. */
  files?: boolean;
  /** A process not counted at all (pass process.pid to leave Vigil itself out). */
  ignorePid?: number;
  /**
   * Keep the filter's process tree (--pid with --follow-children) current from
   * fork and exit in this object. Default: when the filter needs it. Pass false
   * when the process sensor runs alongside with the same FilterSet (it does this).
   */
  trackProcesses?: boolean;
  /** Map sizes (entries). */
  maxEntries?: { stats?: number; inflight?: number; fileIo?: number; fileOpens?: number };
  /** For the fd -> path resolution. Default /proc. */
  procRoot?: string;
}

export interface DropCounts {
  /** Calls not counted at all: the per-thread entry stash was full. */
  inflight: number;
  /** Syscall statistics not counted: vigil_syscall_stats was full. */
  stats: number;
  fileIo: number;
  fileOpens: number;
  /** Opens whose path could not be kept between entry and exit. */
  openInflight: number;
}

export interface SyscallRow {
  pid: number;
  comm: string;
  nr: number;
  syscall: string;
  count: number;
  /** Calls that returned -errno. */
  errors: number;
  /** Calls per second over the interval. */
  rate: number;
  errorRate: number;
  /** Time spent in the calls (entry to exit), summed. */
  totalNs: number;
  avgNs: number;
  /** Quantiles from the log2 histogram, interpolated within the bucket (see histogram.ts). */
  p50Ns: number;
  p99Ns: number;
  maxNs: number;
  /** Log2 histogram: hist[b] calls took [2^b, 2^(b+1)) ns. */
  hist: number[];
}

export interface SyscallSnapshot {
  /** Wall-clock time of the snapshot, ms since the epoch. */
  timeMs: number;
  /** Length of the interval the rows cover. */
  intervalNs: number;
  arch: SyscallArch;
  /** Sorted by count, most first. */
  rows: SyscallRow[];
  totals: { count: number; errors: number; rate: number; errorRate: number; processes: number };
  /** This interval's drops. */
  drops: DropCounts;
  /** Drops since the sensor started. */
  dropsTotal: DropCounts;
  /** Candidate calls the in-kernel filters passed and dropped since the start (zeros without filters). */
  filter: { passed: number; dropped: number };
}

export interface FileRow {
  pid: number;
  comm: string;
  /** Absolute where it could be told (see pathSource); "[...]" placeholders otherwise. */
  path: string;
  pathSource: PathSource;
  /** The path given to open(2) was cut to VIGIL_SYSCALL_PATH_MAX - 1 bytes. */
  pathTruncated: boolean;
  /** "major:minor" and inode of the file; "0:0" and 0 when unknown (a failed open, a bad fd). */
  dev: string;
  ino: number;
  opens: number;
  /** Failed opens (counted in opens too). */
  openErrors: number;
  reads: number;
  readBytes: number;
  writes: number;
  writeBytes: number;
  /** Failed reads and writes (not in reads/writes). */
  ioErrors: number;
  /** Per second over the interval: opens + reads + writes. */
  opsRate: number;
  readBytesRate: number;
  writeBytesRate: number;
}

export interface FileSnapshot {
  timeMs: number;
  intervalNs: number;
  /** Sorted by opens + reads + writes, most first. */
  rows: FileRow[];
  totals: { opens: number; openErrors: number; reads: number; readBytes: number; writes: number; writeBytes: number;
    processes: number };
  drops: DropCounts;
  dropsTotal: DropCounts;
  filter: { passed: number; dropped: number };
}

const PROGRAMS = ['vigil_sys_enter', 'vigil_sys_exit'] as const;
const TRACK_PROGRAMS = ['vigil_syscall_track_fork', 'vigil_syscall_track_exit'] as const;

function zeroDrops(): DropCounts {
  return { inflight: 0, stats: 0, fileIo: 0, fileOpens: 0, openInflight: 0 };
}

/** u64 at o as a number (exact below 2^53: counters and nanoseconds of a run). */
function u64(v: DataView, o: number): number {
  return v.getUint32(o, true) + v.getUint32(o + 4, true) * 4294967296;
}

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Byte offsets of each CPU's copy in a per-CPU lookup value. */
function cpuOffsets(valueSize: number): number[] {
  const stride = (valueSize + 7) & ~7;
  return Array.from({ length: numPossibleCpus() }, (_, cpu) => cpu * stride);
}

/** The CPUs' copies in a per-CPU value whose counters at countOffs (summed) are not 0: [offset, sum]. */
function* busyCpus(v: DataView, cpus: readonly number[], ...countOffs: number[]): Generator<[offset: number, count: number]> {
  for (const o of cpus) {
    let c = 0;
    for (const off of countOffs) c += u64(v, o + off);
    if (c !== 0) yield [o, c];
  }
}

/** Aggregates in kernel maps, read by snapshot() and fileSnapshot(): no ring (drain() reads nothing). */
export class SyscallSensor extends Sensor {
  readonly arch: SyscallArch;
  private readonly resolver: FdPathResolver;
  private lastCalls: bigint;
  private lastFiles: bigint;
  /** Drop totals at the previous snapshot of each kind. */
  private readonly dropsSeen = { calls: zeroDrops(), files: zeroDrops() };
  private readonly dropsMap: PerCpuMap<number, bigint>;

  private constructor(obj: BpfObject, readonly mode: number, arch: SyscallArch, procRoot: string) {
    super('syscalls', obj);
    this.arch = arch;
    this.resolver = new FdPathResolver(procRoot);
    this.lastCalls = this.lastFiles = process.hrtime.bigint();
    this.dropsMap = new PerCpuMap(this.object.map('vigil_syscall_drops'), codec.u32, codec.u64);
  }

  static async start(opts: SyscallSensorOptions = {}): Promise<SyscallSensor> {
    const arch = hostSyscallArch(); // refuse an architecture without a name table before loading
    const rawTp = await probeAttach('raw_tracepoint');
    if (rawTp.status === 'unsupported') {
      throw new NotSupportedError('raw_tracepoint', `the syscall sensor attaches to sys_enter/sys_exit: ${rawTp.reason}`, '4.17');
    }
    const mode = (opts.syscalls ?? true ? VIGIL_SYSCALL_MODE_SYSCALLS : 0) | (opts.files ? VIGIL_SYSCALL_MODE_FILES : 0);
    if (!mode) throw new RangeError('SyscallSensor: nothing to aggregate (syscalls and files both off)');
    const filter = opts.filter;
    const flags = filter?.flags ?? 0;
    if ((flags & VIGIL_FILTER_BINARY) && opts.trackProcesses !== false) {
      // The binary verdict is made at exec from the executable's path: the process sensor's work.
      throw new NotSupportedError('binary filter', 'the syscall sensor cannot track executables itself: ' +
        'run it beside the process sensor with the same FilterSet and trackProcesses: false');
    }
    const track = opts.trackProcesses ?? (flags & VIGIL_FILTER_PID_TREE) !== 0;
    const m = opts.maxEntries ?? {};
    const maxEntries: Record<string, number> = {};
    if (m.stats) maxEntries.vigil_syscall_stats = m.stats;
    if (m.inflight) maxEntries.vigil_syscall_inflight = m.inflight;
    if (m.fileIo) maxEntries.vigil_file_io = m.fileIo;
    if (m.fileOpens) maxEntries.vigil_file_opens = m.fileOpens;

    const obj = await Sensor.loadObject('syscalls', {
      filter, programs: [...PROGRAMS, ...(track ? TRACK_PROGRAMS : [])], maxEntries,
      constants: { vigil_syscall_mode: mode, vigil_syscall_ignore_tgid: opts.ignorePid ?? 0 },
    });
    let s: SyscallSensor;
    try {
      s = new SyscallSensor(obj, mode, arch, opts.procRoot ?? '/proc');
    } catch (e) {
      obj.close();
      throw e;
    }
    return s.starting(() => {
      if (track) {
        // Tree tracking first, then seed the processes that already run, then count.
        for (const p of TRACK_PROGRAMS) s.keep(obj.program(p).attach());
        filter?.seedExisting();
      }
      // Exit before entry: a call is counted only if its entry was stashed, so
      // the order only decides whether calls already in flight are seen (never).
      s.keep(obj.program('vigil_sys_exit').attach());
      s.keep(obj.program('vigil_sys_enter').attach());
      s.lastCalls = s.lastFiles = process.hrtime.bigint();
    });
  }

  private map(name: string): BpfMap {
    return this.object.map(name);
  }

  /** Drops since the start, and since the previous call. */
  private drops(kind: 'calls' | 'files'): { interval: DropCounts; total: DropCounts } {
    const sum = (i: number): number => Number((this.dropsMap.get(i) ?? []).reduce((a, b) => a + b, 0n));
    const total: DropCounts = {
      inflight: sum(VIGIL_SYSCALL_DROP_INFLIGHT), stats: sum(VIGIL_SYSCALL_DROP_STATS),
      fileIo: sum(VIGIL_SYSCALL_DROP_FILE_IO), fileOpens: sum(VIGIL_SYSCALL_DROP_FILE_OPENS),
      openInflight: sum(VIGIL_SYSCALL_DROP_OPEN_INFLIGHT),
    };
    const interval = zeroDrops();
    for (const k of Object.keys(total) as (keyof DropCounts)[]) interval[k] = total[k] - this.dropsSeen[kind][k];
    this.dropsSeen[kind] = total;
    return { interval, total };
  }

  private filterNumbers(): { passed: number; dropped: number } {
    const c = this.filterCounts();
    return { passed: Number(c.passed), dropped: Number(c.dropped) };
  }

  /** Per (process, syscall) statistics since the previous snapshot (or the start); clears them in the kernel. */
  snapshot(): SyscallSnapshot {
    if (!(this.mode & VIGIL_SYSCALL_MODE_SYSCALLS)) throw new Error('SyscallSensor: started without syscalls');
    const entries = this.map('vigil_syscall_stats').drain();
    const now = process.hrtime.bigint();
    const intervalNs = Number(now - this.lastCalls);
    this.lastCalls = now;
    const secs = intervalNs / 1e9 || 1e-9;

    const off = vigilSyscallStats.offsets;
    const cpus = cpuOffsets(vigilSyscallStats.size);
    const rows: SyscallRow[] = [];
    const pids = new Set<number>();
    let count = 0;
    let errors = 0;
    for (const [kb, vb] of entries) {
      const key = vigilSyscallKey.decode(viewOf(kb), 0);
      const v = viewOf(vb);
      const hist = new Array<number>(VIGIL_SYSCALL_HIST_BUCKETS).fill(0);
      let n = 0, err = 0, total = 0, max = 0;
      let comm = '';
      for (const [o, c] of busyCpus(v, cpus, off.count)) {
        n += c;
        err += u64(v, o + off.errors);
        total += u64(v, o + off.total_ns);
        max = Math.max(max, u64(v, o + off.max_ns));
        for (let b = 0; b < VIGIL_SYSCALL_HIST_BUCKETS; b++) hist[b] = (hist[b] as number) + u64(v, o + off.hist + 8 * b);
        comm ||= codec.readCString(v, o + off.comm, 16);
      }
      if (n === 0) continue;
      pids.add(key.tgid);
      count += n;
      errors += err;
      rows.push({
        pid: key.tgid, comm, nr: key.nr, syscall: syscallName(key.nr, this.arch),
        count: n, errors: err, rate: n / secs, errorRate: err / secs,
        totalNs: total, avgNs: total / n, p50Ns: histogramQuantile(hist, 0.5, max), p99Ns: histogramQuantile(hist, 0.99, max),
        maxNs: max, hist,
      });
    }
    rows.sort((a, b) => b.count - a.count || a.pid - b.pid || a.nr - b.nr);
    const d = this.drops('calls');
    return {
      timeMs: Date.now(), intervalNs, arch: this.arch, rows,
      totals: { count, errors, rate: count / secs, errorRate: errors / secs, processes: pids.size },
      drops: d.interval, dropsTotal: d.total, filter: this.filterNumbers(),
    };
  }

  /** Opens, reads and writes per (process, file) since the previous file snapshot; clears them in the kernel. */
  fileSnapshot(): FileSnapshot {
    if (!(this.mode & VIGIL_SYSCALL_MODE_FILES)) throw new Error('SyscallSensor: started without files');
    const opens = this.map('vigil_file_opens').drain();
    const io = this.map('vigil_file_io').drain();
    const now = process.hrtime.bigint();
    const intervalNs = Number(now - this.lastFiles);
    this.lastFiles = now;
    const secs = intervalNs / 1e9 || 1e-9;

    const rows = new Map<string, FileRow>();
    const row = (key: string, init: () => FileRow): FileRow => {
      let r = rows.get(key);
      if (!r) rows.set(key, (r = init()));
      return r;
    };
    const blank = (pid: number, comm: string, dev: number, ino: bigint): FileRow => ({
      pid, comm, path: '', pathSource: 'unknown', pathTruncated: false, dev: kernelDevName(dev), ino: Number(ino),
      opens: 0, openErrors: 0, reads: 0, readBytes: 0, writes: 0, writeBytes: 0, ioErrors: 0,
      opsRate: 0, readBytesRate: 0, writeBytesRate: 0,
    });

    // Opens first: an absolute path that reached an inode names it for the reads and writes below.
    {
      const off = vigilFileOpenStats.offsets;
      const cpus = cpuOffsets(vigilFileOpenStats.size);
      for (const [kb, vb] of opens) {
        const key = vigilFileOpenKey.decode(viewOf(kb), 0);
        const v = viewOf(vb);
        let n = 0, err = 0, dev = 0, ino = 0n, fd = -1, dirfd = -100;
        let comm = '';
        for (const [o, c] of busyCpus(v, cpus, off.opens)) {
          n += c;
          err += u64(v, o + off.errors);
          comm ||= codec.readCString(v, o + off.comm, 16);
          dirfd = v.getInt32(o + off.dirfd, true);
          const i = v.getBigUint64(o + off.ino, true);
          if (i !== 0n) {
            ino = i;
            dev = v.getUint32(o + off.dev, true);
            fd = v.getInt32(o + off.fd, true);
          }
        }
        if (n === 0) continue;
        const truncated = Buffer.byteLength(key.path) >= VIGIL_SYSCALL_PATH_MAX - 1;
        let p = ino ? this.resolver.fdPath(key.tgid, fd, dev, ino) : undefined;
        let source: PathSource = 'fd';
        if (p === undefined && key.path.startsWith('/')) {
          p = key.path;
          source = 'open';
          if (!truncated) this.resolver.learn(dev, ino, p);
        }
        if (p === undefined && key.path) {
          p = this.resolver.relativePath(key.tgid, dirfd, key.path);
          source = 'relative';
        }
        if (p === undefined) {
          p = key.path || '[unreadable path]';
          source = 'unknown';
        }
        const id = ino ? `${key.tgid}\0${dev}:${ino}` : `${key.tgid}\0${p}`;
        const r = row(id, () => blank(key.tgid, comm, dev, ino));
        if (r.pathSource === 'unknown' || (r.pathSource !== 'fd' && source === 'fd')) {
          r.path = p;
          r.pathSource = source;
          r.pathTruncated = truncated && source !== 'fd';
        }
        r.opens += n;
        r.openErrors += err;
      }
    }
    {
      const off = vigilFileIoStats.offsets;
      const cpus = cpuOffsets(vigilFileIoStats.size);
      for (const [kb, vb] of io) {
        const key = vigilFileIoKey.decode(viewOf(kb), 0);
        const v = viewOf(vb);
        let reads = 0, rb = 0, writes = 0, wb = 0, err = 0, fd = -1;
        let comm = '';
        for (const [o] of busyCpus(v, cpus, off.reads, off.writes, off.errors)) {
          reads += u64(v, o + off.reads);
          rb += u64(v, o + off.read_bytes);
          writes += u64(v, o + off.writes);
          wb += u64(v, o + off.write_bytes);
          err += u64(v, o + off.errors);
          comm ||= codec.readCString(v, o + off.comm, 16);
          if (fd < 0) fd = v.getInt32(o + off.fd, true);
        }
        if (reads + writes + err === 0) continue;
        const id = key.ino ? `${key.tgid}\0${key.dev}:${key.ino}` : `${key.tgid}\0[bad fd]`;
        const r = row(id, () => blank(key.tgid, comm, key.dev, key.ino));
        if (r.pathSource !== 'fd') {
          const byFd = this.resolver.fdPath(key.tgid, fd, key.dev, key.ino);
          const byInode = byFd === undefined ? this.resolver.inodePath(key.dev, key.ino) : undefined;
          if (byFd !== undefined) {
            r.path = byFd;
            r.pathSource = 'fd';
            r.pathTruncated = false;
          } else if (r.pathSource === 'unknown' && byInode !== undefined) {
            r.path = byInode;
            r.pathSource = 'inode';
          } else if (r.pathSource === 'unknown' && !r.path) {
            r.path = key.ino ? `[fd ${fd}: dev ${kernelDevName(key.dev)} inode ${key.ino}]` : '[bad fd]';
          }
        }
        r.reads += reads;
        r.readBytes += rb;
        r.writes += writes;
        r.writeBytes += wb;
        r.ioErrors += err;
      }
    }

    const out = [...rows.values()];
    const totals = { opens: 0, openErrors: 0, reads: 0, readBytes: 0, writes: 0, writeBytes: 0, processes: 0 };
    const pids = new Set<number>();
    for (const r of out) {
      r.opsRate = (r.opens + r.reads + r.writes) / secs;
      r.readBytesRate = r.readBytes / secs;
      r.writeBytesRate = r.writeBytes / secs;
      totals.opens += r.opens;
      totals.openErrors += r.openErrors;
      totals.reads += r.reads;
      totals.readBytes += r.readBytes;
      totals.writes += r.writes;
      totals.writeBytes += r.writeBytes;
      pids.add(r.pid);
    }
    totals.processes = pids.size;
    out.sort((a, b) => b.opsRate - a.opsRate || (b.readBytes + b.writeBytes) - (a.readBytes + a.writeBytes) ||
      a.pid - b.pid || a.path.localeCompare(b.path));
    const d = this.drops('files');
    return { timeMs: Date.now(), intervalNs, rows: out, totals, drops: d.interval, dropsTotal: d.total,
      filter: this.filterNumbers() };
  }
}
