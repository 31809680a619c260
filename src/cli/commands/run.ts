// vigil run: evaluate Falco rules (and, with --policy, Tetragon-style
// policies) live, alerts to stdout, a file and/or an HTTP endpoint, until
// interrupted or a duration passes.
//
// The kernel is asked only for the event types the loaded rules can match
// (see src/rules/live.ts); in-kernel filters (--pid, --uid, ...) narrow every
// sensor alike.
import { requireCapabilities } from '../privileges.js';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { ensureTracefs, NotSupportedError } from '../../bpf/index.js';
import { FilterSet, type FilterOptions } from '../../sensors/filter.js';
import { ProcessCache } from '../../process/cache.js';
import {
  RuleEngine, RulesLoadError, expandRulesPaths, formatDiagnostic, parsePriority, PRIORITIES, type AlertSink,
  type OutputEncoding, type Priority,
} from '../../rules/index.js';
import { LiveRules } from '../../rules/live.js';
import { startPolicies, type RunningPolicies, type StartPoliciesOptions } from '../../policy/index.js';
import {
  DEFAULT_OUTPUT_BUFFER, EventPipeline, describeLosses, vigilEventOptions, type HttpOutput, type Sink,
} from '../../pipeline/index.js';
import { BootClock } from '../../util/clock.js';
import {
  fileRunSink, httpRunSink, otlpRunSink, stdoutRunSink, type RunEvent,
} from '../../output/run-sinks.js';
import { PROCESS_FILTER_FLAGS, byteSize, filterSetFromFlags, ids, parseFlags } from '../flags.js';
import { Shutdown } from '../shutdown.js';
import { parseTelemetryFlags, Telemetry, TELEMETRY_FLAGS, TELEMETRY_USAGE, type TelemetryOptions } from '../telemetry.js';
import type { TelemetrySources } from '../../telemetry/index.js';

const usage = `usage: vigil run --rules FILE|DIR [--rules ...] [--policy FILE|DIR ...]
                 [--output text|json|tetragon] [--min-priority P] [--rule-matching first|all]
                 [--file PATH] [--http URL] [--duration S] [filters]

Evaluates Falco rules files live (loaded in the order given, as Falco loads
them; a directory stands for its .yaml files in alphabetical order) and
writes an alert for each match, until Ctrl-C (SIGINT), SIGTERM or S seconds.
The kernel reports only the event types the loaded rules can match.

rules:
  --rules FILE|DIR      Falco rules (repeatable)
  --policy FILE|DIR     Tetragon-style tracing policies, evaluated alongside (repeatable)
  --portable-hooks      serve the policies' kernel-function and LSM hooks by their
                        portable equivalents even where kprobes, fentry or BPF-LSM exist
  --cri-socket PATH     the CRI runtime that names the pods of policies scoped to pods
                        (TracingPolicyNamespaced, podSelector; default: the first of
                        /run/containerd/containerd.sock, /run/crio/crio.sock that
                        exists; none: such policies stay dormant)
  --min-priority P      load only rules at least this severe (emergency, alert,
                        critical, error, warning, notice, info, debug; default debug)
  --rule-matching M     first (default, as Falco): one alert per event, the first
                        matching rule in load order; all: every matching rule

alerts:
  --output text|json    stdout format: Falco's text line "<time>: <Priority> <output>"
                        (default) or Falco's JSON object, one per line; policy
                        events: compact lines, or Vigil's Tetragon-shaped JSON
  --output tetragon     policies only (no --rules, --file, --http): policy events
                        as strict Tetragon JSON (docs/outputs.md)
  --process-cred        policy events' processes carry their credentials
                        (process_credentials, cap: Tetragon's --enable-process-cred)
  --process-ns          and their namespaces (ns: Tetragon's --enable-process-ns)
  --file PATH           also append each alert to PATH (in the --output format)
  --http URL            also POST each alert's JSON to URL (falcosidekick: http://host:2801/)
  --quiet               no alerts on stdout (with --file or --http)
  --output-buffer SIZE  most output each of stdout, the file and the HTTP endpoint
                        may hold undelivered (default 16MiB); beyond it that output
                        drops (counted, reported) and the others go on; once none
                        can take more, the rings are not read (the kernel drops)

filters (in the kernel; as vigil observe):
  --pid N [--follow-children]   --uid N   --comm NAME   --container ID|host
                        (host: outside the containers of the start; one
                        started later passes, unlike in vigil observe)
  --include-self        also Vigil's own activity (left out by default)

  --duration S          stop after S seconds
  -h, --help

Alerts and policy events come out in time order. Events that were dropped
(ring buffer full, output queue full, a failed write or request) are counted
by sensor and reason: in each output as a "Vigil internal: events dropped"
alert, on stderr (at most one line a second), and in the closing summary.
A closed stdout (| head) ends run quietly when it is the only output.

${TELEMETRY_USAGE}`;

