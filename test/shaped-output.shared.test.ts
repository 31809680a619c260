// Strict compatibility of the shaped outputs (compat tier: needs Tetragon's and
// Hubble's schemas in ../shared/compat/proto). The Tetragon- and Hubble-shaped
// lines the suites make (their collectors record them through test/shaped.ts,
// up to 1,000 of each kind per file) and every line `vigil observe --output
// tetragon`, `--sensors flow -o jsonpb` and `vigil run --output tetragon`
// print for real activity must parse as strict
// protojson: no unknown fields, proto names, enum names of the schema, 64-bit
// integers as strings.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { repoPath } from '../src/util/paths.js';
import { assertHubbleLine, assertTetragonLine, strictParse } from './proto-strict.js';
import { observeRun, vigilRun } from './observe-util.js';
import { missingFeature, requireRoot } from './helpers.js';

/** The first error of each line that does not parse, at most `max`. */
function failures(lines: readonly { shape: string; line: string }[], max = 5): string[] {
  const out: string[] = [];
  for (const { shape, line } of lines) {
    try {
      if (shape === 'tetragon') assertTetragonLine(line);
      else assertHubbleLine(line);
    } catch (e) {
      if (out.length < max) out.push(`${(e as Error).message}\n    in ${line.slice(0, 600)}`);
    }
  }
  return out;
}

/** The envelope keys seen: process_exec, process_kprobe, ...; flows by verdict and type (flow:DROPPED, flow:L7), lost_events. */
function kinds(lines: readonly { shape: string; line: string }[]): Set<string> {
  const seen = new Set<string>();
  for (const { line } of lines) {
    const o = JSON.parse(line) as Record<string, Record<string, unknown>>;
    for (const k of Object.keys(o)) if (k !== 'node_name' && k !== 'time') seen.add(k);
    if (o.flow) {
      seen.add(`flow:${String(o.flow.verdict)}`);
      seen.add(`flow:${String(o.flow.Type)}`);
    }
  }
  return seen;
}

describe('the strict check itself', () => {
  const ok = {
    process_exec: { process: { exec_id: 'eA==', pid: 1, uid: 0, flags: 'execve clone', start_time: '2026-01-01T00:00:00.000000001Z', refcnt: 1,
      in_init_tree: false, process_credentials: { uid: 0, securebits: ['SecBitNoRoot'] } } },
    node_name: 'n', time: '2026-01-01T00:00:00Z',
  };
  const change = (f: (o: any) => void): string => {
    const o = structuredClone(ok) as any;
    f(o);
    return JSON.stringify(o);
  };

  test('accepts a well-formed line', () => {
    assertTetragonLine(JSON.stringify(ok));
  });

  test('rejects an unknown field, an invalid enum, a camelCase alias, a 64-bit number, a bad time, two events', () => {
    const bad: [string, RegExp][] = [
      [change((o) => { o.process_exec.process.cgroup_id = 1; }), /cgroup_id/],
      [change((o) => { o.process_exec.process.process_credentials.securebits = ['SecBitBogus']; }), /SecBitBogus|enum/],
      [change((o) => { o.processExec = o.process_exec; delete o.process_exec; }), /processExec/],
      [JSON.stringify({ process_kprobe: { args: [{ size_arg: 16 }] }, node_name: 'n', time: '2026-01-01T00:00:00Z' }), /uint64 must be a string/],
      [JSON.stringify({ process_kprobe: { action: 'KPROBE_ACTION_DENY' }, node_name: 'n', time: '2026-01-01T00:00:00Z' }), /KPROBE_ACTION_DENY/],
      [JSON.stringify({ process_kprobe: { action: 5 }, node_name: 'n', time: '2026-01-01T00:00:00Z' }), /as a name/],
      [change((o) => { o.time = 'yesterday'; }), /timestamp/],
      [change((o) => { o.process_exit = {}; }), /one event|multiple values for oneof/],
    ];
    for (const [line, re] of bad) assert.throws(() => assertTetragonLine(line), re, line);
    const flow = { time: '2026-01-01T00:00:00Z', verdict: 'FORWARDED', IP: { source: '::1', destination: '::1', ipVersion: 'IPv6' } };
    assertHubbleLine(JSON.stringify({ flow, node_name: 'n', time: flow.time }));
    assert.throws(() => assertHubbleLine(JSON.stringify({ flow: { ...flow, verdict: 'DENIED' }, node_name: 'n', time: flow.time })), /DENIED/);
    assert.throws(() => assertHubbleLine(JSON.stringify({ flow: { ...flow, event_kind: 'udp' }, node_name: 'n', time: flow.time })), /event_kind/);
    assert.throws(() => assertHubbleLine(JSON.stringify({ flow: { ...flow, socket_cookie: 3 }, node_name: 'n', time: flow.time })), /string/);
    assert.throws(() => assertHubbleLine(JSON.stringify({ flow, node_name: 'n', time: flow.time, uuid: 'x' })), /uuid/);
    assert.throws(() => strictParse('flow.Flow', { l7: { latency_ns: 5 } }), /string/);
  });
});

