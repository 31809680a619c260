// Hook resolution on this kernel: syscalls on their tracepoints, kernel
// functions on kprobe/fentry when the kernel has them, else on their portable
// equivalents, else an error naming the missing features; tracepoints typed
// from tracefs; uprobes checked against the binary; actions against what the
// kernel can do. The expectations follow the feature probes, so the same test
// holds on a kernel with kprobes. A wrapped environment pins features to test
// both branches everywhere.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicySources, formatDiagnostic } from '../src/policy/loader.js';
import { liveKernel, resolvePolicy, type KernelEnv, type ProbedAttach } from '../src/policy/hooks.js';
import { probeAttach, probeHelper } from '../src/bpf/features.js';
import type { CompiledPolicy, PolicySpec } from '../src/policy/ir.js';
import type { FeatureResult } from '../src/bpf/features.js';
import { policyHelpers, kprobeYaml, tracepointYaml } from './policy-util.js';

const { spec, resolved, failure } = policyHelpers('test');

const live = liveKernel();

/** The live kernel with some attach kinds pinned. */
function pinned(features: Partial<Record<ProbedAttach, boolean>>): KernelEnv {
  return {
    ...live,
    attach: (name) => (features[name] === undefined ? live.attach(name)
      : Promise.resolve<FeatureResult>(features[name]
        ? { status: 'available', available: true, reason: `pinned available (${name})` }
        : { status: 'unsupported', available: false, reason: `pinned: no ${name}` })),
  };
}

describe('syscalls', () => {
  test('a syscall kprobe is served by its tracepoints, args typed from the format file', async () => {
    const p = await resolved(kprobeYaml('__x64_sys_openat', { syscall: true, ret: true, args: ['int', 'string', 'auto'], returnArg: 'fd' }));
    const h = p.hooks[0]!;
    assert.equal(h.served.portable, false);
    assert.equal(h.served.hook, 'tracepoint:syscalls/sys_exit_openat');
    const a = h.served.attachments[0]!;
    assert.equal(a.kind, 'syscall');
    if (a.kind !== 'syscall') return;
    assert.deepEqual([a.enter, a.exit, a.emit, a.raw, a.nr], [
      { category: 'syscalls', event: 'sys_enter_openat' }, { category: 'syscalls', event: 'sys_exit_openat' }, 'exit', false, 257,
    ]);
    assert.deepEqual(a.args.map((s) => [s.loc.at, s.conv]), [['syscall-arg', 'none'], ['syscall-arg', 'none'], ['syscall-arg', 'none']]);
    assert.equal(h.args[2]!.type, 'int', 'auto: "int flags" in the format file');
    assert.deepEqual(a.ret, { loc: { at: 'syscall-ret' }, conv: 'fd' });
  });

  test('fd, sock and sockaddr arguments convert in the kernel; sizeArgIndex names the length', async () => {
    const p = await resolved(kprobeYaml('sys_connect', { syscall: true, args: [[0, 'sock'], [1, 'sockaddr', { sizeArgIndex: 3 }]] }));
    const a = p.hooks[0]!.served.attachments[0]!;
    assert.ok(a.kind === 'syscall');
    assert.deepEqual(a.args, [
      { loc: { at: 'syscall-arg', index: 0 }, conv: 'fd' },
      { loc: { at: 'syscall-arg', index: 1 }, conv: 'user-sockaddr', size: { at: 'syscall-arg', index: 2 } },
    ]);
  });

  test('argument index past the syscall, kernel types on user arguments, missing syscalls: errors', async () => {
    assert.match(await failure(kprobeYaml('sys_openat', { syscall: true, args: [[5, 'int']] })), /^p\.yaml:10:7: spec\.kprobes\[0\]\.args\[0\]\.index: openat has 4 argument\(s\) \(dfd, filename, flags, mode\); index 5 is past them/);
    assert.match(await failure(kprobeYaml('sys_openat', { syscall: true, args: [[1, 'cred']] })), /args\[0\]\.type: type cred is a kernel structure; syscall arguments come from user space/);
    assert.match(await failure(`  kprobes:
  - call: sys_frobnicate
    syscall: true
`), /spec\.kprobes\[0\]\.call: no syscall "frobnicate" here/);
    assert.match(await failure(`  kprobes:
  - call: __ia32_sys_dup
    syscall: true
`), /32-bit compat syscall/);
  });

  test('a generated_syscalls list expands to every syscall tracepoint', async () => {
    const p = await resolved(`  lists:
  - name: all
    type: generated_syscalls
  kprobes:
  - call: "list:all"
    selectors:
    - matchBinaries:
      - operator: In
        values: ["/usr/bin/kill"]
`);
    assert.equal(p.hooks.length, live.syscallTracepoints().size);
    assert.ok(p.hooks.length > 300);
    assert.ok(p.hooks.some((h) => h.target.kind === 'syscall' && h.target.name === 'kill'));
    assert.deepEqual(p.hooks.map((h) => h.id), p.hooks.map((_, i) => i));
  });
});

