// BTF of an object file, as data: used to find configuration variables and
// to generate codecs for the structs that cross the kernel boundary.
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

  /** BTF of an ELF object file (its .BTF section) or a raw BTF file. */
  static fromFile(path: string): Btf {
    try {
      return new Btf(native().btfParse(path));
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
    for (const t of this.types) if (t && t.name === name && (!kind || t.kind === kind)) return t;
    return undefined;
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
