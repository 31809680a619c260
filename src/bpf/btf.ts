// BTF of an object file or of the kernel, as data: used to find configuration
// variables, to generate codecs for the structs that cross the kernel
// boundary, and to follow paths of struct members in kernel types (the
// `resolve` of TracingPolicy arguments: memberPath).
import { native, type BtfTypeJson } from './native.js';
import { fromNative } from './errors.js';

export type BtfType = BtfTypeJson;

export interface BtfVariable {
  /** Variable name as declared in C. */
  name: string;
  /** The data section holding it: .rodata, .data, .bss (or .rodata.foo ...). */
  section: string;
  offset: number;
  size: number;
  typeId: number;
}

const MODIFIERS = new Set(['TYPEDEF', 'CONST', 'VOLATILE', 'RESTRICT', 'TYPE_TAG']);

export class Btf {
  private constructor(readonly types: readonly (BtfType | null)[]) {}

  private byNameIndex: Map<string, BtfType[]> | undefined;

  /**
   * BTF of an ELF object file (its .BTF section) or a raw BTF file. `base`: the
   * BTF the file is split from (a kernel module's BTF in /sys/kernel/btf is
   * split from vmlinux's); its types are then part of this one's.
   */
  static fromFile(path: string, base?: string): Btf {
    try {
      return new Btf(base === undefined ? native().btfParse(path) : native().btfParse(path, base));
    } catch (e) {
      throw fromNative(e, `BTF of ${path}`);
    }
  }

  static fromTypes(types: readonly (BtfType | null)[]): Btf {
    return new Btf(types);
  }

  byId(id: number): BtfType {
    const t = this.types[id];
    if (!t) throw new RangeError(`BTF type ${id} does not exist`);
    return t;
  }

  /** Follows typedefs and qualifiers to the underlying type. */
  resolve(id: number): BtfType {
    let t = this.byId(id);
    for (let i = 0; i < 32 && MODIFIERS.has(t.kind) && t.type_id !== undefined; i++) t = this.byId(t.type_id);
    return t;
  }

  byName(name: string, kind?: string): BtfType | undefined {
    if (!this.byNameIndex) {
      const idx = new Map<string, BtfType[]>();
      for (const t of this.types) {
        if (!t || !t.name) continue;
        const l = idx.get(t.name);
        if (l) l.push(t);
        else idx.set(t.name, [t]);
      }
      this.byNameIndex = idx;
    }
    return this.byNameIndex.get(name)?.find((t) => !kind || t.kind === kind);
  }

  /** The type a C declaration names: "struct sock", "union bpf_attr", "u32", "sockaddr_in" (struct, union or typedef). */
  typeNamed(decl: string): BtfType | undefined {
    const m = /^(?:const\s+|volatile\s+)*(struct|union|enum)?\s*([A-Za-z_]\w*)$/.exec(decl.trim());
    if (!m) return undefined;
    const kinds = m[1] === 'struct' ? ['STRUCT'] : m[1] === 'union' ? ['UNION'] : m[1] === 'enum' ? ['ENUM', 'ENUM64']
      : ['STRUCT', 'UNION', 'TYPEDEF', 'INT', 'ENUM', 'ENUM64'];
    for (const k of kinds) {
      const t = this.byName(m[2]!, k);
      // A forward declaration (no members) is not the type.
      if (t && !((t.kind === 'STRUCT' || t.kind === 'UNION') && t.members === undefined && t.size === 0)) return t;
    }
    return undefined;
  }

  /** Parameter `index` of a function's prototype (FUNC name), or why not. */
  funcParam(func: string, index: number): { name: string; typeId: number } | { error: string } {
    const f = this.byName(func, 'FUNC');
    if (!f || f.type_id === undefined) return { error: `the kernel's BTF has no function ${func}` };
    const proto = this.byId(f.type_id);
    const params = proto.params ?? [];
    const p = params[index];
    if (!p) return { error: `${func} has ${params.length} parameter(s); index ${index} is past them` };
    return { name: p.name, typeId: p.type_id };
  }

  /** A type as C spells it ("struct cred *", "unsigned int", "char[16]"). */
  describe(id: number): string {
    const t = this.byId(id);
    switch (t.kind) {
      case 'PTR': return t.type_id ? `${this.describe(t.type_id)} *` : 'void *';
      case 'CONST': case 'VOLATILE': case 'RESTRICT': case 'TYPE_TAG':
        return t.type_id ? this.describe(t.type_id) : 'void';
      case 'ARRAY': return `${this.describe(t.type_id ?? 0)}[${t.nr_elems ?? 0}]`;
      case 'STRUCT': return `struct ${t.name || '(anonymous)'}`;
      case 'UNION': return `union ${t.name || '(anonymous)'}`;
      case 'ENUM': case 'ENUM64': return `enum ${t.name || '(anonymous)'}`;
      case 'FUNC_PROTO': return 'function';
      default: return t.name || t.kind.toLowerCase();
    }
  }

