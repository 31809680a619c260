// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A hook's conditions on its own record (vg_conds): not this hook's event
 * when one fails.
 *
 * Part of bpf/policy.bpf.c, which includes it once, after the headers it
 * builds on (the order is there). Not for other objects: it defines engine
 * maps, functions or state that an object including it would carry too. */
#ifndef __VIGIL_POLICY_CONDS_H
#define __VIGIL_POLICY_CONDS_H

/* The hook's conditions on its own record: false when one fails. Those on
 * the return value are checked at the exit (at_exit). */
struct cond_walk {
	struct run *r;
	__s64 ret;
	bool at_exit;
	bool pass;
};

static long cond_step(__u64 i, void *data)
{
	struct cond_walk *w = data;
	struct vigil_policy_cond *c;
	__u64 v;
	bool ok;

	if (i >= VIGIL_POLICY_MAX_CONDS)
		return 1;
	c = &w->r->h->conds[i];
	if ((c->where.loc == VIGIL_POLICY_LOC_RET) != w->at_exit)
		return 0;
	v = read_word(w->r->ctx, &c->where, w->ret);
	if (c->test == VIGIL_POLICY_COND_FD_SOCKET) {
		ok = fd_is_socket((__s32)v, c->families, c->protocol);
	} else if (c->test == VIGIL_POLICY_COND_FD_OP) {
		struct file *f = fd_file((__s32)v);
		const struct file_operations *fop = f ? BPF_CORE_READ(f, f_op) : NULL;
		__u64 fn = 0;

		if (fop && c->protocol == VIGIL_POLICY_FD_OP_WRITE_ITER)
			fn = (__u64)BPF_CORE_READ(fop, write_iter);
		else if (fop)
			fn = (__u64)BPF_CORE_READ(fop, unlocked_ioctl);
		ok = fn && fn == c->value;
	} else {
		switch (c->op) {
		case VIGIL_POLICY_COND_EQ: ok = v == c->value; break;
		case VIGIL_POLICY_COND_NE: ok = v != c->value; break;
		case VIGIL_POLICY_COND_GE: ok = v >= c->value; break;
		case VIGIL_POLICY_COND_LT: ok = v < c->value; break;
		case VIGIL_POLICY_COND_MASK: ok = (v & c->value) != 0; break;
		default: ok = false;
		}
	}
	if (!ok) {
		w->pass = false;
		return 1;
	}
	return 0;
}

/* 1 when the current hook's conditions pass (those on the return value at
 * the exit only). */
__noinline int vg_conds(__u32 at_exit, __s64 ret)
{
	struct run r = {};
	struct cond_walk w = { .r = &r, .ret = ret, .at_exit = at_exit, .pass = true };
	__u32 n;

	if (!run_load(&r))
		return 0;
	n = r.h->nconds;
	if (!n)
		return 1;
	bpf_loop(n < VIGIL_POLICY_MAX_CONDS ? n : VIGIL_POLICY_MAX_CONDS, cond_step, &w, 0);
	return w.pass;
}

#endif /* __VIGIL_POLICY_CONDS_H */
