// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The prefilter (vigil/policy.h: enum vigil_policy_prefilter_flag) and its
 * cache: a file whose name or first component no selector can match is
 * dropped before the capture. policy_tree_moved, which ages the cache, is
 * in policy.bpf.c.
 *
 * Part of bpf/policy.bpf.c, which includes it once, after the headers it
 * builds on (the order is there). Not for other objects: it defines engine
 * maps, functions or state that an object including it would carry too. */
#ifndef __VIGIL_POLICY_PREFILTER_H
#define __VIGIL_POLICY_PREFILTER_H

/* 1 when kind + text is a key for the current hook: lead (a byte before the
 * name: the top's '/'; 0: none), len bytes at src, then '/' when the name
 * fit whole (and src is not 0: the root's key is "/" alone). Global: its
 * index arithmetic is verified on its own (inlined in the prefilter, the
 * 6.1 verifier lost the bounds of a spilled index). */
__noinline int vg_pf_allows(__u32 kind, __u32 lead, __u64 src, __u32 len)
{
	struct evalbuf *e = evalbuf();
	struct vigil_policy_pf_key *k;
	__u32 n = len, at = 0;

	if (!e)
		return 1;
	k = &e->pf;
	__builtin_memset(k, 0, sizeof(*k));
	k->hook = e->st.hook_id;
	k->kind = kind;
	if (lead)
		k->text[at++] = lead;
	if (n > VIGIL_POLICY_PF_NAME_MAX)
		n = VIGIL_POLICY_PF_NAME_MAX;
	barrier_var(n);
	n &= 2 * VIGIL_POLICY_PF_NAME_MAX - 1;
	if (n && bpf_probe_read_kernel(k->text + at, n, (const void *)src))
		return 1;	/* unreadable: the full judgement decides */
	at += n;
	/* A name cut to the key's size has no terminator: it then allows
	 * only by entries shorter than the cut (prefixes of the first component). */
	if (src && len == n && at < sizeof(k->text))
		k->text[at++] = '/';
	k->prefixlen = (sizeof(k->hook) + sizeof(k->kind) + at) * 8;
	return bpf_map_lookup_elem(&prefilter, k) != NULL;
}

/* The cache slot of a file for a hook, and the generations to compare;
 * NULL when the cache is off. */
static __always_inline struct pf_cached *pf_cache_slot(__u64 dentry, __u32 hook, __u64 *moved, __u64 *config)
{
	__u32 k = VIGIL_POLICY_PF_GEN_MOVED;
	__u64 *g;
	__u32 idx;

	g = bpf_map_lookup_elem(&pf_gen, &k);
	if (!g)
		return NULL;
	*moved = *(volatile __u64 *)g;
	k = VIGIL_POLICY_PF_GEN_CONFIG;
	g = bpf_map_lookup_elem(&pf_gen, &k);
	if (!g || !*g)
		return NULL;
	*config = *g;
	idx = ((dentry ^ ((__u64)hook << 48)) * 0x9E3779B97F4A7C15ULL) >> (64 - VIGIL_POLICY_PF_CACHE_BITS);
	return bpf_map_lookup_elem(&pf_cache, &idx);
}

/* The prefilter's verdict on the file at fpath (a dentry head dh) for the
 * current hook: 1 allows (or unsure), 0 drops; *sure tells whether the
 * verdict may be cached (it holds while the file's name and place do). */
static __always_inline int pf_judge(struct run *r, __u32 pf, const struct path *fpath, const struct path *root,
				    const struct __vigil_dentry_head *dh, bool *sure)
{
	struct __vigil_path_measured m;
	__u32 flags = 0;

	*sure = false;
	if (pf & VIGIL_POLICY_PF_LEAF) {
		if (vg_pf_allows(VIGIL_POLICY_PF_KIND_LEAF, 0, (__u64)dh->name, dh->len)) {
			*sure = true;
			return 1;
		}
	}
	if (pf & VIGIL_POLICY_PF_TOP) {
		vigil_path_measure(r->e->work, WORK_MASK, fpath, root, VIGIL_POLICY_ARG_MAX - 1, &m, &flags,
				   VIGIL_POLICY_ARG_TRUNC, VIGIL_POLICY_ARG_ERROR);
		/* A path the walk would cut compares by its leaf side. */
		if (flags)
			return 1;
		if (vg_pf_allows(VIGIL_POLICY_PF_KIND_TOP, '/', (__u64)m.top_name, m.top_len)) {
			*sure = true;
			return 1;
		}
	}
	*sure = true;
	return 0;
}

