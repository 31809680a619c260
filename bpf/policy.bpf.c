// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* TracingPolicy engine: generic programs whose behaviour is data
 * (bpf/include/vigil/policy.h). One object serves every policy; a hook is an
 * attachment whose BPF cookie is its id in `hooks`.
 *
 *  policy_tp         any tracepoint, and syscalls:sys_enter_* (arguments at
 *                    offsets in the record). Judges at entry, or captures and
 *                    stashes for policy_sys_exit (VIGIL_POLICY_HOOK_AT_EXIT).
 *  policy_sys_exit   syscalls:sys_exit_*: completes a stashed entry (return
 *                    value, returnCopy buffers) and judges it.
 *  policy_uprobe     uprobes (arguments from pt_regs).
 *  policy_connect4/6, policy_sendmsg4/6
 *                    cgroup sock_addr programs: the hooks listed in
 *                    deny_set are judged on the socket address; a matching
 *                    selector with Deny refuses the syscall (EPERM).
 *  policy_proc_*     the process table (exec, fork, exit) behind
 *                    matchBinaries, followForks/followChildren and the
 *                    exec-time namespaces and capabilities.
 *
 * Judging is three steps, each cheap to skip:
 *  1. process pass: the selectors with only their process filters (binary,
 *     pids, namespaces, capabilities); when none can match, nothing is read;
 *  2. capture: the arguments by type (strings, buffers, fds resolved to a
 *     path or a socket, sockaddrs, paths made absolute against a dirfd);
 *  3. the selectors in order, all filters: the first match acts.
 * Selectors and filters are walked with bpf_loop, so the verifier checks one
 * step whatever their number; filter values are looked up in the inner maps
 * of the value maps (any number of values).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "vigil/ringbuf.h"
#include "vigil/path.h"
#include "vigil/task.h"
#include "vigil/policy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps the header's types in BTF for codegen (src/generated/policy.ts). */
const enum vigil_policy_limits *unused_vigil_policy_limits __attribute__((unused));
const enum vigil_policy_kind *unused_vigil_policy_kind __attribute__((unused));
const enum vigil_policy_source *unused_vigil_policy_source __attribute__((unused));
const enum vigil_policy_hook_flag *unused_vigil_policy_hook_flag __attribute__((unused));
const enum vigil_policy_arg_type *unused_vigil_policy_arg_type __attribute__((unused));
const enum vigil_policy_arg_flag *unused_vigil_policy_arg_flag __attribute__((unused));
const enum vigil_policy_action_kind *unused_vigil_policy_action_kind __attribute__((unused));
const enum vigil_policy_scope *unused_vigil_policy_scope __attribute__((unused));
const enum vigil_policy_action_flag *unused_vigil_policy_action_flag __attribute__((unused));
const enum vigil_policy_filter_kind *unused_vigil_policy_filter_kind __attribute__((unused));
const enum vigil_policy_op *unused_vigil_policy_op __attribute__((unused));
const enum vigil_policy_filter_flag *unused_vigil_policy_filter_flag __attribute__((unused));
const enum vigil_policy_ns *unused_vigil_policy_ns __attribute__((unused));
const enum vigil_policy_cap_set *unused_vigil_policy_cap_set __attribute__((unused));
const enum vigil_policy_event_flag *unused_vigil_policy_event_flag __attribute__((unused));
const enum vigil_policy_counter *unused_vigil_policy_counter __attribute__((unused));
const enum vigil_policy_deny_kind *unused_vigil_policy_deny_kind __attribute__((unused));
const struct vigil_policy_event *unused_vigil_policy_event __attribute__((unused));
const struct vigil_policy_sock *unused_vigil_policy_sock __attribute__((unused));
const struct vigil_policy_cred *unused_vigil_policy_cred __attribute__((unused));
const struct vigil_policy_range *unused_vigil_policy_range __attribute__((unused));
const struct vigil_policy_user_ns *unused_vigil_policy_user_ns __attribute__((unused));
const enum vigil_policy_tp_limits *unused_vigil_policy_tp_limits __attribute__((unused));
const enum vigil_policy_loc *unused_vigil_policy_loc __attribute__((unused));
const enum vigil_policy_cond_test *unused_vigil_policy_cond_test __attribute__((unused));
const enum vigil_policy_cond_op *unused_vigil_policy_cond_op __attribute__((unused));
const enum vigil_policy_hook_limits *unused_vigil_policy_hook_limits __attribute__((unused));

#define AT_FDCWD -100
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define EFAULT 14
#define SIGKILL 9

/* Blob offsets are masked so the verifier bounds every write; an argument
 * starting below DATA_MASK + 1 may run ARG_MAX bytes past it. */
#define DATA_MASK (VIGIL_POLICY_DATA_MAX - 1)
#define BLOB_SIZE (VIGIL_POLICY_DATA_MAX + VIGIL_POLICY_ARG_MAX)
#define ARG_MASK (VIGIL_POLICY_ARG_MAX - 1)
/* Path assembly: a directory ends at DIR_END, '/' and a name follow. */
#define WORK_MASK (2 * VIGIL_POLICY_ARG_MAX - 1)
#define WORK_SIZE (WORK_MASK + 1 + VIGIL_POLICY_ARG_MAX)
#define DIR_END VIGIL_POLICY_ARG_MAX
#define STR_MASK (VIGIL_POLICY_STR_MAX - 1)

_Static_assert((DATA_MASK & (DATA_MASK + 1)) == 0, "mask is 2^k - 1");
_Static_assert((WORK_MASK & (WORK_MASK + 1)) == 0, "mask is 2^k - 1");
_Static_assert(VIGIL_PATH_SLACK <= VIGIL_POLICY_ARG_MAX, "room for path.h's writes");
_Static_assert(DIR_END + 1 + VIGIL_POLICY_ARG_MAX <= WORK_SIZE, "name after the directory fits");
_Static_assert(sizeof(struct vigil_policy_event) % 8 == 0, "blob 8-aligned");

/* --- configuration (written by src/policy/engine.ts) ---------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_POLICY_MAX_HOOKS);
	__type(key, __u32);
	__type(value, struct vigil_policy_hook);
} hooks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_POLICY_MAX_SELECTORS);
	__type(key, __u32);
	__type(value, struct vigil_policy_selector);
} selectors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_POLICY_MAX_FILTERS);
	__type(key, __u32);
	__type(value, struct vigil_policy_filter);
} filters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_policy_deny_set);
} deny_set SEC(".maps");

/* The hooks of each tracepoint attachment (its cookie). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_POLICY_MAX_TP);
	__type(key, __u32);
	__type(value, struct vigil_policy_tp_hooks);
} tp_hooks SEC(".maps");

/* Inner map templates: user space creates one inner map per filter with the
 * same type, key, value and flags, sized for the filter's values. */
struct inner_int {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u8);
};

struct inner_str {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, char[VIGIL_POLICY_STR_MAX]);
	__type(value, __u8);
};

struct inner_prefix {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_policy_str_key);
	__type(value, __u8);
};

struct inner_cidr4 {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_policy_cidr4_key);
	__type(value, __u8);
};

struct inner_cidr6 {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_policy_cidr6_key);
	__type(value, __u8);
};

struct inner_ports {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
};

struct inner_ranges {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_POLICY_MAX_RANGES);
	__type(key, __u32);
	__uint(value_size, sizeof(struct vigil_policy_range));
};

#define VALUE_MAP(name, inner)						\
	struct {							\
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);		\
		__uint(max_entries, VIGIL_POLICY_MAX_FILTERS);		\
		__type(key, __u32);					\
		__array(values, struct inner);				\
	} name SEC(".maps")

VALUE_MAP(values_int, inner_int);
VALUE_MAP(values_str, inner_str);
VALUE_MAP(values_prefix, inner_prefix);
VALUE_MAP(values_cidr4, inner_cidr4);
VALUE_MAP(values_cidr6, inner_cidr6);
VALUE_MAP(values_ports, inner_ports);
VALUE_MAP(values_range, inner_ranges);

/* --- state ------------------------------------------------------------------ */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_POLICY_MAX_POLICIES);
	__type(key, __u32);
	__type(value, struct vigil_policy_counters);
} counters SEC(".maps");

/* Resized from user space before load (ringBytes). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

/* User stacks (kernel stacks go in the record itself, see act()). */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 8192);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, VIGIL_POLICY_STACK_DEPTH * sizeof(__u64));
} user_stacks SEC(".maps");

struct ratelimit_key {
	__u32 hook;
	__u32 selector;
	__u64 scope;
	__u64 values[VIGIL_POLICY_SLOTS];
	__u16 lens[VIGIL_POLICY_MAX_ARGS];
	__u32 pad;
	__u8 head[VIGIL_POLICY_MAX_ARGS][16];
	__u8 tail[VIGIL_POLICY_MAX_ARGS][8];
};

/* Last post time of each (selector, scope, arguments). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ratelimit_key);
	__type(value, __u64);
} ratelimit SEC(".maps");

/* The process table: thread group id -> exec-time facts. Entries are made at
 * exec, inherited at fork, dropped at exit, and made on first use for
 * processes older than the engine (their "exec-time" is then first sight). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VIGIL_POLICY_MAX_PROCS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct vigil_policy_proc);
} procs SEC(".maps");

/* The record being built (header + blob). */
struct scratch {
	struct vigil_policy_event ev;
	__u8 data[BLOB_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* Everything else one judgement needs, in map memory (see vigil/path.h on
 * why loop state lives in maps). */
struct evalbuf {
	__u64 raw[VIGIL_POLICY_MAX_ARGS];	/* argument words as read */
	__u8 str[VIGIL_POLICY_STR_MAX];		/* Equal key */
	struct vigil_policy_str_key lpm;	/* Prefix/Postfix key */
	struct vigil_policy_cidr4_key c4;
	struct vigil_policy_cidr6_key c6;
	struct ratelimit_key rl;
	struct vigil_policy_proc proc;		/* a process entry being built */
	struct vigil_policy_sock sa;		/* cgroup programs: the address */
	struct vigil_policy_sock sk;		/* ... and the socket */
	__u32 rev_len;				/* Postfix: bytes to reverse */
	__u32 rev_off;
	__u8 work[WORK_SIZE];			/* path assembly */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct evalbuf);
} eval_map SEC(".maps");

/* Entries of AT_EXIT hooks waiting for their exit, by (thread, hook). */
struct stash_key {
	__u32 tid;
	__u32 hook;
};

#define STASH_SMALL_DATA 512

struct stash_small {
	struct vigil_policy_event ev;
	__u8 data[STASH_SMALL_DATA];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct stash_key);
	__type(value, struct stash_small);
} stash_small SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct stash_key);
	__type(value, struct scratch);
} stash_large SEC(".maps");

/* --- small helpers ------------------------------------------------------------ */

static __always_inline void count(__u32 policy, __u32 which)
{
	struct vigil_policy_counters *c = bpf_map_lookup_elem(&counters, &policy);

	if (c && which < VIGIL_POLICY_COUNTERS)
		c->c[which] += 1;
}

