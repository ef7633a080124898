import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import type { EntitySubscriberInterface } from 'typeorm';
import { SqliteFlagStore } from '../../../src/store/sqlite/sqlite-flag-store.js';
import { SqliteInsightQueue } from '../../../src/insights/sqlite-insight-queue.js';
import { parseBootstrap, parseItems } from '../../../src/store/data-set.js';
import type { DataChange } from '../../../src/store/memory-data.js';
import { ENV_ID, SERVER_SECRET, sampleBootstrap } from '../../support/sample-data.js';

Logger.overrideLogger(false);

const FAST_RETRY = { baseMs: 20, capMs: 200 };
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-faults-'));
  dirs.push(dir);
  return dir;
}

function flag(id: string, updatedAt: string, extra: Record<string, unknown> = {}) {
  return parseItems('flag', [{ id, envId: ENV_ID, key: `key-${id}`, updatedAt, ...extra }], 'test');
}

/** Resolves once `check` holds; the store's retry timer gives no event to await. */
async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function reopen(path: string, check: (store: SqliteFlagStore) => void): Promise<void> {
  const store = await SqliteFlagStore.open({ path });
  try {
    check(store);
  } finally {
    await store.close();
  }
}

after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe(`${SqliteFlagStore.name}: the flag store and the insight queue do not share transactions`, () => {
  it('a failing insight transaction never rolls back a flag patch the store reported done', async () => {
    const path = join(tempDir(), 'featbit.db');
    const store = await SqliteFlagStore.open({ path, writeRetry: FAST_RETRY });
    await store.replaceAll(parseBootstrap(sampleBootstrap()), { pushAll: false });
    const queue = new SqliteInsightQueue(store.dataSource, 1000);
    // While the queue's transaction is open, the flag store stores a patch; then the queue's
    // transaction fails. On one shared connection the patch was a savepoint inside it.
    let injected = false;
    let patched: DataChange | undefined;
    const subscriber: EntitySubscriberInterface = {
      afterTransactionStart: async () => {
        if (injected) return;
        injected = true;
        patched = await store.applyPatch(flag('during-insights', '2026-03-01T00:00:00Z'));
        throw new Error('injected failure inside the insight transaction');
      },
    };
    store.dataSource.subscribers.push(subscriber);
    queue.push([{ secret: SERVER_SECRET, body: JSON.stringify({ user: { keyId: 'u-1' } }) }]);
    await queue.flush();
    assert.ok(injected, 'the insight transaction ran');
    assert.equal(patched?.envs[0]?.flags.length, 1, 'the patch was reported stored');
    await queue.close();
    await store.close();
    await reopen(path, (again) => assert.ok(again.data.env(ENV_ID)?.flags.has('during-insights'), 'the reported patch is in the file'));
  });

  it('an insight batch written while a full replace is in progress is kept when the replace fails', async () => {
    const path = join(tempDir(), 'featbit.db');
    const store = await SqliteFlagStore.open({ path, writeRetry: { baseMs: 60_000, capMs: 60_000 } });
    await store.replaceAll(parseBootstrap(sampleBootstrap()), { pushAll: false });
    const queue = new SqliteInsightQueue(store.dataSource, 1000);
    // The replace fails for lack of space on its own connection; the insights connection is not limited.
    await store.flagsDataSource.query('PRAGMA max_page_count = 1');
    const big = sampleBootstrap();
    big.items[0]!.featureFlags.push(...Array.from({ length: 200 }, (_, i) => ({ id: `big-${i}`, envId: ENV_ID, key: `big-${i}`, updatedAt: '2026-03-01T00:00:00Z', pad: 'x'.repeat(2000) })));
    const replacing = store.replaceAll(parseBootstrap(big), { pushAll: false });
    queue.push([{ secret: SERVER_SECRET, body: JSON.stringify({ user: { keyId: 'u-2' } }) }]);
    await queue.flush();
    await replacing;
    assert.equal(store.persistence.state, 'degraded');
    assert.equal(await queue.depth(), 1, 'the insight is queued');
    await queue.close();
    await store.close();
    const check = await SqliteFlagStore.open({ path });
    const rows = await check.dataSource.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM insight_queue');
    await check.close();
    assert.equal(rows[0]?.n, 1, 'the insight reached the file');
  });
});

