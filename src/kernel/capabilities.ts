// Linux capabilities (include/uapi/linux/capability.h): numbers, names and the
// sets /proc/PID/status shows as hex masks (bit n is capability n).
import { readFileSync } from 'node:fs';

/** Capability names, index = capability number. */
export const CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

const NUMBERS: ReadonlyMap<string, number> = new Map(CAPABILITIES.map((n, i) => [n, i] as [string, number]));

export const CAP_DAC_OVERRIDE = 1;
export const CAP_NET_ADMIN = 12;
export const CAP_SYS_ADMIN = 21;
export const CAP_PERFMON = 38;
export const CAP_BPF = 39;

/** "CAP_SYS_ADMIN" for 21; "CAP_<n>" for a number this table does not name. */
export function capabilityName(cap: number): string {
  return CAPABILITIES[cap] ?? `CAP_${cap}`;
}

/** "CAP_SYS_ADMIN", "SYS_ADMIN", "cap_sys_admin" or "21" -> 21; undefined otherwise. */
export function capabilityNumber(text: string): number | undefined {
  const t = text.trim().toUpperCase();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    return n < 64 ? n : undefined;
  }
  return NUMBERS.get(t.startsWith('CAP_') ? t : `CAP_${t}`);
}

/** Whether capability `cap` is in the set `mask`. */
export function hasCapability(mask: bigint, cap: number): boolean {
  return ((mask >> BigInt(cap)) & 1n) === 1n;
}

/** The capabilities in a set, lowest first, each named by `name` (capabilityName by default). */
export function capabilityList(mask: bigint, name: (cap: number) => string = capabilityName): string[] {
  const out: string[] = [];
  for (let i = 0; i < 64; i++) if (hasCapability(mask, i)) out.push(name(i));
  return out;
}

/** A process's effective capability set (CapEff in /proc/PID/status); undefined if unreadable. */
export function effectiveCapabilities(status = '/proc/self/status'): bigint | undefined {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(status, 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : undefined;
  } catch {
    return undefined;
  }
}
