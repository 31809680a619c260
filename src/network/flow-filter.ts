// Hubble's flow filters, evaluated on flow records in user space:
//
//   --ip CIDR  --from-ip CIDR  --to-ip CIDR   (an address is a /32 or /128)
//   --port N   --from-port N   --to-port N
//   --protocol tcp|udp|icmp|dns   --verdict FORWARDED|DROPPED|DENIED|...
//   --pid N    --container ID|host
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
  'pid', 'container'] as const;
export type FlowFilterKind = (typeof FLOW_FILTER_KINDS)[number];

export const PROTOCOLS = ['tcp', 'udp', 'icmp', 'icmpv4', 'icmpv6', 'dns'] as const;
export const VERDICTS: readonly Verdict[] = ['FORWARDED', 'DROPPED', 'DENIED', 'ERROR', 'AUDIT'];

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
