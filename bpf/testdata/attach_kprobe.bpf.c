// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* kprobe, kretprobe and kprobe.multi for test/attach-optional.test.ts: opens
 * of a marker path by the test process, and the descriptors they returned.
 * Separate from attach.bpf.c because kernels without CONFIG_KPROBES refuse
 * to attach these (the programs still load). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "vigil/maps.h"
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "marker.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

COUNTER(kprobe_hits);
COUNTER(kprobe_multi_hits);

/* Threads inside a marker open: the kretprobe reports only those. */
VIGIL_KEYED_MAP(in_open, BPF_MAP_TYPE_HASH, 1024, __u32, __u8);

/* key: descriptor returned by a marker open, value: times */
HISTOGRAM(kretprobe_fds, __s64);

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

	if (!bpf_map_lookup_elem(&in_open, &tid))
		return 0;
	bpf_map_delete_elem(&in_open, &tid);
	bump(&kretprobe_fds, &fd);
	return 0;
}

SEC("kprobe.multi")
int BPF_KPROBE(kprobe_multi_openat2, int dfd, const char *filename)
{
	if (marker_open(filename))
		count(&kprobe_multi_hits);
	return 0;
}
