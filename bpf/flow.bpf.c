// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Network flows with the process behind them (vigil/flow.h).
 *
 * TCP from sock:inet_sock_set_state (tp_btf: the sock itself, not the
 * tracepoint's copy of its addresses), with tcp_sock's counters read through
 * CO-RE at the CLOSE transition. No kprobes.
 *
 * Whose socket is it? inet_sock_set_state fires in the context of whatever
 * runs the state machine: connect(2) for CLOSE -> SYN_SENT, but the softirq
 * of an arriving segment for SYN_SENT -> ESTABLISHED, for the whole passive
 * handshake and mostly for the close. So the owner is taken where the
 * process is current and kept with the connection's state (keyed by the
 * sock's address, deleted at CLOSE):
 *   active open   at CLOSE -> SYN_SENT, which runs inside connect(2) (or
 *                 sendmsg(MSG_FASTOPEN)) in the connecting thread;
 *   passive open  at the return of accept(2)/accept4(2): the returned fd's
 *                 sock is looked up in this task's file table and the
 *                 accepting process becomes the owner; the ACCEPT record is
 *                 sent from there (a connection never accepted has no owner).
 *
 * UDP: cgroup_skb on the cgroup v2 root sees every datagram with its
 * addresses and the socket it leaves or reaches (socket cookie); counters
 * per (socket, local, remote) go to a hash drained per window. Owners by
 * cookie come from cgroup/sock_create (socket(2), process context, before
 * any datagram), from sock:sock_send_length / sock_recv_length (sockets that
 * predate Vigil, on kernels that have these tracepoints: 6.1 does not, and
 * user space then loads neither program) and, for a datagram leaving, from
 * the sending task (UDP egress runs in sendmsg), read from its task_struct
 * (see owner_from_task). DNS messages on the configured ports are copied to
 * the ring for parsing in user space.
 *
 * Every cgroup program here returns 1 (let the packet/socket through): this
 * object observes, it never enforces.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "vigil/maps.h"
#include "vigil/filter.h"
#include "vigil/ringbuf.h"
#include "vigil/flow.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps the header's types in this object's BTF for src/codegen (see bpf/include/vigil/README.md). */
VIGIL_KEEP_TYPES(struct vigil_flow_tcp_record, struct vigil_flow_dns_record, enum vigil_flow_limits,
		 enum vigil_flow_record_kind, enum vigil_flow_tcp_event, enum vigil_flow_flags,
		 enum vigil_flow_dir);

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

/* include/net/tcp_states.h */
enum {
	TCP_ESTABLISHED_ = 1,
	TCP_SYN_SENT_ = 2,
	TCP_SYN_RECV_ = 3,
	TCP_FIN_WAIT1_ = 4,
	TCP_CLOSE_ = 7,
	TCP_LAST_ACK_ = 9,
	TCP_LISTEN_ = 10,
	TCP_NEW_SYN_RECV_ = 12,
};

/* UDP ports whose datagrams are DNS (0: unused slot). */
const volatile __u16 vigil_dns_ports[VIGIL_DNS_PORTS_MAX] = { 53, 0, 0, 0 };
/* Report TCP / UDP / DNS at all (user space turns off what it does not show). */
const volatile __u8 vigil_flow_want_tcp = 1;
const volatile __u8 vigil_flow_want_udp = 1;
const volatile __u8 vigil_flow_want_dns = 1;
/* Send CONNECT and ACCEPT records (0: the output shows closes only, which
 * carry the connection's totals; opens are still tracked for their owners). */
const volatile __u8 vigil_flow_want_opens = 1;

VIGIL_RING_MAP(events, 1 << 20);

/* LRU: a sock freed without a CLOSE transition (none is known, but a leak
 * here would silently stop TCP tracking) ages out instead of filling it. */
VIGIL_KEYED_MAP(vigil_flow_tcp_states, BPF_MAP_TYPE_LRU_HASH, VIGIL_FLOW_TCP_MAX,
		__u64, struct vigil_flow_tcp_state);

VIGIL_KEYED_MAP(vigil_flow_owners, BPF_MAP_TYPE_LRU_HASH, VIGIL_FLOW_OWNERS_MAX,
		__u64, struct vigil_flow_owner);

VIGIL_LAZY_MAP(vigil_flow_udp, BPF_MAP_TYPE_HASH, VIGIL_FLOW_UDP_MAX,
	       struct vigil_flow_udp_key, struct vigil_flow_udp_value);

/* UDP conversations not counted because vigil_flow_udp was full. */
VIGIL_INDEXED_MAP(vigil_flow_udp_full, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u64);

/* The current task as a socket owner; runs the task filters once. */
static __always_inline void owner_from_current(struct vigil_flow_owner *o)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();

	o->tgid = id >> 32;
	o->tid = (__u32)id;
	o->uid = (__u32)bpf_get_current_uid_gid();
	o->start_boottime = BPF_CORE_READ(task, group_leader, start_boottime);
	o->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(o->comm, sizeof(o->comm));
	o->pass = vigil_filter_pass();
}

