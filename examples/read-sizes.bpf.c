// SPDX-License-Identifier: GPL-2.0
/* A script for `vigil trace`: read(2) calls per process, and the sizes they
 * returned as a log2 histogram, both kept in the kernel.
 *
 *   vigil trace examples/read-sizes.bpf.c --duration 10
 *
 * vigil/lib.h (TRACEPOINT_PROBE, SYSCALL_EXIT_PROBE, VIGIL_HASH, ...) comes
 * first; docs/library.md describes it.
 */
VIGIL_HASH(reads, u32, u64, 10240);
VIGIL_HISTOGRAM(bytes_hist, 32);

SYSCALL_EXIT_PROBE(read)
{
	u32 pid = vigil_pid();

	vigil_map_add(&reads, &pid, 1);
	if (args->ret >= 0)
		vigil_hist_log2(bytes_hist, args->ret, 32);
	return 0;
}
