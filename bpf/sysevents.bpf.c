// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Syscall events for detection rules: one vigil_sys_event per completed
 * connect, socket, sendto, sendmsg, accept, accept4, listen, dup, dup2, dup3,
 * ptrace, init_module, finit_module, memfd_create, bpf, setuid, setns,
 * unshare, userfaultfd, fchmod (bpf/include/vigil/sysevents.h).
 *
 * Entry: one program per syscall (syscalls:sys_enter_<name>), so user space
 * loads only the programs of the calls its rules need (the others stay out
 * of the kernel). Task filters first; then the arguments are stashed under
 * the thread id, with the call's string argument or the sockaddr it passes.
 *
 * Exit: one program (sys_exit) attached to each wanted sys_exit_<name>. The
 * stash gets the result and what the kernel holds behind the descriptor now:
 * socket family/type/protocol/state and both ends, or the file's path, inode
 * and mode. Then the record goes to the ring.
 *
 * A call this kernel has no syscalls: tracepoint for (an ENOSYS stub:
 * init_module and finit_module without CONFIG_MODULES) is caught on
 * raw_syscalls:sys_enter/sys_exit instead, by number (raw_calls); those two
 * programs are loaded only when such a call is wanted, since they run for
 * every syscall on the host.
 *
 * execveat: its entry is remembered by thread id (execveat_tids) so that user
 * space can tell, for each exec event of the process sensor, whether it came
 * from execve or execveat; a failed execveat forgets it at exit.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "vigil/maps.h"
#include "vigil/ringbuf.h"
#include "vigil/filter.h"
#include "vigil/path.h"
#include "vigil/sysevents.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps the header's types in BTF for codegen (src/generated/sysevents.ts). */
VIGIL_KEEP_TYPES(enum vigil_sys_limits, enum vigil_sys_kind, enum vigil_sys_call,
		 enum vigil_sys_status, struct vigil_sys_event);

/* Report sendto/sendmsg that pass no destination address (a send on a
 * connected socket, every TCP send): off by default, since their fd's name
 * does not change and they are most of a busy host's sends. */
const volatile bool send_without_addr = false;
/* The agent's own process: its syscalls are not reported. */
const volatile __u32 self_tgid = 0;

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10

/* Path walk buffer: the path ends at WORK_END, written backwards. */
#define WORK_MASK (VIGIL_SYS_PATH_MAX - 1)
#define WORK_END VIGIL_SYS_PATH_MAX
#define PATH_LEN_MAX (VIGIL_SYS_PATH_MAX - 1)
#define STR_MASK (VIGIL_SYS_STR_MAX - 1)
#define SUN_PATH_MAX 108

_Static_assert((VIGIL_SYS_STR_MAX & STR_MASK) == 0, "str size is 2^k");
_Static_assert(sizeof(struct vigil_sys_event) % 8 == 0, "blob starts 8-aligned");

/* A stashed call: the header and the string argument (the blob's first part). */
struct sys_stash {
	struct vigil_sys_event ev;
	__u8 str[VIGIL_SYS_STR_MAX];
};

/* A record being finished at exit: header, str, then the path after it. */
struct sys_scratch {
	struct vigil_sys_event ev;
	__u8 data[VIGIL_SYS_STR_MAX + VIGIL_SYS_PATH_MAX];
	__u8 work[VIGIL_SYS_PATH_MAX + VIGIL_PATH_SLACK];
	struct sys_stash entry;
};

VIGIL_INDEXED_MAP(sys_scratch, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct sys_scratch);

/* Calls in flight, by thread id. Resized from user space (stashEntries). */
VIGIL_KEYED_MAP(stash, BPF_MAP_TYPE_HASH, 4096, __u32, struct sys_stash);

/* Resized from user space before load (ringBytes). */
VIGIL_RING_MAP(events, 1024 * 1024);

/* raw_syscalls fallback: syscall number -> enum vigil_sys_call (0: not wanted). */
VIGIL_INDEXED_MAP(raw_calls, BPF_MAP_TYPE_ARRAY, VIGIL_SYS_NR_MAX, __u16);

VIGIL_KEYED_MAP(execveat_tids, BPF_MAP_TYPE_LRU_HASH, 4096, __u32, struct vigil_sys_execveat);

