// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* File syscalls: one vigil_file_event per completed open/openat/openat2/creat,
 * unlink/unlinkat, rename/renameat/renameat2, mkdir/mkdirat, rmdir,
 * link/linkat, symlink/symlinkat, chmod/fchmodat/fchmodat2,
 * chown/fchownat/lchown, truncate (bpf/include/vigil/file.h).
 *
 * Entry (syscalls:sys_enter_<name>, one program per syscall): the task
 * filters first, so a filtered task costs only their map lookups and nothing
 * is stashed; then the names are read and made absolute, in a per-CPU
 * scratch record; then the path prefix filter on the absolute path(s); a
 * record that passes is stashed under the thread id.
 *
 * Exit (syscalls:sys_exit_<name>, one program attached to each): the stashed
 * record gets the result and goes to the ring with only the bytes used. A
 * name the entry could not read (its page not resident yet: FAULTED) is read,
 * resolved and filtered at exit instead.
 *
 * The stash is two hash maps: records whose blob fits STASH_SMALL_DATA bytes
 * (nearly all) go to the small one, so an entry copies under 400 bytes rather
 * than the 8 KiB a record with two maximal paths needs. A full stash (more
 * syscalls in flight than it holds) or a full ring counts the event as lost.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/ringbuf.h"
#include "vigil/filter.h"
#include "vigil/path.h"
#include "vigil/file.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps the header's enums in BTF for codegen (src/generated/file.ts). */
const enum vigil_file_limits *unused_vigil_file_limits __attribute__((unused));
const enum vigil_file_kind *unused_vigil_file_kind __attribute__((unused));
const enum vigil_file_op *unused_vigil_file_op __attribute__((unused));
const enum vigil_file_syscall *unused_vigil_file_syscall __attribute__((unused));
const enum vigil_file_status *unused_vigil_file_status __attribute__((unused));

#define AT_FDCWD -100
#define AT_REMOVEDIR 0x200
#define AT_SYMLINK_NOFOLLOW 0x100
/* Same values on every architecture (asm-generic/fcntl.h). */
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000
#define __O_TMPFILE 020000000

/*
 * Offsets are masked so the verifier can bound every write. The blob holds
 * path at 0 and target at path_len (<= VIGIL_FILE_PATH_MAX); a write of up
 * to VIGIL_FILE_PATH_MAX bytes (a string read, its NUL included) may start at any
 * masked offset, so each
 * buffer has that much room past the mask.
 */
#define MASK (VIGIL_FILE_DATA_MAX - 1)
#define BUF_SIZE (MASK + 1 + VIGIL_FILE_PATH_MAX)
/* Where a relative name's directory ends in the work buffer: '/' goes here,
 * the name after it. */
#define DIR_END VIGIL_FILE_PATH_MAX

_Static_assert((MASK & (MASK + 1)) == 0, "mask is 2^k - 1");
_Static_assert(VIGIL_PATH_SLACK <= VIGIL_FILE_PATH_MAX, "room for path.h's writes");
_Static_assert(DIR_END + 1 + VIGIL_FILE_PATH_MAX <= BUF_SIZE, "name after the directory fits");
_Static_assert(sizeof(struct vigil_file_event) % 8 == 0, "blob starts 8-aligned");

struct file_scratch {
	struct vigil_file_event event;	/* the record: header ... */
	__u8 data[BUF_SIZE];		/* ... then the blob */
	__u8 work[BUF_SIZE];		/* a relative name's directory + '/' + name */
	struct vigil_path_key key;	/* the prefix filter's key */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_scratch);
} file_scratch SEC(".maps");

#define STASH_SMALL_DATA 256

struct stash_small {
	struct vigil_file_event event;
	__u8 data[STASH_SMALL_DATA];
};

struct stash_large {
	struct vigil_file_event event;
	__u8 data[VIGIL_FILE_DATA_MAX];
};

/* Syscalls in flight, by thread id. Resized from user space (stashEntries). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct stash_small);
} stash_small SEC(".maps");

/* Rarely used: allocated per entry rather than reserved up front. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct stash_large);
} stash_large SEC(".maps");

/* Resized from user space before load (FileSensor's ringBytes). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

/* The names of one syscall: user addresses and the directories they are
 * relative to. Kept for the exit when a name could not be read at entry. */
