// Conditions compile once to closures over the event. The compiler asks the
// field table for an extractor per field reference (shared by every rule that
// reads the field), parses each right-hand side to the field's type, builds
// sets, globs and regexes up front, and inlines macros as already-compiled
// closures. Evaluating a condition does no parsing and no name lookups.
//
// Macros see only the macros defined before them (Falco's visibility); rules see
// all. Lists expand wherever a bare item names one. Exceptions become
// `and not (...)` terms. Each compiled condition also carries the set of event
// types it can match (evttype.ts), which indexes the rule.
import {
  fieldText, operandText, walk,
  type BinaryCheck, type BinaryOp, type Expr, type FieldNode, type Modifier, type Operand, type Rhs, type UnaryCheck, type ValueNode,
} from './ast.js';
import { SourceText, type SourcePos } from './diagnostics.js';
import {
  ANY_INFO, andInfo, equalsInfo, notInfo, orInfo,
  type TypeInfo,
} from './evttype.js';
import { FieldError, type FieldAccess, type FieldTable, type FieldType, type Scalar } from './fields.js';
import { globToRegExp } from './glob.js';
import type { Entry, ExceptionDef, ListDef, MacroDef } from './loader.js';
import { netContains, parseIp, parseIpCached, parseNet, sameIp, type ParsedIp, type ParsedNet } from './net.js';
import { ConditionSyntaxError, parseCondition, unescapeQuoted } from './parser.js';

export type Predicate<E> = (ev: E) => boolean;

export interface Compiled<E> {
  readonly pred: Predicate<E>;
  readonly types: TypeInfo;
  /** For an and / or: its terms, so an enclosing and / or (through macros too) runs them in one loop. */
  readonly all?: readonly Predicate<E>[];
  readonly any?: readonly Predicate<E>[];
}

function conjunction<E>(cs: readonly Compiled<E>[]): Compiled<E> {
  const terms = cs.flatMap((c) => c.all ?? [c.pred]);
  return { pred: andAll(terms), types: andInfo(cs.map((c) => c.types)), all: terms };
}

function disjunction<E>(cs: readonly Compiled<E>[]): Compiled<E> {
  const terms = cs.flatMap((c) => c.any ?? [c.pred]);
  return { pred: orAll(terms), types: orInfo(cs.map((c) => c.types)), any: terms };
}

/** Why a condition did not compile. `skip` set: a valid Falco rule Vigil cannot evaluate. */
export class CompileError extends Error {
  override readonly name = 'CompileError';
  constructor(
    message: string,
    readonly pos: SourcePos,
    readonly code: string,
    /** The reason the rule is skipped rather than failing the load (a field Vigil does not provide). */
    readonly skip?: string,
    /** A Falco "unknown filter" error, which skip-if-unknown-filter turns into a skip. */
    readonly unknownFilter?: boolean,
  ) {
    super(message);
  }
}

export interface CompilerOptions {
  /** Whether an event type name exists (for the unknown-event-type warning). */
  isKnownEventType?: (name: string) => boolean;
  /** Receives warnings found while compiling (unknown event types). */
  warn?: (message: string, pos: SourcePos, code: string) => void;
}

type Where = (offset: number) => SourcePos;

// ---------------------------------------------------------------- combinators

function andAll<E>(ps: readonly Predicate<E>[]): Predicate<E> {
  if (ps.length === 1) return ps[0]!;
  if (ps.length === 2) {
    const [a, b] = ps as [Predicate<E>, Predicate<E>];
    return (ev) => a(ev) && b(ev);
  }
  if (ps.length === 3) {
    const [a, b, c] = ps as [Predicate<E>, Predicate<E>, Predicate<E>];
    return (ev) => a(ev) && b(ev) && c(ev);
  }
  if (ps.length === 4) {
    const [a, b, c, d] = ps as [Predicate<E>, Predicate<E>, Predicate<E>, Predicate<E>];
    return (ev) => a(ev) && b(ev) && c(ev) && d(ev);
  }
  const arr = ps.slice();
  const n = arr.length;
  return (ev) => {
    for (let i = 0; i < n; i++) if (!arr[i]!(ev)) return false;
    return true;
  };
}

function orAll<E>(ps: readonly Predicate<E>[]): Predicate<E> {
  if (ps.length === 1) return ps[0]!;
  if (ps.length === 2) {
    const [a, b] = ps as [Predicate<E>, Predicate<E>];
    return (ev) => a(ev) || b(ev);
  }
  const arr = ps.slice();
  const n = arr.length;
  return (ev) => {
    for (let i = 0; i < n; i++) if (arr[i]!(ev)) return true;
    return false;
  };
}

