// vigil top: flag parsing and rendering (no kernel), and the command itself
// as a child process on the real kernel.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { UsageError } from '../src/cli/command.js';
import { parseTopArgs, renderFiles, renderSyscalls, syscallsJson } from '../src/cli/commands/top.js';
import { fmtBytes, fmtCount, fmtNs } from '../src/cli/refresh.js';
import type { FileSnapshot, SyscallSnapshot } from '../src/sensors/syscalls.js';
import { repoPath } from '../src/util/paths.js';
import { ENOENT_PATH, FILE_OPENS, LOOP_ENOENT, LOOP_GETPPID, LOOP_SLEEP, startSysloop, sysloopSuite } from './sysloop.js';

const VIGIL = repoPath('bin', 'vigil');
const noDrops = { inflight: 0, stats: 0, fileIo: 0, fileOpens: 0, openInflight: 0 };

describe('vigil top: flags and rendering (no kernel)', () => {
  test('flags parse into options', () => {
    const o = parseTopArgs(['syscalls', '--interval', '0.5', '--limit', '7', '--pid', '12', '--pid', '13',
      '--follow-children', '--uid', '0', '--comm', 'nginx', '--output', 'json', '--duration', '2']);
    assert.equal(o.view, 'syscalls');
    assert.equal(o.intervalS, 0.5);
    assert.equal(o.limit, 7);
    assert.equal(o.durationS, 2);
    assert.equal(o.output, 'json');
    assert.deepEqual(o.filter, { pids: [12, 13], followChildren: true, uids: [0], comms: ['nginx'] });
    const d = parseTopArgs(['files']);
    assert.deepEqual([d.view, d.intervalS, d.limit, d.durationS, d.output, d.container], ['files', 1, undefined, undefined, 'table', undefined]);
    assert.equal(parseTopArgs(['files', '--container', 'host']).container, 'host');
    assert.equal(parseTopArgs(['files', '--container', 'ABCdef0']).container, 'ABCdef0');
  });

  for (const bad of [[], ['bogus'], ['syscalls', 'files'], ['syscalls', '--interval', '0'], ['syscalls', '--interval', 'x'],
    ['syscalls', '--duration', '-1'], ['syscalls', '--limit', '1.5'], ['syscalls', '--pid', 'abc'], ['syscalls', '--pid', '0'],
    ['syscalls', '--uid', '-3'], ['syscalls', '--follow-children'], ['syscalls', '--output', 'xml'], ['syscalls', '--nope'],
    ['syscalls', '--comm', 'a-very-long-command-name'], ['syscalls', '--comm', ''], ['files', '--container', 'not-hex!']]) {
    test(`malformed: vigil top ${bad.join(' ')}`, () => {
      assert.throws(() => parseTopArgs(bad), UsageError);
    });
  }

  test('numbers, durations and sizes read at a glance', () => {
    assert.deepEqual([0, 7, 2.5, 999, 12_345, 3_400_000].map(fmtCount), ['0', '7', '2.5', '999', '12.3k', '3.4M']);
    assert.deepEqual([0, 850, 12_300, 1_520_000, 2_100_000_000].map(fmtNs), ['0', '850ns', '12.3us', '1.52ms', '2.10s']);
    assert.deepEqual([5, 2048, 3.5 * 1024 * 1024].map(fmtBytes), ['5B', '2.00K', '3.50M']);
  });

  const hist = new Array<number>(32).fill(0);
  hist[10] = 4;
  const snap: SyscallSnapshot = {
    timeMs: Date.UTC(2025, 0, 1), intervalNs: 2e9, arch: 'x86_64',
    rows: [
      { pid: 42, comm: 'nginx', nr: 0, syscall: 'read', count: 10, errors: 2, rate: 5, errorRate: 1, totalNs: 20_000,
        avgNs: 2000, p50Ns: 1500, p99Ns: 2040, maxNs: 2047, hist },
      { pid: 43, comm: 'sh', nr: 110, syscall: 'getppid', count: 4, errors: 0, rate: 2, errorRate: 0, totalNs: 800,
        avgNs: 200, p50Ns: 190, p99Ns: 250, maxNs: 255, hist },
    ],
    totals: { count: 14, errors: 2, rate: 7, errorRate: 1, processes: 2 },
    drops: noDrops, dropsTotal: { ...noDrops, stats: 3 }, filter: { passed: 0, dropped: 0 },
  };

  test('the syscalls table: header with totals, one row per process and syscall', () => {
    const lines = renderSyscalls(snap);
    assert.match(lines[0] as string, /^vigil top syscalls .*interval 2\.00s .*processes 2 .*drops 0 \(3 since start\)/);
    assert.match(lines[1] as string, /calls 7\/s {2}errors 1\/s/);
    assert.match(lines[2] as string, /PID +COMM +SYSCALL +CALLS\/s +ERR\/s +P50 +P99 +MAX +TIME/);
    assert.match(lines[3] as string, /^ +42 nginx +read +5 +1 +1\.50us +2\.04us +2\.05us +20\.0us$/);
    assert.match(lines[4] as string, /^ +43 sh +getppid +2 +- +190ns/);
    assert.equal(renderSyscalls(snap, { limit: 1 }).length, 4);
    const j = syscallsJson(snap, undefined) as { rows: { syscall: string; p50_ns: number; hist_log2_ns: number[] }[] };
    assert.deepEqual([j.rows[0]?.syscall, j.rows[0]?.p50_ns, j.rows[0]?.hist_log2_ns[10]], ['read', 1500, 4]);
  });

  test('the files table cuts long paths from the left to fit the terminal', () => {
    const f: FileSnapshot = {
      timeMs: 0, intervalNs: 1e9,
      rows: [{ pid: 9, comm: 'cat', path: '/very/long/directory/name/and/file.txt', pathSource: 'fd', pathTruncated: false,
        dev: '8:1', ino: 5, opens: 1, openErrors: 0, reads: 2, readBytes: 4096, writes: 0, writeBytes: 0, ioErrors: 0,
        opsRate: 3, readBytesRate: 4096, writeBytesRate: 0 }],
      totals: { opens: 1, openErrors: 0, reads: 2, readBytes: 4096, writes: 0, writeBytes: 0, processes: 1 },
      drops: noDrops, dropsTotal: noDrops, filter: { passed: 0, dropped: 0 },
    };
    const full = renderFiles(f);
    assert.match(full[3] as string, / \/very\/long\/directory\/name\/and\/file\.txt$/);
    const narrow = renderFiles(f, { width: 80 });
    assert.ok((narrow[3] as string).length <= 80);
    assert.match(narrow[3] as string, /\.\.\.[a-z/]*file\.txt$/);
  });
});

