// Kafka on one connection: each request and response is a 4-byte length and
// that many bytes. Produce and Fetch requests are read for their topics (as
// far as the capture reaches), their responses for the partitions' error
// codes, paired by correlation id (a broker answers in order, so requests
// passed by are unanswered). A produce with acks=0 gets no response and makes
// no record; other APIs (Metadata, ApiVersions, offsets, groups) are passed
// over. Flexible versions (KIP-482: Produce 9+, Fetch 12+) are read too:
// compact strings, arrays and records (unsigned varint lengths, plus one),
// tagged fields passed over, the request header's and the response header's
// tags; from Produce 13 and Fetch 13 topics are named by id (a UUID), so
// those records have error codes but no topics.
import { DuplexParser, type PairOut } from './duplex.js';
import type { Feed, Segment } from './feed.js';
import type { ParserOptions } from './types.js';

const PRODUCE = 0;
const FETCH = 1;
/** The first versions with flexible (compact) encoding. */
const FLEXIBLE: Readonly<Record<number, number>> = { [PRODUCE]: 9, [FETCH]: 12 };
/** The first versions that name topics by id (a UUID) instead of by name. */
const TOPIC_IDS: Readonly<Record<number, number>> = { [PRODUCE]: 13, [FETCH]: 13 };
/** Bytes of a message read for its structure before the rest is passed over unread. */
const MAX_READ = 4096;
/** Topics a record keeps. */
const MAX_TOPICS = 16;

/** Names of the common error codes (Kafka's protocol guide); the rest are shown as numbers. */
const ERRORS: Readonly<Record<number, string>> = {
  [-1]: 'UNKNOWN_SERVER_ERROR', 1: 'OFFSET_OUT_OF_RANGE', 2: 'CORRUPT_MESSAGE', 3: 'UNKNOWN_TOPIC_OR_PARTITION',
  5: 'LEADER_NOT_AVAILABLE', 6: 'NOT_LEADER_OR_FOLLOWER', 7: 'REQUEST_TIMED_OUT', 10: 'MESSAGE_TOO_LARGE',
  19: 'NOT_ENOUGH_REPLICAS', 29: 'TOPIC_AUTHORIZATION_FAILED', 35: 'UNSUPPORTED_VERSION', 87: 'INVALID_RECORD',
};

/** An error code's name ("OK" for 0). Pure. */
export function kafkaError(code: number): string {
  return code === 0 ? 'OK' : ERRORS[code] ?? `ERROR_${code}`;
}

/** Reads big-endian fields from a message's captured bytes; past them, a RangeError ends the walk. */
class Reader {
  at = 0;
  constructor(private readonly b: Buffer) {}
  int8(): number { return this.b.readInt8(this.take(1)); }
  int16(): number { return this.b.readInt16BE(this.take(2)); }
  int32(): number { return this.b.readInt32BE(this.take(4)); }
  skip(n: number): void { this.take(n); }
  string(): string | undefined {
    const n = this.int16();
    if (n < 0) return undefined;
    const at = this.take(n);
    return this.b.toString('utf8', at, at + n);
  }
  /** An array's count (a null array: 0). */
  count(): number {
    const n = this.int32();
    if (n > 100000) throw new RangeError('kafka: array count');
    return Math.max(n, 0);
  }
  /** Bytes with an int32 length (records): passed over. */
  bytes(): void {
    const n = this.int32();
    if (n > 0) this.take(n);
  }
  /** An unsigned varint (at most 5 bytes: a 32-bit value). */
  uvarint(): number {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const c = this.b.readUInt8(this.take(1));
      v += (c & 0x7f) * 2 ** shift;
      if ((c & 0x80) === 0) return v;
    }
    throw new RangeError('kafka: varint too long');
  }
  /** A compact (nullable) string: its length plus one, 0 for null. */
  compactString(): string | undefined {
    const n = this.uvarint() - 1;
    if (n < 0) return undefined;
    const at = this.take(n);
    return this.b.toString('utf8', at, at + n);
  }
  /** A compact array's count (its count plus one; 0: null, no elements). */
  compactCount(): number {
    const n = this.uvarint() - 1;
    if (n > 100000) throw new RangeError('kafka: array count');
    return Math.max(n, 0);
  }
  /** Compact bytes (records): passed over. */
  compactBytes(): void {
    const n = this.uvarint() - 1;
    if (n > 0) this.take(n);
  }
  /** A tagged-field section: passed over. */
  tags(): void {
    for (let n = this.uvarint(); n > 0; n--) {
      this.uvarint();
      this.take(this.uvarint());
    }
  }
  private take(n: number): number {
    if (this.at + n > this.b.length) throw new RangeError('kafka: past the captured bytes');
    const at = this.at;
    this.at += n;
    return at;
  }
}

