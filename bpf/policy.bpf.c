// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* TracingPolicy engine: generic programs whose behaviour is data
 * (bpf/include/vigil/policy.h). One object serves every policy; a hook is an
 * attachment whose BPF cookie is its id in `hooks`.
 *
 *  policy_tp         any tracepoint, and syscalls:sys_enter_* (arguments at
 *                    offsets in the record). Judges at entry, or captures and
 *                    stashes for policy_sys_exit (VIGIL_POLICY_HOOK_AT_EXIT).
 *  policy_sys_exit   syscalls:sys_exit_*: completes a stashed entry (return
 *                    value, returnCopy buffers) and judges it.
 *  policy_rawenter, policy_rawexit
 *                    raw_syscalls: syscalls without a tracepoint of their
 *                    own, a syscalls record built from the registers.
 *  policy_uprobe, policy_uretprobe, policy_kprobe, policy_kretprobe,
 *  policy_kprobe_override
 *                    uprobes and kprobes (arguments from pt_regs).
 *  policy_raw_tp, policy_fentry, policy_fexit, policy_lsm
 *                    attach points fixed at load: one load per hook.
 *  policy_connect4/6, policy_sendmsg4/6
 *                    cgroup sock_addr programs: the hooks listed in
 *                    deny_set are judged on the socket address; a matching
 *                    selector with Deny refuses the syscall (EPERM).
 *  policy_proc_*     the process table (exec, fork, exit) behind
 *                    matchBinaries, followForks/followChildren and the
 *                    exec-time namespaces and capabilities.
 *  policy_tree_moved ages the prefilter's cache when directories move.
 *
 * A hook of a policy scoped to pods (VIGIL_POLICY_HOOK_SCOPED) first checks
 * that the task's cgroup is one of the policy's (map scope_cgroups).
 * Judging is three steps, each cheap to skip:
 *  1. process pass: the selectors with only their process filters (binary,
 *     pids, namespaces, capabilities); when none can match, nothing is read;
 *  2. capture: the arguments by type (strings, buffers, fds resolved to a
 *     path or a socket, sockaddrs, paths made absolute against a dirfd);
 *  3. the selectors in order, all filters: the first match acts.
 * Selectors and filters are walked with bpf_loop, so the verifier checks one
 * step whatever their number; filter values are looked up in the inner maps
 * of the value maps (any number of values).
 *
 * This file holds the programs; the engine behind them is in
 * bpf/include/vigil/policy/, one header a concern, included below in the
 * order they build on each other:
 *  maps.h       the maps (configuration and state) and the per-CPU records
 *  kernel.h     reads of the current task, its files and sockets; vg_walk
 *  procs.h      the process table's entries
 *  run.h        one judgement in progress (struct run), verdicts
 *  args.h       an argument's word (record, registers, return) and vg_resolve
 *  conds.h      the hook's own conditions (vg_conds)
 *  capture.h    the capture into the record's blob (vg_capture)
 *  prefilter.h  the prefilter and its cache (vg_prefilter)
 *  selectors.h  argument and process filters, the selector walk (vg_judge)
 *  actions.h    signals, Override, stacks, rate limit, post (vg_act)
 *  hook.h       one hook at its entry or exit (vg_entry, vg_leave)
 *  raw_sys.h    raw_syscalls: the numbers wanted, the record from registers
 *  deny.h       Deny on a socket address (vg_deny_hook)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "vigil/ringbuf.h"
