/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Map declarations that every program writes the same way, in one line each.
 * Include after vmlinux.h and bpf_helpers.h. */
#ifndef __VIGIL_MAPS_H
#define __VIGIL_MAPS_H

/* An array (ARRAY, PERCPU_ARRAY) of `entries` values indexed by a __u32:
 *   VIGIL_INDEXED_MAP(counters, BPF_MAP_TYPE_PERCPU_ARRAY, N_COUNTERS, __u64); */
#define VIGIL_INDEXED_MAP(name, map_type, entries, value_type)                                  \
	struct {                                                                                \
		__uint(type, map_type);                                                         \
		__uint(max_entries, entries);                                                   \
		__type(key, __u32);                                                             \
		__type(value, value_type);                                                      \
	} name SEC(".maps")

/* Adds one to slot `which` of a per-CPU __u64 array (a program's global counters). */
static __always_inline void vigil_count(void *counters, __u32 which)
{
	__u64 *n = bpf_map_lookup_elem(counters, &which);

	if (n)
		*n += 1;
}

#endif /* __VIGIL_MAPS_H */
