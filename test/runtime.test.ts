// The runtime against the real kernel: spec parsing, constants, maps,
// ring and perf buffers, verifier errors, descriptor hygiene.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectSpec, TypedMap, PerCpuMap, RingBufferReader, PerfBufferReader, VerifierError, codec,
  numPossibleCpus, BpfMap, MapType, summarizeVerifierLog } from '../src/bpf/index.js';
import { bpfObjectPath } from '../src/util/paths.js';
import { vigilTestRecord, vigilTestKey, vigilTestValue } from '../src/generated/testdata.js';
import { getppid, openFdCount, requireRoot, tracefs, waitFor } from './helpers.js';

const objPath = bpfObjectPath('testdata/runtime');

describe('ObjectSpec (no kernel)', () => {
  test('lists programs, maps and globals from the ELF and its BTF', () => {
    const spec = ObjectSpec.fromFile(objPath);
    assert.deepEqual([...spec.programs.keys()].sort(), ['perfbuf_getppid', 'ringbuf_getppid', 'verifier_reject']);
    const rb = spec.programs.get('ringbuf_getppid');
    assert.equal(rb?.section, 'tracepoint/syscalls/sys_enter_getppid');
    assert.equal(rb?.typeName, 'tracepoint');
    assert.equal(spec.maps.get('events')?.type, MapType.ringbuf);
    assert.equal(spec.maps.get('table')?.keySize, vigilTestKey.size);
    assert.equal(spec.maps.get('table')?.valueSize, vigilTestValue.size);
    assert.equal(spec.variables.get('target_pid')?.section, '.rodata');
    assert.equal(spec.variables.get('target_pid')?.size, 4);
    assert.equal(spec.variables.get('hits')?.section, '.bss');
  });

  test('rejects constants that do not exist or do not fit', async () => {
    const spec = ObjectSpec.fromFile(objPath);
    await assert.rejects(spec.load({ constants: { nope: 1 } }), /no global variable named nope/);
    await assert.rejects(spec.load({ constants: { target_pid: 2 ** 32 } }), /does not fit a 4-byte unsigned/);
    await assert.rejects(spec.load({ programs: ['missing'] }), /no program named missing/);
  });

  test('summarizes a verifier log to its reason', () => {
    const log = '0: R1=ctx() R10=fp0\n; v = ...\n5: (79) r0 = *(u64 *)(r0 +0)\nR0 invalid mem access \'map_value_or_null\'\n' +
      'verification time 20 usec\nstack depth 8\nprocessed 6 insns (limit 1000000)\n';
    assert.equal(summarizeVerifierLog(log), "5: (79) r0 = *(u64 *)(r0 +0) -> R0 invalid mem access 'map_value_or_null'");
  });
});

