// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Capture: an argument's value and its data in the record's blob (strings,
 * buffers, fds resolved to a path or a socket, sockaddrs, paths made
 * absolute against a dirfd, kernel structs).
 *
 * Part of bpf/policy.bpf.c, which includes it once, after the headers it
 * builds on (the order is there). Not for other objects: it defines engine
 * maps, functions or state that an object including it would carry too. */
#ifndef __VIGIL_POLICY_CAPTURE_H
#define __VIGIL_POLICY_CAPTURE_H

/* Appends data to the blob: returns the argument's offset, or -1 when full. */
static __always_inline long blob_pos(struct scratch *s, struct vigil_policy_arg_value *out)
{
	__u32 off = s->ev.data_len;

	if (off >= VIGIL_POLICY_DATA_MAX) {
		out->flags |= VIGIL_POLICY_ARG_NODATA;
		return -1;
	}
	out->off = off;
	return off;
}

static __always_inline void blob_commit(struct scratch *s, struct vigil_policy_arg_value *out, __u32 len)
{
	len &= ARG_MASK;
	out->len = len;
	/* Keep the next argument 8-aligned. */
	s->ev.data_len = out->off + ((len + 7) & ~7u);
}

/* The blob at an offset blob_pos returned (masked: the verifier bounds it). */
#define BLOB_AT(s, off) ((s)->data + ((off) & DATA_MASK))

/* blob_pos for a kernel object's record: -1 also when there is no object
 * (the argument is then marked ERROR). */
static __always_inline long blob_pos_of(struct scratch *s, struct vigil_policy_arg_value *out, const void *obj)
{
	if (!obj) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return -1;
	}
	return blob_pos(s, out);
}

/* Completes a string read into the blob: n is the read's result (its
 * length with the NUL, or an error). */
static __always_inline void blob_commit_str(struct scratch *s, struct vigil_policy_arg_value *out, long n)
{
	if (n <= 0) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return;
	}
	if (n == VIGIL_POLICY_ARG_MAX)
		out->flags |= VIGIL_POLICY_ARG_TRUNC;
	blob_commit(s, out, n - 1);
}

/* A path (root first, ending at e->work[end]) copied into the blob. */
static __always_inline void put_work_path(struct run *r, struct vigil_policy_arg_value *out,
					  __u32 end, __u32 len)
{
	long off = blob_pos(r->s, out);

	if (off < 0)
		return;
	if (len > VIGIL_POLICY_ARG_MAX - 1) {
		len = VIGIL_POLICY_ARG_MAX - 1;
		out->flags |= VIGIL_POLICY_ARG_TRUNC;
	}
	barrier_var(len);
	bpf_probe_read_kernel(r->s->data + (off & DATA_MASK), len & ARG_MASK,
			      r->e->work + ((end - len) & WORK_MASK));
	blob_commit(r->s, out, len);
}

/* A file's path from a walk of ptr (enum walk_kind) into the blob. */
static __always_inline void capture_walked(struct run *r, struct vigil_policy_arg_value *out, __u64 ptr, __u32 kind)
{
	__u32 len;

	out->type = VIGIL_POLICY_ARG_FILE;
	if (!ptr) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return;
	}
	len = vg_walk(ptr, kind);
	out->flags |= r->e->st.walk_flags;
	put_work_path(r, out, DIR_END, len);
}

/* A struct file's path (and flags) into the blob. */
static __always_inline int capture_kfile(struct run *r, struct vigil_policy_arg_value *out, struct file *f)
{
	if (f)
		out->value = (__u64)BPF_CORE_READ(f, f_flags) | ((__u64)BPF_CORE_READ(f, f_inode, i_mode) << 32);
	capture_walked(r, out, (__u64)f, WALK_FILE);
	return 0;
}

static __always_inline int capture_ksock(struct run *r, struct vigil_policy_arg_value *out, struct sock *sk)
{
	long off;

	out->type = VIGIL_POLICY_ARG_SOCK;
	off = blob_pos_of(r->s, out, sk);
	if (off < 0)
		return 0;
	sock_fill((struct vigil_policy_sock *)BLOB_AT(r->s, off), sk);
	blob_commit(r->s, out, sizeof(struct vigil_policy_sock));
	return 0;
}

