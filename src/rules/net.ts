// IP addresses and networks for Falco's IPADDR and IPNET fields (fd.ip = "0.0.0.0",
// fd.net != "127.0.0.0/8", fd.snet in ("10.0.0.0/8", ...)): addresses as integers,
// parsed by src/kernel/addr.ts.
import { parseAddress } from '../kernel/addr.js';

export interface ParsedIp {
  readonly v: 4 | 6;
  readonly n: bigint;
}

export interface ParsedNet {
  readonly v: 4 | 6;
  readonly base: bigint;
  readonly bits: number;
}

function toBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

export function parseIp(text: string): ParsedIp | undefined {
  const a = parseAddress(text);
  return a && { v: a.family, n: toBigInt(a.addr) };
}

/** "10.0.0.0/8", "fd00::/8"; a bare address is a /32 (or /128). */
export function parseNet(text: string): ParsedNet | undefined {
  const t = text.trim();
  const slash = t.indexOf('/');
  const ip = parseIp(slash < 0 ? t : t.slice(0, slash));
  if (!ip) return undefined;
  const width = ip.v === 4 ? 32 : 128;
  const bits = slash < 0 ? width : Number(t.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0 || bits > width) return undefined;
  return { v: ip.v, base: ip.n, bits };
}

export function netContains(net: ParsedNet, ip: ParsedIp): boolean {
  if (net.v !== ip.v) return false;
  const shift = BigInt((net.v === 4 ? 32 : 128) - net.bits);
  return ip.n >> shift === net.base >> shift;
}

export function sameIp(a: ParsedIp, b: ParsedIp): boolean {
  return a.v === b.v && a.n === b.n;
}

const cache = new Map<string, ParsedIp | null>();

/** parseIp with a bounded memo: events repeat the same few addresses. */
export function parseIpCached(text: string): ParsedIp | undefined {
  let r = cache.get(text);
  if (r === undefined) {
    if (cache.size > 4096) cache.clear();
    r = parseIp(text) ?? null;
    cache.set(text, r);
  }
  return r ?? undefined;
}