describe('tracepoints', () => {
  test('fields come from tracefs; the index counts the common fields', async () => {
    const p = await resolved(tracepointYaml('sched', 'sched_process_exec', [[4, 'string'], [5, 'auto']]));
    const a = p.hooks[0]!.served.attachments[0]!;
    assert.ok(a.kind === 'tracepoint');
    const [file, pid] = a.args;
    assert.equal(file!.loc.at === 'tp-field' && file!.loc.field.name, 'filename');
    assert.equal(file!.loc.at === 'tp-field' && file!.loc.field.dataLoc, true);
    assert.equal(pid!.loc.at === 'tp-field' && pid!.loc.field.name, 'pid');
    assert.equal(p.hooks[0]!.args[1]!.type, 'int');
    assert.equal(p.hooks[0]!.served.hook, 'tracepoint:sched/sched_process_exec');
  });

  test('a missing tracepoint and a field past the format are errors', async () => {
    assert.match(await failure(`  tracepoints:
  - subsystem: sched
    event: sched_no_such_event
`), /spec\.tracepoints\[0\]\.event: tracepoint sched\/sched_no_such_event does not exist here/);
    assert.match(await failure(tracepointYaml('sched', 'sched_process_exec', [[40, 'int']])), /args\[0\]\.index: sched\/sched_process_exec has 7 fields \(0:common_type, .*4:filename, 5:pid, 6:old_pid\); index 40 is past them/);
  });

  test('raw tracepoints take TP_PROTO arguments from BTF', async () => {
    const p = await resolved(tracepointYaml('sched', 'sched_process_exec', [[2, 'linux_binprm']], { raw: true }));
    const a = p.hooks[0]!.served.attachments[0]!;
    assert.ok(a.kind === 'raw_tracepoint');
    assert.deepEqual(a.args, [{ loc: { at: 'reg', index: 2 }, conv: 'none' }]);
  });
});

