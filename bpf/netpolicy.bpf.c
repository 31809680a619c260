// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Per-cgroup network policy of `vigil netpolicy`: one object per policy,
 * attached to one cgroup.
 *
 *  - cgroup/connect4, connect6 (TCP and UDP connect) and sendmsg4, sendmsg6
 *    (unconnected UDP sends) judge egress in the calling process's context:
 *    returning 0 makes the syscall fail with EPERM, and the denial carries the
 *    pid and comm of the process that tried.
 *  - cgroup_skb/ingress judges new inbound traffic: TCP segments arriving at a
 *    listening socket (connection attempts; established connections were
 *    judged when they began) and datagrams to unconnected UDP sockets.
 *  - cgroup_skb/egress judges TCP SYNs and UDP datagrams leaving the cgroup's
 *    sockets, which also covers sockets that were connected before the policy.
 *  - cgroup/sock_create records who created each socket (sk_storage), so that
 *    denials in the skb hooks (softirq, no current process) name the owner.
 *
 * Other protocols (ICMP, ...) and IPv6 packets whose next header is not TCP
 * or UDP pass. Rules are read from a two-generation array (see
 * vigil/netpolicy.h); the first matching rule decides.
 *
 * Headroom: the rules are walked by a bpf_loop callback inside the global
 * function np_judge, and a denial is counted and sent by the global function
 * np_deny. The verifier checks a global function once, on its own, with its
 * arguments unknown (here: a pointer to the caller's struct judgement), and
 * a bpf_loop callback once per call site, instead of once per path that
 * reaches them; a program's verified instructions are then the sum of its
 * parts rather than their product (parsed family x protocol x rules), on
 * every kernel (test/headroom.test.ts holds each under 200,000).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "vigil/netpolicy.h"
#include "vigil/ringbuf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define TCP_LISTEN 10
#define TCP_ESTABLISHED 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * VIGIL_NP_MAX_RULES);
	__type(key, __u32);
	__type(value, struct vigil_np_rule);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_np_config);
} policy SEC(".maps");

/* Written by user space at apply, for status; the programs never touch it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_np_info);
} info SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_NP_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Hits per rule of the live generation; the last slot counts the default. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_NP_MAX_RULES + 1);
	__type(key, __u32);
	__type(value, __u64);
} rule_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct vigil_np_owner);
} owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* The policy's cgroup (set before load). */
const volatile __u64 policy_cgroup_id = 0;

/* Keeps the types in this object's BTF for src/codegen (see bpf/include/vigil/README.md). */
const struct vigil_np_denial *unused_vigil_np_denial __attribute__((unused));
const enum vigil_np_limits *unused_vigil_np_limits __attribute__((unused));
const enum vigil_np_action *unused_vigil_np_action __attribute__((unused));
const enum vigil_np_match *unused_vigil_np_match __attribute__((unused));
const enum vigil_np_hook *unused_vigil_np_hook __attribute__((unused));
const enum vigil_np_counter *unused_vigil_np_counter __attribute__((unused));

/* What is being judged: the peer (remote address) and destination port, as rules describe traffic. */
struct traffic {
	__u32 peer[4];  /* network order; IPv4 in peer[0] */
	__u32 local[4];
	__u32 family;
	__u16 peer_port;  /* host order */
	__u16 local_port;
	__u16 dport;      /* the port rules match: peer's for egress, local for ingress */
	__u8 protocol;    /* IPPROTO_* */
	__u8 direction;   /* VIGIL_NP_EGRESS / INGRESS */
};

/* One decision, on the stack of the program that takes it; the global
 * functions get a pointer to it. */
struct judgement {
	struct traffic t;
	/* For a denial: who tried (the current task in sock_addr hooks, the
	 * socket's creator in skb hooks; zero when unknown). */
	struct vigil_np_owner owner;
	__u64 cookie;
	__u32 hook;       /* enum vigil_np_hook */
	__u32 bytes;      /* packet length (skb hooks) */
	__s32 rule;       /* np_judge: the deciding rule's index, -1 for the default */
	__u32 action;     /* np_judge: enum vigil_np_action */
};

static __always_inline void count(__u32 hook, bool denied)
{
	__u32 key = hook * 2 + (denied ? 1 : 0);
	__u64 *n = bpf_map_lookup_elem(&counters, &key);

	if (n)
		*n += 1;
}

