// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* L7 capture from the syscall tracepoints (bpf/include/vigil/l7.h): no
 * kprobes, so it runs on every kernel with BTF.
 *
 * Entry (one program per call): the descriptor must be a TCP socket
 * (AF_INET/AF_INET6, SOCK_STREAM) that is not already known to speak
 * something else; the task filters pass; the buffer (or iovec array, or
 * msghdr) and the socket are stashed under the thread id.
 *
 * Exit (one program, attached to every call's exit): a call that moved
 * bytes gets its connection's entry (created on first sight). A connection
 * whose protocol is not known yet has its first bytes matched against the
 * protocols asked for (HTTP/1.x, Redis RESP, PostgreSQL); after
 * VIGIL_L7_INFER_TRIES calls without a match it is marked NONE and its
 * calls cost one lookup from then on. For a known protocol, the first
 * capture_bytes of the bytes moved go to the ring with the call's times, its
 * size and the connection's ends.
 *
 * close(): the connection's entry is removed and user space told (of those
 * it has data of). The table
 * is an LRU hash: a connection whose close was not seen (its process exited,
 * or the descriptor was passed on) ages out; evictions are what user space
 * counts as new minus closed minus live entries.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "vigil/maps.h"
#include "vigil/ringbuf.h"
#include "vigil/filter.h"
#include "vigil/path.h"
#include "vigil/l7.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

VIGIL_KEEP_TYPES(enum vigil_l7_limits, enum vigil_l7_kind, enum vigil_l7_proto, enum vigil_l7_dir,
		 enum vigil_l7_call, enum vigil_l7_counter, struct vigil_l7_event);

/* Bytes of each call's data sent to user space (at most VIGIL_L7_DATA_MAX). */
const volatile __u32 capture_bytes = 1024;
/* Protocols to follow: bit (1 << enum vigil_l7_proto). */
const volatile __u32 protocols = (1 << VIGIL_L7_PROTO_HTTP) | (1 << VIGIL_L7_PROTO_REDIS) |
				 (1 << VIGIL_L7_PROTO_PGSQL);

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define DATA_MASK (VIGIL_L7_DATA_MAX - 1)
#define PEEK 16

_Static_assert((VIGIL_L7_DATA_MAX & DATA_MASK) == 0, "data size is 2^k");
_Static_assert(sizeof(struct vigil_l7_event) % 8 == 0, "data starts 8-aligned");

/* How the call's bytes are given. */
enum buf_kind { BUF_PLAIN = 0, BUF_IOV = 1, BUF_MSG = 2, BUF_NONE = 3 };

/* A call in flight. */
struct l7_stash {
	__u64 sk;
	__u64 ptr;		/* buffer, iovec array or msghdr */
	__u64 enter_ns;
	__u32 iovcnt;
	__u8 call;
	__u8 dir;
	__u8 buf;		/* enum buf_kind */
	__u8 pad;
};

struct l7_conn {
	__u8 proto;
	__u8 tries;
};

struct l7_scratch {
	struct vigil_l7_event ev;
	__u8 data[2 * VIGIL_L7_DATA_MAX];
};

VIGIL_INDEXED_MAP(l7_scratch, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct l7_scratch);
/* Calls in flight, by thread id. */
VIGIL_KEYED_MAP(l7_stash, BPF_MAP_TYPE_HASH, 8192, __u32, struct l7_stash);
/* Connections, by struct sock address. Resized from user space (maxConnections). */
VIGIL_KEYED_MAP(l7_conns, BPF_MAP_TYPE_LRU_HASH, 16384, __u64, struct l7_conn);
VIGIL_INDEXED_MAP(l7_counters, BPF_MAP_TYPE_PERCPU_ARRAY, VIGIL_L7_COUNTERS, __u64);
/* Resized from user space before load (ringBytes). */
VIGIL_RING_MAP(events, 4 * 1024 * 1024);

