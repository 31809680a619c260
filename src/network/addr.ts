// IP addresses as the kernel hands them (16 bytes, IPv4 in the first 4) and
// as people write them, and CIDR matching for filters.
//
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what an AF_INET6 socket shows
// for an IPv4 peer) is reported as the IPv4 address it is on the wire.
import { isIP } from 'node:net';

export const AF_INET = 2;
export const AF_INET6 = 10;

export interface IpAddress {
  /** Canonical text: dotted quad, or RFC 5952 IPv6. */
  text: string;
  version: 4 | 6;
}

function v4Text(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** RFC 5952 text of 16 bytes: lower case, longest run (>= 2) of zero groups as ::, first on ties. */
export function ipv6Text(b: Uint8Array, o = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[o + 2 * i] ?? 0) << 8) | (b[o + 2 * i + 1] ?? 0));
  let bestAt = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

function isV4Mapped(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < 10; i++) if (b[o + i] !== 0) return false;
  return b[o + 10] === 0xff && b[o + 11] === 0xff;
}

/** The address of family (AF_INET / AF_INET6) in 16 kernel bytes at offset o. */
export function addressFromKernel(family: number, b: Uint8Array, o = 0): IpAddress {
  if (family === AF_INET) return { text: v4Text(b, o), version: 4 };
  if (isV4Mapped(b, o)) return { text: v4Text(b, o + 12), version: 4 };
  return { text: ipv6Text(b, o), version: 6 };
}

/** Parses an address to 16 bytes (IPv4 as v4-mapped) or undefined. */
export function parseIp(text: string): { bytes: Uint8Array; version: 4 | 6 } | undefined {
  const kind = isIP(text);
  if (kind === 4) {
    const bytes = new Uint8Array(16);
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    text.split('.').forEach((p, i) => { bytes[12 + i] = Number(p); });
    return { bytes, version: 4 };
  }
  if (kind !== 6) return undefined;
  let s = text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two groups.
  const dot = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dot?.[1]) {
    const q = dot[1].split('.').map(Number);
    s = `${s.slice(0, dot.index)}${(((q[0] ?? 0) << 8) | (q[1] ?? 0)).toString(16)}:${(((q[2] ?? 0) << 8) | (q[3] ?? 0)).toString(16)}`;
  }
  const [head = '', tail] = s.split('::');
  const hs = head ? head.split(':') : [];
  const ts = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = 8 - hs.length - ts.length;
  const groups = [...hs, ...(tail !== undefined ? new Array<string>(fill).fill('0') : []), ...ts].map((g) => parseInt(g, 16));
  if (groups.length !== 8) return undefined;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  if (isV4Mapped(bytes, 0)) return { bytes, version: 4 };
  return { bytes, version: 6 };
}

/** A CIDR (or a single address: /32, /128) to match addresses against. */
export class Cidr {
  private constructor(readonly text: string, private readonly bytes: Uint8Array, private readonly bits: number,
    readonly version: 4 | 6) {}

  /** "10.0.0.0/8", "fd00::/8", "1.2.3.4"; throws RangeError on anything else. */
  static parse(text: string): Cidr {
    const slash = text.indexOf('/');
    const addr = slash < 0 ? text : text.slice(0, slash);
    const ip = parseIp(addr);
    if (!ip) throw new RangeError(`not an IP address or CIDR: "${text}"`);
    const max = ip.version === 4 ? 32 : 128;
    let len = max;
    if (slash >= 0) {
      const p = text.slice(slash + 1);
      if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new RangeError(`bad prefix length in "${text}" (0..${max})`);
      len = Number(p);
    }
    // IPv4 prefixes count from the v4-mapped form's 96 leading bits.
    const bits = ip.version === 4 ? 96 + len : len;
    return new Cidr(text, ip.bytes, bits, ip.version);
  }

  /** Whether the address (text) is inside. */
  contains(address: string): boolean {
    const ip = parseIp(address);
    if (!ip || ip.version !== this.version) return false;
    const full = this.bits >> 3;
    for (let i = 0; i < full; i++) if (ip.bytes[i] !== this.bytes[i]) return false;
    const rest = this.bits & 7;
    if (rest === 0) return true;
    const mask = (0xff << (8 - rest)) & 0xff;
    return ((ip.bytes[full] ?? 0) & mask) === ((this.bytes[full] ?? 0) & mask);
  }
}
