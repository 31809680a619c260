// compile(): BPF C text to an ObjectSpec, at run time, CO-RE, without kernel
// headers: clang with the BPF target, vmlinux.h made once from the running
// kernel's BTF, libbpf's headers and Vigil's helper header (vigil/lib.h).
// Objects are cached by a hash of everything that goes into them; a cached
// compile runs no tool at all (it checks the headers the object was built
// from by their contents, recorded when it was made).
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ObjectSpec } from '../bpf/object.js';
import { localSigningKey, signObject, signingPolicy } from '../bpf/signing.js';
import { repoPath } from '../util/paths.js';
import { defaultCacheDir, readTrusted, secureDir, writeAtomic } from './cache.js';
import { CompileError, describeDiagnostics, parseDiagnostics } from './errors.js';

export interface CompileOptions {
  /** The object's name (errors, `bpf ls`); default "inline". */
  name?: string;
  /** The file the C text came from, named in compiler errors; default NAME.bpf.c. */
  filename?: string;
  /** The line of `filename` where the C text starts, minus one (for C in a template literal); default 0. */
  lineOffset?: number;
  /** Macros, as -DNAME=VALUE (true: -DNAME). */
  defines?: Readonly<Record<string, string | number | boolean>>;
  /** More include directories. Headers found there are part of the cache key by content. */
  includeDirs?: readonly string[];
  /** More clang flags (after Vigil's: -O2 -g -Wall ...). */
  cflags?: readonly string[];
  /** Put vigil/lib.h in front of the source (clang -include); default true. */
  prelude?: boolean;
  /** The clang to run: default $VIGIL_CLANG, else clang on PATH. */
  clang?: string;
  /** The cache directory: default $VIGIL_CACHE_DIR, $XDG_CACHE_HOME/vigil, ~/.cache/vigil. */
  cacheDir?: string;
  /** The kernel BTF that vmlinux.h is made from; default /sys/kernel/btf/vmlinux. */
  btf?: string;
  /**
   * Leave the object unsigned, and let it load even where signed objects are
   * required. Otherwise it is signed with the local key (VIGIL_SIGNING_KEY,
   * else the build's own), and where signatures are required and there is no
   * local key, compile() refuses.
   */
  unsigned?: boolean;
}

/** What compileObject() made, and how. */
export interface CompiledObject {
  /** The object in the cache. */
  path: string;
  image: Buffer;
  /** The hash it is cached under. */
  key: string;
  /** True when the cache had it: no tool ran. */
  cached: boolean;
  /** Milliseconds the whole call took. */
  ms: number;
  /** The signature file's line (kept beside the object in the cache), when a local signing key signed it. */
  signature: string | undefined;
}

/** The Debian packages that provide each tool, named when one is missing. */
const PACKAGES = { clang: 'clang', bpftool: 'bpftool', libbpf: 'libbpf-dev' } as const;

function missing(tool: string, pkg: string, detail: string): CompileError {
  return new CompileError(`${tool} ${detail}: install it (Debian, Ubuntu: apt-get install ${pkg})`, { diagnostics: [] });
}

/** Finds an executable as the shell would, without running it. */
function which(cmd: string): string | undefined {
  const candidates = cmd.includes('/') ? [cmd] : (process.env.PATH ?? '/usr/bin:/bin').split(':').filter(Boolean).map((d) => path.join(d, cmd));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return c;
    } catch { /* next */ }
  }
  return undefined;
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

const btfHashes = new Map<string, { stamp: string; hash: string }>();

/** The BTF's content hash (memoised while its size and time stay the same). */
function btfHash(btf: string): string {
  let st;
  try {
    st = statSync(btf);
  } catch (e) {
    throw new CompileError(`kernel BTF ${btf} is missing: compile() needs a kernel built with CONFIG_DEBUG_INFO_BTF`,
      { diagnostics: [], cause: e });
  }
  const stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
  const known = btfHashes.get(btf);
  if (known?.stamp === stamp) return known.hash;
  const hash = sha256(readFileSync(btf));
  btfHashes.set(btf, { stamp, hash });
  return hash;
}

function run(cmd: string, args: readonly string[], input?: string): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({
      code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'),
    }));
    child.stdin.end(input ?? '');
  });
}

/**
 * vmlinux.h for the kernel whose BTF is `btf`: made once with bpftool and
 * kept under the BTF's hash, so a new kernel gets its own.
 */
