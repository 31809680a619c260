// The agent's configuration: one YAML file, validated with positions the way
// policies are (the same Validator over `yaml`'s nodes: src/policy/schema.ts),
// so every problem is one line `file:line:col: field: reason`.
//
// Pure: nothing is loaded. Whether the policy and rules files it names load
// is the agent's to say (their own positions, then).
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { LineCounter, parseDocument } from 'yaml';
import { Positions, Validator, formatDiagnostic, type PolicyDiagnostic, type Schema } from '../policy/schema.js';
import type { SourcePos } from '../policy/ir.js';
import { parseByteSize } from '../pipeline/size.js';
import { parseListenAddress, type ListenAddress } from '../telemetry/address.js';
import { CidrError, formatCidr, parseCidr } from '../kernel/addr.js';
import { CAPABILITIES, capabilityName, capabilityNumber } from '../kernel/capabilities.js';
import { VIGIL_FW_MAX_BURST, VIGIL_FW_MAX_PPS } from '../generated/firewall.js';
import { VIGIL_L7_DATA_MAX } from '../generated/l7.js';
import { L7_PROTOCOLS } from '../l7/types.js';
import { DEFAULT_CAPTURE_BYTES } from '../l7/sensor.js';
import { nodeLabelProblem, type NodeCluster } from '../util/node.js';

export const DEFAULT_CONFIG_PATH = '/etc/vigil/agent.yaml';
export const DEFAULT_SOCKET = '/run/vigil/vigil.sock';
export const DEFAULT_HEALTH_ADDRESS = '127.0.0.1:9410';
export const DEFAULT_STATE_DIRECTORY = '/var/lib/vigil';
/** Sensors whose events the agent streams. */
export const AGENT_SENSORS = ['exec', 'exit', 'fork', 'file', 'flow', 'dns', ...L7_PROTOCOLS, 'profile'] as const;
export type AgentSensor = (typeof AGENT_SENSORS)[number];
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface AgentConfig {
  /** Where it was read from ("" for the defaults). */
  readonly file: string;
  readonly api: {
    readonly socket: string;
    /** A group allowed to use the socket (mode 0660); undefined: root only (0600). */
    readonly group: string | undefined;
    /** Bytes a client may leave unread before it is cut off. */
    readonly clientBuffer: number;
  };
  /** host:port of /healthz and /readyz; undefined: off. */
  readonly health: { readonly host: string; readonly port: number } | undefined;
  readonly sensors: readonly AgentSensor[];
  readonly includeSelf: boolean;
  /** Events kept for `vigil events --last/--since`. */
  readonly historyEvents: number;
  /** TracingPolicy files or directories, and Falco rules files or directories. */
  readonly policies: readonly string[];
  readonly rules: readonly string[];
  readonly logLevel: LogLevel;
  /** Prometheus at `address` (undefined: not served); BPF run-time statistics on (Prometheus and OTLP). */
  readonly metrics: { readonly address: ListenAddress | undefined; readonly bpfStats: boolean } | undefined;
  /** OTLP export: metrics every interval; events and alerts as log records (logs), queued up to bufferBytes. */
  readonly otlp: {
    readonly endpoint: string; readonly intervalMs: number; readonly logs: boolean; readonly bufferBytes: number;
    /** Spans of the http sensor's requests (docs/l7.md, "Traces"). */
    readonly traces: boolean;
  } | undefined;
  /** The flow and dns sensors' settings (vigil observe's --dns-port, --udp-window). */
  readonly network: { readonly dnsPorts: readonly number[]; readonly udpWindowMs: number };
  /** The L7 sensors' settings (http, redis, pgsql; docs/l7.md): observe's --l7-capture and --l7-full-capture. */
  readonly l7: {
    readonly captureBytes: number; readonly fullCapture: boolean; readonly maxConnections: number;
    /** TLS plaintext through uprobes (default true); binaries: more files to attach to. */
    readonly tls: boolean; readonly tlsBinaries: readonly string[];
  };
  /** The profile sensor's settings: CPU samples a second per CPU, and how often its folded stacks go to the store. */
  readonly profile: { readonly frequency: number; readonly intervalMs: number };
  /** Where policies and rules added through the API are kept across restarts. */
  readonly stateDirectory: string;
  /** XDP firewalls the agent keeps as written here, one per interface. */
  readonly firewall: readonly FirewallConfig[];
  /** The web console's host:port (docs/store.md); undefined: off. */
  readonly console: { readonly host: string; readonly port: number } | undefined;
  /** The CRI runtime naming the pods of policies scoped to pods: a socket, 'none', or undefined (the first default that exists). */
  readonly cri: { readonly socket: string | undefined };
  /** Docker's or Podman's API socket naming the containers of events: a socket, 'none', or undefined (the first default that exists). */
  readonly containerEngine: { readonly socket: string | undefined };
  /**
   * The cluster in every event's envelope (cluster_name, node_labels); undefined: $VIGIL_CLUSTER_NAME and
   * $VIGIL_NODE_LABELS (src/util/node.ts).
   */
  readonly cluster: NodeCluster | undefined;
  /** The embedded store (docs/store.md); undefined: off (store.enabled: false). */
  readonly store: StoreConfig | undefined;
  /**
   * BPF objects' signatures (docs/ebpf-security.md): unsigned objects refused unless `require` is false;
   * `keys`: the public key files to trust (undefined: the build's, or VIGIL_TRUSTED_KEYS).
   */
  readonly signing: { readonly require: boolean; readonly keys: readonly string[] | undefined };
  /**
   * Least privilege (docs/agent.md, "Capabilities"): drop every capability the configured features do not
   * need at start (`drop`, default true), keeping `keep` as well.
   */
  readonly capabilities: { readonly drop: boolean; readonly keep: readonly string[] };
  /** Where each field was written, for errors found later (a policy path that does not load). */
  readonly positions: Positions;
}

