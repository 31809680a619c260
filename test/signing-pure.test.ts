// Object signatures without a kernel: the check (src/bpf/signing.ts) on
// every way an object can be wrong, and the build's signer
// (scripts/sign-objects.mjs) read by the runtime. The unit tier: no root.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import {
  SignatureError, buildKeyFiles, checkObjectSignature, keyIdOf, readSignatureFile, setSigningPolicy, signObject, signingPolicy,
} from '../src/bpf/signing.js';
import { repoPath } from '../src/util/paths.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vigil-signing-'));
const saved = signingPolicy();
after(() => {
  setSigningPolicy(saved);
  rmSync(tmp, { recursive: true, force: true });
});

function keyPair(name: string): { priv: KeyObject; pubFile: string; privFile: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pubFile = path.join(tmp, `${name}.pub`);
  const privFile = path.join(tmp, `${name}.key`);
  writeFileSync(pubFile, publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(privFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return { priv: privateKey, pubFile, privFile };
}

const image = readFileSync(repoPath('bpf', '.output', 'probes.bpf.o'));
const operator = keyPair('operator');
const other = keyPair('other');

/** The SignatureError `f` throws (and that it is one line). */
function refusal(f: () => unknown): SignatureError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof SignatureError, `expected a SignatureError, got ${String(e)}`);
    assert.doesNotMatch(e.message, /\n/);
    return e;
  }
  assert.fail('expected the object to be refused');
}

test('a signature by a trusted key verifies; one flipped byte anywhere is refused as modified', () => {
  setSigningPolicy({ require: true, keyFiles: [operator.pubFile] });
  const sig = signObject(image, operator.priv);
  assert.match(sig, /^vigil-signature-v1 ed25519 [0-9a-f]{16} [A-Za-z0-9+/]+={0,2}\n$/);
  assert.deepEqual(checkObjectSignature('probes.bpf.o', image, sig), { status: 'verified', keyId: keyIdOf(operator.priv) });
  for (const at of [0, 100, image.length >> 1, image.length - 1]) {
    const flipped = Buffer.from(image);
    flipped[at]! ^= 0x01;
    const e = refusal(() => checkObjectSignature('probes.bpf.o', flipped, sig));
    assert.equal(e.failure, 'modified');
    assert.equal(e.message,
      `probes.bpf.o does not match its signature (key ${keyIdOf(operator.priv)}): it was modified after it was signed; refusing to load it`);
  }
});

test('unsigned: refused when signatures are required, let through (and said) when not, or on an explicit opt-out', () => {
  setSigningPolicy({ require: true, keyFiles: [operator.pubFile] });
  const e = refusal(() => checkObjectSignature('x.bpf.o', image, undefined));
  assert.equal(e.failure, 'unsigned');
  assert.match(e.message, /^x\.bpf\.o is not signed and signed objects are required \(--require-signed\): refusing to load it/);
  assert.deepEqual(checkObjectSignature('x.bpf.o', image, undefined, { allowUnsigned: true }), { status: 'opted-out' });
  setSigningPolicy({ require: false });
  assert.deepEqual(checkObjectSignature('x.bpf.o', image, undefined), { status: 'unsigned' });
  // Not required: a signature that is there must still verify.
  const flipped = Buffer.from(image);
  flipped[7]! ^= 0x80;
  assert.equal(refusal(() => checkObjectSignature('x.bpf.o', flipped, signObject(image, operator.priv))).failure, 'modified');
});

test('an untrusted key, a malformed signature file and no readable trusted key are each refused, named', () => {
  setSigningPolicy({ require: false, keyFiles: [operator.pubFile] });
  const e = refusal(() => checkObjectSignature('x.bpf.o', image, signObject(image, other.priv)));
  assert.equal(e.failure, 'untrusted');
  assert.ok(e.message.includes(`signed by key ${keyIdOf(other.priv)}, which is not trusted here`), e.message);
  assert.ok(e.message.includes(operator.pubFile), e.message);
  for (const bad of ['', 'garbage', `vigil-signature-v1 ed25519 ${keyIdOf(operator.priv)} AAAA\n`]) {
    assert.equal(refusal(() => checkObjectSignature('x.bpf.o', image, bad)).failure, 'malformed');
  }
  const missing = path.join(tmp, 'missing.pub');
  setSigningPolicy({ keyFiles: [missing] });
  const none = refusal(() => checkObjectSignature('x.bpf.o', image, signObject(image, operator.priv)));
  // The local signing key (the build's, readable by root) may still be trusted: then the operator's is untrusted.
  assert.ok(none.failure === 'no-keys' || none.failure === 'untrusted', none.message);
  if (none.failure === 'no-keys') assert.ok(none.message.includes(`cannot read the public key ${missing}: ENOENT`), none.message);
});

test('the build signed every object it made, with the key of bpf/.output/signing/objects.pub', () => {
  setSigningPolicy({ require: true, keyFiles: [buildKeyFiles().publicKey] });
  const dirs = [repoPath('bpf', '.output'), repoPath('bpf', '.output', 'testdata')];
  let n = 0;
  for (const dir of dirs) {
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.bpf.o'))) {
      const file = path.join(dir, f);
      assert.equal(checkObjectSignature(file, readFileSync(file), readSignatureFile(file)).status, 'verified', file);
      n++;
    }
  }
  assert.ok(n >= 16, `only ${n} objects`);
});

test('scripts/sign-objects.mjs with an operator key: signatures the runtime verifies, kept when still valid', () => {
  const obj = path.join(tmp, 'probes.bpf.o');
  copyFileSync(repoPath('bpf', '.output', 'probes.bpf.o'), obj);
  const pub = path.join(tmp, 'objects.pub');
  const sign = (): string => {
    const r = spawnSync(process.execPath, [repoPath('scripts', 'sign-objects.mjs'), '--key', operator.privFile, '--public', pub, obj],
      { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  assert.match(sign(), new RegExp(`signed 1 object with key ${keyIdOf(operator.priv)}`));
  assert.equal(sign(), ''); // valid already: left alone
  assert.equal(readFileSync(pub, 'utf8'), readFileSync(operator.pubFile, 'utf8'));
  setSigningPolicy({ require: true, keyFiles: [pub] });
  assert.deepEqual(checkObjectSignature(obj, readFileSync(obj), readSignatureFile(obj)), { status: 'verified', keyId: keyIdOf(operator.priv) });
  // A key of another kind is refused by the signer, naming it.
  const rsa = path.join(tmp, 'rsa.key');
  writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const r = spawnSync(process.execPath, [repoPath('scripts', 'sign-objects.mjs'), '--key', rsa, '--public', pub, obj], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^vigil build: sign: .*rsa\.key is a rsa key; Vigil signs with ed25519/);
});
