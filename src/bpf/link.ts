// Attachments. Every kind has close() (detach) and [Symbol.dispose].
//
// Detaching can be slow: releasing a tracepoint's perf event waits in the
// kernel for RCU grace periods under a global mutex (30-130 ms each, one
// tracepoint after another), so a sensor set with ~50 tracepoints took 3-6 s
// to stop when its links were closed one by one. Links closed inside
// detachTogether() are destroyed together, each on its own thread, off the
// JS thread, and the perf events' release is left to a helper process
// (destroyAll): ~100 ms for all of them.
//
// Every attachment not yet closed is known (weakly) here, so that an agent
// told to stop at once can still detach everything: detachEverything().
import { spawn, type ChildProcess } from 'node:child_process';
import { close as closeFd } from 'node:fs';
import { native, type LinkHandle } from './native.js';
import { BpfError, fromNative } from './errors.js';
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

/** Links closed inside detachTogether's callback, waiting to be destroyed together. */
let deferred: { handle: LinkHandle; description: string }[] | undefined;

/**
 * Destroys a batch of links at once. A tracepoint's perf event is released
 * under the kernel's event_mutex after RCU grace periods, one tracepoint after
 * another (~30-100 ms each, whatever the threads): so the programs are
 * detached here at once (the links destroyed, the events disabled), and the
 * events themselves are released by a helper process that holds the last
 * descriptors and exits once this process has let go of them (or exits).
 * No program of Vigil's runs after this resolves; the disabled events go
 * within a second or two, without keeping this process alive.
 */
async function destroyAll(batch: { handle: LinkHandle; description: string }[]): Promise<void> {
  if (!batch.length) return;
  const n = native();
  const { errnos, heldFds } = await n.linksDestroy(batch.map((b) => b.handle), true);
  if (heldFds.length) releaseElsewhere(heldFds);
  const failed = errnos.findIndex((e) => e !== 0);
  if (failed >= 0) {
    const e = errnos[failed]!;
    throw new BpfError(`detach ${batch[failed]!.description}: bpf_link__destroy failed (errno ${e})`, e, 'bpf_link__destroy');
  }
}

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
 * Runs `close` (which closes sensors, engines, links), destroying the links it
 * closes synchronously all at once afterwards, off the JS thread; resolves
 * once they are detached (and `close`'s promise, if it returns one, settled).
 * Links closed after `close` first awaits are destroyed as usual, one by one.
 * Nothing else changes: maps, readers and objects close as `close` closes them.
 */
export async function detachTogether(close: () => unknown): Promise<void> {
  const outer = deferred;
  const batch: { handle: LinkHandle; description: string }[] = [];
  deferred = batch;
  let result: unknown;
  try {
    result = close();
  } finally {
    deferred = outer;
  }
  try {
    await result;
  } finally {
    const done = destroyAll(batch);
    inFlight.add(done);
    try {
      await done;
    } finally {
      inFlight.delete(done);
    }
  }
}

/** Batches being destroyed now: an exit must wait for them, or the kernel releases their perf events as it exits. */
const inFlight = new Set<Promise<void>>();

/**
 * Detaches every attachment still open in this process, links all at once:
 * the way out for an agent that must stop now (a second Ctrl-C), which would
 * otherwise leave the kernel to close the links one by one as it exits.
 */
export async function detachEverything(): Promise<void> {
  // Batches already under way (a first stop) finish first: their perf events then go to the helper too.
  await Promise.allSettled([...inFlight]);
  await detachTogether(() => {
    for (const ref of [...open]) {
      open.delete(ref);
      try {
        ref.deref()?.close();
      } catch {
        // Best effort: the process is leaving, and the kernel releases what is left with it.
      }
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

  close(): void {
    const h = this.handle;
    if (!h) return;
    this.handle = undefined;
    open.delete(this.ref);
    if (deferred) deferred.push({ handle: h, description: this.description });
    else native().linkDestroy(h);
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