/** Runs a walk over captured bytes: what it read before they ended is kept. */
function walk(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
  }
}

export interface KafkaRequest {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId?: string;
  topics: string[];
  /** Produce with acks=0: no response comes. */
  noResponse: boolean;
}

/** A request's header and, for Produce and Fetch, its topics as far as `b` (its captured bytes, length first) reaches. Pure. */
export function parseKafkaRequest(b: Buffer): KafkaRequest | undefined {
  if (b.length < 12) return undefined;
  const r = new Reader(b);
  r.skip(4);
  const apiKey = r.int16();
  const apiVersion = r.int16();
  const correlationId = r.int32();
  const req: KafkaRequest = { apiKey, apiVersion, correlationId, topics: [], noResponse: false };
  walk(() => {
    // The header's client id stays an int16-length string in flexible versions; their header has tags after it.
    const clientId = r.string();
    if (clientId !== undefined) req.clientId = clientId;
    const topic = (name: string | undefined): void => {
      if (name !== undefined && req.topics.length < MAX_TOPICS) req.topics.push(name);
    };
    if (apiVersion >= (FLEXIBLE[apiKey] ?? Infinity)) {
      r.tags();
      const byId = apiVersion >= (TOPIC_IDS[apiKey] ?? Infinity);
      const topicName = (): void => (byId ? r.skip(16) : topic(r.compactString()));
      if (apiKey === PRODUCE) {
        r.compactString(); // transactional_id
        req.noResponse = r.int16() === 0; // acks
        r.int32(); // timeout
        for (let t = r.compactCount(); t > 0; t--) {
          topicName();
          for (let p = r.compactCount(); p > 0; p--) {
            r.int32();
            r.compactBytes();
            r.tags();
          }
          r.tags();
        }
      } else if (apiKey === FETCH) {
        // replica_id (before 15: a tagged field since), max_wait_ms, min_bytes, max_bytes, isolation_level, session id and epoch.
        r.skip((apiVersion < 15 ? 4 : 0) + 12 + 1 + 8);
        for (let t = r.compactCount(); t > 0; t--) {
          topicName();
          // partition, current leader epoch, fetch offset, last fetched epoch, log start offset, max bytes; tags.
          for (let p = r.compactCount(); p > 0; p--) {
            r.skip(32);
            r.tags();
          }
          r.tags();
        }
      }
      return;
    }
    if (apiKey === PRODUCE) {
      if (apiVersion >= 3) r.string(); // transactional_id
      req.noResponse = r.int16() === 0; // acks
      r.int32(); // timeout
      for (let t = r.count(); t > 0; t--) {
        topic(r.string());
        for (let p = r.count(); p > 0; p--) {
          r.int32();
          r.bytes();
        }
      }
    } else if (apiKey === FETCH) {
      r.skip(12); // replica_id, max_wait_ms, min_bytes
      if (apiVersion >= 3) r.int32(); // max_bytes
      if (apiVersion >= 4) r.int8(); // isolation_level
      if (apiVersion >= 7) r.skip(8); // session_id, session_epoch
      // A partition: id, [leader epoch], fetch offset, [log start offset], max bytes.
      const partition = 4 + (apiVersion >= 9 ? 4 : 0) + 8 + (apiVersion >= 5 ? 8 : 0) + 4;
      for (let t = r.count(); t > 0; t--) {
        topic(r.string());
        r.skip(r.count() * partition);
      }
    }
  });
  return req;
}

