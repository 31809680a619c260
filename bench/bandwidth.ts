// The bandwidth manager's goals (issue 19), on a veth pair and a network
// namespace made here, with iperf3 (TCP) from cgroups made here:
//
//  - Accuracy: goodput over the set rate at 1, 10, 100 and 1000 Mbit/s,
//    and the rate the class's own counters saw (bytes at the device, headers
//    included). Goal: goodput / rate in 0.9..1.05.
//  - Cost: CPU per packet of the EDT path (TC program + fq) against an HTB
//    class doing the same limit, with 10 and with 1,000 classes (the
//    traffic in the last one: HTB classifies with one u32 filter per class,
//    the EDT program with one hash lookup). CPU is the client's and the
//    server's cgroups (cpu.stat) plus ksoftirqd; packets are the bytes the
//    device sent over 1,514 (one full Ethernet frame). Runs alternate EDT
//    and HTB; the median of each is shown, and their ratio. The EDT
//    program's own time per packet comes from kernel.bpf_stats_enabled.
//
// EDT needs the fq qdisc: on a kernel without it (sch_fq) the EDT rows say
// so and only HTB runs. Run it where fq is, e.g. in the VM matrix:
//   VIGIL_VM_DIR=... node scripts/vm/run.mjs --kernels 6.12 --exec 'node dist/bench/bandwidth.js'
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { native } from '../src/bpf/native.js';
import { Bandwidth, bandwidthPinRoot } from '../src/network/bandwidth.js';
import { probeFq } from '../src/network/bandwidth-tc.js';
import { formatRate } from '../src/network/bandwidth-rate.js';
import { TestCgroup, VethPair } from '../test/attach-util.js';
import { iperfClient, iperfServer } from '../test/bandwidth-util.js';
import { ksoftirqdSeconds } from './softirq.js';
import { markdownTable, ratio } from './table.js';

export interface BandwidthBenchOptions {
  /** Seconds per iperf3 run (default 5). */
  seconds?: number;
  /** Runs per shaper and class count in the cost table (default 3). */
  repeat?: number;
  /** Accuracy rates, Mbit/s (default 1, 10, 100, 1000). */
  ratesMbit?: number[];
  /** Class counts of the cost table (default 10, 1000). */
  classCounts?: number[];
  /** The limit of the cost runs, Mbit/s (default 100). */
  costMbit?: number;
  log?: (msg: string) => void;
}

export interface AccuracyRow {
  mbit: number;
  goodputBits: number;
  /** What the class counted at the device over the run, bits/s. */
  classBits: number;
  error?: string;
}

export interface CostRow {
  shaper: 'edt' | 'htb';
  classes: number;
  /** Median CPU ns per 1,514-byte packet. */
  cpuNsPerPacket: number;
  goodputBits: number;
  runs: number;
  /** EDT: the program's own ns per run (bpf_stats). */
  bpfNsPerRun?: number;
  error?: string;
}

export interface BandwidthBenchResult {
  kernel: string;
  fq: string;
  loadavg: { before: number[]; after: number[] };
  accuracy: AccuracyRow[];
  cost: CostRow[];
}

const FRAME = 1514;
const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
}

function txBytes(ifname: string): number {
  const link = (JSON.parse(execFileSync('ip', ['-s', '-j', 'link', 'show', 'dev', ifname], { encoding: 'utf8' })) as
    Array<{ stats64?: { tx?: { bytes?: number } } }>)[0];
  return link?.stats64?.tx?.bytes ?? 0;
}

function cgroupCpuSeconds(dirs: readonly string[]): number {
  let usec = 0;
  for (const d of dirs) usec += Number(/^usage_usec (\d+)$/m.exec(readFileSync(path.join(d, 'cpu.stat'), 'utf8'))?.[1] ?? 0);
  return usec / 1e6;
}