#include "vigil/path.h"
#include "vigil/task.h"
#include "vigil/policy.h"
#include "vigil/policy/maps.h"
#include "vigil/policy/kernel.h"
#include "vigil/policy/procs.h"
#include "vigil/policy/run.h"
#include "vigil/policy/args.h"
#include "vigil/policy/conds.h"
#include "vigil/policy/capture.h"
#include "vigil/policy/prefilter.h"
#include "vigil/policy/selectors.h"
#include "vigil/policy/actions.h"
#include "vigil/policy/hook.h"
#include "vigil/policy/raw_sys.h"
#include "vigil/policy/deny.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps the header's types in BTF for codegen (src/generated/policy.ts). */
const enum vigil_policy_limits *unused_vigil_policy_limits __attribute__((unused));
const enum vigil_policy_kind *unused_vigil_policy_kind __attribute__((unused));
const enum vigil_policy_source *unused_vigil_policy_source __attribute__((unused));
const enum vigil_policy_hook_flag *unused_vigil_policy_hook_flag __attribute__((unused));
const enum vigil_policy_arg_type *unused_vigil_policy_arg_type __attribute__((unused));
const enum vigil_policy_fd_op *unused_vigil_policy_fd_op __attribute__((unused));
const enum vigil_policy_arg_flag *unused_vigil_policy_arg_flag __attribute__((unused));
const enum vigil_policy_action_kind *unused_vigil_policy_action_kind __attribute__((unused));
const enum vigil_policy_scope *unused_vigil_policy_scope __attribute__((unused));
const enum vigil_policy_action_flag *unused_vigil_policy_action_flag __attribute__((unused));
const enum vigil_policy_filter_kind *unused_vigil_policy_filter_kind __attribute__((unused));
const enum vigil_policy_op *unused_vigil_policy_op __attribute__((unused));
const enum vigil_policy_filter_flag *unused_vigil_policy_filter_flag __attribute__((unused));
const enum vigil_policy_ns *unused_vigil_policy_ns __attribute__((unused));
const enum vigil_policy_cap_set *unused_vigil_policy_cap_set __attribute__((unused));
const enum vigil_policy_event_flag *unused_vigil_policy_event_flag __attribute__((unused));
const enum vigil_policy_counter *unused_vigil_policy_counter __attribute__((unused));
const enum vigil_policy_deny_kind *unused_vigil_policy_deny_kind __attribute__((unused));
const struct vigil_policy_event *unused_vigil_policy_event __attribute__((unused));
const struct vigil_policy_sock *unused_vigil_policy_sock __attribute__((unused));
const struct vigil_policy_cred *unused_vigil_policy_cred __attribute__((unused));
const struct vigil_policy_range *unused_vigil_policy_range __attribute__((unused));
const struct vigil_policy_user_ns *unused_vigil_policy_user_ns __attribute__((unused));
const enum vigil_policy_tp_limits *unused_vigil_policy_tp_limits __attribute__((unused));
const enum vigil_policy_loc *unused_vigil_policy_loc __attribute__((unused));
const enum vigil_policy_cond_test *unused_vigil_policy_cond_test __attribute__((unused));
const enum vigil_policy_cond_op *unused_vigil_policy_cond_op __attribute__((unused));
const enum vigil_policy_hook_limits *unused_vigil_policy_hook_limits __attribute__((unused));
const enum vigil_policy_counter_slots *unused_vigil_policy_counter_slots __attribute__((unused));
const enum vigil_policy_prefilter_flag *unused_vigil_policy_prefilter_flag __attribute__((unused));
const enum vigil_policy_prefilter_limits *unused_vigil_policy_prefilter_limits __attribute__((unused));
const enum vigil_policy_prefilter_kind *unused_vigil_policy_prefilter_kind __attribute__((unused));
const enum vigil_policy_raw_sys_limits *unused_vigil_policy_raw_sys_limits __attribute__((unused));
const enum vigil_policy_prefilter_cache *unused_vigil_policy_prefilter_cache __attribute__((unused));
const struct vigil_policy_scope_key *unused_vigil_policy_scope_key __attribute__((unused));
const enum vigil_policy_scope_limits *unused_vigil_policy_scope_limits __attribute__((unused));

/* --- tracepoints and raw_syscalls (policy/hook.h, policy/raw_sys.h) ---------------- */

SEC("tracepoint")
int policy_tp(void *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_TRACEPOINT))
		run_list(ctx, ctx, bpf_get_attach_cookie(ctx), false, 0, 0);
	return 0;
}

