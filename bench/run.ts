// `npm run bench`: runs the benchmarks and prints a Markdown report on stdout
// (progress goes to stderr). Every run is bounded in count and time; the
// whole report takes about four minutes (`--only` runs a part). See
// bench/README.md for how to read it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { native } from '../src/bpf/native.js';
import { onlineCpus } from '../src/bpf/index.js';
import { runRingbuf, type DecodeMode, type RingbufRunOptions, type RingbufRunResult } from './ringbuf.js';
import {
  haveCommand, runBpftracePrintf, runCConsumer, runProducerCost, runUntraced,
  type PeerRun, type ProducerCost, type ProducerTracer,
} from './peers.js';
import { bytes, count, markdownTable, ms, percent, rate, ratio } from './table.js';
import { execSection, fileSections } from './storm-report.js';
import { profileBenchReport, runProfileBench } from './profile.js';
import { runSymbolizeBench, symbolizeBenchReport } from './symbolize.js';
import { runXdpBench, xdpBenchReport } from './xdp.js';
import { bandwidthBenchReport, runBandwidthBench } from './bandwidth.js';
import { runFlowsBench, flowsBenchReport } from './flows.js';
import { haveL7Bench, l7BenchReport, runL7Bench } from './l7.js';
import { churnBenchReport, runChurnBench } from './flow-churn.js';
import { runRulesLiveBench, rulesLiveBenchReport } from './rules-live.js';
import { runPolicyBench, policyBenchReport } from './policy.js';
import { runStallBench, stallBenchReport } from './stall.js';
import { formatHeadroom, measureAll } from '../src/bpf/headroom.js';
import { agentCommands } from './agent.js';
import { memoryBenchReport, runMemoryBench } from './memory.js';
import { durationOverrun, runShutdownBench, shutdownBenchReport, shutdownCommands } from './shutdown.js';

const USAGE = `usage: node dist/bench/run.js [options]    (npm run bench -- [options])
  --rates LIST          target records/s, comma-separated; "max" = unpaced
                        (default max,2000000,1000000,500000,100000)
  --records-per-call N  records the BPF program emits per getppid (1..64, default 8)
  --ring-bytes N        ring buffer size, a power of two >= 4096 (default 16777216)
  --wakeup-bytes N      vigil_wakeup_bytes of the threshold runs (default 262144)
  --duration-ms N       producer time per run (100..5000, default 1000)
  --repeat N            runs per configuration of the throughput table; the median is shown (1..9, default 3)
  --no-peers            skip the peer comparisons (ring buffer part; perf record and addr2line in profile)
  --only LIST           parts to run, comma-separated: ringbuf, files (open storm, every open streamed),
                        idle (open storm, filters that match nothing), exec (exec storm),
                        profile (profiler overhead at 19/99/999 Hz against perf record, symbolisation time),
                        xdp (XDP firewall drops/s against iptables and nftables on a veth),
                        bandwidth (EDT egress limits: accuracy at 1-1000 Mbit/s, CPU per packet against HTB,
                        10 and 1,000 classes; EDT needs the fq qdisc),
                        flows (flow tracking overhead on loopback TCP; flow records at connection churn
                        against tcplife, 5 runs of 10 s each),
                        l7 (the L7 sensor on nginx under wrk: paced at half the peak and at full load, pairs
                        with and without vigil observe --sensors http; about 5 minutes),
                        rules (Falco stable rules: condition evals/s over recorded events, live pipeline
                        under the open storm),
                        policy (the built-in TracingPolicy library on the open and exec storms, in-kernel
                        filtering shown by the engine's counters),
                        headroom (verified instructions and load time of every BPF program),
                        stall (vigil observe into a pipe nobody reads during an exec storm: RSS over time
                        against the same storm with a reader that keeps up),
                        shutdown (signal to reaped per command), memory (RSS through 100,000 processes per
                        command, about 15 minutes); default all but memory
  --storm-ms N          duration of each open/exec storm loop (200..5000, default 500)
  --storm-repeat N      traced runs per open-storm tracer, each after an untraced one; median shown (1..9, default 3)
  --exec-repeat N       the same for the exec storm (1..9, default 3)
  --paced-rate N        opens/s of the paced open storm (files part; 0 skips it; default 5000)
  --no-bpf-stats        skip the "where the time goes" runs (kernel.bpf_stats_enabled)
  --stats-repeat N      those runs per tracer, interleaved; median and spread shown (1..9, default 5)
  --help`;

