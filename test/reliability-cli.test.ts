// The bad-flag battery: every command and subcommand, given an unknown flag,
// a bad value, a negative number or a missing argument, answers with one
// line `vigil CMD: reason` and exit status 2: never a stack trace, never
// success, never a kernel load. VIGIL_DEBUG=1 adds the stack.
//
// Pure (nothing reaches the kernel: arguments are checked first, before the
// capability check), so it belongs to the unit tier and passes as any user.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { repoPath } from '../src/util/paths.js';

const vigil = repoPath('bin', 'vigil');

interface Case {
  /** What is wrong, for the report. */
  kind: 'unknown flag' | 'bad value' | 'negative number' | 'missing argument' | 'missing value';
  argv: string[];
  /** The error names this (the flag, the value or what is missing). */
  names: RegExp;
}

const UNKNOWN = '--no-such-flag-xyz';

/** Every command and subcommand with the flags it takes; each gets the unknown-flag case too. */
const BATTERY: Record<string, Case[]> = {
  'features': [
    { kind: 'bad value', argv: ['--verifier-log', 'nope'], names: /--verifier-log nope.*objects: .*firewall/ },
    { kind: 'missing value', argv: ['--verifier-log'], names: /--verifier-log: a value is needed/ },
    { kind: 'bad value', argv: ['--json=yes'], names: /--json takes no value/ },
  ],
  'observe': [
    { kind: 'bad value', argv: ['--sensors', 'nope'], names: /unknown sensor "nope"; available: exec, exit, fork, file, flow, dns/ },
    { kind: 'bad value', argv: ['--output', 'xml'], names: /--output: unknown format "xml"; available: / },
    { kind: 'bad value', argv: ['--pid', 'abc'], names: /--pid: expected an integer/ },
    { kind: 'bad value', argv: ['--label', '=web'], names: /--label: expected KEY=VALUE or KEY, got "=web"/ },
    { kind: 'bad value', argv: ['--cri-socket', 'run/x.sock'], names: /--cri-socket: expected an absolute path or "none", got "run\/x\.sock"/ },
    { kind: 'bad value', argv: ['--sensors', 'flow', '--pod', 'web-0'], names: /--namespace, --pod, --label: select processes' events; flows are not named by pod/ },
    { kind: 'bad value', argv: ['--time-format', 'nope'], names: /--time-format: unknown layout "nope"; available: StampMilli, RFC3339/ },
    { kind: 'bad value', argv: ['--color', 'sometimes'], names: /--color: expected auto, always, never, got "sometimes"/ },
    { kind: 'negative number', argv: ['--duration', '-1'], names: /--duration: expected a positive number, got "-1"/ },
    { kind: 'negative number', argv: ['--count', '-5'], names: /--count: expected a positive integer, got "-5"/ },
    { kind: 'negative number', argv: ['--pid', '-3'], names: /--pid: expected an integer >= 1, got "-3"/ },
    { kind: 'missing value', argv: ['--duration'], names: /--duration: a value is needed/ },
    { kind: 'missing value', argv: ['--sensors', 'exec', '--comm'], names: /--comm: a value is needed/ },
    { kind: 'bad value', argv: ['--sensors', 'exec,fork', '--output', 'tetragon'], names: /--output tetragon: Tetragon reports no fork events/ },
  ],
  'observe --sensors flow': [
    { kind: 'bad value', argv: ['--output', 'yaml'], names: /--output: "yaml": for flows one of compact, json, jsonpb/ },
    { kind: 'bad value', argv: ['--tcp-flags', 'SYN,XMAS'], names: /--tcp-flags: unknown flag "XMAS"/ },
    { kind: 'bad value', argv: ['--since', '5m'], names: /--since: past flows come from an agent's history/ },
    { kind: 'bad value', argv: ['--until', '2001-01-01T00:00:00Z'], names: /--until: 2001-01-01T00:00:00Z has passed/ },
    { kind: 'negative number', argv: ['--dns-port', '-53'], names: /--dns-port: not a port: "-53"/ },
    { kind: 'negative number', argv: ['--duration', '-1'], names: /--duration: expected a positive number, got "-1"/ },
    { kind: 'missing value', argv: ['--duration'], names: /--duration: a value is needed/ },
  ],
  'run': [
    { kind: 'missing argument', argv: [], names: /give --rules FILE\|DIR/ },
    { kind: 'missing value', argv: ['--rules'], names: /--rules: a value is needed/ },
    { kind: 'bad value', argv: ['--rules', '/dev/null', '--min-priority', 'loud'], names: /--min-priority: unknown priority "loud"; available: emergency, alert, .*, debug/ },
    { kind: 'bad value', argv: ['--rules', '/dev/null', '--output', 'xml'], names: /--output: expected text, json or tetragon, got "xml"/ },
    { kind: 'bad value', argv: ['--rules', '/dev/null', '--output', 'tetragon'], names: /--output tetragon: policy events only/ },
    { kind: 'negative number', argv: ['--rules', '/dev/null', '--duration', '-1'], names: /--duration: expected a positive number/ },
  ],
  'profile': [
    { kind: 'bad value', argv: ['--output', 'svgz'], names: /--output: unknown format "svgz"/ },
    { kind: 'negative number', argv: ['--frequency', '-5'], names: /--frequency: expected an integer in 1\.\.999, got "-5"/ },
    { kind: 'negative number', argv: ['--duration', '-1'], names: /--duration: .*"-1"/ },
    { kind: 'missing value', argv: ['--duration'], names: /--duration: a value is needed/ },
  ],
  'top': [
    { kind: 'missing argument', argv: [], names: /give a view: syscalls, files, tcp/ },
    { kind: 'bad value', argv: ['nope'], names: /unknown view "nope"; available: syscalls, files, tcp/ },
  ],
  'top syscalls': [
    { kind: 'bad value', argv: ['--output', 'xml'], names: /--output: unknown format "xml"; available: / },
    { kind: 'negative number', argv: ['--interval', '-1'], names: /--interval: expected a positive number, got "-1"/ },
    { kind: 'negative number', argv: ['--limit', '-2'], names: /--limit: expected a positive integer, got "-2"/ },
    { kind: 'missing value', argv: ['--limit'], names: /--limit: a value is needed/ },
  ],
  'top files': [
    { kind: 'negative number', argv: ['--duration', '-1'], names: /--duration: expected a positive number, got "-1"/ },
  ],
  'top tcp': [
    { kind: 'bad value', argv: ['--sort', 'x'], names: /--sort: rate or bytes, got "x"/ },
    { kind: 'negative number', argv: ['--interval', '-1'], names: /--interval: .*"-1"/ },
    { kind: 'missing value', argv: ['--duration'], names: /--duration: a value is needed/ },
  ],
  'rules validate': [
    { kind: 'missing argument', argv: [], names: /at least one rules file/ },
  ],
  'firewall': [
    { kind: 'missing argument', argv: [], names: /give a subcommand: attach, detach, block, unblock, allow, unallow, ratelimit, status/ },
    { kind: 'bad value', argv: ['frobnicate'], names: /unknown subcommand "frobnicate"; available: attach, detach, .*status/ },
  ],
  'firewall attach': [
    { kind: 'missing argument', argv: [], names: /attach: give one interface/ },
    { kind: 'bad value', argv: ['lo', '--mode', 'turbo'], names: /--mode: unknown mode "turbo"; available: native, generic/ },
    { kind: 'missing value', argv: ['lo', '--mode'], names: /--mode: a value is needed/ },
    { kind: 'bad value', argv: ['lo', '--pps', '5'], names: /unknown option --pps; valid options: --mode/ },
  ],
  'firewall detach': [
    { kind: 'missing argument', argv: [], names: /detach: give one interface/ },
  ],
  'firewall block': [
    { kind: 'missing argument', argv: [], names: /block: give at least one CIDR/ },
    { kind: 'bad value', argv: ['10.0.0.0/33'], names: /10\.0\.0\.0\/33/ },
    { kind: 'missing value', argv: ['10.0.0.1', '--iface'], names: /--iface: a value is needed/ },
  ],
  'firewall unblock': [{ kind: 'missing argument', argv: [], names: /unblock: give at least one CIDR/ }],
  'firewall allow': [{ kind: 'bad value', argv: ['not-an-address'], names: /not-an-address/ }],
  'firewall unallow': [{ kind: 'missing argument', argv: [], names: /unallow: give at least one CIDR/ }],
  'firewall ratelimit': [
    { kind: 'missing argument', argv: [], names: /give --pps N \(or --off\)/ },
    { kind: 'negative number', argv: ['--pps', '-1'], names: /--pps: expected a positive integer, got "-1"/ },
    { kind: 'negative number', argv: ['--pps', '10', '--burst', '-1'], names: /--burst: expected a positive integer, got "-1"/ },
    { kind: 'bad value', argv: ['--pps', 'lots'], names: /--pps: expected a positive integer, got "lots"/ },
    { kind: 'missing value', argv: ['--pps'], names: /--pps: a value is needed/ },
  ],
  'firewall status': [
    { kind: 'negative number', argv: ['--top', '-3'], names: /--top: expected a positive integer, got "-3"/ },
    { kind: 'bad value', argv: ['--top', 'x'], names: /--top: expected a positive integer, got "x"/ },
    { kind: 'missing value', argv: ['--top'], names: /--top: a value is needed/ },
  ],
  'netpolicy': [
    { kind: 'missing argument', argv: [], names: /give a subcommand: apply, status, remove, watch/ },
    { kind: 'bad value', argv: ['frobnicate'], names: /unknown subcommand "frobnicate"; available: apply, status, remove, watch/ },
  ],
  'netpolicy apply': [
    { kind: 'missing argument', argv: [], names: /apply: give one policy file/ },
    { kind: 'bad value', argv: ['p.yaml', '--foreground', '-o', 'xml'], names: /--output: unknown format "xml"; available: json, compact/ },
    { kind: 'missing value', argv: ['p.yaml', '--foreground', '-o'], names: /--output: a value is needed/ },
  ],
  'netpolicy remove': [{ kind: 'missing argument', argv: [], names: /remove: give one cgroup \(or --all\)/ }],
  'netpolicy status': [{ kind: 'bad value', argv: ['a', 'b'], names: /status: at most one cgroup/ }],
  'netpolicy watch': [
    { kind: 'negative number', argv: ['--count', '-1'], names: /--count: expected a positive integer, got "-1"/ },
    { kind: 'bad value', argv: ['-o', 'xml'], names: /--output: unknown format "xml"/ },
    { kind: 'missing value', argv: ['--count'], names: /--count: a value is needed/ },
  ],
  'bandwidth': [
    { kind: 'missing argument', argv: [], names: /give a subcommand: attach, detach, set, unset, status/ },
    { kind: 'bad value', argv: ['frobnicate'], names: /unknown subcommand "frobnicate"; available: attach, .*status/ },
  ],
  'bandwidth attach': [{ kind: 'missing argument', argv: [], names: /attach: give one interface/ }],
  'bandwidth detach': [{ kind: 'missing argument', argv: [], names: /detach: give one interface/ }],
  'bandwidth set': [
    { kind: 'missing argument', argv: ['--rate', '10mbit'], names: /give one of --cgroup PATH or --container ID/ },
    { kind: 'missing argument', argv: ['--cgroup', '/x'], names: /set: give --rate RATE, --priority P, or both/ },
    { kind: 'bad value', argv: ['--cgroup', '/x', '--rate', '10'], names: /--rate: expected a rate such as 10mbit.*got "10"/ },
    { kind: 'negative number', argv: ['--cgroup', '/x', '--rate', '-5mbit'], names: /--rate: expected a rate .*got "-5mbit"/ },
    { kind: 'bad value', argv: ['--cgroup', '/x', '--rate', '1bit'], names: /--rate: expected a rate from 8kbit/ },
    { kind: 'bad value', argv: ['--cgroup', '/x', '--priority', 'urgent'], names: /--priority: expected 0\.\.15 or one of/ },
    { kind: 'bad value', argv: ['--cgroup', '/x', '--rate', '1mbit', '--burst', 'big'], names: /--burst: expected a size/ },
    { kind: 'bad value', argv: ['--container', 'not-hex', '--rate', '1mbit'], names: /--container: expected a container id/ },
    { kind: 'missing value', argv: ['--cgroup'], names: /--cgroup: a value is needed/ },
  ],
  'bandwidth unset': [{ kind: 'missing argument', argv: [], names: /give one of --cgroup PATH or --container ID/ }],
  'bandwidth status': [{ kind: 'bad value', argv: ['extra'], names: /status: unexpected argument extra/ }],
  'policy': [
    { kind: 'missing argument', argv: [], names: /give a subcommand: validate, compat, add, delete, list, enable, disable/ },
    { kind: 'bad value', argv: ['frobnicate'], names: /unknown subcommand "frobnicate"; available: validate, compat, add, delete, list, enable, disable/ },
  ],
  'policy add': [{ kind: 'missing argument', argv: [], names: /add: give a file/ }],
  'policy delete': [{ kind: 'bad value', argv: ['a', 'b'], names: /unexpected argument "b"/ }],
  'policy enable': [{ kind: 'missing argument', argv: [], names: /enable: give a name/ }],
  'policy disable': [{ kind: 'missing value', argv: ['x', '--socket'], names: /--socket: a value is needed/ }],
  'rules': [
    { kind: 'missing argument', argv: [], names: /missing subcommand; available: validate, add, delete, list/ },
    { kind: 'bad value', argv: ['frobnicate'], names: /unknown subcommand "frobnicate"; available: validate, add, delete, list/ },
  ],
  'rules add': [{ kind: 'missing argument', argv: [], names: /add: give a file/ }],
  'rules delete': [{ kind: 'missing argument', argv: [], names: /delete: give a name/ }],
  'rules list': [{ kind: 'bad value', argv: ['extra'], names: /unexpected argument "extra"/ }],
  'agent': [
    { kind: 'missing value', argv: ['--config'], names: /--config: a value is needed/ },
    { kind: 'bad value', argv: ['--check=yes'], names: /--check takes no value/ },
  ],
  'events': [
    { kind: 'bad value', argv: ['--sensors', 'nope'], names: /--sensors: unknown kind "nope"; available: exec, exit, fork, file, flow, dns, policy, alert/ },
    { kind: 'bad value', argv: ['--sensors', 'exec', '--to-port', '80'], names: /--to-port: filters flows; add flow or dns to --sensors/ },
    { kind: 'bad value', argv: ['--output', 'xml'], names: /--output: unknown format "xml"; available: / },
    { kind: 'bad value', argv: ['--since', 'yesterday'], names: /--since: expected RFC 3339 .* got "yesterday"/ },
    { kind: 'bad value', argv: ['--follow'], names: /--follow: goes with --last or --since/ },
    { kind: 'negative number', argv: ['--last', '-5'], names: /--last: expected a positive integer, got "-5"/ },
    { kind: 'missing value', argv: ['--socket'], names: /--socket: a value is needed/ },
  ],
  'query': [
    { kind: 'missing argument', argv: [], names: /give a query: "SQL" or a name/ },
    { kind: 'bad value', argv: ['SELECT 1', '--output', 'xml'], names: /--output: unknown format "xml"; available: table, json, csv/ },
    { kind: 'bad value', argv: ['alerts', '--since', 'yesterday'], names: /--since: expected RFC 3339/ },
    { kind: 'bad value', argv: ['process_tree', '--limit', '5'], names: /process_tree takes no --limit; it takes --at/ },
    { kind: 'negative number', argv: ['SELECT 1', '--max-rows', '-5'], names: /--max-rows: expected a positive integer, got "-5"/ },
    { kind: 'missing value', argv: ['SELECT 1', '--parquet'], names: /--parquet: a value is needed/ },
    { kind: 'bad value', argv: ['--store', '/nonexistent/store.duckdb', 'SELECT 1'], names: /no such store file/ },
  ],
  'bpf': [
    { kind: 'missing argument', argv: [], names: /give a subcommand: ls, watch/ },
  ],
  'bpf watch': [
    { kind: 'bad value', argv: ['--output', 'xml'], names: /--output: unknown format "xml"; available: compact, json/ },
    { kind: 'bad value', argv: ['--allow', 'not/absolute'], names: /--allow: "not\/absolute" is neither an absolute path nor a command name/ },
    { kind: 'bad value', argv: ['--allow-file', '/nonexistent/allow'], names: /--allow-file: cannot read \/nonexistent\/allow: ENOENT/ },
    { kind: 'negative number', argv: ['--duration', '-1'], names: /--duration: expected a positive number, got "-1"/ },
    { kind: 'missing value', argv: ['--allow'], names: /--allow: a value is needed/ },
  ],
  'bpf ls': [
    { kind: 'bad value', argv: ['things'], names: /unknown kind "things"; available: programs, maps, links/ },
    { kind: 'negative number', argv: ['--stats', '-1'], names: /--stats: expected seconds in 0\.1\.\.60, got "-1"/ },
    { kind: 'missing value', argv: ['--stats'], names: /--stats: a value is needed/ },
  ],
  'doctor': [
    { kind: 'bad value', argv: ['--pid', 'abc'], names: /--pid: expected an integer >= 1, got "abc"/ },
    { kind: 'negative number', argv: ['--pid', '-3'], names: /--pid: expected an integer >= 1, got "-3"/ },
    { kind: 'missing value', argv: ['--pid'], names: /--pid: a value is needed/ },
    { kind: 'bad value', argv: ['--json', 'extra'], names: /unexpected argument "extra"/ },
  ],
  'trace': [
    { kind: 'missing argument', argv: [], names: /give the script: vigil trace FILE\.bpf\.c/ },
    { kind: 'bad value', argv: ['/nonexistent/x.bpf.c'], names: /\/nonexistent\/x\.bpf\.c: no such file/ },
    { kind: 'negative number', argv: ['/etc/hostname', '--duration', '-1'], names: /--duration: expected a positive number, got "-1"/ },
    { kind: 'bad value', argv: ['/etc/hostname', '-D', '1x'], names: /-D 1x: expected NAME or NAME=VALUE/ },
    { kind: 'missing value', argv: ['/etc/hostname', '--interval'], names: /--interval: a value is needed/ },
  ],
  'policy validate': [{ kind: 'missing argument', argv: [], names: /validate needs at least one FILE or DIR/ }],
  'policy list': [{ kind: 'bad value', argv: ['--builtin', 'extra'], names: /unexpected argument "extra"/ }],
  'policy compat': [{ kind: 'missing argument', argv: [], names: /compat needs a DIR/ }],
};

function runVigil(argv: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [vigil, ...argv], {
    encoding: 'utf8', timeout: 30_000, env: { ...process.env, VIGIL_DEBUG: '', ...env },
  });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

/** One line `vigil CMD: reason`, status 2, no stack trace. */
function assertUsageError(argv: string[], names: RegExp): void {
  const r = runVigil(argv);
  const what = `vigil ${argv.join(' ')}`;
  assert.equal(r.status, 2, `${what}: status ${r.status}, stderr ${r.stderr}`);
  assert.equal(r.stdout, '', `${what}: nothing on stdout`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `${what}: one line, not:\n${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`^vigil ${argv[0]}: \\S`), what);
  assert.match(lines[0]!, names, what);
  assert.doesNotMatch(r.stderr, /^\s+at /m, what);
}

describe('the bad-flag battery', () => {
  for (const [command, cases] of Object.entries(BATTERY)) {
    const prefix = command.split(' ');
    test(`vigil ${command}`, () => {
      // Subcommands and `observe --sensors flow` first, so the flag is the subcommand's.
      // (A command with subcommands takes it for one: it lists them.)
      assertUsageError([...prefix, UNKNOWN],
        new RegExp(`unknown option ${UNKNOWN}; (valid options: -|it takes no options)|unknown subcommand "${UNKNOWN}"; available: `));
      for (const c of cases) assertUsageError([...prefix, ...c.argv], c.names);
    });
  }

  test('every command is in the battery', () => {
    const r = runVigil(['--help']);
    const listed = [...r.stdout.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1]);
    assert.ok(listed.length >= 9, r.stdout);
    for (const c of listed) assert.ok(Object.hasOwn(BATTERY, c!), `${c} has no cases`);
  });

  test('an unknown command lists the commands', () => {
    const r = runVigil(['frobnicate']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^vigil: unknown command "frobnicate"; commands: features, observe, .*policy/);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  });

  test('VIGIL_DEBUG=1 shows the stack behind the one line', () => {
    const r = runVigil(['firewall', 'ratelimit', '--pps', '-1'], { VIGIL_DEBUG: '1' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^vigil firewall: --pps: expected a positive integer, got "-1"$/m);
    assert.match(r.stderr, /^\s+at .*firewall\.js/m);
    const plain = runVigil(['observe', '--bogus'], { VIGIL_DEBUG: '1' });
    assert.match(plain.stderr, /UsageError: unknown option --bogus/);
    assert.match(plain.stderr, /^\s+at /m);
  });

  test('a value that starts with a dash is taken as the value (--duration -1, -o -x)', () => {
    assertUsageError(['observe', '--duration', '-0.5'], /--duration: expected a positive number, got "-0\.5"/);
    // Not a number: a flag, so the value is missing.
    assertUsageError(['observe', '--duration', '--count', '3'], /--duration: a value is needed/);
  });
});
