// vigil observe: stream kernel events to stdout until interrupted, a duration
// passes or a count is reached.
//
// The process sensor always runs: it feeds the process cache that gives every
// event (a file event too) its process, parent and ancestors; --sensors only
// chooses which events are printed. Filters are in-kernel (FilterSet): what
// they drop never reaches this process.
import { requireCapabilities } from '../privileges.js';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { ensureTracefs, NotSupportedError } from '../../bpf/index.js';
import type { ProcessEventKind } from '../../sensors/process.js';
import { sensorEventSensor, startEventSensors } from '../../pipeline/event-sensors.js';
import type { FilterOptions } from '../../sensors/filter.js';
import type { SensorEvent } from '../../sensors/events.js';
import { ProcessCache } from '../../process/cache.js';
import { OUTPUT_FORMATS, TetragonFormatter, type OutputFormat } from '../../output/tetragon.js';
import { BootClock, parseTimeFormat, TIME_FORMATS, type TimeFormat } from '../../util/clock.js';
import { colorEnabled, COLOR_MODES, parseColorMode, type ColorMode } from '../../output/color.js';
import { DEFAULT_OUTPUT_BUFFER, EventPipeline, Sink, formatByteSize, stdoutOutput } from '../../pipeline/index.js';
import { isNetworkObserve, NETWORK_SENSORS, NETWORK_USAGE, runNetworkObserve } from '../observe-network.js';
import { Shutdown } from '../shutdown.js';
import {
  PROCESS_FILTER_FLAGS, absolutePrefixes, byteSize, filterSetFromFlags, ids, pathPrefixes as canonicalPathPrefixes, positive, parseFlags,
} from '../flags.js';

export const SENSORS = ['exec', 'exit', 'fork', 'file'] as const;
export type SensorName = (typeof SENSORS)[number];
const DEFAULT_SENSORS: readonly SensorName[] = ['exec', 'exit', 'file'];

/** Process event kinds each sensor name prints. */
const KINDS: Record<Exclude<SensorName, 'file'>, ProcessEventKind[]> = {
  exec: ['exec', 'exec_failed'],
  exit: ['exit'],
  fork: ['fork'],
};

const usage = `usage: vigil observe [--sensors LIST] [filters] [--output compact|json|table|tetragon]
                     [--time-format F] [--color WHEN] [--duration S] [--count N] [--ancestors]

Streams events from the kernel to stdout, one line each, until Ctrl-C (SIGINT),
SIGTERM, S seconds, or N events.

sensors (--sensors, comma-separated; default: exec,exit,file):
  exec    successful execve/execveat, and failed ones with their error
  exit    the end of a process: exit status, or the signal that killed it
  fork    a new process (fork, vfork, clone without CLONE_THREAD)
  file    open/openat/openat2/creat, unlink, rename, mkdir, rmdir, link,
          symlink, chmod, chown, truncate: canonical paths (an opened file's
          own, symlinks followed; other names with ".", ".." and "//"
          resolved), the name as given, flags, result

filters (in the kernel; a flag given more than once matches any of its values):
  --pid N             processes with this pid ...
  --follow-children   ... and every process they start (with --pid)
  --uid N             processes running as this (real) user id
  --comm NAME         processes with this short name (comm, at most 15 bytes)
  --binary PREFIX     processes whose executable path starts with PREFIX
  --path-prefix PATH  file events whose canonical path starts with PATH
                      (file sensor; paths as the process sees them from its
                      root; symlinks, "." and ".." in PATH are resolved here)
  --container ID|host processes in this container (id or unique id prefix),
                      or "host": processes in no container
Different filters must all match.
  --include-self      also Vigil's own activity (its reads of /proc and tracefs,
                      its threads, the helpers it runs), left out by default

output:
  --output FORMAT     compact (default): <time>: 🚀 process <pid> <binary> <args>, ...
                      json: one Tetragon-shaped JSON object per line, with
                        Vigil's fields and event kinds (fork, failed exec, file)
                        {"process_exec":{"process":{...},"parent":{...}},"node_name":..,"time":..}
                      tetragon: strict Tetragon JSON (tetra getevents -o json):
                        only its schema's fields; file events as process_kprobe;
                        no forks or failed execs (Tetragon has none)
                      table: aligned columns under a header line
  --time-format F     compact: the time column's layout, as hubble observe's:
                      StampMilli (default: Dec  6 07:46:00.123), RFC3339,
                      RFC3339Milli, RFC3339Micro, RFC3339Nano, RFC1123Z (UTC)
  --color WHEN        compact: auto (default: on a terminal, unless NO_COLOR
                      is set), always, never
  --ancestors         add each process's ancestors beyond its parent
  --duration S        stop after S seconds (decimals allowed)
  --count N           stop after N events
  --output-buffer SIZE  most output waiting for a slow reader of stdout
                      (default 16MiB; KiB, MiB, GiB); beyond it events are
                      dropped and counted, and once no output can take more,
                      the rings are not read (the kernel drops and counts)
  -h, --help

Events from all sensors come out in kernel time order (held up to 20 ms to
merge the rings). Events that were dropped (ring buffer full, output queue
full, a failed write) are counted by sensor and reason and reported: a lost
record in the output ({"lost":{"count":N,"sensor":S,"reason":R}} in json,
"⚠️ lost N S events (why)" otherwise), a stderr line (at most one a second),
and a final "lost N events" line on stderr. A closed stdout (| head) ends
observe quietly.`;

