// Flow records at connection churn, counted (issue 12): a paced, bounded
// churn of loopback connections while `vigil observe --sensors flow` writes
// to a file on /dev/shm gives exactly one close record per socket (two per
// connection: both ends are on this host), and with opens a connect and an
// accept more, with nothing lost. Counts only: no timing is asserted.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { repoPath } from '../src/util/paths.js';
import { countLines, untilQuiet } from '../bench/storm.js';
import { missingFeature, requireRoot, tracefs } from './helpers.js';
import { Child, sleep } from './attach-util.js';

/**
 * argv: connections, connections per second. A server and its clients in one
 * process: prints "port N", starts on a line on stdin, connects 8 at a time
 * at the rate, each connection sending a byte that the server answers by
 * closing (its end goes to TIME_WAIT, the client's ports stay free); prints
 * "done <closed> <failed>".
 */
const CHURN = `
const net = require('node:net');
const say = (s) => require('node:fs').writeSync(1, s + '\\n');
const [total, rate] = [Number(process.argv[1]), Number(process.argv[2])];
const srv = net.createServer((c) => { c.on('data', () => c.end()); c.on('error', () => {}); });
srv.listen(0, '127.0.0.1', () => {
  const port = srv.address().port;
  say('port ' + port);
  process.stdin.once('data', async () => {
    let closed = 0, failed = 0;
    const one = () => new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => c.write('x'));
      c.on('end', () => c.end());
      c.on('error', () => { failed++; });
      c.on('close', (hadError) => { if (!hadError) closed++; resolve(); });
    });
    const t0 = Date.now();
    for (let i = 0; i < total; i += 8) {
      await Promise.all(Array.from({ length: Math.min(8, total - i) }, one));
      const due = t0 + ((i + 8) * 1000) / rate;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
    say('done ' + closed + ' ' + failed);
    srv.close();
  });
});
setTimeout(() => process.exit(3), 300000).unref();
`;

describe('flow records at connection churn (real kernel)', () => {
  const children: (Child | ChildProcess)[] = [];
  const files: string[] = [];
  /** Why the flow sensor cannot run here (the feature probes' reason); undefined: it can. */
  let missing: string | undefined;

  before(async () => {
    requireRoot();
    tracefs();
    missing = await missingFeature(['tp_btf', 'cgroup_skb']);
  });

  after(() => {
    for (const c of children) {
      if (c instanceof Child) c.kill();
      else if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    for (const f of files) rmSync(f, { force: true });
  });

  /**
   * Runs the churn under `vigil observe` (its flows of the churn's port only)
   * and returns the records in its output, its losses as it reported them
   * (stderr, and lost records in the output) and the connections made.
   */
  async function churn(connections: number, rate: number, args: string[]): Promise<{ records: number; lostText: string;
    lostRecords: number; closed: number }> {
    const load = new Child(process.execPath, ['-e', CHURN, String(connections), String(rate)]);
    children.push(load);
    const port = Number((await load.line(/^port (\d+)$/))[1]);
    const file = `/dev/shm/vigil-flow-churn-${process.pid}-${files.length}.json`;
    files.push(file);
    const fd = openSync(file, 'w');
    let err = '';
    let cli: ChildProcess;
    try {
      cli = spawn(process.execPath, [repoPath('bin', 'vigil'), 'observe', '--sensors', 'flow', '--output', 'json',
        '--port', String(port), ...args], { stdio: ['ignore', fd, 'pipe'] });
    } finally {
      closeSync(fd);
    }
    children.push(cli);
    cli.stderr!.setEncoding('utf8');
    cli.stderr!.on('data', (s: string) => { err += s; });
    const exited = new Promise<number | null>((resolve) => cli.once('close', resolve));
    const ready = Date.now() + 60_000;
    while (!err.includes('watching') && Date.now() < ready && cli.exitCode === null) await sleep(20);
    assert.ok(err.includes('watching'), `vigil observe did not start: ${err}`);

    load.go();
    const done = await load.line(/^done (\d+) (\d+)$/, 240_000);
    const closed = Number(done[1]);
    assert.equal(Number(done[2]), 0, 'every connection of the churn succeeded');
    assert.equal(closed, connections);
    // Until the output has not grown for 2 s (bounded): Vigil may still be writing what it read.
    await untilQuiet(file, 2000, 120_000);
    cli.kill('SIGINT');
    assert.equal(await exited, 0, err);
    return {
      records: countLines(file, `_port":${port},`),
      lostText: err.split('\n').filter((l) => /lost|dropped|not written/.test(l)).join('\n'),
      lostRecords: countLines(file, '{"lost":'),
      closed,
    };
  }

  test('20,000 connections at 5,000/s, closes only: exactly two close records each, none lost', async (t) => {
    if (missing) return t.skip(`the flow sensor cannot run here: ${missing}`);
    const r = await churn(20_000, 5_000, ['--tcp-flags', 'FIN', '--tcp-flags', 'RST']);
    assert.equal(r.lostText, '', 'nothing lost');
    assert.equal(r.lostRecords, 0);
    assert.equal(r.records, 2 * r.closed);
  });

  test('5,000 connections at 5,000/s with opens: connect, accept and two closes each, none lost', async (t) => {
    if (missing) return t.skip(`the flow sensor cannot run here: ${missing}`);
    const r = await churn(5_000, 5_000, []);
    assert.equal(r.lostText, '', 'nothing lost');
    assert.equal(r.lostRecords, 0);
    assert.equal(r.records, 4 * r.closed);
  });
});
