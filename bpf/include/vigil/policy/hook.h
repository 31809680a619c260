// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Judging one hook at its entry (vg_entry) or its exit (vg_leave), and the
 * programs' common start (begin, run_hook, run_list).
 *
 * Part of bpf/policy.bpf.c, which includes it once, after the headers it
 * builds on (the order is there). Not for other objects: it defines engine
 * maps, functions or state that an object including it would carry too. */
#ifndef __VIGIL_POLICY_HOOK_H
#define __VIGIL_POLICY_HOOK_H

static __always_inline void header(struct run *r, __u32 hook_id)
{
	struct vigil_policy_event *ev = &r->s->ev;
	struct task_struct *task = r->task;
	__u64 id = bpf_get_current_pid_tgid(), ug = bpf_get_current_uid_gid();

	ev->kind = VIGIL_POLICY_EVENT;
	ev->hook = hook_id;
	ev->policy = r->h->policy;
	ev->selector = 0;
	ev->ktime = bpf_ktime_get_boot_ns();
	ev->start_boottime = BPF_CORE_READ(task, group_leader, start_boottime);
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->ret = 0;
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->uid = (__u32)ug;
	ev->gid = ug >> 32;
	ev->kernel_stack = -1;
	ev->user_stack = -1;
	ev->actions = 0;
	ev->signal = 0;
	ev->flags = 0;
	ev->data_len = 0;
	ev->nr = -1;
	ev->nargs = r->h->nargs;
	ev->kstack_off = 0;
	ev->pad = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ev->args[VIGIL_POLICY_RET_SLOT].type = VIGIL_POLICY_ARG_NONE;
	ev->args[VIGIL_POLICY_RET_SLOT].flags = 0;
	ev->args[VIGIL_POLICY_RET_SLOT].value = 0;
}

/* 1 when the current hook (e->st.hook_id) is a scoped policy's and the task
 * runs outside its pods' cgroups: not this policy's event (nothing is
 * captured, counted or done). One hash lookup, none for a policy that is not
 * scoped. Global, its key in map memory (evalbuf): the callers' frames do not
 * grow (vg_leave's must stay at 96 bytes, see capture_all). */
__noinline int vg_out_of_scope(void)
{
	struct evalbuf *e = evalbuf();
	struct vigil_policy_hook *h;

	if (!e)
		return 1;
	h = bpf_map_lookup_elem(&hooks, &e->st.hook_id);
	if (!h || !(h->flags & VIGIL_POLICY_HOOK_SCOPED))
		return 0;
	e->scope.policy = h->policy;
	e->scope.pad = 0;
	e->scope.cgroup = bpf_get_current_cgroup_id();
	return bpf_map_lookup_elem(&scope_cgroups, &e->scope) == NULL;
}

/* Before any capture: true, and the event counted as evaluated, when the
 * process pass (the selectors' process filters) or the prefilter (when
 * asked, and the hook has one) rules every selector out. */
static __always_inline bool ruled_out(struct run *r, bool prefilter, __s64 ret)
{
	if (((r->h->flags & VIGIL_POLICY_HOOK_PROC_FILTERS) && vg_judge(PHASE_PROCESS) == -1) ||
	    (prefilter && r->h->prefilter && !vg_prefilter(ret))) {
		count(r->h->policy, VIGIL_POLICY_C_EVALUATED);
		return true;
	}
	return false;
}

/* The record's header and every argument at the entry (plain bounded loop
 * around global calls: a bpf_loop callback would cost a call frame). nargs
 * is read each step, not kept: a local kept across the calls takes a stack
 * slot, and vg_leave's frame (96 bytes) would round up to 128, which puts
 * policy_sys_exit's deepest chain past the 512 bytes 6.1 allows. */
static __always_inline void capture_all(struct run *r)
{
	header(r, r->hook_id);
	for (__u32 i = 0; i < VIGIL_POLICY_MAX_ARGS; i++) {
		if (i < r->h->nargs)
			vg_capture(i, 0);
		else
			r->s->ev.args[i].type = VIGIL_POLICY_ARG_NONE;
	}
}

