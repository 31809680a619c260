// Which pods and cgroups a policy scoped to pods covers (src/policy/pod-scope.ts): Kubernetes'
// label selector semantics, Tetragon's containerSelector (the container's name as label "name"),
// a pod's sandbox left out, and a container's cgroups (its directory and all below). Pure.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { containerCgroupIndex, labelsMatch, scopeCgroups, scopeSelects } from '../src/policy/pod-scope.js';
import type { LabelSelector } from '../src/policy/ir.js';
import type { CriContainer } from '../src/process/cri.js';

const sel = (matchLabels: Record<string, string>, matchExpressions: LabelSelector['matchExpressions'] = []): LabelSelector =>
  ({ matchLabels, matchExpressions });

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const S = 'c'.repeat(64);

function ctr(id: string, name: string, namespace: string, labels: Record<string, string>, sandbox = false): CriContainer {
  return {
    id, name, image: '', imageRef: '', labels: {}, sandbox,
    pod: { id: S, name: 'p', namespace, uid: '0', labels },
  };
}

describe('pod scope', () => {
  test('label selectors: matchLabels and the four operators, ANDed; an empty or absent selector selects all', () => {
    const l = { app: 'web', tier: 'front' };
    assert.ok(labelsMatch(undefined, l));
    assert.ok(labelsMatch(sel({}), {}));
    assert.ok(labelsMatch(sel({ app: 'web' }), l));
    assert.ok(!labelsMatch(sel({ app: 'db' }), l));
    assert.ok(labelsMatch(sel({}, [{ key: 'tier', operator: 'In', values: ['front', 'back'] }]), l));
    assert.ok(!labelsMatch(sel({}, [{ key: 'zone', operator: 'In', values: ['a'] }]), l));
    assert.ok(labelsMatch(sel({}, [{ key: 'zone', operator: 'NotIn', values: ['a'] }]), l), 'NotIn: an absent key passes');
    assert.ok(!labelsMatch(sel({}, [{ key: 'app', operator: 'NotIn', values: ['web'] }]), l));
    assert.ok(labelsMatch(sel({}, [{ key: 'app', operator: 'Exists', values: [] }]), l));
    assert.ok(!labelsMatch(sel({}, [{ key: 'app', operator: 'DoesNotExist', values: [] }]), l));
    assert.ok(!labelsMatch(sel({ app: 'web' }, [{ key: 'tier', operator: 'In', values: ['back'] }]), l), 'requirements are ANDed');
    assert.ok(!labelsMatch(sel({}, [{ key: 'constructor', operator: 'Exists', values: [] }]), {}), 'own labels only');
  });

  test('a scope: namespace, pod labels, the container by name; never a sandbox', () => {
    const c = ctr(A, 'app', 'team-a', { app: 'web' });
    assert.ok(scopeSelects({ namespace: 'team-a' }, c));
    assert.ok(!scopeSelects({ namespace: 'team-b' }, c));
    assert.ok(scopeSelects({ podSelector: sel({ app: 'web' }) }, c), 'a TracingPolicy with a podSelector: any namespace');
    assert.ok(!scopeSelects({ namespace: 'team-a', podSelector: sel({ app: 'db' }) }, c));
    assert.ok(scopeSelects({ containerSelector: sel({ name: 'app' }) }, c));
    assert.ok(!scopeSelects({ containerSelector: sel({ name: 'sidecar' }) }, c));
    assert.ok(!scopeSelects({ namespace: 'team-a' }, ctr(S, '', 'team-a', { app: 'web' }, true)), 'the pause container is not the pod\'s');
  });

  test('a container\'s cgroups: its directory and every one below, nested containers in both', () => {
    const pod = '/kubepods/besteffort/pod12345678-1234-1234-1234-123456789abc';
    const dirs = [
      { path: '/', id: 1n }, { path: '/kubepods', id: 2n }, { path: '/kubepods/besteffort', id: 3n }, { path: pod, id: 4n },
      { path: `${pod}/${S}`, id: 5n }, { path: `${pod}/${A}`, id: 6n }, { path: `${pod}/${A}/init.scope`, id: 7n },
      { path: `${pod}/${A}/${B}`, id: 8n }, { path: '/system.slice', id: 9n },
    ];
    const index = containerCgroupIndex(dirs);
    assert.deepEqual(index.get(A), [6n, 7n, 8n]);
    assert.deepEqual(index.get(B), [8n]);
    assert.deepEqual(index.get(S), [5n]);
    const listed = [ctr(A, 'app', 'team-a', { app: 'web' }), ctr(S, '', 'team-a', { app: 'web' }, true), ctr(B, 'app', 'team-b', {})];
    assert.deepEqual([...scopeCgroups({ namespace: 'team-a' }, listed, index)], [6n, 7n, 8n]);
    assert.deepEqual([...scopeCgroups({ namespace: 'team-c' }, listed, index)], []);
    // A container listed whose cgroup is gone (it exited) covers nothing.
    assert.deepEqual([...scopeCgroups({ namespace: 'team-b' }, listed, containerCgroupIndex(dirs.filter((d) => d.id !== 8n)))], []);
  });
});