static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
	struct files_struct *files;
	struct fdtable *fdt;
	struct file **fds, *f = NULL;

	if (fd < 0)
		return NULL;
	files = BPF_CORE_READ(task, files);
	if (!files)
		return NULL;
	fdt = BPF_CORE_READ(files, fdt);
	if ((unsigned long)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
	return f;
}

static __always_inline void sock_fill(struct vigil_policy_sock *o, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	o->family = family;
	o->type = BPF_CORE_READ(sk, sk_type);
	o->protocol = BPF_CORE_READ(sk, sk_protocol);
	o->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	o->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	o->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	o->pad = 0;
	__builtin_memset(o->saddr, 0, sizeof(o->saddr));
	__builtin_memset(o->daddr, 0, sizeof(o->daddr));
	if (family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)o->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)o->daddr, sk, __sk_common.skc_daddr);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(o->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(o->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

/* --- the process table --------------------------------------------------------- */

static __always_inline void task_ns(struct task_struct *task, __u32 *ns)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);

	if (nsp) {
		ns[VIGIL_POLICY_NS_UTS] = BPF_CORE_READ(nsp, uts_ns, ns.inum);
		ns[VIGIL_POLICY_NS_IPC] = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
		ns[VIGIL_POLICY_NS_MNT] = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
		ns[VIGIL_POLICY_NS_PID_FOR_CHILDREN] = BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
		ns[VIGIL_POLICY_NS_NET] = BPF_CORE_READ(nsp, net_ns, ns.inum);
		if (bpf_core_field_exists(nsp->time_ns)) {
			ns[VIGIL_POLICY_NS_TIME] = BPF_CORE_READ(nsp, time_ns, ns.inum);
			ns[VIGIL_POLICY_NS_TIME_FOR_CHILDREN] = BPF_CORE_READ(nsp, time_ns_for_children, ns.inum);
		}
		ns[VIGIL_POLICY_NS_CGROUP] = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	}
	ns[VIGIL_POLICY_NS_PID] = vigil_task_pid_ns(task);
	ns[VIGIL_POLICY_NS_USER] = BPF_CORE_READ(task, real_cred, user_ns, ns.inum);
}

static __always_inline __u64 task_caps(struct task_struct *task, __u32 set)
{
	const struct cred *cred = BPF_CORE_READ(task, real_cred);
	kernel_cap_t c = {};

	if (set == VIGIL_POLICY_CAP_EFFECTIVE)
		BPF_CORE_READ_INTO(&c, cred, cap_effective);
	else if (set == VIGIL_POLICY_CAP_PERMITTED)
		BPF_CORE_READ_INTO(&c, cred, cap_permitted);
	else
		BPF_CORE_READ_INTO(&c, cred, cap_inheritable);
	return *(__u64 *)&c;
}

/* The task's process entry built in e->proc (binary from mm->exe_file). */
static __noinline void proc_build(struct evalbuf *e, struct task_struct *task)
{
	struct vigil_policy_proc *p = &e->proc;
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	struct path root, fpath;
	__u32 flags = 0, len = 0, n;

	__builtin_memset(p, 0, sizeof(*p));
	p->start_boottime = BPF_CORE_READ(leader, start_boottime);
	p->ppid = BPF_CORE_READ(task, real_parent, tgid);
	task_ns(task, p->ns);
	p->caps[VIGIL_POLICY_CAP_EFFECTIVE] = task_caps(task, VIGIL_POLICY_CAP_EFFECTIVE);
	p->caps[VIGIL_POLICY_CAP_PERMITTED] = task_caps(task, VIGIL_POLICY_CAP_PERMITTED);
	p->caps[VIGIL_POLICY_CAP_INHERITABLE] = task_caps(task, VIGIL_POLICY_CAP_INHERITABLE);
	if (!exe)
		return;
	BPF_CORE_READ_INTO(&fpath, exe, f_path);
	vigil_task_root_pwd(task, &root, NULL);
	len = vigil_path_root_first(e->work, WORK_MASK, DIR_END, VIGIL_POLICY_ARG_MAX - 1, &fpath, &root,
				    &flags, 1, 2);
	if (flags & 2)
		return;
	n = len;
	if (n > VIGIL_POLICY_STR_MAX - 1) {
		n = VIGIL_POLICY_STR_MAX - 1;
		p->bin_len = VIGIL_POLICY_STR_MAX;
	} else {
		p->bin_len = n;
	}
	barrier_var(n);
	bpf_probe_read_kernel(p->bin, n & STR_MASK, e->work + ((DIR_END - len) & WORK_MASK));
}

static __always_inline struct vigil_policy_proc *proc_of(struct evalbuf *e, struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct vigil_policy_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (p)
		return p;
	proc_build(e, task);
	bpf_map_update_elem(&procs, &tgid, &e->proc, BPF_NOEXIST);
	p = bpf_map_lookup_elem(&procs, &tgid);
	return p ? p : &e->proc;
}

SEC("tracepoint/sched/sched_process_exec")
int policy_proc_exec(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, zero = 0;
	struct evalbuf *e = bpf_map_lookup_elem(&eval_map, &zero);

	if (!e)
		return 0;
	proc_build(e, task);
	bpf_map_update_elem(&procs, &tgid, &e->proc, BPF_ANY);
	return 0;
}

SEC("raw_tracepoint/sched_process_fork")
int policy_proc_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid), zero = 0;
	struct vigil_policy_proc *p;
	struct evalbuf *e;

	if (ctgid == ptgid)
		return 0;	/* a thread */
	p = bpf_map_lookup_elem(&procs, &ptgid);
	e = bpf_map_lookup_elem(&eval_map, &zero);
	if (!p || !e)
		return 0;	/* made on first use */
	e->proc = *p;
	e->proc.ppid = ptgid;
	e->proc.start_boottime = BPF_CORE_READ(child, start_boottime);
	bpf_map_update_elem(&procs, &ctgid, &e->proc, BPF_ANY);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int policy_proc_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if ((__u32)id == tgid)
		bpf_map_delete_elem(&procs, &tgid);
	return 0;
}

/* --- capture ------------------------------------------------------------------- */

/* One judgement in progress: on the caller's stack, handed to bpf_loop. */
struct run {
	void *ctx;
	struct scratch *s;
	struct evalbuf *e;
	struct vigil_policy_hook *h;
	struct task_struct *task;
	struct vigil_policy_selector *sel;	/* the selector being judged */
	__u32 phase;
	__u32 verdict;
	__s32 matched;		/* global index of the matching selector */
	__u32 source;
	__u32 hook_id;
	__u32 deny_kind;	/* cgroup programs: enum vigil_policy_deny_kind */
	struct vigil_policy_sock *sa;	/* cgroup programs: the address being judged */
	struct vigil_policy_sock *sk;	/* cgroup programs: the socket */
};

enum phase {
	PHASE_PROCESS = 0,	/* only process filters; argument filters are "maybe" */
	PHASE_ENTRY = 1,	/* all but the return value's */
	PHASE_FULL = 2,
};

enum verdict {
	V_FALSE = 0,
	V_TRUE = 1,
	V_MAYBE = 2,
};

static __always_inline __u64 extend(__u64 raw, __u32 size, bool is_signed)
{
	switch (size) {
	case 1:
		return is_signed ? (__u64)(__s64)(__s8)raw : (__u8)raw;
	case 2:
		return is_signed ? (__u64)(__s64)(__s16)raw : (__u16)raw;
	case 4:
		return is_signed ? (__u64)(__s64)(__s32)raw : (__u32)raw;
	}
	return raw;
}

/* libbpf 1.1 has no PT_REGS_PARM6. */
#ifdef PT_REGS_PARM6_CORE
#define PARM6(regs) PT_REGS_PARM6_CORE(regs)
#elif defined(__TARGET_ARCH_x86)
#define PARM6(regs) BPF_CORE_READ((struct pt_regs *)(regs), r9)
#elif defined(__TARGET_ARCH_arm64)
#define PARM6(regs) BPF_CORE_READ((struct user_pt_regs *)(regs), regs[5])
#else
#define PARM6(regs) 0
#endif

static __always_inline __u64 regs_arg(struct pt_regs *regs, __u32 i)
{
	switch (i) {
	case 0: return PT_REGS_PARM1_CORE(regs);
	case 1: return PT_REGS_PARM2_CORE(regs);
	case 2: return PT_REGS_PARM3_CORE(regs);
	case 3: return PT_REGS_PARM4_CORE(regs);
	case 4: return PT_REGS_PARM5_CORE(regs);
	case 5: return PARM6(regs);
	}
	return 0;
}

/* A word at a location (LOC_RECORD, LOC_REG, LOC_RET, LOC_CONST). */
static __always_inline __u64 read_at(void *ctx, __u32 loc, __u32 at, __u32 size, bool is_signed,
				     __u64 ret, __u64 konst)
{
	__u64 v = 0;

	switch (loc) {
	case VIGIL_POLICY_LOC_RECORD:
		/* 8 bytes whatever the field's size: extend() keeps its own. */
		bpf_probe_read_kernel(&v, sizeof(v), ctx + at);
		break;
	case VIGIL_POLICY_LOC_REG:
		v = regs_arg(ctx, at);
		break;
	case VIGIL_POLICY_LOC_RET:
		v = ret;
		break;
	case VIGIL_POLICY_LOC_CONST:
		return konst;
	default:
		return 0;
	}
	return extend(v, size, is_signed);
}

/* The word an argument or a condition starts from. */
static __noinline __u64 read_word(void *ctx, struct vigil_policy_arg *a, __u64 ret)
{
	bool is_signed = a->flags & VIGIL_POLICY_ARG_SIGNED;
	__u32 size = a->size;
	__u64 v, addr;

	if (a->type == VIGIL_POLICY_ARG_CHAR_ARRAY)
		return 0;
	if (a->type == VIGIL_POLICY_ARG_DATA_LOC)
		size = 4;
	if ((a->flags & VIGIL_POLICY_ARG_DEREF_USER) && a->type != VIGIL_POLICY_ARG_USER_STRUCT) {
		/* The location holds an address: size bytes at address + value. */
		addr = read_at(ctx, a->loc, a->offset, 8, false, ret, 0) + a->value;
		v = 0;
		bpf_probe_read_user(&v, sizeof(v), (void *)addr);
		return extend(v, size, is_signed);
	}
	if (a->type == VIGIL_POLICY_ARG_USER_STRUCT || a->type == VIGIL_POLICY_ARG_STRING ||
	    a->type == VIGIL_POLICY_ARG_KSTRING || a->type == VIGIL_POLICY_ARG_CHAR_BUF ||
	    a->type == VIGIL_POLICY_ARG_PATH_AT || a->type == VIGIL_POLICY_ARG_SOCKADDR ||
	    (a->type >= VIGIL_POLICY_ARG_KFILE && a->type <= VIGIL_POLICY_ARG_KSKB))
		size = 8;	/* addresses */
	v = read_at(ctx, a->loc, a->offset, size, is_signed, ret, a->value);
	if ((a->flags & VIGIL_POLICY_ARG_ERR_ONLY) && (__s64)v > 0)
		v = 0;
	return v;
}

