// The store in a real agent: this test's own execs, files and connections
// stored and found with `vigil query` through the API; refusals as one line
// and status 2; the store kept across a restart; a store file queried
// directly once the agent is gone.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { requireRoot, tracefs, waitFor } from './helpers.js';
import { outputOf, TestAgent } from './agent-util.js';

describe('the store in the agent', { timeout: 240_000 }, () => {
  let agent: TestAgent;
  let store: string;
  let prog: string;

  const query = async (...args: string[]) => outputOf(agent.vigil(['query', ...args]));
  /** The rows of a query, JSON lines. */
  const rows = async (sql: string): Promise<Record<string, unknown>[]> => {
    const r = await query(sql, '--output', 'json');
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim() ? r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  };

  before(async () => {
    requireRoot();
    tracefs();
    agent = await TestAgent.start('sensors: [exec, exit, file]\n');
    store = path.join(agent.dir, 'state', 'store.duckdb');
    prog = path.join(agent.dir, 'vgstore-prog');
    copyFileSync('/usr/bin/true', prog);
  });
  after(async () => {
    await agent?.stop();
  });

  test('this test\'s exec and exit are stored and queried through the agent', async () => {
    assert.ok(existsSync(store), 'the store file is in the state directory');
    execFileSync(prog, ['--vg-arg']);
    let found: Record<string, unknown>[] = [];
    assert.ok(await waitFor(async () => {
      found = await rows(`SELECT kind, exe, args, exit_status FROM process_events WHERE exe = '${prog}' ORDER BY time, kind`);
      return found.length >= 2;
    }, 20_000, 250), 'the exec and the exit reach the store');
    assert.deepEqual(found, [{ kind: 'exec', exe: prog, args: '--vg-arg', exit_status: null }, { kind: 'exit', exe: prog, args: '--vg-arg', exit_status: 0 }]);
    const csv = await query(`SELECT kind FROM process_events WHERE exe = '${prog}' ORDER BY kind`, '--output', 'csv');
    assert.equal(csv.stdout, 'kind\nexec\nexit\n');
    const tree = await query('process_tree');
    assert.equal(tree.status, 0, tree.stderr);
    assert.match(tree.stdout, /^pid\s+ppid/);
  });

  test('refusals: one line, status 2; the store is not changed', async () => {
    for (const [sql, why] of [
      ['DELETE FROM process_events', /only SELECT/],
      ["SELECT * FROM read_csv('/etc/passwd')", /disabled by configuration/],
      ['SELEC 1', /syntax error/],
    ] as const) {
      const r = await query(sql);
      assert.equal(r.status, 2, `${sql}: ${r.stderr}`);
      assert.match(r.stderr, why);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^vigil query: /);
    }
    const n = await rows('SELECT count(*) AS n FROM process_events');
    assert.ok(Number(n[0]!.n) > 0);
  });

  test('--parquet writes the result', async () => {
    const file = path.join(agent.dir, 'out.parquet');
    const r = await query(`SELECT * FROM process_events WHERE exe = '${prog}'`, '--parquet', file);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(file).subarray(0, 4).toString(), 'PAR1');
  });

  test('the store is kept across a restart, and a store file is queried once the agent is gone', async () => {
    const held = await outputOf(agent.vigil(['query', '--store', store, 'SELECT 1']));
    assert.equal(held.status, 1, held.stderr);
    assert.match(held.stderr, /in use by a running agent/);
    agent = await agent.restart();
    const kept = await rows(`SELECT count(*) AS n FROM process_events WHERE exe = '${prog}'`);
    assert.ok(Number(kept[0]!.n) >= 2, 'the rows from before the restart are there');
    await agent.terminate();
    const r = await outputOf(agent.vigil(['query', '--store', store, '-o', 'json', `SELECT count(*) AS n FROM process_events WHERE exe = '${prog}'`]));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Number((JSON.parse(r.stdout) as { n: string }).n) >= 2);
  });
});
