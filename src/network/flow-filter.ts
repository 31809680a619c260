// Hubble's flow filters, evaluated on flow records in user space:
//
//   --ip CIDR  --from-ip CIDR  --to-ip CIDR   (an address is a /32 or /128)
//   --port N   --from-port N   --to-port N
//   --protocol tcp|udp|icmp|dns   --verdict FORWARDED|DROPPED|DENIED|...
//   --pid N    --container ID|host
//   --fqdn NAME  --from-fqdn NAME  --to-fqdn NAME   (names from DNS answers; "*" matches any run of name characters)
//   --tcp-flags SYN,ACK   (every flag of the list set; several lists: any)
//   --traffic-direction ingress|egress   --type trace|drop|l7|policy-verdict
//   --ip-version 4|6   (the CLI's -4 / -6)
//   --not      before any of them negates it
//
// As in `hubble observe`: values of one filter match if any matches, different
// filters must all match, and a flow matching any negated filter is left out.
//
// --pid and --container are the in-kernel FilterSet's job (flows of other
// processes never leave the kernel; --not --container too, as "not in these
// cgroups"); here they are kept as terms so the CLI can hand them over
// (kernelTerms) and only `--not --pid`, which the kernel filter cannot say,
// is evaluated on the records.
import { CidrFilter } from '../kernel/addr.js';
import type { FlowRecord, Verdict } from './flow-types.js';

export const FLOW_FILTER_KINDS = ['ip', 'from-ip', 'to-ip', 'port', 'from-port', 'to-port', 'protocol', 'verdict',
  'pid', 'container', 'fqdn', 'from-fqdn', 'to-fqdn', 'tcp-flags', 'traffic-direction', 'type', 'ip-version'] as const;
export type FlowFilterKind = (typeof FLOW_FILTER_KINDS)[number];

export const PROTOCOLS = ['tcp', 'udp', 'icmp', 'icmpv4', 'icmpv6', 'dns'] as const;
export const VERDICTS: readonly Verdict[] = ['FORWARDED', 'DROPPED', 'DENIED', 'ERROR', 'AUDIT'];
export const TCP_FLAG_NAMES = ['SYN', 'FIN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'] as const;
/** Hubble's --type values Vigil's records can be: what each selects is in compile(). */
export const FLOW_TYPES = ['trace', 'drop', 'l7', 'policy-verdict'] as const;

/** A name pattern of --fqdn as a matcher: case-insensitive, trailing dots ignored, "*" any run of name characters. */
function fqdnMatcher(kind: string, pattern: string): (names: readonly string[] | undefined) => boolean {
  const p = pattern.toLowerCase().replace(/\.$/, '');
  if (!/^[-a-z0-9_.*]+$/.test(p)) throw new RangeError(`--${kind}: not a DNS name pattern: "${pattern}" (letters, digits, "-", "_", ".", "*")`);
  const re = new RegExp(`^${p.split('*').map((x) => x.replace(/[.]/g, '\\.')).join('[-a-z0-9_.]*')}$`);
  return (names) => names?.some((n) => re.test(n.toLowerCase().replace(/\.$/, ''))) ?? false;
}

export interface FlowFilterTerm {
  kind: FlowFilterKind;
  value: string;
  negated: boolean;
}

type Match = (rec: FlowRecord) => boolean;

interface CompiledTerm extends FlowFilterTerm {
  match: Match;
  /** Enforced in the kernel (FilterSet), not here. */
  inKernel: boolean;
}

function portOf(v: string, kind: string): number {
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new RangeError(`--${kind}: not a port number: "${v}"`);
  return Number(v);
}

function ports(rec: FlowRecord): [number | undefined, number | undefined] {
  const l4 = rec.l4.TCP ?? rec.l4.UDP;
  return [l4?.source_port, l4?.destination_port];
}

