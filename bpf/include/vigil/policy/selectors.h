// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Selectors and their filters: argument filters on the captured record,
 * process filters on the current task, and the walk of a hook's selectors
 * (vg_judge).
 *
 * Part of bpf/policy.bpf.c, which includes it once, after the headers it
 * builds on (the order is there). Not for other objects: it defines engine
 * maps, functions or state that an object including it would carry too. */
#ifndef __VIGIL_POLICY_SELECTORS_H
#define __VIGIL_POLICY_SELECTORS_H

static __always_inline bool is_stringish(__u16 type)
{
	switch (type) {
	case VIGIL_POLICY_ARG_STRING:
	case VIGIL_POLICY_ARG_KSTRING:
	case VIGIL_POLICY_ARG_DATA_LOC:
	case VIGIL_POLICY_ARG_CHAR_ARRAY:
	case VIGIL_POLICY_ARG_CHAR_BUF:
	case VIGIL_POLICY_ARG_FILE:
	case VIGIL_POLICY_ARG_PATH_AT:
	case VIGIL_POLICY_ARG_UNIX:
		return true;
	}
	return false;
}

static __always_inline bool int_in(__u32 id, __u64 v)
{
	void *inner = bpf_map_lookup_elem(&values_int, &id);

	return inner && bpf_map_lookup_elem(inner, &v);
}

/* Equal on bytes data[off .. off + len) of the blob (or of a proc's bin). */
static __always_inline bool str_equal(struct evalbuf *e, __u32 id, const __u8 *src, __u32 len)
{
	void *inner = bpf_map_lookup_elem(&values_str, &id);

	if (!inner || len > VIGIL_POLICY_STR_MAX - 1)
		return false;
	__builtin_memset(e->str, 0, sizeof(e->str));
	barrier_var(len);
	bpf_probe_read_kernel(e->str, len & STR_MASK, src);
	return bpf_map_lookup_elem(inner, e->str) != NULL;
}

static __always_inline bool str_prefix(struct evalbuf *e, __u32 id, const __u8 *src, __u32 len)
{
	void *inner = bpf_map_lookup_elem(&values_prefix, &id);

	if (!inner)
		return false;
	if (len > VIGIL_POLICY_STR_MAX)
		len = VIGIL_POLICY_STR_MAX;
	e->lpm.prefixlen = len * 8;
	barrier_var(len);
	bpf_probe_read_kernel(e->lpm.data, len & (2 * VIGIL_POLICY_STR_MAX - 1) & 0x1ff, src);
	return bpf_map_lookup_elem(inner, &e->lpm) != NULL;
}

/* Postfix: the last bytes reversed, looked up as a prefix. Reversed eight
 * bytes a step (bswap of a word read from the end): a word that starts
 * before the string only fills bytes past the key's length, which the
 * trie does not compare. */
static __always_inline bool str_postfix(struct evalbuf *e, __u32 id, const __u8 *src, __u32 len)
{
	void *inner = bpf_map_lookup_elem(&values_prefix, &id);
	__u32 n = len < VIGIL_POLICY_STR_MAX ? len : VIGIL_POLICY_STR_MAX;
	__u64 w;

	if (!inner)
		return false;
	e->lpm.prefixlen = n * 8;
	for (__u32 k = 0; k < VIGIL_POLICY_STR_MAX / 8; k++) {
		if (8 * k >= n)
			break;
		w = 0;
		bpf_probe_read_kernel(&w, sizeof(w), src + (long)len - 8 * (long)(k + 1));
		*(__u64 *)(e->lpm.data + 8 * k) = __builtin_bswap64(w);
	}
	return bpf_map_lookup_elem(inner, &e->lpm) != NULL;
}

/* Where the bytes a string filter compares are. */
enum str_src {
	STR_BLOB = 0,		/* the record's blob at `key` */
	STR_PROC = 1,		/* procs[key].bin */
	STR_PROC_BUILT = 2,	/* e->proc.bin (an entry that could not be stored) */
};

