// Signal numbers and names (the host's table, os.constants.signals).
import os from 'node:os';

/** Where one number has two names, the one the kernel's headers list first and ps/strace print. */
const PREFERRED = new Set(['SIGABRT', 'SIGIO']);

const NAMES = new Map<number, string>();
const NUMBERS = new Map<string, number>();
for (const [name, n] of Object.entries(os.constants.signals)) {
  NUMBERS.set(name, n);
  if (!NAMES.has(n) || PREFERRED.has(name)) NAMES.set(n, name);
}

/** "SIGKILL" for 9; "SIG<n>" for a number this platform does not name (real-time signals). */
export function signalName(signal: number): string {
  return NAMES.get(signal) ?? `SIG${signal}`;
}

/** 9 for "SIGKILL" or "KILL" (any case); undefined otherwise. */
export function signalNumber(name: string): number | undefined {
  const t = name.trim().toUpperCase();
  return NUMBERS.get(t.startsWith('SIG') ? t : `SIG${t}`);
}