SEC("tracepoint")
int policy_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_TRACEPOINT))
		run_list(ctx, ctx, bpf_get_attach_cookie(ctx), true, ctx->ret, (__s32)ctx->id);
	return 0;
}

/* raw_syscalls:sys_enter(regs, id) */
SEC("raw_tracepoint/sys_enter")
int policy_rawenter(struct bpf_raw_tracepoint_args *ctx)
{
	struct vigil_policy_raw_sys *c = raw_sys_wanted(0, ctx->args[1]);
	struct raw_sys_record *rec;

	if (!c)
		return 0;
	rec = raw_sys_record((struct pt_regs *)ctx->args[0], ctx->args[1]);
	if (rec && begin(rec, VIGIL_POLICY_SRC_TRACEPOINT))
		run_list(ctx, rec, c->slot, false, 0, 0);
	return 0;
}

/* raw_syscalls:sys_exit(regs, ret). The record is the entry's (the
 * arguments from the registers): hooks judged here alone (EXIT_ONLY) read
 * their arguments from it, so no program runs at the entry of every
 * syscall; the return value is ret. */
SEC("raw_tracepoint/sys_exit")
int policy_rawexit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	__s64 nr = regs_syscall_nr(regs);
	struct vigil_policy_raw_sys *c = raw_sys_wanted(1, nr);
	struct raw_sys_record *rec;

	if (!c)
		return 0;
	rec = raw_sys_record(regs, nr);
	if (rec && begin(rec, VIGIL_POLICY_SRC_TRACEPOINT))
		run_list(ctx, rec, c->slot, true, (__s64)ctx->args[1], (__s32)nr);
	return 0;
}

/* --- uprobes, kprobes, raw tracepoints, fentry/fexit, LSM -------------------------- */

SEC("uprobe")
int policy_uprobe(struct pt_regs *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_REGS))
		run_hook(ctx, bpf_get_attach_cookie(ctx), false, 0, 0);
	return 0;
}

SEC("uretprobe")
int policy_uretprobe(struct pt_regs *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_REGS))
		run_hook(ctx, bpf_get_attach_cookie(ctx), true, PT_REGS_RC_CORE(ctx), -1);
	return 0;
}

/* Kernel functions: kprobes (arguments from pt_regs, as uprobes), the hook's
 * id in the BPF cookie. */
SEC("kprobe")
int policy_kprobe(struct pt_regs *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_REGS))
		run_hook(ctx, bpf_get_attach_cookie(ctx), false, 0, 0);
	return 0;
}

/* A kprobe whose Override changes the function's result (error injection):
 * a variant, loaded only where bpf_override_return exists and a policy
 * overrides a kprobe (the helper makes the load fail elsewhere). */
SEC("kprobe")
int policy_kprobe_override(struct pt_regs *ctx)
{
	struct evalbuf *e = begin(ctx, VIGIL_POLICY_SRC_REGS);

	if (!e)
		return 0;
	run_hook(ctx, bpf_get_attach_cookie(ctx), false, 0, 0);
	e = evalbuf();
	if (e && e->st.has_override)
		bpf_override_return(ctx, (__s64)e->st.override);
	return 0;
}

SEC("kretprobe")
int policy_kretprobe(struct pt_regs *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_REGS))
		run_hook(ctx, bpf_get_attach_cookie(ctx), true, PT_REGS_RC_CORE(ctx), -1);
	return 0;
}

/* Programs whose attach point is fixed at load (raw tracepoints without
 * cookies in libbpf 1.1; fentry, fexit and LSM, whose target function is set
 * before load): one load of the program per hook, with the hook's id here. */
const volatile __u32 raw_tp_hook = 0;

SEC("raw_tracepoint")
int policy_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_RAW_TP))
		run_hook(ctx, raw_tp_hook, false, 0, 0);
	return 0;
}

/* fentry: the arguments are 8-byte words of the context (LOC_RECORD 8 * i). */
SEC("fentry")
int policy_fentry(void *ctx)
{
	if (begin(ctx, VIGIL_POLICY_SRC_TRACING))
		run_hook(ctx, raw_tp_hook, false, 0, 0);
	return 0;
}

