// Alerts: %field substitution, Falco's text line and JSON (keys and formats a
// Falco JSON consumer expects), the priority threshold, rule_matching, and the
// sinks (stdout stream, file, HTTP POST to a listener on loopback).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import {
  AlertRouter, FileSink, HttpSink, StreamSink, formatAlertJson, formatAlertText, meetsPriority, rfc3339Nano,
  type Alert,
} from '../src/rules/output.js';
import { T0, engineOf, execEvent, openEvent, proc, rulesReport } from './rules-helpers.js';

const RULES = `
- rule: Shadow read
  desc: d
  condition: evt.type = openat and fd.name = /etc/shadow
  output: "Sensitive file opened | file=%fd.name gparent=%proc.aname[2] ggggparent=%proc.aname[5] flags=%evt.arg.flags user=%user.name uid=%user.uid loginuid=%user.loginuid low=%tolower(proc.name) pct=100% term=%proc.tty."
  priority: WARNING
  tags: [T1555, filesystem, mitre_credential_access]
- rule: Any open
  desc: d
  condition: evt.type = openat
  output: "open %fd.name"
  priority: DEBUG
- rule: Cat
  desc: d
  condition: evt.type = openat and proc.name = CAT
  output: "cat %proc.name"
  priority: CRITICAL
`;

const ev = openEvent(proc({ name: 'CAT', args: ['/etc/shadow'], uid: 0, loginuid: 4294967295 }), '/etc/shadow', 0o2000000);

describe('formatting', () => {
  const e = engineOf(RULES, { ruleMatching: 'all' });
  const [a] = e.evaluate(ev);

  test('%field substitution: arguments, transformers, <NA>, literal %, trailing punctuation', () => {
    assert.equal(a?.message, 'Sensitive file opened | file=/etc/shadow gparent=sshd ggggparent=<NA> flags=O_RDONLY|O_CLOEXEC user=root uid=0 loginuid=-1 low=cat pct=100% term=34816.');
  });

  test("the text line: local HH:MM:SS.nnnnnnnnn, the priority's name, the output", () => {
    const line = formatAlertText(a!);
    assert.match(line, /^\d{2}:\d{2}:\d{2}\.123456789: Warning Sensitive file opened \| file=\/etc\/shadow /);
    assert.match(formatAlertText(a!, { iso8601: true }), /^2026-01-01T00:00:00\.123456789\+0000: Warning /);
  });

  test("Falco's JSON: keys, RFC 3339 ns time, typed output_fields, sorted tags", () => {
    const text = formatAlertJson(a!);
    const j = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(j), ['hostname', 'output', 'output_fields', 'priority', 'rule', 'source', 'tags', 'time']);
    assert.equal(j['time'], '2026-01-01T00:00:00.123456789Z');
    assert.equal(j['rule'], 'Shadow read');
    assert.equal(j['priority'], 'Warning');
    assert.equal(j['source'], 'syscall');
    assert.equal(j['hostname'], 'vigil-test');
    assert.equal(j['output'], formatAlertText(a!));
    assert.deepEqual(j['tags'], ['T1555', 'filesystem', 'mitre_credential_access']);
    assert.deepEqual(j['output_fields'], {
      'evt.arg.flags': 'O_RDONLY|O_CLOEXEC',
      'evt.time': Number(T0), // written as the exact integer
      'fd.name': '/etc/shadow',
      'proc.aname[2]': 'sshd',
      'proc.aname[5]': null,
      'proc.tty': 34816,
      'tolower(proc.name)': 'cat',
      'user.loginuid': -1,
      'user.name': 'root',
      'user.uid': 0,
    });
    assert.match(text, /"evt\.time":1767225600123456789[,}]/);
    assert.equal(new Date(j['time'] as string).getTime(), Number(T0 / 1_000_000n));
  });

  test('rfc3339Nano pads the fraction', () => {
    assert.equal(rfc3339Nano(1_000_000_005n), '1970-01-01T00:00:01.000000005Z');
  });

  test('an output field Falco does not know is an error; one Vigil lacks prints <NA>', () => {
    const bad = rulesReport('- rule: A\n  desc: d\n  condition: evt.type = open\n  output: "x %proc.nmae"\n  priority: INFO\n');
    assert.equal(bad.ok, false);
    assert.match(bad.diagnostics.find((d) => d.severity === 'error')!.message, /nonexistent field proc\.nmae/);
    const lacking = engineOf('- rule: A\n  desc: d\n  condition: evt.type = execve\n  output: "rss=%proc.vmrss"\n  priority: INFO\n');
    assert.ok(lacking.warnings.some((w) => w.code === 'LOAD_UNSUPPORTED_FIELD'));
    assert.equal(lacking.evaluate(execEvent(proc({ name: 'x' })))[0]?.message, 'rss=<NA>');
  });
});

