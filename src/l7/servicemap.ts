// The service map: who calls whom, from the L7 records. A connection is
// known by its tuple (client address and port, server address and port);
// each side's record names the process on its side, so a request between
// two local processes is seen twice (the client's record and the server's)
// and counted once: by the server's record when there is one (the server's
// latency), else by the client's. A side with no local process is its
// address (the server's with its port). Edges join connections by their two
// ends' names and protocol: requests, errors (the recording side's), p50 and
// p99 latency (log-linear histograms, within 12.5%).
//
// Bounded: at most MAX_CONNS connections are held by tuple; the least
// recently active is folded into its edge (its names as known then).
// `vigil servicemap`, the agent's GetServiceMap and the console's map all
// read this one computation.
import { LatencyHistogram, latencyBucket } from './histogram.js';
import type { L7Protocol, L7Record } from './types.js';

export const MAX_CONNS = 16_384;

/** One caller → callee edge. */
export interface ServiceEdge {
  from: string;
  to: string;
  protocol: L7Protocol;
  requests: number;
  errors: number;
  p50Ns: number;
  p99Ns: number;
}

/** Requests, errors and latency buckets (sparse: a connection sees few distinct latencies). */
class Tally {
  count = 0;
  errors = 0;
  readonly buckets = new Map<number, number>();

  add(r: L7Record): void {
    this.count++;
    if (r.error) this.errors++;
    const b = latencyBucket(Number(r.endBootNs - r.startBootNs));
    this.buckets.set(b, (this.buckets.get(b) ?? 0) + 1);
  }

  into(e: EdgeAcc): void {
    e.requests += this.count;
    e.errors += this.errors;
    for (const [b, n] of this.buckets) e.hist.counts[b]! += n;
    e.hist.total += this.count;
  }
}

interface Conn {
  protocol: L7Protocol;
  clientAddr: string;
  serverAddr: string;
  client?: string;
  server?: string;
  byClient: Tally;
  byServer: Tally;
}

interface EdgeAcc {
  from: string;
  to: string;
  protocol: L7Protocol;
  requests: number;
  errors: number;
  hist: LatencyHistogram;
}

/** A record's process as a node name (default: its comm). */
export type NodeName = (r: L7Record) => string;

export class ServiceMap {
  /** Connections folded because the table was full. */
  folded = 0;
  private readonly conns = new Map<string, Conn>();
  private readonly done = new Map<string, EdgeAcc>();

  constructor(private readonly nameOf: NodeName = (r) => r.comm, private readonly maxConns = MAX_CONNS) {}

  observe(r: L7Record): void {
    const [client, server] = r.role === 'server' ? [r.remote, r.local] : [r.local, r.remote];
    const key = `${r.protocol} ${client.ip}:${client.port} ${server.ip}:${server.port}`;
    let c = this.conns.get(key);
    if (c) this.conns.delete(key); // most recently active last
    else {
      if (this.conns.size >= this.maxConns) {
        const [k, old] = this.conns.entries().next().value as [string, Conn];
        this.conns.delete(k);
        this.fold(old, this.done);
        this.folded++;
      }
      c = { protocol: r.protocol, clientAddr: client.ip, serverAddr: `${server.ip}:${server.port}`, byClient: new Tally(), byServer: new Tally() };
    }
    this.conns.set(key, c);
    if (r.role === 'server') {
      c.server = this.nameOf(r);
      c.byServer.add(r);
    } else {
      c.client = this.nameOf(r);
      c.byClient.add(r);
    }
  }

  /** The edges so far, busiest first. */
  edges(): ServiceEdge[] {
    const acc = new Map<string, EdgeAcc>();
    for (const [k, e] of this.done) acc.set(k, { ...e, hist: LatencyHistogram.of(e.hist.counts) });
    for (const c of this.conns.values()) this.fold(c, acc);
    return [...acc.values()].map((e) => ({
      from: e.from, to: e.to, protocol: e.protocol, requests: e.requests, errors: e.errors,
      p50Ns: e.hist.quantile(0.5), p99Ns: e.hist.quantile(0.99),
    })).sort((a, b) => b.requests - a.requests || a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
  }

  private fold(c: Conn, into: Map<string, EdgeAcc>): void {
    const from = c.client ?? c.clientAddr;
    const to = c.server ?? c.serverAddr;
    const key = `${c.protocol}\0${from}\0${to}`;
    let e = into.get(key);
    if (!e) into.set(key, (e = { from, to, protocol: c.protocol, requests: 0, errors: 0, hist: new LatencyHistogram() }));
    (c.byServer.count ? c.byServer : c.byClient).into(e);
  }
}

/** Edges as JSON-ready objects with their rate over `seconds`. Pure. */
export function serviceMapJson(edges: readonly ServiceEdge[], seconds: number): object {
  return {
    seconds,
    edges: edges.map((e) => ({ ...e, requestsPerS: seconds > 0 ? e.requests / seconds : 0 })),
  };
}

const fmtMs = (ns: number): string => `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 0)}ms`;
const quote = (s: string): string => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;

/** Graphviz DOT: a node per process or address, an edge per caller → callee with its rate, errors and p50/p99. Pure. */
export function serviceMapDot(edges: readonly ServiceEdge[], seconds: number): string {
  const out = ['digraph vigil_service_map {', '  rankdir=LR;', '  node [shape=box, style=rounded];'];
  for (const e of edges) {
    const rps = seconds > 0 ? e.requests / seconds : 0;
    const label = `${e.protocol} ${rps.toFixed(rps < 10 ? 2 : 0)} req/s, ${e.errors} err\\np50 ${fmtMs(e.p50Ns)} p99 ${fmtMs(e.p99Ns)}`;
    out.push(`  ${quote(e.from)} -> ${quote(e.to)} [label="${label}"${e.errors ? ', color=red' : ''}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