/* Step 1 of capture: the word of every argument (those read at the exit
 * keep 0 until then). */
static long raw_step(__u64 i, void *data)
{
	struct run *r = data;

	if (i >= VIGIL_POLICY_MAX_ARGS)
		return 1;
	r->e->raw[i] = read_word(r->ctx, &r->h->args[i], 0);
	return 0;
}

/* The hook's conditions on its own record: false when one fails. Those on
 * the return value are checked at the exit (at_exit). */
struct cond_walk {
	struct run *r;
	__s64 ret;
	bool at_exit;
	bool pass;
};

static __always_inline bool fd_is_socket(struct task_struct *task, long fd, __u64 families, __u16 protocol)
{
	struct file *f = fd_file(task, fd);
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!f)
		return false;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return false;
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return false;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (families && (family >= 64 || !(families & (1ULL << family))))
		return false;
	return !protocol || BPF_CORE_READ(sk, sk_protocol) == protocol - 1;
}

static long cond_step(__u64 i, void *data)
{
	struct cond_walk *w = data;
	struct vigil_policy_cond *c;
	__u64 v;
	bool ok;

	if (i >= VIGIL_POLICY_MAX_CONDS)
		return 1;
	c = &w->r->h->conds[i];
	if ((c->where.loc == VIGIL_POLICY_LOC_RET) != w->at_exit)
		return 0;
	v = read_word(w->r->ctx, &c->where, w->ret);
	if (c->test == VIGIL_POLICY_COND_FD_SOCKET) {
		ok = fd_is_socket(w->r->task, (__s32)v, c->families, c->protocol);
	} else {
		switch (c->op) {
		case VIGIL_POLICY_COND_EQ: ok = v == c->value; break;
		case VIGIL_POLICY_COND_NE: ok = v != c->value; break;
		case VIGIL_POLICY_COND_GE: ok = v >= c->value; break;
		case VIGIL_POLICY_COND_LT: ok = v < c->value; break;
		case VIGIL_POLICY_COND_MASK: ok = (v & c->value) != 0; break;
		default: ok = false;
		}
	}
	if (!ok) {
		w->pass = false;
		return 1;
	}
	return 0;
}

static __always_inline bool conds_pass(struct run *r, bool at_exit, __s64 ret)
{
	struct cond_walk w = { .r = r, .ret = ret, .at_exit = at_exit, .pass = true };
	__u32 n = r->h->nconds;

	if (!n)
		return true;
	bpf_loop(n < VIGIL_POLICY_MAX_CONDS ? n : VIGIL_POLICY_MAX_CONDS, cond_step, &w, 0);
	return w.pass;
}

/* Appends data to the blob: returns the argument's offset, or -1 when full. */
static __always_inline long blob_pos(struct scratch *s, struct vigil_policy_arg_value *out)
{
	__u32 off = s->ev.data_len;

	if (off >= VIGIL_POLICY_DATA_MAX) {
		out->flags |= VIGIL_POLICY_ARG_NODATA;
		return -1;
	}
	out->off = off;
	return off;
}

static __always_inline void blob_commit(struct scratch *s, struct vigil_policy_arg_value *out, __u32 len)
{
	len &= ARG_MASK;
	out->len = len;
	/* Keep the next argument 8-aligned. */
	s->ev.data_len = out->off + ((len + 7) & ~7u);
}

/* A path (root first, ending at e->work[end]) copied into the blob. */
static __always_inline void put_work_path(struct run *r, struct vigil_policy_arg_value *out,
					  __u32 end, __u32 len)
{
	long off = blob_pos(r->s, out);

	if (off < 0)
		return;
	if (len > VIGIL_POLICY_ARG_MAX - 1) {
		len = VIGIL_POLICY_ARG_MAX - 1;
		out->flags |= VIGIL_POLICY_ARG_TRUNC;
	}
	barrier_var(len);
	bpf_probe_read_kernel(r->s->data + (off & DATA_MASK), len & ARG_MASK,
			      r->e->work + ((end - len) & WORK_MASK));
	blob_commit(r->s, out, len);
}

static __noinline void capture_fd(struct run *r, struct vigil_policy_arg_value *out, long fd)
{
	struct file *f = fd_file(r->task, fd);
	struct inode *inode;
	struct path root, fpath;
	__u32 flags = 0, len, mode;
	long off;

	if (!f) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return;
	}
	inode = BPF_CORE_READ(f, f_inode);
	mode = BPF_CORE_READ(inode, i_mode);
	if ((mode & S_IFMT) == S_IFSOCK) {
		struct socket *sock = BPF_CORE_READ(f, private_data);
		struct sock *sk = BPF_CORE_READ(sock, sk);

		out->type = VIGIL_POLICY_ARG_SOCK;
		off = blob_pos(r->s, out);
		if (off < 0 || !sk)
			return;
		sock_fill((struct vigil_policy_sock *)(r->s->data + (off & DATA_MASK)), sk);
		blob_commit(r->s, out, sizeof(struct vigil_policy_sock));
		return;
	}
	out->type = VIGIL_POLICY_ARG_FILE;
	out->value = (__u64)BPF_CORE_READ(f, f_flags) | ((__u64)mode << 32);
	BPF_CORE_READ_INTO(&fpath, f, f_path);
	vigil_task_root_pwd(r->task, &root, NULL);
	len = vigil_path_root_first(r->e->work, WORK_MASK, DIR_END, VIGIL_POLICY_ARG_MAX - 1, &fpath, &root,
				    &flags, VIGIL_POLICY_ARG_TRUNC, VIGIL_POLICY_ARG_ERROR);
	out->flags |= flags;
	put_work_path(r, out, DIR_END, len);
}

/* A user name made absolute against dirfd (AT_FDCWD: the cwd), as file.bpf.c. */
static __noinline void capture_path_at(struct run *r, struct vigil_policy_arg_value *out,
				       const char *name, long dfd)
{
	struct evalbuf *e = r->e;
	struct path root, base;
	struct file *f;
	__u32 flags = 0, dlen, ulen, sep, total, start;
	long n, off;

	off = blob_pos(r->s, out);
	if (off < 0)
		return;
	n = bpf_probe_read_user_str(r->s->data + (off & DATA_MASK), VIGIL_POLICY_ARG_MAX, name);
	if (n <= 0) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return;
	}
	ulen = n - 1;
	if (ulen && r->s->data[off & DATA_MASK] == '/') {
		blob_commit(r->s, out, ulen);
		return;
	}
	vigil_task_root_pwd(r->task, &root, dfd == AT_FDCWD ? &base : NULL);
	if (dfd != AT_FDCWD) {
		f = fd_file(r->task, dfd);
		if (!f) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			blob_commit(r->s, out, ulen);
			return;
		}
		BPF_CORE_READ_INTO(&base, f, f_path);
	}
	dlen = vigil_path_root_first(e->work, WORK_MASK, DIR_END, VIGIL_POLICY_ARG_MAX - 1, &base, &root,
				     &flags, VIGIL_POLICY_ARG_TRUNC, VIGIL_POLICY_ARG_ERROR);
	out->flags |= flags;
	sep = ulen && !(dlen == 1 && e->work[(DIR_END - 1) & WORK_MASK] == '/');
	if (sep)
		e->work[DIR_END] = '/';
	barrier_var(ulen);
	if (ulen)
		bpf_probe_read_kernel(e->work + DIR_END + sep, ulen & ARG_MASK, r->s->data + (off & DATA_MASK));
	total = dlen + sep + ulen;
	start = DIR_END - dlen;
	if (total > VIGIL_POLICY_ARG_MAX - 1) {
		start += total - (VIGIL_POLICY_ARG_MAX - 1);
		total = VIGIL_POLICY_ARG_MAX - 1;
		out->flags |= VIGIL_POLICY_ARG_TRUNC;
	}
	barrier_var(total);
	barrier_var(start);
	bpf_probe_read_kernel(r->s->data + (off & DATA_MASK), total & ARG_MASK, e->work + (start & WORK_MASK));
	blob_commit(r->s, out, total);
}

static __noinline void capture_sockaddr(struct run *r, struct vigil_policy_arg_value *out, const void *uaddr)
{
	struct vigil_policy_sock *o;
	__u16 family = 0;
	long off;

	if (bpf_probe_read_user(&family, sizeof(family), uaddr)) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return;
	}
	out->value = family;
	off = blob_pos(r->s, out);
	if (off < 0)
		return;
	if (family == AF_UNIX) {
		__u8 *d = r->s->data + (off & DATA_MASK);
		long n;

		out->type = VIGIL_POLICY_ARG_UNIX;
		n = bpf_probe_read_user_str(d, 108, uaddr + 2);
		if (n == 1) {
			/* Abstract: a NUL then the name; shown with '@'. */
			n = bpf_probe_read_user_str(d + 1, 107, uaddr + 3);
			d[0] = '@';
			n = n > 0 ? n : 1;
		}
		blob_commit(r->s, out, n > 0 ? n - 1 : 0);
		return;
	}
	out->type = VIGIL_POLICY_ARG_SOCK;
	o = (struct vigil_policy_sock *)(r->s->data + (off & DATA_MASK));
	__builtin_memset(o, 0, sizeof(*o));
	o->family = family;
	if (family == AF_INET) {
		struct sockaddr_in in = {};

		bpf_probe_read_user(&in, sizeof(in), uaddr);
		o->sport = o->dport = bpf_ntohs(in.sin_port);
		__builtin_memcpy(o->saddr, &in.sin_addr, 4);
		__builtin_memcpy(o->daddr, &in.sin_addr, 4);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 in6 = {};

		bpf_probe_read_user(&in6, sizeof(in6), uaddr);
		o->sport = o->dport = bpf_ntohs(in6.sin6_port);
		__builtin_memcpy(o->saddr, &in6.sin6_addr, 16);
		__builtin_memcpy(o->daddr, &in6.sin6_addr, 16);
	}
	blob_commit(r->s, out, sizeof(*o));
}

static __noinline void capture_cred(struct run *r, struct vigil_policy_arg_value *out)
{
	struct task_struct *task = r->task;
	const struct cred *cred = BPF_CORE_READ(task, real_cred);
	struct vigil_policy_cred *c;
	long off = blob_pos(r->s, out);

	if (off < 0)
		return;
	c = (struct vigil_policy_cred *)(r->s->data + (off & DATA_MASK));
	c->uid = BPF_CORE_READ(cred, uid.val);
	c->gid = BPF_CORE_READ(cred, gid.val);
	c->euid = BPF_CORE_READ(cred, euid.val);
	c->egid = BPF_CORE_READ(cred, egid.val);
	c->suid = BPF_CORE_READ(cred, suid.val);
	c->sgid = BPF_CORE_READ(cred, sgid.val);
	c->fsuid = BPF_CORE_READ(cred, fsuid.val);
	c->fsgid = BPF_CORE_READ(cred, fsgid.val);
	c->cap_effective = task_caps(r->task, VIGIL_POLICY_CAP_EFFECTIVE);
	c->cap_permitted = task_caps(r->task, VIGIL_POLICY_CAP_PERMITTED);
	c->cap_inheritable = task_caps(r->task, VIGIL_POLICY_CAP_INHERITABLE);
	c->user_ns = BPF_CORE_READ(cred, user_ns, ns.inum);
	c->securebits = BPF_CORE_READ(cred, securebits);
	blob_commit(r->s, out, sizeof(*c));
}

