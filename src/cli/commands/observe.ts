// vigil observe: stream kernel events to stdout until interrupted, a duration
// passes or a count is reached.
//
// The process sensor always runs: it feeds the process cache that gives every
// event (a file event too) its process, parent and ancestors; --sensors only
// chooses which events are printed. Filters are in-kernel (FilterSet): what
// they drop never reaches this process.
import { requireCapabilities, type Capability } from '../privileges.js';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { ensureTracefs, NotSupportedError } from '../../bpf/index.js';
import { ProcessSensor, type ProcessEventKind } from '../../sensors/process.js';
import { FileSensor, fileRecordTime } from '../../sensors/file.js';
import type { FileEvent } from '../../sensors/file-events.js';
import { FilterSet, type FilterOptions } from '../../sensors/filter.js';
import { existsSync } from 'node:fs';
import { ProcessCache } from '../../process/cache.js';
import type { ProcessInfo } from '../../process/types.js';
import type { CriMetadata } from '../../process/cri.js';
import { CRI_SOCKETS } from '../../process/cri-sockets.js';
import { ENGINE_SOCKETS, EngineMetadata } from '../../process/engine-api.js';
import { PodFilter, type PodSelector } from '../../process/pod-filter.js';
import { OUTPUT_FORMATS, TetragonFormatter } from '../../output/tetragon.js';
import { eventEncoder, eventFormatter, JSON_OUTPUTS, type EventOutput } from '../../output/event-format.js';
import { FieldMask, FieldMaskError } from '../../output/field-mask.js';
import { FLOW_OUTPUTS, flowTableHeader } from '../../network/flow-format.js';
import { BootClock, parseTimeFormat, TIME_FORMATS, type TimeFormat } from '../../util/clock.js';
import { colorEnabled, COLOR_MODES, parseColorMode, type ColorMode } from '../../output/color.js';
import { DEFAULT_OUTPUT_BUFFER, type EventPipeline, type VigilEvent } from '../../pipeline/index.js';
import { FlowFilter, FLOW_FILTER_KINDS } from '../../network/flow-filter.js';
import { CHURN_RING, FlowPipeline } from '../../network/flow-pipeline.js';
import {
  kernelFilter, NETWORK_FLAGS, NETWORK_SENSORS, NETWORK_USAGE, networkObserveOptions, PROCESS_SENSORS,
  type NetworkObserveOptions, type ProcessSensorName,
} from '../observe-network.js';
import { streamEvents, type StartedSensors } from '../stream.js';
import { L7Sensor, DEFAULT_CAPTURE_BYTES, tlsNotes } from '../../l7/sensor.js';
import { OtlpTraces, reportTraces } from '../../telemetry/otlp-traces.js';
import { L7_PROTOCOLS, type L7Protocol } from '../../l7/types.js';
import { VIGIL_L7_DATA_MAX } from '../../generated/l7.js';
import { parseTelemetryFlags, TELEMETRY_FLAGS, TELEMETRY_USAGE, type TelemetryOptions } from '../telemetry.js';
import {
  PROCESS_FILTER_FLAGS, absolutePrefixes, byteSize, filterSetFromFlags, ids, pathPrefixes as canonicalPathPrefixes, positive, parseFlags,
} from '../flags.js';

export const SENSORS = PROCESS_SENSORS;
export type SensorName = ProcessSensorName;
const DEFAULT_SENSORS: readonly SensorName[] = ['exec', 'exit', 'file'];

/** Process event kinds each sensor name prints. */
const KINDS: Record<Exclude<SensorName, 'file'>, ProcessEventKind[]> = {
  exec: ['exec', 'exec_failed'],
  exit: ['exit'],
  fork: ['fork'],
};

