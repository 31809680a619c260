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
	VIGIL_L7_COUNTERS = 6,
};

/* One socket call that moved bytes (or a close): this header, then data_len bytes. */
struct vigil_l7_event {
	__u32 kind;			/* VIGIL_L7_DATA or VIGIL_L7_CLOSE */
	__u8 proto;			/* enum vigil_l7_proto */
	__u8 dir;			/* enum vigil_l7_dir */
	__u8 call;			/* enum vigil_l7_call */
	__u8 pad0;
	__u64 conn;			/* the connection: its struct sock's address (unique while open) */
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

#endif /* __VIGIL_L7_H */
