// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Syscall and file-activity aggregation in kernel maps (vigil/syscall.h):
 * per (process, syscall) counts, errors and log2 latency histograms, and per
 * (process, file) opens, reads and writes. Nothing per event reaches user
 * space; it reads and clears the maps once per interval.
 *
 * raw_tp rather than tp_btf: the same cost for what is done here (the
 * syscall arguments come from pt_regs either way) and it attaches on kernels
 * and configurations without BTF-typed tracing programs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/maps.h"
#include "vigil/filter.h"
#include "vigil/syscall.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps the header's enums in BTF for codegen (src/generated/syscall.ts). */
VIGIL_KEEP_TYPES(enum vigil_syscall_limits, enum vigil_syscall_mode, enum vigil_syscall_drop);

/* enum vigil_syscall_mode bits. */
const volatile __u32 vigil_syscall_mode = VIGIL_SYSCALL_MODE_SYSCALLS;
/* A process whose calls are not counted (Vigil itself), 0 for none. */
const volatile __u32 vigil_syscall_ignore_tgid = 0;

/* Native syscall numbers of the calls the file aggregation looks at. */
#if defined(__TARGET_ARCH_x86)
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_close 3
#define NR_pread64 17
#define NR_pwrite64 18
#define NR_readv 19
#define NR_writev 20
#define NR_exit 60
#define NR_creat 85
#define NR_exit_group 231
#define NR_openat 257
#define NR_preadv 295
#define NR_pwritev 296
#define NR_preadv2 327
#define NR_pwritev2 328
#define NR_openat2 437
#elif defined(__TARGET_ARCH_arm64)
#define NR_openat 56
#define NR_close 57
#define NR_read 63
#define NR_write 64
#define NR_readv 65
#define NR_writev 66
#define NR_pread64 67
#define NR_pwrite64 68
#define NR_preadv 69
#define NR_pwritev 70
#define NR_exit 93
#define NR_exit_group 94
#define NR_preadv2 286
#define NR_pwritev2 287
#define NR_openat2 437
#else
#error "syscalls.bpf.c knows the syscall numbers of x86_64 and arm64 only"
#endif

enum file_kind {
	FILE_NONE = 0,
	FILE_READ = 1,
	FILE_WRITE = 2,
	/* Path in the first argument (open, creat) or the second (openat, openat2). */
	FILE_OPEN_ARG0 = 3,
	FILE_OPEN_ARG1 = 4,
};

/* Per thread, from sys_enter to sys_exit. */
struct inflight {
	__u64 start_ns;
	__u64 ino;
	__u32 nr;
	__u32 dev;
	__s32 fd;
	__u32 kind;
};

/* An open's path between its entry and exit. */
struct open_inflight {
	struct vigil_file_open_key key;
	__s32 dirfd;
};

VIGIL_KEYED_MAP(vigil_syscall_inflight, BPF_MAP_TYPE_HASH, VIGIL_SYSCALL_INFLIGHT_MAX,
		__u32, struct inflight);

VIGIL_KEYED_MAP(vigil_open_inflight, BPF_MAP_TYPE_HASH, VIGIL_FILE_OPEN_INFLIGHT_MAX,
		__u32, struct open_inflight);

/* Where an open's path is built before it goes into vigil_open_inflight (too big for the stack). */
VIGIL_INDEXED_MAP(vigil_open_scratch, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct open_inflight);

/* The aggregates: per CPU, no atomics; allocated on first use (BPF_F_NO_PREALLOC)
 * because a preallocated per-CPU map costs max_entries x value x CPUs up front,
 * and they only hold the keys of one interval. */
VIGIL_LAZY_MAP(vigil_syscall_stats, BPF_MAP_TYPE_PERCPU_HASH, VIGIL_SYSCALL_STATS_MAX,
	       struct vigil_syscall_key, struct vigil_syscall_stats);

VIGIL_LAZY_MAP(vigil_file_io, BPF_MAP_TYPE_PERCPU_HASH, VIGIL_FILE_IO_MAX,
	       struct vigil_file_io_key, struct vigil_file_io_stats);

VIGIL_LAZY_MAP(vigil_file_opens, BPF_MAP_TYPE_PERCPU_HASH, VIGIL_FILE_OPENS_MAX,
	       struct vigil_file_open_key, struct vigil_file_open_stats);

VIGIL_INDEXED_MAP(vigil_syscall_drops, BPF_MAP_TYPE_PERCPU_ARRAY, VIGIL_SYSCALL_DROP_COUNT, __u64);

