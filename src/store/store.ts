// The embedded store: one DuckDB database file, the tables of schema.ts,
// rows appended in batches through DuckDB's Appender (one per table, kept
// open), retention by age and size, and sandboxed read-only queries.
//
// The sandbox is DuckDB's own: external access off (no file, no network,
// no extension loading from SQL) and the configuration locked so no SET
// turns it on again; only SELECT statements run (the agent's connection
// writes, a query's never does); each query has a time limit (interrupted)
// and the database a memory limit, with queries run one at a time, so the
// limit is each query's.
import { statSync } from 'node:fs';
import {
  BIGINT, BOOLEAN, DOUBLE, DuckDBDataChunk, DuckDBInstance, INTEGER, StatementType, TIMESTAMP, UBIGINT, UINTEGER, VARCHAR,
  type DuckDBAppender, type DuckDBConnection, type DuckDBType,
} from '@duckdb/node-api';
// The bindings under @duckdb/node-api (its pinned version): a vector's memory, to write a column at once.
import bindings from '@duckdb/node-bindings';
import type * as duckdb from '@duckdb/node-bindings';
import { TABLES, addColumnsSql, createTableSql, type ColumnType, type TableDef, type TableName } from './schema.js';
import type { Columns } from './rows.js';
import { WIDTH, decodeTable, encodeColumns, type EncodedTable } from './batch.js';
import { compactSql, rollupOf, rollupSelectSql } from './rollup.js';

export interface StoreLimits {
  /** The database's memory limit (DuckDB's memory_limit: "256MB"). */
  memoryLimit: string;
  /** Threads a query may use. */
  threads: number;
}

export const DEFAULT_STORE_LIMITS: StoreLimits = { memoryLimit: '256MB', threads: 2 };

export interface QueryOptions {
  /** Interrupted after this long. */
  timeoutMs: number;
  /** Rows returned at most (the rest are not read; `truncated` says so). */
  maxRows: number;
}

export const DEFAULT_QUERY_OPTIONS: QueryOptions = { timeoutMs: 10_000, maxRows: 100_000 };

export interface QueryResult {
  columns: string[];
  /** DuckDB's type names (VARCHAR, BIGINT, TIMESTAMP, ...). */
  types: string[];
  /** Values as JSON takes them (64-bit integers and timestamps as text). */
  rows: unknown[][];
  truncated: boolean;
}

/** A query refused: bad SQL, or not read-only. The message is DuckDB's first line. */
export class QueryError extends Error {
  override readonly name = 'QueryError';
}

/** A query stopped at its time or memory limit. */
export class QueryLimitError extends Error {
  override readonly name = 'QueryLimitError';
}

export interface RetentionLimits {
  /** Rows older than this go. */
  maxAgeMs: number;
  /** The database's used size (blocks in use and write-ahead log) is brought under this. */
  maxBytes: number;
}

export interface RetentionResult {
  deleted: number;
  sizeBytes: number;
}

const utf8 = new TextEncoder();
/** DuckDB's string_t: 16 bytes, the length then the string itself when it is this long at most. */
const STRING_T = 16;
const INLINE_MAX = 12;

/** A VARCHAR column's distinct strings as UTF-8, each encoded once per batch (when a chunk first needs it). */
class Utf8Strings {
  private readonly bytes: (Uint8Array | undefined)[];
  constructor(private readonly strings: readonly string[]) {
    this.bytes = new Array<Uint8Array | undefined>(strings.length);
  }
  get(id: number): Uint8Array {
    return (this.bytes[id] ??= utf8.encode(this.strings[id]!));
  }
}

/**
 * VARCHAR rows [start, end) into a vector: one call into DuckDB per distinct
 * long string of the chunk, not one per value. A string of 12 bytes or less
 * is written in its string_t slot (length, bytes: DuckDB's inline form,
 * duckdb.h's duckdb_string_t); a longer one is given to DuckDB once (it
 * copies it into the vector's string heap) and the other rows with it get a
 * copy of that slot, pointing at the same bytes, which stay as long as the
 * chunk does.
 */
