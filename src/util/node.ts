// The node's name in events (node_name, exec ids): $NODE_NAME when set (a
// Kubernetes DaemonSet sets it from spec.nodeName, where the pod's hostname
// is its own), else the host name.
import os from 'node:os';

export function nodeName(): string {
  return process.env.NODE_NAME || os.hostname();
}
