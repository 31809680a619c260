// The file sensor's pure parts (no kernel): flag names, record decoding, output lines.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  decodeAtFlags, decodeFileFlags, decodeOpenFlags, decodeRenameFlags, decodeResolveFlags, formatMode, openFlagValues,
} from '../src/sensors/flags.js';
import { availableFileSyscalls, decodeFileRecord, FILE_SYSCALLS, pathPrefixTops, pathTopLengthsNone } from '../src/sensors/file.js';
import type { FileEvent } from '../src/sensors/file-events.js';
import { compactFile, fileJson, formatRet } from '../src/output/file.js';
import { BootClock } from '../src/util/clock.js';
import {
  vigilFileEvent, type VigilFileEvent, VIGIL_FILE_EVENT, VIGIL_FILE_HAS_MODE, VIGIL_FILE_HAS_OWNER,
  VIGIL_FILE_OP_OPEN, VIGIL_FILE_OP_RENAME, VIGIL_FILE_OP_CHOWN, VIGIL_FILE_SYS_OPENAT, VIGIL_FILE_SYS_RENAMEAT2,
  VIGIL_FILE_SYS_FCHOWNAT, VIGIL_FILE_TRUNC_PATH, VIGIL_FILE_ERROR_TARGET, VIGIL_FILE_TARGET_LITERAL,
  VIGIL_FILE_PATH_OPENED,
} from '../src/generated/file.js';
import { statDev } from '../src/sensors/fd-paths.js';
import { rawShown } from '../src/sensors/file-events.js';

describe('open flags', () => {
  test('x86_64: access mode first, then strace order', () => {
    assert.deepEqual(decodeOpenFlags(0, 'x86_64'), ['O_RDONLY']);
    assert.deepEqual(decodeOpenFlags(0o2000101, 'x86_64'), ['O_WRONLY', 'O_CREAT', 'O_CLOEXEC']);
    assert.deepEqual(decodeOpenFlags(0o302, 'x86_64'), ['O_RDWR', 'O_CREAT', 'O_EXCL']);
    assert.deepEqual(decodeOpenFlags(0o1101, 'x86_64'), ['O_WRONLY', 'O_CREAT', 'O_TRUNC']);
    assert.deepEqual(decodeOpenFlags(0o2200000, 'x86_64'), ['O_RDONLY', 'O_DIRECTORY', 'O_CLOEXEC']);
    assert.deepEqual(decodeOpenFlags(0o4002, 'x86_64'), ['O_RDWR', 'O_NONBLOCK']);
    assert.deepEqual(decodeOpenFlags(0o10000000, 'x86_64'), ['O_RDONLY', 'O_PATH']);
    assert.deepEqual(decodeOpenFlags(0o400000 | 0o100000 | 0o40000, 'x86_64'),
      ['O_RDONLY', 'O_DIRECT', 'O_LARGEFILE', 'O_NOFOLLOW']);
  });

  test('O_SYNC is O_DSYNC plus __O_SYNC; O_TMPFILE includes O_DIRECTORY', () => {
    const v = openFlagValues('x86_64');
    assert.deepEqual(decodeOpenFlags(1 | (v.O_SYNC ?? 0), 'x86_64'), ['O_WRONLY', 'O_SYNC']);
    assert.deepEqual(decodeOpenFlags(1 | (v.O_DSYNC ?? 0), 'x86_64'), ['O_WRONLY', 'O_DSYNC']);
    assert.deepEqual(decodeOpenFlags(2 | (v.O_TMPFILE ?? 0), 'x86_64'), ['O_RDWR', 'O_TMPFILE']);
    assert.deepEqual(decodeOpenFlags(2 | (openFlagValues('arm64').O_TMPFILE ?? 0), 'arm64'), ['O_RDWR', 'O_TMPFILE']);
  });

  test('arm64 numbers O_DIRECTORY, O_NOFOLLOW, O_DIRECT, O_LARGEFILE differently', () => {
    assert.deepEqual(decodeOpenFlags(0o40000, 'arm64'), ['O_RDONLY', 'O_DIRECTORY']);
    assert.deepEqual(decodeOpenFlags(0o40000, 'x86_64'), ['O_RDONLY', 'O_DIRECT']);
    assert.deepEqual(decodeOpenFlags(0o100000, 'arm64'), ['O_RDONLY', 'O_NOFOLLOW']);
    assert.deepEqual(decodeOpenFlags(0o200000, 'arm64'), ['O_RDONLY', 'O_DIRECT']);
    assert.deepEqual(decodeOpenFlags(0o400000, 'arm64'), ['O_RDONLY', 'O_LARGEFILE']);
  });

  test('unknown bits are kept as hex, a u64 (openat2) too', () => {
    assert.deepEqual(decodeOpenFlags(0x40000001, 'x86_64'), ['O_WRONLY', '0x40000000']);
    assert.deepEqual(decodeOpenFlags(0x100000000n | 0o100n, 'x86_64'), ['O_RDONLY', 'O_CREAT', '0x100000000']);
  });

  test('AT_*, RENAME_*, RESOLVE_*', () => {
    assert.deepEqual(decodeAtFlags(0), []);
    assert.deepEqual(decodeAtFlags(0x200), ['AT_REMOVEDIR']);
    assert.deepEqual(decodeAtFlags(0x1100), ['AT_SYMLINK_NOFOLLOW', 'AT_EMPTY_PATH']);
    assert.deepEqual(decodeAtFlags(0x400 | 0x1), ['AT_SYMLINK_FOLLOW', '0x1']);
    assert.deepEqual(decodeRenameFlags(1), ['RENAME_NOREPLACE']);
    assert.deepEqual(decodeRenameFlags(6), ['RENAME_EXCHANGE', 'RENAME_WHITEOUT']);
    assert.deepEqual(decodeResolveFlags(0x18), ['RESOLVE_BENEATH', 'RESOLVE_IN_ROOT']);
  });

  test('per syscall kind; modes in octal', () => {
    assert.deepEqual(decodeFileFlags('open', 0o102, 0x08, 'x86_64'), ['O_RDWR', 'O_CREAT', 'RESOLVE_BENEATH']);
    assert.deepEqual(decodeFileFlags('at', 0x200, 0), ['AT_REMOVEDIR']);
    assert.deepEqual(decodeFileFlags('rename', 1), ['RENAME_NOREPLACE']);
    assert.deepEqual(decodeFileFlags('none', 0), []);
    assert.equal(formatMode(0o644), '0644');
    assert.equal(formatMode(0o4755), '04755');
    assert.equal(formatMode(0), '0000');
  });
});

