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
 * it has data of), and so is its TLS plaintext's (below). The table
 * is an LRU hash: a connection whose close was not seen (its process exited,
 * or the descriptor was passed on) ages out; evictions are what user space
 * counts as new minus closed minus live entries.
 *
 * TLS (tls_sessions on): uprobes on a TLS library's read and write calls
 * (tls_enter_*, tls_exit_*) stash the plaintext buffer by thread (Go: by
 * goroutine), and at the call's return hand its bytes to the same path as a
 * syscall's exit, on the connection's own plaintext entry (its socket | 1).
 * The socket is the one a read or write syscall made inside the call used
 * (the thread's TLS call is looked up by l7_enter), remembered per session
 * for calls that make none (bytes a record already held); Go's is read from
 * the tls.Conn's net.Conn (a *net.TCPConn: conn.fd.pfd.Sysfd, at offsets
 * the probe's cookie gives); a memory BIO's (Node's) is the socket whose
 * write carries the ciphertext the session last wrote to its BIO (prints,
 * below). A session's end (SSL_free, gnutls_deinit) ends its plaintext entry.
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
		 enum vigil_l7_call, enum vigil_l7_counter, struct vigil_l7_event, enum vigil_l7_method,
		 enum vigil_l7_role, struct vigil_l7_hist_key, struct vigil_l7_hist, enum vigil_l7_tls);

/* Bytes of each call's data sent to user space (at most VIGIL_L7_DATA_MAX). */
const volatile __u32 capture_bytes = 1024;
/* Protocols to follow: bit (1 << enum vigil_l7_proto). */
const volatile __u32 protocols = (1 << VIGIL_L7_PROTO_HTTP) | (1 << VIGIL_L7_PROTO_REDIS) |
				 (1 << VIGIL_L7_PROTO_PGSQL) | (1 << VIGIL_L7_PROTO_MYSQL) |
				 (1 << VIGIL_L7_PROTO_HTTP2) | (1 << VIGIL_L7_PROTO_KAFKA);

/* Keep HTTP latency histograms per endpoint in the kernel (map l7_hist). */
const volatile __u32 hist_http = 0;
/* The protocols (bits of enum vigil_l7_proto) whose calls' records go to the
 * ring: all by default; none for histograms only; HTTP/2's alone beside the
 * HTTP/1.x histograms (`vigil top http`). */
const volatile __u32 send_records = ~0u;
/* TLS uprobes are attached: a socket call looks for the thread's TLS call. */
const volatile __u32 tls_sessions = 0;

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
	__u64 sk;		/* the connection's key (l7_conns) */
	__u64 sock;		/* its struct sock (0: not known, a TLS session's) */
	__u64 ptr;		/* buffer, iovec array or msghdr */
	__u64 enter_ns;
	__u32 iovcnt;
	__u8 call;
	__u8 dir;
	__u8 buf;		/* enum buf_kind */
	__u8 tls;		/* enum vigil_l7_tls */
};

struct l7_conn {
	__u8 proto;
	__u8 tries;
	__u8 role;		/* enum vigil_l7_role, from the first request's direction */
	__u8 pad;
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
	struct file *f = vigil_current_fd_file(fd);
	struct sock *sk;
	__u16 family;

	if (!f)
		return NULL;
#ifdef VIGIL_DIRECT_LOADS
	/* Plain loads through typed pointers (vigil/path.h), but the socket itself read as a number
	 * (its callers keep it as a map key and pass it to global functions, which take no typed
	 * kernel pointer). */
	{
		struct file *df = VIGIL_CAST(f, struct file);
		struct socket *so = VIGIL_CAST(df->private_data, struct socket);
		struct sock *dsk;

		if ((df->f_inode->i_mode & S_IFMT) != S_IFSOCK)
			return NULL;
		if (bpf_probe_read_kernel(&sk, sizeof(sk), &so->sk) || !sk)
			return NULL;
		dsk = VIGIL_CAST(sk, struct sock);
		family = dsk->__sk_common.skc_family;
		if (family != AF_INET && family != AF_INET6)
			return NULL;
		if (dsk->sk_type != SOCK_STREAM)
			return NULL;
		return sk;
	}
#else
	struct socket *so;

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
#endif
}

/*
 * A TLS library's call in flight: by thread (OpenSSL, GnuTLS) or goroutine
 * (Go, whose goroutines move between threads): the session, the plaintext
 * buffer, and the socket a syscall inside the call used.
 */
struct l7_tls_key {
	__u64 id;		/* thread id, or the goroutine's g */
	__u32 tgid;
	__u32 go;
};

struct l7_tls_call {
	__u64 session;		/* SSL *, gnutls_session_t, *tls.Conn */
	__u64 buf;
	__u64 done;		/* SSL_read_ex/SSL_write_ex: where the byte count is stored */
	__u64 enter_ns;
	__u64 sk;		/* the socket (0: none seen yet) */
	__u8 dir;
	__u8 lib;		/* enum vigil_l7_tls */
	__u8 pad[6];
};

struct l7_tls_session {
	__u64 session;
	__u32 tgid;
	__u32 pad;
};

/* An LRU: a call whose return never comes (its thread or goroutine gone) ages out. */
VIGIL_KEYED_MAP(l7_tls_calls, BPF_MAP_TYPE_LRU_HASH, 8192, struct l7_tls_key, struct l7_tls_call);
/* The socket of each TLS session seen, by session and process. Sized like l7_conns from user space. */
VIGIL_KEYED_MAP(l7_tls_socks, BPF_MAP_TYPE_LRU_HASH, 16384, struct l7_tls_session, __u64);

/*
 * A TLS session over a memory BIO (Node's: the library writes its records to
 * memory, and the program writes that memory to the socket after the call
 * returns) makes no syscall inside its calls. Its socket is found by its
 * ciphertext: a BIO_write inside a call of a session whose socket is not
 * known leaves the first TLS_PRINT bytes it writes (a record's header and
 * random bytes: a handshake message's random, or ciphertext) by thread; a
 * socket write of the same thread that starts with those bytes names the
 * session's socket (l7_tls_socks). Sessions write before they carry
 * plaintext (a client its ClientHello, a server its ServerHello), so the
 * socket is known before the first request.
 */
#define TLS_PRINT 32
/* Socket writes look for a print only this long after one was made. */
#define TLS_PRINT_NS 2000000000ULL

struct l7_tls_print {
	__u64 session;
	__u64 bytes[TLS_PRINT / 8];
};

/* The first bytes a session without a socket wrote to its BIO, by thread id. */
VIGIL_KEYED_MAP(l7_tls_prints, BPF_MAP_TYPE_LRU_HASH, 1024, __u32, struct l7_tls_print);
/* When a print was last made (boot ns; 0: never): socket writes cost nothing more otherwise. */
__u64 tls_print_ns = 0;

