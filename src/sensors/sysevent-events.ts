// The syscall-event sensor's event (src/sensors/sysevents.ts): one per
// completed connect, socket, sendto, ..., with the descriptor as the kernel
// held it when the call returned. For the events union in src/sensors/events.ts.

/** The syscalls the sensor watches, by their Linux names. */
export type SysCall =
  | 'connect' | 'socket' | 'sendto' | 'sendmsg' | 'accept' | 'accept4' | 'listen'
  | 'dup' | 'dup2' | 'dup3' | 'ptrace' | 'init_module' | 'finit_module' | 'memfd_create'
  | 'bpf' | 'setuid' | 'setns' | 'unshare' | 'userfaultfd' | 'fchmod';

/** One end of a socket: an IP address and port, or a unix socket's path. */
export interface SysEndpoint {
  /** Dotted quad or RFC 5952 IPv6 text (an IPv4-mapped address as IPv4); undefined for unix sockets. */
  ip?: string;
  port?: number;
  /** unix sockets: the path ("@name" for an abstract one). */
  path?: string;
}

/** The socket behind the descriptor when the call returned. */
export interface SysSocket {
  /** AF_* number (2 AF_INET, 10 AF_INET6, 1 AF_UNIX, 16 AF_NETLINK, 17 AF_PACKET, ...). */
  family: number;
  /** SOCK_* (1 stream, 2 dgram, 3 raw, 5 seqpacket). */
  type: number;
  /** IPPROTO_* (6 tcp, 17 udp, 1 icmp, 58 icmpv6, ...); 0 for unix. */
  protocol: number;
  /** The kernel's sk_state (TCP_ESTABLISHED = 1, TCP_SYN_SENT = 2, TCP_LISTEN = 10, TCP_CLOSE = 7). */
  state: number;
  local: SysEndpoint;
  remote: SysEndpoint;
}

/** The descriptor the event acts on (the one returned, for socket/accept/memfd_create/userfaultfd). */
export interface SysFile {
  fd: number;
  ino: number;
  /** The superblock's dev_t, kernel encoding (major << 20 | minor). */
  dev: number;
  /** st_mode: S_IFMT type bits and permissions. */
  mode: number;
  /** Root-first path of a non-socket file (dup, finit_module, setns, fchmod); undefined for others. */
  path: string | undefined;
  pathTruncated: boolean;
  socket: SysSocket | undefined;
}

/** The task that made the call (the process cache adds the rest by pid + startBootNs). */
export interface SysTask {
  pid: number;
  tid: number;
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  comm: string;
  startBootNs: bigint;
  cgroupId: bigint;
  /** The thread's effective capabilities at entry. */
  capEffective: bigint;
}

export interface SysEvent {
  readonly kind: 'sys';
  call: SysCall;
  /** Entry time, ns since the epoch, and as CLOCK_BOOTTIME ns. */
  timeNs: bigint;
  bootNs: bigint;
  /** The six raw syscall arguments as entered (signed 64-bit, as numbers: pointers lose their low bits above 2^53). */
  args: readonly number[];
  /** The result: fd, 0, a value, or -errno. */
  ret: number;
  /** The descriptor, when one was open at exit. */
  file: SysFile | undefined;
  /** The socket address the caller passed (connect, sendto, sendmsg). */
  addr: (SysEndpoint & { family: number }) | undefined;
  /** The string argument (memfd_create's name, init_module/finit_module's uargs), or null. */
  str: string | null;
  strTruncated: boolean;
  task: SysTask;
  /** Caught on raw_syscalls (the kernel has no tracepoint for the call: usually an ENOSYS stub). */
  raw: boolean;
}
