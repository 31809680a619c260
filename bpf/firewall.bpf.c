// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The XDP firewall of `vigil firewall`: drops frames by source address before
 * the stack sees them.
 *
 *  1. Ethernet, then up to two VLAN tags (802.1Q / 802.1ad), then IPv4 or
 *     IPv6. Every read is bounds-checked against data_end; anything the
 *     program cannot parse is passed and counted (the stack decides).
 *  2. Source in an allow CIDR: pass (exceptions win over block rules and are
 *     not rate limited).
 *  3. Source in a block CIDR: drop.
 *  4. Rate limit on: per-source token bucket (GCRA in an LRU hash); over the
 *     rate: drop.
 *
 * Rules live in LPM tries, so a lookup costs the same for one CIDR or
 * thousands, and user space changes them at run time with map updates (the
 * maps are pinned; no reload). Counters are per CPU.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "vigil/maps.h"
#include "vigil/firewall.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define AF_INET 2
#define AF_INET6 10

/* Prefix -> rule, longest prefix first. */
#define RULES(name, lpm_key) \
	VIGIL_LAZY_MAP(name, BPF_MAP_TYPE_LPM_TRIE, VIGIL_FW_MAX_RULES, lpm_key, struct vigil_fw_rule)

RULES(block_v4, struct vigil_fw_lpm4);
RULES(allow_v4, struct vigil_fw_lpm4);
RULES(block_v6, struct vigil_fw_lpm6);
RULES(allow_v6, struct vigil_fw_lpm6);

VIGIL_INDEXED_MAP(rule_stats, BPF_MAP_TYPE_PERCPU_ARRAY, VIGIL_FW_MAX_RULES,
		  struct vigil_fw_rule_stats);

VIGIL_KEYED_MAP(source_stats, BPF_MAP_TYPE_LRU_PERCPU_HASH, VIGIL_FW_MAX_SOURCES,
		struct vigil_fw_source, struct vigil_fw_source_stats);

VIGIL_KEYED_MAP(buckets, BPF_MAP_TYPE_LRU_HASH, VIGIL_FW_MAX_SOURCES,
		struct vigil_fw_source, struct vigil_fw_bucket);

VIGIL_INDEXED_MAP(ratelimit, BPF_MAP_TYPE_ARRAY, 1, struct vigil_fw_ratelimit);

VIGIL_INDEXED_MAP(counters, BPF_MAP_TYPE_PERCPU_ARRAY, VIGIL_FW_COUNTERS, __u64);

/* Written by user space at attach, read by `status`; the program never touches it. */
VIGIL_INDEXED_MAP(info, BPF_MAP_TYPE_ARRAY, 1, struct vigil_fw_info);

/* Keeps the enums in this object's BTF for src/codegen (see bpf/include/vigil/README.md). */
VIGIL_KEEP_TYPES(enum vigil_fw_limits, enum vigil_fw_counter);

static __always_inline void count(__u32 which)
{
	vigil_count(&counters, which);
}

static __always_inline int pass(void)
{
	count(VIGIL_FW_PASSED);
	return XDP_PASS;
}

/* A frame too short or not well-formed for its headers: counted, and let through. */
static __always_inline int malformed(void)
{
	count(VIGIL_FW_MALFORMED);
	return pass();
}

static __always_inline void rule_hit(const struct vigil_fw_rule *rule, __u64 bytes)
{
	__u32 id = rule->id;
	struct vigil_fw_rule_stats *st = bpf_map_lookup_elem(&rule_stats, &id);

	if (st) {
		st->packets += 1;
		st->bytes += bytes;
	}
}

static __always_inline void source_drop(const struct vigil_fw_source *src, bool rate, __u64 bytes)
{
	struct vigil_fw_source_stats *st = bpf_map_lookup_elem(&source_stats, src);

	if (!st) {
		struct vigil_fw_source_stats zero = {};

		/* NOEXIST: another CPU may have made it meanwhile; then count into that one. */
		bpf_map_update_elem(&source_stats, src, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&source_stats, src);
		if (!st)
			return;
	}
	if (rate)
		st->rate_limited += 1;
	else
		st->blocked += 1;
	st->bytes += bytes;
}

