// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// Kernel-function (kfunc) probes: one program per kfunc, loaded on its own by
// src/bpf/features.ts and never attached. A kernel without the kfunc has no
// BTF id for it and libbpf cannot resolve the extern: that failure is the
// answer. An object of its own: an unresolved extern fails the whole
// object's load, whichever of its programs is asked for.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* What vigil/path.h's direct loads do: a number made a typed pointer, a field read through it. */
SEC("tracepoint/syscalls/sys_enter_getpid")
int kfunc_rdonly_cast(void *ctx)
{
	struct task_struct *t = bpf_rdonly_cast((const void *)bpf_get_current_task(),
						bpf_core_type_id_kernel(struct task_struct));

	return t->pid == 0;
}
