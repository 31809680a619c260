// Container names from a real Podman (Debian's), through its Docker Engine API
// (`podman system service` on a socket of the test's own): a container of an
// image built here (no registry: two static binaries imported as one layer),
// with labels; Vigil finds it by its process's cgroup and names it, its image
// and labels. Podman runs with its own root, run root and socket in a temporary
// directory (vfs storage, no network), so the host's containers are not
// touched; everything is removed afterwards, after a failure too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, rmdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { containerOfPid } from '../src/process/container.js';
import { EngineMetadata } from '../src/process/engine-api.js';
import { mountTable } from '../src/bpf/mounts.js';
import { repoPath } from '../src/util/paths.js';
import { requireRoot, waitFor } from './helpers.js';
import { VIGIL } from './observe-util.js';
import { outputOf, TestAgent } from './agent-util.js';

requireRoot();

const IMAGE = 'localhost/vigil-test:1';
const NAME = 'vigil-test-podman';

/** Podman of the test's own: its root, run root, API socket and storage under one directory. */
class TestPodman {
  readonly socket: string;
  private service: ChildProcess | undefined;
  /** The cgroup parents Podman made (libpod_parent), removed when empty. */
  private readonly madeParents: string[];

  private constructor(readonly dir: string) {
    this.socket = path.join(dir, 'podman.sock');
    this.madeParents = libpodParents().filter((p) => !existsSync(p));
  }

  private args(a: string[]): string[] {
    return ['--root', path.join(this.dir, 'root'), '--runroot', path.join(this.dir, 'run'), '--storage-driver', 'vfs',
      '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', ...a];
  }

  podman(...a: string[]): string {
    const r = spawnSync('podman', this.args(a), { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`podman ${a.join(' ')}: ${r.stderr.trim()}`);
    return r.stdout.trim();
  }

  static async start(): Promise<TestPodman> {
    const p = new TestPodman(mkdtempSync(path.join(os.tmpdir(), 'vigil-podman-')));
    try {
      const layer = path.join(p.dir, 'layer');
      mkdirSync(layer);
      copyFileSync(repoPath('test', '.output', 'pause'), path.join(layer, 'pause'));
      copyFileSync(repoPath('test', '.output', 'exit0'), path.join(layer, 'exit0'));
      const tar = spawnSync('tar', ['-C', layer, '--owner=0', '--group=0', '-cf', path.join(p.dir, 'layer.tar'), '.']);
      assert.equal(tar.status, 0, String(tar.stderr));
      p.podman('import', '--change', 'ENTRYPOINT ["/pause"]', path.join(p.dir, 'layer.tar'), IMAGE);
      p.service = spawn('podman', p.args(['system', 'service', '--time=0', `unix://${p.socket}`]), { stdio: 'ignore' });
      assert.ok(await waitFor(() => existsSync(p.socket), 30_000, 50), 'podman system service made its socket');
      return p;
    } catch (e) {
      await p.stop();
      throw e;
    }
  }

  /** A running container; its limits below the host's (this host's root may not raise them: no CAP_SYS_RESOURCE). */
  run(name: string, labels: Record<string, string>): { id: string; pid: number } {
    const id = this.podman('run', '-d', '--name', name, '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024',
      ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]), IMAGE);
    return { id, pid: Number(this.podman('inspect', '-f', '{{.State.Pid}}', name)) };
  }

  async stop(): Promise<void> {
    try {
      // The API service first: nothing then writes to the root while its containers are removed.
      if (this.service) {
        this.service.kill();
        await new Promise((resolve) => (this.service!.exitCode !== null ? resolve(undefined) : this.service!.once('exit', resolve)));
      }
      if (existsSync(path.join(this.dir, 'root'))) spawnSync('podman', this.args(['rm', '-f', '-a']), { timeout: 60_000 });
      // Podman's monitors (conmon) of this root outlive the removal and write their exit files into it:
      // ended first (their command lines name this test's own directory), then the directory goes.
      spawnSync('pkill', ['-KILL', '-f', this.dir]);
      await waitFor(() => spawnSync('pgrep', ['-f', this.dir]).status !== 0, 5_000, 50);
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    } finally {
      // Empty by now: the containers' cgroups went with them, conmon's (libpod_parent/conmon) with the service.
      for (const p of this.madeParents) {
        for (const d of [path.join(p, 'conmon'), p]) {
          try {
            rmdirSync(d);
          } catch { /* gone already, or not made here */ }
        }
      }
    }
  }
}

/** Where Podman's cgroupfs manager puts containers: libpod_parent in each hierarchy. */
function libpodParents(): string[] {
  return mountTable().filter((m) => m.fstype === 'cgroup' || m.fstype === 'cgroup2').map((m) => path.join(m.target, 'libpod_parent'));
}

