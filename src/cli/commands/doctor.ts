// vigil doctor [--json] [--pid N]: the host's eBPF hardening, setting by
// setting: what it is, what it means here, what is recommended.
import { readFileSync } from 'node:fs';
import { parseFlags, ids } from '../flags.js';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { kernelInfo, probeAttach } from '../../bpf/features.js';
import { cgroup2 } from '../../bpf/mounts.js';
import { effectiveCapabilities } from '../../kernel/capabilities.js';
import { assessHardening, HARDENING_HOOKS, HARDENING_SYSCTLS, type Finding, type HostReadings } from '../../kernel/hardening.js';

const usage = `usage: vigil doctor [--json] [--pid N]

Reports the settings that bear on eBPF's attack surface and on what Vigil can
do here, each with its value, what it means and the recommended setting:
kernel.unprivileged_bpf_disabled, net.core.bpf_jit_enable, bpf_jit_harden,
bpf_jit_kallsyms, kernel.kptr_restrict, kernel.perf_event_paranoid, lockdown,
kernel BTF, cgroup v2, the hooks the kernel offers (probed for real, as
vigil features does) and a process's capabilities.

Each line is ok, warn (weaker than recommended), bad (a hole, or Vigil cannot
work), info, or ? (could not be read). Exit status 0 when nothing is bad, 1
when something is, 2 on a usage error.

options:
  --json   the findings as JSON: [{"check","value","status","meaning","recommended"}]
  --pid N  report the capabilities of process N (the agent's, say) instead of
           this command's own
  -h, --help`;

/** Reads what assessHardening judges: the sysctls, lockdown, BTF, cgroup v2, probed hooks, capabilities. */
async function readHost(pid: number | undefined): Promise<HostReadings> {
  const sysctl: Record<string, string | undefined> = {};
  for (const name of HARDENING_SYSCTLS) {
    try {
      sysctl[name] = readFileSync(`/proc/sys/${name}`, 'utf8').trim();
    } catch {
      sysctl[name] = undefined;
    }
  }
  const info = kernelInfo();
  // Only the hooks the report judges: each probe loads and attaches a program.
  const hooks: HostReadings['hooks'] = Object.fromEntries(await Promise.all(HARDENING_HOOKS.map(async (n) => {
    const r = await probeAttach(n);
    return [n, { available: r.available, reason: r.reason }] as const;
  })));
  const status = pid === undefined ? '/proc/self/status' : `/proc/${pid}/status`;
  let what = 'vigil doctor';
  if (pid !== undefined) {
    try {
      what = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      throw new UsageError(`--pid: no process ${pid}`);
    }
  }
  return {
    sysctl, lockdown: info.lockdown, btf: info.btf, cgroup2: cgroup2(false).path, hooks,
    capabilities: { pid: pid ?? process.pid, what, effective: effectiveCapabilities(status) },
  };
}

const MARK: Record<Finding['status'], string> = { ok: 'ok  ', warn: 'warn', bad: 'BAD ', info: 'info', unknown: '?   ' };

function text(findings: readonly Finding[]): string {
  const width = Math.max(...findings.map((f) => f.check.length));
  return findings.map((f) => `${MARK[f.status]}  ${f.check.padEnd(width)}  ${f.value}\n` +
    `      ${' '.repeat(width)}  ${f.meaning}${f.status === 'ok' || f.status === 'info' ? '' : `; recommended: ${f.recommended}`}`).join('\n') + '\n';
}

export const command: Command = {
  name: 'doctor',
  summary: 'the host\'s eBPF hardening: each setting, what it means, what is recommended',
  usage,
  async run(argv: string[]): Promise<number> {
    const { values } = parseFlags({
      args: argv, options: { json: { type: 'boolean', default: false }, pid: { type: 'string' } }, strict: true, allowPositionals: false,
    });
    const pid = ids('--pid', values.pid === undefined ? undefined : [values.pid], 1)?.[0];
    const findings = assessHardening(await readHost(pid));
    process.stdout.write(values.json ? `${JSON.stringify(findings, null, 2)}\n` : text(findings));
    return findings.some((f) => f.status === 'bad') ? 1 : 0;
  },
};
