// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* BPF LSM for test/attach-optional.test.ts: counts the test process's opens
 * of one inode and, when deny is set, refuses them with EPERM. Only the test
 * process and only that inode are affected. Separate from attach.bpf.c
 * because kernels without BPF LSM refuse it at load. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "vigil/maps.h"
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EPERM 1

const volatile __u32 target_pid = 0;
const volatile __u64 target_ino = 0;
const volatile bool deny = false;

VIGIL_INDEXED_MAP(lsm_hits, BPF_MAP_TYPE_ARRAY, 1, __u64);

SEC("lsm/file_open")
int BPF_PROG(lsm_file_open, struct file *file, int ret)
{
	__u32 zero = 0;
	__u64 *n;

	if (ret)
		return ret;
	if ((bpf_get_current_pid_tgid() >> 32) != target_pid || file->f_inode->i_ino != target_ino)
		return 0;
	n = bpf_map_lookup_elem(&lsm_hits, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	/* Not `return deny ? -EPERM : 0`: clang makes that -(u8)deny,
	 * sign-extended, and verifiers that do not track negation (6.12)
	 * then see R0 in [-128, 127], outside the LSM return range
	 * [-4095, 0] they enforce since 6.10, and refuse the program. The
	 * barrier keeps -EPERM a constant, so R0 is known on each path. */
	int refusal = -EPERM;
	barrier_var(refusal);
	return deny ? refusal : 0;
}
