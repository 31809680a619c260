/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Network flows with process identity (bpf/flow.bpf.c -> src/network/).
 *
 * TCP: one record when a connection is established (active: SYN_SENT ->
 * ESTABLISHED; passive: when accept(2) hands it to a process), one when it
 * ends (-> CLOSE) with tcp_sock's counters, and one for an open that never
 * got established (SYN_SENT -> CLOSE, with sk_err saying why).
 *
 * UDP: per (socket, local address:port, remote address:port) counters in a
 * hash that user space drains once per window.
 *
 * DNS: the first VIGIL_DNS_PAYLOAD_MAX bytes of client-side UDP DNS
 * messages (queries leaving, answers arriving), parsed in user space.
 *
 * The process behind a socket (struct vigil_flow_owner) is always taken in
 * process context: at connect (the SYN_SENT transition runs in connect(2)),
 * at accept(2)'s return, at socket(2) (cgroup/sock_create), at a UDP
 * send or receive (sock:sock_send_length / sock_recv_length), never in the
 * softirq where most state changes and packets are seen.
 */
#ifndef __VIGIL_FLOW_H
#define __VIGIL_FLOW_H

enum vigil_flow_limits {
	VIGIL_FLOW_COMM_LEN = 16,
	/* DNS bytes copied per message (RFC 1035 UDP limit without EDNS). */
	VIGIL_DNS_PAYLOAD_MAX = 512,
	/* UDP ports whose traffic is DNS (vigil_dns_ports; 0 = unused slot). */
	VIGIL_DNS_PORTS_MAX = 4,
	VIGIL_FLOW_TCP_MAX = 65536,
	VIGIL_FLOW_UDP_MAX = 65536,
	VIGIL_FLOW_OWNERS_MAX = 65536,
};

/* Record kinds: the first __u32 of every ring record. */
enum vigil_flow_record_kind {
	VIGIL_FLOW_REC_TCP = 0x54435046,	/* "FPCT" */
	VIGIL_FLOW_REC_DNS = 0x534e4446,	/* "FDNS" */
};

enum vigil_flow_tcp_event {
	/* An active open reached ESTABLISHED. */
	VIGIL_FLOW_TCP_CONNECT = 1,
	/* accept(2) returned an established connection to its process. */
	VIGIL_FLOW_TCP_ACCEPT = 2,
	/* An established connection reached CLOSE. */
	VIGIL_FLOW_TCP_CLOSE = 3,
	/* An open that never reached ESTABLISHED reached CLOSE (sk_err says why). */
	VIGIL_FLOW_TCP_FAILED = 4,
	/* A live connection as the socket iterator found it (vigil top tcp). */
	VIGIL_FLOW_TCP_SNAPSHOT = 5,
};

enum vigil_flow_flags {
	/* The local side opened the connection (connect); clear: accepted. */
	VIGIL_FLOW_F_ACTIVE = 1 << 0,
	/* The owner fields are set (taken in process context). */
	VIGIL_FLOW_F_OWNER = 1 << 1,
	/* The start of the connection was not seen (it predates Vigil): no direction, no duration. */
	VIGIL_FLOW_F_NO_START = 1 << 2,
	/* The connection reached ESTABLISHED. */
	VIGIL_FLOW_F_ESTABLISHED = 1 << 3,
	/* This side sent its FIN (it went through FIN_WAIT1 or LAST_ACK). */
	VIGIL_FLOW_F_FIN_SENT = 1 << 4,
	/* The peer's FIN arrived (SOCK_DONE): bytes_received counts it as one byte. */
	VIGIL_FLOW_F_FIN_RCVD = 1 << 5,
	/* Everything queued was acknowledged (snd_una == write_seq): with FIN_SENT,
	 * bytes_acked counts the FIN as one byte. */
	VIGIL_FLOW_F_ALL_ACKED = 1 << 6,
};

