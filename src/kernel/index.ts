// What Vigil knows about the Linux kernel, shared by every feature: errno and
// signal names, capabilities, syscall tables, /proc/kallsyms, ELF files,
// addresses and CIDRs, and UAPI constants. Pure data and parsers; nothing here
// loads a program.
// It sits below the runtime (src/bpf) and the features, and imports neither.
export * from './file-error.js';
export * from './errno.js';
export * from './signals.js';
export * from './capabilities.js';
export * from './syscalls.js';
export * from './kallsyms.js';
export * from './elf.js';
export * from './addr.js';
export * from './uapi.js';