static __noinline void capture_exe(struct run *r, struct vigil_policy_arg_value *out)
{
	struct task_struct *task = r->task;
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	struct path root, fpath;
	__u32 flags = 0, len;

	out->type = VIGIL_POLICY_ARG_FILE;
	if (!exe) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return;
	}
	out->value = (__u64)BPF_CORE_READ(exe, f_flags) | ((__u64)BPF_CORE_READ(exe, f_inode, i_mode) << 32);
	BPF_CORE_READ_INTO(&fpath, exe, f_path);
	vigil_task_root_pwd(task, &root, NULL);
	len = vigil_path_root_first(r->e->work, WORK_MASK, DIR_END, VIGIL_POLICY_ARG_MAX - 1, &fpath, &root,
				    &flags, VIGIL_POLICY_ARG_TRUNC, VIGIL_POLICY_ARG_ERROR);
	out->flags |= flags;
	put_work_path(r, out, DIR_END, len);
}

/* A UAPI struct at a user address (bpf_attr, perf_event_attr), and the user
 * string one of its fields points to (perf_event's kprobe function). */
static __noinline void capture_user_struct(struct run *r, struct vigil_policy_arg_value *out,
					   struct vigil_policy_arg *a, __u64 addr)
{
	__u32 size = a->size;
	__u64 str = 0;
	long off = blob_pos(r->s, out);
	long n;

	if (off < 0)
		return;
	if (size > 255)
		size = 255;
	barrier_var(size);
	if (bpf_probe_read_user(r->s->data + (off & DATA_MASK), size & 255, (void *)addr)) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return;
	}
	out->value = size;
	if (a->value && a->value + 8 <= size &&
	    !bpf_probe_read_kernel(&str, sizeof(str), r->s->data + ((off + a->value) & DATA_MASK)) && str) {
		n = bpf_probe_read_user_str(r->s->data + ((off + size) & DATA_MASK), 256, (void *)str);
		if (n > 1) {
			blob_commit(r->s, out, size + n - 1);
			return;
		}
	}
	blob_commit(r->s, out, size);
}

/* A struct file's path (and flags) into the blob. */
static __noinline void capture_kfile(struct run *r, struct vigil_policy_arg_value *out, struct file *f)
{
	struct task_struct *task = r->task;
	struct path root, fpath;
	__u32 flags = 0, len;

	out->type = VIGIL_POLICY_ARG_FILE;
	if (!f) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return;
	}
	out->value = (__u64)BPF_CORE_READ(f, f_flags) | ((__u64)BPF_CORE_READ(f, f_inode, i_mode) << 32);
	BPF_CORE_READ_INTO(&fpath, f, f_path);
	vigil_task_root_pwd(task, &root, NULL);
	len = vigil_path_root_first(r->e->work, WORK_MASK, DIR_END, VIGIL_POLICY_ARG_MAX - 1, &fpath, &root,
				    &flags, VIGIL_POLICY_ARG_TRUNC, VIGIL_POLICY_ARG_ERROR);
	out->flags |= flags;
	put_work_path(r, out, DIR_END, len);
}

static __noinline void capture_ksock(struct run *r, struct vigil_policy_arg_value *out, struct sock *sk)
{
	long off;

	out->type = VIGIL_POLICY_ARG_SOCK;
	if (!sk) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return;
	}
	off = blob_pos(r->s, out);
	if (off < 0)
		return;
	sock_fill((struct vigil_policy_sock *)(r->s->data + (off & DATA_MASK)), sk);
	blob_commit(r->s, out, sizeof(struct vigil_policy_sock));
}

/* An skb's addresses and ports from its network and transport headers. */
static __noinline void capture_kskb(struct run *r, struct vigil_policy_arg_value *out, struct sk_buff *skb)
{
	struct vigil_policy_sock *o;
	unsigned char *head;
	__u16 nh, th, proto;
	__u8 version = 0, l4 = 0;
	__u16 ports[2] = {};
	long off;

	out->type = VIGIL_POLICY_ARG_SOCK;
	if (!skb) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return;
	}
	off = blob_pos(r->s, out);
	if (off < 0)
		return;
	o = (struct vigil_policy_sock *)(r->s->data + (off & DATA_MASK));
	__builtin_memset(o, 0, sizeof(*o));
	out->value = BPF_CORE_READ(skb, len);
	head = BPF_CORE_READ(skb, head);
	nh = BPF_CORE_READ(skb, network_header);
	th = BPF_CORE_READ(skb, transport_header);
	proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	bpf_probe_read_kernel(&version, 1, head + nh);
	version >>= 4;
	if (version == 4) {
		o->family = AF_INET;
		bpf_probe_read_kernel(&l4, 1, head + nh + 9);
		bpf_probe_read_kernel(o->saddr, 4, head + nh + 12);
		bpf_probe_read_kernel(o->daddr, 4, head + nh + 16);
	} else if (version == 6) {
		o->family = AF_INET6;
		bpf_probe_read_kernel(&l4, 1, head + nh + 6);
		bpf_probe_read_kernel(o->saddr, 16, head + nh + 8);
		bpf_probe_read_kernel(o->daddr, 16, head + nh + 24);
	} else {
		o->type = proto;
	}
	o->protocol = l4;
	if ((l4 == 6 || l4 == 17) && th != (__u16)~0U && th != nh) {
		bpf_probe_read_kernel(ports, sizeof(ports), head + th);
		o->sport = bpf_ntohs(ports[0]);
		o->dport = bpf_ntohs(ports[1]);
	}
	blob_commit(r->s, out, sizeof(*o));
}

static __noinline void capture_kcred(struct run *r, struct vigil_policy_arg_value *out, const struct cred *cred)
{
	struct vigil_policy_cred *c;
	kernel_cap_t k = {};
	long off;

	out->type = VIGIL_POLICY_ARG_CRED;
	if (!cred) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return;
	}
	off = blob_pos(r->s, out);
	if (off < 0)
		return;
	c = (struct vigil_policy_cred *)(r->s->data + (off & DATA_MASK));
	c->uid = BPF_CORE_READ(cred, uid.val);
	c->gid = BPF_CORE_READ(cred, gid.val);
	c->euid = BPF_CORE_READ(cred, euid.val);
	c->egid = BPF_CORE_READ(cred, egid.val);
	c->suid = BPF_CORE_READ(cred, suid.val);
	c->sgid = BPF_CORE_READ(cred, sgid.val);
	c->fsuid = BPF_CORE_READ(cred, fsuid.val);
	c->fsgid = BPF_CORE_READ(cred, fsgid.val);
	BPF_CORE_READ_INTO(&k, cred, cap_effective);
	c->cap_effective = *(__u64 *)&k;
	BPF_CORE_READ_INTO(&k, cred, cap_permitted);
	c->cap_permitted = *(__u64 *)&k;
	BPF_CORE_READ_INTO(&k, cred, cap_inheritable);
	c->cap_inheritable = *(__u64 *)&k;
	c->user_ns = BPF_CORE_READ(cred, user_ns, ns.inum);
	c->securebits = BPF_CORE_READ(cred, securebits);
	blob_commit(r->s, out, sizeof(*c));
}

static __noinline void capture_kuserns(struct run *r, struct vigil_policy_arg_value *out, struct user_namespace *ns)
{
	struct vigil_policy_user_ns *u;
	long off;

	if (!ns) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return;
	}
	off = blob_pos(r->s, out);
	if (off < 0)
		return;
	u = (struct vigil_policy_user_ns *)(r->s->data + (off & DATA_MASK));
	u->level = BPF_CORE_READ(ns, level);
	u->uid = BPF_CORE_READ(ns, owner.val);
	u->gid = BPF_CORE_READ(ns, group.val);
	u->inum = BPF_CORE_READ(ns, ns.inum);
	blob_commit(r->s, out, sizeof(*u));
}

/* One argument's value and data from its word. At the entry of a hook judged
 * at exit, arguments read at the exit (the return value, returnCopy buffers)
 * are only marked PENDING; `exit` completes them. */
