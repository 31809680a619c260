// TLS plaintext for the L7 sensor: the files to put uprobes on, and where.
//
// A uprobe on a file applies to every process that maps it, so the plan is
// per file (deduplicated by device and inode): the system's libssl and
// libgnutls (ldconfig -p), the ones processes have mapped (/proc/PID/maps,
// through /proc/PID/root for those in other mount namespaces), executables
// that define OpenSSL's functions themselves (Node's static OpenSSL), and Go
// executables (a .go.buildinfo section) that have crypto/tls. A Go function
// gets no uretprobe (a return address swapped under Go's stack moves crashes
// it): its RET instructions, found by decoding its machine code, get uprobes.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import iced from 'iced-x86';
import { ElfFile, FdSource } from '../kernel/elf.js';
import { memberOffsets, type MemberOffsets } from '../kernel/dwarf.js';
import type { TlsLibrary } from './types.js';

export type { TlsLibrary };

/** One uprobe: the program (bpf/l7.bpf.c) and the file offset it goes to. */
export interface TlsProbe {
  program: string;
  offset: number;
  retprobe: boolean;
  /** The function it serves (for messages). */
  fn: string;
  /** What bpf_get_attach_cookie() gives the program (Go: the struct offsets, GO_LAYOUT). */
  cookie?: bigint;
}

/** A file to attach to: its library and probes. `path` opens it; `name` is what to call it. */
export interface TlsTarget {
  library: TlsLibrary;
  path: string;
  name: string;
  probes: TlsProbe[];
  /** Go: where the offsets that find a connection's socket came from. */
  goLayout?: GoLayout;
}

/**
 * The offsets that lead from a *tls.Conn to its descriptor: tls.Conn.conn (a net.Conn), the
 * *netFD in a net.TCPConn (net.conn.fd), and Sysfd in a netFD (netFD.pfd + poll.FD.Sysfd).
 * `source`: read from the binary's DWARF, or assumed (the layout of every Go since 1.9) and why.
 */
export interface GoLayout {
  conn: number;
  fd: number;
  sysfd: number;
  source: 'dwarf' | 'assumed';
  /** Assumed: why DWARF did not give them. */
  reason?: string;
}

/** The layout every Go from 1.9 to today has: what is assumed without DWARF. */
export const GO_ASSUMED_LAYOUT = { conn: 0, fd: 0, sysfd: 16 } as const;

/** The structs and members whose offsets make a GoLayout. */
const GO_MEMBERS: ReadonlyMap<string, readonly string[]> = new Map([
  ['crypto/tls.Conn', ['conn']], ['net.TCPConn', ['conn']], ['net.conn', ['fd']], ['net.netFD', ['pfd']], ['internal/poll.FD', ['Sysfd']],
]);

/** A Go binary's layout from its DWARF, or the assumed one and why. */
export function goLayout(elf: ElfFile, src: FdSource): GoLayout {
  const assumed = (reason: string): GoLayout => ({ ...GO_ASSUMED_LAYOUT, source: 'assumed', reason });
  let info: Buffer | undefined;
  let abbrev: Buffer | undefined;
  try {
    info = elf.debugSection(src, '.debug_info');
    abbrev = elf.debugSection(src, '.debug_abbrev');
  } catch (e) {
    return assumed(`its DWARF cannot be read: ${(e as Error).message}`);
  }
  if (!info || !abbrev) return assumed('no DWARF (built with -ldflags=-w, or stripped)');
  let m: MemberOffsets;
  try {
    m = memberOffsets({ info, abbrev, str: elf.debugSection(src, '.debug_str'), lineStr: elf.debugSection(src, '.debug_line_str') }, GO_MEMBERS);
  } catch (e) {
    return assumed(`its DWARF cannot be read: ${(e as Error).message}`);
  }
  const at = (s: string, f: string): number | undefined => m.get(s)?.get(f);
  const missing = [...GO_MEMBERS].flatMap(([s, fs]) => fs.filter((f) => at(s, f) === undefined).map((f) => `${s}.${f}`));
  if (missing.length > 0) return assumed(`its DWARF lacks ${missing.join(', ')}`);
  const layout = { conn: at('crypto/tls.Conn', 'conn')!, fd: at('net.TCPConn', 'conn')! + at('net.conn', 'fd')!,
    sysfd: at('net.netFD', 'pfd')! + at('internal/poll.FD', 'Sysfd')! };
  if (Object.values(layout).some((v) => v > 0xffff)) return assumed('its DWARF gives offsets past 64 KiB');
  return { ...layout, source: 'dwarf' };
}

/** A layout as tls_go_read/write's cookie (bpf/l7.bpf.c, go_conn_sock). */
export function goLayoutCookie(l: GoLayout): bigint {
  return BigInt(l.conn) | (BigInt(l.fd) << 16n) | (BigInt(l.sysfd) << 32n);
}

/** A file that TLS capture cannot serve, and why. */
export interface TlsProblem {
  name: string;
  library?: TlsLibrary;
  reason: string;
}

