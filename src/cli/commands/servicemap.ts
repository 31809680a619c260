// vigil servicemap: who calls whom, from the L7 sensors' records, as JSON or
// Graphviz DOT: watched for --duration seconds here, or the running agent's
// (--socket: since its L7 sensor started). The edges are src/l7/servicemap.ts's,
// the same the agent's GetServiceMap and the console's map give.
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { parseFlags, positive } from '../flags.js';
import { Shutdown } from '../shutdown.js';
import { ensureTracefs, NotSupportedError } from '../../bpf/index.js';
import { L7Sensor } from '../../l7/sensor.js';
import { ServiceMap, serviceMapDot, serviceMapJson, type ServiceEdge } from '../../l7/servicemap.js';
import { L7_PROTOCOLS, type L7Protocol } from '../../l7/types.js';

const FORMATS = ['json', 'dot'] as const;

const usage = `usage: vigil servicemap [--format json|dot] [--duration S] [--protocols LIST] | --socket PATH

Who calls whom over HTTP, gRPC, Redis, PostgreSQL, MySQL and Kafka (docs/l7.md,
"Service map"): an edge per caller and callee with requests/s, errors and
p50/p99 latency (kernel times, within 12.5%). A node is a process (its name)
where that side of the connection is on this host, else its address (the
callee's with its port). A request between two local processes counts once.

  --format FORMAT    json (default) or dot (Graphviz: vigil servicemap --format dot | dot -Tsvg)
  --duration S       seconds to watch (default 10); Ctrl-C prints what was seen so far
  --protocols LIST   comma-separated, of ${L7_PROTOCOLS.join(', ')} (default all)
  --socket PATH      the running agent's map instead (since its L7 sensor started; --duration
                     and --protocols are the agent's sensors then)
  -h, --help`;

export interface ServiceMapArgs {
  format: (typeof FORMATS)[number];
  durationS: number;
  protocols: L7Protocol[];
  socket: string | undefined;
}

export function parseServiceMapArgs(argv: string[]): ServiceMapArgs {
  const { values, positionals } = parseFlags({
    args: argv,
    options: { format: { type: 'string', default: 'json' }, duration: { type: 'string' }, protocols: { type: 'string' }, socket: { type: 'string' } },
    allowPositionals: true,
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!(FORMATS as readonly string[]).includes(values.format)) throw new UsageError(`--format: unknown format "${values.format}"; available: ${FORMATS.join(', ')}`);
  if (values.socket !== undefined && (values.duration !== undefined || values.protocols !== undefined)) {
    throw new UsageError('--socket: the agent\'s map covers its own time and sensors; drop --duration and --protocols');
  }
  const protocols = (values.protocols ?? L7_PROTOCOLS.join(',')).split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of protocols) {
    if (!(L7_PROTOCOLS as readonly string[]).includes(p)) throw new UsageError(`--protocols: unknown protocol "${p}"; available: ${L7_PROTOCOLS.join(', ')}`);
  }
  if (!protocols.length) throw new UsageError(`--protocols: empty list; available: ${L7_PROTOCOLS.join(', ')}`);
  return {
    format: values.format as ServiceMapArgs['format'], durationS: positive('--duration', values.duration, false) ?? 10,
    protocols: protocols as L7Protocol[], socket: values.socket,
  };
}

async function fromAgent(o: ServiceMapArgs): Promise<number> {
  const { callAgent, socketPath } = await import('../../agent/client.js');
  const r = await callAgent<{ seconds: number; edges: (Omit<ServiceEdge, 'requests' | 'errors' | 'p50Ns' | 'p99Ns'> &
    Record<'requests' | 'errors' | 'p50Ns' | 'p99Ns', string | number>)[] }>(socketPath(o.socket), 'GetServiceMap', {});
  // uint64 fields come as strings.
  const edges = r.edges.map((e) => ({ ...e, requests: Number(e.requests), errors: Number(e.errors), p50Ns: Number(e.p50Ns),
    p99Ns: Number(e.p99Ns) }));
  print(o.format, edges, r.seconds);
  return 0;
}

function print(format: ServiceMapArgs['format'], edges: readonly ServiceEdge[], seconds: number): void {
  process.stdout.write(format === 'dot' ? serviceMapDot(edges, seconds) : `${JSON.stringify(serviceMapJson(edges, seconds))}\n`);
}

export const command: Command = {
  name: 'servicemap',
  summary: 'who calls whom (HTTP, gRPC, Redis, PostgreSQL, MySQL, Kafka): requests/s, errors, p50/p99, as JSON or Graphviz DOT',
  usage,
  async run(argv) {
    const o = parseServiceMapArgs(argv);
    if (o.socket !== undefined) return fromAgent(o);
    const tracefs = ensureTracefs();
    if (!tracefs.path) throw new NotSupportedError('tracefs', tracefs.reason ?? 'tracefs is not mounted');
    using shutdown = new Shutdown('servicemap');
    const map = new ServiceMap();
    const sensor = await L7Sensor.start({ protocols: new Set(o.protocols), onRecord: (r) => map.observe(r) });
    const started = Date.now();
    process.stderr.write(`vigil servicemap: watching ${o.protocols.join(', ')} for ${o.durationS} s; Ctrl-C to stop\n`);
    const timer = setTimeout(() => shutdown.stop('duration'), o.durationS * 1000);
    await shutdown.stopped;
    clearTimeout(timer);
    // Detached, then what the ring still holds is read (its records join the map).
    await shutdown.close(() => sensor.close());
    print(o.format, map.edges(), (Date.now() - started) / 1000);
    return 0;
  },
};