function notP<E>(p: Predicate<E>): Predicate<E> {
  return (ev) => !p(ev);
}

/** Applies cmp to the field's value (or to each of its values: any may match). No value: false. */
function lift<E>(access: FieldAccess<E>, cmp: (v: Scalar) => boolean): Predicate<E> {
  if (!access.many) {
    const ex = access.extract;
    return (ev) => {
      const v = ex(ev);
      return v !== undefined && cmp(v);
    };
  }
  const ex = access.extract;
  return (ev) => {
    const vs = ex(ev);
    if (vs === undefined) return false;
    for (let i = 0; i < vs.length; i++) if (cmp(vs[i]!)) return true;
    return false;
  };
}

// ---------------------------------------------------------------- values

const OPS_BY_TYPE: Record<FieldType, ReadonlySet<string>> = {
  string: new Set(['=', '==', '!=', '<', '<=', '>', '>=', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'glob', 'iglob', 'regex', 'in', 'intersects', 'pmatch']),
  number: new Set(['=', '==', '!=', '<', '<=', '>', '>=', 'in', 'intersects']),
  abstime: new Set(['=', '==', '!=', '<', '<=', '>', '>=', 'in', 'intersects']),
  bool: new Set(['=', '==', '!=', 'in', 'intersects']),
  ipaddr: new Set(['=', '==', '!=', 'in', 'intersects']),
  ipnet: new Set(['=', '==', '!=', 'in', 'intersects']),
  bytes: new Set(['=', '==', '!=', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith']),
};

type Parsed = string | number | bigint | boolean | ParsedIp | ParsedNet | Uint8Array;

/** A literal of the condition as a value of the field's type; throws a message. */
function parseLiteral(type: FieldType, text: string): Parsed {
  switch (type) {
    case 'string':
      return text;
    case 'bytes':
      return Buffer.from(text, 'utf8');
    case 'number': {
      const t = text.trim();
      const n = /^[+-]?0[xX][0-9a-fA-F]+$/.test(t) ? parseInt(t, 16) : /^[+-]?\d+(\.\d*)?([eE][+-]?\d+)?$/.test(t) ? Number(t) : NaN;
      if (!Number.isFinite(n)) throw new Error(`'${text}' is not a valid number`);
      return n;
    }
    case 'abstime': {
      const t = text.trim();
      if (!/^[+-]?(\d+|0[xX][0-9a-fA-F]+)$/.test(t)) throw new Error(`'${text}' is not a valid timestamp (ns)`);
      return BigInt(t);
    }
    case 'bool': {
      const l = text.trim().toLowerCase();
      if (l === 'true') return true;
      if (l === 'false') return false;
      throw new Error(`'${text}' is not a valid boolean (true or false)`);
    }
    case 'ipaddr': {
      const ip = parseIp(text);
      if (!ip) throw new Error(`'${text}' is not a valid IP address`);
      return ip;
    }
    case 'ipnet': {
      const net = parseNet(text);
      if (!net) throw new Error(`'${text}' is not a valid IP network`);
      return net;
    }
  }
}

function hexBytes(text: string): Buffer {
  const t = text.trim();
  if (t.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(t)) throw new Error(`'${text}' is not a valid hex string`);
  return Buffer.from(t, 'hex');
}

function asBytes(v: Scalar): Buffer {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return Buffer.from(String(v), 'utf8');
}

function asText(v: Scalar): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
  return String(v);
}

/** Path prefix match (pmatch): "/etc" matches "/etc" and "/etc/x", not "/etcx". */
function pathPrefixes(items: readonly string[]): (v: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const raw of items) {
    const p = raw.length > 1 && raw.endsWith('/') ? raw.replace(/\/+$/, '') : raw;
    if (p === '/') {
      prefixes.push('/');
      continue;
    }
    exact.add(p);
    prefixes.push(`${p}/`);
  }
  return (v) => {
    if (exact.has(v)) return true;
    for (let i = 0; i < prefixes.length; i++) if (v.startsWith(prefixes[i]!)) return true;
    return false;
  };
}

function ordered(op: '<' | '<=' | '>' | '>=', a: number | bigint | string, b: number | bigint | string): boolean {
  switch (op) {
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
  }
}

