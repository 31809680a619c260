// The local API's definitions, loaded from proto/vigil/v1/*.proto (the
// repository's own files, shared by the agent and its clients).
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { repoPath } from '../util/paths.js';

let loaded: grpc.ServiceClientConstructor | undefined;

/** The FineGuidanceSensors service: its client constructor, and `.service` for a server. */
export function agentService(): grpc.ServiceClientConstructor {
  if (loaded) return loaded;
  const def = loadSync('vigil/v1/agent.proto', {
    includeDirs: [repoPath('proto')],
    // camelCase fields; 64-bit integers as strings (no precision lost); defaults filled.
    longs: String, enums: String, defaults: true, oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { vigil: { v1: { FineGuidanceSensors: grpc.ServiceClientConstructor } } };
  loaded = pkg.vigil.v1.FineGuidanceSensors;
  return loaded;
}

/** A unix socket path as a gRPC target. */
export function socketTarget(path: string): string {
  return `unix:${path}`;
}
