// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The process sensor: exec, failed exec, fork (new processes, not threads)
 * and exit (of the whole thread group), as the records of vigil/process.h.
 *
 *   sched:sched_process_exec   runs in the new image once the exec cannot
 *                              fail: new mm, exe_file, creds;
 *   syscalls:sys_{enter,exit}_execve{,at}
 *                              enter keeps the user pointers (per thread),
 *                              exit reads them only when the call failed
 *                              (a failed exec leaves the old image intact);
 *   raw_tp sched_process_fork  the child task, fully set up (creds,
 *                              namespaces, cgroup), before it first runs;
 *   sched:sched_process_exit   every thread; reported once per group, for
 *                              the thread that ends it (group_dead).
 *
 * Every event passes the shared in-kernel filters (vigil/filter.h) first,
 * and fork/exec/exit keep vigil_tracked current for --pid trees and binary
 * prefixes. Variable-length records are built in per-CPU scratch memory and
 * copied to the ring with only the bytes used.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/maps.h"
#include "vigil/ringbuf.h"
#include "vigil/filter.h"
#include "vigil/path.h"
#include "vigil/task.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Offsets into the blob are masked with SCRATCH_MASK so the verifier can
 * bound every write; the buffer has room past the mask for the largest single
 * write (VIGIL_ARGS_MAX bytes of argv). The logical limits keep real offsets
 * below the mask, so masking never changes an offset. */
#define SCRATCH_MASK 16383
#define SCRATCH_HEADER 256
#define SCRATCH_DATA (SCRATCH_MASK + 1 + VIGIL_ARGS_MAX)

_Static_assert(VIGIL_EXEC_DATA_MAX <= SCRATCH_MASK, "exec blob must fit under the mask");
_Static_assert(VIGIL_PATH_MAX + VIGIL_ARGS_MAX + VIGIL_PATH_MAX <= SCRATCH_MASK, "failed-exec blob too");
_Static_assert(VIGIL_PATH_SLACK <= VIGIL_ARGS_MAX, "slack must hold one component");
_Static_assert(sizeof(struct vigil_exec_event) <= SCRATCH_HEADER, "header room");
_Static_assert(sizeof(struct vigil_exec_failed_event) <= SCRATCH_HEADER, "header room");

/* One record being built: the header at raw[0], its blob right after it. */
struct process_scratch {
	__u8 raw[SCRATCH_HEADER + SCRATCH_DATA];
	struct vigil_path_key key;
};

VIGIL_INDEXED_MAP(process_scratch, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct process_scratch);

/* Resized from user space before load (ProcessSensor's ringBytes). */
VIGIL_RING_MAP(events, 1024 * 1024);

/* execve/execveat arguments between syscall entry and exit, by thread id.
 * LRU: an entry whose exit was never seen (attached in between) ages out. */
struct exec_call {
	__u64 filename;
	__u64 argv;
	__s32 dfd;
	__u32 at_flags;
	__u32 at;
	__u32 pad;
};

VIGIL_KEYED_MAP(exec_calls, BPF_MAP_TYPE_LRU_HASH, 8192, __u32, struct exec_call);

/* Keeps the header's types in BTF for codegen (src/generated/process.ts). */
VIGIL_KEEP_TYPES(struct vigil_exec_event, struct vigil_exec_failed_event, struct vigil_fork_event,
		 struct vigil_exit_event, enum vigil_process_limits, enum vigil_process_kind,
		 enum vigil_exec_flags);

/* Which events to send (the rest still maintain vigil_tracked). */
const volatile bool send_exec = true;
const volatile bool send_exec_failed = true;
const volatile bool send_fork = true;
const volatile bool send_exit = true;

static __always_inline struct process_scratch *scratch(void)
{
	return vigil_slot0(process_scratch);
}

