/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* TracingPolicy engine: the configuration user space writes and the records
 * bpf/policy.bpf.c sends (src/policy/engine.ts, src/policy/events.ts).
 *
 * One loaded object serves every policy. A policy is a set of hooks; each
 * hook is served by attachments of generic programs (syscall enter/exit
 * tracepoint, any tracepoint, uprobe) with a slot in these arrays. A uprobe's
 * BPF cookie is the hook's id; a tracepoint runs a program only once, so the
 * hooks on one tracepoint share one attachment whose cookie indexes
 * tp_hooks, the list of their ids (struct vigil_policy_tp_hooks):
 *
 *   hooks[id]          struct vigil_policy_hook: how to read each argument,
 *                      and the range of its selectors;
 *   selectors[i]       struct vigil_policy_selector: a range of filters
 *                      (ANDed) and up to VIGIL_POLICY_MAX_ACTIONS actions;
 *   filters[j]         struct vigil_policy_filter: one filter (matchArgs
 *                      entry, matchBinaries, matchPIDs, ...). Its values are
 *                      not here but in the inner maps of the value maps at
 *                      index `id` (array of maps, one inner map per filter,
 *                      sized for its values): a filter takes any number.
 *
 * The program walks a hook's selectors in order with bpf_loop, and each
 * selector's filters with bpf_loop; the first selector whose filters all
 * pass decides the actions. A hook with no selector posts every event.
 * Nothing reaches user space unless a selector matched and its actions post.
 *
 * Value maps (outer: BPF_MAP_TYPE_ARRAY_OF_MAPS, VIGIL_POLICY_MAX_FILTERS):
 *   values_int     hash  __u64 -> __u8     Equal/In of integers, pids,
 *                                          namespace inodes, Protocol,
 *                                          Family, State
 *   values_str     hash  char[256] -> __u8 Equal of strings/paths/binaries
 *                                          (NUL padded)
 *   values_prefix  LPM   vigil_policy_str_key  Prefix (and Postfix, whose
 *                                          keys are the reversed strings)
 *   values_cidr4   LPM   vigil_policy_cidr4_key  SAddr/DAddr IPv4
 *   values_cidr6   LPM   vigil_policy_cidr6_key  SAddr/DAddr IPv6
 *   values_ports   array 1024 x __u64      SPort/DPort: a bitmap of 65536
 *                                          ports (any number of ranges)
 *   values_range   array VIGIL_POLICY_MAX_RANGES x vigil_policy_range
 *                                          InMap/NotInMap integer ranges
 *
 * Bounded sizes (documented in docs/policy.md):
 *   - VIGIL_POLICY_MAX_ARGS arguments per hook, plus the return value;
 *   - a string, path or buffer argument keeps VIGIL_POLICY_ARG_MAX - 1 bytes;
 *     the blob of one event holds VIGIL_POLICY_DATA_MAX bytes (later
 *     arguments are cut, VIGIL_POLICY_ARG_TRUNC);
 *   - string comparisons see VIGIL_POLICY_STR_MAX - 1 bytes: Equal and
 *     Prefix the first ones, Postfix the last ones (values longer than that
 *     are refused at load, so Equal never matches a longer string wrongly);
 *   - a binary path is kept to VIGIL_POLICY_STR_MAX - 1 bytes.
 */
#ifndef __VIGIL_POLICY_H
#define __VIGIL_POLICY_H

enum vigil_policy_limits {
	VIGIL_POLICY_MAX_ARGS = 6,
	/* The return value's slot in the argument table (matchReturnArgs). */
	VIGIL_POLICY_RET_SLOT = 6,
	VIGIL_POLICY_SLOTS = 7,
	VIGIL_POLICY_ARG_MAX = 4096,
	VIGIL_POLICY_DATA_MAX = 16384,
	VIGIL_POLICY_STR_MAX = 256,
	VIGIL_POLICY_MAX_ACTIONS = 4,
	VIGIL_POLICY_MAX_HOOKS = 1024,
	VIGIL_POLICY_MAX_SELECTORS = 4096,
	VIGIL_POLICY_MAX_FILTERS = 8192,
	VIGIL_POLICY_MAX_POLICIES = 256,
	VIGIL_POLICY_MAX_RANGES = 64,
	/* Selectors of one hook and filters of one selector walked at most. */
	VIGIL_POLICY_HOOK_SELECTORS = 256,
	VIGIL_POLICY_SELECTOR_FILTERS = 64,
	/* Hooks whose Deny the cgroup sock_addr programs enforce. */
	VIGIL_POLICY_MAX_DENY = 64,
	/* Ancestors walked for followForks / followChildren. */
	VIGIL_POLICY_ANCESTORS = 32,
	/* Processes tracked for matchBinaries and exec-time ns/caps. */
	VIGIL_POLICY_MAX_PROCS = 32768,
	VIGIL_POLICY_STACK_DEPTH = 127,
	VIGIL_POLICY_COMM_LEN = 16,
	/* Bytes of each argument in a rate-limit key: the first 16 and last 8. */
	VIGIL_POLICY_RL_ARG_BYTES = 24,
	/* Steps of one argument's resolve path (struct vigil_policy_resolve). */
	VIGIL_POLICY_RESOLVE_STEPS = 16,
	/* Argument programs in arg_resolve (key: hook id << 3 | slot). */
	VIGIL_POLICY_MAX_RESOLVE = 8192,
};

