// Attachments. Every kind has close() (detach) and [Symbol.dispose].
//
// Detaching can be slow: releasing a tracepoint's perf event waits in the
// kernel for RCU grace periods under a global mutex (30-130 ms each, one
// tracepoint after another), so a sensor set with ~50 tracepoints took 3-6 s
// to stop. Inside detachTogether(), closing a link detaches its program at
// once (the link is destroyed, the program runs no more) but keeps its perf
// event, disabled; the events are released afterwards by a short-lived
// helper process, so the agent stops in ~100 ms.
//
// Every attachment not yet closed is known (weakly) here, so that an agent
// told to stop at once can still detach everything: detachEverything().
import { spawn, type ChildProcess } from 'node:child_process';
import { close as closeFd } from 'node:fs';
import { native, type LinkHandle } from './native.js';
import { fromNative } from './errors.js';
import { XdpFlags } from './types.js';

export interface Attachment extends Disposable {
  /** What this attachment is, for logs and status: "tracepoint syscalls/sys_enter_execve". */
  readonly description: string;
  close(): void;
}

/** Attachments made and not closed yet. Weak: a forgotten one can still be collected (its finaliser detaches it). */
const open = new Set<WeakRef<Attachment>>();

let tracked = 0;

function track(a: Attachment): WeakRef<Attachment> {
  // Now and then, forget attachments that were collected without being closed.
  if (++tracked % 1024 === 0) for (const r of open) if (!r.deref()) open.delete(r);
  const ref = new WeakRef(a);
  open.add(ref);
  return ref;
}

/** Perf events of links closed inside detachTogether's callback, kept for the helper. */
let held: number[] | undefined;

/** The helper's program: reads its stdin to the end (this process's exit ends it), then exits. */
const HELPER = '/bin/cat';

/**
 * Hands perf-event descriptors to a helper process and closes ours: the
 * helper's exit then releases the events (the slow part), not this process.
 * Without a helper (none could start), they are closed here, in parallel.
 */
function releaseElsewhere(fds: number[]): void {
  const n = native();
  let helper: ChildProcess | undefined;
  try {
    // The child holds the descriptors once spawn returns (libuv waits for its exec).
    helper = spawn(HELPER, [], { stdio: ['pipe', 'ignore', 'ignore', ...fds], detached: true });
    helper.on('error', () => undefined);
    helper.unref();
  } catch {
    helper = undefined;
  }
  if (!helper?.pid) {
    void Promise.all(fds.map((fd) => new Promise<void>((resolve) => closeFd(fd, () => resolve()))));
    return;
  }
  for (const fd of fds) n.closeFd(fd);
  // Ours are closed: the helper's copies are the last; its stdin's end (now, or at our exit) ends it.
  helper.stdin?.end();
}

/**
 * Runs `close` (which closes sensors, engines, links): the links it closes
 * synchronously are detached as they close, as always, but their perf events
 * (tracepoints) are kept, disabled, and released by a helper process once
 * `close` (and its promise, if it returns one) is done. Links closed after
 * `close` first awaits are destroyed as usual. Nothing else changes: readers
 * still read what the rings hold after the programs stopped, maps and
 * objects close as `close` closes them.
 */
export async function detachTogether(close: () => unknown): Promise<void> {
  const outer = held;
  const mine: number[] = [];
  held = mine;
  let result: unknown;
  try {
    result = close();
  } finally {
    held = outer;
  }
  try {
    await result;
  } finally {
    if (mine.length) releaseElsewhere(mine);
  }
}

/**
 * Closes attachments. Inside detachTogether(), links are detached all at
 * once, each on its own thread (one after another, detaching tracepoint
 * programs costs 20-50 ms each), before this returns; elsewhere, one by one.
 */
export function closeAll(attachments: Iterable<Attachment>): void {
  const links: Link[] = [];
  for (const a of attachments) {
    if (held && a instanceof Link) links.push(a);
    else a.close();
  }
  if (!links.length) return;
  const handles = links.map((l) => l.release()).filter((h): h is LinkHandle => h !== undefined);
  try {
    held!.push(...native().linksDetachKeepEvents(handles));
  } catch (e) {
    throw fromNative(e, `detach ${links.length} links (${links[0]!.description}, ...)`);
  }
}

/**
 * Detaches every attachment still open in this process, links all at once:
 * the way out for an agent that must stop now (a second Ctrl-C), which would
 * otherwise leave the kernel to close the links one by one as it exits.
 */
export async function detachEverything(): Promise<void> {
  await detachTogether(() => {
    const all = [...open].map((ref) => ref.deref()).filter((a): a is Attachment => a !== undefined);
    open.clear();
    try {
      closeAll(all);
    } catch {
      // Best effort: the process is leaving, and the kernel releases what is left with it.
    }
  });
}

/** How many attachments are open now (diagnostics, tests). */
export function openAttachments(): number {
  let n = 0;
  for (const ref of open) if (ref.deref()) n++;
  return n;
}

/** A libbpf bpf_link: the kernel detaches when its last descriptor closes. */
export class Link implements Attachment {
  private handle: LinkHandle | undefined;
  private readonly ref: WeakRef<Attachment>;

  constructor(handle: LinkHandle, readonly description: string) {
    this.handle = handle;
    this.ref = track(this);
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

  /** Takes the handle out of this link (closed from now on), for closeAll. */
  release(): LinkHandle | undefined {
    const h = this.handle;
    this.handle = undefined;
    open.delete(this.ref);
    return h;
  }

  close(): void {
    const h = this.handle;
    if (!h) return;
    this.handle = undefined;
    open.delete(this.ref);
    if (!held) {
      native().linkDestroy(h);
      return;
    }
    const fd = native().linkDetachKeepEvent(h);
    if (fd >= 0) held.push(fd);
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
  private readonly ref = track(this);
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
    open.delete(this.ref);
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
  private readonly ref = track(this);
  constructor(readonly ifindex: number, readonly flags: number, readonly description: string) {}

  close(): void {
    if (!this.attached) return;
    this.attached = false;
    open.delete(this.ref);
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
