// Policy files, without the kernel: what parses, what the kernel list
// becomes, and errors that name file:line:col and the field.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { compileRules, describeRule, parsePolicy, PolicyError } from '../src/network/netpolicy-spec.js';
import { formatAddress, formatCidr, parseCidr } from '../src/kernel/addr.js';
import { VIGIL_NP_ALLOW, VIGIL_NP_DENY, VIGIL_NP_EGRESS, VIGIL_NP_INGRESS, VIGIL_NP_TCP, VIGIL_NP_UDP } from '../src/generated/netpolicy.js';

function error(text: string): PolicyError {
  try {
    parsePolicy(text, 'p.yaml');
  } catch (e) {
    if (e instanceof PolicyError) return e;
    throw e;
  }
  assert.fail('expected a PolicyError');
}

describe('network policy files', () => {
  test('a full policy parses and expands CIDR x port lists in order', () => {
    const spec = parsePolicy([
      'cgroup: system.slice/web.service',
      'default: deny',
      'rules:',
      '  - action: allow',
      '    cidr: [10.0.0.0/8, "fd00::/8"]',
      '    ports: [53, 8000-8080]',
      '    protocol: udp',
      '    direction: egress',
      '  - action: deny',
      '    cidr: 192.168.1.7',
      '  - action: allow',
      '    direction: ingress',
      '    ports: 22',
      '    protocol: TCP',
    ].join('\n'), 'web.yaml');
    assert.equal(spec.cgroup, 'system.slice/web.service');
    assert.equal(spec.default, 'deny');
    assert.equal(spec.rules.length, 3);
    assert.deepEqual(spec.rules[0]!.ports, [{ lo: 53, hi: 53 }, { lo: 8000, hi: 8080 }]);
    assert.deepEqual(spec.rules[0]!.pos, { file: 'web.yaml', line: 4, col: 5 });
    assert.equal(describeRule(spec.rules[0]!), 'allow udp egress 10.0.0.0/8,fd00::/8 ports 53,8000-8080');
    assert.equal(describeRule(spec.rules[2]!), 'allow tcp ingress any address ports 22');

    const k = compileRules(spec);
    assert.equal(k.length, 4 + 1 + 1);
    assert.deepEqual(k.map((r) => [r.origin, r.family, r.prefixlen, r.port_lo, r.port_hi]), [
      [0, 2, 8, 53, 53], [0, 2, 8, 8000, 8080], [0, 10, 8, 53, 53], [0, 10, 8, 8000, 8080],
      [1, 2, 32, 0, 65535], [2, 0, 0, 22, 22],
    ]);
    assert.deepEqual([...k[0]!.addr.subarray(0, 4)], [10, 0, 0, 0]);
    assert.equal(k[2]!.addr[0], 0xfd);
    assert.equal(k[0]!.action, VIGIL_NP_ALLOW);
    assert.equal(k[4]!.action, VIGIL_NP_DENY);
    assert.equal(k[0]!.protocols, VIGIL_NP_UDP);
    assert.equal(k[5]!.protocols, VIGIL_NP_TCP);
    assert.equal(k[4]!.protocols, 0);
    assert.equal(k[0]!.directions, VIGIL_NP_EGRESS);
    assert.equal(k[5]!.directions, VIGIL_NP_INGRESS);
    assert.equal(k[4]!.directions, 0);
  });

  test('rules may be absent (the default alone decides)', () => {
    assert.deepEqual(parsePolicy('cgroup: /x\ndefault: allow\n', 'f').rules, []);
    assert.deepEqual(parsePolicy('cgroup: /x\ndefault: allow\nrules:\n', 'f').rules, []);
  });

  test('errors name file:line:col and the field', () => {
    const cases: [string, string, RegExp][] = [
      ['cgroup: a\ndefault: deny\nrules:\n  - action: allow\n    cidr: 10.0.0.0/33\n',
        'p.yaml:5:11: rules[0].cidr', /prefix length must be 0\.\.32/],
      ['cgroup: a\ndefault: deny\nrules:\n  - action: allow\n    colour: red\n',
        'p.yaml:5:5: rules[0].colour', /unknown field \(expected one of: action, cidr, ports, protocol, direction\)/],
      ['cgroup: a\ndefault: deny\nname: x\n', 'p.yaml:3:1: name', /unknown field/],
      ['cgroup: a\ndefault: maybe\n', 'p.yaml:2:10: default', /expected allow or deny, got "maybe"/],
      ['cgroup: a\n', 'p.yaml:1:1: default', /missing/],
      ['default: deny\n', 'p.yaml:1:1: cgroup', /missing/],
      ['cgroup: a\ndefault: deny\nrules:\n  - action: allow\n    ports: [80, 9000-100]\n',
        'p.yaml:5:17: rules[0].ports', /range "9000-100" is empty/],
      ['cgroup: a\ndefault: deny\nrules:\n  - action: allow\n    ports: 70000\n',
        'p.yaml:5:12: rules[0].ports', /not a port/],
      ['cgroup: a\ndefault: deny\nrules:\n  - cidr: 10.0.0.0/8\n', 'p.yaml:4:5: rules[0].action', /missing/],
      ['cgroup: a\ndefault: deny\nrules:\n  - action: allow\n    protocol: icmp\n',
        'p.yaml:5:15: rules[0].protocol', /expected tcp or udp/],
      ['cgroup: a\ndefault: deny\nrules:\n  - action: allow\n    direction: sideways\n',
        'p.yaml:5:16: rules[0].direction', /expected egress or ingress/],
      ['cgroup: a\ndefault: deny\nrules: allow-all\n', 'p.yaml:3:8: rules', /expected a list of rules/],
      ['cgroup: a\ndefault: deny\nrules:\n  - allow\n', 'p.yaml:4:5: rules[0]', /expected a mapping/],
      ['cgroup: ../../etc\ndefault: deny\n', 'p.yaml:1:9: cgroup', /"\.\." is not allowed/],
      ['cgroup: a\ndefault: deny\ndefault: allow\n', 'p.yaml:3:1: default', /given twice/],
      ['cgroup: a\ndefault: [deny\n', 'p.yaml:', /YAML/],
    ];
    for (const [text, where, reason] of cases) {
      const e = error(text);
      assert.ok(e.message.startsWith(where), `${JSON.stringify(text)}: ${e.message} does not start with ${where}`);
      assert.match(e.message, reason);
    }
  });

  test('too many expanded entries is an error on rules', () => {
    const cidrs = Array.from({ length: 20 }, (_, i) => `10.0.${i}.0/24`).join(', ');
    const e = error(`cgroup: a\ndefault: deny\nrules:\n  - action: allow\n    cidr: [${cidrs}]\n    ports: [1, 2, 3, 4, 5, 6, 7]\n`);
    assert.match(e.message, /^p\.yaml:3:1: rules: 140 entries after expanding CIDR and port lists; at most 128/);
  });
});

