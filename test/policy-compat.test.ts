// Compatibility reports on this kernel, on policies written here: each policy
// is loaded into the kernel without attaching (the verifier decides), and
// reported loaded natively, loaded on portable hooks (naming the difference
// in meaning) or rejected with its reason and position. The built-in library
// (policies/) validates and resolves here, every policy with a description.
// (Tetragon's own examples: policy-compat.shared.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { compatReport, formatCompatReport } from '../src/policy/compat.js';
import { builtinPolicyFiles } from '../src/policy/builtin.js';
import { loadPolicyFiles, formatDiagnostic } from '../src/policy/loader.js';
import { liveKernel, resolvePolicy } from '../src/policy/hooks.js';
import { PolicyEngine } from '../src/policy/engine.js';
import { probeAttach } from '../src/bpf/features.js';

const doc = (name: string, spec: string): string =>
  `apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: ${name}\nspec:\n${spec}`;

test('compat loads each policy into the kernel: loaded, portable (with the difference), rejected (with the reason)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vigil-compat-'));
  const engine = await PolicyEngine.start({ onEvent: () => {} });
  try {
    writeFileSync(path.join(dir, 'a-tracepoint.yaml'), doc('a-tp', [
      '  tracepoints:', '  - subsystem: syscalls', '    event: sys_enter_ptrace',
      '    args:', '    - index: 5', '      type: int64', ''].join('\n')));
    writeFileSync(path.join(dir, 'b-kfunc.yaml'), doc('b-kfunc', [
      '  kprobes:', '  - call: security_file_open', '    syscall: false',
      '    args:', '    - index: 0', '      type: file', ''].join('\n')));
    writeFileSync(path.join(dir, 'c-override.yaml'), doc('c-override', [
      '  tracepoints:', '  - subsystem: syscalls', '    event: sys_enter_ptrace',
      '    args:', '    - index: 5', '      type: int64',
      '    selectors:', '    - matchActions:', '      - action: Override', '        argError: -1', ''].join('\n')));
    const r = await compatReport([dir], liveKernel(), { engine });
    const by = new Map(r.entries.map((e) => [path.basename(e.file), e]));
    assert.equal(by.get('a-tracepoint.yaml')?.status, 'loaded', formatCompatReport(r, dir).join('\n'));
    const kfunc = by.get('b-kfunc.yaml')!;
    const kprobe = await probeAttach('kprobe');
    if (kprobe.available) {
      assert.equal(kfunc.status, 'loaded');
    } else {
      assert.equal(kfunc.status, 'portable');
      assert.match(kfunc.portable.join(' '), /security_file_open -> portable:/);
      assert.ok(kfunc.policies[0]!.hooks[0]!.served.note!.includes('Differences'), 'the difference in meaning is named');
    }
    const rej = by.get('c-override.yaml')!;
    assert.equal(rej.status, 'rejected');
    assert.match(formatDiagnostic(rej.reasons[0]!), /c-override\.yaml:\d+:\d+: .*Override/);
    // The same kernel function, portable hooks forced: portable whatever the kernel has.
    const forced = await compatReport([path.join(dir, 'b-kfunc.yaml')], liveKernel({ forcePortable: true }), { engine });
    assert.equal(forced.entries[0]!.status, 'portable');
    assert.match(formatCompatReport(r, dir).at(-1)!, /^3 files: /);
  } finally {
    engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the built-in library validates and resolves on this kernel', async () => {
  const files = builtinPolicyFiles();
  assert.ok(files.length >= 10, `expected the built-in policies, found ${files.length}`);
  const r = loadPolicyFiles(files);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  assert.deepEqual(r.warnings.map(formatDiagnostic), []);
  const names = r.policies.map((p) => p.name);
  for (const want of ['sensitive-file-reads', 'crypto-mining-ports', 'container-escape', 'privilege-escalation', 'reverse-shell',
    'bpf-program-loads', 'kernel-module-loads', 'ptrace-attach', 'fileless-exec', 'exec-from-tmp', 'system-file-writes']) {
    assert.ok(names.includes(want), `missing built-in ${want}`);
  }
  for (const p of r.policies) {
    assert.ok(p.description && p.description.length > 10, `${p.name} has a description`);
    const res = await resolvePolicy(p);
    assert.deepEqual(res.diagnostics.map(formatDiagnostic), [], p.name);
    // Hooks, or (kernel-module-loads on a kernel built without modules) every hook skipped by its ignore flag, said.
    const { hooks, skipped } = res.policy!;
    assert.ok(hooks.length > 0 || (skipped.length > 0 && skipped.every((sk) => /ignore\.callNotFound/.test(sk.reason))),
      `${p.name}: ${JSON.stringify(skipped.map((sk) => sk.reason))}`);
  }
});
