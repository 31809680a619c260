/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Syscall and file-activity aggregates (bpf/syscalls.bpf.c), kept in kernel
 * maps: nothing per event crosses to user space.
 *
 * raw_tp sys_enter stashes the entry time per thread (filtered-out tasks
 * stash nothing, so their sys_exit costs one failed lookup); raw_tp sys_exit
 * adds the call to per-CPU aggregates. User space reads and clears each map
 * once per interval with batch lookup-and-delete.
 *
 *   vigil_syscall_stats   (tgid, syscall nr)       -> count, errors, latency sum/max, log2 histogram
 *   vigil_file_io         (tgid, dev, inode)       -> read/write calls and bytes (read, write, pread64,
 *                                                     pwrite64, readv, writev, preadv(2), pwritev(2))
 *   vigil_file_opens      (tgid, path as given)    -> open/openat/openat2/creat calls, failures, and
 *                                                     the inode the last success opened
 *
 * Per-CPU values: each CPU adds to its own copy without atomics; user space
 * sums the copies. comm is written into a CPU's copy when that copy is first
 * used (an empty comm means the CPU never saw the key).
 *
 * Latency histogram: bucket b counts calls that took [2^b, 2^(b+1)) ns;
 * bucket 0 also takes 0 and 1 ns; the last bucket is open-ended
 * (>= 2^31 ns, about 2.1 s), bounded above by max_ns.
 *
 * A full map is never silent: each failed insert is counted in
 * vigil_syscall_drops[enum vigil_syscall_drop].
 */
#ifndef __VIGIL_SYSCALL_H
#define __VIGIL_SYSCALL_H

enum vigil_syscall_limits {
	VIGIL_SYSCALL_HIST_BUCKETS = 32,
	VIGIL_SYSCALL_COMM_LEN = 16,
	/* Bytes of an open's path kept (with the NUL): a longer path is cut to 255 bytes. */
	VIGIL_SYSCALL_PATH_MAX = 256,
	/* Default map sizes (LoadOptions.maxEntries may change them). */
	VIGIL_SYSCALL_STATS_MAX = 16384,
	VIGIL_SYSCALL_INFLIGHT_MAX = 16384,
	VIGIL_FILE_IO_MAX = 8192,
	VIGIL_FILE_OPENS_MAX = 4096,
	VIGIL_FILE_OPEN_INFLIGHT_MAX = 1024,
};

/* What the object aggregates: load-time constant vigil_syscall_mode. */
enum vigil_syscall_mode {
	VIGIL_SYSCALL_MODE_SYSCALLS = 1 << 0,
	VIGIL_SYSCALL_MODE_FILES = 1 << 1,
};

/* Index in the per-CPU array vigil_syscall_drops: calls not counted because a map was full. */
enum vigil_syscall_drop {
	/* The per-thread entry stash was full: that call is not counted at all. */
	VIGIL_SYSCALL_DROP_INFLIGHT = 0,
	VIGIL_SYSCALL_DROP_STATS = 1,
	VIGIL_SYSCALL_DROP_FILE_IO = 2,
	VIGIL_SYSCALL_DROP_FILE_OPENS = 3,
	VIGIL_SYSCALL_DROP_OPEN_INFLIGHT = 4,
	VIGIL_SYSCALL_DROP_COUNT = 5,
};

struct vigil_syscall_key {
	__u32 tgid;
	/* The syscall number of the task's native ABI (32-bit compat calls are not told apart). */
	__u32 nr;
};

struct vigil_syscall_stats {
	__u64 count;
	/* Calls that returned a negative value (-errno). */
	__u64 errors;
	__u64 total_ns;
	__u64 max_ns;
	__u64 hist[VIGIL_SYSCALL_HIST_BUCKETS];
	char comm[VIGIL_SYSCALL_COMM_LEN];
};

/* The file an fd named at syscall entry: its superblock's device (kernel
 * encoding, major << 20 | minor) and inode number; both 0 for a bad fd. */
struct vigil_file_io_key {
	__u32 tgid;
	__u32 dev;
	__u64 ino;
};

struct vigil_file_io_stats {
	__u64 reads;
	__u64 read_bytes;
	__u64 writes;
	__u64 write_bytes;
	/* Reads and writes that failed (not in reads/writes). */
	__u64 errors;
	/* The fd of the last call on this CPU: user space names the file through /proc/<tgid>/fd/<fd>. */
	__s32 fd;
	__u32 pad;
	char comm[VIGIL_SYSCALL_COMM_LEN];
};

struct vigil_file_open_key {
	__u32 tgid;
	/* The path as the caller gave it (maybe relative), NUL-padded. */
	char path[VIGIL_SYSCALL_PATH_MAX];
};

struct vigil_file_open_stats {
	__u64 opens;
	/* Opens that failed (counted in opens too). */
	__u64 errors;
	/* The file the last successful open on this CPU reached (0 if none). */
	__u64 ino;
	__u32 dev;
	/* That open's result, and the directory fd a relative path was taken against (-100: the cwd). */
	__s32 fd;
	__s32 dirfd;
	__u32 pad;
	char comm[VIGIL_SYSCALL_COMM_LEN];
};

#endif /* __VIGIL_SYSCALL_H */
