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
const enum vigil_policy_fd_op *unused_vigil_policy_fd_op __attribute__((unused));
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
const enum vigil_policy_counter_slots *unused_vigil_policy_counter_slots __attribute__((unused));
const enum vigil_policy_prefilter_flag *unused_vigil_policy_prefilter_flag __attribute__((unused));
const enum vigil_policy_prefilter_limits *unused_vigil_policy_prefilter_limits __attribute__((unused));
const enum vigil_policy_prefilter_kind *unused_vigil_policy_prefilter_kind __attribute__((unused));
const enum vigil_policy_raw_sys_limits *unused_vigil_policy_raw_sys_limits __attribute__((unused));
const enum vigil_policy_prefilter_cache *unused_vigil_policy_prefilter_cache __attribute__((unused));

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

/* resolve paths: key hook id << 3 | argument slot. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VIGIL_POLICY_MAX_RESOLVE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct vigil_policy_resolve);
} arg_resolve SEC(".maps");

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

/* The components each kernel hook's prefilter allows (see vigil/policy.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VIGIL_POLICY_PF_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_policy_pf_key);
	__type(value, __u8);
} prefilter SEC(".maps");

/* The prefilter's cache (vigil/policy.h: enum vigil_policy_prefilter_cache). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} pf_gen SEC(".maps");

struct pf_cached {
	__u64 dentry;		/* 0: empty */
	__u64 mnt;
	__u64 root_dentry;
	__u64 root_mnt;
	__u64 parent;
	__u64 hash_len;
	__u64 moved;		/* pf_gen's when the verdict was made */
	__u64 config;
	__u32 hook;
	__u32 allows;		/* the verdict: 1 passes to the full judgement, 0 drops */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_POLICY_PF_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct pf_cached);
} pf_cache SEC(".maps");

/* raw_syscalls' raw tracepoints: [0] sys_enter, [1] sys_exit (vigil/policy.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct vigil_policy_raw_sys);
} raw_sys SEC(".maps");

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

/* One hook's selectors and their filters, walked by vg_judge in one flat
 * bpf_loop (a loop per selector inside a loop would cost a call frame; the
 * verifier allows eight). The walk's state is in map memory (evalbuf), not
 * on the stack: kernels before 6.7 verify a bpf_loop callback once, with the
 * values of the first call, and hard-wire the branches those values decide
 * (a state machine on the stack then never leaves its first state); values
 * read from a map are unknown to the verifier. */
struct judge_walk {
	__u32 first_selector;
	__u32 nselectors;
	__u32 hook_flags;
	__u32 phase;
	__u32 sel;		/* position of the selector being judged */
	__u32 loaded;		/* its filters are known: */
	__u32 first_filter;
	__u32 nfilters;
	__u32 filter;		/* position of the next filter */
	__u32 verdict;
	__s32 matched;		/* global index of the matching selector */
};

/* The judgement in progress, for the global functions (which take only
 * scalars and find everything else here). */
struct run_state {
	__u64 ctx;		/* the program's context, as an address (read with bpf_probe_read_kernel) */
	__u32 hook_id;
	__u32 source;		/* enum vigil_policy_source */
	__u32 deny_kind;	/* cgroup programs: enum vigil_policy_deny_kind */
	__u32 walk_flags;	/* vg_walk's TRUNC/ERROR bits */
	__s64 ret;		/* fexit: the function's return value, known at once */
	__s64 override;		/* a matching selector's Override error (64-bit: an LSM program returns it) */
	__u32 has_override;
	__u32 pad;
};

/* Everything else one judgement needs, in map memory (see vigil/path.h on
 * why loop state lives in maps). */
struct evalbuf {
	struct run_state st;
	struct judge_walk jw;
	__u64 raw[VIGIL_POLICY_MAX_ARGS];	/* argument words as read */
	__u32 resolve_failed;			/* vg_resolve's result for the argument being captured */
	__u8 str[VIGIL_POLICY_STR_MAX];		/* Equal key */
	struct vigil_policy_str_key lpm;	/* Prefix/Postfix key */
	struct vigil_policy_pf_key pf;		/* prefilter key */
	struct vigil_policy_cidr4_key c4;
	struct vigil_policy_cidr6_key c6;
	struct ratelimit_key rl;
	struct vigil_policy_proc proc;		/* a process entry being built */
	struct vigil_policy_sock sa;		/* cgroup programs: the address */
	struct vigil_policy_sock sk;		/* ... and the socket */
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
		c->c[which & (VIGIL_POLICY_COUNTER_SLOTS - 1)] += 1;
}

/* The current task's file at fd. Its task, files and fd table are read
 * through BTF (plain loads the kernel guards, no helper call each). */
static __always_inline struct file *fd_file(long fd)
{
	struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;
	struct file *f = NULL;

	if (fd < 0 || !fdt || (unsigned long)fd >= fdt->max_fds)
		return NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]))
		return NULL;
	return f;
}

/* The current task's root (chroot), read through BTF. */
static __always_inline void current_root(struct path *root)
{
	struct fs_struct *fs = bpf_get_current_task_btf()->fs;

	root->dentry = fs->root.dentry;
	root->mnt = fs->root.mnt;
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

/* --- per-CPU state and the path walk --------------------------------------------- */

static __always_inline struct evalbuf *evalbuf(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&eval_map, &zero);
}

static __always_inline struct scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch_map, &zero);
}

/* What vg_walk walks. */
enum walk_kind {
	WALK_FILE = 0,		/* a struct file's f_path */
	WALK_PATH = 1,		/* a struct path */
	WALK_CWD = 2,		/* the task's working directory */
};

/* A path, root first, ending at e->work[DIR_END - 1]: returns its length, and
 * the walk's VIGIL_POLICY_ARG_TRUNC/ERROR bits in e->st.walk_flags. The path
 * is d_path's: through mounts, up to the task's root.
 *
 * Global (not static): the verifier checks it once, whatever the number of
 * places that walk a path. */
__noinline int vg_walk(__u64 ptr, __u32 kind)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct evalbuf *e = evalbuf();
	struct path root, fpath;
	__u32 flags = 0, len;

	if (!e)
		return 0;
	vigil_task_root_pwd(task, &root, kind == WALK_CWD ? &fpath : NULL);
	if (kind == WALK_FILE)
		BPF_CORE_READ_INTO(&fpath, (struct file *)ptr, f_path);
	else if (kind == WALK_PATH)
		bpf_probe_read_kernel(&fpath, sizeof(fpath), (void *)ptr);
	len = vigil_path_root_first(e->work, WORK_MASK, DIR_END, VIGIL_POLICY_ARG_MAX - 1, &fpath, &root,
				    &flags, VIGIL_POLICY_ARG_TRUNC, VIGIL_POLICY_ARG_ERROR);
	e->st.walk_flags = flags;
	return len;
}

/* The current task's process entry built in e->proc (binary from mm->exe_file). */
__noinline int vg_proc_build(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct evalbuf *e = evalbuf();
	struct vigil_policy_proc *p;
	struct task_struct *leader;
	struct file *exe;
	__u32 len, n;

	if (!e)
		return 0;
	p = &e->proc;
	leader = BPF_CORE_READ(task, group_leader);
	exe = BPF_CORE_READ(task, mm, exe_file);
	__builtin_memset(p, 0, sizeof(*p));
	p->start_boottime = BPF_CORE_READ(leader, start_boottime);
	p->ppid = BPF_CORE_READ(task, real_parent, tgid);
	task_ns(task, p->ns);
	p->caps[VIGIL_POLICY_CAP_EFFECTIVE] = task_caps(task, VIGIL_POLICY_CAP_EFFECTIVE);
	p->caps[VIGIL_POLICY_CAP_PERMITTED] = task_caps(task, VIGIL_POLICY_CAP_PERMITTED);
	p->caps[VIGIL_POLICY_CAP_INHERITABLE] = task_caps(task, VIGIL_POLICY_CAP_INHERITABLE);
	if (!exe)
		return 0;
	len = vg_walk((__u64)exe, WALK_FILE);
	if (e->st.walk_flags & VIGIL_POLICY_ARG_ERROR)
		return 0;
	if (len > VIGIL_POLICY_ARG_MAX - 1)
		return 0;
	n = len;
	if (n > VIGIL_POLICY_STR_MAX - 1) {
		n = VIGIL_POLICY_STR_MAX - 1;
		p->bin_len = VIGIL_POLICY_STR_MAX;
	} else {
		p->bin_len = n;
	}
	barrier_var(n);
	bpf_probe_read_kernel(p->bin, n & STR_MASK, e->work + ((DIR_END - len) & WORK_MASK));
	return 0;
}

/* The current task's entry in the process table, made on first use. */
static __always_inline struct vigil_policy_proc *proc_of(struct evalbuf *e, struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct vigil_policy_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (p)
		return p;
	vg_proc_build();
	bpf_map_update_elem(&procs, &tgid, &e->proc, BPF_NOEXIST);
	p = bpf_map_lookup_elem(&procs, &tgid);
	return p ? p : &e->proc;
}

SEC("tracepoint/sched/sched_process_exec")
int policy_proc_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, zero = 0;
	struct evalbuf *e = bpf_map_lookup_elem(&eval_map, &zero);

	if (!e)
		return 0;
	vg_proc_build();
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