/* The first __u32 of every policy record. */
enum vigil_policy_kind {
	VIGIL_POLICY_EVENT = 0x504f4c59, /* "POLY" */
};

/* Which program reads a hook (how its context is laid out). */
enum vigil_policy_source {
	/* A tracepoint record (syscalls:sys_enter_*, raw_syscalls, any tracepoint). */
	VIGIL_POLICY_SRC_TRACEPOINT = 1,
	/* A uprobe / uretprobe: pt_regs. */
	VIGIL_POLICY_SRC_REGS = 2,
	/* A cgroup sock_addr program (Deny): sockaddr and fd/sock arguments only. */
	VIGIL_POLICY_SRC_SOCK_ADDR = 3,
	/* A raw tracepoint: the TP_PROTO arguments, 8 bytes each (LOC_RECORD at 8 * i). */
	VIGIL_POLICY_SRC_RAW_TP = 4,
	/* fentry, fexit, BPF-LSM: the function's arguments, 8 bytes each
	 * (LOC_RECORD at 8 * i); fexit's return value after them. */
	VIGIL_POLICY_SRC_TRACING = 5,
};

/* vigil_policy_hook.flags */
enum vigil_policy_hook_flag {
	/* Judged at the exit (syscall exit tracepoint or uretprobe): the
	 * arguments are captured at entry (and the selectors pre-checked without
	 * their matchReturnArgs, so an entry no selector can match is not
	 * stashed), stashed per thread and hook, completed and judged at exit.
	 * Otherwise the hook is judged at entry. */
	VIGIL_POLICY_HOOK_AT_EXIT = 1 << 0,
	/* The hooked function's return value is in the tracepoint's own record
	 * (capability:cap_capable's ret): read at entry from hook.ret. */
	VIGIL_POLICY_HOOK_RET_AT_ENTRY = 1 << 1,
	/* The return value stands for a security check's: min(ret, 0) (0
	 * allowed, -errno refused). */
	VIGIL_POLICY_HOOK_RET_ERR = 1 << 2,
	/* Judged at the exit with nothing read at the entry (every argument is
	 * the return value, read at the exit, or a constant; every condition is
	 * on the return value): only the exit is attached, and the record is
	 * built there, with no stash (the open family serving security_file_open). */
	VIGIL_POLICY_HOOK_EXIT_ONLY = 1 << 3,
	/* Some selector has a process filter (binaries, pids, namespaces,
	 * capabilities): the pass over them before the capture is worth it. */
	VIGIL_POLICY_HOOK_PROC_FILTERS = 1 << 4,
	/* A hook judged at exit whose syscall changes the caller's credentials
	 * (unshare/setns into a user namespace) while the function it stands
	 * for saw the old ones: capability and namespace filters are judged at
	 * the entry, and the exit keeps that verdict (one selector at most has
	 * them, so the verdict is the hook's). */
	VIGIL_POLICY_HOOK_CREDS_AT_ENTRY = 1 << 5,
	/* The policy is scoped to pods (TracingPolicyNamespaced, podSelector,
	 * containerSelector): the hook runs only for tasks whose cgroup v2 id
	 * is in the policy's set (map scope_cgroups, key struct
	 * vigil_policy_scope_key), checked before anything else; an empty set
	 * matches nothing. User space keeps the set (src/policy/pod-scope.ts). */
	VIGIL_POLICY_HOOK_SCOPED = 1 << 6,
};

/* A key of scope_cgroups: (the policy's slot, a cgroup v2 id). */
struct vigil_policy_scope_key {
	__u32 policy;
	__u32 pad;
	__u64 cgroup;	/* bpf_get_current_cgroup_id(): the directory's inode */
};

enum vigil_policy_scope_limits {
	/* (policy, cgroup) pairs of every scoped policy together. */
	VIGIL_POLICY_MAX_SCOPED = 16384,
};

/* Where an argument's word comes from. */
enum vigil_policy_loc {
	VIGIL_POLICY_LOC_NONE = 0,	/* nothing to read (CRED, CURRENT_EXE) */
	VIGIL_POLICY_LOC_RECORD = 1,	/* the tracepoint record at offset, size bytes */
	VIGIL_POLICY_LOC_REG = 2,	/* function argument `offset` (pt_regs) */
	VIGIL_POLICY_LOC_RET = 3,	/* the return value: captured at exit */
	VIGIL_POLICY_LOC_CONST = 4,	/* arg.value */
	VIGIL_POLICY_LOC_TASK = 5,	/* the current task (struct task_struct *) */
};

