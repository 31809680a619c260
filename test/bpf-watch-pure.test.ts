// `vigil bpf watch` without the kernel: records decoded, the allow-list of the
// rule "Unexpected BPF loader", the compact and JSON lines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { vigilBpfwEvent, VIGIL_BPFW_EVENT, VIGIL_BPFW_HAS_LINK, VIGIL_BPFW_HAS_PROG, VIGIL_BPFW_PERF_SET_BPF } from '../src/generated/bpfwatch.js';
import { decodeBpfWatchRecord } from '../src/sensors/bpf-watch.js';
import { BpfLoaderAllowList, BUILTIN_BPF_LOADERS } from '../src/rules/bpf-loaders.js';
import { compactLine, jsonLine } from '../src/cli/bpf-watch.js';
import { BootClock } from '../src/util/clock.js';

const clock = BootClock.fixed(1_000_000_000_000_000_000n);

function record(f: Partial<Parameters<typeof vigilBpfwEvent.encode>[0]>): DataView {
  const view = new DataView(new ArrayBuffer(vigilBpfwEvent.size));
  vigilBpfwEvent.encode({
    kind: VIGIL_BPFW_EVENT, cmd: 5, ktime: 5_000n, start_boottime: 1_000n, cgroup_id: 1n, ret: 7n, pid: 42, tid: 43, uid: 0,
    status: VIGIL_BPFW_HAS_PROG, prog_type: 5, insn_cnt: 22, prog_id: 900, attach_type: 0, target_fd: -1, prog_fd: -1,
    link_id: 0, link_type: 0, str_len: 0, pad: 0, gid: 0, prog_tag: Uint8Array.from([0xc0, 0xb1, 0xa8, 0x5f, 0xb7, 0x5d, 0xc7, 0x4b]),
    prog_name: 'sys_enter_getpp', comm: 'bpftrace', str: '', ...f,
  }, view, 0);
  return view;
}

describe('bpf watch records', () => {
  test('a load: the program as the kernel held it, its tag in hex, libbpf\'s type name', () => {
    const e = decodeBpfWatchRecord(record({}), 0, vigilBpfwEvent.size, clock);
    assert.equal(e.command, 'prog_load');
    assert.deepEqual(e.program, { id: 900, tag: 'c0b1a85fb75dc74b', name: 'sys_enter_getpp', type: 5, typeName: 'tracepoint', insns: 22 });
    assert.equal(e.ret, 7);
    assert.equal(e.error, undefined);
    assert.equal(e.task.comm, 'bpftrace');
    assert.equal(e.task.gid, 0);
    assert.equal(e.timeNs, 1_000_000_000_000_005_000n);
  });

  test('a failed attach: errno named, no program id; a link_create\'s attach type', () => {
    const e = decodeBpfWatchRecord(record({ cmd: 28, ret: -95n, status: 0, attach_type: 41, target_fd: 9 }), 0, vigilBpfwEvent.size, clock);
    assert.equal(e.command, 'link_create');
    assert.equal(e.error, 'EOPNOTSUPP');
    assert.equal(e.program.id, undefined);
    assert.equal(e.attachType, 'perf_event');
    assert.equal(e.targetFd, 9);
  });

  test('a raw tracepoint\'s name, a link; the perf event attach', () => {
    const raw = decodeBpfWatchRecord(record({ cmd: 17, status: VIGIL_BPFW_HAS_PROG | VIGIL_BPFW_HAS_LINK, link_id: 77, link_type: 1,
      str: 'sched_switch', str_len: 12 }), 0, vigilBpfwEvent.size, clock);
    assert.equal(raw.tracepoint, 'sched_switch');
    assert.deepEqual(raw.link, { id: 77, type: 'raw_tracepoint' });
    const perf = decodeBpfWatchRecord(record({ cmd: VIGIL_BPFW_PERF_SET_BPF, ret: 0n, target_fd: 8 }), 0, vigilBpfwEvent.size, clock);
    assert.equal(perf.command, 'perf_set_bpf');
    assert.equal(perf.targetFd, 8);
  });

  test('a short record, another kind, an unwatched command: refused', () => {
    assert.throws(() => decodeBpfWatchRecord(record({}), 0, 100, clock), RangeError);
    assert.throws(() => decodeBpfWatchRecord(record({ kind: 1 }), 0, vigilBpfwEvent.size, clock), RangeError);
    assert.throws(() => decodeBpfWatchRecord(record({ cmd: 0 }), 0, vigilBpfwEvent.size, clock), /unwatched command 0/);
  });
});

describe('the allow-list of "Unexpected BPF loader"', () => {
  const allow = new BpfLoaderAllowList([...BUILTIN_BPF_LOADERS, '/usr/sbin/bpftool', '/opt/cilium/', 'bpftrace']);

  test('by binary, by directory, by command name; anything else is unexpected', () => {
    assert.ok(allow.allows({ binary: '/usr/sbin/bpftool', comm: 'bpftool' }));
    assert.ok(allow.allows({ binary: '/opt/cilium/bin/cilium-agent', comm: 'cilium-agent' }));
    assert.ok(allow.allows({ binary: '/usr/bin/bpftrace', comm: 'bpftrace' }));
    assert.ok(allow.allows({ binary: '/usr/lib/systemd/systemd', comm: 'systemd' }));
    assert.ok(!allow.allows({ binary: '/tmp/bpftool', comm: 'bpftool' }));
    assert.ok(!allow.allows({ binary: '/opt/cilium-evil', comm: 'x' }));
    assert.ok(!allow.allows({ binary: '', comm: 'node' }));
  });

  test('a file: comments and blank lines skipped; a bad entry named by line', () => {
    assert.deepEqual(BpfLoaderAllowList.parse('# loaders\n/usr/sbin/bpftool\n\n  bpftrace  # the tracer\n', 'f'),
      ['/usr/sbin/bpftool', 'bpftrace']);
    assert.throws(() => BpfLoaderAllowList.parse('ok\nrel/path\n', 'allow.txt'), /^RangeError: allow\.txt:2: "rel\/path" is neither/);
    assert.throws(() => BpfLoaderAllowList.parse('a-name-longer-than-15\n', 'f'), /f:1:/);
  });
});

describe('bpf watch lines', () => {
  const event = decodeBpfWatchRecord(record({}), 0, vigilBpfwEvent.size, clock);

  test('compact: who, what, the alert', () => {
    const line = compactLine({ event, process: undefined, alert: true });
    assert.match(line, /prog_load +42 bpftrace: prog 900 tracepoint "sys_enter_getpp" tag c0b1a85fb75dc74b  ALERT Unexpected BPF loader$/);
    assert.doesNotMatch(compactLine({ event, process: undefined, alert: false }), /ALERT/);
  });

  test('json: the program, the process, Falco\'s alert fields', () => {
    const o = JSON.parse(jsonLine({ event, process: undefined, alert: true }, 'node1'));
    assert.equal(o.node_name, 'node1');
    assert.deepEqual(o.program, { id: 900, tag: 'c0b1a85fb75dc74b', name: 'sys_enter_getpp', type: 'tracepoint', insns: 22 });
    assert.equal(o.process.pid, 42);
    assert.equal(o.alert.rule, 'Unexpected BPF loader');
    assert.equal(o.alert.priority, 'Warning');
    assert.equal(JSON.parse(jsonLine({ event, process: undefined, alert: false }, 'n')).alert, undefined);
  });
});
