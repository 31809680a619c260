/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* File events: one record per completed file syscall (bpf/file.bpf.c).
 *
 * The arguments are read at syscall entry (syscalls:sys_enter_*), the result
 * at exit (syscalls:sys_exit_*); the record is sent at exit. Opens (open,
 * openat, openat2, creat) have no entry program: their exit reads the
 * arguments from the registers saved at entry and the name from the caller
 * (ktime is then the exit's time). It is a fixed
 * header followed by a data blob holding, in this order:
 *
 *   path        path_len bytes, no NUL: the file the syscall names, absolute
 *               and canonical ("/tmp/x/a.txt"), so that a path prefix
 *               decides on the file, not on the spelling:
 *                - an open that returned a descriptor (open, openat,
 *                  openat2, creat): the path of the struct file behind it,
 *                  walked through the mounts up to the process's root (what
 *                  readlink /proc/PID/fd/N shows: symlinks followed, "..",
 *                  "." and "//" gone, a process in a container sees its own
 *                  root); dev and ino are set (VIGIL_FILE_PATH_OPENED);
 *                - every other call (path-only syscalls, failed opens): the
 *                  name made absolute (the cwd's or the directory fd's walked
 *                  path + '/' + the name) and normalised lexically
 *                  (vigil_path_normalize): "." and "//" go, ".." removes the
 *                  component before it. Nothing is looked up: a symlink is
 *                  not followed (a link to /etc/shadow stays the link's own
 *                  path) and ".." after a symlink goes to the link's parent,
 *                  not its target's.
 *   target      target_len bytes, no NUL: the second name of two-name
 *               syscalls (see enum vigil_file_op), made canonical the same
 *               way (lexically), except for symlink/symlinkat: there it is
 *               the link's content exactly as given (VIGIL_FILE_TARGET_LITERAL),
 *               which the kernel does not resolve.
 *   raw         raw_len bytes, no NUL: the path argument exactly as the
 *               caller gave it (maybe relative, with "..", "//").
 *   raw_target  raw_target_len bytes: the same for target; empty when target
 *               is literal (it is the raw text already).
 *
 * A name that cannot be resolved (a bad dirfd, an unreadable string) is sent
 * as given, with VIGIL_FILE_ERROR_PATH/_TARGET set.
 */
#ifndef __VIGIL_FILE_H
#define __VIGIL_FILE_H

enum vigil_file_limits {
	/* PATH_MAX: a path in the record has at most VIGIL_FILE_PATH_MAX - 1
	 * bytes (it is sent without its NUL), the most a caller may name. A
	 * longer resolved path (a long directory + a relative name) keeps its
	 * leaf side and sets VIGIL_FILE_TRUNC_*. */
	VIGIL_FILE_PATH_MAX = 4096,
	/* The largest blob: path, target and both raw names. */
	VIGIL_FILE_DATA_MAX = 4 * VIGIL_FILE_PATH_MAX,
	VIGIL_FILE_COMM_LEN = 16,
};

/* The first __u32 of every file record. */
enum vigil_file_kind {
	VIGIL_FILE_EVENT = 0x46494c45, /* "FILE" */
};

/* What the syscall does. path/target per op:
 *   open      path: the file opened (or created)
 *   unlink    path: the name removed
 *   rmdir     path: the directory removed (rmdir, unlinkat AT_REMOVEDIR)
 *   mkdir     path: the directory made
 *   rename    path: the old name, target: the new name
 *   link      path: the new name, target: the existing file it names
 *   symlink   path: the new link, target: its content, literal (not resolved)
 *   chmod     path, mode
 *   chown     path, owner uid/gid (4294967295: unchanged)
 *   truncate  path, length */
enum vigil_file_op {
	VIGIL_FILE_OP_OPEN = 1,
	VIGIL_FILE_OP_UNLINK = 2,
	VIGIL_FILE_OP_RMDIR = 3,
	VIGIL_FILE_OP_MKDIR = 4,
	VIGIL_FILE_OP_RENAME = 5,
	VIGIL_FILE_OP_LINK = 6,
	VIGIL_FILE_OP_SYMLINK = 7,
	VIGIL_FILE_OP_CHMOD = 8,
	VIGIL_FILE_OP_CHOWN = 9,
	VIGIL_FILE_OP_TRUNCATE = 10,
};

