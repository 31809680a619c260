// `vigil agent`: the sensors, policies and rules of one configuration, one
// pipeline (rings merged in time order), and every consumer a listener of it:
// the event-stream clients of the local API, with the history they can ask
// for. Reloads (SIGHUP) apply what can change while running.
//
//   process, file, flow sensors ─┐                          ┌─► EventHub ─► history
//   policy engine ───────────────┼─► EventPipeline ─────────┤             └► each GetEvents client (own filter, own bound)
//   rules' syscall sensor ───────┘   (time order)           ├─► store sink (bounded) ─► the store's thread (DuckDB; Query RPC)
//                                                            ├─► OTLP logs
//                                                            └─► rules (every event once; alerts released right after it)
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { ensureTracefs, NotSupportedError } from '../bpf/index.js';
import { FilterSet } from '../sensors/filter.js';
import type { ProcessEventKind } from '../sensors/process.js';
import { ProcessCache } from '../process/cache.js';
import { BootClock } from '../util/clock.js';
import { setNodeCluster } from '../util/node.js';
import { EventPipeline, type LossReason } from '../pipeline/index.js';
import { startEventSensors, type EventSensors, type SensorPipeline } from '../pipeline/event-sensors.js';
import { formatDiagnostic } from '../policy/schema.js';
import { AgentConfigError, type AgentConfig, type AgentSensor } from './config.js';
import { agentEventKind, agentEventSensor, agentEventTime, type AgentEvent, type AgentPipelineEvent } from './events.js';
import { EventHub, type EventsResponse } from './hub.js';
import { AgentPolicies } from './policies.js';
import { AgentRules } from './rules.js';
import { AgentFirewall, type FirewallChange } from './firewall.js';
import { FirewallError } from '../network/firewall.js';
import { StateError, StateStore, type ApiState, type StoredPolicy, type StoredRules } from './state.js';
import { serveApi, statusOf, stopApi, unaryHandlers } from './api.js';
import { subscribe, RequestError, type GetEventsRequest } from './subscription.js';
import type { AgentLogger } from './log.js';
import { Telemetry, otlpLogSink } from '../telemetry/index.js';
import { eventFormatter, formatEvent } from '../output/event-format.js';
import { otlpRecord } from '../output/otlp-records.js';
import { describeLosses, type Sink } from '../pipeline/index.js';
import { StoreSink } from '../store/sink.js';
import { StoreError, StoreThread } from '../store/thread.js';
import { ConsoleServer } from './console.js';
import { DEFAULT_QUERY_OPTIONS } from '../store/store.js';
import { PathWatcher } from './watch.js';
import { ContainerNames } from './names.js';
import { L7Sensor, tlsNotes } from '../l7/sensor.js';
import { L7Metrics } from '../l7/metrics.js';
import { ServiceMap, type ServiceEdge } from '../l7/servicemap.js';
import { OtlpTraces, reportTraces } from '../telemetry/otlp-traces.js';
import { L7_PROTOCOLS, type L7Protocol } from '../l7/types.js';
import { AgentProfile } from './profile.js';

export type AgentState = 'starting' | 'ready' | 'reloading' | 'stopping';

const PROCESS_KINDS: Record<AgentSensor, ProcessEventKind[]> = {
  exec: ['exec', 'exec_failed'], exit: ['exit'], fork: ['fork'], file: [], flow: [], dns: [], http: [], redis: [], pgsql: [], mysql: [],
  grpc: [], kafka: [], profile: [],
};

/** Settings only a restart applies (the rest a reload does). */
function restartOnly(c: AgentConfig): string {
  return JSON.stringify([c.api, c.health, c.sensors, c.network, c.includeSelf, c.metrics, c.otlp, c.stateDirectory, c.store, c.console, c.cri, c.containerEngine]);
}

/** How long the OTLP log output may take for what is queued when the agent stops. */
const OTLP_GRACE_MS = 250;
/** How long the store may take to append what is queued when the agent stops. */
const STORE_GRACE_MS = 1000;
/** How often the store's retention runs. */
const RETENTION_INTERVAL_MS = 60_000;

const wallNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

