// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Ring-buffer throughput producer for bench/ringbuf.ts.
 *
 * Every getppid(2) made by the process `target_pid` emits `records_per_call`
 * fixed 64-byte records (struct vigil_bench_record) through vigil_reserve/
 * vigil_submit, so losses land in vigil_lost like any product program's.
 *
 * Each record carries a per-CPU sequence number that is taken before the
 * reserve: a record the ring could not hold leaves a gap in its CPU's
 * sequence, which the consumer sees without trusting vigil_lost. The final
 * per-CPU sequence (bench_counts[BENCH_PRODUCED]) is the number of records
 * the producer tried to emit: decoded + lost must equal it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/maps.h"
#include "vigil/bench.h"
#include "vigil/ringbuf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Upper bound of records_per_call: keeps the loop bounded for the verifier. */
#define BENCH_MAX_RECORDS_PER_CALL 64

enum bench_counter {
	BENCH_PRODUCED = 0, /* records the producer tried to emit (= last seq) */
	BENCH_CALLS = 1,    /* matching syscalls seen */
	BENCH_NR_COUNTERS,
};

VIGIL_RING_MAP(bench_events, 16 << 20);

VIGIL_INDEXED_MAP(bench_counts, BPF_MAP_TYPE_PERCPU_ARRAY, BENCH_NR_COUNTERS, __u64);

/* The load generator's tgid; 0 matches nothing (never every process). */
const volatile __u32 target_pid = 0;
/* Records per matching syscall, 1..BENCH_MAX_RECORDS_PER_CALL. */
const volatile __u32 records_per_call = 1;

static __always_inline __u64 *counter(__u32 which)
{
	return bpf_map_lookup_elem(&bench_counts, &which);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int bench_produce(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 cpu = bpf_get_smp_processor_id();
	struct vigil_bench_record *rec;
	__u64 *produced, *calls, now;
	__u32 i;

	if (!target_pid || (pid_tgid >> 32) != target_pid)
		return 0;
	produced = counter(BENCH_PRODUCED);
	calls = counter(BENCH_CALLS);
	if (!produced || !calls)
		return 0;
	*calls += 1;
	now = bpf_ktime_get_ns();

	for (i = 0; i < BENCH_MAX_RECORDS_PER_CALL; i++) {
		if (i >= records_per_call)
			break;
		/* Numbered before the reserve: a lost record is a gap. */
		*produced += 1;
		rec = vigil_reserve(&bench_events, 0, sizeof(*rec));
		if (!rec)
			continue;
		rec->seq = *produced;
		rec->ktime_ns = now;
		rec->pid = pid_tgid >> 32;
		rec->cpu = cpu;
		rec->arg = i;
		__builtin_memset(rec->pad, 0, sizeof(rec->pad));
		vigil_submit(&bench_events, rec);
	}
	return 0;
}
