// Conditions compiled to closures and evaluated on synthetic RuleEvents:
// every operator, lists, macros, exceptions, transformers, modifiers, <NA>
// semantics, and the event-type index. Pure: no kernel.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RuleEvent } from '../src/rules/event.js';
import { formatTypeSet } from '../src/rules/evttype.js';
import { formatDiagnostic } from '../src/rules/diagnostics.js';
import { BASH, SSHD, T0, cond, engineOf, event, execEvent, openEvent, proc, ruleYaml, rulesReport } from './rules-helpers.js';

const cat = proc({ name: 'cat', args: ['/etc/shadow'] });
const shadow = openEvent(cat, '/etc/shadow');

function errorsOf(yaml: string | string[]): string[] {
  return rulesReport(yaml).diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
}

describe('boolean logic', () => {
  const defs = `
- macro: a
  condition: evt.num = 1
- macro: b
  condition: proc.name = cat
- macro: c
  condition: fd.num = 3
`;
  test('not > and > or, evaluated', () => {
    const e1 = { ...shadow, num: 1 }; // a, b, c all true
    const e2 = { ...shadow, num: 2, process: proc({ name: 'ls' }) }; // a false, b false, c true
    assert.equal(cond('a or b and c', defs)(e2), false);
    assert.equal(cond('a or not b and c', defs)(e2), true);
    assert.equal(cond('not a and not b', defs)(e2), true);
    assert.equal(cond('not (a or b or c)', defs)(e2), false);
    assert.equal(cond('a and b and c', defs)(e1), true);
    assert.equal(cond('(a or b) and not c', defs)(e1), false);
  });
});