/* The file or socket at an fd of the current task. */
static __always_inline int capture_fd(struct run *r, struct vigil_policy_arg_value *out, long fd)
{
	struct file *f = fd_file(fd);
	struct socket *sock;

	if (!f) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return capture_kfile(r, out, f);
	sock = BPF_CORE_READ(f, private_data);
	return capture_ksock(r, out, BPF_CORE_READ(sock, sk));
}

/* A user name made absolute against dirfd (AT_FDCWD: the cwd), as file.bpf.c. */
static __always_inline int capture_path_at(struct run *r, struct vigil_policy_arg_value *out,
				       const char *name, long dfd)
{
	struct evalbuf *e = r->e;
	struct file *f = NULL;
	__u32 flags = 0, dlen, ulen, sep, total, start;
	long n, off;

	off = blob_pos(r->s, out);
	if (off < 0)
		return 0;
	n = bpf_probe_read_user_str(r->s->data + (off & DATA_MASK), VIGIL_POLICY_ARG_MAX, name);
	if (n <= 0) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	ulen = n - 1;
	if (ulen && r->s->data[off & DATA_MASK] == '/') {
		/* Absolute already: made canonical in place ("..", ".", "//"). */
		ulen = vigil_path_normalize(r->s->data, DATA_MASK, off, ulen, &flags, VIGIL_POLICY_ARG_ERROR);
		out->flags |= flags;
		blob_commit(r->s, out, ulen);
		return 0;
	}
	if (dfd != AT_FDCWD) {
		f = fd_file(dfd);
		if (!f) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			blob_commit(r->s, out, ulen);
			return 0;
		}
	}
	dlen = vg_walk((__u64)f, f ? WALK_FILE : WALK_CWD);
	out->flags |= e->st.walk_flags;
	if (dlen > VIGIL_POLICY_ARG_MAX - 1)
		dlen = VIGIL_POLICY_ARG_MAX - 1;
	sep = ulen && !(dlen == 1 && e->work[(DIR_END - 1) & WORK_MASK] == '/');
	if (sep)
		e->work[DIR_END] = '/';
	barrier_var(ulen);
	if (ulen)
		bpf_probe_read_kernel(e->work + DIR_END + sep, ulen & ARG_MASK, r->s->data + (off & DATA_MASK));
	total = dlen + sep + ulen;
	start = DIR_END - dlen;
	if (total > VIGIL_POLICY_ARG_MAX - 1) {
		start += total - (VIGIL_POLICY_ARG_MAX - 1);
		total = VIGIL_POLICY_ARG_MAX - 1;
		out->flags |= VIGIL_POLICY_ARG_TRUNC;
	}
	barrier_var(total);
	barrier_var(start);
	bpf_probe_read_kernel(r->s->data + (off & DATA_MASK), total & ARG_MASK, e->work + (start & WORK_MASK));
	/* The directory is the kernel's own path; the name may hold "..", "."
	 * and "//": made canonical in place. */
	if (!(out->flags & VIGIL_POLICY_ARG_TRUNC) && total && r->s->data[off & DATA_MASK] == '/') {
		total = vigil_path_normalize(r->s->data, DATA_MASK, off, total & ARG_MASK, &flags,
					     VIGIL_POLICY_ARG_ERROR);
		out->flags |= flags;
	}
	blob_commit(r->s, out, total);
	return 0;
}

