/**
 * Addresses to names: user space (ELF symbol tables, perf maps, demangling)
 * and the kernel (kallsyms), as the profiler uses them.
 *
 * @module vigil/symbols
 */
export { Symbolizer } from './symbolizer.js';
export { KernelSymbols, KernelSymbolsError, type KernelSymbol, type KernelSymbolsParts } from '../kallsyms.js';
export { demangle } from './demangle.js';
export type { Frame, FrameKind, Mapping, ProcessName, SymbolizerOptions, SymbolizerStats } from './types.js';
