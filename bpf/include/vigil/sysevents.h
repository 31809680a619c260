/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Syscall events for detection rules (bpf/sysevents.bpf.c): one record per
 * completed connect, socket, sendto, sendmsg, accept(4), listen, dup(2,3),
 * ptrace, init_module, finit_module, memfd_create, bpf, setuid, setns,
 * unshare, userfaultfd, fchmod.
 *
 * The arguments are read at syscall entry (syscalls:sys_enter_<name>, or
 * raw_syscalls:sys_enter for a call this kernel has no tracepoint for: an
 * ENOSYS stub such as init_module without CONFIG_MODULES), the result and the
 * descriptor at exit: what the kernel holds behind the fd when the call
 * returns (socket family, type, protocol, state and both ends; the file's
 * path, inode and type). The record is sent at exit.
 *
 * A record is the fixed header below, then a blob:
 *
 *   str    str_len bytes, no NUL: the call's string argument, as given
 *          (memfd_create's name, init_module/finit_module's uargs), or the
 *          sun_path of a unix sockaddr the caller passed (connect, sendto,
 *          sendmsg; VIGIL_SYS_STR_SUN_PATH): abstract names keep their
 *          leading NUL.
 *   path   path_len bytes, no NUL: the path of the descriptor's file, root
 *          first ("/usr/lib/modules/x.ko", "/pipe:[123]", "/memfd:name"),
 *          for calls on a non-socket fd (dup, finit_module, setns, fchmod):
 *          canonical, the struct file's path walked up to the process's root
 *          (what readlink /proc/PID/fd/N shows), with ino and dev of the same
 *          file; for a unix socket, its peer's (or own) bound address as the
 *          binder gave it.
 */
#ifndef __VIGIL_SYSEVENTS_H
#define __VIGIL_SYSEVENTS_H

enum vigil_sys_limits {
	/* Bytes of the descriptor's path (PATH_MAX); a longer one keeps its leaf side. */
	VIGIL_SYS_PATH_MAX = 4096,
	/* Bytes of the string argument. */
	VIGIL_SYS_STR_MAX = 256,
	VIGIL_SYS_COMM_LEN = 16,
	/* Syscall numbers the raw_syscalls fallback looks up (array index). */
	VIGIL_SYS_NR_MAX = 1024,
};

/* The first __u32 of every record. */
enum vigil_sys_kind {
	VIGIL_SYS_EVENT = 0x53595345, /* "SYSE" */
};

/* Which syscall (architecture independent; user space names them). */
enum vigil_sys_call {
	VIGIL_SYS_CONNECT = 1,
	VIGIL_SYS_SOCKET = 2,
	VIGIL_SYS_SENDTO = 3,
	VIGIL_SYS_SENDMSG = 4,
	VIGIL_SYS_ACCEPT = 5,
	VIGIL_SYS_ACCEPT4 = 6,
	VIGIL_SYS_LISTEN = 7,
	VIGIL_SYS_DUP = 8,
	VIGIL_SYS_DUP2 = 9,
	VIGIL_SYS_DUP3 = 10,
	VIGIL_SYS_PTRACE = 11,
	VIGIL_SYS_INIT_MODULE = 12,
	VIGIL_SYS_FINIT_MODULE = 13,
	VIGIL_SYS_MEMFD_CREATE = 14,
	VIGIL_SYS_BPF = 15,
	VIGIL_SYS_SETUID = 16,
	VIGIL_SYS_SETNS = 17,
	VIGIL_SYS_UNSHARE = 18,
	VIGIL_SYS_USERFAULTFD = 19,
	VIGIL_SYS_FCHMOD = 20,
	VIGIL_SYS_CALL_MAX = 21,
};

/* vigil_sys_event.status. */
enum vigil_sys_status {
	/* fd named an open file at exit: ino, dev, i_mode are set. */
	VIGIL_SYS_HAS_FILE = 1 << 0,
	/* ... and it is a socket: the sk_* fields are set. */
	VIGIL_SYS_HAS_SOCK = 1 << 1,
	/* The caller passed a socket address (connect, sendto, sendmsg): ua_*. */
	VIGIL_SYS_HAS_ADDR = 1 << 2,
	/* The path was longer than VIGIL_SYS_PATH_MAX: its leaf side is kept. */
	VIGIL_SYS_TRUNC_PATH = 1 << 3,
	/* The path could not be read. */
	VIGIL_SYS_ERROR_PATH = 1 << 4,
	/* The string argument was longer than VIGIL_SYS_STR_MAX (cut), or unreadable. */
	VIGIL_SYS_TRUNC_STR = 1 << 5,
	VIGIL_SYS_ERROR_STR = 1 << 6,
	/* str holds a unix sockaddr's sun_path (not a string argument). */
	VIGIL_SYS_STR_SUN_PATH = 1 << 7,
	/* Entered through raw_syscalls (no per-syscall tracepoint here). */
	VIGIL_SYS_RAW = 1 << 8,
};

/* One completed syscall: this header, then the blob at offset sizeof(header). */
struct vigil_sys_event {
	__u32 kind;			/* VIGIL_SYS_EVENT */
	__u16 call;			/* enum vigil_sys_call */
	__u16 status;			/* enum vigil_sys_status */
	__u64 ktime;			/* syscall entry: CLOCK_BOOTTIME ns */
	__u64 start_boottime;		/* the process's (group leader's) start */
	__u64 cgroup_id;		/* cgroup v2 id of the task */
	__u64 cap_effective;		/* the thread's effective capabilities at entry */
	__s64 ret;			/* the result: fd, 0, a value, or -errno */
	__u64 args[6];			/* the raw arguments, as entered */
	__u64 ino;			/* VIGIL_SYS_HAS_FILE: the fd's inode */
	__u32 dev;			/* ... its superblock's dev_t (kernel encoding) */
	__u32 i_mode;			/* ... its mode (S_IFMT type bits and permissions) */
	__u32 pid;			/* thread group id */
	__u32 tid;
	__u32 uid;			/* real uid/gid */
	__u32 gid;
	__u32 euid;			/* effective uid/gid */
	__u32 egid;
	__s32 nr;			/* the architecture's syscall number */
	__s32 fd;			/* the descriptor described (-1: none) */
	/* VIGIL_SYS_HAS_SOCK: the socket behind fd, at exit. Ports in host
	 * order; addresses in network order (IPv4 in the first 4 bytes). */
	__u16 sk_family;
	__u16 sk_type;
	__u16 sk_protocol;
	__u16 sk_state;
	__u16 sk_lport;
	__u16 sk_rport;
	__u8 sk_laddr[16];
	__u8 sk_raddr[16];
	/* VIGIL_SYS_HAS_ADDR: the sockaddr the caller passed (its family,
	 * port in host order, address; sun_path goes to str). */
	__u16 ua_family;
	__u16 ua_port;
	__u32 ua_len;
	__u8 ua_addr[16];
	__u16 path_len;
	__u16 str_len;
	char comm[VIGIL_SYS_COMM_LEN];
};

/* execveat in flight, by thread id: user space asks, for each exec event,
 * whether the thread entered execveat (the process sensor's exec record does
 * not say which call it was). */
struct vigil_sys_execveat {
	__u64 ktime;			/* entry, CLOCK_BOOTTIME ns */
	__s32 dfd;
	__u32 flags;			/* AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW */
};

#endif /* __VIGIL_SYSEVENTS_H */