describe('kernel functions and LSM hooks', () => {
  test('security_file_open: kprobe or fentry when the kernel has them, else the open family', async () => {
    const [kprobe, fentry] = await Promise.all([probeAttach('kprobe'), probeAttach('fentry')]);
    const p = await resolved(kprobeYaml('security_file_open', { syscall: false, args: ['file'] }));
    const h = p.hooks[0]!;
    if (kprobe.available) assert.equal(h.served.hook, 'kprobe:security_file_open');
    else if (fentry.available) assert.equal(h.served.hook, 'fentry:security_file_open');
    else {
      assert.equal(h.served.hook, 'portable:open-family');
      assert.equal(h.served.portable, true);
      assert.match(h.served.note!, /open, openat, openat2, creat and open_by_handle_at/);
      const names = h.served.attachments.map((a) => (a.kind === 'syscall' ? a.syscall : a.kind));
      assert.deepEqual(names, ['open', 'openat', 'openat2', 'creat', 'open_by_handle_at']);
      for (const a of h.served.attachments) {
        assert.ok(a.kind === 'syscall');
        assert.equal(a.emit, 'exit');
        assert.deepEqual(a.args, [{ loc: { at: 'syscall-ret' }, conv: 'fd' }]);
        assert.deepEqual(a.when, [{ test: 'value', loc: { at: 'syscall-ret' }, op: 'ge', value: 0n }]);
      }
    }
  });

  test('pinned: with kprobes the function is hooked natively; without, portably', async () => {
    const body = kprobeYaml('security_file_open', { syscall: false, args: ['file'] });
    const withKprobes = await resolved(body, pinned({ kprobe: true }));
    assert.equal(withKprobes.hooks[0]!.served.hook, 'kprobe:security_file_open');
    assert.deepEqual(withKprobes.hooks[0]!.served.attachments[0], {
      kind: 'kprobe', function: 'security_file_open', withReturn: false, args: [{ loc: { at: 'reg', index: 0 }, conv: 'none' }], ret: undefined, label: 'kprobe:security_file_open',
    });
    const without = await resolved(body, pinned({ kprobe: false, fentry: false }));
    assert.equal(without.hooks[0]!.served.hook, 'portable:open-family');
  });

  test('fentry on a function without a portable equivalent: an error naming fentry and kprobe', async () => {
    const [kprobe, fentry] = await Promise.all([probeAttach('kprobe'), probeAttach('fentry')]);
    const body = `  fentries:
  - call: security_inode_follow_link
    syscall: false
    args:
    - index: 0
      type: dentry
`;
    if (kprobe.available || fentry.available) {
      const p = await resolved(body);
      assert.match(p.hooks[0]!.served.hook, /^(fentry|kprobe):security_inode_follow_link$/);
    } else {
      const e = await failure(body);
      assert.match(e, /^p\.yaml:7:5: spec\.fentries\[0\]\.call: security_inode_follow_link: hooking a kernel function needs kprobes or fentry, and this kernel has neither \(kprobe: .+; fentry: .+\); Vigil knows no portable equivalent/);
      assert.ok(e.includes(kprobe.reason) && e.includes(fentry.reason), 'the probes\' reasons are quoted');
    }
    const pinnedErr = await failure(body, pinned({ kprobe: false, fentry: false }));
    assert.match(pinnedErr, /kprobe: pinned: no kprobe; fentry: pinned: no fentry/);
  });

  test('ignore.callNotFound skips functions this kernel does not have', async () => {
    const r = await resolvePolicy(spec(`  kprobes:
  - call: no_such_function_in_any_kernel
    syscall: false
    ignore:
      callNotFound: true
  - call: sys_getpid
    syscall: true
`));
    assert.deepEqual(r.diagnostics, []);
    assert.equal(r.policy!.hooks.length, 1);
    assert.match(r.policy!.skipped[0]!.reason, /no_such_function_in_any_kernel is not in this kernel/);
  });

  test('portable arguments: types checked, missing ones refused when filtered on', async () => {
    const env = pinned({ kprobe: false, fentry: false });
    assert.match(await failure(kprobeYaml('security_file_open', { syscall: false, args: ['int'] }), env), /args\[0\]\.type: argument 0 of security_file_open is struct file \*file; its portable equivalent \(open-family\) gives it as file, path, fd/);
    assert.match(await failure(`${kprobeYaml('tcp_close', { syscall: false, args: ['sock', 'int'] })}    selectors:
    - matchArgs:
      - index: 1
        operator: GT
        values: ["0"]
`, env), /matchArgs\[0\]: argument 1 of tcp_close is not available on tracepoint:syscalls\/sys_enter_close/);
  });

  test('commit_creds, tcp_connect, security_bprm_check and file_open (LSM) have stand-ins', async () => {
    const env = pinned({ kprobe: false, fentry: false, lsm: false });
    const p = await resolved(`${kprobeYaml('commit_creds', { syscall: false, args: ['cred'] })}  - call: tcp_connect
    syscall: false
    args:
    - index: 0
      type: sock
  - call: security_bprm_check
    syscall: false
    args:
    - index: 0
      type: linux_binprm
  lsmhooks:
  - hook: file_open
    args:
    - index: 0
      type: file
`, env);
    const [creds, connect, bprm, lsm] = p.hooks;
    assert.equal(creds!.served.hook, 'portable:creds-change');
    assert.ok(creds!.served.attachments.every((a) => a.kind === 'syscall' && a.emit === 'exit' && a.args[0]!.loc.at === 'current-cred'));
    assert.equal(connect!.served.hook, 'portable:inet_sock_set_state');
    const tp = connect!.served.attachments[0]!;
    assert.ok(tp.kind === 'tracepoint');
    assert.equal(tp.args[0]!.loc.at === 'tp-field' && tp.args[0]!.loc.field.name, 'skaddr');
    assert.deepEqual(tp.when.map((c) => c.test === 'value' && c.loc.at === 'tp-field' && [c.loc.field.name, c.value]), [['newstate', 2n], ['protocol', 6n]]);
    assert.equal(bprm!.served.hook, 'portable:sched_process_exec');
    assert.equal(lsm!.section, 'lsmhooks');
    assert.equal(lsm!.served.hook, 'portable:open-family');
  });

  test('an LSM hook without BPF-LSM and without an equivalent: NotSupported naming BPF-LSM', async () => {
    const e = await failure(`  lsmhooks:
  - hook: inode_follow_link
`, pinned({ lsm: false }));
    assert.match(e, /spec\.lsmhooks\[0\]\.hook: LSM hook inode_follow_link needs BPF-LSM, which is not available here \(pinned: no lsm\)/);
  });
});

