/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The XDP firewall (bpf/firewall.bpf.c) and its user-space side
 * (src/network/firewall.ts): keys and values of its maps.
 *
 * Rules are CIDRs of source addresses in four LPM tries (block and allow,
 * IPv4 and IPv6). A trie's value is the rule's id, an index into the per-CPU
 * rule_stats array, so every rule has its own counters. Allow rules win over
 * block rules and exempt their sources from the rate limit.
 */
#ifndef __VIGIL_FIREWALL_H
#define __VIGIL_FIREWALL_H

enum vigil_fw_limits {
	/* Rule ids 0..VIGIL_FW_MAX_RULES-1, shared by the four tries. */
	VIGIL_FW_MAX_RULES = 16384,
	/* Sources whose drops are counted / whose token buckets are kept (LRU). */
	VIGIL_FW_MAX_SOURCES = 16384,
	/* Bounds of the rate limiter (its arithmetic stays inside 64 bits). */
	VIGIL_FW_MAX_PPS = 100000000,
	VIGIL_FW_MAX_BURST = 100000000,
};

/* Global per-CPU counters (the `counters` array, indexed by this). */
enum vigil_fw_counter {
	VIGIL_FW_SEEN = 0,        /* every frame the program ran on */
	VIGIL_FW_PASSED = 1,      /* returned XDP_PASS */
	VIGIL_FW_DROP_BLOCK = 2,  /* dropped: source in a block CIDR */
	VIGIL_FW_DROP_RATE = 3,   /* dropped: source over its rate */
	VIGIL_FW_ALLOWED = 4,     /* source in an allow CIDR (passed, not rate limited) */
	VIGIL_FW_NOT_IP = 5,      /* ARP and other non-IP frames (passed) */
	VIGIL_FW_MALFORMED = 6,   /* truncated or invalid headers (passed: the stack decides) */
	VIGIL_FW_COUNTERS = 7,
};

/* An IPv4 CIDR: the LPM trie key (prefixlen counts from the first bit of addr). */
struct vigil_fw_lpm4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct vigil_fw_lpm6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* A rule (the tries' value). */
struct vigil_fw_rule {
	__u32 id;
};

/* Per rule, per CPU: what it matched (drops for block rules, passes for allow rules). */
struct vigil_fw_rule_stats {
	__u64 packets;
	__u64 bytes;
};

/* A source address: IPv4 in the first 4 bytes of addr, family AF_INET (2) or AF_INET6 (10). */
struct vigil_fw_source {
	__u8 addr[16];
	__u32 family;
};

/* Per source, per CPU (LRU): its drops by cause. */
struct vigil_fw_source_stats {
	__u64 blocked;
	__u64 rate_limited;
	__u64 bytes;
};

/* The rate limit (single-entry array, changed at run time): a token bucket of
 * `burst` packets refilled at `pps`, kept per source as GCRA (one timestamp, the
 * "theoretical arrival time"): a packet at `now` passes when
 * max(tat, now) - now <= tolerance_ns, and then moves tat interval_ns on.
 * interval_ns = 1e9 / pps, tolerance_ns = (burst - 1) * interval_ns, both set
 * by user space. pps 0: off. */
struct vigil_fw_ratelimit {
	__u64 pps;
	__u64 burst;
	__u64 interval_ns;
	__u64 tolerance_ns;
};

/* A source's bucket (LRU hash): its theoretical arrival time, bpf_ktime_get_ns. */
struct vigil_fw_bucket {
	__u64 tat;
};

/* Where the firewall is attached (single-entry array written at attach; for status). */
struct vigil_fw_info {
	__u32 ifindex;
	/* 1 native (bpf_link), 2 generic (netlink, skb mode) */
	__u32 mode;
	__u64 attached_ns; /* CLOCK_REALTIME ns */
	char ifname[16];
};

#endif /* __VIGIL_FIREWALL_H */