export class Agent {
  state: AgentState = 'starting';
  private config: AgentConfig;
  private readonly filter: FilterSet;
  private readonly cache = new ProcessCache();
  /** Policy events and alerts carry wall time; the pipeline's events kernel time too. */
  private readonly clock = BootClock.measure();
  private readonly hub: EventHub;
  private readonly pipeline: EventPipeline<AgentPipelineEvent, AgentEvent>;
  /** The process event kinds the configuration's sensors deliver to clients (the rules may read more). */
  private readonly processKinds: ReadonlySet<ProcessEventKind>;
  private readonly tap: SensorPipeline;
  private readonly policies: AgentPolicies;
  private readonly rules: AgentRules;
  private readonly firewall = new AgentFirewall();
  /** What the API added, kept across restarts (state.directory). */
  private readonly store: StateStore;
  /** Kept policies and rules that did not load again at start: still kept, until deleted. */
  private unrestored: { policies: StoredPolicy[]; rules: StoredRules[] } = { policies: [], rules: [] };
  private sensors: EventSensors | undefined;
  /** The L7 sensor (http, redis, pgsql in `sensors`) and its records' duration histograms (Prometheus). */
  private l7: L7Sensor | undefined;
  private l7Metrics: L7Metrics | undefined;
  /** The profile sensor: folded stacks to the store each profile.interval. */
  private profile: AgentProfile | undefined;
  /** Who calls whom, from the L7 records (GetServiceMap, the console's map), and when the sensor started (ms). */
  private serviceMap: { map: ServiceMap; sinceMs: number } | undefined;
  /** The http sensor's spans (otlp.traces). */
  private traces: OtlpTraces | undefined;
  private api: grpc.Server | undefined;
  private health: http.Server | undefined;
  private kernelLost = 0;
  private telemetry: Telemetry | undefined;
  /** The OTLP log output (otlp.logs): one more sink of the pipeline, its queue the retry buffer. */
  private readonly otlpLogs: Sink<AgentEvent> | undefined;
  /** The embedded store (store in the configuration) and its sink, behind its own bounded queue. */
  private storeThread: StoreThread | undefined;
  private storeSink: StoreSink<AgentEvent> | undefined;
  private retention: NodeJS.Timeout | undefined;
  private console: ConsoleServer | undefined;
  /** The configuration's policy and rules files: a change below them is applied live. */
  private applyingFiles: Promise<void> | undefined;
  /** The files changed while a reload or an apply ran. */
  private filesPending = false;
  /** Pod and container names for the events' processes (cri.socket, containerEngine.socket). */
  private readonly names = new ContainerNames();
  private readonly files = new PathWatcher(() => void this.filesChanged(), (p, err) => this.log.warn({ path: p, err }, 'cannot watch for changes'));

