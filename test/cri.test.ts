// Pod and container metadata from a real containerd's CRI (test/cri-util.ts):
// a pod sandbox made through RunPodSandbox with a locally built image, one
// container in it; Vigil finds the container by its process's cgroup and
// names it, its image, its pod, namespace and labels from the CRI listing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { containerOfPid } from '../src/process/container.js';
import { CriMetadata } from '../src/process/cri.js';
import { requireRoot } from './helpers.js';
import { containerdInstalled, TestContainerd, TEST_IMAGE, type TestPod } from './cri-util.js';

requireRoot();

describe('CRI metadata from containerd', () => {
  let ctd: TestContainerd;
  let pod: TestPod;
  before(async () => {
    // Installed by scripts/setup.sh: a missing one is a failure, not a skip.
    assert.ok(containerdInstalled(), 'containerd and ctr are installed');
    ctd = await TestContainerd.start();
    pod = await ctd.runPod('web-0', 'vigil-test', { app: 'web', tier: 'front' }, 'app', { role: 'server' });
  });
  after(async () => {
    await ctd?.stop();
  });

  test('the container\'s process: its id from the cgroup, then its name, image, pod, namespace, labels', async () => {
    const c = containerOfPid(pod.pid);
    assert.ok(c && c !== 'host', `container of ${pod.pid}: ${JSON.stringify(c)}`);
    assert.equal(c.id, pod.containerId);
    using cri = await CriMetadata.connect(ctd.socket);
    const m = cri.lookup(c.id);
    assert.ok(m, `${c.id} in ${cri.size} listed`);
    assert.equal(m.name, 'app');
    assert.equal(m.image, TEST_IMAGE);
    assert.equal(m.sandbox, false);
    assert.deepEqual(m.labels, { role: 'server' });
    assert.equal(m.pod.name, 'web-0');
    assert.equal(m.pod.namespace, 'vigil-test');
    assert.equal(m.pod.id, pod.podId);
    assert.equal(m.pod.labels.app, 'web');
    assert.equal(m.pod.labels.tier, 'front');
    assert.match(m.pod.uid, /^[0-9a-f-]{36}$/);
  });

  test('the sandbox\'s process is the pod\'s; an unknown id misses and lists again (once per refreshMs)', async () => {
    const s = containerOfPid(pod.sandboxPid);
    assert.ok(s && s !== 'host');
    using cri = await CriMetadata.connect(ctd.socket, { refreshMs: 60_000 });
    const m = cri.lookup(s.id);
    assert.equal(m?.sandbox, true);
    assert.equal(m?.pod.name, 'web-0');
    assert.equal(cri.lookup('0'.repeat(64)), undefined);
    assert.equal(cri.refreshes, 1, 'a miss within refreshMs of the last listing does not list again');
  });

  test('a socket nobody answers on: the error names it', async () => {
    await assert.rejects(CriMetadata.connect(`${ctd.dir}/nothing.sock`), /CRI ListPodSandbox on .*nothing\.sock/);
  });
});
