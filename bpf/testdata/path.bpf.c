// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Exercises bpf/include/vigil/path.h: on each exec whose parent is
 * target_ppid, the executable's path leaf first and root first, the cwd root
 * first (with a relative name appended after it), and the binary as an LPM
 * key, all into .bss for test/path.test.ts. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "vigil/filter.h"
#include "vigil/path.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MASK 8191

const volatile __u32 target_ppid = 0;

__u8 buf[MASK + 1 + VIGIL_PATH_SLACK];
__u32 leaf_len, exe_len, cwd_len, rel_len, flags, seen;
struct vigil_path_key key;

SEC("tracepoint/sched/sched_process_exec")
int path_exec(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct path root, pwd, exe;
	__u32 f = 0, n;

	if (BPF_CORE_READ(task, real_parent, tgid) != target_ppid)
		return 0;
	vigil_task_root_pwd(task, &root, &pwd);
	BPF_CORE_READ_INTO(&exe, task, mm, exe_file, f_path);

	/* leaf first at [0, 4096) */
	leaf_len = vigil_path_leaf_first(buf, MASK, 0, VIGIL_PATH_MAX, &exe, &root, &f, 1, 2);
	/* root first ending at 6144 */
	exe_len = vigil_path_root_first(buf, MASK, 6144, 2048, &exe, &root, &f, 4, 8);
	vigil_path_key_fill(&key, buf, MASK, 6144 - exe_len, exe_len);
	/* cwd root first ending at 8000, then "/rel" after it */
	cwd_len = vigil_path_root_first(buf, MASK, 8000, 1900, &pwd, &root, &f, 16, 32);
	buf[8000] = '/';
	n = bpf_probe_read_kernel_str(buf + 8001, 64, "rel/name");
	rel_len = n > 0 ? n - 1 : 0;
	flags = f;
	seen++;
	return 0;
}
