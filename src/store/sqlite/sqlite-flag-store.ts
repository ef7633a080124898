import { resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { DataSet, StoreItem } from '../data-set.js';
import type { FlagStore, PersistenceStatus } from '../flag-store.js';
import { SOLE_LEADER } from '../leadership.js';
import { ChangeListeners } from '../change-listeners.js';
import { MemoryData, type DataChange, type EnvChange } from '../memory-data.js';
import { StoreUnavailableError } from '../../common/agent.errors.js';
import { ItemEntity, SecretEntity, type ItemRow, type SecretRow } from './sqlite.schema.js';
import { moveAside, openInMemory, openSqliteFile, problemOf, sqliteCode, worthMovingAside, type SqliteConnections } from './sqlite-file.js';

/** Rows per INSERT: SQLite allows 32,766 bound variables; items bind 5 each. */
const INSERT_CHUNK = 500;

/** Retry of writes the file refused: exponential from `baseMs`, at most `capMs` apart. */
export const DEFAULT_WRITE_RETRY = { baseMs: 1_000, capMs: 30_000 };

/** Items whose newest version is in memory but not yet in the file. */
interface Pending {
  /** The file must be rewritten from memory (a full replace did not reach it). */
  full: boolean;
  items: Map<string, StoreItem>;
}

/**
 * Persists data in a SQLite file so the agent serves its last data at once after a restart,
 * even while FeatBit is unreachable. The file is a cache and never holds the agent hostage:
 * serving reads come from memory; a corrupt or unreadable file is moved aside at start; a write
 * the file refuses (disk full, I/O error) still updates memory and listeners, marks the store
 * degraded, and is retried until the file is up to date again.
 */
export class SqliteFlagStore implements FlagStore {
  readonly data = new MemoryData();
  readonly leadership = SOLE_LEADER;
  private readonly logger = new Logger(SqliteFlagStore.name);
  private readonly listeners = new ChangeListeners(this.logger);
  /** Writes are serialised so a patch never lands inside a replace. */
  private writes: Promise<unknown> = Promise.resolve();
  private pending: Pending | null = null;
  private retryTimer?: NodeJS.Timeout;
  private retryAttempt = 0;
  private closed = false;
  private problem: string | null;
  private since: Date | null;
  private writeFailures = 0;

  private constructor(
    private readonly db: DataSource,
    private readonly insightsDb: DataSource,
    private readonly retry: { baseMs: number; capMs: number },
    /** Set when no file could be used: an in-memory database until restart. */
    private readonly fileless: string | null,
  ) {
    this.problem = fileless === null ? null : 'no-file';
    this.since = fileless === null ? null : new Date();
  }

  /**
   * The connection for the insight queue and local insights: a second connection to the same file,
   * so their transactions never interleave with the flag store's (only one of the two is used per
   * INSIGHTS_MODE).
   */
  get dataSource(): DataSource {
    return this.insightsDb;
  }

  /** The flag store's own connection (operations and tests: PRAGMAs, inspection). */
  get flagsDataSource(): DataSource {
    return this.db;
  }

  get persistence(): PersistenceStatus {
    return { state: this.problem === null ? 'ok' : 'degraded', problem: this.problem, since: this.since, writeFailures: this.writeFailures };
  }

  /** Never fails: a file that cannot be used is moved aside, and without any file memory serves. */
  static async open(options: { path: string; busyTimeoutMs?: number; writeRetry?: { baseMs: number; capMs: number } }): Promise<SqliteFlagStore> {
    const logger = new Logger(SqliteFlagStore.name);
    const path = resolve(options.path);
    const retry = options.writeRetry ?? DEFAULT_WRITE_RETRY;
    let connections: SqliteConnections;
    let fileless: string | null = null;
    try {
      connections = await openSqliteFile(path, options.busyTimeoutMs);
    } catch (error) {
      connections = await SqliteFlagStore.recover(logger, path, error, options.busyTimeoutMs).catch(async (again: unknown) => {
        fileless = describe(again);
        logger.error({
          msg: 'SQLite file cannot be used: serving from memory only (nothing survives a restart) until the file is fixed and the agent restarted',
          path,
          code: sqliteCode(again),
          err: fileless,
        });
        return openInMemory();
      });
    }
    const store = new SqliteFlagStore(connections.flags, connections.insights, retry, fileless);
    const loaded = connections.loaded;
    if (loaded) {
      store.data.replaceAll(loaded.data, false);
      logger.log({ msg: 'data loaded from SQLite', items: loaded.items, envs: loaded.data.envs.length });
    }
    return store;
  }

  /** A file that failed to open: moved aside when that can help, then a fresh one. Throws when there is none. */
  private static async recover(logger: Logger, path: string, error: unknown, busyTimeoutMs?: number): Promise<SqliteConnections> {
    if (!worthMovingAside(path, error)) throw error;
    const movedTo = moveAside(path);
    logger.error({
      msg: 'SQLite file is corrupt or unreadable: moved aside; starting with an empty store that upstream sync (or the next bootstrap) fills',
      path,
      movedTo,
      code: sqliteCode(error),
      err: describe(error),
    });
    return openSqliteFile(path, busyTimeoutMs);
  }

  /**
   * Memory and listeners change together, so polling and streaming SDKs never disagree; the file
   * follows inside the same serialised step (the promise resolves once the file has it or is
   * marked behind). The first data set, and any while the file is behind, is written whole before
   * it is served, so a restart right after still finds it; later ones write only what changed.
   */
  replaceAll(data: DataSet, options: { pushAll: boolean }): Promise<DataChange> {
    return this.serialised(async () => {
      if (!this.data.isPopulated || this.pending) {
        const preview = new MemoryData();
        preview.replaceAll(data, false);
        await this.persist(() => this.writeAll(preview.snapshot()), { full: true, items: [] });
        const change = this.data.replaceAll(data, options.pushAll);
        this.listeners.emit(change);
        return change;
      }
      const change = this.data.replaceAll(data, options.pushAll);
      this.listeners.emit(change);
      // An rp_full after a reconnect usually changes nothing: the file already matches memory then,
      // and a rewrite would only hold the write lock against the insights.
      if (change.envs.length > 0) await this.persist(() => this.writeEnvs(change.envs), { full: true, items: [] });
      return change;
    });
  }

  applyPatch(items: StoreItem[]): Promise<DataChange> {
    return this.serialised(async () => {
      const change = this.data.applyPatch(items);
      this.listeners.emit(change);
      const stored = change.envs.flatMap((env) => [...env.flags, ...env.segments]);
      if (stored.length > 0) await this.persist(() => this.writeItems(stored), { full: false, items: stored });
      return change;
    });
  }

  onChange(listener: (change: DataChange) => void): () => void {
    return this.listeners.add(listener);
  }

  async ping(): Promise<void> {
    try {
      await this.db.query('SELECT 1');
    } catch (error) {
      throw new StoreUnavailableError('SQLite is not available', { cause: error });
    }
  }

  async close(): Promise<void> {
    await this.writes.catch(() => undefined);
    this.closed = true;
    clearTimeout(this.retryTimer);
    // One last attempt to bring the file up to date.
    if (this.pending && this.db.isInitialized) await this.writePending().catch(() => undefined);
    for (const db of [this.insightsDb, this.db]) if (db.isInitialized) await db.destroy();
  }

  // ---- writes to the file ----

  /**
   * One write to the file. A failure never reaches the caller: memory serves the newest data,
   * the file is marked behind by `change` (what the retry must write) and the write is retried.
   */
  private async persist(write: () => Promise<void>, change: { full: boolean; items: StoreItem[] }): Promise<void> {
    if (this.pending && !change.full) {
      // The file is behind already: the retry writes these too.
      for (const item of change.items) this.pending.items.set(identity(item), item);
      return;
    }
    try {
      await write();
      if (this.pending) this.recovered();
    } catch (error) {
      this.pending ??= { full: false, items: new Map() };
      this.pending.full ||= change.full;
      for (const item of change.items) this.pending.items.set(identity(item), item);
      this.failed(error);
    }
  }

  private async writePending(): Promise<void> {
    const pending = this.pending;
    if (!pending) return;
    if (pending.full) await this.writeAll(this.data.snapshot());
    else await this.writeItems([...pending.items.values()]);
    this.recovered();
  }

  private failed(error: unknown): void {
    this.writeFailures++;
    const problem = problemOf(error);
    const first = this.problem === null;
    if (first) this.since = new Date();
    this.problem = problem;
    const delay = Math.min(this.retry.capMs, this.retry.baseMs * 2 ** Math.min(this.retryAttempt++, 20));
    this.logger[first ? 'error' : 'warn']({
      msg: first ? 'SQLite write failed: serving continues from memory, the file is behind and the write is retried' : 'SQLite write still failing',
      problem,
      code: sqliteCode(error),
      err: describe(error),
      retryInMs: delay,
    });
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.serialised(() => this.writePending()).catch((again: unknown) => this.failed(again));
    }, delay);
    this.retryTimer.unref();
  }

  private recovered(): void {
    const wasDegraded = this.problem !== null && this.fileless === null;
    this.pending = null;
    this.retryAttempt = 0;
    if (this.fileless !== null) return;
    if (wasDegraded) this.logger.log({ msg: 'SQLite writes resumed: the file is up to date again', degradedForMs: Date.now() - (this.since?.getTime() ?? Date.now()) });
    this.problem = null;
    this.since = null;
  }

  /** The whole data set in one transaction (items and secrets exactly as memory holds them). */
  private writeAll(data: DataSet): Promise<void> {
    return this.transaction(async (manager) => {
      await manager.clear(ItemEntity);
      await manager.clear(SecretEntity);
      await insertChunked(manager, SecretEntity, secretRowsOf(data));
      await insertChunked(manager, ItemEntity, dedupe(data.envs.flatMap((env) => [...env.flags, ...env.segments]).map(toRow)));
      await markPopulated(manager);
    });
  }

  /**
   * What a full replace changed (MemoryData reports it exactly): environments with removals or
   * new secrets are rewritten, the others get their changed items upserted; the secrets table,
   * small, is always rewritten.
   */
  private writeEnvs(envs: EnvChange[]): Promise<void> {
    const snapshot = this.data.snapshot();
    return this.transaction(async (manager) => {
      await manager.clear(SecretEntity);
      await insertChunked(manager, SecretEntity, secretRowsOf(snapshot));
      for (const env of envs) {
        if (!env.full) {
          await upsertChunked(manager, [...env.flags, ...env.segments].map(toRow));
          continue;
        }
        await manager.query('DELETE FROM items WHERE env_id = ?', [env.envId]);
        const held = this.data.env(env.envId);
        if (held) await insertChunked(manager, ItemEntity, [...held.flags.values(), ...held.segments.values()].map(toRow));
      }
      await markPopulated(manager);
    });
  }

  private writeItems(items: StoreItem[]): Promise<void> {
    return this.transaction((manager) => upsertChunked(manager, items.map(toRow)));
  }

  /**
   * One write transaction on this store's own connection. `BEGIN IMMEDIATE` takes the write lock
   * first (waiting up to the busy timeout for the insights connection); the transaction is ours
   * alone, not TypeORM's, whose bookkeeping goes wrong when SQLite has already rolled back on its
   * own (SQLITE_FULL, SQLITE_IOERR).
   */
  private async transaction(work: (manager: EntityManager) => Promise<void>): Promise<void> {
    await this.db.query('BEGIN IMMEDIATE');
    try {
      await work(this.db.manager);
      await this.db.query('COMMIT');
    } catch (error) {
      await this.db.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  private serialised<T>(write: () => Promise<T>): Promise<T> {
    const next = this.writes.then(write, write);
    this.writes = next.catch(() => undefined);
    return next;
  }
}

function identity(item: StoreItem): string {
  return `${item.kind}\u0000${item.envId}\u0000${item.id}`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Secrets in memory's order (`serves` depends on it); a value appears once, first wins as in memory. */
function secretRowsOf(data: DataSet): SecretRow[] {
  let position = 0;
  const rows: SecretRow[] = [];
  for (const env of data.envs) {
    for (const s of env.secrets) rows.push({ value: s.value, envId: s.envId, type: s.type, projectKey: s.projectKey, envKey: s.envKey, position: position++ });
  }
  const seen = new Set<string>();
  return rows.filter((r) => !seen.has(r.value) && seen.add(r.value));
}

function markPopulated(manager: EntityManager): Promise<unknown> {
  return manager.query('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', ['populated', new Date().toISOString()]);
}

/** Upserts in statements of INSERT_CHUNK rows (one statement would pass SQLite's bound-variable limit). */
async function upsertChunked(manager: EntityManager, rows: ItemRow[]): Promise<void> {
  const unique = dedupe(rows);
  for (let i = 0; i < unique.length; i += INSERT_CHUNK) {
    await manager.upsert(ItemEntity, unique.slice(i, i + INSERT_CHUNK), ['kind', 'envId', 'id']);
  }
}

function toRow(item: StoreItem): ItemRow {
  return { kind: item.kind, envId: item.envId, id: item.id, timestamp: item.timestamp, json: JSON.stringify(item.json) };
}

/** The last row of an identity wins, as the memory upsert of equal timestamps does. */
function dedupe(rows: ItemRow[]): ItemRow[] {
  return [...new Map(rows.map((r) => [`${r.kind}\u0000${r.envId}\u0000${r.id}`, r])).values()];
}

async function insertChunked<T extends object>(manager: EntityManager, entity: EntitySchemaLike<T>, rows: T[]): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    await manager.createQueryBuilder().insert().into(entity).values(rows.slice(i, i + INSERT_CHUNK)).execute();
  }
}

type EntitySchemaLike<T> = import('typeorm').EntitySchema<T>;
