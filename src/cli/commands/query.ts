// vigil query: SQL over the embedded store, through the running agent's API
// or on a store file, as a table, JSON lines or CSV, or into a Parquet file;
// and the built-in named queries (vigil query --list).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { parseFlags, positive } from '../flags.js';
import { AgentCallError, callAgent, socketPath } from '../../agent/client.js';
import { NAMED_QUERIES, ParamError, describeNamedQueries, namedQuery, namedSql } from '../../store/named.js';
import { DEFAULT_QUERY_OPTIONS, QueryError, queryStoreFile, type QueryResult } from '../../store/store.js';

const OUTPUTS = ['table', 'json', 'csv'] as const;

const usage = `usage: vigil query "SQL" | NAME [--PARAM VALUE...] [--output table|json|csv] [--parquet FILE]
                   [--max-rows N] [--store FILE | --socket PATH]
       vigil query --list

Runs one read-only SQL query (a SELECT) over the agent's embedded store
(docs/store.md: the tables and their columns), through the running agent's
API, or on a store file when the agent does not hold it (--store FILE). The
store refuses anything but SELECT, any access to files or the network from
SQL, and stops a query at its time and memory limits (the agent's
store.query settings).

  NAME               a built-in query (--list describes them and their parameters):
                     ${NAMED_QUERIES.map((q) => q.name).join(', ')}
  --output FORMAT    table (default), json (one object per line), csv (with a header)
  --parquet FILE     write the result to FILE as Parquet instead
  --max-rows N       rows at most (default ${DEFAULT_QUERY_OPTIONS.maxRows}); a cut result says so on stderr
  --store FILE       query this store file, opened read-only
  --socket PATH      the agent's socket (default $VIGIL_SOCKET, else /run/vigil/vigil.sock)
  --list             the built-in queries

Parameters of the named queries: --since TIME, --until TIME, --at TIME (RFC 3339,
a duration ago such as 30s, 5m, 1h30m, 2d, or now), --limit N, --threshold MS,
--process TEXT, --container TEXT (top_stacks).
Bad SQL, a statement other than SELECT, or a bad flag: one line, exit status 2.`;

const PARAM_FLAGS = {
  since: { type: 'string' }, until: { type: 'string' }, at: { type: 'string' }, limit: { type: 'string' }, threshold: { type: 'string' },
  process: { type: 'string' }, container: { type: 'string' },
} as const;

export interface QueryArgs {
  list: boolean;
  sql: string;
  output: (typeof OUTPUTS)[number];
  parquet: string | undefined;
  maxRows: number;
  store: string | undefined;
  socket: string;
}

export function parseQueryArgs(argv: string[]): QueryArgs {
  const { values, positionals } = parseFlags({
    args: argv,
    options: {
      output: { type: 'string', short: 'o' }, parquet: { type: 'string' }, 'max-rows': { type: 'string' }, store: { type: 'string' },
      socket: { type: 'string' }, list: { type: 'boolean' }, ...PARAM_FLAGS,
    },
    allowPositionals: true,
  });
  const params: Record<string, string> = {};
  for (const k of Object.keys(PARAM_FLAGS) as (keyof typeof PARAM_FLAGS)[]) if (values[k] !== undefined) params[k] = values[k];
  const output = values.output ?? 'table';
  if (!(OUTPUTS as readonly string[]).includes(output)) throw new UsageError(`--output: unknown format "${output}"; available: ${OUTPUTS.join(', ')}`);
  if (values.store !== undefined && values.socket !== undefined) throw new UsageError('--store and --socket: give one (a store file, or the agent)');
  const maxRows = positive('--max-rows', values['max-rows'], true) ?? DEFAULT_QUERY_OPTIONS.maxRows;
  const base = { output: output as QueryArgs['output'], parquet: values.parquet, maxRows, store: values.store, socket: socketPath(values.socket) };
  if (values.list) {
    if (positionals.length) throw new UsageError(`--list takes no query, got "${positionals[0]}"`);
    return { ...base, list: true, sql: '' };
  }
  if (positionals.length === 0) throw new UsageError('give a query: "SQL" or a name (vigil query --list)');
  if (positionals.length > 1) throw new UsageError(`one query at a time (quote the SQL): unexpected "${positionals[1]}"`);
  const text = positionals[0]!;
  const named = namedQuery(text);
  let sql = text;
  try {
    if (named) sql = namedSql(named, params);
  } catch (e) {
    if (e instanceof ParamError) throw new UsageError(e.message);
    throw e;
  }
  if (!named) {
    const given = Object.keys(params);
    if (given.length) throw new UsageError(`--${given[0]} is a parameter of the named queries; "${text.slice(0, 40)}" is not one (vigil query --list)`);
    if (!text.trim()) throw new UsageError('give a query: "SQL" or a name (vigil query --list)');
  }
  return { ...base, list: false, sql };
}