/*
 * One judgement in progress: pointers the verifier knows, rebuilt from the
 * per-CPU state (e->st) on the stack of each global function, and handed to
 * its bpf_loop callbacks.
 *
 * Headroom by design: every function below that is not static is a global
 * BPF function. The verifier checks a global function once, on its own, with
 * its arguments unknown, instead of once per call site and per path that
 * reaches it; they take only scalars (a pointer is not allowed as a scalar
 * argument) and find their state in the per-CPU maps. A program's verified
 * instructions are then the sum of its functions', not their product: the
 * headroom test (test/headroom.test.ts) holds every program under 200,000.
 */
struct run {
	void *ctx;
	struct scratch *s;
	struct evalbuf *e;
	struct vigil_policy_hook *h;
	struct task_struct *task;
	__u32 source;
	__u32 hook_id;
};

static __always_inline bool run_load(struct run *r)
{
	r->e = evalbuf();
	r->s = scratch();
	if (!r->e || !r->s)
		return false;
	r->ctx = (void *)r->e->st.ctx;
	r->hook_id = r->e->st.hook_id;
	r->source = r->e->st.source;
	r->task = (struct task_struct *)bpf_get_current_task();
	r->h = bpf_map_lookup_elem(&hooks, &r->hook_id);
	return r->h && r->h->nargs <= VIGIL_POLICY_MAX_ARGS;
}

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
	case VIGIL_POLICY_LOC_TASK:
		return bpf_get_current_task();
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
	if (a->resolve)
		/* An address to follow (vg_resolve). */
		return read_at(ctx, a->loc, a->offset, 8, false, ret, a->value);
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

/* The hook's conditions on its own record: false when one fails. Those on
 * the return value are checked at the exit (at_exit). */
struct cond_walk {
	struct run *r;
	__s64 ret;
	bool at_exit;
	bool pass;
};

static __always_inline bool fd_is_socket(long fd, __u64 families, __u16 protocol)
{
	struct file *f = fd_file(fd);
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
		ok = fd_is_socket((__s32)v, c->families, c->protocol);
	} else if (c->test == VIGIL_POLICY_COND_FD_OP) {
		struct file *f = fd_file((__s32)v);
		const struct file_operations *fop = f ? BPF_CORE_READ(f, f_op) : NULL;
		__u64 fn = 0;

		if (fop && c->protocol == VIGIL_POLICY_FD_OP_WRITE_ITER)
			fn = (__u64)BPF_CORE_READ(fop, write_iter);
		else if (fop)
			fn = (__u64)BPF_CORE_READ(fop, unlocked_ioctl);
		ok = fn && fn == c->value;
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

/* 1 when the current hook's conditions pass (those on the return value at
 * the exit only). */
__noinline int vg_conds(__u32 at_exit, __s64 ret)
{
	struct run r = {};
	struct cond_walk w = { .r = &r, .ret = ret, .at_exit = at_exit, .pass = true };
	__u32 n;

	if (!run_load(&r))
		return 0;
	n = r.h->nconds;
	if (!n)
		return 1;
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

static __always_inline int capture_fd(struct run *r, struct vigil_policy_arg_value *out, long fd)
{
	struct file *f = fd_file(fd);
	struct inode *inode;
	__u32 len, mode;
	long off;

	if (!f) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	inode = BPF_CORE_READ(f, f_inode);
	mode = BPF_CORE_READ(inode, i_mode);
	if ((mode & S_IFMT) == S_IFSOCK) {
		struct socket *sock = BPF_CORE_READ(f, private_data);
		struct sock *sk = BPF_CORE_READ(sock, sk);

		out->type = VIGIL_POLICY_ARG_SOCK;
		off = blob_pos(r->s, out);
		if (off < 0 || !sk)
			return 0;
		sock_fill((struct vigil_policy_sock *)(r->s->data + (off & DATA_MASK)), sk);
		blob_commit(r->s, out, sizeof(struct vigil_policy_sock));
		return 0;
	}
	out->type = VIGIL_POLICY_ARG_FILE;
	out->value = (__u64)BPF_CORE_READ(f, f_flags) | ((__u64)mode << 32);
	len = vg_walk((__u64)f, WALK_FILE);
	out->flags |= r->e->st.walk_flags;
	put_work_path(r, out, DIR_END, len);
	return 0;
}

/* A user name made absolute against dirfd (AT_FDCWD: the cwd), as file.bpf.c. */
static __always_inline int capture_path_at(struct run *r, struct vigil_policy_arg_value *out,
				       const char *name, long dfd)
{
	struct evalbuf *e = r->e;
	struct file *f = NULL;
	__u32 flags = 0, dlen, ulen, sep, total, start;
	long n, off;

	off = blob_pos(r->s, out);
	if (off < 0)
		return 0;
	n = bpf_probe_read_user_str(r->s->data + (off & DATA_MASK), VIGIL_POLICY_ARG_MAX, name);
	if (n <= 0) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	ulen = n - 1;
	if (ulen && r->s->data[off & DATA_MASK] == '/') {
		/* Absolute already: made canonical in place ("..", ".", "//"). */
		ulen = vigil_path_normalize(r->s->data, DATA_MASK, off, ulen, &flags, VIGIL_POLICY_ARG_ERROR);
		out->flags |= flags;
		blob_commit(r->s, out, ulen);
		return 0;
	}
	if (dfd != AT_FDCWD) {
		f = fd_file(dfd);
		if (!f) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			blob_commit(r->s, out, ulen);
			return 0;
		}
	}
	dlen = vg_walk((__u64)f, f ? WALK_FILE : WALK_CWD);
	out->flags |= e->st.walk_flags;
	if (dlen > VIGIL_POLICY_ARG_MAX - 1)
		dlen = VIGIL_POLICY_ARG_MAX - 1;
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
	/* The directory is the kernel's own path; the name may hold "..", "."
	 * and "//": made canonical in place. */
	if (!(out->flags & VIGIL_POLICY_ARG_TRUNC) && total && r->s->data[off & DATA_MASK] == '/') {
		total = vigil_path_normalize(r->s->data, DATA_MASK, off, total & ARG_MASK, &flags,
					     VIGIL_POLICY_ARG_ERROR);
		out->flags |= flags;
	}
	blob_commit(r->s, out, total);
	return 0;
}

static __always_inline int capture_sockaddr(struct run *r, struct vigil_policy_arg_value *out, const void *uaddr)
{
	struct vigil_policy_sock *o;
	__u16 family = 0;
	long off;

	if (bpf_probe_read_user(&family, sizeof(family), uaddr)) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	out->value = family;
	off = blob_pos(r->s, out);
	if (off < 0)
		return 0;
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
		return 0;
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
	return 0;
}

static __always_inline int capture_cred(struct run *r, struct vigil_policy_arg_value *out)
{
	struct task_struct *task = r->task;
	const struct cred *cred = BPF_CORE_READ(task, real_cred);
	struct vigil_policy_cred *c;
	long off = blob_pos(r->s, out);

	if (off < 0)
		return 0;
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
	return 0;
}

static __always_inline int capture_kfile(struct run *r, struct vigil_policy_arg_value *out, struct file *f);

static __always_inline int capture_exe(struct run *r, struct vigil_policy_arg_value *out)
{
	struct task_struct *task = r->task;

	capture_kfile(r, out, BPF_CORE_READ(task, mm, exe_file));
	return 0;
}

/* A UAPI struct at a user address (bpf_attr, perf_event_attr), and the user
 * string one of its fields points to (perf_event's kprobe function). */
static __always_inline int capture_user_struct(struct run *r, struct vigil_policy_arg_value *out,
					   struct vigil_policy_arg *a, __u64 addr)
{
	__u32 size = a->size;
	__u64 str = 0;
	long off = blob_pos(r->s, out);
	long n;

	if (off < 0)
		return 0;
	if (size > 255)
		size = 255;
	barrier_var(size);
	if (bpf_probe_read_user(r->s->data + (off & DATA_MASK), size & 255, (void *)addr)) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	out->value = size;
	if (a->value && a->value + 8 <= size &&
	    !bpf_probe_read_kernel(&str, sizeof(str), r->s->data + ((off + a->value) & DATA_MASK)) && str) {
		n = bpf_probe_read_user_str(r->s->data + ((off + size) & DATA_MASK), 256, (void *)str);
		if (n > 1) {
			blob_commit(r->s, out, size + n - 1);
			return 0;
		}
	}
	blob_commit(r->s, out, size);
	return 0;
}

/* A struct file's path (and flags) into the blob. */
static __always_inline int capture_kfile(struct run *r, struct vigil_policy_arg_value *out, struct file *f)
{
	__u32 len;

	out->type = VIGIL_POLICY_ARG_FILE;
	if (!f) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	out->value = (__u64)BPF_CORE_READ(f, f_flags) | ((__u64)BPF_CORE_READ(f, f_inode, i_mode) << 32);
	len = vg_walk((__u64)f, WALK_FILE);
	out->flags |= r->e->st.walk_flags;
	put_work_path(r, out, DIR_END, len);
	return 0;
}

static __always_inline int capture_ksock(struct run *r, struct vigil_policy_arg_value *out, struct sock *sk)
{
	long off;

	out->type = VIGIL_POLICY_ARG_SOCK;
	if (!sk) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	off = blob_pos(r->s, out);
	if (off < 0)
		return 0;
	sock_fill((struct vigil_policy_sock *)(r->s->data + (off & DATA_MASK)), sk);
	blob_commit(r->s, out, sizeof(struct vigil_policy_sock));
	return 0;
}

/* An skb's addresses and ports from its network and transport headers. */
static __always_inline int capture_kskb(struct run *r, struct vigil_policy_arg_value *out, struct sk_buff *skb)
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
		return 0;
	}
	off = blob_pos(r->s, out);
	if (off < 0)
		return 0;
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
	return 0;
}

