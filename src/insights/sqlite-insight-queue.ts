import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { InsightBatch, InsightQueue, QueuedInsight } from './insight-queue.js';
import { WriteBuffer } from './write-buffer.js';

/**
 * Queue in the agent's SQLite file (STORE=sqlite): survives restarts. Intake appends to a memory
 * buffer that is written every few milliseconds in one transaction, so SDK requests never wait.
 */
export class SqliteInsightQueue implements InsightQueue {
  private readonly logger = new Logger(SqliteInsightQueue.name);
  private readonly buffer: WriteBuffer;
  private out = false;
  private trimmed = 0;

  constructor(
    private readonly db: DataSource,
    private readonly max: number,
  ) {
    this.buffer = new WriteBuffer(max, (entries) => this.write(entries), (entries, error) => {
      this.trimmed += entries.length;
      this.logger.error({ msg: 'insights could not be written to SQLite; dropped', count: entries.length, err: String(error) });
    });
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

  private async write(entries: QueuedInsight[]): Promise<void> {
    await this.db.transaction(async (manager) => {
      for (let i = 0; i < entries.length; i += 300) {
        const chunk = entries.slice(i, i + 300);
        await manager.query(
          `INSERT INTO insight_queue (secret, body) VALUES ${chunk.map(() => '(?, ?)').join(',')}`,
          chunk.flatMap((e) => [e.secret, JSON.stringify(e.insight)]),
        );
      }
      const [{ count }] = await manager.query<[{ count: number }]>('SELECT COUNT(*) AS count FROM insight_queue');
      const over = count - this.max;
      if (over > 0) {
        await manager.query('DELETE FROM insight_queue WHERE id IN (SELECT id FROM insight_queue ORDER BY id LIMIT ?)', [over]);
        this.trimmed += over;
      }
    });
  }

  async take(max: number): Promise<InsightBatch | null> {
    if (this.out) return null;
    await this.buffer.settled();
    const rows = await this.db.query<{ id: number; secret: string; body: string }[]>('SELECT id, secret, body FROM insight_queue ORDER BY id LIMIT ?', [max]);
    if (rows.length === 0) return null;
    this.out = true;
    return {
      entries: rows.map((r) => ({ secret: r.secret, insight: JSON.parse(r.body) as Record<string, unknown> })),
      token: rows.map((r) => r.id),
    };
  }

  async ack(batch: InsightBatch): Promise<void> {
    const ids = batch.token as number[];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      await this.db.query(`DELETE FROM insight_queue WHERE id IN (${chunk.map(() => '?').join(',')})`, chunk);
    }
    this.out = false;
  }

  release(): Promise<void> {
    this.out = false;
    return Promise.resolve();
  }

  async depth(): Promise<number> {
    await this.buffer.settled();
    const [{ count }] = await this.db.query<[{ count: number }]>('SELECT COUNT(*) AS count FROM insight_queue');
    return count + this.buffer.length;
  }

  close(): Promise<void> {
    return this.buffer.close();
  }
}