function tc(args: string[]): void {
  execFileSync('tc', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** HTB at the root: `n` classes at `bits`, one u32 filter each on the destination port (20001..20000+n). */
function installHtb(ifname: string, n: number, bits: number): void {
  const lines = [`qdisc replace dev ${ifname} root handle 1: htb`];
  for (let k = 1; k <= n; k++) {
    lines.push(`class add dev ${ifname} parent 1: classid 1:${k.toString(16)} htb rate ${bits}bit ceil ${bits}bit`);
    lines.push(`filter add dev ${ifname} parent 1: protocol ip prio 1 u32 match ip dport ${20000 + k} 0xffff flowid 1:${k.toString(16)}`);
  }
  const file = path.join(os.tmpdir(), `vigil-bench-htb-${process.pid}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  tc(['-b', file]);
}

/** One iperf3 run from `client` to a server (in `server`'s cgroup) on `port`: goodput and CPU per packet. */
async function measured(net: VethPair, client: TestCgroup, server: TestCgroup, port: number, seconds: number):
  Promise<{ goodputBits: number; cpuNsPerPacket: number; bytes: number; wallNs: number }> {
  const srv = await iperfServer(net.ns, port, server.path);
  const b0 = txBytes(net.host);
  const c0 = cgroupCpuSeconds([client.path, server.path]) + ksoftirqdSeconds(undefined, os.cpus().length);
  const t0 = process.hrtime.bigint();
  let r;
  try {
    r = await iperfClient(client.path, net.nsAddr, port, seconds);
  } finally {
    srv.kill(); // it exits after its one client by itself; not when that client failed
  }
  const wallNs = Number(process.hrtime.bigint() - t0);
  await srv.exit();
  const cpu = cgroupCpuSeconds([client.path, server.path]) + ksoftirqdSeconds(undefined, os.cpus().length) - c0;
  const bytes = txBytes(net.host) - b0;
  return { goodputBits: r.receivedBits, cpuNsPerPacket: (cpu * 1e9) / (bytes / FRAME), bytes, wallNs };
}

export async function runBandwidthBench(opts: BandwidthBenchOptions = {}): Promise<BandwidthBenchResult> {
  const log = opts.log ?? (() => {});
  const seconds = opts.seconds ?? 5;
  const repeat = opts.repeat ?? 3;
  const costBits = (opts.costMbit ?? 100) * 1e6;
  const classCounts = opts.classCounts ?? [10, 1000];
  const fq = await probeFq();
  const res: BandwidthBenchResult = {
    kernel: os.release(), fq: fq.status === 'available' ? 'available' : `${fq.status}: ${fq.reason ?? ''}`,
    loadavg: { before: os.loadavg(), after: [] }, accuracy: [], cost: [],
  };
  const net = new VethPair();
  const client = new TestCgroup('bench-client');
  const server = new TestCgroup('bench-server');
  const many: TestCgroup[] = Array.from({ length: Math.max(...classCounts) }, (_, i) => new TestCgroup(`c${i}`, client));
  const detach = (): void => {
    if (fq.status === 'available' && Bandwidth.list().includes(net.host)) Bandwidth.detach(net.host);
  };
  try {
    net.create();
    for (const c of [client, server, ...many]) c.create();
    let port = 5300;

    if (fq.status === 'available') {
      using bw = await Bandwidth.attach(net.host);
      for (const mbit of opts.ratesMbit ?? [1, 10, 100, 1000]) {
        log(`bandwidth: accuracy at ${mbit} Mbit/s`);
        const leaf = many[0]!;
        bw.set({ target: { kind: 'cgroup', path: leaf.path }, rateBits: mbit * 1e6 });
        try {
          const before = bw.classes()[0]!.bytes;
          const r = await measured(net, leaf, server, port++, seconds);
          res.accuracy.push({ mbit, goodputBits: r.goodputBits, classBits: ((bw.classes()[0]!.bytes - before) * 8e9) / r.wallNs });
        } catch (e) {
          res.accuracy.push({ mbit, goodputBits: NaN, classBits: NaN, error: (e as Error).message.split('\n')[0] });
        }
      }
      bw.unset({ kind: 'cgroup', path: many[0]!.path });
    }
    detach();

    for (const n of classCounts) {
      const runs: Record<'edt' | 'htb', { cpu: number[]; goodput: number[]; bpf: number[] }> = {
        edt: { cpu: [], goodput: [], bpf: [] }, htb: { cpu: [], goodput: [], bpf: [] },
      };
      const errors: Partial<Record<'edt' | 'htb', string>> = {};
      for (let i = 0; i < repeat; i++) {
        for (const shaper of ['edt', 'htb'] as const) {
          if (shaper === 'edt' && fq.status !== 'available') continue;
          log(`bandwidth: ${shaper}, ${n} classes, run ${i + 1}/${repeat}`);
          const last = many[n - 1]!;
          try {
            if (shaper === 'edt') {
              using bw = await Bandwidth.attach(net.host);
              bw.setMany(many.slice(0, n).map((c) => ({ target: { kind: 'cgroup', path: c.path }, rateBits: costBits })));
              const fd = native().objGet(path.join(bandwidthPinRoot(), net.host, 'prog'));
              const previous = readFileSync(STATS_SYSCTL, 'utf8').trim();
              writeFileSync(STATS_SYSCTL, '1');
              try {
                const p0 = native().progInfo(fd);
                const r = await measured(net, last, server, port++, seconds);
                const p1 = native().progInfo(fd);
                runs.edt.cpu.push(r.cpuNsPerPacket);
                runs.edt.goodput.push(r.goodputBits);
                runs.edt.bpf.push((p1.runTimeNs - p0.runTimeNs) / Math.max(1, p1.runCount - p0.runCount));
              } finally {
                writeFileSync(STATS_SYSCTL, previous);
                native().closeFd(fd);
              }
            } else {
              installHtb(net.host, n, costBits);
              const r = await measured(net, last, server, 20000 + n, seconds);
              runs.htb.cpu.push(r.cpuNsPerPacket);
              runs.htb.goodput.push(r.goodputBits);
            }
          } catch (e) {
            errors[shaper] = (e as Error).message.split('\n')[0];
          } finally {
            if (shaper === 'edt') detach();
            else execFileSync('tc', ['qdisc', 'del', 'dev', net.host, 'root'], { stdio: 'ignore' });
          }
        }
      }
      for (const shaper of ['edt', 'htb'] as const) {
        const r = runs[shaper];
        const error = errors[shaper] ?? (shaper === 'edt' && fq.status !== 'available' ? `no fq: ${fq.reason ?? ''}` : undefined);
        res.cost.push({
          shaper, classes: n, cpuNsPerPacket: median(r.cpu), goodputBits: median(r.goodput), runs: r.cpu.length,
          ...(r.bpf.length ? { bpfNsPerRun: median(r.bpf) } : {}), ...(error ? { error } : {}),
        });
      }
    }
  } finally {
    detach();
    net.remove();
    for (const c of [...many].reverse()) await c.remove();
    await client.remove();
    await server.remove();
    res.loadavg.after = os.loadavg();
  }
  return res;
}

const num = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

export function bandwidthBenchReport(r: BandwidthBenchResult): string {
  const out = [
    '## Bandwidth manager: EDT accuracy and cost against HTB', '',
    `Kernel ${r.kernel}; fq ${r.fq}; load average ${r.loadavg.before.map((x) => x.toFixed(2)).join(' ')} before, ` +
      `${r.loadavg.after.map((x) => x.toFixed(2)).join(' ')} after.`, '',
  ];
  if (r.accuracy.length) {
    out.push(markdownTable(
      [{ title: 'rate', align: 'left' }, { title: 'iperf3 goodput' }, { title: 'goodput / rate (goal 0.9..1.05)' },
        { title: 'class counters, at the device' }],
      r.accuracy.map((a) => [formatRate(a.mbit * 1e6), a.error ? a.error : formatRate(a.goodputBits),
        a.error ? '-' : num(a.goodputBits / (a.mbit * 1e6), 3), a.error ? '-' : formatRate(a.classBits)])), '');
  } else {
    out.push(`Accuracy: not measured (fq ${r.fq}).`, '');
  }
  const edt = (n: number): CostRow | undefined => r.cost.find((c) => c.shaper === 'edt' && c.classes === n);
  const htb = (n: number): CostRow | undefined => r.cost.find((c) => c.shaper === 'htb' && c.classes === n);
  out.push(markdownTable(
    [{ title: 'shaper', align: 'left' }, { title: 'classes' }, { title: 'runs' }, { title: 'goodput' },
      { title: 'CPU ns / 1,514-byte packet' }, { title: 'EDT / HTB' },
      { title: 'BPF ns / run' }],
    r.cost.map((c) => {
      const other = c.shaper === 'edt' ? htb(c.classes) : undefined;
      return [c.shaper === 'edt' ? 'EDT (Vigil, fq)' : 'HTB + u32', String(c.classes), String(c.runs),
        c.error && !c.runs ? c.error : formatRate(c.goodputBits), num(c.cpuNsPerPacket),
        other ? ratio(c.cpuNsPerPacket / other.cpuNsPerPacket) : '', c.bpfNsPerRun === undefined ? '' : num(c.bpfNsPerRun)];
    })), '');
  const counts = [...new Set(r.cost.map((c) => c.classes))].sort((a, b) => a - b);
  if (counts.length >= 2) {
    const [lo, hi] = [counts[0]!, counts[counts.length - 1]!];
    const scale = (f: (n: number) => CostRow | undefined): string => num((f(hi)?.cpuNsPerPacket ?? NaN) / (f(lo)?.cpuNsPerPacket ?? NaN), 2);
    out.push(`Scaling ${lo} -> ${hi} classes (CPU per packet, ${hi} over ${lo}): EDT ${scale(edt)}, HTB ${scale(htb)}.`, '');
  }
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await runBandwidthBench({ log: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write(`${bandwidthBenchReport(r)}\n`);
}
