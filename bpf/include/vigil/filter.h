/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* In-kernel event filters shared by every sensor.
 *
 * Which filters are on is a load-time constant (vigil_filter_flags), so a
 * sensor loaded without filters compiles the checks away. The values live in
 * maps that user space creates once and hands to every sensor's object
 * (LoadOptions.reuseMaps), so one `--uid 1000` filters all sensors alike and
 * a filter takes any number of values.
 *
 * Per-process state that cannot be read cheaply at event time (is this task
 * a descendant of the --pid process? did its binary match the prefix at
 * exec?) is kept in vigil_tracked, keyed by thread group id and maintained by
 * the process sensor at fork, exec and exit (vigil_filter_on_fork/_exec/_exit).
 * Processes that exist when Vigil starts are seeded from /proc by user space.
 *
 * Vigil's own process is left out of every sensor unless asked for
 * (vigil_filter_self: its thread group id; 0 keeps it): its /proc and tracefs
 * reads, its threads, and the helpers it runs (descendants forked while the
 * process sensor runs, marked self in vigil_tracked). The common case costs
 * one comparison: vigil_tracked is read only while such a helper lives
 * (vigil_self_children counts them).
 *
 * A filtered-out event costs a few map lookups; it never reaches user
 * space. What passes is counted in vigil_filter_counts (per CPU:
 * [VIGIL_FILTER_PASSED]); what is dropped too ([VIGIL_FILTER_DROPPED]) unless
 * vigil_filter_count_dropped is 0, which leaves a rejected event nothing to
 * do but the test that rejected it (a stream that shows no such count).
 */
#ifndef __VIGIL_FILTER_H
#define __VIGIL_FILTER_H

#include "vigil/maps.h"

enum vigil_filter_flag {
	/* tgid in vigil_filter_pids. */
	VIGIL_FILTER_PID = 1 << 0,
	/* vigil_tracked[tgid].pid_tree: a --pid process or a descendant. */
	VIGIL_FILTER_PID_TREE = 1 << 1,
	/* real uid in vigil_filter_uids. */
	VIGIL_FILTER_UID = 1 << 2,
	/* comm in vigil_filter_comms. */
	VIGIL_FILTER_COMM = 1 << 3,
	/* vigil_tracked[tgid].binary: the executable matched vigil_filter_binaries at exec. */
	VIGIL_FILTER_BINARY = 1 << 4,
	/* cgroup v2 id in vigil_filter_cgroups ... */
	VIGIL_FILTER_CGROUP = 1 << 5,
	/* ... or, with this flag too, NOT in it (--container host: no container's cgroup). */
	VIGIL_FILTER_CGROUP_NOT = 1 << 6,
	/* file sensor: the canonical path (the opened file's, or the name
	 * normalised: see file.h) has a prefix in vigil_filter_paths. */
	VIGIL_FILTER_PATH = 1 << 7,
};

enum vigil_filter_limits {
	/* Bytes of a path that prefix filters look at. */
	VIGIL_FILTER_PATH_MAX = 256,
	VIGIL_FILTER_MAX_VALUES = 4096,
	VIGIL_TRACKED_MAX = 65536,
};

enum vigil_filter_count {
	VIGIL_FILTER_PASSED = 0,
	VIGIL_FILTER_DROPPED = 1,
};

/* LPM trie key for path prefixes: prefixlen in bits, the path root first. */
struct vigil_path_key {
	__u32 prefixlen;
	__u8 path[VIGIL_FILTER_PATH_MAX];
};

struct vigil_tracked_task {
	__u8 pid_tree;
	__u8 binary;
	/* a process Vigil (vigil_filter_self) started, or one of its descendants */
	__u8 self;
	__u8 pad[5];
};

const volatile __u32 vigil_filter_flags = 0;
/*
 * A --uid filter of at most VIGIL_FILTER_INLINE_UIDS users is also given as
 * constants and compared in the program: no map lookup (the common case, one
 * user, costs one comparison). 0: vigil_filter_uids decides.
 */
#define VIGIL_FILTER_INLINE_UIDS 4
const volatile __u32 vigil_filter_uid_count = 0;
const volatile __u32 vigil_filter_uid_list[VIGIL_FILTER_INLINE_UIDS] = {};
/* Vigil's own thread group id: its events (and its helpers') are dropped. 0: kept. */
const volatile __u32 vigil_filter_self = 0;
/* 0: events the filters drop are not counted (vigil_filter_counts[VIGIL_FILTER_DROPPED] stays 0). */
const volatile __u32 vigil_filter_count_dropped = 1;