describe('operators', () => {
  const ev = event({
    type: 'openat',
    process: proc({ name: 'Curl', args: ['-s', 'http://x'], exepath: '/usr/bin/curl' }),
    fd: { num: 3, type: 'file', name: '/home/alice/.ssh/id_rsa' },
    buffer: Buffer.from('\x7fELF\x02\x01', 'latin1'),
  });
  const cases: [string, boolean][] = [
    ['proc.name = Curl', true],
    ['proc.name == curl', false],
    ['proc.name != curl', true],
    ['proc.cmdline = "Curl -s http://x"', true],
    ['proc.args contains "http://"', true],
    ['proc.name icontains CURL', true],
    ['proc.name contains CURL', false],
    ['fd.name startswith /home/', true],
    ['fd.name endswith id_rsa', true],
    ["fd.name glob '/home/*/.ssh/*'", true],
    ["fd.name glob '/home/*'", true], // * crosses '/' (fnmatch without FNM_PATHNAME)
    ["fd.name glob '/home/?lice/.ssh/id_[rd]sa'", true],
    ["fd.name glob '/home/*/.SSH/*'", false],
    ["fd.name iglob '/HOME/*/.SSH/*'", true],
    ["fd.name regex '/home/[a-z]+/[.]ssh/id_(rsa|dsa)'", true],
    ["fd.name regex '/home/alice/\\\\.ssh/.*'", true], // '\\' in the condition is one backslash for the regex
    ["fd.name regex 'id_rsa'", false], // anchored at both ends, as RE2's ANCHOR_BOTH
    ['fd.name in (/etc/shadow, /home/alice/.ssh/id_rsa)', true],
    ['fd.name intersects (/home/alice/.ssh/id_rsa)', true],
    ['fd.name in (/etc/shadow)', false],
    ['fd.name pmatch (/home/alice/.ssh)', true],
    ['fd.name pmatch (/home/alice/)', true],
    ['fd.name pmatch (/home/ali)', false],
    ['fd.name pmatch (/)', true],
    ['fd.directory = /home/alice/.ssh', true],
    ['fd.filename = id_rsa', true],
    ['fd.num >= 0', true],
    ['fd.num < 3', false],
    ['fd.num <= 3', true],
    ['fd.num > 0x2', true],
    ['fd.num in (1, 2, 3)', true],
    ['evt.buffer bcontains 454c46', true],
    ['evt.buffer bstartswith 7f454c46', true],
    ['evt.buffer bstartswith 454c46', false],
    ['evt.buffer contains ELF', true],
    ['proc.pname exists', true],
    ['proc.aname[9] exists', false],
    ['container.image.repository exists', false],
  ];
  for (const [c, want] of cases) {
    test(c, () => assert.equal(cond(c)(ev), want));
  }

  test('booleans, numbers parsed to the field type; bad literals are errors with positions', () => {
    const w = openEvent(cat, '/tmp/x', 0o1101);
    assert.equal(cond('evt.is_open_write = true and evt.is_open_read = false')(w), true);
    assert.equal(cond('evt.arg.flags contains O_TRUNC')(w), true);
    assert.equal(cond('evt.arg.flags = "O_WRONLY|O_CREAT|O_TRUNC"')(w), true);
    assert.deepEqual(errorsOf(ruleYaml('fd.num > abc and fd.num = x')).length, 1);
    const errs = errorsOf(ruleYaml('evt.type = open and fd.num = x'));
    assert.match(errs[0]!, /rules0\.yaml:4:\d+: error: rule 't': 'x' is not a valid number \(field 'fd.num'\)/);
    assert.match(errorsOf(ruleYaml('evt.is_open_read = maybe'))[0]!, /not a valid boolean/);
    assert.match(errorsOf(ruleYaml('fd.num contains 3'))[0]!, /operator 'contains' is not supported by field 'fd.num' of type number/);
  });

  test('network fields: addresses, networks, either end', () => {
    const conn = event({
      type: 'connect',
      fd: { num: 3, type: 'ipv4', l4proto: 'tcp', local: { ip: '192.168.1.5', port: 40000 }, remote: { ip: '10.1.2.3', port: 22 } },
    });
    const checks: [string, boolean][] = [
      ['fd.sip = 10.1.2.3', true],
      ['fd.cip = 192.168.1.5', true],
      ['fd.sport = 22 and fd.cport = 40000', true],
      ['fd.lport = 40000 and fd.rport = 22', true],
      ['fd.ip = 10.1.2.3', true], // either end
      ['fd.ip != "0.0.0.0"', true],
      ['fd.net = "10.0.0.0/8"', true],
      ['fd.net != "127.0.0.0/8"', true],
      ['fd.snet in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")', true],
      ['fd.cnet in ("10.0.0.0/8")', false],
      ['fd.port in (22, 443)', true],
      ['fd.name = "192.168.1.5:40000->10.1.2.3:22"', true],
      ['fd.typechar = 4 and fd.type = ipv4 and fd.sockfamily = ip', true],
      ['fd.l4proto = tcp', true],
    ];
    for (const [c, want] of checks) assert.equal(cond(c)(conn), want, c);
    // accepted: this process is the server
    const acc = { ...conn, fd: { ...conn.fd!, isServer: true } };
    assert.equal(cond('fd.sip = 192.168.1.5 and fd.sport = 40000')(acc), true);
    const v6 = event({ type: 'connect', fd: { num: 3, type: 'ipv6', local: { ip: '::1', port: 1 }, remote: { ip: '0:0:0:0:0:0:0:1', port: 2 } } });
    assert.equal(cond('fd.sip = "::1" and fd.snet = "::/64"')(v6), true);
    assert.match(errorsOf(ruleYaml('fd.sip = 10.1.2'))[0]!, /not a valid IP address/);
  });
});

describe('<NA>: a field with no value matches nothing', () => {
  const ev = event({ type: 'execve' }); // no fd, no container image
  test('=, != and in are all false; not ... is true', () => {
    assert.equal(cond('fd.name = /x')(ev), false);
    assert.equal(cond('fd.name != /x')(ev), false);
    assert.equal(cond('container.image.repository in (a, b)')(ev), false);
    assert.equal(cond('not container.image.repository in (a, b)')(ev), true);
    assert.equal(cond('k8s.ns.name = "kube-system"')(ev), false);
  });
  test('host processes: container.id and container.name are "host"', () => {
    assert.equal(cond('container.id = host and container.name = host')(ev), true);
    assert.equal(cond('container.id != host')(ev), false);
    const inC = event({ type: 'execve', container: { id: '0123456789abcdef0123', privileged: true } });
    assert.equal(cond('container.id = 0123456789ab and container.privileged = true')(inC), true);
  });
});