/* The syscall number of a syscalls: record: an int (see file.bpf.c). */
static __always_inline __s32 syscall_nr(long id)
{
	return (__s32)id;
}

/* The sockaddr the caller passed: family, port and address; sun_path to str. */
static __always_inline void read_sockaddr(struct sys_stash *s, const void *uaddr, long len)
{
	struct vigil_sys_event *ev = &s->ev;
	__u16 family = 0;
	long n;

	if (!uaddr || len < (long)sizeof(family))
		return;
	if (bpf_probe_read_user(&family, sizeof(family), uaddr))
		return;
	ev->status |= VIGIL_SYS_HAS_ADDR;
	ev->ua_family = family;
	ev->ua_len = len;
	if (family == AF_INET && len >= (long)sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin = {};

		bpf_probe_read_user(&sin, sizeof(sin), uaddr);
		ev->ua_port = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(ev->ua_addr, &sin.sin_addr, 4);
	} else if (family == AF_INET6 && len >= (long)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6 = {};

		bpf_probe_read_user(&sin6, sizeof(sin6), uaddr);
		ev->ua_port = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(ev->ua_addr, &sin6.sin6_addr, 16);
	} else if (family == AF_UNIX) {
		n = len - (long)sizeof(family);
		if (n > SUN_PATH_MAX)
			n = SUN_PATH_MAX;
		if (n <= 0)
			return;
		barrier_var(n);
		if (!bpf_probe_read_user(s->str, n & 127, uaddr + sizeof(family))) {
			ev->str_len = n & 127;
			ev->status |= VIGIL_SYS_STR_SUN_PATH;
		}
	}
}

/* The call's string argument into str. */
static __always_inline void read_str(struct sys_stash *s, const char *ustr)
{
	long n;

	if (!ustr)
		return;
	n = bpf_probe_read_user_str(s->str, VIGIL_SYS_STR_MAX, ustr);
	if (n <= 0) {
		s->ev.status |= VIGIL_SYS_ERROR_STR;
		return;
	}
	if (n == VIGIL_SYS_STR_MAX && s->str[STR_MASK] == 0)
		s->ev.status |= VIGIL_SYS_TRUNC_STR;
	s->ev.str_len = (n - 1) & STR_MASK;
}

