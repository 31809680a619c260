// `vigil firewall` under `ip netns exec`, as a user runs it: each command is
// a new process in a mount namespace of its own (ip netns exec remounts /sys,
// hiding the host's bpffs), and the firewall attached by one must still be
// attached, and enforcing, when the command has exited and the next one runs.
// The interfaces are a veth pair this test creates: one end in the host, the
// other in a named network namespace it creates and deletes.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireRoot } from './helpers.js';
import { TestCgroup } from './attach-util.js';
import { requireFeature } from '../src/bpf/features.js';
import { repoPath } from '../src/util/paths.js';
import type { FirewallStatus } from '../src/network/firewall.js';

const vigil = repoPath('bin', 'vigil');
const NS = `vigil-rel-${process.pid}`;
const HOST_IF = `vrh${process.pid % 100000}`;
const NS_IF = `vrn${process.pid % 100000}`;
const SUBNET = `10.${200 + (process.pid % 50)}.${process.pid % 250}`;
const HOST_ADDR = `${SUBNET}.1`;
const NS_ADDR = `${SUBNET}.2`;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** vigil in the namespace, as `ip netns exec NS vigil ...`: a new process (and mount namespace) each time. */
function inNs(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', NS, process.execPath, vigil, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function inNsOk(...args: string[]): string {
  const r = inNs(...args);
  assert.equal(r.status, 0, `ip netns exec ${NS} vigil ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function statusInNs(): FirewallStatus[] {
  return (JSON.parse(inNsOk('firewall', 'status', '--json')) as { firewalls: FirewallStatus[] }).firewalls;
}

/** Whether a ping from the host end reaches the namespace end. */
function pings(): boolean {
  return spawnSync('ping', ['-c', '2', '-i', '0.2', '-W', '1', '-q', NS_ADDR], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

describe('vigil firewall under ip netns exec', () => {
  let made = false;

  before(() => {
    requireRoot();
    ip('netns', 'add', NS);
    made = true;
    ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF);
    ip('link', 'set', NS_IF, 'netns', NS);
    ip('addr', 'add', `${HOST_ADDR}/30`, 'dev', HOST_IF);
    ip('link', 'set', HOST_IF, 'up');
    ip('-n', NS, 'addr', 'add', `${NS_ADDR}/30`, 'dev', NS_IF);
    ip('-n', NS, 'link', 'set', NS_IF, 'up');
    ip('-n', NS, 'link', 'set', 'lo', 'up');
  });

  after(() => {
    if (!made) return;
    inNs('firewall', 'detach', NS_IF);
    spawnSync('ip', ['link', 'del', HOST_IF], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
  });

  test('attach persists across invocations, enforces, and is the namespace\'s own', async (t) => {
    if (!(await requireFeature(t, 'xdp'))) return;
    assert.ok(pings(), 'the veth pair carries pings before any firewall');

    const attached = inNsOk('firewall', 'attach', NS_IF);
    assert.match(attached, new RegExp(`firewall attached to ${NS_IF} \\(XDP (native|generic), program (\\d+)\\)`));
    const progId = Number(/program (\d+)/.exec(attached)![1]);

    // The command has exited, and its mount namespace with it: the interface still runs the program.
    assert.match(ip('-n', NS, 'link', 'show', NS_IF), new RegExp(`prog/xdp id ${progId} `));
    const st = statusInNs();
    assert.equal(st.length, 1);
    assert.equal(st[0]!.interface, NS_IF);
    assert.equal(st[0]!.attached, true, st[0]!.problem);
    assert.equal(st[0]!.programId, progId);

    // Rules set by later invocations take effect.
    inNsOk('firewall', 'block', HOST_ADDR);
    assert.equal(pings(), false, 'pings from a blocked source are dropped');
    assert.ok(statusInNs()[0]!.counters.droppedBlocked > 0);
    inNsOk('firewall', 'unblock', HOST_ADDR);
    assert.ok(pings(), 'unblocked, pings pass again');

    // Interface names belong to their namespace: the host's firewall list does not show this one.
    const host = spawnSync(process.execPath, [vigil, 'firewall', 'status', '--json'], { encoding: 'utf8' });
    assert.equal(host.status, 0, host.stderr);
    const hostList = (JSON.parse(host.stdout) as { firewalls: FirewallStatus[] }).firewalls;
    assert.ok(!hostList.some((f) => f.interface === NS_IF), 'not listed outside its namespace');

    // nsenter into the same network namespace (no new mount namespace) finds the same firewall.
    const viaNsenter = spawnSync('nsenter', [`--net=/run/netns/${NS}`, process.execPath, vigil, 'firewall', 'status', '--json'],
      { encoding: 'utf8' });
    assert.equal(viaNsenter.status, 0, viaNsenter.stderr);
    assert.equal((JSON.parse(viaNsenter.stdout) as { firewalls: FirewallStatus[] }).firewalls[0]?.programId, progId);

    // A second attach is refused: it is already there.
    const again = inNs('firewall', 'attach', NS_IF);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already attached/);

    assert.match(inNsOk('firewall', 'detach', NS_IF), new RegExp(`firewall detached from ${NS_IF}`));
    assert.doesNotMatch(ip('-n', NS, 'link', 'show', NS_IF), /xdp/);
    assert.deepEqual(statusInNs(), []);
  });

  test('netpolicy apply under ip netns exec claims nothing it did not do', async (t) => {
    if (!(await requireFeature(t, 'cgroup_sock_addr'))) return;
    const cgroup = new TestCgroup();
    const dir = mkdtempSync(path.join(os.tmpdir(), `vigil-netns-${process.pid}-`));
    cgroup.create();
    try {
      const file = path.join(dir, 'allow.yaml');
      writeFileSync(file, `cgroup: ${cgroup.path}\ndefault: allow\nrules: []\n`);
      // ip netns exec's fresh /sys has no cgroup2 mounted: the cgroup cannot be resolved there.
      const r = inNs('netpolicy', 'apply', file);
      const st = spawnSync(process.execPath, [vigil, 'netpolicy', 'status', '--json'], { encoding: 'utf8' });
      assert.equal(st.status, 0, st.stderr);
      const mine = (JSON.parse(st.stdout) as { policies: { cgroupPath: string; attached: boolean }[] }).policies
        .find((p) => p.cgroupPath === cgroup.path);
      if (r.status === 0) {
        assert.ok(mine, `reported applied (${r.stderr.trim()}) but not there once the command is gone`);
        assert.equal(mine.attached, true);
      } else {
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^vigil netpolicy: cgroup v2 is not mounted/);
        assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
        assert.equal(mine, undefined, 'refused, and nothing applied');
      }
    } finally {
      spawnSync(process.execPath, [vigil, 'netpolicy', 'remove', cgroup.path], { stdio: 'ignore' });
      await cgroup.remove();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('with no bpffs that outlives the command, attach refuses rather than claim success', async (t) => {
    if (!(await requireFeature(t, 'xdp'))) return;
    // The parent (sh) is in a private mount namespace without bpffs; ip netns exec gives vigil another.
    // (The trailing `echo` keeps sh from exec'ing ip, so sh stays the parent.)
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
      `umount -l /sys/fs/bpf 2>/dev/null; ip netns exec ${NS} "$0" "$1" firewall attach ${NS_IF}; echo "rc=$?"`,
      process.execPath, vigil], { encoding: 'utf8', timeout: 60_000 });
    assert.match(r.stdout, /^rc=1$/m, r.stderr);
    assert.match(r.stderr, /^vigil firewall: this process runs in a mount namespace of its own .* no bpffs that outlives it/m);
    assert.doesNotMatch(r.stdout, /firewall attached/);
    assert.doesNotMatch(ip('-n', NS, 'link', 'show', NS_IF), /xdp/, 'nothing attached either');
  });
});
