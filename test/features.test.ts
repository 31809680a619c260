// Feature probes against the running kernel. Assertions check the probes
// against independent evidence from the kernel (PMUs in sysfs, tracefs,
// loading the same program again, the kernel release) rather than against a
// list written for one machine.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  ATTACH_NAMES, HELPER_NAMES, KFUNC_NAMES, MAP_TYPE_NAMES, PROGRAM_KIND_NAMES, PROGRAM_TYPE_NAMES, kernelInfo, probeAll, probeAttach,
  requireFeature, type AttachName, type FeatureReport, type FeatureResult,
} from '../src/bpf/features.js';
import { ObjectSpec } from '../src/bpf/object.js';
import { Btf } from '../src/bpf/btf.js';
import { cgroup2, ensureTracefs, mountTable } from '../src/bpf/mounts.js';
import { bpfObjectPath, repoPath } from '../src/util/paths.js';

const root = process.geteuid?.() === 0;

/** Descriptors that belong to BPF objects and perf events. */
function bpfFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (/bpf|perf_event/.test(target)) out.push(`${fd} -> ${target}`);
    } catch { /* closed while listing (the readdir's own fd) */ }
  }
  return out;
}

function kernelAtLeast(major: number, minor: number): boolean {
  const [a = 0, b = 0] = os.release().split(/[.-]/).map((x) => Number.parseInt(x, 10));
  return a > major || (a === major && b >= minor);
}

function assertResult(name: string, r: FeatureResult | undefined): asserts r is FeatureResult {
  assert.ok(r, `${name} missing`);
  assert.ok(['available', 'unsupported', 'unknown'].includes(r.status), `${name}: status ${r.status}`);
  assert.equal(r.available, r.status === 'available', `${name}: available agrees with status`);
  assert.equal(typeof r.reason, 'string');
  assert.ok(r.reason.length > 0, `${name}: empty reason`);
}

let report: FeatureReport;
let fdsBefore: string[];
let fdsAfter: string[];

before(async () => {
  fdsBefore = bpfFds();
  report = await probeAll();
  fdsAfter = bpfFds();
});

describe('probeAll', () => {
  test('returns the documented shape', () => {
    assert.deepEqual(Object.keys(report).sort(),
      ['attach', 'bpf_prog_types', 'helpers', 'kernel', 'kfuncs', 'map_types', 'mounts', 'program_types', 'signing']);
    // Signatures: Vigil's own check is the active one; the kernel's is probed to a definite answer.
    assert.equal(report.signing.active, 'user-space');
    assert.notEqual(report.signing.kernel.status, 'unknown', report.signing.kernel.reason);
    assert.ok(report.signing.trusted_keys.length > 0, report.signing.problems.join('; '));
    assert.deepEqual(Object.keys(report.attach), [...ATTACH_NAMES]);
    assert.deepEqual(Object.keys(report.program_types), [...PROGRAM_KIND_NAMES]);
    assert.deepEqual(Object.keys(report.bpf_prog_types), [...PROGRAM_TYPE_NAMES]);
    assert.deepEqual(Object.keys(report.helpers), [...HELPER_NAMES]);
    assert.deepEqual(Object.keys(report.kfuncs), [...KFUNC_NAMES]);
    assert.deepEqual(Object.keys(report.map_types), [...MAP_TYPE_NAMES]);
    for (const section of ['attach', 'program_types', 'bpf_prog_types', 'helpers', 'kfuncs', 'map_types'] as const) {
      for (const [name, r] of Object.entries(report[section])) assertResult(`${section}.${name}`, r);
    }
    for (const name of ['tracefs', 'bpffs', 'cgroup2'] as const) {
      const m = report.mounts[name];
      assert.ok(['found', 'mounted', 'missing'].includes(m.state), `${name}: ${m.state}`);
      assert.equal(m.path === null, m.state === 'missing', `${name}: a path exactly when not missing`);
    }
  });

  test('closes every descriptor it opened and leaves no scratch state', () => {
    assert.deepEqual(fdsAfter, fdsBefore);
    assert.equal(existsSync(`${cgroup2().path ?? '/nonexistent'}/vigil-probe-${process.pid}`), false);
    assert.equal(mountTable().some((m) => m.fstype === 'securityfs' && m.target.includes('vigil-securityfs-')), false);
  });

  test('as root, every probe can tell', () => {
    assert.ok(root, 'the real-kernel tests run as root');
    for (const section of ['attach', 'program_types', 'bpf_prog_types', 'helpers', 'kfuncs', 'map_types'] as const) {
      for (const [name, r] of Object.entries(report[section])) {
        assert.notEqual(r.status, 'unknown', `${section}.${name}: ${r.reason}`);
      }
    }
  });

  test('a kfunc is available exactly where the kernel\'s BTF has the function', () => {
    const btf = Btf.fromFile('/sys/kernel/btf/vmlinux');
    for (const name of KFUNC_NAMES) {
      const has = btf.byName(name, 'FUNC') !== undefined;
      assert.equal(report.kfuncs[name]!.status, has ? 'available' : 'unsupported', `${name}: ${report.kfuncs[name]!.reason}`);
    }
  });

  test('memoises: a second call asks the kernel nothing and answers the same', async () => {
    const again = await probeAll();
    assert.deepEqual(again, report);
    assert.equal(await probeAttach('tracepoint'), await probeAttach('tracepoint'));
  });
});

