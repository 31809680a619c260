// gRPC services of the repository's .proto files (proto/): the agent's own
// API (src/agent) and the part of Kubernetes' CRI that Vigil speaks
// (src/process/cri.ts), loaded the same way.
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { repoPath } from './paths.js';

const services = new Map<string, grpc.ServiceClientConstructor>();

/**
 * A gRPC service of a .proto file under proto/ (`file`), by its full name
 * (`package.Service`): its client constructor, and `.service` for a server.
 * Loaded once; fields camelCase, 64-bit integers as strings (no precision
 * lost), defaults filled.
 */
export function protoService(file: string, name: string): grpc.ServiceClientConstructor {
  const key = `${file}:${name}`;
  let svc = services.get(key);
  if (!svc) {
    const def = loadSync(file, { includeDirs: [repoPath('proto')], longs: String, enums: String, defaults: true, oneofs: true });
    let at: unknown = grpc.loadPackageDefinition(def);
    for (const part of name.split('.')) at = (at as Record<string, unknown>)[part];
    svc = at as grpc.ServiceClientConstructor;
    services.set(key, svc);
  }
  return svc;
}

