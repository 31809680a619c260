/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* CPU profiler (bpf/profile.bpf.c): sampled stacks aggregated in the kernel.
 *
 * On-CPU mode: a perf_event program on every CPU's cpu-clock event takes the
 * user and kernel stacks of the interrupted task (bpf_get_stackid, frame
 * pointers) and counts one sample under a struct vigil_profile_key in
 * vigil_profile_counts.
 *
 * Stacks: user stacks go to vigil_profile_user_stacks, kernel stacks to
 * vigil_profile_kernel_stacks. A stack map is a hash table without chaining:
 * a new stack whose bucket another stack holds gets -EEXIST (the birthday
 * problem makes that common long before the map is full), so such a stack
 * is stored in the smaller vigil_profile_overflow_stacks instead, and its id
 * carries VIGIL_PROFILE_OVERFLOW_ID.
 *
 * Off-CPU mode: at sched_switch the stacks of the task leaving the CPU are
 * taken and kept with a timestamp (vigil_offcpu_start, by thread id); when
 * the task runs again, the time it spent off the CPU is added under the
 * saved key (count = times it blocked, total_ns = time blocked).
 *
 * User space drains vigil_profile_counts each interval (batch
 * lookup-and-delete) and then reads and deletes the stack map entries (it
 * keeps those still referenced by pending off-CPU starts). A stack id in a
 * key is the value bpf_get_stackid returned: negative values are errors
 * (-EFAULT: no stack of that kind, e.g. a kernel thread has no user stack;
 * -EEXIST: hash bucket taken by another stack; -ENOMEM: stack map full),
 * so the sample is still counted and its lost stack shows as such.
 */
#ifndef __VIGIL_PROFILE_H
#define __VIGIL_PROFILE_H

enum vigil_profile_limits {
	/* PERF_MAX_STACK_DEPTH: frames a stack map entry holds. */
	VIGIL_PROFILE_MAX_DEPTH = 127,
	VIGIL_PROFILE_COMM_LEN = 16,
	/* Default sizes (user space may resize before load). */
	VIGIL_PROFILE_USER_STACKS_MAX = 8192,
	VIGIL_PROFILE_KERNEL_STACKS_MAX = 4096,
	VIGIL_PROFILE_OVERFLOW_STACKS_MAX = 4096,
	VIGIL_PROFILE_COUNTS_MAX = 32768,
	VIGIL_PROFILE_SEEN_MAX = 16384,
	VIGIL_PROFILE_OFFCPU_MAX = 32768,
};

/* Index into the per-CPU vigil_profile_stats array. */
enum vigil_profile_stat {
	/* Samples (on-CPU) or off-CPU intervals counted. */
	VIGIL_PROFILE_STAT_SAMPLES = 0,
	/* On-CPU samples of the idle task, skipped (include_idle = 0). */
	VIGIL_PROFILE_STAT_IDLE = 1,
	/* Samples the task filters dropped. */
	VIGIL_PROFILE_STAT_FILTERED = 2,
	/* bpf_get_stackid -EEXIST in both the stack's map and the overflow map. */
	VIGIL_PROFILE_STAT_USER_STACK_COLLISION = 3,
	VIGIL_PROFILE_STAT_KERNEL_STACK_COLLISION = 4,
	/* bpf_get_stackid -ENOMEM: the stack map is full. */
	VIGIL_PROFILE_STAT_USER_STACK_FULL = 5,
	VIGIL_PROFILE_STAT_KERNEL_STACK_FULL = 6,
	/* Any other stack error but -EFAULT (no stack of that kind, normal). */
	VIGIL_PROFILE_STAT_STACK_OTHER = 7,
	/* vigil_profile_counts was full: the sample is lost. */
	VIGIL_PROFILE_STAT_COUNTS_FULL = 8,
	/* vigil_offcpu_start was full: a switch-out went unrecorded. */
	VIGIL_PROFILE_STAT_OFFCPU_START_FULL = 9,
	/* Off-CPU intervals shorter than min_block_ns, skipped. */
	VIGIL_PROFILE_STAT_OFFCPU_SHORT = 10,
	/* New-process notifications the ring buffer could not take (also in vigil_lost). */
	VIGIL_PROFILE_STAT_PID_EVENT_LOST = 11,
	/* Stacks stored in the overflow map after a collision (not lost). */
	VIGIL_PROFILE_STAT_OVERFLOW_STACKS = 12,
	VIGIL_PROFILE_STAT_COUNT = 13,
};

enum vigil_profile_stack_id {
	/* Set in a stack id that names an entry of vigil_profile_overflow_stacks. */
	VIGIL_PROFILE_OVERFLOW_ID = 1 << 30,
};

enum vigil_profile_mode {
	VIGIL_PROFILE_ON_CPU = 0,
	VIGIL_PROFILE_OFF_CPU = 1,
};

/* One aggregation bucket. Thread-level: user space folds threads into
 * processes when it wants. */
struct vigil_profile_key {
	/* Thread group id (the process) and thread id. */
	__u32 pid;
	__u32 tid;
	/* Ids in the user / kernel stack map (or, with VIGIL_PROFILE_OVERFLOW_ID,
	 * in the overflow map), or a negative errno (see above). */
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	/* Thread name, and the thread group leader's (the process name). */
	char comm[VIGIL_PROFILE_COMM_LEN];
	char pcomm[VIGIL_PROFILE_COMM_LEN];
};

struct vigil_profile_value {
	/* On-CPU: samples. Off-CPU: times the thread left the CPU with this key. */
	__u64 count;
	/* Off-CPU: nanoseconds off the CPU. On-CPU: 0 (count x period). */
	__u64 total_ns;
};

/* Off-CPU: a thread that left the CPU, waiting to run again. */
struct vigil_offcpu_start {
	__u64 ts;
	struct vigil_profile_key key;
};

/* Ring buffer record: a process was sampled for the first time (or for the
 * first time since it exec'd), so user space snapshots its memory maps
 * while it lives. */
struct vigil_profile_pid_event {
	__u32 pid;
	__u32 pad;
};

#endif /* __VIGIL_PROFILE_H */
