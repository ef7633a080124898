import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteLocalInsights } from '../../src/insights/local-insights.js';
import { SqliteFlagStore } from '../../src/store/sqlite/sqlite-flag-store.js';

describe(SqliteLocalInsights.name, () => {
  it('keeps local insights within INSIGHTS_LOCAL_MAX_BYTES: newer ones refused and counted, space freed by retention', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'local-insights-sqlite-'));
    const path = join(dir, 'featbit.db');
    let store = await SqliteFlagStore.open({ path });
    try {
      const maxBytes = 256 * 1024;
      const event = (i: number) => ({ user: { keyId: `big-${i}`, name: 'n'.repeat(20_000) } });
      const local = new SqliteLocalInsights(store.dataSource, maxBytes);
      const old = new Date('2026-01-01T00:00:00Z');
      for (let i = 0; i < 40; i += 2) await local.store('env-1', [event(i), event(i + 1)], old);
      const bytes = async (db: SqliteFlagStore) =>
        Number((await db.dataSource.query<[{ b: number }]>('SELECT SUM(LENGTH(CAST(body AS BLOB))) AS b FROM insight_local'))[0].b);
      const kept = await bytes(store);
      assert.ok(kept <= maxBytes, `SQLite holds ${kept} bytes of insights`);
      assert.ok(kept > maxBytes / 2);
      assert.equal(local.dropped, 40 - Math.floor(maxBytes / JSON.stringify(event(10)).length));

      // The bound holds across a restart: what the file holds is counted again.
      await store.close();
      store = await SqliteFlagStore.open({ path });
      const reopened = new SqliteLocalInsights(store.dataSource, maxBytes);
      await reopened.store('env-1', [event(99)], new Date());
      assert.equal(reopened.dropped, 1);
      assert.equal(await bytes(store), kept);

      // Retention frees the space for new insights.
      assert.ok((await reopened.purge(new Date('2026-02-01T00:00:00Z'))) > 0);
      await reopened.store('env-1', [event(100)], new Date());
      assert.equal(reopened.dropped, 1);
      const exported = [];
      for await (const entry of reopened.export(new Date(0), new Date(Date.now() + 1000))) exported.push(entry);
      assert.deepEqual(exported.map((e) => (e.insight['user'] as { keyId: string }).keyId), ['big-100']);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
