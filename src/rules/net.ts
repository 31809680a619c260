// IP addresses and networks for Falco's IPADDR and IPNET fields (fd.ip = "0.0.0.0",
// fd.net != "127.0.0.0/8", fd.snet in ("10.0.0.0/8", ...)).
import { isIPv4, isIPv6 } from 'node:net';

export interface ParsedIp {
  readonly v: 4 | 6;
  readonly n: bigint;
}

export interface ParsedNet {
  readonly v: 4 | 6;
  readonly base: bigint;
  readonly bits: number;
}

function v4(text: string): bigint {
  let n = 0n;
  for (const part of text.split('.')) n = (n << 8n) | BigInt(Number(part));
  return n;
}

function v6(text: string): bigint | undefined {
  let s = text;
  let tail = 0n;
  let tailBits = 0;
  // an embedded IPv4 tail (::ffff:1.2.3.4)
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) >= 0) {
    const quad = s.slice(lastColon + 1);
    if (!isIPv4(quad)) return undefined;
    tail = v4(quad);
    tailBits = 32;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  if (tailBits) n = (n & ~0xffffffffn) | tail;
  return n;
}

export function parseIp(text: string): ParsedIp | undefined {
  const t = text.trim();
  if (isIPv4(t)) return { v: 4, n: v4(t) };
  const bare = t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1) : t;
  if (isIPv6(bare)) {
    const n = v6(bare);
    return n === undefined ? undefined : { v: 6, n };
  }
  return undefined;
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
