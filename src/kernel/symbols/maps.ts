// /proc/PID/maps parsing and the per-process snapshot the symbolizer keeps.
import { findRange } from '../../util/search.js';
import { parseLines } from '../../util/text.js';
import fs from 'node:fs';
import type { Mapping } from './types.js';

export interface MapsLine {
  start: bigint;
  end: bigint;
  perms: string;
  fileOffset: bigint;
  /** "major:minor" in hex as printed by the kernel. */
  dev: string;
  inode: number;
  /** Path, '' for anonymous memory, '[vdso]', '[heap]'... ' (deleted)' is stripped (see `deleted`). */
  path: string;
  deleted: boolean;
}

/** Parses the text of /proc/PID/maps. Malformed lines are skipped. */
export function parseMaps(text: string): MapsLine[] {
  return parseLines(text, (line) => {
    // 7f1c2a000000-7f1c2a022000 r-xp 00002000 08:01 1234567   /usr/lib/libc.so.6
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$/.exec(line);
    if (!m) return undefined;
    const deleted = m[7]!.endsWith(' (deleted)');
    return {
      start: BigInt('0x' + m[1]!),
      end: BigInt('0x' + m[2]!),
      perms: m[3]!,
      fileOffset: BigInt('0x' + m[4]!),
      dev: m[5]!,
      inode: Number(m[6]!),
      path: deleted ? m[7]!.slice(0, -' (deleted)'.length) : m[7]!,
      deleted,
    };
  });
}

/** An executable mapping with what is needed to find its file again. */
export interface ExecMapping extends Mapping {
  readonly dev: string;
  readonly inode: number;
  /** Identity of the mapped file ('' for anonymous / special mappings). */
  readonly fileKey: string;
}

export function fileKeyOf(line: Pick<MapsLine, 'dev' | 'inode' | 'path'>): string {
  return line.inode === 0 ? '' : `${line.dev}:${line.inode}`;
}

/** What the symbolizer knows about one process. Survives the process's exit. */
export class ProcessSnapshot {
  /** Executable mappings sorted by start. */
  mappings: ExecMapping[] = [];
  comm = '';
  exe = '';
  /** The pid as seen inside its pid namespace (for perf-NSPID.map), = pid on the host. */
  nsPid: number;
  /** Raw maps text of the last capture, to detect changes cheaply. */
  lastMaps = '';
  alive = true;

  constructor(readonly pid: number) {
    this.nsPid = pid;
  }

  /** The mapping containing addr, if any. */
  find(addr: bigint): ExecMapping | undefined {
    return findRange(this.mappings, addr);
  }

  /**
   * Replaces the mappings with a new capture. Old mappings that no new one overlaps are kept:
   * samples taken before a dlclose() still resolve.
   */
  update(fresh: ExecMapping[]): void {
    const kept = this.mappings.filter((o) => !fresh.some((n) => n.start < o.end && o.start < n.end));
    this.mappings = [...fresh, ...kept].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }
}

/** Reads a small /proc text file; undefined if the process is gone or it is unreadable. */
export function readProcText(path: string): string | undefined {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The innermost pid from /proc/PID/status's NSpid line. */
export function parseNsPid(status: string, pid: number): number {
  const m = /^NSpid:\s*(.*)$/m.exec(status);
  if (!m) return pid;
  const ids = m[1]!.trim().split(/\s+/).map(Number);
  const last = ids[ids.length - 1];
  return last !== undefined && Number.isInteger(last) && last > 0 ? last : pid;
}