static __always_inline int sys_enter(struct trace_event_raw_sys_enter *ctx, __u16 call, int nargs,
				     __u16 status)
{
	struct task_struct *task;
	const struct cred *cred;
	struct sys_scratch *sc;
	struct sys_stash *s;
	struct vigil_sys_event *ev;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0, tid = (__u32)id;

	if (self_tgid && (id >> 32) == self_tgid)
		return 0;
	/* Sends without a destination: not wanted, not even counted. */
	if (!send_without_addr && ((call == VIGIL_SYS_SENDTO && nargs > 4 && !ctx->args[4]) ||
				   (call == VIGIL_SYS_SENDMSG && !ctx->args[1])))
		return 0;
	if (!vigil_filter_pass())
		return 0;
	sc = bpf_map_lookup_elem(&sys_scratch, &zero);
	if (!sc)
		return 0;
	s = &sc->entry;
	ev = &s->ev;
	task = (struct task_struct *)bpf_get_current_task();
	cred = BPF_CORE_READ(task, cred);

	ev->kind = VIGIL_SYS_EVENT;
	ev->call = call;
	ev->status = status;
	vigil_record_task(ev, task);
	BPF_CORE_READ_INTO(&ev->cap_effective, cred, cap_effective);
	ev->ret = 0;
	/* Only the call's own arguments: a syscalls: tracepoint's record ends
	 * after them, and the kernel refuses to attach a program that reads
	 * past it. One by one: the verifier refuses a ctx pointer moved by a loop. */
	ev->args[0] = nargs > 0 ? ctx->args[0] : 0;
	ev->args[1] = nargs > 1 ? ctx->args[1] : 0;
	ev->args[2] = nargs > 2 ? ctx->args[2] : 0;
	ev->args[3] = nargs > 3 ? ctx->args[3] : 0;
	ev->args[4] = nargs > 4 ? ctx->args[4] : 0;
	ev->args[5] = nargs > 5 ? ctx->args[5] : 0;
	ev->ino = 0;
	ev->dev = 0;
	ev->i_mode = 0;
	ev->pid = id >> 32;
	ev->tid = tid;
	id = bpf_get_current_uid_gid();
	ev->uid = (__u32)id;
	ev->gid = id >> 32;
	ev->euid = BPF_CORE_READ(cred, euid.val);
	ev->egid = BPF_CORE_READ(cred, egid.val);
	ev->nr = syscall_nr(ctx->id);
	ev->fd = -1;
	ev->sk_family = ev->sk_type = ev->sk_protocol = ev->sk_state = 0;
	ev->sk_lport = ev->sk_rport = 0;
	__builtin_memset(ev->sk_laddr, 0, sizeof(ev->sk_laddr));
	__builtin_memset(ev->sk_raddr, 0, sizeof(ev->sk_raddr));
	ev->ua_family = ev->ua_port = 0;
	ev->ua_len = 0;
	__builtin_memset(ev->ua_addr, 0, sizeof(ev->ua_addr));
	ev->path_len = 0;
	ev->str_len = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));

	switch (call) {
	case VIGIL_SYS_CONNECT:		/* connect(fd, uservaddr, addrlen) */
		read_sockaddr(s, (const void *)ctx->args[1], (long)ctx->args[2]);
		break;
	case VIGIL_SYS_SENDTO:		/* sendto(fd, buff, len, flags, addr, addr_len) */
		if (nargs > 5)
			read_sockaddr(s, (const void *)ctx->args[4], (long)ctx->args[5]);
		break;
	case VIGIL_SYS_SENDMSG: {	/* sendmsg(fd, msg, flags) */
		struct user_msghdr mh = {};

		if (!bpf_probe_read_user(&mh, sizeof(mh), (const void *)ctx->args[1]))
			read_sockaddr(s, mh.msg_name, mh.msg_namelen);
		if (!send_without_addr && !(ev->status & VIGIL_SYS_HAS_ADDR))
			return 0;
		break;
	}
	case VIGIL_SYS_INIT_MODULE:	/* init_module(umod, len, uargs) */
		read_str(s, (const char *)ctx->args[2]);
		break;
	case VIGIL_SYS_FINIT_MODULE:	/* finit_module(fd, uargs, flags) */
		read_str(s, (const char *)ctx->args[1]);
		break;
	case VIGIL_SYS_MEMFD_CREATE:	/* memfd_create(uname, flags) */
		read_str(s, (const char *)ctx->args[0]);
		break;
	default:
		break;
	}
	if (bpf_map_update_elem(&stash, &tid, s, BPF_ANY))
		vigil_count_lost(0);
	return 0;
}

/* Which descriptor the record describes: the one returned, or the argument. */
static __always_inline long event_fd(const struct vigil_sys_event *ev)
{
	switch (ev->call) {
	case VIGIL_SYS_SOCKET:
	case VIGIL_SYS_ACCEPT:
	case VIGIL_SYS_ACCEPT4:
	case VIGIL_SYS_MEMFD_CREATE:
	case VIGIL_SYS_USERFAULTFD:
		return ev->ret;
	case VIGIL_SYS_CONNECT:
	case VIGIL_SYS_SENDTO:
	case VIGIL_SYS_SENDMSG:
	case VIGIL_SYS_LISTEN:
	case VIGIL_SYS_DUP:
	case VIGIL_SYS_DUP2:
	case VIGIL_SYS_DUP3:
	case VIGIL_SYS_FINIT_MODULE:
	case VIGIL_SYS_SETNS:
	case VIGIL_SYS_FCHMOD:
		return (int)ev->args[0];
	default:
		return -1;
	}
}

