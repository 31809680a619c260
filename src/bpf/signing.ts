// Signed BPF objects: a detached ed25519 signature beside each object the
// build makes (X.bpf.o.sig, written by scripts/sign-objects.mjs), checked
// here before the object is parsed or loaded. Pure user space (node:crypto);
// no kernel involved. docs/ebpf-security.md, "Signed programs".
//
// The rule: a signature that is there must verify with a trusted key, always
// (a modified object is never loaded); an object without one loads only while
// signatures are not required (`--require-signed`, the agent's default;
// VIGIL_REQUIRE_SIGNED=1 for the other commands and the library).
//
// Trusted keys: VIGIL_TRUSTED_KEYS (PEM public keys, ':'-separated) or what
// setSigningPolicy() was given (the agent's signing.keys); by default the
// public half of the key that signed this build's objects,
// bpf/.output/signing/objects.pub. The local signing key's public half (the
// key run-time compiled objects are signed with: VIGIL_SIGNING_KEY, else the
// build's own bpf/.output/signing/build.key) is trusted too: whoever holds it
// can sign anything anyway.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { repoPath } from '../util/paths.js';

/** The one-line signature file's format: `vigil-signature-v1 ed25519 KEYID BASE64`. */
const SIGNATURE_LINE = /^vigil-signature-v1 ed25519 ([0-9a-f]{16}) ([A-Za-z0-9+/]+={0,2})\s*$/;
const ED25519_SIGNATURE_BYTES = 64;

export type SignatureFailure =
  /** No signature, and signatures are required. */
  | 'unsigned'
  /** The object's bytes do not match its signature. */
  | 'modified'
  /** Signed by a key not trusted here. */
  | 'untrusted'
  /** The signature file is not one. */
  | 'malformed'
  /** Signatures are required, or one is there, and no trusted key could be read. */
  | 'no-keys';

/** An object refused for its signature: the message is one line that says which object and why. */
export class SignatureError extends Error {
  override readonly name = 'SignatureError';
  constructor(readonly object: string, readonly failure: SignatureFailure, message: string) {
    super(message);
  }
}

/** What the check found for an object that was let through. */
export type SignatureState =
  | { readonly status: 'verified'; readonly keyId: string }
  /** No signature; allowed because signatures are not required. */
  | { readonly status: 'unsigned' }
  /** No signature, by the caller's explicit choice (compile(..., { unsigned: true })). */
  | { readonly status: 'opted-out' };

export interface TrustedKey {
  readonly id: string;
  readonly file: string;
  readonly key: KeyObject;
}

export interface SigningPolicy {
  /** Refuse objects without a signature. */
  readonly require: boolean;
  /** Public key files to trust; undefined: the default (VIGIL_TRUSTED_KEYS, else the build's objects.pub). */
  readonly keyFiles: readonly string[] | undefined;
}

/** The build's key pair: the signing key scripts/sign-objects.mjs made, and the public half of whichever key signed. */
export function buildKeyFiles(): { privateKey: string; publicKey: string } {
  return { privateKey: repoPath('bpf', '.output', 'signing', 'build.key'), publicKey: repoPath('bpf', '.output', 'signing', 'objects.pub') };
}