const usage = `usage: vigil observe [--sensors LIST] [filters] [--output compact|json|table|tetragon]
                     [--fields LIST] [--time-format F] [--color WHEN] [--duration S] [--count N] [--ancestors]
                     [--process-cred] [--process-ns]

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
  flow, dns  network flows and DNS, with Hubble's filters (below); beside
          the others, one stream in kernel time order (--sensors exec,flow)
  http, grpc, redis, pgsql, mysql, kafka  one record per request and its response
          (HTTP/1.x and HTTP/2, gRPC, Redis RESP2/3, PostgreSQL, MySQL/MariaDB,
          Kafka Produce and Fetch), from the socket calls' tracepoints:
          process, both ends, method or command, path and route or
          statement, status, latency (kernel times), sizes. Header values
          of Authorization, Cookie and Set-Cookie, query-string values, SQL
          literals and Redis arguments are redacted (docs/l7.md). TLS plaintext
          too (uprobes: OpenSSL, GnuTLS, Node, Go crypto/tls), as "http+tls"

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
  --l7-capture BYTES  the L7 sensors: bytes of each socket call the
                      kernel sends up (default ${DEFAULT_CAPTURE_BYTES}, 16 to ${VIGIL_L7_DATA_MAX}): headers, not bodies
  --l7-full-capture   the L7 sensors: no redaction (secrets appear)
  --otlp-traces       http: a span per request (SERVER for requests answered,
                      CLIENT for requests made) to the --otlp collector
                      (URL/v1/traces); a traceparent header gives the trace
                      and parent ids (docs/l7.md, "Traces")
  --l7-no-tls         the L7 sensors: no TLS plaintext (no uprobes on TLS libraries)
  --l7-tls-binary PATH  also put TLS uprobes on this executable or library
                      (found by itself when a process runs or maps it at the start)

Kubernetes (in user space, from the CRI runtime's pod and container names):
  --namespace NS      processes in pods of this namespace
  --pod NAME          processes in this pod
  --label KEY[=VALUE] processes in pods with this label (repeat: all must hold)
  --cri-socket PATH   the runtime's socket (default: the first of
                      ${CRI_SOCKETS.join(', ')} that exists; "none": no
                      pod names); events of a process in a pod carry its pod,
                      container, image and labels (Tetragon's "pod")
  --container-socket PATH  Docker's or Podman's API socket (default: the first of
                      ${ENGINE_SOCKETS.join(', ')} that exists; "none":
                      no names); json events of a process in a Docker or
                      Podman container carry its name, image and labels
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
  --fields LIST       json, tetragon, jsonpb, hubble: only these fields of each
                      event, as dotted paths under its kind (Tetragon's field
                      filters): --fields process.pid,process.binary,path;
                      node_name, time and lost records stay
  --ancestors         add each process's ancestors beyond its parent
  --process-cred      json, tetragon: add each process's credentials (all its
                      uids and gids, securebits, capability sets: Tetragon's
                      process_credentials and cap, as its --enable-process-cred)
  --process-ns        json, tetragon: add each process's namespaces (Tetragon's
                      ns, as its --enable-process-ns)
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
observe quietly.

${TELEMETRY_USAGE}`;

export interface ObserveOptions {
  sensors: SensorName[];
  format: EventOutput;
  duration: number | undefined;
  count: number | undefined;
  ancestors: boolean;
  /** --process-cred, --process-ns: processes carry their credentials, their namespaces (FormatterOptions). */
  processCred: boolean;
  processNs: boolean;
  filter: FilterOptions;
  /** --container: an id (prefix) or 'host'; resolved to cgroup ids at start. */
  container: string | undefined;
  timeFormat: TimeFormat;
  color: ColorMode;
  /** --output-buffer: bytes stdout may hold unread before events are dropped (counted). */
  outputBuffer: number;
  /** With flow or dns among --sensors: their options (Hubble's filters); the stream merges both. */
  network: NetworkObserveOptions | undefined;
  telemetry: TelemetryOptions;
  /** --fields: only these fields of each JSON line. */
  fields?: FieldMask | undefined;
  /** http, redis, pgsql among --sensors: the L7 sensor's protocols and capture. */
  l7?: { protocols: L7Protocol[]; captureBytes: number; redact: boolean; traces?: boolean; tls: false | { binaries: string[] } } | undefined;
  /** --namespace, --pod, --label, --cri-socket. */
  pods?: PodOptions;
}

/** The strict outputs (Tetragon's and Hubble's schemas only), which have no fork events. */
const STRICT_OUTPUTS: readonly string[] = ['tetragon', 'jsonpb', 'hubble'];

/** Every sensor --sensors takes: the process and file ones, the network ones (flow, dns), the L7 protocols. */
const ALL_SENSORS = [...SENSORS, ...NETWORK_SENSORS, ...L7_PROTOCOLS].join(', ');

/** Flags only flows take: refused without flow or dns among the sensors. */
export const FLOW_ONLY_FLAGS = ['udp-window', 'dns-port', 'not', 'since', 'until', 'last', 'ipv4', 'ipv6', ...FLOW_FILTER_KINDS.filter((k) => k !== 'pid' && k !== 'container')];

