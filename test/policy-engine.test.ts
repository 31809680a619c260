// The policy engine on the real kernel: every operator of matchArgs /
// matchReturnArgs / matchBinaries / matchPIDs / matchNamespaces /
// matchNamespaceChanges / matchCapabilities / matchCapabilityChanges matches
// and fails to match as it should, on real syscalls of a fixture binary
// (test/fixtures/policyops.c) copied to a scratch directory: every policy
// names that copy, so nothing else on the machine matches.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PolicyEngine } from '../src/policy/engine.js';
import { requireRoot, tracefs } from './helpers.js';
import { Events, Scratch, compile, run, show } from './policy-engine-util.js';
import { syscallNumber } from '../src/kernel/syscalls.js';

requireRoot();
tracefs();

const hasUnshare = spawnSync('unshare', ['--help'], { stdio: 'ignore' }).status === 0;

describe('policy engine operators', () => {
  let engine: PolicyEngine;
  let s: Scratch;
  const events = new Events();

  before(async () => {
    s = new Scratch();
    engine = await PolicyEngine.start({ onEvent: events.push, onError: (e) => { throw e; } });
  });

  after(() => {
    engine?.close();
    s?.remove();
  });

  /** sys_openat with (dfd int, pathname string, flags int), one selector. */
  const openat = (selector: Record<string, unknown>): Record<string, unknown> => ({
    kprobes: [{
      call: 'sys_openat', syscall: true,
      args: [{ index: 0, type: 'int' }, { index: 1, type: 'string' }, { index: 2, type: 'int' }],
      selectors: [selector],
    }],
  });
  /** sys_connect with (fd sock, sockaddr). */
  const connect = (selector: Record<string, unknown>): Record<string, unknown> => ({
    kprobes: [{
      call: 'sys_connect', syscall: true,
      args: [{ index: 0, type: 'sock' }, { index: 1, type: 'sockaddr' }],
      selectors: [selector],
    }],
  });
  /** sys_sendto with (fd sock, ..., sockaddr at 4). */
  const sendto = (selector: Record<string, unknown>): Record<string, unknown> => ({
    kprobes: [{
      call: 'sys_sendto', syscall: true,
      args: [{ index: 0, type: 'sock' }, { index: 4, type: 'sockaddr' }],
      selectors: [selector],
    }],
  });
  const mine = (): Record<string, unknown>[] => [{ operator: 'In', values: [s.ops] }];

  /** The fixture's commands, run directly or through a wrapper (unshare ...). */
  type Run = string[] | { args: string[]; wrap?: string[]; cwd?: string };
  interface Case {
    name: string;
    spec: () => Record<string, unknown>;
    /** Runs that must produce an event, and runs that must not. */
    match: (() => Run)[];
    miss: (() => Run)[];
    skip?: string;
  }
  const unshareMnt = (args: string[]): Run => ({ args, wrap: ['unshare', '-m'] });

  const P = (n: string): string => `${s.dir}/${n}`;
  const cases: Case[] = [
    {
      name: 'Equal (strings, values ORed)',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Equal', values: [P('a.txt'), P('b.txt')] }], matchBinaries: mine() }),
      match: [() => ['open', P('a.txt')], () => ['open', P('b.txt')]],
      miss: [() => ['open', P('a.txtx')], () => ['open', P('c.txt')]],
    },
    {
      name: 'NotEqual (values ANDed)',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'NotEqual', values: [P('a.txt'), P('b.txt')] }, { index: 1, operator: 'Prefix', values: [s.dir] }], matchBinaries: mine() }),
      match: [() => ['open', P('c.txt')]],
      miss: [() => ['open', P('a.txt')], () => ['open', P('b.txt')]],
    },
    {
      name: 'Prefix',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [P('pre-')] }], matchBinaries: mine() }),
      match: [() => ['open', P('pre-1')], () => ['open', P('pre-')]],
      miss: [() => ['open', P('pr')], () => ['open', P('other')]],
    },
    {
      name: 'NotPrefix',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'NotPrefix', values: [P('pre-'), P('etc-')] }, { index: 1, operator: 'Prefix', values: [s.dir] }], matchBinaries: mine() }),
      match: [() => ['open', P('other')]],
      miss: [() => ['open', P('pre-1')], () => ['open', P('etc-x')]],
    },
    {
      name: 'Postfix',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Postfix', values: ['.key', '_rsa'] }], matchBinaries: mine() }),
      match: [() => ['open', P('a.key')], () => ['open', P('id_rsa')]],
      miss: [() => ['open', P('a.key.pub')], () => ['open', P('id_rsa.pub')]],
    },
    {
      name: 'NotPostfix',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'NotPostfix', values: ['.key'] }, { index: 1, operator: 'Prefix', values: [s.dir] }], matchBinaries: mine() }),
      match: [() => ['open', P('a.txt')]],
      miss: [() => ['open', P('a.key')]],
    },
    {
      name: 'GreaterThan (flags)',
      spec: () => openat({ matchArgs: [{ index: 2, operator: 'GT', values: ['0x40'] }, { index: 1, operator: 'Prefix', values: [s.dir] }], matchBinaries: mine() }),
      match: [() => ['openf', P('gt1'), '0x241']],
      miss: [() => ['open', P('gt2')], () => ['openf', P('gt3'), '0x40']],
    },
    {
      name: 'LessThan (flags)',
      spec: () => openat({ matchArgs: [{ index: 2, operator: 'LT', values: ['1'] }, { index: 1, operator: 'Prefix', values: [s.dir] }], matchBinaries: mine() }),
      match: [() => ['open', P('lt1')]],
      miss: [() => ['openf', P('lt2'), '0x41']],
    },
    {
      name: 'LessThan on a negative int (signed compare)',
      spec: () => openat({ matchArgs: [{ index: 0, operator: 'LT', values: ['0'] }, { index: 1, operator: 'Postfix', values: ['neg'] }], matchBinaries: mine() }),
      match: [() => ['open', P('neg')]], // AT_FDCWD = -100
      miss: [() => ['openat', s.dir, 'neg']], // a real directory fd
    },
    {
      name: 'Mask (O_CREAT)',
      spec: () => openat({ matchArgs: [{ index: 2, operator: 'Mask', values: ['0x40'] }, { index: 1, operator: 'Prefix', values: [s.dir] }], matchBinaries: mine() }),
      match: [() => ['openf', P('m1'), '0x41']],
      miss: [() => ['openf', P('m2'), '0x1'], () => ['open', P('m3')]],
    },
    {
      name: 'InMap (values and ranges)',
      spec: () => openat({ matchArgs: [{ index: 2, operator: 'InMap', values: ['65', '576:580'] }, { index: 1, operator: 'Prefix', values: [s.dir] }], matchBinaries: mine() }),
      match: [() => ['openf', P('i1'), '0x41'], () => ['openf', P('i2'), '0x241']],
      miss: [() => ['openf', P('i3'), '0x1'], () => ['open', P('i4')]],
    },
    {
      name: 'NotInMap',
      spec: () => openat({ matchArgs: [{ index: 2, operator: 'NotInMap', values: ['65', '576:580'] }, { index: 1, operator: 'Prefix', values: [s.dir] }], matchBinaries: mine() }),
      match: [() => ['openf', P('n1'), '0x1']],
      miss: [() => ['openf', P('n2'), '0x41'], () => ['openf', P('n3'), '0x241']],
    },
    {
      name: 'DAddr (IPv4 CIDR)',
      spec: () => connect({ matchArgs: [{ index: 1, operator: 'DAddr', values: ['127.0.0.2/32', '127.9.0.0/16'] }], matchBinaries: mine() }),
      match: [() => ['connect4', '127.0.0.2', '9'], () => ['connect4', '127.9.3.4', '9']],
      miss: [() => ['connect4', '127.0.0.1', '9'], () => ['connect6', '::1', '9']],
    },
    {
      name: 'NotDAddr',
      spec: () => connect({ matchArgs: [{ index: 1, operator: 'NotDAddr', values: ['127.0.0.0/8'] }], matchBinaries: mine() }),
      match: [() => ['connect6', '::1', '9']],
      miss: [() => ['connect4', '127.0.0.1', '9']],
    },
    {
      name: 'DAddr (IPv6 CIDR)',
      spec: () => connect({ matchArgs: [{ index: 1, operator: 'DAddr', values: ['::1/128', 'fd00::/8'] }], matchBinaries: mine() }),
      match: [() => ['connect6', '::1', '9']],
      miss: [() => ['connect4', '127.0.0.1', '9'], () => ['connect6', '::2', '9']],
    },
    {
      name: 'DPort (ports and ranges)',
      spec: () => connect({ matchArgs: [{ index: 1, operator: 'DPort', values: ['4444', '14440:14450'] }], matchBinaries: mine() }),
      match: [() => ['connect4', '127.0.0.1', '4444'], () => ['connect4', '127.0.0.1', '14445']],
      miss: [() => ['connect4', '127.0.0.1', '4445'], () => ['connect4', '127.0.0.1', '14451']],
    },
    {
      name: 'NotDPort',
      spec: () => connect({ matchArgs: [{ index: 1, operator: 'NotDPort', values: ['4444'] }], matchBinaries: mine() }),
      match: [() => ['connect4', '127.0.0.1', '4445']],
      miss: [() => ['connect4', '127.0.0.1', '4444']],
    },
    {
      name: 'Family (sockaddr)',
      spec: () => connect({ matchArgs: [{ index: 1, operator: 'Family', values: ['AF_INET6'] }], matchBinaries: mine() }),
      match: [() => ['connect6', '::1', '9']],
      miss: [() => ['connect4', '127.0.0.1', '9']],
    },
    {
      name: 'SAddr (bound socket)',
      spec: () => sendto({ matchArgs: [{ index: 0, operator: 'SAddr', values: ['127.0.0.1/32'] }], matchBinaries: mine() }),
      match: [() => ['udp4', '127.0.0.1', '9']],
      miss: [],
    },
    {
      name: 'NotSAddr',
      spec: () => sendto({ matchArgs: [{ index: 0, operator: 'NotSAddr', values: ['127.0.0.1/32'] }], matchBinaries: mine() }),
      match: [],
      miss: [() => ['udp4', '127.0.0.1', '9']],
    },
    {
      name: 'SPort / NotSPortPriv (ephemeral source port)',
      spec: () => sendto({ matchArgs: [{ index: 0, operator: 'NotSPortPriv' }, { index: 0, operator: 'SPort', values: ['1024:65535'] }], matchBinaries: mine() }),
      match: [() => ['udp4', '127.0.0.1', '9']],
      miss: [],
    },
    {
      name: 'SPortPriv fails on an ephemeral port',
      spec: () => sendto({ matchArgs: [{ index: 0, operator: 'SPortPriv' }], matchBinaries: mine() }),
      match: [],
      miss: [() => ['udp4', '127.0.0.1', '9']],
    },
    {
      name: 'NotSPort',
      spec: () => sendto({ matchArgs: [{ index: 0, operator: 'NotSPort', values: ['1024:65535'] }], matchBinaries: mine() }),
      match: [],
      miss: [() => ['udp4', '127.0.0.1', '9']],
    },
    {
      name: 'Protocol (socket)',
      spec: () => sendto({ matchArgs: [{ index: 0, operator: 'Protocol', values: ['IPPROTO_UDP'] }], matchBinaries: mine() }),
      match: [() => ['udp4', '127.0.0.1', '9']],
      miss: [],
    },
    {
      name: 'Protocol fails on another protocol',
      spec: () => sendto({ matchArgs: [{ index: 0, operator: 'Protocol', values: ['IPPROTO_TCP'] }], matchBinaries: mine() }),
      match: [],
      miss: [() => ['udp4', '127.0.0.1', '9']],
    },
    {
      name: 'matchReturnArgs (Equal, return value)',
      spec: () => ({
        kprobes: [{
          call: 'sys_openat', syscall: true, return: true,
          args: [{ index: 1, type: 'string' }], returnArg: { index: 0, type: 'int' },
          selectors: [{ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
            matchReturnArgs: [{ operator: 'Equal', values: ['-2'] }], matchBinaries: mine() }],
        }],
      }),
      match: [() => ['open', P('no-such-file')]],
      miss: [() => ['open', s.file('exists')]],
    },
    {
      name: 'matchReturnArgs (LessThan)',
      spec: () => ({
        kprobes: [{
          call: 'sys_openat', syscall: true, return: true,
          args: [{ index: 1, type: 'string' }], returnArg: { index: 0, type: 'int' },
          selectors: [{ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
            matchReturnArgs: [{ operator: 'LT', values: ['0'] }], matchBinaries: mine() }],
        }],
      }),
      match: [() => ['open', P('no-such-file')]],
      miss: [() => ['open', s.file('exists2')]],
    },
    {
      name: 'path arguments: a relative name made absolute against the dirfd or cwd (portable security_path_unlink)',
      spec: () => ({
        kprobes: [{
          call: 'security_path_unlink',
          args: [{ index: 0, type: 'path' }, { index: 1, type: 'dentry' }],
          selectors: [{ matchArgs: [{ index: 0, operator: 'Equal', values: [P('rel.txt')] }], matchBinaries: mine() }],
        }],
      }),
      match: [() => ['unlinkat', s.dir, 'rel.txt'], () => ['unlink', P('rel.txt')], () => ({ args: ['unlink', 'rel.txt'], cwd: s.dir })],
      miss: [() => ['unlinkat', s.dir, 'rel2.txt']],
    },
    {
      name: 'file of the fd an open returns, at the exit (portable security_file_open)',
      spec: () => ({
        kprobes: [{
          call: 'security_file_open', args: [{ index: 0, type: 'file' }],
          selectors: [{ matchArgs: [{ index: 0, operator: 'Equal', values: [P('sfo.txt')] }], matchBinaries: mine() }],
        }],
      }),
      match: [() => ['open', s.file('sfo.txt')], () => ({ args: ['open', 'sfo.txt'], cwd: s.dir })],
      miss: [() => ['open', s.file('sfo2.txt')], () => ['open', P('missing')]],
    },
    {
      name: 'fd argument resolved to its path (read)',
      spec: () => ({
        kprobes: [{
          call: 'sys_read', syscall: true,
          args: [{ index: 0, type: 'fd' }],
          selectors: [{ matchArgs: [{ index: 0, operator: 'Postfix', values: ['/fd-read.txt'] }], matchBinaries: mine() }],
        }],
      }),
      match: [() => ['read', s.file('fd-read.txt')]],
      miss: [() => ['read', s.file('fd-other.txt')]],
    },
    {
      name: 'matchBinaries In',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }], matchBinaries: [{ operator: 'In', values: [s.ops] }] }),
      match: [() => ['open', P('x')]],
      miss: [() => ['exec', s.ops2, 'open', P('x')]],
    },
    {
      name: 'matchBinaries NotIn',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
        matchBinaries: [{ operator: 'NotIn', values: [s.ops] }, { operator: 'Prefix', values: [s.dir] }] }),
      match: [() => ['exec', s.ops2, 'open', P('x')]],
      miss: [() => ['open', P('x')]],
    },
    {
      name: 'matchBinaries Prefix / NotPrefix',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
        matchBinaries: [{ operator: 'Prefix', values: [`${s.dir}/policyops`] }, { operator: 'NotPrefix', values: [`${s.dir}/policyops-`] }] }),
      match: [() => ['open', P('x')]],
      miss: [() => ['exec', s.ops2, 'open', P('x')]],
    },
    {
      name: 'matchBinaries Postfix / NotPostfix',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
        matchBinaries: [{ operator: 'Postfix', values: ['-two'] }, { operator: 'NotPostfix', values: ['/policyops'] }, { operator: 'Prefix', values: [s.dir] }] }),
      match: [() => ['exec', s.ops2, 'open', P('x')]],
      miss: [() => ['open', P('x')]],
    },
    {
      name: 'matchBinaries followChildren',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
        matchBinaries: [{ operator: 'In', values: [s.ops], followChildren: true }] }),
      match: [() => ['fork', 'exec', s.ops2, 'open', P('child')], () => ['open', P('self')]],
      miss: [],
    },
    {
      name: 'matchBinaries without followChildren',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
        matchBinaries: [{ operator: 'In', values: [s.ops] }] }),
      match: [],
      miss: [() => ['fork', 'exec', s.ops2, 'open', P('child')]],
    },
    {
      name: 'matchNamespaces Mnt In host_ns',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
        matchNamespaces: [{ namespace: 'Mnt', operator: 'In', values: ['host_ns'] }], matchBinaries: mine() }),
      match: [() => ['open', P('x')]],
      miss: [() => unshareMnt(['open', P('y')])],
      skip: hasUnshare ? undefined : 'unshare(1) missing',
    },
    {
      name: 'matchNamespaces Mnt NotIn host_ns',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
        matchNamespaces: [{ namespace: 'Mnt', operator: 'NotIn', values: ['host_ns'] }], matchBinaries: mine() }),
      match: [() => unshareMnt(['open', P('x')])],
      miss: [() => ['open', P('y')]],
      skip: hasUnshare ? undefined : 'unshare(1) missing',
    },
    {
      name: 'matchNamespaceChanges In Uts',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
        matchNamespaceChanges: [{ operator: 'In', values: ['Uts'] }], matchBinaries: mine() }),
      match: [() => ['unshare-uts', 'open', P('x')]],
      miss: [() => ['open', P('x')]],
    },
    {
      name: 'matchNamespaceChanges NotIn Uts (only other namespaces count)',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
        matchNamespaceChanges: [{ operator: 'NotIn', values: ['Uts'] }], matchBinaries: mine() }),
      match: [],
      miss: [() => ['unshare-uts', 'open', P('x')], () => ['open', P('x')]],
    },
    {
      name: 'matchCapabilities Effective In CAP_SYS_ADMIN',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
        matchCapabilities: [{ type: 'Effective', operator: 'In', values: ['CAP_SYS_ADMIN'] }], matchBinaries: mine() }),
      match: [() => ['open', P('x')]],
      miss: [() => ['dropcap', '21', 'open', P('x')]],
    },
    {
      name: 'matchCapabilities Effective NotIn CAP_SYS_ADMIN',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
        matchCapabilities: [{ type: 'Effective', operator: 'NotIn', values: ['CAP_SYS_ADMIN'] }], matchBinaries: mine() }),
      match: [() => ['dropcap', '21', 'open', P('x')]],
      miss: [() => ['open', P('x')]],
    },
    {
      name: 'matchCapabilityChanges Effective In CAP_SYS_ADMIN',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
        matchCapabilityChanges: [{ type: 'Effective', operator: 'In', values: ['CAP_SYS_ADMIN'] }], matchBinaries: mine() }),
      match: [() => ['dropcap', '21', 'open', P('x')]],
      miss: [() => ['open', P('x')], () => ['dropcap', '12', 'open', P('x')]],
    },
    {
      name: 'matchCapabilityChanges Effective NotIn CAP_SYS_ADMIN (another capability changed)',
      spec: () => openat({ matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
        matchCapabilityChanges: [{ type: 'Effective', operator: 'NotIn', values: ['CAP_SYS_ADMIN'] }], matchBinaries: mine() }),
      match: [() => ['dropcap', '12', 'open', P('x')]],
      miss: [() => ['open', P('x')], () => ['dropcap', '21', 'open', P('x')]],
    },
  ];

  for (const c of cases) {
    test(c.name, { skip: c.skip }, async () => {
      const policy = await compile(c.spec());
      await engine.add(policy);
      try {
        const exec = async (what: Run): Promise<number> => {
          events.clear();
          const r = Array.isArray(what) ? await run(s.ops, what)
            : what.wrap ? await run(what.wrap[0]!, [...what.wrap.slice(1), s.ops, ...what.args], { cwd: what.cwd })
              : await run(s.ops, what.args, { cwd: what.cwd });
          assert.equal(r.signal, null, `${show(what)}: ${show(r)}`);
          return events.ofPolicy(engine, policy.name).length;
        };
        for (const m of c.match) {
          const what = m();
          assert.ok(await exec(what) >= 1, `${c.name}: expected an event for ${show(what)}`);
        }
        for (const m of c.miss) {
          const what = m();
          assert.equal(await exec(what), 0, `${c.name}: expected no event for ${show(what)}: ${show(events.all.map((e) => e.args))}`);
        }
      } finally {
        engine.remove(policy.name);
      }
    });
  }

  test('a policy\'s own tracepoints on raw_syscalls: every syscall\'s record, filtered by its id', async () => {
    const nr = syscallNumber('unshare');
    assert.ok(nr !== undefined);
    const policy = await compile({
      tracepoints: ['sys_enter', 'sys_exit'].map((event) => ({
        subsystem: 'raw_syscalls', event, args: [{ index: 4, type: 'int64' }],
        selectors: [{ matchArgs: [{ index: 0, operator: 'Equal', values: [String(nr)] }], matchBinaries: mine() }],
      })),
    });
    events.clear();
    await engine.add(policy);
    try {
      const r = await run(s.ops, ['unshare-uts']);
      const evs = events.ofPolicy(engine, policy.name).filter((e) => e.pid === r.pid);
      assert.deepEqual(evs.map((e) => [e.attachment.label, e.args[0]]).sort(), [
        ['tracepoint:raw_syscalls/sys_enter', { kind: 'int', value: BigInt(nr) }],
        ['tracepoint:raw_syscalls/sys_exit', { kind: 'int', value: BigInt(nr) }],
      ], show(evs.map((e) => [e.attachment.label, e.args])));
    } finally {
      engine.remove(policy.name);
    }
  });

  test('matchPIDs In / NotIn, followForks', async () => {
    // The pid is known only once the process exists: it waits on stdin while the policy goes in.
    for (const [op, follow, cmd, expect] of [
      ['In', false, ['open'], 1], ['In', false, ['fork', 'open'], 0], ['In', true, ['fork', 'open'], 1],
      ['NotIn', false, ['open'], 0], ['NotIn', false, ['fork', 'open'], 1], ['NotIn', true, ['fork', 'open'], 0],
    ] as const) {
      let name = '';
      events.clear();
      await run(s.ops, ['wait', ...cmd, s.file('pid.txt')], {
        beforeGo: async (pid) => {
          const policy = await compile(openat({
            matchArgs: [{ index: 1, operator: 'Equal', values: [`${s.dir}/pid.txt`] }],
            matchPIDs: [{ operator: op, values: [pid], followForks: follow }], matchBinaries: mine(),
          }));
          name = policy.name;
          await engine.add(policy);
        },
      });
      const n = events.ofPolicy(engine, name).length;
      engine.remove(name);
      assert.equal(n, expect, `matchPIDs ${op} followForks=${follow} ${cmd.join(' ')}`);
    }
  });

  test('matchPIDs isNamespacePID', { skip: hasUnshare ? undefined : 'unshare(1) missing' }, async () => {
    const mk = (ns: boolean): ReturnType<typeof compile> => compile(openat({
      matchArgs: [{ index: 1, operator: 'Prefix', values: [s.dir] }],
      matchPIDs: [{ operator: 'In', values: [1], isNamespacePID: ns }], matchBinaries: mine(),
    }));
    for (const [ns, expect] of [[true, 1], [false, 0]] as const) {
      const policy = await mk(ns);
      await engine.add(policy);
      events.clear();
      // unshare --fork: the fixture is pid 1 of a new pid namespace.
      const r = await run('unshare', ['--pid', '--fork', s.ops, 'open', `${s.dir}/nspid`]);
      assert.equal(r.code, 0, show(r));
      const n = events.ofPolicy(engine, policy.name).length;
      engine.remove(policy.name);
      assert.equal(n, expect, `isNamespacePID=${ns}`);
    }
  });

  test('an event carries its arguments decoded', async () => {
    const policy = await compile(openat({ matchArgs: [{ index: 1, operator: 'Equal', values: [`${s.dir}/args.txt`] }], matchBinaries: mine() }));
    await engine.add(policy);
    try {
      events.clear();
      const r = await run(s.ops, ['openf', `${s.dir}/args.txt`, '0x241']);
      const [e] = events.ofPolicy(engine, policy.name);
      assert.ok(e, 'event');
      assert.equal(e.pid, r.pid);
      assert.equal(e.comm, 'policyops');
      assert.equal(e.kind, 'kprobe');
      assert.equal(e.action, 'KPROBE_ACTION_POST');
      assert.deepEqual(e.args, [
        { kind: 'int', value: -100n },
        { kind: 'string', value: `${s.dir}/args.txt` },
        { kind: 'int', value: 0x241n },
      ]);
    } finally {
      engine.remove(policy.name);
    }
  });

  test('sockaddr and sock arguments decoded', async () => {
    const policy = await compile(connect({ matchArgs: [{ index: 1, operator: 'DPort', values: ['4446'] }], matchBinaries: mine() }));
    await engine.add(policy);
    try {
      events.clear();
      await run(s.ops, ['connect4', '127.0.0.3', '4446']);
      const [e] = events.ofPolicy(engine, policy.name);
      assert.ok(e, 'event');
      assert.deepEqual(e.args[1], { kind: 'sockaddr', family: 2, addr: '127.0.0.3', port: 4446 });
      assert.equal(e.args[0]?.kind, 'sock');
      assert.equal((e.args[0] as { protocol: number }).protocol, 6);
    } finally {
      engine.remove(policy.name);
    }
  });
});
