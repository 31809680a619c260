// The compile cache: vmlinux.h per kernel BTF, objects per content hash.
// Whoever loads what is in it trusts it as much as its own code, so every
// directory and file is checked before use: owned by this user (root for a
// root agent), not writable by group or others, not a symlink. A cache that
// fails the check is refused with the reason, never silently used or fixed.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompileError } from './errors.js';

/** Where compiled objects and vmlinux.h live: $VIGIL_CACHE_DIR, else $XDG_CACHE_HOME/vigil, else ~/.cache/vigil. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VIGIL_CACHE_DIR) return path.resolve(env.VIGIL_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(xdg, 'vigil');
}

const euid = (): number => process.geteuid?.() ?? 0;

function refuse(what: string, why: string): never {
  throw new CompileError(`compile cache: ${what} ${why}: refusing to use it (an object planted there would be loaded ` +
    'as this user\'s own); remove it, or set VIGIL_CACHE_DIR to a directory of your own', { diagnostics: [] });
}

function checkOwned(p: string, st: { uid: number; mode: number }, kind: string): void {
  if (st.uid !== euid()) refuse(`${kind} ${p}`, `is owned by uid ${st.uid}, not ${euid()}`);
  if (st.mode & 0o022) refuse(`${kind} ${p}`, `is writable by ${st.mode & 0o002 ? 'others' : 'its group'} (mode ${(st.mode & 0o777).toString(8)})`);
}

/**
 * Makes (mode 0700) or checks `dir` and the directories below `root` on the
 * way to it. `root`'s parents are the user's own business (~/.cache).
 */
export function secureDir(root: string, dir: string = root): string {
  const rel = path.relative(root, dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`${dir} is not under ${root}`);
  const chain = [root, ...rel.split(path.sep).filter(Boolean).map((_, i, parts) => path.join(root, ...parts.slice(0, i + 1)))];
  for (const d of chain) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    const st = lstatSync(d);
    if (st.isSymbolicLink()) refuse(`directory ${d}`, 'is a symbolic link');
    if (!st.isDirectory()) refuse(d, 'is not a directory');
    checkOwned(d, st, 'directory');
  }
  return dir;
}

/** Reads a cached file if it is there, refusing one that is not this user's own regular file. */
export function readTrusted(file: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') refuse(`file ${file}`, 'is a symbolic link');
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) refuse(file, 'is not a regular file');
    checkOwned(file, st, 'file');
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a cache file whole or not at all (a temporary name, then rename). */
export function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, data, { mode: 0o644, flag: 'wx' });
  renameSync(tmp, file);
}