const PARTS = ['ringbuf', 'files', 'idle', 'exec', 'profile', 'xdp', 'bandwidth', 'flows', 'l7', 'rules', 'policy', 'stall', 'headroom',
  'shutdown', 'memory'] as const;
type Part = (typeof PARTS)[number];
/** memory takes about 15 minutes: only when asked for. */
const DEFAULT_PARTS = PARTS.filter((p) => p !== 'memory');

const MAX_RECORDS_PER_CALL = 64;
const HALF_GOAL_RATE = 500_000;

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

function intOpt(name: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: expected an integer in ${min}..${max}`);
  return n;
}

interface Config {
  rates: number[];
  recordsPerCall: number;
  ringBytes: number;
  wakeupBytes: number;
  durationMs: number;
  repeat: number;
  peers: boolean;
  parts: Set<Part>;
  stormMs: number;
  stormRepeat: number;
  execRepeat: number;
  pacedRate: number;
  bpfStats: boolean;
  statsRepeat: number;
  producerCpu?: number;
  consumerCpu?: number;
}

function config(argv: string[]): Config | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      rates: { type: 'string' },
      'records-per-call': { type: 'string' },
      'ring-bytes': { type: 'string' },
      'wakeup-bytes': { type: 'string' },
      'duration-ms': { type: 'string' },
      repeat: { type: 'string' },
      'no-peers': { type: 'boolean' },
      only: { type: 'string' },
      'storm-ms': { type: 'string' },
      'storm-repeat': { type: 'string' },
      'stats-repeat': { type: 'string' },
      'exec-repeat': { type: 'string' },
      'paced-rate': { type: 'string' },
      'no-bpf-stats': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return undefined;
  const rates = (values.rates ?? 'max,2000000,1000000,500000,100000').split(',').map((r) => {
    if (r === 'max' || r === '0') return 0;
    const n = Number(r);
    if (!Number.isFinite(n) || n <= 0 || n > 1e9) throw new Error(`--rates: bad rate ${r}`);
    return n;
  });
  const parts = new Set<Part>();
  for (const p of (values.only ?? DEFAULT_PARTS.join(',')).split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(PARTS as readonly string[]).includes(p)) throw new Error(`--only: unknown part "${p}"; parts: ${PARTS.join(', ')}`);
    parts.add(p as Part);
  }
  if (parts.size === 0) throw new Error(`--only: no part given; parts: ${PARTS.join(', ')}`);
  const ringBytes = intOpt('ring-bytes', values['ring-bytes'], 16 << 20, 4096, 1 << 30);
  if ((ringBytes & (ringBytes - 1)) !== 0) throw new Error('--ring-bytes: must be a power of two');
  return {
    rates,
    recordsPerCall: intOpt('records-per-call', values['records-per-call'], 8, 1, MAX_RECORDS_PER_CALL),
    ringBytes,
    wakeupBytes: intOpt('wakeup-bytes', values['wakeup-bytes'], 256 << 10, 1, ringBytes),
    durationMs: intOpt('duration-ms', values['duration-ms'], 1000, 100, 5000),
    repeat: intOpt('repeat', values.repeat, 3, 1, 9),
    peers: !values['no-peers'],
    parts,
    stormMs: intOpt('storm-ms', values['storm-ms'], 500, 200, 5000),
    stormRepeat: intOpt('storm-repeat', values['storm-repeat'], 3, 1, 9),
    execRepeat: intOpt('exec-repeat', values['exec-repeat'], 3, 1, 9),
    pacedRate: intOpt('paced-rate', values['paced-rate'], 5000, 0, 1_000_000),
    bpfStats: !values['no-bpf-stats'],
    statsRepeat: intOpt('stats-repeat', values['stats-repeat'], 5, 1, 9),
  };
}

/** Producer (load generator + the BPF program in its context) on one CPU, every consumer on another. */
function placeCpus(cfg: Config): string {
  const cpus = onlineCpus();
  if (cpus.length < 2) return `only ${cpus.length} CPU online: producer and consumer share it, unpinned`;
  cfg.consumerCpu = cpus[0]!;
  cfg.producerCpu = cpus[1]!;
  // Every thread of this process (main, libuv pool, V8 helpers): "one core" means one core.
  execFileSync('taskset', ['-a', '-p', '-c', String(cfg.consumerCpu), String(process.pid)], { stdio: 'ignore' });
  return `producer (load generator + the BPF program, which runs in its context) pinned to CPU ` +
    `${cfg.producerCpu}; consumer (this Node process, all threads; each peer consumer likewise) pinned to ` +
    `CPU ${cfg.consumerCpu}. Open and exec storms: the workload loop on CPU ${cfg.producerCpu}, the tracer on ` +
    `CPU ${cfg.consumerCpu}`;
}

function machine(): string {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.arch();
  return `${model}, ${os.cpus().length} CPUs, Linux ${os.release()}, Node ${process.versions.node}, ` +
    `libbpf ${native().libbpfVersion()}`;
}

const rateLabel = (r: number): string => (r === 0 ? 'max' : `${rate(r)}/s`);
const wakeLabel = (w: number): string => (w === 0 ? 'off' : bytes(w));

/** One configuration, run `repeat` times. */
interface Repeated {
  runs: RingbufRunResult[];
  /** The run with the median decoded/s: every number of a row comes from this one run. */
  median: RingbufRunResult;
}

function consistent(r: RingbufRunResult): boolean {
  return r.seqMissing === r.lost && r.disorder === 0 && r.badRecords === 0 && r.callsSeen === r.calls &&
    r.decoded + r.lost === r.produced;
}

async function repeated(cfg: Config, o: Partial<RingbufRunOptions> & { rate: number; wakeupBytes: number;
  decode: DecodeMode }, repeat = cfg.repeat): Promise<Repeated> {
  const runs: RingbufRunResult[] = [];
  for (let i = 0; i < repeat; i++) {
    const r = await runRingbuf({ recordsPerCall: cfg.recordsPerCall, durationMs: cfg.durationMs,
      ringBytes: cfg.ringBytes, producerCpu: cfg.producerCpu, ...o });
    log(`${o.decode} wakeup=${wakeLabel(o.wakeupBytes)} rate=${rateLabel(o.rate)} rpc=${r.opts.recordsPerCall}` +
      `${o.drain === 'after' ? ' stalled' : ''}: produced ${r.produced}, decoded ${r.decoded}, lost ${r.lost}, ` +
      `${rate(r.decodedPerSecond)}/s, cpu ${percent(r.cpuPercent)}, waited ${ms(r.runqueueWaitMs)}`);
    runs.push(r);
  }
  const sorted = [...runs].sort((a, b) => a.decodedPerSecond - b.decodedPerSecond);
  return { runs, median: sorted[Math.floor(sorted.length / 2)]! };
}

const THROUGHPUT_COLUMNS = [
  { title: 'wakeup threshold', align: 'left' as const }, { title: 'decode', align: 'left' as const },
  { title: 'target rate' }, { title: 'produced/s' }, { title: 'decoded/s' }, { title: 'lost (each run)' },
  { title: 'seq check' }, { title: 'consumer CPU' }, { title: 'decoded per CPU-second' },
  { title: 'batches/s' }, { title: 'records/batch' }, { title: 'max latency' }, { title: 'waited for CPU' },
];

function throughputRow(x: Repeated): string[] {
  const r = x.median;
  const bad = x.runs.filter((run) => !consistent(run));
  const cpuSeconds = (r.cpuPercent / 100) * r.seconds;
  return [
    wakeLabel(r.opts.wakeupBytes),
    r.opts.decode,
    rateLabel(r.opts.rate),
    rate(r.producedPerSecond),
    rate(r.decodedPerSecond),
    x.runs.map((run) => count(run.lost)).join(' / '),
    bad.length === 0 ? 'ok' : bad.map((b) => `MISMATCH: seq missing ${b.seqMissing}, lost ${b.lost}, ` +
      `disorder ${b.disorder}, bad ${b.badRecords}, decoded+lost ${b.decoded + b.lost} of ${b.produced}`).join('; '),
    percent(r.cpuPercent),
    rate(r.decoded / cpuSeconds),
    count(r.batches / r.seconds),
    count(r.batches ? r.decoded / r.batches : 0),
    ms(r.maxLatencyMs),
    ms(r.runqueueWaitMs),
  ];
}

async function main(): Promise<number> {
  let cfg: Config | undefined;
  try {
    cfg = config(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!cfg) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: run as root (it loads BPF programs)\n');
    return 1;
  }
  const started = Date.now();
  const load = os.loadavg()[0] ?? 0;
  const placement = placeCpus(cfg);
  const out: string[] = [];
  out.push('# Vigil benchmarks', '');
  out.push(`Machine: ${machine()}. Load average at start: ${load.toFixed(2)}` +
    (load > 0.5 ? ' (not idle: other work competes with the runs; see "waited for CPU")' : '') + '.', '');
  out.push(`Placement: ${placement}.`, '');

  if (cfg.parts.has('ringbuf')) await ringbufSections(cfg, out);
  const storms = { repeat: cfg.stormRepeat, execRepeat: cfg.execRepeat, pacedRate: cfg.pacedRate,
    durationMs: cfg.stormMs, workloadCpu: cfg.producerCpu, tracerCpu: cfg.consumerCpu, bpfStats: cfg.bpfStats,
    statsRepeat: cfg.statsRepeat, log };
  if (cfg.parts.has('files') || cfg.parts.has('idle')) {
    await fileSections(storms, { files: cfg.parts.has('files'), idle: cfg.parts.has('idle') }, out);
  }
  if (cfg.parts.has('exec')) await execSection(storms, out);
  if (cfg.parts.has('profile')) {
    out.push(profileBenchReport(await runProfileBench({ peers: cfg.peers, log })));
    out.push('## Time to symbolise a profile of a process with a large binary', '',
      symbolizeBenchReport(await runSymbolizeBench({ peers: cfg.peers })), '');
  }
  if (cfg.parts.has('xdp')) out.push(xdpBenchReport(await runXdpBench({ senderCpu: cfg.producerCpu, log })));
  if (cfg.parts.has('bandwidth')) out.push(bandwidthBenchReport(await runBandwidthBench({ log })));
  if (cfg.parts.has('l7')) {
    const missing = haveL7Bench();
    if (missing) out.push('## L7 sensor overhead', '', `Skipped: ${missing}.`, '');
    else out.push(l7BenchReport(await runL7Bench({ log })));
  }
  if (cfg.parts.has('flows')) {
    out.push(flowsBenchReport(await runFlowsBench({ workloadCpu: cfg.producerCpu, tracerCpu: cfg.consumerCpu, log })));
    out.push(churnBenchReport(await runChurnBench({ workloadCpu: cfg.producerCpu, tracerCpu: cfg.consumerCpu, log })));
  }

  if (cfg.parts.has('rules')) out.push(rulesLiveBenchReport(await runRulesLiveBench({ workloadCpu: cfg.producerCpu, log })));
  if (cfg.parts.has('policy')) {
    out.push(policyBenchReport(await runPolicyBench({ stormMs: cfg.stormMs, repeat: cfg.stormRepeat, workloadCpu: cfg.producerCpu, log })));
  }

  if (cfg.parts.has('shutdown')) {
    out.push(shutdownBenchReport(await runShutdownBench(shutdownCommands(), { repeat: 3, log }), await durationOverrun(2)));
  }
  if (cfg.parts.has('memory')) {
    const mo = { processes: 100_000, step: 20_000, settleS: 60, cpu: cfg.producerCpu, log };
    out.push(memoryBenchReport(await runMemoryBench(agentCommands(), mo), mo));
  }
  if (cfg.parts.has('stall')) {
    log('stall: vigil observe into a pipe nobody reads, 10,000 processes; then with a reader');
    out.push(stallBenchReport(await runStallBench(10_000)));
  }

  if (cfg.parts.has('headroom')) {
    log('headroom: loading every program alone, heaviest configuration');
    out.push('## Verifier headroom', '',
      'Every program of every object in bpf/, loaded alone in its heaviest configuration: the instructions the ' +
      'verifier processed (bpf_prog_info.verified_insns), the load time, and the share of the budget of 200,000 ' +
      '(a fifth of the verifier\'s limit). `vigil features --programs` prints the same; the kernel matrix ' +
      '(npm run test:kernels) measures it on Debian\'s 6.1 and 6.12 too.', '',
      '```', ...formatHeadroom(await measureAll()), '```', '');
  }

  out.push(`Total benchmark time: ${((Date.now() - started) / 1000).toFixed(0)} s.`);
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

async function ringbufSections(cfg: Config, out: string[]): Promise<void> {
  // Warm-up: JIT the consumer and fault in the ring before anything is measured.
  await runRingbuf({ rate: 0, recordsPerCall: cfg.recordsPerCall, durationMs: 300, ringBytes: cfg.ringBytes,
    wakeupBytes: 0, decode: 'fields', producerCpu: cfg.producerCpu });
  await runRingbuf({ rate: 0, recordsPerCall: cfg.recordsPerCall, durationMs: 300, ringBytes: cfg.ringBytes,
    wakeupBytes: 0, decode: 'object', producerCpu: cfg.producerCpu });

  // 1. Throughput: wakeup threshold off and on, every target rate; then the full object decode.
  const sweep: Repeated[] = [];
  for (const wakeupBytes of [0, cfg.wakeupBytes]) {
    for (const r of cfg.rates) sweep.push(await repeated(cfg, { rate: r, wakeupBytes, decode: 'fields' }));
  }
  const objectRuns: Repeated[] = [];
  for (const r of [0, HALF_GOAL_RATE]) objectRuns.push(await repeated(cfg, { rate: r, wakeupBytes: 0, decode: 'object' }));

  out.push('## Ring buffer throughput', '');
  out.push(`Producer: \`bpf/bench.bpf.c\` on tracepoint syscalls/sys_enter_getppid emits ${cfg.recordsPerCall} ` +
    `64-byte records (struct vigil_bench_record) per getppid(2) of \`bench/.output/loadgen\`, through ` +
    `vigil_reserve/vigil_submit. Ring buffer ${bytes(cfg.ringBytes)}; ${cfg.durationMs} ms per run; each row is ` +
    `the median (by decoded/s) of ${cfg.repeat} runs. Consumer: RingBufferReader (one JS call per batch) ` +
    `decoding every record in TypeScript with the generated \`vigilBenchRecord\` codec and checking each CPU's ` +
    `sequence. *fields*: seq, ktime_ns, pid, cpu and arg read in place at the generated offsets, no allocation; ` +
    `*object*: \`vigilBenchRecord.decode()\`, a new object per record (three bigints, the 32-byte pad copied).`, '');
  out.push(markdownTable(THROUGHPUT_COLUMNS, [...sweep, ...objectRuns].map(throughputRow)), '');

  const maxFields = sweep.filter((x) => x.median.opts.rate === 0);
  const best = Math.max(...maxFields.map((x) => x.median.decodedPerSecond));
  const objectMax = objectRuns.find((x) => x.median.opts.rate === 0)?.median;
  const half = [...sweep, ...objectRuns].filter((x) => x.median.opts.rate === HALF_GOAL_RATE);
  out.push('Goals of the issue:', '');
  out.push(`- at least 1,000,000 records/s decoded on one core: **${best >= 1e6 ? 'met' : 'NOT met'}**, ` +
    `${rate(best)}/s at the unpaced rate (fields). The full object decode reaches ` +
    `${rate(objectMax?.decodedPerSecond ?? NaN)}/s at ${percent(objectMax?.cpuPercent ?? NaN)} CPU.`);
  if (half.length) {
    const lost = half.flatMap((x) => x.runs.map((r) => r.lost));
    out.push(`- none lost at half that rate (${rate(HALF_GOAL_RATE)} records/s): ` +
      `**${lost.every((l) => l === 0) ? 'met' : 'NOT met'}** in all ${lost.length} runs ` +
      `(lost: ${lost.map(count).join(', ')}).`);
  }
  out.push('');

  // 2. What the wakeup policy costs the producer when the consumer does not drain.
  const stalledRing = 256 << 20;
  const stalled: Repeated[] = [];
  for (const wakeupBytes of [0, cfg.wakeupBytes]) {
    stalled.push(await repeated(cfg, { rate: 0, wakeupBytes, decode: 'fields', drain: 'after', durationMs: 150,
      ringBytes: stalledRing }, 2));
  }
  out.push('## Producer cost of the wakeup policy, consumer stalled', '');
  out.push(`The consumer's event loop is blocked while the unpaced producer runs for 150 ms into a ` +
    `${bytes(stalledRing)} ring, then it drains once: a reader that has fallen behind. With a threshold, ` +
    'every vigil_submit that finds at least vigil_wakeup_bytes waiting asks for a wakeup ' +
    '(BPF_RB_FORCE_WAKEUP): this shows what that costs the traced process. Median of 2 runs.', '');
  const base = stalled[0]?.median.producedPerSecond ?? NaN;
  out.push(markdownTable([
    { title: 'wakeup threshold', align: 'left' }, { title: 'produced/s' }, { title: 'vs threshold off' },
    { title: 'time per record' }, { title: 'produced' }, { title: 'decoded' }, { title: 'lost' },
    { title: 'seq check' },
  ], stalled.map((x) => {
    const r = x.median;
    return [wakeLabel(r.opts.wakeupBytes), rate(r.producedPerSecond), ratio(r.producedPerSecond / base),
      `${count(1e9 / r.producedPerSecond)} ns`, count(r.produced), count(r.decoded), count(r.lost),
      x.runs.every(consistent) ? 'ok' : 'MISMATCH'];
  })), '');

  if (cfg.peers) await peerSections(cfg, sweep, out);
  out.push(readingNotes(cfg));
}