/** A comparison of one field value with one literal, for a scalar (non-list) operator. */
function scalarComparator(op: BinaryOp, type: FieldType, text: string): (v: Scalar) => boolean {
  switch (op) {
    case '=':
    case '==':
    case '!=': {
      const neg = op === '!=';
      const rhs = parseLiteral(type, text);
      let eq: (v: Scalar) => boolean;
      if (type === 'ipaddr') eq = (v) => { const ip = parseIpCached(asText(v)); return !!ip && sameIp(ip, rhs as ParsedIp); };
      else if (type === 'ipnet') eq = (v) => { const ip = parseIpCached(asText(v)); return !!ip && netContains(rhs as ParsedNet, ip); };
      else if (type === 'bytes') eq = (v) => asBytes(v).equals(rhs as Buffer);
      else eq = (v) => v === rhs;
      return neg ? (v) => !eq(v) : eq;
    }
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const rhs = parseLiteral(type, text) as number | bigint | string;
      return (v) => ordered(op, v as number | bigint | string, rhs);
    }
    case 'contains': {
      if (type === 'bytes') {
        const b = Buffer.from(text, 'utf8');
        return (v) => asBytes(v).includes(b);
      }
      return (v) => (v as string).includes(text);
    }
    case 'icontains': {
      const l = text.toLowerCase();
      return (v) => asText(v).toLowerCase().includes(l);
    }
    case 'bcontains': {
      const b = hexBytes(text);
      return (v) => asBytes(v).includes(b);
    }
    case 'startswith':
      if (type === 'bytes') {
        const b = Buffer.from(text, 'utf8');
        return (v) => asBytes(v).subarray(0, b.length).equals(b);
      }
      return (v) => (v as string).startsWith(text);
    case 'bstartswith': {
      const b = hexBytes(text);
      return (v) => asBytes(v).subarray(0, b.length).equals(b);
    }
    case 'endswith':
      if (type === 'bytes') {
        const b = Buffer.from(text, 'utf8');
        return (v) => { const x = asBytes(v); return x.length >= b.length && x.subarray(x.length - b.length).equals(b); };
      }
      return (v) => (v as string).endsWith(text);
    case 'glob':
    case 'iglob': {
      const re = globToRegExp(text, op === 'iglob');
      return (v) => re.test(v as string);
    }
    case 'regex': {
      let re: RegExp;
      try {
        re = new RegExp(`^(?:${text})$`);
      } catch (e) {
        throw new Error(`invalid regular expression '${text}': ${(e as Error).message}`);
      }
      return (v) => re.test(v as string);
    }
    case 'in':
    case 'intersects':
    case 'pmatch':
      return listComparator(op, type, [text]);
  }
}

/** in / intersects / pmatch against literal items. */
function listComparator(op: 'in' | 'intersects' | 'pmatch', type: FieldType, items: readonly string[]): (v: Scalar) => boolean {
  if (op === 'pmatch') {
    const m = pathPrefixes(items);
    return (v) => m(asText(v));
  }
  if (type === 'ipaddr') {
    const ips = items.map((t) => parseLiteral('ipaddr', t) as ParsedIp);
    return (v) => { const ip = parseIpCached(asText(v)); return !!ip && ips.some((x) => sameIp(x, ip)); };
  }
  if (type === 'ipnet') {
    const nets = items.map((t) => parseLiteral('ipnet', t) as ParsedNet);
    return (v) => { const ip = parseIpCached(asText(v)); return !!ip && nets.some((n) => netContains(n, ip)); };
  }
  const set = new Set(items.map((t) => parseLiteral(type, t)));
  if (set.size === 0) return () => false;
  if (set.size === 1) {
    const [only] = set;
    return (v) => v === only;
  }
  return (v) => set.has(v as Parsed);
}

/**
 * The commonest checks on a single-valued string or number field, as one
 * closure (no comparator call): =, !=, in, startswith, endswith, contains.
 */
