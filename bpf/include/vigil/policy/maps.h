// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The engine's maps: its configuration (written by src/policy/engine.ts)
 * and its state, and the per-CPU records a judgement is built in.
 *
 * Part of bpf/policy.bpf.c, which includes it once, after the headers it
 * builds on (the order is there). Not for other objects: it defines engine
 * maps, functions or state that an object including it would carry too. */
#ifndef __VIGIL_POLICY_MAPS_H
#define __VIGIL_POLICY_MAPS_H

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

/* The cgroups of each scoped policy's pods (VIGIL_POLICY_HOOK_SCOPED). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VIGIL_POLICY_MAX_SCOPED);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_policy_scope_key);
	__type(value, __u8);
} scope_cgroups SEC(".maps");

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
	struct vigil_policy_scope_key scope;	/* scope_cgroups key (vg_out_of_scope) */
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

static __always_inline void count(__u32 policy, __u32 which)
{
	struct vigil_policy_counters *c = bpf_map_lookup_elem(&counters, &policy);

	if (c && which < VIGIL_POLICY_COUNTERS)
		c->c[which & (VIGIL_POLICY_COUNTER_SLOTS - 1)] += 1;
}

static __always_inline struct evalbuf *evalbuf(void)
{
	return vigil_slot0(eval_map);
}

static __always_inline struct scratch *scratch(void)
{
	return vigil_slot0(scratch_map);
}

#endif /* __VIGIL_POLICY_MAPS_H */