/* Equal, Prefix or Postfix of len bytes against filter id's values. */
__noinline int vg_str_match(__u32 op, __u32 id, __u32 src, __u32 key, __u32 len)
{
	struct evalbuf *e = evalbuf();
	struct vigil_policy_proc *p;
	struct scratch *s;
	const __u8 *data;

	if (!e)
		return 0;
	if (src == STR_BLOB) {
		s = scratch();
		if (!s)
			return 0;
		data = s->data + (key & DATA_MASK);
	} else if (src == STR_PROC) {
		p = bpf_map_lookup_elem(&procs, &key);
		if (!p)
			return 0;
		data = p->bin;
	} else {
		data = e->proc.bin;
	}
	switch (op) {
	case VIGIL_POLICY_OP_EQUAL:
		return str_equal(e, id, data, len);
	case VIGIL_POLICY_OP_PREFIX:
		return str_prefix(e, id, data, len);
	case VIGIL_POLICY_OP_POSTFIX:
		return str_postfix(e, id, data, len);
	}
	return 0;
}

static __always_inline bool ports_has(__u32 id, __u16 port)
{
	void *inner = bpf_map_lookup_elem(&values_ports, &id);
	__u32 k = port >> 6;
	__u64 *w;

	if (!inner)
		return false;
	w = bpf_map_lookup_elem(inner, &k);
	return w && (*w & (1ULL << (port & 63)));
}

static __always_inline bool addr_in(struct evalbuf *e, __u32 id, __u16 family, const __u8 *addr)
{
	const __u32 *w = (const __u32 *)addr;
	void *inner;

	if (family == AF_INET6 && w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff)) {
		/* IPv4-mapped: an IPv4 address. */
		family = AF_INET;
		addr += 12;
	}
	if (family == AF_INET) {
		inner = bpf_map_lookup_elem(&values_cidr4, &id);
		if (!inner)
			return false;
		e->c4.prefixlen = 32;
		__builtin_memcpy(e->c4.addr, addr, 4);
		return bpf_map_lookup_elem(inner, &e->c4) != NULL;
	}
	if (family == AF_INET6) {
		inner = bpf_map_lookup_elem(&values_cidr6, &id);
		if (!inner)
			return false;
		e->c6.prefixlen = 128;
		__builtin_memcpy(e->c6.addr, addr, 16);
		return bpf_map_lookup_elem(inner, &e->c6) != NULL;
	}
	return false;
}

struct range_walk {
	void *inner;
	__u64 v;
	bool is_signed;
	bool found;
};

static long range_step(__u64 i, void *data)
{
	struct range_walk *w = data;
	__u32 k = i;
	struct vigil_policy_range *rg = bpf_map_lookup_elem(w->inner, &k);

	if (!rg)
		return 1;
	if (w->is_signed ? ((__s64)w->v >= (__s64)rg->lo && (__s64)w->v <= (__s64)rg->hi)
			 : (w->v >= rg->lo && w->v <= rg->hi)) {
		w->found = true;
		return 1;
	}
	return 0;
}

static __noinline bool int_in_map(struct vigil_policy_filter *f, __u64 v, bool is_signed)
{
	struct range_walk w = { .v = v, .is_signed = is_signed };
	__u32 n = f->value2;

	if (int_in(f->id, v))
		return true;
	if (!n)
		return false;
	w.inner = bpf_map_lookup_elem(&values_range, &f->id);
	if (!w.inner)
		return false;
	bpf_loop(n < VIGIL_POLICY_MAX_RANGES ? n : VIGIL_POLICY_MAX_RANGES, range_step, &w, 0);
	return w.found;
}

/* One argument filter (matchArgs / matchReturnArgs), without negation: an
 * enum verdict. */