/** A response's correlation id and the first error code its partitions (or Fetch's top level) carry, as far as captured. Pure. */
export function parseKafkaResponse(b: Buffer, req: Pick<KafkaRequest, 'apiKey' | 'apiVersion'>): { correlationId: number; errorCode?: number } | undefined {
  if (b.length < 8) return undefined;
  const r = new Reader(b);
  r.skip(4);
  const correlationId = r.int32();
  const { apiKey, apiVersion: v } = req;
  let errorCode: number | undefined;
  const seen = (c: number): void => {
    if (errorCode === undefined || (errorCode === 0 && c !== 0)) errorCode = c;
  };
  if (v >= (FLEXIBLE[apiKey] ?? Infinity)) {
    walk(() => flexibleResponse(r, apiKey, v, seen));
    return { correlationId, ...(errorCode !== undefined ? { errorCode } : {}) };
  }
  /** Each topic's name, then each partition's index and error code, `fixed` bytes, and the rest by `after`. */
  const partitions = (fixed: number, after: () => void): void => {
    for (let t = r.count(); t > 0; t--) {
      r.string();
      for (let p = r.count(); p > 0; p--) {
        r.int32();
        seen(r.int16());
        r.skip(fixed);
        after();
      }
    }
  };
  walk(() => {
    if (apiKey === PRODUCE) {
      // base offset, log append time, log start offset; v8: record errors and the error message.
      partitions(8 + (v >= 2 ? 8 : 0) + (v >= 5 ? 8 : 0), () => {
        if (v < 8) return;
        for (let e = r.count(); e > 0; e--) {
          r.int32();
          r.string();
        }
        r.string();
      });
    } else if (apiKey === FETCH) {
      if (v >= 1) r.int32(); // throttle_time_ms
      if (v >= 7) {
        seen(r.int16());
        r.int32(); // session_id
      }
      // high watermark, last stable offset, log start offset; aborted transactions, preferred read replica, records.
      partitions(8 + (v >= 4 ? 8 : 0) + (v >= 5 ? 8 : 0), () => {
        if (v >= 4) r.skip(r.count() * 16);
        if (v >= 11) r.int32();
        r.bytes();
      });
    }
  });
  return { correlationId, ...(errorCode !== undefined ? { errorCode } : {}) };
}

/** A flexible version's response after its correlation id: the error codes, as far as captured. */
function flexibleResponse(r: Reader, apiKey: number, v: number, seen: (code: number) => void): void {
  r.tags(); // the response header's
  const topicName = (): void => (v >= (TOPIC_IDS[apiKey] ?? Infinity) ? r.skip(16) : void r.compactString());
  /** Each topic, then each partition's index and error code, `fixed` bytes, the rest by `after`, its tags. */
  const partitions = (fixed: number, after: () => void): void => {
    for (let t = r.compactCount(); t > 0; t--) {
      topicName();
      for (let p = r.compactCount(); p > 0; p--) {
        r.int32();
        seen(r.int16());
        r.skip(fixed);
        after();
        r.tags();
      }
      r.tags();
    }
  };
  if (apiKey === PRODUCE) {
    // base offset, log append time, log start offset; record errors and the error message.
    partitions(24, () => {
      for (let e = r.compactCount(); e > 0; e--) {
        r.int32();
        r.compactString();
        r.tags();
      }
      r.compactString();
    });
  } else if (apiKey === FETCH) {
    r.int32(); // throttle_time_ms
    seen(r.int16());
    r.int32(); // session_id
    // high watermark, last stable offset, log start offset; aborted transactions, preferred read replica, records.
    partitions(24, () => {
      for (let a = r.compactCount(); a > 0; a--) {
        r.skip(16);
        r.tags();
      }
      r.int32();
      r.compactBytes();
    });
  }
}