/* A socket call on sk: the thread's TLS call in flight, if any, moves its bytes through it. */
static __always_inline void tls_saw_socket(__u64 sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct l7_tls_key k = { .id = (__u32)id, .tgid = id >> 32 };
	struct l7_tls_call *call = bpf_map_lookup_elem(&l7_tls_calls, &k);

	if (call && !call->sk)
		call->sk = sk;
}

/* The first bytes of a socket write (its buffer, iovec array or msghdr) match a
 * print of its thread: the print's session is over socket sk. A global function:
 * verified once, not in each entry program. */
__noinline int tls_match_print(__u64 sk, __u64 ptr, __u64 iovcnt, __u32 buf)
{
	__u64 id = bpf_get_current_pid_tgid(), head[TLS_PRINT / 8];
	__u32 tid = (__u32)id;
	struct l7_tls_session sess = {};
	struct l7_tls_print *p;
	struct user_msghdr mh;
	struct iovec v;

	p = bpf_map_lookup_elem(&l7_tls_prints, &tid);
	if (!p)
		return 0;
	if (buf != BUF_PLAIN) {
		if (buf == BUF_MSG) {
			if (bpf_probe_read_user(&mh, sizeof(mh), (const void *)ptr))
				return 0;
			ptr = (__u64)mh.msg_iov;
			iovcnt = mh.msg_iovlen;
		}
		if (!iovcnt || bpf_probe_read_user(&v, sizeof(v), (const void *)ptr) || v.iov_len < TLS_PRINT)
			return 0;
		ptr = (__u64)v.iov_base;
	}
	if (bpf_probe_read_user(head, sizeof(head), (const void *)ptr))
		return 0;
	if (head[0] != p->bytes[0] || head[1] != p->bytes[1] || head[2] != p->bytes[2] || head[3] != p->bytes[3])
		return 0;
	sess.session = p->session;
	sess.tgid = id >> 32;
	if (bpf_map_update_elem(&l7_tls_socks, &sess, &sk, BPF_ANY) == 0)
		vigil_count(&l7_counters, VIGIL_L7_TLS_BOUND);
	bpf_map_delete_elem(&l7_tls_prints, &tid);
	return 0;
}

static __always_inline int l7_enter(__u8 call, __u8 dir, long fd, __u64 ptr, __u64 iovcnt, __u8 buf)
{
	struct l7_stash s = {};
	struct l7_conn *c;
	struct sock *sk;
	__u64 key;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	/* The task filters first: a process left out (the load generator
	 * beside the server --comm names) pays for them alone, not for the
	 * descriptor's walk to its socket. Its TLS calls are not followed
	 * either (tls_begin filters alike), so it has none to tell of a socket. */
	if (!vigil_filter_pass())
		return 0;
	sk = tcp_sock_of(fd);
	if (!sk)
		return 0;
	key = (__u64)sk;
	if (tls_sessions) {
		tls_saw_socket(key);
		if (dir == VIGIL_L7_EGRESS && buf != BUF_NONE) {
			__u64 made = *(volatile __u64 *)&tls_print_ns;

			if (made && bpf_ktime_get_boot_ns() - made < TLS_PRINT_NS)
				tls_match_print(key, ptr, iovcnt, buf);
		}
	}
	c = bpf_map_lookup_elem(&l7_conns, &key);
	if (c && c->proto == VIGIL_L7_PROTO_NONE)
		return 0;
	s.sk = key;
	s.sock = key;
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
		/* MySQL/MariaDB: the server's greeting (sequence 0, protocol 10, a
		 * version "N.") or a COM_QUERY, each the whole call. */
		{
			__u32 len = b[0] | ((__u32)b[1] << 8) | ((__u32)b[2] << 16);

			if (len + 4 == size && b[3] == 0 &&
			    ((b[4] == 0x0a && is_digit(b[5]) && b[6] == '.') || b[4] == 0x03))
				return VIGIL_L7_PROTO_MYSQL;
		}
		/* HTTP/2: the client's preface ("PRI * HTTP/2.0"), or a SETTINGS
		 * frame (type 4, no flags, stream 0, a length that is a multiple of
		 * 6), which each side sends first. */
		if (b[0] == 'P' && b[1] == 'R' && b[2] == 'I' && b[3] == ' ' && b[4] == '*' && b[5] == ' ' &&
		    b[6] == 'H' && b[7] == 'T')
			return VIGIL_L7_PROTO_HTTP2;
		if (size >= 9 && b[0] == 0 && b[1] == 0 && b[2] % 6 == 0 && b[3] == 4 && b[4] == 0 &&
		    b[5] == 0 && b[6] == 0 && b[7] == 0 && b[8] == 0)
			return VIGIL_L7_PROTO_HTTP2;
		/* Kafka: a request header (length under 64 MiB, api key, version,
		 * a non-negative correlation id, a client id that is null or
		 * starts printable), at least a header's 14 bytes. */
		if (size >= 14 && b[0] < 4 && be32(b) >= 10 && b[4] == 0 && b[5] <= 74 && b[6] == 0 &&
		    b[7] <= 17 && b[8] < 0x80 &&
		    ((b[12] == 0xff && b[13] == 0xff) ||
		     (b[12] == 0 && b[13] > 0 && b[13] + 10 <= be32(b) && (size < 15 || (b[14] >= 0x20 && b[14] < 0x7f)))))
			return VIGIL_L7_PROTO_KAFKA;
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

/* Copies the first `want` bytes the current thread's stashed call moved to
 * the scratch's data; returns how many. A global function: verified once,
 * whichever way l7_exit reached it (inference or not). */
__noinline int l7_copy_data(__u64 want)
{
	__u32 zero = 0, tid = (__u32)bpf_get_current_pid_tgid(), off = 0;
	const struct iovec *iov;
	struct l7_scratch *sc;
	struct l7_stash *s;
	__u64 n = 0;
	__u8 *dst;

	s = bpf_map_lookup_elem(&l7_stash, &tid);
	sc = bpf_map_lookup_elem(&l7_scratch, &zero);
	if (!s || !sc)
		return 0;
	dst = sc->data;
	/* An argument is any 64-bit value to the verifier: bound it where it sees it. */
	want &= 2 * VIGIL_L7_DATA_MAX - 1;
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
#ifdef VIGIL_DIRECT_LOADS
	struct sock_common *c = &VIGIL_CAST(sk, struct sock)->__sk_common;

	ev->family = c->skc_family;
	ev->lport = c->skc_num;
	ev->rport = bpf_ntohs(c->skc_dport);
	__builtin_memset(ev->laddr, 0, sizeof(ev->laddr));
	__builtin_memset(ev->raddr, 0, sizeof(ev->raddr));
	if (ev->family == AF_INET) {
		*(__u32 *)ev->laddr = c->skc_rcv_saddr;
		*(__u32 *)ev->raddr = c->skc_daddr;
	} else {
		for (int i = 0; i < 4; i++) {
			((__u32 *)ev->laddr)[i] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			((__u32 *)ev->raddr)[i] = c->skc_v6_daddr.in6_u.u6_addr32[i];
		}
	}
#else
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
#endif
}

static __always_inline void fill_task(struct vigil_l7_event *ev)
{
	__u64 id = bpf_get_current_pid_tgid();

	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
}

/*
 * HTTP latency histograms in the kernel (hist_http): an exchange, request and
 * response, is followed per connection in l7_exch. A call in the request's
 * direction (a server's read, a client's write) that starts with a method,
 * when no request is being read, begins one: its endpoint key (comm, service
 * port or remote end, method, route template) is made here, the path's ids
 * become {id} as src/l7/route.ts does. The response's first call reads the
 * status; from then on each call of the response moves the exchange to the
 * bucket of (its exit - the request's first byte). Pipelined requests that
 * arrive in one call are one exchange here (the records keep them apart).
 */
enum { EXCH_REQUEST = 1, EXCH_RESPONSE = 2 };
enum { SLOT_NONE = 0, SLOT_KEYED = 1, SLOT_OVERFLOW = 2 };

struct l7_exch {
	struct vigil_l7_hist_key key;
	__u64 start_ns;
	__u64 lat_ns;		/* the latency counted so far */
	__u16 bucket;		/* the bucket it is counted in */
	__u8 phase;
	__u8 slot;		/* where it is counted: SLOT_* */
	__u8 error;
	__u8 pad[3];
};

#define ROUTE_READ 160		/* bytes of a request read: the method and the path */
#define ROUTE_IN 256
#define ROUTE_IN_MASK (ROUTE_IN - 1)
#define ROUTE_OUT 128
#define ROUTE_OUT_MASK (ROUTE_OUT - 1)

_Static_assert(VIGIL_L7_ROUTE_MAX + 4 <= ROUTE_OUT, "room for a last {id}");
_Static_assert(VIGIL_L7_HIST_BUCKETS == VIGIL_L7_HIST_SUB * VIGIL_L7_HIST_POWERS, "buckets");

/* The templating walk's state: in per-CPU map memory, so that the verifier
 * checks a step once (vigil/path.h says why), with the exchange it builds. */
struct l7_route_state {
	__u8 in[ROUTE_IN];
	__u8 out[ROUTE_OUT];
	struct l7_exch x;
	__u32 pos, end, w, seg;
	/* The furthest out[] was written before an {id} moved w back: out[w, hi) is stale. */
	__u32 hi;
	/* The current segment: its length and its bytes by class. */
	__u32 len, digit, hexl, alpha, dash, other, uuid;
};

VIGIL_INDEXED_MAP(l7_route_state, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct l7_route_state);

/* The walk's state, looked up by each step (a per-CPU array's lookup is
 * inlined) rather than passed through bpf_loop's context. */
static __always_inline struct l7_route_state *route_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&l7_route_state, &zero);
}
/* Exchanges in progress, by connection: sized like l7_conns from user space when hist_http is on. */
VIGIL_KEYED_MAP(l7_exch, BPF_MAP_TYPE_LRU_HASH, 1, __u64, struct l7_exch);
/* The histograms, by endpoint: sized from user space (maxEndpoints) when hist_http is on. */
VIGIL_KEYED_MAP(l7_hist, BPF_MAP_TYPE_HASH, 1, struct vigil_l7_hist_key, struct vigil_l7_hist);
/* [0]: the exchanges of endpoints l7_hist had no room for; [1]: zeros, inserted from. */
VIGIL_INDEXED_MAP(l7_hist_other, BPF_MAP_TYPE_ARRAY, 2, struct vigil_l7_hist);

