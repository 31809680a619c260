// The output formats of `vigil profile`, by name.
import { toFolded } from './folded.js';
import { toFlameGraphSvg, type FlameGraphOptions } from './flamegraph.js';
import { toPprof } from './pprof.js';
import { totals, type Profile } from './profile.js';

export const OUTPUT_FORMATS = ['folded', 'svg', 'pprof', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function isOutputFormat(s: string): s is OutputFormat {
  return (OUTPUT_FORMATS as readonly string[]).includes(s);
}

/** File name extension of a format (pprof files are gzipped protobuf). */
export function extensionOf(f: OutputFormat): string {
  switch (f) {
    case 'folded': return '.folded';
    case 'svg': return '.svg';
    case 'pprof': return '.pb.gz';
    case 'json': return '.json';
  }
}

/** The format a file name implies, if any. */
export function formatOfFile(name: string): OutputFormat | undefined {
  if (/\.svg$/i.test(name)) return 'svg';
  if (/\.(pb\.gz|pb|pprof)$/i.test(name)) return 'pprof';
  if (/\.json$/i.test(name)) return 'json';
  if (/\.(folded|txt|collapsed)$/i.test(name)) return 'folded';
  return undefined;
}

/** A JSON document: the profile with frames spelled out (addresses as hex strings). */
export function toJson(p: Profile): string {
  const hex = (a: bigint) => `0x${a.toString(16)}`;
  const t = totals(p);
  return JSON.stringify({
    mode: p.mode,
    frequency: p.frequency,
    periodNs: p.periodNs,
    start: new Date(p.startMs).toISOString(),
    durationMs: p.endMs - p.startMs,
    samples: t.count,
    totalNs: t.ns,
    counters: p.counters,
    warnings: p.warnings,
    stacks: p.stacks.map((s) => ({
      pid: s.pid,
      tid: s.tid,
      process: s.process,
      thread: s.thread,
      exe: s.exe,
      count: s.count,
      ns: s.ns,
      frames: s.frames.map((f) => ({
        name: f.name, module: f.module, kind: f.kind, addr: hex(f.addr), offset: hex(f.offset),
        ...(f.mapping?.buildId ? { buildId: f.mapping.buildId } : {}),
      })),
    })),
  }, null, 1) + '\n';
}

export interface RenderOptions extends FlameGraphOptions {}

export function render(p: Profile, format: OutputFormat, opts: RenderOptions = {}): Buffer {
  switch (format) {
    case 'folded': return Buffer.from(toFolded(p, opts));
    case 'svg': return Buffer.from(toFlameGraphSvg(p, opts));
    case 'pprof': return toPprof(p);
    case 'json': return Buffer.from(toJson(p));
  }
}