describe('process tree', () => {
  const sh = proc({ name: 'sh', parent: { ...BASH } });
  const ev = execEvent(sh);
  test('proc.aname[N]: 0 self, 1 parent, ...; without index: any ancestor', () => {
    assert.equal(cond('proc.aname[0] = sh and proc.aname[1] = bash and proc.aname[2] = sshd and proc.aname[3] = systemd')(ev), true);
    assert.equal(cond('proc.aname = sshd')(ev), true);
    assert.equal(cond('proc.aname = sh')(ev), false); // ancestors only
    assert.equal(cond('proc.aname in (nginx, systemd)')(ev), true);
    assert.equal(cond('proc.apid[2] = 500 and proc.apid = 1')(ev), true);
    assert.equal(cond('proc.pname = bash and proc.pexepath = /usr/bin/bash and proc.pcmdline = bash')(ev), true);
    assert.equal(cond('proc.aexepath[2] = /usr/sbin/sshd and proc.aexe[2] = /usr/sbin/sshd')(ev), true);
    assert.match(errorsOf(ruleYaml('proc.aname[x] = a'))[0]!, /needs a non-negative integer argument/);
  });
  test('cmdline, exe, cwd (with a trailing /), duration, users', () => {
    const p = proc({ name: 'python3', exe: './run.py', args: ['-c', 'print(1)'], cwd: '/dev/shm', uid: 0, loginuid: 4294967295 });
    const e = execEvent(p);
    assert.equal(cond('proc.cmdline = "python3 -c print(1)" and proc.args = "-c print(1)"')(e), true);
    assert.equal(cond('proc.exe startswith "./" and proc.cwd = /dev/shm/')(e), true);
    assert.equal(cond('proc.duration <= 5000000000')(e), true);
    assert.equal(cond('user.name = root and user.uid = 0 and user.loginuid = -1 and group.name = staff')(execEvent({ ...p, gid: 50 })), true);
    assert.equal(cond('user.name = alice and user.loginname = alice and user.homedir = /home/alice and user.shell = /bin/zsh')(execEvent(BASH)), true);
  });
  test('capabilities render as names', () => {
    const e = execEvent(proc({ name: 'insmod', capEffective: (1n << 16n) | (1n << 21n) }));
    assert.equal(cond('thread.cap_effective icontains sys_module and thread.cap_effective contains CAP_SYS_ADMIN')(e), true);
    assert.equal(cond('thread.cap_effective = "CAP_SYS_MODULE CAP_SYS_ADMIN"')(e), true);
  });
});