/* How an argument is read and what it becomes. */
enum vigil_policy_arg_type {
	VIGIL_POLICY_ARG_NONE = 0,
	VIGIL_POLICY_ARG_S64 = 1,	/* int/long/s64/s32/s16/s8 (sign-extended from size) */
	VIGIL_POLICY_ARG_U64 = 2,	/* uint/size_t/u64/u32/... (zero-extended) */
	VIGIL_POLICY_ARG_STRING = 3,	/* NUL-terminated string at a user address */
	VIGIL_POLICY_ARG_KSTRING = 4,	/* ... at a kernel address */
	VIGIL_POLICY_ARG_DATA_LOC = 5,	/* tracepoint __data_loc char[] (in the record) */
	VIGIL_POLICY_ARG_CHAR_BUF = 6,	/* user buffer: size from size_arg or max_data */
	VIGIL_POLICY_ARG_FD = 7,	/* fd: becomes FILE (its path) or SOCK */
	VIGIL_POLICY_ARG_PATH_AT = 8,	/* user path made absolute against dirfd arg (or cwd) */
	VIGIL_POLICY_ARG_SOCKADDR = 9,	/* user struct sockaddr: becomes SOCK (or UNIX path) */
	VIGIL_POLICY_ARG_CRED = 10,	/* the current task's credentials (struct vigil_policy_cred) */
	VIGIL_POLICY_ARG_CHAR_ARRAY = 11, /* char[size] inside the tracepoint record */
	VIGIL_POLICY_ARG_CURRENT_EXE = 12, /* the current task's executable: becomes FILE */
	VIGIL_POLICY_ARG_USER_STRUCT = 13, /* size bytes at a user address (+ a string, see arg.value) */
	/* Kernel pointers (tracepoint fields, raw tracepoint arguments). */
	VIGIL_POLICY_ARG_KFILE = 14,	/* struct file *: becomes FILE */
	VIGIL_POLICY_ARG_KBINPRM = 15,	/* struct linux_binprm *: its file, becomes FILE */
	VIGIL_POLICY_ARG_KSOCK = 16,	/* struct sock *: becomes SOCK */
	VIGIL_POLICY_ARG_KSOCKET = 17,	/* struct socket *: becomes SOCK */
	VIGIL_POLICY_ARG_KCRED = 18,	/* struct cred *: becomes CRED */
	VIGIL_POLICY_ARG_KUSER_NS = 19,	/* struct user_namespace *: struct vigil_policy_user_ns */
	VIGIL_POLICY_ARG_KSKB = 20,	/* struct sk_buff *: becomes SOCK from its headers (value: len) */
	VIGIL_POLICY_ARG_KPATH = 21,	/* struct path *: becomes FILE (its path, no flags) */
	VIGIL_POLICY_ARG_KFILENAME = 22, /* struct filename *: its name (a kernel string) */
	VIGIL_POLICY_ARG_KKIOCB = 23,	/* struct kiocb *: its file, becomes FILE */
	/* Kernel BPF objects, captured as USER_STRUCT in union bpf_attr's layout
	 * (BPF_PROG_LOAD / BPF_MAP_CREATE fields), so they decode as bpf(2)'s. */
	VIGIL_POLICY_ARG_KBPF_ATTR = 24,	/* union bpf_attr * (the kernel's copy) */
	VIGIL_POLICY_ARG_KBPF_MAP = 25,	/* struct bpf_map * */
	VIGIL_POLICY_ARG_KBPF_PROG = 26,	/* struct bpf_prog * */
	/* The current task's working directory (task->fs->pwd): becomes FILE. */
	VIGIL_POLICY_ARG_CURRENT_CWD = 27,
	/* capset(2)'s struct __user_cap_data_struct[2] at a user address: one
	 * 64-bit set (value: its offset, 0 effective, 4 permitted, 8 inheritable),
	 * the header's version read through size_loc/size_at: becomes U64. */
	VIGIL_POLICY_ARG_USER_CAPS = 28,
	/* Captured-only types (what FD / SOCKADDR resolved to). */
	VIGIL_POLICY_ARG_FILE = 32,	/* path, value: f_flags | i_mode << 32 */
	VIGIL_POLICY_ARG_SOCK = 33,	/* struct vigil_policy_sock */
	VIGIL_POLICY_ARG_UNIX = 34,	/* AF_UNIX sockaddr: sun_path (value: family) */
};