function fastCheck<E>(acc: FieldAccess<E>, op: BinaryOp, items: readonly string[]): Predicate<E> | undefined {
  if (acc.many || (acc.type !== 'string' && acc.type !== 'number')) return undefined;
  const ex = acc.extract as (ev: E) => string | number | undefined;
  const parse = (t: string): string | number => parseLiteral(acc.type, t) as string | number;
  switch (op) {
    case '=':
    case '==': {
      const rhs = parse(items[0]!);
      return (ev) => ex(ev) === rhs;
    }
    case '!=': {
      const rhs = parse(items[0]!);
      return (ev) => {
        const v = ex(ev);
        return v !== undefined && v !== rhs;
      };
    }
    case 'in':
    case 'intersects': {
      const set = new Set(items.map(parse));
      if (set.size === 0) return () => false;
      if (set.size === 1) {
        const [only] = set;
        return (ev) => ex(ev) === only;
      }
      return (ev) => {
        const v = ex(ev);
        return v !== undefined && set.has(v);
      };
    }
    default:
      break;
  }
  if (acc.type !== 'string') return undefined;
  const sx = ex as (ev: E) => string | undefined;
  const t = items[0]!;
  switch (op) {
    case 'startswith':
      return (ev) => {
        const v = sx(ev);
        return v !== undefined && v.startsWith(t);
      };
    case 'endswith':
      return (ev) => {
        const v = sx(ev);
        return v !== undefined && v.endsWith(t);
      };
    case 'contains':
      return (ev) => {
        const v = sx(ev);
        return v !== undefined && v.includes(t);
      };
    default:
      return undefined;
  }
}

/** A comparison between the values of two fields (val(...) or a transformer on the right). */
function dynamicComparator(op: BinaryOp, type: FieldType): (a: Scalar, b: Scalar) => boolean {
  switch (op) {
    case '=':
    case '==':
    case 'in':
    case 'intersects':
      if (type === 'ipaddr' || type === 'ipnet') return (a, b) => { const x = parseIpCached(asText(a)); const y = parseIpCached(asText(b)); return !!x && !!y && sameIp(x, y); };
      return (a, b) => (a instanceof Uint8Array ? asBytes(a).equals(asBytes(b)) : a === b);
    case '!=':
      return (a, b) => (a instanceof Uint8Array ? !asBytes(a).equals(asBytes(b)) : a !== b);
    case '<':
    case '<=':
    case '>':
    case '>=':
      return (a, b) => ordered(op, a as number, b as number);
    case 'contains': return (a, b) => asText(a).includes(asText(b));
    case 'icontains': return (a, b) => asText(a).toLowerCase().includes(asText(b).toLowerCase());
    case 'bcontains': return (a, b) => asBytes(a).includes(asBytes(b));
    case 'startswith': return (a, b) => asText(a).startsWith(asText(b));
    case 'bstartswith': return (a, b) => { const x = asBytes(a); const y = asBytes(b); return x.subarray(0, y.length).equals(y); };
    case 'endswith': return (a, b) => asText(a).endsWith(asText(b));
    case 'glob':
    case 'iglob': return (a, b) => globToRegExp(asText(b), op === 'iglob').test(asText(a));
    case 'regex':
    case 'pmatch':
      throw new Error(`operator '${op}' doesn't support right-hand side fields`);
  }
}

// ---------------------------------------------------------------- transformers

function transformAccess<E>(fn: string, inner: FieldAccess<E>, innerText: string): FieldAccess<E> {
  let out: FieldType;
  let f: (v: Scalar) => Scalar | undefined;
  const ok = (types: FieldType[]): void => {
    if (!types.includes(inner.type)) {
      throw new Error(`can't add field transformer: type '${inner.type}' is not supported by '${fn}' transformer applied on field '${innerText}'`);
    }
  };
  switch (fn) {
    case 'tolower': ok(['string']); out = 'string'; f = (v) => (v as string).toLowerCase(); break;
    case 'toupper': ok(['string']); out = 'string'; f = (v) => (v as string).toUpperCase(); break;
    case 'basename': ok(['string']); out = 'string'; f = (v) => { const s = v as string; return s.slice(s.lastIndexOf('/') + 1); }; break;
    case 'b64':
      ok(['string', 'bytes']);
      out = 'string';
      f = (v) => {
        const s = asText(v).trim();
        if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
        return Buffer.from(s, 'base64').toString('utf8');
      };
      break;
    case 'len':
      ok(['string', 'bytes']);
      out = 'number';
      f = (v) => (v instanceof Uint8Array ? v.length : Buffer.byteLength(v as string, 'utf8'));
      break;
    default:
      throw new Error(`unknown transformer '${fn}'`);
  }
  if (!inner.many) {
    const ex = inner.extract;
    return { many: false, type: out, extract: (ev) => { const v = ex(ev); return v === undefined ? undefined : f(v); } };
  }
  const ex = inner.extract;
  return {
    many: true,
    type: out,
    extract: (ev) => {
      const vs = ex(ev);
      if (vs === undefined) return undefined;
      const r: Scalar[] = [];
      for (const v of vs) {
        const t = f(v);
        if (t !== undefined) r.push(t);
      }
      return r;
    },
  };
}

// ---------------------------------------------------------------- the compiler