  /** Size in bytes of a type, following modifiers. */
  sizeOf(id: number): number {
    const t = this.resolve(id);
    switch (t.kind) {
      case 'INT': case 'ENUM': case 'ENUM64': case 'STRUCT': case 'UNION': case 'FLOAT': case 'DATASEC':
        return t.size ?? 0;
      case 'PTR':
        return 8;
      case 'ARRAY':
        return (t.nr_elems ?? 0) * this.sizeOf(t.type_id ?? 0);
      default:
        throw new TypeError(`BTF type ${id} (${t.kind}) has no size`);
    }
  }

  /** Global variables of every data section, with their offsets. */
  variables(): BtfVariable[] {
    const out: BtfVariable[] = [];
    for (const t of this.types) {
      if (!t || t.kind !== 'DATASEC') continue;
      for (const v of t.vars ?? []) {
        const vt = this.byId(v.type_id);
        if (vt.kind !== 'VAR') continue;
        out.push({ name: vt.name, section: t.name, offset: v.offset, size: v.size, typeId: vt.type_id ?? 0 });
      }
    }
    return out;
  }
}

// ---------------------------------------------------------------------------
// Paths of struct members (TracingPolicy `resolve`)

/**
 * One step of a member path, as the kernel runs it on a value v that starts as
 * the argument's word (an address): v += offset, then, when deref, v = the
 * 8-byte pointer stored at v.
 */
export interface MemberStep {
  readonly offset: number;
  readonly deref: boolean;
}

/** What a member path ends at. */
export type MemberEnd =
  /** An integer, enum or pointer member: loaded (`size` bytes at v, then the bitfield cut out). */
  | { readonly kind: 'scalar'; readonly size: number; readonly signed: boolean; readonly shift: number; readonly bits: number; readonly pointer: boolean; readonly c: string }
  /** A struct, union or array member: v is its address. */
  | { readonly kind: 'object'; readonly typeId: number; readonly c: string };

export interface MemberPath {
  readonly steps: readonly MemberStep[];
  readonly end: MemberEnd;
}

/** A member path that does not exist; `segment` is the part of the path that failed. */
export class MemberPathError extends Error {
  constructor(message: string, readonly segment: string) {
    super(message);
    this.name = 'MemberPathError';
  }
}

/**
 * Splits a resolve path: members separated by dots, array indexes in
 * brackets ("mm.owner.comm", "args[1].name", "fdt.fd[3]").
 */
export function parseMemberPath(path: string): string[] {
  const out: string[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|(\.)/gy;
  let expectMember = true;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < path.length) {
    re.lastIndex = at;
    m = re.exec(path);
    if (!m) throw new MemberPathError(`resolve "${path}" is not a path of members: unexpected "${path.slice(at)}" at character ${at + 1}`, path.slice(at));
    if (m[1] !== undefined) {
      if (!expectMember) throw new MemberPathError(`resolve "${path}": a "." is missing before "${m[1]}"`, m[1]);
      out.push(m[1]);
      expectMember = false;
    } else if (m[2] !== undefined) {
      if (out.length === 0 && at !== 0) throw new MemberPathError(`resolve "${path}": misplaced index`, m[0]);
      if (expectMember && out.length > 0) throw new MemberPathError(`resolve "${path}": an index must follow a member, not "."`, m[0]);
      out.push(`[${m[2]}]`);
      expectMember = false;
    } else {
      if (expectMember) throw new MemberPathError(`resolve "${path}": empty member name before the "." at character ${at + 1}`, '.');
      expectMember = true;
    }
    at = re.lastIndex;
  }
  if (out.length === 0) throw new MemberPathError('resolve is empty', '');
  if (expectMember) throw new MemberPathError(`resolve "${path}" ends with "."`, '.');
  return out;
}

/** At most this many dereferences in one path (the kernel's step table). */
export const MEMBER_PATH_MAX_STEPS = 16;

/**
 * Follows `path` from an object of type `rootId` whose address is the
 * argument's value, as Tetragon's resolve does: struct and union members by
 * name (members of anonymous structs and unions are found through them),
 * pointers followed wherever a member name or index comes after one, array
 * elements by index ("[2]"), typedefs and qualifiers looked through, and
 * bitfields cut out at the end.
 */