function envRequire(env: NodeJS.ProcessEnv): boolean {
  const v = env.VIGIL_REQUIRE_SIGNED;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

function envKeyFiles(env: NodeJS.ProcessEnv): string[] | undefined {
  const v = env.VIGIL_TRUSTED_KEYS;
  return v ? v.split(':').filter(Boolean) : undefined;
}

let policy: SigningPolicy = { require: envRequire(process.env), keyFiles: envKeyFiles(process.env) };

/** Sets how objects are checked from now on (the agent's `--require-signed` and signing.keys). */
export function setSigningPolicy(p: Partial<SigningPolicy>): void {
  policy = { require: p.require ?? policy.require, keyFiles: 'keyFiles' in p ? p.keyFiles : policy.keyFiles };
  trustedCache = undefined;
}

export function signingPolicy(): SigningPolicy {
  return policy;
}

/** A key's id: the first 8 bytes of the SHA-256 of its public DER (SPKI), in hex. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

function readKey(file: string, kind: 'public' | 'private'): KeyObject {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read the ${kind} key ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let key: KeyObject;
  try {
    key = kind === 'public' ? createPublicKey(pem) : createPrivateKey(pem);
  } catch {
    throw new Error(`${file} is not a PEM ${kind} key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file} is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key; object signatures are ed25519`);
  return key;
}

let localCache: { file: string; key: KeyObject; id: string } | null | undefined;

/**
 * The key objects compiled on this host are signed with: VIGIL_SIGNING_KEY
 * (a PEM ed25519 private key), else the build's own build.key when this
 * process may read it; undefined when there is none.
 */
export function localSigningKey(env: NodeJS.ProcessEnv = process.env): { file: string; key: KeyObject; id: string } | undefined {
  if (localCache !== undefined && env === process.env) return localCache ?? undefined;
  const given = env.VIGIL_SIGNING_KEY;
  const file = given || buildKeyFiles().privateKey;
  let found: { file: string; key: KeyObject; id: string } | undefined;
  if (given || existsSync(file)) {
    try {
      const key = readKey(file, 'private');
      found = { file, key, id: keyIdOf(key) };
    } catch (e) {
      if (given) throw e; // an operator's key that does not load is an error, not "no key"
    }
  }
  if (env === process.env) localCache = found ?? null;
  return found;
}

let trustedCache: { keys: TrustedKey[]; problems: string[] } | undefined;

/** The keys signatures are checked against, and the key files that could not be read. */
export function trustedKeys(): { keys: readonly TrustedKey[]; problems: readonly string[] } {
  if (trustedCache) return trustedCache;
  const files = policy.keyFiles ?? [buildKeyFiles().publicKey];
  const keys: TrustedKey[] = [];
  const problems: string[] = [];
  for (const file of files) {
    try {
      const key = readKey(file, 'public');
      keys.push({ id: keyIdOf(key), file, key });
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  const local = localSigningKey();
  if (local && !keys.some((k) => k.id === local.id)) keys.push({ id: local.id, file: local.file, key: createPublicKey(local.key) });
  trustedCache = { keys, problems };
  return trustedCache;
}

/** The signature file's line for `image`, signed with `key` (an ed25519 private key). */
export function signObject(image: Uint8Array, key: KeyObject): string {
  return `vigil-signature-v1 ed25519 ${keyIdOf(key)} ${sign(null, image, key).toString('base64')}\n`;
}

const HOW_TO_SIGN = 'sign it (make bpf signs the build\'s objects)';

/**
 * Checks `image` (called `object` in messages) against its signature file's
 * text under the current policy; throws SignatureError, or says what it found.
 */
export function checkObjectSignature(object: string, image: Uint8Array, signature: string | undefined,
  o: { allowUnsigned?: boolean } = {}): SignatureState {
  if (signature === undefined) {
    if (o.allowUnsigned) return { status: 'opted-out' };
    if (!policy.require) return { status: 'unsigned' };
    throw new SignatureError(object, 'unsigned',
      `${object} is not signed and signed objects are required (--require-signed): refusing to load it; ${HOW_TO_SIGN}`);
  }
  const m = SIGNATURE_LINE.exec(signature);
  const raw = m ? Buffer.from(m[2]!, 'base64') : undefined;
  if (!m || raw?.length !== ED25519_SIGNATURE_BYTES) {
    throw new SignatureError(object, 'malformed',
      `${object}: its signature file is not a Vigil signature (expected one line "vigil-signature-v1 ed25519 KEYID SIGNATURE"): refusing to load it`);
  }
  const keyId = m[1]!;
  const { keys, problems } = trustedKeys();
  if (keys.length === 0) {
    throw new SignatureError(object, 'no-keys',
      `${object}: no trusted key to check its signature with (${problems.join('; ') || 'none configured'}): refusing to load it`);
  }
  const key = keys.find((k) => k.id === keyId);
  if (!key) {
    throw new SignatureError(object, 'untrusted',
      `${object} is signed by key ${keyId}, which is not trusted here (trusted: ${keys.map((k) => `${k.id} ${k.file}`).join(', ')}): refusing to load it`);
  }
  if (!verify(null, image, key.key, raw)) {
    throw new SignatureError(object, 'modified',
      `${object} does not match its signature (key ${keyId}): it was modified after it was signed; refusing to load it`);
  }
  return { status: 'verified', keyId };
}

/** The signature file of an object file (X.bpf.o.sig), or undefined when there is none. */
export function readSignatureFile(objectFile: string): string | undefined {
  try {
    return readFileSync(`${objectFile}.sig`, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
