// Kernel ABI numbers (include/uapi/linux/bpf.h), named as libbpf names them.

export const ProgramType = {
  unspec: 0, socket_filter: 1, kprobe: 2, sched_cls: 3, sched_act: 4, tracepoint: 5, xdp: 6,
  perf_event: 7, cgroup_skb: 8, cgroup_sock: 9, lwt_in: 10, lwt_out: 11, lwt_xmit: 12, sock_ops: 13,
  sk_skb: 14, cgroup_device: 15, sk_msg: 16, raw_tracepoint: 17, cgroup_sock_addr: 18,
  lwt_seg6local: 19, lirc_mode2: 20, sk_reuseport: 21, flow_dissector: 22, cgroup_sysctl: 23,
  raw_tracepoint_writable: 24, cgroup_sockopt: 25, tracing: 26, struct_ops: 27, ext: 28, lsm: 29,
  sk_lookup: 30, syscall: 31, netfilter: 32,
} as const;
export type ProgramTypeName = keyof typeof ProgramType;

export const MapType = {
  unspec: 0, hash: 1, array: 2, prog_array: 3, perf_event_array: 4, percpu_hash: 5, percpu_array: 6,
  stack_trace: 7, cgroup_array: 8, lru_hash: 9, lru_percpu_hash: 10, lpm_trie: 11, array_of_maps: 12,
  hash_of_maps: 13, devmap: 14, sockmap: 15, cpumap: 16, xskmap: 17, sockhash: 18, cgroup_storage: 19,
  reuseport_sockarray: 20, percpu_cgroup_storage: 21, queue: 22, stack: 23, sk_storage: 24,
  devmap_hash: 25, struct_ops: 26, ringbuf: 27, inode_storage: 28, task_storage: 29, bloom_filter: 30,
  user_ringbuf: 31, cgrp_storage: 32,
} as const;
export type MapTypeName = keyof typeof MapType;

const mapTypeNames = new Map<number, MapTypeName>(
  Object.entries(MapType).map(([k, v]) => [v, k as MapTypeName]),
);
const programTypeNames = new Map<number, ProgramTypeName>(
  Object.entries(ProgramType).map(([k, v]) => [v, k as ProgramTypeName]),
);

export function mapTypeName(n: number): string {
  return mapTypeNames.get(n) ?? `map_type_${n}`;
}

export function programTypeName(n: number): string {
  return programTypeNames.get(n) ?? `prog_type_${n}`;
}

export const PERCPU_MAP_TYPES: ReadonlySet<number> = new Set([
  MapType.percpu_hash, MapType.percpu_array, MapType.lru_percpu_hash, MapType.percpu_cgroup_storage,
]);

export const AttachType = {
  cgroup_inet_ingress: 0, cgroup_inet_egress: 1, cgroup_inet_sock_create: 2, cgroup_sock_ops: 3,
  cgroup_inet4_connect: 10, cgroup_inet6_connect: 11, cgroup_udp4_sendmsg: 14, cgroup_udp6_sendmsg: 15,
  trace_raw_tp: 23, trace_fentry: 24, trace_fexit: 25, modify_return: 26, lsm_mac: 27, trace_iter: 28,
} as const;

export const Helper = {
  bpf_get_stackid: 27,
  bpf_override_return: 58,
  bpf_send_signal: 109,
  bpf_probe_read_user_str: 114,
  bpf_ringbuf_output: 130,
  bpf_d_path: 147,
  bpf_get_current_task_btf: 158,
  bpf_loop: 181,
} as const;
export type HelperName = keyof typeof Helper;

/** bpf_map_update_elem flags. */
export const UpdateFlags = { any: 0, noexist: 1, exist: 2 } as const;

export const XdpFlags = { updateIfNoexist: 1, skbMode: 2, drvMode: 4, hwMode: 8, replace: 16 } as const;
export const TcAttachPoint = { ingress: 1, egress: 2 } as const;
