/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Process events: the records bpf/process.bpf.c (live) and
 * bpf/process_snapshot.bpf.c (processes running at start) send to user space.
 *
 * Every record starts with __u32 kind, __u32 flags. Exec and failed-exec
 * records are a fixed header followed by a variable-length data blob, so a
 * short command makes a short record; `size` is the whole record's length
 * (the snapshot iterator writes records back to back into one stream).
 *
 * Exec blob (struct vigil_exec_event), in this order:
 *   binary  binary_len bytes: the executable's path components, leaf first,
 *           each NUL-terminated ("echo\0bin\0usr\0" is /usr/bin/echo);
 *   args    args_len bytes: argv as the process has it (mm->arg_start..),
 *           each argument NUL-terminated; at most VIGIL_ARGS_MAX bytes, the
 *           last argument cut short and later ones missing when
 *           VIGIL_EXEC_TRUNC_ARGS is set;
 *   cwd     cwd_len bytes: the working directory, leaf first as binary;
 *   cgroup  cgroup_len bytes: the cgroup v2 path's kernfs names, leaf first,
 *           each NUL-terminated ("docker-<id>.scope\0system.slice\0");
 *   tty     tty_len bytes: the controlling terminal's name ("pts/3"), no
 *           NUL; 0 bytes when the process has none.
 *
 * Failed-exec blob (struct vigil_exec_failed_event):
 *   filename filename_len bytes: the path as given to execve (maybe
 *            relative), no NUL;
 *   args     args_len bytes: argv as given, NUL-terminated strings;
 *   cwd      cwd_len bytes: the caller's cwd, leaf first.
 *
 * Paths go leaf first because that is the order the kernel walk finds them
 * in (see vigil/path.h); user space reverses and joins them.
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
	/* Bytes of argv sent (exec and failed exec). */
	VIGIL_ARGS_MAX = 4096,
	/* Arguments read from a failed execve's argv array. */
	VIGIL_ARGV_COUNT_MAX = 1024,
	/* Bytes of a cgroup path (names with NULs) and levels walked. */
	VIGIL_CGROUP_PATH_MAX = 1024,
	VIGIL_CGROUP_DEPTH = 32,
	/* A tty's name (tty_struct.name). */
	VIGIL_TTY_MAX = 64,
	/* The largest exec blob: binary + args + cwd + cgroup + tty. */
	VIGIL_EXEC_DATA_MAX = 2 * VIGIL_PATH_MAX + VIGIL_ARGS_MAX + VIGIL_CGROUP_PATH_MAX + VIGIL_TTY_MAX,
};

/* The first __u32 of every process record says what follows. */
enum vigil_process_kind {
	VIGIL_PROCESS_EXEC = 1,		/* struct vigil_exec_event */
	VIGIL_PROCESS_EXIT = 2,		/* struct vigil_exit_event */
	VIGIL_PROCESS_FORK = 3,		/* struct vigil_fork_event */
	VIGIL_PROCESS_EXEC_FAILED = 4,	/* struct vigil_exec_failed_event */
};

/* vigil_exec_event.flags (and vigil_exec_failed_event.flags). */
enum vigil_exec_flags {
	/* The path needed more than VIGIL_PATH_MAX bytes or VIGIL_PATH_DEPTH steps:
	 * the components nearest the leaf are sent, the root side is missing. */
	VIGIL_EXEC_TRUNC_BINARY = 1 << 0,
	/* argv had more than VIGIL_ARGS_MAX bytes (or, for a failed exec, more
	 * than VIGIL_ARGV_COUNT_MAX arguments). */
	VIGIL_EXEC_TRUNC_ARGS = 1 << 1,
	VIGIL_EXEC_TRUNC_CWD = 1 << 2,
	/* No executable file, or reading a component failed. */
	VIGIL_EXEC_ERROR_BINARY = 1 << 3,
	/* argv could not be read (not resident): args_len is 0 or short. */
	VIGIL_EXEC_ERROR_ARGS = 1 << 4,
	VIGIL_EXEC_ERROR_CWD = 1 << 5,
	/* The cgroup path was deeper or longer than the bounds: leaf side only. */
	VIGIL_EXEC_TRUNC_CGROUP = 1 << 6,
	/* A record of the start-up snapshot (bpf/process_snapshot.bpf.c), not
	 * an exec: the process was running when Vigil started (Tetragon's
	 * "procFS" processes). ktime is then the process's start. */
	VIGIL_EXEC_SNAPSHOT = 1 << 7,
	/* A kernel thread (no mm: no binary, args or cwd). Snapshot only. */
	VIGIL_EXEC_KTHREAD = 1 << 8,
	/* Failed exec: the call was execveat (dfd and AT_* flags are meaningful). */
	VIGIL_EXEC_AT = 1 << 9,
};

