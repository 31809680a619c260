// Issue 11, item 3: a long-running command stopped by SIGTERM, or by two
// signals in a row (the second exits at once), leaves nothing of its own in
// the kernel: every program, link and map it held (read from its
// /proc/PID/fdinfo while it ran) is gone once it is reaped, and no pin under
// bpffs refers to them. Counts, not timings: the shutdown time is a
// benchmark figure (bench/shutdown.ts).
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Agent, agentCommands, type AgentCommand } from '../bench/agent.js';
import { ensureBpffs } from '../src/bpf/index.js';
import { repoPath } from '../src/util/paths.js';
import { requireRoot, tracefs, waitFor } from './helpers.js';

interface Held {
  progs: Set<number>;
  links: Set<number>;
  maps: Set<number>;
}

/** The BPF objects a process holds descriptors to, from /proc/PID/fdinfo. */
function heldBy(pid: number): Held {
  const held: Held = { progs: new Set(), links: new Set(), maps: new Set() };
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'latin1');
    } catch {
      continue; // closed meanwhile
    }
    const id = (k: string): number | undefined => {
      const m = new RegExp(`^${k}:\\s+(\\d+)$`, 'm').exec(text);
      return m ? Number(m[1]) : undefined;
    };
    const link = id('link_id');
    if (link !== undefined) held.links.add(link);
    const prog = id('prog_id');
    if (prog !== undefined) held.progs.add(prog);
    const map = id('map_id');
    if (map !== undefined) held.maps.add(map);
  }
  return held;
}

/** Ids of every program, link and map the kernel has now (bpftool), and bpffs pins naming any of them. */
function kernelObjects(): { progs: Set<number>; links: Set<number>; maps: Set<number>; pinned: Map<string, string[]> } {
  const list = (kind: 'prog' | 'link' | 'map'): { id: number; pinned?: string[] }[] =>
    JSON.parse(execFileSync('bpftool', ['-j', '-f', kind, 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 }) || '[]');
  const out = { progs: new Set<number>(), links: new Set<number>(), maps: new Set<number>(), pinned: new Map<string, string[]>() };
  for (const [kind, set] of [['prog', out.progs], ['link', out.links], ['map', out.maps]] as const) {
    for (const o of list(kind)) {
      set.add(o.id);
      if (o.pinned?.length) out.pinned.set(`${kind} ${o.id}`, o.pinned);
    }
  }
  return out;
}

/** Every pin under bpffs (bounded walk). */
function pins(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 8 || out.length > 100_000) return;
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p, depth + 1);
      else out.push(p);
    }
  };
  walk(root, 0);
  return out;
}

/** What of `held` the kernel still has. */
function leftovers(held: Held): string[] {
  const k = kernelObjects();
  const left: string[] = [];
  const add = (kind: string, ids: Set<number>, now: Set<number>): void => {
    for (const id of ids) {
      if (!now.has(id)) continue;
      const pinned = k.pinned.get(`${kind} ${id}`);
      left.push(`${kind} ${id}${pinned ? ` pinned at ${pinned.join(', ')}` : ''}`);
    }
  };
  add('prog', held.progs, k.progs);
  add('link', held.links, k.links);
  add('map', held.maps, k.maps);
  return left;
}

const COMMANDS: AgentCommand[] = [
  ...agentCommands(),
  // The rules a plain clone has, whatever ../shared holds.
  { name: 'run --rules (fixture)', args: ['run', '--rules', repoPath('test', 'fixtures', 'churn_rules.yaml')] },
];

describe('shutdown leaves nothing in the kernel', () => {
  before(() => {
    requireRoot();
    tracefs();
  });

  for (const command of COMMANDS) {
    for (const mode of ['SIGTERM', 'SIGTERM then SIGINT'] as const) {
      test(`${command.name}: ${mode}`, async () => {
        const bpffs = ensureBpffs();
        assert.ok(bpffs.path, `bpffs: ${bpffs.reason}`);
        const pinsBefore = new Set(pins(bpffs.path));
        const agent = await Agent.start(command);
        let held: Held;
        try {
          held = heldBy(agent.pid);
          // The counts the test rests on: a command that held nothing would pass vacuously.
          assert.ok(held.progs.size > 0 && held.links.size > 0 && held.maps.size > 0,
            `${command.name} holds programs, links and maps: ${held.progs.size}, ${held.links.size}, ${held.maps.size}`);
          assert.deepEqual(leftovers(held).length, held.progs.size + held.links.size + held.maps.size,
            'bpftool sees every object the command holds');
          const r = mode === 'SIGTERM'
            ? await agent.stop('SIGTERM')
            : await agent.stop('SIGTERM', { second: 'SIGINT', secondAfterMs: 0 });
          assert.equal(r.signal, null, `exited by itself, not killed by ${r.signal}: ${agent.stderr}`);
          // A single stop exits 0. A second signal exits at once with 128+signo of the signal handled
          // second (the kernel delivers pending signals lowest number first), or 0 when the stop was
          // already done when it came.
          if (mode === 'SIGTERM') assert.equal(r.code, 0, agent.stderr);
          else assert.ok(r.code === 0 || r.code === 130 || r.code === 143, `status ${r.code}: ${agent.stderr}`);
          assert.doesNotMatch(agent.stderr, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack trace');
        } finally {
          agent.kill();
        }
        // Objects are freed after an RCU grace period once the last reference goes: poll, bounded.
        let left: string[] = [];
        await waitFor(() => (left = leftovers(held)).length === 0, 10_000, 100);
        assert.deepEqual(left, [], `left in the kernel after ${mode}`);
        // Pins: other tests may pin and unpin meanwhile, so a new pin counts against this run only if it
        // names one of its objects (a pinned object would also still be listed above).
        const k = kernelObjects();
        const mine = (key: string): boolean => {
          const [kind, id] = key.split(' ') as [string, string];
          return (kind === 'prog' ? held.progs : kind === 'link' ? held.links : held.maps).has(Number(id));
        };
        const ours = [...k.pinned].filter(([key]) => mine(key)).flatMap(([, paths]) => paths);
        const newPins = pins(bpffs.path).filter((p) => !pinsBefore.has(p));
        assert.deepEqual(ours, [], `pins of the command's objects (${newPins.length} new pins under ${bpffs.path}, none of them its own)`);
      });
    }
  }
});
