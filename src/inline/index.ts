// vigil/inline: BPF C compiled at run time (bcc-style scripts, CO-RE) and
// helpers for the maps its header declares. See docs/library.md.
export { compile, compileFile, compileObject, vmlinuxHeader, defaultCacheDir } from './compile.js';
export type { CompileOptions, CompiledObject } from './compile.js';
export { CompileError, type Diagnostic } from './errors.js';
export { readHistogram, formatHistogram, formatMap, readStack, slotRange, type HistogramFormat } from './maps.js';