function writeVarchar(vector: duckdb.Vector, ids: Int32Array, strings: Utf8Strings, start: number, end: number): void {
  const n = end - start;
  const slots = new Uint8Array(n * STRING_T);
  const view = new DataView(slots.buffer);
  const firstRow = new Map<number, number>();
  const repeats: number[] = [];
  let mask: Uint32Array | undefined;
  for (let r = 0; r < n; r++) {
    const id = ids[start + r]!;
    if (id < 0) {
      mask ??= new Uint32Array(Math.ceil(n / 64) * 2).fill(0xffff_ffff);
      mask[r >>> 5] = mask[r >>> 5]! & ~(1 << (r & 31));
      continue;
    }
    const b = strings.get(id);
    if (b.length <= INLINE_MAX) {
      view.setUint32(r * STRING_T, b.length, true);
      slots.set(b, r * STRING_T + 4);
      continue;
    }
    const first = firstRow.get(id);
    if (first === undefined) {
      firstRow.set(id, r);
      // With its length: a NUL in it is kept (the C string call would stop there).
      bindings.vector_assign_string_element_len(vector, r, b);
    } else repeats.push(r, first);
  }
  if (firstRow.size) {
    // The slots DuckDB wrote for the long strings (length, prefix, pointer into the vector's heap).
    const written = bindings.vector_get_data(vector, n * STRING_T);
    for (const r of firstRow.values()) slots.set(written.subarray(r * STRING_T, (r + 1) * STRING_T), r * STRING_T);
    for (let i = 0; i < repeats.length; i += 2) {
      const r = repeats[i]!;
      const first = repeats[i + 1]!;
      slots.set(written.subarray(first * STRING_T, (first + 1) * STRING_T), r * STRING_T);
    }
  }
  bindings.copy_data_to_vector(vector, 0, slots.buffer, 0, slots.byteLength);
  if (mask) {
    bindings.vector_ensure_validity_writable(vector);
    bindings.copy_data_to_vector_validity(vector, 0, mask.buffer as ArrayBuffer, 0, mask.byteLength);
  }
}

/** Each column type as DuckDB names it. */
const TYPES: Record<ColumnType, DuckDBType> = {
  TIMESTAMP, VARCHAR, INTEGER, UINTEGER, BIGINT, UBIGINT, BOOLEAN, DOUBLE,
};

/** Rows per data chunk: DuckDB's vector size. */
const CHUNK_ROWS = 2048;

/**
 * The write-ahead log's size that makes a commit checkpoint: above DuckDB's
 * 16 MB, fewer checkpoints rewrite the table's last, partial row group while
 * rows stream in (the WAL is counted in the store's size for retention).
 */
const CHECKPOINT_THRESHOLD = '64MB';

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/** Opens a DuckDB database with the sandbox's settings. */
async function sandboxed(path: string, limits: StoreLimits, readOnly: boolean): Promise<DuckDBInstance> {
  return DuckDBInstance.create(path, {
    access_mode: readOnly ? 'READ_ONLY' : 'READ_WRITE',
    enable_external_access: 'false',
    autoload_known_extensions: 'false',
    autoinstall_known_extensions: 'false',
    memory_limit: limits.memoryLimit,
    threads: String(limits.threads),
    ...(readOnly ? {} : { checkpoint_threshold: CHECKPOINT_THRESHOLD }),
    lock_configuration: 'true',
  });
}