/* Zeroed values to insert from (kept off the stack: the stats value is 304 bytes). */
static const struct vigil_syscall_stats zero_stats;
static const struct vigil_file_io_stats zero_io;
static const struct vigil_file_open_stats zero_open;

static __always_inline void drop(__u32 why)
{
	vigil_count(&vigil_syscall_drops, why);
}

/* The value for key in a per-CPU hash, inserted zeroed if missing; NULL (and
 * counted) when the map is full. */
static __always_inline void *lookup_or_insert(void *map, const void *key, const void *zero, __u32 why)
{
	void *v = bpf_map_lookup_elem(map, key);
	long err;

	if (v)
		return v;
	err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: another CPU inserted it first */) {
		drop(why);
		return NULL;
	}
	return bpf_map_lookup_elem(map, key);
}

static __always_inline enum file_kind file_kind(__u32 nr)
{
	switch (nr) {
	case NR_read:
	case NR_pread64:
	case NR_readv:
	case NR_preadv:
	case NR_preadv2:
		return FILE_READ;
	case NR_write:
	case NR_pwrite64:
	case NR_writev:
	case NR_pwritev:
	case NR_pwritev2:
		return FILE_WRITE;
#ifdef NR_open
	case NR_open:
	case NR_creat:
		return FILE_OPEN_ARG0;
#endif
	case NR_openat:
	case NR_openat2:
		return FILE_OPEN_ARG1;
	default:
		return FILE_NONE;
	}
}