describe('loaded objects (real kernel)', () => {
  before(() => {
    requireRoot();
    tracefs();
  });

  test('a rejected program raises VerifierError with the whole log', async () => {
    const spec = ObjectSpec.fromFile(objPath);
    const err = await spec.load({ programs: ['verifier_reject'] }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof VerifierError, `expected VerifierError, got ${String(err)}`);
    assert.equal(err.programName, 'verifier_reject');
    assert.equal(err.errno, 13 /* EACCES */);
    assert.match(err.summary, /invalid mem access 'map_value_or_null'/);
    assert.match(err.log, /processed \d+ insns|R0/);
    assert.ok(err.log.split('\n').length > 3, 'the full log is kept');
  });

  test('ring buffer: every record arrives, in batches, decoded in place', async () => {
    const spec = ObjectSpec.fromFile(objPath);
    using obj = await spec.load({ programs: ['ringbuf_getppid'], constants: { target_pid: process.pid, cookie: 0xfeedn } });
    const seen: bigint[] = [];
    let cookieOk = true;
    let batches = 0;
    using reader = RingBufferReader.open(obj.map('events'), {
      lostCounter: obj.map('vigil_lost'),
      onRecord: (view, off, size) => {
        assert.equal(size, vigilTestRecord.size);
        const r = vigilTestRecord.decode(view, off);
        seen.push(r.seq);
        if (r.pid !== process.pid || r.cookie !== 0xfeedn) cookieOk = false;
      },
      onBatchEnd: () => batches++,
    });
    using link = obj.program('ringbuf_getppid').attach();
    assert.match(link.description, /sys_enter_getppid/);
    getppid(1000);
    await waitFor(() => seen.length >= 1000);
    reader.drain();
    assert.equal(seen.length, 1000);
    assert.ok(cookieOk, 'pid and cookie (a .rodata constant) decoded from every record');
    assert.deepEqual(seen, seen.slice().sort((a, b) => (a < b ? -1 : 1)), 'in order');
    assert.ok(batches < 1000, `1000 records came in ${batches} batches, not one call each`);
    assert.equal(reader.stats.lost, 0);
    // Globals in .bss are maps too: the program's counter agrees.
    const bss = [...obj.maps.values()].find((m) => m.name.endsWith('.bss'));
    assert.ok(bss);
    const hitsVar = spec.variables.get('hits');
    assert.ok(hitsVar);
    const bssValue = bss.lookup(Buffer.alloc(4));
    assert.equal(bssValue?.readBigUInt64LE(hitsVar.offset), 1000n);
    const perCpu = new PerCpuMap(obj.map('percpu_hits'), codec.u32, codec.u64);
    const counts = perCpu.get(0);
    assert.equal(counts?.length, numPossibleCpus());
    assert.equal(counts?.reduce((a, b) => a + b, 0n), 1000n);
  });

  test('a handler may close its reader: no record is delivered after that', async () => {
    using obj = await ObjectSpec.fromFile(objPath).load({ programs: ['ringbuf_getppid'], constants: { target_pid: process.pid } });
    let n = 0;
    const reader = RingBufferReader.open(obj.map('events'), {
      lostCounter: obj.map('vigil_lost'),
      onRecord: () => {
        if (++n === 5) reader.close();
      },
    });
    using _link = obj.program('ringbuf_getppid').attach();
    getppid(50);
    reader.drain();
    await new Promise((r) => setImmediate(r));
    assert.equal(n, 5);
    assert.equal(reader.drain(), 0, 'closed');
  });

  test('a paused reader reads nothing on wakeups or ticks; resumed, it reads on; a bounded drain leaves a backlog', async () => {
    using obj = await ObjectSpec.fromFile(objPath).load({ programs: ['ringbuf_getppid'], constants: { target_pid: process.pid } });
    const seen: bigint[] = [];
    using reader = RingBufferReader.open(obj.map('events'), {
      lostCounter: obj.map('vigil_lost'),
      pollIntervalMs: 10,
      // A small batch: half of it is 8 KiB, well under what 2000 records take.
      batchBytes: 16 << 10,
      boundedDrain: true,
      onRecord: (view, off) => void seen.push(vigilTestRecord.decode(view, off).seq),
    });
    using _link = obj.program('ringbuf_getppid').attach();
    reader.pause();
    assert.equal(reader.paused, true);
    getppid(2000);
    // Wakeups and several poll ticks pass: nothing is read.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen.length, 0);
    // One bounded drain reads part of the ring and says more is waiting.
    const first = reader.drain();
    assert.ok(first > 0 && first < 2000, `one drain read ${first}`);
    assert.equal(reader.backlog, true);
    reader.resume();
    assert.ok(await waitFor(() => seen.length === 2000, 5000), `${seen.length} of 2000 after resume`);
    assert.deepEqual(seen, seen.slice().sort((a, b) => (a < b ? -1 : 1)), 'in order, none twice');
    assert.equal(reader.stats.lost, 0);
  });

  test('perf buffer reader (kernels before 5.8) delivers every record with its CPU', async () => {
    using obj = await ObjectSpec.fromFile(objPath).load({ programs: ['perfbuf_getppid'], constants: { target_pid: process.pid } });
    const cpus = new Set<number>();
    let n = 0;
    using reader = PerfBufferReader.open(obj.map('perf_events'), {
      onRecord: (view, off, size, cpu) => {
        assert.ok(size >= vigilTestRecord.size);
        assert.equal(vigilTestRecord.decode(view, off).pid, process.pid);
        cpus.add(cpu);
        n++;
      },
      pollIntervalMs: 10,
    });
    using _link = obj.program('perfbuf_getppid').attach();
    getppid(500);
    await waitFor(() => n >= 500);
    assert.equal(n, 500);
    assert.equal(reader.stats.lost, 0);
    assert.ok([...cpus].every((c) => c >= 0 && c < numPossibleCpus()));
  });

  test('typed maps: get/set/delete/entries, batch update, sizes checked', async () => {
    using obj = await ObjectSpec.fromFile(objPath).load({ programs: ['ringbuf_getppid'] });
    const table = new TypedMap(obj.map('table'), vigilTestKey, vigilTestValue);
    assert.throws(() => new TypedMap(obj.map('table'), codec.u32, vigilTestValue), /key codec is 4 bytes, map key is 8/);
    assert.equal(table.get({ pid: 1, slot: 2 }), undefined);
    table.set({ pid: 1, slot: 2 }, { count: 5n, sum: 7n, label: 'hello', flags: 3 });
    assert.deepEqual(table.get({ pid: 1, slot: 2 }), { count: 5n, sum: 7n, label: 'hello', flags: 3 });
    assert.equal(table.delete({ pid: 1, slot: 2 }), true);
    assert.equal(table.delete({ pid: 1, slot: 2 }), false);
    const raw = obj.map('table');
    raw.updateBatch(Array.from({ length: 300 }, (_, i) => {
      const k = Buffer.alloc(vigilTestKey.size);
      k.writeUInt32LE(i, 0);
      const v = Buffer.alloc(vigilTestValue.size);
      v.writeBigUInt64LE(BigInt(i * 2), 0);
      return [k, v] as [Buffer, Buffer];
    }));
    const entries = [...table.entries()];
    assert.equal(entries.length, 300);
    assert.ok(entries.every(([k, v]) => v.count === BigInt(k.pid * 2)));
    assert.equal(raw.drain().length, 300);
    assert.equal([...table.keys()].length, 0);
  });

  test('maps created outside an object', () => {
    using m = BpfMap.create({ name: 'vigil_t', type: MapType.array, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0 });
    const a = new TypedMap(m, codec.u32, codec.u64);
    a.set(3, 42n);
    assert.equal(a.get(3), 42n);
    assert.equal([...a.entries()].length, 4);
  });

  test('load/attach/read/close cycles leave no descriptor behind', async () => {
    const spec = ObjectSpec.fromFile(objPath);
    const cycle = async (): Promise<void> => {
      const obj = await spec.load({ programs: ['ringbuf_getppid', 'perfbuf_getppid'], constants: { target_pid: process.pid } });
      let n = 0;
      const rb = RingBufferReader.open(obj.map('events'), { lostCounter: obj.map('vigil_lost'), onRecord: () => n++ });
      const pb = PerfBufferReader.open(obj.map('perf_events'), { onRecord: () => n++ });
      const l1 = obj.program('ringbuf_getppid').attach();
      const l2 = obj.program('perfbuf_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
      getppid(10);
      rb.drain();
      pb.drain();
      assert.equal(n, 20);
      new TypedMap(obj.map('table'), vigilTestKey, vigilTestValue).set({ pid: 1, slot: 1 }, { count: 1n, sum: 1n, label: '', flags: 0 });
      l1.close();
      l2.close();
      rb.close();
      pb.close();
      obj.close();
    };
    await cycle(); // warm-up: lazily opened descriptors (BTF, probes) are not leaks
    const before = openFdCount();
    for (let i = 0; i < 20; i++) await cycle();
    assert.equal(openFdCount(), before);
  });
});
