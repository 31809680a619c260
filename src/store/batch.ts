// A table's rows as they cross to the store's thread: column by column in
// buffers laid out as DuckDB's vectors keep them, which postMessage hands
// over (transfers) instead of copying value by value. A fixed-width column
// is its values little endian (TIMESTAMP as µs) and a validity bit mask
// (DuckDB's: 1 = valid, bit r of the 64-bit word r / 64); a VARCHAR column is
// an id per row into the column's distinct strings (events repeat their
// binary, exec id and arguments), -1 for NULL. Rows are encoded as they are
// gathered on the agent's thread, so a batch is ready to send at once; the
// store's thread copies each 2048-row slice into a data chunk (store.ts).
// Pure: no DuckDB here.
import type { Cell, Columns } from './rows.js';
import { TABLE_BY_NAME, type ColumnType, type TableDef, type TableName } from './schema.js';

export interface EncodedColumn {
  /** Fixed width: the values (width bytes each); VARCHAR: Int32 ids into `strings` (-1: NULL). */
  data: ArrayBuffer;
  /** Validity, 64-bit words (1 = valid); undefined when no value is NULL. VARCHAR columns use the id -1 instead. */
  valid?: ArrayBuffer;
  /** VARCHAR: the column's distinct strings. */
  strings?: string[];
}

export interface EncodedTable {
  table: TableName;
  rows: number;
  columns: EncodedColumn[];
}

/** Bytes per value of a fixed-width type; 0 for VARCHAR. */
export const WIDTH: Record<ColumnType, number> = { TIMESTAMP: 8, VARCHAR: 0, INTEGER: 4, UINTEGER: 4, BIGINT: 8, UBIGINT: 8, BOOLEAN: 1, DOUBLE: 8 };

type Setter = (d: DataView, offset: number, v: Exclude<Cell, null>) => void;
const big = (v: Exclude<Cell, null>): bigint => (typeof v === 'bigint' ? v : BigInt(typeof v === 'number' ? Math.trunc(v) : v === true ? 1 : v === false ? 0 : v));

const SET: Record<Exclude<ColumnType, 'VARCHAR'>, Setter> = {
  // Cells carry ns since the epoch; DuckDB's TIMESTAMP is µs.
  TIMESTAMP: (d, o, v) => d.setBigInt64(o, typeof v === 'bigint' ? v / 1000n : BigInt(Math.trunc(Number(v) / 1000)), true),
  INTEGER: (d, o, v) => d.setInt32(o, Number(v), true),
  UINTEGER: (d, o, v) => d.setUint32(o, Number(v), true),
  BIGINT: (d, o, v) => d.setBigInt64(o, big(v), true),
  UBIGINT: (d, o, v) => d.setBigUint64(o, big(v), true),
  BOOLEAN: (d, o, v) => d.setUint8(o, v ? 1 : 0),
  DOUBLE: (d, o, v) => d.setFloat64(o, Number(v), true),
};

const GET: Record<Exclude<ColumnType, 'VARCHAR'>, (d: DataView, offset: number) => Cell> = {
  TIMESTAMP: (d, o) => d.getBigInt64(o, true) * 1000n,
  INTEGER: (d, o) => d.getInt32(o, true),
  UINTEGER: (d, o) => d.getUint32(o, true),
  BIGINT: (d, o) => d.getBigInt64(o, true),
  UBIGINT: (d, o) => d.getBigUint64(o, true),
  BOOLEAN: (d, o) => d.getUint8(o) !== 0,
  DOUBLE: (d, o) => d.getFloat64(o, true),
};

interface ColumnBuilder {
  push(v: Cell, row: number): void;
  /** Row `row` is NULL again (a row whose later value could not be encoded is taken back). */
  clear(row: number): void;
  grow(capacity: number): void;
  finish(rows: number): EncodedColumn;
}

class FixedBuilder implements ColumnBuilder {
  private buf: ArrayBuffer;
  private view: DataView;
  /** 32-bit words: the same bits as DuckDB's 64-bit ones, little endian. */
  private valid: Uint32Array;
  private nulls = 0;

  constructor(private readonly width: number, private readonly set: Setter, capacity: number) {
    this.buf = new ArrayBuffer(width * capacity);
    this.view = new DataView(this.buf);
    this.valid = new Uint32Array(Math.ceil(capacity / 64) * 2);
  }

  push(v: Cell, row: number): void {
    if (v === null || v === undefined) {
      this.nulls++;
      return;
    }
    this.set(this.view, row * this.width, v);
    this.valid[row >>> 5] = this.valid[row >>> 5]! | (1 << (row & 31));
  }

  clear(row: number): void {
    this.valid[row >>> 5] = this.valid[row >>> 5]! & ~(1 << (row & 31));
  }

