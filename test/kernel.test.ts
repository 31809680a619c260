// src/kernel: the kernel knowledge every feature shares (errno, signals,
// capabilities, syscall tables, kallsyms, addresses). Pure: no root, no BPF.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errnoName, errnoNameOf, errnoNumber } from '../src/kernel/errno.js';
import { signalName, signalNumber } from '../src/kernel/signals.js';
import {
  CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON, CAP_SYS_ADMIN, CAPABILITIES, capabilityList, capabilityName, capabilityNumber,
  effectiveCapabilities, hasCapability,
} from '../src/kernel/capabilities.js';
import { syscallName, syscallNumber } from '../src/kernel/syscalls.js';
import { kernelFunctions, scanKallsyms, unimplementedSyscalls } from '../src/kernel/kallsyms.js';
import {
  CidrError, CidrFilter, addressFromKernel, cidrContains, familyOf, formatAddress, parseAddress, parseCidr, parseIp,
  AF_INET, AF_INET6,
} from '../src/kernel/addr.js';
import { parseIp as parseRuleIp, parseNet } from '../src/rules/net.js';
import { findRange, lastAtOrBelow } from '../src/util/search.js';

function withTempFile(content: string, f: (file: string) => void): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-kernel-'));
  try {
    const file = path.join(dir, 'f');
    writeFileSync(file, content);
    f(file);
  } finally {
    rmSync(dir, { recursive: true });
  }
}

describe('errno', () => {
  test('names, numbers and the names a number has two of', () => {
    // EAGAIN and EOPNOTSUPP: the kernel's spelling where libc has two.
    for (const [n, name] of [[2, 'ENOENT'], [13, 'EACCES'], [1, 'EPERM'], [11, 'EAGAIN'], [95, 'EOPNOTSUPP']] as const) {
      assert.equal(errnoName(n), name);
      assert.equal(errnoNumber(name), n);
    }
    assert.equal(errnoNumber('EWOULDBLOCK'), 11);
  });

  test('kernel-internal codes bpf(2) returns are named; unknown ones are not invented', () => {
    for (const [n, name] of [[524, 'ENOTSUPP'], [512, 'ERESTARTSYS']] as const) assert.equal(errnoNameOf(n), name);
    assert.equal(errnoNameOf(4000), undefined);
    assert.equal(errnoName(4000), 'E4000');
  });
});

describe('signals', () => {
  test('names both ways, real-time signals by number', () => {
    // SIGABRT, not SIGIOT: the name the kernel's headers list first.
    for (const [n, name] of [[9, 'SIGKILL'], [15, 'SIGTERM'], [6, 'SIGABRT'], [10, 'SIGUSR1']] as const) {
      assert.equal(signalName(n), name);
      assert.equal(signalNumber(name), n);
    }
    assert.equal(signalName(40), 'SIG40');
    assert.equal(signalNumber('usr2'), 12, 'without SIG, any case');
    assert.equal(signalNumber('SIGNOPE'), undefined);
  });
});

describe('capabilities', () => {
  test('numbers and names agree with capability.h', () => {
    assert.equal(CAPABILITIES.length, 41);
    for (const [n, name] of [[CAP_NET_ADMIN, 'CAP_NET_ADMIN'], [CAP_SYS_ADMIN, 'CAP_SYS_ADMIN'], [CAP_PERFMON, 'CAP_PERFMON'],
      [CAP_BPF, 'CAP_BPF'], [0, 'CAP_CHOWN'], [40, 'CAP_CHECKPOINT_RESTORE']] as const) {
      assert.equal(capabilityName(n), name);
      assert.equal(capabilityNumber(name), n);
    }
    assert.equal(capabilityName(63), 'CAP_63');
    assert.equal(capabilityNumber('sys_admin'), 21);
    assert.equal(capabilityNumber(' cap_bpf '), 39);
    assert.equal(capabilityNumber('21'), 21);
    assert.equal(capabilityNumber('64'), undefined);
    assert.equal(capabilityNumber('CAP_NOPE'), undefined);
  });

  test('sets as masks', () => {
    const mask = (1n << 39n) | (1n << 21n) | 1n;
    assert.ok(hasCapability(mask, CAP_BPF));
    assert.ok(!hasCapability(mask, CAP_PERFMON));
    assert.deepEqual(capabilityList(mask), ['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_BPF']);
    assert.deepEqual(capabilityList(1n << 63n), ['CAP_63']);
    assert.deepEqual(capabilityList(0n), []);
    assert.deepEqual(capabilityList(3n, (c) => `#${c}`), ['#0', '#1']);
  });

  test('the effective set is read from a status file', () => {
    withTempFile('Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t000000c000001000\nCapEff:\t000000c000001000\n', (f) => {
      assert.equal(effectiveCapabilities(f), (1n << 39n) | (1n << 38n) | (1n << 12n));
      writeFileSync(f, 'Name:\tx\n');
      assert.equal(effectiveCapabilities(f), undefined);
      assert.equal(effectiveCapabilities(`${f}.absent`), undefined);
    });
    assert.equal(typeof effectiveCapabilities(), 'bigint', 'this process has a CapEff line');
  });
});

