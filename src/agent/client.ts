// A client of the agent's local API (vigil events, vigil policy add, ...).
import { accessSync, constants, statSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { agentService, socketTarget } from './proto.js';
import { DEFAULT_SOCKET } from './config.js';

/** The agent could not be reached, or refused a call: one line saying which and why. */
export class AgentCallError extends Error {
  override readonly name = 'AgentCallError';
  constructor(message: string, readonly code: grpc.status | 'no_agent' | 'denied') {
    super(message);
  }
}

/** The HTTP/2 window a client gives the agent (bytes it may send before the client acknowledges). */
const CLIENT_WINDOW = 8 << 20;

/** The socket from --socket, else $VIGIL_SOCKET, else the default. */
export function socketPath(flag: string | undefined): string {
  return flag ?? process.env.VIGIL_SOCKET ?? DEFAULT_SOCKET;
}

export type AgentClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/**
 * A client of the agent at `socket`. Checks first what a connection would
 * meet: no socket (no agent), or one this user may not use (mode 0600 root's).
 */
export function connectAgent(socket: string): AgentClient {
  if (!statSync(socket, { throwIfNoEntry: false })?.isSocket()) {
    throw new AgentCallError(`no agent at ${socket} (is \`vigil agent\` running? --socket names another)`, 'no_agent');
  }
  try {
    accessSync(socket, constants.R_OK | constants.W_OK);
  } catch {
    throw new AgentCallError(`${socket}: permission denied (the agent's socket is root's; its configuration's api.group may open it to a group)`, 'denied');
  }
  const Service = agentService();
  // HTTP/2's default window (64 KiB) makes the agent wait for this client's window update every
  // 64 KiB: on a busy host, where each takes a scheduling round trip, slower than the events come.
  return new Service(socketTarget(socket), grpc.credentials.createInsecure(), { 'grpc-node.flow_control_window': CLIENT_WINDOW }) as unknown as AgentClient;
}

/** A call's failure as one line: the agent's own details (a policy's file:line:col, ...). */
export function callError(e: grpc.ServiceError): AgentCallError {
  if (e.code === grpc.status.UNAVAILABLE) return new AgentCallError(`the agent is not answering: ${e.details}`, e.code);
  return new AgentCallError(e.details || e.message, e.code);
}

/** One unary call, with a deadline. */
export function call<T>(client: AgentClient, method: string, request: object, timeoutMs = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method]!(request, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: T) => {
      if (err) reject(callError(err));
      else resolve(res);
    });
  });
}

/** One unary call on a connection of its own to the agent at `socket`, closed after. */
export async function callAgent<T>(socket: string, method: string, request: object): Promise<T> {
  const client = connectAgent(socket);
  try {
    return await call<T>(client, method, request);
  } finally {
    client.close();
  }
}
