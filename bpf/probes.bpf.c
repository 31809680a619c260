// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// Feature probes: one tiny program per attach kind, each loaded on its own
// (spec.load({programs: [name]})) by src/bpf/features.ts, and where cheap
// attached and detached. Programs do nothing: a probe asks "does the kernel
// accept this?", never "what happens?".
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* A program of section `sec` that returns `verdict` and does nothing else. */
#define PROBE(sec, name, ctx_type, verdict)                                        \
	SEC(sec)                                                                    \
	int name(ctx_type *ctx)                                                     \
	{                                                                           \
		return verdict;                                                     \
	}

PROBE("tracepoint/syscalls/sys_enter_getpid", probe_tracepoint, void, 0)
PROBE("raw_tracepoint/sys_enter", probe_raw_tracepoint, struct bpf_raw_tracepoint_args, 0)

SEC("tp_btf/sys_enter")
int BPF_PROG(probe_tp_btf, struct pt_regs *regs, long id)
{
	return 0;
}

/* kprobe and kprobe.multi: the target is chosen at attach time. */
PROBE("kprobe", probe_kprobe, struct pt_regs, 0)
PROBE("kprobe.multi", probe_kprobe_multi, struct pt_regs, 0)

/* fentry/fexit need their target at load: do_unlinkat has been in every kernel
 * with BTF and is the classic example in libbpf-bootstrap. */
SEC("fentry/do_unlinkat")
int BPF_PROG(probe_fentry, int dfd, struct filename *name)
{
	return 0;
}

SEC("fexit/do_unlinkat")
int BPF_PROG(probe_fexit, int dfd, struct filename *name, long ret)
{
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(probe_lsm, struct file *file, int ret)
{
	return ret;
}

PROBE("uprobe", probe_uprobe, struct pt_regs, 0)
PROBE("perf_event", probe_perf_event, struct bpf_perf_event_data, 0)
PROBE("xdp", probe_xdp, struct xdp_md, XDP_PASS)
PROBE("tc", probe_tc, struct __sk_buff, 0) /* TC_ACT_OK */
PROBE("cgroup_skb/ingress", probe_cgroup_skb, struct __sk_buff, 1) /* allow */
PROBE("cgroup/connect4", probe_cgroup_sock_addr, struct bpf_sock_addr, 1) /* allow */

SEC("socket")
int probe_socket_filter(struct __sk_buff *skb)
{
	return skb->len; /* keep the whole packet */
}

PROBE("iter/task", probe_iter, struct bpf_iter__task, 0)