/*
 * The same from the task_struct, for cgroup_skb programs: older kernels
 * (6.1 and 6.12 among them; 6.18 allows them) refuse these programs every
 * bpf_get_current_* helper but bpf_get_current_task, and CO-RE reads of the
 * task give the same values (the uid bpf_get_current_uid_gid reports, the
 * cgroup v2 id of the task's default hierarchy, the comm NUL-padded).
 */
static __always_inline void owner_from_task(struct vigil_flow_owner *o)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	o->tgid = BPF_CORE_READ(task, tgid);
	o->tid = BPF_CORE_READ(task, pid);
	o->uid = BPF_CORE_READ(task, cred, uid.val);
	o->start_boottime = BPF_CORE_READ(task, group_leader, start_boottime);
	o->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	__builtin_memset(o->comm, 0, sizeof(o->comm));
	bpf_probe_read_kernel_str(o->comm, sizeof(o->comm), &task->comm);
	o->pass = vigil_filter_values_pass(o->tgid, o->uid, o->comm, o->cgroup_id);
}

/* With filters on, only sockets of processes that passed them are reported. */
static __always_inline bool owner_reported(const struct vigil_flow_owner *o, bool known)
{
	if (!vigil_filter_flags)
		return true;
	return known && o->pass;
}

/* --- TCP ----------------------------------------------------------------- */

static __always_inline void read_addrs(const struct sock *sk, __u8 family, __u8 *laddr, __u8 *raddr)
{
	if (family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)raddr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO((struct in6_addr *)laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr *)raddr, sk, __sk_common.skc_v6_daddr);
	}
}

static __always_inline void fill_tcp(struct vigil_flow_tcp_record *r, const struct sock *sk, __u8 event,
				     int oldstate, int newstate, const struct vigil_flow_tcp_state *st, __u64 cookie)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u8 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	r->kind = VIGIL_FLOW_REC_TCP;
	r->event = event;
	r->flags = 0;
	r->family = family;
	r->oldstate = oldstate;
	r->newstate = newstate;
	r->time_ns = bpf_ktime_get_boot_ns();
	r->sk = (__u64)sk;
	r->cookie = cookie;
	r->sk_err = BPF_CORE_READ(sk, sk_err);
	r->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	r->bytes_received = BPF_CORE_READ(tp, bytes_received);
	r->segs_out = BPF_CORE_READ(tp, segs_out);
	r->segs_in = BPF_CORE_READ(tp, segs_in);
	r->total_retrans = BPF_CORE_READ(tp, total_retrans);
	r->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	/* CLOSE has released the port (inet_num = 0) by the time it is traced. */
	r->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!r->lport && st && st->lport)
		r->lport = st->lport;
	if (!r->lport)
		r->lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	r->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__builtin_memset(r->pad, 0, sizeof(r->pad));
	__builtin_memset(r->laddr, 0, sizeof(r->laddr));
	__builtin_memset(r->raddr, 0, sizeof(r->raddr));
	read_addrs(sk, family, r->laddr, r->raddr);
	if (st) {
		r->flags = st->flags;
		if (BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq))
			r->flags |= VIGIL_FLOW_F_ALL_ACKED;
		r->start_ns = st->start_ns;
		r->owner = st->owner;
	} else {
		r->flags = VIGIL_FLOW_F_NO_START | VIGIL_FLOW_F_ESTABLISHED;
		if (BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq))
			r->flags |= VIGIL_FLOW_F_ALL_ACKED;
		if (oldstate == TCP_LAST_ACK_ || oldstate == TCP_FIN_WAIT1_ || oldstate == 5 || oldstate == 11)
			r->flags |= VIGIL_FLOW_F_FIN_SENT;
		r->start_ns = 0;
		__builtin_memset(&r->owner, 0, sizeof(r->owner));
	}
	/* tcp_fin() sets SOCK_DONE; nothing else does before the CLOSE transition. */
	if (BPF_CORE_READ(sk, __sk_common.skc_flags) & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE)))
		r->flags |= VIGIL_FLOW_F_FIN_RCVD;
}