/** A bare list item or exception value as the condition lexer reads it: quoted strings unquote. */
export function literalText(raw: string): { value: string; quoted: boolean } {
  const t = raw;
  if ((t.startsWith('"') && t.endsWith('"') && t.length >= 2) || (t.startsWith("'") && t.endsWith("'") && t.length >= 2)) {
    try {
      return { value: unescapeQuoted(t, 0), quoted: true };
    } catch {
      return { value: t, quoted: true };
    }
  }
  // Falco quotes items with blanks before splicing them into a condition: never list names
  return { value: t, quoted: /\s/.test(t) };
}

interface MacroState<E> {
  ast?: Expr;
  compiled?: Compiled<E>;
  error?: CompileError;
  compiling?: boolean;
}

/**
 * Compiles conditions against one set of definitions (lists, macros) and one
 * field table. Field extractors, expanded lists and compiled macros are shared
 * by all the conditions it compiles.
 */
export class ConditionCompiler<E> {
  private readonly fieldCache = new Map<string, FieldAccess<E>>();
  private readonly listCache = new Map<string, string[]>();
  private readonly macroState = new Map<string, MacroState<E>>();
  readonly usedLists = new Set<string>();
  readonly usedMacros = new Set<string>();
  /** Field references compiled, as written (proc.aname[2], evt.arg.flags). */
  readonly usedFields = new Set<string>();

  constructor(
    private readonly fields: FieldTable<E>,
    private readonly lists: ReadonlyMap<string, ListDef>,
    private readonly macros: ReadonlyMap<string, MacroDef>,
    private readonly opts: CompilerOptions = {},
  ) {}

  /** A list's values: items, with items that name earlier lists replaced by theirs. */
  listValues(name: string): string[] | undefined {
    const cached = this.listCache.get(name);
    if (cached) return cached;
    const def = this.lists.get(name);
    if (!def) return undefined;
    this.listCache.set(name, []); // a cycle expands to nothing
    const out: string[] = [];
    for (const item of def.items) {
      const ref = item.value !== name ? this.lists.get(item.value) : undefined;
      if (ref && ref.index < def.visibility) {
        this.usedLists.add(ref.name);
        out.push(...(this.listValues(ref.name) ?? []));
      } else {
        out.push(item.value);
      }
    }
    this.listCache.set(name, out);
    return out;
  }

  /** Parses a condition; throws CompileError at the place it stopped. */
  parse(text: SourceText): Expr {
    try {
      return parseCondition(text.text);
    } catch (e) {
      if (e instanceof ConditionSyntaxError) throw new CompileError(e.message, text.pos(e.offset), 'LOAD_ERR_COMPILE_CONDITION');
      throw e;
    }
  }

  /**
   * Checks that every macro parses and refers only to macros defined before it
   * (Falco resolves all macros, used or not). Returns the first error.
   */
  checkMacros(): { macro: string; error: CompileError }[] {
    const errors: { macro: string; error: CompileError }[] = [];
    for (const m of this.macros.values()) {
      try {
        const ast = this.macroAst(m);
        this.markListsUsed(ast);
        walk(ast, (n) => {
          if (n.kind !== 'macro') return;
          const ref = this.macros.get(n.name);
          if (!ref || !(ref.index < m.visibility)) {
            throw new CompileError(`Undefined macro '${n.name}' used in filter.`, m.condition.pos(n.pos), 'LOAD_ERR_COMPILE_CONDITION');
          }
          this.usedMacros.add(n.name);
        });
      } catch (e) {
        if (e instanceof CompileError) errors.push({ macro: m.name, error: e });
        else throw e;
      }
    }
    return errors;
  }

  private macroAst(m: MacroDef): Expr {
    let st = this.macroState.get(m.name);
    if (!st) this.macroState.set(m.name, (st = {}));
    if (!st.ast) st.ast = this.parse(m.condition);
    return st.ast;
  }

  private markListsUsed(ast: Expr): void {
    walk(ast, (n) => {
      if (n.kind !== 'binary') return;
      const r = n.right;
      if (r.kind === 'listref' && this.lists.has(r.name)) this.usedLists.add(r.name);
      if (r.kind === 'list') for (const it of r.items) if (!it.quoted && this.lists.has(it.value)) this.usedLists.add(it.value);
    });
  }

  /** Compiles a rule's condition (all macros visible). */
  compileCondition(text: SourceText): Compiled<E> {
    const ast = this.parse(text);
    this.markListsUsed(ast);
    return this.compileExpr(ast, (o) => text.pos(o), Infinity);
  }