static __noinline void capture_one(struct run *r, __u32 i, __u64 raw, bool exit)
{
	struct vigil_policy_arg *a;
	struct vigil_policy_arg_value *out;
	long off, n;
	__u32 size;

	if (i >= VIGIL_POLICY_MAX_ARGS)
		return;
	a = &r->h->args[i];
	out = &r->s->ev.args[i];
	if (!exit) {
		out->type = a->type;
		out->flags = 0;
		out->off = 0;
		out->len = 0;
		out->value = raw;
		/* Read at the exit: the return value, returnCopy buffers, and the
		 * task's credentials and executable (which the syscall may change:
		 * set*id, capset, execve). */
		if (a->loc == VIGIL_POLICY_LOC_RET ||
		    (a->type == VIGIL_POLICY_ARG_CHAR_BUF && a->size_loc == VIGIL_POLICY_LOC_RET) ||
		    ((a->type == VIGIL_POLICY_ARG_CRED || a->type == VIGIL_POLICY_ARG_CURRENT_EXE) &&
		     (r->h->flags & VIGIL_POLICY_HOOK_AT_EXIT))) {
			out->flags = VIGIL_POLICY_ARG_PENDING;
			return;
		}
	} else {
		out->flags &= ~VIGIL_POLICY_ARG_PENDING;
	}

	switch (a->type) {
	case VIGIL_POLICY_ARG_S64:
	case VIGIL_POLICY_ARG_U64:
		out->value = raw;
		break;
	case VIGIL_POLICY_ARG_STRING:
	case VIGIL_POLICY_ARG_KSTRING:
		off = blob_pos(r->s, out);
		if (off < 0)
			break;
		if (a->type == VIGIL_POLICY_ARG_STRING)
			n = bpf_probe_read_user_str(r->s->data + (off & DATA_MASK), VIGIL_POLICY_ARG_MAX,
						    (void *)raw);
		else
			n = bpf_probe_read_kernel_str(r->s->data + (off & DATA_MASK), VIGIL_POLICY_ARG_MAX,
						      (void *)raw);
		if (n <= 0) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			break;
		}
		if (n == VIGIL_POLICY_ARG_MAX)
			out->flags |= VIGIL_POLICY_ARG_TRUNC;
		out->value = 0;
		blob_commit(r->s, out, n - 1);
		break;
	case VIGIL_POLICY_ARG_DATA_LOC:
	case VIGIL_POLICY_ARG_CHAR_ARRAY: {
		__u32 at = a->offset;

		size = a->size;
		if (a->type == VIGIL_POLICY_ARG_DATA_LOC) {
			at = raw & 0xffff;
			size = raw >> 16;
		}
		if (size > VIGIL_POLICY_ARG_MAX - 1)
			size = VIGIL_POLICY_ARG_MAX - 1;
		out->value = 0;
		off = blob_pos(r->s, out);
		if (off < 0 || !size)
			break;
		barrier_var(size);
		n = bpf_probe_read_kernel_str(r->s->data + (off & DATA_MASK), size & ARG_MASK,
					      r->ctx + (at & 0xffff));
		if (n <= 0) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			break;
		}
		blob_commit(r->s, out, n - 1);
		break;
	}
	case VIGIL_POLICY_ARG_CHAR_BUF: {
		__u64 addr = raw, want;

		if (a->size_loc == VIGIL_POLICY_LOC_RET) {
			/* At the exit: raw is the return value, the address was kept. */
			addr = out->value;
			want = (__s64)raw > 0 ? raw : 0;
		} else if (a->size_loc) {
			want = read_at(r->ctx, a->size_loc, a->size_at, a->size_size, false, 0, 0);
		} else {
			want = a->max_data ? a->max_data : VIGIL_POLICY_ARG_MAX - 1;
		}
		out->value = want;
		size = want;
		if (a->max_data && size > a->max_data)
			size = a->max_data;
		if (size > VIGIL_POLICY_ARG_MAX - 1) {
			size = VIGIL_POLICY_ARG_MAX - 1;
			out->flags |= VIGIL_POLICY_ARG_TRUNC;
		}
		off = blob_pos(r->s, out);
		if (off < 0 || !size)
			break;
		barrier_var(size);
		if (bpf_probe_read_user(r->s->data + (off & DATA_MASK), size & ARG_MASK, (void *)addr)) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			break;
		}
		blob_commit(r->s, out, size);
		break;
	}
	case VIGIL_POLICY_ARG_FD:
		out->value = (__u64)(__s64)(__s32)raw;
		capture_fd(r, out, (__s32)raw);
		break;
	case VIGIL_POLICY_ARG_PATH_AT: {
		long dfd = AT_FDCWD;

		if (a->dirfd_loc)
			dfd = (__s32)read_at(r->ctx, a->dirfd_loc, a->dirfd_at, 4, true, 0, 0);
		out->value = 0;
		capture_path_at(r, out, (const char *)raw, dfd);
		break;
	}
	case VIGIL_POLICY_ARG_SOCKADDR:
		capture_sockaddr(r, out, (const void *)raw);
		break;
	case VIGIL_POLICY_ARG_CRED:
		out->value = 0;
		capture_cred(r, out);
		break;
	case VIGIL_POLICY_ARG_CURRENT_EXE:
		out->value = 0;
		capture_exe(r, out);
		break;
	case VIGIL_POLICY_ARG_USER_STRUCT:
		out->value = 0;
		capture_user_struct(r, out, a, raw);
		break;
	case VIGIL_POLICY_ARG_KFILE:
		out->value = 0;
		capture_kfile(r, out, (struct file *)raw);
		break;
	case VIGIL_POLICY_ARG_KBINPRM: {
		struct linux_binprm *bprm = (struct linux_binprm *)raw;

		out->value = 0;
		capture_kfile(r, out, bprm ? BPF_CORE_READ(bprm, file) : NULL);
		break;
	}
	case VIGIL_POLICY_ARG_KSOCK:
		out->value = 0;
		capture_ksock(r, out, (struct sock *)raw);
		break;
	case VIGIL_POLICY_ARG_KSOCKET: {
		struct socket *sock = (struct socket *)raw;

		out->value = 0;
		capture_ksock(r, out, sock ? BPF_CORE_READ(sock, sk) : NULL);
		break;
	}
	case VIGIL_POLICY_ARG_KCRED:
		out->value = 0;
		capture_kcred(r, out, (const struct cred *)raw);
		break;
	case VIGIL_POLICY_ARG_KUSER_NS:
		out->value = 0;
		capture_kuserns(r, out, (struct user_namespace *)raw);
		break;
	case VIGIL_POLICY_ARG_KSKB:
		out->value = 0;
		capture_kskb(r, out, (struct sk_buff *)raw);
		break;
	default:
		out->type = VIGIL_POLICY_ARG_NONE;
		break;
	}
}

/* Step 2 of capture. */
static long capture_step(__u64 i, void *data)
{
	struct run *r = data;

	if (i >= VIGIL_POLICY_MAX_ARGS)
		return 1;
	capture_one(r, i, r->e->raw[i], false);
	return 0;
}

/* At the exit: the arguments marked PENDING, from the return value. */
static long exit_capture_step(__u64 i, void *data)
{
	struct run *r = data;

	if (i >= VIGIL_POLICY_MAX_ARGS)
		return 1;
	if (r->s->ev.args[i].flags & VIGIL_POLICY_ARG_PENDING)
		capture_one(r, i, r->s->ev.ret, true);
	return 0;
}

/* --- filters ------------------------------------------------------------------- */

static __always_inline bool is_stringish(__u16 type)
{
	switch (type) {
	case VIGIL_POLICY_ARG_STRING:
	case VIGIL_POLICY_ARG_KSTRING:
	case VIGIL_POLICY_ARG_DATA_LOC:
	case VIGIL_POLICY_ARG_CHAR_ARRAY:
	case VIGIL_POLICY_ARG_CHAR_BUF:
	case VIGIL_POLICY_ARG_FILE:
	case VIGIL_POLICY_ARG_PATH_AT:
	case VIGIL_POLICY_ARG_UNIX:
		return true;
	}
	return false;
}

static __always_inline bool int_in(__u32 id, __u64 v)
{
	void *inner = bpf_map_lookup_elem(&values_int, &id);

	return inner && bpf_map_lookup_elem(inner, &v);
}

/* Equal on bytes data[off .. off + len) of the blob (or of a proc's bin). */
static __always_inline bool str_equal(struct evalbuf *e, __u32 id, const __u8 *src, __u32 len)
{
	void *inner = bpf_map_lookup_elem(&values_str, &id);

	if (!inner || len > VIGIL_POLICY_STR_MAX - 1)
		return false;
	__builtin_memset(e->str, 0, sizeof(e->str));
	barrier_var(len);
	bpf_probe_read_kernel(e->str, len & STR_MASK, src);
	return bpf_map_lookup_elem(inner, e->str) != NULL;
}

static __always_inline bool str_prefix(struct evalbuf *e, __u32 id, const __u8 *src, __u32 len)
{
	void *inner = bpf_map_lookup_elem(&values_prefix, &id);

	if (!inner)
		return false;
	if (len > VIGIL_POLICY_STR_MAX)
		len = VIGIL_POLICY_STR_MAX;
	e->lpm.prefixlen = len * 8;
	barrier_var(len);
	bpf_probe_read_kernel(e->lpm.data, len & (2 * VIGIL_POLICY_STR_MAX - 1) & 0x1ff, src);
	return bpf_map_lookup_elem(inner, &e->lpm) != NULL;
}

struct rev {
	struct evalbuf *e;
	const __u8 *src;	/* the last byte to reverse: src[len - 1] */
};

static long rev_step(__u64 i, void *data)
{
	struct rev *rv = data;
	struct evalbuf *e = rv->e;
	__u32 n = e->rev_len;
	__u8 c = 0;

	if (i >= n || i >= VIGIL_POLICY_STR_MAX)
		return 1;
	bpf_probe_read_kernel(&c, 1, rv->src + (n - 1 - i));
	e->lpm.data[i & STR_MASK] = c;
	return 0;
}

/* Postfix: the last bytes reversed, looked up as a prefix. */
static __always_inline bool str_postfix(struct evalbuf *e, __u32 id, const __u8 *src, __u32 len)
{
	void *inner = bpf_map_lookup_elem(&values_prefix, &id);
	struct rev rv = { .e = e };
	__u32 n = len;

	if (!inner)
		return false;
	if (n > VIGIL_POLICY_STR_MAX)
		n = VIGIL_POLICY_STR_MAX;
	rv.src = src + (len - n);
	e->rev_len = n;
	e->lpm.prefixlen = n * 8;
	bpf_loop(VIGIL_POLICY_STR_MAX, rev_step, &rv, 0);
	return bpf_map_lookup_elem(inner, &e->lpm) != NULL;
}

static __always_inline bool ports_has(__u32 id, __u16 port)
{
	void *inner = bpf_map_lookup_elem(&values_ports, &id);
	__u32 k = port >> 6;
	__u64 *w;

	if (!inner)
		return false;
	w = bpf_map_lookup_elem(inner, &k);
	return w && (*w & (1ULL << (port & 63)));
}

static __always_inline bool addr_in(struct evalbuf *e, __u32 id, __u16 family, const __u8 *addr)
{
	const __u32 *w = (const __u32 *)addr;
	void *inner;

	if (family == AF_INET6 && w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff)) {
		/* IPv4-mapped: an IPv4 address. */
		family = AF_INET;
		addr += 12;
	}
	if (family == AF_INET) {
		inner = bpf_map_lookup_elem(&values_cidr4, &id);
		if (!inner)
			return false;
		e->c4.prefixlen = 32;
		__builtin_memcpy(e->c4.addr, addr, 4);
		return bpf_map_lookup_elem(inner, &e->c4) != NULL;
	}
	if (family == AF_INET6) {
		inner = bpf_map_lookup_elem(&values_cidr6, &id);
		if (!inner)
			return false;
		e->c6.prefixlen = 128;
		__builtin_memcpy(e->c6.addr, addr, 16);
		return bpf_map_lookup_elem(inner, &e->c6) != NULL;
	}
	return false;
}

struct range_walk {
	void *inner;
	__u64 v;
	bool is_signed;
	bool found;
};

static long range_step(__u64 i, void *data)
{
	struct range_walk *w = data;
	__u32 k = i;
	struct vigil_policy_range *rg = bpf_map_lookup_elem(w->inner, &k);

	if (!rg)
		return 1;
	if (w->is_signed ? ((__s64)w->v >= (__s64)rg->lo && (__s64)w->v <= (__s64)rg->hi)
			 : (w->v >= rg->lo && w->v <= rg->hi)) {
		w->found = true;
		return 1;
	}
	return 0;
}

static __noinline bool int_in_map(struct vigil_policy_filter *f, __u64 v, bool is_signed)
{
	struct range_walk w = { .v = v, .is_signed = is_signed };
	__u32 n = f->value2;

	if (int_in(f->id, v))
		return true;
	if (!n)
		return false;
	w.inner = bpf_map_lookup_elem(&values_range, &f->id);
	if (!w.inner)
		return false;
	bpf_loop(n < VIGIL_POLICY_MAX_RANGES ? n : VIGIL_POLICY_MAX_RANGES, range_step, &w, 0);
	return w.found;
}

