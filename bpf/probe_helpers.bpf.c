// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// Helper probes: one program per helper, of a type that may call it, loaded on
// its own by src/bpf/features.ts and never attached. The verifier refuses a
// helper a program type may not call ("program of this type cannot use
// helper", "unknown func"): that refusal is the answer. libbpf 1.1's own
// helper probe only knows the older wording and reports such helpers as
// available on newer kernels, so Vigil asks with real programs.
// A separate object from probes.bpf.c because of the stack map: every load
// creates all of an object's maps.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "vigil/maps.h"
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

VIGIL_STACK_MAP(probe_stacks, 1, 8);

SEC("tracepoint/syscalls/sys_enter_getpid")
int helper_send_signal(void *ctx)
{
	bpf_send_signal(0);
	return 0;
}

SEC("kprobe")
int helper_override_return(struct pt_regs *ctx)
{
	bpf_override_return(ctx, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int helper_get_stackid(void *ctx)
{
	bpf_get_stackid(ctx, &probe_stacks, BPF_F_USER_STACK);
	return 0;
}

static long loop_step(__u32 index, void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int helper_loop(void *ctx)
{
	bpf_loop(1, loop_step, NULL, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int helper_probe_read_user_str(void *ctx)
{
	char buf[16];

	bpf_probe_read_user_str(buf, sizeof(buf), (const void *)0);
	return 0;
}

/* bpf_d_path is allowed in iterators, LSM hooks and an allowlist of fentry
 * targets; an iterator is the one of those that needs no trampoline. */
SEC("iter/task_file")
int helper_d_path(struct bpf_iter__task_file *ctx)
{
	char path[64];
	struct file *file = ctx->file;

	if (!file)
		return 0;
	bpf_d_path((struct path *)&file->f_path, path, sizeof(path));
	return 0;
}