/** Runs `vigil top ...`; resolves when its stderr says it counts. */
function startTop(args: string[]): { child: ChildProcess; ready: Promise<void>; result: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [VIGIL, 'top', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let ready!: () => void;
  const readyP = new Promise<void>((resolve) => (ready = resolve));
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.includes('vigil top: counting')) ready();
  });
  const result = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.once('exit', (code) => {
      ready();
      resolve({ code, stdout, stderr });
    });
  });
  return { child, ready: readyP, result };
}

describe('vigil top (real kernel)', () => {
  const size = 6000;
  const suite = sysloopSuite('vigil-top-', size, 0x62);

  test('top syscalls --output json --duration prints one snapshot with the fixture\'s rows', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const fx = startSysloop(suite.file);
    const top = startTop(['syscalls', '--output', 'json', '--duration', '3']);
    await top.ready;
    await fx.go();
    const r = await top.result;
    await fx.finish();
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'one snapshot');
    const snap = JSON.parse(lines[0] as string) as {
      top: string; interval_s: number; totals: { count: number };
      rows: { pid: number; comm: string; syscall: string; count: number; errors: number; p50_ns: number; hist_log2_ns: number[] }[];
    };
    assert.equal(snap.top, 'syscalls');
    assert.ok(snap.interval_s >= 2.9);
    const mine = (s: string) => snap.rows.find((x) => x.pid === fx.pid && x.syscall === s);
    assert.deepEqual([mine('getppid')?.count, mine('getppid')?.errors, mine('getppid')?.comm], [LOOP_GETPPID, 0, 'sysloop']);
    assert.equal(mine('openat')?.errors, LOOP_ENOENT);
    assert.equal(mine('nanosleep')?.count, LOOP_SLEEP);
    assert.equal(mine('nanosleep')?.hist_log2_ns.reduce((a, b) => a + b, 0), LOOP_SLEEP);
    assert.ok(!snap.rows.some((x) => x.pid === top.child.pid), 'vigil leaves itself out');
  });

  test('top syscalls streaming json, stopped between frames: its last frame holds the partial interval', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const fx = startSysloop(suite.file);
    // One frame a minute: the fixture runs and the stop comes long before the first.
    const top = startTop(['syscalls', '--output', 'json', '--interval', '60']);
    await top.ready;
    await fx.go();
    await fx.finish();
    top.child.kill('SIGINT');
    const r = await top.result;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.trim() !== '', 'a frame at the stop');
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `one frame, at the stop: ${r.stdout.slice(0, 300)}`);
    const snap = JSON.parse(lines[0] as string) as { interval_s: number; rows: { pid: number; syscall: string; count: number }[] };
    assert.ok(snap.interval_s < 60, String(snap.interval_s));
    assert.equal(snap.rows.find((x) => x.pid === fx.pid && x.syscall === 'getppid')?.count, LOOP_GETPPID);
  });

  test('top files --output json shows the fixture\'s file with opens and read bytes', async (t) => {
    if (suite.skip) return t.skip(suite.skip);
    const fx = startSysloop(suite.file);
    const top = startTop(['files', '--output', 'json', '--duration', '3', '--comm', 'sysloop']);
    await top.ready;
    await fx.go();
    const r = await top.result;
    await fx.finish();
    assert.equal(r.code, 0, r.stderr);
    const snap = JSON.parse(r.stdout) as {
      top: string; filter: { passed: number; dropped: number };
      rows: { pid: number; path: string; opens: number; open_errors: number; read_bytes: number; reads: number }[];
    };
    assert.equal(snap.top, 'files');
    const data = snap.rows.find((x) => x.pid === fx.pid && x.path === suite.file);
    assert.ok(data, r.stdout);
    assert.deepEqual([data.opens, data.open_errors, data.read_bytes], [FILE_OPENS, 0, FILE_OPENS * size]);
    const failed = snap.rows.find((x) => x.pid === fx.pid && x.path === ENOENT_PATH);
    assert.deepEqual([failed?.opens, failed?.open_errors], [LOOP_ENOENT, LOOP_ENOENT]);
    assert.ok(snap.rows.every((x) => x.pid === fx.pid), 'the comm filter keeps only the fixture');
    assert.ok(snap.filter.dropped > 0);
  });

  /** Runs `vigil top VIEW` in a pseudo-terminal (script(1); our stdin is its keyboard) until two frames, then q. */
  async function inTerminal(view: string): Promise<{ code: number | null; out: string }> {
    const child = spawn('script', ['-qec', `${process.execPath} ${VIGIL} top ${view} --interval 0.2`, '/dev/null'],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const title = new RegExp(`vigil top ${view} {2}\\d`, 'g');
    const frames = new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if ((out.match(title) ?? []).length >= 2) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const timeout = setTimeout(() => child.kill('SIGKILL'), 20_000); // a bound, not a measurement
    await Promise.race([frames, exited]);
    child.stdin.write('q');
    const code = await exited;
    clearTimeout(timeout);
    return { code, out };
  }

  for (const [view, header] of [['syscalls', /PID +COMM +SYSCALL +CALLS\/s/], ['tcp', /PID +COMM +LOCAL +REMOTE +STATE/]] as const) {
    test(`top ${view} in a terminal redraws until q, then restores the screen and leaves the last table on it`, async (t) => {
      if (suite.skip) return t.skip(suite.skip);
      const { code, out } = await inTerminal(view);
      assert.equal(code, 0, out);
      assert.ok(out.startsWith('\x1b[?1049h'), 'switches to the alternate screen');
      assert.ok(out.includes('\x1b[H\x1b[2J'), 'clears and redraws');
      assert.match(out, header);
      const off = out.lastIndexOf('\x1b[?25h\x1b[?1049l');
      assert.ok(off > 0, 'restores the cursor and the screen on q');
      // Back on the main screen: the last table again, as the user last saw it, and nothing that wipes it.
      const after = out.slice(off + '\x1b[?25h\x1b[?1049l'.length);
      assert.match(after, new RegExp(`^vigil top ${view} {2}\\d`), JSON.stringify(after.slice(0, 200)));
      assert.match(after, header);
      assert.ok(!after.includes('\x1b['), 'no escape after the table');
      assert.ok(after.endsWith('\n'), 'the prompt starts below the table');
    });
  }

  test('bad flags exit 2 with a usage error', () => {
    for (const args of [[], ['nope'], ['syscalls', '--interval', '0'], ['files', '--pid', 'x'], ['syscalls', '--follow-children'],
      ['syscalls', '--bogus'], ['files', '--container', 'ffffffffffff']]) {
      const r = spawnSync(process.execPath, [VIGIL, 'top', ...args], { encoding: 'utf8' });
      assert.equal(r.status, 2, `vigil top ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^vigil top: /);
    }
    const help = spawnSync(process.execPath, [VIGIL, 'top', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /usage: vigil top syscalls\|files/);
  });
});
