// The Sensor base on the real kernel: every sensor answers the same questions
// (name, stats, filter counts, losses) and closes the same way (idempotent,
// reads what its ring holds, leaves no descriptor behind), whatever it
// watches. Events come from real syscalls of this process.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProcessSensor } from '../src/sensors/process.js';
import { FileSensor } from '../src/sensors/file.js';
import { FilterSet } from '../src/sensors/filter.js';
import { ProcessCache } from '../src/process/cache.js';
import type { Sensor } from '../src/sensors/sensor.js';
import type { FileEvent } from '../src/sensors/file-events.js';
import type { ProcessEvent } from '../src/sensors/events.js';
import { missingFeature, openFdCount, requireRoot, waitFor } from './helpers.js';

describe('Sensor', () => {
  let skip: string | undefined;
  before(async () => {
    requireRoot();
    skip = await missingFeature(['tracepoint'], ['bpf_loop']);
  });

  test('process and file sensors: one face (name, stats, filter counts), staged close, no leak', async (t) => {
    if (skip) return t.skip(skip);
    const fdsBefore = openFdCount();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-sensor-'));
    const file = path.join(dir, 'seen');
    const files: FileEvent[] = [];
    const procs: ProcessEvent[] = [];
    {
      using filter = new FilterSet({ pids: [process.pid], followChildren: true });
      using cache = new ProcessCache();
      const proc = await ProcessSensor.start({ cache, filter, onEvent: (e) => procs.push(e) });
      const fs = await FileSensor.start({ filter, onEvent: (e) => files.push(e) });
      const sensors: Sensor[] = [proc, fs];
      try {
        closeSync(openSync(file, 'w'));
        assert.equal(spawnSync('/bin/true').status, 0);
        assert.ok(await waitFor(() => {
          for (const s of sensors) s.drain();
          return files.some((e) => e.path === file) && procs.some((e) => e.kind === 'exit' && e.process.binary === '/usr/bin/true');
        }, 5000), 'the open and the child seen');
        for (const s of sensors) {
          const st = s.stats();
          assert.equal(st.sensor, s.name);
          assert.ok(st.records > 0 && st.batches > 0, `${s.name}: records read`);
          assert.equal(st.malformed, 0);
          assert.equal(st.lost, s.lost);
          // The --pid filter ran in this sensor's programs and passed this process's events.
          assert.ok(st.filter && st.filter.passed > 0n, `${s.name}: filter counts ${String(st.filter?.passed)}`);
        }
        assert.deepEqual(sensors.map((s) => s.name), ['process', 'file']);
      } finally {
        for (const s of sensors) s.close();
      }
      for (const s of sensors) {
        assert.ok(s.closed);
        s.close(); // idempotent
        assert.equal(s.drain(), 0);
        assert.equal(s.backlog, false);
        assert.throws(() => s.filterCounts(), /sensor is closed/);
      }
    }
    rmSync(dir, { recursive: true, force: true });
    assert.equal(openFdCount(), fdsBefore, 'every descriptor closed');
  });
});