static __always_inline int capture_sockaddr(struct run *r, struct vigil_policy_arg_value *out, const void *uaddr)
{
	struct vigil_policy_sock *o;
	__u16 family = 0;
	long off;

	if (bpf_probe_read_user(&family, sizeof(family), uaddr)) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	out->value = family;
	off = blob_pos(r->s, out);
	if (off < 0)
		return 0;
	if (family == AF_UNIX) {
		__u8 *d = r->s->data + (off & DATA_MASK);
		long n;

		out->type = VIGIL_POLICY_ARG_UNIX;
		n = bpf_probe_read_user_str(d, 108, uaddr + 2);
		if (n == 1) {
			/* Abstract: a NUL then the name; shown with '@'. */
			n = bpf_probe_read_user_str(d + 1, 107, uaddr + 3);
			d[0] = '@';
			n = n > 0 ? n : 1;
		}
		blob_commit(r->s, out, n > 0 ? n - 1 : 0);
		return 0;
	}
	out->type = VIGIL_POLICY_ARG_SOCK;
	o = (struct vigil_policy_sock *)(r->s->data + (off & DATA_MASK));
	__builtin_memset(o, 0, sizeof(*o));
	o->family = family;
	if (family == AF_INET) {
		struct sockaddr_in in = {};

		bpf_probe_read_user(&in, sizeof(in), uaddr);
		o->sport = o->dport = bpf_ntohs(in.sin_port);
		__builtin_memcpy(o->saddr, &in.sin_addr, 4);
		__builtin_memcpy(o->daddr, &in.sin_addr, 4);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 in6 = {};

		bpf_probe_read_user(&in6, sizeof(in6), uaddr);
		o->sport = o->dport = bpf_ntohs(in6.sin6_port);
		__builtin_memcpy(o->saddr, &in6.sin6_addr, 16);
		__builtin_memcpy(o->daddr, &in6.sin6_addr, 16);
	}
	blob_commit(r->s, out, sizeof(*o));
	return 0;
}

static __always_inline int capture_exe(struct run *r, struct vigil_policy_arg_value *out)
{
	struct task_struct *task = r->task;

	capture_kfile(r, out, BPF_CORE_READ(task, mm, exe_file));
	return 0;
}

/* A UAPI struct at a user address (bpf_attr, perf_event_attr), and the user
 * string one of its fields points to (perf_event's kprobe function). */
static __always_inline int capture_user_struct(struct run *r, struct vigil_policy_arg_value *out,
					   struct vigil_policy_arg *a, __u64 addr)
{
	__u32 size = a->size;
	__u64 str = 0;
	long off = blob_pos(r->s, out);
	long n;

	if (off < 0)
		return 0;
	if (size > 255)
		size = 255;
	barrier_var(size);
	if (bpf_probe_read_user(r->s->data + (off & DATA_MASK), size & 255, (void *)addr)) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	out->value = size;
	if (a->value && a->value + 8 <= size &&
	    !bpf_probe_read_kernel(&str, sizeof(str), r->s->data + ((off + a->value) & DATA_MASK)) && str) {
		n = bpf_probe_read_user_str(r->s->data + ((off + size) & DATA_MASK), 256, (void *)str);
		if (n > 1) {
			blob_commit(r->s, out, size + n - 1);
			return 0;
		}
	}
	blob_commit(r->s, out, size);
	return 0;
}

/* An skb's addresses and ports from its network and transport headers. */
static __always_inline int capture_kskb(struct run *r, struct vigil_policy_arg_value *out, struct sk_buff *skb)
{
	struct vigil_policy_sock *o;
	unsigned char *head;
	__u16 nh, th, proto;
	__u8 version = 0, l4 = 0;
	__u16 ports[2] = {};
	long off;

	out->type = VIGIL_POLICY_ARG_SOCK;
	off = blob_pos_of(r->s, out, skb);
	if (off < 0)
		return 0;
	o = (struct vigil_policy_sock *)BLOB_AT(r->s, off);
	__builtin_memset(o, 0, sizeof(*o));
	out->value = BPF_CORE_READ(skb, len);
	head = BPF_CORE_READ(skb, head);
	nh = BPF_CORE_READ(skb, network_header);
	th = BPF_CORE_READ(skb, transport_header);
	proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	bpf_probe_read_kernel(&version, 1, head + nh);
	version >>= 4;
	if (version == 4) {
		o->family = AF_INET;
		bpf_probe_read_kernel(&l4, 1, head + nh + 9);
		bpf_probe_read_kernel(o->saddr, 4, head + nh + 12);
		bpf_probe_read_kernel(o->daddr, 4, head + nh + 16);
	} else if (version == 6) {
		o->family = AF_INET6;
		bpf_probe_read_kernel(&l4, 1, head + nh + 6);
		bpf_probe_read_kernel(o->saddr, 16, head + nh + 8);
		bpf_probe_read_kernel(o->daddr, 16, head + nh + 24);
	} else {
		o->type = proto;
	}
	o->protocol = l4;
	if ((l4 == 6 || l4 == 17) && th != (__u16)~0U && th != nh) {
		bpf_probe_read_kernel(ports, sizeof(ports), head + th);
		o->sport = bpf_ntohs(ports[0]);
		o->dport = bpf_ntohs(ports[1]);
	}
	blob_commit(r->s, out, sizeof(*o));
	return 0;
}