/* vigil_policy_arg.flags (spec) and vigil_policy_arg_value.flags (captured). */
enum vigil_policy_arg_flag {
	/* spec: reserved (returnCopy is size_loc == LOC_RET). */
	VIGIL_POLICY_ARG_RETURN_COPY = 1 << 0,
	/* spec: the value is signed (sign-extend, GT/LT compare signed). */
	VIGIL_POLICY_ARG_SIGNED = 1 << 1,
	/* captured: cut to the limits above. */
	VIGIL_POLICY_ARG_TRUNC = 1 << 2,
	/* captured: could not be read (bad pointer, closed fd, ...). */
	VIGIL_POLICY_ARG_ERROR = 1 << 3,
	/* captured: data not captured (the blob is full). */
	VIGIL_POLICY_ARG_NODATA = 1 << 4,
	/* captured: to be completed at the exit. */
	VIGIL_POLICY_ARG_PENDING = 1 << 5,
	/* spec: the word is a user address; the value is `size` bytes at word + arg.value. */
	VIGIL_POLICY_ARG_DEREF_USER = 1 << 6,
	/* spec: LOC_RET as an error: min(ret, 0). */
	VIGIL_POLICY_ARG_ERR_ONLY = 1 << 7,
};

/* How to read one argument (in struct vigil_policy_hook). A "word" is read
 * from loc/offset/size; size_* and dirfd_* name two more words the same way
 * (loc, offset or register index, bytes). */
struct vigil_policy_arg {
	__u16 type;		/* enum vigil_policy_arg_type */
	__u8 loc;		/* enum vigil_policy_loc */
	__u8 flags;		/* enum vigil_policy_arg_flag (spec bits) */
	__u16 offset;		/* LOC_RECORD: byte offset; LOC_REG: argument index */
	__u16 size;		/* bytes of the word (1, 2, 4, 8); CHAR_ARRAY: its length; USER_STRUCT: bytes */
	__u8 size_loc;		/* CHAR_BUF: where its size is (LOC_RET: the return value, at exit); 0: max_data */
	__u8 size_size;
	__u16 size_at;
	__u8 dirfd_loc;		/* PATH_AT: where the directory fd is; 0: the cwd */
	__u8 resolve;		/* 1: the word is an address to follow with the argument's
				 * struct vigil_policy_resolve (arg_resolve[hook << 3 | slot]) */
	__u16 dirfd_at;
	__u32 max_data;		/* CHAR_BUF: bytes at most (capped at VIGIL_POLICY_ARG_MAX - 1; 0: the cap) */
	__u32 pad2;
	__u64 value;		/* LOC_CONST: the value; DEREF_USER: offset added to the address;
				 * USER_STRUCT: offset in the struct of a user string pointer to
				 * append (0: none) */
};

/* A `resolve` path of struct members, as steps from the argument's word v
 * (an address): for each step, v += offset, then when deref v = the 8-byte
 * pointer at v. Then, when load is set, v = the `load` bytes at v, shifted
 * right by `shift` and cut to `bits` (sign-extended when is_signed): the
 * member's value; otherwise v is the member's address (a string, an array,
 * an embedded struct). Reads are of kernel memory (falling back to user
 * memory, for __user pointers), or of user memory when `user` is set (a
 * syscall's arguments). A failed read makes the argument ARG_ERROR. */
struct vigil_policy_resolve_step {
	__u32 offset;
	__u32 deref;
};

struct vigil_policy_resolve {
	__u32 nsteps;
	__u8 user;
	__u8 load;		/* bytes: 1, 2, 4, 8; 0: keep the address */
	__u8 shift;
	__u8 bits;
	__u8 is_signed;
	__u8 pad[7];
	struct vigil_policy_resolve_step steps[VIGIL_POLICY_RESOLVE_STEPS];
};

/* A condition on the attachment's own record, checked before anything else
 * (portable hooks: "bpf(2) with cmd BPF_PROG_LOAD", "the fd is a TCP
 * socket", raw_syscalls' id). Conditions of a hook are ANDed. */
enum vigil_policy_cond_test {
	VIGIL_POLICY_COND_VALUE = 1,	/* where's word (sign-extended) op value, unsigned */
	VIGIL_POLICY_COND_FD_SOCKET = 2,	/* where's word is an fd of a socket of `families` (+ protocol) */
	VIGIL_POLICY_COND_FD_OP = 3,	/* where's word is an fd whose f_op member (`protocol`: enum
					 * vigil_policy_fd_op) is the function at `value` */
};

/* The file_operations member a COND_FD_OP compares. */
enum vigil_policy_fd_op {
	VIGIL_POLICY_FD_OP_UNLOCKED_IOCTL = 0,
	VIGIL_POLICY_FD_OP_WRITE_ITER = 1,
};

enum vigil_policy_cond_op {
	VIGIL_POLICY_COND_EQ = 1,
	VIGIL_POLICY_COND_NE = 2,
	VIGIL_POLICY_COND_GE = 3,
	VIGIL_POLICY_COND_LT = 4,
	VIGIL_POLICY_COND_MASK = 5,
};