describe('kernel', () => {
  test('release, BTF, JIT, lockdown, ring buffer', () => {
    const k = kernelInfo();
    assert.equal(k.release, os.release());
    assert.equal(k.btf, existsSync('/sys/kernel/btf/vmlinux'));
    if (existsSync('/proc/sys/net/core/bpf_jit_enable')) assert.equal(typeof k.jit, 'boolean');
    assert.ok(root, 'the real-kernel tests run as root');
    // Root can always read securityfs (mounted, or mounted for a moment by Vigil).
    assert.match(k.lockdown, /^(none|integrity|confidentiality)\b/);
    assert.equal(k.ringbuf, report.map_types.ringbuf?.available);
    assert.equal(k.ringbuf, kernelAtLeast(5, 8));
  });
});

describe('attach kinds agree with the kernel', () => {
  const attach = (name: AttachName): FeatureResult => report.attach[name];

  test('kprobe is available exactly when the kernel has a kprobe PMU', () => {
    const pmu = existsSync('/sys/bus/event_source/devices/kprobe');
    assert.equal(attach('kprobe').available, pmu, attach('kprobe').reason);
    if (!pmu) assert.match(attach('kprobe').reason, /kprobe PMU/);
  });

  test('uprobe is available exactly when the kernel has an uprobe PMU', () => {
    assert.equal(attach('uprobe').available, existsSync('/sys/bus/event_source/devices/uprobe'), attach('uprobe').reason);
  });

  test('perf_event is available exactly when the kernel has the software PMU', () => {
    assert.equal(attach('perf_event').available, existsSync('/sys/bus/event_source/devices/software'),
      attach('perf_event').reason);
  });

  test('tracepoint is available exactly when tracefs has the event', () => {
    const tracefs = ensureTracefs();
    const has = !!tracefs.path && existsSync(`${tracefs.path}/events/syscalls/sys_enter_getpid`);
    assert.equal(attach('tracepoint').available, has, attach('tracepoint').reason);
  });

  test('BTF-based kinds need kernel BTF', () => {
    if (!existsSync('/sys/kernel/btf/vmlinux')) {
      for (const k of ['tp_btf', 'fentry', 'fexit', 'lsm', 'iter'] as const) assert.equal(attach(k).available, false, k);
    } else {
      assert.equal(attach('tp_btf').available, kernelAtLeast(5, 5), attach('tp_btf').reason);
    }
  });

  test('program types every kernel since 4.17 has are available', () => {
    for (const k of ['xdp', 'tc', 'cgroup_skb', 'cgroup_sock_addr', 'socket_filter', 'raw_tracepoint'] as const) {
      assert.equal(attach(k).available, kernelAtLeast(4, 17), `${k}: ${attach(k).reason}`);
    }
  });

  test('fentry, fexit and lsm agree with loading the same program again', async () => {
    const spec = ObjectSpec.fromFile(bpfObjectPath('probes'));
    for (const [kind, program] of [['fentry', 'probe_fentry'], ['fexit', 'probe_fexit'], ['lsm', 'probe_lsm']] as const) {
      let loaded = false;
      try {
        (await spec.load({ programs: [program] })).close();
        loaded = true;
      } catch { /* refused */ }
      if (!loaded) assert.equal(attach(kind).status, 'unsupported', `${kind}: ${attach(kind).reason}`);
      if (loaded && kind !== 'lsm') assert.equal(attach(kind).available, true, `${kind}: ${attach(kind).reason}`);
    }
  });

  test('fentry and fexit stand or fall together', () => {
    assert.equal(attach('fentry').status, attach('fexit').status, `${attach('fentry').reason} / ${attach('fexit').reason}`);
  });

  test('lsm is available only when BPF LSM is active', () => {
    if (attach('lsm').available) assert.ok(kernelInfo().lsm?.split(',').includes('bpf'));
  });

  test('what is missing says why, with the errno or the missing piece and who has it', () => {
    for (const name of ATTACH_NAMES) {
      const r = attach(name);
      if (r.status !== 'unsupported') continue;
      assert.match(r.reason, /needs Linux >= \d+\.\d+/, `${name}: ${r.reason}`);
      assert.match(r.reason, /E[A-Z]+|verifier|not active/, `${name}: ${r.reason}`);
    }
  });

  test('kprobe.multi and bpf_override_return follow their kernel pieces', () => {
    if (!attach('kprobe').available) {
      assert.equal(report.helpers.bpf_override_return?.available, false, report.helpers.bpf_override_return?.reason);
    }
    if (!kernelAtLeast(5, 18)) assert.equal(attach('kprobe_multi').available, false);
  });
});