/** One interface's XDP firewall (src/network/firewall.ts), as the agent keeps it. */
export interface FirewallConfig {
  readonly interface: string;
  /** undefined: the driver's mode when it has one, else generic. */
  readonly mode: 'native' | 'generic' | undefined;
  /** CIDRs as stored (host bits cleared). */
  readonly block: readonly string[];
  readonly allow: readonly string[];
  readonly rateLimit: { readonly pps: number; readonly burst: number } | undefined;
}

export interface StoreConfig {
  /** The DuckDB file (default: store.duckdb in the state directory). */
  readonly path: string;
  /** Rows older than this are deleted; the file is kept under maxBytes (the oldest rows go first). */
  readonly maxAgeMs: number;
  readonly maxBytes: number;
  /** Rows queued for the store at most before events are dropped (and counted). */
  readonly queueRows: number;
  /** Each query's time limit, and the store's memory limit (queries run one at a time). */
  readonly queryTimeoutMs: number;
  readonly queryMemoryBytes: number;
}

/** 49 Hz: a prime (no beat with periodic work), about 0.1% of a CPU for the kernel's stack walks. */
export const PROFILE_DEFAULTS = { frequency: 49, intervalMs: 10_000 };

export const STORE_DEFAULTS = { maxAgeMs: 24 * 3_600_000, maxBytes: 1 << 30, queueRows: 100_000, queryTimeoutMs: 10_000, queryMemoryBytes: 256 << 20 };

const AGE_UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "24h", "90m", "7d": ms; undefined if not a duration. */
export function parseAge(v: string): number | undefined {
  const m = /^(\d+)(s|m|h|d)$/.exec(v);
  return m ? Number(m[1]) * AGE_UNIT_MS[m[2]!]! : undefined;
}

