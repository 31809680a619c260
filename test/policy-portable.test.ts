// Portable equivalents of the set*id syscall bodies (__sys_setuid, ...),
// vfs_llseek and force_sig_fault: how each is resolved where the kernel has
// neither kprobes nor fentry (pinned, so the same holds on any kernel), and
// what they report for real syscalls and faults of the fixture binary
// (test/fixtures/policyops.c) with the portable hooks forced.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { loadPolicySources, formatDiagnostic } from '../src/policy/loader.js';
import { compilePolicies, liveKernel, resolvePolicy, type KernelEnv } from '../src/policy/hooks.js';
import type { CompiledPolicy, PolicySpec } from '../src/policy/ir.js';
import type { FeatureResult } from '../src/bpf/features.js';
import { requireRoot, tracefs } from './helpers.js';
import { engineForSuite, run, show } from './policy-engine-util.js';
import { policyHelpers, withoutNativeHooks, kprobeYaml } from './policy-util.js';

const live = liveKernel();
const noNative = withoutNativeHooks(live);
const { spec, resolved, failure } = policyHelpers('portable-test', noNative);

describe('portable equivalents: resolution', () => {
  test('__sys_setuid and __sys_setresuid: their syscalls, same arguments, the syscall\'s return value', async () => {
    const p = await resolved(`${kprobeYaml('__sys_setuid', { syscall: false, args: ['int'] })}  - call: __sys_setresuid
    syscall: false
    return: true
    args:
    - index: 2
      type: int
    - index: 0
      type: int
    returnArg:
      index: 0
      type: int
`);
    const [uid, resuid] = p.hooks;
    assert.equal(uid!.served.hook, 'portable:setuid');
    const a = uid!.served.attachments[0]!;
    assert.ok(a.kind === 'syscall');
    assert.equal(a.syscall, 'setuid');
    assert.equal(a.emit, 'enter');
    assert.deepEqual(a.args, [{ loc: { at: 'syscall-arg', index: 0 }, conv: 'none' }]);
    assert.match(uid!.served.note!, /entry of setuid\(2\), whose body __sys_setuid is/);
    assert.equal(resuid!.served.hook, 'portable:setresuid');
    const b = resuid!.served.attachments[0]!;
    assert.ok(b.kind === 'syscall');
    assert.equal(b.emit, 'exit', 'the return value moves the event to the exit');
    assert.deepEqual(b.args.map((x) => x.loc), [{ at: 'syscall-arg', index: 2 }, { at: 'syscall-arg', index: 0 }]);
    assert.deepEqual(b.ret, { loc: { at: 'syscall-ret' }, conv: 'none' });
  });

  test('__sys_setreuid has two arguments: index 2 is refused', async () => {
    const e = await failure(kprobeYaml('__sys_setreuid', { syscall: false, args: [[2, 'int']] }));
    assert.match(e, /__sys_setreuid has 2 argument\(s\) \(uid_t ruid, uid_t euid\); index 2 is past them/);
  });

  test('vfs_llseek: lseek(2), the file from its fd', async () => {
    const p = await resolved(kprobeYaml('vfs_llseek', { syscall: false, ret: true, args: ['file', 'int64'], returnArg: 'int64' }));
    const h = p.hooks[0]!;
    assert.equal(h.served.hook, 'portable:lseek');
    const a = h.served.attachments[0]!;
    assert.ok(a.kind === 'syscall');
    assert.equal(a.syscall, 'lseek');
    assert.deepEqual(a.args, [{ loc: { at: 'syscall-arg', index: 0 }, conv: 'fd' }, { loc: { at: 'syscall-arg', index: 1 }, conv: 'none' }]);
    assert.deepEqual(a.ret, { loc: { at: 'syscall-ret' }, conv: 'none' });
  });

  test('force_sig_fault: signal_generate, one attachment per fault signal, fault codes only', async () => {
    const p = await resolved(`${kprobeYaml('force_sig_fault', { syscall: false, args: ['int', 'int'] })}    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["11"]
`);
    const h = p.hooks[0]!;
    assert.equal(h.served.hook, 'portable:fault-signal');
    assert.equal(h.served.attachments.length, 5);
    const sigs: bigint[] = [];
    for (const a of h.served.attachments) {
      assert.ok(a.kind === 'tracepoint');
      assert.deepEqual(a.tp, { category: 'signal', event: 'signal_generate' });
      assert.deepEqual(a.args.map((x) => x.loc.at === 'tp-field' && x.loc.field.name), ['sig', 'code']);
      const conds = a.when.map((c) => c.test === 'value' && c.loc.at === 'tp-field' && [c.loc.field.name, c.op, c.value]);
      assert.deepEqual(conds.slice(1), [['code', 'ge', 1n], ['code', 'lt', 0x80n]]);
      const first = conds[0];
      assert.ok(first && first[0] === 'sig' && first[1] === 'eq');
      sigs.push(first[2] as bigint);
    }
    assert.deepEqual(sigs, [4n, 5n, 7n, 8n, 11n]);
  });

  test('force_sig_fault: the address is not available, so a filter on it is refused', async () => {
    const e = await failure(kprobeYaml('force_sig_fault', { syscall: false, args: [[2, 'uint64']] }));
    assert.match(e, /args\[0\]\.type: argument 2 of force_sig_fault \(void __user \*addr\) is not available from its portable equivalent \(fault-signal\)/);
  });
});

