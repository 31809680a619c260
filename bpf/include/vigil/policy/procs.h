// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The process table (map procs): an entry built for the current task, and
 * found or made on first use. The programs that keep it (policy_proc_*) are
 * in policy.bpf.c.
 *
 * Part of bpf/policy.bpf.c, which includes it once, after the headers it
 * builds on (the order is there). Not for other objects: it defines engine
 * maps, functions or state that an object including it would carry too. */
#ifndef __VIGIL_POLICY_PROCS_H
#define __VIGIL_POLICY_PROCS_H

/* The current task's process entry built in e->proc (binary from mm->exe_file). */
__noinline int vg_proc_build(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct evalbuf *e = evalbuf();
	struct vigil_policy_proc *p;
	struct task_struct *leader;
	struct file *exe;
	__u32 len, n;

	if (!e)
		return 0;
	p = &e->proc;
	leader = BPF_CORE_READ(task, group_leader);
	exe = BPF_CORE_READ(task, mm, exe_file);
	__builtin_memset(p, 0, sizeof(*p));
	p->start_boottime = BPF_CORE_READ(leader, start_boottime);
	p->ppid = BPF_CORE_READ(task, real_parent, tgid);
	task_ns(task, p->ns);
	p->caps[VIGIL_POLICY_CAP_EFFECTIVE] = task_caps(task, VIGIL_POLICY_CAP_EFFECTIVE);
	p->caps[VIGIL_POLICY_CAP_PERMITTED] = task_caps(task, VIGIL_POLICY_CAP_PERMITTED);
	p->caps[VIGIL_POLICY_CAP_INHERITABLE] = task_caps(task, VIGIL_POLICY_CAP_INHERITABLE);
	if (!exe)
		return 0;
	len = vg_walk((__u64)exe, WALK_FILE);
	if (e->st.walk_flags & VIGIL_POLICY_ARG_ERROR)
		return 0;
	if (len > VIGIL_POLICY_ARG_MAX - 1)
		return 0;
	n = len;
	if (n > VIGIL_POLICY_STR_MAX - 1) {
		n = VIGIL_POLICY_STR_MAX - 1;
		p->bin_len = VIGIL_POLICY_STR_MAX;
	} else {
		p->bin_len = n;
	}
	barrier_var(n);
	bpf_probe_read_kernel(p->bin, n & STR_MASK, e->work + ((DIR_END - len) & WORK_MASK));
	return 0;
}

/* The current task's entry in the process table, made on first use. */
static __always_inline struct vigil_policy_proc *proc_of(struct evalbuf *e, struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct vigil_policy_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (p)
		return p;
	vg_proc_build();
	bpf_map_update_elem(&procs, &tgid, &e->proc, BPF_NOEXIST);
	p = bpf_map_lookup_elem(&procs, &tgid);
	return p ? p : &e->proc;
}

#endif /* __VIGIL_POLICY_PROCS_H */
