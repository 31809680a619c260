// The tracers of the file- and process-tracing benchmarks, each run the way
// people run it: Vigil's CLI (bin/vigil observe), libbpf-tools opensnoop and
// execsnoop, bpftrace one-liners and strace. Each knows how to tell it is
// attached, and how to find the workload's events in what it printed.
import { repoPath } from '../src/util/paths.js';
import { countLines, head, inEpollWait, lostLines, type Target, type Tracer } from './storm.js';

/** A uid nobody runs as: the filter that matches nothing. */
export const NOBODY_UID = 54321;

/**
 * Vigil's own account of loss: the final "lost N events" line it prints on
 * stderr when it stops (in json mode the losses as they happen are
 * {"lost":...} records on stdout; otherwise stderr lines ending "(ring buffer
 * full)", summed if the final line is missing).
 */
export function vigilLost(stderr: string): number {
  const total = [...stderr.matchAll(/^vigil observe: lost (\d+) events$/gm)].at(-1);
  if (total) return Number(total[1]);
  let n = 0;
  for (const m of stderr.matchAll(/lost (\d+) .*events \(ring buffer full\)/g)) n += Number(m[1]);
  return n;
}

function vigil(name: string, args: string[], sink: 'file' | 'null', count?: Tracer['count']): Tracer {
  const bin = repoPath('bin', 'vigil');
  return {
    name,
    shown: `vigil ${args.join(' ')}${sink === 'null' ? ' > /dev/null' : ''}`,
    argv: () => [bin, ...args],
    sink,
    // Printed on stderr once every sensor is attached.
    ready: (p) => p.err.includes('watching'),
    count,
    lost: (p) => vigilLost(p.err),
  };
}

/** Vigil streaming every open of the workload's file as JSON. */
export function vigilFiles(path: string, sink: 'file' | 'null'): Tracer {
  return vigil(sink === 'null' ? 'Vigil, json > /dev/null' : 'Vigil, json',
    ['observe', '--sensors', 'file', '--path-prefix', path, '--output', 'json'], sink,
    (out, t) => countLines(out, `"path":${JSON.stringify(t.path)}`, (line) => line.includes(`"pid":${t.pid},`)));
}

/** The fields a consumer of slim events asks for (issue 12: a masked JSON event of at most 512 bytes). */
export const SLIM_FIELDS = 'process.pid,process.binary,path,op,ret';

/** Vigil streaming every open of the workload's file as JSON with only SLIM_FIELDS. */
export function vigilFilesSlim(path: string): Tracer {
  return vigil('Vigil, json --fields',
    ['observe', '--sensors', 'file', '--path-prefix', path, '--output', 'json', '--fields', SLIM_FIELDS], 'file',
    (out, t) => countLines(out, `"path":${JSON.stringify(t.path)}`, (line) => line.includes(`"pid":${t.pid},`)));
}

/** Vigil streaming every open of the workload's file as compact lines ("📂 open <pid> <binary> <path> ..."). */
export function vigilFilesCompact(path: string): Tracer {
  return vigil('Vigil, compact',
    ['observe', '--sensors', 'file', '--path-prefix', path, '--output', 'compact'], 'file',
    (out, t) => countLines(out, ` ${t.path} `, (line) => line.includes(` ${t.pid} `)));
}

/** Vigil with every process sensor and the file sensor, filtered to a uid nobody runs as. */
export function vigilIdleUid(): Tracer {
  return vigil(`Vigil, --uid ${NOBODY_UID}`,
    ['observe', '--sensors', 'file,exec,exit', '--uid', String(NOBODY_UID), '--output', 'json'], 'file',
    (out) => countLines(out, '') /* any line at all */);
}

/** Vigil's file sensor with a path prefix nothing has: every open is resolved, then dropped. */
export function vigilIdlePath(): Tracer {
  return vigil('Vigil, --path-prefix /nonexistent/',
    ['observe', '--sensors', 'file', '--path-prefix', '/nonexistent/', '--output', 'json'], 'file',
    (out) => countLines(out, ''));
}

/** Vigil's exec sensor, unfiltered: every exec on the host. */
export function vigilExec(): Tracer {
  return vigil('Vigil, json', ['observe', '--sensors', 'exec', '--output', 'json'], 'file', (out, t) =>
    countLines(out, `"binary":${JSON.stringify(t.binary)}`, (line) => {
      let e: { process_exec?: { process?: { binary?: string }; parent?: { pid?: number } } };
      try {
        e = JSON.parse(line) as typeof e;
      } catch {
        return false; // not a whole event: not received
      }
      return e.process_exec?.process?.binary === t.binary && e.process_exec?.parent?.pid === t.pid;
    }));
}

