// The bandwidth manager's pure parts: rates, priorities and bursts as the
// CLI takes them, and the current-rate estimate from per-CPU windows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  burstBytes, burstNs, currentRate, formatRate, parsePriority, parseRate, MAX_RATE_BITS, MIN_RATE_BITS,
} from '../src/network/bandwidth-rate.js';
import type { VigilBwClassStats } from '../src/generated/bandwidth.js';

test('rates: tc units, bits and bytes, SI and IEC; bare numbers and out-of-range values refused', () => {
  const bits = (s: string): number => {
    const r = parseRate(s);
    assert.ok('bits' in r, `${s}: ${'error' in r ? r.error : ''}`);
    return r.bits;
  };
  assert.equal(bits('10mbit'), 10e6);
  assert.equal(bits('1.5gbit'), 1.5e9);
  assert.equal(bits('500kbit'), 500e3);
  assert.equal(bits('10MBIT'), 10e6);
  assert.equal(bits('1mibit'), 1 << 20);
  assert.equal(bits('1mbps'), 8e6, 'bps is bytes per second, as in tc');
  assert.equal(bits(' 8kbit '), MIN_RATE_BITS);
  for (const bad of ['10', 'fast', '-5mbit', '10 mbits', '', '1e3mbit']) assert.ok('error' in parseRate(bad), bad);
  assert.match((parseRate('1bit') as { error: string }).error, /from 8kbit to 400gbit/);
  assert.ok('error' in parseRate(`${MAX_RATE_BITS / 1e9 + 1}gbit`));
});

test('formatRate picks the largest unit that keeps the number >= 1', () => {
  const cases: [number, string][] = [[10e6, '10mbit'], [1.5e9, '1.5gbit'], [800e3, '800kbit'], [12, '12bit']];
  assert.deepEqual(cases.map(([bits]) => formatRate(bits)), cases.map(([, text]) => text));
});

test('priorities: 0..15 or a name from fq\'s default priomap', () => {
  assert.deepEqual(parsePriority('interactive'), { priority: 6 });
  assert.deepEqual(parsePriority('bulk'), { priority: 2 });
  assert.deepEqual(parsePriority('15'), { priority: 15 });
  for (const bad of ['16', '-1', 'urgent', '1.5']) assert.ok('error' in parsePriority(bad), bad);
});

test('burst: 10 ms at the rate by default, as time at the rate for the kernel', () => {
  assert.equal(burstBytes(8e6), 10_000);
  assert.equal(burstBytes(8e6, 65536), 65536);
  assert.equal(burstNs(8e6, 10_000), 10_000_000n);
  assert.equal(burstNs(0, 10_000), 0n, 'no rate: no burst');
});

test('current rate: each CPU\'s last complete window, none for a CPU idle for two windows', () => {
  const cpu = (winStart: bigint, prevBytes: bigint, prevNs: bigint): VigilBwClassStats => ({
    packets: 0n, bytes: 0n, delayed: 0n, horizon_drops: 0n, win_start_ns: winStart, win_bytes: 0n, prev_bytes: prevBytes, prev_ns: prevNs,
  });
  const now = 10_000_000_000n;
  // 1,250,000 bytes over 1 s = 10 Mbit/s, plus 125,000 over 0.5 s = 2 Mbit/s on another CPU.
  assert.equal(currentRate([cpu(now - 200_000_000n, 1_250_000n, 1_000_000_000n), cpu(now - 100_000_000n, 125_000n, 500_000_000n)], now), 12e6);
  assert.equal(currentRate([cpu(now - 2_500_000_000n, 1_250_000n, 1_000_000_000n)], now), 0, 'idle since');
  assert.equal(currentRate([cpu(0n, 0n, 0n)], now), 0, 'never ran');
});
