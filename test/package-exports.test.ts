// The package as a library: a separate package that depends on Vigil by path
// (npm install /path/to/vigil) imports every public entry point through
// `exports`, runs a program it compiled and a sensor on the real kernel, is
// refused a deep import, and type-checks against the declarations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoPath, repoRoot } from '../src/util/paths.js';
import { requireRoot, tracefs } from './helpers.js';

const ENTRY_POINTS = ['vigil', 'vigil/bpf', 'vigil/inline', 'vigil/sensors', 'vigil/events', 'vigil/symbols'];

const APP = `
import { spawnSync } from 'node:child_process';
import * as root from 'vigil';
import { TypedMap, codec } from 'vigil/bpf';
import { compile } from 'vigil/inline';
import { ProcessCache, ProcessSensor } from 'vigil/sensors';
import { VIGIL_EVENT_KINDS, eventFormatter } from 'vigil/events';
import { Symbolizer } from 'vigil/symbols';

const out = { entryPoints: {}, deepImport: '', getppid: 0, exec: '', kinds: VIGIL_EVENT_KINDS.length };
for (const m of ${JSON.stringify(ENTRY_POINTS)}) out.entryPoints[m] = Object.keys(await import(m)).length;
try {
  await import('vigil/dist/src/bpf/index.js');
  out.deepImport = 'allowed';
} catch (e) {
  out.deepImport = e.code;
}

const spec = await compile(\`
const volatile u32 target_tgid = 0;
VIGIL_HASH(calls, u32, u64, 16);
SYSCALL_ENTER_PROBE(getppid)
{
	u32 pid = vigil_pid();
	if (pid == target_tgid)
		vigil_map_add(&calls, &pid, 1);
	return 0;
}
\`, { name: 'consumer' });
const obj = await spec.load({ constants: { target_tgid: process.pid } });
const link = obj.program('syscall__enter_getppid').attach();
for (let i = 0; i < 7; i++) void process.ppid; // each read is a getppid(2)
link.close();
out.getppid = new TypedMap(obj.map('calls'), codec.u32, codec.u64n).get(process.pid);
obj.close();

const cache = new ProcessCache();
const format = eventFormatter('json', { lookup: cache });
const mark = 'vigil-consumer-' + process.pid;
const sensor = await ProcessSensor.start({ cache, kinds: ['exec'], snapshot: false, onEvent: (e) => {
  if (e.kind === 'exec' && e.process.args.includes(mark)) out.exec = e.process.binary + ' ' + (format.exec(e) ? 'formatted' : '');
} });
spawnSync('/bin/true', [mark]);
for (let i = 0; i < 50 && !out.exec; i++) {
  sensor.drain();
  await new Promise((r) => setTimeout(r, 20));
}
sensor.close();
cache.close();
new Symbolizer().close();
out.rootHasCompile = typeof root.compile === 'function' && typeof root.ObjectSpec === 'function';
console.log(JSON.stringify(out));
`;

const TYPED = `
import { ObjectSpec, type LoadOptions } from 'vigil/bpf';
import { compile, CompileError, type CompileOptions, type Diagnostic } from 'vigil/inline';
import type { VigilEvent, EventOf } from 'vigil/events';
import type { ProcessSensorOptions } from 'vigil/sensors';
// @ts-expect-error: deep paths are not part of the package
import { BpfMap } from 'vigil/dist/src/bpf/index.js';

const options: CompileOptions = { name: 'typed', defines: { N: 4 } };
const load: LoadOptions = { constants: { n: 1 } };
export async function typed(): Promise<ObjectSpec> {
  try {
    return await compile('SYSCALL_ENTER_PROBE(getppid) { return 0; }', options);
  } catch (e) {
    if (e instanceof CompileError) { const d: readonly Diagnostic[] = e.diagnostics; void d; }
    throw e;
  }
}
export function kindOf(e: VigilEvent): string { return e.kind; }
export function execBinary(e: EventOf<'exec'>): string { return e.process.binary; }
export type Hooks = Pick<ProcessSensorOptions, 'onEvent'>;
void load; void BpfMap;
`;

let dir: string;

before(() => {
  requireRoot();
  tracefs();
  dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-consumer-'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'vigil-consumer', private: true, type: 'module' }));
  const npm = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--offline', '--ignore-scripts', repoRoot()],
    { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(npm.status, 0, `npm install ${repoRoot()}: ${npm.stderr}`);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the package.json main, types and every export point at files the build made', () => {
  const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as {
    main: string; types: string; exports: Record<string, string | { types: string; default: string }>;
  };
  const files = [pkg.main, pkg.types];
  for (const [key, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') files.push(target);
    else files.push(target.types, target.default);
    if (key !== './package.json') assert.ok(ENTRY_POINTS.includes(`vigil${key.slice(1)}`), `${key} is tested as an entry point`);
  }
  for (const f of files) assert.ok(readFileSync(repoPath(f)).length > 0, f);
});

test('a package that depends on Vigil by path imports it through exports and runs it on the kernel', () => {
  writeFileSync(path.join(dir, 'app.mjs'), APP);
  const r = spawnSync(process.execPath, ['app.mjs'], {
    cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, VIGIL_CACHE_DIR: path.join(dir, 'cache') },
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    entryPoints: Record<string, number>; deepImport: string; getppid: number; exec: string; kinds: number; rootHasCompile: boolean;
  };
  for (const m of ENTRY_POINTS) assert.ok((out.entryPoints[m] ?? 0) > 0, `${m} exports something`);
  assert.equal(out.deepImport, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
  assert.equal(out.getppid, 7);
  assert.equal(out.exec, '/usr/bin/true formatted');
  assert.ok(out.kinds >= 8);
  assert.equal(out.rootHasCompile, true);
});

test('the declarations type-check from the other package (and deep paths do not resolve)', () => {
  writeFileSync(path.join(dir, 'typed.ts'), TYPED);
  const r = spawnSync(process.execPath, [repoPath('node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict',
    '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--lib', 'es2022,esnext.disposable',
    '--types', 'node', '--typeRoots', repoPath('node_modules', '@types'), '--skipLibCheck', 'typed.ts'],
  { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
