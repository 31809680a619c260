// Per-process syscall counter: counted in the kernel, the busiest processes
// printed every 5 seconds.
//
//   node dist/examples/syscall-counter.js [--interval SECONDS] [--count N] [--top N]
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { TypedMap, codec } from 'vigil/bpf';
import { compile } from 'vigil/inline';

const { values } = parseArgs({
  options: { interval: { type: 'string', default: '5' }, count: { type: 'string', default: '0' }, top: { type: 'string', default: '10' } },
});

const spec = await compile(`
VIGIL_HASH(counts, u32, u64, 10240);

TRACEPOINT_PROBE(raw_syscalls, sys_enter)
{
	u32 pid = vigil_pid();
	vigil_map_add(&counts, &pid, 1);
	return 0;
}
`, { name: 'syscall_counter' });
using obj = await spec.load();
using link = obj.program('tracepoint__raw_syscalls__sys_enter').attach();
const counts = new TypedMap(obj.map('counts'), codec.u32, codec.u64n);

const comm = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?'; // it has exited
  }
};

console.log(`counting syscalls (${link.description}); every ${values.interval} s:`);
for (let i = 0; Number(values.count) === 0 || i < Number(values.count); i++) {
  await sleep(Number(values.interval) * 1000);
  const rows = counts.drain().sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
  console.log(`\n${new Date().toISOString()}\n${'PID'.padStart(8)} ${'COMM'.padEnd(16)} ${'SYSCALLS'.padStart(10)}`);
  for (const [pid, n] of rows) console.log(`${String(pid).padStart(8)} ${comm(pid).padEnd(16)} ${String(n).padStart(10)}`);
}
