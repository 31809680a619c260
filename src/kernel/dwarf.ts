// DWARF's .debug_info, read for one thing: the byte offsets of named members
// of named structures (DW_TAG_structure_type, its DW_TAG_member children's
// DW_AT_data_member_location), as a program's compiler laid them out. Used for
// Go's crypto/tls and net structures, whose layout is the binary's own, not
// assumed per Go version. DWARF 2 to 5, 32- and 64-bit units; strings inline
// (Go's), from .debug_str or .debug_line_str. Pure: it reads buffers.

/** Struct name → member name → byte offset, for the members asked of each. */
export type MemberOffsets = Map<string, Map<string, number>>;

export class DwarfError extends Error {}

const TAG_STRUCTURE = 0x13;
const TAG_MEMBER = 0x0d;
const AT_NAME = 0x03;
const AT_MEMBER_LOCATION = 0x38;
const FORM_IMPLICIT_CONST = 0x21;
const FORM_INDIRECT = 0x16;
const OP_PLUS_UCONST = 0x23;

interface AttrSpec { at: number; form: number; implicit?: bigint }
interface Abbrev { tag: number; children: boolean; attrs: AttrSpec[] }

class Reader {
  constructor(readonly b: Buffer, public p = 0) {}
  u8(): number { return this.b[this.p++]!; }
  u16(): number { const v = this.b.readUInt16LE(this.p); this.p += 2; return v; }
  u32(): number { const v = this.b.readUInt32LE(this.p); this.p += 4; return v; }
  u64(): bigint { const v = this.b.readBigUInt64LE(this.p); this.p += 8; return v; }
  uleb(): bigint {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const c = this.b[this.p++];
      if (c === undefined) throw new DwarfError('LEB128 past the end');
      v |= BigInt(c & 0x7f) << shift;
      shift += 7n;
      if ((c & 0x80) === 0) return v;
    }
  }
  sleb(): bigint {
    let v = 0n;
    let shift = 0n;
    let c: number;
    do {
      c = this.b[this.p++]!;
      if (c === undefined) throw new DwarfError('LEB128 past the end');
      v |= BigInt(c & 0x7f) << shift;
      shift += 7n;
    } while (c & 0x80);
    return c & 0x40 ? v - (1n << shift) : v;
  }
  cstr(): string {
    const end = this.b.indexOf(0, this.p);
    if (end < 0) throw new DwarfError('string past the end');
    const s = this.b.toString('utf8', this.p, end);
    this.p = end + 1;
    return s;
  }
  skip(n: number | bigint): void { this.p += Number(n); }
}

function abbrevTable(abbrev: Buffer, off: number): Map<number, Abbrev> {
  const r = new Reader(abbrev, off);
  const out = new Map<number, Abbrev>();
  for (;;) {
    const code = Number(r.uleb());
    if (code === 0) return out;
    const tag = Number(r.uleb());
    const children = r.u8() !== 0;
    const attrs: AttrSpec[] = [];
    for (;;) {
      const at = Number(r.uleb());
      const form = Number(r.uleb());
      if (at === 0 && form === 0) break;
      attrs.push(form === FORM_IMPLICIT_CONST ? { at, form, implicit: r.sleb() } : { at, form });
    }
    out.set(code, { tag, children, attrs });
  }
}

const cstrAt = (b: Buffer | undefined, off: number): string | undefined => {
  if (!b || off >= b.length) return undefined;
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 ? b.length : end);
};

/**
 * The offsets of `want`'s members (struct name → member names) in .debug_info. A struct or
 * member not found is absent from the result; the first definition of a struct name counts.
 */
