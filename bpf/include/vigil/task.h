/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reading a process's description from its task_struct: ids, credentials,
 * capabilities, namespaces, cgroup (id and path), tty. Shared by the live
 * process sensor (bpf/process.bpf.c) and the start-up snapshot
 * (bpf/process_snapshot.bpf.c), so both describe a process alike.
 * CO-RE reads only; every read works on any task, not only current.
 */
#ifndef __VIGIL_TASK_H
#define __VIGIL_TASK_H

#include "vigil/maps.h"
#include "vigil/process.h"

/* kernfs_node.parent became __parent in 6.15 (RCU-protected). */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

/* signal_struct.flags: the group is exiting (exit_group or a fatal signal). */
#define VIGIL_SIGNAL_GROUP_EXIT 0x00000004

static __always_inline struct kernfs_node *vigil_kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

/* task_active_pid_ns(task): the namespace of the task's own pid, at its level. */
static __always_inline __u32 vigil_task_pid_ns(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	struct pid_namespace *ns = NULL;
	unsigned int level;

	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	bpf_probe_read_kernel(&ns, sizeof(ns), (void *)pid +
			      bpf_core_field_offset(struct pid, numbers) +
			      (level & 63) * bpf_core_type_size(struct upid) +
			      bpf_core_field_offset(struct upid, ns));
	if (!ns)
		return 0;
	return BPF_CORE_READ(ns, ns.inum);
}

/* Fills ti from task (any task; the caller sets ti->tid when it knows better). */
static __always_inline void vigil_task_fill(struct vigil_task_info *ti, struct task_struct *task)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	const struct cred *cred = BPF_CORE_READ(task, real_cred);
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);

	ti->start_boottime = BPF_CORE_READ(leader, start_boottime);
	ti->parent_start_boottime = BPF_CORE_READ(parent, group_leader, start_boottime);
	ti->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	BPF_CORE_READ_INTO(&ti->cap_effective, cred, cap_effective);
	BPF_CORE_READ_INTO(&ti->cap_permitted, cred, cap_permitted);
	BPF_CORE_READ_INTO(&ti->cap_inheritable, cred, cap_inheritable);
	ti->pid = BPF_CORE_READ(task, tgid);
	ti->tid = BPF_CORE_READ(task, pid);
	ti->ppid = BPF_CORE_READ(parent, tgid);
	ti->uid = BPF_CORE_READ(cred, uid.val);
	ti->gid = BPF_CORE_READ(cred, gid.val);
	ti->euid = BPF_CORE_READ(cred, euid.val);
	ti->egid = BPF_CORE_READ(cred, egid.val);
	ti->suid = BPF_CORE_READ(cred, suid.val);
	ti->sgid = BPF_CORE_READ(cred, sgid.val);
	ti->fsuid = BPF_CORE_READ(cred, fsuid.val);
	ti->fsgid = BPF_CORE_READ(cred, fsgid.val);
	ti->securebits = BPF_CORE_READ(cred, securebits);
	if (bpf_core_field_exists(task->loginuid))
		ti->auid = BPF_CORE_READ(task, loginuid.val);
	else
		ti->auid = (__u32)-1;
	if (nsp) {
		ti->ns_uts = BPF_CORE_READ(nsp, uts_ns, ns.inum);
		ti->ns_ipc = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
		ti->ns_mnt = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
		ti->ns_pid_for_children = BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
		ti->ns_net = BPF_CORE_READ(nsp, net_ns, ns.inum);
		if (bpf_core_field_exists(nsp->time_ns)) {
			ti->ns_time = BPF_CORE_READ(nsp, time_ns, ns.inum);
			ti->ns_time_for_children = BPF_CORE_READ(nsp, time_ns_for_children, ns.inum);
		} else {
			ti->ns_time = 0;
			ti->ns_time_for_children = 0;
		}
		ti->ns_cgroup = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	} else {
		/* An exiting task has dropped its nsproxy. */
		ti->ns_uts = ti->ns_ipc = ti->ns_mnt = ti->ns_pid_for_children = 0;
		ti->ns_net = ti->ns_time = ti->ns_time_for_children = ti->ns_cgroup = 0;
	}
	ti->ns_pid = vigil_task_pid_ns(task);
	ti->ns_user = BPF_CORE_READ(cred, user_ns, ns.inum);
	BPF_CORE_READ_STR_INTO(&ti->comm, task, comm);
}

/* The cgroup v2 path walk (bpf_loop), state in map memory for the reason
 * given in vigil/path.h. */
