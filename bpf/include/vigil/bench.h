/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef __VIGIL_BENCH_H
#define __VIGIL_BENCH_H

/* The ring-buffer benchmark's record: exactly 64 bytes. */
struct vigil_bench_record {
	__u64 seq;
	__u64 ktime_ns;
	__u32 pid;
	__u32 cpu;
	__u64 arg;
	__u8 pad[32];
};

#endif