/* The TCP socket behind fd of the current task, or NULL. */
static __always_inline struct sock *tcp_sock_of(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file *f = vigil_task_fd_file(task, fd);
	struct socket *so;
	struct sock *sk;
	__u16 family;

	if (!f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	so = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	if (BPF_CORE_READ(sk, sk_type) != SOCK_STREAM)
		return NULL;
	return sk;
}

static __always_inline int l7_enter(__u8 call, __u8 dir, long fd, __u64 ptr, __u64 iovcnt, __u8 buf)
{
	struct l7_stash s = {};
	struct l7_conn *c;
	struct sock *sk;
	__u64 key;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	sk = tcp_sock_of(fd);
	if (!sk)
		return 0;
	key = (__u64)sk;
	c = bpf_map_lookup_elem(&l7_conns, &key);
	if (c && c->proto == VIGIL_L7_PROTO_NONE)
		return 0;
	if (!vigil_filter_pass())
		return 0;
	s.sk = key;
	s.ptr = ptr;
	s.enter_ns = bpf_ktime_get_boot_ns();
	s.iovcnt = iovcnt;
	s.call = call;
	s.dir = dir;
	s.buf = buf;
	if (bpf_map_update_elem(&l7_stash, &tid, &s, BPF_ANY))
		vigil_count(&l7_counters, VIGIL_L7_STASH_FULL);
	return 0;
}

static __always_inline bool is_digit(__u8 c)
{
	return c >= '0' && c <= '9';
}

static __always_inline __u32 be32(const __u8 *b)
{
	return ((__u32)b[0] << 24) | ((__u32)b[1] << 16) | ((__u32)b[2] << 8) | b[3];
}

/* The protocol of a connection's first bytes (size: all the call moved), or UNKNOWN. */
static __always_inline __u8 infer(const __u8 *b, __u32 size)
{
	if (size >= 8) {
		/* HTTP/1.x: a request line's method, or a status line. */
		if ((b[0] == 'G' && b[1] == 'E' && b[2] == 'T' && b[3] == ' ') ||
		    (b[0] == 'P' && b[1] == 'O' && b[2] == 'S' && b[3] == 'T' && b[4] == ' ') ||
		    (b[0] == 'P' && b[1] == 'U' && b[2] == 'T' && b[3] == ' ') ||
		    (b[0] == 'H' && b[1] == 'E' && b[2] == 'A' && b[3] == 'D' && b[4] == ' ') ||
		    (b[0] == 'D' && b[1] == 'E' && b[2] == 'L' && b[3] == 'E' && b[4] == 'T') ||
		    (b[0] == 'P' && b[1] == 'A' && b[2] == 'T' && b[3] == 'C' && b[4] == 'H') ||
		    (b[0] == 'O' && b[1] == 'P' && b[2] == 'T' && b[3] == 'I' && b[4] == 'O') ||
		    (b[0] == 'H' && b[1] == 'T' && b[2] == 'T' && b[3] == 'P' && b[4] == '/' &&
		     b[5] == '1' && b[6] == '.'))
			return VIGIL_L7_PROTO_HTTP;
		/* PostgreSQL: a startup message (protocol 3.0), an SSL or GSS
		 * encryption request (length, then the code), or a simple query
		 * that is the whole call. */
		{
			__u32 len = be32(b), code = be32(b + 4);

			if ((len == size && code == 196608) ||
			    (len == 8 && (code == 80877103 || code == 80877104)))
				return VIGIL_L7_PROTO_PGSQL;
			if (b[0] == 'Q' && be32(b + 1) + 1 == size && be32(b + 1) >= 5)
				return VIGIL_L7_PROTO_PGSQL;
		}
	}
	/* Redis: a command, an array of bulk strings ("*2\r\n$3\r\nGET..."). */
	if (size >= 6 && b[0] == '*' && is_digit(b[1]) &&
	    ((b[2] == '\r' && b[3] == '\n' && b[4] == '$') ||
	     (is_digit(b[2]) && b[3] == '\r' && b[4] == '\n' && b[5] == '$')))
		return VIGIL_L7_PROTO_REDIS;
	return VIGIL_L7_PROTO_UNKNOWN;
}

/* The first iovec of an iovec array (BUF_IOV) or a msghdr (BUF_MSG); count in *n. */
static __always_inline const struct iovec *iov_of(const struct l7_stash *s, __u64 *n)
{
	struct user_msghdr mh = {};

	if (s->buf == BUF_IOV) {
		*n = s->iovcnt;
		return (const struct iovec *)s->ptr;
	}
	if (bpf_probe_read_user(&mh, sizeof(mh), (const void *)s->ptr))
		return NULL;
	*n = mh.msg_iovlen;
	return mh.msg_iov;
}

/* Copies the first `want` bytes the call moved to dst; returns how many. */
static __always_inline __u32 copy_data(__u8 *dst, const struct l7_stash *s, __u32 want)
{
	const struct iovec *iov;
	__u64 n = 0;
	__u32 off = 0;

	if (want > VIGIL_L7_DATA_MAX)
		want = VIGIL_L7_DATA_MAX;
	if (s->buf == BUF_PLAIN) {
		barrier_var(want);
		if (want > VIGIL_L7_DATA_MAX)
			return 0;
		if (bpf_probe_read_user(dst, want, (const void *)s->ptr))
			return 0;
		return want;
	}
	if (s->buf == BUF_NONE)
		return 0;
	iov = iov_of(s, &n);
	if (!iov)
		return 0;
	for (int i = 0; i < VIGIL_L7_IOV_MAX; i++) {
		struct iovec v;
		__u64 len;
		__u32 at;

		if (i >= n || off >= want)
			break;
		if (bpf_probe_read_user(&v, sizeof(v), iov + i))
			break;
		len = v.iov_len;
		if (len > want - off)
			len = want - off;
		/* Offset and length each bounded where the verifier sees it:
		 * data has room for DATA_MAX bytes past any offset below DATA_MAX. */
		at = off & DATA_MASK;
		barrier_var(at);
		len &= (2 * VIGIL_L7_DATA_MAX - 1);
		barrier_var(len);
		if (!len || len > VIGIL_L7_DATA_MAX)
			continue;
		if (bpf_probe_read_user(dst + at, len, v.iov_base))
			break;
		off += len;
	}
	return off;
}

/* The first PEEK bytes (at most `n`) of the call's data, for inference: the
 * first iovec's alone (a request line or a command starts a buffer). */
static __always_inline void peek_data(__u8 *dst, const struct l7_stash *s, __u64 n)
{
	const struct iovec *iov;
	struct iovec v;
	__u64 cnt = 0;

	if (n > PEEK)
		n = PEEK;
	if (s->buf == BUF_PLAIN) {
		bpf_probe_read_user(dst, n & (PEEK - 1 + PEEK), (const void *)s->ptr);
		return;
	}
	iov = iov_of(s, &cnt);
	if (!iov || !cnt || bpf_probe_read_user(&v, sizeof(v), iov))
		return;
	if (n > v.iov_len)
		n = v.iov_len;
	bpf_probe_read_user(dst, n & (PEEK - 1 + PEEK), v.iov_base);
}

/* Fills the connection's ends from the socket. */
static __always_inline void fill_ends(struct vigil_l7_event *ev, struct sock *sk)
{
	ev->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	ev->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__builtin_memset(ev->laddr, 0, sizeof(ev->laddr));
	__builtin_memset(ev->raddr, 0, sizeof(ev->raddr));
	if (ev->family == AF_INET) {
		bpf_core_read(ev->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(ev->raddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(ev->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(ev->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

static __always_inline void fill_task(struct vigil_l7_event *ev)
{
	__u64 id = bpf_get_current_pid_tgid();

	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
}

SEC("tracepoint/syscalls/sys_exit_read")
int l7_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct l7_scratch *sc;
	struct l7_stash *s;
	struct l7_conn *c, fresh = {};
	struct vigil_l7_event *ev;
	__u32 zero = 0, tid = (__u32)bpf_get_current_pid_tgid(), want, got;
	long ret = ctx->ret;
	__u64 key;

	s = bpf_map_lookup_elem(&l7_stash, &tid);
	if (!s)
		return 0;
	if (ret <= 0)
		goto out;
	key = s->sk;
	c = bpf_map_lookup_elem(&l7_conns, &key);
	if (!c) {
		if (bpf_map_update_elem(&l7_conns, &key, &fresh, BPF_NOEXIST) == 0)
			vigil_count(&l7_counters, VIGIL_L7_CONN_NEW);
		c = bpf_map_lookup_elem(&l7_conns, &key);
		if (!c)
			goto out;
	}
	sc = bpf_map_lookup_elem(&l7_scratch, &zero);
	if (!sc)
		goto out;
	if (c->proto == VIGIL_L7_PROTO_UNKNOWN) {
		__u8 p;

		if (s->buf == BUF_NONE)
			goto out;
		__builtin_memset(sc->data, 0, PEEK);
		peek_data(sc->data, s, ret);
		p = infer(sc->data, ret);
		if (p == VIGIL_L7_PROTO_UNKNOWN && ++c->tries < VIGIL_L7_INFER_TRIES)
			goto out;
		if (p == VIGIL_L7_PROTO_UNKNOWN || !(protocols & (1 << p))) {
			c->proto = VIGIL_L7_PROTO_NONE;
			vigil_count(&l7_counters, VIGIL_L7_CONN_NOT_L7);
			goto out;
		}
		c->proto = p;
	}
	if (c->proto == VIGIL_L7_PROTO_NONE)
		goto out;
	ev = &sc->ev;
	ev->kind = VIGIL_L7_DATA;
	ev->proto = c->proto;
	ev->dir = s->dir;
	ev->call = s->call;
	ev->pad0 = 0;
	ev->pad1 = 0;
	ev->conn = key;
	ev->enter_ns = s->enter_ns;
	ev->exit_ns = bpf_ktime_get_boot_ns();
	fill_task(ev);
	fill_ends(ev, (struct sock *)key);
	ev->size = ret;
	want = capture_bytes < (__u64)ret ? capture_bytes : ret;
	if (want < (__u64)ret)
		vigil_count(&l7_counters, VIGIL_L7_DATA_CUT);
	got = copy_data(sc->data, s, want);
	if (got < want && s->buf != BUF_NONE)
		vigil_count(&l7_counters, VIGIL_L7_READ_FAILED);
	/* got <= capture_bytes <= DATA_MAX; the mask shows the verifier a bound. */
	got &= 2 * VIGIL_L7_DATA_MAX - 1;
	barrier_var(got);
	ev->data_len = got;
	vigil_output(&events, 0, sc, sizeof(*ev) + got);
out:
	bpf_map_delete_elem(&l7_stash, &tid);
	return 0;
}

/* The entry of syscall `name`(fd, buffer or vector or message, [vector length]):
 * what l7_exit needs, stashed by thread. */
#define L7_ENTER_PROBE(name, call, dir, iovcnt, buf)                                           \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                             \
	int enter_##name(struct trace_event_raw_sys_enter *ctx)                                 \
	{                                                                                       \
		return l7_enter(call, dir, ctx->args[0], ctx->args[1], iovcnt, buf);            \
	}

L7_ENTER_PROBE(read, VIGIL_L7_READ, VIGIL_L7_INGRESS, 0, BUF_PLAIN)
L7_ENTER_PROBE(write, VIGIL_L7_WRITE, VIGIL_L7_EGRESS, 0, BUF_PLAIN)
L7_ENTER_PROBE(recvfrom, VIGIL_L7_RECVFROM, VIGIL_L7_INGRESS, 0, BUF_PLAIN)
L7_ENTER_PROBE(sendto, VIGIL_L7_SENDTO, VIGIL_L7_EGRESS, 0, BUF_PLAIN)
L7_ENTER_PROBE(readv, VIGIL_L7_READV, VIGIL_L7_INGRESS, ctx->args[2], BUF_IOV)
L7_ENTER_PROBE(writev, VIGIL_L7_WRITEV, VIGIL_L7_EGRESS, ctx->args[2], BUF_IOV)
L7_ENTER_PROBE(recvmsg, VIGIL_L7_RECVMSG, VIGIL_L7_INGRESS, 0, BUF_MSG)
L7_ENTER_PROBE(sendmsg, VIGIL_L7_SENDMSG, VIGIL_L7_EGRESS, 0, BUF_MSG)

/* sendfile64(out_fd, in_fd, offset, count): bytes accounted, none captured. */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile(struct trace_event_raw_sys_enter *ctx)
{
	return l7_enter(VIGIL_L7_SENDFILE, VIGIL_L7_EGRESS, ctx->args[0], 0, 0, BUF_NONE);
}

/* close(fd) of a followed connection: its entry goes, user space is told. */
SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct l7_scratch *sc;
	struct l7_conn *c;
	struct sock *sk = tcp_sock_of(ctx->args[0]);
	__u32 zero = 0;
	__u64 key;
	__u8 proto;

	if (!sk)
		return 0;
	key = (__u64)sk;
	c = bpf_map_lookup_elem(&l7_conns, &key);
	if (!c)
		return 0;
	proto = c->proto;
	if (bpf_map_delete_elem(&l7_conns, &key))
		return 0;
	vigil_count(&l7_counters, VIGIL_L7_CONN_CLOSED);
	/* User space holds state only for connections it got data of. */
	if (proto == VIGIL_L7_PROTO_UNKNOWN || proto == VIGIL_L7_PROTO_NONE)
		return 0;
	sc = bpf_map_lookup_elem(&l7_scratch, &zero);
	if (!sc)
		return 0;
	__builtin_memset(&sc->ev, 0, sizeof(sc->ev));
	sc->ev.kind = VIGIL_L7_CLOSE;
	sc->ev.proto = proto;
	sc->ev.conn = key;
	sc->ev.enter_ns = sc->ev.exit_ns = bpf_ktime_get_boot_ns();
	fill_task(&sc->ev);
	vigil_output(&events, 0, sc, sizeof(sc->ev));
	return 0;
}
