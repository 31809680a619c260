// vigil bpf watch: an event for every BPF program load and attach on this
// host, by anyone, with the loader's process from the process cache and an
// alert from the built-in rule "Unexpected BPF loader" for a loader that is
// not on the allow-list (src/rules/bpf-loaders.ts).
//
// Records are described a batch at a time, after the process sensor's ring
// is read: a loader that exec'd just before its bpf(2) call is then in the
// cache as the image that made the call. stdout is bounded (--output-buffer):
// a line that does not fit is dropped and counted, and the count is reported.
import { parseFlags, byteSize, positive } from './flags.js';
import { UsageError } from './command.js';
import { requireCapabilities } from './privileges.js';
import { Shutdown } from './shutdown.js';
import { ProcessCache } from '../process/cache.js';
import { HOST, type ProcessInfo } from '../process/types.js';
import { ProcessSensor } from '../sensors/process.js';
import { BpfWatchSensor, type BpfWatchEvent } from '../sensors/bpf-watch.js';
import { BpfLoaderAllowList, BUILTIN_BPF_LOADERS, UNEXPECTED_BPF_LOADER } from '../rules/bpf-loaders.js';
import { stdoutOutput, type LineOutput } from '../pipeline/output.js';
import { rfc3339Nano } from '../util/clock.js';
import { formatByteSize } from '../pipeline/size.js';

export const BPF_WATCH_USAGE = `usage: vigil bpf watch [--output compact|json] [--allow LOADER]... [--allow-file FILE]
                       [--alerts-only] [--duration S] [--include-self] [--output-buffer SIZE]

An event for every BPF program load (BPF_PROG_LOAD) and attach (BPF_LINK_CREATE,
BPF_PROG_ATTACH, BPF_RAW_TRACEPOINT_OPEN, ioctl PERF_EVENT_IOC_SET_BPF) by any
process on this host, failed calls included: the loader (pid, command, binary,
arguments, parent, container), the program's id, type, name and tag as the
kernel held it, where it was attached. A loader that is not on the allow-list
raises the alert "${UNEXPECTED_BPF_LOADER}".

A loader is allowed by its binary (/usr/sbin/bpftool), every binary under a
directory (/opt/cilium/, with the trailing slash), or its command name
(bpftrace). Always allowed: ${BUILTIN_BPF_LOADERS.join(', ')}.

options:
  -o, --output F       compact (default) or json (one object a line)
  --allow LOADER       allow a loader (repeatable)
  --allow-file FILE    allowed loaders, one a line ('#' comments)
  --alerts-only        print only the calls that raise an alert
  --duration S         stop after S seconds (default: until Ctrl-C)
  --include-self       also report this command's own loads
  --output-buffer SIZE stdout's bound (default 4MiB): lines beyond it are dropped and counted
  -h, --help`;

export interface WatchedLoad {
  event: BpfWatchEvent;
  process: ProcessInfo | undefined;
  alert: boolean;
}

function hexTag(tag: string | undefined): string {
  return tag ?? '-';
}

function containerOf(p: ProcessInfo | undefined): string | undefined {
  const c = p?.container;
  return c === undefined || c === HOST ? undefined : c.id;
}

/** One compact line. */
export function compactLine(w: WatchedLoad): string {
  const e = w.event;
  const p = w.process;
  const who = `${e.task.pid} ${p?.binary || e.task.comm}${containerOf(p) ? ` @${containerOf(p)!.slice(0, 12)}` : ''}`;
  const prog = e.program.id !== undefined
    ? `prog ${e.program.id} ${e.program.typeName} "${e.program.name}" tag ${hexTag(e.program.tag)}`
    : `prog ${e.program.typeName || '?'} "${e.program.name}"`;
  const where = e.tracepoint !== undefined ? ` to ${e.tracepoint}`
    : e.attachType !== undefined ? ` as ${e.attachType}` : '';
  const link = e.link ? ` link ${e.link.id} ${e.link.type}` : '';
  const result = e.ret < 0 ? ` failed ${e.error}` : '';
  return `${rfc3339Nano(e.timeNs)} ${e.command.padEnd(19)} ${who}: ${prog}${where}${link}${result}${w.alert ? `  ALERT ${UNEXPECTED_BPF_LOADER}` : ''}`;
}

