// Tetragon's example policies (../shared/compat/tetragon) on this kernel: at
// least 60% load (natively or with portable hooks), each loaded into the
// kernel without attaching (the verifier decides), and every other one is
// rejected with a reason that names file:line:column and the field. Run by
// `npm run test:shared`, which needs ../shared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { compatReport, formatCompatReport } from '../src/policy/compat.js';
import { formatDiagnostic } from '../src/policy/loader.js';
import { liveKernel } from '../src/policy/hooks.js';
import { PolicyEngine } from '../src/policy/engine.js';
import { repoPath } from '../src/util/paths.js';

const COMPAT = repoPath('..', 'shared', 'compat', 'tetragon');

test('compat: >= 60% of Tetragon\'s examples load here; every rejection has a precise reason', async () => {
  assert.ok(existsSync(COMPAT), `the compat corpus is expected at ${COMPAT}`);
  const engine = await PolicyEngine.start({ onEvent: () => {} });
  let r: Awaited<ReturnType<typeof compatReport>>;
  try {
    r = await compatReport([COMPAT], liveKernel(), { engine });
  } finally {
    engine.close();
  }
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

