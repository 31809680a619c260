/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Ring-buffer output with counted loss and batched wakeups.
 *
 * Every Vigil program sends events through these helpers, never through
 * bpf_ringbuf_* directly:
 *  - a failed reserve/output is counted in vigil_lost (per CPU, indexed by
 *    ring), which the TypeScript reader sums and reports as lost events;
 *  - a submit wakes the reader only when it brings the unread data to
 *    vigil_wakeup_bytes (BPF_RB_NO_WAKEUP otherwise); the reader also drains
 *    on a short timer, so a quiet ring is never stranded. 0 wakes on every
 *    record.
 */
#ifndef __VIGIL_RINGBUF_H
#define __VIGIL_RINGBUF_H

#include "vigil/maps.h"

#define VIGIL_MAX_RINGS 8

VIGIL_INDEXED_MAP(vigil_lost, BPF_MAP_TYPE_PERCPU_ARRAY, VIGIL_MAX_RINGS, __u64);

const volatile __u64 vigil_wakeup_bytes = 0;

static __always_inline void vigil_count_lost(__u32 ring)
{
	vigil_count(&vigil_lost, ring);
}

/*
 * Wake the reader only for the record that carries the ring across
 * vigil_wakeup_bytes of unread data. Records after it (the reader is behind)
 * do not wake it again: forcing a wakeup on every submit past the threshold
 * would make a traced process pay for each one exactly when the reader is
 * slowest. The reader also drains on a timer, so nothing is stranded.
 * `pending` is the unread data including this record.
 */
static __always_inline __u64 vigil_wakeup_for(__u64 pending, __u64 size)
{
	if (!vigil_wakeup_bytes)
		return 0;
	return pending >= vigil_wakeup_bytes && pending - size < vigil_wakeup_bytes ?
		BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Reserve `size` bytes in `rb`; on failure the loss is counted for `ring`. */
static __always_inline void *vigil_reserve(void *rb, __u32 ring, __u64 size)
{
	void *rec = bpf_ringbuf_reserve(rb, size, 0);

	if (!rec)
		vigil_count_lost(ring);
	return rec;
}

/* Submit a record from vigil_reserve; `size` as reserved. */
static __always_inline void vigil_submit_sized(void *rb, void *rec, __u64 size)
{
	__u64 flags = vigil_wakeup_bytes ?
		vigil_wakeup_for(bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA), size) : 0;

	bpf_ringbuf_submit(rec, flags);
}

/* Submit a typed record from vigil_reserve. */
#define vigil_submit(rb, rec) vigil_submit_sized(rb, rec, sizeof(*(rec)))

/* Copy-out variant for variable-length records built in scratch memory. */
static __always_inline long vigil_output(void *rb, __u32 ring, void *data, __u64 size)
{
	__u64 flags = vigil_wakeup_bytes ?
		vigil_wakeup_for(bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) + size, size) : 0;
	long err = bpf_ringbuf_output(rb, data, size, flags);

	if (err)
		vigil_count_lost(ring);
	return err;
}

/* The task fields a record of the current task starts with: now (boot time), its process's start
 * (the group leader's, which names the process with its pid) and its cgroup v2 id. */
#define vigil_record_task(ev, task)                                                                \
	do {                                                                                       \
		(ev)->ktime = bpf_ktime_get_boot_ns();                                             \
		(ev)->start_boottime = BPF_CORE_READ(task, group_leader, start_boottime);          \
		(ev)->cgroup_id = bpf_get_current_cgroup_id();                                     \
	} while (0)

/* vigil_record_task of the current task in a tracing program (tracepoints, raw tracepoints, kprobes:
 * bpf_get_current_task_btf, 5.11): the start time through BTF, plain loads rather than two helper reads. */
#define vigil_record_current(ev)                                                                   \
	do {                                                                                       \
		(ev)->ktime = bpf_ktime_get_boot_ns();                                             \
		(ev)->start_boottime = bpf_get_current_task_btf()->group_leader->start_boottime;  \
		(ev)->cgroup_id = bpf_get_current_cgroup_id();                                     \
	} while (0)

#endif /* __VIGIL_RINGBUF_H */
