// Arguments read through BTF (resolve, btfType, btfTypeModule), data entries
// and matchCEL: member paths as pure logic over hand-made BTF, validation
// against the running kernel's BTF, and real events of real syscalls. On a
// kernel with kprobes and fentry (the kernel matrix) the kprobes/fentries
// policies here run natively (kernel memory); on one without, on their
// portable equivalents (the syscall's user memory).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import YAML from 'yaml';
import { Btf, memberPath, MemberPathError, parseMemberPath, type BtfType } from '../src/bpf/btf.js';
import { loadPolicySources, formatDiagnostic } from '../src/policy/loader.js';
import { compilePolicies, resolvePolicy } from '../src/policy/hooks.js';
import type { CompiledPolicy, PolicySpec } from '../src/policy/ir.js';
import { compileCel } from '../src/policy/cel.js';
import { PolicyEventFormatter } from '../src/output/policy-events.js';
import { requireRoot, tracefs } from './helpers.js';
import { probeAttach } from '../src/bpf/features.js';
import { engineForSuite, run, show } from './policy-engine-util.js';

// --- pure: member paths over hand-made BTF -------------------------------------------

function member(name: string, type_id: number, bits_offset: number, bitfield_size = 0): NonNullable<BtfType['members']>[number] {
  return { name, type_id, bits_offset, bitfield_size };
}

/**
 * struct inner { int a; unsigned int flag:1, mode:3; };
 * struct outer { long x; union { struct inner *in; long raw; }; char name[8]; struct inner emb; struct outer **pp; };
 */
function testBtf(): Btf {
  const t: (BtfType | null)[] = [null];
  const add = (x: Omit<BtfType, 'id'>): number => {
    t.push({ id: t.length, ...x } as BtfType);
    return t.length - 1;
  };
  const int = add({ kind: 'INT', name: 'int', size: 4, encoding: 'SIGNED', nr_bits: 32, bits_offset: 0 });
  const uint = add({ kind: 'INT', name: 'unsigned int', size: 4, encoding: '(none)', nr_bits: 32, bits_offset: 0 });
  const long = add({ kind: 'INT', name: 'long', size: 8, encoding: 'SIGNED', nr_bits: 64, bits_offset: 0 });
  const char = add({ kind: 'INT', name: 'char', size: 1, encoding: '(none)', nr_bits: 8, bits_offset: 0 });
  const inner = add({ kind: 'STRUCT', name: 'inner', size: 8, members: [member('a', int, 0), member('flag', uint, 32, 1), member('mode', uint, 33, 3)] });
  const innerPtr = add({ kind: 'PTR', name: '', type_id: inner });
  const anon = add({ kind: 'UNION', name: '', size: 8, members: [member('in', innerPtr, 0), member('raw', long, 0)] });
  const u32 = add({ kind: 'INT', name: 'u32', size: 4, encoding: '(none)', nr_bits: 32, bits_offset: 0 });
  const arr = add({ kind: 'ARRAY', name: '', type_id: char, index_type_id: u32, nr_elems: 8 });
  const outer = add({ kind: 'STRUCT', name: 'outer', size: 40, members: [] });
  const outerPtr = add({ kind: 'PTR', name: '', type_id: outer });
  const outerPtrPtr = add({ kind: 'PTR', name: '', type_id: outerPtr });
  (t[outer] as { members: unknown[] }).members = [
    member('x', long, 0), member('', anon, 64), member('name', arr, 128), member('emb', inner, 192), member('pp', outerPtrPtr, 256),
  ];
  return Btf.fromTypes(t);
}