  grow(capacity: number): void {
    const buf = new ArrayBuffer(this.width * capacity);
    new Uint8Array(buf).set(new Uint8Array(this.buf));
    this.buf = buf;
    this.view = new DataView(buf);
    const valid = new Uint32Array(Math.ceil(capacity / 64) * 2);
    valid.set(this.valid);
    this.valid = valid;
  }

  finish(rows: number): EncodedColumn {
    const data = this.buf.byteLength === rows * this.width ? this.buf : this.buf.slice(0, rows * this.width);
    if (!this.nulls) return { data };
    return { data, valid: this.valid.buffer.slice(0, Math.ceil(rows / 64) * 8) as ArrayBuffer };
  }
}

class VarcharBuilder implements ColumnBuilder {
  private ids: Int32Array;
  private readonly index = new Map<string, number>();
  private readonly strings: string[] = [];

  constructor(capacity: number) {
    this.ids = new Int32Array(capacity);
  }

  push(v: Cell, row: number): void {
    if (v === null || v === undefined) {
      this.ids[row] = -1;
      return;
    }
    const s = typeof v === 'string' ? v : String(v);
    let id = this.index.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.index.set(s, id);
      this.strings.push(s);
    }
    this.ids[row] = id;
  }

  clear(row: number): void {
    this.ids[row] = -1;
  }

  grow(capacity: number): void {
    const ids = new Int32Array(capacity);
    ids.set(this.ids);
    this.ids = ids;
  }

  finish(rows: number): EncodedColumn {
    return { data: this.ids.buffer.slice(0, rows * 4) as ArrayBuffer, strings: this.strings };
  }
}

/** Rows of one table, encoded as they come. */
export class TableBuilder {
  private readonly columns: ColumnBuilder[];
  private capacity: number;
  rows = 0;

  constructor(readonly def: TableDef, capacity = 1024) {
    this.capacity = capacity;
    this.columns = def.columns.map((c) => (c.type === 'VARCHAR' ? new VarcharBuilder(capacity) : new FixedBuilder(WIDTH[c.type], SET[c.type], capacity)));
  }

  /** One row, values in column order (a missing one is NULL); a value that cannot be encoded throws, and the row is not added. */
  push(values: readonly Cell[]): void {
    if (this.rows === this.capacity) {
      this.capacity *= 2;
      for (const c of this.columns) c.grow(this.capacity);
    }
    try {
      for (let i = 0; i < this.columns.length; i++) this.columns[i]!.push(values[i] ?? null, this.rows);
    } catch (e) {
      for (const c of this.columns) c.clear(this.rows);
      throw e;
    }
    this.rows++;
  }

  finish(): EncodedTable {
    return { table: this.def.name as TableName, rows: this.rows, columns: this.columns.map((c) => c.finish(this.rows)) };
  }
}

/** A table's rows given column by column (Columns), encoded. */
export function encodeColumns(table: TableName, columns: Columns): EncodedTable {
  const def = TABLE_BY_NAME.get(table);
  if (!def) throw new Error(`${table}: no such table`);
  if (columns.length !== def.columns.length) throw new Error(`${table}: ${columns.length} columns given, the table has ${def.columns.length}`);
  const rows = columns[0]?.length ?? 0;
  const b = new TableBuilder(def, Math.max(1, rows));
  const row: Cell[] = new Array<Cell>(columns.length);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < columns.length; i++) row[i] = columns[i]![r] ?? null;
    b.push(row);
  }
  return b.finish();
}

/** The buffers of encoded tables: what postMessage transfers. */
export function transferList(tables: readonly EncodedTable[]): ArrayBuffer[] {
  return tables.flatMap((t) => t.columns.flatMap((c) => (c.valid ? [c.data, c.valid] : [c.data])));
}

/** Back to cells (the L7 rollup reads l7_records' values; tests). */
export function decodeTable(t: EncodedTable): Columns {
  const def = TABLE_BY_NAME.get(t.table)!;
  return def.columns.map((c, i) => {
    const col = t.columns[i]!;
    const out: Cell[] = new Array<Cell>(t.rows);
    if (c.type === 'VARCHAR') {
      const ids = new Int32Array(col.data);
      for (let r = 0; r < t.rows; r++) out[r] = ids[r]! < 0 ? null : col.strings![ids[r]!]!;
      return out;
    }
    const d = new DataView(col.data);
    const valid = col.valid ? new Uint32Array(col.valid) : undefined;
    const w = WIDTH[c.type];
    const get = GET[c.type];
    for (let r = 0; r < t.rows; r++) out[r] = valid && !(valid[r >>> 5]! & (1 << (r & 31))) ? null : get(d, r * w);
    return out;
  });
}
