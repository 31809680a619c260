// The prefilter's cache (bpf/include/vigil/policy.h: enum
// vigil_policy_prefilter_cache): the kernel keeps each file's verdict per CPU,
// checked on every use against the file's name and parent, the task's root,
// and two generations in `pf_gen`. This side owns both generations' switches:
// it watches the syscalls that move directories and mounts (policy_tree_moved
// bumps MOVED at their exit), and bumps CONFIG whenever a hook's prefilter
// changes. The cache is on (CONFIG non-zero) only while every such syscall of
// this kernel is watched; otherwise the prefilter decides every event afresh.
import { codec, TypedMap, type BpfObject, type Link } from '../bpf/index.js';
import { readTracepointFormat, syscallsWithTracepoints } from './tracefs.js';
import { VIGIL_POLICY_PF_GEN_CONFIG } from '../generated/policy.js';

/**
 * Syscalls after which a directory or a mount may have another path:
 * renames, mount tree changes, a new root for every task (pivot_root), and
 * io_uring, which renames without a rename syscall (its completions are
 * watched too: an operation completed later, in a worker).
 */
export const TREE_MOVES = [
  'rename', 'renameat', 'renameat2', 'mount', 'umount', 'umount2', 'move_mount', 'mount_setattr', 'pivot_root',
  'io_uring_enter',
] as const;

export class PrefilterCache {
  private links: Link[] | undefined;
  private generation = 0n;
  /** Why the cache is off, once a prefilter asked for it and it could not be on. */
  off: string | undefined;

  constructor(private readonly core: BpfObject) {}

  /** A hook's prefilter keys were written or deleted: verdicts made before are made again. */
  changed(): void {
    if (!this.links && this.off === undefined) this.watch();
    if (!this.links) return;
    this.generation += 1n;
    new TypedMap(this.core.map('pf_gen'), codec.u32, codec.u64).set(VIGIL_POLICY_PF_GEN_CONFIG, this.generation);
  }

  private watch(): void {
    // A syscall built into the kernel has its tracepoints (SYSCALL_DEFINE makes them); one without
    // is not built in (io_uring, umount on x86_64) and moves nothing.
    const have = syscallsWithTracepoints();
    if (!have.has('renameat2')) {
      this.off = 'no syscall tracepoints to watch renames with';
      return;
    }
    const events: [string, string][] = TREE_MOVES.filter((s) => have.has(s)).map((s) => ['syscalls', `sys_exit_${s}`]);
    if (readTracepointFormat('io_uring', 'io_uring_complete')) events.push(['io_uring', 'io_uring_complete']);
    const links: Link[] = [];
    try {
      for (const [category, event] of events) links.push(this.core.program('policy_tree_moved').attachTracepoint(category, event));
    } catch (e) {
      for (const l of links) l.close();
      this.off = `${(e as Error).message.split('\n')[0]}`;
      return;
    }
    this.links = links;
  }

  /** The watch's links (the engine closes them with its own). */
  detach(): Link[] {
    const l = this.links ?? [];
    this.links = undefined;
    return l;
  }
}
