// observe's --namespace, --pod and --label: which Kubernetes pods' events to
// keep, decided on the pod metadata of the process's container (cri.ts).
// Within a flag the values are alternatives, the flags together all hold;
// --label KEY=VALUE is a pod label, KEY alone a label that is present. A
// process in no pod (the host, a container no CRI runtime lists) matches none.
// Pure.
import type { CriContainer } from './cri.js';

export interface PodSelector {
  namespaces?: readonly string[];
  pods?: readonly string[];
  /** KEY=VALUE or KEY, as given. */
  labels?: readonly string[];
}

export class PodFilter {
  private readonly labels: { key: string; value: string | undefined }[];

  constructor(private readonly s: PodSelector) {
    this.labels = (s.labels ?? []).map((l) => {
      const eq = l.indexOf('=');
      const key = eq < 0 ? l : l.slice(0, eq);
      if (!key) throw new RangeError(`--label: expected KEY=VALUE or KEY, got "${l}"`);
      return { key, value: eq < 0 ? undefined : l.slice(eq + 1) };
    });
  }

  /** Any of --namespace, --pod, --label given. */
  get active(): boolean {
    return !!(this.s.namespaces?.length || this.s.pods?.length || this.labels.length);
  }

  matches(c: CriContainer | undefined): boolean {
    if (!this.active) return true;
    if (!c) return false;
    const { namespaces, pods } = this.s;
    if (namespaces?.length && !namespaces.includes(c.pod.namespace)) return false;
    if (pods?.length && !pods.includes(c.pod.name)) return false;
    return this.labels.every(({ key, value }) => (value === undefined ? key in c.pod.labels : c.pod.labels[key] === value));
  }
}