SEC("tracepoint/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct process_scratch *s;
	struct vigil_exec_event *ev;
	struct path root, pwd, exe_path;
	struct mm_struct *mm;
	struct file *exe;
	unsigned long arg_start, args;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 off = 0, n, flags = 0;
	__u8 *data;

	s = scratch();
	if (!s)
		return 0;
	ev = (void *)s->raw;
	data = s->raw + sizeof(*ev);
	vigil_task_root_pwd(task, &root, &pwd);
	mm = BPF_CORE_READ(task, mm);
	exe = BPF_CORE_READ(mm, exe_file);
	if (exe)
		BPF_CORE_READ_INTO(&exe_path, exe, f_path);

	/* The binary prefix verdict needs the path root first; only built
	 * when that filter is on (a load-time constant). */
	if (vigil_filter_flags & VIGIL_FILTER_BINARY) {
		__u32 f = 0, len = 0;

		if (exe)
			len = vigil_path_root_first(data, SCRATCH_MASK, VIGIL_PATH_MAX, VIGIL_PATH_MAX,
						    &exe_path, &root, &f, 1, 2);
		vigil_path_key_fill(&s->key, data, SCRATCH_MASK, VIGIL_PATH_MAX - len, len);
	}
	vigil_filter_on_exec(tgid, &s->key);
	if (!send_exec || !vigil_filter_pass())
		return 0;

	ev->kind = VIGIL_PROCESS_EXEC;
	ev->ktime = bpf_ktime_get_boot_ns();
	vigil_task_fill(&ev->task, task);
	ev->task.tid = ctx->old_pid;
	ev->pad = 0;

	/* binary: mm->exe_file, the file the kernel actually mapped (a symlink
	 * named in execve is already resolved). */
	if (exe)
		off = vigil_path_leaf_first(data, SCRATCH_MASK, 0, VIGIL_PATH_MAX, &exe_path, &root,
					    &flags, VIGIL_EXEC_TRUNC_BINARY, VIGIL_EXEC_ERROR_BINARY);
	else
		flags |= VIGIL_EXEC_ERROR_BINARY;
	ev->binary_len = off;

	/* args: the argv strings exec just copied to the new stack. */
	args = vigil_exec_args_len(mm, &arg_start, &flags);
	if (args && bpf_probe_read_user(data + (off & SCRATCH_MASK), args, (void *)arg_start)) {
		flags |= VIGIL_EXEC_ERROR_ARGS;
		args = 0;
	}
	ev->args_len = args;
	off += args;

	n = vigil_path_leaf_first(data, SCRATCH_MASK, off, VIGIL_PATH_MAX, &pwd, &root, &flags,
				  VIGIL_EXEC_TRUNC_CWD, VIGIL_EXEC_ERROR_CWD);
	ev->cwd_len = n;
	off += n;

	off = vigil_exec_tail(data, SCRATCH_MASK, off, task, ev, &flags);

	ev->flags = flags;
	off = sizeof(*ev) + (off & SCRATCH_MASK);
	ev->size = off;
	vigil_output(&events, 0, s->raw, off);
	return 0;
}

/* --- failed execs ------------------------------------------------------- */

