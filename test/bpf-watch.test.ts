// `vigil bpf watch`: a real bpftrace loads and attaches a tracepoint program
// while two watchers run, one with the built-in allow-list (bpftrace raises
// "Unexpected BPF loader") and one that allows bpftrace and prints alerts only
// (nothing of bpftrace's). The program's id, tag and name are the kernel's.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { requireRoot, waitFor } from './helpers.js';
import { VIGIL } from './observe-util.js';
import { native } from '../src/bpf/native.js';

requireRoot();

interface Watcher { child: ChildProcess; out: string; err: string; done: Promise<number | null> }

function watch(...args: string[]): Watcher {
  const child = spawn(process.execPath, [VIGIL, 'bpf', 'watch', '-o', 'json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const w: Watcher = { child, out: '', err: '', done: new Promise((resolve) => child.on('close', resolve)) };
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (w.out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (w.err += s));
  return w;
}

interface Line {
  command: string; ret: number; program: { id?: number; tag?: string; name: string; type: string };
  process: { pid: number; binary: string; comm: string }; alert?: { rule: string };
}

describe('vigil bpf watch', () => {
  const watchers: Watcher[] = [];
  let bt: ChildProcess | undefined;
  after(() => {
    bt?.kill('SIGKILL');
    for (const w of watchers) w.child.kill('SIGKILL');
  });

  test('bpftrace\'s load and attach, with the kernel\'s id, tag and name; the alert, and the allow-list', async () => {
    const all = watch();
    const allowed = watch('--allow', '/usr/bin/bpftrace', '--alerts-only');
    watchers.push(all, allowed);
    for (const w of watchers) assert.ok(await waitFor(() => /watching/.test(w.err), 30_000, 50), w.err);

    let btOut = '';
    bt = spawn('/usr/bin/bpftrace', ['-e', `tracepoint:syscalls:sys_enter_getppid /pid == ${process.pid}/ { @ = count(); }`],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    bt.stdout!.setEncoding('utf8').on('data', (s: string) => (btOut += s));
    bt.stderr!.setEncoding('utf8').on('data', (s: string) => (btOut += s));
    assert.ok(await waitFor(() => /Attaching 1 probe/.test(btOut), 30_000, 50), `bpftrace did not attach: ${btOut}`);
    const pid = bt.pid!;
    const lines = (): Line[] => all.out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line).filter((l) => l.process.pid === pid);
    const isProg = (l: Line): boolean => l.command === 'prog_load' && l.program.type === 'tracepoint' && l.ret >= 0;
    assert.ok(await waitFor(() => lines().some(isProg), 5_000, 20), all.out);
    const load = lines().find(isProg)!;
    // While bpftrace holds it, the kernel's own description of the program matches.
    const info = native().bpfObjectInfo(0, load.program.id!);
    assert.ok(info, `program ${load.program.id} is loaded`);
    assert.equal(load.program.tag, info.tag);
    assert.equal(load.program.name, info.name);
    assert.equal(load.process.binary, '/usr/bin/bpftrace');
    assert.equal(load.process.comm, 'bpftrace');
    assert.equal(load.alert?.rule, 'Unexpected BPF loader');
    // Attached by a perf event's ioctl or a link, depending on bpftrace's libbpf.
    assert.ok(await waitFor(() => lines().some((l) => (l.command === 'perf_set_bpf' || l.command === 'link_create')
      && l.ret === 0 && l.program.id === load.program.id), 5_000, 20), all.out);

    bt.kill('SIGINT');
    for (const w of watchers) w.child.kill('SIGINT');
    for (const w of watchers) assert.equal(await w.done, 0, w.err);
    assert.ok(!allowed.out.split('\n').filter(Boolean).some((l) => (JSON.parse(l) as Line).process.pid === pid), allowed.out);
  });
});
