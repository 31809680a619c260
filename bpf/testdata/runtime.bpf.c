// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Programs for the runtime's own tests: ring buffer, perf buffer, maps,
 * constants. Triggered by getppid(2) from the test process (Node's
 * process.ppid calls it each time it is read). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/maps.h"
#include "vigil/ringbuf.h"
#include "vigil/testdata.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 target_pid = 0;
const volatile __u64 cookie = 0;
__u64 seq = 0;
__u64 hits = 0;

/* Keeps the record in this object's BTF for src/codegen (see bpf/include/vigil/README.md). */
VIGIL_KEEP_TYPES(struct vigil_test_record);

VIGIL_RING_MAP(events, 256 * 1024);

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

VIGIL_KEYED_MAP(table, BPF_MAP_TYPE_HASH, 1024, struct vigil_test_key, struct vigil_test_value);

VIGIL_INDEXED_MAP(percpu_hits, BPF_MAP_TYPE_PERCPU_ARRAY, 4, __u64);

static __always_inline int fill(struct vigil_test_record *r)
{
	__u64 id = bpf_get_current_pid_tgid();

	r->seq = __sync_fetch_and_add(&seq, 1);
	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->cookie = cookie;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int ringbuf_getppid(void *ctx)
{
	struct vigil_test_record *r;
	__u32 zero = 0;
	__u64 *n;

	if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	__sync_fetch_and_add(&hits, 1);
	n = bpf_map_lookup_elem(&percpu_hits, &zero);
	if (n)
		*n += 1;
	r = vigil_reserve(&events, 0, sizeof(*r));
	if (!r)
		return 0;
	fill(r);
	vigil_submit(&events, r);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int perfbuf_getppid(void *ctx)
{
	struct vigil_test_record r = {};

	if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	fill(&r);
	bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &r, sizeof(r));
	return 0;
}

/* Deliberately rejected by the verifier: the map value may be NULL. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int verifier_reject(void *ctx)
{
	struct vigil_test_key key = {};
	struct vigil_test_value *v;

	v = bpf_map_lookup_elem(&table, &key);
	return v->count;
}
