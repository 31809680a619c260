// vigil top: per-process syscall and file activity, refreshed in the terminal
// like top(1), from aggregates the kernel keeps (src/sensors/syscalls.ts).
import { requireCapabilities } from '../privileges.js';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import type { FilterOptions } from '../../sensors/filter.js';
import {
  SyscallSensor, type DropCounts, type FileRow, type FileSnapshot, type SyscallRow, type SyscallSnapshot,
} from '../../sensors/syscalls.js';
import { isTopTcp, runTopTcp } from '../top-tcp.js';
import { isTopHttp, runTopHttp } from '../top-http.js';
import { parseFlags } from '../flags.js';
import {
  fmtBytes, fmtCount, fmtNs, pad, refreshView, rpad, topCommonOptions, topFilterSet, TOP_FLAGS, type TopCommonOptions,
} from '../refresh.js';

const VIEWS = ['syscalls', 'files'] as const;
/** Every view, for errors: tcp is served by top-tcp.ts, http by top-http.ts. */
const ALL_VIEWS = [...VIEWS, 'tcp', 'http'] as const;
export type TopView = (typeof VIEWS)[number];

const usage = `usage: vigil top syscalls|files|tcp|http [options]

Shows what processes ask the kernel for, refreshed every interval like top(1):
  syscalls  per process and syscall: calls/s, errors/s, p50/p99/max latency
            (log2 histograms kept in the kernel), time spent in the calls
  files     per process and file: opens/s (and failures), reads/s and read
            bytes/s, writes/s and written bytes/s (read, write, pread64,
            pwrite64, readv, writev, preadv(2), pwritev(2); open, openat,
            openat2, creat)
  tcp       TCP connections by bytes/s and bytes (vigil top tcp --help)
  http      HTTP requests/s, errors and p50/p90/p99 latency per service and
            route (vigil top http --help)
Sorted by rate, busiest first. Counting happens in the kernel; nothing per
call crosses to user space. Vigil's own calls are left out.

In a terminal: q or Ctrl-C quits. Otherwise one table per interval.

options:
  --interval S        seconds between refreshes (default 1; decimals allowed)
  --duration S        stop after S seconds
  --limit N           at most N rows (default: what fits the terminal; all in json)
  --output FORMAT     table (default) or json. json with --duration prints ONE
                      snapshot covering the S seconds, then exits; without it,
                      one JSON object per line every interval, and on Ctrl-C
                      one more for the interval it cut short (interval_s)
  --pid N             only process N (repeatable) ...
  --follow-children   ... and its descendants, also those forked later
  --uid N             only processes of real uid N (repeatable)
  --comm NAME         only tasks named NAME (repeatable; at most 15 bytes)
  --container ID|host only the container ID (a unique prefix is enough), or
                      only processes in no container (the containers of the
                      start: one started later counts as host here)
  --namespace NS, --pod NAME, --label KEY[=VALUE]
                      only the containers of these Kubernetes pods, as the CRI
                      runtime lists them at start (--cri-socket PATH; default:
                      the first of /run/containerd/containerd.sock,
                      /run/crio/crio.sock that exists)
  -h, --help

Kernel-side map overflows are reported in the header ("drops"), never hidden.`;

export interface TopOptions extends TopCommonOptions {
  view: TopView;
}

/** Parses the command line; pure (containers are resolved later). */
export function parseTopArgs(argv: string[]): TopOptions {
  let parsed;
  try {
    parsed = parseFlags({ args: argv, options: TOP_FLAGS, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? `what to show? give a view: ${ALL_VIEWS.join(', ')}`
      : `one view at a time, got ${positionals.join(' ')}`);
  }
  const view = positionals[0] as string;
  if (!(VIEWS as readonly string[]).includes(view)) {
    throw new UsageError(`unknown view "${view}"; available: ${ALL_VIEWS.join(', ')}`);
  }
  return { view: view as TopView, ...topCommonOptions(values) };
}

// --- formatting ---------------------------------------------------------------

function dropsTotal(d: DropCounts): number {
  return d.inflight + d.stats + d.fileIo + d.fileOpens + d.openInflight;
}

function clock(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8);
}


function dropsText(d: DropCounts, total: DropCounts): string {
  const n = dropsTotal(d);
  return `drops ${n}${dropsTotal(total) ? ` (${dropsTotal(total)} since start)` : ''}`;
}

