// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Exercises vigil_path_normalize (bpf/include/vigil/path.h): when the
 * process target_pid calls getppid, the path in buf[start .. start + len)
 * (put there by test/path-normalize.test.ts through .bss) is normalised in
 * place; the result's length, the flags and a run count go back to .bss. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/path.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MASK 8191

const volatile __u32 target_pid = 0;

__u8 buf[MASK + 1 + VIGIL_PATH_SLACK];
__u32 start, len, out_len, flags, runs;

SEC("tracepoint/syscalls/sys_enter_getppid")
int normalize(void *ctx)
{
	__u32 f = 0;

	if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	out_len = vigil_path_normalize(buf, MASK, start, len, &f, 1);
	flags = f;
	runs++;
	return 0;
}