static __always_inline int capture_kcred(struct run *r, struct vigil_policy_arg_value *out, const struct cred *cred)
{
	struct vigil_policy_cred *c;
	kernel_cap_t k = {};
	long off;

	out->type = VIGIL_POLICY_ARG_CRED;
	if (!cred) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	off = blob_pos(r->s, out);
	if (off < 0)
		return 0;
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
	return 0;
}

static __always_inline int capture_kuserns(struct run *r, struct vigil_policy_arg_value *out, struct user_namespace *ns)
{
	struct vigil_policy_user_ns *u;
	long off;

	if (!ns) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	off = blob_pos(r->s, out);
	if (off < 0)
		return 0;
	u = (struct vigil_policy_user_ns *)(r->s->data + (off & DATA_MASK));
	u->level = BPF_CORE_READ(ns, level);
	u->uid = BPF_CORE_READ(ns, owner.val);
	u->gid = BPF_CORE_READ(ns, group.val);
	u->inum = BPF_CORE_READ(ns, ns.inum);
	blob_commit(r->s, out, sizeof(*u));
	return 0;
}

/* A kernel BPF object as union bpf_attr's BPF_PROG_LOAD / BPF_MAP_CREATE
 * fields (72 bytes): prog_type, insn_cnt, prog_name at 48; map_type,
 * key_size, value_size, max_entries, map_name at 28. */
#define KBPF_SIZE 72

static __always_inline int capture_kbpf(struct run *r, struct vigil_policy_arg_value *out, __u16 type, __u64 ptr)
{
	__u8 *d;
	long off;

	out->type = VIGIL_POLICY_ARG_USER_STRUCT;
	out->value = KBPF_SIZE;
	if (!ptr) {
		out->flags |= VIGIL_POLICY_ARG_ERROR;
		return 0;
	}
	off = blob_pos(r->s, out);
	if (off < 0)
		return 0;
	d = r->s->data + (off & DATA_MASK);
	__builtin_memset(d, 0, KBPF_SIZE);
	if (type == VIGIL_POLICY_ARG_KBPF_ATTR) {
		bpf_probe_read_kernel(d, KBPF_SIZE, (void *)ptr);
	} else if (type == VIGIL_POLICY_ARG_KBPF_MAP) {
		struct bpf_map *m = (struct bpf_map *)ptr;

		*(__u32 *)(d + 0) = BPF_CORE_READ(m, map_type);
		*(__u32 *)(d + 4) = BPF_CORE_READ(m, key_size);
		*(__u32 *)(d + 8) = BPF_CORE_READ(m, value_size);
		*(__u32 *)(d + 12) = BPF_CORE_READ(m, max_entries);
		bpf_core_read(d + 28, 16, &m->name);
	} else {
		struct bpf_prog *p = (struct bpf_prog *)ptr;
		struct bpf_prog_aux *aux = BPF_CORE_READ(p, aux);

		*(__u32 *)(d + 0) = BPF_CORE_READ(p, type);
		*(__u32 *)(d + 4) = BPF_CORE_READ(p, len);
		if (aux)
			bpf_core_read(d + 48, 16, &aux->name);
	}
	blob_commit(r->s, out, KBPF_SIZE);
	return 0;
}

/* One argument's value and data from its word. At the entry of a hook judged
 * at exit, arguments read at the exit (the return value, returnCopy buffers)
 * are only marked PENDING; `exit` completes them. */
static __always_inline int capture_one(struct run *r, __u32 i, __u64 raw, bool exit)
{
	struct vigil_policy_arg *a;
	struct vigil_policy_arg_value *out;
	long off, n;
	__u32 size;

	if (i >= VIGIL_POLICY_MAX_ARGS)
		return 0;
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
		if ((r->h->flags & VIGIL_POLICY_HOOK_AT_EXIT) &&
		    (a->loc == VIGIL_POLICY_LOC_RET ||
		     (a->type == VIGIL_POLICY_ARG_CHAR_BUF && a->size_loc == VIGIL_POLICY_LOC_RET) ||
		     a->type == VIGIL_POLICY_ARG_CRED || a->type == VIGIL_POLICY_ARG_CURRENT_EXE ||
		     a->type == VIGIL_POLICY_ARG_CURRENT_CWD)) {
			out->flags = VIGIL_POLICY_ARG_PENDING;
			return 0;
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
		/* A kernel function's char * may be a user one (__user). */
		if (n <= 0 && a->type == VIGIL_POLICY_ARG_KSTRING)
			n = bpf_probe_read_user_str(r->s->data + (off & DATA_MASK), VIGIL_POLICY_ARG_MAX,
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

		if (a->size_loc == VIGIL_POLICY_LOC_RET && exit) {
			/* At the exit: raw is the return value, the address was kept. */
			addr = out->value;
			want = (__s64)raw > 0 ? raw : 0;
		} else if (a->size_loc == VIGIL_POLICY_LOC_RET) {
			/* fexit: the return value is known at once. */
			want = r->e->st.ret > 0 ? r->e->st.ret : 0;
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
	case VIGIL_POLICY_ARG_CURRENT_CWD: {
		/* The struct path inside the task's fs_struct (set_fs_pwd's). */
		struct task_struct *task = r->task;
		struct fs_struct *fs = BPF_CORE_READ(task, fs);

		raw = fs ? (__u64)fs + bpf_core_field_offset(struct fs_struct, pwd) : 0;
		out->value = 0;
		out->type = VIGIL_POLICY_ARG_FILE;
		if (!raw) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			break;
		}
		size = vg_walk(raw, WALK_PATH);
		out->flags |= r->e->st.walk_flags;
		put_work_path(r, out, DIR_END, size);
		break;
	}
	case VIGIL_POLICY_ARG_USER_CAPS: {
		/* Version 1 headers carry one 32-bit set; versions 2 and 3 two. */
		__u64 hdr = read_at(r->ctx, a->size_loc, a->size_at, 8, false, 0, 0);
		__u32 off = (__u32)a->value & 15, ver = 0, lo = 0, hi = 0;

		out->type = VIGIL_POLICY_ARG_U64;
		out->value = 0;
		if (bpf_probe_read_user(&ver, sizeof(ver), (void *)hdr) ||
		    bpf_probe_read_user(&lo, sizeof(lo), (void *)raw + off)) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			break;
		}
		if (ver != 0x19980330 &&
		    bpf_probe_read_user(&hi, sizeof(hi), (void *)raw + 12 + off)) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			break;
		}
		out->value = lo | (__u64)hi << 32;
		break;
	}
	case VIGIL_POLICY_ARG_KPATH:
		out->value = 0;
		out->type = VIGIL_POLICY_ARG_FILE;
		if (!raw) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			break;
		}
		size = vg_walk(raw, WALK_PATH);
		out->flags |= r->e->st.walk_flags;
		put_work_path(r, out, DIR_END, size);
		break;
	case VIGIL_POLICY_ARG_KKIOCB: {
		struct kiocb *iocb = (struct kiocb *)raw;

		out->value = 0;
		capture_kfile(r, out, iocb ? BPF_CORE_READ(iocb, ki_filp) : NULL);
		break;
	}
	case VIGIL_POLICY_ARG_KBPF_ATTR:
	case VIGIL_POLICY_ARG_KBPF_MAP:
	case VIGIL_POLICY_ARG_KBPF_PROG:
		capture_kbpf(r, out, a->type, raw);
		break;
	case VIGIL_POLICY_ARG_KFILENAME: {
		struct filename *fname = (struct filename *)raw;
		const char *name = fname ? BPF_CORE_READ(fname, name) : NULL;

		out->type = VIGIL_POLICY_ARG_KSTRING;
		out->value = 0;
		off = blob_pos(r->s, out);
		if (off < 0)
			break;
		n = bpf_probe_read_kernel_str(r->s->data + (off & DATA_MASK), VIGIL_POLICY_ARG_MAX, name);
		if (n <= 0) {
			out->flags |= VIGIL_POLICY_ARG_ERROR;
			break;
		}
		if (n == VIGIL_POLICY_ARG_MAX)
			out->flags |= VIGIL_POLICY_ARG_TRUNC;
		blob_commit(r->s, out, n - 1);
		break;
	}
	default:
		out->type = VIGIL_POLICY_ARG_NONE;
		break;
	}
	return 0;
}

/* A read of `size` bytes (at most 8) of kernel memory, or of user memory. A
 * kernel function's pointer may be a __user one: kernel reads fall back to
 * user memory. */
static __always_inline long resolve_read(void *dst, __u32 size, __u64 addr, bool user)
{
	long err;

	if (user)
		return bpf_probe_read_user(dst, size & 15, (void *)addr);
	err = bpf_probe_read_kernel(dst, size & 15, (void *)addr);
	if (err)
		err = bpf_probe_read_user(dst, size & 15, (void *)addr);
	return err;
}

struct resolve_walk {
	struct vigil_policy_resolve *p;
	__u64 v;
	bool failed;
};

static long resolve_step(__u64 k, void *data)
{
	struct resolve_walk *w = data;
	struct vigil_policy_resolve_step *st;
	__u64 next = 0;

	if (k >= VIGIL_POLICY_RESOLVE_STEPS)
		return 1;
	st = &w->p->steps[k & (VIGIL_POLICY_RESOLVE_STEPS - 1)];
	w->v += st->offset;
	if (!st->deref)
		return 0;
	if (resolve_read(&next, 8, w->v, w->p->user) || !next) {
		w->failed = true;
		return 1;
	}
	w->v = next;
	return 0;
}

