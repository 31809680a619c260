// The agent's API changing what it runs, and who may use it: a real agent,
// its socket, real opens and execs.
// - a TracingPolicy added, disabled, enabled and deleted live: it posts on a
//   file this test opens only while it is in force;
// - Falco rules added, listed and deleted live: an alert on this test's open;
// - rules that need what the agent's sensors do not report (its config has
//   exec only): a connect (the rules' syscall sensor), a process exit (the
//   agent's process sensor, asked for more) and an open (a file sensor of the
//   rules' own) each raise their alert, and none of those events reaches a
//   client;
// - the socket is 0600 root's: nobody is refused, by the kernel too; with
//   api.group it is 0660 and that group may use it;
// - /healthz and /readyz; SIGHUP reloads the configuration, and a bad one is
//   reported as file:line:col and leaves the running one.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { copyFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { requireRoot, tracefs, waitFor } from './helpers.js';
import { outputOf, TestAgent, vigil } from './agent-util.js';

function policyYaml(name: string, prefix: string): string {
  return `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: ${name}
spec:
  kprobes:
  - call: security_file_open
    syscall: false
    args:
    - index: 0
      type: file
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values:
        - ${prefix}
      matchActions:
      - action: Post
`;
}

function rulesYaml(prefix: string): string {
  return `- rule: agent test open
  desc: an open under the test's directory
  condition: evt.type in (open, openat, openat2) and fd.name startswith ${prefix}
  output: agent test open %fd.name
  priority: WARNING
`;
}

const touch = (f: string): void => closeSync(openSync(f, 'w'));

