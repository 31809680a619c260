// What the running kernel offers to eBPF, probed for real: every answer comes
// from asking the kernel (loading, attaching, creating), never from a version
// table. Probes are a table, each memoised, each three-valued:
//   available   - the kernel did it (loaded, attached, created)
//   unsupported - the kernel refused in a way that means "not here" (the
//                 reason names the errno or what is missing, and the kernel
//                 version/config that has it)
//   unknown     - could not tell (no privileges, a probe artefact missing,
//                 an errno that does not mean "not supported"); not memoised,
//                 so a later call asks again.
// cilium/ebpf features/ is the model.
import os from 'node:os';
import path from 'node:path';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { native } from './native.js';
import { NotSupportedError, VerifierError } from './errors.js';
import { errnoName } from '../kernel/errno.js';
import { kernelFunctions } from '../kernel/kallsyms.js';
import { CAP_BPF, CAP_SYS_ADMIN, effectiveCapabilities, hasCapability } from '../kernel/capabilities.js';
import { ObjectSpec, type BpfObject } from './object.js';
import { Btf } from './btf.js';
import type { Program } from './program.js';
import { onlineCpus } from './program.js';
import { cgroup2, ensureBpffs, ensureTracefs, mountTable, type MountState } from './mounts.js';
import { MapType, ProgramType, type HelperName, type MapTypeName, type ProgramTypeName } from './types.js';
import { bpfObjectPath } from '../util/paths.js';
import { localSigningKey, signingPolicy, trustedKeys } from './signing.js';

export type FeatureStatus = 'available' | 'unsupported' | 'unknown';

export interface FeatureResult {
  status: FeatureStatus;
  /** status === 'available'. */
  available: boolean;
  /** Why: what was done for 'available'; the errno / what is missing and who has it otherwise. */
  reason: string;
}

/** Attach kinds, named as libbpf names their sections. */
export const ATTACH_NAMES = [
  'tracepoint', 'raw_tracepoint', 'tp_btf', 'kprobe', 'kprobe_multi', 'fentry', 'fexit', 'lsm', 'uprobe',
  'perf_event', 'xdp', 'tc', 'cgroup_skb', 'cgroup_sock_addr', 'socket_filter', 'iter',
] as const;
export type AttachName = (typeof ATTACH_NAMES)[number];

/** Program types reported by `vigil features`, named as libbpf names them (libbpf_bpf_prog_type_str). */
export const PROGRAM_TYPE_NAMES = [
  'socket_filter', 'kprobe', 'sched_cls', 'tracepoint', 'xdp', 'perf_event', 'cgroup_skb', 'cgroup_sock',
  'raw_tracepoint', 'cgroup_sock_addr', 'tracing', 'lsm',
] as const satisfies readonly ProgramTypeName[];

export const HELPER_NAMES = [
  'bpf_send_signal', 'bpf_override_return', 'bpf_d_path', 'bpf_get_stackid', 'bpf_loop', 'bpf_probe_read_user_str',
] as const satisfies readonly HelperName[];
export type ProbedHelperName = (typeof HELPER_NAMES)[number];

export const KFUNC_NAMES = ['bpf_rdonly_cast'] as const;
export type ProbedKfuncName = (typeof KFUNC_NAMES)[number];

export const MAP_TYPE_NAMES = [
  'hash', 'lru_hash', 'percpu_hash', 'percpu_array', 'array', 'ringbuf', 'perf_event_array', 'stack_trace',
  'lpm_trie', 'array_of_maps',
] as const satisfies readonly MapTypeName[];

export interface KernelInfo {
  /** uname -r */
  release: string;
  /** /sys/kernel/btf/vmlinux exists (CO-RE, tp_btf, fentry, iterators need it). */
  btf: boolean;
  /** net.core.bpf_jit_enable != 0; null when it cannot be read. */
  jit: boolean | null;
  /** 'none' | 'integrity' | 'confidentiality', or 'unknown (why)'. */
  lockdown: string;
  /** Active LSMs (securityfs lsm), null when they cannot be read. */
  lsm: string | null;
  /** BPF_MAP_TYPE_RINGBUF can be created; null when this process cannot tell (no privileges). */
  ringbuf: boolean | null;
  /** The libbpf Vigil is linked against. */
  libbpf: string;
}

/**
 * Program kinds as `vigil features` reports them under program_types: the
 * names libbpf gives the kinds of program in its section names. A kind is
 * available when a program of it both loads and can be hooked up here: a
 * BPF_PROG_TYPE_KPROBE program loads on a kernel without kprobes (uprobes use
 * the type), but kprobe programs are still of no use there.
 */
export const PROGRAM_KIND_NAMES = [
  'tracepoint', 'raw_tracepoint', 'tp_btf', 'kprobe', 'fentry', 'fexit', 'lsm', 'uprobe', 'perf_event', 'xdp',
  'tc', 'cgroup_skb', 'cgroup_sock_addr', 'socket_filter', 'iter',
] as const satisfies readonly AttachName[];