describe(`${SqliteFlagStore.name}: what a full replace writes`, () => {
  it('writes only what changed, and the file always matches memory', async () => {
    const path = join(tempDir(), 'featbit.db');
    const store = await SqliteFlagStore.open({ path });
    const other = '11111111-2222-4333-8444-555555555555';
    const body = (mutate: (b: ReturnType<typeof sampleBootstrap>) => void) => {
      const b = sampleBootstrap();
      b.items.push({ envId: other, secrets: [{ type: 'server', projectKey: 'p2', envId: other, envKey: 'e2', value: 'other-secret' }], featureFlags: [{ id: 'o1', envId: other, key: 'o1', updatedAt: '2026-01-01T00:00:00Z' }], segments: [] });
      mutate(b);
      return parseBootstrap(b);
    };
    const matches = async (): Promise<void> => {
      const expected = store.data.snapshot();
      const copy = await SqliteFlagStore.open({ path });
      const sorted = (data: typeof expected) =>
        data.envs
          .map((e) => ({ envId: e.envId, secrets: e.secrets, items: [...e.flags, ...e.segments].map((i) => `${i.kind}/${i.id}/${i.timestamp}/${JSON.stringify(i.json)}`).sort() }))
          .sort((a, b) => a.envId.localeCompare(b.envId));
      assert.deepEqual(sorted(copy.data.snapshot()), sorted(expected));
      await copy.close();
    };
    await store.replaceAll(body(() => undefined), { pushAll: false });
    await matches();
    // Unchanged (a reconnect): nothing to write; then a changed flag; then a removed flag and a new secret.
    await store.replaceAll(body(() => undefined), { pushAll: false });
    await matches();
    await store.replaceAll(body((b) => (b.items[0]!.featureFlags[0]!['updatedAt'] = '2026-06-01T00:00:00Z')), { pushAll: false });
    await matches();
    await store.replaceAll(
      body((b) => {
        b.items[0]!.featureFlags.pop();
        b.items[1]!.secrets.push({ type: 'client', projectKey: 'p2', envId: other, envKey: 'e2', value: 'other-client' });
      }),
      { pushAll: false },
    );
    await matches();
    // An environment gone; then a bootstrap (every environment rewritten).
    await store.replaceAll(body((b) => b.items.pop()), { pushAll: false });
    await matches();
    await store.replaceAll(body(() => undefined), { pushAll: true });
    await matches();
    await store.close();
  });
});

describe(`${SqliteFlagStore.name}: a corrupt or unreadable file`, () => {
  it('is moved aside when it is not a database; the store starts empty and keeps what it gets next', async () => {
    const dir = tempDir();
    const path = join(dir, 'featbit.db');
    writeFileSync(path, 'this is not a SQLite database, just some text that is long enough to look like a header'.repeat(100));
    const store = await SqliteFlagStore.open({ path });
    assert.equal(store.data.isPopulated, false);
    assert.equal(store.persistence.state, 'ok');
    const aside = readdirSync(dir).filter((name) => name.startsWith('featbit.db.corrupt-'));
    assert.equal(aside.length, 1, `moved aside: ${readdirSync(dir).join(', ')}`);
    await store.replaceAll(parseBootstrap(sampleBootstrap()), { pushAll: false });
    await store.close();
    await reopen(path, (again) => assert.equal(again.data.secret(SERVER_SECRET)?.type, 'server'));
  });

  it('is moved aside when its pages are damaged', async () => {
    const dir = tempDir();
    const path = join(dir, 'featbit.db');
    const first = await SqliteFlagStore.open({ path });
    const data = sampleBootstrap();
    data.items[0]!.featureFlags.push(...Array.from({ length: 50 }, (_, i) => ({ id: `f-${i}`, envId: ENV_ID, key: `f-${i}`, updatedAt: '2026-03-01T00:00:00Z', pad: 'y'.repeat(500) })));
    await first.replaceAll(parseBootstrap(data), { pushAll: false });
    await first.close();
    // Keep the header (page 1), overwrite everything after it.
    const size = statSync(path).size;
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(size - 4096, 0xa5), 0, size - 4096, 4096);
    closeSync(fd);
    const store = await SqliteFlagStore.open({ path });
    assert.equal(store.data.isPopulated, false);
    assert.equal(readdirSync(dir).filter((name) => name.startsWith('featbit.db.corrupt-')).length, 1);
    await store.applyPatch(flag('after', '2026-04-01T00:00:00Z'));
    await store.close();
    await reopen(path, (again) => assert.ok(again.data.env(ENV_ID)?.flags.has('after')));
  });

  it('runs on memory, degraded, when the path cannot hold a database at all', async () => {
    const dir = tempDir();
    const path = join(dir, 'featbit.db');
    mkdirSync(path);
    const store = await SqliteFlagStore.open({ path });
    assert.deepEqual([store.persistence.state, store.persistence.problem], ['degraded', 'no-file']);
    await store.replaceAll(parseBootstrap(sampleBootstrap()), { pushAll: false });
    assert.equal(store.data.secret(SERVER_SECRET)?.type, 'server');
    await store.ping();
    const queue = new SqliteInsightQueue(store.dataSource, 10);
    queue.push([{ secret: SERVER_SECRET, body: JSON.stringify({ user: { keyId: 'u-3' } }) }]);
    assert.equal(await queue.depth(), 1);
    await queue.close();
    await store.close();
    assert.ok(statSync(path).isDirectory(), 'a directory is never moved');
  });
});

