// Container identification from cgroup paths: pure table of every runtime's
// path shapes, then real cgroups named as each runtime names them, with a
// test process moved in; and the id-to-path index of the hierarchy.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  containerFromCgroupPath, containerFromProcCgroup, containerCgroupIds, containerCgroups, parseProcCgroup,
  cgroupV2Path, CgroupPaths, ContainerLookupError,
} from '../src/process/container.js';
import { HOST, type ContainerInfo } from '../src/process/types.js';
import { cgroup2 } from '../src/bpf/mounts.js';
import { removeCgroupTree, requireRoot } from './helpers.js';

const A = '7951fb549ab99e0722a949b6c121634e1f3a36b5bacbe5392991e3b12251e6b8';
const B = '605439acbd4fb18c145069289094b17f17e0cfa938f78012d4960bc797305f22';
const UID = 'ac04f3f2-1f2c-11e9-b015-1ebee232acfa';
const UID_ = UID.replace(/-/g, '_');
const STATIC_UID = 'bd12dd3393227d950605a2444b13c27a';

type Want = Omit<ContainerInfo, 'podQos'> & { podQos?: ContainerInfo['podQos'] } | typeof HOST;

const CASES: Array<[string, string, Want]> = [
  // docker
  ['docker cgroupfs', `/docker/${A}`, { id: A, runtime: 'docker' }],
  ['docker systemd', `/system.slice/docker-${A}.scope`, { id: A, runtime: 'docker' }],
  ['docker systemd docker.slice', `/docker.slice/docker-${A}.scope`, { id: A, runtime: 'docker' }],
  ['docker, systemd inside the container', `/system.slice/docker-${A}.scope/init.scope`, { id: A, runtime: 'docker' }],
  ['docker in docker: innermost', `/docker/${A}/docker/${B}`, { id: B, runtime: 'docker' }],
  ['rootless docker', `/user.slice/user-1000.slice/user@1000.service/docker.service/${A}`, { id: A, runtime: 'docker' }],
  // containerd / CRI
  ['containerd CRI systemd', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${A}.scope`,
    { id: A, runtime: 'containerd', podUid: UID, podQos: 'burstable' }],
  ['containerd CRI systemd besteffort', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${A}.scope`,
    { id: A, runtime: 'containerd', podUid: UID, podQos: 'besteffort' }],
  ['containerd CRI systemd guaranteed', `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${A}.scope`,
    { id: A, runtime: 'containerd', podUid: UID, podQos: 'guaranteed' }],
  ['containerd slice names on cgroupfs', `/system.slice/containerd.service/kubepods-burstable-pod${UID_}.slice:cri-containerd:${A}`,
    { id: A, runtime: 'containerd', podUid: UID, podQos: 'burstable' }],
  ['containerd static pod', `/kubepods-burstable-pod${STATIC_UID}.slice:cri-containerd:${A}`,
    { id: A, runtime: 'containerd', podUid: STATIC_UID, podQos: 'burstable' }],
  ['kubepods cgroupfs (runtime not named)', `/kubepods/besteffort/pod${UID}/${B}`,
    { id: B, runtime: 'cri', podUid: UID, podQos: 'besteffort' }],
  ['kubepods cgroupfs guaranteed', `/kubepods/pod${UID}/${B}`, { id: B, runtime: 'cri', podUid: UID, podQos: 'guaranteed' }],
  ['kind node (docker) running a pod', `/system.slice/docker-${B}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${UID_}.slice/cri-containerd-${A}.scope`,
    { id: A, runtime: 'containerd', podUid: UID, podQos: 'burstable' }],
  ['nerdctl', `/system.slice/nerdctl-${A}.scope`, { id: A, runtime: 'containerd' }],
  ['ctr (namespace default)', `/default/${A}`, { id: A, runtime: 'containerd' }],
  ['cri-dockerd', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/docker-${A}.scope`,
    { id: A, runtime: 'docker', podUid: UID, podQos: 'burstable' }],
  // CRI-O
  ['cri-o systemd', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${A}.scope`,
    { id: A, runtime: 'cri-o', podUid: UID, podQos: 'besteffort' }],
  ['cri-o cgroupfs', `/kubepods/besteffort/pod${UID}/crio-${A}`, { id: A, runtime: 'cri-o', podUid: UID, podQos: 'besteffort' }],
  ['cri-o conmon is a host process', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-conmon-${A}.scope`, HOST],
  // podman
  ['podman root', `/machine.slice/libpod-${A}.scope`, { id: A, runtime: 'podman' }],
  ['podman split /container', `/machine.slice/libpod-${A}.scope/container`, { id: A, runtime: 'podman' }],
  ['podman rootless', `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${A}.scope`, { id: A, runtime: 'podman' }],
  ['podman payload', `/machine.slice/libpod-payload-${A}.scope`, { id: A, runtime: 'podman' }],
  ['podman cgroupfs', `/libpod_parent/libpod-${A}`, { id: A, runtime: 'podman' }],
  ['podman conmon is a host process', `/machine.slice/libpod-conmon-${A}.scope`, HOST],
  // leaf names alone (what a BPF program reads from the kernfs node)
  ['leaf docker scope', `docker-${A}.scope`, { id: A, runtime: 'docker' }],
  ['leaf cri-containerd scope', `cri-containerd-${A}.scope`, { id: A, runtime: 'containerd' }],
  // host
  ['root', '/', HOST],
  ['empty', '', HOST],
  ['user session', '/user.slice/user-1000.slice/user@1000.service/init.scope', HOST],
  ['system service', '/system.slice/containerd.service', HOST],
  ['docker daemon', '/system.slice/docker.service', HOST],
  ['kubelet', '/kubepods.slice', HOST],
  ['pod slice without a container', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`, HOST],
  ['short id is not an id', '/docker/7951fb549ab9', HOST],
  ['upper-case hex is not an id', `/docker/${A.toUpperCase()}`, HOST],
  ['65 hex digits is not an id', `/docker/${A}0`, HOST],
];

