// Falco's official rules files (../shared/compat/falco): `vigil rules validate`
// loads all three; the stable file's fields are all provided; and the stable
// rules raise the alert of the same name for synthetic events shaped like
// Falco's event-generator actions, and no unrelated rule. Pure: no kernel.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RuleEngine } from '../src/rules/engine.js';
import type { RuleEvent, RuleProcess } from '../src/rules/event.js';
import { repoPath } from '../src/util/paths.js';
import { BASH, T0, execEvent, falcoRulesPath, openEvent, proc, testFields } from './rules-helpers.js';

const STABLE = falcoRulesPath('falco_rules.yaml');
const INCUBATING = falcoRulesPath('falco-incubating_rules.yaml');
const SANDBOX = falcoRulesPath('falco-sandbox_rules.yaml');

function vigil(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [repoPath('bin', 'vigil'), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function counts(stdout: string): { rules: number; enabled: number; disabled: number; skipped: number; macros: number; lists: number } {
  const m = /^rules: (\d+) \((\d+) enabled, (\d+) disabled, (\d+) skipped\)$/m.exec(stdout);
  const macros = /^macros: (\d+)$/m.exec(stdout);
  const lists = /^lists: (\d+)$/m.exec(stdout);
  assert.ok(m && macros && lists, stdout);
  return { rules: Number(m[1]), enabled: Number(m[2]), disabled: Number(m[3]), skipped: Number(m[4]), macros: Number(macros[1]), lists: Number(lists[1]) };
}

/** The "skipped rules" section: every entry names the rule and a reason. */
function skippedLines(stdout: string): string[] {
  const i = stdout.indexOf('skipped rules (');
  if (i < 0) return [];
  return stdout.slice(i).split('\n').slice(1).filter((l) => l.startsWith('  '));
}

describe('vigil rules validate on Falco\'s rules files', () => {
  test('the corpus is present beside the repository', () => {
    for (const f of [STABLE, INCUBATING, SANDBOX]) assert.ok(existsSync(f), `missing ${f}`);
  });

  test('falco_rules.yaml: 25 rules, 87 macros, 49 lists, no error', (t) => {
    const r = vigil('rules', 'validate', STABLE);
    t.diagnostic(r.stdout.trim().split('\n').slice(-6).join(' | '));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(counts(r.stdout), { rules: 25, enabled: 25, disabled: 0, skipped: 0, macros: 87, lists: 49 });
    assert.doesNotMatch(r.stdout, /error/);
    assert.match(r.stdout, /^OK: /m);
  });

  for (const [file, want] of [
    [INCUBATING, { rules: 31, enabled: 31, disabled: 0, macros: 82, lists: 54 }],
    [SANDBOX, { rules: 37, enabled: 25, disabled: 12, macros: 183, lists: 60 }],
  ] as const) {
    test(`${path.basename(file)} loads; each skipped rule is named with its reason`, (t) => {
      const r = vigil('rules', 'validate', file);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const c = counts(r.stdout);
      const skipped = skippedLines(r.stdout);
      t.diagnostic(`${path.basename(file)}: ${c.rules} rules (${c.enabled} enabled, ${c.disabled} disabled, ${c.skipped} skipped), ${c.macros} macros, ${c.lists} lists`);
      for (const s of skipped) t.diagnostic(`skipped: ${s.trim()}`);
      assert.equal(skipped.length, c.skipped);
      for (const s of skipped) assert.match(s, /^ {2}\S+:\d+:\d+: rule '[^']+': \S/);
      assert.deepEqual({ rules: c.rules, enabled: c.enabled, disabled: c.disabled, macros: c.macros, lists: c.lists }, want);
    });
  }

  test('the three files load together, in order (later ones redefine earlier items)', () => {
    const r = vigil('rules', 'validate', '--quiet', STABLE, INCUBATING, SANDBOX);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(counts(r.stdout).rules >= 25 + 31);
  });

  test('errors name file:line:column and exit 1', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-rules-cli-'));
    try {
      const f = path.join(dir, 'bad.yaml');
      writeFileSync(f, '- rule: Bad\n  desc: d\n  condition: >\n    evt.type = execve\n    and proc.nmae = sh\n  output: o\n  priority: INFO\n');
      const r = vigil('rules', 'validate', f);
      assert.equal(r.status, 1);
      assert.match(r.stdout, new RegExp(`${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:5:9: error: rule 'Bad': filter_check called with nonexistent field proc\\.nmae`));
      assert.match(r.stdout, /^FAILED: 1 error$/m);
      const missing = vigil('rules', 'validate', path.join(dir, 'nope.yaml'));
      assert.equal(missing.status, 1);
      assert.match(missing.stdout, /nope\.yaml:1:1: error: cannot read rules file: ENOENT/);
      assert.equal(vigil('rules', 'validate').status, 2);
      assert.equal(vigil('rules', 'frobnicate', f).status, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the stable rules on synthetic events', () => {
  const engine = RuleEngine.load([STABLE], { fields: testFields(), ruleMatching: 'all' });

  test("every field falco_rules.yaml uses is provided (the issue's 64, counted from the file)", (t) => {
    const fields = [...new Set([...engine.report.fields].map((f) => f.replace(/\[.*\]$/, '')))].sort();
    t.diagnostic(`${fields.length} fields: ${fields.join(' ')}`);
    assert.equal(fields.length, 64);
    assert.equal(engine.skipped.length, 0);
    assert.ok(!engine.warnings.some((w) => w.code === 'LOAD_UNSUPPORTED_FIELD'));
  });

  test('the kernel is asked only for the event types the rules match', () => {
    assert.deepEqual(engine.interestingEventTypes(), {
      all: false,
      types: ['connect', 'dup', 'dup2', 'dup3', 'execve', 'execveat', 'finit_module', 'init_module', 'link', 'linkat', 'open', 'openat', 'openat2', 'ptrace', 'sendmsg', 'sendto', 'socket', 'symlink', 'symlinkat'],
      except: [],
    });
  });

  const nginx: RuleProcess = { pid: 300, name: 'nginx', exe: 'nginx', exepath: '/usr/sbin/nginx', args: ['-g', 'daemon off;'], uid: 33, gid: 33, startTimeNs: T0 - 600_000_000_000n, parent: BASH };
  const container = { id: '3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708', imageRepository: 'docker.io/library/alpine' };
  const scenarios: [string, RuleEvent, string[]][] = [
    ['ReadSensitiveFileUntrusted', openEvent(proc({ name: 'cat', args: ['/etc/shadow'] }), '/etc/shadow'), ['Read sensitive file untrusted']],
    ['ReadSensitiveFileTrustedAfterStartup', openEvent(nginx, '/etc/shadow'), ['Read sensitive file trusted after startup', 'Read sensitive file untrusted']],
    ['DirectoryTraversalMonitoredFileRead', {
      ...openEvent(proc({ name: 'python3', parent: nginx }), '/etc/shadow'),
      fd: { num: 3, type: 'file', name: '/etc/shadow', nameRaw: '/var/www/../../etc/shadow' },
    }, ['Directory traversal monitored file read', 'Read sensitive file untrusted']],
    ['RunShellUntrusted', execEvent(proc({ name: 'sh', args: ['-c', 'id'], parent: nginx })), ['Run shell untrusted']],
    ['SearchPrivateKeysOrPasswords', execEvent(proc({ name: 'grep', args: ['-r', 'BEGIN RSA PRIVATE', '/'] })), ['Search Private Keys or Passwords']],
    ['FindAwsCredentials', execEvent(proc({ name: 'find', args: ['/', '-name', '.aws/credentials'] })), ['Find AWS Credentials']],
    ['ClearLogActivities', openEvent(proc({ name: 'truncate' }), '/var/log/syslog', 0o1001), ['Clear Log Activities']],
    ['RemoveBulkDataFromDisk', execEvent(proc({ name: 'shred', args: ['-u', '/tmp/data'] })), ['Remove Bulk Data from Disk']],
    ['CreateSymlinkOverSensitiveFiles', { type: 'symlinkat', timeNs: T0, res: 0, process: proc({ name: 'ln' }), args: { target: '/etc/shadow', linkdirfd: -100, linkpath: '/tmp/shadow' } }, ['Create Symlink Over Sensitive Files']],
    ['CreateHardlinkOverSensitiveFiles', { type: 'linkat', timeNs: T0, res: 0, process: proc({ name: 'ln' }), args: { olddir: -100, oldpath: '/etc/shadow', newdir: -100, newpath: '/tmp/shadow', flags: 0 } }, ['Create Hardlink Over Sensitive Files']],
    ['ExecutionFromDevShm', execEvent(proc({ name: 'payload', exe: '/dev/shm/payload', exepath: '/dev/shm/payload' })), ['Execution from /dev/shm']],
    ['FilelessExecutionViaMemfdCreate', execEvent(proc({ name: '3', exe: '/dev/fd/3', exepath: 'memfd:payload (deleted)', exeFromMemfd: true })), ['Fileless execution via memfd_create']],
    ['PtraceAttachedToProcess', { type: 'ptrace', timeNs: T0, res: 0, process: proc({ name: 'gdb' }), args: { request: 'PTRACE_ATTACH', pid: 4242 } }, ['PTRACE attached to process']],
    ['PtraceAntiDebugAttempt', { type: 'ptrace', timeNs: T0, res: 0, process: proc({ name: 'crackme' }), args: { request: 'PTRACE_TRACEME', pid: 0 } }, ['PTRACE anti-debug attempt']],
    ['DisallowedSSHConnectionNonStandardPort', {
      type: 'connect', timeNs: T0, res: -115, process: proc({ name: 'ssh', exe: 'ssh', exepath: '/usr/bin/ssh' }),
      fd: { num: 3, type: 'ipv4', l4proto: 'tcp', local: { ip: '100.64.0.2', port: 40000 }, remote: { ip: '203.0.113.7', port: 443 } },
    }, ['Disallowed SSH Connection Non Standard Port']],
    ['LinuxKernelModuleInjection', { type: 'init_module', timeNs: T0, res: -1, process: proc({ name: 'insmod', uid: 0, capEffective: (1n << 41n) - 1n }), container }, ['Linux Kernel Module Injection Detected']],
  ];
  for (const [name, ev, want] of scenarios) {
    test(`${name} raises ${want[0]} and nothing unrelated`, () => {
      assert.deepEqual(engine.evaluate(ev).map((a) => a.rule).sort(), [...want].sort());
    });
  }

  test('benign activity raises nothing', () => {
    const benign: RuleEvent[] = [
      openEvent(proc({ name: 'cat' }), '/etc/hostname'),
      openEvent(proc({ name: 'sudo' }), '/etc/shadow'),
      openEvent(proc({ name: 'vim' }), '/var/log/syslog', 0),
      execEvent(proc({ name: 'ls', args: ['-la'] })),
      execEvent(proc({ name: 'grep', args: ['-r', 'TODO', '.'] })),
      { type: 'connect', timeNs: T0, res: 0, process: proc({ name: 'ssh', exepath: '/usr/bin/ssh' }), fd: { num: 3, type: 'ipv4', l4proto: 'tcp', local: { ip: '10.0.0.2', port: 40000 }, remote: { ip: '10.0.0.9', port: 443 } } },
      { type: 'ptrace', timeNs: T0, res: 0, process: proc({ name: 'strace' }), args: { request: 'PTRACE_GETREGS', pid: 5 } },
      { type: 'init_module', timeNs: T0, res: 0, process: proc({ name: 'modprobe', uid: 0, capEffective: (1n << 41n) - 1n }) },
    ];
    for (const ev of benign) assert.deepEqual(engine.evaluate(ev).map((a) => a.rule), [], JSON.stringify(ev, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  });
});