/* The first n bytes of the call's data (the first iovec's), into dst; how many were read. */
static __always_inline __u32 read_head(__u8 *dst, const struct l7_stash *s, __u64 n)
{
	const struct iovec *iov;
	const void *src;
	struct iovec v;
	__u64 cnt = 0;

	if (s->buf == BUF_PLAIN) {
		src = (const void *)s->ptr;
	} else {
		iov = iov_of(s, &cnt);
		if (!iov || !cnt || bpf_probe_read_user(&v, sizeof(v), iov))
			return 0;
		if (n > v.iov_len)
			n = v.iov_len;
		src = v.iov_base;
	}
	/* The mask shows the verifier a bound it keeps through the compare. */
	n &= ROUTE_IN_MASK;
	barrier_var(n);
	if (n == 0 || n > ROUTE_READ)
		return 0;
	return bpf_probe_read_user(dst, n, src) ? 0 : n;
}

/* The request's method, and the length of "METHOD " in *skip; 0: not a request line. */
static __always_inline __u8 method_of(const __u8 *b, __u32 *skip)
{
	if (b[0] == 'G' && b[1] == 'E' && b[2] == 'T' && b[3] == ' ')
		return *skip = 4, VIGIL_L7_GET;
	if (b[0] == 'P' && b[1] == 'O' && b[2] == 'S' && b[3] == 'T' && b[4] == ' ')
		return *skip = 5, VIGIL_L7_POST;
	if (b[0] == 'P' && b[1] == 'U' && b[2] == 'T' && b[3] == ' ')
		return *skip = 4, VIGIL_L7_PUT;
	if (b[0] == 'H' && b[1] == 'E' && b[2] == 'A' && b[3] == 'D' && b[4] == ' ')
		return *skip = 5, VIGIL_L7_HEAD;
	if (b[0] == 'D' && b[1] == 'E' && b[2] == 'L' && b[3] == 'E' && b[4] == 'T' && b[5] == 'E' && b[6] == ' ')
		return *skip = 7, VIGIL_L7_DELETE;
	if (b[0] == 'P' && b[1] == 'A' && b[2] == 'T' && b[3] == 'C' && b[4] == 'H' && b[5] == ' ')
		return *skip = 6, VIGIL_L7_PATCH;
	if (b[0] == 'O' && b[1] == 'P' && b[2] == 'T' && b[3] == 'I' && b[4] == 'O' && b[5] == 'N' &&
	    b[6] == 'S' && b[7] == ' ')
		return *skip = 8, VIGIL_L7_OPTIONS;
	return 0;
}

/* The segment just read names one item among many (src/l7/route.ts): digits,
 * a UUID, 16+ hex digits, or a 20+ byte token of letters and digits. */
static __always_inline bool route_is_id(const struct l7_route_state *st)
{
	__u32 len = st->len, d = st->digit, hx = st->hexl;

	return len && (d == len || (len == 36 && st->uuid == 4 && st->dash == 4 && d + hx == 32) ||
		       (len >= 16 && d + hx == len) ||
		       (len >= 20 && !st->other && d && hx + st->alpha));
}

/* One byte of the path: copied to out, classified; at a '/' or the path's
 * end, a segment that is an id is replaced by {id}. */