  /** Compiles a rule: its condition `and not` each exception. */
  compileRule(condition: SourceText, exceptions: readonly ExceptionDef[]): Compiled<E> {
    const cond = this.compileCondition(condition);
    const parts: Compiled<E>[] = [cond];
    for (const ex of exceptions) {
      const c = this.compileException(ex);
      if (c) parts.push({ pred: notP(c.pred), types: notInfo(c.types) });
    }
    if (parts.length === 1) return cond;
    return conjunction(parts);
  }

  private compileMacro(name: string, pos: SourcePos): Compiled<E> {
    const def = this.macros.get(name)!;
    let st = this.macroState.get(name);
    if (!st) this.macroState.set(name, (st = {}));
    if (st.compiled) return st.compiled;
    if (st.error) throw st.error;
    if (st.compiling) throw new CompileError(`Macro '${name}' refers to itself`, pos, 'LOAD_ERR_COMPILE_CONDITION');
    st.compiling = true;
    try {
      const ast = this.macroAst(def);
      st.compiled = this.compileExpr(ast, (o) => def.condition.pos(o), def.visibility);
      return st.compiled;
    } catch (e) {
      if (e instanceof CompileError) st.error = e;
      throw e;
    } finally {
      st.compiling = false;
    }
  }

  private compileExpr(e: Expr, at: Where, visibility: number): Compiled<E> {
    switch (e.kind) {
      case 'and':
        return conjunction(e.children.map((c) => this.compileExpr(c, at, visibility)));
      case 'or':
        return disjunction(e.children.map((c) => this.compileExpr(c, at, visibility)));
      case 'not': {
        const c = this.compileExpr(e.child, at, visibility);
        return { pred: notP(c.pred), types: notInfo(c.types) };
      }
      case 'macro': {
        const def = this.macros.get(e.name);
        if (!def || !(def.index < visibility)) {
          throw new CompileError(`Undefined macro '${e.name}' used in filter.`, at(e.pos), 'LOAD_ERR_COMPILE_CONDITION');
        }
        this.usedMacros.add(e.name);
        return this.compileMacro(e.name, at(e.pos));
      }
      case 'unary':
        return this.compileUnary(e, at);
      case 'binary':
        return this.compileBinary(e, at);
    }
  }

  private field(f: FieldNode, at: Where): FieldAccess<E> {
    const key = fieldText(f);
    let acc = this.fieldCache.get(key);
    if (acc) return acc;
    try {
      acc = this.fields.resolve(f.name, f.arg);
    } catch (e) {
      if (e instanceof FieldError) {
        if (e.reason === 'unsupported') {
          throw new CompileError(e.message, at(f.pos), 'LOAD_UNSUPPORTED_FIELD', `uses field ${key}, which Vigil does not provide`);
        }
        throw new CompileError(e.message, at(f.pos), 'LOAD_ERR_COMPILE_CONDITION', undefined, e.reason === 'unknown');
      }
      throw e;
    }
    this.fieldCache.set(key, acc);
    this.usedFields.add(key);
    return acc;
  }

  private operand(o: Operand, at: Where): FieldAccess<E> {
    if (o.kind === 'field') return this.field(o, at);
    const inner = this.operand(o.arg, at);
    try {
      return transformAccess(o.fn, inner, operandText(o.arg));
    } catch (e) {
      throw new CompileError((e as Error).message, at(o.pos), 'LOAD_ERR_COMPILE_CONDITION');
    }
  }

  private compileUnary(e: UnaryCheck, at: Where): Compiled<E> {
    const acc = this.operand(e.left, at);
    const pred: Predicate<E> = acc.many
      ? ((ex) => (ev: E) => { const vs = ex(ev); return vs !== undefined && vs.length > 0; })(acc.extract)
      : ((ex) => (ev: E) => ex(ev) !== undefined)(acc.extract);
    return { pred, types: ANY_INFO };
  }

  /** Items of a literal list, with bare list names expanded. */
  private listItems(items: readonly ValueNode[]): string[] {
    const out: string[] = [];
    for (const it of items) {
      if (!it.quoted && this.lists.has(it.value)) {
        this.usedLists.add(it.value);
        out.push(...this.listValues(it.value)!.map((v) => literalText(v).value));
      } else {
        out.push(it.value);
      }
    }
    return out;
  }

  private rhsItems(r: Rhs): string[] | undefined {
    if (r.kind === 'list') return this.listItems(r.items);
    if (r.kind === 'listref') {
      if (this.lists.has(r.name)) {
        this.usedLists.add(r.name);
        return this.listValues(r.name)!.map((v) => literalText(v).value);
      }
      return [r.name];
    }
    if (r.kind === 'value') return [r.value];
    return undefined;
  }