struct vigil_policy_cond {
	struct vigil_policy_arg where;	/* type S64/U64 */
	__u8 test;			/* enum vigil_policy_cond_test */
	__u8 op;			/* enum vigil_policy_cond_op */
	__u16 protocol;			/* FD_SOCKET: IPPROTO_* + 1; 0: any */
	__u32 pad;
	__u64 value;			/* VALUE: operand */
	__u64 families;			/* FD_SOCKET: bit (1 << family); 0: any */
};

/*
 * The prefilter (vigil_policy_hook.prefilter): an open is judged on the
 * file's path, which costs a walk of its dentries and mounts. Where every
 * selector of a hook needs, among its ANDed filters, one that a file's
 * last or first path component decides (Equal "/etc/shadow" needs the name
 * "shadow"; Postfix "/.ssh/id_rsa" the name "id_rsa"; Prefix
 * "/etc/sudoers.d/" the first component "etc"), the kernel checks those
 * components first (the name: one read; the first component: a walk that
 * reads no names) and drops an event that none of them allows, uncounted
 * as matched, before anything is captured. The components allowed are keys
 * of the LPM trie `prefilter`, per kernel hook: kind LEAF, the name + '/';
 * kind TOP, the value up to its second '/' ("/etc/"; "/et" for a value
 * "/et": a prefix of the first component). Anything the check cannot read
 * for sure (a mount's root, a path the walk would cut) passes to the full
 * judgement.
 */
enum vigil_policy_prefilter_flag {
	VIGIL_POLICY_PF_SLOT = 7,		/* bits 0-2: the argument slot (a file or fd) */
	VIGIL_POLICY_PF_LEAF = 1 << 3,		/* some selector allows by the file's name */
	VIGIL_POLICY_PF_TOP = 1 << 4,		/* some selector allows by the first component */
};

enum vigil_policy_prefilter_limits {
	/* Bytes of a component in a key; longer names allowed by a policy
	 * leave its hook without a prefilter. */
	VIGIL_POLICY_PF_NAME_MAX = 64,
	VIGIL_POLICY_PF_ENTRIES = 8192,
};

enum vigil_policy_prefilter_kind {
	VIGIL_POLICY_PF_KIND_LEAF = 'L',
	VIGIL_POLICY_PF_KIND_TOP = 'T',
};

/*
 * The prefilter's verdicts, cached per CPU by file: the name and the first
 * component of a file opened again are not read again. An entry is the
 * file's dentry and mount, the task's root (chroot), the kernel hook, and
 * what it is checked against on every use: the dentry's parent and its
 * name's hash and length (a rename of the file itself, or a dentry freed
 * and reused), and `pf_gen`. pf_gen[VIGIL_POLICY_PF_GEN_MOVED] is bumped
 * by the kernel at the exit of every syscall that moves a directory or a
 * mount (rename, mount, umount, move_mount, pivot_root, ...: a directory
 * above the file may now have another name); pf_gen[VIGIL_POLICY_PF_GEN_CONFIG]
 * by user space when prefilter keys change, 0 while the moves are not
 * watched (the cache is then off).
 */
enum vigil_policy_prefilter_cache {
	VIGIL_POLICY_PF_CACHE_BITS = 10,
	VIGIL_POLICY_PF_CACHE_SLOTS = 1 << VIGIL_POLICY_PF_CACHE_BITS,
	VIGIL_POLICY_PF_GEN_MOVED = 0,
	VIGIL_POLICY_PF_GEN_CONFIG = 1,
};

/* A key of `prefilter` (LPM trie: prefixlen counts the bits after it). */
struct vigil_policy_pf_key {
	__u32 prefixlen;
	__u32 hook;		/* the kernel hook id: always compared */
	__u8 kind;		/* enum vigil_policy_prefilter_kind */
	__u8 text[VIGIL_POLICY_PF_NAME_MAX + 3];	/* "name/" or "/top/" */
};

enum vigil_policy_hook_limits {
	VIGIL_POLICY_MAX_CONDS = 4,
};

struct vigil_policy_hook {
	__u32 policy;		/* the policy's slot (counters) */
	__u32 flags;		/* enum vigil_policy_hook_flag */
	__u32 source;		/* enum vigil_policy_source */
	__u32 nargs;
	__u32 first_selector;	/* selectors[first_selector .. + nselectors) */
	__u32 nselectors;
	__u32 nconds;
	__u32 prefilter;	/* enum vigil_policy_prefilter_flag | argument slot; 0: none */
	struct vigil_policy_arg args[VIGIL_POLICY_MAX_ARGS];
	struct vigil_policy_cond conds[VIGIL_POLICY_MAX_CONDS];
	struct vigil_policy_arg ret;	/* HOOK_RET_AT_ENTRY: where the return value is */
};

