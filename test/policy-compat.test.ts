// Tetragon's example policies (../shared/compat/tetragon) on this kernel: at
// least 60% load (natively or with portable hooks) and every other one is
// rejected with a reason that names file:line:column and the field. The
// built-in library (policies/) validates and resolves here, every policy
// with a description.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { compatReport, formatCompatReport } from '../src/policy/compat.js';
import { builtinPolicyFiles } from '../src/policy/builtin.js';
import { loadPolicyFiles, formatDiagnostic } from '../src/policy/loader.js';
import { resolvePolicy } from '../src/policy/hooks.js';
import { repoPath } from '../src/util/paths.js';

const COMPAT = repoPath('..', 'shared', 'compat', 'tetragon');

test('compat: >= 60% of Tetragon\'s examples load here; every rejection has a precise reason', async () => {
  assert.ok(existsSync(COMPAT), `the compat corpus is expected at ${COMPAT}`);
  const r = await compatReport([COMPAT]);
  const { total, loaded, portable, rejected } = r.counts;
  assert.ok(total >= 60, `expected the 71 example files, found ${total}`);
  assert.equal(loaded + portable + rejected, total);
  const ratio = (loaded + portable) / total;
  assert.ok(ratio >= 0.6, `only ${loaded + portable}/${total} load:\n${formatCompatReport(r, COMPAT).join('\n')}`);
  for (const e of r.entries) {
    if (e.status !== 'rejected') {
      assert.ok(e.policies.length > 0 && e.policies.every((p) => p.hooks.length > 0), e.file);
      if (e.status === 'portable') assert.ok(e.portable.length > 0 && e.portable.every((x) => / -> portable:/.test(x)), e.file);
      continue;
    }
    assert.ok(e.reasons.length > 0, `${e.file}: rejected without a reason`);
    for (const d of e.reasons) {
      assert.equal(d.pos.file, e.file, 'the reason names the file');
      assert.ok(d.pos.line >= 1 && d.pos.col >= 1);
      assert.ok(d.path.startsWith('spec') || d.path.startsWith('metadata'), `${formatDiagnostic(d)}: names the field`);
      assert.ok(d.message.length > 20, `${formatDiagnostic(d)}: says why`);
    }
  }
  const lines = formatCompatReport(r, COMPAT);
  assert.match(lines.at(-1)!, new RegExp(`^${total} files: ${loaded} loaded natively, ${portable} loaded with portable hooks, ${rejected} rejected; `));
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
    assert.ok(res.policy!.hooks.length > 0);
  }
});
