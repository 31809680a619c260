// Public face of user-space symbolisation for the profiler.
export { Symbolizer } from './symbolizer.js';
export { KernelSymbols, KernelSymbolsError, type KernelSymbol } from '../kallsyms.js';
export { demangle } from './demangle.js';
export type { Frame, FrameKind, Mapping, ProcessName, SymbolizerOptions, SymbolizerStats } from './types.js';
