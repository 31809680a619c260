// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* One judgement in progress (struct run), how the engine keeps within the
 * verifier's limits, and the verdicts a judgement step returns.
 *
 * Part of bpf/policy.bpf.c, which includes it once, after the headers it
 * builds on (the order is there). Not for other objects: it defines engine
 * maps, functions or state that an object including it would carry too. */
#ifndef __VIGIL_POLICY_RUN_H
#define __VIGIL_POLICY_RUN_H

/*
 * One judgement in progress: pointers the verifier knows, rebuilt from the
 * per-CPU state (e->st) on the stack of each global function, and handed to
 * its bpf_loop callbacks.
 *
 * Headroom by design: every function of the engine's headers that is not
 * static is a global BPF function. The verifier checks a global function
 * once, on its own, with its arguments unknown, instead of once per call
 * site and per path that reaches it; they take only scalars (a pointer is not allowed as a scalar
 * argument) and find their state in the per-CPU maps. A program's verified
 * instructions are then the sum of its functions', not their product: the
 * headroom test (test/headroom.test.ts) holds every program under 200,000.
 */
struct run {
	void *ctx;
	struct scratch *s;
	struct evalbuf *e;
	struct vigil_policy_hook *h;
	struct task_struct *task;
	__u32 source;
	__u32 hook_id;
};

static __always_inline bool run_load(struct run *r)
{
	r->e = evalbuf();
	r->s = scratch();
	if (!r->e || !r->s)
		return false;
	r->ctx = (void *)r->e->st.ctx;
	r->hook_id = r->e->st.hook_id;
	r->source = r->e->st.source;
	r->task = (struct task_struct *)bpf_get_current_task();
	r->h = bpf_map_lookup_elem(&hooks, &r->hook_id);
	return r->h && r->h->nargs <= VIGIL_POLICY_MAX_ARGS;
}

enum phase {
	PHASE_PROCESS = 0,	/* only process filters; argument filters are "maybe" */
	PHASE_ENTRY = 1,	/* all but the return value's */
	PHASE_FULL = 2,
};

enum verdict {
	V_FALSE = 0,
	V_TRUE = 1,
	V_MAYBE = 2,
};

#endif /* __VIGIL_POLICY_RUN_H */