/** Runs one read-only query on `conn`, within the options' limits. */
async function readOnlyQuery(conn: DuckDBConnection, sql: string, o: QueryOptions): Promise<QueryResult> {
  let statements;
  try {
    statements = await conn.extractStatements(sql);
  } catch (e) {
    throw new QueryError(firstLine(e));
  }
  if (statements.count === 0) throw new QueryError('no statement');
  if (statements.count > 1) throw new QueryError('one statement at a time');
  let prepared;
  try {
    prepared = await statements.prepare(0);
  } catch (e) {
    throw new QueryError(firstLine(e));
  }
  if (prepared.statementType !== StatementType.SELECT) {
    throw new QueryError(`only SELECT queries run here (the store is read-only to queries; this is a ${StatementType[prepared.statementType]} statement)`);
  }
  const timer = setTimeout(() => conn.interrupt(), o.timeoutMs);
  try {
    const reader = await prepared.runAndReadUntil(o.maxRows + 1);
    const rows = reader.getRowsJson() as unknown[][];
    const truncated = rows.length > o.maxRows || !reader.done;
    return { columns: reader.columnNames(), types: reader.columnTypes().map(String), rows: rows.slice(0, o.maxRows), truncated };
  } catch (e) {
    const msg = firstLine(e);
    if (/interrupt/i.test(msg)) throw new QueryLimitError(`interrupted: the query ran past its time limit (${o.timeoutMs} ms)`);
    if (/^Out of Memory/i.test(msg)) throw new QueryLimitError(`${msg} (the store's memory limit: store.query.memory)`);
    throw new QueryError(msg);
  } finally {
    clearTimeout(timer);
  }
}

export class EventStore {
  private readonly appenders = new Map<TableName, { appender: DuckDBAppender; def: TableDef; types: DuckDBType[] }>();
  private queries: Promise<unknown> = Promise.resolve();
  /** The writer's work (appends, retention), one at a time: an append is a transaction of its own. */
  private writing: Promise<unknown> = Promise.resolve();
  /** l7_rollup is compacted before this (µs since the epoch). */
  private compactedBeforeUs = 0n;
  /** Rows appended since the open. */
  appended = 0;

  private constructor(
    readonly path: string,
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly reader: DuckDBConnection,
  ) {}

  /** Opens (or makes) the store at `path`; the tables are made if missing, what is stored stays. */
  static async open(path: string, limits: StoreLimits = DEFAULT_STORE_LIMITS): Promise<EventStore> {
    const instance = await sandboxed(path, limits, false);
    const writer = await instance.connect();
    for (const t of TABLES) {
      await writer.run(createTableSql(t));
      for (const sql of addColumnsSql(t)) await writer.run(sql);
    }
    // A store from before l7_rollup (or L7 records written around it): the rollup is made from them once.
    const missing = await writer.runAndReadAll('SELECT (SELECT count(*) FROM l7_rollup) = 0 AND (SELECT count(*) FROM l7_records) > 0');
    if (missing.getRowsJson()[0]?.[0] === true) await writer.run(`INSERT INTO l7_rollup ${rollupSelectSql('true')}`);
    const store = new EventStore(path, instance, writer, await instance.connect());
    for (const def of TABLES) {
      store.appenders.set(def.name as TableName, { appender: await writer.createAppender(def.name), def, types: def.columns.map((col) => TYPES[col.type]) });
    }
    return store;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.writing.then(work);
    this.writing = run.catch(() => undefined);
    return run;
  }

  /** Appends an encoded table's rows, a data chunk (up to 2048 rows) at a time, each column copied straight into its vector. */
  private appendTable(a: { appender: DuckDBAppender; def: TableDef; types: DuckDBType[] }, t: EncodedTable): void {
    const cols = a.def.columns;
    const strings = t.columns.map((c) => (c.strings ? new Utf8Strings(c.strings) : undefined));
    const ids = t.columns.map((c) => (c.strings ? new Int32Array(c.data) : undefined));
    for (let start = 0; start < t.rows; start += CHUNK_ROWS) {
      const end = Math.min(t.rows, start + CHUNK_ROWS);
      const n = end - start;
      const chunk = DuckDBDataChunk.create(a.types, n);
      for (let i = 0; i < cols.length; i++) {
        const vector = bindings.data_chunk_get_vector(chunk.chunk, i);
        const col = t.columns[i]!;
        if (strings[i]) {
          writeVarchar(vector, ids[i]!, strings[i]!, start, end);
          continue;
        }
        const w = WIDTH[cols[i]!.type];
        bindings.copy_data_to_vector(vector, 0, col.data, start * w, n * w);
        if (col.valid) {
          // A chunk starts on a 64-row boundary: its validity words are a slice of the column's.
          bindings.vector_ensure_validity_writable(vector);
          bindings.copy_data_to_vector_validity(vector, 0, col.valid, start / 8, Math.ceil(n / 64) * 8);
        }
      }
      a.appender.appendDataChunk(chunk);
    }
  }