  private constructor(config: AgentConfig, private readonly log: AgentLogger) {
    this.config = config;
    setNodeCluster(config.cluster);
    this.store = new StateStore(config.stateDirectory);
    this.filter = new FilterSet({ excludeSelf: !config.includeSelf });
    this.hub = new EventHub(config.historyEvents, config.api.clientBuffer, this.cache.node, log);
    this.processKinds = new Set(config.sensors.flatMap((s) => PROCESS_KINDS[s]));
    const files = config.sensors.includes('file');
    this.pipeline = new EventPipeline<AgentPipelineEvent, AgentEvent>({
      timeOf: agentEventTime, sensorOf: agentEventSensor, kindOf: agentEventKind, now: wallNs,
      // What the configuration's sensors report goes out; what only the rules asked for feeds them alone.
      select: (e): e is AgentEvent => {
        switch (e.kind) {
          case 'sys': return false;
          case 'file': return files;
          case 'exec': case 'exec_failed': case 'exit': case 'fork': return this.processKinds.has(e.kind);
          default: return true;
        }
      },
      derive: (e, emit) => this.rules.evaluate(e, (alert) => emit({ kind: 'alert', alert, timeBootNs: this.clock.toBootNs(alert.timeNs) })),
      // The hub is every consumer; it never holds the pipeline back (a slow client is cut off).
      accept: (e) => {
        this.hub.publish(e);
        return true;
      },
      report: (line) => log.warn({}, line),
      // The hub takes every event; a full OTLP queue drops for itself, counted.
      sinksHoldBack: false,
    });
    if (config.otlp?.logs) {
      const json = eventFormatter('json', {
        lookup: this.cache, node: this.cache.node, clock: this.clock, pods: this.names.pods, containers: this.names.containers,
      });
      this.otlpLogs = otlpLogSink<AgentEvent>({
        endpoint: config.otlp.endpoint, capacityBytes: config.otlp.bufferBytes, sensorOf: agentEventSensor, nowNs: wallNs,
        record: (e) => otlpRecord(e, agentEventTime(e), formatEvent(json, e)),
      });
      this.pipeline.addSink(this.otlpLogs);
    }
    const lost = (sensor: string, count: number, reason: LossReason = 'ring_full'): void => {
      this.kernelLost += count;
      this.pipeline.kernelLost(sensor, count);
      this.hub.lost(sensor, count, reason);
    };
    const p = this.pipeline;
    this.tap = {
      push: (e) => {
        if (e.kind === 'exec') this.policies.noteExec(e.process.cgroupId);
        p.push(e);
      },
      kernelLost: lost, schedule: () => p.schedule(), addSource: (s, src) => p.addSource(s, src),
    };
    this.policies = new AgentPolicies({
      cache: this.cache,
      onEvent: (event) => p.push({ kind: 'policy', event, timeBootNs: this.clock.toBootNs(event.timeNs) }),
      onLost: (n) => lost('policy', n),
      onBatchEnd: () => p.schedule(),
      onWarning: (d) => log.warn({ position: formatDiagnostic(d) }, 'policy warning'),
      onNote: (m) => log.warn({}, m),
      criSocket: config.cri.socket,
      cri: () => this.names.runtime(),
    });
    p.addSource('policy', this.policies.source);
    this.rules = new AgentRules({
      filter: this.filter, cache: this.cache,
      // A file sensor of the rules' own (the agent has none) is the 'file' sensor to loss counts all the same.
      target: { push: (e) => p.push(e), kernelLost: (sensor, n) => lost(sensor, n), schedule: () => p.schedule() },
      shared: () => ({ process: this.sensors?.process, files: this.sensors?.file }),
      wantProcessKinds: (kinds) => this.sensors?.process.want([...new Set([...this.processKinds, ...kinds])]),
    });
    p.addSource('rules', this.rules.source);
  }

  /** Starts everything the configuration asks for; on failure, what was started is stopped again. */
  static async start(config: AgentConfig, log: AgentLogger): Promise<Agent> {
    const tracefs = ensureTracefs();
    if (!tracefs.path) throw new NotSupportedError('tracefs', tracefs.reason ?? 'tracefs is not mounted');
    const agent = new Agent(config, log);
    try {
      await agent.startAll();
    } catch (e) {
      await agent.close();
      throw e;
    }
    return agent;
  }

