// The store's thread: DuckDB's appends and queries run here, so the agent's
// thread never waits for them (an append flushes synchronously; a query may
// take its whole time limit). Requests come in order, replies carry their id.
import { parentPort, workerData } from 'node:worker_threads';
import { EventStore, type QueryOptions, type RetentionLimits, type StoreLimits } from './store.js';
import type { EncodedTable } from './batch.js';

export type StoreRequest =
  | { id: number; op: 'append'; batch: EncodedTable[] }
  | { id: number; op: 'query'; sql: string; options: QueryOptions }
  | { id: number; op: 'retain'; limits: RetentionLimits }
  | { id: number; op: 'counts' }
  | { id: number; op: 'close' };

export type StoreReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; name: string; message: string };

const port = parentPort!;
const { path, limits } = workerData as { path: string; limits: StoreLimits };

async function serve(): Promise<void> {
  let store: EventStore;
  try {
    store = await EventStore.open(path, limits);
  } catch (e) {
    port.postMessage({ id: 0, ok: false, name: (e as Error).name, message: (e as Error).message.split('\n')[0]! } satisfies StoreReply);
    return;
  }
  port.postMessage({ id: 0, ok: true, value: null } satisfies StoreReply);
  port.on('message', (r: StoreRequest) => {
    const reply = (p: Promise<unknown>): void => {
      p.then(
        (value) => port.postMessage({ id: r.id, ok: true, value } satisfies StoreReply),
        (e: unknown) => port.postMessage({ id: r.id, ok: false, name: (e as Error).name ?? 'Error', message: String((e as Error).message ?? e).split('\n')[0]! } satisfies StoreReply),
      );
    };
    switch (r.op) {
      case 'append': reply(store.appendEncoded(r.batch)); break;
      case 'query': reply(store.query(r.sql, r.options)); break;
      case 'retain': reply(store.retain(r.limits)); break;
      case 'counts': reply(store.counts()); break;
      case 'close':
        reply(store.idle().then(() => {
          store.close();
          return null;
        }).finally(() => port.close()));
        break;
    }
  });
}

void serve();
