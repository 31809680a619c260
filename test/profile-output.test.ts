// The profiler's outputs from a real profile: folded totals agree with pprof
// (decoded with protobufjs from the shipped schema), the flame graph SVG
// parses as XML and renders in headless Chromium with its script working,
// and the CLI writes all of it, once or continuously with rotation.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { DOMParser } from '@xmldom/xmldom';
import { requireFeature } from '../src/bpf/index.js';
import type { Profile } from '../src/profile/profile.js';
import { parseFolded, toFolded } from '../src/profile/folded.js';
import { toFlameGraphSvg } from '../src/profile/flamegraph.js';
import { decodePprof, toPprof } from '../src/profile/pprof.js';
import { toJson } from '../src/profile/output.js';
import { Profiler } from '../src/profile/profiler.js';
import { listProfiles, runContinuous } from '../src/profile/continuous.js';
import { repoPath } from '../src/util/paths.js';
import { requireRoot, waitFor } from './helpers.js';
import { FIXTURE, countWith, profileFixture, startFixture, totalCount, waitExit } from './profile-util.js';

const CHROMIUM = '/usr/bin/chromium';
const VIGIL = repoPath('bin', 'vigil');

interface PprofDoc {
  stringTable: string[];
  sampleType: { type: string; unit: string }[];
  sample: { locationId: string[]; value: string[] }[];
  location: { id: string; mappingId: string; line: { functionId: string }[] }[];
  function: { id: string; name: string }[];
  mapping: { id: string; filename: string }[];
  period: string;
}

