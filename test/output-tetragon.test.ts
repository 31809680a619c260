// --output tetragon without the kernel: the strict Tetragon shape of process,
// exit and file events (what consumers of `tetra getevents -o json` rely on:
// clone in flags, full credentials, refcnt, in_init_tree, binary_properties
// on exec, file events as process_kprobe), and what it leaves out. The
// strict parse against Tetragon's own schema is the compat tier's
// (test/shaped-output.shared.test.ts); these checks need no ../shared.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TetragonFormatter, syscallFunction } from '../src/output/tetragon.js';
import { execId } from '../src/process/exec-id.js';
import type { ExecEvent, ExecFailedEvent, ExitEvent, ForkEvent } from '../src/sensors/events.js';
import type { FileEvent } from '../src/sensors/file-events.js';
import type { ProcessInfo, ProcessLookup } from '../src/process/types.js';
import { info } from './process-fixtures.js';
import { checkShaped, shaped } from './shaped.js';

const host = { uts: 1, ipc: 2, mnt: 3, pid: 4, net: 5, cgroup: 6, user: 7 };
const parent = info({ execId: execId('n', 1n, 9), pid: 9, ppid: 1, parentExecId: undefined, binary: '/usr/bin/sh', args: ['sh'] });

/** A cache that knows the image before pid 10's exec (at boot ns 5): `before`. */
function lookup(before: ProcessInfo): ProcessLookup {
  return {
    get: (pid, _start, at) => (pid === 10 && at !== undefined && at < 5n ? before : undefined),
    getByExecId: () => undefined,
    parentOf: () => parent,
    ancestors: () => [parent],
  };
}

type Obj = Record<string, unknown>;
const body = (line: string | undefined, key: string): Obj => {
  assert.ok(line !== undefined);
  shaped('tetragon', line);
  return (JSON.parse(line) as Record<string, Obj>)[key]!;
};

