// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* fentry and fexit for test/attach-optional.test.ts: opens of a marker path
 * by the test process, and the descriptors they returned. Separate from
 * attach.bpf.c because some kernels refuse tracing programs at load. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "vigil/maps.h"
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "marker.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

COUNTER(fentry_hits);

/* key: descriptor returned by a marker open, value: times */
HISTOGRAM(fexit_fds, __s64);

SEC("fentry/do_sys_openat2")
int BPF_PROG(fentry_openat2, int dfd, const char *filename, struct open_how *how)
{
	if (marker_open(filename))
		count(&fentry_hits);
	return 0;
}

SEC("fexit/do_sys_openat2")
int BPF_PROG(fexit_openat2, int dfd, const char *filename, struct open_how *how, long ret)
{
	__s64 fd = ret;

	if (!marker_open(filename))
		return 0;
	bump(&fexit_fds, &fd);
	return 0;
}