  /** Appends rows given column by column (encoded here first; the agent's sink sends them encoded: appendEncoded). */
  append(batch: Iterable<readonly [TableName, Columns]>): Promise<number> {
    const tables: EncodedTable[] = [];
    try {
      for (const [table, columns] of batch) tables.push(encodeColumns(table, columns));
    } catch (e) {
      return Promise.reject(e);
    }
    return this.appendEncoded(tables);
  }

  /**
   * Appends encoded tables' rows (batch.ts); L7 records add their rollup
   * rows. The whole batch is one transaction (one commit, one sync of the
   * write-ahead log).
   */
  appendEncoded(batch: readonly EncodedTable[]): Promise<number> {
    return this.exclusive(async () => {
      const tables: EncodedTable[] = [];
      for (const t of batch) {
        const a = this.appenders.get(t.table);
        if (!a) throw new Error(`${t.table}: no such table`);
        if (!t.rows) continue;
        if (t.columns.length !== a.def.columns.length) throw new Error(`${t.table}: ${t.columns.length} columns given, the table has ${a.def.columns.length}`);
        tables.push(t);
        if (t.table === 'l7_records') tables.push(encodeColumns('l7_rollup', rollupOf(decodeTable(t))));
      }
      if (!tables.length) return 0;
      let n = 0;
      await this.writer.run('BEGIN TRANSACTION');
      try {
        for (const t of tables) {
          const a = this.appenders.get(t.table)!;
          this.appendTable(a, t);
          a.appender.flushSync();
          if (t.table !== 'l7_rollup') n += t.rows;
        }
        await this.writer.run('COMMIT');
      } catch (e) {
        for (const { appender } of this.appenders.values()) appender.clear();
        await this.writer.run('ROLLBACK').catch(() => undefined);
        throw e;
      }
      this.appended += n;
      return n;
    });
  }

  /** A read-only query, after those before it (one at a time: the memory limit is each query's). */
  query(sql: string, o: QueryOptions = DEFAULT_QUERY_OPTIONS): Promise<QueryResult> {
    const run = this.queries.then(() => readOnlyQuery(this.reader, sql, o));
    this.queries = run.catch(() => undefined);
    return run;
  }

  /** Bytes in use: DuckDB's used blocks and its write-ahead log. */
  async sizeBytes(): Promise<number> {
    const r = await this.writer.runAndReadAll('SELECT used_blocks * block_size AS used FROM pragma_database_size()');
    const used = Number(r.getRowsJson()[0]?.[0] ?? 0);
    const wal = statSync(`${this.path}.wal`, { throwIfNoEntry: false })?.size ?? 0;
    return used + wal;
  }

  private async deleteBefore(cutoffUs: bigint): Promise<number> {
    let deleted = 0;
    for (const t of TABLES) {
      const r = await this.writer.run(`DELETE FROM ${t.name} WHERE time < make_timestamp(${cutoffUs}::BIGINT)`);
      // The rollup's rows summarise l7_records' and are not counted again.
      if (t.name !== 'l7_rollup') deleted += Number(r.rowsChanged);
    }
    return deleted;
  }