/** Each function: its entry program and (C libraries) its return program. */
const OPENSSL: readonly [string, string][] = [
  ['SSL_read', 'ssl_read'], ['SSL_write', 'ssl_write'], ['SSL_read_ex', 'ssl_read_ex'], ['SSL_write_ex', 'ssl_write_ex'],
];
const GNUTLS: readonly [string, string][] = [['gnutls_record_recv', 'gnutls_recv'], ['gnutls_record_send', 'gnutls_send']];
const GO: readonly [string, string][] = [['crypto/tls.(*Conn).Read', 'tls_go_read'], ['crypto/tls.(*Conn).Write', 'tls_go_write']];

/** A session's end (its plaintext connection ends; a session's address is reused by the next). */
const FREE = { openssl: ['SSL_free', 'tls_free_ssl'], gnutls: ['gnutls_deinit', 'tls_free_gnutls'] } as const;
/**
 * OpenSSL's BIO_write, in an executable that carries OpenSSL (Node): its sessions write to memory
 * BIOs, not sockets, and their socket is found by the ciphertext a socket write carries next.
 */
const BIO_WRITE = ['BIO_write', 'tls_bio_write'] as const;

/** Every program TLS capture may attach (the sensor loads them all when it is on). */
export const TLS_PROGRAMS: readonly string[] = [
  ...[...OPENSSL, ...GNUTLS].flatMap(([, p]) => [`tls_enter_${p}`, `tls_exit_${p}`]),
  ...GO.map(([, p]) => p), 'tls_go_ret', FREE.openssl[1], FREE.gnutls[1], BIO_WRITE[1],
];

const LIBRARY_FILE = /\/lib(ssl|gnutls)\.so(\.[0-9.]+)?$/;

/** The oldest Go whose functions take their arguments in registers (what tls_go_* read). */
const GO_REGISTER_ABI = [1, 17] as const;

/**
 * The files to put TLS uprobes on: the system's libraries, those processes
 * map, the executables processes run that carry a TLS library, and `extra`
 * (executables or libraries named by the user, each an error if it has none).
 * `seen` (device:inode) holds the files already planned: given again (a
 * rescan), only new files are looked at.
 */
