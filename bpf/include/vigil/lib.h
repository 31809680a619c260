/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Vigil's helper header for programs compiled at run time (compile() in
 * vigil/inline, `vigil trace FILE.bpf.c`). compile() puts it in front of the
 * source (clang -include), so a script starts at its first probe; a program
 * built elsewhere includes it as <vigil/lib.h>. Everything here is sugar over
 * libbpf's own headers, in the style of bcc's macros, and CO-RE throughout:
 * vmlinux.h is the running kernel's BTF as C, no kernel headers are needed.
 *
 * Documented in docs/library.md.
 */
#ifndef __VIGIL_LIB_H
#define __VIGIL_LIB_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.h"

/* Every program compiled at run time may call GPL-only helpers. */
#ifndef VIGIL_NO_LICENSE
char VIGIL_LICENSE[] SEC("license") = "GPL";
#endif

/*
 * TRACEPOINT_PROBE(category, event) { ... }: a program on the tracepoint
 * category:event with `args` its record, struct trace_event_raw_<event> from
 * vmlinux.h (bcc's macro of the same name). The syscalls category has no
 * per-call record type: use SYSCALL_ENTER_PROBE / SYSCALL_EXIT_PROBE.
 */
#define TRACEPOINT_PROBE(category, event)                                           \
	SEC("tracepoint/" #category "/" #event)                                     \
	int tracepoint__##category##__##event(struct trace_event_raw_##event *args)

/* A program on syscalls:sys_enter_<name>: args->args[0..5] are the arguments. */
#define SYSCALL_ENTER_PROBE(name)                                                   \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                 \
	int syscall__enter_##name(struct syscall_trace_enter *args)

/* A program on syscalls:sys_exit_<name>: args->ret is the return value. */
#define SYSCALL_EXIT_PROBE(name)                                                    \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                  \
	int syscall__exit_##name(struct syscall_trace_exit *args)

/* Maps, BTF-defined (libbpf's form), in the declarations of vigil/maps.h. */
#define VIGIL_HASH(name, key_t, value_t, entries)                                  \
	VIGIL_KEYED_MAP(name, BPF_MAP_TYPE_HASH, entries, key_t, value_t)

#define VIGIL_ARRAY(name, value_t, entries)                                         \
	VIGIL_INDEXED_MAP(name, BPF_MAP_TYPE_ARRAY, entries, value_t)

/*
 * A ring buffer of `bytes` (a power of two, a multiple of the page size) and
 * NAME_lost, the count of records it had no room for: hand both to
 * RingBufferReader.open(obj.map("NAME"), { lostCounter: obj.map("NAME_lost"), ... })
 * and losses are reported, never silent. Send with vigil_ringbuf_output().
 */
#define VIGIL_RINGBUF(name, bytes)                                                  \
	VIGIL_RING_MAP(name, bytes);                                                \
	VIGIL_INDEXED_MAP(name##_lost, BPF_MAP_TYPE_PERCPU_ARRAY, 1, __u64)

/* Copies *data into ring `name`; a full ring counts the record in NAME_lost. 0 or -errno. */
#define vigil_ringbuf_output(name, data)                                            \
	({                                                                          \
		long __vr = bpf_ringbuf_output(&name, (data), sizeof(*(data)), 0);  \
		if (__vr)                                                           \
			vigil_count(&name##_lost, 0);                               \
		__vr;                                                               \
	})

/*
 * A histogram kept in the kernel: an array of `slots` __u64 counters (slot i
 * of a log2 histogram counts values in [2^(i-1), 2^i), slot 0 counts 0).
 * Read it with readHistogram(), print it with formatHistogram() (vigil/inline).
 */
#define VIGIL_HISTOGRAM(name, slots) VIGIL_ARRAY(name, __u64, slots)

/* A stack-trace map (bcc's BPF_STACK_TRACE): ids from bpf_get_stackid(), frames read with readStack(). */
#define VIGIL_STACK_TRACE(name, entries) VIGIL_STACK_MAP(name, entries, 127)

/* floor(log2(v)) + 1 for v > 0, 0 for 0: the slot of v in a log2 histogram. */
static __always_inline __u32 vigil_log2_slot(__u64 v)
{
	return v ? vigil_log2(v) + 1 : 0;
}

static __always_inline void vigil_slot_add(void *map, __u32 slot, __u32 slots)
{
	if (slot >= slots)
		slot = slots - 1;
	__u64 *n = bpf_map_lookup_elem(map, &slot);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* Counts v in a log2 histogram (the last slot takes everything above it). */
#define vigil_hist_log2(map, v, slots) vigil_slot_add(&(map), vigil_log2_slot(v), (slots))
/* Counts v in a linear histogram of `step`-wide slots starting at 0 (the last slot takes the rest). */
#define vigil_hist_linear(map, v, step, slots)                                      \
	vigil_slot_add(&(map), (__u32)((__u64)(v) / (step) > (slots) ? (slots) : (__u64)(v) / (step)), (slots))

/* Adds `delta` to the counter at `key` in a hash map, creating it at 0 first. */
static __always_inline void vigil_map_add(void *map, const void *key, __u64 delta)
{
	__u64 *n = bpf_map_lookup_elem(map, key);
	if (!n) {
		__u64 zero = 0;
		bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
		n = bpf_map_lookup_elem(map, key);
		if (!n)
			return;
	}
	__sync_fetch_and_add(n, delta);
}

/* The current thread group id (the process id user space sees). */
static __always_inline __u32 vigil_pid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

#endif /* __VIGIL_LIB_H */
