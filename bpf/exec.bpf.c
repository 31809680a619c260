// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Process executions: one vigil_exec_event per successful execve/execveat.
 *
 * sched:sched_process_exec fires in the new program's context once the exec
 * can no longer fail: the task already has its new mm, exe_file and creds.
 * The record is built in a per-CPU scratch buffer and copied to the ring
 * with only the bytes used, so a short command line makes a short record.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/ringbuf.h"
#include "vigil/process.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Offsets into the scratch blob are masked with SCRATCH_MASK so the verifier
 * can bound every write; the buffer has room past the mask for the largest
 * single write (VIGIL_ARGS_MAX bytes of argv, or one path component). The
 * logical limits (VIGIL_EXEC_DATA_MAX) keep real offsets below the mask, so
 * masking never changes an offset. */
#define SCRATCH_MASK 16383
#define SCRATCH_DATA (SCRATCH_MASK + 1 + VIGIL_ARGS_MAX)

_Static_assert(VIGIL_EXEC_DATA_MAX <= SCRATCH_MASK, "blob must fit under the mask");
_Static_assert(VIGIL_NAME_MAX + 1 <= VIGIL_ARGS_MAX, "slack must hold one component");
_Static_assert(sizeof(struct vigil_exec_event) % 8 == 0, "blob starts 8-aligned");

/* The record as built: header, then the blob. Using the header type here
 * also keeps struct vigil_exec_event in the object's BTF for codegen. */
struct exec_scratch {
	struct vigil_exec_event event;
	__u8 data[SCRATCH_DATA];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_scratch);
} exec_scratch SEC(".maps");

/* Keeps the header's enums in BTF for codegen (src/generated/process.ts). */
const enum vigil_process_limits *unused_vigil_process_limits __attribute__((unused));
const enum vigil_process_kind *unused_vigil_process_kind __attribute__((unused));
const enum vigil_exec_flags *unused_vigil_exec_flags __attribute__((unused));

/* Resized from user space before load (ExecSensor's ringBytes). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 512 * 1024);
} events SEC(".maps");

/* Only executions whose parent process (thread group id) is this one; 0: all. */
const volatile __u32 filter_ppid = 0;