  private compileBinary(e: BinaryCheck, at: Where): Compiled<E> {
    const acc = this.operand(e.left, at);
    const left = operandText(e.left);
    const fail = (msg: string, pos = e.opPos): never => {
      throw new CompileError(msg, at(pos), 'LOAD_ERR_COMPILE_CONDITION');
    };
    if (!OPS_BY_TYPE[acc.type].has(e.op)) {
      fail(`operator '${e.op}' is not supported by field '${left}' of type ${acc.type}`);
    }
    const types = this.typeInfo(e, at);
    try {
      // a field on the right: val(proc.pname), tolower(proc.pname)
      if (e.right.kind === 'fieldref') {
        if (e.mod) fail(`list modifier '${e.mod}' needs a list of values`);
        const rhs = this.operand(e.right.operand, at);
        const rtype = rhs.type === 'ipnet' ? 'ipaddr' : rhs.type;
        const ltype = acc.type === 'ipnet' ? 'ipaddr' : acc.type;
        if (rtype !== ltype) {
          fail(`field '${left}' (${acc.type}) can't be compared with right-hand side field '${operandText(e.right.operand)}' (${rhs.type})`, e.right.pos);
        }
        const cmp = dynamicComparator(e.op, acc.type);
        const rex = rhs.extract;
        const rvals = rhs.many
          ? (ev: E) => (rex as (ev: E) => readonly Scalar[] | undefined)(ev)
          : (ev: E) => { const v = (rex as (ev: E) => Scalar | undefined)(ev); return v === undefined ? undefined : [v]; };
        const lvals = acc.many
          ? (acc.extract as (ev: E) => readonly Scalar[] | undefined)
          : (ev: E) => { const v = (acc.extract as (ev: E) => Scalar | undefined)(ev); return v === undefined ? undefined : [v]; };
        const pred: Predicate<E> = (ev) => {
          const ls = lvals(ev);
          if (!ls || ls.length === 0) return false;
          const rs = rvals(ev);
          if (!rs || rs.length === 0) return false;
          for (const l of ls) for (const r of rs) if (cmp(l, r)) return true;
          return false;
        };
        return { pred, types };
      }
      // oneof / anyof / allof: the operator against each listed value
      if (e.mod) {
        const items = this.rhsItems(e.right) ?? [];
        const cmps = items.map((t) => scalarComparator(e.op, acc.type, t));
        return { pred: lift(acc, modifierComparator(e.mod, cmps)), types };
      }
      if (e.op === 'in' || e.op === 'intersects' || e.op === 'pmatch') {
        const items = this.rhsItems(e.right)!;
        return { pred: fastCheck(acc, e.op, items) ?? lift(acc, listComparator(e.op, acc.type, items)), types };
      }
      if (e.right.kind !== 'value') fail(`operator '${e.op}' needs a single value`, e.right.pos);
      const text = (e.right as ValueNode).value;
      return { pred: fastCheck(acc, e.op, [text]) ?? lift(acc, scalarComparator(e.op, acc.type, text)), types };
    } catch (err) {
      if (err instanceof CompileError) throw err;
      throw new CompileError(`${(err as Error).message} (field '${left}')`, at(e.right.pos), 'LOAD_ERR_COMPILE_CONDITION');
    }
  }

  /** The event types an evt.type check can match; every type for any other check. */
  private typeInfo(e: BinaryCheck, at: Where): TypeInfo {
    if (e.left.kind !== 'field' || e.left.name !== 'evt.type' || e.left.arg !== undefined) return ANY_INFO;
    let names: string[] | undefined;
    let negate = false;
    if (e.right.kind === 'fieldref') return ANY_INFO;
    if (e.mod) {
      if ((e.op === '=' || e.op === '==') && e.mod === 'anyof') names = this.rhsItems(e.right);
      else if (e.op === '!=' && e.mod === 'allof') {
        names = this.rhsItems(e.right);
        negate = true;
      } else return ANY_INFO;
    } else if (e.op === '=' || e.op === '==' || e.op === 'in' || e.op === 'intersects') {
      names = this.rhsItems(e.right);
    } else if (e.op === '!=') {
      names = this.rhsItems(e.right);
      negate = true;
    } else {
      return ANY_INFO;
    }
    if (!names) return ANY_INFO;
    if (this.opts.isKnownEventType && this.opts.warn) {
      for (const n of names) {
        if (!this.opts.isKnownEventType(n)) this.opts.warn(`unknown event type '${n}'`, at(e.right.pos), 'LOAD_UNKNOWN_EVTTYPE');
      }
    }
    const info = equalsInfo(names);
    return negate ? notInfo(info) : info;
  }

