// ObjectSpec (an object file parsed, no kernel involved) and BpfObject (the
// same loaded into the kernel). Load is where kernel decisions happen.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { native, type NativeMapInfo, type ObjectHandle } from './native.js';
import { BpfError, NotSupportedError, VerifierError, errnoName, fromNative } from './errors.js';
import { Btf, type BtfVariable } from './btf.js';
import { BpfMap } from './map.js';
import { Program } from './program.js';
import { ProgramType, programTypeName } from './types.js';
import { SignatureError, checkObjectSignature, readSignatureFile, signingPolicy, type SignatureState } from './signing.js';

export interface ProgramSpec {
  name: string;
  section: string;
  type: number;
  typeName: string;
  expectedAttachType: number;
  insnCount: number;
}

/** A map of an object file as libbpf opened it. */
export type MapSpec = NativeMapInfo;

export type ConstantValue = number | bigint | boolean | string | Uint8Array;

export interface LoadOptions {
  /** Values for `const volatile` (.rodata) and other globals, set before load. */
  constants?: Record<string, ConstantValue>;
  /** Load only these programs (others keep their code out of the kernel). */
  programs?: readonly string[];
  /** Resize maps before load (ring buffer bytes, hash entries). */
  maxEntries?: Record<string, number>;
  /** Use an existing map (shared between objects, or pinned) instead of creating one. */
  reuseMaps?: Record<string, BpfMap>;
  /** Kernel functions (or LSM hooks) that fentry/fexit/lsm programs attach to, by program. */
  attachTargets?: Record<string, string>;
}

export interface FromBufferOptions {
  /** The signature file's text (X.bpf.o.sig), checked before the object is parsed. */
  signature?: string;
  /** Load without a signature even where signatures are required: the caller's explicit choice. */
  allowUnsigned?: boolean;
  /** How errors name the object (its file); default the name. */
  label?: string;
}

function withHandle<T>(image: Buffer, name: string, f: (h: ObjectHandle) => T): T {
  const n = native();
  let h: ObjectHandle;
  try {
    h = n.openObject(image, name);
  } catch (e) {
    throw fromNative(e, `open ${name}`);
  }
  try {
    return f(h);
  } finally {
    n.closeObject(h);
  }
}

export class ObjectSpec {
  private constructor(
    readonly name: string,
    readonly image: Buffer,
    readonly programs: ReadonlyMap<string, ProgramSpec>,
    readonly maps: ReadonlyMap<string, MapSpec>,
    readonly btf: Btf,
    readonly variables: ReadonlyMap<string, BtfVariable>,
    /** What the signature check found (src/bpf/signing.ts). */
    readonly signature: SignatureState,
  ) {}

  /**
   * Reads and parses an object file. Its signature (FILE.sig) is checked
   * first: one that does not verify, or none while signatures are required,
   * is a SignatureError and the object is not even parsed.
   */
  static fromFile(file: string): ObjectSpec {
    const base = path.basename(file).replace(/\.bpf\.o$|\.o$/, '');
    return ObjectSpec.fromBuffer(readFileSync(file), base, { signature: readSignatureFile(file), label: file });
  }

  /** Parses an object (libbpf open only: no syscall loads anything), after checking its signature. */
  static fromBuffer(image: Buffer, name: string, o: FromBufferOptions = {}): ObjectSpec {
    const signature = checkObjectSignature(o.label ?? name, image, o.signature, { allowUnsigned: o.allowUnsigned });
    return withHandle(image, name, (h) => {
      const n = native();
      const programs = new Map<string, ProgramSpec>();
      for (const p of n.objectPrograms(h)) {
        programs.set(p.name, { name: p.name, section: p.section, type: p.type, typeName: programTypeName(p.type),
          expectedAttachType: p.expectedAttachType, insnCount: p.insnCount });
      }
      const maps = new Map<string, MapSpec>();
      for (const m of n.objectMaps(h)) maps.set(m.name, { ...m });
      const btf = Btf.fromTypes(n.objectBtf(h) ?? [null]);
      const variables = new Map<string, BtfVariable>();
      for (const v of btf.variables()) variables.set(v.name, v);
      return new ObjectSpec(name, image, programs, maps, btf, variables, signature);
    });
  }

