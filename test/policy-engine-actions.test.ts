// The policy engine's actions and lifecycle on the real kernel: Sigkill kills
// a reader (a copy of cat), Deny refuses connect() with EPERM in the test's own
// cgroup, Signal, rateLimit, NoPost and first-matching-selector semantics,
// stack traces, uprobes, live add/remove, and the kernel counters proving
// that a workload no selector matches sends nothing to user space.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { NotSupportedError } from '../src/bpf/errors.js';
import { repoPath } from '../src/util/paths.js';
import { spawn } from 'node:child_process';
import { requireRoot, tracefs, openFdCount, waitFor } from './helpers.js';
import { PolicyEngine } from '../src/policy/engine.js';
import { compile, engineForSuite, run, show } from './policy-engine-util.js';
import type { CompiledPolicy } from '../src/policy/ir.js';

requireRoot();
tracefs();

describe('policy engine actions', () => {
  // The engine's deny actions are scoped to the test's own cgroup only.
  const suite = engineForSuite({ cgroup: true });
  let cat: string;
  const mine = (): Record<string, unknown>[] => [{ operator: 'In', values: [suite.s.ops] }];
  const openat = (...selectors: Record<string, unknown>[]): Record<string, unknown> => ({
    kprobes: [{
      call: 'sys_openat', syscall: true,
      args: [{ index: 0, type: 'int' }, { index: 1, type: 'string' }, { index: 2, type: 'int' }],
      selectors,
    }],
  });

  before(() => {
    cat = path.join(suite.s.dir, 'cat');
    copyFileSync('/bin/cat', cat);
    chmodSync(cat, 0o755);
  });

  test('Sigkill on reads of a file kills the reader and reports KPROBE_ACTION_SIGKILL', async () => {
    const secret = suite.s.file('secret.txt', 'do not read\n');
    const policy = await compile({
      kprobes: [{
        call: 'sys_read', syscall: true, args: [{ index: 0, type: 'fd' }],
        selectors: [{
          matchArgs: [{ index: 0, operator: 'Equal', values: [secret] }],
          matchBinaries: [{ operator: 'In', values: [cat] }],
          matchActions: [{ action: 'Sigkill' }],
        }],
      }],
    });
    await suite.engine.add(policy);
    try {
      suite.events.clear();
      const killed = await run(cat, [secret]);
      assert.equal(killed.signal, 'SIGKILL', show(killed));
      assert.deepEqual(killed.lines, [], 'nothing printed: killed before write');
      const evs = suite.events.ofPolicy(suite.engine, policy.name);
      assert.equal(evs.length, 1, show(evs.map((e) => e.args)));
      const e = evs[0]!;
      assert.equal(e.action, 'KPROBE_ACTION_SIGKILL');
      assert.equal(e.pid, killed.pid);
      assert.equal(e.args[0]?.kind, 'file');
      assert.equal((e.args[0] as { path: string }).path, secret);
      // Other files, and the real cat, are untouched.
      const other = await run(cat, [suite.s.file('other.txt', 'fine\n')]);
      assert.equal(other.code, 0);
      const real = await run('/bin/cat', [secret]);
      assert.equal(real.code, 0);
      assert.deepEqual(real.lines, ['do not read']);
      const c = suite.engine.counters(policy.name)!;
      assert.equal(c.actions.sigkill, 1n);
      assert.equal(c.matched, 1n);
    } finally {
      suite.engine.remove(policy.name);
    }
  });

  test('Signal sends argSig', async () => {
    const policy = await compile(openat({
      matchArgs: [{ index: 1, operator: 'Equal', values: [`${suite.s.dir}/usr1`] }], matchBinaries: mine(),
      matchActions: [{ action: 'Signal', argSig: 10 }],
    }));
    await suite.engine.add(policy);
    try {
      suite.events.clear();
      const r = await run(suite.s.ops, ['open', `${suite.s.dir}/usr1`, 'open', `${suite.s.dir}/after`]);
      assert.equal(r.signal, 'SIGUSR1', show(r));
      const [e] = suite.events.ofPolicy(suite.engine, policy.name);
      assert.equal(e?.action, 'KPROBE_ACTION_SIGNAL');
    } finally {
      suite.engine.remove(policy.name);
    }
  });

  test('Deny refuses connect() with EPERM in the policy\'s cgroup, and reports it', async () => {
    const policy = await compile({
      kprobes: [{
        call: 'sys_connect', syscall: true, args: [{ index: 0, type: 'sock' }, { index: 1, type: 'sockaddr' }],
        selectors: [{
          matchArgs: [{ index: 1, operator: 'DPort', values: ['4447'] }], matchBinaries: mine(),
          matchActions: [{ action: 'Deny' }],
        }],
      }],
    });
    await suite.engine.add(policy);
    try {
      suite.events.clear();
      // Inside the cgroup: refused before any packet (EPERM = 1), and reported.
      const inside = await run(suite.s.ops, ['wait', 'connect4', '127.0.0.1', '4447', 'connect4', '127.0.0.1', '4448',
        'connect6', '::1', '4447'], { beforeGo: (pid) => suite.cg.add(pid) });
      assert.deepEqual(inside.lines, ['connect4 -1 1', 'connect4 -1 111', 'connect6 -1 1'], show(inside));
      const evs = suite.events.ofPolicy(suite.engine, policy.name);
      assert.equal(evs.length, 2, show(evs.map((e) => [e.action, e.args])));
      for (const e of evs) {
        assert.equal(e.action, 'KPROBE_ACTION_DENY');
        assert.equal(e.pid, inside.pid);
        assert.equal((e.args[1] as { port: number }).port, 4447);
      }
      // Outside the cgroup the same connect is not refused (ECONNREFUSED = 111).
      suite.events.clear();
      const outside = await run(suite.s.ops, ['connect4', '127.0.0.1', '4447']);
      assert.deepEqual(outside.lines, ['connect4 -1 111']);
      assert.equal(suite.events.ofPolicy(suite.engine, policy.name).length, 0);
      assert.equal(suite.engine.counters(policy.name)!.actions.deny, 2n);
    } finally {
      suite.engine.remove(policy.name);
    }
    // Removed: nothing refused any more.
    const after = await run(suite.s.ops, ['wait', 'connect4', '127.0.0.1', '4447'], { beforeGo: (pid) => suite.cg.add(pid) });
    assert.deepEqual(after.lines, ['connect4 -1 111']);
  });

  test('Deny refuses sendto() of UDP to a denied port with EPERM (sendmsg4)', async () => {
    const policy = await compile({
      kprobes: [{
        call: 'sys_sendto', syscall: true, args: [{ index: 0, type: 'sock' }, { index: 4, type: 'sockaddr' }],
        selectors: [{
          matchArgs: [{ index: 4, operator: 'DPort', values: ['5555'] }, { index: 4, operator: 'DAddr', values: ['127.0.0.0/8'] }],
          matchBinaries: mine(), matchActions: [{ action: 'Deny' }],
        }],
      }],
    });
    await suite.engine.add(policy);
    try {
      suite.events.clear();
      const inside = await run(suite.s.ops, ['wait', 'udp4', '127.0.0.1', '5555', 'udp4', '127.0.0.1', '5556'], { beforeGo: (pid) => suite.cg.add(pid) });
      assert.match(inside.lines[0] ?? '', /^udp4 -1 1 /, show(inside));
      assert.match(inside.lines[1] ?? '', /^udp4 1 0 /, show(inside));
      const evs = suite.events.ofPolicy(suite.engine, policy.name);
      assert.deepEqual(evs.map((e) => [e.action, (e.args[1] as { port: number }).port]), [['KPROBE_ACTION_DENY', 5555]]);
    } finally {
      suite.engine.remove(policy.name);
    }
  });

  test('Override cannot be enforced here: refused with the missing feature named', async () => {
    // The front end refuses it first...
    await assert.rejects(compile(openat({
      matchArgs: [{ index: 1, operator: 'Equal', values: ['/nope'] }],
      matchActions: [{ action: 'Override', argError: -1 }],
    })), /Override needs/);
    // ... and the engine on its own (a CompiledPolicy made by other means).
    const base = await compile(openat({ matchArgs: [{ index: 1, operator: 'Equal', values: ['/nope'] }] }));
    const hook = base.hooks[0]!;
    const sel = hook.selectors[0]!;
    const bad: CompiledPolicy = {
      ...base, name: `${base.name}-override`,
      hooks: [{ ...hook, selectors: [{ ...sel, matchActions: [{ action: 'Override', error: -1, pos: sel.pos }] }] }],
    };
    await assert.rejects(suite.engine.add(bad), (e: unknown) => e instanceof NotSupportedError && e.feature === 'override' &&
      /bpf_override_return/.test(e.message));
    assert.equal(suite.engine.has(bad.name), false);
  });

  test('rateLimit: one identical event per window and scope', async () => {
    const file = `${suite.s.dir}/rl`;
    for (const [scope, second] of [['thread', 1], ['process', 1], ['global', 0]] as const) {
      const policy = await compile(openat({
        matchArgs: [{ index: 1, operator: 'Prefix', values: [file] }], matchBinaries: mine(),
        matchActions: [{ action: 'Post', rateLimit: '1m', rateLimitScope: scope }],
      }));
      await suite.engine.add(policy);
      try {
        suite.events.clear();
        await run(suite.s.ops, ['open', file, 'open', file, 'open', file, 'open', file, 'open', `${file}-other`]);
        const first = suite.events.ofPolicy(suite.engine, policy.name);
        assert.equal(first.length, 2, `${scope}: one per distinct path: ${show(first.map((e) => e.args[1]))}`);
        const c = suite.engine.counters(policy.name)!;
        assert.equal(c.rateLimited, 3n, `${scope}: ${show(c)}`);
        assert.equal(c.posted, 2n);
        suite.events.clear();
        await run(suite.s.ops, ['open', file]);
        assert.equal(suite.events.ofPolicy(suite.engine, policy.name).length, second, `${scope}: another process`);
      } finally {
        suite.engine.remove(policy.name);
      }
    }
  });

  test('the first matching selector decides; NoPost suppresses the event, not the match', async () => {
    const policy = await compile(openat(
      { matchArgs: [{ index: 1, operator: 'Prefix', values: [`${suite.s.dir}/quiet`] }], matchBinaries: mine(), matchActions: [{ action: 'NoPost' }] },
      { matchArgs: [{ index: 1, operator: 'Prefix', values: [`${suite.s.dir}/a`] }], matchBinaries: mine() },
      { matchArgs: [{ index: 1, operator: 'Prefix', values: [suite.s.dir] }], matchBinaries: mine() },
    ));
    await suite.engine.add(policy);
    try {
      suite.events.clear();
      await run(suite.s.ops, ['open', `${suite.s.dir}/quiet-1`, 'open', `${suite.s.dir}/a1`, 'open', `${suite.s.dir}/b1`]);
      const evs = suite.events.ofPolicy(suite.engine, policy.name);
      assert.deepEqual(evs.map((e) => [(e.args[1] as { value: string }).value, e.selector]),
        [[`${suite.s.dir}/a1`, 1], [`${suite.s.dir}/b1`, 2]]);
      const c = suite.engine.counters(policy.name)!;
      assert.equal(c.matched, 3n);
      assert.equal(c.posted, 2n);
      assert.equal(c.actions.noPost, 1n);
    } finally {
      suite.engine.remove(policy.name);
    }
  });

  test('a workload no selector matches sends nothing to user space (kernel counters)', async () => {
    const policy = await compile(openat({
      matchArgs: [{ index: 1, operator: 'Prefix', values: ['/nonexistent-vigil-prefix/'] }], matchBinaries: mine(),
    }));
    await suite.engine.add(policy);
    try {
      suite.events.clear();
      const before = suite.engine.stats.records;
      const args: string[] = [];
      for (let i = 0; i < 50; i++) args.push('open', `${suite.s.dir}/nomatch-${i}`);
      await run(suite.s.ops, args);
      suite.engine.drain();
      const c = suite.engine.counters(policy.name)!;
      assert.ok(c.evaluated >= 50n, show(c));
      assert.equal(c.matched, 0n);
      assert.equal(c.posted, 0n);
      assert.equal(suite.events.ofPolicy(suite.engine, policy.name).length, 0);
      assert.equal(suite.engine.stats.records, before, 'no record reached the ring reader');
    } finally {
      suite.engine.remove(policy.name);
    }
  });

  test('kernel and user stack traces, symbolised', async () => {
    const policy = await compile(openat({
      matchArgs: [{ index: 1, operator: 'Equal', values: [`${suite.s.dir}/stack`] }], matchBinaries: mine(),
      matchActions: [{ action: 'Post', kernelStackTrace: true, userStackTrace: true }],
    }));
    await suite.engine.add(policy);
    try {
      suite.events.clear();
      // The process stays alive until its event is read: user stacks are symbolised from its maps.
      const child = spawn(suite.s.ops, ['open', `${suite.s.dir}/stack`, 'wait'], { stdio: ['pipe', 'ignore', 'ignore'] });
      const done = new Promise((r) => child.once('close', r));
      const got = await waitFor(() => suite.events.ofPolicy(suite.engine, policy.name).length > 0, 5000);
      child.stdin.end('go\n');
      await done;
      assert.ok(got, 'event');
      const [e] = suite.events.ofPolicy(suite.engine, policy.name);
      assert.ok(e?.kernelStack?.length, 'kernel stack');
      assert.ok(e.kernelStack.some((f) => f.symbol && /sys|syscall|entry/i.test(f.symbol)), show(e.kernelStack));
      assert.ok(e.userStack?.length, 'user stack');
      assert.ok(e.userStack.some((f) => f.symbol && /open|main/.test(f.symbol)), show(e.userStack));
    } finally {
      suite.engine.remove(policy.name);
    }
  });

  test('uprobes: arguments from registers, selectors', async () => {
    const target = repoPath('test', '.output', 'uprobe_target');
    const policy = await compile({
      uprobes: [{
        path: target, symbols: ['vigil_target_add'],
        args: [{ index: 0, type: 'int' }, { index: 1, type: 'int' }],
        selectors: [{ matchArgs: [{ index: 0, operator: 'GT', values: ['2'] }] }],
      }],
    });
    await suite.engine.add(policy);
    try {
      suite.events.clear();
      const r = await run(target, ['5'], { beforeGo: () => undefined });
      assert.equal(r.code, 0, show(r));
      const evs = suite.events.ofPolicy(suite.engine, policy.name);
      assert.deepEqual(evs.map((e) => [e.kind, e.pid, e.args]), [3n, 4n, 5n].map((i) => [
        'uprobe', r.pid, [{ kind: 'int', value: i }, { kind: 'int', value: 100n }],
      ]));
    } finally {
      suite.engine.remove(policy.name);
    }
  });

  test('policies are added and removed live; counters go with them', async () => {
    const fdsBefore = openFdCount();
    const a = await compile(openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [`${suite.s.dir}/live`] }], matchBinaries: mine() }), 'live-a');
    const b = await compile(openat({ matchArgs: [{ index: 1, operator: 'Postfix', values: ['.live'] }], matchBinaries: mine() }), 'live-b');
    const hit = async (): Promise<string[]> => {
      suite.events.clear();
      await run(suite.s.ops, ['open', `${suite.s.dir}/live.live`]);
      suite.engine.drain();
      return [...new Set(suite.events.all.map((e) => e.policy.name))].sort();
    };
    assert.deepEqual(await hit(), []);
    await suite.engine.add(a);
    assert.deepEqual(await hit(), ['live-a']);
    await suite.engine.add(b);
    assert.deepEqual(await hit(), ['live-a', 'live-b']);
    await assert.rejects(suite.engine.add(a), /already loaded/);
    assert.equal(suite.engine.remove('live-a'), true);
    assert.equal(suite.engine.counters('live-a'), undefined);
    assert.deepEqual(await hit(), ['live-b']);
    assert.equal(suite.engine.remove('live-b'), true);
    assert.equal(suite.engine.remove('live-b'), false);
    assert.deepEqual(await hit(), []);
    // Slots are reused; counters start from zero.
    await suite.engine.add(a);
    assert.deepEqual(await hit(), ['live-a']);
    assert.equal(suite.engine.counters('live-a')!.posted, 1n);
    suite.engine.remove('live-a');
    assert.deepEqual(suite.engine.names, []);
    assert.equal(openFdCount(), fdsBefore, 'no descriptor leaked by add/remove');
  });

  test('an engine with every part loaded closes without leaking descriptors', async () => {
    const before = openFdCount();
    const e2 = await PolicyEngine.start({ onEvent: () => undefined, cgroupPath: suite.cg.path });
    const deny = await compile({
      kprobes: [{
        call: 'sys_connect', syscall: true, args: [{ index: 0, type: 'sock' }, { index: 1, type: 'sockaddr' }],
        selectors: [{ matchArgs: [{ index: 1, operator: 'DPort', values: ['4449'] }], matchBinaries: mine(), matchActions: [{ action: 'Deny' }] }],
      }],
    });
    const up = await compile({
      uprobes: [{ path: repoPath('test', '.output', 'uprobe_target'), symbols: ['vigil_target_add'], args: [{ index: 0, type: 'int' }] }],
    });
    await e2.add(deny);
    await e2.add(up);
    await e2.add(await compile(openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [suite.s.dir] }], matchBinaries: [{ operator: 'In', values: [suite.s.ops], followChildren: true }] })));
    e2.close();
    assert.equal(openFdCount(), before);
  });
});