describe('containerFromCgroupPath', () => {
  for (const [name, p, want] of CASES) {
    test(name, () => {
      const got = containerFromCgroupPath(p);
      if (want === HOST) {
        assert.equal(got, HOST);
        return;
      }
      assert.notEqual(got, HOST);
      const w = { ...want } as ContainerInfo;
      assert.deepEqual(got, w);
    });
  }
});

describe('/proc/<pid>/cgroup', () => {
  test('v2 line first', () => {
    const text = `0::/system.slice/docker-${A}.scope\n`;
    assert.deepEqual(containerFromProcCgroup(text), { id: A, runtime: 'docker' });
    assert.equal(cgroupV2Path(text), `/system.slice/docker-${A}.scope`);
  });
  test('hybrid with cgroupfs docker: only v1 lines name the container', () => {
    const text = [
      `12:pids:/docker/${A}`, `4:memory:/docker/${A}`, `2:cpu,cpuacct:/docker/${A}`,
      `1:name=systemd:/docker/${A}`, '0::/system.slice/containerd.service', '',
    ].join('\n');
    assert.deepEqual(containerFromProcCgroup(text), { id: A, runtime: 'docker' });
    assert.equal(cgroupV2Path(text), '/system.slice/containerd.service');
  });
  test('v1 only (no v2 line)', () => {
    const text = `10:devices:/system.slice/docker-${A}.scope\n1:name=systemd:/system.slice/docker-${A}.scope\n`;
    assert.deepEqual(containerFromProcCgroup(text), { id: A, runtime: 'docker' });
    assert.equal(cgroupV2Path(text), undefined);
  });
  test('host', () => {
    assert.equal(containerFromProcCgroup('9:name=systemd:/\n4:memory:/user.slice\n0::/user.slice/user-0.slice/session-1.scope\n'), HOST);
  });
  test('paths holding colons are kept whole', () => {
    const lines = parseProcCgroup(`0::/system.slice/containerd.service/kubepods-pod${UID_}.slice:cri-containerd:${A}\n`);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.path, `/system.slice/containerd.service/kubepods-pod${UID_}.slice:cri-containerd:${A}`);
    assert.deepEqual(containerFromProcCgroup(`0::${lines[0]?.path}`), { id: A, runtime: 'containerd', podUid: UID, podQos: 'guaranteed' });
  });
});