VIGIL_KEYED_MAP(vigil_filter_pids, BPF_MAP_TYPE_HASH, VIGIL_FILTER_MAX_VALUES, __u32, __u8);

VIGIL_KEYED_MAP(vigil_filter_uids, BPF_MAP_TYPE_HASH, VIGIL_FILTER_MAX_VALUES, __u32, __u8);

VIGIL_KEYED_MAP(vigil_filter_comms, BPF_MAP_TYPE_HASH, VIGIL_FILTER_MAX_VALUES, char[16], __u8);

VIGIL_KEYED_MAP(vigil_filter_cgroups, BPF_MAP_TYPE_HASH, VIGIL_FILTER_MAX_VALUES, __u64, __u8);

VIGIL_LAZY_MAP(vigil_filter_binaries, BPF_MAP_TYPE_LPM_TRIE, VIGIL_FILTER_MAX_VALUES,
	       struct vigil_path_key, __u8);

VIGIL_LAZY_MAP(vigil_filter_paths, BPF_MAP_TYPE_LPM_TRIE, VIGIL_FILTER_MAX_VALUES,
	       struct vigil_path_key, __u8);

VIGIL_KEYED_MAP(vigil_tracked, BPF_MAP_TYPE_LRU_HASH, VIGIL_TRACKED_MAX,
		__u32, struct vigil_tracked_task);

/* [0]: how many processes marked self in vigil_tracked live now. */
VIGIL_INDEXED_MAP(vigil_self_children, BPF_MAP_TYPE_ARRAY, 1, __u32);

VIGIL_INDEXED_MAP(vigil_filter_counts, BPF_MAP_TYPE_PERCPU_ARRAY, 2, __u64);

/*
 * The current task's real uid in the initial user namespace: what
 * bpf_get_current_uid_gid() returns in its low half (a kuid is that value;
 * from_kuid(&init_user_ns, ...) is the identity). A program whose type may
 * call bpf_get_current_task_btf() defines VIGIL_FILTER_UID_FROM_TASK before
 * this header and reads current->cred->uid with two plain loads, the task
 * pointer being inlined by the JITs that do so (x86-64 on recent kernels):
 * no helper call on the rejecting path of a --uid filter.
 */
static __always_inline __u32 vigil_current_uid(void)
{
#ifdef VIGIL_FILTER_UID_FROM_TASK
	struct task_struct *task = bpf_get_current_task_btf();

	return task->cred->uid.val;
#else
	return (__u32)bpf_get_current_uid_gid();
#endif
}

/* Whether tgid is Vigil itself or a helper it started (vigil_filter_self). */
static __always_inline bool vigil_filter_is_self(__u32 tgid)
{
	struct vigil_tracked_task *t;
	__u32 zero = 0, *children;

	if (!vigil_filter_self)
		return false;
	if (tgid == vigil_filter_self)
		return true;
	children = bpf_map_lookup_elem(&vigil_self_children, &zero);
	if (!children || !*children)
		return false;
	t = bpf_map_lookup_elem(&vigil_tracked, &tgid);
	return t && t->self;
}

static __always_inline bool vigil_filter_count(bool pass)
{
	if (pass || vigil_filter_count_dropped)
		vigil_count(&vigil_filter_counts, pass ? VIGIL_FILTER_PASSED : VIGIL_FILTER_DROPPED);
	return pass;
}

/* The task-level filters (everything but paths), for the current task,
 * with f = vigil_filter_flags. A load-time constant is read once: each read
 * of a const volatile is a load the program keeps, although the verifier
 * knows its value and prunes the branches on it. */