static __always_inline void hit(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&rule_hits, &slot);

	if (n)
		*n += 1;
}

static __always_inline __u32 mask32(__s32 bits)
{
	if (bits <= 0)
		return 0;
	if (bits >= 32)
		return 0xffffffff;
	return bpf_htonl(~((1U << (32 - bits)) - 1));
}

static __always_inline bool cidr_match(const struct vigil_np_rule *r, const struct traffic *t)
{
	const __u32 *a = (const __u32 *)r->addr;
	__s32 bits = r->prefixlen;

	if (!r->family)
		return true;
	if (r->family != t->family)
		return false;
	if ((t->peer[0] ^ a[0]) & mask32(bits))
		return false;
	if (t->family == AF_INET)
		return true;
	if ((t->peer[1] ^ a[1]) & mask32(bits - 32))
		return false;
	if ((t->peer[2] ^ a[2]) & mask32(bits - 64))
		return false;
	return !((t->peer[3] ^ a[3]) & mask32(bits - 96));
}

static __always_inline bool rule_match(const struct vigil_np_rule *r, const struct traffic *t)
{
	__u8 proto = t->protocol == IPPROTO_TCP ? VIGIL_NP_TCP : VIGIL_NP_UDP;

	if (r->directions && !(r->directions & t->direction))
		return false;
	if (r->protocols && !(r->protocols & proto))
		return false;
	if (t->dport < r->port_lo || t->dport > r->port_hi)
		return false;
	return cidr_match(r, t);
}

struct rule_walk {
	const struct traffic *t;
	__u32 base;
	__s32 found;
	__u32 action;
};

/* bpf_loop step i: rule i of the live generation; stops at the first match. */
static long rule_step(__u64 i, void *ctx)
{
	struct rule_walk *w = ctx;
	__u32 key = w->base + (__u32)i;
	struct vigil_np_rule *r = bpf_map_lookup_elem(&rules, &key);

	if (!r)
		return 1;
	if (!rule_match(r, w->t))
		return 0;
	w->found = (__s32)i;
	w->action = r->action;
	return 1;
}

/*
 * Judges j->t: the first matching rule's index in j->rule (-1: none, the
 * policy's default), the decision in j->action, which it also returns.
 * Global: verified once, whatever the paths of the caller that reach it.
 */
__noinline int np_judge(struct judgement *j)
{
	struct rule_walk w = { .found = -1, .action = VIGIL_NP_ALLOW };
	__u32 zero = 0, n;
	struct vigil_np_config *cfg;

	if (!j)
		return VIGIL_NP_ALLOW;
	cfg = bpf_map_lookup_elem(&policy, &zero);
	j->rule = -1;
	j->action = VIGIL_NP_ALLOW;
	if (!cfg)
		return VIGIL_NP_ALLOW;
	w.t = &j->t;
	w.action = cfg->default_action;
	w.base = cfg->generation ? VIGIL_NP_MAX_RULES : 0;
	n = cfg->count;
	if (n > VIGIL_NP_MAX_RULES)
		n = VIGIL_NP_MAX_RULES;
	if (n)
		bpf_loop(n, rule_step, &w, 0);
	hit(w.found >= 0 ? (__u32)w.found : VIGIL_NP_MAX_RULES);
	j->rule = w.found;
	j->action = w.action;
	return w.action;
}

/* A denial of j (judged): counted, and sent to user space. Global, like np_judge. */
__noinline int np_deny(struct judgement *j)
{
	const struct traffic *t;
	struct vigil_np_denial *d;

	if (!j)
		return 0;
	t = &j->t;
	count(j->hook, true);
	d = vigil_reserve(&events, 0, sizeof(*d));
	if (!d)
		return 0;
	d->time_ns = bpf_ktime_get_boot_ns();
	d->cgroup_id = policy_cgroup_id;
	d->socket_cookie = j->cookie;
	d->pid = j->owner.pid;
	d->tid = j->owner.tid;
	__builtin_memcpy(d->comm, j->owner.comm, sizeof(d->comm));
	if (t->direction == VIGIL_NP_EGRESS) {
		__builtin_memcpy(d->saddr, t->local, 16);
		__builtin_memcpy(d->daddr, t->peer, 16);
		d->sport = t->local_port;
		d->dport = t->peer_port;
	} else {
		__builtin_memcpy(d->saddr, t->peer, 16);
		__builtin_memcpy(d->daddr, t->local, 16);
		d->sport = t->peer_port;
		d->dport = t->local_port;
	}
	d->family = t->family;
	d->protocol = t->protocol;
	d->direction = t->direction;
	d->hook = j->hook;
	d->pad = 0;
	d->rule = j->rule;
	d->bytes = j->bytes;
	vigil_submit(&events, d);
	return 0;
}