export interface ObserveOptions {
  sensors: SensorName[];
  format: OutputFormat;
  duration: number | undefined;
  count: number | undefined;
  ancestors: boolean;
  filter: FilterOptions;
  /** --container: an id (prefix) or 'host'; resolved to cgroup ids at start. */
  container: string | undefined;
  timeFormat: TimeFormat;
  color: ColorMode;
  /** --output-buffer: bytes stdout may hold unread before events are dropped (counted). */
  outputBuffer: number;
}

/** Every sensor --sensors takes: the process and file ones, and the network ones (flow, dns) on their own. */
const ALL_SENSORS = `${SENSORS.join(', ')}, ${NETWORK_SENSORS.join(', ')} (${NETWORK_SENSORS.join(' and ')} together, not with the others)`;

/** How long a stop waits for stdout to take what is queued before giving it up (counted as not written). */
const OUTPUT_GRACE_MS = 250;

function parseSensors(list: string): SensorName[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UsageError(`--sensors: empty list; available: ${ALL_SENSORS}`);
  for (const n of names) {
    if (!(SENSORS as readonly string[]).includes(n)) {
      const hint = n === 'syscall' || n === 'syscalls' ? ' (syscall counts are `vigil top syscalls`)' : '';
      throw new UsageError(`--sensors: unknown sensor "${n}"; available: ${ALL_SENSORS}${hint}`);
    }
  }
  return [...new Set(names)] as SensorName[];
}

/** observe's flags (`vigil events` takes them too). */
export const OBSERVE_FLAGS = {
  sensors: { type: 'string' },
  output: { type: 'string', short: 'o', default: 'compact' },
  duration: { type: 'string' },
  count: { type: 'string' },
  ancestors: { type: 'boolean', default: false },
  ...PROCESS_FILTER_FLAGS,
  binary: { type: 'string', multiple: true },
  'path-prefix': { type: 'string', multiple: true },
  'time-format': { type: 'string', default: 'StampMilli' },
  color: { type: 'string', default: 'auto' },
  'output-buffer': { type: 'string' },
} as const;

/** What parseFlags gives for OBSERVE_FLAGS. */
export interface ObserveFlagValues {
  output: string;
  duration?: string;
  count?: string;
  ancestors: boolean;
  pid?: string[];
  'follow-children': boolean;
  uid?: string[];
  comm?: string[];
  binary?: string[];
  'path-prefix'?: string[];
  container?: string[];
  'include-self': boolean;
  'time-format': string;
  color: string;
  'output-buffer'?: string;
}

/** Parses and checks observe's flags. Pure: nothing is loaded, the container is resolved later. */
export function parseObserveArgs(argv: string[]): ObserveOptions {
  const { values } = parseFlags({ args: argv, options: OBSERVE_FLAGS, strict: true, allowPositionals: false });
  const sensors = values.sensors === undefined ? [...DEFAULT_SENSORS] : parseSensors(values.sensors);
  if (values.output === 'tetragon' && sensors.includes('fork')) {
    throw new UsageError('--output tetragon: Tetragon reports no fork events; drop fork from --sensors or use --output json');
  }
  return { ...observeOptions(values, sensors.includes('file')), sensors };
}

/**
 * Checks the flags observe shares with `vigil events` (all but --sensors);
 * `files`: file events are asked for (--path-prefix needs them).
 */
export function observeOptions(values: ObserveFlagValues, files: boolean): Omit<ObserveOptions, 'sensors'> {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(values.output)) {
    throw new UsageError(`--output: unknown format "${values.output}"; available: ${OUTPUT_FORMATS.join(', ')}`);
  }
  const pids = ids('--pid', values.pid, 1);
  if (values['follow-children'] && !pids) throw new UsageError('--follow-children: needs --pid');
  const comms = values.comm;
  for (const c of comms ?? []) {
    if (c === '' || Buffer.byteLength(c) > 15) {
      throw new UsageError(`--comm: "${c}" must be 1 to 15 bytes (the kernel keeps 15 of a process name)`);
    }
  }
  const pathPrefixes = canonicalPathPrefixes('--path-prefix', values['path-prefix']);
  if (pathPrefixes && !files) throw new UsageError('--path-prefix: filters file events; add file to --sensors');
  if ((values.container?.length ?? 0) > 1) throw new UsageError('--container: give one container id (or host)');
  const container = values.container?.[0];
  if (container !== undefined && container !== 'host' && !/^[0-9a-fA-F]{1,64}$/.test(container)) {
    throw new UsageError(`--container: expected a container id (hex digits) or "host", got "${container}"`);
  }
  const timeFormat = parseTimeFormat(values['time-format']);
  if (!timeFormat) {
    throw new UsageError(`--time-format: unknown layout "${values['time-format']}"; available: ${TIME_FORMATS.join(', ')}`);
  }
  const color = parseColorMode(values.color);
  if (!color) throw new UsageError(`--color: expected ${COLOR_MODES.join(', ')}, got "${values.color}"`);
  return {
    format: values.output as OutputFormat,
    timeFormat,
    color,
    duration: positive('--duration', values.duration, false),
    count: positive('--count', values.count, true),
    ancestors: values.ancestors,
    filter: {
      pids, followChildren: values['follow-children'], uids: ids('--uid', values.uid, 0), comms,
      binaryPrefixes: absolutePrefixes('--binary', values.binary), pathPrefixes,
      excludeSelf: !values['include-self'],
    },
    container,
    outputBuffer: byteSize('--output-buffer', values['output-buffer'], DEFAULT_OUTPUT_BUFFER),
  };
}