/*
 * 0 when the current hook's prefilter proves that no selector can match the
 * event's file (hook.prefilter's argument), 1 otherwise (no prefilter, or
 * unsure). ret is the return value (an fd returned). Global: verified once.
 */
__noinline int vg_prefilter(__s64 ret)
{
	struct run r = {};
	struct vigil_policy_arg *a;
	struct __vigil_dentry_head dh;
	struct path fpath, root;
	struct pf_cached *c;
	struct file *f = NULL;
	__u64 moved = 0, config = 0, now = 0, raw;
	__u32 pf, slot, k = VIGIL_POLICY_PF_GEN_MOVED;
	__u64 *g;
	bool sure;
	int allows;

	if (!run_load(&r))
		return 1;
	pf = r.h->prefilter;
	if (!(pf & (VIGIL_POLICY_PF_LEAF | VIGIL_POLICY_PF_TOP)))
		return 1;
	slot = pf & VIGIL_POLICY_PF_SLOT;
	if (slot >= VIGIL_POLICY_MAX_ARGS)
		return 1;
	a = &r.h->args[slot];
	raw = read_word(r.ctx, a, ret);
	if (a->type == VIGIL_POLICY_ARG_FD)
		f = fd_file((__s32)raw);
	else if (a->type == VIGIL_POLICY_ARG_KFILE)
		f = (struct file *)raw;
	if (!f)
		return 1;
	BPF_CORE_READ_INTO(&fpath, f, f_path);
	if (!fpath.dentry || !fpath.mnt || !vigil_dentry_head(fpath.dentry, &dh))
		return 1;
	current_root(&root);
	c = pf_cache_slot((__u64)fpath.dentry, r.hook_id, &moved, &config);
	if (c && c->dentry == (__u64)fpath.dentry && c->hook == r.hook_id && c->mnt == (__u64)fpath.mnt &&
	    c->root_dentry == (__u64)root.dentry && c->root_mnt == (__u64)root.mnt && c->parent == (__u64)dh.parent &&
	    c->hash_len == dh.hash_len && c->moved == moved && c->config == config)
		return c->allows;
	/* A mount's root (a file bind-mounted over another) is named by its
	 * mount point, not by its own dentry: never cached, so a hit above is
	 * not one (a mount's root dentry is fixed for its life). */
	if (fpath.dentry == BPF_CORE_READ(fpath.mnt, mnt_root))
		return 1;
	allows = pf_judge(&r, pf, &fpath, &root, &dh, &sure);
	if (!c || !sure)
		return allows;
	/* Cached only when nothing moved while it was judged. */
	g = bpf_map_lookup_elem(&pf_gen, &k);
	if (g)
		now = *(volatile __u64 *)g;
	if (now != moved)
		return allows;
	/* Emptied first, the file last: a program that ran between (a
	 * preemption on this CPU) finds no entry rather than half of one. */
	c->dentry = 0;
	barrier();
	c->mnt = (__u64)fpath.mnt;
	c->root_dentry = (__u64)root.dentry;
	c->root_mnt = (__u64)root.mnt;
	c->parent = (__u64)dh.parent;
	c->hash_len = dh.hash_len;
	c->moved = moved;
	c->config = config;
	c->hook = r.hook_id;
	c->allows = allows;
	barrier();
	c->dentry = (__u64)fpath.dentry;
	return allows;
}

#endif /* __VIGIL_POLICY_PREFILTER_H */
