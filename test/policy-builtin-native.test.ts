// The built-in policy library (policies/) all at once, on the hooks this
// kernel offers: where it has kprobes (the kernel matrix's 6.1 and 6.12 VMs),
// its kernel-function hooks are served natively and post from there; with the
// portable hooks forced (the same kernel, --portable-hooks), the same
// scenarios post from the portable equivalents. The scenarios need only the
// fixture binary (test/fixtures/policyops.c), so they run in the VMs too;
// test/policy-builtin.test.ts plays the full scenarios on the host.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PolicyEngine } from '../src/policy/engine.js';
import { loadPolicyFiles, formatDiagnostic } from '../src/policy/loader.js';
import { compilePolicies, liveKernel } from '../src/policy/hooks.js';
import { builtinPolicyDir } from '../src/policy/builtin.js';
import { probeAttach } from '../src/bpf/features.js';
import type { CompiledPolicy } from '../src/policy/ir.js';
import { requireRoot, tracefs } from './helpers.js';
import { Events, pathOf, run, Scratch, show } from './policy-engine-util.js';

requireRoot();
tracefs();


for (const forcePortable of [false, true]) {
  describe(`built-in policies, ${forcePortable ? 'portable hooks forced' : 'native hooks where the kernel has them'}`, () => {
    let engine: PolicyEngine;
    let s: Scratch;
    let policies: CompiledPolicy[];
    let kprobes = false;
    const events = new Events();

    before(async () => {
      s = new Scratch();
      kprobes = (await probeAttach('kprobe')).available && !forcePortable;
      const r = loadPolicyFiles([builtinPolicyDir()]);
      assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
      policies = await compilePolicies(r.policies, liveKernel({ forcePortable }));
      engine = await PolicyEngine.start({ onEvent: events.push, onError: (e) => { throw e; } });
      for (const p of policies) await engine.add(p);
    });

    after(() => {
      engine?.close();
      s?.remove();
    });

    test('every built-in loads at once; kernel functions are served natively exactly where kprobes exist', () => {
      assert.ok(policies.length >= 11);
      assert.deepEqual(engine.names.sort(), policies.map((p) => p.name).sort());
      const kfuncs = policies.flatMap((p) => p.hooks).filter((h) => h.section === 'kprobes' && h.target.kind === 'kfunc' &&
        !/^__(x64|arm64)_sys_/.test(h.functionName));
      assert.ok(kfuncs.length >= 5, show(kfuncs.map((h) => h.functionName)));
      for (const h of kfuncs) {
        if (kprobes) assert.match(h.served.hook, /^(kprobe|portable):/, h.functionName);
        else assert.match(h.served.hook, /^portable:/, h.functionName);
      }
      if (kprobes) {
        // On a kernel with kprobes, the portable path is only for functions it lacks.
        const native = kfuncs.filter((h) => h.served.hook.startsWith('kprobe:'));
        assert.ok(native.length >= 4, show(kfuncs.map((h) => [h.functionName, h.served.hook])));
      }
    });

    test('sensitive-file-reads: an SSH private key opened is reported by the hook serving security_file_open', async () => {
      // A key of the test's own (the Postfix selector "/.ssh/id_rsa"); its public half is not reported.
      mkdirSync(path.join(s.dir, '.ssh'));
      const key = s.file('.ssh/id_rsa', 'key\n');
      const pub = s.file('.ssh/id_rsa.pub', 'pub\n');
      const r = await run(s.ops, ['open', key, 'open', pub]);
      const evs = events.ofPolicy(engine, 'sensitive-file-reads').filter((e) => e.pid === r.pid);
      assert.equal(evs.length, 1, show(evs.map((e) => [e.hook.functionName, e.args])));
      assert.equal(pathOf(evs[0]!.args[0]), key);
      assert.match(evs[0]!.hook.served.hook, kprobes ? /^kprobe:security_file_open$/ : /^portable:/);
    });

    test('exec-from-tmp: a binary run from a temporary directory is reported', async () => {
      const r = await run(s.ops, ['open', s.file('x.txt')]);
      assert.ok(s.ops.startsWith('/tmp/'), `the scratch directory is below /tmp: ${s.ops}`);
      const evs = events.ofPolicy(engine, 'exec-from-tmp').filter((e) => e.pid === r.pid);
      assert.equal(evs.length, 1, show(events.ofPolicy(engine, 'exec-from-tmp').map((e) => [e.pid, e.args])));
      assert.equal(pathOf(evs[0]!.args[0]), s.ops);
      assert.equal(path.dirname(pathOf(evs[0]!.args[0]) ?? ''), s.dir);
    });
  });
}
