// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The matching selector's actions (vg_act): signals, Override, stacks, the
 * rate limit and the post.
 *
 * Part of bpf/policy.bpf.c, which includes it once, after the headers it
 * builds on (the order is there). Not for other objects: it defines engine
 * maps, functions or state that an object including it would carry too. */
#ifndef __VIGIL_POLICY_ACTIONS_H
#define __VIGIL_POLICY_ACTIONS_H

struct rl_fill {
	struct scratch *s;
	struct evalbuf *e;
};

static long rl_step(__u64 i, void *data)
{
	struct rl_fill *w = data;
	struct vigil_policy_arg_value *a;
	__u32 len, off, tail;

	if (i >= VIGIL_POLICY_MAX_ARGS)
		return 1;
	a = &w->s->ev.args[i];
	w->e->rl.values[i] = a->value;
	len = a->len;
	w->e->rl.lens[i] = len;
	off = a->off;
	bpf_probe_read_kernel(w->e->rl.head[i], len < 16 ? len & 15 : 16, w->s->data + (off & DATA_MASK));
	tail = len > 8 ? len - 8 : 0;
	bpf_probe_read_kernel(w->e->rl.tail[i], len < 8 ? len & 7 : 8, w->s->data + ((off + tail) & DATA_MASK));
	return 0;
}

/* 1 when an identical post in the scope came less than rate_ns ago. */
__noinline int vg_rate_limited(__u32 selector, __u32 scope, __u64 rate_ns)
{
	struct scratch *s = scratch();
	struct evalbuf *e = evalbuf();
	struct rl_fill w = { .s = s, .e = e };
	__u64 now = bpf_ktime_get_boot_ns(), *last;

	if (!s || !e)
		return 0;
	__builtin_memset(&e->rl, 0, sizeof(e->rl));
	e->rl.hook = s->ev.hook;
	e->rl.selector = selector;
	e->rl.scope = scope == VIGIL_POLICY_SCOPE_THREAD ? s->ev.tid :
		      scope == VIGIL_POLICY_SCOPE_PROCESS ? s->ev.pid : 0;
	e->rl.values[VIGIL_POLICY_RET_SLOT] = s->ev.args[VIGIL_POLICY_RET_SLOT].value;
	bpf_loop(VIGIL_POLICY_MAX_ARGS, rl_step, &w, 0);
	last = bpf_map_lookup_elem(&ratelimit, &e->rl);
	if (last && now - *last < rate_ns)
		return 1;
	bpf_map_update_elem(&ratelimit, &e->rl, &now, BPF_ANY);
	return 0;
}

/* Sends the record built in scratch. */
__noinline int vg_post(void)
{
	struct scratch *s = scratch();
	__u64 size;

	if (!s)
		return 0;
	size = sizeof(s->ev) + s->ev.data_len;
	if (size > sizeof(*s))
		size = sizeof(*s);
	if (vigil_output(&events, 0, s, size))
		count(s->ev.policy, VIGIL_POLICY_C_LOST);
	else
		count(s->ev.policy, VIGIL_POLICY_C_POSTED);
	return 0;
}

/* What the program must still do after vg_entry / vg_leave: its context is
 * needed for it, and global functions do not get the context. */
enum finish {
	FINISH_NONE = 0,
	FINISH_USER_STACK_POST = 1,	/* fill the user stack, then vg_post() */
};

/* The matching selector's actions (tracing programs: signals, Override and
 * stacks): an enum finish. */
