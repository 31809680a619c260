// Codecs: fixed-size binary layouts read from and written to DataViews at an
// offset, so records are decoded in place from a batch without a copy each.
// Multi-byte integers are host (little-endian) order, as the kernel writes them.

export interface Codec<T> {
  /** Bytes this codec reads and writes. Checked against map key/value sizes. */
  readonly size: number;
  decode(view: DataView, offset: number): T;
  encode(value: T, view: DataView, offset: number): void;
}

const LE = true;

export const u8: Codec<number> = {
  size: 1,
  decode: (v, o) => v.getUint8(o),
  encode: (x, v, o) => v.setUint8(o, x),
};
export const i8: Codec<number> = {
  size: 1,
  decode: (v, o) => v.getInt8(o),
  encode: (x, v, o) => v.setInt8(o, x),
};
export const u16: Codec<number> = {
  size: 2,
  decode: (v, o) => v.getUint16(o, LE),
  encode: (x, v, o) => v.setUint16(o, x, LE),
};
export const i16: Codec<number> = {
  size: 2,
  decode: (v, o) => v.getInt16(o, LE),
  encode: (x, v, o) => v.setInt16(o, x, LE),
};
export const u32: Codec<number> = {
  size: 4,
  decode: (v, o) => v.getUint32(o, LE),
  encode: (x, v, o) => v.setUint32(o, x, LE),
};
export const i32: Codec<number> = {
  size: 4,
  decode: (v, o) => v.getInt32(o, LE),
  encode: (x, v, o) => v.setInt32(o, x, LE),
};
export const u64: Codec<bigint> = {
  size: 8,
  decode: (v, o) => v.getBigUint64(o, LE),
  encode: (x, v, o) => v.setBigUint64(o, x, LE),
};
export const i64: Codec<bigint> = {
  size: 8,
  decode: (v, o) => v.getBigInt64(o, LE),
  encode: (x, v, o) => v.setBigInt64(o, x, LE),
};
/**
 * u64 as a JS number: exact below 2^53 (counters, nanosecond times for ~104
 * days of uptime... and far beyond for byte counts). Cheaper than bigint.
 */
export const u64n: Codec<number> = {
  size: 8,
  decode: (v, o) => v.getUint32(o, LE) + v.getUint32(o + 4, LE) * 0x1_0000_0000,
  encode: (x, v, o) => {
    v.setUint32(o, x >>> 0, LE);
    v.setUint32(o + 4, Math.floor(x / 0x1_0000_0000) >>> 0, LE);
  },
};
export const f64: Codec<number> = {
  size: 8,
  decode: (v, o) => v.getFloat64(o, LE),
  encode: (x, v, o) => v.setFloat64(o, x, LE),
};
export const bool: Codec<boolean> = {
  size: 1,
  decode: (v, o) => v.getUint8(o) !== 0,
  encode: (x, v, o) => v.setUint8(o, x ? 1 : 0),
};

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8enc = new TextEncoder();

/** Reads a NUL-terminated string from at most `max` bytes. */
export function readCString(view: DataView, offset: number, max: number): string {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, max);
  let end = bytes.indexOf(0);
  if (end < 0) end = max;
  return utf8.decode(bytes.subarray(0, end));
}

/** char[n]: NUL-terminated (or full) text. */
export function cstring(n: number): Codec<string> {
  return {
    size: n,
    decode: (v, o) => readCString(v, o, n),
    encode: (x, v, o) => {
      const dst = new Uint8Array(v.buffer, v.byteOffset + o, n);
      dst.fill(0);
      const { written } = utf8enc.encodeInto(x, dst.subarray(0, n - 1));
      dst[written] = 0;
    },
  };
}

/** Raw bytes, copied out (a decoded value must outlive the batch). */
export function bytes(n: number): Codec<Uint8Array> {
  return {
    size: n,
    decode: (v, o) => new Uint8Array(v.buffer, v.byteOffset + o, n).slice(),
    encode: (x, v, o) => {
      if (x.length > n) throw new RangeError(`bytes(${n}): value has ${x.length} bytes`);
      const dst = new Uint8Array(v.buffer, v.byteOffset + o, n);
      dst.fill(0);
      dst.set(x);
    },
  };
}

export function array<T>(elem: Codec<T>, n: number): Codec<T[]> {
  return {
    size: elem.size * n,
    decode: (v, o) => {
      const out = new Array<T>(n);
      for (let i = 0; i < n; i++) out[i] = elem.decode(v, o + i * elem.size);
      return out;
    },
    encode: (x, v, o) => {
      if (x.length > n) throw new RangeError(`array of ${n}: value has ${x.length} elements`);
      for (let i = 0; i < n; i++) {
        const e = x[i];
        if (e === undefined) new Uint8Array(v.buffer, v.byteOffset + o + i * elem.size, elem.size).fill(0);
        else elem.encode(e, v, o + i * elem.size);
      }
    },
  };
}

/** Encodes into a fresh Buffer of exactly `codec.size` bytes. */
export function encodeToBuffer<T>(codec: Codec<T>, value: T, into?: Buffer): Buffer {
  const buf = into ?? Buffer.alloc(codec.size);
  if (into) buf.fill(0, 0, codec.size);
  codec.encode(value, new DataView(buf.buffer, buf.byteOffset, buf.byteLength), 0);
  return buf;
}

export function decodeFromBuffer<T>(codec: Codec<T>, buf: Uint8Array, offset = 0): T {
  if (buf.byteLength - offset < codec.size) {
    throw new RangeError(`decode: need ${codec.size} bytes, have ${buf.byteLength - offset}`);
  }
  return codec.decode(new DataView(buf.buffer, buf.byteOffset, buf.byteLength), offset);
}

/**
 * The frames of a stack trace map's value (BPF_MAP_TYPE_STACK_TRACE): u64
 * instruction pointers, innermost first, zero after the last.
 */
export function stackFrames(value: Buffer): bigint[] {
  const frames: bigint[] = [];
  for (let o = 0; o + 8 <= value.length; o += 8) {
    const ip = value.readBigUInt64LE(o);
    if (ip === 0n) break;
    frames.push(ip);
  }
  return frames;
}
