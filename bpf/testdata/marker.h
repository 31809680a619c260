/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the attach test programs (attach*.bpf.c) share: the test process and the
 * marker path it opens, set before load, and counters of what they saw.
 * Include after vmlinux.h, bpf_helpers.h and vigil/maps.h. */
#ifndef __VIGIL_TESTDATA_MARKER_H
#define __VIGIL_TESTDATA_MARKER_H

#define MARKER_LEN 64

/* The test process (tgid); for uprobes, the target process. */
const volatile __u32 target_pid = 0;
/* A path only the test opens; the programs count opens of exactly it. */
const volatile char marker[MARKER_LEN] = {};

/* One __u64 counter. */
#define COUNTER(name) VIGIL_INDEXED_MAP(name, BPF_MAP_TYPE_ARRAY, 1, __u64)

/* key: a value seen (argument, return value, pid, descriptor...), value: how many times. */
#define HISTOGRAM(name, ktype) VIGIL_KEYED_MAP(name, BPF_MAP_TYPE_HASH, 1024, ktype, __u64)

/* Adds one to a HISTOGRAM's entry for key, creating it. */
static __always_inline void bump(void *map, const void *key)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(map, key);

	if (n) {
		__sync_fetch_and_add(n, 1);
		return;
	}
	if (bpf_map_update_elem(map, key, &one, BPF_NOEXIST) == 0)
		return;
	/* another CPU created the entry first */
	n = bpf_map_lookup_elem(map, key);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* Adds one to a COUNTER. */
static __always_inline void count(void *map)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(map, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline bool is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_pid;
}

static __always_inline bool marker_equals(const char *s)
{
	for (int i = 0; i < MARKER_LEN; i++) {
		if (s[i] != marker[i])
			return false;
		if (!s[i])
			return true;
	}
	return false;
}

/* Whether the test process is opening the marker (a user-space path). */
static __always_inline bool marker_open(const char *user_path)
{
	char path[MARKER_LEN];

	if (!is_target())
		return false;
	if (bpf_probe_read_user_str(path, sizeof(path), user_path) < 0)
		return false;
	return marker_equals(path);
}

#endif /* __VIGIL_TESTDATA_MARKER_H */