async function peerSections(cfg: Config, sweep: Repeated[], out: string[]): Promise<void> {
  // 3. The same records, other consumers (threshold off: vigil_wakeup_bytes' default), unpaced and paced.
  const peerRates = [0, 1_000_000];
  const rows: string[][] = [];
  for (const peerRate of peerRates) {
    const peerOpts = { rate: peerRate, recordsPerCall: cfg.recordsPerCall, durationMs: cfg.durationMs,
      ringBytes: cfg.ringBytes, wakeupBytes: 0, producerCpu: cfg.producerCpu, consumerCpu: cfg.consumerCpu };
    const vigil = sweep.find((x) => x.median.opts.rate === peerRate && x.median.opts.wakeupBytes === 0)?.median ??
      (await repeated(cfg, { rate: peerRate, wakeupBytes: 0, decode: 'fields' }, 1)).median;
    const peers: (PeerRun | { name: string; error: string })[] = [];
    const tryPeer = async (name: string, f: () => Promise<PeerRun>): Promise<void> => {
      try {
        const p = await f();
        log(`${name} rate=${rateLabel(peerRate)}: produced ${p.produced}, delivered ${p.delivered}, lost ${p.lost}, ` +
          `waited ${ms(p.waitedMs)}`);
        peers.push(p);
      } catch (e) {
        log(`${name}: ${(e as Error).message}`);
        peers.push({ name, error: (e as Error).message.split('\n')[0] ?? '' });
      }
    };
    await tryPeer('libbpf C', () => runCConsumer(peerOpts));
    if (haveCommand('bpftrace')) await tryPeer('bpftrace printf', () => runBpftracePrintf(peerOpts));
    else peers.push({ name: 'bpftrace printf', error: 'bpftrace is not installed' });

    const vigilPerSec = vigil.decodedPerSecond;
    const vigilPerCpuSec = vigil.decoded / ((vigil.cpuPercent / 100) * vigil.seconds);
    rows.push([
      'Vigil: TypeScript, fields', rateLabel(peerRate), rate(vigil.producedPerSecond), count(vigil.produced),
      count(vigil.decoded), count(vigil.lost), rate(vigilPerSec), percent(vigil.cpuPercent), rate(vigilPerCpuSec),
      '', '', ms(vigil.runqueueWaitMs), consistent(vigil) ? 'seq check ok' : 'seq check MISMATCH',
    ]);
    for (const p of peers) {
      if ('error' in p) {
        rows.push([p.name, rateLabel(peerRate), '-', '-', '-', '-', '-', '-', '-', '-', '-', '-',
          `not run: ${p.error}`]);
        continue;
      }
      const perSec = p.delivered / p.seconds;
      const perCpuSec = p.delivered / p.cpuSeconds;
      rows.push([p.name, rateLabel(peerRate), rate(p.produced / (p.loadgen.elapsedNs / 1e9)), count(p.produced),
        count(p.delivered), count(p.lost), rate(perSec), percent((p.cpuSeconds / p.seconds) * 100),
        rate(perCpuSec), ratio(vigilPerSec / perSec), ratio(vigilPerCpuSec / perCpuSec), ms(p.waitedMs),
        p.notes.join('; ') || (p.name === 'libbpf C' ? 'seq check ok' : '')]);
    }
  }
  out.push('## Peers: the same records, other consumers', '');
  out.push(`${cfg.recordsPerCall} records per getppid, ${cfg.durationMs} ms, one run each, each consumer alone ` +
    'on the consumer CPU, wakeup threshold off. The Vigil rows are the throughput table\'s medians. ' +
    `*libbpf C*: \`bench/consumer.c\`, the same object (bpftool skeleton), ring (${bytes(cfg.ringBytes)}) and ` +
    'per-record checks, with ring_buffer__poll(). *bpftrace printf*: its own program on the same tracepoint, one ' +
    `printf per record (unroll(${cfg.recordsPerCall})), through its perf buffer (${bytes(cfg.ringBytes)} per CPU) ` +
    'into a file in /dev/shm; delivered = lines written. Its producer path (perf buffer, text formatting) is ' +
    'heavier, so its rows compare whole pipelines. Unpaced, each producer runs as fast as its consumer lets it, ' +
    'so delivered/s differ with the producer too; at the paced rate every pipeline gets the same input and ' +
    '*delivered per CPU-second* compares the consumers\' cost.', '');
  out.push(markdownTable([
    { title: 'consumer', align: 'left' }, { title: 'target rate' }, { title: 'produced/s' }, { title: 'produced' },
    { title: 'delivered' }, { title: 'lost' }, { title: 'delivered/s' }, { title: 'consumer CPU' },
    { title: 'delivered per CPU-second' }, { title: 'Vigil ÷ peer, delivered/s' },
    { title: 'Vigil ÷ peer, per CPU-second' }, { title: 'waited for CPU' }, { title: 'notes', align: 'left' },
  ], rows), '');

  // 4. Producer-side cost of each tracer.
  const untraced = await runUntraced({ durationMs: cfg.durationMs, producerCpu: cfg.producerCpu });
  const vigil1 = (await repeated({ ...cfg, recordsPerCall: 1 }, { rate: 0, wakeupBytes: 0, decode: 'fields' }, 1))
    .median;
  const vigil1t = (await repeated({ ...cfg, recordsPerCall: 1 },
    { rate: 0, wakeupBytes: cfg.wakeupBytes, decode: 'fields' }, 1)).median;
  const costs: (ProducerCost | { tracer: ProducerTracer; error: string })[] = [];
  const tracers: [ProducerTracer, string][] = [['bpftrace count()', 'bpftrace'],
    ['syscount (libbpf-tools)', 'syscount'], ['strace', 'strace']];
  for (const [tracer, cmd] of tracers) {
    if (!haveCommand(cmd)) {
      costs.push({ tracer, error: `${cmd} is not installed` });
      continue;
    }
    try {
      const c = await runProducerCost(tracer, { durationMs: cfg.durationMs, producerCpu: cfg.producerCpu,
        consumerCpu: cfg.consumerCpu });
      log(`${tracer}: ${c.loadgen.calls} calls`);
      costs.push(c);
    } catch (e) {
      log(`${tracer}: ${(e as Error).message}`);
      costs.push({ tracer, error: (e as Error).message.split('\n')[0] ?? '' });
    }
  }
  const base = untraced.calls / (untraced.elapsedNs / 1e9);
  const costRow = (name: string, calls: number, ns: number, note: string): string[] => {
    const r = calls / (ns / 1e9);
    return [name, rate(r), ratio(r / base), `${count(1e9 / r - 1e9 / base)} ns`, note];
  };
  const costRows = [
    costRow('nothing', untraced.calls, untraced.elapsedNs, ''),
    ...[vigil1, vigil1t].map((v) => costRow(`Vigil: 1 record per call, Node decoding, threshold ` +
      `${wakeLabel(v.opts.wakeupBytes)}`, v.calls, v.producerSeconds * 1e9,
    `decoded ${count(v.decoded)} of ${count(v.produced)}, lost ${count(v.lost)}, consumer CPU ` +
      `${percent(v.cpuPercent)}, ${count(v.batches / v.seconds)} batches/s`)),
  ];
  for (const c of costs) {
    if ('error' in c) costRows.push([c.tracer, '-', '-', '-', `not run: ${c.error}`]);
    else costRows.push(costRow(c.tracer, c.loadgen.calls, c.loadgen.elapsedNs,
      c.tracerCount === undefined ? '' : `it counted ${count(c.tracerCount)} of ${count(c.loadgen.calls)}`));
  }
  out.push('## Producer-side cost of tracing', '');
  out.push(`getppid(2) calls/s of the unpaced load generator on the producer CPU, ${cfg.durationMs} ms, one run ` +
    'each, with each tracer attached to it (the tracers\' user-space parts on the consumer CPU). *added per call* ' +
    'is the time tracing adds to every traced syscall. bpftrace count() and syscount aggregate in the kernel and ' +
    'send nothing per event; Vigil sends every event to user space; strace stops the process twice per call.', '');
  out.push(markdownTable([{ title: 'attached', align: 'left' }, { title: 'calls/s' }, { title: 'vs nothing' },
    { title: 'added per call' }, { title: 'notes', align: 'left' }], costRows), '');
}

