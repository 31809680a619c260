// `vigil run --rules`: flags (pure), then the command end to end on the real
// kernel: a rule matching this test's own open of a file, alerts in Falco's
// JSON on stdout, in a file and POSTed to a local HTTP endpoint, a
// --min-priority threshold, and the closing summary.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseRunArgs } from '../src/cli/commands/run.js';
import { UsageError } from '../src/cli/command.js';
import { repoPath } from '../src/util/paths.js';
import { requireRoot, waitFor } from './helpers.js';

describe('parseRunArgs', () => {
  test('defaults and values', () => {
    const o = parseRunArgs(['--rules', 'a.yaml', '--rules', 'dir', '--min-priority', 'info', '--duration', '1.5']);
    assert.deepEqual(o.rules, ['a.yaml', 'dir']);
    assert.equal(o.output, 'text');
    assert.equal(o.ruleMatching, 'first');
    assert.equal(o.minPriority, 'Informational');
    assert.equal(o.duration, 1.5);
    assert.deepEqual([o.processCred, o.processNs], [false, false]);
    const c = parseRunArgs(['--policy', 'p.yaml', '-o', 'tetragon', '--process-cred', '--process-ns']);
    assert.deepEqual([c.processCred, c.processNs], [true, true]);
    const j = parseRunArgs(['--rules', 'a', '-o', 'json', '--rule-matching', 'all', '--http', 'http://127.0.0.1:2801/', '--quiet',
      '--pid', '12', '--follow-children']);
    assert.equal(j.output, 'json');
    assert.equal(j.ruleMatching, 'all');
    assert.deepEqual(j.filter.pids, [12]);
    assert.equal(j.filter.followChildren, true);
  });
  test('bad flags are usage errors', () => {
    for (const argv of [
      [], ['--rules', 'a', '--output', 'xml'], ['--rules', 'a', '--min-priority', 'loud'], ['--rules', 'a', '--rule-matching', 'some'],
      ['--rules', 'a', '--http', 'ftp://x/'], ['--rules', 'a', '--quiet'], ['--rules', 'a', '--duration', '-1'],
      ['--rules', 'a', '--follow-children'], ['--rules', 'a', '--comm', 'a-name-longer-than-15'], ['--rules', 'a', '--bogus'],
    ]) assert.throws(() => parseRunArgs(argv), UsageError, argv.join(' '));
  });
});

describe('vigil run (real kernel)', () => {
  test('alerts to stdout, a file and HTTP, in Falco\'s JSON; --min-priority drops the notice', async () => {
    requireRoot();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-run-'));
    const target = path.join(dir, 'watched.txt');
    writeFileSync(target, 'x');
    const rules = path.join(dir, 'rules.yaml');
    writeFileSync(rules, `
- list: watched_files
  items: [${JSON.stringify(target)}]
- rule: Watched file read
  desc: a test rule
  condition: evt.type in (open, openat, openat2) and evt.is_open_read=true and fd.name in (watched_files)
  output: "Watched file opened (file=%fd.name proc=%proc.name pid=%proc.pid user=%user.name)"
  priority: WARNING
  tags: [test, filesystem]
- rule: Watched file read, noticed
  desc: the same, less severe
  condition: evt.type=openat and fd.name in (watched_files)
  output: "noticed %fd.name"
  priority: NOTICE
`);
    const bodies: { body: string; type: string | undefined }[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        bodies.push({ body, type: req.headers['content-type'] });
        res.end('ok');
      });
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const outFile = path.join(dir, 'alerts.json');
    const child = spawn(process.execPath, [repoPath('bin', 'vigil'), 'run', '--rules', rules, '--output', 'json',
      '--min-priority', 'warning', '--rule-matching', 'all', '--file', outFile, '--http', `http://127.0.0.1:${port}/`,
      '--pid', String(process.pid), '--duration', '4'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    try {
      assert.ok(await waitFor(() => stderr.includes('running'), 20_000), `vigil run started: ${stderr}`);
      assert.match(stderr, /1 rules active of 2; watching files \(open, openat, openat2\)/);
      readFileSync(target);
      const [code] = await once(child, 'exit') as [number];
      assert.equal(code, 0, stderr);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      server.close();
    }
    const lines = stdout.trim().split('\n').filter(Boolean);
    assert.equal(lines.length, 1, stdout);
    const a = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(a), ['hostname', 'output', 'output_fields', 'priority', 'rule', 'source', 'tags', 'time']);
    assert.equal(a.rule, 'Watched file read');
    assert.equal(a.priority, 'Warning');
    assert.equal(a.source, 'syscall');
    assert.deepEqual(a.tags, ['filesystem', 'test']);
    assert.match(String(a.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const f = a.output_fields as Record<string, unknown>;
    assert.equal(f['fd.name'], target);
    assert.equal(f['proc.pid'], process.pid);
    assert.equal(f['user.name'], 'root');
    assert.equal(typeof f['evt.time'], 'number');
    assert.match(String(a.output), new RegExp(`: Warning Watched file opened \\(file=${target.replace(/[.]/g, '\\.')} proc=node pid=${process.pid} user=root\\)$`));
    assert.ok(existsSync(outFile));
    assert.equal(readFileSync(outFile, 'utf8'), `${lines[0]}\n`);
    assert.equal(bodies.length, 1);
    assert.equal(bodies[0]!.body, lines[0]);
    assert.equal(bodies[0]!.type, 'application/json');
    assert.match(stderr, /1 alerts, no events lost/);
    rmSync(dir, { recursive: true, force: true });
  });
});