struct file_names {
	const char *path;
	const char *target;
	int dfd;
	int dfd2;
	__u32 status;		/* the record's status before resolution */
	__u32 target_literal;
};

/* One syscall's arguments, as its entry program found them. */
struct file_args {
	__u16 syscall;
	__u16 op;
	__u32 status;
	int dfd;
	int dfd2;
	const char *path;
	const char *target;
	__u64 flags;
	__u64 resolve;
	__s64 length;
	__u32 mode;
	__u32 owner_uid;
	__u32 owner_gid;
	bool target_literal;
};

/* Names that faulted at entry, by thread id (see FAULTED). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct file_names);
} retry SEC(".maps");

/*
 * Set in status (never sent) when reading a name faulted at entry: the page
 * holding the string was not resident yet (a literal in a binary's
 * not-yet-touched .rodata, say), and a tracepoint may not fault it in. The
 * syscall itself faults it in, so the exit reads and resolves the names
 * again, and decides the path filter then.
 */
#define FAULTED (1u << 31)
#define EFAULT 14

/*
 * The syscall number in a syscalls:sys_{enter,exit}_<name> record: an int at
 * offset 8 ("__syscall_nr"), where the vmlinux struct has a long. The four
 * bytes after it are padding the kernel does not clear: never compare them.
 */
static __always_inline __s32 syscall_nr(long id)
{
	return (__s32)id;
}

/* The directory a relative name starts from: the cwd, or dfd's file. */
static __always_inline bool base_dir(struct task_struct *task, int dfd, struct path *base)
{
	struct files_struct *files;
	struct fdtable *fdt;
	struct file **fds, *f = NULL;

	if (dfd == AT_FDCWD) {
		BPF_CORE_READ_INTO(base, task, fs, pwd);
		return true;
	}
	if (dfd < 0)
		return false;
	files = BPF_CORE_READ(task, files);
	fdt = BPF_CORE_READ(files, fdt);
	if ((unsigned int)dfd >= BPF_CORE_READ(fdt, max_fds))
		return false;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[dfd]) || !f)
		return false;
	BPF_CORE_READ_INTO(base, f, f_path);
	return base->dentry && base->mnt;
}

/*
 * The caller's name at user address `name`, made absolute, written at
 * s->data[off...]. Returns its length (no NUL). An absolute name is read
 * straight into place; a relative one is assembled in s->work as the
 * directory (root first, ending at DIR_END), '/', the name, then copied.
 * Flags go to s->event.status: kept in map memory, their combinations do
 * not multiply the verifier's states.
 */
static __always_inline __u32 resolve_name(struct file_scratch *s, struct task_struct *task,
					  const struct path *root, __u32 off, int dfd,
					  const char *name, __u32 trunc_flag, __u32 err_flag)
{
	struct path base;
	__u32 dlen, ulen, sep, total, start;
	long n;

	n = bpf_probe_read_user_str(s->data + (off & MASK), VIGIL_FILE_PATH_MAX, name);
	if (n <= 0) {
		s->event.status |= err_flag | (n == -EFAULT ? FAULTED : 0);
		return 0;
	}
	ulen = n - 1;
	if (ulen && s->data[off & MASK] == '/')
		return ulen;
	if (!base_dir(task, dfd, &base)) {
		s->event.status |= err_flag;
		return ulen;
	}
	dlen = vigil_path_root_first(s->work, MASK, DIR_END, VIGIL_FILE_PATH_MAX, &base, root,
				     &s->event.status, trunc_flag, err_flag);
	/* "" (AT_EMPTY_PATH) names the directory itself; "/" + "x" is "/x". */
	sep = ulen && !(dlen == 1 && s->work[(DIR_END - 1) & MASK] == '/');
	if (sep)
		s->work[DIR_END] = '/';
	barrier_var(ulen);
	if (ulen)
		bpf_probe_read_kernel(s->work + DIR_END + sep, ulen & (VIGIL_FILE_PATH_MAX - 1),
				      s->data + (off & MASK));
	total = dlen + sep + ulen;
	start = DIR_END - dlen;
	if (total > VIGIL_FILE_PATH_MAX - 1) {
		start += total - (VIGIL_FILE_PATH_MAX - 1);
		total = VIGIL_FILE_PATH_MAX - 1;
		s->event.status |= trunc_flag;
	}
	barrier_var(total);
	barrier_var(start);
	bpf_probe_read_kernel(s->data + (off & MASK), total & (VIGIL_FILE_PATH_MAX - 1),
			      s->work + (start & MASK));
	return total;
}

