import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSource } from 'typeorm';
import type { DataSet, EnvData, ItemKind, Secret, StoreItem } from '../data-set.js';
import { ItemEntity, MetaEntity, SQLITE_MIGRATIONS, SecretEntity, type SecretRow } from './sqlite.schema.js';

/**
 * How long a connection waits for the other connection's write transaction before SQLITE_BUSY.
 * Writing a whole 20 MB data set into an empty file took 3.5 s on a loaded 2-core machine; later
 * full replaces write only what changed.
 */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/** The files SQLite keeps beside the database in WAL mode. */
const SIDE_FILES = ['-wal', '-shm', '-journal'];

/**
 * Errors that say nothing about the file itself: moving it aside would not help (and would lose a
 * good cache). The agent then runs on an in-memory database until restarted.
 */
const NOT_THE_FILE = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_FULL', 'SQLITE_NOMEM', 'SQLITE_INTERRUPT']);

/**
 * One connection per component on the same file: the flag store's and the insights' transactions
 * never share TypeORM's single query runner (which would nest one inside the other as a
 * savepoint). SQLite's own locking serialises the writers (WAL, busy timeout); readers never wait.
 */
export interface SqliteConnections {
  /** The flag store's connection; runs the migrations. */
  flags: DataSource;
  /** The insight queue's and local insights' connection (only one of them is used per INSIGHTS_MODE). */
  insights: DataSource;
  /** What the file held, or null when it held nothing yet. */
  loaded: LoadedData | null;
}

export interface LoadedData {
  data: DataSet;
  items: number;
  populated: boolean;
}

/** Raised when the file opens but fails its integrity check. */
export class SqliteFileError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'SqliteFileError';
  }
}

/** `SQLITE_FULL`, `SQLITE_CORRUPT`, … of a sqlite3 error (TypeORM copies it onto QueryFailedError). */
export function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A short, bounded reason for status and metrics. */
export function problemOf(error: unknown): string {
  switch (sqliteCode(error)) {
    case 'SQLITE_FULL':
      return 'disk-full';
    case 'SQLITE_IOERR':
      return 'io-error';
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return 'busy';
    case 'SQLITE_CORRUPT':
    case 'SQLITE_NOTADB':
      return 'corrupt';
    case 'SQLITE_READONLY':
    case 'SQLITE_PERM':
    case 'SQLITE_CANTOPEN':
      return 'read-only';
    case undefined:
    default:
      return 'write-failed';
  }
}

function connection(database: string, migrate: boolean, busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS): DataSource {
  return new DataSource({
    type: 'sqlite',
    database,
    entities: [ItemEntity, SecretEntity, MetaEntity],
    migrations: migrate ? SQLITE_MIGRATIONS : [],
    migrationsRun: migrate,
    busyTimeout: busyTimeoutMs,
    logging: false,
  });
}

async function destroyQuietly(...sources: (DataSource | undefined)[]): Promise<void> {
  for (const source of sources) if (source?.isInitialized) await source.destroy().catch(() => undefined);
}

/**
 * Opens the file, checks it and reads everything the store serves; throws when any of that fails
 * (the caller then moves the file aside). Both connections are closed again on failure.
 */
export async function openSqliteFile(path: string, busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS): Promise<SqliteConnections> {
  const flags = connection(path, true, busyTimeoutMs);
  let insights: DataSource | undefined;
  try {
    mkdirSync(dirname(path), { recursive: true });
    await flags.initialize();
    await flags.query('PRAGMA journal_mode = WAL');
    await flags.query('PRAGMA synchronous = NORMAL');
    const check = await flags.query<{ quick_check: string }[]>('PRAGMA quick_check(1)');
    if (check[0]?.quick_check !== 'ok') throw new SqliteFileError(`integrity check failed: ${check[0]?.quick_check ?? 'no answer'}`, 'SQLITE_CORRUPT');
    const loaded = await load(flags);
    insights = connection(path, false, busyTimeoutMs);
    await insights.initialize();
    await insights.query('PRAGMA synchronous = NORMAL');
    return { flags, insights, loaded };
  } catch (error) {
    await destroyQuietly(flags, insights);
    throw error;
  }
}

/** No usable file: two private in-memory databases, so serving and insights keep working until restart. */
export async function openInMemory(): Promise<SqliteConnections> {
  const flags = connection(':memory:', true);
  const insights = connection(':memory:', true);
  await flags.initialize();
  await insights.initialize();
  return { flags, insights, loaded: null };
}

/**
 * Whether a failed open is the file's fault and moving it aside can help: the path is a regular
 * file and the error is not about locks, memory or space.
 */
export function worthMovingAside(path: string, error: unknown): boolean {
  const code = sqliteCode(error);
  if (code !== undefined && NOT_THE_FILE.has(code)) return false;
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Renames the file (and its WAL) to `<path>.corrupt-<UTC timestamp>` so an operator can inspect
 * it; the shared-memory index is derived data and is removed. Returns the new name.
 */
export function moveAside(path: string, now = new Date()): string {
  const target = `${path}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
  renameSync(path, target);
  for (const suffix of SIDE_FILES) {
    if (!existsSync(path + suffix)) continue;
    if (suffix === '-shm') rmSync(path + suffix, { force: true });
    else renameSync(path + suffix, target + suffix);
  }
  return target;
}

async function load(db: DataSource): Promise<LoadedData | null> {
  const items = await db.getRepository(ItemEntity).find();
  const secrets = await db.getRepository(SecretEntity).find({ order: { position: 'ASC' } });
  const populated = (await db.getRepository(MetaEntity).findOneBy({ key: 'populated' })) !== null;
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
  if (!populated && envs.size === 0) return null;
  return { data: { envs: [...envs.values()] }, items: items.length, populated };
}

function toSecret(row: SecretRow): Secret {
  return { value: row.value, envId: row.envId, type: row.type === 'client' ? 'client' : 'server', projectKey: row.projectKey, envKey: row.envKey };
}