static long route_step(__u64 index, void *ctx)
{
	struct l7_route_state *st = route_state();
	__u32 pos, w, len, c = 0, lc, at;
	bool stop;

	if (!st)
		return 1;
	pos = st->pos;
	w = st->w;
	len = st->len;

	/* A full route ends as the path's end does. One compare of w, with a
	 * constant: 6.1's verifier does not judge a register-to-register
	 * compare, and two compares of w in a row gave it a dead path whose
	 * contradictory bounds made the store below a scalar. */
	if (pos < st->end && w < VIGIL_L7_ROUTE_MAX - 1)
		c = st->in[pos & ROUTE_IN_MASK];
	stop = c == ' ' || c == '?' || c == '#' || c == '\r' || c == '\n' || c == 0;
	if (c == '/' || stop) {
		if (route_is_id(st)) {
			__u32 sg = st->seg;

			if (w > st->hi)
				st->hi = w;
			st->out[sg & ROUTE_OUT_MASK] = '{';
			st->out[(sg + 1) & ROUTE_OUT_MASK] = 'i';
			st->out[(sg + 2) & ROUTE_OUT_MASK] = 'd';
			st->out[(sg + 3) & ROUTE_OUT_MASK] = '}';
			w = sg + 4;
		}
		st->w = w;
		if (stop)
			return 1;
		at = w;
		barrier_var(at);
		st->out[at & ROUTE_OUT_MASK] = '/';
		st->w = w + 1;
		st->seg = w + 1;
		st->pos = pos + 1;
		st->len = st->digit = st->hexl = st->alpha = st->dash = st->other = st->uuid = 0;
		return 0;
	}
	at = w;
	barrier_var(at);
	st->out[at & ROUTE_OUT_MASK] = c;
	st->w = w + 1;
	st->pos = pos + 1;
	st->len = len + 1;
	lc = c | 0x20;
	if (c >= '0' && c <= '9')
		st->digit++;
	else if (lc >= 'a' && lc <= 'f')
		st->hexl++;
	else if (lc >= 'g' && lc <= 'z')
		st->alpha++;
	else if (c == '-' || c == '_')
		st->dash++, st->uuid += c == '-' && (len == 8 || len == 13 || len == 18 || len == 23);
	else
		st->other++;
	return 0;
}

/* Zeroes out[] from w on, up to hi (an {id} can leave a longer segment's
 * bytes behind; out[] was zeroed before the walk, so nothing past hi is). */
static long route_zero(__u64 index, void *ctx)
{
	struct l7_route_state *st = route_state();
	__u64 at;

	if (!st)
		return 1;
	at = st->w + index;

	if (at >= ROUTE_OUT)
		return 1;
	st->out[at & ROUTE_OUT_MASK] = 0;
	return 0;
}

/* The log-linear bucket of a latency (src/l7/histogram.ts's latencyBucket). */
static __always_inline __u32 lat_bucket(__u64 ns)
{
	__u64 v = ns, p = 0, b;

	if (ns < (1ULL << VIGIL_L7_HIST_MIN_SHIFT))
		return 0;
	/* floor(log2(ns)) without branches: each step halves the width. */
#define FLS_STEP(k) b = (((v >> (k)) + ((1ULL << (k)) - 1)) >> (k)) * (k); v >>= b; p += b;
	FLS_STEP(32) FLS_STEP(16) FLS_STEP(8) FLS_STEP(4) FLS_STEP(2) FLS_STEP(1)
#undef FLS_STEP
	if (p - VIGIL_L7_HIST_MIN_SHIFT >= VIGIL_L7_HIST_POWERS)
		return VIGIL_L7_HIST_BUCKETS - 1;
	return (p - VIGIL_L7_HIST_MIN_SHIFT) * VIGIL_L7_HIST_SUB + ((ns >> (p - 3)) & (VIGIL_L7_HIST_SUB - 1));
}

/*
 * The request line in st->in[0, n): st->x made for it (method and route template, every other field
 * zero, the caller's to fill). false when the bytes are not a request line.
 */
static __always_inline bool exch_parse(struct l7_route_state *st, __u32 n, __u32 role)
{
	__u32 skip = 0;
	__u8 m;

	if (n < 8)
		return false;
	m = method_of(st->in, &skip);
	if (!m)
		return false;
	__builtin_memset(&st->x, 0, sizeof(st->x));
	__builtin_memset(st->out, 0, sizeof(st->out));
	st->x.key.role = role;
	st->x.key.method = m;
	st->x.key.proto = VIGIL_L7_PROTO_HTTP;
	st->x.phase = EXCH_REQUEST;
	st->pos = skip;
	st->end = n;
	st->w = st->seg = st->hi = 0;
	st->len = st->digit = st->hexl = st->alpha = st->dash = st->other = st->uuid = 0;
	bpf_loop(ROUTE_READ, route_step, NULL, 0);
	if (st->w > VIGIL_L7_ROUTE_MAX - 1)
		st->w = VIGIL_L7_ROUTE_MAX - 1;
	/* Only the route's bytes are copied out: what lies past them does not matter. */
	if (st->hi > VIGIL_L7_ROUTE_MAX - 1)
		st->hi = VIGIL_L7_ROUTE_MAX - 1;
	/* Most routes had no {id} shorter than its segment: nothing stale, no loop
	 * (a walk over the whole of out[] was most of a request's exit). */
	if (st->hi > st->w)
		bpf_loop(st->hi - st->w, route_zero, NULL, 0);
	__builtin_memcpy(st->x.key.route, st->out, VIGIL_L7_ROUTE_MAX - 1);
	return true;
}

/* A request begins on connection sk (the process its `role`): its exchange, keyed by endpoint. */
static __always_inline void exch_begin(struct l7_route_state *st, const struct l7_stash *s, __u64 sk, __u32 role,
				       __u32 size, __u64 now)
{
	struct sock *so = (struct sock *)s->sock;

	if (!exch_parse(st, read_head(st->in, s, size < ROUTE_READ ? size : ROUTE_READ), role))
		return;
	bpf_get_current_comm(st->x.key.comm, sizeof(st->x.key.comm));
	if (role == VIGIL_L7_ROLE_SERVER) {
		st->x.key.port = BPF_CORE_READ(so, __sk_common.skc_num);
	} else {
		st->x.key.port = bpf_ntohs(BPF_CORE_READ(so, __sk_common.skc_dport));
		st->x.key.family = BPF_CORE_READ(so, __sk_common.skc_family);
		if (st->x.key.family == AF_INET)
			bpf_core_read(st->x.key.raddr, 4, &so->__sk_common.skc_daddr);
		else
			bpf_core_read(st->x.key.raddr, 16, &so->__sk_common.skc_v6_daddr);
	}
	st->x.start_ns = s->dir == VIGIL_L7_INGRESS ? now : s->enter_ns;
	if (bpf_map_update_elem(&l7_exch, &sk, &st->x, BPF_ANY))
		vigil_count(&l7_counters, VIGIL_L7_HIST_NO_STATE);
}