enum vigil_policy_action_kind {
	VIGIL_POLICY_ACT_POST = 0,
	VIGIL_POLICY_ACT_NOPOST = 1,
	VIGIL_POLICY_ACT_SIGKILL = 2,
	VIGIL_POLICY_ACT_SIGNAL = 3,
	/* Vigil's Deny: the cgroup sock_addr programs refuse connect/sendmsg. */
	VIGIL_POLICY_ACT_DENY = 4,
	/* NotifyEnforcer with argSig: a signal, as Tetragon's enforcer sends. */
	VIGIL_POLICY_ACT_NOTIFY_ENFORCER = 5,
	/* Override: the hook returns action.error (BPF-LSM's return value). */
	VIGIL_POLICY_ACT_OVERRIDE = 6,
	VIGIL_POLICY_ACTION_KINDS = 7,
};

enum vigil_policy_scope {
	VIGIL_POLICY_SCOPE_THREAD = 0,
	VIGIL_POLICY_SCOPE_PROCESS = 1,
	VIGIL_POLICY_SCOPE_GLOBAL = 2,
};

/* vigil_policy_action.flags */
enum vigil_policy_action_flag {
	VIGIL_POLICY_KERNEL_STACK = 1 << 0,
	VIGIL_POLICY_USER_STACK = 1 << 1,
};

struct vigil_policy_action {
	__u32 kind;		/* enum vigil_policy_action_kind */
	__u32 signal;		/* SIGNAL / NOTIFY_ENFORCER / SIGKILL (9) */
	__u64 rate_ns;		/* POST: one identical event per rate_ns in the scope; 0: all */
	__u32 scope;		/* enum vigil_policy_scope */
	__u32 flags;		/* enum vigil_policy_action_flag */
	__s32 error;		/* OVERRIDE: the error returned (-errno) */
	__u32 pad;
};

struct vigil_policy_selector {
	__u32 first_filter;	/* filters[first_filter .. + nfilters) */
	__u32 nfilters;
	__u32 nactions;
	__u32 index;		/* its position in the hook's selectors (reported) */
	struct vigil_policy_action actions[VIGIL_POLICY_MAX_ACTIONS];
};

enum vigil_policy_filter_kind {
	VIGIL_POLICY_F_ARG = 1,		/* matchArgs / matchReturnArgs (arg: slot) */
	VIGIL_POLICY_F_BINARY = 2,	/* matchBinaries */
	VIGIL_POLICY_F_PID = 3,		/* matchPIDs */
	VIGIL_POLICY_F_NS = 4,		/* matchNamespaces (arg: enum vigil_policy_ns) */
	VIGIL_POLICY_F_NS_CHANGE = 5,	/* matchNamespaceChanges (value: mask of 1 << ns) */
	VIGIL_POLICY_F_CAP = 6,		/* matchCapabilities (arg: enum vigil_policy_cap_set, value: mask) */
	VIGIL_POLICY_F_CAP_CHANGE = 7,	/* matchCapabilityChanges */
};

/* Positive operators; VIGIL_POLICY_NEG in flags negates one (NotEqual,
 * NotIn, NotPrefix, NotPostfix, NotSAddr, NotDAddr, NotSPort, NotDPort,
 * NotInMap). A negated filter's values are thus ANDed: "not any of them". */
enum vigil_policy_op {
	VIGIL_POLICY_OP_EQUAL = 1,	/* In, Equal: the value (or string, binary) is one of the values */
	VIGIL_POLICY_OP_PREFIX = 2,
	VIGIL_POLICY_OP_POSTFIX = 3,
	VIGIL_POLICY_OP_GT = 4,		/* > value (one value) */
	VIGIL_POLICY_OP_LT = 5,		/* < value */
	VIGIL_POLICY_OP_MASK = 6,	/* value & mask != 0 (masks ORed) */
	VIGIL_POLICY_OP_IN_MAP = 7,	/* in the values or one of the ranges */
	VIGIL_POLICY_OP_SADDR = 8,
	VIGIL_POLICY_OP_DADDR = 9,
	VIGIL_POLICY_OP_SPORT = 10,
	VIGIL_POLICY_OP_DPORT = 11,
	VIGIL_POLICY_OP_PROTOCOL = 12,
	VIGIL_POLICY_OP_FAMILY = 13,
	VIGIL_POLICY_OP_STATE = 14,
};

/* vigil_policy_filter.flags */
enum vigil_policy_filter_flag {
	VIGIL_POLICY_NEG = 1 << 0,
	/* matchPIDs followForks, matchBinaries followChildren: an ancestor's
	 * match counts too. */
	VIGIL_POLICY_FOLLOW = 1 << 1,
	/* matchPIDs isNamespacePID: the pid in the task's own pid namespace. */
	VIGIL_POLICY_NSPID = 1 << 2,
	/* matchCapabilities isNamespaceCapability: only outside the host user
	 * namespace (value2: its inode). */
	VIGIL_POLICY_NSCAP = 1 << 3,
};