/** A record as the kernel sends it: header, then path, target, raw path, raw target. */
function record(h: Partial<VigilFileEvent>, pathText: string, targetText = '', rawText = pathText, rawTargetText = targetText):
  { view: DataView; size: number } {
  const enc = new TextEncoder();
  const names = [pathText, targetText, rawText, rawTargetText].map((x) => enc.encode(x));
  const size = vigilFileEvent.size + names.reduce((n, b) => n + b.length, 0);
  const view = new DataView(new ArrayBuffer(8 + size + 8));
  vigilFileEvent.encode({
    kind: VIGIL_FILE_EVENT, syscall: VIGIL_FILE_SYS_OPENAT, op: VIGIL_FILE_OP_OPEN, ktime: 5_000n,
    start_boottime: 1_000n, cgroup_id: 77n, ret: 3n, flags: 0n, resolve: 0n, length: 0n, ino: 0n, mode: 0, owner_uid: 0,
    owner_gid: 0, pid: 10, tid: 11, uid: 1000, gid: 1001, status: 0, nr: 257, dirfd: -100, dirfd2: -100, dev: 0,
    path_len: names[0]!.length, target_len: names[1]!.length, raw_len: names[2]!.length, raw_target_len: names[3]!.length,
    comm: 'cat', ...h,
  }, view, 8);
  let at = 8 + vigilFileEvent.size;
  for (const b of names) {
    new Uint8Array(view.buffer, at).set(b);
    at += b.length;
  }
  return { view, size };
}

