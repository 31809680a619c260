// Network policy files: YAML read with source positions (eemeli/yaml's
// LineCounter and node ranges, as src/rules/loader.ts does), checked field by
// field. Pure: no kernel, no filesystem beyond what the caller passes in.
//
//   cgroup: system.slice/web.service   # relative to the cgroup v2 root, or absolute
//   default: deny                      # allow | deny: when no rule matches
//   rules:                             # in order; the first match decides
//     - action: allow                  # allow | deny
//       cidr: 10.0.0.0/8               # or a list; absent: any address
//       ports: [53, 8000-8080]         # numbers and ranges; absent: any port
//       protocol: udp                  # tcp | udp; absent: both
//       direction: egress              # egress | ingress; absent: both
//
// A rule's CIDR is the peer's address and its ports the traffic's destination
// port (egress: the port connected or sent to; ingress: the local port), as
// in Kubernetes NetworkPolicy. Every error names file:line:col and the field;
// unknown fields are errors.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type YAMLMap } from 'yaml';
import { CidrError, formatCidr, parseCidr, type Cidr } from '../kernel/addr.js';
import {
  VIGIL_NP_MAX_RULES, VIGIL_NP_ALLOW, VIGIL_NP_DENY, VIGIL_NP_TCP, VIGIL_NP_UDP, VIGIL_NP_EGRESS, VIGIL_NP_INGRESS,
  type VigilNpRule,
} from '../generated/netpolicy.js';

export interface PolicyPos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  constructor(readonly pos: PolicyPos, readonly field: string, readonly reason: string) {
    super(`${pos.file}:${pos.line}:${pos.col}: ${field ? `${field}: ` : ''}${reason}`);
  }
}

export type PolicyAction = 'allow' | 'deny';
export type Protocol = 'tcp' | 'udp';
export type Direction = 'egress' | 'ingress';

export interface PortRange {
  lo: number;
  hi: number;
}

export interface PolicyRule {
  action: PolicyAction;
  /** Empty: any address. */
  cidrs: Cidr[];
  /** Empty: any port. */
  ports: PortRange[];
  protocol?: Protocol;
  direction?: Direction;
  pos: PolicyPos;
}

export interface PolicySpec {
  file: string;
  /** As written: relative to the cgroup v2 root, or absolute. */
  cgroup: string;
  default: PolicyAction;
  rules: PolicyRule[];
}

const TOP_KEYS = ['cgroup', 'default', 'rules'];
const RULE_KEYS = ['action', 'cidr', 'ports', 'protocol', 'direction'];

class Reader {
  private readonly lc = new LineCounter();
  constructor(readonly file: string) {}

  get lineCounter(): LineCounter {
    return this.lc;
  }

  pos(n: YamlNode | null | undefined, fallback?: PolicyPos): PolicyPos {
    if (n?.range) {
      const { line, col } = this.lc.linePos(n.range[0]);
      return { file: this.file, line, col };
    }
    return fallback ?? { file: this.file, line: 1, col: 1 };
  }

  fail(n: YamlNode | null | undefined, field: string, reason: string, fallback?: PolicyPos): never {
    throw new PolicyError(this.pos(n, fallback), field, reason);
  }

  /** The map's entries, each key checked against the allowed ones. */
  entries(m: YAMLMap, allowed: readonly string[], where: string): Map<string, { key: YamlNode; value: YamlNode | null }> {
    const out = new Map<string, { key: YamlNode; value: YamlNode | null }>();
    for (const pair of m.items) {
      const key = pair.key as YamlNode | null;
      const name = isScalar(key) ? String(key.value) : undefined;
      const field = where ? `${where}.${name ?? '?'}` : (name ?? '?');
      if (name === undefined) this.fail(key, where || 'policy', 'keys must be plain names');
      if (!allowed.includes(name)) {
        this.fail(key, field, `unknown field (expected one of: ${allowed.join(', ')})`);
      }
      if (out.has(name)) this.fail(key, field, 'given twice');
      out.set(name, { key: key!, value: (pair.value as YamlNode | null) ?? null });
    }
    return out;
  }