function parseSensors(list: string): string[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UsageError(`--sensors: empty list; available: ${ALL_SENSORS}`);
  for (const n of names) {
    if (![...SENSORS, ...NETWORK_SENSORS, ...L7_PROTOCOLS].includes(n as SensorName)) {
      const hint = n === 'syscall' || n === 'syscalls' ? ' (syscall counts are `vigil top syscalls`)' : '';
      throw new UsageError(`--sensors: unknown sensor "${n}"; available: ${ALL_SENSORS}${hint}`);
    }
  }
  return [...new Set(names)];
}

/** observe's flags but the network ones (`vigil events` takes them too). */
export const OBSERVE_FLAGS = {
  sensors: { type: 'string' },
  output: { type: 'string', short: 'o', default: 'compact' },
  duration: { type: 'string' },
  count: { type: 'string' },
  ancestors: { type: 'boolean', default: false },
  'process-cred': { type: 'boolean', default: false },
  'process-ns': { type: 'boolean', default: false },
  ...PROCESS_FILTER_FLAGS,
  binary: { type: 'string', multiple: true },
  'path-prefix': { type: 'string', multiple: true },
  'time-format': { type: 'string', default: 'StampMilli' },
  color: { type: 'string', default: 'auto' },
  'output-buffer': { type: 'string' },
} as const;

/** observe's flags that `vigil events` has not (the agent formats its lines). */
const OBSERVE_ONLY_FLAGS = {
  fields: { type: 'string' },
  'l7-capture': { type: 'string' },
  'l7-full-capture': { type: 'boolean' },
  'otlp-traces': { type: 'boolean' },
  'l7-no-tls': { type: 'boolean' },
  'l7-tls-binary': { type: 'string', multiple: true },
  namespace: { type: 'string', multiple: true },
  pod: { type: 'string', multiple: true },
  label: { type: 'string', multiple: true },
  'cri-socket': { type: 'string' },
  'container-socket': { type: 'string' },
} as const;

/** --namespace, --pod, --label, --cri-socket: pods from a CRI runtime. */
export interface PodOptions {
  selector: PodSelector;
  /** The runtime's socket: given, 'none', or undefined (the first of CRI_SOCKETS that exists). */
  socket: string | undefined;
  /** Docker's or Podman's socket: given, 'none', or undefined (the first of ENGINE_SOCKETS that exists). */
  engineSocket: string | undefined;
}

