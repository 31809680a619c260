/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Declarations that every program writes the same way, in one line each: its
 * maps, and the globals that keep its boundary types in BTF for src/codegen.
 * Include after vmlinux.h and bpf_helpers.h. */
#ifndef __VIGIL_MAPS_H
#define __VIGIL_MAPS_H

/* A map of `entries` from key_type to value_type, created with map_flags. */
#define __VIGIL_MAP(name, map_type, entries, key_type, value_type, flags)                       \
	struct {                                                                                \
		__uint(type, map_type);                                                         \
		__uint(max_entries, entries);                                                   \
		__uint(map_flags, flags);                                                       \
		__type(key, key_type);                                                          \
		__type(value, value_type);                                                      \
	} name SEC(".maps")

/* A map from key_type to value_type (HASH, LRU_HASH, PERCPU_HASH, ...):
 *   VIGIL_KEYED_MAP(owners, BPF_MAP_TYPE_LRU_HASH, OWNERS_MAX, __u64, struct owner); */
#define VIGIL_KEYED_MAP(name, map_type, entries, key_type, value_type)                          \
	__VIGIL_MAP(name, map_type, entries, key_type, value_type, 0)

/* The same, its entries allocated as they are inserted (BPF_F_NO_PREALLOC): what
 * an LPM_TRIE requires, and what keeps a large per-CPU hash from costing
 * entries x value x CPUs up front. */
#define VIGIL_LAZY_MAP(name, map_type, entries, key_type, value_type)                           \
	__VIGIL_MAP(name, map_type, entries, key_type, value_type, BPF_F_NO_PREALLOC)

/* An array (ARRAY, PERCPU_ARRAY) of `entries` values indexed by a __u32:
 *   VIGIL_INDEXED_MAP(counters, BPF_MAP_TYPE_PERCPU_ARRAY, N_COUNTERS, __u64); */
#define VIGIL_INDEXED_MAP(name, map_type, entries, value_type)                                  \
	VIGIL_KEYED_MAP(name, map_type, entries, __u32, value_type)

/* A ring buffer of `bytes` (a power of two, a multiple of the page size). Send
 * through vigil/ringbuf.h's helpers, which count what does not fit. */
#define VIGIL_RING_MAP(name, bytes)                                                             \
	struct {                                                                                \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                                             \
		__uint(max_entries, bytes);                                                     \
	} name SEC(".maps")

/* Room for `entries` stacks of up to `depth` frames (bpf_get_stackid). */
#define VIGIL_STACK_MAP(name, entries, depth)                                                   \
	struct {                                                                                \
		__uint(type, BPF_MAP_TYPE_STACK_TRACE);                                         \
		__uint(max_entries, entries);                                                   \
		__uint(key_size, sizeof(__u32));                                                \
		__uint(value_size, (depth) * sizeof(__u64));                                    \
	} name SEC(".maps")

/* Keeps types in this object's BTF for src/codegen (see README.md, "Keep the type
 * in BTF"): one unused pointer in .bss per type, of up to 12 types a line:
 *   VIGIL_KEEP_TYPES(struct vigil_foo_event, enum vigil_foo_kind); */
#define VIGIL_KEEP_TYPES(...) ___bpf_apply(__vigil_keep, ___bpf_narg(__VA_ARGS__))(__VA_ARGS__)
#define __vigil_keep_cat(a, b) a##b
#define __vigil_keep_name(n) __vigil_keep_cat(unused_vigil_type_, n)
#define __vigil_keep_one(t) const t *__vigil_keep_name(__COUNTER__) __attribute__((unused))
#define __vigil_keep1(a) __vigil_keep_one(a)
#define __vigil_keep2(a, ...) __vigil_keep_one(a); __vigil_keep1(__VA_ARGS__)
#define __vigil_keep3(a, ...) __vigil_keep_one(a); __vigil_keep2(__VA_ARGS__)
#define __vigil_keep4(a, ...) __vigil_keep_one(a); __vigil_keep3(__VA_ARGS__)
#define __vigil_keep5(a, ...) __vigil_keep_one(a); __vigil_keep4(__VA_ARGS__)
#define __vigil_keep6(a, ...) __vigil_keep_one(a); __vigil_keep5(__VA_ARGS__)
#define __vigil_keep7(a, ...) __vigil_keep_one(a); __vigil_keep6(__VA_ARGS__)
#define __vigil_keep8(a, ...) __vigil_keep_one(a); __vigil_keep7(__VA_ARGS__)
#define __vigil_keep9(a, ...) __vigil_keep_one(a); __vigil_keep8(__VA_ARGS__)
#define __vigil_keep10(a, ...) __vigil_keep_one(a); __vigil_keep9(__VA_ARGS__)
#define __vigil_keep11(a, ...) __vigil_keep_one(a); __vigil_keep10(__VA_ARGS__)
#define __vigil_keep12(a, ...) __vigil_keep_one(a); __vigil_keep11(__VA_ARGS__)

/* A program whose whole body is one call (one of several entry points into a shared handler):
 *   VIGIL_PROG_CALL("cgroup/connect4", np_connect4, struct bpf_sock_addr *, sock_addr(ctx, HOOK, false)); */
#define VIGIL_PROG_CALL(sec, name, ctx_type, call)                                              \
	SEC(sec) int name(ctx_type ctx) { return call; }

/* Slot 0 of an array map (a per-CPU scratch buffer): NULL only where the map has none. */
#define vigil_slot0(map) ({ __u32 __vigil_zero = 0; bpf_map_lookup_elem(&(map), &__vigil_zero); })

/* floor(log2(v)) for v > 0, 0 for 0, without a branch. */
static __always_inline __u32 vigil_log2(__u64 v)
{
	__u32 r, shift;

	r = (v > 0xFFFFFFFFULL) << 5;
	v >>= r;
#define __VIGIL_LOG2_STEP(limit, bits) shift = (v > (limit)) << (bits); v >>= shift; r |= shift
	__VIGIL_LOG2_STEP(0xFFFF, 4);
	__VIGIL_LOG2_STEP(0xFF, 3);
	__VIGIL_LOG2_STEP(0xF, 2);
	__VIGIL_LOG2_STEP(0x3, 1);
#undef __VIGIL_LOG2_STEP
	return r | (__u32)(v >> 1);
}

/* Adds one to slot `which` of a per-CPU __u64 array (a program's global counters). */
static __always_inline void vigil_count(void *counters, __u32 which)
{
	__u64 *n = bpf_map_lookup_elem(counters, &which);

	if (n)
		*n += 1;
}

#endif /* __VIGIL_MAPS_H */