  string(n: YamlNode | null, field: string, keyNode: YamlNode): string {
    if (!isScalar(n) || n.value === null || typeof n.value === 'object') this.fail(n ?? keyNode, field, 'expected a string');
    return String(n.value);
  }

  /** A value that may be one item or a list of them, as its items; an empty list says what leaving the field out means. */
  items(n: YamlNode | null, field: string, leftOut: string): (YamlNode | null)[] {
    const items: (YamlNode | null)[] = isSeq(n) ? (n.items as (YamlNode | null)[]) : [n];
    if (items.length === 0) this.fail(n, field, `empty list (leave the field out for ${leftOut})`);
    return items;
  }

  oneOf<T extends string>(n: YamlNode | null, field: string, keyNode: YamlNode, options: readonly T[]): T {
    const s = this.string(n, field, keyNode).trim().toLowerCase();
    if (!(options as readonly string[]).includes(s)) this.fail(n, field, `expected ${options.join(' or ')}, got "${s}"`);
    return s as T;
  }
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 0 && n <= 65535 ? n : undefined;
}

/** Parses and checks a policy file's text; throws PolicyError. */
export function parsePolicy(text: string, file: string): PolicySpec {
  const r: Reader = new Reader(file);
  const doc = parseDocument(text, { lineCounter: r.lineCounter, prettyErrors: false, uniqueKeys: false });
  const first = doc.errors[0];
  if (first) {
    const { line, col } = r.lineCounter.linePos(first.pos[0]);
    throw new PolicyError({ file, line, col }, '', `YAML: ${first.message.split('\n')[0]}`);
  }
  const root = doc.contents as YamlNode | null;
  if (!isMap(root)) r.fail(root, 'policy', 'expected a mapping with cgroup, default and rules');
  const top = r.entries(root, TOP_KEYS, '');

  const cg = top.get('cgroup');
  if (!cg) r.fail(root, 'cgroup', 'missing (the cgroup v2 path the policy applies to)');
  const cgroup = r.string(cg.value, 'cgroup', cg.key).trim();
  if (!cgroup) r.fail(cg.value ?? cg.key, 'cgroup', 'empty');
  if (cgroup.split('/').includes('..')) r.fail(cg.value, 'cgroup', '".." is not allowed in the path');

  const def = top.get('default');
  if (!def) r.fail(root, 'default', 'missing (allow or deny: what happens when no rule matches)');
  const dflt = r.oneOf(def.value, 'default', def.key, ['allow', 'deny'] as const);

  const rules: PolicyRule[] = [];
  const rs = top.get('rules');
  if (rs && rs.value !== null && !(isScalar(rs.value) && rs.value.value === null)) {
    if (!isSeq(rs.value)) r.fail(rs.value, 'rules', 'expected a list of rules');
    rs.value.items.forEach((item, i) => rules.push(parseRule(r, item as YamlNode | null, `rules[${i}]`, r.pos(rs.key))));
  }
  const spec: PolicySpec = { file, cgroup, default: dflt, rules };
  const n = expandedCount(spec);
  if (n > VIGIL_NP_MAX_RULES) {
    r.fail(rs?.key, 'rules', `${n} entries after expanding CIDR and port lists; at most ${VIGIL_NP_MAX_RULES}`);
  }
  return spec;
}

