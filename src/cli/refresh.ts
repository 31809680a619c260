// The shell of a refreshing view (`vigil top`): a frame every interval, on a
// terminal redrawn in place (alternate screen; q or Ctrl-C quits), otherwise
// one table or JSON line per interval; with --output json and --duration, one
// frame covering the whole duration.
//
// It runs on the same parts as the streaming commands: the frames go through
// an EventPipeline to a bounded stdout sink (a reader that stops reading costs
// dropped frames, counted, never memory; a closed stdout ends the command),
// the sensors' rings are the pipeline's sources (drained each cycle, paused
// when stdout is full), and Shutdown stops it (a signal, the duration, q),
// detaching every link at once.
import { DEFAULT_OUTPUT_BUFFER, EventPipeline, Sink, stdoutOutput, type PipelineSource } from '../pipeline/index.js';
import { Shutdown } from './shutdown.js';
import { UsageError } from './command.js';
import { requireCapabilities } from './privileges.js';
import type { parseArgs, ParseArgsConfig } from 'node:util';
import { filterSetFromFlags, ids, parseFlags, positive } from './flags.js';
import type { FilterOptions, FilterSet } from '../sensors/filter.js';
import { existsSync } from 'node:fs';
import { CRI_SOCKETS } from '../process/cri-sockets.js';
import { PodFilter, type PodSelector } from '../process/pod-filter.js';
import { walkCgroups } from '../process/container.js';
import { containerCgroupIndex } from '../policy/pod-scope.js';

/** The flags every `top` view takes (parseFlags options). */
export const TOP_FLAGS = {
  interval: { type: 'string' },
  duration: { type: 'string' },
  limit: { type: 'string' },
  output: { type: 'string', short: 'o', default: 'table' },
  pid: { type: 'string', multiple: true },
  'follow-children': { type: 'boolean', default: false },
  uid: { type: 'string', multiple: true },
  comm: { type: 'string', multiple: true },
  container: { type: 'string' },
  namespace: { type: 'string', multiple: true },
  pod: { type: 'string', multiple: true },
  label: { type: 'string', multiple: true },
  'cri-socket': { type: 'string' },
} as const;

/**
 * The view argv names (`vigil top VIEW`): its first positional, the values
 * of TOP_FLAGS and of the view's own `valueFlags` skipped.
 */
