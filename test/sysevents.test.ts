// The syscall-event sensor on the real kernel: what each record says about
// the call and the descriptor behind it, caused by real syscalls of this
// process or of children the test starts (scoped by the in-kernel filters).
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { SysEventSensor, type SysEvent } from '../src/sensors/sysevents.js';
import { FilterSet } from '../src/sensors/filter.js';
import { repoPath } from '../src/util/paths.js';
import { openFdCount, pythonChild, requireRoot, tracefs, waitFor } from './helpers.js';

const FIXTURE = repoPath('test', '.output', 'falco_scenarios');

describe('SysEventSensor', () => {
  before(() => {
    requireRoot();
    tracefs();
  });

  test('socket and connect over loopback: both ends of the socket at exit', async () => {
    const events: SysEvent[] = [];
    using filter = new FilterSet({ pids: [process.pid] });
    using sensor = await SysEventSensor.start({ calls: ['socket', 'connect'], filter, onEvent: (e) => events.push(e) });
    assert.deepEqual(sensor.attached, ['socket', 'connect']);
    const server = net.createServer((c) => c.end()).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    const local = client.localPort;
    client.destroy();
    server.close();
    const connect = (): SysEvent | undefined => events.find((e) => e.call === 'connect' && e.addr?.port === port);
    assert.ok(await waitFor(() => (sensor.drain(), connect() !== undefined)), 'connect seen');
    const c = connect()!;
    assert.equal(c.task.pid, process.pid);
    assert.equal(c.task.comm.length > 0, true);
    assert.ok(c.ret === 0 || c.ret === -115, `connect returned ${c.ret}`);
    assert.deepEqual(c.addr, { family: 2, ip: '127.0.0.1', port });
    const s = c.file?.socket;
    assert.ok(s);
    assert.equal(s.family, 2);
    assert.equal(s.type, 1);
    assert.equal(s.protocol, 6);
    assert.deepEqual(s.remote, { ip: '127.0.0.1', port });
    assert.deepEqual(s.local, { ip: '127.0.0.1', port: local });
    assert.equal(c.file?.fd, c.args[0]);
    // the socket() that made it returned the same descriptor
    const sock = events.find((e) => e.call === 'socket' && e.ret === c.args[0]);
    assert.ok(sock, 'socket seen');
    assert.equal(sock.args[0], 2);
    assert.equal(sock.file?.socket?.family, 2);
    assert.equal(sensor.lost, 0);
    assert.equal(sensor.malformed, 0);
  });

  test('dup2 of a file and memfd_create: the file path, the memfd name', async () => {
    const events: SysEvent[] = [];
    const child = await pythonChild([
      "fd = os.open('/etc/hostname', os.O_RDONLY)",
      'os.dup2(fd, 100)',
      "m = os.memfd_create('vigil-memfd', os.MFD_CLOEXEC)",
      'os.dup2(m, 101)',
    ]);
    using filter = new FilterSet({ pids: [child.pid] });
    using sensor = await SysEventSensor.start({ calls: ['dup', 'dup2', 'dup3', 'memfd_create'], filter, onEvent: (e) => events.push(e) });
    assert.equal(await child.go(), 0);
    assert.ok(await waitFor(() => (sensor.drain(), events.some((e) => e.call === 'memfd_create') && events.some((e) => e.args[1] === 101))),
      `seen: ${events.map((e) => `${e.call}(${e.args[0]}, ${e.args[1]})`).join(' ')}`);
    const dup2 = events.find((e) => (e.call === 'dup2' || e.call === 'dup3') && e.args[1] === 100);
    assert.ok(dup2, `dup2 seen: ${events.map((e) => e.call)}`);
    assert.equal(dup2.ret, 100);
    assert.equal(dup2.file?.path, '/etc/hostname');
    assert.equal((dup2.file?.mode ?? 0) & 0o170000, 0o100000);
    const memfd = events.find((e) => e.call === 'memfd_create');
    assert.ok(memfd);
    assert.equal(memfd.str, 'vigil-memfd');
    assert.equal(memfd.args[1], 1);
    assert.ok(memfd.ret >= 0);
    assert.equal(memfd.file?.fd, memfd.ret);
    const dupMemfd = events.find((e) => e.args[0] === memfd.ret && e.args[1] === 101);
    assert.ok(dupMemfd);
    assert.equal(dupMemfd.file?.path, '/memfd:vigil-memfd');
    assert.ok(events.every((e) => e.task.pid === child.pid));
  });

  test('ptrace, and init_module on raw_syscalls when it has no tracepoint; calls not asked for stay silent', async () => {
    const events: SysEvent[] = [];
    using filter = new FilterSet({ comms: ['falco_scenarios'] });
    using sensor = await SysEventSensor.start({ calls: ['ptrace', 'init_module'], filter, onEvent: (e) => events.push(e) });
    const hasTracepoint = existsTracepoint('init_module');
    assert.deepEqual(sensor.raw, hasTracepoint ? [] : ['init_module']);
    for (const action of ['ptraceattach', 'traceme', 'initmodule']) {
      const r = spawnSync(FIXTURE, [action], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${action}: ${r.stderr}`);
    }
    assert.ok(await waitFor(() => (sensor.drain(), events.some((e) => e.call === 'init_module') && events.filter((e) => e.call === 'ptrace').length >= 3)));
    const reqs = events.filter((e) => e.call === 'ptrace').map((e) => e.args[0]);
    assert.ok(reqs.includes(16), 'PTRACE_ATTACH');
    assert.ok(reqs.includes(17), 'PTRACE_DETACH');
    assert.ok(reqs.includes(0), 'PTRACE_TRACEME');
    const attach = events.find((e) => e.call === 'ptrace' && e.args[0] === 16)!;
    assert.ok((attach.args[1] ?? 0) > 0, 'the target pid');
    assert.equal(attach.ret, 0);
    const im = events.find((e) => e.call === 'init_module');
    assert.ok(im);
    assert.equal(im.args[1], 64);
    assert.ok(im.ret < 0, 'refused');
    assert.equal(im.raw, !hasTracepoint);
    assert.equal(im.str, '');
    // the fixture's other syscalls (socket, connect, dup, ...) were not asked for
    assert.ok(events.every((e) => e.call === 'ptrace' || e.call === 'init_module'));
    assert.ok(sensor.filterCounts().passed > 0n);
  });

  test('unix sockets: the sockaddr path given, the peer\'s bound address at exit', async () => {
    const events: SysEvent[] = [];
    const sock = `/tmp/vigil-sysevents-${process.pid}.sock`;
    const child = await pythonChild([
      `p = ${JSON.stringify(sock)}`,
      's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
      's.bind(p)',
      's.listen(1)',
      'c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
      'c.connect(p)',
      'os.dup2(c.fileno(), 50)',
      'os.unlink(p)',
    ], ['os', 'socket']);
    using filter = new FilterSet({ pids: [child.pid] });
    using sensor = await SysEventSensor.start({ calls: ['connect', 'dup2', 'dup3'], filter, onEvent: (e) => events.push(e) });
    assert.equal(await child.go(), 0);
    assert.ok(await waitFor(() => (sensor.drain(), events.some((e) => e.args[1] === 50))));
    const c = events.find((e) => e.call === 'connect');
    assert.ok(c);
    assert.equal(c.ret, 0);
    assert.deepEqual(c.addr, { family: 1, path: sock });
    assert.equal(c.file?.socket?.family, 1);
    assert.equal(c.file?.socket?.remote.path, sock);
    const d = events.find((e) => e.args[1] === 50);
    assert.equal(d?.file?.socket?.remote.path, sock);
  });

  test('UDP sends: only those with a destination address (the default)', async () => {
    const events: SysEvent[] = [];
    using filter = new FilterSet({ pids: [process.pid] });
    using sensor = await SysEventSensor.start({ calls: ['sendto', 'sendmsg'], filter, onEvent: (e) => events.push(e) });
    const rx = dgram.createSocket('udp4');
    rx.bind(0, '127.0.0.1');
    await once(rx, 'listening');
    const port = rx.address().port;
    const tx = dgram.createSocket('udp4');
    tx.send('hello', port, '127.0.0.1');
    await once(rx, 'message');
    // a connected UDP socket sends without an address
    const connected = dgram.createSocket('udp4');
    connected.connect(port, '127.0.0.1');
    await once(connected, 'connect');
    connected.send('again');
    await once(rx, 'message');
    tx.close();
    connected.close();
    rx.close();
    assert.ok(await waitFor(() => (sensor.drain(), events.length > 0)));
    assert.ok(events.every((e) => e.addr !== undefined), 'only sends with a destination');
    const s = events.find((e) => e.addr?.port === port)!;
    assert.ok(s);
    assert.equal(s.file?.socket?.protocol, 17);
    assert.equal(s.file?.socket?.type, 2);
  });

  test('no descriptors leak', async () => {
    const before = openFdCount();
    for (let i = 0; i < 3; i++) {
      const s = await SysEventSensor.start({ calls: ['connect', 'init_module'], execveat: true, onEvent: () => undefined });
      s.close();
    }
    assert.equal(openFdCount(), before);
  });
});

function existsTracepoint(call: string): boolean {
  return spawnSync('test', ['-e', `/sys/kernel/tracing/events/syscalls/sys_enter_${call}`]).status === 0;
}