  /**
   * Deletes rows older than maxAgeMs; then, while the database uses more
   * than maxBytes, the oldest tenth of the time it spans (down to an hour's
   * worth at least each round), checkpointing so the space is reused.
   */
  retain(l: RetentionLimits, nowMs = Date.now()): Promise<RetentionResult> {
    return this.exclusive(async () => {
      await this.compactRollup(nowMs);
      return this.retainNow(l, nowMs);
    });
  }

  /** Merges l7_rollup's partial rows (one set per append) of the minutes before the last one. */
  private async compactRollup(nowMs: number): Promise<void> {
    const before = (BigInt(nowMs) / 60_000n - 1n) * 60_000_000n;
    if (before <= this.compactedBeforeUs) return;
    await this.writer.run('BEGIN TRANSACTION');
    try {
      for (const sql of compactSql(this.compactedBeforeUs, before)) await this.writer.run(sql);
      await this.writer.run('COMMIT');
    } catch (e) {
      await this.writer.run('ROLLBACK').catch(() => undefined);
      throw e;
    }
    this.compactedBeforeUs = before;
  }

  private async retainNow(l: RetentionLimits, nowMs: number): Promise<RetentionResult> {
    let deleted = await this.deleteBefore(BigInt(nowMs - l.maxAgeMs) * 1000n);
    if (deleted) await this.writer.run('CHECKPOINT');
    let size = await this.sizeBytes();
    for (let round = 0; size > l.maxBytes && round < 10; round++) {
      const span = await this.writer.runAndReadAll(
        `SELECT epoch_us(min(t)), epoch_us(max(t)) FROM (${TABLES.map((t) => `SELECT min(time) AS t FROM ${t.name} UNION ALL SELECT max(time) FROM ${t.name}`).join(' UNION ALL ')})`);
      const [lo, hi] = (span.getRowsJson()[0] ?? []).map((v) => (v === null ? undefined : BigInt(v as string)));
      if (lo === undefined || hi === undefined) break;
      const step = (hi - lo) / 10n;
      const n = await this.deleteBefore(lo + (step > 0n ? step : 1n));
      deleted += n;
      await this.writer.run('CHECKPOINT');
      size = await this.sizeBytes();
      if (n === 0) break;
    }
    return { deleted, sizeBytes: size };
  }

  /** Rows per table. */
  counts(): Promise<Record<string, number>> {
    // Between the writer's transactions: what is committed.
    return this.exclusive(async () => {
      const r = await this.writer.runAndReadAll(TABLES.map((t) => `SELECT '${t.name}', count(*) FROM ${t.name}`).join(' UNION ALL '));
      return Object.fromEntries(r.getRowsJson().map(([t, n]) => [String(t), Number(n)]));
    });
  }

  /** Resolves once the writes asked for so far are done (or failed). */
  async idle(): Promise<void> {
    await this.writing;
  }

  close(): void {
    for (const { appender } of this.appenders.values()) {
      try {
        appender.closeSync();
      } catch {
        // Flushed at every batch: nothing is left in it.
      }
    }
    this.appenders.clear();
    this.reader.closeSync();
    this.writer.closeSync();
    this.instance.closeSync();
  }
}

/** A store file opened read-only for `vigil query --store FILE` (the agent must not hold it). */
export async function queryStoreFile(path: string, sql: string, o: QueryOptions = DEFAULT_QUERY_OPTIONS, limits = DEFAULT_STORE_LIMITS): Promise<QueryResult> {
  if (!statSync(path, { throwIfNoEntry: false })?.isFile()) throw new QueryError(`${path}: no such store file`);
  let instance: DuckDBInstance;
  try {
    instance = await sandboxed(path, limits, true);
  } catch (e) {
    const msg = firstLine(e);
    throw new Error(/lock/i.test(msg) ? `${path}: in use by a running agent (query it through the agent: vigil query without --store)` : `${path}: ${msg}`);
  }
  const conn = await instance.connect();
  try {
    return await readOnlyQuery(conn, sql, o);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