struct vigil_policy_filter {
	__u8 kind;		/* enum vigil_policy_filter_kind */
	__u8 op;		/* enum vigil_policy_op */
	__u8 arg;		/* F_ARG: slot; F_NS: namespace; F_CAP*: capability set */
	__u8 flags;		/* enum vigil_policy_filter_flag */
	__u32 id;		/* index in the value maps */
	__u64 value;		/* GT/LT operand, Mask, capability or namespace mask */
	__u64 value2;		/* NSCAP: host user namespace inode; IN_MAP: number of ranges */
};

/* Namespaces, in Tetragon's order. */
enum vigil_policy_ns {
	VIGIL_POLICY_NS_UTS = 0,
	VIGIL_POLICY_NS_IPC = 1,
	VIGIL_POLICY_NS_MNT = 2,
	VIGIL_POLICY_NS_PID = 3,
	VIGIL_POLICY_NS_PID_FOR_CHILDREN = 4,
	VIGIL_POLICY_NS_NET = 5,
	VIGIL_POLICY_NS_TIME = 6,
	VIGIL_POLICY_NS_TIME_FOR_CHILDREN = 7,
	VIGIL_POLICY_NS_CGROUP = 8,
	VIGIL_POLICY_NS_USER = 9,
	VIGIL_POLICY_NS_COUNT = 10,
};

enum vigil_policy_cap_set {
	VIGIL_POLICY_CAP_EFFECTIVE = 0,
	VIGIL_POLICY_CAP_PERMITTED = 1,
	VIGIL_POLICY_CAP_INHERITABLE = 2,
};

/* LPM keys. */
struct vigil_policy_str_key {
	__u32 prefixlen;
	__u8 data[VIGIL_POLICY_STR_MAX];
};

struct vigil_policy_cidr4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct vigil_policy_cidr6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* InMap ranges: lo <= value <= hi (signed compare when the arg is signed). */
struct vigil_policy_range {
	__u64 lo;
	__u64 hi;
};

/* A socket or socket address, as an argument's data. Addresses in network
 * order; IPv4 in the first 4 bytes. Ports in host order. A sockaddr (connect,
 * sendto, bind) has its address as both source and destination: SAddr and
 * DAddr (SPort, DPort) both match it. */
