import { EntitySchema, type MigrationInterface, type QueryRunner } from 'typeorm';

/** Rows of the SQLite store. Items keep the JSON exactly as received. */
export interface ItemRow {
  kind: string;
  envId: string;
  id: string;
  timestamp: number;
  json: string;
}

export interface SecretRow {
  value: string;
  envId: string;
  type: string;
  projectKey: string;
  envKey: string;
  /** Order of appearance, which `serves` depends on. */
  position: number;
}

export interface MetaRow {
  key: string;
  value: string;
}

export const ItemEntity = new EntitySchema<ItemRow>({
  name: 'Item',
  tableName: 'items',
  columns: {
    kind: { type: 'text', primary: true },
    envId: { type: 'text', primary: true, name: 'env_id' },
    id: { type: 'text', primary: true },
    timestamp: { type: 'integer' },
    json: { type: 'text' },
  },
});

export const SecretEntity = new EntitySchema<SecretRow>({
  name: 'Secret',
  tableName: 'secrets',
  columns: {
    value: { type: 'text', primary: true },
    envId: { type: 'text', name: 'env_id' },
    type: { type: 'text' },
    projectKey: { type: 'text', name: 'project_key' },
    envKey: { type: 'text', name: 'env_key' },
    position: { type: 'integer' },
  },
});

export const MetaEntity = new EntitySchema<MetaRow>({
  name: 'Meta',
  tableName: 'meta',
  columns: { key: { type: 'text', primary: true }, value: { type: 'text' } },
});

/** Schema version 1: items, secrets and sync metadata. */
export class CreateStoreSchema1700000000001 implements MigrationInterface {
  name = 'CreateStoreSchema1700000000001';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(
      'CREATE TABLE "items" ("kind" text NOT NULL, "env_id" text NOT NULL, "id" text NOT NULL, "timestamp" integer NOT NULL, "json" text NOT NULL, PRIMARY KEY ("kind", "env_id", "id"))',
    );
    await runner.query(
      'CREATE TABLE "secrets" ("value" text PRIMARY KEY NOT NULL, "env_id" text NOT NULL, "type" text NOT NULL, "project_key" text NOT NULL, "env_key" text NOT NULL, "position" integer NOT NULL)',
    );
    await runner.query('CREATE TABLE "meta" ("key" text PRIMARY KEY NOT NULL, "value" text NOT NULL)');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE "meta"');
    await runner.query('DROP TABLE "secrets"');
    await runner.query('DROP TABLE "items"');
  }
}

/** Schema version 2: the insight queue (forwarding) and kept-local insights. */
export class CreateInsightTables1700000000002 implements MigrationInterface {
  name = 'CreateInsightTables1700000000002';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query('CREATE TABLE "insight_queue" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "secret" text NOT NULL, "body" text NOT NULL)');
    await runner.query(
      'CREATE TABLE "insight_local" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "env_id" text NOT NULL, "received_at" integer NOT NULL, "body" text NOT NULL)',
    );
    await runner.query('CREATE INDEX "insight_local_received_at" ON "insight_local" ("received_at")');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE "insight_local"');
    await runner.query('DROP TABLE "insight_queue"');
  }
}

export const SQLITE_MIGRATIONS = [CreateStoreSchema1700000000001, CreateInsightTables1700000000002];
