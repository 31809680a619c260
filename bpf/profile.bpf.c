// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* CPU profiler: sampled (on-CPU) or blocked-time (off-CPU) stacks, counted in
 * the kernel. See bpf/include/vigil/profile.h for the maps' contract.
 *
 * Programs (user space loads the ones a mode needs):
 *   vigil_profile_cpu     perf_event, cpu-clock on every CPU: on-CPU samples
 *   vigil_profile_switch  tp_btf/sched_switch: off-CPU time
 *   vigil_profile_exec    tp_btf/sched_process_exec: a new image, re-notify
 *   vigil_profile_exit    tp_btf/sched_process_exit: forget the process
 *   vigil_profile_fork    tp_btf/sched_process_fork: --pid trees (filter.h)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/maps.h"
#include "vigil/ringbuf.h"
#include "vigil/filter.h"
#include "vigil/profile.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps the header's types in BTF for codegen (src/generated/profile.ts). */
VIGIL_KEEP_TYPES(enum vigil_profile_limits, enum vigil_profile_stat, enum vigil_profile_mode,
		 enum vigil_profile_stack_id, struct vigil_profile_pid_event);

#define EFAULT 14
#define EEXIST 17
#define ENOMEM 12

/* Count samples of the idle task (pid 0) too. */
const volatile __u32 include_idle = 0;
/* Off-CPU: intervals shorter than this are not counted. */
const volatile __u64 min_block_ns = 0;

VIGIL_STACK_MAP(vigil_profile_user_stacks, VIGIL_PROFILE_USER_STACKS_MAX, VIGIL_PROFILE_MAX_DEPTH);

VIGIL_STACK_MAP(vigil_profile_kernel_stacks, VIGIL_PROFILE_KERNEL_STACKS_MAX,
		VIGIL_PROFILE_MAX_DEPTH);

VIGIL_STACK_MAP(vigil_profile_overflow_stacks, VIGIL_PROFILE_OVERFLOW_STACKS_MAX,
		VIGIL_PROFILE_MAX_DEPTH);

VIGIL_KEYED_MAP(vigil_profile_counts, BPF_MAP_TYPE_HASH, VIGIL_PROFILE_COUNTS_MAX,
		struct vigil_profile_key, struct vigil_profile_value);

VIGIL_INDEXED_MAP(vigil_profile_stats, BPF_MAP_TYPE_PERCPU_ARRAY, VIGIL_PROFILE_STAT_COUNT, __u64);

/* Processes already announced to user space (thread group ids). */
VIGIL_KEYED_MAP(vigil_profile_seen, BPF_MAP_TYPE_LRU_HASH, VIGIL_PROFILE_SEEN_MAX, __u32, __u8);

VIGIL_RING_MAP(vigil_profile_events, 64 * 1024);

VIGIL_KEYED_MAP(vigil_offcpu_start, BPF_MAP_TYPE_LRU_HASH, VIGIL_PROFILE_OFFCPU_MAX,
		__u32, struct vigil_offcpu_start);

static __always_inline void stat(__u32 which)
{
	vigil_count(&vigil_profile_stats, which);
}

static __always_inline __s32 stack_id(void *ctx, __u64 flags)
{
	bool user = flags & BPF_F_USER_STACK;
	long id = user ? bpf_get_stackid(ctx, &vigil_profile_user_stacks, flags) :
			 bpf_get_stackid(ctx, &vigil_profile_kernel_stacks, flags);

	if (id == -EEXIST || id == -ENOMEM) {
		/* The bucket holds another stack (or the map is full): the overflow
		 * map's buckets are mostly free. */
		long again = bpf_get_stackid(ctx, &vigil_profile_overflow_stacks, flags);

		if (again >= 0) {
			stat(VIGIL_PROFILE_STAT_OVERFLOW_STACKS);
			return again | VIGIL_PROFILE_OVERFLOW_ID;
		}
	}
	if (id == -EEXIST)
		stat(user ? VIGIL_PROFILE_STAT_USER_STACK_COLLISION : VIGIL_PROFILE_STAT_KERNEL_STACK_COLLISION);
	else if (id == -ENOMEM)
		stat(user ? VIGIL_PROFILE_STAT_USER_STACK_FULL : VIGIL_PROFILE_STAT_KERNEL_STACK_FULL);
	else if (id < 0 && id != -EFAULT)
		stat(VIGIL_PROFILE_STAT_STACK_OTHER);
	return id;
}

