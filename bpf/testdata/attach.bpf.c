// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* One program per attach kind that works on every kernel Vigil supports, for
 * test/attach-*.test.ts. Each test loads only its own programs
 * (spec.load({programs: [...]})) and reads what they saw from maps named
 * after them. Values are plain integers and strings: no struct crosses the
 * boundary here.
 *
 * Kinds that need kernel options (kprobe, fentry/fexit, LSM) live in
 * attach_kprobe.bpf.c, attach_fentry.bpf.c and attach_lsm.bpf.c, so that a
 * kernel without them still loads this object.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "vigil/maps.h"
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "marker.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define TC_ACT_OK 0
#define AF_INET 2
#define AF_INET6 10

/* UDP port whose packets the XDP and TC programs count (either direction). */
const volatile __u16 watch_port = 0;
/* Port that the connect4/connect6 programs refuse (0: refuse nothing). */
const volatile __u16 deny_port = 0;
/* First bytes of a datagram that the socket filter drops. */
const volatile __u32 drop_magic = 0;

/* --- tracepoint: opens of the marker path by the test process ---------- */

COUNTER(tp_openat_hits);

SEC("tracepoint/syscalls/sys_enter_openat")
int tp_openat(struct trace_event_raw_sys_enter *ctx)
{
	if (marker_open((const char *)ctx->args[1]))
		count(&tp_openat_hits);
	return 0;
}

/* --- raw tracepoint: execs by children of the test process ------------- */

/* key: pid of the exec'ing child, value: the file it executed */
VIGIL_KEYED_MAP(raw_exec_files, BPF_MAP_TYPE_HASH, 1024, __u32, char[MARKER_LEN]);

SEC("raw_tracepoint/sched_process_exec")
int raw_exec(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	char file[MARKER_LEN] = {};
	__u32 pid;

	if (BPF_CORE_READ(task, real_parent, tgid) != target_pid)
		return 0;
	pid = BPF_CORE_READ(task, tgid);
	bpf_probe_read_kernel_str(file, sizeof(file), BPF_CORE_READ(bprm, filename));
	bpf_map_update_elem(&raw_exec_files, &pid, file, BPF_ANY);
	return 0;
}

/* --- BTF tracepoint: processes and threads the test process creates ---- */

/* key: child pid (tid), value: times seen */
HISTOGRAM(btf_fork_children, __u32);

SEC("tp_btf/sched_process_fork")
int BPF_PROG(btf_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 pid;

	if (parent->tgid != target_pid)
		return 0;
	pid = child->pid;
	bump(&btf_fork_children, &pid);
	return 0;
}

/* --- uprobe / uretprobe: arguments and return values ------------------- */

/* key: first argument (or return value), value: calls */
HISTOGRAM(uprobe_exe_args, __u64);
HISTOGRAM(uprobe_exe_rets, __u64);
HISTOGRAM(uprobe_lib_args, __u64);
HISTOGRAM(uprobe_lib_rets, __u64);

/* Counts `key` in `map` when the test process made the call. */
static __always_inline int bump_target(void *map, __u64 key)
{
	if (is_target())
		bump(map, &key);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(uprobe_exe, int a, int b)
{
	return bump_target(&uprobe_exe_args, (__u64)(__s64)a);
}

SEC("uretprobe")
int BPF_KRETPROBE(uretprobe_exe, int ret)
{
	return bump_target(&uprobe_exe_rets, (__u64)(__s64)ret);
}

SEC("uprobe")
int BPF_KPROBE(uprobe_lib, long x)
{
	return bump_target(&uprobe_lib_args, (__u64)x);
}

SEC("uretprobe")
int BPF_KRETPROBE(uretprobe_lib, long ret)
{
	return bump_target(&uprobe_lib_rets, (__u64)ret);
}

/* --- perf_event: CPU-clock samples per CPU and of the test process ----- */

HISTOGRAM(perf_cpu_samples, __u32);
COUNTER(perf_target_samples);

SEC("perf_event")
int perf_sample(struct bpf_perf_event_data *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();

	bump(&perf_cpu_samples, &cpu);
	if (is_target())
		count(&perf_target_samples);
	return 0;
}

/* --- XDP and TC: IPv4 UDP packets from or to watch_port ---------------- */

static __always_inline bool udp_watched(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return false;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_UDP || ip->ihl < 5)
		return false;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > data_end)
		return false;
	return udp->source == bpf_htons(watch_port) || udp->dest == bpf_htons(watch_port);
}

COUNTER(xdp_hits);
COUNTER(tc_ingress_hits);
COUNTER(tc_egress_hits);

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	if (udp_watched((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		count(&xdp_hits);
	return XDP_PASS;
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	if (udp_watched((void *)(long)skb->data, (void *)(long)skb->data_end))
		count(&tc_ingress_hits);
	return TC_ACT_OK;
}

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	if (udp_watched((void *)(long)skb->data, (void *)(long)skb->data_end))
		count(&tc_egress_hits);
	return TC_ACT_OK;
}

/* --- cgroup_skb: packets of the cgroup's sockets, by address family ---- */

HISTOGRAM(cgskb_ingress_families, __u32);
HISTOGRAM(cgskb_egress_families, __u32);

SEC("cgroup_skb/ingress")
int cgskb_ingress(struct __sk_buff *skb)
{
	__u32 family = skb->family;

	bump(&cgskb_ingress_families, &family);
	return 1;
}

SEC("cgroup_skb/egress")
int cgskb_egress(struct __sk_buff *skb)
{
	__u32 family = skb->family;

	bump(&cgskb_egress_families, &family);
	return 1;
}

/* --- cgroup sock_addr: connect(2) calls, refusing deny_port ------------ */

/* key: tgid << 32 | destination port, value: connect calls */
HISTOGRAM(connect4_calls, __u64);
HISTOGRAM(connect6_calls, __u64);

static __always_inline int on_connect(void *map, __u32 port_be)
{
	__u16 port = bpf_ntohs((__u16)port_be);
	__u64 key = (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) | port;

	bump(map, &key);
	return deny_port && port == deny_port ? 0 : 1;
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	if (ctx->user_ip4 != bpf_htonl(0x7f000001)) /* 127.0.0.1 */
		return 1;
	return on_connect(&connect4_calls, ctx->user_port);
}

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx)
{
	/* ::1 */
	if (ctx->user_ip6[0] || ctx->user_ip6[1] || ctx->user_ip6[2] || ctx->user_ip6[3] != bpf_htonl(1))
		return 1;
	return on_connect(&connect6_calls, ctx->user_port);
}

/* --- socket filter: counts datagrams, drops those starting drop_magic -- */

COUNTER(sockfilter_seen);
COUNTER(sockfilter_dropped);

SEC("socket")
int sockfilter(struct __sk_buff *skb)
{
	__u32 magic = 0;

	count(&sockfilter_seen);
	/* On a UDP socket the filter sees the skb from the UDP header on. */
	if (bpf_skb_load_bytes(skb, sizeof(struct udphdr), &magic, sizeof(magic)) == 0 &&
	    magic == drop_magic) {
		count(&sockfilter_dropped);
		return 0;
	}
	return skb->len;
}

/* --- iterator: "tgid comm" for each process ---------------------------- */

SEC("iter/task")
int iter_tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task || task->pid != task->tgid)
		return 0;
	BPF_SEQ_PRINTF(seq, "%d %s\n", task->tgid, task->comm);
	return 0;
}