describe('resolve paths (pure)', () => {
  const b = testBtf();
  const outer = b.byName('outer', 'STRUCT')!.id;

  test('parseMemberPath: members and indexes; malformed paths are errors', () => {
    assert.deepEqual(parseMemberPath('mm.owner.comm'), ['mm', 'owner', 'comm']);
    assert.deepEqual(parseMemberPath('fd[3].f_path'), ['fd', '[3]', 'f_path']);
    for (const bad of ['', 'a..b', 'a.', '.a', 'a b', 'a.[1]', 'a[x]']) assert.throws(() => parseMemberPath(bad), MemberPathError, bad);
  });

  test('an integer member: its offset, then a load of its size, signed as its type', () => {
    assert.deepEqual(memberPath(b, outer, 'x'), { steps: [], end: { kind: 'scalar', size: 8, signed: true, shift: 0, bits: 64, pointer: false, c: 'long' } });
  });

  test('through an anonymous union and a pointer: the pointer is followed', () => {
    const p = memberPath(b, outer, 'in.a');
    assert.deepEqual(p.steps, [{ offset: 8, deref: true }]);
    assert.deepEqual(p.end, { kind: 'scalar', size: 4, signed: true, shift: 0, bits: 32, pointer: false, c: 'int' });
  });

  test('a bitfield is cut out of the bytes that hold it', () => {
    const p = memberPath(b, outer, 'emb.mode');
    assert.deepEqual(p.steps, [{ offset: 28, deref: false }]);
    assert.deepEqual(p.end, { kind: 'scalar', size: 1, signed: false, shift: 1, bits: 3, pointer: false, c: 'unsigned int' });
  });

  test('a char array is an object (its address); an index picks one element', () => {
    const name = memberPath(b, outer, 'name');
    assert.deepEqual(name.steps, [{ offset: 16, deref: false }]);
    assert.ok(name.end.kind === 'object' && name.end.c === 'char[8]', show(name.end));
    assert.deepEqual(memberPath(b, outer, 'name[3]').steps, [{ offset: 19, deref: false }]);
    assert.throws(() => memberPath(b, outer, 'name[8]'), /index 8 is past the 8 elements of char\[8\]/);
  });

  test('nested pointers (struct outer **) are followed one level per member lookup', () => {
    const p = memberPath(b, outer, 'pp.x');
    assert.deepEqual(p.steps, [{ offset: 32, deref: true }, { offset: 0, deref: true }]);
  });

  test('a missing member names itself and the type it was looked up in', () => {
    assert.throws(() => memberPath(b, outer, 'emb.nope'), (e: unknown) =>
      e instanceof MemberPathError && e.segment === 'nope' && /struct inner has no member "nope" \(its members: a, flag, mode\)/.test(e.message));
    assert.throws(() => memberPath(b, outer, 'x.y'), /"y" is looked up in long, which is not a struct or union/);
  });
});

describe('matchCEL (pure)', () => {
  const spec = (type: string, index: number) => ({ index, type, returnCopy: false, maxData: false, pos: { file: 'f', line: 1, col: 1 } }) as never;

  test('Tetragon\'s width conversions and arg/data variables by position', () => {
    const p = compileCel('arg1 == int32(-1) && data0 == arg0 + int32(42)', [spec('int', 2), spec('int', 0)], [spec('int', 0)]);
    assert.ok(!('error' in p), show(p));
    assert.equal(p.matches([{ kind: 'int', value: 58n }, { kind: 'int', value: -1n }], [{ kind: 'int', value: 100n }]), true);
    assert.equal(p.matches([{ kind: 'int', value: 57n }, { kind: 'int', value: -1n }], [{ kind: 'int', value: 100n }]), false);
    // A value the kernel could not read fails the expression.
    assert.equal(p.matches([{ kind: 'unavailable', reason: 'x' }, { kind: 'int', value: -1n }], [{ kind: 'int', value: 100n }]), false);
  });

  test('unsigned arguments are CEL uint; strings compare as strings', () => {
    const p = compileCel('arg0 == uint16(8080) && arg1.startsWith("/etc/")', [spec('uint16', 0), spec('string', 1)], []);
    assert.ok(!('error' in p), show(p));
    assert.equal(p.matches([{ kind: 'int', value: 8080n }, { kind: 'string', value: '/etc/passwd' }], []), true);
  });

  test('unknown variables, syntax and type errors are errors', () => {
    assert.match((compileCel('arg3 == 1', [spec('int', 0)], []) as { error: string }).error, /Unknown variable: arg3/);
    assert.ok('error' in compileCel('arg0 ==', [spec('int', 0)], []));
    assert.match((compileCel('arg0 + 1', [spec('int', 0)], []) as { error: string }).error, /needs a bool/);
  });
});

// --- validation against the running kernel's BTF ----------------------------------------

