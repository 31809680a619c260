// Redis (RESP2 and RESP3) on one connection: each request is one value (an
// array of bulk strings, or an inline command line), each reply one value;
// replies come in the order of the requests (pipelining). RESP3 pushes ('>')
// answer no request and are passed over. Bulk strings are passed over by
// length, so a large value cut by the capture does not lose the thread.
import { Feed, type Segment } from './feed.js';
import { MAX_PENDING, type ConnParser, type L7Pair, type ParserOptions } from './types.js';

/** Bytes of a bulk string read for a command name or argument. */
const MAX_ARG = 256;
/** Arguments a record keeps with full capture. */
const MAX_ARGV = 16;

interface Frame {
  left: number;
  /** An attribute ('|') does not count as its parent's element. */
  attr: boolean;
}

/** Reads one direction's values, element by element. */
class Walker {
  readonly feed = new Feed();
  private stack: Frame[] = [];
  private startNs = 0n;
  private bytes = 0;
  private top: string | undefined;
  /** Bulk strings of the top-level array (command and arguments), as far as captured. */
  strings: string[] = [];
  elements = 0;
  /** The first line of a simple or error value at the top level. */
  line: string | undefined;
  private bulkLeft = -1;

  constructor(private readonly keepStrings: number) {}

  /** Completed values go to onValue(type, startNs, endNs, bytes). */
  run(onValue: (type: string, startNs: bigint, endNs: bigint, bytes: number) => void): 'ok' | 'stuck' {
    const f = this.feed;
    for (;;) {
      if (this.bulkLeft >= 0) {
        if (f.skip > 0) return 'ok';
        this.bulkLeft = -1;
        this.element(onValue);
        continue;
      }
      if (f.length === 0) return f.stuck ? 'stuck' : 'ok';
      if (this.top === undefined) {
        this.startNs = f.headNs;
        this.bytes = 0;
        this.strings = [];
        this.elements = 0;
        this.line = undefined;
      }
      const first = f.bytes[0]!;
      const line = f.line(MAX_ARG + 64);
      if (line === undefined) return f.stuck || f.length > MAX_ARG + 64 ? 'stuck' : 'ok';
      this.bytes += line.length + 2;
      const type = String.fromCharCode(first);
      const atTop = this.top === undefined;
      if (atTop) this.top = type;
      const rest = line.slice(1);
      switch (type) {
        case '$': case '!': case '=': {
          const n = Number(rest);
          if (!Number.isInteger(n) || n < -1) return 'stuck';
          if (n === -1) {
            this.element(onValue);
            continue;
          }
          // A command's name and arguments: the top-level array's bulk strings.
          if (this.stack.length === 1 && this.strings.length < this.keepStrings) {
            this.strings.push(f.bytes.subarray(0, Math.min(n, MAX_ARG)).toString('utf8'));
          }
          this.bytes += n + 2;
          f.pass(n + 2);
          this.bulkLeft = n;
          continue;
        }
        case '*': case '~': case '>': case '%': case '|': {
          const n = Number(rest);
          if (!Number.isInteger(n) || n < -1) return 'stuck';
          const count = type === '%' || type === '|' ? 2 * n : n;
          if (atTop) this.elements = Math.max(n, 0);
          if (count <= 0) {
            this.element(onValue);
            continue;
          }
          this.stack.push({ left: count, attr: type === '|' });
          continue;
        }
        case '+': case '-': case ':': case '_': case ',': case '#': case '(':
          if (atTop) this.line = line;
          this.element(onValue);
          continue;
        default:
          // An inline command ("PING\r\n"): a request only.
          if (!atTop) return 'stuck';
          this.line = line;
          this.strings = line.split(' ').filter(Boolean).slice(0, this.keepStrings);
          this.elements = line.split(' ').filter(Boolean).length;
          this.element(onValue);
          continue;
      }
    }
  }

  /** One element is complete: frames that are full complete their parents; returns whether a value ended. */
  private element(onValue: (type: string, startNs: bigint, endNs: bigint, bytes: number) => void): boolean {
    for (;;) {
      const fr = this.stack[this.stack.length - 1];
      if (!fr) {
        const type = this.top!;
        this.top = undefined;
        onValue(type, this.startNs, this.feed.lastNs, this.bytes);
        return true;
      }
      fr.left--;
      if (fr.left > 0) return false;
      this.stack.pop();
      if (fr.attr) return false; // the value the attribute annotates is still to come
    }
  }

  reset(): void {
    this.feed.reset();
    this.stack = [];
    this.top = undefined;
    this.bulkLeft = -1;
  }
}

interface Request {
  command: string;
  args: number;
  argv: string[];
  startNs: bigint;
  bytes: number;
}

export class RedisParser implements ConnParser {
  resyncs = 0;
  dropped = 0;
  private requestEgress: boolean | undefined;
  private readonly pending: Request[] = [];
  private readonly requests: Walker;
  private readonly replies = new Walker(0);

  constructor(private readonly o: ParserOptions) {
    this.requests = new Walker(o.redact ? 1 : MAX_ARGV);
  }

  segment(egress: boolean, seg: Segment, out: (p: L7Pair, requestEgress: boolean) => void): void {
    // The kernel recognises a connection by a request: its first data is one.
    this.requestEgress ??= egress;
    const isRequest = egress === this.requestEgress;
    const w = isRequest ? this.requests : this.replies;
    w.feed.push(seg);
    const r = isRequest
      ? w.run((_type, startNs, _endNs, bytes) => {
        const argv = this.requests.strings;
        if (this.pending.length >= MAX_PENDING) {
          this.pending.shift();
          this.dropped++;
        }
        this.pending.push({
          command: (argv[0] ?? '').toUpperCase(), args: Math.max(this.requests.elements - 1, 0),
          argv: this.o.redact ? [] : argv.slice(1), startNs, bytes,
        });
      })
      : w.run((type, _startNs, endNs, bytes) => {
        if (type === '>') return; // a push: answers nothing
        const req = this.pending.shift();
        if (!req) return;
        const line = this.replies.line;
        const err = type === '-' || type === '!';
        out({
          startBootNs: req.startNs, endBootNs: endNs, requestBytes: req.bytes, responseBytes: bytes,
          method: req.command,
          status: type === '-' ? (line ?? '-ERR').slice(1).split(' ')[0]! : err ? 'ERR' : 'OK',
          error: err,
          redis: { args: req.args, ...(this.o.redact ? {} : { argv: req.argv }) },
        }, this.requestEgress!);
      });
    if (r === 'stuck') {
      this.resyncs++;
      w.reset();
    }
  }

  close(): void {
    this.dropped += this.pending.length;
    this.pending.length = 0;
  }
}
