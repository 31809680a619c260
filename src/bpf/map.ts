// Maps: a raw byte-level BpfMap, and TypedMap / PerCpuMap that speak like a
// JS Map through codecs whose sizes are checked when the wrapper is made.
import { native } from './native.js';
import { BpfError, fromNative } from './errors.js';
import { type Codec, encodeToBuffer } from './codec.js';
import { MapType, PERCPU_MAP_TYPES, UpdateFlags, mapTypeName } from './types.js';

export interface MapInfo {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

let possibleCpus: number | undefined;
export function numPossibleCpus(): number {
  possibleCpus ??= native().numPossibleCpus();
  return possibleCpus;
}

function wrap<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fromNative(e, what);
  }
}

/** Kernels before 5.6 lack batch operations; remembered per map type. */
const batchUnsupported = new Set<number>();

export class BpfMap implements Disposable {
  private closed = false;

  /**
   * @param _fd the map's descriptor
   * @param owned whether close() closes the descriptor (maps of a loaded
   *   object are owned by the object and closed with it)
   */
  constructor(private _fd: number, readonly info: MapInfo, private readonly owned: boolean) {}

  /** A map pinned in bpffs; this BpfMap owns the new descriptor. */
  static fromPin(path: string): BpfMap {
    const fd = wrap(`open pinned map ${path}`, () => native().objGet(path));
    return BpfMap.fromFd(fd, true);
  }

  static fromFd(fd: number, owned: boolean): BpfMap {
    const i = wrap('map info', () => native().mapInfo(fd));
    return new BpfMap(fd, { name: i.name, type: i.type, keySize: i.keySize, valueSize: i.valueSize,
      maxEntries: i.maxEntries, flags: i.flags }, owned);
  }

  /** Creates a map outside any object (tests, inner maps). */
  static create(spec: MapInfo): BpfMap {
    const fd = wrap(`create map ${spec.name}`, () =>
      native().mapCreate(spec.type, spec.name, spec.keySize, spec.valueSize, spec.maxEntries, spec.flags));
    return new BpfMap(fd, spec, true);
  }

  get fd(): number {
    if (this.closed) throw new Error(`map ${this.info.name} is closed`);
    return this._fd;
  }
  get name(): string { return this.info.name; }
  get type(): number { return this.info.type; }
  get keySize(): number { return this.info.keySize; }
  get valueSize(): number { return this.info.valueSize; }
  get maxEntries(): number { return this.info.maxEntries; }
  get isPerCpu(): boolean { return PERCPU_MAP_TYPES.has(this.info.type); }

  /** Bytes a lookup returns: per-CPU maps give one 8-byte-aligned slot per possible CPU. */
  get lookupValueSize(): number {
    return this.isPerCpu ? roundUp8(this.info.valueSize) * numPossibleCpus() : this.info.valueSize;
  }

  private checkKey(key: Uint8Array | null): void {
    if (key && key.byteLength !== this.info.keySize) {
      throw new RangeError(`map ${this.name}: key is ${key.byteLength} bytes, map wants ${this.info.keySize}`);
    }
  }

  lookup(key: Uint8Array | null, into?: Buffer): Buffer | undefined {
    this.checkKey(key);
    const value = into ?? Buffer.alloc(this.lookupValueSize);
    const found = wrap(`lookup in ${this.name}`, () => native().mapLookup(this.fd, key, value, 0));
    return found ? value : undefined;
  }

  lookupAndDelete(key: Uint8Array | null): Buffer | undefined {
    this.checkKey(key);
    const value = Buffer.alloc(this.lookupValueSize);
    const found = wrap(`lookup-and-delete in ${this.name}`, () => native().mapLookupAndDelete(this.fd, key, value));
    return found ? value : undefined;
  }

  update(key: Uint8Array | null, value: Uint8Array, flags: number = UpdateFlags.any): void {
    this.checkKey(key);
    if (value.byteLength !== this.lookupValueSize) {
      throw new RangeError(`map ${this.name}: value is ${value.byteLength} bytes, map wants ${this.lookupValueSize}`);
    }
    wrap(`update in ${this.name}`, () => native().mapUpdate(this.fd, key, value, flags));
  }