/* The socket behind a file: family, type, protocol, state, both ends. */
static __always_inline struct sock *fill_sock(struct vigil_sys_event *ev, struct file *f)
{
	struct socket *so = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(so, sk);

	if (!sk)
		return NULL;
	ev->status |= VIGIL_SYS_HAS_SOCK;
	ev->sk_family = BPF_CORE_READ(sk, __sk_common.skc_family);
	ev->sk_type = BPF_CORE_READ(sk, sk_type);
	ev->sk_protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	ev->sk_state = BPF_CORE_READ(sk, __sk_common.skc_state);
	ev->sk_lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev->sk_rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (ev->sk_family == AF_INET) {
		bpf_core_read(ev->sk_laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(ev->sk_raddr, 4, &sk->__sk_common.skc_daddr);
	} else if (ev->sk_family == AF_INET6) {
		bpf_core_read(ev->sk_laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(ev->sk_raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	return sk;
}

/* A unix socket's address: its peer's when connected, else its own. */
static __always_inline __u32 unix_path(struct sys_scratch *sc, struct sock *sk, __u32 off)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	struct unix_sock *peer = (struct unix_sock *)BPF_CORE_READ(u, peer);
	struct unix_address *addr = NULL;
	long len;

	if (peer)
		addr = BPF_CORE_READ(peer, addr);
	if (!addr)
		addr = BPF_CORE_READ(u, addr);
	if (!addr)
		return 0;
	len = BPF_CORE_READ(addr, len) - (long)sizeof(__u16);
	if (len <= 0)
		return 0;
	if (len > SUN_PATH_MAX)
		len = SUN_PATH_MAX;
	barrier_var(len);
	if (bpf_probe_read_kernel(sc->data + (off & STR_MASK), len & 127, &addr->name[0].sun_path))
		return 0;
	return len & 127;
}

/* The file's path, root first, copied to sc->data[off...]. */
static __always_inline __u32 file_path(struct sys_scratch *sc, struct task_struct *task,
				       struct file *f, __u32 off)
{
	struct path root, fpath;
	__u32 flags = 0, len;

	BPF_CORE_READ_INTO(&fpath, f, f_path);
	vigil_task_root_pwd(task, &root, NULL);
	len = vigil_path_root_first(sc->work, WORK_MASK, WORK_END, PATH_LEN_MAX, &fpath, &root,
				    &flags, VIGIL_SYS_TRUNC_PATH, VIGIL_SYS_ERROR_PATH);
	sc->ev.status |= flags;
	if (len > PATH_LEN_MAX)
		len = PATH_LEN_MAX;
	barrier_var(len);
	if (!len)
		return 0;
	if (bpf_probe_read_kernel(sc->data + (off & STR_MASK), len & WORK_MASK,
				  sc->work + ((WORK_END - len) & WORK_MASK)))
		return 0;
	return len & WORK_MASK;
}

/* Calls whose record carries the fd's path when it is not a socket. */
static __always_inline bool wants_path(__u16 call)
{
	return call == VIGIL_SYS_DUP || call == VIGIL_SYS_DUP2 || call == VIGIL_SYS_DUP3 ||
	       call == VIGIL_SYS_FINIT_MODULE || call == VIGIL_SYS_SETNS || call == VIGIL_SYS_FCHMOD;
}

static __always_inline int sys_exit(__s32 nr, long ret)
{
	struct task_struct *task;
	struct sys_scratch *sc;
	struct sys_stash *s;
	struct vigil_sys_event *ev;
	struct file *f;
	struct sock *sk = NULL;
	struct inode *inode;
	__u32 zero = 0, tid = (__u32)bpf_get_current_pid_tgid(), str_len, plen = 0;
	__u64 size;
	long fd;

	s = bpf_map_lookup_elem(&stash, &tid);
	if (!s)
		return 0;
	/* A stale entry (its exit was missed at attach) is dropped. */
	if (s->ev.nr != nr)
		goto out;
	sc = bpf_map_lookup_elem(&sys_scratch, &zero);
	if (!sc)
		goto out;
	str_len = s->ev.str_len & STR_MASK;
	sc->ev = s->ev;
	ev = &sc->ev;
	ev->ret = ret;
	bpf_probe_read_kernel(sc->data, str_len, s->str);

	task = (struct task_struct *)bpf_get_current_task();
	fd = event_fd(ev);
	f = vigil_task_fd_file(task, fd);
	if (f) {
		ev->fd = fd;
		inode = BPF_CORE_READ(f, f_inode);
		ev->status |= VIGIL_SYS_HAS_FILE;
		ev->ino = BPF_CORE_READ(inode, i_ino);
		ev->dev = BPF_CORE_READ(inode, i_sb, s_dev);
		ev->i_mode = BPF_CORE_READ(inode, i_mode);
		if ((ev->i_mode & S_IFMT) == S_IFSOCK) {
			sk = fill_sock(ev, f);
			if (sk && ev->sk_family == AF_UNIX)
				plen = unix_path(sc, sk, str_len);
		} else if (wants_path(ev->call)) {
			plen = file_path(sc, task, f, str_len);
		}
	}
	ev->path_len = plen;
	size = sizeof(*ev) + str_len + plen;
	if (size > sizeof(*ev) + sizeof(sc->data))
		size = sizeof(*ev) + sizeof(sc->data);
	vigil_output(&events, 0, sc, size);
out:
	bpf_map_delete_elem(&stash, &tid);
	return 0;
}

/* The result, the descriptor, and the record to the ring. */
SEC("tracepoint/syscalls/sys_exit_connect")
int sys_exit_tp(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(syscall_nr(ctx->id), ctx->ret);
}

/* nargs: the call's arity (its tracepoint record's arguments). */
#define ENTER(name, call, nargs)						\
	SEC("tracepoint/syscalls/sys_enter_" #name)				\
	int enter_##name(struct trace_event_raw_sys_enter *ctx)		\
	{									\
		return sys_enter(ctx, call, nargs, 0);				\
	}

ENTER(connect, VIGIL_SYS_CONNECT, 3)
ENTER(socket, VIGIL_SYS_SOCKET, 3)
ENTER(sendto, VIGIL_SYS_SENDTO, 6)
ENTER(sendmsg, VIGIL_SYS_SENDMSG, 3)
ENTER(accept, VIGIL_SYS_ACCEPT, 3)
ENTER(accept4, VIGIL_SYS_ACCEPT4, 4)
ENTER(listen, VIGIL_SYS_LISTEN, 2)
ENTER(dup, VIGIL_SYS_DUP, 1)
ENTER(dup2, VIGIL_SYS_DUP2, 2)
ENTER(dup3, VIGIL_SYS_DUP3, 3)
ENTER(ptrace, VIGIL_SYS_PTRACE, 4)
ENTER(init_module, VIGIL_SYS_INIT_MODULE, 3)
ENTER(finit_module, VIGIL_SYS_FINIT_MODULE, 3)
ENTER(memfd_create, VIGIL_SYS_MEMFD_CREATE, 2)
ENTER(bpf, VIGIL_SYS_BPF, 3)
ENTER(setuid, VIGIL_SYS_SETUID, 1)
ENTER(setns, VIGIL_SYS_SETNS, 2)
ENTER(unshare, VIGIL_SYS_UNSHARE, 1)
ENTER(userfaultfd, VIGIL_SYS_USERFAULTFD, 1)
ENTER(fchmod, VIGIL_SYS_FCHMOD, 2)

/* --- calls without a tracepoint here: by number on raw_syscalls --------- */

static __always_inline __u16 raw_call(long id)
{
	__u32 nr = id;
	__u16 *call;

	if (id < 0 || id >= VIGIL_SYS_NR_MAX)
		return 0;
	call = bpf_map_lookup_elem(&raw_calls, &nr);
	return call ? *call : 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int raw_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u16 call = raw_call(ctx->id);

	if (!call)
		return 0;
	return sys_enter(ctx, call, 6, VIGIL_SYS_RAW);
}

SEC("tracepoint/raw_syscalls/sys_exit")
int raw_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (!raw_call(ctx->id))
		return 0;
	return sys_exit(syscall_nr(ctx->id), ctx->ret);
}

/* --- execveat: which exec events came from it ------------------------------ */

SEC("tracepoint/syscalls/sys_enter_execveat")
int enter_execveat(struct trace_event_raw_sys_enter *ctx)
{
	struct vigil_sys_execveat e = {
		.ktime = bpf_ktime_get_boot_ns(), .dfd = ctx->args[0], .flags = ctx->args[4],
	};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (!vigil_filter_task_pass())
		return 0;
	bpf_map_update_elem(&execveat_tids, &tid, &e, BPF_ANY);
	return 0;
}

/* A failed execveat made no exec event: forget it. A successful one is
 * forgotten by user space once it has seen the exec (this exit may run
 * before the exec record is read). */
SEC("tracepoint/syscalls/sys_exit_execveat")
int exit_execveat(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (ctx->ret < 0)
		bpf_map_delete_elem(&execveat_tids, &tid);
	return 0;
}
