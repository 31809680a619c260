// MySQL and MariaDB (the client/server protocol) on one connection. Packets
// are a 3-byte length, a sequence number and a payload. The server speaks
// first (its greeting, protocol 10); the client's handshake response and the
// server's OK or ERR are the CONNECT request (auth switches in between are
// part of it). Then each client packet with sequence 0 is a command:
// COM_QUERY (the statement), COM_STMT_PREPARE (the statement, remembered by
// the id the server gives it), COM_STMT_EXECUTE (the prepared statement),
// others by name; COM_QUIT, COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA get no
// response. A response is an OK, an ERR, or a result set (column count,
// column definitions, rows, and an EOF or OK terminator, with or without the
// EOF after the columns: CLIENT_DEPRECATE_EOF); more result sets follow while
// the terminator says SERVER_MORE_RESULTS_EXIST. A TLS connection (the
// client's SSLRequest) is left alone.
import { DuplexParser, type PairOut } from './duplex.js';
import type { Feed, Segment } from './feed.js';
import { redactSql } from './redact.js';
import type { ParserOptions } from './types.js';

/** Longest payload read for its text (a statement, an error). */
const MAX_TEXT = 8192;
const CLIENT_SSL = 0x800;
const CLIENT_DEPRECATE_EOF = 1 << 24;
const SERVER_MORE_RESULTS_EXIST = 0x0008;
/** Prepared statements remembered per connection (their text, for EXECUTE). */
const MAX_STATEMENTS = 256;

const COMMANDS: Readonly<Record<number, string>> = {
  0x01: 'QUIT', 0x02: 'INIT_DB', 0x03: 'QUERY', 0x04: 'FIELD_LIST', 0x09: 'STATISTICS', 0x0e: 'PING', 0x11: 'CHANGE_USER',
  0x16: 'PREPARE', 0x17: 'EXECUTE', 0x18: 'SEND_LONG_DATA', 0x19: 'CLOSE_STMT', 0x1a: 'RESET_STMT', 0x1f: 'RESET_CONNECTION',
};
/** Commands the server does not answer. */
const UNANSWERED = new Set([0x01, 0x18, 0x19]);

interface Request {
  op: string;
  cmd: number;
  statement?: string;
  startNs: bigint;
  bytes: number;
}

/** Where the head request's response is. */
type Phase =
  | { at: 'first' }
  | { at: 'columns'; left: number; then: 'rows' | 'prepare'; params?: number; columns?: number }
  | { at: 'eof'; then: 'rows' | 'prepare'; columns?: number }
  | { at: 'rows' };

interface Packet {
  seq: number;
  len: number;
  /** The payload's known head (all of it when `whole`). */
  head: Buffer;
  whole: boolean;
  startNs: bigint;
}

/** A length-encoded integer at `at`: [value, bytes]. */
function lenenc(b: Buffer, at: number): [number, number] {
  const c = b[at] ?? 0;
  if (c < 0xfb) return [c, 1];
  if (c === 0xfc) return [b.length >= at + 3 ? b.readUInt16LE(at + 1) : 0, 3];
  if (c === 0xfd) return [b.length >= at + 4 ? b.readUIntLE(at + 1, 3) : 0, 4];
  if (c === 0xfe) return [b.length >= at + 9 ? Number(b.readBigUInt64LE(at + 1)) : 0, 9];
  return [0, 1];
}

/** The status flags of an OK packet (header 0x00 or 0xfe) or an EOF packet (0xfe, under 9 bytes). */
function statusOf(p: Packet): number {
  const b = p.head;
  if (b[0] === 0xfe && p.len < 9) return b.length >= 5 ? b.readUInt16LE(3) : 0;
  const [, n1] = lenenc(b, 1);
  const [, n2] = lenenc(b, 1 + n1);
  const at = 1 + n1 + n2;
  return b.length >= at + 2 ? b.readUInt16LE(at) : 0;
}

export class MysqlParser extends DuplexParser<Request> {
  /** Between the greeting and the server's answer to the handshake response. */
  private connecting = false;
  private deprecateEof = false;
  private phase: Phase = { at: 'first' };
  private rows = 0;
  private replyBytes = 0;
  /** A statement being prepared: its text, until the server names its id. */
  private readonly statements = new Map<number, string | undefined>();

  constructor(private readonly o: ParserOptions) {
    super();
  }

  /** The kernel recognised the connection by the server's greeting (protocol 10), or by a command. */
  protected orient(egress: boolean, seg: Segment): boolean {
    const d = seg.data;
    const greeting = d.length >= 5 && d[3] === 0 && d[4] === 0x0a;
    return greeting ? !egress : egress;
  }

  protected override resynced(fromClient: boolean): void {
    if (!fromClient) this.phase = { at: 'first' };
  }

  /** The next packet, consumed; undefined to wait for more bytes; 'lost' when its start fell in a gap. */
  private packet(f: Feed): Packet | undefined | 'lost' {
    if (f.skip > 0) return undefined;
    if (f.length < 4) return f.stuck ? 'lost' : undefined;
    const b = f.bytes;
    const len = b[0]! | (b[1]! << 8) | (b[2]! << 16);
    const seq = b[3]!;
    const want = Math.min(len, MAX_TEXT);
    if (f.length < 4 + want && !f.stuck) return undefined;
    if (len > 0 && f.length < 5) return 'lost';
    const startNs = f.headNs;
    f.pass(4);
    const head = Buffer.from(f.bytes.subarray(0, Math.min(len, MAX_TEXT)));
    f.pass(len);
    return { seq, len, head, whole: head.length === len, startNs };
  }

  private statement(sql: string): string {
    const s = sql.trim();
    return this.o.redact ? redactSql(s) : s;
  }

