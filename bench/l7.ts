// The L7 sensor's cost on a real HTTP server (`--only l7`; alone:
// `node dist/bench/l7.js [--runs 5] [--seconds 10] [--no-peer]`): wrk (Debian's) against
// nginx (Debian's, started here with its own configuration on a loopback
// port, two workers, `return 200`), HTTP/1.1 keep-alive, without Vigil and
// with `bin/vigil observe --sensors http --comm nginx --output json` writing
// every record to a file, in pairs (the order alternating).
//
// First the peak (unpaced, no Vigil); then, at a fixed rate of half of it
// (wrk paced by a Lua delay() per connection: wrk2 is not packaged), the
// throughput, wrk's p99 latency, the records Vigil wrote against the
// requests wrk made, and Vigil's CPU per request: its BPF programs' run time
// (kernel.bpf_stats_enabled, the programs it holds, /proc/PID/fdinfo) plus
// its process's CPU time, over the requests. Then at full load (unpaced,
// both cores busy): the throughput with Vigil as a share of without. The
// paced runs also run under bpftrace doing the same syscall capture (the
// peers' way on a kernel without kprobes), its CPU per request beside Vigil's;
// the full-load runs under `vigil top http` (the kernel's histograms alone), under
// `vigil top http --capture packets` (the same histograms from cgroup skb programs
// on nginx's cgroup: no syscall tracepoint) and under empty programs on the same
// tracepoints (what the tracepoints cost).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cgroup2 } from '../src/bpf/mounts.js';
import { BpfStatsSwitch } from '../src/telemetry/bpf-stats.js';
import { freePort } from '../src/util/net.js';
import { repoPath } from '../src/util/paths.js';
import { cpuSeconds } from './agent.js';
import { intFlag, runAsScript } from './script.js';
import { progStats, type ProgStat } from './storm.js';
import { vigilLost } from './tracers.js';
import { writeNginxConf } from '../test/l7-servers.js';
import { count, markdownTable, percent, rate } from './table.js';

export interface L7BenchOptions {
  runs?: number;
  /** The paced runs under bpftrace too (default true, where it is installed). */
  peer?: boolean;
  seconds?: number;
  log?: (msg: string) => void;
}

interface WrkRun {
  requests: number;
  seconds: number;
  p99Ms: number;
  errors: number;
}

interface VigilCost {
  /** Records of nginx's side Vigil wrote. */
  records: number;
  /** Events Vigil said it lost. */
  lost: number;
  cpuS: number;
  bpfNs: number;
  bpfRuns: number;
}

interface Pair {
  none: WrkRun;
  vigil: WrkRun;
  cost: VigilCost;
  /** The same load under bpftrace (paced runs, where it is installed). */
  peer?: { run: WrkRun; cost: VigilCost };
  /** Full load: `vigil top http`, the kernel's histograms alone (nothing per request crosses to user space). */
  kernelOnly?: { run: WrkRun; cost: VigilCost };
  /** Full load: `vigil top http --capture packets`, the same histograms from nginx's cgroup's packets. */
  packets?: { run: WrkRun; cost: VigilCost };
  /** Full load: empty programs on the same syscall tracepoints (bpftrace, where it is installed). */
  noop?: { run: WrkRun; cost: VigilCost };
}