__noinline int vg_filter_arg(__u32 idx, __u32 phase)
{
	struct vigil_policy_filter *f = bpf_map_lookup_elem(&filters, &idx);
	struct vigil_policy_arg_value *a;
	struct vigil_policy_sock *sk;
	struct scratch *s = scratch();
	struct evalbuf *e = evalbuf();
	const __u8 *data;
	bool is_signed;
	__u32 slot;
	__u64 v;

	if (!f || !s || !e)
		return V_FALSE;
	slot = f->arg;
	if (slot >= VIGIL_POLICY_SLOTS)
		return V_FALSE;
	barrier_var(slot);
	slot &= 7;
	if (phase == PHASE_PROCESS || (phase == PHASE_ENTRY && slot == VIGIL_POLICY_RET_SLOT))
		return V_MAYBE;
	a = &s->ev.args[slot];
	/* Read at the exit (an fd returned, a returnCopy buffer): unknown before. */
	if (a->flags & VIGIL_POLICY_ARG_PENDING)
		return phase == PHASE_FULL ? V_FALSE : V_MAYBE;
	if (a->flags & (VIGIL_POLICY_ARG_ERROR | VIGIL_POLICY_ARG_NODATA) || a->type == VIGIL_POLICY_ARG_NONE)
		return V_FALSE;
	v = a->value;
	is_signed = a->type == VIGIL_POLICY_ARG_S64;
	data = s->data + (a->off & DATA_MASK);

	switch (f->op) {
	case VIGIL_POLICY_OP_EQUAL:
		if (is_stringish(a->type))
			return vg_str_match(f->op, f->id, STR_BLOB, a->off, a->len);
		if (a->type == VIGIL_POLICY_ARG_S64 || a->type == VIGIL_POLICY_ARG_U64 ||
		    a->type == VIGIL_POLICY_ARG_FD)
			return int_in(f->id, v);
		return V_FALSE;
	case VIGIL_POLICY_OP_PREFIX:
	case VIGIL_POLICY_OP_POSTFIX:
		return is_stringish(a->type) && vg_str_match(f->op, f->id, STR_BLOB, a->off, a->len);
	case VIGIL_POLICY_OP_GT:
		return is_signed ? (__s64)v > (__s64)f->value : v > f->value;
	case VIGIL_POLICY_OP_LT:
		return is_signed ? (__s64)v < (__s64)f->value : v < f->value;
	case VIGIL_POLICY_OP_MASK:
		return (v & f->value) != 0;
	case VIGIL_POLICY_OP_IN_MAP:
		return int_in_map(f, v, is_signed);
	}
	if (a->type == VIGIL_POLICY_ARG_UNIX)
		return f->op == VIGIL_POLICY_OP_FAMILY && int_in(f->id, AF_UNIX);
	if (a->type != VIGIL_POLICY_ARG_SOCK)
		return V_FALSE;
	sk = (struct vigil_policy_sock *)data;
	switch (f->op) {
	case VIGIL_POLICY_OP_SADDR:
		return addr_in(e, f->id, sk->family, sk->saddr);
	case VIGIL_POLICY_OP_DADDR:
		return addr_in(e, f->id, sk->family, sk->daddr);
	case VIGIL_POLICY_OP_SPORT:
		return ports_has(f->id, sk->sport);
	case VIGIL_POLICY_OP_DPORT:
		return ports_has(f->id, sk->dport);
	case VIGIL_POLICY_OP_PROTOCOL:
		return int_in(f->id, sk->protocol);
	case VIGIL_POLICY_OP_FAMILY:
		return int_in(f->id, sk->family);
	case VIGIL_POLICY_OP_STATE:
		return int_in(f->id, sk->state);
	}
	return V_FALSE;
}

/* matchBinaries on a process entry: procs[tgid], or e->proc (STR_PROC_BUILT). */
static __always_inline bool binary_match(struct vigil_policy_filter *f, struct vigil_policy_proc *p,
					 __u32 src, __u32 tgid)
{
	__u32 len = p->bin_len;

	if (!len)
		return false;
	switch (f->op) {
	case VIGIL_POLICY_OP_EQUAL:
	case VIGIL_POLICY_OP_POSTFIX:
		return len < VIGIL_POLICY_STR_MAX && vg_str_match(f->op, f->id, src, tgid, len);
	case VIGIL_POLICY_OP_PREFIX:
		return vg_str_match(f->op, f->id, src, tgid, len > VIGIL_POLICY_STR_MAX - 1 ? VIGIL_POLICY_STR_MAX - 1 : len);
	}
	return false;
}

/* followForks / followChildren: the task's ancestors, one a step. */
struct ancestors {
	struct vigil_policy_filter *f;
	struct task_struct *task;
	bool found;
};

