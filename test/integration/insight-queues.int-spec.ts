import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MemoryInsightQueue } from '../../src/insights/memory-insight-queue.js';
import { SqliteInsightQueue } from '../../src/insights/sqlite-insight-queue.js';
import { RedisInsightQueue } from '../../src/insights/redis-insight-queue.js';
import { SqliteFlagStore } from '../../src/store/sqlite/sqlite-flag-store.js';
import { OwnRedis, REDIS_URL } from '../support/redis.js';
import { describeInsightQueueContract, describeRedisInsightQueueContract, entry, keys } from './insight-queues.contract.js';

describeInsightQueueContract(MemoryInsightQueue.name, (max) => Promise.resolve({ queue: new MemoryInsightQueue(max), cleanup: () => Promise.resolve() }));

describeInsightQueueContract(SqliteInsightQueue.name, async (max) => {
  const dir = mkdtempSync(join(tmpdir(), 'insight-queue-'));
  const store = await SqliteFlagStore.open({ path: join(dir, 'featbit.db') });
  return {
    queue: new SqliteInsightQueue(store.dataSource, max),
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeRedisInsightQueueContract('single server', () => new Redis(REDIS_URL));

describe(`${RedisInsightQueue.name} resuming`, () => {
  it('re-creates its consumer group after FLUSHALL (NOGROUP) and counts what the flush took', async () => {
    const own = await OwnRedis.start();
    const redis = new Redis(own.url);
    try {
      const q = new RedisInsightQueue(redis, 'insights', 'pod-1', 1000);
      q.push([entry(1), entry(2), entry(3)]);
      await q.flush();
      assert.equal(await q.depth(), 3);
      await redis.flushall();
      // Before the fix every read answered NOGROUP from here on.
      assert.equal(await q.take(10), null);
      assert.equal(q.stats.groupsRecreated, 1);
      assert.equal(q.stats.lostInReset, 3);
      assert.equal(q.dropped, 3);
      q.push([entry(4)]);
      await q.flush();
      const batch = await q.take(10);
      assert.deepEqual(keys(batch), ['u-4']);
      await q.ack(batch!);
      assert.equal(await q.depth(), 0);
    } finally {
      redis.disconnect();
      await own.stop();
    }
  });
});