/* One argument filter (matchArgs / matchReturnArgs), without negation. */
static __noinline __u32 filter_arg(struct run *r, struct vigil_policy_filter *f)
{
	struct vigil_policy_arg_value *a;
	struct vigil_policy_sock *sk;
	__u32 slot = f->arg;
	const __u8 *data;
	bool is_signed;
	__u64 v;

	if (slot >= VIGIL_POLICY_SLOTS)
		return V_FALSE;
	if (r->phase == PHASE_PROCESS || (r->phase == PHASE_ENTRY && slot == VIGIL_POLICY_RET_SLOT))
		return V_MAYBE;
	a = &r->s->ev.args[slot];
	/* Read at the exit (an fd returned, a returnCopy buffer): unknown before. */
	if (a->flags & VIGIL_POLICY_ARG_PENDING)
		return r->phase == PHASE_FULL ? V_FALSE : V_MAYBE;
	if (a->flags & (VIGIL_POLICY_ARG_ERROR | VIGIL_POLICY_ARG_NODATA) || a->type == VIGIL_POLICY_ARG_NONE)
		return V_FALSE;
	v = a->value;
	is_signed = a->type == VIGIL_POLICY_ARG_S64;
	data = r->s->data + (a->off & DATA_MASK);

	switch (f->op) {
	case VIGIL_POLICY_OP_EQUAL:
		if (is_stringish(a->type))
			return str_equal(r->e, f->id, data, a->len);
		if (a->type == VIGIL_POLICY_ARG_S64 || a->type == VIGIL_POLICY_ARG_U64 ||
		    a->type == VIGIL_POLICY_ARG_FD)
			return int_in(f->id, v);
		return V_FALSE;
	case VIGIL_POLICY_OP_PREFIX:
		return is_stringish(a->type) && str_prefix(r->e, f->id, data, a->len);
	case VIGIL_POLICY_OP_POSTFIX:
		return is_stringish(a->type) && str_postfix(r->e, f->id, data, a->len);
	case VIGIL_POLICY_OP_GT:
		return is_signed ? (__s64)v > (__s64)f->value : v > f->value;
	case VIGIL_POLICY_OP_LT:
		return is_signed ? (__s64)v < (__s64)f->value : v < f->value;
	case VIGIL_POLICY_OP_MASK:
		return (v & f->value) != 0;
	case VIGIL_POLICY_OP_IN_MAP:
		return int_in_map(f, v, is_signed);
	}
	if (a->type == VIGIL_POLICY_ARG_UNIX)
		return f->op == VIGIL_POLICY_OP_FAMILY && int_in(f->id, AF_UNIX);
	if (a->type != VIGIL_POLICY_ARG_SOCK)
		return V_FALSE;
	sk = (struct vigil_policy_sock *)data;
	switch (f->op) {
	case VIGIL_POLICY_OP_SADDR:
		return addr_in(r->e, f->id, sk->family, sk->saddr);
	case VIGIL_POLICY_OP_DADDR:
		return addr_in(r->e, f->id, sk->family, sk->daddr);
	case VIGIL_POLICY_OP_SPORT:
		return ports_has(f->id, sk->sport);
	case VIGIL_POLICY_OP_DPORT:
		return ports_has(f->id, sk->dport);
	case VIGIL_POLICY_OP_PROTOCOL:
		return int_in(f->id, sk->protocol);
	case VIGIL_POLICY_OP_FAMILY:
		return int_in(f->id, sk->family);
	case VIGIL_POLICY_OP_STATE:
		return int_in(f->id, sk->state);
	}
	return V_FALSE;
}

static __always_inline bool binary_match(struct evalbuf *e, struct vigil_policy_filter *f,
					 struct vigil_policy_proc *p)
{
	__u32 len = p->bin_len;

	if (!len)
		return false;
	switch (f->op) {
	case VIGIL_POLICY_OP_EQUAL:
		return len < VIGIL_POLICY_STR_MAX && str_equal(e, f->id, p->bin, len);
	case VIGIL_POLICY_OP_PREFIX:
		return str_prefix(e, f->id, p->bin, len > VIGIL_POLICY_STR_MAX - 1 ? VIGIL_POLICY_STR_MAX - 1 : len);
	case VIGIL_POLICY_OP_POSTFIX:
		return len < VIGIL_POLICY_STR_MAX && str_postfix(e, f->id, p->bin, len);
	}
	return false;
}

/* followForks / followChildren: the task's ancestors, one a step. */
struct ancestors {
	struct run *r;
	struct vigil_policy_filter *f;
	struct task_struct *task;
	bool found;
};

static __always_inline __u32 task_nspid(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level;
	__u32 nr = 0;

	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	bpf_probe_read_kernel(&nr, sizeof(nr), (void *)pid + bpf_core_field_offset(struct pid, numbers) +
			      (level & 63) * bpf_core_type_size(struct upid) +
			      bpf_core_field_offset(struct upid, nr));
	return nr;
}

static long ancestor_step(__u64 i, void *data)
{
	struct ancestors *w = data;
	struct task_struct *child = w->task;
	struct task_struct *parent = BPF_CORE_READ(child, real_parent);
	__u32 tgid;

	if (!parent || parent == w->task)
		return 1;
	w->task = parent;
	tgid = BPF_CORE_READ(parent, tgid);
	if (tgid <= 1 && w->f->kind == VIGIL_POLICY_F_BINARY)
		return 1;
	if (w->f->kind == VIGIL_POLICY_F_PID) {
		__u64 pid = (w->f->flags & VIGIL_POLICY_NSPID) ? task_nspid(parent) : tgid;

		if (int_in(w->f->id, pid)) {
			w->found = true;
			return 1;
		}
	} else {
		/* Looked up, not built: the walk is already deep in calls. The
		 * engine seeds the table from /proc when it starts. */
		struct vigil_policy_proc *p = bpf_map_lookup_elem(&procs, &tgid);

		if (p && binary_match(w->r->e, w->f, p)) {
			w->found = true;
			return 1;
		}
	}
	return tgid <= 1;
}

static __noinline bool follow(struct run *r, struct vigil_policy_filter *f)
{
	struct ancestors w = { .r = r, .f = f, .task = r->task };

	bpf_loop(VIGIL_POLICY_ANCESTORS, ancestor_step, &w, 0);
	return w.found;
}

/* One process filter, without negation. */
static __noinline __u32 filter_process(struct run *r, struct vigil_policy_filter *f)
{
	struct task_struct *task = r->task;
	struct vigil_policy_proc *p;
	__u32 ns[VIGIL_POLICY_NS_COUNT] = {};
	__u64 caps, change;
	__u32 set = f->arg;

	switch (f->kind) {
	case VIGIL_POLICY_F_BINARY:
		p = proc_of(r->e, r->task);
		if (binary_match(r->e, f, p))
			return V_TRUE;
		return (f->flags & VIGIL_POLICY_FOLLOW) && follow(r, f);
	case VIGIL_POLICY_F_PID: {
		__u64 pid = (f->flags & VIGIL_POLICY_NSPID) ? task_nspid(task) : BPF_CORE_READ(task, tgid);

		if (int_in(f->id, pid))
			return V_TRUE;
		return (f->flags & VIGIL_POLICY_FOLLOW) && follow(r, f);
	}
	case VIGIL_POLICY_F_NS:
		task_ns(r->task, ns);
		return int_in(f->id, ns[f->arg < VIGIL_POLICY_NS_COUNT ? f->arg : 0]);
	case VIGIL_POLICY_F_NS_CHANGE: {
		__u32 changed = 0;

		p = proc_of(r->e, r->task);
		task_ns(r->task, ns);
		for (int i = 0; i < VIGIL_POLICY_NS_COUNT; i++) {
			if (p->ns[i] && p->ns[i] != ns[i])
				changed |= 1u << i;
		}
		return (changed & f->value) != 0;
	}
	case VIGIL_POLICY_F_CAP:
		if ((f->flags & VIGIL_POLICY_NSCAP) &&
		    BPF_CORE_READ(task, real_cred, user_ns, ns.inum) == f->value2)
			return V_FALSE;
		return (task_caps(r->task, set) & f->value) != 0;
	case VIGIL_POLICY_F_CAP_CHANGE:
		if ((f->flags & VIGIL_POLICY_NSCAP) &&
		    BPF_CORE_READ(task, real_cred, user_ns, ns.inum) == f->value2)
			return V_FALSE;
		p = proc_of(r->e, r->task);
		caps = task_caps(r->task, set);
		change = caps ^ p->caps[set < 3 ? set : 0];
		/* In: a listed capability changed. NotIn (NEG): only others did,
		 * so the negation is applied here, not by the caller. */
		if (f->flags & VIGIL_POLICY_NEG)
			return !(change & f->value) && change ? V_TRUE : V_FALSE;
		return (change & f->value) != 0;
	}
	return V_FALSE;
}

static long filter_step(__u64 j, void *data)
{
	struct run *r = data;
	struct vigil_policy_selector *sel = r->sel;
	struct vigil_policy_filter *f;
	__u32 idx, v;

	if (!sel)
		return 1;
	idx = sel->first_filter + j;
	f = bpf_map_lookup_elem(&filters, &idx);
	if (!f) {
		r->verdict = V_FALSE;
		return 1;
	}
	if (f->kind == VIGIL_POLICY_F_ARG) {
		v = filter_arg(r, f);
	} else {
		if (r->phase != PHASE_PROCESS && r->phase != PHASE_FULL)
			return 0;	/* already known true from the process pass */
		/* A hook judged at exit sees the credentials and namespaces the
		 * syscall itself may change (capset, setns, unshare, set*id):
		 * unknown at entry. */
		if (r->phase == PHASE_PROCESS && (r->h->flags & VIGIL_POLICY_HOOK_AT_EXIT) &&
		    f->kind >= VIGIL_POLICY_F_NS && f->kind <= VIGIL_POLICY_F_CAP_CHANGE) {
			r->verdict = V_MAYBE;
			return 0;
		}
		v = filter_process(r, f);
	}
	if (v != V_MAYBE && (f->flags & VIGIL_POLICY_NEG) && f->kind != VIGIL_POLICY_F_CAP_CHANGE)
		v = v ? V_FALSE : V_TRUE;
	if (v == V_FALSE) {
		r->verdict = V_FALSE;
		return 1;
	}
	if (v == V_MAYBE)
		r->verdict = V_MAYBE;
	return 0;
}

static long selector_step(__u64 i, void *data)
{
	struct run *r = data;
	__u32 idx = r->h->first_selector + i, n;

	if (i >= r->h->nselectors)
		return 1;
	r->sel = bpf_map_lookup_elem(&selectors, &idx);
	if (!r->sel)
		return 1;
	n = r->sel->nfilters;
	r->verdict = V_TRUE;
	bpf_loop(n < VIGIL_POLICY_SELECTOR_FILTERS ? n : VIGIL_POLICY_SELECTOR_FILTERS, filter_step, r, 0);
	if (r->verdict != V_FALSE) {
		r->matched = idx;
		return 1;
	}
	return 0;
}

/* The first selector that matches (or may, before PHASE_FULL): its global
 * index, -1 when none, -2 when the hook has no selectors (post all). */
static __always_inline __s32 judge(struct run *r, __u32 phase)
{
	__u32 n = r->h->nselectors;

	if (!n)
		return -2;
	r->phase = phase;
	r->matched = -1;
	bpf_loop(n < VIGIL_POLICY_HOOK_SELECTORS ? n : VIGIL_POLICY_HOOK_SELECTORS, selector_step, r, 0);
	return r->matched;
}

/* --- actions ------------------------------------------------------------------- */