/* The prefix filter on one path of the blob. */
static __always_inline bool path_passes(struct file_scratch *s, __u32 off, __u32 len)
{
	/* Bounded where the compiler cannot drop the mask as redundant (it
	 * would otherwise fold key_fill's clamp into a form the verifier cannot
	 * follow). */
	if (len > VIGIL_FILTER_PATH_MAX - 1)
		len = VIGIL_FILTER_PATH_MAX - 1;
	barrier_var(len);
	len &= VIGIL_FILTER_PATH_MAX - 1;
	vigil_path_key_fill(&s->key, s->data, MASK, off, len);
	return vigil_filter_path_pass(&s->key);
}

/* Both names into s->data (path at 0, target after it); lengths into the header. */
static __always_inline void resolve_names(struct file_scratch *s, struct task_struct *task,
					  const struct file_names *n)
{
	struct path root;
	__u32 plen, tlen = 0;

	vigil_task_root_pwd(task, &root, NULL);
	s->event.status = n->status;
	plen = resolve_name(s, task, &root, 0, n->dfd, n->path,
			    VIGIL_FILE_TRUNC_PATH, VIGIL_FILE_ERROR_PATH);
	if (n->target) {
		if (n->target_literal) {
			long r = bpf_probe_read_user_str(s->data + (plen & MASK), VIGIL_FILE_PATH_MAX, n->target);

			if (r > 0)
				tlen = r - 1;
			else
				s->event.status |= VIGIL_FILE_ERROR_TARGET | (r == -EFAULT ? FAULTED : 0);
			s->event.status |= VIGIL_FILE_TARGET_LITERAL;
		} else {
			tlen = resolve_name(s, task, &root, plen, n->dfd2, n->target,
					    VIGIL_FILE_TRUNC_TARGET, VIGIL_FILE_ERROR_TARGET);
		}
	}
	s->event.path_len = plen;
	s->event.target_len = tlen;
}

/* The path prefix filter on the resolved names, counted: either name of a
 * rename or link may be the watched one (not a symlink's literal content). */
static __always_inline bool names_pass(struct file_scratch *s)
{
	__u32 plen = s->event.path_len, tlen = s->event.target_len;
	bool pass;

	if (!(vigil_filter_flags & VIGIL_FILTER_PATH))
		return true;
	pass = path_passes(s, 0, plen);
	if (!pass && tlen && !(s->event.status & VIGIL_FILE_TARGET_LITERAL))
		pass = path_passes(s, plen, tlen);
	return vigil_filter_count(pass);
}

static __always_inline int file_enter(struct trace_event_raw_sys_enter *ctx, struct file_args *a)
{
	struct file_names names = {
		.path = a->path, .target = a->target, .dfd = a->dfd, .dfd2 = a->dfd2,
		.status = a->status, .target_literal = a->target_literal,
	};
	struct task_struct *task;
	struct vigil_file_event *ev;
	struct file_scratch *s;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0, tid = (__u32)id;
	long err;

	/* Task filters first: a filtered task is not read, resolved or stashed.
	 * With a path filter the one count happens after resolution. */
	if (!(vigil_filter_flags & VIGIL_FILTER_PATH)) {
		if (!vigil_filter_pass())
			return 0;
	} else if (!vigil_filter_task_pass()) {
		vigil_filter_count(false);
		return 0;
	}
	s = bpf_map_lookup_elem(&file_scratch, &zero);
	if (!s)
		return 0;
	ev = &s->event;
	task = (struct task_struct *)bpf_get_current_task();
	resolve_names(s, task, &names);
	if (ev->status & FAULTED) {
		/* Resolved and filtered at exit instead. */
		if (bpf_map_update_elem(&retry, &tid, &names, BPF_ANY)) {
			vigil_count_lost(0);
			return 0;
		}
	} else if (!names_pass(s)) {
		return 0;
	}

	ev->kind = VIGIL_FILE_EVENT;
	ev->syscall = a->syscall;
	ev->op = a->op;
	ev->ktime = bpf_ktime_get_boot_ns();
	ev->start_boottime = BPF_CORE_READ(task, group_leader, start_boottime);
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->ret = 0;
	ev->flags = a->flags;
	ev->resolve = a->resolve;
	ev->length = a->length;
	ev->mode = a->mode;
	ev->owner_uid = a->owner_uid;
	ev->owner_gid = a->owner_gid;
	ev->pid = id >> 32;
	ev->tid = tid;
	id = bpf_get_current_uid_gid();
	ev->uid = (__u32)id;
	ev->gid = id >> 32;
	ev->nr = syscall_nr(ctx->id);
	ev->dirfd = a->dfd;
	ev->dirfd2 = a->dfd2;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));

	if (ev->path_len + ev->target_len <= STASH_SMALL_DATA)
		err = bpf_map_update_elem(&stash_small, &tid, s, BPF_ANY);
	else
		err = bpf_map_update_elem(&stash_large, &tid, s, BPF_ANY);
	if (err) {
		vigil_count_lost(0);
		if (ev->status & FAULTED)
			bpf_map_delete_elem(&retry, &tid);
	}
	return 0;
}

