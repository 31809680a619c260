// Flag parsing shared by the commands that take the same options (observe,
// top, run): numbers, ids, path prefixes, --container, and the in-kernel
// FilterSet they end up as. A bad value is a UsageError naming the flag.
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError, unknownSubcommand } from './command.js';
import { formatByteSize, parseByteSize } from '../pipeline/size.js';
import { FilterSet, type FilterOptions } from '../sensors/filter.js';
import { ContainerLookupError, containerCgroupIds, containerCgroups } from '../process/container.js';

/** A positive number (or integer): --duration, --count, --interval, --limit. */
export function positive(flag: string, v: string | undefined, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${flag}: expected a positive ${integer ? 'integer' : 'number'}, got "${v}"`);
  }
  return n;
}

/** A byte size (--output-buffer): "16MiB", "512KiB", "1GiB", plain bytes; at least `min`. */
export function byteSize(flag: string, v: string | undefined, fallback: number, min = 64 << 10): number {
  if (v === undefined) return fallback;
  const n = parseByteSize(v);
  if (n === undefined) throw new UsageError(`${flag}: expected a size such as 16MiB, 512KiB or 1GiB, got "${v}"`);
  if (n < min) throw new UsageError(`${flag}: at least ${formatByteSize(min)}, got "${v}"`);
  return n;
}

/** Repeated integer ids (--pid, --uid): at least `min`, at most 2^32 - 2 (-1 is "none" to the kernel). */
export function ids(flag: string, values: string[] | undefined, min: number): number[] | undefined {
  if (!values?.length) return undefined;
  return values.map((v) => {
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > 0xfffffffe) {
      throw new UsageError(`${flag}: expected an integer${min ? ` >= ${min}` : ''}, got "${v}"`);
    }
    return Number(v);
  });
}

/** Absolute path prefixes (--binary, --path-prefix), as long as the kernel's prefix keys allow. */
export function absolutePrefixes(flag: string, values: string[] | undefined): string[] | undefined {
  if (!values?.length) return undefined;
  for (const v of values) {
    if (!v.startsWith('/')) throw new UsageError(`${flag}: expected an absolute path (starting with /), got "${v}"`);
    if (Buffer.byteLength(v) > 255) throw new UsageError(`${flag}: longer than 255 bytes: "${v.slice(0, 40)}..."`);
  }
  return values;
}

/**
 * A path prefix spelled as the file sensor's canonical paths are: ".", ".."
 * and "//" resolved, and symlinks resolved as far as the path exists, as
 * this process sees the filesystem ("/var/run/" and "/var/run" are "/run/"
 * and "/run" where /var/run links there: without this they would match
 * nothing). What does not exist (a partial name, "/etc/pass") stays as
 * written. A trailing '/' is kept.
 */
export function canonicalPrefix(prefix: string): string {
  const n = path.posix.normalize(prefix);
  const slash = n.length > 1 && n.endsWith('/') ? '/' : '';
  let dir = slash ? n.slice(0, -1) : n;
  let tail = '';
  for (;;) {
    try {
      const real = realpathSync(dir);
      const joined = `${real === '/' ? '' : real}${tail}`;
      return (joined || '/') + (joined ? slash : '');
    } catch {
      if (dir === '/') return n;
      tail = `/${path.posix.basename(dir)}${tail}`;
      dir = path.posix.dirname(dir);
    }
  }
}

/** --path-prefix values: absolute, canonical (canonicalPrefix), as long as the kernel's prefix keys allow. */
export function pathPrefixes(flag: string, values: string[] | undefined): string[] | undefined {
  return absolutePrefixes(flag, absolutePrefixes(flag, values)?.map(canonicalPrefix));
}

/**
 * --container ID|host as cgroup ids for the kernel's filter. The tree is read now: a container started
 * later is not among them (with host, its processes pass the kernel's filter; observe drops them in
 * user space by their cgroup's path).
 */
export function resolveContainer(filter: FilterOptions, container: string | undefined): FilterOptions {
  if (container === undefined) return filter;
  try {
    if (container === 'host') return { ...filter, cgroupIds: containerCgroups().map((c) => c.id), notInCgroups: true };
    return { ...filter, cgroupIds: containerCgroupIds(container) };
  } catch (e) {
    if (e instanceof ContainerLookupError) throw new UsageError(`--container: ${e.message}`);
    throw e;
  }
}

/** The in-kernel filters for these options; a value the kernel cannot hold is a usage error. */
export function filterSetFromFlags(filter: FilterOptions, container: string | undefined): FilterSet {
  try {
    return new FilterSet(resolveContainer(filter, container));
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
}

type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/** The in-kernel process filters' flags, as observe and run take them. */
export const PROCESS_FILTER_FLAGS = {
  pid: { type: 'string', multiple: true },
  'follow-children': { type: 'boolean', default: false },
  uid: { type: 'string', multiple: true },
  comm: { type: 'string', multiple: true },
  container: { type: 'string', multiple: true },
  'include-self': { type: 'boolean', default: false },
} as const;

/** `--duration` (`-o, --output`): how a flag is named in a list of choices. */
function flagName(name: string, o: FlagOptions[string]): string {
  return o.short ? `-${o.short}, --${name}` : `--${name}`;
}

/** The flags a command takes, for an error message: every valid choice. */
export function flagList(options: FlagOptions): string {
  return Object.entries(options).map(([n, o]) => flagName(n, o)).join(', ');
}

/**
 * A value that starts with '-' where a flag needs one: parseArgs refuses
 * `--pps -1` as "ambiguous" (is -1 a flag?). A number is a value (a negative
 * one, refused with the flag's own check, which says what is valid); it is
 * joined to its flag as `--pps=-1`.
 */
function joinNegativeValues(args: readonly string[], options: FlagOptions): string[] {
  const byShort = new Map(Object.entries(options).filter(([, o]) => o.short).map(([n, o]) => [o.short!, n]));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') { out.push(...args.slice(i)); break; }
    const name = a.startsWith('--') ? a.slice(2) : /^-[^-]$/.test(a) ? byShort.get(a.slice(1)) : undefined;
    const next = args[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/** The flag an ERR_PARSE_ARGS_* message is about (`'-o, --output <value>'` → `--output`). */
function flagOf(message: string): string | undefined {
  return /'(?:-\w, )?(--?[\w-]+)/.exec(message)?.[1];
}

/**
 * node:util parseArgs, strict, with its refusals turned into one-line
 * UsageErrors that name the flag and list every flag the command takes.
 */
export function parseFlags<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  const options = config.options ?? {};
  try {
    return parseArgs({ ...config, args: joinNegativeValues(config.args ?? [], options), strict: true }) as ReturnType<typeof parseArgs<T>>;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const message = e instanceof Error ? e.message : String(e);
    const flag = flagOf(message);
    const valid = Object.keys(options).length ? `; valid options: ${flagList(options)}` : '; it takes no options';
    switch (code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new UsageError(`unknown option ${flag ?? message}${valid}`, { cause: e });
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
        const arg = /'([^']*)'/.exec(message)?.[1];
        throw new UsageError(`unexpected argument "${arg ?? message}" (this command takes options only)`, { cause: e });
      }
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        if (flag && /does not take an argument/.test(message)) throw new UsageError(`${flag} takes no value`, { cause: e });
        if (flag) throw new UsageError(`${flag}: a value is needed (e.g. ${flag} VALUE)`, { cause: e });
        throw new UsageError(message.split('\n')[0]!, { cause: e });
      default:
        throw e;
    }
  }
}

/**
 * argv's subcommand, one of the keys of `subcommands`, and the rest of argv
 * parsed with that subcommand's own flags (a flag of another subcommand is
 * refused, not ignored). A missing or unknown subcommand is a usage error
 * that lists them.
 */
export function parseSubcommand<S extends Readonly<Record<string, FlagOptions>>>(argv: readonly string[], subcommands: S):
  { sub: keyof S & string; positionals: string[]; values: Record<string, unknown> } {
  const [sub, ...rest] = argv;
  const names = Object.keys(subcommands).join(', ');
  if (sub === undefined) throw new UsageError(`give a subcommand: ${names}`);
  if (!Object.hasOwn(subcommands, sub)) throw unknownSubcommand(sub, names);
  const { positionals, values } = parseFlags({ args: rest, allowPositionals: true, options: subcommands[sub] });
  return { sub, positionals, values };
}
