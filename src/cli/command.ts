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

/** The usage error of a subcommand that does not exist. */
export function unknownSubcommand(sub: string, available: string): UsageError {
  return new UsageError(`unknown subcommand "${sub}"; available: ${available}`);
}

/** Runs argv's subcommand among `handlers`; a missing or unknown one is a usage error that lists them. */
export function runSubcommand(argv: readonly string[], handlers: Readonly<Record<string, (rest: string[]) => Promise<number>>>): Promise<number> {
  const [sub, ...rest] = argv;
  const names = Object.keys(handlers).join(', ');
  if (sub === undefined) throw new UsageError(`give a subcommand: ${names}`);
  if (!Object.hasOwn(handlers, sub)) throw unknownSubcommand(sub, names);
  return handlers[sub]!(rest);
}

/**
 * Runs a command's body. An error of one of the `explained` kinds (bad input
 * or a refusal the command's own module words for the user) is one line,
 * "vigil NAME: message", and exit status 1; anything else propagates.
 */
export async function explainingErrors(name: string, explained: readonly (abstract new (...args: never[]) => Error)[],
  body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (explained.some((kind) => e instanceof kind)) {
      process.stderr.write(`vigil ${name}: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }
}

/**
 * The `status` of a command that manages interfaces: each one's status
 * (`read` opens and closes it), printed as JSON under `key`, or formatted and
 * separated by blank lines (`none` when there is none). Returns status 0.
 */
export function printStatuses<T>(o: {
  names: readonly string[]; read: (name: string) => T; json: boolean; key: string; format: (s: T) => string; none: string;
}): number {
  const all = o.names.map((n) => o.read(n));
  const text = o.json ? JSON.stringify({ [o.key]: all }, null, 2) : all.length ? all.map(o.format).join('\n\n') : o.none;
  process.stdout.write(`${text}\n`);
  return 0;
}
