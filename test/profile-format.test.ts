// The profiler's output formats on a made-up profile: no kernel, no root.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DOMParser } from '@xmldom/xmldom';
import type { Frame, Mapping } from '../src/kernel/symbols/index.js';
import type { Profile, ProfileStack } from '../src/profile/profile.js';
import { RawAccumulator, stackPath, symbolize } from '../src/profile/profile.js';
import { foldedEntries, parseFolded, toFolded } from '../src/profile/folded.js';
import { toFlameGraphSvg } from '../src/profile/flamegraph.js';
import { decodePprof, toPprof } from '../src/profile/pprof.js';
import { formatOfFile, toJson } from '../src/profile/output.js';
import { listProfiles, profileFileName, rotate } from '../src/profile/continuous.js';
import { parseBytes, parseInterval } from '../src/cli/commands/profile.js';
import type { RawInterval } from '../src/profile/sampler.js';
import { stackFrames } from '../src/bpf/codec.js';
import { Symbolizer } from '../src/kernel/symbols/index.js';

const exe: Mapping = { start: 0x55550000n, end: 0x55560000n, fileOffset: 0x1000n, path: '/usr/bin/app', buildId: 'abcd' };
const libc: Mapping = { start: 0x7f0000000000n, end: 0x7f0000100000n, fileOffset: 0n, path: '/lib/libc.so.6' };

function user(name: string, addr: bigint, mapping: Mapping = exe): Frame {
  return { name, module: mapping.path, offset: addr - mapping.start + mapping.fileOffset, addr, kind: 'user',
    symbolOffset: 4n, mapping };
}
function kernel(name: string, addr: bigint): Frame {
  return { name, module: '[kernel]', offset: 0n, addr, kind: 'kernel', symbolOffset: 0n };
}

function stack(frames: Frame[], count: number, extra: Partial<ProfileStack> = {}): ProfileStack {
  return { pid: 100, tid: 100, process: 'app', thread: 'app', exe: '/usr/bin/app', frames, count, ns: count * 10_000_000,
    ...extra };
}

const counters = {
  samples: 0, idle: 0, filtered: 0, userStackCollisions: 0, kernelStackCollisions: 0, userStackMapFull: 0,
  kernelStackMapFull: 0, stackErrors: 0, countsMapFull: 0, offCpuStartFull: 0, offCpuShort: 0, pidEventsLost: 0,
  overflowStacks: 0, stacksMissing: 0,
};

function sample(): Profile {
  const main = user('main', 0x55551000n);
  const work = user('work', 0x55552000n);
  return {
    mode: 'cpu', frequency: 100, periodNs: 10_000_000, startMs: 1_700_000_000_000, endMs: 1_700_000_002_000,
    stacks: [
      stack([work, main], 6),
      stack([user('memcpy', 0x7f0000001000n, libc), work, main], 3),
      stack([kernel('read_zero', 0xffffffff81000000n), kernel('entry_SYSCALL_64', 0xffffffff82000000n),
        user('read;odd\nname', 0x7f0000002000n, libc), main], 2),
      stack([work, main], 1, { tid: 101, thread: 'worker' }),
    ],
    counters, warnings: [],
  };
}

