/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* BPF loads and attaches by anyone on the host (bpf/bpfwatch.bpf.c,
 * `vigil bpf watch`): one record per completed bpf(2) call that loads a
 * program (BPF_PROG_LOAD) or attaches one (BPF_LINK_CREATE, BPF_PROG_ATTACH,
 * BPF_RAW_TRACEPOINT_OPEN), or by ioctl(PERF_EVENT_IOC_SET_BPF) on a perf
 * event, failed calls included.
 *
 * The caller's union bpf_attr is read at the call's entry; at its exit, for a
 * call that succeeded, the program (and the link) behind the descriptors is
 * read from the caller's file table: its id, tag, name and type as the kernel
 * holds them, so a program that is unloaded at once is still named.
 *
 * A record is the fixed header below; `str` holds str_len bytes, no NUL:
 * the tracepoint's name of BPF_RAW_TRACEPOINT_OPEN.
 */
#ifndef __VIGIL_BPFWATCH_H
#define __VIGIL_BPFWATCH_H

enum vigil_bpfw_limits {
	VIGIL_BPFW_COMM_LEN = 16,
	VIGIL_BPFW_NAME_LEN = 16,
	VIGIL_BPFW_TAG_LEN = 8,
	VIGIL_BPFW_STR_MAX = 64,
};

/* The first __u32 of every record. */
enum vigil_bpfw_kind {
	VIGIL_BPFW_EVENT = 0x42504657, /* "BPFW" */
};

/* vigil_bpfw_event.cmd beyond bpf(2)'s commands. */
enum vigil_bpfw_cmd {
	/* ioctl(perf_fd, PERF_EVENT_IOC_SET_BPF, prog_fd): target_fd is the perf event. */
	VIGIL_BPFW_PERF_SET_BPF = 0x100,
};

/* vigil_bpfw_event.status. */
enum vigil_bpfw_status {
	/* prog_id, prog_tag, prog_name and prog_type were read from the program. */
	VIGIL_BPFW_HAS_PROG = 1 << 0,
	/* link_id and link_type were read from the returned link. */
	VIGIL_BPFW_HAS_LINK = 1 << 1,
	/* Caught on raw_syscalls (no syscalls:sys_enter_bpf tracepoint here). */
	VIGIL_BPFW_RAW = 1 << 2,
};

struct vigil_bpfw_event {
	__u32 kind;
	/* The bpf(2) command (BPF_PROG_LOAD = 5, ...). */
	__u32 cmd;
	__u64 ktime;
	__u64 start_boottime;
	__u64 cgroup_id;
	/* The call's result: a descriptor, 0, or -errno. */
	__s64 ret;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 status;
	/* PROG_LOAD: as asked (prog_type, insn_cnt, expected_attach_type); the
	 * type is the program's own once loaded. */
	__u32 prog_type;
	__u32 insn_cnt;
	__u32 prog_id;
	/* LINK_CREATE, PROG_ATTACH: attach_type and target_fd as given;
	 * PROG_LOAD: expected_attach_type. */
	__u32 attach_type;
	__s32 target_fd;
	/* LINK_CREATE, PROG_ATTACH, RAW_TRACEPOINT_OPEN: the program's fd as given. */
	__s32 prog_fd;
	__u32 link_id;
	__u32 link_type;
	__u16 str_len;
	__u16 pad;
	__u32 gid;
	__u8 prog_tag[VIGIL_BPFW_TAG_LEN];
	char prog_name[VIGIL_BPFW_NAME_LEN];
	char comm[VIGIL_BPFW_COMM_LEN];
	char str[VIGIL_BPFW_STR_MAX];
};

#endif /* __VIGIL_BPFWATCH_H */
