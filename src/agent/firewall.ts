// The agent's XDP firewalls: the configuration's `firewall` section kept as
// written. At start and at each reload every interface listed gets its
// firewall (attached when it has none running; opened through its pins when
// it has), and its rules are made equal to the section's: CIDRs missing are
// added, others removed (so a change made with `vigil firewall` meanwhile is
// undone at the next reload), the rate limit set or turned off. Rules kept
// keep their counters.
//
// Firewalls outlive the agent (their state is pinned in bpffs, src/network/
// firewall.ts): a restart leaves no gap in the filtering. An interface
// dropped from the section is detached when this agent attached it, and left
// as it is (said in the log) when it found it running.
import { Firewall, FirewallError, type FirewallCounters, type FirewallRule } from '../network/firewall.js';
import type { FirewallConfig } from './config.js';
import type { FirewallTelemetry } from '../telemetry/sources.js';

/** What a change did, one line each, for the log. */
export interface FirewallChange {
  interface: string;
  what: string;
}

export class AgentFirewall implements FirewallTelemetry {
  private readonly open = new Map<string, Firewall>();
  /** Interfaces this agent attached (a section dropping them detaches them). */
  private readonly attachedHere = new Set<string>();

  /**
   * Makes the firewalls what `list` says. A firewall that cannot be attached
   * or changed is an error naming its interface (FirewallError); those before
   * it in the list are applied by then.
   */
  async apply(list: readonly FirewallConfig[]): Promise<FirewallChange[]> {
    const changes: FirewallChange[] = [];
    for (const f of list) {
      const note = (what: string): void => void changes.push({ interface: f.interface, what });
      try {
        let fw = this.open.get(f.interface);
        if (!fw || !fw.status({ top: 0 }).attached) {
          fw?.close();
          this.open.delete(f.interface);
          const running = Firewall.exists(f.interface) && Firewall.open(f.interface);
          if (running && running.status({ top: 0 }).attached) {
            fw = running;
            note('running already: kept, rules made as configured');
          } else {
            if (running) running.close();
            fw = await Firewall.attach(f.interface, { mode: f.mode });
            this.attachedHere.add(f.interface);
            note(`attached (XDP ${fw.status({ top: 0 }).mode})`);
          }
          this.open.set(f.interface, fw);
        }
        const mode = fw.status({ top: 0 }).mode;
        if (f.mode && f.mode !== mode) note(`runs in ${mode} mode, not ${f.mode} (detach it to change the mode)`);
        for (const action of ['block', 'allow'] as const) {
          const want = new Set(action === 'block' ? f.block : f.allow);
          const have = fw.rules().filter((r) => r.action === action).map((r) => r.cidr);
          const extra = have.filter((c) => !want.has(c));
          const missing = [...want].filter((c) => !have.includes(c));
          if (extra.length) {
            fw.remove(action, extra);
            note(`${action} removed: ${extra.join(' ')}`);
          }
          if (missing.length) {
            fw.add(action, missing);
            note(`${action} added: ${missing.join(' ')}`);
          }
        }
        const rl = fw.rateLimit();
        if (f.rateLimit) {
          if (!rl || Number(rl.pps) !== f.rateLimit.pps || Number(rl.burst) !== f.rateLimit.burst) {
            fw.setRateLimit(f.rateLimit.pps, f.rateLimit.burst);
            note(`rate limit ${f.rateLimit.pps} packets/s per source, bursts of ${f.rateLimit.burst}`);
          }
        } else if (rl) {
          fw.rateLimitOff();
          note('rate limit off');
        }
      } catch (e) {
        if (e instanceof FirewallError) throw new FirewallError(`firewall on ${f.interface}: ${e.message}`, { cause: e });
        throw e;
      }
    }
    const listed = new Set(list.map((f) => f.interface));
    for (const [ifname, fw] of [...this.open]) {
      if (listed.has(ifname)) continue;
      fw.close();
      this.open.delete(ifname);
      if (this.attachedHere.delete(ifname)) {
        Firewall.detach(ifname);
        changes.push({ interface: ifname, what: 'detached (no longer configured)' });
      } else {
        changes.push({ interface: ifname, what: 'no longer configured; it was running before the agent, so it stays (vigil firewall detach removes it)' });
      }
    }
    return changes;
  }

  /** Each firewall's counters and rules, for metrics. */
  firewalls(): { interface: string; counters: FirewallCounters; rules: FirewallRule[] }[] {
    const out: { interface: string; counters: FirewallCounters; rules: FirewallRule[] }[] = [];
    for (const [ifname, fw] of this.open) {
      try {
        out.push({ interface: ifname, counters: fw.counters(), rules: fw.rules() });
      } catch {
        // Detached by hand meanwhile: nothing to read.
      }
    }
    return out;
  }

  /** Closes the maps; the firewalls stay attached (pinned). */
  close(): void {
    for (const fw of this.open.values()) fw.close();
    this.open.clear();
  }
}