/* Which syscall (architecture independent; the names user space shows). */
enum vigil_file_syscall {
	VIGIL_FILE_SYS_OPEN = 1,
	VIGIL_FILE_SYS_OPENAT = 2,
	VIGIL_FILE_SYS_OPENAT2 = 3,
	VIGIL_FILE_SYS_CREAT = 4,
	VIGIL_FILE_SYS_UNLINK = 5,
	VIGIL_FILE_SYS_UNLINKAT = 6,
	VIGIL_FILE_SYS_RENAME = 7,
	VIGIL_FILE_SYS_RENAMEAT = 8,
	VIGIL_FILE_SYS_RENAMEAT2 = 9,
	VIGIL_FILE_SYS_MKDIR = 10,
	VIGIL_FILE_SYS_MKDIRAT = 11,
	VIGIL_FILE_SYS_RMDIR = 12,
	VIGIL_FILE_SYS_LINK = 13,
	VIGIL_FILE_SYS_LINKAT = 14,
	VIGIL_FILE_SYS_SYMLINK = 15,
	VIGIL_FILE_SYS_SYMLINKAT = 16,
	VIGIL_FILE_SYS_CHMOD = 17,
	VIGIL_FILE_SYS_FCHMODAT = 18,
	VIGIL_FILE_SYS_FCHMODAT2 = 19,
	VIGIL_FILE_SYS_CHOWN = 20,
	VIGIL_FILE_SYS_FCHOWNAT = 21,
	VIGIL_FILE_SYS_LCHOWN = 22,
	VIGIL_FILE_SYS_TRUNCATE = 23,
};

/* vigil_file_event.status. */
enum vigil_file_status {
	/* mode holds the syscall's mode (open with O_CREAT/O_TMPFILE, creat,
	 * mkdir, chmod); otherwise it is 0 and means nothing. */
	VIGIL_FILE_HAS_MODE = 1 << 0,
	/* owner_uid/owner_gid hold chown's arguments. */
	VIGIL_FILE_HAS_OWNER = 1 << 1,
	/* length holds truncate's length. */
	VIGIL_FILE_HAS_LENGTH = 1 << 2,
	/* The resolved path was longer than VIGIL_FILE_PATH_MAX (or deeper than
	 * VIGIL_PATH_DEPTH): the leaf side is kept, show it as ".../leaf". */
	VIGIL_FILE_TRUNC_PATH = 1 << 3,
	VIGIL_FILE_TRUNC_TARGET = 1 << 4,
	/* The name could not be read or its directory not resolved: the path is
	 * the caller's string (maybe relative) or empty. */
	VIGIL_FILE_ERROR_PATH = 1 << 5,
	VIGIL_FILE_ERROR_TARGET = 1 << 6,
	/* target is a symlink's literal content. */
	VIGIL_FILE_TARGET_LITERAL = 1 << 7,
	/* path is the opened file's own (the struct file behind the returned
	 * descriptor, walked at exit): symlinks followed; dev and ino are set. */
	VIGIL_FILE_PATH_OPENED = 1 << 8,
};

/* One completed syscall, sent as this header then the blob above at offset
 * sizeof(header). */
struct vigil_file_event {
	__u32 kind;			/* VIGIL_FILE_EVENT */
	__u16 syscall;			/* enum vigil_file_syscall */
	__u16 op;			/* enum vigil_file_op */
	__u64 ktime;			/* syscall entry: CLOCK_BOOTTIME ns */
	__u64 start_boottime;		/* the process's (group leader's) start, CLOCK_BOOTTIME ns */
	__u64 cgroup_id;		/* cgroup v2 id of the task */
	__s64 ret;			/* the syscall's result: fd, 0 or -errno */
	__u64 flags;			/* open flags (O_*), AT_* or RENAME_* as the syscall took them;
					 * creat: O_CREAT|O_WRONLY|O_TRUNC; lchown: AT_SYMLINK_NOFOLLOW */
	__u64 resolve;			/* openat2: RESOLVE_* */
	__s64 length;			/* truncate's length (VIGIL_FILE_HAS_LENGTH) */
	__u64 ino;			/* VIGIL_FILE_PATH_OPENED: the opened file's inode number */
	__u32 mode;			/* VIGIL_FILE_HAS_MODE */
	__u32 owner_uid;		/* chown (VIGIL_FILE_HAS_OWNER); (u32)-1: unchanged */
	__u32 owner_gid;
	__u32 pid;			/* thread group id */
	__u32 tid;
	__u32 uid;			/* the caller's real uid/gid */
	__u32 gid;
	__u32 status;			/* enum vigil_file_status */
	__s32 nr;			/* the architecture's syscall number (pairs entry with exit) */
	__s32 dirfd;			/* the directory fd of path (-100: AT_FDCWD) */
	__s32 dirfd2;			/* ... of target */
	__u32 dev;			/* ... and its superblock's dev_t (kernel encoding:
					 * major << 20 | minor) */
	__u16 path_len;
	__u16 target_len;
	__u16 raw_len;
	__u16 raw_target_len;
	char comm[VIGIL_FILE_COMM_LEN];
};

#endif /* __VIGIL_FILE_H */