export const command: Command = {
  name: 'observe',
  summary: 'stream events from the kernel (processes, files)',
  usage: `${usage}\n\n${NETWORK_USAGE}`,
  async run(argv: string[]): Promise<number> {
    if (isNetworkObserve(argv)) return runNetworkObserve(argv);
    const o = parseObserveArgs(argv);
    requireCapabilities('', ['CAP_BPF', 'CAP_PERFMON'], ['observe', ...argv]);
    // Tracepoints attach through tracefs, which is not always mounted at boot.
    const tracefs = ensureTracefs();
    if (!tracefs.path) throw new NotSupportedError('tracefs', tracefs.reason ?? 'tracefs is not mounted');

    using filter = filterSetFromFlags(o.filter, o.container);
    using cache = new ProcessCache();
    const clock = BootClock.measure();
    const formatter = new TetragonFormatter(o.format, {
      lookup: cache, ancestors: o.ancestors, node: cache.node, timeFormat: o.timeFormat,
      color: colorEnabled(o.color, process.stdout),
    });
    using shutdown = new Shutdown('observe');
    const stop = (why: string): void => shutdown.stop(why);
    const report = (line: string): void => void process.stderr.write(`vigil observe: ${line}\n`);
    let seen = 0;
    // Rings merged in kernel time order, then one bounded queue for stdout
    // (src/pipeline): a slow reader costs drops, counted, never memory.
    const pipeline = new EventPipeline<SensorEvent>({
      timeOf: (e) => (e.kind === 'file' ? e.bootNs : e.timeBootNs),
      sensorOf: sensorEventSensor,
      now: () => clock.nowBootNs(),
      accept: () => {
        if (o.count === undefined) return true;
        if (seen >= o.count) return false;
        if (++seen >= o.count) stop('count');
        return true;
      },
      report,
      // The reader of stdout went away (`| head -1`): nothing more to do.
      onOutputsClosed: () => stop('stdout closed'),
    });
    const stdout = new Sink<SensorEvent>(stdoutOutput, {
      capacityBytes: o.outputBuffer,
      sensorOf: sensorEventSensor,
      format: {
        line: (e) => formatter.line(e),
        lost: (l) => formatter.lostLine(l.count, l.sensor, clock.toEpochNs(clock.nowBootNs()), l.reason),
      },
    });
    pipeline.addSink(stdout);
    if (o.format === 'table') stdout.output.write({ lines: [formatter.header()], sensors: [undefined] });

    const kinds = o.sensors.flatMap((s) => (s === 'file' ? [] : KINDS[s]));
    const sensors = await startEventSensors({
      pipeline, cache, filter, kinds, forks: o.sensors.includes('fork'), files: o.sensors.includes('file'),
    });
    pipeline.start();

    const timer = o.duration !== undefined ? setTimeout(() => stop('duration'), o.duration * 1000) : undefined;
    // On stderr, so stdout stays pure events; also tells scripts the sensors are attached.
    process.stderr.write(`vigil observe: watching ${o.sensors.join(', ')}; Ctrl-C to stop\n`);

    const why = await shutdown.stopped;
    if (timer) clearTimeout(timer);
    // Detach every link at once, then read what the rings still hold
    // (processes first: the cache then knows every process a file event
    // names); the pipeline releases it all in time order.
    await shutdown.close(() => sensors.close());
    const delivered = await pipeline.close(why === 'stdout closed' ? 0 : OUTPUT_GRACE_MS);
    if (!delivered && !stdout.closed) {
      report(`stdout: ${formatByteSize(stdout.queuedBytes)} not written (not taken within ${OUTPUT_GRACE_MS} ms of stopping)`);
      // The write the reader never takes would keep the process alive: once
      // this command has returned, leave (the timer fires only if it is stuck).
      setTimeout(() => process.exit(), 100).unref();
    }
    const lostTotal = stdout.lost.entries().filter((l) => l.reason !== 'output_closed').reduce((a, l) => a + l.count, 0);
    if (lostTotal > 0) process.stderr.write(`vigil observe: lost ${lostTotal} events\n`);
    return 0;
  },
};
