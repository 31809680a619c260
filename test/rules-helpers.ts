// Helpers for the rules tests: synthetic RuleEvents, rules from inline YAML,
// and a deterministic user database.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RuleEvent, RuleProcess } from '../src/rules/event.js';
import { RuleEngine, type RuleEngineOptions, type RulesReport } from '../src/rules/engine.js';
import { RuleFieldTable } from '../src/rules/fields.js';
import { UserDb } from '../src/rules/users.js';
import { repoPath } from '../src/util/paths.js';

let usersDir: string | undefined;

/** A user database with root (0), alice (1000) and daemon (1); groups root (0), staff (50). */
export function testUsers(): UserDb {
  if (!usersDir) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-rules-users-'));
    usersDir = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(usersDir, 'passwd'), [
      'root:x:0:0:root:/root:/bin/bash',
      'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
      'alice:x:1000:1000:Alice:/home/alice:/bin/zsh',
      '',
    ].join('\n'));
    writeFileSync(path.join(usersDir, 'group'), ['root:x:0:', 'staff:x:50:alice', ''].join('\n'));
  }
  return new UserDb({ passwd: path.join(usersDir, 'passwd'), group: path.join(usersDir, 'group') });
}

export function testFields(): RuleFieldTable {
  return new RuleFieldTable({ users: testUsers(), hostname: 'vigil-test' });
}

export const T0 = 1_767_225_600_123_456_789n; // 2026-01-01T00:00:00.123456789Z

export const INIT: RuleProcess = { pid: 1, name: 'systemd', exe: '/sbin/init', exepath: '/usr/lib/systemd/systemd', args: [], uid: 0, gid: 0 };
export const SSHD: RuleProcess = { pid: 500, name: 'sshd', exe: '/usr/sbin/sshd', exepath: '/usr/sbin/sshd', args: ['-D'], uid: 0, gid: 0, parent: INIT };
export const BASH: RuleProcess = {
  pid: 1000, name: 'bash', exe: '-bash', exepath: '/usr/bin/bash', args: [], uid: 1000, gid: 1000, loginuid: 1000,
  tty: 34816, startTimeNs: T0 - 3_600_000_000_000n, cwd: '/home/alice', parent: SSHD,
};

/** A process run by alice's shell (override what the case needs). */
export function proc(p: Partial<RuleProcess> & { name: string }): RuleProcess {
  return {
    pid: 2000, exe: p.name, exepath: `/usr/bin/${p.name}`, args: [], uid: 1000, gid: 1000, loginuid: 1000, tty: 34816,
    startTimeNs: T0 - 1_000_000n, cwd: '/home/alice', parent: BASH, ...p,
  };
}

export function event(e: Partial<RuleEvent> & { type: string }): RuleEvent {
  return { timeNs: T0, res: 0, process: proc({ name: 'cat' }), ...e };
}

/** An open of a file by a process: flags as the kernel's number (0 = O_RDONLY). */
export function openEvent(p: RuleProcess, file: string, flags = 0, res = 3): RuleEvent {
  return {
    type: 'openat', timeNs: T0, res, process: p,
    args: { fd: res, dirfd: -100, name: file, flags, mode: 0 },
    fd: { num: res < 0 ? -1 : res, type: 'file', name: file },
  };
}

export function execEvent(p: RuleProcess): RuleEvent {
  return { type: 'execve', timeNs: T0, res: 0, process: p, args: { filename: p.exepath ?? p.name } };
}

export function rulesReport(yaml: string | string[], opts: RuleEngineOptions = {}): RulesReport {
  const sources = (Array.isArray(yaml) ? yaml : [yaml]).map((content, i) => ({ name: `rules${i}.yaml`, content }));
  return RuleEngine.validateSources(sources, { fields: testFields(), hostname: 'vigil-test', ...opts });
}

export function engineOf(yaml: string | string[], opts: RuleEngineOptions = {}): RuleEngine {
  const sources = (Array.isArray(yaml) ? yaml : [yaml]).map((content, i) => ({ name: `rules${i}.yaml`, content }));
  return RuleEngine.fromSources(sources, { fields: testFields(), hostname: 'vigil-test', ...opts });
}

/** YAML for one rule named "t" with this condition, after extra definitions. */
export function ruleYaml(condition: string, defs = ''): string {
  return `${defs}
- rule: t
  desc: test
  condition: ${JSON.stringify(condition)}
  output: "t %proc.name"
  priority: WARNING
`;
}

/** The condition compiled as a rule: a predicate over RuleEvent. */
export function cond(condition: string, defs = ''): (ev: RuleEvent) => boolean {
  const e = engineOf(ruleYaml(condition, defs));
  const r = e.rules[0];
  if (!r) throw new Error('rule did not compile');
  return r.condition;
}

/** Where the Falco compatibility corpus lives: ../shared beside the repository. */
export function falcoRulesPath(file: string): string {
  return repoPath('..', 'shared', 'compat', 'falco', file);
}
