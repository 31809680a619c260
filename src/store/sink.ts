// The store as one more sink of the agent's pipeline: events become rows on
// the agent's thread, encoded column by column as they are gathered
// (batch.ts), wait in a bounded queue, and go to the store's thread as one
// batch at a time, their buffers handed over rather than copied (appended
// through DuckDB's Appender, table by table). While a batch is being
// appended the next one gathers; once the queue holds capacityRows rows,
// events are counted as dropped (queue_full, by sensor) until it is down to
// half, and the pipeline's other consumers never wait for the store.
import { LossCounter, type Loss, type LossReason } from '../pipeline/loss.js';
import type { PipelineSink } from '../pipeline/pipeline.js';
import { rowOf, type Cell, type StoreEvent } from './rows.js';
import { TABLE_BY_NAME, type TableName } from './schema.js';
import { TableBuilder, type EncodedTable } from './batch.js';

/** What the sink appends through (StoreThread; a test may give its own). */
export interface RowWriter {
  readonly path: string;
  /** Tables' rows, encoded (the buffers are the writer's from then on). */
  append(batch: EncodedTable[]): Promise<number>;
}

export interface StoreSinkOptions<E> {
  /** Rows queued (gathering and being appended) at most. */
  capacityRows: number;
  /** The event as the store keeps it; undefined: not stored (lost records). */
  storeEvent(e: E): StoreEvent | undefined;
  /** Its wall time, ns since the epoch. */
  timeOf(e: E): bigint;
  sensorOf(e: E): string;
}

export class StoreSink<E> implements PipelineSink<E> {
  readonly lost = new LossCounter();
  private readonly toReport = new LossCounter();
  lastError: Error | undefined;
  onRoom: (() => void) | undefined;
  /** Rows appended. */
  delivered = 0;
  private gathering = new Map<TableName, TableBuilder>();
  private gatheringSensors = new Map<string, number>();
  private gatheringRows = 0;
  private inFlightRows = 0;
  private inFlight: Promise<void> | undefined;
  private dropping = false;
  private isClosed = false;

  constructor(private readonly writer: RowWriter, private readonly opts: StoreSinkOptions<E>) {}

  get name(): string {
    return `store ${this.writer.path}`;
  }

  /** Rows waiting: gathering, and in the batch being appended. */
  get queuedRows(): number {
    return this.gatheringRows + this.inFlightRows;
  }

  get full(): boolean {
    this.refresh();
    return this.dropping || this.isClosed;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private refresh(): void {
    if (this.dropping && this.queuedRows <= this.opts.capacityRows / 2) this.dropping = false;
  }

  noteLoss(sensor: string, reason: LossReason, count: number): void {
    this.lost.add(sensor, reason, count);
    this.toReport.add(sensor, reason, count);
  }

  takeReport(): Loss[] {
    return this.toReport.take();
  }

  offer(e: E): void {
    const se = this.opts.storeEvent(e);
    if (!se) return;
    const sensor = this.opts.sensorOf(e);
    if (!this.admit(sensor, 1)) return;
    try {
      const row = rowOf(se, this.opts.timeOf(e));
      this.gather(sensor, row.table, row.values);
    } catch (err) {
      // An event this version cannot make a row of: counted, and the pipeline goes on.
      this.lastError = err instanceof Error ? err : new Error(String(err));
      this.noteLoss(sensor, 'write_failed', 1);
    }
  }

  /**
   * Rows a producer made itself (the profiler's folded stacks each interval),
   * queued with the events' rows under the same bound: past it they are counted
   * as dropped (queue_full) for `sensor`.
   */
  offerRows(sensor: string, table: TableName, rows: readonly Cell[][]): void {
    for (let r = 0; r < rows.length; r++) {
      if (!this.admit(sensor, rows.length - r)) return;
      try {
        this.gather(sensor, table, rows[r]!);
      } catch (err) {
        this.lastError = err instanceof Error ? err : new Error(String(err));
        this.noteLoss(sensor, 'write_failed', 1);
      }
    }
  }

  /** Room for one more row? If not, the `count` rows on offer are counted as lost. */
  private admit(sensor: string, count: number): boolean {
    if (this.isClosed) {
      this.noteLoss(sensor, 'output_closed', count);
      return false;
    }
    this.refresh();
    if (this.dropping || this.queuedRows >= this.opts.capacityRows) {
      this.dropping = true;
      this.noteLoss(sensor, 'queue_full', count);
      return false;
    }
    return true;
  }

  private gather(sensor: string, table: TableName, values: readonly Cell[]): void {
    let b = this.gathering.get(table);
    if (!b) this.gathering.set(table, (b = new TableBuilder(TABLE_BY_NAME.get(table)!)));
    b.push(values);
    this.gatheringRows++;
    this.gatheringSensors.set(sensor, (this.gatheringSensors.get(sensor) ?? 0) + 1);
  }

  /** Sends what gathered as one batch, unless one is being appended (it then goes when that one is done). */
  flush(): void {
    if (this.inFlight || this.gatheringRows === 0) return;
    const batch = [...this.gathering.values()].map((b) => b.finish());
    const sensors = this.gatheringSensors;
    const n = this.gatheringRows;
    this.gathering = new Map();
    this.gatheringSensors = new Map();
    this.gatheringRows = 0;
    this.inFlightRows = n;
    this.inFlight = this.writer.append(batch).then(
      (appended) => {
        this.delivered += appended;
      },
      (e: unknown) => {
        this.lastError = e instanceof Error ? e : new Error(String(e));
        for (const [sensor, count] of sensors) this.noteLoss(sensor, 'write_failed', count);
      },
    ).finally(() => {
      this.inFlight = undefined;
      this.inFlightRows = 0;
      this.onRoom?.();
      if (!this.isClosed) this.flush();
    });
  }

  /** Sends what is queued and waits up to timeoutMs for the store to take it all. */
  async settle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.flush();
      if (!this.inFlight) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.inFlight, new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
  }

  /** No more events; what still gathers is counted as not delivered. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const [sensor, count] of this.gatheringSensors) this.noteLoss(sensor, 'output_closed', count);
    this.gathering.clear();
    this.gatheringSensors.clear();
    this.gatheringRows = 0;
  }
}
