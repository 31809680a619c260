// Helpers of the attach-kind tests (test/attach-*.test.ts): the test object,
// reading its counters, child processes that wait for a go, a veth pair in a
// network namespace, a cgroup. Everything made here is named after this
// process's pid and removed by the caller's after hook.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, mkdtempSync, readFileSync, rmSync, rmdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import type { Socket as UdpSocket } from 'node:dgram';
import os from 'node:os';
import net from 'node:net';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ObjectSpec, type BpfObject } from '../src/bpf/object.js';
import { TypedMap } from '../src/bpf/map.js';
import * as codec from '../src/bpf/codec.js';
import type { Codec } from '../src/bpf/codec.js';
import { cgroup2 } from '../src/bpf/mounts.js';
import { repoPath } from '../src/util/paths.js';

/** Runs body while link is attached; detaches after, also when body throws. */
export function whileAttached<T>(link: { close(): void }, body: () => T): T {
  try {
    return body();
  } finally {
    link.close();
  }
}

/** bpf/.output/testdata/<name>.bpf.o, parsed. */
export function testObject(name: string): ObjectSpec {
  return ObjectSpec.fromFile(repoPath('bpf', '.output', 'testdata', `${name}.bpf.o`));
}

/** A single-slot u64 ARRAY map (COUNTER in attach.bpf.c). */
export function counter(obj: BpfObject, map: string): number {
  return new TypedMap(obj.map(map), codec.u32, codec.u64n).get(0) ?? 0;
}

/** A HASH of value -> times seen (HISTOGRAM in attach.bpf.c), sorted by key. */
export function histogram<K extends number | bigint>(obj: BpfObject, map: string, key: Codec<K>): [K, number][] {
  const entries = [...new TypedMap(obj.map(map), key, codec.u64n).entries()];
  return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A temporary directory with a marker file only this test opens. */
export function makeMarker(): { dir: string; path: string; other: string; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `vigil-attach-${process.pid}-`));
  const file = path.join(dir, 'marker');
  const other = path.join(dir, 'other');
  writeFileSync(file, 'vigil attach test\n');
  writeFileSync(other, 'not the marker\n');
  return { dir, path: file, other, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A child process whose stdout is read line by line. `line(re)` waits
 * (bounded) for the next line matching re; `exit()` waits for the exit code.
 */
export class Child {
  readonly proc: ChildProcessWithoutNullStreams;
  private lines: string[] = [];
  private partial = '';
  private stderr = '';
  private exitCode: Promise<number | null>;

  constructor(file: string, args: string[]) {
    this.proc = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (s: string) => {
      const parts = (this.partial + s).split('\n');
      this.partial = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (s: string) => { this.stderr += s; });
    this.exitCode = new Promise((resolve, reject) => {
      this.proc.once('error', reject);
      this.proc.once('close', (code) => resolve(code));
    });
  }

  get pid(): number {
    const pid = this.proc.pid;
    if (pid === undefined) throw new Error('child did not start');
    return pid;
  }

  async line(re: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex((l) => re.test(l));
      if (i >= 0) {
        const [l] = this.lines.splice(0, i + 1).slice(-1);
        return re.exec(l ?? '') as RegExpExecArray;
      }
      if (Date.now() > end || this.proc.exitCode !== null) {
        throw new Error(`child ${this.proc.spawnfile}: no line matching ${re} (stdout ${JSON.stringify(this.lines)}, ` +
          `stderr ${JSON.stringify(this.stderr)}, exit ${this.proc.exitCode})`);
      }
      await sleep(5);
    }
  }

  go(): void {
    this.proc.stdin.write('go\n');
  }

  async exit(timeoutMs = 10_000): Promise<number | null> {
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      return await this.exitCode;
    } finally {
      clearTimeout(timer);
    }
  }

  get errors(): string {
    return this.stderr;
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

function run(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`${cmd} ${args.join(' ')}: ${stderr || String(e)}`);
  }
}

function tryRun(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch { /* already gone */ }
}

/**
 * Makes network namespace `ns` and a veth pair: `host` here, `peer` in ns, both
 * up (and ns's loopback), with the addresses given (CIDRs; IPv6 ones without
 * duplicate address detection, so they are usable at once).
 */
export function createVethNamespace(ns: string, host: string, peer: string, hostAddrs: string[], nsAddrs: string[]): void {
  const addr = (prefix: string[], cidr: string, dev: string): void => {
    const v6 = cidr.includes(':');
    run('ip', [...prefix, ...(v6 ? ['-6'] : []), 'addr', 'add', cidr, 'dev', dev, ...(v6 ? ['nodad'] : [])]);
  };
  run('ip', ['netns', 'add', ns]);
  run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
  run('ip', ['link', 'set', peer, 'netns', ns]);
  for (const a of hostAddrs) addr([], a, host);
  run('ip', ['link', 'set', host, 'up']);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  for (const a of nsAddrs) addr(['-n', ns], a, peer);
  run('ip', ['-n', ns, 'link', 'set', peer, 'up']);
}

