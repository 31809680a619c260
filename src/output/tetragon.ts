// Events in Tetragon's shapes, so tools built for Tetragon read Vigil:
//   json     one line per event, the envelope of Tetragon's export
//            ({"process_exec":{...},"node_name":..,"time":..}), field names as
//            Tetragon's protobuf JSON has them (tetragon/api/v1 Process);
//   compact  `tetra getevents -o compact`: "🚀 process <pid> <binary> <args>".
import os from 'node:os';
import { rfc3339Nano } from '../util/clock.js';
import { assertNever, type ExecEvent, type ExecProcess, type SensorEvent } from '../sensors/events.js';

export type OutputFormat = 'json' | 'compact';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['compact', 'json'];

/**
 * Tetragon's `arguments`: argv without argv[0] (the binary is its own field),
 * joined by spaces, an argument holding a space put in double quotes.
 */
export function tetragonArguments(args: readonly string[]): string {
  return args.slice(1).map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ');
}

/**
 * Tetragon's exec_id: base64 of "<node>:<exec ktime>:<pid>", unique per exec
 * on a node. Vigil's ktime is CLOCK_BOOTTIME; the id is opaque either way.
 */
export function execId(node: string, execBootNs: bigint, pid: number): string {
  return Buffer.from(`${node}:${execBootNs}:${pid}`).toString('base64');
}

/** Tetragon's flags words for a process known from its exec. */
function processFlags(p: ExecProcess): string {
  const f = ['execve'];
  if (p.cwd === '/') f.push('rootcwd');
  if (p.flags.binaryTruncated) f.push('truncFilename');
  if (p.flags.argsTruncated) f.push('truncArgs');
  if (p.flags.binaryError) f.push('errorFilename');
  if (p.flags.argsError) f.push('errorArgs');
  if (p.flags.cwdError) f.push('errorCWD');
  if (p.flags.cwdTruncated) f.push('errorPathResolutionCwd');
  return f.join(' ');
}

interface TetragonProcess {
  exec_id?: string;
  pid: number;
  uid?: number;
  cwd?: string;
  binary: string;
  arguments?: string;
  flags: string;
  start_time: string;
  auid?: number;
  parent_exec_id?: string;
  tid?: number;
}

function processJson(node: string, p: ExecProcess, parentExecId?: string): TetragonProcess {
  return {
    exec_id: execId(node, p.execBootNs, p.pid),
    pid: p.pid,
    uid: p.uid,
    cwd: p.cwd,
    binary: p.binary,
    arguments: tetragonArguments(p.args),
    flags: processFlags(p),
    start_time: rfc3339Nano(p.startTimeNs),
    auid: p.auid,
    parent_exec_id: parentExecId,
    tid: p.tid,
  };
}

export function execJson(e: ExecEvent, node: string): object {
  const parent = e.parent;
  let parentJson: TetragonProcess;
  let parentExecId: string | undefined;
  if (parent.process) {
    // Seen exec'ing: everything known (its own parent's id is not kept).
    parentJson = processJson(node, parent.process);
    parentExecId = parentJson.exec_id;
  } else {
    parentJson = {
      pid: parent.pid,
      binary: parent.binary ?? '',
      flags: parent.source === 'procfs' ? 'procFS' : 'miss',
      start_time: rfc3339Nano(parent.startTimeNs),
    };
  }
  return {
    process_exec: { process: processJson(node, e.process, parentExecId), parent: parentJson },
    node_name: node,
    time: rfc3339Nano(e.timeNs),
  };
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Control characters made visible: a command line is attacker-chosen text,
 * and a raw newline or terminal escape would forge lines or drive the
 * terminal that shows them.
 */
export function escapeControls(s: string): string {
  return s.replace(CONTROL, (c) => ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function compactExec(e: ExecEvent): string {
  const args = tetragonArguments(e.process.args);
  return escapeControls(`🚀 process ${e.process.pid} ${e.process.binary}${args ? ` ${args}` : ''}`);
}

/** Formats events as lines (without the newline). A new event kind must be added here to compile. */
export class TetragonFormatter {
  constructor(readonly format: OutputFormat, readonly node: string = os.hostname()) {}

  line(e: SensorEvent): string {
    switch (e.kind) {
      case 'exec':
        return this.format === 'json' ? JSON.stringify(execJson(e, this.node)) : compactExec(e);
      default:
        return assertNever(e.kind);
    }
  }
}
