// vigil features [--json]: what the running kernel offers to eBPF, probed for real.
import { parseFlags } from '../flags.js';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { requireCapabilities } from '../privileges.js';
import { probeAll, type FeatureReport, type FeatureResult } from '../../bpf/features.js';
import type { MountState } from '../../bpf/mounts.js';
import { bpfObjects, formatHeadroom, measureAll, verifierLog } from '../../bpf/headroom.js';
import { planTls } from '../../l7/tls.js';

const usage = `usage: vigil features [--json] [--programs [--verifier-log OBJECT/PROGRAM]]

Probes the running kernel for real (loads, attaches and detaches tiny test
programs, creates maps) and reports what it offers: kernel release, BTF, JIT,
lockdown, ring buffer, program types, attach kinds, helpers, kfuncs, map types, the
filesystems Vigil needs (tracefs, bpffs, cgroup2), and how BPF objects'
signatures are checked: in user space by Vigil (active), and whether the
kernel could check signed programs itself. Also the TLS libraries whose
plaintext the L7 sensor would read (uprobes; docs/l7.md).

Each feature is "yes" (available), "no" (not supported: the reason says why
and which kernel/config has it) or "?" (could not tell).

options:
  --programs  instead: verifier headroom. Loads every program of Vigil's
           objects alone, in its heaviest configuration, and prints the
           instructions the verifier processed (bpf_prog_info.verified_insns),
           the load time, and the share of Vigil's budget of 200,000 (a fifth
           of the verifier's limit); with --json, the rows as JSON.
           --verifier-log OBJECT/PROGRAM prints the verifier's log of one
           program that the kernel refuses (e.g. policy/policy_tp).
  --json   print the report as JSON:
           {"kernel":{...},"program_types":{NAME:{"available":bool,"reason":string,"status":...}},
            "bpf_prog_types":{...},"attach":{...},"helpers":{...},"kfuncs":{...},"map_types":{...},"mounts":{...},
            "signing":{"active":"user-space","required":bool,"trusted_keys":[{"id","file"}],"problems":[...],
                       "local_key":{"id","file"}|null,"kernel":{"available","reason","status"}},
            "tls_libraries":[{"library","file","probes"}],"tls_problems":[{"file","library"?,"reason"}]}
           program_types: by kind (tracepoint, tp_btf, kprobe, fentry, lsm, uprobe, xdp, ...):
           usable here, i.e. the program loads and can be attached.
           bpf_prog_types: by kernel program type (BPF_PROG_TYPE_*): loads at all.
           kfuncs: kernel functions Vigil's programs call where the kernel has them
           (bpf_rdonly_cast: the file, process and L7 sensors read kernel fields with plain loads).
  -h, --help`;

/** The TLS libraries the L7 sensor would attach to now, and the files it could not serve. */
function tlsFound(): { tls_libraries: { library: string; file: string; probes: number }[]; tls_problems: { file: string; library?: string; reason: string }[] } {
  const { targets, problems } = planTls();
  return {
    tls_libraries: targets.map((t) => ({ library: t.library, file: t.name, probes: t.probes.length })),
    tls_problems: problems.map((p) => ({ file: p.name, ...(p.library ? { library: p.library } : {}), reason: p.reason })),
  };
}

function toJson(report: FeatureReport): unknown {
  // available and reason first: the documented shape; status adds the third value.
  const section = (s: Record<string, FeatureResult>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(s).map(([k, r]) => [k, { available: r.available, reason: r.reason, status: r.status }]));
  return {
    kernel: report.kernel,
    program_types: section(report.program_types),
    bpf_prog_types: section(report.bpf_prog_types),
    attach: section(report.attach),
    helpers: section(report.helpers),
    kfuncs: section(report.kfuncs),
    map_types: section(report.map_types),
    mounts: report.mounts,
    signing: { ...report.signing, kernel: { available: report.signing.kernel.available, reason: report.signing.kernel.reason,
      status: report.signing.kernel.status } },
    ...tlsFound(),
  };
}

const mark: Record<FeatureResult['status'], string> = { available: 'yes', unsupported: 'no', unknown: '?' };

function table(title: string, rows: Record<string, FeatureResult>): string[] {
  const width = Math.max(...Object.keys(rows).map((k) => k.length));
  const out = [title];
  for (const [name, r] of Object.entries(rows)) {
    out.push(`  ${name.padEnd(width)}  ${mark[r.status].padEnd(3)}  ${r.reason}`);
  }
  return out;
}

function mountLine(name: string, m: MountState): string {
  const where = m.path ? ` at ${m.path}` : '';
  return `  ${name.padEnd(8)} ${m.state}${where}${m.reason ? ` (${m.reason})` : ''}`;
}