  private async startAll(): Promise<void> {
    const c = this.config;
    const protocols = c.sensors.filter((s): s is L7Protocol => (L7_PROTOCOLS as readonly string[]).includes(s));
    if (protocols.length && c.metrics) this.l7Metrics = new L7Metrics();
    // Listening first: a busy metrics address fails before anything is loaded.
    if (c.metrics || c.otlp) {
      this.telemetry = await Telemetry.start({
        metrics: c.metrics?.address, bpfStats: c.metrics?.bpfStats ?? false, bpfStatsSetting: 'metrics.bpfStats',
        otlp: c.otlp?.endpoint, otlpIntervalMs: c.otlp?.intervalMs ?? 10_000,
      }, { pipeline: this.pipeline, processCache: this.cache, policies: this.policies, rules: this.rules, firewall: this.firewall,
        l7: this.l7Metrics }, (line) => this.log.info({}, line));
    }
    if (c.store) await this.openStore(c.store);
    await this.names.connect(c, this.log);
    this.sensors = await startEventSensors({
      pipeline: this.tap, cache: this.cache, filter: this.filter,
      kinds: [...this.processKinds],
      // Rules added later may ask for failed execs: their tracepoints attached from the start.
      failedExecs: true,
      forks: c.sensors.includes('fork'), files: c.sensors.includes('file'),
      network: c.sensors.includes('flow') || c.sensors.includes('dns')
        ? { tcp: c.sensors.includes('flow'), udp: c.sensors.includes('flow'), dns: c.sensors.includes('dns'), ...c.network }
        : undefined,
    });
    for (const note of this.sensors.flows?.sensor.limitations ?? []) this.log.info({ note }, 'flow sensor');
    if (protocols.length) {
      const p = this.pipeline;
      const metrics = this.l7Metrics;
      const clock = this.clock;
      const map = new ServiceMap();
      this.serviceMap = { map, sinceMs: Date.now() };
      const traces = c.otlp?.traces
        ? (this.traces = new OtlpTraces({ endpoint: c.otlp.endpoint, toEpochNs: (ns) => clock.toEpochNs(ns), nowBootNs: () => clock.nowBootNs() }))
        : undefined;
      this.l7 = await L7Sensor.start({
        filter: this.filter, protocols: new Set(protocols), captureBytes: c.l7.captureBytes, redact: !c.l7.fullCapture,
        maxConnections: c.l7.maxConnections, tls: c.l7.tls ? { binaries: c.l7.tlsBinaries } : false,
        onRecord: (record) => {
          metrics?.observe(record);
          traces?.observe(record);
          map.observe(record);
          p.push({ kind: 'l7', timeBootNs: record.endBootNs, record });
        },
        onBatchEnd: () => p.schedule(), onLost: (n) => this.tap.kernelLost('l7', n),
        ringBytes: 8 << 20, wakeupBytes: 256 << 10, boundedDrain: true,
        // Drained by the pipeline's cycle: no poll timer of the reader's own.
        pollIntervalMs: 0,
      });
      for (const note of tlsNotes(this.l7.tlsReport())) this.log.warn({ note }, 'l7 sensor');
      for (const a of this.l7.tlsReport().attached) this.log.info({ library: a.library, file: a.name, probes: a.probes }, 'l7 sensor: TLS plaintext');
      p.addSource(this.l7.name, this.l7);
    }
    if (c.sensors.includes('profile') && this.storeSink) {
      this.profile = await AgentProfile.start({
        ...c.profile, sink: this.storeSink, processOf: (pid) => this.cache.get(pid),
        onError: (err) => this.log.warn({ err }, 'profile interval not stored'),
      });
    }
    // What the API added before a restart (state.directory); a state others could write stops the start.
    let kept: ApiState;
    try {
      kept = this.store.load();
    } catch (e) {
      if (e instanceof StateError) throw new AgentConfigError([], e.message, { cause: e });
      throw e;
    }
    try {
      await this.policies.setConfigured(c.policies);
      for (const s of await this.policies.restore(kept.policies)) {
        this.unrestored.policies.push(kept.policies.find((p) => p.name === s.name)!);
        this.log.error({ policy: s.name, why: s.why, state: this.store.file },
          'a policy added through the API did not load again; kept in the state (vigil policy delete NAME removes it)');
      }
      const rulesError = await this.rules.start(c.rules, kept.rules);
      if (rulesError) {
        this.unrestored.rules.push(...kept.rules);
        this.log.error({ rules: kept.rules.map((r) => r.name), why: rulesError.message, state: this.store.file },
          'rules added through the API did not load again; the configuration\'s run alone, the others kept in the state (vigil rules delete NAME removes one)');
      }
    } catch (e) {
      // The configuration's policies or rules did not load: every problem, one line each.
      if (e instanceof Error && /^(Policy|Rules)\w*Error$/.test(e.name)) throw new AgentConfigError([], e.message, { cause: e });
      throw e;
    }
    await this.applyFirewall(c);
    this.pipeline.start();
    this.api = await serveApi(c.api, this.service());
    if (c.health) this.health = await this.serveHealth(c.health.host, c.health.port);
    if (c.console && this.storeThread) {
      const store = this.storeThread;
      const limits = { timeoutMs: c.store!.queryTimeoutMs, maxRows: 10_000 };
      this.console = await ConsoleServer.start({
        ...c.console, stateDirectory: c.stateDirectory, query: (sql) => store.query(sql, limits),
        events: (r, open) => {
          const sub = subscribe(r, this.cache, this.cache.node, this.names);
          this.hub.attach(open() as unknown as Parameters<EventHub['attach']>[0], sub, { last: r.last, sinceNs: 0n, follow: true });
        },
        serviceMap: () => this.serviceMap && this.serviceMapResponse(),
      });
    }
    this.files.set([...c.policies, ...c.rules]);
    this.state = 'ready';
    this.log.info({
      socket: c.api.socket, sensors: c.sensors, policies: this.policies.list().map((p) => p.name),
      rules: this.rules.status().active, rulesNotSensed: this.rules.unsensed.length ? this.rules.unsensed : undefined,
      health: this.healthAddress(), metrics: this.telemetry?.metricsUrl,
      otlp: c.otlp?.endpoint, bpfStats: c.metrics?.bpfStats || undefined, store: c.store?.path,
      console: this.console ? `${this.console.url} (token in ${this.console.tokenFile})` : undefined,
      ...this.names.describe(),
    }, 'ready');
  }

