// Tetragon semantics of TracingPolicies in the front end, over YAML written
// here and a kernel described here (tracefs formats, features): nothing is
// loaded into the kernel except in the last tests (vigil run's warnings),
// which skip without root.
//   1. spec.options policy-mode: monitor never hands the kernel an enforcing
//      action; events report what would have been done.
//   2. TracingPolicyNamespaced, podSelector, containerSelector: loaded, match
//      nothing, said at load.
//   3. Tracepoint matchArgs.index: a format field number, as Tetragon rewrites it.
//   4. Newer schema fields: compiled, or refused with file:line:col and a reason.
//   5. Tetragon's validation rules.
//   6. vigil policy validate DIR: every file's errors, one line each.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPolicySources, formatDiagnostic } from '../src/policy/loader.js';
import { resolvePolicy, type KernelEnv, type ProbedAttach, type ProbedHelper } from '../src/policy/hooks.js';
import { parseTracepointFormat } from '../src/policy/tracefs.js';
import { planPolicy } from '../src/policy/plan.js';
import { toPolicyEvent, type PolicyRecord } from '../src/policy/events.js';
import { PolicyEventFormatter, MONITOR_TAG } from '../src/output/policy-events.js';
import type { CompiledPolicy, PolicySpec } from '../src/policy/ir.js';
import type { FeatureResult } from '../src/bpf/features.js';
import { kprobeYaml, tracepointYaml } from './policy-util.js';
import {
  VIGIL_POLICY_ACT_POST, VIGIL_POLICY_ACT_SIGKILL, VIGIL_POLICY_ACT_SIGNAL, VIGIL_POLICY_ACT_DENY,
  VIGIL_POLICY_ACT_NOTIFY_ENFORCER, VIGIL_POLICY_EVENT, type VigilPolicyEvent,
} from '../src/generated/policy.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const VIGIL = path.join(ROOT, 'bin', 'vigil');

// ---------------------------------------------------------------------------
// A kernel described here

const COMMON = `	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;
`;
const sysEnter = (fields: string): string => `format:\n${COMMON}\n	field:int __syscall_nr;	offset:8;	size:4;	signed:1;\n${fields}`;
const sysExit = `format:\n${COMMON}\n	field:int __syscall_nr;	offset:8;	size:4;	signed:1;\n	field:long ret;	offset:16;	size:8;	signed:1;\n`;
const FORMATS: Readonly<Record<string, string>> = {
  'syscalls/sys_enter_openat': sysEnter(`	field:int dfd;	offset:16;	size:8;	signed:0;
	field:const char * filename;	offset:24;	size:8;	signed:0;
	field:int flags;	offset:32;	size:8;	signed:0;
	field:umode_t mode;	offset:40;	size:8;	signed:0;
`),
  'syscalls/sys_exit_openat': sysExit,
  'syscalls/sys_enter_connect': sysEnter(`	field:int fd;	offset:16;	size:8;	signed:0;
	field:struct sockaddr * uservaddr;	offset:24;	size:8;	signed:0;
	field:int addrlen;	offset:32;	size:8;	signed:0;
`),
  'syscalls/sys_exit_connect': sysExit,
  'raw_syscalls/sys_enter': `format:\n${COMMON}\n	field:long id;	offset:8;	size:8;	signed:1;\n	field:unsigned long args[6];	offset:16;	size:48;	signed:0;\n`,
  'sched/sched_process_exec': `format:\n${COMMON}\n	field:__data_loc char[] filename;	offset:8;	size:4;	signed:0;\n	field:pid_t pid;	offset:12;	size:4;	signed:1;\n	field:pid_t old_pid;	offset:16;	size:4;	signed:1;\n`,
};

const yes = (why: string): FeatureResult => ({ status: 'available', available: true, reason: why });
const no = (why: string): FeatureResult => ({ status: 'unsupported', available: false, reason: why });

/** Tracepoints, uprobes, cgroup sock_addr and bpf_send_signal; no kprobes, fentry, LSM or override. */
function fakeKernel(): KernelEnv {
  const attach: readonly ProbedAttach[] = ['tracepoint', 'uprobe', 'cgroup_sock_addr', 'tp_btf', 'raw_tracepoint'];
  const helpers: readonly ProbedHelper[] = ['bpf_send_signal', 'bpf_get_stackid'];
  return {
    tracepoint: (c, e) => (FORMATS[`${c}/${e}`] !== undefined ? parseTracepointFormat(FORMATS[`${c}/${e}`]!) : undefined),
    syscallTracepoints: () => new Set(['openat', 'connect']),
    syscallNumber: (n) => ({ openat: 257, connect: 42, dup: 32, dup2: 33 } as Record<string, number>)[n],
    attach: (n) => Promise.resolve(attach.includes(n) ? yes(n) : no(`no ${n} in this test`)),
    helper: (n) => Promise.resolve(helpers.includes(n) ? yes(n) : no(`no ${n} in this test`)),
    kernelFunction: () => undefined,
    ftraceFunctions: () => undefined,
    rawTracepointArgs: (e) => (e === 'sched_process_exec' ? ['struct task_struct *', 'pid_t', 'struct linux_binprm *'] : undefined),
    lsmHook: () => undefined,
    elfSymbol: () => ({ offset: 0x1234 }),
    fileReadable: () => ({ ok: true }),
  };
}