/* Follows argument i's resolve path from its word (e->raw[i]) and leaves the
 * member's value or address there: 0, or 1 when a read failed. A global
 * function whose steps are one bpf_loop: verified once, whatever the number
 * of steps, arguments and hooks. */
__noinline int vg_resolve(__u32 i)
{
	struct resolve_walk w = {};
	struct vigil_policy_arg *a;
	struct run r = {};
	__u32 key, n;
	__u64 v;

	if (!run_load(&r) || i >= VIGIL_POLICY_MAX_ARGS)
		return 1;
	barrier_var(i);
	i &= 7;
	key = r.hook_id << 3 | i;
	w.v = r.e->raw[i];
	/* Until it succeeds, no value (capture_one reads 0, the argument is marked ARG_ERROR). */
	r.e->raw[i] = 0;
	w.p = bpf_map_lookup_elem(&arg_resolve, &key);
	if (!w.p)
		return 1;
	n = w.p->nsteps;
	if (n > VIGIL_POLICY_RESOLVE_STEPS)
		n = VIGIL_POLICY_RESOLVE_STEPS;
	bpf_loop(n, resolve_step, &w, 0);
	if (w.failed)
		return 1;
	v = w.v;
	if (w.p->load) {
		__u32 bits = w.p->bits & 63;

		v = 0;
		if (resolve_read(&v, w.p->load, w.v, w.p->user))
			return 1;
		v >>= w.p->shift & 63;
		if (bits) {
			v &= (1ULL << bits) - 1;
			if (w.p->is_signed && ((v >> (bits - 1)) & 1))
				v |= ~0ULL << bits;
		}
		/* The declared integer type's width, as for any argument. */
		a = &r.h->args[i];
		if (a->type == VIGIL_POLICY_ARG_S64 || a->type == VIGIL_POLICY_ARG_U64)
			v = extend(v, a->size, a->flags & VIGIL_POLICY_ARG_SIGNED);
	} else if (!v) {
		return 1;
	}
	r.e->raw[i] = v;
	return 0;
}

