// Portable equivalents: kernel functions (kprobes, fentries) and LSM hooks
// that a kernel without kprobes, fentry or BPF-LSM can still serve, from
// syscall tracepoints and stable tracepoints. Each entry says which
// attachments stand in, where each of the function's arguments is found
// there, and how the meaning differs (docs/policy.md prints the same notes).
//
// Return values: a security check's result (0 allowed, -errno refused) is
// approximated, where a stand-in is a syscall, by the syscall's error (0 when
// it succeeded, else its -errno, which may come from another step); emitting
// it moves the event to the syscall's exit.
//
// Argument sources are written in a small notation, turned into IR
// ArgSources by the resolver (hooks.ts), which also checks that every
// syscall and tracepoint named here exists on the running kernel.
import type { ArgConversion, ArgType, FileOp } from './ir.js';
import { AF_INET, AF_INET6, IPPROTO_TCP, TCP_SYN_SENT } from '../kernel/uapi.js';

/** Where a function argument is found on a stand-in attachment. */
export type From =
  | { readonly sc: number; readonly conv?: ArgConversion; readonly size?: number }
  | { readonly ret: true; readonly conv?: ArgConversion }
  /** 0 when the syscall succeeded, else its -errno: a security check's result, approximately. */
  | { readonly err: true }
  | { readonly field: string; readonly conv?: ArgConversion }
  | { readonly cred: true }
  | { readonly exe: true }
  | { readonly cwd: true }
  | { readonly const: bigint }
  | { readonly umem: readonly [index: number, offset: number, size: number] };

export type Cond =
  | { readonly sc: number; readonly op: 'eq' | 'ne' | 'ge' | 'lt' | 'mask'; readonly value: bigint }
  | { readonly ret: true; readonly op: 'eq' | 'ne' | 'ge' | 'lt' | 'mask'; readonly value: bigint }
  | { readonly field: string; readonly op: 'eq' | 'ne' | 'ge' | 'lt' | 'mask'; readonly value: bigint }
  | { readonly umem: readonly [index: number, offset: number, size: number]; readonly op: 'mask' | 'eq'; readonly value: bigint }
  | { readonly fdSocket: number; readonly families?: readonly number[]; readonly protocol?: number }
  /** The fd (syscall argument fdOp) is a file whose file_operations member `op` is the kernel function fn. */
  | { readonly fdOp: number; readonly op: FileOp; readonly fn: string };

export type StandIn =
  | {
    readonly syscall: string;
    readonly emit: 'enter' | 'exit';
    /** By function argument index; undefined = the stand-in does not have it. */
    readonly args: readonly (From | undefined)[];
    readonly ret?: From;
    readonly when?: readonly Cond[];
  }
  | {
    readonly tracepoint: readonly [category: string, event: string];
    readonly args: readonly (From | undefined)[];
    readonly ret?: From;
    readonly when?: readonly Cond[];
  };

export interface PortableArg {
  /** What the function's argument is ("struct file *file"). */
  readonly c: string;
  /** Declared types the stand-in can deliver for it ('nop' is always accepted). */
  readonly types: readonly ArgType[];
}

export interface PortableEntry {
  /** Kernel functions (kprobes/fentries) it stands in for. */
  readonly functions: readonly string[];
  /** LSM hook names (lsmhooks) it stands in for. */
  readonly lsm: readonly string[];
  /** Short name of the stand-in, used in "hook": "portable:<name>". */
  readonly name: string;
  /** The function's arguments by index. */
  readonly args: readonly PortableArg[];
  /** The attachments that stand in; the function's return value is available when every one has `ret`. */
  readonly standIns: readonly StandIn[];
  /** How the meaning differs from the real hook. */
  readonly note: string;
  /** Why the function's return value is not available, when no stand-in has it. */
  readonly noReturn?: string;
  /**
   * Why the caller's credentials or namespaces at the stand-ins' exit are not those the function saw:
   * a hook that waits for the exit (return: true, matchReturnArgs, ...) judges its capability and
   * namespace filters at the syscall's entry, as the function's kprobe would.
   */
  readonly changesCreds?: string;
}

const FILE_TYPES: readonly ArgType[] = ['file', 'path', 'fd', 'dentry', 'kiocb', 'linux_binprm', 'string', 'filename'];
const INT_TYPES: readonly ArgType[] = ['int', 'uint', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'size_t', 'long', 'ulong'];
const SOCK_TYPES: readonly ArgType[] = ['sock', 'socket'];
const CRED_TYPES: readonly ArgType[] = ['cred'];

// errno / constants the stand-ins filter on
const MAY_WRITE = 2n;
const MAY_READ = 4n;
const BPF_MAP_CREATE = 0n;
const BPF_PROG_LOAD = 5n;
const CLONE_NEWUSER = 0x10000000n;
const CLONE_NEWNS = 0x00020000n;
const READING_MODULE = 2n;
const READING_KEXEC_IMAGE = 3n;
const LOADING_MODULE = 2n;
const SI_KERNEL = 0x80n;
/** The signals force_sig_fault raises on x86-64: SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV. */
const FAULT_SIGNALS: readonly bigint[] = [4n, 5n, 7n, 8n, 11n];

/**
 * The set*id syscalls whose body is a kernel function of their own, called with
 * the syscall's arguments (kernel/sys.c: SYSCALL_DEFINE1(setuid, ...) returns
 * __sys_setuid(uid)), with the names of those arguments.
 */
const SETID_BODIES: readonly (readonly [syscall: string, args: readonly string[]])[] = [
  ['setuid', ['uid_t uid']], ['setgid', ['gid_t gid']],
  ['setreuid', ['uid_t ruid', 'uid_t euid']], ['setregid', ['gid_t rgid', 'gid_t egid']],
  ['setresuid', ['uid_t ruid', 'uid_t euid', 'uid_t suid']], ['setresgid', ['gid_t rgid', 'gid_t egid', 'gid_t sgid']],
  ['setfsuid', ['uid_t uid']], ['setfsgid', ['gid_t gid']],
];

