// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Deny (cgroup sock_addr): the deny set judged on a socket address.
 *
 * Part of bpf/policy.bpf.c, which includes it once, after the headers it
 * builds on (the order is there). Not for other objects: it defines engine
 * maps, functions or state that an object including it would carry too. */
#ifndef __VIGIL_POLICY_DENY_H
#define __VIGIL_POLICY_DENY_H

/* Arguments of a deny hook from the socket address and the socket. */
static long deny_arg_step(__u64 i, void *data)
{
	struct run *r = data;
	struct vigil_policy_arg_value *out;
	struct vigil_policy_sock *o;
	__u16 type;
	long off;

	if (i >= VIGIL_POLICY_MAX_ARGS)
		return 1;
	out = &r->s->ev.args[i];
	type = r->h->args[i].type;
	out->flags = 0;
	out->off = 0;
	out->len = 0;
	out->value = 0;
	if (type != VIGIL_POLICY_ARG_SOCKADDR && type != VIGIL_POLICY_ARG_FD) {
		out->type = type;
		out->flags = VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	out->type = VIGIL_POLICY_ARG_SOCK;
	off = blob_pos(r->s, out);
	if (off < 0)
		return 0;
	o = (struct vigil_policy_sock *)BLOB_AT(r->s, off);
	*o = type == VIGIL_POLICY_ARG_SOCKADDR ? r->e->sa : r->e->sk;
	if (type == VIGIL_POLICY_ARG_SOCKADDR)
		out->value = o->family;
	blob_commit(r->s, out, sizeof(*o));
	return 0;
}

/* Deny-set entry i on the address in e->sa / e->sk: 1 when it denies,
 * 0 when not, -1 past the last entry. */
__noinline int vg_deny_hook(__u32 i)
{
	struct vigil_policy_deny_set *set;
	struct vigil_policy_selector *sel;
	struct evalbuf *e = evalbuf();
	struct run r = {};
	__u32 zero = 0, idx, n;
	__s32 matched;
	bool deny = false, nopost = false;

	set = bpf_map_lookup_elem(&deny_set, &zero);
	if (!set || !e || i >= set->count || i >= VIGIL_POLICY_MAX_DENY)
		return -1;
	/* The compiler may test a copy and index with the original: masked
	 * after a barrier, the verifier sees the bound on the index used. */
	barrier_var(i);
	i &= VIGIL_POLICY_MAX_DENY - 1;
	if (!(set->kinds[i] & e->st.deny_kind))
		return 0;
	e->st.hook_id = set->hooks[i];
	if (!run_load(&r) || vg_out_of_scope())
		return 0;
	header(&r, r.hook_id);
	bpf_loop(r.h->nargs, deny_arg_step, &r, 0);
	matched = vg_judge(PHASE_FULL);
	if (matched < 0)
		return 0;
	idx = matched;
	sel = bpf_map_lookup_elem(&selectors, &idx);
	if (!sel)
		return 0;
	n = sel->nactions;
	for (int k = 0; k < VIGIL_POLICY_MAX_ACTIONS; k++) {
		if (k >= n)
			break;
		if (sel->actions[k].kind == VIGIL_POLICY_ACT_DENY)
			deny = true;
		else if (sel->actions[k].kind == VIGIL_POLICY_ACT_NOPOST)
			nopost = true;
	}
	/* A first matching selector without Deny allows (the tracepoint
	 * hook reports it). */
	if (!deny)
		return 0;
	count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
	count(r.h->policy, VIGIL_POLICY_C_MATCHED);
	count(r.h->policy, VIGIL_POLICY_C_ACTIONS + VIGIL_POLICY_ACT_DENY);
	if (nopost)
		return 1;
	r.s->ev.selector = sel->index;
	r.s->ev.actions = (1u << VIGIL_POLICY_ACT_DENY) | (1u << VIGIL_POLICY_ACT_POST);
	r.s->ev.flags |= VIGIL_POLICY_EV_DENIED;
	r.s->ev.ret = -1;	/* -EPERM */
	vg_post();
	return 1;
}

static __always_inline int deny_run(struct bpf_sock_addr *ctx, __u32 kind, bool v6)
{
	struct bpf_sock *bsk = ctx->sk;
	struct vigil_policy_sock *sa, *sk;
	struct evalbuf *e = begin(ctx, VIGIL_POLICY_SRC_SOCK_ADDR);
	__u32 family = ctx->user_family, proto = ctx->protocol, type = ctx->type;
	__u16 port = bpf_ntohs((__u16)ctx->user_port);

	if (!e)
		return 1;
	e->st.deny_kind = kind;
	sa = &e->sa;
	sk = &e->sk;
	__builtin_memset(sa, 0, sizeof(*sa));
	__builtin_memset(sk, 0, sizeof(*sk));
	sa->family = family;
	sa->sport = sa->dport = port;
	sk->family = family;
	sk->protocol = proto;
	sk->type = type;
	sk->dport = port;
	if (!v6) {
		__u32 a = ctx->user_ip4;

		*(__u32 *)sa->saddr = a;
		*(__u32 *)sa->daddr = a;
		*(__u32 *)sk->daddr = a;
	} else {
		__u32 a0 = ctx->user_ip6[0], a1 = ctx->user_ip6[1], a2 = ctx->user_ip6[2], a3 = ctx->user_ip6[3];
		__u32 *s6 = (__u32 *)sa->saddr, *d6 = (__u32 *)sa->daddr, *k6 = (__u32 *)sk->daddr;

		s6[0] = d6[0] = k6[0] = a0;
		s6[1] = d6[1] = k6[1] = a1;
		s6[2] = d6[2] = k6[2] = a2;
		s6[3] = d6[3] = k6[3] = a3;
	}
	if (bsk) {
		sk->sport = bsk->src_port;
		if (!v6)
			*(__u32 *)sk->saddr = bsk->src_ip4;
	}
	for (__u32 i = 0; i < VIGIL_POLICY_MAX_DENY; i++) {
		int v = vg_deny_hook(i);

		if (v < 0)
			break;
		if (v > 0)
			return 0;
	}
	return 1;
}

#endif /* __VIGIL_POLICY_DENY_H */