/* The device and inode of the current task's file at fd; left alone for a bad fd. */
static __always_inline void file_of_fd(int fd, __u32 *dev, __u64 *ino)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;
	struct inode *inode;

	if (!fdt || fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	fds = BPF_CORE_READ(fdt, fd);
	if (!fds || bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return;
	inode = BPF_CORE_READ(f, f_inode);
	if (!inode)
		return;
	*ino = BPF_CORE_READ(inode, i_ino);
	*dev = BPF_CORE_READ(inode, i_sb, s_dev);
}

/* Reads an open's path argument into vigil_open_inflight[tid]. */
static __always_inline void stash_open(__u32 tid, __u32 tgid, struct pt_regs *regs, enum file_kind kind)
{
	struct open_inflight *o;
	const char *name;
	__u32 zero = 0;

	o = bpf_map_lookup_elem(&vigil_open_scratch, &zero);
	if (!o)
		return;
	/* The whole key is hashed: the bytes after the NUL must be zero. */
	__builtin_memset(o->key.path, 0, sizeof(o->key.path));
	o->key.tgid = tgid;
	if (kind == FILE_OPEN_ARG0) {
		name = (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs);
		o->dirfd = -100; /* AT_FDCWD */
	} else {
		name = (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
		o->dirfd = (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs);
	}
	if (bpf_probe_read_user_str(o->key.path, sizeof(o->key.path), name) < 0)
		o->key.path[0] = 0; /* unreadable: counted under the empty path */
	if (bpf_map_update_elem(&vigil_open_inflight, &tid, o, BPF_ANY))
		drop(VIGIL_SYSCALL_DROP_OPEN_INFLIGHT);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(vigil_sys_enter, struct pt_regs *regs, long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct inflight s = {};
	enum file_kind kind = FILE_NONE;
	__u32 nr = (__u32)id;

	/* exit and exit_group never return: a stash would outlive the thread. */
	if (id < 0 || nr == NR_exit || nr == NR_exit_group)
		return 0;
	if (vigil_syscall_ignore_tgid && tgid == vigil_syscall_ignore_tgid)
		return 0;
	if (vigil_syscall_mode & VIGIL_SYSCALL_MODE_FILES)
		kind = file_kind(nr);
	if (!(vigil_syscall_mode & VIGIL_SYSCALL_MODE_SYSCALLS) && kind == FILE_NONE)
		return 0;
	if (!vigil_filter_pass())
		return 0;

	s.nr = nr;
	s.kind = kind;
	s.fd = -1;
	if (kind == FILE_READ || kind == FILE_WRITE) {
		s.fd = (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs);
		file_of_fd(s.fd, &s.dev, &s.ino);
	} else if (kind == FILE_OPEN_ARG0 || kind == FILE_OPEN_ARG1) {
		stash_open(tid, tgid, regs, kind);
	}
	/* Last, so the latency leaves out the work above. */
	s.start_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&vigil_syscall_inflight, &tid, &s, BPF_ANY))
		drop(VIGIL_SYSCALL_DROP_INFLIGHT);
	return 0;
}

static __always_inline void count_syscall(__u32 tgid, __u32 nr, __u64 ns, long ret)
{
	struct vigil_syscall_key k = { .tgid = tgid, .nr = nr };
	struct vigil_syscall_stats *st;
	__u32 b;

	st = lookup_or_insert(&vigil_syscall_stats, &k, &zero_stats, VIGIL_SYSCALL_DROP_STATS);
	if (!st)
		return;
	if (!st->count)
		bpf_get_current_comm(st->comm, sizeof(st->comm));
	st->count++;
	if (ret < 0)
		st->errors++;
	st->total_ns += ns;
	if (ns > st->max_ns)
		st->max_ns = ns;
	b = vigil_log2(ns);
	if (b > VIGIL_SYSCALL_HIST_BUCKETS - 1)
		b = VIGIL_SYSCALL_HIST_BUCKETS - 1;
	/* Without the barrier clang bounds-checks a copy of b, drops the mask
	 * (it knows b fits) and indexes with the unchecked register, which
	 * older verifiers (6.1) refuse as an unbounded access. */
	barrier_var(b);
	st->hist[b & (VIGIL_SYSCALL_HIST_BUCKETS - 1)]++;
}

static __always_inline void count_io(__u32 tgid, struct inflight *s, long ret)
{
	struct vigil_file_io_key k = { .tgid = tgid, .dev = s->dev, .ino = s->ino };
	struct vigil_file_io_stats *st;

	st = lookup_or_insert(&vigil_file_io, &k, &zero_io, VIGIL_SYSCALL_DROP_FILE_IO);
	if (!st)
		return;
	if (!st->reads && !st->writes && !st->errors)
		bpf_get_current_comm(st->comm, sizeof(st->comm));
	st->fd = s->fd;
	if (ret < 0) {
		st->errors++;
	} else if (s->kind == FILE_READ) {
		st->reads++;
		st->read_bytes += ret;
	} else {
		st->writes++;
		st->write_bytes += ret;
	}
}

static __always_inline void count_open(__u32 tid, long ret)
{
	struct open_inflight *o = bpf_map_lookup_elem(&vigil_open_inflight, &tid);
	struct vigil_file_open_stats *st;

	if (!o)
		return;
	st = lookup_or_insert(&vigil_file_opens, &o->key, &zero_open, VIGIL_SYSCALL_DROP_FILE_OPENS);
	if (st) {
		if (!st->opens)
			bpf_get_current_comm(st->comm, sizeof(st->comm));
		st->opens++;
		st->dirfd = o->dirfd;
		if (ret < 0) {
			st->errors++;
		} else {
			st->fd = (__s32)ret;
			file_of_fd((int)ret, &st->dev, &st->ino);
		}
	}
	bpf_map_delete_elem(&vigil_open_inflight, &tid);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(vigil_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct inflight *p, s;
	__u64 now = bpf_ktime_get_ns();

	p = bpf_map_lookup_elem(&vigil_syscall_inflight, &tid);
	if (!p)
		return 0; /* filtered out, or entered before Vigil attached */
	s = *p;
	bpf_map_delete_elem(&vigil_syscall_inflight, &tid);

	if (vigil_syscall_mode & VIGIL_SYSCALL_MODE_SYSCALLS)
		count_syscall(tgid, s.nr, now - s.start_ns, ret);
	if (vigil_syscall_mode & VIGIL_SYSCALL_MODE_FILES) {
		if (s.kind == FILE_READ || s.kind == FILE_WRITE)
			count_io(tgid, &s, ret);
		else if (s.kind == FILE_OPEN_ARG0 || s.kind == FILE_OPEN_ARG1)
			count_open(tid, ret);
	}
	return 0;
}

/* --pid N --follow-children without the process sensor: keep vigil_tracked
 * (filter.h) current. Loaded only when the filter needs it. */
SEC("raw_tp/sched_process_fork")
int BPF_PROG(vigil_syscall_track_fork, struct task_struct *parent, struct task_struct *child)
{
	vigil_filter_on_fork(BPF_CORE_READ(parent, tgid), BPF_CORE_READ(child, tgid));
	return 0;
}

SEC("raw_tp/sched_process_exit")
int vigil_syscall_track_exit(void *ctx)
{
	vigil_filter_on_thread_exit();
	return 0;
}