function compile(t: FlowFilterTerm): CompiledTerm {
  const v = t.value;
  let match: Match;
  let inKernel = false;
  switch (t.kind) {
    case 'ip':
    case 'from-ip':
    case 'to-ip': {
      let c: CidrFilter;
      try {
        c = CidrFilter.parse(v);
      } catch (e) {
        throw new RangeError(`--${t.kind}: ${(e as Error).message}`);
      }
      if (t.kind === 'ip') match = (r) => c.contains(r.IP.source) || c.contains(r.IP.destination);
      else if (t.kind === 'from-ip') match = (r) => c.contains(r.IP.source);
      else match = (r) => c.contains(r.IP.destination);
      break;
    }
    case 'port':
    case 'from-port':
    case 'to-port': {
      const p = portOf(v, t.kind);
      if (t.kind === 'port') match = (r) => ports(r).includes(p);
      else if (t.kind === 'from-port') match = (r) => ports(r)[0] === p;
      else match = (r) => ports(r)[1] === p;
      break;
    }
    case 'protocol': {
      const p = v.toLowerCase();
      if (!(PROTOCOLS as readonly string[]).includes(p)) {
        throw new RangeError(`--protocol: unknown protocol "${v}"; one of ${PROTOCOLS.join(', ')}`);
      }
      if (p === 'tcp') match = (r) => r.l4.TCP !== undefined;
      else if (p === 'udp') match = (r) => r.l4.UDP !== undefined;
      else if (p === 'icmpv4') match = (r) => r.l4.ICMPv4 !== undefined;
      else if (p === 'icmpv6') match = (r) => r.l4.ICMPv6 !== undefined;
      else if (p === 'icmp') match = (r) => r.l4.ICMPv4 !== undefined || r.l4.ICMPv6 !== undefined;
      else match = (r) => r.l7?.dns !== undefined;
      break;
    }
    case 'verdict': {
      const up = v.toUpperCase();
      if (!(VERDICTS as readonly string[]).includes(up)) {
        throw new RangeError(`--verdict: unknown verdict "${v}"; one of ${VERDICTS.join(', ')}`);
      }
      match = (r) => r.verdict === up;
      break;
    }
    case 'pid': {
      if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 0xfffffffe) throw new RangeError(`--pid: not a pid: "${v}"`);
      const pid = Number(v);
      match = (r) => r.source.process?.pid === pid || r.destination.process?.pid === pid;
      inKernel = !t.negated;
      break;
    }
    case 'fqdn':
    case 'from-fqdn':
    case 'to-fqdn': {
      const m = fqdnMatcher(t.kind, v);
      // A DNS message's own name counts too: its query is what it is about.
      const query = (r: FlowRecord): string[] | undefined => (r.l7?.dns ? [r.l7.dns.query] : undefined);
      if (t.kind === 'fqdn') match = (r) => m(r.source_names) || m(r.destination_names) || m(query(r));
      else if (t.kind === 'from-fqdn') match = (r) => m(r.source_names) || (r.is_reply && m(query(r)));
      else match = (r) => m(r.destination_names) || (!r.is_reply && m(query(r)));
      break;
    }
    case 'tcp-flags': {
      const want = v.split(',').map((f) => f.trim().toUpperCase());
      for (const f of want) {
        if (!(TCP_FLAG_NAMES as readonly string[]).includes(f)) {
          throw new RangeError(`--tcp-flags: unknown flag "${f}" in "${v}"; flags: ${TCP_FLAG_NAMES.join(', ')} (comma-separated: all set)`);
        }
      }
      match = (r) => want.every((f) => r.l4.TCP?.flags?.[f as (typeof TCP_FLAG_NAMES)[number]] === true);
      break;
    }
    case 'traffic-direction': {
      const d = v.toUpperCase();
      if (d !== 'INGRESS' && d !== 'EGRESS') throw new RangeError(`--traffic-direction: expected ingress or egress, got "${v}"`);
      match = (r) => r.traffic_direction === d;
      break;
    }
    case 'type': {
      switch (v.toLowerCase()) {
        case 'trace': match = (r) => r.Type === 'L3_L4' && r.verdict === 'FORWARDED'; break;
        case 'drop': match = (r) => r.verdict === 'DROPPED' || r.verdict === 'DENIED'; break;
        case 'l7': match = (r) => r.Type === 'L7'; break;
        case 'policy-verdict': match = (r) => r.event_kind === 'policy'; break;
        default:
          throw new RangeError(`--type: "${v}" is not a kind of flow Vigil reports; one of ${FLOW_TYPES.join(', ')}`);
      }
      break;
    }
    case 'ip-version': {
      if (v !== '4' && v !== '6') throw new RangeError(`--ip-version: expected 4 or 6, got "${v}"`);
      const want = v === '4' ? 'IPv4' : 'IPv6';
      match = (r) => r.IP.ipVersion === want;
      break;
    }
    case 'container': {
      if (v !== 'host' && !/^[0-9a-fA-F]{1,64}$/.test(v)) {
        throw new RangeError(`--container: expected a container id (hex digits) or "host", got "${v}"`);
      }
      const id = v.toLowerCase();
      const local = (r: FlowRecord) => r.source.process ? r.source : r.destination;
      match = id === 'host'
        ? (r) => local(r).container === undefined
        : (r) => local(r).container?.id.startsWith(id) ?? false;
      inKernel = true;
      break;
    }
  }
  return { ...t, match, inKernel };
}

export class FlowFilter {
  private readonly positive = new Map<FlowFilterKind, CompiledTerm[]>();
  private readonly negative: CompiledTerm[] = [];
  readonly terms: readonly FlowFilterTerm[];

  /** Throws RangeError naming the flag for a bad value. */
  constructor(terms: readonly FlowFilterTerm[]) {
    this.terms = terms;
    for (const t of terms.map(compile)) {
      if (t.inKernel) continue;
      if (t.negated) this.negative.push(t);
      else this.positive.set(t.kind, [...(this.positive.get(t.kind) ?? []), t]);
    }
  }

  /** The terms the kernel enforces (--pid, --container, --not --container). */
  kernelTerms(): FlowFilterTerm[] {
    return this.terms.filter((t) => t.kind === 'container' || (t.kind === 'pid' && !t.negated));
  }

  /** No user-space term: every record the kernel delivers is shown. */
  get empty(): boolean {
    return this.positive.size === 0 && this.negative.length === 0;
  }

  matches(rec: FlowRecord): boolean {
    for (const terms of this.positive.values()) {
      if (!terms.some((t) => t.match(rec))) return false;
    }
    return !this.negative.some((t) => t.match(rec));
  }

  /**
   * Whether a TCP open (a connect or accept record: flags SYN only) can pass
   * the --tcp-flags terms; false lets the kernel keep opens to itself
   * (`--tcp-flags FIN --tcp-flags RST`: closes only, with their totals).
   */
  wantsTcpOpens(): boolean {
    const open = { l4: { TCP: { flags: { SYN: true } } } } as unknown as FlowRecord;
    const flags = this.positive.get('tcp-flags');
    if (flags && !flags.some((t) => t.match(open))) return false;
    return !this.negative.some((t) => t.kind === 'tcp-flags' && t.match(open));
  }

  /** Whether any term could match a record of this protocol (to leave sensors off): false only when --protocol excludes it. */
  wants(protocol: 'tcp' | 'udp' | 'dns'): boolean {
    const p = this.positive.get('protocol');
    if (!p) return true;
    return p.some((t) => {
      const v = t.value.toLowerCase();
      return v === protocol || (protocol === 'dns' && v === 'udp');
    });
  }
}
