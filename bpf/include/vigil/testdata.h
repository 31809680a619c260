/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Records of the runtime's own test programs (bpf/testdata/runtime.bpf.c). */
#ifndef __VIGIL_TESTDATA_H
#define __VIGIL_TESTDATA_H

struct vigil_test_record {
	__u64 seq;
	__u32 pid;
	__u32 tid;
	char comm[16];
	__u64 cookie;
};

struct vigil_test_key {
	__u32 pid;
	__u32 slot;
};

struct vigil_test_value {
	__u64 count;
	__u64 sum;
	char label[12];
	__u32 flags;
};

#endif
