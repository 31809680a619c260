// CPU profiler with stack traces: samples every CPU 99 times a second, counts
// (process, kernel stack, user stack) in the kernel, prints the hottest
// stacks with their functions.
//
//   node dist/examples/cpu-profiler.js [--pid PID] [--duration SECONDS] [--top N]
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { compile, readStack } from 'vigil/inline';
import { Symbolizer } from 'vigil/symbols';

const { values } = parseArgs({
  options: { pid: { type: 'string', default: '0' }, duration: { type: 'string', default: '5' }, top: { type: 'string', default: '5' } },
});

const spec = await compile(`
const volatile u32 target_tgid = 0; /* 0: every process */

struct sample_key {
	u32 pid;
	s32 kernel_stack; /* stack ids; negative: none (-EFAULT for a user-only sample) */
	s32 user_stack;
	char comm[16];
};

VIGIL_HASH(samples, struct sample_key, u64, 16384);
VIGIL_STACK_TRACE(stacks, 16384);

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	struct sample_key key = {};

	key.pid = vigil_pid();
	if (key.pid == 0 || (target_tgid && key.pid != target_tgid))
		return 0;
	key.kernel_stack = bpf_get_stackid(ctx, &stacks, 0);
	key.user_stack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	vigil_map_add(&samples, &key, 1);
	return 0;
}
`, { name: 'cpu_profiler' });
const pid = Number(values.pid);
using obj = await spec.load({ constants: { target_tgid: pid } });
using symbols = new Symbolizer();
if (pid) symbols.captureProcess(pid); // its mappings, read while it runs
using sampling = obj.program('on_sample').attachPerfSampling({ frequency: 99 });
console.log(`sampling ${pid ? `pid ${pid}` : 'every process'} at 99 Hz for ${values.duration} s`);
await sleep(Number(values.duration) * 1000);
sampling.close();

const stacks = obj.map('stacks');
const rows = obj.map('samples').drain().map(([k, v]) => ({
  pid: k.readUInt32LE(0), kernel: k.readInt32LE(4), user: k.readInt32LE(8),
  comm: k.subarray(12, 28).toString('utf8').replace(/\0.*$/s, ''), count: Number(v.readBigUInt64LE(0)),
})).sort((a, b) => b.count - a.count);
console.log(`${rows.reduce((n, r) => n + r.count, 0)} samples`);
for (const r of rows.slice(0, Number(values.top))) {
  console.log(`\n${r.count} samples  ${r.comm} (pid ${r.pid})`);
  symbols.captureProcess(r.pid);
  for (const f of symbols.symbolize(r.pid, readStack(stacks, r.kernel), true)) console.log(`    ${f.name} [k]`);
  for (const f of symbols.symbolize(r.pid, readStack(stacks, r.user), false)) console.log(`    ${f.name}${f.module ? ` (${f.module})` : ''}`);
}
