// What is loaded on this host (`vigil bpf ls`): every BPF program, map and
// link, whoever loaded it. The kernel lists the objects by id; the processes
// holding them are found the way bpftool finds them without its BPF iterator:
// each /proc/PID/fd that is a BPF object, its id read from /proc/PID/fdinfo.
// An object no process holds is kept alive by a pin, an attachment without a
// link (XDP, TC, cgroup), or another object (a map of a program).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { native, type HostLink, type HostMap, type HostProgram } from '../bpf/native.js';
import { containerOfPid } from '../process/container.js';

/** A process that holds a descriptor of the object. */
export interface BpfOwner {
  pid: number;
  comm: string;
  /** The container it runs in (its id), or 'host'; undefined when it exited meanwhile. */
  container: string | undefined;
}

export interface InventoryProgram extends HostProgram {
  owners: BpfOwner[];
  /** The links that attach it (by id), and where. */
  links: number[];
}

export interface InventoryMap extends HostMap {
  owners: BpfOwner[];
  /** Programs that use it. */
  programs: number[];
}

export interface InventoryLink extends HostLink {
  owners: BpfOwner[];
}

export interface BpfInventory {
  programs: InventoryProgram[];
  maps: InventoryMap[];
  links: InventoryLink[];
}

type Kind = 'prog' | 'map' | 'link';

/** Every BPF descriptor of every process: object kind and id, to its holders. */
export function bpfOwners(procRoot = '/proc'): Map<string, BpfOwner[]> {
  const out = new Map<string, BpfOwner[]>();
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue; // exited, or a kernel thread
    }
    let owner: BpfOwner | undefined;
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const kind: Kind | undefined = target === 'anon_inode:bpf-prog' ? 'prog' : target === 'anon_inode:bpf-map' ? 'map'
        : target === 'anon_inode:bpf_link' ? 'link' : undefined;
      if (!kind) continue;
      let info: string;
      try {
        info = readFileSync(`${procRoot}/${pid}/fdinfo/${fd}`, 'latin1');
      } catch {
        continue;
      }
      const id = new RegExp(`^${kind}_id:\\s*(\\d+)$`, 'm').exec(info)?.[1];
      if (id === undefined) continue;
      if (!owner) {
        let comm = '';
        try {
          comm = readFileSync(`${procRoot}/${pid}/comm`, 'latin1').trim();
        } catch { /* exited */ }
        const c = containerOfPid(Number(pid), procRoot);
        owner = { pid: Number(pid), comm, container: c === undefined ? undefined : c === 'host' ? 'host' : c.id };
      }
      const key = `${kind}:${id}`;
      const list = out.get(key) ?? [];
      if (!list.some((o) => o.pid === owner!.pid)) list.push(owner);
      out.set(key, list);
    }
  }
  return out;
}

/** The host's programs, maps and links, each with its holders; objects gone while listing are left out. */
export function bpfInventory(procRoot = '/proc'): BpfInventory {
  const n = native();
  const owners = bpfOwners(procRoot);
  const of = (kind: Kind, id: number): BpfOwner[] => owners.get(`${kind}:${id}`) ?? [];
  const links = n.bpfIds(2).map((id) => n.bpfObjectInfo(2, id)).filter((l): l is HostLink => l !== null)
    .map((l) => ({ ...l, owners: of('link', l.id) }));
  const programs = n.bpfIds(0).map((id) => n.bpfObjectInfo(0, id)).filter((p): p is HostProgram => p !== null)
    .map((p) => {
      const attached = links.filter((l) => l.progId === p.id);
      // A process that holds only a link to the program keeps it loaded too.
      const holders = [...of('prog', p.id)];
      for (const o of attached.flatMap((l) => l.owners)) if (!holders.some((h) => h.pid === o.pid)) holders.push(o);
      return { ...p, owners: holders, links: attached.map((l) => l.id) };
    });
  const maps = n.bpfIds(1).map((id) => n.bpfObjectInfo(1, id)).filter((m): m is HostMap => m !== null)
    .map((m) => ({ ...m, owners: of('map', m.id), programs: programs.filter((p) => p.mapIds.includes(m.id)).map((p) => p.id) }));
  return { programs, maps, links };
}