function podmanInstalled(): boolean {
  return spawnSync('podman', ['--version']).status === 0;
}

describe('container names from Podman', { timeout: 180_000 }, () => {
  let podman: TestPodman;
  let ctr: { id: string; pid: number };
  before(async () => {
    // Installed by scripts/setup.sh: a missing one is a failure, not a skip.
    assert.ok(podmanInstalled(), 'podman is installed');
    podman = await TestPodman.start();
    ctr = podman.run(NAME, { app: 'vigil-test', tier: 'back' });
  });
  after(async () => {
    await podman?.stop();
  });

  test('the container\'s process: its id from the cgroup, then its name, image and labels from the engine', async () => {
    const c = containerOfPid(ctr.pid);
    assert.ok(c && c !== 'host', `pid ${ctr.pid} is in a container`);
    assert.equal(c.runtime, 'podman');
    assert.equal(c.id, ctr.id);
    const engine = await EngineMetadata.connect(podman.socket);
    assert.equal(engine.runtime, 'podman');
    const m = engine.lookup(ctr.id);
    assert.ok(m, 'listed');
    assert.equal(m.name, NAME);
    assert.equal(m.image, IMAGE);
    assert.match(m.imageId, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual({ app: m.labels.app, tier: m.labels.tier }, { app: 'vigil-test', tier: 'back' });
    assert.equal(engine.lookup('f'.repeat(64)), undefined, 'an unknown id misses');
  });

  test('observe: a process started in the container carries its name, image and labels', async () => {
    const o = spawn(process.execPath, [VIGIL, 'observe', '--sensors', 'exec', '--output', 'json', '--container-socket', podman.socket,
      '--duration', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    o.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    o.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    try {
      assert.ok(await waitFor(() => /watching/.test(err), 30_000, 50), err);
      podman.podman('exec', NAME, '/exit0');
      const ours = (): Record<string, any> | undefined => out.split('\n').filter(Boolean).map((l) => JSON.parse(l))
        .find((e) => e.process_exec?.process?.binary === '/exit0' && e.process_exec.process.container_id === ctr.id);
      assert.ok(await waitFor(() => ours() !== undefined, 30_000, 50), `no exec of /exit0 in the container:\n${out.slice(-2000)}\n${err}`);
      const p = ours()!.process_exec.process;
      assert.deepEqual(p.container, {
        name: NAME, image: IMAGE, image_id: p.container.image_id, labels: p.container.labels, runtime: 'podman',
      });
      assert.equal(p.container.labels.app, 'vigil-test');
      assert.equal(p.docker, ctr.id);
      assert.equal(p.pod, undefined, 'not a Kubernetes pod');
    } finally {
      o.kill('SIGINT');
      await new Promise((resolve) => (o.exitCode !== null ? resolve(undefined) : o.once('exit', resolve)));
    }
  });

  test('the agent (containerEngine.socket): a client\'s JSON events of the container carry its names', async () => {
    const agent = await TestAgent.start(`sensors: [exec]\ncontainerEngine:\n  socket: ${podman.socket}\n`);
    try {
      assert.equal(agent.line('ready')?.containerEngine, `${podman.socket} (podman)`);
      const client = agent.vigil(['events', '--sensors', 'exec', '--output', 'json', '--count', '1', '--binary', '/exit0']);
      await agent.waitClients(1);
      podman.podman('exec', NAME, '/exit0');
      const out = await outputOf(client);
      assert.equal(out.status, 0, out.stderr);
      const line = JSON.parse(out.stdout.trim());
      assert.equal(line.process_exec.process.container_id, ctr.id);
      assert.equal(line.process_exec.process.container.name, NAME);
      assert.equal(line.process_exec.process.container.labels.tier, 'back');
    } finally {
      await agent.stop();
    }
  });

  test('--container-socket: a relative path is refused; a socket nobody answers on is an error naming it', () => {
    const rel = spawnSync(process.execPath, [VIGIL, 'observe', '--container-socket', 'podman.sock'], { encoding: 'utf8' });
    assert.equal(rel.status, 2);
    assert.equal(rel.stderr, 'vigil observe: --container-socket: expected an absolute path or "none", got "podman.sock"\n');
    const none = path.join(podman.dir, 'nobody.sock');
    const r = spawnSync(process.execPath, [VIGIL, 'observe', '--sensors', 'exec', '--container-socket', none, '--duration', '1'],
      { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^vigil observe: container engine ${none} /version: connect ENOENT`, 'm'));
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  });
});