export interface L7BenchResult {
  peak: number;
  rate: number;
  connections: number;
  delayMs: number;
  seconds: number;
  paced: Pair[];
  full: Pair[];
  error?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Connections of the full-load runs; paced runs wait DELAY_MS after each response on each connection. */
const FULL_CONNECTIONS = 64;
const DELAY_MS = 10;

export function haveL7Bench(): string | undefined {
  for (const c of ['wrk', 'nginx']) if (spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0) return `${c} is not installed (scripts/setup.sh)`;
  return undefined;
}

/** nginx's own cgroup (for `--capture packets`), made before it starts: undefined without cgroup v2. */
function nginxCgroup(): string | undefined {
  const root = cgroup2().path;
  if (!root) return undefined;
  const dir = path.join(root, `vigil-bench-l7-${process.pid}`);
  mkdirSync(dir);
  return dir;
}

/** Kills what is left in it (cgroup.kill, 5.14), then rmdir, retried for ~2 s: a cgroup whose processes were just killed stays busy for a moment. */
function removeCgroup(dir: string): void {
  try {
    writeFileSync(path.join(dir, 'cgroup.kill'), '1');
  } catch {
    // An older kernel: nginx's workers follow their master out.
  }
  for (let i = 0; ; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || i >= 100) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

async function startNginx(dir: string, cgroup: string | undefined): Promise<{ proc: ChildProcess; port: number }> {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const port = await freePort();
  writeNginxConf(dir, { workers: 2, connections: 2048, http: 'keepalive_requests 1000000;', listen: `127.0.0.1:${port}`,
    server: 'location / { default_type text/plain; return 200 "ok\\n"; }' });
  const argv = ['nginx', '-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')];
  // In its cgroup before its sockets exist (a socket belongs to the cgroup it was made in).
  const proc = cgroup
    ? spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...argv], { stdio: 'ignore' })
    : spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    if (spawnSync('curl', ['-sf', '-o', '/dev/null', `http://127.0.0.1:${port}/`]).status === 0) return { proc, port };
    await sleep(25);
  }
  proc.kill('SIGKILL');
  throw new Error(`nginx did not answer on 127.0.0.1:${port}`);
}

/** wrk's latency figure ("1.23ms", "850.00us", "1.02s") in ms. */
function latencyMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v);
  if (!m) return NaN;
  return Number(m[1]) * { us: 1e-3, ms: 1, s: 1e3, m: 6e4 }[m[2] as 'us' | 'ms' | 's' | 'm'];
}

async function wrk(port: number, seconds: number, connections: number, script?: string, delayMs?: number): Promise<WrkRun> {
  const args = ['-t2', `-c${connections}`, `-d${seconds}s`, '--latency', ...(script ? ['-s', script] : []),
    `http://127.0.0.1:${port}/`, ...(delayMs ? ['--', String(delayMs)] : [])];
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let s = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (s += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (s += d));
    const killer = setTimeout(() => p.kill('SIGKILL'), (seconds + 30) * 1000);
    p.on('close', (code) => {
      clearTimeout(killer);
      if (code === 0) resolve(s);
      else reject(new Error(`wrk ${args.join(' ')}: status ${code}: ${s.trim().split('\n').at(-1)}`));
    });
  });
  const done = /(\d+) requests in ([\d.]+)(ms|s|m),/.exec(out);
  if (!done) throw new Error(`wrk: no request count in its output: ${out.trim().split('\n').at(-1)}`);
  const secs = Number(done[2]) * { ms: 1e-3, s: 1, m: 60 }[done[3] as 'ms' | 's' | 'm'];
  const p99 = /^\s*99%\s+(\S+)/m.exec(out);
  const errs = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests: Number(done[1]), seconds: secs, p99Ms: p99 ? latencyMs(p99[1]!) : NaN,
    errors: Number(errs?.[1] ?? 0) + (sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0),
  };
}

