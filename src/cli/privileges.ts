// The capabilities a command needs, checked before it touches the kernel, so
// that a user without them gets one line naming what is missing and how to run
// it, rather than an EPERM from the first bpf() call deep in a load.
//
// CAP_BPF (Linux 5.8) loads programs and creates maps; CAP_PERFMON (5.8)
// attaches tracing programs and opens perf events; CAP_NET_ADMIN attaches XDP
// and cgroup network programs. CAP_SYS_ADMIN stands for CAP_BPF and
// CAP_PERFMON (and is the only way on kernels before 5.8).
import { BpfError } from '../bpf/errors.js';
import { capabilityNumber, effectiveCapabilities, hasCapability } from '../kernel/capabilities.js';
import { UsageError } from './command.js';

export type Capability = 'CAP_BPF' | 'CAP_PERFMON' | 'CAP_NET_ADMIN' | 'CAP_SYS_ADMIN';

/** Refused for want of capabilities: printed as one line, exit status 4. */
export class PrivilegeError extends Error {
  override readonly name = 'PrivilegeError';
}

/** The capabilities of `needed` that `caps` lacks (CAP_SYS_ADMIN covering CAP_BPF and CAP_PERFMON). */
export function missingCapabilities(needed: readonly Capability[], caps: bigint): Capability[] {
  const has = (c: Capability): boolean => hasCapability(caps, capabilityNumber(c)!);
  return needed.filter((c) => !has(c) && !((c === 'CAP_BPF' || c === 'CAP_PERFMON') && has('CAP_SYS_ADMIN')));
}

function list(caps: readonly string[]): string {
  return caps.length <= 1 ? caps.join('') : `${caps.slice(0, -1).join(', ')} and ${caps[caps.length - 1]}`;
}

/** The one-line refusal: what is missing, and how to run the command (with all it needs). */
export function privilegeMessage(what: string, missing: readonly Capability[], needed: readonly Capability[],
  argv: readonly string[]): string {
  const line = ['vigil', ...argv].join(' ');
  return `${what ? `${what}: it ` : ''}needs ${list(missing)}, which this process does not have: run it as root (sudo ${line}) ` +
    `or with ${list(needed)} (systemd: AmbientCapabilities=${needed.join(' ')}; see README, Privileges)`;
}

/** The capabilities of `needed` this process lacks (none if its capability set cannot be read). */
export function lackingCapabilities(needed: readonly Capability[]): Capability[] {
  const caps = effectiveCapabilities();
  return caps === undefined ? [] : missingCapabilities(needed, caps);
}

/**
 * Refuses (PrivilegeError) when this process lacks any of `needed`. Where the
 * capability set cannot be read, lets the command go on: the kernel decides.
 */
export function requireCapabilities(what: string, needed: readonly Capability[], argv: readonly string[]): void {
  const missing = lackingCapabilities(needed);
  if (missing.length) throw new PrivilegeError(privilegeMessage(what, missing, needed, argv));
}

/**
 * A network command's subcommand: one that attaches or detaches programs
 * needs CAP_BPF and CAP_NET_ADMIN; one that reads or writes the pinned maps,
 * CAP_BPF alone (`reading`: what it cannot do without).
 */
export function requireNetworkCapabilities(command: string, attaches: boolean, reading: string, argv: readonly string[]): void {
  if (attaches) requireCapabilities('', ['CAP_BPF', 'CAP_NET_ADMIN'], [command, ...argv]);
  else requireCapabilities(reading, ['CAP_BPF'], [command, ...argv]);
}

/** A refusal by the kernel's bpf() or perf calls (EPERM/EACCES), as opposed to a file's permissions. */
export function isPermissionError(e: unknown): boolean {
  return e instanceof BpfError && (e.errno === 1 || e.errno === 13);
}