export async function vmlinuxHeader(o: { btf?: string; cacheDir?: string } = {}): Promise<string> {
  const btf = o.btf ?? '/sys/kernel/btf/vmlinux';
  const root = o.cacheDir ?? defaultCacheDir();
  const dir = secureDir(root, path.join(root, 'vmlinux', btfHash(btf).slice(0, 32)));
  const header = path.join(dir, 'vmlinux.h');
  if (readTrusted(header)) return dir;
  const bpftool = which('bpftool') ?? which('/usr/sbin/bpftool');
  if (!bpftool) throw missing('bpftool', PACKAGES.bpftool, 'is needed once per kernel to make vmlinux.h from its BTF, and is not on PATH');
  const r = await run(bpftool, ['btf', 'dump', 'file', btf, 'format', 'c']);
  if (r.code !== 0 || r.stdout.length === 0) {
    throw new CompileError(`bpftool btf dump file ${btf} failed (status ${r.code}): ${r.stderr.trim().split('\n')[0] ?? ''}`, { diagnostics: [] });
  }
  writeAtomic(header, r.stdout);
  return dir;
}

function targetArch(): string {
  switch (process.arch) {
    case 'x64': return 'x86';
    case 'arm64': return 'arm64';
    case 's390x': return 's390';
    case 'ppc64': return 'powerpc';
    case 'riscv64': return 'riscv';
    default: return process.arch;
  }
}

function multiarchInclude(): string[] {
  const triple = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch as string];
  return triple && existsSync(`/usr/include/${triple}`) ? [`-I/usr/include/${triple}`] : [];
}

/** The headers an object was built from (clang -MD), with their hashes, to check a cached object against. */
interface DepsRecord {
  deps: [string, string][];
}

function parseDepFile(text: string): string[] {
  const body = text.replace(/\\\n/g, ' ').replace(/^[^:]*:/, '');
  const files: string[] = [];
  for (const m of body.matchAll(/((?:\\ |[^\s])+)/g)) files.push(m[1]!.replace(/\\ /g, ' '));
  return files;
}

function depsStillMatch(text: Buffer): boolean {
  let record: DepsRecord;
  try {
    record = JSON.parse(text.toString('utf8')) as DepsRecord;
  } catch {
    return false; // cut short: compile again
  }
  if (!Array.isArray(record.deps)) return false;
  for (const [file, hash] of record.deps) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      return false;
    }
    if (sha256(data) !== hash) return false;
  }
  return true;
}

/** Objects the cache keeps; past this the least recently used go (with their dependency records). */
export const MAX_CACHED_OBJECTS = 256;

/** Keeps the `max` most recently used objects of `dir` (mtime: written, or last found in the cache). */
export function pruneObjects(dir: string, max: number): number {
  const objects = readdirSync(dir).filter((f) => f.endsWith('.bpf.o'));
  if (objects.length <= max) return 0;
  const aged = objects.map((f) => {
    try {
      return { f, t: statSync(path.join(dir, f)).mtimeMs };
    } catch {
      return { f, t: 0 };
    }
  }).sort((a, b) => a.t - b.t);
  const gone = aged.slice(0, objects.length - max);
  for (const { f } of gone) {
    rmSync(path.join(dir, f), { force: true });
    rmSync(path.join(dir, f.replace(/\.bpf\.o$/, '.deps.json')), { force: true });
    rmSync(path.join(dir, `${f}.sig`), { force: true });
  }
  return gone.length;
}

/**
 * Compiles BPF C to an object in the cache (or finds it there) and returns
 * its bytes. Most callers want compile(), which parses it.
 */
