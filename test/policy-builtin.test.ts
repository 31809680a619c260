// Every built-in policy (policies/) on the real kernel, through the engine:
// each is added live, its scenario is played by real programs, the event is
// checked (process, arguments, action, the hook that served it) and so is a
// near miss, then the policy is removed. The built-ins watch the whole host
// (that is what they are for) but only observe; the one that enforces
// (crypto-mining-ports, Deny) has its sock_addr programs in the test's own
// cgroup, and only the fixture run there is refused.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, mkdtempSync, readFileSync, rmSync, unlinkSync, existsSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { loadPolicyFiles, formatDiagnostic } from '../src/policy/loader.js';
import { compilePolicies, liveKernel } from '../src/policy/hooks.js';
import { builtinPolicyDir } from '../src/policy/builtin.js';
import { PolicyEventFormatter } from '../src/output/policy-events.js';
import type { CompiledPolicy, PolicyEvent } from '../src/policy/ir.js';
import { requireRoot, tracefs } from './helpers.js';
import { engineForSuite, pathOf, run, runToEnd, show } from './policy-engine-util.js';

requireRoot();
tracefs();

const PY = '/usr/bin/python3';

async function builtin(name: string): Promise<CompiledPolicy> {
  const r = loadPolicyFiles([path.join(builtinPolicyDir(), `${name}.yaml`)]);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  const [c] = await compilePolicies(r.policies);
  return c!;
}

const exec = runToEnd;

