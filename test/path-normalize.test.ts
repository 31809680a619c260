// vigil_path_normalize (bpf/include/vigil/path.h) on the real kernel: paths
// put into the program's .bss are normalised in place when this process calls
// getppid (bpf/testdata/normalize.bpf.c), and compared with what the text
// must become: a fixed table of the cases that hide a path ("..", ".", "//",
// a trailing '/'), each of them at every position around the 8-byte steps of
// the scan that skips already normal paths, then seeded random paths against
// a reference written here.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectSpec } from '../src/bpf/index.js';
import type { BpfObject } from '../src/bpf/index.js';
import { bpfObjectPath } from '../src/util/paths.js';
import { getppid, requireRoot, tracefs } from './helpers.js';

const MASK = 8191;
const SENTINEL = 0xa5;

/** The expected result: components, "." dropped, ".." pops (never above "/"), no empty ones. */
function reference(p: string): string {
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return `/${out.join('/')}`;
}

class Normalizer {
  private readonly bss;
  private readonly vars;
  constructor(private readonly obj: BpfObject) {
    const bss = [...obj.maps.values()].find((m) => m.name.endsWith('.bss'));
    assert.ok(bss);
    this.bss = bss;
    this.vars = obj.spec.variables;
  }

  private off(name: string): number {
    const v = this.vars.get(name);
    assert.ok(v, name);
    return v.offset;
  }

  /** Normalises text placed at buf[start...]; the bytes around it are sentinels that must survive. */
  run(text: string, start = 0): { out: string; flags: number; after: number[] } {
    const key = Buffer.alloc(4);
    const data = this.bss.lookup(key);
    assert.ok(data);
    const bytes = Buffer.from(text, 'utf8');
    const buf = this.off('buf');
    data.fill(SENTINEL, buf, buf + MASK + 1);
    bytes.copy(data, buf + start);
    data.writeUInt32LE(start, this.off('start'));
    data.writeUInt32LE(bytes.length, this.off('len'));
    const runs = data.readUInt32LE(this.off('runs'));
    this.bss.update(key, data);
    getppid(1);
    const got = this.bss.lookup(key);
    assert.ok(got);
    assert.equal(got.readUInt32LE(this.off('runs')), runs + 1, 'the program ran once');
    const n = got.readUInt32LE(this.off('out_len'));
    assert.ok(n <= bytes.length, `${n} bytes out of ${bytes.length}`);
    const end = buf + start + bytes.length;
    return {
      out: got.subarray(buf + start, buf + start + n).toString('utf8'),
      flags: got.readUInt32LE(this.off('flags')),
      after: [...got.subarray(end, Math.min(end + 8, buf + MASK + 1)), ...(start ? [got[buf + start - 1] ?? 0] : [])],
    };
  }
}

describe('vigil_path_normalize', () => {
  let spec: ObjectSpec;
  before(() => {
    requireRoot();
    tracefs();
    spec = ObjectSpec.fromFile(bpfObjectPath('testdata/normalize'));
  });

  test('the evasions and the edge cases', async () => {
    using obj = await spec.load({ constants: { target_pid: process.pid } });
    using _link = obj.program('normalize').attach();
    const n = new Normalizer(obj);
    const cases: [string, string][] = [
      ['/', '/'],
      ['/etc/shadow', '/etc/shadow'],
      ['/tmp/../etc/shadow', '/etc/shadow'],
      ['//etc/shadow', '/etc/shadow'],
      ['/etc//shadow', '/etc/shadow'],
      ['/etc/./shadow', '/etc/shadow'],
      ['/etc/shadow/', '/etc/shadow'],
      ['/etc/shadow/.', '/etc/shadow'],
      ['/etc/x/..', '/etc'],
      ['/etc/x/../', '/etc'],
      ['/..', '/'],
      ['/.', '/'],
      ['///', '/'],
      ['/../../etc/./../etc//shadow', '/etc/shadow'],
      ['/a/b/c/../../d', '/a/d'],
      ['/a/./././b', '/a/b'],
      ['/a/...', '/a/...'],
      ['/a/..b/.c/c./c..', '/a/..b/.c/c./c..'],
      ['/a/b/../../..', '/'],
      ['/tmp/vigil dir/ü/../x', '/tmp/vigil dir/x'],
    ];
    for (const [input, want] of cases) {
      const r = n.run(input);
      assert.equal(r.out, want, input);
      assert.equal(r.flags, 0, input);
      assert.deepEqual(r.after.filter((b) => b !== SENTINEL), [], `${input}: nothing written past the input`);
    }
  });

  test('at any start, up to the end of the buffer; a relative path is left alone and flagged', async () => {
    using obj = await spec.load({ constants: { target_pid: process.pid } });
    using _link = obj.program('normalize').attach();
    const n = new Normalizer(obj);
    const p = '/usr/./lib//x/../libc.so.6';
    assert.equal(n.run(p, 1000).out, '/usr/lib/libc.so.6');
    const atEnd = n.run(p, MASK + 1 - p.length);
    assert.equal(atEnd.out, '/usr/lib/libc.so.6');
    assert.deepEqual(atEnd.after, [SENTINEL]);
    const rel = n.run('etc/../x');
    assert.deepEqual([rel.out, rel.flags], ['etc/../x', 1]);
    // Past the buffer's end: refused, not wrapped around.
    assert.deepEqual(n.run(p, MASK + 2 - p.length).flags, 1);
  });

  test('long paths and seeded random ones match the reference', async () => {
    using obj = await spec.load({ constants: { target_pid: process.pid } });
    using _link = obj.program('normalize').attach();
    const n = new Normalizer(obj);
    // 4095 bytes: PATH_MAX, mostly components a ".." cancels.
    const long = `/${'abcdefg/../'.repeat(372)}etc/shadow`.slice(0, 4095);
    assert.equal(long.length, 4095);
    assert.equal(n.run(long).out, reference(long));
    // A "//", "/." or trailing '/' at every position of paths around the scan's 8-byte steps.
    for (let len = 2; len <= 40; len++) {
      const plain = `/${'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH'.slice(0, len - 1)}`;
      assert.equal(n.run(plain).out, plain, 'already normal');
      for (let at = 1; at < len; at++) {
        for (const insert of ['/', '/.', '/./', '/..']) {
          const p = `${plain.slice(0, at)}${insert}${plain.slice(at)}`;
          assert.equal(n.run(p).out, reference(p), p);
        }
      }
      assert.equal(n.run(`${plain}/`).out, plain, `${plain}/`);
    }
    let seed = 0x2545f491;
    const rand = (k: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % k;
    };
    const parts = ['', '.', '..', '...', 'a', 'bb', '.c', 'd..'];
    for (let i = 0; i < 300; i++) {
      const len = 1 + rand(12);
      let p = '';
      for (let j = 0; j < len; j++) p += `/${parts[rand(parts.length)]}`;
      if (rand(4) === 0) p += '/';
      const r = n.run(p, rand(64));
      assert.equal(r.out, reference(p), p);
      assert.equal(r.flags, 0, p);
    }
  });
});
