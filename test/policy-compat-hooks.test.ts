// Tetragon policy features beyond the engine's first cut, each over real
// syscalls of the fixture test/fixtures/compatops.c (copied to a scratch
// directory; every policy is scoped to that copy):
//   1. kernel functions served by portable equivalents: set_fs_pwd (chdir,
//      fchdir, setns into a mount namespace: the canonical cwd), tty_ioctl and
//      the TIOCLINUX selection functions (ioctl(2) on a tty), tty_write (write(2)
//      on a tty),
//      security_capset (capset(2): the sets read from the caller),
//      userns_install (setns(2) into a user namespace), create_user_ns's
//      return value (unshare, clone, clone3);
//   2. uprobes: a string returned (char *) read from the process and filtered
//      with matchReturnArgs; binaryDigests (sha256 / build id);
//      loader: true (process_loader events for exec and dlopen, with build ids);
//   3. resolution rules: resolvePathInContainer, binaryDigests values,
//      create_user_ns's return with capability filters (judged at the entry).
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, mkdirSync, symlinkSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import YAML from 'yaml';
import { loadPolicySources, formatDiagnostic } from '../src/policy/loader.js';
import { compilePolicies, liveKernel, resolvePolicy, type KernelEnv } from '../src/policy/hooks.js';
import { compatReport, engineCheck, formatCompatReport } from '../src/policy/compat.js';
import type { CompiledPolicy, PolicySpec } from '../src/policy/ir.js';
import type { FeatureResult } from '../src/bpf/features.js';
import { repoPath } from '../src/util/paths.js';
import { ElfFile, FdSource } from '../src/kernel/elf.js';
import { PolicyEventFormatter } from '../src/output/policy-events.js';
import { requireRoot, tracefs } from './helpers.js';
import { engineForSuite, run, show } from './policy-engine-util.js';
import { policyHelpers, withoutNativeHooks, kprobeYaml } from './policy-util.js';

const live = liveKernel();
const noNative = withoutNativeHooks(live);
const FIXTURE = repoPath('test', '.output', 'compatops');

const { load, spec, resolved, failure } = policyHelpers('compat-test', noNative);

