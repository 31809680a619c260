// Rules benchmark: condition evaluations per second with Falco's stable rules
// (../shared/compat/falco/falco_rules.yaml) over a synthetic event mix shaped
// like a busy host: mostly file opens, then execs, connects, and syscalls no
// rule asks for. Pure CPU, no kernel: `node dist/bench/rules.js` prints the
// table; bench/run.ts includes runRulesBench().
//
// Rows:
//  - indexed: the engine as it runs, each event against the rules of its type;
//  - every rule: each event against all 25 conditions (no type index), the cost
//    per condition evaluation without the index's help;
//  - alerts: evaluate() building Falco alerts for the matches (output formatting).
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { RuleEngine } from '../src/rules/engine.js';
import type { RuleEvent, RuleProcess } from '../src/rules/event.js';
import { repoPath } from '../src/util/paths.js';
import { count, markdownTable, rate } from './table.js';

export interface RulesBenchOptions {
  /** Time per row (default 1000 ms). */
  durationMs?: number;
  rulesFile?: string;
}

const T0 = 1_767_225_600_000_000_000n;

function mix(): RuleEvent[] {
  const init: RuleProcess = { pid: 1, name: 'systemd', exe: '/sbin/init', exepath: '/usr/lib/systemd/systemd', args: [], uid: 0, gid: 0 };
  const sshd: RuleProcess = { pid: 500, name: 'sshd', exe: '/usr/sbin/sshd', exepath: '/usr/sbin/sshd', args: ['-D'], uid: 0, gid: 0, parent: init };
  const bash: RuleProcess = { pid: 1000, name: 'bash', exe: '-bash', exepath: '/usr/bin/bash', args: [], uid: 1000, gid: 1000, loginuid: 1000, tty: 34816, startTimeNs: T0 - 3_600_000_000_000n, parent: sshd };
  const nginx: RuleProcess = { pid: 300, name: 'nginx', exe: 'nginx', exepath: '/usr/sbin/nginx', args: ['-g', 'daemon off;'], uid: 33, gid: 33, startTimeNs: T0 - 600_000_000_000n, parent: init };
  const names = ['cat', 'ls', 'python3', 'node', 'grep', 'sed', 'awk', 'curl', 'git', 'make'];
  const files = ['/etc/hostname', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/home/alice/src/main.c', '/tmp/build.log', '/etc/ld.so.cache', '/proc/self/status', '/var/log/syslog', '/etc/shadow', '/dev/null', '/usr/share/zoneinfo/UTC'];
  const out: RuleEvent[] = [];
  for (let i = 0; i < 1000; i++) {
    const name = names[i % names.length]!;
    const p: RuleProcess = {
      pid: 2000 + i, name, exe: name, exepath: `/usr/bin/${name}`, args: ['-x', `arg${i}`], uid: 1000, gid: 1000,
      loginuid: 1000, tty: 34816, startTimeNs: T0 - BigInt(i) * 1_000_000n, cwd: '/home/alice', parent: i % 7 === 0 ? nginx : bash,
    };
    const timeNs = T0 + BigInt(i) * 1000n;
    const k = i % 20;
    if (k < 12) {
      const file = files[i % files.length]!;
      out.push({ type: 'openat', timeNs, res: 3, process: p, args: { fd: 3, dirfd: -100, name: file, flags: i % 5 === 0 ? 0o1101 : 0, mode: 0 }, fd: { num: 3, type: 'file', name: file } });
    } else if (k < 14) {
      out.push({ type: 'execve', timeNs, res: 0, process: p, args: { filename: `/usr/bin/${name}` } });
    } else if (k < 15) {
      out.push({ type: 'connect', timeNs, res: 0, process: p, fd: { num: 4, type: 'ipv4', l4proto: 'tcp', local: { ip: '10.0.0.2', port: 40000 + i }, remote: { ip: '93.184.216.34', port: 443 } } });
    } else if (k < 16) {
      out.push({ type: 'dup2', timeNs, res: 1, process: p, fd: { num: 1, type: 'pipe' } });
    } else {
      out.push({ type: ['read', 'write', 'close', 'mmap'][k - 16]!, timeNs, res: 0, process: p });
    }
  }
  return out;
}

export interface Row {
  name: string;
  events: number;
  evaluations: number;
  matches: number;
  ms: number;
}

function timed(name: string, durationMs: number, events: RuleEvent[], step: (ev: RuleEvent) => [number, number]): Row {
  // warm up: let V8 optimise the closures
  for (let i = 0; i < 200_000; i++) step(events[i % events.length]!);
  return replayEvents(name, durationMs, events, step);
}

/** Steps through the events, over and over, for durationMs; step returns [evaluations, matches]. */
export function replayEvents(name: string, durationMs: number, events: readonly RuleEvent[],
  step: (ev: RuleEvent) => [number, number]): Row {
  let n = 0;
  let evaluations = 0;
  let matches = 0;
  const start = performance.now();
  let now = start;
  while (now - start < durationMs) {
    for (let i = 0; i < events.length; i++) {
      const [e, m] = step(events[i]!);
      evaluations += e;
      matches += m;
    }
    n += events.length;
    now = performance.now();
  }
  return { name, events: n, evaluations, matches, ms: now - start };
}

export async function runRulesBench(opts: RulesBenchOptions = {}): Promise<string> {
  const file = opts.rulesFile ?? repoPath('..', 'shared', 'compat', 'falco', 'falco_rules.yaml');
  const durationMs = opts.durationMs ?? 1000;
  const engine = RuleEngine.load([file], { hostname: 'bench' });
  const events = mix();
  const all = engine.activeRules;
  const rows: Row[] = [];
  rows.push(timed('indexed (rules of the event\'s type)', durationMs, events, (ev) => {
    const rs = engine.rulesFor(ev.type);
    let m = 0;
    for (let i = 0; i < rs.length; i++) if (rs[i]!.condition(ev)) m++;
    return [rs.length, m];
  }));
  rows.push(timed(`every rule (${all.length} conditions per event)`, durationMs, events, (ev) => {
    let m = 0;
    for (let i = 0; i < all.length; i++) if (all[i]!.condition(ev)) m++;
    return [all.length, m];
  }));
  rows.push(timed('indexed, building alerts (evaluate())', durationMs, events, (ev) => {
    const alerts = engine.evaluate(ev);
    return [engine.rulesFor(ev.type).length, alerts.length];
  }));
  const types = new Set(events.map((e) => e.type));
  const header = [
    `Rules: ${all.length} stable rules (${file.split('/').pop()}); event mix of ${events.length} events, ` +
      `${types.size} types (${[...types].join(', ')}); ${durationMs} ms per row, one core.`,
    '',
  ];
  const table = markdownTable(
    [
      { title: 'evaluation', align: 'left' },
      { title: 'events/s' },
      { title: 'conditions/event' },
      { title: 'condition evals/s' },
      { title: 'ns/condition' },
      { title: 'matches/s' },
    ],
    rows.map((r) => {
      const s = r.ms / 1000;
      return [
        r.name,
        rate(r.events / s),
        (r.evaluations / r.events).toFixed(2),
        rate(r.evaluations / s),
        r.evaluations ? ((r.ms * 1e6) / r.evaluations).toFixed(0) : '-',
        count(r.matches / s),
      ];
    }),
  );
  return [...header, table].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(`${await runRulesBench()}\n`);
}