export async function compileObject(source: string, o: CompileOptions = {}): Promise<CompiledObject> {
  const started = performance.now();
  const name = o.name ?? 'inline';
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new TypeError(`compile: name "${name}" must be letters, digits, _ . -`);
  const root = secureDir(o.cacheDir ?? defaultCacheDir());
  const clangCmd = o.clang ?? process.env.VIGIL_CLANG ?? 'clang';
  const clang = which(clangCmd);
  if (!clang) throw missing('clang', PACKAGES.clang, `(${clangCmd}) is not on PATH; it compiles BPF C`);
  if (!existsSync('/usr/include/bpf/bpf_helpers.h') && !(o.includeDirs ?? []).some((d) => existsSync(path.join(d, 'bpf', 'bpf_helpers.h')))) {
    throw missing('libbpf\'s headers', PACKAGES.libbpf, '(bpf/bpf_helpers.h) are missing');
  }
  const vmlinuxDir = await vmlinuxHeader({ btf: o.btf, cacheDir: root });
  const includeDir = repoPath('bpf', 'include');
  const defines = Object.entries(o.defines ?? {}).filter(([, v]) => v !== false)
    .map(([k, v]) => (v === true ? `-D${k}` : `-D${k}=${String(v)}`));
  const flags = [
    '-target', 'bpf', '-g', '-O2', `-D__TARGET_ARCH_${targetArch()}`, '-Wall', '-Wno-unused-function', '-fno-color-diagnostics',
    `-I${vmlinuxDir}`, ...(o.includeDirs ?? []).map((d) => `-I${path.resolve(d)}`), `-I${includeDir}`, ...multiarchInclude(),
    ...(o.prelude === false ? [] : ['-include', 'vigil/lib.h']),
    ...defines, ...(o.cflags ?? []),
  ];
  // The clang binary by identity (its real path, size, time): a cached compile must not run it to ask its version.
  const clangReal = realpathSync(clang);
  const cst = statSync(clangReal);
  const key = sha256(JSON.stringify({ v: 1, source, flags, clang: [clangReal, cst.size, cst.mtimeMs] })).slice(0, 40);
  const objects = secureDir(root, path.join(root, 'objects'));
  const objectPath = path.join(objects, `${key}.bpf.o`);
  const depsPath = path.join(objects, `${key}.deps.json`);
  const sigPath = `${objectPath}.sig`;
  const signer = o.unsigned ? undefined : localSigningKey();
  if (!o.unsigned && !signer && signingPolicy().require) {
    throw new CompileError('signed objects are required (--require-signed) and there is no local signing key to sign a compiled ' +
      'object with: set VIGIL_SIGNING_KEY to a PEM ed25519 private key, or compile with { unsigned: true }', { diagnostics: [] });
  }

  const cachedImage = readTrusted(objectPath);
  const cachedDeps = readTrusted(depsPath);
  // A cached object is used with the signature it was cached with (checked when it is parsed: a
  // modified one is refused, never signed again); one cached unsigned or by another key is compiled again.
  const cachedSignature = signer ? readTrusted(sigPath)?.toString('utf8') : undefined;
  if (cachedImage && cachedDeps && depsStillMatch(cachedDeps) && (!signer || cachedSignature?.includes(` ${signer.id} `))) {
    const now = new Date();
    utimesSync(objectPath, now, now); // recently used: pruned last
    return { path: objectPath, image: cachedImage, key, cached: true, ms: performance.now() - started, signature: cachedSignature };
  }

  const work = mkdtempSync(path.join(secureDir(root, path.join(root, 'tmp')), `${name}-`));
  try {
    const src = path.join(work, `${name}.bpf.c`);
    const obj = path.join(work, `${name}.bpf.o`);
    const dep = path.join(work, `${name}.d`);
    writeFileSync(src, source);
    let r;
    try {
      r = await run(clang, [...flags, '-MD', '-MF', dep, '-c', src, '-o', obj]);
    } catch (e) {
      throw missing('clang', PACKAGES.clang, `(${clang}) could not run: ${(e as Error).message}`);
    }
    if (r.code !== 0) {
      const userFile = o.filename ?? `${name}.bpf.c`;
      const { diagnostics, log } = parseDiagnostics(r.stderr, src, userFile, o.lineOffset ?? 0);
      throw new CompileError(describeDiagnostics(diagnostics), { diagnostics, log });
    }
    const image = readFileSync(obj);
    const deps: [string, string][] = parseDepFile(readFileSync(dep, 'utf8'))
      .filter((f) => f !== src && !f.endsWith('.o'))
      .map((f) => [f, sha256(readFileSync(f))]);
    const signature = signer ? signObject(image, signer.key) : undefined;
    writeAtomic(depsPath, JSON.stringify({ deps } satisfies DepsRecord));
    if (signature) writeAtomic(sigPath, signature);
    else rmSync(sigPath, { force: true });
    writeAtomic(objectPath, image);
    pruneObjects(objects, MAX_CACHED_OBJECTS);
    return { path: objectPath, image, key, cached: false, ms: performance.now() - started, signature };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Compiles BPF C (CO-RE, against the running kernel's BTF) and parses the
 * object: load it with `.load()`, as any ObjectSpec.
 *
 * ```ts
 * const spec = await compile(`
 *   VIGIL_HASH(counts, u32, u64, 10240);
 *   TRACEPOINT_PROBE(raw_syscalls, sys_enter) { u32 pid = vigil_pid(); vigil_map_add(&counts, &pid, 1); return 0; }
 * `);
 * using obj = await spec.load();
 * ```
 *
 * Throws CompileError with the user's line and column when clang refuses
 * the source, or naming the Debian package when a tool is missing.
 */
export async function compile(source: string, o: CompileOptions = {}): Promise<ObjectSpec> {
  const c = await compileObject(source, o);
  return ObjectSpec.fromBuffer(c.image, o.name ?? 'inline', { signature: c.signature, allowUnsigned: o.unsigned, label: c.path });
}

/** compile() of a file: errors name the file. */
export async function compileFile(file: string, o: CompileOptions = {}): Promise<ObjectSpec> {
  const name = o.name ?? path.basename(file).replace(/\.bpf\.c$|\.c$/, '').replace(/[^A-Za-z0-9_.-]/g, '_');
  return compile(readFileSync(file, 'utf8'), { filename: file, ...o, name });
}

export { defaultCacheDir };
