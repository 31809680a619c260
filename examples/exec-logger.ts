// Exec logger: one line per program executed, from the sched_process_exec
// tracepoint, through a ring buffer whose losses are counted.
//
//   node dist/examples/exec-logger.js [--duration SECONDS]
import { parseArgs } from 'node:util';
import { RingBufferReader } from 'vigil/bpf';
import { compile, untilInterrupted } from 'vigil/inline';

const { values } = parseArgs({ options: { duration: { type: 'string' } } });

const spec = await compile(`
struct exec_event {
	u32 pid;
	u32 ppid;
	char comm[16];
	char filename[256];
};

VIGIL_RINGBUF(events, 256 * 1024);

TRACEPOINT_PROBE(sched, sched_process_exec)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct exec_event e = {};

	e.pid = vigil_pid();
	e.ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_get_current_comm(&e.comm, sizeof(e.comm));
	/* __data_loc: the low 16 bits are the string's offset in the record */
	bpf_probe_read_kernel_str(&e.filename, sizeof(e.filename), (void *)args + (args->__data_loc_filename & 0xFFFF));
	vigil_ringbuf_output(events, &e);
	return 0;
}
`, { name: 'exec_logger' });
using obj = await spec.load();
using link = obj.program('tracepoint__sched__sched_process_exec').attach();

const text = (view: DataView, offset: number, max: number): string => {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, max);
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, end < 0 ? max : end)).toString('utf8');
};

console.log(`${'PID'.padStart(8)} ${'PPID'.padStart(8)} ${'COMM'.padEnd(16)} FILENAME`);
using reader = RingBufferReader.open(obj.map('events'), {
  lostCounter: obj.map('events_lost'),
  onLost: (n) => console.error(`lost ${n} exec events (the ring was full)`),
  onRecord: (view, o) => {
    const pid = view.getUint32(o, true);
    const ppid = view.getUint32(o + 4, true);
    console.log(`${String(pid).padStart(8)} ${String(ppid).padStart(8)} ${text(view, o + 8, 16).padEnd(16)} ${text(view, o + 24, 256)}`);
  },
});
void link;
await untilInterrupted(values.duration ? Number(values.duration) : undefined);
reader.drain();