struct vigil_policy_sock {
	__u16 family;
	__u16 type;		/* SOCK_STREAM, ... (0 for a sockaddr) */
	__u16 protocol;		/* IPPROTO_* (0 for a sockaddr) */
	__u16 state;		/* TCP state (0 for a sockaddr) */
	__u16 sport;
	__u16 dport;
	__u32 pad;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* The current task's credentials (ARG_CRED). */
struct vigil_policy_cred {
	__u32 uid, gid, euid, egid, suid, sgid, fsuid, fsgid;
	__u64 cap_effective;
	__u64 cap_permitted;
	__u64 cap_inheritable;
	__u32 user_ns;
	__u32 securebits;
};

/* A user namespace (ARG_KUSER_NS). */
struct vigil_policy_user_ns {
	__s32 level;
	__u32 uid;
	__u32 gid;
	__u32 inum;
};

/* One captured argument in the record header; its data (if any) at
 * data[off .. off + len) of the blob. */
struct vigil_policy_arg_value {
	__u16 type;		/* enum vigil_policy_arg_type as captured (FD -> FILE/SOCK) */
	__u16 flags;		/* enum vigil_policy_arg_flag (captured bits) */
	__u16 off;
	__u16 len;
	__u64 value;		/* integers; FILE: f_flags | i_mode << 32; CHAR_BUF: size asked; pointers */
};

/* vigil_policy_event.flags */
enum vigil_policy_event_flag {
	VIGIL_POLICY_EV_RET = 1 << 0,	/* ret holds the syscall's return value */
	VIGIL_POLICY_EV_DENIED = 1 << 1,	/* from a cgroup sock_addr program: the syscall was refused */
};

/* One matched event, sent when its selector's actions post it: this header
 * then the blob (data_len bytes). */
struct vigil_policy_event {
	__u32 kind;			/* VIGIL_POLICY_EVENT */
	__u32 hook;			/* hook id (the attachment's cookie) */
	__u32 policy;			/* policy slot */
	__u32 selector;			/* index of the matching selector in the hook (0 with no selectors) */
	__u64 ktime;			/* CLOCK_BOOTTIME ns (entry) */
	__u64 start_boottime;		/* the process's start (group leader), boot ns */
	__u64 cgroup_id;
	__s64 ret;			/* EV_RET */
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 gid;
	__s32 kernel_stack;		/* frames of the kernel stack at data[kstack_off], or < 0 */
	__s32 user_stack;		/* user_stacks map id, or < 0 */
	__u32 actions;			/* bit (1 << enum vigil_policy_action_kind) per action taken */
	__u32 signal;			/* the signal sent (Sigkill 9, Signal's argSig) */
	__u32 flags;			/* enum vigil_policy_event_flag */
	__u32 data_len;
	__s32 nr;			/* syscall number (entry/exit pairing) */
	__u32 nargs;
	__u32 kstack_off;		/* blob offset of the kernel stack's addresses (__u64 each) */
	__u32 pad;
	char comm[VIGIL_POLICY_COMM_LEN];
	struct vigil_policy_arg_value args[VIGIL_POLICY_SLOTS];
};

/* Per-policy counters (per-CPU array, index = policy slot). */
enum vigil_policy_counter {
	VIGIL_POLICY_C_EVALUATED = 0,	/* events whose selectors were evaluated */
	VIGIL_POLICY_C_MATCHED = 1,	/* a selector matched */
	VIGIL_POLICY_C_POSTED = 2,	/* records sent */
	VIGIL_POLICY_C_RATE_LIMITED = 3,	/* posts skipped by rateLimit */
	VIGIL_POLICY_C_LOST = 4,	/* posts lost (ring full, stash full) */
	VIGIL_POLICY_C_ACTIONS = 5,	/* + enum vigil_policy_action_kind: actions taken */
	VIGIL_POLICY_COUNTERS = 12,
};

/* Room for 16: an index masked with 15 is bounded for every verifier,
 * whatever the compiler makes of the range check. */
enum vigil_policy_counter_slots {
	VIGIL_POLICY_COUNTER_SLOTS = 16,
};

struct vigil_policy_counters {
	__u64 c[VIGIL_POLICY_COUNTER_SLOTS];
};

/* What the process table keeps per thread group. */
struct vigil_policy_proc {
	__u64 start_boottime;
	__u64 caps[3];			/* at exec: enum vigil_policy_cap_set */
	__u32 ns[VIGIL_POLICY_NS_COUNT];	/* at exec */
	__u32 ppid;
	__u16 bin_len;			/* bytes of bin (no NUL); VIGIL_POLICY_STR_MAX: longer, cut */
	__u16 flags;
	__u8 bin[VIGIL_POLICY_STR_MAX];	/* the executable's absolute path, NUL padded */
};

/* A tracepoint can run a given program once, so the hooks on one tracepoint
 * share one attachment: its cookie is a slot here, listing their ids (one
 * list per tracepoint and program). */
enum vigil_policy_tp_limits {
	VIGIL_POLICY_MAX_TP = 1024,
	VIGIL_POLICY_TP_HOOKS = 32,
};

struct vigil_policy_tp_hooks {
	__u32 count;
	__u32 raw;		/* some hook waits for a syscall number (nrs): read the record's id */
	__u32 hooks[VIGIL_POLICY_TP_HOOKS];
	/* raw_syscalls hooks: the syscall number the hook waits for (the
	 * record's id, checked before anything else runs); -1: every event. */
	__s32 nrs[VIGIL_POLICY_TP_HOOKS];
};

/*
 * raw_syscalls served by raw tracepoints (policy_rawenter/exit): a
 * syscall without a tracepoint of its own is caught on raw_syscalls, which
 * every syscall of the host passes. A raw tracepoint program gets the
 * registers without the record a tracepoint program costs the kernel to
 * fill, and drops every syscall whose bit is clear in nrs in a handful of
 * instructions; a wanted one gets its record built (the syscalls
 * tracepoint layout: id at 8, arguments or return value from 16) and goes
 * through the tracepoint slot's hooks. raw_sys[0] is sys_enter's, [1] sys_exit's.
 */
enum vigil_policy_raw_sys_limits {
	VIGIL_POLICY_RAW_NRS = 1024,	/* syscall numbers below this */
};

struct vigil_policy_raw_sys {
	__u32 slot;		/* the tp_hooks slot */
	__u32 pad;
	__u64 nrs[VIGIL_POLICY_RAW_NRS / 64];	/* bit nr: some hook waits for syscall nr */
};

/* Deny hooks for the cgroup sock_addr programs (one map entry, replaced
 * whole). */
enum vigil_policy_deny_kind {
	VIGIL_POLICY_DENY_CONNECT = 1 << 0,
	VIGIL_POLICY_DENY_SENDMSG = 1 << 1,
};

struct vigil_policy_deny_set {
	__u32 count;
	__u32 pad;
	__u32 hooks[VIGIL_POLICY_MAX_DENY];
	__u32 kinds[VIGIL_POLICY_MAX_DENY];	/* enum vigil_policy_deny_kind */
};

#endif /* __VIGIL_POLICY_H */
