// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The processes that run when Vigil starts: one exec-shaped record
 * (struct vigil_exec_event with VIGIL_EXEC_SNAPSHOT) per thread group
 * leader, written back to back into the iterator's stream and read once.
 * They give later events their parents (Tetragon's "procFS" processes).
 *
 * A sleepable task iterator: argv lives in each process's own memory, which
 * only bpf_copy_from_user_task (sleepable) can read. Its own object, so its
 * scratch and walk state are never shared with the live sensor's programs
 * while it sleeps.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/maps.h"
#include "vigil/path.h"
#include "vigil/task.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SCRATCH_MASK 16383
#define SCRATCH_DATA (SCRATCH_MASK + 1 + VIGIL_ARGS_MAX)
#define PF_KTHREAD 0x00200000

_Static_assert(VIGIL_EXEC_DATA_MAX <= SCRATCH_MASK, "blob must fit under the mask");

struct snapshot_scratch {
	struct vigil_exec_event event;
	__u8 data[SCRATCH_DATA];
};

VIGIL_INDEXED_MAP(snapshot_scratch, BPF_MAP_TYPE_PERCPU_ARRAY, 1, struct snapshot_scratch);

SEC("iter.s/task")
int process_snapshot(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct snapshot_scratch *s;
	struct vigil_exec_event *ev;
	struct path root, pwd, exe_path;
	struct mm_struct *mm;
	struct file *exe;
	unsigned long arg_start, args;
	__u32 zero = 0, off = 0, n, flags = VIGIL_EXEC_SNAPSHOT;

	if (!task || task->pid != task->tgid)
		return 0;
	s = bpf_map_lookup_elem(&snapshot_scratch, &zero);
	if (!s)
		return 0;
	ev = &s->event;
	ev->kind = VIGIL_PROCESS_EXEC;
	vigil_task_fill(&ev->task, task);
	ev->ktime = ev->task.start_boottime;
	ev->pad = 0;
	ev->binary_len = 0;
	ev->args_len = 0;
	ev->cwd_len = 0;

	mm = BPF_CORE_READ(task, mm);
	if (!mm || (BPF_CORE_READ(task, flags) & PF_KTHREAD)) {
		flags |= VIGIL_EXEC_KTHREAD;
	} else {
		vigil_task_root_pwd(task, &root, &pwd);
		exe = BPF_CORE_READ(mm, exe_file);
		if (exe) {
			BPF_CORE_READ_INTO(&exe_path, exe, f_path);
			off = vigil_path_leaf_first(s->data, SCRATCH_MASK, 0, VIGIL_PATH_MAX, &exe_path,
						    &root, &flags, VIGIL_EXEC_TRUNC_BINARY,
						    VIGIL_EXEC_ERROR_BINARY);
		} else {
			flags |= VIGIL_EXEC_ERROR_BINARY;
		}
		ev->binary_len = off;

		args = vigil_exec_args_len(mm, &arg_start, &flags);
		if (args && bpf_copy_from_user_task(s->data + (off & SCRATCH_MASK), args,
						    (void *)arg_start, task, 0)) {
			flags |= VIGIL_EXEC_ERROR_ARGS;
			args = 0;
		}
		ev->args_len = args;
		off += args;

		n = vigil_path_leaf_first(s->data, SCRATCH_MASK, off, VIGIL_PATH_MAX, &pwd, &root,
					  &flags, VIGIL_EXEC_TRUNC_CWD, VIGIL_EXEC_ERROR_CWD);
		ev->cwd_len = n;
		off += n;
	}

	off = vigil_exec_tail(s->data, SCRATCH_MASK, off, task, ev, &flags);

	ev->flags = flags;
	off = sizeof(*ev) + (off & SCRATCH_MASK);
	ev->size = off;
	bpf_seq_write(seq, s, off);
	return 0;
}