/** Lines of `file` containing `needle`, read in pieces (the file may be large). */
function countIn(file: string, needle: string): number {
  const text = readFileSync(file, 'latin1');
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** A tracer of nginx's calls: how it is started, when it is ready, what it wrote. */
interface TracerSpec {
  argv: string[];
  env?: NodeJS.ProcessEnv;
  /** Attached: from its stderr, or the file its output goes to. */
  ready(stderr: string, outFile: string): boolean;
  /** nginx's requests in its output file. */
  records(outFile: string): number;
  lost(stderr: string, outFile: string): number;
}

const VIGIL: TracerSpec = {
  argv: [repoPath('bin', 'vigil'), 'observe', '--sensors', 'http', '--comm', 'nginx', '--output', 'json'],
  ready: (stderr) => stderr.includes('watching'),
  records: (f) => countIn(f, '"role":"server"'),
  lost: (stderr) => vigilLost(stderr),
};

/** Bytes of each call bpftrace prints (its string limit, at most 200 in the packaged version). */
const BPFTRACE_BYTES = 200;

/**
 * The peers' way on this kernel (no kprobes): bpftrace on the same syscall tracepoints, nginx's
 * reads (read, recvfrom) and writes (writev, its responses) with their sizes, latencies and first
 * bytes printed, one line a call; no pairing, no parsing. Requests: its lines of reads that begin
 * with a method.
 */
const BPFTRACE_L7 = [
  'BEGIN { printf("ready\\n"); }',
  'tracepoint:syscalls:sys_enter_read /comm == "nginx"/ { @b[tid] = args->buf; @s[tid] = nsecs; }',
  'tracepoint:syscalls:sys_enter_recvfrom /comm == "nginx"/ { @b[tid] = args->ubuf; @s[tid] = nsecs; }',
  'tracepoint:syscalls:sys_exit_read, tracepoint:syscalls:sys_exit_recvfrom /@b[tid]/ { if (args->ret > 0) { ' +
    'printf("R %d %d %d %r\\n", pid, args->ret, nsecs - @s[tid], buf(@b[tid], args->ret)); } delete(@b[tid]); delete(@s[tid]); }',
  'tracepoint:syscalls:sys_enter_writev /comm == "nginx"/ { @v[tid] = args->vec; @s[tid] = nsecs; }',
  'tracepoint:syscalls:sys_exit_writev /@v[tid]/ { if (args->ret > 0) { $v = (struct iovec *)@v[tid]; ' +
    'printf("W %d %d %d %r\\n", pid, args->ret, nsecs - @s[tid], buf($v->iov_base, $v->iov_len)); } delete(@v[tid]); delete(@s[tid]); }',
].join('\n');

const BPFTRACE: TracerSpec = {
  argv: ['bpftrace', '-e', BPFTRACE_L7],
  env: { ...process.env, BPFTRACE_STRLEN: String(BPFTRACE_BYTES) },
  ready: (_stderr, f) => readFileSync(f, 'latin1').includes('ready\n'),
  records: (f) => countIn(f, ' GET /'),
  lost: (stderr, f) => {
    let n = 0;
    for (const text of [stderr, readFileSync(f, 'latin1')]) for (const m of text.matchAll(/Lost (\d+) events/g)) n += Number(m[1]);
    return n;
  },
};

/**
 * `vigil top http`: requests counted and their latency kept in the kernel's histograms, read once a
 * second; no record per request leaves the kernel. Requests: the server rows' counts it printed.
 */
const VIGIL_TOP: TracerSpec = {
  argv: [repoPath('bin', 'vigil'), 'top', 'http', '--comm', 'nginx', '--interval', '1', '--output', 'json'],
  ready: (stderr) => stderr.includes('counting'),
  records: (f) => {
    let n = 0;
    for (const line of readFileSync(f, 'latin1').split('\n')) {
      if (!line.startsWith('{')) continue;
      const rows = (JSON.parse(line) as { rows?: { role: string; requests: number }[] }).rows ?? [];
      for (const r of rows) if (r.role === 'server') n += r.requests;
    }
    return n;
  },
  lost: (_stderr, f) => {
    let n = 0;
    for (const m of readFileSync(f, 'latin1').matchAll(/"overflowed":(\d+)/g)) n += Number(m[1]);
    return n;
  },
};

/** `vigil top http --capture packets` on nginx's cgroup: the same histograms from its TCP segments. */
function vigilTopPackets(cgroup: string): TracerSpec {
  return { ...VIGIL_TOP, argv: [repoPath('bin', 'vigil'), 'top', 'http', '--capture', 'packets', '--cgroup', cgroup, '--interval', '1', '--output', 'json'] };
}

/**
 * What the syscall tracepoints cost before any tracer's work: bpftrace with a program on each
 * tracepoint the L7 sensor attaches to (the enters and exits of read, write, recvfrom, sendto,
 * readv, writev, recvmsg, sendmsg and sendfile64, and close's enter) whose predicate is never true.
 */
const NOOP_CALLS = ['read', 'write', 'recvfrom', 'sendto', 'readv', 'writev', 'recvmsg', 'sendmsg', 'sendfile64'];
const BPFTRACE_NOOP = [
  'BEGIN { printf("ready\\n"); }',
  `${NOOP_CALLS.flatMap((c) => [`tracepoint:syscalls:sys_enter_${c}`, `tracepoint:syscalls:sys_exit_${c}`]).join(', ')}, ` +
    'tracepoint:syscalls:sys_enter_close /pid == 0/ { @n = count(); }',
].join('\n');

const NOOP: TracerSpec = {
  argv: ['bpftrace', '-e', BPFTRACE_NOOP],
  ready: (_stderr, f) => readFileSync(f, 'latin1').includes('ready\n'),
  records: () => 0,
  lost: () => 0,
};

export function haveBpftrace(): boolean {
  return spawnSync('sh', ['-c', 'command -v bpftrace']).status === 0;
}

/** One run with a tracer of nginx: wrk's result and what the tracer cost and wrote. */
async function withTracer(dir: string, t: TracerSpec, load: () => Promise<WrkRun>): Promise<{ run: WrkRun; cost: VigilCost }> {
  const outFile = path.join(dir, 'records.out');
  const fd = openSync(outFile, 'w');
  let child: ChildProcess;
  try {
    child = spawn(t.argv[0]!, t.argv.slice(1), { stdio: ['ignore', fd, 'pipe'], env: t.env });
  } finally {
    closeSync(fd);
  }
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-16_384)));
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  try {
    for (let i = 0; !t.ready(stderr, outFile); i++) {
      if (i > 1500 || child.exitCode !== null) throw new Error(`${path.basename(t.argv[0]!)} did not start: ${stderr.trim()}`);
      await sleep(20);
    }
    const pid = child.pid!;
    const cpu0 = cpuSeconds(pid) ?? 0;
    const progs0 = progStats(pid);
    const run = await load();
    // The records of the last responses: read from the ring within the pipeline's cycle.
    await sleep(500);
    const cpu1 = cpuSeconds(pid) ?? 0;
    const progs1 = progStats(pid);
    child.kill('SIGINT');
    await exited;
    const sum = (ps: ProgStat[], k: 'runTimeNs' | 'runCnt'): number => ps.reduce((a, p) => a + (Number.isFinite(p[k]) ? p[k] : 0), 0);
    return {
      run,
      cost: {
        records: t.records(outFile), lost: t.lost(stderr, outFile), cpuS: cpu1 - cpu0,
        bpfNs: sum(progs1, 'runTimeNs') - sum(progs0, 'runTimeNs'), bpfRuns: sum(progs1, 'runCnt') - sum(progs0, 'runCnt'),
      },
    };
  } finally {
    child.kill('SIGKILL');
    rmSync(outFile, { force: true });
  }
}

