// observe's --namespace, --pod, --label: which pods' events are kept. Pure.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PodFilter } from '../src/process/pod-filter.js';
import type { CriContainer } from '../src/process/cri.js';

function container(namespace: string, name: string, labels: Record<string, string>): CriContainer {
  return { id: 'c1', name: 'app', image: 'img', imageRef: '', labels: {}, sandbox: false, pod: { id: 'p1', name, namespace, uid: 'u', labels } };
}

describe('PodFilter', () => {
  const web = container('shop', 'web-0', { app: 'web', tier: 'front' });
  const db = container('shop', 'db-0', { app: 'db' });

  test('no flag: everything, even outside pods', () => {
    const f = new PodFilter({});
    assert.equal(f.active, false);
    assert.ok(f.matches(undefined));
  });

  test('values of one flag are alternatives, flags together all hold; KEY alone: the label is there', () => {
    assert.ok(new PodFilter({ pods: ['db-0', 'web-0'] }).matches(web));
    assert.ok(new PodFilter({ namespaces: ['shop'], labels: ['app=web', 'tier'] }).matches(web));
    assert.ok(!new PodFilter({ namespaces: ['shop'], labels: ['app=web', 'tier'] }).matches(db));
    assert.ok(!new PodFilter({ namespaces: ['other'] }).matches(web));
    assert.ok(!new PodFilter({ labels: ['app='] }).matches(web), 'an empty value is a value');
  });

  test('a process in no pod matches no pod filter; a label without a key is refused', () => {
    assert.ok(!new PodFilter({ namespaces: ['shop'] }).matches(undefined));
    assert.throws(() => new PodFilter({ labels: ['=web'] }), /--label: expected KEY=VALUE or KEY, got "=web"/);
  });
});
