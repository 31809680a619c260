// Public face of user-space symbolisation for the profiler.
export { Symbolizer } from './symbolizer.js';
export { KernelSymbolsError } from '../kallsyms.js';
export { demangle } from './demangle.js';
export type { Frame, FrameKind, Mapping, ProcessName, SymbolizerOptions, SymbolizerStats } from './types.js';