describe('every shaped line the suites make', () => {
  // The suites whose collectors record through test/shaped.ts: process, file, policy (kprobe,
  // tracepoint, uprobe, LSM, loader), flow (TCP, UDP, DNS, refused), netpolicy denials.
  const SUITES = ['output-tetragon', 'policy-events', 'network-pure', 'process', 'file', 'flow', 'netpolicy', 'policy-engine',
    'policy-compat-hooks'];

  test('parse strictly with Tetragon\'s and Hubble\'s schemas', { timeout: 900_000 }, () => {
    requireRoot();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-shaped-'));
    try {
      const file = path.join(dir, 'lines.jsonl');
      writeFileSync(file, '');
      const files = SUITES.map((s) => repoPath('dist', 'test', `${s}.test.js`));
      // A fresh test run (not a child of this one: node's runner marks its children by NODE_TEST_CONTEXT).
      const env: NodeJS.ProcessEnv = { ...process.env, VIGIL_SHAPED_LINES: file };
      delete env.NODE_TEST_CONTEXT;
      const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=dot', ...files], {
        env, encoding: 'utf8', timeout: 880_000, maxBuffer: 64 << 20,
      });
      // The suites' own results are npm test's to judge; here: they ran and made lines.
      assert.notEqual(r.status, null, `the suites did not finish: ${r.error?.message ?? r.signal}`);
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { shape: string; line: string });
      assert.ok(lines.length > 0, `the suites made no lines: ${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
      const bad = failures(lines);
      assert.deepEqual(bad, [], `${bad.length} of ${lines.length} lines do not parse strictly`);
      const seen = kinds(lines);
      for (const k of ['process_exec', 'process_exit', 'process_kprobe', 'process_tracepoint', 'process_uprobe', 'process_lsm',
        'process_loader', 'rate_limit_info', 'flow:FORWARDED', 'flow:DROPPED', 'flow:L7', 'lost_events']) {
        assert.ok(seen.has(k), `no ${k} line among the ${lines.length} the suites made (saw ${[...seen].join(', ')})`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A cluster and node labels for the CLI (their envelopes carry them: Tetragon's cluster_name and node_labels, Hubble's flow node_labels). */
const CLUSTER_ENV = { VIGIL_CLUSTER_NAME: 'test-cluster', VIGIL_NODE_LABELS: 'topology.kubernetes.io/zone=zone-a,role=edge' };
const CLUSTER_TETRAGON = /"cluster_name":"test-cluster","node_labels":\{"topology.kubernetes.io\/zone":"zone-a","role":"edge"\}\}$/;

describe('the CLI\'s shaped lines, real activity', () => {
  test('vigil observe --output tetragon: exec, exit and file events parse strictly', async (t) => {
    requireRoot();
    const why = await missingFeature(['tracepoint', 'raw_tracepoint'], ['bpf_loop']);
    if (why) return t.skip(`this kernel lacks what the sensors need: ${why}`);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-shaped-'));
    try {
      // With credentials and namespaces: their capability, securebits and namespace fields parse strictly too.
      const r = await observeRun(['--output', 'tetragon', '--sensors', 'exec,exit,file', '--path-prefix', dir, '--duration', '2',
        '--process-cred', '--process-ns'], () => {
        spawnSync('/bin/sh', ['-c', `echo x > ${dir}/a && mv ${dir}/a ${dir}/b && /bin/true`]);
      }, undefined, CLUSTER_ENV);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.split('\n').filter(Boolean).map((line) => ({ shape: 'tetragon', line }));
      assert.deepEqual(failures(lines), []);
      for (const { line } of lines) assert.match(line, CLUSTER_TETRAGON, line);
      const seen = kinds(lines);
      for (const k of ['process_exec', 'process_exit', 'process_kprobe']) assert.ok(seen.has(k), `no ${k} in ${r.stdout.slice(0, 2000)}`);
      const exec = lines.map(({ line }) => JSON.parse(line)).find((o) => o.process_exec)?.process_exec.process;
      for (const k of ['process_credentials', 'cap', 'ns']) assert.ok(k in exec, `--process-cred --process-ns: no ${k}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('vigil run --policy --output tetragon: a policy\'s events parse strictly', async (t) => {
    requireRoot();
    const why = await missingFeature(['tracepoint', 'raw_tracepoint'], ['bpf_loop']);
    if (why) return t.skip(`this kernel lacks what the policy engine needs: ${why}`);
    const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'vigil-shaped-')));
    try {
      // Scoped to a copy of cat the test runs: no other process is touched.
      const cat = path.join(dir, 'shaped-cat');
      copyFileSync('/bin/cat', cat);
      chmodSync(cat, 0o755);
      const policy = path.join(dir, 'p.yaml');
      writeFileSync(policy, ['apiVersion: cilium.io/v1alpha1', 'kind: TracingPolicy', 'metadata: {name: shaped-openat}', 'spec:',
        '  kprobes:', '  - call: sys_openat', '    syscall: true', '    args: [{index: 1, type: string}]',
        `    selectors: [{matchBinaries: [{operator: In, values: ["${cat}"]}]}]`, ''].join('\n'));
      const r = await vigilRun(['run', '--policy', policy, '--output', 'tetragon', '--duration', '3'], 'running', () => {
        spawnSync(cat, ['/etc/hostname'], { stdio: 'ignore' });
      }, undefined, CLUSTER_ENV);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.split('\n').filter(Boolean).map((line) => ({ shape: 'tetragon', line }));
      assert.deepEqual(failures(lines), []);
      for (const { line } of lines) assert.match(line, CLUSTER_TETRAGON, line);
      assert.ok(kinds(lines).has('process_kprobe'), `no process_kprobe in ${r.stdout.slice(0, 2000)}${r.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('vigil observe --sensors flow -o jsonpb: a loopback connection and a refused one parse strictly', async (t) => {
    requireRoot();
    const why = await missingFeature(['tracepoint', 'raw_tracepoint', 'cgroup_sock_addr']);
    if (why) return t.skip(`this kernel lacks what the flow sensor needs: ${why}`);
    const server = net.createServer((s) => s.end('hi'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const r = await observeRun(['--sensors', 'flow', '-o', 'jsonpb', '--include-self', '--ip', '127.0.0.1', '--duration', '3'], async () => {
        for (const p of [port, 1]) {
          await new Promise<void>((resolve) => {
            const c = net.connect(p, '127.0.0.1');
            c.on('error', () => resolve());
            c.on('close', () => resolve());
            c.resume();
          });
        }
      }, undefined, CLUSTER_ENV);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.split('\n').filter(Boolean).map((line) => ({ shape: 'hubble', line }));
      assert.deepEqual(failures(lines), []);
      for (const { line } of lines) {
        if (line.includes('"flow"')) assert.match(line, /"node_labels":\["topology.kubernetes.io\/zone=zone-a","role=edge"\]/, line);
      }
      const seen = kinds(lines);
      for (const k of ['flow:FORWARDED', 'flow:DROPPED']) assert.ok(seen.has(k), `no ${k} in ${r.stdout.slice(0, 2000)}`);
    } finally {
      server.close();
    }
  });
});

