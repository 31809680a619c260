// The L7 sensors in a real agent: curl against Python's http.server on
// loopback; the requests reach `vigil events --sensors http`, the store's
// l7_records table (vigil query) and the Prometheus histograms named by the
// OpenTelemetry semantic conventions, with exact counts per route and status.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { requireRoot, tracefs, waitFor } from './helpers.js';
import { outputOf, TestAgent } from './agent-util.js';
import { pythonHttp, type Server } from './l7-servers.js';

describe('the L7 sensors in the agent', { timeout: 180_000 }, () => {
  let agent: TestAgent | undefined;
  let srv: Server | undefined;
  let tmp = '';
  let metricsUrl = '';

  before(async () => {
    requireRoot();
    tracefs();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'vigil-l7-agent-'));
    srv = await pythonHttp(tmp);
    agent = await TestAgent.start('sensors: [exec, http, redis, pgsql]\nmetrics:\n  address: 127.0.0.1:0\nl7:\n  captureBytes: 2048\n');
    metricsUrl = String(agent.line('ready')?.metrics ?? '');
    const base = `http://127.0.0.1:${srv.port}`;
    const urls = [`${base}/users/1`, `${base}/users/2`, `${base}/users/3?token=secret`, `${base}/fail`, `${base}/nothing`];
    const r = spawnSync('curl', ['-s', ...urls.flatMap(() => ['-o', '/dev/null']), ...urls], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
  });
  after(async () => {
    await agent?.stop();
    await srv?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('vigil events --sensors http: the server\'s records, redacted', async () => {
    const port = srv!.port;
    let lines: { l7?: { role: string; local: { port: number }; route: string; target: string; status: number } }[] = [];
    assert.ok(await waitFor(async () => {
      const r = await outputOf(agent!.vigil(['events', '--sensors', 'http', '--output', 'json', '--last', '100']));
      lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as (typeof lines)[number]);
      return lines.filter((l) => l.l7?.role === 'server' && l.l7.local.port === port).length >= 5;
    }, 20_000, 300), `records: ${JSON.stringify(lines).slice(0, 400)}`);
    const got: Record<string, number> = {};
    for (const l of lines) {
      if (l.l7?.role !== 'server' || l.l7.local.port !== port) continue;
      got[`${l.l7.route} ${l.l7.status}`] = (got[`${l.l7.route} ${l.l7.status}`] ?? 0) + 1;
    }
    assert.deepEqual(got, { '/users/{id} 200': 3, '/fail 500': 1, '/nothing 404': 1 });
    assert.doesNotMatch(JSON.stringify(lines), /secret/);
  });

  test('vigil servicemap --socket: the agent\'s map, curl → python3 with each request once', async () => {
    let map: { seconds: number; edges: { from: string; to: string; protocol: string; requests: number; errors: number }[] } = { seconds: 0, edges: [] };
    assert.ok(await waitFor(async () => {
      const r = await outputOf(agent!.vigil(['servicemap', '--socket', agent!.socket]));
      assert.equal(r.status, 0, r.stderr);
      map = JSON.parse(r.stdout) as typeof map;
      return map.edges.some((e) => e.from === 'curl' && e.to === 'python3' && e.requests >= 5);
    }, 20_000, 300), JSON.stringify(map));
    const edge = map.edges.find((e) => e.from === 'curl' && e.to === 'python3')!;
    assert.deepEqual([edge.protocol, edge.requests, edge.errors], ['http', 5, 1]);
    assert.ok(map.seconds > 0);
  });

  test('the store\'s l7_records: one row per request, queried with vigil query', async () => {
    const sql = `SELECT path, status, count(*) AS n FROM l7_records WHERE protocol = 'http' AND dst_port = ${srv!.port} ` +
      `AND service LIKE 'python3:%' GROUP BY ALL ORDER BY path`;
    let rows: unknown[] = [];
    assert.ok(await waitFor(async () => {
      const r = await outputOf(agent!.vigil(['query', sql, '--output', 'json']));
      rows = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
      return rows.length === 3;
    }, 20_000, 500), `rows: ${JSON.stringify(rows)}`);
    // count(*) is a BIGINT: a string in JSON lines.
    assert.deepEqual(rows, [{ path: '/fail', status: 500, n: '1' }, { path: '/nothing', status: 404, n: '1' }, { path: '/users/{id}', status: 200, n: '3' }]);
  });

  test('Prometheus: http_server_request_duration_seconds and the client\'s, per route and status', async () => {
    assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const port = srv!.port;
    const text = await fetch(metricsUrl).then((r) => r.text());
    const count = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
    assert.equal(count(new RegExp(`^http_server_request_duration_seconds_count\\{http_request_method="GET",http_route="/users/\\{id\\}",` +
      `http_response_status_code="200",server_port="${port}"\\} (\\d+)$`, 'm')), 3, text.slice(0, 2000));
    assert.equal(count(new RegExp(`^http_server_request_duration_seconds_bucket\\{http_request_method="GET",http_route="/fail",` +
      `http_response_status_code="500",server_port="${port}",le="\\+Inf"\\} (\\d+)$`, 'm')), 1);
    assert.equal(count(new RegExp(`^http_client_request_duration_seconds_count\\{http_request_method="GET",server_address="127.0.0.1",` +
      `server_port="${port}",http_response_status_code="404"\\} (\\d+)$`, 'm')), 1);
    assert.match(text, /^# TYPE http_server_request_duration_seconds histogram$/m);
    assert.match(text, /^# TYPE db_client_operation_duration_seconds histogram$/m);
  });
});
