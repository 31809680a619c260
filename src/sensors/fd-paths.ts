// Names for the files the kernel counted by (device, inode): from the
// process's fd table in /proc, verified against the inode, and remembered.
//
// The kernel side (bpf/syscalls.bpf.c) keys reads and writes by the inode an
// fd named at syscall entry, and records the fd. At snapshot time the fd may
// be closed or reused for another file, so /proc/<pid>/fd/<fd> is believed
// only when /proc/<pid>/fdinfo/<fd> still shows the same inode. Names learnt
// this way, or from an absolute path given to open(2) that reached the inode,
// are kept per (device, inode) so a file closed before the snapshot keeps its
// name. Caches are bounded (least recently used out).
import { readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/** Where a file row's path came from. */
export type PathSource =
  /** /proc/<pid>/fd/<fd>, checked against the inode: absolute, exact. */
  | 'fd'
  /** The absolute path given to open(2). */
  | 'open'
  /** The inode was named earlier (by an fd or an absolute open) and has been closed since. */
  | 'inode'
  /** A relative path given to open(2), joined to the process's cwd or dirfd as they are now. */
  | 'relative'
  /** Not known: the path holds a placeholder. */
  | 'unknown';

const AT_FDCWD = -100;

class Lru<K, V> {
  private m = new Map<K, V>();
  constructor(private readonly max: number) {}
  get(k: K): V | undefined {
    const v = this.m.get(k);
    if (v !== undefined) {
      this.m.delete(k);
      this.m.set(k, v);
    }
    return v;
  }
  set(k: K, v: V): void {
    this.m.delete(k);
    this.m.set(k, v);
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value as K);
  }
  get size(): number {
    return this.m.size;
  }
}

/** "major:minor" of a kernel dev_t (major << 20 | minor). */
export function kernelDevName(dev: number): string {
  return `${dev >>> 20}:${dev & 0xfffff}`;
}

/**
 * A kernel dev_t (major << 20 | minor, as i_sb->s_dev holds it) as stat(2)
 * reports st_dev (the kernel's new_encode_dev; glibc's makedev for majors
 * below 4096): what fs.statSync(p).dev gives for the same file.
 */
export function statDev(dev: number): number {
  const major = dev >>> 20;
  const minor = dev & 0xfffff;
  return (minor & 0xff) + major * 0x100 + (minor & 0xfff00) * 0x1000;
}

/** The inode number in a /proc/<pid>/fdinfo/<fd> text, if any. */
export function fdinfoInode(text: string): bigint | undefined {
  const m = /^ino:\s*(\d+)\s*$/m.exec(text);
  return m ? BigInt(m[1] as string) : undefined;
}

export class FdPathResolver {
  private readonly byInode: Lru<string, string>;
  private readonly byFd: Lru<string, string>;
  /** Devices of pseudo filesystems seen in fd links ("pipe:[123]" -> pipefs's dev is "pipe"). */
  private readonly pseudoDevs = new Map<number, string>();

  constructor(private readonly procRoot = '/proc', cacheSize = 16384) {
    this.byInode = new Lru(cacheSize);
    this.byFd = new Lru(cacheSize);
  }

  /** The path fd of pid names now, if it still names inode (dev, ino); else undefined. */
  fdPath(pid: number, fd: number, dev: number, ino: bigint): string | undefined {
    if (fd < 0 || ino === 0n) return undefined;
    const key = `${pid}:${fd}:${dev}:${ino}`;
    const cached = this.byFd.get(key);
    if (cached !== undefined) return cached;
    let link: string;
    try {
      link = readlinkSync(`${this.procRoot}/${pid}/fd/${fd}`);
      if (fdinfoInode(readFileSync(`${this.procRoot}/${pid}/fdinfo/${fd}`, 'utf8')) !== ino) return undefined;
    } catch {
      return undefined; // process or fd gone
    }
    this.byFd.set(key, link);
    if (link.startsWith('/')) this.learn(dev, ino, link);
    const pseudo = /^([a-z_]+):\[(\d+)\]$/.exec(link);
    if (pseudo && BigInt(pseudo[2] as string) === ino && this.pseudoDevs.size < 64) this.pseudoDevs.set(dev, pseudo[1] as string);
    return link;
  }

  /** Remembers that (dev, ino) is reached by this absolute path. */
  learn(dev: number, ino: bigint, absPath: string): void {
    if (ino !== 0n && absPath.startsWith('/')) this.byInode.set(`${dev}:${ino}`, absPath);
  }

  /** A name for (dev, ino) learnt earlier; for pipes and sockets, "pipe:[ino]" once their device is known. */
  inodePath(dev: number, ino: bigint): string | undefined {
    if (ino === 0n) return undefined;
    const pseudo = this.pseudoDevs.get(dev);
    return pseudo ? `${pseudo}:[${ino}]` : this.byInode.get(`${dev}:${ino}`);
  }

  /**
   * A relative path given to open(2) made absolute against the directory it
   * was taken from (the cwd for AT_FDCWD, else the directory fd), as that
   * directory is named now: undefined when the process or the fd is gone.
   */
  relativePath(pid: number, dirfd: number, rel: string): string | undefined {
    try {
      const dir = readlinkSync(dirfd === AT_FDCWD ? `${this.procRoot}/${pid}/cwd` : `${this.procRoot}/${pid}/fd/${dirfd}`);
      return dir.startsWith('/') ? path.posix.join(dir, rel) : undefined;
    } catch {
      return undefined;
    }
  }
}