/* Records the socket's creator for the skb hooks. */
static __always_inline void remember_owner(struct bpf_sock *sk)
{
	struct vigil_np_owner *o;
	__u64 id;

	if (!sk)
		return;
	o = bpf_sk_storage_get(&owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o || o->pid)
		return;
	id = bpf_get_current_pid_tgid();
	o->pid = id >> 32;
	o->tid = (__u32)id;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

SEC("cgroup/sock_create")
int np_sock_create(struct bpf_sock *sk)
{
	if (sk->family == AF_INET || sk->family == AF_INET6)
		remember_owner(sk);
	return 1;
}

static __always_inline int sock_addr(struct bpf_sock_addr *ctx, __u32 hook, bool v6)
{
	struct judgement j = {};
	struct traffic *t = &j.t;
	struct bpf_sock *sk = ctx->sk;
	__u64 id;

	if (ctx->protocol == IPPROTO_TCP)
		t->protocol = IPPROTO_TCP;
	else if (ctx->protocol == IPPROTO_UDP)
		t->protocol = IPPROTO_UDP;
	else
		return 1;
	t->direction = VIGIL_NP_EGRESS;
	t->peer_port = bpf_ntohs((__u16)ctx->user_port);
	t->dport = t->peer_port;
	if (!v6) {
		t->family = AF_INET;
		t->peer[0] = ctx->user_ip4;
	} else {
		/* Each context field read once, unconditionally: the verifier rejects
		 * loads through a ctx pointer the compiler has offset and merged. */
		__u32 a0 = ctx->user_ip6[0], a1 = ctx->user_ip6[1], a2 = ctx->user_ip6[2], a3 = ctx->user_ip6[3];

		if (a0 == 0 && a1 == 0 && a2 == bpf_htonl(0xffff)) {
			/* An IPv4-mapped address on a dual-stack socket is IPv4 traffic. */
			t->family = AF_INET;
			t->peer[0] = a3;
		} else {
			t->family = AF_INET6;
			t->peer[0] = a0;
			t->peer[1] = a1;
			t->peer[2] = a2;
			t->peer[3] = a3;
		}
	}
	if (sk) {
		t->local_port = sk->src_port;
		if (t->family == AF_INET && !v6) {
			t->local[0] = sk->src_ip4;
		} else if (v6 && t->family == AF_INET6) {
			t->local[0] = sk->src_ip6[0];
			t->local[1] = sk->src_ip6[1];
			t->local[2] = sk->src_ip6[2];
			t->local[3] = sk->src_ip6[3];
		} else {
			t->local[0] = sk->src_ip6[3];
		}
	}
	if (hook == VIGIL_NP_SENDMSG4 && ctx->msg_src_ip4)
		t->local[0] = ctx->msg_src_ip4;

	if (np_judge(&j) != VIGIL_NP_DENY) {
		count(hook, false);
		return 1;
	}
	/* In the calling process's context: it is the one denied. */
	id = bpf_get_current_pid_tgid();
	j.owner.pid = id >> 32;
	j.owner.tid = (__u32)id;
	bpf_get_current_comm(j.owner.comm, sizeof(j.owner.comm));
	j.cookie = bpf_get_socket_cookie(ctx);
	j.hook = hook;
	np_deny(&j);
	return 0;
}

VIGIL_PROG_CALL("cgroup/connect4", np_connect4, struct bpf_sock_addr *, sock_addr(ctx, VIGIL_NP_CONNECT4, false));
VIGIL_PROG_CALL("cgroup/connect6", np_connect6, struct bpf_sock_addr *, sock_addr(ctx, VIGIL_NP_CONNECT6, true));
VIGIL_PROG_CALL("cgroup/sendmsg4", np_sendmsg4, struct bpf_sock_addr *, sock_addr(ctx, VIGIL_NP_SENDMSG4, false));
VIGIL_PROG_CALL("cgroup/sendmsg6", np_sendmsg6, struct bpf_sock_addr *, sock_addr(ctx, VIGIL_NP_SENDMSG6, true));

struct ports {
	__be16 source;
	__be16 dest;
};

/*
 * Parses the packet (cgroup_skb data starts at the IP header) into t: peer
 * is the remote end (destination for egress, source for ingress). Returns
 * false for what the policy does not judge.
 */
static __always_inline bool parse_skb(struct __sk_buff *skb, struct traffic *t, __u8 *tcp_flags)
{
	struct ports p;
	__u32 l4;
	__u32 src[4] = {}, dst[4] = {};

	if (skb->protocol == bpf_htons(0x0800)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || ip.ihl < 5)
			return false;
		/* Fragments after the first have no ports: not judged. */
		if (ip.frag_off & bpf_htons(0x1fff))
			return false;
		t->family = AF_INET;
		t->protocol = ip.protocol;
		src[0] = ip.saddr;
		dst[0] = ip.daddr;
		l4 = ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(0x86DD)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return false;
		t->family = AF_INET6;
		t->protocol = ip6.nexthdr;
		__builtin_memcpy(src, &ip6.saddr, 16);
		__builtin_memcpy(dst, &ip6.daddr, 16);
		l4 = sizeof(ip6);
	} else {
		return false;
	}
	if (t->protocol != IPPROTO_TCP && t->protocol != IPPROTO_UDP)
		return false;
	if (bpf_skb_load_bytes(skb, l4, &p, sizeof(p)))
		return false;
	*tcp_flags = 0;
	if (t->protocol == IPPROTO_TCP && bpf_skb_load_bytes(skb, l4 + 13, tcp_flags, 1))
		return false;
	if (t->direction == VIGIL_NP_EGRESS) {
		__builtin_memcpy(t->local, src, 16);
		__builtin_memcpy(t->peer, dst, 16);
		t->local_port = bpf_ntohs(p.source);
		t->peer_port = bpf_ntohs(p.dest);
		t->dport = t->peer_port;
	} else {
		__builtin_memcpy(t->peer, src, 16);
		__builtin_memcpy(t->local, dst, 16);
		t->peer_port = bpf_ntohs(p.source);
		t->local_port = bpf_ntohs(p.dest);
		t->dport = t->local_port;
	}
	return true;
}

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

