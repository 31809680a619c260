// The policy engine's prefilter (vigil/policy.h, src/policy/plan.ts
// planPrefilter): an event whose file's name or first path component no
// selector allows is dropped before its path is walked.
//   1. Pure: what the selectors let through, and where there is no prefilter.
//   2. Real kernel: the prefilter never drops a match. Opens of a watched file
//      through a symlink, "..", "//", "." and a directory fd are reported;
//      a file bind-mounted over the watched name (its own dentry named
//      otherwise) is reported; a Prefix is judged against the process's root
//      (chroot); near misses (the same name elsewhere, another name) are not.
//   3. The cache of verdicts: a file opened again after a directory above it
//      was renamed, or its mount moved, or after the policy changed, is
//      judged again (each process pinned to one CPU: the cache is per CPU).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { planPolicy, planPrefilter, prefilterFlags, prefilterKeys, type PlannedKernelHook } from '../src/policy/plan.js';
import type { ArgFilter, PolicyEvent, Selector } from '../src/policy/ir.js';
import {
  VIGIL_POLICY_ARG_FD, VIGIL_POLICY_ARG_KFILE, VIGIL_POLICY_ARG_STRING, VIGIL_POLICY_HOOK_AT_EXIT,
  VIGIL_POLICY_HOOK_EXIT_ONLY, VIGIL_POLICY_PF_LEAF, VIGIL_POLICY_PF_TOP, type VigilPolicyArg,
} from '../src/generated/policy.js';
import { compile, engineForSuite, run, show } from './policy-engine-util.js';
import { requireRoot, tracefs } from './helpers.js';

const text = (xs: readonly Uint8Array[]): string[] => xs.map((x) => Buffer.from(x).toString('utf8'));

function filter(operator: string, values: string[], argPos = 0): ArgFilter {
  const negated = operator.startsWith('Not');
  return { argPos, operator, negated, values: { kind: 'string', values }, raw: values, pos: { line: 1, col: 1 } } as unknown as ArgFilter;
}

const sel = (...matchArgs: ArgFilter[]): Selector => ({ matchArgs } as unknown as Selector);

function arg(type: number): VigilPolicyArg {
  return {
    type, loc: 0, flags: 0, offset: 0, size: 8, size_loc: 0, size_size: 0, size_at: 0, dirfd_loc: 0, resolve: 0,
    dirfd_at: 0, max_data: 0, pad2: 0, value: 0n,
  };
}

const hook = (flags: number, ...types: number[]): PlannedKernelHook =>
  ({ flags, source: 1, args: types.map(arg), conds: [] });

describe('prefilter: what the selectors let through', () => {
  const atEntry = hook(0, VIGIL_POLICY_ARG_KFILE);

  test('Equal and "/name" Postfix allow by the file name, Prefix by the first component', () => {
    const pf = planPrefilter([
      sel(filter('Equal', ['/etc/shadow', '/etc/gshadow'])),
      sel(filter('Prefix', ['/etc/sudoers.d/', '/usr'])),
      sel(filter('Postfix', ['/.ssh/id_rsa'])),
      // ANDed: the name (one read) is preferred to the first component (a walk).
      sel(filter('Prefix', ['/etc/ssh/ssh_host_']), filter('Postfix', ['/ssh_host_rsa_key'])),
    ], atEntry);
    assert.ok(pf);
    assert.equal(pf.slot, 0);
    assert.deepEqual(text(pf.leaves), ['gshadow', 'id_rsa', 'shadow', 'ssh_host_rsa_key']);
    assert.deepEqual(text(pf.tops), ['/etc/', '/usr']);
    assert.equal(prefilterFlags(pf), VIGIL_POLICY_PF_LEAF | VIGIL_POLICY_PF_TOP);
    // struct vigil_policy_pf_key: prefixlen, hook, kind, text ("name/", "/top/").
    const keys = prefilterKeys(7, pf).map((k) => ({
      bits: k.readUInt32LE(0), hook: k.readUInt32LE(4), kind: String.fromCharCode(k[8]!),
      text: k.subarray(9, 9 + k.readUInt32LE(0) / 8 - 5).toString('utf8'),
    }));
    assert.deepEqual(keys[0], { bits: (5 + 'gshadow/'.length) * 8, hook: 7, kind: 'L', text: 'gshadow/' });
    assert.deepEqual(keys.at(-1), { bits: (5 + '/usr'.length) * 8, hook: 7, kind: 'T', text: '/usr' });
  });

  test('no prefilter where some selector could match any file', () => {
    const none = (sels: Selector[], h = atEntry): void => assert.equal(planPrefilter(sels, h), undefined, show(sels));
    none([]);                                                                     // no selectors: everything posts
    none([sel(filter('Equal', ['/etc/shadow'])), sel()]);                         // a selector without arguments
    none([sel(filter('NotEqual', ['/etc/shadow']))]);
    none([sel(filter('NotPrefix', ['/tmp/']))]);
    none([sel(filter('Postfix', ['_key']))]);                                     // a suffix of the name
    none([sel(filter('Prefix', ['/']))]);
    none([sel(filter('Prefix', ['etc/']))]);
    none([sel(filter('Equal', ['/etc/../shadow']))]);                             // never a walked path: left to the judgement
    none([sel(filter('Equal', [`/x/${'n'.repeat(65)}`]))]);                       // a name past the key
    // A string argument is not a file.
    none([sel(filter('Equal', ['/etc/shadow'], 1))], hook(0, VIGIL_POLICY_ARG_KFILE, VIGIL_POLICY_ARG_STRING));
    // Judged at the exit with a stash: the entry captured already.
    none([sel(filter('Equal', ['/etc/shadow']))], hook(VIGIL_POLICY_HOOK_AT_EXIT, VIGIL_POLICY_ARG_FD));
  });

  test('an fd returned, judged at the exit alone (the open family), has one', () => {
    const pf = planPrefilter([sel(filter('Equal', ['/etc/shadow']))],
      hook(VIGIL_POLICY_HOOK_AT_EXIT | VIGIL_POLICY_HOOK_EXIT_ONLY, VIGIL_POLICY_ARG_FD));
    assert.deepEqual(pf && text(pf.leaves), ['shadow']);
  });
});

