// The CLI's pure parts behind its one-line errors: which capabilities are
// missing from a capability set, how the refusal reads, and parseFlags'
// handling of what node:util parseArgs refuses. No kernel, no root.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { missingCapabilities, privilegeMessage } from '../src/cli/privileges.js';
import { flagList, parseFlags } from '../src/cli/flags.js';
import { UsageError } from '../src/cli/command.js';

const bit = (n: number): bigint => 1n << BigInt(n);
const CAP_NET_ADMIN = bit(12);
const CAP_SYS_ADMIN = bit(21);
const CAP_PERFMON = bit(38);
const CAP_BPF = bit(39);

describe('capabilities', () => {
  test('missing ones, in the order asked', () => {
    assert.deepEqual(missingCapabilities(['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN'], 0n), ['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN']);
    assert.deepEqual(missingCapabilities(['CAP_BPF', 'CAP_PERFMON'], CAP_BPF), ['CAP_PERFMON']);
    assert.deepEqual(missingCapabilities(['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN'], CAP_BPF | CAP_PERFMON | CAP_NET_ADMIN), []);
  });

  test('CAP_SYS_ADMIN stands for CAP_BPF and CAP_PERFMON, not for CAP_NET_ADMIN', () => {
    assert.deepEqual(missingCapabilities(['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN'], CAP_SYS_ADMIN), ['CAP_NET_ADMIN']);
  });

  test('the refusal names what is missing and how to run the command with all it needs', () => {
    const m = privilegeMessage('', ['CAP_PERFMON'], ['CAP_BPF', 'CAP_PERFMON'], ['observe', '--sensors', 'exec']);
    assert.equal(m, 'needs CAP_PERFMON, which this process does not have: run it as root (sudo vigil observe --sensors exec) ' +
      'or with CAP_BPF and CAP_PERFMON (systemd: AmbientCapabilities=CAP_BPF CAP_PERFMON; see README, Privileges)');
    assert.match(privilegeMessage('cannot probe the kernel', ['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN'],
      ['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN'], ['features']), /^cannot probe the kernel: it needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN,/);
  });
});

describe('parseFlags', () => {
  const options = {
    duration: { type: 'string' }, output: { type: 'string', short: 'o' }, json: { type: 'boolean' },
  } as const;
  const usage = (args: string[], allowPositionals = false): string => {
    try {
      parseFlags({ args, options, allowPositionals });
    } catch (e) {
      assert.ok(e instanceof UsageError, String(e));
      assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
      return e.message;
    }
    return 'accepted';
  };

  test('an unknown flag lists every valid one', () => {
    assert.equal(flagList(options), '--duration, -o, --output, --json');
    assert.equal(usage(['--bogus']), 'unknown option --bogus; valid options: --duration, -o, --output, --json');
    assert.equal(usage(['-x']), 'unknown option -x; valid options: --duration, -o, --output, --json');
  });

  test('a negative number is the flag\'s value, left to its own check', () => {
    const r = parseFlags({ args: ['--duration', '-1', '-o', '-2.5'], options });
    assert.equal(r.values.duration, '-1');
    assert.equal(r.values.output, '-2.5');
    // After --, nothing is a flag.
    const p = parseFlags({ args: ['--', '--duration', '-1'], options, allowPositionals: true });
    assert.deepEqual(p.positionals, ['--duration', '-1']);
  });

  test('a missing value, a value for a switch, a stray argument', () => {
    assert.equal(usage(['--duration']), '--duration: a value is needed (e.g. --duration VALUE)');
    assert.equal(usage(['--duration', '--json']), '--duration: a value is needed (e.g. --duration VALUE)');
    assert.equal(usage(['-o']), '--output: a value is needed (e.g. --output VALUE)');
    assert.equal(usage(['--json=yes']), '--json takes no value');
    assert.equal(usage(['extra']), 'unexpected argument "extra" (this command takes options only)');
    assert.equal(usage(['extra'], true), 'accepted');
  });
});
