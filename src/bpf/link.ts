// Attachments. Every kind has close() (detach) and [Symbol.dispose].
import { native, type LinkHandle } from './native.js';
import { fromNative } from './errors.js';
import { XdpFlags } from './types.js';

export interface Attachment extends Disposable {
  /** What this attachment is, for logs and status: "tracepoint syscalls/sys_enter_execve". */
  readonly description: string;
  close(): void;
}

/** A libbpf bpf_link: the kernel detaches when its last descriptor closes. */
export class Link implements Attachment {
  private handle: LinkHandle | undefined;

  constructor(handle: LinkHandle, readonly description: string) {
    this.handle = handle;
  }

  get fd(): number {
    if (!this.handle) throw new Error(`link ${this.description} is closed`);
    return native().linkFd(this.handle);
  }

  /** Pins the link in bpffs: the attachment then outlives this process. */
  pin(path: string): void {
    if (!this.handle) throw new Error(`link ${this.description} is closed`);
    try {
      native().linkPin(this.handle, path);
    } catch (e) {
      throw fromNative(e, `pin ${this.description} at ${path}`);
    }
  }

  unpin(): void {
    if (!this.handle) return;
    native().linkUnpin(this.handle);
  }

  /** Reads an iterator link to its end (runs the iterator once). */
  async readIter(): Promise<Buffer> {
    if (!this.handle) throw new Error(`link ${this.description} is closed`);
    try {
      return await native().iterRead(this.handle);
    } catch (e) {
      throw fromNative(e, `read ${this.description}`);
    }
  }

  close(): void {
    const h = this.handle;
    if (!h) return;
    this.handle = undefined;
    native().linkDestroy(h);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Vigil's live TC filters per interface, and whether Vigil created the
 * interface's clsact qdisc. One qdisc serves both directions, so it is
 * removed only with the last of Vigil's filters on that interface.
 */
const clsactUsers = new Map<number, { live: number; created: boolean }>();

/** A TC (clsact) filter: detached by handle and priority. */
export class TcAttachment implements Attachment {
  private attached = true;
  constructor(
    readonly ifindex: number,
    readonly attachPoint: number,
    readonly handle: number,
    readonly priority: number,
    createdHook: boolean,
    readonly description: string,
  ) {
    const users = clsactUsers.get(ifindex) ?? { live: 0, created: false };
    users.live++;
    users.created ||= createdHook;
    clsactUsers.set(ifindex, users);
  }

  /** Whether Vigil has filters on the interface's clsact qdisc. */
  static hookInUse(ifindex: number): boolean {
    return (clsactUsers.get(ifindex)?.live ?? 0) > 0;
  }

  close(): void {
    if (!this.attached) return;
    this.attached = false;
    const n = native();
    const users = clsactUsers.get(this.ifindex);
    const last = !users || --users.live === 0;
    if (last) clsactUsers.delete(this.ifindex);
    try {
      n.tcDetach(this.ifindex, this.attachPoint, this.handle, this.priority);
    } catch (e) {
      // ENOENT/ENODEV: the interface (or its qdisc) is already gone.
      const errno = (e as { errno?: number }).errno;
      if (errno !== 2 && errno !== 19) throw fromNative(e, `detach ${this.description}`);
    } finally {
      if (last && users?.created) {
        try {
          // Destroying the hook removes the whole clsact qdisc (both directions):
          // only done when Vigil created it and none of Vigil's filters remain.
          n.tcHookDestroy(this.ifindex, 3 /* BPF_TC_INGRESS|BPF_TC_EGRESS */);
        } catch {
          /* interface gone */
        }
      }
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** XDP attached through netlink with an explicit mode (native or generic). */
export class XdpAttachment implements Attachment {
  private attached = true;
  constructor(readonly ifindex: number, readonly flags: number, readonly description: string) {}

  close(): void {
    if (!this.attached) return;
    this.attached = false;
    try {
      native().xdpDetach(this.ifindex, this.flags & (XdpFlags.skbMode | XdpFlags.drvMode | XdpFlags.hwMode));
    } catch (e) {
      const errno = (e as { errno?: number }).errno;
      if (errno !== 19) throw fromNative(e, `detach ${this.description}`);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A socket filter (SO_ATTACH_BPF) on a socket descriptor Vigil does not own. */
export class SocketFilterAttachment implements Attachment {
  private attached = true;
  constructor(readonly socketFd: number, readonly description: string) {}

  close(): void {
    if (!this.attached) return;
    this.attached = false;
    try {
      native().socketDetachFilter(this.socketFd);
    } catch {
      /* socket already closed */
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Programs attached to one perf event per CPU. libbpf's perf-event link owns
 * the perf descriptor and closes it when the link is destroyed.
 */
export class PerfEventAttachment implements Attachment {
  private open = true;
  constructor(readonly links: Link[], readonly description: string) {}

  close(): void {
    if (!this.open) return;
    this.open = false;
    for (const l of this.links) l.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
