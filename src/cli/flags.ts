// Flag parsing shared by the commands that take the same options (observe,
// top, run): numbers, ids, path prefixes, --container, and the in-kernel
// FilterSet they end up as. A bad value is a UsageError naming the flag.
import { UsageError } from './command.js';
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

/** --container ID|host as cgroup ids for the filter (the tree is read now: containers started later are not known). */
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
