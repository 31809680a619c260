// vigil bpf ls: what is loaded on this host — every BPF program, map and
// link, who holds it, and what it costs. vigil bpf watch: every load and
// attach as it happens (src/cli/bpf-watch.ts).
import { parseFlags } from '../flags.js';
import type { Command } from '../command.js';
import { runSubcommand, UsageError } from '../command.js';
import { requireCapabilities } from '../privileges.js';
import { native } from '../../bpf/native.js';
import { bpfInventory, type BpfInventory, type BpfOwner, type InventoryLink } from '../../sensors/bpf-inventory.js';
import { BootClock, rfc3339Nano } from '../../util/clock.js';
import { BPF_WATCH_USAGE, runBpfWatch } from '../bpf-watch.js';

const usage = `usage: vigil bpf ls [programs|maps|links] [--json] [--stats S]

Every BPF program (default), map or link on this host, whoever loaded it:
id, type, name, tag, when it was loaded, the instructions the verifier
processed, the processes that hold it (pid, name, container), and for a
program the links that attach it and where.

options:
  --stats S   programs: turn on the kernel's run-time statistics for S seconds
              (0.1..60; they tax every program on the host while on, and are
              turned off after) and show each program's runs and run time in
              that window
  --json      the objects as JSON, one array
  -h, --help

${BPF_WATCH_USAGE}`;

const KINDS = ['programs', 'maps', 'links'] as const;
type Kind = (typeof KINDS)[number];

function owners(list: readonly BpfOwner[]): string {
  if (!list.length) return '-';
  const shown = list.slice(0, 2).map((o) => `${o.pid}/${o.comm}${o.container && o.container !== 'host' ? `@${o.container.slice(0, 12)}` : ''}`);
  return list.length > 2 ? `${shown.join(',')},+${list.length - 2}` : shown.join(',');
}

function where(l: InventoryLink): string {
  if (l.target !== undefined) return l.target;
  if (l.cgroupId !== undefined) return `${l.attachType} cgroup ${l.cgroupId}`;
  if (l.ifindex !== undefined) return `ifindex ${l.ifindex}`;
  if (l.netnsIno !== undefined) return `${l.attachType} netns ${l.netnsIno}`;
  if (l.attachType !== undefined) return `${l.attachType}${l.targetBtfId ? ` btf ${l.targetBtfId}` : ''}`;
  return '-';
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

function render(kind: Kind, inv: BpfInventory, window: Map<number, { runs: number; ns: number }> | undefined, clock: BootClock): string {
  if (kind === 'maps') {
    return table([['ID', 'TYPE', 'NAME', 'KEY', 'VALUE', 'MAX', 'PROGRAMS', 'HELD BY'],
      ...inv.maps.map((m) => [String(m.id), m.typeName, m.name || '-', String(m.keySize), String(m.valueSize), String(m.maxEntries),
        m.programs.length > 4 ? `${m.programs.slice(0, 4).join(',')},+${m.programs.length - 4}` : m.programs.join(',') || '-',
        owners(m.owners)])]);
  }
  if (kind === 'links') {
    return table([['ID', 'TYPE', 'PROGRAM', 'ATTACHED TO', 'HELD BY'],
      ...inv.links.map((l) => [String(l.id), l.typeName, String(l.progId), where(l), owners(l.owners)])]);
  }
  const linkById = new Map(inv.links.map((l) => [l.id, l]));
  return table([['ID', 'TYPE', 'NAME', 'TAG', 'LOADED', 'INSNS', ...(window ? ['RUNS', 'AVG NS'] : []), 'HELD BY', 'ATTACHED'],
    ...inv.programs.map((p) => {
      const w = window?.get(p.id);
      return [String(p.id), p.typeName, p.name || '-', p.tag, rfc3339Nano(clock.toEpochNs(BigInt(p.loadTimeNs))).slice(0, 19),
        String(p.verifiedInsns),
        ...(window ? [String(w?.runs ?? 0), w && w.runs ? (w.ns / w.runs).toFixed(0) : '-'] : []),
        owners(p.owners), p.links.map((id) => where(linkById.get(id)!)).join(', ') || '-'];
    })]);
}

async function ls(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags({
    args: argv, options: { json: { type: 'boolean', default: false }, stats: { type: 'string' } }, strict: true, allowPositionals: true,
  });
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const kind = (positionals[0] ?? 'programs') as Kind;
  if (!KINDS.includes(kind)) throw new UsageError(`unknown kind "${positionals[0]}"; available: ${KINDS.join(', ')}`);
  let statsSeconds: number | undefined;
  if (values.stats !== undefined) {
    statsSeconds = Number(values.stats);
    if (!/^\d+(\.\d+)?$/.test(values.stats) || !(statsSeconds >= 0.1 && statsSeconds <= 60)) {
      throw new UsageError(`--stats: expected seconds in 0.1..60, got "${values.stats}"`);
    }
    if (kind !== 'programs') throw new UsageError('--stats: run-time statistics are the programs\'');
  }
  // Opening another process's objects by id is CAP_SYS_ADMIN's (BPF_*_GET_FD_BY_ID).
  requireCapabilities('', ['CAP_SYS_ADMIN'], ['bpf', 'ls', ...argv]);
  const clock = BootClock.measure();
  let window: Map<number, { runs: number; ns: number }> | undefined;
  let inv: BpfInventory;
  if (statsSeconds !== undefined) {
    const fd = native().enableStats();
    try {
      const before = new Map(bpfInventory().programs.map((p) => [p.id, p]));
      await new Promise((r) => setTimeout(r, statsSeconds! * 1000));
      inv = bpfInventory();
      window = new Map(inv.programs.map((p) => {
        const b = before.get(p.id);
        return [p.id, { runs: p.runCount - (b?.runCount ?? 0), ns: p.runTimeNs - (b?.runTimeNs ?? 0) }];
      }));
    } finally {
      native().closeFd(fd);
    }
  } else {
    inv = bpfInventory();
  }
  if (values.json) {
    const rows = kind === 'programs'
      ? inv.programs.map((p) => ({ ...p, loadTime: rfc3339Nano(clock.toEpochNs(BigInt(p.loadTimeNs))),
        ...(window ? { window: window.get(p.id) ?? { runs: 0, ns: 0 } } : {}) }))
      : kind === 'maps' ? inv.maps : inv.links;
    process.stdout.write(`${JSON.stringify(rows)}\n`);
  } else {
    process.stdout.write(render(kind, inv, window, clock));
  }
  return 0;
}

export const command: Command = {
  name: 'bpf',
  summary: 'what is loaded on this host (every BPF program, map and link, who holds it, what it costs), and every load and attach as it happens',
  usage,
  run: (argv) => runSubcommand(argv, { ls, watch: runBpfWatch }),
};