describe('the agent API: live changes and access', { timeout: 300_000 }, () => {
  let agent: TestAgent;
  const cli = async (args: string[]) => outputOf(agent.vigil(args));

  before(async () => {
    requireRoot();
    tracefs();
    agent = await TestAgent.start('sensors: [exec]\n');
  });
  after(async () => {
    await agent?.stop();
  });

  test('a policy added, disabled, enabled and deleted takes effect live', async () => {
    const watched = path.join(agent.dir, 'watched');
    const file = path.join(agent.dir, 'policy.yaml');
    writeFileSync(file, policyYaml('agent-test-open', watched));
    /**
     * Whether the policy stream reports an open of the watched file: opened
     * until it does (within 20 s) when it should, for 3 s when it should not.
     */
    const posts = async (expect: boolean): Promise<boolean> => {
      const r = await agent.eventsWhile(['--sensors', 'policy', '--count', '1', '--duration', expect ? '20' : '3'], () => touch(watched));
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.includes(watched);
    };
    assert.equal(await posts(false), false, 'nothing before the policy');
    const add = await cli(['policy', 'add', file]);
    assert.equal(add.status, 0, add.stderr);
    assert.equal(add.stdout, 'added: agent-test-open\n');
    assert.equal(await posts(true), true, 'the policy posts once added');
    const list = await cli(['policy', 'list']);
    assert.match(list.stdout, /^agent-test-open +enabled +api +[1-9]\d* +0 +\S+policy\.yaml$/m);
    assert.equal((await cli(['policy', 'disable', 'agent-test-open'])).status, 0);
    assert.match((await cli(['policy', 'list'])).stdout, /^agent-test-open +disabled /m);
    assert.equal(await posts(false), false, 'a disabled policy is not in force');
    assert.equal((await cli(['policy', 'enable', 'agent-test-open'])).status, 0);
    assert.equal(await posts(true), true, 'enabled again');
    const again = await cli(['policy', 'add', file]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /^vigil policy: policy "agent-test-open" is already loaded/);
    assert.equal((await cli(['policy', 'delete', 'agent-test-open'])).status, 0);
    assert.equal(await posts(false), false, 'deleted');
    assert.equal((await cli(['policy', 'list'])).stdout, 'no policies\n');
    const gone = await cli(['policy', 'delete', 'agent-test-open']);
    assert.equal(gone.status, 1);
    assert.equal(gone.stderr, 'vigil policy: no policy "agent-test-open" (vigil policy list)\n');
  });

  test('a policy that does not load is refused with its positions, and nothing changes', async () => {
    const bad = path.join(agent.dir, 'bad-policy.yaml');
    writeFileSync(bad, policyYaml('bad', '/x').replace('operator: Prefix', 'operator: Prefx'));
    const r = await cli(['policy', 'add', bad]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^vigil policy: ${bad}:\\d+:\\d+: .*"Prefx" is not allowed`, 'm'));
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    assert.equal((await cli(['policy', 'list'])).stdout, 'no policies\n');
  });

  test('rules fed by sensors the configuration does not have; their events reach no client', async () => {
    const prefix = path.join(agent.dir, 'unsensed');
    const sh = path.join(agent.dir, 'vgtest-rc');
    copyFileSync('/bin/bash', sh);
    // A loopback port nothing listens on: the connect is refused, but made.
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const file = path.join(agent.dir, 'unsensed-rules.yaml');
    writeFileSync(file, `${rulesYaml(prefix)}
- rule: agent test connect
  desc: a connect by the test's shell
  condition: evt.type = connect and proc.name = vgtest-rc
  output: agent test connect %proc.name
  priority: NOTICE
- rule: agent test exit
  desc: the test's shell exits
  condition: evt.type = procexit and proc.name = vgtest-rc
  output: agent test exit %proc.name
  priority: INFO
`);
    const add = await cli(['rules', 'add', file]);
    assert.equal(add.status, 0, add.stderr);
    try {
      // Each round raises three alerts; two rounds' worth, or 30 s.
      const r = await agent.eventsWhile(['--sensors', 'alert', '--count', '6', '--duration', '30'], () => {
        touch(`${prefix}-1`);
        spawnSync(sh, ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { stdio: 'ignore' });
      });
      for (const rule of ['open', 'connect', 'exit']) {
        assert.match(r.stdout, new RegExp(`agent test ${rule}`), `${rule}: ${r.stdout.slice(0, 2000)}`);
      }
      // The agent's clients get what its configuration senses (exec): no file, exit or syscall events.
      const history = await cli(['events', '--sensors', 'file,exit', '--last', '100000', '-o', 'json']);
      assert.equal(history.status, 0, history.stderr);
      assert.doesNotMatch(history.stdout, /unsensed|vgtest-rc/);
    } finally {
      await cli(['rules', 'delete', file]);
    }
  });

  test('rules added, listed and deleted live', async () => {
    const prefix = path.join(agent.dir, 'ruled');
    const file = path.join(agent.dir, 'rules.yaml');
    writeFileSync(file, rulesYaml(prefix));
    const add = await cli(['rules', 'add', file]);
    assert.equal(add.status, 0, add.stderr);
    assert.match(add.stdout, /^added: .*rules\.yaml; 1 rules active of 1$/m);
    // The rules' sensors start with the rules: open until the alert comes.
    const r = await agent.eventsWhile(['--sensors', 'alert', '--count', '1', '--duration', '20'], () => touch(`${prefix}-1`));
    assert.match(r.stdout, new RegExp(`Warning agent test open ${prefix}-1`));
    assert.match((await cli(['rules', 'list'])).stdout, /rules\.yaml +api +1\n1 rules active of 1\n$/);
    const bad = path.join(agent.dir, 'bad-rules.yaml');
    writeFileSync(bad, `${rulesYaml('/a').replace('openat2)', 'openat2')}\n- rule: second\n  desc: d\n  condition: proc.name =\n  output: o\n  priority: INFO\n`);
    const refused = await cli(['rules', 'add', bad]);
    assert.equal(refused.status, 1);
    const errs = refused.stderr.trimEnd().split('\n');
    assert.equal(errs.length, 2, refused.stderr);
    for (const l of errs) assert.match(l, new RegExp(`^vigil rules: ${bad}:\\d+:\\d+: `));
    assert.match((await cli(['rules', 'list'])).stdout, /1 rules active of 1\n$/, 'nothing changed');
    const del = await cli(['rules', 'delete', file]);
    assert.equal(del.status, 0, del.stderr);
    assert.match(del.stdout, /0 rules active of 0/);
  });

  test('the socket is root\'s (0600): nobody is refused, by the kernel too', async () => {
    const st = statSync(agent.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, 0);
    const asNobody = (argv: string[]) => spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all', ...argv],
      { encoding: 'utf8', timeout: 30_000, env: { ...process.env, VIGIL_SOCKET: agent.socket, VIGIL_DEBUG: '' } });
    const ev = asNobody([process.execPath, vigil, 'events', '--duration', '1']);
    assert.equal(ev.status, 4, ev.stderr);
    assert.match(ev.stderr, /^vigil events: .*vigil\.sock: permission denied/);
    const pol = asNobody([process.execPath, vigil, 'policy', 'list']);
    assert.equal(pol.status, 4, pol.stderr);
    // Not only the client's check: the kernel refuses the connection.
    const raw = asNobody([process.execPath, '-e',
      `require('node:net').connect(${JSON.stringify(agent.socket)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`]);
    assert.equal(raw.stdout.trim(), 'EACCES', raw.stderr);
  });

  test('/healthz and /readyz', async () => {
    const addr = agent.line('ready')?.health as string;
    assert.match(addr, /^127\.0\.0\.1:\d+$/);
    for (const p of ['healthz', 'readyz']) {
      const res = await fetch(`http://${addr}/${p}`);
      assert.equal(res.status, 200, p);
      assert.deepEqual(await res.json(), { status: 'ok', state: 'ready' });
    }
    assert.equal((await fetch(`http://${addr}/nope`)).status, 404);
  });

  test('SIGHUP reloads the configuration; a bad one is reported with its position and the running one stays', async () => {
    const watched = path.join(agent.dir, 'hup');
    const polFile = path.join(agent.dir, 'hup-policy.yaml');
    writeFileSync(polFile, policyYaml('agent-test-hup', watched));
    const base = `api:\n  socket: ${agent.socket}\nhealth:\n  address: 127.0.0.1:0\nsensors: [exec]\n`;
    writeFileSync(agent.configPath, `${base}policies:\n  - ${polFile}\n`);
    agent.proc.kill('SIGHUP');
    assert.ok(await waitFor(() => agent.line('configuration reloaded') !== undefined, 60_000, 50), JSON.stringify(agent.log.slice(-3)));
    assert.match((await cli(['policy', 'list'])).stdout, /^agent-test-hup +enabled +config /m);
    writeFileSync(agent.configPath, `${base}policies:\n  - ${polFile}\nhistory:\n  events: lots\n`);
    agent.proc.kill('SIGHUP');
    assert.ok(await waitFor(() => agent.line(/^reload failed/) !== undefined, 30_000, 50));
    const problems = agent.line(/^reload failed/)!.problems as string[];
    assert.deepEqual(problems, [`${agent.configPath}:9:11: history.events: expected an integer, found the string "lots"`]);
    assert.match((await cli(['policy', 'list'])).stdout, /^agent-test-hup +enabled +config /m, 'the running configuration stays');
    writeFileSync(agent.configPath, base);
    agent.proc.kill('SIGHUP');
    assert.ok(await waitFor(() => agent.log.filter((l) => l.msg === 'configuration reloaded').length === 2, 60_000, 50));
    assert.equal((await cli(['policy', 'list'])).stdout, 'no policies\n', 'a policy gone from the configuration is deleted');
  });

  test('a policy directory mounted as a ConfigMap is watched: each update applies live, one that does not load leaves the running policies', async () => {
    // kubelet's layout: the keys are links into ..data, a link to the current ..TIMESTAMP directory,
    // replaced by an atomic rename at each update.
    const dir = mkdtempSync(path.join(agent.dir, 'configmap-'));
    let version = 0;
    const publish = (files: Record<string, string>): void => {
      const data = `..2026_12_06_${++version}`;
      mkdirSync(path.join(dir, data));
      for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, data, name), text);
      symlinkSync(data, path.join(dir, '..data_tmp'));
      renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      for (const name of Object.keys(files)) {
        if (!existsSync(path.join(dir, name))) symlinkSync(path.join('..data', name), path.join(dir, name));
      }
      for (const e of readdirSync(dir)) {
        if (e.startsWith('..2026') && e !== data) rmSync(path.join(dir, e), { recursive: true });
        else if (!e.startsWith('.') && !(e in files)) rmSync(path.join(dir, e));
      }
    };
    const applied = (): number => agent.log.filter((l) => l.msg === 'policy and rules files changed: applied').length;
    const listed = async (): Promise<string[]> => [...(await cli(['policy', 'list'])).stdout.matchAll(/^(agent-test-cm\d) +enabled +config /gm)].map((m) => m[1]!);
    publish({ 'one.yaml': policyYaml('agent-test-cm1', path.join(agent.dir, 'cm1')) });
    const reloads = agent.log.filter((l) => l.msg === 'configuration reloaded').length;
    const base = `api:\n  socket: ${agent.socket}\nhealth:\n  address: 127.0.0.1:0\nsensors: [exec]\n`;
    writeFileSync(agent.configPath, `${base}policies:\n  - ${dir}\n`);
    agent.proc.kill('SIGHUP');
    assert.ok(await waitFor(() => agent.log.filter((l) => l.msg === 'configuration reloaded').length === reloads + 1, 60_000, 50));
    assert.deepEqual(await listed(), ['agent-test-cm1'], 'the policy once, not again through ..data and its directory');

    publish({ 'one.yaml': policyYaml('agent-test-cm1', path.join(agent.dir, 'cm1')), 'two.yaml': policyYaml('agent-test-cm2', path.join(agent.dir, 'cm2')) });
    assert.ok(await waitFor(() => applied() === 1, 60_000, 50), JSON.stringify(agent.log.slice(-3)));
    assert.deepEqual(await listed(), ['agent-test-cm1', 'agent-test-cm2']);

    publish({ 'one.yaml': policyYaml('agent-test-cm1', path.join(agent.dir, 'cm1')), 'two.yaml': 'kind: TracingPolicy\nspec: [\n' });
    assert.ok(await waitFor(() => agent.line('policy or rules files changed but do not load: the running ones stay') !== undefined, 60_000, 50));
    const problems = agent.line('policy or rules files changed but do not load: the running ones stay')!.problems as string[];
    assert.ok(problems.some((p) => p.startsWith(`${path.join(dir, 'two.yaml')}:`)), JSON.stringify(problems));
    assert.deepEqual(await listed(), ['agent-test-cm1', 'agent-test-cm2'], 'the running policies stay');

    publish({ 'one.yaml': policyYaml('agent-test-cm1', path.join(agent.dir, 'cm1')) });
    assert.ok(await waitFor(() => applied() === 2, 60_000, 50), JSON.stringify(agent.log.slice(-3)));
    assert.deepEqual(await listed(), ['agent-test-cm1'], 'a key gone from the ConfigMap is deleted');

    writeFileSync(agent.configPath, base);
    agent.proc.kill('SIGHUP');
    assert.ok(await waitFor(() => agent.log.filter((l) => l.msg === 'configuration reloaded').length === reloads + 2, 60_000, 50));
    assert.deepEqual(await listed(), []);
  });
});