function parsePodFlags(values: { namespace?: string[]; pod?: string[]; label?: string[]; 'cri-socket'?: string; 'container-socket'?: string },
  flows: boolean): PodOptions {
  const selector: PodSelector = { namespaces: values.namespace, pods: values.pod, labels: values.label };
  let filter: PodFilter;
  try {
    filter = new PodFilter(selector);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (filter.active && flows) throw new UsageError('--namespace, --pod, --label: select processes\' events; flows are not named by pod');
  for (const flag of ['cri-socket', 'container-socket'] as const) {
    const v = values[flag];
    if (v !== undefined && v !== 'none' && !v.startsWith('/')) throw new UsageError(`--${flag}: expected an absolute path or "none", got "${v}"`);
  }
  const socket = values['cri-socket'];
  if (filter.active && socket === 'none') throw new UsageError('--namespace, --pod, --label: pods come from a CRI runtime; not with --cri-socket none');
  return { selector, socket, engineSocket: values['container-socket'] };
}

/** --fields: the mask, refused with a format whose lines are not JSON. */
function parseFields(list: string | undefined, format: string): FieldMask | undefined {
  if (list === undefined) return undefined;
  if (!(JSON_OUTPUTS as readonly string[]).includes(format)) {
    throw new UsageError(`--fields: masks JSON lines; use it with --output ${JSON_OUTPUTS.join(', ')} (not ${format})`);
  }
  try {
    return FieldMask.parse(list);
  } catch (e) {
    if (e instanceof FieldMaskError) throw new UsageError(`--fields: ${e.message}`);
    throw e;
  }
}

/** What parseFlags gives for OBSERVE_FLAGS. */
export interface ObserveFlagValues {
  output: string;
  duration?: string;
  count?: string;
  ancestors: boolean;
  'process-cred': boolean;
  'process-ns': boolean;
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
  const { values, tokens } = parseFlags({
    args: argv, options: { ...OBSERVE_FLAGS, ...OBSERVE_ONLY_FLAGS, ...NETWORK_FLAGS, ...TELEMETRY_FLAGS }, strict: true,
    allowPositionals: false, tokens: true,
  });
  const named = values.sensors === undefined ? [...DEFAULT_SENSORS] : parseSensors(values.sensors);
  const network = named.some((n) => (NETWORK_SENSORS as readonly string[]).includes(n))
    ? networkObserveOptions(values, tokens ?? []) : undefined;
  if (!network) {
    for (const f of FLOW_ONLY_FLAGS) {
      if ((values as Record<string, unknown>)[f] !== undefined) throw new UsageError(`--${f}: filters flows; add flow or dns to --sensors`);
    }
  }
  const sensors = named.filter((n): n is SensorName => (SENSORS as readonly string[]).includes(n));
  const protocols = named.filter((n): n is L7Protocol => (L7_PROTOCOLS as readonly string[]).includes(n));
  if (protocols.length === 0) {
    for (const f of ['l7-capture', 'l7-full-capture', 'l7-no-tls', 'l7-tls-binary']) {
      if ((values as Record<string, unknown>)[f] !== undefined) throw new UsageError(`--${f}: for L7 records; add http, redis or pgsql to --sensors`);
    }
  }
  if (values['otlp-traces'] && !protocols.includes('http')) throw new UsageError('--otlp-traces: spans of HTTP requests; add http to --sensors');
  if (values['otlp-traces'] && values.otlp === undefined) throw new UsageError('--otlp-traces: the spans would go nowhere; add --otlp URL');
  const captureBytes = positive('--l7-capture', values['l7-capture'], true) ?? DEFAULT_CAPTURE_BYTES;
  if (captureBytes < 16 || captureBytes > VIGIL_L7_DATA_MAX) {
    throw new UsageError(`--l7-capture: ${values['l7-capture']} is out of range; expected 16 to ${VIGIL_L7_DATA_MAX} bytes`);
  }
  const tlsBinaries = values['l7-tls-binary'] ?? [];
  if (values['l7-no-tls'] && tlsBinaries.length) throw new UsageError('--l7-tls-binary: TLS capture is off (--l7-no-tls)');
  if (protocols.length > 0 && STRICT_OUTPUTS.includes(values.output)) {
    throw new UsageError(`--output ${values.output}: its schema has no L7 records; use --output json or compact`);
  }
  if (STRICT_OUTPUTS.includes(values.output) && sensors.includes('fork')) {
    throw new UsageError(`--output ${values.output}: Tetragon reports no fork events; drop fork from --sensors or use --output json`);
  }
  if (values.output === 'dict' && sensors.length > 0) {
    throw new UsageError('--output dict: hubble observe\'s flow blocks, for flow and dns only; beside process sensors use compact, json, table or tetragon');
  }
  return {
    ...observeOptions(values, sensors.includes('file'), network !== undefined), sensors, network, telemetry: parseTelemetryFlags(values),
    fields: parseFields(values.fields, values.output),
    l7: protocols.length
      ? { protocols, captureBytes, redact: !values['l7-full-capture'], traces: values['otlp-traces'] ?? false,
        tls: values['l7-no-tls'] ? false : { binaries: tlsBinaries } }
      : undefined,
    pods: parsePodFlags(values, network !== undefined),
  };
}

/**
 * Checks the flags observe shares with `vigil events` (all but --sensors and the
 * network ones); `files`: file events are asked for (--path-prefix needs them);
 * `flows`: flows are (then --pid and --container are Hubble's filters, read by
 * networkObserveOptions).
 */
export function observeOptions(values: ObserveFlagValues, files: boolean, flows = false, flowFormats = flows):
  Omit<ObserveOptions, 'sensors' | 'network' | 'telemetry'> {
  // Flows have Hubble's formats too (jsonpb, hubble, dict).
  const formats: readonly string[] = flowFormats ? [...new Set([...OUTPUT_FORMATS, ...FLOW_OUTPUTS])] : OUTPUT_FORMATS;
  if (!formats.includes(values.output)) {
    throw new UsageError(`--output: unknown format "${values.output}"; available: ${formats.join(', ')}`);
  }
  const pids = flows ? undefined : ids('--pid', values.pid, 1);
  if (values['follow-children'] && !pids && !flows) throw new UsageError('--follow-children: needs --pid');
  const comms = values.comm;
  for (const c of comms ?? []) {
    if (c === '' || Buffer.byteLength(c) > 15) {
      throw new UsageError(`--comm: "${c}" must be 1 to 15 bytes (the kernel keeps 15 of a process name)`);
    }
  }
  const pathPrefixes = canonicalPathPrefixes('--path-prefix', values['path-prefix']);
  if (pathPrefixes && !files) throw new UsageError('--path-prefix: filters file events; add file to --sensors');
  if ((values.container?.length ?? 0) > 1) throw new UsageError('--container: give one container id (or host)');
  const container = flows ? undefined : values.container?.[0];
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
    format: values.output as EventOutput,
    timeFormat,
    color,
    duration: positive('--duration', values.duration, false),
    count: positive('--count', values.count, true),
    ancestors: values.ancestors,
    processCred: values['process-cred'],
    processNs: values['process-ns'],
    filter: {
      pids, followChildren: values['follow-children'], uids: ids('--uid', values.uid, 0), comms,
      binaryPrefixes: absolutePrefixes('--binary', values.binary), pathPrefixes,
      // The stream shows no count of what the filters drop: a rejected event costs only its test.
      excludeSelf: !values['include-self'], countDropped: false,
    },
    container,
    outputBuffer: byteSize('--output-buffer', values['output-buffer'], DEFAULT_OUTPUT_BUFFER),
  };
}

