// Issue 11, item 2: memory that holds under process churn. Counts, not
// timings: RSS is sampled from /proc while real processes are spawned.
//
// 1. The agent as users run it (bin/vigil, all process and file sensors,
//    JSON): its RSS stays under 200 MiB through 20,000 short-lived processes
//    (bench/memory.ts runs 100,000 and the other commands).
// 2. The process cache under the real process sensor, with a small bound:
//    it never holds more than the bound, evicts to stay there, and after the
//    churn and its grace period holds no more than the processes alive.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { Agent, execChurn } from '../bench/agent.js';
import { ProcessSensor } from '../src/sensors/process.js';
import { ProcessCache } from '../src/process/cache.js';
import { requireRoot, tracefs, waitFor } from './helpers.js';

const PROCESSES = 20_000;
const RSS_BOUND_KIB = 200 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('memory under process churn', () => {
  before(() => {
    requireRoot();
    tracefs();
  });

  test(`vigil observe (all sensors, json): RSS under 200 MiB through ${PROCESSES} processes`, async () => {
    const agent = await Agent.start(
      { name: 'observe', args: ['observe', '--sensors', 'exec,exit,fork,file', '--output', 'json'] }, { stdout: 'null' });
    let peak = 0;
    let samples = 0;
    try {
      const start = agent.sample();
      assert.ok(start, 'the agent is running');
      const poll = setInterval(() => {
        const s = agent.sample();
        if (s) {
          peak = Math.max(peak, s.rssKiB);
          samples++;
        }
      }, 100);
      let made: number;
      try {
        made = await execChurn(PROCESSES);
        await sleep(500); // the agent reads what the churn left in its rings
      } finally {
        clearInterval(poll);
      }
      const end = agent.sample();
      assert.ok(end, `the agent survived the churn: ${agent.stderr}`);
      peak = Math.max(peak, end.rssKiB);
      assert.equal(made, PROCESSES);
      assert.ok(samples > 10, `RSS was sampled during the churn (${samples} samples)`);
      assert.equal(end.fds, start.fds, 'no descriptor leaked');
      assert.ok(peak < RSS_BOUND_KIB, `peak RSS ${(peak / 1024).toFixed(0)} MiB (start ${(start.rssKiB / 1024).toFixed(0)} MiB)`);
      // Stopping reads what the rings still hold: after a storm that can be a full ring (bounded wait).
      const stop = await agent.stop('SIGTERM', { timeoutMs: 120_000 });
      assert.equal(stop.code, 0, `status ${stop.code ?? stop.signal}: ${agent.stderr}`);
    } finally {
      agent.kill();
    }
  });

  test(`process cache under the real sensor: bounded through ${PROCESSES} processes, then back to the live ones`, async () => {
    const maxEntries = 2000;
    const graceMs = 1000;
    const cache = new ProcessCache({ maxEntries, graceMs, sweepIntervalMs: 100 });
    let peak = 0;
    let batches = 0;
    const sensor = await ProcessSensor.start({
      cache, kinds: [], onEvent: () => undefined, forks: true,
      onBatchEnd: () => {
        batches++;
        peak = Math.max(peak, cache.size);
      },
    });
    try {
      await execChurn(PROCESSES);
      sensor.drain();
      peak = Math.max(peak, cache.size);
      const s = cache.stats;
      assert.ok(batches > 0 && s.execs >= PROCESSES, `the sensor fed the cache (${s.execs} execs, ${batches} batches)`);
      assert.ok(peak <= maxEntries, `peak ${peak} entries, bound ${maxEntries}`);
      assert.ok(s.evictedRetired + s.expired > 0, 'the bound and the grace period were exercised');
      // After the grace period: the processes alive now (and images pinned by their children), not the churn's.
      const alive = (): number => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).length;
      // Exits lost to a full ring leave live images: reconcile() finds them in /proc within a few rounds.
      await waitFor(() => cache.size <= alive() + 64, 30_000, 200);
      assert.ok(cache.size <= alive() + 64, `${cache.size} entries after the grace period, ${alive()} processes alive`);
    } finally {
      sensor.close();
      cache.close();
    }
  });
});