describe('built-in policies', () => {
  const suite = engineForSuite({ cgroup: true });
  let tmp: string;
  const json = new PolicyEventFormatter('json');

  before(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'vigil-builtin-'));
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** Adds the built-in, runs the body, removes it (also on failure). */
  async function withPolicy(name: string, body: (p: CompiledPolicy) => Promise<void>): Promise<void> {
    const p = await builtin(name);
    await suite.engine.add(p);
    suite.events.clear();
    try {
      await body(p);
    } finally {
      suite.engine.remove(p.name);
    }
  }

  function mine(policy: string, pid: number): PolicyEvent[] {
    return suite.events.ofPolicy(suite.engine, policy).filter((e) => e.pid === pid);
  }

  test('sensitive-file-reads: cat /etc/shadow is reported, /etc/hostname is not', async () => {
    await withPolicy('sensitive-file-reads', async (p) => {
      const hit = await exec('/bin/cat', ['/etc/shadow']);
      assert.equal(hit.code, 0, hit.err);
      const miss = await exec('/bin/cat', ['/etc/hostname']);
      const evs = mine(p.name, hit.pid);
      assert.ok(evs.length >= 1, show(suite.events.all.map((e) => [e.pid, e.args])));
      const e = evs[0]!;
      assert.equal(pathOf(e.args[0]), '/etc/shadow');
      assert.equal(e.action, 'KPROBE_ACTION_POST');
      assert.equal(e.hook.functionName, 'security_file_open');
      const out = JSON.parse(json.json(e)) as { process_kprobe: Record<string, unknown> };
      assert.equal(out.process_kprobe.policy_name, 'sensitive-file-reads');
      assert.equal(out.process_kprobe.message, 'Sensitive file opened');
      assert.match(String(out.process_kprobe.hook), /^(kprobe:security_file_open|fentry:security_file_open|tracepoint:syscalls\/sys_exit_open(at2?)?)$/);
      assert.deepEqual(mine(p.name, miss.pid), []);
    });
  });

  test('crypto-mining-ports: connect to 4444 is denied with EPERM in the test cgroup; 4445 is not', async () => {
    await withPolicy('crypto-mining-ports', async (p) => {
      const denied = await run(suite.s.ops, ['wait', 'connect4', '127.0.0.1', '4444'], { beforeGo: (pid) => suite.cg.add(pid) });
      assert.deepEqual(denied.lines, ['connect4 -1 1'], 'EPERM');
      const other = await run(suite.s.ops, ['wait', 'connect4', '127.0.0.1', '4445'], { beforeGo: (pid) => suite.cg.add(pid) });
      assert.deepEqual(other.lines, ['connect4 -1 111'], 'ECONNREFUSED: not denied');
      const evs = mine(p.name, denied.pid);
      assert.ok(evs.length >= 1, show(suite.events.all.map((e) => [e.pid, e.action, e.args])));
      assert.ok(evs.some((e) => e.action === 'KPROBE_ACTION_DENY'), show(evs.map((e) => e.action)));
      const sa = evs[0]!.args[1];
      assert.ok(sa?.kind === 'sockaddr' && sa.port === 4444 && sa.addr === '127.0.0.1', show(sa));
      assert.deepEqual(mine(p.name, other.pid), []);
    });
  });

  test('container-escape: setns and mount from a non-host mount namespace, pivot_root anywhere', async () => {
    await withPolicy('container-escape', async (p) => {
      // A new mount namespace (private propagation: nothing leaks to the host) that mounts a tmpfs
      // and joins the host's mount namespace back: both reported.
      // The host's mount namespace is this agent's (pid 1's when it can be read; in a sandbox, the agent's own).
      const inside = await exec('/usr/bin/unshare', ['-m', '--', '/bin/sh', '-c',
        `mount -t tmpfs vigil-test ${tmp} && umount ${tmp} && exec /usr/bin/nsenter -t ${process.pid} -m -- /bin/true`]);
      assert.equal(inside.code, 0, inside.err);
      const evs = suite.events.ofPolicy(suite.engine, p.name);
      const mounts = evs.filter((e) => e.hook.functionName === 'sys_mount' && pathOf(e.args[1]) === tmp);
      assert.equal(mounts.length, 1, show(evs.map((e) => [e.hook.functionName, e.args])));
      assert.equal(pathOf(mounts[0]!.args[2]), 'tmpfs');
      assert.ok(evs.some((e) => e.hook.functionName === 'sys_setns'), show(evs.map((e) => e.hook.functionName)));
      // The same on the host: not reported.
      suite.events.clear();
      const host = await exec('/usr/bin/nsenter', ['-t', String(process.pid), '-m', '--', '/bin/true']);
      assert.equal(host.code, 0, host.err);
      assert.deepEqual(mine(p.name, host.pid).filter((e) => e.hook.functionName === 'sys_setns'), []);
      // pivot_root (to paths that do not exist: it fails, harmlessly, after the event).
      const pr = await exec(PY, ['-c', 'import ctypes; print(ctypes.CDLL(None, use_errno=True).syscall(155, b"/vigil-no-such-new-root", b"/vigil-no-such-put-old"))']);
      assert.equal(pr.out.trim(), '-1', pr.err);
      const pivots = mine(p.name, pr.pid).filter((e) => e.hook.functionName === 'sys_pivot_root');
      assert.equal(pivots.length, 1);
      assert.equal(pathOf(pivots[0]!.args[0]), '/vigil-no-such-new-root');
    });
  });

  test('container-escape: a process that gains CAP_SYS_ADMIN is reported', async () => {
    // A copy of python with CAP_SYS_ADMIN in its file's permitted set (not effective), run as nobody:
    // it starts without CAP_SYS_ADMIN in effect and raises it with capset.
    const py = path.join(tmp, 'vigil-py');
    copyFileSync('/usr/bin/python3.11', py);
    chmodSync(tmp, 0o755);
    chmodSync(py, 0o755);
    const sc = await exec('/usr/sbin/setcap', ['cap_sys_admin+p', py]);
    assert.equal(sc.code, 0, sc.err);
    const raise = [
      'import ctypes, struct',
      'libc = ctypes.CDLL(None)',
      'hdr = struct.pack("Ii", 0x20080522, 0)',
      'd = ctypes.create_string_buffer(24)',
      'libc.capget(hdr, d)',
      'v = list(struct.unpack("6I", d.raw))',
      'v[0] |= 1 << 21',
      'print(libc.capset(hdr, struct.pack("6I", *v)))',
    ].join('\n');
    const lower = raise.replace('v[0] |= 1 << 21', 'v[0] &= ~(1 << 12)');
    await withPolicy('container-escape', async (p) => {
      const r = await exec('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', py, '-c', raise]);
      assert.equal(r.out.trim(), '0', r.err);
      const evs = mine(p.name, r.pid).filter((e) => e.hook.functionName === 'commit_creds');
      assert.equal(evs.length, 1, show(suite.events.ofPolicy(suite.engine, p.name).map((e) => [e.pid, e.hook.functionName, e.args])));
      const cred = evs[0]!.args[0];
      assert.ok(cred?.kind === 'cred' && cred.uid === 65534, show(cred));
      if (cred?.kind === 'cred' && cred.caps) assert.ok((cred.caps.effective >> 21n) & 1n, 'the new credentials hold CAP_SYS_ADMIN');
      // A capset that changes something else is not.
      const other = await exec(PY, ['-c', lower]);
      assert.equal(other.out.trim(), '0', other.err);
      assert.deepEqual(mine(p.name, other.pid).filter((e) => e.hook.functionName === 'commit_creds'), []);
    });
  });

  test('privilege-escalation: setuid(0) by nobody is reported with its EPERM; by root it is not', async () => {
    await withPolicy('privilege-escalation', async (p) => {
      const script = 'import os\ntry:\n  os.setuid(0)\n  print("ok")\nexcept PermissionError:\n  print("EPERM")';
      const nobody = await exec('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', PY, '-c', script]);
      assert.equal(nobody.out.trim(), 'EPERM', nobody.err);
      const root = await exec(PY, ['-c', script]);
      assert.equal(root.out.trim(), 'ok', root.err);
      // (setpriv's own capset calls, before it runs python, are reported too: capset is, for anyone.)
      const evs = mine(p.name, nobody.pid).filter((e) => e.hook.functionName === 'sys_setuid');
      assert.equal(evs.length, 1, show(suite.events.ofPolicy(suite.engine, p.name).map((e) => [e.pid, e.hook.functionName, e.args])));
      const e = evs[0]!;
      assert.deepEqual(e.args[0], { kind: 'int', value: 0n });
      assert.ok(e.returnValue?.kind === 'int' && e.returnValue.value === -1n, show(e.returnValue));
      assert.deepEqual(mine(p.name, root.pid).filter((x) => x.hook.functionName === 'sys_setuid'), []);
      // capset is reported for anyone.
      const cap = await exec(PY, ['-c', 'import ctypes,struct\nlibc=ctypes.CDLL(None)\nhdr=struct.pack("Ii",0x20080522,0)\nd=ctypes.create_string_buffer(24)\nlibc.capget(hdr,d)\nprint(libc.capset(hdr,d.raw))']);
      assert.equal(cap.out.trim(), '0', cap.err);
      assert.equal(mine(p.name, cap.pid).filter((x) => x.hook.functionName === 'sys_capset').length, 1);
    });
  });

  test('reverse-shell: a TCP socket dup2\'ed onto stdout and stderr is reported; a file is not', async () => {
    const server: Server = createServer((c) => c.resume());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      await withPolicy('reverse-shell', async (p) => {
        const shell = await exec('/bin/bash', ['-c', `echo hi >& /dev/tcp/127.0.0.1/${port}`]);
        assert.equal(shell.code, 0, shell.err);
        const file = await exec('/bin/bash', ['-c', `echo hi >& ${path.join(tmp, 'out.txt')}`]);
        assert.equal(file.code, 0, file.err);
        const evs = mine(p.name, shell.pid);
        assert.ok(evs.length >= 1, show(suite.events.ofPolicy(suite.engine, p.name).map((e) => [e.pid, e.args])));
        const fds = evs.map((e) => e.args[1]).map((v) => (v?.kind === 'int' ? Number(v.value) : -1)).sort();
        assert.ok(fds.includes(1) && fds.includes(2), show(fds));
        const sock = evs[0]!.args[0];
        assert.ok(sock?.kind === 'sock' && sock.daddr === '127.0.0.1' && sock.dport === port, show(sock));
        assert.deepEqual(mine(p.name, file.pid), []);
      });
    } finally {
      server.close();
    }
  });

  test('bpf-program-loads: bpftrace loading a program is reported (the agent, node, is not)', async () => {
    await withPolicy('bpf-program-loads', async (p) => {
      const bt = await exec('/usr/bin/bpftrace', ['-e', 'BEGIN { exit(); }']);
      assert.equal(bt.code, 0, bt.err);
      const evs = mine(p.name, bt.pid);
      const loads = evs.filter((e) => e.hook.functionName === 'bpf_check');
      assert.ok(loads.length >= 1, show(suite.events.ofPolicy(suite.engine, p.name).map((e) => [e.pid, e.hook.functionName])));
      assert.equal(loads[0]!.args[0]?.kind, 'bpf_attr', show(loads[0]!.args[0]));
      assert.ok(evs.some((e) => e.hook.functionName === 'security_bpf_map_create'));
      // This very process (node) loaded programs for the policy: none of its own calls were reported.
      assert.deepEqual(suite.events.ofPolicy(suite.engine, p.name).filter((e) => e.pid === process.pid), []);
    });
  });

  /** finit_module(-1, "vigil_param=1", 0) from a child: its pid, and the call's result and errno. */
  async function finitModuleAttempt(): Promise<{ pid: number; ret: number; errno: number }> {
    const r = await exec(PY, ['-c', 'import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.syscall(313, -1, b"vigil_param=1", 0), ctypes.get_errno())']);
    const [ret, errno] = r.out.trim().split(' ').map(Number);
    assert.equal(ret, -1, r.err);
    return { pid: r.pid, ret: ret!, errno: errno! };
  }

  /** The attempt is reported once, with its result and its arguments as the syscall got them. */
  function assertReported(policy: string, call: { pid: number; errno: number }): void {
    const evs = mine(policy, call.pid);
    assert.equal(evs.length, 1, show(suite.events.ofPolicy(suite.engine, policy).map((e) => [e.pid, e.hook.functionName])));
    assert.equal(evs[0]!.hook.functionName, 'sys_finit_module');
    assert.ok(evs[0]!.returnValue?.kind === 'int' && evs[0]!.returnValue.value === BigInt(-call.errno), show(evs[0]!.returnValue));
    // Read from the registers at its exit where raw_syscalls serve it (a kernel without module support).
    assert.deepEqual(evs[0]!.args[1], { kind: 'string', value: 'vigil_param=1' }, show(evs[0]!.args));
  }

  test('kernel-module-loads: finit_module is reported with its result; where the kernel cannot load modules the built-in skips the -ENOSYS stubs and says so', async () => {
    const p = await builtin('kernel-module-loads');
    const implemented = liveKernel().syscallImplemented?.('finit_module');
    if (implemented === false) {
      // No tracepoint and no implementation: the policy's ignore.callNotFound leaves both out.
      assert.equal(p.hooks.length, 0, show(p.hooks.map((h) => h.served.hook)));
      assert.deepEqual(p.skipped.map((s) => s.hook.functionName).sort(), ['sys_finit_module', 'sys_init_module']);
      for (const s of p.skipped) assert.match(s.reason, /not implemented by this kernel .*-ENOSYS stub; ignore\.callNotFound/);
    } else {
      assert.equal(p.skipped.length, 0, show(p.skipped));
      await withPolicy('kernel-module-loads', async () => {
        assertReported(p.name, await finitModuleAttempt());
      });
    }
  });

  test('kernel-module-loads without ignore.callNotFound: the attempt is reported on every kernel (raw_syscalls where the syscall is a stub)', async () => {
    const text = readFileSync(path.join(builtinPolicyDir(), 'kernel-module-loads.yaml'), 'utf8');
    const file = path.join(tmp, 'module-attempts.yaml');
    writeFileSync(file, text.replace(/^ {4}ignore:\n {6}callNotFound: true\n/gm, '').replace('name: kernel-module-loads', 'name: module-attempts'));
    const r = loadPolicyFiles([file]);
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
    const [p] = await compilePolicies(r.policies);
    assert.equal(p!.skipped.length, 0, show(p!.skipped));
    assert.equal(p!.hooks.length, 2);
    await suite.engine.add(p!);
    suite.events.clear();
    try {
      assertReported(p!.name, await finitModuleAttempt());
    } finally {
      suite.engine.remove(p!.name);
    }
  });

  test('ptrace-attach: PTRACE_ATTACH on a child is reported, PTRACE_TRACEME is not', async () => {
    await withPolicy('ptrace-attach', async (p) => {
      const script = [
        'import ctypes, os, signal, time',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'pid = os.fork()',
        'if pid == 0:',
        '  time.sleep(5); os._exit(0)',
        'r = libc.ptrace(16, pid, 0, 0)',
        'os.waitpid(pid, 0)',
        'libc.ptrace(17, pid, 0, 0)',
        'os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)',
        'print(r, pid)',
      ].join('\n');
      const r = await exec(PY, ['-c', script]);
      const [ret, child] = r.out.trim().split(' ').map(Number);
      assert.equal(ret, 0, r.err);
      const evs = mine(p.name, r.pid);
      assert.equal(evs.length, 1, show(suite.events.ofPolicy(suite.engine, p.name).map((e) => [e.pid, e.args])));
      assert.deepEqual(evs[0]!.args, [{ kind: 'int', value: 16n }, { kind: 'int', value: BigInt(child!) }]);
    });
  });

  test('fileless-exec: a memfd executed through execveat(AT_EMPTY_PATH) is reported', async () => {
    await withPolicy('fileless-exec', async (p) => {
      const script = [
        'import os',
        'fd = os.memfd_create("vigil-fileless", 0)',
        'os.write(fd, open("/bin/true", "rb").read())',
        'os.execve(fd, ["vigil-fileless"], {})',
      ].join('\n');
      const r = await exec(PY, ['-c', script]);
      assert.equal(r.code, 0, r.err);
      const evs = mine(p.name, r.pid);
      const at = evs.filter((e) => e.hook.functionName === 'sys_execveat');
      assert.equal(at.length, 1, show(suite.events.ofPolicy(suite.engine, p.name).map((e) => [e.pid, e.hook.functionName, e.args])));
      assert.ok(at[0]!.args[2]?.kind === 'int' && (at[0]!.args[2].value & 0x1000n) !== 0n);
      // A plain exec is not.
      const plain = await exec('/bin/true', []);
      assert.deepEqual(mine(p.name, plain.pid), []);
    });
  });

  test('exec-from-tmp: a binary run from /tmp is reported; /bin/true is not', async () => {
    await withPolicy('exec-from-tmp', async (p) => {
      const bin = path.join(tmp, 'vigil-true');
      copyFileSync('/bin/true', bin);
      chmodSync(bin, 0o755);
      const r = await exec(bin, []);
      assert.equal(r.code, 0, r.err);
      const plain = await exec('/bin/true', []);
      const evs = mine(p.name, r.pid);
      assert.equal(evs.length, 1, show(suite.events.ofPolicy(suite.engine, p.name).map((e) => [e.pid, e.args])));
      assert.equal(pathOf(evs[0]!.args[0]), bin);
      assert.deepEqual(mine(p.name, plain.pid), []);
    });
  });

  test('system-file-writes: a write below /etc is reported, a write below /tmp is not', async () => {
    const etc = `/etc/vigil-policy-test-${process.pid}.tmp`;
    try {
      await withPolicy('system-file-writes', async (p) => {
        const w = await exec(PY, ['-c', `open(${JSON.stringify(etc)}, "w").write("x")`]);
        assert.equal(w.code, 0, w.err);
        const t = await exec(PY, ['-c', `open(${JSON.stringify(path.join(tmp, 'w.txt'))}, "w").write("x")`]);
        assert.equal(t.code, 0, t.err);
        const evs = mine(p.name, w.pid);
        assert.ok(evs.length >= 1, show(suite.events.ofPolicy(suite.engine, p.name).map((e) => [e.pid, e.args])));
        assert.equal(pathOf(evs[0]!.args[0]), etc);
        assert.deepEqual(evs[0]!.args[1], { kind: 'int', value: 2n });
        assert.deepEqual(mine(p.name, t.pid), []);
      });
    } finally {
      if (existsSync(etc)) unlinkSync(etc);
    }
  });
});