/** Left-cuts s to n characters ("...e/name"), keeping the end where a path keeps its file name. */
function leftCut(s: string, n: number | undefined): string {
  if (n === undefined || s.length <= n) return s;
  return n <= 3 ? s.slice(s.length - n) : `...${s.slice(s.length - n + 3)}`;
}

export interface RenderOptions {
  /** Rows at most (default all). */
  limit?: number;
  /** Terminal width: the path column is cut from the left to fit (default: no cut). */
  width?: number;
}

/** The syscalls table: two header lines with totals, column titles, rows. */
export function renderSyscalls(s: SyscallSnapshot, o: RenderOptions = {}): string[] {
  const secs = s.intervalNs / 1e9;
  const lines = [
    `vigil top syscalls  ${clock(s.timeMs)}  interval ${secs.toFixed(2)}s  processes ${s.totals.processes}  ` +
    dropsText(s.drops, s.dropsTotal),
    `calls ${fmtCount(s.totals.rate)}/s  errors ${fmtCount(s.totals.errorRate)}/s` +
    (s.filter.passed + s.filter.dropped ? `  filtered out ${fmtCount(s.filter.dropped)} since start` : ''),
    `${rpad('PID', 7)} ${pad('COMM', 15)} ${pad('SYSCALL', 16)} ${rpad('CALLS/s', 8)} ${rpad('ERR/s', 7)} ` +
    `${rpad('P50', 8)} ${rpad('P99', 8)} ${rpad('MAX', 8)} ${rpad('TIME', 8)}`,
  ];
  for (const r of s.rows.slice(0, o.limit)) {
    lines.push(`${rpad(String(r.pid), 7)} ${pad(r.comm, 15)} ${r.syscall.length > 16 ? r.syscall : pad(r.syscall, 16)} ` +
      `${rpad(fmtCount(r.rate), 8)} ${rpad(r.errors ? fmtCount(r.errorRate) : '-', 7)} ${rpad(fmtNs(r.p50Ns), 8)} ` +
      `${rpad(fmtNs(r.p99Ns), 8)} ${rpad(fmtNs(r.maxNs), 8)} ${rpad(fmtNs(r.totalNs), 8)}`);
  }
  return lines;
}

export function renderFiles(s: FileSnapshot, o: RenderOptions = {}): string[] {
  const secs = s.intervalNs / 1e9;
  const t = s.totals;
  const lines = [
    `vigil top files  ${clock(s.timeMs)}  interval ${secs.toFixed(2)}s  processes ${t.processes}  ` +
    dropsText(s.drops, s.dropsTotal),
    `opens ${fmtCount(t.opens / secs)}/s` + (t.openErrors ? ` (${fmtCount(t.openErrors / secs)}/s failed)` : '') +
    `  reads ${fmtCount(t.reads / secs)}/s ${fmtBytes(t.readBytes / secs)}/s  writes ${fmtCount(t.writes / secs)}/s ` +
    `${fmtBytes(t.writeBytes / secs)}/s`,
    `${rpad('PID', 7)} ${pad('COMM', 15)} ${rpad('OPENS/s', 7)} ${rpad('FAIL/s', 6)} ${rpad('READ/s', 6)} ` +
    `${rpad('RD B/s', 7)} ${rpad('WRIT/s', 6)} ${rpad('WR B/s', 7)} PATH`,
  ];
  const fixed = 7 + 15 + 7 + 6 + 6 + 7 + 6 + 7 + 8;
  const pathWidth = o.width !== undefined ? Math.max(10, o.width - fixed) : undefined;
  for (const r of s.rows.slice(0, o.limit)) {
    const rate = (n: number): string => (n ? fmtCount(n / secs) : '-');
    lines.push(`${rpad(String(r.pid), 7)} ${pad(r.comm, 15)} ${rpad(rate(r.opens), 7)} ${rpad(rate(r.openErrors), 6)} ` +
      `${rpad(rate(r.reads), 6)} ${rpad(r.readBytes ? fmtBytes(r.readBytesRate) : '-', 7)} ` +
      `${rpad(rate(r.writes), 6)} ${rpad(r.writeBytes ? fmtBytes(r.writeBytesRate) : '-', 7)} ` +
      leftCut(r.path + (r.pathTruncated ? '...' : ''), pathWidth));
  }
  return lines;
}

