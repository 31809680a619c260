// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Fixture for test/codegen.test.ts: writes a struct vigil_bench_record with a
 * known pattern, so the test can check that the codec generated from this
 * object's BTF reads every field where the C compiler put it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/maps.h"
#include "vigil/bench.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

VIGIL_INDEXED_MAP(codegen_out, BPF_MAP_TYPE_ARRAY, 1, struct vigil_bench_record);

/* A record used only as a local variable leaves no BTF behind: clang emits
 * BTF for the types of globals, maps and function signatures. The value type
 * above keeps it here; this line is the idiom for a ring-buffer record (see
 * bpf/include/vigil/README.md). */
VIGIL_KEEP_TYPES(struct vigil_bench_record);

const volatile __u32 target_tgid = 0;

SEC("tracepoint/syscalls/sys_enter_getppid")
int codegen_fill(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0;
	struct vigil_bench_record *r;

	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	r = bpf_map_lookup_elem(&codegen_out, &zero);
	if (!r)
		return 0;
	r->seq = 0x0102030405060708ULL;
	r->ktime_ns = bpf_ktime_get_ns();
	r->pid = (__u32)id;
	r->cpu = bpf_get_smp_processor_id();
	r->arg = 0xfedcba9876543210ULL;
	for (int i = 0; i < (int)sizeof(r->pad); i++)
		r->pad[i] = i + 1;
	return 0;
}
