// Tracepoint format files (tracefs events/<category>/<event>/format): the
// fields of a tracepoint's record, as the kernel describes them. Parsing is
// pure; reading goes through ensureTracefs().
import { readdirSync, readFileSync } from 'node:fs';
import type { TracepointField } from './ir.js';
import { ensureTracefs } from '../bpf/mounts.js';

/**
 * Parses a format file. Lines look like
 *   field:const char * filename;	offset:24;	size:8;	signed:0;
 *   field:__data_loc char[] name;	offset:20;	size:4;	signed:0;
 *   field:__u8 saddr[4];	offset:32;	size:4;	signed:0;
 * The common_ fields are kept: Tetragon's tracepoint arg indexes count them.
 */
export function parseTracepointFormat(text: string): TracepointField[] {
  const out: TracepointField[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*field:(.+?);\s*offset:(\d+);\s*size:(\d+);\s*(?:signed:(\d+);)?/.exec(line);
    if (!m) continue;
    const decl = m[1]!.trim();
    const offset = Number(m[2]);
    const size = Number(m[3]);
    const signed = m[4] === '1';
    const d = /^(.*?)\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[(\d*)\])?$/.exec(decl);
    if (!d) continue;
    let cType = d[1]!.trim();
    const name = d[2]!;
    const dataLoc = cType.startsWith('__data_loc') || cType.startsWith('__rel_loc');
    let arrayLen: number | undefined;
    if (d[3] !== undefined) {
      if (d[3] !== '') arrayLen = Number(d[3]);
      cType = `${cType}[${d[3]}]`;
    }
    out.push({ name, cType, offset, size, signed, dataLoc, arrayLen, pointer: !dataLoc && /\*\s*$/.test(cType) });
  }
  return out;
}

/** The tracefs root, or why there is none. */
export function tracefsRoot(): { path: string } | { reason: string } {
  const st = ensureTracefs();
  return st.path ? { path: st.path } : { reason: `tracefs is not mounted and could not be: ${st.reason ?? 'unknown'}` };
}

/** The fields of a tracepoint, or undefined when tracefs has no such event. */
export function readTracepointFormat(category: string, event: string): TracepointField[] | undefined {
  const root = tracefsRoot();
  if (!('path' in root)) return undefined;
  try {
    return parseTracepointFormat(readFileSync(`${root.path}/events/${category}/${event}/format`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Names of the syscalls that have syscalls/sys_enter_<name> tracepoints (empty when tracefs is missing). */
export function syscallsWithTracepoints(): Set<string> {
  const root = tracefsRoot();
  const out = new Set<string>();
  if (!('path' in root)) return out;
  try {
    for (const e of readdirSync(`${root.path}/events/syscalls`)) {
      if (e.startsWith('sys_enter_')) out.add(e.slice('sys_enter_'.length));
    }
  } catch {
    // no syscall tracepoints (CONFIG_FTRACE_SYSCALLS off)
  }
  return out;
}