/** The flow options of a stream with flow or dns among its sensors (parsed in order, for --not). Pure. */
export function parseNetworkObserveArgs(argv: string[]): NetworkObserveOptions {
  const o = parseObserveArgs(argv);
  if (!o.network) throw new UsageError(`--sensors: name ${NETWORK_SENSORS.join(' or ')}`);
  return o.network;
}

/** The in-kernel filters of every sensor: observe's, with a stream of flows Hubble's --pid and --container. */
function observeFilterSet(o: ObserveOptions): FilterSet {
  if (!o.network) return filterSetFromFlags(o.filter, o.container);
  const { pids: _pids, followChildren: _follow, ...rest } = o.filter;
  try {
    return new FilterSet({ ...rest, ...kernelFilter(o.network) });
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
}

/**
 * Starts observe's sensors feeding `pipeline`: the process sensor always (it
 * keeps the cache every event's process comes from), the file sensor, the
 * flow sensor with its tracker. The pipeline drains the process ring first
 * (it is added first); the flow tracker reads it before describing a flow.
 */
async function startSensors(o: ObserveOptions, pipeline: EventPipeline<VigilEvent>, filter: FilterSet,
  cache: ProcessCache, traces: OtlpTraces | undefined): Promise<StartedSensors> {
  const n = o.network;
  const userFilter = n ? new FlowFilter(n.terms) : undefined;
  const flow = n?.sensors.includes('flow') ?? false;
  const want = {
    tcp: flow && (userFilter?.wants('tcp') ?? false),
    tcpOpens: userFilter?.wantsTcpOpens() ?? true,
    udp: flow && (userFilter?.wants('udp') ?? false),
    dns: (n?.sensors.includes('dns') ?? false) && (userFilter?.wants('dns') ?? false),
  };
  if (n && !want.tcp && !want.udp && !want.dns) {
    throw new UsageError(`--protocol: nothing to show with --sensors ${n.sensors.join(',')} ` +
      '(ICMP flows come from netpolicy and the firewall; DNS needs --sensors dns)');
  }
  const kinds = o.sensors.flatMap((s) => (s === 'file' ? [] : KINDS[s]));
  // Rings sized for bursts, and woken only once a batch's worth is waiting
  // (the pipeline's 50 ms cycle bounds latency): a wakeup per record would
  // cost a busy traced process about a microsecond each.
  const proc = await ProcessSensor.start({
    cache, filter, kinds, ...pipeline.hooks('process'), ringBytes: 4 << 20, wakeupBytes: 64 << 10, boundedDrain: true,
    // File events and flows need every process (forked ones too) in the cache; exec and exit events find parents anyway.
    forks: o.sensors.includes('fork') || o.sensors.includes('file') || n !== undefined,
  });
  pipeline.addSource(proc.name, proc);
  let files: FileSensor | undefined;
  let flows: FlowPipeline | undefined;
  let l7: L7Sensor | undefined;
  const close = (): void => {
    // Flows first: their tracker reads the process ring before describing the last ones.
    flows?.close();
    proc.close();
    files?.close();
    l7?.close();
  };
  try {
    if (o.sensors.includes('file')) {
      // Held as the ring's bytes until released, decoded then (src/pipeline/record-lane.ts).
      const decode = (view: DataView, offset: number, size: number): FileEvent => files!.decode(view, offset, size);
      files = await FileSensor.start({
        filter, ringBytes: 16 << 20, wakeupBytes: 256 << 10, ...pipeline.hooks('file'), boundedDrain: true,
        onRecord: pipeline.holdRecords('file', fileRecordTime, decode),
      });
      pipeline.addSource(files.name, files);
    }
    if (n) {
      const f = await FlowPipeline.start({
        filter, cache, processSensor: proc, ...want, dnsPorts: n.dnsPorts, udpWindowMs: n.udpWindowMs,
        // Read in bounded batches: the pipeline reads on while the flow source says it has a backlog.
        ring: { ...CHURN_RING, ringBytes: n.ringBytes ?? CHURN_RING.ringBytes, boundedDrain: true },
        onFlow: (record, timeBootNs) => {
          if (userFilter?.matches(record)) pipeline.push({ kind: record.l7?.dns ? 'dns' : 'flow', timeBootNs, record });
        },
        onBatchEnd: () => pipeline.schedule(),
        onLost: (count, sensor) => pipeline.kernelLost(sensor, count),
      });
      flows = f;
      pipeline.addSource('flow', {
        drain: () => (f.drain(), 0), get backlog() { return f.backlog; }, pause: () => f.pause(), resume: () => f.resume(),
      });
    }
    if (o.l7) {
      l7 = await L7Sensor.start({
        filter, protocols: new Set(o.l7.protocols), captureBytes: o.l7.captureBytes, redact: o.l7.redact, tls: o.l7.tls,
        onRecord: (record) => {
          traces?.observe(record);
          pipeline.push({ kind: 'l7', timeBootNs: record.endBootNs, record });
        },
        onBatchEnd: () => pipeline.schedule(), onLost: (n) => pipeline.kernelLost('l7', n),
        ringBytes: 8 << 20, wakeupBytes: 256 << 10, boundedDrain: true,
        // Drained by the pipeline's cycle: no poll timer of the reader's own.
        pollIntervalMs: 0,
      });
      for (const line of tlsNotes(l7.tlsReport())) process.stderr.write(`vigil observe: note: ${line}\n`);
      pipeline.addSource(l7.name, l7);
    }
  } catch (e) {
    close();
    throw e;
  }
  return { close, notes: flows?.sensor.limitations };
}

/** The runtime's socket: given, or the first default that exists; undefined with --cri-socket none or none found. */
function criSocket(o: PodOptions | undefined): string | undefined {
  if (o?.socket === 'none') return undefined;
  return o?.socket ?? CRI_SOCKETS.find((s) => existsSync(s));
}

/**
 * The CRI runtime's metadata: required (an error naming the socket) when a
 * pod filter or --cri-socket asks for it; otherwise from a default socket if
 * one answers, with a note on stderr if it does not.
 */
async function connectCri(o: PodOptions | undefined, required: boolean): Promise<CriMetadata | undefined> {
  const socket = criSocket(o);
  if (!socket) {
    if (required) throw new Error(`--namespace, --pod, --label: no CRI runtime socket found (${CRI_SOCKETS.join(', ')}); give --cri-socket PATH`);
    return undefined;
  }
  // gRPC is loaded only when there is a runtime to ask.
  const { CriMetadata } = await import('../../process/cri.js');
  try {
    return await CriMetadata.connect(socket, {
      onError: (e) => process.stderr.write(`vigil observe: note: ${e.message}\n`),
    });
  } catch (e) {
    if (required || o?.socket !== undefined) throw e;
    process.stderr.write(`vigil observe: note: no pod names: ${(e as Error).message}\n`);
    return undefined;
  }
}

/**
 * Docker's or Podman's container names, from --container-socket or a default socket that exists;
 * a socket that does not answer is a note (an error when it was given).
 */
async function connectEngine(o: PodOptions | undefined): Promise<EngineMetadata | undefined> {
  if (o?.engineSocket === 'none') return undefined;
  const socket = o?.engineSocket ?? ENGINE_SOCKETS.find((s) => existsSync(s));
  if (!socket) return undefined;
  try {
    return await EngineMetadata.connect(socket, { onError: (e) => process.stderr.write(`vigil observe: note: ${e.message}\n`) });
  } catch (e) {
    if (o?.engineSocket !== undefined) throw e;
    process.stderr.write(`vigil observe: note: no container names: ${(e as Error).message}\n`);
    return undefined;
  }
}

/** The process of a process or file event (a file event's in the cgroup the kernel saw); undefined for others. */
function processOfEvent(e: VigilEvent, cache: ProcessCache): ProcessInfo | undefined {
  if (e.kind === 'exec' || e.kind === 'exit' || e.kind === 'fork' || e.kind === 'exec_failed') return e.process;
  if (e.kind !== 'file') return undefined;
  const p = cache.get(e.task.pid, e.task.startBootNs, e.bootNs);
  return p && cache.inCgroup(p, e.task.cgroupId);
}

/**
 * observe's filters in user space (undefined: none): the pod selector's, and --container host's. The
 * kernel's filter for host holds the containers' cgroups of the start, so a container started later
 * passes it; its processes are told here by their cgroup's path (the process cache names a new cgroup
 * as its first event arrives).
 */
function userSpaceFilter(o: ObserveOptions, podFilter: PodFilter, cache: ProcessCache, cri: CriMetadata | undefined):
  ((e: VigilEvent) => boolean) | undefined {
  const host = o.container === 'host';
  if (!podFilter.active && !host) return undefined;
  return (e) => {
    const c = processOfEvent(e, cache)?.container;
    const container = c === undefined || c === 'host' ? undefined : c;
    if (host && container) return false;
    return !podFilter.active || podFilter.matches(container && cri?.lookup(container.id));
  };
}

export const command: Command = {
  name: 'observe',
  summary: 'stream events from the kernel (processes, files, network flows)',
  usage: `${usage}\n\n${NETWORK_USAGE}`,
  async run(argv: string[]): Promise<number> {
    const o = parseObserveArgs(argv);
    const caps: Capability[] = ['CAP_BPF', 'CAP_PERFMON', ...(o.network ? ['CAP_NET_ADMIN' as const] : [])];
    requireCapabilities('', caps, ['observe', ...argv]);
    // Tracepoints attach through tracefs, which is not always mounted at boot.
    const tracefs = ensureTracefs();
    if (!tracefs.path) throw new NotSupportedError('tracefs', tracefs.reason ?? 'tracefs is not mounted');

    using filter = observeFilterSet(o);
    using cache = new ProcessCache();
    const podFilter = new PodFilter(o.pods?.selector ?? {});
    using cri = await connectCri(o.pods, podFilter.active);
    const containers = await connectEngine(o.pods);
    const clock = BootClock.measure();
    // Flows alone in a table: hubble observe's columns.
    const hubbleTable = o.format === 'table' && o.sensors.length === 0 && !o.l7;
    const formatOptions = { lookup: cache, ancestors: o.ancestors, processCred: o.processCred, processNs: o.processNs, node: cache.node, timeFormat: o.timeFormat, clock, pods: cri, containers };
    const format = eventEncoder(o.format, {
      ...formatOptions, color: colorEnabled(o.color, process.stdout) && o.format !== 'table', hubbleTable, fields: o.fields,
    });
    const header = hubbleTable ? flowTableHeader() : new TetragonFormatter('table', { node: cache.node }).header();
    const traces = o.l7?.traces && o.telemetry.otlp
      ? new OtlpTraces({ endpoint: o.telemetry.otlp, toEpochNs: (ns) => clock.toEpochNs(ns), nowBootNs: () => clock.nowBootNs() })
      : undefined;
    return await streamEvents({
      command: 'observe', clock, format, outputBuffer: o.outputBuffer, duration: o.duration, count: o.count,
      untilMs: o.network?.untilMs,
      header: o.format === 'table' ? header : undefined,
      watching: [...(o.network?.sensors ?? o.sensors), ...(o.l7?.protocols ?? [])].join(', '),
      start: (pipeline) => startSensors(o, pipeline, filter, cache, traces),
      flush: traces && (async (report) => reportTraces(await traces.close(), traces.description, report)),
      filter: userSpaceFilter(o, podFilter, cache, cri),
      telemetry: { options: o.telemetry, processCache: cache, json: eventFormatter('json', formatOptions) },
    });
  },
};
