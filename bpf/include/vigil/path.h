/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Absolute paths of a struct path, built in the kernel at event time.
 *
 * Tracepoint programs may not call bpf_d_path, so this walks what the
 * kernel's prepend_path walks: up d_parent to the mount's root, across to the
 * mount point in the parent mount, until the task's root (fs->root) or the
 * global root. Each step is one bpf_loop (5.17) iteration, so the verifier
 * checks the step once, whatever the depth.
 *
 * Two layouts, same walk:
 *
 *  vigil_path_leaf_first()  components leaf first, each NUL-terminated,
 *      written forwards at buf[start...]: "echo\0bin\0usr\0" is /usr/bin/echo.
 *      Cheapest (one bpf_probe_read_kernel_str a component, no length read);
 *      user space reverses and joins. Used for exec records.
 *
 *  vigil_path_root_first()  the path as text, "/usr/bin/echo", written
 *      BACKWARDS so that it ends at buf[end - 1] (no NUL), like prepend_path
 *      fills the end of its buffer. Returns the length; the path starts at
 *      end - length. The root alone is "/". Use it where the kernel needs the
 *      path in reading order: LPM-trie prefix keys (vigil_path_key_fill), and
 *      resolving a relative name: walk the directory (cwd or a dir fd's file)
 *      so it ends at `end`, then write '/' at buf[end] and the user's string
 *      after it.
 *
 * The caller's buffer and mask: every write is at buf[offset & mask] for up
 * to VIGIL_NAME_MAX + 1 bytes, so buf must hold at least
 * mask + 1 + VIGIL_PATH_SLACK bytes, and mask must be 2^k - 1, a constant the
 * verifier sees (a literal, a const volatile, or a field initialised from
 * one). Offsets the caller passes keep real offsets at or below the mask
 * (start + max <= mask + 1; max <= end <= mask + 1), so masking never changes
 * one; it is there to let the verifier bound each write.
 *
 * Both return the bytes written and OR into *flags: trunc_flag when the path
 * needed more than `max` bytes or VIGIL_PATH_DEPTH steps (the leaf side is
 * kept, the root side is missing: user space should show ".../bin/echo"), or
 * err_flag when there was no path or a name could not be read.
 *
 * A file of an internal mount (pipe, socket, anon inode, memfd) has no mount
 * point; its own dentry name is given alone ("memfd:x", root first "/memfd:x").
 *
 * Where there is no struct path to walk (a name a syscall has not resolved
 * yet, or failed to), the text can still be made canonical lexically:
 *
 *  vigil_path_normalize()  an absolute path held root first at
 *      buf[start .. start + len), rewritten in place: "." components are
 *      dropped, runs of '/' become one, ".." removes the component before it
 *      ("/.." is "/", as the kernel's lookup stays at the root), a trailing
 *      '/' goes ("/" alone stays). Returns the new length (<= len); the path
 *      still starts at buf[start]. "/tmp/../etc//./shadow" is "/etc/shadow".
 *
 *      It looks nothing up, so it cannot know what the kernel would reach
 *      through a symlink or a mount: "/a/link/../x" becomes "/a/x", where
 *      the kernel goes to the parent of link's target; "/a/link" stays
 *      "/a/link" whatever it points to. Only a walk of a struct path (an
 *      opened file's f_path) gives the file the kernel actually reached.
 *      A path whose root side was cut (a walk's trunc_flag) is normalised
 *      as if it started at the root: a ".." cannot climb above the cut.
 *
 *      Contract: buf[start] is '/' and start + len <= mask + 1 (same buffer
 *      and mask rules as the walks: every access is buf[offset & mask]);
 *      otherwise nothing changes, len is returned and err_flag is ORed into
 *      *flags. The text must not hold NUL bytes (a string's length without
 *      its terminator). A scan of eight bytes per bpf_loop iteration first
 *      finds whether there is anything to do (most paths: nothing); then one
 *      byte (or one removed byte) per iteration, at most 2 * len + 2. The
 *      state is in per-CPU map memory as for the walks, so the verifier
 *      checks each step once, whatever the length.
 */
#ifndef __VIGIL_PATH_H
#define __VIGIL_PATH_H

#include "vigil/maps.h"
#include "vigil/process.h"

/* Bytes a buffer needs past mask + 1: the largest single write. */
#define VIGIL_PATH_SLACK (VIGIL_NAME_MAX + 1)

static __always_inline struct mount *vigil_real_mount(struct vfsmount *vfsmnt)
{
	return (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

/*
 * Direct loads (an object built with VIGIL_DIRECT_LOADS, loaded where the
 * kernel has the bpf_rdonly_cast kfunc: 6.2 and later). The walk's
 * pointers live in map memory, where the verifier knows them as numbers;
 * bpf_rdonly_cast gives one back its kernel type (the verifier turns the
 * call into a register move), and its fields are then read with plain
 * loads the kernel guards (a fault reads 0), not a bpf_probe_read_kernel
 * call each: a helper call, and copy_from_kernel_nofault's checks, per
 * field. Objects built without it read every field through the helper.
 */
#ifdef VIGIL_DIRECT_LOADS
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define VIGIL_CAST(ptr, type) ((type *)bpf_rdonly_cast((const void *)(ptr), bpf_core_type_id_kernel(type)))
#endif

/* What vigil_path_measure found. */
struct __vigil_path_measured {
	struct dentry *top;		/* the first component's dentry; NULL: the path is "/" */
	const unsigned char *top_name;	/* its name (d_name.name) and length */
	__u32 top_len;
};

/*
 * One walk in progress. It lives in per-CPU map memory, not on the stack, on
 * purpose: the verifier tracks stack values exactly, so a length that starts
 * at a known 0 and grows each step makes every bpf_loop iteration a new state
 * (the callback never converges and the program is "too large"); values read
 * from a map are unknown to it, so the step is verified in a pass or two.
 * Programs run to completion on their CPU, so one slot serves all walks.
 */
struct __vigil_path_state {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct dentry *mnt_root;	/* vfsmnt's root, read once per mount */
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 pos;		/* leaf first: start; root first: end */
	__u32 len;		/* bytes written so far */
	__u32 max;		/* bytes allowed */
	__u32 done;		/* reached the root */
	__u32 flags;
	__u32 trunc_flag;
	__u32 err_flag;
	__u32 mode;		/* enum __vigil_path_mode */
	struct __vigil_path_measured top;	/* the last component written: the first of the path */
};

enum __vigil_path_mode {
	__VIGIL_PATH_LEAF_FIRST = 0,
	__VIGIL_PATH_ROOT_FIRST = 1,
	__VIGIL_PATH_MEASURE = 2,	/* nothing written: length, flags and top only */
};

VIGIL_INDEXED_MAP(vigil_path_states, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct __vigil_path_state);

/* bpf_loop's context (on the stack): what must stay exact for the verifier. */
struct __vigil_path_walk {
	__u8 *buf;
	struct __vigil_path_state *st;
	__u64 mask;
};

/*
 * A dentry's parent and name in one read: d_parent and d_name (a qstr: hash,
 * len, name) sit next to each other in struct dentry on every kernel Vigil
 * supports, so one bpf_probe_read_kernel of 24 bytes replaces three. The
 * offsets are CO-RE relocated; a layout where they are not within the
 * window takes three reads (the verifier drops the unused branch, the
 * offsets being constants once relocated).
 */
struct __vigil_dentry_head {
	struct dentry *parent;
	const unsigned char *name;
	__u64 hash_len;		/* d_name.hash_len: the name's hash (salted with the parent) and length */
	__u32 len;
};

static __always_inline bool vigil_dentry_head(struct dentry *dentry, struct __vigil_dentry_head *h)
{
#ifdef VIGIL_DIRECT_LOADS
	struct dentry *d = VIGIL_CAST(dentry, struct dentry);

	/* Every dentry has a parent (the root is its own): none is a fault. */
	h->parent = d->d_parent;
	h->len = d->d_name.len;
	h->hash_len = d->d_name.hash_len;
	h->name = d->d_name.name;
	return h->parent != NULL;
#else
	__u64 p = bpf_core_field_offset(struct dentry, d_parent);
	__u64 l = bpf_core_field_offset(struct dentry, d_name.len);
	__u64 hl = bpf_core_field_offset(struct dentry, d_name.hash_len);
	__u64 n = bpf_core_field_offset(struct dentry, d_name.name);
	__u64 w[3];

	if (l >= p + 8 && l + 4 <= p + sizeof(w) && n >= p + 8 && n + 8 <= p + sizeof(w) && !(n & 7) &&
	    !(l & 3) && !(p & 7) && hl >= p + 8 && hl + 8 <= p + sizeof(w) && !(hl & 7)) {
		if (bpf_probe_read_kernel(w, sizeof(w), (void *)dentry + p))
			return false;
		h->parent = (struct dentry *)w[0];
		h->len = *(__u32 *)((void *)w + (l - p));
		h->hash_len = *(__u64 *)((void *)w + (hl - p));
		h->name = (const unsigned char *)*(__u64 *)((void *)w + (n - p));
		return true;
	}
	h->parent = BPF_CORE_READ(dentry, d_parent);
	h->len = BPF_CORE_READ(dentry, d_name.len);
	h->hash_len = BPF_CORE_READ(dentry, d_name.hash_len);
	h->name = BPF_CORE_READ(dentry, d_name.name);
	return true;
#endif
}

/* Writes one component; false when the walk must stop (flags say why). */
static __always_inline bool vigil_path_emit(struct __vigil_path_walk *w, struct dentry *dentry,
					    const struct __vigil_dentry_head *h)
{
	struct __vigil_path_state *st = w->st;
	__u32 n;

	st->top.top = dentry;
	st->top.top_name = h->name;
	st->top.top_len = h->len;
	if (st->mode == __VIGIL_PATH_LEAF_FIRST) {
		long r = bpf_probe_read_kernel_str(w->buf + ((st->pos + st->len) & w->mask),
						   VIGIL_NAME_MAX + 1, h->name);

		if (r <= 0) {
			st->flags |= st->err_flag;
			return false;
		}
		if (st->len + r > st->max) {
			st->flags |= st->trunc_flag;
			return false;
		}
		st->len += r;
		return true;
	}

	/* Root first: name and '/' just before what is already written. */
	n = h->len;
	if (n == 0 || n > VIGIL_NAME_MAX) {
		st->flags |= st->err_flag;
		return false;
	}
	if (st->len + n + 1 > st->max) {
		st->flags |= st->trunc_flag;
		return false;
	}
	if (st->mode == __VIGIL_PATH_MEASURE) {
		st->len += n + 1;
		return true;
	}
	/* The mask where the verifier sees it: the compiler, knowing n's range from the tests above,
	 * would drop it as redundant and test a copy. */
	barrier_var(n);
	if (bpf_probe_read_kernel(w->buf + ((st->pos - st->len - n) & w->mask),
				  n & VIGIL_NAME_MAX, h->name)) {
		st->flags |= st->err_flag;
		return false;
	}
	st->len += n + 1;
	w->buf[(st->pos - st->len) & w->mask] = '/';
	return true;
}

/* One step of prepend_path. Returns 1 to stop. */
static long vigil_path_step(__u64 index, void *ctx)
{
	struct __vigil_path_walk *w = ctx;
	struct __vigil_path_state *st = w->st;
	struct dentry *dentry = st->dentry;
	struct vfsmount *vfsmnt = st->vfsmnt;
	struct __vigil_dentry_head h;

	if (dentry == st->root_dentry && vfsmnt == st->root_mnt)
		goto done;
	if (!vigil_dentry_head(dentry, &h)) {
		st->flags |= st->err_flag;
		return 1;
	}
	if (dentry == st->mnt_root || dentry == h.parent) {
#ifdef VIGIL_DIRECT_LOADS
		struct mount *mnt = VIGIL_CAST(vigil_real_mount(vfsmnt), struct mount);
		struct mount *mnt_parent = mnt->mnt_parent;

		if (mnt != mnt_parent) {
			st->dentry = mnt->mnt_mountpoint;
			st->vfsmnt = (struct vfsmount *)((__u64)mnt_parent +
				bpf_core_field_offset(struct mount, mnt));
			st->mnt_root = mnt_parent->mnt.mnt_root;
			return 0;
		}
#else
		struct mount *mnt = vigil_real_mount(vfsmnt);
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (mnt != mnt_parent) {
			st->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			vfsmnt = (struct vfsmount *)((void *)mnt_parent +
				bpf_core_field_offset(struct mount, mnt));
			st->vfsmnt = vfsmnt;
			st->mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
			return 0;
		}
#endif
		/* The global root (outside the task's root): done. A file of
		 * an internal mount (memfd, pipe: a pseudo dentry that is its
		 * own parent) has no mount point: d_path shows its name alone. */
		if (!st->len && dentry != st->mnt_root)
			vigil_path_emit(w, dentry, &h);
		goto done;
	}
	if (!vigil_path_emit(w, dentry, &h))
		return 1;
	st->dentry = h.parent;
	return 0;
done:
	st->done = 1;
	return 1;
}

/* Runs one walk; returns the bytes written and ORs the flags into *flags. */
static __always_inline __u32 vigil_path_run(__u8 *buf, __u64 mask, __u32 pos, __u32 max,
					    __u32 mode, const struct path *path,
					    const struct path *root, __u32 *flags,
					    __u32 trunc_flag, __u32 err_flag,
					    struct __vigil_path_measured *top, struct dentry *mnt_root)
{
	struct __vigil_path_walk w = { .buf = buf, .mask = mask };
	struct __vigil_path_state *st;
	__u32 zero = 0;

	st = bpf_map_lookup_elem(&vigil_path_states, &zero);
	if (!st) {
		*flags |= err_flag;
		return 0;
	}
	w.st = st;
	st->dentry = path->dentry;
	st->vfsmnt = path->mnt;
	st->mnt_root = NULL;
	st->top.top = NULL;
	st->top.top_name = NULL;
	st->top.top_len = 0;
	st->root_dentry = root->dentry;
	st->root_mnt = root->mnt;
	st->pos = pos;
	st->len = 0;
	st->max = max;
	st->done = 0;
	st->flags = 0;
	st->trunc_flag = trunc_flag;
	st->err_flag = err_flag;
	st->mode = mode;
	if (!st->dentry || !st->vfsmnt) {
		*flags |= err_flag;
		return 0;
	}
	/* path->mnt's root: given (read by the caller through BTF), or one more read. */
#ifdef VIGIL_DIRECT_LOADS
	st->mnt_root = mnt_root ?: VIGIL_CAST(path->mnt, struct vfsmount)->mnt_root;
#else
	st->mnt_root = mnt_root ?: BPF_CORE_READ(path->mnt, mnt_root);
#endif
	bpf_loop(VIGIL_PATH_DEPTH, vigil_path_step, &w, 0);
	if (!st->done && !(st->flags & (trunc_flag | err_flag)))
		st->flags |= trunc_flag;
	*flags |= st->flags;
	if (top)
		*top = st->top;
	return st->len;
}

/*
 * path's components, leaf first and NUL-terminated, at buf[start...], at most
 * max bytes (<= VIGIL_PATH_MAX for the record formats). The root itself is
 * written as nothing (0 bytes).
 */
static __always_inline __u32 vigil_path_leaf_first(__u8 *buf, __u32 mask, __u32 start, __u32 max,
						   const struct path *path, const struct path *root,
						   __u32 *flags, __u32 trunc_flag, __u32 err_flag)
{
	return vigil_path_run(buf, mask, start, max, __VIGIL_PATH_LEAF_FIRST, path, root, flags, trunc_flag,
			      err_flag, NULL, NULL);
}

/*
 * path as "/a/b/c", written so that its last byte is buf[end - 1]; at most
 * max bytes (max <= end). Returns the length: the path is
 * buf[end - len .. end). On error or truncation the part written so far is
 * still a well-formed "/x/y" (the leaf side).
 */
static __always_inline __u32 vigil_path_root_first_in(__u8 *buf, __u32 mask, __u32 end, __u32 max,
						      const struct path *path, struct dentry *mnt_root,
						      const struct path *root, __u32 *flags, __u32 trunc_flag,
						      __u32 err_flag)
{
	__u32 len = vigil_path_run(buf, mask, end, max, __VIGIL_PATH_ROOT_FIRST, path, root, flags,
				   trunc_flag, err_flag, NULL, mnt_root);

	if (!len && max) {
		len = 1;
		buf[(end - 1) & mask] = '/';
	}
	return len;
}

/* vigil_path_root_first_in, path->mnt's root read by the walk. */
static __always_inline __u32 vigil_path_root_first(__u8 *buf, __u32 mask, __u32 end, __u32 max,
						   const struct path *path, const struct path *root,
						   __u32 *flags, __u32 trunc_flag, __u32 err_flag)
{
	return vigil_path_root_first_in(buf, mask, end, max, path, NULL, root, flags, trunc_flag, err_flag);
}

/*
 * The walk of vigil_path_root_first without its writes: what a prefilter
 * needs to decide before paying for the path. Returns the length the path
 * would have, ORs into *flags what the walk would (truncation included),
 * and fills *top with the first component ("etc" of /etc/passwd; top->top
 * NULL for "/"). A step is one read of the dentry (its parent and name
 * together); no name is read. buf and mask as for the walks: nothing is
 * written, but the verifier checks the one step function for every mode.
 */
static __always_inline __u32 vigil_path_measure(__u8 *buf, __u32 mask, const struct path *path,
						const struct path *root, __u32 max,
						struct __vigil_path_measured *top, __u32 *flags,
						__u32 trunc_flag, __u32 err_flag)
{
	return vigil_path_run(buf, mask, max, max, __VIGIL_PATH_MEASURE, path, root, flags, trunc_flag,
			      err_flag, top, NULL);
}

/* vigil_path_measure where the caller knows path->mnt's root (mnt_root). */
static __always_inline __u32 vigil_path_measure_in(__u8 *buf, __u32 mask, const struct path *path,
						   struct dentry *mnt_root, const struct path *root, __u32 max,
						   struct __vigil_path_measured *top, __u32 *flags,
						   __u32 trunc_flag, __u32 err_flag)
{
	return vigil_path_run(buf, mask, max, max, __VIGIL_PATH_MEASURE, path, root, flags, trunc_flag,
			      err_flag, top, mnt_root);
}

/* --- lexical normalisation (vigil_path_normalize) ------------------------ */

/* One normalisation in progress; in map memory for the reason given above
 * struct __vigil_path_state. Output is written over the input, behind it
 * (w <= r), so one buffer serves both. */
struct __vigil_path_norm_state {
	__u32 start;		/* the path's first byte in buf */
	__u32 len;		/* input bytes */
	__u32 r;		/* next input byte */
	__u32 w;		/* output bytes so far */
	__u32 comp;		/* where the component being read starts in the output */
	__u32 pop;		/* removing the component a ".." cancels */
	__u32 done;
	__u32 hit;		/* the scan found "/." or "//" */
};

VIGIL_INDEXED_MAP(vigil_path_norm_states, BPF_MAP_TYPE_PERCPU_ARRAY, 1,
		  struct __vigil_path_norm_state);

struct __vigil_path_norm_walk {
	__u8 *buf;
	struct __vigil_path_norm_state *st;
	__u64 mask;
};

/* One step: one input byte, or one output byte removed by a "..". Returns 1 to stop. */
static long vigil_path_norm_step(__u64 index, void *ctx)
{
	struct __vigil_path_norm_walk *nw = ctx;
	struct __vigil_path_norm_state *st = nw->st;
	__u8 *buf = nw->buf;
	__u64 mask = nw->mask;
	__u32 comp, n;
	__u8 c;

	if (st->pop) {
		/* Back to just after the '/' that starts the cancelled component. */
		if (st->w > 1 && buf[(st->start + st->w - 1) & mask] != '/') {
			st->w -= 1;
			return 0;
		}
		st->pop = 0;
		st->comp = st->w;
		return 0;
	}
	if (st->r > st->len) {
		st->done = 1;
		return 1;
	}
	if (st->r < st->len) {
		c = buf[(st->start + st->r) & mask];
		if (c != '/') {
			buf[(st->start + st->w) & mask] = c;
			st->w += 1;
			st->r += 1;
			return 0;
		}
	}
	/* A '/' or the end: the component output[comp .. w) is complete. */
	comp = st->comp;
	n = st->w - comp;
	if (n == 1 && buf[(st->start + comp) & mask] == '.') {
		st->w = comp;
	} else if (n == 2 && buf[(st->start + comp) & mask] == '.' &&
		   buf[(st->start + comp + 1) & mask] == '.') {
		if (comp > 1) {
			st->w = comp - 1;	/* over the '/' before "..", then its component */
			st->pop = 1;
		} else {
			st->w = 1;		/* "/.." is "/" */
		}
	} else if (n && st->r < st->len) {
		buf[(st->start + st->w) & mask] = '/';
		st->w += 1;
	}
	st->r += 1;
	if (!st->pop)
		st->comp = st->w;
	return 0;
}

/* 1 when the byte c is ch, else 0, without a branch (c < 256). */
#define __VIGIL_IS(c, ch) ((((__u64)(c) ^ (ch)) - 1) >> 63)

/*
 * The scan before the work: most paths hold no "/." and no "//", and then
 * (without a trailing '/') are already normal. Eight pairs of bytes a step,
 * without branches on the bytes, so that the verifier sees one path through
 * the step. Every pair is inside the text: the last step moves back to end
 * at the last byte (it may look at pairs again). Needs len >= 9.
 */
static long vigil_path_norm_scan(__u64 index, void *ctx)
{
	struct __vigil_path_norm_walk *nw = ctx;
	struct __vigil_path_norm_state *st = nw->st;
	__u8 *buf = nw->buf;
	__u64 mask = nw->mask, last = st->len - 1, pos = st->r, hit = 0, c, n;

	if (pos + 8 > last)
		pos = last - 8;
	pos += st->start;
	n = buf[pos & mask];
#pragma unroll
	for (int i = 0; i < 8; i++) {
		c = n;
		n = buf[(pos + i + 1) & mask];
		hit |= __VIGIL_IS(c, '/') & (__VIGIL_IS(n, '.') | __VIGIL_IS(n, '/'));
	}
	st->hit |= hit;
	st->r += 8;
	return st->hit || st->r >= last;
}

/* See the header comment: lexical normalisation of buf[start .. start + len), in place. */
static __always_inline __u32 vigil_path_normalize(__u8 *buf, __u64 mask, __u32 start, __u32 len,
						  __u32 *flags, __u32 err_flag)
{
	struct __vigil_path_norm_walk nw = { .buf = buf, .mask = mask };
	struct __vigil_path_norm_state *st;
	__u32 zero = 0, w;

	if (!len || (__u64)start + len > mask + 1 || buf[start & mask] != '/') {
		*flags |= err_flag;
		return len;
	}
	st = bpf_map_lookup_elem(&vigil_path_norm_states, &zero);
	if (!st) {
		*flags |= err_flag;
		return len;
	}
	nw.st = st;
	st->start = start;
	st->len = len;
	st->r = 0;
	st->hit = 0;
	/* Already normal (no "/.", no "//", no trailing '/'): nothing to do.
	 * Shorter paths go straight to the work: it is short too. */
	if (len >= 9 && bpf_loop(len / 8 + 1, vigil_path_norm_scan, &nw, 0) >= 0 && !st->hit &&
	    buf[(start + len - 1) & mask] != '/')
		return len;
	st->r = 1;
	st->w = 1;
	st->comp = 1;
	st->pop = 0;
	st->done = 0;
	/* 2 * len + 2 steps always finish: len + 1 reads, at most len removals. */
	if (bpf_loop(2 * len + 2, vigil_path_norm_step, &nw, 0) < 0 && st->r == 1) {
		/* Not run: nothing was changed. */
		*flags |= err_flag;
		return len;
	}
	w = st->w;
	if (w > 1 && buf[(start + w - 1) & mask] == '/')
		w -= 1;
	return w;
}

/* The open file behind descriptor fd of task, or NULL. */
static __always_inline struct file *vigil_task_fd_file(struct task_struct *task, long fd)
{
	struct files_struct *files;
	struct fdtable *fdt;
	struct file **fds, *f = NULL;

	if (fd < 0)
		return NULL;
	files = BPF_CORE_READ(task, files);
	fdt = BPF_CORE_READ(files, fdt);
	if ((unsigned long)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
	return f;
}

/*
 * The open file behind the current task's descriptor fd, or NULL: the task,
 * its files and fd table through BTF (bpf_get_current_task_btf, plain loads
 * the kernel guards), the descriptor's slot by one read (an array of
 * pointers has no type to load through). Tracing programs only.
 */
static __always_inline struct file *vigil_current_fd_file(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt;
	struct file *f = NULL;

	if (fd < 0)
		return NULL;
	fdt = task->files->fdt;
	if (!fdt || (unsigned long)fd >= fdt->max_fds)
		return NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]))
		return NULL;
	return f;
}

/* The current task's root (chroot-aware) and working directory. */
static __always_inline void vigil_task_root_pwd(struct task_struct *task, struct path *root,
						struct path *pwd)
{
	BPF_CORE_READ_INTO(root, task, fs, root);
	if (pwd)
		BPF_CORE_READ_INTO(pwd, task, fs, pwd);
}

#ifdef __VIGIL_FILTER_H
/*
 * A root-first path (buf[start .. start + len)) as an LPM-trie key for
 * vigil_filter_*: copied to key->path[0...], NUL padded; a path longer than
 * the key is cut (a prefix of it still matches the filters' prefixes).
 */
static __always_inline void vigil_path_key_fill(struct vigil_path_key *key, const __u8 *buf,
						__u32 mask, __u32 start, __u32 len)
{
	__builtin_memset(key->path, 0, sizeof(key->path));
	if (len > sizeof(key->path) - 1)
		len = sizeof(key->path) - 1;
	bpf_probe_read_kernel(key->path, len & (sizeof(key->path) - 1), buf + (start & mask));
}
#endif

#endif /* __VIGIL_PATH_H */
