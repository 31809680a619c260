// Regenerates src/generated/<h>.ts for every bpf/include/vigil/<h>.h from the
// BTF of the compiled objects (bpf/.output/**/*.bpf.o):
//
//   node dist/src/codegen/cli.js           write what changed (the build runs this after `make bpf`)
//   node dist/src/codegen/cli.js --check   write nothing; exit 1 if a generated file is out of date (CI)
//
// Wanted types are the definitions `struct vigil_\w+ {` and `enum vigil_\w+ {`
// in the headers. Each must be in the BTF of at least one object; where several
// objects have it, the first (by path) is used and every other must agree.
//
// Keeping a type in BTF: clang emits BTF only for the types of globals, maps
// and function signatures, so a struct that a program only reserves in a ring
// buffer or builds on the stack leaves no trace. In the .bpf.c that uses it
// (bpf/include/vigil/maps.h):
//
//   VIGIL_KEEP_TYPES(struct vigil_foo, enum vigil_bar);   // enums too
//
// (an 8-byte pointer in .bss per type, never touched; checked with clang 14). A struct
// used as a map's `__type(key/value, struct vigil_foo)` is kept already.
// See bpf/include/vigil/README.md.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Btf } from '../bpf/btf.js';
import { repoRoot } from '../util/paths.js';
import {
  CodegenError, enumValues, GENERATED_MARKER, generateModule, structLayout, type BtfTypes, type WantedType,
} from './generate.js';

export interface HeaderType {
  kind: 'struct' | 'enum';
  name: string;
}

/** Definitions (not uses) of `struct vigil_*` / `enum vigil_*` in a header, in order. */
export function scanHeader(text: string): HeaderType[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
  const out: HeaderType[] = [];
  for (const m of code.matchAll(/\b(struct|enum)\s+(vigil_\w+)\s*\{/g)) {
    const kind = m[1] as 'struct' | 'enum';
    const name = m[2]!;
    if (!out.some((t) => t.kind === kind && t.name === name)) out.push({ kind, name });
  }
  return out;
}

/** Compiled objects under dir whose source still exists (orphans of removed sources would mislead). */
export function findObjects(root: string): string[] {
  const outDir = path.join(root, 'bpf', '.output');
  const found: string[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.bpf.o')) {
        const src = path.join(root, 'bpf', path.relative(outDir, p).replace(/\.bpf\.o$/, '.bpf.c'));
        if (existsSync(src)) found.push(p);
      }
    }
  };
  walk(outDir);
  return found.sort();
}

export interface PlannedFile {
  /** Repository-relative path of the generated file. */
  file: string;
  content: string;
}

export interface Plan {
  files: PlannedFile[];
  /** Generated files (marked as such) whose header no longer defines anything. */
  stale: string[];
  errors: string[];
}

function keepIdiom(t: HeaderType): string {
  return `VIGIL_KEEP_TYPES(${t.kind} ${t.name}); (bpf/include/vigil/maps.h)`;
}