__noinline int vg_act(__s32 matched)
{
	struct scratch *s = scratch();
	struct evalbuf *e = evalbuf();
	struct vigil_policy_selector *sel = NULL;
	struct vigil_policy_action *postact = NULL;
	__u32 policy, n = 0, taken = 0, sig = 0, idx;
	bool nopost = false;

	if (!s || !e)
		return FINISH_NONE;
	policy = s->ev.policy;
	count(policy, VIGIL_POLICY_C_MATCHED);
	s->ev.selector = 0;
	if (matched >= 0) {
		idx = matched;
		sel = bpf_map_lookup_elem(&selectors, &idx);
		if (!sel)
			return FINISH_NONE;
		s->ev.selector = sel->index;
		n = sel->nactions;
	}
	for (int i = 0; i < VIGIL_POLICY_MAX_ACTIONS; i++) {
		struct vigil_policy_action *a;

		if (!sel || i >= n)
			break;
		a = &sel->actions[i];
		switch (a->kind) {
		case VIGIL_POLICY_ACT_POST:
			postact = a;
			break;
		case VIGIL_POLICY_ACT_NOPOST:
			nopost = true;
			break;
		case VIGIL_POLICY_ACT_SIGKILL:
			bpf_send_signal(SIGKILL);
			sig = SIGKILL;
			taken |= 1u << VIGIL_POLICY_ACT_SIGKILL;
			count(policy, VIGIL_POLICY_C_ACTIONS + VIGIL_POLICY_ACT_SIGKILL);
			break;
		case VIGIL_POLICY_ACT_SIGNAL:
		case VIGIL_POLICY_ACT_NOTIFY_ENFORCER:
			if (a->signal) {
				bpf_send_signal(a->signal);
				sig = a->signal;
			}
			taken |= 1u << a->kind;
			count(policy, VIGIL_POLICY_C_ACTIONS + (a->kind & 7));
			break;
		case VIGIL_POLICY_ACT_OVERRIDE:
			/* The program returns the error (BPF-LSM) or overrides the
			 * function's return (kprobe error injection). */
			e->st.override = a->error;
			e->st.has_override = 1;
			taken |= 1u << VIGIL_POLICY_ACT_OVERRIDE;
			count(policy, VIGIL_POLICY_C_ACTIONS + VIGIL_POLICY_ACT_OVERRIDE);
			break;
		case VIGIL_POLICY_ACT_DENY:
			/* Enforced and reported by the cgroup sock_addr programs. */
			return FINISH_NONE;
		}
	}
	if (nopost) {
		count(policy, VIGIL_POLICY_C_ACTIONS + VIGIL_POLICY_ACT_NOPOST);
		return FINISH_NONE;
	}
	if (postact && postact->rate_ns && vg_rate_limited(matched, postact->scope, postact->rate_ns)) {
		count(policy, VIGIL_POLICY_C_RATE_LIMITED);
		return FINISH_NONE;
	}
	count(policy, VIGIL_POLICY_C_ACTIONS + VIGIL_POLICY_ACT_POST);
	s->ev.actions = taken | (1u << VIGIL_POLICY_ACT_POST);
	s->ev.signal = sig;
	s->ev.ret = e->st.has_override ? e->st.override : s->ev.ret;
	s->ev.kernel_stack = -1;
	s->ev.user_stack = -1;
	if (postact && (postact->flags & VIGIL_POLICY_KERNEL_STACK)) {
		/* The task's own kernel stack, walked from here: the context of a
		 * syscall tracepoint (or uprobe) holds user registers, from which
		 * bpf_get_stackid finds no kernel frames. */
		__u32 off = (s->ev.data_len + 7) & ~7u;

		if (off < VIGIL_POLICY_DATA_MAX) {
			long n = bpf_get_task_stack(bpf_get_current_task_btf(), s->data + (off & DATA_MASK),
						    VIGIL_POLICY_STACK_DEPTH * sizeof(__u64), 0);

			if (n > 0) {
				s->ev.kstack_off = off;
				s->ev.kernel_stack = n / sizeof(__u64);
				s->ev.data_len = off + n;
			}
		}
	}
	if (postact && (postact->flags & VIGIL_POLICY_USER_STACK))
		return FINISH_USER_STACK_POST;
	vg_post();
	return FINISH_NONE;
}

#endif /* __VIGIL_POLICY_ACTIONS_H */