export async function runL7Bench(o: L7BenchOptions = {}): Promise<L7BenchResult> {
  const log = o.log ?? (() => {});
  const runs = o.runs ?? 5;
  const seconds = o.seconds ?? 10;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vigil-bench-l7-'));
  chmodSync(tmp, 0o755);
  const res: L7BenchResult = { peak: 0, rate: 0, connections: 0, delayMs: DELAY_MS, seconds, paced: [], full: [] };
  let nginx: ChildProcess | undefined;
  let cgroup: string | undefined;
  // Every program's run time is counted while this is open (two clock reads per run, host-wide).
  let stats: BpfStatsSwitch | undefined;
  try {
    cgroup = nginxCgroup();
    const started = await startNginx(path.join(tmp, 'nginx'), cgroup);
    nginx = started.proc;
    const port = started.port;
    stats = BpfStatsSwitch.enable();
    const script = path.join(tmp, 'pace.lua');
    writeFileSync(script, 'local d = 10\nfunction init(args) d = tonumber(args[1]) end\nfunction delay() return d end\n');
    log('l7: peak (unpaced, no Vigil)');
    const peak = await wrk(port, Math.min(seconds, 5), FULL_CONNECTIONS);
    res.peak = peak.requests / peak.seconds;
    res.rate = res.peak / 2;
    // Each connection: a request, its response, DELAY_MS; enough connections for half the peak.
    res.connections = Math.max(2, Math.round((res.rate * DELAY_MS) / 1000));
    for (const [mode, list] of [['paced', res.paced], ['full', res.full]] as const) {
      for (let i = 0; i < runs; i++) {
        log(`l7: ${mode} pair ${i + 1}/${runs}`);
        const load = (): Promise<WrkRun> => (mode === 'paced'
          ? wrk(port, seconds, res.connections, script, DELAY_MS) : wrk(port, seconds, FULL_CONNECTIONS));
        // The order alternates, so that a drift of the machine's load does not side with one.
        const peer = mode === 'paced' && o.peer !== false && haveBpftrace();
        // At full load also the kernel's histograms alone, and the tracepoints alone.
        const extra: [keyof Pair, TracerSpec][] = mode === 'full'
          ? [['kernelOnly', VIGIL_TOP], ...(cgroup ? [['packets', vigilTopPackets(cgroup)] as [keyof Pair, TracerSpec]] : []),
            ...(o.peer !== false && haveBpftrace() ? [['noop', NOOP] as [keyof Pair, TracerSpec]] : [])]
          : [...(peer ? [['peer', BPFTRACE] as [keyof Pair, TracerSpec]] : []),
            ...(cgroup ? [['packets', vigilTopPackets(cgroup)] as [keyof Pair, TracerSpec]] : [])];
        const pair: Partial<Pair> = {};
        const steps: (() => Promise<void>)[] = [
          async () => { pair.none = await load(); },
          async () => {
            const w = await withTracer(tmp, VIGIL, load);
            pair.vigil = w.run;
            pair.cost = w.cost;
          },
          ...extra.map(([key, spec]) => async () => { (pair as Record<string, unknown>)[key] = await withTracer(tmp, spec, load); }),
        ];
        if (i % 2 === 1) steps.reverse();
        for (const step of steps) await step();
        list.push(pair as Pair);
      }
    }
  } catch (e) {
    res.error = (e as Error).message;
  } finally {
    stats?.close();
    nginx?.kill('SIGQUIT');
    await sleep(200);
    nginx?.kill('SIGKILL');
    if (cgroup) removeCgroup(cgroup);
    rmSync(tmp, { recursive: true, force: true });
  }
  return res;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** "median (min..max)". */
function spread(xs: number[], fmt: (n: number) => string): string {
  return xs.length ? `${fmt(median(xs))} (${fmt(Math.min(...xs))}..${fmt(Math.max(...xs))})` : '-';
}

export function l7BenchReport(r: L7BenchResult): string {
  const out = ['## L7 sensor overhead: wrk against nginx, HTTP/1.1 keep-alive', ''];
  out.push(`nginx (2 workers, \`return 200\`, access log off) on 127.0.0.1, wrk -t2 (Debian's packages), ${r.seconds} s per run, ` +
    `${r.paced.length} pairs of runs per load, the order alternating; Vigil is \`bin/vigil observe --sensors http --comm nginx ` +
    '--output json > file` (every request a JSON record). Peak (unpaced, no Vigil): ' +
    `${rate(r.peak)} req/s; paced at half of it: ${r.connections} connections each waiting ${r.delayMs} ms after every response ` +
    '(wrk\'s Lua delay(); the rate made is a little under the target by the latency). Medians with (min..max) over the pairs. ' +
    '*CPU per request*: Vigil\'s BPF programs\' run time (bpf_stats, all their runs, in nginx and in wrk) plus the observe ' +
    'process\'s CPU time, over the requests wrk made. *records/requests*: nginx\'s records Vigil wrote against the requests ' +
    'wrk counted (wrk does not count the responses still in flight when it stops, so a few more records than requests is expected). ' +
    'The machine is two vCPUs shared with other work: the spread shows that noise.', '');
  if (r.error) out.push(`**Not complete**: ${r.error}`, '');
  const row = (label: string, ps: Pair[]): string[] => {
    const thr = (w: WrkRun): number => w.requests / w.seconds;
    return [label, spread(ps.map((p) => thr(p.none)), rate), spread(ps.map((p) => thr(p.vigil)), rate),
      spread(ps.map((p) => (100 * thr(p.vigil)) / thr(p.none)), (n) => `${n.toFixed(1)}%`),
      spread(ps.map((p) => p.none.p99Ms), (n) => `${n.toFixed(2)} ms`), spread(ps.map((p) => p.vigil.p99Ms), (n) => `${n.toFixed(2)} ms`),
      spread(ps.map((p) => (100 * (p.vigil.p99Ms - p.none.p99Ms)) / p.none.p99Ms), (n) => `${n >= 0 ? '+' : ''}${n.toFixed(0)}%`),
      ps.map((p) => `${count(p.cost.records)}/${count(p.vigil.requests)}`).join(', '),
      ps.map((p) => count(p.cost.lost)).join('/'),
      spread(ps.map((p) => (p.cost.bpfNs / 1e3) / p.vigil.requests), (n) => `${n.toFixed(2)} µs`),
      spread(ps.map((p) => (p.cost.cpuS * 1e6) / p.vigil.requests), (n) => `${n.toFixed(2)} µs`),
      spread(ps.map((p) => (p.cost.bpfNs / 1e3 + p.cost.cpuS * 1e6) / p.vigil.requests), (n) => `${n.toFixed(2)} µs`),
      percent(median(ps.map((p) => (100 * p.cost.cpuS) / p.vigil.seconds)))];
  };
  const rows = [r.paced.length ? row(`paced, ${rate(r.rate)}/s target`, r.paced) : undefined,
    r.full.length ? row(`full load, ${FULL_CONNECTIONS} connections`, r.full) : undefined].filter((x): x is string[] => !!x);
  out.push(markdownTable([
    { title: 'load', align: 'left' }, { title: 'req/s, no Vigil' }, { title: 'req/s, Vigil' }, { title: 'with/without' },
    { title: 'p99, no Vigil' }, { title: 'p99, Vigil' }, { title: 'p99 added' }, { title: 'records/requests (each pair)', align: 'left' },
    { title: 'lost' }, { title: 'BPF per req' }, { title: 'observe CPU per req' }, { title: 'Vigil CPU per req' }, { title: 'observe CPU' },
  ], rows), '');
  const peered = r.paced.filter((p) => p.peer);
  if (peered.length) {
    const perReq = (c: VigilCost, w: WrkRun): number => (c.bpfNs / 1e3 + c.cpuS * 1e6) / w.requests;
    const thr = (w: WrkRun): number => w.requests / w.seconds;
    out.push('The peers\' way on this kernel, paced as above, in the same rounds: bpftrace on the same syscall tracepoints ' +
      `(nginx's read/recvfrom and writev, each call's size, latency and first ${BPFTRACE_BYTES} bytes printed to a file; ` +
      'no pairing or parsing). *Vigil/bpftrace*: Vigil\'s CPU per request over bpftrace\'s, each round\'s.', '');
    out.push(markdownTable([
      { title: 'load', align: 'left' }, { title: 'req/s, bpftrace' }, { title: 'with/without' }, { title: 'p99, bpftrace' },
      { title: 'requests printed/made (each pair)', align: 'left' }, { title: 'lost' }, { title: 'BPF per req' },
      { title: 'bpftrace CPU per req' }, { title: 'total per req' }, { title: 'Vigil/bpftrace' },
    ], [[`paced, ${rate(r.rate)}/s target`,
      spread(peered.map((p) => thr(p.peer!.run)), rate),
      spread(peered.map((p) => (100 * thr(p.peer!.run)) / thr(p.none)), (n) => `${n.toFixed(1)}%`),
      spread(peered.map((p) => p.peer!.run.p99Ms), (n) => `${n.toFixed(2)} ms`),
      peered.map((p) => `${count(p.peer!.cost.records)}/${count(p.peer!.run.requests)}`).join(', '),
      peered.map((p) => count(p.peer!.cost.lost)).join('/'),
      spread(peered.map((p) => (p.peer!.cost.bpfNs / 1e3) / p.peer!.run.requests), (n) => `${n.toFixed(2)} µs`),
      spread(peered.map((p) => (p.peer!.cost.cpuS * 1e6) / p.peer!.run.requests), (n) => `${n.toFixed(2)} µs`),
      spread(peered.map((p) => perReq(p.peer!.cost, p.peer!.run)), (n) => `${n.toFixed(2)} µs`),
      spread(peered.map((p) => perReq(p.cost, p.vigil) / perReq(p.peer!.cost, p.peer!.run)), (n) => `${n.toFixed(2)}x`),
    ]]), '');
  }
  const pacedPk = r.paced.filter((p) => p.packets);
  if (pacedPk.length) {
    const thr = (w: WrkRun): number => w.requests / w.seconds;
    out.push('Paced as above, in the same rounds: `vigil top http --capture packets --cgroup NGINX` (the kernel\'s HTTP/1.x ' +
      'histograms from cgroup skb programs on the cgroup nginx runs in; nothing per request leaves the kernel). ' +
      '*counted/made*: the requests it counted (its server rows) against wrk\'s; *lost*: exchanges counted in the overflow row.', '');
    out.push(markdownTable([
      { title: 'load', align: 'left' }, { title: 'req/s, Vigil' }, { title: 'with/without' }, { title: 'p99, Vigil' },
      { title: 'p99 added' }, { title: 'counted/made (each pair)', align: 'left' }, { title: 'lost' }, { title: 'BPF per req' },
      { title: 'top CPU per req' }, { title: 'Vigil CPU per req' },
    ], [[`paced, ${rate(r.rate)}/s target`,
      spread(pacedPk.map((p) => thr(p.packets!.run)), rate),
      spread(pacedPk.map((p) => (100 * thr(p.packets!.run)) / thr(p.none)), (n) => `${n.toFixed(1)}%`),
      spread(pacedPk.map((p) => p.packets!.run.p99Ms), (n) => `${n.toFixed(2)} ms`),
      spread(pacedPk.map((p) => (100 * (p.packets!.run.p99Ms - p.none.p99Ms)) / p.none.p99Ms), (n) => `${n >= 0 ? '+' : ''}${n.toFixed(1)}%`),
      pacedPk.map((p) => `${count(p.packets!.cost.records)}/${count(p.packets!.run.requests)}`).join(', '),
      pacedPk.map((p) => count(p.packets!.cost.lost)).join('/'),
      spread(pacedPk.map((p) => (p.packets!.cost.bpfNs / 1e3) / p.packets!.run.requests), (n) => `${n.toFixed(2)} µs`),
      spread(pacedPk.map((p) => (p.packets!.cost.cpuS * 1e6) / p.packets!.run.requests), (n) => `${n.toFixed(2)} µs`),
      spread(pacedPk.map((p) => (p.packets!.cost.bpfNs / 1e3 + p.packets!.cost.cpuS * 1e6) / p.packets!.run.requests), (n) => `${n.toFixed(2)} µs`),
    ]]), '');
  }
  const extra = r.full.filter((p) => p.kernelOnly);
  if (extra.length) {
    const thr = (w: WrkRun): number => w.requests / w.seconds;
    const ratio = (w: WrkRun | undefined, p: Pair): number => (w ? (100 * thr(w)) / thr(p.none) : NaN);
    const perReq = (c: VigilCost, w: WrkRun): number => (c.bpfNs / 1e3 + c.cpuS * 1e6) / w.requests;
    const noop = extra.filter((p) => p.noop);
    out.push('Full load, in the same rounds: `vigil top http --comm nginx` (requests counted and latencies kept in the ' +
      'kernel\'s histograms, nothing per request crossing to user space), `vigil top http --capture packets --cgroup ' +
      'NGINX` (the same histograms from cgroup skb programs on the cgroup nginx runs in: no syscall tracepoint on), and, ' +
      'where bpftrace is installed, programs ' +
      'that do nothing on the same syscall tracepoints (the enters and exits of every call the L7 sensor follows, a ' +
      'predicate never true): what the tracepoints cost before any tracer\'s work. *counted/made*: the requests ' +
      '`vigil top` counted against wrk\'s.', '');
    const rows2: string[][] = [[
      '`vigil observe` (every record, JSON)', spread(extra.map((p) => ratio(p.vigil, p)), (n) => `${n.toFixed(1)}%`),
      spread(extra.map((p) => perReq(p.cost, p.vigil)), (n) => `${n.toFixed(2)} µs`),
      extra.map((p) => `${count(p.cost.records)}/${count(p.vigil.requests)}`).join(', '),
    ], [
      '`vigil top http` (kernel histograms)', spread(extra.map((p) => ratio(p.kernelOnly!.run, p)), (n) => `${n.toFixed(1)}%`),
      spread(extra.map((p) => perReq(p.kernelOnly!.cost, p.kernelOnly!.run)), (n) => `${n.toFixed(2)} µs`),
      extra.map((p) => `${count(p.kernelOnly!.cost.records)}/${count(p.kernelOnly!.run.requests)}`).join(', '),
    ]];
    const pk = extra.filter((p) => p.packets);
    if (pk.length) {
      rows2.push(['`vigil top http --capture packets` (the same, from nginx\'s cgroup\'s segments)',
        spread(pk.map((p) => ratio(p.packets!.run, p)), (n) => `${n.toFixed(1)}%`),
        spread(pk.map((p) => perReq(p.packets!.cost, p.packets!.run)), (n) => `${n.toFixed(2)} µs`),
        pk.map((p) => `${count(p.packets!.cost.records)}/${count(p.packets!.run.requests)}`).join(', ')]);
    }
    if (noop.length) {
      rows2.push(['empty programs on the tracepoints (bpftrace)', spread(noop.map((p) => ratio(p.noop!.run, p)), (n) => `${n.toFixed(1)}%`),
        spread(noop.map((p) => perReq(p.noop!.cost, p.noop!.run)), (n) => `${n.toFixed(2)} µs`), '-']);
    }
    out.push(markdownTable([
      { title: 'full load, tracer', align: 'left' }, { title: 'with/without' }, { title: 'tracer CPU per req (BPF + process)' },
      { title: 'counted/made (each pair)', align: 'left' },
    ], rows2), '');
  }
  return out.join('\n');
}

runAsScript(import.meta, 'l7', async () => {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '5' }, seconds: { type: 'string', default: '10' }, 'no-peer': { type: 'boolean', default: false } },
  });
  const missing = haveL7Bench();
  if (missing) throw new Error(missing);
  const r = await runL7Bench({ runs: intFlag('runs', values.runs, 1), seconds: intFlag('seconds', values.seconds, 1), peer: !values['no-peer'],
    log: (m) => process.stderr.write(`bench: ${m}\n`) });
  process.stdout.write(`${l7BenchReport(r)}\n`);
  if (r.error) process.exitCode = 1;
});