describe('syscall tables', () => {
  test('i386, the ia32 compat calls, beside the native tables', () => {
    assert.equal(syscallNumber('execve', 'i386'), 11);
    assert.equal(syscallNumber('socketcall', 'i386'), 102);
    assert.equal(syscallName(295, 'i386'), 'openat');
    assert.equal(syscallNumber('execve', 'x86_64'), 59);
    assert.equal(syscallNumber('nope', 'i386'), undefined);
  });
});

const KALLSYMS = [
  'ffffffff81000000 T _stext',
  'ffffffff81000100 t do_one',
  'ffffffff81000100 T __x64_sys_one',
  'ffffffff81000200 D some_data',
  'ffffffff81000300 W weak_fn',
  'ffffffff81000400 T _etext',
  'ffffffffc0a01000 t ext4_foo\t[ext4]',
  'ffffffffc0a02000 t do_one\t[other]',
  'garbage line',
  '',
].join('\n');

describe('kallsyms', () => {
  test('one scanner: addresses in halves, types, names, modules; bad lines skipped', () => {
    const seen: string[] = [];
    const n = scanKallsyms(KALLSYMS, (l) => {
      seen.push(`${l.hi.toString(16)}:${l.lo.toString(16)} ${String.fromCharCode(l.typeChar)} ${l.name} ${l.module}`);
    });
    assert.equal(n, 8);
    assert.equal(seen[0], 'ffffffff:81000000 T _stext ');
    assert.equal(seen[6], 'ffffffff:c0a01000 t ext4_foo [ext4]');
  });

  test('kernel functions by name: text symbols, first address wins, modules included', () => {
    withTempFile(KALLSYMS, (f) => {
      const fns = kernelFunctions(f);
      assert.ok(fns);
      assert.equal(fns.get('do_one'), 0xffffffff81000100n);
      assert.equal(fns.get('ext4_foo'), 0xffffffffc0a01000n);
      assert.ok(fns.has('__x64_sys_one'));
      assert.ok(!fns.has('some_data'), 'data is not a function');
      assert.ok(!fns.has('weak_fn'), 'weak symbols are not t/T');
    });
    // Hidden addresses (kptr_restrict) still name the functions.
    withTempFile('0000000000000000 T vfs_read\n', (f) => assert.equal(kernelFunctions(f)?.get('vfs_read'), 0n));
    withTempFile('', (f) => assert.equal(kernelFunctions(f), null));
    assert.equal(kernelFunctions('/nonexistent/kallsyms'), null);
  });

  test('unimplemented syscalls: entries that are still the weak -ENOSYS stubs of sys_ni.c', () => {
    const text = [
      'ffffffff81398ba0 W __x64_sys_init_module',
      'ffffffff81398c00 W __x64_sys_finit_module',
      'ffffffff816d86b0 T __x64_sys_openat',
      'ffffffff816d8700 W __x64_sys_kexec_load',
      'ffffffff816d8800 T __x64_sys_kexec_load',
      'ffffffff816d8900 W __ia32_sys_init_module',
      'ffffffffc0a01000 w __x64_sys_modfoo\t[foo]',
      'ffffffff81000200 W weak_fn',
      '',
    ].join('\n');
    withTempFile(text, (f) => {
      // An implementation overrides the stub (listed T); a module's symbol and compat entries are not the native entry.
      assert.deepEqual([...unimplementedSyscalls(f)!].sort(), ['finit_module', 'init_module']);
    });
    withTempFile('ffffffff816d86b0 T __arm64_sys_openat\nffffffff816d8700 W __arm64_sys_init_module\n', (f) => {
      assert.deepEqual([...unimplementedSyscalls(f)!], ['init_module']);
    });
    withTempFile('', (f) => assert.equal(unimplementedSyscalls(f), null));
    assert.equal(unimplementedSyscalls('/nonexistent/kallsyms'), null);
  });
});