/* One argument captured (exit: completed from the return value). */
__noinline int vg_capture(__u32 i, __u32 exit)
{
	struct run r = {};
	__u64 raw;

	if (!run_load(&r) || i >= VIGIL_POLICY_MAX_ARGS)
		return 0;
	/* The compiler may bound a copy and index with the original. */
	barrier_var(i);
	i &= 7;
	if (exit) {
		if (!(r.s->ev.args[i].flags & VIGIL_POLICY_ARG_PENDING))
			return 0;
		raw = r.s->ev.ret;
	} else {
		raw = read_word(r.ctx, &r.h->args[i], r.e->st.ret);
		r.e->raw[i] = raw;
		r.e->resolve_failed = 0;
		/* Kept in map memory, not on the stack: a flag live across the
		 * capture below would make the verifier walk it once per value. */
		if (r.h->args[i].resolve) {
			r.e->resolve_failed = vg_resolve(i);
			raw = r.e->raw[i];
		}
	}
	/* Inlined, one call site: a static function's unused result may be
	 * compiled away, leaving whatever was in R0 (the verifier refuses a
	 * stack pointer there). */
	capture_one(&r, i, raw, exit);
	if (!exit && r.e->resolve_failed)
		r.s->ev.args[i].flags |= VIGIL_POLICY_ARG_ERROR;
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

/* Postfix: the last bytes reversed, looked up as a prefix. Reversed eight
 * bytes a step (bswap of a word read from the end): a word that starts
 * before the string only fills bytes past the key's length, which the
 * trie does not compare. */
static __always_inline bool str_postfix(struct evalbuf *e, __u32 id, const __u8 *src, __u32 len)
{
	void *inner = bpf_map_lookup_elem(&values_prefix, &id);
	__u32 n = len < VIGIL_POLICY_STR_MAX ? len : VIGIL_POLICY_STR_MAX;
	__u64 w;

	if (!inner)
		return false;
	e->lpm.prefixlen = n * 8;
	for (__u32 k = 0; k < VIGIL_POLICY_STR_MAX / 8; k++) {
		if (8 * k >= n)
			break;
		w = 0;
		bpf_probe_read_kernel(&w, sizeof(w), src + (long)len - 8 * (long)(k + 1));
		*(__u64 *)(e->lpm.data + 8 * k) = __builtin_bswap64(w);
	}
	return bpf_map_lookup_elem(inner, &e->lpm) != NULL;
}

/* --- the prefilter (vigil/policy.h: enum vigil_policy_prefilter_flag) ------------ */

/* 1 when kind + text is a key for the current hook: lead (a byte before the
 * name: the top's '/'; 0: none), len bytes at src, then '/' when the name
 * fit whole (and src is not 0: the root's key is "/" alone). Global: its
 * index arithmetic is verified on its own (inlined in the prefilter, the
 * 6.1 verifier lost the bounds of a spilled index). */
__noinline int vg_pf_allows(__u32 kind, __u32 lead, __u64 src, __u32 len)
{
	struct evalbuf *e = evalbuf();
	struct vigil_policy_pf_key *k;
	__u32 n = len, at = 0;

	if (!e)
		return 1;
	k = &e->pf;
	__builtin_memset(k, 0, sizeof(*k));
	k->hook = e->st.hook_id;
	k->kind = kind;
	if (lead)
		k->text[at++] = lead;
	if (n > VIGIL_POLICY_PF_NAME_MAX)
		n = VIGIL_POLICY_PF_NAME_MAX;
	barrier_var(n);
	n &= 2 * VIGIL_POLICY_PF_NAME_MAX - 1;
	if (n && bpf_probe_read_kernel(k->text + at, n, (const void *)src))
		return 1;	/* unreadable: the full judgement decides */
	at += n;
	/* A name cut to the key's size has no terminator: it then allows
	 * only by entries shorter than the cut (prefixes of the first component). */
	if (src && len == n && at < sizeof(k->text))
		k->text[at++] = '/';
	k->prefixlen = (sizeof(k->hook) + sizeof(k->kind) + at) * 8;
	return bpf_map_lookup_elem(&prefilter, k) != NULL;
}

/* The cache slot of a file for a hook, and the generations to compare;
 * NULL when the cache is off. */
static __always_inline struct pf_cached *pf_cache_slot(__u64 dentry, __u32 hook, __u64 *moved, __u64 *config)
{
	__u32 k = VIGIL_POLICY_PF_GEN_MOVED;
	__u64 *g;
	__u32 idx;

	g = bpf_map_lookup_elem(&pf_gen, &k);
	if (!g)
		return NULL;
	*moved = *(volatile __u64 *)g;
	k = VIGIL_POLICY_PF_GEN_CONFIG;
	g = bpf_map_lookup_elem(&pf_gen, &k);
	if (!g || !*g)
		return NULL;
	*config = *g;
	idx = ((dentry ^ ((__u64)hook << 48)) * 0x9E3779B97F4A7C15ULL) >> (64 - VIGIL_POLICY_PF_CACHE_BITS);
	return bpf_map_lookup_elem(&pf_cache, &idx);
}

/* The prefilter's verdict on the file at fpath (a dentry head dh) for the
 * current hook: 1 allows (or unsure), 0 drops; *sure tells whether the
 * verdict may be cached (it holds while the file's name and place do). */
static __always_inline int pf_judge(struct run *r, __u32 pf, const struct path *fpath, const struct path *root,
				    const struct __vigil_dentry_head *dh, bool *sure)
{
	struct __vigil_path_measured m;
	__u32 flags = 0;

	*sure = false;
	if (pf & VIGIL_POLICY_PF_LEAF) {
		if (vg_pf_allows(VIGIL_POLICY_PF_KIND_LEAF, 0, (__u64)dh->name, dh->len)) {
			*sure = true;
			return 1;
		}
	}
	if (pf & VIGIL_POLICY_PF_TOP) {
		vigil_path_measure(r->e->work, WORK_MASK, fpath, root, VIGIL_POLICY_ARG_MAX - 1, &m, &flags,
				   VIGIL_POLICY_ARG_TRUNC, VIGIL_POLICY_ARG_ERROR);
		/* A path the walk would cut compares by its leaf side. */
		if (flags)
			return 1;
		if (vg_pf_allows(VIGIL_POLICY_PF_KIND_TOP, '/', (__u64)m.top_name, m.top_len)) {
			*sure = true;
			return 1;
		}
	}
	*sure = true;
	return 0;
}

/*
 * 0 when the current hook's prefilter proves that no selector can match the
 * event's file (hook.prefilter's argument), 1 otherwise (no prefilter, or
 * unsure). ret is the return value (an fd returned). Global: verified once.
 */
__noinline int vg_prefilter(__s64 ret)
{
	struct run r = {};
	struct vigil_policy_arg *a;
	struct __vigil_dentry_head dh;
	struct path fpath, root;
	struct pf_cached *c;
	struct file *f = NULL;
	__u64 moved = 0, config = 0, now = 0, raw;
	__u32 pf, slot, k = VIGIL_POLICY_PF_GEN_MOVED;
	__u64 *g;
	bool sure;
	int allows;

	if (!run_load(&r))
		return 1;
	pf = r.h->prefilter;
	if (!(pf & (VIGIL_POLICY_PF_LEAF | VIGIL_POLICY_PF_TOP)))
		return 1;
	slot = pf & VIGIL_POLICY_PF_SLOT;
	if (slot >= VIGIL_POLICY_MAX_ARGS)
		return 1;
	a = &r.h->args[slot];
	raw = read_word(r.ctx, a, ret);
	if (a->type == VIGIL_POLICY_ARG_FD)
		f = fd_file((__s32)raw);
	else if (a->type == VIGIL_POLICY_ARG_KFILE)
		f = (struct file *)raw;
	if (!f)
		return 1;
	BPF_CORE_READ_INTO(&fpath, f, f_path);
	if (!fpath.dentry || !fpath.mnt || !vigil_dentry_head(fpath.dentry, &dh))
		return 1;
	current_root(&root);
	c = pf_cache_slot((__u64)fpath.dentry, r.hook_id, &moved, &config);
	if (c && c->dentry == (__u64)fpath.dentry && c->hook == r.hook_id && c->mnt == (__u64)fpath.mnt &&
	    c->root_dentry == (__u64)root.dentry && c->root_mnt == (__u64)root.mnt && c->parent == (__u64)dh.parent &&
	    c->hash_len == dh.hash_len && c->moved == moved && c->config == config)
		return c->allows;
	/* A mount's root (a file bind-mounted over another) is named by its
	 * mount point, not by its own dentry: never cached, so a hit above is
	 * not one (a mount's root dentry is fixed for its life). */
	if (fpath.dentry == BPF_CORE_READ(fpath.mnt, mnt_root))
		return 1;
	allows = pf_judge(&r, pf, &fpath, &root, &dh, &sure);
	if (!c || !sure)
		return allows;
	/* Cached only when nothing moved while it was judged. */
	g = bpf_map_lookup_elem(&pf_gen, &k);
	if (g)
		now = *(volatile __u64 *)g;
	if (now != moved)
		return allows;
	/* Emptied first, the file last: a program that ran between (a
	 * preemption on this CPU) finds no entry rather than half of one. */
	c->dentry = 0;
	barrier();
	c->mnt = (__u64)fpath.mnt;
	c->root_dentry = (__u64)root.dentry;
	c->root_mnt = (__u64)root.mnt;
	c->parent = (__u64)dh.parent;
	c->hash_len = dh.hash_len;
	c->moved = moved;
	c->config = config;
	c->hook = r.hook_id;
	c->allows = allows;
	barrier();
	c->dentry = (__u64)fpath.dentry;
	return allows;
}

/* At the exit of a syscall that may have moved a directory or a mount: the
 * prefilter's cached verdicts are made again (vigil/policy.h). */
SEC("tracepoint")
int policy_tree_moved(void *ctx)
{
	__u32 k = VIGIL_POLICY_PF_GEN_MOVED;
	__u64 *g = bpf_map_lookup_elem(&pf_gen, &k);

	if (g)
		__sync_fetch_and_add(g, 1);
	return 0;
}

/* Where the bytes a string filter compares are. */
enum str_src {
	STR_BLOB = 0,		/* the record's blob at `key` */
	STR_PROC = 1,		/* procs[key].bin */
	STR_PROC_BUILT = 2,	/* e->proc.bin (an entry that could not be stored) */
};

/* Equal, Prefix or Postfix of len bytes against filter id's values. */
__noinline int vg_str_match(__u32 op, __u32 id, __u32 src, __u32 key, __u32 len)
{
	struct evalbuf *e = evalbuf();
	struct vigil_policy_proc *p;
	struct scratch *s;
	const __u8 *data;

	if (!e)
		return 0;
	if (src == STR_BLOB) {
		s = scratch();
		if (!s)
			return 0;
		data = s->data + (key & DATA_MASK);
	} else if (src == STR_PROC) {
		p = bpf_map_lookup_elem(&procs, &key);
		if (!p)
			return 0;
		data = p->bin;
	} else {
		data = e->proc.bin;
	}
	switch (op) {
	case VIGIL_POLICY_OP_EQUAL:
		return str_equal(e, id, data, len);
	case VIGIL_POLICY_OP_PREFIX:
		return str_prefix(e, id, data, len);
	case VIGIL_POLICY_OP_POSTFIX:
		return str_postfix(e, id, data, len);
	}
	return 0;
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

/* One argument filter (matchArgs / matchReturnArgs), without negation: an
 * enum verdict. */
__noinline int vg_filter_arg(__u32 idx, __u32 phase)
{
	struct vigil_policy_filter *f = bpf_map_lookup_elem(&filters, &idx);
	struct vigil_policy_arg_value *a;
	struct vigil_policy_sock *sk;
	struct scratch *s = scratch();
	struct evalbuf *e = evalbuf();
	const __u8 *data;
	bool is_signed;
	__u32 slot;
	__u64 v;

	if (!f || !s || !e)
		return V_FALSE;
	slot = f->arg;
	if (slot >= VIGIL_POLICY_SLOTS)
		return V_FALSE;
	barrier_var(slot);
	slot &= 7;
	if (phase == PHASE_PROCESS || (phase == PHASE_ENTRY && slot == VIGIL_POLICY_RET_SLOT))
		return V_MAYBE;
	a = &s->ev.args[slot];
	/* Read at the exit (an fd returned, a returnCopy buffer): unknown before. */
	if (a->flags & VIGIL_POLICY_ARG_PENDING)
		return phase == PHASE_FULL ? V_FALSE : V_MAYBE;
	if (a->flags & (VIGIL_POLICY_ARG_ERROR | VIGIL_POLICY_ARG_NODATA) || a->type == VIGIL_POLICY_ARG_NONE)
		return V_FALSE;
	v = a->value;
	is_signed = a->type == VIGIL_POLICY_ARG_S64;
	data = s->data + (a->off & DATA_MASK);

	switch (f->op) {
	case VIGIL_POLICY_OP_EQUAL:
		if (is_stringish(a->type))
			return vg_str_match(f->op, f->id, STR_BLOB, a->off, a->len);
		if (a->type == VIGIL_POLICY_ARG_S64 || a->type == VIGIL_POLICY_ARG_U64 ||
		    a->type == VIGIL_POLICY_ARG_FD)
			return int_in(f->id, v);
		return V_FALSE;
	case VIGIL_POLICY_OP_PREFIX:
	case VIGIL_POLICY_OP_POSTFIX:
		return is_stringish(a->type) && vg_str_match(f->op, f->id, STR_BLOB, a->off, a->len);
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
		return addr_in(e, f->id, sk->family, sk->saddr);
	case VIGIL_POLICY_OP_DADDR:
		return addr_in(e, f->id, sk->family, sk->daddr);
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

/* matchBinaries on a process entry: procs[tgid], or e->proc (STR_PROC_BUILT). */
static __always_inline bool binary_match(struct vigil_policy_filter *f, struct vigil_policy_proc *p,
					 __u32 src, __u32 tgid)
{
	__u32 len = p->bin_len;

	if (!len)
		return false;
	switch (f->op) {
	case VIGIL_POLICY_OP_EQUAL:
	case VIGIL_POLICY_OP_POSTFIX:
		return len < VIGIL_POLICY_STR_MAX && vg_str_match(f->op, f->id, src, tgid, len);
	case VIGIL_POLICY_OP_PREFIX:
		return vg_str_match(f->op, f->id, src, tgid, len > VIGIL_POLICY_STR_MAX - 1 ? VIGIL_POLICY_STR_MAX - 1 : len);
	}
	return false;
}

/* followForks / followChildren: the task's ancestors, one a step. */
struct ancestors {
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

		if (p && binary_match(w->f, p, STR_PROC, tgid)) {
			w->found = true;
			return 1;
		}
	}
	return tgid <= 1;
}

/* followForks / followChildren: true when an ancestor of the task matches f. */
static __always_inline bool follow(struct vigil_policy_filter *f, struct task_struct *task)
{
	struct ancestors w = { .f = f, .task = task };

	bpf_loop(VIGIL_POLICY_ANCESTORS, ancestor_step, &w, 0);
	return w.found;
}

/* One process filter, without negation: an enum verdict. */
__noinline int vg_filter_process(__u32 idx)
{
	struct vigil_policy_filter *f = bpf_map_lookup_elem(&filters, &idx);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct evalbuf *e = evalbuf();
	struct vigil_policy_proc *p;
	__u32 ns[VIGIL_POLICY_NS_COUNT] = {};
	__u64 caps, change;
	__u32 set, tgid;

	if (!f || !e)
		return V_FALSE;
	set = f->arg;
	switch (f->kind) {
	case VIGIL_POLICY_F_BINARY:
		tgid = BPF_CORE_READ(task, tgid);
		p = proc_of(e, task);
		if (binary_match(f, p, p == &e->proc ? STR_PROC_BUILT : STR_PROC, tgid))
			return V_TRUE;
		return (f->flags & VIGIL_POLICY_FOLLOW) && follow(f, task);
	case VIGIL_POLICY_F_PID: {
		__u64 pid = (f->flags & VIGIL_POLICY_NSPID) ? task_nspid(task) : BPF_CORE_READ(task, tgid);

		if (int_in(f->id, pid))
			return V_TRUE;
		return (f->flags & VIGIL_POLICY_FOLLOW) && follow(f, task);
	}
	case VIGIL_POLICY_F_NS:
		task_ns(task, ns);
		return int_in(f->id, ns[f->arg < VIGIL_POLICY_NS_COUNT ? f->arg : 0]);
	case VIGIL_POLICY_F_NS_CHANGE: {
		__u32 changed = 0;

		p = proc_of(e, task);
		task_ns(task, ns);
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
		return (task_caps(task, set) & f->value) != 0;
	case VIGIL_POLICY_F_CAP_CHANGE:
		if ((f->flags & VIGIL_POLICY_NSCAP) &&
		    BPF_CORE_READ(task, real_cred, user_ns, ns.inum) == f->value2)
			return V_FALSE;
		p = proc_of(e, task);
		caps = task_caps(task, set);
		change = caps ^ p->caps[set < 3 ? set : 0];
		/* In: a listed capability changed. NotIn (NEG): only others did,
		 * so the negation is applied here, not by the caller. */
		if (f->flags & VIGIL_POLICY_NEG)
			return !(change & f->value) && change ? V_TRUE : V_FALSE;
		return (change & f->value) != 0;
	}
	return V_FALSE;
}

/* One filter of the selector being judged: an enum verdict (negation applied). */
static __always_inline __u32 judge_filter(struct judge_walk *w, __u32 idx)
{
	struct vigil_policy_filter *f = bpf_map_lookup_elem(&filters, &idx);
	__u32 v;

	if (!f)
		return V_FALSE;
	if (f->kind == VIGIL_POLICY_F_ARG) {
		v = vg_filter_arg(idx, w->phase);
	} else {
		if (w->phase != PHASE_PROCESS && w->phase != PHASE_FULL)
			return V_TRUE;	/* already known true from the process pass */
		/* A hook judged at exit sees the credentials and namespaces the
		 * syscall itself may change (capset, setns, unshare, set*id):
		 * unknown at entry. */
		if ((w->hook_flags & VIGIL_POLICY_HOOK_CREDS_AT_ENTRY) &&
		    f->kind >= VIGIL_POLICY_F_NS && f->kind <= VIGIL_POLICY_F_CAP_CHANGE) {
			/* Judged at the entry: the exit, reached only when it passed, keeps it. */
			if (w->phase == PHASE_FULL)
				return V_TRUE;
		} else if (w->phase == PHASE_PROCESS && (w->hook_flags & VIGIL_POLICY_HOOK_AT_EXIT) &&
			   f->kind >= VIGIL_POLICY_F_NS && f->kind <= VIGIL_POLICY_F_CAP_CHANGE) {
			return V_MAYBE;
		}
		v = vg_filter_process(idx);
	}
	if (v != V_MAYBE && (f->flags & VIGIL_POLICY_NEG) && f->kind != VIGIL_POLICY_F_CAP_CHANGE)
		v = v ? V_FALSE : V_TRUE;
	return v;
}

/* bpf_loop's context must be on the stack: it points at the state. */
struct judge_ctx {
	struct judge_walk *w;
};

static long judge_step(__u64 k, void *data)
{
	struct judge_walk *w = ((struct judge_ctx *)data)->w;
	struct vigil_policy_selector *sel;
	__u32 idx, v;

	if (w->sel >= w->nselectors || w->sel >= VIGIL_POLICY_HOOK_SELECTORS)
		return 1;
	if (!w->loaded) {
		idx = w->first_selector + w->sel;
		sel = bpf_map_lookup_elem(&selectors, &idx);
		if (!sel)
			return 1;
		w->first_filter = sel->first_filter;
		w->nfilters = sel->nfilters < VIGIL_POLICY_SELECTOR_FILTERS ?
			      sel->nfilters : VIGIL_POLICY_SELECTOR_FILTERS;
		w->filter = 0;
		w->verdict = V_TRUE;
		w->loaded = 1;
		return 0;
	}
	if (w->filter >= w->nfilters) {
		/* Every filter passed (or may): this selector decides. */
		w->matched = w->first_selector + w->sel;
		return 1;
	}
	v = judge_filter(w, w->first_filter + w->filter);
	if (v == V_FALSE) {
		w->sel += 1;
		w->loaded = 0;
		return 0;
	}
	if (v == V_MAYBE)
		w->verdict = V_MAYBE;
	w->filter += 1;
	return 0;
}

/* The current hook's first selector that matches (or may, before
 * PHASE_FULL): its global index, -1 when none, -2 when the hook has no
 * selectors (post all). */
__noinline int vg_judge(__u32 phase)
{
	struct evalbuf *e = evalbuf();
	struct vigil_policy_hook *h;
	struct judge_ctx c;
	struct judge_walk *w;
	__u32 hook_id, n;

	if (!e)
		return -1;
	hook_id = e->st.hook_id;
	h = bpf_map_lookup_elem(&hooks, &hook_id);
	if (!h)
		return -1;
	n = h->nselectors;
	if (!n)
		return -2;
	w = &e->jw;
	__builtin_memset(w, 0, sizeof(*w));
	w->phase = phase;
	w->matched = -1;
	w->first_selector = h->first_selector;
	w->nselectors = n;
	w->hook_flags = h->flags;
	c.w = w;
	/* A selector costs one step to load, one per filter and one to decide. */
	bpf_loop(VIGIL_POLICY_HOOK_SELECTORS * (VIGIL_POLICY_SELECTOR_FILTERS + 2), judge_step, &c, 0);
	return w->matched;
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

/* 1 when an identical post in the scope came less than rate_ns ago. */
__noinline int vg_rate_limited(__u32 selector, __u32 scope, __u64 rate_ns)
{
	struct scratch *s = scratch();
	struct evalbuf *e = evalbuf();
	struct rl_fill w = { .s = s, .e = e };
	__u64 now = bpf_ktime_get_boot_ns(), *last;

	if (!s || !e)
		return 0;
	__builtin_memset(&e->rl, 0, sizeof(e->rl));
	e->rl.hook = s->ev.hook;
	e->rl.selector = selector;
	e->rl.scope = scope == VIGIL_POLICY_SCOPE_THREAD ? s->ev.tid :
		      scope == VIGIL_POLICY_SCOPE_PROCESS ? s->ev.pid : 0;
	e->rl.values[VIGIL_POLICY_RET_SLOT] = s->ev.args[VIGIL_POLICY_RET_SLOT].value;
	bpf_loop(VIGIL_POLICY_MAX_ARGS, rl_step, &w, 0);
	last = bpf_map_lookup_elem(&ratelimit, &e->rl);
	if (last && now - *last < rate_ns)
		return 1;
	bpf_map_update_elem(&ratelimit, &e->rl, &now, BPF_ANY);
	return 0;
}

/* Sends the record built in scratch. */
__noinline int vg_post(void)
{
	struct scratch *s = scratch();
	__u64 size;

	if (!s)
		return 0;
	size = sizeof(s->ev) + s->ev.data_len;
	if (size > sizeof(*s))
		size = sizeof(*s);
	if (vigil_output(&events, 0, s, size))
		count(s->ev.policy, VIGIL_POLICY_C_LOST);
	else
		count(s->ev.policy, VIGIL_POLICY_C_POSTED);
	return 0;
}

/* What the program must still do after vg_entry / vg_leave: its context is
 * needed for it, and global functions do not get the context. */
enum finish {
	FINISH_NONE = 0,
	FINISH_USER_STACK_POST = 1,	/* fill the user stack, then vg_post() */
};

/* The matching selector's actions (tracing programs: signals, Override and
 * stacks): an enum finish. */
__noinline int vg_act(__s32 matched)
{
	struct scratch *s = scratch();
	struct evalbuf *e = evalbuf();
	struct vigil_policy_selector *sel = NULL;
	struct vigil_policy_action *postact = NULL;
	__u32 policy, n = 0, taken = 0, sig = 0, idx;
	bool nopost = false;

	if (!s || !e)
		return FINISH_NONE;
	policy = s->ev.policy;
	count(policy, VIGIL_POLICY_C_MATCHED);
	s->ev.selector = 0;
	if (matched >= 0) {
		idx = matched;
		sel = bpf_map_lookup_elem(&selectors, &idx);
		if (!sel)
			return FINISH_NONE;
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
		case VIGIL_POLICY_ACT_OVERRIDE:
			/* The program returns the error (BPF-LSM) or overrides the
			 * function's return (kprobe error injection). */
			e->st.override = a->error;
			e->st.has_override = 1;
			taken |= 1u << VIGIL_POLICY_ACT_OVERRIDE;
			count(policy, VIGIL_POLICY_C_ACTIONS + VIGIL_POLICY_ACT_OVERRIDE);
			break;
		case VIGIL_POLICY_ACT_DENY:
			/* Enforced and reported by the cgroup sock_addr programs. */
			return FINISH_NONE;
		}
	}
	if (nopost) {
		count(policy, VIGIL_POLICY_C_ACTIONS + VIGIL_POLICY_ACT_NOPOST);
		return FINISH_NONE;
	}
	if (postact && postact->rate_ns && vg_rate_limited(matched, postact->scope, postact->rate_ns)) {
		count(policy, VIGIL_POLICY_C_RATE_LIMITED);
		return FINISH_NONE;
	}
	count(policy, VIGIL_POLICY_C_ACTIONS + VIGIL_POLICY_ACT_POST);
	s->ev.actions = taken | (1u << VIGIL_POLICY_ACT_POST);
	s->ev.signal = sig;
	s->ev.ret = e->st.has_override ? e->st.override : s->ev.ret;
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
		return FINISH_USER_STACK_POST;
	vg_post();
	return FINISH_NONE;
}

/* --- judging a hook -------------------------------------------------------------- */

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

/* The current hook at its entry (e->st: context, source, hook): judged
 * there, or captured and stashed for its exit. An enum finish. */
__noinline int vg_entry(void)
{
	struct run r = {};
	struct stash_key key = {};
	__s32 matched;
	__u32 n;
	long err;

	if (!run_load(&r))
		return FINISH_NONE;
	/* 0. The attachment's own conditions: not this hook's event otherwise. */
	if (r.h->nconds && !vg_conds(0, 0))
		return FINISH_NONE;
	/* 1. Process filters: a task no selector can match costs no capture. */
	if ((r.h->flags & VIGIL_POLICY_HOOK_PROC_FILTERS) && vg_judge(PHASE_PROCESS) == -1) {
		count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
		return FINISH_NONE;
	}
	/* The file's name or first component rules every selector out: no walk. */
	if (!(r.h->flags & VIGIL_POLICY_HOOK_AT_EXIT) && r.h->prefilter && !vg_prefilter(0)) {
		count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
		return FINISH_NONE;
	}
	/* 2. Capture. */
	header(&r, r.hook_id);
	n = r.h->nargs;
	/* Plain bounded loops around global calls: a bpf_loop callback would
	 * cost a call frame. */
	for (__u32 i = 0; i < VIGIL_POLICY_MAX_ARGS; i++) {
		if (i < n)
			vg_capture(i, 0);
		else
			r.s->ev.args[i].type = VIGIL_POLICY_ARG_NONE;
	}
	if (r.h->flags & VIGIL_POLICY_HOOK_RET_AT_ENTRY) {
		__s64 ret = read_word(r.ctx, &r.h->ret, r.e->st.ret);

		r.s->ev.ret = ret;
		r.s->ev.flags |= VIGIL_POLICY_EV_RET;
		r.s->ev.args[VIGIL_POLICY_RET_SLOT].type = VIGIL_POLICY_ARG_S64;
		r.s->ev.args[VIGIL_POLICY_RET_SLOT].value = ret;
	}
	if (r.h->flags & VIGIL_POLICY_HOOK_AT_EXIT) {
		if (vg_judge(PHASE_ENTRY) == -1) {
			count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
			return FINISH_NONE;
		}
		if (r.source == VIGIL_POLICY_SRC_TRACEPOINT) {
			__s64 id = 0;

			/* The syscall number pairs the entry with its exit. */
			bpf_probe_read_kernel(&id, sizeof(id), r.ctx + 8);
			r.s->ev.nr = (__s32)id;
		}
		key.tid = r.s->ev.tid;
		key.hook = r.hook_id;
		if (r.s->ev.data_len <= STASH_SMALL_DATA)
			err = bpf_map_update_elem(&stash_small, &key, r.s, BPF_ANY);
		else
			err = bpf_map_update_elem(&stash_large, &key, r.s, BPF_ANY);
		if (err) {
			count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
			count(r.h->policy, VIGIL_POLICY_C_LOST);
		}
		return FINISH_NONE;
	}
	/* 3. All filters; the first matching selector acts. */
	count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
	matched = vg_judge(PHASE_FULL);
	if (matched == -1)
		return FINISH_NONE;
	return vg_act(matched);
}

/* The exit of a hook judged at exit: the stashed entry, the return value.
 * nr pairs a syscall exit with its entry (-1: any). An enum finish. */
__noinline int vg_leave(__s64 ret, __s32 nr)
{
	struct run r = {};
	struct stash_key key = {};
	struct stash_small *sm;
	struct scratch *lg;
	__s32 matched;

	if (!run_load(&r))
		return FINISH_NONE;
	if (r.h->flags & VIGIL_POLICY_HOOK_EXIT_ONLY) {
		/* Nothing was read at the entry: the conditions on the result, the
		 * process filters, then the record is built here. */
		if (r.h->nconds && !vg_conds(1, ret))
			return FINISH_NONE;
		if ((r.h->flags & VIGIL_POLICY_HOOK_PROC_FILTERS) && vg_judge(PHASE_PROCESS) == -1) {
			count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
			return FINISH_NONE;
		}
		if (r.h->prefilter && !vg_prefilter(ret)) {
			count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
			return FINISH_NONE;
		}
		header(&r, r.hook_id);
		r.e->st.ret = ret;
		for (__u32 i = 0; i < VIGIL_POLICY_MAX_ARGS; i++) {
			if (i < r.h->nargs)
				vg_capture(i, 0);
			else
				r.s->ev.args[i].type = VIGIL_POLICY_ARG_NONE;
		}
		r.s->ev.nr = nr;
		goto judge;
	}
	key.tid = (__u32)bpf_get_current_pid_tgid();
	key.hook = r.hook_id;
	sm = bpf_map_lookup_elem(&stash_small, &key);
	if (sm) {
		bpf_probe_read_kernel(r.s, sizeof(*sm), sm);
		bpf_map_delete_elem(&stash_small, &key);
	} else {
		lg = bpf_map_lookup_elem(&stash_large, &key);
		if (!lg)
			return FINISH_NONE;
		bpf_probe_read_kernel(r.s, sizeof(*lg), lg);
		bpf_map_delete_elem(&stash_large, &key);
	}
	/* A stale entry (its exit was missed) is dropped. */
	if (r.s->ev.nr != nr)
		return FINISH_NONE;
	if (r.h->nconds && !vg_conds(1, ret))
		return FINISH_NONE;
judge:
	/* The arguments read at the exit see the syscall's own result (an fd). */
	r.s->ev.ret = ret;
	for (__u32 i = 0; i < VIGIL_POLICY_MAX_ARGS; i++) {
		if (i < r.h->nargs)
			vg_capture(i, 1);
	}
	if ((r.h->flags & VIGIL_POLICY_HOOK_RET_ERR) && ret > 0)
		ret = 0;
	r.s->ev.ret = ret;
	r.s->ev.flags |= VIGIL_POLICY_EV_RET;
	r.s->ev.args[VIGIL_POLICY_RET_SLOT].type = VIGIL_POLICY_ARG_S64;
	r.s->ev.args[VIGIL_POLICY_RET_SLOT].flags = 0;
	r.s->ev.args[VIGIL_POLICY_RET_SLOT].value = ret;
	count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
	matched = vg_judge(PHASE_FULL);
	if (matched == -1)
		return FINISH_NONE;
	return vg_act(matched);
}

/* --- programs ------------------------------------------------------------------ */

/* Records the program's context and source for the global functions. */
static __always_inline struct evalbuf *begin(void *ctx, __u32 source)
{
	struct evalbuf *e = evalbuf();

	if (!e)
		return NULL;
	e->st.ctx = (__u64)ctx;
	e->st.source = source;
	e->st.has_override = 0;
	e->st.override = 0;
	e->st.ret = 0;
	return e;
}

static __always_inline void finish(void *ctx, int what)
{
	struct scratch *s;

	if (what != FINISH_USER_STACK_POST)
		return;
	s = scratch();
	if (!s)
		return;
	s->ev.user_stack = bpf_get_stackid(ctx, &user_stacks, BPF_F_REUSE_STACKID | BPF_F_USER_STACK);
	vg_post();
}

/* One hook (hook_id) of the program: entry or exit. */
static __always_inline void run_hook(void *ctx, __u32 hook_id, bool exit, __s64 ret, __s32 nr)
{
	struct evalbuf *e = evalbuf();

	if (!e)
		return;
	e->st.hook_id = hook_id;
	finish(ctx, exit ? vg_leave(ret, nr) : vg_entry());
}

/* The hooks sharing one tracepoint attachment, one after the other (a plain
 * bounded loop around the global calls: a bpf_loop callback would cost a
 * call frame, and the verifier allows eight). rec is the record the hooks
 * read (the tracepoint's, or one built from a raw tracepoint's registers);
 * ctx the program's context. */
static __always_inline void run_list(void *ctx, void *rec, __u32 slot, bool exit, __s64 ret, __s32 nr)
{
	struct vigil_policy_tp_hooks *l;
	__s64 id = -1;
	__u32 hook_id;
	__s32 want;

	/* raw_syscalls:sys_enter/sys_exit: `long id` at offset 8. Hooks on a
	 * syscall served there skip every other syscall before any work. */
	l = bpf_map_lookup_elem(&tp_hooks, &slot);
	if (l && l->raw)
		bpf_probe_read_kernel(&id, sizeof(id), rec + 8);
	for (__u32 i = 0; i < VIGIL_POLICY_TP_HOOKS; i++) {
		l = bpf_map_lookup_elem(&tp_hooks, &slot);
		if (!l || i >= l->count)
			break;
		want = l->nrs[i];
		if (want >= 0 && want != id)
			continue;
		hook_id = l->hooks[i];
		run_hook(ctx, hook_id, exit, ret, nr);
	}
}

SEC("tracepoint")
int policy_tp(void *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_TRACEPOINT))
		run_list(ctx, ctx, bpf_get_attach_cookie(ctx), false, 0, 0);
	return 0;
}

SEC("tracepoint")
int policy_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_TRACEPOINT))
		run_list(ctx, ctx, bpf_get_attach_cookie(ctx), true, ctx->ret, (__s32)ctx->id);
	return 0;
}

