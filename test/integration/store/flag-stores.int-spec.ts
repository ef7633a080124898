import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryFlagStore } from '../../../src/store/memory/memory-flag-store.js';
import { SqliteFlagStore } from '../../../src/store/sqlite/sqlite-flag-store.js';
import { RedisFlagStore } from '../../../src/store/redis/redis-flag-store.js';
import { describeFlagStoreContract } from './flag-store.contract.js';
import { REDIS_URL, deleteKeys, freshPrefix } from '../../support/redis.js';

describeFlagStoreContract(MemoryFlagStore.name, () => Promise.resolve({ store: new MemoryFlagStore(), cleanup: () => Promise.resolve() }));

describeFlagStoreContract(SqliteFlagStore.name, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-store-'));
  const store = await SqliteFlagStore.open({ path: join(dir, 'featbit.db') });
  return { store, cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })) };
});

describeFlagStoreContract(RedisFlagStore.name, async () => {
  const keyPrefix = freshPrefix();
  const store = await RedisFlagStore.connect({ url: REDIS_URL, keyPrefix, podId: 'contract', leaseMs: 1000 });
  await store.ping();
  return { store, cleanup: () => deleteKeys(REDIS_URL, keyPrefix) };
});
