// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Exercises bpf/include/vigil/filter.h: getppid(2) is an event that passes or
 * not; fork/exec/exit keep vigil_tracked as the process sensor does. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/maps.h"
#include "vigil/filter.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps the header's enums in BTF for codegen (src/generated/filter.ts). */
VIGIL_KEEP_TYPES(enum vigil_filter_flag, enum vigil_filter_limits, enum vigil_filter_count);

VIGIL_INDEXED_MAP(path_scratch, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct vigil_path_key);

/* The last path a passing openat named, for the path filter test. */
__u64 path_passed = 0;

SEC("tracepoint/syscalls/sys_enter_getppid")
int filter_getppid(void *ctx)
{
	vigil_filter_pass();
	return 0;
}

/* Absolute paths only (the file sensor resolves relative ones). */
SEC("tracepoint/syscalls/sys_enter_openat")
int filter_openat(struct trace_event_raw_sys_enter *ctx)
{
	struct vigil_path_key *k;
	__u32 zero = 0;

	if (!vigil_filter_task_pass())
		return 0;
	k = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!k)
		return 0;
	__builtin_memset(k->path, 0, sizeof(k->path));
	if (bpf_probe_read_user_str(k->path, sizeof(k->path), (void *)ctx->args[1]) <= 0)
		return 0;
	if (vigil_filter_path_pass(k))
		__sync_fetch_and_add(&path_passed, 1);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(filter_fork, struct task_struct *parent, struct task_struct *child)
{
	vigil_filter_on_fork(parent->tgid, child->tgid);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int filter_exit(void *ctx)
{
	vigil_filter_on_thread_exit();
	return 0;
}
