// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* raw_syscalls: the syscalls wanted, and a syscalls:sys_enter_* record
 * built from the registers.
 *
 * Part of bpf/policy.bpf.c, which includes it once, after the headers it
 * builds on (the order is there). Not for other objects: it defines engine
 * maps, functions or state that an object including it would carry too. */
#ifndef __VIGIL_POLICY_RAW_SYS_H
#define __VIGIL_POLICY_RAW_SYS_H

/* A syscalls:sys_enter_* / sys_exit_* record built from the registers: what
 * the hooks on raw_syscalls read (the id at 8, the arguments or the return
 * value from 16). */
struct raw_sys_record {
	__u64 common;
	__s64 id;
	__u64 args[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct raw_sys_record);
} raw_sys_records SEC(".maps");

/* The direction's configuration when syscall nr is wanted, else NULL: the
 * early exit every other syscall of the host takes. */
static __always_inline struct vigil_policy_raw_sys *raw_sys_wanted(__u32 dir, __u64 nr)
{
	struct vigil_policy_raw_sys *c = bpf_map_lookup_elem(&raw_sys, &dir);

	if (!c || nr >= VIGIL_POLICY_RAW_NRS || !(c->nrs[(nr / 64) & (VIGIL_POLICY_RAW_NRS / 64 - 1)] & (1ULL << (nr & 63))))
		return NULL;
	return c;
}

/* The sixth syscall argument (libbpf's macros stop at the fifth). */
static __always_inline __u64 regs_syscall_arg6(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, r9);
#elif defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ((struct user_pt_regs *)regs, regs[5]);
#else
#error "the sixth syscall argument in pt_regs: unknown architecture"
#endif
}

/* The record of syscall nr from its registers: the arguments, which a
 * syscall leaves as they were, so the exit reads them as well as the entry. */
static __always_inline struct raw_sys_record *raw_sys_record(struct pt_regs *regs, __s64 nr)
{
	struct raw_sys_record *rec;
	__u32 zero = 0;

	rec = bpf_map_lookup_elem(&raw_sys_records, &zero);
	if (!rec)
		return NULL;
	rec->common = 0;
	rec->id = nr;
	rec->args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
	rec->args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
	rec->args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	rec->args[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
	rec->args[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
	rec->args[5] = regs_syscall_arg6(regs);
	return rec;
}

/* The syscall number in the registers at a syscall's exit (syscall_get_nr). */
static __always_inline __s64 regs_syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ((struct user_pt_regs *)regs, syscallno);
#else
#error "the syscall number in pt_regs: unknown architecture"
#endif
}

#endif /* __VIGIL_POLICY_RAW_SYS_H */