enum vigil_flow_dir {
	VIGIL_FLOW_EGRESS = 1,
	VIGIL_FLOW_INGRESS = 2,
};

/* The process that owned a socket, taken in its context. */
struct vigil_flow_owner {
	/* Process start (group leader's start_boottime): with tgid, finds the exec_id. */
	__u64 start_boottime;
	__u64 cgroup_id;
	__u32 tgid;
	__u32 tid;
	__u32 uid;
	/* The in-kernel filters (filter.h) passed for this process. */
	__u8 pass;
	__u8 pad[3];
	char comm[VIGIL_FLOW_COMM_LEN];
};

/* One TCP connection record (VIGIL_FLOW_REC_TCP). Addresses: IPv4 in the
 * first 4 bytes; ports in host order. local = this socket's side. */
struct vigil_flow_tcp_record {
	__u32 kind;
	__u8 event;		/* enum vigil_flow_tcp_event */
	__u8 family;		/* AF_INET, AF_INET6 */
	__u8 oldstate;		/* the transition that made the record */
	__u8 newstate;
	__u32 flags;		/* enum vigil_flow_flags */
	__s32 sk_err;		/* failed opens: ECONNREFUSED, ETIMEDOUT, ... */
	__u64 time_ns;		/* boot ns */
	__u64 start_ns;		/* boot ns of the open (SYN_SENT / SYN_RECV); 0 when not seen */
	__u64 sk;		/* the socket's address: the connection's id while it lives */
	__u64 cookie;		/* the kernel's socket cookie */
	__u64 bytes_acked;	/* sent and acknowledged; counts an acked SYN and FIN as a byte each */
	__u64 bytes_received;	/* counts a received FIN as a byte */
	__u32 segs_out;
	__u32 segs_in;
	__u32 total_retrans;
	__u32 srtt_us;		/* smoothed RTT, µs (srtt_us >> 3) */
	__u16 lport;
	__u16 rport;
	__u8 pad[4];
	__u8 laddr[16];
	__u8 raddr[16];
	struct vigil_flow_owner owner;
};

/* Per-socket state of a TCP connection, keyed by the sock's address. */
struct vigil_flow_tcp_state {
	__u64 start_ns;
	/* The socket cookie (read where the helper may be called: not in the accept tracepoint). */
	__u64 cookie;
	__u32 flags;
	/* The local port once ESTABLISHED (the CLOSE transition has already released it). */
	__u16 lport;
	__u16 pad;
	struct vigil_flow_owner owner;
};

/* UDP aggregation key: one socket's conversation with one peer. */
struct vigil_flow_udp_key {
	__u64 cookie;
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u8 family;
	__u8 pad[3];
};

struct vigil_flow_udp_value {
	__u64 bytes_tx;
	__u64 bytes_rx;
	__u64 packets_tx;
	__u64 packets_rx;
	__u64 first_ns;
	__u64 last_ns;
	/* enum vigil_flow_dir of the first datagram counted. */
	__u32 first_dir;
	/* The socket's cgroup v2 id (bpf_skb_cgroup_id). */
	__u32 pad;
	__u64 cgroup_id;
};

/* A DNS message over UDP (VIGIL_FLOW_REC_DNS), addresses as on the wire. */
struct vigil_flow_dns_record {
	__u32 kind;
	__u8 family;
	__u8 dir;		/* enum vigil_flow_dir: EGRESS = a query leaving, INGRESS = an answer arriving */
	__u16 payload_len;	/* the DNS message's length (UDP payload) */
	__u16 captured;		/* bytes in payload[] */
	__u16 sport;
	__u16 dport;
	__u16 pad;
	__u64 time_ns;
	__u64 cookie;
	__u8 saddr[16];
	__u8 daddr[16];
	/* Zero (pass = 0, tgid = 0) when the socket's process was not known yet. */
	struct vigil_flow_owner owner;
	__u8 payload[VIGIL_DNS_PAYLOAD_MAX];
};

#endif /* __VIGIL_FLOW_H */
