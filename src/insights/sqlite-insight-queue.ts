import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { ThrottledLog, queueBounds, type InsightBatch, type InsightQueue, type QueueBounds, type QueuedInsight } from './insight-queue.js';
import { WriteBuffer } from './write-buffer.js';

/** Bytes of a row as the bounds count them (UTF-8 of body and secret), in SQL. */
const ROW_BYTES = 'LENGTH(CAST(body AS BLOB)) + LENGTH(CAST(secret AS BLOB))';

/**
 * Queue in the agent's SQLite file (STORE=sqlite): survives restarts. Intake appends to a memory
 * buffer that is written every few milliseconds in one transaction, so SDK requests never wait.
 * Bounded in rows and bytes (oldest rows deleted, counted). A write that fails (disk full, I/O
 * error, busy) keeps the entries in the bounded buffer and is retried; statements of this queue
 * run one at a time, so the byte count kept in memory stays exact.
 */
export class SqliteInsightQueue implements InsightQueue {
  private readonly logger = new Logger(SqliteInsightQueue.name);
  private readonly overflow = new ThrottledLog(this.logger, 'insight queue full; oldest insights dropped');
  private readonly writeFailures = new ThrottledLog(this.logger, 'insights could not be written to SQLite; kept in memory and retried', 'error');
  readonly durable = true;
  private readonly buffer: WriteBuffer;
  private readonly bounds: QueueBounds;
  private serial: Promise<unknown> = Promise.resolve();
  private counted?: { rows: number; bytes: number };
  private out = false;
  private trimmed = 0;

  constructor(
    private readonly db: DataSource,
    bounds: number | QueueBounds,
  ) {
    this.bounds = queueBounds(bounds);
    this.buffer = WriteBuffer.retrying(this.bounds, (entries, sizes) => this.write(entries, sizes), this.writeFailures, this.overflow);
  }

  get dropped(): number {
    return this.buffer.dropped + this.trimmed;
  }

  push(entries: QueuedInsight[]): void {
    this.buffer.push(entries);
  }

  flush(): Promise<void> {
    return this.buffer.flush();
  }

  /** Runs `task` after every statement of this queue issued before it. */
  private run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.serial.then(task);
    this.serial = result.catch(() => undefined);
    return result;
  }

  private async count(): Promise<{ rows: number; bytes: number }> {
    if (!this.counted) {
      const [row] = await this.db.query<[{ rows: number; bytes: number | null }]>(`SELECT COUNT(*) AS rows, SUM(${ROW_BYTES}) AS bytes FROM insight_queue`);
      this.counted = { rows: row?.rows ?? 0, bytes: row?.bytes ?? 0 };
    }
    return this.counted;
  }

  private write(entries: QueuedInsight[], sizes: number[]): Promise<void> {
    return this.run(async () => {
      const counted = await this.count();
      let trimmed = 0;
      let freed = 0;
      await this.db.transaction(async (manager) => {
        for (let i = 0; i < entries.length; i += 300) {
          const chunk = entries.slice(i, i + 300);
          await manager.query(
            `INSERT INTO insight_queue (secret, body) VALUES ${chunk.map(() => '(?, ?)').join(',')}`,
            chunk.flatMap((e) => [e.secret, e.body]),
          );
        }
        let rows = counted.rows + entries.length;
        let bytes = counted.bytes + sizes.reduce((a, b) => a + b, 0);
        while (rows > this.bounds.maxEntries || bytes > this.bounds.maxBytes) {
          const oldest = await manager.query<{ id: number; size: number }[]>(`SELECT id, ${ROW_BYTES} AS size FROM insight_queue ORDER BY id LIMIT 500`);
          if (oldest.length === 0) break;
          let last = -1;
          for (const row of oldest) {
            if (rows <= this.bounds.maxEntries && bytes <= this.bounds.maxBytes) break;
            last = row.id;
            rows--;
            bytes -= row.size;
            trimmed++;
            freed += row.size;
          }
          await manager.query('DELETE FROM insight_queue WHERE id <= ?', [last]);
        }
      });
      // Counted once the transaction committed; a rollback changes nothing.
      counted.rows += entries.length - trimmed;
      counted.bytes += sizes.reduce((a, b) => a + b, 0) - freed;
      if (trimmed > 0) {
        this.trimmed += trimmed;
        this.overflow.add(trimmed, { maxEntries: this.bounds.maxEntries, maxBytes: this.bounds.maxBytes });
      }
    });
  }

  async take(max: number): Promise<InsightBatch | null> {
    if (this.out) return null;
    await this.buffer.settled();
    const rows = await this.run(() => this.db.query<{ id: number; secret: string; body: string }[]>('SELECT id, secret, body FROM insight_queue ORDER BY id LIMIT ?', [max]));
    if (rows.length === 0) return null;
    this.out = true;
    return { entries: rows.map((r) => ({ secret: r.secret, body: r.body })), token: rows.map((r) => r.id) };
  }

  /** Throws when SQLite cannot delete (disk full, I/O error, busy); the batch stays out, so the caller retries. */
  async ack(batch: InsightBatch, keep?: ReadonlySet<number>): Promise<void> {
    const ids = (batch.token as number[]).filter((_, i) => !keep?.has(i));
    await this.run(async () => {
      const counted = await this.count();
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        const marks = chunk.map(() => '?').join(',');
        // No transaction: this queue's statements already run one at a time, and nothing else
        // touches these rows (a transaction here could interleave with the flag store's).
        const [row] = await this.db.query<[{ rows: number; bytes: number | null }]>(
          `SELECT COUNT(*) AS rows, SUM(${ROW_BYTES}) AS bytes FROM insight_queue WHERE id IN (${marks})`,
          chunk,
        );
        await this.db.query(`DELETE FROM insight_queue WHERE id IN (${marks})`, chunk);
        counted.rows -= row?.rows ?? 0;
        counted.bytes -= row?.bytes ?? 0;
      }
    });
    this.out = false;
  }

  release(): Promise<void> {
    this.out = false;
    return Promise.resolve();
  }

  async depth(): Promise<number> {
    await this.buffer.settled();
    const counted = await this.run(() => this.count());
    return counted.rows + this.buffer.length;
  }

  async bytes(): Promise<number> {
    await this.buffer.settled();
    const counted = await this.run(() => this.count());
    return counted.bytes + this.buffer.bytes;
  }

  async close(): Promise<void> {
    await this.buffer.close();
    const left = this.buffer.length;
    if (left === 0) return;
    this.trimmed += left;
    this.logger.error({ msg: 'insights could not be written to SQLite before shutdown; dropped', count: left });
  }
}
