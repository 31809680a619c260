/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Process events: the records the process sensors send to user space.
 *
 * A record is a fixed header followed by a variable-length data blob, so a
 * short command makes a short record. The blob holds, in this order:
 *
 *   binary  binary_len bytes: the executable's path components, leaf first,
 *           each NUL-terminated ("echo\0bin\0usr\0" is /usr/bin/echo);
 *   args    args_len bytes: argv as the process has it (mm->arg_start..),
 *           each argument NUL-terminated; the last one may be cut short
 *           when VIGIL_EXEC_TRUNC_ARGS is set;
 *   cwd     cwd_len bytes: the working directory's components, leaf first,
 *           as for binary.
 *
 * Components are sent leaf first because that is the order the kernel walk
 * finds them in; user space reverses and joins them (a d_path without
 * bpf_d_path, which tracepoints may not call).
 */
#ifndef __VIGIL_PROCESS_H
#define __VIGIL_PROCESS_H

enum vigil_process_limits {
	VIGIL_COMM_LEN = 16,
	/* One path component, without its NUL (NAME_MAX). */
	VIGIL_NAME_MAX = 255,
	/* Bytes of one path in the blob, all components with their NULs. */
	VIGIL_PATH_MAX = 4096,
	/* Steps of one path walk. A step checks for the root, then moves up one
	 * dentry (sending its name) or across one mount: a path of n components
	 * under m mount points needs n + m + 1 steps. */
	VIGIL_PATH_DEPTH = 128,
	/* Bytes of argv sent. */
	VIGIL_ARGS_MAX = 4096,
	/* The largest blob: binary + args + cwd. */
	VIGIL_EXEC_DATA_MAX = 2 * VIGIL_PATH_MAX + VIGIL_ARGS_MAX,
};

/* The first __u32 of every process record says what follows. */
enum vigil_process_kind {
	VIGIL_PROCESS_EXEC = 1,
};

/* vigil_exec_event.flags. */
enum vigil_exec_flags {
	/* The path needed more than VIGIL_PATH_MAX bytes or VIGIL_PATH_DEPTH steps:
	 * the components nearest the leaf are sent, the root side is missing. */
	VIGIL_EXEC_TRUNC_BINARY = 1 << 0,
	/* argv had more than VIGIL_ARGS_MAX bytes. */
	VIGIL_EXEC_TRUNC_ARGS = 1 << 1,
	VIGIL_EXEC_TRUNC_CWD = 1 << 2,
	/* No executable file, or reading a component failed. */
	VIGIL_EXEC_ERROR_BINARY = 1 << 3,
	/* argv could not be read (not resident): args_len is 0. */
	VIGIL_EXEC_ERROR_ARGS = 1 << 4,
	VIGIL_EXEC_ERROR_CWD = 1 << 5,
};

/* A successful execve/execveat (sched:sched_process_exec), sent as this
 * header and then the blob described above, at offset sizeof(header). */
struct vigil_exec_event {
	__u32 kind;			/* VIGIL_PROCESS_EXEC */
	__u32 flags;			/* enum vigil_exec_flags */
	__u64 ktime;			/* when: CLOCK_BOOTTIME ns */
	__u64 start_boottime;		/* process start (its fork), CLOCK_BOOTTIME ns */
	__u64 parent_start_boottime;	/* the parent process's (group leader's), to tell a reused pid */
	__u32 pid;			/* thread group id */
	__u32 tid;			/* thread that called exec, before it took over the group */
	__u32 ppid;			/* real_parent's thread group id */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 auid;			/* loginuid; 4294967295 when unset */
	char comm[VIGIL_COMM_LEN];
	__u16 binary_len;
	__u16 args_len;
	__u16 cwd_len;
	__u16 pad;
};

#endif /* __VIGIL_PROCESS_H */