/* The histogram an exchange is counted in (found or made on its first count). */
static __always_inline struct vigil_l7_hist *exch_hist(struct l7_exch *x)
{
	struct vigil_l7_hist *h, *zeros;
	__u32 zero = 0, one = 1;

	if (x->slot == SLOT_OVERFLOW)
		return bpf_map_lookup_elem(&l7_hist_other, &zero);
	h = bpf_map_lookup_elem(&l7_hist, &x->key);
	if (h || x->slot == SLOT_KEYED)
		return h;
	zeros = bpf_map_lookup_elem(&l7_hist_other, &one);
	if (zeros)
		bpf_map_update_elem(&l7_hist, &x->key, zeros, BPF_NOEXIST);
	h = bpf_map_lookup_elem(&l7_hist, &x->key);
	if (h)
		return h;
	x->slot = SLOT_OVERFLOW;
	vigil_count(&l7_counters, VIGIL_L7_HIST_OVERFLOW);
	return bpf_map_lookup_elem(&l7_hist_other, &zero);
}

/*
 * A call or packet of exchange x's response at now: the first counts the exchange in its endpoint's
 * histogram, with the status from head ("HTTP/1.x NNN", 12 bytes; NULL: unknown); each one after it
 * moves the exchange to the bucket of its latency so far (the response's last byte).
 */
static __always_inline void exch_response(struct l7_exch *x, __u32 role, const __u8 *head, __u64 now)
{
	struct vigil_l7_hist *h;
	__u64 lat;
	__u32 b;
	bool first;

	if (x->phase == EXCH_REQUEST) {
		__u32 status = 0;

		if (head && head[0] == 'H' && head[4] == '/' && head[9] >= '0' && head[9] <= '9')
			status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
		x->phase = EXCH_RESPONSE;
		x->error = status >= (role == VIGIL_L7_ROLE_SERVER ? 500 : 400);
	}
	lat = now > x->start_ns ? now - x->start_ns : 0;
	b = lat_bucket(lat) & (VIGIL_L7_HIST_BUCKETS - 1);
	first = x->slot == SLOT_NONE;
	h = exch_hist(x);
	if (!h)
		return;
	if (first) {
		/* First count: the exchange joins its endpoint's histogram. */
		if (x->slot == SLOT_NONE)
			x->slot = SLOT_KEYED;
		__sync_fetch_and_add(&h->count, 1);
		if (x->error)
			__sync_fetch_and_add(&h->errors, 1);
		__sync_fetch_and_add(&h->buckets[b], 1);
	} else if (b != x->bucket) {
		__sync_fetch_and_add(&h->buckets[x->bucket & (VIGIL_L7_HIST_BUCKETS - 1)], -1);
		__sync_fetch_and_add(&h->buckets[b], 1);
	}
	__sync_fetch_and_add(&h->sum_ns, lat - x->lat_ns);
	x->bucket = b;
	x->lat_ns = lat;
}

/* The call of the stashed syscall moved `size` bytes on HTTP connection sk:
 * a request begins, or its response goes on. A global function: verified once. */
__noinline int l7_http_hist(__u64 sk, __u32 role, __u32 size)
{
	__u32 zero = 0, tid = (__u32)bpf_get_current_pid_tgid(), req_dir;
	struct l7_route_state *st;
	struct l7_stash *s;
	struct l7_exch *x;
	__u64 now = bpf_ktime_get_boot_ns();

	s = bpf_map_lookup_elem(&l7_stash, &tid);
	st = bpf_map_lookup_elem(&l7_route_state, &zero);
	if (!s || !st)
		return 0;
	req_dir = role == VIGIL_L7_ROLE_SERVER ? VIGIL_L7_INGRESS : VIGIL_L7_EGRESS;
	x = bpf_map_lookup_elem(&l7_exch, &sk);
	if (s->dir == req_dir) {
		/* Not the request's body: a new request (or bytes that are not one). */
		if (s->buf != BUF_NONE && !(x && x->phase == EXCH_REQUEST))
			exch_begin(st, s, sk, role, size, now);
		return 0;
	}
	if (!x)
		return 0;
	if (x->phase == EXCH_REQUEST && s->buf != BUF_NONE && size >= 12 && read_head(st->in, s, 12) == 12)
		exch_response(x, role, st->in, now);
	else
		exch_response(x, role, NULL, now);
	return 0;
}

/* The thread's stashed call s moved ret (> 0) bytes: inference, histograms, the record. */
static __always_inline void l7_done(struct l7_stash *s, long ret)
{
	struct l7_scratch *sc;
	struct l7_conn *c, fresh = {};
	struct vigil_l7_event *ev;
	__u32 zero = 0, want, got;
	__u64 key;

	key = s->sk;
	c = bpf_map_lookup_elem(&l7_conns, &key);
	if (!c) {
		if (bpf_map_update_elem(&l7_conns, &key, &fresh, BPF_NOEXIST) == 0)
			vigil_count(&l7_counters, VIGIL_L7_CONN_NEW);
		c = bpf_map_lookup_elem(&l7_conns, &key);
		if (!c)
			return;
	}
	sc = bpf_map_lookup_elem(&l7_scratch, &zero);
	if (!sc)
		return;
	if (c->proto == VIGIL_L7_PROTO_UNKNOWN) {
		__u8 p;

		if (s->buf == BUF_NONE)
			return;
		__builtin_memset(sc->data, 0, PEEK);
		peek_data(sc->data, s, ret);
		p = infer(sc->data, ret);
		if (p == VIGIL_L7_PROTO_UNKNOWN && ++c->tries < VIGIL_L7_INFER_TRIES)
			return;
		if (p == VIGIL_L7_PROTO_UNKNOWN || !(protocols & (1 << p))) {
			c->proto = VIGIL_L7_PROTO_NONE;
			vigil_count(&l7_counters, VIGIL_L7_CONN_NOT_L7);
			return;
		}
		c->proto = p;
		/* A request line first: its reader is the server. */
		if (p == VIGIL_L7_PROTO_HTTP && !(sc->data[0] == 'H' && sc->data[1] == 'T'))
			c->role = s->dir == VIGIL_L7_INGRESS ? VIGIL_L7_ROLE_SERVER : VIGIL_L7_ROLE_CLIENT;
	}
	if (c->proto == VIGIL_L7_PROTO_NONE)
		return;
	if (hist_http && c->proto == VIGIL_L7_PROTO_HTTP && c->role != VIGIL_L7_ROLE_UNKNOWN)
		l7_http_hist(key, c->role, ret);
	if (!(send_records & (1u << c->proto)))
		return;
	ev = &sc->ev;
	ev->kind = VIGIL_L7_DATA;
	ev->proto = c->proto;
	ev->dir = s->dir;
	ev->call = s->call;
	ev->tls = s->tls;
	ev->pad1 = 0;
	ev->conn = key;
	ev->enter_ns = s->enter_ns;
	ev->exit_ns = bpf_ktime_get_boot_ns();
	fill_task(ev);
	fill_ends(ev, (struct sock *)s->sock);
	ev->size = ret;
	want = capture_bytes < (__u64)ret ? capture_bytes : ret;
	if (want < (__u64)ret)
		vigil_count(&l7_counters, VIGIL_L7_DATA_CUT);
	got = l7_copy_data(want);
	if (got < want && s->buf != BUF_NONE)
		vigil_count(&l7_counters, VIGIL_L7_READ_FAILED);
	/* got <= capture_bytes <= DATA_MAX; the mask shows the verifier a bound. */
	got &= 2 * VIGIL_L7_DATA_MAX - 1;
	barrier_var(got);
	ev->data_len = got;
	vigil_output(&events, 0, sc, sizeof(*ev) + got);
}

