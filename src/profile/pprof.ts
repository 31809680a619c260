// pprof output: a gzipped perftools.profiles.Profile protobuf, as `go tool
// pprof`, Pyroscope and Parca read it. Encoded by protobufjs from the schema
// shipped in src/profile/profile.proto (loaded once, at first use).
import { gunzipSync, gzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import type { Frame, Mapping } from '../kernel/symbols/index.js';
import { totals, type Profile } from './profile.js';
import { repoPath } from '../util/paths.js';

let profileType: protobuf.Type | undefined;

/** The perftools.profiles.Profile message type, from the schema in the repository. */
export function pprofType(): protobuf.Type {
  if (!profileType) {
    const root = protobuf.loadSync(repoPath('src', 'profile', 'profile.proto'));
    profileType = root.lookupType('perftools.profiles.Profile');
  }
  return profileType;
}

class StringTable {
  readonly strings: string[] = [''];
  private readonly index = new Map<string, number>([['', 0]]);

  id(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}

/** A u64 for fromObject: a number when exact (cheap), else its decimal string (made a Long). */
function u64(v: bigint): number | string {
  return v <= 0x1f_ffff_ffff_ffffn ? Number(v) : v.toString();
}

interface PprofMapping {
  id: number;
  memoryStart: number | string;
  memoryLimit: number | string;
  fileOffset: number | string;
  filename: number;
  buildId: number;
  hasFunctions: boolean;
}

/** The plain object the Profile message is made from (64-bit fields beyond 2^53 as decimal strings). */
export function pprofObject(p: Profile): Record<string, unknown> {
  const st = new StringTable();
  const mappings: PprofMapping[] = [];
  const mappingIds = new Map<string, number>();
  const functions: { id: number; name: number; systemName: number; filename: number }[] = [];
  const functionIds = new Map<string, number>();
  const locations: { id: number; mappingId: number; address: number | string; line: { functionId: number }[] }[] = [];

  // Frames of one mapping share its object: its id is looked up by identity first.
  const mappingByObject = new Map<Mapping, number>();
  const mappingId = (m: Mapping | undefined): number => {
    if (!m) return 0;
    let id = mappingByObject.get(m);
    if (id !== undefined) return id;
    const key = `${m.start}-${m.end}-${m.fileOffset}-${m.path}`;
    id = mappingIds.get(key);
    if (id === undefined) {
      id = mappings.length + 1;
      mappings.push({ id, memoryStart: u64(m.start), memoryLimit: u64(m.end), fileOffset: u64(m.fileOffset), filename: st.id(m.path), buildId: m.buildId ? st.id(m.buildId) : 0,
        hasFunctions: true });
      mappingIds.set(key, id);
    }
    mappingByObject.set(m, id);
    return id;
  };
  const functionId = (f: Frame): number => {
    const key = `${f.name}\0${f.module}`;
    let id = functionIds.get(key);
    if (id === undefined) {
      id = functions.length + 1;
      functions.push({ id, name: st.id(f.name), systemName: st.id(f.name), filename: st.id(f.module) });
      functionIds.set(key, id);
    }
    return id;
  };
  // mapping id -> address -> locations there (one, unless frames without a mapping name one address differently).
  const locationsAt = new Map<number, Map<bigint, { id: number; frame: Frame }[]>>();
  const locationId = (f: Frame): number => {
    const mid = mappingId(f.mapping);
    let byAddr = locationsAt.get(mid);
    if (!byAddr) locationsAt.set(mid, (byAddr = new Map()));
    let list = byAddr.get(f.addr);
    if (!list) byAddr.set(f.addr, (list = []));
    for (const l of list) {
      if (l.frame === f || (l.frame.name === f.name && l.frame.module === f.module)) return l.id;
    }
    const id = locations.length + 1;
    locations.push({ id, mappingId: mid, address: u64(f.addr), line: [{ functionId: functionId(f) }] });
    list.push({ id, frame: f });
    return id;
  };

  // mapping[0] is the main binary by convention: the executable of the heaviest stacks first.
  for (const s of p.stacks) {
    if (!s.exe) continue;
    const f = s.frames.find((x) => x.mapping?.path === s.exe);
    if (f) {
      mappingId(f.mapping);
      break;
    }
  }
  const cpu = p.mode === 'cpu';
  const sampleType = cpu
    ? [{ type: st.id('samples'), unit: st.id('count') }, { type: st.id('cpu'), unit: st.id('nanoseconds') }]
    : [{ type: st.id('switches'), unit: st.id('count') }, { type: st.id('off_cpu'), unit: st.id('nanoseconds') }];
  const keys = { pid: st.id('pid'), tid: st.id('tid'), comm: st.id('comm'), thread: st.id('thread_name') };
  const samples = p.stacks.map((s) => ({
    locationId: s.frames.map(locationId),
    value: [s.count, s.ns],
    label: [
      { key: keys.pid, num: s.pid },
      { key: keys.tid, num: s.tid },
      { key: keys.comm, str: st.id(s.process) },
      { key: keys.thread, str: st.id(s.thread) },
    ],
  }));
  const t = totals(p);
  const comments = [
    `vigil profile: ${cpu ? `on-CPU at ${p.frequency} Hz per CPU` : 'off-CPU time'}, ${t.count} ${cpu ? 'samples' : 'switches'}`,
  ];
  const c = p.counters;
  const lost = c.userStackCollisions + c.kernelStackCollisions + c.userStackMapFull + c.kernelStackMapFull +
    c.stackErrors + c.stacksMissing;
  if (lost) comments.push(`stacks lost: ${lost}`);
  if (c.countsMapFull) comments.push(`samples lost (counts map full): ${c.countsMapFull}`);
  const commentIds = comments.map((x) => st.id(x));
  return {
    sampleType,
    sample: samples,
    mapping: mappings,
    location: locations,
    function: functions,
    // Every string is interned above; the table is complete only now.
    stringTable: st.strings,
    timeNanos: (BigInt(Math.round(p.startMs)) * 1_000_000n).toString(),
    durationNanos: (BigInt(Math.max(0, Math.round(p.endMs - p.startMs))) * 1_000_000n).toString(),
    periodType: cpu ? { type: st.id('cpu'), unit: st.id('nanoseconds') } : { type: st.id('off_cpu'), unit: st.id('nanoseconds') },
    period: String(p.periodNs),
    comment: commentIds,
    defaultSampleType: cpu ? st.id('cpu') : st.id('off_cpu'),
  };
}

/** Serialised, not compressed. */
export function encodePprof(p: Profile): Uint8Array {
  const T = pprofType();
  // fromObject turns the decimal strings of 64-bit fields into Longs; verify checks the result.
  const msg = T.fromObject(pprofObject(p));
  const err = T.verify(msg);
  if (err) throw new Error(`pprof: ${err}`);
  return T.encode(msg).finish();
}

/** The file format: gzipped protobuf. */
export function toPprof(p: Profile): Buffer {
  return gzipSync(encodePprof(p));
}

/** Decodes a (gzipped or plain) pprof file into a plain object, 64-bit numbers as strings. */
export function decodePprof(data: Uint8Array): Record<string, unknown> {
  const raw = data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data;
  const T = pprofType();
  return T.toObject(T.decode(raw), { longs: String, defaults: true, arrays: true }) as Record<string, unknown>;
}