describe('portable equivalents of set_fs_pwd, security_capset, userns_install, create_user_ns: resolution', () => {
  test('set_fs_pwd: the exits of chdir, fchdir and setns(CLONE_NEWNS), path = the task\'s cwd', async () => {
    const p = await resolved(kprobeYaml('set_fs_pwd', { syscall: false, args: [[1, 'path']] }));
    const h = p.hooks[0]!;
    assert.equal(h.served.hook, 'portable:cwd-change');
    const atts = h.served.attachments.map((a) => (a.kind === 'syscall' ? `${a.syscall}:${a.emit}` : a.kind));
    assert.deepEqual(atts, ['chdir:exit', 'fchdir:exit', 'setns:exit']);
    const a = h.served.attachments[0]!;
    assert.ok(a.kind === 'syscall');
    assert.deepEqual(a.args, [{ loc: { at: 'current-cwd' }, conv: 'none' }]);
    assert.match(h.served.note!, /task->fs->pwd/);
  });

  test('set_fs_pwd: the fs_struct is not available', async () => {
    assert.match(await failure(kprobeYaml('set_fs_pwd', { syscall: false, args: ['uint64'] })), /argument 0 of set_fs_pwd \(struct fs_struct \*fs\) is not available from its portable equivalent \(cwd-change\)/);
  });

  test('security_capset: capset(2) entry; the sets read from the caller\'s data, old = the caller\'s credentials', async () => {
    const p = await resolved(kprobeYaml('security_capset', { syscall: false, args: [[0, 'nop'], [1, 'cred'], [2, 'cap_effective'], [4, 'cap_permitted']] }));
    const a = p.hooks[0]!.served.attachments[0]!;
    assert.ok(a.kind === 'syscall' && a.syscall === 'capset' && a.emit === 'enter');
    assert.deepEqual(a.args.map((x) => [x.loc.at, x.conv]), [['none', 'none'], ['current-cred', 'none'], ['syscall-arg', 'user-caps'], ['syscall-arg', 'user-caps']]);
    assert.match(await failure(kprobeYaml('security_capset', { syscall: false, args: ['cred'] })), /argument 0 of security_capset \(struct cred \*new\) is not available/);
  });

  test('userns_install: setns(CLONE_NEWUSER), its return value at the exit', async () => {
    const p = await resolved(kprobeYaml('userns_install', { syscall: false, ret: true, returnArg: 'int' }));
    const a = p.hooks[0]!.served.attachments[0]!;
    assert.ok(a.kind === 'syscall' && a.syscall === 'setns' && a.emit === 'exit');
    assert.deepEqual(a.ret, { loc: { at: 'syscall-err' }, conv: 'none' });
  });

  test('create_user_ns: the return value is the syscall\'s; capability filters are then judged at the syscall\'s entry', async () => {
    const p = await resolved(kprobeYaml('create_user_ns', { syscall: false, ret: true, args: ['nop'], returnArg: 'int' }));
    assert.deepEqual(p.hooks[0]!.served.attachments.map((a) => a.kind === 'syscall' && `${a.syscall}:${a.emit}`), ['unshare:exit', 'clone:exit', 'clone3:exit']);
    const withCaps = (selectors: string): string => `${kprobeYaml('create_user_ns', { syscall: false, ret: true, returnArg: 'int' })}    selectors:
${selectors}`;
    const one = await resolved(withCaps(`    - matchCapabilities:
      - type: Effective
        operator: NotIn
        values: [CAP_SYS_ADMIN]
`));
    assert.ok(one.hooks[0]!.served.attachments.every((a) => a.kind === 'syscall' && a.credsAtEntry === true));
    assert.deepEqual(engineCheck(one), []);
    // With several selectors the entry's verdict would not say which one passed: refused, saying so.
    const two = await resolved(withCaps(`    - matchCapabilities:
      - type: Effective
        operator: NotIn
        values: [CAP_SYS_ADMIN]
      matchActions:
      - action: Sigkill
    - matchBinaries:
      - operator: In
        values: [/usr/bin/unshare]
`));
    assert.match(engineCheck(two).map(formatDiagnostic).join('\n'), /capability and namespace filters are judged at the syscall's entry here .* only for a hook with one selector/);
    // Without the return value the event is judged at the entry, with the caller's credentials.
    await resolved(`  kprobes:
  - call: create_user_ns
    syscall: false
    selectors:
    - matchCapabilities:
      - type: Effective
        operator: NotIn
        values: [CAP_SYS_ADMIN]
`);
  });
});

describe('uprobes: resolvePathInContainer and binaryDigests, as Tetragon checks them', () => {
  const rpic = (extra = '', selector = '  podSelector:\n    matchLabels:\n      app: sshd\n'): string => `${selector}  uprobes:
  - path: /only/in/the/container
    symbols: [pam_authenticate]
    resolvePathInContainer: true
${extra}`;

  test('with a podSelector: loaded, matches nothing, the path is not looked for on the host', async () => {
    const r = await resolvePolicy(spec(rpic()), noNative);
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
    assert.equal(r.policy!.hooks.length, 0);
    const h = r.policy!.dormantHooks![0]!;
    assert.equal(h.served.hook, 'uprobe:/only/in/the/container:pam_authenticate');
  });

  test('without a podSelector, with a hostSelector, with other uprobes, or ignoring digest failures: refused', () => {
    assert.match(load(rpic('', '')).errors.join('\n'), /resolvePathInContainer: resolvePathInContainer needs spec\.podSelector/);
    assert.match(load(rpic('', '  podSelector: {}\n  hostSelector: {}\n')).errors.join('\n'), /cannot be used with spec\.hostSelector/);
    assert.match(load(rpic('  - path: /bin/true\n    symbols: [main]\n')).errors.join('\n'), /may have only one uprobe/);
    assert.match(load(rpic(`    binaryDigests: ["sha256:${'0'.repeat(64)}"]\n    ignore:\n      digestVerificationFailure: true\n`)).errors.join('\n'),
      /ignore\.digestVerificationFailure: ignore\.digestVerificationFailure cannot be used with resolvePathInContainer/);
  });

  test('binaryDigests values: sha256 (64 hex digits) or build-id (hex)', () => {
    const e = load(`  uprobes:
  - path: /bin/true
    symbols: [main]
    binaryDigests: ["", "not-a-digest", "md5:abc", "sha256:", "sha256:abc123", "sha256:${'z'.repeat(64)}", "build-id:abc"]
`).errors;
    assert.equal(e.length, 7, e.join('\n'));
    assert.match(e[2]!, /"md5" is not a digest algorithm/);
    assert.match(e[4]!, /a sha256 digest is 64 hex digits/);
    assert.match(e[6]!, /a build id is a non-empty even number of hex digits/);
    assert.deepEqual(load(`  uprobes:
  - path: /bin/true
    symbols: [main]
    binaryDigests: ["sha256:${'AB'.repeat(32)}", "build-id:${'ab'.repeat(20)}"]
`).errors, []);
  });
});

describe('policies scoped to pods: a TracingPolicyNamespaced without a namespace', () => {
  test('is taken to be in namespace "default" (kubectl\'s), said in a warning, and matches nothing', () => {
    const r = load(`  kprobes:
  - call: sys_lseek
    syscall: true
`, 'kind: TracingPolicyNamespaced\nmetadata:\n  name: ns-less\n');
    assert.deepEqual(r.errors, []);
    assert.equal(r.specs[0]!.namespace, 'default');
    assert.match(r.specs[0]!.dormant!.reason, /namespace "default"/);
    assert.ok(r.warnings.some((w) => /^p\.yaml:3:1: metadata: a TracingPolicyNamespaced without metadata\.namespace is taken to be in namespace "default".*Tetragon's own file and gRPC loaders would apply it to the whole host/.test(w)), r.warnings.join('\n'));
  });
});

describe('on the real kernel (portable hooks forced)', () => {
  requireRoot();
  tracefs();
  const suite = engineForSuite();
  const forced = liveKernel({ forcePortable: true });
  let ops = '';
  before(() => {
    ops = path.join(suite.s.dir, 'compatops');
    copyFileSync(FIXTURE, ops);
    chmodSync(ops, 0o755);
  });
  const mine = (): unknown[] => [{ operator: 'In', values: [ops] }];

  let seq = 0;
  async function compileForced(spec: Record<string, unknown>, env: KernelEnv = forced): Promise<CompiledPolicy> {
    const name = `compat-${process.pid}-${++seq}`;
    const content = YAML.stringify({ apiVersion: 'cilium.io/v1alpha1', kind: 'TracingPolicy', metadata: { name }, spec });
    const r = loadPolicySources([{ name: `${name}.yaml`, content }]);
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
    const [c] = await compilePolicies(r.policies, env);
    return c!;
  }

  async function events(p: CompiledPolicy, args: string[]): Promise<{ r: Awaited<ReturnType<typeof run>>; ev: typeof suite.events.all }> {
    suite.events.clear();
    await suite.engine.add(p);
    try {
      const r = await run(ops, args);
      return { r, ev: suite.events.ofPolicy(suite.engine, p.name).filter((e) => e.pid === r.pid) };
    } finally {
      suite.engine.remove(p.name);
    }
  }

  test('compat: a policy scoped to pods is checked by the engine and loaded into the kernel, not just resolved', async () => {
    const dir = path.join(suite.s.dir, 'compat');
    mkdirSync(dir);
    const ns = 'apiVersion: cilium.io/v1alpha1\nkind: TracingPolicyNamespaced\nmetadata:\n  name: NAME\nspec:\n';
    writeFileSync(path.join(dir, 'good.yaml'), `${ns.replace('NAME', 'good')}  kprobes:\n  - call: sys_lseek\n    syscall: true\n`);
    // Capability filters in two selectors of a hook judged at an exit that changes credentials: the
    // engine refuses it, pods or not.
    writeFileSync(path.join(dir, 'bad.yaml'), `${ns.replace('NAME', 'bad')}  kprobes:
  - call: create_user_ns
    syscall: false
    return: true
    returnArg:
      index: 0
      type: int
    selectors:
    - matchCapabilities:
      - type: Effective
        operator: NotIn
        values: [CAP_SYS_ADMIN]
    - matchCapabilities:
      - type: Effective
        operator: In
        values: [CAP_SYS_ADMIN]
`);
    const report = await compatReport([dir], forced, { engine: suite.engine });
    const lines = formatCompatReport(report, dir);
    assert.match(lines.find((l) => l.includes('good.yaml'))!, /^loaded {4}good\.yaml \(1 hook: tracepoint:syscalls\/sys_enter_lseek\); matches nothing until pod metadata is available$/);
    assert.match(lines.find((l) => l.includes('bad.yaml'))!, /^rejected {2}bad\.yaml:.*the engine cannot program it: .*judged at the syscall's entry here/);
  });

  test('set_fs_pwd: the directory reached (through a symlink), for chdir and fchdir; failed chdirs are not seen', async () => {
    const target = path.join(suite.s.dir, 'real-dir');
    const link = path.join(suite.s.dir, 'link-dir');
    mkdirSync(target);
    symlinkSync(target, link);
    const p = await compileForced({ kprobes: [{ call: 'set_fs_pwd', syscall: false, args: [{ index: 1, type: 'path' }], selectors: [{ matchBinaries: mine() }] }] });
    const { r, ev } = await events(p, ['chdir', link, 'fchdir', suite.s.dir, 'chdir', path.join(suite.s.dir, 'missing')]);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(ev.map((e) => [e.attachment.kind === 'syscall' && e.attachment.syscall, e.args]), [
      ['chdir', [{ kind: 'file', path: target, flags: 0, mode: 0 }]],
      ['fchdir', [{ kind: 'file', path: suite.s.dir, flags: 0, mode: 0 }]],
    ]);
  });

  test('set_fs_pwd with Sigkill (cve-2024-21626-runc): the process is killed before it runs on', async () => {
    const leak = path.join(suite.s.dir, 'leaked');
    mkdirSync(leak);
    const p = await compileForced({ kprobes: [{ call: 'set_fs_pwd', syscall: false, args: [{ index: 1, type: 'path' }],
      selectors: [{ matchBinaries: mine(), matchArgs: [{ index: 1, operator: 'Prefix', values: [leak] }], matchActions: [{ action: 'Sigkill' }] }] }] });
    const { r, ev } = await events(p, ['chdir', suite.s.dir, 'chdir', leak, 'chdir', '/']);
    assert.equal(r.signal, 'SIGKILL', show(r));
    assert.deepEqual(r.lines, ['chdir 0 0'], 'the chdir into the leaked directory never returned');
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.action, 'KPROBE_ACTION_SIGKILL');
  });

  test('security_capset: the effective set as it will be, both words; a version 1 header gives the low word only', async () => {
    const p = await compileForced({ kprobes: [{ call: 'security_capset', syscall: false,
      args: [{ index: 0, type: 'nop' }, { index: 1, type: 'cred' }, { index: 2, type: 'cap_effective' }, { index: 4, type: 'cap_permitted' }],
      selectors: [{ matchBinaries: mine(), matchArgs: [{ index: 2, operator: 'NotEqual', values: ['0'] }] }] }] });
    const status = readFileSync('/proc/self/status', 'utf8');
    const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)![1]}`);
    const capPrm = BigInt(`0x${/^CapPrm:\s*([0-9a-f]+)/m.exec(status)![1]}`);
    const { r, ev } = await events(p, ['capset-drop', '21', 'capset-v1', 'ff']);
    assert.equal(r.code, 0, show(r));
    assert.equal(ev.length, 2, show(ev.map((e) => e.args)));
    const [drop, v1] = ev;
    assert.deepEqual(drop!.args[2], { kind: 'caps', set: 'cap_effective', mask: capEff & ~(1n << 21n) });
    assert.deepEqual(drop!.args[3], { kind: 'caps', set: 'cap_permitted', mask: capPrm });
    const old = drop!.args[1]!;
    assert.ok(old.kind === 'cred' && old.caps?.effective === capEff, 'old: the credentials before the call');
    assert.ok(capEff >> 32n !== 0n, 'the test runs with capabilities above 31 (root)');
    assert.deepEqual(v1!.args[2], { kind: 'caps', set: 'cap_effective', mask: 0xffn }, 'version 1: the second word is not read');
  });

  test('userns_install: setns into a user namespace, with setns\'s result', async () => {
    const p = await compileForced({ kprobes: [{ call: 'userns_install', syscall: false, return: true, returnArg: { index: 0, type: 'int' },
      selectors: [{ matchBinaries: mine() }] }] });
    const { r, ev } = await events(p, ['setns-user']);
    assert.deepEqual(r.lines, ['setns-user 0 0'], show(r));
    assert.equal(ev.length, 1, show(ev));
    assert.deepEqual(ev[0]!.returnValue, { kind: 'int', value: 0n });
  });

  test('create_user_ns with its return value and matchCapabilities (process-creds-change-user-namespace): the caller\'s capabilities, not the new namespace\'s', async () => {
    const p = await compileForced({ kprobes: [{ call: 'create_user_ns', syscall: false, return: true, args: [{ index: 0, type: 'nop' }],
      returnArg: { index: 0, type: 'int' },
      selectors: [{ matchBinaries: mine(), matchCapabilities: [{ type: 'Effective', operator: 'NotIn', isNamespaceCapability: false, values: ['CAP_SYS_ADMIN'] }] }] }] });
    const privileged = await events(p, ['unshare-user']);
    assert.deepEqual(privileged.r.lines, ['unshare-user 0 0'], show(privileged.r));
    assert.equal(privileged.ev.length, 0, 'the caller had CAP_SYS_ADMIN');
    const { r, ev } = await events(p, ['capset-drop', '21', 'unshare-user']);
    assert.deepEqual(r.lines, ['capset-drop 0 0', 'unshare-user 0 0'], show(r));
    assert.equal(ev.length, 1, 'judged with the caller\'s capabilities (without CAP_SYS_ADMIN), not the new namespace\'s full set');
    assert.deepEqual(ev[0]!.returnValue, { kind: 'int', value: 0n });
  });

  test('create_user_ns with its return value: unshare(CLONE_NEWUSER)\'s result', async () => {
    const p = await compileForced({ kprobes: [{ call: 'create_user_ns', syscall: false, return: true, args: [{ index: 0, type: 'nop' }],
      returnArg: { index: 0, type: 'int' }, selectors: [{ matchBinaries: mine() }] }] });
    const { r, ev } = await events(p, ['unshare-user']);
    assert.deepEqual(r.lines, ['unshare-user 0 0'], show(r));
    assert.equal(ev.length, 1, show(ev));
    assert.equal(ev[0]!.attachment.kind === 'syscall' && ev[0]!.attachment.syscall, 'unshare');
    assert.deepEqual(ev[0]!.returnValue, { kind: 'int', value: 0n });
  });

  test('tty_ioctl: ioctl(2) on a tty (its file, cmd), not on other files; TIOCLINUX subcodes serve the selection functions', async () => {
    const p = await compileForced({ kprobes: [
      { call: 'tty_ioctl', syscall: false, args: [{ index: 0, type: 'file' }, { index: 1, type: 'uint32' }],
        selectors: [{ matchBinaries: mine(), matchArgs: [{ index: 1, operator: 'Equal', values: ['0x5412'] }] }] },
      { call: 'paste_selection', syscall: false, selectors: [{ matchBinaries: mine() }] },
      { call: 'sel_loadlut', syscall: false, selectors: [{ matchBinaries: mine() }] },
    ] });
    assert.deepEqual(p.hooks.map((h) => h.served.hook), ['portable:tty-ioctl', 'portable:tioclinux-pastesel', 'portable:tioclinux-selloadlut']);
    const { r, ev } = await events(p, ['fileioctl', '5412', '65', 'ttyioctl', '5412', '65', 'ttyioctl', '541c', '3', 'ttyioctl', '541c', '7', 'ttyioctl', '5412', '5']);
    assert.equal(r.code, 0, show(r));
    const seen = ev.map((e) => [e.hook.functionName, ...e.args.map((a) => (a.kind === 'file' ? a.path.replace(/\d+$/, 'N') : a.kind === 'int' ? a.value : a.kind))]);
    assert.deepEqual(seen, [
      ['tty_ioctl', '/dev/pts/N', 0x5412n],
      ['paste_selection'],
      ['tty_ioctl', '/dev/pts/N', 0x5412n],
    ], show(seen));
  });

  test('tty_write: write(2) on a tty, its file and the bytes written; writes to other files are not seen', async () => {
    const p = await compileForced({ kprobes: [{ call: 'tty_write', syscall: false,
      args: [{ index: 0, type: 'kiocb' }, { index: 1, type: 'iov_iter', maxData: true }], selectors: [{ matchBinaries: mine() }] }] });
    assert.equal(p.hooks[0]!.served.hook, 'portable:tty-write');
    const { r, ev } = await events(p, ['filewrite', path.join(suite.s.dir, 'plain.txt'), 'not-a-tty', 'ttywrite', 'hello tty']);
    assert.deepEqual(r.lines, ['filewrite 9 0', 'ttywrite 9 0'], show(r));
    assert.equal(ev.length, 1, show(ev.map((e) => e.args)));
    const [file, data] = ev[0]!.args;
    assert.ok(file!.kind === 'file' && /^\/dev\/pts\/\d+$/.test(file!.path), show(file));
    assert.ok(data!.kind === 'bytes' && Buffer.from(data!.value).toString() === 'hello tty', show(data));
  });

  test('loader: the executable and a dlopen()ed library, with their build ids (process_loader)', async () => {
    const lib = repoPath('test', '.output', 'libvigiltarget.so');
    const content = YAML.stringify({ apiVersion: 'cilium.io/v1alpha1', kind: 'TracingPolicy', metadata: { name: `loader-${process.pid}` }, spec: { loader: true } });
    const r0 = loadPolicySources([{ name: 'loader.yaml', content }]);
    assert.deepEqual(r0.diagnostics.map(formatDiagnostic), []);
    const [p] = await compilePolicies(r0.policies, live);
    assert.equal(p!.hooks[0]!.served.hook, 'portable:loader');
    const { r, ev } = await events(p!, ['dlopen', lib]);
    assert.deepEqual(r.lines, ['dlopen 0 0'], show(r));
    const idOf = (f: string): string | undefined => {
      const src = FdSource.open(f);
      try {
        return ElfFile.parse(src, f).buildId;
      } finally {
        src.close();
      }
    };
    const seen = ev.map((e) => [e.kind, e.loaded?.path, e.loaded?.buildId ? Buffer.from(e.loaded.buildId).toString('hex') : undefined]);
    assert.deepEqual(seen.filter((x) => x[1] === ops), [['loader', ops, idOf(ops)]], show(seen));
    const libs = seen.filter((x) => x[1] === lib);
    assert.ok(libs.length >= 1, `the library's executable segment: ${show(seen)}`);
    assert.deepEqual(libs[0], ['loader', lib, idOf(lib)]);
    assert.ok(idOf(lib), 'the fixture library has a build id');
    const json = JSON.parse(new PolicyEventFormatter('json').json(ev.find((e) => e.loaded?.path === lib)!)) as { process_loader: { path: string; buildid: string } };
    assert.equal(json.process_loader.path, lib);
    assert.equal(Buffer.from(json.process_loader.buildid, 'base64').toString('hex'), idOf(lib));
  });

  test('uprobe returning a string: read from the process, filtered with matchReturnArgs Prefix', async () => {
    const p = await compileForced({ uprobes: [{ path: ops, symbols: ['vigil_compat_name'], return: true, returnArg: { index: 0, type: 'string' },
      args: [{ index: 0, type: 'int' }], selectors: [{ matchReturnArgs: [{ index: 0, operator: 'Prefix', values: ['sudo'] }] }] }] });
    const { r, ev } = await events(p, ['name', '1', 'name', '2', 'name', '3']);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(ev.map((e) => [e.args, e.returnValue]), [
      [[{ kind: 'int', value: 1n }], { kind: 'string', value: 'sudo -i 1' }],
      [[{ kind: 'int', value: 3n }], { kind: 'string', value: 'sudo -i 3' }],
    ]);
  });

  test('binaryDigests: hooked when the sha256 or the build id matches; otherwise an error, or skipped with ignore', async () => {
    const sha = createHash('sha256').update(readFileSync(ops)).digest('hex');
    const src = FdSource.open(ops);
    const buildId = ElfFile.parse(src, ops).buildId;
    src.close();
    const uprobe = (digests: string[], ignore?: boolean): Record<string, unknown> => ({ uprobes: [{ path: ops, symbols: ['vigil_compat_name'],
      binaryDigests: digests, ...(ignore ? { ignore: { digestVerificationFailure: true } } : {}) }] });
    for (const d of [`sha256:${sha}`, ...(buildId ? [`build-id:${buildId}`] : [])]) {
      const { ev } = await events(await compileForced(uprobe([`sha256:${'1'.repeat(64)}`, d])), ['name', '5']);
      assert.equal(ev.length, 1, `${d}: ${show(ev)}`);
    }
    const wrong = `sha256:${'2'.repeat(64)}`;
    await assert.rejects(compileForced(uprobe([wrong])), new RegExp(`binaryDigests: .* matches none of binaryDigests \\(its sha256 is ${sha}`));
    const skipped = await resolvePolicy(spec(`  uprobes:
  - path: ${ops}
    symbols: [vigil_compat_name]
    binaryDigests: ["${wrong}"]
    ignore:
      digestVerificationFailure: true
  - path: ${ops}
    symbols: [vigil_compat_name]
`), forced);
    assert.deepEqual(skipped.diagnostics, []);
    assert.equal(skipped.policy!.hooks.length, 1, 'the other uprobe is still hooked');
    assert.match(skipped.policy!.skipped[0]!.reason, /matches none of binaryDigests.*not hooked \(ignore\.digestVerificationFailure\)/);
  });
});
