// Policy events in Tetragon's JSON shapes and tetra's compact lines, from
// synthetic PolicyEvents over hooks resolved here (pinned to the portable
// branch, so the "hook" field is the same on every kernel). Pure output.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicySources, formatDiagnostic } from '../src/policy/loader.js';
import { liveKernel, resolvePolicy, type KernelEnv } from '../src/policy/hooks.js';
import { PolicyEventFormatter, tetragonArg } from '../src/output/policy-events.js';
import type { ArgValue, CompiledPolicy, EventAction, PolicyEvent } from '../src/policy/ir.js';
import type { ProcessInfo } from '../src/process/types.js';
import { shapedPolicyEvent } from './shaped.js';
import { kprobeYaml, tracepointYaml } from './policy-util.js';

const live = liveKernel();
const noKprobes: KernelEnv = {
  ...live,
  attach: (name) => (name === 'kprobe' || name === 'fentry' || name === 'lsm'
    ? Promise.resolve({ status: 'unsupported' as const, available: false, reason: 'pinned' })
    : live.attach(name)),
};

async function compiled(body: string, name = 'test-policy'): Promise<CompiledPolicy> {
  const r = loadPolicySources([{ name: 'p.yaml', content: `apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: ${name}\nspec:\n${body}` }]);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  const c = await resolvePolicy(r.policies[0]!, noKprobes);
  assert.deepEqual(c.diagnostics.map(formatDiagnostic), []);
  return c.policy!;
}

const cat: ProcessInfo = {
  execId: 'bm9kZTE6MTAwMDoxMjM0', pid: 1234, tid: 1234, ppid: 1000, parentExecId: 'bm9kZTE6OTAwOjEwMDA=', parentStartBootNs: 900n,
  uid: 1000, gid: 1000, euid: 1000, egid: 1000, auid: 1000, comm: 'cat', binary: '/usr/bin/cat', args: ['cat', '/etc/shadow'],
  cwd: '/home/u', tty: 'pts/0', startBootNs: 1000n, startTimeNs: 1_700_000_000_000_000_000n, execBootNs: 1000n,
  caps: undefined, ns: undefined, cgroupId: 42n, cgroupPath: '/user.slice', container: 'host', source: 'exec',
  flags: { binaryTruncated: false, argsTruncated: false, cwdTruncated: false, binaryError: false, argsError: false, cwdError: false },
  exit: undefined, replaced: false,
};

function event(policy: CompiledPolicy, args: ArgValue[], opts: { action?: EventAction; ret?: ArgValue; hook?: number; attachment?: number } = {}): PolicyEvent {
  const hook = policy.hooks[opts.hook ?? 0]!;
  const e: PolicyEvent = {
    kind: 'kprobe', policy, hook, attachment: hook.served.attachments[opts.attachment ?? 0]!, timeNs: 1_700_000_001_000_000_000n,
    pid: 1234, tid: 1234, comm: 'cat', process: cat, parent: undefined, args, returnValue: opts.ret,
    action: opts.action ?? 'KPROBE_ACTION_POST', selector: 0,
  };
  shapedPolicyEvent(e);
  return e;
}

const fmt = new PolicyEventFormatter('json', { node: 'node1', hostNamespaces: {} });
const compact = new PolicyEventFormatter('compact', { node: 'node1', hostNamespaces: {} });