struct __vigil_cgroup_walk_state {
	struct kernfs_node *kn;
	__u32 pos;
	__u32 len;
	__u32 done;
	__u32 pad;
};

VIGIL_INDEXED_MAP(vigil_cgroup_walks, BPF_MAP_TYPE_PERCPU_ARRAY, 1,
		  struct __vigil_cgroup_walk_state);

struct __vigil_cgroup_walk {
	__u8 *buf;
	struct __vigil_cgroup_walk_state *st;
	__u64 mask;
};

static long vigil_cgroup_step(__u64 index, void *ctx)
{
	struct __vigil_cgroup_walk *w = ctx;
	struct __vigil_cgroup_walk_state *st = w->st;
	struct kernfs_node *kn = st->kn, *parent;
	long n;

	if (!kn)
		goto done;
	parent = vigil_kn_parent(kn);
	if (!parent)		/* the root: its name is "" */
		goto done;
	n = bpf_probe_read_kernel_str(w->buf + ((st->pos + st->len) & w->mask),
				      VIGIL_NAME_MAX + 1, BPF_CORE_READ(kn, name));
	if (n <= 0 || st->len + n > VIGIL_CGROUP_PATH_MAX)
		return 1;
	st->len += n;
	st->kn = parent;
	return 0;
done:
	st->done = 1;
	return 1;
}

/*
 * The task's cgroup v2 path as kernfs names, leaf first, NUL-terminated, at
 * buf[start...] (buf: mask + 1 + VIGIL_NAME_MAX + 1 bytes, as for path.h).
 * Returns the bytes written; ORs trunc_flag into *flags when cut.
 */
static __always_inline __u32 vigil_task_cgroup_path(__u8 *buf, __u64 mask, __u32 start,
						    struct task_struct *task, __u32 *flags,
						    __u32 trunc_flag)
{
	struct __vigil_cgroup_walk w = { .buf = buf, .mask = mask };
	struct __vigil_cgroup_walk_state *st;
	__u32 zero = 0;

	st = bpf_map_lookup_elem(&vigil_cgroup_walks, &zero);
	if (!st)
		return 0;
	w.st = st;
	st->kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	st->pos = start;
	st->len = 0;
	st->done = 0;
	bpf_loop(VIGIL_CGROUP_DEPTH, vigil_cgroup_step, &w, 0);
	if (!st->done)
		*flags |= trunc_flag;
	return st->len;
}

/* The controlling terminal's name ("pts/3") at buf[off], no NUL; 0 when none. */
static __always_inline __u32 vigil_task_tty(__u8 *buf, struct task_struct *task)
{
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	long n;

	if (!tty)
		return 0;
	n = bpf_probe_read_kernel_str(buf, VIGIL_TTY_MAX, &tty->name);
	return n > 1 ? n - 1 : 0;
}

/* The length of mm's argument strings (arg_start .. arg_end), at most
 * VIGIL_ARGS_MAX (VIGIL_EXEC_TRUNC_ARGS ORed into *flags past it); *start is
 * where they are in user memory. */
static __always_inline unsigned long vigil_exec_args_len(struct mm_struct *mm, unsigned long *start,
							 __u32 *flags)
{
	unsigned long arg_start = BPF_CORE_READ(mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(mm, arg_end);
	unsigned long args = arg_end > arg_start ? arg_end - arg_start : 0;

	if (args > VIGIL_ARGS_MAX) {
		args = VIGIL_ARGS_MAX;
		*flags |= VIGIL_EXEC_TRUNC_ARGS;
	}
	*start = arg_start;
	return args;
}

/* The last fields of an exec record, at buf[off...]: the task's cgroup path
 * and its terminal's name. Returns off past them. */
static __always_inline __u32 vigil_exec_tail(__u8 *buf, __u64 mask, __u32 off, struct task_struct *task,
					     struct vigil_exec_event *ev, __u32 *flags)
{
	__u32 n = vigil_task_cgroup_path(buf, mask, off, task, flags, VIGIL_EXEC_TRUNC_CGROUP);

	ev->cgroup_len = n;
	off += n;
	n = vigil_task_tty(buf + (off & mask), task);
	ev->tty_len = n;
	return off + n;
}

/* The exit status of the group as wait(2) reports it (see vigil_exit_event). */
static __always_inline __u32 vigil_task_exit_code(struct task_struct *task)
{
	unsigned int sflags = BPF_CORE_READ(task, signal, flags);

	if (sflags & VIGIL_SIGNAL_GROUP_EXIT)
		return BPF_CORE_READ(task, signal, group_exit_code);
	return BPF_CORE_READ(task, exit_code);
}

#endif /* __VIGIL_TASK_H */
