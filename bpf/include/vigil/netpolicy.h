/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-cgroup network policy (bpf/netpolicy.bpf.c, src/network/netpolicy.ts).
 *
 * One loaded object per policy, attached to one cgroup (and so to its
 * descendants). Its rules are an ordered list: the first rule that matches a
 * connection or packet decides; none matching, the policy's default does.
 * A rule's CIDR and ports describe the traffic's peer and its destination
 * port, as Kubernetes NetworkPolicy does: for egress the remote address and
 * port connected or sent to; for ingress the remote (source) address and the
 * local port it came to.
 *
 * The rules array holds two generations (VIGIL_NP_MAX_RULES each): user space
 * writes the inactive one and then flips `generation` in the policy map, so a
 * re-applied policy never shows a half-written list to the programs.
 */
#ifndef __VIGIL_NETPOLICY_H
#define __VIGIL_NETPOLICY_H

enum vigil_np_limits {
	VIGIL_NP_MAX_RULES = 128,
	VIGIL_NP_PATH_MAX = 256,
};

enum vigil_np_action {
	VIGIL_NP_ALLOW = 1,
	VIGIL_NP_DENY = 2,
};

/* Rule protocol and direction masks (0 in a rule: any). */
enum vigil_np_match {
	VIGIL_NP_TCP = 1,
	VIGIL_NP_UDP = 2,
	VIGIL_NP_EGRESS = 1,
	VIGIL_NP_INGRESS = 2,
};

/* Where a decision was taken (the denial's `hook`, the counters' index base). */
enum vigil_np_hook {
	VIGIL_NP_CONNECT4 = 0,
	VIGIL_NP_CONNECT6 = 1,
	VIGIL_NP_SENDMSG4 = 2,
	VIGIL_NP_SENDMSG6 = 3,
	VIGIL_NP_INGRESS_SKB = 4,
	VIGIL_NP_EGRESS_SKB = 5,
	VIGIL_NP_HOOKS = 6,
};

/* counters[hook * 2 + 0] allowed, counters[hook * 2 + 1] denied (per CPU). */
enum vigil_np_counter {
	VIGIL_NP_COUNTERS = 12,
};

struct vigil_np_rule {
	/* IPv4 in the first 4 bytes, family AF_INET (2) or AF_INET6 (10). */
	__u8 addr[16];
	__u32 family;
	__u32 prefixlen;
	__u16 port_lo; /* host order; 0..65535 is any port */
	__u16 port_hi;
	__u8 action;   /* enum vigil_np_action */
	__u8 protocols; /* mask of VIGIL_NP_TCP/UDP, 0 any */
	__u8 directions; /* mask of VIGIL_NP_EGRESS/INGRESS, 0 both */
	__u8 pad;
	__u16 origin;  /* the policy file's rule this entry came from (0-based) */
	__u16 pad2;
};

/* The single entry of the `policy` array. */
struct vigil_np_config {
	__u32 generation;  /* 0 or 1: which half of `rules` is live */
	__u32 count;       /* rules in the live half */
	__u32 default_action; /* enum vigil_np_action */
	__u32 pad;
};

/* What the policy is attached to (single-entry array, written by user space for status). */
struct vigil_np_info {
	__u64 cgroup_id;
	__u64 applied_ns; /* CLOCK_REALTIME ns */
	char cgroup_path[VIGIL_NP_PATH_MAX];
	char source[VIGIL_NP_PATH_MAX]; /* the policy file */
};

/* Who created a socket (sock_create, in process context), for denials in skb programs. */
struct vigil_np_owner {
	__u32 pid;  /* tgid */
	__u32 tid;
	char comm[16];
};

/* One denial, on the `events` ring buffer. */
struct vigil_np_denial {
	__u64 time_ns;   /* bpf_ktime_get_boot_ns */
	__u64 cgroup_id; /* the policy's cgroup (the process's own cgroup in sock_addr hooks) */
	__u64 socket_cookie;
	__u32 pid;       /* tgid; 0 when unknown (skb hooks, socket made before the policy) */
	__u32 tid;
	char comm[16];
	__u8 saddr[16];  /* the attempted traffic's source and destination: */
	__u8 daddr[16];  /* local -> remote for egress, remote -> local for ingress */
	__u16 sport;     /* host order */
	__u16 dport;
	__u32 family;    /* AF_INET / AF_INET6 */
	__u8 protocol;   /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 direction;  /* VIGIL_NP_EGRESS / VIGIL_NP_INGRESS */
	__u8 hook;       /* enum vigil_np_hook */
	__u8 pad;
	__s32 rule;      /* index of the denying rule, -1 for the default */
	__u32 bytes;     /* packet length (skb hooks), 0 for sock_addr hooks */
};

#endif /* __VIGIL_NETPOLICY_H */