const str: Schema = { t: 'string' };
const paths: Schema = { t: 'array', items: { t: 'string', minLength: 1 } };
const CONFIG_SCHEMA: Schema = {
  t: 'object',
  props: {
    api: { t: 'object', props: { socket: { t: 'string', minLength: 1 }, group: str, clientBuffer: str } },
    health: { t: 'object', props: { address: str } },
    sensors: { t: 'array', items: { t: 'string', enum: AGENT_SENSORS } },
    includeSelf: { t: 'boolean' },
    history: { t: 'object', props: { events: { t: 'integer', min: 0, max: 1_000_000 } } },
    policies: paths,
    rules: paths,
    log: { t: 'object', props: { level: { t: 'string', enum: LOG_LEVELS } } },
    metrics: { t: 'object', props: { address: str, bpfStats: { t: 'boolean' } } },
    // interval: seconds, a fraction allowed (the schema's numbers are integers).
    otlp: { t: 'object', props: { endpoint: { t: 'string', minLength: 1 }, interval: { t: 'any' }, logs: { t: 'boolean' }, traces: { t: 'boolean' }, buffer: str } },
    state: { t: 'object', props: { directory: { t: 'string', minLength: 1 } } },
    firewall: {
      t: 'array',
      items: {
        t: 'object', required: ['interface'],
        props: {
          interface: { t: 'string', minLength: 1, maxLength: 15 }, mode: { t: 'string', enum: ['native', 'generic'] },
          block: { t: 'array', items: str }, allow: { t: 'array', items: str },
          rateLimit: { t: 'object', required: ['pps'], props: { pps: { t: 'integer', min: 1, max: VIGIL_FW_MAX_PPS }, burst: { t: 'integer', min: 1, max: VIGIL_FW_MAX_BURST } } },
        },
      },
    },
    console: { t: 'object', props: { address: str } },
    cri: { t: 'object', props: { socket: { t: 'string', minLength: 1 } } },
    containerEngine: { t: 'object', props: { socket: { t: 'string', minLength: 1 } } },
    cluster: { t: 'object', props: { name: { t: 'string', minLength: 1 }, nodeLabels: { t: 'map', values: str } } },
    store: {
      t: 'object',
      props: {
        enabled: { t: 'boolean' }, path: { t: 'string', minLength: 1 },
        retention: { t: 'object', props: { age: str, size: str } },
        queue: { t: 'integer', min: 1000, max: 10_000_000 },
        query: { t: 'object', props: { timeout: { t: 'integer', min: 1, max: 3600 }, memory: str } },
      },
    },
    signing: { t: 'object', props: { require: { t: 'boolean' }, keys: paths } },
    capabilities: { t: 'object', props: { drop: { t: 'boolean' }, keep: { t: 'array', items: { t: 'string', minLength: 1 } } } },
    l7: {
      t: 'object',
      props: {
        captureBytes: { t: 'integer', min: 16, max: VIGIL_L7_DATA_MAX }, fullCapture: { t: 'boolean' },
        maxConnections: { t: 'integer', min: 16, max: 1_048_576 },
        tls: { t: 'boolean' }, tlsBinaries: paths,
      },
    },
    profile: { t: 'object', props: { frequency: { t: 'integer', min: 1, max: 999 /* the sampler's MAX_FREQUENCY */ }, interval: { t: 'integer', min: 1, max: 3600 } } },
    network: {
      t: 'object',
      props: { dnsPorts: { t: 'array', items: { t: 'integer', min: 1, max: 65535 }, maxItems: 4 }, udpWindow: { t: 'integer', min: 1, max: 3600 } },
    },
  },
};

interface RawConfig {
  api?: { socket?: string; group?: string; clientBuffer?: string };
  health?: { address?: string };
  sensors?: AgentSensor[];
  includeSelf?: boolean;
  history?: { events?: number };
  policies?: string[];
  rules?: string[];
  log?: { level?: LogLevel };
  metrics?: { address?: string; bpfStats?: boolean } | null;
  otlp?: { endpoint?: string; interval?: unknown; logs?: boolean; traces?: boolean; buffer?: string } | null;
  state?: { directory?: string };
  console?: { address?: string } | null;
  cri?: { socket?: string };
  containerEngine?: { socket?: string };
  cluster?: { name?: string; nodeLabels?: Record<string, string> } | null;
  store?: { enabled?: boolean; path?: string; retention?: { age?: string; size?: string }; queue?: number; query?: { timeout?: number; memory?: string } } | null;
  network?: { dnsPorts?: number[]; udpWindow?: number };
  signing?: { require?: boolean; keys?: string[] } | null;
  capabilities?: { drop?: boolean; keep?: string[] } | null;
  l7?: { captureBytes?: number; fullCapture?: boolean; maxConnections?: number; tls?: boolean; tlsBinaries?: string[] };
  profile?: { frequency?: number; interval?: number };
  firewall?: { interface: string; mode?: 'native' | 'generic'; block?: string[]; allow?: string[]; rateLimit?: { pps: number; burst?: number } }[];
}

