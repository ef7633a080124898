import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FlagStore } from '../../../src/store/flag-store.js';
import type { DataChange } from '../../../src/store/memory-data.js';
import { parseBootstrap, parseItems } from '../../../src/store/data-set.js';
import { ENV_ID, SERVER_SECRET, sampleBootstrap } from '../../support/sample-data.js';

/** The store rules of protocol §6.11, as every provider must keep them. */
export function describeFlagStoreContract(name: string, makeStore: () => Promise<{ store: FlagStore; cleanup: () => Promise<void> }>): void {
  describe(`${name} (FlagStore contract)`, () => {
    let store: FlagStore;
    let cleanup: () => Promise<void>;
    const changes: DataChange[] = [];
    before(async () => {
      ({ store, cleanup } = await makeStore());
      store.onChange((change) => changes.push(change));
    });
    after(async () => {
      await store.close();
      await cleanup();
    });

    const flag = (id: string, updatedAt: string, extra: Record<string, unknown> = {}) =>
      parseItems('flag', [{ id, envId: ENV_ID, key: `key-${id}`, updatedAt, ...extra }], 'test');

    it('starts empty and unpopulated, and answers ping', async () => {
      assert.equal(store.data.isPopulated, false);
      assert.equal(store.data.dataVersion, 0);
      await store.ping();
    });

    it('replaces all data, indexes secrets, and reports a full change on bootstrap', async () => {
      const change = await store.replaceAll(parseBootstrap(sampleBootstrap()), { pushAll: true });
      assert.deepEqual(change.envs.map((e) => [e.envId, e.full]), [[ENV_ID, true]]);
      assert.equal(store.data.isPopulated, true);
      assert.equal(store.data.secret(SERVER_SECRET)?.type, 'server');
      assert.equal(store.data.serves(), 'shop:prod');
      assert.equal(store.data.env(ENV_ID)?.flags.size, 6);
      assert.equal(store.data.dataVersion, Date.parse('2026-01-04T12:10:00.000Z'));
      assert.ok(changes.length >= 1);
    });

    it('upserts only when the incoming timestamp is at least the stored one', async () => {
      let change = await store.applyPatch(flag('p1', '2026-02-01T00:00:00Z'));
      assert.equal(change.envs[0]?.flags.length, 1);
      change = await store.applyPatch(flag('p1', '2026-01-15T00:00:00Z', { stale: true }));
      assert.equal(change.envs.length, 0);
      assert.equal(store.data.env(ENV_ID)?.flags.get('p1')?.json['stale'], undefined);
      change = await store.applyPatch(flag('p1', '2026-02-01T00:00:00Z', { same: true }));
      assert.equal(change.envs[0]?.flags.length, 1);
      assert.equal(store.data.env(ENV_ID)?.flags.get('p1')?.json['same'], true);
      assert.equal(store.data.dataVersion, Date.parse('2026-02-01T00:00:00Z'));
    });

    it('keeps items of different kinds and environments apart', async () => {
      const other = '11111111-2222-4333-8444-555555555555';
      await store.applyPatch([
        ...parseItems('segment', [{ id: 'p1', envId: ENV_ID, updatedAt: '2026-02-02T00:00:00Z' }], 's'),
        ...parseItems('flag', [{ id: 'p1', envId: other, key: 'x', updatedAt: '2026-02-03T00:00:00Z' }], 'f'),
      ]);
      assert.ok(store.data.env(ENV_ID)?.flags.has('p1'));
      assert.ok(store.data.env(ENV_ID)?.segments.has('p1'));
      assert.ok(store.data.env(other)?.flags.has('p1'));
    });

    it('reconciles a full replace: unchanged data reports nothing, removals report a full change', async () => {
      await store.replaceAll(parseBootstrap(sampleBootstrap()), { pushAll: false });
      const same = await store.replaceAll(parseBootstrap(sampleBootstrap()), { pushAll: false });
      assert.deepEqual(same.envs, []);
      const fewer = sampleBootstrap();
      fewer.items[0]!.featureFlags.pop();
      const removed = await store.replaceAll(parseBootstrap(fewer), { pushAll: false });
      assert.equal(removed.envs[0]?.full, true);
      assert.equal(store.data.env(ENV_ID)?.flags.size, 5);
      // dataVersion never decreases.
      assert.equal(store.data.dataVersion, Date.parse('2026-02-03T00:00:00Z'));
    });
  });
}