struct rl_fill {
	struct scratch *s;
	struct evalbuf *e;
};

static long rl_step(__u64 i, void *data)
{
	struct rl_fill *w = data;
	struct vigil_policy_arg_value *a;
	__u32 len, off, tail;

	if (i >= VIGIL_POLICY_MAX_ARGS)
		return 1;
	a = &w->s->ev.args[i];
	w->e->rl.values[i] = a->value;
	len = a->len;
	w->e->rl.lens[i] = len;
	off = a->off;
	bpf_probe_read_kernel(w->e->rl.head[i], len < 16 ? len & 15 : 16, w->s->data + (off & DATA_MASK));
	tail = len > 8 ? len - 8 : 0;
	bpf_probe_read_kernel(w->e->rl.tail[i], len < 8 ? len & 7 : 8, w->s->data + ((off + tail) & DATA_MASK));
	return 0;
}

/* true when an identical post in the scope came less than rate_ns ago. */
static __noinline bool rate_limited(struct scratch *s, struct evalbuf *e, __u32 selector,
				    struct vigil_policy_action *a)
{
	struct rl_fill w = { .s = s, .e = e };
	__u64 now = bpf_ktime_get_boot_ns(), *last;

	__builtin_memset(&e->rl, 0, sizeof(e->rl));
	e->rl.hook = s->ev.hook;
	e->rl.selector = selector;
	e->rl.scope = a->scope == VIGIL_POLICY_SCOPE_THREAD ? s->ev.tid :
		      a->scope == VIGIL_POLICY_SCOPE_PROCESS ? s->ev.pid : 0;
	e->rl.values[VIGIL_POLICY_RET_SLOT] = s->ev.args[VIGIL_POLICY_RET_SLOT].value;
	bpf_loop(VIGIL_POLICY_MAX_ARGS, rl_step, &w, 0);
	last = bpf_map_lookup_elem(&ratelimit, &e->rl);
	if (last && now - *last < a->rate_ns)
		return true;
	bpf_map_update_elem(&ratelimit, &e->rl, &now, BPF_ANY);
	return false;
}

static __always_inline void post(struct scratch *s, __u32 policy)
{
	__u64 size = sizeof(s->ev) + s->ev.data_len;

	if (size > sizeof(*s))
		size = sizeof(*s);
	if (vigil_output(&events, 0, s, size))
		count(policy, VIGIL_POLICY_C_LOST);
	else
		count(policy, VIGIL_POLICY_C_POSTED);
}

/* The matching selector's actions (tracing programs: signals and stacks). */
static __always_inline void act(void *ctx, struct run *r, __s32 matched)
{
	struct scratch *s = r->s;
	struct vigil_policy_selector *sel = NULL;
	struct vigil_policy_action *postact = NULL;
	__u32 policy = r->h->policy, n = 0, taken = 0, sig = 0, idx;
	bool nopost = false;

	count(policy, VIGIL_POLICY_C_MATCHED);
	s->ev.selector = 0;
	if (matched >= 0) {
		idx = matched;
		sel = bpf_map_lookup_elem(&selectors, &idx);
		if (!sel)
			return;
		s->ev.selector = sel->index;
		n = sel->nactions;
	}
	for (int i = 0; i < VIGIL_POLICY_MAX_ACTIONS; i++) {
		struct vigil_policy_action *a;

		if (!sel || i >= n)
			break;
		a = &sel->actions[i];
		switch (a->kind) {
		case VIGIL_POLICY_ACT_POST:
			postact = a;
			break;
		case VIGIL_POLICY_ACT_NOPOST:
			nopost = true;
			break;
		case VIGIL_POLICY_ACT_SIGKILL:
			bpf_send_signal(SIGKILL);
			sig = SIGKILL;
			taken |= 1u << VIGIL_POLICY_ACT_SIGKILL;
			count(policy, VIGIL_POLICY_C_ACTIONS + VIGIL_POLICY_ACT_SIGKILL);
			break;
		case VIGIL_POLICY_ACT_SIGNAL:
		case VIGIL_POLICY_ACT_NOTIFY_ENFORCER:
			if (a->signal) {
				bpf_send_signal(a->signal);
				sig = a->signal;
			}
			taken |= 1u << a->kind;
			count(policy, VIGIL_POLICY_C_ACTIONS + (a->kind & 7));
			break;
		case VIGIL_POLICY_ACT_DENY:
			/* Enforced and reported by the cgroup sock_addr programs. */
			return;
		}
	}
	if (nopost) {
		count(policy, VIGIL_POLICY_C_ACTIONS + VIGIL_POLICY_ACT_NOPOST);
		return;
	}
	if (postact && postact->rate_ns && rate_limited(s, r->e, matched, postact)) {
		count(policy, VIGIL_POLICY_C_RATE_LIMITED);
		return;
	}
	count(policy, VIGIL_POLICY_C_ACTIONS + VIGIL_POLICY_ACT_POST);
	s->ev.actions = taken | (1u << VIGIL_POLICY_ACT_POST);
	s->ev.signal = sig;
	s->ev.kernel_stack = -1;
	s->ev.user_stack = -1;
	if (postact && (postact->flags & VIGIL_POLICY_KERNEL_STACK)) {
		/* The task's own kernel stack, walked from here: the context of a
		 * syscall tracepoint (or uprobe) holds user registers, from which
		 * bpf_get_stackid finds no kernel frames. */
		__u32 off = (s->ev.data_len + 7) & ~7u;

		if (off < VIGIL_POLICY_DATA_MAX) {
			long n = bpf_get_task_stack(bpf_get_current_task_btf(), s->data + (off & DATA_MASK),
						    VIGIL_POLICY_STACK_DEPTH * sizeof(__u64), 0);

			if (n > 0) {
				s->ev.kstack_off = off;
				s->ev.kernel_stack = n / sizeof(__u64);
				s->ev.data_len = off + n;
			}
		}
	}
	if (postact && (postact->flags & VIGIL_POLICY_USER_STACK))
		s->ev.user_stack = bpf_get_stackid(ctx, &user_stacks, BPF_F_REUSE_STACKID | BPF_F_USER_STACK);
	post(s, policy);
}

/* --- programs ------------------------------------------------------------------ */

static __always_inline void header(struct run *r, __u32 hook_id)
{
	struct vigil_policy_event *ev = &r->s->ev;
	struct task_struct *task = r->task;
	__u64 id = bpf_get_current_pid_tgid(), ug = bpf_get_current_uid_gid();

	ev->kind = VIGIL_POLICY_EVENT;
	ev->hook = hook_id;
	ev->policy = r->h->policy;
	ev->selector = 0;
	ev->ktime = bpf_ktime_get_boot_ns();
	ev->start_boottime = BPF_CORE_READ(task, group_leader, start_boottime);
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->ret = 0;
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->uid = (__u32)ug;
	ev->gid = ug >> 32;
	ev->kernel_stack = -1;
	ev->user_stack = -1;
	ev->actions = 0;
	ev->signal = 0;
	ev->flags = 0;
	ev->data_len = 0;
	ev->nr = -1;
	ev->nargs = r->h->nargs;
	ev->kstack_off = 0;
	ev->pad = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ev->args[VIGIL_POLICY_RET_SLOT].type = VIGIL_POLICY_ARG_NONE;
	ev->args[VIGIL_POLICY_RET_SLOT].flags = 0;
	ev->args[VIGIL_POLICY_RET_SLOT].value = 0;
}

static __always_inline bool run_init(struct run *r, void *ctx, __u32 hook_id, __u32 source)
{
	__u32 zero = 0;

	r->ctx = ctx;
	r->hook_id = hook_id;
	r->source = source;
	r->h = bpf_map_lookup_elem(&hooks, &hook_id);
	r->s = bpf_map_lookup_elem(&scratch_map, &zero);
	r->e = bpf_map_lookup_elem(&eval_map, &zero);
	r->task = (struct task_struct *)bpf_get_current_task();
	r->sel = NULL;
	return r->h && r->s && r->e && r->h->nargs <= VIGIL_POLICY_MAX_ARGS;
}

static __always_inline void capture(struct run *r)
{
	__u32 n = r->h->nargs;

	bpf_loop(n, raw_step, r, 0);
	bpf_loop(n, capture_step, r, 0);
	for (int i = 0; i < VIGIL_POLICY_MAX_ARGS; i++) {
		if (i >= n)
			r->s->ev.args[i].type = VIGIL_POLICY_ARG_NONE;
	}
}

static __always_inline int entry(void *ctx, __u32 source, __u32 hook_id)
{
	struct run r = {};
	__s32 matched;
	long err;

	if (!run_init(&r, ctx, hook_id, source))
		return 0;
	/* 0. The attachment's own conditions: not this hook's event otherwise. */
	if (!conds_pass(&r, false, 0))
		return 0;
	/* 1. Process filters: a task no selector can match costs no capture. */
	if (judge(&r, PHASE_PROCESS) == -1) {
		count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
		return 0;
	}
	header(&r, hook_id);
	capture(&r);
	if (r.h->flags & VIGIL_POLICY_HOOK_RET_AT_ENTRY) {
		__s64 ret = read_word(ctx, &r.h->ret, 0);

		r.s->ev.ret = ret;
		r.s->ev.flags |= VIGIL_POLICY_EV_RET;
		r.s->ev.args[VIGIL_POLICY_RET_SLOT].type = VIGIL_POLICY_ARG_S64;
		r.s->ev.args[VIGIL_POLICY_RET_SLOT].value = ret;
	}
	if (r.h->flags & VIGIL_POLICY_HOOK_AT_EXIT) {
		struct stash_key key = { .tid = r.s->ev.tid, .hook = hook_id };

		if (judge(&r, PHASE_ENTRY) == -1) {
			count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
			return 0;
		}
		if (source == VIGIL_POLICY_SRC_TRACEPOINT) {
			__s64 id = 0;

			/* The syscall number pairs the entry with its exit. */
			bpf_probe_read_kernel(&id, sizeof(id), ctx + 8);
			r.s->ev.nr = (__s32)id;
		}
		if (r.s->ev.data_len <= STASH_SMALL_DATA)
			err = bpf_map_update_elem(&stash_small, &key, r.s, BPF_ANY);
		else
			err = bpf_map_update_elem(&stash_large, &key, r.s, BPF_ANY);
		if (err) {
			count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
			count(r.h->policy, VIGIL_POLICY_C_LOST);
		}
		return 0;
	}
	count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
	matched = judge(&r, PHASE_FULL);
	if (matched == -1)
		return 0;
	act(ctx, &r, matched);
	return 0;
}

