// bpf/include/vigil/path.h on the real kernel: leaf-first and root-first walks
// of an executable and a working directory (bpf/testdata/path.bpf.c), in both
// builds: fields read through bpf_probe_read_kernel, and with direct loads
// (VIGIL_DIRECT_LOADS, where the kernel has the bpf_rdonly_cast kfunc).
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObjectSpec } from '../src/bpf/index.js';
import { probeKfunc } from '../src/bpf/features.js';
import type { BpfObject } from '../src/bpf/index.js';
import { bpfObjectPath } from '../src/util/paths.js';
import { requireRoot, tracefs } from './helpers.js';

interface Walked { leafFirst: string[]; exe: string; cwd: string; rel: string; key: string; flags: number; seen: number }

function read(obj: BpfObject): Walked {
  const bss = [...obj.maps.values()].find((m) => m.name.endsWith('.bss'));
  assert.ok(bss);
  const data = bss.lookup(Buffer.alloc(4));
  assert.ok(data);
  const vars = obj.spec.variables;
  const u32 = (name: string) => data.readUInt32LE(vars.get(name)!.offset);
  const buf = vars.get('buf')!.offset;
  const key = vars.get('key')!.offset;
  const text = (from: number, to: number) => data.subarray(buf + from, buf + to).toString('utf8');
  const exeLen = u32('exe_len');
  const cwdLen = u32('cwd_len');
  const leaf = text(0, u32('leaf_len')).split('\0');
  leaf.pop();
  const keyBytes = data.subarray(key + 4, key + 4 + 256);
  return {
    leafFirst: leaf,
    exe: text(6144 - exeLen, 6144),
    cwd: text(8000 - cwdLen, 8000),
    rel: text(8000 - cwdLen, 8001 + u32('rel_len')),
    key: keyBytes.subarray(0, keyBytes.indexOf(0)).toString('utf8'),
    flags: u32('flags'),
    seen: u32('seen'),
  };
}

const BUILDS = [
  { object: 'testdata/path', label: 'fields through bpf_probe_read_kernel', direct: false },
  { object: 'testdata/path.direct', label: 'direct loads', direct: true },
];

/** The build's object loaded, or undefined when the kernel cannot take it (the test skipped, saying why). */
async function load(t: { skip(msg: string): void }, b: (typeof BUILDS)[number]): Promise<BpfObject | undefined> {
  if (b.direct) {
    const k = await probeKfunc('bpf_rdonly_cast');
    if (k.status === 'unsupported') {
      t.skip(`no direct loads here: ${k.reason}`);
      return undefined;
    }
  }
  return ObjectSpec.fromFile(bpfObjectPath(b.object)).load({ constants: { target_ppid: process.pid } });
}

for (const b of BUILDS) describe(`path.h walks, ${b.label}`, () => {
  before(() => {
    requireRoot();
    tracefs();
  });

  test('an executable and a deep cwd, both layouts', async (t) => {
    const loaded = await load(t, b);
    if (!loaded) return;
    using obj = loaded;
    using _link = obj.program('path_exec').attach();
    const top = mkdtempSync(path.join(os.tmpdir(), 'vigil-path-'));
    try {
      const deep = path.join(top, 'a', 'bb', 'c c');
      mkdirSync(deep, { recursive: true });
      const r = spawnSync('/bin/true', [], { cwd: deep });
      assert.equal(r.status, 0);
      const w = read(obj);
      const exe = realpathSync('/bin/true');
      const cwd = realpathSync(deep);
      assert.equal(w.seen, 1);
      assert.equal(w.flags, 0);
      assert.equal('/' + [...w.leafFirst].reverse().join('/'), exe);
      assert.equal(w.exe, exe);
      assert.equal(w.key, exe);
      assert.equal(w.cwd, cwd);
      assert.equal(w.rel, `${cwd}/rel/name`);

      // The root alone is "/" root first and nothing leaf first.
      spawnSync('/bin/true', [], { cwd: '/' });
      const w2 = read(obj);
      assert.equal(w2.seen, 2);
      assert.equal(w2.cwd, '/');
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  });

  test('a mount point inside the path is crossed (tmpfs mounted on a subdirectory)', async (t) => {
    const loaded = await load(t, b);
    if (!loaded) return;
    using obj = loaded;
    using _link = obj.program('path_exec').attach();
    const top = mkdtempSync(path.join(os.tmpdir(), 'vigil-path-'));
    const mnt = path.join(top, 'mnt');
    mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'tmpfs', 'vigiltest', mnt]);
    assert.equal(m.status, 0, m.stderr?.toString());
    try {
      const inner = path.join(mnt, 'x', 'y');
      mkdirSync(inner, { recursive: true });
      spawnSync('/bin/true', [], { cwd: inner });
      const w = read(obj);
      assert.equal(w.cwd, realpathSync(inner));
    } finally {
      spawnSync('umount', [mnt]);
      rmSync(top, { recursive: true, force: true });
    }
  });
});
