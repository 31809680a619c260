// IP addresses and CIDRs: as the kernel hands them (address family and
// network-order bytes, IPv4 in the first 4 of 16) and keys them (bytes and a
// prefix length), and as people write them. Parsing is strict (a typo is an
// error, not a /0), host bits are cleared so one network has one key, and
// formatting follows RFC 5952 (IPv6 zero runs compressed, lower case).
//
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what an AF_INET6 socket shows
// for an IPv4 peer) is reported and matched as the IPv4 address it is on the wire.
import { isIPv4, isIPv6 } from 'node:net';

export const AF_INET = 2;
export const AF_INET6 = 10;

export interface Cidr {
  readonly family: 4 | 6;
  /** Network order, host bits cleared: 4 or 16 bytes. */
  readonly addr: Uint8Array;
  readonly prefixlen: number;
}

/** Not an address or CIDR (a RangeError: a bad value, named in the message). */
export class CidrError extends RangeError {
  override readonly name = 'CidrError';
}

function v4Bytes(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map((p) => Number(p)));
}

function v6Bytes(text: string): Uint8Array {
  let s = text;
  const out = new Uint8Array(16);
  const lastColon = s.lastIndexOf(':');
  let tail: Uint8Array | undefined;
  if (s.indexOf('.', lastColon) >= 0) {
    tail = v4Bytes(s.slice(lastColon + 1));
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const groups = [...head, ...Array<string>(8 - head.length - rest.length).fill('0'), ...rest];
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  if (tail) out.set(tail, 12);
  return out;
}

/** An address's bytes, or undefined when text is not an IPv4 or IPv6 address. */
export function parseAddress(text: string): { family: 4 | 6; addr: Uint8Array } | undefined {
  const t = text.trim();
  if (isIPv4(t)) return { family: 4, addr: v4Bytes(t) };
  const bare = t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1) : t;
  if (isIPv6(bare) && !bare.includes('%')) return { family: 6, addr: v6Bytes(bare) };
  return undefined;
}

/** "10.0.0.0/8", "2001:db8::/32"; a bare address is a /32 or /128. Host bits are cleared. */
export function parseCidr(text: string): Cidr {
  const t = text.trim();
  const slash = t.indexOf('/');
  const a = parseAddress(slash < 0 ? t : t.slice(0, slash));
  if (!a) throw new CidrError(`"${text}" is not an IPv4 or IPv6 address or CIDR`);
  const width = a.family === 4 ? 32 : 128;
  let prefixlen = width;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    prefixlen = /^\d{1,3}$/.test(p) ? Number(p) : NaN;
    if (!(prefixlen >= 0 && prefixlen <= width)) {
      throw new CidrError(`"${text}": prefix length must be 0..${width}`);
    }
  }
  return { family: a.family, addr: maskBytes(a.addr, prefixlen), prefixlen };
}

function maskBytes(addr: Uint8Array, bits: number): Uint8Array {
  const out = Uint8Array.from(addr);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/** RFC 5952 text of 4 or 16 network-order bytes (only the first `family` bytes count). */
export function formatAddress(addr: Uint8Array, family: 4 | 6): string {
  if (family === 4) return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((addr[i * 2]! << 8) | addr[i * 2 + 1]!);
  // IPv4-mapped addresses read best with their IPv4 tail.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${addr[12]}.${addr[13]}.${addr[14]}.${addr[15]}`;
  }
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

export function formatCidr(c: Cidr): string {
  return `${formatAddress(c.addr, c.family)}/${c.prefixlen}`;
}

/** AF_INET/AF_INET6 -> 4/6. */
export function familyOf(af: number): 4 | 6 | undefined {
  return af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined;
}

function isV4Mapped(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < 10; i++) if (b[o + i] !== 0) return false;
  return b[o + 10] === 0xff && b[o + 11] === 0xff;
}

/** An address as the flow and DNS sensors report it. */
export interface IpAddress {
  /** Canonical text: dotted quad, or RFC 5952 IPv6. */
  text: string;
  version: 4 | 6;
}

/**
 * IPv4 addresses made recently, by value: a connection storm repeats a few
 * addresses thousands of times a second, and each is made once. Shared: an
 * IpAddress is never changed once made. Cleared when it reaches the bound.
 */
const v4Made = new Map<number, IpAddress>();
const V4_MADE_MAX = 4096;

function v4Address(b: Uint8Array, o: number): IpAddress {
  const key = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  let a = v4Made.get(key);
  if (!a) {
    if (v4Made.size >= V4_MADE_MAX) v4Made.clear();
    a = { text: `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`, version: 4 };
    v4Made.set(key, a);
  }
  return a;
}

/** The address of family (AF_INET / AF_INET6) in 16 kernel bytes at offset o. */
export function addressFromKernel(family: number, b: Uint8Array, o = 0): IpAddress {
  if (family === AF_INET) return v4Address(b, o);
  if (isV4Mapped(b, o)) return v4Address(b, o + 12);
  return { text: formatAddress(b.subarray(o, o + 16), 6), version: 6 };
}

/** RFC 5952 text of 16 bytes at offset o. */
export function ipv6Text(b: Uint8Array, o = 0): string {
  return formatAddress(b.subarray(o, o + 16), 6);
}

/** An address (a zone, "%eth0", is ignored) as 16 bytes, IPv4 as v4-mapped; version 4 for both kinds of IPv4. */
export function parseIp(text: string): { bytes: Uint8Array; version: 4 | 6 } | undefined {
  const zone = text.indexOf('%');
  const a = parseAddress(zone < 0 ? text : text.slice(0, zone));
  if (!a) return undefined;
  if (a.family === 6) return { bytes: a.addr, version: isV4Mapped(a.addr, 0) ? 4 : 6 };
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  bytes.set(a.addr, 12);
  return { bytes, version: 4 };
}

/** Whether addr (4 or 16 network-order bytes of family) is inside c. */
export function cidrContains(c: Cidr, family: 4 | 6, addr: Uint8Array): boolean {
  if (family !== c.family) return false;
  const full = c.prefixlen >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== c.addr[i]) return false;
  const rest = c.prefixlen & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((addr[full] ?? 0) & mask) === c.addr[full];
}

/** A CIDR (or a single address: /32, /128) to match written addresses against, as the flow filters do. */
export class CidrFilter {
  private constructor(readonly text: string, private readonly cidr: Cidr) {}

  /** "10.0.0.0/8", "fd00::/8", "1.2.3.4"; throws CidrError (a RangeError) on anything else. */
  static parse(text: string): CidrFilter {
    return new CidrFilter(text, parseCidr(text));
  }

  get version(): 4 | 6 {
    return this.cidr.family;
  }

  /** Whether the address (text; a v4-mapped IPv6 address is its IPv4 address) is inside. */
  contains(address: string): boolean {
    const ip = parseIp(address);
    if (!ip) return false;
    return ip.version === 4 ? cidrContains(this.cidr, 4, ip.bytes.subarray(12)) : cidrContains(this.cidr, 6, ip.bytes);
  }
}