describe('transformers and fields on the right', () => {
  const ev = execEvent(proc({ name: 'Bash', exepath: '/usr/local/bin/Bash', args: ['-c', 'aGVsbG8='], parent: { ...BASH, name: 'bash' } }));
  const cases: [string, boolean][] = [
    ['tolower(proc.name) = bash', true],
    ['toupper(proc.name) = BASH', true],
    ['basename(proc.exepath) = Bash', true],
    ['len(proc.name) = 4', true],
    ['len(basename(proc.exepath)) > 3', true],
    ['b64(proc.args[1]) = hello', true], // proc.args[N]: a Vigil extension
    ['proc.args[0] = "-c" and proc.args[5] exists', false],
    ['tolower(proc.name) = val(proc.pname)', true],
    ['proc.name = val(proc.pname)', false],
    ['tolower(proc.name) = tolower(proc.pname)', true],
    ['proc.name != val(proc.pname)', true],
    ['proc.pid > val(proc.ppid)', true],
  ];
  for (const [c, want] of cases) {
    test(c, () => assert.equal(cond(c)(ev), want));
  }
  test('b64 decodes; transformer type errors name the field', () => {
    const e = execEvent(proc({ name: 'x', env: ['PAYLOAD=aGVsbG8='] }));
    assert.equal(cond('b64(proc.env[PAYLOAD]) = hello')(e), true);
    assert.equal(cond('b64(proc.env[PAYLOAD]) = hello')(execEvent(proc({ name: 'x', env: ['PAYLOAD=not base64!'] }))), false);
    assert.match(errorsOf(ruleYaml('proc.name[1] = x'))[0]!, /field 'proc.name' takes no argument/);
    assert.match(errorsOf(ruleYaml('tolower(fd.num) = 1'))[0]!, /type 'number' is not supported by 'tolower' transformer applied on field 'fd.num'/);
    assert.match(errorsOf(ruleYaml('proc.name = val(fd.num)'))[0]!, /can't be compared with right-hand side field 'fd.num'/);
  });
});

describe('oneof / anyof / allof (libsinsp cmp_operator_modifiers)', () => {
  const ev = execEvent(proc({ name: 'myexe', exepath: '/myexe' }));
  const cases: [string, boolean][] = [
    ['proc.name == oneof (myexe, bash)', true],
    ['proc.name == oneof (bash, sh)', false],
    ['proc.name == oneof (myexe, myexe)', false],
    ['proc.name == anyof (myexe, bash)', true],
    ['proc.name == anyof (myexe, myexe)', true],
    ['proc.name == allof (myexe)', true],
    ['proc.name == allof (myexe, bash)', false],
    ['proc.name != oneof (myexe, myexe, bash)', true],
    ['proc.name != oneof (myexe, myexe)', false],
    ['proc.name != anyof (myexe, bash)', true],
    ['proc.name != allof (bash, sh)', true],
    ['proc.name != allof (myexe, bash)', false],
    ['proc.name contains oneof (my, exe)', false],
    ['proc.name contains allof (my, exe)', true],
    ['proc.name icontains anyof (MY, EXE)', true],
    ['proc.name startswith oneof (my, bash)', true],
    ['proc.name startswith allof (my, mye)', true],
    ['proc.name endswith oneof (exe, yexe)', false],
    ['proc.name glob anyof (my*, *exe)', true],
    ['proc.name iglob allof (MY*, *EXE)', true],
    ['proc.name regex oneof (my.*, .*exe)', false],
    ['proc.name regex allof (my.*, .*exe)', true],
    ['toupper(proc.name) != allof (BASH, SH)', true],
    ['proc.name == anyof ()', false],
    ['proc.name != allof ()', false],
  ];
  for (const [c, want] of cases) test(c, () => assert.equal(cond(c)(ev), want));
  test('with a list name', () => {
    assert.equal(cond('proc.exepath startswith anyof (bin_dirs)', '- list: bin_dirs\n  items: [/usr/bin, /]\n')(ev), true);
  });
});

describe('lists', () => {
  const defs = `
- list: shells
  items: [ash, bash, '"(systemd)"']
- list: more_shells
  items: [shells, zsh]
- list: empty
  items: []
- list: cmdlines
  items: ['"sh -c uname -p 2> /dev/null"', '"sh -c node -e \\"require(''nan'')\\""']
- list: ports
  items: [80, 443]
`;
  test('nested lists expand; quoted items unquote; empty lists vanish', () => {
    assert.equal(cond('proc.name in (more_shells)', defs)(execEvent(proc({ name: 'bash' }))), true);
    assert.equal(cond('proc.name in (more_shells)', defs)(execEvent(proc({ name: 'zsh' }))), true);
    assert.equal(cond('proc.name in (more_shells)', defs)(execEvent(proc({ name: '(systemd)' }))), true);
    assert.equal(cond('proc.name in (empty, sh)', defs)(execEvent(proc({ name: 'sh' }))), true);
    assert.equal(cond('proc.name in (empty)', defs)(execEvent(proc({ name: 'sh' }))), false);
    assert.equal(cond('proc.name in more_shells', defs)(execEvent(proc({ name: 'ash' }))), true);
    assert.equal(cond('proc.name in ("shells")', defs)(execEvent(proc({ name: 'bash' }))), false); // quoted: not a list name
  });
  test('items with blanks and escapes match whole command lines', () => {
    const c = cond('proc.cmdline in (cmdlines)', defs);
    assert.equal(c(execEvent(proc({ name: 'sh', args: ['-c', 'uname', '-p', '2>', '/dev/null'] }))), true);
    assert.equal(c(execEvent(proc({ name: 'sh', args: ['-c', 'node', '-e', '"require(\'nan\')"'] }))), true);
  });
  test('numeric items', () => {
    const conn = event({ type: 'connect', fd: { num: 3, type: 'ipv4', local: { ip: '10.0.0.1', port: 5 }, remote: { ip: '1.1.1.1', port: 443 } } });
    assert.equal(cond('fd.sport in (ports)', defs)(conn), true);
  });
  test('a list sees only lists defined before it; conditions see all', () => {
    const r = rulesReport(`
- list: a
  items: [b, x]
- list: b
  items: [y]
${ruleYaml('proc.name in (a) or proc.name in (b)').trim()}
`);
    assert.ok(r.ok);
    const e = engineOf(`
- list: a
  items: [b, x]
- list: b
  items: [y]
${ruleYaml('proc.name in (a)')}`);
    assert.equal(e.rules[0]!.condition(execEvent(proc({ name: 'b' }))), true);
    assert.equal(e.rules[0]!.condition(execEvent(proc({ name: 'y' }))), false);
  });
});

describe('macros', () => {
  test('macros compose; rules see every macro', () => {
    const defs = `
- macro: is_shell
  condition: proc.name in (bash, sh)
- macro: spawned
  condition: evt.type = execve
- macro: shell_spawned
  condition: spawned and is_shell
`;
    assert.equal(cond('shell_spawned and later', `${defs}
- macro: later
  condition: proc.pname = bash
`)(execEvent(proc({ name: 'sh' }))), true);
  });
  test('a macro sees only macros defined before it', () => {
    const errs = errorsOf(`
- macro: first
  condition: second and proc.name = x
- macro: second
  condition: evt.type = execve
${ruleYaml('first')}`);
    assert.equal(errs.length, 1);
    assert.match(errs[0]!, /rules0\.yaml:3:14: error: macro 'first': Undefined macro 'second' used in filter\./);
  });
  test('an undefined macro in a rule is an error at its place', () => {
    const errs = errorsOf(ruleYaml('evt.type = execve and not no_such_macro'));
    assert.match(errs[0]!, /rules0\.yaml:4:\d+: error: rule 't': Undefined macro 'no_such_macro' used in filter\./);
  });
  test('an unused macro or list is a warning', () => {
    const r = rulesReport(`
- list: lonely
  items: [a]
- macro: idle
  condition: evt.num = 0
${ruleYaml('evt.type = execve')}`);
    const w = r.diagnostics.map(formatDiagnostic);
    assert.ok(w.some((x) => /2:3: warning: list 'lonely': List not referred to by any other rule\/macro/.test(x)), w.join('\n'));
    assert.ok(w.some((x) => /4:3: warning: macro 'idle': Macro not referred to by any other rule\/macro/.test(x)), w.join('\n'));
  });
});

describe('exceptions', () => {
  const rule = (exceptions: string): string => `
- list: allowed_tools
  items: [vim, nano]
- rule: t
  desc: test
  condition: evt.type = openat and fd.name startswith /etc/
  output: "t %fd.name"
  priority: WARNING
  exceptions:
${exceptions}`;
  test('list form: fields, comps, tuples (scalars and lists)', () => {
    const e = engineOf(rule(`
    - name: known_writers
      fields: [proc.name, fd.name]
      comps: [in, startswith]
      values:
        - [vim, /etc/vim]
        - [[ed, sed], /etc/sed]
        - [allowed_tools, /etc/hosts]`));
    const c = e.rules[0]!.condition;
    assert.equal(c(openEvent(proc({ name: 'vim' }), '/etc/vim/vimrc')), false);
    assert.equal(c(openEvent(proc({ name: 'vim' }), '/etc/passwd')), true);
    assert.equal(c(openEvent(proc({ name: 'cat' }), '/etc/vim/vimrc')), true);
    assert.equal(c(openEvent(proc({ name: 'sed' }), '/etc/sed/x')), false);
    assert.equal(c(openEvent(proc({ name: 'nano' }), '/etc/hosts')), false); // a list name expands under 'in'
    assert.equal(c(openEvent(proc({ name: 'nano' }), '/etc/passwd')), true);
  });
  test('list form: comps default to =, list values with in', () => {
    const e = engineOf(rule(`
    - name: by_proc
      fields: [proc.name, fd.name]
      values: [[cat, /etc/hosts]]
    - name: by_list
      fields: [proc.name]
      comps: [in]
      values: [[allowed_tools]]`));
    const c = e.rules[0]!.condition;
    assert.equal(c(openEvent(proc({ name: 'cat' }), '/etc/hosts')), false);
    assert.equal(c(openEvent(proc({ name: 'cat' }), '/etc/shadow')), true);
    assert.equal(c(openEvent(proc({ name: 'nano' }), '/etc/shadow')), false);
  });
  test('single-field form: comps in (default), pmatch, intersects', () => {
    const e = engineOf(rule(`
    - name: procs
      fields: proc.name
      values: [allowed_tools, cat]
    - name: paths
      fields: fd.name
      comps: pmatch
      values: [/etc/ssl]`));
    const c = e.rules[0]!.condition;
    assert.equal(c(openEvent(proc({ name: 'vim' }), '/etc/shadow')), false);
    assert.equal(c(openEvent(proc({ name: 'cat' }), '/etc/shadow')), false);
    assert.equal(c(openEvent(proc({ name: 'ls' }), '/etc/ssl/certs/x')), false);
    assert.equal(c(openEvent(proc({ name: 'ls' }), '/etc/shadow')), true);
  });
  test('an exception with no values adds nothing', () => {
    const e = engineOf(rule(`
    - name: nothing_yet
      fields: [proc.name]`));
    assert.equal(e.rules[0]!.condition(openEvent(proc({ name: 'vim' }), '/etc/x')), true);
  });
  test('malformed exceptions are errors naming the exception', () => {
    assert.match(errorsOf(rule(`
    - name: bad
      fields: [proc.name, fd.name]
      comps: [=]
      values: [[a, b]]`))[0]!, /Fields and comps lists must have equal length/);
    assert.match(errorsOf(rule(`
    - name: bad
      fields: proc.name
      comps: startswith
      values: [a]`))[0]!, /comps must be one of \(in, pmatch, intersects\)/);
    assert.match(errorsOf(rule(`
    - name: bad
      fields: [proc.name]
      comps: [like]
      values: [[a]]`))[0]!, /'like' is not a supported comparison operator/);
    assert.match(errorsOf(rule(`
    - name: bad
      fields: [proc.name, fd.name]
      values: [[a]]`))[0]!, /Fields and values lists must have equal length \(exception 'bad'\)/);
    assert.match(errorsOf(rule(`
    - name: bad
      fields: [proc.nmae]
      values: [[a]]`))[0]!, /nonexistent field proc\.nmae/);
  });
});

describe('fields Vigil does not know', () => {
  test('a field Falco does not know either is an error at its place', () => {
    const errs = errorsOf(ruleYaml('evt.type = execve and proc.nmae = x'));
    assert.match(errs[0]!, /rules0\.yaml:4:\d+: error: rule 't': filter_check called with nonexistent field proc\.nmae/);
  });
  test('a Falco field Vigil does not provide skips the rule, with the reason', () => {
    const r = rulesReport(ruleYaml('evt.type = execve and proc.vmrss > 1000'));
    assert.ok(r.ok);
    assert.equal(r.rules.length, 0);
    assert.deepEqual(r.skipped.map((s) => [s.name, s.reason]), [['t', 'uses field proc.vmrss, which Vigil does not provide']]);
  });
  test('skip-if-unknown-filter turns an unknown field into a skip', () => {
    const r = rulesReport(`
- rule: t
  desc: test
  condition: evt.type = execve and proc.nmae = x
  output: t
  priority: INFO
  skip-if-unknown-filter: true
`);
    assert.ok(r.ok);
    assert.equal(r.skipped[0]?.name, 't');
    assert.ok(r.diagnostics.some((d) => d.code === 'LOAD_UNKNOWN_FILTER'));
  });
});

describe('event types', () => {
  const types = (c: string, defs = ''): string => formatTypeSet(engineOf(ruleYaml(c, `${defs}
- macro: spawned
  condition: evt.type in (execve, execveat)
`)).rules[0]!.eventTypes);
  test('Falco evttype analysis under and / or / not', () => {
    assert.equal(types('evt.type = open'), '{open}');
    assert.equal(types('evt.type in (open, openat) and proc.name = x'), '{open, openat}');
    assert.equal(types('evt.type = open or evt.type = connect'), '{connect, open}');
    assert.equal(types('spawned and not evt.type = execveat'), '{execve}');
    assert.equal(types('evt.type != open'), 'all but {open}');
    assert.equal(types('not evt.type in (open, close)'), 'all but {close, open}');
    assert.equal(types('proc.name = x'), 'all');
    assert.equal(types('not (evt.type = open and proc.name = x)'), 'all');
    assert.equal(types('evt.type = open and evt.type = close'), '{}');
    assert.equal(types('evt.type = anyof (open, creat)'), '{creat, open}');
  });
  test('a rule matching every type is a warning (warn_evttypes)', () => {
    const r = rulesReport(ruleYaml('proc.name = x'));
    assert.ok(r.diagnostics.some((d) => d.code === 'LOAD_NO_EVTTYPE'));
    assert.ok(!rulesReport(ruleYaml('evt.type = execve')).diagnostics.some((d) => d.code === 'LOAD_NO_EVTTYPE'));
  });
  test('an unknown event type name is a warning', () => {
    const r = rulesReport(ruleYaml('evt.type = not_a_syscall'));
    assert.ok(r.diagnostics.some((d) => d.code === 'LOAD_UNKNOWN_EVTTYPE' && /not_a_syscall/.test(d.message)));
  });
  test('rules run only for the event types they can match; the union is the interesting set', () => {
    const e = engineOf(`
- rule: opens
  desc: d
  condition: evt.type in (open, openat) and fd.name = /etc/shadow
  output: o
  priority: INFO
- rule: execs
  desc: d
  condition: evt.type = execve and proc.name = sh
  output: o
  priority: INFO
- rule: off
  desc: d
  condition: evt.type = ptrace
  output: o
  priority: INFO
  enabled: false
`);
    assert.deepEqual(e.interestingEventTypes(), { all: false, types: ['execve', 'open', 'openat'], except: [] });
    assert.deepEqual(e.rulesFor('openat').map((r) => r.name), ['opens']);
    assert.deepEqual(e.rulesFor('ptrace').map((r) => r.name), []);
    e.evaluate(openEvent(proc({ name: 'cat' }), '/etc/shadow'));
    e.evaluate(event({ type: 'close' }));
    e.evaluate(execEvent(proc({ name: 'sh' })));
    const s = e.stats();
    assert.equal(s.events, 3);
    assert.equal(s.evaluations, 2);
    assert.deepEqual([...s.matches], [['opens', 1], ['execs', 1]]);
  });
});

test('SSHD fixture is an ancestor of test processes', () => {
  // guards the fixtures the other tests rely on
  assert.equal(proc({ name: 'x' }).parent?.parent, SSHD);
  const ev: RuleEvent = { type: 'execve', timeNs: T0 };
  assert.equal(cond('proc.name exists')(ev), false);
});
