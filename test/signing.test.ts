// Signed objects on the real kernel: the build's objects load verified; a
// command (observe) and the agent refuse a flipped byte and, where required,
// an unsigned object, with one line and status 1, before loading anything;
// compile() signs with the local key and a tampered cached object is
// refused; the kernel's own signature check is probed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { ObjectSpec, SignatureError, probeKernelSignatures, setSigningPolicy, signingPolicy } from '../src/bpf/index.js';
import { kernelConfig } from '../src/bpf/features.js';
import { compile, compileObject } from '../src/inline/index.js';
import { bpfObjectPath, repoPath } from '../src/util/paths.js';
import { sensorObjectPath } from '../src/sensors/sensor.js';
import { requireRoot, waitFor } from './helpers.js';

requireRoot();
const vigil = repoPath('bin', 'vigil');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vigil-signed-'));
const saved = signingPolicy();
after(() => {
  setSigningPolicy(saved);
  rmSync(tmp, { recursive: true, force: true });
});

/** The process sensor's object as this kernel loads it: process.bpf.o, or its direct-loads build. */
const PROCESS_OBJECT = path.basename(await sensorObjectPath('process', true));
const processObjectRe = PROCESS_OBJECT.replace(/\./g, '\\.');

/** A copy of the build's objects and signatures (VIGIL_BPF_DIR), with `change` applied to PROCESS_OBJECT. */
function objectsWith(name: string, change: (obj: string) => void): string {
  const dir = path.join(tmp, name);
  const out = repoPath('bpf', '.output');
  cpSync(out, dir, { recursive: true, filter: (src) => src === out || /\.bpf\.o(\.sig)?$/.test(src) && path.dirname(src) === out });
  change(path.join(dir, PROCESS_OBJECT));
  return dir;
}

const flipped = objectsWith('flipped', (obj) => {
  const image = readFileSync(obj);
  image[image.length >> 1]! ^= 0x01;
  writeFileSync(obj, image);
});
const unsigned = objectsWith('unsigned', (obj) => rmSync(`${obj}.sig`));

function observe(env: Record<string, string>): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [vigil, 'observe', '--sensors', 'exec', '--duration', '1'],
    { encoding: 'utf8', env: { ...process.env, VIGIL_REQUIRE_SIGNED: '', ...env }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the build\'s objects parse verified and load', async () => {
  const spec = ObjectSpec.fromFile(bpfObjectPath('probes'));
  assert.equal(spec.signature.status, 'verified');
  using obj = await spec.load({ programs: ['probe_socket_filter'] });
  assert.ok(obj.program('probe_socket_filter'));
});

test('a flipped byte: observe refuses to load, one line naming the object, status 1', () => {
  const r = observe({ VIGIL_BPF_DIR: flipped });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^vigil observe: ${flipped}/${processObjectRe} does not match its signature \\(key [0-9a-f]{16}\\): ` +
    'it was modified after it was signed; refusing to load it\n$'));
  assert.equal(r.stdout, '');
});

test('unsigned: refused where required (VIGIL_REQUIRE_SIGNED=1), loaded where not', () => {
  const refused = observe({ VIGIL_BPF_DIR: unsigned, VIGIL_REQUIRE_SIGNED: '1' });
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, new RegExp(`^vigil observe: ${unsigned}/${processObjectRe} is not signed and signed objects are required`));
  const allowed = observe({ VIGIL_BPF_DIR: unsigned });
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stderr, /watching exec/);
});

/** `vigil agent` on the objects of `dir` with `flags`: its status (null: still running at "ready", then stopped) and stderr. */
async function agent(dir: string, flags: string[]): Promise<{ code: number | null; stderr: string }> {
  const home = mkdtempSync(path.join(tmp, 'agent-'));
  const config = path.join(home, 'agent.yaml');
  writeFileSync(config, `api:\n  socket: ${home}/vigil.sock\nhealth:\n  address: 127.0.0.1:0\nstate:\n  directory: ${home}/state\n` +
    'store:\n  enabled: false\n');
  const child = spawn(process.execPath, [vigil, 'agent', '--config', config, ...flags],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, VIGIL_BPF_DIR: dir, VIGIL_REQUIRE_SIGNED: '' } });
  let stderr = '';
  let code: number | null | undefined;
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.on('exit', (c) => { code = c; resolve(); }));
  await waitFor(() => code !== undefined || stderr.includes('"msg":"ready"'), 60_000, 50);
  if (code !== undefined) return { code, stderr };
  child.kill('SIGTERM');
  await exited;
  return { code: null, stderr };
}

test('the agent requires signatures by default; --allow-unsigned loads unsigned objects, and says so', async () => {
  const refused = await agent(unsigned, []);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, new RegExp(`^vigil agent: .*${processObjectRe} is not signed and signed objects are required`, 'm'));
  assert.match(refused.stderr, /"msg":"BPF objects: only signed ones load"/);
  const allowed = await agent(unsigned, ['--allow-unsigned']);
  assert.equal(allowed.code, null, allowed.stderr);
  assert.match(allowed.stderr, /"level":"warn".*"by":"--allow-unsigned".*SIGNATURES NOT REQUIRED/);
});

test('compile() signs with the local key; a tampered cached object is refused, an opt-out loads unsigned', async () => {
  const cacheDir = path.join(tmp, 'cache');
  const source = 'SEC("socket") int prog(void *ctx) { return 0; }';
  const spec = await compile(source, { cacheDir, name: 'signed', prelude: true });
  assert.equal(spec.signature.status, 'verified');
  const c = await compileObject(source, { cacheDir, name: 'signed' });
  assert.ok(c.cached && c.signature, 'cached with its signature');
  const image = readFileSync(c.path);
  image[image.length - 9]! ^= 0x04;
  writeFileSync(c.path, image);
  await assert.rejects(compile(source, { cacheDir, name: 'signed' }),
    (e: unknown) => e instanceof SignatureError && e.failure === 'modified' && e.message.includes(c.path));
  setSigningPolicy({ require: true });
  try {
    const optedOut = await compile(`${source}\n/* opt-out */`, { cacheDir, name: 'unsigned', unsigned: true });
    assert.equal(optedOut.signature.status, 'opted-out');
    using obj = await optedOut.load();
    assert.ok(obj.program('prog'));
    // Without the opt-out, an unsigned compiled object would be refused where signatures are required.
    assert.throws(() => ObjectSpec.fromBuffer(optedOut.image, 'again'), (e: unknown) => e instanceof SignatureError && e.failure === 'unsigned');
  } finally {
    setSigningPolicy(saved);
  }
});

test('the kernel\'s own check of signed programs is probed: a definite answer, matching the kernel\'s configuration', async () => {
  const r = await probeKernelSignatures();
  assert.notEqual(r.status, 'unknown', r.reason);
  const config = kernelConfig();
  if (config && config.get('CONFIG_SYSTEM_DATA_VERIFICATION') !== 'y') {
    assert.equal(r.status, 'unsupported', r.reason);
    assert.match(r.reason, /E2BIG|EOPNOTSUPP/);
  }
});