  /**
   * An exception as Falco writes it into the condition: `field comp (values)` for
   * the single-field form, `(f1 c1 v1 and f2 c2 v2) or (...)` for the list form.
   * undefined when it has no values.
   */
  compileException(ex: ExceptionDef): Compiled<E> | undefined {
    const fields = ex.fields!;
    const comps = ex.comps!;
    if (ex.values.length === 0) return undefined;
    const err = (msg: string, pos: SourcePos = ex.pos): never => {
      throw new CompileError(`${msg} (exception '${ex.name}')`, pos, 'LOAD_ERR_COMPILE_CONDITION');
    };
    const operandOf = (f: Entry & { kind: 'scalar' }): Operand => {
      const text = `${f.value} exists`;
      let ast: Expr;
      try {
        ast = parseCondition(text);
      } catch {
        return err(`'${f.value}' is not a supported filter field`, f.pos);
      }
      if (ast.kind !== 'unary') return err(`'${f.value}' is not a supported filter field`, f.pos);
      return ast.left;
    };
    const where = (pos: SourcePos): Where => () => pos;
    const check = (field: Entry & { kind: 'scalar' }, comp: string, value: Entry): Compiled<E> => {
      const [op, mod] = comp.trim().split(/\s+/) as [BinaryOp, Modifier | undefined];
      const left = operandOf(field);
      const isListOp = op === 'in' || op === 'intersects' || op === 'pmatch';
      let right: Rhs;
      if (value.kind === 'list') {
        right = { kind: 'list', items: value.items.map((v) => valueNode(v, err)), pos: 0 };
      } else if (isListOp || mod) {
        right = { kind: 'list', items: [valueNode(value, err)], pos: 0 };
      } else {
        right = valueNode(value, err);
      }
      const node: BinaryCheck = mod ? { kind: 'binary', left, op, mod, right, pos: 0, opPos: 0 } : { kind: 'binary', left, op, right, pos: 0, opPos: 0 };
      return this.compileBinary(node, where(value.pos));
    };
    if (fields.kind === 'scalar') {
      const items: Entry[] = [];
      for (const v of ex.values) {
        if (v.kind === 'list') err('Expected values array to contain a list of strings', v.pos);
        items.push(v);
      }
      return check(fields, (comps as Entry & { kind: 'scalar' }).value, { kind: 'list', items, pos: ex.pos });
    }
    const fs = fields.items as (Entry & { kind: 'scalar' })[];
    const cs = (comps as Entry & { kind: 'list' }).items as (Entry & { kind: 'scalar' })[];
    const alternatives: Compiled<E>[] = [];
    for (const tuple of ex.values) {
      if (tuple.kind !== 'list' || tuple.items.length !== fs.length) err('Fields and values lists must have equal length', tuple.pos);
      const tupleItems = (tuple as Entry & { kind: 'list' }).items;
      const terms = fs.map((f, k) => check(f, cs[k]!.value, tupleItems[k]!));
      alternatives.push({ pred: andAll(terms.map((t) => t.pred)), types: andInfo(terms.map((t) => t.types)) });
    }
    return { pred: orAll(alternatives.map((a) => a.pred)), types: orInfo(alternatives.map((a) => a.types)) };
  }

  /** Resolves an operand (field or transformer) for outputs. */
  operandAccess(o: Operand, at: Where): FieldAccess<E> {
    return this.operand(o, at);
  }
}

function valueNode(v: Entry, err: (msg: string, pos?: SourcePos) => never): ValueNode {
  if (v.kind !== 'scalar') return err('Expected a value, found a list', v.pos);
  const { value, quoted } = literalText(v.value);
  return { kind: 'value', value, quoted, pos: 0 };
}

function modifierComparator(mod: Modifier, cmps: readonly ((v: Scalar) => boolean)[]): (v: Scalar) => boolean {
  if (cmps.length === 0) return () => false;
  switch (mod) {
    case 'anyof':
      return (v) => cmps.some((c) => c(v));
    case 'allof':
      return (v) => cmps.every((c) => c(v));
    case 'oneof':
      return (v) => {
        let n = 0;
        for (const c of cmps) if (c(v) && ++n > 1) return false;
        return n === 1;
      };
  }
}