// --- real cgroups -------------------------------------------------------------

function hex64(seed: number): string {
  let s = '';
  for (let i = 0; s.length < 64; i++) s += ((seed * 2654435761 + i * 40503) >>> 0).toString(16).padStart(8, '0');
  return s.slice(0, 64);
}

describe('real cgroups shaped as each runtime names them', () => {
  const root = cgroup2().path;
  const base = `vigil-test-${process.pid}`;
  const children: ChildProcess[] = [];
  const made: string[] = [];

  const podUid = '0f1e2d3c-4b5a-6978-8a9b-acbdcedff001';
  const shapes: Array<{ name: string; rel: string; want: ContainerInfo }> = [
    { name: 'docker systemd', rel: `system.slice/docker-${hex64(1)}.scope`, want: { id: hex64(1), runtime: 'docker' } },
    { name: 'docker cgroupfs', rel: `docker/${hex64(2)}`, want: { id: hex64(2), runtime: 'docker' } },
    {
      name: 'containerd CRI burstable pod',
      rel: `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${podUid.replace(/-/g, '_')}.slice/cri-containerd-${hex64(3)}.scope`,
      want: { id: hex64(3), runtime: 'containerd', podUid, podQos: 'burstable' },
    },
    {
      name: 'cri-o besteffort pod',
      rel: `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${podUid.replace(/-/g, '_')}.slice/crio-${hex64(4)}.scope`,
      want: { id: hex64(4), runtime: 'cri-o', podUid, podQos: 'besteffort' },
    },
    { name: 'kubepods cgroupfs', rel: `kubepods/burstable/pod${podUid}/${hex64(5)}`, want: { id: hex64(5), runtime: 'cri', podUid, podQos: 'burstable' } },
    { name: 'podman', rel: `machine.slice/libpod-${hex64(6)}.scope/container`, want: { id: hex64(6), runtime: 'podman' } },
  ];

  function mk(rel: string): string {
    const parts = rel.split('/');
    let cur = path.join(root ?? '', base);
    for (const p of ['', ...parts]) {
      if (p) cur = path.join(cur, p);
      if (!existsSync(cur)) {
        mkdirSync(cur);
        made.push(cur);
      }
    }
    return cur;
  }

  function cleanup(): void {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    // Deepest first; a cgroup with a live process cannot go, so wait for the kills.
    if (root) removeCgroupTree(root, `/${base}`);
  }

  before(() => {
    requireRoot();
    assert.ok(root, 'cgroup v2 is mounted');
  });
  after(() => {
    cleanup();
    assert.equal(existsSync(path.join(root ?? '', base)), false, 'test cgroups removed');
  });

  test('a process moved into each shape reads as that container', async () => {
    const cgroupOf: Array<{ rel: string; dir: string; pid: number; want: ContainerInfo }> = [];
    for (const s of shapes) {
      const dir = mk(s.rel);
      const child = spawn('sleep', ['30'], { stdio: 'ignore' });
      children.push(child);
      await new Promise<void>((res, rej) => { child.once('spawn', () => res()); child.once('error', rej); });
      assert.ok(child.pid);
      writeFileSync(path.join(dir, 'cgroup.procs'), `${child.pid}\n`);
      cgroupOf.push({ rel: s.rel, dir, pid: child.pid, want: s.want });
    }
    for (const c of cgroupOf) {
      const text = readFileSync(`/proc/${c.pid}/cgroup`, 'latin1');
      const v2 = cgroupV2Path(text);
      assert.ok(v2?.endsWith(`/${base}/${c.rel}`), `v2 path ${v2}`);
      assert.deepEqual(containerFromProcCgroup(text), c.want, c.rel);
      // The cgroup id the kernel gives this process (its directory's inode) is found by container id.
      const ino = statSync(c.dir, { bigint: true }).ino;
      const ids = containerCgroupIds(c.want.id, root ?? undefined);
      assert.ok(ids.includes(ino), `${c.rel}: ${ino} in ${ids}`);
      // A short prefix does as well as the full id.
      assert.deepEqual(containerCgroupIds(c.want.id.slice(0, 12), root ?? undefined), ids);
      const resolved = new CgroupPaths(root ?? '').get(ino);
      assert.equal(resolved, `/${base}/${c.rel}`);
    }
    const all = containerCgroups(root ?? undefined).filter((c) => c.path.startsWith(`/${base}/`));
    for (const c of cgroupOf) assert.ok(all.some((a) => a.container.id === c.want.id));
  });

  test('containerCgroupIds includes descendants and nothing else', () => {
    const outer = mk(`system.slice/docker-${hex64(7)}.scope`);
    const inner = mk(`system.slice/docker-${hex64(7)}.scope/init.scope`);
    const nested = mk(`system.slice/docker-${hex64(7)}.scope/docker/${hex64(8)}`);
    const ino = (d: string) => statSync(d, { bigint: true }).ino;
    const ids = containerCgroupIds(hex64(7), root ?? undefined);
    assert.deepEqual(new Set(ids), new Set([ino(outer), ino(inner), ino(path.dirname(nested)), ino(nested)]));
    // The nested container alone.
    assert.deepEqual(containerCgroupIds(hex64(8), root ?? undefined), [ino(nested)]);
  });

  test('unknown, ambiguous and malformed ids', () => {
    const r = root ?? undefined;
    assert.throws(() => containerCgroupIds('ffffffffffffffff0000', r), ContainerLookupError);
    assert.throws(() => containerCgroupIds('not-hex', r), ContainerLookupError);
    assert.throws(() => containerCgroupIds('', r), ContainerLookupError);
    // Two containers whose ids share a prefix: the prefix is ambiguous, a longer one is not.
    const x = `abc1${'0'.repeat(60)}`;
    const y = `abc2${'0'.repeat(60)}`;
    const dx = mk(`system.slice/docker-${x}.scope`);
    mk(`machine.slice/libpod-${y}.scope`);
    assert.throws(() => containerCgroupIds('abc', r), /ambiguous/);
    assert.deepEqual(containerCgroupIds('ABC1', r), [statSync(dx, { bigint: true }).ino]);
  });
});