/* What every record knows of the process it describes, read from its
 * task_struct. */
struct vigil_task_info {
	__u64 start_boottime;		/* process start (fork), CLOCK_BOOTTIME ns */
	__u64 parent_start_boottime;	/* the parent's, to tell a reused pid */
	__u64 cgroup_id;		/* cgroup v2 id (kernfs node id of dfl_cgrp) */
	__u64 cap_effective;		/* cred->cap_*: bit n = capability n */
	__u64 cap_permitted;
	__u64 cap_inheritable;
	__u32 pid;			/* thread group id */
	__u32 tid;			/* the thread */
	__u32 ppid;			/* real_parent's thread group id */
	__u32 uid;			/* real_cred: what /proc/<pid>/status shows */
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 auid;			/* loginuid; 4294967295 when unset */
	__u32 suid;			/* real_cred: saved and filesystem ids */
	__u32 sgid;
	__u32 fsuid;
	__u32 fsgid;
	__u32 securebits;		/* cred->securebits (SECBIT_*) */
	/* Namespace inode numbers (readlink /proc/<pid>/ns/<name>); 0 when
	 * the kernel has no such namespace (time < 5.6). pid is the task's
	 * active pid namespace (task_active_pid_ns, /proc/<pid>/ns/pid);
	 * pid_for_children is nsproxy's (/proc/<pid>/ns/pid_for_children). */
	__u32 ns_uts;
	__u32 ns_ipc;
	__u32 ns_mnt;
	__u32 ns_pid;
	__u32 ns_pid_for_children;
	__u32 ns_net;
	__u32 ns_time;
	__u32 ns_time_for_children;
	__u32 ns_cgroup;
	__u32 ns_user;			/* cred->user_ns */
	char comm[VIGIL_COMM_LEN];
};

/* A successful execve/execveat (sched:sched_process_exec), or a snapshot
 * record (VIGIL_EXEC_SNAPSHOT): this header, then the blob described above,
 * at offset sizeof(header). */
struct vigil_exec_event {
	__u32 kind;			/* VIGIL_PROCESS_EXEC */
	__u32 flags;			/* enum vigil_exec_flags */
	__u64 ktime;			/* when: CLOCK_BOOTTIME ns */
	__u32 size;			/* header + blob */
	__u16 binary_len;
	__u16 args_len;
	__u16 cwd_len;
	__u16 cgroup_len;
	__u16 tty_len;
	__u16 pad;
	struct vigil_task_info task;	/* task.tid: the thread that called exec (its old pid) */
};

/* execve/execveat that returned an error: the caller's process, as it stays. */
struct vigil_exec_failed_event {
	__u32 kind;			/* VIGIL_PROCESS_EXEC_FAILED */
	__u32 flags;			/* enum vigil_exec_flags */
	__u64 ktime;
	__u32 size;
	__s32 ret;			/* -errno */
	__s32 dfd;			/* execveat's dirfd (AT_FDCWD = -100 for execve) */
	__u32 at_flags;			/* execveat's flags (AT_EMPTY_PATH, ...) */
	__u16 filename_len;
	__u16 args_len;
	__u16 cwd_len;
	__u16 pad;
	struct vigil_task_info task;
};

/* A new process (sched:sched_process_fork of a child that is not a thread:
 * clone without CLONE_THREAD, fork, vfork). Thread creation is not reported.
 * task describes the child; it runs the parent's image until it execs. */
struct vigil_fork_event {
	__u32 kind;			/* VIGIL_PROCESS_FORK */
	__u32 flags;
	__u64 ktime;
	__u32 parent_tid;		/* the thread that forked */
	__u32 pad;
	struct vigil_task_info task;
};

/* The end of a thread group (sched:sched_process_exit of its last thread). */
struct vigil_exit_event {
	__u32 kind;			/* VIGIL_PROCESS_EXIT */
	__u32 flags;
	__u64 ktime;
	__u64 start_boottime;
	__u64 parent_start_boottime;
	__u32 pid;
	__u32 tid;			/* the last thread */
	__u32 ppid;
	/* Wait status as waitpid(2) would see it: (status << 8) for an exit,
	 * the signal number (| 0x80 when it dumped core) for a kill. */
	__u32 exit_code;
	char comm[VIGIL_COMM_LEN];
};

#endif /* __VIGIL_PROCESS_H */
