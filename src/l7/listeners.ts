// The processes listening on TCP ports, from /proc: what names a server seen
// only in packets (the L7 sensor's packet capture has no process).
//
//   const names = new ListenerNames();
//   names.name(8080)   // 'nginx', or undefined when nothing here listens on it
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** A port not found is looked for again at most this often (a scan reads every process's descriptors). */
const RESCAN_MS = 5000;
const TCP_LISTEN = '0A';

/** The listening sockets in a /proc/net/tcp{,6} text: inode → local port. Pure. */
export function listeningInodes(text: string, into = new Map<string, number>()): Map<string, number> {
  for (const line of text.split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== TCP_LISTEN) continue;
    const port = Number.parseInt(f[1]!.slice(f[1]!.lastIndexOf(':') + 1), 16);
    if (port > 0 && f[9] !== '0') into.set(f[9]!, port);
  }
  return into;
}

export class ListenerNames {
  private names = new Map<number, string>();
  private scannedAt = -Infinity;

  constructor(private readonly procRoot = '/proc', private readonly now: () => number = () => performance.now()) {}

  /** The comm of a process listening on port in this network namespace, or undefined. */
  name(port: number): string | undefined {
    const n = this.names.get(port);
    if (n !== undefined || this.now() - this.scannedAt < RESCAN_MS) return n;
    this.scan();
    return this.names.get(port);
  }

  private scan(): void {
    this.scannedAt = this.now();
    const inodes = new Map<string, number>();
    for (const f of ['net/tcp', 'net/tcp6']) {
      try {
        listeningInodes(readFileSync(`${this.procRoot}/${f}`, 'utf8'), inodes);
      } catch {
        // No IPv6 (or no IPv4): nothing listens there.
      }
    }
    const names = new Map<number, string>();
    for (const pid of readdirSync(this.procRoot)) {
      if (!/^\d+$/.test(pid)) continue;
      let fds: string[];
      try {
        fds = readdirSync(`${this.procRoot}/${pid}/fd`);
      } catch {
        continue; // gone, or a kernel thread
      }
      for (const fd of fds) {
        let target: string;
        try {
          target = readlinkSync(`${this.procRoot}/${pid}/fd/${fd}`);
        } catch {
          continue;
        }
        const port = target.startsWith('socket:[') ? inodes.get(target.slice(8, -1)) : undefined;
        if (port === undefined || names.has(port)) continue;
        try {
          names.set(port, readFileSync(`${this.procRoot}/${pid}/comm`, 'utf8').trim());
        } catch {
          // gone since
        }
      }
    }
    this.names = names;
  }
}