describe('process_kprobe', () => {
  test('a portable security_file_open event: file_arg, policy, message, tags, the hook that served it', async () => {
    const p = await compiled(`  kprobes:
  - call: security_file_open
    syscall: false
    message: "Sensitive file opened"
    tags: ["credential-access"]
    args:
    - index: 0
      type: file
`);
    const e = event(p, [{ kind: 'file', path: '/etc/shadow', flags: 0o2000000, mode: 0o100640 }], { attachment: 1, action: 'KPROBE_ACTION_SIGKILL' });
    const j = JSON.parse(fmt.json(e)) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(j), ['process_kprobe', 'node_name', 'time']);
    assert.equal(j.node_name as unknown, 'node1');
    assert.equal(j.time as unknown, '2023-11-14T22:13:21.000000000Z');
    const k = j.process_kprobe!;
    assert.equal((k.process as Record<string, unknown>).binary, '/usr/bin/cat');
    assert.equal((k.process as Record<string, unknown>).exec_id, cat.execId);
    assert.equal(k.function_name, 'security_file_open');
    assert.deepEqual(k.args, [{ file_arg: { path: '/etc/shadow', flags: 'O_RDONLY|O_CLOEXEC', permission: '-rw-r-----' } }]);
    assert.equal(k.action, 'KPROBE_ACTION_SIGKILL');
    assert.equal(k.policy_name, 'test-policy');
    assert.equal(k.message, 'Sensitive file opened');
    assert.deepEqual(k.tags, ['credential-access']);
    assert.equal(k.hook, 'tracepoint:syscalls/sys_exit_openat');
    assert.equal(k.portable, true);
    assert.equal(compact.compact(e), '📬 open    1234 /usr/bin/cat /etc/shadow 0640 SIGKILL');
    // vigil run's compact lines begin with the time, as vigil observe's.
    assert.equal(new PolicyEventFormatter('compact', { node: 'node1', hostNamespaces: {}, timeFormat: 'StampMilli' }).compact(e),
      'Nov 14 22:13:21.000: 📬 open    1234 /usr/bin/cat /etc/shadow 0640 SIGKILL');
  });

  test('syscall args: ints, strings, sockets, sockaddrs, return values; 64-bit as strings', async () => {
    const p = await compiled(kprobeYaml('sys_connect', { syscall: true, ret: true, args: [[0, 'sock'], [1, 'sockaddr'], [2, 'uint64', { label: 'addrlen' }]], returnArg: 'int' }));
    const e = event(p, [
      { kind: 'sock', family: 2, type: 1, protocol: 6, saddr: '10.0.0.1', daddr: '192.0.2.7', sport: 40000, dport: 4444, state: 7 },
      { kind: 'sockaddr', family: 2, addr: '192.0.2.7', port: 4444 },
      { kind: 'int', value: 16n },
    ], { ret: { kind: 'int', value: -1n }, action: 'KPROBE_ACTION_DENY' });
    const k = (JSON.parse(fmt.json(e)) as Record<string, Record<string, unknown>>).process_kprobe!;
    assert.deepEqual(k.args, [
      { sock_arg: { family: 'AF_INET', type: 'SOCK_STREAM', protocol: 'IPPROTO_TCP', saddr: '10.0.0.1', daddr: '192.0.2.7', sport: 40000, dport: 4444, state: 'TCP_CLOSE' } },
      { sockaddr_arg: { family: 'AF_INET', addr: '192.0.2.7', port: 4444 } },
      { size_arg: '16', label: 'addrlen' },
    ]);
    assert.deepEqual(k.return, { int_arg: -1 });
    assert.equal(k.hook, 'tracepoint:syscalls/sys_exit_connect');
    assert.equal(k.portable, undefined);
    assert.equal(compact.compact(e), '🔌 connect 1234 /usr/bin/cat 10.0.0.1:40000 -> 192.0.2.7:4444 192.0.2.7:4444 addrlen=16 = -1 DENY');
    // --output tetragon: Tetragon's fields only; Deny is its override of the return value, tagged so.
    const strict = new PolicyEventFormatter('tetragon', { node: 'node1', hostNamespaces: {} });
    const t = (JSON.parse(strict.json({ ...e, args: [...e.args.slice(0, 2), { kind: 'unavailable', reason: 'fault' }] })) as
      Record<string, Record<string, unknown>>).process_kprobe!;
    assert.equal(t.action, 'KPROBE_ACTION_OVERRIDE');
    assert.deepEqual(t.tags, ['vigil-action:deny']);
    assert.deepEqual((t.args as unknown[])[2], { error_arg: { Message: 'fault' }, label: 'addrlen' });
    for (const k of ['hook', 'portable']) assert.ok(!(k in t), k);
    assert.ok(!('cgroup_id' in (t.process as object)));
  });
});

