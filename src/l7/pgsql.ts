// PostgreSQL (protocol 3.0) on one connection. The client's messages are
// grouped into requests: a simple query ('Q') is one; an extended query is
// the run of Parse/Bind/Describe/Execute up to its Sync ('S'); the startup
// message is one too. The server's messages up to ReadyForQuery ('Z') are
// the response: its CommandComplete tag, rows, and ErrorResponse's SQLSTATE.
// Responses come in the order of the requests. An SSL or GSS encryption
// request gets a one-byte answer: 'N' goes on in the clear; otherwise the
// connection is encrypted and left alone.
import { DuplexParser, type PairOut } from './duplex.js';
import type { Feed, Segment } from './feed.js';
import { redactSql } from './redact.js';
import type { ParserOptions } from './types.js';

/** Longest message body read for its text (a query, a tag, an error). */
const MAX_TEXT = 8192;
const STARTUP = 196608;
const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;

interface Request {
  op: string;
  statement?: string;
  startNs: bigint;
  bytes: number;
}

interface Reply {
  tag?: string;
  rows: number;
  code?: string;
  message?: string;
  bytes: number;
}

function cstring(b: Buffer, at = 0): string {
  const e = b.indexOf(0, at);
  return b.subarray(at, e < 0 ? b.length : e).toString('utf8');
}

export class PgsqlParser extends DuplexParser<Request> {
  /** The client's next message has no type byte (startup, SSL/GSS request). */
  private untyped = true;
  /** The server owes a one-byte answer to an encryption request. */
  private encryptionAnswer = false;
  private group: Request | undefined;
  private reply: Reply = { rows: 0, bytes: 0 };
  constructor(private readonly o: ParserOptions) {
    super();
  }

  /**
   * The kernel recognised the connection by a client message: a startup (or encryption request),
   * or a query when the connection was older.
   */
  protected orient(egress: boolean, seg: Segment): boolean {
    const d = Buffer.from(seg.data);
    this.untyped = d.length >= 8 && [STARTUP, SSL_REQUEST, GSS_REQUEST].includes(d.readUInt32BE(4));
    return egress;
  }

  protected override resynced(fromClient: boolean): void {
    if (fromClient) this.group = undefined;
  }

  override close(out: PairOut): void {
    this.dropped += this.group ? 1 : 0;
    this.group = undefined;
    super.close(out);
  }

  /** A message's body (whole when captured and small), or undefined when it was passed over. */
  private body(f: Feed, n: number): Buffer | undefined {
    if (n <= MAX_TEXT && f.length >= n) return f.pass(n);
    f.pass(n);
    return undefined;
  }

  protected readClient(): boolean {
    const f = this.client;
    for (;;) {
      if (f.skip > 0) return true;
      if (this.untyped) {
        if (f.length < 8) return !f.stuck;
        const len = f.bytes.readUInt32BE(0);
        const code = f.bytes.readUInt32BE(4);
        if (len < 8) return false;
        const startNs = f.headNs;
        f.pass(len);
        if (code === SSL_REQUEST || code === GSS_REQUEST) {
          this.encryptionAnswer = true;
          continue;
        }
        this.untyped = false;
        if (code === STARTUP) this.queue({ op: 'STARTUP', startNs, bytes: len });
        continue;
      }
      if (f.length < 5) return !f.stuck;
      const type = String.fromCharCode(f.bytes[0]!);
      const len = f.bytes.readUInt32BE(1);
      if (len < 4) return false;
      const startNs = f.headNs;
      f.pass(5);
      const body = this.body(f, len - 4);
      const size = len + 1;
      switch (type) {
        case 'Q': {
          const sql = body ? cstring(body) : undefined;
          this.queue({ op: 'QUERY', ...this.statement(sql), startNs: this.group?.startNs ?? startNs,
            bytes: (this.group?.bytes ?? 0) + size });
          this.group = undefined;
          break;
        }
        case 'P': case 'B': case 'D': case 'E': case 'C': case 'H': case 'F': {
          this.group ??= { op: 'EXECUTE', startNs, bytes: 0 };
          this.group.bytes += size;
          if (type === 'P' && body && this.group.statement === undefined) {
            Object.assign(this.group, this.statement(cstring(body, body.indexOf(0) + 1)));
          }
          break;
        }
        case 'S':
          this.queue({ ...(this.group ?? { op: 'SYNC', startNs }), bytes: (this.group?.bytes ?? 0) + size });
          this.group = undefined;
          break;
        default:
          // Password, COPY data, Terminate: part of no request here.
          break;
      }
    }
  }

  private statement(sql: string | undefined): { statement?: string } {
    if (sql === undefined) return {};
    const s = sql.trim();
    return { statement: this.o.redact ? redactSql(s) : s };
  }

  protected readServer(out: PairOut): boolean {
    const f = this.server;
    for (;;) {
      if (f.skip > 0) return true;
      if (this.encryptionAnswer) {
        if (f.length < 1) return !f.stuck;
        const a = f.pass(1)[0];
        this.encryptionAnswer = false;
        if (a !== 'N'.charCodeAt(0)) {
          this.dead = true;
          return true;
        }
        this.untyped = true;
        continue;
      }
      if (f.length < 5) return !f.stuck;
      const type = String.fromCharCode(f.bytes[0]!);
      const len = f.bytes.readUInt32BE(1);
      if (len < 4) return false;
      f.pass(5);
      const needed = type === 'C' || type === 'E';
      const body = needed ? this.body(f, len - 4) : (f.pass(len - 4), undefined);
      this.reply.bytes += len + 1;
      switch (type) {
        case 'C':
          if (body) this.reply.tag = cstring(body);
          break;
        case 'D':
          this.reply.rows++;
          break;
        case 'E':
          if (body) {
            for (let i = 0; i < body.length && body[i] !== 0;) {
              const field = String.fromCharCode(body[i]!);
              const value = cstring(body, i + 1);
              if (field === 'C') this.reply.code = value;
              if (field === 'M') this.reply.message = value;
              i += 1 + Buffer.byteLength(value) + 1;
            }
          } else {
            this.reply.code = 'XX000';
          }
          break;
        case 'Z': {
          if (f.skip > 0) return true; // ReadyForQuery is 6 bytes: never cut in practice
          const req = this.pending.shift();
          const r = this.reply;
          this.reply = { rows: 0, bytes: 0 };
          if (!req) break;
          out({
            startBootNs: req.startNs, endBootNs: f.lastNs, requestBytes: req.bytes, responseBytes: r.bytes,
            method: req.op, ...(req.statement !== undefined ? { target: req.statement } : {}),
            status: r.code ?? 'OK', error: r.code !== undefined,
            pgsql: { ...(r.tag !== undefined ? { tag: r.tag } : {}), rows: r.rows,
              ...(r.message !== undefined && !this.o.redact ? { message: r.message } : {}) },
          }, this.requestEgress!);
          break;
        }
        default:
          break;
      }
    }
  }
}