/* The current task's key: ids, names and both stacks. */
static __always_inline void fill_key(void *ctx, struct vigil_profile_key *k)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();

	k->pid = id >> 32;
	k->tid = (__u32)id;
	k->user_stack_id = stack_id(ctx, BPF_F_USER_STACK);
	k->kernel_stack_id = stack_id(ctx, 0);
	bpf_get_current_comm(k->comm, sizeof(k->comm));
	BPF_CORE_READ_STR_INTO(&k->pcomm, task, group_leader, comm);
}

static __always_inline void add(struct vigil_profile_key *k, __u64 ns)
{
	struct vigil_profile_value *v = bpf_map_lookup_elem(&vigil_profile_counts, k);

	if (!v) {
		struct vigil_profile_value zero = {};

		/* -EEXIST: another CPU made it first; the lookup below finds it. */
		bpf_map_update_elem(&vigil_profile_counts, k, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&vigil_profile_counts, k);
		if (!v) {
			stat(VIGIL_PROFILE_STAT_COUNTS_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&v->count, 1);
	if (ns)
		__sync_fetch_and_add(&v->total_ns, ns);
	stat(VIGIL_PROFILE_STAT_SAMPLES);
}

/* First sample of a process: tell user space to snapshot its maps now. */
static __always_inline void announce(__u32 pid)
{
	struct vigil_profile_pid_event *e;
	__u8 one = 1;

	if (bpf_map_lookup_elem(&vigil_profile_seen, &pid))
		return;
	if (bpf_map_update_elem(&vigil_profile_seen, &pid, &one, BPF_NOEXIST))
		return; /* another CPU announced it */
	e = vigil_reserve(&vigil_profile_events, 0, sizeof(*e));
	if (!e) {
		/* Try again on a later sample. */
		bpf_map_delete_elem(&vigil_profile_seen, &pid);
		stat(VIGIL_PROFILE_STAT_PID_EVENT_LOST);
		return;
	}
	e->pid = pid;
	e->pad = 0;
	vigil_submit(&vigil_profile_events, e);
}

SEC("perf_event")
int vigil_profile_cpu(struct bpf_perf_event_data *ctx)
{
	struct vigil_profile_key k = {};
	__u64 id = bpf_get_current_pid_tgid();

	if ((__u32)id == 0 && !include_idle) {
		stat(VIGIL_PROFILE_STAT_IDLE);
		return 0;
	}
	if (!vigil_filter_pass()) {
		stat(VIGIL_PROFILE_STAT_FILTERED);
		return 0;
	}
	fill_key(ctx, &k);
	add(&k, 0);
	/* Kernel threads (no user stack) have no maps to capture. */
	if (k.pid && k.user_stack_id != -EFAULT)
		announce(k.pid);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(vigil_profile_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct vigil_offcpu_start *s;
	__u64 now = bpf_ktime_get_ns();
	__u32 tid = prev->pid;

	/* The task leaving the CPU is still current: its stacks are ours to take. */
	if (tid) {
		if (vigil_filter_pass()) {
			struct vigil_offcpu_start start = { .ts = now };

			fill_key(ctx, &start.key);
			if (bpf_map_update_elem(&vigil_offcpu_start, &tid, &start, BPF_ANY))
				stat(VIGIL_PROFILE_STAT_OFFCPU_START_FULL);
		} else {
			stat(VIGIL_PROFILE_STAT_FILTERED);
		}
	}

	tid = next->pid;
	if (!tid)
		return 0;
	s = bpf_map_lookup_elem(&vigil_offcpu_start, &tid);
	if (!s)
		return 0;
	{
		struct vigil_profile_key k = s->key;
		__u64 delta = now - s->ts;

		bpf_map_delete_elem(&vigil_offcpu_start, &tid);
		if (delta < min_block_ns) {
			stat(VIGIL_PROFILE_STAT_OFFCPU_SHORT);
			return 0;
		}
		add(&k, delta);
		if (k.user_stack_id != -EFAULT)
			announce(k.pid);
	}
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_profile_exec, struct task_struct *p)
{
	__u32 pid = p->tgid;

	/* A new image: its maps must be captured anew at its next sample. */
	bpf_map_delete_elem(&vigil_profile_seen, &pid);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vigil_profile_exit, struct task_struct *p)
{
	__u32 pid = p->tgid, tid = p->pid;

	bpf_map_delete_elem(&vigil_offcpu_start, &tid);
	if (tid != pid)
		return 0;
	/* A reused pid is a new process. */
	bpf_map_delete_elem(&vigil_profile_seen, &pid);
	vigil_filter_on_exit(pid);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_profile_fork, struct task_struct *parent, struct task_struct *child)
{
	vigil_filter_on_fork(parent->tgid, child->tgid);
	return 0;
}