  /** Loads into the kernel: verification runs on a worker thread. */
  async load(opts: LoadOptions = {}): Promise<BpfObject> {
    // Required after this spec was parsed (the agent's policy is set before it loads anything).
    if (this.signature.status === 'unsigned' && signingPolicy().require) {
      throw new SignatureError(this.name, 'unsigned',
        `${this.name} is not signed and signed objects are required (--require-signed): refusing to load it`);
    }
    const n = native();
    let h: ObjectHandle;
    try {
      h = n.openObject(this.image, this.name);
    } catch (e) {
      throw fromNative(e, `open ${this.name}`);
    }
    try {
      this.configure(h, opts);
      try {
        await n.loadObject(h);
      } catch (e) {
        throw this.loadError(e, opts);
      }
      return new BpfObject(this, h, opts);
    } catch (e) {
      n.closeObject(h);
      throw e;
    }
  }

  private configure(h: ObjectHandle, opts: LoadOptions): void {
    const n = native();
    if (opts.programs) {
      for (const want of opts.programs) {
        if (!this.programs.has(want)) throw new Error(`${this.name}: no program named ${want}`);
      }
      for (const p of this.programs.keys()) n.programSetAutoload(h, p, opts.programs.includes(p));
    }
    for (const [map, entries] of Object.entries(opts.maxEntries ?? {})) {
      if (!this.maps.has(map)) throw new Error(`${this.name}: no map named ${map}`);
      n.mapSetMaxEntries(h, map, entries);
    }
    for (const [map, m] of Object.entries(opts.reuseMaps ?? {})) {
      if (!this.maps.has(map)) throw new Error(`${this.name}: no map named ${map}`);
      n.mapReuseFd(h, map, m.fd);
    }
    for (const [prog, fn] of Object.entries(opts.attachTargets ?? {})) {
      if (!this.programs.has(prog)) throw new Error(`${this.name}: no program named ${prog}`);
      try {
        n.programSetAttachTarget(h, prog, fn);
      } catch (e) {
        throw fromNative(e, `${this.name}/${prog}: attach target ${fn}`);
      }
    }
    this.setConstants(h, opts.constants ?? {});
  }

  private internalMapFor(section: string): string {
    for (const m of this.maps.values()) {
      if (m.internal && (m.name === section || m.name.endsWith(section))) return m.name;
    }
    throw new Error(`${this.name}: no internal map for section ${section}`);
  }

  private setConstants(h: ObjectHandle, constants: Record<string, ConstantValue>): void {
    const n = native();
    const bySection = new Map<string, Buffer>();
    for (const [name, value] of Object.entries(constants)) {
      const v = this.variables.get(name);
      if (!v) throw new Error(`${this.name}: no global variable named ${name}`);
      const mapName = this.internalMapFor(v.section);
      let buf = bySection.get(mapName);
      if (!buf) {
        buf = n.mapInitialValue(h, mapName) ?? Buffer.alloc(0);
        bySection.set(mapName, buf);
      }
      encodeVariable(this.btf, v, value, buf, `${this.name}: ${name}`);
    }
    for (const [mapName, buf] of bySection) n.mapSetInitialValue(h, mapName, buf);
  }

  private loadError(e: unknown, opts: LoadOptions): Error {
    const err = fromNative(e, `load ${this.name}`);
    if (!(err instanceof BpfError)) return err;
    const log = err.log;
    const m = /prog '([^']+)': (?:BPF program load failed|failed to load)/.exec(log);
    const progName = m?.[1];
    const prog = progName ? this.programs.get(progName) : undefined;
    if (prog && (err.errno === 1 || err.errno === 95 || err.errno === 524) &&
        (prog.type === ProgramType.tracing || prog.type === ProgramType.lsm || prog.type === ProgramType.ext)) {
      const feature = prog.type === ProgramType.lsm ? 'lsm' : prog.section.split('/')[0] ?? 'tracing';
      return new NotSupportedError(feature,
        `the kernel refused ${prog.typeName} program ${prog.name} (${prog.section}) with ${errnoName(err.errno)}` +
        (prog.type === ProgramType.lsm ? '; BPF LSM needs CONFIG_BPF_LSM and "bpf" in lsm=' : ''),
        prog.type === ProgramType.lsm ? '5.7' : '5.5', { cause: err });
    }
    if (progName && /BEGIN PROG LOAD LOG|processed \d+ insns|^\d+: \(/m.test(log)) {
      return new VerifierError(this.name, progName, err.errno, extractProgramLog(log), { cause: err });
    }
    void opts;
    return err;
  }
}

