// DNS wire format (RFC 1035): a parser for the messages the flow sensor
// captures, and an encoder (tests, the test resolver).
//
// The parser takes untrusted bytes, possibly cut short (the kernel copies at
// most VIGIL_DNS_PAYLOAD_MAX bytes): every read is bounds-checked, a
// compression pointer must point before the name that uses it (so pointers
// cannot loop) and at most MAX_POINTERS are followed, names are limited to
// 255 bytes, label types 01/10 are refused. A message whose header or
// question cannot be read is a DnsParseError; a record section that runs out
// of bytes ends the parse with `complete: false` and what was read so far.
import { addressFromKernel, AF_INET, AF_INET6, parseIp } from '../kernel/addr.js';

export class DnsParseError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`DNS: ${message} at byte ${offset}`);
    this.name = 'DnsParseError';
  }
}

export const DNS_TYPES: Readonly<Record<number, string>> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 13: 'HINFO', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV',
  35: 'NAPTR', 39: 'DNAME', 41: 'OPT', 43: 'DS', 46: 'RRSIG', 47: 'NSEC', 48: 'DNSKEY', 64: 'SVCB', 65: 'HTTPS',
  99: 'SPF', 255: 'ANY', 257: 'CAA',
};
const TYPE_NUMBERS = new Map(Object.entries(DNS_TYPES).map(([n, name]) => [name, Number(n)]));

export const DNS_RCODES: Readonly<Record<number, string>> = {
  0: 'NoError', 1: 'FormErr', 2: 'ServFail', 3: 'NXDomain', 4: 'NotImp', 5: 'Refused', 6: 'YXDomain',
  7: 'YXRRSet', 8: 'NXRRSet', 9: 'NotAuth', 10: 'NotZone',
};

/** "A", "AAAA", ... or "TYPE<n>" (RFC 3597) for types without a mnemonic here. */
export function dnsTypeName(type: number): string {
  return DNS_TYPES[type] ?? `TYPE${type}`;
}

export function dnsTypeNumber(name: string): number | undefined {
  const up = name.toUpperCase();
  const m = /^TYPE(\d{1,5})$/.exec(up);
  if (m) return Number(m[1]) <= 0xffff ? Number(m[1]) : undefined;
  return TYPE_NUMBERS.get(up);
}

export function dnsRcodeName(rcode: number): string {
  return DNS_RCODES[rcode] ?? `RCODE${rcode}`;
}

export interface DnsQuestion {
  /** Lower-cased, with the trailing dot ("example.com."; the root is "."). */
  name: string;
  type: number;
  class: number;
}

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** A/AAAA: the address; CNAME/NS/PTR/DNAME: the target name; otherwise undefined (rdata not decoded). */
  data: string | undefined;
}

export interface DnsMessage {
  id: number;
  /** true for a response. */
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  /** Counts as the header declares them. */
  counts: { qd: number; an: number; ns: number; ar: number };
  /** false when the answers could not all be read (message cut short, or a malformed record). */
  complete: boolean;
}

const MAX_POINTERS = 64;
const MAX_NAME = 255;
/** More questions than this is not a message worth parsing (real ones have 1). */
const MAX_QUESTIONS = 16;

class Reader {
  constructor(readonly b: Uint8Array) {}

  u8(o: number): number {
    if (o + 1 > this.b.length) throw new DnsParseError('message ends inside a field', o);
    return this.b[o] as number;
  }

  u16(o: number): number {
    if (o + 2 > this.b.length) throw new DnsParseError('message ends inside a field', o);
    return ((this.b[o] as number) << 8) | (this.b[o + 1] as number);
  }

  u32(o: number): number {
    return this.u16(o) * 65536 + this.u16(o + 2);
  }

  /** A (possibly compressed) name at o: the name and the offset after it (where the name began, not where pointers led). */
  name(start: number): { name: string; end: number } {
    const labels: string[] = [];
    let o = start;
    let end = -1;
    let length = 1;
    let pointers = 0;
    // A pointer must go strictly before the name it appears in: that bound shrinks at each jump.
    let limit = start;
    for (;;) {
      const len = this.u8(o);
      const kind = len & 0xc0;
      if (kind === 0xc0) {
        const target = ((len & 0x3f) << 8) | this.u8(o + 1);
        if (end < 0) end = o + 2;
        if (++pointers > MAX_POINTERS) throw new DnsParseError('too many compression pointers', o);
        if (target >= limit) throw new DnsParseError(`compression pointer to ${target} does not point backwards`, o);
        limit = target;
        o = target;
        continue;
      }
      if (kind !== 0) throw new DnsParseError(`reserved label type 0x${kind.toString(16)}`, o);
      if (len === 0) {
        if (end < 0) end = o + 1;
        break;
      }
      if (o + 1 + len > this.b.length) throw new DnsParseError('message ends inside a label', o);
      length += len + 1;
      if (length > MAX_NAME) throw new DnsParseError('name longer than 255 bytes', start);
      let label = '';
      for (let i = 0; i < len; i++) {
        const c = this.b[o + 1 + i] as number;
        // Printable ASCII as is (lower-cased); dots and anything else escaped as in zone files.
        if (c === 0x2e || c === 0x5c) label += `\\${String.fromCharCode(c)}`;
        else if (c > 0x20 && c < 0x7f) label += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 32 : c);
        else label += `\\${c.toString().padStart(3, '0')}`;
      }
      labels.push(label);
      o += 1 + len;
    }
    return { name: labels.length ? `${labels.join('.')}.` : '.', end };
  }
}

