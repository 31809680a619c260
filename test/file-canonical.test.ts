// Canonical paths of the file sensor, on the real kernel: names that hide the
// file they reach ("..", ".", "//", a directory fd, a symlink) are reported
// by the file reached, with the name as given beside it and, for an opened
// file, its device and inode; the in-kernel path prefix filter decides on
// the canonical path, so none of these spellings gets in or out of a prefix
// (test/fixtures/fileops.c --canon makes the calls). Then the same through
// `vigil observe --path-prefix`, as a user runs it; a chrooted process's
// paths from its own root; and the syscall-event sensor's descriptors (dup,
// fchmod) as Falco's fd.* and fs.path.* see them.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileSensor } from '../src/sensors/file.js';
import type { FileEvent } from '../src/sensors/file-events.js';
import { FilterSet } from '../src/sensors/filter.js';
import { SysEventSensor, type SysEvent } from '../src/sensors/sysevents.js';
import { statDev } from '../src/sensors/fd-paths.js';
import { LiveAdapter } from '../src/rules/live.js';
import { RuleFieldTable } from '../src/rules/fields.js';
import type { RuleEvent } from '../src/rules/event.js';
import type { ProcessLookup } from '../src/process/types.js';
import { repoPath } from '../src/util/paths.js';
import { missingFeature, pythonChild, requireRoot, waitFor } from './helpers.js';
import { observeRun } from './observe-util.js';
import { canonicalPrefix } from '../src/cli/flags.js';
import { parseObserveArgs } from '../src/cli/commands/observe.js';

const FILEOPS = repoPath('test', '.output', 'fileops');

const unsupported = (): Promise<string | undefined> => missingFeature(['tracepoint'], ['bpf_loop']);

interface Call { label: string; syscall: string; ret: number }

function runCanon(dir: string): { pid: number; calls: Call[] } {
  const r = spawnSync(FILEOPS, ['--canon', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `fileops --canon failed: ${r.stderr}`);
  const calls = r.stdout.trim().split('\n').map((l) => {
    const [label = '', syscall = '', ret = ''] = l.split(' ');
    return { label, syscall, ret: Number(ret) };
  });
  return { pid: r.pid ?? -1, calls };
}

/** Where each call of fileops --canon lands: the canonical path, and the name it gave. */
interface Want { side: 'in' | 'out' | 'none'; path: string; raw: string; opened: boolean }

function wanted(d: string): Record<string, Want> {
  const w = `${d}/watched`;
  const o = `${d}/other`;
  return {
    'dir-other': { side: 'none', path: o, raw: o, opened: true },
    'dir-watched': { side: 'none', path: w, raw: w, opened: true },
    'out-dotdot': { side: 'out', path: `${o}/g`, raw: `${w}/../other/g`, opened: true },
    'out-symlink': { side: 'out', path: `${o}/g`, raw: `${w}/link-out`, opened: true },
    'out-dirfd': { side: 'out', path: `${o}/g`, raw: '../other/g', opened: true },
    'out-enoent': { side: 'out', path: `${o}/missing`, raw: `${w}/../other/missing`, opened: false },
    'out-mkdir': { side: 'out', path: `${o}/made`, raw: `${w}//../other/./made`, opened: false },
    'in-dotdot': { side: 'in', path: `${w}/f`, raw: `${o}/../watched/f`, opened: true },
    'in-slashes': { side: 'in', path: `${w}/f`, raw: `${d}//watched//f`, opened: true },
    'in-dot': { side: 'in', path: `${w}/f`, raw: `${d}/./watched/./f`, opened: true },
    'in-dirfd': { side: 'in', path: `${w}/f`, raw: '../watched/f', opened: true },
    'in-cwd': { side: 'in', path: `${w}/f`, raw: '../watched/./f', opened: true },
    'in-symlink': { side: 'in', path: `${w}/f`, raw: `${o}/link-in`, opened: true },
    'in-symlink-dir': { side: 'in', path: `${w}/f`, raw: `${o}/dirlink/f`, opened: true },
    'in-enoent': { side: 'in', path: `${w}/missing`, raw: `${o}/../watched/missing`, opened: false },
    'in-unlink': { side: 'in', path: `${w}/missing`, raw: `${d}//other/..//watched/./missing`, opened: false },
    'in-mkdir': { side: 'in', path: `${w}/made`, raw: '../watched/made', opened: false },
    // No struct file: named lexically, symlink not followed (the documented limit).
    'limit-mkdir-symlink': { side: 'out', path: `${o}/dirlink/made2`, raw: `${o}/dirlink/made2`, opened: false },
  };
}

/** A fresh tree: watched/f, other/g and the symlinks fileops --canon goes through. */
function makeTree(): string {
  const d = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'vigil-canon-')));
  mkdirSync(path.join(d, 'watched'));
  mkdirSync(path.join(d, 'other'));
  writeFileSync(path.join(d, 'watched', 'f'), 'watched\n');
  writeFileSync(path.join(d, 'other', 'g'), 'other\n');
  symlinkSync('../watched/f', path.join(d, 'other', 'link-in'));
  symlinkSync('../watched', path.join(d, 'other', 'dirlink'));
  symlinkSync('../other/g', path.join(d, 'watched', 'link-out'));
  return d;
}