/*
 * GCRA: pass when max(tat, now) - now <= tolerance, then tat += interval.
 * The common case (tat ahead of now) advances tat atomically; only a source
 * that was idle has tat written, which can race with another CPU and let one
 * extra packet through: the bound of a lock-free LRU limiter.
 */
static __always_inline bool over_rate(const struct vigil_fw_source *src)
{
	__u32 zero = 0;
	struct vigil_fw_ratelimit *rl = bpf_map_lookup_elem(&ratelimit, &zero);
	struct vigil_fw_bucket *b;
	__u64 now;

	if (!rl || !rl->pps)
		return false;
	now = bpf_ktime_get_ns();
	b = bpf_map_lookup_elem(&buckets, src);
	if (!b) {
		struct vigil_fw_bucket fresh = { .tat = now + rl->interval_ns };

		bpf_map_update_elem(&buckets, src, &fresh, BPF_NOEXIST);
		return false;
	}
	if (b->tat <= now) {
		b->tat = now + rl->interval_ns;
		return false;
	}
	if (b->tat - now > rl->tolerance_ns)
		return true;
	__sync_fetch_and_add(&b->tat, rl->interval_ns);
	return false;
}

static __always_inline int verdict(struct vigil_fw_rule *allowed, struct vigil_fw_rule *blocked,
				   const struct vigil_fw_source *src, __u64 bytes)
{
	if (allowed) {
		rule_hit(allowed, bytes);
		count(VIGIL_FW_ALLOWED);
		return pass();
	}
	if (blocked) {
		rule_hit(blocked, bytes);
		source_drop(src, false, bytes);
		count(VIGIL_FW_DROP_BLOCK);
		return XDP_DROP;
	}
	if (over_rate(src)) {
		source_drop(src, true, bytes);
		count(VIGIL_FW_DROP_RATE);
		return XDP_DROP;
	}
	return pass();
}

SEC("xdp")
int vigil_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 bytes = data_end - data;
	struct ethhdr *eth = data;
	struct vigil_fw_source src = {};
	__u16 proto;
	void *l3;

	count(VIGIL_FW_SEEN);
	if ((void *)(eth + 1) > data_end)
		return malformed();
	proto = eth->h_proto;
	l3 = eth + 1;

	/* Up to two VLAN tags (QinQ); unrolled so each read has its own bounds check. */
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *vh = l3;

		if ((void *)(vh + 1) > data_end)
			return malformed();
		proto = vh->h_vlan_encapsulated_proto;
		l3 = vh + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		struct vigil_fw_lpm4 key = { .prefixlen = 32 };

		if ((void *)(ip + 1) > data_end)
			return malformed();
		/* The header's own length (options included) must be valid and present. */
		if (ip->version != 4 || ip->ihl < 5 || l3 + ip->ihl * 4 > data_end)
			return malformed();
		__builtin_memcpy(key.addr, &ip->saddr, 4);
		__builtin_memcpy(src.addr, &ip->saddr, 4);
		src.family = AF_INET;
		return verdict(bpf_map_lookup_elem(&allow_v4, &key), bpf_map_lookup_elem(&block_v4, &key), &src, bytes);
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		struct vigil_fw_lpm6 key = { .prefixlen = 128 };

		if ((void *)(ip6 + 1) > data_end)
			return malformed();
		if (ip6->version != 6)
			return malformed();
		__builtin_memcpy(key.addr, &ip6->saddr, 16);
		__builtin_memcpy(src.addr, &ip6->saddr, 16);
		src.family = AF_INET6;
		return verdict(bpf_map_lookup_elem(&allow_v6, &key), bpf_map_lookup_elem(&block_v6, &key), &src, bytes);
	}
	count(VIGIL_FW_NOT_IP);
	return pass();
}
