// The unprivileged battery: each command run as nobody with no capabilities
// (setpriv) ends with one line naming the capabilities it needs and how to
// run it (exit status 4), never a BpfError stack; `features` says it cannot
// probe and fails; status commands report the permission problem rather than
// "nothing applied", which they cannot know. Then with CAP_BPF alone: the
// line names exactly what is still missing.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { requireRoot } from './helpers.js';
import { repoPath } from '../src/util/paths.js';

const vigil = repoPath('bin', 'vigil');

/** Each command, and the capabilities its line must name. */
const COMMANDS: [string[], RegExp][] = [
  [['features'], /^vigil features: cannot probe the kernel: it needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN/],
  [['features', '--programs'], /^vigil features: cannot probe the kernel: it needs CAP_BPF/],
  [['observe', '--duration', '1'], /^vigil observe: needs CAP_BPF and CAP_PERFMON/],
  [['observe', '--sensors', 'flow,dns', '--duration', '1'], /^vigil observe: needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN/],
  [['top', 'syscalls', '--duration', '1'], /^vigil top: needs CAP_BPF and CAP_PERFMON/],
  [['top', 'files', '--duration', '1'], /^vigil top: needs CAP_BPF and CAP_PERFMON/],
  [['top', 'tcp', '--duration', '1'], /^vigil top: needs CAP_BPF and CAP_PERFMON/],
  [['profile', '--duration', '1'], /^vigil profile: needs CAP_BPF and CAP_PERFMON/],
  [['run', '--rules', repoPath('test', 'fixtures'), '--duration', '1'], /^vigil run: needs CAP_BPF and CAP_PERFMON/],
  [['firewall', 'attach', 'lo'], /^vigil firewall: needs CAP_BPF and CAP_NET_ADMIN/],
  [['firewall', 'detach', 'lo'], /^vigil firewall: needs CAP_BPF and CAP_NET_ADMIN/],
  [['firewall', 'block', '10.0.0.0/8'], /^vigil firewall: cannot read or change the firewall state \(pinned maps\): it needs CAP_BPF/],
  [['firewall', 'ratelimit', '--off'], /^vigil firewall: cannot read or change the firewall state .*: it needs CAP_BPF/],
  [['firewall', 'status'], /^vigil firewall: cannot read or change the firewall state .*: it needs CAP_BPF/],
  [['netpolicy', 'apply', '/dev/null'], /^vigil netpolicy: needs CAP_BPF and CAP_NET_ADMIN/],
  [['netpolicy', 'remove', '--all'], /^vigil netpolicy: needs CAP_BPF and CAP_NET_ADMIN/],
  [['netpolicy', 'status'], /^vigil netpolicy: cannot tell which policies are applied: it needs CAP_BPF/],
  [['netpolicy', 'watch', '--count', '1'], /^vigil netpolicy: cannot tell which policies are applied: it needs CAP_BPF/],
  [['bandwidth', 'attach', 'lo'], /^vigil bandwidth: needs CAP_BPF and CAP_NET_ADMIN/],
  [['bandwidth', 'set', '--cgroup', '/', '--rate', '1mbit'], /^vigil bandwidth: cannot read or change the bandwidth state \(pinned maps\): it needs CAP_BPF/],
  [['bandwidth', 'status'], /^vigil bandwidth: cannot read or change the bandwidth state .*: it needs CAP_BPF/],
  [['policy', 'compat', repoPath('policies')], /^vigil policy: reporting what loads on this kernel: it needs CAP_BPF and CAP_PERFMON/],
  [['agent', '--config', repoPath('test', 'fixtures', 'agent', 'agent.yaml')], /^vigil agent: needs CAP_BPF and CAP_PERFMON/],
  [['bpf', 'ls'], /^vigil bpf: needs CAP_SYS_ADMIN/],
  [['trace', repoPath('examples', 'read-sizes.bpf.c'), '--duration', '1'], /^vigil trace: needs CAP_BPF and CAP_PERFMON/],
  [['bpf', 'watch'], /^vigil bpf: needs CAP_BPF and CAP_PERFMON/],
];

function asNobody(argv: string[], caps = '-all'): { status: number | null; stdout: string; stderr: string } {
  const ambient = caps === '-all' ? [] : [`--ambient-caps=${caps}`];
  const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', `--inh-caps=${caps}`, ...ambient,
    process.execPath, vigil, ...argv], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, VIGIL_DEBUG: '' } });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the unprivileged battery (setpriv: nobody, no capabilities)', () => {
  before(() => {
    requireRoot();
    assert.ok(existsSync('/usr/bin/setpriv') || existsSync('/bin/setpriv'), 'setpriv (util-linux) is needed');
    // The checkout must be readable by nobody for this to mean anything.
    const r = asNobody(['--help']);
    assert.equal(r.status, 0, `nobody cannot run vigil at all: ${r.stderr}`);
  });

  for (const [argv, names] of COMMANDS) {
    test(`vigil ${argv.join(' ')}`, () => {
      const r = asNobody(argv);
      const what = `vigil ${argv.join(' ')}`;
      assert.equal(r.status, 4, `${what}: status ${r.status}\n${r.stderr}`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `${what}: one line, not:\n${r.stderr}`);
      assert.match(lines[0]!, names, what);
      assert.match(lines[0]!, /run it as root \(sudo vigil .*\) or with CAP_/, `${what}: says how to run it`);
      assert.doesNotMatch(r.stderr, /BpfError|Operation not permitted|^\s+at /m, what);
      assert.doesNotMatch(r.stdout, /no firewall is attached|no network policy is applied|\?/, `${what}: no guess on stdout`);
    });
  }

  test('with CAP_BPF alone, the line names only what is still missing', () => {
    const r = asNobody(['observe', '--duration', '1'], '+bpf');
    assert.equal(r.status, 4, r.stderr);
    assert.match(r.stderr, /^vigil observe: needs CAP_PERFMON, which this process does not have: .* or with CAP_BPF and CAP_PERFMON/);
    const fw = asNobody(['firewall', 'attach', 'lo'], '+bpf');
    assert.match(fw.stderr, /^vigil firewall: needs CAP_NET_ADMIN,/);
  });

  test('commands that need no kernel run as nobody', () => {
    const r = asNobody(['policy', 'list', '--builtin']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /exec-from-tmp/);
    // validate cannot ask the kernel: it checks schema and meaning, and says so, rather than report every hook
    // as unservable.
    const v = asNobody(['policy', 'validate', repoPath('policies')]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /^note: schema and meaning only \(as --no-kernel\): resolving the hooks on this kernel needs CAP_BPF and CAP_PERFMON/);
    assert.match(v.stdout, /^exec-from-tmp: ok \(.*not resolved on the kernel\)$/m);
    const bad = asNobody(['observe', '--duration', '-1']);
    assert.equal(bad.status, 2, 'a usage error is a usage error, privileged or not');
  });
});
