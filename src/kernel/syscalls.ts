// Syscall numbers and names, per ABI. The tables are generated from the
// kernel's UAPI headers (scripts/syscall-names.mjs -> src/generated/syscalls.ts);
// syscall numbers are ABI: they never change once assigned.
import { arch } from 'node:process';
import { SYSCALLS_ARM64, SYSCALLS_I386, SYSCALLS_X86_64 } from '../generated/syscalls.js';

/** A native syscall table: what the BPF programs see. */
export type SyscallArch = 'x86_64' | 'arm64';
/** A native table, or i386: x86_64's ia32 compat calls (`__ia32_sys_*` in policies). */
export type SyscallAbi = SyscallArch | 'i386';

const TABLES: Record<SyscallAbi, Readonly<Record<number, string>>> = {
  x86_64: SYSCALLS_X86_64, arm64: SYSCALLS_ARM64, i386: SYSCALLS_I386,
};

const BY_NAME = new Map<SyscallAbi, ReadonlyMap<string, number>>();

function numbers(a: SyscallAbi): ReadonlyMap<string, number> {
  let m = BY_NAME.get(a);
  if (!m) {
    m = new Map(Object.entries(TABLES[a]).map(([nr, n]) => [n, Number(nr)] as [string, number]));
    BY_NAME.set(a, m);
  }
  return m;
}

/** The syscall table of this machine (the ABI the BPF programs see: native calls). */
export function hostSyscallArch(): SyscallArch {
  if (arch === 'x64') return 'x86_64';
  if (arch === 'arm64') return 'arm64';
  throw new Error(`no syscall table for ${arch} (x86_64 and arm64 only)`);
}

/** "openat" for 257 on x86_64; "syscall_<nr>" for a number the table does not know. */
export function syscallName(nr: number, a: SyscallAbi = hostSyscallArch()): string {
  return TABLES[a][nr] ?? `syscall_${nr}`;
}

/** The number of a named syscall ("syscall_<nr>" names its number), or undefined. */
export function syscallNumber(name: string, a: SyscallAbi = hostSyscallArch()): number | undefined {
  const nr = numbers(a).get(name);
  if (nr !== undefined) return nr;
  const m = /^syscall_(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Every [number, name] of a table, by number. */
export function syscallTable(a: SyscallAbi = hostSyscallArch()): [number, string][] {
  return Object.entries(TABLES[a]).map(([nr, n]) => [Number(nr), n] as [number, string]).sort((x, y) => x[0] - y[0]);
}
