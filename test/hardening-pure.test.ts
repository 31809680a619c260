// vigil doctor's verdicts on given readings (no kernel): each setting's value, meaning and status.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assessHardening, type Finding, type HostReadings } from '../src/kernel/hardening.js';
import { CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON, CAP_SYS_ADMIN } from '../src/kernel/capabilities.js';

const bit = (...caps: number[]): bigint => caps.reduce((m, c) => m | (1n << BigInt(c)), 0n);

function readings(over: Partial<HostReadings> & { sysctl?: Record<string, string | undefined> } = {}): HostReadings {
  return {
    sysctl: {
      'kernel/unprivileged_bpf_disabled': '2', 'net/core/bpf_jit_enable': '1', 'net/core/bpf_jit_harden': '1',
      'net/core/bpf_jit_kallsyms': '1', 'kernel/kptr_restrict': '1', 'kernel/perf_event_paranoid': '2', ...over.sysctl,
    },
    lockdown: over.lockdown ?? 'integrity',
    btf: over.btf ?? true,
    cgroup2: over.cgroup2 === undefined ? '/sys/fs/cgroup' : over.cgroup2,
    hooks: over.hooks ?? Object.fromEntries(['kprobe', 'fentry', 'lsm', 'tp_btf', 'tracepoint', 'uprobe', 'xdp', 'tc', 'cgroup_sock_addr']
      .map((h) => [h, { available: true, reason: 'loaded and attached' }])),
    capabilities: over.capabilities ?? { pid: 42, what: 'vigil', effective: bit(CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN) },
  };
}

const byCheck = (fs: Finding[]): Record<string, Finding> => Object.fromEntries(fs.map((f) => [f.check, f]));

describe('hardening verdicts', () => {
  test('a host set as recommended: every finding ok, in a fixed order', () => {
    const fs = assessHardening(readings());
    assert.deepEqual(fs.map((f) => f.check), ['kernel.unprivileged_bpf_disabled', 'net.core.bpf_jit_enable', 'net.core.bpf_jit_harden',
      'net.core.bpf_jit_kallsyms', 'kernel.kptr_restrict', 'kernel.perf_event_paranoid', 'lockdown', 'btf', 'cgroup2', 'hooks', 'capabilities']);
    assert.deepEqual(fs.filter((f) => f.status !== 'ok').map((f) => f.check), []);
    assert.deepEqual(Object.keys(fs[0]!), ['check', 'value', 'status', 'meaning', 'recommended']);
  });

  test('unprivileged BPF allowed with no constant blinding: both are holes; with it off, blinding is for the record', () => {
    const open = byCheck(assessHardening(readings({ sysctl: { 'kernel/unprivileged_bpf_disabled': '0', 'net/core/bpf_jit_harden': '0' } })));
    assert.equal(open['kernel.unprivileged_bpf_disabled']!.status, 'bad');
    assert.equal(open['net.core.bpf_jit_harden']!.status, 'bad');
    assert.equal(open['net.core.bpf_jit_harden']!.recommended, '2');
    const closed = byCheck(assessHardening(readings({ sysctl: { 'net/core/bpf_jit_harden': '0' } })));
    assert.equal(closed['net.core.bpf_jit_harden']!.status, 'info');
  });

  test('settings that stop Vigil, or weaken the host, say which', () => {
    const f = byCheck(assessHardening(readings({
      sysctl: { 'kernel/kptr_restrict': '2', 'kernel/perf_event_paranoid': '-1', 'net/core/bpf_jit_enable': '0' },
      lockdown: 'confidentiality', btf: false, cgroup2: null,
    })));
    assert.equal(f['kernel.kptr_restrict']!.status, 'warn');
    assert.match(f['kernel.kptr_restrict']!.meaning, /cannot name kernel frames/);
    assert.equal(f['kernel.perf_event_paranoid']!.status, 'warn');
    assert.match(f['kernel.perf_event_paranoid']!.meaning, /every CPU/);
    assert.equal(f['net.core.bpf_jit_enable']!.status, 'warn');
    assert.equal(f.lockdown!.status, 'bad');
    assert.equal(f.btf!.status, 'bad');
    assert.equal(f.cgroup2!.status, 'warn');
    assert.equal(byCheck(assessHardening(readings({ lockdown: 'none' }))).lockdown!.status, 'warn');
  });

  test('unreadable or odd values are "unknown", not guessed', () => {
    const f = byCheck(assessHardening(readings({ sysctl: { 'net/core/bpf_jit_harden': undefined, 'kernel/kptr_restrict': 'x' },
      lockdown: 'unknown (securityfs not mounted and mounting it needs root)' })));
    assert.equal(f['net.core.bpf_jit_harden']!.status, 'unknown');
    assert.equal(f['kernel.kptr_restrict']!.status, 'unknown');
    assert.equal(f.lockdown!.status, 'unknown');
  });

  test('hooks: without kprobes, fentry and BPF-LSM the policies use portable equivalents, and the reasons are given', () => {
    const hooks = Object.fromEntries(['kprobe', 'fentry', 'lsm', 'tracepoint'].map((h) => [h,
      h === 'tracepoint' ? { available: true, reason: 'ok' } : { available: false, reason: `${h} missing here` }]));
    const f = byCheck(assessHardening(readings({ hooks }))).hooks!;
    assert.equal(f.status, 'info');
    assert.equal(f.value, 'tracepoint; missing: kprobe, fentry, lsm');
    assert.match(f.meaning, /portable.*kprobe: kprobe missing here; fentry: fentry missing here; lsm: lsm missing here/);
  });

  test('capabilities: lacking CAP_BPF/CAP_PERFMON is bad, more than needed is a warning, CAP_SYS_ADMIN stands for both', () => {
    const cap = (effective: bigint | undefined): Finding =>
      byCheck(assessHardening(readings({ capabilities: { pid: 7, what: 'agent', effective } }))).capabilities!;
    assert.equal(cap(bit(CAP_NET_ADMIN)).status, 'bad');
    assert.match(cap(bit(CAP_NET_ADMIN)).meaning, /agent \(pid 7\) lacks CAP_BPF and CAP_PERFMON/);
    assert.equal(cap(bit(CAP_SYS_ADMIN)).status, 'ok');
    assert.equal(cap(bit(CAP_BPF, CAP_PERFMON, 0, 1)).status, 'warn');
    assert.equal(cap(undefined).status, 'unknown');
  });
});
