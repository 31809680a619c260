// TCP connect tracer: every outgoing TCP connection (IPv4 and IPv6) with its
// process, from the sock:inet_sock_set_state tracepoint (CLOSE -> SYN_SENT
// happens in the connecting process).
//
//   node dist/examples/tcp-connect.js [--duration SECONDS]
import { parseArgs } from 'node:util';
import { RingBufferReader } from 'vigil/bpf';
import { compile, untilInterrupted } from 'vigil/inline';

const { values } = parseArgs({ options: { duration: { type: 'string' } } });

const spec = await compile(`
#define AF_INET 2
#define IPPROTO_TCP 6

struct connect_event {
	u32 pid;
	u16 family;
	u16 dport;
	u8 saddr[16];
	u8 daddr[16];
	char comm[16];
};

VIGIL_RINGBUF(events, 256 * 1024);

TRACEPOINT_PROBE(sock, inet_sock_set_state)
{
	if (args->protocol != IPPROTO_TCP || args->oldstate != TCP_CLOSE || args->newstate != TCP_SYN_SENT)
		return 0;
	struct connect_event e = {};
	e.pid = vigil_pid();
	e.family = args->family;
	e.dport = args->dport; /* the tracepoint gives ports in host order */
	/* copied with a helper: the verifier refuses variable offsets into the context */
	if (args->family == AF_INET) {
		bpf_probe_read_kernel(e.saddr, 4, args->saddr);
		bpf_probe_read_kernel(e.daddr, 4, args->daddr);
	} else {
		bpf_probe_read_kernel(e.saddr, 16, args->saddr_v6);
		bpf_probe_read_kernel(e.daddr, 16, args->daddr_v6);
	}
	bpf_get_current_comm(&e.comm, sizeof(e.comm));
	vigil_ringbuf_output(events, &e);
	return 0;
}
`, { name: 'tcp_connect' });
using obj = await spec.load();
using link = obj.program('tracepoint__sock__inet_sock_set_state').attach();

function address(bytes: Uint8Array, family: number): string {
  if (family === 2) return bytes.subarray(0, 4).join('.');
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

console.log(`${'PID'.padStart(8)} ${'COMM'.padEnd(16)} ${'SADDR'.padEnd(24)} ${'DADDR'.padEnd(24)} DPORT`);
using reader = RingBufferReader.open(obj.map('events'), {
  lostCounter: obj.map('events_lost'),
  onLost: (n) => console.error(`lost ${n} connect events (the ring was full)`),
  onRecord: (view, o) => {
    const bytes = new Uint8Array(view.buffer, view.byteOffset + o, 56);
    const family = view.getUint16(o + 4, true);
    const comm = Buffer.from(bytes.subarray(40, 56)).toString('utf8').replace(/\0.*$/s, '');
    console.log(`${String(view.getUint32(o, true)).padStart(8)} ${comm.padEnd(16)} ${address(bytes.subarray(8, 24), family).padEnd(24)} ` +
      `${address(bytes.subarray(24, 40), family).padEnd(24)} ${view.getUint16(o + 6, true)}`);
  },
});
void link;
await untilInterrupted(values.duration ? Number(values.duration) : undefined);
reader.drain();