/** One JSON object (Falco's alert fields under "alert" when the rule fired). */
export function jsonLine(w: WatchedLoad, node: string): string {
  const e = w.event;
  const p = w.process;
  const parent = p?.parentExecId !== undefined ? { pid: p.ppid } : undefined;
  const obj = {
    time: rfc3339Nano(e.timeNs),
    node_name: node,
    command: e.command,
    ret: e.ret,
    ...(e.error ? { error: e.error } : {}),
    program: {
      ...(e.program.id !== undefined ? { id: e.program.id, tag: e.program.tag } : {}),
      name: e.program.name, type: e.program.typeName,
      ...(e.program.insns !== undefined ? { insns: e.program.insns } : {}),
    },
    ...(e.attachType !== undefined ? { attach_type: e.attachType } : {}),
    ...(e.targetFd !== undefined ? { target_fd: e.targetFd } : {}),
    ...(e.tracepoint !== undefined ? { tracepoint: e.tracepoint } : {}),
    ...(e.link ? { link: e.link } : {}),
    process: {
      pid: e.task.pid, tid: e.task.tid, uid: e.task.uid, gid: e.task.gid, comm: e.task.comm,
      binary: p?.binary ?? '', arguments: p ? p.args.slice(1).join(' ') : '',
      ...(p?.execId ? { exec_id: p.execId } : {}),
      ...(parent ? { parent } : {}),
      ...(containerOf(p) ? { container_id: containerOf(p) } : {}),
      cgroup_id: e.task.cgroupId.toString(),
    },
    ...(w.alert ? {
      alert: {
        rule: UNEXPECTED_BPF_LOADER, priority: 'Warning',
        output: `BPF ${e.command} by a loader not on the allow-list (binary=${p?.binary || '?'} comm=${e.task.comm} pid=${e.task.pid} program=${e.program.name || '?'})`,
      },
    } : {}),
  };
  return JSON.stringify(obj);
}

export async function runBpfWatch(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags({
    args: argv,
    options: {
      output: { type: 'string', short: 'o', default: 'compact' },
      allow: { type: 'string', multiple: true },
      'allow-file': { type: 'string' },
      'alerts-only': { type: 'boolean', default: false },
      duration: { type: 'string' },
      'include-self': { type: 'boolean', default: false },
      'output-buffer': { type: 'string' },
    },
    strict: true, allowPositionals: true,
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (values.output !== 'compact' && values.output !== 'json') {
    throw new UsageError(`--output: unknown format "${values.output}"; available: compact, json`);
  }
  const duration = positive('--duration', values.duration, false);
  const capacity = byteSize('--output-buffer', values['output-buffer'], 4 << 20);
  const entries = [...BUILTIN_BPF_LOADERS];
  for (const a of values.allow ?? []) {
    try {
      entries.push(BpfLoaderAllowList.check(a));
    } catch (e) {
      throw new UsageError(`--allow: ${(e as Error).message}`);
    }
  }
  const file = values['allow-file'];
  if (file !== undefined) {
    try {
      entries.push(...BpfLoaderAllowList.fromFile(file));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new UsageError(`--allow-file: ${err.code ? `cannot read ${file}: ${err.code}` : err.message}`);
    }
  }
  const allow = new BpfLoaderAllowList(entries);
  requireCapabilities('', ['CAP_BPF', 'CAP_PERFMON'], ['bpf', 'watch', ...argv]);

  using shutdown = new Shutdown('bpf watch');
  const report = (line: string): void => void process.stderr.write(`vigil bpf watch: ${line}\n`);
  let dropped = 0;
  let lostRecords = 0;
  const out: LineOutput = stdoutOutput({
    onWriteFailed: (err) => report(`stdout: ${err.code ?? err.message}`),
    onClosed: () => shutdown.stop('stdout closed'),
    onDrained: () => {},
  });
  using cache = new ProcessCache();
  const proc = await ProcessSensor.start({ cache, kinds: [], onEvent: () => {} });
  const pending: BpfWatchEvent[] = [];
  const flush = (): void => {
    if (!pending.length) return;
    proc.drain(); // the loaders' execs before their calls
    const lines: string[] = [];
    for (const event of pending.splice(0)) {
      const p = cache.get(event.task.pid, event.task.startBootNs, event.bootNs);
      const loader = { binary: p?.binary ?? '', comm: event.task.comm };
      const w: WatchedLoad = { event, process: p, alert: !allow.allows(loader) };
      if (values['alerts-only'] && !w.alert) continue;
      lines.push(values.output === 'json' ? jsonLine(w, cache.node) : compactLine(w));
    }
    if (!lines.length) return;
    if (out.pendingBytes > capacity) {
      dropped += lines.length;
      return;
    }
    out.write({ lines, sensors: lines.map(() => 'bpf_watch') });
  };
  let sensor: BpfWatchSensor;
  try {
    sensor = await BpfWatchSensor.start({
      ...(values['include-self'] ? {} : { ignorePid: process.pid }),
      onEvent: (e) => pending.push(e),
      onBatchEnd: flush,
      onLost: (n) => {
        lostRecords += n;
      },
    });
  } catch (e) {
    proc.close();
    throw e;
  }
  const timer = duration !== undefined ? setTimeout(() => shutdown.stop('duration'), duration * 1000) : undefined;
  report(`watching BPF loads and attaches${sensor.viaRawSyscalls ? ' (on raw_syscalls)' : ''}; Ctrl-C to stop`);
  await shutdown.stopped;
  if (timer) clearTimeout(timer);
  await shutdown.close(() => {
    sensor.close(); // its last records reach flush
    flush();
    proc.close();
  });
  await out.settle(1000);
  if (lostRecords) report(`lost ${lostRecords} calls (ring full)`);
  if (dropped) report(`dropped ${dropped} lines (stdout did not keep up; --output-buffer ${formatByteSize(capacity)})`);
  return 0;
}
