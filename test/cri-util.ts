// A real containerd for the container-runtime tests, all its own: root, state,
// sockets and CNI directories under one temporary directory, its CRI plugin's
// sandbox image built here (no registry): an image of one static file
// (test/.output/pause) as a docker-archive tar, imported with ctr. Pods run
// on the host's network (no CNI), in cgroups under /kubepods/besteffort/ as
// the kubelet's cgroupfs driver makes them. stop() removes what was made
// even after a failure: pods, the daemon, its shims' mounts, the directory
// and the cgroups.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CriClient } from '../src/process/cri.js';
import { repoPath } from '../src/util/paths.js';
import { waitFor } from './helpers.js';

export const TEST_IMAGE = 'vigil.test/pause:1';
const CGROUP_PARENT = '/kubepods/besteffort';

/** containerd and ctr are installed (scripts/setup.sh's PACKAGES). */
export function containerdInstalled(): boolean {
  return spawnSync('containerd', ['--version']).status === 0 && spawnSync('ctr', ['--version']).status === 0;
}

function goArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

/** A docker-archive tar of one layer holding `binary` as /pause, its entrypoint. */
export function buildImage(dir: string, binary: string, tag: string): string {
  const layerDir = path.join(dir, 'layer');
  mkdirSync(layerDir, { recursive: true });
  copyFileSync(binary, path.join(layerDir, 'pause'));
  const run = (cmd: string, args: string[]): void => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  };
  run('tar', ['-C', layerDir, '--owner=0', '--group=0', '-cf', path.join(dir, 'layer.tar'), '.']);
  const diff = createHash('sha256').update(readFileSync(path.join(dir, 'layer.tar'))).digest('hex');
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    architecture: goArch(), os: 'linux', config: { Entrypoint: ['/pause'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${diff}`] },
  }));
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: [tag], Layers: ['layer.tar'] }]));
  const out = path.join(dir, 'image.tar');
  run('tar', ['-C', dir, '-cf', out, 'manifest.json', 'config.json', 'layer.tar']);
  return out;
}

export interface TestPod {
  podId: string;
  containerId: string;
  /** The container's process (pause, in the container's cgroup). */
  pid: number;
  /** The sandbox's process. */
  sandboxPid: number;
}

export class TestContainerd {
  readonly socket: string;
  readonly cri: CriClient;
  private readonly pods: string[] = [];
  private readonly podUids: string[] = [];
  /** The cgroup directories above the pods that this run made (removed at stop when empty). */
  private readonly madeParents = cgroupRoots().flatMap((r) => [`${r}/kubepods`, `${r}${CGROUP_PARENT}`]).filter((d) => !existsSync(d));

  private constructor(readonly dir: string, private readonly daemon: ChildProcess) {
    this.socket = path.join(dir, 'containerd.sock');
    this.cri = new CriClient(this.socket);
  }

  /** Starts containerd and imports the test image; a failure stops what was started. */
  static async start(): Promise<TestContainerd> {
    const dir = mkdtempSync(path.join(tmpdir(), 'vigil-containerd-'));
    for (const d of ['cni/bin', 'cni/conf', 'img']) mkdirSync(path.join(dir, d), { recursive: true });
    writeFileSync(path.join(dir, 'config.toml'), `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "${dir}/containerd.sock"
[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${TEST_IMAGE}"
  # Lowering oom_score_adj (the sandbox asks for -998) is refused inside a container such as a CI runner.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${dir}/cni/bin"
    conf_dir = "${dir}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
`);
    let log = '';
    const daemon = spawn('containerd', ['--config', path.join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    daemon.stderr!.setEncoding('utf8').on('data', (s: string) => (log = (log + s).slice(-8192)));
    const c = new TestContainerd(dir, daemon);
    try {
      if (!(await waitFor(() => existsSync(c.socket), 20_000, 20))) throw new Error(`containerd did not start: ${log}`);
      const image = buildImage(path.join(dir, 'img'), repoPath('test', '.output', 'pause'), TEST_IMAGE);
      const r = spawnSync('ctr', ['-a', c.socket, '-n', 'k8s.io', 'images', 'import', image], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ctr images import: ${r.stderr}`);
      // The CRI plugin answers once it has initialised.
      if (!(await waitFor(async () => c.cri.version().then(() => true, () => false), 20_000, 50))) {
        throw new Error(`containerd's CRI plugin did not answer: ${log}`);
      }
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  /** A pod (host network) with one container of the test image; its processes found by their cgroups. */
  async runPod(name: string, namespace: string, podLabels: Record<string, string>, container: string,
    containerLabels: Record<string, string> = {}): Promise<TestPod> {
    const uid = randomUUID();
    this.podUids.push(uid);
    const config = {
      metadata: { name, uid, namespace, attempt: 0 },
      hostname: '',
      logDirectory: path.join(this.dir, 'logs', uid),
      labels: podLabels,
      linux: {
        cgroupParent: `${CGROUP_PARENT}/pod${uid}`,
        securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
      },
    };
    const { podSandboxId } = await this.cri.call<{ podSandboxId: string }>('RunPodSandbox', { config }, 60_000);
    this.pods.push(podSandboxId);
    const { containerId } = await this.cri.call<{ containerId: string }>('CreateContainer', {
      podSandboxId, sandboxConfig: config,
      config: { metadata: { name: container, attempt: 0 }, image: { image: TEST_IMAGE }, labels: containerLabels, logPath: `${container}.log` },
    }, 60_000);
    await this.cri.call('StartContainer', { containerId }, 60_000);
    let pid = 0;
    let sandboxPid = 0;
    await waitFor(() => {
      pid ||= pidInCgroup(containerId);
      sandboxPid ||= pidInCgroup(podSandboxId);
      return pid > 0 && sandboxPid > 0;
    }, 10_000, 20);
    if (!pid || !sandboxPid) throw new Error(`no process in the cgroups of ${containerId} / ${podSandboxId}`);
    return { podId: podSandboxId, containerId, pid, sandboxPid };
  }

  /** Removes the pods, stops containerd, unmounts and removes its directory and the pods' cgroups. Never throws. */
  async stop(): Promise<void> {
    for (const id of this.pods.splice(0)) {
      await this.cri.call('StopPodSandbox', { podSandboxId: id }, 30_000).catch(() => {});
      await this.cri.call('RemovePodSandbox', { podSandboxId: id }, 30_000).catch(() => {});
    }
    this.cri.close();
    if (this.daemon.exitCode === null) {
      const gone = new Promise((resolve) => this.daemon.once('exit', resolve));
      this.daemon.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (this.daemon.exitCode === null) this.daemon.kill('SIGKILL');
    }
    // Shims whose pods could not be removed, and their mounts.
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(this.dir)) process.kill(Number(pid), 'SIGKILL');
      } catch { /* gone */ }
    }
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(this.dir)).sort((a, b) => b.length - a.length);
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    rmSync(this.dir, { recursive: true, force: true });
    for (const uid of this.podUids.splice(0)) for (const r of cgroupRoots()) removeCgroupTree(`${r}${CGROUP_PARENT}/pod${uid}`);
    for (const d of [...this.madeParents].reverse()) {
      try {
        rmdirSync(d);
      } catch { /* not empty: someone else's pods, or never made */ }
    }
  }
}

/** A process whose cgroup path ends in the id, or 0. */
function pidInCgroup(id: string): number {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cgroup`, 'latin1').trim().endsWith(`/${id}`)) return Number(pid);
    } catch { /* gone */ }
  }
  return 0;
}

/** Every mounted cgroup hierarchy's root (v2, or each v1 controller's). */
function cgroupRoots(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2').map((f) => f[1]!);
}

function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(path.join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch { /* still populated: the kernel keeps it until its last process is gone */ }
}

/**
 * A shell command that moves the shell into every cgroup of process `pid`
 * (cgroup v2's and, on a hybrid host, each v1 hierarchy's): what it execs
 * next runs in that container as far as its cgroups tell.
 */
export function joinCgroupsOf(pid: number): string {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2');
  const steps: string[] = [];
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, ctrls = '', rel = ''] = line.split(/:(.*?):/);
    const m = ctrls === '' ? mounts.find((f) => f[2] === 'cgroup2')
      : mounts.find((f) => f[2] === 'cgroup' && ctrls.split(',').every((c) => f[3]!.split(',').includes(c)));
    if (m) steps.push(`echo $$ > '${m[1]}${rel}/cgroup.procs'`);
  }
  return steps.join(' && ');
}
