// The built-in policy library: policies/*.yaml in the repository, Tetragon's
// TracingPolicy format, each with a description annotation.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { repoPath } from '../util/paths.js';

/** The directory of the built-in policies. */
export function builtinPolicyDir(): string {
  return repoPath('policies');
}

/** The built-in policy files, by name. */
export function builtinPolicyFiles(): string[] {
  const dir = builtinPolicyDir();
  return readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(dir, f));
}
