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
