// Types for the wasm-bindgen glue of gecko-profiler-demangle (the package ships types only for
// its bundler entry point, which imports the .wasm as an ES module: Node cannot load that).
declare module 'gecko-profiler-demangle/index_bg.js' {
  export function __wbg_set_wasm(exports: Record<string, unknown>): void;
  export function demangle_any(name: string): string;
}
