// The live pipeline's pure parts: the syscall-event record decoder and the
// argument renderings. No kernel, no rules corpus (the adapters checked
// through Falco's stable rules are in rules-live.shared.test.ts).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath } from '../src/rules/live.js';
import { ptraceRequestName, socketFamilyName, ttyNumber } from '../src/rules/live-args.js';
import { decodeSysRecord, sunPathText } from '../src/sensors/sysevents.js';
import { vigilSysEvent, VIGIL_SYS_EVENT, VIGIL_SYS_CONNECT, VIGIL_SYS_HAS_FILE, VIGIL_SYS_HAS_SOCK, VIGIL_SYS_HAS_ADDR } from '../src/generated/sysevents.js';
import { BootClock } from '../src/util/clock.js';
import { START } from './rules-live-util.js';

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