  delete(key: Uint8Array): boolean {
    this.checkKey(key);
    return wrap(`delete in ${this.name}`, () => native().mapDelete(this.fd, key));
  }

  /** Keys in kernel iteration order (next-key walk). */
  *keys(): IterableIterator<Buffer> {
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.info.keySize);
      const ok = wrap(`iterate ${this.name}`, () => native().mapGetNextKey(this.fd, prev, next));
      if (!ok) return;
      yield next;
      prev = next;
    }
  }

  /**
   * All entries. Uses the kernel's batch lookup where the map type has it
   * (one syscall for up to `chunk` entries), else a next-key walk.
   */
  *entries(opts: { chunk?: number } = {}): IterableIterator<[Buffer, Buffer]> {
    if (this.supportsBatch()) {
      const got = this.tryBatch(opts.chunk ?? 256, false);
      if (got) {
        yield* got;
        return;
      }
    }
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) yield [k, v];
    }
  }

  /** Reads and clears every entry (batched where possible): for counters read each interval. */
  drain(opts: { chunk?: number } = {}): [Buffer, Buffer][] {
    if (this.supportsBatch()) {
      const got = this.tryBatch(opts.chunk ?? 256, true);
      if (got) return got;
    }
    const out: [Buffer, Buffer][] = [];
    for (const k of [...this.keys()]) {
      const v = this.lookup(k);
      if (v && this.delete(k)) out.push([k, v]);
    }
    return out;
  }

  private supportsBatch(): boolean {
    return !batchUnsupported.has(this.info.type) &&
      [MapType.hash, MapType.percpu_hash, MapType.lru_hash, MapType.lru_percpu_hash, MapType.array,
        MapType.percpu_array].includes(this.info.type as 1);
  }

  private tryBatch(chunk: number, andDelete: boolean): [Buffer, Buffer][] | undefined {
    const n = native();
    const ks = this.info.keySize;
    const vs = this.lookupValueSize;
    const keys = Buffer.alloc(ks * chunk);
    const values = Buffer.alloc(vs * chunk);
    // Hash maps use an opaque u32 bucket cursor; make it at least key-sized.
    const cursorSize = Math.max(ks, 8);
    let inBatch: Buffer | null = null;
    const outBatch = Buffer.alloc(cursorSize);
    const out: [Buffer, Buffer][] = [];
    for (;;) {
      let res: { count: number; done: boolean };
      try {
        res = n.mapLookupBatch(this.fd, inBatch, outBatch, keys, values, chunk, andDelete);
      } catch (e) {
        const err = fromNative(e);
        if (err instanceof BpfError && (err.errno === 22 || err.errno === 524 || err.errno === 95) && out.length === 0) {
          batchUnsupported.add(this.info.type); // EINVAL/ENOTSUPP/EOPNOTSUPP: no batch ops for this type here
          return undefined;
        }
        throw fromNative(e, `batch lookup in ${this.name}`);
      }
      for (let i = 0; i < res.count; i++) {
        out.push([Buffer.from(keys.subarray(i * ks, (i + 1) * ks)), Buffer.from(values.subarray(i * vs, (i + 1) * vs))]);
      }
      if (res.done) return out;
      inBatch = Buffer.from(outBatch);
    }
  }

  /** Updates many entries in one syscall where the kernel can. */
  updateBatch(entries: [Uint8Array, Uint8Array][], flags: number = UpdateFlags.any): void {
    if (entries.length === 0) return;
    const ks = this.info.keySize;
    const vs = this.lookupValueSize;
    if (this.supportsBatch()) {
      const keys = Buffer.alloc(ks * entries.length);
      const values = Buffer.alloc(vs * entries.length);
      entries.forEach(([k, v], i) => {
        this.checkKey(k);
        keys.set(k, i * ks);
        values.set(v, i * vs);
      });
      try {
        native().mapUpdateBatch(this.fd, keys, values, entries.length, flags);
        return;
      } catch (e) {
        const err = fromNative(e);
        if (!(err instanceof BpfError && (err.errno === 22 || err.errno === 524 || err.errno === 95))) {
          throw fromNative(e, `batch update in ${this.name}`);
        }
        batchUnsupported.add(this.info.type);
      }
    }
    for (const [k, v] of entries) this.update(k, v, flags);
  }

  pin(path: string): void {
    wrap(`pin map ${this.name} at ${path}`, () => native().objPin(this.fd, path));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) native().closeFd(this._fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    return `${mapTypeName(this.type)} map ${this.name} (key ${this.keySize}, value ${this.valueSize}, max ${this.maxEntries})`;
  }
}

