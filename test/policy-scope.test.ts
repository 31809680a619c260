// A policy scoped to pods affects only its pods' processes, on a real
// containerd (test/cri-util.ts): pods in two namespaces, a
// TracingPolicyNamespaced (podSelector, containerSelector) on openat with a
// Post and a Sigkill, run through startPolicies (as `vigil run --policy
// --cri-socket`). A process moved into each pod's cgroups opens the same
// files: events and the kill for the pod in the policy's namespace only, none
// for the other pod or the host, counted by the kernel; a pod made later is
// covered from its first exec's listing on, and its cgroups leave the set when
// it goes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { startPolicies, type RunningPolicies } from '../src/policy/index.js';
import type { PolicyEvent } from '../src/policy/ir.js';
import { ProcessCache } from '../src/process/cache.js';
import { AgentPolicies } from '../src/agent/policies.js';
import { formatDiagnostic } from '../src/policy/schema.js';
import { requireRoot, tracefs, waitFor } from './helpers.js';
import { containerdInstalled, joinCgroupsOf, TestContainerd, type TestPod } from './cri-util.js';

requireRoot();
tracefs();

/** A TracingPolicyNamespaced on openat of files under dir: Sigkill for `kill`, Post for the rest. */
function policy(name: string, namespace: string, dir: string, containerName: string): string {
  return YAML.stringify({
    apiVersion: 'cilium.io/v1alpha1', kind: 'TracingPolicyNamespaced', metadata: { name, namespace },
    spec: {
      podSelector: { matchLabels: { app: 'web' } },
      containerSelector: { matchExpressions: [{ key: 'name', operator: 'In', values: [containerName] }] },
      kprobes: [{
        call: 'sys_openat', syscall: true,
        args: [{ index: 0, type: 'int' }, { index: 1, type: 'string' }, { index: 2, type: 'int' }],
        selectors: [
          { matchArgs: [{ index: 1, operator: 'Equal', values: [`${dir}/kill`] }], matchActions: [{ action: 'Sigkill' }] },
          { matchArgs: [{ index: 1, operator: 'Prefix', values: [`${dir}/`] }], matchActions: [{ action: 'Post' }] },
        ],
      }],
    },
  });
}

/** cat's result on `file`, run in the pod's cgroups (or on the host when pod is undefined). */
function catIn(pod: TestPod | undefined, file: string): { pid: number; status: number | null; signal: string | null; out: string } {
  const join = pod ? `${joinCgroupsOf(pod.pid)} && ` : '';
  const r = spawnSync('sh', ['-c', `echo $$ >&2; ${join}exec /bin/cat ${file}`], { encoding: 'utf8' });
  return { pid: Number(r.stderr.split('\n')[0]), status: r.status, signal: r.signal, out: r.stdout };
}