function load(spec: Record<string, unknown>, name: string): { specs: readonly PolicySpec[]; diags: string[] } {
  const content = YAML.stringify({ apiVersion: 'cilium.io/v1alpha1', kind: 'TracingPolicy', metadata: { name }, spec });
  const r = loadPolicySources([{ name: `${name}.yaml`, content }]);
  return { specs: r.policies, diags: r.diagnostics.map(formatDiagnostic) };
}

async function resolveErrors(spec: Record<string, unknown>, name: string): Promise<string[]> {
  const { specs, diags } = load(spec, name);
  assert.deepEqual(diags, []);
  const r = await resolvePolicy(specs[0]!);
  return r.diagnostics.map(formatDiagnostic);
}

describe('resolve: validation with positions', () => {
  test('a member that does not exist: file:line:col of resolve, the member and the type it was looked up in', async () => {
    const errs = await resolveErrors({
      tracepoints: [{ subsystem: 'sched', event: 'sched_process_exec', raw: true,
        args: [{ index: 0, type: 'int', resolve: 'real_parent.no_such_member' }] }],
    }, 'missing-member');
    assert.equal(errs.length, 1, show(errs));
    assert.match(errs[0]!, /^missing-member\.yaml:\d+:\d+: spec\.tracepoints\[0\]\.args\[0\]\.resolve: /);
    assert.match(errs[0]!, /resolve "real_parent\.no_such_member" from struct task_struct: struct task_struct has no member "no_such_member"/);
  });

  test('a path ending where the declared type cannot read it', async () => {
    const errs = await resolveErrors({
      tracepoints: [{ subsystem: 'sched', event: 'sched_process_exec', raw: true, args: [{ index: 0, type: 'string', resolve: 'pid' }] }],
    }, 'wrong-end');
    assert.match(errs.join('\n'), /args\[0\]\.type: resolve "pid" ends at pid_t; type string needs a char array or a char \*/);
  });

  test('btfTypeModule whose BTF is not loaded: a clear rejection', async () => {
    const errs = await resolveErrors({
      kprobes: [{ call: 'security_socket_connect', syscall: false,
        args: [{ index: 1, type: 'uint16', btfType: 'vigil_no_such_type', btfTypeModule: 'vigil_no_such_module', resolve: 'family' }] }],
    }, 'no-module');
    assert.match(errs.join('\n'), /btfTypeModule: btfType vigil_no_such_type: module vigil_no_such_module's BTF is not loaded on this kernel/);
    // A type vmlinux has needs no module BTF, whatever btfTypeModule says.
    assert.deepEqual(await resolveErrors({
      kprobes: [{ call: 'security_socket_connect', syscall: false,
        args: [{ index: 1, type: 'uint16', btfType: 'sockaddr_in', btfTypeModule: 'vigil_no_such_module', resolve: 'sin_port' }] }],
    }, 'vmlinux-type'), []);
  });

  test('malformed paths, and resolve where Vigil cannot follow it, are refused when loaded', () => {
    const { diags } = load({
      kprobes: [
        { call: 'security_socket_connect', syscall: false, args: [{ index: 1, type: 'int', resolve: 'sin_port..x' }] },
        { call: 'security_file_open', syscall: false, return: true, returnArg: { index: 0, type: 'int', resolve: 'f_flags' } },
      ],
      uprobes: [{ path: '/bin/true', symbols: ['main'], args: [{ index: 0, type: 'int', resolve: 'a' }] }],
    }, 'bad-paths');
    assert.match(diags.join('\n'), /returnArg\.resolve: resolve on the return value is not supported/);
    assert.match(diags.join('\n'), /args\[0\]\.resolve: resolve "sin_port\.\.x": empty member name/);
    assert.match(diags.join('\n'), /uprobes\[0\]\.args\[0\]\.resolve: resolve "a" on a uprobe needs the traced binary's BTF \(btfPath\)/);
  });

  test('matchCEL with an enforcing action, or before another selector, is refused with the reason', () => {
    const { diags } = load({
      kprobes: [{ call: 'sys_lseek', syscall: true, args: [{ index: 0, type: 'int' }],
        selectors: [
          { matchCEL: { expr: 'arg0 == 1' }, matchActions: [{ action: 'Post' }] },
          { matchCEL: { expr: 'arg0 == 2' }, matchActions: [{ action: 'Sigkill' }] },
        ] }],
    }, 'cel-placement');
    assert.match(diags.join('\n'), /selectors\[0\]\.matchCEL: matchCEL is evaluated by Vigil's agent after the kernel chose this selector/);
    assert.match(diags.join('\n'), /selectors\[1\]\.matchCEL: .*cannot hold back Sigkill/);
  });
});

// --- real events -------------------------------------------------------------------

describe('resolve, data and matchCEL on the real kernel', () => {
  requireRoot();
  tracefs();
  const suite = engineForSuite();
  let seq = 0;

  async function compileSpec(spec: Record<string, unknown>): Promise<CompiledPolicy> {
    const name = `resolve-${process.pid}-${++seq}`;
    const { specs, diags } = load(spec, name);
    assert.deepEqual(diags, []);
    const [c] = await compilePolicies(specs);
    return c!;
  }

  const withPolicy = suite.withPolicy;

  test('raw tracepoint sched_process_exec: resolve "pid", "comm" and "real_parent.tgid" of the task argument', async () => {
    const p = await compileSpec({
      tracepoints: [{ subsystem: 'sched', event: 'sched_process_exec', raw: true,
        args: [
          { index: 0, type: 'int', resolve: 'pid' },
          { index: 0, type: 'string', resolve: 'comm' },
          { index: 0, type: 'int', resolve: 'real_parent.tgid' },
        ],
        selectors: [{ matchBinaries: [{ operator: 'In', values: [suite.s.ops] }] }] }],
    });
    const { r, ev } = await withPolicy(p, async () => {
      const r = await run(suite.s.ops, []);
      return { r, ev: suite.events.ofPolicy(suite.engine, p.name).filter((e) => e.pid === r.pid) };
    });
    assert.equal(r.code, 0);
    assert.equal(ev.length, 1, show(ev.map((e) => e.args)));
    assert.deepEqual(ev[0]!.args, [
      { kind: 'int', value: BigInt(r.pid) },
      { kind: 'string', value: 'policyops' },
      { kind: 'int', value: BigInt(process.pid) },
    ]);
  });

  test('lsm bprm_check_security: resolve "mm.owner.real_parent.comm" (the exec\'ing task\'s parent)', async () => {
    // Natively: BPF-LSM reads bprm->mm->owner; served by sched_process_exec, the current task (the owner).
    // Selected by the resolved value itself (children of this process): at bprm_check_security the
    // process's binary is still the one that called execve, so matchBinaries would differ between the two.
    const p = await compileSpec({
      lsmhooks: [{ hook: 'bprm_check_security',
        args: [{ index: 0, type: 'int', resolve: 'mm.owner.real_parent.tgid' }, { index: 0, type: 'string', resolve: 'mm.owner.real_parent.comm' }],
        selectors: [{ matchArgs: [{ index: 0, operator: 'Equal', values: [String(process.pid)] }], matchActions: [{ action: 'Post' }] }] }],
    });
    const { r, ev } = await withPolicy(p, async () => {
      const r = await run(suite.s.ops, []);
      return { r, ev: suite.events.ofPolicy(suite.engine, p.name).filter((e) => e.pid === r.pid) };
    });
    assert.equal(r.code, 0);
    assert.equal(ev.length, 1, show(ev.map((e) => e.args)));
    assert.equal(ev[0]!.attachment.kind, (await probeAttach('lsm')).available ? 'lsm' : 'tracepoint', ev[0]!.attachment.label);
    const comm = readFileSync('/proc/self/comm', 'utf8').trim();
    assert.deepEqual(ev[0]!.args, [{ kind: 'int', value: BigInt(process.pid) }, { kind: 'string', value: comm }]);
  });

  for (const section of ['kprobes', 'fentries'] as const) {
    test(`${section} security_socket_connect: btfType sockaddr_in, sin_port and sin_addr.s_addr of a loopback connect`, async () => {
      const server = net.createServer((c) => c.destroy());
      await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
      const port = (server.address() as net.AddressInfo).port;
      // sin_port is read as it is in memory (network order), as Tetragon reads it: on this
      // little-endian machine the bytes of htons(port) read back swapped.
      const raw = ((port & 0xff) << 8) | (port >> 8);
      try {
        const p = await compileSpec({
          [section]: [{ call: 'security_socket_connect', syscall: false,
            args: [
              { index: 1, type: 'uint16', label: 'sockaddr_in.sin_port', btfType: 'sockaddr_in', resolve: 'sin_port' },
              { index: 1, type: 'uint32', label: 'sockaddr_in.sin_addr.s_addr', btfType: 'sockaddr_in', resolve: 'sin_addr.s_addr' },
            ],
            selectors: [{ matchArgs: [{ index: 1, operator: 'Equal', values: [String(raw)] }], matchBinaries: [{ operator: 'In', values: [suite.s.ops] }] }] }],
        });
        const { r, ev } = await withPolicy(p, async () => {
          const r = await run(suite.s.ops, ['connect4', '127.0.0.1', String(port === 65535 ? 1 : port + 1), 'connect4', '127.0.0.1', String(port)]);
          return { r, ev: suite.events.ofPolicy(suite.engine, p.name).filter((e) => e.pid === r.pid) };
        });
        assert.equal(r.code, 0);
        // Only the connect to the chosen port: the other is filtered out by the resolved port.
        assert.equal(ev.length, 1, show(ev.map((e) => [e.attachment.label, e.args])));
        assert.deepEqual(ev[0]!.args, [{ kind: 'int', value: BigInt(raw) }, { kind: 'int', value: 0x0100007fn }]);
        // Natively (kernel memory) where the kernel has the hook kind, else connect(2)'s user memory.
        const native = section === 'kprobes' ? (await probeAttach('kprobe')).available || (await probeAttach('fentry')).available
          : (await probeAttach('fentry')).available || (await probeAttach('kprobe')).available;
        assert.equal(ev[0]!.attachment.kind === 'kprobe' || ev[0]!.attachment.kind === 'fentry', native, ev[0]!.attachment.label);
      } finally {
        server.close();
      }
    });
  }

  test('data from current_task and matchCEL over args and data: only the crafted lseek posts', async () => {
    // Tetragon's policies/others/sys_lseek.yaml: arg1 (fd) == -1 and data0 (the task's pid) == arg0 (whence) + 42.
    const p = await compileSpec({
      kprobes: [{ call: 'sys_lseek', syscall: true,
        data: [{ source: 'current_task', index: 0, type: 'int', resolve: 'pid' }],
        args: [{ index: 2, type: 'int', label: 'whence' }, { index: 0, type: 'int', label: 'fd' }],
        selectors: [{ matchActions: [{ action: 'Post' }], matchBinaries: [{ operator: 'In', values: [suite.s.ops] }],
          matchCEL: { expr: 'arg1 == int32(-1) && data0 == arg0 + int32(42)' } }] }],
    });
    const { r, ev } = await withPolicy(p, async () => {
      const r = await run(suite.s.ops, ['lseekpid', '-1', '-41', 'lseekpid', '-1', '-42', 'lseekpid', '7', '-42']);
      return { r, ev: suite.events.ofPolicy(suite.engine, p.name).filter((e) => e.pid === r.pid) };
    });
    assert.equal(r.code, 0);
    assert.equal(ev.length, 1, show(ev.map((e) => [e.args, e.data])));
    assert.deepEqual(ev[0]!.args, [{ kind: 'int', value: BigInt(r.pid - 42) }, { kind: 'int', value: -1n }]);
    assert.deepEqual(ev[0]!.data, [{ kind: 'int', value: BigInt(r.pid) }]);
    // Reported as Tetragon does: process_kprobe.data, apart from args.
    const body = new PolicyEventFormatter('json').body(ev[0]!);
    assert.deepEqual(body.args, [{ int_arg: r.pid - 42, label: 'whence' }, { int_arg: -1, label: 'fd' }], show(body));
    assert.deepEqual(body.data, [{ int_arg: r.pid }], show(body));
    // The kernel posted all three (its filters pass them); the agent's CEL kept one.
    assert.ok(suite.engine.stats.celRejected >= 2, show(suite.engine.stats));
  });
});
