// deploy/kubernetes: the agent's manifests, checked against the Kubernetes
// schemas (kubernetes-models) and against Vigil itself: the agent's
// configuration loads, the policies ConfigMap's TracingPolicies load, the
// ports, paths and annotations agree with the configuration, the container
// gets capabilities and not privileged, and the plain bundle is the
// Kustomize base's resources. Pure.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { Namespace, ServiceAccount, ConfigMap } from 'kubernetes-models/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { parseAgentConfig } from '../src/agent/config.js';
import { loadPolicySources } from '../src/policy/loader.js';
import { repoPath } from '../src/util/paths.js';

const BASE = repoPath('deploy', 'kubernetes', 'base');
const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'v1/Namespace': Namespace, 'v1/ServiceAccount': ServiceAccount, 'v1/ConfigMap': ConfigMap, 'apps/v1/DaemonSet': DaemonSet,
};

interface Obj { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown }

function docs(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    assert.deepEqual(d.errors, [], file);
    return d.toJS() as Obj;
  });
}

const kustomization = parse(readFileSync(`${BASE}/kustomization.yaml`, 'utf8')) as { resources: string[]; namespace: string };
const objects = kustomization.resources.flatMap((r) => docs(`${BASE}/${r}`));
const byKind = (kind: string, name?: string): Obj => {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `${kind} ${name ?? ''}`);
  return o;
};

function validate(o: Obj): void {
  const Model = MODELS[`${o.apiVersion}/${o.kind}`];
  assert.ok(Model, `a schema for ${o.apiVersion} ${o.kind}`);
  new Model(o as never).validate();
}

interface Container {
  command: string[]; ports: { name: string; containerPort: number }[];
  securityContext: { privileged: boolean; allowPrivilegeEscalation: boolean; capabilities: { drop: string[]; add: string[] } };
  volumeMounts: { name: string; mountPath: string; subPath?: string }[];
  env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  readinessProbe: { httpGet: { port: string } };
}
interface PodTemplate { metadata: { annotations: Record<string, string> };
  spec: { hostPID: boolean; containers: Container[]; volumes: { name: string; configMap?: { name: string } }[] } }

describe('deploy/kubernetes', () => {
  test('every object is valid against its Kubernetes schema; every file of the base is a resource of it', () => {
    assert.deepEqual(readdirSync(BASE).filter((f) => f !== 'kustomization.yaml').sort(), [...kustomization.resources].sort());
    for (const o of objects) {
      validate(o);
      if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, kustomization.namespace, `${o.kind} ${o.metadata.name}`);
    }
  });

  test('the schemas refuse what Kubernetes would: the check can fail', () => {
    const ds = structuredClone(byKind('DaemonSet'));
    ((ds.spec as { template: PodTemplate }).template.spec.containers[0]! as unknown as { ports: unknown[] }).ports = [{ containerPort: 'metrics' }];
    assert.throws(() => validate(ds));
    const noSelector = structuredClone(byKind('DaemonSet'));
    delete (noSelector.spec as Record<string, unknown>).selector;
    assert.throws(() => validate(noSelector));
  });

  test('the plain bundle is the base\'s resources, in order', () => {
    const plain = docs(repoPath('deploy', 'kubernetes', 'vigil.yaml'));
    assert.deepEqual(plain, objects);
  });

  const ds = byKind('DaemonSet');
  const pod = (ds.spec as { template: PodTemplate }).template;
  const agent = pod.spec.containers[0]!;
  const configMap = byKind('ConfigMap', 'vigil-agent-config') as Obj & { data: Record<string, string> };
  const policies = byKind('ConfigMap', pod.spec.volumes.find((v) => v.name === 'policies')!.configMap!.name) as Obj & { data: Record<string, string> };
  const policiesMount = agent.volumeMounts.find((m) => m.name === 'policies')!.mountPath;
  // The configuration as the agent reads it, with the policies ConfigMap's files where it mounts them
  // (the loader checks that the directory exists): here, a directory of this test's.
  const policyDir = mkdtempSync(path.join(tmpdir(), 'vigil-deploy-'));
  for (const [name, content] of Object.entries(policies.data)) writeFileSync(path.join(policyDir, name), content);
  let config: ReturnType<typeof parseAgentConfig>;
  try {
    config = parseAgentConfig('agent.yaml', configMap.data['agent.yaml']!.replaceAll(policiesMount, policyDir));
  } finally {
    rmSync(policyDir, { recursive: true, force: true });
  }

  test('the agent\'s configuration loads; its ports are the container\'s, the probes\' and the scrape annotations\'', () => {
    const port = (name: string) => agent.ports.find((p) => p.name === name)?.containerPort;
    assert.equal(config.metrics?.address?.port, port('metrics'));
    assert.equal(pod.metadata.annotations['prometheus.io/scrape'], 'true');
    assert.equal(Number(pod.metadata.annotations['prometheus.io/port']), port('metrics'));
    assert.equal(pod.metadata.annotations['prometheus.io/path'], '/metrics');
    assert.equal(agent.readinessProbe.httpGet.port, 'health');
    assert.match(configMap.data['agent.yaml']!, new RegExp(`health:\\n\\s+address: 0\\.0\\.0\\.0:${port('health')}`));
    assert.ok(config.otlp?.endpoint, 'an OTLP endpoint');
    assert.equal(agent.env.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
    assert.equal(config.cluster?.name, 'kubernetes', 'the cluster\'s name in every envelope');
  });

  test('the config and policies are mounted where the command and the configuration look; the policies load', () => {
    const mount = (volume: string) => agent.volumeMounts.find((m) => m.name === volume)!;
    assert.equal(mount('config').mountPath, agent.command[agent.command.indexOf('--config') + 1]);
    assert.deepEqual(config.policies, [policyDir], `the configuration's policies are at ${policiesMount}`);
    for (const m of agent.volumeMounts) assert.ok(pod.spec.volumes.some((v) => v.name === m.name), `volume ${m.name}`);
    const loaded = loadPolicySources(Object.entries(policies.data).map(([name, content]) => ({ name, content })));
    assert.ok(loaded.ok, JSON.stringify(loaded.diagnostics));
    assert.ok(loaded.policies.length > 0);
  });

  test('capabilities, not privileged; the host\'s processes, bpffs, tracefs, cgroups, BTF and the CRI socket', () => {
    const sc = agent.securityContext;
    assert.equal(sc.privileged, false);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.deepEqual(sc.capabilities.drop, ['ALL']);
    assert.deepEqual([...sc.capabilities.add].sort(), ['BPF', 'DAC_READ_SEARCH', 'NET_ADMIN', 'PERFMON', 'SYS_PTRACE', 'SYS_RESOURCE']);
    assert.ok(!sc.capabilities.add.includes('SYS_ADMIN'));
    assert.equal(pod.spec.hostPID, true);
    const paths = agent.volumeMounts.map((m) => m.mountPath);
    for (const p of ['/sys/fs/bpf', '/sys/kernel/tracing', '/sys/fs/cgroup', '/sys/kernel/btf', '/run/containerd/containerd.sock']) {
      assert.ok(paths.includes(p), p);
    }
  });
});
