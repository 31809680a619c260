// Continuous profiling: one profile file per interval, forever, in a
// directory whose size is bounded (the oldest profiles are removed first).
import { mkdirSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Profiler } from './profiler.js';
import type { Profile } from './profile.js';
import { extensionOf, render, type OutputFormat, type RenderOptions } from './output.js';

/** Profiles this module wrote (and only those are ever rotated away). */
const FILE_PATTERN = /^vigil-profile-\d{8}T\d{6}\.\d{3}Z(-\d+)?\.(folded|svg|pb\.gz|json)$/;

/** Default bound when neither maxFiles nor maxBytes is given. */
export const DEFAULT_MAX_FILES = 60;

export interface RetentionOptions {
  maxFiles?: number;
  maxBytes?: number;
}

export interface ContinuousOptions extends RetentionOptions {
  dir: string;
  intervalMs: number;
  format: OutputFormat;
  render?: RenderOptions;
  /** Stops the loop (after writing the profile of the interval under way). */
  signal?: AbortSignal;
  /** After each file is written. */
  onWrite?: (file: string, bytes: number, profile: Profile, removed: string[]) => void;
  /** Stop after this many files (tests); default unbounded. */
  maxIntervals?: number;
}

/** 2026-01-02T03:04:05.678Z -> 20260102T030405.678Z */
export function profileFileName(when: Date, format: OutputFormat, seq = 0): string {
  const iso = when.toISOString().replace(/[-:]/g, '');
  return `vigil-profile-${iso}${seq ? `-${seq}` : ''}${extensionOf(format)}`;
}

/** The profile files in dir, oldest first, with sizes. */
export function listProfiles(dir: string): { name: string; bytes: number }[] {
  const out: { name: string; bytes: number }[] = [];
  for (const name of readdirSync(dir)) {
    if (!FILE_PATTERN.test(name)) continue;
    try {
      out.push({ name, bytes: statSync(path.join(dir, name)).size });
    } catch {
      // removed meanwhile
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Removes the oldest profiles until at most maxFiles remain and they take at
 * most maxBytes. The newest file is always kept, even alone over maxBytes.
 */
export function rotate(dir: string, opts: RetentionOptions): string[] {
  const maxFiles = opts.maxFiles ?? (opts.maxBytes === undefined ? DEFAULT_MAX_FILES : Infinity);
  const maxBytes = opts.maxBytes ?? Infinity;
  const files = listProfiles(dir);
  let bytes = files.reduce((a, f) => a + f.bytes, 0);
  const removed: string[] = [];
  while (files.length > 1 && (files.length > maxFiles || bytes > maxBytes)) {
    const f = files.shift()!;
    try {
      unlinkSync(path.join(dir, f.name));
    } catch {
      // gone already
    }
    bytes -= f.bytes;
    removed.push(f.name);
  }
  return removed;
}

/** Writes a file so that readers never see it half-written. */
export function writeAtomic(file: string, data: Uint8Array): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs until the signal aborts (or maxIntervals files were written). */
export async function runContinuous(profiler: Profiler, opts: ContinuousOptions): Promise<number> {
  if (!(opts.intervalMs >= 100)) throw new RangeError(`interval must be at least 100 ms, got ${opts.intervalMs}`);
  mkdirSync(opts.dir, { recursive: true });
  let written = 0;
  let next = Date.now() + opts.intervalMs;
  for (;;) {
    await sleep(Math.max(0, next - Date.now()), opts.signal);
    next += opts.intervalMs;
    // A slow interval (symbolising a huge profile) must not make the next ones pile up.
    if (next < Date.now()) next = Date.now() + opts.intervalMs;
    await profiler.settle();
    const profile = profiler.cut();
    const when = new Date(profile.startMs);
    let name = profileFileName(when, opts.format);
    for (let seq = 1; listProfiles(opts.dir).some((f) => f.name === name); seq++) {
      name = profileFileName(when, opts.format, seq);
    }
    const data = render(profile, opts.format, opts.render);
    const file = path.join(opts.dir, name);
    writeAtomic(file, data);
    written++;
    const removed = rotate(opts.dir, opts);
    opts.onWrite?.(file, data.length, profile, removed);
    if (opts.signal?.aborted || (opts.maxIntervals !== undefined && written >= opts.maxIntervals)) return written;
  }
}