export interface FeatureReport {
  kernel: KernelInfo;
  /** By kind (PROGRAM_KIND_NAMES). */
  program_types: Record<string, FeatureResult>;
  /** By the kernel's BPF_PROG_TYPE_* (libbpf_bpf_prog_type_str names): does the type load at all. */
  bpf_prog_types: Record<string, FeatureResult>;
  attach: Record<AttachName, FeatureResult>;
  helpers: Record<string, FeatureResult>;
  /** Kernel functions Vigil calls where the kernel has them (bpf/probe_kfuncs.bpf.c). */
  kfuncs: Record<string, FeatureResult>;
  map_types: Record<string, FeatureResult>;
  mounts: { tracefs: MountState; bpffs: MountState; cgroup2: MountState };
  signing: SigningReport;
}

/** How BPF objects' signatures are checked here (src/bpf/signing.ts), and whether the kernel could. */
export interface SigningReport {
  /** The check in force: Vigil's own, in user space, before an object is parsed. */
  active: 'user-space';
  /** Objects without a signature are refused (--require-signed, VIGIL_REQUIRE_SIGNED). */
  required: boolean;
  trusted_keys: { id: string; file: string }[];
  /** Trusted key files that could not be read. */
  problems: string[];
  /** The key objects compiled at run time are signed with, if any. */
  local_key: { id: string; file: string } | null;
  /** Kernel-side verification of signed programs (BPF_PROG_LOAD's signature, Linux 6.18). */
  kernel: FeatureResult;
}

// ---------------------------------------------------------------------------
// Results and memoisation

function available(reason: string): FeatureResult {
  return { status: 'available', available: true, reason };
}
function unsupported(reason: string): FeatureResult {
  return { status: 'unsupported', available: false, reason };
}
function unknown(reason: string): FeatureResult {
  return { status: 'unknown', available: false, reason };
}

const memo = new Map<string, Promise<FeatureResult>>();

/** Runs a probe once; 'unknown' (and a thrown probe) is forgotten so the next call asks again. */
function memoised(key: string, probe: () => Promise<FeatureResult>): Promise<FeatureResult> {
  const hit = memo.get(key);
  if (hit) return hit;
  const p = probe().catch((e: unknown) => unknown(`probe failed: ${e instanceof Error ? e.message : String(e)}`));
  memo.set(key, p);
  void p.then((r) => {
    if (r.status === 'unknown' && memo.get(key) === p) memo.delete(key);
  });
  return p;
}

// ---------------------------------------------------------------------------
// Privileges and kernel facts

let capEff: bigint | null | undefined;

function hasCap(cap: number): boolean {
  if (capEff === undefined) capEff = effectiveCapabilities() ?? null;
  return capEff === null ? process.geteuid?.() === 0 : hasCapability(capEff, cap);
}

/** Whether this process may load BPF programs at all (CAP_BPF or CAP_SYS_ADMIN). */
function privileged(): boolean {
  return hasCap(CAP_SYS_ADMIN) || hasCap(CAP_BPF);
}

interface SecurityFs {
  lockdown: string;
  lsm: string | null;
}

let securityFsCache: SecurityFs | undefined;

function parseLockdown(text: string): string {
  return /\[(\w+)\]/.exec(text)?.[1] ?? text.trim();
}

function readSecurityFiles(dir: string): SecurityFs {
  const lockdownFile = path.join(dir, 'lockdown');
  const lsmFile = path.join(dir, 'lsm');
  const lockdown = existsSync(lockdownFile)
    ? parseLockdown(readFileSync(lockdownFile, 'utf8'))
    : 'none (lockdown LSM not built in: no securityfs lockdown file)';
  const lsm = existsSync(lsmFile) ? readFileSync(lsmFile, 'utf8').trim() : null;
  return { lockdown, lsm };
}

/**
 * Lockdown mode and active LSMs live in securityfs. When it is not mounted,
 * Vigil mounts it on a private temporary directory, reads, and unmounts: the
 * system is left as it was found.
 */