export function memberPath(btf: Btf, rootId: number, path: string): MemberPath {
  const segs = parseMemberPath(path);
  const steps: MemberStep[] = [];
  let pending = 0;
  let cur = rootId;
  let bitfield: { bitOffset: number; bits: number } | undefined;
  const deref = (): void => {
    steps.push({ offset: pending, deref: true });
    pending = 0;
  };
  for (const seg of segs) {
    bitfield = undefined;
    let t = btf.resolve(cur);
    if (seg.startsWith('[')) {
      const idx = Number(seg.slice(1, -1));
      if (t.kind === 'ARRAY') {
        const n = t.nr_elems ?? 0;
        if (idx >= n) throw new MemberPathError(`index ${idx} is past the ${n} elements of ${btf.describe(cur)}`, seg);
        pending += idx * btf.sizeOf(t.type_id ?? 0);
        cur = t.type_id ?? 0;
      } else if (t.kind === 'PTR' && t.type_id) {
        deref();
        pending += idx * btf.sizeOf(t.type_id);
        cur = t.type_id;
      } else {
        throw new MemberPathError(`${seg} indexes ${btf.describe(cur)}, which is neither an array nor a pointer`, seg);
      }
      continue;
    }
    // A member of what a pointer points to: follow it (nested pointers too).
    for (let i = 0; i < 8 && t.kind === 'PTR'; i++) {
      if (!t.type_id) throw new MemberPathError(`"${seg}" is looked up in void *, which has no members`, seg);
      deref();
      cur = t.type_id;
      t = btf.resolve(cur);
    }
    if (t.kind !== 'STRUCT' && t.kind !== 'UNION') {
      throw new MemberPathError(`"${seg}" is looked up in ${btf.describe(cur)}, which is not a struct or union`, seg);
    }
    const found = findMember(btf, t, seg, 0);
    if (!found) {
      const names = (t.members ?? []).map((m) => m.name).filter(Boolean);
      const shown = names.length > 12 ? `${names.slice(0, 12).join(', ')}, ...` : names.join(', ');
      throw new MemberPathError(`${btf.describe(btf.resolve(cur).id)} has no member "${seg}" (its members: ${shown})`, seg);
    }
    if (found.bitfieldSize > 0) {
      pending += Math.floor(found.bitOffset / 8);
      bitfield = { bitOffset: found.bitOffset % 8, bits: found.bitfieldSize };
    } else {
      pending += found.bitOffset / 8;
    }
    cur = found.typeId;
  }
  if (steps.length + 1 > MEMBER_PATH_MAX_STEPS) {
    throw new MemberPathError(`resolve "${path}" follows ${steps.length} pointers; the engine follows at most ${MEMBER_PATH_MAX_STEPS - 1}`, path);
  }
  const t = btf.resolve(cur);
  // The remaining offset is a step of its own (no dereference).
  if (pending !== 0) steps.push({ offset: pending, deref: false });
  const c = btf.describe(cur);
  switch (t.kind) {
    case 'INT': case 'ENUM': case 'ENUM64': case 'PTR': {
      const size = t.kind === 'PTR' ? 8 : t.size ?? 0;
      const signed = t.kind === 'INT' && t.encoding === 'SIGNED';
      if (bitfield) {
        // Load the bytes that hold the bitfield (little endian: shift right, mask).
        const need = Math.ceil((bitfield.bitOffset + bitfield.bits) / 8);
        const load = need <= 1 ? 1 : need <= 2 ? 2 : need <= 4 ? 4 : 8;
        return { steps, end: { kind: 'scalar', size: load, signed, shift: bitfield.bitOffset, bits: bitfield.bits, pointer: false, c } };
      }
      return { steps, end: { kind: 'scalar', size, signed, shift: 0, bits: size * 8, pointer: t.kind === 'PTR', c } };
    }
    case 'STRUCT': case 'UNION': case 'ARRAY':
      return { steps, end: { kind: 'object', typeId: t.id, c } };
    default:
      throw new MemberPathError(`resolve "${path}" ends at ${c} (${t.kind}), which has no value to read`, segs[segs.length - 1]!);
  }
}

/** A member by name, looking through anonymous structs and unions; offsets in bits from `t`. */
function findMember(btf: Btf, t: BtfType, name: string, base: number): { typeId: number; bitOffset: number; bitfieldSize: number } | undefined {
  for (const m of t.members ?? []) {
    if (m.name === name) return { typeId: m.type_id, bitOffset: base + m.bits_offset, bitfieldSize: m.bitfield_size };
  }
  for (const m of t.members ?? []) {
    if (m.name) continue;
    const inner = btf.resolve(m.type_id);
    if (inner.kind !== 'STRUCT' && inner.kind !== 'UNION') continue;
    const found = findMember(btf, inner, name, base + m.bits_offset);
    if (found) return found;
  }
  return undefined;
}
