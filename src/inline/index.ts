/**
 * BPF C compiled at run time (bcc-style scripts, CO-RE against the running
 * kernel's BTF, no kernel headers) into an ObjectSpec, and helpers for the
 * maps vigil/lib.h declares (histograms, stack traces), and how a script
 * runs until a duration or Ctrl-C. See docs/library.md.
 *
 * @module vigil/inline
 */
export { compile, compileFile, compileObject, vmlinuxHeader, defaultCacheDir } from './compile.js';
export type { CompileOptions, CompiledObject } from './compile.js';
export { CompileError, type Diagnostic } from './errors.js';
export { readHistogram, formatHistogram, formatMap, readStack, slotRange, type HistogramFormat } from './maps.js';
export { untilInterrupted } from './until.js';
