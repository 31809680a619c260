// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The process lifecycle, bare: one record per fork (new thread group), exec
 * and exit (the group's last thread), all in one ring so they arrive in the
 * order they happened. A test fixture for the process cache; the product
 * sensor is bpf/process.bpf.c. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/maps.h"
#include "vigil/ringbuf.h"
#include "vigil/testdata_process.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps the types in BTF for codegen (src/generated/testdata_process.ts). */
VIGIL_KEEP_TYPES(struct vigil_test_proc_event, enum vigil_test_proc_kind);

VIGIL_RING_MAP(events, 8 * 1024 * 1024);

static __always_inline void emit(__u32 kind, struct task_struct *task, __u32 exit_code)
{
	struct vigil_test_proc_event *ev = vigil_reserve(&events, 0, sizeof(*ev));
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);

	if (!ev)
		return;
	ev->kind = kind;
	ev->pid = BPF_CORE_READ(task, tgid);
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ev->exit_code = exit_code;
	ev->ktime = bpf_ktime_get_boot_ns();
	ev->start_boottime = BPF_CORE_READ(leader, start_boottime);
	ev->parent_start_boottime = BPF_CORE_READ(task, real_parent, group_leader, start_boottime);
	ev->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	BPF_CORE_READ_STR_INTO(&ev->comm, task, comm);
	vigil_submit(&events, ev);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(lifecycle_fork, struct task_struct *parent, struct task_struct *child)
{
	/* A new thread is not a new process. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	emit(VIGIL_TEST_PROC_FORK, child, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(lifecycle_exec, struct task_struct *task)
{
	emit(VIGIL_TEST_PROC_EXEC, task, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(lifecycle_exit, struct task_struct *task)
{
	/* do_exit has counted this thread out of signal->live already: 0 means
	 * the whole group is gone. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	emit(VIGIL_TEST_PROC_EXIT, task, BPF_CORE_READ(task, exit_code));
	return 0;
}