static __always_inline int capture_kcred(struct run *r, struct vigil_policy_arg_value *out, const struct cred *cred)
{
	struct vigil_policy_cred *c;
	kernel_cap_t k = {};
	long off;

	out->type = VIGIL_POLICY_ARG_CRED;
	off = blob_pos_of(r->s, out, cred);
	if (off < 0)
		return 0;
	c = (struct vigil_policy_cred *)BLOB_AT(r->s, off);
	c->uid = BPF_CORE_READ(cred, uid.val);
	c->gid = BPF_CORE_READ(cred, gid.val);
	c->euid = BPF_CORE_READ(cred, euid.val);
	c->egid = BPF_CORE_READ(cred, egid.val);
	c->suid = BPF_CORE_READ(cred, suid.val);
	c->sgid = BPF_CORE_READ(cred, sgid.val);
	c->fsuid = BPF_CORE_READ(cred, fsuid.val);
	c->fsgid = BPF_CORE_READ(cred, fsgid.val);
	BPF_CORE_READ_INTO(&k, cred, cap_effective);
	c->cap_effective = *(__u64 *)&k;
	BPF_CORE_READ_INTO(&k, cred, cap_permitted);
	c->cap_permitted = *(__u64 *)&k;
	BPF_CORE_READ_INTO(&k, cred, cap_inheritable);
	c->cap_inheritable = *(__u64 *)&k;
	c->user_ns = BPF_CORE_READ(cred, user_ns, ns.inum);
	c->securebits = BPF_CORE_READ(cred, securebits);
	blob_commit(r->s, out, sizeof(*c));
	return 0;
}

static __always_inline int capture_kuserns(struct run *r, struct vigil_policy_arg_value *out, struct user_namespace *ns)
{
	struct vigil_policy_user_ns *u;
	long off;

	off = blob_pos_of(r->s, out, ns);
	if (off < 0)
		return 0;
	u = (struct vigil_policy_user_ns *)BLOB_AT(r->s, off);
	u->level = BPF_CORE_READ(ns, level);
	u->uid = BPF_CORE_READ(ns, owner.val);
	u->gid = BPF_CORE_READ(ns, group.val);
	u->inum = BPF_CORE_READ(ns, ns.inum);
	blob_commit(r->s, out, sizeof(*u));
	return 0;
}

/* A kernel BPF object as union bpf_attr's BPF_PROG_LOAD / BPF_MAP_CREATE
 * fields (72 bytes): prog_type, insn_cnt, prog_name at 48; map_type,
 * key_size, value_size, max_entries, map_name at 28. */
#define KBPF_SIZE 72

static __always_inline int capture_kbpf(struct run *r, struct vigil_policy_arg_value *out, __u16 type, __u64 ptr)
{
	__u8 *d;
	long off;

	out->type = VIGIL_POLICY_ARG_USER_STRUCT;
	out->value = KBPF_SIZE;
	off = blob_pos_of(r->s, out, (const void *)ptr);
	if (off < 0)
		return 0;
	d = BLOB_AT(r->s, off);
	__builtin_memset(d, 0, KBPF_SIZE);
	if (type == VIGIL_POLICY_ARG_KBPF_ATTR) {
		bpf_probe_read_kernel(d, KBPF_SIZE, (void *)ptr);
	} else if (type == VIGIL_POLICY_ARG_KBPF_MAP) {
		struct bpf_map *m = (struct bpf_map *)ptr;

		*(__u32 *)(d + 0) = BPF_CORE_READ(m, map_type);
		*(__u32 *)(d + 4) = BPF_CORE_READ(m, key_size);
		*(__u32 *)(d + 8) = BPF_CORE_READ(m, value_size);
		*(__u32 *)(d + 12) = BPF_CORE_READ(m, max_entries);
		bpf_core_read(d + 28, 16, &m->name);
	} else {
		struct bpf_prog *p = (struct bpf_prog *)ptr;
		struct bpf_prog_aux *aux = BPF_CORE_READ(p, aux);

		*(__u32 *)(d + 0) = BPF_CORE_READ(p, type);
		*(__u32 *)(d + 4) = BPF_CORE_READ(p, len);
		if (aux)
			bpf_core_read(d + 48, 16, &aux->name);
	}
	blob_commit(r->s, out, KBPF_SIZE);
	return 0;
}