// ---------------------------------------------------------------------------
// Loading

const doc = (spec: string, o: { kind?: string; name?: string; meta?: string } = {}): string =>
  `apiVersion: cilium.io/v1alpha1\nkind: ${o.kind ?? 'TracingPolicy'}\nmetadata:\n  name: ${o.name ?? 'test'}\n${o.meta ?? ''}spec:\n${spec}`;

function load(yaml: string, file = 'p.yaml') {
  const r = loadPolicySources([{ name: file, content: yaml }]);
  return { ...r, errors: r.diagnostics.map(formatDiagnostic), warns: r.warnings.map(formatDiagnostic) };
}

function one(yaml: string): { spec: PolicySpec; warns: string[] } {
  const r = load(yaml);
  assert.deepEqual(r.errors, []);
  assert.equal(r.policies.length, 1);
  return { spec: r.policies[0]!, warns: r.warns };
}

function errorsOf(yaml: string): string[] {
  const r = load(yaml);
  assert.ok(r.errors.length > 0, 'expected errors');
  return r.errors;
}

function has(lines: readonly string[], re: RegExp): void {
  assert.ok(lines.some((l) => re.test(l)), `no line matches ${String(re)}:\n${lines.join('\n')}`);
}

async function compile(spec: PolicySpec): Promise<CompiledPolicy> {
  const r = await resolvePolicy(spec, fakeKernel());
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  return r.policy!;
}

const plan = (p: CompiledPolicy) => planPolicy(p, { hostNamespace: () => 4026531836n });

/** A kprobe on openat whose one selector takes `actions` (YAML lines, 6-space indent). */
const openat = (actions: string, extra = ''): string => `${extra}${kprobeYaml('sys_openat', { syscall: true, args: [[1, 'string']] })}    selectors:
    - matchArgs:
      - index: 1
        operator: Prefix
        values: ["/etc/"]
      matchActions:
${actions}`;

const MONITOR = `  options:
  - name: policy-mode
    value: monitor
`;

// ---------------------------------------------------------------------------
// 1. policy-mode

