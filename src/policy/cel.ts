// matchCEL: Tetragon's CEL expressions over a hook's arguments and data,
// checked when the policy is loaded and evaluated by the agent over the
// values of each event the kernel posted for the selector.
//
// Variables: arg0, arg1, ... are the entries of `args` by position (not by
// their `index`), data0, data1, ... those of `data`. Integer types are CEL
// int (signed) or uint (unsigned); strings, paths and buffers are CEL string.
// Tetragon's width conversions int8() .. int64() and uint8() .. uint64()
// wrap a value to that width (CEL itself has only int and uint).
//
// Where this is exact (docs/policy.md): the selector is the hook's last and
// only posts. The kernel has chosen the first selector whose other filters
// matched; when the expression is false no later selector could have
// matched, so "no event" is what Tetragon's in-kernel evaluation gives too.
import { Environment, UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import type { ArgSpec, ArgType, ArgValue } from './ir.js';
import { INT_ARG_TYPES, PATH_ARG_TYPES, STRING_ARG_TYPES } from './ir.js';

const UNSIGNED: ReadonlySet<ArgType> = new Set<ArgType>(['uint', 'uint8', 'uint16', 'uint32', 'uint64', 'size_t', 'ulong']);

type CelType = 'int' | 'uint' | 'string' | 'dyn';

function celType(t: ArgType): CelType {
  if (UNSIGNED.has(t)) return 'uint';
  if (INT_ARG_TYPES.has(t)) return 'int';
  if (STRING_ARG_TYPES.has(t) || PATH_ARG_TYPES.has(t) || t === 'const_buf') return 'string';
  return 'dyn';
}

const WIDTHS: readonly [string, number, boolean][] = [
  ['int8', 8, true], ['int16', 16, true], ['int32', 32, true], ['int64', 64, true],
  ['uint8', 8, false], ['uint16', 16, false], ['uint32', 32, false], ['uint64', 64, false],
];

function toBig(x: bigint | UnsignedInt): bigint {
  return x instanceof UnsignedInt ? x.valueOf() as bigint : x;
}

function environment(args: readonly ArgSpec[], data: readonly ArgSpec[]): Environment {
  const env = new Environment();
  args.forEach((a, i) => env.registerVariable(`arg${i}`, celType(a.type)));
  data.forEach((a, i) => env.registerVariable(`data${i}`, celType(a.type)));
  for (const [name, bits, signed] of WIDTHS) {
    const wrap = (x: bigint | UnsignedInt): bigint | UnsignedInt => (signed
      ? BigInt.asIntN(bits, toBig(x))
      : new UnsignedInt(BigInt.asUintN(bits, toBig(x))));
    const ret = signed ? 'int' : 'uint';
    env.registerFunction(`${name}(int): ${ret}`, wrap);
    env.registerFunction(`${name}(uint): ${ret}`, wrap);
  }
  return env;
}

/** A checked expression: `matches` is false for an event whose values make it false (or fail). */
export interface CelProgram {
  readonly expr: string;
  matches(args: readonly ArgValue[], data: readonly ArgValue[]): boolean;
}

/** Parses and type-checks an expression for a hook's args and data; the error says why not. */
export function compileCel(expr: string, args: readonly ArgSpec[], data: readonly ArgSpec[]): CelProgram | { error: string } {
  const env = environment(args, data);
  let fn: ReturnType<Environment['parse']>;
  try {
    fn = env.parse(expr);
  } catch (e) {
    return { error: oneLine((e as Error).message) };
  }
  const checked = fn.check();
  if (!checked.valid) return { error: oneLine(checked.error?.message ?? 'type error') };
  if (checked.type !== 'bool' && checked.type !== 'dyn') return { error: `the expression is of type ${checked.type}; matchCEL needs a bool` };
  const kinds = [...args.map((a) => celType(a.type)), ...data.map((a) => celType(a.type))];
  return {
    expr,
    matches(av, dv) {
      const ctx: Record<string, unknown> = {};
      const vals = [...args.map((_, i) => av[i]), ...data.map((_, i) => dv[i])];
      const names = [...args.map((_, i) => `arg${i}`), ...data.map((_, i) => `data${i}`)];
      for (let i = 0; i < vals.length; i++) {
        const v = celValue(vals[i], kinds[i]!);
        // A value the kernel could not read makes the expression fail, as it fails every filter.
        if (v === undefined) return false;
        ctx[names[i]!] = v;
      }
      try {
        return fn(ctx) === true;
      } catch {
        return false;
      }
    },
  };
}

function celValue(v: ArgValue | undefined, t: CelType): unknown {
  if (!v) return undefined;
  switch (v.kind) {
    case 'int':
      return t === 'uint' ? new UnsignedInt(BigInt.asUintN(64, v.value)) : t === 'string' ? undefined : v.value;
    case 'string':
      return v.value;
    case 'file':
      return v.path;
    case 'bytes':
      return Buffer.from(v.value).toString('latin1');
    case 'unavailable':
      return undefined;
    default:
      return t === 'dyn' ? v : undefined;
  }
}

function oneLine(s: string): string {
  return s.split('\n')[0]!.trim();
}
