// Least privilege: the capabilities an agent's configuration needs, and the
// drop to them at start (docs/agent.md, "Capabilities").
//
// The agent keeps only what its features use, including what loading a
// TracingPolicy later through the API needs (CAP_BPF, CAP_PERFMON), and drops
// every other capability from its effective, permitted, inheritable, ambient
// and bounding sets. The drop is an exec of the same command line (same pid)
// with the bounding set lowered (native/privileges.cc): capabilities are per
// thread, and only an exec reaches every thread of a Node process. The new
// image checks its sets before it loads anything.
import os from 'node:os';
import { readFileSync } from 'node:fs';
import type { AgentConfig } from './config.js';
import { CAPABILITIES, capabilityList, capabilityName, hasCapability } from '../kernel/capabilities.js';

const CAP_SETPCAP = 8;

export interface CapabilityNeed {
  readonly cap: string;
  /** The feature that needs it, for the log and the docs. */
  readonly why: string;
}

/** "6.1.0-18-amd64" -> [6, 1]. */
function release(r: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(r);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}
const before = (r: string, major: number, minor: number): boolean => {
  const [a, b] = release(r);
  return a < major || (a === major && b < minor);
};

/** What `config` needs on a kernel of `kernelRelease`, each capability once, with why. */
export function agentCapabilities(config: AgentConfig, kernelRelease: string = os.release()): CapabilityNeed[] {
  const needs: CapabilityNeed[] = [];
  const need = (cap: string, why: string): void => {
    if (!needs.some((n) => n.cap === cap)) needs.push({ cap, why });
  };
  if (before(kernelRelease, 5, 8)) {
    need('CAP_SYS_ADMIN', 'loading BPF programs and tracing (kernels before 5.8 have no CAP_BPF or CAP_PERFMON)');
  } else {
    need('CAP_BPF', 'loading BPF programs and maps: the sensors, and policies added later through the API');
    need('CAP_PERFMON', 'tracepoints, kprobes and uprobes (perf events) and the programs\' reads of kernel memory');
  }
  if (config.sensors.includes('flow') || config.sensors.includes('dns')) need('CAP_NET_ADMIN', 'the flow and dns sensors (cgroup socket programs)');
  if (config.sensors.includes('profile')) need('CAP_SYS_PTRACE', 'the profile sensor: the sampled processes\' memory maps and files (/proc/PID/maps, /proc/PID/root) for their symbols');
  if (config.sensors.includes('profile')) need('CAP_SYSLOG', 'the profile sensor: kernel frames\' names (/proc/kallsyms shows its addresses to CAP_SYSLOG only)');
  if (config.firewall.length) need('CAP_NET_ADMIN', 'the XDP firewall');
  if (config.metrics?.bpfStats) need('CAP_SYS_ADMIN', 'metrics.bpfStats (BPF_ENABLE_STATS)');
  if (before(kernelRelease, 5, 11)) need('CAP_SYS_RESOURCE', 'raising RLIMIT_MEMLOCK (kernels before 5.11 charge BPF memory to it)');
  if (config.api.group !== undefined) need('CAP_CHOWN', 'api.group: the socket is given to that group');
  for (const cap of config.capabilities.keep) need(cap, 'capabilities.keep');
  return needs;
}

/** The bit mask of a list of capability names. */
export function capabilityMask(caps: readonly string[]): bigint {
  let mask = 0n;
  for (const c of caps) {
    const n = CAPABILITIES.indexOf(c);
    if (n < 0) throw new Error(`unknown capability ${c}`);
    mask |= 1n << BigInt(n);
  }
  return mask;
}

/** A set from /proc/PID/status (CapEff, CapPrm, CapInh, CapBnd, CapAmb). */
export function capabilitySet(name: 'CapEff' | 'CapPrm' | 'CapInh' | 'CapBnd' | 'CapAmb', status = '/proc/self/status'): bigint {
  const m = new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(readFileSync(status, 'utf8'));
  if (!m) throw new Error(`${status}: no ${name}`);
  return BigInt(`0x${m[1]}`);
}

/** The environment variable that tells the exec'd agent which set it was given. */
export const DROPPED_ENV = 'VIGIL_AGENT_CAPABILITIES';

export type DropOutcome =
  /** Nothing beyond `keep` was held: no exec. */
  | { readonly state: 'already'; readonly kept: readonly string[] }
  /** This image is the exec'd one, and every set is within `keep`. */
  | { readonly state: 'dropped'; readonly kept: readonly string[] }
  /** More is held, and the bounding set cannot be lowered (no CAP_SETPCAP: a container's runtime fixed it). */
  | { readonly state: 'cannot'; readonly kept: readonly string[]; readonly extra: string };

/**
 * Brings this process down to `keep`: when it holds more (effective,
 * permitted or bounding), execs itself with the bounding set lowered
 * (`exec` does that and does not return); in the exec'd image, checks that
 * nothing beyond `keep` is left. Throws when a set is still wider after the
 * exec, or when the exec failed.
 */
export function dropCapabilities(keep: readonly string[],
  exec: (keepMask: bigint, env: Record<string, string>) => never): DropOutcome {
  const mask = capabilityMask(keep);
  const wider = (): string[] => (['CapEff', 'CapPrm', 'CapBnd', 'CapInh', 'CapAmb'] as const)
    .filter((s) => (capabilitySet(s) & ~mask) !== 0n)
    .map((s) => `${s} ${capabilityList(capabilitySet(s) & ~mask).join(',')}`);
  const extra = wider();
  const kept = capabilityList(capabilitySet('CapEff') & mask);
  if (process.env[DROPPED_ENV] !== undefined) {
    delete process.env[DROPPED_ENV]; // not for the processes the agent runs
    if (extra.length) throw new Error(`capabilities were dropped to ${keep.join(', ')} but the process still holds ${extra.join('; ')}`);
    return { state: 'dropped', kept };
  }
  if (!extra.length) return { state: 'already', kept };
  if (!hasCapability(capabilitySet('CapEff'), CAP_SETPCAP)) {
    return { state: 'cannot', kept: capabilityList(capabilitySet('CapEff')), extra: extra.join('; ') };
  }
  return exec(mask, { [DROPPED_ENV]: keep.join(',') });
}

/** For messages: every capability's name in a mask. */
export function describeMask(mask: bigint): string {
  return capabilityList(mask, capabilityName).join(', ') || 'none';
}