describe('portable equivalents on the real kernel', () => {
  requireRoot();
  tracefs();
  const suite = engineForSuite();
  const forced = liveKernel({ forcePortable: true });

  let seq = 0;
  async function compileForced(kprobes: unknown[]): Promise<CompiledPolicy> {
    const name = `portable-${process.pid}-${++seq}`;
    const content = YAML.stringify({ apiVersion: 'cilium.io/v1alpha1', kind: 'TracingPolicy', metadata: { name }, spec: { kprobes } });
    const r = loadPolicySources([{ name: `${name}.yaml`, content }]);
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
    const [c] = await compilePolicies(r.policies, forced);
    return c!;
  }
  const mine = (): unknown[] => [{ operator: 'In', values: [suite.s.ops] }];

  const withPolicy = suite.withPolicy;

  test('__sys_setuid / __sys_setresuid: arguments and return value of setuid(2) / setresuid(2)', async () => {
    const p = await compileForced([
      { call: '__sys_setuid', syscall: false, return: true, args: [{ index: 0, type: 'int' }], returnArg: { index: 0, type: 'int' },
        selectors: [{ matchArgs: [{ index: 0, operator: 'Equal', values: ['0'] }], matchBinaries: mine() }] },
      { call: '__sys_setresuid', syscall: false, args: [{ index: 0, type: 'int' }, { index: 1, type: 'int' }, { index: 2, type: 'int' }],
        selectors: [{ matchArgs: [{ index: 1, operator: 'Equal', values: ['0'] }], matchBinaries: mine() }] },
    ]);
    assert.equal(p.hooks[0]!.served.hook, 'portable:setuid');
    const { r, ev } = await withPolicy(p, async () => {
      const r = await run(suite.s.ops, ['setuid', '0', 'setresuid', '-1', '0', '-1', 'setuid', '1']);
      return { r, ev: suite.events.ofPolicy(suite.engine, p.name).filter((e) => e.pid === r.pid) };
    });
    assert.equal(r.code, 0);
    // setuid(1) (last: it gives up root) succeeds too, but the selector wants 0: two suite.events.
    assert.equal(ev.length, 2, show(ev.map((e) => [e.hook.functionName, e.args])));
    const [uid, resuid] = ev;
    assert.equal(uid!.hook.functionName, '__sys_setuid');
    assert.deepEqual(uid!.args, [{ kind: 'int', value: 0n }]);
    assert.deepEqual(uid!.returnValue, { kind: 'int', value: 0n });
    assert.equal(uid!.attachment.kind === 'syscall' && uid!.attachment.syscall, 'setuid');
    assert.equal(resuid!.hook.functionName, '__sys_setresuid');
    assert.deepEqual(resuid!.args, [{ kind: 'int', value: -1n }, { kind: 'int', value: 0n }, { kind: 'int', value: -1n }]);
  });

  test('vfs_llseek: the file of lseek\'s fd, the offset, the new offset returned', async () => {
    const f = suite.s.file('seek.txt', 'abcdefgh\n');
    const p = await compileForced([
      { call: 'vfs_llseek', syscall: false, return: true, args: [{ index: 0, type: 'file' }, { index: 1, type: 'int64' }], returnArg: { index: 0, type: 'int64' },
        selectors: [{ matchArgs: [{ index: 0, operator: 'Postfix', values: ['/seek.txt'] }], matchBinaries: mine() }] },
    ]);
    const ev = await withPolicy(p, async () => {
      const r = await run(suite.s.ops, ['lseek', f, '5', 'lseek', '/etc/hostname', '1']);
      return suite.events.ofPolicy(suite.engine, p.name).filter((e) => e.pid === r.pid);
    });
    assert.equal(ev.length, 1, show(ev.map((e) => e.args)));
    const [file, off] = ev[0]!.args;
    assert.ok(file!.kind === 'file' && file!.path === f, show(file));
    assert.deepEqual(off, { kind: 'int', value: 5n });
    assert.deepEqual(ev[0]!.returnValue, { kind: 'int', value: 5n });
  });

  test('force_sig_fault: a fault is seen, with its signal and code; raise() of the same signal is not', async () => {
    const p = await compileForced([
      { call: 'force_sig_fault', syscall: false, args: [{ index: 0, type: 'int' }, { index: 1, type: 'int' }],
        selectors: [{ matchBinaries: mine() }] },
    ]);
    const [fault, raised] = await withPolicy(p, async () => {
      const a = await run(suite.s.ops, ['segv']);
      const b = await run(suite.s.ops, ['raise', '11']);
      const all = suite.events.ofPolicy(suite.engine, p.name);
      return [{ r: a, ev: all.filter((e) => e.pid === a.pid) }, { r: b, ev: all.filter((e) => e.pid === b.pid) }];
    });
    assert.equal(fault!.r.signal, 'SIGSEGV');
    assert.equal(fault!.ev.length, 1, show(fault!.ev.map((e) => e.args)));
    assert.deepEqual(fault!.ev[0]!.args, [{ kind: 'int', value: 11n }, { kind: 'int', value: 1n }], 'SIGSEGV, SEGV_MAPERR');
    assert.equal(fault!.ev[0]!.hook.served.hook, 'portable:fault-signal');
    assert.equal(raised!.r.signal, 'SIGSEGV');
    assert.deepEqual(raised!.ev, [], 'tgkill sends SI_TKILL, not a fault code');
  });
});