static __always_inline void remember_exec(__u64 filename, __u64 argv, __s32 dfd, __u32 at_flags, __u32 at)
{
	struct exec_call c = { .filename = filename, .argv = argv, .dfd = dfd, .at_flags = at_flags, .at = at };
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_update_elem(&exec_calls, &tid, &c, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_execve")
int enter_execve(struct trace_event_raw_sys_enter *ctx)
{
	if (send_exec_failed)
		remember_exec(ctx->args[0], ctx->args[1], -100 /* AT_FDCWD */, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int enter_execveat(struct trace_event_raw_sys_enter *ctx)
{
	if (send_exec_failed)
		remember_exec(ctx->args[1], ctx->args[2], (__s32)ctx->args[0], (__u32)ctx->args[4], 1);
	return 0;
}

/* argv walk of a failed exec (bpf_loop); state in map memory (see path.h). */
struct argv_state {
	__u64 argv;
	__u32 pos;
	__u32 len;
	__u32 flags;
	__u32 pad;
};

VIGIL_INDEXED_MAP(argv_states, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct argv_state);

struct argv_walk {
	__u8 *data;
	struct argv_state *st;
};

static long argv_step(__u64 i, void *ctx)
{
	struct argv_walk *w = ctx;
	struct argv_state *st = w->st;
	__u64 p = 0;
	__u32 room;
	long n;

	if (bpf_probe_read_user(&p, sizeof(p), (void *)(st->argv + i * 8))) {
		st->flags |= VIGIL_EXEC_ERROR_ARGS;
		return 1;
	}
	if (!p)
		return 1;
	room = VIGIL_ARGS_MAX - st->len;
	if (room == 0 || room > VIGIL_ARGS_MAX) {
		st->flags |= VIGIL_EXEC_TRUNC_ARGS;
		return 1;
	}
	n = bpf_probe_read_user_str(w->data + ((st->pos + st->len) & SCRATCH_MASK), room, (void *)p);
	if (n <= 0) {
		st->flags |= VIGIL_EXEC_ERROR_ARGS;
		return 1;
	}
	st->len += n;
	if (n == room) {
		/* Cut (or exactly filling the room, which counts as cut). */
		st->flags |= VIGIL_EXEC_TRUNC_ARGS;
		return 1;
	}
	if (i + 1 == VIGIL_ARGV_COUNT_MAX)
		st->flags |= VIGIL_EXEC_TRUNC_ARGS;
	return 0;
}

static __always_inline int exec_failed(long ret)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), zero = 0, off = 0, flags = 0, n;
	struct vigil_exec_failed_event *ev;
	struct process_scratch *s;
	struct argv_state *st;
	struct exec_call *c, call;
	struct path root, pwd;
	__u8 *data;
	long r;

	c = bpf_map_lookup_elem(&exec_calls, &tid);
	if (!c)
		return 0;
	call = *c;
	bpf_map_delete_elem(&exec_calls, &tid);
	if (ret >= 0 || !vigil_filter_pass())
		return 0;
	s = scratch();
	st = bpf_map_lookup_elem(&argv_states, &zero);
	if (!s || !st)
		return 0;
	ev = (void *)s->raw;
	data = s->raw + sizeof(*ev);

	ev->kind = VIGIL_PROCESS_EXEC_FAILED;
	ev->ktime = bpf_ktime_get_boot_ns();
	ev->ret = ret;
	ev->dfd = call.dfd;
	ev->at_flags = call.at_flags;
	ev->pad = 0;
	if (call.at)
		flags |= VIGIL_EXEC_AT;
	vigil_task_fill(&ev->task, task);

	/* filename, as given */
	r = bpf_probe_read_user_str(data, VIGIL_PATH_MAX, (void *)call.filename);
	if (r > 0) {
		off = r - 1;
		if (r == VIGIL_PATH_MAX)
			flags |= VIGIL_EXEC_TRUNC_BINARY;
	} else {
		flags |= VIGIL_EXEC_ERROR_BINARY;
	}
	ev->filename_len = off;

	/* argv, as given */
	st->argv = call.argv;
	st->pos = off;
	st->len = 0;
	st->flags = 0;
	if (call.argv) {
		struct argv_walk w = { .data = data, .st = st };

		bpf_loop(VIGIL_ARGV_COUNT_MAX, argv_step, &w, 0);
	}
	flags |= st->flags;
	n = st->len;
	ev->args_len = n;
	off += n;

	vigil_task_root_pwd(task, &root, &pwd);
	n = vigil_path_leaf_first(data, SCRATCH_MASK, off, VIGIL_PATH_MAX, &pwd, &root, &flags,
				  VIGIL_EXEC_TRUNC_CWD, VIGIL_EXEC_ERROR_CWD);
	ev->cwd_len = n;
	off += n;

	ev->flags = flags;
	off = sizeof(*ev) + (off & SCRATCH_MASK);
	ev->size = off;
	vigil_output(&events, 0, s->raw, off);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	return send_exec_failed ? exec_failed(ctx->ret) : 0;
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int exit_execveat(struct trace_event_raw_sys_exit *ctx)
{
	return send_exec_failed ? exec_failed(ctx->ret) : 0;
}

/* --- fork and exit ------------------------------------------------------ */

/* How every process record starts (process.h). */
struct record_head {
	__u32 kind;
	__u32 flags;
	__u64 ktime;
};

_Static_assert(__builtin_offsetof(struct vigil_fork_event, ktime) == __builtin_offsetof(struct record_head, ktime),
	       "fork record head");
_Static_assert(__builtin_offsetof(struct vigil_exit_event, ktime) == __builtin_offsetof(struct record_head, ktime),
	       "exit record head");

/* A record of size bytes reserved in the ring, its head filled (no flags, the
 * time now); NULL, the loss counted, when the ring is full. */
static __always_inline void *reserve_record(__u32 kind, __u64 size)
{
	struct record_head *h = vigil_reserve(&events, 0, size);

	if (h) {
		h->kind = kind;
		h->flags = 0;
		h->ktime = bpf_ktime_get_boot_ns();
	}
	return h;
}

SEC("raw_tp/sched_process_fork")
int handle_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	struct vigil_fork_event *ev;
	__u32 child_tgid = BPF_CORE_READ(child, tgid);

	/* A new thread joins its group: not a process. */
	if (BPF_CORE_READ(child, pid) != child_tgid)
		return 0;
	vigil_filter_on_fork(BPF_CORE_READ(parent, tgid), child_tgid);
	if (!send_fork || !vigil_filter_pass())
		return 0;
	ev = reserve_record(VIGIL_PROCESS_FORK, sizeof(*ev));
	if (!ev)
		return 0;
	ev->parent_tid = BPF_CORE_READ(parent, pid);
	ev->pad = 0;
	vigil_task_fill(&ev->task, child);
	vigil_submit(&events, ev);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int handle_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_exit_event *ev;
	__u64 id = bpf_get_current_pid_tgid();
	bool group_dead, pass;

	/* The last thread of the group: the tracepoint says so since 6.16;
	 * before, signal->live has already dropped to 0 for it (two threads
	 * exiting at once may then both see 0: user space drops the second). */
	if (bpf_core_field_exists(ctx->group_dead))
		group_dead = BPF_CORE_READ(ctx, group_dead);
	else
		group_dead = BPF_CORE_READ(task, signal, live.counter) == 0;
	if (!group_dead)
		return 0;
	pass = vigil_filter_pass();
	vigil_filter_on_exit(id >> 32);
	if (!send_exit || !pass)
		return 0;
	ev = reserve_record(VIGIL_PROCESS_EXIT, sizeof(*ev));
	if (!ev)
		return 0;
	ev->start_boottime = BPF_CORE_READ(task, group_leader, start_boottime);
	ev->parent_start_boottime = BPF_CORE_READ(task, real_parent, group_leader, start_boottime);
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ev->exit_code = vigil_task_exit_code(task);
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	vigil_submit(&events, ev);
	return 0;
}