  /** Opens the store on its thread, adds its sink to the pipeline, and runs retention now and every minute. */
  private async openStore(s: NonNullable<AgentConfig['store']>): Promise<void> {
    mkdirSync(path.dirname(s.path), { recursive: true, mode: 0o700 });
    this.storeThread = await StoreThread.open(s.path, { memoryLimit: `${Math.floor(s.queryMemoryBytes / (1 << 20))}MiB`, threads: 2 });
    this.storeSink = new StoreSink<AgentEvent>(this.storeThread, {
      capacityRows: s.queueRows, storeEvent: (e) => e, timeOf: agentEventTime, sensorOf: agentEventSensor,
    });
    this.pipeline.addSink(this.storeSink);
    const retain = (): void => {
      this.storeThread?.retain({ maxAgeMs: s.maxAgeMs, maxBytes: s.maxBytes }).then((r) => {
        if (r.deleted) this.log.info({ deleted: r.deleted, sizeBytes: r.sizeBytes }, 'store retention');
      }, (e: unknown) => this.log.warn({ err: (e as Error).message }, 'store retention failed'));
    };
    retain();
    this.retention = setInterval(retain, RETENTION_INTERVAL_MS);
    this.retention.unref();
  }

  /** The configuration changed (SIGHUP): what can change while running does; an error leaves the last one in force. */
  async reload(next: AgentConfig): Promise<void> {
    // A change of the files being applied finishes first (this reload then reads them again anyway).
    await this.applyingFiles;
    if (this.state !== 'ready') return;
    this.state = 'reloading';
    try {
      this.log.level = next.logLevel;
      setNodeCluster(next.cluster);
      this.hub.resizeHistory(next.historyEvents);
      await this.policies.setConfigured(next.policies);
      await this.rules.setConfigured(next.rules);
      await this.applyFirewall(next);
      if (restartOnly(next) !== restartOnly(this.config)) {
        this.log.warn({}, 'api, health, sensors, network, includeSelf, metrics, otlp, state, store, console, cri and containerEngine changes take effect at the next restart');
      }
      this.config = next;
      this.files.set([...next.policies, ...next.rules]);
      this.log.info({ policies: this.policies.list().map((p) => p.name), rules: this.rules.status().active }, 'configuration reloaded');
    } finally {
      this.state = 'ready';
      this.applyPendingFiles();
    }
  }

  /** Files that changed during a reload are read again once it is over (it may have read them before). */
  private applyPendingFiles(): void {
    if (!this.filesPending) return;
    this.filesPending = false;
    void this.filesChanged();
  }

  /**
   * A policy or rules file of the configuration changed on disk (a mounted ConfigMap updated):
   * the configuration's policies and rules read again and applied as a reload would; files
   * that do not load leave the running ones. A change during a reload (or during the apply of an
   * earlier change) is applied once that is over.
   */
  private async filesChanged(): Promise<void> {
    if (this.state === 'reloading') this.filesPending = true;
    if (this.state !== 'ready') return;
    this.state = 'reloading';
    let done!: () => void;
    this.applyingFiles = new Promise((resolve) => (done = resolve));
    try {
      await this.policies.setConfigured(this.config.policies);
      await this.rules.setConfigured(this.config.rules);
      this.log.info({ policies: this.policies.list().map((p) => p.name), rules: this.rules.status().active }, 'policy and rules files changed: applied');
    } catch (e) {
      this.log.error({ problems: (e as Error).message.split('\n') }, 'policy or rules files changed but do not load: the running ones stay');
    } finally {
      this.state = 'ready';
      this.applyingFiles = undefined;
      done();
      this.applyPendingFiles();
    }
  }

