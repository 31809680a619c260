// The web console in a real browser: Debian's Chromium, headless, driven by
// puppeteer-core, against a real agent fed by this test's own execs and
// connections. The Live view streams the exec just made (and its filters
// narrow it); the Processes view shows the process just started; the service
// map shows the connection just made; the SQL view runs a query; without the
// token the API refuses. HTTP requests made by curl to Python's http.server
// show in the Services view (the latest requests, the per-service charts) and
// on the service map; the Profile view's flame graph has a frame of a busy
// function of a program the test runs (test/fixtures/profiletarget.c).
// Screenshots go to $VIGIL_SCREENSHOTS (default dist/test-screenshots/).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { repoPath } from '../src/util/paths.js';
import { missingFeature, requireRoot, tracefs, waitFor } from './helpers.js';
import { TestAgent } from './agent-util.js';
import { pythonHttp, type Server } from './l7-servers.js';
import { startFixture, waitExit } from './profile-util.js';

const CHROMIUM = '/usr/bin/chromium';

describe('the web console', { timeout: 180_000 }, () => {
  let agent: TestAgent;
  let browser: Browser;
  let sleeper: ChildProcess | undefined;
  let url: string;
  let token: string;
  /** Why the flow sensor cannot run here (the feature probe's reason); undefined: it can. */
  let flowsMissing: string | undefined;
  const sql = async (q: string): Promise<string[][]> => {
    const r = await fetch(`${url}api/query`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: JSON.stringify({ sql: q }) });
    return ((await r.json()) as { rows: string[][] }).rows;
  };
  const shots = process.env.VIGIL_SCREENSHOTS ?? repoPath('dist', 'test-screenshots');

  before(async () => {
    requireRoot();
    tracefs();
    // scripts/setup.sh installs it (PACKAGES): missing, the test fails rather than skips.
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup.sh`);
    // The flow sensor's programs: where the probes say the kernel lacks them, the agent runs without it and the map is not checked.
    flowsMissing = await missingFeature(['tracepoint', 'raw_tracepoint', 'cgroup_skb'], ['bpf_loop']);
    // The profile sensor cuts an interval every 2 s here (10 s by default), at 99 Hz.
    agent = await TestAgent.start(`sensors: [exec, exit, http, profile${flowsMissing ? '' : ', flow'}]\nprofile:\n  frequency: 99\n  interval: 2\n` +
      'console:\n  address: 127.0.0.1:0\n');
    const ready = agent.line('ready')!;
    url = /^(http:\S+)/.exec(String(ready.console))![1]!;
    const tokenFile = path.join(agent.dir, 'state', 'console.token');
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600, 'the token is root\'s alone');
    token = readFileSync(tokenFile, 'utf8').trim();
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    mkdirSync(shots, { recursive: true });
  });
  after(async () => {
    sleeper?.kill('SIGKILL');
    await browser?.close();
    await agent?.stop();
  });

  test('the API refuses a request without the token', async () => {
    for (const auth of [undefined, 'Bearer wrong']) {
      const r = await fetch(`${url}api/query`, { method: 'POST', headers: auth ? { Authorization: auth } : {}, body: '{"sql":"SELECT 1"}' });
      assert.equal(r.status, 401);
    }
    const ok = await fetch(`${url}api/query`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: '{"sql":"SELECT 1 AS one"}' });
    assert.equal(ok.status, 200);
    assert.deepEqual(((await ok.json()) as { rows: unknown[] }).rows, [[1]]);
    const bad = await fetch(`${url}api/query`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: '{"sql":"DELETE FROM alerts"}' });
    assert.equal(bad.status, 400);
    // The live stream too: the token, then a request the hub can serve.
    assert.equal((await fetch(`${url}api/events`, { method: 'POST', body: '{}' })).status, 401);
    const badKind = await fetch(`${url}api/events`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: '{"kinds":["nope"]}' });
    assert.equal(badKind.status, 400);
    assert.match(((await badKind.json()) as { error: string }).error, /unknown kind "nope"/);
  });

  test('the Processes view shows the process this test started; the SQL view answers', async () => {
    const prog = path.join(agent.dir, 'vgconsole-sleep');
    copyFileSync('/usr/bin/sleep', prog);
    sleeper = spawn(prog, ['120'], { stdio: 'ignore' });
    // In the store first (the view refreshes every 5 s; a new page asks at once).
    assert.ok(await waitFor(async () => {
      const r = await fetch(`${url}api/query`, {
        method: 'POST', headers: { Authorization: `Bearer ${token}` },
        body: JSON.stringify({ sql: `SELECT count(*) AS n FROM process_events WHERE exe = '${prog}'` }),
      });
      return Number(((await r.json()) as { rows: string[][] }).rows[0]![0]) > 0;
    }, 20_000, 250), 'the exec reached the store');
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    await page.goto(`${url}#token=${encodeURIComponent(token)}`, { waitUntil: 'load' });
    // Evaluated in the page (a string: this file is type-checked without the DOM's types).
    const shows = (query: string): string => `document.querySelector('section[data-query="${query}"] table')?.textContent?.includes(${JSON.stringify(prog)})`;
    await page.click('#tab-processes');
    await page.waitForFunction(shows('process_tree'), { timeout: 30_000 });
    const row = await page.$$eval('section[data-query="process_tree"] tr', (trs, p) => trs.map((t) => t.textContent ?? '').find((t) => t.includes(p as string)), prog);
    assert.match(row ?? '', new RegExp(`${sleeper.pid}`), 'its pid is on its row');
    await page.screenshot({ path: path.join(shots, 'console-processes.png') });
    await page.click('#tab-sql');
    await page.waitForSelector('#sql');
    await page.$eval('#sql', (el) => { (el as unknown as { value: string }).value = ''; });
    await page.type('#sql', `SELECT kind, exe FROM process_events WHERE exe = '${prog}'`);
    await page.click('#run');
    await page.waitForFunction(shows('sql'), { timeout: 15_000 });
    await page.screenshot({ path: path.join(shots, 'console-sql.png') });
    await page.close();
  });
  test('the Services view shows the HTTP requests just made; the service map their service', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'vigil-console-http-'));
    let srv: Server | undefined;
    const page = await browser.newPage();
    try {
      srv = await pythonHttp(tmp);
      const urls = [1, 2, 3].map((i) => `http://127.0.0.1:${srv!.port}/users/${i}`).concat(`http://127.0.0.1:${srv.port}/fail`);
      const r = spawnSync('curl', ['-s', ...urls.flatMap(() => ['-o', '/dev/null']), ...urls], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      const service = `python3:${srv.port}`;
      assert.ok(await waitFor(async () => Number((await sql(`SELECT count(*) FROM l7_records WHERE service = '${service}'`))[0]![0]) >= 4, 20_000, 250),
        'the requests reached the store');
      await page.setViewport({ width: 1280, height: 1000 });
      await page.goto(`${url}#token=${encodeURIComponent(token)}`, { waitUntil: 'load' });
      await page.click('#tab-services');
      const rowsOf = (query: string): string => `[...document.querySelectorAll('section[data-query="${query}"] tr')].map((t) => t.textContent)`;
      await page.waitForFunction(`${rowsOf('http_data')}.filter((t) => t.includes(${JSON.stringify(service)})).length >= 4`, { timeout: 20_000 });
      const rows = (await page.evaluate(rowsOf('http_data'))) as string[];
      const mine = rows.filter((t) => t.includes(service));
      assert.equal(mine.filter((t) => t.includes('/users/{id}') && t.includes('200')).length, 3, mine.join('\n'));
      assert.equal(mine.filter((t) => t.includes('/fail') && t.includes('500')).length, 1, mine.join('\n'));
      // service_stats: the route with its 3 requests; the charts: one row for the service.
      await page.waitForFunction(`${rowsOf('service_stats')}.some((t) => t.includes(${JSON.stringify(service)}) && t.includes('/users/{id}'))`, { timeout: 15_000 });
      await page.waitForSelector(`div.charts[data-service="${service}"]`, { timeout: 15_000 });
      await page.screenshot({ path: path.join(shots, 'console-services.png'), fullPage: true });
      // The agent's L7 service map (src/l7/servicemap.ts): processes as nodes, curl's 4 requests to python3 as an edge.
      await page.click('#tab-network');
      const edge = 'svg#service-map g.edge[data-from="curl"][data-to="python3"]';
      await page.waitForFunction(`[...document.querySelectorAll('${edge}')].some((e) => /^4 req\\b/.test(e.textContent))`, { timeout: 15_000 });
      await page.screenshot({ path: path.join(shots, 'console-network-l7.png') });
    } finally {
      await page.close();
      await srv?.stop();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('the Profile view\'s flame graph shows the busy function of a program this test runs', async () => {
    const child = await startFixture('cpu', 8);
    const page = await browser.newPage();
    try {
      child.stdin.write('\n');
      // busy_a (and its caller cpu_loop) in the store: the profile sensor's intervals, folded and symbolised.
      assert.ok(await waitFor(async () => Number((await sql(
        `SELECT coalesce(sum(count), 0) FROM profile_samples WHERE pid = ${child.pid} AND stack LIKE '%;cpu_loop;%busy_a%'`))[0]![0]) > 0, 30_000, 500),
      'the fixture\'s samples reached profile_samples');
      await page.setViewport({ width: 1280, height: 900 });
      await page.goto(`${url}#token=${encodeURIComponent(token)}`, { waitUntil: 'load' });
      await page.click('#tab-profile');
      await page.waitForSelector('#flamegraph g.frame', { timeout: 30_000 });
      // The filter by process: the fixture's name keeps its frames alone.
      await page.type('#flame-process', 'profiletarget');
      await page.keyboard.press('Enter');
      // On a timeout, the failure shows the frames the graph has (name@depth, left..right, samples) and its status line.
      const shown = (what: string) => async (e: Error): Promise<never> => {
        const boxes = await page.evaluate(`[...document.querySelectorAll('#flamegraph g.frame')].slice(0, 16).map((g) => {
          const r = g.querySelector('rect').getBoundingClientRect();
          return g.getAttribute('name') + '@' + g.__data__?.depth + ' ' + Math.round(r.left) + '..' + Math.round(r.right) + ' v' + g.__data__?.value;
        }).join('; ') + ' | svg ' + document.querySelector('#flamegraph svg')?.getBoundingClientRect().width +
          ' | ' + document.querySelector('#flame-status')?.textContent + ' | input ' + document.querySelector('#flame-process')?.value`);
        throw new Error(`the flame graph, not ${what}: ${String(boxes)} (${e.message})`);
      };
      // The processes are the frames under the root (d3 keeps each frame's node, with its depth, on its element).
      // The filter also keeps stacks whose executable is the fixture's: a sample taken while node's fork
      // was exec'ing it has node's name at the root (seen: one sample). Such roots stay a sample or two.
      const alone = `(() => { const roots = [...document.querySelectorAll('#flamegraph g.frame')].filter((g) => g.__data__?.depth === 1);
        return roots.some((g) => g.getAttribute('name') === 'profiletarget')
          && roots.every((g) => g.getAttribute('name') === 'profiletarget' || g.__data__.value <= 2); })()`;
      await page.waitForFunction(alone, { timeout: 30_000 }).catch(shown('the fixture alone'));
      await page.waitForSelector('#flamegraph g.frame[name="busy_a"]', { timeout: 15_000 });
      const frames = (await page.evaluate(`[...document.querySelectorAll('#flamegraph g.frame')].map((g) => g.getAttribute('name'))`)) as string[];
      assert.ok(frames.includes('busy_a') && frames.includes('cpu_loop'), `frames: ${frames.slice(0, 20).join(', ')}`);
      // Laid out as a flame graph: the root spans the graph's width, and every frame lies within its parent's span
      // (d3 sets the widths on its next frame: wait for them).
      const layout = `(() => {
        const gs = [...document.querySelectorAll('#flamegraph g.frame')];
        const svg = document.querySelector('#flamegraph svg');
        const box = (g) => { const r = g.querySelector('rect').getBoundingClientRect(); return [r.left, r.right]; };
        const root = gs.find((g) => g.__data__?.depth === 0);
        if (!root || Math.abs(box(root)[1] - box(root)[0] - svg.getBoundingClientRect().width) > 1) return false;
        const at = new Map(gs.map((g) => [g.__data__, g]));
        return gs.every((g) => { const p = at.get(g.__data__.parent); if (!p) return true;
          const [a, b] = box(g), [pa, pb] = box(p); return a >= pa - 1 && b <= pb + 1; });
      })()`;
      await page.waitForFunction(layout, { timeout: 15_000 }).catch(shown('laid out'));
      // The table of the most sampled stacks follows the same filter.
      const stacks = (await page.evaluate(`[...document.querySelectorAll('#flame-stacks tbody tr')].map((r) => r.lastElementChild.textContent)`)) as string[];
      // As in the graph: the fixture's stacks, and at most the exec-time one under node's name (its execve).
      assert.ok(stacks.some((st) => st.startsWith('profiletarget;'))
        && stacks.every((st) => st.startsWith('profiletarget;') || (st.startsWith('node;') && /;__x64_sys_execve;/.test(st))),
      `stacks: ${stacks.join(' | ')}`);
      await page.screenshot({ path: path.join(shots, 'console-flamegraph.png') });
      await page.$eval('#flame-process', (el) => { (el as unknown as { value: string }).value = ''; });
      await page.type('#flame-process', 'no-such-process-here');
      await page.keyboard.press('Enter');
      await page.waitForFunction(`!document.querySelector('#flamegraph g.frame[name="busy_a"]')`, { timeout: 15_000 });
    } finally {
      await page.close();
      if (child.exitCode === null) child.kill('SIGKILL');
      await waitExit(child, 5000);
    }
  });

  test('the Live view streams the exec just made, its filters narrow it; the service map shows the connection just made', async (t) => {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    await page.goto(`${url}#token=${encodeURIComponent(token)}`, { waitUntil: 'load' });
    await page.waitForFunction('document.getElementById("live-status")?.textContent === "live"', { timeout: 15_000 });
    const prog = path.join(agent.dir, 'vgconsole-live');
    copyFileSync('/usr/bin/true', prog);
    const child = spawn(prog, [], { stdio: 'ignore' });
    await new Promise((r) => child.on('exit', r));
    const live = (text: string): string => `document.getElementById('live-events')?.textContent?.includes(${JSON.stringify(text)})`;
    await page.waitForFunction(live(prog), { timeout: 20_000 });
    await page.screenshot({ path: path.join(shots, 'console-live.png') });
    // A binary prefix no process has: the stream starts again, and the exec is not in it.
    await page.type('#live-binary', '/nonexistent/');
    await page.keyboard.press('Enter');
    await page.waitForFunction(`!${live(prog)}`, { timeout: 10_000 });
    // Its own prefix: the history brings it back.
    await page.$eval('#live-binary', (el) => { (el as unknown as { value: string }).value = ''; });
    await page.type('#live-binary', agent.dir);
    await page.keyboard.press('Enter');
    await page.waitForFunction(live(prog), { timeout: 10_000 });
    if (flowsMissing) {
      await page.close();
      return t.skip(`the flow sensor cannot run here: ${flowsMissing}`);
    }
    const server = net.createServer((c) => c.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const connect = (): void => {
        const c = net.connect(port, '127.0.0.1', () => c.end());
        c.on('error', () => undefined).resume();
      };
      connect();
      assert.ok(await waitFor(async () => Number((await sql(`SELECT count(*) FROM flows WHERE dst_port = ${port}`))[0]![0]) > 0, 20_000, 250),
        'the connection reached the store');
      await page.click('#tab-network');
      await page.waitForSelector(`svg#service-map g.node[data-name="127.0.0.1:${port}"]`, { timeout: 15_000 });
      const edge = await page.$$eval('svg#service-map g.edge', (es, to) => es.some((e) => e.getAttribute('data-to') === to), `127.0.0.1:${port}`);
      assert.ok(edge, 'an edge to the server');
      await page.screenshot({ path: path.join(shots, 'console-network.png') });
    } finally {
      server.close();
      await page.close();
    }
  });
});
