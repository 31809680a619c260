// The store's tables: one definition, from which the DDL, the appenders'
// column order and docs/store.md's tables come. Pure: no DuckDB here.
//
// Every table starts with `time` (TIMESTAMP, UTC, microseconds): retention
// and the named queries go by it. Lists (arguments, flags, names) are text,
// space- or comma-separated as the column says.

export type ColumnType = 'TIMESTAMP' | 'VARCHAR' | 'INTEGER' | 'UINTEGER' | 'BIGINT' | 'UBIGINT' | 'BOOLEAN' | 'DOUBLE';

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly doc: string;
}

export interface TableDef {
  readonly name: string;
  readonly doc: string;
  /** Written by the agent today; false: the shape is fixed here for the producer to come. */
  readonly filled: boolean;
  readonly columns: readonly Column[];
}

const c = (name: string, type: ColumnType, doc: string): Column => ({ name, type, doc });
const time = c('time', 'TIMESTAMP', 'when it happened (UTC)');
const pid = c('pid', 'UINTEGER', 'process id (thread-group id)');
const execId = c('exec_id', 'VARCHAR', 'Tetragon-style exec id of the process ("" unknown)');
const binary = c('exe', 'VARCHAR', 'executable path (the comm when unknown)');
const container = c('container_id', 'VARCHAR', 'container id ("" for the host)');

export const TABLES: readonly TableDef[] = [
  {
    name: 'process_events', doc: 'process executions, failed executions, forks and exits', filled: true,
    columns: [time, c('kind', 'VARCHAR', 'exec, exec_failed, fork or exit'), pid, c('ppid', 'UINTEGER', 'parent pid'),
      c('uid', 'UINTEGER', 'real uid'), execId, c('parent_exec_id', 'VARCHAR', 'the parent\'s exec id ("" unknown)'), binary,
      c('args', 'VARCHAR', 'arguments after argv[0], space-separated'), c('cwd', 'VARCHAR', 'working directory'), container,
      c('exit_status', 'INTEGER', 'exit: exit(2) status, NULL when killed by a signal'),
      c('signal', 'VARCHAR', 'exit: the killing signal (SIGKILL), NULL otherwise'),
      c('error', 'VARCHAR', 'exec_failed: the errno name (ENOENT)')],
  },
  {
    name: 'file_events', doc: 'file operations the file sensor reports', filled: true,
    columns: [time, c('op', 'VARCHAR', 'open, unlink, rename, ...'), c('syscall', 'VARCHAR', 'the syscall (openat, renameat2, ...)'), pid,
      c('uid', 'UINTEGER', 'real uid'), c('comm', 'VARCHAR', 'task name'), c('path', 'VARCHAR', 'canonical path'),
      c('target', 'VARCHAR', 'rename/link/symlink: the other name, NULL otherwise'), c('flags', 'VARCHAR', 'flag names, space-separated'),
      c('ret', 'BIGINT', 'the syscall\'s return value (negative: -errno)'), c('cgroup_id', 'UBIGINT', 'cgroup v2 id')],
  },
  {
    name: 'syscall_stats', doc: 'syscall counts per process over an interval (filled once the agent runs a syscall sensor)', filled: false,
    columns: [time, pid, execId, binary, c('syscall', 'VARCHAR', 'syscall name'), c('count', 'UBIGINT', 'calls in the interval'),
      c('errors', 'UBIGINT', 'calls that returned an error'), c('interval_ms', 'UINTEGER', 'the interval\'s length')],
  },
  {
    name: 'flows', doc: 'TCP connections and UDP conversations (the flow sensor\'s Hubble records)', filled: true,
    columns: [time, c('event_kind', 'VARCHAR', 'tcp-connect, tcp-accept, tcp-close, tcp-failed, udp, policy'),
      c('verdict', 'VARCHAR', 'FORWARDED, DROPPED, DENIED, ...'), c('protocol', 'VARCHAR', 'TCP, UDP, ICMPv4, ICMPv6'),
      c('src_ip', 'VARCHAR', 'source address'), c('src_port', 'INTEGER', 'source port'), c('dst_ip', 'VARCHAR', 'destination address'),
      c('dst_port', 'INTEGER', 'destination port'), c('direction', 'VARCHAR', 'INGRESS or EGRESS'),
      c('dst_names', 'VARCHAR', 'names the destination was resolved from, comma-separated'),
      pid, binary, execId, container, c('bytes_sent', 'UBIGINT', 'bytes the local socket sent'),
      c('bytes_received', 'UBIGINT', 'bytes it received'), c('duration_ns', 'UBIGINT', 'connection age at this record'),
      c('srtt_us', 'UINTEGER', 'smoothed RTT (TCP)'), c('retransmits', 'UINTEGER', 'retransmitted segments (TCP)'),
      c('drop_reason', 'VARCHAR', 'why a failed or denied flow did not go through'), c('flow_id', 'VARCHAR', 'one id per connection')],
  },
  {
    name: 'dns', doc: 'DNS questions and answers seen on the wire', filled: true,
    columns: [time, c('event_kind', 'VARCHAR', 'dns-query or dns-answer'), c('query', 'VARCHAR', 'the name asked (with the trailing dot)'),
      c('qtypes', 'VARCHAR', 'query types, comma-separated'), c('rcode', 'INTEGER', 'answer: the response code'),
      c('ips', 'VARCHAR', 'answer: addresses, comma-separated'), c('latency_ns', 'UBIGINT', 'answer: time since its question'),
      c('server_ip', 'VARCHAR', 'the DNS server'), c('server_port', 'INTEGER', 'its port'), pid, binary, execId, container],
  },
  {
    name: 'policy_events', doc: 'TracingPolicy matches', filled: true,
    columns: [time, c('policy', 'VARCHAR', 'the policy\'s name'), c('hook', 'VARCHAR', 'kprobe, tracepoint, uprobe, lsm, loader'),
      c('function', 'VARCHAR', 'the hook\'s function name'), c('action', 'VARCHAR', 'Tetragon\'s action name (KPROBE_ACTION_POST, ...)'),
      pid, c('comm', 'VARCHAR', 'task name'), binary, execId, container],
  },
  {
    name: 'alerts', doc: 'Falco rule alerts', filled: true,
    columns: [time, c('rule', 'VARCHAR', 'the rule\'s name'), c('priority', 'VARCHAR', 'Falco\'s priority'), c('source', 'VARCHAR', 'syscall, ...'),
      c('tags', 'VARCHAR', 'tags, comma-separated'), c('message', 'VARCHAR', 'the rule\'s output, fields substituted'),
      c('fields', 'VARCHAR', 'the output\'s fields as a JSON object')],
  },
  {
    name: 'l7_records', doc: 'L7 requests (HTTP, gRPC, Redis, PostgreSQL, MySQL, Kafka), one row per request and its response (the agent\'s http, grpc, redis, pgsql, mysql, kafka sensors)', filled: true,
    columns: [time, c('protocol', 'VARCHAR', 'http, grpc, redis, pgsql, mysql, kafka'), c('service', 'VARCHAR', 'the server: comm:port (role server) or dst_ip:dst_port (client)'),
      c('src_ip', 'VARCHAR', 'client address'), c('dst_ip', 'VARCHAR', 'server address'), c('dst_port', 'INTEGER', 'server port'),
      c('method', 'VARCHAR', 'GET, POST, gRPC method, ...'), c('path', 'VARCHAR', 'HTTP route template ({id}); the SQL statement, literals redacted'),
      c('status', 'INTEGER', 'response status (HTTP status; null for the databases)'), c('latency_ns', 'UBIGINT', 'request to response'),
      c('req_bytes', 'UBIGINT', 'request size'), c('resp_bytes', 'UBIGINT', 'response size'), pid, binary, execId, container],
  },
  {
    name: 'l7_rollup', filled: false,
    doc: 'l7_records summed per minute, service, endpoint and latency bucket, kept with each append (service_stats reads it): ' +
      'a bucket is an eighth of a power of two of nanoseconds, 2^(b/8) to 2^((b+1)/8)',
    columns: [c('time', 'TIMESTAMP', 'the minute (UTC)'), c('service', 'VARCHAR', 'as in l7_records'), c('endpoint', 'VARCHAR', 'l7_records\' path'),
      c('latency_bucket', 'INTEGER', 'floor(log2(latency_ns) * 8); NULL: no latency'), c('requests', 'UBIGINT', 'requests'),
      c('errors', 'UBIGINT', 'of which status >= 500')],
  },
  {
    name: 'profile_samples', filled: true,
    doc: 'CPU profile samples (the agent\'s profile sensor), folded and symbolised: one row per process and stack per interval (profile.interval)',
    columns: [c('time', 'TIMESTAMP', 'the interval\'s end (UTC)'), pid, execId, binary,
      c('stack', 'VARCHAR', 'frames root first, ";"-separated (folded): the process name, the thread\'s when it differs, then the functions'),
      c('count', 'UBIGINT', 'samples of this stack in the interval'), container],
  },
];

