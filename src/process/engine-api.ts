// Container names, images and labels from Docker or Podman, through the Docker
// Engine API on its unix socket (Podman serves the same API: `podman system
// service`, or its podman.socket unit). Vigil knows a process's container by
// the id in its cgroup path (container.ts); this names it as `docker ps` or
// `podman ps` would. Containers of Kubernetes pods are named by the CRI
// runtime instead (cri.ts).
//
//   const engine = await EngineMetadata.connect('/run/podman/podman.sock');
//   engine.lookup(containerId)   // from the last listing; a miss asks for a new one (rate-limited)
import http from 'node:http';
import { ContainerTable, type ContainerTableOptions } from './container-table.js';

/** Where Podman (rootful, its podman.socket unit) and Docker listen by default. */
export const ENGINE_SOCKETS: readonly string[] = ['/run/podman/podman.sock', '/var/run/docker.sock'];

/** A container as Docker or Podman lists it. */
export interface EngineContainer {
  /** The full id (the one in the cgroup path). */
  readonly id: string;
  /** Its name, without the API's leading "/". */
  readonly name: string;
  /** The image as the container was created from it ("localhost/app:1", "nginx:1.27"). */
  readonly image: string;
  /** The image's id ("sha256:..."). */
  readonly imageId: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Which engine answered. */
  readonly runtime: 'docker' | 'podman';
}

/** The most an answer may hold: a listing of thousands of containers is a few MiB. */
const MAX_RESPONSE_BYTES = 32 << 20;

/** A GET on the engine's socket: the JSON body of a 200, or an error naming the socket and path. */
function getJson<T>(socket: string, path: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = (why: string): void => reject(new Error(`container engine ${socket} ${path}: ${why}`));
    const req = http.get({ socketPath: socket, path, timeout: timeoutMs, headers: { Host: 'localhost' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) {
          req.destroy();
          fail(`answer larger than ${MAX_RESPONSE_BYTES} bytes`);
        } else chunks.push(c);
      });
      res.on('end', () => {
        if (size > MAX_RESPONSE_BYTES) return;
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return fail(`HTTP ${res.statusCode}: ${body.slice(0, 200).trim()}`);
        try {
          resolve(JSON.parse(body) as T);
        } catch {
          fail('the answer is not JSON');
        }
      });
      res.on('error', (e) => fail(e.message));
    });
    req.on('timeout', () => {
      req.destroy();
      fail(`no answer in ${timeoutMs} ms`);
    });
    req.on('error', (e) => fail(e.message));
  });
}

/** A client of the Docker Engine API (Docker's or Podman's) on a unix socket. */
export class EngineClient {
  constructor(readonly socket: string, private readonly timeoutMs = 5000) {}

  /** Which engine this is: Podman names itself in its version's components. */
  async runtime(): Promise<'docker' | 'podman'> {
    const v = await getJson<{ Components?: { Name?: string }[] }>(this.socket, '/version', this.timeoutMs);
    return (v.Components ?? []).some((c) => /podman/i.test(c.Name ?? '')) ? 'podman' : 'docker';
  }

  /** Every container the engine has now (running or not). */
  async list(runtime: 'docker' | 'podman'): Promise<EngineContainer[]> {
    interface Listed { Id: string; Names?: string[] | null; Image?: string; ImageID?: string; Labels?: Record<string, string> | null }
    const list = await getJson<Listed[]>(this.socket, '/containers/json?all=true', this.timeoutMs);
    if (!Array.isArray(list)) throw new Error(`container engine ${this.socket}: the container list is not an array`);
    return list.filter((c) => typeof c.Id === 'string').map((c) => ({
      id: c.Id, name: (c.Names?.[0] ?? '').replace(/^\//, ''), image: c.Image ?? '', imageId: c.ImageID ?? '',
      labels: { ...(c.Labels ?? {}) }, runtime,
    }));
  }
}

/** Container metadata by id, from Docker's or Podman's listings. */
export class EngineMetadata extends ContainerTable<EngineContainer> {
  private constructor(readonly client: EngineClient, readonly runtime: 'docker' | 'podman', o: ContainerTableOptions) {
    super(() => client.list(runtime), o);
  }

  /** Asks which engine answers and makes the first listing; fails (naming the socket) when none does. */
  static async connect(socket: string, o: ContainerTableOptions = {}): Promise<EngineMetadata> {
    const client = new EngineClient(socket);
    const m = new EngineMetadata(client, await client.runtime(), o);
    await m.refresh();
    return m;
  }
}
