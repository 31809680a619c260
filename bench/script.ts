// What the benchmark scripts share as commands: integer flags checked the
// same way, and how each runs when node is started on it.

/** An integer flag's value, at least `min`; otherwise an Error naming the flag. */
export function intFlag(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer >= ${min}, got "${value}"`);
  return n;
}

/**
 * Runs `main` when the module of `meta` is the script node was started on
 * (not when it is imported); a failure is one line on stderr, status 1.
 */
export function runAsScript(meta: ImportMeta, name: string, main: () => Promise<void>): void {
  if (meta.url !== `file://${process.argv[1]}`) return;
  main().catch((e: unknown) => {
    process.stderr.write(`bench ${name}: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