function signingLines(s: FeatureReport['signing']): string[] {
  const keys = s.trusted_keys.map((k) => `${k.id} (${k.file})`).join(', ') || 'none';
  return [
    'program signatures',
    '  active    user space: ed25519, each object checked before it is parsed; a modified one is refused',
    `  required  ${s.required ? 'yes: unsigned objects are refused' : 'no: unsigned objects load (--require-signed or VIGIL_REQUIRE_SIGNED=1 refuses them)'}`,
    `  trusted   ${keys}${s.problems.length ? `; unreadable: ${s.problems.join('; ')}` : ''}`,
    `  local     ${s.local_key ? `${s.local_key.id} (${s.local_key.file}): signs objects compiled here` : 'none: objects compiled here are unsigned'}`,
    `  kernel    ${mark[s.kernel.status].padEnd(3)}  ${s.kernel.reason}`,
  ];
}

function text(report: FeatureReport): string {
  const k = report.kernel;
  const lines = [
    'kernel',
    `  release   ${k.release}`,
    `  btf       ${k.btf ? 'yes (/sys/kernel/btf/vmlinux)' : 'no'}`,
    `  jit       ${k.jit === null ? '? (net.core.bpf_jit_enable unreadable)' : k.jit ? 'yes' : 'no'}`,
    `  lockdown  ${k.lockdown}`,
    `  lsm       ${k.lsm ?? '?'}`,
    `  ringbuf   ${k.ringbuf === null ? '? (needs privileges to probe)' : k.ringbuf ? 'yes' : 'no'}`,
    `  libbpf    ${k.libbpf}`,
    '',
    // program_types (in --json) is the same probes as attach kinds, less kprobe_multi: printed once.
    ...table('attach kinds', report.attach),
    '',
    ...table('kernel program types (BPF_PROG_TYPE_*)', report.bpf_prog_types),
    '',
    ...table('helpers', report.helpers),
    '',
    ...table('kernel functions (kfuncs)', report.kfuncs),
    '',
    ...table('map types', report.map_types),
    '',
    'mounts',
    mountLine('tracefs', report.mounts.tracefs),
    mountLine('bpffs', report.mounts.bpffs),
    mountLine('cgroup2', report.mounts.cgroup2),
    '',
    ...signingLines(report.signing),
    '',
    'TLS libraries (L7 plaintext through uprobes)',
    ...((f) => [
      ...f.tls_libraries.map((t) => `  ${t.library.padEnd(8)} ${t.file} (${t.probes} probes)`),
      ...f.tls_problems.map((p) => `  ${(p.library ?? '-').padEnd(8)} ${p.file}: not served: ${p.reason}`),
    ])(tlsFound()),
  ];
  return lines.join('\n');
}

export const command: Command = {
  name: 'features',
  summary: 'what the running kernel offers to eBPF, probed for real',
  usage,
  async run(argv: string[]): Promise<number> {
    let values: { json?: boolean; programs?: boolean; 'verifier-log'?: string };
    try {
      ({ values } = parseFlags({ args: argv, options: { json: { type: 'boolean' }, programs: { type: 'boolean' },
        'verifier-log': { type: 'string' } }, strict: true, allowPositionals: false }));
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e));
    }
    const which = values['verifier-log'];
    const objects = bpfObjects();
    const [obj, prog] = which?.split('/') ?? [];
    const file = objects.find((f) => f.endsWith(`/${obj}.bpf.o`));
    if (which !== undefined && (!file || !prog)) {
      const names = objects.map((f) => f.replace(/^.*\/|\.bpf\.o$/g, '')).join(', ');
      throw new UsageError(`--verifier-log ${which}: expected OBJECT/PROGRAM (e.g. policy/policy_tp); objects: ${names}`);
    }
    // Without these every probe would fail alike and say nothing about the kernel.
    requireCapabilities('cannot probe the kernel', ['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN'], ['features', ...argv]);
    if (which !== undefined && file && prog) {
      const log = await verifierLog(file, prog);
      process.stdout.write(log ? `${log}\n` : `${which} loads: the verifier accepted it\n`);
      return log ? 1 : 0;
    }
    if (values.programs) {
      const rows = await measureAll();
      process.stdout.write(values.json ? `${JSON.stringify(rows, null, 2)}\n` : `${formatHeadroom(rows).join('\n')}\n`);
      return 0;
    }
    const report = await probeAll();
    process.stdout.write(values.json ? `${JSON.stringify(toJson(report), null, 2)}\n` : `${text(report)}\n`);
    return 0;
  },
};