describe('spec.options policy-mode', () => {
  test('monitor: enforcing actions leave the selector for its elided list; the rest stays', () => {
    const { spec } = one(doc(openat(`      - action: Sigkill
      - action: Signal
        argSig: 10
      - action: Post
        rateLimit: 1m
`, MONITOR)));
    assert.equal(spec.mode, 'monitor');
    const s = spec.hooks[0]!.selectors[0]!;
    assert.deepEqual(s.matchActions.map((a) => a.action), ['Post']);
    assert.deepEqual(s.elided?.map((a) => a.action), ['Sigkill', 'Signal']);
  });

  test('enforce (the default, or written) keeps the actions', () => {
    for (const extra of ['', '  options:\n  - name: policy-mode\n    value: enforce\n']) {
      const { spec } = one(doc(openat('      - action: Sigkill\n', extra)));
      assert.equal(spec.mode, undefined);
      assert.deepEqual(spec.hooks[0]!.selectors[0]!.matchActions.map((a) => a.action), ['Sigkill']);
      assert.equal(spec.hooks[0]!.selectors[0]!.elided, undefined);
    }
  });

  test('the kernel gets no enforcing action of a monitor-mode policy (plan)', async () => {
    const actions = `      - action: Sigkill
      - action: NotifyEnforcer
        argSig: 9
      - action: Signal
        argSig: 10
`;
    const enforcers = '  enforcers:\n  - calls: ["sys_openat"]\n';
    const enforced = plan(await compile(one(doc(openat(actions, enforcers))).spec));
    const kinds = (p: ReturnType<typeof plan>): number[] => p.hooks.flatMap((h) => h.selectors.flatMap((s) => s.actions.map((a) => a.kind)));
    assert.deepEqual(kinds(enforced), [VIGIL_POLICY_ACT_SIGKILL, VIGIL_POLICY_ACT_NOTIFY_ENFORCER, VIGIL_POLICY_ACT_SIGNAL]);
    const monitored = plan(await compile(one(doc(openat(actions, `${enforcers}${MONITOR}`))).spec));
    for (const k of kinds(monitored)) assert.ok(k === VIGIL_POLICY_ACT_POST, `kernel action ${k} in monitor mode`);
  });

  test('monitor: a Deny attaches no cgroup program; Override needs no override support', async () => {
    const connect = (action: string, extra = ''): string => doc(`${extra}  kprobes:
  - call: sys_connect
    syscall: true
    args:
    - index: 1
      type: sockaddr
    selectors:
    - matchArgs:
      - index: 1
        operator: DPort
        values: ["4444"]
      matchActions:
${action}`);
    const denied = plan(await compile(one(connect('      - action: Deny\n')).spec));
    assert.ok(denied.needsDeny);
    const watched = plan(await compile(one(connect('      - action: Deny\n', MONITOR)).spec));
    assert.equal(watched.needsDeny, false);
    assert.ok(watched.hooks.every((h) => h.attachments.every((a) => a.attach.kind !== 'deny')));
    assert.deepEqual(watched.hooks[0]!.selectors[0]!.actions.map((a) => a.kind), []);

    // Override on a syscall tracepoint: refused in enforce mode (nothing here can change a result) ...
    const override = '      - action: Override\n        argError: -1\n';
    const r = await resolvePolicy(one(connect(override)).spec, fakeKernel());
    assert.equal(r.policy, undefined);
    has(r.diagnostics.map(formatDiagnostic), /Override needs the kernel to let a BPF program change the hooked function's result/);
    // ... reported, not enforced, in monitor mode.
    const m = await compile(one(connect(override, MONITOR)).spec);
    assert.deepEqual(m.hooks[0]!.selectors[0]!.elided?.map((a) => a.action), ['Override']);
    assert.doesNotThrow(() => plan(m));
  });

  test('monitor: a Deny on a hook it cannot apply to is still an error', async () => {
    const r = await resolvePolicy(one(doc(openat('      - action: Deny\n', MONITOR))).spec, fakeKernel());
    assert.equal(r.policy, undefined);
    has(r.diagnostics.map(formatDiagnostic), /^p\.yaml:\d+:\d+: .*Deny \(Vigil\) refuses connect and sendmsg .* even in monitor mode/);
  });

  test('events: the action Tetragon reports, the elided actions, and the mode in tags and compact lines', async () => {
    const p = await compile(one(doc(openat('      - action: Sigkill\n', MONITOR))).spec);
    const hook = p.hooks[0]!;
    const header = {
      kind: VIGIL_POLICY_EVENT, actions: 1 << VIGIL_POLICY_ACT_POST, selector: 0, pid: 1234, tid: 1234, comm: 'cat',
      args: [], flags: 0, ret: 0n, data_len: 0,
    } as unknown as VigilPolicyEvent;
    const rec: PolicyRecord = { header, blob: new Uint8Array() };
    const bare = { ...hook, args: [] };
    const e = toPolicyEvent(rec, {
      policy: p, hook: bare, attachment: hook.served.attachments[0]!, kernelArgs: [], timeNs: 1_700_000_000_000_000_000n,
      process: undefined, parent: undefined,
    });
    assert.equal(e.action, 'KPROBE_ACTION_SIGKILL');
    assert.deepEqual(e.elided, ['KPROBE_ACTION_SIGKILL']);
    assert.equal(e.policyMode, 'monitor');
    const json = JSON.parse(new PolicyEventFormatter('json', { node: 'n', hostNamespaces: {} }).json(e)) as { process_kprobe: Record<string, unknown> };
    assert.equal(json.process_kprobe.action, 'KPROBE_ACTION_SIGKILL');
    assert.deepEqual(json.process_kprobe.tags, [MONITOR_TAG]);
    assert.match(new PolicyEventFormatter('compact', { node: 'n', hostNamespaces: {} }).compact(e), / SIGKILL \(monitor: not enforced\)$/);

    // The same record of an enforce-mode policy: the kernel's action, no mark.
    const q = await compile(one(doc(openat('      - action: Post\n'))).spec);
    const f = toPolicyEvent(rec, {
      policy: q, hook: { ...q.hooks[0]!, args: [] }, attachment: q.hooks[0]!.served.attachments[0]!, kernelArgs: [],
      timeNs: 0n, process: undefined, parent: undefined,
    });
    assert.equal(f.action, 'KPROBE_ACTION_POST');
    assert.equal(f.elided, undefined);
    assert.equal(f.policyMode, undefined);
  });

  test('option values are checked as Tetragon does; unknown options are said, not silently dropped', () => {
    has(errorsOf(doc(openat('      - action: Post\n', '  options:\n  - name: policy-mode\n    value: Monitor\n'))),
      /^p\.yaml:8:12: spec\.options\[0\]\.value: invalid mode "Monitor": policy-mode takes "enforce" or "monitor"/);
    has(errorsOf(doc(openat('      - action: Post\n', '  options:\n  - name: disable-kprobe-multi\n    value: "yes"\n'))),
      /spec\.options\[0\]\.value: "yes" is not a boolean/);
    has(errorsOf(doc(openat('      - action: Post\n', '  options:\n  - name: override-method\n    value: fast\n'))),
      /spec\.options\[0\]\.value: invalid override method "fast"/);
    const { warns } = one(doc(openat('      - action: Post\n', '  options:\n  - name: policy-mod\n    value: monitor\n')));
    has(warns, /^p\.yaml:7:5: spec\.options\[0\]\.name: unknown option "policy-mod" is ignored, as Tetragon ignores it/);
  });
});

// ---------------------------------------------------------------------------
// 2. Pods

describe('policies scoped to pods match nothing, and say so', () => {
  const namespaced = doc(openat('      - action: Sigkill\n'), { kind: 'TracingPolicyNamespaced', meta: '  namespace: team-a\n' });

  test('TracingPolicyNamespaced: loaded, a warning naming the file and the namespace, no hook attached', async () => {
    const { spec, warns } = one(namespaced);
    assert.equal(spec.namespace, 'team-a');
    assert.match(spec.dormant?.reason ?? '', /namespace "team-a"/);
    has(warns, /^p\.yaml:5:14: metadata\.namespace: policy "test" is loaded but matches nothing until pod metadata is available: a TracingPolicyNamespaced applies only to processes of pods in namespace "team-a"/);
    const c = await compile(spec);
    assert.equal(c.hooks.length, 0);
    assert.equal(c.dormantHooks?.length, 1);
    assert.equal(plan(c).hooks.length, 0);
  });

  test('a TracingPolicyNamespaced without a namespace is in "default" (kubectl\'s); it has no hostSelector, not even {}', () => {
    const { spec, warns } = one(doc(openat('      - action: Post\n'), { kind: 'TracingPolicyNamespaced' }));
    assert.equal(spec.namespace, 'default');
    has(warns, /^p\.yaml:3:1: metadata: a TracingPolicyNamespaced without metadata\.namespace is taken to be in namespace "default"/);
    has(errorsOf(doc(openat('      - action: Post\n', '  hostSelector: {}\n'), { kind: 'TracingPolicyNamespaced', meta: '  namespace: a\n' })),
      /^p\.yaml:7:3: spec\.hostSelector: TracingPolicyNamespaced should have a null spec\.hostSelector/);
    one(doc(openat('      - action: Post\n', '  hostSelector: ~\n'), { kind: 'TracingPolicyNamespaced', meta: '  namespace: a\n' }));
    has(errorsOf(doc(openat('      - action: Post\n'), { meta: '  namespace: a\n' })), /metadata\.namespace: a TracingPolicy is cluster-wide/);
  });

  test('podSelector and containerSelector: loaded, match nothing; label selectors are checked', async () => {
    for (const [sel, what] of [['podSelector', 'pods'], ['containerSelector', 'containers']] as const) {
      const { spec, warns } = one(doc(openat('      - action: Post\n', `  ${sel}:\n    matchLabels:\n      app: web\n`)));
      has(warns, new RegExp(`^p\\.yaml:6:3: spec\\.${sel}: policy "test" is loaded but matches nothing .*spec\\.${sel} selects ${what} \\(app=web\\)`));
      assert.equal((await compile(spec)).hooks.length, 0);
    }
    const e = errorsOf(doc(openat('      - action: Post\n', `  podSelector:
    matchExpressions:
    - key: app
      operator: In
    - key: tier
      operator: Exists
      values: [a]
    - key: "-bad"
      operator: DoesNotExist
`)));
    has(e, /spec\.podSelector\.matchExpressions\[0\]: In needs at least one value/);
    has(e, /spec\.podSelector\.matchExpressions\[1\]\.values: Exists takes no values/);
    has(e, /spec\.podSelector\.matchExpressions\[2\]\.key: label key "-bad"/);
    has(errorsOf(doc(openat('      - action: Post\n', '  podSelector:\n    matchLabels:\n      app: "not ok"\n'))),
      /spec\.podSelector\.matchLabels\.app: "not ok" must be a label value/);
  });

  test('vigil policy validate prints the warning and loads the policy', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-ns-'));
    try {
      writeFileSync(path.join(dir, 'ns.yaml'), namespaced);
      const r = spawnSync(process.execPath, [VIGIL, 'policy', 'validate', '--no-kernel', path.join(dir, 'ns.yaml')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^warning: .*ns\.yaml:5:14: metadata\.namespace: policy "test" is loaded but matches nothing until pod metadata is available: .*namespace "team-a"/m);
      assert.match(r.stdout, /^test: loaded, matches nothing until pod metadata is available/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('vigil run --policy prints the warning (startPolicies), and attaches nothing for it', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-ns-'));
    const { startPolicies } = await import('../src/policy/index.js');
    const seen: string[] = [];
    try {
      writeFileSync(path.join(dir, 'ns.yaml'), namespaced);
      let running: Awaited<ReturnType<typeof startPolicies>> | undefined;
      try {
        running = await startPolicies({ paths: [dir], onWarning: (d) => seen.push(formatDiagnostic(d)), onEvent: () => undefined });
      } catch {
        // The engine may not start on this kernel; the warning comes before it does.
      }
      if (running) {
        try {
          assert.deepEqual(running.names, []);
        } finally {
          await running.close();
        }
      }
      has(seen, /ns\.yaml:5:14: metadata\.namespace: policy "test" is loaded but matches nothing until pod metadata is available/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------
// 3. Tracepoint indexes

describe('tracepoint matchArgs.index is a format field number (Tetragon)', () => {
  const tp = (args: string, index: number): string => doc(`  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
${args}    selectors:
    - matchArgs:
      - index: ${index}
        operator: Equal
        values: ["1"]
`);
  const arg = (i: number, type = 'int'): string => `    - index: ${i}\n      type: ${type}\n`;

  test('the field an entry of args reads, whatever its position in args', () => {
    const { spec, warns } = one(tp(arg(6, 'string') + arg(7), 7));
    assert.equal(spec.hooks[0]!.selectors[0]!.matchArgs[0]!.argPos, 1);
    assert.deepEqual(warns, []);
  });

  test('an index no entry reads is a position in args, as in Tetragon, with a warning', () => {
    const { spec, warns } = one(tp(arg(7), 0));
    assert.equal(spec.hooks[0]!.selectors[0]!.matchArgs[0]!.argPos, 0);
    has(warns, /^p\.yaml:14:16: spec\.tracepoints\[0\]\.selectors\[0\]\.matchArgs\[0\]\.index: no entry of args reads format field 0 \(args read fields 7\); as Tetragon does, index 0 is taken as a position in args: args\[0\], field 7/);
  });

  test('Tetragon rewrites indexes in args order, so field 7 after an entry reading field 0 ends at that entry', () => {
    const { spec, warns } = one(tp(arg(7) + arg(0), 7));
    assert.equal(spec.hooks[0]!.selectors[0]!.matchArgs[0]!.argPos, 1);
    has(warns, /format field 7 is args\[0\], but Tetragon rewrites the index again because args\[1\] reads field 0/);
  });

  test('neither a field of args nor a position: an error', () => {
    has(errorsOf(tp(arg(7), 4)), /^p\.yaml:14:16: spec\.tracepoints\[0\]\.selectors\[0\]\.matchArgs\[0\]\.index: index 4 is a field number of the tracepoint's format: no entry of args reads field 4/);
  });

  test('args[].index counts the common fields: 6 is the filename of sys_enter_openat', async () => {
    const c = await compile(one(tp(arg(6, 'string') + arg(7), 7)).spec);
    const a = c.hooks[0]!.served.attachments[0]!;
    assert.equal(a.kind, 'tracepoint');
    if (a.kind !== 'tracepoint') return;
    const loc = a.args.map((s) => (s.loc.at === 'tp-field' ? s.loc.field.name : s.loc.at));
    assert.deepEqual(loc, ['filename', 'flags']);
  });

  test('raw tracepoints: the same rewrite over TP_PROTO argument numbers', () => {
    const { spec } = one(doc(`${tracepointYaml('sched', 'sched_process_exec', [[2, 'linux_binprm'], [1, 'int']], { raw: true })}    selectors:
    - matchArgs:
      - index: 1
        operator: Equal
        values: ["1"]
`));
    assert.equal(spec.hooks[0]!.selectors[0]!.matchArgs[0]!.argPos, 1);
  });
});

// ---------------------------------------------------------------------------
// 4. Schema fields of Tetragon's main branch

describe('schema: each field compiled or refused with its position', () => {
  test('btfType without resolve is ignored (a warning); source belongs to data; data entries need what they read', () => {
    const e = load(doc(`${kprobeYaml('sys_openat', { syscall: true, args: [[1, 'string', { btfType: 'filename', source: 'current_task' }]] })}    data:
    - source: current_task
      index: 0
      type: int
    - source: pt_regs
      index: 0
      type: int
      resolve: ax
`));
    has(e.warns, /^p\.yaml:12:7: spec\.kprobes\[0\]\.args\[0\]\.btfType: btfType casts the argument for resolve; without resolve .* ignored/);
    has(e.errors, /^p\.yaml:13:7: spec\.kprobes\[0\]\.args\[0\]\.source: source "current_task" applies to data entries/);
    has(e.errors, /^p\.yaml:15:7: spec\.kprobes\[0\]\.data\[0\]\.resolve: a data entry from current_task needs resolve/);
    has(e.errors, /^p\.yaml:18:7: spec\.kprobes\[0\]\.data\[1\]\.source: source pt_regs .* is not supported by Vigil/);
    // On a tracepoint (Tetragon's events carry data for kprobes and uprobes only).
    has(errorsOf(doc(`  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    data:
    - source: current_task
      type: int
      resolve: pid
`)), /^p\.yaml:9:5: spec\.tracepoints\[0\]\.data: unknown field "data"/);
  });

  test('uprobes: return and returnArg compile to a uretprobe; ignore is said', async () => {
    const { spec, warns } = one(doc(`  uprobes:
  - path: /bin/bash
    symbols: [readline]
    return: true
    returnArg:
      index: 0
      type: string
    ignore:
      digestVerificationFailure: true
`));
    has(warns, /spec\.uprobes\[0\]\.ignore\.digestVerificationFailure: ignore\.digestVerificationFailure has no effect without binaryDigests/);
    const c = await compile(spec);
    const a = c.hooks[0]!.served.attachments[0]!;
    assert.ok(a.kind === 'uprobe' && a.withReturn && a.ret?.loc.at === 'ret');
    const pa = plan(c).hooks[0]!.attachments[0]!;
    assert.ok(pa.attach.kind === 'uprobe' && pa.attach.withReturn);
  });

  test('uprobes: addrs and btfPath are refused; binaryDigests values are checked', () => {
    const e = errorsOf(doc(`  uprobes:
  - path: /bin/bash
    addrs: [0x1000]
    binaryDigests: ["sha256:00"]
    btfPath: /tmp/bash.btf
`));
    has(e, /^p\.yaml:8:5: spec\.uprobes\[0\]\.addrs: addrs .* are not supported by Vigil/);
    has(e, /^p\.yaml:9:21: spec\.uprobes\[0\]\.binaryDigests\[0\]: "sha256:00": a sha256 digest is 64 hex digits/);
    has(e, /^p\.yaml:10:5: spec\.uprobes\[0\]\.btfPath: btfPath .* is not supported by Vigil/);
  });

  test('matchParentBinaries, FileType/NotFileType, SubString/SubStringIgnCase, matchCEL: refused', () => {
    const e = errorsOf(doc(`${kprobeYaml('sys_openat', { syscall: true, args: [[1, 'string']] })}    selectors:
    - matchParentBinaries:
      - operator: In
        values: ["/bin/sh"]
      matchArgs:
      - index: 1
        operator: FileType
        values: ["reg"]
      - index: 1
        operator: SubStringIgnCase
        values: ["shadow"]
      matchCEL:
        expr: "arg7 > 1"
`));
    has(e, /^p\.yaml:14:9: spec\.kprobes\[0\]\.selectors\[0\]\.matchParentBinaries\[0\]: matchParentBinaries .* is not supported/);
    has(e, /^p\.yaml:18:19: spec\.kprobes\[0\]\.selectors\[0\]\.matchArgs\[0\]\.operator: FileType \(the type of the file .*\) is not supported by Vigil's engine/);
    has(e, /matchArgs\[1\]\.operator: SubStringIgnCase .* is not supported by Vigil's engine/);
    // matchCEL is checked against the hook's args and data (arg0 is the only argument here).
    has(e, /^p\.yaml:24:15: spec\.kprobes\[0\]\.selectors\[0\]\.matchCEL\.expr: matchCEL "arg7 > 1": Unknown variable: arg7/);
  });

  test('InRange/NotInRange take "min:max" ranges', () => {
    const { spec } = one(doc(openat('      - action: Post\n').replace('operator: Prefix\n        values: ["/etc/"]', 'operator: Prefix\n        values: ["/etc/"]').replace(`    - index: 1
      type: string
    selectors:`, `    - index: 1
      type: string
    - index: 2
      type: int
    selectors:`).replace(`      matchActions:`, `      - index: 2
        operator: NotInRange
        values: ["0:0x40", "100:200"]
      matchActions:`)));
    assert.deepEqual(spec.hooks[0]!.selectors[0]!.matchArgs[1]!.values, { kind: 'range', values: [{ lo: 0n, hi: 64n }, { lo: 100n, hi: 200n }] });
    has(errorsOf(doc(openat('      - action: Post\n').replace('operator: Prefix\n        values: ["/etc/"]', 'operator: InRange\n        values: ["5"]').replace('type: string', 'type: int'))),
      /matchArgs\[0\]\.values\[0\]: "5" is not a range "min:max" \(InRange takes ranges only\)/);
  });

  test('sockaddr_un: the caller\'s sockaddr on a syscall, reported as sockaddrun_arg', async () => {
    const c = await compile(one(doc(kprobeYaml('sys_connect', { syscall: true, args: [[1, 'sockaddr_un', { sizeArgIndex: 3 }]] }))).spec);
    const a = c.hooks[0]!.served.attachments[0]!;
    assert.ok(a.kind === 'syscall' && a.args[0]!.conv === 'user-sockaddr');
    const { tetragonArg } = await import('../src/output/policy-events.js');
    assert.deepEqual(tetragonArg(c.hooks[0]!.args[0]!, { kind: 'sockaddr', family: 1, addr: '/run/x.sock', port: 0 }),
      { sockaddrun_arg: { family: 'AF_UNIX', path: '/run/x.sock' } });
  });

  test('resolve: ignored on non-raw tracepoints (as Tetragon), a malformed path refused where it would mean something', () => {
    const { warns } = one(doc(tracepointYaml('syscalls', 'sys_enter_openat', [[6, 'string', { resolve: 'name' }]])));
    has(warns, /^p\.yaml:12:7: spec\.tracepoints\[0\]\.args\[0\]\.resolve: resolve is ignored on tracepoints that are not raw/);
    has(errorsOf(doc(`  lsmhooks:
  - hook: bprm_check_security
    args:
    - index: 0
      type: string
      resolve: mm.owner..comm
`)), /^p\.yaml:11:16: spec\.lsmhooks\[0\]\.args\[0\]\.resolve: resolve "mm\.owner\.\.comm": empty member name/);
  });

  test('selectorsMacros: the macro\'s filters are added to the selector, errors point into the macro', () => {
    const macros = `  selectorsMacros:
    notShells:
      matchBinaries:
      - operator: NotIn
        values: ["/bin/sh", "/bin/bash"]
    kill:
      matchActions:
      - action: Sigkill
`;
    const { spec } = one(doc(`${macros}${openat('      - action: Post\n').replace('    - matchArgs:', '    - macros: [notShells]\n      matchArgs:')}`));
    const s = spec.hooks[0]!.selectors[0]!;
    assert.deepEqual(s.matchBinaries.map((b) => [b.operator, b.values]), [['NotIn', ['/bin/sh', '/bin/bash']]]);
    assert.equal(s.matchBinaries[0]!.pos.line, 9);
    const e = errorsOf(doc(`${macros}${openat('      - action: Post\n').replace('    - matchArgs:', '    - macros: [kill, nope]\n      matchArgs:')}`));
    has(e, /spec\.selectorsMacros\.kill\.matchActions: matchActions is given by the selector and again by spec\.selectorsMacros\.kill/);
    has(e, /spec\.kprobes\[0\]\.selectors\[0\]\.macros\[1\]: undefined macro "nope"/);
    has(errorsOf(doc(`  selectorsMacros:
    a:
      macros: [b]
${openat('      - action: Post\n')}`)), /spec\.selectorsMacros\.a\.macros: a macro definition cannot use other macros/);
  });

  test('keys as Tetragon\'s decoder reads them: case-insensitive, except for required fields and defaulted ones', () => {
    const { spec, warns } = one(doc(`  kprobes:
  - call: sys_openat
    syscall: true
    Args:
    - index: 1
      type: string
      maxdata: true
`));
    assert.equal(spec.hooks[0]!.args.length, 1);
    assert.equal(spec.hooks[0]!.args[0]!.maxData, true);
    has(warns, /^p\.yaml:9:5: spec\.kprobes\[0\]\.args: "Args" is read as "args" \(Tetragon's decoder matches keys case-insensitively\)/);
    has(warns, /spec\.kprobes\[0\]\.args\[0\]\.maxData: "maxdata" is read as "maxData"/);
    // A required field spelled otherwise does not pass Tetragon's schema check.
    has(errorsOf(doc('  kprobes:\n  - Call: sys_openat\n    syscall: true\n')),
      /spec\.kprobes\[0\]\.call: required field "call" is missing: "Call" does not count/);
    // A defaulted field spelled otherwise loses to the default Tetragon applies first.
    has(errorsOf(doc('  kprobes:\n  - call: fd_install\n    Syscall: false\n')),
      /^p\.yaml:8:5: spec\.kprobes\[0\]\.syscall: "Syscall" is ignored by Tetragon: the CRD default of "syscall" \(true\)/);
    // Both spellings: one field given twice.
    has(errorsOf(doc('  kprobes:\n  - call: sys_openat\n    syscall: true\n    args: []\n    ARGS: []\n')),
      /^p\.yaml:10:5: spec\.kprobes\[0\]\.args: "ARGS" and "args" \(9:5\) are the same field/);
  });
});

// ---------------------------------------------------------------------------
// 5. Validation

describe('validation agrees with Tetragon', () => {
  test('return: true without returnArg (kprobes, uprobes)', () => {
    has(errorsOf(doc('  kprobes:\n  - call: sys_openat\n    syscall: true\n    return: true\n')),
      /^p\.yaml:9:5: spec\.kprobes\[0\]\.return: return: true needs returnArg, .*ReturnArg not specified with Return=true/);
    has(errorsOf(doc('  uprobes:\n  - path: /bin/bash\n    symbols: [readline]\n    return: true\n')),
      /spec\.uprobes\[0\]\.return: return: true needs returnArg/);
  });

  test('uprobe symbols with offsets (or addrs)', () => {
    has(errorsOf(doc('  uprobes:\n  - path: /bin/bash\n    symbols: [readline]\n    offsets: [4096]\n')),
      /^p\.yaml:7:5: spec\.uprobes\[0\]: a uprobe takes at most one of symbols, addrs or offsets/);
  });

  test('limits Vigil lifts but Tetragon\'s CRD has (one matchBinaries, 4 matchPIDs values) are said', () => {
    const { spec, warns } = one(doc(openat('      - action: Post\n').replace('    - matchArgs:', `    - matchBinaries:
      - operator: In
        values: ["/bin/a"]
      - operator: In
        values: ["/bin/b"]
      matchPIDs:
      - operator: In
        values: [1, 2, 3, 4, 5]
      matchArgs:`)));
    assert.equal(spec.hooks[0]!.selectors[0]!.matchBinaries.length, 2);
    assert.equal(spec.hooks[0]!.selectors[0]!.matchPIDs[0]!.values.length, 5);
    has(warns, /spec\.kprobes\[0\]\.selectors\[0\]\.matchBinaries: 2 matchBinaries entries: Vigil ANDs them, but Tetragon's CRD allows one per selector/);
    has(warns, /matchPIDs\[0\]\.values: 5 values: Vigil matches them all, but Tetragon's CRD allows at most 4/);
    has(errorsOf(doc(openat('      - action: Post\n').replace('    - matchArgs:', '    - matchPIDs:\n      - operator: In\n        values: [-1]\n      matchArgs:'))),
      /matchPIDs\[0\]\.values\[0\]: must be >= 0, found -1/);
  });

  test('messages and tags: Tetragon\'s lengths', () => {
    has(errorsOf(doc('  kprobes:\n  - call: sys_openat\n    syscall: true\n    message: "x"\n    tags: ["a"]\n')),
      /spec\.kprobes\[0\]\.message: a message needs at least 2 characters/);
    has(errorsOf(doc('  kprobes:\n  - call: sys_openat\n    syscall: true\n    tags: ["a"]\n')),
      /spec\.kprobes\[0\]\.tags\[0\]: tag "a" is too short/);
    const { spec, warns } = one(doc(`  kprobes:\n  - call: sys_openat\n    syscall: true\n    message: "${'m'.repeat(300)}"\n`));
    assert.equal(spec.hooks[0]!.message!.length, 256);
    has(warns, /the message is 300 bytes; it is cut to 256, as Tetragon does/);
  });

  test('tracepoint names, nodeSelector, state, UpdateState', () => {
    has(errorsOf(doc('  tracepoints:\n  - subsystem: "syscalls/evil"\n    event: sys_enter_openat\n')),
      /spec\.tracepoints\[0\]\.subsystem: "syscalls\/evil" must be a tracefs name/);
    has(errorsOf(doc(openat('      - action: Post\n', '  nodeSelector:\n    matchLabels:\n      gpu: "true"\n'))),
      /^p\.yaml:6:3: spec\.nodeSelector: nodeSelector loads the policy only on Kubernetes nodes/);
    has(errorsOf(doc(openat('      - action: UpdateState\n        stateName: s\n', '  state:\n  - name: s\n'))),
      /spec\.state: state objects .* are not supported/);
  });

  test('syscall defaults to true in Tetragon: a kernel function without syscall: false is said', () => {
    const { warns } = one(doc('  kprobes:\n  - call: fd_install\n    args:\n    - index: 0\n      type: int\n'));
    has(warns, /^p\.yaml:7:5: spec\.kprobes\[0\]: syscall is not given, and Tetragon's CRD defaults it to true/);
  });
});

// ---------------------------------------------------------------------------
// 6. vigil policy validate DIR

describe('vigil policy validate DIR reports every file', () => {
  const files: Record<string, string> = {
    'a.yaml': doc('  kprobes:\n  - call: sys_openat\n    syscall: true\n    argz: []\n', { name: 'a' }),
    'b.yaml': doc('  kprobes:\n  - call: sys_openat\n    syscall: true\n    return: true\n', { name: 'b' }),
    'c.yaml': 'apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: c\nspec: {}\n',
    'd.yaml': doc('  kprobes:\n  - call: sys_openat\n    syscall: true\n', { name: 'd' }),
    'sub/e.yaml': doc('  tracepoints:\n  - subsystem: sched\n    evnt: sched_process_exec\n', { name: 'e' }),
  };

  function validate(args: string[]): { status: number | null; out: string } {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-validate-'));
    try {
      for (const [f, c] of Object.entries(files)) {
        const p = path.join(dir, f);
        spawnSync('mkdir', ['-p', path.dirname(p)]);
        writeFileSync(p, c);
      }
      const r = spawnSync(process.execPath, [VIGIL, 'policy', 'validate', ...args, dir], { encoding: 'utf8' });
      return { status: r.status, out: (r.stdout + r.stderr).replaceAll(dir + path.sep, '') };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test('schema errors of all files, one line each, file:line:col, no stack trace', () => {
    const { status, out } = validate(['--no-kernel']);
    assert.equal(status, 1, out);
    const lines = out.split('\n').filter(Boolean);
    has(lines, /^a\.yaml:9:5: spec\.kprobes\[0\]\.argz: unknown field "argz"/);
    has(lines, /^b\.yaml:9:5: spec\.kprobes\[0\]\.return: return: true needs returnArg/);
    has(lines, /^c\.yaml:\d+:\d+: YAML: /);
    has(lines, /^sub\/e\.yaml:8:5: spec\.tracepoints\[0\]\.evnt: unknown field "evnt" \(did you mean "event"\?\)/);
    has(lines, /^d: ok/);
    has(lines, /^sub\/e\.yaml:7:5: spec\.tracepoints\[0\]\.event: required field "event" is missing/);
    has(lines, /^FAILED: 5 errors$/);
    assert.ok(!/^\s+at /m.test(out), out);
  });

  test('and the kernel\'s verdict on the files that loaded', { skip: process.getuid?.() !== 0 ? 'needs root (tracefs)' : false }, () => {
    files['f.yaml'] = doc('  kprobes:\n  - call: sys_no_such_call\n    syscall: true\n', { name: 'f' });
    try {
      const { status, out } = validate([]);
      assert.equal(status, 1, out);
      const lines = out.split('\n').filter(Boolean);
      has(lines, /^a\.yaml:9:5: /);
      has(lines, /^f\.yaml:7:5: spec\.kprobes\[0\]\.call: no syscall "no_such_call" here/);
      has(lines, /^FAILED: 6 errors$/);
      assert.ok(!/^\s+at /m.test(out), out);
    } finally {
      delete files['f.yaml'];
    }
  });
});
