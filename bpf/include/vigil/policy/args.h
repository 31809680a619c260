// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The word an argument or a condition starts from (a record's field, a
 * register, the return value), and the resolve path that follows it to a
 * struct member (vg_resolve).
 *
 * Part of bpf/policy.bpf.c, which includes it once, after the headers it
 * builds on (the order is there). Not for other objects: it defines engine
 * maps, functions or state that an object including it would carry too. */
#ifndef __VIGIL_POLICY_ARGS_H
#define __VIGIL_POLICY_ARGS_H

static __always_inline __u64 extend(__u64 raw, __u32 size, bool is_signed)
{
	switch (size) {
	case 1:
		return is_signed ? (__u64)(__s64)(__s8)raw : (__u8)raw;
	case 2:
		return is_signed ? (__u64)(__s64)(__s16)raw : (__u16)raw;
	case 4:
		return is_signed ? (__u64)(__s64)(__s32)raw : (__u32)raw;
	}
	return raw;
}

/* libbpf 1.1 has no PT_REGS_PARM6. */
#ifdef PT_REGS_PARM6_CORE
#define PARM6(regs) PT_REGS_PARM6_CORE(regs)
#elif defined(__TARGET_ARCH_x86)
#define PARM6(regs) BPF_CORE_READ((struct pt_regs *)(regs), r9)
#elif defined(__TARGET_ARCH_arm64)
#define PARM6(regs) BPF_CORE_READ((struct user_pt_regs *)(regs), regs[5])
#else
#define PARM6(regs) 0
#endif

static __always_inline __u64 regs_arg(struct pt_regs *regs, __u32 i)
{
	switch (i) {
	case 0: return PT_REGS_PARM1_CORE(regs);
	case 1: return PT_REGS_PARM2_CORE(regs);
	case 2: return PT_REGS_PARM3_CORE(regs);
	case 3: return PT_REGS_PARM4_CORE(regs);
	case 4: return PT_REGS_PARM5_CORE(regs);
	case 5: return PARM6(regs);
	}
	return 0;
}

/* A word at a location (LOC_RECORD, LOC_REG, LOC_RET, LOC_CONST). */
static __always_inline __u64 read_at(void *ctx, __u32 loc, __u32 at, __u32 size, bool is_signed,
				     __u64 ret, __u64 konst)
{
	__u64 v = 0;

	switch (loc) {
	case VIGIL_POLICY_LOC_RECORD:
		/* 8 bytes whatever the field's size: extend() keeps its own. */
		bpf_probe_read_kernel(&v, sizeof(v), ctx + at);
		break;
	case VIGIL_POLICY_LOC_REG:
		v = regs_arg(ctx, at);
		break;
	case VIGIL_POLICY_LOC_RET:
		v = ret;
		break;
	case VIGIL_POLICY_LOC_CONST:
		return konst;
	case VIGIL_POLICY_LOC_TASK:
		return bpf_get_current_task();
	default:
		return 0;
	}
	return extend(v, size, is_signed);
}

/* The word an argument or a condition starts from. */
static __noinline __u64 read_word(void *ctx, struct vigil_policy_arg *a, __u64 ret)
{
	bool is_signed = a->flags & VIGIL_POLICY_ARG_SIGNED;
	__u32 size = a->size;
	__u64 v, addr;

	if (a->type == VIGIL_POLICY_ARG_CHAR_ARRAY)
		return 0;
	if (a->resolve)
		/* An address to follow (vg_resolve). */
		return read_at(ctx, a->loc, a->offset, 8, false, ret, a->value);
	if (a->type == VIGIL_POLICY_ARG_DATA_LOC)
		size = 4;
	if ((a->flags & VIGIL_POLICY_ARG_DEREF_USER) && a->type != VIGIL_POLICY_ARG_USER_STRUCT) {
		/* The location holds an address: size bytes at address + value. */
		addr = read_at(ctx, a->loc, a->offset, 8, false, ret, 0) + a->value;
		v = 0;
		bpf_probe_read_user(&v, sizeof(v), (void *)addr);
		return extend(v, size, is_signed);
	}
	if (a->type == VIGIL_POLICY_ARG_USER_STRUCT || a->type == VIGIL_POLICY_ARG_STRING ||
	    a->type == VIGIL_POLICY_ARG_KSTRING || a->type == VIGIL_POLICY_ARG_CHAR_BUF ||
	    a->type == VIGIL_POLICY_ARG_PATH_AT || a->type == VIGIL_POLICY_ARG_SOCKADDR ||
	    (a->type >= VIGIL_POLICY_ARG_KFILE && a->type <= VIGIL_POLICY_ARG_KSKB))
		size = 8;	/* addresses */
	v = read_at(ctx, a->loc, a->offset, size, is_signed, ret, a->value);
	if ((a->flags & VIGIL_POLICY_ARG_ERR_ONLY) && (__s64)v > 0)
		v = 0;
	return v;
}