static __always_inline int skb_hook(struct __sk_buff *skb, __u8 direction)
{
	struct judgement j = { .t.direction = direction };
	__u32 hook = direction == VIGIL_NP_EGRESS ? VIGIL_NP_EGRESS_SKB : VIGIL_NP_INGRESS_SKB;
	struct vigil_np_owner *owner;
	struct traffic *t = &j.t;
	struct bpf_sock *sk;
	__u8 flags = 0;

	if (!parse_skb(skb, t, &flags))
		return 1;
	sk = skb->sk;
	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (t->protocol == IPPROTO_TCP) {
		if (direction == VIGIL_NP_EGRESS) {
			/* New outbound connections only: SYN without ACK. */
			if ((flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
				return 1;
		} else if (!sk || sk->state != TCP_LISTEN) {
			/* Segments of connections that exist were judged when they began. */
			return 1;
		}
	} else if (direction == VIGIL_NP_INGRESS && sk && sk->state == TCP_ESTABLISHED) {
		/* A connected UDP socket: its peer was judged at connect. */
		return 1;
	}

	if (np_judge(&j) != VIGIL_NP_DENY) {
		count(hook, false);
		return 1;
	}
	/* Softirq, or a process that is not the socket's: the creator sock_create recorded. */
	if (sk) {
		owner = bpf_sk_storage_get(&owners, sk, 0, 0);
		if (owner)
			j.owner = *owner;
	}
	j.cookie = bpf_get_socket_cookie(skb);
	j.hook = hook;
	j.bytes = skb->len;
	np_deny(&j);
	return 0;
}

VIGIL_PROG_CALL("cgroup_skb/ingress", np_ingress, struct __sk_buff *, skb_hook(ctx, VIGIL_NP_INGRESS));
VIGIL_PROG_CALL("cgroup_skb/egress", np_egress, struct __sk_buff *, skb_hook(ctx, VIGIL_NP_EGRESS));