describe(`${SqliteFlagStore.name}: disk full`, () => {
  it('a patch reaches memory and listeners, the store says degraded, and the file catches up when space returns', async () => {
    const path = join(tempDir(), 'featbit.db');
    const store = await SqliteFlagStore.open({ path, writeRetry: FAST_RETRY });
    await store.replaceAll(parseBootstrap(sampleBootstrap()), { pushAll: false });
    const heard: DataChange[] = [];
    store.onChange((change) => heard.push(change));
    await store.flagsDataSource.query('PRAGMA max_page_count = 1');

    const change = await store.applyPatch(flag('big', '2026-03-01T00:00:00Z', { pad: 'z'.repeat(200_000) }));
    assert.equal(change.envs[0]?.flags[0]?.id, 'big');
    assert.ok(store.data.env(ENV_ID)?.flags.has('big'), 'memory serves the patch');
    assert.equal(heard.length, 1, 'listeners heard the patch');
    assert.deepEqual([store.persistence.state, store.persistence.problem], ['degraded', 'disk-full']);
    // More patches while full: all served, all written later.
    await store.applyPatch(flag('small', '2026-03-02T00:00:00Z'));
    assert.equal(heard.length, 2);
    await until(() => store.persistence.writeFailures >= 2);

    await store.flagsDataSource.query('PRAGMA max_page_count = 1073741823');
    await until(() => store.persistence.state === 'ok');
    assert.equal(store.persistence.problem, null);
    await store.close();
    await reopen(path, (again) => {
      assert.equal(String(again.data.env(ENV_ID)?.flags.get('big')?.json['pad']).length, 200_000);
      assert.ok(again.data.env(ENV_ID)?.flags.has('small'));
    });
  });

  it('a full replace reaches memory and listeners while the file is full, and the file is rewritten later', async () => {
    const path = join(tempDir(), 'featbit.db');
    const store = await SqliteFlagStore.open({ path, writeRetry: FAST_RETRY });
    await store.replaceAll(parseBootstrap(sampleBootstrap()), { pushAll: false });
    const heard: DataChange[] = [];
    store.onChange((change) => heard.push(change));
    await store.flagsDataSource.query('PRAGMA max_page_count = 1');
    const bigger = sampleBootstrap();
    bigger.items[0]!.featureFlags.push({ id: 'new', envId: ENV_ID, key: 'new', updatedAt: '2026-03-01T00:00:00Z', pad: 'w'.repeat(100_000) });
    await store.replaceAll(parseBootstrap(bigger), { pushAll: false });
    assert.ok(store.data.env(ENV_ID)?.flags.has('new'));
    assert.equal(heard.length, 1);
    assert.equal(store.persistence.state, 'degraded');
    await store.flagsDataSource.query('PRAGMA max_page_count = 1073741823');
    await until(() => store.persistence.state === 'ok');
    await store.close();
    await reopen(path, (again) => assert.ok(again.data.env(ENV_ID)?.flags.has('new')));
  });
});