describe('matching and priorities', () => {
  test('rule_matching all: every matching rule, in load order; first: only the first', () => {
    assert.deepEqual(engineOf(RULES, { ruleMatching: 'all' }).evaluate(ev).map((x) => x.rule), ['Shadow read', 'Any open', 'Cat']);
    assert.deepEqual(engineOf(RULES, { ruleMatching: 'first' }).evaluate(ev).map((x) => x.rule), ['Shadow read']);
  });

  test('min priority: less severe rules are not loaded', () => {
    const e = engineOf(RULES, { minPriority: 'Warning', ruleMatching: 'all' });
    assert.deepEqual(e.activeRules.map((r) => r.name), ['Shadow read', 'Cat']);
    assert.deepEqual(e.evaluate(ev).map((x) => x.priority), ['Warning', 'Critical']);
    assert.ok(meetsPriority('Emergency', 'Debug'));
    assert.ok(!meetsPriority('Notice', 'Warning'));
  });
});

function sampleAlert(rule: string, priority: Alert['priority'] = 'Warning'): Alert {
  return { rule, priority, source: 'syscall', tags: ['a'], timeNs: T0, hostname: 'h', message: `m ${rule}`, outputFields: { 'proc.name': 'x' } };
}

describe('sinks', () => {
  test('stream sink: one line per alert, text or JSON', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const text = new StreamSink('text', out);
    const json = new StreamSink('json', out);
    text.write(sampleAlert('A'));
    json.write(sampleAlert('B'));
    await text.close();
    const [l1, l2] = chunks.join('').trimEnd().split('\n');
    assert.match(l1!, /: Warning m A$/);
    assert.equal((JSON.parse(l2!) as { rule: string }).rule, 'B');
  });

  test('file sink appends JSON lines', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-alerts-'));
    try {
      const file = path.join(dir, 'alerts.json');
      const s = new FileSink(file);
      s.write(sampleAlert('A'));
      s.write(sampleAlert('B'));
      await s.close();
      const s2 = new FileSink(file);
      s2.write(sampleAlert('C'));
      s2[Symbol.dispose]();
      const rules = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { rule: string }).rule);
      assert.deepEqual(rules, ['A', 'B', 'C']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('HTTP sink (falcosidekick input) to a listener on loopback', () => {
    let server: Server;
    let url = '';
    const received: { headers: IncomingMessage['headers']; body: string }[] = [];
    let status = 200;
    before(async () => {
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          received.push({ headers: req.headers, body });
          res.statusCode = status;
          res.end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const addr = server.address();
      assert.ok(addr && typeof addr === 'object');
      url = `http://127.0.0.1:${addr.port}/`;
    });
    after(async () => {
      await new Promise<void>((r) => server.close(() => r()));
    });

    test('POSTs each alert as Falco JSON; close() waits for delivery', async () => {
      const s = new HttpSink(url, { concurrency: 2 });
      for (const r of ['A', 'B', 'C', 'D', 'E']) s.write(sampleAlert(r));
      await s.close();
      assert.deepEqual(s.stats, { sent: 5, failed: 0, dropped: 0 });
      assert.deepEqual(received.map((r) => (JSON.parse(r.body) as { rule: string }).rule).sort(), ['A', 'B', 'C', 'D', 'E']);
      assert.equal(received[0]!.headers['content-type'], 'application/json');
      const j = JSON.parse(received[0]!.body) as Record<string, unknown>;
      assert.deepEqual(Object.keys(j), ['hostname', 'output', 'output_fields', 'priority', 'rule', 'source', 'tags', 'time']);
    });

    test('a non-2xx status counts as a failure, reported to onError', async () => {
      status = 500;
      const errors: string[] = [];
      const s = new HttpSink(url, { onError: (e) => errors.push(e.message) });
      s.write(sampleAlert('X'));
      await s.close();
      status = 200;
      assert.equal(s.stats.failed, 1);
      assert.match(errors[0]!, /HTTP 500/);
    });

    test('the router applies --min-priority before the sinks', async () => {
      const before = received.length;
      const router = new AlertRouter([new HttpSink(url)], 'Error');
      router.write(sampleAlert('low', 'Notice'));
      router.write(sampleAlert('high', 'Critical'));
      await router.close();
      assert.deepEqual(received.slice(before).map((r) => (JSON.parse(r.body) as { rule: string }).rule), ['high']);
    });
  });
});