export function topViewOf(argv: readonly string[], valueFlags: readonly string[] = []): string | undefined {
  const withValue = new Set(valueFlags);
  for (const [name, o] of Object.entries(TOP_FLAGS)) {
    if (o.type !== 'string') continue;
    withValue.add(`--${name}`);
    if ('short' in o) withValue.add(`-${o.short}`);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (withValue.has(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/** Parses a view's flags (TOP_FLAGS and its own `options`): one positional, the view's name. */
export function parseTopViewFlags<const T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], view: string, options: T):
  ReturnType<typeof parseArgs<{ options: typeof TOP_FLAGS & T; allowPositionals: true }>>['values'] {
  const { values, positionals } = parseFlags({ args: argv, options: { ...TOP_FLAGS, ...options }, allowPositionals: true as const });
  if (positionals.length !== 1 || positionals[0] !== view) throw new UsageError(`expected "${view}", got ${positionals.join(' ')}`);
  return values;
}

/**
 * A view's start: with -h or --help, its usage on stdout and undefined (the
 * command ends, status 0); otherwise its options, parsed by `parse`, once
 * the capabilities every view needs (CAP_BPF, CAP_PERFMON) are checked.
 */
export function topViewStart<O>(argv: string[], usage: string, parse: (argv: string[]) => O): O | undefined {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(`${usage}\n`);
    return undefined;
  }
  const o = parse(argv);
  requireCapabilities('', ['CAP_BPF', 'CAP_PERFMON'], ['top', ...argv]);
  return o;
}

export interface TopCommonOptions {
  intervalS: number;
  durationS: number | undefined;
  limit: number | undefined;
  output: 'table' | 'json';
  filter: FilterOptions;
  container: string | undefined;
  /** --namespace, --pod, --label: the pods' cgroups, found when the view starts (topFilterSet). */
  pods: PodSelector;
  /** --cri-socket: the runtime naming the pods; undefined: the first default that exists. */
  criSocket: string | undefined;
}

/** Checks the flags every view takes: timing, rows, output, the in-kernel filters. Pure. */
export function topCommonOptions(values: {
  interval?: string; duration?: string; limit?: string; output: string; pid?: string[]; 'follow-children': boolean;
  uid?: string[]; comm?: string[]; container?: string; namespace?: string[]; pod?: string[]; label?: string[]; 'cri-socket'?: string;
}): TopCommonOptions {
  if (values.output !== 'table' && values.output !== 'json') {
    throw new UsageError(`--output: unknown format "${values.output}"; available: table, json`);
  }
  const pids = ids('--pid', values.pid, 1);
  if (values['follow-children'] && !pids) throw new UsageError('--follow-children needs --pid');
  for (const c of values.comm ?? []) {
    if (c === '' || Buffer.byteLength(c) > 15) {
      throw new UsageError(`--comm: "${c}" is ${c ? 'longer than 15 bytes (the kernel keeps 15)' : 'empty'}`);
    }
  }
  const container = values.container;
  if (container !== undefined && container !== 'host' && !/^[0-9a-fA-F]{1,64}$/.test(container)) {
    throw new UsageError(`--container: expected a container id (hex digits) or "host", got "${container}"`);
  }
  const pods: PodSelector = { namespaces: values.namespace, pods: values.pod, labels: values.label };
  let podsActive: boolean;
  try {
    podsActive = new PodFilter(pods).active;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (podsActive && container !== undefined) throw new UsageError('--container: not with --namespace, --pod, --label (they choose the containers)');
  const criSocket = values['cri-socket'];
  if (criSocket !== undefined && !criSocket.startsWith('/')) throw new UsageError(`--cri-socket: expected an absolute path, got "${criSocket}"`);
  return {
    intervalS: positive('--interval', values.interval, false) ?? 1,
    durationS: positive('--duration', values.duration, false),
    limit: positive('--limit', values.limit, true),
    output: values.output,
    filter: { pids, followChildren: values['follow-children'], uids: ids('--uid', values.uid, 0), comms: values.comm },
    container,
    pods,
    criSocket,
  };
}

/**
 * The in-kernel filters of a view. With --namespace, --pod or --label, the CRI runtime's pods
 * that match, as the cgroups of their containers (and every cgroup below them) now: the kernel
 * drops every other task's activity; a pod made later is not counted (start the view again).
 */
export async function topFilterSet(o: TopCommonOptions): Promise<FilterSet> {
  const select = new PodFilter(o.pods);
  if (!select.active) return filterSetFromFlags(o.filter, o.container);
  const socket = o.criSocket ?? CRI_SOCKETS.find((s) => existsSync(s));
  if (!socket) throw new UsageError(`--namespace, --pod, --label: no CRI runtime socket found (${CRI_SOCKETS.join(', ')}); give --cri-socket PATH`);
  // gRPC is loaded only when there is a runtime to ask.
  const { CriMetadata } = await import('../process/cri.js');
  using cri = await CriMetadata.connect(socket);
  const index = containerCgroupIndex(walkCgroups());
  const cgroupIds = [...new Set([...cri.containers()].filter((c) => select.matches(c)).flatMap((c) => index.get(c.id) ?? []))];
  if (cgroupIds.length === 0) throw new UsageError('--namespace, --pod, --label: no running container of the CRI runtime\'s pods matches');
  return filterSetFromFlags({ ...o.filter, cgroupIds }, undefined);
}

/** One refresh: its lines for a terminal or a table, its JSON object. */
export interface Frame {
  text(): string[];
  json(): object;
}

export interface RefreshOptions {
  /** "top" (messages, Shutdown's name). */
  command: string;
  /** "syscalls", "files", "tcp": what is counted. */
  view: string;
  intervalS: number;
  durationS: number | undefined;
  json: boolean;
  /** stdout is a terminal and the output is a table: redraw in place. */
  interactive: boolean;
  /** The frame for the time since the previous one. */
  take(): Frame | Promise<Frame>;
  /** The sensors' rings, drained by the pipeline (each with the name its losses are counted under). */
  sources?: readonly { name: string; source: PipelineSource }[];
  /** Closes the sensors (inside Shutdown.close: their links are detached together). */
  close(): void;
}

const ALT_SCREEN_ON = '\x1b[?1049h\x1b[?25l';
const ALT_SCREEN_OFF = '\x1b[?25h\x1b[?1049l';
const HOME_CLEAR = '\x1b[H\x1b[2J';
/** How long a stop waits for stdout to take the last frame. */
const OUTPUT_GRACE_MS = 250;

/** Runs the view until stopped; the exit status. */
export async function refreshView(o: RefreshOptions): Promise<number> {
  using shutdown = new Shutdown(o.command);
  const stop = (why: string): void => shutdown.stop(why);
  const report = (line: string): void => void process.stderr.write(`vigil ${o.command}: ${line}\n`);
  // Frames go out in the order they are made: no reordering, a bounded queue for stdout.
  const pipeline = new EventPipeline<string>({
    reorder: false, timeOf: () => 0n, sensorOf: () => o.view, now: () => 0n, report,
    onOutputsClosed: () => stop('stdout closed'),
  });
  const stdout = new Sink<string>(stdoutOutput, {
    capacityBytes: DEFAULT_OUTPUT_BUFFER, sensorOf: () => o.view,
    format: {
      line: (frame) => frame,
      lost: (l) => (o.json ? JSON.stringify({ lost: { count: l.count, sensor: l.sensor, reason: l.reason } }) : undefined),
    },
  });
  pipeline.addSink(stdout);
  for (const s of o.sources ?? []) pipeline.addSource(s.name, s.source);
  pipeline.start();
  const out = (text: string): void => {
    pipeline.push(text);
    pipeline.schedule();
  };

  const stdin = process.stdin;
  const raw = o.interactive && stdin.isTTY === true;
  let last: Frame | undefined;
  // The table last drawn: printed again on the main screen at exit, so it stays.
  let frame: string | undefined;
  const width = (): number => process.stdout.columns || 80;
  const draw = (): void => {
    if (!o.interactive) return;
    const lines = last ? last.text() : [`vigil ${o.command} ${o.view}: collecting for ${o.intervalS}s... (q to quit)`];
    const text = lines.map((l) => l.slice(0, width())).join('\n');
    if (last) frame = text;
    out(HOME_CLEAR + text);
  };
  const onKey = (d: Buffer): void => {
    if (d.includes(0x71 /* q */) || d.includes(0x51 /* Q */) || d.includes(0x03 /* Ctrl-C */)) stop('q');
  };
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    if (raw) stdin.setRawMode(false);
    // Straight to the terminal: the screen must come back even when the pipeline is stopping.
    if (o.interactive) process.stdout.write(ALT_SCREEN_OFF + (frame === undefined ? '' : `${frame}\n`));
  };
  let busy = false;
  const tick = (): void => {
    if (busy) return;
    busy = true;
    Promise.resolve().then(() => o.take()).then((f) => {
      last = f;
      if (o.interactive) draw();
      else out(o.json ? JSON.stringify(f.json()) : `${f.text().join('\n')}\n`);
    }).catch((e: unknown) => {
      report(`${o.view}: ${(e as Error).message}`);
      stop('error');
    }).finally(() => {
      busy = false;
    });
  };

  let timer: NodeJS.Timeout | undefined;
  const end = o.durationS !== undefined ? setTimeout(() => stop('duration'), o.durationS * 1000) : undefined;
  try {
    if (o.json && o.durationS !== undefined) {
      // One frame for the whole duration; interrupted early, what was counted so far (interval_s says how long).
      report(`counting ${o.view} for ${o.durationS}s`);
      await shutdown.stopped;
      out(JSON.stringify((await o.take()).json()));
    } else {
      process.on('exit', restore);
      process.stdout.on('resize', draw);
      if (o.interactive) process.stdout.write(ALT_SCREEN_ON);
      if (raw) {
        stdin.setRawMode(true);
        stdin.on('data', onKey);
        stdin.resume();
      } else if (!o.interactive) {
        report(`counting ${o.view} every ${o.intervalS}s; Ctrl-C to stop`);
      }
      draw();
      timer = setInterval(tick, o.intervalS * 1000);
      const why = await shutdown.stopped;
      clearInterval(timer);
      // A stream's last frame: what was counted since the one before (interval_s says how long), so
      // that its frames add up to everything counted. Not for a screen, a closed stdout or an error.
      if (!o.interactive && why !== 'stdout closed' && why !== 'error') {
        while (busy) await new Promise((r) => setTimeout(r, 5));
        try {
          const f = await o.take();
          out(o.json ? JSON.stringify(f.json()) : `${f.text().join('\n')}\n`);
        } catch (e) {
          report(`${o.view}: ${(e as Error).message}`);
        }
      }
    }
  } finally {
    if (timer) clearInterval(timer);
    if (end) clearTimeout(end);
    process.stdout.off('resize', draw);
    if (raw) {
      stdin.off('data', onKey);
      stdin.pause();
    }
    restore();
    process.off('exit', restore);
    await shutdown.close(() => o.close());
    const delivered = await pipeline.close(OUTPUT_GRACE_MS);
    // A write the reader never takes would keep the process alive: leave once returned.
    if (!delivered && !stdout.closed) setTimeout(() => process.exit(), 100).unref();
  }
  return 0;
}

// --- formatting: the columns of every view's table ------------------------------

export function fmtCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (n >= 100 || Number.isInteger(n)) return String(Math.round(n));
  return n.toFixed(1);
}

export function fmtNs(ns: number): string {
  if (ns <= 0) return '0';
  if (ns < 1e3) return `${Math.round(ns)}ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)}us`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)}ms`;
  return `${(ns / 1e9).toFixed(2)}s`;
}

export function fmtBytes(n: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(n)}B` : `${n.toFixed(n < 10 ? 2 : 1)}${units[u]}`;
}

export const pad = (s: string, n: number): string => (s.length >= n ? s.slice(0, n) : s + ' '.repeat(n - s.length));
export const rpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