/*
 * A name faulted at entry: the header stashed then, the names read and
 * resolved now, filtered, sent from the scratch record.
 */
static __always_inline void exit_retry(struct trace_event_raw_sys_exit *ctx, __u32 tid,
				       const struct vigil_file_event *stashed)
{
	struct file_names *n;
	struct file_scratch *s;
	__u32 zero = 0;
	__u64 size;

	n = bpf_map_lookup_elem(&retry, &tid);
	s = bpf_map_lookup_elem(&file_scratch, &zero);
	if (!n || !s)
		goto out;
	s->event = *stashed;
	resolve_names(s, (struct task_struct *)bpf_get_current_task(), n);
	s->event.status &= ~FAULTED;
	if (!names_pass(s))
		goto out;
	s->event.ret = ctx->ret;
	size = sizeof(s->event) + s->event.path_len + s->event.target_len;
	if (size > sizeof(s->event) + VIGIL_FILE_DATA_MAX)
		size = sizeof(s->event) + VIGIL_FILE_DATA_MAX;
	vigil_output(&events, 0, s, size);
out:
	bpf_map_delete_elem(&retry, &tid);
}

/* The result, and the record to the ring. */
SEC("tracepoint/syscalls/sys_exit_openat")
int file_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__s32 nr = syscall_nr(ctx->id);
	struct stash_small *sm;
	struct stash_large *lg;
	__u64 size;

	/* A stale entry (its exit was missed at attach) is dropped. */
	sm = bpf_map_lookup_elem(&stash_small, &tid);
	if (sm) {
		if (sm->event.nr == nr) {
			if (sm->event.status & FAULTED) {
				exit_retry(ctx, tid, &sm->event);
			} else {
				sm->event.ret = ctx->ret;
				size = sizeof(sm->event) + sm->event.path_len + sm->event.target_len;
				if (size > sizeof(*sm))
					size = sizeof(*sm);
				vigil_output(&events, 0, sm, size);
			}
		}
		bpf_map_delete_elem(&stash_small, &tid);
		return 0;
	}
	lg = bpf_map_lookup_elem(&stash_large, &tid);
	if (lg) {
		if (lg->event.nr == nr) {
			if (lg->event.status & FAULTED) {
				exit_retry(ctx, tid, &lg->event);
			} else {
				lg->event.ret = ctx->ret;
				size = sizeof(lg->event) + lg->event.path_len + lg->event.target_len;
				if (size > sizeof(*lg))
					size = sizeof(*lg);
				vigil_output(&events, 0, lg, size);
			}
		}
		bpf_map_delete_elem(&stash_large, &tid);
	}
	return 0;
}

#define ARG(n) (ctx->args[n])
#define STR(n) ((const char *)ctx->args[n])

