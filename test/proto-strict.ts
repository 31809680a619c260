// Strict protojson checks of the Tetragon- and Hubble-shaped lines against the
// upstream schemas in ../shared/compat/proto (compat tier only: a plain clone
// has no ../shared). The parse is protobufjs's ProtoJSON extension, which
// rejects unknown fields and unknown enum names; on top of it, the field names
// must be the proto names (as `tetra getevents -o json` and `hubble observe
// -o jsonpb` write them, not the camelCase aliases), enums must be names, and
// 64-bit integers must be strings, as protojson writes them.
import path from 'node:path';
import protobuf from 'protobufjs';
import protojson from 'protobufjs/ext/protojson.js';
import { repoPath } from '../src/util/paths.js';

export const PROTO_ROOT = repoPath('..', 'shared', 'compat', 'proto');

const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const WRAPPERS = new Set(['Int64Value', 'UInt64Value']);

let root: protobuf.Root | undefined;

function schema(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_ROOT, target));
  r.loadSync(['tetragon/events.proto', 'flow/flow.proto'], { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

/** A message type of the schemas ("tetragon.GetEventsResponse", "flow.Flow"). */
export function protoType(name: string): protobuf.Type {
  return schema().lookupType(name);
}

/** What the library leaves open: proto names only, enum names only, 64-bit integers as strings. */
function walk(t: protobuf.Type, v: unknown, at: string): void {
  if (t.fullName.startsWith('.google.protobuf.')) {
    if (WRAPPERS.has(t.name) && typeof v !== 'string') throw new Error(`${at}: a 64-bit wrapper must be a string, got ${JSON.stringify(v)}`);
    return;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return; // the library reports the type mismatch
  for (const [key, value] of Object.entries(v)) {
    const f = t.fields[key];
    if (!f) throw new Error(`${at}.${key}: not a field of ${t.fullName.slice(1)} (proto names only)`);
    const each = f.repeated ? (Array.isArray(value) ? value : []) : f.map ? Object.values(value as object) : [value];
    for (const [i, x] of each.entries()) {
      const here = f.repeated ? `${at}.${key}[${i}]` : `${at}.${key}`;
      if (x === null) continue;
      if (f.resolvedType instanceof protobuf.Enum) {
        if (typeof x !== 'string') throw new Error(`${here}: enum ${f.resolvedType.name} as a name, got ${JSON.stringify(x)}`);
      } else if (f.resolvedType instanceof protobuf.Type) {
        walk(f.resolvedType, x, here);
      } else if (INT64.has(f.type) && typeof x !== 'string') {
        throw new Error(`${here}: ${f.type} must be a string, got ${JSON.stringify(x)}`);
      }
    }
  }
}

/** Parses one JSON object as message `type`, strictly; throws naming the field and why. */
export function strictParse(typeName: string, json: unknown): void {
  const t = protoType(typeName);
  walk(t, json, t.name);
  protojson.fromJson(t, json);
}

/** One `--output tetragon` line: a tetragon.GetEventsResponse with exactly one event. */
export function assertTetragonLine(line: string): void {
  const o = JSON.parse(line) as Record<string, unknown>;
  strictParse('tetragon.GetEventsResponse', o);
  const events = Object.keys(o).filter((k) => !['node_name', 'time', 'cluster_name', 'node_labels', 'aggregation_info'].includes(k));
  if (events.length !== 1) throw new Error(`expected one event in the envelope, got ${events.join(', ') || 'none'}: ${line}`);
}

/**
 * One `--output hubble` line: observer.GetFlowsResponse (not in the corpus:
 * its envelope is checked here, its flow and lost_events with flow.proto).
 */
export function assertHubbleLine(line: string): void {
  const o = JSON.parse(line) as Record<string, unknown>;
  const keys = Object.keys(o);
  for (const k of keys) {
    if (!['flow', 'lost_events', 'node_name', 'time'].includes(k)) throw new Error(`GetFlowsResponse.${k}: not a field`);
  }
  if (typeof o.node_name !== 'string') throw new Error('GetFlowsResponse.node_name: missing');
  strictParse('google.protobuf.Timestamp', o.time);
  if ((o.flow === undefined) === (o.lost_events === undefined)) throw new Error(`expected flow or lost_events: ${line}`);
  if (o.flow !== undefined) strictParse('flow.Flow', o.flow);
  else strictParse('flow.LostEvent', o.lost_events);
}