interface Pending extends KafkaRequest {
  startNs: bigint;
  bytes: number;
}

const API_NAMES: Readonly<Record<number, string>> = { [PRODUCE]: 'Produce', [FETCH]: 'Fetch' };

export class KafkaParser extends DuplexParser<Pending> {
  /** A response read whose last bytes are still to come. */
  private ending: { req: Pending; errorCode?: number; bytes: number } | undefined;

  constructor(_o: ParserOptions) {
    super();
  }

  /** The kernel recognised the connection by a request header: the first bytes are the client's. */
  protected orient(egress: boolean, _seg: Segment): boolean {
    return egress;
  }

  /** The next message (length first) as far as captured, consumed whole; undefined when more must come first. */
  private message(f: Feed): { head: Buffer; size: number; startNs: bigint } | 'wait' | 'lost' {
    if (f.length < 4) return f.stuck ? 'lost' : 'wait';
    const size = 4 + f.bytes.readUInt32BE(0);
    if (size > 4 + (1 << 30)) return 'lost';
    // Read once it is all known, or its known part ends in a gap, or enough is known.
    if (f.length < size && !f.stuck && f.length < MAX_READ) return 'wait';
    const startNs = f.headNs;
    const head = Buffer.from(f.bytes.subarray(0, Math.min(size, MAX_READ)));
    f.pass(size);
    return { head, size, startNs };
  }

  protected readClient(): boolean {
    const f = this.client;
    for (;;) {
      if (f.skip > 0) return true;
      const m = this.message(f);
      if (m === 'wait') return true;
      if (m === 'lost') return false;
      const req = parseKafkaRequest(m.head);
      if (!req) return false;
      if (API_NAMES[req.apiKey] !== undefined && !req.noResponse) this.queue({ ...req, startNs: m.startNs, bytes: m.size });
    }
  }

  protected readServer(out: PairOut): boolean {
    const f = this.server;
    for (;;) {
      if (f.skip > 0) return true;
      if (this.ending) {
        const e = this.ending;
        this.ending = undefined;
        this.done(e.req, e.errorCode, e.bytes, f.lastNs, out);
      }
      const m = this.message(f);
      if (m === 'wait') return true;
      if (m === 'lost') return false;
      if (m.head.length < 8) return false;
      const id = m.head.readInt32BE(4);
      const i = this.pending.findIndex((p) => p.correlationId === id);
      if (i < 0) continue; // an API not followed
      // Requests before it were not answered (a broker answers in order).
      const [req] = this.pending.splice(0, i + 1).slice(-1);
      this.dropped += i;
      const res = parseKafkaResponse(m.head, req!);
      this.ending = { req: req!, errorCode: res?.errorCode, bytes: m.size };
    }
  }

  private done(req: Pending, errorCode: number | undefined, bytes: number, endNs: bigint, out: PairOut): void {
    out({
      startBootNs: req.startNs, endBootNs: endNs, requestBytes: req.bytes, responseBytes: bytes,
      method: API_NAMES[req.apiKey]!, ...(req.topics.length > 0 ? { target: req.topics.join(',') } : {}),
      // A response whose error codes were not read (not captured) claims no outcome.
      status: errorCode === undefined ? 'UNREAD' : kafkaError(errorCode), error: errorCode !== undefined && errorCode !== 0,
      kafka: {
        apiVersion: req.apiVersion, correlationId: req.correlationId, ...(req.clientId !== undefined ? { clientId: req.clientId } : {}),
        topics: req.topics, ...(errorCode !== undefined ? { errorCode } : {}),
      },
    }, this.requestEgress!);
  }
}