static __always_inline bool vigil_filter_task_pass_with(__u32 f)
{
	__u32 tgid;

	/* The uid first: the cheapest test that rejects (one comparison for a
	 * user or a few), before Vigil's own tgid is even read. */
	if (f & VIGIL_FILTER_UID) {
		__u32 uid = vigil_current_uid();
		__u32 n = vigil_filter_uid_count;

		if (n) {
			/* Short-circuited on the load-time count, so the
			 * verifier prunes the comparisons past it: one user
			 * is one comparison. */
			if (uid != vigil_filter_uid_list[0] &&
			    (n < 2 || uid != vigil_filter_uid_list[1]) &&
			    (n < 3 || uid != vigil_filter_uid_list[2]) &&
			    (n < 4 || uid != vigil_filter_uid_list[3]))
				return false;
		} else {
			/* A copy for the key: the inline comparisons keep
			 * uid in a register (no spill on their path). */
			__u32 key = uid;

			if (!bpf_map_lookup_elem(&vigil_filter_uids, &key))
				return false;
		}
	}
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (vigil_filter_is_self(tgid))
		return false;
	if (!(f & ~(VIGIL_FILTER_PATH | VIGIL_FILTER_UID)))
		return true;
	if (f & (VIGIL_FILTER_PID_TREE | VIGIL_FILTER_BINARY)) {
		struct vigil_tracked_task *t = bpf_map_lookup_elem(&vigil_tracked, &tgid);

		if (!t)
			return false;
		if ((f & VIGIL_FILTER_PID_TREE) && !t->pid_tree)
			return false;
		if ((f & VIGIL_FILTER_BINARY) && !t->binary)
			return false;
	}
	if ((f & VIGIL_FILTER_PID) && !bpf_map_lookup_elem(&vigil_filter_pids, &tgid))
		return false;
	if (f & VIGIL_FILTER_COMM) {
		char comm[16] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		if (!bpf_map_lookup_elem(&vigil_filter_comms, comm))
			return false;
	}
	if (f & VIGIL_FILTER_CGROUP) {
		__u64 cg = bpf_get_current_cgroup_id();
		bool in = bpf_map_lookup_elem(&vigil_filter_cgroups, &cg) != NULL;

		if (in == !!(f & VIGIL_FILTER_CGROUP_NOT))
			return false;
	}
	return true;
}

static __always_inline bool vigil_filter_task_pass(void)
{
	return vigil_filter_task_pass_with(vigil_filter_flags);
}

/* Task filters, counted, with f = vigil_filter_flags: call once per candidate event. */
static __always_inline bool vigil_filter_pass_with(__u32 f)
{
	if (!f && !vigil_filter_self)
		return true;
	return vigil_filter_count(vigil_filter_task_pass_with(f));
}

static __always_inline bool vigil_filter_pass(void)
{
	return vigil_filter_pass_with(vigil_filter_flags);
}

/* The task-level filters on a process given by its values (tgid, uid as
 * bpf_get_current_uid_gid reports it, comm NUL-padded, cgroup v2 id), for
 * programs that may not call the bpf_get_current_* helpers (cgroup_skb on
 * older kernels, 6.1 and 6.12 among them) and read them from the task_struct
 * instead. Counted like vigil_filter_pass. */
static __always_inline bool vigil_filter_values_pass(__u32 tgid, __u32 uid, const char *comm, __u64 cgroup_id)
{
	__u32 f = vigil_filter_flags;
	bool pass = true;

	if (!f && !vigil_filter_self)
		return true;
	if (vigil_filter_is_self(tgid))
		return vigil_filter_count(false);
	if (!(f & ~VIGIL_FILTER_PATH))
		return vigil_filter_count(true);
	if (f & (VIGIL_FILTER_PID_TREE | VIGIL_FILTER_BINARY)) {
		struct vigil_tracked_task *t = bpf_map_lookup_elem(&vigil_tracked, &tgid);

		if (!t || ((f & VIGIL_FILTER_PID_TREE) && !t->pid_tree) || ((f & VIGIL_FILTER_BINARY) && !t->binary))
			pass = false;
	}
	if (pass && (f & VIGIL_FILTER_PID) && !bpf_map_lookup_elem(&vigil_filter_pids, &tgid))
		pass = false;
	if (pass && (f & VIGIL_FILTER_UID) && !bpf_map_lookup_elem(&vigil_filter_uids, &uid))
		pass = false;
	if (pass && (f & VIGIL_FILTER_COMM) && !bpf_map_lookup_elem(&vigil_filter_comms, comm))
		pass = false;
	if (pass && (f & VIGIL_FILTER_CGROUP)) {
		bool in = bpf_map_lookup_elem(&vigil_filter_cgroups, &cgroup_id) != NULL;

		if (in == !!(f & VIGIL_FILTER_CGROUP_NOT))
			pass = false;
	}
	return vigil_filter_count(pass);
}