describe('a namespaced policy affects only its pod\'s processes', () => {
  let ctd: TestContainerd;
  let podA: TestPod;
  let podB: TestPod;
  let dir: string;
  let running: RunningPolicies | undefined;
  const events: PolicyEvent[] = [];
  const warnings: string[] = [];
  const cache = new ProcessCache();

  before(async () => {
    assert.ok(containerdInstalled(), 'containerd and ctr are installed');
    dir = mkdtempSync(path.join(tmpdir(), 'vigil-scope-'));
    writeFileSync(path.join(dir, 'data'), 'data\n');
    writeFileSync(path.join(dir, 'kill'), 'secret\n');
    writeFileSync(path.join(dir, 'scoped.yaml'), policy('scoped', 'team-a', dir, 'app'));
    writeFileSync(path.join(dir, 'sidecar.yaml'), policy('sidecar-only', 'team-a', `${dir}/none`, 'sidecar'));
    ctd = await TestContainerd.start();
    podA = await ctd.runPod('web-0', 'team-a', { app: 'web' }, 'app');
    podB = await ctd.runPod('web-0', 'team-b', { app: 'web' }, 'app');
    running = await startPolicies({
      paths: [path.join(dir, 'scoped.yaml'), path.join(dir, 'sidecar.yaml')], criSocket: ctd.socket, cache,
      onEvent: (e) => events.push(e), onWarning: (d) => warnings.push(formatDiagnostic(d)),
    });
  });
  after(async () => {
    await running?.close();
    cache.close();
    await ctd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const drained = (pid: number): PolicyEvent[] => {
    running!.engine.drain();
    return events.filter((e) => e.pid === pid);
  };

  test('attached, scoped to the pod\'s cgroups: events for pod A\'s process only, counted', async () => {
    assert.deepEqual([...running!.names].sort(), ['scoped', 'sidecar-only']);
    assert.ok(running!.engine.isScoped('scoped'));
    assert.ok((running!.engine.scopeOf('scoped')?.size ?? 0) >= 1, 'pod A\'s container cgroup is in the set');
    assert.equal(running!.engine.scopeOf('sidecar-only')?.size, 0, 'no container is named sidecar');
    const a = catIn(podA, `${dir}/data`);
    const b = catIn(podB, `${dir}/data`);
    const host = catIn(undefined, `${dir}/data`);
    for (const r of [a, b, host]) assert.equal(r.status, 0, JSON.stringify(r));
    assert.ok(await waitFor(() => drained(a.pid).length > 0, 3000, 20), `an event for pod A's cat: ${JSON.stringify(events.map((e) => e.pid))}`);
    // Events leave in order: B's and the host's came after A's, so they would be here by now.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(drained(a.pid).length, 1);
    assert.equal(drained(a.pid)[0]!.action, 'KPROBE_ACTION_POST');
    assert.deepEqual(drained(b.pid), [], 'pod B (namespace team-b) is not in scope');
    assert.deepEqual(drained(host.pid), [], 'the host is never in scope');
    const c = running!.engine.counters('scoped')!;
    assert.equal(c.matched, 1n, 'the kernel matched one event: pod A\'s');
    assert.equal(running!.engine.counters('sidecar-only')!.evaluated, 0n, 'a policy whose set is empty evaluates nothing');
  });

  test('Sigkill reaches pod A\'s process, never pod B\'s or the host\'s', async () => {
    const a = catIn(podA, `${dir}/kill`);
    const b = catIn(podB, `${dir}/kill`);
    const host = catIn(undefined, `${dir}/kill`);
    assert.equal(a.signal, 'SIGKILL', JSON.stringify(a));
    assert.equal(a.out, '');
    for (const r of [b, host]) {
      assert.equal(r.status, 0, JSON.stringify(r));
      assert.equal(r.out, 'secret\n');
    }
    assert.ok(await waitFor(() => drained(a.pid).length > 0, 3000, 20));
    assert.equal(drained(a.pid)[0]!.action, 'KPROBE_ACTION_SIGKILL');
    assert.deepEqual([...drained(b.pid), ...drained(host.pid)], []);
    assert.equal(running!.engine.counters('scoped')!.actions.sigkill, 1n);
  });

  test('the agent\'s policies (cri.socket): scoped the same way, to its own namespace', async () => {
    const seen: PolicyEvent[] = [];
    const agent = new AgentPolicies({
      cache, criSocket: ctd.socket, onEvent: (e) => seen.push(e), onLost: () => undefined, onBatchEnd: () => undefined,
      onWarning: (d) => warnings.push(formatDiagnostic(d)),
    });
    try {
      const yaml = policy('agent-scoped', 'team-b', dir, 'app');
      assert.deepEqual(await agent.add([{ name: 'agent.yaml', content: yaml }], 'api'), ['agent-scoped']);
      const a = catIn(podA, `${dir}/data`);
      const b = catIn(podB, `${dir}/data`);
      assert.ok(await waitFor(() => seen.some((e) => e.pid === b.pid), 3000, 20), 'pod B (team-b) is this policy\'s');
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(seen.filter((e) => e.pid === a.pid), [], 'pod A (team-a) is not');
      agent.delete('agent-scoped');
      assert.deepEqual(agent.names, []);
    } finally {
      agent.close();
    }
  });

  test('a pod made later in the namespace is covered once it execs; its cgroups leave when it goes', async () => {
    const t0 = performance.now();
    const podC = await ctd.runPod('web-1', 'team-a', { app: 'web' }, 'app');
    const started = performance.now();
    // Its first exec (the container's own) comes from a cgroup the last walk did not see: the pods are listed again.
    let covered = 0;
    let pid = 0;
    assert.ok(await waitFor(() => {
      const r = catIn(podC, `${dir}/data`);
      pid = r.pid;
      if (drained(pid).length) covered = performance.now();
      return covered > 0;
    }, 5000, 50), `pod C covered (scoper: ${JSON.stringify(running!.scoper?.stats)})`);
    process.stderr.write(`# pod C: started ${Math.round(started - t0)} ms after RunPodSandbox, covered ${Math.round(covered - started)} ms after it started\n`);
    const before = running!.engine.scopeOf('scoped')!.size;
    await ctd.cri.call('StopPodSandbox', { podSandboxId: podC.podId }, 30_000);
    await ctd.cri.call('RemovePodSandbox', { podSandboxId: podC.podId }, 30_000);
    await running!.scoper!.refresh();
    assert.ok(running!.engine.scopeOf('scoped')!.size < before, 'pod C\'s cgroups left the set');
    assert.ok(!warnings.some((w) => /stays dormant/.test(w)), warnings.join('\n'));
  });
});