describe('profile outputs (no kernel)', () => {
  test('folded: root frame is the process, then the thread when it differs; ; and newlines escaped', () => {
    const p = sample();
    const lines = toFolded(p).trimEnd().split('\n');
    assert.deepEqual(lines, [
      'app;main;read:odd name;entry_SYSCALL_64;read_zero 2',
      'app;main;work 6',
      'app;main;work;memcpy 3',
      'app;worker;main;work 1',
    ]);
    const parsed = parseFolded(toFolded(p));
    assert.equal(parsed.reduce((a, [, v]) => a + v, 0), 12);
    assert.deepEqual(foldedEntries(p, { perPid: true, noThreads: true }).map(([k]) => k.split(';')[0]),
      ['app [100]', 'app [100]', 'app [100]']);
    // Same stack of two threads, threads folded away: one line.
    assert.equal(foldedEntries(p, { noThreads: true }).find(([k]) => k === 'app;main;work')?.[1], 7);
  });

  test('folded off-CPU values are microseconds', () => {
    const p: Profile = { ...sample(), mode: 'off-cpu', frequency: 0, periodNs: 1,
      stacks: [stack([user('sleep', 0x55553000n)], 2, { ns: 5_500_000 })] };
    assert.equal(toFolded(p), 'app;sleep 5500\n');
  });

  test('stackPath: leaf-first frames become root-first', () => {
    const s = sample().stacks[2]!;
    assert.deepEqual(stackPath(s).map((f) => f.kind), ['process', 'user', 'user', 'kernel', 'kernel']);
  });

  test('pprof: decodes with the schema, values and names survive, string_table[0] is ""', () => {
    const p = sample();
    const d = decodePprof(toPprof(p)) as {
      stringTable: string[]; sampleType: { type: string; unit: string }[]; sample: { locationId: string[]; value: string[];
        label: { key: string; str: string; num: string }[] }[]; location: { id: string; mappingId: string; address: string;
        line: { functionId: string }[] }[]; function: { id: string; name: string; filename: string }[];
      mapping: { id: string; memoryStart: string; memoryLimit: string; filename: string; buildId: string }[];
      period: string; periodType: { type: string; unit: string }; timeNanos: string; durationNanos: string;
      defaultSampleType: string;
    };
    const str = (i: string | number) => d.stringTable[Number(i)]!;
    assert.equal(d.stringTable[0], '');
    assert.deepEqual(d.sampleType.map((t) => [str(t.type), str(t.unit)]), [['samples', 'count'], ['cpu', 'nanoseconds']]);
    assert.deepEqual([str(d.periodType.type), str(d.periodType.unit)], ['cpu', 'nanoseconds']);
    assert.equal(d.period, '10000000');
    assert.equal(str(d.defaultSampleType), 'cpu');
    assert.equal(d.timeNanos, '1700000000000000000');
    assert.equal(d.durationNanos, '2000000000');
    assert.equal(d.sample.reduce((a, s) => a + Number(s.value[0]), 0), 12);
    assert.equal(d.sample.reduce((a, s) => a + Number(s.value[1]), 0), 120_000_000);
    // Kernel addresses do not fit a double: they must come back exactly.
    const addrs = d.location.map((l) => BigInt(l.address));
    assert.ok(addrs.includes(0xffffffff81000000n));
    // Leaf first; every id resolves.
    const loc = new Map(d.location.map((l) => [l.id, l]));
    const fn = new Map(d.function.map((f) => [f.id, f]));
    const names = (s: (typeof d.sample)[number]) => s.locationId.map((id) => str(fn.get(loc.get(id)!.line[0]!.functionId)!.name));
    assert.deepEqual(names(d.sample[2]!), ['read_zero', 'entry_SYSCALL_64', 'read;odd\nname', 'main']);
    // mapping[0] is the main binary.
    assert.equal(str(d.mapping[0]!.filename), '/usr/bin/app');
    assert.equal(str(d.mapping[0]!.buildId), 'abcd');
    assert.equal(d.mapping[0]!.memoryStart, String(0x55550000n));
    const labels = d.sample[3]!.label.map((l) => [str(l.key), l.str !== '0' ? str(l.str) : l.num]);
    assert.deepEqual(labels, [['pid', '100'], ['tid', '101'], ['comm', 'app'], ['thread_name', 'worker']]);
  });

  test('flame graph: well-formed XML, one frame per node, tooltips, the inline script, no external resources', () => {
    const svg = toFlameGraphSvg(sample(), { title: 'A <test> & "title"' });
    const errors: string[] = [];
    const doc = new DOMParser({ onError: (level, msg) => { if (level !== 'warning') errors.push(msg); } })
      .parseFromString(svg, 'image/svg+xml');
    assert.deepEqual(errors, []);
    const frames = Array.from(doc.getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'f');
    const titles = frames.map((g) => g.getElementsByTagName('title')[0]!.textContent!.split('\n')[0]);
    // all, app, main, work, memcpy, read;odd name, entry, read_zero, worker, main, work
    assert.equal(frames.length, 11);
    assert.ok(titles.includes('all') && titles.includes('worker') && titles.includes('read;odd\nname'.split('\n')[0]!));
    const all = frames.find((g) => g.getElementsByTagName('title')[0]!.textContent!.startsWith('all\n'))!;
    assert.match(all.getElementsByTagName('title')[0]!.textContent!, /12 samples \(100\.00%\)/);
    const script = doc.getElementsByTagName('script')[0]!.textContent!;
    for (const fn of ['function init', 'function zoom', 'function unzoom', 'function search', 'function resetSearch']) {
      assert.ok(script.includes(fn), fn);
    }
    assert.equal(doc.getElementsByTagName('text')[0]!.textContent, 'A <test> & "title"');
    assert.doesNotMatch(svg, /(href|src)\s*=\s*["'](https?:)?\/\//, 'no external resources');
  });

  test('JSON: addresses as hex, every stack', () => {
    const j = JSON.parse(toJson(sample())) as { samples: number; stacks: { frames: { addr: string }[] }[] };
    assert.equal(j.samples, 12);
    assert.equal(j.stacks[2]!.frames[0]!.addr, '0xffffffff81000000');
  });

  test('raw intervals merge by identity; lost stacks are named, not dropped', () => {
    const acc = new RawAccumulator();
    const base: RawInterval = { mode: 'cpu', frequency: 100, startMs: 1, endMs: 2, counters, stacksRead: 0, samples: [
      { pid: 1, tid: 1, thread: 't', process: 'p', user: { addrs: [], error: 'collision' }, kernel: { addrs: [], error: 'none' },
        count: 2, ns: 0 },
    ] };
    acc.add(base);
    acc.add({ ...base, startMs: 2, endMs: 3 });
    const merged = acc.interval();
    assert.equal(merged.samples.length, 1);
    assert.equal(merged.samples[0]!.count, 4);
    assert.equal(merged.startMs, 1);
    using sym = { s: new Symbolizer(), [Symbol.dispose]() { this.s.close(); } };
    const p = symbolize(merged, sym.s);
    assert.equal(p.stacks[0]!.frames[0]!.name, '[user stack lost: stack map bucket taken]');
    assert.equal(p.stacks[0]!.ns, 40_000_000);
  });

  test('stack map values parse up to the first zero', () => {
    const b = Buffer.alloc(32);
    b.writeBigUInt64LE(0x1234n, 0);
    b.writeBigUInt64LE(0xffffffff81000000n, 8);
    assert.deepEqual(stackFrames(b), [0x1234n, 0xffffffff81000000n]);
  });

  test('continuous: file names sort by time; rotation keeps the newest within bounds and touches nothing else', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-rotate-'));
    try {
      const t0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
      assert.equal(profileFileName(new Date(t0), 'pprof'), 'vigil-profile-20260102T030405.678Z.pb.gz');
      for (let i = 0; i < 5; i++) writeFileSync(path.join(dir, profileFileName(new Date(t0 + i * 1000), 'svg')), 'x'.repeat(100));
      writeFileSync(path.join(dir, 'notes.txt'), 'mine');
      assert.deepEqual(rotate(dir, { maxFiles: 3 }).length, 2);
      assert.equal(listProfiles(dir).length, 3);
      assert.equal(listProfiles(dir)[0]!.name, profileFileName(new Date(t0 + 2000), 'svg'));
      rotate(dir, { maxBytes: 150 });
      assert.deepEqual(listProfiles(dir).map((f) => f.name), [profileFileName(new Date(t0 + 4000), 'svg')]);
      rotate(dir, { maxBytes: 10 }); // the newest stays even alone over the bound
      assert.equal(listProfiles(dir).length, 1);
      assert.ok(readdirSync(dir).includes('notes.txt'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('CLI value parsers and format by file name', () => {
    assert.equal(parseInterval('10s'), 10_000);
    assert.equal(parseInterval('500ms'), 500);
    assert.equal(parseInterval('2m'), 120_000);
    assert.equal(parseInterval('3'), 3000);
    assert.throws(() => parseInterval('10 parsecs'));
    assert.equal(parseBytes('100M'), 100 * 1024 * 1024);
    assert.equal(parseBytes('4096'), 4096);
    assert.equal(parseBytes('1GiB'), 1024 ** 3);
    assert.throws(() => parseBytes('lots'));
    assert.equal(formatOfFile('x.svg'), 'svg');
    assert.equal(formatOfFile('cpu.pb.gz'), 'pprof');
    assert.equal(formatOfFile('out.folded'), 'folded');
    assert.equal(formatOfFile('a.json'), 'json');
    assert.equal(formatOfFile('a'), undefined);
  });
});
