// The shape of a CLI command. Each lives in src/cli/commands/<name>.ts.
export interface Command {
  name: string;
  /** One line for `vigil help`. */
  summary: string;
  /** Full usage text for `vigil <name> --help`. */
  usage: string;
  /** Returns the process exit status. */
  run(argv: string[]): Promise<number>;
}

/** A user error: printed as `vigil: <message>` with exit status 2, no stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Runs a command's work: a refusal of one of the `expected` kinds (the
 * command's own errors, e.g. "no firewall on eth0") is one line `vigil NAME:
 * message` on stderr and status 1; anything else goes on to main's report.
 */
export async function refusalsAsStatus(name: string, expected: ReadonlyArray<abstract new (...args: never[]) => Error>,
  work: () => Promise<number>): Promise<number> {
  try {
    return await work();
  } catch (e) {
    if (!expected.some((k) => e instanceof k)) throw e;
    process.stderr.write(`vigil ${name}: ${(e as Error).message}\n`);
    return 1;
  }
}
