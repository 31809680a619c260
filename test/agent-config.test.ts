// The agent's configuration and the event client's flags: pure (no kernel,
// no root), so in the unit tier. Every problem is one line file:line:col.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { AgentConfigError, parseAgentConfig, parseAddress } from '../src/agent/config.js';
import { History } from '../src/agent/history.js';
import { subscribe, type GetEventsRequest } from '../src/agent/subscription.js';
import type { AgentEvent } from '../src/agent/events.js';
import type { ProcessInfo, ProcessLookup } from '../src/process/types.js';
import { parseEventsArgs, parseSince } from '../src/cli/commands/events.js';
import { UsageError } from '../src/cli/command.js';
import { repoPath } from '../src/util/paths.js';

function problems(yaml: string): string[] {
  try {
    parseAgentConfig('agent.yaml', yaml);
  } catch (e) {
    assert.ok(e instanceof AgentConfigError, String(e));
    return e.message.split('\n');
  }
  return [];
}

describe('agent configuration', () => {
  test('the defaults, and every field read', () => {
    const d = parseAgentConfig('<defaults>', '');
    assert.equal(d.api.socket, '/run/vigil/vigil.sock');
    assert.equal(d.api.group, undefined);
    assert.equal(d.api.clientBuffer, 16 << 20);
    assert.deepEqual(d.health, { host: '127.0.0.1', port: 9410 });
    assert.deepEqual(d.sensors, ['exec', 'exit', 'file']);
    assert.equal(d.historyEvents, 4096);
    assert.equal(d.stateDirectory, '/var/lib/vigil');
    assert.equal(d.metrics, undefined);
    const c = parseAgentConfig('a.yaml', [
      'api: {socket: /run/x.sock, group: vigil, clientBuffer: 512KiB}', 'health: {address: "[::1]:9000"}', 'sensors: [exec, fork]',
      'includeSelf: true', 'history: {events: 10}', 'log: {level: debug}', 'metrics: {address: "127.0.0.1:9090"}', 'otlp:',
      'state: {directory: /srv/vigil}',
    ].join('\n'));
    assert.deepEqual(c.api, { socket: '/run/x.sock', group: 'vigil', clientBuffer: 512 << 10 });
    assert.deepEqual(c.health, { host: '::1', port: 9000 });
    assert.deepEqual(c.sensors, ['exec', 'fork']);
    assert.equal(c.includeSelf, true);
    assert.equal(c.historyEvents, 10);
    assert.equal(c.logLevel, 'debug');
    assert.deepEqual(c.metrics, { address: { host: '127.0.0.1', port: 9090 }, bpfStats: false });
    assert.equal(c.otlp, undefined);
    assert.equal(c.stateDirectory, '/srv/vigil');
    const t = parseAgentConfig('t.yaml', 'metrics: {bpfStats: true}\notlp: {endpoint: "http://127.0.0.1:4318", interval: 0.5, logs: false, buffer: 1MiB}\n');
    assert.deepEqual(t.metrics, { address: undefined, bpfStats: true });
    assert.deepEqual(t.otlp, { endpoint: 'http://127.0.0.1:4318', intervalMs: 500, logs: false, bufferBytes: 1 << 20, traces: false });
    assert.equal(parseAgentConfig('s.yaml', 'sensors: [http]\notlp: {endpoint: "http://c:4318", traces: true}').otlp?.traces, true);
    assert.equal(parseAgentConfig('o.yaml', 'otlp: {endpoint: "http://c:4318"}').otlp?.logs, true, 'events and alerts as log records by default');
    assert.equal(parseAgentConfig('a.yaml', 'health: {address: "off"}').health, undefined);
  });

  test('the store: on by default in the state directory; its limits read and checked', () => {
    assert.deepEqual(parseAgentConfig('<defaults>', '').store, {
      path: '/var/lib/vigil/store.duckdb', maxAgeMs: 24 * 3_600_000, maxBytes: 1 << 30, queueRows: 100_000, queryTimeoutMs: 10_000, queryMemoryBytes: 256 << 20,
    });
    assert.equal(parseAgentConfig('s.yaml', 'state: {directory: /srv/v/}').store?.path, '/srv/v/store.duckdb');
    assert.equal(parseAgentConfig('s.yaml', 'store: {enabled: false}').store, undefined);
    assert.deepEqual(parseAgentConfig('s.yaml', 'store: {path: /d/s.db, retention: {age: 7d, size: 64MiB}, queue: 5000, query: {timeout: 3, memory: 1GiB}}').store, {
      path: '/d/s.db', maxAgeMs: 7 * 86_400_000, maxBytes: 64 << 20, queueRows: 5000, queryTimeoutMs: 3000, queryMemoryBytes: 1 << 30,
    });
    assert.deepEqual(problems('store:\n  path: rel.db\n  retention: {age: 10s, size: 1MiB}\n  queue: 10\n  query: {memory: lots}\n'), [
      'agent.yaml:4:10: store.queue: must be >= 1000, found 10',
      'agent.yaml:2:9: store.path: expected an absolute path, got "rel.db"',
      'agent.yaml:3:20: store.retention.age: expected a duration of a minute or more (90m, 24h, 7d), got "10s"',
      'agent.yaml:3:31: store.retention.size: at least 16MiB',
      'agent.yaml:5:19: store.query.memory: expected a size such as 256MiB, got "lots"',
    ]);
  });

  test('signing: signatures required by default; off only when said; trusted keys as absolute paths of files', () => {
    assert.deepEqual(parseAgentConfig('<defaults>', '').signing, { require: true, keys: undefined });
    assert.deepEqual(parseAgentConfig('s.yaml', 'signing: {require: false}').signing, { require: false, keys: undefined });
    const pkg = repoPath('package.json');
    assert.deepEqual(parseAgentConfig('s.yaml', `signing: {keys: [${pkg}]}`).signing, { require: true, keys: [pkg] });
    assert.deepEqual(problems('signing:\n  require: "no"\n'), ['agent.yaml:2:12: signing.require: expected a boolean (true or false), found the string "no"']);
    assert.deepEqual(problems('signing:\n  keys: [vendor.pub, /nonexistent/vendor.pub]\n'), [
      'agent.yaml:2:10: signing.keys[0]: expected an absolute path to a PEM ed25519 public key, got "vendor.pub"',
      'agent.yaml:2:22: signing.keys[1]: no such file: /nonexistent/vendor.pub',
    ]);
  });

  test('the console: off by default; an address; refused without the store', () => {
    assert.equal(parseAgentConfig('c.yaml', '').console, undefined);
    assert.deepEqual(parseAgentConfig('c.yaml', 'console: {address: "127.0.0.1:9411"}').console, { host: '127.0.0.1', port: 9411 });
    assert.deepEqual(problems('console: {address: "127.0.0.1:9411"}\nstore: {enabled: false}\n'), [
      'agent.yaml:1:20: console.address: the console shows the store: it needs store.enabled',
    ]);
    assert.match(problems('console: {address: "nohost"}\n')[0]!, /console.address: expected host:port/);
  });

  test('the profile sensor: 49 Hz every 10 s by default; its settings checked; refused without the store', () => {
    assert.deepEqual(parseAgentConfig('c.yaml', '').profile, { frequency: 49, intervalMs: 10_000 });
    assert.deepEqual(parseAgentConfig('c.yaml', 'sensors: [exec, profile]\nprofile: {frequency: 99, interval: 2}').profile, { frequency: 99, intervalMs: 2000 });
    assert.deepEqual(problems('sensors: [profile]\nprofile: {frequency: 5000, interval: 0}\n'), [
      'agent.yaml:2:22: profile.frequency: must be <= 999, found 5000',
      'agent.yaml:2:38: profile.interval: must be >= 1, found 0',
    ]);
    assert.deepEqual(problems('sensors: [profile]\nstore: {enabled: false}\n'), [
      'agent.yaml:1:10: sensors: the profile sensor writes its stacks to the store: it needs store.enabled',
    ]);
  });

  test('cri.socket: a default socket unless given; an absolute path or none', () => {
    assert.deepEqual(parseAgentConfig('c.yaml', '').cri, { socket: undefined });
    assert.deepEqual(parseAgentConfig('c.yaml', 'cri: {socket: /run/k3s/containerd/containerd.sock}').cri, { socket: '/run/k3s/containerd/containerd.sock' });
    assert.deepEqual(parseAgentConfig('c.yaml', 'cri: {socket: none}').cri, { socket: 'none' });
    assert.match(problems('cri: {socket: run/crio.sock}\n')[0]!, /cri\.socket: expected an absolute path or "none", got "run\/crio\.sock"/);
  });

  test('cluster: the name and node labels of every envelope; a label Kubernetes would refuse is named with its line', () => {
    assert.equal(parseAgentConfig('c.yaml', '').cluster, undefined);
    assert.deepEqual(parseAgentConfig('c.yaml', 'cluster:\n  name: prod-eu\n  nodeLabels:\n    topology.kubernetes.io/zone: eu-1a\n').cluster,
      { name: 'prod-eu', labels: { 'topology.kubernetes.io/zone': 'eu-1a' } });
    assert.deepEqual(problems('cluster:\n  nodeLabels:\n    role: "not a value"\n'),
      ['agent.yaml:3:11: cluster.nodeLabels.role: "not a value" is not a label value (at most 63 of [A-Za-z0-9_.-], alphanumeric at both ends)']);
    assert.match(problems('cluster:\n  nodeLabels:\n    "-bad": x\n')[0]!, /^agent\.yaml:3:\d+: cluster\.nodeLabels\.-bad: "-bad" is not a label key$/);
  });

  test('each problem as file:line:col: field: reason', () => {
    assert.deepEqual(problems('api:\n  sockt: /x\n'), [
      'agent.yaml:2:3: api.sockt: unknown field "sockt" (did you mean "socket"?); api takes socket, group, clientBuffer',
    ]);
    assert.deepEqual(problems('sensors: [exec, flows]\nhistory:\n  events: 2000000\n'), [
      'agent.yaml:1:17: sensors[1]: "flows" is not allowed (did you mean "flow"?); expected one of exec, exit, fork, file, flow, dns, http, redis, pgsql, mysql, grpc, kafka, profile',
      'agent.yaml:3:11: history.events: must be <= 1000000, found 2000000',
    ]);
    assert.deepEqual(problems('api:\n  clientBuffer: lots\n'), ['agent.yaml:2:17: api.clientBuffer: expected a size such as 4MiB or 512KiB, got "lots"']);
    assert.deepEqual(problems('health:\n  address: example.com:80\n'), [
      'agent.yaml:2:12: health.address: expected host:port with an IP address (127.0.0.1:9410, [::1]:9410) or off, got "example.com:80"',
    ]);
    assert.deepEqual(problems('policies:\n  - relative/p.yaml\n  - /no/such/file.yaml\n'), [
      'agent.yaml:2:5: policies[0]: expected an absolute path (the agent\'s working directory is not the file\'s), got "relative/p.yaml"',
      'agent.yaml:3:5: policies[1]: no such file or directory: /no/such/file.yaml',
    ]);
    assert.deepEqual(problems('Sensors: [exec]\n'), [
      'agent.yaml:1:1: sensors: unknown field "Sensors" (did you mean "sensors"? keys are case-sensitive)',
    ]);
    assert.match(problems('api: [\n')[0]!, /^agent\.yaml:2:1: YAML: /);
    assert.deepEqual(problems('metrics: [1]\n'), ['agent.yaml:1:10: metrics: expected a mapping, found a list']);
    assert.deepEqual(problems('metrics:\n  address: nowhere\n  bpfstats: true\n'), [
      'agent.yaml:3:3: metrics.bpfStats: unknown field "bpfstats" (did you mean "bpfStats"? keys are case-sensitive)',
      'agent.yaml:2:12: metrics.address: expected HOST:PORT, [IPv6]:PORT or :PORT, got "nowhere"',
    ]);
    assert.deepEqual(problems('metrics: {bpfStats: true}\n'), [
      'agent.yaml:1:21: metrics.bpfStats: the statistics would go nowhere; add metrics.address or an otlp section',
    ]);
    assert.deepEqual(problems('otlp:\n  endpoint: ftp://x\n  interval: 0\n  buffer: 1KiB\n'), [
      'agent.yaml:2:13: otlp.endpoint: expected an http:// or https:// URL, got "ftp://x"',
      'agent.yaml:3:13: otlp.interval: expected seconds (more than 0, at most 86400), got 0',
      'agent.yaml:4:11: otlp.buffer: at least 64KiB',
    ]);
    assert.deepEqual(problems('sensors: [exec]\notlp: {endpoint: "http://c:4318", traces: true}\n'), [
      'agent.yaml:2:43: otlp.traces: spans of HTTP requests: add http to sensors',
    ]);
    assert.deepEqual(problems('network: {dnsPorts: [53, 70000]}\n'), ['agent.yaml:1:26: network.dnsPorts[1]: must be <= 65535, found 70000']);
    assert.deepEqual(parseAgentConfig('n.yaml', 'sensors: [flow, dns]\nnetwork: {dnsPorts: [5353], udpWindow: 2}\n').network, { dnsPorts: [5353], udpWindowMs: 2000 });
    assert.deepEqual(problems('state: {directory: var/lib}\n'), ['agent.yaml:1:20: state.directory: expected an absolute path, got "var/lib"']);
    assert.deepEqual(problems('firewall:\n  - interface: veth0\n    block: [10.0.0.0/8, 300.1.1.1]\n    rateLimit: {burst: 5}\n  - interface: veth0\n    mode: xdp\n'), [
      'agent.yaml:4:16: firewall[0].rateLimit.pps: required field "pps" is missing',
      'agent.yaml:6:11: firewall[1].mode: "xdp" is not allowed; expected one of native, generic',
      'agent.yaml:3:25: firewall[0].block[1]: "300.1.1.1" is not an IPv4 or IPv6 address or CIDR',
      'agent.yaml:5:16: firewall[1].interface: "veth0" has a firewall above; one entry per interface',
    ]);
  });

  test('addresses', () => {
    assert.deepEqual(parseAddress('0.0.0.0:1'), { host: '0.0.0.0', port: 1 });
    assert.deepEqual(parseAddress('localhost:9410'), { host: 'localhost', port: 9410 });
    assert.ok(parseAddress('1.2.3.4:70000') instanceof Error);
    assert.ok(parseAddress('1.2.3.4') instanceof Error);
  });

  test('vigil agent --check, and a bad file: one line per problem, status 1, no stack', () => {
    const run = (args: string[]) => spawnSync(process.execPath, [repoPath('bin', 'vigil'), 'agent', ...args],
      { encoding: 'utf8', timeout: 30_000, env: { ...process.env, VIGIL_DEBUG: '' } });
    const ok = run(['--check', '--config', repoPath('test', 'fixtures', 'agent', 'agent.yaml')]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /agent\.yaml: ok\n$/);
    const bad = repoPath('test', 'fixtures', 'agent', 'bad.yaml');
    const r = run(['--config', bad]);
    assert.equal(r.status, 1);
    assert.deepEqual(r.stderr.trimEnd().split('\n'), [
      `vigil agent: ${bad}:3:3: api.clientBufer: unknown field "clientBufer" (did you mean "clientBuffer"?); api takes socket, group, clientBuffer`,
      `vigil agent: ${bad}:4:17: sensors[1]: "exits" is not allowed (did you mean "exit"?); expected one of exec, exit, fork, file, flow, dns, http, redis, pgsql, mysql, grpc, kafka, profile`,
      `vigil agent: ${bad}:6:11: history.events: must be >= 0, found -1`,
      `vigil agent: ${bad}:8:12: health.address: expected host:port with an IP address (127.0.0.1:9410, [::1]:9410) or off, got "localhost:99999"`,
    ]);
    const missing = run(['--config', '/no/such/agent.yaml']);
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr, 'vigil agent: /no/such/agent.yaml: cannot read: ENOENT\n');
  });
});