describe('requireFeature', () => {
  test('true when available, skips when unsupported, throws when the probe cannot tell', async () => {
    for (const name of ATTACH_NAMES) {
      const r = await probeAttach(name);
      const skipped: string[] = [];
      const t = { skip: (msg: string) => { skipped.push(msg); } };
      if (r.status === 'unknown') {
        await assert.rejects(requireFeature(t, name), /could not tell/);
        continue;
      }
      const ok = await requireFeature(t, name);
      assert.equal(ok, r.available, name);
      assert.equal(skipped.length, r.available ? 0 : 1, name);
      if (!r.available) assert.ok(skipped[0]?.includes(r.reason), name);
    }
  });
});

describe('vigil features', () => {
  const vigil = repoPath('bin', 'vigil');

  test('--json prints the report as JSON that agrees with the probes, exit 0', () => {
    const out = execFileSync(process.execPath, [vigil, 'features', '--json'], { encoding: 'utf8' });
    const json = JSON.parse(out) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(json).sort(), ['attach', 'bpf_prog_types', 'helpers', 'kernel', 'kfuncs', 'map_types', 'mounts', 'program_types', 'signing',
      'tls_libraries', 'tls_problems']);
    // The TLS libraries the L7 sensor would attach to: this host's libssl among them where ldconfig lists one
    // (Debian's curl needs it; the kernel matrix's VMs have none), else node's own OpenSSL.
    const tls = json.tls_libraries as unknown as { library: string; file: string; probes: number }[];
    const libssl = /\blibssl\.so\.\d+\b/.test(spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '');
    assert.ok(tls.some((l) => l.library === 'openssl' && (!libssl || /\/libssl\.so\.\d+$/.test(l.file)) && l.probes >= 4), JSON.stringify(tls));
    const signing = json.signing as unknown as { active: string; kernel: { status: string } };
    assert.equal(signing.active, 'user-space');
    assert.equal(signing.kernel.status, report.signing.kernel.status);
    assert.equal(json.kernel?.release, os.release());
    assert.equal(json.kernel?.btf, existsSync('/sys/kernel/btf/vmlinux'));
    assert.equal(typeof json.kernel?.lockdown, 'string');
    for (const section of ['attach', 'program_types', 'bpf_prog_types', 'helpers', 'kfuncs', 'map_types'] as const) {
      for (const [name, r] of Object.entries(report[section])) {
        const got = json[section]?.[name] as { available: boolean; reason: string; status: string } | undefined;
        assert.ok(got, `${section}.${name} missing from --json`);
        assert.equal(typeof got.available, 'boolean');
        assert.equal(typeof got.reason, 'string');
        // Another process, probing again: the same verdicts.
        assert.equal(got.status, r.status, `${section}.${name}: ${got.reason} vs ${r.reason}`);
      }
    }
  });

  test('without --json prints a table, exit 0', () => {
    const r = spawnSync(process.execPath, [vigil, 'features'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const headings = r.stdout.split('\n').filter((l) => /^\S/.test(l));
    assert.deepEqual(headings, ['kernel', 'attach kinds', 'kernel program types (BPF_PROG_TYPE_*)', 'helpers', 'kernel functions (kfuncs)', 'map types', 'mounts', 'program signatures',
      'TLS libraries (L7 plaintext through uprobes)']);
    // Each section once: program_types (--json) is a subset of the attach kinds and is not printed again.
    assert.equal(r.stdout.match(/^ {2}tracepoint +(yes|no|\?) /gm)?.length, 2, 'attach kinds and kernel program types');
  });

  test('an unknown flag is a usage error', () => {
    const r = spawnSync(process.execPath, [vigil, 'features', '--bogus'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bogus/);
  });
});