SEC("tracepoint/syscalls/sys_exit_read")
int l7_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct l7_stash *s = bpf_map_lookup_elem(&l7_stash, &tid);

	if (!s)
		return 0;
	if (ctx->ret > 0)
		l7_done(s, ctx->ret);
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

/* Connection key's entry goes (its socket closed); user space is told. */
static __always_inline void conn_closed(__u64 key)
{
	struct l7_scratch *sc;
	struct l7_conn *c;
	__u32 zero = 0;
	__u8 proto;

	c = bpf_map_lookup_elem(&l7_conns, &key);
	if (!c)
		return;
	proto = c->proto;
	if (bpf_map_delete_elem(&l7_conns, &key))
		return;
	vigil_count(&l7_counters, VIGIL_L7_CONN_CLOSED);
	if (hist_http)
		bpf_map_delete_elem(&l7_exch, &key);
	/* User space holds state only for connections it got data of. */
	if (proto == VIGIL_L7_PROTO_UNKNOWN || proto == VIGIL_L7_PROTO_NONE || !(send_records & (1u << (proto & 15))))
		return;
	sc = bpf_map_lookup_elem(&l7_scratch, &zero);
	if (!sc)
		return;
	__builtin_memset(&sc->ev, 0, sizeof(sc->ev));
	sc->ev.kind = VIGIL_L7_CLOSE;
	sc->ev.proto = proto;
	sc->ev.conn = key;
	sc->ev.enter_ns = sc->ev.exit_ns = bpf_ktime_get_boot_ns();
	fill_task(&sc->ev);
	vigil_output(&events, 0, sc, sizeof(sc->ev));
}

/* close(fd) of a followed connection: its entries (the socket's, its TLS plaintext's) go. */
SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct sock *sk = tcp_sock_of(ctx->args[0]);

	if (!sk)
		return 0;
	conn_closed((__u64)sk);
	if (tls_sessions)
		conn_closed((__u64)sk | 1);
	return 0;
}

/* --- TLS plaintext (uprobes) ------------------------------------------------ */

/*
 * The HTTP/1.x histograms from packets (`vigil top http --capture packets`): two cgroup skb
 * programs on a cgroup's ingress and egress instead of the syscall tracepoints, whose slow path
 * every system call of every task pays while one of them is enabled; these run on a TCP segment of
 * a socket in the cgroup, nothing else. A segment with payload, on a full socket: in the direction
 * a request travels (ingress: the socket is the server's; egress: the client's) a request line
 * begins an exchange, kept with the socket (l7_pkt_exch: socket storage, gone with the socket); in
 * the other direction the response's segments count it as the syscall path's calls do (the first
 * with the status, each one after it moving the exchange to its latency so far). Latency is from
 * the request's first segment reaching the socket to the response's last segment leaving it. A
 * segment has no process (an arriving one is handled in softirq): the key's comm is empty, and user
 * space names a server by its listening port.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct l7_exch);
} l7_pkt_exch SEC(".maps");

/*
 * Where a TCP segment's payload starts in skb (its data begins at the IP header), into *off; false
 * for what is not TCP (or IPv6 with extension headers before it). The headers are read in place
 * (they are in the linear part as the TCP stack builds and receives them); through
 * bpf_skb_load_bytes where they are not.
 */
static __always_inline bool pkt_payload_at(struct __sk_buff *skb, __u32 *off)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct tcphdr *tp, th;
	struct ipv6hdr ip6;
	struct iphdr ip;
	__u32 l4;

	if (skb->protocol == bpf_htons(0x0800)) {
		struct iphdr *p = data;

		if ((void *)(p + 1) <= end) {
			if (p->protocol != IPPROTO_TCP || p->ihl < 5)
				return false;
			l4 = p->ihl * 4;
		} else {
			if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || ip.protocol != IPPROTO_TCP || ip.ihl < 5)
				return false;
			l4 = ip.ihl * 4;
		}
	} else if (skb->protocol == bpf_htons(0x86DD)) {
		struct ipv6hdr *p = data;

		/* Extension headers before TCP: not followed. */
		if ((void *)(p + 1) <= end) {
			if (p->nexthdr != IPPROTO_TCP)
				return false;
		} else if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) || ip6.nexthdr != IPPROTO_TCP) {
			return false;
		}
		l4 = sizeof(ip6);
	} else {
		return false;
	}
	l4 &= 0x3f;
	tp = data + l4;
	if ((void *)(tp + 1) <= end) {
		*off = l4 + tp->doff * 4;
		return true;
	}
	if (bpf_skb_load_bytes(skb, l4, &th, sizeof(th)))
		return false;
	*off = l4 + th.doff * 4;
	return true;
}