describe('file records', () => {
  const clock = BootClock.measure();

  test('an open: path, flags, mode only with O_CREAT, ret, task', () => {
    const { view, size } = record({ flags: 0o2000000n, ret: -2n }, '/etc/passwd');
    const e = decodeFileRecord(view, 8, size, clock, 'x86_64');
    assert.equal(e.kind, 'file');
    assert.equal(e.op, 'open');
    assert.equal(e.syscall, 'openat');
    assert.equal(e.path, '/etc/passwd');
    assert.equal(e.target, null);
    assert.deepEqual(e.flags, ['O_RDONLY', 'O_CLOEXEC']);
    assert.equal(e.mode, null);
    assert.equal(e.ret, -2);
    assert.deepEqual(e.task, { pid: 10, tid: 11, uid: 1000, gid: 1001, comm: 'cat', startBootNs: 1_000n, cgroupId: 77n });
    assert.equal(e.timeNs, clock.toEpochNs(5_000n));
    assert.equal(e.rawPath, '/etc/passwd');
    assert.deepEqual([e.dev, e.ino, e.eventFlags.pathOpened], [null, null, false], 'no opened file: no identity');
    const c = decodeFileRecord(record({ flags: 0o101n, mode: 0o100644, status: VIGIL_FILE_HAS_MODE }, '/x').view, 8,
      vigilFileEvent.size + 4, clock, 'x86_64');
    assert.equal(c.mode, 0o644, 'the file type bits are not part of the mode shown');
  });

  test('what repeats from record to record is shared, and only while it is the same', () => {
    const a = record({ flags: 0o2000000n }, '/etc/passwd');
    const e1 = decodeFileRecord(a.view, 8, a.size, clock, 'x86_64');
    const e2 = decodeFileRecord(a.view, 8, a.size, clock, 'x86_64');
    assert.equal(e1.task, e2.task, 'one task object for a thread\'s run of calls');
    assert.ok(Object.isFrozen(e1.task) && Object.isFrozen(e1.eventFlags));
    assert.equal(e1.rawFlags, 0o2000000n);
    for (const [h, field] of [[{ pid: 12 }, 'pid'], [{ tid: 13 }, 'tid'], [{ uid: 5 }, 'uid'], [{ gid: 6 }, 'gid'],
      [{ comm: 'dog' }, 'comm'], [{ start_boottime: (7n << 32n) | 1_000n }, 'startBootNs'], [{ cgroup_id: 78n }, 'cgroupId']] as const) {
      const b = record({ flags: 0o2000000n, ...h }, '/etc/passwd');
      const e = decodeFileRecord(b.view, 8, b.size, clock, 'x86_64');
      assert.notEqual(e.task, e1.task, field);
      const want = Object.values(h)[0];
      assert.equal(e.task[field], want, field);
    }
    const c = record({ flags: (1n << 32n) | 1n, ino: (1n << 40n) + 3n, status: VIGIL_FILE_PATH_OPENED }, '/etc/passwe');
    const e3 = decodeFileRecord(c.view, 8, c.size, clock, 'x86_64');
    assert.equal(e3.path, '/etc/passwe', 'a path of the same length, other bytes');
    assert.equal(e3.rawFlags, (1n << 32n) | 1n);
    assert.equal(e3.ino, 2 ** 40 + 3);
    assert.equal(decodeFileRecord(a.view, 8, a.size, clock, 'x86_64').path, '/etc/passwd');
  });

  test('an opened file: the canonical path, the name as given, st_dev and st_ino', () => {
    // dev 259:3 in the kernel's encoding (major << 20 | minor) is st_dev 66307 (major << 8 | minor).
    const r = record({ status: VIGIL_FILE_PATH_OPENED, dev: (259 << 20) | 3, ino: 123456789n }, '/etc/shadow', '',
      '../../tmp/../etc//shadow');
    const e = decodeFileRecord(r.view, 8, r.size, clock);
    assert.equal(e.path, '/etc/shadow');
    assert.equal(e.rawPath, '../../tmp/../etc//shadow');
    assert.equal(e.dev, 66307);
    assert.equal(e.ino, 123456789);
    assert.equal(e.eventFlags.pathOpened, true);
    assert.equal(statDev((259 << 20) | 3), 66307);
    assert.equal(statDev((8 << 20) | 0x12345), 0x12345 & 0xff | 8 << 8 | (0x12345 & ~0xff) << 12, 'a minor above 255');
  });

  test('two names; truncated and failed names are marked', () => {
    const r = record({ syscall: VIGIL_FILE_SYS_RENAMEAT2, op: VIGIL_FILE_OP_RENAME, flags: 1n, ret: 0n,
      status: VIGIL_FILE_TRUNC_PATH | VIGIL_FILE_ERROR_TARGET }, '/deep/er/leaf', 'rel');
    const e = decodeFileRecord(r.view, 8, r.size, clock);
    assert.equal(e.path, '.../er/leaf');
    assert.equal(e.target, 'rel');
    assert.deepEqual(e.flags, ['RENAME_NOREPLACE']);
    assert.deepEqual(e.eventFlags, { pathTruncated: true, targetTruncated: false, pathError: false, targetError: true,
      pathOpened: false });
    assert.deepEqual([e.rawPath, e.rawTarget], ['/deep/er/leaf', 'rel']);
    // A symlink's content is sent once (literal): it is its own raw text.
    const s = record({ syscall: 15, op: 7, status: VIGIL_FILE_TARGET_LITERAL, ret: 0n }, '/tmp/l', '../x', 'l', '');
    const sym = decodeFileRecord(s.view, 8, s.size, clock);
    assert.deepEqual([sym.path, sym.target, sym.rawPath, sym.rawTarget], ['/tmp/l', '../x', 'l', '../x']);
    const mv = record({ syscall: VIGIL_FILE_SYS_RENAMEAT2, op: VIGIL_FILE_OP_RENAME, ret: 0n }, '/a/x', '/b/y', 'x', '../b/./y');
    const m = decodeFileRecord(mv.view, 8, mv.size, clock);
    assert.deepEqual([m.path, m.target, m.rawPath, m.rawTarget], ['/a/x', '/b/y', 'x', '../b/./y']);
  });

  test('chown: -1 leaves the owner unchanged (null)', () => {
    const r = record({ syscall: VIGIL_FILE_SYS_FCHOWNAT, op: VIGIL_FILE_OP_CHOWN, owner_uid: 0xffffffff, owner_gid: 5,
      flags: 0x100n, status: VIGIL_FILE_HAS_OWNER, ret: 0n }, '/f');
    const e = decodeFileRecord(r.view, 8, r.size, clock);
    assert.equal(e.ownerUid, null);
    assert.equal(e.ownerGid, 5);
    assert.deepEqual(e.flags, ['AT_SYMLINK_NOFOLLOW']);
  });

  test('malformed records are refused', () => {
    const r = record({}, '/etc/passwd');
    assert.throws(() => decodeFileRecord(r.view, 8, r.size - 1, clock), /declares/);
    assert.throws(() => decodeFileRecord(record({ kind: 1 }, '/x').view, 8, 200, clock), /not a file record/);
    assert.throws(() => decodeFileRecord(record({ syscall: 99 }, '/x').view, 8, 200, clock), /unknown syscall/);
  });

  test('every syscall of the table has a distinct id', () => {
    assert.equal(new Set(FILE_SYSCALLS.map((s) => s.id)).size, FILE_SYSCALLS.length);
    assert.equal(FILE_SYSCALLS.length, 23);
  });
});

