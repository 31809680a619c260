// The host's eBPF hardening: what each setting that bears on eBPF's attack
// surface is, what it means, and what is recommended (`vigil doctor`). Pure:
// the readings come from the caller (the sysctls, lockdown, BTF, cgroup v2,
// the hooks the kernel offers, a process's capabilities), so every verdict is
// testable without a kernel.
import { CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON, CAP_SYS_ADMIN, capabilityList, capabilityName, hasCapability } from './capabilities.js';

/** ok: as recommended; warn: weaker than recommended; bad: a hole, or Vigil cannot work; info: for the record. */
export type FindingStatus = 'ok' | 'warn' | 'bad' | 'info' | 'unknown';

export interface Finding {
  /** Stable id: the sysctl's name, or lockdown, btf, cgroup2, hooks, capabilities. */
  check: string;
  /** The value read, as the file says it (or a summary). */
  value: string;
  status: FindingStatus;
  /** What this value means on this host. */
  meaning: string;
  recommended: string;
}

export interface HostReadings {
  /** Contents of the sysctl files (trimmed), or undefined when unreadable. */
  sysctl: Readonly<Record<string, string | undefined>>;
  /** 'none' | 'integrity' | 'confidentiality' | 'unknown (...)' | 'none (...)'. */
  lockdown: string;
  btf: boolean;
  /** Where cgroup v2 is mounted, or null. */
  cgroup2: string | null;
  /** Attach kinds and whether each is usable here (kprobe, fentry, lsm, ...), with the probe's reason. */
  hooks: Readonly<Record<string, { available: boolean; reason: string }>>;
  /** The process whose capabilities are reported, and its effective set (undefined: unreadable). */
  capabilities: { pid: number; what: string; effective: bigint | undefined };
}

/** The sysctls read, by their /proc/sys path below /proc/sys. */
export const HARDENING_SYSCTLS = [
  'kernel/unprivileged_bpf_disabled', 'net/core/bpf_jit_enable', 'net/core/bpf_jit_harden', 'net/core/bpf_jit_kallsyms',
  'kernel/kptr_restrict', 'kernel/perf_event_paranoid',
] as const;

const UNREADABLE = 'unreadable (not built in, or not permitted)';

function sysctlFinding(check: string, raw: string | undefined, recommended: string,
  verdict: (v: number) => { status: FindingStatus; meaning: string }): Finding {
  if (raw === undefined) return { check, value: UNREADABLE, status: 'unknown', meaning: `${check} could not be read`, recommended };
  const v = Number.parseInt(raw, 10);
  if (!Number.isInteger(v)) return { check, value: raw, status: 'unknown', meaning: `unexpected value "${raw}"`, recommended };
  return { check, value: raw, recommended, ...verdict(v) };
}

/** Every finding, in a fixed order. */
export function assessHardening(r: HostReadings): Finding[] {
  const s = r.sysctl;
  const unprivAllowed = s['kernel/unprivileged_bpf_disabled'] === '0';
  const out: Finding[] = [
    sysctlFinding('kernel.unprivileged_bpf_disabled', s['kernel/unprivileged_bpf_disabled'], '2 (or 1)', (v) =>
      v === 0 ? { status: 'bad', meaning: 'any user may load BPF programs (socket filters, cgroup programs): the verifier is then an attack surface every local user reaches' }
        : v === 1 ? { status: 'ok', meaning: 'unprivileged BPF is off until the next boot (it cannot be turned back on)' }
          : { status: 'ok', meaning: 'unprivileged BPF is off (an administrator may turn it back on)' }),
    sysctlFinding('net.core.bpf_jit_enable', s['net/core/bpf_jit_enable'], '1', (v) =>
      v === 1 ? { status: 'ok', meaning: 'programs are compiled to native code' }
        : v === 0 ? { status: 'warn', meaning: 'programs run in the interpreter: slower, and the interpreter is a known speculative-execution gadget (kernels built with BPF_JIT_ALWAYS_ON refuse 0)' }
          : { status: 'warn', meaning: 'JIT debug mode: every compiled image is written to the kernel log' }),
    sysctlFinding('net.core.bpf_jit_harden', s['net/core/bpf_jit_harden'], unprivAllowed ? '2' : '1 (2 costs every program, Vigil\'s too, a little)', (v) =>
      v === 0 ? (unprivAllowed
        ? { status: 'bad', meaning: 'no constant blinding while unprivileged users may load programs: JIT spraying is open to them' }
        : { status: 'info', meaning: 'no constant blinding; only privileged users load programs here' })
        : v === 1 ? { status: 'ok', meaning: 'constants are blinded in unprivileged users\' programs' }
          : { status: 'ok', meaning: 'constants are blinded in every program' }),
    sysctlFinding('net.core.bpf_jit_kallsyms', s['net/core/bpf_jit_kallsyms'], '1 (for profiles; readers still need kptr_restrict\'s permission)', (v) =>
      v === 0 ? { status: 'info', meaning: 'BPF programs are not in /proc/kallsyms: profiles show their frames as unknown' }
        : { status: 'ok', meaning: 'BPF programs are named in /proc/kallsyms (profiles name their frames)' }),
    sysctlFinding('kernel.kptr_restrict', s['kernel/kptr_restrict'], '1', (v) =>
      v === 0 ? { status: 'warn', meaning: 'kernel addresses are shown to every user: an exploit learns where the kernel is (KASLR defeated)' }
        : v === 1 ? { status: 'ok', meaning: 'kernel addresses are shown to CAP_SYSLOG only (Vigil, as root, names kernel frames)' }
          : { status: 'warn', meaning: 'kernel addresses are hidden from root too: Vigil cannot name kernel frames in profiles, nor resolve kernel functions\' addresses for policies' }),
    sysctlFinding('kernel.perf_event_paranoid', s['kernel/perf_event_paranoid'], '2 or more', (v) =>
      v < 2 ? { status: 'warn', meaning: `unprivileged users may profile ${v < 1 ? 'the kernel and every CPU' : 'the kernel'} with perf events` }
        : { status: 'ok', meaning: 'perf events are for privileged users (CAP_PERFMON)' }),
    lockdownFinding(r.lockdown),
    r.btf ? { check: 'btf', value: 'yes', status: 'ok', meaning: 'kernel BTF (/sys/kernel/btf/vmlinux): CO-RE, tp_btf, fentry and iterators work', recommended: 'yes' }
      : { check: 'btf', value: 'no', status: 'bad', meaning: 'no kernel BTF: Vigil\'s programs cannot relocate to this kernel (CONFIG_DEBUG_INFO_BTF)', recommended: 'yes' },
    r.cgroup2 ? { check: 'cgroup2', value: r.cgroup2, status: 'ok', meaning: 'cgroup v2 is mounted: per-cgroup filters, network policy and Deny work', recommended: 'mounted' }
      : { check: 'cgroup2', value: 'not mounted', status: 'warn', meaning: 'no cgroup v2: cgroup programs (netpolicy, Deny, bandwidth) cannot attach', recommended: 'mounted' },
    hooksFinding(r.hooks),
    capabilitiesFinding(r.capabilities),
  ];
  // One key order for every finding (the JSON's).
  return out.map((f) => ({ check: f.check, value: f.value, status: f.status, meaning: f.meaning, recommended: f.recommended }));
}

