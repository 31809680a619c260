// The names of the containers the agent's events come from: a CRI runtime's
// pods (containerd, CRI-O) and Docker's or Podman's containers, each from its
// socket (cri.socket, containerEngine.socket; by default the first of the
// usual sockets that exists). Neither is needed: without one, events carry
// the container's id alone, and the log says why.
import { existsSync } from 'node:fs';
import { CRI_SOCKETS } from '../process/cri-sockets.js';
import type { CriContainer, CriMetadata } from '../process/cri.js';
import { ENGINE_SOCKETS, EngineMetadata, type EngineContainer } from '../process/engine-api.js';
import type { AgentConfig } from './config.js';
import type { AgentLogger } from './log.js';

export class ContainerNames {
  private cri: CriMetadata | undefined;
  private engine: EngineMetadata | undefined;
  /** For the formatters (FormatterOptions.pods and .containers): ask whatever is connected now. */
  readonly pods: { lookup(id: string): CriContainer | undefined; readonly connected: boolean };
  readonly containers = { lookup: (id: string): EngineContainer | undefined => this.engine?.lookup(id) };

  constructor() {
    const names = this;
    this.pods = {
      lookup: (id) => names.cri?.lookup(id),
      /** A CRI runtime answered at start. */
      get connected() {
        return names.cri !== undefined;
      },
    };
  }

  /** Connects to the configured (or default) sockets; one that does not answer is a warning, the agent runs on. */
  async connect(c: AgentConfig, log: AgentLogger): Promise<void> {
    const pick = (given: string | undefined, defaults: readonly string[]): string | undefined =>
      given === 'none' ? undefined : given ?? defaults.find((s) => existsSync(s));
    const criSocket = pick(c.cri.socket, CRI_SOCKETS);
    if (criSocket) {
      // gRPC is loaded only when there is a runtime to ask.
      const { CriMetadata } = await import('../process/cri.js');
      try {
        this.cri = await CriMetadata.connect(criSocket, { onError: (e) => log.warn({ err: e.message }, 'CRI listing failed') });
      } catch (e) {
        log.warn({ socket: criSocket, err: (e as Error).message }, 'no pod names: the CRI runtime does not answer');
      }
    }
    const engineSocket = pick(c.containerEngine.socket, ENGINE_SOCKETS);
    if (engineSocket) {
      try {
        this.engine = await EngineMetadata.connect(engineSocket, { onError: (e) => log.warn({ err: e.message }, 'container engine listing failed') });
      } catch (e) {
        log.warn({ socket: engineSocket, err: (e as Error).message }, 'no container names: the container engine does not answer');
      }
    }
  }

  /** The CRI runtime's listing, when one answered at start: shared with the policies scoped to pods. */
  runtime(): CriMetadata | undefined {
    return this.cri;
  }

  /** What the ready line says: the sockets that answered. */
  describe(): { cri?: string; containerEngine?: string } {
    return { cri: this.cri?.client.socket, containerEngine: this.engine ? `${this.engine.client.socket} (${this.engine.runtime})` : undefined };
  }

  close(): void {
    this.cri?.close();
    this.cri = undefined;
    this.engine = undefined;
  }
}
