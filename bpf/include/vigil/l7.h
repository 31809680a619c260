/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* L7 capture (bpf/l7.bpf.c): the bytes of TCP socket reads and writes, from
 * the syscall tracepoints, for the connections whose protocol the kernel
 * recognised from their first bytes.
 *
 * A record is the fixed header below, then data_len bytes: the first
 * data_len of the `size` bytes the call moved (capture_bytes at most, the
 * whole of a small message). A sendfile moves `size` bytes and carries none.
 * A close() of a descriptor of a followed connection is a VIGIL_L7_CLOSE
 * record with no data (its table entry is gone; user space drops its state).
 *
 * TLS: uprobes on the libraries' read and write calls send the plaintext as
 * records of calls VIGIL_L7_TLS_READ/WRITE with `tls` naming the library, on
 * a connection of its own (conn | 1), through the same inference and table.
 */
#ifndef __VIGIL_L7_H
#define __VIGIL_L7_H

enum vigil_l7_limits {
	/* Most bytes one record carries (capture_bytes is capped to it). */
	VIGIL_L7_DATA_MAX = 4096,
	/* iovecs of a readv/writev/recvmsg/sendmsg read for data. */
	VIGIL_L7_IOV_MAX = 8,
	/* Calls that find no protocol before the connection is left alone. */
	VIGIL_L7_INFER_TRIES = 4,
	VIGIL_L7_COMM_LEN = 16,
	/* Latency histograms: log-linear, VIGIL_L7_HIST_SUB buckets per power of
	 * two from 2^VIGIL_L7_HIST_MIN_SHIFT ns (1 us), VIGIL_L7_HIST_POWERS powers. */
	VIGIL_L7_HIST_SUB = 8,
	VIGIL_L7_HIST_MIN_SHIFT = 10,
	VIGIL_L7_HIST_POWERS = 32,
	VIGIL_L7_HIST_BUCKETS = 256,
	/* A route template's bytes in a histogram's key (NUL included). */
	VIGIL_L7_ROUTE_MAX = 88,
};

/* The first __u32 of every record. */
enum vigil_l7_kind {
	VIGIL_L7_DATA = 0x4c374454,	/* "L7DT" */
	VIGIL_L7_CLOSE = 0x4c37434c,	/* "L7CL" */
};

/* The protocol the kernel inferred (vigil_l7_event.proto, bits of protocols). */
enum vigil_l7_proto {
	VIGIL_L7_PROTO_UNKNOWN = 0,
	VIGIL_L7_PROTO_HTTP = 1,
	VIGIL_L7_PROTO_REDIS = 2,
	VIGIL_L7_PROTO_PGSQL = 3,
	VIGIL_L7_PROTO_MYSQL = 4,
	VIGIL_L7_PROTO_HTTP2 = 5,
	VIGIL_L7_PROTO_KAFKA = 6,
	/* Not a protocol Vigil parses (or not one asked for): left alone. */
	VIGIL_L7_PROTO_NONE = 15,
};

/* Which way the bytes went, seen from the process. */
enum vigil_l7_dir {
	VIGIL_L7_EGRESS = 0,	/* written: write, writev, sendto, sendmsg, sendfile */
	VIGIL_L7_INGRESS = 1,	/* read: read, readv, recvfrom, recvmsg */
};

enum vigil_l7_call {
	VIGIL_L7_READ = 1,
	VIGIL_L7_WRITE = 2,
	VIGIL_L7_RECVFROM = 3,
	VIGIL_L7_SENDTO = 4,
	VIGIL_L7_READV = 5,
	VIGIL_L7_WRITEV = 6,
	VIGIL_L7_RECVMSG = 7,
	VIGIL_L7_SENDMSG = 8,
	VIGIL_L7_SENDFILE = 9,
	/* A TLS library's call, its plaintext (uprobes: SSL_read/SSL_write,
	 * gnutls_record_recv/send, Go's crypto/tls (*Conn).Read/Write). */
	VIGIL_L7_TLS_READ = 10,
	VIGIL_L7_TLS_WRITE = 11,
};

/* The TLS library whose plaintext a record carries (vigil_l7_event.tls). */
enum vigil_l7_tls {
	VIGIL_L7_TLS_NONE = 0,
	VIGIL_L7_TLS_OPENSSL = 1,
	VIGIL_L7_TLS_GNUTLS = 2,
	VIGIL_L7_TLS_GO = 3,
};