describe('path prefix filter: the first components checked before the walk', () => {
  test('each prefix up to its second slash, or whole; one entry per component', () => {
    assert.deepEqual(pathPrefixTops(['/etc/ssh/', '/etc/', '/usr/local/bin/', '/et', '/', '/nonexistent/']),
      ['/etc/', '/usr/', '/et', '/', '/nonexistent/']);
    assert.deepEqual(pathPrefixTops([]), []);
  });

  test('the lengths of a first component no top allows, one bit each', () => {
    const ruledOut = (tops: string[]): number[] => {
      const none = pathTopLengthsNone(tops);
      assert.equal(none.length, 32);
      return [...Array(256).keys()].filter((n) => ((none[n >> 3] ?? 0) >> (n & 7)) & 1);
    };
    const all = [...Array(256).keys()];
    // "/nonexistent/": a component of 11 bytes only; not the path "/" (0).
    assert.deepEqual(ruledOut(['/nonexistent/']), all.filter((n) => n !== 11));
    // "/et": "et", "etc", "etcetera"...: 2 bytes and more.
    assert.deepEqual(ruledOut(['/et', '/usr/']), [0, 1]);
    // Bytes, not characters.
    assert.deepEqual(ruledOut(['/é/']), all.filter((n) => n !== 2));
    // "/" allows every path; no prefix rules nothing out.
    assert.deepEqual(ruledOut(['/', '/etc/']), []);
    assert.deepEqual(ruledOut([]), []);
    assert.deepEqual(ruledOut([`/${'x'.repeat(254)}/`]), all.filter((n) => n !== 254));
  });
});