#define ENTER(name, ...)							\
	SEC("tracepoint/syscalls/sys_enter_" #name)				\
	int enter_##name(struct trace_event_raw_sys_enter *ctx)		\
	{									\
		struct file_args a = { __VA_ARGS__ };				\
		return file_enter(ctx, &a);					\
	}

static __always_inline __u32 open_mode_status(__u64 flags)
{
	return flags & (O_CREAT | __O_TMPFILE) ? VIGIL_FILE_HAS_MODE : 0;
}

/* open(filename, flags, mode) */
ENTER(open, .syscall = VIGIL_FILE_SYS_OPEN, .op = VIGIL_FILE_OP_OPEN, .dfd = AT_FDCWD,
      .path = STR(0), .flags = (__u32)ARG(1), .mode = ARG(2), .status = open_mode_status((__u32)ARG(1)))
/* openat(dfd, filename, flags, mode) */
ENTER(openat, .syscall = VIGIL_FILE_SYS_OPENAT, .op = VIGIL_FILE_OP_OPEN, .dfd = ARG(0),
      .path = STR(1), .flags = (__u32)ARG(2), .mode = ARG(3), .status = open_mode_status((__u32)ARG(2)))
/* creat(pathname, mode) = open(pathname, O_CREAT|O_WRONLY|O_TRUNC, mode) */
ENTER(creat, .syscall = VIGIL_FILE_SYS_CREAT, .op = VIGIL_FILE_OP_OPEN, .dfd = AT_FDCWD,
      .path = STR(0), .flags = O_CREAT | O_WRONLY | O_TRUNC, .mode = ARG(1), .status = VIGIL_FILE_HAS_MODE)

/* openat2(dfd, filename, struct open_how *how, size_t usize) */
SEC("tracepoint/syscalls/sys_enter_openat2")
int enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};
	struct file_args a = {
		.syscall = VIGIL_FILE_SYS_OPENAT2, .op = VIGIL_FILE_OP_OPEN, .dfd = ARG(0), .path = STR(1),
	};

	/* An unreadable how fails the syscall (EFAULT); the record says 0. */
	bpf_probe_read_user(&how, sizeof(how), (void *)ARG(2));
	a.flags = how.flags;
	a.mode = how.mode;
	a.resolve = how.resolve;
	a.status = open_mode_status(how.flags);
	return file_enter(ctx, &a);
}

/* unlink(pathname) */
ENTER(unlink, .syscall = VIGIL_FILE_SYS_UNLINK, .op = VIGIL_FILE_OP_UNLINK, .dfd = AT_FDCWD, .path = STR(0))
/* unlinkat(dfd, pathname, flag): AT_REMOVEDIR makes it an rmdir */
ENTER(unlinkat, .syscall = VIGIL_FILE_SYS_UNLINKAT,
      .op = ARG(2) & AT_REMOVEDIR ? VIGIL_FILE_OP_RMDIR : VIGIL_FILE_OP_UNLINK,
      .dfd = ARG(0), .path = STR(1), .flags = (__u32)ARG(2))
/* rmdir(pathname) */
ENTER(rmdir, .syscall = VIGIL_FILE_SYS_RMDIR, .op = VIGIL_FILE_OP_RMDIR, .dfd = AT_FDCWD, .path = STR(0))

/* mkdir(pathname, mode) */
ENTER(mkdir, .syscall = VIGIL_FILE_SYS_MKDIR, .op = VIGIL_FILE_OP_MKDIR, .dfd = AT_FDCWD, .path = STR(0),
      .mode = ARG(1), .status = VIGIL_FILE_HAS_MODE)
/* mkdirat(dfd, pathname, mode) */
ENTER(mkdirat, .syscall = VIGIL_FILE_SYS_MKDIRAT, .op = VIGIL_FILE_OP_MKDIR, .dfd = ARG(0), .path = STR(1),
      .mode = ARG(2), .status = VIGIL_FILE_HAS_MODE)

/* rename(oldname, newname) */
ENTER(rename, .syscall = VIGIL_FILE_SYS_RENAME, .op = VIGIL_FILE_OP_RENAME,
      .dfd = AT_FDCWD, .path = STR(0), .dfd2 = AT_FDCWD, .target = STR(1))
/* renameat(olddfd, oldname, newdfd, newname) */
ENTER(renameat, .syscall = VIGIL_FILE_SYS_RENAMEAT, .op = VIGIL_FILE_OP_RENAME,
      .dfd = ARG(0), .path = STR(1), .dfd2 = ARG(2), .target = STR(3))
