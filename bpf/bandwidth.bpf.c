// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The egress bandwidth manager of `vigil bandwidth`: a TC (clsact egress)
 * program that gives each packet of a rate-limited class an Earliest
 * Departure Time (skb->tstamp) and leaves the pacing to the fq qdisc on the
 * device, which holds a packet until its time. No packet waits in the
 * program and none is dropped for being over the rate: TCP sees the delay
 * through TSQ and slows down by itself.
 *
 *  1. The class: the socket's cgroup (bpf_skb_cgroup_id) in cgroup_class, or
 *     else its nearest ancestor there (a rule on a cgroup covers its subtree;
 *     a container's cgroups are all in the map). No socket, or no class: the
 *     packet passes untouched.
 *  2. Priority: skb->priority set to the class's (fq's priomap maps it to a
 *     band on kernels that have bands).
 *  3. Rate: the class's departure clock t_last moves on by len / rate per
 *     packet; it may lag behind now by at most the burst, so an idle class
 *     sends a burst at once. A packet whose departure is later than now is
 *     stamped with it; one later than now + horizon is dropped and counted
 *     (fq would drop it too, past its own horizon).
 *
 * The clock is read and written without a lock (as Cilium's EDT does): two
 * CPUs racing on one class may give two packets the same slot, which the
 * next packet's delay absorbs. Counters are per CPU.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "vigil/bandwidth.h"
#include "vigil/maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define NSEC_PER_SEC 1000000000ULL
/* One load and one store of the shared clock, never torn or merged by the compiler. */
#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

/* Packets stamped later than now + horizon_ns are dropped. Set before load. */
const volatile __u64 horizon_ns = 2 * NSEC_PER_SEC;

VIGIL_LAZY_MAP(cgroup_class, BPF_MAP_TYPE_HASH, VIGIL_BW_MAX_CGROUPS, __u64, __u32);

VIGIL_INDEXED_MAP(classes, BPF_MAP_TYPE_ARRAY, VIGIL_BW_MAX_CLASSES, struct vigil_bw_class);
VIGIL_INDEXED_MAP(class_stats, BPF_MAP_TYPE_PERCPU_ARRAY, VIGIL_BW_MAX_CLASSES,
		  struct vigil_bw_class_stats);
VIGIL_INDEXED_MAP(counters, BPF_MAP_TYPE_PERCPU_ARRAY, VIGIL_BW_COUNTERS, __u64);
/* Written by user space at attach, read by `status` and `detach`; the program never touches it. */
VIGIL_INDEXED_MAP(info, BPF_MAP_TYPE_ARRAY, 1, struct vigil_bw_info);

/* Keeps the enums in this object's BTF for src/codegen (see bpf/include/vigil/README.md): one
 * 8-byte pointer in .bss that nothing reads, to a struct of all four. */
const struct {
	enum vigil_bw_limits limits;
	enum vigil_bw_sizes sizes;
	enum vigil_bw_counter counter;
	enum vigil_bw_kind kind;
} *unused_vigil_bw_enums __attribute__((unused));

/* The class of the socket's cgroup, or of its nearest ancestor that has one. */
static __always_inline __u32 *classify(struct __sk_buff *skb)
{
	__u64 cg = bpf_skb_cgroup_id(skb);
	__u32 *id, *found = NULL;

	if (!cg)
		return NULL;
	id = bpf_map_lookup_elem(&cgroup_class, &cg);
	if (id)
		return id;
	/* Ancestors from the root's child down to the parent: the deepest match wins. */
	for (int level = 1; level < VIGIL_BW_MAX_DEPTH; level++) {
		__u64 a = bpf_skb_ancestor_cgroup_id(skb, level);

		if (!a || a == cg)
			break;
		id = bpf_map_lookup_elem(&cgroup_class, &a);
		if (id)
			found = id;
	}
	return found;
}

static __always_inline void account(struct vigil_bw_class_stats *st, __u64 now, __u64 len, __u32 segs)
{
	st->packets += segs;
	st->bytes += len;
	if (now - st->win_start_ns >= VIGIL_BW_RATE_WINDOW_MS * 1000000ULL) {
		st->prev_bytes = st->win_bytes;
		st->prev_ns = now - st->win_start_ns;
		st->win_start_ns = now;
		st->win_bytes = 0;
	}
	st->win_bytes += len;
}

SEC("tc")
int vigil_bandwidth(struct __sk_buff *skb)
{
	struct vigil_bw_class_stats *st;
	struct vigil_bw_class *c;
	__u64 now, len, delay, t, last, next;
	__u32 *id, key;

	vigil_count(&counters, VIGIL_BW_SEEN);
	id = classify(skb);
	if (!id) {
		vigil_count(&counters, VIGIL_BW_UNCLASSIFIED);
		return TC_ACT_OK;
	}
	key = *id;
	c = bpf_map_lookup_elem(&classes, &key);
	st = bpf_map_lookup_elem(&class_stats, &key);
	if (!c || !st || c->kind == VIGIL_BW_KIND_FREE) {
		vigil_count(&counters, VIGIL_BW_UNCLASSIFIED);
		return TC_ACT_OK;
	}
	vigil_count(&counters, VIGIL_BW_CLASSIFIED);
	now = bpf_ktime_get_ns();
	len = skb->len;
	account(st, now, len, skb->gso_segs ? skb->gso_segs : 1);
	if (c->has_priority)
		skb->priority = c->priority;
	if (!c->rate)
		return TC_ACT_OK;

	delay = len * NSEC_PER_SEC / c->rate;
	t = skb->tstamp > now ? skb->tstamp : now;
	last = READ_ONCE(c->t_last);
	if (now > c->burst_ns && last < now - c->burst_ns)
		last = now - c->burst_ns;
	next = last + delay;
	if (next <= t) {
		/* Within the burst (or already later than the class's clock): no delay. */
		WRITE_ONCE(c->t_last, next);
		return TC_ACT_OK;
	}
	if (next - now > horizon_ns) {
		st->horizon_drops += 1;
		vigil_count(&counters, VIGIL_BW_HORIZON_DROP);
		return TC_ACT_SHOT;
	}
	WRITE_ONCE(c->t_last, next);
	skb->tstamp = next;
	st->delayed += 1;
	vigil_count(&counters, VIGIL_BW_DELAYED);
	return TC_ACT_OK;
}