static __always_inline void l7_pkt(struct __sk_buff *skb, __u32 dir)
{
	struct l7_route_state *st;
	struct bpf_sock *sk;
	struct l7_exch *x;
	__u32 zero = 0, off, len, n, role, skip;
	__u8 head[12];
	__u64 now;

	if (!pkt_payload_at(skb, &off))
		return;
	len = skb->len;
	if (len <= off)
		return;
	len -= off;
	sk = skb->sk;
	if (!sk)
		return;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return;
	x = bpf_sk_storage_get(&l7_pkt_exch, sk, 0, 0);
	if (x && x->phase) {
		role = x->key.role;
		if (dir != (role == VIGIL_L7_ROLE_SERVER ? VIGIL_L7_INGRESS : VIGIL_L7_EGRESS)) {
			now = bpf_ktime_get_boot_ns();
			if (x->phase == EXCH_REQUEST && len >= sizeof(head) &&
			    !bpf_skb_load_bytes(skb, off, head, sizeof(head)))
				exch_response(x, role, head, now);
			else
				exch_response(x, role, NULL, now);
			return;
		}
		/* The request's body. */
		if (x->phase == EXCH_REQUEST)
			return;
	}
	/* The first 8 bytes alone first: a segment that begins no request (a body, TLS, another
	 * protocol) costs no more. A connection is never given up on: one joined in the middle of a
	 * long response begins at its next request. */
	if (len < 8 || bpf_skb_load_bytes(skb, off, head, 8) || !method_of(head, &skip))
		return;
	st = bpf_map_lookup_elem(&l7_route_state, &zero);
	if (!st)
		return;
	n = len < ROUTE_READ ? len : ROUTE_READ;
	/* The mask after the barrier: the compiler, knowing n's range, would drop it and pass len. */
	barrier_var(n);
	n &= ROUTE_IN_MASK;
	if (n < 8 || bpf_skb_load_bytes(skb, off, st->in, n))
		return;
	role = dir == VIGIL_L7_INGRESS ? VIGIL_L7_ROLE_SERVER : VIGIL_L7_ROLE_CLIENT;
	if (!exch_parse(st, n, role))
		return;
	if (role == VIGIL_L7_ROLE_SERVER) {
		st->x.key.port = sk->src_port;
	} else {
		/* Each context field read once: the verifier refuses merged loads through it. */
		__u32 family = sk->family, a0 = sk->dst_ip6[0], a1 = sk->dst_ip6[1], a2 = sk->dst_ip6[2],
		      a3 = sk->dst_ip6[3], a4 = sk->dst_ip4;

		st->x.key.port = bpf_ntohs(sk->dst_port);
		st->x.key.family = family;
		if (family == AF_INET) {
			__builtin_memcpy(st->x.key.raddr, &a4, 4);
		} else {
			__builtin_memcpy(st->x.key.raddr, &a0, 4);
			__builtin_memcpy(st->x.key.raddr + 4, &a1, 4);
			__builtin_memcpy(st->x.key.raddr + 8, &a2, 4);
			__builtin_memcpy(st->x.key.raddr + 12, &a3, 4);
		}
	}
	st->x.start_ns = bpf_ktime_get_boot_ns();
	if (!x)
		x = bpf_sk_storage_get(&l7_pkt_exch, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!x) {
		vigil_count(&l7_counters, VIGIL_L7_HIST_NO_STATE);
		return;
	}
	__builtin_memcpy(x, &st->x, sizeof(*x));
}

/* Every segment passes: these programs count, they never judge. */
SEC("cgroup_skb/ingress")
int l7_pkt_in(struct __sk_buff *skb)
{
	l7_pkt(skb, VIGIL_L7_INGRESS);
	return 1;
}

SEC("cgroup_skb/egress")
int l7_pkt_out(struct __sk_buff *skb)
{
	l7_pkt(skb, VIGIL_L7_EGRESS);
	return 1;
}

/* A TLS call begins: what its return needs, by thread (go: by goroutine g). */
static __always_inline int tls_begin(__u64 id, __u32 go, __u64 session, __u64 buf, __u64 done, __u8 dir, __u8 lib,
				     __u64 sk)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct l7_tls_key k = { .id = id, .tgid = pid_tgid >> 32, .go = go };
	struct l7_tls_call call = {
		.session = session, .buf = buf, .done = done, .dir = dir, .lib = lib, .sk = sk,
	};

	if (!vigil_filter_pass())
		return 0;
	call.enter_ns = bpf_ktime_get_boot_ns();
	if (bpf_map_update_elem(&l7_tls_calls, &k, &call, BPF_ANY))
		vigil_count(&l7_counters, VIGIL_L7_STASH_FULL);
	return 0;
}

/* The connection key of a session whose socket is not known: the session and the
 * process, never a kernel address (bit 63 clear), odd like a plaintext key. */
static __always_inline __u64 session_key(__u64 session, __u32 tgid)
{
	return (session & 0x0000ffffffffffffULL) | ((__u64)(tgid & 0x7fff) << 48) | 1;
}

/* A TLS call returns, having moved ret bytes of plaintext (ret <= 0: none): they go the way of a syscall's. */
static __always_inline int tls_end(__u64 id, __u32 go, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, tgid = pid_tgid >> 32;
	struct l7_tls_key k = { .id = id, .tgid = tgid, .go = go };
	struct l7_tls_session sess = {};
	struct l7_stash st = {}, *s;
	struct l7_tls_call *call;
	__u64 *known, sk;

	call = bpf_map_lookup_elem(&l7_tls_calls, &k);
	if (!call)
		return 0;
	/* SSL_read_ex/SSL_write_ex: 1 and the count stored, or 0. */
	if (call->done) {
		size_t n = 0;

		if (ret != 1 || bpf_probe_read_user(&n, sizeof(n), (const void *)call->done))
			n = 0;
		ret = n;
	}
	sess.session = call->session;
	sess.tgid = tgid;
	sk = call->sk;
	if (sk) {
		bpf_map_update_elem(&l7_tls_socks, &sess, &sk, BPF_ANY);
	} else {
		known = bpf_map_lookup_elem(&l7_tls_socks, &sess);
		if (known)
			sk = *known;
	}
	if (ret <= 0)
		goto out;
	if (sk) {
		st.sk = sk | 1;
		st.sock = sk;
	} else {
		st.sk = session_key(call->session, tgid);
		vigil_count(&l7_counters, VIGIL_L7_TLS_NO_SOCKET);
	}
	st.ptr = call->buf;
	st.enter_ns = call->enter_ns;
	st.dir = call->dir;
	st.call = call->dir == VIGIL_L7_INGRESS ? VIGIL_L7_TLS_READ : VIGIL_L7_TLS_WRITE;
	st.buf = BUF_PLAIN;
	st.tls = call->lib;
	/* l7_done's helpers find the call under the thread id, as a syscall's. */
	if (bpf_map_update_elem(&l7_stash, &tid, &st, BPF_ANY)) {
		vigil_count(&l7_counters, VIGIL_L7_STASH_FULL);
		goto out;
	}
	s = bpf_map_lookup_elem(&l7_stash, &tid);
	if (s)
		l7_done(s, ret);
	bpf_map_delete_elem(&l7_stash, &tid);
out:
	bpf_map_delete_elem(&l7_tls_calls, &k);
	return 0;
}

/* OpenSSL SSL_read/SSL_write(ssl, buf, num), SSL_read_ex/SSL_write_ex(ssl, buf, num, size_t *done);
 * GnuTLS gnutls_record_recv/send(session, buf, size). */
#define TLS_LIB_PROBES(name, lib, dir, done)                                                   \
	SEC("uprobe")                                                                           \
	int tls_enter_##name(struct pt_regs *ctx)                                               \
	{                                                                                       \
		return tls_begin((__u32)bpf_get_current_pid_tgid(), 0, PT_REGS_PARM1(ctx),     \
				 PT_REGS_PARM2(ctx), done, dir, lib, 0);                       \
	}                                                                                       \
	SEC("uretprobe")                                                                        \
	int tls_exit_##name(struct pt_regs *ctx)                                                \
	{                                                                                       \
		/* An int: -1 is 0xffffffff in RAX. */                                          \
		return tls_end((__u32)bpf_get_current_pid_tgid(), 0, (int)PT_REGS_RC(ctx));    \
	}