export type TableName = 'process_events' | 'file_events' | 'syscall_stats' | 'flows' | 'dns' | 'policy_events' | 'alerts' | 'l7_records' |
  'l7_rollup' | 'profile_samples';

export const TABLE_BY_NAME: ReadonlyMap<string, TableDef> = new Map(TABLES.map((t) => [t.name, t]));

/** The statement that makes a table (if it is not there: a restart keeps what is stored). */
export function createTableSql(t: TableDef): string {
  return `CREATE TABLE IF NOT EXISTS ${t.name} (${t.columns.map((col) => `${col.name} ${col.type}`).join(', ')})`;
}

/**
 * The statements that bring a table made by an older version up to this
 * shape: columns are only ever added at the end (profile_samples' container_id).
 */
export function addColumnsSql(t: TableDef): string[] {
  return t.columns.map((col) => `ALTER TABLE ${t.name} ADD COLUMN IF NOT EXISTS ${col.name} ${col.type}`);
}

/** The tables as Markdown (docs/store.md holds it; test/store.test.ts checks it is current). */
export function schemaMarkdown(): string {
  const out: string[] = [];
  for (const t of TABLES) {
    out.push(`### ${t.name}`, '', `${t.doc}.${t.filled ? '' : ' *Created empty: no producer writes it yet.*'}`, '', '| column | type | what |', '|---|---|---|');
    for (const col of t.columns) out.push(`| ${col.name} | ${col.type} | ${col.doc} |`);
    out.push('');
  }
  return out.join('\n');
}