  protected readClient(): boolean {
    for (;;) {
      const p = this.packet(this.client);
      if (p === 'lost') return false;
      if (!p) return true;
      const size = p.len + 4;
      if (this.connecting) {
        if (p.seq === 1 && p.head.length >= 4) {
          const caps = p.head.readUInt32LE(0);
          // An SSLRequest (32 bytes, CLIENT_SSL): TLS follows.
          if (caps & CLIENT_SSL && p.len === 32) {
            this.dead = true;
            return true;
          }
          this.deprecateEof = (caps & CLIENT_DEPRECATE_EOF) !== 0;
          this.queue({ op: 'CONNECT', cmd: -1, startNs: p.startNs, bytes: size });
        } else if (this.pending.at(-1)?.op === 'CONNECT') {
          this.pending.at(-1)!.bytes += size; // auth switch response, more auth data
        }
        continue;
      }
      if (p.seq !== 0 || p.head.length === 0) continue; // the rest of a long data or a large packet
      const cmd = p.head[0]!;
      const op = COMMANDS[cmd] ?? `COM_0x${cmd.toString(16).padStart(2, '0')}`;
      if (UNANSWERED.has(cmd)) {
        if (cmd === 0x19 && p.head.length >= 5) this.statements.delete(p.head.readUInt32LE(1));
        continue;
      }
      const req: Request = { op, cmd, startNs: p.startNs, bytes: size };
      if ((cmd === 0x03 || cmd === 0x16) && p.whole) req.statement = this.statement(p.head.subarray(1).toString('utf8'));
      if (cmd === 0x17 && p.head.length >= 5) {
        const s = this.statements.get(p.head.readUInt32LE(1));
        if (s !== undefined) req.statement = s;
      }
      this.queue(req);
    }
  }

  protected readServer(out: PairOut): boolean {
    for (;;) {
      const p = this.packet(this.server);
      if (p === 'lost') return false;
      if (!p) return true;
      const first = p.head[0];
      // The greeting: a new connection's handshake begins.
      if (p.seq === 0 && first === 0x0a && this.pending.length === 0 && this.phase.at === 'first') {
        this.connecting = true;
        continue;
      }
      const req = this.pending[0];
      if (!req) continue;
      this.replyBytes += p.len + 4;
      const done = (status: string, error: boolean, code?: number, message?: string): void => {
        this.pending.shift();
        this.phase = { at: 'first' };
        const rows = this.rows;
        const bytes = this.replyBytes;
        this.rows = 0;
        this.replyBytes = 0;
        out({
          startBootNs: req.startNs, endBootNs: this.server.lastNs, requestBytes: req.bytes, responseBytes: bytes,
          method: req.op, ...(req.statement !== undefined ? { target: req.statement } : {}), status, error,
          mysql: { rows, ...(code !== undefined ? { code } : {}), ...(message !== undefined && !this.o.redact ? { message } : {}) },
        }, this.requestEgress!);
      };
      const err = (): void => {
        const code = p.head.length >= 3 ? p.head.readUInt16LE(1) : 0;
        const state = p.head[3] === 0x23 && p.head.length >= 9 ? p.head.subarray(4, 9).toString('latin1') : undefined;
        done(state ?? String(code), true, code, p.head.subarray(state ? 9 : 3).toString('utf8'));
      };
      const ph = this.phase;
      if (ph.at === 'first') {
        if (first === 0xff) {
          if (req.op === 'CONNECT') this.connecting = false;
          err();
        } else if (req.op === 'CONNECT') {
          // OK ends the handshake; an auth switch (0xfe) or more auth data (0x01) goes on.
          if (first === 0x00) {
            this.connecting = false;
            done('OK', false);
          }
        } else if (first === 0x00 && req.cmd === 0x16 && p.head.length >= 9) {
          const id = p.head.readUInt32LE(1);
          const columns = p.head.readUInt16LE(5);
          const params = p.head.readUInt16LE(7);
          if (this.statements.size >= MAX_STATEMENTS) this.statements.delete(this.statements.keys().next().value!);
          this.statements.set(id, req.statement);
          if (params + columns === 0) done('OK', false);
          else this.phase = params > 0 ? { at: 'columns', left: params, then: 'prepare', columns } : { at: 'columns', left: columns, then: 'prepare' };
        } else if (first === 0x00 || (first === 0xfe && p.len < 9)) {
          if (statusOf(p) & SERVER_MORE_RESULTS_EXIST) continue;
          done('OK', false);
        } else if (first === 0xfb) {
          done('OK', false); // LOCAL INFILE: the file's contents are not followed
        } else {
          this.phase = { at: 'columns', left: lenenc(p.head, 0)[0], then: 'rows' };
        }
      } else if (ph.at === 'columns') {
        if (--ph.left > 0) continue;
        const next: Phase = ph.then === 'prepare' && ph.columns ? { at: 'columns', left: ph.columns, then: 'prepare' }
          : ph.then === 'prepare' ? { at: 'first' } : { at: 'rows' };
        if (!this.deprecateEof) this.phase = { at: 'eof', then: ph.then, columns: ph.columns };
        else if (ph.then === 'prepare' && !ph.columns) done('OK', false);
        else this.phase = next;
      } else if (ph.at === 'eof') {
        if (ph.then === 'prepare') {
          if (ph.columns) this.phase = { at: 'columns', left: ph.columns, then: 'prepare' };
          else done('OK', false);
        } else {
          this.phase = { at: 'rows' };
        }
      } else if (first === 0xff) {
        err();
      } else if (first === 0xfe && p.len < 0xffffff && (p.len < 9 || this.deprecateEof)) {
        if (statusOf(p) & SERVER_MORE_RESULTS_EXIST) this.phase = { at: 'first' };
        else done('OK', false);
      } else {
        this.rows++;
      }
    }
  }
}