describe('vigil events flags', () => {
  test('observe\'s filters and outputs, and the history\'s', () => {
    const o = parseEventsArgs(['--sensors', 'exec,policy', '--pid', '7', '--follow-children', '-o', 'json', '--last', '20', '--follow',
      '--socket', '/tmp/s.sock']);
    assert.deepEqual(o.kinds, ['exec', 'policy']);
    assert.deepEqual(o.filter.pids, [7]);
    assert.equal(o.filter.followChildren, true);
    assert.equal(o.format, 'json');
    assert.equal(o.last, 20);
    assert.equal(o.follow, true);
    assert.equal(o.socket, '/tmp/s.sock');
    assert.deepEqual(parseEventsArgs([]).kinds, ['exec', 'exit', 'file', 'flow', 'dns', 'policy', 'alert']);
    const f = parseEventsArgs(['--sensors', 'flow,dns', '--to-port', '443', '--not', '--ip', '10.0.0.0/8', '-4', '--pid', '9', '-o', 'jsonpb']);
    assert.deepEqual(f.flowFilters, [
      { kind: 'to-port', value: '443', negated: false }, { kind: 'ip', value: '10.0.0.0/8', negated: true }, { kind: 'ip-version', value: '4', negated: false },
    ]);
    assert.deepEqual(f.filter.pids, [9], '--pid filters processes, a flow\'s too');
    assert.equal(f.format, 'jsonpb');
    for (const argv of [['--sensors', 'flows'], ['--path-prefix', '/etc', '--sensors', 'exec'], ['--follow'], ['--last', '0'], ['--include-self'],
      ['--sensors', 'exec', '--to-port', '80'], ['--sensors', 'flow', '--to-port', 'http'], ['--sensors', 'flow', '--not', '--pid', '1'],
      ['--sensors', 'flow,exec', '-o', 'dict'], ['--sensors', 'exec', '-o', 'jsonpb'], ['--sensors', 'flow', '--not']]) {
      assert.throws(() => parseEventsArgs(argv), UsageError, argv.join(' '));
    }
  });

  test('--since: RFC 3339 or a duration ago', () => {
    const now = Date.parse('2026-12-06T10:00:00Z');
    assert.equal(parseSince('2026-12-06T09:00:00Z', now), BigInt(Date.parse('2026-12-06T09:00:00Z')) * 1_000_000n);
    assert.equal(parseSince('1h30m', now), BigInt(now - 5_400_000) * 1_000_000n);
    assert.equal(parseSince('250ms', now), BigInt(now - 250) * 1_000_000n);
    for (const bad of ['5', 'yesterday', '1d', '-5m']) assert.throws(() => parseSince(bad, now), UsageError, bad);
  });
});