/* A read of `size` bytes (at most 8) of kernel memory, or of user memory. A
 * kernel function's pointer may be a __user one: kernel reads fall back to
 * user memory. */
static __always_inline long resolve_read(void *dst, __u32 size, __u64 addr, bool user)
{
	long err;

	if (user)
		return bpf_probe_read_user(dst, size & 15, (void *)addr);
	err = bpf_probe_read_kernel(dst, size & 15, (void *)addr);
	if (err)
		err = bpf_probe_read_user(dst, size & 15, (void *)addr);
	return err;
}

struct resolve_walk {
	struct vigil_policy_resolve *p;
	__u64 v;
	bool failed;
};

static long resolve_step(__u64 k, void *data)
{
	struct resolve_walk *w = data;
	struct vigil_policy_resolve_step *st;
	__u64 next = 0;

	if (k >= VIGIL_POLICY_RESOLVE_STEPS)
		return 1;
	st = &w->p->steps[k & (VIGIL_POLICY_RESOLVE_STEPS - 1)];
	w->v += st->offset;
	if (!st->deref)
		return 0;
	if (resolve_read(&next, 8, w->v, w->p->user) || !next) {
		w->failed = true;
		return 1;
	}
	w->v = next;
	return 0;
}

/* Follows argument i's resolve path from its word (e->raw[i]) and leaves the
 * member's value or address there: 0, or 1 when a read failed. A global
 * function whose steps are one bpf_loop: verified once, whatever the number
 * of steps, arguments and hooks. */
__noinline int vg_resolve(__u32 i)
{
	struct resolve_walk w = {};
	struct vigil_policy_arg *a;
	struct run r = {};
	__u32 key, n;
	__u64 v;

	if (!run_load(&r) || i >= VIGIL_POLICY_MAX_ARGS)
		return 1;
	barrier_var(i);
	i &= 7;
	key = r.hook_id << 3 | i;
	w.v = r.e->raw[i];
	/* Until it succeeds, no value (capture_one reads 0, the argument is marked ARG_ERROR). */
	r.e->raw[i] = 0;
	w.p = bpf_map_lookup_elem(&arg_resolve, &key);
	if (!w.p)
		return 1;
	n = w.p->nsteps;
	if (n > VIGIL_POLICY_RESOLVE_STEPS)
		n = VIGIL_POLICY_RESOLVE_STEPS;
	bpf_loop(n, resolve_step, &w, 0);
	if (w.failed)
		return 1;
	v = w.v;
	if (w.p->load) {
		__u32 bits = w.p->bits & 63;

		v = 0;
		if (resolve_read(&v, w.p->load, w.v, w.p->user))
			return 1;
		v >>= w.p->shift & 63;
		if (bits) {
			v &= (1ULL << bits) - 1;
			if (w.p->is_signed && ((v >> (bits - 1)) & 1))
				v |= ~0ULL << bits;
		}
		/* The declared integer type's width, as for any argument. */
		a = &r.h->args[i];
		if (a->type == VIGIL_POLICY_ARG_S64 || a->type == VIGIL_POLICY_ARG_U64)
			v = extend(v, a->size, a->flags & VIGIL_POLICY_ARG_SIGNED);
	} else if (!v) {
		return 1;
	}
	r.e->raw[i] = v;
	return 0;
}

#endif /* __VIGIL_POLICY_ARGS_H */
