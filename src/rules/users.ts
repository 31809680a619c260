// User and group names for user.name, user.loginname, group.name: the host's
// /etc/passwd and /etc/group, parsed once and re-read when the file changes
// (checked at most once a second, so a busy event stream costs one stat/s).
import { readFileSync, statSync } from 'node:fs';

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
}

const RECHECK_MS = 1000;

/** A colon-separated database file keyed by numeric id, reloaded when its mtime changes. */
class IdFile<T> {
  private byId = new Map<number, T>();
  private mtimeMs = -1;
  private checkedAt = -Infinity;

  constructor(
    readonly path: string,
    private readonly parseLine: (fields: string[]) => [number, T] | undefined,
    private readonly now: () => number,
  ) {}

  get(id: number): T | undefined {
    this.refresh();
    return this.byId.get(id);
  }

  private refresh(): void {
    const t = this.now();
    if (t - this.checkedAt < RECHECK_MS) return;
    this.checkedAt = t;
    let mtime: number;
    try {
      mtime = statSync(this.path).mtimeMs;
    } catch {
      this.byId = new Map();
      this.mtimeMs = -1;
      return;
    }
    if (mtime === this.mtimeMs) return;
    this.mtimeMs = mtime;
    const map = new Map<number, T>();
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      // unreadable: no names
    }
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const parsed = this.parseLine(line.split(':'));
      // the first entry for an id wins, as getpwuid(3) returns it
      if (parsed && !map.has(parsed[0])) map.set(parsed[0], parsed[1]);
    }
    this.byId = map;
  }
}

export interface UserDbOptions {
  passwd?: string;
  group?: string;
  /** Clock for the re-check interval (tests). */
  now?: () => number;
}

export class UserDb {
  private readonly users: IdFile<PasswdEntry>;
  private readonly groups: IdFile<GroupEntry>;

  constructor(opts: UserDbOptions = {}) {
    const now = opts.now ?? Date.now;
    this.users = new IdFile(opts.passwd ?? '/etc/passwd', (f) => {
      const uid = Number(f[2]);
      if (f.length < 7 || !Number.isInteger(uid)) return undefined;
      return [uid, { name: f[0]!, uid, gid: Number(f[3]), home: f[5]!, shell: f[6]! }];
    }, now);
    this.groups = new IdFile(opts.group ?? '/etc/group', (f) => {
      const gid = Number(f[2]);
      if (f.length < 3 || !Number.isInteger(gid)) return undefined;
      return [gid, { name: f[0]!, gid }];
    }, now);
  }

  user(uid: number): PasswdEntry | undefined {
    return this.users.get(uid);
  }

  group(gid: number): GroupEntry | undefined {
    return this.groups.get(gid);
  }
}
