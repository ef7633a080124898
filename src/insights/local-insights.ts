import { appendFile, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { ThrottledLog } from './insight-queue.js';

/** Default bound of the NDJSON files of `local` mode (INSIGHTS_LOCAL_MAX_BYTES). */
export const DEFAULT_LOCAL_MAX_BYTES = 1024 ** 3;

/** One kept insight as exported: when it arrived, for which environment, and the insight itself. */
export interface LocalInsight {
  receivedAt: string;
  envId: string;
  insight: Record<string, unknown>;
}

/** INSIGHTS_MODE=local: insights stay on the operator's infrastructure, for a retention period. */
export interface LocalInsightStore {
  store(envId: string, insights: Record<string, unknown>[], receivedAt: Date): Promise<void>;
  /** Kept insights with from ≤ receivedAt < to, oldest first. */
  export(from: Date, to: Date): AsyncIterable<LocalInsight>;
  /** Deletes what arrived before `before`; returns how many (or files) went. */
  purge(before: Date): Promise<number>;
  /** Insights not kept because the byte bound was reached. */
  readonly dropped: number;
}

/**
 * INSIGHTS_LOCAL_MAX_BYTES as both local stores keep it: what they hold is counted once (and again
 * after a purge), then tracked; past the bound new insights are refused, counted and logged once a
 * minute, and kept history is never rewritten.
 */
class LocalByteBound {
  private readonly fullLog: ThrottledLog;
  /** Bytes held, once counted. */
  private used?: number;
  dropped = 0;

  constructor(
    logger: Logger,
    what: string,
    private readonly maxBytes: number,
    private readonly count: () => Promise<number>,
  ) {
    this.fullLog = new ThrottledLog(logger, `${what} reached INSIGHTS_LOCAL_MAX_BYTES; new insights not kept`);
  }

  /** Counts what is held when not known; call before `take`. */
  async load(): Promise<void> {
    this.used ??= await this.count();
  }

  /** Takes `size` bytes when they fit (synchronously, so concurrent writers cannot both pass). */
  take(size: number): boolean {
    const used = this.used ?? 0;
    if (used + size > this.maxBytes) return false;
    this.used = used + size;
    return true;
  }

  /** Gives back bytes taken for a write that failed. */
  release(size: number): void {
    if (this.used !== undefined) this.used -= size;
  }

  refuse(insights: number): void {
    if (insights === 0) return;
    this.dropped += insights;
    this.fullLog.add(insights, { maxBytes: this.maxBytes });
  }

  /** What is held changed outside `take` (a purge): counted again on the next `load`. */
  forget(): void {
    this.used = undefined;
  }
}

/**
 * In the agent's SQLite file (STORE=sqlite). Bounded like the files: past INSIGHTS_LOCAL_MAX_BYTES
 * (bytes of the kept JSON bodies), new insights are refused (counted, logged once a minute) until
 * retention purges old ones.
 */
export class SqliteLocalInsights implements LocalInsightStore {
  private readonly bound: LocalByteBound;

  constructor(
    private readonly db: DataSource,
    maxBytes = DEFAULT_LOCAL_MAX_BYTES,
  ) {
    this.bound = new LocalByteBound(new Logger(SqliteLocalInsights.name), 'local insights in SQLite', maxBytes, async () => {
      const [row] = await this.db.query<[{ bytes: number | null }]>('SELECT SUM(LENGTH(CAST(body AS BLOB))) AS bytes FROM insight_local');
      return Number(row?.bytes ?? 0);
    });
  }

  get dropped(): number {
    return this.bound.dropped;
  }

  async store(envId: string, insights: Record<string, unknown>[], receivedAt: Date): Promise<void> {
    await this.bound.load();
    const kept = insights.map((insight) => JSON.stringify(insight)).filter((body) => this.bound.take(Buffer.byteLength(body)));
    this.bound.refuse(insights.length - kept.length);
    for (let i = 0; i < kept.length; i += 300) {
      const chunk = kept.slice(i, i + 300);
      await this.db.query(
        `INSERT INTO insight_local (env_id, received_at, body) VALUES ${chunk.map(() => '(?, ?, ?)').join(',')}`,
        chunk.flatMap((body) => [envId, receivedAt.getTime(), body]),
      );
    }
  }

  async *export(from: Date, to: Date): AsyncIterable<LocalInsight> {
    let after = 0;
    for (;;) {
      const rows = await this.db.query<{ id: number; env_id: string; received_at: number; body: string }[]>(
        'SELECT id, env_id, received_at, body FROM insight_local WHERE received_at >= ? AND received_at < ? AND id > ? ORDER BY id LIMIT 1000',
        [from.getTime(), to.getTime(), after],
      );
      if (rows.length === 0) return;
      for (const row of rows) {
        yield { receivedAt: new Date(row.received_at).toISOString(), envId: row.env_id, insight: JSON.parse(row.body) as Record<string, unknown> };
      }
      after = rows[rows.length - 1]!.id;
    }
  }

  async purge(before: Date): Promise<number> {
    const [{ count }] = await this.db.query<[{ count: number }]>('SELECT COUNT(*) AS count FROM insight_local WHERE received_at < ?', [before.getTime()]);
    await this.db.query('DELETE FROM insight_local WHERE received_at < ?', [before.getTime()]);
    this.bound.forget();
    return count;
  }
}

/**
 * NDJSON files, one per UTC day, under INSIGHTS_DIR (memory and Redis stores). Bounded in bytes:
 * past the bound, NEW insights are refused (counted, logged once a minute) until retention purges
 * old days; kept history is never rewritten.
 */
export class FileLocalInsights implements LocalInsightStore {
  private readonly bound: LocalByteBound;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    maxBytes = DEFAULT_LOCAL_MAX_BYTES,
  ) {
    this.bound = new LocalByteBound(new Logger(FileLocalInsights.name), 'local insight files', maxBytes, async () => {
      let total = 0;
      for (const day of await this.days()) total += (await stat(this.fileOf(day)).catch(() => ({ size: 0 }))).size;
      return total;
    });
  }

  get dropped(): number {
    return this.bound.dropped;
  }

  private fileOf(day: string): string {
    return join(this.dir, `insights-${day}.ndjson`);
  }

  store(envId: string, insights: Record<string, unknown>[], receivedAt: Date): Promise<void> {
    const at = receivedAt.toISOString();
    const lines = insights.map((insight) => JSON.stringify({ receivedAt: at, envId, insight })).join('\n') + '\n';
    const size = Buffer.byteLength(lines);
    const written = this.writing.then(async () => {
      await this.bound.load();
      if (!this.bound.take(size)) return this.bound.refuse(insights.length);
      try {
        await mkdir(this.dir, { recursive: true });
        await appendFile(this.fileOf(at.slice(0, 10)), lines);
      } catch (error) {
        this.bound.release(size);
        throw error;
      }
    });
    this.writing = written.catch(() => undefined);
    return written;
  }

  private async days(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names
      .map((n) => /^insights-(\d{4}-\d{2}-\d{2})\.ndjson$/.exec(n)?.[1])
      .filter((d): d is string => d !== undefined)
      .sort();
  }

  async *export(from: Date, to: Date): AsyncIterable<LocalInsight> {
    await this.writing;
    const first = from.toISOString().slice(0, 10);
    const last = to.toISOString().slice(0, 10);
    for (const day of await this.days()) {
      if (day < first || day > last) continue;
      const text = await readFile(this.fileOf(day), 'utf8');
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const entry = JSON.parse(line) as LocalInsight;
        const at = Date.parse(entry.receivedAt);
        if (at >= from.getTime() && at < to.getTime()) yield entry;
      }
    }
  }

  async purge(before: Date): Promise<number> {
    await this.writing;
    let removed = 0;
    const cutoff = before.toISOString().slice(0, 10);
    for (const day of await this.days()) {
      // A file holds one whole UTC day: it goes once that day is entirely before the cutoff.
      if (day < cutoff) {
        await rm(this.fileOf(day), { force: true });
        removed++;
      }
    }
    this.bound.forget();
    return removed;
  }
}