/** The verifier's own lines, without libbpf's prefixes around them. */
function extractProgramLog(log: string): string {
  const begin = log.indexOf('-- BEGIN PROG LOAD LOG --');
  const end = log.indexOf('-- END PROG LOAD LOG --');
  if (begin >= 0 && end > begin) return log.slice(log.indexOf('\n', begin) + 1, end).replace(/\nlibbpf: prog '[^']*': $/, '');
  return log;
}

function encodeVariable(btf: Btf, v: BtfVariable, value: ConstantValue, buf: Buffer, what: string): void {
  if (v.offset + v.size > buf.length) throw new RangeError(`${what}: outside its section`);
  const t = btf.resolve(v.typeId);
  const dv = new DataView(buf.buffer, buf.byteOffset + v.offset, v.size);
  if (value instanceof Uint8Array) {
    if (value.length > v.size) throw new RangeError(`${what}: ${value.length} bytes for a ${v.size}-byte variable`);
    buf.fill(0, v.offset, v.offset + v.size);
    buf.set(value, v.offset);
    return;
  }
  if (typeof value === 'string') {
    if (t.kind !== 'ARRAY') throw new TypeError(`${what}: a string needs a char array, variable is ${t.kind}`);
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length >= v.size) throw new RangeError(`${what}: string of ${bytes.length} bytes does not fit ${v.size} with its NUL`);
    buf.fill(0, v.offset, v.offset + v.size);
    bytes.copy(buf, v.offset);
    return;
  }
  if (!['INT', 'ENUM', 'ENUM64'].includes(t.kind)) {
    throw new TypeError(`${what}: cannot set a ${t.kind} variable from a ${typeof value}`);
  }
  const signed = t.encoding === 'SIGNED';
  const big = typeof value === 'bigint' ? value : BigInt(typeof value === 'boolean' ? Number(value) : Math.trunc(value));
  const bits = BigInt(v.size * 8);
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  if (big < min || big > max) throw new RangeError(`${what}: ${big} does not fit a ${v.size}-byte ${signed ? 'signed' : 'unsigned'} integer`);
  switch (v.size) {
    case 1: dv.setUint8(0, Number(big & 0xffn)); break;
    case 2: dv.setUint16(0, Number(big & 0xffffn), true); break;
    case 4: dv.setUint32(0, Number(big & 0xffffffffn), true); break;
    case 8: dv.setBigUint64(0, BigInt.asUintN(64, big), true); break;
    default: throw new TypeError(`${what}: integer of ${v.size} bytes`);
  }
}

/** A loaded object: its programs and maps live in the kernel until close(). */
export class BpfObject implements Disposable {
  readonly programs: ReadonlyMap<string, Program>;
  readonly maps: ReadonlyMap<string, BpfMap>;
  private handle: ObjectHandle | undefined;

  constructor(readonly spec: ObjectSpec, handle: ObjectHandle, opts: LoadOptions) {
    this.handle = handle;
    const n = native();
    const get = (): ObjectHandle => {
      if (!this.handle) throw new Error(`object ${spec.name} is closed`);
      return this.handle;
    };
    const programs = new Map<string, Program>();
    for (const p of spec.programs.values()) {
      if (opts.programs && !opts.programs.includes(p.name)) continue;
      programs.set(p.name, new Program(get, p.name, p.section, p.type));
    }
    const maps = new Map<string, BpfMap>();
    for (const m of spec.maps.values()) {
      const fd = n.mapFd(handle, m.name);
      if (fd < 0) continue;
      maps.set(m.name, new BpfMap(fd, {
        name: m.name, type: m.type, keySize: m.keySize, valueSize: m.valueSize,
        maxEntries: opts.maxEntries?.[m.name] ?? m.maxEntries, flags: m.flags,
      }, false));
    }
    this.programs = programs;
    this.maps = maps;
  }

  get name(): string {
    return this.spec.name;
  }

  program(name: string): Program {
    const p = this.programs.get(name);
    if (!p) throw new Error(`${this.name}: no loaded program named ${name}`);
    return p;
  }

  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new Error(`${this.name}: no map named ${name}`);
    return m;
  }

  /** Frees programs and maps (links hold their own references to programs). */
  close(): void {
    const h = this.handle;
    if (!h) return;
    this.handle = undefined;
    for (const m of this.maps.values()) m.close();
    native().closeObject(h);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
