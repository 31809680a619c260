// HTTP latency histogram, kept in the kernel: for a server process, the time
// from reading a request (a read that starts with an HTTP method) to the first
// write on the same socket, in a log2 histogram of microseconds. Syscall
// tracepoints only: no uprobes, no kprobes, any server that reads and writes
// its sockets with read/recvfrom and write/writev/sendto/sendmsg.
//
//   node dist/examples/http-latency.js --pid SERVER_PID [--duration SECONDS]
import { parseArgs } from 'node:util';
import { compile, formatHistogram, readHistogram, untilInterrupted } from 'vigil/inline';

const { values } = parseArgs({ options: { pid: { type: 'string', default: '0' }, duration: { type: 'string' } } });

const spec = await compile(`
const volatile u32 target_tgid = 0; /* 0: every process */

struct read_call { u64 fd; u64 buf; };
VIGIL_HASH(reading, u64, struct read_call, 10240);  /* thread -> the read in flight */
VIGIL_HASH(started, u64, u64, 10240);               /* process << 32 | fd -> request read at (ns) */
VIGIL_HISTOGRAM(latency_us, 32);

static __always_inline int traced(void)
{
	return !target_tgid || vigil_pid() == target_tgid;
}

static __always_inline int read_enter(u64 fd, u64 buf)
{
	if (!traced())
		return 0;
	u64 id = bpf_get_current_pid_tgid();
	struct read_call c = { .fd = fd, .buf = buf };
	bpf_map_update_elem(&reading, &id, &c, BPF_ANY);
	return 0;
}

static __always_inline int is_request(const char m[4])
{
	return (m[0] == 'G' && m[1] == 'E' && m[2] == 'T' && m[3] == ' ') ||
	       (m[0] == 'P' && m[1] == 'O' && m[2] == 'S' && m[3] == 'T') ||
	       (m[0] == 'P' && m[1] == 'U' && m[2] == 'T' && m[3] == ' ') ||
	       (m[0] == 'H' && m[1] == 'E' && m[2] == 'A' && m[3] == 'D') ||
	       (m[0] == 'D' && m[1] == 'E' && m[2] == 'L' && m[3] == 'E') ||
	       (m[0] == 'P' && m[1] == 'A' && m[2] == 'T' && m[3] == 'C') ||
	       (m[0] == 'O' && m[1] == 'P' && m[2] == 'T' && m[3] == 'I');
}

static __always_inline int read_exit(long ret)
{
	u64 id = bpf_get_current_pid_tgid();
	struct read_call *c = bpf_map_lookup_elem(&reading, &id);
	if (!c)
		return 0;
	char m[4];
	if (ret >= 4 && !bpf_probe_read_user(m, sizeof(m), (void *)c->buf) && is_request(m)) {
		u64 key = (id & 0xffffffff00000000ULL) | (u32)c->fd;
		u64 now = bpf_ktime_get_ns();
		bpf_map_update_elem(&started, &key, &now, BPF_ANY);
	}
	bpf_map_delete_elem(&reading, &id);
	return 0;
}

static __always_inline int write_enter(u64 fd)
{
	if (!traced())
		return 0;
	u64 key = (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) | (u32)fd;
	u64 *t = bpf_map_lookup_elem(&started, &key);
	if (!t)
		return 0;
	vigil_hist_log2(latency_us, (bpf_ktime_get_ns() - *t) / 1000, 32);
	bpf_map_delete_elem(&started, &key);
	return 0;
}

SYSCALL_ENTER_PROBE(read) { return read_enter(args->args[0], args->args[1]); }
SYSCALL_ENTER_PROBE(recvfrom) { return read_enter(args->args[0], args->args[1]); }
SYSCALL_EXIT_PROBE(read) { return read_exit(args->ret); }
SYSCALL_EXIT_PROBE(recvfrom) { return read_exit(args->ret); }
SYSCALL_ENTER_PROBE(write) { return write_enter(args->args[0]); }
SYSCALL_ENTER_PROBE(writev) { return write_enter(args->args[0]); }
SYSCALL_ENTER_PROBE(sendto) { return write_enter(args->args[0]); }
SYSCALL_ENTER_PROBE(sendmsg) { return write_enter(args->args[0]); }
`, { name: 'http_latency' });
using obj = await spec.load({ constants: { target_tgid: Number(values.pid) } });
const links = [...obj.spec.programs.keys()].map((name) => obj.program(name).attach());

console.log(`tracing HTTP request latency of ${values.pid === '0' ? 'every process' : `pid ${values.pid}`}; Ctrl-C to end`);
await untilInterrupted(values.duration ? Number(values.duration) : undefined);
for (const l of links) l.close();
const counts = readHistogram(obj.map('latency_us'));
console.log(`${counts.reduce((a, b) => a + b, 0)} requests`);
console.log(formatHistogram(counts, { unit: 'usecs' }));
