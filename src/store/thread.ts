// The agent's side of the store's thread (worker.ts): requests as promises.
import { Worker } from 'node:worker_threads';
import { QueryError, QueryLimitError, type QueryOptions, type QueryResult, type RetentionLimits, type RetentionResult, type StoreLimits } from './store.js';
import { transferList, type EncodedTable } from './batch.js';
import type { StoreReply, StoreRequest } from './worker.js';

type Pending = { resolve(v: unknown): void; reject(e: Error): void };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The store could not be opened or its thread failed. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
}

export class StoreThread {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failed: Error | undefined;

  private constructor(readonly path: string, private readonly worker: Worker) {
    worker.on('message', (r: StoreReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r.value);
      else p.reject(r.name === 'QueryError' ? new QueryError(r.message) : r.name === 'QueryLimitError' ? new QueryLimitError(r.message) : new StoreError(r.message));
    });
    const fail = (e: Error): void => {
      this.failed = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', (e) => fail(new StoreError(`the store's thread failed: ${e.message}`)));
    worker.on('exit', () => fail(new StoreError('the store is closed')));
  }

  /** Opens the store at `path` on its own thread. */
  static async open(path: string, limits: StoreLimits): Promise<StoreThread> {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { path, limits } });
    const t = new StoreThread(path, worker);
    try {
      await new Promise((resolve, reject) => t.pending.set(0, { resolve, reject }));
    } catch (e) {
      await worker.terminate();
      throw new StoreError(`cannot open the store ${path}: ${(e as Error).message}`);
    }
    return t;
  }

  private request<T>(r: DistributiveOmit<StoreRequest, 'id'>, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...r, id }, transfer);
    });
  }

  /** Appends encoded tables; their buffers are handed to the store's thread (not copied), unusable here after. */
  append(batch: EncodedTable[]): Promise<number> {
    return this.request({ op: 'append', batch }, transferList(batch));
  }

  query(sql: string, options: QueryOptions): Promise<QueryResult> {
    return this.request({ op: 'query', sql, options });
  }

  retain(limits: RetentionLimits): Promise<RetentionResult> {
    return this.request({ op: 'retain', limits });
  }

  counts(): Promise<Record<string, number>> {
    return this.request({ op: 'counts' });
  }

  /** Closes the database (what was appended is on disk) and ends the thread. */
  async close(): Promise<void> {
    if (this.failed) return;
    await this.request({ op: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }
}
