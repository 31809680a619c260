// Real-kernel tests of the attach kinds that need kernel options: kprobe,
// kretprobe, kprobe.multi, fentry, fexit, BPF LSM. Where the feature probe
// says the kernel lacks one, the test checks that Vigil reports it as a
// NotSupportedError (the error path) and then skips with the probe's
// reason; where the kernel has it, the programs must see this process open a
// marker file.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, statSync } from 'node:fs';
import type { ObjectSpec, BpfObject } from '../src/bpf/object.js';
import type { Link } from '../src/bpf/link.js';
import { NotSupportedError } from '../src/bpf/errors.js';
import { probeAttach, requireFeature, type AttachName } from '../src/bpf/features.js';
import * as codec from '../src/bpf/codec.js';
import { requireRoot, tracefs } from './helpers.js';
import { counter, histogram, makeMarker, testObject } from './attach-util.js';

/** The kernel function the programs probe (fentry/fexit name it in their section). */
const TARGET = 'do_sys_openat2';

describe('optional attach kinds', () => {
  let kprobeSpec: ObjectSpec;
  let fentrySpec: ObjectSpec;
  let lsmSpec: ObjectSpec;
  let marker: ReturnType<typeof makeMarker>;

  before(() => {
    requireRoot();
    tracefs(); // libbpf's legacy kprobe path goes through tracefs
    kprobeSpec = testObject('attach_kprobe');
    fentrySpec = testObject('attach_fentry');
    lsmSpec = testObject('attach_lsm');
    marker = makeMarker();
  });

  after(() => {
    marker?.remove();
  });

  /** Opens the marker n times (and another file once); the descriptors it got. */
  function openMarker(n: number): number[] {
    const fds: number[] = [];
    for (let i = 0; i < n; i++) {
      const fd = openSync(marker.path, 'r');
      fds.push(fd);
      closeSync(fd);
    }
    closeSync(openSync(marker.other, 'r'));
    return fds;
  }

  /** Descriptor -> opens that returned it, as the kretprobe/fexit maps hold them. */
  function fdHistogram(fds: number[]): [bigint, number][] {
    const m = new Map<bigint, number>();
    for (const fd of fds) m.set(BigInt(fd), (m.get(BigInt(fd)) ?? 0) + 1);
    return [...m].sort(([a], [b]) => (a < b ? -1 : 1));
  }

  /**
   * requireFeature, but where the probe says "unsupported", first checks
   * `refused` (that Vigil reports the refusal as a NotSupportedError): a
   * failure after t.skip() would be reported as a skip, so it runs before.
   */
  async function requireOrRefused(t: { skip(msg: string): void }, kind: AttachName,
    refused: () => void | Promise<void>): Promise<boolean> {
    if ((await probeAttach(kind)).status === 'unsupported') await refused();
    return requireFeature(t, kind);
  }

  const markerConstants = (): Record<string, number | string> => ({ target_pid: process.pid, marker: marker.path });

  async function withLinks(attach: (() => Link)[], f: () => void | Promise<void>): Promise<void> {
    const links: Link[] = [];
    try {
      for (const a of attach) links.push(a());
      await f();
    } finally {
      for (const l of links) l.close();
    }
  }

  test('kprobe and kretprobe on a kernel function see this process open the marker', async (t) => {
    const obj = await kprobeSpec.load({ programs: ['kprobe_openat2', 'kretprobe_openat2'], constants: markerConstants() });
    try {
      const kprobe = obj.program('kprobe_openat2');
      const kretprobe = obj.program('kretprobe_openat2');
      const supported = await requireOrRefused(t, 'kprobe', () => {
        assert.throws(() => kprobe.attachKprobe(TARGET).close(), NotSupportedError);
        assert.throws(() => kretprobe.attachKprobe(TARGET, { retprobe: true }).close(), NotSupportedError);
      });
      if (!supported) return;
      let fds: number[] = [];
      await withLinks([() => kprobe.attachKprobe(TARGET), () => kretprobe.attachKprobe(TARGET, { retprobe: true })],
        () => { fds = openMarker(4); });
      openMarker(1); // detached
      assert.equal(counter(obj, 'kprobe_hits'), 4);
      assert.deepEqual(histogram(obj, 'kretprobe_fds', codec.i64), fdHistogram(fds));
    } finally {
      obj.close();
    }
  });

  test('kprobe.multi on a kernel function sees this process open the marker', async (t) => {
    const obj = await kprobeSpec.load({ programs: ['kprobe_multi_openat2'], constants: markerConstants() });
    try {
      const prog = obj.program('kprobe_multi_openat2');
      const supported = await requireOrRefused(t, 'kprobe_multi', () => {
        assert.throws(() => prog.attachKprobeMulti(TARGET).close(), NotSupportedError);
      });
      if (!supported) return;
      await withLinks([() => prog.attachKprobeMulti(TARGET)], () => { openMarker(3); });
      openMarker(1);
      assert.equal(counter(obj, 'kprobe_multi_hits'), 3);
    } finally {
      obj.close();
    }
  });

  /**
   * Loads the programs where the kernel has the kind; where it does not,
   * checks that the load is refused with a NotSupportedError and skips.
   */
  async function loadIfSupported(t: { skip(msg: string): void }, kind: AttachName, spec: ObjectSpec,
    programs: string[], constants: Record<string, number | bigint | boolean | string>): Promise<BpfObject | undefined> {
    const supported = await requireOrRefused(t, kind, async () => {
      await assert.rejects(spec.load({ programs, constants }), (e: unknown) => {
        assert.ok(e instanceof NotSupportedError, `expected NotSupportedError, got ${String(e)}`);
        assert.equal(e.feature, kind);
        return true;
      });
    });
    return supported ? spec.load({ programs, constants }) : undefined;
  }

  test('fentry on a kernel function sees this process open the marker', async (t) => {
    const obj = await loadIfSupported(t, 'fentry', fentrySpec, ['fentry_openat2'], markerConstants());
    if (!obj) return;
    try {
      await withLinks([() => obj.program('fentry_openat2').attachTrace()], () => { openMarker(5); });
      openMarker(1);
      assert.equal(counter(obj, 'fentry_hits'), 5);
    } finally {
      obj.close();
    }
  });

  test('fexit on a kernel function sees the descriptors this process got for the marker', async (t) => {
    const obj = await loadIfSupported(t, 'fexit', fentrySpec, ['fexit_openat2'], markerConstants());
    if (!obj) return;
    try {
      let fds: number[] = [];
      await withLinks([() => obj.program('fexit_openat2').attachTrace()], () => { fds = openMarker(3); });
      openMarker(1);
      assert.deepEqual(histogram(obj, 'fexit_fds', codec.i64), fdHistogram(fds));
    } finally {
      obj.close();
    }
  });

  test('LSM file_open sees this process open the marker and can refuse it', async (t) => {
    const ino = statSync(marker.path).ino;
    const constants = { target_pid: process.pid, target_ino: BigInt(ino), deny: false };
    const obj = await loadIfSupported(t, 'lsm', lsmSpec, ['lsm_file_open'], constants);
    if (!obj) return;
    try {
      await withLinks([() => obj.program('lsm_file_open').attachLsm()], () => { openMarker(2); });
      assert.equal(counter(obj, 'lsm_hits'), 2);
    } finally {
      obj.close();
    }
    const denying = await lsmSpec.load({ programs: ['lsm_file_open'], constants: { ...constants, deny: true } });
    try {
      await withLinks([() => denying.program('lsm_file_open').attachLsm()], () => {
        assert.throws(() => openSync(marker.path, 'r'), { code: 'EPERM' });
        closeSync(openSync(marker.other, 'r')); // another file: allowed
      });
      closeSync(openSync(marker.path, 'r')); // detached: allowed again
      assert.equal(counter(denying, 'lsm_hits'), 1);
    } finally {
      denying.close();
    }
  });
});