describe('CgroupPaths', () => {
  test('a new cgroup is found at once; an id a scan missed waits for the next periodic scan', () => {
    // Any directory tree stands for the cgroup hierarchy: ids are the directories' inodes.
    const root = mkdtempSync(path.join(os.tmpdir(), 'vigil-cgpaths-'));
    try {
      let now = 0;
      const paths = new CgroupPaths(root, () => now, 1000);
      const ino = (d: string) => statSync(path.join(root, d), { bigint: true }).ino;
      const made = (d: string) => {
        mkdirSync(path.join(root, d));
        return ino(d);
      };
      const gone = 12345678901n;
      // At time `at`, id asks for `want`; `rescans` made since the first.
      let first = 0;
      const ask = (at: number, id: bigint, want: string | undefined, rescans: number) => {
        now = at;
        assert.equal(paths.get(id), want, `at ${at} ms`);
        assert.equal(paths.scans - first, rescans, `rescans at ${at} ms`);
      };
      assert.equal(paths.get(made('a')), '/a');
      first = paths.scans;
      // A container starting 1 ms later: its cgroup is new, the miss rescans at once.
      ask(1, made('b'), '/b', 1);
      // An id no scan finds (a cgroup removed before its record was read): one rescan, then it waits.
      ask(2, gone, undefined, 2);
      ask(2, gone, undefined, 2);
      // A new cgroup is still found at once; the missed id is asked again only after minRescanMs.
      ask(3, made('c'), '/c', 3);
      ask(500, gone, undefined, 3);
      ask(1004, gone, undefined, 4);
      // Known ids and 0 never rescan.
      ask(1005, ino('a'), '/a', 4);
      ask(1005, 0n, undefined, 4);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