/** Deleting the namespace deletes the peer and with it the pair; the link delete covers a half-made setup. */
export function removeVethNamespace(ns: string, host: string): void {
  tryRun('ip', ['netns', 'del', ns]);
  if (existsSync(`/sys/class/net/${host}`)) tryRun('ip', ['link', 'del', host]);
}

/**
 * A network namespace and a veth pair between it and this namespace, made
 * for one test run: traffic goes only across this pair, between two
 * link-local addresses of a /30 nothing else uses.
 */
export class VethPair {
  readonly ns = `vigil-test-${process.pid}`;
  readonly host = `vgl${process.pid}h`;
  readonly peer = `vgl${process.pid}p`;
  readonly hostAddr: string;
  readonly nsAddr: string;

  constructor() {
    // 169.254.<n>.0/30, n from the pid so concurrent runs do not share a
    // subnet; never 169.254.169.x (cloud metadata lives there).
    let n = 1 + (process.pid % 250);
    if (n === 169) n = 251;
    this.hostAddr = `169.254.${n}.1`;
    this.nsAddr = `169.254.${n}.2`;
  }

  create(): void {
    this.remove();
    createVethNamespace(this.ns, this.host, this.peer, [`${this.hostAddr}/30`], [`${this.nsAddr}/30`]);
  }

  get ifindex(): number {
    return Number.parseInt(readFileSync(`/sys/class/net/${this.host}/ifindex`, 'utf8'), 10);
  }

  /** Whether the host end has a clsact qdisc (Vigil's TC hook). */
  hasClsact(): boolean {
    return execFileSync('tc', ['qdisc', 'show', 'dev', this.host], { encoding: 'utf8' }).includes('clsact');
  }

  remove(): void {
    removeVethNamespace(this.ns, this.host);
  }

  /** Runs node inside the namespace. */
  nodeInNs(script: string, args: string[]): Child {
    return new Child('ip', ['netns', 'exec', this.ns, process.execPath, '-e', script, ...args]);
  }
}

/** A cgroup v2 directory under the hierarchy's root, for processes the test starts. */
export class TestCgroup {
  readonly path: string;

  /** `name` tells apart several cgroups of one test process; `parent`: a cgroup of the test's to make it in. */
  constructor(name = '', parent?: TestCgroup) {
    const root = cgroup2();
    if (!root.path) throw new Error(`cgroup v2 unavailable: ${root.reason ?? 'not mounted'}`);
    this.path = parent ? path.join(parent.path, name) : path.join(root.path, `vigil-test-${process.pid}${name ? `-${name}` : ''}`);
  }

  /** The cgroup id (bpf_skb_cgroup_id): the directory's inode number. */
  get id(): bigint {
    return statSync(this.path, { bigint: true }).ino;
  }

  create(): void {
    mkdirSync(this.path);
  }

  add(pid: number): void {
    const fd = openSync(path.join(this.path, 'cgroup.procs'), 'w');
    try {
      writeSync(fd, `${pid}\n`);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Runs a node script in the cgroup: `attempt` is the source of a function
   * `attempt(target)` resolving to "ok" or an error code. The child prints
   * "ready", is moved into the cgroup, then on "go" tries each target in turn
   * and prints one JSON line {target: result}. Returns it and the child's pid.
   */
  async runScript(attempt: string, targets: string[]): Promise<{ pid: number; results: Record<string, string> }> {
    const script = `${attempt}
console.log('ready');
process.stdin.once('data', async () => {
  const out = {};
  for (const t of process.argv.slice(1)) out[t] = await attempt(t);
  console.log(JSON.stringify(out));
  process.exit(0);
});
setTimeout(() => process.exit(3), 10000).unref();
`;
    const child = new Child(process.execPath, ['-e', script, ...targets]);
    try {
      await child.line(/^ready$/);
      this.add(child.pid);
      child.go();
      const line = await child.line(/^\{.*\}$/);
      assert.equal(await child.exit(), 0, child.errors);
      return { pid: child.pid, results: JSON.parse(line[0]) as Record<string, string> };
    } finally {
      child.kill();
    }
  }

  /** rmdir; a process that just exited can hold the cgroup for a moment. */
  async remove(): Promise<void> {
    if (!existsSync(this.path)) return;
    for (let i = 0; ; i++) {
      try {
        rmdirSync(this.path);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || i >= 100) throw e;
        await sleep(20);
      }
    }
  }
}

/** A TCP server on host that closes every connection (kept in `servers` for the caller to close); its port. */
export async function listenTcp(host: string, servers: net.Server[]): Promise<number> {
  const server = net.createServer((c) => c.destroy());
  servers.push(server);
  server.listen(0, host);
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** Connects from this process (outside any test cgroup): "ok" or the error's code. */
export function connectHere(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => { s.end(); resolve('ok'); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
  });
}

/**
 * The descriptor of a bound dgram socket. Node keeps its handle under a
 * private symbol; `_handle` is the deprecated public alias.
 */
export function udpSocketFd(sock: UdpSocket): number {
  const state = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const handle = state
    ? (sock as unknown as Record<symbol, { handle?: { fd?: number } }>)[state]?.handle
    : (sock as unknown as { _handle?: { fd?: number } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('dgram socket has no descriptor (not bound?)');
  return fd;
}
