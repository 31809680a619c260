// Least privilege: the capabilities each configuration needs (pure), and a
// real agent's sets after start (/proc/PID/status, every thread) matching
// the documented set for its configuration; `capabilities.drop: false`
// keeps them all. Loading a policy live with the dropped set is
// test/agent-api.test.ts (every agent test runs dropped).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { parseAgentConfig } from '../src/agent/config.js';
import { agentCapabilities, capabilityMask, capabilitySet } from '../src/agent/capabilities.js';
import { capabilityList } from '../src/kernel/capabilities.js';
import { requireRoot, tracefs } from './helpers.js';
import { TestAgent } from './agent-util.js';

const caps = (yaml: string, release = '6.12.0'): string[] => agentCapabilities(parseAgentConfig('a.yaml', yaml), release).map((n) => n.cap);

describe('the capabilities a configuration needs', () => {
  test('per feature, as docs/agent.md lists them', () => {
    assert.deepEqual(caps(''), ['CAP_BPF', 'CAP_PERFMON']);
    assert.deepEqual(caps('sensors: [exec, flow, dns]'), ['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN']);
    assert.deepEqual(caps('firewall: [{interface: veth0, block: [10.0.0.0/8]}]'), ['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN']);
    assert.deepEqual(caps('metrics: {address: "127.0.0.1:9464", bpfStats: true}'), ['CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_ADMIN']);
    assert.deepEqual(caps('api: {group: vigil}'), ['CAP_BPF', 'CAP_PERFMON', 'CAP_CHOWN']);
    assert.deepEqual(caps('capabilities: {keep: [sys_ptrace, CAP_BPF]}'), ['CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_PTRACE']);
    // Before 5.8 no CAP_BPF/CAP_PERFMON; before 5.11 BPF memory is charged to RLIMIT_MEMLOCK.
    assert.deepEqual(caps('', '5.4.0-150-generic'), ['CAP_SYS_ADMIN', 'CAP_SYS_RESOURCE']);
    assert.deepEqual(caps('', '5.10.0'), ['CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_RESOURCE']);
  });
});

describe('a running agent holds only those', { timeout: 120_000 }, () => {
  const agents: TestAgent[] = [];
  after(async () => {
    for (const a of agents) await a.stop();
  });

  /** Every set of every thread of `pid`, as capability names. */
  function sets(pid: number): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const status = `/proc/${pid}/task/${tid}/status`;
      for (const s of ['CapEff', 'CapPrm', 'CapBnd', 'CapInh', 'CapAmb'] as const) {
        out.set(`${tid} ${s}`, capabilityList(capabilitySet(s, status)));
      }
    }
    return out;
  }

  for (const [config, want] of [
    ['sensors: [exec]\n', ['CAP_PERFMON', 'CAP_BPF']],
    ['sensors: [exec, flow]\n', ['CAP_NET_ADMIN', 'CAP_PERFMON', 'CAP_BPF']],
  ] as const) {
    test(`${config.trim()}: ${want.join(', ')} in every thread's effective, permitted and bounding sets`, async () => {
      requireRoot();
      tracefs();
      const agent = await TestAgent.start(`${config}store: {enabled: false}\n`);
      agents.push(agent);
      const pid = agent.proc.pid!;
      const all = sets(pid);
      assert.ok(all.size >= 5 * 4, `only ${all.size / 5} threads`);
      for (const [where, got] of all) {
        assert.deepEqual(got, where.endsWith('CapInh') || where.endsWith('CapAmb') ? [] : [...want], where);
      }
      assert.equal(capabilitySet('CapEff', `/proc/${pid}/status`), capabilityMask(want));
      const line = agent.line('capabilities');
      assert.deepEqual(line?.kept, [...want]);
      assert.equal(line?.how, 'dropped the rest at start');
      assert.equal((await agent.health()).state, 'ready');
    });
  }

  test('capabilities.drop: false keeps everything, and says so', async () => {
    requireRoot();
    const agent = await TestAgent.start('sensors: [exec]\nstore: {enabled: false}\ncapabilities: {drop: false}\n');
    agents.push(agent);
    const own = readFileSync('/proc/self/status', 'utf8').match(/^CapEff:.*$/m)?.[0];
    assert.equal(readFileSync(`/proc/${agent.proc.pid!}/status`, 'utf8').match(/^CapEff:.*$/m)?.[0], own);
    assert.equal(agent.line('capabilities.drop is false: the agent keeps every capability it was started with')?.level, 'warn');
  });
});