describe('addresses', () => {
  test('parse and format, RFC 5952, brackets, no zones', () => {
    assert.deepEqual(parseAddress('10.1.2.3'), { family: 4, addr: Uint8Array.from([10, 1, 2, 3]) });
    assert.equal(parseAddress('[::1]')?.family, 6);
    assert.equal(parseAddress('fe80::1%eth0'), undefined);
    assert.equal(parseAddress('10.0.0'), undefined);
    const v6 = parseAddress('2001:db8:0:0:0:0:2:1');
    assert.ok(v6);
    assert.equal(formatAddress(v6.addr, 6), '2001:db8::2:1');
    assert.equal(formatAddress(parseAddress('::ffff:192.0.2.7')!.addr, 6), '::ffff:192.0.2.7');
    assert.equal(familyOf(AF_INET), 4);
    assert.equal(familyOf(AF_INET6), 6);
    assert.equal(familyOf(1), undefined);
  });

  test('parseIp gives 16 bytes, IPv4 as v4-mapped, and drops a zone', () => {
    const v4 = parseIp('192.0.2.7');
    assert.equal(v4?.version, 4);
    assert.deepEqual([...v4!.bytes.subarray(10)], [0xff, 0xff, 192, 0, 2, 7]);
    assert.equal(parseIp('::ffff:192.0.2.7')?.version, 4);
    assert.equal(parseIp('fe80::1%eth0')?.version, 6);
    assert.equal(addressFromKernel(AF_INET6, parseIp('fe80::1')!.bytes).text, 'fe80::1');
  });

  test('CIDRs: host bits cleared, prefix checked, containment by bytes', () => {
    const c = parseCidr('10.1.2.200/25');
    assert.deepEqual([...c.addr], [10, 1, 2, 128]);
    assert.ok(cidrContains(c, 4, Uint8Array.from([10, 1, 2, 255])));
    assert.ok(!cidrContains(c, 4, Uint8Array.from([10, 1, 2, 127])));
    assert.ok(!cidrContains(c, 6, new Uint8Array(16)), 'not across families');
    assert.ok(cidrContains(parseCidr('0.0.0.0/0'), 4, Uint8Array.from([8, 8, 8, 8])));
    assert.throws(() => parseCidr('10.0.0.0/33'), CidrError);
    assert.throws(() => parseCidr('nope'), RangeError, 'a CidrError is a RangeError');
    assert.equal(CidrFilter.parse('fd00::/8').version, 6);
  });

  test('the rules engine reads addresses through the same parser', () => {
    assert.deepEqual(parseRuleIp('10.0.0.1'), { v: 4, n: 0x0a000001n });
    assert.deepEqual(parseRuleIp('::1'), { v: 6, n: 1n });
    assert.equal(parseRuleIp('::ffff:1.2.3.4')?.n, 0xffff01020304n);
    assert.equal(parseRuleIp('1.2.3'), undefined);
    assert.deepEqual(parseNet('10.0.0.0/8'), { v: 4, base: 0x0a000000n, bits: 8 });
  });
});

describe('binary search', () => {
  test('the last element at or below a value', () => {
    const a = [10, 20, 20, 30];
    assert.equal(lastAtOrBelow(a, 5), -1);
    assert.equal(lastAtOrBelow(a, 10), 0);
    assert.equal(lastAtOrBelow(a, 25), 2);
    assert.equal(lastAtOrBelow(a, 99), 3);
    assert.equal(lastAtOrBelow(new Float64Array(0), 1), -1);
  });

  test('the range that holds a value, half-open, none in the gaps', () => {
    const rs = [{ start: 10n, end: 20n }, { start: 20n, end: 25n }, { start: 40n, end: 50n }];
    for (const [v, i] of [[10n, 0], [19n, 0], [20n, 1], [49n, 2]] as const) assert.equal(findRange(rs, v), rs[i]);
    for (const v of [9n, 25n, 30n, 50n]) assert.equal(findRange(rs, v), undefined);
    assert.equal(findRange([], 1n), undefined);
  });
});