/**
 * A libbpf-tools tool, unfiltered (as it is usually run), stdout to a file.
 * Its header sits in a stdio buffer; its perf-buffer poll loop starts after
 * attaching, so it is ready once it waits in epoll.
 */
function libbpfTool(tool: string, count: (out: string, t: Target) => number): Tracer {
  return {
    name: `${tool} (libbpf-tools)`,
    shown: `${tool} > FILE`,
    argv: () => [tool],
    sink: 'file',
    ready: (p) => inEpollWait(p.pid),
    count,
    lost: (p) => lostLines(p.err),
  };
}

/** libbpf-tools opensnoop: "PID COMM FD ERR PATH". */
export function opensnoop(): Tracer {
  return libbpfTool('opensnoop', (out, t) => countLines(out, ` ${t.path}`, (l) => l.startsWith(`${t.pid} `) && l.endsWith(` ${t.path}`)));
}

/** libbpf-tools execsnoop: "PCOMM PID PPID RET ARGS". */
export function execsnoop(): Tracer {
  return libbpfTool('execsnoop', (out, t) => countLines(out, ` ${t.pid} `, (l) => {
    const f = l.trim().split(/\s+/);
    return f[2] === String(t.pid) && f[3] === '0';
  }));
}

/**
 * A bpftrace one-liner; BEGIN prints "ready" once every probe is attached
 * (bpftrace prints "Attaching N probes..." before attaching).
 */
function bpftrace(name: string, program: string, count?: (out: string, t: Target) => number): Tracer {
  return {
    name,
    shown: `bpftrace -e '${program}' > FILE`,
    argv: () => ['bpftrace', '-e', `BEGIN { printf("ready\\n"); } ${program}`],
    sink: 'file',
    ready: (_p, out) => head(out).includes('ready\n'),
    count,
    // bpftrace reports loss on its output stream, i.e. in the file.
    lost: (p, out) => {
      let n = lostLines(p.err);
      countLines(out, 'Lost ', (l) => { n += lostLines(l); return true; });
      return n;
    },
  };
}

/** bpftrace printing each openat on the host. */
export function bpftraceOpens(): Tracer {
  return bpftrace('bpftrace printf',
    'tracepoint:syscalls:sys_enter_openat { printf("%d %s %s\\n", pid, comm, str(args->filename)); }',
    (out, t) => countLines(out, ` ${t.path}`, (l) => l.startsWith(`${t.pid} `) && l.endsWith(` ${t.path}`)));
}

/** bpftrace with a probe on openat whose predicate is never true. */
export function bpftraceNever(): Tracer {
  return bpftrace(`bpftrace /uid == ${NOBODY_UID}/`, `tracepoint:syscalls:sys_enter_openat /uid == ${NOBODY_UID}/ { }`);
}

/**
 * bpftrace's own path filter that matches nothing: the name each openat was given, read from the
 * caller and compared with /nonexistent/ (the like-for-like peer of `--path-prefix`, which resolves
 * the opened file instead, so that a symlink or ".." cannot move it in or out of the prefix).
 */
export function bpftracePathNever(): Tracer {
  return bpftrace('bpftrace /strncmp(path, "/nonexistent/")/',
    'tracepoint:syscalls:sys_enter_openat /strncmp(str(args->filename), "/nonexistent/", 13) == 0/ { }');
}

/** bpftrace printing each exec on the host (pid, parent, file). */
export function bpftraceExecs(): Tracer {
  return bpftrace('bpftrace printf',
    'tracepoint:sched:sched_process_exec ' +
      '{ printf("%d %d %s\\n", pid, curtask->real_parent->tgid, str(args->filename)); }',
    (out, t) => countLines(out, ` ${t.pid} `, (l) => l.split(' ')[1] === String(t.pid)));
}

/** strace following forks, tracing openat, to a file (it adds a ptrace stop per syscall). */
export function strace(): Tracer {
  return {
    name: 'strace -f',
    shown: 'strace -f -e trace=openat -o FILE -p PID',
    argv: (t, out) => ['strace', '-f', '-e', 'trace=openat', '-o', out, '-p', String(t.pid)],
    sink: 'self',
    ready: (p) => p.err.includes('attached'),
    count: (out, t) => countLines(out, `"${t.path}"`, (l) => l.includes('openat(') && !l.includes('= -')),
  };
}