export interface RunOptions {
  rules: string[];
  policies: string[];
  /** --cri-socket: a path, 'none', or undefined (a default socket). */
  criSocket: string | undefined;
  output: OutputEncoding;
  /** --output tetragon: policy events in Tetragon's strict shape (policies only). */
  policyOutput: 'tetragon' | undefined;
  /** --process-cred, --process-ns (FormatterOptions). */
  processCred: boolean;
  processNs: boolean;
  minPriority: Priority | undefined;
  ruleMatching: 'first' | 'all';
  file: string | undefined;
  http: string | undefined;
  quiet: boolean;
  duration: number | undefined;
  filter: FilterOptions;
  container: string | undefined;
  /** --output-buffer: bytes each output may hold undelivered. */
  outputBuffer: number;
  telemetry: TelemetryOptions;
}

/** How long a stop waits for the outputs to take what is queued. */
const OUTPUT_GRACE_MS = 250;

/** Parses and checks run's flags. Pure: nothing is loaded. */
export function parseRunArgs(argv: string[]): RunOptions {
  let values;
  try {
    ({ values } = parseFlags({
      args: argv,
      options: {
        rules: { type: 'string', multiple: true },
        policy: { type: 'string', multiple: true },
        'portable-hooks': { type: 'boolean', default: false },
        'cri-socket': { type: 'string' },
        output: { type: 'string', short: 'o', default: 'text' },
        'min-priority': { type: 'string' },
        'rule-matching': { type: 'string', default: 'first' },
        file: { type: 'string' },
        http: { type: 'string' },
        quiet: { type: 'boolean', default: false },
        'process-cred': { type: 'boolean', default: false },
        'process-ns': { type: 'boolean', default: false },
        duration: { type: 'string' },
        ...PROCESS_FILTER_FLAGS,
        'output-buffer': { type: 'string' },
        ...TELEMETRY_FLAGS,
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const rules = values.rules ?? [];
  const policies = values.policy ?? [];
  // The hook resolver reads the switch from the environment (src/policy/hooks.ts liveKernel).
  if (values['portable-hooks']) process.env.VIGIL_PORTABLE_HOOKS = '1';
  if (!rules.length && !policies.length) throw new UsageError('give --rules FILE|DIR (and/or --policy FILE|DIR)');
  const criSocket = values['cri-socket'];
  if (criSocket !== undefined && criSocket !== 'none' && !criSocket.startsWith('/')) {
    throw new UsageError(`--cri-socket: expected an absolute path or "none", got "${criSocket}"`);
  }
  if (criSocket !== undefined && !policies.length) throw new UsageError('--cri-socket: names the pods of policies; give --policy');
  if (values.output !== 'text' && values.output !== 'json' && values.output !== 'tetragon') {
    throw new UsageError(`--output: expected text, json or tetragon, got "${values.output}"`);
  }
  const tetragon = values.output === 'tetragon';
  if (tetragon && (rules.length || values.file !== undefined || values.http !== undefined)) {
    throw new UsageError('--output tetragon: policy events only; Falco alerts (--rules, --file, --http) have no Tetragon shape');
  }
  let minPriority: Priority | undefined;
  if (values['min-priority'] !== undefined) {
    minPriority = parsePriority(values['min-priority']);
    if (!minPriority) {
      throw new UsageError(`--min-priority: unknown priority "${values['min-priority']}"; available: ${PRIORITIES.join(', ').toLowerCase()}`);
    }
  }
  const rm = values['rule-matching'];
  if (rm !== 'first' && rm !== 'all') throw new UsageError(`--rule-matching: expected first or all, got "${rm}"`);
  if (values.http !== undefined) {
    let u: URL;
    try {
      u = new URL(values.http);
    } catch {
      throw new UsageError(`--http: not a URL: "${values.http}"`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError('--http: expected an http:// or https:// URL');
  }
  if (values.quiet && values.file === undefined && values.http === undefined && values.otlp === undefined) {
    throw new UsageError('--quiet: alerts would go nowhere; add --file, --http or --otlp');
  }
  let duration: number | undefined;
  if (values.duration !== undefined) {
    duration = Number(values.duration);
    if (!/^\d+(\.\d+)?$/.test(values.duration.trim()) || !(duration > 0)) {
      throw new UsageError(`--duration: expected a positive number, got "${values.duration}"`);
    }
  }
  const pids = ids('--pid', values.pid, 1);
  if (values['follow-children'] && !pids) throw new UsageError('--follow-children: needs --pid');
  for (const c of values.comm ?? []) {
    if (c === '' || Buffer.byteLength(c) > 15) throw new UsageError(`--comm: "${c}" must be 1 to 15 bytes`);
  }
  if ((values.container?.length ?? 0) > 1) throw new UsageError('--container: give one container id (or host)');
  const container = values.container?.[0];
  if (container !== undefined && container !== 'host' && !/^[0-9a-fA-F]{1,64}$/.test(container)) {
    throw new UsageError(`--container: expected a container id (hex digits) or "host", got "${container}"`);
  }
  return {
    rules, policies, criSocket, output: tetragon ? 'json' : values.output as OutputEncoding, policyOutput: tetragon ? 'tetragon' : undefined,
    processCred: values['process-cred'], processNs: values['process-ns'],
    minPriority, ruleMatching: rm, file: values.file, http: values.http,
    quiet: values.quiet, duration,
    filter: {
      pids, followChildren: values['follow-children'], uids: ids('--uid', values.uid, 0), comms: values.comm,
      excludeSelf: !values['include-self'],
    },
    container,
    outputBuffer: byteSize('--output-buffer', values['output-buffer'], DEFAULT_OUTPUT_BUFFER),
    telemetry: parseTelemetryFlags(values),
  };
}

// ------------------------------------------------------------------ policies

/** The policies could not start (they did not load, or one cannot run here): the message says why. */
class PolicyStartError extends Error {
  override readonly name = 'PolicyStartError';
}

/** startPolicies, its failures as PolicyStartError (said in one line) unless they are the user's or the kernel's. */
async function startRunPolicies(o: StartPoliciesOptions): Promise<RunningPolicies> {
  try {
    return await startPolicies(o);
  } catch (e) {
    if (e instanceof NotSupportedError || e instanceof UsageError) throw e;
    throw new PolicyStartError((e as Error).message, { cause: e });
  }
}

export const command: Command = {
  name: 'run',
  summary: 'evaluate Falco rules (and policies) live; alerts as Falco writes them',
  usage,
  async run(argv: string[]): Promise<number> {
    const o = parseRunArgs(argv);
    requireCapabilities('', ['CAP_BPF', 'CAP_PERFMON'], ['run', ...argv]);
    let engine: RuleEngine | undefined;
    if (o.rules.length) {
      const files = expandRulesPaths(o.rules);
      try {
        engine = RuleEngine.load(files, { minPriority: o.minPriority, ruleMatching: o.ruleMatching });
      } catch (e) {
        if (!(e instanceof RulesLoadError)) throw e;
        for (const d of e.diagnostics.filter((x) => x.severity === 'error')) process.stderr.write(`${formatDiagnostic(d)}\n`);
        process.stderr.write(`vigil run: the rules did not load (vigil rules validate ${o.rules.join(' ')})\n`);
        return 1;
      }
    }
    const tracefs = ensureTracefs();
    if (!tracefs.path) throw new NotSupportedError('tracefs', tracefs.reason ?? 'tracefs is not mounted');

    using filter = filterSetFromFlags(o.filter, o.container);
    using cache = new ProcessCache();

    using shutdown = new Shutdown('run');
    const stop = (why: string): void => shutdown.stop(why);
    const report = (line: string): void => void process.stderr.write(`vigil run: ${line}\n`);
    // Alerts and policy events merged by time, then one bounded queue per
    // output (src/pipeline): a slow output drops for itself, counted.
    const clock = BootClock.measure();
    const pipeline = new EventPipeline<RunEvent>({
      ...vigilEventOptions(clock), report,
      onOutputsClosed: () => stop('outputs closed'),
    });
    const sinkOpts = { encoding: o.output, policyFormat: o.policyOutput, processCred: o.processCred, processNs: o.processNs, capacityBytes: o.outputBuffer };
    const sinks: Sink<RunEvent>[] = [];
    if (!o.quiet) sinks.push(stdoutRunSink(sinkOpts, cache));
    if (o.file) {
      try {
        sinks.push(fileRunSink(o.file, sinkOpts));
      } catch (e) {
        throw new UsageError(`--file: cannot open ${o.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    let http: (() => HttpOutput) | undefined;
    if (o.http) {
      const h = httpRunSink(o.http, sinkOpts);
      http = h.output;
      sinks.push(h.sink);
    }
    if (o.telemetry.otlp) sinks.push(otlpRunSink({ endpoint: o.telemetry.otlp, capacityBytes: o.outputBuffer }, cache));
    for (const s of sinks) pipeline.addSink(s);
    const router: AlertSink = {
      write: (alert) => {
        pipeline.push({ kind: 'alert', alert, timeBootNs: clock.toBootNs(alert.timeNs) });
        pipeline.schedule();
      },
      close: async () => undefined,
    };
    const lostBy = new Map<string, number>();
    const onLost = (n: number, sensor: string): void => {
      lostBy.set(sensor, (lostBy.get(sensor) ?? 0) + n);
      pipeline.kernelLost(sensor, n);
    };

    let live: LiveRules | undefined;
    let policies: RunningPolicies | undefined;
    // Listening first: a busy --metrics address fails before anything is loaded.
    const sources: TelemetrySources = { pipeline, processCache: cache, rules: engine };
    const telemetry = await Telemetry.start(o.telemetry, sources, report);
    try {
      if (engine) {
        live = await LiveRules.start({ engine, sink: router, filter, cache, onLost });
        const d = live.describe();
        const parts = [
          live.plan.execve || live.plan.execveat ? 'exec' : '',
          d.fileSyscalls.length ? `files (${d.fileSyscalls.join(', ')})` : '',
          d.sysCalls.length || d.rawCalls.length ? `syscalls (${[...d.sysCalls, ...d.rawCalls].join(', ')})` : '',
          live.plan.procexit ? 'procexit' : '',
        ].filter(Boolean);
        process.stderr.write(`vigil run: ${engine.activeRules.length} rules active of ${engine.rules.length}; watching ${parts.join(', ') || 'nothing'}\n`);
        const unsupported = [...live.plan.unsupported, ...live.missing];
        if (unsupported.length) {
          process.stderr.write(`vigil run: rules need event types not sensed here, never matched: ${unsupported.join(', ')}\n`);
        }
      }
      if (o.policies.length) {
        policies = await startRunPolicies({
          paths: o.policies, filter, cache, onLost, criSocket: o.criSocket,
          onEvent: (event) => {
            pipeline.push({ kind: 'policy', event, timeBootNs: clock.toBootNs(event.timeNs) });
            pipeline.schedule();
          },
        });
      }
      sources.policies = policies?.engine;
    } catch (e) {
      await telemetry.close();
      await live?.close();
      await policies?.close();
      await pipeline.close(0);
      if (e instanceof PolicyStartError) {
        process.stderr.write(`vigil run: ${e.message}\n`);
        return 1;
      }
      throw e;
    }

    if (live) {
      const l = live;
      pipeline.addSource('rules', l.source);
    }
    const policyReader = policies?.engine;
    if (policyReader) {
      pipeline.addSource('policy', {
        drain: () => policyReader.drain(), pause: () => policyReader.pause?.(), resume: () => policyReader.resume?.(),
      });
    }
    pipeline.start();
    const timer = o.duration !== undefined ? setTimeout(() => stop('duration'), o.duration * 1000) : undefined;
    process.stderr.write('vigil run: running; Ctrl-C to stop\n');
    await shutdown.stopped;
    if (timer) clearTimeout(timer);

    // Both close in their synchronous part: every link of both is detached at once.
    await shutdown.close(() => Promise.all([live?.close(), policies?.close()]));
    const delivered = await pipeline.close(OUTPUT_GRACE_MS);
    await telemetry.close();
    if (live) {
      const s = live.stats();
      const lost = live.lost;
      const lostTotal = lost.process + lost.file + lost.sys;
      process.stderr.write(`vigil run: ${s.events.process + s.events.file + s.events.sys} events evaluated ` +
        `(${s.events.process} process, ${s.events.file} file, ${s.events.sys} syscall), ${s.alerts} alerts` +
        `${lostTotal ? `, lost ${lostTotal} events (process ${lost.process}, file ${lost.file}, syscall ${lost.sys})` : ', no events lost'}\n`);
    }
    if (http && http().stats.failed) {
      process.stderr.write(`vigil run: HTTP: ${http().stats.sent} alerts sent, ${http().stats.failed} failed\n`);
    }
    for (const s of sinks) {
      const lost = s.lost.entries().filter((l) => l.reason !== 'ring_full' && !(l.reason === 'output_closed' && s.name === 'stdout'));
      if (lost.length) report(`${s.name}: ${s.delivered} written, not delivered: ${describeLosses(lost)}`);
    }
    if (!delivered && !sinks.every((s) => s.closed)) {
      // A write or request nobody takes would keep the process alive: leave once this command returned.
      setTimeout(() => process.exit(), 100).unref();
    }
    return 0;
  },
};
