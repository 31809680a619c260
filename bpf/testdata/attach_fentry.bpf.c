// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* fentry and fexit for test/attach-optional.test.ts: opens of a marker path
 * by the test process, and the descriptors they returned. Separate from
 * attach.bpf.c because some kernels refuse tracing programs at load. */
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
} fentry_hits SEC(".maps");

/* key: descriptor returned by a marker open, value: times */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __s64);
	__type(value, __u64);
} fexit_fds SEC(".maps");

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

SEC("fentry/do_sys_openat2")
int BPF_PROG(fentry_openat2, int dfd, const char *filename, struct open_how *how)
{
	__u32 zero = 0;
	__u64 *n;

	if (!marker_open(filename))
		return 0;
	n = bpf_map_lookup_elem(&fentry_hits, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

SEC("fexit/do_sys_openat2")
int BPF_PROG(fexit_openat2, int dfd, const char *filename, struct open_how *how, long ret)
{
	__s64 fd = ret;
	__u64 one = 1, *n;

	if (!marker_open(filename))
		return 0;
	n = bpf_map_lookup_elem(&fexit_fds, &fd);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&fexit_fds, &fd, &one, BPF_ANY);
	return 0;
}
