// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* BPF loads and attaches by anyone on the host (`vigil bpf watch`): one
 * vigil_bpfw_event per completed bpf(2) call that loads or attaches a
 * program (bpf/include/vigil/bpfwatch.h).
 *
 * Entry (syscalls:sys_enter_bpf): calls with another command return at once;
 * the wanted ones have the caller's union bpf_attr read and are stashed by
 * thread id. Exit (syscalls:sys_exit_bpf): for a call that succeeded, the
 * program and link behind the descriptors (the one returned, or the caller's
 * prog_fd) are read from the caller's file table: the kernel has checked
 * them, so file->private_data is the struct bpf_prog or bpf_link. Then the
 * record goes to the ring.
 *
 * ioctl(PERF_EVENT_IOC_SET_BPF) attaches a program to a perf event (a kprobe,
 * uprobe or tracepoint opened with perf_event_open) without bpf(2); it is
 * watched too, on syscalls:sys_enter_ioctl, which passes on nothing else.
 *
 * A kernel without the syscalls: tracepoints for bpf(2) is served on
 * raw_syscalls:sys_enter/sys_exit, filtered here on the syscall number
 * (bpf_nr) before anything else is read.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/maps.h"
#include "vigil/ringbuf.h"
#include "vigil/path.h"
#include "vigil/bpfwatch.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

VIGIL_KEEP_TYPES(enum vigil_bpfw_limits, enum vigil_bpfw_kind, enum vigil_bpfw_cmd, enum vigil_bpfw_status,
		 struct vigil_bpfw_event);

/* The watcher's own process: its loads are not reported. */
const volatile __u32 self_tgid = 0;
/* bpf(2)'s number, for the raw_syscalls programs. */
const volatile __s32 bpf_nr = -1;

/* The bpf(2) commands watched (include/uapi/linux/bpf.h). */
#define CMD_PROG_LOAD 5
#define CMD_PROG_ATTACH 8
#define CMD_RAW_TRACEPOINT_OPEN 17
#define CMD_LINK_CREATE 28
/* Not a bpf(2) command: ioctl(perf_fd, PERF_EVENT_IOC_SET_BPF, prog_fd), the
 * attach of a kprobe, uprobe or tracepoint through a perf event by loaders
 * that do not use BPF_LINK_CREATE for it. */
#define CMD_PERF_SET_BPF VIGIL_BPFW_PERF_SET_BPF
#define PERF_EVENT_IOC_SET_BPF 0x40042408

/* The leading words of union bpf_attr as each watched command lays them out. */
struct attr_head {
	__u32 w[4];
	__u8 rest[32];
	char prog_name[VIGIL_BPFW_NAME_LEN]; /* PROG_LOAD: offset 48 */
	__u32 ifindex;
	__u32 expected_attach_type;           /* PROG_LOAD: offset 68 */
};

_Static_assert(__builtin_offsetof(union bpf_attr, prog_name) == 48, "prog_name at 48");
_Static_assert(__builtin_offsetof(union bpf_attr, expected_attach_type) == 68, "expected_attach_type at 68");
_Static_assert(__builtin_offsetof(struct attr_head, prog_name) == 48, "attr_head matches");
_Static_assert(__builtin_offsetof(struct attr_head, expected_attach_type) == 68, "attr_head matches");

/* Calls in flight, by thread id. */
VIGIL_KEYED_MAP(stash, BPF_MAP_TYPE_HASH, 1024, __u32, struct vigil_bpfw_event);
VIGIL_INDEXED_MAP(scratch, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct vigil_bpfw_event);

/* Resized from user space before load (ringBytes). */
VIGIL_RING_MAP(events, 256 * 1024);

static __always_inline bool watched(long cmd)
{
	return cmd == CMD_PROG_LOAD || cmd == CMD_PROG_ATTACH || cmd == CMD_RAW_TRACEPOINT_OPEN ||
	       cmd == CMD_LINK_CREATE || cmd == CMD_PERF_SET_BPF;
}

