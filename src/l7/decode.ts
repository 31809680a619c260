// The kernel's L7 records (struct vigil_l7_event, then the captured bytes)
// as the tracker takes them. Pure: no kernel needed, so the record path's
// cost can be measured and tested on its own.
//
// A connection's ends and its process's name are the same on every call it
// makes: their text is made once per connection and kept while the raw
// bytes match (a socket address reused by a new connection, or another
// thread with another name, makes them again).
import { addressFromKernel } from '../kernel/addr.js';
import { readCString } from '../bpf/codec.js';
import { checkHeader } from '../sensors/record-text.js';
import {
  vigilL7Event, VIGIL_L7_CLOSE, VIGIL_L7_DATA, VIGIL_L7_EGRESS, VIGIL_L7_PROTO_HTTP, VIGIL_L7_PROTO_PGSQL, VIGIL_L7_PROTO_MYSQL,
  VIGIL_L7_PROTO_REDIS, VIGIL_L7_PROTO_HTTP2, VIGIL_L7_PROTO_KAFKA, VIGIL_L7_TLS_GNUTLS, VIGIL_L7_TLS_GO, VIGIL_L7_TLS_OPENSSL,
} from '../generated/l7.js';
import type { L7Data } from './tracker.js';
import type { L7Endpoint, L7Wire, TlsLibrary } from './types.js';

export const PROTO_IDS: Record<L7Wire, number> = {
  http: VIGIL_L7_PROTO_HTTP, http2: VIGIL_L7_PROTO_HTTP2, redis: VIGIL_L7_PROTO_REDIS, pgsql: VIGIL_L7_PROTO_PGSQL,
  mysql: VIGIL_L7_PROTO_MYSQL, kafka: VIGIL_L7_PROTO_KAFKA,
};
const PROTO_NAMES = new Map<number, L7Wire>(Object.entries(PROTO_IDS).map(([k, v]) => [v, k as L7Wire]));
const TLS_NAMES = new Map<number, TlsLibrary>([[VIGIL_L7_TLS_OPENSSL, 'openssl'], [VIGIL_L7_TLS_GNUTLS, 'gnutls'], [VIGIL_L7_TLS_GO, 'go']]);

const O = vigilL7Event.offsets;
/** The raw words compared for a cached connection: family, ports, laddr, raddr, comm (56 bytes from `family`). */
const RAW_FROM = O.family;
const RAW_WORDS = (O.comm + 16 - O.family) / 4;
/** Most connections whose texts are kept (beyond it the cache starts over). */
const MAX_CACHED = 65_536;

_assert(O.laddr === O.family + 8 && O.raddr === O.laddr + 16 && O.comm === O.raddr + 16,
  'struct vigil_l7_event: family, ports, addresses and comm are expected contiguous');

function _assert(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

interface Ends {
  raw: Uint32Array;
  local: L7Endpoint;
  remote: L7Endpoint;
  comm: string;
}

/** A kernel record: a call's bytes, or a connection's close. */
export type L7Kernel = { close: false; data: L7Data } | { close: true; conn: bigint };

/**
 * Bytes copied out of the ring into Node's buffer pool (Buffer.allocUnsafe: an 8 KiB slab shared by
 * small buffers) rather than an ArrayBuffer each: a buffer of its own per call was much of the
 * garbage collector's work at tens of thousands of calls a second.
 */
function copyOut(view: DataView, at: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  b.set(new Uint8Array(view.buffer, at, n));
  return b;
}

export class L7Decoder {
  private readonly ends = new Map<bigint, Ends>();

  /** One ring record. The captured bytes are copied (the ring's memory is reused once the batch is read). */
  decode(view: DataView, off: number, size: number): L7Kernel {
    const close = size >= 4 && view.getUint32(off, true) === VIGIL_L7_CLOSE;
    checkHeader(view, off, size, vigilL7Event, close ? VIGIL_L7_CLOSE : VIGIL_L7_DATA, 'l7 record');
    const conn = view.getBigUint64(off + O.conn, true);
    if (close) {
      this.ends.delete(conn);
      return { close: true, conn };
    }
    const dataLen = view.getUint32(off + O.data_len, true);
    const callSize = view.getUint32(off + O.size, true);
    if (vigilL7Event.size + dataLen > size || dataLen > callSize) throw new RangeError('l7 record: data past its end');
    const proto = view.getUint8(off + O.proto);
    const protocol = PROTO_NAMES.get(proto);
    if (!protocol) throw new RangeError(`l7 record: protocol ${proto}`);
    const egress = view.getUint8(off + O.dir) === VIGIL_L7_EGRESS;
    const enterNs = view.getBigUint64(off + O.enter_ns, true);
    const exitNs = view.getBigUint64(off + O.exit_ns, true);
    const e = this.endsOf(view, off, conn);
    const at = view.byteOffset + off + vigilL7Event.size;
    return {
      close: false,
      data: {
        conn, protocol, egress, tls: TLS_NAMES.get(view.getUint8(off + O.tls)),
        segment: {
          data: copyOut(view, at, dataLen),
          size: callSize, firstNs: egress ? enterNs : exitNs, lastNs: exitNs,
        },
        pid: view.getUint32(off + O.pid, true), tid: view.getUint32(off + O.tid, true), comm: e.comm,
        cgroupId: view.getBigUint64(off + O.cgroup_id, true), local: e.local, remote: e.remote,
      },
    };
  }

  /** Connections whose texts are kept. */
  get cached(): number {
    return this.ends.size;
  }

  private endsOf(view: DataView, off: number, conn: bigint): Ends {
    const from = off + RAW_FROM;
    const e = this.ends.get(conn);
    if (e) {
      let same = true;
      for (let i = 0; i < RAW_WORDS; i++) {
        if (view.getUint32(from + 4 * i, true) !== e.raw[i]) {
          same = false;
          break;
        }
      }
      if (same) return e;
    }
    const raw = new Uint32Array(RAW_WORDS);
    for (let i = 0; i < RAW_WORDS; i++) raw[i] = view.getUint32(from + 4 * i, true);
    const family = view.getUint16(off + O.family, true);
    const bytes = new Uint8Array(view.buffer, view.byteOffset + off + O.laddr, 32);
    const fresh: Ends = {
      raw,
      // Family 0: a TLS session whose socket was not found (its ends unknown).
      local: { ip: family ? addressFromKernel(family, bytes, 0).text : '', port: view.getUint16(off + O.lport, true) },
      remote: { ip: family ? addressFromKernel(family, bytes, 16).text : '', port: view.getUint16(off + O.rport, true) },
      comm: readCString(view, off + O.comm, 16),
    };
    if (!e && this.ends.size >= MAX_CACHED) this.ends.clear();
    this.ends.set(conn, fresh);
    return fresh;
  }
}