/* Path prefix filter: key->path holds the absolute path (root first, NUL
 * padded), canonical where the caller can make it so (vigil/path.h: walked
 * from a struct path, or vigil_path_normalize): a prefix of a spelling
 * ("/tmp/../etc") says nothing of the file. True when a prefix in
 * vigil_filter_paths matches or the filter is off. */
static __always_inline bool vigil_filter_path_pass(struct vigil_path_key *key)
{
	if (!(vigil_filter_flags & VIGIL_FILTER_PATH))
		return true;
	key->prefixlen = VIGIL_FILTER_PATH_MAX * 8;
	return bpf_map_lookup_elem(&vigil_filter_paths, key) != NULL;
}

/* --- maintained by the process sensor ------------------------------------ */

/* fork: the child inherits the parent's verdicts (a child of a --pid process
 * is in the tree; its binary is the parent's until it execs; a child of Vigil
 * or of its helpers is self). */
static __always_inline void vigil_filter_on_fork(__u32 parent_tgid, __u32 child_tgid)
{
	bool track = vigil_filter_flags & (VIGIL_FILTER_PID_TREE | VIGIL_FILTER_BINARY);
	struct vigil_tracked_task *p = NULL, t = {};
	__u32 zero = 0, *children;

	if (!track && !vigil_filter_self)
		return;
	if (vigil_filter_self && !track && parent_tgid != vigil_filter_self) {
		/* Only self matters: a child of a non-Vigil process needs no entry
		 * unless its parent is a helper (looked up only while one lives). */
		children = bpf_map_lookup_elem(&vigil_self_children, &zero);
		if (!children || !*children)
			return;
	}
	p = bpf_map_lookup_elem(&vigil_tracked, &parent_tgid);
	if (p)
		t = *p;
	if (track && bpf_map_lookup_elem(&vigil_filter_pids, &child_tgid))
		t.pid_tree = 1;
	t.self = vigil_filter_self && (parent_tgid == vigil_filter_self || t.self);
	if (!track && !t.self)
		return;
	if (t.self) {
		children = bpf_map_lookup_elem(&vigil_self_children, &zero);
		if (children)
			__sync_fetch_and_add(children, 1);
	}
	bpf_map_update_elem(&vigil_tracked, &child_tgid, &t, BPF_ANY);
}

/* exec: the binary verdict is recomputed from the new executable's absolute
 * path (key->path, root first). */
static __always_inline void vigil_filter_on_exec(__u32 tgid, struct vigil_path_key *binary)
{
	struct vigil_tracked_task *p, t = {};

	if (!(vigil_filter_flags & (VIGIL_FILTER_PID_TREE | VIGIL_FILTER_BINARY)))
		return;
	p = bpf_map_lookup_elem(&vigil_tracked, &tgid);
	if (p)
		t = *p;
	if (bpf_map_lookup_elem(&vigil_filter_pids, &tgid))
		t.pid_tree = 1;
	if (vigil_filter_flags & VIGIL_FILTER_BINARY) {
		binary->prefixlen = VIGIL_FILTER_PATH_MAX * 8;
		t.binary = bpf_map_lookup_elem(&vigil_filter_binaries, binary) != NULL;
	}
	bpf_map_update_elem(&vigil_tracked, &tgid, &t, BPF_ANY);
}

/* exit of the whole thread group. */
static __always_inline void vigil_filter_on_exit(__u32 tgid)
{
	bool track = vigil_filter_flags & (VIGIL_FILTER_PID_TREE | VIGIL_FILTER_BINARY);
	struct vigil_tracked_task *t;
	__u32 zero = 0, *children;

	if (vigil_filter_self) {
		/* Only while a helper lives is any entry marked self. */
		children = bpf_map_lookup_elem(&vigil_self_children, &zero);
		if (children && *children) {
			t = bpf_map_lookup_elem(&vigil_tracked, &tgid);
			if (t && t->self) {
				__sync_fetch_and_add(children, -1);
				if (!track)
					bpf_map_delete_elem(&vigil_tracked, &tgid);
			}
		}
	}
	if (track)
		bpf_map_delete_elem(&vigil_tracked, &tgid);
}

/* For sched_process_exit, which runs for every thread: the group is forgotten
 * once, at its leader's exit (tid == tgid). */
static __always_inline void vigil_filter_on_thread_exit(void)
{
	__u64 id = bpf_get_current_pid_tgid();

	if ((__u32)id == id >> 32)
		vigil_filter_on_exit(id >> 32);
}

#endif /* __VIGIL_FILTER_H */
