// The API reference is generated from the code (TypeDoc over the package's
// entry points, typedoc.json) in the test run, so it cannot rot: a public
// type that refers to one the package does not export, a broken {@link} or
// a stale @param fails here (warnings are errors).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoPath, repoRoot } from '../src/util/paths.js';

test('TypeDoc builds the API reference of every entry point without a warning', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'vigil-api-'));
  try {
    const r = spawnSync(process.execPath, [repoPath('node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out, '--logLevel', 'Warn'],
      { cwd: repoRoot(), encoding: 'utf8', timeout: 180_000 });
    assert.equal(r.status, 0, `typedoc:\n${r.stdout}${r.stderr}`);
    const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { exports: Record<string, unknown> };
    for (const key of Object.keys(pkg.exports)) {
      if (key === './package.json') continue;
      const page = path.join(out, 'modules', `${`vigil${key.slice(1)}`.replace(/\//g, '_')}.html`);
      assert.ok(existsSync(page), `${key} has a page (${page})`);
    }
    const inline = readFileSync(path.join(out, 'functions', 'vigil.compile.html'), 'utf8');
    assert.match(inline, /Compiles BPF C/);
    assert.ok(existsSync(path.join(out, 'classes', 'vigil.ObjectSpec.html')));
    assert.match(readFileSync(path.join(out, 'index.html'), 'utf8'), /Write your first program/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