describe('actions', () => {
  test('Override needs BPF-LSM or kprobe error injection; the reason names both', async () => {
    const [lsm, kprobe, override] = await Promise.all([probeAttach('lsm'), probeAttach('kprobe'), probeHelper('bpf_override_return')]);
    const body = `  kprobes:
  - call: sys_symlinkat
    syscall: true
    selectors:
    - matchActions:
      - action: Override
        argError: -1
`;
    const e = await failure(body);
    assert.match(e, /matchActions\[0\]: Override needs the kernel to let a BPF program change the hooked function's result: BPF-LSM/);
    assert.match(e, /sys_symlinkat is served by tracepoint:syscalls\/sys_enter_symlinkat, which can observe, kill \(Sigkill\) or signal, but not change the result/);
    if (!lsm.available) assert.ok(e.includes(lsm.reason));
    if (!kprobe.available) assert.ok(e.includes(kprobe.reason));
    if (!override.available) assert.ok(e.includes(override.reason));
  });

  test('Deny on connect adds the cgroup sock_addr programs; elsewhere it is an error', async () => {
    const sa = await probeAttach('cgroup_sock_addr');
    const body = `${kprobeYaml('sys_connect', { syscall: true, args: [[1, 'sockaddr', { sizeArgIndex: 3 }]] })}    selectors:
    - matchArgs:
      - index: 1
        operator: DPort
        values: ["4444"]
      matchActions:
      - action: Deny
`;
    if (!sa.available) {
      assert.match(await failure(body), /Deny needs cgroup sock_addr programs/);
    } else {
      const p = await resolved(body);
      const deny = p.hooks[0]!.served.attachments.find((a) => a.kind === 'sock_addr');
      assert.deepEqual(deny, { kind: 'sock_addr', attach: ['connect4', 'connect6'], label: 'cgroup:connect4+connect6' });
    }
    assert.match(await failure(`  kprobes:
  - call: sys_openat
    syscall: true
    selectors:
    - matchActions:
      - action: Deny
`), /Deny \(Vigil\) refuses connect and sendmsg with EPERM .* not to sys_openat/);
  });

  test('Sigkill is allowed where bpf_send_signal is', async () => {
    const sig = await probeHelper('bpf_send_signal');
    const body = `  kprobes:
  - call: sys_ptrace
    syscall: true
    selectors:
    - matchActions:
      - action: Sigkill
`;
    if (sig.available) await resolved(body);
    else assert.match(await failure(body), /Sigkill needs bpf_send_signal/);
  });
});

describe('uprobes', () => {
  test('the binary and its symbols must exist', async () => {
    const up = await probeAttach('uprobe');
    const body = `  uprobes:
  - path: /bin/bash
    symbols: [readline]
`;
    if (!up.available) {
      assert.match(await failure(body), /uprobes are not available here/);
      return;
    }
    const p = await resolved(body);
    const a = p.hooks[0]!.served.attachments[0]!;
    assert.ok(a.kind === 'uprobe');
    assert.equal(a.symbol, 'readline');
    assert.ok(a.offset !== undefined && a.offset > 0);
    assert.match(await failure(`  uprobes:
  - path: /bin/bash
    symbols: [no_such_symbol_here]
`), /spec\.uprobes\[0\]\.symbols: \/bin\/bash has no function symbol "no_such_symbol_here"/);
    assert.match(await failure(`  uprobes:
  - path: /no/such/binary
    symbols: [main]
`), /cannot open \/no\/such\/binary: ENOENT/);
  });
});