describe('the history', () => {
  test('keeps the newest, oldest first; --last N of those that match', () => {
    const h = new History<number>(4);
    for (let i = 1; i <= 6; i++) h.push(i);
    assert.equal(h.size, 4);
    assert.deepEqual(h.select(() => true, 0), [3, 4, 5, 6]);
    assert.deepEqual(h.select((n) => n % 2 === 1, 1), [5]);
    assert.deepEqual(h.resized(2).select(() => true, 0), [5, 6]);
    assert.deepEqual(h.resized(8).select(() => true, 0), [3, 4, 5, 6]);
    const none = new History<number>(0);
    none.push(1);
    assert.deepEqual(none.select(() => true, 0), []);
  });
});

describe('a subscription\'s container filter', () => {
  const request = (container: string): GetEventsRequest => ({
    kinds: ['exec'], pids: [], followChildren: false, uids: [], comms: [], binaryPrefixes: [], pathPrefixes: [], container,
    output: null, last: 0, sinceNs: '0', follow: true, flowFilters: [],
  });
  const exec = (container: ProcessInfo['container'], cgroupId: bigint): AgentEvent =>
    ({ kind: 'exec', process: { pid: 10, uid: 0, comm: 'x', binary: '/x', cgroupId, container } as ProcessInfo } as AgentEvent);
  const lookup = { get: () => undefined, getByExecId: () => undefined, ancestors: () => [] } as unknown as ProcessLookup;

  test('host: a process in a container the subscription did not know of is not a host process', () => {
    const s = subscribe(request('host'), lookup, 'n');
    // A cgroup id no container had when the client subscribed (a container started since).
    const later = 0xfffffff0n;
    assert.equal(s.matches(exec({ id: 'a'.repeat(64), runtime: 'docker' }, later)), false);
    assert.equal(s.matches(exec('host', later)), true);
    // A cgroup the cache could not tell: outside the containers known at the start, a host process.
    assert.equal(s.matches(exec(undefined, later)), true);
  });
});