TLS_LIB_PROBES(ssl_read, VIGIL_L7_TLS_OPENSSL, VIGIL_L7_INGRESS, 0)
TLS_LIB_PROBES(ssl_write, VIGIL_L7_TLS_OPENSSL, VIGIL_L7_EGRESS, 0)
TLS_LIB_PROBES(ssl_read_ex, VIGIL_L7_TLS_OPENSSL, VIGIL_L7_INGRESS, PT_REGS_PARM4(ctx))
TLS_LIB_PROBES(ssl_write_ex, VIGIL_L7_TLS_OPENSSL, VIGIL_L7_EGRESS, PT_REGS_PARM4(ctx))
TLS_LIB_PROBES(gnutls_recv, VIGIL_L7_TLS_GNUTLS, VIGIL_L7_INGRESS, 0)
TLS_LIB_PROBES(gnutls_send, VIGIL_L7_TLS_GNUTLS, VIGIL_L7_EGRESS, 0)

/* BIO_write(bio, data, len) inside a TLS call of a session whose socket is not
 * known (OpenSSL in an executable: Node's memory BIOs): its first bytes, the
 * thread's print (above), unless the thread has one of this session already
 * (a flight of records, written to a buffering BIO and again, flushed, to the
 * memory BIO: the socket write starts with the first). */
SEC("uprobe")
int tls_bio_write(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct l7_tls_key k = { .id = (__u32)id, .tgid = id >> 32 };
	struct l7_tls_session sess = {};
	struct l7_tls_print p = {}, *had;
	struct l7_tls_call *call;
	__u32 tid = (__u32)id;
	const __u8 *head;

	if ((int)PT_REGS_PARM3(ctx) < TLS_PRINT)
		return 0;
	call = bpf_map_lookup_elem(&l7_tls_calls, &k);
	if (!call || call->sk)
		return 0;
	sess.session = call->session;
	sess.tgid = id >> 32;
	if (bpf_map_lookup_elem(&l7_tls_socks, &sess))
		return 0;
	had = bpf_map_lookup_elem(&l7_tls_prints, &tid);
	if (had && had->session == call->session)
		return 0;
	if (bpf_probe_read_user(p.bytes, sizeof(p.bytes), (const void *)PT_REGS_PARM2(ctx)))
		return 0;
	/* A record (change_cipher_spec, alert, handshake, application_data; version 3.x), not a
	 * handshake message on its way to the transcript's memory BIO. */
	head = (const __u8 *)p.bytes;
	if (head[0] < 0x14 || head[0] > 0x17 || head[1] != 3 || head[2] > 4)
		return 0;
	p.session = call->session;
	bpf_map_update_elem(&l7_tls_prints, &tid, &p, BPF_ANY);
	*(volatile __u64 *)&tls_print_ns = bpf_ktime_get_boot_ns();
	return 0;
}

/* SSL_free(ssl), gnutls_deinit(session): the session ends, and with it its plaintext
 * connection (its socket's may close later, or never: Node's sockets outlive nothing,
 * but a session's address is reused by the next one). */
static __always_inline int tls_free(__u64 session)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct l7_tls_session sess = { .session = session, .tgid = id >> 32 };
	__u64 *known = bpf_map_lookup_elem(&l7_tls_socks, &sess), sk;

	if (known) {
		sk = *known;
		bpf_map_delete_elem(&l7_tls_socks, &sess);
		conn_closed(sk | 1);
	} else {
		conn_closed(session_key(session, sess.tgid));
	}
	return 0;
}

SEC("uprobe")
int tls_free_ssl(struct pt_regs *ctx)
{
	return tls_free(PT_REGS_PARM1(ctx));
}

SEC("uprobe")
int tls_free_gnutls(struct pt_regs *ctx)
{
	return tls_free(PT_REGS_PARM1(ctx));
}

#if defined(__TARGET_ARCH_x86)
/*
 * Go crypto/tls (*Conn).Read/Write(c, b []byte) (int, error), register ABI
 * (Go 1.17+): c in RAX, b's pointer in RBX; the current goroutine's g in R14.
 * No uretprobe (it breaks Go's stack moves): user space attaches tls_go_ret
 * at each RET of the function, where RAX holds the count.
 *
 * The socket: c.conn (a net.Conn interface: its data word 8 bytes in) is a
 * *net.TCPConn, which holds its *netFD (net.conn.fd); netFD.pfd.Sysfd is the
 * descriptor. The offsets are the probe's cookie, which user space reads from
 * the binary's DWARF (bits 0-15: tls.Conn.conn; 16-31: the *netFD in a
 * TCPConn; 32-47: Sysfd in a netFD), or, without DWARF, the layout every Go
 * since 1.9 has had (0, 0, 16; a cookie of 0 says the same). A descriptor
 * that is not a TCP socket (another net.Conn) leaves the socket unknown.
 */
static __always_inline __u64 go_conn_sock(__u64 c, __u64 cookie)
{
	__u64 data = 0, nfd = 0, conn_off = 0, fd_off = 0, sysfd_off = 16;
	long fd = -1;
	struct sock *sk;

	if (cookie) {
		conn_off = cookie & 0xffff;
		fd_off = (cookie >> 16) & 0xffff;
		sysfd_off = (cookie >> 32) & 0xffff;
	}
	if (bpf_probe_read_user(&data, sizeof(data), (const void *)(c + conn_off + 8)) || !data)
		return 0;
	if (bpf_probe_read_user(&nfd, sizeof(nfd), (const void *)(data + fd_off)) || !nfd)
		return 0;
	if (bpf_probe_read_user(&fd, sizeof(fd), (const void *)(nfd + sysfd_off)) || fd < 0 || fd > 0xfffff)
		return 0;
	sk = tcp_sock_of(fd);
	return (__u64)sk;
}

SEC("uprobe")
int tls_go_read(struct pt_regs *ctx)
{
	return tls_begin(ctx->r14, 1, ctx->ax, ctx->bx, 0, VIGIL_L7_INGRESS, VIGIL_L7_TLS_GO,
			 go_conn_sock(ctx->ax, bpf_get_attach_cookie(ctx)));
}

SEC("uprobe")
int tls_go_write(struct pt_regs *ctx)
{
	return tls_begin(ctx->r14, 1, ctx->ax, ctx->bx, 0, VIGIL_L7_EGRESS, VIGIL_L7_TLS_GO,
			 go_conn_sock(ctx->ax, bpf_get_attach_cookie(ctx)));
}

SEC("uprobe")
int tls_go_ret(struct pt_regs *ctx)
{
	return tls_end(ctx->r14, 1, ctx->ax);
}
#endif
