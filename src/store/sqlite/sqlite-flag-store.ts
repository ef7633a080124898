import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { DataSet, EnvData, ItemKind, Secret, StoreItem } from '../data-set.js';
import type { FlagStore } from '../flag-store.js';
import { SOLE_LEADER } from '../leadership.js';
import { ChangeListeners } from '../change-listeners.js';
import { MemoryData, type DataChange } from '../memory-data.js';
import { StoreUnavailableError } from '../../common/agent.errors.js';
import { ItemEntity, MetaEntity, SQLITE_MIGRATIONS, SecretEntity, type ItemRow, type SecretRow } from './sqlite.schema.js';

/** Rows per INSERT: SQLite allows 32,766 bound variables; items bind 5 each. */
const INSERT_CHUNK = 500;

/**
 * Persists data in a SQLite file so the agent serves its last data at once after a restart,
 * even while FeatBit is unreachable. Serving reads come from memory, never from disk; a full
 * replace is one transaction.
 */
export class SqliteFlagStore implements FlagStore {
  readonly data = new MemoryData();
  readonly leadership = SOLE_LEADER;
  private readonly logger = new Logger(SqliteFlagStore.name);
  private readonly listeners = new ChangeListeners(this.logger);
  /** Writes are serialised so a patch never lands inside a replace. */
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(private readonly db: DataSource) {}

  /** The open database, shared with the insights queue and local insights (same file). */
  get dataSource(): DataSource {
    return this.db;
  }

  static async open(options: { path: string }): Promise<SqliteFlagStore> {
    const path = resolve(options.path);
    mkdirSync(dirname(path), { recursive: true });
    const db = new DataSource({
      type: 'sqlite',
      database: path,
      entities: [ItemEntity, SecretEntity, MetaEntity],
      migrations: SQLITE_MIGRATIONS,
      migrationsRun: true,
      logging: false,
    });
    await db.initialize();
    await db.query('PRAGMA journal_mode = WAL');
    await db.query('PRAGMA synchronous = NORMAL');
    const store = new SqliteFlagStore(db);
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    const started = Date.now();
    const items = await this.db.getRepository(ItemEntity).find();
    const secrets = await this.db.getRepository(SecretEntity).find({ order: { position: 'ASC' } });
    const populated = await this.db.getRepository(MetaEntity).findOneBy({ key: 'populated' });
    const envs = new Map<string, EnvData>();
    const env = (envId: string): EnvData => {
      let found = envs.get(envId);
      if (!found) envs.set(envId, (found = { envId, secrets: [], flags: [], segments: [] }));
      return found;
    };
    for (const secret of secrets) env(secret.envId).secrets.push(toSecret(secret));
    for (const row of items) {
      const item: StoreItem = { kind: row.kind as ItemKind, id: row.id, envId: row.envId, timestamp: row.timestamp, json: JSON.parse(row.json) as Record<string, unknown> };
      (item.kind === 'flag' ? env(row.envId).flags : env(row.envId).segments).push(item);
    }
    if (populated || envs.size > 0) {
      this.data.replaceAll({ envs: [...envs.values()] }, false);
      this.logger.log({ msg: 'data loaded from SQLite', items: items.length, envs: envs.size, ms: Date.now() - started });
    }
  }

  async replaceAll(data: DataSet, options: { pushAll: boolean }): Promise<DataChange> {
    await this.serialised(() =>
      this.db.transaction(async (manager) => {
        await manager.clear(ItemEntity);
        await manager.clear(SecretEntity);
        let position = 0;
        const secretRows: SecretRow[] = [];
        const itemRows: ItemRow[] = [];
        for (const env of data.envs) {
          for (const s of env.secrets) secretRows.push({ value: s.value, envId: s.envId, type: s.type, projectKey: s.projectKey, envKey: s.envKey, position: position++ });
          for (const item of [...env.flags, ...env.segments]) itemRows.push(toRow(item));
        }
        // A secret value appears once (first wins, as in memory).
        const unique = [...new Map(secretRows.map((r) => [r.value, r])).values()];
        await insertChunked(manager, SecretEntity, unique);
        await insertChunked(manager, ItemEntity, dedupe(itemRows));
        await manager.save(MetaEntity, { key: 'populated', value: new Date().toISOString() });
      }),
    );
    const change = this.data.replaceAll(data, options.pushAll);
    this.listeners.emit(change);
    return change;
  }

  async applyPatch(items: StoreItem[]): Promise<DataChange> {
    const change = this.data.applyPatch(items);
    const stored = change.envs.flatMap((env) => [...env.flags, ...env.segments]);
    if (stored.length > 0) {
      await this.serialised(() =>
        this.db.transaction((manager) => manager.upsert(ItemEntity, dedupe(stored.map(toRow)), ['kind', 'envId', 'id'])),
      );
    }
    this.listeners.emit(change);
    return change;
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
    if (this.db.isInitialized) await this.db.destroy();
  }

  private serialised<T>(write: () => Promise<T>): Promise<T> {
    const next = this.writes.then(write, write);
    this.writes = next.catch(() => undefined);
    return next;
  }
}

function toRow(item: StoreItem): ItemRow {
  return { kind: item.kind, envId: item.envId, id: item.id, timestamp: item.timestamp, json: JSON.stringify(item.json) };
}

function toSecret(row: SecretRow): Secret {
  return { value: row.value, envId: row.envId, type: row.type === 'client' ? 'client' : 'server', projectKey: row.projectKey, envKey: row.envKey };
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
