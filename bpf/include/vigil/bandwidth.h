/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The egress bandwidth manager (bpf/bandwidth.bpf.c) and its user-space side
 * (src/network/bandwidth.ts): keys and values of its maps.
 *
 * A class is a rate limit (and optionally a priority) shared by a set of
 * cgroups: one cgroup and its subtree (`--cgroup PATH`) or every cgroup of a
 * container (`--container ID`). `cgroup_class` maps a cgroup id to its class
 * id, an index into `classes` (configuration and the class's departure clock)
 * and the per-CPU `class_stats`.
 */
#ifndef __VIGIL_BANDWIDTH_H
#define __VIGIL_BANDWIDTH_H

/* Table sizes: class ids are 0..MAX_CLASSES-1; MAX_CGROUPS cgroup ids may name a class (a
 * container has several); MAX_DEPTH ancestors of a socket's cgroup are looked at for a class. */
enum vigil_bw_limits {
	VIGIL_BW_MAX_CLASSES = 4096,
	VIGIL_BW_MAX_CGROUPS = 65536,
	VIGIL_BW_MAX_DEPTH = 16,
};

/* Bytes of a class's target (cgroup path or container id) kept for status; the window of the
 * per-CPU rate estimate. */
enum vigil_bw_sizes {
	VIGIL_BW_TARGET_LEN = 256,
	VIGIL_BW_RATE_WINDOW_MS = 1000,
};

/* Global per-CPU counters (the `counters` array, indexed by this). */
enum vigil_bw_counter {
	VIGIL_BW_SEEN = 0,         /* every packet the program ran on */
	VIGIL_BW_UNCLASSIFIED = 1, /* no socket, or its cgroup is in no class: untouched */
	VIGIL_BW_CLASSIFIED = 2,   /* counted in a class */
	VIGIL_BW_DELAYED = 3,      /* given a departure time in the future */
	VIGIL_BW_HORIZON_DROP = 4, /* dropped: departure beyond the horizon */
	VIGIL_BW_COUNTERS = 5,
};

enum vigil_bw_kind {
	VIGIL_BW_KIND_FREE = 0,
	VIGIL_BW_KIND_CGROUP = 1,
	VIGIL_BW_KIND_CONTAINER = 2,
};

/* A class (the `classes` array, indexed by class id). Written by user space
 * on `set`; t_last is the departure clock the program moves on. */
struct vigil_bw_class {
	/* Bytes per second; 0: no limit (a priority-only class). */
	__u64 rate;
	/* How far the departure clock may lag behind now: the burst, as time at `rate`. */
	__u64 burst_ns;
	/* Departure time of the class's last packet (bpf_ktime_get_ns). */
	__u64 t_last;
	/* skb->priority for the class's packets (fq's priomap picks the band) when has_priority. */
	__u32 priority;
	__u8 has_priority;
	/* enum vigil_bw_kind; FREE: the slot is unused. */
	__u8 kind;
	__u16 pad;
	/* Configured burst in bytes and creation time (CLOCK_REALTIME ns), for status. */
	__u64 burst_bytes;
	__u64 created_ns;
	char target[VIGIL_BW_TARGET_LEN];
};

/* Per class, per CPU: what the program did with its packets, and the rate
 * estimate: bytes in the current window (started at win_start_ns) and in the
 * last complete one (prev_bytes over prev_ns). */
struct vigil_bw_class_stats {
	__u64 packets;
	__u64 bytes;
	__u64 delayed;
	__u64 horizon_drops;
	__u64 win_start_ns;
	__u64 win_bytes;
	__u64 prev_bytes;
	__u64 prev_ns;
};

/* Where the program is attached (single-entry array written at attach; for status and detach). */
struct vigil_bw_info {
	__u32 ifindex;
	/* The TC filter (clsact egress) by which detach finds it. */
	__u32 tc_handle;
	__u32 tc_priority;
	/* 1 if attach created the clsact qdisc (detach removes it when no other filter is left). */
	__u8 created_clsact;
	/* 1 if attach replaced the kernel's default root qdisc with fq (detach restores the default). */
	__u8 installed_fq;
	__u16 pad;
	__u64 attached_ns; /* CLOCK_REALTIME ns */
	__u64 horizon_ns;
	char ifname[16];
};

#endif /* __VIGIL_BANDWIDTH_H */