/** Runs fileops --canon below a sensor filtered to one prefix; returns its events and the calls. */
async function canonUnder(d: string, prefix: string): Promise<{ events: FileEvent[]; calls: Call[]; dropped: bigint }> {
  using filter = new FilterSet({ comms: ['fileops'], pathPrefixes: [prefix] });
  const events: FileEvent[] = [];
  const sensor = await FileSensor.start({ filter, onEvent: (e) => events.push(e), syscalls: ['openat', 'mkdirat', 'unlinkat'] });
  let run: { pid: number; calls: Call[] };
  let dropped: bigint;
  try {
    run = runCanon(d);
    dropped = sensor.filterCounts().dropped;
    sensor.drain();
    assert.equal(sensor.lost, 0);
    assert.equal(sensor.malformed, 0);
  } finally {
    sensor.close();
  }
  return { events: events.filter((e) => e.task.pid === run.pid), calls: run.calls, dropped };
}

describe('--path-prefix values are canonical too (no kernel)', () => {
  test('".", "..", "//" resolved; symlinks resolved as far as the path exists; the rest kept', () => {
    const d = makeTree();
    try {
      assert.equal(canonicalPrefix(`${d}/other/dirlink/`), `${d}/watched/`, 'a symlinked directory');
      assert.equal(canonicalPrefix(`${d}/other/dirlink`), `${d}/watched`);
      assert.equal(canonicalPrefix(`${d}/other/link-in`), `${d}/watched/f`, 'a symlinked file');
      assert.equal(canonicalPrefix(`${d}/other/dirlink/f`), `${d}/watched/f`);
      assert.equal(canonicalPrefix(`${d}/other/dirlink/no/such/`), `${d}/watched/no/such/`, 'the part that exists');
      assert.equal(canonicalPrefix(`${d}/other/dirlink/par`), `${d}/watched/par`, 'a partial name stays');
      assert.equal(canonicalPrefix(`${d}//watched/./../watched/`), `${d}/watched/`);
      assert.equal(canonicalPrefix('/'), '/');
      assert.equal(canonicalPrefix('/..'), '/');
      assert.equal(canonicalPrefix('/no-such-dir-vigil/x/'), '/no-such-dir-vigil/x/');
      assert.deepEqual(parseObserveArgs(['--sensors', 'file', '--path-prefix', `${d}/other/dirlink/`]).filter.pathPrefixes,
        [`${d}/watched/`]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('canonical paths (real kernel)', () => {
  let skip: string | undefined;
  let d = '';

  before(async () => {
    requireRoot();
    skip = await unsupported();
  });
  after(() => {
    if (d) rmSync(d, { recursive: true, force: true });
  });

  for (const side of ['in', 'out'] as const) {
    test(`--path-prefix ${side === 'in' ? 'watched/' : 'other/'}: every spelling that reaches it arrives with the canonical path; none other does`,
      async (t) => {
        if (skip) return t.skip(skip);
        d = makeTree();
        const prefix = `${d}/${side === 'in' ? 'watched' : 'other'}/`;
        const want = wanted(d);
        const { events, calls, dropped } = await canonUnder(d, prefix);
        assert.deepEqual(calls.map((c) => c.label), Object.keys(want), 'the fixture made every call');
        const expected = calls.filter((c) => want[c.label]?.side === side);
        assert.deepEqual(events.map((e) => e.path), expected.map((c) => want[c.label]!.path),
          'exactly the calls reaching the prefix, in order, by their canonical paths');
        const f = statSync(path.join(d, 'watched', 'f'));
        const g = statSync(path.join(d, 'other', 'g'));
        for (const [i, c] of expected.entries()) {
          const e = events[i]!;
          const x = want[c.label]!;
          assert.equal(e.syscall, c.syscall, c.label);
          assert.equal(e.ret, c.ret, c.label);
          assert.equal(e.rawPath, x.raw, `${c.label}: the name as given`);
          assert.equal(e.eventFlags.pathOpened, x.opened && c.ret >= 0, c.label);
          if (x.opened) {
            // The opened file's identity: what stat(2) says of the file reached.
            const st = side === 'in' ? f : g;
            assert.deepEqual([e.dev, e.ino], [st.dev, st.ino], `${c.label}: dev and ino of the file opened`);
          } else {
            assert.deepEqual([e.dev, e.ino], [null, null], c.label);
          }
        }
        // The others were decided in the kernel: counted as dropped, never sent.
        const others = calls.filter((c) => want[c.label]?.side !== side).length;
        assert.ok(dropped >= BigInt(others), `dropped ${dropped} in the kernel, ${others} calls outside the prefix`);
        rmSync(d, { recursive: true, force: true });
        d = '';
      });
  }

  test('vigil observe --path-prefix: the spellings that reach the prefix, with the canonical path and the name as given', async (t) => {
    if (skip) return t.skip(skip);
    d = makeTree();
    const want = wanted(d);
    const ins = Object.entries(want).filter(([, w]) => w.side === 'in');
    // The calls reaching other/ come first: had the filter let one through, it would be among the first events.
    const { code, stdout, stderr } = await observeRun(['--sensors', 'file', '--comm', 'fileops', '--path-prefix', `${d}/watched/`,
      '--output', 'json', '--count', String(ins.length)], () => { runCanon(d); });
    assert.equal(code, 0, stderr);
    const files = stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { file: Record<string, unknown> }).file);
    assert.deepEqual(files.map((f) => [f.path, f.raw_path]), ins.map(([, w]) => [w.path, w.raw]));
    const st = statSync(path.join(d, 'watched', 'f'));
    assert.deepEqual(files.filter((f) => f.op === 'open' && (f.ret as number) >= 0).map((f) => [f.dev, f.ino]),
      ins.filter(([, w]) => w.opened).map(() => [st.dev, st.ino]));
  });

  test('a chrooted process: paths from its own root, as it sees them; the prefix filter too', async (t) => {
    if (skip) return t.skip(skip);
    d = makeTree();
    const child = await pythonChild([
      `os.chroot(${JSON.stringify(d)})`,
      "os.chdir('/other')",
      "os.close(os.open('/watched/../watched/f', os.O_RDONLY))",
      "os.close(os.open('link-in', os.O_RDONLY))",
      "os.close(os.open('g', os.O_RDONLY))",
    ]);
    using filter = new FilterSet({ pids: [child.pid], pathPrefixes: ['/watched/'] });
    const events: FileEvent[] = [];
    const sensor = await FileSensor.start({ filter, onEvent: (e) => events.push(e), syscalls: ['openat'] });
    try {
      assert.equal(await child.go(), 0);
      sensor.drain();
    } finally {
      sensor.close();
    }
    const st = statSync(path.join(d, 'watched', 'f'));
    // Its root is d: /watched/f there (readlink /proc/PID/fd/N says the same), not d/watched/f; g (in /other) is filtered.
    assert.deepEqual(events.map((e) => [e.path, e.rawPath, e.dev, e.ino]), [
      ['/watched/f', '/watched/../watched/f', st.dev, st.ino],
      ['/watched/f', 'link-in', st.dev, st.ino],
    ]);
  });

  test('syscall events (Falco): the descriptor\'s file by its path and identity; fd.* and fs.path.* of dup and fchmod', async (t) => {
    if (skip) return t.skip(skip);
    d = makeTree();
    const child = await pythonChild([
      `fd = os.open(${JSON.stringify(`${d}/other/../other/link-in`)}, os.O_RDONLY)`,
      'os.dup2(fd, 100)',
      'os.fchmod(fd, 0o640)',
    ]);
    using filter = new FilterSet({ pids: [child.pid] });
    const events: SysEvent[] = [];
    using sensor = await SysEventSensor.start({ calls: ['dup2', 'dup3', 'fchmod'], filter, onEvent: (e) => events.push(e) });
    assert.equal(await child.go(), 0);
    const seen = (): { dup?: SysEvent; fchmod?: SysEvent } => ({
      dup: events.find((e) => (e.call === 'dup2' || e.call === 'dup3') && e.args[1] === 100),
      fchmod: events.find((e) => e.call === 'fchmod'),
    });
    assert.ok(await waitFor(() => (sensor.drain(), !!seen().dup && !!seen().fchmod)), `seen: ${events.map((e) => e.call)}`);
    const { dup, fchmod } = seen();
    const st = statSync(path.join(d, 'watched', 'f'));
    const lookup: ProcessLookup = { get: () => undefined, getByExecId: () => undefined, parentOf: () => undefined, ancestors: () => [] };
    const adapter = new LiveAdapter(lookup);
    const fields = new RuleFieldTable();
    const field = (ev: RuleEvent, name: string): unknown => {
      const f = fields.resolve(name, undefined);
      assert.ok(!f.many);
      return f.extract(ev);
    };
    for (const e of [dup!, fchmod!]) {
      assert.equal(e.file?.path, `${d}/watched/f`, `${e.call}: the file the descriptor holds`);
      assert.deepEqual([statDev(e.file?.dev ?? 0), e.file?.ino], [st.dev, st.ino], e.call);
      const ev = adapter.fromSys(e);
      assert.deepEqual([field(ev, 'fd.name'), field(ev, 'fd.ino'), field(ev, 'fd.dev')], [`${d}/watched/f`, st.ino, st.dev], e.call);
    }
    assert.equal(fchmod!.ret, 0);
    const ev = adapter.fromSys(fchmod!);
    assert.deepEqual([field(ev, 'fs.path.name'), field(ev, 'fs.path.nameraw')], [`${d}/watched/f`, `${d}/watched/f`]);
    assert.equal(field(adapter.fromSys(dup!), 'fs.path.name'), undefined, 'dup is no filesystem path syscall');
  });
});
