// Alerts as Falco writes them: the rule's output with %field substituted
// (transformers too: %tolower(proc.name)), the text line
// "<time>: <Priority> <output>", and Falco's JSON object (time RFC 3339 with
// ns, rule, priority, source, hostname, output, output_fields, tags), which
// falcosidekick and SIEM parsers take as they are. Sinks: stdout, a file, and
// HTTP POST of the JSON (falcosidekick's input).
import { closeSync, openSync, writeSync } from 'node:fs';
import { operandText, type Operand } from './ast.js';
import type { ConditionCompiler } from './compile.js';
import { CompileError } from './compile.js';
import type { SourcePos, SourceText } from './diagnostics.js';
import { formatEvtIso8601, formatEvtTime, type FieldAccess, type FieldType, type Scalar } from './fields.js';
import type { Priority } from './loader.js';
import { priorityLevel } from './loader.js';
import { parseCondition } from './parser.js';

export type JsonScalar = string | number | bigint | boolean | null;

type Token<E> =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'field'; readonly key: string; readonly type: FieldType; readonly get: (ev: E) => Scalar | undefined };

const RGX_FIELD = /[a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+(?:\[[^\]]*\])?/y;
const RGX_TRANSFORMER = /(tolower|toupper|b64|basename|len)\(/y;

/** Text of a value as Falco prints it in outputs; <NA> when missing. */
export function renderText(v: Scalar | undefined): string {
  if (v === undefined) return '<NA>';
  if (v instanceof Uint8Array) {
    let s = '';
    for (const b of v) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
    return s;
  }
  return String(v);
}

function renderJson(v: Scalar | undefined, type: FieldType): JsonScalar {
  if (v === undefined) return null;
  if (v instanceof Uint8Array) return renderText(v);
  if (type === 'number' || type === 'abstime') return typeof v === 'bigint' || typeof v === 'number' ? v : Number(v);
  return v as string | boolean;
}

/** A compiled output format: tokens with their extractors. */
export class OutputFormat<E> {
  constructor(
    readonly text: string,
    private readonly tokens: readonly Token<E>[],
  ) {}

  /** The fields it prints, as written (proc.aname[2], tolower(proc.name)). */
  get fields(): string[] {
    return this.tokens.flatMap((t) => (t.kind === 'field' ? [t.key] : []));
  }

  format(ev: E): string {
    let s = '';
    for (const t of this.tokens) s += t.kind === 'text' ? t.text : renderText(t.get(ev));
    return s;
  }

  /** output_fields: each printed field's value, typed (numbers as numbers, <NA> as null). */
  values(ev: E): Record<string, JsonScalar> {
    const out: Record<string, JsonScalar> = {};
    for (const t of this.tokens) if (t.kind === 'field') out[t.key] = renderJson(t.get(ev), t.type);
    return out;
  }
}

export interface OutputCompileHooks {
  /** A field Falco knows but Vigil does not provide: it prints <NA>. */
  warn(message: string, pos: SourcePos, code: string): void;
}

/** The end of a transformer call starting at i (just after its '('): index of the matching ')'. */
function closeParen(s: string, i: number): number {
  let depth = 1;
  for (let j = i; j < s.length; j++) {
    if (s[j] === '(') depth++;
    else if (s[j] === ')' && --depth === 0) return j;
  }
  return -1;
}

function singleValue<E>(acc: FieldAccess<E>): (ev: E) => Scalar | undefined {
  if (!acc.many) return acc.extract;
  const ex = acc.extract;
  return (ev) => ex(ev)?.[0];
}

/**
 * Compiles a rule's output. A field Falco does not know is an error (as in
 * Falco); one Vigil does not provide prints <NA>, with a warning.
 */
export function compileOutput<E>(src: SourceText, compiler: ConditionCompiler<E>, hooks: OutputCompileHooks): OutputFormat<E> {
  let text = src.text;
  if (text.startsWith('*')) text = text.slice(1);
  const shift = src.text.length - text.length;
  const tokens: Token<E>[] = [];
  let lit = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '%') {
      lit += c;
      i++;
      continue;
    }
    const start = i + 1;
    let end = -1;
    RGX_TRANSFORMER.lastIndex = start;
    if (RGX_TRANSFORMER.exec(text)) {
      const close = closeParen(text, RGX_TRANSFORMER.lastIndex);
      if (close > 0) end = close + 1;
    } else {
      RGX_FIELD.lastIndex = start;
      const m = RGX_FIELD.exec(text);
      if (m) end = start + m[0].length;
    }
    if (end < 0) {
      lit += c;
      i++;
      continue;
    }
    const tokenText = text.slice(start, end);
    const at = (): SourcePos => src.pos(start + shift);
    if (tokenText === 'container.info') {
      // Falco drops %container.info (deprecated; the container fields are in output_fields anyway)
      hooks.warn('%container.info is deprecated and no more useful, and is dropped from the output', at(), 'LOAD_DEPRECATED_ITEM');
      i = end;
      continue;
    }
    let operand: Operand;
    try {
      const ast = parseCondition(`${tokenText} exists`);
      if (ast.kind !== 'unary') throw new Error('not a field');
      operand = ast.left;
    } catch {
      throw new CompileError(`invalid formatting token %${tokenText}`, at(), 'LOAD_ERR_COMPILE_OUTPUT', undefined, true);
    }
    if (lit) tokens.push({ kind: 'text', text: lit });
    lit = '';
    const key = operandText(operand);
    try {
      const acc = compiler.operandAccess(operand, () => at());
      tokens.push({ kind: 'field', key, type: acc.type, get: singleValue(acc) });
    } catch (e) {
      if (!(e instanceof CompileError)) throw e;
      if (e.skip) {
        hooks.warn(`output field '${key}' is not provided by Vigil and prints <NA>`, e.pos, 'LOAD_UNSUPPORTED_FIELD');
        tokens.push({ kind: 'field', key, type: 'string', get: () => undefined });
      } else {
        throw new CompileError(e.message, e.pos, 'LOAD_ERR_COMPILE_OUTPUT', undefined, e.unknownFilter);
      }
    }
    i = end;
  }
  if (lit) tokens.push({ kind: 'text', text: lit });
  return new OutputFormat(src.text, tokens);
}