/* The return value in the record and in its slot. */
static __always_inline void set_ret(struct run *r, __s64 ret)
{
	r->s->ev.ret = ret;
	r->s->ev.flags |= VIGIL_POLICY_EV_RET;
	r->s->ev.args[VIGIL_POLICY_RET_SLOT].type = VIGIL_POLICY_ARG_S64;
	r->s->ev.args[VIGIL_POLICY_RET_SLOT].flags = 0;
	r->s->ev.args[VIGIL_POLICY_RET_SLOT].value = ret;
}

/* 3. All filters; the first matching selector acts. An enum finish. */
static __always_inline int judge_and_act(struct run *r)
{
	__s32 matched;

	count(r->h->policy, VIGIL_POLICY_C_EVALUATED);
	matched = vg_judge(PHASE_FULL);
	if (matched == -1)
		return FINISH_NONE;
	return vg_act(matched);
}

/* The current hook at its entry (e->st: context, source, hook): judged
 * there, or captured and stashed for its exit. An enum finish. */
__noinline int vg_entry(void)
{
	struct run r = {};
	struct stash_key key = {};
	long err;

	if (!run_load(&r) || vg_out_of_scope())
		return FINISH_NONE;
	/* 0. The attachment's own conditions: not this hook's event otherwise. */
	if (r.h->nconds && !vg_conds(0, 0))
		return FINISH_NONE;
	/* 1. Process filters: a task no selector can match costs no capture.
	 * The file's name or first component rules every selector out: no
	 * walk (a hook judged at exit has its file there). */
	if (ruled_out(&r, !(r.h->flags & VIGIL_POLICY_HOOK_AT_EXIT), 0))
		return FINISH_NONE;
	/* 2. Capture. */
	capture_all(&r);
	if (r.h->flags & VIGIL_POLICY_HOOK_RET_AT_ENTRY)
		set_ret(&r, read_word(r.ctx, &r.h->ret, r.e->st.ret));
	if (r.h->flags & VIGIL_POLICY_HOOK_AT_EXIT) {
		if (vg_judge(PHASE_ENTRY) == -1) {
			count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
			return FINISH_NONE;
		}
		if (r.source == VIGIL_POLICY_SRC_TRACEPOINT) {
			__s64 id = 0;

			/* The syscall number pairs the entry with its exit. */
			bpf_probe_read_kernel(&id, sizeof(id), r.ctx + 8);
			r.s->ev.nr = (__s32)id;
		}
		key.tid = r.s->ev.tid;
		key.hook = r.hook_id;
		if (r.s->ev.data_len <= STASH_SMALL_DATA)
			err = bpf_map_update_elem(&stash_small, &key, r.s, BPF_ANY);
		else
			err = bpf_map_update_elem(&stash_large, &key, r.s, BPF_ANY);
		if (err) {
			count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
			count(r.h->policy, VIGIL_POLICY_C_LOST);
		}
		return FINISH_NONE;
	}
	return judge_and_act(&r);
}

/* The exit of a hook judged at exit: the stashed entry, the return value.
 * nr pairs a syscall exit with its entry (-1: any). An enum finish. */
