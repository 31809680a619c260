// The local API's definitions, loaded from proto/vigil/v1/*.proto (the
// repository's own files, shared by the agent and its clients).
import type * as grpc from '@grpc/grpc-js';
import { protoService } from '../util/grpc.js';

/** The FineGuidanceSensors service: its client constructor, and `.service` for a server. */
export function agentService(): grpc.ServiceClientConstructor {
  return protoService('vigil/v1/agent.proto', 'vigil.v1.FineGuidanceSensors');
}

/** A unix socket path as a gRPC target. */
export function socketTarget(path: string): string {
  return `unix:${path}`;
}