function roundUp8(n: number): number {
  return (n + 7) & ~7;
}

function checkSize(map: BpfMap, what: 'key' | 'value', codec: Codec<unknown>, want: number): void {
  if (codec.size !== want) {
    throw new RangeError(`map ${map.name}: ${what} codec is ${codec.size} bytes, map ${what} is ${want} bytes`);
  }
}

/** A map of typed keys and values, checked against the map's sizes when made. */
export class TypedMap<K, V> implements Iterable<[K, V]> {
  private readonly keyBuf: Buffer;
  private readonly valBuf: Buffer;
  private readonly valView: DataView;

  constructor(readonly map: BpfMap, readonly key: Codec<K>, readonly value: Codec<V>) {
    if (map.isPerCpu) throw new TypeError(`map ${map.name} is per-CPU: use PerCpuMap`);
    checkSize(map, 'key', key, map.keySize);
    checkSize(map, 'value', value, map.valueSize);
    this.keyBuf = Buffer.alloc(map.keySize);
    this.valBuf = Buffer.alloc(map.valueSize);
    this.valView = new DataView(this.valBuf.buffer, this.valBuf.byteOffset, this.valBuf.byteLength);
  }

  get(k: K): V | undefined {
    const found = this.map.lookup(this.map.keySize ? encodeToBuffer(this.key, k, this.keyBuf) : null, this.valBuf);
    return found ? this.value.decode(this.valView, 0) : undefined;
  }

  has(k: K): boolean {
    return this.get(k) !== undefined;
  }

  set(k: K, v: V, flags: number = UpdateFlags.any): this {
    this.map.update(encodeToBuffer(this.key, k), encodeToBuffer(this.value, v), flags);
    return this;
  }

  delete(k: K): boolean {
    return this.map.delete(encodeToBuffer(this.key, k));
  }

  *keys(): IterableIterator<K> {
    for (const k of this.map.keys()) yield this.key.decode(view(k), 0);
  }

  *entries(): IterableIterator<[K, V]> {
    for (const [k, v] of this.map.entries()) yield [this.key.decode(view(k), 0), this.value.decode(view(v), 0)];
  }

  drain(): [K, V][] {
    return this.map.drain().map(([k, v]) => [this.key.decode(view(k), 0), this.value.decode(view(v), 0)]);
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}

/** A per-CPU map: each value is one entry per possible CPU. */
export class PerCpuMap<K, V> {
  constructor(readonly map: BpfMap, readonly key: Codec<K>, readonly value: Codec<V>) {
    if (!map.isPerCpu) throw new TypeError(`map ${map.name} is not per-CPU: use TypedMap`);
    checkSize(map, 'key', key, map.keySize);
    checkSize(map, 'value', value, map.valueSize);
  }

  get(k: K): V[] | undefined {
    const buf = this.map.lookup(encodeToBuffer(this.key, k));
    return buf ? this.split(buf) : undefined;
  }

  set(k: K, perCpu: V[], flags: number = UpdateFlags.any): void {
    const stride = roundUp8(this.map.valueSize);
    const buf = Buffer.alloc(this.map.lookupValueSize);
    const dv = view(buf);
    for (let cpu = 0; cpu < numPossibleCpus(); cpu++) {
      const v = perCpu[cpu];
      if (v !== undefined) this.value.encode(v, dv, cpu * stride);
    }
    this.map.update(encodeToBuffer(this.key, k), buf, flags);
  }

  *entries(): IterableIterator<[K, V[]]> {
    for (const [k, v] of this.map.entries()) yield [this.key.decode(view(k), 0), this.split(v)];
  }

  private split(buf: Buffer): V[] {
    const stride = roundUp8(this.map.valueSize);
    const dv = view(buf);
    const out: V[] = [];
    for (let cpu = 0; cpu < numPossibleCpus(); cpu++) out.push(this.value.decode(dv, cpu * stride));
    return out;
  }
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
