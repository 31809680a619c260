// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* What the engine reads of the kernel: the current task's files, root,
 * namespaces and capabilities, a socket, and the path walk (vg_walk).
 *
 * Part of bpf/policy.bpf.c, which includes it once, after the headers it
 * builds on (the order is there). Not for other objects: it defines engine
 * maps, functions or state that an object including it would carry too. */
#ifndef __VIGIL_POLICY_KERNEL_H
#define __VIGIL_POLICY_KERNEL_H

/* The current task's file at fd. Its task, files and fd table are read
 * through BTF (plain loads the kernel guards, no helper call each). */
static __always_inline struct file *fd_file(long fd)
{
	struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;
	struct file *f = NULL;

	if (fd < 0 || !fdt || (unsigned long)fd >= fdt->max_fds)
		return NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]))
		return NULL;
	return f;
}

/* The current task's root (chroot), read through BTF. */
static __always_inline void current_root(struct path *root)
{
	struct fs_struct *fs = bpf_get_current_task_btf()->fs;

	root->dentry = fs->root.dentry;
	root->mnt = fs->root.mnt;
}

static __always_inline void sock_fill(struct vigil_policy_sock *o, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	o->family = family;
	o->type = BPF_CORE_READ(sk, sk_type);
	o->protocol = BPF_CORE_READ(sk, sk_protocol);
	o->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	o->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	o->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	o->pad = 0;
	__builtin_memset(o->saddr, 0, sizeof(o->saddr));
	__builtin_memset(o->daddr, 0, sizeof(o->daddr));
	if (family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)o->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)o->daddr, sk, __sk_common.skc_daddr);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(o->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(o->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

static __always_inline void task_ns(struct task_struct *task, __u32 *ns)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);

	if (nsp) {
		ns[VIGIL_POLICY_NS_UTS] = BPF_CORE_READ(nsp, uts_ns, ns.inum);
		ns[VIGIL_POLICY_NS_IPC] = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
		ns[VIGIL_POLICY_NS_MNT] = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
		ns[VIGIL_POLICY_NS_PID_FOR_CHILDREN] = BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
		ns[VIGIL_POLICY_NS_NET] = BPF_CORE_READ(nsp, net_ns, ns.inum);
		if (bpf_core_field_exists(nsp->time_ns)) {
			ns[VIGIL_POLICY_NS_TIME] = BPF_CORE_READ(nsp, time_ns, ns.inum);
			ns[VIGIL_POLICY_NS_TIME_FOR_CHILDREN] = BPF_CORE_READ(nsp, time_ns_for_children, ns.inum);
		}
		ns[VIGIL_POLICY_NS_CGROUP] = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	}
	ns[VIGIL_POLICY_NS_PID] = vigil_task_pid_ns(task);
	ns[VIGIL_POLICY_NS_USER] = BPF_CORE_READ(task, real_cred, user_ns, ns.inum);
}

static __always_inline __u64 task_caps(struct task_struct *task, __u32 set)
{
	const struct cred *cred = BPF_CORE_READ(task, real_cred);
	kernel_cap_t c = {};

	if (set == VIGIL_POLICY_CAP_EFFECTIVE)
		BPF_CORE_READ_INTO(&c, cred, cap_effective);
	else if (set == VIGIL_POLICY_CAP_PERMITTED)
		BPF_CORE_READ_INTO(&c, cred, cap_permitted);
	else
		BPF_CORE_READ_INTO(&c, cred, cap_inheritable);
	return *(__u64 *)&c;
}

static __always_inline __u32 task_nspid(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level;
	__u32 nr = 0;

	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	bpf_probe_read_kernel(&nr, sizeof(nr), (void *)pid + bpf_core_field_offset(struct pid, numbers) +
			      (level & 63) * bpf_core_type_size(struct upid) +
			      bpf_core_field_offset(struct upid, nr));
	return nr;
}

static __always_inline bool fd_is_socket(long fd, __u64 families, __u16 protocol)
{
	struct file *f = fd_file(fd);
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!f)
		return false;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return false;
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return false;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (families && (family >= 64 || !(families & (1ULL << family))))
		return false;
	return !protocol || BPF_CORE_READ(sk, sk_protocol) == protocol - 1;
}

/* What vg_walk walks. */
enum walk_kind {
	WALK_FILE = 0,		/* a struct file's f_path */
	WALK_PATH = 1,		/* a struct path */
	WALK_CWD = 2,		/* the task's working directory */
};

/* A path, root first, ending at e->work[DIR_END - 1]: returns its length, and
 * the walk's VIGIL_POLICY_ARG_TRUNC/ERROR bits in e->st.walk_flags. The path
 * is d_path's: through mounts, up to the task's root.
 *
 * Global (not static): the verifier checks it once, whatever the number of
 * places that walk a path. */
__noinline int vg_walk(__u64 ptr, __u32 kind)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct evalbuf *e = evalbuf();
	struct path root, fpath;
	__u32 flags = 0, len;

	if (!e)
		return 0;
	vigil_task_root_pwd(task, &root, kind == WALK_CWD ? &fpath : NULL);
	if (kind == WALK_FILE)
		BPF_CORE_READ_INTO(&fpath, (struct file *)ptr, f_path);
	else if (kind == WALK_PATH)
		bpf_probe_read_kernel(&fpath, sizeof(fpath), (void *)ptr);
	len = vigil_path_root_first(e->work, WORK_MASK, DIR_END, VIGIL_POLICY_ARG_MAX - 1, &fpath, &root,
				    &flags, VIGIL_POLICY_ARG_TRUNC, VIGIL_POLICY_ARG_ERROR);
	e->st.walk_flags = flags;
	return len;
}

#endif /* __VIGIL_POLICY_KERNEL_H */