function parseRule(r: Reader, n: YamlNode | null, where: string, fallback: PolicyPos): PolicyRule {
  if (!isMap(n)) r.fail(n, where, 'expected a mapping (action, cidr, ports, protocol, direction)', fallback);
  const e = r.entries(n, RULE_KEYS, where);
  const a = e.get('action');
  if (!a) r.fail(n, `${where}.action`, 'missing (allow or deny)');
  const rule: PolicyRule = {
    action: r.oneOf(a.value, `${where}.action`, a.key, ['allow', 'deny'] as const),
    cidrs: [],
    ports: [],
    pos: r.pos(n),
  };

  const c = e.get('cidr');
  if (c) {
    const field = `${where}.cidr`;
    for (const it of r.items(c.value, field, 'any address')) {
      const text = r.string(it, field, c.key);
      try {
        rule.cidrs.push(parseCidr(text));
      } catch (err) {
        if (err instanceof CidrError) r.fail(it, field, err.message);
        throw err;
      }
    }
  }

  const p = e.get('ports');
  if (p) {
    const field = `${where}.ports`;
    for (const it of r.items(p.value, field, 'any port')) {
      if (!isScalar(it) || it.value === null) r.fail(it ?? p.key, field, 'expected a port (80) or a range ("8000-8080")');
      const text = String(it.value).trim();
      const m = /^(\d+)\s*-\s*(\d+)$/.exec(text);
      const lo = parsePort(m ? m[1]! : text);
      const hi = m ? parsePort(m[2]!) : lo;
      if (lo === undefined || hi === undefined) r.fail(it, field, `"${text}" is not a port (0..65535) or a range of ports`);
      if (lo > hi) r.fail(it, field, `range "${text}" is empty (low > high)`);
      rule.ports.push({ lo, hi });
    }
  }

  const pr = e.get('protocol');
  if (pr) rule.protocol = r.oneOf(pr.value, `${where}.protocol`, pr.key, ['tcp', 'udp'] as const);
  const d = e.get('direction');
  if (d) rule.direction = r.oneOf(d.value, `${where}.direction`, d.key, ['egress', 'ingress'] as const);
  return rule;
}

function expandedCount(spec: PolicySpec): number {
  return spec.rules.reduce((n, r) => n + Math.max(1, r.cidrs.length) * Math.max(1, r.ports.length), 0);
}

/** The kernel's rule list: one entry per (CIDR, port range) of each rule, in order. */
export function compileRules(spec: PolicySpec): VigilNpRule[] {
  const out: VigilNpRule[] = [];
  spec.rules.forEach((rule, origin) => {
    const cidrs: (Cidr | undefined)[] = rule.cidrs.length ? rule.cidrs : [undefined];
    const ports: PortRange[] = rule.ports.length ? rule.ports : [{ lo: 0, hi: 65535 }];
    for (const c of cidrs) {
      for (const p of ports) {
        const addr = new Uint8Array(16);
        if (c) addr.set(c.addr);
        out.push({
          addr,
          family: c ? (c.family === 4 ? 2 : 10) : 0,
          prefixlen: c?.prefixlen ?? 0,
          port_lo: p.lo,
          port_hi: p.hi,
          action: rule.action === 'allow' ? VIGIL_NP_ALLOW : VIGIL_NP_DENY,
          protocols: rule.protocol === 'tcp' ? VIGIL_NP_TCP : rule.protocol === 'udp' ? VIGIL_NP_UDP : 0,
          directions: rule.direction === 'egress' ? VIGIL_NP_EGRESS : rule.direction === 'ingress' ? VIGIL_NP_INGRESS : 0,
          pad: 0,
          origin,
          pad2: 0,
        });
      }
    }
  });
  return out;
}

/** One line per rule, for status: "deny tcp egress 10.0.0.0/8 ports 80,443". */
export function describeRule(r: PolicyRule): string {
  return [
    r.action,
    r.protocol ?? 'tcp+udp',
    r.direction ?? 'both directions',
    r.cidrs.length ? r.cidrs.map(formatCidr).join(',') : 'any address',
    r.ports.length ? `ports ${r.ports.map((p) => (p.lo === p.hi ? `${p.lo}` : `${p.lo}-${p.hi}`)).join(',')}` : 'any port',
  ].join(' ');
}
