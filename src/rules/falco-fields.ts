// Field names Falco's syscall source knows (falco --list=syscall, libs 0.20+ and
// the container and k8smeta plugins), so a rule that uses one Vigil does not
// provide is skipped with that reason, while a name neither knows is an error,
// as it is in Falco ("nonexistent field").
//
// Fields taking an argument are listed by their base name (proc.aname, evt.arg).

const NAMES = `
evt.num evt.time evt.time.s evt.time.iso8601 evt.datetime evt.datetime.s evt.rawtime evt.rawtime.s
evt.rawtime.ns evt.reltime evt.reltime.s evt.reltime.ns evt.pluginname evt.plugininfo evt.source
evt.is_async evt.asynctype evt.hostname evt.latency evt.latency.s evt.latency.ns evt.latency.human
evt.deltatime evt.deltatime.s evt.deltatime.ns evt.dir evt.type evt.type.is syscall.type evt.category
evt.cpu evt.args evt.arg evt.rawarg evt.info evt.buffer evt.buflen evt.res evt.rawres evt.failed
evt.is_io evt.is_io_read evt.is_io_write evt.io_dir evt.is_wait evt.wait_latency evt.is_syslog
evt.count evt.count.error evt.count.error.file evt.count.error.net evt.count.error.memory
evt.count.error.other evt.count.exit evt.around evt.abspath evt.abspath.src evt.abspath.dst
evt.is_open_read evt.is_open_write evt.is_open_exec evt.is_open_create
proc.exe proc.pexe proc.aexe proc.exepath proc.pexepath proc.aexepath proc.name proc.pname proc.aname
proc.args proc.cmdline proc.pcmdline proc.acmdline proc.cmdnargs proc.cmdlenargs proc.exeline proc.env
proc.aenv proc.cwd proc.loginshellid proc.tty proc.pid proc.ppid proc.apid proc.vpid proc.pvpid
proc.sid proc.sname proc.sid.exe proc.sid.exepath proc.vpgid proc.vpgid.name proc.vpgid.exe
proc.vpgid.exepath proc.pgid proc.pgid.name proc.pgid.exe proc.pgid.exepath proc.duration
proc.ppid.duration proc.pid.ts proc.ppid.ts proc.is_exe_writable proc.is_exe_upper_layer
proc.is_exe_lower_layer proc.is_exe_from_memfd proc.is_sid_leader proc.is_vpgid_leader
proc.is_pgid_leader proc.exe_ino proc.exe_ino.ctime proc.exe_ino.mtime
proc.exe_ino.ctime_duration_proc_start proc.exe_ino.ctime_duration_pidns_start proc.pidns_init_start_ts
thread.cap_permitted thread.cap_inheritable thread.cap_effective proc.fdopencount proc.fdopenlimit
proc.fdlimit proc.fdusage proc.vmsize proc.vmrss proc.vmswap thread.pfmajor thread.pfminor thread.ismain
thread.exectime thread.totexectime thread.cgroups thread.cgroup thread.tid thread.vtid thread.cpu
thread.cpu.user thread.cpu.system thread.vmsize thread.vmrss proc.nthreads proc.nchilds
proc.is_container_healthcheck proc.is_container_liveness_probe proc.is_container_readiness_probe
proc.stdin.type proc.stdout.type proc.stderr.type proc.stdin.name proc.stdout.name proc.stderr.name
user.uid user.name user.homedir user.shell user.loginuid user.loginname group.gid group.name
container.id container.full_id container.name container.image container.image.id container.type
container.privileged container.mounts container.mount container.mount.source container.mount.dest
container.mount.mode container.mount.rdwr container.mount.propagation container.image.repository
container.image.tag container.image.digest container.healthcheck container.liveness_probe
container.readiness_probe container.start_ts container.duration container.ip container.cni.json
container.host_pid container.host_network container.host_ipc container.label container.labels
fd.num fd.type fd.typechar fd.name fd.nameraw fd.directory fd.filename fd.ip fd.cip fd.sip fd.lip
fd.rip fd.port fd.cport fd.sport fd.lport fd.rport fd.l4proto fd.sockfamily fd.is_server fd.uid
fd.containername fd.containerdirectory fd.proto fd.cproto fd.sproto fd.lproto fd.rproto fd.net fd.cnet
fd.snet fd.lnet fd.rnet fd.connected fd.name_changed fd.cip.name fd.sip.name fd.lip.name fd.rip.name
fd.dev fd.dev.major fd.dev.minor fd.ino fd.nameraw fd.types fd.is_upper_layer fd.is_lower_layer
fs.path.name fs.path.nameraw fs.path.source fs.path.sourceraw fs.path.target fs.path.targetraw
fdlist.nums fdlist.names fdlist.cips fdlist.sips fdlist.cports fdlist.sports
syslog.facility.str syslog.facility syslog.severity.str syslog.severity syslog.message
k8s.pod.name k8s.pod.id k8s.pod.uid k8s.pod.sandbox_id k8s.pod.full_sandbox_id k8s.pod.label
k8s.pod.labels k8s.pod.ip k8s.pod.cni.json k8s.rc.name k8s.rc.id k8s.rc.label k8s.rc.labels
k8s.svc.name k8s.svc.id k8s.svc.label k8s.svc.labels k8s.ns.name k8s.ns.id k8s.ns.label k8s.ns.labels
k8s.rs.name k8s.rs.id k8s.rs.label k8s.rs.labels k8s.deployment.name k8s.deployment.id
k8s.deployment.label k8s.deployment.labels
mesos.task.name mesos.task.id mesos.task.label mesos.task.labels mesos.framework.name
mesos.framework.id marathon.app.name marathon.app.id marathon.app.label marathon.app.labels
marathon.group.name marathon.group.id
span.id span.time span.ntags span.nargs span.tags span.tag span.args span.arg span.enterargs
span.enterarg span.duration span.duration.human
`;

export const FALCO_SYSCALL_FIELDS: ReadonlySet<string> = new Set(NAMES.split(/\s+/).filter(Boolean));

/** Fields written with a trailing dotted argument: evt.arg.flags, k8s.pod.label.app, thread.cgroup.cpu. */
export const DOTTED_ARG_FIELDS: readonly string[] = [
  'evt.arg', 'evt.rawarg', 'evt.type.is', 'thread.cgroup', 'container.label', 'k8s.pod.label',
  'k8s.rc.label', 'k8s.svc.label', 'k8s.ns.label', 'k8s.rs.label', 'k8s.deployment.label',
  'mesos.task.label', 'marathon.app.label', 'span.arg', 'span.enterarg',
];

/** Event types that are not syscalls (Falco pseudo events). */
export const FALCO_PSEUDO_EVENTS: ReadonlySet<string> = new Set([
  'switch', 'procexit', 'signaldeliver', 'container', 'pluginevent', 'asyncevent', 'notification',
  'infra', 'drop', 'tracer', 'page_fault', 'procinfo', 'cpu_hotplug', 'k8s', 'mesos', 'sysdigevent',
  'meta', 'scapevent', 'syscall', 'mesg', 'dropenter', 'dropexit',
]);
