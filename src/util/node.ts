// The node's identity in events. Its name (node_name, exec ids): $NODE_NAME
// when set (a Kubernetes DaemonSet sets it from spec.nodeName, where the
// pod's hostname is its own), else the host name. Its cluster and labels
// (Tetragon's cluster_name and node_labels, Hubble's flow node_labels): the
// agent's `cluster` configuration, else $VIGIL_CLUSTER_NAME and
// $VIGIL_NODE_LABELS (`key=value,key=value`); empty when none is set, and
// then absent from the envelopes, as proto3's JSON omits empty fields.
import os from 'node:os';

export function nodeName(): string {
  return process.env.NODE_NAME || os.hostname();
}

/** The cluster this node belongs to, and the node's labels. */
export interface NodeCluster {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** A label key as Kubernetes allows it: an optional DNS-subdomain prefix and a name of at most 63 characters. */
const LABEL_KEY = /^(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Why a node label is not a Kubernetes label, or undefined when it is one. */
export function nodeLabelProblem(key: string, value: string): string | undefined {
  if (!LABEL_KEY.test(key)) return `"${key}" is not a label key`;
  if (!LABEL_VALUE.test(value)) return `"${value}" is not a label value (at most 63 of [A-Za-z0-9_.-], alphanumeric at both ends)`;
  return undefined;
}

/**
 * `key=value,key=value` (VIGIL_NODE_LABELS) as labels; an Error naming the variable and the entry when one is
 * wrong (the CLI reads it before any command runs, so a wrong one stops it there).
 */
export function parseNodeLabels(text: string, source = 'VIGIL_NODE_LABELS'): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const entry of text.split(',')) {
    if (!entry.trim()) continue;
    const eq = entry.indexOf('=');
    if (eq < 0) throw new Error(`${source}: expected key=value, got "${entry}"`);
    const key = entry.slice(0, eq).trim();
    const value = entry.slice(eq + 1).trim();
    const problem = nodeLabelProblem(key, value);
    if (problem) throw new Error(`${source}: ${problem}`);
    labels[key] = value;
  }
  return labels;
}

let configured: NodeCluster | undefined;
type Extras = { readonly cluster_name?: string; readonly node_labels?: Readonly<Record<string, string>> };
let extras: Extras | undefined;
let extrasJson: string | undefined;
let endJson: string | undefined;

/**
 * The agent's `cluster` configuration: replaces the environment's for every envelope made from now on
 * (undefined: the environment's again).
 */
export function setNodeCluster(cluster: NodeCluster | undefined): void {
  configured = cluster && { name: cluster.name, labels: { ...cluster.labels } };
  extras = undefined;
  extrasJson = undefined;
  endJson = undefined;
}

export function nodeCluster(): NodeCluster {
  return configured ??= {
    name: process.env.VIGIL_CLUSTER_NAME ?? '',
    labels: parseNodeLabels(process.env.VIGIL_NODE_LABELS ?? ''),
  };
}

/**
 * The envelope's fields after `time` (GetEventsResponse's cluster_name = 1003, node_labels = 1004), set ones
 * only: one frozen object until the cluster changes (spread into each envelope, not made per event).
 */
export function envelopeExtras(): Extras {
  if (extras) return extras;
  const c = nodeCluster();
  const out: { cluster_name?: string; node_labels?: Readonly<Record<string, string>> } = {};
  if (c.name) out.cluster_name = c.name;
  if (Object.keys(c.labels).length) out.node_labels = Object.freeze({ ...c.labels });
  return extras = Object.freeze(out);
}

/** envelopeExtras() as JSON members to splice after `"time":..`: `,"cluster_name":..,"node_labels":{..}`, or ''. */
export function envelopeExtrasJson(): string {
  if (extrasJson !== undefined) return extrasJson;
  const members = JSON.stringify(envelopeExtras()).slice(1, -1);
  return extrasJson = members ? `,${members}` : '';
}

/** What ends an envelope after its time's digits: `"` (the time's closing quote), envelopeExtrasJson(), `}`. */
export function envelopeEndJson(): string {
  return endJson ??= `"${envelopeExtrasJson()}}`;
}

/** Hubble's Flow.node_labels: the node's labels as `key=value` strings. */
export function hubbleNodeLabels(): string[] {
  return Object.entries(nodeCluster().labels).map(([k, v]) => `${k}=${v}`);
}