/** The configuration did not load; each diagnostic names file:line:col, the field and why. */
export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';
  constructor(readonly diagnostics: readonly PolicyDiagnostic[], message?: string, options?: ErrorOptions) {
    super(message ?? diagnostics.map(formatDiagnostic).join('\n'), options);
  }
}

/** "host:port" (an IPv6 host in brackets); "" or "off" is off. */
export function parseAddress(v: string): { host: string; port: number } | undefined | Error {
  if (v === '' || v === 'off') return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(v);
  const host = m?.[1] ?? m?.[2] ?? '';
  const port = Number(m?.[3]);
  if (!m || port > 65535 || (host !== 'localhost' && isIP(host) === 0)) {
    return new Error(`expected host:port with an IP address (127.0.0.1:9410, [::1]:9410) or off, got "${v}"`);
  }
  return { host, port };
}

/** Parses and checks a configuration's text (`name` is how positions name it). */
export function parseAgentConfig(name: string, content: string): AgentConfig {
  const lc = new LineCounter();
  const doc = parseDocument(content, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const diags: PolicyDiagnostic[] = [];
  for (const e of doc.errors) {
    const { line, col } = lc.linePos(e.pos[0]);
    diags.push({ pos: { file: name, line, col }, path: '', message: `YAML: ${e.message.split('\n')[0]!}` });
  }
  if (diags.length) throw new AgentConfigError(diags);
  const root: SourcePos = { file: name, line: 1, col: 1 };
  const positions = new Positions(name, root);
  // Keys spelled in another case: the policy validator's warnings, errors here (one spelling only).
  const caseVariants: PolicyDiagnostic[] = [];
  const v = new Validator(doc, lc, positions, diags, caseVariants);
  const raw = (doc.contents === null ? {} : v.validate(doc.contents, CONFIG_SCHEMA, '', root)) as RawConfig | undefined;
  for (const d of caseVariants) {
    const m = /^"([^"]*)" is read as "([^"]*)"/.exec(d.message);
    diags.push({ ...d, message: m ? `unknown field "${m[1]}" (did you mean "${m[2]}"? keys are case-sensitive)` : d.message });
  }
  const at = (path: string, message: string): void => void diags.push({ pos: positions.of(path), path, message });

  const clientBuffer = raw?.api?.clientBuffer === undefined ? 16 << 20 : parseByteSize(raw.api.clientBuffer);
  if (clientBuffer === undefined) at('api.clientBuffer', `expected a size such as 4MiB or 512KiB, got "${raw?.api?.clientBuffer}"`);
  else if (clientBuffer < 64 << 10) at('api.clientBuffer', 'at least 64KiB');
  const group = raw?.api?.group;
  if (group !== undefined && !/^[a-z_][a-z0-9_-]*\$?$|^\d+$/i.test(group)) at('api.group', `expected a group name or id, got "${group}"`);
  const health = parseAddress(raw?.health?.address ?? DEFAULT_HEALTH_ADDRESS);
  if (health instanceof Error) at('health.address', health.message);
  (raw?.signing?.keys ?? []).forEach((p, i) => {
    const path = `signing.keys[${i}]`;
    if (!p.startsWith('/')) at(path, `expected an absolute path to a PEM ed25519 public key, got "${p}"`);
    else if (!statSync(p, { throwIfNoEntry: false })?.isFile()) at(path, `no such file: ${p}`);
  });
  const keep = (raw?.capabilities?.keep ?? []).map((c, i) => {
    const n = capabilityNumber(c);
    if (n === undefined || n >= CAPABILITIES.length) at(`capabilities.keep[${i}]`, `unknown capability "${c}" (e.g. CAP_SYS_PTRACE)`);
    return n === undefined ? c : capabilityName(n);
  });
  for (const key of ['policies', 'rules'] as const) {
    (raw?.[key] ?? []).forEach((p, i) => {
      const path = `${key}[${i}]`;
      if (!p.startsWith('/')) at(path, `expected an absolute path (the agent's working directory is not the file's), got "${p}"`);
      else if (!statSync(p, { throwIfNoEntry: false })) at(path, `no such file or directory: ${p}`);
    });
  }
  // An empty section (`otlp:`, `metrics: {}`) is no section.
  const given = (o: object | null | undefined): boolean => o !== null && o !== undefined && Object.keys(o).length > 0;
  let metrics: AgentConfig['metrics'];
  if (raw?.metrics && given(raw.metrics)) {
    const m = raw.metrics;
    const address = m.address === undefined ? undefined : parseListenAddress(m.address);
    if (typeof address === 'string') at('metrics.address', address);
    else if (address !== undefined || m.bpfStats) metrics = { address, bpfStats: m.bpfStats ?? false };
  }
  let otlp: AgentConfig['otlp'];
  if (raw?.otlp && given(raw.otlp)) {
    const o = raw.otlp;
    const interval = o.interval ?? 10;
    const buffer = o.buffer === undefined ? 16 << 20 : parseByteSize(o.buffer);
    let url: URL | undefined;
    try {
      url = new URL(o.endpoint ?? '');
    } catch {
      // Said below.
    }
    if (o.endpoint === undefined) at('otlp', 'expected endpoint (the collector\'s URL, http://HOST:4318)');
    else if (url?.protocol !== 'http:' && url?.protocol !== 'https:') at('otlp.endpoint', `expected an http:// or https:// URL, got "${o.endpoint}"`);
    if (typeof interval !== 'number' || !(interval > 0) || interval > 86_400) at('otlp.interval', `expected seconds (more than 0, at most 86400), got ${JSON.stringify(interval)}`);
    if (buffer === undefined) at('otlp.buffer', `expected a size such as 4MiB or 512KiB, got "${o.buffer}"`);
    else if (buffer < 64 << 10) at('otlp.buffer', 'at least 64KiB');
    if (o.traces && !(raw.sensors ?? []).includes('http')) at('otlp.traces', 'spans of HTTP requests: add http to sensors');
    otlp = { endpoint: o.endpoint ?? '', intervalMs: Number(interval) * 1000, logs: o.logs ?? true, bufferBytes: buffer ?? 0, traces: o.traces ?? false };
  }
  if (metrics?.bpfStats && !metrics.address && !otlp) at('metrics.bpfStats', 'the statistics would go nowhere; add metrics.address or an otlp section');
  const stateDirectory = raw?.state?.directory ?? DEFAULT_STATE_DIRECTORY;
  if (!stateDirectory.startsWith('/')) at('state.directory', `expected an absolute path, got "${stateDirectory}"`);
  const firewall: FirewallConfig[] = [];
  (raw?.firewall ?? []).forEach((f, i) => {
    const base = `firewall[${i}]`;
    if (firewall.some((o) => o.interface === f.interface)) at(`${base}.interface`, `"${f.interface}" has a firewall above; one entry per interface`);
    const cidrs = (key: 'block' | 'allow'): string[] => (f[key] ?? []).flatMap((c, j) => {
      try {
        return [formatCidr(parseCidr(c))];
      } catch (e) {
        if (!(e instanceof CidrError)) throw e;
        at(`${base}.${key}[${j}]`, e.message);
        return [];
      }
    });
    firewall.push({
      interface: f.interface, mode: f.mode, block: [...new Set(cidrs('block'))], allow: [...new Set(cidrs('allow'))],
      rateLimit: f.rateLimit && { pps: f.rateLimit.pps, burst: f.rateLimit.burst ?? f.rateLimit.pps },
    });
  });
  let store: StoreConfig | undefined;
  if (raw?.store?.enabled !== false) {
    const o = raw?.store ?? {};
    const path = o.path ?? `${stateDirectory.replace(/\/+$/, '')}/store.duckdb`;
    if (o.path !== undefined && !o.path.startsWith('/')) at('store.path', `expected an absolute path, got "${o.path}"`);
    const maxAgeMs = o.retention?.age === undefined ? STORE_DEFAULTS.maxAgeMs : parseAge(o.retention.age);
    if (maxAgeMs === undefined || maxAgeMs < 60_000) at('store.retention.age', `expected a duration of a minute or more (90m, 24h, 7d), got "${o.retention?.age}"`);
    const maxBytes = o.retention?.size === undefined ? STORE_DEFAULTS.maxBytes : parseByteSize(o.retention.size);
    if (maxBytes === undefined) at('store.retention.size', `expected a size such as 512MiB or 1GiB, got "${o.retention?.size}"`);
    else if (maxBytes < 16 << 20) at('store.retention.size', 'at least 16MiB');
    const memory = o.query?.memory === undefined ? STORE_DEFAULTS.queryMemoryBytes : parseByteSize(o.query.memory);
    if (memory === undefined) at('store.query.memory', `expected a size such as 256MiB, got "${o.query?.memory}"`);
    else if (memory < 32 << 20) at('store.query.memory', 'at least 32MiB');
    store = {
      path, maxAgeMs: maxAgeMs ?? 0, maxBytes: maxBytes ?? 0, queueRows: o.queue ?? STORE_DEFAULTS.queueRows,
      queryTimeoutMs: (o.query?.timeout ?? STORE_DEFAULTS.queryTimeoutMs / 1000) * 1000, queryMemoryBytes: memory ?? 0,
    };
  }
  const consoleAddress = raw?.console?.address === undefined ? undefined : parseAddress(raw.console.address);
  if (consoleAddress instanceof Error) at('console.address', consoleAddress.message);
  else if (consoleAddress && !store) at('console.address', 'the console shows the store: it needs store.enabled');
  if (raw?.sensors?.includes('profile') && !store) at('sensors', 'the profile sensor writes its stacks to the store: it needs store.enabled');
  const criSocket = raw?.cri?.socket;
  const engineSocket = raw?.containerEngine?.socket;
  for (const [key, v] of [['cri.socket', criSocket], ['containerEngine.socket', engineSocket]] as const) {
    if (v !== undefined && v !== 'none' && !v.startsWith('/')) at(key, `expected an absolute path or "none", got "${v}"`);
  }
  for (const [k, v] of Object.entries(raw?.cluster?.nodeLabels ?? {})) {
    const problem = nodeLabelProblem(k, v);
    if (problem) at(`cluster.nodeLabels.${k}`, problem);
  }
  if (diags.length || !raw) throw new AgentConfigError(diags);
  return {
    cri: { socket: criSocket },
    cluster: raw.cluster ? { name: raw.cluster.name ?? '', labels: { ...raw.cluster.nodeLabels } } : undefined,
    containerEngine: { socket: engineSocket },
    file: name,
    api: { socket: raw.api?.socket ?? DEFAULT_SOCKET, group, clientBuffer: clientBuffer! },
    health: health as AgentConfig['health'],
    sensors: raw.sensors?.length ? [...new Set(raw.sensors)] : ['exec', 'exit', 'file'],
    includeSelf: raw.includeSelf ?? false,
    historyEvents: raw.history?.events ?? 4096,
    policies: raw.policies ?? [],
    rules: raw.rules ?? [],
    logLevel: raw.log?.level ?? 'info',
    metrics,
    otlp,
    stateDirectory,
    firewall,
    console: consoleAddress as AgentConfig['console'],
    store,
    capabilities: { drop: raw.capabilities?.drop ?? true, keep: [...new Set(keep)] },
    signing: { require: raw.signing?.require ?? true, keys: raw.signing?.keys?.length ? raw.signing.keys : undefined },
    network: { dnsPorts: raw.network?.dnsPorts?.length ? [...new Set(raw.network.dnsPorts)] : [53], udpWindowMs: (raw.network?.udpWindow ?? 10) * 1000 },
    l7: { captureBytes: raw.l7?.captureBytes ?? DEFAULT_CAPTURE_BYTES, fullCapture: raw.l7?.fullCapture ?? false,
      maxConnections: raw.l7?.maxConnections ?? 16384, tls: raw.l7?.tls ?? true, tlsBinaries: raw.l7?.tlsBinaries ?? [] },
    profile: {
      frequency: raw.profile?.frequency ?? PROFILE_DEFAULTS.frequency,
      intervalMs: raw.profile?.interval === undefined ? PROFILE_DEFAULTS.intervalMs : raw.profile.interval * 1000,
    },
    positions,
  };
}

/** Reads and checks a configuration file; a missing or unreadable file is one diagnostic too. */
export function loadAgentConfig(file: string): AgentConfig {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new AgentConfigError([], `${file}: cannot read: ${err.code ?? err.message}`);
  }
  return parseAgentConfig(file, content);
}