/* fexit: the arguments and the return value at once: judged without a
 * stash, as a hook whose return value is known at its entry
 * (VIGIL_POLICY_HOOK_RET_AT_ENTRY with ret at LOC_RET: e->st.ret). */
SEC("fexit")
int policy_fexit(void *ctx)
{
	struct evalbuf *e = begin(ctx, VIGIL_POLICY_SRC_TRACING);
	__u64 ret = 0;

	if (!e)
		return 0;
	bpf_get_func_ret(ctx, &ret);
	e->st.ret = ret;
	run_hook(ctx, raw_tp_hook, false, 0, 0);
	return 0;
}

/* BPF-LSM: the hook's arguments as fentry's; Override's error is the
 * program's return value, which the kernel enforces (0 allows). */
SEC("lsm")
int policy_lsm(void *ctx)
{
	struct evalbuf *e = begin(ctx, VIGIL_POLICY_SRC_TRACING);
	long err;

	if (!e)
		return 0;
	run_hook(ctx, raw_tp_hook, false, 0, 0);
	e = evalbuf();
	if (!e || !e->st.has_override)
		return 0;
	/* 64-bit and bounded: the verifier checks R0 is in [-4095, 0]. */
	err = e->st.override;
	if (err < -4095 || err > 0)
		return -1;
	return err;
}

/* --- the process table (policy/procs.h) -------------------------------------------- */

SEC("tracepoint/sched/sched_process_exec")
int policy_proc_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, zero = 0;
	struct evalbuf *e = bpf_map_lookup_elem(&eval_map, &zero);

	if (!e)
		return 0;
	vg_proc_build();
	bpf_map_update_elem(&procs, &tgid, &e->proc, BPF_ANY);
	return 0;
}

SEC("raw_tracepoint/sched_process_fork")
int policy_proc_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid), zero = 0;
	struct vigil_policy_proc *p;
	struct evalbuf *e;

	if (ctgid == ptgid)
		return 0;	/* a thread */
	p = bpf_map_lookup_elem(&procs, &ptgid);
	e = bpf_map_lookup_elem(&eval_map, &zero);
	if (!p || !e)
		return 0;	/* made on first use */
	e->proc = *p;
	e->proc.ppid = ptgid;
	e->proc.start_boottime = BPF_CORE_READ(child, start_boottime);
	bpf_map_update_elem(&procs, &ctgid, &e->proc, BPF_ANY);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int policy_proc_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if ((__u32)id == tgid)
		bpf_map_delete_elem(&procs, &tgid);
	return 0;
}

/* --- the prefilter's cache (policy/prefilter.h) ------------------------------------ */

/* At the exit of a syscall that may have moved a directory or a mount: the
 * prefilter's cached verdicts are made again (vigil/policy.h). */
SEC("tracepoint")
int policy_tree_moved(void *ctx)
{
	__u32 k = VIGIL_POLICY_PF_GEN_MOVED;
	__u64 *g = bpf_map_lookup_elem(&pf_gen, &k);

	if (g)
		__sync_fetch_and_add(g, 1);
	return 0;
}

/* --- Deny: cgroup sock_addr (policy/deny.h) ---------------------------------------- */

VIGIL_PROG_CALL("cgroup/connect4", policy_connect4, struct bpf_sock_addr *, deny_run(ctx, VIGIL_POLICY_DENY_CONNECT, false));
VIGIL_PROG_CALL("cgroup/connect6", policy_connect6, struct bpf_sock_addr *, deny_run(ctx, VIGIL_POLICY_DENY_CONNECT, true));
VIGIL_PROG_CALL("cgroup/sendmsg4", policy_sendmsg4, struct bpf_sock_addr *, deny_run(ctx, VIGIL_POLICY_DENY_SENDMSG, false));
VIGIL_PROG_CALL("cgroup/sendmsg6", policy_sendmsg6, struct bpf_sock_addr *, deny_run(ctx, VIGIL_POLICY_DENY_SENDMSG, true));