describe('syscalls this kernel has', () => {
  test('only those with both tracepoints', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'vigil-tracefs-'));
    try {
      const sc = path.join(root, 'events', 'syscalls');
      for (const d of ['sys_enter_openat', 'sys_exit_openat', 'sys_enter_unlinkat', 'sys_exit_unlinkat', 'sys_enter_open']) {
        mkdirSync(path.join(sc, d), { recursive: true });
        writeFileSync(path.join(sc, d, 'id'), '1');
      }
      assert.deepEqual(availableFileSyscalls(root), ['openat', 'unlinkat']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('file output', () => {
  const e: FileEvent = {
    kind: 'file', op: 'open', syscall: 'openat', timeNs: 1_700_000_000_123_456_789n, bootNs: 5n, path: '/etc/passwd',
    rawPath: '/etc/passwd', target: null, rawTarget: null, dev: null, ino: null,
    flags: ['O_RDONLY'], rawFlags: 0n, mode: null, ownerUid: null, ownerGid: null, length: null, ret: 3,
    task: { pid: 10, tid: 11, uid: 0, gid: 0, comm: 'cat', startBootNs: 1n, cgroupId: 2n },
    eventFlags: { pathTruncated: false, targetTruncated: false, pathError: false, targetError: false, pathOpened: false },
  };

  test('compact: 📂 op binary path flags = ret', () => {
    assert.equal(compactFile(e, '/usr/bin/cat'), '📂 open /usr/bin/cat /etc/passwd O_RDONLY = 3');
    assert.equal(compactFile({ ...e, ret: -2 }), '📂 open cat /etc/passwd O_RDONLY = -2 ENOENT');
    assert.equal(compactFile({ ...e, op: 'rename', syscall: 'rename', path: '/a', rawPath: '/a', target: '/b', flags: [], ret: 0 },
      '/bin/mv'),
      '📂 rename /bin/mv /a -> /b = 0');
    assert.equal(compactFile({ ...e, flags: ['O_WRONLY', 'O_CREAT'], mode: 0o600 }, '/bin/sh'),
      '📂 open /bin/sh /etc/passwd O_WRONLY|O_CREAT 0600 = 3');
    assert.equal(compactFile({ ...e, path: '/tmp/a\nb', rawPath: '/tmp/a\nb' }, '/x'), '📂 open /x /tmp/a\\nb O_RDONLY = 3');
    assert.equal(formatRet(-13), '= -13 EACCES');
    // The name as given shows when it says more than the path: "..", "//", ".", a symlink followed.
    assert.equal(compactFile({ ...e, path: '/etc/shadow', rawPath: '/tmp/../etc/shadow' }, '/bin/cat'),
      '📂 open /bin/cat /etc/shadow (as /tmp/../etc/shadow) O_RDONLY = 3');
    assert.equal(compactFile({ ...e, path: '/etc/shadow', rawPath: 'shadow' }, '/bin/cat'), '📂 open /bin/cat /etc/shadow O_RDONLY = 3');
  });

  test('the name as given is shown when it differs from the path in more than a relative prefix', () => {
    assert.equal(rawShown('/etc/passwd', '/etc/passwd'), undefined);
    assert.equal(rawShown('/etc/passwd', 'passwd'), undefined);
    assert.equal(rawShown('/etc/passwd', 'etc/passwd'), undefined);
    assert.equal(rawShown('/etc/passwd', '../etc/passwd'), '../etc/passwd');
    assert.equal(rawShown('/etc/passwd', './passwd'), './passwd');
    assert.equal(rawShown('/etc/passwd', 'etc//passwd'), 'etc//passwd');
    assert.equal(rawShown('/etc/shadow', '/tmp/link'), '/tmp/link');
    assert.equal(rawShown('/etc/shadow', 'link'), 'link');
    assert.equal(rawShown('/x', ''), undefined);
  });

  test('json: the issue\'s envelope', () => {
    const p = { exec_id: 'x', pid: 10, binary: '/usr/bin/cat' };
    const j = JSON.parse(JSON.stringify(fileJson(e, 'node1', p))) as Record<string, unknown>;
    assert.deepEqual(j, {
      file: { process: p, op: 'open', syscall: 'openat', path: '/etc/passwd', flags: ['O_RDONLY'], mode: null, ret: 3,
        target: null, raw_path: '/etc/passwd' },
      node_name: 'node1',
      time: '2023-11-14T22:13:20.123456789Z',
    });
    const bare = fileJson({ ...e, op: 'chown', ownerUid: 5, ownerGid: null }, 'n') as { file: Record<string, unknown> };
    assert.equal((bare.file.process as { pid: number }).pid, 10);
    assert.equal(bare.file.owner_uid, 5);
    assert.equal(bare.file.owner_gid, null);
    const opened = fileJson({ ...e, path: '/etc/shadow', rawPath: 'link', dev: 66307, ino: 42 }, 'n') as { file: Record<string, unknown> };
    assert.deepEqual([opened.file.path, opened.file.raw_path, opened.file.dev, opened.file.ino], ['/etc/shadow', 'link', 66307, 42]);
    const mv = fileJson({ ...e, op: 'rename', syscall: 'rename', path: '/a', target: '/b', rawPath: 'a', rawTarget: '../b', ret: 0 },
      'n') as { file: Record<string, unknown> };
    assert.deepEqual([mv.file.raw_target, 'dev' in mv.file], ['../b', false]);
  });
});
