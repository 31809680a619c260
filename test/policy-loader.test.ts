// TracingPolicy loading: the CRD schema with positions (unknown fields, wrong
// types, bad enums), meaning checks (operators against argument types, CIDRs,
// ports, list references, argument indexes), several policies and documents
// together, list expansion. Pure: no kernel.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicySources, normaliseSyscallName, parseInteger, parseRateLimit, formatDiagnostic } from '../src/policy/loader.js';
import { parseTracepointFormat } from '../src/policy/tracefs.js';
import type { PolicySpec } from '../src/policy/ir.js';

function load(yaml: string | string[], name = 'p.yaml') {
  const list = Array.isArray(yaml) ? yaml : [yaml];
  return loadPolicySources(list.map((content, i) => ({ name: list.length > 1 ? `p${i}.yaml` : name, content })));
}

function errors(yaml: string | string[]): string[] {
  return load(yaml).diagnostics.map(formatDiagnostic);
}

function one(yaml: string): PolicySpec {
  const r = load(yaml);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  assert.equal(r.policies.length, 1);
  return r.policies[0]!;
}

const head = (name = 'test') => `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: ${name}
spec:
`;

describe('schema errors name file:line:column, the field and the reason', () => {
  test('unknown field, with a suggestion', () => {
    const e = errors(`${head()}  kprobes:
  - call: sys_openat
    syscall: true
    argz:
    - index: 0
      type: int
`);
    assert.equal(e.length, 1);
    assert.match(e[0]!, /^p\.yaml:9:5: spec\.kprobes\[0\]\.argz: unknown field "argz" \(did you mean "args"\?\)/);
  });

  test('unknown top-level and spec fields', () => {
    const e = errors(`apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: x
spek: {}
`);
    assert.ok(e.some((x) => /^p\.yaml:5:1: spek: unknown field "spek" \(did you mean "spec"\?\)/.test(x)), e.join('\n'));
    assert.ok(e.some((x) => /^p\.yaml:1:1: spec: required field "spec" is missing/.test(x)), e.join('\n'));
  });

  test('wrong type', () => {
    const e = errors(`${head()}  kprobes:
  - call: sys_openat
    syscall: "yes"
    args:
    - index: first
      type: int
`);
    assert.ok(e.some((x) => /^p\.yaml:8:14: spec\.kprobes\[0\]\.syscall: expected a boolean \(true or false\), found the string "yes"/.test(x)), e.join('\n'));
    assert.ok(e.some((x) => /^p\.yaml:10:14: spec\.kprobes\[0\]\.args\[0\]\.index: expected an integer, found the string "first"/.test(x)), e.join('\n'));
  });

  test('bad operator (enum), with a suggestion', () => {
    const e = errors(`${head()}  kprobes:
  - call: sys_openat
    syscall: true
    args:
    - index: 1
      type: string
    selectors:
    - matchArgs:
      - index: 1
        operator: Prefx
        values: ["/etc/"]
`);
    assert.equal(e.length, 1);
    assert.match(e[0]!, /^p\.yaml:15:19: spec\.kprobes\[0\]\.selectors\[0\]\.matchArgs\[0\]\.operator: "Prefx" is not allowed \(did you mean "Prefix"\?\); expected one of Equal, /);
  });

  test('bad argument type', () => {
    const e = errors(`${head()}  kprobes:
  - call: sys_openat
    args:
    - index: 1
      type: strnig
`);
    assert.match(e[0]!, /^p\.yaml:10:13: spec\.kprobes\[0\]\.args\[0\]\.type: "strnig" is not allowed \(did you mean "string"\?\)/);
  });

  test('bad CIDR and bad port, at the value', () => {
    const e = errors(`${head()}  kprobes:
  - call: tcp_connect
    syscall: false
    args:
    - index: 0
      type: sock
    selectors:
    - matchArgs:
      - index: 0
        operator: DAddr
        values:
        - 10.0.0.0/8
        - 10.300.0.0/16
      - index: 0
        operator: DPort
        values: ["70000"]
`);
    assert.ok(e.some((x) => /^p\.yaml:18:11: spec\.kprobes\[0\]\.selectors\[0\]\.matchArgs\[0\]\.values\[1\]: "10\.300\.0\.0\/16" is not an IPv4 or IPv6 address or CIDR/.test(x)), e.join('\n'));
    assert.ok(e.some((x) => /^p\.yaml:21:18: spec\.kprobes\[0\]\.selectors\[0\]\.matchArgs\[1\]\.values\[0\]: "70000" is not a port/.test(x)), e.join('\n'));
  });

  test('operator that does not fit the argument type', () => {
    const e = errors(`${head()}  kprobes:
  - call: sys_openat
    syscall: true
    args:
    - index: 2
      type: int
    selectors:
    - matchArgs:
      - index: 2
        operator: Prefix
        values: ["/etc"]
`);
    assert.match(e[0]!, /matchArgs\[0\]\.operator: Prefix applies to strings and paths, not to arguments of type int/);
  });

  test('matchArgs index that no argument has', () => {
    const e = errors(`${head()}  kprobes:
  - call: sys_openat
    syscall: true
    args:
    - index: 1
      type: string
    selectors:
    - matchArgs:
      - index: 2
        operator: Equal
        values: ["/etc/passwd"]
`);
    assert.match(e[0]!, /^p\.yaml:14:16: spec\.kprobes\[0\]\.selectors\[0\]\.matchArgs\[0\]\.index: no argument with index 2 in args \(args have index 1\)/);
  });

  test('missing required field, action field checks, rate limits', () => {
    assert.match(errors(`${head()}  kprobes:
  - syscall: true
`)[0]!, /^p\.yaml:7:5: spec\.kprobes\[0\]\.call: required field "call" is missing/);
    // Meaning is checked once the shape is right.
    const e = errors(`${head()}  kprobes:
  - call: sys_kill
    syscall: true
    selectors:
    - matchActions:
      - action: Signal
      - action: Post
        rateLimit: "2 weeks"
`);
    assert.ok(e.some((x) => /spec\.kprobes\[0\]\.selectors\[0\]\.matchActions\[0\]: Signal needs argSig/.test(x)), e.join('\n'));
    assert.ok(e.some((x) => /matchActions\[1\]\.rateLimit: "2 weeks" is not a period/.test(x)), e.join('\n'));
  });

  test('apiVersion and kind', () => {
    const e = errors(`apiVersion: cilium.io/v1
kind: TracingPolicies
metadata:
  name: Bad_Name
spec: {}
`);
    assert.ok(e.some((x) => /^p\.yaml:1:13: apiVersion: "cilium\.io\/v1" is not allowed.*expected one of cilium\.io\/v1alpha1/.test(x)), e.join('\n'));
    assert.ok(e.some((x) => /^p\.yaml:2:7: kind: "TracingPolicies" is not allowed \(did you mean "TracingPolicy"\?\)/.test(x)), e.join('\n'));
    assert.ok(e.some((x) => /^p\.yaml:4:9: metadata\.name: "Bad_Name" must be a DNS subdomain/.test(x)), e.join('\n'));
  });

  test('YAML syntax errors have positions', () => {
    const e = errors(`${head()}  kprobes:
  - call: "sys_openat
`);
    assert.match(e[0]!, /^p\.yaml:\d+:\d+: YAML: /);
  });

  test('features Vigil does not have are errors, not silently ignored', () => {
    const e = errors(`${head()}  kprobes:
  - call: sys_openat
    syscall: true
    selectors:
    - matchActions:
      - action: FollowFD
        argFd: 0
        argName: 1
      - action: UntrackSock
        argSock: 0
`);
    assert.ok(e.some((x) => /matchActions\[0\]\.action: FollowFD is deprecated/.test(x)), e.join('\n'));
    assert.ok(e.some((x) => /matchActions\[1\]\.action: UntrackSock: socket tracking \(Tetragon's map from a struct sock .*\) is not supported by Vigil's engine/.test(x)), e.join('\n'));
  });
});

describe('meaning', () => {
  test('values are parsed: integers, CIDRs, port ranges, capabilities, namespaces', () => {
    const p = one(`${head()}  kprobes:
  - call: tcp_connect
    syscall: false
    args:
    - index: 0
      type: sock
    selectors:
    - matchArgs:
      - index: 0
        operator: NotDAddr
        values: ["127.0.0.1", "10.0.0.0/8", "fd00::/8"]
      - index: 0
        operator: DPort
        values: ["80", "8000:8080"]
      - index: 0
        operator: Family
        values: ["AF_INET", "10"]
      matchCapabilities:
      - type: Effective
        operator: In
        values: ["CAP_SYS_ADMIN", "net_raw"]
      matchNamespaces:
      - namespace: Mnt
        operator: NotIn
        values: ["host_ns", "4026531840"]
      matchPIDs:
      - operator: NotIn
        followForks: true
        values: [1]
      matchActions:
      - action: Post
        rateLimit: 1m
        rateLimitScope: process
        kernelStackTrace: true
`);
    const s = p.hooks[0]!.selectors[0]!;
    const [addr, port, fam] = s.matchArgs;
    assert.equal(addr!.operator, 'NotDAddr');
    assert.equal(addr!.negated, true);
    assert.equal(addr!.values.kind, 'cidr');
    if (addr!.values.kind === 'cidr') {
      assert.deepEqual(addr!.values.values.map((c) => [c.family, c.prefixlen]), [[4, 32], [4, 8], [6, 8]]);
    }
    assert.deepEqual(port!.values, { kind: 'range', values: [{ lo: 80n, hi: 80n }, { lo: 8000n, hi: 8080n }] });
    assert.deepEqual(fam!.values, { kind: 'int', values: [2n, 10n] });
    assert.deepEqual(s.matchCapabilities[0]!.values, [21, 13]);
    assert.equal(s.matchCapabilities[0]!.mask, (1n << 21n) | (1n << 13n));
    assert.equal(s.matchNamespaces[0]!.hostNs, true);
    assert.deepEqual(s.matchNamespaces[0]!.values, [4026531840n]);
    assert.deepEqual(s.matchPIDs[0]!.values, [1]);
    const post = s.matchActions[0]!;
    assert.equal(post.action, 'Post');
    if (post.action === 'Post') {
      assert.equal(post.rateLimitMs, 60_000);
      assert.equal(post.rateLimitScope, 'process');
      assert.equal(post.kernelStackTrace, true);
    }
  });

  test('sizeArgIndex is 1-based in YAML and 0-based in the IR; matchArgs index names args[].index', () => {
    const p = one(`${head()}  kprobes:
  - call: sys_write
    syscall: true
    args:
    - index: 1
      type: char_buf
      sizeArgIndex: 3
    - index: 0
      type: fd
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["/tmp/"]
`);
    const h = p.hooks[0]!;
    assert.equal(h.args[0]!.sizeArgIndex, 2);
    assert.equal(h.selectors[0]!.matchArgs[0]!.argPos, 1);
    assert.deepEqual(h.target, { kind: 'syscall', name: 'write', written: 'sys_write' });
  });

  test('tracepoint matchArgs index is the position in args (Tetragon)', () => {
    const p = one(`${head()}  tracepoints:
  - subsystem: raw_syscalls
    event: sys_enter
    args:
    - index: 4
      type: syscall64
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["sys_dup", "59"]
`);
    const f = p.hooks[0]!.selectors[0]!.matchArgs[0]!;
    assert.equal(f.argPos, 0);
    assert.deepEqual(f.values, { kind: 'int', values: [32n, 59n] });
  });

  test('syscall names normalise', () => {
    for (const w of ['sys_openat', '__x64_sys_openat', '__arm64_sys_openat', '__se_sys_openat', 'ksys_openat', 'openat']) {
      assert.deepEqual(normaliseSyscallName(w), { name: 'openat', abi: 'native' }, w);
    }
    assert.deepEqual(normaliseSyscallName('__ia32_sys_dup'), { name: 'dup', abi: 'ia32' });
    assert.deepEqual(normaliseSyscallName('__ia32_compat_sys_dup'), { name: 'dup', abi: 'ia32' });
  });

  test('integers as Go reads them; rate limits', () => {
    assert.equal(parseInteger('0x4206'), 0x4206n);
    assert.equal(parseInteger('-1'), -1n);
    assert.equal(parseInteger('010'), 8n);
    assert.equal(parseInteger('0b101'), 5n);
    assert.equal(parseInteger('1e3'), undefined);
    assert.equal(parseRateLimit('30'), 30_000);
    assert.equal(parseRateLimit('2h'), 7_200_000);
    assert.equal(parseRateLimit('1d'), undefined);
  });
});

describe('lists', () => {
  test('a syscalls list expands into one hook per syscall; InMap takes it as numbers', () => {
    const p = one(`${head()}  lists:
  - name: dups
    type: syscalls
    values: ["sys_dup", "__x64_sys_dup2", "dup3"]
  kprobes:
  - call: "list:dups"
    selectors:
    - matchBinaries:
      - operator: In
        values: ["/usr/bin/bash"]
  tracepoints:
  - subsystem: raw_syscalls
    event: sys_enter
    args:
    - index: 4
      type: uint64
    selectors:
    - matchArgs:
      - index: 0
        operator: InMap
        values: ["list:dups", "100:102"]
`);
    const sys = p.hooks.filter((h) => h.kind === 'syscall');
    assert.deepEqual(sys.map((h) => h.target.kind === 'syscall' && h.target.name), ['dup', 'dup2', 'dup3']);
    assert.ok(sys.every((h) => h.fromList === 'dups' && h.selectors[0]!.matchBinaries[0]!.values[0] === '/usr/bin/bash'));
    const tp = p.hooks.find((h) => h.kind === 'tracepoint')!;
    assert.deepEqual(tp.selectors[0]!.matchArgs[0]!.values, {
      kind: 'range', values: [{ lo: 32n, hi: 32n }, { lo: 33n, hi: 33n }, { lo: 292n, hi: 292n }, { lo: 100n, hi: 102n }],
    });
  });

  test('generated lists stay one spec (the resolver expands them); unknown lists are errors', () => {
    const p = one(`${head()}  lists:
  - name: all
    type: generated_syscalls
  kprobes:
  - call: "list:all"
`);
    assert.equal(p.hooks.length, 1);
    assert.equal(p.hooks[0]!.fromList, 'all');
    const e = errors(`${head()}  lists:
  - name: dups
    values: ["sys_dup"]
  kprobes:
  - call: "list:dup"
`);
    assert.match(e[0]!, /^p\.yaml:10:11: spec\.kprobes\[0\]\.call: no list "dup" in spec\.lists \(did you mean "dups"\?\)/);
  });
});

describe('several policies, several documents', () => {
  test('multi-document files and several files load together', () => {
    const a = `${head('a')}  kprobes:
  - call: sys_openat
    syscall: true
---
${head('b')}  tracepoints:
  - subsystem: sched
    event: sched_process_exec
`;
    const c = `apiVersion: cilium.io/v1alpha1
kind: TracingPolicyNamespaced
metadata:
  name: c
  namespace: team-a
spec:
  kprobes:
  - call: sys_setuid
    syscall: true
`;
    const r = load([a, c]);
    assert.deepEqual(r.diagnostics, []);
    assert.deepEqual(r.policies.map((p) => [p.name, p.namespace, p.file]), [['a', undefined, 'p0.yaml'], ['b', undefined, 'p0.yaml'], ['c', 'team-a', 'p1.yaml']]);
  });

  test('duplicate names are an error naming the first definition; errors say which document', () => {
    const a = `${head('a')}  kprobes:
  - call: sys_openat
    syscall: true
`;
    const r = load([a, `${a}---\n${head('z')}  kprobes:\n  - call: sys_openat\n    syscal: true\n`]);
    const e = r.diagnostics.map(formatDiagnostic);
    assert.ok(e.some((x) => /^p1\.yaml:4:9: metadata\.name: document 1: policy "a" is already defined at p0\.yaml:4:9/.test(x)), e.join('\n'));
    assert.ok(e.some((x) => /^p1\.yaml:\d+:5: spec\.kprobes\[0\]\.syscal: document 2: unknown field "syscal"/.test(x)), e.join('\n'));
  });

  test('things Tetragon ignores are warnings', () => {
    const r = load(`${head()}  kprobes:
  - call: sys_openat
    syscall: true
    returnArg:
      index: 0
      type: int
    selectors:
    - matchActions:
      - action: Sigkill
        argError: -1
`);
    assert.equal(r.ok, true);
    assert.deepEqual(r.warnings.map((w) => w.path), ['spec.kprobes[0].returnArg', 'spec.kprobes[0].selectors[0].matchActions[0].argError']);
  });
});

test('tracepoint format files parse, common fields included', () => {
  const f = parseTracepointFormat(`name: inet_sock_set_state
ID: 2287
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:__data_loc char[] name;\toffset:20;\tsize:4;\tsigned:0;

print fmt: "..."
`);
  assert.deepEqual(f.map((x) => x.name), ['common_type', 'common_flags', 'common_preempt_count', 'common_pid', 'skaddr', 'oldstate', 'saddr', 'name']);
  assert.deepEqual(f[4], { name: 'skaddr', cType: 'const void *', offset: 8, size: 8, signed: false, dataLoc: false, arrayLen: undefined, pointer: true });
  assert.equal(f[5]!.signed, true);
  assert.equal(f[6]!.arrayLen, 4);
  assert.equal(f[7]!.dataLoc, true);
  assert.equal(f[7]!.pointer, false);
});