static long ancestor_step(__u64 i, void *data)
{
	struct ancestors *w = data;
	struct task_struct *child = w->task;
	struct task_struct *parent = BPF_CORE_READ(child, real_parent);
	__u32 tgid;

	if (!parent || parent == w->task)
		return 1;
	w->task = parent;
	tgid = BPF_CORE_READ(parent, tgid);
	if (tgid <= 1 && w->f->kind == VIGIL_POLICY_F_BINARY)
		return 1;
	if (w->f->kind == VIGIL_POLICY_F_PID) {
		__u64 pid = (w->f->flags & VIGIL_POLICY_NSPID) ? task_nspid(parent) : tgid;

		if (int_in(w->f->id, pid)) {
			w->found = true;
			return 1;
		}
	} else {
		/* Looked up, not built: the walk is already deep in calls. The
		 * engine seeds the table from /proc when it starts. */
		struct vigil_policy_proc *p = bpf_map_lookup_elem(&procs, &tgid);

		if (p && binary_match(w->f, p, STR_PROC, tgid)) {
			w->found = true;
			return 1;
		}
	}
	return tgid <= 1;
}

/* followForks / followChildren: true when an ancestor of the task matches f. */
static __always_inline bool follow(struct vigil_policy_filter *f, struct task_struct *task)
{
	struct ancestors w = { .f = f, .task = task };

	bpf_loop(VIGIL_POLICY_ANCESTORS, ancestor_step, &w, 0);
	return w.found;
}

/* One process filter, without negation: an enum verdict. */
__noinline int vg_filter_process(__u32 idx)
{
	struct vigil_policy_filter *f = bpf_map_lookup_elem(&filters, &idx);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct evalbuf *e = evalbuf();
	struct vigil_policy_proc *p;
	__u32 ns[VIGIL_POLICY_NS_COUNT] = {};
	__u64 caps, change;
	__u32 set, tgid;

	if (!f || !e)
		return V_FALSE;
	set = f->arg;
	switch (f->kind) {
	case VIGIL_POLICY_F_BINARY:
		tgid = BPF_CORE_READ(task, tgid);
		p = proc_of(e, task);
		if (binary_match(f, p, p == &e->proc ? STR_PROC_BUILT : STR_PROC, tgid))
			return V_TRUE;
		return (f->flags & VIGIL_POLICY_FOLLOW) && follow(f, task);
	case VIGIL_POLICY_F_PID: {
		__u64 pid = (f->flags & VIGIL_POLICY_NSPID) ? task_nspid(task) : BPF_CORE_READ(task, tgid);

		if (int_in(f->id, pid))
			return V_TRUE;
		return (f->flags & VIGIL_POLICY_FOLLOW) && follow(f, task);
	}
	case VIGIL_POLICY_F_NS:
		task_ns(task, ns);
		return int_in(f->id, ns[f->arg < VIGIL_POLICY_NS_COUNT ? f->arg : 0]);
	case VIGIL_POLICY_F_NS_CHANGE: {
		__u32 changed = 0;

		p = proc_of(e, task);
		task_ns(task, ns);
		for (int i = 0; i < VIGIL_POLICY_NS_COUNT; i++) {
			if (p->ns[i] && p->ns[i] != ns[i])
				changed |= 1u << i;
		}
		return (changed & f->value) != 0;
	}
	case VIGIL_POLICY_F_CAP:
		if ((f->flags & VIGIL_POLICY_NSCAP) &&
		    BPF_CORE_READ(task, real_cred, user_ns, ns.inum) == f->value2)
			return V_FALSE;
		return (task_caps(task, set) & f->value) != 0;
	case VIGIL_POLICY_F_CAP_CHANGE:
		if ((f->flags & VIGIL_POLICY_NSCAP) &&
		    BPF_CORE_READ(task, real_cred, user_ns, ns.inum) == f->value2)
			return V_FALSE;
		p = proc_of(e, task);
		caps = task_caps(task, set);
		change = caps ^ p->caps[set < 3 ? set : 0];
		/* In: a listed capability changed. NotIn (NEG): only others did,
		 * so the negation is applied here, not by the caller. */
		if (f->flags & VIGIL_POLICY_NEG)
			return !(change & f->value) && change ? V_TRUE : V_FALSE;
		return (change & f->value) != 0;
	}
	return V_FALSE;
}

