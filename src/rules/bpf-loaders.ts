// The built-in rule of `vigil bpf watch`: "Unexpected BPF loader". Every
// program load or attach by a process that is not on the allow-list raises
// an alert (a failed call too: an attempt is what an intruder's probe looks
// like). Pure: the command hands it the loader as the process cache
// describes it.
//
// An allow-list entry names a loader by its executable or its command name:
//   /usr/sbin/bpftool     the binary, exactly
//   /opt/cilium/          every binary under a directory (a trailing slash)
//   systemd               the task's comm (the kernel's 15-byte name), exactly
// A file of entries (--allow-file, e.g. a mounted ConfigMap) has one a line;
// blank lines and '#' comments are skipped.
import { readFileSync } from 'node:fs';

export const UNEXPECTED_BPF_LOADER = 'Unexpected BPF loader';

/** Loaders every Linux host has: systemd attaches cgroup programs (IPAddressDeny=, DeviceAllow=, RestrictFileSystems=). */
export const BUILTIN_BPF_LOADERS: readonly string[] = ['/usr/lib/systemd/systemd', '/lib/systemd/systemd'];

export interface BpfLoader {
  /** The executable's absolute path; '' when unknown. */
  binary: string;
  comm: string;
}

export class BpfLoaderAllowList {
  private readonly binaries = new Set<string>();
  private readonly dirs: string[] = [];
  private readonly comms = new Set<string>();

  constructor(readonly entries: readonly string[]) {
    for (const e of entries) {
      const checked = BpfLoaderAllowList.check(e);
      if (checked.startsWith('/')) {
        if (checked.endsWith('/')) this.dirs.push(checked);
        else this.binaries.add(checked);
      } else {
        this.comms.add(checked);
      }
    }
  }

  /** One entry, trimmed; a RangeError saying why it cannot be one. */
  static check(entry: string): string {
    const e = entry.trim();
    if (!e) throw new RangeError('an empty loader entry');
    if (!e.startsWith('/') && (e.length > 15 || e.includes('/'))) {
      throw new RangeError(`"${e}" is neither an absolute path nor a command name (at most 15 bytes, no '/')`);
    }
    return e;
  }

  /** Entries from a file's text: one a line; blank lines and '#' comments skipped. Errors name the line. */
  static parse(text: string, source: string): string[] {
    const out: string[] = [];
    text.split('\n').forEach((raw, i) => {
      const line = raw.replace(/#.*/, '').trim();
      if (!line) return;
      try {
        out.push(BpfLoaderAllowList.check(line));
      } catch (e) {
        throw new RangeError(`${source}:${i + 1}: ${(e as Error).message}`);
      }
    });
    return out;
  }

  static fromFile(path: string): string[] {
    return BpfLoaderAllowList.parse(readFileSync(path, 'utf8'), path);
  }

  allows(l: BpfLoader): boolean {
    if (l.binary && (this.binaries.has(l.binary) || this.dirs.some((d) => l.binary.startsWith(d)))) return true;
    return this.comms.has(l.comm);
  }
}