/** Everything the generator would write, computed without writing. */
export function plan(root: string): Plan {
  const rel = (p: string): string => path.relative(root, p);
  const includeDir = path.join(root, 'bpf', 'include', 'vigil');
  const genDir = path.join(root, 'src', 'generated');
  const headers = existsSync(includeDir) ? readdirSync(includeDir).filter((f) => f.endsWith('.h')).sort() : [];
  const errors: string[] = [];

  const wantedByHeader = headers.map((h) => ({ h, types: scanHeader(readFileSync(path.join(includeDir, h), 'utf8')) }))
    .filter((x) => x.types.length > 0);

  const objects = findObjects(root);
  if (wantedByHeader.length > 0 && objects.length === 0) {
    return { files: [], stale: [], errors: ['no compiled BPF objects in bpf/.output: run `make bpf` first'] };
  }
  const btfs: { obj: string; types: BtfTypes }[] = objects.map((obj) => ({ obj: rel(obj), types: Btf.fromFile(obj).types }));

  const files: PlannedFile[] = [];
  for (const { h, types } of wantedByHeader) {
    const header = `bpf/include/vigil/${h}`;
    const wanted: WantedType[] = [];
    let ok = true;
    for (const t of types) {
      const label = `${t.kind} ${t.name} (${header})`;
      let first: { obj: string; types: BtfTypes; sig: string } | undefined;
      try {
        for (const b of btfs) {
          const layout = t.kind === 'struct' ? structLayout(b.types, t.name) : enumValues(b.types, t.name);
          if (!layout) continue;
          const sig = JSON.stringify(layout);
          if (!first) first = { obj: b.obj, types: b.types, sig };
          else if (sig !== first.sig) {
            const size = (s: string): string => (t.kind === 'struct' ? `${(JSON.parse(s) as { size: number }).size} bytes` : 'values');
            const detail = size(sig) !== size(first.sig) ? `${size(first.sig)} in ${first.obj}, ${size(sig)} in ${b.obj}`
              : `same size, different members in ${first.obj} and ${b.obj}`;
            throw new CodegenError(`${label} differs between objects (${detail}); a stale object? run \`make bpf\``);
          }
        }
      } catch (e) {
        if (!(e instanceof CodegenError)) throw e;
        errors.push(e.message.startsWith(t.kind) ? `${e.message} (${header})` : e.message);
        ok = false;
        continue;
      }
      if (!first) {
        errors.push(
          `${label} is in the BTF of no compiled object under bpf/.output.\n` +
          '  clang keeps BTF only for types used by a global, a map or a function signature. In the .bpf.c that uses it, add\n' +
          `    ${keepIdiom(t)}\n` +
          '  (or use it as a map key/value type), then run `make bpf`.');
        ok = false;
        continue;
      }
      wanted.push({ kind: t.kind, name: t.name, types: first.types });
    }
    if (!ok) continue;
    try {
      files.push({ file: `src/generated/${h.replace(/\.h$/, '.ts')}`, content: generateModule(wanted, { header }) });
    } catch (e) {
      if (!(e instanceof CodegenError)) throw e;
      errors.push(`${e.message} (${header})`);
    }
  }

  // Generated files of headers that are gone (or define nothing any more). Only
  // headers that failed this time keep theirs: the error already says why.
  const keep = new Set([...files.map((f) => f.file), ...wantedByHeader.map((w) => `src/generated/${w.h.replace(/\.h$/, '.ts')}`)]);
  const stale = existsSync(genDir) ? readdirSync(genDir).filter((f) => f.endsWith('.ts'))
    .map((f) => `src/generated/${f}`)
    .filter((f) => !keep.has(f) && readFileSync(path.join(root, f), 'utf8').startsWith(GENERATED_MARKER)) : [];
  return { files, stale, errors };
}

function readOr(p: string): string | undefined {
  return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
}

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

const stdio: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** The command: returns the exit status. */
export function main(argv: string[], root = repoRoot(), io: Output = stdio): number {
  const { values } = parseArgs({ args: argv, options: { check: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    io.out('usage: node dist/src/codegen/cli.js [--check]\n' +
      '  Regenerates src/generated/*.ts from bpf/include/vigil/*.h and the BTF of bpf/.output/**/*.bpf.o.\n' +
      '  --check  write nothing; exit 1 if a generated file is out of date');
    return 0;
  }
  const p = plan(root);
  const changed = p.files.filter((f) => readOr(path.join(root, f.file)) !== f.content);

  if (values.check) {
    for (const f of changed) io.err(`codegen: ${f.file} is out of date`);
    for (const f of p.stale) io.err(`codegen: ${f} has no header any more`);
    for (const e of p.errors) io.err(`codegen: ${e}`);
    if (changed.length || p.stale.length || p.errors.length) {
      if (changed.length || p.stale.length) io.err('codegen: run `make bpf && node dist/src/codegen/cli.js`');
      return 1;
    }
    io.out(`codegen: ${p.files.length} generated files up to date`);
    return 0;
  }

  if (changed.length) mkdirSync(path.join(root, 'src', 'generated'), { recursive: true });
  for (const f of changed) {
    const dst = path.join(root, f.file);
    writeFileSync(`${dst}.tmp`, f.content);
    renameSync(`${dst}.tmp`, dst);
    io.out(`codegen: wrote ${f.file}`);
  }
  for (const f of p.stale) {
    unlinkSync(path.join(root, f));
    io.out(`codegen: removed ${f} (its header is gone)`);
  }
  for (const e of p.errors) io.err(`codegen: ${e}`);
  io.out(`codegen: ${changed.length} written, ${p.files.length - changed.length} unchanged` +
    (p.stale.length ? `, ${p.stale.length} removed` : '') + (p.errors.length ? `, ${p.errors.length} failed` : ''));
  return p.errors.length ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`codegen: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
