// Every command answers an unknown flag with a one-line usage error and exit
// status 2: never a stack trace, never success. The flag is refused while the
// arguments are parsed, before anything is loaded into the kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { repoPath } from '../src/util/paths.js';

const vigil = repoPath('bin', 'vigil');

const COMMANDS = [
  ['features'], ['observe'], ['run'], ['profile'], ['top', 'syscalls'], ['rules', 'validate'],
  ['firewall', 'attach'], ['firewall', 'detach'], ['firewall', 'block'], ['firewall', 'unblock'], ['firewall', 'allow'],
  ['firewall', 'unallow'], ['firewall', 'ratelimit'], ['firewall', 'status'],
  ['netpolicy', 'apply'], ['netpolicy', 'remove'], ['netpolicy', 'status'], ['netpolicy', 'watch'],
  ['policy', 'validate'], ['policy', 'compat'],
];

test('an unknown flag is a one-line usage error (status 2) for every command', () => {
  for (const argv of COMMANDS) {
    const r = spawnSync(process.execPath, [vigil, ...argv, '--no-such-flag-xyz'], { encoding: 'utf8', timeout: 30_000 });
    const what = argv.join(' ');
    assert.equal(r.status, 2, `${what}: status ${r.status}, stderr ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^vigil ${argv[0]}: .*--no-such-flag-xyz`), what);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line, not a stack trace:\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, what);
  }
});

test('a malformed VIGIL_NODE_LABELS is a one-line error (status 2) before anything is loaded', () => {
  const r = spawnSync(process.execPath, [vigil, 'observe', '--sensors', 'exec', '--duration', '1'],
    { encoding: 'utf8', timeout: 30_000, env: { ...process.env, VIGIL_NODE_LABELS: 'zone=a,nolabel' } });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, 'vigil: VIGIL_NODE_LABELS: expected key=value, got "nolabel"\n');
});