describe('other envelopes', () => {
  test('process_tracepoint has subsys and event; process_lsm the hook name; stack traces', async () => {
    const p = await compiled(`${tracepointYaml('raw_syscalls', 'sys_enter', [[4, 'syscall64']])}  lsmhooks:
  - hook: bprm_check_security
    args:
    - index: 0
      type: linux_binprm
`);
    const tp = { ...event(p, [{ kind: 'syscall64', id: 59, abi: 'x64' }]), kind: 'tracepoint' as const, kernelStack: [{ address: 0xffffffff81000000n, symbol: 'do_syscall_64', offset: 0x10n }] };
    const t = (JSON.parse(fmt.json(tp)) as Record<string, Record<string, unknown>>).process_tracepoint!;
    assert.equal(t.subsys, 'raw_syscalls');
    assert.equal(t.event, 'sys_enter');
    assert.equal(t.function_name, undefined);
    assert.deepEqual(t.args, [{ syscall_id: { id: 59, abi: 'x64' } }]);
    assert.deepEqual(t.kernel_stack_trace, [{ address: '18446744071578845184', offset: '16', symbol: 'do_syscall_64' }]);
    assert.match(compact.compact(tp), /^⁉️ tracepoint 1234 \/usr\/bin\/cat raw_syscalls\/sys_enter execve$/);
    const lsm = { ...event(p, [{ kind: 'file', path: '/tmp/x' }], { hook: 1 }), kind: 'lsm' as const };
    const l = JSON.parse(fmt.json(lsm)) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(l)[0], 'process_lsm');
    assert.equal(l.process_lsm!.function_name, 'bprm_check_security');
    assert.deepEqual(l.process_lsm!.args, [{ linux_binprm_arg: { path: '/tmp/x' } }]);
    assert.equal(l.process_lsm!.hook, 'tracepoint:sched/sched_process_exec');
  });

  test('argument shapes by declared type', () => {
    const spec = (type: string, label?: string) => ({ index: 0, type, returnCopy: false, maxData: false, label, pos: { file: 'p', line: 1, col: 1 } }) as never;
    assert.deepEqual(tetragonArg(spec('int'), { kind: 'int', value: -5n }), { int_arg: -5 });
    assert.deepEqual(tetragonArg(spec('uint32'), { kind: 'int', value: 5n }), { uint_arg: 5 });
    assert.deepEqual(tetragonArg(spec('int64'), { kind: 'int', value: -5n }), { long_arg: '-5' });
    assert.deepEqual(tetragonArg(spec('size_t'), { kind: 'int', value: 5n }), { size_arg: '5' });
    assert.deepEqual(tetragonArg(spec('string', 'name'), { kind: 'string', value: 'x' }), { string_arg: 'x', label: 'name' });
    assert.deepEqual(tetragonArg(spec('char_buf'), { kind: 'bytes', value: new Uint8Array([104, 105]) }), { bytes_arg: 'aGk=' });
    assert.deepEqual(tetragonArg(spec('char_buf'), { kind: 'bytes', value: new Uint8Array([104]), truncated: true, origSize: 9000 }), { truncated_bytes_arg: { bytes_arg: 'aA==', orig_size: '9000' } });
    assert.deepEqual(tetragonArg(spec('capability'), { kind: 'int', value: 21n }), { capability_arg: { value: 21, name: 'CAP_SYS_ADMIN' } });
    assert.deepEqual(tetragonArg(spec('cred'), { kind: 'cred', uid: 0, gid: 0, euid: 0, egid: 0, suid: 0, sgid: 0, fsuid: 0, fsgid: 0, caps: { permitted: 1n << 21n, effective: 1n << 21n, inheritable: 0n } }),
      { process_credentials_arg: { uid: 0, gid: 0, euid: 0, egid: 0, suid: 0, sgid: 0, fsuid: 0, fsgid: 0, caps: { permitted: ['CAP_SYS_ADMIN'], effective: ['CAP_SYS_ADMIN'], inheritable: [] } } });
    assert.deepEqual(tetragonArg(spec('bpf_attr'), { kind: 'bpf_attr', progType: 2, insnCnt: 10, progName: 'p' }), { bpf_attr_arg: { ProgType: 'BPF_PROG_TYPE_KPROBE', InsnCnt: 10, ProgName: 'p' } });
    assert.deepEqual(tetragonArg(spec('net_device'), { kind: 'string', value: 'eth0' }), { net_dev_arg: { name: 'eth0' } });
    assert.deepEqual(tetragonArg(spec('file'), { kind: 'unavailable', reason: 'fault' }), { unavailable_arg: 'fault' });
    assert.equal(tetragonArg(spec('nop'), { kind: 'int', value: 0n }), undefined);
  });
});