function securityFs(): SecurityFs {
  if (securityFsCache) return securityFsCache;
  const mounted = mountTable().find((m) => m.fstype === 'securityfs')?.target;
  if (mounted) return (securityFsCache = readSecurityFiles(mounted));
  if (!privileged()) return { lockdown: 'unknown (securityfs not mounted and mounting it needs root)', lsm: null };
  let dir: string | undefined;
  try {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-securityfs-'));
    execFileSync('mount', ['-t', 'securityfs', 'securityfs', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      securityFsCache = readSecurityFiles(dir);
    } finally {
      execFileSync('umount', [dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    }
    return securityFsCache;
  } catch (e) {
    const why = (e as { stderr?: Buffer }).stderr?.toString().trim() || (e instanceof Error ? e.message : String(e));
    return { lockdown: `unknown (securityfs not mounted; mounting it failed: ${why})`, lsm: null };
  } finally {
    if (dir) {
      try { rmdirSync(dir); } catch { /* still mounted after a failed umount: leave it */ }
    }
  }
}

let kernelCache: KernelInfo | undefined;

/** Release, BTF, JIT, lockdown, LSMs, ring buffer: each read or probed, memoised. */
export function kernelInfo(): KernelInfo {
  if (kernelCache) return kernelCache;
  let jit: boolean | null = null;
  try {
    jit = Number.parseInt(readFileSync('/proc/sys/net/core/bpf_jit_enable', 'utf8').trim(), 10) !== 0;
  } catch { /* no CONFIG_BPF_JIT, or no procfs */ }
  const sec = securityFs();
  let ringbuf: boolean | null = null;
  try {
    if (privileged()) ringbuf = native().probeMapType(MapType.ringbuf) === 1;
  } catch { /* native layer missing: cannot tell */ }
  let libbpf = 'unknown';
  try {
    libbpf = native().libbpfVersion();
  } catch { /* ditto */ }
  kernelCache = {
    release: os.release(),
    btf: existsSync('/sys/kernel/btf/vmlinux'),
    jit,
    lockdown: sec.lockdown,
    lsm: sec.lsm,
    ringbuf,
    libbpf,
  };
  return kernelCache;
}

// ---------------------------------------------------------------------------
// Kernel configuration: read for reasons only ("here: CONFIG_KPROBES=n"),
// never for verdicts.

let configCache: Map<string, string> | null | undefined;

/** The running kernel's build configuration (CONFIG_X -> y, m, n or a value); null when it cannot be read. */
export function kernelConfig(): Map<string, string> | null {
  if (configCache !== undefined) return configCache;
  let text: string | undefined;
  try {
    text = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
  } catch {
    try {
      text = readFileSync(`/boot/config-${os.release()}`, 'utf8');
    } catch { /* no config available */ }
  }
  if (text === undefined) return (configCache = null);
  const cfg = new Map<string, string>();
  for (const line of text.split('\n')) {
    const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (set?.[1]) cfg.set(set[1], set[2] ?? '');
    const unset = /^# (CONFIG_\w+) is not set$/.exec(line);
    if (unset?.[1]) cfg.set(unset[1], 'n');
  }
  return (configCache = cfg);
}

function configHint(options: readonly string[]): string {
  const cfg = kernelConfig();
  if (!cfg || options.length === 0) return '';
  return options.map((o) => `${o}=${cfg.get(o) ?? 'n'}`).join(', ');
}

/** The kernel and configuration that have a feature. */
interface Needs {
  since: string;
  config: readonly string[];
  also?: string;
}

function needsText(n: Needs): string {
  const hint = configHint(n.config);
  return `needs Linux >= ${n.since}${n.config.length ? ` with ${n.config.join(', ')}` : ''}` +
    `${n.also ? `, ${n.also}` : ''}${hint ? ` (here: ${hint})` : ''}`;
}

// ---------------------------------------------------------------------------
// Probe objects (bpf/probes.bpf.c, bpf/probe_helpers.bpf.c)

const specs = new Map<string, ObjectSpec>();

function probeSpec(object: string): ObjectSpec | string {
  const cached = specs.get(object);
  if (cached) return cached;
  const file = bpfObjectPath(object);
  if (!existsSync(file)) return `${file} is not built (run \`make bpf\`)`;
  try {
    const spec = ObjectSpec.fromFile(file);
    specs.set(object, spec);
    return spec;
  } catch (e) {
    return `cannot parse ${file}: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** Errnos that, for a privileged process, mean "this kernel does not do that". */
const NOT_SUPPORTED_ERRNOS = new Set([
  1, // EPERM: refused although privileged (policy, lockdown, no trampolines)
  2, // ENOENT: no such PMU/tracepoint/BTF id
  3, // ESRCH: target not found in kernel BTF
  7, // E2BIG: attr larger than the kernel knows
  19, // ENODEV
  22, // EINVAL: unknown program/attach type
  95, // EOPNOTSUPP
  524, // ENOTSUPP (kernel-internal)
]);

function errnoOf(e: unknown): number | undefined {
  for (let x: unknown = e, i = 0; x && i < 4; x = (x as { cause?: unknown }).cause, i++) {
    const errno = (x as { errno?: unknown }).errno;
    if (typeof errno === 'number') return errno;
  }
  return undefined;
}

/** Whether the verifier saw the program (its log is in the error), i.e. the refusal came from it. */
function verifierRan(e: unknown): boolean {
  for (let x: unknown = e, i = 0; x && i < 4; x = (x as { cause?: unknown }).cause, i++) {
    const log = (x as { log?: unknown }).log;
    if (typeof log === 'string' && /BEGIN PROG LOAD LOG|processed \d+ insns|^\d+: \(/m.test(log)) return true;
  }
  return false;
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

/** Maps a load or attach failure to a result. */
function failure(e: unknown, what: string, needs: Needs, explain?: () => string): FeatureResult {
  if (!privileged()) {
    return unknown(`${what} failed: ${firstLine(e)} (could not tell: this process lacks CAP_BPF/CAP_SYS_ADMIN)`);
  }
  const why = explain ? `: ${explain()}` : '';
  if (e instanceof VerifierError) {
    return unsupported(`${what}: the verifier refused a minimal program (${e.summary})${why}; ${needsText(needs)}`);
  }
  const errno = errnoOf(e);
  if ((errno === 1 || errno === 13) && !hasCap(CAP_SYS_ADMIN)) {
    // With CAP_BPF alone, EPERM/EACCES may be a missing CAP_PERFMON/CAP_NET_ADMIN.
    return unknown(`${what} failed with ${errnoName(errno)} (could not tell: this process lacks CAP_SYS_ADMIN)`);
  }
  if (errno !== undefined && NOT_SUPPORTED_ERRNOS.has(errno)) {
    let code = errnoName(errno);
    if (errno === 1) {
      code += ` although privileged, ${verifierRan(e) ? 'from the verifier' : 'with no verifier log'}` +
        ` (lockdown: ${kernelInfo().lockdown})`;
    }
    return unsupported(`${what} failed with ${code}${why}; ${needsText(needs)}`);
  }
  if (e instanceof NotSupportedError) return unsupported(`${what}: ${e.reason}${why}; ${needsText(needs)}`);
  return unknown(`${what} failed: ${firstLine(e)} (could not tell whether the kernel supports it)`);
}

/** Outcomes of loading each probe program ("object/program"), for the program-type table. */
const loadOutcomes = new Map<string, FeatureResult>();

/** Loads one program of a probe object, records the outcome, runs f, closes everything. */
async function withProbeProgram(
  object: string, program: string, needs: Needs, explain: (() => string) | undefined,
  f: (obj: BpfObject, section: string) => Promise<FeatureResult>,
  onLoadError: (e: unknown, what: string) => FeatureResult = (e, what) => failure(e, what, needs, explain),
): Promise<FeatureResult> {
  const spec = probeSpec(object);
  if (typeof spec === 'string') return unknown(spec);
  const section = spec.programs.get(program)?.section ?? program;
  let obj: BpfObject;
  try {
    obj = await spec.load({ programs: [program] });
  } catch (e) {
    const r = onLoadError(e, `load of ${section}`);
    loadOutcomes.set(`${object}/${program}`, r);
    return r;
  }
  loadOutcomes.set(`${object}/${program}`, available(`loaded a test ${section} program`));
  try {
    return await f(obj, section);
  } finally {
    obj.close();
  }
}

// ---------------------------------------------------------------------------
// Attach kinds: load (and where Vigil may, attach and detach) a probe program.

interface AttachProbe {
  /** Program in bpf/probes.bpf.c. */
  program: string;
  needs: Needs;
  /** What the program is attached to, for reasons. */
  target?: () => string;
  /** Attach and detach the loaded program. Absent: load only, and `loadOnly` says why. */
  attach?: (prog: Program) => Promise<void>;
  loadOnly?: string;
  /** Second thoughts after a successful attach (BPF LSM loaded but inactive). */
  confirm?: () => FeatureResult | undefined;
  /** What is missing on this machine, for failures. */
  explain?: () => string;
}

let kprobeTargetCache: string | undefined;

/** A kernel function that exists here, for kprobes. */
function kprobeTarget(): string {
  if (kprobeTargetCache) return kprobeTargetCache;
  const fns = kernelFunctions();
  const found = ['do_unlinkat', 'vfs_read', 'do_sys_openat2', '__x64_sys_getpid'].find((f) => fns?.has(f));
  return (kprobeTargetCache = found ?? 'do_unlinkat');
}

/** The C library this process runs on, as mapped: a real ELF file libbpf resolves symbols in. */
let libcCache: string | undefined;
function libcPath(): string {
  if (libcCache) return libcCache;
  try {
    for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      const slash = line.indexOf('/');
      if (slash < 0) continue;
      const file = line.slice(slash);
      if (/\/libc(\.so\.6|-[\d.]+\.so)$/.test(file)) return (libcCache = file);
    }
  } catch { /* fall through */ }
  return (libcCache = 'libc.so.6');
}

/** Runs f with a fresh, empty cgroup v2 directory (no process ever joins it); undefined without cgroup v2. */
async function withScratchCgroup<T>(f: (fd: number, dir: string) => Promise<T>): Promise<T | undefined> {
  const root = cgroup2();
  if (!root.path) return undefined;
  const dir = path.join(root.path, `vigil-probe-${process.pid}`);
  mkdirSync(dir);
  try {
    const fd = openSync(dir, 'r');
    try {
      return await f(fd, dir);
    } finally {
      closeSync(fd);
    }
  } finally {
    rmdirSync(dir);
  }
}

/** Whether a cgroup attach probe could attach (else it reports load-only). */
async function cgroupAttach(prog: Program): Promise<void> {
  const did = await withScratchCgroup(async (fd, dir) => {
    prog.attachCgroup(fd, dir).close();
    return true;
  });
  if (!did) throw new LoadOnly(`not attached: no cgroup v2 hierarchy (${cgroup2().reason ?? 'not mounted'})`);
}

/** Thrown by an attach step that could not run for a reason outside the kernel's support. */
class LoadOnly extends Error {}

const TRAMPOLINE_CONFIG = ['CONFIG_DEBUG_INFO_BTF', 'CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS'];
const NOT_ON_FOREIGN_INTERFACES = 'not attached: Vigil attaches XDP/TC only to interfaces it created';

let tracepointCache: [string, string] | undefined;
function tracepointTarget(): [string, string] {
  if (tracepointCache) return tracepointCache;
  const tracefs = ensureTracefs();
  const candidates: [string, string][] = [['syscalls', 'sys_enter_getpid'], ['sched', 'sched_process_exec']];
  return (tracepointCache = candidates.find(([c, e]) => tracefs.path && existsSync(`${tracefs.path}/events/${c}/${e}`)) ??
    candidates[0]!);
}

const attachProbes: Record<AttachName, AttachProbe> = {
  tracepoint: {
    program: 'probe_tracepoint',
    needs: { since: '4.7', config: ['CONFIG_BPF_EVENTS', 'CONFIG_TRACEPOINTS'] },
    target: () => `tracepoint ${tracepointTarget().join('/')}`,
    attach: async (prog) => {
      const tracefs = ensureTracefs();
      if (!tracefs.path) throw new LoadOnly(`not attached: tracefs unavailable (${tracefs.reason ?? 'not mounted'})`);
      const [category, event] = tracepointTarget();
      prog.attachTracepoint(category, event).close();
    },
  },
  raw_tracepoint: {
    program: 'probe_raw_tracepoint',
    needs: { since: '4.17', config: ['CONFIG_BPF_EVENTS'] },
    target: () => 'raw tracepoint sys_enter',
    attach: async (prog) => prog.attachRawTracepoint('sys_enter').close(),
  },
  tp_btf: {
    program: 'probe_tp_btf',
    needs: { since: '5.5', config: ['CONFIG_DEBUG_INFO_BTF'] },
    target: () => 'tp_btf/sys_enter',
    attach: async (prog) => prog.attachTrace().close(),
  },
  kprobe: {
    program: 'probe_kprobe',
    needs: { since: '4.1', config: ['CONFIG_KPROBES', 'CONFIG_KPROBE_EVENTS'] },
    target: () => `kprobe ${kprobeTarget()}`,
    attach: async (prog) => {
      ensureTracefs(); // libbpf's legacy kprobe fallback goes through tracefs kprobe_events
      prog.attachKprobe(kprobeTarget()).close();
    },
    explain: () => existsSync('/sys/bus/event_source/devices/kprobe')
      ? 'the kprobe PMU exists'
      : 'no kprobe PMU (/sys/bus/event_source/devices/kprobe is missing)',
  },
  kprobe_multi: {
    program: 'probe_kprobe_multi',
    needs: { since: '5.18', config: ['CONFIG_FPROBE'] },
    target: () => `kprobe.multi ${kprobeTarget()}`,
    attach: async (prog) => prog.attachKprobeMulti(kprobeTarget()).close(),
  },
  fentry: {
    program: 'probe_fentry',
    needs: { since: '5.5', config: TRAMPOLINE_CONFIG, also: 'and no policy refusing tracing programs' },
    target: () => 'fentry/do_unlinkat',
    attach: async (prog) => prog.attachTrace().close(),
  },
  fexit: {
    program: 'probe_fexit',
    needs: { since: '5.5', config: TRAMPOLINE_CONFIG, also: 'and no policy refusing tracing programs' },
    target: () => 'fexit/do_unlinkat',
    attach: async (prog) => prog.attachTrace().close(),
  },
  lsm: {
    program: 'probe_lsm',
    needs: { since: '5.7', config: ['CONFIG_BPF_LSM'], also: '"bpf" in the lsm= boot parameter' },
    target: () => 'lsm/file_open',
    attach: async (prog) => prog.attachLsm().close(),
    confirm: () => {
      const lsm = kernelInfo().lsm;
      if (lsm === null) {
        return unknown('loaded and attached lsm/file_open, but the active LSMs are unreadable: cannot tell whether BPF LSM hooks run');
      }
      if (!lsm.split(',').includes('bpf')) {
        return unsupported(`loaded and attached lsm/file_open, but BPF LSM is not active (active LSMs: ${lsm}); add "bpf" to the lsm= boot parameter`);
      }
      return undefined;
    },
    explain: () => {
      const lsm = kernelInfo().lsm;
      return lsm === null ? 'active LSMs unknown' : `active LSMs: ${lsm}`;
    },
  },
  uprobe: {
    program: 'probe_uprobe',
    needs: { since: '4.3', config: ['CONFIG_UPROBE_EVENTS'] },
    target: () => `uprobe ${libcPath()}:getpid (this process only)`,
    attach: async (prog) => prog.attachUprobe({ binary: libcPath(), symbol: 'getpid', pid: process.pid }).close(),
  },
  perf_event: {
    program: 'probe_perf_event',
    needs: { since: '4.9', config: ['CONFIG_PERF_EVENTS'] },
    target: () => `a cpu-clock perf event on CPU ${onlineCpus()[0] ?? 0}`,
    attach: async (prog) => prog.attachPerfSampling({ frequency: 1, cpus: [onlineCpus()[0] ?? 0] }).close(),
  },
  xdp: {
    program: 'probe_xdp',
    needs: { since: '4.8', config: ['CONFIG_NET'], also: 'generic XDP since 4.12' },
    loadOnly: NOT_ON_FOREIGN_INTERFACES,
  },
  tc: {
    program: 'probe_tc',
    needs: { since: '4.5', config: ['CONFIG_NET_CLS_BPF', 'CONFIG_NET_SCH_INGRESS'] },
    loadOnly: NOT_ON_FOREIGN_INTERFACES,
  },
  cgroup_skb: {
    program: 'probe_cgroup_skb',
    needs: { since: '4.10', config: ['CONFIG_CGROUP_BPF'], also: 'cgroup v2' },
    target: () => 'an empty scratch cgroup',
    attach: cgroupAttach,
  },
  cgroup_sock_addr: {
    program: 'probe_cgroup_sock_addr',
    needs: { since: '4.17', config: ['CONFIG_CGROUP_BPF'], also: 'cgroup v2' },
    target: () => 'an empty scratch cgroup (connect4)',
    attach: cgroupAttach,
  },
  socket_filter: {
    program: 'probe_socket_filter',
    needs: { since: '3.19', config: ['CONFIG_BPF_SYSCALL'] },
    loadOnly: 'not attached: attaching needs a socket; the kernel checks the program type at load',
  },
  iter: {
    program: 'probe_iter',
    needs: { since: '5.8', config: ['CONFIG_DEBUG_INFO_BTF'] },
    target: () => 'iter/task, read it once',
    attach: async (prog) => {
      const link = prog.attachIter();
      try {
        await link.readIter();
      } finally {
        link.close();
      }
    },
  },
};

/** Whether programs of this attach kind load and (where Vigil may) attach. Memoised. */
export function probeAttach(name: AttachName): Promise<FeatureResult> {
  const probe = attachProbes[name];
  if (!probe) return Promise.resolve(unknown(`no probe for attach kind ${String(name)}`));
  return memoised(`attach:${name}`, () =>
    withProbeProgram('probes', probe.program, probe.needs, probe.explain, async (obj, section) => {
      if (!probe.attach) return available(`loaded a test ${section} program (${probe.loadOnly ?? 'not attached'})`);
      const target = probe.target?.() ?? section;
      try {
        await probe.attach(obj.program(probe.program));
      } catch (e) {
        if (e instanceof LoadOnly) return available(`loaded a test ${section} program (${e.message})`);
        return failure(e, `attach to ${target} (the program loaded)`, probe.needs, probe.explain);
      }
      return probe.confirm?.() ?? available(`loaded a test program, attached it to ${target}, detached it`);
    }));
}

// ---------------------------------------------------------------------------
// Program types: libbpf's probe (load a minimal program of the type), except
// tracing and lsm, whose load needs a BTF target libbpf 1.1's probe cannot give.

const programTypeSince: Partial<Record<ProgramTypeName, string>> = {
  socket_filter: '3.19', kprobe: '4.1', sched_cls: '4.1', sched_act: '4.1', tracepoint: '4.7', xdp: '4.8',
  perf_event: '4.9', cgroup_skb: '4.10', cgroup_sock: '4.10', raw_tracepoint: '4.17', cgroup_sock_addr: '4.17',
  tracing: '5.5', lsm: '5.7', sk_lookup: '5.9', syscall: '5.14', netfilter: '6.4',
};

/**
 * libbpf's probes answer 1 or 0 (every kernel error is 0) or a negative errno
 * for their own failures; without privileges a 0 means nothing, so they are
 * not asked.
 */
function fromLibbpfProbe(probe: () => number, what: string, needs: string, okReason: string): FeatureResult {
  if (!privileged()) return unknown(`${what}: could not tell: this process lacks CAP_BPF/CAP_SYS_ADMIN`);
  const r = probe();
  if (r === 1) return available(okReason);
  if (r === 0) return unsupported(`${what}: the kernel refused it (libbpf probe); ${needs}`);
  const errno = -r;
  if (errno === 95) return unknown(`${what}: libbpf ${native().libbpfVersion()} cannot probe this (EOPNOTSUPP)`);
  return unknown(`${what}: ${errnoName(errno)} (could not tell)`);
}

/** Whether the kernel accepts programs of this type. Memoised. */
export function probeProgramType(name: ProgramTypeName): Promise<FeatureResult> {
  return memoised(`prog:${name}`, async () => {
    const since = programTypeSince[name];
    if (name === 'tracing') {
      // Any tracing program that loads proves the type; fentry alone may be refused.
      for (const kind of ['tp_btf', 'iter', 'fentry'] as const) {
        await probeAttach(kind);
        const r = loadOutcomes.get(`probes/${attachProbes[kind].program}`);
        if (r?.status === 'available') return available(`${r.reason} (BPF_PROG_TYPE_TRACING)`);
      }
      return loadOutcomes.get(`probes/${attachProbes.tp_btf.program}`) ?? unknown('tracing: no probe program could be loaded');
    }
    if (name === 'lsm') {
      await probeAttach('lsm');
      return loadOutcomes.get(`probes/${attachProbes.lsm.program}`) ?? unknown('lsm: the probe program was not loaded');
    }
    const type = ProgramType[name];
    if (type === undefined) return unknown(`unknown program type ${String(name)}`);
    let ok = `loaded a minimal ${name} program (libbpf probe)`;
    if (name === 'kprobe') {
      // The type serves uprobes too: say plainly when kernel functions cannot be probed.
      const kprobes = await probeAttach('kprobe');
      ok += kprobes.available
        ? '; kprobes attach too (attach.kprobe)'
        : `; it serves uprobes, but kernel-function kprobes are ${kprobes.status === 'unknown' ? 'of unknown support' : 'not available'} (attach.kprobe)`;
    }
    return fromLibbpfProbe(() => native().probeProgType(type), name, since ? `needs Linux >= ${since}` : 'not known to this kernel', ok);
  });
}

// ---------------------------------------------------------------------------
// Map types: libbpf's probe creates one (array_of_maps with an inner map).

const mapTypeNeeds: Partial<Record<MapTypeName, string>> = {
  hash: '3.19', array: '3.19', perf_event_array: '4.3', percpu_hash: '4.6', percpu_array: '4.6',
  stack_trace: '4.6 with CONFIG_PERF_EVENTS', lru_hash: '4.10', lpm_trie: '4.11', array_of_maps: '4.12', ringbuf: '5.8',
};

/** Whether maps of this type can be created. Memoised. */
export function probeMapType(name: MapTypeName): Promise<FeatureResult> {
  return memoised(`map:${name}`, async () => {
    const type = MapType[name];
    if (type === undefined) return unknown(`unknown map type ${String(name)}`);
    return fromLibbpfProbe(() => native().probeMapType(type), name, `needs Linux >= ${mapTypeNeeds[name] ?? '?'}`,
      `created a map of type ${name} (libbpf probe)`);
  });
}

// ---------------------------------------------------------------------------
// Helpers: a real program of a type that may call the helper
// (bpf/probe_helpers.bpf.c). libbpf 1.1's libbpf_probe_bpf_helper() only
// recognises the verifier's older wording ("unknown func") and calls every
// helper available on kernels that say "program of this type cannot use helper".

interface HelperProbe {
  program: string;
  /** The program type (section) the helper is asked about. */
  in: string;
  needs: Needs;
  /** The helper only runs in programs of this attach kind. */
  requires?: AttachName;
}

const helperProbes: Record<ProbedHelperName, HelperProbe> = {
  bpf_send_signal: { program: 'helper_send_signal', in: 'tracepoint', needs: { since: '5.3', config: ['CONFIG_BPF_EVENTS'] } },
  bpf_override_return: {
    program: 'helper_override_return', in: 'kprobe',
    needs: { since: '4.16', config: ['CONFIG_BPF_KPROBE_OVERRIDE'], also: 'and kprobes' }, requires: 'kprobe',
  },
  bpf_d_path: { program: 'helper_d_path', in: 'iter/task_file', needs: { since: '5.10', config: ['CONFIG_DEBUG_INFO_BTF'] } },
  bpf_get_stackid: { program: 'helper_get_stackid', in: 'tracepoint', needs: { since: '4.6', config: ['CONFIG_PERF_EVENTS'] } },
  bpf_loop: { program: 'helper_loop', in: 'tracepoint', needs: { since: '5.17', config: [] } },
  bpf_probe_read_user_str: { program: 'helper_probe_read_user_str', in: 'tracepoint', needs: { since: '5.5', config: [] } },
};

const HELPER_REFUSED = /^.*(cannot use helper|unknown func|invalid func).*$/m;

/** Whether the verifier lets the programs that would use the helper call it. Memoised. */
export function probeHelper(name: ProbedHelperName): Promise<FeatureResult> {
  const probe = helperProbes[name];
  if (!probe) return Promise.resolve(unknown(`no probe for helper ${String(name)}`));
  return memoised(`helper:${name}`, async () => {
    const r = await withProbeProgram('probe_helpers', probe.program, probe.needs, undefined,
      async (_obj, section) => available(`loaded a ${section} program that calls ${name}`),
      (e, what) => {
        const refused = e instanceof VerifierError ? HELPER_REFUSED.exec(e.log)?.[0].trim() : undefined;
        if (refused) {
          return unsupported(`the verifier refuses ${name} in ${probe.in} programs ("${refused}"); ${needsText(probe.needs)}`);
        }
        return failure(e, `${what} calling ${name}`, probe.needs);
      });
    if (r.status === 'available' && probe.requires) {
      const dep = await probeAttach(probe.requires);
      if (dep.status !== 'available') {
        return { ...dep, reason: `${r.reason}, but it only runs in ${probe.requires} programs: ${dep.reason}` };
      }
    }
    return r;
  });
}

// ---------------------------------------------------------------------------
// Kernel functions (kfuncs): a program calling the kfunc (bpf/probe_kfuncs.bpf.c).

interface KfuncProbe {
  program: string;
  needs: Needs;
}

const kfuncProbes: Record<ProbedKfuncName, KfuncProbe> = {
  bpf_rdonly_cast: { program: 'kfunc_rdonly_cast', needs: { since: '6.2', config: ['CONFIG_DEBUG_INFO_BTF'] } },
};

const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';

/** Answers of kernelHasFunction: each parses the whole of the kernel's BTF. */
const kernelFunctionsFound = new Map<string, boolean>();

/** Whether the kernel's BTF has the function (a kfunc a program may call is one); false without BTF. Memoised. */
function kernelHasFunction(name: string): boolean {
  let found = kernelFunctionsFound.get(name);
  if (found === undefined) {
    try {
      found = native().btfFindId(VMLINUX_BTF, name, 'FUNC') >= 0;
    } catch {
      found = false;
    }
    kernelFunctionsFound.set(name, found);
  }
  return found;
}

/**
 * The kernel functions an object calls (its BTF's .ksyms section) that this kernel lacks: libbpf
 * cannot load such an object at all, whichever of its programs is asked for.
 */
export function missingKfuncs(objectFile: string): string[] {
  const btf = Btf.fromFile(objectFile);
  const ksyms = btf.byName('.ksyms', 'DATASEC');
  const names = (ksyms?.vars ?? []).map((v) => btf.byId(v.type_id)).filter((t) => t.kind === 'FUNC').map((t) => t.name);
  return names.filter((n) => !kernelHasFunction(n));
}

/** Whether a tracepoint program may call the kfunc here: the kernel has it and a program calling it loads. Memoised. */
export function probeKfunc(name: ProbedKfuncName): Promise<FeatureResult> {
  const probe = kfuncProbes[name];
  return memoised(`kfunc:${name}`, async () => {
    if (!kernelHasFunction(name)) return unsupported(`the kernel's BTF has no ${name}; ${needsText(probe.needs)}`);
    return withProbeProgram('probe_kfuncs', probe.program, probe.needs, undefined,
      async (_obj, section) => available(`loaded a ${section} program that calls ${name}`),
      (e, what) => failure(e, `${what} calling ${name}`, probe.needs));
  });
}

// ---------------------------------------------------------------------------
// Signed programs: the kernel's own check (Linux 6.18 verifies a PKCS#7
// signature over a program's instructions against a keyring at
// BPF_PROG_LOAD), probed with a junk signature.

const SIGNED_LOAD_NEEDS: Needs = { since: '6.18', config: ['CONFIG_SYSTEM_DATA_VERIFICATION'] };
const NOT_USED = 'Vigil does not use it: the kernel checks a signed loader program (a light skeleton) whose ' +
  'relocations and data are fixed when it is signed, while Vigil sets constants, map sizes and CO-RE relocations at ' +
  'load time; its own ed25519 check in user space stays the active one';

/** Whether the kernel verifies signed programs at load. Memoised. */
export function probeKernelSignatures(): Promise<FeatureResult> {
  return memoised('signing:kernel', async () => {
    if (!privileged()) return unknown('could not tell: this process lacks CAP_BPF/CAP_SYS_ADMIN');
    const errno = native().probeSignedProgLoad(0);
    if (errno === 74) return available(`the kernel checked a junk PKCS#7 signature and refused it (EBADMSG); ${NOT_USED}`);
    if (errno === 7) return unsupported(`BPF_PROG_LOAD has no signature here (E2BIG); ${needsText(SIGNED_LOAD_NEEDS)}`);
    if (errno === 95) {
      return unsupported(`the kernel knows signed program loads but cannot check a signature (EOPNOTSUPP); ${needsText(SIGNED_LOAD_NEEDS)}`);
    }
    if (errno === 0) return unknown('the kernel loaded a program with a junk signature (could not tell whether it checks signatures)');
    return unknown(`a load with a junk signature failed with ${errnoName(errno)} (could not tell)`);
  });
}

/** The signature check in force and the kernel's, for `vigil features`. */
export async function signingReport(): Promise<SigningReport> {
  const { keys, problems: unread } = trustedKeys();
  const problems = [...unread];
  let local: SigningReport['local_key'] = null;
  try {
    const k = localSigningKey();
    if (k) local = { id: k.id, file: k.file };
  } catch (e) {
    problems.push((e as Error).message);
  }
  return {
    active: 'user-space',
    required: signingPolicy().require,
    trusted_keys: keys.map((k) => ({ id: k.id, file: k.file })),
    problems,
    local_key: local,
    kernel: await probeKernelSignatures(),
  };
}

// ---------------------------------------------------------------------------
// Everything, for `vigil features`.

/** Runs every probe (sequentially: each loads its own programs) and reports. */
export async function probeAll(): Promise<FeatureReport> {
  const kernel = kernelInfo();
  const mounts = { tracefs: ensureTracefs(), bpffs: ensureBpffs(), cgroup2: cgroup2() };
  const attach = {} as Record<AttachName, FeatureResult>;
  for (const name of ATTACH_NAMES) attach[name] = await probeAttach(name);
  const program_types: Record<string, FeatureResult> = {};
  for (const name of PROGRAM_KIND_NAMES) program_types[name] = attach[name];
  const bpf_prog_types: Record<string, FeatureResult> = {};
  for (const name of PROGRAM_TYPE_NAMES) bpf_prog_types[name] = await probeProgramType(name);
  const helpers: Record<string, FeatureResult> = {};
  for (const name of HELPER_NAMES) helpers[name] = await probeHelper(name);
  const kfuncs: Record<string, FeatureResult> = {};
  for (const name of KFUNC_NAMES) kfuncs[name] = await probeKfunc(name);
  const map_types: Record<string, FeatureResult> = {};
  for (const name of MAP_TYPE_NAMES) map_types[name] = await probeMapType(name);
  return { kernel, program_types, bpf_prog_types, attach, helpers, kfuncs, map_types, mounts, signing: await signingReport() };
}

/**
 * For real-kernel tests: true when the kernel has the attach kind; when the
 * probe says it does not, skips the test with the reason and returns false.
 * A probe that cannot tell fails the test: a test may skip only on a
 * definite "not supported".
 */
export async function requireFeature(t: { skip(msg: string): void }, kind: AttachName): Promise<boolean> {
  const r = await probeAttach(kind);
  if (r.status === 'available') return true;
  if (r.status === 'unsupported') {
    t.skip(`${kind} not supported: ${r.reason}`);
    return false;
  }
  throw new Error(`feature probe for ${kind} could not tell: ${r.reason}`);
}