static __always_inline void send_tcp(const struct sock *sk, __u8 event, int oldstate, int newstate,
				     const struct vigil_flow_tcp_state *st, __u64 cookie)
{
	struct vigil_flow_tcp_record *r = vigil_reserve(&events, 0, sizeof(*r));

	if (!r)
		return;
	fill_tcp(r, sk, event, oldstate, newstate, st, cookie);
	vigil_submit(&events, r);
}

/* States a connection can be in after ESTABLISHED (the close of one opened before Vigil). */
static __always_inline bool was_established(int state)
{
	return state == TCP_ESTABLISHED_ || (state >= 4 && state <= 6) || state == 8 || state == 9 || state == 11;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(vigil_flow_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct vigil_flow_tcp_state *st, init = {};
	__u64 key = (__u64)sk;
	__u16 family;

	if (!vigil_flow_want_tcp || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;

	if (newstate == TCP_SYN_SENT_) {
		/* Inside connect(2): the current task owns the socket. */
		init.start_ns = bpf_ktime_get_boot_ns();
		init.cookie = bpf_get_socket_cookie((void *)sk);
		init.flags = VIGIL_FLOW_F_ACTIVE | VIGIL_FLOW_F_OWNER;
		owner_from_current(&init.owner);
		if (!owner_reported(&init.owner, true))
			return 0;
		bpf_map_update_elem(&vigil_flow_tcp_states, &key, &init, BPF_ANY);
		return 0;
	}
	if (newstate == TCP_SYN_RECV_) {
		/* A passive open's child sock (softirq): the owner comes at accept. */
		if (oldstate == TCP_SYN_SENT_)
			return 0; /* simultaneous open: keeps its active state */
		init.start_ns = bpf_ktime_get_boot_ns();
		init.cookie = bpf_get_socket_cookie((void *)sk);
		bpf_map_update_elem(&vigil_flow_tcp_states, &key, &init, BPF_NOEXIST);
		return 0;
	}
	st = bpf_map_lookup_elem(&vigil_flow_tcp_states, &key);
	if (newstate == TCP_ESTABLISHED_) {
		if (!st)
			return 0;
		st->flags |= VIGIL_FLOW_F_ESTABLISHED;
		st->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		if (vigil_flow_want_opens && (st->flags & VIGIL_FLOW_F_ACTIVE) &&
		    owner_reported(&st->owner, st->flags & VIGIL_FLOW_F_OWNER))
			send_tcp(sk, VIGIL_FLOW_TCP_CONNECT, oldstate, newstate, st, st->cookie);
		return 0;
	}
	if (newstate == TCP_FIN_WAIT1_ || newstate == TCP_LAST_ACK_) {
		if (st)
			st->flags |= VIGIL_FLOW_F_FIN_SENT;
		return 0;
	}
	if (newstate != TCP_CLOSE_)
		return 0;
	if (st) {
		if (owner_reported(&st->owner, st->flags & VIGIL_FLOW_F_OWNER))
			send_tcp(sk, st->flags & VIGIL_FLOW_F_ESTABLISHED ? VIGIL_FLOW_TCP_CLOSE : VIGIL_FLOW_TCP_FAILED,
				 oldstate, newstate, st, st->cookie);
		bpf_map_delete_elem(&vigil_flow_tcp_states, &key);
		return 0;
	}
	/* Opened before Vigil started (or its state did not fit): totals, no owner. */
	if (!vigil_filter_flags && was_established(oldstate))
		send_tcp(sk, VIGIL_FLOW_TCP_CLOSE, oldstate, newstate, NULL, bpf_get_socket_cookie((void *)sk));
	return 0;
}

/* The sock behind fd in the current task's file table (NULL if none). */
static __always_inline struct sock *sock_of_fd(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *f = NULL;
	struct socket *sock;

	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (!fds || bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

/* accept(2) / accept4(2) returned a connection: its process is the owner. */
SEC("tracepoint/syscalls/sys_exit_accept4")
int vigil_flow_accept_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct vigil_flow_tcp_state *st;
	struct sock *sk;
	__u64 key;

	if (!vigil_flow_want_tcp || ctx->ret < 0)
		return 0;
	sk = sock_of_fd(ctx->ret);
	if (!sk)
		return 0;
	key = (__u64)sk;
	/* Only socks this program saw opened passively (so it is a TCP sock, not a stale fd). */
	st = bpf_map_lookup_elem(&vigil_flow_tcp_states, &key);
	if (!st || (st->flags & (VIGIL_FLOW_F_ACTIVE | VIGIL_FLOW_F_OWNER)))
		return 0;
	owner_from_current(&st->owner);
	st->flags |= VIGIL_FLOW_F_OWNER;
	if (!owner_reported(&st->owner, true)) {
		bpf_map_delete_elem(&vigil_flow_tcp_states, &key);
		return 0;
	}
	if (vigil_flow_want_opens)
		send_tcp(sk, VIGIL_FLOW_TCP_ACCEPT, BPF_CORE_READ(sk, __sk_common.skc_state),
			 BPF_CORE_READ(sk, __sk_common.skc_state), st, st->cookie);
	return 0;
}

/* --- socket owners (UDP) -------------------------------------------------- */

SEC("cgroup/sock_create")
int vigil_flow_sock_create(struct bpf_sock *ctx)
{
	struct vigil_flow_owner o = {};
	__u64 cookie;

	if (ctx->protocol != IPPROTO_UDP || (ctx->family != AF_INET && ctx->family != AF_INET6))
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	owner_from_current(&o);
	bpf_map_update_elem(&vigil_flow_owners, &cookie, &o, BPF_ANY);
	return 1;
}

/* Sockets that predate Vigil (or changed hands): learn the owner at send/receive. */
static __always_inline void learn_owner(struct sock *sk)
{
	struct vigil_flow_owner o = {}, *cur;
	__u64 cookie;

	if (!vigil_flow_want_udp && !vigil_flow_want_dns)
		return;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
		return;
	cookie = bpf_get_socket_cookie(sk);
	cur = bpf_map_lookup_elem(&vigil_flow_owners, &cookie);
	if (cur && cur->tgid == bpf_get_current_pid_tgid() >> 32)
		return;
	owner_from_current(&o);
	bpf_map_update_elem(&vigil_flow_owners, &cookie, &o, BPF_ANY);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(vigil_flow_send_length, struct sock *sk, int ret, int flags)
{
	learn_owner(sk);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(vigil_flow_recv_length, struct sock *sk, int ret, int flags)
{
	learn_owner(sk);
	return 0;
}

/* --- UDP datagrams and DNS (cgroup_skb on the cgroup v2 root) ------------- */

static __always_inline bool dns_port(__u16 port)
{
	for (int i = 0; i < VIGIL_DNS_PORTS_MAX; i++) {
		if (vigil_dns_ports[i] && vigil_dns_ports[i] == port)
			return true;
	}
	return false;
}

static __always_inline void count_udp(struct vigil_flow_udp_key *k, __u32 dir, __u64 bytes, __u64 cgroup_id)
{
	struct vigil_flow_udp_value *v, init = {};
	__u64 now = bpf_ktime_get_boot_ns();

	v = bpf_map_lookup_elem(&vigil_flow_udp, k);
	if (!v) {
		init.first_ns = now;
		init.first_dir = dir;
		init.cgroup_id = cgroup_id;
		/* EEXIST (another CPU inserted it first) is fine: look it up again. */
		bpf_map_update_elem(&vigil_flow_udp, k, &init, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&vigil_flow_udp, k);
		if (!v) {
			vigil_count(&vigil_flow_udp_full, 0);
			return;
		}
	}
	if (dir == VIGIL_FLOW_EGRESS) {
		__sync_fetch_and_add(&v->bytes_tx, bytes);
		__sync_fetch_and_add(&v->packets_tx, 1);
	} else {
		__sync_fetch_and_add(&v->bytes_rx, bytes);
		__sync_fetch_and_add(&v->packets_rx, 1);
	}
	v->last_ns = now;
}

static __always_inline void send_dns(struct __sk_buff *skb, __u32 dir, __u8 family, __u32 off, __u32 len,
				     const __u8 *saddr, const __u8 *daddr, __u16 sport, __u16 dport,
				     __u64 cookie, const struct vigil_flow_owner *o)
{
	struct vigil_flow_dns_record *r;
	__u32 n = len;

	r = vigil_reserve(&events, 1, sizeof(*r));
	if (!r)
		return;
	r->kind = VIGIL_FLOW_REC_DNS;
	r->family = family;
	r->dir = dir;
	r->payload_len = len;
	r->sport = sport;
	r->dport = dport;
	r->pad = 0;
	r->time_ns = bpf_ktime_get_boot_ns();
	r->cookie = cookie;
	__builtin_memcpy(r->saddr, saddr, 16);
	__builtin_memcpy(r->daddr, daddr, 16);
	if (o)
		r->owner = *o;
	else
		__builtin_memset(&r->owner, 0, sizeof(r->owner));
	if (n > VIGIL_DNS_PAYLOAD_MAX)
		n = VIGIL_DNS_PAYLOAD_MAX;
	/* The length handed to the helper must be provably 1..MAX: older
	 * verifiers (6.1) learn nothing from n != 0, so it is rebuilt as
	 * ((n - 1) & (MAX - 1)) + 1, which is n itself here; the barrier keeps
	 * clang from dropping the mask it can prove redundant. */
	barrier_var(n);
	if (n < 1 || bpf_skb_load_bytes(skb, off, r->payload, ((n - 1) & (VIGIL_DNS_PAYLOAD_MAX - 1)) + 1))
		n = 0;
	r->captured = n;
	vigil_submit(&events, r);
}

static __always_inline int on_skb(struct __sk_buff *skb, __u32 dir)
{
	struct vigil_flow_udp_key k = {};
	struct vigil_flow_owner *o, fresh;
	__u8 saddr[16] = {}, daddr[16] = {};
	__u8 vhl;
	__u32 l4off;
	struct udphdr uh;
	__u16 sport, dport, ulen;
	__u64 cookie;
	bool dns;

	if (!vigil_flow_want_udp && !vigil_flow_want_dns)
		return 1;
	if (bpf_skb_load_bytes(skb, 0, &vhl, 1))
		return 1;
	if ((vhl >> 4) == 4) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || ip.protocol != IPPROTO_UDP)
			return 1;
		if (ip.frag_off & bpf_htons(0x1fff))
			return 1; /* a later fragment: no UDP header */
		k.family = AF_INET;
		__builtin_memcpy(saddr, &ip.saddr, 4);
		__builtin_memcpy(daddr, &ip.daddr, 4);
		l4off = (ip.ihl & 0xf) * 4;
	} else if ((vhl >> 4) == 6) {
		struct ipv6hdr ip6;

		/* Extension headers before UDP are not followed. */
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) || ip6.nexthdr != IPPROTO_UDP)
			return 1;
		k.family = AF_INET6;
		__builtin_memcpy(saddr, &ip6.saddr, 16);
		__builtin_memcpy(daddr, &ip6.daddr, 16);
		l4off = sizeof(ip6);
	} else {
		return 1;
	}
	if (bpf_skb_load_bytes(skb, l4off, &uh, sizeof(uh)))
		return 1;
	sport = bpf_ntohs(uh.source);
	dport = bpf_ntohs(uh.dest);
	ulen = bpf_ntohs(uh.len);
	if (ulen < sizeof(uh))
		return 1;

	cookie = bpf_get_socket_cookie(skb);
	o = cookie ? bpf_map_lookup_elem(&vigil_flow_owners, &cookie) : NULL;
	if (!o && cookie && dir == VIGIL_FLOW_EGRESS) {
		/* A UDP datagram leaves from inside sendmsg: current is the sender. */
		__builtin_memset(&fresh, 0, sizeof(fresh));
		owner_from_task(&fresh);
		bpf_map_update_elem(&vigil_flow_owners, &cookie, &fresh, BPF_NOEXIST);
		o = bpf_map_lookup_elem(&vigil_flow_owners, &cookie);
	}
	if (vigil_filter_flags && (!o || !o->pass))
		return 1;

	dns = vigil_flow_want_dns && (dir == VIGIL_FLOW_EGRESS ? dns_port(dport) : dns_port(sport));
	if (dns)
		send_dns(skb, dir, k.family, l4off + sizeof(uh), ulen - sizeof(uh), saddr, daddr, sport, dport, cookie, o);
	if (!vigil_flow_want_udp)
		return 1;
	k.cookie = cookie;
	if (dir == VIGIL_FLOW_EGRESS) {
		__builtin_memcpy(k.laddr, saddr, 16);
		__builtin_memcpy(k.raddr, daddr, 16);
		k.lport = sport;
		k.rport = dport;
	} else {
		__builtin_memcpy(k.laddr, daddr, 16);
		__builtin_memcpy(k.raddr, saddr, 16);
		k.lport = dport;
		k.rport = sport;
	}
	count_udp(&k, dir, ulen - sizeof(uh), bpf_skb_cgroup_id(skb));
	return 1;
}

SEC("cgroup_skb/egress")
int vigil_flow_egress(struct __sk_buff *skb)
{
	return on_skb(skb, VIGIL_FLOW_EGRESS);
}

SEC("cgroup_skb/ingress")
int vigil_flow_ingress(struct __sk_buff *skb)
{
	return on_skb(skb, VIGIL_FLOW_INGRESS);
}

/* --- live connections (vigil top tcp) -------------------------------------- */

/* Every full TCP socket of this network namespace but listeners: one record
 * each (event SNAPSHOT), with the owner when this object saw it opened. */
SEC("iter/tcp")
int vigil_flow_tcp_iter(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct vigil_flow_tcp_record r;
	struct vigil_flow_tcp_state *st;
	struct tcp_sock *tp;
	__u64 key;
	int state;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; /* TIME_WAIT and request socks: no counters */
	state = BPF_CORE_READ(skc, skc_state);
	if (state == TCP_LISTEN_ || state == TCP_CLOSE_)
		return 0;
	key = (__u64)tp;
	st = bpf_map_lookup_elem(&vigil_flow_tcp_states, &key);
	if (vigil_filter_flags && !(st && (st->flags & VIGIL_FLOW_F_OWNER) && st->owner.pass))
		return 0;
	__builtin_memset(&r, 0, sizeof(r));
	fill_tcp(&r, (const struct sock *)tp, VIGIL_FLOW_TCP_SNAPSHOT, state, state, st,
		 st ? st->cookie : bpf_get_socket_cookie(tp));
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
