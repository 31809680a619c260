// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* File syscalls: one vigil_file_event per completed open/openat/openat2/creat,
 * unlink/unlinkat, rename/renameat/renameat2, mkdir/mkdirat, rmdir,
 * link/linkat, symlink/symlinkat, chmod/fchmodat/fchmodat2,
 * chown/fchownat/lchown, truncate (bpf/include/vigil/file.h).
 *
 * Opens (exit_<name> at syscalls:sys_exit_<name>, no entry program): one
 * program per call, so a filtered open costs one program run, as a single
 * probe does. The task filters first, then with a path prefix the opened
 * file's first component (file_top_allows); only a call that passes is read:
 * its arguments from the registers saved at syscall entry, its name from the
 * caller, the path of the struct file behind the returned descriptor (walked
 * up to the process's root: what /proc/PID/fd/N shows) with its device and
 * inode, or a failed open's name made absolute and normalised as below. The
 * path prefix filter decides on that canonical path.
 *
 * Any other call, entry (syscalls:sys_enter_<name>, one program per
 * syscall): the task filters first, so a filtered task costs only their
 * tests and nothing is stashed; then the names as given are read into
 * per-CPU scratch memory, each made absolute (the cwd's or the dirfd's path,
 * walked root first, + '/' + the name) and normalised lexically
 * (vigil/path.h); the path prefix filter decides on that; a record that
 * passes is stashed, canonical names then raw names, under the thread id.
 *
 * Exit (file_exit, attached to the other calls' syscalls:sys_exit_<name>): a
 * finished record gets the result and goes to the ring from the stash with
 * only the bytes used. A name the entry could not read (its page not
 * resident yet: FAULTED) is read, resolved and filtered at exit.
 *
 * Built twice (Makefile): file.bpf.o reads kernel fields through
 * bpf_probe_read_kernel; file.direct.bpf.o (VIGIL_DIRECT_LOADS, loaded
 * where the kernel has the bpf_rdonly_cast kfunc) reads the path walks'
 * dentries and mounts and the opened file with plain loads (vigil/path.h).
 * In both, the task's files, fd table, fs and saved registers are read
 * through BTF (bpf_get_current_task_btf, bpf_task_pt_regs).
 *
 * Verification cost: the steps (read names, resolve one name, walk an
 * opened file, filter, append the raw names, finish at exit) are global
 * functions, each verified once whatever calls it and whatever the other
 * steps did; the path walks and the normalisation are bpf_loop steps with
 * their state in map memory. A program's cost is the sum of its steps, not
 * their product.
 *
 * The stash is two hash maps: records whose blob fits STASH_SMALL_DATA bytes
 * (nearly all) go to the small one, so an entry copies under 400 bytes rather
 * than the 16 KiB a record with four maximal names needs. A full stash (more
 * syscalls in flight than it holds) or a full ring counts the event as lost.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/maps.h"
#include "vigil/ringbuf.h"
/* Tracepoint programs: the uid filter reads current->cred (vigil/filter.h). */
#define VIGIL_FILTER_UID_FROM_TASK
#include "vigil/filter.h"
#include "vigil/path.h"
#include "vigil/file.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps the header's enums in BTF for codegen (src/generated/file.ts). */
VIGIL_KEEP_TYPES(enum vigil_file_limits, enum vigil_file_kind, enum vigil_file_op,
		 enum vigil_file_syscall, enum vigil_file_status);

#define AT_FDCWD -100
#define EEXIST 17
#define AT_REMOVEDIR 0x200
#define AT_SYMLINK_NOFOLLOW 0x100
/* Same values on every architecture (asm-generic/fcntl.h). */
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000
#define __O_TMPFILE 020000000

/*
 * Offsets are masked so the verifier can bound every access.
 *
 * The blob (data) holds path at 0, target, raw, raw_target after it, each
 * under VIGIL_FILE_PATH_MAX bytes; a write of up to VIGIL_FILE_PATH_MAX
 * bytes may start at any masked offset, so data has that much room past
 * the mask.
 *
 * A name is made canonical in work: the directory root first ending at
 * DIR_END, '/', the name after it (up to 2 * VIGIL_FILE_PATH_MAX bytes),
 * normalised in place, then copied to its place in data.
 */
#define NAME_MAX_LEN (VIGIL_FILE_PATH_MAX - 1)
#define NAME_MASK (VIGIL_FILE_PATH_MAX - 1)
#define MASK (VIGIL_FILE_DATA_MAX - 1)
#define BUF_SIZE (MASK + 1 + VIGIL_FILE_PATH_MAX)
#define WORK_MASK (2 * VIGIL_FILE_PATH_MAX - 1)
#define WORK_SIZE (WORK_MASK + 1 + VIGIL_FILE_PATH_MAX)
#define DIR_END VIGIL_FILE_PATH_MAX

_Static_assert((MASK & (MASK + 1)) == 0, "mask is 2^k - 1");
_Static_assert((WORK_MASK & (WORK_MASK + 1)) == 0, "work mask is 2^k - 1");
_Static_assert(VIGIL_PATH_SLACK <= VIGIL_FILE_PATH_MAX, "room for path.h's writes");
_Static_assert(DIR_END + 1 + NAME_MAX_LEN <= WORK_MASK + 1, "name after the directory fits");
_Static_assert(3 * NAME_MAX_LEN + VIGIL_FILE_PATH_MAX <= BUF_SIZE, "the last name fits");
_Static_assert(sizeof(struct vigil_file_event) % 8 == 0, "blob starts 8-aligned");

/* The record being built: header then blob. */
struct file_scratch {
	struct vigil_file_event event;
	__u8 data[BUF_SIZE];
};

/* Working memory of one call (a per-CPU value is at most 32 KiB: two maps). */
struct file_work {
	__u8 work[WORK_SIZE];			/* a name made absolute and normalised */
	__u8 raw[2][VIGIL_FILE_PATH_MAX];	/* the names as given */
	struct vigil_path_key key;		/* the prefix filter's key */
};

VIGIL_INDEXED_MAP(file_scratch, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct file_scratch);

VIGIL_INDEXED_MAP(file_work, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct file_work);

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
VIGIL_KEYED_MAP(stash_small, BPF_MAP_TYPE_HASH, 4096, __u32, struct stash_small);

/* Rarely used: allocated per entry rather than reserved up front. */
VIGIL_LAZY_MAP(stash_large, BPF_MAP_TYPE_HASH, 4096, __u32, struct stash_large);

/*
 * Entries in each stash, exactly (added when one is created, taken when one
 * is deleted): an exit with both at zero has nothing to look up, so a call
 * the filters dropped at entry costs its exit two loads, not two hash
 * lookups. Read at an exit on another CPU than the entry, the count is
 * current: the task's migration orders the entry's add before it.
 */
__u64 stashed_small;
__u64 stashed_large;

/* Stashes the entry of thread tid; counted in *count when it is a new one. */
static __always_inline long stash_put(void *map, __u64 *count, __u32 *tid, void *value)
{
	long err = bpf_map_update_elem(map, tid, value, BPF_NOEXIST);

	if (!err) {
		__sync_fetch_and_add(count, 1);
		return 0;
	}
	/* A stale entry of the same thread (its exit was missed at attach): replaced, not counted again. */
	return err == -EEXIST ? bpf_map_update_elem(map, tid, value, BPF_EXIST) : err;
}

/* Deletes thread tid's entry, and its count. */
static __always_inline void stash_take(void *map, __u64 *count, __u32 *tid)
{
	if (!bpf_map_delete_elem(map, tid))
		__sync_fetch_and_add(count, -1);
}

/* Resized from user space before load (FileSensor's ringBytes). */
VIGIL_RING_MAP(events, 1024 * 1024);

/* The names of one syscall as user addresses, kept for the exit when a name
 * could not be read at entry. */
struct file_names {
	const char *path;
	const char *target;
	__u32 status;		/* the record's status before the names were read */
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

/*
 * The path prefix filter's first components (src/sensors/file.ts: each
 * prefix up to its second '/', "/etc/" of "/etc/ssh/"; a prefix without a
 * second '/' whole). An opened file whose path's first component none of
 * them allows cannot pass the filter: it is dropped before its path is
 * walked (vigil_path_measure reads no names).
 */
VIGIL_LAZY_MAP(file_path_tops, BPF_MAP_TYPE_LPM_TRIE, VIGIL_FILTER_MAX_VALUES,
	       struct vigil_path_key, __u8);

/*
 * The lengths of a first component that no entry of file_path_tops allows,
 * one bit each: bit n % 8 of byte n / 8 for a component of n bytes, bit 0
 * for the path "/" itself. Set at load from the same prefixes
 * (src/sensors/file.ts): "/top/" allows a component of exactly top's
 * length, "/top" any from top's length up, "/" every length. A walked file
 * whose first component has a marked length is dropped without reading the
 * name or looking up the trie. All 0 (the default): the trie decides.
 */
const volatile __u8 file_top_len_none[(VIGIL_NAME_MAX + 1) / 8] = {};

/* Names that faulted at entry, by thread id (see FAULTED). */
VIGIL_KEYED_MAP(retry, BPF_MAP_TYPE_HASH, 4096, __u32, struct file_names);

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

static __always_inline struct file_scratch *get_scratch(void)
{
	return vigil_slot0(file_scratch);
}

static __always_inline struct file_work *get_work(void)
{
	return vigil_slot0(file_work);
}

/* The directory a relative name starts from: the cwd, or dfd's file. */
static __always_inline bool base_dir(struct task_struct *task, int dfd, struct path *base)
{
	struct file *f;

	if (dfd == AT_FDCWD) {
		BPF_CORE_READ_INTO(base, task, fs, pwd);
		return true;
	}
	f = vigil_current_fd_file(dfd);
	if (!f)
		return false;
	BPF_CORE_READ_INTO(base, f, f_path);
	return base->dentry && base->mnt;
}

/*
 * The caller's names (user addresses) into w->raw[0] and w->raw[1], their
 * lengths into the header. A name that cannot be read sets its ERROR flag
 * (and FAULTED when its page was not resident). Global: verified once.
 */
__noinline int file_read_names(__u64 path, __u64 target, __u32 target_literal)
{
	struct file_scratch *s = get_scratch();
	struct file_work *w = get_work();
	long n;

	if (!s || !w)
		return 0;
	s->event.raw_len = 0;
	s->event.raw_target_len = 0;
	n = bpf_probe_read_user_str(w->raw[0], VIGIL_FILE_PATH_MAX, (const char *)path);
	if (n > 0)
		s->event.raw_len = (n - 1) & NAME_MASK;
	else
		s->event.status |= VIGIL_FILE_ERROR_PATH | (n == -EFAULT ? FAULTED : 0);
	if (!target)
		return 0;
	if (target_literal)
		s->event.status |= VIGIL_FILE_TARGET_LITERAL;
	n = bpf_probe_read_user_str(w->raw[1], VIGIL_FILE_PATH_MAX, (const char *)target);
	if (n > 0)
		s->event.raw_target_len = (n - 1) & NAME_MASK;
	else
		s->event.status |= VIGIL_FILE_ERROR_TARGET | (n == -EFAULT ? FAULTED : 0);
	return 0;
}

/* Copies len bytes of w->raw[which] to s->data[off...]; returns len. */
static __always_inline __u32 copy_raw(struct file_scratch *s, struct file_work *w, __u32 which,
				      __u32 off, __u32 len)
{
	barrier_var(len);
	len &= NAME_MASK;
	if (len)
		bpf_probe_read_kernel(s->data + (off & MASK), len, w->raw[which & 1]);
	return len;
}

/*
 * Name `which` (0: path, 1: target) made canonical into s->data: path at 0,
 * target right after path. Absolute against the cwd or the dirfd (dirfd,
 * dirfd2 in the header), then normalised lexically; a literal target is
 * copied as it is. Sets path_len or target_len. Global: verified once.
 */
__noinline int file_resolve(__u32 which)
{
	struct file_scratch *s = get_scratch();
	struct file_work *w = get_work();
	struct task_struct *task;
	struct path base, root;
	__u32 ulen, dlen, sep, total, start, off, trunc_flag, err_flag, status;
	int dfd;

	if (!s || !w)
		return 0;
	which &= 1;
	if (which) {
		off = s->event.path_len;
		ulen = s->event.raw_target_len;
		dfd = s->event.dirfd2;
		trunc_flag = VIGIL_FILE_TRUNC_TARGET;
		err_flag = VIGIL_FILE_ERROR_TARGET;
	} else {
		off = 0;
		ulen = s->event.raw_len;
		dfd = s->event.dirfd;
		trunc_flag = VIGIL_FILE_TRUNC_PATH;
		err_flag = VIGIL_FILE_ERROR_PATH;
	}
	off &= NAME_MASK;
	ulen &= NAME_MASK;
	status = s->event.status;
	/* Unreadable (empty), or a symlink's content: as given. */
	if ((status & err_flag) || (which && (status & VIGIL_FILE_TARGET_LITERAL))) {
		total = copy_raw(s, w, which, off, ulen);
		goto out;
	}
	if (ulen && w->raw[which][0] == '/') {
		dlen = 0;
		sep = 0;
	} else {
		task = (struct task_struct *)bpf_get_current_task();
		if (!base_dir(task, dfd, &base)) {
			s->event.status |= err_flag;
			total = copy_raw(s, w, which, off, ulen);
			goto out;
		}
		vigil_task_root_pwd(task, &root, NULL);
		dlen = vigil_path_root_first(w->work, WORK_MASK, DIR_END, VIGIL_FILE_PATH_MAX, &base,
					     &root, &s->event.status, trunc_flag, err_flag);
		/* "" (AT_EMPTY_PATH) names the directory itself; "/" + "x" is "/x". */
		sep = ulen && !(dlen == 1 && w->work[(DIR_END - 1) & WORK_MASK] == '/');
		if (sep)
			w->work[DIR_END] = '/';
	}
	barrier_var(ulen);
	ulen &= NAME_MASK;
	if (ulen)
		bpf_probe_read_kernel(w->work + DIR_END + (sep & 1), ulen, w->raw[which]);
	dlen &= NAME_MASK | VIGIL_FILE_PATH_MAX;
	start = DIR_END - dlen;
	total = dlen + sep + ulen;
	total = vigil_path_normalize(w->work, WORK_MASK, start, total, &s->event.status, err_flag);
	if (total > NAME_MAX_LEN) {
		/* Keep the leaf side: shown as ".../leaf". */
		start += total - NAME_MAX_LEN;
		total = NAME_MAX_LEN;
		s->event.status |= trunc_flag;
	}
	barrier_var(total);
	barrier_var(start);
	total &= NAME_MASK;
	if (total)
		bpf_probe_read_kernel(s->data + (off & MASK), total, w->work + (start & WORK_MASK));
out:
	if (which)
		s->event.target_len = total;
	else
		s->event.path_len = total;
	return 0;
}

/*
 * The open file behind the current task's descriptor fd, or NULL; its path
 * into *fpath and the task's root into *root. The task and its fs through
 * BTF (plain loads the kernel guards, not a helper call each); the file's
 * fields by plain loads too where the object has direct loads (vigil/path.h).
 */
static __always_inline struct file *current_fd_file(long fd, struct path *fpath, struct path *root)
{
	struct file *f = vigil_current_fd_file(fd);
	struct fs_struct *fs;

	if (!f)
		return NULL;
	fs = bpf_get_current_task_btf()->fs;
	if (!fs)
		return NULL;
	root->dentry = fs->root.dentry;
	root->mnt = fs->root.mnt;
#ifdef VIGIL_DIRECT_LOADS
	fpath->dentry = VIGIL_CAST(f, struct file)->f_path.dentry;
	fpath->mnt = VIGIL_CAST(f, struct file)->f_path.mnt;
#else
	BPF_CORE_READ_INTO(fpath, f, f_path);
#endif
	return f;
}

/* The root of a file's mount when it is the task's root mount (the common
 * case), through BTF; NULL (the walk reads it) otherwise. */
static __always_inline struct dentry *root_mount_root(const struct path *fpath, const struct path *root)
{
	return root->mnt && fpath->mnt == root->mnt ? root->mnt->mnt_root : NULL;
}

/*
 * The file an open returned: the path of the struct file behind fd (walked
 * root first up to the task's root: what /proc/PID/fd/N shows) into
 * s->data[0...], its device and inode into the header. Returns 0, or -1 when
 * fd names no file now or its path could not be walked (nothing set).
 * Global: verified once.
 */
__noinline int file_opened(long fd)
{
	struct file_scratch *s = get_scratch();
	struct file_work *w = get_work();
	struct path fpath, root;
	struct inode *inode;
	struct file *f;
	__u32 flags = 0, len;

	if (!s || !w)
		return -1;
	f = current_fd_file(fd, &fpath, &root);
	if (!f)
		return -1;
	len = vigil_path_root_first_in(w->work, WORK_MASK, DIR_END, NAME_MAX_LEN, &fpath, root_mount_root(&fpath, &root),
				       &root, &flags, VIGIL_FILE_TRUNC_PATH, VIGIL_FILE_ERROR_PATH);
	if (flags & VIGIL_FILE_ERROR_PATH)
		return -1;
	barrier_var(len);
	len &= NAME_MASK;
	if (len)
		bpf_probe_read_kernel(s->data, len, w->work + ((DIR_END - len) & WORK_MASK));
#ifdef VIGIL_DIRECT_LOADS
	inode = VIGIL_CAST(f, struct file)->f_inode;
	s->event.ino = inode->i_ino;
	s->event.dev = inode->i_sb->s_dev;
#else
	inode = BPF_CORE_READ(f, f_inode);
	s->event.ino = BPF_CORE_READ(inode, i_ino);
	s->event.dev = BPF_CORE_READ(inode, i_sb, s_dev);
#endif
	s->event.status |= flags | VIGIL_FILE_PATH_OPENED;
	s->event.path_len = len;
	return 0;
}

/*
 * 0 when the file behind fd (an open's result) cannot pass the path prefix
 * filter: its first path component is allowed by no prefix
 * (file_path_tops). 1 otherwise, and whenever unsure (no file, a path the
 * walk would cut or could not read). Global: verified once.
 */
__noinline int file_top_allows(long fd)
{
	struct file_work *w = get_work();
	struct __vigil_path_measured m;
	struct path fpath, root;
	__u32 flags = 0, n, at = 0;

	if (!w || !current_fd_file(fd, &fpath, &root))
		return 1;
	vigil_path_measure_in(w->work, WORK_MASK, &fpath, root_mount_root(&fpath, &root), &root,
			      NAME_MAX_LEN, &m, &flags, VIGIL_FILE_TRUNC_PATH, VIGIL_FILE_ERROR_PATH);
	if (flags)
		return 1;
	/* The length alone, where no top of that length exists: no name read. */
	n = m.top_name && m.top_len ? m.top_len : 0;
	if (n < 8 * sizeof(file_top_len_none)) {
		/* Bounded where the verifier sees it (the compiler tests a copy). */
		barrier_var(n);
		n &= 8 * sizeof(file_top_len_none) - 1;
		if ((file_top_len_none[n / 8] >> (n % 8)) & 1)
			return 0;
	}
	/* "/top/" ("/" for the root), cut to the key: a cut name has no '/'
	 * after it, so only prefixes of it match, as for the whole path. The
	 * trie reads no byte past prefixlen: the rest of the key is not cleared. */
	w->key.path[at++] = '/';
	n = m.top_len;
	if (n > sizeof(w->key.path) - 2)
		n = sizeof(w->key.path) - 2;
	barrier_var(n);
	n &= sizeof(w->key.path) - 1;
	if (m.top_name && n) {
		if (bpf_probe_read_kernel(w->key.path + 1, n, m.top_name))
			return 1;
		at += n;
		if (n == m.top_len && at < sizeof(w->key.path))
			w->key.path[at++] = '/';
	}
	w->key.prefixlen = at * 8;
	return bpf_map_lookup_elem(&file_path_tops, &w->key) != NULL;
}

/* The prefix filter on one name of the blob. */
static __always_inline bool path_passes(struct file_scratch *s, struct file_work *w, __u32 off, __u32 len)
{
	/* Bounded where the compiler cannot drop the mask as redundant (it
	 * would otherwise fold key_fill's clamp into a form the verifier cannot
	 * follow). */
	if (len > VIGIL_FILTER_PATH_MAX - 1)
		len = VIGIL_FILTER_PATH_MAX - 1;
	barrier_var(len);
	len &= VIGIL_FILTER_PATH_MAX - 1;
	vigil_path_key_fill(&w->key, s->data, MASK, off & NAME_MASK, len);
	return vigil_filter_path_pass(&w->key);
}

/*
 * The path prefix filter on the canonical names, counted: either name of a
 * rename or link may be the watched one (not a symlink's literal content).
 * Returns 1 to keep the record. Global: verified once.
 */
__noinline int file_names_pass(void)
{
	struct file_scratch *s;
	struct file_work *w;
	__u32 plen, tlen;
	bool pass;

	if (!(vigil_filter_flags & VIGIL_FILTER_PATH))
		return 1;
	s = get_scratch();
	w = get_work();
	if (!s || !w)
		return 0;
	plen = s->event.path_len;
	tlen = s->event.target_len;
	pass = path_passes(s, w, 0, plen);
	if (!pass && tlen && !(s->event.status & VIGIL_FILE_TARGET_LITERAL))
		pass = path_passes(s, w, plen, tlen);
	return vigil_filter_count(pass);
}

/*
 * The raw names after the canonical ones (a literal target is its own raw
 * text: no copy). Returns the record's size. Global: verified once.
 */
__noinline int file_append_raw(void)
{
	struct file_scratch *s = get_scratch();
	struct file_work *w = get_work();
	__u32 off;

	if (!s || !w)
		return 0;
	off = (s->event.path_len & NAME_MASK) + (s->event.target_len & NAME_MASK);
	s->event.raw_len = copy_raw(s, w, 0, off, s->event.raw_len);
	off += s->event.raw_len;
	if (s->event.status & VIGIL_FILE_TARGET_LITERAL)
		s->event.raw_target_len = 0;
	else
		s->event.raw_target_len = copy_raw(s, w, 1, off, s->event.raw_target_len);
	return sizeof(s->event) + off + s->event.raw_target_len;
}

/* The record in s sent if its names pass the path filters: its raw names appended, cut to what a
 * record may carry. */
static __always_inline void file_send_named(struct file_scratch *s)
{
	__u64 size;

	if (!file_names_pass())
		return;
	size = file_append_raw();
	if (size > sizeof(s->event) + VIGIL_FILE_DATA_MAX)
		size = sizeof(s->event) + VIGIL_FILE_DATA_MAX;
	vigil_output(&events, 0, s, size);
}

/* The record's size from its header, bounded. */
static __always_inline __u64 record_size(const struct vigil_file_event *ev, __u64 max)
{
	__u64 size = sizeof(*ev) + ev->path_len + ev->target_len + ev->raw_len + ev->raw_target_len;

	return size > max ? max : size;
}

/* A record's header: the caller and the syscall's arguments (a). */
static __always_inline void header_fill(struct vigil_file_event *ev, __s32 nr, const struct file_args *a)
{
	__u64 id = bpf_get_current_pid_tgid();

	ev->kind = VIGIL_FILE_EVENT;
	ev->syscall = a->syscall;
	ev->op = a->op;
	vigil_record_current(ev);
	ev->ret = 0;
	ev->flags = a->flags;
	ev->resolve = a->resolve;
	ev->length = a->length;
	ev->ino = 0;
	ev->mode = a->mode;
	ev->owner_uid = a->owner_uid;
	ev->owner_gid = a->owner_gid;
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	id = bpf_get_current_uid_gid();
	ev->uid = (__u32)id;
	ev->gid = id >> 32;
	ev->status = a->status;
	ev->nr = nr;
	ev->dirfd = a->dfd;
	ev->dirfd2 = a->dfd2;
	ev->dev = 0;
	ev->path_len = 0;
	ev->target_len = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
}

static __always_inline int file_enter(struct trace_event_raw_sys_enter *ctx, struct file_args *a)
{
	struct file_names names = {
		.path = a->path, .target = a->target, .status = a->status,
		.target_literal = a->target_literal,
	};
	struct vigil_file_event *ev;
	struct file_scratch *s;
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), size;
	long err;

	/* Task filters first: a filtered task is not read, resolved or stashed.
	 * With a path filter the one count happens once the path is known. */
	if (!(vigil_filter_flags & VIGIL_FILTER_PATH)) {
		if (!vigil_filter_pass())
			return 0;
	} else if (!vigil_filter_task_pass()) {
		vigil_filter_count(false);
		return 0;
	}
	s = get_scratch();
	if (!s)
		return 0;
	ev = &s->event;
	header_fill(ev, syscall_nr(ctx->id), a);

	file_read_names((__u64)a->path, (__u64)a->target, a->target_literal);
	if (ev->status & FAULTED) {
		/* Read, resolved and filtered at exit instead. */
		ev->raw_len = 0;
		ev->raw_target_len = 0;
		if (bpf_map_update_elem(&retry, &tid, &names, BPF_ANY)) {
			vigil_count_lost(0);
			return 0;
		}
		size = sizeof(*ev);
	} else {
		file_resolve(0);
		if (a->target)
			file_resolve(1);
		if (!file_names_pass())
			return 0;
		size = file_append_raw();
	}

	if (size <= sizeof(struct stash_small))
		err = stash_put(&stash_small, &stashed_small, &tid, s);
	else
		err = stash_put(&stash_large, &stashed_large, &tid, s);
	if (err) {
		vigil_count_lost(0);
		if (ev->status & FAULTED)
			bpf_map_delete_elem(&retry, &tid);
	}
	return 0;
}

/*
 * A record whose names faulted at entry (FAULTED): the stashed header (from
 * the small or the large stash), the names read now, made canonical,
 * filtered, sent from the scratch record. Global: verified once.
 */
__noinline int file_finish(long ret, __u32 large)
{
	struct file_scratch *s = get_scratch();
	struct vigil_file_event *stashed;
	struct file_names *n;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (!s)
		return 0;
	if (large) {
		struct stash_large *lg = bpf_map_lookup_elem(&stash_large, &tid);

		if (!lg)
			return 0;
		stashed = &lg->event;
	} else {
		struct stash_small *sm = bpf_map_lookup_elem(&stash_small, &tid);

		if (!sm)
			return 0;
		stashed = &sm->event;
	}
	s->event = *stashed;
	n = bpf_map_lookup_elem(&retry, &tid);
	if (!n)
		return 0;
	s->event.status = n->status;
	file_read_names((__u64)n->path, (__u64)n->target, n->target_literal);
	s->event.status &= ~FAULTED;
	s->event.ret = ret;
	s->event.path_len = 0;
	s->event.target_len = 0;
	file_resolve(0);
	if (n->target)
		file_resolve(1);
	bpf_map_delete_elem(&retry, &tid);
	file_send_named(s);
	return 0;
}

/* A stash entry (stash: size bytes, its record at ev) at its call's exit:
 * finished here (a name that faulted at entry) or sent as stashed with the
 * result; another syscall's is left alone. */
static __always_inline void stash_exit(void *stash, struct vigil_file_event *ev, __u64 size, __s32 nr, long ret,
				       __u32 large)
{
	if (ev->nr != nr)
		return;
	if (ev->status & FAULTED) {
		file_finish(ret, large);
	} else {
		ev->ret = ret;
		vigil_output(&events, 0, stash, record_size(ev, size));
	}
}

/* The result, and the record to the ring. */
SEC("tracepoint/syscalls/sys_exit_unlinkat")
int file_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__s32 nr = syscall_nr(ctx->id);
	struct stash_small *sm;
	struct stash_large *lg;

	/* A stale entry (its exit was missed at attach) is dropped. */
	if (*(volatile __u64 *)&stashed_small) {
		sm = bpf_map_lookup_elem(&stash_small, &tid);
		if (sm) {
			stash_exit(sm, &sm->event, sizeof(*sm), nr, ctx->ret, 0);
			stash_take(&stash_small, &stashed_small, &tid);
			return 0;
		}
	}
	if (*(volatile __u64 *)&stashed_large) {
		lg = bpf_map_lookup_elem(&stash_large, &tid);
		if (lg) {
			stash_exit(lg, &lg->event, sizeof(*lg), nr, ctx->ret, 1);
			stash_take(&stash_large, &stashed_large, &tid);
		}
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

/*
 * Opens: one program, at exit (syscalls:sys_exit_<name>), and no entry
 * program. The filters come first: the task filters, then with a path
 * filter the opened file's first path component (file_top_allows: the walk
 * up its dentries reads no name). A rejected open costs this one program
 * and reads nothing of the call. One that passes reads its arguments from
 * the registers saved at syscall entry (still there at exit: the syscall
 * does not change them), its name from the caller's memory (resident now:
 * the syscall copied it), and is finished as any open: the opened file's
 * path, or a failed open's name made absolute and normalised.
 */
static __always_inline bool open_filters_pass(struct trace_event_raw_sys_exit *ctx)
{
	__u32 f = vigil_filter_flags;

	if (!(f & VIGIL_FILTER_PATH))
		return vigil_filter_pass_with(f);
	if (!vigil_filter_task_pass_with(f) || (ctx->ret >= 0 && !file_top_allows(ctx->ret))) {
		vigil_filter_count(false);
		return false;
	}
	return true;
}

/* An open that passed the filters, made into a record and sent. Global:
 * verified once, and the rejecting path of the programs stays short. */
__noinline int file_open_send(long ret, __u32 syscall, __s32 nr)
{
	struct file_args a = { .syscall = syscall, .op = VIGIL_FILE_OP_OPEN, .dfd = AT_FDCWD };
	struct open_how how = {};
	struct file_scratch *s = get_scratch();
	struct pt_regs *regs;
	__u64 p1, p2, p3, p4;

	if (!s)
		return 0;
	/* Read in place through BTF (plain loads), not copied out whole; all four up front, and made
	 * plain numbers: a load the compiler merged across the branches (a register's and how's on the
	 * stack, through one pointer) is refused by the verifier. */
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	p1 = PT_REGS_PARM1_SYSCALL(regs);
	p2 = PT_REGS_PARM2_SYSCALL(regs);
	p3 = PT_REGS_PARM3_SYSCALL(regs);
	p4 = PT_REGS_PARM4_SYSCALL(regs);
	barrier_var(p1);
	barrier_var(p2);
	barrier_var(p3);
	barrier_var(p4);
	switch (syscall) {
	case VIGIL_FILE_SYS_OPEN:	/* open(filename, flags, mode) */
		a.path = (const char *)p1;
		a.flags = (__u32)p2;
		a.mode = p3;
		a.status = open_mode_status(a.flags);
		break;
	case VIGIL_FILE_SYS_CREAT:	/* creat(pathname, mode) = open(pathname, O_CREAT|O_WRONLY|O_TRUNC, mode) */
		a.path = (const char *)p1;
		a.flags = O_CREAT | O_WRONLY | O_TRUNC;
		a.mode = p2;
		a.status = VIGIL_FILE_HAS_MODE;
		break;
	case VIGIL_FILE_SYS_OPENAT:	/* openat(dfd, filename, flags, mode) */
		a.dfd = p1;
		a.path = (const char *)p2;
		a.flags = (__u32)p3;
		a.mode = p4;
		a.status = open_mode_status(a.flags);
		break;
	default:			/* openat2(dfd, filename, struct open_how *how, size_t usize) */
		a.dfd = p1;
		a.path = (const char *)p2;
		/* An unreadable how failed the syscall (EFAULT); the record says 0. */
		bpf_probe_read_user(&how, sizeof(how), (void *)p3);
		a.flags = how.flags;
		a.mode = how.mode;
		a.resolve = how.resolve;
		a.status = open_mode_status(how.flags);
		break;
	}
	header_fill(&s->event, nr, &a);
	s->event.ret = ret;
	file_read_names((__u64)a.path, 0, 0);
	s->event.status &= ~FAULTED;
	if (ret < 0 || file_opened(ret))
		file_resolve(0);
	file_send_named(s);
	return 0;
}

#define OPEN_EXIT(name, sys)							\
	SEC("tracepoint/syscalls/sys_exit_" #name)				\
	int exit_##name(struct trace_event_raw_sys_exit *ctx)			\
	{									\
		if (open_filters_pass(ctx))					\
			file_open_send(ctx->ret, sys, syscall_nr(ctx->id));	\
		return 0;							\
	}

OPEN_EXIT(open, VIGIL_FILE_SYS_OPEN)
OPEN_EXIT(openat, VIGIL_FILE_SYS_OPENAT)
OPEN_EXIT(openat2, VIGIL_FILE_SYS_OPENAT2)
OPEN_EXIT(creat, VIGIL_FILE_SYS_CREAT)

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