static __always_inline int bpf_enter(long cmd, const void *uattr, long size, __u32 status)
{
	struct task_struct *task;
	struct vigil_bpfw_event *ev;
	struct attr_head a = {};
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0, tid = (__u32)id;
	long n;

	if (!watched(cmd))
		return 0;
	if (self_tgid && (id >> 32) == self_tgid)
		return 0;
	ev = bpf_map_lookup_elem(&scratch, &zero);
	if (!ev)
		return 0;
	__builtin_memset(ev, 0, sizeof(*ev));
	task = (struct task_struct *)bpf_get_current_task();
	ev->kind = VIGIL_BPFW_EVENT;
	ev->cmd = cmd;
	ev->status = status;
	vigil_record_task(ev, task);
	ev->pid = id >> 32;
	ev->tid = tid;
	ev->uid = (__u32)bpf_get_current_uid_gid();
	ev->gid = bpf_get_current_uid_gid() >> 32;
	ev->target_fd = -1;
	ev->prog_fd = -1;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));

	if (cmd == CMD_PERF_SET_BPF) {	/* ioctl(perf_fd, SET_BPF, prog_fd): no attr */
		ev->target_fd = (long)uattr;
		ev->prog_fd = size;
		goto stash;
	}
	/* A caller may pass fewer bytes than the attr has (older libbpf): the
	 * kernel reads them as zeros, and so do we. */
	n = size < (long)sizeof(a) ? size : (long)sizeof(a);
	if (n > 0 && uattr)
		bpf_probe_read_user(&a, n & 127, uattr);
	switch (cmd) {
	case CMD_PROG_LOAD:		/* prog_type, insn_cnt, ..., prog_name, expected_attach_type */
		ev->prog_type = a.w[0];
		ev->insn_cnt = a.w[1];
		ev->attach_type = a.expected_attach_type;
		__builtin_memcpy(ev->prog_name, a.prog_name, sizeof(ev->prog_name));
		break;
	case CMD_LINK_CREATE:		/* prog_fd, target_fd, attach_type */
		ev->target_fd = a.w[1];
		ev->attach_type = a.w[2];
		ev->prog_fd = a.w[0];
		break;
	case CMD_PROG_ATTACH:		/* target_fd, attach_bpf_fd, attach_type */
		ev->target_fd = a.w[0];
		ev->attach_type = a.w[2];
		ev->prog_fd = a.w[1];
		break;
	case CMD_RAW_TRACEPOINT_OPEN: {	/* name, prog_fd */
		__u64 name = (__u64)a.w[0] | ((__u64)a.w[1] << 32);

		ev->prog_fd = a.w[2];
		if (name) {
			n = bpf_probe_read_user_str(ev->str, sizeof(ev->str), (const void *)name);
			if (n > 0)
				ev->str_len = (n - 1) & (VIGIL_BPFW_STR_MAX - 1);
		}
		break;
	}
	}
stash:
	if (bpf_map_update_elem(&stash, &tid, ev, BPF_ANY))
		vigil_count_lost(0);
	return 0;
}

static __always_inline void read_prog(struct vigil_bpfw_event *ev, struct bpf_prog *p)
{
	struct bpf_prog_aux *aux;

	if (!p)
		return;
	aux = BPF_CORE_READ(p, aux);
	ev->prog_id = BPF_CORE_READ(aux, id);
	ev->prog_type = BPF_CORE_READ(p, type);
	bpf_core_read(ev->prog_tag, sizeof(ev->prog_tag), &p->tag);
	bpf_core_read(ev->prog_name, sizeof(ev->prog_name), &aux->name);
	ev->status |= VIGIL_BPFW_HAS_PROG;
}

static __always_inline void *fd_private(struct task_struct *task, long fd)
{
	struct file *f = vigil_task_fd_file(task, fd);

	return f ? BPF_CORE_READ(f, private_data) : NULL;
}

static __always_inline int bpf_exit(long ret)
{
	struct task_struct *task;
	struct vigil_bpfw_event *ev;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	ev = bpf_map_lookup_elem(&stash, &tid);
	if (!ev)
		return 0;
	ev->ret = ret;
	if (ret >= 0) {
		task = (struct task_struct *)bpf_get_current_task();
		if (ev->cmd == CMD_PROG_LOAD) {
			read_prog(ev, fd_private(task, ret));
		} else {
			read_prog(ev, fd_private(task, ev->prog_fd));
			if (ev->cmd == CMD_LINK_CREATE || ev->cmd == CMD_RAW_TRACEPOINT_OPEN) {
				struct bpf_link *l = fd_private(task, ret);

				if (l) {
					ev->link_id = BPF_CORE_READ(l, id);
					ev->link_type = BPF_CORE_READ(l, type);
					ev->status |= VIGIL_BPFW_HAS_LINK;
				}
			}
		}
	}
	vigil_output(&events, 0, ev, sizeof(*ev));
	bpf_map_delete_elem(&stash, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_bpf")
int enter_bpf(struct trace_event_raw_sys_enter *ctx)
{
	return bpf_enter(ctx->args[0], (const void *)ctx->args[1], ctx->args[2], 0);
}

SEC("tracepoint/syscalls/sys_exit_bpf")
int exit_bpf(struct trace_event_raw_sys_exit *ctx)
{
	return bpf_exit(ctx->ret);
}

/* ioctl(2): only PERF_EVENT_IOC_SET_BPF goes on (one compare for every other ioctl). */
SEC("tracepoint/syscalls/sys_enter_ioctl")
int enter_ioctl(struct trace_event_raw_sys_enter *ctx)
{
	if ((__u32)ctx->args[1] != PERF_EVENT_IOC_SET_BPF)
		return 0;
	return bpf_enter(CMD_PERF_SET_BPF, (const void *)ctx->args[0], (long)(int)ctx->args[2], 0);
}

SEC("tracepoint/syscalls/sys_exit_ioctl")
int exit_ioctl(struct trace_event_raw_sys_exit *ctx)
{
	return bpf_exit(ctx->ret);
}

SEC("tracepoint/raw_syscalls/sys_enter")
int raw_enter(struct trace_event_raw_sys_enter *ctx)
{
	if ((__s32)ctx->id != bpf_nr)
		return 0;
	return bpf_enter(ctx->args[0], (const void *)ctx->args[1], ctx->args[2], VIGIL_BPFW_RAW);
}

SEC("tracepoint/raw_syscalls/sys_exit")
int raw_exit(struct trace_event_raw_sys_exit *ctx)
{
	if ((__s32)ctx->id != bpf_nr)
		return 0;
	return bpf_exit(ctx->ret);
}