/* A syscalls:sys_enter_* / sys_exit_* record built from the registers: what
 * the hooks on raw_syscalls read (the id at 8, the arguments or the return
 * value from 16). */
struct raw_sys_record {
	__u64 common;
	__s64 id;
	__u64 args[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct raw_sys_record);
} raw_sys_records SEC(".maps");

/* The direction's configuration when syscall nr is wanted, else NULL: the
 * early exit every other syscall of the host takes. */
static __always_inline struct vigil_policy_raw_sys *raw_sys_wanted(__u32 dir, __u64 nr)
{
	struct vigil_policy_raw_sys *c = bpf_map_lookup_elem(&raw_sys, &dir);

	if (!c || nr >= VIGIL_POLICY_RAW_NRS || !(c->nrs[(nr / 64) & (VIGIL_POLICY_RAW_NRS / 64 - 1)] & (1ULL << (nr & 63))))
		return NULL;
	return c;
}

/* The sixth syscall argument (libbpf's macros stop at the fifth). */
static __always_inline __u64 regs_syscall_arg6(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, r9);
#elif defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ((struct user_pt_regs *)regs, regs[5]);
#else
#error "the sixth syscall argument in pt_regs: unknown architecture"
#endif
}

/* The record of syscall nr from its registers: the arguments, which a
 * syscall leaves as they were, so the exit reads them as well as the entry. */