const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

function dropsJson(d: DropCounts): Record<string, number> {
  return { inflight: d.inflight, stats: d.stats, file_io: d.fileIo, file_opens: d.fileOpens, open_inflight: d.openInflight };
}

/** One snapshot as a JSON object (snake_case, like the event JSON). */
export function syscallsJson(s: SyscallSnapshot, limit: number | undefined): object {
  return {
    top: 'syscalls', time: new Date(s.timeMs).toISOString(), interval_s: round(s.intervalNs / 1e9, 3), arch: s.arch,
    totals: { count: s.totals.count, errors: s.totals.errors, rate: round(s.totals.rate), error_rate: round(s.totals.errorRate),
      processes: s.totals.processes },
    drops: dropsJson(s.drops), drops_total: dropsJson(s.dropsTotal), filter: s.filter,
    rows: s.rows.slice(0, limit).map((r: SyscallRow) => ({
      pid: r.pid, comm: r.comm, syscall: r.syscall, nr: r.nr, count: r.count, errors: r.errors, rate: round(r.rate),
      error_rate: round(r.errorRate), p50_ns: Math.round(r.p50Ns), p99_ns: Math.round(r.p99Ns), max_ns: r.maxNs,
      avg_ns: Math.round(r.avgNs), total_ns: r.totalNs, hist_log2_ns: r.hist,
    })),
  };
}

export function filesJson(s: FileSnapshot, limit: number | undefined): object {
  return {
    top: 'files', time: new Date(s.timeMs).toISOString(), interval_s: round(s.intervalNs / 1e9, 3),
    totals: { opens: s.totals.opens, open_errors: s.totals.openErrors, reads: s.totals.reads, read_bytes: s.totals.readBytes,
      writes: s.totals.writes, write_bytes: s.totals.writeBytes, processes: s.totals.processes },
    drops: dropsJson(s.drops), drops_total: dropsJson(s.dropsTotal), filter: s.filter,
    rows: s.rows.slice(0, limit).map((r: FileRow) => ({
      pid: r.pid, comm: r.comm, path: r.path, path_source: r.pathSource, path_truncated: r.pathTruncated,
      dev: r.dev, ino: r.ino, opens: r.opens, open_errors: r.openErrors, reads: r.reads, read_bytes: r.readBytes,
      writes: r.writes, write_bytes: r.writeBytes, io_errors: r.ioErrors, ops_rate: round(r.opsRate),
      read_bytes_rate: round(r.readBytesRate), write_bytes_rate: round(r.writeBytesRate),
    })),
  };
}

// --- the command ------------------------------------------------------------------

export const command: Command = {
  name: 'top',
  summary: 'per-process syscall and file activity, refreshed like top',
  usage,
  async run(argv: string[]): Promise<number> {
    if (isTopTcp(argv)) return runTopTcp(argv);
    if (isTopHttp(argv)) return runTopHttp(argv);
    const o = parseTopArgs(argv);
    requireCapabilities('', ['CAP_BPF', 'CAP_PERFMON'], ['top', ...argv]);
    using filter = await topFilterSet(o);
    const sensor = await SyscallSensor.start({
      filter, syscalls: o.view === 'syscalls', files: o.view === 'files', ignorePid: process.pid,
    });
    const json = o.output === 'json';
    const interactive = !json && process.stdout.isTTY === true;
    // On a terminal: what fits (rows and columns, read at each redraw: it may be resized).
    const view = (): RenderOptions => (interactive
      ? { limit: o.limit ?? Math.max(1, (process.stdout.rows || 24) - 4), width: process.stdout.columns || 80 }
      : { limit: o.limit });
    return await refreshView({
      command: 'top', view: o.view, intervalS: o.intervalS, durationS: o.durationS, json, interactive,
      take: () => {
        if (o.view === 'syscalls') {
          const s = sensor.snapshot();
          return { text: () => renderSyscalls(s, view()), json: () => syscallsJson(s, o.limit) };
        }
        const s = sensor.fileSnapshot();
        return { text: () => renderFiles(s, view()), json: () => filesJson(s, o.limit) };
      },
      close: () => sensor.close(),
    });
  },
};