function readingNotes(cfg: Config): string {
  return [
    '## How to read this', '',
    '- *target rate*: records/s asked of the load generator (it paces getppid calls at rate ÷ ' +
      `${cfg.recordsPerCall} per second in 1 ms bursts); *produced/s*: what the BPF program's counter says it ` +
      'emitted. At "max" the producer runs unpaced on its own core and may outrun the consumer: losses there are ' +
      'expected and counted, and the row shows the consumer\'s ceiling only if consumer CPU is near 100%.',
    '- *lost*: failed reserves counted in vigil_lost. *seq check* is "ok" when, in every run, the per-CPU ' +
      'sequence gaps the decoder saw equal lost, decoded + lost = produced, nothing was out of order and the BPF ' +
      'program saw every syscall: losses are counted, never silent.',
    '- *decoded/s* and *consumer CPU* span release of the producer to the last record decoded; CPU is ' +
      'process.cpuUsage() of the whole Node process, in % of one core. *decoded per CPU-second* divides by the ' +
      'CPU actually used, so it compares runs whether or not the consumer was saturated.',
    '- *batches/s*: JS calls from the native reader (epoll-driven drains plus the reader\'s 50 ms timer). Threshold ' +
      '"off" is vigil_wakeup_bytes = 0: the kernel wakes the reader whenever it has caught up. Either way the ' +
      'reader\'s epoll is level-triggered, so a reader that is busy re-polls at once and takes whatever is there.',
    '- *max latency*: age of the oldest record of a batch when that batch was decoded (bpf_ktime_get_ns to ' +
      'decode), worst batch of the run.',
    '- *waited for CPU*: time the consumer\'s main thread was runnable but not running (/proc schedstat), i.e. ' +
      'other work on the consumer core. Tens of ms or more mean the run measured the machine\'s load.',
    '',
  ].join('\n');
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
