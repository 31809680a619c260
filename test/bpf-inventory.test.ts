// `vigil bpf ls`: what is loaded on this host, by whom. A real bpftrace loads a
// program and a map; both are listed with bpftrace as their holder, and the
// statistics window counts the program's runs caused by this test's getppid calls.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { getppid, requireRoot, stopChild, waitFor } from './helpers.js';
import { VIGIL } from './observe-util.js';

requireRoot();

interface Row { id: number; typeName: string; name: string; owners: { pid: number; comm: string; container?: string }[];
  window?: { runs: number; ns: number }; mapIds?: number[]; programs?: number[]; verifiedInsns?: number; tag?: string }

function ls(...args: string[]): Row[] {
  const r = spawnSync(process.execPath, [VIGIL, 'bpf', 'ls', ...args, '--json'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Row[];
}

describe('vigil bpf ls', () => {
  let bt: ChildProcess;
  let out = '';
  before(async () => {
    // getppid: this test calls it, little else on the host does.
    bt = spawn('/usr/bin/bpftrace', ['-e', 'tracepoint:syscalls:sys_enter_getppid /pid == ' + process.pid + '/ { @calls = count(); }'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    bt.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    bt.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
    assert.ok(await waitFor(() => /Attaching 1 probe/.test(out), 30_000, 50), `bpftrace did not attach: ${out}`);
  });
  after(async () => {
    if (bt) await stopChild(bt);
  });

  test('a bpftrace program and its map, held by bpftrace; the program uses the map', () => {
    const progs = ls().filter((p) => p.owners.some((o) => o.pid === bt.pid));
    const prog = progs.find((p) => p.typeName === 'tracepoint');
    assert.ok(prog, JSON.stringify(progs));
    assert.equal(prog.owners.find((o) => o.pid === bt.pid)?.comm, 'bpftrace');
    assert.equal(prog.owners.find((o) => o.pid === bt.pid)?.container, 'host');
    assert.ok(prog.verifiedInsns! > 0);
    assert.match(prog.tag!, /^[0-9a-f]{16}$/);
    const maps = ls('maps').filter((m) => m.owners.some((o) => o.pid === bt.pid));
    assert.ok(maps.some((m) => prog.mapIds!.includes(m.id) && m.programs!.includes(prog.id)), JSON.stringify({ maps, prog }));
  });

  test('--stats: the runs of the window, caused by this process\'s getppid calls', async () => {
    const r = spawn(process.execPath, [VIGIL, 'bpf', 'ls', '--stats', '2', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    r.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    r.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    let exited = false;
    const done = new Promise<number | null>((resolve) => r.on('close', (code) => {
      exited = true;
      resolve(code);
    }));
    // Calls all along, so that the window (from the command's first listing to its second) holds some.
    while (!exited) {
      getppid(1000);
      await new Promise((res) => setTimeout(res, 10));
    }
    assert.equal(await done, 0, stderr);
    const prog = (JSON.parse(stdout) as Row[]).find((p) => p.typeName === 'tracepoint' && p.owners.some((o) => o.pid === bt.pid));
    assert.ok(prog?.window, stdout.slice(0, 500));
    assert.ok(prog.window.runs >= 1000, JSON.stringify(prog.window));
    assert.ok(prog.window.ns > 0);
  });

  test('bad input: one line, status 2', () => {
    for (const [args, msg] of [
      [['ls', 'things'], 'vigil bpf: unknown kind "things"; available: programs, maps, links\n'],
      [['ls', '--stats', '0'], 'vigil bpf: --stats: expected seconds in 0.1..60, got "0"\n'],
      [['ls', 'maps', '--stats', '1'], 'vigil bpf: --stats: run-time statistics are the programs\'\n'],
      [['list'], 'vigil bpf: unknown subcommand "list"; available: ls, watch\n'],
    ] as const) {
      const r = spawnSync(process.execPath, [VIGIL, 'bpf', ...args], { encoding: 'utf8' });
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr, msg);
    }
  });
});