/** A value as text: NULL as empty, objects (lists, structs) as JSON. */
function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export function formatTable(r: QueryResult): string {
  const rows = [r.columns, ...r.rows.map((row) => row.map(text))];
  const widths = r.columns.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]): string => row.map((v, i) => (i === row.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return rows.map(line).join('\n');
}

function csvField(v: unknown): string {
  const s = text(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function formatCsv(r: QueryResult): string {
  return [r.columns, ...r.rows].map((row) => row.map(csvField).join(',')).join('\n');
}

export function formatJsonLines(r: QueryResult): string {
  return r.rows.map((row) => JSON.stringify(Object.fromEntries(r.columns.map((c, i) => [c, row[i] ?? null])))).join('\n');
}

/** Writes the result as Parquet, through an in-memory DuckDB of this process (the result's own types). */
async function writeParquet(r: QueryResult, file: string): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-query-'));
  try {
    const rows = path.join(dir, 'rows.json');
    writeFileSync(rows, r.rows.length ? `${formatJsonLines(r)}\n` : '');
    const quote = (s: string): string => `'${s.replace(/'/g, "''")}'`;
    const columns = `{${r.columns.map((c, i) => `${quote(c)}: ${quote(r.types[i]!)}`).join(', ')}}`;
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    try {
      await conn.run(`COPY (SELECT * FROM read_json(${quote(rows)}, format = 'newline_delimited', columns = ${columns})) TO ${quote(path.resolve(file))} (FORMAT parquet)`);
    } catch (e) {
      throw new Error(`--parquet ${file}: ${(e as Error).message.split('\n')[0]}`);
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function viaAgent(a: QueryArgs): Promise<QueryResult> {
  try {
    const r = await callAgent<{ columns: string[]; types: string[]; rows: string[]; truncated: boolean }>(a.socket, 'Query', { sql: a.sql, maxRows: a.maxRows });
    return { columns: r.columns, types: r.types, rows: r.rows.map((row) => JSON.parse(row) as unknown[]), truncated: r.truncated };
  } catch (e) {
    // The agent refused the SQL itself: the user's mistake, as on a store file.
    if (e instanceof AgentCallError && e.code === grpc.status.INVALID_ARGUMENT) throw new UsageError(e.message);
    throw e;
  }
}

export const command: Command = {
  name: 'query',
  summary: 'SQL over the agent\'s embedded store; built-in queries (--list)',
  usage,
  async run(argv) {
    const a = parseQueryArgs(argv);
    if (a.list) {
      process.stdout.write(`${describeNamedQueries()}\n`);
      return 0;
    }
    let r: QueryResult;
    if (a.store !== undefined) {
      try {
        r = await queryStoreFile(a.store, a.sql, { ...DEFAULT_QUERY_OPTIONS, maxRows: a.maxRows });
      } catch (e) {
        if (e instanceof QueryError) throw new UsageError(e.message);
        throw e;
      }
    } else {
      r = await viaAgent(a);
    }
    if (r.truncated) process.stderr.write(`vigil query: only the first ${a.maxRows} rows (--max-rows)\n`);
    if (a.parquet !== undefined) {
      await writeParquet(r, a.parquet);
      process.stderr.write(`vigil query: ${r.rows.length} rows written to ${a.parquet}\n`);
      return 0;
    }
    const out = a.output === 'json' ? formatJsonLines(r) : a.output === 'csv' ? formatCsv(r) : formatTable(r);
    if (out) process.stdout.write(`${out}\n`);
    return 0;
  },
};
