// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* kprobe, kretprobe and kprobe.multi for test/attach-optional.test.ts: opens
 * of a marker path by the test process, and the descriptors they returned.
 * Separate from attach.bpf.c because kernels without CONFIG_KPROBES refuse
 * to attach these (the programs still load). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MARKER_LEN 64

const volatile __u32 target_pid = 0;
const volatile char marker[MARKER_LEN] = {};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} kprobe_hits SEC(".maps"), kprobe_multi_hits SEC(".maps");

/* Threads inside a marker open: the kretprobe reports only those. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} in_open SEC(".maps");

/* key: descriptor returned by a marker open, value: times */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __s64);
	__type(value, __u64);
} kretprobe_fds SEC(".maps");

static __always_inline bool marker_open(const char *user_path)
{
	char path[MARKER_LEN];

	if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
		return false;
	if (bpf_probe_read_user_str(path, sizeof(path), user_path) < 0)
		return false;
	for (int i = 0; i < MARKER_LEN; i++) {
		if (path[i] != marker[i])
			return false;
		if (!path[i])
			return true;
	}
	return false;
}

static __always_inline void count(void *map)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(map, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* long do_sys_openat2(int dfd, const char __user *filename, struct open_how *how) */
SEC("kprobe")
int BPF_KPROBE(kprobe_openat2, int dfd, const char *filename)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u8 one = 1;

	if (!marker_open(filename))
		return 0;
	count(&kprobe_hits);
	bpf_map_update_elem(&in_open, &tid, &one, BPF_ANY);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(kretprobe_openat2, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__s64 fd = ret;
	__u64 one = 1, *n;

	if (!bpf_map_lookup_elem(&in_open, &tid))
		return 0;
	bpf_map_delete_elem(&in_open, &tid);
	n = bpf_map_lookup_elem(&kretprobe_fds, &fd);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&kretprobe_fds, &fd, &one, BPF_ANY);
	return 0;
}

SEC("kprobe.multi")
int BPF_KPROBE(kprobe_multi_openat2, int dfd, const char *filename)
{
	if (marker_open(filename))
		count(&kprobe_multi_hits);
	return 0;
}
