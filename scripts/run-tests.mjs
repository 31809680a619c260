// Runs the compiled test suite with node's test runner, one file at a time
// (real-kernel tests share tracepoints, cgroups and namespaces). Three tiers:
//
//   node scripts/run-tests.mjs [NAME...]           the project's own tests (npm test):
//       every *.test.js but the compat ones; needs root and the kernel, not ../shared
//   node scripts/run-tests.mjs --compat [NAME...]  only *.shared.test.js (npm run test:compat;
//       --shared is the old name): the suites over the compatibility corpus in
//       ../shared/compat (Falco's rules, Tetragon's examples), which a plain clone does not have
//   node scripts/run-tests.mjs --unit [NAME...]    the pure tier (npm run test:unit): the files
//       in UNIT below, which need no root and no kernel (parsers, compilers, formatters, the
//       CLI's argument checks); they pass as any user, e.g. as nobody with no capabilities
//
// NAME is a substring of the file names to run.
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

/**
 * The pure tier. A file belongs here when every test in it runs, and can
 * fail, without root, capabilities or BPF: checked by running the tier as
 * nobody (`setpriv --reuid=nobody --regid=nogroup --clear-groups
 * --inh-caps=-all npm run test:unit`). Files that would only skip without
 * root (the benchmark smoke tests) do not belong.
 */
const UNIT = [
  'bandwidth-pure', 'cli-privileges', 'cli-usage', 'event-format', 'file-pure', 'kernel', 'netpolicy-spec', 'network-pure',
  'output-tetragon', 'policy-loader', 'policy-semantics',
  'profile-format', 'reliability-cli', 'rules-compile', 'rules-grammar', 'rules-live', 'rules-loader', 'rules-output',
  'symbols-unit', 'syscalls-pure', 'agent-config', 'telemetry-pure', 'field-mask', 'hardening-pure', 'l7-pure', 'l7-h2-kafka-pure', 'l7-decode', 'store', 'bpf-watch-pure', 'pod-filter', 'pod-scope', 'deploy',
  'signing-pure', 'dwarf-pure',
];

const root = path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..');
const dir = path.join(root, 'dist', 'test');
const args = process.argv.slice(2);
const compat = args.includes('--compat') || args.includes('--shared');
const unit = args.includes('--unit');
const only = args.filter((a) => !a.startsWith('--'));
if (compat && unit) {
  console.error('run-tests: --compat and --unit are different tiers; give one');
  process.exit(2);
}
if (!existsSync(dir)) {
  console.error('run-tests: dist/test is missing; build first (npm run build, or npm run setup as root)');
  process.exit(1);
}
const corpus = path.join(root, '..', 'shared', 'compat');
if (compat && !existsSync(corpus)) {
  console.error(`run-tests: the compat tier reads the compatibility corpus at ${corpus}, which is not there ` +
    '(a plain clone has none: npm test runs the project\'s own tests without it)');
  process.exit(1);
}
const all = readdirSync(dir).filter((f) => f.endsWith('.test.js'));
if (unit) {
  const missing = UNIT.filter((u) => !all.includes(`${u}.test.js`));
  if (missing.length) {
    console.error(`run-tests: unit-tier files not found in dist/test: ${missing.join(', ')} (renamed? update UNIT)`);
    process.exit(1);
  }
}
const files = all
  .filter((f) => (unit ? UNIT.includes(f.slice(0, -'.test.js'.length)) : f.endsWith('.shared.test.js') === compat))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => path.join(dir, f));
if (files.length === 0) {
  console.error('run-tests: no test files match');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
