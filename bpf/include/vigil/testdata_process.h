/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Records of bpf/testdata/proc_lifecycle.bpf.c: the bare process lifecycle
 * (fork, exec, exit of whole thread groups) that test/process-cache-memory
 * feeds the process cache with, independent of the product sensor. */
#ifndef __VIGIL_TESTDATA_PROCESS_H
#define __VIGIL_TESTDATA_PROCESS_H

enum vigil_test_proc_kind {
	VIGIL_TEST_PROC_FORK = 1,
	VIGIL_TEST_PROC_EXEC = 2,
	VIGIL_TEST_PROC_EXIT = 3,
};

struct vigil_test_proc_event {
	__u32 kind;			/* enum vigil_test_proc_kind */
	__u32 pid;			/* thread group id (the child's, for a fork) */
	__u32 ppid;			/* real_parent's thread group id */
	__u32 exit_code;		/* task->exit_code, for an exit */
	__u64 ktime;			/* CLOCK_BOOTTIME ns */
	__u64 start_boottime;		/* the process's start */
	__u64 parent_start_boottime;	/* its parent's */
	__u64 cgroup_id;
	char comm[16];
};

#endif /* __VIGIL_TESTDATA_PROCESS_H */
