// Pod and container metadata from a CRI runtime (containerd, CRI-O) over its
// gRPC socket: the container's name and image, its pod's name, namespace, UID
// and labels. Vigil knows a process's container by the id in its cgroup path
// (container.ts); this names it the way Kubernetes does.
//
//   const cri = await CriMetadata.connect('/run/containerd/containerd.sock');
//   cri.lookup(containerId)   // from the last listing; a miss asks for a new one (rate-limited)
//   cri.close();
//
// The runtime is asked for every pod and container at once (ListPodSandbox,
// ListContainers), kept as container-table.ts says. A pod's sandbox (pause)
// container is in it too, as the pod.
//
// The protocol: proto/cri/api.proto, the part of CRI v1 (runtime.v1) used here.
import * as grpc from '@grpc/grpc-js';
import { protoService } from '../util/grpc.js';
import { ContainerTable, type ContainerTableOptions } from './container-table.js';

export { CRI_SOCKETS } from './cri-sockets.js';

/** A container as its CRI runtime describes it, with its pod. */
export interface CriContainer {
  /** The runtime's id (the one in the cgroup path). */
  id: string;
  /** The container's name in its pod (the PodSpec's); '' for the pod's sandbox. */
  name: string;
  /** The image as the pod asked for it ("nginx:1.27"); the sandbox image for a sandbox. */
  image: string;
  /** The image's digested reference, when the runtime gives it. */
  imageRef: string;
  labels: Readonly<Record<string, string>>;
  /** The pod's sandbox (pause) container rather than one of its containers. */
  sandbox: boolean;
  pod: CriPod;
}

export interface CriPod {
  /** The sandbox's id. */
  id: string;
  name: string;
  namespace: string;
  uid: string;
  labels: Readonly<Record<string, string>>;
}

/** A CRI call, promise-shaped. */
export type CriCall = <Res>(method: string, request: object, timeoutMs?: number) => Promise<Res>;

function runtimeService(): grpc.ServiceClientConstructor {
  return protoService('cri/api.proto', 'runtime.v1.RuntimeService');
}

/** A client of a CRI runtime's RuntimeService on a unix socket. */
export class CriClient implements Disposable {
  private readonly client: grpc.Client;

  constructor(readonly socket: string) {
    const Ctor = runtimeService();
    this.client = new Ctor(`unix:${socket}`, grpc.credentials.createInsecure());
  }

  /** Calls a RuntimeService method; the error says which socket and method. */
  call<Res>(method: string, request: object, timeoutMs = 5000): Promise<Res> {
    const fn = (this.client as unknown as Record<string, Function>)[method];
    if (typeof fn !== 'function') return Promise.reject(new Error(`CRI: no method ${method}`));
    return new Promise<Res>((resolve, reject) => {
      fn.call(this.client, request, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: Res) => {
        if (err) reject(new Error(`CRI ${method} on ${this.socket}: ${err.details || err.message}`, { cause: err }));
        else resolve(res);
      });
    });
  }

  version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    return this.call('Version', { version: 'v1' });
  }

  /** Every pod sandbox and container the runtime has now, joined. */
  async list(): Promise<CriContainer[]> {
    interface Meta { name: string; uid?: string; namespace?: string }
    interface Pod { id: string; metadata: Meta | null; labels: Record<string, string>; annotations: Record<string, string> }
    interface Ctr { id: string; podSandboxId: string; metadata: Meta | null; image: { image: string } | null; imageRef: string;
      labels: Record<string, string> }
    const [pods, ctrs] = await Promise.all([
      this.call<{ items: Pod[] }>('ListPodSandbox', {}),
      this.call<{ containers: Ctr[] }>('ListContainers', {}),
    ]);
    const byId = new Map<string, CriPod>();
    const out: CriContainer[] = [];
    for (const p of pods.items) {
      const pod: CriPod = {
        id: p.id, name: p.metadata?.name ?? '', namespace: p.metadata?.namespace ?? '', uid: p.metadata?.uid ?? '',
        labels: p.labels,
      };
      byId.set(p.id, pod);
      out.push({ id: p.id, name: '', image: '', imageRef: '', labels: {}, sandbox: true, pod });
    }
    for (const c of ctrs.containers) {
      const pod = byId.get(c.podSandboxId);
      if (!pod) continue; // its pod went between the two listings
      out.push({
        id: c.id, name: c.metadata?.name ?? '', image: c.image?.image ?? '', imageRef: c.imageRef, labels: c.labels,
        sandbox: false, pod,
      });
    }
    return out;
  }

  close(): void {
    this.client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export type CriMetadataOptions = ContainerTableOptions;

/** Container metadata by id, from a CRI runtime's listings (the pod's sandbox among them, as the pod). */
export class CriMetadata extends ContainerTable<CriContainer> implements Disposable {
  private constructor(readonly client: CriClient, o: CriMetadataOptions) {
    super(() => client.list(), o);
  }

  /** Connects and makes the first listing; fails (naming the socket) when the runtime does not answer. */
  static async connect(socket: string, o: CriMetadataOptions = {}): Promise<CriMetadata> {
    const client = new CriClient(socket);
    const m = new CriMetadata(client, o);
    try {
      await m.refresh();
    } catch (e) {
      client.close();
      throw e;
    }
    return m;
  }

  close(): void {
    this.client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