/** ioctl(2) TIOCLINUX and the subcodes (the first byte at arg) that tioclinux hands to a function of its own. */
const TIOCLINUX = 0x541cn;
const TIOCLINUX_CALLS: readonly (readonly [fn: string, subcode: bigint, what: string])[] = [
  ['set_selection_user', 2n, 'setsel'], ['paste_selection', 3n, 'pastesel'], ['sel_loadlut', 5n, 'selloadlut'],
];

/** The open family: each returns the new fd (>= 0) or -errno. */
const OPEN_FAMILY: readonly string[] = ['open', 'openat', 'openat2', 'creat', 'open_by_handle_at'];
const READ_FAMILY: readonly string[] = ['read', 'readv', 'pread64', 'preadv', 'preadv2'];
const WRITE_FAMILY: readonly string[] = ['write', 'writev', 'pwrite64', 'pwritev', 'pwritev2'];

const ERR: From = { err: true };

const openExits = (args: (fileFrom: From) => (From | undefined)[], ret?: From): StandIn[] => OPEN_FAMILY.map((sc) => ({
  syscall: sc, emit: 'exit', args: args({ ret: true, conv: 'fd' }), ret, when: [{ ret: true, op: 'ge', value: 0n }],
}));

export const PORTABLE: readonly PortableEntry[] = [
  {
    functions: ['security_file_open'], lsm: ['file_open'], name: 'open-family',
    args: [{ c: 'struct file *file', types: FILE_TYPES }],
    standIns: openExits((file) => [file], ERR),
    note: 'Served at the exit of open, openat, openat2, creat and open_by_handle_at when they return an fd: '
      + 'the file is the one the new fd refers to (path resolved in the kernel, flags from the file). '
      + 'Differences: files opened other ways (execve\'s binary, io_uring opens, memfd, dup) are not seen; '
      + 'O_PATH opens are (security_file_open skips them); the event comes after the open succeeded, so opens '
      + 'refused after security_file_open are not seen. Sigkill still kills before the process can use the fd.',
  },
  {
    functions: ['fd_install'], lsm: [], name: 'open-family',
    args: [{ c: 'unsigned int fd', types: INT_TYPES }, { c: 'struct file *file', types: FILE_TYPES }],
    standIns: openExits((file) => [{ ret: true }, file]),
    note: 'Served at the exit of the open family (open, openat, openat2, creat, open_by_handle_at) when they '
      + 'return an fd: fd is the return value, file the file it refers to. Differences: fd_install also runs '
      + 'for sockets, pipes, accept, dup, memfd, pidfd, epoll and io_uring files, which are not seen.',
  },
  {
    functions: ['security_file_permission'], lsm: ['file_permission'], name: 'read-write-family',
    args: [{ c: 'struct file *file', types: FILE_TYPES }, { c: 'int mask', types: INT_TYPES }],
    standIns: [
      ...READ_FAMILY.map((sc): StandIn => ({ syscall: sc, emit: 'enter', args: [{ sc: 0, conv: 'fd' }, { const: MAY_READ }], ret: ERR })),
      ...WRITE_FAMILY.map((sc): StandIn => ({ syscall: sc, emit: 'enter', args: [{ sc: 0, conv: 'fd' }, { const: MAY_WRITE }], ret: ERR })),
    ],
    note: 'Served at the entry of read, readv, pread64, preadv, preadv2 (mask MAY_READ = 4) and write, writev, '
      + 'pwrite64, pwritev, pwritev2 (mask MAY_WRITE = 2), the file from the fd argument. Differences: '
      + 'sendfile, splice, copy_file_range and io_uring reads/writes are not seen; calls on invalid fds are.',
  },
  {
    functions: ['security_mmap_file'], lsm: ['mmap_file'], name: 'mmap',
    args: [
      { c: 'struct file *file', types: FILE_TYPES },
      { c: 'unsigned long prot', types: INT_TYPES },
      { c: 'unsigned long flags', types: INT_TYPES },
    ],
    standIns: [{ syscall: 'mmap', emit: 'enter', args: [{ sc: 4, conv: 'fd' }, { sc: 2 }, { sc: 3 }], ret: ERR }],
    note: 'Served at the entry of mmap(2): file from the fd argument, prot and flags as passed. Differences: '
      + 'the kernel\'s own mappings (execve mapping the binary and its interpreter) are not seen; prot is the '
      + 'requested one, before READ_IMPLIES_EXEC; anonymous mappings have no file (empty path), as in Tetragon.',
  },
  {
    functions: ['security_path_truncate', 'security_file_truncate'], lsm: ['path_truncate', 'file_truncate'], name: 'truncate',
    args: [{ c: 'const struct path *path', types: FILE_TYPES }],
    standIns: [
      { syscall: 'truncate', emit: 'enter', args: [{ sc: 0, conv: 'string' }], ret: ERR },
      { syscall: 'ftruncate', emit: 'enter', args: [{ sc: 0, conv: 'fd' }], ret: ERR },
    ],
    note: 'Served at the entry of truncate(2) (the path as passed, relative paths not resolved) and '
      + 'ftruncate(2) (the fd\'s file). Differences: open(O_TRUNC) truncations are not seen.',
  },
  {
    functions: ['commit_creds'], lsm: [], name: 'creds-change',
    args: [{ c: 'struct cred *new', types: CRED_TYPES }],
    standIns: [
      ...['setuid', 'setgid', 'setreuid', 'setregid', 'setresuid', 'setresgid', 'setgroups', 'capset'].map((sc): StandIn => ({
        syscall: sc, emit: 'exit', args: [{ cred: true }], when: [{ ret: true, op: 'eq', value: 0n }],
      })),
      ...['setfsuid', 'setfsgid'].map((sc): StandIn => ({ syscall: sc, emit: 'exit', args: [{ cred: true }] })),
      ...['execve', 'execveat'].map((sc): StandIn => ({
        syscall: sc, emit: 'exit', args: [{ cred: true }], when: [{ ret: true, op: 'eq', value: 0n }],
      })),
    ],
    note: 'Served at the successful exit of set*id, setgroups, capset, execve and execveat, with the task\'s '
      + 'credentials after the call (the new ones; the event\'s process carries them too). Differences: '
      + 'credentials committed elsewhere (unshare(CLONE_NEWUSER), keyctl, prctl securebits, kernel threads) '
      + 'are not seen; a call that commits identical credentials is seen, as with commit_creds.',
  },
  {
    functions: ['security_bprm_check', 'security_bprm_creds_from_file', 'security_bprm_creds_for_exec',
      'security_bprm_committing_creds', 'security_bprm_committed_creds', 'bprm_execve', 'begin_new_exec',
      'setup_new_exec'],
    lsm: ['bprm_check_security', 'bprm_creds_from_file', 'bprm_creds_for_exec', 'bprm_committing_creds', 'bprm_committed_creds'],
    name: 'sched_process_exec',
    args: [{ c: 'struct linux_binprm *bprm', types: FILE_TYPES }, { c: 'struct file *file', types: FILE_TYPES }],
    standIns: [{ tracepoint: ['sched', 'sched_process_exec'], args: [{ exe: true }, { exe: true }], ret: { const: 0n } }],
    note: 'Served by sched:sched_process_exec, after the exec succeeded: the binary is the new image\'s '
      + 'executable (mm->exe_file, path resolved in the kernel). Differences: execs that fail after the check '
      + '(or are refused by it) are not seen; the hook runs past the point of no return, so Sigkill kills the '
      + 'new image before its first instruction, but Override cannot refuse the exec.',
  },
  {
    functions: ['tcp_connect'], lsm: [], name: 'inet_sock_set_state',
    args: [{ c: 'struct sock *sk', types: SOCK_TYPES }],
    standIns: [{
      tracepoint: ['sock', 'inet_sock_set_state'], args: [{ field: 'skaddr' }],
      when: [{ field: 'newstate', op: 'eq', value: BigInt(TCP_SYN_SENT) }, { field: 'protocol', op: 'eq', value: BigInt(IPPROTO_TCP) }],
    }],
    noReturn: 'the tracepoint fires before tcp_connect runs, and its result (0, or -ENOBUFS / -ECONNREFUSED) is seen '
      + 'nowhere else (connect(2) returns another one: -EINPROGRESS, or the peer\'s refusal)',
    note: 'Served by sock:inet_sock_set_state when a TCP socket enters SYN_SENT, which tcp_v4_connect and '
      + 'tcp_v6_connect do in the connecting task just before calling tcp_connect. Differences: the source '
      + 'port may still be 0 (it is chosen right after, unless the socket was bound); TCP Fast Open connects '
      + 'that defer the SYN to sendmsg are seen at connect time.',
  },
  {
    functions: ['tcp_close'], lsm: [], name: 'close-tcp',
    args: [{ c: 'struct sock *sk', types: SOCK_TYPES }, { c: 'long timeout', types: INT_TYPES }],
    standIns: [{ syscall: 'close', emit: 'enter', args: [{ sc: 0, conv: 'fd' }, undefined], when: [{ fdSocket: 0, families: [AF_INET, AF_INET6], protocol: IPPROTO_TCP }] }],
    note: 'Served at the entry of close(2) on a TCP socket fd. Differences: tcp_close runs when the last '
      + 'reference goes (close of one of several dup\'ed fds is seen here but not there; sockets closed at '
      + 'process exit are seen there but not here); timeout is not available.',
  },
  {
    functions: ['tcp_sendmsg', 'tcp_sendmsg_locked'], lsm: [], name: 'send-tcp',
    args: [
      { c: 'struct sock *sk', types: SOCK_TYPES }, { c: 'struct msghdr *msg', types: [] },
      { c: 'size_t size', types: INT_TYPES },
    ],
    standIns: ['sendto', 'sendmsg', 'write', 'writev'].map((sc): StandIn => ({
      syscall: sc, emit: 'exit', args: [{ sc: 0, conv: 'fd' }, undefined, { ret: true }],
      when: [{ fdSocket: 0, families: [AF_INET, AF_INET6], protocol: IPPROTO_TCP }, { ret: true, op: 'ge', value: 0n }],
    })),
    note: 'Served at the successful exit of sendto, sendmsg, write and writev on TCP socket fds; size is the '
      + 'number of bytes sent (tcp_sendmsg gets the number requested). Differences: sendmmsg, splice, '
      + 'sendfile and io_uring sends are not seen; msg is not available.',
  },
  {
    functions: ['security_socket_connect', '__sys_connect', '__sys_connect_file'], lsm: ['socket_connect'], name: 'connect',
    args: [
      { c: 'struct socket *sock', types: SOCK_TYPES },
      { c: 'struct sockaddr *address', types: ['sockaddr'] },
      { c: 'int addrlen', types: INT_TYPES },
    ],
    standIns: [{ syscall: 'connect', emit: 'enter', args: [{ sc: 0, conv: 'fd' }, { sc: 1, conv: 'user-sockaddr', size: 2 }, { sc: 2 }], ret: ERR }],
    note: 'Served at the entry of connect(2): the socket from the fd, the address as passed. Differences: '
      + 'io_uring connects and kernel sockets are not seen; calls with an invalid fd or address are.',
  },
  {
    functions: ['security_socket_sendmsg'], lsm: ['socket_sendmsg'], name: 'sendmsg',
    args: [
      { c: 'struct socket *sock', types: SOCK_TYPES }, { c: 'struct msghdr *msg', types: [] },
      { c: 'int size', types: INT_TYPES },
    ],
    standIns: [
      { syscall: 'sendto', emit: 'enter', args: [{ sc: 0, conv: 'fd' }, undefined, { sc: 2 }], when: [{ fdSocket: 0 }] },
      { syscall: 'sendmsg', emit: 'enter', args: [{ sc: 0, conv: 'fd' }, undefined, undefined], when: [{ fdSocket: 0 }] },
    ],
    note: 'Served at the entry of sendto(2) and sendmsg(2) on sockets. Differences: write(2) on sockets, '
      + 'sendmmsg and io_uring sends are not seen; msg is not available; size only for sendto.',
  },
  {
    functions: ['cap_capable', 'security_capable', 'ns_capable', 'capable'], lsm: ['capable'], name: 'cap_capable',
    args: [
      { c: 'const struct cred *cred', types: CRED_TYPES },
      { c: 'struct user_namespace *ns', types: ['user_namespace'] },
      { c: 'int cap', types: ['capability', ...INT_TYPES] },
      { c: 'unsigned int opts', types: INT_TYPES },
    ],
    standIns: [{ tracepoint: ['capability', 'cap_capable'], args: [{ field: 'cred' }, { field: 'target_ns' }, { field: 'cap' }, undefined], ret: { field: 'ret' } }],
    note: 'Served by capability:cap_capable (Linux 6.14+), which cap_capable fires with its result. '
      + 'Differences: opts is not available.',
  },
  {
    functions: ['kfree_skb_reason', 'sk_skb_reason_drop', 'kfree_skb'], lsm: [], name: 'kfree_skb',
    args: [{ c: 'struct sk_buff *skb', types: ['skb'] }, { c: 'enum skb_drop_reason reason', types: INT_TYPES }],
    standIns: [{ tracepoint: ['skb', 'kfree_skb'], args: [{ field: 'skbaddr' }, { field: 'reason' }] }],
    note: 'Served by skb:kfree_skb, which kfree_skb_reason fires for every dropped packet. No difference in '
      + 'what is seen; the arguments come from the tracepoint record.',
  },
  {
    functions: ['dev_queue_xmit', '__dev_queue_xmit'], lsm: [], name: 'net_dev_queue',
    args: [{ c: 'struct sk_buff *skb', types: ['skb'] }],
    standIns: [{ tracepoint: ['net', 'net_dev_queue'], args: [{ field: 'skbaddr' }] }],
    note: 'Served by net:net_dev_queue, which __dev_queue_xmit fires for every packet queued to a device.',
  },
  {
    functions: ['dev_hard_start_xmit'], lsm: [], name: 'net_dev_start_xmit',
    args: [
      { c: 'struct sk_buff *first', types: ['skb'] }, { c: 'struct net_device *dev', types: ['net_device'] },
      { c: 'struct netdev_queue *txq', types: [] }, { c: 'int *ret', types: [] },
    ],
    standIns: [{ tracepoint: ['net', 'net_dev_start_xmit'], args: [{ field: 'skbaddr' }, { field: 'name', conv: 'string' }, undefined, undefined] }],
    note: 'Served by net:net_dev_start_xmit, fired for each packet handed to the driver. Differences: '
      + 'dev_hard_start_xmit runs once per list of packets, the tracepoint once per packet; the device is '
      + 'given by name only.',
  },
  {
    functions: ['bpf_check', 'security_bpf_prog_load', 'bpf_prog_load'], lsm: ['bpf_prog_load'], name: 'bpf-prog-load',
    args: [{ c: 'struct bpf_prog **prog', types: ['bpf_prog'] }, { c: 'union bpf_attr *attr', types: ['bpf_attr'] }],
    standIns: [{
      syscall: 'bpf', emit: 'enter', args: [undefined, { sc: 1, conv: 'user-struct' }],
      when: [{ sc: 0, op: 'eq', value: BPF_PROG_LOAD }],
    }],
    note: 'Served at the entry of bpf(BPF_PROG_LOAD): the attributes read from the caller\'s union bpf_attr '
      + '(program type, instruction count, name). Differences: loads refused before the verifier (no '
      + 'privilege, bad attributes) are seen too; the program itself (bpf_prog) is not available.',
  },
  {
    functions: ['security_bpf_map_alloc', 'security_bpf_map_create', 'map_create'], lsm: ['bpf_map_alloc_security', 'bpf_map_create'], name: 'bpf-map-create',
    args: [{ c: 'struct bpf_map *map', types: ['bpf_map'] }],
    standIns: [{
      syscall: 'bpf', emit: 'enter', args: [{ sc: 1, conv: 'user-struct' }],
      when: [{ sc: 0, op: 'eq', value: BPF_MAP_CREATE }],
    }],
    note: 'Served at the entry of bpf(BPF_MAP_CREATE): type, key and value sizes, max entries and name read '
      + 'from the caller\'s union bpf_attr. Differences: creations that then fail are seen too.',
  },
  {
    functions: ['security_bpf'], lsm: ['bpf'], name: 'bpf',
    args: [{ c: 'int cmd', types: ['bpf_cmd', ...INT_TYPES] }, { c: 'union bpf_attr *attr', types: ['bpf_attr'] }, { c: 'unsigned int size', types: INT_TYPES }],
    standIns: [{ syscall: 'bpf', emit: 'enter', args: [{ sc: 0 }, { sc: 1, conv: 'user-struct' }, { sc: 2 }], ret: ERR }],
    note: 'Served at the entry of bpf(2), which calls security_bpf first. No difference in what is seen.',
  },
  {
    functions: ['security_perf_event_alloc', 'security_perf_event_open', 'perf_event_alloc'], lsm: ['perf_event_alloc', 'perf_event_open'], name: 'perf_event_open',
    args: [{ c: 'struct perf_event *event', types: ['perf_event'] }],
    standIns: [{ syscall: 'perf_event_open', emit: 'enter', args: [{ sc: 0, conv: 'user-struct' }] }],
    note: 'Served at the entry of perf_event_open(2): type, config and probe function read from the caller\'s '
      + 'struct perf_event_attr. Differences: kernel-internal perf events (watchdog, BPF) are not seen; '
      + 'opens that fail early are.',
  },
  {
    functions: ['create_user_ns'], lsm: ['userns_create'], name: 'new-user-namespace',
    args: [{ c: 'struct cred *new', types: CRED_TYPES }],
    standIns: [
      { syscall: 'unshare', emit: 'enter', args: [{ cred: true }], ret: ERR, when: [{ sc: 0, op: 'mask', value: CLONE_NEWUSER }] },
      { syscall: 'clone', emit: 'enter', args: [{ cred: true }], ret: ERR, when: [{ sc: 0, op: 'mask', value: CLONE_NEWUSER }] },
      { syscall: 'clone3', emit: 'enter', args: [{ cred: true }], ret: ERR, when: [{ umem: [0, 0, 8], op: 'mask', value: CLONE_NEWUSER }] },
    ],
    changesCreds: 'unshare(CLONE_NEWUSER) has by then given the caller every capability in its new user namespace',
    note: 'Served at the entry of unshare(2), clone(2) and clone3(2) with CLONE_NEWUSER (clone3: read from '
      + 'clone_args.flags), with the caller\'s credentials. Differences: the event comes before the namespace '
      + 'is made, so calls that then fail are seen; Sigkill kills on return, as with the kprobe. The return '
      + 'value (return: true) is the syscall\'s error (0 when it succeeded, else -errno, which may come from '
      + 'another step) and moves the event to the syscall\'s exit; capability and namespace filters are still '
      + 'judged at the entry, with the caller\'s credentials (for a hook with one selector: with several, '
      + 'the entry\'s verdict could not say which passed, and the policy is refused).',
  },
  {
    functions: ['userns_install'], lsm: [], name: 'setns-user',
    args: [{ c: 'struct nsset *nsset', types: [] }, { c: 'struct ns_common *ns', types: [] }],
    standIns: [{ syscall: 'setns', emit: 'enter', args: [undefined, undefined], ret: ERR, when: [{ sc: 1, op: 'mask', value: CLONE_NEWUSER }] }],
    changesCreds: 'setns into a user namespace has by then given the caller every capability in it',
    note: 'Served by setns(2) with CLONE_NEWUSER in its flags (an fd of a user namespace, or a pidfd asking for '
      + 'its user namespace), which calls userns_install; the return value is setns\'s (0, or -errno, which may '
      + 'come from another step, e.g. another namespace of a pidfd). Differences: setns(fd, 0) on a user '
      + 'namespace fd is not seen (the flags do not say the kind); the namespace is not available as an argument. '
      + 'Capability and namespace filters are judged at the entry, with the caller\'s credentials (for a hook '
      + 'with one selector: with several, the policy is refused).',
  },
  {
    functions: ['set_fs_pwd'], lsm: [], name: 'cwd-change',
    args: [{ c: 'struct fs_struct *fs', types: [] }, { c: 'const struct path *path', types: ['path', 'file', 'string'] }],
    standIns: [
      ...['chdir', 'fchdir'].map((sc): StandIn => ({
        syscall: sc, emit: 'exit', args: [undefined, { cwd: true }], when: [{ ret: true, op: 'eq', value: 0n }],
      })),
      {
        syscall: 'setns', emit: 'exit', args: [undefined, { cwd: true }],
        when: [{ ret: true, op: 'eq', value: 0n }, { sc: 1, op: 'mask', value: CLONE_NEWNS }],
      },
    ],
    note: 'Served at the successful exit of chdir(2) and fchdir(2), and of setns(2) into a mount namespace '
      + '(CLONE_NEWNS in its flags: it moves the cwd to the namespace\'s root), each of which calls set_fs_pwd: '
      + 'path is the task\'s working directory after the call, read from task->fs->pwd and resolved in the '
      + 'kernel (the directory reached, through symlinks and /proc/self/fd/N, not the string passed). '
      + 'Differences: setns(fd, 0) on a mount namespace fd is not seen; the kernel\'s own init_chdir is not; '
      + 'Sigkill lands after the cwd changed, before the process returns to user space.',
  },
  {
    functions: ['security_capset'], lsm: ['capset'], name: 'capset',
    args: [
      { c: 'struct cred *new', types: [] },
      { c: 'const struct cred *old', types: CRED_TYPES },
      { c: 'const kernel_cap_t *effective', types: ['cap_effective', 'kernel_cap_t'] },
      { c: 'const kernel_cap_t *inheritable', types: ['cap_inheritable', 'kernel_cap_t'] },
      { c: 'const kernel_cap_t *permitted', types: ['cap_permitted', 'kernel_cap_t'] },
    ],
    standIns: [{
      syscall: 'capset', emit: 'enter', ret: ERR,
      args: [undefined, { cred: true }, { sc: 1, conv: 'user-caps', size: 0 }, { sc: 1, conv: 'user-caps', size: 0 }, { sc: 1, conv: 'user-caps', size: 0 }],
    }],
    note: 'Served at the entry of capset(2), which passes security_capset the sets it read from the caller: '
      + 'effective, inheritable and permitted are read from the caller\'s struct __user_cap_data_struct (both '
      + 'words; version 1 headers give the low 32 bits), old is the caller\'s credentials. Differences: calls '
      + 'that fail before security_capset (a bad header version, another pid, a fault) are seen too; new is '
      + 'not available.',
  },
  {
    functions: ['security_sb_mount', 'path_mount', 'do_mount'], lsm: ['sb_mount'], name: 'mount',
    args: [
      { c: 'const char *dev_name', types: ['string', 'filename'] },
      { c: 'const struct path *path', types: FILE_TYPES },
      { c: 'const char *type', types: ['string'] },
      { c: 'unsigned long flags', types: INT_TYPES },
    ],
    standIns: [{ syscall: 'mount', emit: 'enter', args: [{ sc: 0 }, { sc: 1, conv: 'string' }, { sc: 2 }, { sc: 3 }], ret: ERR }],
    note: 'Served at the entry of mount(2): the mount point as passed (not resolved). Differences: the new '
      + 'mount API (fsopen, fsmount, move_mount) is not seen.',
  },
  {
    functions: ['security_file_ioctl', 'vfs_ioctl', 'do_vfs_ioctl'], lsm: ['file_ioctl'], name: 'ioctl',
    args: [{ c: 'struct file *file', types: FILE_TYPES }, { c: 'unsigned int cmd', types: INT_TYPES }, { c: 'unsigned long arg', types: INT_TYPES }],
    standIns: [{ syscall: 'ioctl', emit: 'enter', args: [{ sc: 0, conv: 'fd' }, { sc: 1 }, { sc: 2 }], ret: ERR }],
    note: 'Served at the entry of ioctl(2). Differences: calls on invalid fds are seen.',
  },
  {
    functions: ['tty_ioctl'], lsm: [], name: 'tty-ioctl',
    args: [{ c: 'struct file *file', types: FILE_TYPES }, { c: 'unsigned int cmd', types: INT_TYPES }, { c: 'unsigned long arg', types: INT_TYPES }],
    standIns: [{ syscall: 'ioctl', emit: 'enter', args: [{ sc: 0, conv: 'fd' }, { sc: 1 }, { sc: 2 }], when: [{ fdOp: 0, op: 'unlocked_ioctl', fn: 'tty_ioctl' }] }],
    note: 'Served at the entry of ioctl(2) on fds whose file\'s ioctl handler is tty_ioctl (every tty, pty and '
      + 'console: the address is read from /proc/kallsyms and compared with the file\'s f_op->unlocked_ioctl), '
      + 'with the same file, cmd and arg. Differences: the commands do_vfs_ioctl handles itself (FIOCLEX, '
      + 'FIONCLEX, FIONBIO, FIOASYNC, ...) and calls an LSM refuses are seen too; 32-bit callers (compat_ioctl) '
      + 'are not.',
  },
  {
    functions: ['tty_write'], lsm: [], name: 'tty-write',
    args: [{ c: 'struct kiocb *iocb', types: FILE_TYPES }, { c: 'struct iov_iter *from', types: ['iov_iter', 'char_buf'] }],
    standIns: [
      { syscall: 'write', emit: 'enter', args: [{ sc: 0, conv: 'fd' }, { sc: 1, size: 2 }], when: [{ fdOp: 0, op: 'write_iter', fn: 'tty_write' }] },
      { syscall: 'writev', emit: 'enter', args: [{ sc: 0, conv: 'fd' }, undefined], when: [{ fdOp: 0, op: 'write_iter', fn: 'tty_write' }] },
    ],
    note: 'Served at the entry of write(2) and writev(2) on fds whose file\'s write_iter is tty_write (ttys and '
      + 'ptys: the address is read from /proc/kallsyms and compared with the file\'s f_op->write_iter): the '
      + 'kiocb\'s file is the fd\'s, the iov_iter the bytes write(2) passes (up to maxData). Differences: '
      + 'writev\'s data is not available; writes to /dev/console (redirected_tty_write), io_uring and '
      + 'splice writes are not seen; writes that then fail (a hung-up tty, a signal) are.',
  },
  ...TIOCLINUX_CALLS.map(([fn, sub, what]): PortableEntry => ({
    functions: [fn], lsm: [], name: `tioclinux-${what}`,
    args: fn === 'set_selection_user'
      ? [{ c: 'const struct tiocl_selection __user *sel', types: [] }, { c: 'struct tty_struct *tty', types: [] }]
      : [{ c: fn === 'sel_loadlut' ? 'u32 __user *lut' : 'struct tty_struct *tty', types: [] }],
    standIns: [{
      syscall: 'ioctl', emit: 'enter', args: [],
      when: [{ fdOp: 0, op: 'unlocked_ioctl', fn: 'tty_ioctl' }, { sc: 1, op: 'eq', value: TIOCLINUX }, { umem: [2, 0, 1], op: 'eq', value: sub }],
    }],
    note: `Served at the entry of ioctl(2) with TIOCLINUX on a tty and subcode ${sub} (the first byte arg points to), `
      + `which the VT driver's tioclinux hands to ${fn}. Differences: calls tioclinux refuses before ${fn} `
      + '(a tty that is not the caller\'s own without CAP_SYS_ADMIN, and the capability checks of newer kernels) '
      + 'and TIOCLINUX on ttys that are not virtual consoles (where it fails with EINVAL) are seen too; '
      + 'the arguments are not available.',
  })),
  {
    functions: ['security_path_unlink', 'security_inode_unlink', 'vfs_unlink', 'do_unlinkat'], lsm: ['path_unlink', 'inode_unlink'], name: 'unlink',
    args: [{ c: 'const struct path *dir', types: FILE_TYPES }, { c: 'struct dentry *dentry', types: FILE_TYPES }],
    standIns: [
      { syscall: 'unlink', emit: 'enter', args: [{ sc: 0, conv: 'string' }, { sc: 0, conv: 'string' }] },
      { syscall: 'unlinkat', emit: 'enter', args: [{ sc: 1, conv: 'string' }, { sc: 1, conv: 'string' }] },
    ],
    note: 'Served at the entry of unlink(2) and unlinkat(2): both arguments give the path as passed (relative '
      + 'paths are not resolved). Differences: unlinks that then fail are seen; rmdir is not.',
  },
  {
    functions: ['security_path_mkdir', 'security_inode_mkdir', 'vfs_mkdir', 'do_mkdirat'], lsm: ['path_mkdir', 'inode_mkdir'], name: 'mkdir',
    args: [{ c: 'const struct path *dir', types: FILE_TYPES }, { c: 'struct dentry *dentry', types: FILE_TYPES }, { c: 'umode_t mode', types: INT_TYPES }],
    standIns: [
      { syscall: 'mkdir', emit: 'enter', args: [{ sc: 0, conv: 'string' }, { sc: 0, conv: 'string' }, { sc: 1 }] },
      { syscall: 'mkdirat', emit: 'enter', args: [{ sc: 1, conv: 'string' }, { sc: 1, conv: 'string' }, { sc: 2 }] },
    ],
    note: 'Served at the entry of mkdir(2) and mkdirat(2): the path as passed. Differences: calls that then '
      + 'fail are seen.',
  },
  {
    functions: ['security_path_rename', 'security_inode_rename', 'vfs_rename', 'do_renameat2'], lsm: ['path_rename', 'inode_rename'], name: 'rename',
    args: [
      { c: 'const struct path *old_dir', types: FILE_TYPES }, { c: 'struct dentry *old_dentry', types: FILE_TYPES },
      { c: 'const struct path *new_dir', types: FILE_TYPES }, { c: 'struct dentry *new_dentry', types: FILE_TYPES },
    ],
    standIns: [
      { syscall: 'rename', emit: 'enter', args: [{ sc: 0, conv: 'string' }, { sc: 0, conv: 'string' }, { sc: 1, conv: 'string' }, { sc: 1, conv: 'string' }] },
      { syscall: 'renameat', emit: 'enter', args: [{ sc: 1, conv: 'string' }, { sc: 1, conv: 'string' }, { sc: 3, conv: 'string' }, { sc: 3, conv: 'string' }] },
      { syscall: 'renameat2', emit: 'enter', args: [{ sc: 1, conv: 'string' }, { sc: 1, conv: 'string' }, { sc: 3, conv: 'string' }, { sc: 3, conv: 'string' }] },
    ],
    note: 'Served at the entry of rename, renameat and renameat2: old and new paths as passed. Differences: '
      + 'calls that then fail are seen.',
  },
  {
    functions: ['security_path_chmod', 'chmod_common'], lsm: ['path_chmod'], name: 'chmod',
    args: [{ c: 'const struct path *path', types: FILE_TYPES }, { c: 'umode_t mode', types: INT_TYPES }],
    standIns: [
      { syscall: 'chmod', emit: 'enter', args: [{ sc: 0, conv: 'string' }, { sc: 1 }] },
      { syscall: 'fchmod', emit: 'enter', args: [{ sc: 0, conv: 'fd' }, { sc: 1 }] },
      { syscall: 'fchmodat', emit: 'enter', args: [{ sc: 1, conv: 'string' }, { sc: 2 }] },
      { syscall: 'fchmodat2', emit: 'enter', args: [{ sc: 1, conv: 'string' }, { sc: 2 }] },
    ],
    note: 'Served at the entry of chmod, fchmod, fchmodat and fchmodat2. Differences: calls that then fail '
      + 'are seen; paths are as passed.',
  },
  {
    functions: ['security_kernel_read_file', 'kernel_read_file'], lsm: ['kernel_read_file'], name: 'module-file',
    args: [{ c: 'struct file *file', types: FILE_TYPES }, { c: 'enum kernel_read_file_id id', types: INT_TYPES }],
    standIns: [
      { syscall: 'finit_module', emit: 'enter', args: [{ sc: 0, conv: 'fd' }, { const: READING_MODULE }], ret: ERR },
      { syscall: 'kexec_file_load', emit: 'enter', args: [{ sc: 0, conv: 'fd' }, { const: READING_KEXEC_IMAGE }], ret: ERR },
    ],
    note: 'Served at the entry of finit_module(2) (id READING_MODULE) and kexec_file_load(2) (id '
      + 'READING_KEXEC_IMAGE, the kernel image fd). Differences: firmware, IMA policy and certificate reads '
      + 'are not seen.',
  },
  {
    functions: ['security_kernel_load_data'], lsm: ['kernel_load_data'], name: 'module-data',
    args: [{ c: 'enum kernel_load_data_id id', types: INT_TYPES }, { c: 'bool contents', types: INT_TYPES }],
    standIns: [{ syscall: 'init_module', emit: 'enter', args: [{ const: LOADING_MODULE }, { const: 1n }], ret: ERR }],
    note: 'Served at the entry of init_module(2) (id LOADING_MODULE). Differences: firmware and kexec loads '
      + 'from memory are not seen.',
  },
  {
    functions: ['do_init_module'], lsm: [], name: 'module_load',
    args: [{ c: 'struct module *mod', types: ['module'] }],
    standIns: [{ tracepoint: ['module', 'module_load'], args: [{ field: 'name', conv: 'string' }] }],
    note: 'Served by module:module_load, fired just before do_init_module. The module is given by name.',
  },
  {
    functions: ['free_module'], lsm: [], name: 'module_free',
    args: [{ c: 'struct module *mod', types: ['module'] }],
    standIns: [{ tracepoint: ['module', 'module_free'], args: [{ field: 'name', conv: 'string' }] }],
    note: 'Served by module:module_free, fired by free_module. The module is given by name.',
  },
  {
    functions: ['security_kernel_module_request', '__request_module'], lsm: ['kernel_module_request'], name: 'module_request',
    args: [{ c: 'char *kmod_name', types: ['string'] }],
    standIns: [{ tracepoint: ['module', 'module_request'], args: [{ field: 'name', conv: 'string' }] }],
    note: 'Served by module:module_request, fired by __request_module before it runs modprobe.',
  },
  {
    functions: ['wake_up_new_task'], lsm: [], name: 'sched_process_fork',
    args: [{ c: 'struct task_struct *p', types: [] }],
    standIns: [{ tracepoint: ['sched', 'sched_process_fork'], args: [undefined] }],
    note: 'Served by sched:sched_process_fork, fired in the parent as the child is made. The task is not '
      + 'available as an argument (the event\'s process is the parent).',
  },
  {
    functions: ['security_ptrace_access_check', 'ptrace_attach'], lsm: ['ptrace_access_check'], name: 'ptrace',
    args: [{ c: 'struct task_struct *child', types: [] }, { c: 'unsigned int mode', types: INT_TYPES }],
    standIns: [{ syscall: 'ptrace', emit: 'enter', args: [undefined, { sc: 0 }] }],
    note: 'Served at the entry of ptrace(2); mode is the ptrace request (PTRACE_ATTACH = 16, PTRACE_SEIZE = '
      + '0x4206, ...), not the access mode; the target is not available. Differences: /proc/<pid>/mem and '
      + 'process_vm_readv accesses are not seen.',
  },
  ...SETID_BODIES.map(([sc, names]): PortableEntry => ({
    functions: [`__sys_${sc}`], lsm: [], name: sc,
    args: names.map((c) => ({ c, types: INT_TYPES })),
    standIns: [{ syscall: sc, emit: 'enter', args: names.map((_n, i): From => ({ sc: i })), ret: { ret: true } }],
    note: `Served at the entry of ${sc}(2), whose body __sys_${sc} is: the same arguments, and its return value is `
      + `the syscall's. Differences: the 16-bit ${sc}16 and the 32-bit compat entry, which call __sys_${sc} too, are `
      + 'not seen (syscall tracepoints do not fire for 32-bit processes).',
  })),
  {
    functions: ['vfs_llseek'], lsm: [], name: 'lseek',
    args: [{ c: 'struct file *file', types: FILE_TYPES }, { c: 'loff_t offset', types: INT_TYPES }, { c: 'int whence', types: INT_TYPES }],
    standIns: [{ syscall: 'lseek', emit: 'enter', args: [{ sc: 0, conv: 'fd' }, { sc: 1 }, { sc: 2 }], ret: { ret: true } }],
    note: 'Served at the entry of lseek(2), which calls vfs_llseek on the fd\'s file with its offset and whence; '
      + 'the return value is the syscall\'s (the new offset or -errno). Differences: calls on invalid fds are seen '
      + '(vfs_llseek is not reached; the file is not available); seeks made inside the kernel (overlayfs, nfsd, '
      + 'ecryptfs, ...) are not seen.',
  },
  {
    functions: ['force_sig_fault'], lsm: [], name: 'fault-signal',
    args: [{ c: 'int sig', types: INT_TYPES }, { c: 'int code', types: INT_TYPES }, { c: 'void __user *addr', types: [] }],
    standIns: FAULT_SIGNALS.map((sig): StandIn => ({
      tracepoint: ['signal', 'signal_generate'], args: [{ field: 'sig' }, { field: 'code' }, undefined],
      when: [{ field: 'sig', op: 'eq', value: sig }, { field: 'code', op: 'ge', value: 1n }, { field: 'code', op: 'lt', value: SI_KERNEL }],
    })),
    note: 'Served by signal:signal_generate for SIGILL, SIGTRAP, SIGBUS, SIGFPE and SIGSEGV with a fault code '
      + '(si_code 1 to 127): force_sig_fault queues the signal to the faulting task, in its context, and the '
      + 'tracepoint fires as it is queued. The address is not available. Differences: the same signals and codes '
      + 'raised by force_sig_mceerr, send_sig_mceerr (to another task, from the memory-failure handler\'s '
      + 'context), force_sig_pkuerr and force_sig_perf, or queued by a process to itself with rt_sigqueueinfo, '
      + 'are seen too; signals kill(2), tgkill(2) and the kernel send with SI_USER, SI_TKILL or SI_KERNEL are not.',
  },
];

