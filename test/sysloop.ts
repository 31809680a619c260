// Drives test/fixtures/sysloop.c: a process that makes a known mix of syscalls
// when told to (see the fixture for the exact list).
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { before } from 'node:test';
import { repoPath } from '../src/util/paths.js';
import { kernelSuite, missingFeature } from './helpers.js';

export const SYSLOOP = repoPath('test', '.output', 'sysloop');
export const LOOP_GETPPID = 1000;
export const LOOP_ENOENT = 500;
export const ENOENT_PATH = '/nonexistent-vigil-sysloop/x';
export const LOOP_SLEEP = 20;
/** nanosleep length: bucket 20 of the log2 histogram ([2^20, 2^21) ns) unless the sleep overshoots. */
export const SLEEP_NS = 1_500_000;
export const FILE_OPENS = 3;
export const READ_CHUNK = 4096;

export interface Sysloop {
  child: ChildProcess;
  pid: number;
  /** Starts the workload; resolves once the fixture says "done" (its counted calls have all returned). */
  go(): Promise<void>;
  /** Closes its stdin: it exits. Resolves with the exit code. */
  finish(): Promise<number | null>;
}

/** Spawns the fixture (or `command`, which runs it with the same stdin and stdout); it waits for go(). */
export function startSysloop(file: string, command: string[] = [SYSLOOP, file]): Sysloop {
  const child = spawn(command[0] as string, command.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  const done = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('done\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`sysloop exited (${code}) before "done"; output: ${out}`)));
  });
  done.catch(() => undefined);
  if (child.pid === undefined) throw new Error(`cannot run ${command[0]}`);
  return {
    child,
    pid: child.pid,
    async go() {
      child.stdin?.write('g');
      await done;
    },
    async finish() {
      child.stdin?.end();
      return exited;
    },
  };
}

/** Reads a file of `size` bytes in READ_CHUNK reads until a 0-byte read: that many read calls. */
export function readCalls(size: number): number {
  return Math.ceil(size / READ_CHUNK) + 1;
}

/**
 * The setup of a suite that runs the fixture under the syscall sensor: root,
 * the raw tracepoints it needs (`skip` says why not), and a data file of
 * `size` bytes of `fill` for the fixture to read (`file`), in a scratch
 * directory removed after the suite.
 */
export function sysloopSuite(tmpPrefix: string, size: number, fill: number): { readonly skip: string | undefined; readonly file: string } {
  const suite = kernelSuite(() => missingFeature(['raw_tracepoint']), tmpPrefix);
  const s = { file: '', get skip() { return suite.skip; } };
  before(() => {
    s.file = path.join(suite.tmp, 'data');
    writeFileSync(s.file, Buffer.alloc(size, fill));
  });
  return s;
}