// ---------------------------------------------------------------- alerts

export interface Alert {
  readonly rule: string;
  readonly priority: Priority;
  readonly source: string;
  /** Sorted, as Falco keeps them. */
  readonly tags: readonly string[];
  /** Event time, ns since the epoch. */
  readonly timeNs: bigint;
  readonly hostname: string;
  /** The rule's output, fields substituted (Falco's "message"). */
  readonly message: string;
  /** Each field the output prints, typed; null for <NA>. */
  readonly outputFields: Readonly<Record<string, JsonScalar>>;
}

export interface AlertFormatOptions {
  /** Falco's time_format_iso_8601: the text line starts with the UTC ISO 8601 time. */
  iso8601?: boolean;
}

/** Falco's line: "<time>: <Priority> <output>"; time is the local time of day with ns. */
export function formatAlertText(a: Alert, opts: AlertFormatOptions = {}): string {
  const time = opts.iso8601 ? formatEvtIso8601(a.timeNs) : formatEvtTime(a.timeNs);
  return `${time}: ${a.priority} ${a.message}`;
}

/** RFC 3339 UTC with ns, as Falco's "time": 2026-01-02T03:04:05.123456789Z. */
export function rfc3339Nano(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const frac = String(((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).padStart(9, '0');
  return `${new Date(Number(ms)).toISOString().slice(0, 19)}.${frac}Z`;
}

function jsonValue(v: JsonScalar | readonly string[] | Record<string, JsonScalar>): string {
  if (v === null) return 'null';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${(v as readonly string[]).map((s) => JSON.stringify(s)).join(',')}]`;
  const obj = v as Record<string, JsonScalar>;
  return `{${Object.keys(obj).sort().map((k) => `${JSON.stringify(k)}:${jsonValue(obj[k]!)}`).join(',')}}`;
}

/**
 * Falco's JSON alert (json_output: true): keys sorted as Falco's JSON library
 * writes them; "output" is the whole text line; output_fields also holds the
 * time field of the line's prefix (evt.time, in ns).
 */
export function formatAlertJson(a: Alert, opts: AlertFormatOptions = {}): string {
  const timeKey = opts.iso8601 ? 'evt.time.iso8601' : 'evt.time';
  const fields: Record<string, JsonScalar> = { ...a.outputFields, [timeKey]: opts.iso8601 ? formatEvtIso8601(a.timeNs) : a.timeNs };
  const parts: [string, string][] = [
    ['hostname', jsonValue(a.hostname)],
    ['output', jsonValue(formatAlertText(a, opts))],
    ['output_fields', jsonValue(fields)],
    ['priority', jsonValue(a.priority)],
    ['rule', jsonValue(a.rule)],
    ['source', jsonValue(a.source)],
    ['tags', jsonValue(a.tags)],
    ['time', jsonValue(rfc3339Nano(a.timeNs))],
  ];
  return `{${parts.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

/** Whether an alert passes --min-priority (at least as severe). */
export function meetsPriority(p: Priority, min: Priority): boolean {
  return priorityLevel(p) <= priorityLevel(min);
}

// ---------------------------------------------------------------- sinks

export type OutputEncoding = 'text' | 'json';

export interface AlertSink {
  write(a: Alert): void;
  /** Flushes and releases; resolves when pending deliveries are done. */
  close(): Promise<void>;
}

function encode(a: Alert, enc: OutputEncoding, opts: AlertFormatOptions): string {
  return enc === 'json' ? formatAlertJson(a, opts) : formatAlertText(a, opts);
}

/** One line per alert to a stream (stdout by default). */
export class StreamSink implements AlertSink {
  constructor(
    private readonly encoding: OutputEncoding = 'text',
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly opts: AlertFormatOptions = {},
  ) {}

  write(a: Alert): void {
    this.out.write(`${encode(a, this.encoding, this.opts)}\n`);
  }

  async close(): Promise<void> {}

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Appends one line per alert to a file (Falco's file_output). */
export class FileSink implements AlertSink {
  private fd: number | undefined;

  constructor(
    readonly path: string,
    private readonly encoding: OutputEncoding = 'json',
    private readonly opts: AlertFormatOptions = {},
  ) {
    this.fd = openSync(path, 'a', 0o600);
  }

  write(a: Alert): void {
    if (this.fd === undefined) throw new Error(`alert file ${this.path} is closed`);
    writeSync(this.fd, `${encode(a, this.encoding, this.opts)}\n`);
  }

  async close(): Promise<void> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  [Symbol.dispose](): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface HttpSinkOptions {
  /** Most requests in flight; alerts beyond are queued (up to maxQueue, then dropped and counted). */
  concurrency?: number;
  maxQueue?: number;
  headers?: Record<string, string>;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** Called for a failed delivery (network error or non-2xx status). */
  onError?: (err: Error, a: Alert) => void;
  format?: AlertFormatOptions;
}

/**
 * POSTs each alert's Falco JSON to a URL (Falco's http_output; falcosidekick
 * listens on :2801/). Delivery is asynchronous and bounded: write() never blocks.
 */
export class HttpSink implements AlertSink {
  private inFlight = 0;
  private readonly queue: Alert[] = [];
  private readonly idle: (() => void)[] = [];
  readonly stats = { sent: 0, failed: 0, dropped: 0 };
  private closed = false;

  constructor(
    readonly url: string,
    private readonly opts: HttpSinkOptions = {},
  ) {}

  write(a: Alert): void {
    if (this.closed) throw new Error('HTTP alert sink is closed');
    if (this.inFlight < (this.opts.concurrency ?? 4)) {
      this.send(a);
    } else if (this.queue.length < (this.opts.maxQueue ?? 10_000)) {
      this.queue.push(a);
    } else {
      this.stats.dropped++;
    }
  }

  private send(a: Alert): void {
    this.inFlight++;
    const body = formatAlertJson(a, this.opts.format);
    fetch(this.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'vigil', ...this.opts.headers },
      body,
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
    })
      .then(async (res) => {
        await res.arrayBuffer().catch(() => undefined);
        if (!res.ok) throw new Error(`HTTP ${res.status} from ${this.url}`);
        this.stats.sent++;
      })
      .catch((e: unknown) => {
        this.stats.failed++;
        this.opts.onError?.(e instanceof Error ? e : new Error(String(e)), a);
      })
      .finally(() => {
        this.inFlight--;
        const next = this.queue.shift();
        if (next) this.send(next);
        else if (this.inFlight === 0) for (const f of this.idle.splice(0)) f();
      });
  }

  /** Waits for queued and in-flight deliveries, then refuses new alerts. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.inFlight === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Fans alerts out to several sinks, keeping those at or above a priority. */
export class AlertRouter implements AlertSink {
  constructor(
    private readonly sinks: readonly AlertSink[],
    private readonly minPriority: Priority = 'Debug',
  ) {}

  write(a: Alert): void {
    if (!meetsPriority(a.priority, this.minPriority)) return;
    for (const s of this.sinks) s.write(a);
  }

  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close()));
  }
}