/* Counters (per CPU, map l7_counters). */
enum vigil_l7_counter {
	/* Connections entered in the table (first call on a TCP socket). */
	VIGIL_L7_CONN_NEW = 0,
	/* Connections removed from the table by a close. */
	VIGIL_L7_CONN_CLOSED = 1,
	/* Connections found not to speak a protocol asked for (left alone). */
	VIGIL_L7_CONN_NOT_L7 = 2,
	/* Calls not followed: the in-flight table was full. */
	VIGIL_L7_STASH_FULL = 3,
	/* Records whose data was cut to capture_bytes. */
	VIGIL_L7_DATA_CUT = 4,
	/* Bytes of user memory that could not be read (a record without data). */
	VIGIL_L7_READ_FAILED = 5,
	/* Exchanges counted in the overflow histogram: the endpoint table was full. */
	VIGIL_L7_HIST_OVERFLOW = 6,
	/* Requests whose exchange state could not be kept (the exchange table's LRU). */
	VIGIL_L7_HIST_NO_STATE = 7,
	/* TLS calls whose socket was not found (a memory BIO, as Node's): their
	 * connection is the TLS session, their ends unknown (zero). */
	VIGIL_L7_TLS_NO_SOCKET = 8,
	/* TLS sessions over a memory BIO (Node) whose socket was found: a
	 * socket write of the thread carried the ciphertext the session had
	 * just written to its BIO. */
	VIGIL_L7_TLS_BOUND = 9,
	VIGIL_L7_COUNTERS = 10,
};

/* An HTTP request's method in a histogram key (0: not one of these). */
enum vigil_l7_method {
	VIGIL_L7_GET = 1,
	VIGIL_L7_POST = 2,
	VIGIL_L7_PUT = 3,
	VIGIL_L7_HEAD = 4,
	VIGIL_L7_DELETE = 5,
	VIGIL_L7_PATCH = 6,
	VIGIL_L7_OPTIONS = 7,
};

/* Which side of the connection the process is (vigil_l7_hist_key.role). */
enum vigil_l7_role {
	VIGIL_L7_ROLE_UNKNOWN = 0,
	VIGIL_L7_ROLE_SERVER = 1,	/* it read the first request */
	VIGIL_L7_ROLE_CLIENT = 2,	/* it wrote the first request */
};

/* One socket call that moved bytes (or a close): this header, then data_len bytes. */
struct vigil_l7_event {
	__u32 kind;			/* VIGIL_L7_DATA or VIGIL_L7_CLOSE */
	__u8 proto;			/* enum vigil_l7_proto */
	__u8 dir;			/* enum vigil_l7_dir */
	__u8 call;			/* enum vigil_l7_call */
	__u8 tls;			/* enum vigil_l7_tls: the plaintext of a TLS library's call */
	__u64 conn;			/* the connection: its struct sock's address (unique while open);
					 * a TLS one's plaintext: that address | 1 (or, its socket
					 * unknown, the TLS session's address and the pid) */
	__u64 enter_ns;			/* syscall entry, CLOCK_BOOTTIME ns */
	__u64 exit_ns;			/* syscall exit */
	__u64 cgroup_id;
	__u32 pid;			/* thread group id */
	__u32 tid;
	__u32 size;			/* bytes the call moved (its result) */
	__u32 data_len;			/* bytes that follow */
	__u16 family;			/* AF_INET or AF_INET6 */
	__u16 lport;			/* host order */
	__u16 rport;
	__u16 pad1;
	__u8 laddr[16];			/* network order; IPv4 in the first 4 bytes */
	__u8 raddr[16];
	char comm[VIGIL_L7_COMM_LEN];
};

/*
 * An endpoint of the in-kernel latency histograms (map l7_hist): a service
 * (the process's comm, and its listening port as a server, or the address
 * and port it calls as a client) and a method and route template.
 */
struct vigil_l7_hist_key {
	char comm[VIGIL_L7_COMM_LEN];
	__u8 raddr[16];			/* client: the server's address (network order); server: zero */
	__u16 port;			/* server: the local port; client: the remote port */
	__u16 family;			/* client: AF_INET or AF_INET6; server: 0 */
	__u8 role;			/* enum vigil_l7_role */
	__u8 method;			/* enum vigil_l7_method */
	__u8 proto;			/* enum vigil_l7_proto */
	__u8 pad;
	char route[VIGIL_L7_ROUTE_MAX];	/* path template, ids as {id}, NUL-padded */
};

/*
 * An endpoint's exchanges (request and response) since the sensor started.
 * Latency is from the request's first byte (a read's exit, a write's entry)
 * to the response's last byte seen so far: an exchange is counted at its
 * response's first call and moved to a later bucket by each call after it.
 */
struct vigil_l7_hist {
	__u64 count;
	__u64 errors;			/* server: status >= 500; client: >= 400 */
	__u64 sum_ns;
	__u32 buckets[VIGIL_L7_HIST_BUCKETS];
};

#endif /* __VIGIL_L7_H */