export function planTls(extra: readonly string[] = [], seen = new Set<string>()): { targets: TlsTarget[]; problems: TlsProblem[] } {
  const targets: TlsTarget[] = [];
  const problems: TlsProblem[] = [];
  const consider = (path: string, name: string, named: boolean): void => {
    let id: string;
    try {
      const st = statSync(path);
      id = `${st.dev}:${st.ino}`;
    } catch (e) {
      if (named) problems.push({ name, reason: `cannot open it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      return;
    }
    if (seen.has(id)) return;
    seen.add(id);
    const r = planFile(path, name);
    if ('target' in r) targets.push(r.target);
    else if (r.problem && (named || r.problem.library)) problems.push(r.problem);
  };
  for (const p of extra) consider(p, p, true);
  for (const p of systemLibraries()) consider(p, p, false);
  for (const pid of pids()) {
    for (const file of mappedLibraries(pid)) consider(inRoot(pid, file), file, false);
    let exe: string;
    try {
      exe = readlinkSync(`/proc/${pid}/exe`);
    } catch {
      continue; // a kernel thread, or gone
    }
    // /proc/PID/exe opens the file the process runs, in whichever mount namespace; its
    // path names it (and outlives the process) when it is the same file here.
    const own = `/proc/${pid}/exe`;
    consider(sameFile(exe, own) ? exe : own, exe.replace(/ \(deleted\)$/, ''), false);
  }
  return { targets, problems };
}

/** What one file offers: a target, or why not (`library` set: it is one, but cannot be served). */
export function planFile(path: string, name = path): { target: TlsTarget } | { problem?: TlsProblem } {
  let src: FdSource;
  try {
    src = FdSource.open(path);
  } catch (e) {
    return { problem: { name, reason: `cannot open it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` } };
  }
  try {
    const elf = ElfFile.parse(src, name);
    const buildInfo = elf.section(src, '.go.buildinfo');
    if (buildInfo) return planGo(elf, src, name, path, buildInfo);
    const fns = elf.functions(src, [...OPENSSL, ...GNUTLS, FREE.openssl, FREE.gnutls, BIO_WRITE].map(([f]) => f));
    for (const [library, table] of [['openssl', OPENSSL], ['gnutls', GNUTLS]] as const) {
      // Both directions, or nothing: half a conversation pairs nothing.
      if (!fns.has(table[0]![0]) || !fns.has(table[1]![0])) continue;
      const probes = table.filter(([f]) => fns.has(f)).flatMap(([f, p]): TlsProbe[] => [
        { program: `tls_enter_${p}`, offset: fns.get(f)!.offset, retprobe: false, fn: f },
        { program: `tls_exit_${p}`, offset: fns.get(f)!.offset, retprobe: true, fn: f },
      ]);
      const entry = ([f, p]: readonly [string, string]): TlsProbe[] =>
        fns.has(f) ? [{ program: p, offset: fns.get(f)!.offset, retprobe: false, fn: f }] : [];
      probes.push(...entry(FREE[library]));
      // A shared libssl's sessions write to sockets (the syscall inside the call names it); BIO_write
      // lives in libcrypto there. An executable's own OpenSSL (Node's) writes to memory.
      if (library === 'openssl' && !LIBRARY_FILE.test(name)) probes.push(...entry(BIO_WRITE));
      return { target: { library, path, name, probes } };
    }
    return { problem: { name, reason: `defines none of ${[OPENSSL[0]![0], GNUTLS[0]![0], GO[0]![0]].join(', ')}` } };
  } catch (e) {
    return { problem: { name, reason: (e as Error).message } };
  } finally {
    src.close();
  }
}

function planGo(elf: ElfFile, src: FdSource, name: string, path: string, buildInfo: Buffer): { target: TlsTarget } | { problem?: TlsProblem } {
  const fns = elf.functions(src, GO.map(([f]) => f));
  if (fns.size === 0) return { problem: { name, reason: 'a Go program without crypto/tls' } };
  const version = goVersion(buildInfo);
  const v = /^go(\d+)\.(\d+)/.exec(version ?? '');
  if (!v || Number(v[1]) < GO_REGISTER_ABI[0] || (Number(v[1]) === GO_REGISTER_ABI[0] && Number(v[2]) < GO_REGISTER_ABI[1])) {
    return { problem: { name, library: 'go', reason: `built by ${version ?? 'an unknown Go'}: its functions take arguments on the stack (Go before 1.17), which Vigil does not read` } };
  }
  if (process.arch !== 'x64') return { problem: { name, library: 'go', reason: `Go on ${process.arch}: only x86-64 is supported` } };
  const probes: TlsProbe[] = [];
  const layout = goLayout(elf, src);
  const cookie = goLayoutCookie(layout);
  for (const [f, p] of GO) {
    const fn = fns.get(f);
    if (!fn) return { problem: { name, library: 'go', reason: `has no ${f}` } };
    const rets = returnOffsets(src.read(fn.offset, fn.size), fn.offset);
    if (rets.length === 0) return { problem: { name, library: 'go', reason: `${f}: no RET instruction found in its ${fn.size} bytes` } };
    probes.push({ program: p, offset: fn.offset, retprobe: false, fn: f, cookie });
    for (const r of rets) probes.push({ program: 'tls_go_ret', offset: r, retprobe: false, fn: `${f} (RET at +0x${(r - fn.offset).toString(16)})` });
  }
  return { target: { library: 'go', path, name, probes, goLayout: layout } };
}

/** The file offsets of the RET instructions of x86-64 code that starts at file offset `at`. */
export function returnOffsets(code: Uint8Array, at: number): number[] {
  const out: number[] = [];
  const decoder = new iced.Decoder(64, code, iced.DecoderOptions.None);
  decoder.ip = BigInt(at);
  try {
    while (decoder.canDecode) {
      const ins = decoder.decode();
      try {
        if (ins.flowControl === iced.FlowControl.Return) out.push(Number(ins.ip));
      } finally {
        ins.free();
      }
    }
  } finally {
    decoder.free();
  }
  return out;
}

/** The Go version a .go.buildinfo section names (Go 1.18+ inline layout), or undefined. */
export function goVersion(b: Buffer): string | undefined {
  // "\xff Go buildinf:", pointer size, flags; flag 2: strings inline from offset 32, each a varint length then bytes.
  if (b.length < 33 || b.toString('latin1', 0, 14) !== '\xff Go buildinf:' || (b[15]! & 2) === 0) return undefined;
  let len = 0;
  let shift = 0;
  let p = 32;
  for (; p < b.length && shift < 35; p++, shift += 7) {
    len |= (b[p]! & 0x7f) << shift;
    if ((b[p]! & 0x80) === 0) break;
  }
  p++;
  if (len <= 0 || p + len > b.length) return undefined;
  return b.toString('latin1', p, p + len);
}

/** libssl and libgnutls of the system's library path. */
function systemLibraries(): string[] {
  const r = spawnSync('ldconfig', ['-p'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return [];
  const out: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /=>\s*(\S+)$/.exec(line.trim());
    if (m && LIBRARY_FILE.test(m[1]!)) out.push(m[1]!);
  }
  return out;
}

function pids(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

/** The TLS libraries process pid maps (paths in its own mount namespace). */
function mappedLibraries(pid: number): Set<string> {
  const out = new Set<string>();
  let maps: string;
  try {
    maps = readFileSync(`/proc/${pid}/maps`, 'latin1');
  } catch {
    return out;
  }
  for (const line of maps.split('\n')) {
    const slash = line.indexOf('/');
    if (slash < 0) continue;
    const file = line.slice(slash);
    if (LIBRARY_FILE.test(file)) out.add(file);
  }
  return out;
}

function sameFile(a: string, b: string): boolean {
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** A path of pid's mount namespace, openable from here. */
function inRoot(pid: number, file: string): string {
  return `/proc/${pid}/root${file}`;
}