/* One argument's value and data from its word. At the entry of a hook judged
 * at exit, arguments read at the exit (the return value, returnCopy buffers)
 * are only marked PENDING; `exit` completes them. */
static __always_inline int capture_one(struct run *r, __u32 i, __u64 raw, bool exit)
{
	struct vigil_policy_arg *a;
	struct vigil_policy_arg_value *out;
	long off, n;
	__u32 size;

	if (i >= VIGIL_POLICY_MAX_ARGS)
		return 0;
	a = &r->h->args[i];
	out = &r->s->ev.args[i];
	if (!exit) {
		out->type = a->type;
		out->flags = 0;
		out->off = 0;
		out->len = 0;
		out->value = raw;
		/* Read at the exit: the return value, returnCopy buffers, and the
		 * task's credentials and executable (which the syscall may change:
		 * set*id, capset, execve). */
		if ((r->h->flags & VIGIL_POLICY_HOOK_AT_EXIT) &&
		    (a->loc == VIGIL_POLICY_LOC_RET ||
		     (a->type == VIGIL_POLICY_ARG_CHAR_BUF && a->size_loc == VIGIL_POLICY_LOC_RET) ||
		     a->type == VIGIL_POLICY_ARG_CRED || a->type == VIGIL_POLICY_ARG_CURRENT_EXE ||
		     a->type == VIGIL_POLICY_ARG_CURRENT_CWD)) {
			out->flags = VIGIL_POLICY_ARG_PENDING;
			return 0;
		}
	} else {
		out->flags &= ~VIGIL_POLICY_ARG_PENDING;
	}

	switch (a->type) {
	case VIGIL_POLICY_ARG_S64:
	case VIGIL_POLICY_ARG_U64:
		out->value = raw;
		break;
	case VIGIL_POLICY_ARG_STRING:
	case VIGIL_POLICY_ARG_KSTRING:
		off = blob_pos(r->s, out);
		if (off < 0)
			break;
		if (a->type == VIGIL_POLICY_ARG_STRING)
			n = bpf_probe_read_user_str(r->s->data + (off & DATA_MASK), VIGIL_POLICY_ARG_MAX,
						    (void *)raw);
		else
			n = bpf_probe_read_kernel_str(r->s->data + (off & DATA_MASK), VIGIL_POLICY_ARG_MAX,
						      (void *)raw);
		/* A kernel function's char * may be a user one (__user). */
		if (n <= 0 && a->type == VIGIL_POLICY_ARG_KSTRING)
			n = bpf_probe_read_user_str(r->s->data + (off & DATA_MASK), VIGIL_POLICY_ARG_MAX,
						    (void *)raw);
		if (n > 0)
			out->value = 0;
		blob_commit_str(r->s, out, n);
		break;
	case VIGIL_POLICY_ARG_DATA_LOC:
	case VIGIL_POLICY_ARG_CHAR_ARRAY: {
		__u32 at = a->offset;

		size = a->size;
		if (a->type == VIGIL_POLICY_ARG_DATA_LOC) {
			at = raw & 0xffff;
			size = raw >> 16;
		}
		if (size > VIGIL_POLICY_ARG_MAX - 1)
			size = VIGIL_POLICY_ARG_MAX - 1;
		out->value = 0;
		off = blob_pos(r->s, out);
		if (off < 0 || !size)
			break;
		barrier_var(size);
		n = bpf_probe_read_kernel_str(r->s->data + (off & DATA_MASK), size & ARG_MASK,
					      r->ctx + (at & 0xffff));
		/* At most ARG_MAX - 1 bytes: never cut. */
		blob_commit_str(r->s, out, n);
		break;
	}
	case VIGIL_POLICY_ARG_CHAR_BUF: {
		__u64 addr = raw, want;

		if (a->size_loc == VIGIL_POLICY_LOC_RET && exit) {
			/* At the exit: raw is the return value, the address was kept. */
			addr = out->value;
			want = (__s64)raw > 0 ? raw : 0;
		} else if (a->size_loc == VIGIL_POLICY_LOC_RET) {
			/* fexit: the return value is known at once. */
			want = r->e->st.ret > 0 ? r->e->st.ret : 0;
		} else if (a->size_loc) {
			want = read_at(r->ctx, a->size_loc, a->size_at, a->size_size, false, 0, 0);
		} else {
			want = a->max_data ? a->max_data : VIGIL_POLICY_ARG_MAX - 1;
		}
		out->value = want;
		size = want;
		if (a->max_data && size > a->max_data)
			size = a->max_data;
		if (size > VIGIL_POLICY_ARG_MAX - 1) {
			size = VIGIL_POLICY_ARG_MAX - 1;
			out->flags |= VIGIL_POLICY_ARG_TRUNC;
		}
		off = blob_pos(r->s, out);
		if (off < 0 || !size)
			break;
		barrier_var(size);
		if (bpf_probe_read_user(r->s->data + (off & DATA_MASK), size & ARG_MASK, (void *)addr)) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			break;
		}
		blob_commit(r->s, out, size);
		break;
	}
	case VIGIL_POLICY_ARG_FD:
		out->value = (__u64)(__s64)(__s32)raw;
		capture_fd(r, out, (__s32)raw);
		break;
	case VIGIL_POLICY_ARG_PATH_AT: {
		long dfd = AT_FDCWD;

		if (a->dirfd_loc)
			dfd = (__s32)read_at(r->ctx, a->dirfd_loc, a->dirfd_at, 4, true, 0, 0);
		out->value = 0;
		capture_path_at(r, out, (const char *)raw, dfd);
		break;
	}
	case VIGIL_POLICY_ARG_SOCKADDR:
		capture_sockaddr(r, out, (const void *)raw);
		break;
	case VIGIL_POLICY_ARG_CRED: {
		struct task_struct *task = r->task;

		out->value = 0;
		capture_kcred(r, out, BPF_CORE_READ(task, real_cred));
		break;
	}
	case VIGIL_POLICY_ARG_CURRENT_EXE:
		out->value = 0;
		capture_exe(r, out);
		break;
	case VIGIL_POLICY_ARG_USER_STRUCT:
		out->value = 0;
		capture_user_struct(r, out, a, raw);
		break;
	case VIGIL_POLICY_ARG_KFILE:
	case VIGIL_POLICY_ARG_KBINPRM:
	case VIGIL_POLICY_ARG_KKIOCB: {
		/* A struct file, or the one a linux_binprm or a kiocb holds. */
		struct file *f = (struct file *)raw;

		if (raw && a->type == VIGIL_POLICY_ARG_KBINPRM)
			f = BPF_CORE_READ((struct linux_binprm *)raw, file);
		else if (raw && a->type == VIGIL_POLICY_ARG_KKIOCB)
			f = BPF_CORE_READ((struct kiocb *)raw, ki_filp);
		out->value = 0;
		capture_kfile(r, out, f);
		break;
	}
	case VIGIL_POLICY_ARG_KSOCK:
	case VIGIL_POLICY_ARG_KSOCKET: {
		/* A struct sock, or the one a struct socket holds. */
		struct sock *sk = (struct sock *)raw;

		if (raw && a->type == VIGIL_POLICY_ARG_KSOCKET)
			sk = BPF_CORE_READ((struct socket *)raw, sk);
		out->value = 0;
		capture_ksock(r, out, sk);
		break;
	}
	case VIGIL_POLICY_ARG_KCRED:
		out->value = 0;
		capture_kcred(r, out, (const struct cred *)raw);
		break;
	case VIGIL_POLICY_ARG_KUSER_NS:
		out->value = 0;
		capture_kuserns(r, out, (struct user_namespace *)raw);
		break;
	case VIGIL_POLICY_ARG_KSKB:
		out->value = 0;
		capture_kskb(r, out, (struct sk_buff *)raw);
		break;
	case VIGIL_POLICY_ARG_CURRENT_CWD: {
		/* The struct path inside the task's fs_struct (set_fs_pwd's). */
		struct task_struct *task = r->task;
		struct fs_struct *fs = BPF_CORE_READ(task, fs);

		out->value = 0;
		capture_walked(r, out, fs ? (__u64)fs + bpf_core_field_offset(struct fs_struct, pwd) : 0, WALK_PATH);
		break;
	}
	case VIGIL_POLICY_ARG_USER_CAPS: {
		/* Version 1 headers carry one 32-bit set; versions 2 and 3 two. */
		__u64 hdr = read_at(r->ctx, a->size_loc, a->size_at, 8, false, 0, 0);
		__u32 off = (__u32)a->value & 15, ver = 0, lo = 0, hi = 0;

		out->type = VIGIL_POLICY_ARG_U64;
		out->value = 0;
		if (bpf_probe_read_user(&ver, sizeof(ver), (void *)hdr) ||
		    bpf_probe_read_user(&lo, sizeof(lo), (void *)raw + off)) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			break;
		}
		if (ver != 0x19980330 &&
		    bpf_probe_read_user(&hi, sizeof(hi), (void *)raw + 12 + off)) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			break;
		}
		out->value = lo | (__u64)hi << 32;
		break;
	}
	case VIGIL_POLICY_ARG_KPATH:
		out->value = 0;
		capture_walked(r, out, raw, WALK_PATH);
		break;
	case VIGIL_POLICY_ARG_KBPF_ATTR:
	case VIGIL_POLICY_ARG_KBPF_MAP:
	case VIGIL_POLICY_ARG_KBPF_PROG:
		capture_kbpf(r, out, a->type, raw);
		break;
	case VIGIL_POLICY_ARG_KFILENAME: {
		struct filename *fname = (struct filename *)raw;
		const char *name = fname ? BPF_CORE_READ(fname, name) : NULL;

		out->type = VIGIL_POLICY_ARG_KSTRING;
		out->value = 0;
		off = blob_pos(r->s, out);
		if (off < 0)
			break;
		n = bpf_probe_read_kernel_str(r->s->data + (off & DATA_MASK), VIGIL_POLICY_ARG_MAX, name);
		blob_commit_str(r->s, out, n);
		break;
	}
	default:
		out->type = VIGIL_POLICY_ARG_NONE;
		break;
	}
	return 0;
}