static __always_inline struct raw_sys_record *raw_sys_record(struct pt_regs *regs, __s64 nr)
{
	struct raw_sys_record *rec;
	__u32 zero = 0;

	rec = bpf_map_lookup_elem(&raw_sys_records, &zero);
	if (!rec)
		return NULL;
	rec->common = 0;
	rec->id = nr;
	rec->args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
	rec->args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
	rec->args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	rec->args[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
	rec->args[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
	rec->args[5] = regs_syscall_arg6(regs);
	return rec;
}

/* raw_syscalls:sys_enter(regs, id) */
SEC("raw_tracepoint/sys_enter")
int policy_rawenter(struct bpf_raw_tracepoint_args *ctx)
{
	struct vigil_policy_raw_sys *c = raw_sys_wanted(0, ctx->args[1]);
	struct raw_sys_record *rec;

	if (!c)
		return 0;
	rec = raw_sys_record((struct pt_regs *)ctx->args[0], ctx->args[1]);
	if (rec && begin(rec, VIGIL_POLICY_SRC_TRACEPOINT))
		run_list(ctx, rec, c->slot, false, 0, 0);
	return 0;
}

/* The syscall number in the registers at a syscall's exit (syscall_get_nr). */
static __always_inline __s64 regs_syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ((struct user_pt_regs *)regs, syscallno);
#else
#error "the syscall number in pt_regs: unknown architecture"
#endif
}

/* raw_syscalls:sys_exit(regs, ret). The record is the entry's (the
 * arguments from the registers): hooks judged here alone (EXIT_ONLY) read
 * their arguments from it, so no program runs at the entry of every
 * syscall; the return value is ret. */
SEC("raw_tracepoint/sys_exit")
int policy_rawexit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	__s64 nr = regs_syscall_nr(regs);
	struct vigil_policy_raw_sys *c = raw_sys_wanted(1, nr);
	struct raw_sys_record *rec;

	if (!c)
		return 0;
	rec = raw_sys_record(regs, nr);
	if (rec && begin(rec, VIGIL_POLICY_SRC_TRACEPOINT))
		run_list(ctx, rec, c->slot, true, (__s64)ctx->args[1], (__s32)nr);
	return 0;
}

