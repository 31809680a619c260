// What the API changed, kept across restarts: the policies and rules files
// added through it (and whether each policy is enabled), in one JSON file in
// the state directory (default /var/lib/vigil). The file is written whole
// after every change (a new file, synced, renamed over the old one), so a
// crash leaves the old state or the new, never half of one; a policy deleted
// is gone from it. Policies and rules from the configuration file are the
// configuration's, and are not kept here.
//
// Adding a policy means being able to kill processes, so the directory is
// root's (0700) and the file 0600, and a state that others could have
// written is refused rather than loaded.
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, chmodSync } from 'node:fs';
import path from 'node:path';

export const STATE_FILE = 'api-state.json';

export interface StoredPolicy {
  /** The policy's name (metadata.name). */
  readonly name: string;
  /** What the client called its source (a file name), and the whole text it sent. */
  readonly source: string;
  readonly yaml: string;
  readonly enabled: boolean;
}

export interface StoredRules {
  readonly name: string;
  readonly yaml: string;
}

export interface ApiState {
  readonly policies: readonly StoredPolicy[];
  readonly rules: readonly StoredRules[];
}

const EMPTY: ApiState = { policies: [], rules: [] };

/** The state directory or file cannot be trusted or read: the agent does not start. */
export class StateError extends Error {
  override readonly name = 'StateError';
}

/** Refuses what another user could have written: not ours, or writable by group or others. */
function checkOwned(p: string, what: 'directory' | 'file'): void {
  const st = lstatSync(p);
  if (what === 'directory' ? !st.isDirectory() : !st.isFile()) throw new StateError(`state.directory: ${p} is not a ${what}${st.isSymbolicLink() ? ' (a symbolic link)' : ''}`);
  const uid = process.geteuid?.() ?? 0;
  if (st.uid !== uid) throw new StateError(`state.directory: ${p} belongs to uid ${st.uid}, not to the agent's (${uid}); fix its owner or remove it`);
  if (st.mode & 0o022) {
    throw new StateError(`state.directory: ${p} is writable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); make it ${what === 'directory' ? '0700' : '0600'} or remove it`);
  }
}

export class StateStore {
  readonly file: string;

  constructor(readonly dir: string) {
    this.file = path.join(dir, STATE_FILE);
  }

  /** What was kept; nothing when the directory or file does not exist yet. Throws StateError on a state that cannot be trusted or read. */
  load(): ApiState {
    if (!lstatSync(this.dir, { throwIfNoEntry: false })) return EMPTY;
    checkOwned(this.dir, 'directory');
    if (!lstatSync(this.file, { throwIfNoEntry: false })) return EMPTY;
    checkOwned(this.file, 'file');
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (e) {
      throw new StateError(`state.directory: ${this.file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const s = raw as Partial<ApiState> | null;
    const ok = s !== null && typeof s === 'object' && Array.isArray(s.policies) && Array.isArray(s.rules)
      && s.policies.every((p) => typeof p?.name === 'string' && typeof p.source === 'string' && typeof p.yaml === 'string' && typeof p.enabled === 'boolean')
      && s.rules.every((r) => typeof r?.name === 'string' && typeof r.yaml === 'string');
    if (!ok) throw new StateError(`state.directory: ${this.file} is not a state file of this agent (move it away to start without it)`);
    return { policies: s.policies!, rules: s.rules! };
  }

  /** Writes the state whole: the directory made 0700 when missing, the file 0600, replaced atomically. */
  save(state: ApiState): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    checkOwned(this.dir, 'directory');
    const tmp = `${this.file}.${process.pid}.tmp`;
    rmSync(tmp, { force: true });
    // O_EXCL: a name someone else made in between is not written through.
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(state, null, 1)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.file);
    const dfd = openSync(this.dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }
}