/* One argument captured (exit: completed from the return value). */
__noinline int vg_capture(__u32 i, __u32 exit)
{
	struct run r = {};
	__u64 raw;

	if (!run_load(&r) || i >= VIGIL_POLICY_MAX_ARGS)
		return 0;
	/* The compiler may bound a copy and index with the original. */
	barrier_var(i);
	i &= 7;
	if (exit) {
		if (!(r.s->ev.args[i].flags & VIGIL_POLICY_ARG_PENDING))
			return 0;
		raw = r.s->ev.ret;
	} else {
		raw = read_word(r.ctx, &r.h->args[i], r.e->st.ret);
		r.e->raw[i] = raw;
		r.e->resolve_failed = 0;
		/* Kept in map memory, not on the stack: a flag live across the
		 * capture below would make the verifier walk it once per value. */
		if (r.h->args[i].resolve) {
			r.e->resolve_failed = vg_resolve(i);
			raw = r.e->raw[i];
		}
	}
	/* Inlined, one call site: a static function's unused result may be
	 * compiled away, leaving whatever was in R0 (the verifier refuses a
	 * stack pointer there). */
	capture_one(&r, i, raw, exit);
	if (!exit && r.e->resolve_failed)
		r.s->ev.args[i].flags |= VIGIL_POLICY_ARG_ERROR;
	return 0;
}

#endif /* __VIGIL_POLICY_CAPTURE_H */