SEC("uprobe")
int policy_uprobe(struct pt_regs *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_REGS))
		run_hook(ctx, bpf_get_attach_cookie(ctx), false, 0, 0);
	return 0;
}

SEC("uretprobe")
int policy_uretprobe(struct pt_regs *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_REGS))
		run_hook(ctx, bpf_get_attach_cookie(ctx), true, PT_REGS_RC_CORE(ctx), -1);
	return 0;
}

/* Kernel functions: kprobes (arguments from pt_regs, as uprobes), the hook's
 * id in the BPF cookie. */
SEC("kprobe")
int policy_kprobe(struct pt_regs *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_REGS))
		run_hook(ctx, bpf_get_attach_cookie(ctx), false, 0, 0);
	return 0;
}

/* A kprobe whose Override changes the function's result (error injection):
 * a variant, loaded only where bpf_override_return exists and a policy
 * overrides a kprobe (the helper makes the load fail elsewhere). */
SEC("kprobe")
int policy_kprobe_override(struct pt_regs *ctx)
{
	struct evalbuf *e = begin(ctx, VIGIL_POLICY_SRC_REGS);

	if (!e)
		return 0;
	run_hook(ctx, bpf_get_attach_cookie(ctx), false, 0, 0);
	e = evalbuf();
	if (e && e->st.has_override)
		bpf_override_return(ctx, (__s64)e->st.override);
	return 0;
}

SEC("kretprobe")
int policy_kretprobe(struct pt_regs *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_REGS))
		run_hook(ctx, bpf_get_attach_cookie(ctx), true, PT_REGS_RC_CORE(ctx), -1);
	return 0;
}

/* Programs whose attach point is fixed at load (raw tracepoints without
 * cookies in libbpf 1.1; fentry, fexit and LSM, whose target function is set
 * before load): one load of the program per hook, with the hook's id here. */
const volatile __u32 raw_tp_hook = 0;

SEC("raw_tracepoint")
int policy_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_RAW_TP))
		run_hook(ctx, raw_tp_hook, false, 0, 0);
	return 0;
}

/* fentry: the arguments are 8-byte words of the context (LOC_RECORD 8 * i). */
SEC("fentry")
int policy_fentry(void *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_TRACING))
		run_hook(ctx, raw_tp_hook, false, 0, 0);
	return 0;
}

/* fexit: the arguments and the return value at once: judged without a
 * stash, as a hook whose return value is known at its entry
 * (VIGIL_POLICY_HOOK_RET_AT_ENTRY with ret at LOC_RET: e->st.ret). */
SEC("fexit")
int policy_fexit(void *ctx)
{
	struct evalbuf *e = begin(ctx, VIGIL_POLICY_SRC_TRACING);
	__u64 ret = 0;

	if (!e)
		return 0;
	bpf_get_func_ret(ctx, &ret);
	e->st.ret = ret;
	run_hook(ctx, raw_tp_hook, false, 0, 0);
	return 0;
}

/* BPF-LSM: the hook's arguments as fentry's; Override's error is the
 * program's return value, which the kernel enforces (0 allows). */
SEC("lsm")
int policy_lsm(void *ctx)
{
	struct evalbuf *e = begin(ctx, VIGIL_POLICY_SRC_TRACING);
	long err;

	if (!e)
		return 0;
	run_hook(ctx, raw_tp_hook, false, 0, 0);
	e = evalbuf();
	if (!e || !e->st.has_override)
		return 0;
	/* 64-bit and bounded: the verifier checks R0 is in [-4095, 0]. */
	err = e->st.override;
	if (err < -4095 || err > 0)
		return -1;
	return err;
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
	*o = type == VIGIL_POLICY_ARG_SOCKADDR ? r->e->sa : r->e->sk;
	if (type == VIGIL_POLICY_ARG_SOCKADDR)
		out->value = o->family;
	blob_commit(r->s, out, sizeof(*o));
	return 0;
}

/* Deny-set entry i on the address in e->sa / e->sk: 1 when it denies,
 * 0 when not, -1 past the last entry. */
__noinline int vg_deny_hook(__u32 i)
{
	struct vigil_policy_deny_set *set;
	struct vigil_policy_selector *sel;
	struct evalbuf *e = evalbuf();
	struct run r = {};
	__u32 zero = 0, idx, n;
	__s32 matched;
	bool deny = false, nopost = false;

	set = bpf_map_lookup_elem(&deny_set, &zero);
	if (!set || !e || i >= set->count || i >= VIGIL_POLICY_MAX_DENY)
		return -1;
	/* The compiler may test a copy and index with the original: masked
	 * after a barrier, the verifier sees the bound on the index used. */
	barrier_var(i);
	i &= VIGIL_POLICY_MAX_DENY - 1;
	if (!(set->kinds[i] & e->st.deny_kind))
		return 0;
	e->st.hook_id = set->hooks[i];
	if (!run_load(&r))
		return 0;
	header(&r, r.hook_id);
	bpf_loop(r.h->nargs, deny_arg_step, &r, 0);
	matched = vg_judge(PHASE_FULL);
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
	count(r.h->policy, VIGIL_POLICY_C_EVALUATED);
	count(r.h->policy, VIGIL_POLICY_C_MATCHED);
	count(r.h->policy, VIGIL_POLICY_C_ACTIONS + VIGIL_POLICY_ACT_DENY);
	if (nopost)
		return 1;
	r.s->ev.selector = sel->index;
	r.s->ev.actions = (1u << VIGIL_POLICY_ACT_DENY) | (1u << VIGIL_POLICY_ACT_POST);
	r.s->ev.flags |= VIGIL_POLICY_EV_DENIED;
	r.s->ev.ret = -1;	/* -EPERM */
	vg_post();
	return 1;
}

static __always_inline int deny_run(struct bpf_sock_addr *ctx, __u32 kind, bool v6)
{
	struct bpf_sock *bsk = ctx->sk;
	struct vigil_policy_sock *sa, *sk;
	struct evalbuf *e = begin(ctx, VIGIL_POLICY_SRC_SOCK_ADDR);
	__u32 family = ctx->user_family, proto = ctx->protocol, type = ctx->type;
	__u16 port = bpf_ntohs((__u16)ctx->user_port);

	if (!e)
		return 1;
	e->st.deny_kind = kind;
	sa = &e->sa;
	sk = &e->sk;
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
	for (__u32 i = 0; i < VIGIL_POLICY_MAX_DENY; i++) {
		int v = vg_deny_hook(i);

		if (v < 0)
			break;
		if (v > 0)
			return 0;
	}
	return 1;
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
