// The agent's event stream, end to end: a real `vigil agent`, its real
// socket, `vigil events` clients and a raw gRPC client, events caused by
// this test's own execs and opens.
// - two clients with different filters on one agent each get only theirs;
// - --last and --since replay the agent's history;
// - a client that stops reading is cut off, its loss counted, while the
//   other keeps receiving.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, mkdirSync, openSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { agentService, socketTarget } from '../src/agent/proto.js';
import type { EventsResponse } from '../src/agent/hub.js';
import { requireRoot, tracefs, waitFor } from './helpers.js';
import { outputOf, TestAgent } from './agent-util.js';

describe('vigil events from one agent', { timeout: 240_000 }, () => {
  let agent: TestAgent;
  let bin: (name: string) => string;

  before(async () => {
    requireRoot();
    tracefs();
    // A busy host's events pass through too: a history long enough to hold this test's for a while.
    agent = await TestAgent.start('sensors: [exec, file]\nhistory:\n  events: 20000\n', '  clientBuffer: 64KiB\n');
    // Programs with names of their own (comm), to filter on.
    bin = (name) => {
      const p = path.join(agent.dir, name);
      copyFileSync('/usr/bin/true', p);
      return p;
    };
  });
  after(async () => {
    await agent?.stop();
  });

  test('two clients, two filters: each gets only its events', async () => {
    const files = path.join(agent.dir, 'files');
    mkdirSync(files);
    const execs = agent.vigil(['events', '--sensors', 'exec', '--comm', 'vgtest-a', '--count', '1']);
    const opens = agent.vigil(['events', '--sensors', 'file', '--path-prefix', `${files}/`, '--output', 'json', '--count', '1']);
    const [a, b] = [outputOf(execs), outputOf(opens)];
    await agent.waitClients(2);
    execFileSync(bin('vgtest-a'));
    closeSync(openSync(path.join(files, 'x'), 'w'));
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra.status, 0, ra.stderr);
    assert.equal(rb.status, 0, rb.stderr);
    assert.match(ra.stdout, /🚀 process \d+ \S*vgtest-a/);
    assert.doesNotMatch(ra.stdout, /files\/x/);
    const ev = JSON.parse(rb.stdout.trim()) as { file?: { path?: string } };
    assert.ok(ev.file, rb.stdout);
    assert.match(rb.stdout, new RegExp(`${files}/x`));
    assert.doesNotMatch(rb.stdout, /vgtest-a|process_exec/);
  });

  test('--last and --since replay the history', async () => {
    execFileSync(bin('vgtest-h'));
    // Both asked at once: on a host busy enough (a build's file events) the history turns over in seconds.
    const [last, since] = await Promise.all([
      outputOf(agent.vigil(['events', '--sensors', 'exec', '--comm', 'vgtest-h', '--last', '1'])),
      outputOf(agent.vigil(['events', '--sensors', 'exec', '--comm', 'vgtest-h', '--since', '5m', '-o', 'json'])),
    ]);
    assert.equal(last.status, 0, last.stderr);
    assert.match(last.stdout, /vgtest-h/);
    assert.equal(last.stdout.trim().split('\n').length, 1);
    assert.equal(since.status, 0, since.stderr);
    assert.match(since.stdout, /"process_exec"/);
    const none = await outputOf(agent.vigil(['events', '--sensors', 'exec', '--comm', 'vgtest-h', '--since', '2099-01-01T00:00:00Z']));
    assert.equal(none.stdout, '', 'nothing from the future');
  });

  test('a client that stops reading is cut off and counted; the other goes on', async () => {
    const storm = path.join(agent.dir, 'storm');
    mkdirSync(storm);
    const Service = agentService();
    const raw = new Service(socketTarget(agent.socket), grpc.credentials.createInsecure());
    const stalled = (raw as unknown as { GetEvents(r: object): grpc.ClientReadableStream<EventsResponse> }).GetEvents({
      kinds: ['file'], pathPrefixes: [`${storm}/`], output: { format: 'json' },
    });
    stalled.pause(); // never reads: the agent's queue for it fills
    let status: grpc.ServiceError | undefined;
    stalled.on('error', (e: grpc.ServiceError) => { status = e; });
    const other = agent.vigil(['events', '--sensors', 'exec', '--comm', 'vgtest-b', '--count', '1']);
    const otherOut = outputOf(other);
    try {
      await agent.waitClients(2);
      const before = await agent.health();
      // Far more than the client buffer (64 KiB), the HTTP/2 window and the socket's buffers.
      const f = path.join(storm, 'f');
      for (let round = 0; round < 20 && Number((await agent.health()).clientsCutOff) === Number(before.clientsCutOff); round++) {
        for (let i = 0; i < 2000; i++) closeSync(openSync(f, 'w'));
        await new Promise((r) => setTimeout(r, 200));
      }
      const h = await agent.health();
      assert.equal(Number(h.clientsCutOff), Number(before.clientsCutOff) + 1, 'the stalled client was cut off');
      assert.ok(Number(h.clientEventsLost) > Number(before.clientEventsLost), 'its loss is counted');
      assert.ok(agent.line('event stream client cut off: not keeping up'), 'and logged');
      // The other client still gets its events.
      execFileSync(bin('vgtest-b'));
      const r = await otherOut;
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /vgtest-b/);
      // The stalled client, reading again, gets what was queued and then why it ended.
      stalled.resume();
      stalled.on('data', () => undefined);
      assert.ok(await waitFor(() => status !== undefined, 20_000, 20), 'the stalled stream ended');
      assert.ok(status!.code === grpc.status.RESOURCE_EXHAUSTED || status!.code === grpc.status.CANCELLED, String(status));
      if (status!.code === grpc.status.RESOURCE_EXHAUSTED) assert.match(status!.details, /cut off: not reading fast enough/);
    } finally {
      stalled.cancel();
      raw.close();
      other.kill();
    }
  });
});