/* The exit of a hook judged at exit: the stashed entry, the return value. */
static __always_inline int leave(void *ctx, __u32 source, __u32 hook_id, __s64 ret, __s32 nr)
{
	struct run r = {};
	struct stash_key key = { .tid = (__u32)bpf_get_current_pid_tgid(), .hook = hook_id };
	struct stash_small *sm;
	struct scratch *lg;
	__s32 matched;

	if (!run_init(&r, ctx, hook_id, source))
		return 0;
	sm = bpf_map_lookup_elem(&stash_small, &key);
	if (sm) {
		bpf_probe_read_kernel(r.s, sizeof(*sm), sm);
		bpf_map_delete_elem(&stash_small, &key);
	} else {
		lg = bpf_map_lookup_elem(&stash_large, &key);
		if (!lg)
			return 0;
		bpf_probe_read_kernel(r.s, sizeof(*lg), lg);
		bpf_map_delete_elem(&stash_large, &key);
	}
	/* A stale entry (its exit was missed) is dropped. */
	if (r.s->ev.nr != nr)
		return 0;
	if (!conds_pass(&r, true, ret))
		return 0;
	/* The arguments read at the exit see the syscall's own result (an fd). */
	r.s->ev.ret = ret;
	bpf_loop(r.h->nargs, exit_capture_step, &r, 0);
	if ((r.h->flags & VIGIL_POLICY_HOOK_RET_ERR) && ret > 0)
		ret = 0;
	r.s->ev.ret = ret;
	r.s->ev.flags |= VIGIL_POLICY_EV_RET;
	r.s->ev.args[VIGIL_POLICY_RET_SLOT].type = VIGIL_POLICY_ARG_S64;
	r.s->ev.args[VIGIL_POLICY_RET_SLOT].flags = 0;
	r.s->ev.args[VIGIL_POLICY_RET_SLOT].value = ret;
	count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
	matched = judge(&r, PHASE_FULL);
	if (matched == -1)
		return 0;
	act(ctx, &r, matched);
	return 0;
}

/* The hooks sharing one tracepoint attachment, one after the other. */
struct dispatch {
	void *ctx;
	__s64 ret;
	__u32 slot;
	__s32 nr;
	bool exit;
};

static long dispatch_step(__u64 i, void *data)
{
	struct dispatch *d = data;
	struct vigil_policy_tp_hooks *l = bpf_map_lookup_elem(&tp_hooks, &d->slot);

	if (!l || i >= l->count || i >= VIGIL_POLICY_TP_HOOKS)
		return 1;
	if (d->exit)
		leave(d->ctx, VIGIL_POLICY_SRC_TRACEPOINT, l->hooks[i & (VIGIL_POLICY_TP_HOOKS - 1)], d->ret, d->nr);
	else
		entry(d->ctx, VIGIL_POLICY_SRC_TRACEPOINT, l->hooks[i & (VIGIL_POLICY_TP_HOOKS - 1)]);
	return 0;
}

SEC("tracepoint")
int policy_tp(void *ctx)
{
	struct dispatch d = { .ctx = ctx, .slot = bpf_get_attach_cookie(ctx) };
	struct vigil_policy_tp_hooks *l = bpf_map_lookup_elem(&tp_hooks, &d.slot);

	if (l && l->count)
		bpf_loop(l->count < VIGIL_POLICY_TP_HOOKS ? l->count : VIGIL_POLICY_TP_HOOKS, dispatch_step, &d, 0);
	return 0;
}

SEC("uprobe")
int policy_uprobe(struct pt_regs *ctx)
{
	return entry(ctx, VIGIL_POLICY_SRC_REGS, bpf_get_attach_cookie(ctx));
}

/* libbpf (1.1) gives raw tracepoints no cookie: one object is loaded per raw
 * tracepoint hook, with the hook's id here. */
const volatile __u32 raw_tp_hook = 0;

SEC("raw_tracepoint")
int policy_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	return entry(ctx, VIGIL_POLICY_SRC_RAW_TP, raw_tp_hook);
}

SEC("tracepoint")
int policy_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct dispatch d = { .ctx = ctx, .slot = bpf_get_attach_cookie(ctx), .exit = true };
	struct vigil_policy_tp_hooks *l = bpf_map_lookup_elem(&tp_hooks, &d.slot);

	if (!l || !l->count)
		return 0;
	d.ret = ctx->ret;
	d.nr = (__s32)ctx->id;
	bpf_loop(l->count < VIGIL_POLICY_TP_HOOKS ? l->count : VIGIL_POLICY_TP_HOOKS, dispatch_step, &d, 0);
	return 0;
}

SEC("uretprobe")
int policy_uretprobe(struct pt_regs *ctx)
{
	return leave(ctx, VIGIL_POLICY_SRC_REGS, bpf_get_attach_cookie(ctx), PT_REGS_RC_CORE(ctx), -1);
}

/* --- Deny: cgroup sock_addr ------------------------------------------------------- */

/* Arguments of a deny hook from the socket address and the socket. */
static long deny_arg_step(__u64 i, void *data)
{
	struct run *r = data;
	struct vigil_policy_arg_value *out;
	struct vigil_policy_sock *o;
	__u16 type;
	long off;

	if (i >= VIGIL_POLICY_MAX_ARGS)
		return 1;
	out = &r->s->ev.args[i];
	type = r->h->args[i].type;
	out->flags = 0;
	out->off = 0;
	out->len = 0;
	out->value = 0;
	if (type != VIGIL_POLICY_ARG_SOCKADDR && type != VIGIL_POLICY_ARG_FD) {
		out->type = type;
		out->flags = VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	out->type = VIGIL_POLICY_ARG_SOCK;
	off = blob_pos(r->s, out);
	if (off < 0)
		return 0;
	o = (struct vigil_policy_sock *)(r->s->data + (off & DATA_MASK));
	*o = type == VIGIL_POLICY_ARG_SOCKADDR ? *r->sa : *r->sk;
	if (type == VIGIL_POLICY_ARG_SOCKADDR)
		out->value = o->family;
	blob_commit(r->s, out, sizeof(*o));
	return 0;
}

struct deny_walk {
	struct run *r;
	__u32 denied;
};

static long deny_hook_step(__u64 i, void *data)
{
	struct deny_walk *w = data;
	struct run *r = w->r;
	struct vigil_policy_deny_set *set;
	struct vigil_policy_selector *sel;
	__u32 zero = 0, hook_id, idx, n;
	__s32 matched;
	bool deny = false, nopost = false;

	set = bpf_map_lookup_elem(&deny_set, &zero);
	if (!set || i >= set->count || i >= VIGIL_POLICY_MAX_DENY)
		return 1;
	if (!(set->kinds[i & (VIGIL_POLICY_MAX_DENY - 1)] & r->deny_kind))
		return 0;
	hook_id = set->hooks[i & (VIGIL_POLICY_MAX_DENY - 1)];
	r->h = bpf_map_lookup_elem(&hooks, &hook_id);
	if (!r->h || r->h->nargs > VIGIL_POLICY_MAX_ARGS)
		return 0;
	r->hook_id = hook_id;
	header(r, hook_id);
	bpf_loop(r->h->nargs, deny_arg_step, r, 0);
	matched = judge(r, PHASE_FULL);
	if (matched < 0)
		return 0;
	idx = matched;
	sel = bpf_map_lookup_elem(&selectors, &idx);
	if (!sel)
		return 0;
	n = sel->nactions;
	for (int k = 0; k < VIGIL_POLICY_MAX_ACTIONS; k++) {
		if (k >= n)
			break;
		if (sel->actions[k].kind == VIGIL_POLICY_ACT_DENY)
			deny = true;
		else if (sel->actions[k].kind == VIGIL_POLICY_ACT_NOPOST)
			nopost = true;
	}
	/* A first matching selector without Deny allows (the tracepoint
	 * hook reports it). */
	if (!deny)
		return 0;
	count(r->h->policy, VIGIL_POLICY_C_EVALUATED);
	count(r->h->policy, VIGIL_POLICY_C_MATCHED);
	count(r->h->policy, VIGIL_POLICY_C_ACTIONS + VIGIL_POLICY_ACT_DENY);
	w->denied = 1;
	if (nopost)
		return 1;
	r->s->ev.selector = sel->index;
	r->s->ev.actions = (1u << VIGIL_POLICY_ACT_DENY) | (1u << VIGIL_POLICY_ACT_POST);
	r->s->ev.flags |= VIGIL_POLICY_EV_DENIED;
	r->s->ev.ret = -1;	/* -EPERM */
	post(r->s, r->h->policy);
	return 1;
}

static __always_inline int deny_run(struct bpf_sock_addr *ctx, __u32 kind, bool v6)
{
	struct bpf_sock *bsk = ctx->sk;
	struct vigil_policy_sock *sa, *sk;
	struct deny_walk w = {};
	struct run r = {};
	__u32 zero = 0, family = ctx->user_family, proto = ctx->protocol, type = ctx->type;
	__u16 port = bpf_ntohs((__u16)ctx->user_port);

	r.s = bpf_map_lookup_elem(&scratch_map, &zero);
	r.e = bpf_map_lookup_elem(&eval_map, &zero);
	if (!r.s || !r.e)
		return 1;
	sa = &r.e->sa;
	sk = &r.e->sk;
	r.ctx = ctx;
	r.task = (struct task_struct *)bpf_get_current_task();
	r.deny_kind = kind;
	r.sa = sa;
	r.sk = sk;
	__builtin_memset(sa, 0, sizeof(*sa));
	__builtin_memset(sk, 0, sizeof(*sk));
	sa->family = family;
	sa->sport = sa->dport = port;
	sk->family = family;
	sk->protocol = proto;
	sk->type = type;
	sk->dport = port;
	if (!v6) {
		__u32 a = ctx->user_ip4;

		*(__u32 *)sa->saddr = a;
		*(__u32 *)sa->daddr = a;
		*(__u32 *)sk->daddr = a;
	} else {
		__u32 a0 = ctx->user_ip6[0], a1 = ctx->user_ip6[1], a2 = ctx->user_ip6[2], a3 = ctx->user_ip6[3];
		__u32 *s6 = (__u32 *)sa->saddr, *d6 = (__u32 *)sa->daddr, *k6 = (__u32 *)sk->daddr;

		s6[0] = d6[0] = k6[0] = a0;
		s6[1] = d6[1] = k6[1] = a1;
		s6[2] = d6[2] = k6[2] = a2;
		s6[3] = d6[3] = k6[3] = a3;
	}
	if (bsk) {
		sk->sport = bsk->src_port;
		if (!v6)
			*(__u32 *)sk->saddr = bsk->src_ip4;
	}
	w.r = &r;
	bpf_loop(VIGIL_POLICY_MAX_DENY, deny_hook_step, &w, 0);
	return w.denied ? 0 : 1;
}

SEC("cgroup/connect4")
int policy_connect4(struct bpf_sock_addr *ctx)
{
	return deny_run(ctx, VIGIL_POLICY_DENY_CONNECT, false);
}

SEC("cgroup/connect6")
int policy_connect6(struct bpf_sock_addr *ctx)
{
	return deny_run(ctx, VIGIL_POLICY_DENY_CONNECT, true);
}

SEC("cgroup/sendmsg4")
int policy_sendmsg4(struct bpf_sock_addr *ctx)
{
	return deny_run(ctx, VIGIL_POLICY_DENY_SENDMSG, false);
}

SEC("cgroup/sendmsg6")
int policy_sendmsg6(struct bpf_sock_addr *ctx)
{
	return deny_run(ctx, VIGIL_POLICY_DENY_SENDMSG, true);
}