/**
 * An agent that must refuse to start: in a fresh directory, setup(dir) writes what it needs and
 * gives the configuration after the socket (in dir), no health endpoint and the exec sensor.
 * Status 1, no stack; its "vigil agent: " lines.
 */
function refusedStart(prefix: string, setup: (dir: string) => string): { lines: string[]; stderr: string } {
  requireRoot();
  tracefs();
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    const file = path.join(dir, 'agent.yaml');
    writeFileSync(file, `api:\n  socket: ${dir}/vigil.sock\nhealth:\n  address: "off"\nsensors: [exec]\n${setup(dir)}`);
    const r = spawnSync(process.execPath, [vigil, 'agent', '--config', file], { encoding: 'utf8', timeout: 90_000, env: { ...process.env, VIGIL_DEBUG: '' } });
    assert.equal(r.status, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    return { lines: r.stderr.split('\n').filter((l) => l.startsWith('vigil agent: ')), stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('an agent whose policies do not load', { timeout: 120_000 }, () => {
  test('does not start, and says every problem as file:line:col', () => {
    let pol = '';
    const { lines, stderr } = refusedStart('vigil-agent-bad-', (dir) => {
      pol = path.join(dir, 'p.yaml');
      writeFileSync(pol, policyYaml('bad', '/x').replace('operator: Prefix', 'operator: Prefx').replace('type: file', 'type: fille'));
      return `policies:\n  - ${pol}\n`;
    });
    assert.equal(lines.length, 2, stderr);
    assert.match(lines[0]!, new RegExp(`^vigil agent: ${pol}:\\d+:\\d+: .*"fille" is not allowed`));
    assert.match(lines[1]!, new RegExp(`^vigil agent: ${pol}:\\d+:\\d+: .*"Prefx" is not allowed`));
  });
});

describe('the agent API with api.group', { timeout: 120_000 }, () => {
  test('the socket is 0660 root:GROUP, and that group may use it', async () => {
    requireRoot();
    tracefs();
    const agent = await TestAgent.start('sensors: [exec]\n', '  group: nogroup\n');
    try {
      const st = statSync(agent.socket);
      assert.equal(st.mode & 0o777, 0o660);
      assert.equal(st.gid, Number(spawnSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).stdout.split(':')[2]));
      const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all', process.execPath, vigil,
        'policy', 'list'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, VIGIL_SOCKET: agent.socket } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'no policies\n');
    } finally {
      await agent.stop();
    }
  });
});

