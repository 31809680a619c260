// The L7 sensor's user space without the kernel (issue 14): nginx's side of
// HTTP/1.1 keep-alive requests as the kernel's ring gives them (a read of
// wrk's request, a writev of nginx's response, 64 connections taking
// turns), decoded, paired into records by the tracker, formatted as
// `observe --output json` writes them, stage by stage. Records are held in a
// FIFO of --hold before they are formatted, as the pipeline's merge window
// holds events. CPU per request: process.cpuUsage() over the stage's requests.
//
//   node --max-semi-space-size=2 --heap-growing-percent=50 dist/bench/l7-path.js [--requests N] [--hold N] [--repeat N]
// (the flags bin/vigil runs Node with)
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { vigilL7Event, VIGIL_L7_DATA, VIGIL_L7_EGRESS, VIGIL_L7_INGRESS, VIGIL_L7_PROTO_HTTP, VIGIL_L7_READ, VIGIL_L7_WRITEV } from '../src/generated/l7.js';
import { L7Decoder } from '../src/l7/decode.js';
import { L7Tracker } from '../src/l7/tracker.js';
import type { L7Record } from '../src/l7/types.js';
import { eventEncoder, encodeEvent } from '../src/output/event-format.js';
import { BootClock } from '../src/util/clock.js';
import { intFlag, runAsScript } from './script.js';
import { HeldLines } from './stages.js';

const CONNECTIONS = 64;
const REQUEST = 'GET / HTTP/1.1\r\nHost: 127.0.0.1:18777\r\n\r\n';
const RESPONSE = 'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 04:11:20 GMT\r\nContent-Type: text/plain\r\n' +
  'Content-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n';

/** One ring batch: each connection's request (a read) then its response (a writev), as records 8-aligned. */
function batch(): { view: DataView; offs: number[]; sizes: number[] } {
  const req = Buffer.from(REQUEST, 'latin1');
  const res = Buffer.from(RESPONSE, 'latin1');
  const offs: number[] = [];
  const sizes: number[] = [];
  const stride = (n: number): number => (vigilL7Event.size + n + 8 + 7) & ~7;
  const view = new DataView(new ArrayBuffer(CONNECTIONS * (stride(req.length) + stride(res.length))));
  let at = 0;
  for (let c = 0; c < CONNECTIONS; c++) {
    for (const [data, dir, call] of [[req, VIGIL_L7_INGRESS, VIGIL_L7_READ], [res, VIGIL_L7_EGRESS, VIGIL_L7_WRITEV]] as const) {
      const laddr = new Uint8Array(16);
      laddr.set([127, 0, 0, 1]);
      vigilL7Event.encode({
        kind: VIGIL_L7_DATA, proto: VIGIL_L7_PROTO_HTTP, dir, call, tls: 0, conn: 0xffff_8880_0000_0000n + BigInt(c * 4096),
        enter_ns: 1_000_000n, exit_ns: 1_020_000n, cgroup_id: 1n, pid: 100, tid: 100, size: data.length, data_len: data.length,
        family: 2, lport: 18777, rport: 40000 + c, pad1: 0, laddr, raddr: laddr, comm: 'nginx',
      }, view, at);
      new Uint8Array(view.buffer, at + vigilL7Event.size).set(data);
      offs.push(at);
      sizes.push(vigilL7Event.size + data.length);
      at += stride(data.length);
    }
  }
  return { view, offs, sizes };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { requests: { type: 'string', default: '200000' }, hold: { type: 'string', default: '2000' }, repeat: { type: 'string', default: '5' } },
  });
  const repeat = intFlag('repeat', values.repeat!, 1);
  const requests = intFlag('requests', values.requests!, 1000);
  const hold = intFlag('hold', values.hold!, 0);
  const b = batch();
  const encoder = eventEncoder('json', { node: 'vm', clock: BootClock.measure() });
  // 1 decode, 2 + tracker (records), 3 + format, 4 + encode (piecesOf).
  const run = (n: number, stages: number): number => {
    const decoder = new L7Decoder();
    const out = new HeldLines<L7Record>(hold, stages, { format: 3, encode: 4 }, 'l7', (e) => encodeEvent(encoder, { kind: 'l7', timeBootNs: e.endBootNs, record: e })!);
    const tracker = new L7Tracker({ redact: true, protocols: new Set(['http']) }, (r) => out.push(r));
    const t0 = process.cpuUsage();
    for (let i = 0; i < n;) {
      for (let k = 0; k < b.offs.length; k++) {
        const d = decoder.decode(b.view, b.offs[k]!, b.sizes[k]!);
        if (stages >= 2 && !d.close) tracker.data(d.data);
      }
      i += CONNECTIONS;
    }
    const t = process.cpuUsage(t0);
    return (t.user + t.system) / n;
  };
  const names = ['', 'decode', '+ tracker', '+ format', '+ encode'];
  for (let s = 1; s <= 4; s++) run(Math.ceil(requests / 4), s); // warm-up: the JIT's compilations
  console.log(`${requests} HTTP/1.1 requests (two kernel records each), ${hold} records held; CPU per request, ` +
    `median (min..max) of ${repeat}:`);
  // Young collections per request: the garbage made (each is a semi-space filled), a count the host's load does not change.
  let minor = 0;
  let major = 0;
  let gcMs = 0;
  const obs = new PerformanceObserver((l) => {
    for (const e of l.getEntries()) {
      gcMs += e.duration;
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));
  for (let s = 1; s <= 4; s++) {
    const xs: number[] = [];
    await settle();
    minor = major = 0;
    gcMs = 0;
    for (let k = 0; k < repeat; k++) xs.push(run(requests, s));
    await settle();
    xs.sort((a, b) => a - b);
    console.log(`  ${names[s]!.padEnd(10)} ${xs[xs.length >> 1]!.toFixed(2)} µs (${xs[0]!.toFixed(2)}..${xs.at(-1)!.toFixed(2)}); ` +
      `per 1000 requests: ${((1000 * minor) / (repeat * requests)).toFixed(2)} young, ${((1000 * major) / (repeat * requests)).toFixed(3)} full GCs, ` +
      `GC ${((1000 * gcMs) / (repeat * requests)).toFixed(2)} µs/request`);
  }
  obs.disconnect();
}

runAsScript(import.meta, 'l7-path', main);
