// The agent's `firewall` section on a veth pair this test makes (never a
// host interface), pinged from the namespace's end:
// - at start the interface gets its XDP firewall with the section's rules: a
//   blocked source's pings are dropped and counted (status, Prometheus), another
//   source's pass;
// - SIGHUP makes the rules what the new section says (one unblocked, another
//   blocked, a rate limit);
// - the firewall outlives the agent (pinned): after it stopped, the blocked
//   source is still dropped;
// - a firewall that cannot be attached stops the start with file:line:col.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/util/net.js';
import { missingFeature, requireRoot, runCli, waitFor } from './helpers.js';
import { createVethNamespace, removeVethNamespace } from './attach-util.js';
import { TestAgent, vigil } from './agent-util.js';
import type { FirewallStatus } from '../src/network/firewall.js';

const ns = `vigil-afw-${process.pid}`;
const host = `vaf${process.pid}h`;
const peer = `vaf${process.pid}p`;
// 169.254.<n>.0/24, never 169.254.169.x.
const net = 3 + ((process.pid * 11) % 160);
const addr = (i: number): string => `169.254.${net}.${i}`;

/** Pings the host end from `src` in the namespace: the replies received. */
function ping(src: number, count = 3): number {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '1', '-I', addr(src), addr(1)],
    { encoding: 'utf8', timeout: 20_000 });
  const m = /(\d+) received/.exec(r.stdout);
  assert.ok(m, `ping: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

function status(): FirewallStatus {
  const r = runCli('firewall', 'status', '--json', '-i', host);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { firewalls: FirewallStatus[] }).firewalls[0]!;
}

const section = (lines: string[]): string => ['firewall:', `  - interface: ${host}`, ...lines.map((l) => `    ${l}`), ''].join('\n');

describe('the agent\'s firewall section', { timeout: 240_000 }, () => {
  let agent: TestAgent | undefined;
  let skip: string | undefined;

  before(async () => {
    requireRoot();
    skip = await missingFeature(['xdp']);
    if (skip) return;
    removeVethNamespace(ns, host);
    createVethNamespace(ns, host, peer, [`${addr(1)}/24`], [`${addr(2)}/24`, `${addr(3)}/24`]);
  });
  after(async () => {
    await agent?.stop();
    runCli('firewall', 'detach', host);
    removeVethNamespace(ns, host);
  });

  test('attached at start, changed by SIGHUP, still dropping after the agent stopped', async (t) => {
    if (skip) return t.skip(`the kernel has no XDP: ${skip}`);
    const metricsPort = await freePort();
    const base = `sensors: [exec]\nmetrics: {address: "127.0.0.1:${metricsPort}"}\n`;
    agent = await TestAgent.start(`${base}${section([`block: [${addr(2)}]`])}`);
    assert.match(agent.line(/^firewall attached/)?.msg ?? '', /^firewall attached \(XDP (native|generic)\)$/);
    assert.equal(ping(2), 0, 'the blocked source is dropped');
    assert.equal(ping(3), 3, 'another source passes');
    const s = status();
    assert.equal(s.attached, true);
    assert.deepEqual(s.rules.map((r) => [r.action, r.cidr, r.packets]), [['block', `${addr(2)}/32`, 3]]);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`^vigil_firewall_rule_packets_total\\{interface="${host}",action="block",cidr="${addr(2).replace(/\./g, '\\.')}/32"\\} 3$`, 'm'));
    assert.match(metrics, new RegExp(`^vigil_firewall_packets_total\\{interface="${host}",result="blocked"\\} 3$`, 'm'));

    // The configuration's YAML as TestAgent wrote it, with a new firewall section.
    const config = readFileSync(agent.configPath, 'utf8').replace(/^firewall:[\s\S]*$/m, '');
    writeFileSync(agent.configPath, `${config}${section([`block: [${addr(3)}/32]`, 'rateLimit: {pps: 1000, burst: 2000}'])}`);
    agent.proc.kill('SIGHUP');
    assert.ok(await waitFor(() => agent!.line('configuration reloaded') !== undefined || agent!.line(/^reload failed/) !== undefined, 60_000, 50));
    assert.ok(agent.line('configuration reloaded'), JSON.stringify(agent.log.slice(-3)));
    assert.equal(ping(2), 3, 'unblocked');
    assert.equal(ping(3), 0, 'blocked');
    const s2 = status();
    assert.deepEqual(s2.rules.map((r) => [r.action, r.cidr]), [['block', `${addr(3)}/32`]]);
    assert.deepEqual(s2.ratelimit, { pps: 1000, burst: 2000 });

    await agent.terminate();
    assert.equal(status().attached, true, 'the firewall stays attached (pinned)');
    assert.equal(ping(3), 0, 'and keeps dropping');
  });

  test('an interface that does not exist stops the start, at its position', async (t) => {
    if (skip) return t.skip(`the kernel has no XDP: ${skip}`);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-afw-'));
    try {
      const file = path.join(dir, 'agent.yaml');
      writeFileSync(file, `api:\n  socket: ${path.join(dir, 's.sock')}\nstate:\n  directory: ${path.join(dir, 'state')}\nhealth:\n  address: off\n` +
        `sensors: [exec]\nfirewall:\n  - interface: vgnope${process.pid % 1000}\n    block: [192.0.2.1]\n`);
      const r = spawnSync(process.execPath, [vigil, 'agent', '--config', file], { encoding: 'utf8', timeout: 60_000 });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}:9:16: firewall\\[0\\]\\.interface: firewall on vgnope\\d+: no interface named vgnope\\d+ in this network namespace$`, 'm'));
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