describe('--output tetragon', () => {
  // A setuid binary run by uid 1000 from a forked shell: euid 0 after the exec, 1000 before.
  const forked = info({ source: 'fork', binary: '/usr/bin/sh', execBootNs: 2n, euid: 1000, suid: 1000 });
  const exec: ExecEvent = {
    kind: 'exec', timeNs: 1_700_000_000_500_000_000n, timeBootNs: 5n, parent,
    process: info({ execBootNs: 5n, euid: 0, suid: 0, fsuid: 0, binary: '/usr/bin/passwd', args: ['passwd'] }),
  };
  const f = new TetragonFormatter('tetragon', { node: 'n', hostNamespaces: host, lookup: lookup(forked), processCred: true, processNs: true });

  test('process_exec: clone, full credentials, refcnt, in_init_tree, binary_properties; no Vigil fields', () => {
    const e = body(f.line(exec), 'process_exec');
    const p = e.process as Obj;
    assert.equal(p.flags, 'execve clone', 'the exec followed a fork');
    assert.equal(p.uid, 0, 'uid is the effective one, as Tetragon\'s');
    assert.deepEqual(p.process_credentials, {
      uid: 1000, gid: 1000, euid: 0, egid: 1000, suid: 0, sgid: 1000, fsuid: 0, fsgid: 1000,
      securebits: ['SecBitNoSetUidFixup', 'SecBitKeepCaps'],
      caps: { permitted: ['CAP_CHOWN', 'DAC_OVERRIDE'], effective: ['CAP_SYS_ADMIN'], inheritable: [] },
      user_ns: { ns: { inum: 7, is_host: true } },
    });
    assert.equal(p.refcnt, 1);
    assert.equal(p.in_init_tree, false);
    assert.deepEqual(p.binary_properties, { setuid: 0, privileges_changed: ['PRIVILEGES_RAISED_EXEC_FILE_SETUID'] });
    assert.equal(p.docker, 'ab'.repeat(32).slice(0, 15), 'Tetragon\'s docker: the first 15 digits');
    for (const k of ['cgroup_id', 'container_id', 'tty']) assert.ok(!(k in p), k);
    assert.ok(!('binary_properties' in (e.parent as Obj)), 'binary_properties is the exec\'s own');
  });

  test('credentials and namespaces only when asked, as Tetragon\'s --enable-process-cred and --enable-process-ns', () => {
    const plain = new TetragonFormatter('tetragon', { node: 'n', hostNamespaces: host, lookup: lookup(forked) });
    for (const format of ['tetragon', 'json'] as const) {
      const g = new TetragonFormatter(format, { node: 'n', hostNamespaces: host, lookup: lookup(forked) });
      const line = g.line(exec)!;
      const e = (JSON.parse(line) as Record<string, Obj>).process_exec!;
      for (const who of [e.process, e.parent] as Obj[]) {
        for (const k of ['process_credentials', 'cap', 'ns']) assert.ok(!(k in who), `${format}: ${k} without the option`);
      }
      const o = g.process(exec.process) as unknown as Obj;
      assert.ok(!('process_credentials' in o) && !('cap' in o) && !('ns' in o), `${format}: the object (field masks, policies) too`);
    }
    const p = body(plain.line(exec), 'process_exec').process as Obj;
    assert.equal(p.uid, 0, 'uid (the effective one) stays');
    const cred = new TetragonFormatter('tetragon', { node: 'n', hostNamespaces: host, processCred: true });
    const c = body(cred.line(exec), 'process_exec').process as Obj;
    assert.ok('process_credentials' in c && 'cap' in c && !('ns' in c), 'cred alone: no ns');
    const ns = new TetragonFormatter('tetragon', { node: 'n', hostNamespaces: host, processNs: true });
    const n = body(ns.line(exec), 'process_exec').process as Obj;
    assert.ok(!('process_credentials' in n) && 'ns' in n, 'ns alone: no credentials');
  });

  test('an exec that replaced an exec\'d image has no clone; without the image before, no binary_properties', () => {
    const g = new TetragonFormatter('tetragon', { node: 'n', hostNamespaces: host, lookup: lookup(info({ execBootNs: 3n })) });
    assert.equal((body(g.line(exec), 'process_exec').process as Obj).flags, 'execve');
    const bare = new TetragonFormatter('tetragon', { node: 'n', hostNamespaces: host });
    assert.ok(!('binary_properties' in (body(bare.line(exec), 'process_exec').process as Obj)));
  });

  test('process_exit: no signal field for an exit, refcnt 0 in it (and 1 in the exec read after it)', () => {
    const gone = info({ exit: { timeBootNs: 9n, timeNs: 9n, status: 3, signal: null, coreDumped: false } });
    const x: ExitEvent = { kind: 'exit', timeNs: 9n, timeBootNs: 9n, process: gone, parent, coreDumped: false, status: 3, signal: null, signalName: null };
    const e = body(f.line(x), 'process_exit');
    assert.equal(e.status, 3);
    assert.ok(!('signal' in e));
    assert.equal((e.process as Obj).refcnt, 0);
    const late: ExecEvent = { ...exec, process: gone };
    assert.equal((body(f.line(late), 'process_exec').process as Obj).refcnt, 1, 'at the exec the process ran');
  });

  test('file events as Tetragon\'s file monitoring: process_kprobe, the file as file_arg, the result as return', () => {
    const task = { pid: 10, tid: 10, uid: 1000, gid: 1000, comm: 'echo', startBootNs: 2n, cgroupId: 42n };
    const flags = { pathTruncated: false, targetTruncated: false, pathError: false, targetError: false, pathOpened: true };
    const open: FileEvent = {
      kind: 'file', op: 'open', syscall: 'openat', timeNs: 7n, bootNs: 7n, path: '/etc/passwd', rawPath: 'passwd', target: null,
      rawTarget: null, dev: 1, ino: 2, flags: ['O_RDONLY', 'O_CLOEXEC'], rawFlags: 0n, mode: null, ownerUid: null, ownerGid: null,
      length: null, ret: 3, task, eventFlags: flags,
    };
    const k = body(f.line(open), 'process_kprobe');
    assert.equal(k.function_name, syscallFunction('openat'));
    assert.deepEqual(k.args, [{ file_arg: { path: '/etc/passwd', flags: 'O_RDONLY|O_CLOEXEC' } }]);
    assert.deepEqual(k.return, { int_arg: 3 });
    assert.equal(k.action, 'KPROBE_ACTION_POST');
    const rename: FileEvent = { ...open, op: 'rename', syscall: 'renameat2', path: '/tmp/a', target: '/tmp/b', rawTarget: 'b', flags: [],
      mode: null, ret: -2, eventFlags: { ...flags, pathOpened: false } };
    assert.deepEqual(body(f.line(rename), 'process_kprobe').args, [{ path_arg: { path: '/tmp/a' } }, { path_arg: { path: '/tmp/b' }, label: 'target' }]);
  });

  test('no line for forks and failed execs (Tetragon reports neither); losses as rate_limit_info', () => {
    const fork: ForkEvent = { kind: 'fork', timeNs: 1n, timeBootNs: 1n, process: forked, parent };
    const failed: ExecFailedEvent = {
      kind: 'exec_failed', timeNs: 1n, timeBootNs: 1n, process: parent, parent: undefined, filename: '/nope', args: ['/nope'],
      cwd: '/', errno: 2, error: 'ENOENT', at: undefined, argsTruncated: false, filenameTruncated: false,
    };
    assert.equal(f.line(fork), undefined);
    assert.equal(f.line(failed), undefined);
    const lost = f.lostLine(5, 'file', 0n, 'queue_full');
    shaped('tetragon', lost);
    assert.deepEqual(JSON.parse(lost).rate_limit_info, { number_of_dropped_process_events: '5' });
  });

  test('json stays Vigil\'s richer shape: the same process plus cgroup_id, container_id, tty', () => {
    const j = JSON.parse(new TetragonFormatter('json', { node: 'n', hostNamespaces: host, lookup: lookup(forked) }).json(exec));
    const p = j.process_exec.process as Obj;
    assert.equal(p.cgroup_id, 42);
    assert.equal(p.container_id, 'ab'.repeat(32));
    assert.equal(p.docker, 'ab'.repeat(32));
    assert.throws(() => checkShaped('tetragon', JSON.stringify(j)), /Vigil's cgroup_id/);
  });
});

describe('process text written without the object (processText)', () => {
  // Every optional field on and off: the text must be JSON.stringify(process()) byte for byte.
  const variants: Partial<ProcessInfo>[] = [
    {},
    { parentExecId: undefined, tty: undefined, container: 'host' },
    { container: undefined, caps: undefined, ns: undefined, securebits: undefined },
    { suid: undefined, sgid: undefined, fsuid: undefined, fsgid: undefined },
    { sgid: undefined, fsgid: undefined },
    { ns: { uts: 1, ipc: 2, mnt: 3, pid: 99, net: 5, cgroup: 6, user: 0 }, cwd: '/', source: 'fork' },
    { caps: { effective: (1n << 41n) - 1n, permitted: (1n << 63n) | 5n, inheritable: 1n << 40n }, source: 'procfs' },
    { cgroupId: (1n << 60n) + 3n, binary: 'a"b\\c\n\u0001é', cwd: '/tmp/\u2028x', args: ['x', 'a b', '"q"'] },
    { source: 'iterator', flags: { binaryTruncated: true, argsTruncated: true, cwdTruncated: true, binaryError: true, argsError: true, cwdError: true } },
    { pid: Number.NaN, auid: 4294967295, uid: 0, euid: 0 },
  ];
  const pods = {
    lookup: () => ({
      id: 'ab'.repeat(32), name: 'c', image: 'img', imageRef: 'sha256:1',
      pod: { namespace: 'ns', name: 'p', uid: 'u', labels: { app: 'x\u0000y' } },
    }),
  };
  const containers = {
    lookup: () => ({ id: 'ab'.repeat(32), name: 'web"1', image: 'localhost/app:1', imageId: 'sha256:2', labels: { app: 'é' }, runtime: 'podman' }),
  };
  for (const format of ['json', 'tetragon'] as const) {
    for (const named of ['', 'pods', 'containers', 'pods and containers'] as const) {
      test(`${format}${named ? `, with ${named}` : ''}: the same text as JSON.stringify(process())`, () => {
        const f = new TetragonFormatter(format, {
          node: 'n', hostNamespaces: host, lookup: lookup(info({ source: 'fork' })),
          ...(named.includes('pods') ? { pods: pods as never } : {}),
          ...(named.includes('containers') ? { containers: containers as never } : {}),
        });
        for (const [i, over] of variants.entries()) {
          const p = info(over);
          for (const exited of [false, true]) {
            // Twice: the second from the memoised capability and namespace texts.
            for (let k = 0; k < 2; k++) {
              assert.equal(f.processText(p, exited), JSON.stringify(f.process(p, exited)), `variant ${i}, exited ${exited}`);
            }
          }
        }
      });
    }
  }
});