describe('CIDRs', () => {
  test('parse, clear host bits, format RFC 5952', () => {
    assert.equal(formatCidr(parseCidr('10.1.2.3/8')), '10.0.0.0/8');
    assert.equal(formatCidr(parseCidr('10.1.2.3')), '10.1.2.3/32');
    assert.equal(formatCidr(parseCidr('2001:DB8:0:0:1::1/128')), '2001:db8::1:0:0:1/128');
    assert.equal(formatCidr(parseCidr('2001:db8::ff/64')), '2001:db8::/64');
    assert.equal(formatCidr(parseCidr('::/0')), '::/0');
    assert.equal(formatCidr(parseCidr('fe80::1:2')), 'fe80::1:2/128');
    assert.equal(formatCidr(parseCidr('::ffff:1.2.3.4')), '::ffff:1.2.3.4/128');
    assert.equal(formatAddress(Uint8Array.from([0x20, 1, 0xd, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]), 6), '2001:db8:0:1::1');
    for (const bad of ['10.0.0.0/33', '10.0.0/8', 'fe80::1%eth0', '::/129', 'x', '10.0.0.0/', '10.0.0.0/-1']) {
      assert.throws(() => parseCidr(bad), /CidrError|not an IPv4|prefix length/, bad);
    }
  });
});