/** Parses a DNS message (a UDP payload). Throws DnsParseError when the header or a question is unreadable. */
export function parseDnsMessage(bytes: Uint8Array): DnsMessage {
  const r = new Reader(bytes);
  if (bytes.length < 12) throw new DnsParseError(`${bytes.length} bytes: shorter than a header`, 0);
  const flags = r.u16(2);
  const counts = { qd: r.u16(4), an: r.u16(6), ns: r.u16(8), ar: r.u16(10) };
  if (counts.qd > MAX_QUESTIONS) throw new DnsParseError(`${counts.qd} questions`, 4);
  const m: DnsMessage = {
    id: r.u16(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    questions: [],
    answers: [],
    counts,
    complete: true,
  };
  let o = 12;
  for (let i = 0; i < counts.qd; i++) {
    const n = r.name(o);
    m.questions.push({ name: n.name, type: r.u16(n.end), class: r.u16(n.end + 2) });
    o = n.end + 4;
  }
  try {
    for (let i = 0; i < counts.an; i++) {
      const n = r.name(o);
      const type = r.u16(n.end);
      const klass = r.u16(n.end + 2);
      const ttl = r.u32(n.end + 4);
      const rdlen = r.u16(n.end + 8);
      const rd = n.end + 10;
      if (rd + rdlen > bytes.length) throw new DnsParseError('record data runs past the message', rd);
      let data: string | undefined;
      if (type === 1 && rdlen === 4) {
        data = addressFromKernel(AF_INET, bytes, rd).text;
      } else if (type === 28 && rdlen === 16) {
        // Written as IPv6 even when v4-mapped: it is what the record says.
        data = addressFromKernel(AF_INET6, bytes, rd).text;
        if (/^\d+\.\d+\.\d+\.\d+$/.test(data)) data = `::ffff:${data}`;
      } else if (type === 5 || type === 2 || type === 12 || type === 39) {
        const t = r.name(rd);
        if (t.end > rd + rdlen) throw new DnsParseError('name runs past its record', rd);
        data = t.name;
      }
      m.answers.push({ name: n.name, type, class: klass, ttl, data });
      o = rd + rdlen;
    }
  } catch (e) {
    if (!(e instanceof DnsParseError)) throw e;
    m.complete = false;
  }
  return m;
}

/** For the encoder: a record to write. A/AAAA take an address, CNAME/NS/PTR a name, others raw rdata. */
export interface DnsRecordInput {
  name: string;
  type: number | string;
  class?: number;
  ttl?: number;
  data: string | Uint8Array;
}

export interface DnsMessageInput {
  id: number;
  qr?: boolean;
  opcode?: number;
  aa?: boolean;
  tc?: boolean;
  rd?: boolean;
  ra?: boolean;
  rcode?: number;
  questions?: { name: string; type: number | string; class?: number }[];
  answers?: DnsRecordInput[];
  /** Use compression pointers for repeated name suffixes. Default true. */
  compress?: boolean;
}

function typeOf(t: number | string): number {
  if (typeof t === 'number') return t;
  const n = dnsTypeNumber(t);
  if (n === undefined) throw new RangeError(`unknown DNS type "${t}"`);
  return n;
}

/** Encodes a message (names in presentation form, dots separating labels; no escapes). */
export function encodeDnsMessage(msg: DnsMessageInput): Uint8Array {
  const out: number[] = [];
  const compress = msg.compress ?? true;
  const suffixes = new Map<string, number>();
  const u16 = (v: number) => out.push((v >> 8) & 0xff, v & 0xff);
  const u32 = (v: number) => {
    u16(Math.floor(v / 65536) & 0xffff);
    u16(v & 0xffff);
  };
  const name = (n: string) => {
    const labels = n.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.').toLowerCase();
      const at = suffixes.get(suffix);
      if (compress && at !== undefined) {
        u16(0xc000 | at);
        return;
      }
      if (out.length < 0x4000) suffixes.set(suffix, out.length);
      const bytes = new TextEncoder().encode(labels[i]);
      if (bytes.length > 63) throw new RangeError(`label longer than 63 bytes in "${n}"`);
      out.push(bytes.length, ...bytes);
    }
    out.push(0);
  };
  u16(msg.id);
  u16((msg.qr ? 0x8000 : 0) | ((msg.opcode ?? 0) << 11) | (msg.aa ? 0x400 : 0) | (msg.tc ? 0x200 : 0) |
    (msg.rd ?? true ? 0x100 : 0) | (msg.ra ? 0x80 : 0) | ((msg.rcode ?? 0) & 0xf));
  u16(msg.questions?.length ?? 0);
  u16(msg.answers?.length ?? 0);
  u16(0);
  u16(0);
  for (const q of msg.questions ?? []) {
    name(q.name);
    u16(typeOf(q.type));
    u16(q.class ?? 1);
  }
  for (const a of msg.answers ?? []) {
    const type = typeOf(a.type);
    name(a.name);
    u16(type);
    u16(a.class ?? 1);
    u32(a.ttl ?? 60);
    const lenAt = out.length;
    u16(0);
    const start = out.length;
    if (a.data instanceof Uint8Array) {
      out.push(...a.data);
    } else if (type === 1 || type === 28) {
      const ip = parseIp(a.data);
      if (!ip) throw new RangeError(`not an address: "${a.data}"`);
      out.push(...(type === 1 ? ip.bytes.subarray(12) : ip.bytes));
    } else {
      name(a.data);
    }
    const len = out.length - start;
    out[lenAt] = len >> 8;
    out[lenAt + 1] = len & 0xff;
  }
  return Uint8Array.from(out);
}