export function memberOffsets(sections: { info: Buffer; abbrev: Buffer; str?: Buffer; lineStr?: Buffer },
  want: ReadonlyMap<string, readonly string[]>): MemberOffsets {
  const out: MemberOffsets = new Map();
  const { info, abbrev } = sections;
  const tables = new Map<number, Map<number, Abbrev>>();
  let unit = 0;
  while (unit + 4 <= info.length && out.size < want.size) {
    const r = new Reader(info, unit);
    let length = r.u32();
    let offSize = 4;
    if (length === 0xffffffff) {
      length = Number(r.u64());
      offSize = 8;
    }
    const end = r.p + length;
    if (length === 0 || end > info.length) throw new DwarfError(`a unit at ${unit} runs past .debug_info's end`);
    unit = end;
    const version = r.u16();
    let addrSize: number;
    let abbrevOff: number;
    if (version >= 5) {
      const type = r.u8();
      addrSize = r.u8();
      abbrevOff = offSize === 8 ? Number(r.u64()) : r.u32();
      if (type !== 1 && type !== 3) continue; // type, skeleton and split units hold no layouts of ours
    } else if (version >= 2) {
      abbrevOff = offSize === 8 ? Number(r.u64()) : r.u32();
      addrSize = r.u8();
    } else {
      throw new DwarfError(`DWARF version ${version}`);
    }
    let table = tables.get(abbrevOff);
    if (!table) tables.set(abbrevOff, (table = abbrevTable(abbrev, abbrevOff)));
    // The walk: the struct being read (its depth), and its members wanted.
    let depth = 0;
    let inStruct: { depth: number; name: string; members: Map<string, number>; wanted: ReadonlySet<string> } | undefined;
    while (r.p < end) {
      const code = Number(r.uleb());
      if (code === 0) {
        depth--;
        if (inStruct && depth < inStruct.depth) inStruct = undefined;
        continue;
      }
      const a = table.get(code);
      if (!a) throw new DwarfError(`abbreviation ${code} not in the table at ${abbrevOff}`);
      let name: string | undefined;
      let location: number | undefined;
      for (const spec of a.attrs) {
        let form = spec.form;
        if (form === FORM_INDIRECT) form = Number(r.uleb());
        const v = readForm(r, form, spec.implicit, addrSize, offSize, version, sections);
        if (spec.at === AT_NAME && typeof v === 'string') name = v;
        else if (spec.at === AT_MEMBER_LOCATION) location = typeof v === 'bigint' ? Number(v) : v instanceof Buffer ? plusUconst(v) : undefined;
      }
      if (a.tag === TAG_STRUCTURE && name !== undefined && a.children && !out.has(name) && want.has(name)) {
        inStruct = { depth: depth + 1, name, members: new Map(), wanted: new Set(want.get(name)) };
        out.set(name, inStruct.members);
      } else if (a.tag === TAG_MEMBER && inStruct && depth === inStruct.depth && name !== undefined &&
        location !== undefined && inStruct.wanted.has(name)) {
        inStruct.members.set(name, location);
      }
      if (a.children) depth++;
    }
  }
  return out;
}

/** A location expression that is DW_OP_plus_uconst N (DWARF 2's member locations). */
function plusUconst(b: Buffer): number | undefined {
  if (b.length < 2 || b[0] !== OP_PLUS_UCONST) return undefined;
  return Number(new Reader(b, 1).uleb());
}

/** One attribute's value: a number, a string, a block, or undefined (read past). */
function readForm(r: Reader, form: number, implicit: bigint | undefined, addrSize: number, offSize: number, version: number,
  s: { str?: Buffer; lineStr?: Buffer }): bigint | string | Buffer | undefined {
  const off = (): number => (offSize === 8 ? Number(r.u64()) : r.u32());
  const block = (n: number): Buffer => { const b = r.b.subarray(r.p, r.p + n); r.skip(n); return b; };
  switch (form) {
    case 0x01: r.skip(addrSize); return undefined; // addr
    case 0x03: return block(r.u16()); // block2
    case 0x04: return block(r.u32()); // block4
    case 0x05: return BigInt(r.u16()); // data2
    case 0x06: return BigInt(r.u32()); // data4
    case 0x07: return r.u64(); // data8
    case 0x08: return r.cstr(); // string
    case 0x09: case 0x18: return block(Number(r.uleb())); // block, exprloc
    case 0x0a: return block(r.u8()); // block1
    case 0x0b: return BigInt(r.u8()); // data1
    case 0x0c: r.skip(1); return undefined; // flag
    case 0x0d: return r.sleb(); // sdata
    case 0x0e: return cstrAt(s.str, off()); // strp
    case 0x0f: return r.uleb(); // udata
    case 0x10: r.skip(version <= 2 ? addrSize : offSize); return undefined; // ref_addr
    case 0x11: r.skip(1); return undefined; // ref1
    case 0x12: r.skip(2); return undefined; // ref2
    case 0x13: r.skip(4); return undefined; // ref4
    case 0x14: case 0x20: case 0x24: r.skip(8); return undefined; // ref8, ref_sig8, ref_sup8
    case 0x15: case 0x1a: case 0x1b: case 0x22: case 0x23: r.uleb(); return undefined; // ref_udata, strx, addrx, loclistx, rnglistx
    case 0x17: case 0x1d: off(); return undefined; // sec_offset, strp_sup
    case 0x19: return undefined; // flag_present
    case 0x1c: r.skip(4); return undefined; // ref_sup4
    case 0x1e: r.skip(16); return undefined; // data16
    case 0x1f: return cstrAt(s.lineStr, off()); // line_strp
    case FORM_IMPLICIT_CONST: return implicit;
    case 0x25: case 0x29: r.skip(1); return undefined; // strx1, addrx1
    case 0x26: case 0x2a: r.skip(2); return undefined; // strx2, addrx2
    case 0x27: case 0x2b: r.skip(3); return undefined; // strx3, addrx3
    case 0x28: case 0x2c: r.skip(4); return undefined; // strx4, addrx4
    default: throw new DwarfError(`attribute form 0x${form.toString(16)}`);
  }
}