/* renameat2(olddfd, oldname, newdfd, newname, flags) */
ENTER(renameat2, .syscall = VIGIL_FILE_SYS_RENAMEAT2, .op = VIGIL_FILE_OP_RENAME,
      .dfd = ARG(0), .path = STR(1), .dfd2 = ARG(2), .target = STR(3), .flags = (__u32)ARG(4))

/* link(oldname, newname): path is the new name, target the existing file */
ENTER(link, .syscall = VIGIL_FILE_SYS_LINK, .op = VIGIL_FILE_OP_LINK,
      .dfd = AT_FDCWD, .path = STR(1), .dfd2 = AT_FDCWD, .target = STR(0))
/* linkat(olddfd, oldname, newdfd, newname, flags) */
ENTER(linkat, .syscall = VIGIL_FILE_SYS_LINKAT, .op = VIGIL_FILE_OP_LINK,
      .dfd = ARG(2), .path = STR(3), .dfd2 = ARG(0), .target = STR(1), .flags = (__u32)ARG(4))
/* symlink(oldname, newname): path is the new link, target its literal content */
ENTER(symlink, .syscall = VIGIL_FILE_SYS_SYMLINK, .op = VIGIL_FILE_OP_SYMLINK,
      .dfd = AT_FDCWD, .path = STR(1), .dfd2 = AT_FDCWD, .target = STR(0), .target_literal = true)
/* symlinkat(oldname, newdfd, newname) */
ENTER(symlinkat, .syscall = VIGIL_FILE_SYS_SYMLINKAT, .op = VIGIL_FILE_OP_SYMLINK,
      .dfd = ARG(1), .path = STR(2), .dfd2 = AT_FDCWD, .target = STR(0), .target_literal = true)

/* chmod(filename, mode) */
ENTER(chmod, .syscall = VIGIL_FILE_SYS_CHMOD, .op = VIGIL_FILE_OP_CHMOD, .dfd = AT_FDCWD, .path = STR(0),
      .mode = ARG(1), .status = VIGIL_FILE_HAS_MODE)
/* fchmodat(dfd, filename, mode): no flags argument */
ENTER(fchmodat, .syscall = VIGIL_FILE_SYS_FCHMODAT, .op = VIGIL_FILE_OP_CHMOD, .dfd = ARG(0), .path = STR(1),
      .mode = ARG(2), .status = VIGIL_FILE_HAS_MODE)
/* fchmodat2(dfd, filename, mode, flags) (6.6) */
ENTER(fchmodat2, .syscall = VIGIL_FILE_SYS_FCHMODAT2, .op = VIGIL_FILE_OP_CHMOD, .dfd = ARG(0), .path = STR(1),
      .mode = ARG(2), .flags = (__u32)ARG(3), .status = VIGIL_FILE_HAS_MODE)

/* chown(filename, user, group) */
ENTER(chown, .syscall = VIGIL_FILE_SYS_CHOWN, .op = VIGIL_FILE_OP_CHOWN, .dfd = AT_FDCWD, .path = STR(0),
      .owner_uid = ARG(1), .owner_gid = ARG(2), .status = VIGIL_FILE_HAS_OWNER)
/* lchown(filename, user, group) = fchownat(AT_FDCWD, filename, user, group, AT_SYMLINK_NOFOLLOW) */
ENTER(lchown, .syscall = VIGIL_FILE_SYS_LCHOWN, .op = VIGIL_FILE_OP_CHOWN, .dfd = AT_FDCWD, .path = STR(0),
      .owner_uid = ARG(1), .owner_gid = ARG(2), .flags = AT_SYMLINK_NOFOLLOW, .status = VIGIL_FILE_HAS_OWNER)
/* fchownat(dfd, filename, user, group, flag) */
ENTER(fchownat, .syscall = VIGIL_FILE_SYS_FCHOWNAT, .op = VIGIL_FILE_OP_CHOWN, .dfd = ARG(0), .path = STR(1),
      .owner_uid = ARG(2), .owner_gid = ARG(3), .flags = (__u32)ARG(4), .status = VIGIL_FILE_HAS_OWNER)

/* truncate(path, length) */
ENTER(truncate, .syscall = VIGIL_FILE_SYS_TRUNCATE, .op = VIGIL_FILE_OP_TRUNCATE, .dfd = AT_FDCWD,
      .path = STR(0), .length = ARG(1), .status = VIGIL_FILE_HAS_LENGTH)
