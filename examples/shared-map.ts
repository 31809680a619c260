// A map shared through bpffs: `serve` loads a program that counts executions
// by command name into a map and pins the map in bpffs, and runs until
// stopped (then removes the pin); `read`, any number of times from other
// processes meanwhile, opens the pinned map and prints it.
//
//   node dist/examples/shared-map.js serve [--dir /sys/fs/bpf/vigil-example]
//   node dist/examples/shared-map.js read  [--dir /sys/fs/bpf/vigil-example]
import { mkdirSync, rmdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BpfMap, TypedMap, codec, ensureBpffs } from 'vigil/bpf';
import { compile, untilInterrupted } from 'vigil/inline';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { dir: { type: 'string', default: '/sys/fs/bpf/vigil-example' } } });
const pin = path.join(values.dir, 'exec_counts');
const comm = codec.cstring(16);

if (positionals[0] === 'read') {
  using map = BpfMap.fromPin(pin);
  const rows = [...new TypedMap(map, comm, codec.u64n)].sort((a, b) => b[1] - a[1]);
  for (const [name, n] of rows) console.log(`${name.padEnd(16)} ${n}`);
} else if (positionals[0] === 'serve') {
  const bpffs = ensureBpffs();
  if (!bpffs.path) throw new Error(`no bpffs: ${bpffs.reason}`);
  const spec = await compile(`
VIGIL_HASH(exec_counts, char[16], u64, 4096);

TRACEPOINT_PROBE(sched, sched_process_exec)
{
	char comm[16] = {};
	bpf_get_current_comm(comm, sizeof(comm));
	vigil_map_add(&exec_counts, comm, 1);
	return 0;
}
`, { name: 'shared_map' });
  using obj = await spec.load();
  using link = obj.program('tracepoint__sched__sched_process_exec').attach();
  mkdirSync(values.dir, { recursive: true });
  obj.map('exec_counts').pin(pin);
  console.log(`counting executions (${link.description}); the counts are pinned at ${pin}`);
  await untilInterrupted();
  unlinkSync(pin); // the map lives on only while something holds it
  try {
    rmdirSync(values.dir);
  } catch { /* not empty: not ours to remove */ }
  console.log(`unpinned ${pin}`);
} else {
  console.error('usage: shared-map.js serve|read [--dir BPFFS_DIR]');
  process.exitCode = 2;
}
