// Verifier headroom on the running kernel: every program of every object in
// bpf/, loaded alone in its heaviest configuration (every load-time switch
// that adds code turned on), verifies in at most 200,000 processed
// instructions, a fifth of the verifier's limit, so that another kernel build,
// clang or libbpf cannot tip it over. The table is printed, and so is the
// engine with every built-in policy at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { HEADROOM_BUDGET, bpfObjects, formatHeadroom, measureAll } from '../src/bpf/headroom.js';
import { PolicyEngine } from '../src/policy/engine.js';
import { loadPolicyFiles, formatDiagnostic } from '../src/policy/loader.js';
import { compilePolicies } from '../src/policy/hooks.js';
import { builtinPolicyDir } from '../src/policy/builtin.js';
import { requireRoot, tracefs } from './helpers.js';

requireRoot();
tracefs();

/** Objects whose programs are feature probes: refusing is their answer, not a defect. */
const PROBE_OBJECTS = new Set(['probes', 'probe_helpers', 'probe_kfuncs']);
/** Program kinds a kernel may lack (the feature probe says so, and the row names it). */
const OPTIONAL = /^(fentry|fexit|lsm|kprobe|kretprobe|kprobe\.multi)/;

test(`every program verifies within ${HEADROOM_BUDGET} instructions, heaviest configuration`, async (t) => {
  const files = bpfObjects();
  assert.ok(files.some((f) => path.basename(f) === 'policy.bpf.o'), 'the policy engine is among the objects');
  const rows = await measureAll(files);
  for (const line of formatHeadroom(rows)) t.diagnostic(line);
  const over: string[] = [];
  for (const r of rows) {
    const name = `${r.object}/${r.program}`;
    if (r.status === 'unsupported') {
      // A kind this kernel may lack, or a hook point it lacks (a tp_btf tracepoint newer than it).
      // Or a build calling a kfunc it lacks (NAME.direct.bpf.o; the portable build beside it is measured).
      if (/^calls .*, which this kernel's BTF lacks$/.test(r.reason ?? '')) {
        assert.match(r.object, /(^probe_kfuncs|\.direct)$/, `${name}: only the kfunc builds may need a kfunc`);
        continue;
      }
      if (!/^this kernel has no (tracepoint|kernel function|LSM hook) /.test(r.reason ?? '')) {
        assert.match(r.section, OPTIONAL, `${name}: only optional program kinds may be unsupported (${r.reason ?? ''})`);
      }
      continue;
    }
    if (PROBE_OBJECTS.has(r.object) && r.status !== 'loaded') continue;
    assert.equal(r.status, 'loaded', `${name}: ${r.reason ?? ''}`);
    assert.ok(r.verifiedInsns !== undefined && r.verifiedInsns > 0, `${name}: verified_insns read back`);
    if (r.verifiedInsns! > HEADROOM_BUDGET) over.push(`${name}: ${r.verifiedInsns}`);
  }
  assert.deepEqual(over, [], `programs over the budget of ${HEADROOM_BUDGET} verified instructions`);
  // The engine's main programs are all measured (none skipped on this kernel).
  for (const p of ['policy_tp', 'policy_sys_exit', 'policy_uprobe', 'policy_raw_tp', 'policy_connect4']) {
    assert.ok(rows.some((r) => r.program === p && r.status === 'loaded'), `${p} loaded`);
  }
});

test('the engine loads every built-in policy at once', async (t) => {
  const r = loadPolicyFiles([builtinPolicyDir()]);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  const compiled = await compilePolicies(r.policies);
  assert.ok(compiled.length >= 11, `${compiled.length} built-in policies`);
  const t0 = process.hrtime.bigint();
  const engine = await PolicyEngine.start({ onEvent: () => {} });
  try {
    for (const c of compiled) await engine.add(c);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    t.diagnostic(`${compiled.length} built-in policies loaded together in ${ms.toFixed(0)} ms ` +
      `(hooks: ${compiled.map((c) => c.hooks.map((h) => h.served.hook).join(',')).join('; ')})`);
    assert.deepEqual(engine.names.sort(), compiled.map((c) => c.name).sort());
  } finally {
    engine.close();
  }
});