static __always_inline struct mount *real_mount(struct vfsmount *vfsmnt)
{
	return (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

/* One path walk in progress (bpf_loop's context). */
struct walk {
	__u8 *data;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 start;
	__u32 len;
	__u32 done;
	__u32 flags;
	__u32 trunc_flag;
	__u32 err_flag;
};

/* Appends one component at data[start + len]; false when the walk must stop. */
static __always_inline bool emit_name(struct walk *w, struct dentry *dentry)
{
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	long n = bpf_probe_read_kernel_str(w->data + ((w->start + w->len) & SCRATCH_MASK),
					   VIGIL_NAME_MAX + 1, name);

	if (n <= 0) {
		w->flags |= w->err_flag;
		return false;
	}
	if (w->len + n > VIGIL_PATH_MAX) {
		w->flags |= w->trunc_flag;
		return false;
	}
	w->len += n;
	return true;
}

/*
 * One step of the kernel's prepend_path: up d_parent to the mount's root,
 * then across to the mount point in the parent mount, until the task's root
 * (or the global root, for a path outside a chroot). Returns 1 to stop.
 */
static long walk_step(__u64 index, void *ctx)
{
	struct walk *w = ctx;
	struct dentry *dentry = w->dentry, *parent, *mnt_root;
	struct vfsmount *vfsmnt = w->vfsmnt;

	if (dentry == w->root_dentry && vfsmnt == w->root_mnt)
		goto done;
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt = real_mount(vfsmnt);
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (mnt != mnt_parent) {
			w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			w->vfsmnt = (struct vfsmount *)((void *)mnt_parent +
				bpf_core_field_offset(struct mount, mnt));
			return 0;
		}
		/* A file of an internal mount (memfd, pipe) has no mount point:
		 * d_path shows its own name alone. */
		if (!w->len && dentry != w->root_dentry)
			emit_name(w, dentry);
		goto done;
	}
	if (!emit_name(w, dentry))
		return 1;
	w->dentry = parent;
	return 0;
done:
	w->done = 1;
	return 1;
}

/*
 * Writes the components of path, leaf first, each NUL-terminated, at
 * data[start...]; returns the bytes written and adds trunc_flag or err_flag
 * to *flags. bpf_loop (5.17) keeps verification to one pass over the step.
 */
static __always_inline __u32 walk_path(__u8 *data, __u32 start, const struct path *path,
				       const struct path *root, __u32 *flags,
				       __u32 trunc_flag, __u32 err_flag)
{
	struct walk w = {
		.data = data,
		.dentry = path->dentry,
		.vfsmnt = path->mnt,
		.root_dentry = root->dentry,
		.root_mnt = root->mnt,
		.start = start,
		.trunc_flag = trunc_flag,
		.err_flag = err_flag,
	};

	if (!w.dentry || !w.vfsmnt) {
		*flags |= err_flag;
		return 0;
	}
	bpf_loop(VIGIL_PATH_DEPTH, walk_step, &w, 0);
	if (!w.done && !(w.flags & (trunc_flag | err_flag)))
		w.flags |= trunc_flag;
	*flags |= w.flags;
	return w.len;
}

SEC("tracepoint/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_exec_event *ev;
	struct exec_scratch *s;
	struct path root, path;
	struct mm_struct *mm;
	struct file *exe;
	const struct cred *cred;
	unsigned long arg_start, arg_end, args;
	__u32 zero = 0, off = 0, ppid, flags = 0;
	__u64 size;

	ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (filter_ppid && ppid != filter_ppid)
		return 0;
	s = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!s)
		return 0;
	ev = &s->event;

	ev->kind = VIGIL_PROCESS_EXEC;
	ev->ktime = bpf_ktime_get_boot_ns();
	ev->start_boottime = BPF_CORE_READ(task, start_boottime);
	ev->parent_start_boottime = BPF_CORE_READ(task, real_parent, group_leader, start_boottime);
	ev->pid = bpf_get_current_pid_tgid() >> 32;
	ev->tid = ctx->old_pid;
	ev->ppid = ppid;
	cred = BPF_CORE_READ(task, cred);
	ev->uid = BPF_CORE_READ(cred, uid.val);
	ev->gid = BPF_CORE_READ(cred, gid.val);
	ev->euid = BPF_CORE_READ(cred, euid.val);
	ev->egid = BPF_CORE_READ(cred, egid.val);
	if (bpf_core_field_exists(task->loginuid))
		ev->auid = BPF_CORE_READ(task, loginuid.val);
	else
		ev->auid = (__u32)-1;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ev->pad = 0;

	BPF_CORE_READ_INTO(&root, task, fs, root);
	mm = BPF_CORE_READ(task, mm);

	/* binary: mm->exe_file, the file the kernel actually mapped (a symlink
	 * named in execve is already resolved). */
	exe = BPF_CORE_READ(mm, exe_file);
	if (exe) {
		BPF_CORE_READ_INTO(&path, exe, f_path);
		off = walk_path(s->data, 0, &path, &root, &flags,
				VIGIL_EXEC_TRUNC_BINARY, VIGIL_EXEC_ERROR_BINARY);
	} else {
		flags |= VIGIL_EXEC_ERROR_BINARY;
	}
	ev->binary_len = off;

	/* args: the argv strings exec just copied to the new stack. */
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	args = arg_end > arg_start ? arg_end - arg_start : 0;
	if (args > VIGIL_ARGS_MAX) {
		args = VIGIL_ARGS_MAX;
		flags |= VIGIL_EXEC_TRUNC_ARGS;
	}
	if (args && bpf_probe_read_user(s->data + (off & SCRATCH_MASK), args, (void *)arg_start)) {
		flags |= VIGIL_EXEC_ERROR_ARGS;
		args = 0;
	}
	ev->args_len = args;
	off += args;

	/* cwd */
	BPF_CORE_READ_INTO(&path, task, fs, pwd);
	ev->cwd_len = walk_path(s->data, off, &path, &root, &flags,
				VIGIL_EXEC_TRUNC_CWD, VIGIL_EXEC_ERROR_CWD);
	off += ev->cwd_len;

	ev->flags = flags;
	size = sizeof(*ev) + (off & SCRATCH_MASK);
	vigil_output(&events, 0, s, size);
	return 0;
}
