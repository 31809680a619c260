// Verifier headroom: how much of the verifier's budget each program uses on
// the running kernel. Every program of every object in bpf/ is loaded alone,
// in its heaviest configuration (every load-time switch that adds code turned
// on), and its bpf_prog_info.verified_insns read back. A program that sits
// near the 1M-instruction limit on one kernel build fails on the next, so the
// budget Vigil holds itself to is a fifth of it.
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObjectSpec, type ConstantValue, type LoadOptions } from './object.js';
import { NotSupportedError, VerifierError, BpfError } from './errors.js';
import { repoPath } from '../util/paths.js';
import { missingKfuncs } from './features.js';

/** The verifier's limit on processed instructions (BPF_COMPLEXITY_LIMIT_INSNS). */
export const VERIFIER_LIMIT = 1_000_000;
/** What a Vigil program may use: 20% of the limit. */
export const HEADROOM_BUDGET = 200_000;

export interface ProgramHeadroom {
  object: string;
  program: string;
  section: string;
  /** Instructions the verifier processed; for a refused program, the count its log reports. */
  verifiedInsns: number | undefined;
  /** Wall time of the load (verification included), ms. */
  loadMs: number;
  status: 'loaded' | 'unsupported' | 'refused' | 'error';
  /** Why it did not load (the verifier's summary line, or the missing feature). */
  reason?: string;
}

/**
 * Load-time switches that add code, per object: the heaviest configuration.
 * Every `const volatile` that turns code on is listed; objects not named here
 * have none.
 */
const ALL_FILTERS = 0xffff;
/** vigil_filter_self set: Vigil's own events left out (any tgid turns the code on). */
const SELF = { vigil_filter_self: 1 };
export const HEAVIEST: Readonly<Record<string, { constants?: Record<string, ConstantValue>;
  attachTargets?: Record<string, string> }>> = {
  process: { constants: { ...SELF, vigil_filter_flags: ALL_FILTERS, send_exec: true, send_exec_failed: true, send_fork: true,
    send_exit: true, vigil_wakeup_bytes: 4096n } },
  file: { constants: { ...SELF, vigil_filter_flags: ALL_FILTERS, vigil_wakeup_bytes: 4096n } },
  sysevents: { constants: { ...SELF, vigil_filter_flags: ALL_FILTERS, send_without_addr: true, vigil_wakeup_bytes: 4096n } },
  // syscalls: both aggregations (syscall counts and file I/O; the default is the first alone).
  syscalls: { constants: { ...SELF, vigil_filter_flags: ALL_FILTERS, vigil_syscall_mode: 3 } },
  flow: { constants: { ...SELF, vigil_flow_want_tcp: 1, vigil_flow_want_udp: 1, vigil_flow_want_dns: 1, vigil_wakeup_bytes: 4096n } },
  netpolicy: { constants: { policy_cgroup_id: 1n, vigil_wakeup_bytes: 4096n } },
  // policy: vg_capture always calls vg_resolve (resolve paths), so every configuration verifies it.
  policy: { constants: { vigil_wakeup_bytes: 4096n, raw_tp_hook: 1 },
    attachTargets: { policy_fentry: 'security_file_open', policy_fexit: 'security_file_open', policy_lsm: 'file_open' } },
  profile: { constants: { ...SELF, include_idle: 1, min_block_ns: 1n } },
  // l7: the largest capture (copies of up to 4 KiB over 8 iovecs), every protocol inferred (the six wires, as the
  // default: 0x1e left HTTP/2 and Kafka out) and every record sent.
  l7: { constants: { ...SELF, vigil_filter_flags: ALL_FILTERS, vigil_wakeup_bytes: 4096n, capture_bytes: 4096, protocols: 0x7e, send_records: 0xffffffff, hist_http: 1, tls_sessions: 1 } },
};

/** The objects in bpf/ (not the test fixtures). */
export function bpfObjects(dir = repoPath('bpf', '.output')): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.bpf.o')).sort().map((f) => path.join(dir, f));
}

/** The count a verifier log reports: "processed N insns" or "Processed N insn" (too large). */
export function processedFromLog(log: string): number | undefined {
  const m = [...log.matchAll(/[Pp]rocessed (\d+) insn/g)].at(-1);
  return m ? Number(m[1]) : undefined;
}

function applicable(spec: ObjectSpec, want: Record<string, ConstantValue> | undefined): Record<string, ConstantValue> {
  const out: Record<string, ConstantValue> = {};
  for (const [k, v] of Object.entries(want ?? {})) if (spec.variables.has(k)) out[k] = v;
  return out;
}

const ESRCH = os.constants.errno.ESRCH;

/** For a program whose attach target is resolved through BTF at load: what this kernel lacks when it is not found. */
function missingTarget(section: string): string {
  const m = /^(tp_btf|fentry|fexit|fmod_ret|lsm)(?:\.s)?\/(.+)$/.exec(section);
  if (!m) return '';
  const what = m[1] === 'tp_btf' ? 'tracepoint' : m[1] === 'lsm' ? 'LSM hook' : 'kernel function';
  return `this kernel has no ${what} ${m[2]} (${section}: no BTF for it, ESRCH)`;
}