describe('prefilter on the kernel: no match is dropped', () => {
  requireRoot();
  tracefs();
  const ctx = engineForSuite();
  const PY = '/usr/bin/python3';

  function paths(evs: PolicyEvent[]): string[] {
    return evs.map((e) => {
      const a = e.args[0];
      return a?.kind === 'file' ? a.path : a?.kind === 'string' ? a.value : '?';
    });
  }

  /** A python script (its lines) run with args. */
  function python(lines: string[], ...args: string[]): ReturnType<typeof run> {
    return run(PY, ['-c', lines.join('\n'), ...args]);
  }

  /** The paths the policy reported for the script's process, which must have printed "ok". */
  function pathsOf(name: string, r: { lines: string[]; pid: number }): string[] {
    assert.deepEqual(r.lines, ['ok']);
    return paths(ctx.events.ofPolicy(ctx.engine, name).filter((e) => e.pid === r.pid));
  }

  async function watching(selectors: unknown[], body: (name: string) => Promise<void>): Promise<void> {
    const p = await compile({
      kprobes: [{ call: 'security_file_open', syscall: false, args: [{ index: 0, type: 'file' }], selectors }],
    });
    const plan = planPolicy(p, { hostNamespace: () => 0n });
    const att = plan.hooks[0]!.attachments.filter((a) => a.attach.kind !== 'deny');
    assert.ok(att.length > 0 && att.every((a) => a.kernel.prefilter), 'every attachment has a prefilter');
    ctx.events.clear();
    await ctx.engine.add(p);
    try {
      await body(p.name);
    } finally {
      ctx.engine.remove(p.name);
    }
  }

  test('a watched name: symlink, "..", "//", ".", a directory fd; a bind mount over it', async () => {
    const dir = path.join(ctx.s.dir, 'pf');
    mkdirSync(path.join(dir, 'sub'), { recursive: true });
    mkdirSync(path.join(dir, 'elsewhere'), { recursive: true });
    const target = path.join(dir, 'target');
    writeFileSync(target, 'x');
    writeFileSync(path.join(dir, 'other'), 'y');
    writeFileSync(path.join(dir, 'elsewhere', 'target'), 'z');
    symlinkSync(target, path.join(dir, 'link'));
    await watching([{ matchArgs: [{ index: 0, operator: 'Equal', values: [target] }] }], async (name) => {
      const r = await python([
        'import os, sys',
        'd = sys.argv[1]',
        'for p in (d + "/link", d + "/sub/../target", d + "//target", d + "/./target", d + "/other", d + "/elsewhere/target"):',
        '    os.close(os.open(p, os.O_RDONLY))',
        'fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)',
        'os.close(os.open("target", os.O_RDONLY, dir_fd=fd))',
        'os.chdir(d)',
        'os.close(os.open("./target", os.O_RDONLY))',
        'print("ok")',
      ], dir);
      const got = pathsOf(name, r);
      assert.deepEqual(got, Array(6).fill(target), show(got));
      // A file named "other" mounted over the watched name: the kernel names
      // the open by the mount point, as the full walk does.
      ctx.events.clear();
      const m = await run('/usr/bin/unshare', ['-m', '--propagation', 'private', '/bin/sh', '-c',
        `mount --bind ${dir}/other ${target} && cat ${target} && echo`]);
      assert.equal(m.code, 0);
      assert.deepEqual(m.lines, ['y']);
      const bound = paths(ctx.events.ofPolicy(ctx.engine, name));
      assert.ok(bound.includes(target), show(bound));
      assert.ok(!bound.includes(path.join(dir, 'other')), show(bound));
    });
  });

  /**
   * A python script run chrooted in dir, on CPU 0; in a mount namespace of its
   * own when it mounts (its mounts are then not the host's: files opened there
   * are others to the cache).
   */
  function jailed(dir: string, mounts: boolean, ...lines: string[]): Promise<Awaited<ReturnType<typeof run>>> {
    const script = [
      'import ctypes, os, sys',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'os.sched_setaffinity(0, {0})',
      'os.chroot(sys.argv[1])',
      'os.chdir("/")',
      'def rd(p):',
      '    for _ in range(3): os.close(os.open(p, os.O_RDONLY))',
      ...lines,
      'print("ok")',
    ].join('\n');
    return mounts ? run('/usr/bin/unshare', ['-m', '--propagation', 'private', PY, '-c', script, dir]) : run(PY, ['-c', script, dir]);
  }

  test('a cached verdict is made again after a rename above the file or a mount moved', async () => {
    const dir = path.join(ctx.s.dir, 'moves');
    mkdirSync(path.join(dir, 'a', 'sub'), { recursive: true });
    mkdirSync(path.join(dir, 'm'), { recursive: true });
    writeFileSync(path.join(dir, 'a', 'sub', 'f'), 'x');
    await watching([{ matchArgs: [{ index: 0, operator: 'Prefix', values: ['/srv/'] }] }], async (name) => {
      const r = await jailed(dir, true,
        'rd("/a/sub/f")',                 // not below /srv: dropped, and cached
        'os.rename("/a", "/srv")',        // the same dentries, below /srv now
        'rd("/srv/sub/f")',
        'assert libc.mount(b"none", b"/m", b"tmpfs", 0, None) == 0, ctypes.get_errno()',
        'open("/m/g", "w").write("x")',
        'rd("/m/g")',
        'os.mkdir("/srv/mnt")',
        'assert libc.mount(b"/m", b"/srv/mnt", None, 8192, None) == 0, ctypes.get_errno()',  // MS_MOVE
        'rd("/srv/mnt/g")');
      const got = pathsOf(name, r);
      assert.deepEqual(got, [...Array(3).fill('/srv/sub/f'), ...Array(3).fill('/srv/mnt/g')], show(got));
    });
  });

  test('a cached verdict is made again when the policy changes', async () => {
    const dir = path.join(ctx.s.dir, 'change');
    mkdirSync(path.join(dir, 'var'), { recursive: true });
    writeFileSync(path.join(dir, 'var', 'f'), 'x');
    let first: number[] = [];
    await watching([{ matchArgs: [{ index: 0, operator: 'Prefix', values: ['/srv/'] }] }], async (name) => {
      first = ctx.engine.hookIdsOf(name);
      assert.deepEqual((await jailed(dir, false, 'rd("/var/f")')).lines, ['ok']);
      assert.deepEqual(ctx.events.ofPolicy(ctx.engine, name), []);
    });
    await watching([{ matchArgs: [{ index: 0, operator: 'Prefix', values: ['/var/'] }] }], async (name) => {
      // The same kernel hooks: their verdicts on /var/f were cached for the first policy.
      assert.deepEqual(ctx.engine.hookIdsOf(name), first);
      const r = await jailed(dir, false, 'rd("/var/f")');
      const got = pathsOf(name, r);
      assert.deepEqual(got, Array(3).fill('/var/f'), show(got));
    });
  });

  test('a Prefix is judged on the path from the process\'s root (chroot)', async () => {
    const dir = path.join(ctx.s.dir, 'jail');
    mkdirSync(path.join(dir, 'srv', 'deep'), { recursive: true });
    mkdirSync(path.join(dir, 'var'), { recursive: true });
    writeFileSync(path.join(dir, 'srv', 'deep', 'f'), 'x');
    writeFileSync(path.join(dir, 'var', 'f'), 'x');
    await watching([{ matchArgs: [{ index: 0, operator: 'Prefix', values: ['/srv/deep/'] }] }], async (name) => {
      const r = await python([
        'import os, sys',
        'd = sys.argv[1]',
        'os.close(os.open(d + "/srv/deep/f", os.O_RDONLY))',  // outside the jail: not /srv/...
        'os.chroot(d)',
        'os.chdir("/")',
        'for p in ("/srv/deep/f", "/var/f", "/srv//deep/./f", "var/../srv/deep/f"):',
        '    os.close(os.open(p, os.O_RDONLY))',
        'print("ok")',
      ], dir);
      const got = pathsOf(name, r);
      assert.deepEqual(got, ['/srv/deep/f', '/srv/deep/f', '/srv/deep/f'], show(got));
      const c = ctx.engine.counters(name);
      assert.ok(c && c.evaluated >= 5n && c.matched === 3n, show(c));
    });
  });
});