describe('what the API added survives a restart', { timeout: 300_000 }, () => {
  test('policies (enabled, disabled, deleted) and rules kept in state.directory (0700, 0600), in force again after a restart', async () => {
    requireRoot();
    tracefs();
    let agent = await TestAgent.start('sensors: [exec]\n');
    const cli = async (args: string[]) => outputOf(agent.vigil(args));
    try {
      const watched = path.join(agent.dir, 'kept');
      const prefix = path.join(agent.dir, 'ruled');
      const files = {
        kept: path.join(agent.dir, 'kept.yaml'), gone: path.join(agent.dir, 'gone.yaml'), off: path.join(agent.dir, 'off.yaml'),
        rules: path.join(agent.dir, 'kept-rules.yaml'),
      };
      writeFileSync(files.kept, policyYaml('agent-kept', watched));
      writeFileSync(files.gone, policyYaml('agent-gone', `${watched}-gone`));
      writeFileSync(files.off, policyYaml('agent-off', `${watched}-off`));
      writeFileSync(files.rules, rulesYaml(prefix));
      const state = path.join(agent.dir, 'state');
      // The store is there from the start (store.duckdb); the API's state only once the API changed something.
      assert.equal(statSync(path.join(state, 'api-state.json'), { throwIfNoEntry: false }), undefined, 'no API state written before the API changed anything');
      for (const f of [files.kept, files.gone, files.off]) assert.equal((await cli(['policy', 'add', f])).status, 0);
      assert.equal((await cli(['policy', 'delete', 'agent-gone'])).status, 0);
      assert.equal((await cli(['policy', 'disable', 'agent-off'])).status, 0);
      const added = await cli(['rules', 'add', files.rules]);
      assert.equal(added.status, 0, added.stderr);
      assert.equal(statSync(state).mode & 0o777, 0o700);
      assert.equal(statSync(path.join(state, 'api-state.json')).mode & 0o777, 0o600);
      // Kept by the agent, not read again from where they came from.
      for (const f of Object.values(files)) rmSync(f);

      agent = await agent.restart();
      const list = (await cli(['policy', 'list'])).stdout;
      assert.match(list, /^agent-kept +enabled +api /m);
      assert.match(list, /^agent-off +disabled +api /m);
      assert.doesNotMatch(list, /agent-gone/, 'a deleted policy stays deleted');
      assert.match((await cli(['rules', 'list'])).stdout, /kept-rules\.yaml +api +1\n1 rules active of 1\n$/);
      const posts = await agent.eventsWhile(['--sensors', 'policy', '--count', '1', '--duration', '20'], () => touch(watched));
      assert.match(posts.stdout, new RegExp(watched), 'the kept policy matches after the restart');
      const alert = await agent.eventsWhile(['--sensors', 'alert', '--count', '1', '--duration', '20'], () => touch(`${prefix}-1`));
      assert.match(alert.stdout, new RegExp(`Warning agent test open ${prefix}-1`), 'the kept rules alert after the restart');

      // Deleted after the restart: gone from the state too.
      assert.equal((await cli(['policy', 'delete', 'agent-kept'])).status, 0);
      assert.equal((await cli(['rules', 'delete', files.rules])).status, 0);
      agent = await agent.restart();
      assert.equal((await cli(['policy', 'list'])).stdout.match(/^agent-\S+/gm)?.join(' '), 'agent-off');
      assert.match((await cli(['rules', 'list'])).stdout, /0 rules active of 0\n$/);
    } finally {
      await agent.stop();
    }
  });

  test('a state directory others can write to stops the start: one line, status 1', () => {
    let state = '';
    const { lines } = refusedStart('vigil-agent-state-', (dir) => {
      state = path.join(dir, 'state');
      mkdirSync(state);
      chmodSync(state, 0o777);
      return `state:\n  directory: ${state}\n`;
    });
    assert.deepEqual(lines, [`vigil agent: state.directory: ${state} is writable by others (mode 0777); make it 0700 or remove it`]);
  });
});