/** The entry standing in for a kernel function, if any. */
export function portableForFunction(fn: string): PortableEntry | undefined {
  return PORTABLE.find((e) => e.functions.includes(fn));
}

/** The entry standing in for an LSM hook, if any. */
export function portableForLsm(hook: string): PortableEntry | undefined {
  return PORTABLE.find((e) => e.lsm.includes(hook));
}

const PROT_EXEC = 4n;

/**
 * `loader: true` (Tetragon's loader sensor, which reads the kernel's perf mmap records of executable
 * mappings through a kprobe): the same files from tracepoints. Not a function's stand-in, so not in
 * PORTABLE.
 */
export const LOADER: PortableEntry = {
  functions: [], lsm: [], name: 'loader',
  args: [{ c: 'the file mapped executable', types: ['file'] }],
  standIns: [
    { tracepoint: ['sched', 'sched_process_exec'], args: [{ exe: true }] },
    {
      syscall: 'mmap', emit: 'enter', args: [{ sc: 4, conv: 'fd' }],
      when: [{ sc: 2, op: 'mask', value: PROT_EXEC }, { sc: 4, op: 'lt', value: 0x80000000n }],
    },
  ],
  note: 'Served by sched:sched_process_exec (the executable execve mapped, mm->exe_file) and the entry of '
    + 'mmap(2) with PROT_EXEC on a file (what the dynamic loader and dlopen map: the file of the fd); the build '
    + 'id is read from the file when the event arrives. Differences: the program interpreter (ld.so), which '
    + 'execve maps itself, is not reported; nor are mappings made executable later with mprotect(2); a mapping '
    + 'that then fails is.',
};
