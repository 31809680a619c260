// C++ (Itanium) and Rust (legacy and v0) demangling.
//
// Uses gecko-profiler-demangle: the Firefox Profiler's demangler (Markus Stange, also the author
// of samply), a wasm build of the cpp_demangle and rustc-demangle crates. Chosen over shelling
// out to c++filt because it covers Rust (legacy hashes dropped, v0) as well as C++, needs no
// binutils on the host, and runs in-process (~10 µs a name) with no child process to manage.
// Its default entry point imports the .wasm as an ES module (bundlers only), so the glue is
// wired to a synchronously compiled module here.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import * as glue from 'gecko-profiler-demangle/index_bg.js';

// The project's lib settings carry no DOM/WebAssembly types: declare the two constructors used.
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let state: 'unloaded' | 'ready' | 'failed' = 'unloaded';
let loadError: Error | undefined;

function load(): boolean {
  if (state !== 'unloaded') return state === 'ready';
  try {
    const require = createRequire(import.meta.url);
    const wasmPath = require.resolve('gecko-profiler-demangle/index_bg.wasm');
    const module = new Wasm.Module(fs.readFileSync(wasmPath));
    const instance = new Wasm.Instance(module, { './index_bg.js': { ...glue } });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports['__wbindgen_start'] as () => void)();
    state = 'ready';
  } catch (err) {
    state = 'failed';
    loadError = err as Error;
  }
  return state === 'ready';
}

/** Whether a name looks mangled (Itanium C++ `_Z`, Rust legacy `_ZN...E`, Rust v0 `_R`). */
export function isMangled(name: string): boolean {
  return name.startsWith('_Z') || name.startsWith('_R') || name.startsWith('__Z') || name.startsWith('__R');
}

/**
 * Demangles a C++ or Rust symbol; returns other names unchanged, and the input if it is not
 * valid mangling. Suffixes like `.cold` / `.isra.0` are kept in the demangler's way
 * (`foo(int) [clone .cold]`).
 */
export function demangle(name: string): string {
  if (!isMangled(name) || !load()) return name;
  // Symbol versions (`_ZdlPv@GLIBCXX_3.4`) are not mangling: demangle the part before them.
  const at = name.indexOf('@');
  const base = at > 0 ? name.slice(0, at) : name;
  let out: string;
  try {
    out = glue.demangle_any(base);
  } catch {
    return name;
  }
  // Unparseable input comes back as is, or with its leading underscore dropped.
  if (out === base || out === base.slice(1)) return name;
  return tidy(out) + (at > 0 ? name.slice(at) : '');
}

/**
 * Smooths over cpp_demangle's rough edges, checked against c++filt on the node binary's 150k
 * symbols: empty template parameter packs print as a trailing ", " in `<...>` and as a lone
 * `&&` parameter; thunks print as `{virtual override thunk(...)}`. Other differences from
 * c++filt are style (no return type, `std::ostream`, `(unsigned long)16`), kept on purpose:
 * they make shorter flame graph labels.
 */
function tidy(d: string): string {
  const thunk = /^\{virtual override thunk\(\{(virtual )?offset\([^}]*\)\}, (.*)\)\}( \[clone [^\]]*\])*$/.exec(d);
  if (thunk) d = `${thunk[1] ? 'virtual' : 'non-virtual'} thunk to ${thunk[2]}${d.slice(d.lastIndexOf(')}') + 2)}`;
  if (d.includes(', >')) d = d.replaceAll(', >', '>');
  if (d.includes('&')) d = d.replace(/, (?:const ?)?&{1,2}(?=[,)])/g, '').replace(/\((?:const ?)?&{1,2}(?=[,)]), ?/g, '(');
  return d;
}

/** Why demangling is unavailable, if it is (the wasm module failed to load). */
export function demanglerError(): Error | undefined {
  load();
  return loadError;
}