function lockdownFinding(raw: string): Finding {
  const mode = raw.split(' ')[0];
  const base = { check: 'lockdown', value: raw, recommended: 'integrity' };
  if (raw.startsWith('unknown')) return { ...base, status: 'unknown', meaning: 'the lockdown mode could not be read' };
  switch (mode) {
    case 'integrity':
      return { ...base, status: 'ok', meaning: 'root cannot modify the running kernel (unsigned modules, kexec, /dev/mem); tracing reads still work' };
    case 'confidentiality':
      return { ...base, status: 'bad', meaning: 'kernel memory reads from BPF are refused: Vigil\'s sensors cannot run (integrity keeps the protection against changes)' };
    default:
      return { ...base, status: 'warn', meaning: 'no lockdown: root (and whoever becomes root) can change the running kernel' };
  }
}

/** The hooks that decide what Vigil can watch and enforce: the ones the report probes. */
export const HARDENING_HOOKS = ['kprobe', 'fentry', 'lsm', 'tp_btf', 'tracepoint', 'uprobe', 'xdp', 'tc', 'cgroup_sock_addr'] as const;

function hooksFinding(hooks: HostReadings['hooks']): Finding {
  const have = HARDENING_HOOKS.filter((h) => hooks[h]?.available);
  const missing = HARDENING_HOOKS.filter((h) => hooks[h] && !hooks[h]!.available);
  const native = ['kprobe', 'fentry', 'lsm'].filter((h) => hooks[h]?.available);
  return {
    check: 'hooks', value: `${have.join(', ') || 'none'}${missing.length ? `; missing: ${missing.join(', ')}` : ''}`,
    status: native.length === 3 ? 'ok' : 'info',
    meaning: native.length === 3 ? 'kernel-function and LSM policies run natively'
      : `policies on kernel functions are served by portable tracepoint equivalents where Vigil knows one${
        hooks.lsm && !hooks.lsm.available ? '; Override needs BPF-LSM or bpf_override_return' : ''} (${missing.map((h) => `${h}: ${hooks[h]!.reason}`).join('; ')})`,
    recommended: 'kprobe, fentry and lsm (CONFIG_KPROBES, CONFIG_DEBUG_INFO_BTF, CONFIG_BPF_LSM with "bpf" in lsm=)',
  };
}

/** What Vigil needs: CAP_BPF and CAP_PERFMON, CAP_NET_ADMIN for the network features; CAP_SYS_ADMIN only for some attaches. */
function capabilitiesFinding(c: HostReadings['capabilities']): Finding {
  const base = { check: 'capabilities', recommended: 'CAP_BPF, CAP_PERFMON (+ CAP_NET_ADMIN for network features; CAP_SYS_ADMIN only where an attach needs it)' };
  if (c.effective === undefined) return { ...base, value: 'unreadable', status: 'unknown', meaning: `the capabilities of ${c.what} (pid ${c.pid}) could not be read` };
  const names = capabilityList(c.effective);
  const needed = [CAP_BPF, CAP_PERFMON];
  const lacking = needed.filter((cap) => !hasCapability(c.effective!, cap) && !hasCapability(c.effective!, CAP_SYS_ADMIN));
  const extra = names.filter((n) => ![CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN].map((x) => capabilityName(x)).includes(n));
  const value = names.length > 8 ? `${names.length} capabilities (${names.slice(0, 4).join(', ')}, ...)` : names.join(', ') || 'none';
  if (lacking.length) {
    return { ...base, value, status: 'bad', meaning: `${c.what} (pid ${c.pid}) lacks ${lacking.map((x) => capabilityName(x)).join(' and ')}: it cannot load programs` };
  }
  return {
    ...base, value, status: extra.length ? 'warn' : 'ok',
    meaning: extra.length
      ? `${c.what} (pid ${c.pid}) holds ${extra.length} capabilities it does not need for eBPF (${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''})`
      : `${c.what} (pid ${c.pid}) holds what eBPF needs and no more`,
  };
}