/** Load options for one program of an object alone, in the object's heaviest configuration. */
function heaviest(spec: ObjectSpec, program: string): LoadOptions {
  const heavy = HEAVIEST[spec.name] ?? {};
  const opts: LoadOptions = { programs: [program], constants: applicable(spec, heavy.constants) };
  const target = heavy.attachTargets?.[program];
  if (target) opts.attachTargets = { [program]: target };
  return opts;
}

/** Loads each program of one object alone, heaviest configuration, and reports. */
export async function measureObject(file: string, only?: readonly string[]): Promise<ProgramHeadroom[]> {
  const spec = ObjectSpec.fromFile(file);
  const out: ProgramHeadroom[] = [];
  // A build that calls a kfunc this kernel lacks (NAME.direct.bpf.o before 6.2): loaded only where it has it.
  const missing = missingKfuncs(file);
  for (const p of spec.programs.values()) {
    if (only && !only.includes(p.name)) continue;
    if (missing.length) {
      out.push({ object: spec.name, program: p.name, section: p.section, verifiedInsns: undefined, loadMs: 0,
        status: 'unsupported', reason: `calls ${missing.join(', ')}, which this kernel's BTF lacks` });
      continue;
    }
    const opts = heaviest(spec, p.name);
    const t0 = process.hrtime.bigint();
    const row: ProgramHeadroom = { object: spec.name, program: p.name, section: p.section, verifiedInsns: undefined,
      loadMs: 0, status: 'loaded' };
    try {
      const obj = await spec.load(opts);
      row.loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
      try {
        row.verifiedInsns = obj.program(p.name).info().verifiedInsns;
      } finally {
        obj.close();
      }
    } catch (e) {
      row.loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
      if (e instanceof NotSupportedError) {
        row.status = 'unsupported';
        row.reason = e.message;
      } else if (e instanceof VerifierError && /cannot use helper|unknown func/.test(e.summary)) {
        // A helper this kernel lacks (bpf_override_return): a variant loaded only where it exists.
        row.status = 'unsupported';
        row.verifiedInsns = processedFromLog(e.log);
        row.reason = e.summary;
      } else if (e instanceof BpfError && !(e instanceof VerifierError) && e.errno === ESRCH && missingTarget(p.section)) {
        // libbpf found no BTF for the attach target: this kernel lacks the tracepoint or function.
        row.status = 'unsupported';
        row.reason = missingTarget(p.section);
      } else if (e instanceof VerifierError) {
        row.status = 'refused';
        row.verifiedInsns = processedFromLog(e.log);
        row.reason = e.summary;
      } else {
        row.status = 'error';
        row.reason = (e as Error).message.split('\n')[0];
        if (e instanceof BpfError) row.verifiedInsns = processedFromLog(e.log);
      }
    }
    out.push(row);
  }
  return out;
}

/** The verifier's log of one program refused in its heaviest configuration ('' when it loads). */
export async function verifierLog(file: string, program: string): Promise<string> {
  const spec = ObjectSpec.fromFile(file);
  try {
    (await spec.load(heaviest(spec, program))).close();
    return '';
  } catch (e) {
    return e instanceof BpfError ? e.log : (e as Error).message;
  }
}

/** Every object in bpf/. */
export async function measureAll(files = bpfObjects()): Promise<ProgramHeadroom[]> {
  const rows: ProgramHeadroom[] = [];
  for (const f of files) rows.push(...await measureObject(f));
  return rows;
}

/** A table, one program a line, the budget's share in the last column. */
export function formatHeadroom(rows: readonly ProgramHeadroom[]): string[] {
  const lines = [`${'object/program'.padEnd(40)} ${'verified'.padStart(9)} ${'load ms'.padStart(8)} ${'budget'.padStart(7)}  status`];
  for (const r of rows) {
    const insns = r.verifiedInsns === undefined ? '-' : String(r.verifiedInsns);
    const share = r.verifiedInsns === undefined ? '-' : `${((100 * r.verifiedInsns) / HEADROOM_BUDGET).toFixed(1)}%`;
    const status = r.status === 'loaded' ? 'ok' : `${r.status}: ${r.reason ?? ''}`;
    lines.push(`${`${r.object}/${r.program}`.padEnd(40)} ${insns.padStart(9)} ${r.loadMs.toFixed(1).padStart(8)} ${share.padStart(7)}  ${status}`);
  }
  const measured = rows.filter((r) => r.verifiedInsns !== undefined);
  const max = measured.reduce<ProgramHeadroom | undefined>((m, r) => (!m || r.verifiedInsns! > m.verifiedInsns! ? r : m), undefined);
  if (max) lines.push(`max: ${max.object}/${max.program} ${max.verifiedInsns} verified instructions (budget ${HEADROOM_BUDGET}, limit ${VERIFIER_LIMIT})`);
  return lines;
}