/** A PNG's size and whether its pixels vary (a blank page would be one colour). */
function pngInfo(file: string): { width: number; height: number; distinctBytes: number } {
  const b = readFileSync(file);
  assert.deepEqual([...b.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  let off = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (off + 8 <= b.length) {
    const len = b.readUInt32BE(off);
    const type = b.toString('latin1', off + 4, off + 8);
    const data = b.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const pixels = inflateSync(Buffer.concat(idat));
  const seen = new Set<number>();
  for (let i = 0; i < pixels.length && seen.size < 256; i += 7) seen.add(pixels[i]!);
  return { width, height, distinctBytes: seen.size };
}

function chromium(args: string[], profileDir: string): { stdout: string; status: number | null } {
  const r = spawnSync(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
    `--user-data-dir=${profileDir}`, ...args], { timeout: 90_000, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { stdout: r.stdout, status: r.status };
}

describe('profiler outputs (real kernel)', () => {
  let dir: string;
  let profile: Profile;

  before(async () => {
    requireRoot();
    dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-profile-out-'));
    if ((await requireFeature({ skip: () => undefined }, 'perf_event'))) {
      profile = (await profileFixture('cpu', 1.5, { frequency: 499 })).profile;
    }
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('folded and pprof agree: same total, same functions; pprof follows the format', async (t) => {
    if (!(await requireFeature(t, 'perf_event'))) return;
    const folded = parseFolded(toFolded(profile));
    const foldedTotal = folded.reduce((a, [, v]) => a + v, 0);
    assert.equal(foldedTotal, totalCount(profile));
    assert.ok(folded.every(([frames]) => frames[0] === 'profiletarget'), 'process name is the root frame');
    assert.ok(folded.some(([frames]) => frames.at(-1) === 'busy_a'));

    const file = path.join(dir, 'cpu.pb.gz');
    writeFileSync(file, toPprof(profile));
    const raw = readFileSync(file);
    assert.deepEqual([raw[0], raw[1]], [0x1f, 0x8b], 'gzipped');
    const d = decodePprof(raw) as unknown as PprofDoc;
    const str = (i: string) => d.stringTable[Number(i)]!;
    assert.equal(d.stringTable[0], '');
    assert.deepEqual(d.sampleType.map((x) => `${str(x.type)}/${str(x.unit)}`), ['samples/count', 'cpu/nanoseconds']);
    assert.equal(d.period, String(Math.round(1e9 / 499)));
    assert.equal(d.sample.reduce((a, s) => a + Number(s.value[0]), 0), foldedTotal, 'pprof samples == folded total');
    const fnNames = new Set(d.function.map((f) => str(f.name)));
    for (const n of ['busy_a', 'busy_b', 'cpu_loop', 'main']) assert.ok(fnNames.has(n), `function ${n}`);
    const mappingIds = new Set(d.mapping.map((m) => m.id));
    const fnIds = new Set(d.function.map((f) => f.id));
    const locIds = new Set(d.location.map((l) => l.id));
    for (const l of d.location) {
      assert.ok(l.mappingId === '0' || mappingIds.has(l.mappingId), 'location -> mapping');
      assert.ok(l.line.every((x) => fnIds.has(x.functionId)), 'location -> function');
    }
    for (const s of d.sample) assert.ok(s.locationId.every((id) => locIds.has(id)), 'sample -> location');
    assert.equal(str(d.mapping[0]!.filename), FIXTURE, 'mapping[0] is the main binary');

    const j = JSON.parse(toJson(profile)) as { samples: number; stacks: { frames: { name: string }[] }[] };
    assert.equal(j.samples, foldedTotal);
  });

  test('the flame graph SVG: valid XML, frames and script; Chromium renders it and its search works', async (t) => {
    if (!(await requireFeature(t, 'perf_event'))) return;
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is installed (scripts/setup.sh installs the chromium package)`);
    const svg = toFlameGraphSvg(profile);
    const file = path.join(dir, 'cpu.svg');
    writeFileSync(file, svg);

    const errors: string[] = [];
    const doc = new DOMParser({ onError: (level, msg) => { if (level !== 'warning') errors.push(msg); } })
      .parseFromString(svg, 'image/svg+xml');
    assert.deepEqual(errors, []);
    const root = doc.documentElement!;
    assert.equal(root.nodeName, 'svg');
    const height = Number(root.getAttribute('height'));
    const frames = Array.from(doc.getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'f');
    const names = frames.map((g) => g.getElementsByTagName('title')[0]!.textContent!.split('\n')[0]!);
    for (const n of ['all', 'profiletarget', 'main', 'cpu_loop', 'busy_a', 'busy_b']) assert.ok(names.includes(n), n);
    const script = doc.getElementsByTagName('script')[0]?.textContent ?? '';
    assert.match(script, /function zoom\(/);
    assert.match(script, /function search\(/);

    const profileDir = mkdtempSync(path.join(os.tmpdir(), 'vigil-chromium-'));
    try {
      const png = path.join(dir, 'cpu.png');
      const shot = chromium([`--screenshot=${png}`, `--window-size=1200,${Math.min(Math.max(height, 300), 4000)}`,
        `file://${file}`], profileDir);
      assert.equal(shot.status, 0, 'chromium took the screenshot');
      const info = pngInfo(png);
      t.diagnostic(`screenshot ${png}: ${info.width}x${info.height}, ${statSync(png).size} bytes`);
      assert.equal(info.width, 1200);
      assert.ok(statSync(png).size > 5000, 'not a trivial image');
      assert.ok(info.distinctBytes > 16, 'not a blank image');

      // The DOM after the page's own script ran, searching for busy_a from the URL.
      const dom = chromium(['--dump-dom', `file://${file}?s=busy_a`], profileDir).stdout;
      assert.doesNotMatch(dom, /This page contains the following errors|parsererror/);
      const matched = /id="matched"[^>]*>Matched: ([\d.]+)%</.exec(dom);
      assert.ok(matched, 'the search ran and reported its share');
      const share = Number(matched[1]);
      const expected = (100 * countWith(profile, 'busy_a')) / totalCount(profile);
      assert.ok(Math.abs(share - expected) < 1, `matched ${share}% vs busy_a's ${expected.toFixed(1)}% of samples`);
      assert.match(dom, /rgb\(230,0,230\)/, 'matching frames highlighted');
    } finally {
      rmSync(profileDir, { recursive: true, force: true });
    }
  });

  test('vigil profile (CLI): writes each format; rejects bad flags', async (t) => {
    if (!(await requireFeature(t, 'perf_event'))) return;
    for (const [ext, check] of [
      ['svg', (b: Buffer) => assert.match(b.toString(), /<svg[\s\S]*busy_a/)],
      ['pb.gz', (b: Buffer) => assert.ok(Number((decodePprof(b) as unknown as PprofDoc).sample.length) > 0)],
      ['folded', (b: Buffer) => assert.match(b.toString(), /^profiletarget;.*busy_a \d+$/m)],
      ['json', (b: Buffer) => assert.ok((JSON.parse(b.toString()) as { samples: number }).samples > 0)],
    ] as const) {
      const child = await startFixture('cpu', 1.2);
      const out = path.join(dir, `cli.${ext}`);
      const cli = spawn(VIGIL, ['profile', '--pid', String(child.pid), '--duration', '1', '--frequency', '199',
        '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      cli.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      // The fixture starts working once the profiler says it samples.
      assert.ok(await waitFor(() => err.includes('sampling at'), 15_000), err);
      child.stdin.write('\n');
      const code = await new Promise<number | null>((resolve) => cli.on('exit', resolve));
      await waitExit(child, 10_000);
      assert.equal(code, 0, err);
      check(readFileSync(out));
      assert.match(err, /samples in/);
    }
    const bad = spawnSync(VIGIL, ['profile', '--frequency', '1000'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--frequency/);
    assert.equal(spawnSync(VIGIL, ['profile', '--follow-children'], { encoding: 'utf8' }).status, 2);
  });

  test('continuous: one file per interval, oldest removed beyond --max-files', async (t) => {
    if (!(await requireFeature(t, 'perf_event'))) return;
    const out = path.join(dir, 'continuous');
    const child = await startFixture('cpu', 3);
    try {
      using p = await Profiler.start({ frequency: 99, filter: { pids: [child.pid!] }, drainMs: 100 });
      child.stdin.write('\n');
      const written: string[] = [];
      const n = await runContinuous(p, { dir: out, intervalMs: 300, format: 'pprof', maxFiles: 2, maxIntervals: 4,
        onWrite: (f) => written.push(path.basename(f)) });
      assert.equal(n, 4);
      const left = listProfiles(out).map((f) => f.name);
      assert.deepEqual(left, written.slice(-2), 'the two newest remain');
      for (const name of left) {
        const d = decodePprof(readFileSync(path.join(out, name))) as unknown as PprofDoc;
        assert.ok(d.sample.length > 0, `${name} has samples`);
      }
    } finally {
      child.kill('SIGKILL');
      await waitExit(child, 5_000);
    }

    // The CLI's loop, stopped by SIGINT.
    const cliDir = path.join(dir, 'cli-continuous');
    const cli = spawn(VIGIL, ['profile', '--continuous', '--interval', '200ms', '--dir', cliDir, '--max-files', '2',
      '--output', 'folded', '--frequency', '49'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    cli.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    assert.ok(await waitFor(() => (err.match(/written|\.folded/g) ?? []).length >= 4, 20_000), err);
    cli.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => cli.on('exit', resolve));
    assert.equal(code, 0, err);
    assert.ok(listProfiles(cliDir).length <= 2 && listProfiles(cliDir).length >= 1);
    assert.match(err, /removed 1 old/);
  });
});