/* One filter of the selector being judged: an enum verdict (negation applied). */
static __always_inline __u32 judge_filter(struct judge_walk *w, __u32 idx)
{
	struct vigil_policy_filter *f = bpf_map_lookup_elem(&filters, &idx);
	__u32 v;

	if (!f)
		return V_FALSE;
	if (f->kind == VIGIL_POLICY_F_ARG) {
		v = vg_filter_arg(idx, w->phase);
	} else {
		if (w->phase != PHASE_PROCESS && w->phase != PHASE_FULL)
			return V_TRUE;	/* already known true from the process pass */
		/* A hook judged at exit sees the credentials and namespaces the
		 * syscall itself may change (capset, setns, unshare, set*id):
		 * unknown at entry. */
		if ((w->hook_flags & VIGIL_POLICY_HOOK_CREDS_AT_ENTRY) &&
		    f->kind >= VIGIL_POLICY_F_NS && f->kind <= VIGIL_POLICY_F_CAP_CHANGE) {
			/* Judged at the entry: the exit, reached only when it passed, keeps it. */
			if (w->phase == PHASE_FULL)
				return V_TRUE;
		} else if (w->phase == PHASE_PROCESS && (w->hook_flags & VIGIL_POLICY_HOOK_AT_EXIT) &&
			   f->kind >= VIGIL_POLICY_F_NS && f->kind <= VIGIL_POLICY_F_CAP_CHANGE) {
			return V_MAYBE;
		}
		v = vg_filter_process(idx);
	}
	if (v != V_MAYBE && (f->flags & VIGIL_POLICY_NEG) && f->kind != VIGIL_POLICY_F_CAP_CHANGE)
		v = v ? V_FALSE : V_TRUE;
	return v;
}

/* bpf_loop's context must be on the stack: it points at the state. */
struct judge_ctx {
	struct judge_walk *w;
};

static long judge_step(__u64 k, void *data)
{
	struct judge_walk *w = ((struct judge_ctx *)data)->w;
	struct vigil_policy_selector *sel;
	__u32 idx, v;

	if (w->sel >= w->nselectors || w->sel >= VIGIL_POLICY_HOOK_SELECTORS)
		return 1;
	if (!w->loaded) {
		idx = w->first_selector + w->sel;
		sel = bpf_map_lookup_elem(&selectors, &idx);
		if (!sel)
			return 1;
		w->first_filter = sel->first_filter;
		w->nfilters = sel->nfilters < VIGIL_POLICY_SELECTOR_FILTERS ?
			      sel->nfilters : VIGIL_POLICY_SELECTOR_FILTERS;
		w->filter = 0;
		w->verdict = V_TRUE;
		w->loaded = 1;
		return 0;
	}
	if (w->filter >= w->nfilters) {
		/* Every filter passed (or may): this selector decides. */
		w->matched = w->first_selector + w->sel;
		return 1;
	}
	v = judge_filter(w, w->first_filter + w->filter);
	if (v == V_FALSE) {
		w->sel += 1;
		w->loaded = 0;
		return 0;
	}
	if (v == V_MAYBE)
		w->verdict = V_MAYBE;
	w->filter += 1;
	return 0;
}

/* The current hook's first selector that matches (or may, before
 * PHASE_FULL): its global index, -1 when none, -2 when the hook has no
 * selectors (post all). */
__noinline int vg_judge(__u32 phase)
{
	struct evalbuf *e = evalbuf();
	struct vigil_policy_hook *h;
	struct judge_ctx c;
	struct judge_walk *w;
	__u32 hook_id, n;

	if (!e)
		return -1;
	hook_id = e->st.hook_id;
	h = bpf_map_lookup_elem(&hooks, &hook_id);
	if (!h)
		return -1;
	n = h->nselectors;
	if (!n)
		return -2;
	w = &e->jw;
	__builtin_memset(w, 0, sizeof(*w));
	w->phase = phase;
	w->matched = -1;
	w->first_selector = h->first_selector;
	w->nselectors = n;
	w->hook_flags = h->flags;
	c.w = w;
	/* A selector costs one step to load, one per filter and one to decide. */
	bpf_loop(VIGIL_POLICY_HOOK_SELECTORS * (VIGIL_POLICY_SELECTOR_FILTERS + 2), judge_step, &c, 0);
	return w->matched;
}

#endif /* __VIGIL_POLICY_SELECTORS_H */
