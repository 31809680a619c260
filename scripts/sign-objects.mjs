#!/usr/bin/env node
// Signs the BPF objects the build made: a detached ed25519 signature beside
// each object (X.bpf.o.sig), which the loader checks before it loads the
// object (src/bpf/signing.ts, docs/ebpf-security.md "Signed programs").
//
//   node scripts/sign-objects.mjs [--key FILE] [--public FILE] OBJECT...
//
// The key: --key FILE (make SIGNING_KEY=FILE), else $VIGIL_SIGNING_KEY, both a
// PEM ed25519 private key (openssl genpkey -algorithm ed25519 -out FILE);
// else the build's own key pair, bpf/.output/signing/build.key, made here the
// first time (mode 0600; bpf/.output is git-ignored, `make clean` removes it).
// The public half of the signing key is written to
// bpf/.output/signing/objects.pub (or --public FILE), which the loader trusts
// unless it is told which keys to trust (VIGIL_TRUSTED_KEYS, the agent's
// signing.keys).
//
// An object whose signature already verifies with the key is left alone, so
// running this after every make costs one verification per object.
//
// The signature file is one line (the runtime parses the same line):
//   vigil-signature-v1 ed25519 KEYID BASE64-SIGNATURE
// KEYID is the first 8 bytes, in hex, of the SHA-256 of the public key's
// DER (SPKI); the signature is over the object's bytes exactly, so
// `openssl pkeyutl -verify -rawin -pubin -inkey objects.pub -in X.bpf.o
// -sigfile <(cut -d' ' -f4 X.bpf.o.sig | base64 -d)` checks it too.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const keyDir = path.join(repo, 'bpf', '.output', 'signing');
const buildKey = path.join(keyDir, 'build.key');
let publicFile = path.join(keyDir, 'objects.pub');

function die(msg) {
  process.stderr.write(`vigil build: sign: ${msg}\n`);
  process.exit(1);
}

const args = process.argv.slice(2);
let keyFile = process.env.VIGIL_SIGNING_KEY || undefined;
const objects = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--key') keyFile = args[++i] || die('--key needs a file');
  else if (args[i] === '--public') publicFile = path.resolve(args[++i] || die('--public needs a file'));
  else objects.push(args[i]);
}

function writeAtomic(file, data, mode) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}

let privateKey;
if (keyFile) {
  try {
    privateKey = createPrivateKey(readFileSync(keyFile));
  } catch (e) {
    die(`cannot read the signing key ${keyFile}: ${e.code ?? e.message.split('\n')[0]}`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    die(`${keyFile} is a ${privateKey.asymmetricKeyType} key; Vigil signs with ed25519 (openssl genpkey -algorithm ed25519 -out FILE)`);
  }
} else if (existsSync(buildKey)) {
  privateKey = createPrivateKey(readFileSync(buildKey));
} else {
  // 0755: objects.pub beside it is read by any user (the unit tier runs as nobody); the key itself is 0600.
  mkdirSync(keyDir, { recursive: true, mode: 0o755 });
  const pair = generateKeyPairSync('ed25519');
  writeAtomic(buildKey, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), 0o600);
  privateKey = pair.privateKey;
  process.stdout.write(`vigil build: made this build's signing key ${path.relative(repo, buildKey)}\n`);
}
const publicKey = createPublicKey(privateKey);
const der = publicKey.export({ type: 'spki', format: 'der' });
const keyId = createHash('sha256').update(der).digest('hex').slice(0, 16);
const pem = publicKey.export({ type: 'spki', format: 'pem' });
mkdirSync(path.dirname(publicFile), { recursive: true, mode: 0o755 });
if (!existsSync(publicFile) || readFileSync(publicFile, 'utf8') !== pem) writeAtomic(publicFile, pem, 0o644);

const LINE = /^vigil-signature-v1 ed25519 ([0-9a-f]{16}) ([A-Za-z0-9+/]+={0,2})\s*$/;
let signed = 0;
for (const obj of objects) {
  const image = readFileSync(obj);
  const sigFile = `${obj}.sig`;
  if (existsSync(sigFile)) {
    const m = LINE.exec(readFileSync(sigFile, 'utf8'));
    if (m && m[1] === keyId && verify(null, image, publicKey, Buffer.from(m[2], 'base64'))) continue;
  }
  const sig = sign(null, image, privateKey).toString('base64');
  writeAtomic(sigFile, `vigil-signature-v1 ed25519 ${keyId} ${sig}\n`, 0o644);
  signed++;
}
if (signed) process.stdout.write(`vigil build: signed ${signed} object${signed === 1 ? '' : 's'} with key ${keyId}\n`);
