// Where CRI runtimes listen by default: containerd, CRI-O. Apart from cri.ts
// so that a command can look for a socket without loading gRPC (a command
// that finds none never loads it).
export const CRI_SOCKETS: readonly string[] = ['/run/containerd/containerd.sock', '/run/crio/crio.sock'];
