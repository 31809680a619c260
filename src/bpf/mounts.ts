// Filesystems the runtime needs: tracefs (tracepoint ids and formats), bpffs
// (pinning) and cgroup v2 (cgroup programs). Found where they are, mounted by
// Vigil where they are not; never assumed at one path.
import { readFileSync, existsSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface MountState {
  /** Where it is mounted, if anywhere. */
  path: string | null;
  /** 'found' (already there), 'mounted' (by Vigil), or 'missing' (with reason). */
  state: 'found' | 'mounted' | 'missing';
  reason?: string;
}

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
}

export function mountTable(): MountEntry[] {
  const text = readFileSync('/proc/self/mounts', 'utf8');
  return text.split('\n').filter(Boolean).map((line) => {
    const [source = '', target = '', fstype = ''] = line.split(' ');
    return { source, target: target.replace(/\\040/g, ' '), fstype };
  });
}

function findMount(fstype: string): string | null {
  return mountTable().find((m) => m.fstype === fstype)?.target ?? null;
}

function mountFs(fstype: string, target: string): void {
  mkdirSync(target, { recursive: true });
  execFileSync('mount', ['-t', fstype, fstype === 'tracefs' ? 'tracefs' : fstype === 'bpf' ? 'bpffs' : fstype, target],
    { stdio: ['ignore', 'ignore', 'pipe'] });
}

const memo = new Map<string, MountState>();

function ensure(fstype: string, preferred: string[], mount: boolean): MountState {
  const key = `${fstype}:${mount}`;
  const cached = memo.get(key);
  if (cached && cached.state !== 'missing') return cached;
  const found = findMount(fstype);
  let state: MountState;
  if (found) {
    state = { path: found, state: 'found' };
  } else if (!mount) {
    state = { path: null, state: 'missing', reason: `${fstype} is not mounted` };
  } else {
    const target = preferred.find((p) => existsSync(p)) ?? preferred[0] ?? `/run/vigil/${fstype}`;
    try {
      mountFs(fstype, target);
      state = { path: target, state: 'mounted' };
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
      state = { path: null, state: 'missing', reason: `mount -t ${fstype} ${target} failed: ${stderr || String(e)}` };
    }
  }
  memo.set(key, state);
  return state;
}

/** tracefs, mounted at /sys/kernel/tracing if needed. libbpf looks there for tracepoint ids. */
export function ensureTracefs(mount = true): MountState {
  const st = ensure('tracefs', ['/sys/kernel/tracing'], mount);
  if (st.state !== 'missing') return st;
  // Older kernels expose tracing under debugfs.
  const debugfs = findMount('debugfs');
  if (debugfs && existsSync(`${debugfs}/tracing/events`)) return { path: `${debugfs}/tracing`, state: 'found' };
  return st;
}

/** bpffs, mounted at /sys/fs/bpf if needed. */
export function ensureBpffs(mount = true): MountState {
  return ensure('bpf', ['/sys/fs/bpf'], mount);
}

/** The cgroup v2 hierarchy: /sys/fs/cgroup (unified), /sys/fs/cgroup/unified (hybrid), or wherever it is. */
export function cgroup2(mount = false): MountState {
  return ensure('cgroup2', ['/sys/fs/cgroup/unified', '/run/vigil/cgroup2'], mount);
}

/** The path of a tracepoint's directory in tracefs (format file, id). */
export function tracepointDir(category: string, event: string): string {
  const st = ensureTracefs();
  if (!st.path) throw new Error(`tracefs unavailable: ${st.reason}`);
  return `${st.path}/events/${category}/${event}`;
}
