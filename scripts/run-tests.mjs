// Runs the compiled test suite with node's test runner, one file at a time
// (real-kernel tests share tracepoints, cgroups and namespaces).
//
//   node scripts/run-tests.mjs [NAME...]           every *.test.js but the shared ones
//   node scripts/run-tests.mjs --shared [NAME...]  only *.shared.test.js: the suites
//       over the compatibility corpus in ../shared (Falco's rules, Tetragon's
//       examples), which a plain clone does not have (npm run test:shared)
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const dir = path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..', 'dist', 'test');
const args = process.argv.slice(2);
const shared = args.includes('--shared');
const only = args.filter((a) => a !== '--shared');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.js') && f.endsWith('.shared.test.js') === shared)
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => path.join(dir, f));
if (files.length === 0) {
  console.error('no test files found in dist/test');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