__noinline int vg_leave(__s64 ret, __s32 nr)
{
	struct run r = {};
	struct stash_key key = {};
	struct stash_small *sm;
	struct scratch *lg;

	if (!run_load(&r) || vg_out_of_scope())
		return FINISH_NONE;
	if (r.h->flags & VIGIL_POLICY_HOOK_EXIT_ONLY) {
		/* Nothing was read at the entry: the conditions on the result, the
		 * process filters, then the record is built here. */
		if (r.h->nconds && !vg_conds(1, ret))
			return FINISH_NONE;
		if (ruled_out(&r, true, ret))
			return FINISH_NONE;
		r.e->st.ret = ret;
		capture_all(&r);
		r.s->ev.nr = nr;
		goto judge;
	}
	key.tid = (__u32)bpf_get_current_pid_tgid();
	key.hook = r.hook_id;
	sm = bpf_map_lookup_elem(&stash_small, &key);
	if (sm) {
		bpf_probe_read_kernel(r.s, sizeof(*sm), sm);
		bpf_map_delete_elem(&stash_small, &key);
	} else {
		lg = bpf_map_lookup_elem(&stash_large, &key);
		if (!lg)
			return FINISH_NONE;
		bpf_probe_read_kernel(r.s, sizeof(*lg), lg);
		bpf_map_delete_elem(&stash_large, &key);
	}
	/* A stale entry (its exit was missed) is dropped. */
	if (r.s->ev.nr != nr)
		return FINISH_NONE;
	if (r.h->nconds && !vg_conds(1, ret))
		return FINISH_NONE;
judge:
	/* The arguments read at the exit see the syscall's own result (an fd). */
	r.s->ev.ret = ret;
	for (__u32 i = 0; i < VIGIL_POLICY_MAX_ARGS; i++) {
		if (i < r.h->nargs)
			vg_capture(i, 1);
	}
	if ((r.h->flags & VIGIL_POLICY_HOOK_RET_ERR) && ret > 0)
		ret = 0;
	set_ret(&r, ret);
	return judge_and_act(&r);
}

/* Records the program's context and source for the global functions. */
static __always_inline struct evalbuf *begin(void *ctx, __u32 source)
{
	struct evalbuf *e = evalbuf();

	if (!e)
		return NULL;
	e->st.ctx = (__u64)ctx;
	e->st.source = source;
	e->st.has_override = 0;
	e->st.override = 0;
	e->st.ret = 0;
	return e;
}

static __always_inline void finish(void *ctx, int what)
{
	struct scratch *s;

	if (what != FINISH_USER_STACK_POST)
		return;
	s = scratch();
	if (!s)
		return;
	s->ev.user_stack = bpf_get_stackid(ctx, &user_stacks, BPF_F_REUSE_STACKID | BPF_F_USER_STACK);
	vg_post();
}

/* One hook (hook_id) of the program: entry or exit. */
static __always_inline void run_hook(void *ctx, __u32 hook_id, bool exit, __s64 ret, __s32 nr)
{
	struct evalbuf *e = evalbuf();

	if (!e)
		return;
	e->st.hook_id = hook_id;
	finish(ctx, exit ? vg_leave(ret, nr) : vg_entry());
}

/* The hooks sharing one tracepoint attachment, one after the other (a plain
 * bounded loop around the global calls: a bpf_loop callback would cost a
 * call frame, and the verifier allows eight). rec is the record the hooks
 * read (the tracepoint's, or one built from a raw tracepoint's registers);
 * ctx the program's context. */
static __always_inline void run_list(void *ctx, void *rec, __u32 slot, bool exit, __s64 ret, __s32 nr)
{
	struct vigil_policy_tp_hooks *l;
	__s64 id = -1;
	__u32 hook_id;
	__s32 want;

	/* raw_syscalls:sys_enter/sys_exit: `long id` at offset 8. Hooks on a
	 * syscall served there skip every other syscall before any work. */
	l = bpf_map_lookup_elem(&tp_hooks, &slot);
	if (l && l->raw)
		bpf_probe_read_kernel(&id, sizeof(id), rec + 8);
	for (__u32 i = 0; i < VIGIL_POLICY_TP_HOOKS; i++) {
		l = bpf_map_lookup_elem(&tp_hooks, &slot);
		if (!l || i >= l->count)
			break;
		want = l->nrs[i];
		if (want >= 0 && want != id)
			continue;
		hook_id = l->hooks[i];
		run_hook(ctx, hook_id, exit, ret, nr);
	}
}

#endif /* __VIGIL_POLICY_HOOK_H */
