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
// ListContainers), at start and again when an unknown id is looked up, at
// most once per refreshMs: a listing is a few ms and a container starts far
// less often than its processes make events. The table holds what the
// runtime lists now (bounded by the host's containers), so it never grows
// past it. A pod's sandbox (pause) container is in it too, as the pod.
//
// The protocol: proto/cri/api.proto, the part of CRI v1 (runtime.v1) used here.
import * as grpc from '@grpc/grpc-js';
import { protoService } from '../util/grpc.js';

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

export interface CriMetadataOptions {
  /** At most one listing per this many ms when lookups miss (default 1000). */
  refreshMs?: number;
  /** Told when a listing fails (the table keeps what it had). */
  onError?: (err: Error) => void;
}

/** Container metadata by id, from a CRI runtime's listings. */
export class CriMetadata implements Disposable {
  private table = new Map<string, CriContainer>();
  private lastRefresh = 0;
  private inFlight: Promise<void> | undefined;
  /** Listings made, and listings that failed. */
  refreshes = 0;
  failures = 0;

  private constructor(readonly client: CriClient, private readonly o: CriMetadataOptions) {}

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

  get size(): number {
    return this.table.size;
  }

  /** Every container (and pod sandbox) of the last listing. */
  containers(): IterableIterator<CriContainer> {
    return this.table.values();
  }

  /** Lists again now (one at a time: a call while one runs waits for it). */
  refresh(): Promise<void> {
    this.inFlight ??= (async () => {
      this.lastRefresh = Date.now();
      try {
        const list = await this.client.list();
        this.table = new Map(list.map((c) => [c.id, c]));
        this.refreshes++;
      } catch (e) {
        this.failures++;
        throw e;
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }

  /**
   * The container with this id from the last listing. A miss starts a new
   * listing (at most one per refreshMs) and returns undefined: the events of
   * a container's first milliseconds may go without its names.
   */
  lookup(id: string): CriContainer | undefined {
    const c = this.table.get(id);
    if (c) return c;
    if (!this.inFlight && Date.now() - this.lastRefresh >= (this.o.refreshMs ?? 1000)) {
      this.refresh().catch((e: Error) => this.o.onError?.(e));
    }
    return undefined;
  }

  close(): void {
    this.client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
