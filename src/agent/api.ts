// The local API: gRPC (vigil/v1/agent.proto) on a unix socket, root-only by
// default. The socket is made with umask 0177 (never reachable by others,
// even for a moment), then given its mode: 0600, or 0660 with api.group as
// its group.
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { NotSupportedError } from '../bpf/index.js';
import { agentService, socketTarget } from './proto.js';
import { RequestError } from './subscription.js';
import { PolicyStateError } from './policies.js';
import { StoreError } from '../store/thread.js';

/** A handler's failure as the gRPC status a client sees. */
export function statusOf(e: unknown): grpc.ServiceError | Partial<grpc.StatusObject> {
  const details = e instanceof Error ? e.message : String(e);
  let code = grpc.status.INTERNAL;
  if (e instanceof PolicyStateError) code = e.code === 'not_found' ? grpc.status.NOT_FOUND : grpc.status.ALREADY_EXISTS;
  else if (e instanceof Error && e.name === 'QueryLimitError') code = grpc.status.RESOURCE_EXHAUSTED;
  else if (e instanceof NotSupportedError || e instanceof StoreError) code = grpc.status.FAILED_PRECONDITION;
  else if (e instanceof RequestError || (e as { diagnostics?: unknown } | null)?.diagnostics !== undefined
    || (e instanceof Error && /^(Policy|Rules|Query)\w*Error$/.test(e.name))) code = grpc.status.INVALID_ARGUMENT;
  return { code, details };
}

type Unary = (req: never) => Promise<unknown>;

/** Unary handlers from async functions: a throw is the call's status. */
export function unaryHandlers(fns: Record<string, Unary>): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(fns)) {
    out[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      fn(call.request as never).then((r) => cb(null, r), (e: unknown) => cb(statusOf(e) as grpc.ServiceError));
    };
  }
  return out;
}

/** A group name's (or number's) id, from /etc/group. */
export function groupId(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined) return Number(gid);
  }
  throw new Error(`api.group: no group "${group}" in /etc/group`);
}

/** Whether something answers on this unix socket. */
function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export interface ApiOptions {
  socket: string;
  group: string | undefined;
}

/** Serves `impl` on the socket. A socket another process answers on is refused; a stale one is replaced. */
export async function serveApi(o: ApiOptions, impl: grpc.UntypedServiceImplementation): Promise<grpc.Server> {
  const gid = o.group === undefined ? undefined : groupId(o.group);
  // A directory made here is root's alone (or the group's to enter): nobody else reaches the socket through it.
  const made = mkdirSync(path.dirname(o.socket), { recursive: true, mode: gid === undefined ? 0o700 : 0o750 });
  if (made !== undefined && gid !== undefined) chownSync(path.dirname(o.socket), 0, gid);
  if (statSync(o.socket, { throwIfNoEntry: false })) {
    if (await answers(o.socket)) throw new Error(`${o.socket}: another agent is serving this socket`);
    rmSync(o.socket, { force: true });
  }
  const server = new grpc.Server();
  server.addService(agentService().service, impl);
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(socketTarget(o.socket), grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
    });
  } finally {
    process.umask(old);
  }
  if (gid !== undefined) {
    chownSync(o.socket, 0, gid);
    chmodSync(o.socket, 0o660);
  } else {
    chmodSync(o.socket, 0o600);
  }
  return server;
}

/** Stops serving: open streams are ended, the socket removed. */
export async function stopApi(server: grpc.Server, socket: string): Promise<void> {
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 500);
    server.tryShutdown(() => {
      clearTimeout(t);
      resolve();
    });
  });
  rmSync(socket, { force: true });
}
