// Locating the repository's build artefacts from compiled (dist/) or source code.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The repository root: the nearest directory above this file with a package.json. */
export function repoRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return (root = dir);
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the Vigil repository root (package.json)');
}

export function repoPath(...parts: string[]): string {
  return path.join(repoRoot(), ...parts);
}

/**
 * A compiled BPF object: bpfObjectPath('exec') -> bpf/.output/exec.bpf.o, or
 * $VIGIL_BPF_DIR/exec.bpf.o where the objects (and their signatures) were
 * installed elsewhere.
 */
export function bpfObjectPath(name: string): string {
  const dir = process.env.VIGIL_BPF_DIR;
  return dir ? path.join(path.resolve(dir), `${name}.bpf.o`) : repoPath('bpf', '.output', `${name}.bpf.o`);
}
