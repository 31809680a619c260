// The Tetragon- and Hubble-shaped lines the tests make pass through here: the
// events their collectors gather are formatted as `--output tetragon` and
// `--output jsonpb` write them and checked for what consumers of those tools
// rely on, with no ../shared (field presence: process credentials, refcnt,
// 64-bit integers as strings, no Vigil-only fields). When VIGIL_SHAPED_LINES
// names a file, each line is also appended to it, one JSON line each, for
// the compat tier (test/shaped-output.shared.test.ts) to parse strictly with
// Tetragon's and Hubble's own schemas.
//
// The first PER_KIND events of each kind (exec, exit, file op, policy hook
// section, flow kind) in a test file are taken: the collectors run in the
// ring readers' path, and a host busy with other processes' storms must not
// slow them into losing records. The tests' own events are few; a kind's
// thousands are the host's.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { TetragonFormatter, readHostNamespaces } from '../src/output/tetragon.js';
import { PolicyEventFormatter } from '../src/output/policy-events.js';
import { flowToHubbleJson } from '../src/network/flow-format.js';
import type { SensorEvent } from '../src/sensors/events.js';
import type { PolicyEvent } from '../src/policy/ir.js';
import type { FlowRecord } from '../src/network/flow-types.js';
import type { ProcessLookup } from '../src/process/types.js';

export type Shape = 'tetragon' | 'hubble';

const RECORD = process.env.VIGIL_SHAPED_LINES;

/** Vigil's fields, which the strict shapes must not carry: of a process, of a flow. */
const VIGIL_PROCESS = ['cgroup_id', 'container_id', 'tty', 'comm'];
const VIGIL_FLOW = ['event_kind', 'flow_id', 'traffic', 'tcp_info', 'duration_ns', 'policy'];

/** The field-presence checks (npm test tier); throws naming the line. */
export function checkShaped(shape: Shape, line: string): void {
  const o = JSON.parse(line) as Record<string, unknown>;
  assert.equal(typeof o.node_name, 'string', line);
  assert.match(String(o.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, line);
  if (shape === 'tetragon') {
    const [key, body] = Object.entries(o).find(([k]) => k !== 'node_name' && k !== 'time') ?? [];
    assert.ok(key && body, line);
    const procs = ['process', 'parent'].map((k) => (body as Record<string, unknown>)[k]).filter(Boolean) as Record<string, unknown>[];
    for (const p of procs) {
      for (const k of VIGIL_PROCESS) assert.ok(!(k in p), `Vigil's ${k} in a Tetragon process: ${line}`);
      if (p.flags === 'unknown') continue;
      for (const k of ['exec_id', 'pid', 'uid', 'binary', 'flags', 'start_time', 'auid', 'refcnt', 'tid']) {
        assert.ok(k in p, `${key}.process: no ${k}: ${line}`);
      }
      // With --process-cred (Tetragon's --enable-process-cred) only.
      if ('process_credentials' in p) {
        assert.deepEqual(Object.keys(p.process_credentials as object).slice(0, 4), ['uid', 'gid', 'euid', 'egid'], line);
      }
    }
    for (const k of ['hook', 'portable']) assert.ok(!(k in (body as object)), `Vigil's ${k} in ${key}: ${line}`);
  } else if (o.flow !== undefined) {
    const f = o.flow as Record<string, unknown>;
    for (const k of VIGIL_FLOW) assert.ok(!(k in f), `Vigil's ${k} in a Hubble flow: ${line}`);
    for (const ep of [f.source, f.destination] as Record<string, unknown>[]) {
      for (const k of ['process', 'container', 'cgroup_id']) assert.ok(!(k in ep), `Vigil's endpoint ${k}: ${line}`);
    }
    assert.notEqual(f.verdict, 'DENIED', line);
    for (const k of ['socket_cookie', 'cgroup_id']) if (k in f) assert.equal(typeof f[k], 'string', `${k} (uint64) as a string: ${line}`);
  }
}

/** Checks a shaped line and records it for the compat tier. */
export function shaped(shape: Shape, line: string | undefined): void {
  if (line === undefined) return;
  checkShaped(shape, line);
  if (RECORD) appendFileSync(RECORD, `${JSON.stringify({ shape, line })}\n`);
}

let host: ReturnType<typeof readHostNamespaces> | undefined;
const hostNamespaces = (): ReturnType<typeof readHostNamespaces> => (host ??= readHostNamespaces());

/** One formatter per process cache (a collector may gather thousands of events). */
const NO_LOOKUP = {};
const tetragon = new WeakMap<object, TetragonFormatter>();
const policy = new WeakMap<object, PolicyEventFormatter>();

function formatter<F>(map: WeakMap<object, F>, lookup: ProcessLookup | undefined, make: () => F): F {
  const key = lookup ?? NO_LOOKUP;
  let f = map.get(key);
  if (!f) map.set(key, (f = make()));
  return f;
}

const PER_KIND = 1000;
const taken = new Map<string, number>();

/** Whether this kind still has room (see above). */
function take(kind: string): boolean {
  const n = taken.get(kind) ?? 0;
  if (n >= PER_KIND) return false;
  taken.set(kind, n + 1);
  return true;
}

/** A sensor event as --output tetragon writes it (forks and failed execs have no line). */
export function shapedEvent(e: SensorEvent, lookup?: ProcessLookup): void {
  if (!take(e.kind === 'file' ? `file:${e.op}` : e.kind)) return;
  shaped('tetragon', formatter(tetragon, lookup, () => new TetragonFormatter('tetragon', { lookup, hostNamespaces: hostNamespaces() })).line(e));
}

/** A policy event as `vigil run --output tetragon` writes it. */
export function shapedPolicyEvent(e: PolicyEvent, lookup?: ProcessLookup): void {
  if (!take(`policy:${e.hook.section}`)) return;
  shaped('tetragon', formatter(policy, lookup, () => new PolicyEventFormatter('tetragon', { lookup, hostNamespaces: hostNamespaces() })).json(e));
}

/** A flow record as `vigil observe --sensors flow,dns -o jsonpb` writes it. */
export function shapedFlow(rec: FlowRecord): void {
  if (!take(`flow:${rec.event_kind}:${rec.verdict}`)) return;
  shaped('hubble', flowToHubbleJson(rec));
}
