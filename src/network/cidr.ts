// CIDRs and addresses as the kernel side keys them: network-order bytes (4
// for IPv4, 16 for IPv6) and a prefix length. Parsing is strict (a typo is an
// error, not a /0), host bits are cleared so one network has one key, and
// formatting follows RFC 5952 (IPv6 zero runs compressed, lower case).
import { isIPv4, isIPv6 } from 'node:net';

export const AF_INET = 2;
export const AF_INET6 = 10;

export interface Cidr {
  readonly family: 4 | 6;
  /** Network order, host bits cleared: 4 or 16 bytes. */
  readonly addr: Uint8Array;
  readonly prefixlen: number;
}

export class CidrError extends Error {
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
