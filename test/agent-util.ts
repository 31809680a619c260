// Shared setup of the agent tests: a real `vigil agent` process with its own
// configuration, socket and directory, its JSON log read as it comes, and
// `vigil events` clients; everything stopped and removed by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoPath } from '../src/util/paths.js';
import { call, connectAgent } from '../src/agent/client.js';
import { waitFor } from './helpers.js';

export const vigil = repoPath('bin', 'vigil');

export interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

export interface Health {
  state: string;
  events: string;
  clients: number;
  clientsCutOff: string;
  clientEventsLost: string;
}

export class TestAgent {
  readonly log: LogLine[] = [];
  /** stderr lines that are not JSON (a start-up error). */
  readonly plain: string[] = [];
  exited: number | null | undefined;

  private constructor(readonly dir: string, readonly socket: string, readonly configPath: string, readonly proc: ChildProcess) {
    let buf = '';
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          this.log.push(JSON.parse(line) as LogLine);
        } catch {
          this.plain.push(line);
        }
      }
    });
    proc.on('exit', (code) => {
      this.exited = code;
    });
  }

  /**
   * Starts an agent with `config` (YAML without its api section; `api` adds
   * lines to it, under a socket in the agent's directory; a health address
   * on port 0 unless given) and waits until it logs "ready".
   */
  static async start(config: string, api = ''): Promise<TestAgent> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-agent-'));
    // Searchable by others, so that the socket's own mode is what refuses them.
    chmodSync(dir, 0o755);
    const run = path.join(dir, 'run');
    mkdirSync(run, { mode: 0o755 });
    chmodSync(run, 0o755);
    const socket = path.join(run, 'vigil.sock');
    // The API's state in the test's directory, never the host's /var/lib/vigil.
    const full = [`api:\n  socket: ${socket}\n${api}`, /^health:/m.test(config) ? '' : 'health:\n  address: 127.0.0.1:0\n',
      /^state:/m.test(config) ? '' : `state:\n  directory: ${path.join(dir, 'state')}\n`, config].join('');
    const configPath = path.join(dir, 'agent.yaml');
    writeFileSync(configPath, full);
    return TestAgent.launch(dir, socket, configPath);
  }

  /** Starts `vigil agent` on a configuration written already, and waits until it logs "ready". */
  private static async launch(dir: string, socket: string, configPath: string): Promise<TestAgent> {
    const proc = spawn(process.execPath, [vigil, 'agent', '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    const agent = new TestAgent(dir, socket, configPath, proc);
    const ready = await waitFor(() => agent.line('ready') !== undefined || agent.exited !== undefined, 90_000, 50);
    if (!ready || agent.exited !== undefined) {
      await agent.stop();
      throw new Error(`the agent did not start: ${agent.plain.join('\n')}${JSON.stringify(agent.log)}`);
    }
    return agent;
  }

  /** The first log line with this message. */
  line(msg: string | RegExp): LogLine | undefined {
    return this.log.find((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)));
  }

  async health(): Promise<Health> {
    const c = connectAgent(this.socket);
    try {
      return await call<Health>(c, 'GetHealth', {});
    } finally {
      c.close();
    }
  }

  /**
   * Waits until this many event-stream clients are attached (they then see
   * every event that follows), or `gone()` says a client has already ended
   * (its output then says why).
   */
  async waitClients(n: number, gone: () => boolean = () => false): Promise<void> {
    const end = Date.now() + 60_000;
    while (Date.now() < end) {
      if (gone() || (await this.health()).clients >= n) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`fewer than ${n} event clients attached`);
  }

  /** Runs `vigil ARGS` against this agent's socket. */
  vigil(args: string[], opts: { uid?: number; gid?: number } = {}): ChildProcess {
    return spawn(process.execPath, [vigil, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VIGIL_SOCKET: this.socket, VIGIL_DEBUG: '' }, ...opts,
    });
  }

  /**
   * Runs `vigil events ARGS` (give it --count or --duration) and, once it is
   * attached, calls act() every 200 ms until it exits; its output.
   */
  async eventsWhile(args: string[], act: () => void): Promise<Output> {
    let done = false;
    const out = outputOf(this.vigil(['events', ...args])).then((r) => {
      done = true;
      return r;
    });
    await this.waitClients(1, () => done);
    while (!done) {
      act();
      await new Promise((r) => setTimeout(r, 200));
    }
    return out;
  }

  /** SIGTERM (SIGKILL after 15 s); the directory stays. */
  async terminate(): Promise<void> {
    if (this.exited === undefined) {
      this.proc.kill('SIGTERM');
      if (!(await waitFor(() => this.exited !== undefined, 15_000, 20))) this.proc.kill('SIGKILL');
      await waitFor(() => this.exited !== undefined, 5000, 20);
    }
  }

  /** This agent stopped (SIGTERM) and a new one started on the same configuration, directory and state. */
  async restart(): Promise<TestAgent> {
    await this.terminate();
    return TestAgent.launch(this.dir, this.socket, this.configPath);
  }

  /** SIGTERM, then the directory removed (also after a failure). */
  async stop(): Promise<void> {
    await this.terminate();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Output {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** A child's output once it exits. */
export function outputOf(p: ChildProcess): Promise<Output> {
  let stdout = '';
  let stderr = '';
  p.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  p.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  return new Promise((resolve) => p.on('close', (status) => resolve({ status, stdout, stderr })));
}