  /** The configuration's firewalls in force; a firewall that cannot be is a configuration error at its position. */
  private async applyFirewall(c: AgentConfig): Promise<void> {
    let changes: FirewallChange[];
    try {
      changes = await this.firewall.apply(c.firewall);
    } catch (e) {
      if (!(e instanceof FirewallError)) throw e;
      const i = c.firewall.findIndex((f) => e.message.startsWith(`firewall on ${f.interface}:`));
      const path = i >= 0 ? `firewall[${i}].interface` : 'firewall';
      throw new AgentConfigError([{ pos: c.positions.of(path), path, message: e.message }], undefined, { cause: e });
    }
    for (const ch of changes) this.log.info({ interface: ch.interface }, `firewall ${ch.what}`);
  }

  /** Where /healthz is served (the port the kernel chose for port 0). */
  private healthAddress(): string | undefined {
    const a = this.health?.address();
    return a && typeof a === 'object' ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : undefined;
  }

  private serveHealth(host: string, port: number): Promise<http.Server> {
    const server = http.createServer((req, res) => {
      const path = req.url?.split('?')[0];
      // Healthy: this process answers. Ready: sensors attached and the API serving (not while starting, reloading or stopping).
      const ok = path === '/healthz' ? this.state !== 'stopping' : path === '/readyz' ? this.state === 'ready' : undefined;
      if (ok === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json' });
      res.end(`${JSON.stringify({ status: ok ? 'ok' : 'unavailable', state: this.state })}\n`);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }

  private service(): grpc.UntypedServiceImplementation {
    const stats = () => {
      const h = this.hub.stats;
      return {
        state: this.state, events: String(h.events), clients: h.clients, clientsTotal: String(h.clientsTotal),
        clientsCutOff: String(h.clientsCutOff), clientEventsLost: String(h.clientEventsLost),
        kernelLost: String(this.kernelLost), history: this.hub.historySize,
      };
    };
    return {
      GetEvents: (call: grpc.ServerWritableStream<GetEventsRequest, EventsResponse>) => {
        const r = call.request;
        try {
          const sub = subscribe(r, this.cache, this.cache.node, this.names);
          this.hub.attach(call, sub, { last: r.last, sinceNs: BigInt(r.sinceNs || '0'), follow: r.follow });
        } catch (e) {
          if (!(e instanceof RequestError)) this.log.error({ err: (e as Error).message }, 'GetEvents failed');
          call.emit('error', statusOf(e));
        }
      },
      ...unaryHandlers({
        GetHealth: async () => stats(),
        AddTracingPolicy: async (r: { yaml: string; source: string }) => {
          const names = await this.policies.add([{ name: r.source || '<api>', content: r.yaml }], 'api');
          this.log.info({ policies: names }, 'policy added');
          this.unrestored.policies = this.unrestored.policies.filter((p) => !names.includes(p.name));
          this.persist(`policy ${names.join(', ')} added`);
          return { names };
        },
        DeleteTracingPolicy: async (r: { name: string }) => this.policyChange('deleted', r.name, () => {
          const i = this.unrestored.policies.findIndex((p) => p.name === r.name);
          if (i >= 0 && !this.policies.list().some((p) => p.name === r.name)) this.unrestored.policies.splice(i, 1);
          else this.policies.delete(r.name);
        }),
        EnableTracingPolicy: async (r: { name: string }) => this.policyChange('enabled', r.name, () => this.policies.enable(r.name)),
        DisableTracingPolicy: async (r: { name: string }) => this.policyChange('disabled', r.name, () => this.policies.disable(r.name)),
        ListTracingPolicies: async () => ({ policies: this.policies.list() }),
        AddRules: async (r: { yaml: string; name: string }) => {
          const name = r.name || '<api>';
          const s = await this.rules.add(name, r.yaml, 'api');
          this.log.info({ rules: r.name, active: s.active }, 'rules added');
          this.unrestored.rules = this.unrestored.rules.filter((f) => f.name !== name);
          this.persist(`rules ${name} added`);
          return { active: s.active, total: s.total };
        },
        DeleteRules: async (r: { name: string }) => {
          const i = this.unrestored.rules.findIndex((f) => f.name === r.name);
          let s;
          if (i >= 0 && !this.rules.stored().some((f) => f.name === r.name)) {
            this.unrestored.rules.splice(i, 1);
            s = this.rules.status();
          } else {
            s = await this.rules.delete(r.name);
          }
          this.log.info({ rules: r.name, active: s.active }, 'rules deleted');
          this.persist(`rules ${r.name} deleted`);
          return { active: s.active, total: s.total };
        },
        ListRules: async () => this.rules.status(),
        GetServiceMap: async () => {
          if (!this.serviceMap) throw new NotSupportedError('service map', 'no L7 sensor in this agent\'s configuration (sensors: http, redis, pgsql, mysql)');
          return this.serviceMapResponse();
        },
        Query: async (r: { sql: string; maxRows: number }) => {
          if (!this.storeThread || !this.config.store) throw new StoreError('the store is off in this agent\'s configuration (store.enabled: false)');
          const res = await this.storeThread.query(r.sql, {
            timeoutMs: this.config.store.queryTimeoutMs, maxRows: r.maxRows > 0 ? r.maxRows : DEFAULT_QUERY_OPTIONS.maxRows,
          });
          return { columns: res.columns, types: res.types, rows: res.rows.map((row) => JSON.stringify(row)), truncated: res.truncated };
        },
      }),
    };
  }

  /** The edges since the L7 sensor started and the seconds they cover. */
  private serviceMapResponse(): { seconds: number; edges: ServiceEdge[] } {
    const m = this.serviceMap!;
    return { seconds: (Date.now() - m.sinceMs) / 1000, edges: m.map.edges() };
  }

  private async policyChange(what: string, name: string, change: () => unknown): Promise<object> {
    await change();
    this.log.info({ policy: name }, `policy ${what}`);
    this.persist(`policy ${name} ${what}`);
    return {};
  }

  /**
   * Keeps what the API changed for the next start. A state that cannot be
   * written fails the call, saying the change is in force all the same.
   */
  private persist(change: string): void {
    try {
      this.store.save({
        policies: [...this.policies.stored(), ...this.unrestored.policies],
        rules: [...this.rules.stored(), ...this.unrestored.rules],
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = `${change}, in force now but not kept for the next start: cannot write ${this.store.file}: ${err.code ?? err.message}`;
      this.log.error({ state: this.store.file }, why);
      throw new Error(why, { cause: e });
    }
  }

  /**
   * Detaches everything (in the synchronous part: inside a Shutdown's close
   * every link goes at once), delivers what the rings held to the clients,
   * then stops serving.
   */
  async close(): Promise<void> {
    this.state = 'stopping';
    this.files.stop();
    this.sensors?.close();
    this.l7?.close();
    await this.profile?.close();
    this.profile = undefined;
    // The policies' scoper first: it may share the names' CRI runtime.
    this.policies.close();
    this.names.close();
    this.rules.close();
    // The OTLP output gets what is queued for it a moment (its retries end then); the clients get what the rings held.
    // (The grace is only waited for while an output still has something queued.)
    await this.pipeline.close(Math.max(this.otlpLogs ? OTLP_GRACE_MS : 0, this.storeSink ? STORE_GRACE_MS : 0));
    if (this.retention) clearInterval(this.retention);
    await this.storeThread?.close();
    this.storeThread = undefined;
    if (this.traces) reportTraces(await this.traces.close(OTLP_GRACE_MS), this.traces.description, (line) => this.log.warn({}, line));
    const unsent = this.otlpLogs?.lost.entries().filter((l) => l.reason === 'output_closed') ?? [];
    if (unsent.length) this.log.warn({ output: this.otlpLogs!.name }, `not delivered: ${describeLosses(unsent)}`);
    this.hub.close();
    if (this.api) await stopApi(this.api, this.config.api.socket);
    this.api = undefined;
    this.health?.close();
    this.health = undefined;
    this.console?.close();
    this.console = undefined;
    // Last: the final metric export, then BPF statistics off.
    await this.telemetry?.close();
    this.telemetry = undefined;
    // The firewalls stay attached (pinned): a restart leaves no gap.
    this.firewall.close();
    this.cache.close();
    this.filter.close();
  }
}
